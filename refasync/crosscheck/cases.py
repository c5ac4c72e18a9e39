"""The golden cases: their inputs, tolerances, and the pseudocode lines each pins.

Each builder below is registered with ``@builder`` and returns its cases; a new
case is one builder (or one more entry in a builder's list).  Builders run in the
order they are registered, sharing one random stream ``rng`` (seeded 20161602),
so that a new builder goes at the END: inserting one earlier would change the
inputs of every later case.  refasync's outputs are computed from the inputs by
``golden.write``; the function a case calls is a ``protocol.PROTOCOL`` entry.
"""
from __future__ import annotations

import numpy as np

from .. import traces
from ..nn import GaussianActorCritic, atari_network, mlp

F64 = (1e-9, 1e-12)      # (rtol, atol) of the float64 cases
F32 = (1e-4, 1e-5)       # float32 inputs, computed in float32 by refasync
REPLAY_UPDATES = 20
REPLAY_I_TARGET = 7      # agent steps: theta^- is copied several times within the replayed updates
SEED = 20161602

BUILDERS = []


def builder(fn):
    """Register a case builder ``fn(rng, cases_so_far) -> [case, ...]``."""
    BUILDERS.append(fn)
    return fn


def case(name, fn, pins, tol, inputs, description, generated=None, select=None, about=None):
    """One case: ``fn`` is the protocol function; ``inputs`` its arguments in order;
    ``generated`` names inputs rebuilt by a formula (``GENERATORS``) instead of
    stored; ``select`` maps an output index to the flat indices it is compared at;
    ``about``: the outputs the description explains (a FAIL elsewhere omits it)."""
    return {"name": name, "function": fn, "pins": pins, "rtol": tol[0], "atol": tol[1],
            "inputs": inputs, "description": description, "generated": generated or {},
            "select": select or {}, "about": about}


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


def build_cases():
    """Every case with its inputs, in the manifest's order."""
    rng = np.random.default_rng(SEED)
    cases = []
    for fn in BUILDERS:
        cases += fn(rng, cases)
    return cases


@builder
def returns(rng, _):
    r5 = np.array([0.0, 1.0, 0.0, -1.0, 0.5])
    out = []
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
        out.append(case(name, "segment_returns", pins, F64,
                        {"rewards": r, "terminated": np.array(term), "truncated": np.array(trunc),
                         "v_last": np.array(v_last), "gamma": np.array(gamma)}, desc))
    return out


@builder
def one_step_targets_and_q_loss(rng, _):
    q_next = rng.standard_normal((6, 3))
    base = {"r": rng.standard_normal(6), "q_next_minus": q_next,
            "terminal": np.array([False, True, False, False, True, False]), "gamma": np.array(0.99)}
    return [
        case("targets.one_step_q", "one_step_q_target", "Alg1 L9", F64, base,
             "y = r + gamma max_a' Q(s', a'; theta-) (target network), r at terminals"),
        case("targets.one_step_sarsa", "one_step_sarsa_target", "Alg1 L9 (Sarsa)", F64,
             {"r": base["r"], "q_next_minus": q_next, "a_next": rng.integers(0, 3, 6),
              "terminal": base["terminal"], "gamma": base["gamma"]},
             "y = r + gamma Q(s', a'; theta-) with a' the action taken next"),
        case("loss.q", "q_loss_grad", "Alg1 L10, Alg2 L22", F64,
             {"q": rng.standard_normal((5, 4)), "a": rng.integers(0, 4, 5), "y": rng.standard_normal(5)},
             "d/dQ of sum (y - Q(s,a))^2 = -2 (y - Q)"),
    ]


