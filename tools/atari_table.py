"""Generate docs/results/atari.md and atari.png from the committed Atari records.

    python tools/atari_table.py                      # reads docs/results/*/, writes both
    python tools/atari_table.py --results DIR --out-md X.md --out-png X.png

Every run folder under ``--results`` whose config.json names an ``ALE/*`` game is a
record: game x method -> seed, frames, wall time, mean-100 at 10M / 40M / 80M frames,
best mean-100 (full windows of 100 episodes only, as the recorder's), and the
evaluation of ``evaluation.json`` (``python -m refasync.evaluate RUN``) for each
policy it holds.  The public anchors sit in their own columns with their sources.
The figure follows the paper's Figure 1: one panel per game, the mean-100 of
training against frames, one line per record.  Nothing in atari.md is typed by
hand: edit the records or ANCHORS here and run the command again.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from typing import NamedTuple, Optional

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from refasync.errors import PlotError  # noqa: E402
from refasync.plot import load_run, mean_last_k, si_axis, value_at  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# The paper's Figure 1 games, in its order.
GAMES = ("BeamRider", "Breakout", "Pong", "Qbert", "SpaceInvaders")
NAMES = {"BeamRider": "Beam Rider", "Breakout": "Breakout", "Pong": "Pong", "Qbert": "Q*bert",
         "SpaceInvaders": "Space Invaders"}
METHODS = ("a3c", "n-step-q", "one-step-q", "one-step-sarsa")
METHOD_NAMES = {"a3c": "A3C", "n-step-q": "n-step Q", "one-step-q": "one-step Q", "one-step-sarsa": "one-step Sarsa"}
COLORS = {"a3c": "tab:red", "n-step-q": "tab:blue", "one-step-q": "tab:green", "one-step-sarsa": "tab:orange"}
AT_FRAMES = (10e6, 40e6, 80e6)


def muupan_curve(means):
    """muupan/async-rl's scores.txt: the mean of 10 test runs after every 1M steps of the global counter,
    1 step = 4 frames -> ((4M, means[0]), (8M, means[1]), ...)."""
    return tuple((4e6 * k, v) for k, v in enumerate(means, start=1))


# muupan/async-rl A3C FF on Breakout, 36 processes, life loss terminal (trained_model/breakout_ff/scores.txt,
# commit 24744f1), up to 20M steps = 80M frames.
MUUPAN_BREAKOUT = muupan_curve(
    (1.2, 1.5, 2.1, 1.6, 2.0, 1.8, 2.5, 3.5, 5.5, 13.0, 18.9, 24.5, 73.6, 107.2, 95.8, 251.2, 232.0, 246.4,
     362.7, 377.1))

# muupan/async-rl A3C LSTM on Space Invaders, trained "in the same manner" as the FF run above (its README):
# trained_model/space_invaders_lstm/scores.txt (commit 24744f1), the same counting, up to 20M steps = 80M frames.
MUUPAN_SPACE_INVADERS_LSTM = muupan_curve(
    (150.5, 218.5, 203.0, 187.0, 259.0, 318.0, 351.0, 333.5, 311.0, 379.0, 490.5, 448.5, 367.0, 386.0, 555.0,
     402.5, 433.5, 572.5, 504.0, 603.0))


class Curve(NamedTuple):
    """A published learning curve: its label in the table, in the figure's legend, ((frames, score), ...)."""
    label: str
    legend: str
    points: tuple


class Anchor(NamedTuple):
    """One game's public figures. fig3_40m: the paper's Figure 3 (data efficiency, A3C with 16 threads) at
    10M agent steps = 40M frames, as read off the figure by ray-project/rl-experiments (README, "Mnih et al
    A3C 40M 16-threads"): approximate, and not for Pong."""
    random: float
    paper: float
    pfrl: float
    fig3_40m: Optional[float] = None
    curve: Optional[Curve] = None


