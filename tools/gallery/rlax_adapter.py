"""rlax (with optax), cross-checked through its own functions.

    python -m refasync.crosscheck --adapter tools/gallery/rlax_adapter.py   (in .gallery-venv)

rlax is a library of building blocks, not of agents: this adapter composes the four
algorithms from them, with jax.grad for the gradients.  What is called (rlax 0.1.9,
optax 0.2.8, jax 0.10.2):
* returns: ``rlax.discounted_returns`` (n-step returns; the last discount is 0 at a
  terminal); one-step targets: ``rlax.q_learning`` and ``rlax.sarsa`` (their TD error
  plus Q(s, a) is the target);
* A3C's loss: ``rlax.policy_gradient_loss`` + beta ``rlax.entropy_loss`` + the value
  term with ``rlax.l2_loss``; the Q losses with ``rlax.l2_loss``;
* the update: ``optax.clip_by_global_norm`` then ``optax.rmsprop`` (through
  ``optax.inject_hyperparams``, so that the learning rate of each update is set from
  the global counter T), one optimizer state shared by every update.

CONVENTIONS, translated:
* rlax averages over time steps; the paper sums: weights ``w_t = n`` in
  policy_gradient_loss and entropy_loss (their mean of w x = the sum);
* ``rlax.l2_loss(x) = x^2 / 2``: the value term is ``2 value_scale l2_loss(R - V)`` and
  the Q loss ``2 l2_loss(y - Q)``;
* ``rlax.entropy_loss`` is the negated entropy: ``+ beta entropy_loss`` is ``- beta H``;
* lr (1 - T / steps) is given to optax per update (``inject_hyperparams``), optax's
  own schedules count its updates, not T;
* ``optax.rmsprop(decay=alpha, eps=eps, initial_scale=0)`` (its default decay is 0.9);
* float64 needs ``jax_enable_x64`` (JAX's default is float32): set here; the *_f32
  cases run in float32.
"""
import json
import os
import sys

import jax
import numpy as np

jax.config.update("jax_enable_x64", True)
import jax.numpy as jnp  # noqa: E402
import optax  # noqa: E402
import rlax  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import layout  # noqa: E402

ONE_STEP = ("one-step-q", "one-step-sarsa")


def _params(theta, sizes):
    return [(jnp.asarray(W), jnp.asarray(b)) for W, b in layout.split(np.asarray(theta), sizes)]


def _mlp(params, x):
    for W, b in params[:-1]:
        x = jax.nn.relu(x @ W + b)
    W, b = params[-1]
    return x @ W + b


def _flat(params):
    return layout.join([(np.asarray(W), np.asarray(b)) for W, b in params]).astype(np.float64)


def segment_returns(rewards, terminated, truncated, v_last, gamma):
    r = jnp.asarray(rewards)
    discount = jnp.full_like(r, gamma).at[-1].set(0.0 if terminated else gamma)
    return np.asarray(rlax.discounted_returns(r, discount, jnp.asarray(v_last, r.dtype)))


def one_step_q_target(r, q_next_minus, terminal, gamma):
    q = jnp.asarray(q_next_minus)
    td = jax.vmap(rlax.q_learning)(jnp.zeros_like(q), jnp.zeros(len(r), int), jnp.asarray(r, q.dtype),
                                   jnp.where(jnp.asarray(terminal), 0.0, gamma).astype(q.dtype), q)
    return np.asarray(td)                       # target - Q(s, a) with Q = 0: the target


def one_step_sarsa_target(r, q_next_minus, a_next, terminal, gamma):
    q = jnp.asarray(q_next_minus)
    td = jax.vmap(rlax.sarsa)(jnp.zeros_like(q), jnp.zeros(len(r), int), jnp.asarray(r, q.dtype),
                              jnp.where(jnp.asarray(terminal), 0.0, gamma).astype(q.dtype), q,
                              jnp.asarray(a_next))
    return np.asarray(td)


def _q_loss(q, a, y):
    td = jnp.asarray(y, q.dtype) - q[jnp.arange(len(a)), a]
    return jnp.sum(2.0 * rlax.l2_loss(td))                       # CONVENTION: l2_loss is x^2 / 2


def q_loss_grad(q, a, y):
    return np.asarray(jax.grad(_q_loss)(jnp.asarray(q), jnp.asarray(a), jnp.asarray(y)))


def _a3c_loss(logits, v, a, R, beta, value_scale):
    n = len(a)
    adv = jax.lax.stop_gradient(R - v)
    w = jnp.full(n, float(n), logits.dtype)                       # CONVENTION: mean -> sum
    return (rlax.policy_gradient_loss(logits, a, adv, w) + beta * rlax.entropy_loss(logits, w)
            + jnp.sum(2.0 * value_scale * rlax.l2_loss(R - v)))   # CONVENTION: l2_loss is x^2 / 2


