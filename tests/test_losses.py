"""Loss gradients w.r.t. network outputs: finite differences, signs, golden values."""
import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import refasync as ra

from numerics import central_diff as fd, fd_atol


batch = st.integers(1, 6)
actions = st.integers(1, 6)
seeds = st.integers(0, 2**32 - 1)


@settings(max_examples=60, deadline=None)
@given(batch, actions, seeds)
def test_q_loss_grad_matches_finite_differences(B, A, seed):
    rng = np.random.default_rng(seed)
    q = rng.standard_normal((B, A)) * 3
    a = rng.integers(0, A, B)
    y = rng.standard_normal(B) * 3
    L, d_q = ra.q_loss_grad(q, a, y)
    np.testing.assert_allclose(L, sum((y[i] - q[i, a[i]]) ** 2 for i in range(B)))
    np.testing.assert_allclose(d_q, fd(lambda: ra.q_loss_grad(q, a, y)[0], q), rtol=1e-6, atol=1e-7)


def test_q_loss_golden_values():
    # td = y - Q(s,a) = [3-2, 1-3] = [1, -2];  L = 1 + 4;  dL/dQ(s,a) = -2 td
    L, d_q = ra.q_loss_grad(np.array([[1.0, 2.0], [3.0, 4.0]]), [1, 0], [3.0, 1.0])
    assert L == 5.0
    np.testing.assert_array_equal(d_q, [[0.0, -2.0], [4.0, 0.0]])


def a3c_objective(logits, v, a, advantage, R, beta, value_scale):
    """Naive objective with the advantage held constant in the policy term."""
    total = 0.0
    for i in range(len(a)):
        z = logits[i] - logits[i].max()
        pi = np.exp(z) / np.exp(z).sum()
        H = -sum(p * math.log(p) for p in pi)
        total += -math.log(pi[a[i]]) * advantage[i] - beta * H + value_scale * (R[i] - v[i]) ** 2
    return total


