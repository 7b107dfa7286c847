"""Portable results: runs written to a JSON-lines file on one machine and added to any store.

One line per run (:data:`FORMAT`): every column of the run row, of its metric values (with their
fingerprints and whatever else a value carries, e.g. an interval and its cost in seconds and network
evaluations) and its loss points. Checkpoints
and other files stay behind: an imported run is ranked and shown, not resumed or re-evaluated.

Import keeps where a run came from (``provenance``: the host and commit that made it, the file it
was imported from) and refuses exact duplicates. Values land in leaderboard columns by their
fingerprint hash, which import recomputes from the fingerprint: an imported value ranks beside
a local one only when the two were measured the same way.

Committed suite snapshots (``results/<suite>/``: ``runs.json`` from ``genbench runs --format
json`` and ``leaderboard.json``) are read too: their per-run values are recovered from the
leaderboard's rows; they carry only the fingerprint's hash, which is kept as it is.
"""

from __future__ import annotations

import json
import re
import socket
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import DateTime, inspect, select

from genbench.api.metric import fingerprint_hash
from genbench.errors import GenbenchError
from genbench.store.db import Store
from genbench.store.schema import LossPoint, MetricRecord, Run, utcnow

FORMAT = "genbench-run/1"
EXPORTABLE = ("finished", "diverged")  # results; a live or failed run is not (its process may still write it)
_RUN_SKIP = {"owner"}  # which process held the run: meaningless in another store
_METRIC_SKIP = {"id", "run_id"}


def _columns(model: type, skip: set[str]) -> list[str]:
    columns: list[Any] = list(inspect(model).columns)
    return [c.key for c in columns if c.key not in skip]


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def _row_dict(row: Any, model: type, skip: set[str]) -> dict[str, Any]:
    return {k: _plain(getattr(row, k)) for k in _columns(model, skip)}


def _from_plain(model: type, values: dict[str, Any], skip: set[str]) -> dict[str, Any]:
    """Keyword arguments for ``model`` from a record: known columns only, datetimes parsed back."""
    out: dict[str, Any] = {}
    columns: list[Any] = list(inspect(model).columns)
    for col in columns:
        if col.key in skip or col.key not in values:
            continue
        value = values[col.key]
        if isinstance(col.type, DateTime) and isinstance(value, str):
            value = datetime.fromisoformat(value)
        out[col.key] = value
    return out


# -- export -------------------------------------------------------------------------------


