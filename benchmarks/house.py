"""Issue 16's figures for the tree this script sits in: how the house is kept. Prints a short report.

    python benchmarks/house.py [--top 5] [--runs 5] [--list-writes] [--root TREE]

Run it with the tree's own interpreter (its ``.venv``): the start-up time is that of the
``genbench`` that interpreter imports. Everything else is read from the source with ``ast``.

1. The longest functions in ``genbench/`` (the core): name, file, length in lines from ``def``
   to the last line of the body (decorators left out, docstring and comments counted).
2. Places that write to the database, in ``genbench/`` and ``plugins/*/`` (tests left out),
   split into inside ``genbench/store/`` and outside it. A place is one statement or call of:
   - ``S.add(...)``, ``S.add_all(...)``, ``S.merge(...)``, ``S.delete(...)`` where ``S`` is a
     name bound by ``with X.session(...) as S`` / ``with Session(...) as S`` in the same function;
   - a call of SQLAlchemy's ``insert(...)``, ``update(...)`` or ``delete(...)`` construct (a bare
     name imported from ``sqlalchemy``), and raw ``text("INSERT|UPDATE|DELETE|ALTER|CREATE...")``;
   - an assignment to an attribute of a row inside such a ``with`` block (``row.status = ...``,
     ``row.a, row.b = ...``): an ORM row changed under a session is written when it commits.
     Attributes of ``self`` are left out (those are Python objects, not rows).
   Alembic migration scripts (schema changes, genbench/store/migrations/) are not counted.
   It is a heuristic: a write through a helper that is handed a session is counted where the
   helper does it, and a row changed outside any ``with session()`` block is not counted.
3. Noise-drawing helpers: functions whose name says they draw noise (matches ``randn``, ``rand_``,
   ``randint``, ``noise``; case-insensitive) and whose body calls ``torch.randn``/``rand``/
   ``randint``/``randn_like``/``rand_like``/``randint_like``/``normal`` with a ``generator=``
   keyword. Tests are left out. One helper is the target (``genbench.api.random``).
4. ``genbench --help`` start-up: the median wall time of ``--runs`` subprocess runs (after one
   warm-up run that fills the OS file cache and ``__pycache__``).
"""

from __future__ import annotations

import argparse
import ast
import re
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]  # --root replaces it (to measure another checkout)
SESSION_METHODS = {"add", "add_all", "merge", "delete"}
CONSTRUCTS = {"insert", "update", "delete"}
TORCH_DRAWS = {"randn", "rand", "randint", "randn_like", "rand_like", "randint_like", "normal"}
NOISE_NAME = re.compile(r"randn|rand_|randint|noise", re.IGNORECASE)
WRITE_SQL = re.compile(r"^\s*(INSERT|UPDATE|DELETE|ALTER|CREATE|DROP)\b", re.IGNORECASE)


@dataclass
class Place:
    path: Path
    line: int
    what: str


def source_files(*folders: Path) -> list[Path]:
    files = []
    for folder in folders:
        for path in sorted(folder.rglob("*.py")):
            parts = path.relative_to(ROOT).parts
            if "tests" in parts or ".venv" in parts or "build" in parts:
                continue
            files.append(path)
    return files


def functions(tree: ast.AST) -> list[ast.FunctionDef | ast.AsyncFunctionDef]:
    return [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]


def longest_functions(top: int) -> list[tuple[int, str, Path, int]]:
    found = []
    for path in source_files(ROOT / "genbench"):
        for fn in functions(ast.parse(path.read_text(), str(path))):
            found.append(((fn.end_lineno or fn.lineno) - fn.lineno + 1, fn.name, path, fn.lineno))
    return sorted(found, key=lambda f: -f[0])[:top]


def _sqlalchemy_names(tree: ast.AST) -> set[str]:
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("sqlalchemy"):
            names |= {a.asname or a.name for a in node.names}
    return names


def _session_names(fn: ast.AST) -> set[str]:
    names = set()
    for node in ast.walk(fn):
        if isinstance(node, (ast.With, ast.AsyncWith)):
            for item in node.items:
                call = item.context_expr
                if not (isinstance(call, ast.Call) and isinstance(item.optional_vars, ast.Name)):
                    continue
                func = call.func
                name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
                if name in ("session", "Session", "begin"):
                    names.add(item.optional_vars.id)
    return names


def _targets(node: ast.AST) -> list[ast.expr]:
    if isinstance(node, ast.Assign):
        out: list[ast.expr] = []
        for t in node.targets:
            out.extend(t.elts if isinstance(t, ast.Tuple) else [t])
        return out
    if isinstance(node, (ast.AugAssign, ast.AnnAssign)):
        return [node.target]
    return []


