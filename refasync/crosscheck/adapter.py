"""Adapters: refasync itself seen through the protocol (``RefasyncAdapter``), and
loading someone else's from a file or ``module:object``."""
from __future__ import annotations

import importlib
import importlib.util
import os

import numpy as np

from .. import traces
from ..losses import a3c_loss_grad, gaussian_loss_grad, q_loss_grad
from ..nn import GaussianActorCritic, atari_network, kernels, mlp
from ..optim import rmsprop_step
from ..targets import n_step_returns, one_step_q_target, one_step_sarsa_target


def load_adapter(spec):
    """The adapter object named by a file path or ``module:object``: a file's
    ``ADAPTER`` object if it defines one, else the module itself."""
    if spec.endswith(".py") or os.path.isfile(spec):
        if not os.path.isfile(spec):
            raise ValueError(f"no adapter file {spec!r}")
        mod_spec = importlib.util.spec_from_file_location("refasync_adapter", spec)
        module = importlib.util.module_from_spec(mod_spec)
        mod_spec.loader.exec_module(module)
        return getattr(module, "ADAPTER", module)
    module_name, _, attr = spec.partition(":")
    module = importlib.import_module(module_name)
    return getattr(module, attr) if attr else module


def _forward_backward(net, theta, obs, d_out):
    """(outputs, d_theta) of one forward and one backward pass from d_theta = 0."""
    out, cache = net.forward(theta, obs)
    d_theta = np.zeros_like(theta)
    net.backward(theta, cache, d_out, d_theta)
    return out, d_theta


def record_trace(algo, workers, seed, updates, env="CartPole-v1"):
    """The first ``updates`` asynchronous updates of a ``--deterministic`` run:
    ``--algo algo --workers workers --seed seed --dtype float64`` on CartPole-v1
    with the classic preset.  Per update: the worker, T after its last step, the
    loss, the gradient norm before clipping, sum(theta) and sum(theta^2) after
    the update; and the segment's actions, rewards and targets (one-step) or
    returns (n-step, A3C), concatenated, update k owning [offsets[k], offsets[k+1])."""
    _, seg, run = traces.record(traces.trace_config(algo, workers, seed, env), updates)
    return (seg["worker"], seg["T"], run["loss"], run["grad_norm"], run["theta_sum"], run["theta_sumsq"],
            seg["offsets"], seg["a"], seg["r"], run["target"])


class RefasyncAdapter:
    """refasync itself, seen through the adapter protocol (``protocol.PROTOCOL``)."""

    @staticmethod
    def segment_returns(rewards, terminated, truncated, v_last, gamma):
        return n_step_returns(rewards, 0.0 if terminated else v_last, gamma)

    one_step_q_target = staticmethod(one_step_q_target)
    one_step_sarsa_target = staticmethod(one_step_sarsa_target)

    @staticmethod
    def q_loss_grad(q, a, y):
        return q_loss_grad(q, a, y)[1]

    @staticmethod
    def a3c_loss_grad(logits, v, a, R, beta, value_scale):
        _, d_logits, d_v = a3c_loss_grad(logits, v, a, R, beta, value_scale)
        return d_logits, d_v

    @staticmethod
    def gaussian_loss_grad(mu, sigma2_in, v, a, R, beta, value_scale):
        _, d_mu, d_x, d_v = gaussian_loss_grad(mu, sigma2_in, v, a, R, beta, value_scale)
        return d_mu, d_x, d_v

    @staticmethod
    def mlp_forward_backward(theta, obs, d_out, hidden, n_actions, head):
        return _forward_backward(mlp(obs.shape[1], n_actions, head, hidden=tuple(hidden)), theta, obs, d_out)

    @staticmethod
    def atari_forward_backward(theta, obs, d_out, n_actions, head):
        return _forward_backward(atari_network(n_actions, head), theta, obs, d_out)

    @staticmethod
    def gaussian_forward_backward(theta, obs, d_out, hidden, action_dim, spherical):
        net = GaussianActorCritic(obs.shape[1], action_dim, hidden=tuple(hidden), spherical=spherical)
        return _forward_backward(net, theta, obs, d_out)

    @staticmethod
    def conv2d_forward_backward(x, w, b, stride, dy):
        N, H, W, _ = x.shape
        KH, KW, _, O = w.shape
        y = np.empty((N, (H - KH) // stride + 1, (W - KW) // stride + 1, O), dtype=x.dtype)
        kernels.conv2d_forward(y, x, w, b, stride)
        dx, dw, db = np.zeros_like(x), np.zeros_like(w), np.zeros_like(b)
        kernels.conv2d_backward(dx, dw, db, dy, x, w, stride, True)
        return y, dx, dw, db

    @staticmethod
    def dense_forward_backward(x, w, b, dy):
        y = np.empty((x.shape[0], w.shape[1]), dtype=x.dtype)
        kernels.dense_forward(y, x, w, b)
        dx, dw, db = np.zeros_like(x), np.zeros_like(w), np.zeros_like(b)
        kernels.dense_backward(dx, dw, db, dy, x, w, True)
        return y, dx, dw, db

    @staticmethod
    def rmsprop_steps(theta, g, d_thetas, lr, alpha, eps):
        theta, g = theta.copy(), g.copy()
        for d in d_thetas:
            rmsprop_step(theta, g, d, lr, alpha, eps)
        return theta, g

    @staticmethod
    def q_target_update(theta, theta_minus, s, a, r, s_next, terminated, gamma, hidden, n_actions):
        net = mlp(s.shape[1], n_actions, "q", hidden=tuple(hidden))
        y = one_step_q_target(r, net.forward(theta_minus, s_next)[0], terminated, gamma)
        q, cache = net.forward(theta, s)
        d_theta = np.zeros_like(theta)
        net.backward(theta, cache, q_loss_grad(q, a, y)[1], d_theta)
        return y, d_theta

    @staticmethod
    def replay(config, theta0, worker, T, offsets, s, a, r, s_next, terminated, truncated, a_next,
               copy_after_step, copy_after_update):
        return traces.replay(config, theta0, worker, T, offsets, s, a, r, s_next, terminated, truncated,
                             a_next, copy_after_step, copy_after_update)

    @staticmethod
    def trace(algo, workers, seed, updates):
        return record_trace(str(algo), int(workers), int(seed), int(updates))
