"""Golden cross-check cases: inputs, refasync's outputs, tolerances, and the
pseudocode lines each case pins.  Files live in ``refasync/golden/`` (format in
``refasync/golden/README.md``); ``tools/make_reference.py`` regenerates them and
``python -m refasync.crosscheck`` runs a foreign implementation (an
*adapter*) on their inputs.

The adapter protocol: an object or module with any of these functions
(missing ones are reported as SKIP).  Arrays are NumPy, float64 unless said.

    segment_returns(rewards, terminated, truncated, v_last, gamma) -> R   (n,)
        returns of one segment ending in s_t: bootstrap 0 if terminated, else
        v_last (also on a time-limit truncation), then R <- r_i + gamma R
    one_step_q_target(r, q_next_minus, terminal, gamma) -> y              (B,)
    one_step_sarsa_target(r, q_next_minus, a_next, terminal, gamma) -> y  (B,)
    q_loss_grad(q, a, y) -> dL/dq for L = sum (y - Q(s, a))^2             (B, A)
    a3c_loss_grad(logits, v, a, R, beta, value_scale) -> (dL/dlogits, dL/dv)
        L = sum [-log pi(a|s)(R - V) - beta H(pi) + value_scale (R - V)^2],
        advantage held constant
    gaussian_loss_grad(mu, sigma2_in, v, a, R, beta, value_scale) -> (dL/dmu, dL/dsigma2_in, dL/dv)
        L = sum [-log N(a; mu, sigma^2) (R - V) - beta H + value_scale (R - V)^2],
        sigma^2 = softplus(sigma2_in), (B, 1) spherical or (B, D), H the
        differential entropy sum_d 1/2 (log(2 pi sigma_d^2) + 1)
    gaussian_forward_backward(theta, obs, d_out, hidden, action_dim, spherical) -> (out, d_theta)
        the continuous-action networks: an MLP policy with outputs mu (D) and
        sigma2_in (1 if spherical else D), then an MLP value network (1 output),
        sharing nothing, the policy's parameters first in theta; out = [mu, sigma2_in, V]
    mlp_forward_backward(theta, obs, d_out, hidden, n_actions, head) -> (out, d_theta)
        refasync's MLP and flat layout (README "Using refasync as a reference")
    atari_forward_backward(theta, obs, d_out, n_actions, head) -> (out, d_theta)
        the paper's Atari network, obs (N, 4, 84, 84) uint8; the case's theta is
        generated (``atari_theta``) and d_theta is compared at stored indices
    conv2d_forward_backward(x, w, b, stride, dy) -> (y, dx, dw, db)
        NHWC activations, (KH, KW, C_in, C_out) weights, valid padding
    dense_forward_backward(x, w, b, dy) -> (y, dx, dw, db)
        (K_in, K_out) weights
    rmsprop_steps(theta, g, d_thetas, lr, alpha, eps) -> (theta, g)
        len(d_thetas) consecutive shared-RMSProp steps
    q_target_update(theta, theta_minus, s, a, r, s_next, terminated, gamma, hidden, n_actions)
        -> (y, d_theta): one-step Q targets y = r + gamma max_a' Q(s', a'; theta^-) from
        the TARGET parameters, and d_theta of sum (y - Q(s, a; theta))^2 w.r.t. the
        ONLINE parameters (MLP Q network)
    replay(config, theta0, worker, T, offsets, s, a, r, s_next, terminated, truncated,
           a_next, copy_after_step, copy_after_update)
        -> (targets, loss, grad_norm, theta_sum, theta_sumsq, d_theta_first, theta_first)
        the recorded updates of a deterministic run applied in order to a shared
        theta, theta^- and RMSProp g; no environment, no random stream
        (``refasync/traces.py``)
    trace(algo, workers, seed, updates) -> (worker, T, loss, grad_norm, theta_sum,
                                            theta_sumsq, offsets, a, r, target)
        optional, for ports that run their own loop: the first ``updates`` updates
        of a deterministic CartPole-v1 run (float64, the classic preset), see
        ``record_trace``; its rows appear only when the adapter defines it
"""
from __future__ import annotations

import json
import math
import os

import numpy as np

from . import __version__
from .losses import a3c_loss_grad, gaussian_loss_grad, q_loss_grad
from .nn import GaussianActorCritic, atari_network, kernels, mlp
from .optim import rmsprop_step
from .targets import n_step_returns, one_step_q_target, one_step_sarsa_target
from . import traces

