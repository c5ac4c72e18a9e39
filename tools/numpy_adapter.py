"""An independent, deliberately plain NumPy port of refasync's cross-check protocol.

Written from the documentation only (README.md, refasync/golden/README.md,
refasync/golden/manifest.json and the golden arrays), without reading or importing
refasync's code, so that the golden files are checked against a second implementation
of the same conventions. The test suite runs it through

    python -m refasync.crosscheck --adapter tools/numpy_adapter.py

Every function of the adapter protocol is here except the optional ``trace``.
Everything is computed in float64 (the ``*_f32`` cases pass on their tolerance);
the code favours plain loops and small functions over speed.
"""

import json

import numpy as np


# --------------------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------------------

def _f64(x):
    return np.asarray(x, dtype=np.float64)


def _scalar_str(x):
    """A 0-d string array (or a plain str) as a Python str."""
    return str(np.asarray(x).item()) if isinstance(x, np.ndarray) else str(x)


def _hidden_sizes(hidden):
    return [int(h) for h in np.atleast_1d(np.asarray(hidden))]


def _log_softmax(logits):
    shifted = logits - logits.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def _one_hot(a, n):
    out = np.zeros((len(a), n))
    out[np.arange(len(a)), a] = 1.0
    return out


# --------------------------------------------------------------------------------------
# Returns, targets and loss gradients
# --------------------------------------------------------------------------------------

def segment_returns(rewards, terminated, truncated, v_last, gamma):
    """R <- r_i + gamma R backwards, from 0 at a terminal, else from v_last.

    A truncated (time-limit) segment is not terminal, so it bootstraps from v_last.
    """
    rewards = _f64(rewards)
    R = 0.0 if bool(terminated) else float(v_last)
    returns = np.zeros(len(rewards))
    for i in reversed(range(len(rewards))):
        R = rewards[i] + float(gamma) * R
        returns[i] = R
    return returns


def one_step_q_target(r, q_next_minus, terminal, gamma):
    """y = r + gamma max_a' Q(s', a'; theta-), y = r at a terminal."""
    bootstrap = _f64(q_next_minus).max(axis=1)
    not_terminal = ~np.asarray(terminal, dtype=bool)
    return _f64(r) + float(gamma) * bootstrap * not_terminal


def one_step_sarsa_target(r, q_next_minus, a_next, terminal, gamma):
    """y = r + gamma Q(s', a'; theta-) with a' the action taken next."""
    q_next_minus = _f64(q_next_minus)
    a_next = np.asarray(a_next, dtype=np.int64)
    not_terminal = ~np.asarray(terminal, dtype=bool)
    y = _f64(r).copy()
    for i in range(len(y)):
        if not_terminal[i]:
            y[i] += float(gamma) * q_next_minus[i, a_next[i]]
    return y


def q_loss_grad(q, a, y):
    """dL/dQ for L = sum_i (y_i - Q(s_i, a_i))^2: -2 (y - Q) at the taken action."""
    q = _f64(q)
    a = np.asarray(a, dtype=np.int64)
    grad = np.zeros_like(q)
    rows = np.arange(len(a))
    grad[rows, a] = -2.0 * (_f64(y) - q[rows, a])
    return grad


def _q_loss(q, a, y):
    return float(np.sum((_f64(y) - q[np.arange(len(a)), a]) ** 2))


def a3c_loss_grad(logits, v, a, R, beta, value_scale):
    """Gradients of sum_i [-log pi(a_i) A_i - beta H(pi_i) + value_scale (R_i - V_i)^2].

    The advantage A_i = R_i - V_i is a constant in the policy term.
    dH/dz_k = -pi_k (log pi_k + H), so the entropy term gives +beta pi_k (log pi_k + H).
    """
    logits, v, R = _f64(logits), _f64(v), _f64(R)
    a = np.asarray(a, dtype=np.int64)
    log_pi = _log_softmax(logits)
    pi = np.exp(log_pi)
    advantage = R - v
    entropy = -np.sum(pi * log_pi, axis=1)
    d_policy = -advantage[:, None] * (_one_hot(a, logits.shape[1]) - pi)
    d_entropy = float(beta) * pi * (log_pi + entropy[:, None])
    d_logits = d_policy + d_entropy
    d_v = -2.0 * float(value_scale) * advantage
    return d_logits, d_v


