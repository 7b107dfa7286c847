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


def test_probe_acc_reports_its_progress_in_images(results, capsys):
    from genbench.engine.runner import Runner, RunRequest

    seen: list[tuple[str, int, int]] = []
    runner = Runner(results, progress=lambda task, done, total: seen.append((task, done, total)))
    req = RunRequest("ae", "digits", model="pixels", budget="smoke", device="cpu", metrics=["probe-acc"])
    assert runner.run(req).run.status == "finished"
    tasks = {task for task, _, _ in seen}
    assert (
        "probe-acc: features of 1,437 labelled digits images" in tasks and "probe-acc: features of digits/test" in tasks
    )
    assert ("probe-acc: features of digits/test", 360, 360) in seen  # images, not batches
    fit = [s for s in seen if s[0].startswith("probe-acc: fitting the linear probe on 1,437 x 64 features")]
    assert [(done, total) for _, done, total in fit] == [(0, 1), (1, 1)]


def test_a_benchmarks_probe_images_scale_the_smoke_probe_and_are_fingerprinted(results, monkeypatch):
    from genbench.engine.runner import Runner, RunRequest
    from genbench.plugins import get_plugins

    def probe_fingerprint(folder: str) -> dict:
        req = RunRequest("ae", "digits", model="pixels", budget="smoke", device="cpu", metrics=["probe-acc"])
        (score,) = Runner(results / folder).run(req).scores
        return score.fingerprint

    whole = probe_fingerprint("whole")
    assert whole["reference_count"] == 360 and "probe_images" not in whole
    monkeypatch.setitem(get_plugins().benchmark("digits").probe_images, "smoke", 205)
    part = probe_fingerprint("part")
    # 205 -> 200: a class-balanced labelled part (20 a class) and the first 205 test images.
    assert part["probe_images"] == 205 and part["probe_labelled_count"] == 200 and part["reference_count"] == 205


def test_a_models_smoke_settings_apply_at_smoke_only_are_stored_and_found_by_suites(
    toy_plugins, results, tmp_path, capsys, monkeypatch
):
    from genbench_toy import ToyPixel

    from genbench.api.dataset import DataInfo
    from genbench.engine.build import resolve_config
    from genbench.store import Store
    from genbench.suite import load_suite
    from genbench.suite.plan import plan

    monkeypatch.setattr(ToyPixel, "smoke_settings", {"temperature": 0.5})
    spec, info = toy_plugins.models.get("toy-pixel"), DataInfo("digits", (1, 8, 8), 10)
    assert resolve_config(spec, info, budget="smoke").temperature == 0.5
    assert resolve_config(spec, info, budget="quick").temperature == 1.0
    assert resolve_config(spec, info, {"temperature": "2"}, budget="smoke").temperature == 2.0  # --set wins
    code, _, err = run_cli(capsys, *RUN, "--results-dir", str(results))
    assert code == 0, err
    (run,) = json.loads(run_cli(capsys, "runs", "--format", "json", "--results-dir", str(results))[1])
    code, out, _ = run_cli(capsys, "show", run["id"], "--results-dir", str(results))
    assert "temperature=0.5" in out, out  # in the stored config, beside every value
    # A suite's planner resolves the same config: the run is found, not started again.
    path = tmp_path / "t.suite.yaml"
    path.write_text(
        "name: t\nversion: 1\ndevice: cpu\nbudget: smoke\nseeds: [0]\n"
        "entries: [{benchmark: digits, models: [toy-pixel], set: [eval.num_samples=32]}]\n"
    )
    store = Store(f"sqlite:///{results / 'genbench.db'}")
    assert [p.action for p in plan(load_suite(path), toy_plugins, store)] == ["done"]
    # `genbench settings` says the smoke value beside the default.
    code, out, _ = run_cli(capsys, "settings", "toy-pixel", "--format", "json")
    rows = {r["key"]: r for r in json.loads(out)}
    assert rows["temperature"]["default"] == "1.0 (smoke: 0.5)" and rows["lr"]["default"] == "0.05"


def test_smoke_settings_may_only_change_evaluation(toy_plugins, monkeypatch):
    import pytest
    from genbench_toy import ToyPixel

    from genbench.api.dataset import DataInfo
    from genbench.engine.build import resolve_config
    from genbench.errors import GenbenchError

    monkeypatch.setattr(ToyPixel, "smoke_settings", {"lr": 0.5})
    with pytest.raises(GenbenchError, match=r"smoke_settings \['lr'\] are not evaluation settings"):
        resolve_config(toy_plugins.models.get("toy-pixel"), DataInfo("digits", (1, 8, 8), 10), budget="smoke")


def test_the_vae_family_bounds_with_fewer_importance_samples_at_smoke():
    from genbench_vae.cvae import CVAE
    from genbench_vae.vae import VAE

    from genbench.api.dataset import DataInfo
    from genbench.engine.build import resolve_config
    from genbench.plugins import get_plugins

    info = DataInfo("mnist", (1, 28, 28), 10)
    for name, smoke_k in (("vae", VAE.smoke_settings["iwae_k"]), ("cvae", CVAE.smoke_settings["iwae_k"])):
        spec = get_plugins().models.get(name)
        assert resolve_config(spec, info, budget="smoke").iwae_k == smoke_k < 64
        assert (
            resolve_config(spec, info, budget="quick").iwae_k
            == resolve_config(spec, info, budget="standard").iwae_k
            == 64
        )


def test_a_models_own_train_defaults_apply_show_in_settings_and_yield_to_set(toy_plugins, results, capsys, monkeypatch):
    from genbench_toy import ToyPixel

    from genbench.store import Store, default_db_url

    monkeypatch.setattr(ToyPixel, "default_train_settings", classmethod(lambda cls, info: {"batch_size": 16}))
    rows = {r["key"]: r for r in json.loads(run_cli(capsys, "settings", "toy-pixel", "--format", "json")[1])}
    assert rows["train.batch_size"]["default"] == "16" and rows["train.batch_size"]["help"].endswith(
        "(engine default 64)"
    )
    assert rows["train.log_every"]["default"] == "10" and "engine default" not in rows["train.log_every"]["help"]

    def stored_batch(*sets: str) -> tuple[int, int]:
        code, _, err = run_cli(capsys, *RUN, *sets, "--metric", "nll", "--results-dir", str(results))
        assert code == 0, err
        run_id = json.loads(run_cli(capsys, "runs", "--format", "json", "--results-dir", str(results))[1])[0]["id"]
        run = Store(default_db_url(results)).get_run(run_id)
        return run.config["train"]["batch_size"], run.images_seen

    # smoke = 2,048 images: 128 steps of the model's 16; --set still wins.
    assert stored_batch() == (16, 2048)
    assert stored_batch("--set", "train.batch_size=32") == (32, 2048)

    monkeypatch.setattr(ToyPixel, "default_train_settings", classmethod(lambda cls, info: {"batchsize": 16}))
    code, _, err = run_cli(capsys, *RUN, "--results-dir", str(results))
    assert code == 2 and "model 'toy-pixel'" in err and "batchsize" in err and len(err.strip().splitlines()) == 1
