"""The plugin manager: genbench's built-in plugins plus every ``genbench`` entry point.

A plugin that fails to import (even through ``sys.exit``), implements a hook that does not
exist (a misspelt name), or whose registration hook raises, is recorded as broken with the
reason and the rest keep working. A name two plugins register is a clash: using it is an
error naming both distributions, every other name keeps working.
"""

from __future__ import annotations

import functools
import importlib
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path
from types import ModuleType

import pluggy

from genbench import (
    hookimpl,  # noqa: F401  (the marker lives in genbench; kept here for old imports)
    hookspecs,
)
from genbench.benchmarks import Benchmark, load_benchmark
from genbench.errors import GenbenchError, did_you_mean
from genbench.registry import Registry
from genbench.specs import DatasetSpec, MetricSpec, ModelSpec
from genbench.suite import Suite, is_suite_file, load_suite  # the suite file format only (genbench/layers.py)

# Core features are plugins too (datasette's DEFAULT_PLUGINS): registered before entry points.
DEFAULT_PLUGINS = (
    "genbench.data.builtin",
    "genbench.metrics.builtin",
    "genbench.benchmarks.builtin",
    "genbench.cli.views",  # the read-only views: runs, show, leaderboard, plugins, models...
    "genbench.cli.portable",  # results and samples in and out: export, import, samples, score
    "genbench.suite.builtin",  # the built-in suites and the suite commands
    "genbench.report.builtin",  # the sample grid and loss curve of every run, on the lifecycle hooks
    "genbench.report.commands",  # genbench report
    "genbench.engine.guard",  # warns on a run whose samples are no better than noise or labels do not steer
)
ENTRY_POINT_GROUP = "genbench"
LIFECYCLE_HOOKS = ("genbench_run_started", "genbench_losses_logged", "genbench_evaluated", "genbench_run_finished")


@dataclass
class PluginInfo:
    name: str
    version: str
    builtin: bool
    registers: dict[str, list[str]] = field(default_factory=dict)
    error: str | None = None  # set when the plugin is broken
    distribution: str = ""  # the installed distribution (what `pip uninstall` takes); "" when none
    clashes: list[str] = field(default_factory=list)  # names it registers that another plugin also does

    @property
    def label(self) -> str:
        """How a user knows this plugin: its distribution name, else its module or entry-point name."""
        return self.distribution or self.name

    @property
    def origin(self) -> str:
        """Distribution and version, for messages about a fault inside the plugin."""
        return f"{self.label} {self.version}"


