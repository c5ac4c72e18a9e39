"""python -m refasync.plot: overlay the learning curves of several run folders.

    python -m refasync.plot runs/a runs/b runs/c --out compare.png
    python -m refasync.plot runs/pong-* --at 12e6 --reach -15 18

Each curve is the mean return of the last 100 episodes (fewer at the start), the
``mean_return_100`` of progress.csv, recomputed after every episode of
``episodes.csv``.  The x axis is frames when any run is on Atari (one agent step
= 4 frames there), agent steps T otherwise.  Each curve is labelled by the
configuration fields that differ between the runs (``workers=16``, ``t_max=20``),
or by its folder name when they all agree.  A table is printed too: episodes,
frames, the last and best mean-100, with ``--at X`` the mean-100 at X frames
(or steps), and with ``--reach A B`` the frames at which mean-100 first reached A and B
(counting full windows of 100 episodes only).

Exit codes: 0 written, 2 bad input (one line on stderr).
"""
from __future__ import annotations

import json
import os
import sys

import numpy as np

from .cli import OneLineParser
from .errors import PlotError



def mean_last_k(returns, k=100):
    """m_j = mean(returns[max(0, j-k+1) : j+1]) for every episode j: the running mean-k
    that the recorder logs as mean_return_100 (fewer than k episodes at the start)."""
    y = np.asarray(returns, dtype=np.float64)
    c = np.concatenate([[0.0], np.cumsum(y)])
    j = np.arange(1, len(y) + 1)
    lo = np.maximum(0, j - k)
    return (c[j] - c[lo]) / (j - lo)


def first_reach(x, m, level, start=0):
    """The first x[j] with j >= start at which m[j] >= level, or None.  With
    ``start = k - 1`` only full windows of k episodes count, as for the recorder's
    best mean-100."""
    hit = np.nonzero(np.asarray(m[start:]) >= level)[0]
    return float(x[start + hit[0]]) if len(hit) else None


def value_at(x, m, at):
    """m at the last episode that ended at or before x = at, or None if none had."""
    i = np.searchsorted(x, at, side="right") - 1
    return float(m[i]) if i >= 0 else None


def si_axis(ax):
    """Tick labels on the x axis as 500k, 12M instead of 1e7 offsets."""
    from matplotlib.ticker import EngFormatter
    ax.xaxis.set_major_formatter(EngFormatter(sep=""))


def load_run(path):
    """(config dict, episodes array with the columns T, frames, return)."""
    if not os.path.isdir(path):
        raise PlotError(f"{path}: not a run folder")
    try:
        with open(os.path.join(path, "config.json")) as f:
            config = json.load(f)
    except (OSError, ValueError) as e:
        raise PlotError(f"{path}: no readable config.json ({getattr(e, 'strerror', None) or e})") from None
    try:
        with open(os.path.join(path, "episodes.csv")) as f:
            header = f.readline().strip().split(",")
            rows = [line.split(",") for line in f if line.strip()]
    except OSError as e:
        raise PlotError(f"{path}: no readable episodes.csv ({e.strerror})") from None
    need = ["T", "frames", "return"]
    if not all(c in header for c in need):
        raise PlotError(f"{path}: episodes.csv lacks the columns {', '.join(need)}")
    try:   # the last line may be cut short by a crash: keep the complete rows
        data = np.array([[float(r[header.index(c)]) for c in need] for r in rows if len(r) == len(header)])
    except ValueError:
        raise PlotError(f"{path}: episodes.csv has a row that is not numbers") from None
    return config, data.reshape(-1, 3)


def differing_settings(configs):
    """The settings whose values are not the same in every config, in a stable order.
    A setting some configs lack (written by an older refasync) is not compared."""
    from .config import compared_settings     # not bookkeeping, run options or the command lines
    keys = sorted(set.intersection(*(set(c) for c in configs)) & set(compared_settings()))
    return [k for k in keys if len({json.dumps(c.get(k), sort_keys=True) for c in configs}) > 1]


def labels_for(paths, configs):
    keys = differing_settings(configs)
    if not keys:
        return [os.path.basename(os.path.normpath(p)) for p in paths]

    def fmt(v):
        return ",".join(map(str, v)) if isinstance(v, list) else str(v)
    labels = [", ".join(f"{k}={fmt(c.get(k))}" for k in keys) for c in configs]
    if len(set(labels)) < len(labels):     # same settings: tell them apart by folder
        labels = [f"{lab} ({os.path.basename(os.path.normpath(p))})" for lab, p in zip(labels, paths)]
    return labels


