"""The read-only views: runs, show, leaderboard, plugins, models, benchmarks, datasets and metrics.

They reach the CLI as a built-in plugin (``genbench.plugins.DEFAULT_PLUGINS``) through
``genbench_register_commands``, the hook a third-party plugin adds its commands with.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer
from rich.table import Table

from genbench import hookimpl
from genbench.cli import output
from genbench.cli.options import (
    DbOpt,
    Format,
    FormatOpt,
    ListFormat,
    ResultsOpt,
    Status,
    no_store_message,
    open_store,
)
from genbench.cli.output import print_columns
from genbench.errors import GenbenchError

if TYPE_CHECKING:
    from genbench.registry import Registry
    from genbench.specs import DatasetSpec, MetricSpec, ModelSpec
    from genbench.store import Store
    from genbench.store.schema import Run


@hookimpl
def genbench_register_commands(app: typer.Typer) -> None:
    for command in (leaderboard, runs, show, plugins, models, settings, benchmarks, datasets, metrics):
        app.command()(command)


def leaderboard(
    dataset: Annotated[Optional[str], typer.Option("--dataset", "-d", help="Only this dataset's boards.")] = None,
    benchmark: Annotated[Optional[str], typer.Option("--benchmark", help="Only this benchmark's boards.")] = None,
    metric: Annotated[Optional[str], typer.Option("--metric", help="Only this metric's boards, ranked by it.")] = None,
    format: Annotated[
        Format, typer.Option("--format", "-f", help="table for people; markdown, csv or json to share.")
    ] = Format.table,
    wide: Annotated[
        bool, typer.Option("--wide", help="One cross-family table per board, a column per metric.")
    ] = False,
    results_dir: ResultsOpt = Path("results"),
    db: DbOpt = None,
) -> None:
    """Finished runs ranked per task by its headline metric, with 95% intervals; ties share a rank.

    Only comparable values share a table. --wide, markdown, csv and json give every metric."""
    from genbench.plugins import get_plugins
    from genbench.report.leaderboard import build_boards
    from genbench.report.tables import (
        board_table,
        boards_markdown,
        boards_records,
        records_csv,
        section_tables,
        sections_footer,
    )

    plugins = get_plugins()
    if dataset:
        plugins.datasets.get(dataset)
    if benchmark:
        plugins.benchmark(benchmark)
    if metric:
        plugins.metrics.get(metric)
    store = open_store(results_dir, db)
    if store is None:
        if format is Format.json:
            print("[]")
        elif format is not Format.csv:
            output.console.print(no_store_message(results_dir, db), highlight=False)
        return
    boards = build_boards(store, dataset=dataset, benchmark=benchmark, metric=metric)
    if format is Format.json:
        print(json.dumps(boards_records(boards), indent=2))
    elif format is Format.csv:
        print(records_csv(boards_records(boards)), end="")
    elif format is Format.markdown:
        print(boards_markdown(boards))
    elif not boards:
        output.console.print(_empty_leaderboard_message(store, dataset=dataset, benchmark=benchmark, metric=metric))
    elif wide:
        for board in boards:
            output.console.print(board_table(board))
    else:
        for board in boards:
            for table in section_tables(board, output.console.width, metric):
                output.console.print(table)
        for line in sections_footer(boards):
            output.console.print(line, highlight=False, markup=False)


def _empty_leaderboard_message(store: Store, **filters: str | None) -> str:
    """What an empty leaderboard means for the filter given: nothing finished at all, or nothing that matches."""
    from genbench.store.queries import count_runs

    finished = count_runs(store, status="finished")
    given = " ".join(f"--{k} {v}" for k, v in filters.items() if v)
    if not finished:
        return "no finished runs yet: `genbench run vae --dataset digits --budget smoke` makes one"
    if not given:
        return f"{finished} finished run(s), none with a metric value to rank: `genbench runs` lists them"
    return f"no finished run matches {given} ({finished} finished run(s) in all: `genbench leaderboard` shows them)"


def runs(
    dataset: Annotated[Optional[str], typer.Option("--dataset", "-d", help="Only runs on this dataset.")] = None,
    model: Annotated[Optional[str], typer.Option("--model", "-m", help="Only runs of this model.")] = None,
    family: Annotated[Optional[str], typer.Option("--family", help="Only runs of this model family.")] = None,
    status: Annotated[Optional[Status], typer.Option("--status", help="Only runs with this status.")] = None,
    format: FormatOpt = ListFormat.table,
    results_dir: ResultsOpt = Path("results"),
    db: DbOpt = None,
) -> None:
    """List stored runs, newest first. Piped, it prints plain full-width lines (`genbench runs | grep dcgan`)."""
    from genbench.store.db import shown_status
    from genbench.store.queries import count_runs, list_runs

    store = open_store(results_dir, db)
    if store is None:
        if format is ListFormat.json:
            print("[]")
        else:
            output.console.print(no_store_message(results_dir, db), highlight=False)
        return
    filters = {"dataset": dataset, "model": model, "family": family, "status": status.value if status else None}
    rows = list_runs(store, **filters)
    if format is ListFormat.json:
        print(json.dumps([_run_record(r) for r in rows], indent=2, default=str))
        return
    if not rows:
        stored = count_runs(store)
        given = " ".join(f"--{k} {v}" for k, v in filters.items() if v)
        if stored and given:
            output.console.print(f"no run matches {given} ({stored} run(s) stored: `genbench runs` lists them)")
        else:
            output.console.print("no runs yet: `genbench run vae --dataset digits --budget smoke` makes one")
        return
    headers = ["id", "status", "model", "dataset", "budget", "seed", "images", "wall s", "created"]
    cells = [
        [
            r.id, shown_status(r), f"{r.family}/{r.model}", r.dataset, r.budget, str(r.seed),
            f"{r.images_seen:,}", f"{r.wall_seconds:.1f}", f"{r.created_at:%Y-%m-%d %H:%M}",
        ]
        for r in rows
    ]  # fmt: skip
    # Columns give way in this order when the terminal is narrow; id and model are never cut.
    importance = ["id", "model", "status", "dataset", "budget", "created", "seed", "images", "wall s"]
    print_columns(headers, cells, importance, right={"seed", "images", "wall s"})


def _run_record(r: Run) -> dict[str, Any]:
    return {c.name: getattr(r, c.name) for c in r.__table__.columns}


def show(
    run_id: Annotated[str, typer.Argument(help="Run id (or a unique prefix).")],
    results_dir: ResultsOpt = Path("results"),
    db: DbOpt = None,
) -> None:
    """A run's config, metrics, timings, loss summary and artifact paths."""
    from genbench.report.tables import fmt_value, interval_text
    from genbench.store.db import shown_status
    from genbench.store.queries import loss_history

    store = open_store(results_dir, db)
    if store is None:
        raise GenbenchError(f"no run '{run_id}': {no_store_message(results_dir, db).removeprefix('no runs yet: ')}")
    r = store.get_run(run_id)
    output.console.print(f"[bold]run {r.id}[/]  {r.family}/{r.model} on {r.dataset}  status [bold]{shown_status(r)}[/]")
    if r.message:
        output.console.print(f"message: {r.message}")
    facts = Table(show_header=False, box=None)
    for key, value in (
        ("benchmark", f"{r.benchmark} v{r.benchmark_version}, budget {r.budget} ({r.budget_images:,} images)"),
        ("seed", r.seed),
        ("progress", f"{r.images_seen:,} images, {r.steps:,} steps"),
        ("wall time", f"{r.wall_seconds:.1f} s (model steps {r.train_seconds:.1f} s)"),
        ("device", f"{r.device}: {r.hardware}"),
        ("parameters", f"{r.num_params:,}"),
        ("config hash", r.config_hash),
        ("git commit", r.git_commit or "unknown (genbench was not run from a git checkout)"),
        ("versions", ", ".join(f"{k} {v}" for k, v in r.versions.items())),
        ("created", f"{r.created_at:%Y-%m-%d %H:%M:%S} UTC, heartbeat {r.heartbeat:%H:%M:%S}"),
        ("kind", r.kind),  # trained, samples (genbench score) or pretrained
        ("provenance", ", ".join(f"{k} {v}" for k, v in (r.provenance or {}).items()) or "-"),
    ):
        facts.add_row(f"[dim]{key}[/]", str(value))
    output.console.print(facts)
    output.console.print("[bold]config[/]")
    used: set[int] = {n for m in r.metrics if (n := m.fingerprint.get("num_samples")) is not None}
    for section, values in r.config.items():
        if section == "skipped_metrics" or not isinstance(values, dict) or not values:
            continue
        if section == "eval" and not values.get("num_samples") and used:
            # 0 means "the benchmark's count for the budget": show the count the metrics used.
            values = {**values, "num_samples": f"{'/'.join(map(str, sorted(used)))} (the benchmark's)"}
        output.console.print(f"  {section}: " + ", ".join(f"{k}={v}" for k, v in values.items()))
    for line in _skipped_lines(r.config.get("skipped_metrics") or {}):
        output.console.print(f"  {line}")
    if r.metrics:
        output.console.print("[bold]metrics[/]")
        # Evaluation settings are the config's model settings unless a re-evaluation (`genbench eval
        # --set`) changed them: each other set is numbered, said once, and named in a column.
        model_config = r.config.get("model") or {}
        sets: dict[str, str] = {}
        labels = []
        for m in r.metrics:
            if all(model_config.get(k, object()) == v for k, v in m.settings.items()):
                labels.append("config")
            else:
                text = ", ".join(f"{k}={v}" for k, v in m.settings.items())
                labels.append(sets.setdefault(text, f"#{len(sets) + 1}"))
        headers = ["metric", "value", "95% interval", "samples", "fingerprint"] + (["settings"] if sets else [])
        cells = [
            [
                m.name,
                fmt_value(m.value) + (f" {m.unit}" if m.unit else ""),
                interval_text(m.interval.low, m.interval.high) if m.interval else "-",
                _samples_used(m.fingerprint),
                m.fingerprint_hash,
            ]
            + ([label] if sets else [])
            for m, label in zip(r.metrics, labels)
        ]
        print_columns(
            headers,
            cells,
            ["metric", "value", "95% interval", "settings", "samples", "fingerprint"],
            right={"value", "samples"},
        )
        for text, label in sets.items():
            output.console.print(f"  eval settings {label}: {text}", highlight=False)
        methods = sorted({m.ci_method for m in r.metrics if m.ci_method})
        output.console.print(
            "95% interval: " + (", ".join(methods) if methods else "none stored (values from before genbench 0.2)")
            + "; t: t-interval of a mean over images, bootstrap-B: B resamples of the samples, delong: DeLong's",
            highlight=False, markup=False,
        )  # fmt: skip
        _print_costs(r.metrics)
    curves = {name: [value for _, _, value in points] for name, points in loss_history(store, r.id).items()}
    if curves:
        output.console.print("[bold]logged during training[/] (interval means)")
    for name, values in curves.items():
        summary = f"first {values[0]:.4g}, last {values[-1]:.4g}, min {min(values):.4g} ({len(values)} points)"
        output.console.print(f"  {name}: {summary}")
    if r.artifacts:
        from genbench.store.runs import stored_path

        paths = [(art.kind, stored_path(art.path, r.id, results_dir)) for art in r.artifacts]
        folders = {path.parent for _, path in paths}
        folder = folders.pop() if len(folders) == 1 else None
        output.console.print(f"artifacts in {folder}:" if folder else "artifacts:", highlight=False, soft_wrap=True)
        for kind, path in paths:
            missing = "" if path.exists() else " (missing)"
            shown = path.name if folder else str(path)
            output.console.print(f"  {kind}: {shown}{missing}", highlight=False, soft_wrap=True)


