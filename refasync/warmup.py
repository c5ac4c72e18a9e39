"""Compiling the Numba kernels once, in the parent, before any worker starts."""
from __future__ import annotations

import numpy as np

from . import optim
from .atomic import fetch_add
from .nn.kernels import softplus_backward, softplus_forward


def warm_up(net, dtype):
    """Compile (or load from Numba's cache) every kernel in this process first,
    so that workers start from a warm cache."""
    fetch_add(np.zeros(1, np.int64), 0, 1)
    theta = net.init(np.random.default_rng(0), dtype)
    obs = np.zeros((1,) + net.input_shape, dtype=np.uint8 if net.input_kind == "pixels" else dtype)
    out, cache = net.forward(theta, obs)
    net.backward(theta, cache, np.zeros_like(out), np.zeros_like(theta))
    z = np.zeros_like(theta)
    optim.rmsprop_step(z, z.copy(), z, 0.0, 0.99, 0.1, 1.0)
    optim.momentum_sgd_step(z, z.copy(), z, 0.0, 0.99, 1.0)
    optim.grad_norm(z)
    if net.head == "gaussian":
        x = np.zeros(1)
        softplus_forward(x, x.copy())
        softplus_backward(x, x.copy(), x.copy())
