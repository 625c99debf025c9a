"""The package's layers: no import cycle among its modules and no layer reaching up.

Imports are read from the source (``ast``), those inside functions included: a deferred import
still ties the two modules together, it only hides the cycle from the interpreter.
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"

# Lowest first; a module may import its own layer and the ones below, never one above.
LAYERS: list[tuple[str, ...]] = [
    ("unlearn", "errors", "registry", "runs", "envfile", "dist", "resolvers", "settings", "progress",
     "stage_logger", "csv_logger", "cuda_probe"),
    ("data",),
    ("models", "checkpoints"),
    ("stage_table",),
    ("eval", "condense", "taskvec", "stages"),
    ("context",),
    ("method", "unlearning", "correction"),
    ("methods",),
    ("catalogue", "app"),
]


def modules() -> dict[str, Path]:
    out = {}
    for path in (SRC / "unlearn").rglob("*.py"):
        parts = path.relative_to(SRC).with_suffix("").parts
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


def imports() -> dict[str, set[str]]:
    mods = modules()

    def resolve(name: str) -> str | None:
        while name and name not in mods:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {m: set() for m in mods}
    for m, path in mods.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets = [resolve(a.name) for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets = [resolve(f"{node.module}.{a.name}") for a in node.names]
            else:
                continue
            graph[m] |= {t for t in targets if t and t != m}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def layer(module: str) -> int:
    top = module.split(".")[1] if "." in module else module
    for i, names in enumerate(LAYERS):
        if top in names:
            return i
    raise AssertionError(f"{module}: add its package to a layer in tests/test_layers.py")


def test_no_import_cycle_counting_imports_inside_functions():
    assert cycles(imports()) == []


def test_every_module_has_a_layer_and_no_layer_imports_a_higher_one():
    graph = imports()
    upward = sorted(f"{m} -> {t}" for m, ts in graph.items() for t in ts if layer(t) > layer(m))
    assert upward == []


def test_the_checker_sees_a_cycle_and_an_upward_import():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert layer("unlearn.data.sources") < layer("unlearn.models.resnet") < layer("unlearn.app.build")