@dataclass
class Plugins:
    """Everything the installed plugins register."""

    manager: pluggy.PluginManager
    models: Registry[ModelSpec]
    datasets: Registry[DatasetSpec]
    metrics: Registry[MetricSpec]
    benchmarks: dict[str, Benchmark]
    info: list[PluginInfo]
    benchmark_clashes: dict[str, str] = field(default_factory=dict)  # name -> why it cannot be used
    suites: dict[str, Suite] = field(default_factory=dict)  # *.suite.yaml files from the benchmark hook

    @classmethod
    def load(cls, *, extra: list[ModuleType] | None = None, use_entry_points: bool = True) -> Plugins:
        """Register every plugin, collect what their hooks register and load the benchmark and suite files."""
        pm = pluggy.PluginManager("genbench")
        pm.add_hookspecs(hookspecs)
        infos: dict[str, PluginInfo] = {}
        _register_builtins(pm, infos)
        if use_entry_points:
            _register_entry_points(pm, infos)
        _register_env_plugins(pm, infos)
        for module in extra or []:
            pm.register(module, name=module.__name__)
            infos[module.__name__] = PluginInfo(module.__name__, "test", builtin=False)
        _drop_unknown_hooks(pm, infos)

        def label(plugin: str) -> str:
            return infos[plugin].label if plugin in infos else plugin

        models: Registry[ModelSpec] = Registry("model", label)
        datasets: Registry[DatasetSpec] = Registry("dataset", label)
        metrics: Registry[MetricSpec] = Registry("metric", label)
        benchmark_paths = _collect_registrations(pm, infos, models, datasets, metrics)
        _list_lifecycle_hooks(pm, infos)
        benchmarks, bench_clashes, suites = _load_declarations(benchmark_paths, infos, label)
        for registry in (models, datasets, metrics):
            for name, owners in registry.clashes.items():
                for owner in owners:
                    infos[owner].clashes.append(f"{registry.kind} {name}")
        return cls(pm, models, datasets, metrics, benchmarks, list(infos.values()), bench_clashes, suites)

    def info_of(self, plugin: str) -> PluginInfo | None:
        return next((i for i in self.info if i.name == plugin), None)

    def origin(self, plugin: str) -> str:
        """'distribution version' of a plugin, for messages about a fault inside it."""
        info = self.info_of(plugin)
        return info.origin if info else plugin

    def broken_for(self, name: str) -> PluginInfo | None:
        """A broken plugin that likely provides ``name`` (its entry point or distribution names it)."""
        broken = [i for i in self.info if i.error]
        for info in broken:
            words = {info.name, info.label, info.label.removeprefix("genbench-"), info.name.removeprefix("genbench_")}
            if name in words:
                return info
        return None

    # -- look-ups with helpful errors -------------------------------------------------

    def families(self) -> dict[str, list[ModelSpec]]:
        out: dict[str, list[ModelSpec]] = {}
        for spec in self.models:
            out.setdefault(spec.family, []).append(spec)
        return out

    def resolve_model(self, family: str, model: str | None) -> ModelSpec:
        """The named model of a family, or the family's default model."""
        families = self.families()
        if family not in families:
            if family in self.models or family in self.models.clashes:  # `genbench run vae`, vae a model
                return self.models.get(family)
            for name, specs in self.models.clashed_specs.items():
                if any(s.family == family for s in specs):  # the family's model is claimed twice
                    raise GenbenchError(self.models.clash_message(name))
            broken = self.broken_for(family)
            if broken is not None:
                raise GenbenchError(f"plugin {broken.origin} is broken: {broken.error}")
            raise GenbenchError(
                f"unknown family '{family}'{did_you_mean(family, families)}; "
                "`genbench models` lists the installed families and their models"
            )
        specs = families[family]
        if model is None:
            for name, claimed in self.models.clashed_specs.items():
                if any(s.family == family and s.default for s in claimed):  # the family's default is claimed twice
                    raise GenbenchError(self.models.clash_message(name))
            defaults = [s for s in specs if s.default] or specs[:1]
            return defaults[0]
        if model not in self.models and model not in self.models.clashes:
            names = [s.name for s in specs]
            raise GenbenchError(
                f"unknown model '{model}' in family '{family}'{did_you_mean(model, names)}; "
                f"`genbench models --family {family}` lists them"
            )
        spec = self.models.get(model)
        if spec.family != family:
            raise GenbenchError(f"model '{model}' belongs to family '{spec.family}', not '{family}'")
        return spec

    def benchmark(self, name: str) -> Benchmark:
        if name in self.benchmark_clashes:
            raise GenbenchError(self.benchmark_clashes[name])
        if name not in self.benchmarks:
            raise GenbenchError(
                f"unknown benchmark '{name}'{did_you_mean(name, self.benchmarks)}; "
                "`genbench datasets` lists datasets and their benchmarks"
            )
        return self.benchmarks[name]

    def benchmark_for(self, dataset: str) -> Benchmark:
        """The standard benchmark declared for a dataset: the one named like it, else the first
        that degrades nothing (reconstruction benchmarks are picked by name, with --benchmark)."""
        self.datasets.get(dataset)  # unknown dataset: did-you-mean error
        on_it = [b for b in self.benchmarks.values() if b.dataset == dataset]
        for bench in sorted(on_it, key=lambda b: (b.name != dataset, b.degradation is not None)):
            return bench
        raise GenbenchError(f"no benchmark is declared for dataset '{dataset}'; add one with --benchmark")


def _register_builtins(pm: pluggy.PluginManager, infos: dict[str, PluginInfo]) -> None:
    """Register the built-in plugins (DEFAULT_PLUGINS); one that fails to import is recorded as broken."""
    from genbench import __version__

    for name in DEFAULT_PLUGINS:
        info = infos[name] = PluginInfo(name, __version__, builtin=True, distribution="genbench")
        try:
            pm.register(importlib.import_module(name), name=name)
        except (Exception, SystemExit) as exc:  # a broken built-in leaves the other plugins working
            info.error = f"import failed: {type(exc).__name__}: {exc}"


def _register_entry_points(pm: pluggy.PluginManager, infos: dict[str, PluginInfo]) -> None:
    """Register every installed ``genbench`` entry point; one that fails to load is recorded as broken."""
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        dist_version = ep.dist.version if ep.dist is not None else "?"
        dist_name = ep.dist.name if ep.dist is not None else ""
        info = PluginInfo(ep.name, dist_version, builtin=False, distribution=dist_name)
        infos[ep.name] = info
        try:
            pm.register(ep.load(), name=ep.name)
        except (Exception, SystemExit) as exc:  # a broken plugin must not take the CLI down
            info.error = f"import failed: {type(exc).__name__}: {exc}"


def _register_env_plugins(pm: pluggy.PluginManager, infos: dict[str, PluginInfo]) -> None:
    """Register the modules $GENBENCH_PLUGINS names that are not registered yet; one that fails is broken."""
    # $GENBENCH_PLUGINS names extra plugin modules (like $PYTEST_PLUGINS): handy while
    # developing a plugin, and how the test-suite loads its fixture plugins.
    for name in filter(None, (n.strip() for n in os.environ.get("GENBENCH_PLUGINS", "").split(","))):
        if name in infos:  # a built-in or an installed plugin: already registered, keep it
            continue
        info = infos[name] = PluginInfo(name, "dev", builtin=False)
        try:
            module = importlib.import_module(name)
            if pm.is_registered(module):
                del infos[name]
                continue
            pm.register(module, name=name)
        except (Exception, SystemExit) as exc:
            info.error = f"import failed: {type(exc).__name__}: {exc}"