FORMAT_VERSION = 2
MANIFEST = "manifest.json"


# ----------------------------------------------------------- refasync's adapter
def _forward_backward(net, theta, obs, d_out):
    """(outputs, d_theta) of one forward and one backward pass from d_theta = 0."""
    out, cache = net.forward(theta, obs)
    d_theta = np.zeros_like(theta)
    net.backward(theta, cache, d_out, d_theta)
    return out, d_theta


class RefasyncAdapter:
    """refasync itself, seen through the adapter protocol."""

    @staticmethod
    def segment_returns(rewards, terminated, truncated, v_last, gamma):
        return n_step_returns(rewards, 0.0 if terminated else v_last, gamma)

    one_step_q_target = staticmethod(one_step_q_target)
    one_step_sarsa_target = staticmethod(one_step_sarsa_target)

    @staticmethod
    def q_loss_grad(q, a, y):
        return q_loss_grad(q, a, y)[1]

    @staticmethod
    def a3c_loss_grad(logits, v, a, R, beta, value_scale):
        _, d_logits, d_v = a3c_loss_grad(logits, v, a, R, beta, value_scale)
        return d_logits, d_v

    @staticmethod
    def gaussian_loss_grad(mu, sigma2_in, v, a, R, beta, value_scale):
        _, d_mu, d_x, d_v = gaussian_loss_grad(mu, sigma2_in, v, a, R, beta, value_scale)
        return d_mu, d_x, d_v

    @staticmethod
    def gaussian_forward_backward(theta, obs, d_out, hidden, action_dim, spherical):
        net = GaussianActorCritic(obs.shape[1], action_dim, hidden=tuple(hidden), spherical=spherical)
        out, cache = net.forward(theta, obs)
        d_theta = np.zeros_like(theta)
        net.backward(theta, cache, d_out, d_theta)
        return out, d_theta

    @staticmethod
    def mlp_forward_backward(theta, obs, d_out, hidden, n_actions, head):
        return _forward_backward(mlp(obs.shape[1], n_actions, head, hidden=tuple(hidden)), theta, obs, d_out)

    @staticmethod
    def atari_forward_backward(theta, obs, d_out, n_actions, head):
        return _forward_backward(atari_network(n_actions, head), theta, obs, d_out)

    @staticmethod
    def conv2d_forward_backward(x, w, b, stride, dy):
        N, H, W, _ = x.shape
        KH, KW, _, O = w.shape
        y = np.empty((N, (H - KH) // stride + 1, (W - KW) // stride + 1, O), dtype=x.dtype)
        kernels.conv2d_forward(y, x, w, b, stride)
        dx, dw, db = np.zeros_like(x), np.zeros_like(w), np.zeros_like(b)
        kernels.conv2d_backward(dx, dw, db, dy, x, w, stride, True)
        return y, dx, dw, db

    @staticmethod
    def dense_forward_backward(x, w, b, dy):
        y = np.empty((x.shape[0], w.shape[1]), dtype=x.dtype)
        kernels.dense_forward(y, x, w, b)
        dx, dw, db = np.zeros_like(x), np.zeros_like(w), np.zeros_like(b)
        kernels.dense_backward(dx, dw, db, dy, x, w, True)
        return y, dx, dw, db

    @staticmethod
    def q_target_update(theta, theta_minus, s, a, r, s_next, terminated, gamma, hidden, n_actions):
        net = mlp(s.shape[1], n_actions, "q", hidden=tuple(hidden))
        y = one_step_q_target(r, net.forward(theta_minus, s_next)[0], terminated, gamma)
        q, cache = net.forward(theta, s)
        d_theta = np.zeros_like(theta)
        net.backward(theta, cache, q_loss_grad(q, a, y)[1], d_theta)
        return y, d_theta

    replay = staticmethod(traces.replay)

    @staticmethod
    def trace(algo, workers, seed, updates):
        return record_trace(str(algo), int(workers), int(seed), int(updates))

    @staticmethod
    def rmsprop_steps(theta, g, d_thetas, lr, alpha, eps):
        theta, g = theta.copy(), g.copy()
        for d in d_thetas:
            rmsprop_step(theta, g, d, lr, alpha, eps)
        return theta, g


# -------------------------------------------------------------------- the cases
def _case(name, fn, pins, tol, inputs, description, generated=None, select=None):
    return {"name": name, "function": fn, "pins": pins, "rtol": tol[0], "atol": tol[1],
            "inputs": inputs, "description": description, "generated": generated or {},
            "select": select or {}}


def atari_theta(n_actions=6, head="actor_critic"):
    """A parameter vector anyone can rebuild: for the tensor starting at offset o with
    fan-in f, theta[o + j] = sin(0.7 (o + j) + 0.1) / sqrt(f)  (float64)."""
    net = atari_network(n_actions, head)
    theta = np.empty(net.n_params)
    for name, shape, off in net.layout():
        size = int(np.prod(shape))
        layer = next(L for L in net.layers if name.startswith(L.name + "."))
        i = np.arange(off, off + size, dtype=np.float64)
        theta[off:off + size] = np.sin(0.7 * i + 0.1) / np.sqrt(layer.fan_in)
    return theta


GENERATORS = {"atari_theta": atari_theta, "atari_theta_q": lambda: atari_theta(6, "q")}


F64 = (1e-9, 1e-12)
REPLAY_UPDATES = 20
REPLAY_I_TARGET = 7     # agent steps: theta^- is copied several times within the replayed updates
F32 = (1e-4, 1e-5)      # float32 inputs, computed in float32 by refasync


def build_cases():
    """Every case with its inputs (outputs are computed by RefasyncAdapter)."""
    rng = np.random.default_rng(20161602)
    cases = []
    r5 = np.array([0.0, 1.0, 0.0, -1.0, 0.5])
    for name, r, term, trunc, v_last, gamma, pins, desc in [
        ("returns.terminal_short", r5[:3], True, False, 7.0, 0.99, "Alg2 L19-21, Alg3 L15-17",
         "rollout shorter than t_max ending in a terminal: bootstrap 0 (v_last must be ignored)"),
        ("returns.full_bootstrap", r5, False, False, 2.5, 0.99, "Alg2 L19-21, Alg3 L15-17",
         "full t_max = 5 segment: bootstrap from V(s_t)"),
        ("returns.truncated", r5[:4], False, True, -3.0, 0.9, "Alg3 L15 + ADDITION 9",
         "time-limit truncation is not terminal: bootstrap from the last state"),
        ("returns.gamma0", r5, False, False, 4.0, 0.0, "Alg3 L17", "gamma 0: R_i = r_i"),
        ("returns.gamma1", r5, False, False, 4.0, 1.0, "Alg3 L17", "gamma 1: undiscounted sums"),
    ]:
        cases.append(_case(name, "segment_returns", pins, F64,
                           {"rewards": r, "terminated": np.array(term), "truncated": np.array(trunc),
                            "v_last": np.array(v_last), "gamma": np.array(gamma)}, desc))
    q_next = rng.standard_normal((6, 3))
    base = {"r": rng.standard_normal(6), "q_next_minus": q_next,
            "terminal": np.array([False, True, False, False, True, False]), "gamma": np.array(0.99)}
    cases.append(_case("targets.one_step_q", "one_step_q_target", "Alg1 L9", F64, base,
                       "y = r + gamma max_a' Q(s', a'; theta-) (target network), r at terminals"))
    cases.append(_case("targets.one_step_sarsa", "one_step_sarsa_target", "Alg1 L9 (Sarsa)", F64,
                       {"r": base["r"], "q_next_minus": q_next, "a_next": rng.integers(0, 3, 6),
                        "terminal": base["terminal"], "gamma": base["gamma"]},
                       "y = r + gamma Q(s', a'; theta-) with a' the action taken next"))
    cases.append(_case("loss.q", "q_loss_grad", "Alg1 L10, Alg2 L22", F64,
                       {"q": rng.standard_normal((5, 4)), "a": rng.integers(0, 4, 5),
                        "y": rng.standard_normal(5)}, "d/dQ of sum (y - Q(s,a))^2 = -2 (y - Q)"))
    logits, v, a, R = rng.standard_normal((5, 4)), rng.standard_normal(5), rng.integers(0, 4, 5), \
        rng.standard_normal(5)
    for name, beta, scale, pins, desc in [
        ("a3c.policy", 0.0, 1.0, "Alg3 L18-19, DEVIATION 1",
         "policy term -log pi(a|s) (R - V), advantage constant; value (R - V)^2"),
        ("a3c.entropy", 0.01, 1.0, "Alg3 L18 + ADDITION 1",
         "with the entropy bonus beta = 0.01 (its sign pushes pi to uniform)"),
        ("a3c.value_scale_half", 0.01, 0.5, "Alg3 L19 + ADDITION 3",
         "value loss 0.5 (R - V)^2, the authors' scale, applied once"),
    ]:
        cases.append(_case(name, "a3c_loss_grad", pins, F64,
                           {"logits": logits, "v": v, "a": a, "R": R, "beta": np.array(beta),
                            "value_scale": np.array(scale)}, desc))
    cases.append(_case("a3c.entropy_only", "a3c_loss_grad", "ADDITION 1", F64,
                       {"logits": logits, "v": R.copy(), "a": a, "R": R, "beta": np.array(1.0),
                        "value_scale": np.array(1.0)}, "zero advantage: the entropy gradient alone"))
    for head, n_out in (("q", 3), ("actor_critic", 4)):
        net = mlp(4, 3, head, hidden=(8, 8))
        cases.append(_case(f"network.mlp_{head}", "mlp_forward_backward", "Alg3 L18-19, Alg2 L22", F64,
                           {"theta": net.init(rng, np.float64), "obs": rng.standard_normal((5, 4)),
                            "d_out": rng.standard_normal((5, n_out)), "hidden": np.array([8, 8]),
                            "n_actions": np.array(3), "head": np.array(head)},
                           "forward outputs and the accumulated d_theta of an MLP, flat layout"))
    for name, (N, H, C, O, k, s) in {"layer.conv2d_atari_conv2": (1, 20, 16, 32, 4, 2),
                                      "layer.conv2d_odd": (3, 7, 3, 5, 3, 2)}.items():
        x = rng.standard_normal((N, H, H, C))
        OH = (H - k) // s + 1
        cases.append(_case(name, "conv2d_forward_backward", "network layers", F64,
                           {"x": x, "w": rng.standard_normal((k, k, C, O)) / np.sqrt(k * k * C),
                            "b": rng.standard_normal(O), "stride": np.array(s),
                            "dy": rng.standard_normal((N, OH, OH, O))},
                           f"conv {k}x{k}/{s}, {C}->{O} channels, NHWC: y, dx, dw, db"))
    cases.append(_case("layer.dense", "dense_forward_backward", "network layers", F64,
                       {"x": rng.standard_normal((5, 37)), "w": rng.standard_normal((37, 19)),
                        "b": rng.standard_normal(19), "dy": rng.standard_normal((5, 19))},
                       "dense 37->19, batch 5: y, dx, dw, db"))
    f32 = {name: c for name, c in ((c["name"], c) for c in cases)
           if name in ("layer.conv2d_atari_conv2", "layer.dense", "network.mlp_actor_critic")}
    for name, c in f32.items():
        inputs = {k: (v.astype(np.float32) if isinstance(v, np.ndarray) and v.dtype == np.float64
                      and v.ndim > 0 else v) for k, v in c["inputs"].items()}
        cases.append(_case(name + "_f32", c["function"], c["pins"], F32, inputs,
                           c["description"] + ", in float32"))
    for head, n_out, generator, pins, desc in [
        ("actor_critic", 7, "atari_theta", "Alg3 L18-19 (the network)",
         "the paper's Atari network, batch 2: outputs, and d_theta at every 97th index"),
        ("q", 6, "atari_theta_q", "Alg2 L22 (the network)", "the paper's Atari network with the Q head, batch 2"),
    ]:
        n_params = atari_network(6, head).n_params
        sample = np.unique(np.concatenate([np.arange(0, n_params, 97), [n_params - 1]]))
        cases.append(_case(f"network.atari_{head}", "atari_forward_backward", pins, (1e-7, 1e-10),
                           {"theta": None, "obs": rng.integers(0, 256, (2, 4, 84, 84), dtype=np.uint8),
                            "d_out": rng.standard_normal((2, n_out)), "n_actions": np.array(6),
                            "head": np.array(head)},
                           desc, generated={"theta": generator}, select={1: sample}))
    for algo in ("one-step-q", "one-step-sarsa", "n-step-q", "a3c"):
        for workers in (1, 2):
            cases.append(_case(f"trace.{algo}.{workers}w", "trace", "the whole box", (1e-9, 1e-9),
                               {"algo": np.array(algo), "workers": np.array(workers), "seed": np.array(0),
                                "updates": np.array(20)},
                               f"first 20 updates of --algo {algo} --workers {workers} --deterministic "
                               "--seed 0 --dtype float64 on CartPole-v1: worker, T, loss, grad norm, "
                               "theta checksums, actions, rewards, targets"))
    for algo in ("one-step-q", "one-step-sarsa", "n-step-q", "a3c"):
        for workers in (1, 2):
            cfg = traces.trace_config(algo, workers, 0, I_target=REPLAY_I_TARGET)
            theta0, segments, _ = traces.record(cfg, REPLAY_UPDATES)
            cases.append(_case(
                f"replay.{algo}.{workers}w", "replay", "the whole box", (1e-9, 1e-9),
                {"config": np.array(traces.config_json(cfg)), "theta0": theta0, **segments},
                f"the first {REPLAY_UPDATES} updates of --algo {algo} --workers {workers} --deterministic "
                f"--seed 0 --dtype float64 on CartPole-v1 (I_target {REPLAY_I_TARGET}), replayed from "
                "the recorded segments: targets, loss, gradient norm, theta checksums, first "
                "gradient and theta in full"))
    rng_q = np.random.default_rng(7)
    net_q = mlp(4, 3, "q", hidden=(8, 8))
    cases.append(_case("update.q_target_network", "q_target_update", "Alg1 L9-10", F64,
                       {"theta": net_q.init(rng_q, np.float64), "theta_minus": net_q.init(rng_q, np.float64),
                        "s": rng_q.standard_normal((5, 4)), "a": rng_q.integers(0, 3, 5),
                        "r": rng_q.standard_normal(5), "s_next": rng_q.standard_normal((5, 4)),
                        "terminated": np.array([False, False, True, False, False]),
                        "gamma": np.array(0.99), "hidden": np.array([8, 8]), "n_actions": np.array(3)},
                       "y from the target parameters theta^-, the gradient w.r.t. the online theta "
                       "(theta^- != theta)"))
    rng_l = np.random.default_rng(11)
    cases.append(_case("a3c.large_logits", "a3c_loss_grad", "Alg3 L18 + ADDITION 1", F64,
                       {"logits": 800.0 * rng_l.standard_normal((5, 4)) + np.array([0.0, 1000.0, -1000.0, 5.0]),
                        "v": rng_l.standard_normal(5), "a": np.array([0, 1, 2, 3, 1]),
                        "R": rng_l.standard_normal(5), "beta": np.array(0.01), "value_scale": np.array(0.5)},
                       "logits in the hundreds and thousands: a softmax or log-softmax without the "
                       "max subtracted overflows (log pi of an unlikely action is about -2000)"))
    rng_n = np.random.default_rng(13)
    for spherical in (True, False):
        net_g = GaussianActorCritic(3, 2, hidden=(8, 6), spherical=spherical)
        cases.append(_case(f"network.gaussian_{'spherical' if spherical else 'per_dimension'}",
                           "gaussian_forward_backward", "supp. Sec. 9 (the networks)", F64,
                           {"theta": net_g.init(rng_n, np.float64), "obs": rng_n.standard_normal((4, 3)),
                            "d_out": rng_n.standard_normal((4, net_g.n_outputs)), "hidden": np.array([8, 6]),
                            "action_dim": np.array(2), "spherical": np.array(spherical)},
                           "policy network (mu, sigma2_in) and value network, sharing nothing, in one "
                           "flat vector: outputs and the accumulated d_theta"))
    rng_g = np.random.default_rng(12)
    for name, D, S, x_loc, x_scale, desc in [
        ("gaussian.spherical", 3, 1, 0.0, 1.0, "3 action dimensions, one sigma^2 for all (the paper's)"),
        ("gaussian.per_dimension", 3, 3, 0.0, 1.0, "one sigma^2 per action dimension"),
        ("gaussian.large_sigma", 2, 1, 60.0, 10.0, "sigma2_in around 60: softplus(x) = x, no overflow"),
        ("gaussian.tiny_sigma", 2, 2, -18.0, 1.0, "sigma^2 around 1e-8: softplus(x) = exp(x), large gradients"),
    ]:
        mu = rng_g.standard_normal((5, D))
        x = x_loc + x_scale * rng_g.standard_normal((5, S))
        spread = np.sqrt(np.logaddexp(0.0, x))
        cases.append(_case(name, "gaussian_loss_grad", "supp. Sec. 9 (continuous A3C)", F64,
                           {"mu": mu, "sigma2_in": x, "v": rng_g.standard_normal(5),
                            "a": mu + spread * rng_g.standard_normal((5, D)), "R": rng_g.standard_normal(5),
                            "beta": np.array(1e-4), "value_scale": np.array(0.5)},
                           f"Gaussian policy, sigma^2 = softplus(sigma2_in): {desc}"))
    n = 50
    cases.append(_case("rmsprop.three_steps", "rmsprop_steps", "Alg3 L21 + ADDITION 4", F64,
                       {"theta": rng.standard_normal(n), "g": np.zeros(n),
                        "d_thetas": rng.standard_normal((3, n)), "lr": np.array(7e-4),
                        "alpha": np.array(0.99), "eps": np.array(0.1)},
                       "g <- alpha g + (1 - alpha) d^2; theta <- theta - lr d / sqrt(g + eps), eps inside"))
    return cases


def record_trace(algo, workers, seed, updates, env="CartPole-v1"):
    """The first ``updates`` asynchronous updates of a ``--deterministic`` run:
    ``--algo algo --workers workers --seed seed --dtype float64`` on CartPole-v1
    with the classic preset.  Per update: the worker, T after its last step, the
    loss, the gradient norm before clipping, sum(theta) and sum(theta^2) after
    the update; and the segment's actions, rewards and targets (one-step) or
    returns (n-step, A3C), concatenated, update k owning [offsets[k], offsets[k+1])."""
    _, seg, run = traces.record(traces.trace_config(algo, workers, seed, env), updates)
    return (seg["worker"], seg["T"], run["loss"], run["grad_norm"], run["theta_sum"], run["theta_sumsq"],
            seg["offsets"], seg["a"], seg["r"], run["target"])


def _scalar(x):
    x = np.asarray(x)
    return x.item() if x.ndim == 0 else x


def call(adapter, case, inputs):
    """Run one adapter function on a case's inputs; returns a tuple of output arrays."""
    fn = getattr(adapter, case["function"])
    args = [_scalar(inputs[k]) for k in case["input_names"]]
    out = fn(*args)
    return tuple(np.asarray(o, dtype=np.float64) for o in (out if isinstance(out, tuple) else (out,)))


def write(directory, cases=None):
    """Compute refasync's outputs for every case and write the golden files."""
    cases = build_cases() if cases is None else cases
    os.makedirs(directory, exist_ok=True)
    manifest = {"format_version": FORMAT_VERSION, "refasync_version": __version__, "cases": []}
    for case in cases:
        case["input_names"] = list(case["inputs"])
        inputs = {k: (GENERATORS[case["generated"][k]]() if k in case["generated"] else v)
                  for k, v in case["inputs"].items()}
        outputs = list(call(RefasyncAdapter, case, inputs))
        arrays = {f"in.{k}": np.asarray(v) for k, v in inputs.items() if k not in case["generated"]}
        for i, idx in case["select"].items():
            outputs[i] = outputs[i][idx]
            arrays[f"sel.{i}"] = np.asarray(idx, dtype=np.int64)
        arrays.update({f"out.{i}": o for i, o in enumerate(outputs)})
        arrays["format_version"] = np.array(FORMAT_VERSION)
        arrays["refasync_version"] = np.array(__version__)
        np.savez(os.path.join(directory, case["name"] + ".npz"), **arrays)
        manifest["cases"].append({k: case[k] for k in ("name", "function", "pins", "rtol", "atol",
                                                        "description", "input_names", "generated")}
                                 | {"file": case["name"] + ".npz", "n_outputs": len(outputs)})
    with open(os.path.join(directory, MANIFEST), "w") as f:
        json.dump(manifest, f, indent=2)
    return manifest


def load(directory):
    """[(case, inputs, expected outputs)] from the golden files; ``case["select"]``
    maps an output index to the indices at which it is compared."""
    with open(os.path.join(directory, MANIFEST)) as f:
        manifest = json.load(f)
    if manifest["format_version"] != FORMAT_VERSION:
        raise ValueError(f"reference format {manifest['format_version']}, this refasync reads {FORMAT_VERSION}")
    out = []
    for case in manifest["cases"]:
        generated = case.get("generated", {})
        with np.load(os.path.join(directory, case["file"]), allow_pickle=False) as z:
            inputs = {k: GENERATORS[generated[k]]() if k in generated else z[f"in.{k}"]
                      for k in case["input_names"]}
            expected = tuple(z[f"out.{i}"] for i in range(case["n_outputs"]))
            case["select"] = {i: z[f"sel.{i}"] for i in range(case["n_outputs"]) if f"sel.{i}" in z.files}
        out.append((case, inputs, expected))
    return out


OUTPUT_NAMES = {
    "segment_returns": ("R",), "one_step_q_target": ("y",), "one_step_sarsa_target": ("y",),
    "q_loss_grad": ("dL/dq",), "a3c_loss_grad": ("dL/dlogits", "dL/dv"),
    "gaussian_loss_grad": ("dL/dmu", "dL/dsigma2_in", "dL/dv"),
    "gaussian_forward_backward": ("out", "d_theta"),
    "mlp_forward_backward": ("out", "d_theta"), "atari_forward_backward": ("out", "d_theta"),
    "conv2d_forward_backward": ("y", "dx", "dw", "db"), "dense_forward_backward": ("y", "dx", "dw", "db"),
    "rmsprop_steps": ("theta", "g"), "q_target_update": ("y", "d_theta"),
    "replay": traces.REPLAY_OUTPUTS,
    "trace": ("worker", "T", "loss", "grad_norm", "theta_sum", "theta_sumsq", "offsets", "a", "r", "target"),
}


def _name(case, i):
    names = OUTPUT_NAMES.get(case["function"], ())
    return names[i] if i < len(names) else f"output {i}"


def errors(got, expected, atol):
    """(max absolute error, max relative error) over all outputs.  The relative
    error only counts entries with |expected| >= max(atol, 1e-6 max|expected|):
    an error against an exact 0 is an absolute error, not 1e+12 relative."""
    abs_err = rel_err = 0.0
    for g, e in zip(got, expected):
        if e.size == 0:
            continue
        d = np.abs(g - e)
        if not np.all(np.isfinite(g)):
            return math.inf, math.inf          # NaN or Inf: never shown as a small error
        abs_err = max(abs_err, float(np.max(d)))
        floor = max(atol, 1e-6 * float(np.max(np.abs(e))), 1e-300)
        big = np.abs(e) >= floor
        if big.any():
            rel_err = max(rel_err, float(np.max(d[big] / np.abs(e[big]))))
    return abs_err, rel_err


def shape_problem(case, got, expected):
    """A one-line description of outputs that cannot be compared, or None."""
    if len(got) != len(expected):
        names = ", ".join(_name(case, i) for i in range(len(expected)))
        return f"{case['function']} returned {len(got)} outputs, expected {len(expected)} ({names})"
    for i, (g, e) in enumerate(zip(got, expected)):
        if i in case["select"]:
            idx = case["select"][i]
            if g.ndim != 1 or g.size <= int(idx.max()):
                return f"{_name(case, i)} has shape {g.shape}, expected a flat vector of at least {int(idx.max()) + 1}"
        elif g.shape != e.shape:
            return f"{_name(case, i)} has shape {g.shape}, expected {e.shape}"
    return None


def _first_mismatch(case, got, expected, close):
    for i, c in enumerate(close):
        if not c.all():
            j = np.unravel_index(int(np.argmax(~c)), c.shape) if c.ndim else ()
            where = f" at index {tuple(int(x) for x in j)}" if c.ndim else ""
            return (f"{_name(case, i)} differs first{where}: expected {float(expected[i][j]):.10g}, "
                    f"got {float(got[i][j]):.10g}")
    return ""


REPLAY_HINTS = {
    "targets": "targets: one-step y = r + gamma max_a' Q(s', a'; theta^-) (Sarsa: Q(s', a_next; theta^-)), "
               "r alone where terminated (a truncated step still bootstraps); theta^- <- theta after the steps "
               "flagged copy_after_step, after the updates flagged copy_after_update; n-step returns "
               "bootstrap from the segment's last s_next (theta^- for n-step Q, V(.; theta) for A3C)",
    "loss": "loss: summed over the segment, no mean; Q: sum (y - Q(s, a))^2; A3C: "
            "sum [-log pi(a|s) (R - V) - beta H(pi) + value_scale (R - V)^2], advantage held constant",
    "gradient": "gradient: d_theta of the summed loss at the theta the update starts from (the shared theta "
                "after every earlier update, whichever worker made it); the norm is taken before clipping",
    "theta": "theta: RMSProp g <- alpha g + (1 - alpha) d^2, theta <- theta - lr d / sqrt(g + eps) with eps "
             "inside the root and ONE g shared by all workers; lr of update k = lr (1 - T[k] / steps), T[k] "
             "being the counter after the segment's last step (not at the segment's start)",
}


def diagnose_replay(case, inputs, got, expected, close):
    """The first diverging update and quantity, in pipeline order
    (targets -> loss -> gradient -> theta), expected against got, and the
    convention that most likely explains it."""
    offsets = np.asarray(inputs["offsets"])
    config = json.loads(str(np.asarray(inputs["config"])))
    K = len(offsets) - 1
    targets, loss, norm, s1, s2, d_first, theta_first = close
    for k in range(K):
        steps = slice(offsets[k], offsets[k + 1])
        checks = [("targets", targets[steps].all(), 0, steps),
                  ("loss", loss[k], 1, k),
                  ("gradient", norm[k] and (k > 0 or d_first.all()), 2, k),
                  ("theta", s1[k] and s2[k] and (k > 0 or theta_first.all()), 3, k)]
        for quantity, ok, i, at in checks:
            if ok:
                continue
            if i == 0:
                j = offsets[k] + int(np.argmax(~targets[steps]))
                what = f"step {j} target: expected {expected[0][j]:.10g}, got {got[0][j]:.10g}"
            elif i == 2 and norm[k]:
                j = int(np.argmax(~d_first))
                what = f"d_theta[{j}]: expected {expected[5][j]:.10g}, got {got[5][j]:.10g}"
            elif i == 3:
                what = (f"sum(theta): expected {expected[3][k]:.12g}, got {got[3][k]:.12g}; "
                        f"sum(theta^2): expected {expected[4][k]:.12g}, got {got[4][k]:.12g}")
            else:
                what = f"expected {expected[i][k]:.10g}, got {got[i][k]:.10g}"
            hint = REPLAY_HINTS[quantity]
            if quantity == "theta" and config["max_grad_norm"] and expected[2][k] > config["max_grad_norm"]:
                hint = (f"this update's gradient norm {expected[2][k]:.6g} > max_grad_norm "
                        f"{config['max_grad_norm']:g}: clipping scales d_theta by exactly max_grad_norm / norm "
                        "(PyTorch's clip_grad_norm_ uses max_norm / (norm + 1e-6)); " + hint)
            return (f"first divergence: update {k} (worker {int(inputs['worker'][k])}, T={int(inputs['T'][k])}), "
                    f"{quantity}: {what}. Likely: {hint}")
    return "the replay differs"


def check(adapter, directory):
    """Rows (name, max_abs, max_rel, rtol, atol, status, pins, detail) for every case.
    The run-your-own-loop ``trace`` cases are listed only if the adapter has ``trace``."""
    rows = []
    for case, inputs, expected in load(directory):
        has = callable(getattr(adapter, case["function"], None))
        if not has and case["function"] == "trace":
            continue
        if not has:
            rows.append((case["name"], None, None, case["rtol"], case["atol"], "SKIP", case["pins"],
                         f"adapter has no {case['function']}"))
            continue
        fail = None
        try:
            raw = call(adapter, case, inputs)
            fail = shape_problem(case, raw, expected)
        except Exception as e:   # the adapter's failure is a FAIL row, not our crash
            fail = f"{type(e).__name__}: {e}"
        if fail:
            rows.append((case["name"], None, None, case["rtol"], case["atol"], "FAIL", case["pins"], fail))
            continue
        got = tuple(g[case["select"][i]] if i in case["select"] else g for i, g in enumerate(raw))
        abs_err, rel_err = errors(got, expected, case["atol"])
        close = [np.isclose(g, e, rtol=case["rtol"], atol=case["atol"]) for g, e in zip(got, expected)]
        ok = all(c.all() for c in close)
        detail = case["description"]
        if not ok and case["function"] == "replay":
            detail = diagnose_replay(case, inputs, got, expected, close)
        elif not ok and case["function"] == "trace":
            bad = [(int(np.argmax(~c)), _name(case, i)) for i, c in enumerate(close[:6]) if not c.all()]
            detail = (f"first diverging update: {min(bad)[0]} ({min(bad)[1]})" if bad
                      else "the segments' data differ (actions, rewards or targets)")
        elif not ok:
            detail = _first_mismatch(case, got, expected, close) + "; " + detail
        rows.append((case["name"], abs_err, rel_err, case["rtol"], case["atol"], "OK" if ok else "FAIL",
                     case["pins"], detail))
    return rows
