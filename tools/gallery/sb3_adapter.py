"""stable-baselines3's A2C, cross-checked through its own code.

    python -m refasync.crosscheck --adapter tools/gallery/sb3_adapter.py   (in .gallery-venv)

What is called (stable-baselines3 2.9.2):
* ``replay`` (A3C only): ``A2C.train()`` itself, once per recorded segment, on an
  ``A2C`` whose policy has refasync's MLP (a features extractor with the hidden
  ReLU layers, shared by ``action_net`` and ``value_net``) loaded with theta; the
  returns come from ``RolloutBuffer.compute_returns_and_advantage`` (GAE with
  lambda 1 = the n-step returns), the learning rate from ``lr_schedule`` at
  ``_current_progress_remaining``, the optimizer is the one A2C builds
  (``torch.optim.RMSprop``).
* ``segment_returns``: ``RolloutBuffer.compute_returns_and_advantage``.
* ``a3c_loss_grad``: the loss expression of ``A2C.train()`` (a2c.py, the lines from
  ``policy_loss =`` to ``loss =``) on sb3's ``CategoricalDistribution``, reproduced
  here because train() computes it inline from a rollout buffer.
* ``rmsprop_steps``: ``torch.optim.RMSprop`` as A2C configures it.
* ``mlp_forward_backward`` (actor-critic): the sb3 policy built as for the replay.

CONVENTIONS, translated (the paper's quantity on the left, sb3's on the right):
* the loss is summed over a segment; sb3 averages over the rollout: advantages x n,
  ``ent_coef = beta n``, ``vf_coef = value_scale n`` for a segment of n steps;
* value_scale (R - V)^2  <->  vf_coef * F.mse_loss: vf_coef = value_scale (times n);
* lr (1 - T / steps)  <->  lr_schedule(progress_remaining = 1 - num_timesteps / total);
* a time-limit truncation: sb3's collect_rollouts adds gamma V(s_next) to the last
  reward and ends the episode (reproduced in ``_truncation``);
* clipping: ``clip_grad_norm_`` divides by norm + 1e-6, declared as ``clip_eps``.
NOT translated (differences the cross-check should show): sb3 keeps its policy in
float32 and its rollout buffer (rewards, values, returns, advantages) in float32,
and ``torch.optim.RMSprop`` puts eps outside the square root.
"""
import json
import os
import sys

import gymnasium as gym
import numpy as np
import torch as th
from stable_baselines3 import A2C
from stable_baselines3.common.buffers import RolloutBuffer
from stable_baselines3.common.distributions import CategoricalDistribution
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor
from stable_baselines3.common.logger import configure
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import layout  # noqa: E402

clip_eps = 1e-6        # torch.nn.utils.clip_grad_norm_: max_norm / (norm + 1e-6)


class Trunk(BaseFeaturesExtractor):
    """refasync's hidden layers (Linear + ReLU), shared by sb3's action_net and value_net."""

    def __init__(self, observation_space, hidden):
        super().__init__(observation_space, features_dim=hidden[-1])
        dims = [observation_space.shape[0], *hidden]
        self.net = nn.Sequential(*[m for a, b in zip(dims[:-1], dims[1:]) for m in (nn.Linear(a, b), nn.ReLU())])

    def forward(self, obs):
        return self.net(obs)


class _Spaces(gym.Env):
    """Only the spaces: A2C needs an env to be built; train() never steps it."""

    def __init__(self, obs_dim, n_actions):
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, (obs_dim,), np.float32)
        self.action_space = gym.spaces.Discrete(n_actions)

    def reset(self, seed=None, options=None):
        return np.zeros(self.observation_space.shape, np.float32), {}

    def step(self, action):
        return np.zeros(self.observation_space.shape, np.float32), 0.0, True, False, {}


def _model(obs_dim, hidden, n_actions, c=None):
    c = c or {}
    lr = c.get("lr", 1e-3)
    anneal = c.get("lr_anneal", False)
    model = A2C("MlpPolicy", _Spaces(obs_dim, n_actions), n_steps=1, gamma=c.get("gamma", 0.99), gae_lambda=1.0,
                learning_rate=(lambda p: lr * p) if anneal else lr, max_grad_norm=c.get("max_grad_norm", 40.0),
                rms_prop_eps=c.get("rms_eps", 1e-5), use_rms_prop=True, normalize_advantage=False,
                policy_kwargs=dict(net_arch=[], features_extractor_class=Trunk,
                                   features_extractor_kwargs=dict(hidden=list(hidden)), share_features_extractor=True,
                                   optimizer_kwargs=dict(alpha=c.get("rms_alpha", 0.99), eps=c.get("rms_eps", 1e-5),
                                                         weight_decay=0)),
                device="cpu", seed=0)
    model.set_logger(configure(None, [""]))       # train() records to a logger; nothing is written
    return model