@settings(max_examples=60, deadline=None)
@given(batch, actions, seeds, st.floats(0, 1), st.sampled_from([1.0, 0.5, 0.25]))
def test_a3c_grad_matches_finite_differences(B, A, seed, beta, value_scale):
    rng = np.random.default_rng(seed)
    logits = rng.standard_normal((B, A)) * 2
    v = rng.standard_normal(B)
    a = rng.integers(0, A, B)
    R = rng.standard_normal(B) * 2
    advantage = R - v                       # constant: no gradient through it
    terms, d_logits, d_v = ra.a3c_loss_grad(logits, v, a, R, beta, value_scale)
    f = lambda: a3c_objective(logits, v, a, advantage, R, beta, value_scale)  # noqa: E731
    np.testing.assert_allclose(terms["loss"], f(), rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(d_logits, fd(f, logits), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(d_v, fd(f, v), rtol=1e-6, atol=1e-7)


@settings(max_examples=60, deadline=None)
@given(st.integers(2, 6), seeds)
def test_entropy_bonus_pushes_policy_towards_uniform(A, seed):
    rng = np.random.default_rng(seed)
    logits = rng.standard_normal((1, A)) * 2
    R = v = np.zeros(1)                    # zero advantage and value error: entropy term only
    terms, d_logits, _ = ra.a3c_loss_grad(logits, v, [0], R, beta=0.01)
    stepped = logits - 0.1 * d_logits      # one descent step on the loss
    H_after = ra.a3c_loss_grad(stepped, v, [0], R, beta=0.01)[0]["entropy"]
    assert H_after >= terms["entropy"] - 1e-12
    if np.ptp(logits) > 1e-3:
        assert H_after > terms["entropy"]


def test_a3c_golden_values():
    # uniform policy over 2 actions, V = .5, R = 1.5 -> A = 1
    terms, d_logits, d_v = ra.a3c_loss_grad(np.zeros((1, 2)), np.array([0.5]), [0], [1.5],
                                            beta=0.1, value_scale=0.5)
    np.testing.assert_allclose(d_logits, [[-0.5, 0.5]])        # -A (onehot - pi); entropy grad 0 at uniform
    np.testing.assert_allclose(d_v, [-1.0])                    # -2 * .5 * A
    np.testing.assert_allclose(terms["policy_loss"], math.log(2))
    np.testing.assert_allclose(terms["entropy"], math.log(2))
    np.testing.assert_allclose(terms["value_loss"], 0.5)
    np.testing.assert_allclose(terms["loss"], math.log(2) - 0.1 * math.log(2) + 0.5)
    # pi = (.75, .25), zero advantage, beta = 1: dL/dz = pi (log pi + H)
    #   = (.75 (-.2876821 + .5623351), .25 (-1.3862944 + .5623351)) = (.2059898, -.2059898)
    H = -(0.75 * math.log(0.75) + 0.25 * math.log(0.25))       # 0.5623351...
    _, d_logits, _ = ra.a3c_loss_grad(np.array([[math.log(3.0), 0.0]]), np.zeros(1), [0], [0.0], beta=1.0)
    np.testing.assert_allclose(d_logits, [[0.75 * (math.log(0.75) + H), 0.25 * (math.log(0.25) + H)]])
    np.testing.assert_allclose(d_logits, [[0.2059898, -0.2059898]], rtol=1e-6)


def test_a3c_grad_keeps_float32():
    terms, d_logits, d_v = ra.a3c_loss_grad(np.zeros((2, 3), np.float32), np.zeros(2, np.float32),
                                            [0, 1], [1.0, 2.0], beta=0.01)
    assert d_logits.dtype == np.float32 and d_v.dtype == np.float32


# ------------------------------------------------------------------ Gaussian policy
def gaussian_objective(mu, sigma2_in, v, a, advantage, R, beta, value_scale):
    """The Gaussian A3C loss written out naively, the advantage a constant."""
    total = 0.0
    for i in range(mu.shape[0]):
        for d in range(mu.shape[1]):
            x = sigma2_in[i, d if sigma2_in.shape[1] > 1 else 0]
            s2 = math.log1p(math.exp(x))
            log_p = -0.5 * math.log(2 * math.pi * s2) - (a[i, d] - mu[i, d]) ** 2 / (2 * s2)
            total += -log_p * advantage[i] - beta * 0.5 * (math.log(2 * math.pi * s2) + 1)
        total += value_scale * (R[i] - v[i]) ** 2
    return total


@settings(max_examples=60, deadline=None)
@given(batch, st.integers(1, 4), st.booleans(), seeds, st.floats(0, 1), st.sampled_from([1.0, 0.5]))
def test_gaussian_grad_matches_finite_differences(B, D, spherical, seed, beta, value_scale):
    rng = np.random.default_rng(seed)
    mu = rng.standard_normal((B, D))
    sigma2_in = rng.standard_normal((B, 1 if spherical else D)) * 2
    v, R = rng.standard_normal(B), rng.standard_normal(B) * 2
    a = mu + rng.standard_normal((B, D)) * 1.5
    advantage = R - v
    terms, d_mu, d_x, d_v = ra.gaussian_loss_grad(mu, sigma2_in, v, a, R, beta, value_scale)
    f = lambda: gaussian_objective(mu, sigma2_in, v, a, advantage, R, beta, value_scale)  # noqa: E731
    np.testing.assert_allclose(terms["loss"], f(), rtol=1e-10, atol=1e-10)
    atol = fd_atol(f())                  # the sum can be in the thousands: FD rounding dominates
    np.testing.assert_allclose(d_mu, fd(f, mu), rtol=1e-6, atol=atol)
    np.testing.assert_allclose(d_x, fd(f, sigma2_in), rtol=1e-6, atol=atol)
    np.testing.assert_allclose(d_v, fd(f, v), rtol=1e-6, atol=atol)
    assert d_x.shape == sigma2_in.shape


@settings(max_examples=40, deadline=None)
@given(batch, st.integers(1, 4), st.booleans(), seeds, st.floats(0, 1))
def test_tanh_mean_policy_grad_matches_finite_differences(B, D, spherical, seed, beta):
    """DEVIATION 7: with the tanh mean, GaussianPolicy.loss_grad is the gradient w.r.t. the
    network's outputs (mu_in, sigma2_in) of the loss at mu = tanh(mu_in)."""
    from refasync.algorithms.policies import GaussianPolicy

    class Net:
        n_actions, bounded_mean = D, True
    rng = np.random.default_rng(seed)
    S = 1 if spherical else D
    params = np.concatenate([rng.standard_normal((B, D)) * 2, rng.standard_normal((B, S)) * 2], axis=1)
    v, R = rng.standard_normal(B), rng.standard_normal(B) * 2
    a = rng.uniform(-1.5, 1.5, (B, D))
    pi = GaussianPolicy(Net())
    terms, d_params, d_v = pi.loss_grad(params, v, a, R, beta, 0.5)
    f = lambda: gaussian_objective(np.tanh(params[:, :D]), params[:, D:], v, a, R - v, R, beta, 0.5)  # noqa: E731
    np.testing.assert_allclose(terms["loss"], f(), rtol=1e-10, atol=1e-10)
    # central differences at h = 1e-6 carry a round-off of about 1e-16 |L| / h = 1e-10 |L|
    # per element; with small sigma^2, |L| reaches thousands here
    np.testing.assert_allclose(d_params, fd(f, params), rtol=1e-6, atol=1e-7 + 1e-9 * abs(f()))
    assert np.all(np.abs(pi.mean(params)) < 1)


def test_box_action_maps_the_normalised_box_onto_the_bounds():
    """DEVIATION 7: [-1, 1] onto [low, high], clipped outside; the linear mean is clipped only."""
    import gymnasium as gym
    from refasync.envs import box_action
    box = gym.spaces.Box(np.array([-2.0, 0.0]), np.array([2.0, 10.0]), dtype=np.float64)
    np.testing.assert_allclose(box_action(np.array([-1.0, 1.0]), box, True), [-2.0, 10.0])
    np.testing.assert_allclose(box_action(np.array([0.0, 0.5]), box, True), [0.0, 7.5])
    np.testing.assert_allclose(box_action(np.array([-7.0, 3.0]), box, True), [-2.0, 10.0])
    np.testing.assert_allclose(box_action(np.array([0.5, 3.0]), box, False), [0.5, 3.0])
    np.testing.assert_allclose(box_action(np.array([-7.0, 30.0]), box, False), [-2.0, 10.0])


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 4), seeds)
def test_gaussian_entropy_bonus_pushes_sigma_up(D, seed):
    rng = np.random.default_rng(seed)
    mu, x = rng.standard_normal((1, D)), rng.standard_normal((1, 1)) * 3
    v = R = np.zeros(1)                         # zero advantage: the entropy term alone
    _, _, d_x, _ = ra.gaussian_loss_grad(mu, x, v, mu + 1.0, R, beta=1e-4)
    assert d_x[0, 0] < 0                        # descending the loss raises sigma^2 = softplus(x)


