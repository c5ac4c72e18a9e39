"""python -m refasync.crosscheck --adapter ADAPTER: check another implementation
against refasync's golden files and print a per-check table.

ADAPTER is a Python file (its ``ADAPTER`` object if it defines one, else the
module itself) or ``module:object``.  The functions an adapter may provide are
listed in refasync/golden/README.md (``refasync/crosscheck/protocol.py``); missing
ones are reported as SKIP.  The golden files are package data (``refasync/golden``);
``--reference DIR`` reads another copy.  Exit code: 0 all present checks OK, 1 any
FAIL, 2 bad input.
"""
from __future__ import annotations

import os
import sys

from ..cli import OneLineParser
from .adapter import load_adapter
from .compare import check, format_table
from .golden import MANIFEST, default_reference


def main(argv=None):
    p = OneLineParser(prog="python -m refasync.crosscheck", description=__doc__.splitlines()[0])
    p.add_argument("--adapter", default="refasync.crosscheck:RefasyncAdapter",
                   help="a .py file or module:object (default: refasync itself)")
    p.add_argument("--reference", default=default_reference(),
                   help="golden files directory (default: the ones installed with refasync)")
    args = p.parse_args(argv)
    try:
        adapter = load_adapter(args.adapter)
    except Exception as e:
        p.error(f"cannot load adapter {args.adapter!r}: {type(e).__name__}: {e}")
    if not os.path.isfile(os.path.join(args.reference, MANIFEST)):
        p.error(f"no golden files in {args.reference!r}")
    rows = check(adapter, args.reference)
    print(format_table(rows))
    counts = {s: sum(1 for r in rows if r[5] == s) for s in ("OK", "FAIL", "SKIP")}
    if not callable(getattr(adapter, "trace", None)):
        print("\n(trace.* rows, for ports that run their own loop, appear when the adapter defines "
              "the optional trace(); replay.* rows check the whole algorithms without it)")
    print(f"\n{counts['OK']} passed, {counts['FAIL']} failed, {counts['SKIP']} skipped")
    return 1 if counts["FAIL"] else 0


if __name__ == "__main__":
    sys.exit(main())