def _print_costs(metrics: list[Any]) -> None:
    """Each value's cost: wall seconds and network evaluations (genbench.api.cost), with the total."""
    from genbench.report.tables import fmt_count

    counted = [m.network_evaluations for m in metrics if m.network_evaluations is not None]
    total = f"{_time_text(sum(m.seconds for m in metrics))}" + (
        f", {fmt_count(sum(counted))} network evaluations" if counted else ""
    )
    output.console.print(f"[bold]evaluation cost[/] (total {total})")
    print_columns(
        ["metric", "time", "net evals"],
        [
            [m.name, _time_text(m.seconds), "?" if m.network_evaluations is None else fmt_count(m.network_evaluations)]
            for m in metrics
        ],
        ["metric", "time", "net evals"],
        right={"time", "net evals"},
    )
    output.console.print(
        "time: wall time computing the value; net evals: examples through the model's networks "
        "(?: not counted, stored before genbench counted them); work several metrics share (samples, "
        "likelihoods, features) is charged to the first that needs it",
        highlight=False, markup=False,
    )  # fmt: skip


def _time_text(seconds: float) -> str:
    from genbench.report.tables import fmt_seconds

    return f"{seconds:.1f} s" if seconds < 120 else fmt_seconds(seconds)


def _samples_used(fingerprint: dict[str, Any]) -> str:
    """How many images the metric scored: test images for a likelihood, else generated samples."""
    if "dequantization" in fingerprint and fingerprint.get("reference_count"):
        return f"{fingerprint['reference_count']:,} (test)"
    return f"{fingerprint['num_samples']:,}" if fingerprint.get("num_samples") else "-"


