"""n-step returns and one-step targets: brute force, edge cases, golden values."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import refasync as ra

rewards_st = st.lists(st.floats(-10, 10, allow_nan=False), min_size=0, max_size=25)
gamma_st = st.floats(0, 1)
value_st = st.floats(-100, 100, allow_nan=False)


def brute_force_returns(r, bootstrap, gamma):
    """R_i = sum_k gamma^k r_{i+k} + gamma^(n-i) bootstrap, straight from the definition."""
    n = len(r)
    return np.array([sum(gamma ** k * r[i + k] for k in range(n - i)) + gamma ** (n - i) * bootstrap
                     for i in range(n)])


@settings(max_examples=200, deadline=None)
@given(rewards_st, value_st, gamma_st)
def test_n_step_returns_match_brute_force(r, bootstrap, gamma):
    R = ra.n_step_returns(r, bootstrap, gamma)
    assert R.shape == (len(r),)
    np.testing.assert_allclose(R, brute_force_returns(r, bootstrap, gamma), rtol=1e-10, atol=1e-9)


@settings(max_examples=100, deadline=None)
@given(st.floats(-10, 10), st.lists(st.floats(-10, 10), min_size=1, max_size=8),
       st.booleans(), gamma_st)
def test_one_step_return_equals_one_step_q_target(r, q_next, terminal, gamma):
    bootstrap = 0.0 if terminal else max(q_next)
    y = ra.one_step_q_target([r], [q_next], [terminal], gamma)
    np.testing.assert_allclose(ra.n_step_returns([r], bootstrap, gamma), y, rtol=1e-12, atol=1e-12)


@settings(max_examples=100, deadline=None)
@given(rewards_st, gamma_st)
def test_terminal_segment_gives_monte_carlo_return(r, gamma):
    mc = [sum(gamma ** k * x for k, x in enumerate(r[i:])) for i in range(len(r))]
    np.testing.assert_allclose(ra.n_step_returns(r, 0.0, gamma), mc, rtol=1e-10, atol=1e-9)


def test_n_step_golden_values():
    # R_2 = 2 + .5*10 = 7;  R_1 = 0 + .5*7 = 3.5;  R_0 = 1 + .5*3.5 = 2.75
    np.testing.assert_allclose(ra.n_step_returns([1.0, 0.0, 2.0], 10.0, 0.5), [2.75, 3.5, 7.0])
    # terminal: R = 1, 1.9, 2.71
    np.testing.assert_allclose(ra.n_step_returns([1.0, 1.0, 1.0], 0.0, 0.9), [2.71, 1.9, 1.0])
    # gamma = 0: R_i = r_i whatever the bootstrap;  gamma = 1: sums from the end
    np.testing.assert_allclose(ra.n_step_returns([3.0, -1.0], 99.0, 0.0), [3.0, -1.0])
    np.testing.assert_allclose(ra.n_step_returns([3.0, -1.0], 5.0, 1.0), [7.0, 4.0])
    assert ra.n_step_returns([], 5.0, 0.9).shape == (0,)


def test_n_step_rejects_non_vector_rewards():
    with pytest.raises(ValueError):
        ra.n_step_returns(np.zeros((2, 2)), 0.0, 0.9)


def test_one_step_targets_golden_values():
    r = [1.0, -1.0]
    q_next = [[0.5, 2.0], [3.0, -1.0]]
    terminal = [False, True]
    # Q-learning: 1 + .9 * max(.5, 2) = 2.8;  terminal: -1
    np.testing.assert_allclose(ra.one_step_q_target(r, q_next, terminal, 0.9), [2.8, -1.0])
    # Sarsa with a' = 0: 1 + .9 * .5 = 1.45;  terminal ignores a'
    np.testing.assert_allclose(ra.one_step_sarsa_target(r, q_next, [0, 1], terminal, 0.9), [1.45, -1.0])
    # a' = argmax makes Sarsa's target equal Q-learning's
    np.testing.assert_allclose(ra.one_step_sarsa_target(r, q_next, [1, 0], terminal, 0.9),
                               ra.one_step_q_target(r, q_next, terminal, 0.9))
