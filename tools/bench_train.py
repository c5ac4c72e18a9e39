"""Training throughput against the environment-only ceiling, in ONE run.

    python tools/bench_train.py [--env ALE/Pong-v5] [--seconds 30] [--workers 1 2]
    python tools/bench_train.py --ceiling-json FILE --workers 16 --seconds 10   # (a) only, as JSON

For each N in --workers (default: 1, 2 and the machine's core count if larger):
  (a) the env-only ceiling: N processes step the same wrapped environment
      (envs.make_env: the paper's Atari pipeline) with random actions;
  (b) each of the four algorithms trained by ``python -m refasync.train`` with N
      workers, stopped with SIGINT (Ctrl-C) after --seconds of training.
Prints agent steps/s, frames/s, the ratio (b)/(a), the seconds from command
start to the first training step, the peak resident memory per worker (from
the run's summary.json), and for n-step Q and A3C the t_max of the run: the
preset's for N workers (DECISION 1's bound gives A3C 20 up to 4 workers, 5 beyond).  With --rounds K every measurement is repeated
K times, interleaved, and the medians follow; ratios (scaling, vs A3C, vs
the ceiling) are taken within each round, where both rates saw the same
machine, and then their median. Steady-state rates skip the first progress
rows (start-up and compilation). --ceiling-json measures (a) alone for each N
and writes it to FILE: the ``ceiling.json`` a training record keeps beside it.
"""
import argparse
import csv
import json
import multiprocessing as mp
import os
import signal
import subprocess
import sys
import tempfile
import time

import numpy as np

from refasync.config import ALGORITHMS
from refasync.runner import THREAD_VARS

ALGOS = list(ALGORITHMS)


def _env_worker(env_id, seconds, seed, barrier, out):
    from refasync.envs import make_env
    import numpy as np
    env = make_env(env_id)
    rng = np.random.default_rng(seed)
    env.reset(seed=seed)
    n = env.action_space.n
    barrier.wait()
    t0, steps = time.perf_counter(), 0
    while time.perf_counter() - t0 < seconds:
        _, _, terminated, truncated, _ = env.step(int(rng.integers(n)))
        steps += 1
        if terminated or truncated:
            env.reset()
    out.put((steps, time.perf_counter() - t0))
    env.close()


def env_ceiling(env_id, n, seconds):
    """Total agent steps/s of n processes stepping the env with random actions."""
    ctx = mp.get_context("spawn")
    barrier, out = ctx.Barrier(n), ctx.Queue()
    procs = [ctx.Process(target=_env_worker, args=(env_id, seconds, i, barrier, out)) for i in range(n)]
    for p in procs:
        p.start()
    results = [out.get(timeout=seconds + 120) for _ in procs]
    for p in procs:
        p.join()
    return sum(s / t for s, t in results)


def write_ceiling(env_id, workers, seconds, path):
    """Measure env_ceiling for each N and write {"env", "seconds", "measured", "how", "ceilings": [...]}."""
    fps = 4 if env_id.startswith("ALE/") else 1
    ceilings = []
    for n in workers:
        rate = env_ceiling(env_id, n, seconds)
        ceilings.append({"processes": n, "agent_steps_per_s": round(rate, 1), "frames_per_s": round(fps * rate, 1)})
        print(f"env-only ceiling, {n} processes: {rate:,.0f} agent steps/s = {fps * rate:,.0f} frames/s", flush=True)
    record = {"env": env_id, "seconds": seconds, "cores": os.cpu_count(),
              "measured": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
              "how": "python tools/bench_train.py --ceiling-json: N processes step envs.make_env with random actions",
              "ceilings": ceilings}
    with open(path, "w") as f:
        json.dump(record, f, indent=1)
        f.write("\n")
    return 0


def train_rate(env_id, algo, n, seconds, out_dir):
    """(steady steps/s, frames per step, start-up s, peak RSS per worker MB, t_max) of one training run
    of the default command with n workers (so t_max is the one the preset gives n workers)."""
    cmd = [sys.executable, "-m", "refasync.train", "--algo", algo, "--env", env_id, "--workers", str(n),
           "--steps", "1000000000", "--no-progress", "--eval-episodes", "0", "--out", out_dir]
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    progress = os.path.join(out_dir, "progress.csv")
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and p.poll() is None:      # wait for training to start
        if os.path.exists(progress) and sum(1 for _ in open(progress)) >= 2:
            break
        time.sleep(0.2)
    time.sleep(seconds)
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=120)
    if p.returncode != 130:
        raise RuntimeError(f"{algo} with {n} workers ended with {p.returncode}: {err.strip()[-500:]}")
    with open(progress) as f:
        rows = list(csv.DictReader(f))
    rows = rows[2:-1] if len(rows) > 4 else rows          # skip start-up and the final partial row
    (a, b) = rows[0], rows[-1]
    rate = (int(b["T"]) - int(a["T"])) / max(float(b["wall_s"]) - float(a["wall_s"]), 1e-9)
    with open(os.path.join(out_dir, "summary.json")) as f:
        summary = json.load(f)
    with open(os.path.join(out_dir, "config.json")) as f:
        config = json.load(f)
    startup = summary["startup_s"] if summary["startup_s"] is not None else float("nan")   # no worker began
    t_max = config.get("t_max") if algo in ("n-step-q", "a3c") else None
    return rate, config["frames_per_step"], startup, max(summary["worker_peak_rss_mb"] or [float("nan")]), t_max