def _skipped_lines(skipped: dict[str, str]) -> list[str]:
    from genbench.engine.evaluate import grouped_reasons

    return grouped_reasons(skipped) if skipped else []


def plugins(format: FormatOpt = ListFormat.table) -> None:
    """Installed plugins (by distribution), their versions and what they register; broken ones with why."""
    from genbench.plugins import get_plugins

    infos = get_plugins().info
    if format is ListFormat.json:
        records = [
            {
                "distribution": i.distribution or None, "entry_point": i.name, "version": i.version,
                "builtin": i.builtin, "registers": i.registers, "error": i.error, "clashes": i.clashes,
            }
            for i in infos
        ]  # fmt: skip
        print(json.dumps(records, indent=2))
        return
    cells = []
    for info in infos:
        registers = "; ".join(f"{k}: {', '.join(v)}" for k, v in info.registers.items() if v)
        if info.error:
            status = f"broken: {info.error}"
        elif info.clashes:
            status = f"clash: {', '.join(info.clashes)} also registered by another plugin"
        else:
            status = "built-in" if info.builtin else "ok"
        cells.append([info.label, info.name, info.version, registers or "-", status])
    headers = ["plugin", "entry point", "version", "registers", "status"]
    print_columns(
        headers, cells, ["plugin", "registers", "status", "version", "entry point"], wrap={"registers", "status"}
    )
    clashes = [reg.clash_message(name) for reg in _registries() for name in reg.clashes]
    clashes += list(get_plugins().benchmark_clashes.values())
    for message in clashes:
        output.err_console.print(f"[red]clash:[/] {message}", highlight=False, soft_wrap=True)


