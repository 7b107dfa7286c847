"""Write tests/data/genbench-<head revision>.db with this genbench's store (see README.md here).

.venv/bin/python tests/data/write_db.py
"""

from __future__ import annotations

import sqlite3
from datetime import datetime
from pathlib import Path

from genbench.store import Store, migrate
from genbench.store.schema import Artifact, LossPoint, MetricRecord, Run

path = Path(__file__).parent / f"genbench-{migrate.head()}.db"
if path.exists():
    raise SystemExit(f"{path} exists: files here are never rewritten")
store = Store(f"sqlite:///{path}")
common = dict(
    family="vae", model="vae", dataset="digits", benchmark="digits", benchmark_version=1, budget="smoke",
    budget_images=2048, config={"model": {"latent_dim": 32}, "train": {"batch_size": 64}, "eval": {"num_samples": 64}},
    config_hash="0123456789abcdef", versions={"genbench": "0.1.0"}, git_commit=None, device="cpu", hardware="test",
    num_params=1000, images_seen=2048, steps=32, train_seconds=1.0, wall_seconds=2.0, run_dir="runs/x",
    created_at=datetime(2026, 1, 1), heartbeat=datetime(2026, 1, 1),
)  # fmt: skip
with store.session() as s:
    for run_id, seed, value, status, owner in (
        ("a1b2c3d4", 0, 4.5, "finished", None),
        ("a1b2ffff", 1, 4.3, "finished", None),
        ("deadbeef", 2, 0.0, "evaluating", "gone-host:1:abc"),
    ):
        s.add(Run(id=run_id, status=status, seed=seed, owner=owner, **common))
        s.flush()
        if status == "finished":
            s.add(MetricRecord(run_id=run_id, name="nll", value=value, direction="min", unit="bits/dim",
                               fingerprint={"num_samples": 64}, fingerprint_hash="fp01", settings={"iwae_k": 64},
                               seconds=0.1, created_at=datetime(2026, 1, 1), ci_low=value - 0.2, ci_high=value + 0.2,
                               ci_method="t", network_evaluations=6400))  # fmt: skip
            s.add(LossPoint(run_id=run_id, step=32, images_seen=2048, name="loss", value=1.5))
            s.add(Artifact(run_id=run_id, kind="checkpoint", path="runs/x/checkpoint.pt"))
store.engine.dispose()
con = sqlite3.connect(path)
con.execute("PRAGMA journal_mode=DELETE")  # one self-contained file, no -wal beside it
con.close()
print(f"wrote {path}")