ANCHORS = {
    "BeamRider": Anchor(363.9, 13235.9, 8882.6, fig3_40m=3000.0),
    "Breakout": Anchor(1.7, 551.6, 581.0, fig3_40m=150.0, curve=Curve(
        "muupan/async-rl A3C FF, 36 processes, life loss terminal, mean of 10 sampled test runs",
        "muupan A3C FF, 36 processes (test runs)", MUUPAN_BREAKOUT)),
    "Pong": Anchor(-20.7, 11.4, 20.9),
    "Qbert": Anchor(163.9, 13752.3, 20721.9, fig3_40m=1000.0),
    "SpaceInvaders": Anchor(148.0, 2214.7, 1043.5, fig3_40m=600.0, curve=Curve(
        "muupan/async-rl A3C LSTM (not FF), 36 processes, mean of 10 sampled test runs",
        "muupan A3C LSTM, 36 processes (test runs)", MUUPAN_SPACE_INVADERS_LSTM)),
}
SOURCES = [
    "A3C FF 1 day: Mnih et al. 2016, supplementary table of human-start scores (16 threads); the same "
    "numbers in seungjaeryanlee/rldb `rldb/db/paper__a3c/algo__a3c_ff_1_day`. Random: the random agent "
    "with NO-OP starts (up to 30), Mnih et al. 2015 (DQN, Nature), as issue 16 quotes them and rldb has "
    "them (`rldb/db/paper__dqn/algo__random`): the start protocol of our evaluation, not the paper's "
    "human starts, whose random agent (Nair et al. 2015) scores 254.6 / 1.6 / -18.0 / 183.0 / 182.6 on "
    "these five games.",
    "pfrl A3C: pfnet/pfrl `examples/atari/reproduction/a3c/README.md` (16 processes, 80M steps = 320M "
    "frames, lr annealed to 0, life loss terminal in training, 1-30 no-op starts, evaluation SAMPLES from "
    "pi, the highest mean of the intermediate evaluations, 3 seeds).",
    "Paper, Figure 3 at 40M frames: A3C with 16 threads, read off the figure (about, ~) by "
    "ray-project/rl-experiments, README, table 'IMPALA and A2C' (column 'Mnih et al A3C 40M 16-threads').",
    "muupan/async-rl: its README and `trained_model/breakout_ff/scores.txt` (FF, 36 processes), "
    "`trained_model/space_invaders_lstm/scores.txt` (LSTM, trained 'in the same manner'); a test run every 1M "
    "steps of the global counter, read as 4 frames per step as for Breakout.",
]


def game_of(env_id):
    """'ALE/Breakout-v5' -> 'Breakout'."""
    return env_id.split("/", 1)[1].rsplit("-v", 1)[0]


def load_record(path):
    """One Atari record: its config, the episode curve and what summary/evaluation hold."""
    config, data = load_run(path)
    rec = {"path": path, "config": config, "game": game_of(config["env"]), "algo": config["algo"],
           "seed": config.get("seed"), "frames_x": data[:, 1], "m": mean_last_k(data[:, 2])}
    for name in ("summary", "evaluation"):
        try:
            with open(os.path.join(path, f"{name}.json")) as f:
                rec[name] = json.load(f)
        except (OSError, ValueError):
            rec[name] = None
    return rec


def find_records(results):
    recs = []
    for name in sorted(os.listdir(results)):
        path = os.path.join(results, name)
        try:
            with open(os.path.join(path, "config.json")) as f:
                env = json.load(f).get("env", "")
        except (OSError, ValueError):
            continue
        if env.startswith("ALE/"):
            recs.append(load_record(path))
    return recs


def fmt(v, digits=1):
    return "–" if v is None else f"{v:,.{digits}f}"


def evaluation_cell(ev):
    """'sampled 412.3 ± 80.1 (30)' per policy entry, the sampled one first (pfrl's policy)."""
    if not ev:
        return "not evaluated"
    cells = []
    for key in sorted(ev, key=lambda k: (not k.startswith("sampled"), k)):
        e = ev[key]
        p = e.get("protocol", {})
        cells.append(f"{key} {fmt(e['mean'])} ± {fmt(e['std'])} ({p.get('episodes', len(e.get('scores', [])))})")
    return "<br>".join(cells)


def row(rec):
    x, m = rec["frames_x"], rec["m"]
    s = rec["summary"] or {}
    full = m[99:] if len(m) >= 100 else np.array([])
    frames = s.get("frames", x[-1] if len(x) else 0)       # the run's frames, not its last episode end's
    at = [value_at(x, m, f) if len(m) and frames >= f else None for f in AT_FRAMES]
    wall = s.get("wall_s")
    return [NAMES.get(rec["game"], rec["game"]), METHOD_NAMES.get(rec["algo"], rec["algo"]), str(rec["seed"]),
            f"{frames / 1e6:.1f}M", "–" if wall is None else f"{wall / 60:.0f} min",
            *[fmt(v) for v in at], fmt(full.max() if len(full) else None), evaluation_cell(rec["evaluation"]),
            f"[{os.path.basename(rec['path'])}]({os.path.basename(rec['path'])}/)"]


def curve_cell(curve):
    """'label: a / b / c' with the curve's last point at or before each of AT_FRAMES."""
    if curve is None:
        return "–"
    at = [next((v for f, v in reversed(curve.points) if f <= F), None) for F in AT_FRAMES]
    return f"{curve.label}: " + " / ".join(fmt(v) for v in at)