def _registries() -> tuple[Registry[ModelSpec], Registry[DatasetSpec], Registry[MetricSpec]]:
    from genbench.plugins import get_plugins

    p = get_plugins()
    return (p.models, p.datasets, p.metrics)


def models(
    name: Annotated[
        Optional[str], typer.Argument(help="A model (or family): list its settings, as `genbench settings` does.")
    ] = None,
    family: Annotated[Optional[str], typer.Option("--family", help="Only this family's models.")] = None,
    format: FormatOpt = ListFormat.table,
) -> None:
    """Installed model families and their models, with capabilities and the plugin that provides them."""
    from genbench.plugins import get_plugins

    if name is not None:
        settings(name, None, None, format)
        return
    p = get_plugins()
    families = p.families()
    if family is not None and family not in families:
        p.resolve_model(family, None)  # broken plugin / did-you-mean error
    specs = [spec for name, group in sorted(families.items()) if family in (None, name) for spec in group]
    if format is ListFormat.json:
        records = [
            {
                "family": m.family, "model": m.name, "default": m.default, "capabilities": sorted(m.capabilities),
                "plugin": p.origin(p.models.plugin_of(m.name)), "description": m.description, "paper": m.paper,
            }
            for m in specs
        ]  # fmt: skip
        print(json.dumps(records, indent=2))
        return
    headers = ["family", "model", "capabilities", "plugin", "description"]
    cells = [
        [
            m.family, m.name + (" (default)" if m.default else ""), ",".join(sorted(m.capabilities)),
            p.origin(p.models.plugin_of(m.name)), m.description,
        ]
        for m in specs
    ]  # fmt: skip
    print_columns(headers, cells, ["model", "family", "capabilities", "plugin", "description"])
    for info in p.info:
        if info.error:
            output.err_console.print(
                f"[red]plugin {info.label} is broken:[/] {info.error}", highlight=False, soft_wrap=True
            )


