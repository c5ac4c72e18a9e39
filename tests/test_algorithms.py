"""The four worker loops on small MDPs whose values are known in closed form,
run through the deterministic scheduler (the same generators the worker
processes run)."""
import gymnasium as gym
import numpy as np
import pytest

from refasync.config import Config, preset
from refasync.logs import RunRecorder
from refasync.nn import build_network
from refasync.runner import run_deterministic

from mdps import TabularEnv, chain, chain_q_star, cliff, endless

N_CHAIN = 5
gym.register(id="RefasyncTest/Chain-v0", entry_point=lambda: TabularEnv(chain(N_CHAIN)))
gym.register(id="RefasyncTest/Cliff-v0", entry_point=lambda: TabularEnv(cliff()))
gym.register(id="RefasyncTest/Endless-v0", entry_point=lambda: TabularEnv(endless(), max_steps=10))


def train(tmp_path, algo, env, steps, **overrides):
    cfg = Config(algo=algo, env=env)
    for k, v in preset(algo, env).items():
        setattr(cfg, k, v)
    settings = dict(workers=2, steps=steps, seed=1, hidden=(), dtype="float64", gamma=0.9,
                    max_grad_norm=0.0, deterministic=True, progress_interval=1e9,
                    checkpoint_interval=1e9)
    settings.update(overrides)
    for k, v in settings.items():
        setattr(cfg, k, v)
    n_states = len(gym.make(env).unwrapped.transitions)
    spec = ((n_states,), 2, 1)
    net = build_network(cfg, *spec[:2])
    theta0 = net.init(np.random.default_rng(cfg.seed), np.float64)
    recorder = RunRecorder(str(tmp_path / algo), cfg, 1, progress=False)
    try:
        shared = run_deterministic(cfg, spec, theta0, recorder)
    finally:
        recorder.close()
    out, _ = net.forward(shared.theta, np.eye(n_states))
    return net, out


Q_METHODS = ["one-step-q", "one-step-sarsa", "n-step-q"]


@pytest.mark.parametrize("algo", Q_METHODS)
def test_q_methods_learn_the_chain_values(tmp_path, algo):
    # nearly greedy behaviour at the end, so Sarsa's and n-step's on-policy values ~ Q*
    out = train(tmp_path, algo, "RefasyncTest/Chain-v0", 30_000, lr=0.02, I_target=200,
                eps_finals=(0.01,), eps_probs=(1.0,), eps_anneal_steps=10_000)[1]
    Q_star = chain_q_star(N_CHAIN, 0.9)
    np.testing.assert_allclose(out[:N_CHAIN - 1], Q_star, atol=0.05)


def test_a3c_learns_the_chain_values(tmp_path):
    net, out = train(tmp_path, "a3c", "RefasyncTest/Chain-v0", 40_000, lr=0.02, beta=0.001)
    logits, V = net.split(out)
    V_star = chain_q_star(N_CHAIN, 0.9)[:, 1]
    pi_right = np.exp(logits[:, 1]) / np.exp(logits).sum(axis=1)
    assert np.all(pi_right[:N_CHAIN - 1] > 0.95)          # the optimal policy: always right
    np.testing.assert_allclose(V[:N_CHAIN - 1], V_star, atol=0.05)


CLIFF_EPS = dict(eps_finals=(0.3,), eps_probs=(1.0,), eps_anneal_steps=1)


def test_q_learning_takes_the_risky_path_on_the_cliff(tmp_path):
    q = train(tmp_path, "one-step-q", "RefasyncTest/Cliff-v0", 20_000, lr=0.02, I_target=100,
              **CLIFF_EPS)[1]
    # greedy target: Q(1,0) = 1, Q(1,1) = -10, Q(0,0) = .9 > Q(0,1) = .72
    np.testing.assert_allclose(q[0], [0.9, 0.72], atol=0.05)
    np.testing.assert_allclose(q[1], [1.0, -10.0], atol=0.2)
    assert np.argmax(q[0]) == 0


def test_sarsa_takes_the_safe_path_on_the_cliff(tmp_path):
    q = train(tmp_path, "one-step-sarsa", "RefasyncTest/Cliff-v0", 20_000, lr=0.02, I_target=100,
              **CLIFF_EPS)[1]
    # on-policy with eps = .3: V(1) = .85 * 1 + .15 * (-10) = -.65; Q(0,0) = -.585 < Q(0,1) = .72
    np.testing.assert_allclose(q[0], [-0.585, 0.72], atol=0.15)
    assert np.argmax(q[0]) == 1


@pytest.mark.parametrize("algo", Q_METHODS + ["a3c"])
def test_truncation_bootstraps_instead_of_ending_the_return(tmp_path, algo):
    """Episodes are cut at 10 steps by the time limit only: with the bootstrap the
    values reach 1 / (1 - gamma) = 10; a run that treated truncation as terminal
    would learn the mean of the truncated returns (about 4.4 at gamma 0.9)."""
    net, out = train(tmp_path, algo, "RefasyncTest/Endless-v0", 20_000, lr=0.05, I_target=100,
                     eps_finals=(0.1,), eps_probs=(1.0,), eps_anneal_steps=1_000)
    values = net.split(out)[1] if algo == "a3c" else out
    np.testing.assert_allclose(values, 10.0, rtol=0.05)
