"""The "asynchronous update of theta using d_theta" that every box ends with."""
from __future__ import annotations

import math

import numpy as np

from ..errors import NonFiniteError
from ..optim import (clip_coefficient, grad_norm, linear_lr, momentum_sgd_step, rmsprop_step,
                     sweep_parts)


# Supplementary Sec. 7: with momentum SGD "each thread i independently applies"
# m_i <- alpha m_i + (1 - alpha) d_theta_i, so m_i is the thread's own; RMSProp
# "with per-thread statistics" keeps g_i per thread (the paper's comparison).
PER_THREAD_OPTIMIZERS = ("rmsprop", "momentum_sgd")


class AsynchronousUpdate:
    """"Perform asynchronous update of theta using d_theta" (Alg. 1 L17,
    Alg. 2 L24, Alg. 3 L21): no lock (Hogwild).

    Adds, each named in docs/implementation-details.md: gradient-norm clipping
    (ADDITION 2), the optimizer (ADDITION 4), linear learning-rate annealing
    (ADDITION 5), and a NaN/Inf check on the gradient (ADDITION 10).
    """

    def __init__(self, ctx):
        self.cfg = ctx.cfg
        self.worker_id = ctx.worker_id
        self.theta = ctx.shared.theta
        if self.cfg.optimizer in PER_THREAD_OPTIMIZERS:    # thread i's own g_i or m_i
            if ctx.thread_stat is None:
                ctx.thread_stat = np.zeros_like(self.theta)
            self.stat = ctx.thread_stat
        else:                                              # one g (or m) shared by all
            self.stat = ctx.shared.opt_stat
        self.updates = 0

    def __call__(self, d_theta, T):
        """Apply d_theta at global step T; returns the gradient norm before clipping."""
        cfg = self.cfg
        norm = grad_norm(d_theta)
        if not math.isfinite(norm):                                   # ADDITION 10: NaN/Inf check
            raise NonFiniteError(f"non-finite gradient (norm {norm}) in worker {self.worker_id} "
                                 f"at T={T}")
        scale = clip_coefficient(norm, cfg.max_grad_norm)             # ADDITION 2: norm clipping
        lr = linear_lr(cfg.lr, T, cfg.steps) if cfg.lr_anneal else cfg.lr   # ADDITION 5: annealing
        # Each update sweeps theta and g from its own start (optim.sweep_parts): the
        # same update, without two workers fighting over the same cache lines.
        self.updates += 1
        for p in sweep_parts(self.theta.shape[0], self.worker_id, self.updates):
            theta, stat, d = self.theta[p], self.stat[p], d_theta[p]
            # ADDITION 4: the optimizer (the paper compares these; shared RMSProp by default)
            if cfg.optimizer in ("momentum_sgd", "shared_momentum_sgd"):
                momentum_sgd_step(theta, stat, d, lr, cfg.momentum, scale)
            else:
                rmsprop_step(theta, stat, d, lr, cfg.rms_alpha, cfg.rms_eps, scale)
        return norm