@builder
def a3c_losses(rng, _):
    logits, v, a, R = rng.standard_normal((5, 4)), rng.standard_normal(5), rng.integers(0, 4, 5), \
        rng.standard_normal(5)
    out = []
    for name, beta, scale, pins, desc in [
        ("a3c.policy", 0.0, 1.0, "Alg3 L18-19, DEVIATION 1",
         "policy term -log pi(a|s) (R - V), advantage constant; value (R - V)^2"),
        ("a3c.entropy", 0.01, 1.0, "Alg3 L18 + ADDITION 1",
         "with the entropy bonus beta = 0.01 (its sign pushes pi to uniform)"),
        ("a3c.value_scale_half", 0.01, 0.5, "Alg3 L19 + ADDITION 3",
         "value loss 0.5 (R - V)^2, the authors' scale, applied once"),
    ]:
        out.append(case(name, "a3c_loss_grad", pins, F64,
                        {"logits": logits, "v": v, "a": a, "R": R, "beta": np.array(beta),
                         "value_scale": np.array(scale)}, desc))
    out.append(case("a3c.entropy_only", "a3c_loss_grad", "ADDITION 1", F64,
                    {"logits": logits, "v": R.copy(), "a": a, "R": R, "beta": np.array(1.0),
                     "value_scale": np.array(1.0)}, "zero advantage: the entropy gradient alone"))
    return out


@builder
def mlps(rng, _):
    out = []
    for head, n_out in (("q", 3), ("actor_critic", 4)):
        net = mlp(4, 3, head, hidden=(8, 8))
        out.append(case(f"network.mlp_{head}", "mlp_forward_backward", "Alg3 L18-19, Alg2 L22", F64,
                        {"theta": net.init(rng, np.float64), "obs": rng.standard_normal((5, 4)),
                         "d_out": rng.standard_normal((5, n_out)), "hidden": np.array([8, 8]),
                         "n_actions": np.array(3), "head": np.array(head)},
                        "forward outputs and the accumulated d_theta of an MLP, flat layout"))
    return out


@builder
def layers(rng, _):
    out = []
    for name, (N, H, C, O, k, s) in {"layer.conv2d_atari_conv2": (1, 20, 16, 32, 4, 2),
                                      "layer.conv2d_odd": (3, 7, 3, 5, 3, 2)}.items():
        x = rng.standard_normal((N, H, H, C))
        OH = (H - k) // s + 1
        out.append(case(name, "conv2d_forward_backward", "network layers", F64,
                        {"x": x, "w": rng.standard_normal((k, k, C, O)) / np.sqrt(k * k * C),
                         "b": rng.standard_normal(O), "stride": np.array(s),
                         "dy": rng.standard_normal((N, OH, OH, O))},
                        f"conv {k}x{k}/{s}, {C}->{O} channels, NHWC: y, dx, dw, db"))
    out.append(case("layer.dense", "dense_forward_backward", "network layers", F64,
                    {"x": rng.standard_normal((5, 37)), "w": rng.standard_normal((37, 19)),
                     "b": rng.standard_normal(19), "dy": rng.standard_normal((5, 19))},
                    "dense 37->19, batch 5: y, dx, dw, db"))
    return out


@builder
def float32_layers(rng, cases):
    out = []
    for c in cases:
        if c["name"] in ("layer.conv2d_atari_conv2", "layer.dense", "network.mlp_actor_critic"):
            inputs = {k: (v.astype(np.float32) if isinstance(v, np.ndarray) and v.dtype == np.float64
                          and v.ndim > 0 else v) for k, v in c["inputs"].items()}
            out.append(case(c["name"] + "_f32", c["function"], c["pins"], F32, inputs,
                            c["description"] + ", in float32"))
    return out


@builder
def atari_networks(rng, _):
    out = []
    for head, n_out, generator, pins, desc in [
        ("actor_critic", 7, "atari_theta", "Alg3 L18-19 (the network)",
         "the paper's Atari network, batch 2: outputs, and d_theta at every 97th index"),
        ("q", 6, "atari_theta_q", "Alg2 L22 (the network)", "the paper's Atari network with the Q head, batch 2"),
    ]:
        n_params = atari_network(6, head).n_params
        sample = np.unique(np.concatenate([np.arange(0, n_params, 97), [n_params - 1]]))
        out.append(case(f"network.atari_{head}", "atari_forward_backward", pins, (1e-7, 1e-10),
                        {"theta": None, "obs": rng.integers(0, 256, (2, 4, 84, 84), dtype=np.uint8),
                         "d_out": rng.standard_normal((2, n_out)), "n_actions": np.array(6),
                         "head": np.array(head)},
                        desc, generated={"theta": generator}, select={1: sample}))
    return out


ALGOS = ("one-step-q", "one-step-sarsa", "n-step-q", "a3c")


