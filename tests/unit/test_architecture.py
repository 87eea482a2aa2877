"""The layering rules (README, "Architecture"), checked statically on the source (no
imports run).

- No import cycle among the modules of ``src/driftline`` (imports inside functions count;
  imports under ``if TYPE_CHECKING:`` do not, they never run).
- The core (everything but ``cli/``) never imports Prefect, the flows or the CLI.
- Only the edges open the composition root: ``driftline.context`` is imported by the CLI,
  the SDK and the package's lazy exports, never by the core.
- Nothing in the loop imports ``devtools`` (the simulator and the local receiver).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"
PACKAGE = SRC / "driftline"
FLOWS = Path(__file__).resolve().parents[2] / "flows"
EDGES = ("driftline.cli", "driftline.sdk", "driftline.context", "driftline")


def _module_name(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {
        _module_name(p): p
        for p in PACKAGE.rglob("*.py")
        if "migrations" not in p.parts and p.name != "flows"
    }


def _type_checking_block(node: ast.AST) -> bool:
    if not isinstance(node, ast.If):
        return False
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST) -> Iterator[tuple[str, list[str]]]:
    """(module, imported names) for each import that runs (TYPE_CHECKING blocks skipped)."""
    stack: list[ast.AST] = [tree]
    while stack:
        node = stack.pop()
        for child in ast.iter_child_nodes(node):
            if _type_checking_block(child):
                stack.extend(getattr(child, "orelse", []))
                continue
            if isinstance(child, ast.Import):
                for alias in child.names:
                    yield alias.name, []
            elif isinstance(child, ast.ImportFrom):
                assert child.level == 0, "driftline uses absolute imports only"
                if child.module:
                    yield child.module, [a.name for a in child.names]
            stack.append(child)


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        for module, names in _imports(ast.parse(path.read_text(), str(path))):
            targets = [f"{module}.{n}" for n in names if f"{module}.{n}" in modules]
            if (not names or len(targets) < len(names)) and module in modules:
                targets.append(module)  # `import driftline.x`, or names defined in it
            graph[name].update(t for t in targets if t != name)
    return graph


def _raw_imports() -> dict[str, set[str]]:
    """Every module each driftline module imports (any package), TYPE_CHECKING skipped."""
    out: dict[str, set[str]] = {}
    for name, path in _modules().items():
        found: set[str] = set()
        for module, names in _imports(ast.parse(path.read_text(), str(path))):
            found.add(module)
            found.update(f"{module}.{n}" for n in names)
        out[name] = found
    return out


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def _core(name: str) -> bool:
    return not name.startswith("driftline.cli")


def test_the_checker_sees_a_cycle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_the_checker_sees_plain_imports_of_driftline_modules(tmp_path: Path) -> None:
    tree = ast.parse("import driftline.data.store\n")
    assert [m for m, _ in _imports(tree)] == ["driftline.data.store"]


def test_the_checker_skips_type_checking_imports() -> None:
    tree = ast.parse(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from driftline.context import Context\n"
        "def f():\n    from driftline.data import store\n"
    )
    assert [m for m, _ in _imports(tree)] == ["typing", "driftline.data"]


def test_no_import_cycle_inside_driftline() -> None:
    cycles = _cycles(_graph())
    assert not cycles, "import cycles (imports inside functions count): " + "; ".join(
        " <-> ".join(c) for c in cycles
    )


@pytest.mark.parametrize("forbidden", ["prefect", "driftline.flows", "driftline.cli"])
def test_the_core_never_imports(forbidden: str) -> None:
    offenders = sorted(
        name
        for name, imported in _raw_imports().items()
        if _core(name) and any(m == forbidden or m.startswith(forbidden + ".") for m in imported)
    )
    assert not offenders, f"core modules importing {forbidden}: {offenders}"


def test_only_the_edges_open_the_composition_root() -> None:
    offenders = sorted(
        name
        for name, imported in _raw_imports().items()
        if not name.startswith(EDGES[0])
        and name not in EDGES[1:]
        and "driftline.context" in imported
    )
    assert not offenders, f"core modules importing driftline.context: {offenders}"


def test_nothing_in_the_loop_imports_devtools() -> None:
    offenders = sorted(
        name
        for name, imported in _raw_imports().items()
        if _core(name)
        and not name.startswith("driftline.devtools")
        and any(m.startswith("driftline.devtools") for m in imported)
    )
    assert not offenders, f"modules of the loop importing devtools: {offenders}"


def test_flows_import_no_core_internals_they_do_not_need() -> None:
    """Flows read like a table of contents: they import the core, never the CLI."""
    for path in FLOWS.glob("*.py"):
        imported = {m for m, _ in _imports(ast.parse(path.read_text()))}
        assert not any(m.startswith("driftline.cli") for m in imported), path.name


def test_every_package_is_listed_in_pyproject() -> None:
    import tomllib

    listed = set(
        tomllib.loads((SRC.parent / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    )
    packages = {_module_name(p) for p in PACKAGE.rglob("__init__.py")} | {"driftline.flows"}
    assert packages == listed, (
        f"missing from pyproject: {sorted(packages - listed)}; "
        f"listed but absent: {sorted(listed - packages)}"
    )