def test_gaussian_golden_values():
    # mu = 0, sigma^2 = softplus(x) = 1 at x = log(e - 1), a = 1, A = 2, beta = 0.5, one dimension:
    # log pi = -1/2 log(2 pi) - 1/2;  dL/dmu = -A u / s2 = -2;  dL/ds2 = -A (1/2 - 1/2) - beta/2 = -0.25
    # dL/dx = dL/ds2 * sigmoid(x) = -0.25 (e - 1) / e
    x = math.log(math.e - 1)
    terms, d_mu, d_x, d_v = ra.gaussian_loss_grad(np.zeros((1, 1)), np.array([[x]]), np.array([1.0]),
                                                  np.ones((1, 1)), np.array([3.0]), beta=0.5, value_scale=0.5)
    np.testing.assert_allclose(d_mu, [[-2.0]])
    np.testing.assert_allclose(d_x, [[-0.25 * (math.e - 1) / math.e]])
    np.testing.assert_allclose(d_v, [-2.0])
    np.testing.assert_allclose(terms["policy_loss"], 2 * (0.5 * math.log(2 * math.pi) + 0.5))
    np.testing.assert_allclose(terms["entropy"], 0.5 * (math.log(2 * math.pi) + 1))


def test_the_expected_policy_gradient_moves_mu_towards_the_best_action():
    """One-step bandit r(a) = -(a - a*)^2 with a fixed sigma^2: E[-dL/dmu] over a ~ N(mu, s2),
    with the advantage r(a) - b for a constant baseline b, is dE[r]/dmu = -2 (mu - a*)."""
    rng = np.random.default_rng(0)
    a_star, mu0, x = 1.5, np.array([[-0.5, 2.5]]), np.array([[0.3]])
    n = 400_000
    a = mu0 + math.sqrt(math.log1p(math.exp(0.3))) * rng.standard_normal((n, 2))
    r = -((a - a_star) ** 2).sum(axis=1)
    b = float(r.mean())
    _, d_mu, _, _ = ra.gaussian_loss_grad(np.repeat(mu0, n, axis=0), np.repeat(x, n, axis=0),
                                          np.full(n, b), a, r, beta=0.0)
    step = -d_mu.mean(axis=0)
    np.testing.assert_allclose(step, -2 * (mu0[0] - a_star), rtol=0.03)
    assert step[0] > 0 > step[1]                 # both coordinates move towards a* = 1.5
