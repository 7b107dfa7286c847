"""Read queries on the run store, shared by the CLI, the runner, the report and the suite planner.

Every query reads in its own read transaction (``Store.session(write=False)``: on SQLite it waits
for no writer) and returns rows that stay usable after it closes. Writes live in the store too,
never here.
"""

from __future__ import annotations

from sqlalchemy import func, select

from genbench.store.db import Store
from genbench.store.schema import LossPoint, MetricRecord, Run


def list_runs(
    store: Store,
    *,
    dataset: str | None = None,
    model: str | None = None,
    family: str | None = None,
    status: str | None = None,
) -> list[Run]:
    """Stored runs, newest first; each given field keeps the runs that have that value."""
    query = select(Run).order_by(Run.created_at.desc())
    for column, value in ((Run.dataset, dataset), (Run.model, model), (Run.family, family), (Run.status, status)):
        if value:
            query = query.where(column == value)
    with store.session(write=False) as s:
        return list(s.scalars(query).all())


def count_runs(store: Store, *, status: str | None = None) -> int:
    """How many runs are stored (with ``status``, when given)."""
    query = select(func.count()).select_from(Run)
    if status:
        query = query.where(Run.status == status)
    with store.session(write=False) as s:
        return s.scalar(query) or 0


def loss_history(store: Store, run_id: str) -> dict[str, list[tuple[int, int, float]]]:
    """Every logged loss of a run: name -> [(step, images seen, interval mean)] in step order."""
    query = select(LossPoint).where(LossPoint.run_id == run_id).order_by(LossPoint.step)
    history: dict[str, list[tuple[int, int, float]]] = {}
    with store.session(write=False) as s:
        for p in s.scalars(query):
            history.setdefault(p.name, []).append((p.step, p.images_seen, p.value))
    return history


def finished_metric_values(
    store: Store, *, dataset: str | None = None, benchmark: str | None = None
) -> list[tuple[MetricRecord, Run]]:
    """Every stored metric value of a finished run, with its run, in the order they were stored."""
    query = select(MetricRecord, Run).join(Run).where(Run.status == "finished")
    if dataset:
        query = query.where(Run.dataset == dataset)
    if benchmark:
        query = query.where(Run.benchmark == benchmark)
    with store.session(write=False) as s:
        return [(rec, run) for rec, run in s.execute(query.order_by(MetricRecord.id)).all()]


def runs_of_job(
    store: Store, *, model: str, benchmark: str, benchmark_version: int, budget: str, seed: int, config_hash: str
) -> list[Run]:
    """Stored runs of one model on one benchmark, budget, seed and resolved config, newest first."""
    query = (
        select(Run)
        .where(
            Run.model == model,
            Run.benchmark == benchmark,
            Run.benchmark_version == benchmark_version,
            Run.budget == budget,
            Run.seed == seed,
            Run.config_hash == config_hash,
        )
        .order_by(Run.created_at.desc())
    )
    with store.session(write=False) as s:
        return list(s.scalars(query).all())
