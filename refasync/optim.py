"""Optimizers on flat parameter vectors, in place, one fused Numba loop each.

Whether statistics are shared is decided by the caller, not here: pass the
shared-memory ``g`` to every worker for the paper's *shared RMSProp*, or a
thread-local ``g`` for RMSProp with per-thread statistics.  Nothing is locked
(Hogwild).

Paper (Mnih et al. 2016, Sec. 4 and supplementary Sec. 7), for parameter i:

    shared RMSProp:  g_i <- alpha g_i + (1 - alpha) d_theta_i^2
                     theta_i <- theta_i - lr * d_theta_i / sqrt(g_i + eps)
    momentum SGD:    m_i <- alpha m_i + (1 - alpha) d_theta_i
                     theta_i <- theta_i - lr * m_i

``eps`` is INSIDE the square root, as in the paper.  ``scale`` multiplies
d_theta first; it is how gradient-norm clipping is applied without an extra
pass over the parameters (``scale = clip_coefficient(norm, max_norm)``).

ADDITION 16: a statistic below the dtype's smallest normal number (``g_i`` or
``|m_i|`` < 2^-126 = 1.2e-38 in float32) is stored as 0.  A parameter whose
gradient stays 0 (behind a dead ReLU, or a background pixel on Atari) has g_i
decay as alpha^k into the subnormal range, where round-to-nearest then holds it
for ever: 0.99 * n 2^-149 rounds back to n 2^-149 for n <= 50.  In a Pong run
most of g ends there, and subnormal operands cost a microcode assist on x86.
theta is unchanged bitwise: g_i + eps == eps for any g_i that small (eps > 2^-100),
and lr * m_i is then far below half an ulp of theta_i (|theta_i| > 2^-100 and lr <= 1).
"""
from __future__ import annotations

import math

import numba
import numpy as np


# error_model="numpy": no ZeroDivisionError branch in the loop, so LLVM vectorises it.
# Scalars are cast to the arrays' dtype so that float32 runs stay in float32.
_jit = numba.njit(cache=True, fastmath=True, error_model="numpy")


@_jit
def rmsprop_step(theta, g, d_theta, lr, alpha, eps, scale=1.0):
    """theta, g updated in place from d_theta (times ``scale``); see module doc."""
    F = theta.dtype.type
    lr, alpha, one_minus_alpha, eps, scale = F(lr), F(alpha), F(1.0 - alpha), F(eps), F(scale)
    tiny = F(np.finfo(theta.dtype).tiny)
    for i in range(theta.shape[0]):
        d = d_theta[i] * scale
        gi = alpha * g[i] + one_minus_alpha * d * d
        if gi < tiny:                                    # ADDITION 16: no subnormal g
            gi = F(0.0)
        g[i] = gi
        theta[i] -= lr * d / np.sqrt(gi + eps)


@_jit
def momentum_sgd_step(theta, m, d_theta, lr, alpha, scale=1.0):
    """theta, m updated in place: m <- alpha m + (1 - alpha) d; theta <- theta - lr m."""
    F = theta.dtype.type
    lr, alpha, one_minus_alpha, scale = F(lr), F(alpha), F(1.0 - alpha), F(scale)
    tiny = F(np.finfo(theta.dtype).tiny)
    for i in range(theta.shape[0]):
        mi = alpha * m[i] + one_minus_alpha * (d_theta[i] * scale)
        if abs(mi) < tiny:                               # ADDITION 16: no subnormal m
            mi = F(0.0)
        m[i] = mi
        theta[i] -= lr * mi


@_jit
def grad_norm(d_theta):
    """Euclidean norm ||d_theta||_2, accumulated in float64."""
    s = 0.0
    for i in range(d_theta.shape[0]):
        x = np.float64(d_theta[i])
        s += x * x
    return math.sqrt(s)


def sweep_parts(n, worker_id, update_index, align=64):
    """[slice(start, n), slice(0, start)]: the order in which one update of a
    worker sweeps an n-vector that all workers share, from a start that is a
    fixed hash of (worker_id, update_index): no random stream is consumed.

    Hogwild with shared RMSProp: every update reads and writes all of theta and
    g.  Two workers that sweep in the same order at the same moment fight over
    every cache line, slow each other down equally and so stay in lock-step
    update after update; measured with 2 workers on the 678k-parameter Atari net
    (``tools/profile_worker.py``), an update then took 2.5-6x as long as alone.
    A fixed offset per worker only moves the lock-step elsewhere; a start that
    changes with every update breaks it.  The update of each element is
    unchanged, and so is the result: ``start`` is a multiple of ``align``
    elements, so the vectorised loop splits the elements exactly as one sweep.
    """
    blocks = n // align
    if blocks < 2:
        return [slice(0, n)]
    start = _splitmix64((worker_id << 40) ^ update_index) % blocks * align
    return [slice(start, n), slice(0, start)] if start else [slice(0, n)]


def _splitmix64(x):
    """A 64-bit integer hash (Steele, Lea & Flood 2014, the SplitMix64 finaliser)."""
    m = (1 << 64) - 1
    x = (x + 0x9E3779B97F4A7C15) & m
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & m
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & m
    return x ^ (x >> 31)


def clip_coefficient(norm, max_norm):
    """Factor that rescales a gradient of norm ``norm`` to norm <= ``max_norm``.

    ``max_norm <= 0`` or ``None`` disables clipping (factor 1).  Non-finite
    norms give 1 so that the NaN/Inf check downstream still sees them.
    """
    if not max_norm or max_norm <= 0 or not math.isfinite(norm) or norm <= max_norm:
        return 1.0
    return max_norm / norm


def linear_lr(lr0, T, T_max):
    """Learning rate annealed linearly from lr0 at T=0 to 0 at T=T_max (never negative)."""
    return lr0 * max(0.0, 1.0 - T / T_max)
