"""Re-render a committed snapshot (results/<suite>/) with today's leaderboard: ranks with ties, intervals.

    .venv/bin/python results/rerank.py results/digits [results/mnist-quick ...]

A snapshot keeps its runs (runs.json) and its leaderboard's values (leaderboard.json), not the
store they came from. This rebuilds that store in a temporary folder (runs, their values under
their original fingerprint hashes, the report's images as artifacts) and writes, from it, the
snapshot's leaderboard.md, leaderboard.json, leaderboard.txt (the terminal view at 80 columns)
and report/. Nothing is trained or evaluated again.

Intervals: values written before genbench stored intervals have none, except proportions, whose
t-interval is a function of the proportion p and its count n alone (the per-item values are 0 and
1: p ± t(0.975, n-1) · sqrt(p (1 - p) / (n - 1)), exactly what the metric computes today): accuracy
and probe-acc (n test images), cond-acc and clf-precision (n samples), clf-recall and
clf-coverage (n reference images). A value without an interval resolves no ranking, so single-seed
rows of such metrics (nll, clf-fd...) share their ranks: the snapshot says what it cannot resolve.
"""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import sys
import tempfile
from datetime import datetime
from pathlib import Path

from genbench.api.uncertainty import mean_interval, resolved
from genbench.report.leaderboard import build_boards
from genbench.store import Store
from genbench.store.schema import Artifact, MetricRecord, Run

# metric -> which count its 0/1 items are: the generated samples or the reference (test) images
PROPORTIONS = {
    "accuracy": "reference_count",
    "probe-acc": "reference_count",
    "cond-acc": "num_samples",
    "clf-precision": "num_samples",
    "clf-recall": "reference_count",
    "clf-coverage": "reference_count",
}


def proportion_interval(p: float, n: int) -> tuple[float, float] | None:
    """The t-interval of the mean of n values in {0, 1} whose mean is p (rounded to a whole count)."""
    ones = round(p * n)
    if n < 2 or not math.isclose(ones / n, p, abs_tol=0.5 / n):
        return None
    iv = mean_interval([1.0] * ones + [0.0] * (n - ones))
    return None if iv is None else (iv.low, iv.high)


def own_settings(column: str, metric: str) -> dict[str, str]:
    """The metric's own settings in a column key: 'probe-acc (labels=all)#2' -> {'labels': 'all'}."""
    key = column.split("#")[0]
    if not key.startswith(metric + " ("):
        return {}
    inner = key[len(metric) + 2 : -1]
    return dict(part.split("=", 1) for part in inner.split(", "))


def rebuild(snapshot: Path, where: Path) -> Store:
    runs = json.loads((snapshot / "runs.json").read_text())
    records = json.loads((snapshot / "leaderboard.json").read_text())
    images = where / "img"
    if (snapshot / "report" / "img").is_dir():
        shutil.copytree(snapshot / "report" / "img", images)
    store = Store(f"sqlite:///{where / 'genbench.db'}")
    with store.session() as s:
        for r in runs:
            fields = {k: v for k, v in r.items() if k in Run.__table__.columns}
            for key in ("created_at", "heartbeat"):
                fields[key] = datetime.fromisoformat(fields[key])
            fields["owner"] = None
            s.add(Run(**fields))
            for kind, name in (("samples", "samples"), ("loss_curve", "losses")):
                png = images / f"{r['id']}-{name}.png"
                if png.is_file():
                    s.add(Artifact(run_id=r["id"], kind=kind, path=str(png)))
        s.flush()
        for rec in records:
            n = len(rec["runs"])
            # One run: the value. Two (a duplicate seed): mean ± std/√2 gives back both values.
            spread = [0.0] if n == 1 else [-rec["std"] / math.sqrt(2), rec["std"] / math.sqrt(2)]
            if n > 2:
                raise SystemExit(f"{snapshot}: a row with {n} runs; its values cannot be recovered from mean and std")
            fingerprint = {k: rec[k] for k in ("num_samples", "reference_count") if rec.get(k) is not None}
            fingerprint["reference"] = f"{rec['dataset']}/test"
            for run_id, delta in zip(rec["runs"], spread):
                value = rec["mean"] + delta
                interval = None
                count_key = PROPORTIONS.get(rec["metric"])
                if count_key and rec.get(count_key):
                    interval = proportion_interval(value, int(rec[count_key]))
                s.add(
                    MetricRecord(
                        run_id=run_id, name=rec["metric"], value=value, direction=rec["direction"],
                        unit=rec["unit"], fingerprint=fingerprint, fingerprint_hash=rec["fingerprint_hash"],
                        settings={**rec["settings"], **own_settings(rec["column"], rec["metric"])},
                        ci_low=interval[0] if interval else None, ci_high=interval[1] if interval else None,
                        ci_method="t-from-proportion" if interval else None,
                    )
                )  # fmt: skip
    return store


def resolved_pairs(store: Store) -> list[str]:
    """Per column: how many of the pairwise orderings of its rows are resolved (genbench.api.uncertainty)."""
    lines = []
    for board in build_boards(store):
        for col in board.columns:
            entries = [r.cells[col.key].entry for r in board.rows if col.key in r.cells]
            pairs = [(a, b) for i, a in enumerate(entries) for b in entries[i + 1 :]]
            if pairs:
                n = sum(resolved(a, b) for a, b in pairs)
                lines.append(f"{board.title} {col.key}: {n} of {len(pairs)} pairwise orderings resolved")
    return lines


def render(snapshot: Path) -> None:
    genbench = str(Path(sys.executable).parent / "genbench")
    with tempfile.TemporaryDirectory() as tmp:
        where = Path(tmp)
        for line in resolved_pairs(rebuild(snapshot, where)):
            print(f"{snapshot.name}: {line}")
        dataset = json.loads((snapshot / "leaderboard.json").read_text())[0]["dataset"]
        base = [genbench, "leaderboard", "--dataset", dataset, "--results-dir", str(where)]
        for fmt, name in (("markdown", "leaderboard.md"), ("json", "leaderboard.json")):
            out = subprocess.run([*base, "--format", fmt], check=True, capture_output=True, text=True).stdout
            (snapshot / name).write_text(out)
        env = {"COLUMNS": "80", "PATH": "", "TERM": "dumb"}
        out = subprocess.run(base, check=True, capture_output=True, text=True, env=env).stdout
        (snapshot / "leaderboard.txt").write_text(out)
        shutil.rmtree(snapshot / "report", ignore_errors=True)
        cmd = [genbench, "report", "--dataset", dataset, "--results-dir", str(where), "--out", str(snapshot / "report")]
        subprocess.run(cmd, check=True, capture_output=True)
    print(f"re-ranked {snapshot}")


if __name__ == "__main__":
    for arg in sys.argv[1:]:
        render(Path(arg))
