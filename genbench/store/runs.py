"""Every write a run makes to the store: its row, losses and checkpoints while it trains, how a
session of it ends, its metrics and its artifacts. Code outside ``genbench/store`` never opens a
write session: the runner and the suite executor call these methods.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from genbench.store import queries
from genbench.store.db import Store
from genbench.store.schema import Artifact, LossPoint, MetricRecord, Run, utcnow

if TYPE_CHECKING:
    from genbench.api.metric import Score

LossHistory = dict[str, list[tuple[int, int, float]]]  # loss name -> [(step, images seen, interval mean)]


class TrainResult(Protocol):
    """What :meth:`RunWriter.stop` stores of a training session (genbench.engine.trainer.TrainResult)."""

    step: int
    images_seen: int
    step_seconds: float  # time inside the model's training steps


class RunWriter:
    """The writes of one process's session of one run.

    Logged losses wait in ``pending`` and are written with the next checkpoint or with the end of
    the session: a run resumed from its checkpoint never stores a loss point twice.
    """

    def __init__(self, store: Store, run_id: str) -> None:
        self.store, self.run_id = store, run_id
        self.pending: list[LossPoint] = []

    # -- start ---------------------------------------------------------------------------

    def create(self, run: Run) -> None:
        """Store a new run's row (status "running", owned by this process)."""
        with self.store.session() as s:
            s.add(run)

    def restart(self, after_step: int) -> None:
        """Before a resumed session: forget losses logged after its checkpoint (the session logs them
        again) and metrics of an evaluation that was cut short (they are computed again)."""
        with self.store.session() as s:
            s.execute(delete(LossPoint).where(LossPoint.run_id == self.run_id, LossPoint.step > after_step))
            s.execute(delete(MetricRecord).where(MetricRecord.run_id == self.run_id))

    # -- while training ----------------------------------------------------------------

    def log_losses(self, step: int, images_seen: int, losses: dict[str, float]) -> None:
        """Keep the finite losses for the next write (NaN/inf are reported, not stored)."""
        for name, value in losses.items():
            if math.isfinite(value):
                self.pending.append(
                    LossPoint(run_id=self.run_id, step=step, images_seen=images_seen, name=name, value=value)
                )

    def checkpointed(self, step: int, images_seen: int, path: Path) -> None:
        """A checkpoint was saved: store the pending losses, the progress and (once) the checkpoint artifact."""
        with self.store.session() as s:
            s.add_all(self.pending)
            row = s.get(Run, self.run_id)
            row.steps, row.images_seen, row.heartbeat = step, images_seen, utcnow()
            if not any(a.kind == "checkpoint" for a in row.artifacts):
                s.add(Artifact(run_id=self.run_id, kind="checkpoint", path=str(Path(path).resolve())))
        self.pending.clear()

    # -- end of a session ----------------------------------------------------------------

    def stop(
        self,
        status: str,
        message: str,
        *,
        result: TrainResult | None = None,
        wall: float = 0.0,
        release: bool = True,
    ) -> None:
        """Store where the session got to: status, message, pending losses, timings.
        ``release`` frees the run (no owner): false while it goes on to be evaluated."""
        with self.store.session() as s:
            s.add_all(self.pending)
            row = s.get(Run, self.run_id)
            row.status, row.message, row.heartbeat = status, message or None, utcnow()
            row.wall_seconds = (row.wall_seconds or 0.0) + wall
            if release:
                row.owner = None
            if result is not None:
                row.steps, row.images_seen = result.step, result.images_seen
                row.train_seconds = (row.train_seconds or 0.0) + result.step_seconds
        self.pending.clear()

    def fail(self, message: str, *, wall: float = 0.0) -> bool:
        """Mark the run failed if the database still takes writes; False when it refused (a full
        disk may refuse them too: then the heartbeat stops and the run shows as dead, which resume
        handles the same way)."""
        try:
            self.stop("failed", message, wall=wall)
            return True
        except Exception:
            self.pending.clear()
            return False

    def warn(self, message: str) -> None:
        """A training warning shown with the run (it stays on the finished run)."""
        with self.store.session() as s:
            s.get(Run, self.run_id).message = message

    def finish(self, scores: Sequence[Score], artifacts: Iterable[tuple[str, Path]] = (), *, wall: float) -> None:
        """Store the metrics and mark the run finished, in one transaction: a finished run always
        has its metrics. ``artifacts`` (kind, path) made while evaluating go in the same transaction."""
        with self.store.session() as s:
            row = s.get(Run, self.run_id)
            row.status, row.owner, row.heartbeat = "finished", None, utcnow()
            row.wall_seconds = (row.wall_seconds or 0.0) + wall
            _add_scores(s, self.run_id, scores)
            _add_artifacts(s, self.run_id, artifacts)

    # -- results -------------------------------------------------------------------------

    def add_scores(self, scores: Sequence[Score], artifacts: Iterable[tuple[str, Path]] = ()) -> None:
        """Store metric values of a re-evaluation (``genbench eval``), and its artifacts if any."""
        with self.store.session() as s:
            _add_scores(s, self.run_id, scores)
            _add_artifacts(s, self.run_id, artifacts)

    def add_artifacts(self, artifacts: Iterable[tuple[str, Path]]) -> None:
        """Store files kept with the run; a (kind, path) already stored is not stored twice."""
        with self.store.session() as s:
            _add_artifacts(s, self.run_id, artifacts)

    def loss_history(self) -> LossHistory:
        """Every stored loss of the run: name -> [(step, images seen, interval mean)] in step order."""
        return queries.loss_history(self.store, self.run_id)


def _add_scores(s: Session, run_id: str, scores: Sequence[Score]) -> None:
    for sc in scores:
        s.add(
            MetricRecord(
                run_id=run_id,
                name=sc.name,
                value=sc.value,
                direction=sc.direction,
                unit=sc.unit,
                fingerprint=sc.fingerprint,
                fingerprint_hash=sc.fingerprint_hash,
                settings=sc.settings,
                seconds=sc.seconds,
                ci_low=None if sc.interval is None else sc.interval.low,
                ci_high=None if sc.interval is None else sc.interval.high,
                ci_method=None if sc.interval is None else sc.interval.method,
                network_evaluations=sc.evaluations,
            )
        )


def _add_artifacts(s: Session, run_id: str, artifacts: Iterable[tuple[str, Path]]) -> None:
    """Artifacts are stored with absolute paths, so any folder's `show` and `report` find them."""
    stored = {(a.kind, a.path) for a in s.scalars(select(Artifact).where(Artifact.run_id == run_id))}
    for kind, path in artifacts:
        absolute = str(Path(path).resolve())
        if (kind, absolute) not in stored:
            s.add(Artifact(run_id=run_id, kind=kind, path=absolute))
            stored.add((kind, absolute))


def stored_path(path: str, run_id: str, results_dir: Path) -> Path:
    """Where a stored run folder or artifact path is on this machine.

    Paths are stored absolute. Rows written before that hold a path relative to the folder the
    command ran in (``results/demo/runs/<id>/samples.png``): it is read against ``results_dir``,
    the results folder that holds ``runs/<id>/``.
    """
    p = Path(path)
    if p.is_absolute():
        return p
    parts = p.parts
    for i in range(len(parts) - 1):
        if parts[i] == "runs" and parts[i + 1] == run_id:
            return (Path(results_dir) / Path(*parts[i:])).resolve()
    return (Path(results_dir) / p).resolve()
