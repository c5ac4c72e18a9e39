"""pfrl's A3C, cross-checked through its own code.

    python -m refasync.crosscheck --adapter tools/gallery/pfrl_adapter.py   (in .gallery-venv)

What is called (pfrl 0.4.0, with torch 2.13):
* ``replay`` (A3C only): ``pfrl.agents.A3C`` itself, built as its Atari reproduction
  builds it (``examples/atari/reproduction/a3c/train_a3c.py``: ``SharedRMSpropEpsInsideSqrt``,
  ``max_grad_norm``, ``beta``); each recorded step goes through the agent's own
  ``_observe_train`` (the action that ``_act_train`` would have stored is the recorded
  one), which calls ``A3C.update()`` at the segment's end: pfrl computes the returns,
  the loss, the clipping (``clip_l2_grad_norm_``), copies the gradient to the shared
  model, steps the optimizer and re-synchronises. The learning rate is set as the
  reproduction's ``LinearInterpolationHook`` sets it (after every global step,
  ``np.interp(step, [1, steps], [lr, 0])``; the update at counter T runs under the
  value set at T - 1).
* ``rmsprop_steps``: ``pfrl.optimizers.SharedRMSpropEpsInsideSqrt``.
* ``a3c_loss_grad``: the loss expression of ``A3C.update()`` (a3c.py, the lines from
  ``batch_adv =`` to ``total_loss =``), reproduced because update() computes it inline.
* ``segment_returns``: the return loop of ``A3C.update()`` (``R *= gamma; R += r``),
  reproduced, with its ``torch.as_tensor(..., dtype=torch.float)``.

CONVENTIONS, translated:
* value_scale (R - V)^2  <->  v_loss_coef * sum (V - R)^2 / 2: v_loss_coef = 2 value_scale
  (the reproduction's 0.5 is the loss 0.25 (R - V)^2: pfrl's reading of "multiply the
  gradients of V by 0.5");
* the segment's end: A3C.t_max is set to the recorded segment's length, so that pfrl's
  own trigger (t - t_start == t_max, done or reset) updates exactly there;
* a time-limit truncation is pfrl's ``reset`` (bootstrap from the last observation);
* clipping: ``clip_l2_grad_norm_`` divides by norm + 1e-6, declared as ``clip_eps``.
NOT translated: the model runs in float32 (torch's default, as in pfrl's examples) and
``update()`` makes the returns float32 (``dtype=torch.float``).
"""
import json
import os
import sys

import numpy as np
import pfrl
import torch
from pfrl.agents import a3c as pfrl_a3c
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import layout  # noqa: E402

clip_eps = 1e-6        # pfrl.utils.clip_l2_grad_norm_: max_norm / (total_norm + 1e-6)


class ActorCritic(nn.Module):
    """refasync's MLP as a pfrl A3C model: (pi distribution, V) from one output layer."""

    def __init__(self, obs_dim, hidden, n_actions):
        super().__init__()
        dims = [obs_dim, *hidden]
        self.trunk = nn.Sequential(*[m for a, b in zip(dims[:-1], dims[1:]) for m in (nn.Linear(a, b), nn.ReLU())])
        self.out = nn.Linear(dims[-1], n_actions + 1)
        self.n_actions = n_actions

    def forward(self, x):
        out = self.out(self.trunk(x))
        return torch.distributions.Categorical(logits=out[:, :self.n_actions]), out[:, self.n_actions:]

    def linears(self):
        return [m for m in self.trunk if isinstance(m, nn.Linear)] + [self.out]

    def load(self, theta):
        sizes = layout.sizes(self.linears()[0].in_features, [m.out_features for m in self.linears()[:-1]],
                             self.out.out_features)
        with torch.no_grad():
            for lin, (W, b) in zip(self.linears(), layout.split(np.asarray(theta, np.float64), sizes)):
                lin.weight.copy_(torch.as_tensor(W.T))
                lin.bias.copy_(torch.as_tensor(b))
        return self

    def flat(self, of=lambda p: p):
        return layout.join([(of(m.weight).detach().numpy().T, of(m.bias).detach().numpy())
                            for m in self.linears()]).astype(np.float64)


def _lr(c, T):
    """The reproduction's LinearInterpolationHook: lr at the global step before T."""
    step = T - 1
    return float(np.interp(step, [1, c["steps"]], [c["lr"], 0.0])) if c["lr_anneal"] and step >= 1 else c["lr"]


