"""Leaderboards rank only comparable values and aggregate seeds."""

from __future__ import annotations

import pytest

from genbench.report.leaderboard import build_boards, rank_of
from genbench.store import Store
from genbench.store.schema import MetricRecord, Run


def add_run(store: Store, run_id: str, model: str, seed: int, values: dict[str, tuple[float, str]], *,
            status: str = "finished", budget: str = "quick", settings: dict | None = None) -> None:  # fmt: skip
    with store.session() as s:
        s.add(
            Run(
                id=run_id, status=status, family="f", model=model, dataset="digits", benchmark="digits",
                benchmark_version=1, budget=budget, budget_images=100, seed=seed, config={}, config_hash=model,
                versions={}, device="cpu", hardware="cpu", run_dir="/tmp",
            )  # fmt: skip
        )
        for name, (value, fp) in values.items():
            direction = "min" if name == "fd" else "max"
            s.add(
                MetricRecord(
                    run_id=run_id, name=name, value=value, direction=direction, fingerprint={"fp": fp},
                    fingerprint_hash=fp, settings=settings or {},
                )  # fmt: skip
            )


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, tmp_path) -> Store:
    if request.param == "postgresql":  # skipped unless GENBENCH_TEST_POSTGRES_URL names a server
        return Store(request.getfixturevalue("pg_url"))
    return Store(f"sqlite:///{tmp_path / 'lb.db'}")


def test_direction_seeds_and_comparability(store):
    add_run(store, "a0", "good", 0, {"fd": (1.0, "X"), "acc": (0.9, "Y")})
    add_run(store, "a1", "good", 1, {"fd": (3.0, "X"), "acc": (0.7, "Y")})
    add_run(store, "b0", "bad", 0, {"fd": (5.0, "X"), "acc": (0.95, "Y")})
    add_run(store, "c0", "other-protocol", 0, {"fd": (0.1, "Z")})  # different fingerprint
    add_run(store, "d0", "crashed", 0, {"fd": (0.0, "X")}, status="failed")  # never ranked
    add_run(store, "e0", "smoke", 0, {"fd": (0.0, "X")}, budget="smoke")  # other budget

    boards = {(b.metric, b.fingerprint_hash, b.budget): b for b in build_boards(store)}
    assert set(boards) == {("fd", "X", "quick"), ("acc", "Y", "quick"), ("fd", "Z", "quick"), ("fd", "X", "smoke")}
    fd = boards[("fd", "X", "quick")].ranked()
    assert [r.model for r in fd] == ["good", "bad"]  # lower is better
    assert fd[0].mean == pytest.approx(2.0) and fd[0].std == pytest.approx(2**0.5) and fd[0].seeds == [0, 1]
    acc = boards[("acc", "Y", "quick")].ranked()
    assert [r.model for r in acc] == ["bad", "good"]  # higher is better
    assert rank_of(store, "b0", "fd", "X") == (2, 2)
    assert rank_of(store, "c0", "fd", "X") is None


def test_eval_settings_make_separate_rows(store):
    add_run(store, "s0", "ddpm", 0, {"fd": (4.0, "X")}, settings={"sampler": "ddpm"})
    with store.session() as s:  # the same run re-evaluated with another sampler
        s.add(MetricRecord(run_id="s0", name="fd", value=6.0, direction="min", fingerprint={}, fingerprint_hash="X",
                           settings={"sampler": "ddim"}))  # fmt: skip
    rows = build_boards(store)[0].ranked()
    assert [(r.label, r.mean) for r in rows] == [("ddpm (sampler=ddpm)", 4.0), ("ddpm (sampler=ddim)", 6.0)]
