"""Comparing an adapter's outputs with the golden files: the per-case rows,
the errors shown, and what a FAIL says: the first output (for a replay, the
first update and quantity) that differs, expected against got, the ratio
got / expected, and, by recomputation (``diagnosis.py``), which known variant
of the computation the adapter's outputs equal."""
from __future__ import annotations

import json
import math

import numpy as np

from .. import traces
from .diagnosis import (F32_RTOL, compared, constant_ratio, explain_replay, explain_unit, float32_sized,
                        guarded_clip, run_replay)
from .golden import call, load
from .protocol import BY_NAME, output_name


def _name(case, i):
    return output_name(case["function"], i)


def _floor(e, atol):
    """The smallest |expected| a relative error is taken against."""
    return max(atol, 1e-6 * float(np.max(np.abs(e))), 1e-300)


def errors(got, expected, atol):
    """(max absolute error, max relative error) over the outputs given (None: not
    given).  The relative error only counts entries with |expected| >= max(atol,
    1e-6 max|expected|): an error against an exact 0 is an absolute error, not
    1e+12 relative."""
    abs_err = rel_err = 0.0
    for g, e in zip(got, expected):
        if g is None or e.size == 0:
            continue
        if not np.all(np.isfinite(g)):
            return math.inf, math.inf          # NaN or Inf: never shown as a small error
        d = np.abs(g - e)
        abs_err = max(abs_err, float(np.max(d)))
        big = np.abs(e) >= _floor(e, atol)
        if big.any():
            rel_err = max(rel_err, float(np.max(d[big] / np.abs(e[big]))))
    return abs_err, rel_err


def shape_problem(case, got, expected):
    """A one-line description of outputs that cannot be compared, or None."""
    optional = BY_NAME[case["function"]].optional_outputs if case["function"] in BY_NAME else ()
    if len(got) != len(expected):
        names = ", ".join(_name(case, i) for i in range(len(expected)))
        return f"{case['function']} returned {len(got)} outputs, expected {len(expected)} ({names})"
    for i, (g, e) in enumerate(zip(got, expected)):
        if g is None:
            if _name(case, i) not in optional:
                return f"{case['function']} gave no {_name(case, i)} (required)"
        elif i in case["select"]:
            idx = case["select"][i]
            if g.ndim != 1 or g.size <= int(idx.max()):
                return f"{_name(case, i)} has shape {g.shape}, expected a flat vector of at least {int(idx.max()) + 1}"
        elif g.shape != e.shape:
            return f"{_name(case, i)} has shape {g.shape}, expected {e.shape}"
    return None


def _mismatch(case, i, got, expected, close, atol):
    """'<output> differs first at index j: expected x, got y' and the ratio got / expected."""
    c, g, e = close[i], got[i], expected[i]
    j = np.unravel_index(int(np.argmax(~c)), c.shape) if c.ndim else ()
    where = f" at index {tuple(int(x) for x in j)}" if c.ndim else ""
    text = f"{_name(case, i)} differs first{where}: expected {float(e[j]):.10g}, got {float(g[j]):.10g}"
    ratio = constant_ratio(g, e, _floor(e, atol)) if np.all(np.isfinite(g)) else None
    if ratio is not None:
        return text + (f"; got = {ratio:.6g} x expected at every entry (a constant factor: a mean over n "
                       "entries gives 1/n, a coefficient of one half 0.5)")
    if float(e[j]) != 0 and np.isfinite(float(g[j])) and abs(float(g[j]) / float(e[j]) - 1) > 1e-6:
        return text + f" (got / expected = {float(g[j]) / float(e[j]):.6g} there)"
    return text


def unit_detail(case, inputs, got, expected, close, rel_err):
    """What a failing unit case says: float32 first if the gap is of its size, then
    each failing output, a known variant that reproduces the outputs, then the
    case's description if it is about those outputs."""
    failing = [i for i, c in enumerate(close) if c is not None and not c.all()]
    lines = []
    if case["rtol"] < F32_RTOL and float32_sized(got, expected):
        lines.append(f"the gap (max rel {rel_err:.1e}) is the size of float32 rounding: is this computed "
                     "in float32? (the *_f32 cases check float32 ports at float32 tolerance)")
    lines += [_mismatch(case, i, got, expected, close, case["atol"]) for i in failing]
    found = explain_unit(case, inputs, got, expected, case["rtol"], case["atol"])
    if found:
        lines.append(f"your outputs equal refasync's with {'; or with '.join(found)}")
    about = case.get("about")
    if about is None or any(i in about for i in failing):
        lines.append(case["description"])
    return "; ".join(lines)


