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


def gaussian_loss_grad(mu, sigma2_in, v, a, R, beta=0.0, value_scale=1.0):
    """A3C objective of one segment with a Gaussian policy (paper supp. Sec. 9) and its
    gradient w.r.t. the policy's outputs and the value.

        sigma^2 = softplus(sigma2_in) = log(1 + exp(sigma2_in))     (B, S), S = 1 or D
        log pi(a|s) = sum_d [-1/2 log(2 pi sigma_d^2) - (a_d - mu_d)^2 / (2 sigma_d^2)]
        H(pi)       = sum_d 1/2 (log(2 pi sigma_d^2) + 1)           (differential entropy)
        L = sum_i [ -log pi(a_i|s_i) * A_i - beta * H_i + value_scale * (R_i - V_i)^2 ]

    with the advantage A_i = R_i - V_i held constant in the policy term; S = 1 is
    the paper's spherical covariance (one sigma^2 for every action dimension).
    Gradients, with u = a - mu:

        dL/dmu_d      = -A u_d / sigma_d^2
        dL/dsigma_d^2 = -A (u_d^2 / (2 sigma_d^4) - 1 / (2 sigma_d^2)) - beta / (2 sigma_d^2)
                        (summed over d when S = 1)
        dL/dsigma2_in = dL/dsigma^2 * sigmoid(sigma2_in)
        dL/dV         = -2 value_scale (R - V)

    ``a`` is the sampled action itself, not its clipped value (see
    docs/implementation-details.md): the log-probability is of what was drawn.

    Args:
      mu: (B, D).  sigma2_in: (B, S), S in {1, D}, before the SoftPlus.  v: (B,).
      a: (B, D) sampled actions.  R: (B,) n-step returns.
    Returns:
      (terms, d_mu, d_sigma2_in, d_v); terms has ``loss``, ``policy_loss``,
      ``entropy`` (summed), ``value_loss``; gradients have the inputs' dtypes.
    """
    from .nn.kernels import softplus_backward, softplus_forward
    mu64 = np.asarray(mu, dtype=np.float64)
    x = np.ascontiguousarray(sigma2_in, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] not in (1, mu64.shape[1]):
        raise ValueError(f"sigma2_in must be (B, 1) or (B, {mu64.shape[1]}), got {x.shape}")
    sigma2 = np.empty_like(x)
    softplus_forward(sigma2, x)
    s2 = np.broadcast_to(sigma2, mu64.shape)
    u = np.asarray(a, dtype=np.float64) - mu64
    advantage = np.asarray(R, dtype=np.float64) - np.asarray(v, dtype=np.float64)
    log_2pi_s2 = np.log(2.0 * np.pi * s2)
    log_pi = (-0.5 * log_2pi_s2 - u * u / (2.0 * s2)).sum(axis=1)
    H = (0.5 * (log_2pi_s2 + 1.0)).sum(axis=1)

    A = advantage[:, None]
    d_mu = -A * u / s2
    d_s2 = -A * (u * u / (2.0 * s2 * s2) - 1.0 / (2.0 * s2)) - beta / (2.0 * s2)
    if x.shape[1] == 1:
        d_s2 = d_s2.sum(axis=1, keepdims=True)
    d_x = np.zeros_like(x)
    softplus_backward(d_x, np.ascontiguousarray(d_s2), x)
    d_v = -2.0 * value_scale * advantage

    policy_loss = float(-(log_pi * advantage).sum())
    value_loss = float(value_scale * (advantage * advantage).sum())
    entropy = float(H.sum())
    terms = {"loss": policy_loss - beta * entropy + value_loss, "policy_loss": policy_loss,
             "entropy": entropy, "value_loss": value_loss}
    return (terms, d_mu.astype(np.asarray(mu).dtype), d_x.astype(np.asarray(sigma2_in).dtype),
            d_v.astype(np.asarray(v).dtype))
