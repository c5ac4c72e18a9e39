"""Shared state: the atomic counter T and the shared arrays across processes."""
import pytest
import multiprocessing as mp

import numpy as np

from refasync.atomic import fetch_add
from refasync.shared import LocalCounter, SharedBlock


def _hammer(block, n, i):
    shared = block.views()
    for _ in range(n):
        shared.T.increment()
    shared.theta[i] = i + 1.0    # visible to the parent: the same memory


def test_fetch_add_returns_the_new_value():
    a = np.zeros(3, np.int64)
    assert fetch_add(a, 1, 5) == 5 and fetch_add(a, 1, 1) == 6
    np.testing.assert_array_equal(a, [0, 6, 0])


@pytest.mark.slow
def test_counter_increments_are_atomic_across_processes():
    ctx = mp.get_context("spawn")
    block = SharedBlock(ctx, 4, np.float32, with_target=True)
    n, workers = 20_000, 3
    procs = [ctx.Process(target=_hammer, args=(block, n, i)) for i in range(workers)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    shared = block.views()
    assert shared.T.value == n * workers          # no increment lost
    np.testing.assert_array_equal(shared.theta, [1.0, 2.0, 3.0, 0.0])
    assert shared.theta_minus is not None and shared.theta_minus.shape == (4,)


def test_local_counter():
    T = LocalCounter()
    assert T.increment() == 1 and T.increment() == 2 and T.value == 2
