"""Whole-algorithm traces for the cross-check: record the segments of a
deterministic run, and replay them without an environment or a random stream.

A *segment* is what one asynchronous update consumes: the steps a worker took
since its previous update.  Steps are numbered j = 0 … M−1 over the whole
trace; update k owns steps ``offsets[k] … offsets[k+1]−1``.  Per step:
``s`` (the state the action was taken in), ``a``, ``r`` (the reward the learner
sees), ``s_next``, ``terminated``, ``truncated``; for Sarsa ``a_next``, the a′ of
its target (−1 for the other algorithms); for the one-step methods
``copy_after_step``: θ⁻ ← θ happened after this step (Alg. 1 L13–14).  Per
update: ``worker``, ``T`` (the global counter after the segment's last step:
the learning rate of the update is ``lr · (1 − T / steps)``) and, for n-step Q,
``copy_after_update`` (θ⁻ ← θ after the update, Alg. 2 L25–26, DEVIATION 2).

``replay`` applies the updates in schedule order to one shared θ, θ⁻ and
RMSProp g, exactly as the workers of a ``--deterministic`` run do; a test holds
it to the recorded run.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Callable

import numpy as np

from .losses import a3c_loss_grad, q_loss_grad
from .nn import mlp
from .optim import clip_coefficient, grad_norm, linear_lr, rmsprop_step
from .targets import n_step_returns, one_step_q_target, one_step_sarsa_target

ONE_STEP = ("one-step-q", "one-step-sarsa")

# what a replay reads from the trace's configuration besides the settings marked ``replay``
# in config.Config: the network's sizes and layout
REPLAY_EXTRAS = ("obs_dim", "n_actions", "theta_layout")


def trace_config(algo, workers, seed, env="CartPole-v1", I_target=None):
    """The configuration of a golden trace: ``--algo algo --workers N --seed s
    --deterministic --dtype float64`` with the classic preset, and I_target
    overridden (the traces are short; copies of θ⁻ should happen inside them)."""
    from .config import Config, preset
    cfg = Config(algo=algo, env=env, workers=workers, seed=seed, deterministic=True)
    for k, v in preset(algo, env).items():
        setattr(cfg, k, v)
    cfg.dtype = "float64"
    if I_target is not None:
        cfg.I_target = I_target
    return cfg


def config_json(cfg):
    """The resolved configuration a port needs, as one JSON text (the sizes from cfg.env)."""
    from .envs import env_spec
    (obs_dim,), n_actions, _ = env_spec(cfg.env)
    net = mlp(obs_dim, n_actions, cfg.head, hidden=tuple(cfg.hidden))
    d = {**cfg.to_dict(), "obs_dim": obs_dim, "n_actions": n_actions,
         "theta_layout": [[name, list(shape), off] for name, shape, off in net.layout()]}
    from .config import replay_settings
    return json.dumps({k: d[k] for k in (*replay_settings(), *REPLAY_EXTRAS)}, sort_keys=True)


def record(cfg, updates, time_limit=None, logit_scale=None):
    """Run ``updates`` asynchronous updates of a deterministic run and return
    (theta0, segments, run) where ``segments`` is the dict of arrays described in
    the module docstring and ``run`` what the workers themselves reported per
    update (loss, grad_norm, targets, theta sums): the replay must give the same.

    ``time_limit``: an episode still running after this many steps is truncated
    (as gymnasium's TimeLimit does), so that the segments hold truncated steps.
    ``logit_scale``: the A3C output layer's policy weights and biases in theta0
    are multiplied by it (logits in the hundreds: a softmax without the max
    subtracted overflows)."""
    from .envs import env_spec
    from .nn import build_network
    from .runner import deterministic_shared, interleave
    spec = env_spec(cfg.env)
    net = build_network(cfg, *spec[:2])
    theta0 = net.init(np.random.default_rng(cfg.seed), np.float64)
    if logit_scale is not None:
        n_logits = spec[1]
        for name, shape, off in net.layout():
            if name in ("out.w", "out.b"):
                view = theta0[off:off + int(np.prod(shape))].reshape(shape)
                view[..., :n_logits] *= logit_scale
    shared = deterministic_shared(cfg, theta0)
    pending = {}                     # worker -> steps since its last update

    def watch(i, env):
        state = {"s": None, "length": 0}
        pending[i] = []
        reset, step = env.reset, env.step

        def recording_reset():
            state["s"], state["length"] = reset(), 0
            return state["s"]

        def recording_step(a):
            s_next, r, terminated, truncated = step(a)
            state["length"] += 1
            truncated = truncated or (time_limit is not None and state["length"] >= time_limit
                                      and not terminated)
            pending[i].append((state["s"].copy(), int(a), r, s_next.copy(), terminated, truncated))
            state["s"] = s_next
            return s_next, r, terminated, truncated
        env.reset, env.step = recording_reset, recording_step

    steps = {k: [] for k in ("s", "a", "r", "s_next", "terminated", "truncated", "a_next", "copy_after_step")}
    per_update = {k: [] for k in ("worker", "T", "copy_after_update")}
    run = {k: [] for k in ("target", "loss", "grad_norm", "theta_sum", "theta_sumsq")}
    offsets = [0]
    for i, y in interleave(cfg, spec, shared, lambda *episode: None, watch_env=watch):
        seg, pending[i] = pending[i], []
        assert [a for _, a, *_ in seg] == list(y["a"]), "the recorded steps are not the update's"
        n = len(seg)
        T_steps = range(y["T"] - n + 1, y["T"] + 1)     # one worker steps at a time in this mode
        for j, (s, a, r, s_next, terminated, truncated) in enumerate(seg):
            for k, v in (("s", s), ("a", a), ("r", r), ("s_next", s_next), ("terminated", terminated),
                         ("truncated", truncated)):
                steps[k].append(v)
            steps["a_next"].append(int(y["a_next"][j]) if "a_next" in y else -1)
            steps["copy_after_step"].append(cfg.algo in ONE_STEP and T_steps[j] % cfg.I_target == 0)
        per_update["worker"].append(i)
        per_update["T"].append(int(y["T"]))
        per_update["copy_after_update"].append(cfg.algo == "n-step-q"
                                               and any(T % cfg.I_target == 0 for T in T_steps))
        run["target"] += [float(x) for x in y["target"]]
        run["loss"].append(float(y["loss"]))
        run["grad_norm"].append(float(y["grad_norm"]))
        run["theta_sum"].append(float(np.sum(shared.theta)))
        run["theta_sumsq"].append(float(np.sum(shared.theta ** 2)))
        offsets.append(offsets[-1] + n)
        if len(offsets) > updates:
            break
    segments = {"worker": np.array(per_update["worker"]), "T": np.array(per_update["T"]),
                "offsets": np.array(offsets),
                "s": np.array(steps["s"], dtype=np.float64), "a": np.array(steps["a"]),
                "r": np.array(steps["r"], dtype=np.float64),
                "s_next": np.array(steps["s_next"], dtype=np.float64),
                "terminated": np.array(steps["terminated"]), "truncated": np.array(steps["truncated"]),
                "a_next": np.array(steps["a_next"]),
                "copy_after_step": np.array(steps["copy_after_step"]),
                "copy_after_update": np.array(per_update["copy_after_update"])}
    return theta0, segments, {k: np.array(v) for k, v in run.items()}


SEGMENT_NAMES = ("worker", "T", "offsets", "s", "a", "r", "s_next", "terminated", "truncated",
                 "a_next", "copy_after_step", "copy_after_update")
REPLAY_OUTPUTS = ("targets", "loss", "grad_norm", "theta_sum", "theta_sumsq", "g_sum", "g_sumsq",
                  "d_theta_first", "theta_first")


def lr_at_segment_end(T, offsets, k):
    """The counter value update k's learning rate is read at: T after its segment."""
    return T[k]


@dataclass(frozen=True)
class Parts:
    """The pieces a replay is made of: refasync's own unless replaced.  The
    cross-check's diagnosis replays with one piece swapped for a known variant
    (``crosscheck/diagnosis.py``) to name what an adapter does differently."""
    returns: Callable = n_step_returns                # (rewards, bootstrap, gamma) -> R
    q_target: Callable = one_step_q_target
    sarsa_target: Callable = one_step_sarsa_target
    q_loss_grad: Callable = q_loss_grad               # -> (loss, dL/dq)
    a3c_loss_grad: Callable = a3c_loss_grad           # -> (terms, dL/dlogits, dL/dv)
    clip_coefficient: Callable = clip_coefficient     # (norm, max_norm) -> factor
    optimizer_step: Callable = rmsprop_step           # (theta, g, d, lr, alpha, eps, scale), in place
    lr_T: Callable = lr_at_segment_end                # (T, offsets, k) -> the counter the lr is read at
    g0: float = 0.0                                   # RMSProp's g before the first update
    resync: bool = True                               # theta' <- theta at each segment's start
    truncation_bootstraps: bool = True                # ADDITION 9
    copy_late: bool = False                           # theta^- copies one update after their time
    target_dtype: type = np.float64                   # the dtype targets and returns are kept in


def replay(config, theta0, worker, T, offsets, s, a, r, s_next, terminated, truncated, a_next,
           copy_after_step, copy_after_update, parts=Parts()):
    """Apply the recorded updates in order to a shared theta, theta^- = theta0 and
    RMSProp g = 0 (float64, or theta0's float32).  Returns, per REPLAY_OUTPUTS: the
    targets (one-step y_j, or n-step returns R_j) of every step, and per update the
    loss, the gradient norm before clipping, sum(theta), sum(theta^2), sum(g) and
    sum(g^2) after it; the full gradient of the first update and the full theta
    after it."""
    c = json.loads(config) if isinstance(config, str) else config
    algo = c["algo"]
    head = "actor_critic" if algo == "a3c" else "q"
    net = mlp(c["obs_dim"], c["n_actions"], head, hidden=tuple(c["hidden"]))
    dtype = np.float32 if np.asarray(theta0).dtype == np.float32 else np.float64
    s, s_next = np.asarray(s, dtype), np.asarray(s_next, dtype)
    theta = np.array(theta0, dtype=dtype)
    theta_minus = theta.copy()
    g = np.full_like(theta, parts.g0)
    theta_prime = {}                                  # each worker's theta' (read once if not resync)
    ends = terminated if parts.truncation_bootstraps else terminated | truncated
    targets, out = [], {k: [] for k in REPLAY_OUTPUTS[1:7]}
    d_theta_first = theta_first = None
    late_copy_due = False                             # the copy_late variant's delayed theta^- <- theta
    for k in range(len(worker)):
        if parts.resync or int(worker[k]) not in theta_prime:
            theta_prime[int(worker[k])] = theta.copy()               # Alg. 2 L10, Alg. 3 L6
        th = theta_prime[int(worker[k])]
        j = slice(offsets[k], offsets[k + 1])
        s_k, a_k, r_k = s[j], a[j], r[j]
        if algo in ONE_STEP:
            y = np.empty(len(a_k))
            for i, jj in enumerate(range(offsets[k], offsets[k + 1])):   # theta^- may be copied mid-segment
                q_next_minus = net.forward(theta_minus, s_next[jj][None])[0]
                y[i] = (parts.sarsa_target([r[jj]], q_next_minus, [a_next[jj]], [ends[jj]], c["gamma"])
                        if algo == "one-step-sarsa" else
                        parts.q_target([r[jj]], q_next_minus, [ends[jj]], c["gamma"]))[0]
                if copy_after_step[jj]:
                    if parts.copy_late:
                        late_copy_due = True
                    else:
                        theta_minus[:] = theta                              # Alg. 1 L13-14
            y = y.astype(parts.target_dtype).astype(np.float64)
            q, cache = net.forward(th, s_k)
            loss, d_out = parts.q_loss_grad(q, a_k, y)
        else:
            last = offsets[k + 1] - 1
            if ends[last]:
                bootstrap = 0.0
            elif algo == "n-step-q":
                bootstrap = float(net.forward(theta_minus, s_next[last][None])[0].max())
            else:
                bootstrap = float(net.split(net.forward(th, s_next[last][None])[0])[1][0])
            y = parts.returns(r_k, bootstrap, c["gamma"])
            y = np.asarray(y).astype(parts.target_dtype).astype(np.float64)
            outputs, cache = net.forward(th, s_k)
            if algo == "n-step-q":
                loss, d_out = parts.q_loss_grad(outputs, a_k, y)
            else:
                logits, v = net.split(outputs)
                terms, d_logits, d_v = parts.a3c_loss_grad(logits, v, a_k, y, c["beta"], c["value_scale"])
                loss, d_out = terms["loss"], np.concatenate([d_logits, d_v[:, None]], axis=1)
        d_theta = np.zeros_like(theta)
        net.backward(th, cache, np.asarray(d_out, dtype), d_theta)
        norm = grad_norm(d_theta)
        lr = linear_lr(c["lr"], int(parts.lr_T(T, offsets, k)), c["steps"]) if c["lr_anneal"] else c["lr"]
        parts.optimizer_step(theta, g, d_theta, lr, c["rms_alpha"], c["rms_eps"],
                             parts.clip_coefficient(norm, c["max_grad_norm"]))
        if late_copy_due:
            theta_minus[:], late_copy_due = theta, False
        if copy_after_update[k]:
            if parts.copy_late:
                late_copy_due = True
            else:
                theta_minus[:] = theta                                      # Alg. 2 L25-26
        if k == 0:
            d_theta_first, theta_first = d_theta.astype(np.float64), theta.astype(np.float64)
        targets += list(y)
        sums = (loss, norm, np.sum(theta, dtype=np.float64), np.sum(np.square(theta, dtype=np.float64)),
                np.sum(g, dtype=np.float64), np.sum(np.square(g, dtype=np.float64)))
        for name, v in zip(REPLAY_OUTPUTS[1:7], sums):
            out[name].append(float(v))
    return (np.array(targets), *(np.array(out[n]) for n in REPLAY_OUTPUTS[1:7]), d_theta_first, theta_first)
