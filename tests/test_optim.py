"""Optimizers against their formulas, jitted against py_func, clipping."""
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import refasync as ra
from refasync import optim

arrays = st.integers(1, 200).flatmap(lambda n: st.tuples(st.just(n), st.integers(0, 2**32 - 1)))


@settings(max_examples=50, deadline=None)
@given(arrays, st.floats(1e-5, 1e-1), st.floats(0.5, 0.999), st.floats(1e-8, 1.0), st.integers(1, 4))
def test_rmsprop_matches_formula_over_several_steps(case, lr, alpha, eps, steps):
    n, seed = case
    rng = np.random.default_rng(seed)
    theta = rng.standard_normal(n)
    g = rng.random(n)
    theta_ref, g_ref = theta.copy(), g.copy()
    for _ in range(steps):
        d = rng.standard_normal(n)
        ra.rmsprop_step(theta, g, d, lr, alpha, eps)
        g_ref = alpha * g_ref + (1 - alpha) * d ** 2
        theta_ref = theta_ref - lr * d / np.sqrt(g_ref + eps)
    np.testing.assert_allclose(g, g_ref, rtol=1e-12)
    np.testing.assert_allclose(theta, theta_ref, rtol=1e-12, atol=1e-12)


def test_rmsprop_golden_value_eps_inside_root():
    theta, g = np.array([1.0]), np.array([0.0])
    ra.rmsprop_step(theta, g, np.array([1.0]), 0.1, 0.99, 0.1)
    # g = .01;  theta = 1 - .1 / sqrt(.01 + .1) = 1 - .30151134...
    np.testing.assert_allclose(g, [0.01])
    np.testing.assert_allclose(theta, [1 - 0.1 / math.sqrt(0.11)])
    np.testing.assert_allclose(theta, [0.69848866], rtol=1e-8)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_jitted_optimizers_match_py_func(dtype):
    rng = np.random.default_rng(1)
    theta, stat, d = (rng.standard_normal(64).astype(dtype) for _ in range(3))
    stat = np.abs(stat)
    for fn, extra in ((ra.rmsprop_step, (7e-4, 0.99, 0.1, 0.5)), (ra.momentum_sgd_step, (1e-2, 0.9, 0.5))):
        t1, s1, t2, s2 = theta.copy(), stat.copy(), theta.copy(), stat.copy()
        fn(t1, s1, d, *extra)
        fn.py_func(t2, s2, d, *extra)
        tol = 1e-6 if dtype == np.float32 else 1e-13
        np.testing.assert_allclose(t1, t2, rtol=tol, atol=tol)
        np.testing.assert_allclose(s1, s2, rtol=tol, atol=tol)
        assert t1.dtype == dtype and s1.dtype == dtype
    assert ra.grad_norm(d) == pytest.approx(ra.grad_norm.py_func(d), rel=1e-6)


