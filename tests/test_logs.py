"""The per-update statistics that workers send and progress.csv reports."""
import csv

import numpy as np
import pytest

from refasync.config import Config
from refasync.logs import RunRecorder, UpdateStats


def updates(n, seed):
    rng = np.random.default_rng(seed)
    return [{"loss": float(rng.normal()), "grad_norm": float(rng.gamma(2.0)), "entropy": float(rng.random())}
            for _ in range(n)]


def test_merged_worker_stats_equal_one_accumulation():
    ys = updates(30, 0)
    one, a, b = UpdateStats(), UpdateStats(), UpdateStats()
    for y in ys:
        one.add(y)
    for y in ys[:11]:
        a.add(y)
    for y in ys[11:]:
        b.add(y)
    merged = UpdateStats()
    merged.merge(a.message())
    merged.merge(b.message())
    n, loss, gn, gn_max, ent = merged.message()
    assert n == 30 and gn_max == max(y["grad_norm"] for y in ys)
    np.testing.assert_allclose([loss, gn, ent], [sum(y[k] for y in ys) for k in ("loss", "grad_norm", "entropy")])
    np.testing.assert_allclose(merged.message(), one.message())


def test_progress_row_reports_the_means_since_the_last_row(tmp_path):
    cfg = Config(algo="a3c", env="CartPole-v1", steps=100)
    rec = RunRecorder(str(tmp_path), cfg, frames_per_step=1, progress=False)
    first, second = updates(5, 1), updates(7, 2)
    for batch in (first, second):
        s = UpdateStats()
        for y in batch:
            s.add(y)
        rec.stats(s.message())
        rec.tick()
    rec.close()
    with open(tmp_path / "progress.csv") as f:
        rows = list(csv.DictReader(f))
    for row, batch in zip(rows, (first, second)):
        assert int(row["updates"]) == len(batch)
        # written with 6 significant digits
        assert float(row["loss_mean"]) == pytest.approx(np.mean([y["loss"] for y in batch]), rel=1e-5)
        assert float(row["grad_norm_max"]) == pytest.approx(max(y["grad_norm"] for y in batch), rel=1e-5)


def test_a_new_output_format_is_one_sink(tmp_path):
    """Every sink gets the same episodes and progress rows the CSV logs get, and a close."""
    from refasync.logs import Episode, Progress

    class Memory:
        def __init__(self):
            self.episodes, self.rows, self.closed = [], [], False

        def episode(self, e):
            self.episodes.append(e)

        def progress(self, p):
            self.rows.append(p)

        def close(self):
            self.closed = True

    cfg = Config(algo="a3c", env="CartPole-v1", steps=100)
    rec = RunRecorder(str(tmp_path), cfg, frames_per_step=4, progress=False)
    mine = Memory()
    rec.sinks.append(mine)
    rec.episode(10, 1, 3.5, 7)
    rec.episode(20, 0, -1.0, 9)
    rec.stats((2, 1.0, 3.0, 2.5, 0.5))
    rec.tick()
    rec.close()
    assert [(e.T, e.frames, e.worker, e.score, e.length) for e in mine.episodes] == [(10, 40, 1, 3.5, 7),
                                                                                     (20, 80, 0, -1.0, 9)]
    assert all(isinstance(e, Episode) for e in mine.episodes) and isinstance(mine.rows[0], Progress)
    p = mine.rows[0]
    assert (p.episodes, p.mean_return_100, p.updates, p.loss_mean, p.grad_norm_mean, p.grad_norm_max) == \
        (2, 1.25, 2, 0.5, 1.5, 2.5) and mine.closed
    with open(tmp_path / "episodes.csv") as f:
        rows = list(csv.DictReader(f))
    assert [(r["T"], r["frames"], r["return"]) for r in rows] == [("10", "40", "3.5"), ("20", "80", "-1")]
    with open(tmp_path / "progress.csv") as f:
        assert list(csv.DictReader(f))[0]["grad_norm_max"] == "2.5"
