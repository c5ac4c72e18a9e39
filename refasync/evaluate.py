"""python -m refasync.evaluate RUN_DIR: play a saved policy, print its score and
write ``evaluation.json`` into the run folder.

Policies (``POLICIES``): *greedy* takes argmax_a Q(s, a), argmax_a pi(a|s) or mu,
as the evaluation at the end of ``refasync.train`` does; *sampled* draws a ~ pi
(or N(mu, sigma^2)) for A3C and acts epsilon-greedily (``--epsilon``, default
0.05, DQN's evaluation epsilon) for the Q methods.  Scores are raw game scores.

Atari protocol (the one the no-op-start reproductions report, e.g. pfrl's A3C):
30 episodes, each after 1-30 random no-op actions (the training pipeline's),
cut at 108,000 emulator frames = 27,000 agent steps, the run's final
parameters, both policies.  Episode k is reset with seed ``seed + k`` and acts
with the random stream ``default_rng([seed, k])``, so the scores do not depend on
how many processes play them.
"""
from __future__ import annotations

import json
import multiprocessing as mp
import os
import signal
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

import numpy as np

from .algorithms.policies import GaussianPolicy, epsilon_greedy, sample_action
from .config import Config, ConfigError, family


MAX_EPISODE_STEPS = 100_000      # a cap for environments without a time limit
ATARI_EPISODES = 30              # the reproductions' number of evaluation episodes
ATARI_MAX_EPISODE_FRAMES = 108_000   # 30 minutes at 60 fps: ALE v5's own cap, pfrl's --max-frames
NOOP_MAX = 30                    # the training pipeline's no-op starts (envs.AtariPipeline)
Q_EPSILON = 0.05                 # DQN's evaluation epsilon (Mnih et al. 2015), the Q methods' "sampled" play
POLICIES = ("greedy", "sampled")


class Policy:
    """How an evaluation acts: ``greedy`` or not, and the epsilon of the Q methods' sampled play."""

    def __init__(self, name, head, epsilon=0.0):
        assert name in POLICIES
        self.name, self.head = name, head
        self.epsilon = epsilon if (head == "q" and name == "sampled") else 0.0
        self.greedy = name == "greedy"

    def act(self, net, out, rng, action_space):
        if self.head == "q":
            return epsilon_greedy(out[0], self.epsilon, rng)
        if self.head == "gaussian":                      # act with mu, or sample N(mu, sigma^2)
            from .envs import box_action
            pi = GaussianPolicy(net)
            a = pi.mean(out[0, :-1]) if self.greedy else pi.sample(out[0, :-1], rng)
            return box_action(a, action_space, net.bounded_mean)
        logits = net.split(out)[0][0]
        return int(np.argmax(logits)) if self.greedy else sample_action(logits, rng)


def policy_label(head, greedy=True, epsilon=0.0):
    """How an evaluation acted, for every printed or logged score."""
    if head == "q":
        return "greedy (argmax Q)" if epsilon == 0 else f"epsilon-greedy ({epsilon:g})"
    if head == "gaussian":
        return "greedy (mu)" if greedy else "sampled from N(mu, sigma^2)"
    return "greedy (argmax pi)" if greedy else "sampled from pi"


def max_steps_of(cfg):
    """The episode cap in agent steps: 108,000 frames on Atari, else MAX_EPISODE_STEPS."""
    from .envs import FRAME_SKIP
    return ATARI_MAX_EPISODE_FRAMES // FRAME_SKIP if family(cfg.env) == "atari" else MAX_EPISODE_STEPS


def play_episode(env, net, theta, policy, seed, rng, max_steps, show=None, stop=None):
    """(raw score, agent steps, cut at max_steps) of one episode from ``env.reset(seed=seed)``.
    ``stop`` (an Event), when set, abandons the episode: returns None."""
    s, _ = env.reset(seed=seed)
    if show is not None:
        show(env.render())
    score, steps, done = 0.0, 0, False
    while not done:
        out, _ = net.forward(theta, np.asarray(s)[None])
        s, r, terminated, truncated, _ = env.step(policy.act(net, out, rng, env.action_space))
        if show is not None:
            show(env.render())
        score += float(r)
        steps += 1
        done = terminated or truncated or steps >= max_steps
        if stop is not None and steps % 256 == 0 and stop.is_set():
            return None
    return score, steps, not terminated


