"""Health of a run's network: dead ReLU units, weight scales, RMSProp's step.

    python tools/dead_units.py RUN_DIR [--steps 2000] [--seed 0]

Plays the run's checkpointed policy (A3C samples from pi, Q methods act
greedily) for --steps agent steps and counts, per hidden layer, the ReLU units
that never fired: a unit is (channel, position) for a conv layer, and a conv
channel is dead if it never fired anywhere.  Also prints, per layer, the RMS of
the weights and, from the shared RMSProp statistic g, the median of
sqrt(g + eps), i.e. by how much RMSProp divides the gradient there (with eps
inside the root, sqrt(eps) bounds it from below: RMSProp is then SGD with
step lr / sqrt(eps)).  A learning rate that is too high shows up as a layer
whose units are nearly all dead.  The last column is the fraction of weights whose
g is below float32's smallest normal number (0, or subnormal in a checkpoint from
before ADDITION 16): weights that have had no gradient for thousands of updates.
"""
import argparse
import os
import sys

import numpy as np


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run_dir")
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    from refasync.algorithms.policies import sample_action
    from refasync.config import ConfigError
    from refasync.envs import make_env
    from refasync.evaluate import load_run
    from refasync.checkpoint import load_checkpoint
    try:
        cfg, net, theta = load_run(args.run_dir)
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    g = load_checkpoint(os.path.join(args.run_dir, "checkpoint.npz"))["opt_stat"]

    env = make_env(cfg.env)
    rng = np.random.default_rng(args.seed)
    s, _ = env.reset(seed=args.seed)
    hidden = [L for L in net.layers if L.relu]
    fired = [np.zeros(L.out_shape, bool) for L in hidden]
    for _ in range(args.steps):
        out, cache = net.forward(theta, np.asarray(s)[None])
        for k, y in enumerate(y for L, y in zip(net.layers, cache[1:]) if L.relu):
            fired[k] |= y[0] > 0
        if net.head == "q":
            a = int(np.argmax(out[0]))
        else:
            a = sample_action(net.split(out)[0][0], rng)
        s, _, terminated, truncated, _ = env.step(a)
        if terminated or truncated:
            s, _ = env.reset()
    env.close()

    print(f"{args.run_dir}: {cfg.algo} on {cfg.env}, {args.steps} agent steps of its policy")
    print(f"{'layer':<8} {'units':>8} {'dead':>7} {'dead channels':>14} {'weight RMS':>11} "
          f"{'median sqrt(g+eps)':>19} {'g < 2^-126':>11}")
    W, G = net.views(theta), net.views(g)
    tiny = np.finfo(g.dtype).tiny                  # below it: 0, or subnormal
    k = 0
    for L in net.layers:
        w, gw, name = W[f"{L.name}.w"], G[f"{L.name}.w"], L.name
        scale = float(np.median(np.sqrt(gw + cfg.rms_eps)))
        still = f"{np.mean(np.abs(gw) < tiny):>11.1%}"
        if L.relu:
            f = fired[k]
            dead = 1 - f.mean()
            channels = (1 - f.reshape(-1, f.shape[-1]).any(axis=0).mean()) if f.ndim > 1 else dead
            print(f"{name:<8} {f.size:>8} {dead:>7.1%} {channels:>14.1%} {np.sqrt(np.mean(w ** 2)):>11.4g} "
                  f"{scale:>19.4g} {still}")
            k += 1
        else:
            print(f"{name:<8} {'(head)':>8} {'':>7} {'':>14} {np.sqrt(np.mean(w ** 2)):>11.4g} {scale:>19.4g} {still}")
    print(f"sqrt(eps) = {np.sqrt(cfg.rms_eps):.4g}: where the median is close to it, RMSProp is SGD "
          f"with step lr / sqrt(eps) = {1 / np.sqrt(cfg.rms_eps):.3g} lr (lr {cfg.lr:g} at the start)")
    sub = np.count_nonzero((g != 0) & (np.abs(g) < tiny))
    print(f"g: {np.mean(g == 0):.1%} exactly 0, {sub / g.size:.1%} subnormal"
          + (" (a checkpoint from before ADDITION 16; subnormal arithmetic is slow on many x86 CPUs)" if sub else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
