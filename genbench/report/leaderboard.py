"""Leaderboards: one table per benchmark and budget, a row per model, a column per metric.

Values share a table when they share dataset, benchmark and version, and budget; they share a
column when they also share metric and fingerprint (a second fingerprint of one metric gets a
column of its own). A row is one model with one training config and one set of evaluation
settings (another evaluation seed is another row), aggregated over seeds: the mean, with a 95%
t-interval over seeds when there are two or more, else the one run's evaluation interval.
Ranks admit ties (genbench.api.uncertainty.resolved states the rule): rows whose difference is
not resolved share a rank, shown ``1=``. A benchmark names a headline metric per task
(``Board.tasks``): the terminal shows one ranked section per task. Settings that only fit the work into memory
(``train.log_every``, ``train.checkpoint_every``, ``eval.batch_size`` and model fields declared
with :func:`genbench.api.model.memory_setting`) never split rows; every other setting does and
stays visible.
"""

from __future__ import annotations

import dataclasses
import json
import statistics
from dataclasses import dataclass, field
from typing import Any

from genbench.api.uncertainty import Entry, Interval, tied_ranks
from genbench.specs import meets
from genbench.store import Store
from genbench.store.queries import finished_metric_values
from genbench.store.schema import MetricRecord, Run

# Beside a row's model when one of its runs carries a warning (run.message "warning: ..."):
# the guards' (genbench/engine/guard.py) or a model's training warning.
WARNED_MARK = "(!)"

# Engine settings that change how the work is chunked or logged, never what is measured.
MEMORY_ONLY = {"train": ("log_every", "checkpoint_every"), "eval": ("batch_size",)}


@dataclass
class Column:
    """A metric under one fingerprint."""

    metric: str
    fingerprint_hash: str
    fingerprint: dict[str, Any]
    direction: str
    unit: str
    key: str  # the column's name: the metric (with its own settings, e.g. a label budget), "#2" for another fingerprint
    description: str = ""
    requires: str | None = None

    @property
    def header(self) -> str:
        arrow = "↓" if self.direction == "min" else "↑"
        return f"{self.key} {arrow}" + (f" ({self.unit})" if self.unit else "")

    @property
    def counts(self) -> str:
        """How many samples and reference images the value rests on, in words."""
        fp = self.fingerprint
        parts = []
        if self.requires in ("sample", "conditional") and "num_samples" in fp:
            parts.append(f"{fp['num_samples']:,} samples")
        if fp.get("reference_count"):
            parts.append(f"{'vs ' if parts else ''}{fp['reference_count']:,} {fp.get('reference', 'reference')} images")
        return " ".join(parts)


@dataclass
class Cell:
    values: list[float] = field(default_factory=list)
    run_ids: list[str] = field(default_factory=list)  # the run of each value
    seeds: list[int] = field(default_factory=list)  # the training seed of each value
    intervals: list[Interval | None] = field(default_factory=list)  # each value's evaluation interval
    seconds: list[float] = field(default_factory=list)  # each value's evaluation wall time
    evaluations: list[int | None] = field(default_factory=list)  # its network evaluations; None: not counted

    @property
    def mean(self) -> float:
        return statistics.fmean(self.values)

    @property
    def std(self) -> float:
        return statistics.stdev(self.values) if len(self.values) > 1 else 0.0

    @property
    def mean_seconds(self) -> float | None:
        return statistics.fmean(self.seconds) if self.seconds else None

    @property
    def mean_evaluations(self) -> float | None:
        """Network evaluations per run, when every run of the cell counted them."""
        counted = [e for e in self.evaluations if e is not None]
        return statistics.fmean(counted) if counted and len(counted) == len(self.evaluations) else None

    @property
    def entry(self) -> Entry:
        return Entry(tuple(self.values), tuple(self.seeds), tuple(self.intervals))

    @property
    def interval(self) -> Interval | None:
        """95%: over seeds (t) with two or more seeds, else the one value's evaluation interval."""
        return self.entry.interval()

    @property
    def eval_half_width(self) -> float | None:
        """Half-width of the evaluation (sample) interval, averaged over seeds: the evaluation noise."""
        return self.entry.eval_half_width()


