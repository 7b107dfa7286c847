"""Leaderboards: one table per benchmark and budget, a row per model, a column per metric."""

from __future__ import annotations

import csv
import io
import json

import pytest

from genbench.report.leaderboard import build_boards, rank_of
from genbench.report.tables import board_markdown, board_table, boards_records, cell_text, legend_lines, records_csv
from genbench.store import Store
from genbench.store.schema import MetricRecord, Run


def add_run(store: Store, run_id: str, model: str, seed: int, values: dict[str, tuple[float, str]], *,
            status: str = "finished", budget: str = "quick", settings: dict | None = None, family: str = "f",
            config: dict | None = None, benchmark: str = "digits", wall: float = 10.0,
            train: float = 8.0, ci: float | None = 0.01) -> None:  # fmt: skip
    """Store a finished run; each value gets an evaluation interval of value ± ``ci`` (None: no interval)."""
    with store.session() as s:
        s.add(
            Run(
                id=run_id,
                status=status,
                family=family,
                model=model,
                dataset="digits",
                benchmark=benchmark,
                benchmark_version=1,
                budget=budget,
                budget_images=100,
                seed=seed,
                config=config or {},
                config_hash=model,
                versions={},
                device="cpu",
                hardware="cpu",
                run_dir="/tmp",
                num_params=1000,
                images_seen=100,
                wall_seconds=wall,
                train_seconds=train,
            )  # fmt: skip
        )
        for name, (value, fp) in values.items():
            direction = "min" if name in ("fd", "nll", "clf-fd") else "max"
            s.add(
                MetricRecord(
                    run_id=run_id,
                    name=name,
                    value=value,
                    direction=direction,
                    fingerprint={"fp": fp, "num_samples": 500, "reference_count": 360, "reference": "digits/test"},
                    fingerprint_hash=fp,
                    settings=settings or {},
                    unit="bits/dim" if name == "nll" else "",
                    ci_low=None if ci is None else value - ci,
                    ci_high=None if ci is None else value + ci,
                    ci_method=None if ci is None else "t",
                )  # fmt: skip
            )


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, tmp_path) -> Store:
    if request.param == "postgresql":  # skipped unless GENBENCH_TEST_POSTGRES_URL names a server
        return Store(request.getfixturevalue("pg_url"))
    return Store(f"sqlite:///{tmp_path / 'lb.db'}")


def test_one_table_per_benchmark_and_budget_with_a_column_per_metric(store):
    add_run(store, "a0", "good", 0, {"fd": (1.0, "X"), "acc": (0.9, "Y")})
    add_run(store, "a1", "good", 1, {"fd": (3.0, "X"), "acc": (0.7, "Y")})
    add_run(store, "b0", "bad", 0, {"fd": (5.0, "X"), "acc": (0.95, "Y")}, family="g")
    add_run(store, "c0", "other-protocol", 0, {"fd": (0.1, "Z")})  # another fingerprint: its own column
    add_run(store, "d0", "crashed", 0, {"fd": (0.0, "X")}, status="failed")  # never ranked
    add_run(store, "e0", "smoke", 0, {"fd": (0.0, "X")}, budget="smoke")  # another table

    boards = {(b.benchmark, b.budget): b for b in build_boards(store)}
    assert set(boards) == {("digits", "quick"), ("digits", "smoke")}
    quick = boards[("digits", "quick")]
    assert [c.key for c in quick.columns] == ["acc", "fd", "fd#2"]  # unknown benchmark order: by name
    assert {r.model for r in quick.rows} == {"good", "bad", "other-protocol"}  # one row per model, both families
    fd = quick.column("fd")
    ranked = [r for r in quick.ranked("fd") if r.value(fd)]
    assert [r.model for r in ranked] == ["good", "bad"]  # lower is better
    good = ranked[0]
    assert good.value(fd).mean == pytest.approx(2.0) and good.value(fd).std == pytest.approx(2**0.5)
    # Two seeds: the t-interval over seeds, 2 ± t(0.975, 1) · 1.414 / √2 = 2 ± 12.71.
    assert good.seeds == [0, 1] and cell_text(good, fd) == "2 [-10.71, 14.71]"
    assert [r.model for r in quick.ranked("acc")][:2] == ["bad", "good"]  # higher is better
    assert quick.ranked("fd")[-1].model == "other-protocol"  # no value in the column: last
    assert cell_text(quick.ranked("fd")[-1], fd) == "–"
    # good (2, over seeds [-10.7, 14.7]) and bad (5 ± 0.01) are not resolved: they share rank 1.
    assert rank_of(store, "b0", "fd", "X") == (1, 2)
    assert rank_of(store, "c0", "fd", "X") is None
    assert rank_of(store, "c0", "fd", "Z") == (1, 1)


