"""How genbench's modules depend on each other: import cycles, climbing imports, and the module
visits of one ``genbench run``. Prints a short report.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/layers.py [--root TREE] [--no-run] [--list]

The layer list and the import reader are this tree's ``genbench/layers.py`` (the one
``tests/test_layers.py`` uses), applied to ``--root``'s ``genbench/`` (default: this tree), so
two checkouts are measured by the same rules. To measure another commit::

    git worktree add /tmp/base COMMIT
    PYTHONPATH=/tmp/base .venv/bin/python benchmarks/layers.py --root /tmp/base

(``PYTHONPATH`` makes the traced run import that tree's ``genbench``; the script checks it did.)

1. Import cycles: the strongly connected sets of two or more modules, every import counted
   (top-level, inside functions, under ``TYPE_CHECKING``; relative ones resolved).
2. Climbing imports: import statements from a module to one in a higher layer.
3. One ``genbench run`` (default: ``vae --dataset digits --budget smoke --device cpu --threads 1``,
   in a temporary results folder; ``--run-args`` replaces it), traced in this process with
   ``sys.setprofile``. Only Python functions defined in ``genbench/`` count; a call's caller is
   the nearest ``genbench/`` frame below it (so a hook called through pluggy, or a callback
   called by torch, is a call from the genbench module that started it); a module's body run by
   an import (``importlib`` included: plugin modules, ``module:attr`` targets) is not a call. Printed:
   - modules visited: distinct ``genbench`` modules whose code ran;
   - module visits: calls from one genbench module into another (each one a visit), and the
     distinct (caller, callee) pairs among them;
   - returns to a module already left: visits into a module that ran before and is not on the
     call stack any more (control came back to it from elsewhere), and their distinct pairs;
   - climbs: visits from a module into one of a higher layer (a lower layer calling up: a
     callback handed down, a hook implementation in a higher layer, or an upward import at
     work), and their distinct pairs, listed with ``--list``;
   - with ``--focus TEXT``: every (caller, callee) pair where either module's name holds TEXT
     (``--focus distribut``: who calls the distribution code in a one-process run).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shlex
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from types import FrameType, ModuleType
from typing import Any

HERE = Path(__file__).resolve().parents[1]
DEFAULT_RUN = "run vae --dataset digits --budget smoke --device cpu --threads 1"


def load_layers() -> ModuleType:
    """This tree's genbench/layers.py, loaded by path (so it measures any other tree)."""
    spec = importlib.util.spec_from_file_location("_genbench_layers", HERE / "genbench" / "layers.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def static_report(layers: ModuleType, package: Path, show: bool) -> None:
    edges = layers.import_graph(package)
    cycles = layers.cycles(edges)
    climbing = layers.climbing(edges)
    print(f"modules: {len(layers.modules(package))}, imports between them: {len(edges)}")
    print(f"import cycles: {len(cycles)} ({', '.join(f'{len(c)} modules' for c in cycles) or 'none'})")
    for cycle in cycles:
        print("  " + " ".join(m.removeprefix("genbench.") for m in cycle))
    print(f"climbing imports: {len(climbing)}")
    for e in climbing if show or len(climbing) <= 12 else []:
        where = " (TYPE_CHECKING)" if e.type_checking else " (in a function)" if e.in_function else ""
        print(f"  {e.importer}:{e.line} -> {e.imported}  {layers.layer_of(e.importer)} -> "
              f"{layers.layer_of(e.imported)}{where}")  # fmt: skip


class Tracer:
    """Counts the calls between genbench modules while it is installed with sys.setprofile."""

    def __init__(self, layers: ModuleType, package: Path) -> None:
        self.layers = layers
        self.prefix = str(package) + os.sep
        self.package = package
        self.names: dict[str, str | None] = {}  # filename -> module name (None: not genbench)
        self.first_seen: dict[str, int] = {}
        self.visits: Counter[tuple[str, str]] = Counter()
        self.returns: Counter[tuple[str, str]] = Counter()

    def module(self, frame: FrameType) -> str | None:
        filename = frame.f_code.co_filename
        if filename not in self.names:
            name = None
            if filename.startswith(self.prefix) and filename.endswith(".py"):
                name = self.layers.module_name(Path(filename), self.package)
            self.names[filename] = name
        return self.names[filename]

    def __call__(self, frame: FrameType, event: str, arg: Any) -> None:
        if event != "call" or frame.f_code.co_name == "<module>":  # a module's body runs on import: not a call
            return
        callee = self.module(frame)
        if callee is None:
            return
        seen_before = callee in self.first_seen
        self.first_seen.setdefault(callee, len(self.first_seen))
        below = frame.f_back
        on_stack = set()
        caller = None
        while below is not None:
            name = self.module(below)
            if name is not None:
                if caller is None:
                    caller = name
                on_stack.add(name)
            below = below.f_back
        if caller is None or caller == callee:
            return
        self.visits[(caller, callee)] += 1
        if seen_before and callee not in on_stack:
            self.returns[(caller, callee)] += 1


def traced_run(layers: ModuleType, package: Path, run_args: str, show: bool, focus: str | None) -> None:
    import genbench

    loaded = Path(genbench.__file__).resolve().parent
    if loaded != package.resolve():
        sys.exit(f"this interpreter imports genbench from {loaded}, not {package}: set PYTHONPATH to the tree")
    from genbench.cli import main

    tracer = Tracer(layers, package)
    with tempfile.TemporaryDirectory() as results:
        argv = ["genbench", *shlex.split(run_args), "--results-dir", results]
        sys.argv = argv
        print(f"traced: {' '.join(argv[:-2])} (results in a temporary folder)", flush=True)
        t0 = time.perf_counter()
        sys.setprofile(tracer)
        try:
            main()
        except SystemExit as exc:
            if exc.code not in (0, None):
                sys.setprofile(None)
                sys.exit(f"the traced run failed with exit code {exc.code}")
        finally:
            sys.setprofile(None)
        seconds = time.perf_counter() - t0
    rank = layers.rank_of
    climbs = Counter({pair: n for pair, n in tracer.visits.items() if rank(pair[1]) > rank(pair[0])})
    print(f"  traced for {seconds:.0f} s")
    print(f"  modules visited: {len(tracer.first_seen)}")
    print(f"  module visits: {sum(tracer.visits.values()):,} calls, {len(tracer.visits)} distinct (caller, callee)")
    print(f"  returns to a module already left: {sum(tracer.returns.values()):,} calls, "
          f"{len(tracer.returns)} distinct")  # fmt: skip
    print(f"  climbs to a higher layer: {sum(climbs.values()):,} calls, {len(climbs)} distinct (caller, callee)")
    for (caller, callee), n in sorted(climbs.items(), key=lambda kv: (-kv[1], kv[0])) if show else []:
        print(f"    {n:>8,}  {caller} ({layers.layer_of(caller)}) -> {callee} ({layers.layer_of(callee)})")
    if focus:
        pairs = {pair: n for pair, n in tracer.visits.items() if focus in pair[0] or focus in pair[1]}
        print(f"  calls to or from modules named *{focus}*: {sum(pairs.values()):,}, {len(pairs)} distinct")
        for (caller, callee), n in sorted(pairs.items(), key=lambda kv: (-kv[1], kv[0])):
            print(f"    {n:>8,}  {caller} -> {callee}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=HERE, help="the checkout to measure (default: this one)")
    parser.add_argument("--no-run", action="store_true", help="only the imports: no traced run")
    parser.add_argument("--run-args", default=DEFAULT_RUN, help=f"the traced command (default: {DEFAULT_RUN})")
    parser.add_argument("--list", action="store_true", help="list every climbing import and climbing call")
    parser.add_argument("--focus", help="list the calls to and from modules whose name holds this text")
    args = parser.parse_args()
    layers = load_layers()
    package = args.root.resolve() / "genbench"
    print(f"tree: {args.root.resolve()}; layers (bottom to top): {', '.join(layers.LAYER_NAMES)}")
    static_report(layers, package, args.list)
    if not args.no_run:
        traced_run(layers, package, args.run_args, args.list, args.focus)


if __name__ == "__main__":
    main()
