"""Asynchronous one-step Sarsa: Algorithm 1 of Mnih et al. 2016 with the Sarsa
target (paper Sec. 4): the same box as one-step Q-learning except line L9,

    L9'  y = r                                        for terminal s'
         y = r + gamma Q(s', a'; theta^-)             for non-terminal s'

where a' is the action taken in s'.  So a' is chosen (epsilon-greedy on
Q(s', .; theta)) BEFORE the target is computed, and is the action taken at
the next step: line L7 only chooses an action at the start of an episode.
Line numbers are those of ``one_step_q``'s docstring, with L9' for L9; the same
lines are implicit (L1, L15, L19).
"""
from __future__ import annotations

import numpy as np

from ..losses import q_loss_grad
from ..targets import one_step_sarsa_target
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
    a_log, r_log, y_log, a_next_log = [], [], [], []     # what the update reports
    # [Alg1 L2] t = 0; s None: a new episode starts; or where a resumed worker stopped
    t, s, a = ctx.start(t=0, s=None, a=None)
    # [Alg1 L3] DEVIATION 3: theta^- <- theta is done once by the runner.
    d_theta = np.zeros_like(theta)                                                # [Alg1 L4]
    q_s = None                    # None: evaluate Q(s, .) again
    while T.value <= T_max:                                                       # [Alg1 L6, L20]
        if s is None:                                 # ADDITION 11: and after a terminal
            s = env.reset()                                                       # [Alg1 L5]
            q_s, cache_s = q_values(net, theta, s)
            a = policy(q_s)                           # an episode's first action    [Alg1 L7]
        elif q_s is None:
            # DEVIATION 5: a was chosen before the last update; L10 differentiates
            # Q(s, a; theta) at the theta it is accumulated at, so evaluate it again.
            q_s, cache_s = q_values(net, theta, s)
        s_next, r, terminal, truncated = env.step(a)                              # [Alg1 L8]
        q_next, cache_next = q_values(net, theta, s_next)
        a_next = policy(q_next)                       # DEVIATION 5: a' chosen here  [Alg1 L7]
        q_next_minus, _ = q_values(net, theta_minus, s_next)
        # ADDITION 9: a time-limit truncation is not terminal: bootstrap from s'.
        y = one_step_sarsa_target([r], q_next_minus[None], [a_next], [terminal],
                                  gamma)                                          # [Alg1 L9']
        L, d_q = q_loss_grad(q_s[None], [a], y)
        caches.append(cache_s), d_qs.append(d_q)                                  # [Alg1 L10]
        a_log.append(a), r_log.append(r), y_log.append(float(y[0])), a_next_log.append(a_next)
        loss += L
        s, a, q_s, cache_s = s_next, a_next, q_next, cache_next                   # [Alg1 L11]
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
            q_s = None
            if episode_over:
                s = None
            carry = {"t": t, "s": s, "a": a}
            yield report(loss, grad_norm, T_now, a_log, r_log, y_log, carry, a_next=a_next_log)
            a_log, r_log, y_log, a_next_log = [], [], [], []
            loss = 0.0