def _linears(policy):
    return [m for m in policy.features_extractor.net if isinstance(m, nn.Linear)]


def _load(policy, theta, obs_dim, hidden, n_actions):
    pairs = layout.split(np.asarray(theta, np.float64), layout.sizes(obs_dim, hidden, n_actions + 1))
    with th.no_grad():
        for lin, (W, b) in zip(_linears(policy), pairs[:-1]):
            lin.weight.copy_(th.as_tensor(W.T))
            lin.bias.copy_(th.as_tensor(b))
        W, b = pairs[-1]
        policy.action_net.weight.copy_(th.as_tensor(W[:, :n_actions].T))
        policy.action_net.bias.copy_(th.as_tensor(b[:n_actions]))
        policy.value_net.weight.copy_(th.as_tensor(W[:, n_actions:].T))
        policy.value_net.bias.copy_(th.as_tensor(b[n_actions:]))


def _flat(policy, of=lambda p: p):
    """``of(parameter)`` for every parameter of the policy (the parameter, its .grad, its
    optimizer state) in refasync's layout, float64."""
    get = lambda p: of(p).detach().numpy()  # noqa: E731
    pairs = [(get(lin.weight).T, get(lin.bias)) for lin in _linears(policy)]
    W = np.concatenate([get(policy.action_net.weight).T, get(policy.value_net.weight).T], 1)
    b = np.concatenate([get(policy.action_net.bias), get(policy.value_net.bias)])
    return layout.join(pairs + [(W, b)]).astype(np.float64)


def _square_avg(policy):
    """RMSprop's square_avg of a parameter (zeros before the first step): its g."""
    state = policy.optimizer.state
    return lambda p: state[p]["square_avg"] if p in state else th.zeros_like(p)


def _truncation(rewards, truncated, v_next, gamma):
    """sb3's collect_rollouts on a time limit: reward += gamma V(terminal observation), then done."""
    rewards = np.array(rewards, dtype=np.float64)
    if truncated:
        rewards[-1] += gamma * v_next
    return rewards


def _returns(rewards, values, last_value, done, gamma):
    """RolloutBuffer.compute_returns_and_advantage (GAE, lambda 1): returns and advantages."""
    n = len(rewards)
    buf = RolloutBuffer(n, gym.spaces.Box(-1, 1, (1,)), gym.spaces.Discrete(2), device="cpu", gamma=gamma,
                        gae_lambda=1.0, n_envs=1)
    buf.rewards[:, 0] = rewards
    buf.values[:, 0] = values
    buf.episode_starts[:, 0] = 0.0
    buf.compute_returns_and_advantage(th.tensor([float(last_value)]), np.array([bool(done)]))
    return buf.returns[:, 0].astype(np.float64), buf.advantages[:, 0].astype(np.float64)


def segment_returns(rewards, terminated, truncated, v_last, gamma):
    rewards = _truncation(rewards, truncated, v_last, gamma)
    return _returns(rewards, np.zeros(len(rewards)), v_last, terminated or truncated, gamma)[0]


def a3c_loss_grad(logits, v, a, R, beta, value_scale):
    n = len(a)
    logits = th.tensor(np.asarray(logits), requires_grad=True)
    values = th.tensor(np.asarray(v), requires_grad=True)
    returns = th.as_tensor(np.asarray(R, dtype=np.asarray(v).dtype))
    dist = CategoricalDistribution(logits.shape[1]).proba_distribution(action_logits=logits)
    log_prob, entropy = dist.log_prob(th.as_tensor(a)), dist.entropy()
    advantages = (returns - values).detach() * n                 # CONVENTION: mean -> sum
    ent_coef, vf_coef = beta * n, value_scale * n                 # CONVENTION: mean -> sum
    # a2c.py, A2C.train():
    policy_loss = -(advantages * log_prob).mean()
    value_loss = th.nn.functional.mse_loss(returns, values)
    entropy_loss = -th.mean(entropy)
    loss = policy_loss + ent_coef * entropy_loss + vf_coef * value_loss
    loss.backward()
    return logits.grad.numpy(), values.grad.numpy()