@settings(max_examples=50, deadline=None)
@given(arrays, st.floats(0.0, 0.99), st.floats(1e-4, 1.0))
def test_momentum_sgd_matches_formula(case, alpha, lr):
    n, seed = case
    rng = np.random.default_rng(seed)
    theta, m, d = rng.standard_normal(n), rng.standard_normal(n), rng.standard_normal(n)
    m_ref = alpha * m + (1 - alpha) * d
    theta_ref = theta - lr * m_ref
    ra.momentum_sgd_step(theta, m, d, lr, alpha)
    np.testing.assert_allclose(m, m_ref, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(theta, theta_ref, rtol=1e-12, atol=1e-14)


@settings(max_examples=50, deadline=None)
@given(arrays, st.floats(0.1, 100.0))
def test_norm_clipping(case, max_norm):
    n, seed = case
    rng = np.random.default_rng(seed)
    d = rng.standard_normal(n) * rng.uniform(0.01, 50)
    norm = ra.grad_norm(d)
    np.testing.assert_allclose(norm, np.linalg.norm(d), rtol=1e-12)
    c = ra.clip_coefficient(norm, max_norm)
    assert c <= 1.0
    np.testing.assert_allclose(np.linalg.norm(c * d), min(norm, max_norm), rtol=1e-12)
    # the optimizer's `scale` applies the clipped gradient without a separate pass
    theta1, g1, theta2, g2 = d.copy(), np.ones(n), d.copy(), np.ones(n)
    ra.rmsprop_step(theta1, g1, d, 0.01, 0.99, 0.1, c)
    ra.rmsprop_step(theta2, g2, c * d, 0.01, 0.99, 0.1)
    np.testing.assert_allclose(theta1, theta2, rtol=1e-12)


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 5000), st.integers(0, 63), st.integers(0, 10**9), st.sampled_from([np.float32, np.float64]))
def test_swept_update_is_bitwise_one_sweep(n, worker_id, update_index, dtype):
    """Each update sweeps theta and g from its own start; every element must be
    updated exactly once and exactly as by one sweep (bitwise, fastmath included)."""
    parts = optim.sweep_parts(n, worker_id, update_index)
    covered = np.zeros(n, int)
    for p in parts:
        covered[p] += 1
        assert p.start % 64 == 0
    assert (covered == 1).all()
    rng = np.random.default_rng(n * 31 + worker_id)
    theta, g, d = (rng.standard_normal(n).astype(dtype), rng.random(n).astype(dtype),
                   rng.standard_normal(n).astype(dtype))
    for step, extra in ((ra.rmsprop_step, (7e-4, 0.99, 0.1, 0.3)), (ra.momentum_sgd_step, (1e-2, 0.9, 0.3))):
        t1, s1, t2, s2 = theta.copy(), g.copy(), theta.copy(), g.copy()
        step(t1, s1, d, *extra)
        for p in parts:
            step(t2[p], s2[p], d[p], *extra)
        assert np.array_equal(t1, t2) and np.array_equal(s1, s2)


def test_sweep_starts_differ_between_workers_and_updates():
    n = 677_943
    starts = {(k, u): optim.sweep_parts(n, k, u)[0].start for k in range(4) for u in range(50)}
    assert len(set(starts.values())) > 190            # 200 sweeps, nearly all start elsewhere
    assert starts == {(k, u): optim.sweep_parts(n, k, u)[0].start for k in range(4) for u in range(50)}


def test_clip_coefficient_edge_cases():
    assert ra.clip_coefficient(100.0, 40.0) == pytest.approx(0.4)
    assert ra.clip_coefficient(10.0, 40.0) == 1.0
    assert ra.clip_coefficient(100.0, 0.0) == 1.0       # disabled
    assert ra.clip_coefficient(100.0, None) == 1.0
    assert ra.clip_coefficient(float("nan"), 40.0) == 1.0


def test_linear_lr():
    assert ra.linear_lr(7e-4, 0, 100) == 7e-4
    assert ra.linear_lr(7e-4, 50, 100) == pytest.approx(3.5e-4)
    assert ra.linear_lr(7e-4, 100, 100) == 0.0
    assert ra.linear_lr(7e-4, 150, 100) == 0.0
    assert optim.linear_lr(1.0, 25, 100) == 0.75


@pytest.mark.parametrize("optimizer,shared_stat", [("momentum_sgd", False), ("shared_momentum_sgd", True),
                                                   ("rmsprop", False), ("shared_rmsprop", True)])