def _in_session_block(fn: ast.AST) -> list[ast.stmt]:
    """Statements inside a ``with ... session() as S`` block of ``fn``."""
    stmts: list[ast.stmt] = []
    for node in ast.walk(fn):
        if isinstance(node, (ast.With, ast.AsyncWith)) and _session_names(ast.Module([node], [])):
            for child in node.body:
                stmts.extend(n for n in ast.walk(child) if isinstance(n, ast.stmt))
    return stmts


def write_places(path: Path) -> list[Place]:
    tree = ast.parse(path.read_text(), str(path))
    constructs = _sqlalchemy_names(tree) & CONSTRUCTS
    places: dict[tuple[int, str], Place] = {}

    def add(node: ast.AST, what: str) -> None:
        places.setdefault((node.lineno, what), Place(path, node.lineno, what))

    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        if isinstance(node.func, ast.Name) and node.func.id in constructs:
            add(node, f"{node.func.id}(...)")
        if isinstance(node.func, ast.Name) and node.func.id == "text" and node.args:
            arg = node.args[0]
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str) and WRITE_SQL.match(arg.value):
                add(node, "text(<write SQL>)")
    for fn in [tree, *functions(tree)]:
        sessions = _session_names(fn)
        if not sessions:
            continue
        for node in ast.walk(fn):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in SESSION_METHODS
                and isinstance(node.func.value, ast.Name)
                and node.func.value.id in sessions
            ):
                add(node, f"session.{node.func.attr}(...)")
        for stmt in _in_session_block(fn):
            for target in _targets(stmt):
                if isinstance(target, ast.Attribute) and not (
                    isinstance(target.value, ast.Name) and target.value.id == "self"
                ):
                    add(stmt, "row attribute assignment")
                    break
    return sorted(places.values(), key=lambda p: p.line)


def noise_helpers() -> list[tuple[str, Path, int]]:
    found = []
    for path in source_files(ROOT / "genbench", ROOT / "plugins"):
        for fn in functions(ast.parse(path.read_text(), str(path))):
            if not NOISE_NAME.search(fn.name):
                continue
            for node in ast.walk(fn):
                if (
                    isinstance(node, ast.Call)
                    and isinstance(node.func, ast.Attribute)
                    and node.func.attr in TORCH_DRAWS
                    and isinstance(node.func.value, ast.Name)
                    and node.func.value.id == "torch"
                    and any(k.arg == "generator" for k in node.keywords)
                ):
                    found.append((fn.name, path, fn.lineno))
                    break
    return found


def help_startup(runs: int) -> list[float]:
    script = Path(sys.executable).with_name("genbench")
    cmd = [str(script), "--help"] if script.exists() else [sys.executable, "-m", "genbench", "--help"]
    times = []
    for i in range(runs + 1):
        t0 = time.perf_counter()
        subprocess.run(cmd, cwd=ROOT, capture_output=True, check=True)
        if i:  # the first run warms the caches
            times.append(time.perf_counter() - t0)
    return times


def rel(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--top", type=int, default=5, help="How many of the longest functions to list.")
    parser.add_argument("--runs", type=int, default=5, help="Timed `genbench --help` runs.")
    parser.add_argument("--list-writes", action="store_true", help="List every database write place.")
    parser.add_argument("--root", type=Path, default=None, help="The tree to measure; default: this script's.")
    args = parser.parse_args()
    global ROOT
    if args.root is not None:
        ROOT = args.root.resolve()

    print(f"tree: {ROOT}")
    print(f"longest functions in genbench/ (top {args.top}):")
    for length, name, path, line in longest_functions(args.top):
        print(f"  {length:4d} lines  {name}  {rel(path)}:{line}")

    places = [p for path in source_files(ROOT / "genbench", ROOT / "plugins") for p in write_places(path)]
    store = ROOT / "genbench" / "store"
    inside = [p for p in places if store in p.path.parents]
    outside = [p for p in places if store not in p.path.parents]
    print(f"database write places: {len(places)} ({len(inside)} in genbench/store/, {len(outside)} outside)")
    by_file: dict[str, int] = {}
    for p in outside:
        by_file[rel(p.path)] = by_file.get(rel(p.path), 0) + 1
    for name, n in sorted(by_file.items(), key=lambda kv: -kv[1]):
        print(f"  outside: {n:3d}  {name}")
    if args.list_writes:
        for p in places:
            print(f"    {rel(p.path)}:{p.line}  {p.what}")

    helpers = noise_helpers()
    print(f"noise-drawing helpers (a generator= draw in a function named for noise): {len(helpers)}")
    for name, path, line in helpers:
        print(f"  {name}  {rel(path)}:{line}")

    if args.runs < 1:
        return
    times = help_startup(args.runs)
    shown = ", ".join(f"{t:.2f}" for t in times)
    print(f"`genbench --help` start-up: median {statistics.median(times):.2f} s over {len(times)} runs ({shown})")


if __name__ == "__main__":
    main()
