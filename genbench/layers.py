"""genbench's layers, bottom to top, and a reader of the imports between its modules.

A module imports only from its own layer or below; no import closes a cycle.
``tests/test_layers.py`` keeps it so and ``benchmarks/layers.py`` prints the figures. Every
import counts: top-level, inside a function, and under ``if TYPE_CHECKING:``. A module's layer
is that of the longest prefix of its dotted name listed in :data:`LAYERS` (an entry ending in
``.__init__`` names a package's own module only, not the modules under it).

Nothing here imports anything outside the standard library.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

# Bottom to top. Each layer: the modules (and packages: every module under them) it holds.
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "base",  # errors, specs, config: what every layer may use; nothing here imports torch
        (
            "genbench",  # the package itself: __version__ and the hookimpl marker
            "genbench.layers",
            "genbench.errors",
            "genbench.specs",
            "genbench.config",
            "genbench.validate",  # safe names, confined paths, URL masking, YAML with limits
            "genbench.columns",  # listings that fit the terminal (rich only): the CLI's and the suite's
            "genbench.registry",
            "genbench.benchmarks",  # benchmark declarations (YAML -> dataclass)
            "genbench.suite.__init__",  # suite declarations (YAML -> dataclass); the rest of suite/ is higher
        ),
    ),
    (
        "api",  # the contracts plugins implement (models, datasets, metrics, their contexts, the hooks)
        # and the plugin manager that collects what they register: engine and cli both reach it
        ("genbench.api", "genbench.hookspecs", "genbench.plugins"),
    ),
    ("store", ("genbench.store",)),  # schema, migrations, every query and every write
    ("data", ("genbench.data",)),  # built-in datasets
    ("metrics", ("genbench.metrics",)),  # built-in metrics (implementations)
    ("engine", ("genbench.engine",)),  # build, train, evaluate, run phases; distribution (torchrun)
    ("suite", ("genbench.suite",)),  # suite plans and executors
    ("report", ("genbench.report",)),  # leaderboards, plots, the HTML report, run artifacts
    # the typer app; testing.py (the contract tests plugins inherit) drives the whole stack, the CLI too
    ("cli", ("genbench.cli", "genbench.__main__", "genbench.testing")),
)
LAYER_NAMES = tuple(name for name, _ in LAYERS)


def layer_of(module: str) -> str:
    """The layer of a dotted module name (``genbench.engine.runner`` -> ``engine``)."""
    best, best_len = "", -1
    for name, prefixes in LAYERS:
        for prefix in prefixes:
            if prefix.endswith(".__init__"):
                matches = module == prefix.removesuffix(".__init__")
            else:
                matches = module == prefix or module.startswith(prefix + ".")
            if matches and len(prefix) > best_len:
                best, best_len = name, len(prefix)
    if not best:
        raise ValueError(f"module {module} is in no layer: add it to genbench.layers.LAYERS")
    return best


def rank_of(module: str) -> int:
    """The layer's height: 0 for the bottom layer."""
    return LAYER_NAMES.index(layer_of(module))


@dataclass(frozen=True)
class Import:
    importer: str  # dotted module name
    imported: str  # dotted module name inside the package
    line: int
    type_checking: bool  # under ``if TYPE_CHECKING:``
    in_function: bool


def module_name(path: Path, package_root: Path) -> str:
    """``<root>/genbench/engine/runner.py`` -> ``genbench.engine.runner`` (``__init__`` -> the package)."""
    parts = list(path.relative_to(package_root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules(package_root: Path) -> dict[str, Path]:
    """Every module of the package under ``package_root`` (the ``genbench/`` folder): name -> file."""
    return {module_name(p, package_root): p for p in sorted(package_root.rglob("*.py"))}


def imports_of(path: Path, name: str, known: set[str]) -> list[Import]:
    """The imports of one module that land on a module in ``known`` (relative imports resolved).

    ``from genbench.x import y`` is an import of ``genbench.x.y`` when that is a module, else of
    ``genbench.x``; ``import genbench.x.y`` is one of ``genbench.x.y``.
    """
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    is_package = path.name == "__init__.py"
    found: list[Import] = []
    seen: set[tuple[str, int]] = set()

    def resolve(target: str) -> str | None:
        while target and target not in known:  # an attribute of a module: the module
            target = target.rpartition(".")[0]
        return target or None

    def visit(node: ast.AST, type_checking: bool, in_function: bool) -> None:
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = name.split(".")
                keep = len(parts) - node.level + (1 if is_package else 0)
                base = ".".join(parts[:keep] + ([base] if base else []))
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base for alias in node.names]
        for target in targets:
            resolved = resolve(target)
            if resolved is not None and resolved != name and (resolved, node.lineno) not in seen:
                seen.add((resolved, node.lineno))  # `from m import a, b`: one import of m
                found.append(Import(name, resolved, node.lineno, type_checking, in_function))
        for child in ast.iter_child_nodes(node):
            child_tc = type_checking
            if isinstance(node, ast.If) and _is_type_checking(node.test) and child in node.body:
                child_tc = True
            child_fn = in_function or isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            visit(child, child_tc, child_fn)

    visit(tree, False, False)
    return found


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def import_graph(package_root: Path) -> list[Import]:
    """Every import between two modules of the package, in file order."""
    mods = modules(package_root)
    known = set(mods)
    edges: list[Import] = []
    for name, path in mods.items():
        edges.extend(imports_of(path, name, known))
    return edges


def _is_parent_package(importer: str, imported: str) -> bool:
    # Importing genbench.x.y runs genbench/x/__init__.py first: a package's own __init__ is not
    # an import edge a module chooses, so ``from genbench.x import y`` inside genbench.x.z is
    # counted as an import of genbench.x.y only (resolved above), and a bare import of a parent
    # package (genbench, genbench.x) from inside it is not a cycle.
    return importer.startswith(imported + ".")


def climbing(edges: list[Import]) -> list[Import]:
    """Imports from a module to one in a higher layer."""
    return [e for e in edges if rank_of(e.imported) > rank_of(e.importer)]


def cycles(edges: list[Import]) -> list[list[str]]:
    """The import cycles: each strongly connected set of two or more modules, sorted (Tarjan)."""
    graph: dict[str, set[str]] = {}
    for e in edges:
        if _is_parent_package(e.importer, e.imported):
            continue
        graph.setdefault(e.importer, set()).add(e.imported)
        graph.setdefault(e.imported, set())
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def connect(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            connect(v)
    return sorted(found)


def cycle_edges(edges: list[Import]) -> list[Import]:
    """The imports that lie inside a cycle (both ends in one strongly connected set)."""
    group_of = {m: i for i, group in enumerate(cycles(edges)) for m in group}
    return [
        e
        for e in edges
        if not _is_parent_package(e.importer, e.imported)
        and e.importer in group_of
        and group_of.get(e.imported) == group_of[e.importer]
    ]
