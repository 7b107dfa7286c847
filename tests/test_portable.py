"""Portable results: `genbench export` / `genbench import` between stores, and committed snapshots."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from genbench.api.metric import fingerprint_hash
from genbench.store import Store
from genbench.store.schema import MetricRecord, Run
from genbench.suite import load_suite
from genbench.suite.plan import plan
from genbench.testing import run_cli

genbench = run_cli
REPO = Path(__file__).resolve().parents[1]

SUITE = """
name: toy-port
version: 1
device: cpu
budget: smoke
seeds: [0, 1]
entries:
  - benchmark: digits
    models: [toy-pixel]
    set: [eval.num_samples=32, train.log_every=5]
"""


def _store(folder: Path) -> Store:
    return Store(f"sqlite:///{folder / 'genbench.db'}")


def _board(capsys, folder: Path) -> list[dict]:
    code, out, err = genbench(capsys, "leaderboard", "--format", "json", "--results-dir", str(folder))
    assert code == 0, err
    return json.loads(out)


@pytest.fixture
def suite_store(toy_plugins, results, tmp_path, capsys):
    """A store where the toy suite ran (two seeds of toy-pixel on digits), and the suite file."""
    path = tmp_path / "toy-port.suite.yaml"
    path.write_text(SUITE)
    code, out, err = genbench(capsys, "suite", "run", str(path), "--results-dir", str(results))
    assert code == 0, out + err
    return results, path


def test_export_import_moves_a_suite_to_another_store(suite_store, toy_plugins, tmp_path, capsys):
    source, suite_path = suite_store
    out = tmp_path / "toy.jsonl"
    code, stdout, err = genbench(capsys, "export", "--suite", str(suite_path), "--out", str(out),
                                 "--results-dir", str(source))  # fmt: skip
    assert code == 0, err
    assert "exported 2 runs" in stdout
    lines = out.read_text().splitlines()
    assert len(lines) == 2 and all(json.loads(line)["format"] == "genbench-run/1" for line in lines)
    assert "checkpoint.pt" not in out.read_text()  # files stay behind

    target = tmp_path / "other"
    code, stdout, err = genbench(capsys, "import", str(out), "--results-dir", str(target))
    assert code == 0, err
    assert "imported 2 runs" in stdout

    # The same leaderboard, value for value and fingerprint for fingerprint.
    assert _board(capsys, target) == _board(capsys, source)
    # Provenance: the host and commit that made the runs, and where they were imported from.
    with _store(source).session(write=False) as s:
        src_runs = {r.id: r for r in s.query(Run)}
        src_metrics = s.query(MetricRecord).count()
    for run_id, src in src_runs.items():
        imported = _store(target).get_run(run_id)
        assert imported.provenance["host"] == socket.gethostname()
        assert imported.provenance["commit"] == src.git_commit
        assert imported.provenance["imported"]["from"] == str(out)
        assert imported.config == src.config and imported.versions == src.versions
        cost = [(m.name, m.value, m.fingerprint_hash, m.seconds, m.network_evaluations) for m in imported.metrics]
        assert cost == [
            (m.name, m.value, m.fingerprint_hash, m.seconds, m.network_evaluations)
            for m in _store(source).get_run(run_id).metrics
        ]
        # each value's cost travels with it (a value computed from samples drawn for another counts 0)
        assert all(c[4] is not None for c in cost) and sum(c[4] for c in cost) > 0
    # The suite counts the imported finished runs as done: nothing to run in the other store.
    assert {p.action for p in plan(load_suite(suite_path), toy_plugins, _store(target))} == {"done"}
    code, stdout, _ = genbench(capsys, "suite", "run", str(suite_path), "--results-dir", str(target))
    assert code == 0 and "0 to run" in stdout

    # Importing the same file again is refused: exact duplicates, nothing stored twice.
    code, stdout, err = genbench(capsys, "import", str(out), "--results-dir", str(target))
    assert code == 2
    assert "refused 2 already in the store" in stdout and "nothing imported" in err
    with _store(target).session(write=False) as s:
        assert s.query(Run).count() == 2 and s.query(MetricRecord).count() == src_metrics


def test_import_refuses_damaged_or_conflicting_records_and_stores_nothing(suite_store, tmp_path, capsys):
    source, _ = suite_store
    out = tmp_path / "all.jsonl"
    assert genbench(capsys, "export", "--out", str(out), "--results-dir", str(source))[0] == 0
    first = json.loads(out.read_text().splitlines()[0])

    edited = dict(first, metrics=[dict(first["metrics"][0], fingerprint={"num_samples": 99})])
    bad = tmp_path / "edited.jsonl"
    bad.write_text(json.dumps(edited) + "\n")
    target = tmp_path / "t"
    code, _, err = genbench(capsys, "import", str(bad), "--results-dir", str(target))
    assert code == 2 and "does not hash to its fingerprint_hash" in err and "Traceback" not in err

    # Same run id, another value: the store's run is not overwritten, and the file's other runs wait too.
    assert genbench(capsys, "import", str(out), "--results-dir", str(target))[0] == 0
    other = dict(first, metrics=[dict(first["metrics"][0], value=first["metrics"][0]["value"] + 1)])
    both = tmp_path / "both.jsonl"
    both.write_text(json.dumps(other) + "\n")
    code, _, err = genbench(capsys, "import", str(both), "--results-dir", str(target))
    assert code == 2 and f"run {first['run']['id']}" in err and "other contents" in err
    assert _store(target).get_run(first["run"]["id"]).metrics[0].value == first["metrics"][0]["value"]

    garbage = tmp_path / "garbage.jsonl"
    garbage.write_text("not json\n")
    code, _, err = genbench(capsys, "import", str(garbage), "--results-dir", str(target))
    assert code == 2 and "line 1 is not JSON" in err


def test_values_measured_another_way_do_not_rank_beside_local_ones(suite_store, tmp_path, capsys):
    source, _ = suite_store
    out = tmp_path / "all.jsonl"
    assert genbench(capsys, "export", "--out", str(out), "--results-dir", str(source))[0] == 0
    record = json.loads(out.read_text().splitlines()[0])
    # A colleague's run scored on more samples: another fingerprint, so another column.
    metric = record["metrics"][0]
    fp = dict(metric["fingerprint"], num_samples=metric["fingerprint"]["num_samples"] * 2)
    record["run"]["id"] = "c011ea90"
    record["metrics"] = [dict(metric, fingerprint=fp, fingerprint_hash=fingerprint_hash(fp))]
    theirs = tmp_path / "theirs.jsonl"
    theirs.write_text(json.dumps(record) + "\n")
    before = {r["fingerprint_hash"]: r["mean"] for r in _board(capsys, source) if r["metric"] == metric["name"]}
    assert genbench(capsys, "import", str(theirs), "--results-dir", str(source))[0] == 0
    after = {
        r["fingerprint_hash"]: (r["column"], r["mean"]) for r in _board(capsys, source) if r["metric"] == metric["name"]
    }
    # The local column keeps the local values only; the imported value has a column of its own.
    assert after[metric["fingerprint_hash"]] == (metric["name"], pytest.approx(before[metric["fingerprint_hash"]]))
    assert after[fingerprint_hash(fp)] == (f"{metric['name']}#2", pytest.approx(metric["value"]))


@pytest.mark.parametrize(
    "snapshot", ["digits", "mnist-quick", "fashion-mnist-quick", "mnist-restore-quick", "mnist2color-quick"]
)
def test_a_committed_snapshot_imports_with_its_leaderboard(results, capsys, snapshot):
    folder = REPO / "results" / snapshot
    code, stdout, err = genbench(capsys, "import", str(folder), "--results-dir", str(results))
    assert code == 0, err
    committed = json.loads((folder / "leaderboard.json").read_text())
    key = ("model", "column", "fingerprint_hash")

    def row(r: dict) -> tuple[str, ...]:  # a row's runs as a set: their order is the order they were stored
        return (*(json.dumps(r[k]) for k in key), json.dumps(sorted(r["runs"])))

    expected = {row(r): r["mean"] for r in committed}
    datasets = {r["dataset"] for r in committed}  # the snapshot's leaderboard is of its suite's dataset
    got = {row(r): r["mean"] for r in _board(capsys, results) if r["dataset"] in datasets}
    assert got == pytest.approx(expected)
    imported = _store(results).get_run(committed[0]["runs"][0]).provenance["imported"]
    assert imported["from"].endswith(f"results/{snapshot}")
    if (folder / "runs.jsonl").exists():  # a snapshot with its export carries every fingerprint whole
        assert "fingerprints" not in imported
    else:  # an older one is rebuilt from its leaderboard: fingerprints by hash only
        assert imported["fingerprints"].startswith("hash only")


def test_scored_samples_travel_with_their_kind_and_provenance(results, tmp_path, capsys):
    import numpy as np

    np.savez(tmp_path / "s.npz", np.random.default_rng(0).integers(0, 256, (360, 8, 8, 1), dtype=np.uint8))
    code, _, err = genbench(capsys, "score", str(tmp_path / "s.npz"), "--benchmark", "digits", "--name", "mine",
                            "--threads", "1", "--results-dir", str(results))  # fmt: skip
    assert code == 0, err
    out = tmp_path / "e.jsonl"
    assert genbench(capsys, "export", "--out", str(out), "--results-dir", str(results))[0] == 0
    target = tmp_path / "t"
    assert genbench(capsys, "import", str(out), "--results-dir", str(target))[0] == 0
    assert _board(capsys, target) == _board(capsys, results)
    (run_id,) = [json.loads(line)["run"]["id"] for line in out.read_text().splitlines()]
    entry = _store(target).get_run(run_id)
    assert entry.kind == "samples" and entry.provenance["label"] == "mine"
    assert entry.provenance["sha256"] == _store(results).get_run(run_id).provenance["sha256"]


def test_a_run_that_is_not_finished_is_not_exported(results, tmp_path, capsys):
    store = _store(results)
    with store.session() as s:
        s.add(Run(id="live0001", status="running", family="f", model="m", dataset="digits", benchmark="digits",
                  benchmark_version=1, budget="smoke", budget_images=1, seed=0, config={}, config_hash="h",
                  versions={}, device="cpu", hardware="x", run_dir="r"))  # fmt: skip
    code, _, err = genbench(capsys, "export", "live0001", "--out", str(tmp_path / "x.jsonl"),
                            "--results-dir", str(results))  # fmt: skip
    assert code == 2 and "run live0001 is running: only finished or diverged runs are exported" in err
    assert not (tmp_path / "x.jsonl").exists()
