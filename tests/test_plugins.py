"""The plugin manager: built-ins through the same hooks, broken plugins, clashes, docs."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

from genbench import hookspecs
from genbench.errors import GenbenchError
from genbench.plugins import DEFAULT_PLUGINS, Plugins


def test_builtins_register_through_the_hooks():
    plugins = Plugins.load(use_entry_points=False)
    assert {i.name for i in plugins.info} == set(DEFAULT_PLUGINS)
    assert {"digits", "mnist", "fashion-mnist", "cifar10"} <= set(plugins.datasets.names())
    assert {"digits", "mnist", "fashion-mnist", "cifar10"} <= set(plugins.benchmarks)
    for bench in plugins.benchmarks.values():  # every benchmark names registered metrics and datasets
        assert bench.dataset in plugins.datasets
        for metric in (*bench.metrics, *bench.optional_metrics):
            assert metric in plugins.metrics, f"{bench.name} names unknown metric {metric}"


def test_broken_plugin_is_reported_and_the_rest_works(monkeypatch):
    monkeypatch.setenv("GENBENCH_PLUGINS", "genbench_broken,genbench_toy")
    plugins = Plugins.load()
    broken = {i.name: i.error for i in plugins.info}
    assert "No module named 'genbench_toy_missing_dependency'" in broken["genbench_broken"]
    assert broken["genbench_toy"] is None
    assert "toy-pixel" in plugins.models


def test_two_plugins_with_one_name_clash_on_that_name_only(monkeypatch):
    monkeypatch.setenv("GENBENCH_PLUGINS", "genbench_toy,genbench_clash")
    plugins = Plugins.load()  # start-up goes on: only the clashing name is unusable
    with pytest.raises(
        GenbenchError, match="'toy-pixel' is registered by two plugins, 'genbench_toy' and 'genbench_clash'"
    ):
        plugins.models.get("toy-pixel")
    assert "toy-pixel" not in plugins.models and "toy-stripes" in plugins.datasets
    clashes = {i.name: i.clashes for i in plugins.info}
    assert clashes["genbench_toy"] == clashes["genbench_clash"] == ["model toy-pixel"]


def test_misspelt_hook_marks_that_plugin_broken_and_the_rest_works(monkeypatch):
    monkeypatch.setenv("GENBENCH_PLUGINS", "genbench_typo,genbench_toy")
    plugins = Plugins.load()
    errors = {i.name: i.error for i in plugins.info}
    expected = "unknown hook 'genbench_register_model' (did you mean 'genbench_register_models'?)"
    assert errors["genbench_typo"] == expected
    assert errors["genbench_toy"] is None and "toy-pixel" in plugins.models


def test_plugin_calling_sys_exit_on_import_is_broken_not_fatal(monkeypatch):
    monkeypatch.setenv("GENBENCH_PLUGINS", "genbench_exits,genbench_toy")
    plugins = Plugins.load()
    errors = {i.name: i.error for i in plugins.info}
    assert errors["genbench_exits"] == "import failed: SystemExit: this plugin refuses to load"
    assert "toy-pixel" in plugins.models


def test_genbench_plugins_naming_a_builtin_keeps_it(monkeypatch):
    monkeypatch.setenv("GENBENCH_PLUGINS", "genbench.data.builtin, genbench_toy")
    plugins = Plugins.load()
    assert {"digits", "mnist"} <= set(plugins.datasets.names())
    errors = {i.name: i.error for i in plugins.info}
    assert errors["genbench.data.builtin"] is None and errors["genbench_toy"] is None
    assert [i.builtin for i in plugins.info if i.name == "genbench.data.builtin"] == [True]


def test_cache_pointing_at_a_file_is_one_line(tmp_path, monkeypatch):
    from genbench.data import cache_root

    (tmp_path / "f").write_text("x")
    for value in (tmp_path / "f", tmp_path / "f" / "sub"):
        monkeypatch.setenv("GENBENCH_CACHE", str(value))
        with pytest.raises(GenbenchError, match="is a file; point GENBENCH_CACHE at a folder"):
            cache_root()


def test_unknown_names_suggest_the_closest(toy_plugins):
    with pytest.raises(GenbenchError, match="did you mean 'toy'"):
        toy_plugins.resolve_model("tyo", None)
    assert toy_plugins.resolve_model("toy", None).name == "toy-pixel"


HOOKS = [name for name, fn in inspect.getmembers(hookspecs, inspect.isfunction) if name.startswith("genbench_")]


def test_every_hook_is_documented_in_contributing():
    text = (Path(__file__).parents[1] / "CONTRIBUTING.md").read_text()
    for hook in HOOKS:
        assert re.search(rf"###\s+`?{hook}", text), f"{hook} has no section in CONTRIBUTING.md"


def test_every_hook_is_exercised_by_a_test():
    sources = "".join(p.read_text() for p in Path(__file__).parent.rglob("*.py") if p.name != "test_plugins.py")
    for hook in HOOKS:
        assert hook in sources, f"no test or fixture plugin uses {hook}"