def test_memory_settings_never_split_rows_and_eval_settings_do(store):
    # vae's iwae_batch is declared with memory_setting; its iwae_k changes the bound.
    base = {"model": {"latent_dim": 16}, "train": {"batch_size": 64, "log_every": 10}, "eval": {"batch_size": 500}}
    add_run(store, "v0", "vae", 0, {"nll": (3.0, "N")}, settings={"iwae_k": 64, "iwae_batch": 2048}, config=base)
    other_chunks = {**base, "train": {"batch_size": 64, "log_every": 5}, "eval": {"batch_size": 100}}
    add_run(store, "v1", "vae", 1, {"nll": (3.2, "N")}, settings={"iwae_k": 64, "iwae_batch": 128}, config=other_chunks)
    add_run(store, "v2", "vae", 2, {"nll": (2.9, "N")}, settings={"iwae_k": 512, "iwae_batch": 128}, config=base)
    bigger = {**base, "model": {"latent_dim": 32}}
    add_run(store, "v3", "vae", 3, {"nll": (2.8, "N")}, settings={"iwae_k": 64, "iwae_batch": 2048}, config=bigger)
    (board,) = build_boards(store)
    rows = {r.label: r for r in board.rows}
    # What differs between a model's rows is shown beside its name: iwae_k and latent_dim, never iwae_batch.
    assert set(rows) == {
        "vae (iwae_k=64, latent_dim=16)",
        "vae (iwae_k=512, latent_dim=16)",
        "vae (iwae_k=64, latent_dim=32)",
    }
    assert rows["vae (iwae_k=64, latent_dim=16)"].run_ids == ["v0", "v1"]  # log_every / batch sizes / iwae_batch
    assert all("iwae_batch" not in r.label for r in board.rows)


def test_re_evaluation_with_another_sampler_is_its_own_row(store):
    add_run(store, "s0", "ddpm", 0, {"fd": (4.0, "X")}, settings={"sampler": "ddpm", "steps": 1000})
    with store.session() as s:  # the same run re-evaluated with another sampler
        s.add(MetricRecord(run_id="s0", name="fd", value=6.0, direction="min", fingerprint={}, fingerprint_hash="X",
                           settings={"sampler": "ddim", "steps": 50}))  # fmt: skip
    (board,) = build_boards(store)
    assert [(r.label, r.value(board.column("fd")).mean) for r in board.ranked()] == [
        ("ddpm (sampler=ddpm, steps=1000)", 4.0),
        ("ddpm (sampler=ddim, steps=50)", 6.0),
    ]


def test_na_for_a_missing_capability_and_compute_columns(toy_plugins, store):
    # toy-pixel (installed through the toy plugin) cannot sample conditionally: cond-acc is n/a, not "missing".
    add_run(
        store,
        "t0",
        "toy-pixel",
        0,
        {"nll": (5.0, "N")},
        config={"model": {"temperature": 1.0}},
        wall=900.0,
        train=125.0,
    )  # the column is training time: a run's wall time includes its evaluation
    add_run(store, "g0", "somegan", 0, {"cond-acc": (0.8, "C")}, family="gan")
    (board,) = build_boards(store)
    toy = next(r for r in board.rows if r.model == "toy-pixel")
    gan = next(r for r in board.rows if r.model == "somegan")
    assert cell_text(toy, board.column("cond-acc")) == "n/a"
    assert cell_text(gan, board.column("nll")) == "–"  # plugin not installed: unknown capability
    table = board_markdown(board)
    assert "| nll ↓ (bits/dim) |" in table and "cond-acc ↑" in table
    assert "| 2.1 min | cpu |" in table  # training time and device
    legend = "\n".join(legend_lines(board))
    assert "nll: negative log-likelihood" in legend and "fingerprint N" in legend and "360 digits/test images" in legend
    assert "500 samples" in legend  # cond-acc is scored on generated samples