def export_records(store: Store, run_ids: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """One record per run: the named runs (ids or unique prefixes), else every exportable run."""
    with store.session(write=False) as s:
        if run_ids:
            runs = [store.get_run(r) for r in run_ids]
            for run in runs:
                if run.status not in EXPORTABLE:
                    raise GenbenchError(
                        f"run {run.id} is {run.status}: only {' or '.join(EXPORTABLE)} runs are exported"
                    )
        else:
            runs = list(s.scalars(select(Run).where(Run.status.in_(EXPORTABLE)).order_by(Run.created_at)))
        records = []
        for run in runs:
            metrics = s.scalars(select(MetricRecord).where(MetricRecord.run_id == run.id).order_by(MetricRecord.id))
            losses = s.scalars(select(LossPoint).where(LossPoint.run_id == run.id).order_by(LossPoint.id))
            records.append(
                {
                    "format": FORMAT,
                    "run": _row_dict(run, Run, _RUN_SKIP),
                    "metrics": [_row_dict(m, MetricRecord, _METRIC_SKIP) for m in metrics],
                    "losses": [[p.step, p.images_seen, p.name, p.value] for p in losses],
                }
            )
    return records


def write_jsonl(records: Iterable[dict[str, Any]], path: Path) -> int:
    """Write records one per line, atomically (a temporary file renamed into place); returns how many."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    n = 0
    with open(tmp, "w", encoding="utf-8") as f:
        for record in records:
            f.write(json.dumps(record, sort_keys=True, default=str) + "\n")
            n += 1
    tmp.replace(path)
    return n


# -- reading ------------------------------------------------------------------------------


def read_records(path: Path) -> list[dict[str, Any]]:
    """The run records of an export file, or of a committed snapshot (its folder or runs.json)."""
    if path.is_dir():
        if (path / "runs.jsonl").is_file():
            return read_records(path / "runs.jsonl")
        if (path / "runs.json").is_file():
            return _snapshot_records(path / "runs.json")
        raise GenbenchError(f"{path} holds neither runs.jsonl (genbench export) nor runs.json (a snapshot)")
    if not path.is_file():
        raise GenbenchError(f"{path} not found: give a file written by `genbench export` or a results/ snapshot")
    if path.name == "runs.json":
        return _snapshot_records(path)
    records = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise GenbenchError(f"cannot read {path}: {exc}") from None
    for i, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise GenbenchError(f"{path} line {i} is not JSON ({exc.msg}): is it a `genbench export` file?") from None
        if not isinstance(record, dict) or record.get("format") != FORMAT:
            raise GenbenchError(f"{path} line {i} is not a genbench run record (expected format {FORMAT})")
        if not isinstance(record.get("run"), dict) or "id" not in record["run"]:
            raise GenbenchError(f"{path} line {i}: the record has no run")
        for m in record.get("metrics", []):
            if fingerprint_hash(m.get("fingerprint") or {}) != m.get("fingerprint_hash"):
                raise GenbenchError(
                    f"{path} line {i}: metric {m.get('name')} of run {record['run']['id']} has a fingerprint that "
                    "does not hash to its fingerprint_hash: the file was edited or is damaged"
                )
        records.append(record)
    return records


_OWN_SETTINGS = re.compile(r"^(?P<name>[^ ]+) \((?P<own>[^)]*)\)$")


def _snapshot_records(runs_json: Path) -> list[dict[str, Any]]:
    """Records of a committed snapshot: runs.json's rows with the values leaderboard.json gives each run.

    A leaderboard row is a mean over its runs: a value is recovered when the row has one run or
    when its runs agree (std 0); otherwise that metric of those runs is left out.
    """
    try:
        runs = json.loads(runs_json.read_text(encoding="utf-8"))
        board_path = runs_json.with_name("leaderboard.json")
        rows = json.loads(board_path.read_text(encoding="utf-8")) if board_path.is_file() else []
    except (OSError, json.JSONDecodeError) as exc:
        raise GenbenchError(f"cannot read the snapshot {runs_json.parent}: {exc}") from None
    if not isinstance(runs, list) or not isinstance(rows, list):
        raise GenbenchError(f"{runs_json} is not a snapshot's runs.json (`genbench runs --format json`)")
    metrics: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        if len(row.get("runs", [])) != 1 and row.get("std", 1.0) != 0.0:
            continue  # a mean over different values: no run's own value
        match = _OWN_SETTINGS.match(row.get("column", ""))
        own: dict[str, Any] = {}
        if match:  # a metric's own settings, e.g. "probe-acc (labels=100)"
            own = dict(part.split("=", 1) for part in match["own"].split(", ") if "=" in part)
        fingerprint = {"num_samples": row.get("num_samples"), "reference_count": row.get("reference_count")}
        for run_id in row.get("runs", []):
            metrics.setdefault(run_id, []).append(
                {
                    "name": row["metric"],
                    "value": row["mean"],
                    "direction": row["direction"],
                    "unit": row.get("unit", ""),
                    "fingerprint": {k: v for k, v in fingerprint.items() if v is not None},
                    "fingerprint_hash": row["fingerprint_hash"],
                    "settings": {**(row.get("settings") or {}), **own},
                    "seconds": row.get("eval_seconds") or 0.0,
                    "network_evaluations": row.get("network_evaluations") if len(row.get("runs", [])) == 1 else None,
                }
            )
    records = []
    for run in runs:
        if run.get("status") in EXPORTABLE and run.get("id") in metrics:
            records.append(
                {"format": FORMAT, "run": run, "metrics": metrics[run["id"]], "losses": [], "snapshot": True}
            )
    return records


# -- import -------------------------------------------------------------------------------


@dataclass
class ImportResult:
    imported: list[str] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)


def _canonical(record: dict[str, Any]) -> str:
    """What makes two records the same run: its row (where it was stored and came from aside) and values."""
    values = _from_plain(Run, record["run"], _RUN_SKIP | {"provenance", "run_dir", "heartbeat"})
    values.setdefault("kind", "trained")
    # A file written before a column existed (network_evaluations) holds the same run as a store that
    # read its rows as NULL there: an absent column and None are the same value.
    metrics = sorted(
        json.dumps({k: _plain(v) for k, v in _from_plain(MetricRecord, m, _METRIC_SKIP | {"created_at"}).items()
                    if v is not None}, sort_keys=True, default=str)
        for m in record.get("metrics", [])
    )  # fmt: skip
    return json.dumps(
        {"run": {k: _plain(v) for k, v in values.items()}, "metrics": metrics}, sort_keys=True, default=str
    )


def import_records(store: Store, records: Sequence[dict[str, Any]], source: str) -> ImportResult:
    """Add ``records`` to ``store`` in one transaction; exact duplicates of stored runs are refused.

    A run id already stored with different content is an error (nothing is written): two
    stores' runs collide only when one of them was edited or re-evaluated since.
    """
    store.require_writable()
    result = ImportResult()
    seen: dict[str, str] = {}
    here = socket.gethostname()
    with store.session() as s:
        for record in records:
            run_id = record["run"]["id"]
            canon = _canonical(record)
            if run_id in seen:
                if seen[run_id] != canon:
                    raise GenbenchError(f"run {run_id} appears twice in {source} with different contents")
                continue
            seen[run_id] = canon
            stored = s.get(Run, run_id)
            if stored is not None:
                local = export_records_in(s, stored)
                if _canonical(local) == canon:
                    result.duplicates.append(run_id)
                    continue
                raise GenbenchError(
                    f"run {run_id} from {source} is already in {store.display_url} with other contents "
                    "(re-evaluated or edited since): nothing imported"
                )
            values = _from_plain(Run, record["run"], _RUN_SKIP)
            provenance = dict(values.get("provenance") or {})
            provenance.setdefault("host", None)
            provenance.setdefault("commit", values.get("git_commit"))
            provenance["imported"] = {"from": source, "by": here, "at": utcnow().isoformat(timespec="seconds")}
            if record.get("snapshot"):
                provenance["imported"]["fingerprints"] = "hash only (a results/ snapshot)"
            values.update(provenance=provenance, owner=None)
            values.setdefault("kind", "trained")
            try:
                run = Run(**values)
            except TypeError as exc:
                raise GenbenchError(f"run {run_id} in {source} is malformed: {exc}") from None
            s.add(run)
            s.flush()
            for m in record.get("metrics", []):
                s.add(MetricRecord(run_id=run_id, **_from_plain(MetricRecord, m, _METRIC_SKIP)))
            for step, images, name, value in record.get("losses", []):
                s.add(LossPoint(run_id=run_id, step=step, images_seen=images, name=name, value=value))
            result.imported.append(run_id)
    return result


def export_records_in(s: Any, run: Run) -> dict[str, Any]:
    """The export record of a stored run, read in the open session ``s``."""
    metrics = s.scalars(select(MetricRecord).where(MetricRecord.run_id == run.id).order_by(MetricRecord.id))
    return {
        "run": _row_dict(run, Run, _RUN_SKIP),
        "metrics": [_row_dict(m, MetricRecord, _METRIC_SKIP) for m in metrics],
    }