@dataclass
class Row:
    family: str
    model: str
    capabilities: frozenset[str] | None  # None when the model's plugin is not installed
    settings: dict[str, Any]  # evaluation settings that may change a value (sampler, steps...)
    config: dict[str, Any]  # the training config, memory-only fields removed
    cells: dict[str, Cell] = field(default_factory=dict)  # column key -> values over seeds
    run_ids: list[str] = field(default_factory=list)
    seeds: list[int] = field(default_factory=list)
    params: int = 0
    images_seen: list[int] = field(default_factory=list)
    train_seconds: list[float] = field(default_factory=list)
    devices: set[str] = field(default_factory=set)
    nfe: int | None = None  # network evaluations per sample, when the model can say
    shown: dict[str, Any] = field(default_factory=dict)  # the settings printed beside the model name
    warned: list[str] = field(default_factory=list)  # runs of the row that carry a warning (`genbench show`)

    @property
    def label(self) -> str:
        extra = ", ".join(f"{k}={v}" for k, v in self.shown.items())
        mark = f" {WARNED_MARK}" if self.warned else ""
        return (f"{self.model} ({extra})" if extra else self.model) + mark

    def value(self, column: Column) -> Cell | None:
        return self.cells.get(column.key)

    def lacks(self, column: Column) -> bool:
        """True when the model cannot give this metric at all (n/a, not merely missing)."""
        return self.capabilities is not None and not meets(column.requires, self.capabilities)


@dataclass
class Board:
    dataset: str
    benchmark: str
    version: int
    budget: str
    columns: list[Column] = field(default_factory=list)
    rows: list[Row] = field(default_factory=list)
    sort_by: str | None = None  # a column key; None: the first task's headline, else the column with the most values
    headline: dict[str, str] = field(default_factory=dict)  # task -> headline metric, from the benchmark
    _ranks: dict[str, dict[int, int]] = field(default_factory=dict, repr=False)  # column key -> id(row) -> rank

    @property
    def title(self) -> str:
        return f"{self.benchmark} v{self.version} · {self.budget} budget"

    def tasks(self) -> list[tuple[str, Column]]:
        """(task, its headline column) for each task the benchmark declares and this board has values for."""
        out = []
        for task, metric in self.headline.items():
            col = next((c for c in self.columns if c.key.split("#")[0] == metric), None) or next(
                (c for c in self.columns if c.metric == metric), None
            )
            if col is not None and any(col.key in r.cells for r in self.rows):
                out.append((task, col))
        return out

    def column(self, key: str | None = None) -> Column | None:
        """The column named ``key`` (a metric name picks its first fingerprint), else the sort column."""
        key = key or self.sort_by
        if key is not None:
            return next((c for c in self.columns if c.key == key), None) or next(
                (c for c in self.columns if c.metric == key), None
            )
        if not self.columns:
            return None
        tasks = self.tasks()
        if tasks:
            return tasks[0][1]
        return max(self.columns, key=lambda c: sum(c.key in r.cells for r in self.rows))

    def ranked(self, key: str | None = None) -> list[Row]:
        """Rows best first by a column; rows without a value for it come last, by model name."""
        col = self.column(key)
        if col is None:
            return sorted(self.rows, key=lambda r: r.label)
        sign = 1 if col.direction == "min" else -1
        return sorted(self.rows, key=lambda r: (col.key not in r.cells, sign * r.cells[col.key].mean
                                                if col.key in r.cells else 0.0, r.label))  # fmt: skip

    def rank(self, row: Row, key: str | None = None) -> int | None:
        """The row's rank in a column, ties shared (1 + the rows resolved better); None without a value."""
        col = self.column(key)
        if col is None or col.key not in row.cells:
            return None
        if col.key not in self._ranks:
            holders = [r for r in self.ranked(col.key) if col.key in r.cells]
            ranks = tied_ranks([r.cells[col.key].entry for r in holders], col.direction)
            self._ranks[col.key] = {id(r): k for r, k in zip(holders, ranks)}
        return self._ranks[col.key][id(row)]

    def rank_text(self, row: Row, key: str | None = None) -> str | None:
        """'1', or '1=' when another row shares the rank; None without a value."""
        rank = self.rank(row, key)
        if rank is None:
            return None
        col = self.column(key)
        assert col is not None
        shared = [self.rank(r, col.key) for r in self.rows if col.key in r.cells]
        return f"{rank}=" if shared.count(rank) > 1 else str(rank)


# -- what a model's plugin can tell us (cached; torch is imported only here) ---------------


_FACTS: dict[str, tuple[object, tuple[type | None, frozenset[str] | None]]] = {}


def _model_facts(model: str) -> tuple[type | None, frozenset[str] | None]:
    """(config dataclass, capabilities) of an installed model; (None, None) when it is not installed."""
    from genbench.plugins import get_plugins

    plugins = get_plugins()
    # Cached per registry: a process that loads other plugins later (tests do) gets a new
    # registry and must not see facts cached from the old one.
    cached = _FACTS.get(model)
    if cached is not None and cached[0] is plugins:
        return cached[1]
    try:
        from genbench.engine.build import model_class

        spec = plugins.models.get(model)
        facts: tuple[type | None, frozenset[str] | None] = (
            model_class(spec).Config,
            frozenset(spec.capabilities),
        )
    except Exception:  # plugin uninstalled or broken: the row still shows, without the extras
        facts = (None, None)
    _FACTS[model] = (plugins, facts)
    return facts


