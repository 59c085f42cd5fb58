"""The package's import structure: the scenario schema stays light, and no module imports
itself back through others."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "stresslab"


def modules_loaded_by(statement: str) -> set[str]:
    """The modules a fresh interpreter holds after running `statement`."""
    code = f"import json, sys\n{statement}\nprint(json.dumps(sorted(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    return set(json.loads(done.stdout))


@pytest.mark.parametrize("schema", ["stresslab.scenario.spec", "stresslab.scenario.resolve"])
def test_reading_a_scenario_imports_none_of_the_machinery_that_runs_it(schema):
    # Given a fresh interpreter / When it imports the scenario schema
    loaded = modules_loaded_by(f"import {schema}")
    # Then neither the histograms, the transaction factory, nor judging or measuring came along
    assert schema in loaded
    heavy = sorted(
        name for name in loaded
        if name.split(".")[0] in ("hdrh", "hdrhistogram")
        or name == "stresslab.generation.transactions"
        or name.startswith(("stresslab.generation.transactions.", "stresslab.judgement",
                            "stresslab.measurement"))
    )
    assert heavy == []


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _under_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(tree: ast.AST, type_checking: bool) -> list[ast.Import | ast.ImportFrom]:
    """Every import statement, at the top level or inside functions and classes; those that
    only run for the type checker when `type_checking`."""
    found: list[ast.Import | ast.ImportFrom] = []

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if not type_checking and isinstance(child, ast.If) and _under_type_checking(child):
                for other in child.orelse:
                    visit_statement(other)
                continue
            visit_statement(child)

    def visit_statement(node: ast.AST) -> None:
        if isinstance(node, ast.Import | ast.ImportFrom):
            found.append(node)
        visit(node)

    visit(tree)
    return found


def import_graph(package: Path = PACKAGE, type_checking: bool = False) -> dict[str, set[str]]:
    """module -> the stresslab modules it imports (a `from package import name` names the
    submodule when `name` is one)."""
    files = {module_name(path, package.parent): path for path in package.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in files.items():
        is_package = path.name == "__init__.py"
        edges: set[str] = set()
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for node in _imports(tree, type_checking):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                base = node.module or ""
                if node.level:
                    anchor = name.split(".")
                    anchor = anchor if is_package else anchor[:-1]
                    anchor = anchor[: len(anchor) - (node.level - 1)]
                    base = ".".join([*anchor, base] if base else anchor)
                targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in files else base
                           for alias in node.names]
            edges.update(t for t in targets if t in files and t != name)
        graph[name] = edges
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                connect(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
    for node in sorted(graph):
        if node not in index:
            connect(node)
    return found


def test_the_cycle_finder_finds_a_cycle_through_a_function_level_import(tmp_path):
    # Given a package whose a imports b at the top and b imports a inside a function,
    # and c imports a only for the type checker
    package = tmp_path / "stresslab"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from stresslab.b import thing\n")
    (package / "b.py").write_text("def thing():\n    from stresslab import a\n    return a\n")
    (package / "c.py").write_text(
        "from typing import TYPE_CHECKING\nfrom stresslab import b\n"
        "if TYPE_CHECKING:\n    from stresslab.a import x\n")
    # When the graph is built / Then a <-> b is the one cycle
    graph = import_graph(package)
    assert graph["stresslab.c"] == {"stresslab.b"}
    assert cycles(graph) == [["stresslab.a", "stresslab.b"]]
    # and counting the type checker's imports too, c joins no cycle (nothing imports c)
    assert cycles(import_graph(package, type_checking=True)) == [["stresslab.a", "stresslab.b"]]


@pytest.mark.parametrize("type_checking", [False, True], ids=["at-run-time", "for-mypy-too"])
def test_no_module_of_stresslab_imports_itself_back(type_checking):
    # Given every module's imports (top level and in functions; with TYPE_CHECKING ones too,
    # so that no `if TYPE_CHECKING:` import is there only to hide a cycle)
    graph = import_graph(type_checking=type_checking)
    # Then no group of modules imports each other in a circle
    assert len(graph) > 50
    assert cycles(graph) == []
