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