@builder
def own_loop_traces(rng, _):
    return [case(f"trace.{algo}.{workers}w", "trace", "the whole box", (1e-9, 1e-9),
                 {"algo": np.array(algo), "workers": np.array(workers), "seed": np.array(0),
                  "updates": np.array(20)},
                 f"first 20 updates of --algo {algo} --workers {workers} --deterministic "
                 "--seed 0 --dtype float64 on CartPole-v1: worker, T, loss, grad norm, "
                 "theta checksums, actions, rewards, targets")
            for algo in ALGOS for workers in (1, 2)]


def _replay_case(name, pins, algo, workers, description, **recording):
    """A replay case: the first REPLAY_UPDATES updates of a deterministic CartPole-v1 run
    (``traces.record``; ``recording``: its time_limit / logit_scale), inputs only."""
    cfg = traces.trace_config(algo, workers, 0, I_target=REPLAY_I_TARGET)
    theta0, segments, _ = traces.record(cfg, REPLAY_UPDATES, **recording)
    return case(name, "replay", pins, (1e-9, 1e-9),
                {"config": np.array(traces.config_json(cfg)), "theta0": theta0, **segments}, description)


@builder
def replays(rng, _):
    return [_replay_case(
        f"replay.{algo}.{workers}w", "the whole box", algo, workers,
        f"the first {REPLAY_UPDATES} updates of --algo {algo} --workers {workers} --deterministic "
        f"--seed 0 --dtype float64 on CartPole-v1 (I_target {REPLAY_I_TARGET}), replayed from "
        "the recorded segments: targets, loss, gradient norm, theta checksums, first "
        "gradient and theta in full") for algo in ALGOS for workers in (1, 2)]


@builder
def q_target_network(rng, _):
    rng_q = np.random.default_rng(7)
    net_q = mlp(4, 3, "q", hidden=(8, 8))
    return [case("update.q_target_network", "q_target_update", "Alg1 L9-10", F64,
                 {"theta": net_q.init(rng_q, np.float64), "theta_minus": net_q.init(rng_q, np.float64),
                  "s": rng_q.standard_normal((5, 4)), "a": rng_q.integers(0, 3, 5),
                  "r": rng_q.standard_normal(5), "s_next": rng_q.standard_normal((5, 4)),
                  "terminated": np.array([False, False, True, False, False]),
                  "gamma": np.array(0.99), "hidden": np.array([8, 8]), "n_actions": np.array(3)},
                 "y from the target parameters theta^-, the gradient w.r.t. the online theta "
                 "(theta^- != theta)")]


@builder
def large_logits(rng, _):
    rng_l = np.random.default_rng(11)
    return [case("a3c.large_logits", "a3c_loss_grad", "Alg3 L18 + ADDITION 1", F64,
                 {"logits": 800.0 * rng_l.standard_normal((5, 4)) + np.array([0.0, 1000.0, -1000.0, 5.0]),
                  "v": rng_l.standard_normal(5), "a": np.array([0, 1, 2, 3, 1]),
                  "R": rng_l.standard_normal(5), "beta": np.array(0.01), "value_scale": np.array(0.5)},
                 "logits in the hundreds and thousands: a softmax or log-softmax without the "
                 "max subtracted overflows (log pi of an unlikely action is about -2000)", about=(0,))]


@builder
def gaussian_networks(rng, _):
    rng_n = np.random.default_rng(13)
    out = []
    for spherical in (True, False):
        net_g = GaussianActorCritic(3, 2, hidden=(8, 6), spherical=spherical)
        out.append(case(f"network.gaussian_{'spherical' if spherical else 'per_dimension'}",
                        "gaussian_forward_backward", "supp. Sec. 9 (the networks)", F64,
                        {"theta": net_g.init(rng_n, np.float64), "obs": rng_n.standard_normal((4, 3)),
                         "d_out": rng_n.standard_normal((4, net_g.n_outputs)), "hidden": np.array([8, 6]),
                         "action_dim": np.array(2), "spherical": np.array(spherical)},
                        "policy network (mu, sigma2_in) and value network, sharing nothing, in one "
                        "flat vector: outputs and the accumulated d_theta"))
    return out