def gaussian_loss_grad(mu, sigma2_in, v, a, R, beta, value_scale):
    """Gradients of sum_i [-log N(a_i; mu_i, sigma_i^2) A_i - beta H_i + value_scale (R_i - V_i)^2].

    sigma^2 = softplus(sigma2_in) = log(1 + exp(x)), one column (shared by all action
    dimensions) or one per dimension; H = sum_d 1/2 (log(2 pi sigma_d^2) + 1).
    """
    mu, x, v, a, R = _f64(mu), _f64(sigma2_in), _f64(v), _f64(a), _f64(R)
    sigma2 = np.logaddexp(0.0, x)                       # softplus without overflow
    s2 = np.broadcast_to(sigma2, mu.shape)
    advantage = (R - v)[:, None]
    u = a - mu
    d_mu = -advantage * u / s2
    d_s2 = -advantage * (u ** 2 / (2 * s2 ** 2) - 1 / (2 * s2)) - float(beta) / (2 * s2)
    if x.shape[1] == 1:
        d_s2 = d_s2.sum(axis=1, keepdims=True)
    sigmoid = np.exp(-np.logaddexp(0.0, -x))            # d softplus / dx
    return d_mu, d_s2 * sigmoid, -2.0 * float(value_scale) * (R - v)


def _a3c_loss(logits, v, a, R, beta, value_scale):
    log_pi = _log_softmax(logits)
    pi = np.exp(log_pi)
    advantage = R - v
    entropy = -np.sum(pi * log_pi, axis=1)
    policy = -log_pi[np.arange(len(a)), a] * advantage
    return float(np.sum(policy - beta * entropy + value_scale * advantage ** 2))


# --------------------------------------------------------------------------------------
# Layers
# --------------------------------------------------------------------------------------

def _dense_forward(x, w, b):
    return x @ w + b


def _dense_backward(x, w, dy):
    return dy @ w.T, x.T @ dy, dy.sum(axis=0)


def dense_forward_backward(x, w, b, dy):
    """Dense layer y = x w + b with w of shape (K_in, K_out)."""
    x, w, b, dy = _f64(x), _f64(w), _f64(b), _f64(dy)
    y = _dense_forward(x, w, b)
    dx, dw, db = _dense_backward(x, w, dy)
    return y, dx, dw, db


def _conv_out_size(size, kernel, stride):
    return (size - kernel) // stride + 1


def _conv_patch(x, i, j, stride, out_h, out_w):
    """The input pixels that kernel tap (i, j) sees, for every output position."""
    return x[:, i:i + stride * out_h:stride, j:j + stride * out_w:stride, :]


def _conv_forward(x, w, b, stride):
    """Valid, strided convolution; x NHWC, w (KH, KW, C_in, C_out)."""
    n, height, width, _ = x.shape
    kh, kw, _, c_out = w.shape
    out_h = _conv_out_size(height, kh, stride)
    out_w = _conv_out_size(width, kw, stride)
    y = np.zeros((n, out_h, out_w, c_out)) + b
    for i in range(kh):
        for j in range(kw):
            y += _conv_patch(x, i, j, stride, out_h, out_w) @ w[i, j]
    return y


def _conv_backward(x, w, stride, dy):
    kh, kw, c_in, c_out = w.shape
    _, out_h, out_w, _ = dy.shape
    dx = np.zeros_like(x)
    dw = np.zeros_like(w)
    dy_rows = dy.reshape(-1, c_out)
    for i in range(kh):
        for j in range(kw):
            patch_rows = _conv_patch(x, i, j, stride, out_h, out_w).reshape(-1, c_in)
            dw[i, j] = patch_rows.T @ dy_rows
            dx[:, i:i + stride * out_h:stride, j:j + stride * out_w:stride, :] += dy @ w[i, j].T
    db = dy_rows.sum(axis=0)
    return dx, dw, db


def conv2d_forward_backward(x, w, b, stride, dy):
    """Conv layer, NHWC activations, weights (KH, KW, C_in, C_out), no padding."""
    x, w, b, dy = _f64(x), _f64(w), _f64(b), _f64(dy)
    stride = int(stride)
    y = _conv_forward(x, w, b, stride)
    dx, dw, db = _conv_backward(x, w, stride, dy)
    return y, dx, dw, db


# --------------------------------------------------------------------------------------
# Networks on a flat parameter vector
# --------------------------------------------------------------------------------------