def a3c_loss_grad(logits, v, a, R, beta, value_scale):
    logits, v = jnp.asarray(logits), jnp.asarray(v)
    d_logits, d_v = jax.grad(_a3c_loss, argnums=(0, 1))(logits, v, jnp.asarray(a), jnp.asarray(R, v.dtype),
                                                        beta, value_scale)
    return np.asarray(d_logits), np.asarray(d_v)


def _rmsprop(lr, alpha, eps):
    return optax.inject_hyperparams(optax.rmsprop)(learning_rate=lr, decay=alpha, eps=eps, initial_scale=0.0)


def rmsprop_steps(theta, g, d_thetas, lr, alpha, eps):
    theta = jnp.asarray(theta)
    opt = _rmsprop(lr, alpha, eps)
    state = opt.init(theta)
    state = state._replace(inner_state=(state.inner_state[0]._replace(nu=jnp.asarray(g)),
                                        *state.inner_state[1:]))
    for d in d_thetas:
        updates, state = opt.update(jnp.asarray(d), state, theta)
        theta = optax.apply_updates(theta, updates)
    return np.asarray(theta), np.asarray(state.inner_state[0].nu)


def replay(config, theta0, worker, T, offsets, s, a, r, s_next, terminated, truncated, a_next,
           copy_after_step, copy_after_update):
    c = json.loads(config)
    algo, gamma = c["algo"], c["gamma"]
    dtype = np.asarray(theta0).dtype
    n_out = c["n_actions"] + (algo == "a3c")
    sizes = layout.sizes(c["obs_dim"], c["hidden"], n_out)
    params = _params(theta0, sizes)
    target = params
    s, s_next, r = (jnp.asarray(np.asarray(x, dtype)) for x in (s, s_next, r))
    clip = optax.clip_by_global_norm(c["max_grad_norm"])
    opt = _rmsprop(c["lr"], c["rms_alpha"], c["rms_eps"])
    state = opt.init(params)

    def loss_fn(params, s_k, a_k, y):
        out = _mlp(params, s_k)
        if algo == "a3c":
            return _a3c_loss(out[:, :-1], out[:, -1], a_k, y, c["beta"], c["value_scale"])
        return _q_loss(out, a_k, y)

    out = {k: [] for k in ("targets", "loss", "grad_norm", "theta_sum", "theta_sumsq", "g_sum", "g_sumsq")}
    first = None
    for k in range(len(worker)):
        j = np.arange(offsets[k], offsets[k + 1])
        last = j[-1]
        if algo in ONE_STEP:
            y = []
            for i in j:                                            # theta^- may be copied mid-segment
                q_next, step = _mlp(target, s_next[i:i + 1]), slice(i, i + 1)
                y.append(float(one_step_sarsa_target(r[step], q_next, a_next[step], terminated[step], gamma)[0]
                               if algo == "one-step-sarsa" else
                               one_step_q_target(r[step], q_next, terminated[step], gamma)[0]))
                if copy_after_step[i]:
                    target = params
            y = jnp.asarray(y, dtype)
        else:
            boot = (0.0 if terminated[last] else
                    _mlp(params, s_next[last:last + 1])[0, -1] if algo == "a3c" else
                    jnp.max(_mlp(target, s_next[last:last + 1])[0]))
            discount = jnp.full(len(j), gamma, dtype).at[-1].set(0.0 if terminated[last] else gamma)
            y = rlax.discounted_returns(r[j], discount, jnp.asarray(boot, dtype))
        loss, raw = jax.value_and_grad(loss_fn)(params, s[j], jnp.asarray(a[j]), y)
        norm = optax.global_norm(raw)
        grads, _ = clip.update(raw, clip.init(params))
        if c["lr_anneal"]:
            state.hyperparams["learning_rate"] = jnp.asarray(c["lr"] * max(0.0, 1.0 - T[k] / c["steps"]))
        updates, state = opt.update(grads, state, params)
        params = optax.apply_updates(params, updates)
        if copy_after_update[k]:
            target = params
        theta, g = _flat(params), _flat(state.inner_state[0].nu)
        out["targets"] += list(np.asarray(y, np.float64))
        for name, x in zip(list(out)[1:], (loss, norm, theta.sum(), (theta ** 2).sum(), g.sum(), (g ** 2).sum())):
            out[name].append(float(x))
        if k == 0:
            first = (_flat(raw), theta)
    return (np.array(out["targets"]), *(np.array(out[n]) for n in list(out)[1:]), *first)