def _collect_registrations(
    pm: pluggy.PluginManager,
    infos: dict[str, PluginInfo],
    models: Registry[ModelSpec],
    datasets: Registry[DatasetSpec],
    metrics: Registry[MetricSpec],
) -> list[tuple[Path, str]]:
    """Call each working plugin's registration hooks into the registries; return its benchmark/suite files.

    A plugin whose registration hook raises is recorded as broken and registers nothing more.
    """
    benchmark_paths: list[tuple[Path, str]] = []
    for hook_name, sink in (
        ("genbench_register_models", models),
        ("genbench_register_datasets", datasets),
        ("genbench_register_metrics", metrics),
        ("genbench_register_benchmarks", None),
    ):
        for impl in getattr(pm.hook, hook_name).get_hookimpls():
            info = infos[impl.plugin_name]
            if info.error:
                continue
            try:
                items = impl.function() or []
            except (Exception, SystemExit) as exc:
                info.error = f"{hook_name} failed: {type(exc).__name__}: {exc}"
                continue
            kind = hook_name.removeprefix("genbench_register_")
            info.registers.setdefault(kind, [])
            for item in items:
                if sink is None:
                    benchmark_paths.append((Path(item), impl.plugin_name))
                    if is_suite_file(item):
                        info.registers.setdefault("suites", []).append(Path(item).name.split(".")[0])
                    else:
                        info.registers[kind].append(Path(item).stem)
                else:
                    sink.add(item, impl.plugin_name)
                    info.registers[kind].append(item.name)
    return benchmark_paths


def _load_declarations(
    benchmark_paths: list[tuple[Path, str]], infos: dict[str, PluginInfo], label: Callable[[str], str]
) -> tuple[dict[str, Benchmark], dict[str, str], dict[str, Suite]]:
    """Load the benchmark and suite files: benchmarks, benchmark clashes (name -> why) and suites.

    A benchmark two plugins declare is a clash recorded on both; a suite declared twice is an error.
    """
    benchmarks: dict[str, Benchmark] = {}
    bench_clashes: dict[str, str] = {}
    bench_plugin: dict[str, str] = {}
    suites: dict[str, Suite] = {}
    for path, plugin in benchmark_paths:
        if is_suite_file(path):
            suite = load_suite(path)
            if suite.name in suites:
                raise GenbenchError(
                    f"suite '{suite.name}' is declared twice ({suites[suite.name].path} and {path}): rename one"
                )
            suites[suite.name] = suite
            continue
        bench = load_benchmark(path)
        if bench.name in benchmarks or bench.name in bench_clashes:
            first = benchmarks.pop(bench.name, None)
            bench_clashes.setdefault(
                bench.name,
                f"benchmark '{bench.name}' is declared twice ({first.path if first else '?'} from "
                f"'{label(bench_plugin[bench.name])}' and {path} from '{label(plugin)}'): uninstall or rename one",
            )
            infos[plugin].clashes.append(f"benchmark {bench.name}")
            infos[bench_plugin[bench.name]].clashes.append(f"benchmark {bench.name}")
            continue
        benchmarks[bench.name] = bench
        bench_plugin[bench.name] = plugin
    return benchmarks, bench_clashes, suites


def _drop_unknown_hooks(pm: pluggy.PluginManager, infos: dict[str, PluginInfo]) -> None:
    """A hook implementation with no spec (a misspelt name) would be a silent no-op: the plugin
    that has one is reported broken, with the closest hook name, and unregistered."""
    specs = [name for name in dir(hookspecs) if name.startswith("genbench_")]
    for name in dir(pm.hook):
        caller = getattr(pm.hook, name)
        if not isinstance(caller, pluggy.HookCaller) or caller.spec is not None:
            continue
        for impl in caller.get_hookimpls():
            if impl.optionalhook:
                continue
            info = infos.get(impl.plugin_name)
            if info is not None and info.error is None:
                info.error = f"unknown hook '{name}'{did_you_mean(name, specs)}"
            if pm.is_registered(impl.plugin):
                pm.unregister(impl.plugin)
    pm.check_pending()


def _list_lifecycle_hooks(pm: pluggy.PluginManager, infos: dict[str, PluginInfo]) -> None:
    """Which lifecycle hooks each plugin follows (trackers, the default artifacts plugin): `genbench plugins` says."""
    for hook_name in LIFECYCLE_HOOKS:
        for impl in getattr(pm.hook, hook_name).get_hookimpls():
            if impl.plugin_name in infos:
                followed = infos[impl.plugin_name].registers.setdefault("lifecycle", [])
                followed.append(hook_name.removeprefix("genbench_"))


@functools.cache
def get_plugins() -> Plugins:
    """The process-wide plugin set (built-ins plus installed entry points)."""
    return Plugins.load()
