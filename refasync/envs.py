"""Gymnasium environment factories.

Classic control and other vector-observation environments are used as
gymnasium makes them.  ``ALE/*`` ids get the paper's preprocessing (DQN 2015
style, Mnih et al. 2016 Sec. 8): the emulator at ``frameskip=1,
repeat_action_probability=0``, then max over the last two frames, grayscale,
84x84, action repeat 4, up to 30 no-op starts, a stack of 4 frames.
Observations are (4, 84, 84) uint8.
"""
from __future__ import annotations

import functools
from collections import deque

import cv2
import gymnasium as gym
import numpy as np

from .errors import ConfigError

FRAME_SKIP = 4


def is_atari(env_id):
    return env_id.startswith("ALE/")


def generator_state(rng):
    """A NumPy Generator's state as plain data (a dict of str, int)."""
    return rng.bit_generator.state


def generator(state):
    """The Generator that ``generator_state`` described."""
    bit_generator = getattr(np.random, state["bit_generator"])()
    bit_generator.state = state
    return np.random.Generator(bit_generator)


class OneHotObservation(gym.ObservationWrapper):
    """Discrete observations n -> one-hot float32 vectors, for the MLP."""

    def __init__(self, env):
        super().__init__(env)
        self.n = int(env.observation_space.n)
        self.observation_space = gym.spaces.Box(0.0, 1.0, (self.n,), np.float32)

    def observation(self, observation):
        o = np.zeros(self.n, np.float32)
        o[int(observation)] = 1.0
        return o


class AtariPipeline(gym.Wrapper):
    """The paper's Atari preprocessing on an ALE env made with ``frameskip=1``.

    reset:  the emulator's reset, then k ~ U{1, ..., noop_max} no-op frames
            (a game that ends meanwhile is reset again); the stack holds 4
            copies of the first frame.
    step:   the action for ``frame_skip`` frames, rewards summed; the frame is
            max(screen of the last frame, screen of the one before), grayscale,
            resized to 84x84 (area interpolation); stop early at a game end.
    obs:    the last 4 frames, oldest first, (4, 84, 84) uint8.

    Observation for observation and reward for reward the same as gymnasium's
    ``AtariPreprocessing`` + ``FrameStackObservation(4)`` (tested); written out
    because those step the emulator through ``AtariEnv.step``, which builds an
    observation after every frame that is then thrown away: 25% of the time
    of an agent step.
    """

    def __init__(self, env, noop_max=30, frame_skip=FRAME_SKIP, size=84, stack=4):
        super().__init__(env)
        self.ale = env.unwrapped.ale
        self.action_set = self.ale.getMinimalActionSet()     # gymnasium's default action space
        self.noop_max, self.frame_skip, self.size = noop_max, frame_skip, size
        h, w = self.ale.getScreenDims()
        self.screens = [np.zeros((h, w), np.uint8), np.zeros((h, w), np.uint8)]   # last, one before
        self.frames = deque(maxlen=stack)
        self.observation_space = gym.spaces.Box(0, 255, (stack, size, size), np.uint8)
        self.on_frame = None      # if set, called with the RGB screen of every emulator frame (videos)

    def state(self):
        """The emulator (with its random state), the frame stack and the no-op stream, as
        plain data: the ALE's own serialization as bytes, the generator's state dict."""
        ale = np.frombuffer(self.ale.cloneState(include_rng=True).serialize(), dtype=np.uint8)
        return {"ale": ale.copy(), "frames": list(self.frames), "screens": [x.copy() for x in self.screens],
                "np_random": generator_state(self.env.unwrapped.np_random)}

    def restore(self, state):
        import ale_py
        self.ale.restoreState(ale_py.ALEState(np.asarray(state["ale"], dtype=np.uint8).tobytes()))
        self.frames.clear()
        self.frames.extend(state["frames"])
        self.screens = [np.array(x, dtype=np.uint8) for x in state["screens"]]
        self.env.unwrapped.np_random = generator(state["np_random"])

    def _frame(self):
        np.maximum(self.screens[0], self.screens[1], out=self.screens[0])
        return cv2.resize(self.screens[0], (self.size, self.size), interpolation=cv2.INTER_AREA)

    def _show(self):
        if self.on_frame is not None:
            self.on_frame(self.ale.getScreenRGB())

    def _game_ended(self):
        return self.ale.game_over(with_truncation=False) or self.ale.game_truncated()

    def reset(self, *, seed=None, options=None):
        _, info = self.env.reset(seed=seed, options=options)
        noops = int(self.env.unwrapped.np_random.integers(1, self.noop_max + 1)) if self.noop_max else 0
        self._show()
        for _ in range(noops):
            self.ale.act(self.action_set[0])
            self._show()
            if self._game_ended():
                _, info = self.env.reset(seed=seed, options=options)
        self.ale.getScreenGrayscale(self.screens[0])
        self.screens[1].fill(0)
        frame = self._frame()
        self.frames.extend([frame] * self.frames.maxlen)
        return np.stack(self.frames), info

    def step(self, action):
        a = self.action_set[action]
        reward, terminated, truncated = 0.0, False, False
        for t in range(self.frame_skip):
            reward += self.ale.act(a)
            self._show()
            terminated = self.ale.game_over(with_truncation=False)
            truncated = self.ale.game_truncated()
            if terminated or truncated:
                break                   # the frame is max of the last screens read
            if t == self.frame_skip - 2:
                self.ale.getScreenGrayscale(self.screens[1])
            elif t == self.frame_skip - 1:
                self.ale.getScreenGrayscale(self.screens[0])
        self.frames.append(self._frame())
        return np.stack(self.frames), reward, terminated, truncated, {"lives": self.ale.lives()}


