"""The import graph of quietfix's own packages, read from the source with ``ast`` (nothing is imported).

Why: the layering in CONVENTIONS.md (lower layers never import higher ones, edge_agent imports nothing
server-side, quietfix/ is the composition root) and the rule that a module never imports, at import time, a module
that imports it back (diagnostics/actions.py and service.py once did) are easy to break by one line and show up
only as an ImportError in whichever process happens to import the pair in the unlucky order.

Import-time edges are the imports in a module's body (also under ``if``/``try``), but not those under
``if TYPE_CHECKING:`` nor those inside functions: a deferred import is the accepted way to break a module cycle.
Between packages even deferred imports count, since a package cycle is a layering fault either way.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
NOT_PRODUCT = {"tests"}


@dataclass(frozen=True)
class Graph:
    """Module -> modules it imports: at import time, and all (deferred ones too)."""

    import_time: Mapping[str, frozenset[str]]
    every: Mapping[str, frozenset[str]]


def _module_files() -> dict[str, Path]:
    mods: dict[str, Path] = {}
    for pkg in sorted(p for p in ROOT.iterdir() if (p / "__init__.py").is_file() and p.name not in NOT_PRODUCT):
        for f in pkg.rglob("*.py"):
            parts = f.relative_to(ROOT).with_suffix("").parts
            mods[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = f
    return mods


def _is_type_checking(node: ast.If) -> bool:
    t = node.test
    return (isinstance(t, ast.Name) and t.id == "TYPE_CHECKING") or (
        isinstance(t, ast.Attribute) and t.attr == "TYPE_CHECKING")


def _import_nodes(body: Iterable[ast.stmt], deferred: bool) -> Iterable[ast.Import | ast.ImportFrom]:
    """Import statements of a block; into functions and classes only when ``deferred``."""
    for node in body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        elif isinstance(node, ast.If):
            if not _is_type_checking(node):
                yield from _import_nodes(node.body, deferred)
                yield from _import_nodes(node.orelse, deferred)
        elif isinstance(node, ast.Try):
            for block in (node.body, node.orelse, node.finalbody, *(h.body for h in node.handlers)):
                yield from _import_nodes(block, deferred)
        elif isinstance(node, ast.With | ast.ClassDef):
            yield from _import_nodes(node.body, deferred)
        elif deferred and isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            yield from (n for n in ast.walk(node) if isinstance(n, ast.Import | ast.ImportFrom))


def _targets(node: ast.Import | ast.ImportFrom, module: str, is_package: bool, mods: Mapping[str, Path]) -> set[str]:
    """The product modules an import statement loads (``from pkg import sub`` loads ``pkg.sub``)."""

    def known(name: str) -> str | None:
        while name and name not in mods:
            name = name.rpartition(".")[0]
        return name or None

    if isinstance(node, ast.Import):
        found = {known(a.name) for a in node.names}
    else:
        base = node.module or ""
        if node.level:
            pkg = module if is_package else module.rpartition(".")[0]
            for _ in range(node.level - 1):
                pkg = pkg.rpartition(".")[0]
            base = f"{pkg}.{base}" if base else pkg
        found = {f"{base}.{a.name}" if f"{base}.{a.name}" in mods else known(base) for a in node.names}
    return {m for m in found if m is not None and m != module}


@cache
def import_graph() -> Graph:
    mods = _module_files()
    now: dict[str, frozenset[str]] = {}
    every: dict[str, frozenset[str]] = {}
    for name, path in mods.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        is_package = path.name == "__init__.py"
        for deferred, out in ((False, now), (True, every)):
            out[name] = frozenset(t for n in _import_nodes(tree.body, deferred)
                                  for t in _targets(n, name, is_package, mods))
    return Graph(now, every)


def cycles(graph: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """Strongly connected components with more than one node (Tarjan, iterative), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph.get(root, ()))))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            v, edges = work[-1]
            w = next(edges, None)
            if w is not None:
                if w not in index:
                    index[w] = low[w] = len(index)
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(sorted(graph.get(w, ())))))
                elif w in on_stack:
                    low[v] = min(low[v], index[w])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                comp = []
                while True:
                    x = stack.pop()
                    on_stack.discard(x)
                    comp.append(x)
                    if x == v:
                        break
                if len(comp) > 1:
                    found.append(sorted(comp))
    return found


def package_graph(graph: Mapping[str, Iterable[str]]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for module, deps in graph.items():
        src = module.split(".")[0]
        out.setdefault(src, set()).update(d.split(".")[0] for d in deps if d.split(".")[0] != src)
    return out


def test_cycle_finder_finds_cycles_and_only_cycles() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a", "d"}, "d": set(), "e": {"d"}, "f": {"g"}, "g": {"f"}}
    assert cycles(graph) == [["a", "b", "c"], ["f", "g"]]
    assert cycles({"a": {"b"}, "b": {"c"}, "c": set()}) == []


def test_the_scanner_sees_the_edges_it_must() -> None:
    """Not vacuous: known import-time, deferred and relative-free ``from pkg import sub`` edges are found."""
    g = import_graph()
    assert "diagnostics.actions" in g.import_time["diagnostics.service"]
    assert "diagnostics.repository" in g.import_time["diagnostics.actions"]  # from diagnostics import repository
    assert "diagnostics.training" not in g.import_time["diagnostics.service"]  # imported inside a method
    assert "diagnostics.training" in g.every["diagnostics.service"]
    assert len(g.import_time) > 150


def test_no_module_imports_itself_back_at_import_time() -> None:
    assert cycles(import_graph().import_time) == []


def test_diagnose_responses_never_import_the_loop() -> None:
    """actions/repairs see the loop through loop_view.LoopView only (the loop imports them), even deferred."""
    every = import_graph().every
    for module in ("diagnostics.actions", "diagnostics.repairs", "diagnostics.loop_view"):
        assert "diagnostics.service" not in every[module], module


def test_packages_form_layers_without_cycles() -> None:
    packages = package_graph(import_graph().every)
    assert cycles(packages) == [], packages


def test_lowest_and_edge_packages_import_nothing_above_them() -> None:
    packages = package_graph(import_graph().every)
    assert packages["edge_agent"] == set()  # runs on the device: nothing server-side
    assert packages["i18n"] == set()
    assert packages["core"] <= {"i18n"}
    importers = {src for src, deps in packages.items() if "quietfix" in deps}
    assert importers <= {"bench"}  # the composition root is imported by tools only
