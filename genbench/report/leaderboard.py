"""Leaderboards: comparable metric values grouped, aggregated over seeds, ranked by direction.

Values are comparable when they share dataset, benchmark and version, budget, metric and
metric fingerprint. Runs of one model with one config (any seed) and one set of evaluation
settings (sampler, steps...) form a row: mean ± std over seeds.
"""

from __future__ import annotations

import json
import statistics
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from genbench.store import Store
from genbench.store.schema import MetricRecord, Run


@dataclass
class Row:
    family: str
    model: str
    settings: dict[str, Any]
    config_hash: str
    run_ids: list[str] = field(default_factory=list)
    seeds: list[int] = field(default_factory=list)
    values: list[float] = field(default_factory=list)
    params: int = 0

    @property
    def mean(self) -> float:
        return statistics.fmean(self.values)

    @property
    def std(self) -> float:
        return statistics.stdev(self.values) if len(self.values) > 1 else 0.0

    @property
    def label(self) -> str:
        extra = ", ".join(f"{k}={v}" for k, v in sorted(self.settings.items()))
        return f"{self.model} ({extra})" if extra else self.model


@dataclass
class Board:
    dataset: str
    benchmark: str
    version: int
    budget: str
    metric: str
    direction: str
    unit: str
    fingerprint_hash: str
    fingerprint: dict[str, Any]
    rows: list[Row] = field(default_factory=list)

    @property
    def title(self) -> str:
        arrow = "↓" if self.direction == "min" else "↑"
        unit = f" ({self.unit})" if self.unit else ""
        return (
            f"{self.benchmark} v{self.version} · {self.budget} · {self.metric}{unit} {arrow} "
            f"· fingerprint {self.fingerprint_hash}"
        )

    def ranked(self) -> list[Row]:
        return sorted(self.rows, key=lambda r: r.mean, reverse=self.direction == "max")


def build_boards(
    store: Store, *, dataset: str | None = None, benchmark: str | None = None, metric: str | None = None
) -> list[Board]:
    query = select(MetricRecord, Run).join(Run).where(Run.status == "finished")
    if dataset:
        query = query.where(Run.dataset == dataset)
    if benchmark:
        query = query.where(Run.benchmark == benchmark)
    if metric:
        query = query.where(MetricRecord.name == metric)
    with store.session() as s:
        pairs = s.execute(query.order_by(MetricRecord.id)).all()
    # A run re-evaluated with the same settings keeps its latest value.
    latest: dict[tuple[str, str, str, str], tuple[MetricRecord, Run]] = {}
    for rec, run in pairs:
        key = (run.id, rec.name, rec.fingerprint_hash, json.dumps(rec.settings, sort_keys=True))
        latest[key] = (rec, run)
    boards: dict[tuple[Any, ...], Board] = {}
    for rec, run in latest.values():
        bkey = (run.dataset, run.benchmark, run.benchmark_version, run.budget, rec.name, rec.fingerprint_hash)
        board = boards.get(bkey)
        if board is None:
            board = boards[bkey] = Board(
                run.dataset, run.benchmark, run.benchmark_version, run.budget, rec.name, rec.direction,
                rec.unit, rec.fingerprint_hash, rec.fingerprint,
            )  # fmt: skip
        row = next(
            (
                r
                for r in board.rows
                if r.model == run.model and r.config_hash == run.config_hash and r.settings == rec.settings
            ),
            None,
        )
        if row is None:
            row = Row(run.family, run.model, rec.settings, run.config_hash, params=run.num_params)
            board.rows.append(row)
        row.run_ids.append(run.id)
        row.seeds.append(run.seed)
        row.values.append(rec.value)
    return sorted(boards.values(), key=lambda b: (b.dataset, b.benchmark, b.budget, b.metric, b.fingerprint_hash))


def rank_of(store: Store, run_id: str, metric: str, fingerprint_hash: str) -> tuple[int, int] | None:
    """(rank, rows) of the row holding ``run_id`` on its board for ``metric``."""
    run = store.get_run(run_id)
    for board in build_boards(store, dataset=run.dataset, benchmark=run.benchmark, metric=metric):
        if board.fingerprint_hash != fingerprint_hash or board.budget != run.budget:
            continue
        ranked = board.ranked()
        for i, row in enumerate(ranked, 1):
            if run_id in row.run_ids:
                return i, len(ranked)
    return None
