"""genbench's imports only look down its layers (genbench/layers.py) and close no cycle."""

from __future__ import annotations

from pathlib import Path

import pytest

from genbench import layers

PACKAGE = Path(layers.__file__).parent


def describe(edge: layers.Import) -> str:
    where = " (under TYPE_CHECKING)" if edge.type_checking else " (inside a function)" if edge.in_function else ""
    return (
        f"{edge.importer} ({layers.layer_of(edge.importer)}) imports {edge.imported} "
        f"({layers.layer_of(edge.imported)}) at line {edge.line}{where}"
    )


def test_every_module_has_a_layer():
    for name in layers.modules(PACKAGE):
        assert layers.layer_of(name) in layers.LAYER_NAMES


def test_no_import_climbs_a_layer():
    climbing = layers.climbing(layers.import_graph(PACKAGE))
    assert not climbing, "imports that climb to a higher layer (genbench/layers.py lists them):\n" + "\n".join(
        describe(e) for e in climbing
    )


def test_no_import_closes_a_cycle():
    edges = layers.import_graph(PACKAGE)
    cycles = layers.cycles(edges)
    assert not cycles, "import cycles:\n" + "\n".join(describe(e) for e in layers.cycle_edges(edges))


def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / "genbench" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root / "genbench"


def test_the_reader_sees_function_type_checking_and_relative_imports(tmp_path):
    package = write(
        tmp_path,
        {
            "__init__.py": "",
            "errors.py": "def f():\n    from genbench.cli import app\n",  # base -> cli, in a function
            "api/__init__.py": "",
            "api/model.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from ..engine import runner\n",
            "engine/__init__.py": "",
            "engine/runner.py": "from . import trainer\nfrom genbench.api.model import X\n",
            "engine/trainer.py": "import genbench.engine.runner\n",  # closes a cycle with runner
            "cli/__init__.py": "from genbench.engine.runner import Runner\n",
        },
    )
    edges = layers.import_graph(package)
    found = {(e.importer, e.imported, e.type_checking, e.in_function) for e in edges}
    assert ("genbench.errors", "genbench.cli", False, True) in found
    assert ("genbench.api.model", "genbench.engine.runner", True, False) in found
    assert ("genbench.engine.runner", "genbench.engine.trainer", False, False) in found
    assert ("genbench.engine.runner", "genbench.api.model", False, False) in found
    climbing = {(e.importer, e.imported) for e in layers.climbing(edges)}
    assert climbing == {("genbench.errors", "genbench.cli"), ("genbench.api.model", "genbench.engine.runner")}
    # runner <-> trainer, and runner -> api.model -> runner through the TYPE_CHECKING import
    assert layers.cycles(edges) == [["genbench.api.model", "genbench.engine.runner", "genbench.engine.trainer"]]
    assert {(e.importer, e.imported) for e in layers.cycle_edges(edges)} == {
        ("genbench.engine.runner", "genbench.engine.trainer"),
        ("genbench.engine.trainer", "genbench.engine.runner"),
        ("genbench.engine.runner", "genbench.api.model"),
        ("genbench.api.model", "genbench.engine.runner"),
    }


def test_a_module_in_no_layer_is_named():
    with pytest.raises(ValueError, match="genbench_other.x is in no layer"):
        layers.layer_of("genbench_other.x")
    assert layers.layer_of("genbench.suite") == "base"  # the suite file format
    assert layers.layer_of("genbench.suite.plan") == "suite"
