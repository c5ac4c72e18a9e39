"""Numba layer kernels: dense, 2-D convolution (valid padding, strided), ReLU.

Conventions (llm.c style):
  * every layer is a ``*_forward`` / ``*_backward`` pair, outputs first;
  * forward OVERWRITES its output (``relu=True`` applies max(., 0) in the same
    pass); backward ACCUMULATES (``+=``) into dx, dw, db, as the pseudocode's
    ``d_theta <- d_theta + dL/dtheta``;
  * layouts: activations NHWC (channels innermost), conv weights
    (KH, KW, C_in, C_out), dense weights (K_in, K_out), biases 1-D;
  * float32 (training) and float64 (gradient checks) alike.

Equations (n sample, o output channel, s stride):
  conv:  y[n,oy,ox,o] = b[o] + sum_{ky,kx,c} x[n, s*oy+ky, s*ox+kx, c] w[ky,kx,c,o]
  dense: y[n,o] = b[o] + sum_k x[n,k] w[k,o]
  relu:  y = max(x, 0);  dx += dy * [y > 0]

``reference_kernels.py`` states the same functions as plain loops; this
module maps each onto the register-blocked GEMM of ``gemm.py``.  Thanks to
NHWC, the KW*C inputs of one window row are contiguous, so no im2col buffer
is needed:
  conv forward: rows = output pixels, cols = C_out, reduction = (ky | kx*C + c)
  conv dW:      rows = (kx*C + c) for each ky, cols = C_out, reduction = (n | oy | ox)
  conv dX:      rows = output pixels, cols = (kx*C + c) for each ky, reduction = C_out,
                B = the transposed weights
  dense:        forward and dW through the GEMM, dX through the dot-product kernel.
"""
import numba
import numpy as np

from .gemm import _NJ, _dotk, _gemm_any


@numba.njit(**_NJ)
def _pixel_tables(N, H, W, C, OH, OW, stride, O):
    M = N * OH * OW
    poff = np.empty(M, np.int64)
    yoff = np.empty(M, np.int64)
    m = 0
    for n in range(N):
        for oy in range(OH):
            base = (n * H + oy * stride) * W * C
            for ox in range(OW):
                poff[m] = base + ox * stride * C
                yoff[m] = m * O
                m += 1
    return poff, yoff


@numba.njit(**_NJ)
def conv2d_forward(y, x, w, b, stride, relu=False):
    N, H, W, C = x.shape
    KH, KW, _, O = w.shape
    _, OH, OW, _ = y.shape
    yf = y.reshape(-1)
    M = N * OH * OW
    for m in range(M):
        for o in range(O):
            yf[m * O + o] = b[o]
    poff, yoff = _pixel_tables(N, H, W, C, OH, OW, stride, O)
    _gemm_any(yf, yoff, x.reshape(-1), poff, w.reshape(-1), 0, M, O,
              KH, W * C, KW * C * O, 1, 0, 0, KW * C, 1, O, relu)


@numba.njit(**_NJ)
def conv2d_backward(dx, dw, db, dy, x, w, stride, need_dx):
    """dw += dL/dw, db += dL/db and, if need_dx, dx += dL/dx, given dy = dL/dy."""
    N, H, W, C = x.shape
    KH, KW, _, O = w.shape
    _, OH, OW, _ = dy.shape
    M = N * OH * OW
    KWC = KW * C
    dyf = dy.reshape(-1)
    xf = x.reshape(-1)
    dwf = dw.reshape(-1)
    # db
    for m in range(M):
        for o in range(O):
            db[o] += dyf[m * O + o]
    # dW: rows j = kx*C+c (per ky), cols o, reduction over (n, oy, ox)
    jrow = np.empty(KWC, np.int64)
    arow = np.empty(KWC, np.int64)
    for ky in range(KH):
        for j in range(KWC):
            jrow[j] = (ky * KWC + j) * O
            arow[j] = ky * W * C + j
        _gemm_any(dwf, jrow, xf, arow, dyf, 0, KWC, O,
                  N, H * W * C, OH * OW * O, OH, stride * W * C, OW * O,
                  OW, stride * C, O, False)
    if need_dx:
        K = KH * KWC
        wf = w.reshape(-1)
        wt = np.empty(w.size, w.dtype)          # w transposed to (C_out, KH*KW*C_in)
        for k in range(K):
            for o in range(O):
                wt[o * K + k] = wf[k * O + o]
        poff, yoff = _pixel_tables(N, H, W, C, OH, OW, stride, O)
        dxf = dx.reshape(-1)
        crow = np.empty(M, np.int64)
        for ky in range(KH):
            for m in range(M):
                crow[m] = poff[m] + ky * W * C
            _gemm_any(dxf, crow, dyf, yoff, wt, ky * KWC, M, KWC,
                      1, 0, 0, 1, 0, 0, O, 1, K, False)


