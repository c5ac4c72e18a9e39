"""The run folder: config.json, episodes.csv, progress.csv, checkpoint.npz,
learning_curve.png; and the live progress bar.  ``RunRecorder`` keeps the books and
hands episodes and progress rows to its sinks (CSV, progress bar, TensorBoard).

    episodes.csv   T, frames, worker, return, length, wall_s   (one row per episode;
                   ``return`` is the raw game score, never the clipped reward)
    progress.csv   wall_s, T, frames, steps_per_s, episodes, mean_return_100, updates,
                   loss_mean, grad_norm_mean, grad_norm_max, entropy_mean
    checkpoint.npz written and read by refasync.checkpoint: plain arrays only
    summary.json   status, T, frames, wall time, steps/s, episodes, mean-100 return,
                   start-up seconds to the first training step, each worker's peak
                   resident memory, each worker's final epsilon (Q methods), the
                   greedy evaluation if one ran
"""
from __future__ import annotations

import csv
import json
import math
import os
import time
from collections import deque
from typing import NamedTuple

import numpy as np

from .checkpoint import encode_snapshot, save_checkpoint
from .errors import NonFiniteError, RunFolderError
from .plot import mean_last_k, si_axis

class UpdateStats:
    """Running sums of what the worker generators yield per update: kept by each
    worker, sent to the parent as ``message()``, merged there with ``merge``."""

    def __init__(self):
        self.reset()

    def reset(self):
        self.n, self.loss, self.grad_norm, self.grad_norm_max, self.entropy = 0, 0.0, 0.0, 0.0, 0.0

    def add(self, y):
        self.merge((1, y["loss"], y["grad_norm"], y["grad_norm"], y.get("entropy", 0.0)))

    def merge(self, message):
        n, loss, grad_norm, grad_norm_max, entropy = message
        self.n += n
        self.loss += loss
        self.grad_norm += grad_norm
        self.grad_norm_max = max(self.grad_norm_max, grad_norm_max)
        self.entropy += entropy

    def message(self):
        return (self.n, self.loss, self.grad_norm, self.grad_norm_max, self.entropy)


class Episode(NamedTuple):
    """One finished episode, as every sink receives it."""
    T: int
    frames: int
    worker: int
    score: float              # the raw game score
    length: int
    wall_s: float


class Progress(NamedTuple):
    """One progress row, as every sink receives it (means are None without updates)."""
    wall_s: float
    T: int
    frames: int
    steps_per_s: float
    episodes: int
    mean_return_100: float
    updates: int
    loss_mean: float | None
    grad_norm_mean: float | None
    grad_norm_max: float | None
    entropy_mean: float | None
    resumes: int
    restarts: int


class CsvSink:
    """episodes.csv and progress.csv; on a resume they keep their rows up to the
    checkpoint's T and are appended to."""

    EPISODE_COLUMNS = ["T", "frames", "worker", "return", "length", "wall_s"]
    PROGRESS_COLUMNS = list(Progress._fields)

    def __init__(self, out_dir, resume_T=None):
        ep_path, pr_path = os.path.join(out_dir, "episodes.csv"), os.path.join(out_dir, "progress.csv")
        self.kept_scores = []
        if resume_T is not None:
            # an episode row holds T before the increment of its last step: T = the
            # checkpoint's T is a step taken after the checkpoint
            self.kept_scores = _keep_rows_up_to(ep_path, resume_T - 1)
            _keep_rows_up_to(pr_path, resume_T)
        mode = "a" if resume_T is not None else "w"
        self._ep_file, self._pr_file = open(ep_path, mode, newline=""), open(pr_path, mode, newline="")
        self._ep, self._pr = csv.writer(self._ep_file), csv.writer(self._pr_file)
        if resume_T is None:
            self._ep.writerow(self.EPISODE_COLUMNS)
            self._pr.writerow(self.PROGRESS_COLUMNS)

    def episode(self, e):
        self._ep.writerow([e.T, e.frames, e.worker, f"{e.score:.6g}", e.length, f"{e.wall_s:.3f}"])

    def progress(self, p):
        opt = lambda x: "" if x is None else f"{x:.6g}"  # noqa: E731
        self._pr.writerow([f"{p.wall_s:.3f}", p.T, p.frames, f"{p.steps_per_s:.1f}", p.episodes,
                           f"{p.mean_return_100:.6g}", p.updates, opt(p.loss_mean), opt(p.grad_norm_mean),
                           opt(p.grad_norm_max), opt(p.entropy_mean), p.resumes, p.restarts])
        self._pr_file.flush()
        self._ep_file.flush()

    def sync(self):
        """Both logs on disk (before a checkpoint, so that a resume finds them up to its T)."""
        for f in (self._ep_file, self._pr_file):
            f.flush()
            os.fsync(f.fileno())

    def close(self):
        for f in (self._ep_file, self._pr_file):
            if not f.closed:
                f.close()


