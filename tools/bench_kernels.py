"""Kernel benchmark: the paper's Atari network (actor-critic head, 6 actions),
single thread, float32.

    python tools/bench_kernels.py [--reps N]

Measures in ONE run, on the same machine:
  (A) forward at batch 1 (acting),
  (B) forward + backward at batch 5 (one t_max = 5 update; backward computes
      every weight gradient and every input gradient except the image's),
  (C) one shared-RMSProp step over all parameters,
for refasync (``Network.forward/backward``, ``rmsprop_step``) and for a plain
NumPy im2col + BLAS implementation of the same layers; prints ms, GFLOP/s
(2 x multiply-adds of the conv/dense layers) and the ratio NumPy / refasync.
Medians over repeated blocks; the minimum is shown too (the machines are noisy).
"""
import os

for _k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ[_k] = "1"      # one thread, before NumPy and Numba are imported

import argparse  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
from numpy.lib.stride_tricks import sliding_window_view  # noqa: E402

import refasync as ra  # noqa: E402

A = 6


def layer_macs(net):
    """Multiply-adds per sample of each layer, from the network's shapes."""
    macs = []
    for L in net.layers:
        out = int(np.prod(L.out_shape))
        per_out = int(np.prod(L.w_shape[:-1]))
        macs.append(out * per_out)
    return macs


# ------------------------------------------------------- NumPy im2col + BLAS
def im2col(x, k, s):
    """(N, H, W, C) -> (N*OH*OW, k*k*C) patches in (ky, kx, c) order."""
    N = x.shape[0]
    v = sliding_window_view(x, (k, k), axis=(1, 2))[:, ::s, ::s]     # N, OH, OW, C, k, k
    OH, OW = v.shape[1], v.shape[2]
    return np.ascontiguousarray(v.transpose(0, 1, 2, 4, 5, 3)).reshape(N * OH * OW, -1), OH, OW


def col2im(dcol, x_shape, k, s, OH, OW):
    N, H, W, C = x_shape
    dx = np.zeros(x_shape, dcol.dtype)
    d = dcol.reshape(N, OH, OW, k, k, C)
    for ky in range(k):
        for kx in range(k):
            dx[:, ky:ky + s * (OH - 1) + 1:s, kx:kx + s * (OW - 1) + 1:s, :] += d[:, :, :, ky, kx, :]
    return dx


class NumpyNet:
    """The same network with im2col + BLAS matmuls (the baseline)."""

    def __init__(self, net, theta):
        self.net, self.p = net, net.views(theta)

    def forward(self, obs):
        p, N = self.p, obs.shape[0]
        x = obs.transpose(0, 2, 3, 1).astype(np.float32) * np.float32(1 / 255)
        self.x = x
        self.c1, oh1, ow1 = im2col(x, 8, 4)
        self.a1 = np.maximum(self.c1 @ p["conv1.w"].reshape(-1, 16) + p["conv1.b"], 0).reshape(N, oh1, ow1, 16)
        self.c2, oh2, ow2 = im2col(self.a1, 4, 2)
        self.a2 = np.maximum(self.c2 @ p["conv2.w"].reshape(-1, 32) + p["conv2.b"], 0).reshape(N, -1)
        self.a3 = np.maximum(self.a2 @ p["fc1.w"] + p["fc1.b"], 0)
        self.out = self.a3 @ p["out.w"] + p["out.b"]
        return self.out

    def backward(self, d_out):
        p, g = self.p, {}
        g["out.w"], g["out.b"] = self.a3.T @ d_out, d_out.sum(0)
        d3 = (d_out @ p["out.w"].T) * (self.a3 > 0)
        g["fc1.w"], g["fc1.b"] = self.a2.T @ d3, d3.sum(0)
        d2 = ((d3 @ p["fc1.w"].T) * (self.a2 > 0)).reshape(-1, 32)
        g["conv2.w"], g["conv2.b"] = self.c2.T @ d2, d2.sum(0)
        d1 = col2im(d2 @ p["conv2.w"].reshape(-1, 32).T, self.a1.shape, 4, 2, 9, 9) * (self.a1 > 0)
        d1 = d1.reshape(-1, 16)
        g["conv1.w"], g["conv1.b"] = self.c1.T @ d1, d1.sum(0)
        return g


