"""Acting: the epsilon-greedy exploration of the Q methods (with the per-thread final
epsilon, ADDITION 8) and the policies of A3C (softmax; Gaussian for continuous
actions), each with the gradient of its objective."""
from __future__ import annotations

import numpy as np

from ..losses import a3c_loss_grad, gaussian_loss_grad
from ..nn.kernels import softplus_forward


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


def q_values(net, theta, s):
    """Q(s, . ; theta) for one state, and the forward cache (for the gradient)."""
    out, cache = net.forward(theta, s[None])
    return out[0], cache
