"""The TensorBoard tracker writes a run's losses and metrics as event files through the lifecycle hooks."""

from __future__ import annotations

import pytest

pytest.importorskip("tensorboard")

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # noqa: E402

from genbench.engine.runner import Runner, RunRequest  # noqa: E402


def test_a_run_leaves_losses_and_metrics_in_tensorboard(monkeypatch, tmp_path):
    from genbench.plugins import get_plugins

    monkeypatch.delenv("GENBENCH_DB", raising=False)
    monkeypatch.setenv("GENBENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("GENBENCH_TENSORBOARD", str(tmp_path / "tb"))
    get_plugins.cache_clear()
    plugins = get_plugins()
    assert any(i.name == "tensorboard" and not i.error for i in plugins.info)
    if "vae" not in plugins.models:
        pytest.skip("the vae plugin is not installed")
    runner = Runner(tmp_path / "results", plugins=plugins)
    sets = ["train.batch_size=64", "train.log_every=4", "eval.num_samples=64", "iwae_k=2", "latent_dim=2"]
    out = runner.run(RunRequest("vae", "digits", budget="smoke", sets=sets, device="cpu"))
    assert out.run.status == "finished"
    acc = EventAccumulator(str(tmp_path / "tb" / out.run.id))
    acc.Reload()
    tags = acc.Tags()["scalars"]
    loss_tags = [t for t in tags if t.startswith("loss/")]
    assert loss_tags, tags
    points = acc.Scalars(loss_tags[0])
    assert [p.step for p in points] == sorted(p.step for p in points) and points[-1].step == out.run.images_seen
    stored = {m.name: m.value for m in out.run.metrics}
    for name, value in stored.items():
        assert acc.Scalars(f"metric/{name}")[0].value == pytest.approx(value, rel=1e-6)
    get_plugins.cache_clear()
