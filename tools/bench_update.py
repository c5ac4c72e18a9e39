"""The memory traffic of one asynchronous update: counted, and measured with N processes.

    python tools/bench_update.py [--workers 1 2] [--seconds 4] [--rounds 3] [--t-max 5]

Counted (no measurement): the bytes each pass of a worker's segment moves for the
Atari network (678k float32 parameters = 2.71 MB per vector), for one update of
t_max steps.  A write to a line not in cache first reads it (write-allocate), so a
pure write counts twice.

Measured: N spawned processes run ONLY those passes, in a loop, on real shared
memory (theta and RMSProp's g in a SharedBlock, as in training; theta' and
d_theta private), with no environment and no network arithmetic.  ``forward``
stands for the t_max forward passes, each of which reads every weight of
theta' once; ``gradient`` for the backward pass's d_theta <- d_theta + dW (read
theta', read and write d_theta).  What the tool compares is the update's passes
at a given N: as the worker loops run them now (``separate``); with d_theta's
reset done in the optimizer's sweep (``zero-in-sweep``: the sweep reads d_theta
anyway; the loop's own reset pass goes); and with the backward pass writing
d_theta instead of adding to it (``first-write``: every loop has one backward
pass per update since DEVIATION 4, so the reset is not needed at all).  Rates are updates per second per
process, the median of the rounds; the variants are interleaved within each round
and their ratio is taken within the round.  "GB/s counted" is the counted traffic
times the measured rate, all processes together: what the passes move through the
cache hierarchy, not a hardware counter; far above the machine's memory bandwidth,
most of it hit a cache.
"""
import argparse
import multiprocessing as mp
import os
import statistics
import sys
import time

import numba
import numpy as np

from refasync.runner import THREAD_VARS

VARIANTS = ("separate", "zero-in-sweep", "first-write", "subnormal-g", "subnormal-flushed")
SUBNORMAL = ("subnormal-g", "subnormal-flushed")
PASSES = ("zero", "copy", "forward", "gradient", "norm", "rmsprop")


def traffic(n_params, itemsize, t_max, variant="separate"):
    """{pass: bytes moved per update}; a write counts twice (write-allocate)."""
    v = n_params * itemsize
    counts = {
        "zero": 2 * v,                  # L5  d_theta <- 0: write
        "copy": 3 * v,                  # L6  theta' <- theta: read theta, write theta'
        "forward": t_max * v,           # L10 each step reads every weight of theta'
        "gradient": 3 * v,              # L18-19 read theta' (weights), read and write d_theta
        "norm": v,                      # ADDITION 2: ||d_theta||, read
        "rmsprop": 5 * v,               # L21 read theta, g, d_theta; write theta, g (in cache)
    }
    if variant == "zero-in-sweep":
        counts["zero"] = 0
        counts["rmsprop"] += v          # d_theta written back from the sweep
    if variant == "first-write":
        counts["zero"] = 0              # the gradient pass: read theta', write d_theta (3 v, as before)
    return counts


_jit = numba.njit(cache=True, fastmath=True, error_model="numpy")


@_jit
def _read(x):
    s = x.dtype.type(0)
    for i in range(x.shape[0]):
        s += x[i]
    return s


@_jit
def _accumulate(d, w):
    c = w.dtype.type(1e-6)
    for i in range(d.shape[0]):
        d[i] += c * w[i]


@_jit
def _write(d, w):
    c = w.dtype.type(1e-6)
    for i in range(d.shape[0]):
        d[i] = c * w[i]


@_jit
def _rmsprop_variant(theta, g, d_theta, lr, alpha, eps, scale, reset_d, flush):
    """optim.rmsprop_step, with d_theta[i] <- 0 once it is read (``reset_d``), and with
    or without ADDITION 16's flush of a subnormal g (``flush``)."""
    F = theta.dtype.type
    lr, alpha, one_minus_alpha, eps, scale = F(lr), F(alpha), F(1.0 - alpha), F(eps), F(scale)
    tiny = F(np.finfo(theta.dtype).tiny)
    for i in range(theta.shape[0]):
        d = d_theta[i] * scale
        if reset_d:
            d_theta[i] = 0
        gi = alpha * g[i] + one_minus_alpha * d * d
        if flush and gi < tiny:
            gi = F(0.0)
        g[i] = gi
        theta[i] -= lr * d / np.sqrt(gi + eps)


def _worker(worker_id, block, variant, t_max, seconds, barrier, out):
    from refasync.optim import grad_norm, rmsprop_step, sweep_parts
    shared = block.views()
    theta, g = shared.theta, shared.opt_stat
    theta_prime, d_theta = np.empty_like(theta), np.zeros_like(theta)
    acc = dict.fromkeys(PASSES, 0.0)
    clock = time.perf_counter

    def one_update(k):
        t0 = clock()
        if variant not in ("zero-in-sweep", "first-write"):
            d_theta[:] = 0
        t1 = clock()
        theta_prime[:] = theta
        t2 = clock()
        for _ in range(t_max):
            _read(theta_prime)
        t3 = clock()
        if variant == "first-write":
            _write(d_theta, theta_prime)
        else:
            _accumulate(d_theta, theta_prime)
        t4 = clock()
        norm = grad_norm(d_theta)
        t5 = clock()
        for p in sweep_parts(theta.shape[0], worker_id, k):
            if variant == "zero-in-sweep":
                _rmsprop_variant(theta[p], g[p], d_theta[p], 1e-9, 0.99, 0.1, 1.0, True, True)
            elif variant == "subnormal-g":
                _rmsprop_variant(theta[p], g[p], d_theta[p], 1e-9, 0.99, 0.1, 1.0, False, False)
            else:
                rmsprop_step(theta[p], g[p], d_theta[p], 1e-9, 0.99, 0.1, 1.0)
        t6 = clock()
        for key, dt in zip(PASSES, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4, t6 - t5)):
            acc[key] += dt
        return norm

    for k in range(20):                                  # compile and fill caches
        one_update(k)
    barrier.wait()
    for key in acc:
        acc[key] = 0.0
    n, t0 = 0, clock()
    while clock() - t0 < seconds:
        n += 1
        one_update(n)
    out.put((n, clock() - t0, acc))