def test_sorting_by_any_metric_and_every_format(store):
    add_run(store, "a0", "a", 0, {"fd": (1.0, "X"), "acc": (0.5, "Y")})
    add_run(store, "b0", "b", 0, {"fd": (2.0, "X"), "acc": (0.9, "Y")})
    (by_fd,) = build_boards(store, metric="fd")
    (by_acc,) = build_boards(store, metric="acc")
    assert [r.model for r in by_fd.ranked()] == ["a", "b"]
    assert [r.model for r in by_acc.ranked()] == ["b", "a"]
    assert build_boards(store, metric="nll") == []
    md = board_markdown(by_acc)
    assert md.index("| 1 | b |") < md.index("| 2 | a |") and "(sorted by this)" in md
    records = boards_records([by_fd])
    assert {(r["metric"], r["model"], r["rank"]) for r in records} == {("fd", "a", 1), ("fd", "b", 2),
                                                                       ("acc", "b", 1), ("acc", "a", 2)}  # fmt: skip
    json.dumps(records)
    rows = list(csv.DictReader(io.StringIO(records_csv(records))))
    assert len(rows) == 4 and rows[0]["benchmark"] == "digits" and json.loads(rows[0]["runs"])
    from rich.console import Console

    console = Console(width=200, record=True)
    console.print(board_table(by_fd))
    text = console.export_text()
    assert "fd ↓" in text and "acc ↑" in text and "fingerprint X" in text


def test_a_narrow_terminal_drops_cost_columns_never_values(store):
    from rich.console import Console

    for i, model in enumerate(("a-model-with-a-long-name", "b")):
        add_run(store, f"r{i}", model, 0, {"fd": (123.456 + i, "X"), "acc": (0.5, "Y"), "nll": (3.25, "N")})
    (board,) = build_boards(store)
    console = Console(width=110, record=True)  # the --wide table: every metric, values with intervals
    console.print(board_table(board, width=110))
    text = console.export_text()
    assert "123.5" in text and "124.5" in text and "3.25" in text and "…" not in text
    assert "not shown at this width: images, seeds" in " ".join(text.split())
    wide = board_table(board, width=300)
    assert [c.header for c in wide.columns][-5:] == ["params", "images", "train time", "device", "NFE"]


def test_a_metrics_own_setting_qualifies_its_column_not_the_models_row(store):
    # A probe's label budget is the metric's setting, not the model's: one row per run, and the
    # budget in the column's name (another budget is another fingerprint, so another column).
    add_run(store, "p0", "vae", 0, {"fd": (2.0, "X")}, settings={"iwae_k": 64})
    with store.session() as s:
        for labels, fp, value in (("100", "L100", 0.7), ("all", "LALL", 0.9)):
            s.add(MetricRecord(run_id="p0", name="probe-acc", value=value, direction="max", fingerprint={},
                               fingerprint_hash=fp, settings={"iwae_k": 64, "labels": labels}))  # fmt: skip
    (board,) = build_boards(store)
    assert [r.model for r in board.rows] == ["vae"]
    keys = {c.key for c in board.columns}
    assert keys == {"fd", "probe-acc (labels=100)", "probe-acc (labels=all)"}
    (row,) = board.rows
    assert row.value(board.column("probe-acc (labels=100)")).mean == 0.7


