"""`genbench score` (sample files scored under a benchmark's protocol) and `genbench samples` (a run's
samples written out): round trips give the run's own values; bad files are refused, nothing stored."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from genbench.store import Store
from genbench.store.schema import Run
from genbench.testing import run_cli

genbench = run_cli
SAMPLE_METRICS = {"clf-fd", "clf-score", "clf-precision", "clf-recall", "clf-density", "clf-coverage"}


def _run(capsys, results: Path, *args: str) -> Run:
    code, out, err = genbench(capsys, "run", *args, "--dataset", "digits", "--budget", "smoke", "--threads", "1",
                              "--results-dir", str(results))  # fmt: skip
    assert code == 0, out + err
    store = Store(f"sqlite:///{results / 'genbench.db'}")
    with store.session(write=False) as s:
        run_id = s.query(Run).order_by(Run.created_at.desc()).first().id
    return store.get_run(run_id)


def _score(capsys, results: Path, path: Path, *extra: str) -> tuple[int, str, str]:
    return genbench(capsys, "score", str(path), "--benchmark", "digits", "--threads", "1",
                    "--results-dir", str(results), *extra)  # fmt: skip


def _entries(results: Path) -> list[Run]:
    store = Store(f"sqlite:///{results / 'genbench.db'}")
    with store.session(write=False) as s:
        ids = [r.id for r in s.query(Run).filter(Run.kind == "samples").order_by(Run.created_at)]
    return [store.get_run(i) for i in ids]


def _values(run: Run, names: set[str]) -> dict[str, tuple[float, str]]:
    return {m.name: (m.value, m.fingerprint_hash) for m in run.metrics if m.name in names}


@pytest.fixture
def trained(toy_plugins, results, capsys):
    """A finished toy-pixel run on digits (smoke: the benchmark's 360 samples)."""
    return _run(capsys, results, "toy-pixel")


@pytest.mark.parametrize("layout", ["s.npz", "s.pt", "folder"])
def test_a_runs_samples_scored_give_the_runs_own_values(trained, results, tmp_path, capsys, layout):
    out = tmp_path / layout
    code, stdout, err = genbench(capsys, "samples", trained.id, "--out", str(out), "--results-dir", str(results))
    assert code == 0, err
    assert "wrote 360 samples" in stdout
    code, stdout, err = _score(capsys, results, out, "--name", "toy-file")
    assert code == 0, err
    (entry,) = _entries(results)
    own = _values(trained, SAMPLE_METRICS)
    assert set(own) == SAMPLE_METRICS
    assert _values(entry, SAMPLE_METRICS) == own  # bit for bit, fingerprints included
    assert "nll" not in {m.name for m in entry.metrics}  # a file has no likelihood
    assert entry.model == "toy-file" and entry.family == "samples" and entry.budget == "smoke"
    if out.is_file():
        assert entry.provenance["sha256"] == hashlib.sha256(out.read_bytes()).hexdigest()
    assert entry.provenance["label"] == "toy-file"
    # It ranks in the run's columns, beside it, with no training cost.
    code, board, _ = genbench(capsys, "leaderboard", "--format", "json", "--results-dir", str(results))
    rows = [r for r in json.loads(board) if r["metric"] == "clf-fd"]
    assert {r["model"] for r in rows} == {"toy-pixel", "toy-file"} and len({r["fingerprint_hash"] for r in rows}) == 1
    mine = next(r for r in rows if r["model"] == "toy-file")
    assert mine["images_seen"] is None and mine["train_seconds"] is None


def test_conditional_samples_with_labels_give_the_runs_cond_acc(results, tmp_path, capsys):
    run = _run(capsys, results, "gan", "--model", "cgan")
    out = tmp_path / "cond.npz"
    code, _, err = genbench(
        capsys, "samples", run.id, "--conditional", "--out", str(out), "--results-dir", str(results)
    )
    assert code == 0, err
    with np.load(out) as f:
        assert f["arr_0"].shape == (360, 8, 8, 1) and f["arr_0"].dtype == np.uint8
        assert f["arr_1"].tolist() == [i % 10 for i in range(360)]
    code, _, err = _score(capsys, results, out)
    assert code == 0, err
    (entry,) = _entries(results)
    assert _values(entry, {"cond-acc"}) == _values(run, {"cond-acc"})
    # Without labels there is no cond-acc, and the output says why.
    plain = tmp_path / "plain.npz"
    code, _, _ = genbench(capsys, "samples", run.id, "--out", str(plain), "--results-dir", str(results))
    code, stdout, _ = _score(capsys, results, plain)
    assert code == 0 and "cond-acc not scored: needs class labels" in stdout


def test_the_sample_count_rule_picks_the_largest_budget_the_file_fills(results, tmp_path, capsys):
    x = np.random.default_rng(0).integers(0, 256, size=(2100, 8, 8, 1), dtype=np.uint8)
    np.savez(tmp_path / "many.npz", x)
    code, stdout, err = _score(capsys, results, tmp_path / "many.npz")
    assert code == 0, err
    assert "scoring the first 2,000 of 2,100 images" in err
    (entry,) = _entries(results)
    assert entry.budget == "quick" and {m.fingerprint["num_samples"] for m in entry.metrics} == {2000}


def _png_folder(folder: Path, arrays: list[np.ndarray]) -> Path:
    for i, a in enumerate(arrays):
        (folder / f"d{i % 3}").mkdir(parents=True, exist_ok=True)
        Image.fromarray(a).save(folder / f"d{i % 3}" / f"{i:04d}.png")
    return folder


@pytest.mark.parametrize(
    ("make", "needle"),
    [
        (lambda p: np.savez(p / "f.npz", np.zeros((400, 8, 8, 1), np.float32)), "arr_0 is float32"),
        (lambda p: np.savez(p / "f.npz", np.zeros((400, 28, 28, 1), np.uint8)), "expected (N, 8, 8, 1)"),
        (lambda p: np.savez(p / "f.npz", np.zeros((400, 8, 8, 3), np.uint8)), "expected (N, 8, 8, 1)"),
        (lambda p: np.savez(p / "f.npz", np.zeros((100, 8, 8, 1), np.uint8)), "too few images: "),
        (lambda p: np.savez(p / "f.npz", np.zeros((400, 8, 8, 1), np.uint8), np.full(400, 10)), "classes are 0..9"),
        (lambda p: torch.save(torch.full((400, 1, 8, 8), 2.0), p / "f.pt"), "must lie in [0, 1]"),
        (lambda p: torch.save(torch.full((400, 1, 8, 8), float("nan")), p / "f.pt"), "NaN or inf"),
        (lambda p: (p / "f.pt").write_bytes(b"not a tensor"), "cannot read"),
        (lambda p: (p / "f.npz").write_bytes(b"PK\x03\x04 truncated"), "cannot read"),
        (
            lambda p: _png_folder(p / "f", [(np.zeros((8, 8, 3)) + [1, 2, 3]).astype(np.uint8)] * 400),
            "is a colour RGB image",
        ),
        (lambda p: _png_folder(p / "f", [np.zeros((16, 16), np.uint8)] * 400), "is 16x16"),
        (
            lambda p: (_png_folder(p / "f", [np.zeros((8, 8), np.uint8)] * 400) / "d0" / "0000.png").write_bytes(b"x"),
            "cannot read image",
        ),
    ],
)
def test_bad_sample_files_are_refused_in_one_line_and_nothing_is_stored(results, tmp_path, capsys, make, needle):
    make(tmp_path)
    path = next(p for p in tmp_path.iterdir() if p.name.startswith("f"))
    code, _, err = _score(capsys, results, path)
    assert code == 2, err
    errors = [line for line in err.splitlines() if line.startswith("error:")]  # progress lines may precede it
    assert len(errors) == 1 and needle in errors[0] and err.strip().endswith(errors[0]) and "Traceback" not in err
    db = results / "genbench.db"
    assert not db.exists() or _entries(results) == []


def test_grayscale_saved_as_rgb_and_nested_folders_are_read(results, tmp_path, capsys):
    rng = np.random.default_rng(1)
    gray = [rng.integers(0, 256, size=(8, 8), dtype=np.uint8) for _ in range(360)]
    _png_folder(tmp_path / "g", gray)
    _png_folder(tmp_path / "rgb", [np.repeat(g[..., None], 3, axis=2) for g in gray])
    assert _score(capsys, results, tmp_path / "g", "--name", "g")[0] == 0
    assert _score(capsys, results, tmp_path / "rgb", "--name", "rgb")[0] == 0
    a, b = _entries(results)
    assert [(m.name, m.value) for m in a.metrics] == [(m.name, m.value) for m in b.metrics]


def test_a_label_that_names_an_installed_model_is_refused(results, tmp_path, capsys):
    np.savez(tmp_path / "s.npz", np.zeros((360, 8, 8, 1), np.uint8))
    code, _, err = _score(capsys, results, tmp_path / "s.npz", "--name", "vae")
    assert code == 2 and "--name vae is an installed model's name" in err