def measure(n, variant, t_max, seconds, n_params, dtype):
    from refasync.shared import SharedBlock
    ctx = mp.get_context("spawn")
    block = SharedBlock(ctx, n_params, dtype, with_target=False)
    shared = block.views()
    shared.theta[:] = np.random.default_rng(0).uniform(-0.01, 0.01, n_params)
    shared.opt_stat[:] = 0
    if variant in SUBNORMAL:                     # d_theta = 1e-6 theta' = 0 on the even half
        shared.theta[::2] = 0
        shared.opt_stat[::2] = 50 * np.finfo(np.float32).smallest_subnormal
    barrier, out = ctx.Barrier(n), ctx.Queue()
    os.environ.update({k: "1" for k in THREAD_VARS})
    procs = [ctx.Process(target=_worker, args=(i, block, variant, t_max, seconds, barrier, out),
                         daemon=True) for i in range(n)]
    for p in procs:
        p.start()
    results = [out.get(timeout=seconds + 300) for _ in procs]
    for p in procs:
        p.join()
    rate = statistics.mean(r[0] / r[1] for r in results)             # updates/s per process
    ms = {k: 1e3 * statistics.mean(r[2][k] / r[0] for r in results) for k in PASSES}
    return rate, ms


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workers", type=int, nargs="+", default=sorted({1, 2, os.cpu_count() or 1}))
    ap.add_argument("--seconds", type=float, default=4.0, help="seconds per measurement")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--t-max", type=int, default=5, help="forward passes per update")
    args = ap.parse_args()

    from refasync.nn import atari_network
    net = atari_network(6, "actor_critic")
    dtype = np.dtype(np.float32)
    P = net.n_params
    mb = P * dtype.itemsize / 1e6
    print(f"Atari network, {P:,} float32 parameters = {mb:.2f} MB per vector; t_max {args.t_max}")
    print("\ncounted bytes per update (MB; a write counts twice, write-allocate)")
    print(f"{'variant':<18}" + "".join(f"{k:>10}" for k in PASSES) + f"{'total':>10}")
    for v in VARIANTS:
        c = traffic(P, dtype.itemsize, args.t_max, v)
        print(f"{v:<18}" + "".join(f"{c[k] / 1e6:>10.1f}" for k in PASSES)
              + f"{sum(c.values()) / 1e6:>10.1f}")

    rows = {}                        # (n, variant) -> [(rate, ms)] over rounds
    for r in range(args.rounds):
        for n in args.workers:
            got = {v: measure(n, v, args.t_max, args.seconds, P, dtype) for v in VARIANTS}
            for v in VARIANTS:
                rows.setdefault((n, v), []).append(got[v])
            print(f"round {r + 1}, N={n}: " + ", ".join(f"{v} {got[v][0]:,.0f}" for v in VARIANTS)
                  + " updates/s per process", flush=True)

    print(f"\nmeasured: ms per update per pass (median of {args.rounds} rounds, mean over processes)")
    print(f"{'N':>3} {'variant':<18}{'upd/s/proc':>11}{'GB/s counted':>13}"
          + "".join(f"{k:>9}" for k in PASSES))
    for n in args.workers:
        for v in VARIANTS:
            rate = statistics.median(x[0] for x in rows[(n, v)])
            ms = {k: statistics.median(x[1][k] for x in rows[(n, v)]) for k in PASSES}
            gbs = n * rate * sum(traffic(P, dtype.itemsize, args.t_max, v).values()) / 1e9
            print(f"{n:>3} {v:<18}{rate:>11,.0f}{gbs:>13.1f}" + "".join(f"{ms[k]:>9.3f}" for k in PASSES))
    print()
    def ratios(n, v, n_base=None):
        """Per round: variant v's rate at n over separate's at n (or separate's at n_base)."""
        return [a[0] / b[0] for a, b in zip(rows[(n, v)], rows[(n_base or n, "separate")])]

    base = args.workers[0]
    for n in args.workers:
        line = f"N={n}: " + "; ".join(
            f"{v} / separate {statistics.median(ratios(n, v)):.3f} (rounds "
            + " ".join(f"{x:.3f}" for x in ratios(n, v)) + ")" for v in VARIANTS[1:3])
        sub = [a[0] / b[0] for a, b in zip(rows[(n, "subnormal-g")], rows[(n, "subnormal-flushed")])]
        line += (f"; subnormal-g / subnormal-flushed {statistics.median(sub):.3f} (rounds "
                 + " ".join(f"{x:.3f}" for x in sub) + ")")
        if n != base:
            line += f"; separate, per process, N={n} / N={base}: " \
                    f"{statistics.median(ratios(n, 'separate', base)):.2f}"
        print(line)

if __name__ == "__main__":
    sys.exit(main())