def settings(
    model: Annotated[str, typer.Argument(help="Model name, or a family for its default model.")],
    dataset: Annotated[
        Optional[str], typer.Option("--dataset", "-d", help="Defaults scale with the dataset; default: digits.")
    ] = None,
    model_option: Annotated[Optional[str], typer.Option("--model", "-m", help="Model of the family.")] = None,
    format: FormatOpt = ListFormat.table,
) -> None:
    """Every `--set` key of a model, and the engine's train.* and eval.*: type, default, range and help."""
    from genbench.config import EvalConfig, TrainConfig, describe_settings
    from genbench.engine.build import default_train_config, resolve_config
    from genbench.plugins import get_plugins

    p = get_plugins()
    spec = p.resolve_model(model, model_option)
    if dataset is None:  # a small set that needs no files: two domains for a translation model
        dataset = "digits2color" if "translate" in spec.capabilities else "digits"
    from genbench.api.dataset import DataInfo

    dspec = p.datasets.get(dataset)
    info = DataInfo(dspec.name, dspec.shape, dspec.num_classes)
    config = resolve_config(spec, info)
    smoke = resolve_config(spec, info, budget="smoke")  # the model's smoke_settings, said beside the default
    rows = [
        dataclasses.replace(r, default=f"{r.default} (smoke: {s.default})") if s.default != r.default else r
        for r, s in zip(describe_settings(config), describe_settings(smoke))
    ]
    train = describe_settings(default_train_config(spec, info), prefix="train.")
    engine = {r.key: r.default for r in describe_settings(TrainConfig(), prefix="train.")}
    # A train.* default the model sets itself says so, beside the engine's.
    train = [
        r
        if r.default == engine[r.key]
        else dataclasses.replace(r, help=f"{r.help} (engine default {engine[r.key]})".strip())
        for r in train
    ]
    rows += train + describe_settings(EvalConfig(), prefix="eval.", when="eval")
    if format is ListFormat.json:
        print(json.dumps([dataclasses.asdict(r) for r in rows], indent=2))
        return
    output.console.print(
        f"[bold]{spec.family}/{spec.name}[/] on {dataset}: "
        f"`genbench run {spec.name} --dataset {dataset} --set KEY=VALUE`",
        highlight=False,
    )
    # The range beside the type, so that both stay at 80 columns.
    headers = ["setting", "default", "type, range", "help", "when"]
    cells = [
        [r.key, r.default, r.type.replace("|", " | ") + (f" {r.range}" if r.range else ""), r.help or "-", r.when]
        for r in rows
    ]
    print_columns(headers, cells, headers, wrap={"help", "type, range"})
    output.console.print(
        "when: train = fixed at training; eval = `genbench eval RUN --set KEY=VALUE` may change it on a stored run; "
        "memory = only how the work is split into memory",
        highlight=False,
    )


