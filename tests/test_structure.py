"""The house has no circles: no refasync module imports (at the top or inside a
function) a module that imports it back, directly or through others."""
import ast
import os

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def import_graph():
    """module name -> the refasync modules it imports anywhere in its source."""
    paths = {}
    for dirpath, _, files in os.walk(os.path.join(ROOT, "refasync")):
        for f in files:
            if f.endswith(".py"):
                rel = os.path.relpath(os.path.join(dirpath, f), ROOT)[:-3].replace(os.sep, ".")
                paths[rel[:-len(".__init__")] if rel.endswith(".__init__") else rel] = os.path.join(dirpath, f)
    graph = {}
    for name, path in paths.items():
        package = name if path.endswith("__init__.py") else name.rsplit(".", 1)[0]
        deps = set()
        for node in ast.walk(ast.parse(open(path).read())):
            if isinstance(node, ast.ImportFrom):
                base = package.split(".")[:len(package.split(".")) - (node.level - 1)] if node.level else []
                target = ".".join(base + ([node.module] if node.module else []))
                for alias in node.names:
                    full = f"{target}.{alias.name}"
                    deps.add(full if full in paths else target)
            elif isinstance(node, ast.Import):
                deps |= {alias.name for alias in node.names}
        graph[name] = {d for d in deps if d in paths and d != name}
    return graph


def cycles(graph):
    """Every module that can reach itself, with one such path."""
    found = {}
    for start in graph:
        stack = [(d, [start, d]) for d in graph[start]]
        seen = set()
        while stack:
            node, path = stack.pop()
            if node == start:
                found[start] = path
                break
            if node in seen:
                continue
            seen.add(node)
            stack += [(d, path + [d]) for d in graph[node]]
    return found


def test_no_module_imports_one_that_imports_it_back():
    graph = import_graph()
    assert {"refasync.train", "refasync.evaluate", "refasync.config", "refasync.envs"} <= set(graph)
    assert "refasync.errors" in graph["refasync.envs"] and "refasync.cli" in graph["refasync.evaluate"]
    found = cycles(graph)
    assert not found, "import circles: " + "; ".join(" -> ".join(p) for p in found.values())


def test_the_cycle_finder_sees_a_circle():
    """Guard: the check above must be able to fail."""
    assert set(cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}})) == {"a", "b", "c"}
