"""Run a training command and stop it with SIGTERM once its run folder has reached a
number of frames (or agent steps), a mean-100 score, or a training time, whichever
comes first, keeping the learning-rate schedule of the command's own ``--steps``.

Equal-frame A/B runs need this: ``--steps`` also sets how fast the learning rate
anneals to 0, so cutting a run short with a smaller ``--steps`` would change the
very thing being compared.  SIGTERM makes ``refasync.train`` save its checkpoint,
logs and summary, as at any other stop.

    python tools/run_until.py --frames 12e6 -- \\
        python -m refasync.train --algo a3c --env ALE/Pong-v5 --out runs/ab-base --no-progress

    python tools/run_until.py --mean100 18 --minutes 60 -- \\
        python -m refasync.train --algo a3c --env ALE/Pong-v5 --seed 1 --out runs/pong-s1 --no-progress

``--mean100``: progress.csv's mean return of the last 100 episodes, once 100
have ended (before that the column averages fewer); ``--minutes``: the run's own training clock
(progress.csv's ``wall_s``, which a resumed run carries on).  The run folder is
read from the command's ``--out`` (or ``--resume``).  Exit status: the command's;
0 when this tool stopped it.
"""
from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time


def last_row(path):
    """The last complete row of a CSV file as a dict, or None."""
    try:
        with open(path, "rb") as f:
            header = f.readline().decode().strip().split(",")
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 4096))
            lines = f.read().decode(errors="replace").splitlines()
    except OSError:
        return None
    for line in reversed(lines[1:] if len(lines) > 1 else []):
        fields = line.split(",")
        if len(fields) == len(header) and fields[0] != header[0]:
            return dict(zip(header, fields))
    return None


def reached_limit(cell, limit):
    """True when a progress.csv cell holds a number >= limit (blank or nan: False)."""
    try:
        return float(cell) >= limit
    except (TypeError, ValueError):
        return False


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    g = p.add_mutually_exclusive_group()
    g.add_argument("--frames", type=float, help="stop at this many frames")
    g.add_argument("--steps", type=float, help="stop at this many agent steps T")
    p.add_argument("--mean100", type=float, help="stop once the mean return of the last 100 "
                                                 "episodes is at least this")
    p.add_argument("--minutes", type=float, help="stop after this many minutes of training")
    p.add_argument("--poll", type=float, default=2.0, help="seconds between looks at progress.csv")
    p.add_argument("command", nargs=argparse.REMAINDER, help="-- then the training command")
    args = p.parse_args(argv)
    if all(v is None for v in (args.frames, args.steps, args.mean100, args.minutes)):
        p.error("give at least one of --frames, --steps, --mean100, --minutes")
    cmd = args.command[1:] if args.command[:1] == ["--"] else args.command
    run_dir = None
    for i, arg in enumerate(cmd):
        for flag in ("--out", "--resume"):
            if arg == flag and i + 1 < len(cmd):
                run_dir = cmd[i + 1]
            elif arg.startswith(flag + "="):
                run_dir = arg.split("=", 1)[1]
    if run_dir is None:
        p.error("the training command needs --out RUN_DIR (or --resume RUN_DIR)")
    progress = os.path.join(run_dir, "progress.csv")
    # (progress.csv column, limit, how it is printed, episodes that must have ended first)
    limits = [(c, x, name, episodes) for c, x, name, episodes in (
              ("frames", args.frames, "frames", 0), ("T", args.steps, "T", 0),
              ("mean_return_100", args.mean100, "mean-100", 100),
              ("wall_s", None if args.minutes is None else 60 * args.minutes, "training s", 0))
              if x is not None]

    proc = subprocess.Popen(cmd)
    # a SIGTERM to run_until itself (kill, a session's end) goes on to the run, which saves
    # everything and exits; without this the run would go on training, orphaned
    signal.signal(signal.SIGTERM, lambda signum, frame: proc.send_signal(signal.SIGTERM))
    stopped = False
    try:
        while proc.poll() is None:
            time.sleep(args.poll)
            row = last_row(progress)
            reached = [] if stopped or row is None else [
                f"{name} = {row[c]} >= {x:.15g}" for c, x, name, episodes in limits
                if reached_limit(row.get(c), x) and reached_limit(row.get("episodes"), episodes)]
            if reached:
                print(f"run_until: {reached[0]}: SIGTERM", flush=True)
                proc.send_signal(signal.SIGTERM)
                stopped = True
    except KeyboardInterrupt:
        proc.send_signal(signal.SIGTERM)
    rc = proc.wait()
    # a run stopped on purpose exits 143; killed by the signal before its handler was set, -15
    return 0 if stopped and rc in (143, -signal.SIGTERM) else (128 - rc if rc < 0 else rc)


if __name__ == "__main__":
    sys.exit(main())