def rmsprop_steps(theta, g, d_thetas, lr, alpha, eps):
    p = th.nn.Parameter(th.tensor(np.asarray(theta)))
    opt = th.optim.RMSprop([p], lr=lr, alpha=alpha, eps=eps, weight_decay=0)   # as A2C builds it
    opt.state[p]["step"] = th.tensor(0.0)
    opt.state[p]["square_avg"] = th.tensor(np.asarray(g)).clone()
    for d in d_thetas:
        p.grad = th.tensor(np.asarray(d))
        opt.step()
    return p.detach().numpy(), opt.state[p]["square_avg"].numpy()


def mlp_forward_backward(theta, obs, d_out, hidden, n_actions, head):
    if head != "actor_critic":
        raise NotImplementedError("A2C's policy has the actor-critic head only")
    model = _model(obs.shape[1], hidden, n_actions)
    policy = model.policy              # float32: sb3's preprocess_obs casts observations to float32
    _load(policy, theta, obs.shape[1], hidden, n_actions)
    latent = policy.extract_features(th.tensor(np.asarray(obs)), policy.features_extractor)
    out = th.cat([policy.action_net(latent), policy.value_net(latent)], dim=1)
    (out * th.tensor(np.asarray(d_out, np.float32))).sum().backward()
    return out.detach().numpy(), _flat(policy, lambda p: p.grad)


def replay(config, theta0, worker, T, offsets, s, a, r, s_next, terminated, truncated, a_next,
           copy_after_step, copy_after_update):
    c = json.loads(config)
    if c["algo"] != "a3c":
        raise NotImplementedError("A2C is the actor-critic; no Q-learning replays")
    A, hidden, gamma = c["n_actions"], c["hidden"], c["gamma"]
    model = _model(c["obs_dim"], hidden, A, c)
    policy = model.policy                           # float32, as sb3 runs it
    _load(policy, theta0, c["obs_dim"], hidden, A)
    out = {k: [] for k in ("targets", "theta_sum", "theta_sumsq", "g_sum", "g_sumsq")}
    theta_first = None
    for k in range(len(worker)):
        j = slice(offsets[k], offsets[k + 1])
        n, last = offsets[k + 1] - offsets[k], offsets[k + 1] - 1
        obs = th.as_tensor(np.asarray(s[j], np.float32))
        with th.no_grad():
            values = policy.predict_values(obs).flatten().numpy()
            v_next = float(policy.predict_values(th.as_tensor(np.asarray(s_next[last:last + 1], np.float32))))
        rewards = _truncation(r[j], truncated[last], v_next, gamma)
        # the rollout buffer, as collect_rollouts leaves it (float32 arrays)
        buf = RolloutBuffer(n, model.observation_space, model.action_space, device="cpu", gamma=gamma,
                            gae_lambda=1.0, n_envs=1)
        with th.no_grad():
            _, log_prob, _ = policy.evaluate_actions(obs, th.as_tensor(a[j]))
        for i in range(n):
            buf.add(np.asarray(s[j][i:i + 1], np.float32), np.array([[a[j][i]]]), np.array([rewards[i]]),
                    np.array([i == 0]), th.tensor([values[i]]), log_prob[i:i + 1])
        buf.compute_returns_and_advantage(th.tensor([v_next]), np.array([bool(terminated[last] or truncated[last])]))
        buf.advantages *= n                                               # CONVENTION: mean -> sum
        model.ent_coef, model.vf_coef = c["beta"] * n, c["value_scale"] * n   # CONVENTION: mean -> sum
        model.rollout_buffer = buf
        model._current_progress_remaining = max(0.0, 1.0 - T[k] / c["steps"])   # CONVENTION: lr schedule
        model.train()                                                     # sb3's own update
        theta = _flat(policy)
        g = _flat(policy, _square_avg(policy))
        out["targets"] += list(buf.returns[:, 0].astype(np.float64))
        for name, x in (("theta_sum", theta.sum()), ("theta_sumsq", (theta ** 2).sum()), ("g_sum", g.sum()),
                        ("g_sumsq", (g ** 2).sum())):
            out[name].append(float(x))
        if k == 0:
            theta_first = theta
    return {"targets": np.array(out["targets"]), **{k: np.array(v) for k, v in out.items() if k != "targets"},
            "theta_first": theta_first}
