"""`genbench suite estimate` / `suite run --dry-run`: each job's expected time, measured, nothing stored."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
import torch

from genbench.data import load_dataset
from genbench.suite.estimate import _fit, shrink
from genbench.testing import run_cli

SUITE = """
name: toy-estimate
version: 1
device: cpu
budget: smoke
seeds: [0, 1]
entries:
  - benchmark: digits
    models: [toy-pixel]
    set: [eval.num_samples=64]
"""


def test_a_line_through_two_measurements_is_read_at_the_full_counts():
    # 2 s that do not grow with the counts, 100 s more at the full counts
    assert _fit(2 + 100 * 0.01, 2 + 100 * 0.03, 0.01, 0.03) == pytest.approx(102.0)
    # timing noise that makes the larger pass faster: never below what was measured
    assert _fit(5.0, 4.0, 0.01, 0.03) == 5.0


def test_shrink_cuts_every_split_and_keeps_what_a_label_budget_needs():
    digits = load_dataset("digits")
    small = shrink(digits, 0.1)
    assert (len(small.train_y), len(small.test_y)) == (144, 36)
    assert torch.equal(small.test_x, digits.test_x[:36])
    assert len(shrink(digits, 0.01, min_train=300).train_y) == 300


def _rows(db: Path) -> list[str]:
    """Every row of every table, as SQL (a WAL checkpoint may rewrite the file's bytes, not its rows)."""
    con = sqlite3.connect(db)
    try:
        return list(con.iterdump())
    finally:
        con.close()


@pytest.mark.parametrize("command", [["suite", "estimate"], ["suite", "run", "--dry-run"]])
def test_the_estimate_prints_each_job_and_the_total_and_stores_nothing(toy_plugins, results, tmp_path, capsys,
                                                                        command):  # fmt: skip
    path = tmp_path / "toy-estimate.suite.yaml"
    path.write_text(SUITE)
    code, out, err = run_cli(capsys, *command, str(path), "--results-dir", str(results))
    assert code == 0, out + err
    lines = out.splitlines()
    assert "estimating 2 of 2 jobs on cpu" in out
    jobs = [i for i, line in enumerate(lines) if line.startswith("toy-pixel on digits (smoke, seed ")]
    assert len(jobs) == 2, out
    # a label too long for 80 columns with its numbers gets a line of its own, the numbers under it
    numbers = [lines[i + 1].split() if len(lines[i]) > 52 else lines[i].split()[-6:] for i in jobs]
    assert all(len(n) == 6 and n[1::2] == ["s", "s", "s"] for n in numbers), out
    assert any(line.startswith("total ") for line in lines) and all(len(line) <= 80 for line in lines), out
    assert not results.exists()  # no store, no folder: nothing was run or written
    if command != ["suite", "estimate"]:
        return  # --dry-run is the same estimate; the store part below runs once, for `estimate`
    # With a store: the one finished job is not estimated again, and the store is left as it was.
    code, out, err = run_cli(capsys, "suite", "run", str(path), "--results-dir", str(results), "--seeds", "0")
    assert code == 0, out + err
    before = _rows(results / "genbench.db")
    code, out, err = run_cli(capsys, *command, str(path), "--results-dir", str(results))
    assert code == 0, out + err
    assert "estimating 1 of 2 jobs" in out and "seed 1)" in out and "seed 0)" not in out
    after = _rows(results / "genbench.db")
    assert after == before and sum(line.startswith('INSERT INTO "runs"') for line in after) == 1
