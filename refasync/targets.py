"""Targets and returns: pure functions, no environment, no RNG, no shared memory.

Index conventions (as in the pseudocode): a segment covers thread steps
``t_start, ..., t-1``; ``r[i]`` is the reward received after action ``a[i]`` in
state ``s[i]``; the segment ends in state ``s_t``.  The bootstrap value is the
pseudocode's initial ``R``:

    R = 0                         for terminal s_t
    R = max_a Q(s_t, a; theta^-)  n-step Q-learning (Alg. 2 L19)
    R = V(s_t; theta'_v)          A3C (Alg. 3 L15)

On a time-limit truncation ``s_t`` is not terminal, so the caller passes the
bootstrap value of ``s_t`` (see docs/implementation-details.md).
"""
from __future__ import annotations

import numpy as np


def n_step_returns(rewards, bootstrap, gamma):
    """n-step returns of one segment by the pseudocode's backward recursion.

        R <- bootstrap
        for i = t-1, ..., t_start:  R <- r_i + gamma * R;  R_i = R

    so that ``R_i = sum_{k=0}^{t-1-i} gamma^k r_{i+k} + gamma^{t-i} bootstrap``.

    Args:
      rewards: r_{t_start}, ..., r_{t-1}, shape (n,).
      bootstrap: R before the loop (0 for a terminal s_t).
      gamma: discount in [0, 1].
    Returns:
      R_{t_start}, ..., R_{t-1}, shape (n,), float64.
    """
    rewards = np.asarray(rewards, dtype=np.float64)
    if rewards.ndim != 1:
        raise ValueError(f"rewards must be 1-D, got shape {rewards.shape}")
    returns = np.empty_like(rewards)
    R = float(bootstrap)
    for i in range(len(rewards) - 1, -1, -1):  # [Alg2 L20-21] [Alg3 L16-17]
        R = rewards[i] + gamma * R
        returns[i] = R
    return returns


def one_step_q_target(r, q_next_minus, terminal, gamma):
    """One-step Q-learning target (Alg. 1 L9), batched over the leading axis.

        y = r                                        for terminal s'
        y = r + gamma * max_a' Q(s', a'; theta^-)    otherwise

    Args:
      r: rewards, shape (B,).
      q_next_minus: Q(s', . ; theta^-), shape (B, A).
      terminal: bool, shape (B,): s' terminal (gymnasium ``terminated``).
      gamma: discount.
    """
    q_next_minus = np.asarray(q_next_minus, dtype=np.float64)
    bootstrap = np.where(terminal, 0.0, q_next_minus.max(axis=-1))
    return np.asarray(r, dtype=np.float64) + gamma * bootstrap


def one_step_sarsa_target(r, q_next_minus, a_next, terminal, gamma):
    """One-step Sarsa target, batched over the leading axis.

        y = r                                        for terminal s'
        y = r + gamma * Q(s', a'; theta^-)           otherwise,

    where a' is the action actually taken in s' (chosen before the target).

    Args:
      r: rewards, shape (B,).
      q_next_minus: Q(s', . ; theta^-), shape (B, A).
      a_next: a', int, shape (B,) (ignored where terminal).
      terminal: bool, shape (B,).
      gamma: discount.
    """
    q_next_minus = np.asarray(q_next_minus, dtype=np.float64)
    a_next = np.asarray(a_next, dtype=np.int64)
    q_sa = np.take_along_axis(q_next_minus, a_next[..., None], axis=-1)[..., 0]
    bootstrap = np.where(terminal, 0.0, q_sa)
    return np.asarray(r, dtype=np.float64) + gamma * bootstrap
