"""Where a worker's time goes, per agent step, with N workers running at once.

    python tools/profile_worker.py [--algo a3c] [--env ALE/Pong-v5] [--seconds 20] [--workers 1 2] [--t-max 5]

Runs the real worker generators (workers.make_worker) on real shared memory in
N spawned processes, with wall-clock timers around each phase: env.step,
net.forward, net.backward, the gradient norm, the optimizer step, and the
rest (theta' <- theta, d_theta <- 0, losses, action sampling, Python).  For
each N it prints milliseconds per agent step and per phase, averaged over the
workers, so that the phase that slows down when workers are added stands out.
A profiling tool, not a benchmark: the timers add about 1 us per call.
"""
import argparse
import multiprocessing as mp
import os
import sys
import time

from refasync.runner import THREAD_VARS

PHASES = ("env.step", "forward", "backward", "grad_norm", "optimizer", "rest")


def _timed(fn, acc, key):
    def wrapper(*args, **kwargs):
        t0 = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            acc[key] += time.perf_counter() - t0
    return wrapper


def _worker(worker_id, cfg, spec, block, seconds, warmup, barrier, out):
    import refasync.algorithms.update as update
    from refasync.nn.network import Network
    from refasync.workers import make_worker

    acc = dict.fromkeys(PHASES, 0.0)
    Network.forward = _timed(Network.forward, acc, "forward")
    Network.backward = _timed(Network.backward, acc, "backward")
    update.grad_norm = _timed(update.grad_norm, acc, "grad_norm")
    update.rmsprop_step = _timed(update.rmsprop_step, acc, "optimizer")
    update.momentum_sgd_step = _timed(update.momentum_sgd_step, acc, "optimizer")
    shared = block.views()
    gen, ctx = make_worker(worker_id, cfg, spec, shared, lambda score, length: None)
    env = ctx.env
    env.step = _timed(env.step, acc, "env.step")

    t0 = time.perf_counter()
    for _ in gen:                                  # compile and fill caches
        if time.perf_counter() - t0 > warmup:
            break
    barrier.wait()
    for k in acc:
        acc[k] = 0.0
    steps, t0 = 0, time.perf_counter()
    for y in gen:
        steps += len(y["a"])
        if time.perf_counter() - t0 > seconds:
            break
    wall = time.perf_counter() - t0
    acc["rest"] = wall - sum(acc.values())
    out.put((steps, wall, acc))
    env.close()


def profile(cfg, spec, n, seconds, warmup):
    from refasync.nn import build_network
    from refasync.shared import SharedBlock
    import numpy as np

    ctx = mp.get_context("spawn")
    net = build_network(cfg, spec[0], spec[1])
    block = SharedBlock(ctx, net.n_params, np.dtype(cfg.dtype), with_target=cfg.head == "q")
    shared = block.views()
    shared.theta[:] = net.init(np.random.default_rng(cfg.seed), np.dtype(cfg.dtype))
    if shared.theta_minus is not None:
        shared.theta_minus[:] = shared.theta
    barrier, out = ctx.Barrier(n), ctx.Queue()
    os.environ.update({k: "1" for k in THREAD_VARS})
    procs = [ctx.Process(target=_worker, args=(i, cfg, spec, block, seconds, warmup, barrier, out),
                         daemon=True) for i in range(n)]
    for p in procs:
        p.start()
    results = [out.get(timeout=seconds + warmup + 300) for _ in procs]
    for p in procs:
        p.join()
    steps = sum(r[0] for r in results)
    per_step = {k: 1e3 * sum(r[2][k] / r[0] for r in results) / n for k in PHASES}
    return steps / max(r[1] for r in results), per_step


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--algo", default="a3c")
    ap.add_argument("--env", default="ALE/Pong-v5")
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--warmup", type=float, default=5.0)
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--t-max", type=int, default=None,
                    help="segment length (default: the preset's for each N)")
    args = ap.parse_args()

    from refasync.config import Config, preset, resolve_algo, validate
    from refasync.envs import env_spec
    algo = resolve_algo(args.algo)
    spec = env_spec(args.env)

    rows = []
    for n in args.workers:
        # the preset for n workers: A3C's t_max on Atari depends on it (DECISION 1's bound)
        cfg = Config(algo=algo, env=args.env, workers=n)
        for k, v in preset(algo, args.env, workers=n).items():
            setattr(cfg, k, v)
        if args.t_max is not None:
            cfg.t_max = args.t_max
        cfg.steps = 10**12
        validate(cfg)
        rate, per_step = profile(cfg, spec, n, args.seconds, args.warmup)
        rows.append((n, cfg.t_max, rate, per_step))
    print(f"{args.algo} on {args.env}, {args.seconds:g} s per N, ms per agent step (mean over workers)")
    print(f"{'N':>3} {'t_max':>5} {'steps/s':>8} {'total':>7} " + " ".join(f"{k:>9}" for k in PHASES))
    for n, t_max, rate, ps in rows:
        print(f"{n:>3} {t_max:>5} {rate:>8,.0f} {sum(ps.values()):>7.3f} "
              + " ".join(f"{ps[k]:>9.3f}" for k in PHASES))
    if len(rows) > 1:
        base = rows[0][3]
        for n, _, _, ps in rows[1:]:
            print(f"N={n} / N={rows[0][0]}: " + " ".join(f"{k} {ps[k] / base[k]:.2f}x" for k in PHASES))


if __name__ == "__main__":
    sys.exit(main())
