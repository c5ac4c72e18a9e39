"""Regenerate the golden files in refasync/golden/ and compare them with the committed ones.

    python tools/make_reference.py            # compare only: exit 1 if anything drifted
    python tools/make_reference.py --write    # overwrite refasync/golden/ and its README's protocol
                                              # table (a conscious act:
                                              # add an entry to refasync/golden/CHANGELOG.md)
"""
import argparse
import os
import sys
import tempfile

import numpy as np

from refasync import crosscheck

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REFERENCE = os.path.join(ROOT, "refasync", "golden")


def compare(directory, committed):
    """Rows of a refasync-vs-committed check: regenerated outputs against the files."""
    fresh = {case["name"]: expected for case, _, expected in crosscheck.load(directory)}
    problems = []
    for case, inputs, expected in crosscheck.load(committed):
        if case["name"] not in fresh:
            problems.append(f"{case['name']}: no longer generated")
            continue
        for i, (a, b) in enumerate(zip(fresh.pop(case["name"]), expected)):
            if a.shape != b.shape or not np.allclose(a, b, rtol=case["rtol"], atol=case["atol"]):
                problems.append(f"{case['name']}: output {i} differs")
    problems += [f"{name}: new case, not committed" for name in fresh]
    return problems


README = os.path.join(REFERENCE, "README.md")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--write", action="store_true", help="overwrite refasync/golden/ with the regenerated files")
    args = ap.parse_args()
    if args.write:
        crosscheck.write(REFERENCE)
        with open(README) as f:
            text = f.read()
        with open(README, "w") as f:
            f.write(crosscheck.protocol.with_protocol_section(text))
        print(f"wrote {REFERENCE}; record why in refasync/golden/CHANGELOG.md")
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        crosscheck.write(tmp)
        problems = compare(tmp, REFERENCE)
    with open(README) as f:
        text = f.read()
    if crosscheck.protocol.with_protocol_section(text) != text:
        problems.append("README.md: the protocol table differs from refasync/crosscheck/protocol.py")
    for p in problems:
        print(p)
    print("OK: refasync/golden/ matches refasync" if not problems else f"{len(problems)} differences")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