class TensorBoardSink:
    """--tensorboard: event files in the run folder, CleanRL's tags, x = frames.  On a
    resume, events written after the checkpoint by the run that stopped are hidden."""

    def __init__(self, out_dir, algo, purge_frames=None):
        from tensorboardX import SummaryWriter
        self.algo = algo
        self.tb = SummaryWriter(logdir=out_dir, flush_secs=10, purge_step=purge_frames)

    def episode(self, e):
        self.tb.add_scalar("charts/episodic_return", e.score, e.frames)
        self.tb.add_scalar("charts/episodic_length", e.length, e.frames)

    def progress(self, p):
        x = p.frames
        self.tb.add_scalar("charts/SPS", p.steps_per_s, x)
        if p.episodes:
            self.tb.add_scalar("charts/mean_return_100", p.mean_return_100, x)
        if p.updates:
            self.tb.add_scalar("losses/loss", p.loss_mean, x)
            self.tb.add_scalar("losses/grad_norm", p.grad_norm_mean, x)
            self.tb.add_scalar("losses/grad_norm_max", p.grad_norm_max, x)
            if self.algo == "a3c":
                self.tb.add_scalar("losses/entropy", p.entropy_mean, x)

    def close(self):
        self.tb.close()


class ProgressBarSink:
    """The live progress bar on the console (tqdm)."""

    def __init__(self, total):
        from tqdm import tqdm
        self.bar = tqdm(total=total, unit="step", unit_scale=True, dynamic_ncols=True,
                        mininterval=0.5, smoothing=0.1)

    def episode(self, e):
        pass

    def progress(self, p):
        self.bar.n = p.T
        self.bar.set_postfix_str(f"{p.steps_per_s:,.0f} steps/s, {p.episodes} episodes, "
                                 f"mean100 {p.mean_return_100:.1f}", refresh=False)
        self.bar.refresh()

    def write(self, line):
        self.bar.write(line)

    def close(self):
        self.bar.close()


