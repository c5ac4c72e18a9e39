"""The layer kernels as plain loops: the readable statement of what
``kernels.py`` computes (same functions, same signatures).  Tests check the
fast kernels against these, and these against a naive NumPy oracle and
finite differences.

Conventions (llm.c style):
  * every layer is a ``*_forward`` / ``*_backward`` pair, outputs first;
  * forward OVERWRITES its output (``relu=True`` applies max(., 0)); backward ACCUMULATES (``+=``) into
    dx, dw, db, as the pseudocode's ``d_theta <- d_theta + dL/dtheta``;
  * layouts: activations NHWC (channels innermost), conv weights
    (KH, KW, C_in, C_out), dense weights (K_in, K_out), biases 1-D;
  * the same code compiles for float32 (training) and float64 (gradient checks).

Equations (n sample, o output channel):
  conv:  y[n,oy,ox,o] = b[o] + sum_{ky,kx,c} x[n, s*oy+ky, s*ox+kx, c] w[ky,kx,c,o]
  dense: y[n,o] = b[o] + sum_k x[n,k] w[k,o]
  relu:  y = max(x, 0);  dx += dy * [y > 0]
"""
from __future__ import annotations

import math

import numba

_jit = numba.njit(cache=True, fastmath=True, boundscheck=False)


@_jit
def dense_forward(y, x, w, b, relu=False):
    N, K = x.shape
    O = w.shape[1]
    for n in range(N):
        for o in range(O):
            y[n, o] = b[o]
        for k in range(K):
            xk = x[n, k]
            for o in range(O):
                y[n, o] += xk * w[k, o]
        if relu:
            for o in range(O):
                y[n, o] = max(y[n, o], 0.0)


@_jit
def dense_backward(dx, dw, db, dy, x, w, need_dx):
    N, K = x.shape
    O = w.shape[1]
    for n in range(N):
        for o in range(O):
            db[o] += dy[n, o]
        for k in range(K):
            xk = x[n, k]
            acc = 0.0
            for o in range(O):
                dw[k, o] += xk * dy[n, o]
                acc += w[k, o] * dy[n, o]
            if need_dx:
                dx[n, k] += acc


@_jit
def conv2d_forward(y, x, w, b, stride, relu=False):
    N, OH, OW, O = y.shape
    KH, KW, C, _ = w.shape
    for n in range(N):
        for oy in range(OH):
            for ox in range(OW):
                for o in range(O):
                    y[n, oy, ox, o] = b[o]
                for ky in range(KH):
                    for kx in range(KW):
                        for c in range(C):
                            xv = x[n, oy * stride + ky, ox * stride + kx, c]
                            for o in range(O):
                                y[n, oy, ox, o] += xv * w[ky, kx, c, o]
                if relu:
                    for o in range(O):
                        y[n, oy, ox, o] = max(y[n, oy, ox, o], 0.0)


@_jit
def conv2d_backward(dx, dw, db, dy, x, w, stride, need_dx):
    N, OH, OW, O = dy.shape
    KH, KW, C, _ = w.shape
    for n in range(N):
        for oy in range(OH):
            for ox in range(OW):
                for o in range(O):
                    db[o] += dy[n, oy, ox, o]
                for ky in range(KH):
                    for kx in range(KW):
                        for c in range(C):
                            iy = oy * stride + ky
                            ix = ox * stride + kx
                            xv = x[n, iy, ix, c]
                            acc = 0.0
                            for o in range(O):
                                g = dy[n, oy, ox, o]
                                dw[ky, kx, c, o] += xv * g
                                acc += w[ky, kx, c, o] * g
                            if need_dx:
                                dx[n, iy, ix, c] += acc


@_jit
def relu_forward(y, x):
    yf = y.reshape(-1)
    xf = x.reshape(-1)
    for i in range(xf.shape[0]):
        v = xf[i]
        yf[i] = v if v > 0 else 0.0


@_jit
def relu_backward(dx, dy, y):
    dxf = dx.reshape(-1)
    dyf = dy.reshape(-1)
    yf = y.reshape(-1)
    for i in range(yf.shape[0]):
        if yf[i] > 0:
            dxf[i] += dyf[i]


@_jit
def softplus_forward(y, x):
    """y = log(1 + exp(x)), written to stay finite for any x."""
    yf = y.reshape(-1)
    xf = x.reshape(-1)
    for i in range(xf.shape[0]):
        v = xf[i]
        if v > 0:
            yf[i] = v + math.log1p(math.exp(-v))
        else:
            yf[i] = math.log1p(math.exp(v))


@_jit
def softplus_backward(dx, dy, x):
    """dx += dy * d softplus(x)/dx = dy / (1 + exp(-x))."""
    dxf = dx.reshape(-1)
    dyf = dy.reshape(-1)
    xf = x.reshape(-1)
    for i in range(xf.shape[0]):
        v = xf[i]
        if v > 0:
            dxf[i] += dyf[i] / (1.0 + math.exp(-v))
        else:
            dxf[i] += dyf[i] * math.exp(v) / (1.0 + math.exp(v))
