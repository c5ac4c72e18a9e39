"""The executable spec stays complete: every line of every pseudocode box (numbered
in the algorithm module's docstring) is tagged ``# [AlgK Ln]`` in the worker loop or
named there as implicit, and no tag names a line the box does not have."""
import inspect
import re

import pytest

from refasync.algorithms import a3c, n_step_q, one_step_q, one_step_sarsa


def numbered_lines(doc):
    """The box's line labels as the docstring numbers them: '1', '2', ..., "9'"."""
    return set(re.findall(r"^\s+L(\d+'?)\s", doc, re.M))


def expand(spec):
    """'L4, L22' -> {'4', '22'};  'L16-17' and 'L16-L17' -> {'16', '17'}."""
    out = set()
    for part in spec.split(","):
        m = re.fullmatch(r"\s*L(\d+)(?:\s*-\s*L?(\d+))?('?)\s*", part)
        assert m, f"unreadable tag part {part!r}"
        a, b = int(m.group(1)), int(m.group(2) or m.group(1))
        out |= {f"{i}{m.group(3)}" for i in range(a, b + 1)}
    return out


def tags(module, alg):
    """The lines tagged ``[alg L..]`` in a module's code (or in source text) after its docstring."""
    source = module if isinstance(module, str) else inspect.getsource(module)
    code = source.split('"""', 2)[2]                          # the code after the docstring
    found = set()
    for spec in re.findall(rf"\[{alg} ([^\]]+)\]", code):
        found |= expand(spec)
    return found


def implicit(doc):
    m = re.search(r"Implicit lines: ((?:L\d+(?:-L\d+)?)(?:, L\d+(?:-L\d+)?)*)", doc)
    assert m, "the docstring names no implicit lines"
    return expand(m.group(1))


BOXES = {
    "one_step_q": (one_step_q, "Alg1", lambda: numbered_lines(one_step_q.__doc__)),
    "n_step_q": (n_step_q, "Alg2", lambda: numbered_lines(n_step_q.__doc__)),
    "a3c": (a3c, "Alg3", lambda: numbered_lines(a3c.__doc__)),
    # the Sarsa box is Algorithm 1 with its target line L9 replaced by L9'
    "one_step_sarsa": (one_step_sarsa, "Alg1",
                       lambda: (numbered_lines(one_step_q.__doc__) - {"9"}) | numbered_lines(one_step_sarsa.__doc__)),
}


@pytest.mark.parametrize("name", BOXES)
def test_every_pseudocode_line_is_tagged_or_named_implicit(name):
    module, alg, box = BOXES[name]
    lines = box()
    assert len(lines) >= 20
    doc = module.__doc__ if name != "one_step_sarsa" else one_step_q.__doc__
    tagged, free = tags(module, alg), implicit(doc)
    assert not (lines - tagged - free), f"untagged lines: {sorted(lines - tagged - free)}"
    assert not (tagged - lines), f"tags name lines the box does not have: {sorted(tagged - lines)}"
    assert not (free - lines) and not (free & tagged), "implicit lines must exist and not be tagged"


def test_the_tag_reader_sees_a_missing_line():
    """Guard: the check above must be able to fail."""
    src = inspect.getsource(a3c)
    assert "# [Alg3 L13]" in src and "13" in tags(src, "Alg3")
    assert "13" not in tags(src.replace("# [Alg3 L13]", "#"), "Alg3") and "13" in numbered_lines(a3c.__doc__)


@pytest.mark.parametrize("name", BOXES)
def test_the_worker_loops_read_as_the_boxes(name):
    """No line over 100 columns; the resume state and the report are one line each."""
    module = BOXES[name][0]
    source = inspect.getsource(module)
    assert max(len(line) for line in source.splitlines()) <= 100
    assert source.count("ctx.start(") == 1 and "ctx.resume" not in source
    assert source.count("yield report(") == 1 and "yield {" not in source
