"""`genbench settings MODEL` (and `genbench models MODEL`) and `genbench run --metric` (issue #26)."""

from __future__ import annotations

import dataclasses
import json

from genbench.testing import run_cli

RUN = ["run", "toy", "--dataset", "digits", "--budget", "smoke", "--device", "cpu", "--set", "eval.num_samples=32"]


def test_settings_lists_every_field_with_type_default_range_and_help(capsys):
    from genbench.config import TrainConfig

    code, out, err = run_cli(capsys, "settings", "vae", "--format", "json")
    assert code == 0, err
    rows = {r["key"]: r for r in json.loads(out)}
    from genbench_vae.vae import VAE

    from genbench.api.dataset import DataInfo

    config = VAE.default_config(DataInfo("digits", (1, 8, 8), 10))
    assert {f.name for f in dataclasses.fields(config)} | {
        f"train.{f.name}" for f in dataclasses.fields(TrainConfig)
    } <= set(rows)
    assert rows["latent_dim"]["type"] == "int" and rows["latent_dim"]["default"] == str(config.latent_dim)
    assert rows["latent_dim"]["range"] == ">= 1 and <= 4096" and rows["latent_dim"]["help"] == "size of z"
    assert rows["train.amp"]["type"] == "none|bf16|fp16" and rows["train.log_every"]["help"].startswith("steps between")
    assert rows["eval.seed"]["when"] == "eval" and rows["latent_dim"]["when"] == "train"
    assert rows["iwae_k"]["when"] == "eval"  # an evaluation-time setting of the model


def test_models_with_a_name_shows_its_settings_at_80_columns(capsys, monkeypatch):
    from rich.console import Console

    from genbench import cli

    monkeypatch.setattr(cli.output, "console", Console(force_terminal=True, width=80, color_system=None))
    code, out, err = run_cli(capsys, "models", "cyclegan")
    assert code == 0, err
    assert "cyclegan/cyclegan on digits2color" in out and "n_blocks" in out and "train.batch_size" in out
    assert all(len(line) <= 80 for line in out.splitlines()), out
    code, _, err = run_cli(capsys, "settings", "glwo")
    assert code == 2 and "did you mean" in err


def test_run_metric_scores_only_the_named_metrics_and_resume_keeps_to_them(toy_plugins, results, capsys):
    code, out, err = run_cli(capsys, *RUN, "--metric", "nll", "--metric", "clf-fd", "--results-dir", str(results))
    assert code == 0, err
    run = json.loads(run_cli(capsys, "runs", "--format", "json", "--results-dir", str(results))[1])[0]
    from genbench.store import Store, default_db_url

    stored = Store(default_db_url(results)).get_run(run["id"])
    assert sorted(m.name for m in stored.metrics) == ["clf-fd", "nll"]
    assert stored.config["only_metrics"] == ["nll", "clf-fd"]
    code, _, err = run_cli(capsys, *RUN, "--metric", "fdi", "--results-dir", str(results))
    assert code == 2 and "--metric fdi" in err and "clf-fd" in err


def test_resume_scores_the_same_metrics(toy_plugins, results, capsys):
    code, _, err = run_cli(capsys, *RUN, "--metric", "nll", "--stop-after-steps", "5", "--results-dir", str(results))
    assert code == 130, err
    run_id = json.loads(run_cli(capsys, "runs", "--format", "json", "--results-dir", str(results))[1])[0]["id"]
    code, _, err = run_cli(capsys, "resume", run_id, "--device", "cpu", "--results-dir", str(results))
    assert code == 0, err
    from genbench.store import Store, default_db_url

    assert [m.name for m in Store(default_db_url(results)).get_run(run_id).metrics] == ["nll"]


def test_the_summary_gives_training_and_evaluation_time_apart_and_true_rates_after_a_resume(
    toy_plugins, results, capsys
):
    import re

    code, _, err = run_cli(capsys, *RUN, "--stop-after-steps", "5", "--results-dir", str(results))
    assert code == 130, err
    run_id = json.loads(run_cli(capsys, "runs", "--format", "json", "--results-dir", str(results))[1])[0]["id"]
    code, out, err = run_cli(capsys, "resume", run_id, "--device", "cpu", "--results-dir", str(results))
    assert code == 0, err
    text = " ".join(out.split())
    # 2,048 images in all at batch 64: 5 steps (320 images) before the stop, 1,728 in this process.
    m = re.search(r"training: 1,728 images in ([\d.]+) s \(([\d,]+) img/s\); 320 more before the resume", text)
    assert m, text
    seconds, rate = float(m.group(1)), float(m.group(2).replace(",", ""))
    # Images of this process over its seconds (the seconds are printed to 0.01 s, the rate to 1 img/s).
    assert 1728 / (seconds + 0.005) - 1 <= rate <= 1728 / (seconds - 0.005) + 1
    assert re.search(r"evaluation: \d+ metric\(s\) in [\d.]+ s", text), text
    code, out, err = run_cli(capsys, "eval", run_id, "--device", "cpu", "--results-dir", str(results))
    assert code == 0 and "training: none in this process (the run had trained 2,048 images)" in " ".join(out.split())


def test_eval_takes_a_thread_count_and_refuses_one_out_of_range(toy_plugins, results, capsys):
    import torch

    code, _, err = run_cli(capsys, *RUN, "--metric", "nll", "--results-dir", str(results))
    assert code == 0, err
    run_id = json.loads(run_cli(capsys, "runs", "--format", "json", "--results-dir", str(results))[1])[0]["id"]
    code, _, err = run_cli(capsys, "eval", run_id, "--threads", "999", "--results-dir", str(results))
    assert code == 2 and "--threads 999" in err and len(err.strip().splitlines()) == 1
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        code, _, err = run_cli(
            capsys, "eval", run_id, "--threads", "1", "--metric", "nll", "--results-dir", str(results)
        )
        assert code == 0, err
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)