def build_parser():
    p = OneLineParser(prog="python -m refasync.plot",
               description="Overlay the mean-100 learning curves of run folders.")
    p.add_argument("runs", nargs="+", metavar="RUN", help="run folders written by refasync.train")
    p.add_argument("--out", default="compare.png", help="the PNG to write (default compare.png)")
    p.add_argument("--title", default=None)
    p.add_argument("--window", type=int, default=100, help="episodes in the running mean (default 100)")
    p.add_argument("--at", type=float, default=None,
                   help="also print each run's mean-100 at this many frames (agent steps off Atari)")
    p.add_argument("--reach", nargs="+", type=float, default=[], metavar="LEVEL",
                   help="print the frames at which mean-100 first reached each level, e.g. --reach -15 18")
    p.add_argument("--until", type=float, default=None, metavar="X",
                   help="use only the episodes that ended by this many frames (agent steps off Atari): "
                        "equal-frame comparisons of runs of different lengths")
    p.add_argument("--raw", action="store_true", help="also draw every episode's return, faintly")
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    prog = "python -m refasync.plot"
    try:
        if args.window < 1:
            raise PlotError(f"--window must be a positive integer, got {args.window}")
        levels = args.reach
        runs = [load_run(p) for p in args.runs]
        try:
            import matplotlib
            matplotlib.use("Agg")
            import matplotlib.pyplot as plt
        except ImportError:
            raise PlotError("matplotlib is needed: pip install matplotlib") from None
    except PlotError as e:
        print(f"{prog}: error: {e}", file=sys.stderr)
        return 2

    configs = [c for c, _ in runs]
    atari = any(c.get("frames_per_step", 1) > 1 for c in configs)
    unit = "frames" if atari else "agent steps T"
    labels = labels_for(args.runs, configs)

    fig, ax = plt.subplots(figsize=(8, 4.5))
    rows = []
    for label, (config, data) in zip(labels, runs):
        if args.until is not None:
            data = data[(data[:, 1] if atari else data[:, 0]) <= args.until]
        x = data[:, 1] if atari else data[:, 0]
        m = mean_last_k(data[:, 2], args.window)
        line, = ax.plot(x, m, lw=1.8, label=label)
        if args.raw:
            ax.plot(x, data[:, 2], ".", ms=1.5, alpha=0.25, color=line.get_color())
        row = [label, str(len(m)), f"{x[-1]:,.0f}" if len(x) else "0",
               f"{m[-1]:.2f}" if len(m) else "-", f"{m[min(args.window, len(m)) - 1:].max():.2f}" if len(m) else "-"]
        if args.at is not None:
            v = value_at(x, m, args.at) if len(m) else None
            row.append("-" if v is None else f"{v:.2f}")
        for level in levels:
            r = first_reach(x, m, level, start=args.window - 1) if len(m) else None
            row.append("not reached" if r is None else f"{r:,.0f}")
        rows.append(row)
    ax.set_xlabel(unit)
    si_axis(ax)
    ax.set_ylabel(f"mean return of the last {args.window} episodes")
    ax.set_title(args.title or " vs ".join(sorted({c.get('algo', '?') + ' on ' + c.get('env', '?')
                                                    for c in configs})))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    try:
        fig.savefig(args.out, dpi=110)
    except OSError as e:
        print(f"{prog}: error: cannot write {args.out}: {e.strerror}", file=sys.stderr)
        return 2
    finally:
        plt.close(fig)

    head = ["run", "episodes", unit.split()[-1] if not atari else "frames", f"last mean-{args.window}",
            f"best mean-{args.window}"]
    if args.at is not None:
        head.append(f"mean-{args.window} at {args.at:,.0f}")
    head += [f"{unit.split()[0] if atari else 'T'} to >= {level:g}" for level in levels]
    widths = [max(len(str(r[i])) for r in [head] + rows) for i in range(len(head))]
    for r in [head] + rows:
        print("  ".join(str(v).ljust(w) if i == 0 else str(v).rjust(w) for i, (v, w) in enumerate(zip(r, widths))))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