def replay(config, theta0, worker, T, offsets, s, a, r, s_next, terminated, truncated, a_next,
           copy_after_step, copy_after_update):
    c = json.loads(config)
    if c["algo"] != "a3c":
        raise NotImplementedError("pfrl's A3C only (its n-step Q is another agent)")
    model = ActorCritic(c["obs_dim"], c["hidden"], c["n_actions"]).load(theta0)
    model.share_memory()
    optimizer = pfrl.optimizers.SharedRMSpropEpsInsideSqrt(model.parameters(), lr=c["lr"], eps=c["rms_eps"],
                                                           alpha=c["rms_alpha"])
    for state in optimizer.state.values():
        for v in state.values():
            if torch.is_tensor(v):
                v.share_memory_()
    agent = pfrl.agents.A3C(model, optimizer, t_max=1, gamma=c["gamma"], beta=c["beta"],
                            v_loss_coef=2 * c["value_scale"],           # CONVENTION: pfrl's v_loss is / 2
                            max_grad_norm=c["max_grad_norm"], phi=lambda x: np.asarray(x, np.float32))
    norms = []
    clip = pfrl_a3c.clip_l2_grad_norm_

    def recording_clip(parameters, max_norm):         # pfrl returns the norm; update() drops it
        norms.append(float(clip(parameters, max_norm)))
        return norms[-1]
    pfrl_a3c.clip_l2_grad_norm_ = recording_clip
    square_avg = lambda p: optimizer.state[p]["square_avg"]  # noqa: E731
    out = {k: [] for k in ("theta_sum", "theta_sumsq", "g_sum", "g_sumsq")}
    theta_first = None
    try:
        for k in range(len(worker)):
            steps = range(offsets[k], offsets[k + 1])
            agent.t_max = len(steps)                                  # CONVENTION: end where the run ended
            for group in optimizer.param_groups:
                group["lr"] = _lr(c, int(T[k]))                       # CONVENTION: the hook's lr
            for j in steps:
                agent.past_obs[agent.t] = s[j]                        # what _act_train would store
                agent.past_action[agent.t] = torch.as_tensor(a[j])
                agent._observe_train(s_next[j], float(r[j]), bool(terminated[j]), bool(truncated[j]))
            theta, g = model.flat(), model.flat(square_avg)
            for name, x in zip(out, (theta.sum(), (theta ** 2).sum(), g.sum(), (g ** 2).sum())):
                out[name].append(float(x))
            if k == 0:
                theta_first = theta
    finally:
        pfrl_a3c.clip_l2_grad_norm_ = clip
    return {**{k: np.array(v) for k, v in out.items()}, "grad_norm": np.array(norms), "theta_first": theta_first}


def rmsprop_steps(theta, g, d_thetas, lr, alpha, eps):
    p = nn.Parameter(torch.tensor(np.asarray(theta)))
    opt = pfrl.optimizers.SharedRMSpropEpsInsideSqrt([p], lr=lr, eps=eps, alpha=alpha)
    opt.state[p]["square_avg"].copy_(torch.as_tensor(np.asarray(g)))
    for d in d_thetas:
        p.grad = torch.tensor(np.asarray(d))
        opt.step()
    return p.detach().numpy(), opt.state[p]["square_avg"].numpy()


def segment_returns(rewards, terminated, truncated, v_last, gamma):
    R = 0 if terminated else float(v_last)                   # update(): statevar None when done
    rev_returns = []
    for r_i in reversed(list(rewards)):                      # a3c.py, A3C.update()
        R *= gamma
        R += r_i
        rev_returns.append(R)
    return torch.as_tensor(list(reversed(rev_returns)), dtype=torch.float).numpy()


def a3c_loss_grad(logits, v, a, R, beta, value_scale):
    logits = torch.tensor(np.asarray(logits), requires_grad=True)
    batch_v = torch.tensor(np.asarray(v)[:, None], requires_grad=True)
    batch_distrib = torch.distributions.Categorical(logits=logits)
    batch_log_prob = batch_distrib.log_prob(torch.as_tensor(a))
    batch_entropy = batch_distrib.entropy()
    batch_return = torch.as_tensor(np.asarray(R), dtype=batch_v.dtype)
    # a3c.py, A3C.update(), with v_loss_coef = 2 value_scale (CONVENTION):
    batch_adv = batch_return - batch_v.detach().squeeze(-1)
    pi_loss = torch.sum(-batch_adv * batch_log_prob - beta * batch_entropy, dim=0)
    v_loss = torch.nn.functional.mse_loss(batch_v, batch_return[..., None], reduction="sum") / 2
    v_loss *= 2 * value_scale
    total_loss = torch.squeeze(pi_loss) + torch.squeeze(v_loss)
    total_loss.backward()
    return logits.grad.numpy(), batch_v.grad[:, 0].numpy()
