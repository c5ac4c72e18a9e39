"""Whole-network gradients (both architectures, both heads, composed with each
loss) against float64 central differences of the scalar loss."""
import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import refasync as ra
from refasync.nn import Conv, Dense, Network


def scalar_loss(net, theta, obs, a, target, advantage=None):
    """The loss each algorithm minimises, as a function of theta only.

    For A3C the advantage is a constant of the policy term: finite differences
    must hold it at its value at the unperturbed theta (``advantage``).
    """
    out, cache = net.forward(theta, obs)
    if net.head == "q":
        L, d_out = ra.q_loss_grad(out, a, target)
        return L, d_out, cache
    logits, v = net.split(out)
    terms, d_logits, d_v = ra.a3c_loss_grad(logits, v, a, target, beta=0.3, value_scale=0.5)
    L = terms["loss"]
    if advantage is not None:
        log_pi_a = ra.log_softmax(logits)[np.arange(len(a)), a]
        L += -terms["policy_loss"] - float(np.sum(log_pi_a * advantage))
    return L, np.concatenate([d_logits, d_v[:, None]], axis=1), cache


def relu_pattern(cache):
    return [c > 0 for c in cache[1:-1]]


def check_gradient(net, theta, obs, a, target, indices, h=1e-6, rtol=1e-5, atol=1e-8):
    _, d_out, cache = scalar_loss(net, theta, obs, a, target)
    advantage = None
    if net.head == "actor_critic":
        advantage = np.asarray(target) - net.split(cache[-1])[1]
    d_theta = np.zeros_like(theta)
    net.backward(theta, cache, d_out, d_theta)
    pattern = relu_pattern(cache)
    checked = 0
    for i in indices:
        old = theta[i]
        vals, same = [], True
        for sign in (1, -1):
            theta[i] = old + sign * h
            L, _, c = scalar_loss(net, theta, obs, a, target, advantage)
            vals.append(L)
            same &= all(np.array_equal(p, q) for p, q in zip(pattern, relu_pattern(c)))
        theta[i] = old
        if not same:   # the step crossed a ReLU kink: finite differences are meaningless
            continue
        fd = (vals[0] - vals[1]) / (2 * h)
        assert abs(d_theta[i] - fd) <= atol + rtol * abs(fd), (i, d_theta[i], fd)
        checked += 1
    assert checked >= 0.8 * len(indices)
    return d_theta


@settings(max_examples=25, deadline=None)
@given(obs_dim=st.integers(1, 6), n_actions=st.integers(1, 5),
       hidden=st.lists(st.integers(1, 8), min_size=0, max_size=2),
       batch=st.integers(1, 5), head=st.sampled_from(["q", "actor_critic"]),
       seed=st.integers(0, 2**32 - 1))
def test_mlp_gradient_matches_finite_differences(obs_dim, n_actions, hidden, batch, head, seed):
    rng = np.random.default_rng(seed)
    net = ra.mlp(obs_dim, n_actions, head, hidden=tuple(hidden))
    theta = net.init(rng, np.float64)
    obs = rng.standard_normal((batch, obs_dim))
    _, cache = net.forward(theta, obs)
    for c in cache[1:-1]:
        assume(np.all(np.abs(c[c != 0]) > 1e-4))
    a = rng.integers(0, n_actions, batch)
    target = rng.standard_normal(batch)
    check_gradient(net, theta, obs, a, target, range(net.n_params))


@pytest.mark.parametrize("head", ["q", "actor_critic"])
def test_atari_network_gradient_matches_finite_differences(head):
    rng = np.random.default_rng(3)
    net = ra.atari_network(4, head)
    assert net.n_params == 8 * 8 * 4 * 16 + 16 + 4 * 4 * 16 * 32 + 32 + 2592 * 256 + 256 + 256 * net.n_outputs + net.n_outputs
    theta = net.init(rng, np.float64)
    obs = rng.integers(0, 256, (2, 4, 84, 84), dtype=np.uint8)
    a = rng.integers(0, 4, 2)
    target = rng.standard_normal(2)
    # a handful of coordinates in every tensor, including the first and last of each
    indices = []
    for _, shape, off in net.layout():
        size = int(np.prod(shape))
        indices += [off, off + size - 1] + list(off + rng.choice(size, 4, replace=False))
    check_gradient(net, theta, obs, a, target, indices, h=1e-5)


def test_small_conv_network_gradient_all_coordinates():
    """Every coordinate of a small pixels network with two strided convs."""
    rng = np.random.default_rng(11)
    net = Network((2, 11, 11), [Conv(3, 3, 2), Conv(4, 2, 1), Dense(5)], 3, "actor_critic", "pixels")
    theta = net.init(rng, np.float64)
    obs = rng.integers(0, 256, (3, 2, 11, 11), dtype=np.uint8)
    check_gradient(net, theta, obs, rng.integers(0, 3, 3), rng.standard_normal(3), range(net.n_params))


