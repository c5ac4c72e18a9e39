"""python -m refasync.crosscheck --adapter ADAPTER: check another implementation
against refasync's golden files and print a per-check table.

ADAPTER is a Python file (its ``ADAPTER`` object if it defines one, else the
module itself) or ``module:object``.  The functions an adapter may provide are
listed in ``refasync/reference.py`` and refasync/golden/README.md; missing ones are
reported as SKIP.  The golden files are package data (``refasync/golden``);
``--reference DIR`` reads another copy.  Exit code: 0 all present checks OK, 1 any FAIL, 2 bad input.
"""
from __future__ import annotations

import importlib
import importlib.util
import os
import sys

from . import reference



def default_reference():
    """The golden files installed with the package (``refasync/golden``), read with
    importlib.resources so that a wheel install finds them from any folder."""
    from importlib.resources import files
    return str(files("refasync") / "golden")


DEFAULT_REFERENCE = default_reference()


def load_adapter(spec):
    """The adapter object named by a file path or ``module:object``."""
    if spec.endswith(".py") or os.path.isfile(spec):
        if not os.path.isfile(spec):
            raise ValueError(f"no adapter file {spec!r}")
        mod_spec = importlib.util.spec_from_file_location("refasync_adapter", spec)
        module = importlib.util.module_from_spec(mod_spec)
        mod_spec.loader.exec_module(module)
        return getattr(module, "ADAPTER", module)
    module_name, _, attr = spec.partition(":")
    module = importlib.import_module(module_name)
    return getattr(module, attr) if attr else module


def format_table(rows):
    head = f"{'check':30s} {'max abs err':>12s} {'max rel err':>12s} {'rtol':>7s} {'atol':>7s} {'':5s} pins"
    lines = [head, "-" * len(head)]
    fmt = lambda x: f"{x:12.3e}" if x is not None else f"{'-':>12s}"  # noqa: E731
    for name, a, r, rtol, atol, status, pins, detail in rows:
        lines.append(f"{name:30s} {fmt(a)} {fmt(r)} {rtol:7.0e} {atol:7.0e} {status:5s} {pins}")
        if status != "OK":
            lines.append(f"{'':30s} {detail}")
    return "\n".join(lines)


def main(argv=None):
    from .cli import OneLineParser
    p = OneLineParser(prog="python -m refasync.crosscheck", description=__doc__.splitlines()[0])
    p.add_argument("--adapter", default="refasync.reference:RefasyncAdapter",
                   help="a .py file or module:object (default: refasync itself)")
    p.add_argument("--reference", default=DEFAULT_REFERENCE,
                   help="golden files directory (default: the ones installed with refasync)")
    args = p.parse_args(argv)
    try:
        adapter = load_adapter(args.adapter)
    except Exception as e:
        print(f"{p.prog}: error: cannot load adapter {args.adapter!r}: {type(e).__name__}: {e}", file=sys.stderr)
        return 2
    if not os.path.isfile(os.path.join(args.reference, reference.MANIFEST)):
        print(f"{p.prog}: error: no golden files in {args.reference!r}", file=sys.stderr)
        return 2
    rows = reference.check(adapter, args.reference)
    print(format_table(rows))
    counts = {s: sum(1 for r in rows if r[5] == s) for s in ("OK", "FAIL", "SKIP")}
    if not callable(getattr(adapter, "trace", None)):
        print("\n(trace.* rows, for ports that run their own loop, appear when the adapter defines "
              "the optional trace(); replay.* rows check the whole algorithms without it)")
    print(f"\n{counts['OK']} passed, {counts['FAIL']} failed, {counts['SKIP']} skipped")
    return 1 if counts["FAIL"] else 0


if __name__ == "__main__":
    sys.exit(main())