def test_a_metric_any_of_several_capabilities_give_has_a_column_per_way_of_scoring(toy_plugins, store):
    # ood-auroc requires "log_likelihood|reconstruct": toy-pixel (log_likelihood) has a value, scored
    # by NLL; a run scored by reconstruction error goes in a column of its own, not in the NLL one.
    for run_id, model, score, value in (("t0", "toy-pixel", "nll", 0.9), ("a0", "other", "reconstruction-mse", 0.7)):
        add_run(store, run_id, model, 0, {})
        with store.session() as s:
            s.add(MetricRecord(run_id=run_id, name="ood-auroc", value=value, direction="max", fingerprint={},
                               fingerprint_hash="O", settings={"ood_score": score}))  # fmt: skip
    (board,) = build_boards(store)
    assert {c.key for c in board.columns} == {"ood-auroc (ood_score=nll)", "ood-auroc (ood_score=reconstruction-mse)"}
    toy = next(r for r in board.rows if r.model == "toy-pixel")
    assert cell_text(toy, board.column("ood-auroc (ood_score=nll)")) == "0.9"
    assert cell_text(toy, board.column("ood-auroc (ood_score=reconstruction-mse)")) == "–"


def _digits_board_for_sections(store: Store) -> None:
    # Three tasks of the digits benchmark (headline: samples clf-fd, likelihood nll, representation
    # probe-acc); names as long as the real ones, with an evaluation setting beside one of them.
    add_run(store, "g1", "stylegan", 0, {"clf-fd": (82.09, "S")}, family="gan", ci=2.0)
    add_run(store, "g2", "wgan-gp", 0, {"clf-fd": (80.5, "S")}, family="gan", ci=2.0)
    add_run(store, "v1", "cvae", 0, {"clf-fd": (29.9, "S"), "nll": (3.694, "N"), "probe-acc": (0.84, "P")},
            family="vae", ci=0.02)  # fmt: skip
    add_run(store, "d1", "ddpm", 0, {"clf-fd": (72.47, "S"), "nll": (5.316, "N")}, family="diffusion", ci=1.5,
            settings={"sampler": "ddim", "steps": 50, "nll_timesteps": 20})  # fmt: skip
    add_run(store, "c1", "clf-scratch", 0, {"probe-acc": (0.9889, "P")}, family="ae", ci=0.01)


def test_leaderboard_at_80_columns_piped_ranks_each_task_and_never_cuts_names(store, capsys, monkeypatch):
    """The terminal view: a ranked section per task, whole names, and how to see the rest."""
    from rich.console import Console

    from genbench.cli import output
    from genbench.testing import run_cli

    _digits_board_for_sections(store)
    monkeypatch.setattr(output, "console", Console(width=80, color_system=None))  # piped, 80 columns
    url = store.display_url if "sqlite" not in store.display_url else f"sqlite:///{store.engine.url.database}"
    code, out, err = run_cli(capsys, "leaderboard", "--db", url)
    assert code == 0, err
    lines = out.splitlines()
    assert all(len(line) <= 80 for line in lines), out
    assert "…" not in out
    for name in ("stylegan", "wgan-gp", "cvae", "ddpm", "clf-scratch", "gan", "vae", "diffusion", "clf-fd", "nll"):
        assert any(name in line.split() or f"{name}:" in line for line in lines), (name, out)
    titles = [line for line in lines if line.startswith(("samples:", "likelihood:", "representation:"))]
    assert [t.split(":")[0] for t in titles] == ["samples", "likelihood", "representation"]
    samples = out[out.index("samples:") : out.index("likelihood:")]
    assert "clf-scratch" not in samples  # a classifier never enters a sample-quality ranking
    assert "not ranked here: 1 model(s) without the capability" in " ".join(samples.split())
    rows = [[c.strip() for c in line.split("│")[1:-1]] for line in samples.splitlines() if line.startswith("│")]
    ranks = {cells[1]: cells[0] for cells in rows if cells[1]}
    # cvae is resolved first, ddpm second; stylegan (82.09 ± 2) and wgan-gp (80.5 ± 2) overlap: a shared rank.
    assert (ranks["cvae"], ranks["ddpm"], ranks["wgan-gp"], ranks["stylegan"]) == ("1", "2", "3=", "3=")
    text = " ".join(out.split())
    assert "[a, b]: 95% interval" in text and "--wide" in text and "--format markdown" in text
    code, out, _ = run_cli(capsys, "leaderboard", "--db", url, "--metric", "nll")
    assert code == 0 and "metric: nll" in out and "clf-fd [95%]" not in out and "stylegan" not in out


