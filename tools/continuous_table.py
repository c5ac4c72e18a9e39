"""The README's continuous-action results, recomputed from committed records.

    python tools/continuous_table.py --run      # train the six default runs (about 6 min on an
                                                # idle 2-core machine), copy their records
    python tools/continuous_table.py --run-halfcheetah   # the 30-minute HalfCheetah run
    python tools/continuous_table.py            # print the tables and redraw the curves

``--run`` trains ``python -m refasync.train --algo a3c --env ENV --seed S`` for
Pendulum-v1 and InvertedPendulum-v5 (the MuJoCo extra), seeds 0-2, one at a time,
into ``runs/cont/``, and copies each run's small record (config.json, episodes.csv,
progress.csv, summary.json) to ``docs/results/continuous/<run>/``.  The table is
read from those records only: the first time mean-100 reached the target (wall
seconds and agent steps), the time from which it stayed there, the end of the
run, and the greedy evaluation ``refasync.train`` ran at the end.  Wall times are
the run's own; they mean something only for runs made on an otherwise idle machine.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import subprocess
import sys

import numpy as np

from refasync.plot import first_reach, mean_last_k

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS = os.path.join(ROOT, "docs", "results", "continuous")
RECORD = ("config.json", "episodes.csv", "progress.csv", "summary.json")
HALFCHEETAH = ["--algo", "a3c", "--env", "HalfCheetah-v5", "--seed", "0", "--steps", "50000000", "--beta", "1e-5"]
GAMES = {  # run name prefix: (environment, target mean-100, the curves' picture)
    "pendulum": ("Pendulum-v1", -250.0, "pendulum.png"),
    "invpend": ("InvertedPendulum-v5", 950.0, "invertedpendulum.png"),
}


def mean_100_track(episodes_csv):
    """(T, wall_s, mean of the last 100 returns) at every episode that completes a full
    window of 100 (``refasync.plot.mean_last_k``), as arrays."""
    with open(episodes_csv) as f:
        rows = list(csv.DictReader(f))
    T, wall, ret = (np.array([float(r[k]) for r in rows]) for k in ("T", "wall_s", "return"))
    return T[99:], wall[99:], mean_last_k(ret, 100)[99:]


def reached(track, target):
    """(first (T, wall) at or above target or None, wall from which it never fell below again)."""
    T, wall, m = track
    first = first_reach(T, m, target)
    below = np.nonzero(m < target)[0]
    after = below[-1] + 1 if len(below) else 0               # the first episode of the last run above
    stays = wall[after] if after < len(m) else None
    return (None if first is None else (first, first_reach(wall, m, target))), stays


def row(name, target):
    folder = os.path.join(RESULTS, name)
    with open(os.path.join(folder, "summary.json")) as f:
        summary = json.load(f)
    track = mean_100_track(os.path.join(folder, "episodes.csv"))
    first, stays = reached(track, target)
    T_end, w_end, m_end = (x[-1] for x in track)
    first_s = f"{first[1]:.0f} s ({first[0] / 1e6:.2f}M steps)" if first else "not reached"
    stays_s = f"{stays:.0f} s" if stays is not None else "—"
    evaluation = (f"{summary['greedy_eval_mean']:.0f} ± {summary['greedy_eval_std']:.0f}"
                  if "greedy_eval_mean" in summary else "—")
    return (f"{m_end:.0f} at {w_end:.0f} s ({T_end / 1e6:.1f}M steps)", first_s, stays_s, evaluation,
            summary.get("steps_per_s"))


def train(name, args):
    """Train into runs/cont/<name> and copy the record to docs/results/continuous/<name>/."""
    out = os.path.join(ROOT, "runs", "cont", name)
    if os.path.exists(out):
        shutil.rmtree(out)
    cmd = [sys.executable, "-m", "refasync.train", *args, "--out", out, "--no-progress"]
    print(" ".join(cmd[1:]), flush=True)
    subprocess.run(cmd, check=True, cwd=ROOT)
    os.makedirs(os.path.join(RESULTS, name), exist_ok=True)
    for f in RECORD:
        shutil.copy(os.path.join(out, f), os.path.join(RESULTS, name, f))


def run_all(seeds):
    for prefix, (env, _, _) in GAMES.items():
        for seed in seeds:
            train(f"{prefix}-s{seed}", ["--algo", "a3c", "--env", env, "--seed", str(seed)])


def halfcheetah_table(folder):
    """mean-100 at whole minutes of the HalfCheetah run, from its progress.csv."""
    with open(os.path.join(folder, "progress.csv")) as f:
        rows = [r for r in csv.DictReader(f) if r["mean_return_100"] not in ("", "nan")]
    with open(os.path.join(folder, "summary.json")) as f:
        summary = json.load(f)
    marks = [1, 5, 10, 15, 20, 25]
    cells = []
    for m in marks:
        near = min(rows, key=lambda r: abs(float(r["wall_s"]) - 60 * m))
        cells.append(f"{float(near['mean_return_100']):,.0f}")
    print("\n| wall time | " + " | ".join(f"{m} min" for m in marks)
          + f" | end, {summary['wall_s'] / 60:.1f} min ({summary['T'] / 1e6:.0f}M steps) |")
    print("|---|" + "---|" * (len(marks) + 1))
    print("| mean-100 | " + " | ".join(cells) + f" | **{summary['mean_return_100']:,.0f}** (best "
          f"{summary['best_mean_return_100']:,.0f}) |")
    if "greedy_eval_mean" in summary:
        print(f"\ngreedy mu over {summary['greedy_eval_episodes']} episodes: {summary['greedy_eval_mean']:,.0f} "
              f"+- {summary['greedy_eval_std']:,.0f}; {summary['steps_per_s']:,.0f} agent steps/s")
    first = reached(mean_100_track(os.path.join(folder, "episodes.csv")), 1000)[0]
    if first:
        print(f"mean-100 first >= 1,000 after {first[0] / 1e6:.2f}M steps ({first[1]:.0f} s)")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", action="store_true", help="train the runs first (replaces their records)")
    ap.add_argument("--run-halfcheetah", action="store_true", help="train the HalfCheetah run first (30 min)")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = ap.parse_args()
    if args.run:
        run_all(args.seeds)
    if args.run_halfcheetah:
        train("halfcheetah-s0", HALFCHEETAH)
    print("| command | seed | mean-100 first ≥ target | stays ≥ target from | end of run | greedy μ, 20 episodes |")
    print("|---|---|---|---|---|---|")
    rates = {}
    for prefix, (env, target, picture) in GAMES.items():
        names = sorted(n for n in os.listdir(RESULTS) if n.startswith(prefix + "-s"))
        for i, name in enumerate(names):
            end, first, stays, evaluation, rate = row(name, target)
            rates.setdefault(env, []).append(rate)
            command = (f"`python -m refasync.train --algo a3c --env {env} --seed S` (target {target:g})"
                       if i == 0 else "")
            print(f"| {command} | {name.split('-s')[-1]} | {first} | {stays} | {end} | {evaluation} |")
        folders = [os.path.join(RESULTS, n) for n in names]
        if folders:
            subprocess.run([sys.executable, "-m", "refasync.plot", *folders, "--raw", "--title",
                            f"A3C on {env}, seeds {names[0].split('-s')[-1]}-{names[-1].split('-s')[-1]}",
                            "--out", os.path.join(RESULTS, picture)], check=True, cwd=ROOT,
                           stdout=subprocess.DEVNULL)
    for env, r in rates.items():
        print(f"\n{env}: {sum(r) / len(r):,.0f} agent steps/s on average")
    folder = os.path.join(RESULTS, "halfcheetah-s0")
    if os.path.isdir(folder):
        halfcheetah_table(folder)
        subprocess.run([sys.executable, "-m", "refasync.plot", folder, "--raw", "--title",
                        "A3C on HalfCheetah-v5, 30 minutes", "--out", os.path.join(RESULTS, "halfcheetah.png")],
                       check=True, cwd=ROOT, stdout=subprocess.DEVNULL)


if __name__ == "__main__":
    main()
