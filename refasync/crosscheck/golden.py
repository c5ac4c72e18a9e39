"""The golden files on disk: writing refasync's outputs for every case, reading
them back (plain arrays, ``allow_pickle=False``), and calling an adapter on a
case's inputs.  Format: ``refasync/golden/README.md``."""
from __future__ import annotations

import json
import os

import numpy as np

from .. import __version__
from .adapter import RefasyncAdapter
from .cases import GENERATORS, build_cases
from .protocol import BY_NAME

FORMAT_VERSION = 3
MANIFEST = "manifest.json"
MANIFEST_KEYS = ("name", "function", "pins", "rtol", "atol", "description", "input_names", "generated")


def default_reference():
    """The golden files installed with the package (``refasync/golden``), read with
    importlib.resources so that a wheel install finds them from any folder."""
    from importlib.resources import files
    return str(files("refasync") / "golden")


def _scalar(x):
    x = np.asarray(x)
    return x.item() if x.ndim == 0 else x


def call(adapter, case, inputs):
    """Run one adapter function on a case's inputs (0-d arrays passed as Python
    scalars, in ``input_names`` order); returns a tuple of float64 arrays, None
    for an output not given.  A function may return a tuple, a single array, or
    a dict keyed by the protocol's output names."""
    fn = getattr(adapter, case["function"])
    out = fn(*[_scalar(inputs[k]) for k in case["input_names"]])
    if isinstance(out, dict):
        unknown = set(out) - set(BY_NAME[case["function"]].outputs)
        if unknown:
            raise ValueError(f"unknown output names {sorted(unknown)}; "
                             f"expected {list(BY_NAME[case['function']].outputs)}")
        out = tuple(out.get(name) for name in BY_NAME[case["function"]].outputs)
    return tuple(None if o is None else np.asarray(o, dtype=np.float64)
                 for o in (out if isinstance(out, (tuple, list)) else (out,)))


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
        manifest["cases"].append({k: case[k] for k in MANIFEST_KEYS}
                                 | ({"about": list(case["about"])} if case.get("about") else {})
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