def benchmarks(format: FormatOpt = ListFormat.table) -> None:
    """Benchmarks: dataset, what each budget means in images seen, evaluation samples and metrics."""
    from genbench.plugins import get_plugins

    p = get_plugins()
    if format is ListFormat.json:
        records = [
            {
                "benchmark": b.name, "version": b.version, "dataset": b.dataset,
                "budgets": {k: {"images": v, "eval_samples": b.num_samples[k]} for k, v in b.budgets.items()},
                "metrics": list(b.metrics), "optional_metrics": list(b.optional_metrics), "description": b.description,
                "degradation": b.degradation,
            }
            for b in p.benchmarks.values()
        ]  # fmt: skip
        print(json.dumps(records, indent=2))
        return
    ordered = sorted(p.benchmarks.values(), key=lambda b: b.name)
    headers = ["benchmark", "budget", "images seen", "eval samples", "dataset"]
    cells = [
        [f"{b.name} v{b.version}", budget, f"{images:,}", f"{b.num_samples.get(budget, 0):,}", b.dataset]
        for b in ordered
        for budget, images in b.budgets.items()
    ]
    print_columns(headers, cells, headers, right={"images seen", "eval samples"})
    output.console.print("images seen: training examples drawn, so 60,000 on MNIST is one pass over its training set")
    for b in ordered:
        needed = f"required {', '.join(b.metrics)}; " if b.metrics else ""
        output.console.print(f"{b.name} metrics: {needed}when the model can: {', '.join(b.optional_metrics) or '-'}")
        if b.degradation:
            params = ", ".join(f"{k} {v}" for k, v in b.degradation.items() if k != "op")
            output.console.print(
                f"{b.name} restores: {b.degradation['op']} ({params}), {b.restore_samples} samples each"
            )


def datasets(format: FormatOpt = ListFormat.table) -> None:
    """Registered datasets with their shape, classes and benchmark."""
    from genbench.plugins import get_plugins

    p = get_plugins()
    if format is ListFormat.json:
        records = [
            {
                "dataset": d.name, "shape": list(d.shape), "num_classes": d.num_classes,
                "benchmarks": [b.name for b in p.benchmarks.values() if b.dataset == d.name],
                "needs_files": d.needs_files, "layout": d.layout, "description": d.description,
            }
            for d in p.datasets
        ]  # fmt: skip
        print(json.dumps(records, indent=2))
        return
    headers = ["dataset", "shape", "classes", "benchmark", "files", "description"]
    cells = []
    for spec in p.datasets:
        benches = ", ".join(f"{b.name} v{b.version}" for b in p.benchmarks.values() if b.dataset == spec.name)
        files = spec.layout if spec.needs_files else "none needed"
        cells.append(
            [spec.name, "x".join(map(str, spec.shape)), str(spec.num_classes), benches or "-", files, spec.description]
        )
    importance = ["dataset", "files", "shape", "classes", "benchmark", "description"]
    print_columns(headers, cells, importance, right={"classes"}, wrap={"benchmark", "description"}, fold={"files"})
    output.console.print(
        "files: where under the data folder (--data-dir, GENBENCH_DATA) each set is read from", highlight=False
    )


def metrics(format: FormatOpt = ListFormat.table) -> None:
    """Registered metrics with direction, needed capability and fingerprint fields."""
    from genbench.plugins import get_plugins

    specs = list(get_plugins().metrics)
    if format is ListFormat.json:
        records = [
            {
                "metric": m.name, "direction": m.direction, "requires": m.requires, "unit": m.unit,
                "fingerprint_fields": list(m.fingerprint_fields), "description": m.description,
            }
            for m in specs
        ]  # fmt: skip
        print(json.dumps(records, indent=2))
        return
    headers = ["metric", "better", "needs", "unit", "description", "fingerprint fields"]
    cells = [
        [
            spec.name, "lower" if spec.direction == "min" else "higher", spec.requires or "-", spec.unit or "-",
            spec.description, ", ".join(spec.fingerprint_fields),
        ]
        for spec in specs
    ]  # fmt: skip
    print_columns(headers, cells, headers, wrap={"description", "fingerprint fields"})
    if any(spec.name in INCEPTION_METRICS or spec.name.startswith("inception-") for spec in specs):
        output.console.print(_inception_weights_line(), highlight=False, soft_wrap=True)


INCEPTION_METRICS = ("fid", "fid-clean", "kid", "is")


def _inception_weights_line() -> str:
    """Where FID/KID/IS look for their Inception weights, whether the file is there, and how to get it.

    The path and the URL stand on lines of their own, so they are copied whole at any width."""
    from genbench.metrics.inception import ENV_WEIGHTS, INCEPTION_URL, inception_weights_path

    path = inception_weights_path()
    state = "present" if path.is_file() else "missing"
    return (
        f"Inception weights (fid, kid, is, inception-*), {state}, looked for at\n  {path}\n"
        f"download\n  {INCEPTION_URL}\nto that path, or set {ENV_WEIGHTS} to where the file is"
    )