def evaluate(cfg, net, theta, episodes, seed=0, epsilon=0.0, greedy=True, max_steps=MAX_EPISODE_STEPS,
             on_frame=None, sticky_actions=False, processes=1, progress=None, details=False):
    """Raw scores of ``episodes`` episodes of the policy given by theta (each
    cut after ``max_steps`` agent steps).  Episode k starts from
    ``reset(seed=seed + k)`` and draws its actions from ``default_rng([seed, k])``.
    ``on_frame(rgb)``, if given, receives every frame the game shows (Atari:
    every emulator frame; otherwise the env's ``render()`` after the reset and
    after every step); it needs ``processes=1``.  ``processes > 1`` plays the
    episodes in that many spawned processes, with the same scores.  ``progress(n)``
    is called after each finished episode.  ``details``: return (scores, steps, cut)."""
    policy = Policy("greedy" if greedy else "sampled", net.head, epsilon)
    if processes > 1 and on_frame is None:
        results = _evaluate_in_processes(cfg, net, theta, policy, episodes, seed, max_steps, sticky_actions,
                                         min(processes, episodes), progress)
    else:
        results = _evaluate_here(cfg, net, theta, policy, episodes, seed, max_steps, sticky_actions,
                                 on_frame, progress)
    scores = np.array([r[0] for r in results])
    if details:
        return scores, np.array([r[1] for r in results]), np.array([r[2] for r in results])
    return scores


def _evaluate_here(cfg, net, theta, policy, episodes, seed, max_steps, sticky_actions, on_frame, progress):
    from .envs import make_env
    atari = family(cfg.env) == "atari"
    env = make_env(cfg.env, render_mode="rgb_array" if on_frame is not None and not atari else None,
                   sticky_actions=sticky_actions)
    if on_frame is not None and atari:
        env.on_frame = on_frame             # every emulator frame, from inside the action repeat
    show = None if atari else on_frame      # otherwise render() after the reset and each step
    results = []
    try:
        for k in range(episodes):
            results.append(play_episode(env, net, theta, policy, seed + k, np.random.default_rng([seed, k]),
                                        max_steps, show))
            if progress is not None:
                progress(1)
    finally:
        env.close()
    return results


# ------------------------------------------------- episodes in worker processes
_PLAYER = {}     # the state of one evaluation process, set once by _player_init


