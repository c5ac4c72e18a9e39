"""Kernels against a naive NumPy oracle and against float64 central differences.

Both implementations are checked: the fast GEMM-based ``kernels`` and the
plain-loop ``reference_kernels``.  Output widths are drawn so that every
path of the GEMM dispatch runs (full 16/32/64/128/256-column tiles, column
tails, 1 row, 2-3 rows, >= 4 rows).
"""
import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from refasync.nn import kernels, reference_kernels

from numerics import central_diff

IMPLS = pytest.mark.parametrize("K", [kernels, reference_kernels], ids=["fast", "reference"])
WIDTHS = st.sampled_from([1, 2, 3, 5, 16, 17, 32, 33, 48, 64, 70])

# --------------------------------------------------------------- naive oracle
# Deliberately naive: one output element at a time, straight from the equation.


def naive_conv2d(x, w, b, stride):
    N, H, W, C = x.shape
    KH, KW, _, O = w.shape
    OH, OW = (H - KH) // stride + 1, (W - KW) // stride + 1
    y = np.zeros((N, OH, OW, O))
    for n in range(N):
        for oy in range(OH):
            for ox in range(OW):
                patch = x[n, oy * stride:oy * stride + KH, ox * stride:ox * stride + KW, :]
                for o in range(O):
                    y[n, oy, ox, o] = b[o] + np.sum(patch * w[:, :, :, o])
    return y


def naive_dense(x, w, b):
    N, Kin = x.shape
    y = np.zeros((N, w.shape[1]))
    for n in range(N):
        for o in range(w.shape[1]):
            y[n, o] = b[o] + sum(x[n, k] * w[k, o] for k in range(Kin))
    return y


def floats(rng, shape):
    return rng.standard_normal(shape)


conv_cases = st.fixed_dictionaries({
    "N": st.integers(1, 2), "C": st.integers(1, 3), "O": WIDTHS,
    "k": st.integers(1, 4), "stride": st.integers(1, 3),
    "extra_h": st.integers(0, 4), "extra_w": st.integers(0, 4),
    "seed": st.integers(0, 2**32 - 1),
})


def conv_arrays(case, dtype=np.float64):
    rng = np.random.default_rng(case["seed"])
    H = case["k"] + case["extra_h"]
    W = case["k"] + case["extra_w"]
    x = floats(rng, (case["N"], H, W, case["C"])).astype(dtype)
    w = floats(rng, (case["k"], case["k"], case["C"], case["O"])).astype(dtype)
    b = floats(rng, (case["O"],)).astype(dtype)
    OH = (H - case["k"]) // case["stride"] + 1
    OW = (W - case["k"]) // case["stride"] + 1
    dy = floats(rng, (case["N"], OH, OW, case["O"])).astype(dtype)
    return x, w, b, dy


def run_conv(K, x, w, b, stride, relu=False):
    KH, KW, _, O = w.shape
    OH = (x.shape[1] - KH) // stride + 1
    OW = (x.shape[2] - KW) // stride + 1
    y = np.full((x.shape[0], OH, OW, O), np.nan, dtype=x.dtype)   # forward must overwrite
    K.conv2d_forward(y, x, w, b, stride, relu)
    return y


@IMPLS
@settings(max_examples=60, deadline=None)
@given(case=conv_cases, relu=st.booleans())
def test_conv2d_forward_matches_naive_oracle(K, case, relu):
    x, w, b, _ = conv_arrays(case)
    expected = naive_conv2d(x, w, b, case["stride"])
    if relu:
        expected = np.maximum(expected, 0)
    np.testing.assert_allclose(run_conv(K, x, w, b, case["stride"], relu), expected,
                               rtol=1e-10, atol=1e-10)


