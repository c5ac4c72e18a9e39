"""python -m refasync.evaluate RUN_DIR: run a saved policy and print its score.

Every method acts greedily by default, as the evaluation at the end of
``refasync.train`` does: Q methods take argmax_a Q(s, a) (epsilon-greedy with
--epsilon), A3C takes argmax_a pi(a|s), or mu with continuous actions (samples
a ~ pi with --sample).  Scores are raw game scores.
"""
from __future__ import annotations

import json
import os
import sys

import numpy as np

from .algorithms.common import GaussianPolicy, epsilon_greedy, sample_action
from .config import Config, ConfigError, family


MAX_EPISODE_STEPS = 100_000     # a cap for environments without a time limit


def evaluate(cfg, net, theta, episodes, seed=0, epsilon=0.0, greedy=True, max_steps=MAX_EPISODE_STEPS,
             on_frame=None):
    """Raw scores of ``episodes`` episodes of the policy given by theta (each
    cut after ``max_steps`` agent steps).  ``on_frame(rgb)``, if given, receives
    every frame the game shows (Atari: every emulator frame; otherwise the
    env's ``render()`` after the reset and after every step)."""
    from .envs import box_action, make_env
    atari = family(cfg.env) == "atari"
    env = make_env(cfg.env, render_mode="rgb_array" if on_frame is not None and not atari else None)
    if on_frame is not None and atari:
        env.on_frame = on_frame             # every emulator frame, from inside the action repeat
    show = None if atari else on_frame      # otherwise render() after the reset and each step
    rng = np.random.default_rng(seed)
    scores = []
    try:
        for k in range(episodes):
            s, _ = env.reset(seed=seed + k)
            if show is not None:
                show(env.render())
            score, steps, done = 0.0, 0, False
            while not done:
                out, _ = net.forward(theta, np.asarray(s)[None])
                if net.head == "q":
                    a = epsilon_greedy(out[0], epsilon, rng)
                elif net.head == "gaussian":              # act with mu, or sample N(mu, sigma^2)
                    pi = GaussianPolicy(net)
                    a = pi.mean(out[0, :-1]) if greedy else pi.sample(out[0, :-1], rng)
                    a = box_action(a, env.action_space, net.bounded_mean)
                else:
                    logits = net.split(out)[0][0]
                    a = int(np.argmax(logits)) if greedy else sample_action(logits, rng)
                s, r, terminated, truncated, _ = env.step(a)
                if show is not None:
                    show(env.render())
                score += float(r)
                steps += 1
                done = terminated or truncated or (max_steps is not None and steps >= max_steps)
            scores.append(score)
    finally:
        env.close()
    return np.array(scores)


def policy_label(head, greedy=True, epsilon=0.0):
    """How an evaluation acted, for every printed or logged score."""
    if head == "q":
        return "greedy (argmax Q)" if epsilon == 0 else f"epsilon-greedy ({epsilon})"
    if head == "gaussian":
        return "greedy (mu)" if greedy else "sampled from N(mu, sigma^2)"
    return "greedy (argmax pi)" if greedy else "sampled from pi"


def load_run(run_dir):
    """(cfg, net, theta) of a run folder, or ConfigError."""
    from .logs import load_checkpoint
    from .runner import build_network
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
        theta = load_checkpoint(ckpt_path)["theta"]
    except Exception as e:   # any unreadable file is the user's input, not our bug
        raise ConfigError(f"corrupt run folder {run_dir!r}: {type(e).__name__}: {e}") from None
    if theta.shape != (net.n_params,):
        raise ConfigError(f"corrupt run folder {run_dir!r}: checkpoint has {theta.shape[0]} parameters, "
                          f"the network {net.n_params}")
    return cfg, net, theta


def main(argv=None):
    from .train import OneLineParser, positive_int
    p = OneLineParser(prog="python -m refasync.evaluate", description=__doc__.splitlines()[0])
    p.add_argument("run_dir")
    p.add_argument("--episodes", type=positive_int, default=10)
    p.add_argument("--epsilon", type=float, default=0.0, help="Q methods: epsilon-greedy (default 0)")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--greedy", action="store_true",
                      help="argmax of Q or of pi (the default; as the evaluation after training)")
    mode.add_argument("--sample", action="store_true", help="A3C: sample a ~ pi instead of argmax pi (or mu)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--video", metavar="FILE", default=None,
                   help="record the episodes as the game shows them to FILE.mp4 or FILE.gif "
                        "(needs the video extra: pip install 'refasync[video]')")
    args = p.parse_args(argv)
    try:
        if not 0.0 <= args.epsilon <= 1.0:
            raise ConfigError(f"--epsilon must be in [0, 1], got {args.epsilon}")
        cfg, net, theta = load_run(args.run_dir)
        video = None
        if args.video:
            from .video import ATARI_FPS, VideoWriter
            atari = family(cfg.env) == "atari"
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
    try:
        scores = evaluate(cfg, net, theta, args.episodes, seed=args.seed, epsilon=args.epsilon,
                          greedy=not args.sample, on_frame=video)
    except ConfigError as e:                 # e.g. the run's environment is not installed here
        print(f"{p.prog}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{p.prog}: interrupted", file=sys.stderr)
        return 130
    finally:
        if video is not None:
            video.close()
    mode = policy_label(net.head, greedy=not args.sample, epsilon=args.epsilon)
    print(f"{cfg.algo} on {cfg.env}, {mode}: mean {scores.mean():.2f} +- {scores.std():.2f} "
          f"over {args.episodes} episodes (min {scores.min():.1f}, max {scores.max():.1f})")
    if video is not None:
        print(f"wrote {args.video}: {video.n_frames} frames, {video.n_frames / video.fps:.1f} s at {video.fps:g} fps")
    return 0


def _render_fps(env_id):
    import gymnasium as gym
    return float(gym.spec(env_id).kwargs.get("render_fps") or
                 gym.make(env_id).metadata.get("render_fps") or 30)


if __name__ == "__main__":
    sys.exit(main())
