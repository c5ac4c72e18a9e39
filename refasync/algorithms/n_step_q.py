"""Asynchronous n-step Q-learning, for each actor-learner thread (Mnih et al.
2016, supplementary Algorithm 2).  The seed notes title this box "one-step
Q-learning" (ERRATUM 1: it is n-step Q-learning) and swap theta^- and theta'
in lines 5-6 (ERRATUM 2); the lines below follow the paper's intent.

    L1   // Assume global shared parameter vector theta
    L2   // Assume global shared target parameter vector theta^-
    L3   // Assume global shared counter T = 0
    L4   Initialize thread step counter t <- 1
    L5   Initialize target network parameters theta^- <- theta
    L6   Initialize thread-specific parameters theta' = theta
    L7   Initialize network gradients d_theta <- 0
    L8   repeat
    L9       Clear gradients d_theta <- 0
    L10      Synchronize thread-specific parameters theta' = theta
    L11      t_start = t                            (ERRATUM 3: the seed writes t_target)
    L12      Get state s_t
    L13      repeat
    L14          Take action a_t according to the epsilon-greedy policy based on Q(s_t, a; theta')
    L15          Receive reward r_t and new state s_{t+1}
    L16          t <- t + 1
    L17          T <- T + 1
    L18      until terminal s_t or t - t_start == t_max
    L19      R = 0 for terminal s_t;  max_a Q(s_t, a; theta^-) for non-terminal s_t
    L20      for i in {t-1, ..., t_start} do
    L21          R <- r_i + gamma R
    L22          Accumulate gradients wrt theta':
                     d_theta <- d_theta + d(R - Q(s_i, a_i; theta'))^2 / d theta'
    L23      end for
    L24      Perform asynchronous update of theta using d_theta.
    L25      if T mod I_target == 0 then
    L26          theta^- <- theta
    L27      end if
    L28  until T > T_max

Implicit lines: L1-L3, L27 (no code of their own: the shared arrays of L1-L3
are ``ctx.shared``, L27 is "end if").

The worker is a generator that yields after each asynchronous update (L24).
"""
from __future__ import annotations

import numpy as np

from ..losses import q_loss_grad
from ..targets import n_step_returns
from .common import report
from .policies import epsilon_at, epsilon_greedy, final_epsilon, q_values
from .update import AsynchronousUpdate


def worker(ctx):
    cfg, net, env, rng = ctx.cfg, ctx.net, ctx.env, ctx.rng
    theta, theta_minus, T = ctx.shared.theta, ctx.shared.theta_minus, ctx.shared.T
    T_max, gamma, t_max = cfg.steps, cfg.gamma, cfg.t_max
    update = AsynchronousUpdate(ctx)
    eps_final = final_epsilon(ctx)                     # ADDITION 8: per-thread final epsilon

    def policy(q):
        return epsilon_greedy(q, epsilon_at(T.value, eps_final, cfg.eps_anneal_steps), rng)

    # [Alg2 L4] t = 1; s None: a new episode starts (ADDITION 11); or where a resumed worker stopped
    t, s = ctx.start(t=1, s=None)
    # [Alg2 L5] DEVIATION 3: theta^- <- theta is done once by the runner.
    theta_prime = theta.copy()                        # [Alg2 L6] the worker's own theta' = theta
    d_theta = np.zeros_like(theta)                                                # [Alg2 L7]
    while T.value <= T_max:                                                       # [Alg2 L8, L28]
        if s is None:                                 # ADDITION 11: a new episode after a terminal
            s = env.reset()
        d_theta[:] = 0                                                            # [Alg2 L9]
        theta_prime[:] = theta                                                    # [Alg2 L10]
        t_start = t                                                               # [Alg2 L11]
        # [Alg2 L12] s_t is s: the state the last segment ended in, or a new episode's first
        q, a, r, caches = [], [], [], []
        target_due = False
        while True:                                                               # [Alg2 L13]
            q_t, cache_t = q_values(net, theta_prime, s)
            a_t = policy(q_t)                                                     # [Alg2 L14]
            s, r_t, terminal, truncated = env.step(a_t)                           # [Alg2 L15]
            q.append(q_t), a.append(a_t), r.append(r_t), caches.append(cache_t)
            t += 1                                                                # [Alg2 L16]
            T_now = T.increment()                                                 # [Alg2 L17]
            target_due |= T_now % cfg.I_target == 0       # DEVIATION 2: remembered for L25
            # ADDITION 9: a segment also ends at a time-limit truncation
            if terminal or truncated or t - t_start == t_max:                     # [Alg2 L18]
                break
        # ADDITION 9: on a time-limit truncation s_t is not terminal: bootstrap from it.
        R = 0.0 if terminal else float(q_values(net, theta_minus, s)[0].max())    # [Alg2 L19]
        R_i = n_step_returns(r, R, gamma)                                     # [Alg2 L20-21, L23]
        L, d_q = q_loss_grad(np.stack(q), a, R_i)
        # DEVIATION 4: one backward pass for the whole segment
        net.backward(theta_prime, net.stack_caches(caches), d_q, d_theta)         # [Alg2 L22]
        grad_norm = update(d_theta, T_now)                                        # [Alg2 L24]
        if target_due:                                                            # [Alg2 L25]
            theta_minus[:] = theta                                                # [Alg2 L26]
        if terminal or truncated:
            s = None
        yield report(L, grad_norm, T_now, a, r, R_i, carry={"t": t, "s": s})
