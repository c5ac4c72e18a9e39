"""Feed-forward networks whose parameters all live in ONE flat vector.

A ``Network`` describes the architecture; it owns no parameters.  ``theta``
is a 1-D array (a shared-memory array in training) and every layer's weight
and bias are views into it, so one loop (the optimizer) updates everything
and one copy synchronises a thread's theta' from the shared theta.

Flat layout: for each layer in order, its weight then its bias, each in C
order.  Shapes: conv weight (KH, KW, C_in, C_out), dense weight (K_in, K_out).
Activations are NHWC; the conv torso is flattened in (y, x, channel) order
before the first dense layer.  ``Network.layout()`` lists names, shapes and
offsets.

Heads:
  ``q``             last layer has A outputs: Q(s, a) for each action a.
  ``actor_critic``  last layer has A + 1 outputs: columns 0..A-1 are the
                    policy logits (pi = softmax), column A is V(s).  Policy
                    and value share every layer but the last, as in the
                    paper (theta and theta_v of Alg. 3 share the torso).
  ``gaussian``      continuous actions (``GaussianActorCritic``): a policy
                    network with outputs mu (D) and sigma2_in (1 or D) and a
                    value network with output V, sharing nothing (supp. Sec. 9).

Inputs: ``pixels`` networks take stacked frames (N, C, H, W) uint8 as the
environments give them and scale them to [0, 1]; ``vector`` networks take
(N, obs_dim) floats.

Initialisation (``init``): every weight and bias ~ U(-1/sqrt(fan_in),
1/sqrt(fan_in)), fan_in = KH*KW*C_in or K_in: Torch7's default ``reset()``
for nn.SpatialConvolution / nn.Linear, which the paper's Torch code used.
"""
from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np

from . import kernels as K

HEADS = ("q", "actor_critic", "linear")    # linear: n_actions plain outputs (the Gaussian nets' parts)


@dataclass(frozen=True)
class Conv:
    out_channels: int
    kernel: int
    stride: int


@dataclass(frozen=True)
class Dense:
    out_features: int


@dataclass(frozen=True)
class _Layer:
    name: str
    kind: str           # "conv" or "dense"
    in_shape: tuple     # per-sample input shape (H, W, C) or (K,)
    out_shape: tuple    # per-sample output shape
    w_shape: tuple
    w_offset: int
    b_offset: int
    stride: int
    relu: bool
    w_size: int         # elements of the weight
    b_size: int         # elements of the bias (= outputs per position)
    fan_in: int


@numba.njit(cache=True, fastmath=True, error_model="numpy")
def pixels_to_nhwc(out, obs):
    """out[n, h, w, c] = obs[n, c, h, w] / 255 (uint8 frames to [0, 1] floats)."""
    N, C, H, W = obs.shape
    scale = out.dtype.type(1.0 / 255.0)
    o = out.reshape(N, H * W * C)
    i = obs.reshape(N, C, H * W)
    if C == 4:      # the paper's 4-frame stack: 4 interleaved stores per pixel, vectorised
        for n in range(N):
            for p in range(H * W):
                o[n, 4 * p] = i[n, 0, p] * scale
                o[n, 4 * p + 1] = i[n, 1, p] * scale
                o[n, 4 * p + 2] = i[n, 2, p] * scale
                o[n, 4 * p + 3] = i[n, 3, p] * scale
    else:
        for n in range(N):
            for c in range(C):
                for p in range(H * W):
                    o[n, p * C + c] = i[n, c, p] * scale


