"""Gymnasium environment factories.

Classic control and other vector-observation environments are used as
gymnasium makes them.  ``ALE/*`` ids get the paper's preprocessing (DQN 2015
style, Mnih et al. 2016 Sec. 8): the emulator at ``frameskip=1,
repeat_action_probability=0``, then max over the last two frames, grayscale,
84x84, action repeat 4, up to 30 no-op starts, a stack of 4 frames.
Observations are (4, 84, 84) uint8.
"""
from __future__ import annotations

import gymnasium as gym
import numpy as np

from .config import ConfigError

FRAME_SKIP = 4


def is_atari(env_id):
    return env_id.startswith("ALE/")


def make_env(env_id, life_loss_terminal=False):
    """A gymnasium environment with a Discrete action space, or ConfigError."""
    try:
        if is_atari(env_id):
            import ale_py
            gym.register_envs(ale_py)
            env = gym.make(env_id, frameskip=1, repeat_action_probability=0.0)
            env = gym.wrappers.AtariPreprocessing(
                env, noop_max=30, frame_skip=FRAME_SKIP, screen_size=84,
                terminal_on_life_loss=life_loss_terminal, grayscale_obs=True, scale_obs=False)
            env = gym.wrappers.FrameStackObservation(env, 4)
        else:
            env = gym.make(env_id)
    except gym.error.Error as e:
        raise ConfigError(f"unknown environment {env_id!r}: {e}") from None
    except ImportError as e:
        raise ConfigError(f"environment {env_id!r} needs a package that is not installed: {e}") from None
    if not isinstance(env.action_space, gym.spaces.Discrete):
        env.close()
        raise ConfigError(f"environment {env_id!r} has a {type(env.action_space).__name__} action "
                          "space; the paper's algorithms need discrete actions")
    return env


def env_spec(env_id):
    """(observation shape, number of actions, frames per agent step) of an environment id."""
    env = make_env(env_id)
    try:
        shape = env.observation_space.shape
        if shape is None or len(shape) not in (1, 3):
            raise ConfigError(f"environment {env_id!r} has observations of shape {shape}; "
                              "expected a vector or stacked frames")
        return tuple(shape), int(env.action_space.n), FRAME_SKIP if is_atari(env_id) else 1
    finally:
        env.close()


class EpisodeEnv:
    """The worker's view of its environment: clipped rewards, raw scores logged.

    ``step`` returns (s', r, terminated, truncated) where r is the reward the
    learner sees (clipped to [-1, 1] when ``clip_rewards``, ADDITION 7) and the
    raw reward is added to the episode score reported through ``on_episode``
    (score, length) when an episode ends.
    """

    def __init__(self, env, seed, clip_rewards, on_episode):
        self.env = env
        self.clip_rewards = clip_rewards
        self.on_episode = on_episode
        self._seed = seed
        self.score = 0.0
        self.length = 0

    def reset(self):
        if self._seed is not None:        # seed once; later resets continue the stream
            obs, _ = self.env.reset(seed=self._seed)
            self._seed = None
        else:
            obs, _ = self.env.reset()
        self.score, self.length = 0.0, 0
        return np.asarray(obs)

    def step(self, a):
        obs, reward, terminated, truncated, _ = self.env.step(int(a))
        self.score += float(reward)
        self.length += 1
        if terminated or truncated:
            self.on_episode(self.score, self.length)
        r = float(np.clip(reward, -1.0, 1.0)) if self.clip_rewards else float(reward)
        return np.asarray(obs), r, bool(terminated), bool(truncated)

    def close(self):
        self.env.close()