def _n_outputs(n_actions, head):
    head = _scalar_str(head)
    if head == "q":
        return int(n_actions)
    if head == "actor_critic":
        return int(n_actions) + 1
    raise ValueError(f"unknown head {head!r}")


def _unflatten(theta, shapes):
    """Views of the flat theta, one per shape, in order (C order, no gaps)."""
    views, offset = [], 0
    for shape in shapes:
        size = int(np.prod(shape))
        views.append(theta[offset:offset + size].reshape(shape))
        offset += size
    if offset != theta.size:
        raise ValueError(f"theta has {theta.size} entries, the layout {offset}")
    return views


def _mlp_shapes(obs_dim, hidden, n_out):
    sizes = [obs_dim] + list(hidden) + [n_out]
    shapes = []
    for k_in, k_out in zip(sizes[:-1], sizes[1:]):
        shapes += [(k_in, k_out), (k_out,)]
    return shapes


def _mlp_forward(params, obs):
    """Returns the output and the inputs of every dense layer (the cache)."""
    n_layers = len(params) // 2
    inputs, h = [], obs
    for layer in range(n_layers):
        inputs.append(h)
        h = _dense_forward(h, params[2 * layer], params[2 * layer + 1])
        if layer < n_layers - 1:
            h = np.maximum(h, 0.0)
    return h, inputs


def _mlp_backward(params, inputs, d_out):
    """Gradients of every tensor, in layout order."""
    n_layers = len(params) // 2
    grads = [None] * len(params)
    d_h = d_out
    for layer in reversed(range(n_layers)):
        if layer < n_layers - 1:
            d_h = d_h * (inputs[layer + 1] > 0)
        d_h, grads[2 * layer], grads[2 * layer + 1] = _dense_backward(
            inputs[layer], params[2 * layer], d_h)
    return grads


def _flatten(grads):
    return np.concatenate([g.ravel() for g in grads])


class _MLP:
    """An MLP on a flat float64 theta: ReLU after every hidden layer."""

    def __init__(self, obs_dim, hidden, n_out):
        self.shapes = _mlp_shapes(obs_dim, hidden, n_out)

    def forward(self, theta, obs):
        return _mlp_forward(_unflatten(theta, self.shapes), obs)

    def outputs(self, theta, obs):
        return self.forward(theta, obs)[0]

    def backward(self, theta, inputs, d_out):
        return _flatten(_mlp_backward(_unflatten(theta, self.shapes), inputs, d_out))


def mlp_forward_backward(theta, obs, d_out, hidden, n_actions, head):
    theta, obs, d_out = _f64(theta), _f64(obs), _f64(d_out)
    net = _MLP(obs.shape[1], _hidden_sizes(hidden), _n_outputs(n_actions, head))
    out, inputs = net.forward(theta, obs)
    return out, net.backward(theta, inputs, d_out)


def gaussian_forward_backward(theta, obs, d_out, hidden, action_dim, spherical):
    """Policy MLP (outputs mu, sigma2_in) then value MLP (output V), sharing nothing;
    the policy's parameters come first in theta."""
    theta, obs, d_out = _f64(theta), _f64(obs), _f64(d_out)
    hidden = _hidden_sizes(hidden)
    k = int(action_dim) + (1 if spherical else int(action_dim))
    policy, value = _MLP(obs.shape[1], hidden, k), _MLP(obs.shape[1], hidden, 1)
    n_pi = sum(int(np.prod(sh)) for sh in policy.shapes)
    out_pi, in_pi = policy.forward(theta[:n_pi], obs)
    out_v, in_v = value.forward(theta[n_pi:], obs)
    d_theta = np.concatenate([policy.backward(theta[:n_pi], in_pi, d_out[:, :k]),
                              value.backward(theta[n_pi:], in_v, d_out[:, k:])])
    return np.concatenate([out_pi, out_v], axis=1), d_theta


_ATARI_CONVS = [(16, 8, 4), (32, 4, 2)]  # (C_out, kernel, stride)
_ATARI_FC = 256


def _atari_shapes(n_out):
    shapes, c_in, size = [], 4, 84
    for c_out, kernel, stride in _ATARI_CONVS:
        shapes += [(kernel, kernel, c_in, c_out), (c_out,)]
        c_in, size = c_out, _conv_out_size(size, kernel, stride)
    shapes += [(size * size * c_in, _ATARI_FC), (_ATARI_FC,)]
    shapes += [(_ATARI_FC, n_out), (n_out,)]
    return shapes