@builder
def gaussian_losses(rng, _):
    rng_g = np.random.default_rng(12)
    out = []
    for name, D, S, x_loc, x_scale, desc in [
        ("gaussian.spherical", 3, 1, 0.0, 1.0, "3 action dimensions, one sigma^2 for all (the paper's)"),
        ("gaussian.per_dimension", 3, 3, 0.0, 1.0, "one sigma^2 per action dimension"),
        ("gaussian.large_sigma", 2, 1, 60.0, 10.0, "sigma2_in around 60: softplus(x) = x, no overflow"),
        ("gaussian.tiny_sigma", 2, 2, -18.0, 1.0, "sigma^2 around 1e-8: softplus(x) = exp(x), large gradients"),
    ]:
        mu = rng_g.standard_normal((5, D))
        x = x_loc + x_scale * rng_g.standard_normal((5, S))
        spread = np.sqrt(np.logaddexp(0.0, x))
        out.append(case(name, "gaussian_loss_grad", "supp. Sec. 9 (continuous A3C)", F64,
                        {"mu": mu, "sigma2_in": x, "v": rng_g.standard_normal(5),
                         "a": mu + spread * rng_g.standard_normal((5, D)), "R": rng_g.standard_normal(5),
                         "beta": np.array(1e-4), "value_scale": np.array(0.5)},
                        f"Gaussian policy, sigma^2 = softplus(sigma2_in): {desc}"))
    return out


@builder
def rmsprop(rng, _):
    n = 50
    return [case("rmsprop.three_steps", "rmsprop_steps", "Alg3 L21 + ADDITION 4", F64,
                 {"theta": rng.standard_normal(n), "g": np.zeros(n),
                  "d_thetas": rng.standard_normal((3, n)), "lr": np.array(7e-4),
                  "alpha": np.array(0.99), "eps": np.array(0.1)},
                 "g <- alpha g + (1 - alpha) d^2; theta <- theta - lr d / sqrt(g + eps), eps inside")]


REPLAY_TIME_LIMIT = 12   # steps: CartPole episodes still running then are truncated inside the replay
REPLAY_LOGIT_SCALE = 5000.0


@builder
def replays_with_truncations_and_large_logits(rng, _):
    """Added in the golden files' format 2 (CHANGELOG, 2026-11-30): segments that end in a
    time-limit truncation, and an A3C run whose logits exceed 709 (exp overflows)."""
    out = [_replay_case(f"replay.{algo}.2w.truncated", "the whole box + ADDITION 9", algo, 2,
                        f"as replay.{algo}.2w, with every episode cut after {REPLAY_TIME_LIMIT} steps (a time "
                        "limit): a truncated step is not terminal, it bootstraps (from theta^- for Q, V for A3C)",
                        time_limit=REPLAY_TIME_LIMIT) for algo in ALGOS]
    out.append(_replay_case(
        "replay.a3c.2w.large_logits", "Alg3 L18 + ADDITION 1", "a3c", 2,
        f"as replay.a3c.2w from a theta0 whose policy weights and biases are {REPLAY_LOGIT_SCALE:g} "
        "times larger: logits up to about 880, so a softmax or log-softmax without the max "
        "subtracted overflows (exp(x) is inf beyond 709)", logit_scale=REPLAY_LOGIT_SCALE))
    return out


def _as_float32(inputs, names):
    return {k: (np.asarray(v, np.float32) if k in names else v) for k, v in inputs.items()}


@builder
def float32_variants(rng, cases):
    """Added in format 3 (CHANGELOG, 2026-11-30): the returns, A3C-loss, RMSProp and
    replay cases with float32 inputs, for float32 ports, at float32 tolerance.
    refasync computes the returns and loss gradients in float64 from the float32
    inputs, the networks and RMSProp in float32."""
    float32 = {"segment_returns": ("rewards",), "a3c_loss_grad": ("logits", "v", "R"),
               "rmsprop_steps": ("theta", "g", "d_thetas"), "replay": ("theta0", "s", "r", "s_next")}
    out = []
    for c in cases:
        if c["function"] in float32 and (c["function"] != "replay" or c["name"].endswith(".2w")):
            out.append(case(c["name"] + "_f32", c["function"], c["pins"], F32,
                            _as_float32(c["inputs"], float32[c["function"]]),
                            c["description"] + ", in float32", about=c["about"]))
    return out
