"""checkpoint.npz: written and read here only, plain arrays only (``allow_pickle=False``).

    theta, theta_minus (Q methods), opt_stat, T, format_version, eps_finals (each
    worker's final epsilon), wall_s, resumes, and in --deterministic mode the
    workers' exact state (random streams, environments, loop state) as
    ``snapshot.json`` (a JSON text) with the arrays it names in ``snapshot/<k>``.

A snapshot is a tree of dicts (str keys), lists, None, bools, ints, floats,
strings and NumPy arrays; ``encode_snapshot`` moves the arrays out of the tree into
their own entries and writes the rest as JSON, ``decode_snapshot`` puts them back.
Nothing is ever unpickled: a checkpoint that holds a pickle (``worker_states``, what
refasync wrote before format 3) is refused.
"""
from __future__ import annotations

import json
import os

import numpy as np

CHECKPOINT_FORMAT = 3
RESUMABLE_FORMATS = (2, 3)        # 2: the same arrays, its pickled snapshot refused (resume_problem)
ARRAY_TAG = "__array__"


def save_checkpoint(path, shared, extra=None):
    """Write checkpoint.npz atomically (a temporary file, then a rename: a crash
    leaves the previous checkpoint whole); returns False (and writes nothing) if
    theta is not finite, so the last good checkpoint stays (ADDITION 10).
    ``extra``: more named arrays (the run's bookkeeping for --resume)."""
    theta = np.array(shared.theta)
    if not np.all(np.isfinite(theta)):          # ADDITION 10: never save non-finite parameters
        return False
    arrays = {"theta": theta, "opt_stat": np.array(shared.opt_stat),
              "T": np.array(shared.T.value, dtype=np.int64),
              "format_version": np.array(CHECKPOINT_FORMAT), **(extra or {})}
    if shared.theta_minus is not None:
        arrays["theta_minus"] = np.array(shared.theta_minus)
    tmp = path + ".tmp.npz"
    np.savez(tmp, **arrays)
    with open(tmp, "rb") as f:
        os.fsync(f.fileno())                    # on disk before it replaces the old one
    os.replace(tmp, path)
    return True


def load_checkpoint(path):
    """Every entry of a checkpoint as a plain array (never unpickled)."""
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def encode_snapshot(snapshot):
    """The arrays of a checkpoint that hold ``snapshot``: ``snapshot.json`` and ``snapshot/<k>``."""
    arrays = {}

    def enc(x):
        if isinstance(x, np.ndarray):
            key = f"snapshot/{len(arrays)}"
            arrays[key] = x
            return {ARRAY_TAG: key}
        if isinstance(x, dict):
            if not all(isinstance(k, str) for k in x) or ARRAY_TAG in x:
                raise TypeError(f"a snapshot's dicts have str keys other than {ARRAY_TAG!r}: {list(x)[:5]}")
            return {k: enc(v) for k, v in x.items()}
        if isinstance(x, (list, tuple)):
            return [enc(v) for v in x]
        if isinstance(x, np.generic):
            return x.item()
        if x is None or isinstance(x, (bool, int, float, str)):
            return x
        raise TypeError(f"a snapshot holds plain data and arrays only, not {type(x).__name__}")

    text = json.dumps(enc(snapshot))
    return {"snapshot.json": np.array(text), **arrays}


def decode_snapshot(ckpt):
    """The snapshot a checkpoint holds (``encode_snapshot``'s inverse), or None."""
    if "snapshot.json" not in ckpt:
        return None

    def dec(x):
        if isinstance(x, dict):
            if set(x) == {ARRAY_TAG}:
                return ckpt[x[ARRAY_TAG]]
            return {k: dec(v) for k, v in x.items()}
        if isinstance(x, list):
            return [dec(v) for v in x]
        return x
    return dec(json.loads(str(ckpt["snapshot.json"])))


def resume_problem(ckpt, needed):
    """Why a checkpoint cannot be resumed (one line), or None."""
    version = int(ckpt["format_version"]) if "format_version" in ckpt else None
    if version not in RESUMABLE_FORMATS:
        return (f"checkpoint.npz is format {version}, written by another refasync; this one resumes formats "
                f"{', '.join(map(str, RESUMABLE_FORMATS))}")
    if "worker_states" in ckpt:
        return ("checkpoint.npz holds a pickle (worker_states, written by refasync before format 3), and "
                "refasync never unpickles a file: resume it with the refasync that wrote it")
    missing = [k for k in needed if k not in ckpt]
    if missing:
        return f"checkpoint.npz lacks {', '.join(missing)}"
    return None