def test_float32_forward_close_to_float64():
    rng = np.random.default_rng(5)
    net = ra.atari_network(6, "actor_critic")
    theta64 = net.init(rng, np.float64)
    obs = rng.integers(0, 256, (3, 4, 84, 84), dtype=np.uint8)
    out64, _ = net.forward(theta64, obs)
    out32, _ = net.forward(theta64.astype(np.float32), obs)
    assert out32.dtype == np.float32
    np.testing.assert_allclose(out32, out64, rtol=1e-4, atol=1e-5)


def test_layout_views_are_views_into_theta():
    net = ra.mlp(3, 2, "q", hidden=(4,))
    theta = net.init(np.random.default_rng(0), np.float64)
    views = net.views(theta)
    assert list(views) == ["fc1.w", "fc1.b", "out.w", "out.b"]
    assert views["fc1.w"].shape == (3, 4) and views["out.w"].shape == (4, 2)
    views["out.b"][:] = 7.0
    assert np.all(theta[-2:] == 7.0)
    assert sum(v.size for v in views.values()) == net.n_params


def test_init_follows_torch7_default_bounds():
    net = ra.atari_network(6, "q")
    theta = net.init(np.random.default_rng(0), np.float64)
    for name, shape, off in net.layout():
        v = theta[off:off + int(np.prod(shape))]
        fan_in = {"conv1": 8 * 8 * 4, "conv2": 4 * 4 * 16, "fc1": 2592, "out": 256}[name.split(".")[0]]
        bound = 1 / np.sqrt(fan_in)
        assert np.all(np.abs(v) <= bound)
        if v.size >= 200:   # large tensors fill the interval
            assert np.abs(v).max() > 0.95 * bound and abs(v.mean()) < 0.1 * bound


def test_bad_inputs_raise():
    net = ra.mlp(3, 2)
    with pytest.raises(ValueError):
        net.forward(np.zeros(net.n_params + 1), np.zeros((1, 3)))
    with pytest.raises(ValueError):
        net.forward(np.zeros(net.n_params), np.zeros((1, 4)))
    with pytest.raises(ValueError):
        ra.mlp(3, 2, head="policy")


def gaussian_log_pi(mu, x, a):
    s2 = np.broadcast_to(np.logaddexp(0.0, x), mu.shape)
    return (-0.5 * np.log(2 * np.pi * s2) - (a - mu) ** 2 / (2 * s2)).sum(axis=1)


@settings(max_examples=15, deadline=None)
@given(obs_dim=st.integers(1, 4), D=st.integers(1, 3), spherical=st.booleans(), batch=st.integers(1, 4),
       seed=st.integers(0, 2**32 - 1))
def test_gaussian_network_with_its_loss_matches_finite_differences(obs_dim, D, spherical, batch, seed):
    """Policy and value networks in one flat vector, composed with the Gaussian loss."""
    rng = np.random.default_rng(seed)
    net = ra.nn.GaussianActorCritic(obs_dim, D, hidden=(5, 4), spherical=spherical)
    theta = net.init(rng, np.float64)
    obs, R = rng.standard_normal((batch, obs_dim)), rng.standard_normal(batch)
    out, cache = net.forward(theta, obs)
    mu, x, v = net.split(out)
    assert out.shape == (batch, D + (1 if spherical else D) + 1)
    a = mu + rng.standard_normal((batch, D))
    advantage = R - v                                  # a constant of the policy term
    terms, d_mu, d_x, d_v = ra.gaussian_loss_grad(mu, x, v, a, R, beta=0.1, value_scale=0.5)
    d_theta = np.zeros_like(theta)
    net.backward(theta, cache, np.concatenate([d_mu, d_x, d_v[:, None]], axis=1), d_theta)

    def loss(th):
        o, c = net.forward(th, obs)
        m, xx, vv = net.split(o)
        t = ra.gaussian_loss_grad(m, xx, vv, a, R, beta=0.1, value_scale=0.5)[0]
        return t["loss"] - t["policy_loss"] - float(np.sum(gaussian_log_pi(m, xx, a) * advantage)), c

    def pattern(c):
        return [z > 0 for part in c for z in part[1:-1]]
    base = pattern(cache)
    checked = 0
    for i in range(net.n_params):
        old, vals, same = theta[i], [], True
        for sign in (1, -1):
            theta[i] = old + sign * 1e-6
            L, c = loss(theta)
            vals.append(L)
            same &= all(np.array_equal(p, q) for p, q in zip(base, pattern(c)))
        theta[i] = old
        if same:
            fd = (vals[0] - vals[1]) / 2e-6
            assert abs(d_theta[i] - fd) <= 1e-8 + 1e-5 * abs(fd), (i, d_theta[i], fd)
            checked += 1
    assert checked >= 0.8 * net.n_params
    # the two networks share nothing: the value loss alone moves only the value network's part
    d_only_v = np.zeros_like(theta)
    net.backward(theta, cache, np.concatenate([0 * d_mu, 0 * d_x, d_v[:, None]], axis=1), d_only_v)
    assert not d_only_v[:net.split_at].any() and d_only_v[net.split_at:].any()