def _player_init(env_id, net, theta, policy, max_steps, sticky_actions, stop):
    """Runs once in each evaluation process: its network, parameters and environment."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)        # the parent decides when to stop
    from .envs import make_env
    _PLAYER.update(net=net, theta=theta, policy=policy, max_steps=max_steps, stop=stop,
                   env=make_env(env_id, sticky_actions=sticky_actions))


def _player_episode(seed, k):
    p = _PLAYER
    return play_episode(p["env"], p["net"], p["theta"], p["policy"], seed + k, np.random.default_rng([seed, k]),
                        p["max_steps"], stop=p["stop"])


def _evaluate_in_processes(cfg, net, theta, policy, episodes, seed, max_steps, sticky_actions, processes, progress):
    """The episodes in ``processes`` spawned processes (started as the training workers
    are: one thread each, SIGINT ignored); Ctrl-C sets an event on which they abandon
    their episodes.  A process that dies raises RuntimeError."""
    from .runner import starting_children
    ctx = mp.get_context("spawn")
    stop = ctx.Event()
    ex = ProcessPoolExecutor(processes, mp_context=ctx, initializer=_player_init,
                             initargs=(cfg.env, net, theta, policy, max_steps, sticky_actions, stop))
    try:
        with starting_children():       # the pool starts its processes at these submits
            futures = [ex.submit(_player_episode, seed, k) for k in range(episodes)]
        for f in futures:
            f.add_done_callback(lambda f: progress(1) if progress is not None and not f.exception() else None)
        return [f.result() for f in futures]
    except BrokenProcessPool as e:
        raise RuntimeError(f"an evaluation process died: {e}") from None
    except BaseException:
        stop.set()
        raise
    finally:
        ex.shutdown(wait=True, cancel_futures=True)


def load_run(run_dir):
    """(cfg, net, theta) of a run folder, or ConfigError."""
    cfg, net, ckpt = load_run_checkpoint(run_dir)
    return cfg, net, ckpt["theta"]


def load_run_checkpoint(run_dir):
    """(cfg, net, the whole checkpoint) of a run folder, or ConfigError."""
    from .checkpoint import load_checkpoint
    from .nn import build_network
    cfg_path = os.path.join(run_dir, "config.json")
    ckpt_path = os.path.join(run_dir, "checkpoint.npz")
    if not os.path.isdir(run_dir):
        raise ConfigError(f"no run folder at {run_dir!r}")
    for path in (cfg_path, ckpt_path):
        if not os.path.isfile(path):
            raise ConfigError(f"{run_dir!r} is not a complete run folder: {os.path.basename(path)} is missing")
    try:
        with open(cfg_path) as f:
            d = json.load(f)
        cfg = Config.from_dict(d)
        net = build_network(cfg, tuple(d["obs_shape"]), int(d["n_actions"]))
        ckpt = load_checkpoint(ckpt_path)
        theta, ckpt["T"] = ckpt["theta"], int(ckpt["T"])
    except Exception as e:   # any unreadable file is the user's input, not our bug
        raise ConfigError(f"corrupt run folder {run_dir!r}: {type(e).__name__}: {e}") from None
    if theta.shape != (net.n_params,):
        raise ConfigError(f"corrupt run folder {run_dir!r}: checkpoint has {theta.shape[0]} parameters, "
                          f"the network {net.n_params}")
    return cfg, net, ckpt


def main(argv=None):
    from .cli import OneLineParser, available_cores, positive_int
    p = OneLineParser(prog="python -m refasync.evaluate", description=__doc__.splitlines()[0])
    p.add_argument("run_dir")
    p.add_argument("--episodes", type=positive_int, default=None,
                   help=f"episodes per policy (default {ATARI_EPISODES} on Atari, else 10)")
    p.add_argument("--epsilon", type=float, default=None,
                   help=f"Q methods: the epsilon of epsilon-greedy play (default: greedy; {Q_EPSILON:g} "
                        "for --sample and Atari's sampled play)")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--greedy", action="store_true",
                      help="only greedy play: argmax of Q or of pi, or mu (the default outside Atari)")
    mode.add_argument("--sample", action="store_true",
                      help="only sampled play: a ~ pi (or N(mu, sigma^2)); Q methods epsilon-greedy")
    p.add_argument("--sticky-actions", action="store_true",
                   help="Atari: repeat the previous action with probability 0.25 (ALE v5's default, "
                        "Machado et al. 2018) instead of the paper's deterministic emulator")
    p.add_argument("--processes", type=positive_int, default=None,
                   help="play the episodes in this many processes (default: the CPU cores on Atari, "
                        "else 1; the scores do not depend on it)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--video", metavar="FILE", default=None,
                   help="record the episodes as the game shows them to FILE.mp4 or FILE.gif "
                        "(needs the video extra: pip install 'refasync[video]'; one process)")
    args = p.parse_args(argv)
    signal.signal(signal.SIGTERM, _interrupt)      # SIGTERM stops as Ctrl-C does: what finished is kept
    try:
        if args.epsilon is not None and not 0.0 <= args.epsilon <= 1.0:
            raise ConfigError(f"--epsilon must be in [0, 1], got {args.epsilon}")
        cfg, net, ckpt = load_run_checkpoint(args.run_dir)
        theta = ckpt["theta"]
        atari = family(cfg.env) == "atari"
        if args.sticky_actions and not atari:
            raise ConfigError(f"--sticky-actions is for Atari games; {cfg.env} is not one")
        episodes = args.episodes or (ATARI_EPISODES if atari else 10)
        policies = select_policies(net.head, atari, args.greedy, args.sample, args.epsilon)
        video = None
        if args.video:
            from .video import ATARI_FPS, VideoWriter
            if not atari:
                os.environ.setdefault("SDL_VIDEODRIVER", "dummy")   # no screen, no sound: frames only
                os.environ.setdefault("SDL_AUDIODRIVER", "dummy")
                try:
                    import pygame  # noqa: F401  (classic control draws its frames with pygame)
                except ImportError:
                    from .video import INSTALL
                    raise ConfigError(f"--video needs the video extra: {INSTALL}") from None
            video = VideoWriter(args.video, ATARI_FPS if atari else _render_fps(cfg.env))
    except ConfigError as e:
        print(f"{p.prog}: error: {e}", file=sys.stderr)
        return 2
    from .envs import FRAME_SKIP, STICKY_ACTION_PROBABILITY
    processes = 1 if video is not None else (args.processes or (available_cores() if atari else 1))
    T = ckpt["T"]
    protocol = {"noop_max": NOOP_MAX if atari else 0,
                "max_episode_frames": max_steps_of(cfg) * (FRAME_SKIP if atari else 1),
                "episodes": episodes, "sticky_actions": STICKY_ACTION_PROBABILITY if args.sticky_actions else 0.0,
                "parameters": "final (checkpoint.npz)", "seed": args.seed,
                "T": T, "frames": T * (FRAME_SKIP if atari else 1)}
    results = {}
    bar = None
    try:
        for policy_name, epsilon in policies:
            greedy = policy_name == "greedy"
            label = policy_label(net.head, greedy, epsilon)
            if not args.no_progress:
                from tqdm import tqdm
                bar = tqdm(total=episodes, desc=label, unit="episode", dynamic_ncols=True, leave=False)
            t0 = time.monotonic()
            scores, steps, cut = evaluate(cfg, net, theta, episodes, seed=args.seed, epsilon=epsilon,
                                          greedy=greedy, max_steps=max_steps_of(cfg), on_frame=video,
                                          sticky_actions=args.sticky_actions, processes=processes,
                                          progress=bar.update if bar is not None else None, details=True)
            if bar is not None:
                bar.close()
                bar = None
            key = policy_name + ("+sticky" if args.sticky_actions else "")
            results[key] = record(protocol, label, scores, steps, cut, time.monotonic() - t0)
            print(f"{cfg.algo} on {cfg.env}, {label}: mean {scores.mean():.2f} +- {scores.std():.2f} "
                  f"over {episodes} episodes (min {scores.min():.1f}, max {scores.max():.1f}"
                  + (f"; {int(cut.sum())} cut at {protocol['max_episode_frames']:,} frames)" if cut.any() else ")"),
                  flush=True)
    except ConfigError as e:                 # e.g. the run's environment is not installed here
        print(f"{p.prog}: error: {e}", file=sys.stderr)
        return 2
    except RuntimeError as e:                # an evaluation process died
        print(f"{p.prog}: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{p.prog}: interrupted{'' if not results else '; evaluation.json keeps what finished'}",
              file=sys.stderr)
        return 130
    finally:
        if bar is not None:
            bar.close()
        if video is not None:
            video.close()
        if results:
            path = save_evaluation(args.run_dir, results)
            if path:
                print(f"wrote {path}")
    if video is not None:
        print(f"wrote {args.video}: {video.n_frames} frames, {video.n_frames / video.fps:.1f} s at {video.fps:g} fps")
    return 0


def select_policies(head, atari, only_greedy, only_sampled, epsilon):
    """[(policy name, epsilon)] to play: both on Atari, else greedy; ``--epsilon`` alone
    (Q methods) means epsilon-greedy play, as it always has."""
    q_eps = (epsilon if epsilon is not None else Q_EPSILON) if head == "q" else 0.0
    if only_greedy:
        return [("greedy", 0.0)]
    if only_sampled or (head == "q" and epsilon is not None and epsilon > 0 and not atari):
        return [("sampled", q_eps)]
    return [("greedy", 0.0), ("sampled", q_eps)] if atari else [("greedy", 0.0)]


def record(protocol, label, scores, steps, cut, wall_s):
    """One policy's entry of evaluation.json."""
    return {"protocol": {**protocol, "policy": label}, "mean": float(scores.mean()), "std": float(scores.std()),
            "min": float(scores.min()), "max": float(scores.max()), "scores": [float(x) for x in scores],
            "lengths": [int(n) for n in steps], "cut": int(cut.sum()), "wall_s": round(wall_s, 1)}


def save_evaluation(run_dir, results):
    """Merge ``results`` (policy key -> record) into RUN/evaluation.json: entries for
    other policies or protocols stay.  Returns the path, or None if it cannot be written."""
    path = os.path.join(run_dir, "evaluation.json")
    try:
        with open(path) as f:
            merged = json.load(f)
        if not isinstance(merged, dict):
            merged = {}
    except (OSError, ValueError):
        merged = {}
    merged.update(results)
    try:
        tmp = path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(merged, f, indent=1)
        os.replace(tmp, path)
    except OSError as e:
        print(f"python -m refasync.evaluate: cannot write {path}: {e.strerror or e}", file=sys.stderr)
        return None
    return path


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def _render_fps(env_id):
    import gymnasium as gym
    return float(gym.spec(env_id).kwargs.get("render_fps") or
                 gym.make(env_id).metadata.get("render_fps") or 30)


if __name__ == "__main__":
    sys.exit(main())