STICKY_ACTION_PROBABILITY = 0.25     # ALE v5's default (Machado et al. 2018); the paper's emulator: 0


def make_env(env_id, render_mode=None, sticky_actions=False):
    """A gymnasium environment with a Discrete action space, or ConfigError.
    ``render_mode="rgb_array"`` (classic control) makes ``render()`` return frames;
    Atari frames come from ``AtariPipeline.on_frame``.  ``sticky_actions`` (Atari):
    the emulator repeats the previous action with probability 0.25 at every frame."""
    try:
        if is_atari(env_id):
            import ale_py
            ale_py.ALEInterface.setLoggerMode(ale_py.LoggerMode.Error)   # no banner from every process
            gym.register_envs(ale_py)
            env = AtariPipeline(gym.make(env_id, frameskip=1, obs_type="grayscale",
                                         repeat_action_probability=STICKY_ACTION_PROBABILITY if sticky_actions
                                         else 0.0))
        else:
            env = gym.make(env_id, render_mode=render_mode) if render_mode else gym.make(env_id)
            if isinstance(env.observation_space, gym.spaces.Discrete):
                env = OneHotObservation(env)      # FrozenLake, Taxi, CliffWalking, ...
    except gym.error.Error as e:
        raise ConfigError(f"unknown environment {env_id!r}: {e}") from None
    except ImportError as e:
        raise ConfigError(f"environment {env_id!r} needs a package that is not installed: {e}") from None
    space = env.action_space
    continuous = isinstance(space, gym.spaces.Box) and len(space.shape) == 1
    if not (isinstance(space, gym.spaces.Discrete) or continuous):
        env.close()
        raise ConfigError(f"environment {env_id!r} has a {type(space).__name__} action space; the "
                          "algorithms need discrete actions (or, for A3C, a vector Box)")
    return env


@functools.lru_cache(maxsize=None)
def _describe(env_id):
    """(observation shape, number of actions or action dimensions, frames per agent
    step, continuous) of an environment id, from one instance of it."""
    env = make_env(env_id)
    try:
        shape = env.observation_space.shape
        if shape is None or len(shape) not in (1, 3):
            raise ConfigError(f"environment {env_id!r} has observations of shape {shape}; "
                              "expected a vector or stacked frames")
        space = env.action_space
        continuous = isinstance(space, gym.spaces.Box)
        n = int(space.shape[0]) if continuous else int(space.n)
        bounded = continuous and bool(np.all(np.isfinite(space.low)) and np.all(np.isfinite(space.high)))
        return tuple(shape), n, FRAME_SKIP if is_atari(env_id) else 1, continuous, bounded
    finally:
        env.close()


def env_spec(env_id):
    """(observation shape, number of actions or action dimensions, frames per agent
    step) of an environment id; ``is_continuous(env_id)`` tells which of the two."""
    return _describe(env_id)[:3]


def is_continuous(env_id):
    """Whether the environment's actions are a vector of reals (a gymnasium Box)."""
    return _describe(env_id)[3]


def has_bounded_actions(env_id):
    """Whether the environment's actions are a Box with finite bounds."""
    return _describe(env_id)[4]


def box_action(a, box, normalized):
    """The action the environment receives for the policy's real vector ``a``.

    normalized (DEVIATION 7, tanh mean): the policy acts in [-1, 1]^D, mapped affinely
    onto [low, high]: low + (clip(a, -1, 1) + 1) (high - low) / 2.  Otherwise (the
    paper's linear mean) ``a`` is in the environment's units, clipped to [low, high]
    (ADDITION 14).  Either way the clipping happens here only: the log-probability
    is of the unclipped a."""
    if normalized:
        return box.low + (np.clip(a, -1.0, 1.0) + 1.0) * ((box.high - box.low) / 2.0)
    return np.clip(a, box.low, box.high)