class Network:
    """Architecture + pure forward/backward on a flat parameter vector."""

    def __init__(self, input_shape, layers, n_actions, head, input_kind):
        if head not in HEADS:
            raise ValueError(f"head must be one of {HEADS}, got {head!r}")
        if input_kind not in ("pixels", "vector"):
            raise ValueError(f"input_kind must be 'pixels' or 'vector', got {input_kind!r}")
        if n_actions < 1:
            raise ValueError(f"n_actions must be >= 1, got {n_actions}")
        self.input_shape = tuple(int(d) for d in input_shape)
        self.input_kind = input_kind
        self.head = head
        self.n_actions = int(n_actions)
        self.n_outputs = self.n_actions + (1 if head == "actor_critic" else 0)

        if input_kind == "pixels":
            C, H, W = self.input_shape
            shape = (H, W, C)
        else:
            shape = (int(np.prod(self.input_shape)),)
        specs = list(layers) + [Dense(self.n_outputs)]
        self.layers = []
        offset = 0
        n_conv = n_dense = 0
        for i, spec in enumerate(specs):
            last = i == len(specs) - 1
            if isinstance(spec, Conv):
                if len(shape) != 3:
                    raise ValueError("a Conv layer cannot follow a Dense layer")
                H, W, C = shape
                OH = (H - spec.kernel) // spec.stride + 1
                OW = (W - spec.kernel) // spec.stride + 1
                if OH < 1 or OW < 1:
                    raise ValueError(f"input {shape} too small for {spec}")
                n_conv += 1
                name = f"conv{n_conv}"
                w_shape = (spec.kernel, spec.kernel, C, spec.out_channels)
                out_shape = (OH, OW, spec.out_channels)
                kind, stride = "conv", spec.stride
            else:
                fan_in = int(np.prod(shape))
                n_dense += 1
                name = "out" if last else f"fc{n_dense}"
                w_shape = (fan_in, spec.out_features)
                out_shape = (spec.out_features,)
                kind, stride = "dense", 1
            w_size = int(np.prod(w_shape))
            layer = _Layer(name, kind, shape, out_shape, w_shape, offset, offset + w_size,
                           stride, not last, w_size, w_shape[-1], w_size // w_shape[-1])
            self.layers.append(layer)
            offset += w_size + w_shape[-1]
            shape = out_shape
        self.n_params = offset

    # ----------------------------------------------------------------- layout
    def layout(self):
        """[(name, shape, offset)] of every parameter tensor in theta."""
        rows = []
        for L in self.layers:
            rows.append((f"{L.name}.w", L.w_shape, L.w_offset))
            rows.append((f"{L.name}.b", (L.b_size,), L.b_offset))
        return rows

    def views(self, theta):
        """{name: view} of the parameter tensors inside the flat vector theta."""
        self._check_theta(theta)
        return {name: theta[off:off + int(np.prod(shape))].reshape(shape)
                for name, shape, off in self.layout()}

    def _wb(self, L, theta):
        w = theta[L.w_offset:L.w_offset + L.w_size].reshape(L.w_shape)
        b = theta[L.b_offset:L.b_offset + L.b_size]
        return w, b

    def _check_theta(self, theta):
        if theta.ndim != 1 or theta.shape[0] != self.n_params:
            raise ValueError(f"theta must have shape ({self.n_params},), got {theta.shape}")

    # ------------------------------------------------------------------- init
    def init(self, rng, dtype=np.float32):
        """A fresh flat parameter vector: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) (ADDITION 6)."""
        theta = np.empty(self.n_params, dtype=dtype)
        for L in self.layers:
            bound = 1.0 / np.sqrt(L.fan_in)              # ADDITION 6: Torch7's default
            w, b = self._wb(L, theta)
            w[...] = rng.uniform(-bound, bound, size=w.shape)
            b[...] = rng.uniform(-bound, bound, size=b.shape)
        return theta

    # ---------------------------------------------------------------- forward
    def prepare_input(self, obs, dtype):
        """Environment observations (batch first) to the first layer's input."""
        obs = np.asarray(obs)
        if obs.shape[1:] != self.input_shape:
            raise ValueError(f"observations must have shape (N, {self.input_shape}), "
                             f"got {obs.shape}")
        if self.input_kind == "pixels":
            N, C, H, W = obs.shape
            x = np.empty((N, H, W, C), dtype=dtype)
            pixels_to_nhwc(x, obs)
            return x
        return np.ascontiguousarray(obs.reshape(obs.shape[0], -1), dtype=dtype)

    def forward(self, theta, obs):
        """Outputs (N, n_outputs) for a batch of observations, and the cache.

        The cache holds every layer's input and (post-ReLU) output; it is what
        ``backward`` needs and stays valid until the caller drops it.
        """
        self._check_theta(theta)
        x = self.prepare_input(obs, theta.dtype)
        N = x.shape[0]
        cache = [x]
        for L in self.layers:
            w, b = self._wb(L, theta)
            y = np.empty((N,) + L.out_shape, dtype=theta.dtype)
            if L.kind == "conv":
                K.conv2d_forward(y, x, w, b, L.stride, L.relu)
            else:
                K.dense_forward(y, x.reshape(N, -1), w, b, L.relu)
            cache.append(y)
            x = y
        return x, cache

    @staticmethod
    def stack_caches(caches):
        """One batch cache from the caches of several forward passes (same theta).

        ``backward`` on the stacked cache gives the sum of the per-pass
        gradients: how a segment's gradients are accumulated from the acting
        passes' activations without a second forward pass.
        """
        return [np.concatenate(layer, axis=0) for layer in zip(*caches)]

    def split(self, out):
        """actor_critic outputs (N, A+1) -> (logits (N, A), V (N,))."""
        if self.head != "actor_critic":
            raise ValueError("split() is only for the actor_critic head")
        return out[:, :self.n_actions], out[:, self.n_actions]

    # --------------------------------------------------------------- backward
    def backward(self, theta, cache, d_out, d_theta):
        """Accumulate d_theta <- d_theta + dL/dtheta given d_out = dL/d(outputs).

        d_out has the shape of the forward outputs; the gradient of the input
        is not computed.
        """
        self._check_theta(theta)
        self._check_theta(d_theta)
        N = cache[0].shape[0]
        d = np.ascontiguousarray(d_out, dtype=theta.dtype).reshape((N,) + self.layers[-1].out_shape)
        for i in range(len(self.layers) - 1, -1, -1):
            L = self.layers[i]
            x, y = cache[i], cache[i + 1]
            if L.relu:
                d_pre = np.zeros_like(y)
                K.relu_backward(d_pre, d, y)
            else:
                d_pre = d
            w, b = self._wb(L, theta)
            dw, db = self._wb(L, d_theta)
            need_dx = i > 0
            dx = np.zeros_like(x) if need_dx else np.zeros((1,) * x.ndim, dtype=x.dtype)
            if L.kind == "conv":
                K.conv2d_backward(dx, dw, db, d_pre, x, w, L.stride, need_dx)
            else:
                K.dense_backward(dx.reshape(dx.shape[0], -1), dw, db, d_pre,
                                 x.reshape(x.shape[0], -1), w, need_dx)
            d = dx


def atari_network(n_actions, head="q", frames=4, size=84):
    """The paper's Atari network (Mnih et al. 2016 Sec. 8, after Mnih et al. 2013):

    input 4x84x84 -> conv 16 8x8/4 -> ReLU -> conv 32 4x4/2 -> ReLU
    -> dense 256 -> ReLU -> head (A Q-values, or A logits + V).
    """
    return Network((frames, size, size),
                   [Conv(16, 8, 4), Conv(32, 4, 2), Dense(256)],
                   n_actions, head, "pixels")


def mlp(obs_dim, n_actions, head="q", hidden=(64, 64)):
    """An MLP for low-dimensional observations: dense+ReLU per hidden size, then the head."""
    return Network((int(obs_dim),), [Dense(int(h)) for h in hidden],
                   n_actions, head, "vector")


class GaussianActorCritic:
    """A3C for continuous actions (paper supp. Sec. 9): a policy network and a
    value network that share no parameter, both in ONE flat vector — the policy
    network's parameters first, then the value network's — so that one copy
    synchronises theta' and one optimizer step updates both (Alg. 3 L21).

    Outputs (N, D + S + 1): mu (D columns), sigma2_in (S = 1: one variance for
    every action dimension, the paper's spherical covariance; or S = D), V.
    sigma^2 = softplus(sigma2_in) is applied by the loss (``losses.gaussian_loss_grad``)
    and the sampler, not here; so is mu = tanh(mu column) when ``bounded_mean``
    (DEVIATION 7; ``algorithms.policies.GaussianPolicy``).  The paper's encoder is 200 ReLU units then 128 LSTM
    cells; we have no LSTM, so the second layer is 128 dense ReLU units
    (DEVIATION 6 in docs/implementation-details.md).
    """

    head = "gaussian"
    input_kind = "vector"

    def __init__(self, obs_dim, action_dim, hidden=(200, 128), spherical=True, bounded_mean=False):
        if action_dim < 1:
            raise ValueError(f"action_dim must be >= 1, got {action_dim}")
        self.n_actions = int(action_dim)
        self.bounded_mean = bool(bounded_mean)      # mu = tanh(first D outputs): DEVIATION 7
        self.n_sigma = 1 if spherical else self.n_actions
        layers = [Dense(int(h)) for h in hidden]     # DEVIATION 6: dense ReLU layers, no LSTM
        self.policy = Network((int(obs_dim),), layers, self.n_actions + self.n_sigma, "linear", "vector")
        self.value = Network((int(obs_dim),), layers, 1, "linear", "vector")
        self.input_shape = self.policy.input_shape
        self.split_at = self.policy.n_params
        self.n_params = self.policy.n_params + self.value.n_params
        self.n_outputs = self.n_actions + self.n_sigma + 1
        self.layers = self.policy.layers + self.value.layers

    def _parts(self, theta):
        if theta.ndim != 1 or theta.shape[0] != self.n_params:
            raise ValueError(f"theta must have shape ({self.n_params},), got {theta.shape}")
        return theta[:self.split_at], theta[self.split_at:]

    def layout(self):
        """[(name, shape, offset)]: the policy's tensors as pi.*, then the value's as v.*."""
        return ([(f"pi.{n}", shape, off) for n, shape, off in self.policy.layout()]
                + [(f"v.{n}", shape, off + self.split_at) for n, shape, off in self.value.layout()])

    def views(self, theta):
        self._parts(theta)
        return {name: theta[off:off + int(np.prod(shape))].reshape(shape) for name, shape, off in self.layout()}

    def init(self, rng, dtype=np.float32):
        """Torch7's default initialisation of both networks, the policy's drawn first."""
        theta = np.empty(self.n_params, dtype=dtype)
        theta[:self.split_at] = self.policy.init(rng, dtype)
        theta[self.split_at:] = self.value.init(rng, dtype)
        return theta

    def forward(self, theta, obs):
        """(outputs (N, D + S + 1), cache) for a batch of observations."""
        theta_pi, theta_v = self._parts(theta)
        out_pi, cache_pi = self.policy.forward(theta_pi, obs)
        out_v, cache_v = self.value.forward(theta_v, obs)
        return np.concatenate([out_pi, out_v], axis=1), (cache_pi, cache_v)

    @staticmethod
    def stack_caches(caches):
        return (Network.stack_caches([c[0] for c in caches]), Network.stack_caches([c[1] for c in caches]))

    def split(self, out):
        """outputs -> (mu (N, D), sigma2_in (N, S), V (N,))."""
        D, S = self.n_actions, self.n_sigma
        return out[:, :D], out[:, D:D + S], out[:, D + S]

    def backward(self, theta, cache, d_out, d_theta):
        """Accumulate d_theta <- d_theta + dL/dtheta for both networks."""
        theta_pi, theta_v = self._parts(theta)
        d_pi, d_v = self._parts(d_theta)
        d_out = np.asarray(d_out)
        k = self.n_actions + self.n_sigma
        self.policy.backward(theta_pi, cache[0], d_out[:, :k], d_pi)
        self.value.backward(theta_v, cache[1], d_out[:, k:], d_v)


def build_network(cfg, obs_shape, n_actions):
    """The network a run configuration names (``cfg.network``: "atari", "mlp" or
    "gaussian", with ``cfg.head``, ``cfg.hidden`` and the Gaussian options)."""
    if cfg.network == "gaussian":
        return GaussianActorCritic(int(np.prod(obs_shape)), n_actions, hidden=cfg.hidden,
                                   spherical=not cfg.sigma_per_dimension, bounded_mean=not cfg.linear_mu)
    if cfg.network == "atari":
        return atari_network(n_actions, cfg.head, frames=obs_shape[0], size=obs_shape[1])
    return mlp(int(np.prod(obs_shape)), n_actions, cfg.head, hidden=cfg.hidden)
