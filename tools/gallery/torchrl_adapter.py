"""torchrl's A2CLoss and its value estimator, cross-checked through their own code.

    python -m refasync.crosscheck --adapter tools/gallery/torchrl_adapter.py   (in .gallery-venv)

What is called (torchrl 0.14.1, tensordict 0.14.3, torch 2.13):
* ``a3c_loss_grad``: ``torchrl.objectives.A2CLoss.forward`` itself, on a TensorDict that
  holds the case's logits and values (the actor and critic networks are identities from
  those entries to ``logits`` / ``state_value``, the policy a ``ProbabilisticActor`` with
  ``torch.distributions.Categorical``), the advantage and the value target;
* ``segment_returns``: ``torchrl.objectives.value.functional.vec_td1_return_estimate``, the
  computation of the ``TD1Estimator`` (A2CLoss's Monte-Carlo value estimator), with
  torchrl's two flags: ``done`` at the segment's end, ``terminated`` only at a terminal.

CONVENTIONS, translated (each one an A2CLoss option, not a patch):
* ``reduction="sum"``: the paper sums over the segment (A2CLoss's default is the mean);
* ``loss_critic_type="l2"``: the paper's (R - V)^2 (A2CLoss's default is ``"smooth_l1"``,
  the Huber loss, which differs from the paper for |R - V| > 1);
* ``critic_coeff = value_scale``, ``entropy_coeff = beta``.
Found (and left as they are, for the table to show): ``gamma`` given as a Python float
is made a float32 tensor inside the return estimate, so float64 returns are discounted
with float32's 0.99 (errors ~1e-7); gamma 0 raises IndexError in ``_custom_conv1d``;
A2CLoss keeps ``entropy_coeff`` as a float32 buffer (0.01 becomes 0.009999999776).
The replay is not provided: torchrl has no trainer that applies a recorded segment (a
user composes the loss with a torch optimizer, as the stable-baselines3 and pfrl
adapters already check for torch.optim.RMSprop and pfrl's RMSProp).
"""
import numpy as np
import torch
from tensordict import TensorDict
from tensordict.nn import TensorDictModule
from torch import nn
from torchrl.modules import ProbabilisticActor, ValueOperator
from torchrl.objectives import A2CLoss
from torchrl.objectives.value.functional import vec_td1_return_estimate


def segment_returns(rewards, terminated, truncated, v_last, gamma):
    r = torch.as_tensor(np.asarray(rewards))[:, None]          # (time, 1): time_dim=-2
    next_value = torch.zeros_like(r)
    next_value[-1] = float(v_last)
    done = torch.zeros_like(r, dtype=torch.bool)
    done[-1] = True                                              # the segment ends here
    term = torch.zeros_like(done)
    term[-1] = bool(terminated)                                  # ... and the episode only if terminal
    return vec_td1_return_estimate(gamma, next_value, r, done, term)[:, 0].numpy()


def _loss_module(beta, value_scale):
    actor = ProbabilisticActor(TensorDictModule(nn.Identity(), in_keys=["logits_in"], out_keys=["logits"]),
                               in_keys=["logits"], distribution_class=torch.distributions.Categorical,
                               return_log_prob=False)
    critic = ValueOperator(nn.Identity(), in_keys=["value_in"])
    return A2CLoss(actor, critic, entropy_coeff=beta, critic_coeff=value_scale,  # CONVENTION
                   loss_critic_type="l2", reduction="sum")                       # CONVENTION


def a3c_loss_grad(logits, v, a, R, beta, value_scale):
    logits = torch.tensor(np.asarray(logits), requires_grad=True)
    v = torch.tensor(np.asarray(v)[:, None], requires_grad=True)
    R = torch.as_tensor(np.asarray(R, dtype=np.asarray(v.detach()).dtype))[:, None]
    td = TensorDict({"logits_in": logits, "value_in": v, "action": torch.as_tensor(a),
                     "advantage": (R - v).detach(), "value_target": R}, batch_size=[len(a)])
    losses = _loss_module(beta, value_scale)(td)
    total = sum(losses.get(k, 0.0) for k in ("loss_objective", "loss_critic", "loss_entropy"))  # (beta 0: none)
    total.backward()
    return logits.grad.numpy(), v.grad[:, 0].numpy()


def replay(config, *args):
    raise NotImplementedError("torchrl has no trainer for a recorded segment (see the adapter's docstring)")