class RunRecorder:
    """Receives the workers' events, keeps the run's bookkeeping (episodes, mean-100,
    restarts, checkpoints, summary) and hands every episode and progress row to its
    sinks -- the CSV logs, the progress bar, TensorBoard -- through the same three
    calls: ``episode``, ``progress`` and ``close``.  A new output format is one sink."""

    EPISODE_COLUMNS = CsvSink.EPISODE_COLUMNS
    PROGRESS_COLUMNS = CsvSink.PROGRESS_COLUMNS

    def __init__(self, out_dir, cfg, frames_per_step, progress=True, command=None, resume=None):
        """``resume``: the checkpoint being continued (its T, wall_s and resumes):
        the logs keep their rows up to its T and are appended; wall time continues."""
        self.out = out_dir
        self.cfg = cfg
        self.frames_per_step = frames_per_step
        os.makedirs(out_dir, exist_ok=True)
        self.resumes = int(resume["resumes"]) + 1 if resume else 0
        self.eps_finals = None           # set by train: each worker's final epsilon
        self.snapshot = None             # set by the deterministic runner: the workers' exact state
        self.restarts = []               # {"worker", "T", "cause"} of every replaced worker
        self.t0 = time.monotonic() - (float(resume["wall_s"]) if resume else 0.0)
        self.shared = None
        self.returns = deque(maxlen=100)
        self.n_episodes = 0
        self.best_mean_100 = -math.inf
        self._stats = UpdateStats()
        self._last_tick = time.monotonic()
        self._last_T = int(resume["T"]) if resume else 0
        self._last_checkpoint = self._last_tick
        self.csv = CsvSink(out_dir, int(resume["T"]) if resume else None)
        for score in self.csv.kept_scores:
            self._count_episode(score)
        self.sinks = [self.csv]
        self.bar = ProgressBarSink(cfg.steps) if progress else None
        if self.bar is not None:
            self.sinks.append(self.bar)
        self.first_step_unix = None       # wall clock when the first worker began training
        self.worker_peak_rss_mb = {}

    # events -----------------------------------------------------------------
    def attach(self, shared):
        self.shared = shared

    def _count_episode(self, score):
        self.returns.append(score)
        self.n_episodes += 1
        if len(self.returns) == self.returns.maxlen:
            self.best_mean_100 = max(self.best_mean_100, self.mean_100)

    def open_tensorboard(self):
        """--tensorboard: one more sink."""
        purge = self._last_T * self.frames_per_step if self.resumes else None
        self.sinks.append(TensorBoardSink(self.out, self.cfg.algo, purge))

    def episode(self, T, worker, score, length):
        self._count_episode(score)
        e = Episode(T, T * self.frames_per_step, worker, score, length, time.monotonic() - self.t0)
        for sink in self.sinks:
            sink.episode(e)

    def worker_started(self, worker):
        if self.first_step_unix is None:
            self.first_step_unix = time.time()

    def worker_restarted(self, worker, T, cause, n, limit):
        """A dead worker is being replaced: say so on the console and in the logs."""
        self.restarts.append({"worker": worker, "T": T, "cause": cause})
        line = f"{cause.splitlines()[0]}; restarting it ({n} of {limit} restarts)"
        if len(cause.splitlines()) > 1:
            line += "\n" + cause
        if self.bar is not None:
            self.bar.write(line)          # above the bar, not through it
        else:
            print(line, flush=True)

    def worker_done(self, worker, peak_rss_mb):
        self.worker_peak_rss_mb[worker] = peak_rss_mb

    def stats(self, msg):
        self._stats.merge(msg)

    @property
    def mean_100(self):
        return float(np.mean(self.returns)) if self.returns else float("nan")

    @property
    def T(self):
        return self.shared.T.value if self.shared is not None else 0

    def due(self):
        return time.monotonic() - self._last_tick >= self.cfg.progress_interval

    def tick(self):
        """A progress.csv row, the progress bar, and a checkpoint when due."""
        try:
            self._tick()
        except OSError as e:
            raise RunFolderError.of(self.out, e) from None

    def _tick(self):
        now = time.monotonic()
        T = min(self.T, self.cfg.steps)
        n, loss, gn, gn_max, ent = self._stats.message()
        mean = lambda x: x / n if n else None  # noqa: E731
        rate = (T - self._last_T) / max(now - self._last_tick, 1e-9)
        row = Progress(now - self.t0, T, T * self.frames_per_step, rate, self.n_episodes, self.mean_100, n,
                       mean(loss), mean(gn), gn_max if n else None, mean(ent), self.resumes, len(self.restarts))
        self._stats.reset()
        for sink in self.sinks:
            sink.progress(row)
        self._last_tick, self._last_T = now, T
        if now - self._last_checkpoint >= self.cfg.checkpoint_interval:
            self.checkpoint()

    def checkpoint(self):
        """Save the checkpoint unless theta went non-finite (then keep the last one)."""
        self._last_checkpoint = time.monotonic()
        self.csv.sync()                     # the logs are on disk up to the checkpoint's T
        ok = save_checkpoint(os.path.join(self.out, "checkpoint.npz"), self.shared, self.checkpoint_extra())
        if not ok:
            raise NonFiniteError(f"theta became non-finite at T={self.T}")
        return ok

    def checkpoint_extra(self):
        """The bookkeeping a checkpoint carries for --resume."""
        extra = {"wall_s": np.array(self.wall), "resumes": np.array(self.resumes),
                 "eps_finals": np.asarray(self.eps_finals, dtype=np.float64)}
        snapshot = self.snapshot() if self.snapshot is not None else None
        if snapshot is not None:
            extra.update(encode_snapshot(snapshot))
        return extra

    def close(self):
        for sink in self.sinks:
            sink.close()
        self.sinks = []

    @property
    def wall(self):
        return time.monotonic() - self.t0

    def write_summary(self, status, message, start_unix, extra=None):
        """summary.json: what the run reached, and how fast, for people and tools."""
        T = min(self.T, self.cfg.steps)
        summary = {
            "status": status, "message": message, "T": T, "frames": T * self.frames_per_step,
            "wall_s": self.wall, "steps_per_s": T / max(self.wall, 1e-9),
            "episodes": self.n_episodes, "mean_return_100": self.mean_100,
            "best_mean_return_100": self.best_mean_100 if self.best_mean_100 > -math.inf else None,
            "startup_s": (self.first_step_unix - start_unix) if self.first_step_unix else None,
            "worker_peak_rss_mb": [self.worker_peak_rss_mb[k] for k in sorted(self.worker_peak_rss_mb)],
            "resumes": self.resumes,
            "worker_restarts": self.restarts,
            **({"worker_final_epsilons": [float(e) for e in self.eps_finals]}
               if self.cfg.head == "q" and self.eps_finals is not None else {}),
            **(extra or {}),
        }
        summary = {k: (None if isinstance(v, float) and not math.isfinite(v) else v)
                   for k, v in summary.items()}
        with open(os.path.join(self.out, "summary.json"), "w") as f:
            json.dump(summary, f, indent=2)
        return summary


