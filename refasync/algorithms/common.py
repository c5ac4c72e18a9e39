"""What the four worker loops share: the worker's context, exploration, action
sampling and the "asynchronous update of theta using d_theta".

Nothing here knows about processes: the same worker generator runs in a
worker process (runner.run_processes) or interleaved with others in one
process (runner.run_deterministic).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..errors import NonFiniteError  # noqa: F401  (algorithms.common.NonFiniteError, as before)
from ..losses import a3c_loss_grad, gaussian_loss_grad
from ..nn.kernels import softplus_forward
from ..optim import (clip_coefficient, grad_norm, linear_lr, momentum_sgd_step, rmsprop_step,
                     sweep_parts)


# Supplementary Sec. 7: with momentum SGD "each thread i independently applies"
# m_i <- alpha m_i + (1 - alpha) d_theta_i, so m_i is the thread's own; RMSProp
# "with per-thread statistics" keeps g_i per thread (the paper's comparison).
PER_THREAD_OPTIMIZERS = ("rmsprop", "momentum_sgd")


@dataclass
class Shared:
    """Global state of the pseudocode, shared by all actor-learners.

    theta:        the parameters (theta and theta_v of Alg. 3 share one vector)
    theta_minus:  target parameters of the Q methods (None for A3C)
    opt_stat:     the optimizer statistic shared by all workers (shared RMSProp's g,
                  or m of the shared-momentum variant); unused by the per-thread
                  optimizers (RMSProp with per-thread g, the paper's momentum SGD)
    T:            the global step counter; ``T.increment()`` is atomic and
                  returns the new value, ``T.value`` reads it
    """
    theta: np.ndarray
    theta_minus: np.ndarray | None
    opt_stat: np.ndarray
    T: object


@dataclass
class WorkerContext:
    """Everything one actor-learner thread owns or sees.

    ``eps_final``: the worker's final epsilon when it is given (a resumed run),
    else drawn from ``rng`` first.  ``resume``: the loop-carried values of a
    worker stopped at an update boundary (``t``, ``s`` and for Sarsa ``a``, as
    its updates report them under ``carry``), or None for a fresh start."""
    worker_id: int
    cfg: object            # config.Config
    net: object            # nn.Network
    env: object            # envs.EpisodeEnv
    rng: np.random.Generator
    shared: Shared
    eps_final: float | None = None
    resume: dict | None = None
    thread_stat: np.ndarray | None = None    # per-thread optimizers' g_i or m_i (set by the update)

    def start(self, **fresh):
        """The loop-carried values a worker begins with, in the order given: ``fresh``
        for a new worker, or where this worker stopped when it is resumed."""
        return tuple(self.resume[k] if self.resume is not None else v for k, v in fresh.items())


def report(loss, grad_norm, T, a, r, target, carry, **extra):
    """What a worker yields after each update: the statistics the runner logs, the
    segment the golden traces record, and ``carry``, the loop state it continues from."""
    return {"loss": loss, "grad_norm": grad_norm, "T": T, "a": a, "r": r, "target": target,
            "carry": carry, **extra}


# ---------------------------------------------------------------- exploration
def sample_final_epsilon(rng, finals, probs):
    """Per-thread final epsilon (ADDITION 8): finals[k] with probability probs[k]."""
    return float(finals[rng.choice(len(finals), p=probs)])


def final_epsilon(ctx):
    """The worker's final epsilon: restored on resume, else sampled (ADDITION 8)."""
    if ctx.eps_final is not None:
        return ctx.eps_final
    return sample_final_epsilon(ctx.rng, ctx.cfg.eps_finals, ctx.cfg.eps_probs)


def epsilon_at(T, eps_final, anneal_steps):
    """Linear from 1 at T = 0 to eps_final at T = anneal_steps, constant after."""
    frac = min(1.0, T / anneal_steps)
    return 1.0 + frac * (eps_final - 1.0)


def epsilon_greedy(q, eps, rng):
    """argmax_a q[a] with probability 1 - eps, else a uniform action."""
    if rng.random() < eps:
        return int(rng.integers(q.shape[0]))
    return int(np.argmax(q))


def sample_action(logits, rng):
    """a ~ softmax(logits), by inverting the cumulative distribution."""
    p = np.exp(logits - logits.max())
    c = np.cumsum(p)
    return int(min(np.searchsorted(c, rng.random() * c[-1], side="right"), len(c) - 1))


class SoftmaxPolicy:
    """pi(.|s) = softmax(logits): the paper's discrete A3C policy."""

    def __init__(self, net):
        pass

    @staticmethod
    def sample(params, rng):
        return sample_action(params, rng)

    @staticmethod
    def loss_grad(params, v, a, R, beta, value_scale):
        """(terms, dL/dparams, dL/dV) of the A3C objective (losses.a3c_loss_grad)."""
        return a3c_loss_grad(params, v, a, R, beta, value_scale)


class GaussianPolicy:
    """pi(.|s) = N(mu, sigma^2 I) with sigma^2 = softplus(sigma2_in) (supp. Sec. 9,
    ADDITION 14): params are the policy network's outputs (mu_in, sigma2_in), and
    mu = mu_in (the paper's linear mean) or, when ``net.bounded_mean``,
    mu = tanh(mu_in), in the normalised action box [-1, 1]^D (DEVIATION 7)."""

    def __init__(self, net):
        self.D = net.n_actions
        self.bounded = net.bounded_mean

    def mean(self, params):
        """mu from the network's outputs (..., D + S)."""
        mu_in = params[..., :self.D]
        return np.tanh(mu_in) if self.bounded else mu_in        # DEVIATION 7: tanh mean

    def sample(self, params, rng):
        """a = mu + sigma * z, z ~ N(0, I): NOT clipped here (the log-probability is of
        this a); the environment wrapper clips it to the action bounds."""
        x = np.ascontiguousarray(params[self.D:])
        sigma2 = np.empty_like(x)
        softplus_forward(sigma2, x)
        return self.mean(params) + np.sqrt(sigma2) * rng.standard_normal(self.D)

    def loss_grad(self, params, v, a, R, beta, value_scale):
        """The loss of ``losses.gaussian_loss_grad`` at mu = mean(params); with the tanh
        mean, dL/dmu_in = dL/dmu (1 - mu^2)."""
        mu = self.mean(params)
        terms, d_mu, d_x, d_v = gaussian_loss_grad(mu, params[:, self.D:], v, np.asarray(a), R,
                                                   beta, value_scale)
        if self.bounded:
            d_mu = d_mu * (1.0 - mu * mu)
        return terms, np.concatenate([d_mu, d_x], axis=1), d_v


POLICIES = {"actor_critic": SoftmaxPolicy, "gaussian": GaussianPolicy}


# ---------------------------------------------------------------- the update
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


def q_values(net, theta, s):
    """Q(s, . ; theta) for one state, and the forward cache (for the gradient)."""
    out, cache = net.forward(theta, s[None])
    return out[0], cache
