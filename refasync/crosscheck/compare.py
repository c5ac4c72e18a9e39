"""Comparing an adapter's outputs with the golden files: the per-case rows,
the errors shown, and the diagnosis of a FAIL (for a replay: the first
diverging update and quantity, and the convention that most likely explains it)."""
from __future__ import annotations

import json
import math

import numpy as np

from .golden import call, load
from .protocol import output_name


def _name(case, i):
    return output_name(case["function"], i)


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
