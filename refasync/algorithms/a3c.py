"""Asynchronous advantage actor-critic (A3C), for each actor-learner thread
(Mnih et al. 2016, Algorithm 3; feed-forward, no LSTM).  Line numbers are the
seed notes'; the code carries ``# [Alg3 Ln]`` tags.

    L1   // Assume global shared parameter vectors theta and theta_v and global shared counter T = 0
    L2   // Assume thread-specific parameter vectors theta' and theta'_v
    L3   Initialize thread step counter t <- 1
    L4   repeat
    L5       Reset gradients: d_theta <- 0 and d_theta_v <- 0.
    L6       Synchronize thread-specific parameters theta' = theta and theta'_v = theta_v
    L7       t_start = t                            (ERRATUM 3: the seed writes t_target)
    L8       Get state s_t
    L9       repeat
    L10          Perform a_t according to policy pi(a_t | s_t; theta')
    L11          Receive reward r_t and new state s_{t+1}
    L12          t <- t + 1
    L13          T <- T + 1
    L14      until terminal s_t or t - t_start == t_max
    L15      R = 0 for terminal s_t;  V(s_t; theta'_v) for non-terminal s_t
                 // Bootstrap from last state
    L16      for i in {t-1, ..., t_start} do
    L17          R <- r_i + gamma R
    L18          Accumulate gradients wrt theta':
                     d_theta <- d_theta + grad_theta' log pi(a_i|s_i; theta') (R - V(s_i; theta'_v))
    L19          Accumulate gradients wrt theta'_v:
                     d_theta_v <- d_theta_v + d(R - V(s_i; theta'_v))^2 / d theta'_v
    L20      end for
    L21      Perform asynchronous update of theta using d_theta and of theta_v using d_theta_v.
    L22  until T > T_max

Implicit lines: L1, L2 (declarations with no code of their own: the shared arrays
are ``ctx.shared``, theta' is the worker's own array, allocated before the loop and
filled by L6).

theta and theta_v share every layer but the last (paper Sec. 8), so they are
ONE flat vector here, and d_theta, d_theta_v one gradient vector: L18 and L19
accumulate into the same array, and L21 is one optimizer step.  The policy
term enters as the gradient of -log pi * (R - V), a quantity to minimise
(DEVIATION 1), plus the entropy bonus (ADDITION 1) and the value scale
(ADDITION 3).  The worker is a generator that yields after each update (L21).
"""
from __future__ import annotations

import numpy as np

from ..targets import n_step_returns
from .common import report
from .policies import POLICIES
from .update import AsynchronousUpdate


def worker(ctx):
    cfg, net, env, rng = ctx.cfg, ctx.net, ctx.env, ctx.rng
    theta, T = ctx.shared.theta, ctx.shared.T
    T_max, gamma, t_max = cfg.steps, cfg.gamma, cfg.t_max
    update = AsynchronousUpdate(ctx)
    pi = POLICIES[net.head](net)      # softmax over actions, or Gaussian (ADDITION 14)

    def policy_and_value(theta_prime, s):
        """The policy's parameters (logits, or mu and sigma2_in), V(s) and the cache:
        the network's outputs are [policy parameters..., V]."""
        out, cache = net.forward(theta_prime, s[None])
        return out[0, :-1], out[0, -1], cache

    # theta' (L2) is the worker's own array; d_theta, d_theta_v one gradient array
    theta_prime, d_theta = np.empty_like(theta), np.zeros_like(theta)
    # [Alg3 L3] t = 1; s None: a new episode starts (ADDITION 11); or where a resumed worker stopped
    t, s = ctx.start(t=1, s=None)
    while T.value <= T_max:                                                       # [Alg3 L4, L22]
        if s is None:                                 # ADDITION 11: a new episode after a terminal
            s = env.reset()
        d_theta[:] = 0                                                            # [Alg3 L5]
        theta_prime[:] = theta                                                    # [Alg3 L6]
        t_start = t                                                               # [Alg3 L7]
        # [Alg3 L8] s_t is s: the state the last segment ended in, or a new episode's first
        params, v, a, r, caches = [], [], [], [], []     # params: each step's policy parameters
        while True:                                                               # [Alg3 L9]
            params_t, v_t, cache_t = policy_and_value(theta_prime, s)
            a_t = pi.sample(params_t, rng)                                        # [Alg3 L10]
            s, r_t, terminal, truncated = env.step(a_t)                           # [Alg3 L11]
            params.append(params_t), v.append(v_t), a.append(a_t), r.append(r_t)
            caches.append(cache_t)
            t += 1                                                                # [Alg3 L12]
            T_now = T.increment()                                                 # [Alg3 L13]
            # ADDITION 9: a segment also ends at a time-limit truncation
            if terminal or truncated or t - t_start == t_max:                     # [Alg3 L14]
                break
        # ADDITION 9: on a time-limit truncation s_t is not terminal: bootstrap from it.
        R = 0.0 if terminal else float(policy_and_value(theta_prime, s)[1])       # [Alg3 L15]
        R_i = n_step_returns(r, R, gamma)                                     # [Alg3 L16-17, L20]
        # DEVIATION 1: the policy term is -log pi * (R - V), minimised with the value term
        # ADDITION 1: the entropy bonus beta; ADDITION 3: the value-loss scale
        terms, d_params, d_v = pi.loss_grad(np.stack(params), np.array(v), a, R_i,
                                            cfg.beta, cfg.value_scale)
        d_out = np.concatenate([d_params, d_v[:, None]], axis=1)
        # DEVIATION 4: one backward pass for the whole segment
        net.backward(theta_prime, net.stack_caches(caches), d_out, d_theta)       # [Alg3 L18-19]
        grad_norm = update(d_theta, T_now)                                        # [Alg3 L21]
        if terminal or truncated:
            s = None
        yield report(terms["loss"], grad_norm, T_now, a, r, R_i, carry={"t": t, "s": s},
                     entropy=terms["entropy"] / len(a))