REPLAY_HINTS = {
    ("targets", "one-step-q"): "targets: y = r + gamma max_a' Q(s', a'; theta^-), r alone where terminated (a "
                               "truncated step still bootstraps); theta^- <- theta right after the steps flagged "
                               "copy_after_step",
    ("targets", "one-step-sarsa"): "targets: y = r + gamma Q(s', a_next; theta^-) with the a_next given, r alone "
                                   "where terminated (a truncated step still bootstraps); theta^- <- theta right "
                                   "after the steps flagged copy_after_step",
    ("targets", "n-step-q"): "targets: R = 0 if the segment's last step is terminated, else max_a Q(s_next; "
                             "theta^-) of its last step (also after a truncation), then R <- r + gamma R "
                             "backwards; theta^- <- theta after the updates flagged copy_after_update",
    ("targets", "a3c"): "targets: R = 0 if the segment's last step is terminated, else V(s_next; theta) of its "
                        "last step (also after a truncation), then R <- r + gamma R backwards",
    ("loss", None): "loss: sum (y - Q(s, a))^2 over the segment, no mean",
    ("loss", "a3c"): "loss: sum [-log pi(a|s) (R - V) - beta H(pi) + value_scale (R - V)^2] over the segment, "
                     "no mean, the advantage held constant",
    ("gradient", None): "gradient: d_theta of the summed loss at the theta the update starts from (the shared theta "
                "after every earlier update, whichever worker made it); the norm is taken before clipping",
    ("theta", None): "theta and g: RMSProp g <- alpha g + (1 - alpha) d^2 from g = 0, theta <- theta - lr d / "
             "sqrt(g + eps) with eps inside the root and ONE g shared by all workers; clipping by exactly "
             "max_grad_norm / norm; lr of update k = lr (1 - T[k] / steps), T[k] being the counter after "
             "the segment's last step",
}


def first_divergence(inputs, got, expected, close):
    """(k, quantity, 'what differs') of the first diverging update in pipeline
    order (targets -> loss -> gradient -> theta and g), or None."""
    offsets = np.asarray(inputs["offsets"])
    targets, loss, norm, s1, s2, g1, g2, d_first, theta_first = close
    every = lambda c, k: True if c is None else bool(c[k])   # noqa: E731  (None: not given)
    for k in range(len(offsets) - 1):
        steps = slice(offsets[k], offsets[k + 1])
        if targets is not None and not targets[steps].all():
            j = offsets[k] + int(np.argmax(~targets[steps]))
            return k, "targets", f"step {j} target: expected {expected[0][j]:.10g}, got {got[0][j]:.10g}"
        if not every(loss, k):
            return k, "loss", f"expected {expected[1][k]:.10g}, got {got[1][k]:.10g}"
        if k == 0 and d_first is not None and not d_first.all():
            j = int(np.argmax(~d_first))
            return k, "gradient", f"d_theta[{j}]: expected {expected[7][j]:.10g}, got {got[7][j]:.10g}"
        if not every(norm, k):
            return k, "gradient", f"norm expected {expected[2][k]:.10g}, got {got[2][k]:.10g}"
        if not (s1[k] and s2[k] and g1[k] and g2[k] and (k > 0 or theta_first.all())):
            name, i = next(((n, i) for n, i in (("sum(theta)", 3), ("sum(theta^2)", 4), ("sum(g)", 5),
                                                 ("sum(g^2)", 6)) if not close[i][k]), ("theta", 8))
            if i == 8:
                j = int(np.argmax(~theta_first))
                return k, "theta", f"theta[{j}]: expected {expected[8][j]:.12g}, got {got[8][j]:.12g}"
            return k, "theta", f"{name}: expected {expected[i][k]:.12g}, got {got[i][k]:.12g}"
    return None