def main():
    cores = os.cpu_count() or 1
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--env", default="ALE/Pong-v5")
    ap.add_argument("--seconds", type=float, default=30.0, help="training seconds per measurement")
    ap.add_argument("--workers", type=int, nargs="+", default=sorted({1, 2, cores}))
    ap.add_argument("--algos", nargs="+", default=ALGOS, choices=ALGOS)
    ap.add_argument("--rounds", type=int, default=1,
                    help="repeat every measurement, interleaved, and report medians (shared machines are noisy)")
    ap.add_argument("--ceiling-json", metavar="FILE",
                    help="only measure the env-only ceiling (for each N in --workers) and write it to FILE")
    args = ap.parse_args()
    for k in THREAD_VARS:
        os.environ[k] = "1"
    if args.ceiling_json:
        return write_ceiling(args.env, args.workers, args.seconds, args.ceiling_json)
    fps = 4 if args.env.startswith("ALE/") else 1
    print(f"{args.env}: {args.seconds:.0f} s per measurement, {args.rounds} round(s), {cores} cores; "
          f"started {time.strftime('%Y-%m-%d %H:%M:%S')}", flush=True)
    header = (f"{'N':>2} {'what':16s} {'steps/s':>9s} {'frames/s':>9s} {'/ceiling':>9s} {'start-up s':>10s} "
              f"{'peak MB/worker':>14s} {'t_max':>5s}")
    print(("round " if args.rounds > 1 else "") + header, flush=True)
    runs = {}            # (what, n) -> [(steps/s, ratio to that round's ceiling, start-up s, MB)] per round
    t_maxes = {}         # (algo, n) -> the t_max the preset gave n workers (the segment methods)
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            tag = f"{r + 1:>5} " if args.rounds > 1 else ""
            for n in args.workers:
                ceiling = env_ceiling(args.env, n, args.seconds)
                runs.setdefault(("env only", n), []).append((ceiling, 1.0, float("nan"), float("nan")))
                print(f"{tag}{n:>2} {'env only':16s} {ceiling:9,.0f} {ceiling * fps:9,.0f} {'1.00':>9s}", flush=True)
                for algo in args.algos:
                    rate, fps, startup, rss, t_max = train_rate(args.env, algo, n, args.seconds,
                                                                os.path.join(tmp, f"{algo}-{n}-{r}"))
                    runs.setdefault((algo, n), []).append((rate, rate / ceiling, startup, rss))
                    t_maxes[(algo, n)] = "" if t_max is None else str(t_max)
                    print(f"{tag}{n:>2} {algo:16s} {rate:9,.0f} {rate * fps:9,.0f} {rate / ceiling:9.2f} "
                          f"{startup:10.1f} {rss:14.0f} {t_maxes[(algo, n)]:>5s}", flush=True)

    def med(key, i):
        return float(np.median([row[i] for row in runs[key]]))

    if args.rounds > 1:
        print(f"\nmedians over {args.rounds} rounds\n{header}")
        for (what, n) in runs:
            k = (what, n)
            rest = "" if what == "env only" else f" {med(k, 2):10.1f} {med(k, 3):14.0f} {t_maxes[k]:>5s}"
            print(f"{n:>2} {what:16s} {med(k, 0):9,.0f} {med(k, 0) * fps:9,.0f} {med(k, 1):9.2f}{rest}")
    if len(args.workers) > 1:
        lo, hi = min(args.workers), max(args.workers)
        # the ratio within each round, then the median: both rates saw the same machine
        scaling = {algo: float(np.median([b[0] / a[0] for a, b in zip(runs[(algo, lo)], runs[(algo, hi)])]))
                   for algo in ["env only"] + args.algos}
        print("\nscaling " + ", ".join(f"{what} {x:.2f}x" for what, x in scaling.items())
              + f" ({hi} workers vs {lo}{', median of the rounds' if args.rounds > 1 else ''})")
    if "a3c" in args.algos:
        n = max(args.workers)
        print(f"vs A3C at N={n}: " + ", ".join(
            f"{algo} {float(np.median([x[0] / y[0] for x, y in zip(runs[(algo, n)], runs[('a3c', n)])])):.2f}"
            for algo in args.algos))
    return 0


if __name__ == "__main__":
    sys.exit(main())
