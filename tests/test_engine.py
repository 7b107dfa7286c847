"""The engine: determinism, resume equality, interruption, divergence, checkpoints."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from genbench.engine.checkpoint import load_checkpoint
from genbench.engine.runner import Runner, RunRequest
from genbench.errors import GenbenchError

SMOKE = ["train.batch_size=64", "train.log_every=2", "eval.num_samples=64"]


def run_toy(results: Path, *sets: str, seed: int = 0, runner: Runner | None = None, stop: int = 0):
    runner = runner or Runner(results)
    req = RunRequest(
        "toy", "digits", budget="smoke", seed=seed, sets=[*SMOKE, *sets], device="cpu", stop_after_steps=stop
    )
    return runner, runner.run(req)


def losses(runner: Runner, run_id: str) -> list[tuple[int, str, float]]:
    from sqlalchemy import select

    from genbench.store.schema import LossPoint

    with runner.store.session() as s:
        rows = s.scalars(select(LossPoint).where(LossPoint.run_id == run_id).order_by(LossPoint.id)).all()
        return [(p.step, p.name, p.value) for p in rows]


def test_same_command_twice_gives_identical_losses_and_metrics(toy_plugins, results):
    runner, a = run_toy(results)
    _, b = run_toy(results, runner=runner)
    assert a.run.status == b.run.status == "finished"
    assert losses(runner, a.run.id) == losses(runner, b.run.id)
    assert [(s.name, s.value) for s in a.scores] == [(s.name, s.value) for s in b.scores]
    assert a.run.config_hash == b.run.config_hash


def test_loss_falls_and_budget_is_images_seen(toy_plugins, results):
    runner, out = run_toy(results)
    assert out.run.images_seen == 2048  # digits smoke budget, 32 steps of 64
    curve = [v for _, name, v in losses(runner, out.run.id) if name == "loss"]
    assert curve[-1] < curve[0]


def test_interrupted_then_resumed_equals_uninterrupted(toy_plugins, results):
    runner, full = run_toy(results)
    _, part = run_toy(results, runner=runner, stop=13)
    assert part.run.status == "interrupted"
    assert part.run.images_seen == 13 * 64
    assert part.run.config_hash == full.run.config_hash
    resumed = runner.resume(part.run.id, device_name="cpu")
    assert resumed.run.status == "finished"
    assert [v for *_, v in losses(runner, full.run.id)] == [v for *_, v in losses(runner, resumed.run.id)]
    a = load_checkpoint(Path(full.run.run_dir) / "checkpoint.pt")["model"]
    b = load_checkpoint(Path(resumed.run.run_dir) / "checkpoint.pt")["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert [s.value for s in full.scores] == [s.value for s in resumed.scores]


def test_divergence_stops_the_run(toy_plugins, results):
    runner, out = run_toy(results, "poison_step=5")
    assert out.run.status == "diverged"
    assert "non-finite at step 6" in out.run.message  # caught at the first log point after step 5
    assert out.scores == []


def test_training_warning_is_stored_on_a_finished_run(toy_plugins, results):
    runner, quiet = run_toy(results)
    assert quiet.run.status == "finished" and quiet.run.message is None
    # Interrupted and resumed: the model sees the whole run's history, not one session's.
    _, part = run_toy(results, "warn_above=-1e9", runner=runner, stop=5)
    assert part.run.message.startswith("stopped at step")
    out = runner.resume(part.run.id, device_name="cpu")
    assert out.run.status == "finished"
    points = [p for p in losses(runner, out.run.id) if p[1] == "loss"]
    assert points[0][0] < 5 < points[-1][0] == out.run.steps
    assert out.run.message.startswith("warning: loss ")
    assert out.run.message.endswith(f"at step {out.run.steps} is above -1000000000.0 ({len(points)} points)")
    assert [s.name for s in out.scores] == [s.name for s in quiet.scores]  # still scored


def test_corrupt_checkpoint_on_resume_is_a_clear_error(toy_plugins, results):
    runner, part = run_toy(results, stop=5)
    ckpt = Path(part.run.run_dir) / "checkpoint.pt"
    ckpt.write_bytes(ckpt.read_bytes()[:100])
    with pytest.raises(GenbenchError, match="corrupt or truncated"):
        runner.resume(part.run.id, device_name="cpu")
    assert runner.store.get_run(part.run.id).status == "interrupted"  # nothing changed


def test_resume_refuses_finished_runs(toy_plugins, results):
    runner, out = run_toy(results)
    with pytest.raises(GenbenchError, match="has finished"):
        runner.resume(out.run.id)


def test_eval_changes_only_eval_settings(toy_plugins, results):
    runner, out = run_toy(results)
    again = runner.evaluate(out.run.id, ["temperature=0.5", "eval.num_samples=32"], device_name="cpu")
    nll = {s.name: s for s in again.scores}["nll"]
    assert nll.settings == {"temperature": 0.5}
    with pytest.raises(GenbenchError, match="architecture/training setting"):
        runner.evaluate(out.run.id, ["lr=0.1"])
    with pytest.raises(GenbenchError, match="cannot change at evaluation"):
        runner.evaluate(out.run.id, ["train.batch_size=8"])


def test_run_records_everything(toy_plugins, results):
    runner, out = run_toy(results, seed=7)
    r = runner.store.get_run(out.run.id)
    assert (r.family, r.model, r.dataset, r.benchmark, r.budget, r.seed) == (
        "toy",
        "toy-pixel",
        "digits",
        "digits",
        "smoke",
        7,
    )
    assert r.benchmark_version == 1 and r.num_params == 2 * 64 and r.device == "cpu"
    assert r.config["model"]["lr"] == 0.05 and r.config["train"]["batch_size"] == 64
    assert {"genbench", "torch"} <= set(r.versions)
    assert r.wall_seconds > 0 and r.train_seconds > 0
    kinds = {a.kind for a in r.artifacts}
    assert {"checkpoint", "samples", "loss_curve"} <= kinds
    for a in r.artifacts:
        assert Path(a.path).stat().st_size > 0
    for m in r.metrics:
        assert m.fingerprint["num_samples"] == 64 and m.fingerprint_hash


def test_plugin_dataset_metric_and_benchmark_work_like_builtins(toy_plugins, results):
    runner = Runner(results)
    req = RunRequest("toy", "toy-stripes", budget="smoke", sets=["train.batch_size=100", "lr=0.1"], device="cpu")
    out = runner.run(req)
    assert out.run.benchmark == "toy-stripes" and out.run.status == "finished"
    (score,) = out.scores
    assert score.name == "toy-mean-gap" and score.fingerprint["reference"] == "toy-stripes/test"
    # The stripes average (230 + 3 * 20) / 4 / 255 = 0.284; a trained factorised model matches the mean.
    assert score.value < 0.03


def test_optional_metric_that_cannot_run_here_is_skipped_with_a_notice(toy_plugins, results, monkeypatch):
    from genbench.metrics.classifier_metrics import _ClassifierMetric

    def unavailable(self, data_name, shape):  # type: ignore[no-untyped-def]
        if self.spec.name == "clf-fd":
            raise GenbenchError("weights file missing")

    monkeypatch.setattr(_ClassifierMetric, "check", unavailable)
    notices: list[str] = []
    runner = Runner(results, notice=notices.append)
    out = runner.run(RunRequest("toy", "digits", budget="smoke", sets=SMOKE, device="cpu"))
    assert "clf-fd" not in {s.name for s in out.scores} and "nll" in {s.name for s in out.scores}
    assert notices == ["metric clf-fd skipped: weights file missing"]
    assert out.run.config["skipped_metrics"] == {"clf-fd": "weights file missing"}


def test_ctrl_c_leaves_an_interrupted_run_with_a_checkpoint(toy_plugins, results, monkeypatch):
    import os
    import signal

    import genbench_toy

    real_step = genbench_toy.ToyPixel.training_step

    def step_then_ctrl_c(self, batch, ctx):  # type: ignore[no-untyped-def]
        losses = real_step(self, batch, ctx)
        if ctx.step == 6:
            os.kill(os.getpid(), signal.SIGINT)  # what a terminal sends on Ctrl-C
        return losses

    monkeypatch.setattr(genbench_toy.ToyPixel, "training_step", step_then_ctrl_c)
    runner, part = run_toy(results)
    assert part.run.status == "interrupted" and part.run.images_seen == 7 * 64
    assert load_checkpoint(Path(part.run.run_dir) / "checkpoint.pt")["step"] == 7
    monkeypatch.setattr(genbench_toy.ToyPixel, "training_step", real_step)
    _, full = run_toy(results, runner=runner)
    resumed = runner.resume(part.run.id, device_name="cpu")
    assert [s.value for s in resumed.scores] == [s.value for s in full.scores]


def test_ema_update_is_the_exponential_average_and_copies_buffers():
    from genbench.api import EMA

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4))
    ema = EMA(net, decay=0.9)
    start = [p.detach().clone() for p in ema.module.parameters()]
    with torch.no_grad():
        for p in net.parameters():
            p.add_(1.0)
        net[1].running_mean.fill_(2.5)
    ema.update(net)
    for e, s, p in zip(ema.module.parameters(), start, net.parameters()):
        torch.testing.assert_close(e, 0.9 * s + 0.1 * p)
        assert not e.requires_grad
    assert torch.equal(ema.module[1].running_mean, torch.full((4,), 2.5))
