"""Losses and their gradients with respect to the network outputs (pure functions).

The workers back-propagate these output gradients through the network
(``Network.backward``), which accumulates ``d_theta <- d_theta + dL/dtheta``.
All sums run over the samples of a segment (no mean), as the pseudocode
accumulates one gradient per step.

Sign convention: every function returns the gradient of a quantity to be
MINIMISED; the optimizer then steps ``theta <- theta - lr * ...``.
"""
from __future__ import annotations

import numpy as np


def q_loss_grad(q, a, y):
    """Value loss of Alg. 1 L10 and Alg. 2 L22: ``L = sum_i (y_i - Q(s_i, a_i))^2``.

    Args:
      q: Q(s_i, . ; theta), shape (B, A).
      a: actions a_i, int, shape (B,).
      y: targets y_i (or n-step returns R_i), shape (B,), held constant.
    Returns:
      (L, dL/dq) with dL/dq[i, a_i] = -2 (y_i - Q(s_i, a_i)) and 0 elsewhere;
      dL/dq has q's dtype.
    """
    q = np.asarray(q)
    a = np.asarray(a, dtype=np.int64)
    rows = np.arange(q.shape[0])
    td = np.asarray(y, dtype=np.float64) - q[rows, a]
    d_q = np.zeros_like(q)
    d_q[rows, a] = -2.0 * td
    return float(np.sum(td * td)), d_q


def log_softmax(logits):
    """log pi(.|s) from logits, row-wise, stable: z - max z - log sum exp(z - max z)."""
    logits = np.asarray(logits, dtype=np.float64)
    z = logits - logits.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


def a3c_loss_grad(logits, v, a, R, beta=0.0, value_scale=1.0):
    """A3C objective of one segment and its gradient w.r.t. logits and value.

        L = sum_i [ -log pi(a_i|s_i) * A_i            policy (Alg. 3 L18, negated)
                    - beta * H(pi(.|s_i))             entropy bonus (paper text)
                    + value_scale * (R_i - V(s_i))^2 ]  value (Alg. 3 L19)

    with the advantage ``A_i = R_i - V(s_i)`` held constant in the policy term
    and ``H(pi) = -sum_b pi_b log pi_b``.  Gradients, with pi = softmax(z):

        dL/dz_ib = -A_i (1[b = a_i] - pi_ib) + beta * pi_ib (log pi_ib + H_i)
        dL/dV_i  = -2 * value_scale * (R_i - V_i)

    The pseudocode accumulates the ascent direction of ``log pi * A``; we
    accumulate the descent direction of its negation, so that one optimizer
    (``theta <- theta - lr * ...``) serves both heads (DEVIATION 1 in
    docs/implementation-details.md).  ``value_scale=1`` is the pseudocode's
    ``(R - V)^2``; the authors used 0.5 (ADDITION 3).

    Args:
      logits: z, shape (B, A).   v: V(s_i), shape (B,).
      a: actions, int (B,).      R: n-step returns, (B,).
    Returns:
      (terms, d_logits, d_v): ``terms`` is a dict of floats ``loss``,
      ``policy_loss``, ``entropy`` (summed), ``value_loss``;
      d_logits (B, A) and d_v (B,) have the dtypes of logits and v.
    """
    logits = np.asarray(logits)
    v = np.asarray(v)
    a = np.asarray(a, dtype=np.int64)
    rows = np.arange(logits.shape[0])
    log_pi = log_softmax(logits)
    pi = np.exp(log_pi)
    H = -(pi * log_pi).sum(axis=-1)
    advantage = np.asarray(R, dtype=np.float64) - v.astype(np.float64)

    onehot = np.zeros_like(pi)
    onehot[rows, a] = 1.0
    d_logits = -advantage[:, None] * (onehot - pi) + beta * pi * (log_pi + H[:, None])
    d_v = -2.0 * value_scale * advantage

    policy_loss = float(-(log_pi[rows, a] * advantage).sum())
    value_loss = float(value_scale * (advantage * advantage).sum())
    entropy = float(H.sum())
    terms = {
        "loss": policy_loss - beta * entropy + value_loss,
        "policy_loss": policy_loss,
        "entropy": entropy,
        "value_loss": value_loss,
    }
    return terms, d_logits.astype(logits.dtype), d_v.astype(v.dtype)