def test_leaderboard_wide_and_records_carry_intervals(store):
    _digits_board_for_sections(store)
    (board,) = build_boards(store)
    records = {(r["metric"], r["model"]): r for r in boards_records([board])}
    cvae = records[("clf-fd", "cvae")]
    assert (cvae["ci_low"], cvae["ci_high"], cvae["ci_method"]) == (pytest.approx(29.88), pytest.approx(29.92), "t")
    assert cvae["rank"] == 1 and not cvae["rank_shared"]
    gans = [records[("clf-fd", m)] for m in ("stylegan", "wgan-gp")]
    assert [g["rank"] for g in gans] == [3, 3] and all(g["rank_shared"] for g in gans)
    rows = list(csv.DictReader(io.StringIO(records_csv(list(records.values())))))
    assert {"ci_low", "ci_high", "ci_method"} <= set(rows[0])
    md = board_markdown(board)
    assert "| 3= | stylegan |" in md and "[80.09, 84.09]" in md


def test_compare_models_over_matching_seeds_and_runs(store, capsys):
    from genbench.errors import GenbenchError
    from genbench.report.compare import compare
    from genbench.testing import run_cli

    for seed, (a, b) in enumerate(((1.0, 1.2), (3.0, 3.25), (2.0, 2.18))):
        add_run(store, f"a{seed}", "flowa", seed, {"nll": (a, "N")}, ci=0.5)
        add_run(store, f"b{seed}", "flowb", seed, {"nll": (b, "N")}, ci=0.5)
    board, (rec,) = compare(store, "flowa", "flowb", metric="nll")
    # Paired over three seeds: A is lower by 0.2, 0.25, 0.18 on each; the seed spread (1 to 3) does not matter.
    assert rec["paired_seeds"] == 3 and rec["ci_method"] == "paired-t" and rec["resolved"]
    assert rec["difference"] == pytest.approx(-0.21) and rec["ci_high"] < 0
    assert 0.5 < rec["p_a_better"] <= 1.0
    _, (one,) = compare(store, "a0", "b0", metric="nll")  # two run ids: one run each, 1.0 ± 0.5 vs 1.2 ± 0.5
    assert (one["a_seeds"], one["b_seeds"], one["ci_method"], one["resolved"]) == (1, 1, "eval-normal", False)
    with pytest.raises(GenbenchError, match="neither a run id nor a model"):
        compare(store, "flowa", "nosuch")
    url = f"sqlite:///{store.engine.url.database}" if "sqlite" in store.display_url else store.display_url
    code, out, err = run_cli(capsys, "compare", "flowa", "flowb", "--metric", "nll", "--format", "json", "--db", url)
    assert code == 0, err
    assert json.loads(out)[0]["p_a_better"] == rec["p_a_better"]
    code, out, _ = run_cli(capsys, "compare", "flowa", "flowb", "--db", url)
    assert code == 0 and "A − B, 95%" in out and "resolved: different ranks" in out


def test_a_re_evaluation_with_another_eval_seed_is_a_row_of_its_own(store):
    # `genbench eval RUN --set eval.seed=7` stores its values with settings {"eval_seed": 7} (engine/evaluate.py).
    add_run(store, "s0", "vae", 0, {"fd": (4.0, "X"), "probe-acc": (0.9, "P")})
    with store.session() as s:
        for name, value, fp in (("fd", 4.3, "X"), ("probe-acc", 0.9, "P")):
            s.add(MetricRecord(run_id="s0", name=name, value=value, direction="min" if name == "fd" else "max",
                               fingerprint={}, fingerprint_hash=fp, settings={"eval_seed": 7}))  # fmt: skip
    (board,) = build_boards(store)
    assert {c.key for c in board.columns} == {"fd", "probe-acc"}  # the seed qualifies the row, not the column
    rows = {r.label: r for r in board.rows}
    assert set(rows) == {"vae", "vae (eval_seed=7)"}
    assert rows["vae"].value(board.column("fd")).values == [4.0]  # never mixed with the other draw
    assert rows["vae (eval_seed=7)"].value(board.column("fd")).values == [4.3]