def numpy_rmsprop(theta, g, d, lr, alpha, eps):
    g *= alpha
    g += (1 - alpha) * d * d
    theta -= lr * d / np.sqrt(g + eps)


def timeit(f, reps, inner):
    f()
    ts = []
    for _ in range(reps):
        t = time.perf_counter()
        for _ in range(inner):
            f()
        ts.append((time.perf_counter() - t) / inner)
    ts = np.array(ts) * 1e3
    return float(np.median(ts)), float(ts.min())


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=100, help="timed blocks per measurement (default 100)")
    args = ap.parse_args()
    if args.reps < 1:
        ap.exit(2, "bench_kernels.py: error: --reps must be >= 1\n")

    rng = np.random.default_rng(0)
    net = ra.atari_network(A, "actor_critic")
    theta = net.init(rng, np.float32)
    obs = rng.integers(0, 256, (5, 4, 84, 84), dtype=np.uint8)
    d_out = rng.standard_normal((5, A + 1)).astype(np.float32)
    base = NumpyNet(net, theta)

    print(f"refasync {ra.__version__}, numpy {np.__version__}, one thread; "
          f"OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', 'unset')}")
    print(f"Atari network, actor-critic head, {A} actions: {net.n_params:,} parameters")
    print("compiling / loading the Numba cache ...", flush=True)

    # correctness first: the two implementations must agree
    out, cache = net.forward(theta, obs)
    d_theta = np.zeros_like(theta)
    net.backward(theta, cache, d_out, d_theta)
    ref_out = base.forward(obs)
    ref_g = base.backward(d_out)
    assert np.allclose(out, ref_out, rtol=1e-4, atol=1e-5), "forward differs from the NumPy baseline"
    views = net.views(d_theta)
    for name, g in ref_g.items():
        err = np.abs(views[name] - g.reshape(views[name].shape)).max() / max(np.abs(g).max(), 1e-30)
        assert err < 1e-3, f"gradient of {name} differs from the NumPy baseline (rel {err:.2e})"

    macs = layer_macs(net)
    flop_a = 2 * sum(macs)
    # backward: a weight gradient for every layer, an input gradient for all but the first
    flop_b = 5 * (2 * sum(macs) + 2 * sum(macs) + 2 * sum(macs[1:]))

    def fwd1():
        net.forward(theta, obs[:1])

    def fb5():
        o, c = net.forward(theta, obs)
        net.backward(theta, c, d_out, d_theta)

    def np_fwd1():
        base.forward(obs[:1])

    def np_fb5():
        base.forward(obs)
        base.backward(d_out)

    g_stat = np.ones_like(theta)
    th = theta.copy()
    d = (rng.standard_normal(theta.shape) * 1e-3).astype(np.float32)

    def rms():
        ra.rmsprop_step(th, g_stat, d, 1e-9, 0.99, 0.1)

    def np_rms():
        numpy_rmsprop(th, g_stat, d, 1e-9, 0.99, 0.1)

    rows = [
        ("(A) forward, batch 1", fwd1, np_fwd1, flop_a, 10),
        ("(B) forward+backward, batch 5", fb5, np_fb5, flop_b, 3),
        ("(C) RMSProp step, all params", rms, np_rms, None, 5),
    ]
    print(f"\n{'':32s} {'refasync ms':>12s} {'(min)':>8s} {'GFLOP/s':>8s} | "
          f"{'NumPy+BLAS ms':>13s} {'(min)':>8s} {'GFLOP/s':>8s} | {'ratio':>6s}")
    for name, f, g, flop, inner in rows:
        med, mn = timeit(f, args.reps, inner)
        nmed, nmn = timeit(g, args.reps, inner)
        gf = f"{flop / med / 1e6:8.1f}" if flop else f"{'':8s}"
        ngf = f"{flop / nmed / 1e6:8.1f}" if flop else f"{'':8s}"
        print(f"{name:32s} {med:12.4f} {mn:8.4f} {gf} | {nmed:13.4f} {nmn:8.4f} {ngf} | {nmed / med:5.2f}x",
              flush=True)
    print(f"\nFLOP: (A) {flop_a / 1e6:.2f} M, (B) {flop_b / 1e6:.2f} M. ratio = NumPy time / refasync time "
          "(medians). For scale (issue 2): PyTorch 2.13, one thread, 0.33 ms (A) and 3.6 ms (B).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
