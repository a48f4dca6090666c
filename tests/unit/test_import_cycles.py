"""The package's modules import one another in one direction only.

Parses every module under src/minitorrent (module-level, function-level and
``if TYPE_CHECKING:`` imports: a cycle needed only for annotations still ties
two modules into one) and fails on any cycle in the resulting graph.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = "minitorrent"
ROOT = Path(__file__).resolve().parents[2] / "src" / PACKAGE

# Cycles tolerated for now, each the set of modules of one strongly connected
# component, with a comment saying why. Remove an entry once its cycle is gone.
KNOWN_CYCLES: list[frozenset[str]] = []


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _resolve(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    if node.level == 0:
        return node.module or ""
    base = module.split(".")
    if not is_package:
        base = base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def _imports(module: str, is_package: bool, tree: ast.AST, known: set[str]) -> set[str]:
    found: set[str] = set()

    def target(name: str) -> None:
        # "from a.b import c" may import the module a.b.c or the name c of a.b.
        while name and name not in known:
            name = name.rpartition(".")[0]
        if name and name != module:
            found.add(name)

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith(PACKAGE):
                    target(alias.name)
        elif isinstance(node, ast.ImportFrom):
            base = _resolve(module, is_package, node)
            if base.startswith(PACKAGE):
                for alias in node.names:
                    target(f"{base}.{alias.name}")
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def import_graph() -> dict[str, set[str]]:
    files = {_module_name(p): p for p in ROOT.rglob("*.py")}
    known = set(files)
    return {
        name: _imports(name, path.name == "__init__.py", ast.parse(path.read_text()), known)
        for name, path in files.items()
    }


def cycles(graph: dict[str, set[str]]) -> list[frozenset[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[frozenset[str]] = []

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                connect(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = set()
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.add(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(frozenset(component))

    for node in sorted(graph):
        if node not in index:
            connect(node)
    return found


def test_the_graph_sees_the_peer_core() -> None:
    graph = import_graph()
    assert "minitorrent.peer.connection" in graph["minitorrent.peer.node"]


def test_no_import_cycles() -> None:
    found = [c for c in cycles(import_graph()) if c not in KNOWN_CYCLES]
    assert not found, "import cycles: " + "; ".join(" <-> ".join(sorted(c)) for c in found)


def test_the_known_cycles_still_exist() -> None:
    """A cycle broken must leave KNOWN_CYCLES too, so that it cannot come back."""
    assert not set(KNOWN_CYCLES) - set(cycles(import_graph()))


def test_a_cycle_is_found() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [frozenset("abc")]