class EpisodeEnv:
    """The worker's view of its environment: clipped or scaled rewards, raw scores logged.

    ``step`` returns (s', r, terminal, truncated) where r is the reward the
    learner sees (clipped to [-1, 1] when ``clip_rewards``, ADDITION 7, then
    multiplied by ``reward_scale``, ADDITION 15) and the
    raw reward is added to the game score reported through ``on_episode``
    (score, length) when the game ends.

    With ``life_loss_terminal`` (ADDITION 13, Atari only) a lost life is
    terminal for the learner, but the game goes on: the next ``reset()``
    returns the current state instead of restarting the game, and the logged
    score is the whole game's.
    """

    def __init__(self, env, seed, clip_rewards, on_episode, life_loss_terminal=False, reward_scale=1.0,
                 normalized_actions=False):
        self.env = env
        self.normalized_actions = normalized_actions
        self.clip_rewards = clip_rewards
        self.reward_scale = reward_scale
        self.on_episode = on_episode
        self.life_loss_terminal = life_loss_terminal and hasattr(env.unwrapped, "ale")
        self._seed = seed
        self._obs = None
        self._game_over = True
        self._atari = isinstance(env, AtariPipeline)
        self._replay = None        # not Atari: how the current episode began, and its actions so far
        self.score = 0.0
        self.length = 0
        space = env.action_space
        self._box = space if isinstance(space, gym.spaces.Box) else None

    def _lives(self):
        return self.env.unwrapped.ale.lives() if self.life_loss_terminal else 0

    def reset(self):
        if not self._game_over:           # only a life was lost: continue the same game
            return self._obs
        if not self._atari:               # enough to replay this episode exactly (state())
            self._replay = {"seed": self._seed, "actions": [],
                            "rng": None if self._seed is not None else generator_state(self.env.unwrapped.np_random)}
        if self._seed is not None:        # seed once; later resets continue the stream
            obs, _ = self.env.reset(seed=self._seed)
            self._seed = None
        else:
            obs, _ = self.env.reset()
        self.score, self.length = 0.0, 0
        self._game_over = False
        self._obs = np.asarray(obs)
        return self._obs

    def step(self, a):
        lives = self._lives()
        if self._box is not None:      # ADDITION 14 / DEVIATION 7: clipped (and mapped) here only
            a = box_action(a, self._box, self.normalized_actions)
        else:
            a = int(a)
        if self._replay is not None:
            self._replay["actions"].append(a)
        obs, reward, terminated, truncated, _ = self.env.step(a)
        self.score += float(reward)
        self.length += 1
        self._obs = np.asarray(obs)
        if terminated or truncated:
            self._game_over = True
            self.on_episode(self.score, self.length)
        elif self._lives() < lives:
            terminated = True             # ADDITION 13: terminal for learning only
        r = min(1.0, max(-1.0, float(reward))) if self.clip_rewards else float(reward)  # ADDITION 7: reward clipping
        r *= self.reward_scale              # ADDITION 15: reward scaling (exact when 1)
        return self._obs, r, bool(terminated), bool(truncated)

    def state(self):
        """Everything needed to continue this environment exactly where it is, as plain
        data (dicts, lists, numbers, arrays): the ALE's own state for Atari; otherwise
        how the current episode began (its reset seed, or the environment's random
        state before an unseeded reset) and the actions taken since, which ``restore``
        replays.  Exact for environments whose only randomness is their ``np_random``
        (gymnasium's classic control, toy text, Box2D, MuJoCo)."""
        if self._atari:
            env = self.env.state()
        elif self._game_over:               # between episodes: the next reset draws from np_random
            rng = None if self._seed is not None else generator_state(self.env.unwrapped.np_random)
            env = {"seed": self._seed, "rng": rng, "actions": [], "pending_reset": True}
        else:
            env = {**self._replay, "actions": np.asarray(self._replay["actions"]), "pending_reset": False}
        return {"env": env, "seed": self._seed, "obs": self._obs, "game_over": self._game_over,
                "score": self.score, "length": self.length}

    def restore(self, state):
        """Continue from ``state()`` of an environment made with the same id.  A replay
        that does not end at the saved observation raises RuntimeError."""
        env = state["env"]
        if self._atari:
            self.env.restore(env)
        elif env["pending_reset"]:
            if env["rng"] is not None:
                self.env.unwrapped.np_random = generator(env["rng"])
        else:
            if env["seed"] is not None:
                obs, _ = self.env.reset(seed=env["seed"])
            else:
                self.env.unwrapped.np_random = generator(env["rng"])
                obs, _ = self.env.reset()
            actions = np.asarray(env["actions"])
            for a in actions:
                obs, *_ = self.env.step(a if self._box is not None else int(a))
            if not np.array_equal(np.asarray(obs), np.asarray(state["obs"])):
                raise RuntimeError("the environment did not replay to its saved state: it has randomness "
                                   "of its own beyond np_random, so this run cannot resume exactly")
            self._replay = {"seed": env["seed"], "rng": env["rng"], "actions": list(actions)}
        obs = state["obs"]
        self._seed, self._obs = state["seed"], None if obs is None else np.asarray(obs)
        self._game_over, self.score, self.length = state["game_over"], state["score"], state["length"]

    def close(self):
        self.env.close()