def atari_forward_backward(theta, obs, d_out, n_actions, head):
    """conv 16x8x8/4 -> ReLU -> conv 32x4x4/2 -> ReLU -> dense 256 -> ReLU -> output.

    obs is (N, 4, 84, 84) uint8, scaled by 1/255 and moved to NHWC; the conv torso is
    flattened in (y, x, channel) order.
    """
    theta, d_out = _f64(theta), _f64(d_out)
    params = _unflatten(theta, _atari_shapes(_n_outputs(n_actions, head)))
    (w1, b1, w2, b2, w3, b3, w4, b4) = params
    x = np.transpose(np.asarray(obs, dtype=np.float64) / 255.0, (0, 2, 3, 1))
    n = x.shape[0]

    h1 = np.maximum(_conv_forward(x, w1, b1, _ATARI_CONVS[0][2]), 0.0)
    h2 = np.maximum(_conv_forward(h1, w2, b2, _ATARI_CONVS[1][2]), 0.0)
    flat = h2.reshape(n, -1)
    h3 = np.maximum(_dense_forward(flat, w3, b3), 0.0)
    out = _dense_forward(h3, w4, b4)

    d_h3, dw4, db4 = _dense_backward(h3, w4, d_out)
    d_flat, dw3, db3 = _dense_backward(flat, w3, d_h3 * (h3 > 0))
    d_h2 = d_flat.reshape(h2.shape) * (h2 > 0)
    d_h1, dw2, db2 = _conv_backward(h1, w2, _ATARI_CONVS[1][2], d_h2)
    _, dw1, db1 = _conv_backward(x, w1, _ATARI_CONVS[0][2], d_h1 * (h1 > 0))
    return out, _flatten([dw1, db1, dw2, db2, dw3, db3, dw4, db4])


# --------------------------------------------------------------------------------------
# Optimizer and the target-network update
# --------------------------------------------------------------------------------------

def _rmsprop_step(theta, g, d_theta, lr, alpha, eps):
    """In place: g <- alpha g + (1 - alpha) d^2; theta <- theta - lr d / sqrt(g + eps)."""
    g *= alpha
    g += (1.0 - alpha) * d_theta ** 2
    theta -= lr * d_theta / np.sqrt(g + eps)


def rmsprop_steps(theta, g, d_thetas, lr, alpha, eps):
    theta, g = _f64(theta).copy(), _f64(g).copy()
    for d_theta in _f64(d_thetas):
        _rmsprop_step(theta, g, d_theta, float(lr), float(alpha), float(eps))
    return theta, g


def q_target_update(theta, theta_minus, s, a, r, s_next, terminated, gamma,
                    hidden, n_actions):
    """y from theta-, and d/dtheta of sum (y - Q(s, a; theta))^2 (MLP Q network)."""
    theta, theta_minus, s, s_next = _f64(theta), _f64(theta_minus), _f64(s), _f64(s_next)
    a = np.asarray(a, dtype=np.int64)
    net = _MLP(s.shape[1], _hidden_sizes(hidden), int(n_actions))
    y = one_step_q_target(r, net.outputs(theta_minus, s_next), terminated, gamma)
    q, inputs = net.forward(theta, s)
    return y, net.backward(theta, inputs, q_loss_grad(q, a, y))


# --------------------------------------------------------------------------------------
# Replay of recorded asynchronous updates
# --------------------------------------------------------------------------------------

class _SharedState:
    """The one shared theta, theta- and RMSProp statistics g of a run."""

    def __init__(self, theta0):
        self.theta = _f64(theta0).copy()
        self.theta_minus = self.theta.copy()
        self.g = np.zeros_like(self.theta)


def _one_step_targets(cfg, net, state, steps, r, s_next, terminated, a_next,
                      copy_after_step):
    """y_j per step with the theta- current at step j; copies theta- <- theta after."""
    gamma = cfg["gamma"]
    targets = []
    for j in steps:
        q_next = net.outputs(state.theta_minus, s_next[j:j + 1])[0]
        if terminated[j]:
            y = r[j]
        elif cfg["algo"] == "one-step-sarsa":
            y = r[j] + gamma * q_next[a_next[j]]
        else:
            y = r[j] + gamma * q_next.max()
        targets.append(y)
        if copy_after_step[j]:
            state.theta_minus = state.theta.copy()
    return np.array(targets)