def _field_meta(model: str) -> tuple[set[str], set[str], dict[str, Any]]:
    """(evaluation-time fields, memory-only fields, class defaults) of a model's config."""
    cfg, _ = _model_facts(model)
    if cfg is None or not dataclasses.is_dataclass(cfg):
        return set(), set(), {}
    fields = dataclasses.fields(cfg)
    defaults = {f.name: f.default for f in fields if f.default is not dataclasses.MISSING}
    return (
        {f.name for f in fields if f.metadata.get("eval")},
        {f.name for f in fields if f.metadata.get("memory")},
        defaults,
    )


def network_evaluations(model: str, config: dict[str, Any]) -> int | None:
    """Network evaluations per sample under ``config``, when the model's class can say."""
    from genbench.engine.build import model_class
    from genbench.plugins import get_plugins

    cfg_cls, _ = _model_facts(model)
    if cfg_cls is None:
        return None
    try:
        cls = model_class(get_plugins().models.get(model))
        names = {f.name for f in dataclasses.fields(cfg_cls)}
        return cls.network_evaluations(cfg_cls(**{k: v for k, v in config.items() if k in names}))
    except Exception:  # an old config the class no longer accepts: no figure rather than no table
        return None


def _metric_facts(name: str) -> tuple[str, str | None]:
    try:
        from genbench.plugins import get_plugins

        spec = get_plugins().metrics.get(name)
        return spec.description, spec.requires
    except Exception:
        return "", None


def _headline(benchmark: str) -> dict[str, str]:
    try:
        from genbench.benchmarks import TASKS
        from genbench.plugins import get_plugins

        declared = get_plugins().benchmarks[benchmark].headline
        return {t: declared[t] for t in TASKS if t in declared}
    except Exception:
        return {}


def _metric_order(benchmark: str) -> list[str]:
    try:
        from genbench.plugins import get_plugins

        b = get_plugins().benchmarks[benchmark]
        return [*b.metrics, *b.optional_metrics]
    except Exception:
        return []


# -- building ------------------------------------------------------------------------------


