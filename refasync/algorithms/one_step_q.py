"""Asynchronous one-step Q-learning: Algorithm 1 of Mnih et al. 2016, for each
actor-learner thread.  The seed notes number this box irregularly; the lines
are numbered once here, and the code carries ``# [Alg1 Ln]`` tags.

    L1   // Assume global shared theta, theta^-, and counter T = 0.
    L2   Initialize thread step counter t <- 0
    L3   Initialize target network weights theta^- <- theta
    L4   Initialize network gradients d_theta <- 0
    L5   Get initial state s
    L6   repeat
    L7       Take action a with epsilon-greedy policy based on Q(s, a; theta)
    L8       Receive new state s' and reward r
    L9       y = r                                        for terminal s'
             y = r + gamma max_a' Q(s', a'; theta^-)      for non-terminal s'
    L10      Accumulate gradients wrt theta: d_theta <- d_theta + d(y - Q(s, a; theta))^2 / d theta
    L11      s = s'
    L12      T <- T + 1 and t <- t + 1
    L13      if T mod I_target == 0 then
    L14          Update the target network theta^- <- theta
    L15      end if
    L16      if t mod I_AsyncUpdate == 0 or s is terminal then
    L17          Perform asynchronous update of theta using d_theta.
    L18          Clear gradients d_theta <- 0.
    L19      end if
    L20  until T > T_max

Implicit lines: L1, L15, L19 (no code of their own: L1's shared arrays are
``ctx.shared``, L15 and L19 are "end if").

Algorithm 1 reads the shared theta directly (no thread copy).  The worker is
a generator that yields after each asynchronous update (L17).
"""
from __future__ import annotations

import numpy as np

from ..losses import q_loss_grad
from ..targets import one_step_q_target
from .common import report
from .policies import epsilon_at, epsilon_greedy, final_epsilon, q_values
from .update import AsynchronousUpdate


def worker(ctx):
    cfg, net, env, rng = ctx.cfg, ctx.net, ctx.env, ctx.rng
    theta, theta_minus, T = ctx.shared.theta, ctx.shared.theta_minus, ctx.shared.T
    T_max, gamma = cfg.steps, cfg.gamma
    update = AsynchronousUpdate(ctx)
    eps_final = final_epsilon(ctx)                     # ADDITION 8: per-thread final epsilon

    def policy(q):
        return epsilon_greedy(q, epsilon_at(T.value, eps_final, cfg.eps_anneal_steps), rng)

    loss = 0.0
    caches, d_qs = [], []        # DEVIATION 4: L10's terms, back-propagated together at L17
    a_log, r_log, y_log = [], [], []         # what the update reports

    # (ERRATUM 4: the seed notes' numbering of this box is garbled; see the docstring.)
    # [Alg1 L2] t = 0; s None: a new episode starts; or where a resumed worker stopped
    t, s = ctx.start(t=0, s=None)
    # [Alg1 L3] DEVIATION 3: theta^- is global, so the runner copies theta^- <- theta
    # once before any worker starts, not once per thread.
    d_theta = np.zeros_like(theta)                                                # [Alg1 L4]
    while T.value <= T_max:                                                       # [Alg1 L6, L20]
        if s is None:                                 # ADDITION 11: and after a terminal
            s = env.reset()                                                       # [Alg1 L5]
        q_s, cache_s = q_values(net, theta, s)
        a = policy(q_s)                                                           # [Alg1 L7]
        s_next, r, terminal, truncated = env.step(a)                              # [Alg1 L8]
        # ADDITION 9: a time-limit truncation is not terminal: bootstrap from s'.
        q_next_minus, _ = q_values(net, theta_minus, s_next)
        y = one_step_q_target([r], q_next_minus[None], [terminal], gamma)         # [Alg1 L9]
        L, d_q = q_loss_grad(q_s[None], [a], y)
        caches.append(cache_s), d_qs.append(d_q)                                  # [Alg1 L10]
        a_log.append(a), r_log.append(r), y_log.append(float(y[0]))
        loss += L
        s = s_next                                                                # [Alg1 L11]
        T_now = T.increment()                                                     # [Alg1 L12]
        t += 1
        if T_now % cfg.I_target == 0:                                             # [Alg1 L13]
            theta_minus[:] = theta                                                # [Alg1 L14]
        episode_over = terminal or truncated
        # ADDITION 9: a time-limit truncation also ends the accumulation
        if t % cfg.I_async_update == 0 or episode_over:                           # [Alg1 L16]
            d_q = np.concatenate(d_qs)
            net.backward(theta, net.stack_caches(caches), d_q, d_theta)           # [Alg1 L10]
            grad_norm = update(d_theta, T_now)                                    # [Alg1 L17]
            d_theta[:] = 0                                                        # [Alg1 L18]
            caches.clear(), d_qs.clear()
            if episode_over:
                s = None
            yield report(loss, grad_norm, T_now, a_log, r_log, y_log, carry={"t": t, "s": s})
            a_log, r_log, y_log = [], [], []
            loss = 0.0