def _n_step_targets(cfg, net, state, steps, r, s_next, terminated):
    last = steps[-1]
    if terminated[last]:
        bootstrap = 0.0
    elif cfg["algo"] == "a3c":
        bootstrap = net.outputs(state.theta, s_next[last:last + 1])[0, -1]
    else:
        bootstrap = net.outputs(state.theta_minus, s_next[last:last + 1])[0].max()
    return segment_returns(r[steps], False, False, bootstrap, cfg["gamma"])


def _loss_and_gradient(cfg, net, theta, s, a, targets):
    """The segment's summed loss and its gradient w.r.t. theta."""
    out, inputs = net.forward(theta, s)
    if cfg["algo"] == "a3c":
        logits, v = out[:, :-1], out[:, -1]
        loss = _a3c_loss(logits, v, a, targets, cfg["beta"], cfg["value_scale"])
        d_logits, d_v = a3c_loss_grad(logits, v, a, targets, cfg["beta"],
                                      cfg["value_scale"])
        d_out = np.concatenate([d_logits, d_v[:, None]], axis=1)
    else:
        loss = _q_loss(out, a, targets)
        d_out = q_loss_grad(out, a, targets)
    return loss, net.backward(theta, inputs, d_out)


def _apply_update(cfg, state, d_theta, T):
    """Norm clipping (exact formula), linear lr annealing at T, shared RMSProp."""
    norm = float(np.sqrt(np.sum(d_theta ** 2)))
    max_norm = cfg["max_grad_norm"]
    scale = max_norm / norm if norm > max_norm else 1.0
    lr = cfg["lr"]
    if cfg["lr_anneal"]:
        lr = lr * max(0.0, 1.0 - T / cfg["steps"])
    _rmsprop_step(state.theta, state.g, scale * d_theta, lr, cfg["rms_alpha"],
                  cfg["rms_eps"])
    return norm


def replay(config, theta0, worker, T, offsets, s, a, r, s_next, terminated, truncated,
           a_next, copy_after_step, copy_after_update):
    """Apply the recorded updates, in order, to one shared theta, theta- and g."""
    cfg = json.loads(_scalar_str(config))
    n_out = cfg["n_actions"] + (1 if cfg["algo"] == "a3c" else 0)
    net = _MLP(cfg["obs_dim"], cfg["hidden"], n_out)
    state = _SharedState(theta0)
    s, r, s_next = _f64(s), _f64(r), _f64(s_next)
    a, a_next = np.asarray(a, dtype=np.int64), np.asarray(a_next, dtype=np.int64)
    terminated = np.asarray(terminated, dtype=bool)
    copy_after_step = np.asarray(copy_after_step, dtype=bool)
    offsets = np.asarray(offsets, dtype=np.int64)

    all_targets, losses, norms, sums, sumsqs, g_sums, g_sumsqs = [], [], [], [], [], [], []
    d_theta_first = theta_first = None
    for k in range(len(offsets) - 1):
        steps = np.arange(offsets[k], offsets[k + 1])
        if cfg["algo"] in ("one-step-q", "one-step-sarsa"):
            targets = _one_step_targets(cfg, net, state, steps, r, s_next, terminated,
                                        a_next, copy_after_step)
        else:
            targets = _n_step_targets(cfg, net, state, steps, r, s_next, terminated)
        loss, d_theta = _loss_and_gradient(cfg, net, state.theta, s[steps], a[steps],
                                           targets)
        norms.append(_apply_update(cfg, state, d_theta, int(T[k])))
        if cfg["algo"] == "n-step-q" and copy_after_update[k]:
            state.theta_minus = state.theta.copy()

        all_targets.append(targets)
        losses.append(loss)
        sums.append(state.theta.sum())
        sumsqs.append(np.sum(state.theta ** 2))
        g_sums.append(state.g.sum())
        g_sumsqs.append(np.sum(state.g ** 2))
        if k == 0:
            d_theta_first, theta_first = d_theta.copy(), state.theta.copy()

    return (np.concatenate(all_targets), np.array(losses), np.array(norms),
            np.array(sums), np.array(sumsqs), np.array(g_sums), np.array(g_sumsqs),
            d_theta_first, theta_first)
