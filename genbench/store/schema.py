"""The schema: runs, their metric values, loss points and artifacts."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import JSON, BigInteger, DateTime, Float, ForeignKey, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from genbench.api.uncertainty import Interval

SCHEMA_VERSION = 5  # also kept in meta.schema_version; Alembic revisions live in genbench/store/migrations

# "evaluating": trained, metrics not stored yet. Only "finished" runs are ranked.
# "trained": genbench trained it; "samples": images scored from a file (`genbench score`);
# "pretrained": a model evaluated without training. Only trained runs have training costs.
RUN_KINDS = ("trained", "samples", "pretrained")
RUN_STATUSES = ("running", "evaluating", "finished", "failed", "interrupted", "diverged")
LIVE_STATUSES = ("running", "evaluating")  # a process owns the run and keeps its heartbeat fresh


def utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


class Base(DeclarativeBase):
    pass


class Meta(Base):
    """Key/value facts about the database itself, e.g. its schema version."""

    __tablename__ = "meta"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(String(256))


class Run(Base):
    __tablename__ = "runs"

    id: Mapped[str] = mapped_column(String(16), primary_key=True)
    status: Mapped[str] = mapped_column(String(16), index=True)
    family: Mapped[str] = mapped_column(String(64))
    model: Mapped[str] = mapped_column(String(64), index=True)
    dataset: Mapped[str] = mapped_column(String(64), index=True)
    benchmark: Mapped[str] = mapped_column(String(64))
    benchmark_version: Mapped[int] = mapped_column(Integer)
    budget: Mapped[str] = mapped_column(String(16))
    budget_images: Mapped[int] = mapped_column(Integer)
    seed: Mapped[int] = mapped_column(Integer)
    config: Mapped[dict[str, Any]] = mapped_column(JSON)  # resolved model/train/eval configs
    config_hash: Mapped[str] = mapped_column(String(32))
    versions: Mapped[dict[str, Any]] = mapped_column(JSON)  # package versions
    git_commit: Mapped[str | None] = mapped_column(String(64), nullable=True)
    device: Mapped[str] = mapped_column(String(16))
    hardware: Mapped[str] = mapped_column(String(256))
    num_params: Mapped[int] = mapped_column(Integer, default=0)
    images_seen: Mapped[int] = mapped_column(Integer, default=0)
    steps: Mapped[int] = mapped_column(Integer, default=0)
    train_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    wall_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    run_dir: Mapped[str] = mapped_column(Text)
    message: Mapped[str | None] = mapped_column(Text, nullable=True)  # why it failed/diverged
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    heartbeat: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    owner: Mapped[str | None] = mapped_column(String(128), nullable=True)  # host:pid:token of the live process
    kind: Mapped[str] = mapped_column(String(16), default="trained", server_default="trained")  # RUN_KINDS
    # Where the entry came from: host and commit that made it, a scored file's sha256 and label, an import's file.
    provenance: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)

    metrics: Mapped[list[MetricRecord]] = relationship(back_populates="run", cascade="all, delete-orphan")
    artifacts: Mapped[list[Artifact]] = relationship(back_populates="run", cascade="all, delete-orphan")


class MetricRecord(Base):
    __tablename__ = "metrics"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id"), index=True)
    name: Mapped[str] = mapped_column(String(64))
    value: Mapped[float] = mapped_column(Float)
    direction: Mapped[str] = mapped_column(String(8))
    unit: Mapped[str] = mapped_column(String(32), default="")
    fingerprint: Mapped[dict[str, Any]] = mapped_column(JSON)
    fingerprint_hash: Mapped[str] = mapped_column(String(32), index=True)
    settings: Mapped[dict[str, Any]] = mapped_column(JSON)  # the model's eval-time settings (sampler, steps...)
    seconds: Mapped[float] = mapped_column(Float, default=0.0)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    # The value's 95% evaluation interval and how it was computed; NULL: no interval (rows written
    # before schema 3, or a metric that gives none).
    ci_low: Mapped[float | None] = mapped_column(Float, nullable=True)
    ci_high: Mapped[float | None] = mapped_column(Float, nullable=True)
    ci_method: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # Network evaluations computing the value (genbench.api.cost); NULL: unknown (rows stored before
    # schema 5, values scored from files). ``seconds`` beside it is the wall time.
    network_evaluations: Mapped[int | None] = mapped_column(BigInteger, nullable=True)

    run: Mapped[Run] = relationship(back_populates="metrics")

    @property
    def interval(self) -> Interval | None:
        if self.ci_low is None or self.ci_high is None:
            return None
        return Interval(self.ci_low, self.ci_high, self.ci_method or "")


class LossPoint(Base):
    __tablename__ = "losses"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id"), index=True)
    step: Mapped[int] = mapped_column(Integer)
    images_seen: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(64))
    value: Mapped[float] = mapped_column(Float)


class Artifact(Base):
    __tablename__ = "artifacts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id"), index=True)
    kind: Mapped[str] = mapped_column(String(32))  # checkpoint, samples, loss_curve...
    path: Mapped[str] = mapped_column(Text)

    run: Mapped[Run] = relationship(back_populates="artifacts")


class JobClaim(Base):
    """A suite job some suite runner is running now: the unique key makes the claim atomic.

    Made before the job's process starts (whose run row appears only seconds later), refreshed
    like a run's heartbeat while the runner follows the job, deleted when the job ends; a claim
    whose runner stopped beating (or whose process on this host is gone) may be taken over."""

    __tablename__ = "job_claims"

    key: Mapped[str] = mapped_column(String(255), primary_key=True)  # model|benchmark|version|budget|seed|hash
    owner: Mapped[str] = mapped_column(String(128))  # host:pid:token of the suite runner
    heartbeat: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