def test_which_optimizers_keep_their_statistic_per_thread(optimizer, shared_stat):
    """Supplementary Sec. 7: momentum SGD keeps m_i per thread i; shared RMSProp one g.

    Two workers on one shared theta each apply the same gradient d once.  With a
    per-thread statistic, the second worker starts from its own zero statistic and
    moves theta by exactly what the first did; with a shared one it continues the
    first worker's statistic and moves it by a different amount."""
    from refasync.algorithms.common import Shared, WorkerContext
    from refasync.algorithms.update import AsynchronousUpdate
    from refasync.config import Config

    class Counter:
        value = 0
    n = 256
    cfg = Config(optimizer=optimizer, lr=0.1, lr_anneal=False, max_grad_norm=0, momentum=0.9,
                 rms_alpha=0.9, rms_eps=1e-3)
    shared = Shared(np.zeros(n), None, np.zeros(n), Counter())
    updates = [AsynchronousUpdate(WorkerContext(i, cfg, None, None, None, shared)) for i in range(2)]
    d = np.random.default_rng(0).normal(size=n)
    updates[0](d, 0)
    first = shared.theta.copy()
    updates[1](d, 0)
    second = shared.theta - first
    if shared_stat:
        assert not np.allclose(second, first) and np.any(shared.opt_stat != 0)
    else:
        np.testing.assert_allclose(second, first, rtol=1e-12)
        assert not np.any(shared.opt_stat)          # the shared array is not touched


SUB = np.float32(2.0 ** -149)                     # the smallest float32 subnormal
TINY = np.finfo(np.float32).tiny                  # the smallest normal, 2^-126


def test_subnormal_rmsprop_statistic_would_stick_and_is_flushed():
    """ADDITION 16.  A zero gradient makes g decay as 0.99^k; in plain float32 it ends
    stuck at a subnormal (0.99 * 50 ulp rounds back to 50 ulp), ours reaches 0."""
    alpha = np.float32(0.99)
    stuck = np.float32(1e-30)
    for _ in range(20000):                        # the naive oracle: the formula in NumPy float32
        stuck = alpha * stuck + np.float32(0.01) * np.float32(0.0)
    assert stuck == 50 * SUB                      # golden: stuck at 50 * 2^-149 = 7.0e-44
    theta, g, d = np.ones(64, np.float32), np.full(64, 1e-30, np.float32), np.zeros(64, np.float32)
    for k in range(1, 2001):
        ra.rmsprop_step(theta, g, d, 7e-4, 0.99, 0.1)
        assert np.all((g == 0) | (g >= TINY)), f"subnormal g after {k} steps"
    assert np.all(g == 0)                         # 1e-30 * 0.99^2000 = 1.9e-39 < 2^-126
    assert np.all(theta == 1)
    m = np.full(64, -1.3e-38, np.float32)         # normal; 0.9 m = -1.17e-38 is not
    ra.momentum_sgd_step(theta, m, d, 1e-2, 0.9)
    assert np.all(m == 0) and np.all(theta == 1)


@settings(max_examples=50, deadline=None)
@given(arrays, st.integers(1, 4), st.floats(1e-8, 1.0))
def test_rmsprop_float32_with_subnormals_matches_formula_up_to_the_flush(case, steps, eps):
    """Against the NumPy float32 formula, which keeps subnormals: theta to float32
    rounding, g the same wherever the formula's g is normal, 0 where it is subnormal."""
    n, seed = case
    rng = np.random.default_rng(seed)
    theta = rng.standard_normal(n).astype(np.float32)
    g = np.where(rng.random(n) < 0.5, rng.integers(1, 2**23, n) * SUB,
                 rng.random(n)).astype(np.float32)      # half of g subnormal
    theta_ref, g_ref = theta.copy(), g.copy()
    F = np.float32
    for _ in range(steps):
        kind = rng.integers(0, 3, n)                     # zero, tiny (d^2 subnormal), normal
        d = np.where(kind == 0, 0, np.where(kind == 1, rng.uniform(1e-24, 1e-19, n),
                                            rng.standard_normal(n))).astype(np.float32)
        ra.rmsprop_step(theta, g, d, 7e-4, 0.99, eps)
        g_ref = F(0.99) * g_ref + F(0.01) * d * d
        theta_ref = theta_ref - F(7e-4) * d / np.sqrt(g_ref + F(eps))
        normal = g_ref >= TINY
        np.testing.assert_allclose(g[normal], g_ref[normal], rtol=1e-5)
        assert np.all(g[~normal] == 0)
        np.testing.assert_allclose(theta, theta_ref, rtol=1e-6, atol=1e-7)