def _keep_rows_up_to(path, T):
    """Drop the rows of a log written after the checkpoint being resumed (T > the
    checkpoint's T; a row cut short by a crash too), atomically; returns the
    kept rows' returns (episodes.csv) or []."""
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    header, body = rows[0], rows[1:]
    i_T = header.index("T")
    keep = [r for r in body if len(r) == len(header) and r[i_T].isdigit() and int(r[i_T]) <= T]
    tmp = path + ".tmp"
    with open(tmp, "w", newline="") as f:
        csv.writer(f).writerows([header] + keep)
    os.replace(tmp, path)
    return [float(r[header.index("return")]) for r in keep] if "return" in header else []


def write_config(out_dir, cfg, extra):
    """config.json, written to a temporary file and renamed (a resume rewrites it)."""
    path = os.path.join(out_dir, "config.json")
    with open(path + ".tmp", "w") as f:
        json.dump({**cfg.to_dict(), **extra}, f, indent=2, sort_keys=True)
    os.replace(path + ".tmp", path)


def plot_learning_curve(out_dir, frames_per_step, title):
    """learning_curve.png from episodes.csv, if matplotlib is installed; returns the path or None."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    data = np.loadtxt(os.path.join(out_dir, "episodes.csv"), delimiter=",", skiprows=1, ndmin=2)
    if data.shape[0] == 0:
        return None
    x = data[:, 1] if frames_per_step > 1 else data[:, 0]      # frames or T
    y = data[:, 3]                                              # raw return
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(x, y, ".", ms=2, alpha=0.3, label="episode return")
    ax.plot(x, mean_last_k(y, 100), lw=2, label="mean of the last 100")
    si_axis(ax)
    ax.set_xlabel("frames" if frames_per_step > 1 else "agent steps T")
    ax.set_ylabel("return (raw score)")
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    path = os.path.join(out_dir, "learning_curve.png")
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