def markdown(recs, command):
    order = {g: i for i, g in enumerate(GAMES)}
    recs = sorted(recs, key=lambda r: (order.get(r["game"], 99), r["game"], METHODS.index(r["algo"])
                                       if r["algo"] in METHODS else 9, r["seed"] or 0))
    head = ["game", "method", "seed", "frames", "wall", "mean-100 at 10M", "at 40M", "at 80M", "best mean-100",
            "evaluation: mean ± std (episodes)", "record"]
    out = ["# Atari results", "",
           f"Generated by `{command}` from the records in this folder; do not edit by hand.", "",
           "Training columns: the mean raw score of the last 100 training episodes at the last episode that "
           "ended at or before the given frames (– where the run did not get that far); best: the highest "
           "mean of a full window of 100. "
           "Wall time: on the run's machine, 2 cores unless its folder name says otherwise; machines differ in "
           "speed, and a record's `ceiling.json`, where it has one, gives its machine's env-only rate. "
           "Evaluation: `python -m refasync.evaluate RUN` on the final parameters, 1-30 no-op starts, "
           "episodes cut at 108,000 frames; `sampled` draws a ~ pi for A3C (the policy pfrl's reproduction "
           "evaluates with, so that entry compares with the pfrl anchor) and is epsilon-greedy with epsilon "
           "0.05 for the Q methods; `greedy` takes argmax pi or argmax Q.", "",
           "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    out += ["| " + " | ".join(row(r)) + " |" for r in recs]
    out += ["", "## Anchors", "",
            "| game | random (no-op starts) | paper A3C FF, 1 day (human starts) "
            "| pfrl A3C (no-op starts, best intermediate) | paper Fig. 3, A3C 16 threads, at 40M frames (read off) "
            "| a known curve: its last point at or before 10M / 40M / 80M frames |", "|---|---|---|---|---|---|"]
    for g in GAMES:
        a = ANCHORS[g]
        fig3 = "–" if a.fig3_40m is None else "~" + fmt(a.fig3_40m, 0)
        out.append(f"| {NAMES[g]} | {fmt(a.random)} | {fmt(a.paper)} | {fmt(a.pfrl)} | {fig3} "
                   f"| {curve_cell(a.curve)} |")
    out += ["", "Sources:", ""] + [f"- {s}" for s in SOURCES]
    out += ["", "The anchors are not all on our protocol: the paper's 1-day scores are from human starts with "
            "final weights, pfrl's are the best of many intermediate evaluations after 320M frames; ours are the final "
            "weights after the frames in the table.", ""]
    return "\n".join(out)


def figure(recs, out_png):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, len(GAMES), figsize=(3.2 * len(GAMES), 4.4))
    styles = ["-", "--", ":", "-."]
    x_max = max([80e6] + [r["frames_x"][-1] for r in recs if len(r["frames_x"])])
    for ax, g in zip(axes, GAMES):
        a = ANCHORS[g]
        ax.axhline(a.random, color="grey", lw=0.8, ls="--", label="random")
        ax.axhline(a.pfrl, color="black", lw=0.8, ls=":", label="pfrl A3C (320M frames, best eval)")
        if a.fig3_40m is not None:
            ax.plot([40e6], [a.fig3_40m], "k*", ms=9, label="paper Fig. 3, A3C 16 threads (read off, ~)")
        if a.curve is not None:
            f, v = np.array(a.curve.points).T
            ax.plot(f, v, "k^-", ms=3, lw=0.8, label=a.curve.legend)
        for r in (r for r in recs if r["game"] == g):
            seeds = sorted({q["seed"] or 0 for q in recs if q["game"] == g and q["algo"] == r["algo"]})
            ax.plot(r["frames_x"], r["m"], color=COLORS.get(r["algo"], "k"),
                    ls=styles[seeds.index(r["seed"] or 0) % len(styles)], lw=1.3,
                    label=f"{METHOD_NAMES.get(r['algo'], r['algo'])} seed {r['seed']}")
        ax.set_title(NAMES[g])
        ax.set_xlim(0, x_max * 1.02)
        ax.set_xlabel("frames")
        si_axis(ax)
        ax.grid(alpha=0.3)
        if not any(r["game"] == g for r in recs):
            ax.text(0.5, 0.8, "not run yet", transform=ax.transAxes, ha="center", color="grey")
        ax.legend(fontsize=6, loc="upper center", bbox_to_anchor=(0.5, -0.2))   # under the panel: no curve hidden
    axes[0].set_ylabel("mean-100 training score")
    fig.tight_layout()
    fig.savefig(out_png, dpi=100)
    plt.close(fig)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--results", default=os.path.join(ROOT, "docs", "results"))
    p.add_argument("--out-md", default=None, help="default RESULTS/atari.md")
    p.add_argument("--out-png", default=None, help="default RESULTS/atari.png")
    args = p.parse_args(argv)
    try:
        recs = find_records(args.results)
    except (OSError, PlotError) as e:
        print(f"atari_table: error: {e}", file=sys.stderr)
        return 2
    out_md = args.out_md or os.path.join(args.results, "atari.md")
    out_png = args.out_png or os.path.join(args.results, "atari.png")
    with open(out_md, "w") as f:
        f.write(markdown(recs, "python tools/atari_table.py"))
    figure(recs, out_png)
    print(f"{len(recs)} Atari records; wrote {out_md} and {out_png}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