def _row_identity(run: Run, settings: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """(training config, evaluation settings, the metric's own settings) of a run's value, memory-only
    fields removed. The metric's own settings (a probe's label budget) are not the model's: they
    qualify the value's column, never split the model's row."""
    eval_names, memory, defaults = _field_meta(run.model)
    model_keys = set(run.config.get("model") or {}) | set(defaults) | eval_names | memory
    eval_names |= set(settings)
    model_cfg = {k: v for k, v in (run.config.get("model") or {}).items() if k not in eval_names | memory}
    config: dict[str, Any] = dict(model_cfg)
    for section in ("train", "eval"):
        for k, v in (run.config.get(section) or {}).items():
            if k not in MEMORY_ONLY[section] and not (section == "eval" and k == "num_samples"):
                config[f"{section}.{k}"] = v  # num_samples is in every fingerprint: it splits columns
    # eval_seed (a re-evaluation with another --set eval.seed) is another draw: a row of its own.
    visible = {k: v for k, v in settings.items() if k not in memory and (k in model_keys or k == "eval_seed")}
    own = {k: v for k, v in settings.items() if k not in model_keys and k != "eval_seed"}
    return config, visible, own


def _canonical(d: dict[str, Any]) -> str:
    return json.dumps(d, sort_keys=True, default=str)


def _differing(dicts: list[dict[str, Any]]) -> set[str]:
    keys = set().union(*dicts) if dicts else set()
    return {k for k in keys if len({json.dumps(d.get(k), sort_keys=True, default=str) for d in dicts}) > 1}


def build_boards(
    store: Store, *, dataset: str | None = None, benchmark: str | None = None, metric: str | None = None
) -> list[Board]:
    """Every leaderboard of finished runs; ``metric`` keeps the boards that have it and sorts by it."""
    pairs = finished_metric_values(store, dataset=dataset, benchmark=benchmark)
    # A run re-evaluated with the same settings keeps its latest value; memory-only settings
    # (iwae_batch...) do not make a value "different".
    latest: dict[tuple[str, str, str, str], tuple[MetricRecord, Run, dict[str, Any], dict[str, Any], str]] = {}
    for rec, run in pairs:
        config, visible, own = _row_identity(run, rec.settings or {})
        key = (run.id, rec.name, rec.fingerprint_hash, _canonical({**visible, **own}))
        label = rec.name + (f" ({', '.join(f'{k}={v}' for k, v in sorted(own.items()))})" if own else "")
        latest[key] = (rec, run, config, visible, label)

    boards: dict[tuple[Any, ...], Board] = {}
    rows: dict[tuple[Any, ...], Row] = {}
    seen_runs: set[tuple[tuple[Any, ...], str]] = set()
    for rec, run, config, visible, label in latest.values():
        bkey = (run.dataset, run.benchmark, run.benchmark_version, run.budget)
        board = boards.get(bkey)
        if board is None:
            board = boards[bkey] = Board(run.dataset, run.benchmark, run.benchmark_version, run.budget)
        # A metric's own setting (ood-auroc's ood_score) names its column: values scored another way
        # never share a column, even when the fingerprint does not tell them apart.
        col = next((c for c in board.columns if c.metric == rec.name and c.fingerprint_hash == rec.fingerprint_hash
                    and c.key.split("#")[0] == label), None)  # fmt: skip
        if col is None:
            n = sum(c.key.split("#")[0] == label for c in board.columns)
            description, requires = _metric_facts(rec.name)
            col = Column(rec.name, rec.fingerprint_hash, rec.fingerprint, rec.direction, rec.unit,
                         label if n == 0 else f"{label}#{n + 1}", description, requires)  # fmt: skip
            board.columns.append(col)
        rkey = (bkey, run.model, _canonical(config), _canonical(visible))
        row = rows.get(rkey)
        if row is None:
            _, caps = _model_facts(run.model)
            row = rows[rkey] = Row(run.family, run.model, caps, visible, config, params=run.num_params)
            row.nfe = network_evaluations(run.model, {**(run.config.get("model") or {}), **(rec.settings or {})})
            board.rows.append(row)
        cell = row.cells.setdefault(col.key, Cell())
        cell.values.append(rec.value)
        cell.run_ids.append(run.id)
        cell.seeds.append(run.seed)
        cell.intervals.append(rec.interval)
        cell.seconds.append(rec.seconds)
        cell.evaluations.append(rec.network_evaluations)
        if (rkey, run.id) not in seen_runs:
            seen_runs.add((rkey, run.id))
            row.run_ids.append(run.id)
            row.seeds.append(run.seed)
            if run.kind == "trained":  # scored samples and pretrained models have no training cost
                row.images_seen.append(run.images_seen)
                row.train_seconds.append(run.train_seconds)  # training only: wall_seconds includes the evaluation
            row.devices.add(run.device)
            if (run.message or "").startswith("warning:"):
                row.warned.append(run.id)

    out = []
    for board in boards.values():
        order = _metric_order(board.benchmark)
        board.columns.sort(key=lambda c: (order.index(c.metric) if c.metric in order else len(order), c.key))
        _choose_shown(board)
        board.headline = _headline(board.benchmark)
        if metric:
            if not any(c.metric == metric for c in board.columns):
                continue
            board.sort_by = board.column(metric).key  # type: ignore[union-attr]
        out.append(board)
    return sorted(out, key=lambda b: (b.dataset, b.benchmark, b.version, ("smoke", "quick", "standard").index(b.budget)
                                      if b.budget in ("smoke", "quick", "standard") else 9, b.budget))  # fmt: skip


def _choose_shown(board: Board) -> None:
    """Beside each model name, the settings a reader needs: evaluation settings away from the
    model's defaults, and whatever differs between rows of the same model."""
    by_model: dict[str, list[Row]] = {}
    for row in board.rows:
        by_model.setdefault(row.model, []).append(row)
    for model, rows in by_model.items():
        _, _, defaults = _field_meta(model)
        differ_cfg = _differing([r.config for r in rows])
        differ_eval = _differing([r.settings for r in rows])
        for row in rows:
            shown = {k: v for k, v in row.settings.items() if k in differ_eval or (k in defaults and defaults[k] != v)}
            shown.update({k: row.config.get(k) for k in sorted(differ_cfg)})
            row.shown = shown


def rank_of(store: Store, run_id: str, metric: str, fingerprint_hash: str) -> tuple[int, int] | None:
    """(rank, rows with a value) of the best row holding ``run_id`` in its board's column for ``metric``;
    the rank is shared with the rows its difference is not resolved from."""
    run = store.get_run(run_id)
    for board in build_boards(store, dataset=run.dataset, benchmark=run.benchmark):
        if board.budget != run.budget or board.version != run.benchmark_version:
            continue
        col = next((c for c in board.columns if c.metric == metric and c.fingerprint_hash == fingerprint_hash), None)
        if col is None:
            return None
        ranked = [r for r in board.ranked(col.key) if col.key in r.cells]
        for row in ranked:
            if run_id in row.run_ids:
                rank = board.rank(row, col.key)
                assert rank is not None
                return rank, len(ranked)
    return None
