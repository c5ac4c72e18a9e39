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
    for i in range(theta.shape[0]):
        d = d_theta[i] * scale
        gi = alpha * g[i] + one_minus_alpha * d * d
        g[i] = gi
        theta[i] -= lr * d / np.sqrt(gi + eps)


@_jit
def momentum_sgd_step(theta, m, d_theta, lr, alpha, scale=1.0):
    """theta, m updated in place: m <- alpha m + (1 - alpha) d; theta <- theta - lr m."""
    F = theta.dtype.type
    lr, alpha, one_minus_alpha, scale = F(lr), F(alpha), F(1.0 - alpha), F(scale)
    for i in range(theta.shape[0]):
        mi = alpha * m[i] + one_minus_alpha * (d_theta[i] * scale)
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
