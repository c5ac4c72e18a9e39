"""Run the four default CartPole commands for several seeds and print the README's
results table (markdown).

    python tools/cartpole_table.py [--seeds 0 1 2] [--workers 2] [--out runs/table]

For each run: the agent steps T and wall seconds at which the mean return of the
last 100 episodes first reached 475, the best such mean, and the greedy evaluation
that ``refasync.train`` prints at the end.
"""
import argparse
import csv
import os
import re
import subprocess
import sys
import time

ALGOS = ["q", "sarsa", "nq", "a3c"]


def first_solved(episodes_csv, threshold=475.0):
    """(T, wall_s) when the mean of the last 100 returns first reached threshold, and the best mean."""
    with open(episodes_csv) as f:
        rows = list(csv.DictReader(f))
    window, best, hit = [], float("-inf"), None
    for row in rows:
        window.append(float(row["return"]))
        window = window[-100:]
        if len(window) == 100:
            mean = sum(window) / 100
            best = max(best, mean)
            if hit is None and mean >= threshold:
                hit = (int(row["T"]), float(row["wall_s"]))
    return hit, best


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--out", default=os.path.join("runs", "table"))
    args = ap.parse_args()
    print("| algorithm | seed | T at mean-100 >= 475 | wall s then | best mean-100 | greedy eval (20 ep.) "
          "| total wall s |")
    print("|---|---|---|---|---|---|---|")
    for algo in ALGOS:
        for seed in args.seeds:
            out = os.path.join(args.out, f"{algo}-seed{seed}")
            cmd = [sys.executable, "-m", "refasync.train", "--algo", algo, "--seed", str(seed),
                   "--workers", str(args.workers), "--out", out, "--no-progress"]
            t0 = time.monotonic()
            r = subprocess.run(cmd, capture_output=True, text=True)
            wall = time.monotonic() - t0
            if r.returncode != 0:
                print(f"| {algo} | {seed} | failed: {r.stderr.strip().splitlines()[-1:]} |||||", flush=True)
                continue
            hit, best = first_solved(os.path.join(out, "episodes.csv"))
            m = re.search(r"evaluation, greedy[^:]*: ([-\d.]+) \+- ([\d.]+)", r.stdout)
            greedy = f"{m.group(1)} ± {m.group(2)}" if m else "?"
            at = f"{hit[0]:,}" if hit else "not reached"
            then = f"{hit[1]:.0f}" if hit else "–"
            print(f"| {algo} | {seed} | {at} | {then} | {best:.1f} | {greedy} | {wall:.0f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