def diagnose_replay(case, inputs, got, expected, close, parts=traces.Parts()):
    """The first divergence, then what explains it: a known variant whose
    recomputation equals the adapter's outputs, else the quantity's convention."""
    first = first_divergence(inputs, got, expected, close)
    if first is None:
        return "the replay differs"
    k, quantity, what = first
    head = (f"first divergence: update {k} (worker {int(inputs['worker'][k])}, T={int(inputs['T'][k])}), "
            f"{quantity}: {what}.")
    found = explain_replay(inputs, got, expected, case["rtol"], case["atol"], parts)
    if found:
        return f"{head} Your replay equals refasync's with {'; or with '.join(found)}."
    algo = json.loads(str(np.asarray(inputs["config"])))["algo"]
    hint = REPLAY_HINTS.get((quantity, algo)) or REPLAY_HINTS[(quantity, None)]
    return f"{head} No single known variant reproduces it; the convention: {hint}"


def _selected(case, raw):
    return tuple(g if g is None or i not in case["select"] else g[case["select"][i]] for i, g in enumerate(raw))


def check(adapter, directory):
    """Rows (name, max_abs, max_rel, rtol, atol, status, pins, detail) for every case.
    The run-your-own-loop ``trace`` cases are listed only if the adapter has ``trace``;
    a function that raises NotImplementedError is SKIP for that case.  An adapter's
    ``clip_eps`` (default 0) declares its clipping guard: the replays' expected
    outputs are then recomputed with factor max_norm / (norm + clip_eps)."""
    clip_eps = float(getattr(adapter, "clip_eps", 0.0) or 0.0)
    parts = traces.Parts(clip_coefficient=guarded_clip(clip_eps)) if clip_eps else traces.Parts()
    rows = []
    for case, inputs, expected in load(directory):
        row = lambda status, detail, a=None, r=None: rows.append(  # noqa: E731
            (case["name"], a, r, case["rtol"], case["atol"], status, case["pins"], detail))
        fn = case["function"]
        if not callable(getattr(adapter, fn, None)):
            if fn != "trace":
                row("SKIP", f"adapter has no {fn}")
            continue
        note = ""
        if fn == "replay" and clip_eps:
            expected = run_replay(inputs, parts, np.asarray(inputs["theta0"]).dtype)
            note = f" (expected recomputed with the declared clip_eps {clip_eps:g})"
        try:
            raw = call(adapter, case, inputs)
            problem = shape_problem(case, raw, expected)
        except NotImplementedError as e:
            row("SKIP", f"the adapter does not provide it ({fn} raised NotImplementedError{': ' if str(e) else ''}{e})")
            continue
        except Exception as e:   # the adapter's failure is a FAIL row, not our crash
            problem = f"{type(e).__name__}: {e}"
        if problem:
            row("FAIL", problem)
            continue
        got = _selected(case, raw)
        abs_err, rel_err = errors(got, expected, case["atol"])
        close = compared(got, expected, case["rtol"], case["atol"])
        missing = [_name(case, i) for i, g in enumerate(got) if g is None]
        if all(c is None or c.all() for c in close):
            row("OK", case["description"] + note + (f" ({', '.join(missing)} not given)" if missing else ""),
                abs_err, rel_err)
            continue
        if fn == "replay":
            detail = diagnose_replay(case, inputs, got, expected, close, parts) + note
        elif fn == "trace":
            bad = [(int(np.argmax(~c)), _name(case, i)) for i, c in enumerate(close[:6]) if not c.all()]
            detail = (f"first diverging update: {min(bad)[0]} ({min(bad)[1]})" if bad
                      else "the segments' data differ (actions, rewards or targets)")
        else:
            detail = unit_detail(case, inputs, got, expected, close, rel_err)
        row("FAIL", detail, abs_err, rel_err)
    return rows


def format_table(rows):
    """The table printed by ``python -m refasync.crosscheck``; a row's detail under it when not OK."""
    w = max([30] + [len(row[0]) for row in rows])
    head = f"{'check':{w}s} {'max abs err':>12s} {'max rel err':>12s} {'rtol':>7s} {'atol':>7s} {'':5s} pins"
    lines = [head, "-" * len(head)]
    fmt = lambda x: f"{x:12.3e}" if x is not None else f"{'-':>12s}"  # noqa: E731
    for name, a, r, rtol, atol, status, pins, detail in rows:
        lines.append(f"{name:{w}s} {fmt(a)} {fmt(r)} {rtol:7.0e} {atol:7.0e} {status:5s} {pins}")
        if status != "OK":
            lines.append(f"{'':{w}s} {detail}")
    return "\n".join(lines)
