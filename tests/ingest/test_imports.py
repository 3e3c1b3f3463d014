"""The data-entry boundary has no import circle: core types and engines import one way only."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import funnelkit

PACKAGE = Path(funnelkit.__path__[0])
#: The modules of the entry boundary; no import circle may run through them.
BOUNDARY = ("events", "rfm", "journeys", "stages", "aggregate", "ingest")


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, name: str) -> set[str]:
    """Modules ``name`` imports, inside functions too (imports for type checking aside).

    A deferred import inside a method is still a dependency: counting it keeps the layers
    honest (core types may call the entry boundary, which never imports them back).
    """
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            continue
        for inner in ast.walk(node):
            if isinstance(inner, ast.Import):
                found.update(a.name for a in inner.names)
            elif isinstance(inner, ast.ImportFrom):
                base = inner.module or ""
                if inner.level:
                    base = ".".join(package.split(".")[: len(package.split(".")) - inner.level + 1])
                    base = f"{base}.{inner.module}" if inner.module else base
                found.add(base)
                found.update(f"{base}.{a.name}" for a in inner.names)
    return found


def _graph() -> dict[str, set[str]]:
    modules = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        edges = {m for m in _imports(path, name) if m in modules}
        # importing a.b.c from outside a.b runs a.b's __init__ first (a package's own modules
        # are imported while that __init__ runs: no edge back to it)
        outer = {".".join(m.split(".")[:i]) for m in edges for i in range(2, m.count(".") + 1)}
        graph[name] = (edges | {p for p in outer if not name.startswith(p + ".")}) - {name}
    return graph


def _in_boundary(name: str) -> bool:
    return name.split(".")[1] in BOUNDARY if name.count(".") else False


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every cycle found by a depth-first search over the boundary modules."""
    nodes = {n for n in graph if _in_boundary(n)}
    found: list[list[str]] = []
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node] & nodes):
            if state.get(nxt) == 1:
                found.append([*stack[stack.index(nxt) :], nxt])
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(nodes):
        if node not in state:
            visit(node)
    return found


def test_the_entry_modules_import_without_a_circle() -> None:
    graph = _graph()
    assert "funnelkit.ingest.summaries" in graph and "funnelkit.ingest.lazy.rfm_lazy" in graph
    assert _cycles(graph) == []


def test_the_circle_finder_finds_a_circle() -> None:
    graph = {
        "funnelkit.events": {"funnelkit.ingest"},
        "funnelkit.ingest": {"funnelkit.events"},
        "funnelkit.units": set(),
    }
    assert _cycles(graph) == [["funnelkit.events", "funnelkit.ingest", "funnelkit.events"]]


def test_engines_never_import_the_core_types() -> None:
    graph = _graph()
    core = {"funnelkit.events", "funnelkit.rfm", "funnelkit.journeys", "funnelkit.stages"}
    engines = [n for n in graph if n.startswith(("funnelkit.aggregate", "funnelkit.ingest"))]
    # aggregate/__init__ names two core methods under their former names; nothing else does.
    uses = {n: graph[n] & core for n in engines if graph[n] & core}
    assert uses == {"funnelkit.aggregate": {"funnelkit.rfm", "funnelkit.stages"}}


@pytest.mark.parametrize(
    "module",
    [
        "funnelkit.events",
        "funnelkit.rfm",
        "funnelkit.journeys",
        "funnelkit.stages",
        "funnelkit.aggregate",
        "funnelkit.ingest.lazy.rfm_lazy",
        "funnelkit.ingest.lazy.journeys_lazy",
        "funnelkit.ingest",
        "funnelkit.ingest.summaries",
        "funnelkit.ingest.numpy_engine",
    ],
)
def test_each_entry_module_imports_first_in_a_fresh_interpreter(module: str) -> None:
    done = subprocess.run(
        [sys.executable, "-c", f"import {module}"],
        capture_output=True,
        text=True,
        check=False,
        cwd=PACKAGE.parent,
    )
    assert done.returncode == 0, done.stderr
