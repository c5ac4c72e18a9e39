"""Naming what an adapter does differently, by recomputation.

When a replay fails, refasync replays the same segments again with one of its
parts swapped for a known variant (the conventions ports most often differ in)
and compares each result with the adapter's outputs: a variant that reproduces
them is named ("your replay equals refasync's with RMSProp's eps outside the
square root").  On a float64 case, float32 arithmetic is tried too, alone and under
each variant, at float32's tolerance.  Unit cases have their own, smaller list.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, replace
from types import SimpleNamespace

import numpy as np

from .. import traces
from ..losses import a3c_loss_grad, q_loss_grad
from ..targets import n_step_returns, one_step_q_target
from .golden import call

F32_RTOL, F32_ATOL = 1e-4, 1e-5       # float32 rounding, as the *_f32 cases' tolerance
TORCH_CLIP_EPS = 1e-6                 # torch.nn.utils.clip_grad_norm_: max_norm / (norm + 1e-6)


def guarded_clip(eps):
    """Norm clipping with a guard in the denominator, as most libraries write it:
    factor min(1, max_norm / (norm + eps)) (``clip_eps``; refasync's is eps = 0)."""
    def clip_coefficient(norm, max_norm):
        if not max_norm or max_norm <= 0 or not np.isfinite(norm):
            return 1.0
        return min(1.0, max_norm / (norm + eps))
    return clip_coefficient


def _rmsprop_eps_outside(theta, g, d, lr, alpha, eps, scale=1.0):
    d = d * scale
    g[:] = alpha * g + (1 - alpha) * d * d
    theta -= lr * d / (np.sqrt(g) + eps)


def _mean_q_loss_grad(q, a, y):
    loss, d_q = q_loss_grad(q, a, y)
    return loss / len(a), d_q / len(a)


def _mean_a3c_loss_grad(logits, v, a, R, beta, value_scale):
    terms, d_logits, d_v = a3c_loss_grad(logits, v, a, R, beta, value_scale)
    n = len(a)
    return {**terms, "loss": terms["loss"] / n}, d_logits / n, d_v / n


def _half_value_a3c_loss_grad(logits, v, a, R, beta, value_scale):
    return a3c_loss_grad(logits, v, a, R, beta, 0.5 * value_scale)


def _entropy_sign_flipped(logits, v, a, R, beta, value_scale):
    return a3c_loss_grad(logits, v, a, R, -beta, value_scale)


def _advantage_not_constant(logits, v, a, R, beta, value_scale):
    """The policy term's gradient also flows into V: d(-log pi (R - V))/dV = log pi(a|s)."""
    terms, d_logits, d_v = a3c_loss_grad(logits, v, a, R, beta, value_scale)
    z = np.asarray(logits, dtype=np.float64)
    log_pi = z - z.max(axis=1, keepdims=True)
    log_pi = log_pi - np.log(np.exp(log_pi).sum(axis=1, keepdims=True))
    return terms, d_logits, d_v + log_pi[np.arange(len(a)), np.asarray(a)]


def _sarsa_with_max(r, q_next_minus, a_next, terminal, gamma):
    return one_step_q_target(r, q_next_minus, terminal, gamma)


def _lr_one_update_stale(T, offsets, k):
    return T[k - 1] if k > 0 else 0


def _lr_at_segment_start(T, offsets, k):
    return T[k] - (offsets[k + 1] - offsets[k])


@dataclass(frozen=True)
class Variant:
    """A known way to compute the box differently: ``changes`` are the replay's
    ``traces.Parts`` it swaps; ``algos`` the algorithms it can occur in."""
    name: str
    says: str             # "your replay equals refasync's with ..."
    changes: dict
    algos: tuple = ("one-step-q", "one-step-sarsa", "n-step-q", "a3c")


Q_ALGOS = ("one-step-q", "one-step-sarsa", "n-step-q")
VARIANTS = (
    Variant("eps_outside_root", "RMSProp's eps outside the square root: theta <- theta - lr d / (sqrt(g) + eps)",
            dict(optimizer_step=_rmsprop_eps_outside)),
    Variant("g_starts_at_1", "RMSProp's running average g started at 1 instead of 0", dict(g0=1.0)),
    Variant("mean_not_sum", "the loss and its gradient averaged over the segment's steps instead of summed",
            dict(q_loss_grad=_mean_q_loss_grad, a3c_loss_grad=_mean_a3c_loss_grad)),
    Variant("value_half", "the value loss scaled by 1/2 on top of value_scale (value_scale/2 (R - V)^2: "
            "the 1/2 (R - V)^2 reading of the authors' 'multiply the gradients of V by 0.5')",
            dict(a3c_loss_grad=_half_value_a3c_loss_grad), ("a3c",)),
    Variant("entropy_sign", "the entropy term's sign flipped (it pushes pi away from uniform)",
            dict(a3c_loss_grad=_entropy_sign_flipped), ("a3c",)),
    Variant("advantage_not_constant", "the advantage R - V not held constant in the policy term "
            "(its gradient also flows into V)", dict(a3c_loss_grad=_advantage_not_constant), ("a3c",)),
    Variant("clip_guard", "norm clipping with the guard max_norm / (norm + 1e-6) (torch's clip_grad_norm_); "
            "if that is your convention, declare clip_eps = 1e-6 in the adapter",
            dict(clip_coefficient=guarded_clip(TORCH_CLIP_EPS))),
    Variant("no_clipping", "no gradient-norm clipping", dict(clip_coefficient=lambda norm, max_norm: 1.0)),
    Variant("lr_stale", "the annealed learning rate of each update read at the previous update's T "
            "(one update stale)", dict(lr_T=_lr_one_update_stale)),
    Variant("lr_at_start", "the annealed learning rate read at T at the segment's start, not after its "
            "last step", dict(lr_T=_lr_at_segment_start)),
    Variant("theta_prime_not_reread", "theta' read from the shared theta only once per worker (not "
            "re-synchronised at each segment's start)", dict(resync=False)),
    Variant("truncation_terminal", "a time-limit truncation taken as terminal (bootstrap 0)",
            dict(truncation_bootstraps=False)),
    Variant("float32_targets", "the targets / returns kept in float32", dict(target_dtype=np.float32)),
    Variant("target_copy_late", "theta^- copied one update late (one-step: after the update whose segment "
            "holds the copy step, not right after the step)", dict(copy_late=True), Q_ALGOS),
    Variant("sarsa_with_max", "Sarsa's target taken with max_a' Q(s', a'; theta^-) (Q-learning's), not "
            "Q(s', a'; theta^-) of the action taken next", dict(sarsa_target=_sarsa_with_max),
            ("one-step-sarsa",)),
)


def compared(got, reference, rtol, atol):
    """Per output, whether got matches reference (None where the adapter gave none)."""
    out = []
    for g, e in zip(got, reference):
        if g is None:
            out.append(None)
        elif g.shape != e.shape:
            out.append(np.zeros(e.shape, bool))
        else:
            out.append(np.isclose(g, e, rtol=rtol, atol=atol))
    return out


def matches(got, reference, rtol, atol):
    return all(c is None or c.all() for c in compared(got, reference, rtol, atol))


def replay_inputs(inputs):
    return [inputs[k] for k in ("config", "theta0", *traces.SEGMENT_NAMES)]


def run_replay(inputs, parts, dtype=None):
    args = replay_inputs(inputs)
    args[0] = str(np.asarray(args[0]))
    if dtype is not None:
        args[1] = np.asarray(args[1], dtype)
    return traces.replay(*args, parts=parts)


def explain_replay(inputs, got, expected, rtol, atol, parts=traces.Parts()):
    """The known variants whose replay reproduces the adapter's outputs, as
    sentences; [] if none does.  ``expected``: refasync's outputs under ``parts``,
    the conventions the adapter declared (clip_eps), on which each variant is
    layered.  Tried in order of evidence: each variant at the case's tolerance;
    then, on a float64 case, float32 arithmetic alone, then each variant in
    float32, at float32's tolerance."""
    algo = json.loads(str(np.asarray(inputs["config"])))["algo"]
    variants, found = [], []
    for v in VARIANTS:
        if algo not in v.algos:
            continue
        varied = replace(parts, **v.changes)
        out = run_replay(inputs, varied)
        if matches(out, expected, rtol, atol):
            continue                              # no effect here: it explains nothing
        variants.append((v, varied))
        if matches(got, out, rtol, atol):
            found.append(v.says)
    if found or np.asarray(inputs["theta0"]).dtype == np.float32:
        return found
    if matches(got, run_replay(inputs, parts, np.float32), F32_RTOL, F32_ATOL):
        return ["float32 arithmetic: your replay equals refasync's float32 replay within float32 "
                "rounding (rtol 1e-4); compute in float64, or compare on the *_f32 cases"]
    return ["float32 arithmetic and " + v.says for v, varied in variants
            if matches(got, run_replay(inputs, varied, np.float32), F32_RTOL, F32_ATOL)]


def _rmsprop_steps_eps_outside(theta, g, d_thetas, lr, alpha, eps):
    theta, g = np.array(theta, np.float64), np.array(g, np.float64)
    for d in d_thetas:
        _rmsprop_eps_outside(theta, g, np.asarray(d, np.float64), lr, alpha, eps)
    return theta, g


def _returns_truncation_terminal(rewards, terminated, truncated, v_last, gamma):
    return n_step_returns(rewards, 0.0 if terminated or truncated else v_last, gamma)


def _a3c_grads(loss_grad):
    def fn(logits, v, a, R, beta, value_scale):
        return loss_grad(logits, v, a, R, beta, value_scale)[1:]
    return fn


# Unit-case variants: (function, what it says, the variant computed from the case's inputs)
UNIT_VARIANTS = (
    ("rmsprop_steps", "RMSProp's eps outside the square root: theta <- theta - lr d / (sqrt(g) + eps) "
     "(torch.optim.RMSprop's form)", _rmsprop_steps_eps_outside),
    ("segment_returns", "a time-limit truncation taken as terminal (bootstrap 0)", _returns_truncation_terminal),
    ("a3c_loss_grad", "the value loss scaled by 1/2 on top of value_scale", _a3c_grads(_half_value_a3c_loss_grad)),
    ("a3c_loss_grad", "the entropy term's sign flipped", _a3c_grads(_entropy_sign_flipped)),
    ("a3c_loss_grad", "the advantage R - V not held constant in the policy term",
     _a3c_grads(_advantage_not_constant)),
)


def explain_unit(case, inputs, got, expected, rtol, atol):
    """The unit variants of the case's function that reproduce the adapter's outputs
    (at the case's tolerance or float32's), leaving out those with no effect on it."""
    found = []
    for fn, says, variant in UNIT_VARIANTS:
        if fn != case["function"]:
            continue
        out = call(SimpleNamespace(**{fn: variant}), case, inputs)    # as an adapter is called
        if matches(out, expected, rtol, atol):
            continue
        for r_tol, a_tol in ((rtol, atol), (F32_RTOL, F32_ATOL)):
            if matches(got, out, r_tol, a_tol):
                found.append(says)
                break
    return found


def float32_sized(got, expected):
    """Whether outputs that differ at a float64 tolerance agree at float32's (the
    *_f32 cases' rtol 1e-4, atol 1e-5): a gap of the size of float32 rounding."""
    return matches(got, expected, F32_RTOL, F32_ATOL)


def constant_ratio(got, expected, floor):
    """got / expected where it is the same at every entry with |expected| >= floor, else None."""
    big = np.abs(expected) >= floor
    if not big.any():
        return None
    ratio = got[big] / expected[big]
    if not np.all(np.isfinite(ratio)):
        return None
    c = float(np.median(ratio))
    return c if np.allclose(ratio, c, rtol=1e-6, atol=0) and abs(c - 1) > 1e-6 else None