@IMPLS
@settings(max_examples=40, deadline=None)
@given(case=conv_cases)
def test_conv2d_backward_matches_finite_differences(K, case):
    x, w, b, dy = conv_arrays(case)
    s = case["stride"]

    def loss():  # L = sum(dy * y), so dL/dy = dy
        return float(np.sum(dy * run_conv(K, x, w, b, s)))

    dx, dw, db = np.zeros_like(x), np.zeros_like(w), np.zeros_like(b)
    K.conv2d_backward(dx, dw, db, dy, x, w, s, True)
    np.testing.assert_allclose(dw, central_diff(loss, w), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(db, central_diff(loss, b), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(dx, central_diff(loss, x), rtol=1e-6, atol=1e-7)


@IMPLS
@settings(max_examples=20, deadline=None)
@given(case=conv_cases)
def test_conv2d_backward_accumulates_and_skips_dx(K, case):
    x, w, b, dy = conv_arrays(case)
    rng = np.random.default_rng(0)
    dx0, dw0, db0 = floats(rng, x.shape), floats(rng, w.shape), floats(rng, b.shape)
    dx, dw, db = np.zeros_like(x), np.zeros_like(w), np.zeros_like(b)
    K.conv2d_backward(dx, dw, db, dy, x, w, case["stride"], True)
    dx2, dw2, db2 = dx0.copy(), dw0.copy(), db0.copy()
    K.conv2d_backward(dx2, dw2, db2, dy, x, w, case["stride"], True)
    np.testing.assert_allclose(dw2, dw0 + dw, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(db2, db0 + db, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(dx2, dx0 + dx, rtol=1e-12, atol=1e-12)
    untouched = dx0.copy()
    dw3, db3 = dw0.copy(), db0.copy()
    K.conv2d_backward(untouched, dw3, db3, dy, x, w, case["stride"], False)
    np.testing.assert_array_equal(untouched, dx0)
    np.testing.assert_allclose(dw3, dw2, rtol=1e-12, atol=1e-12)


dense_cases = st.fixed_dictionaries({
    "N": st.integers(1, 6), "K": st.integers(1, 12), "O": st.one_of(WIDTHS, st.sampled_from([128, 130, 256, 263])),
    "seed": st.integers(0, 2**32 - 1),
})


def dense_arrays(case, dtype=np.float64):
    rng = np.random.default_rng(case["seed"])
    x = floats(rng, (case["N"], case["K"])).astype(dtype)
    w = floats(rng, (case["K"], case["O"])).astype(dtype)
    b = floats(rng, (case["O"],)).astype(dtype)
    dy = floats(rng, (case["N"], case["O"])).astype(dtype)
    return x, w, b, dy


def run_dense(K, x, w, b, relu=False):
    y = np.full((x.shape[0], w.shape[1]), np.nan, dtype=x.dtype)
    K.dense_forward(y, x, w, b, relu)
    return y


@IMPLS
@settings(max_examples=60, deadline=None)
@given(case=dense_cases, relu=st.booleans())
def test_dense_forward_matches_naive_oracle(K, case, relu):
    x, w, b, _ = dense_arrays(case)
    expected = naive_dense(x, w, b)
    if relu:
        expected = np.maximum(expected, 0)
    np.testing.assert_allclose(run_dense(K, x, w, b, relu), expected, rtol=1e-10, atol=1e-10)


@IMPLS
@settings(max_examples=40, deadline=None)
@given(case=dense_cases)
def test_dense_backward_matches_finite_differences(K, case):
    x, w, b, dy = dense_arrays(case)

    def loss():
        return float(np.sum(dy * run_dense(K, x, w, b)))

    dx, dw, db = np.zeros_like(x), np.zeros_like(w), np.zeros_like(b)
    K.dense_backward(dx, dw, db, dy, x, w, True)
    np.testing.assert_allclose(dw, central_diff(loss, w), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(db, central_diff(loss, b), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(dx, central_diff(loss, x), rtol=1e-6, atol=1e-7)
    # accumulation: a second call adds the same amount again
    K.dense_backward(dx, dw, db, dy, x, w, True)
    np.testing.assert_allclose(dw, 2 * central_diff(loss, w), rtol=1e-6, atol=1e-7)


@IMPLS
@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 50), seed=st.integers(0, 2**32 - 1))
def test_relu_forward_backward(K, n, seed):
    rng = np.random.default_rng(seed)
    x = floats(rng, (n,))
    assume(np.all(np.abs(x) > 1e-3))  # stay off the kink for finite differences
    dy = floats(rng, (n,))
    y = np.empty_like(x)
    K.relu_forward(y, x)
    np.testing.assert_array_equal(y, np.maximum(x, 0))

    def loss():
        out = np.empty_like(x)
        K.relu_forward(out, x)
        return float(np.sum(dy * out))

    dx = np.zeros_like(x)
    K.relu_backward(dx, dy, y)
    np.testing.assert_allclose(dx, central_diff(loss, x), rtol=1e-6, atol=1e-8)


@IMPLS
@settings(max_examples=40, deadline=None)
@given(x=st.lists(st.floats(-30, 30, allow_nan=False), min_size=1, max_size=40),
       seed=st.integers(0, 2**32 - 1))
def test_softplus_forward_backward(K, x, seed):
    x = np.array(x)
    dy = np.random.default_rng(seed).standard_normal(x.shape)
    y = np.empty_like(x)
    K.softplus_forward(y, x)
    np.testing.assert_allclose(y, np.log1p(np.exp(x)), rtol=1e-12)        # naive: fine for |x| <= 30

    def softplus(v):
        out = np.empty_like(v)
        K.softplus_forward(out, v)
        return out

    # elementwise central differences: softplus acts on each entry alone, and a summed
    # loss would add its roundoff (eps |L| / h) to the small derivatives far left
    h = 1e-6
    fd = dy * (softplus(x + h) - softplus(x - h)) / (2 * h)
    dx = np.full_like(x, 0.5)                                               # backward accumulates
    K.softplus_backward(dx, dy, x)
    np.testing.assert_allclose(dx - 0.5, fd, rtol=1e-6, atol=1e-10)


@IMPLS
def test_softplus_stays_finite_far_out(K):
    x = np.array([-1000.0, -40.0, 0.0, 40.0, 1000.0])
    y, dx = np.empty_like(x), np.zeros_like(x)
    K.softplus_forward(y, x)
    K.softplus_backward(dx, np.ones_like(x), x)
    assert np.all(np.isfinite(y)) and np.all(np.isfinite(dx))
    np.testing.assert_allclose(y, [0.0, np.exp(-40.0), np.log(2.0), 40.0, 1000.0], rtol=1e-12, atol=1e-300)
    np.testing.assert_allclose(dx, [0.0, np.exp(-40.0), 0.5, 1.0, 1.0], rtol=1e-12, atol=1e-300)


@IMPLS
@pytest.mark.parametrize("dtype,rtol", [(np.float32, 2e-4), (np.float64, 1e-10)])
def test_atari_shapes_against_oracle(K, dtype, rtol):
    """The paper's layer shapes (batch 2), both dtypes, forward and backward."""
    rng = np.random.default_rng(7)
    x = rng.random((2, 20, 20, 16)).astype(dtype)
    w = (rng.standard_normal((4, 4, 16, 32)) * 0.1).astype(dtype)
    b = rng.standard_normal(32).astype(dtype)
    y = run_conv(K, x, w, b, 2)
    assert y.dtype == dtype
    y64 = naive_conv2d(x.astype(np.float64), w.astype(np.float64), b.astype(np.float64), 2)
    np.testing.assert_allclose(y, y64, rtol=rtol, atol=rtol)
    dy = rng.standard_normal(y.shape).astype(dtype)
    dx, dw, db = np.zeros_like(x), np.zeros_like(w), np.zeros_like(b)
    K.conv2d_backward(dx, dw, db, dy, x, w, 2, True)
    # oracle for the backward: the gradient of sum(dy * y) is linear, so compare with
    # the float64 adjoint computed by explicit loops over the forward's index map
    dw64 = np.zeros(w.shape)
    dx64 = np.zeros(x.shape)
    for oy in range(y.shape[1]):
        for ox in range(y.shape[2]):
            patch = x[:, 2 * oy:2 * oy + 4, 2 * ox:2 * ox + 4, :].astype(np.float64)
            g = dy[:, oy, ox, :].astype(np.float64)
            dw64 += np.einsum("nhwc,no->hwco", patch, g)
            dx64[:, 2 * oy:2 * oy + 4, 2 * ox:2 * ox + 4, :] += np.einsum("hwco,no->nhwc", w.astype(np.float64), g)
    np.testing.assert_allclose(dw, dw64, rtol=rtol, atol=rtol * np.abs(dw64).max())
    np.testing.assert_allclose(dx, dx64, rtol=rtol, atol=rtol * np.abs(dx64).max())
    np.testing.assert_allclose(db, dy.astype(np.float64).sum(axis=(0, 1, 2)), rtol=rtol, atol=rtol * 10)


@pytest.mark.parametrize("name,args", [
    ("dense_forward", lambda r: (np.zeros((2, 3)), r.standard_normal((2, 4)), r.standard_normal((4, 3)), r.standard_normal(3))),
    ("conv2d_forward", lambda r: (np.zeros((1, 2, 2, 3)), r.standard_normal((1, 5, 5, 2)), r.standard_normal((3, 3, 2, 3)), r.standard_normal(3), 2)),
])
def test_jitted_reference_kernels_match_their_py_func(name, args):
    fn = getattr(reference_kernels, name)
    rng = np.random.default_rng(0)
    a = args(rng)
    b = tuple(np.copy(v) if isinstance(v, np.ndarray) else v for v in a)
    fn(*a)
    fn.py_func(*b)
    np.testing.assert_allclose(a[0], b[0], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("dtype,tol", [(np.float32, 1e-5), (np.float64, 1e-12)])
@pytest.mark.parametrize("N,H,C,O,k,stride", [
    (1, 84, 4, 16, 8, 4), (5, 84, 4, 16, 8, 4), (1, 20, 16, 32, 4, 2), (5, 20, 16, 32, 4, 2),
    (3, 13, 5, 130, 3, 2), (2, 9, 2, 263, 2, 1),
])
def test_fast_kernels_match_reference_kernels(dtype, tol, N, H, C, O, k, stride):
    """The GEMM kernels against the plain loops, at the paper's shapes and wide odd ones."""
    rng = np.random.default_rng(N * 1000 + O)
    x = rng.standard_normal((N, H, H, C)).astype(dtype)
    w = rng.standard_normal((k, k, C, O)).astype(dtype)
    b = rng.standard_normal(O).astype(dtype)
    for relu in (False, True):
        y_fast, y_ref = run_conv(kernels, x, w, b, stride, relu), run_conv(reference_kernels, x, w, b, stride, relu)
        np.testing.assert_allclose(y_fast, y_ref, rtol=tol, atol=tol * np.abs(y_ref).max())
    dy = rng.standard_normal(y_ref.shape).astype(dtype)
    grads = []
    for impl in (kernels, reference_kernels):
        g = (np.zeros_like(x), np.zeros_like(w), np.zeros_like(b))
        impl.conv2d_backward(*g, dy, x, w, stride, True)
        grads.append(g)
    for a, r in zip(*grads):
        np.testing.assert_allclose(a, r, rtol=tol, atol=tol * np.abs(r).max())
    # dense at the paper's fully-connected shape and batch sizes 1..6
    xd = rng.standard_normal((N, 2592 if O == 16 else 37)).astype(dtype)
    wd = rng.standard_normal((xd.shape[1], 256 if O == 16 else O)).astype(dtype)
    bd = rng.standard_normal(wd.shape[1]).astype(dtype)
    y_fast, y_ref = run_dense(kernels, xd, wd, bd), run_dense(reference_kernels, xd, wd, bd)
    np.testing.assert_allclose(y_fast, y_ref, rtol=tol, atol=tol * np.abs(y_ref).max())
    dyd = rng.standard_normal(y_ref.shape).astype(dtype)
    grads = []
    for impl in (kernels, reference_kernels):
        g = (np.zeros_like(xd), np.zeros_like(wd), np.zeros_like(bd))
        impl.dense_backward(*g, dyd, xd, wd, True)
        grads.append(g)
    for a, r in zip(*grads):
        np.testing.assert_allclose(a, r, rtol=tol, atol=tol * np.abs(r).max())
