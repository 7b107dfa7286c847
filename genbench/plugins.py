"""The plugin manager: genbench's built-in plugins plus every ``genbench`` entry point.

A plugin that fails to import, or whose registration hook raises, is recorded as broken
with the reason and the rest keep working. Name clashes between plugins stop start-up.
"""

from __future__ import annotations

import functools
import importlib
import os
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path
from types import ModuleType
import pluggy

from genbench import hookspecs
from genbench.benchmarks import Benchmark, load_benchmark
from genbench.errors import GenbenchError, did_you_mean
from genbench.registry import Registry
from genbench.specs import DatasetSpec, MetricSpec, ModelSpec
from genbench.suite import Suite, is_suite_file, load_suite

from genbench import hookimpl  # noqa: F401  (the marker lives in genbench; kept here for old imports)

# Core features are plugins too (datasette's DEFAULT_PLUGINS): registered before entry points.
DEFAULT_PLUGINS = (
    "genbench.data.builtin", "genbench.metrics.builtin", "genbench.benchmarks.builtin", "genbench.suite.builtin"
)
ENTRY_POINT_GROUP = "genbench"


@dataclass
class PluginInfo:
    name: str
    version: str
    builtin: bool
    registers: dict[str, list[str]] = field(default_factory=dict)
    error: str | None = None  # set when the plugin is broken


@dataclass
class Plugins:
    """Everything the installed plugins register."""

    manager: pluggy.PluginManager
    models: Registry[ModelSpec]
    datasets: Registry[DatasetSpec]
    metrics: Registry[MetricSpec]
    benchmarks: dict[str, Benchmark]
    info: list[PluginInfo]
    suites: dict[str, Suite] = field(default_factory=dict)  # *.suite.yaml files from the benchmark hook

    @classmethod
    def load(cls, *, extra: list[ModuleType] | None = None, use_entry_points: bool = True) -> Plugins:
        pm = pluggy.PluginManager("genbench")
        pm.add_hookspecs(hookspecs)
        infos: dict[str, PluginInfo] = {}
        from genbench import __version__

        for name in DEFAULT_PLUGINS:
            pm.register(importlib.import_module(name), name=name)
            infos[name] = PluginInfo(name, __version__, builtin=True)
        if use_entry_points:
            for ep in entry_points(group=ENTRY_POINT_GROUP):
                dist_version = ep.dist.version if ep.dist is not None else "?"
                info = PluginInfo(ep.name, dist_version, builtin=False)
                infos[ep.name] = info
                try:
                    pm.register(ep.load(), name=ep.name)
                except Exception as exc:  # a broken plugin must not take the CLI down
                    info.error = f"import failed: {type(exc).__name__}: {exc}"
        # $GENBENCH_PLUGINS names extra plugin modules (like $PYTEST_PLUGINS): handy while
        # developing a plugin, and how the test-suite loads its fixture plugins.
        for name in filter(None, os.environ.get("GENBENCH_PLUGINS", "").split(",")):
            info = infos[name] = PluginInfo(name, "dev", builtin=False)
            try:
                pm.register(importlib.import_module(name.strip()), name=name)
            except Exception as exc:
                info.error = f"import failed: {type(exc).__name__}: {exc}"
        for module in extra or []:
            pm.register(module, name=module.__name__)
            infos[module.__name__] = PluginInfo(module.__name__, "test", builtin=False)
        pm.check_pending()  # a misspelt hook name is an error, not a silent no-op

        models: Registry[ModelSpec] = Registry("model")
        datasets: Registry[DatasetSpec] = Registry("dataset")
        metrics: Registry[MetricSpec] = Registry("metric")
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
                except Exception as exc:
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

        benchmarks: dict[str, Benchmark] = {}
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
            if bench.name in benchmarks:
                raise GenbenchError(
                    f"benchmark '{bench.name}' is declared twice ({benchmarks[bench.name].path} "
                    f"and {path}, from plugin '{plugin}'): rename one of them"
                )
            benchmarks[bench.name] = bench
        return cls(pm, models, datasets, metrics, benchmarks, list(infos.values()), suites)

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
            if family in self.models:  # `genbench run vae` where vae is a model name
                return self.models.get(family)
            raise GenbenchError(
                f"unknown family '{family}'{did_you_mean(family, families)}; "
                "`genbench plugins` lists the installed families"
            )
        specs = families[family]
        if model is None:
            defaults = [s for s in specs if s.default] or specs[:1]
            return defaults[0]
        spec = self.models.get(model)
        if spec.family != family:
            raise GenbenchError(f"model '{model}' belongs to family '{spec.family}', not '{family}'")
        return spec

    def benchmark(self, name: str) -> Benchmark:
        if name not in self.benchmarks:
            raise GenbenchError(
                f"unknown benchmark '{name}'{did_you_mean(name, self.benchmarks)}; "
                "`genbench datasets` lists datasets and their benchmarks"
            )
        return self.benchmarks[name]

    def benchmark_for(self, dataset: str) -> Benchmark:
        """The standard benchmark declared for a dataset."""
        self.datasets.get(dataset)  # unknown dataset: did-you-mean error
        for bench in self.benchmarks.values():
            if bench.dataset == dataset:
                return bench
        raise GenbenchError(f"no benchmark is declared for dataset '{dataset}'; add one with --benchmark")


@functools.cache
def get_plugins() -> Plugins:
    """The process-wide plugin set (built-ins plus installed entry points)."""
    return Plugins.load()