# --------------------------------------------------------------------------- dense
@numba.njit(**_NJ)
def dense_forward(y, x, w, b, relu=False):
    N, K = x.shape
    O = w.shape[1]
    for n in range(N):
        for o in range(O):
            y[n, o] = b[o]
    crow = np.empty(N, np.int64)
    arow = np.empty(N, np.int64)
    for n in range(N):
        crow[n] = n * O
        arow[n] = n * K
    _gemm_any(y.reshape(-1), crow, x.reshape(-1), arow, w.reshape(-1), 0, N, O,
              1, 0, 0, 1, 0, 0, K, 1, O, relu)


@numba.njit(**_NJ)
def dense_backward(dx, dw, db, dy, x, w, need_dx):
    N, K = x.shape
    O = w.shape[1]
    for n in range(N):
        for o in range(O):
            db[o] += dy[n, o]
    # dW[k, o] += sum_n x[n, k] dy[n, o]
    crow = np.empty(K, np.int64)
    arow = np.empty(K, np.int64)
    for k in range(K):
        crow[k] = k * O
        arow[k] = k
    _gemm_any(dw.reshape(-1), crow, x.reshape(-1), arow, dy.reshape(-1), 0, K, O,
              1, 0, 0, 1, 0, 0, N, K, O, False)
    if need_dx:
        _dense_dx(dx, dy, w)


@numba.njit(**_NJ)
def _dense_dx(dx, dy, w):
    # dx[n, k] += sum_o dy[n, o] w[k, o]   (reduction over the contiguous o dim)
    N, K = dx.shape
    O = w.shape[1]
    O16 = O // 16 * 16
    if O16 > 0:
        dxf = dx.reshape(-1)
        dyf = dy.reshape(-1)
        wf = w.reshape(-1)
        if N == 1:
            _dotk(8, 1, dxf, dyf, wf, N, K, O, O16)
        elif N == 2:
            _dotk(8, 2, dxf, dyf, wf, N, K, O, O16)
        elif N == 3:
            _dotk(6, 3, dxf, dyf, wf, N, K, O, O16)
        elif N == 4:
            _dotk(5, 4, dxf, dyf, wf, N, K, O, O16)
        else:
            _dotk(4, 5, dxf, dyf, wf, N, K, O, O16)
    if O16 < O:
        for n in range(N):
            for o in range(O16, O):
                d = dy[n, o]
                for k in range(K):
                    dx[n, k] += d * w[k, o]


# --------------------------------------------------------------------------- relu
@numba.njit(**_NJ)
def relu_forward(y, x):
    yf = y.reshape(-1)
    xf = x.reshape(-1)
    for i in range(xf.size):
        v = xf[i]
        yf[i] = v if v > 0 else 0.0


@numba.njit(**_NJ)
def relu_backward(dx, dy, y):
    dxf = dx.reshape(-1)
    dyf = dy.reshape(-1)
    yf = y.reshape(-1)
    for i in range(dxf.size):
        if yf[i] > 0:
            dxf[i] += dyf[i]


# ----------------------------------------------------------------------- softplus
@numba.njit(**_NJ)
def softplus_forward(y, x):
    """y = log(1 + exp(x)), computed as max(x, 0) + log1p(exp(-|x|)): no overflow."""
    yf = y.reshape(-1)
    xf = x.reshape(-1)
    for i in range(xf.size):
        v = xf[i]
        yf[i] = max(v, 0.0) + np.log1p(np.exp(-abs(v)))


@numba.njit(**_NJ)
def softplus_backward(dx, dy, x):
    """dx += dy * sigmoid(x), the derivative of softplus at its input x."""
    dxf = dx.reshape(-1)
    dyf = dy.reshape(-1)
    xf = x.reshape(-1)
    for i in range(xf.size):
        v = xf[i]
        if v >= 0:
            s = 1.0 / (1.0 + np.exp(-v))
        else:
            e = np.exp(v)
            s = e / (1.0 + e)
        dxf[i] += dyf[i] * s
