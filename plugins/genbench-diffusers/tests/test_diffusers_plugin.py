"""genbench-diffusers, offline: tiny randomly initialised UNet2DModel pipelines saved with save_pretrained.

The model contract (sampling shape, range, seeded determinism), equality with diffusers' own
DDPMPipeline/DDIMPipeline on the same generator, a `genbench run` that trains nothing and records
the pipeline, and one-line errors for pipelines that do not fit.
"""

from __future__ import annotations

import functools
import json
import tempfile
from pathlib import Path

import pytest
import torch

from genbench.errors import GenbenchError
from genbench.store import Store
from genbench.store.queries import list_runs
from genbench.testing import ModelContract, run_cli

genbench = run_cli


def save_pipeline(folder: Path, *, channels: int = 1, size: int = 8, classes: int | None = None, seed: int = 0) -> Path:
    """A randomly initialised DDPM pipeline (a 2-level UNet2DModel, 100 training timesteps) in ``folder``."""
    from diffusers import DDPMPipeline, DDPMScheduler, UNet2DModel

    torch.manual_seed(seed)
    unet = UNet2DModel(
        sample_size=size, in_channels=channels, out_channels=channels, layers_per_block=1,
        block_out_channels=(16, 32), down_block_types=("DownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "UpBlock2D"), norm_num_groups=8, num_class_embeds=classes,
    )  # fmt: skip
    DDPMPipeline(unet=unet, scheduler=DDPMScheduler(num_train_timesteps=100)).save_pretrained(folder)
    return folder


@functools.cache
def tiny_pipeline(classes: int | None = None) -> str:
    """A pipeline folder shared by the contract tests of this module (made once per process)."""
    return str(save_pipeline(Path(tempfile.mkdtemp(prefix="genbench-diffusers-")), classes=classes))


class TestDiffusersContract(ModelContract):
    model_name = "diffusers"
    train_steps = 2

    def build(self, spec, data, seed: int = 0):  # type: ignore[no-untyped-def]
        self.overrides = {"pretrained": tiny_pipeline(), "steps": "4"}
        return super().build(spec, data, seed)


class TestDiffusersConditionalContract(ModelContract):
    model_name = "diffusers-conditional"
    train_steps = 2

    def build(self, spec, data, seed: int = 0):  # type: ignore[no-untyped-def]
        self.overrides = {"pretrained": tiny_pipeline(classes=10), "steps": "4"}
        return super().build(spec, data, seed)


def _model(folder: Path | str, **settings: str):  # type: ignore[no-untyped-def]
    from genbench.data import load_dataset
    from genbench.engine.build import build_model, resolve_config
    from genbench.plugins import get_plugins

    data = load_dataset("digits")
    spec = get_plugins().models.get("diffusers")
    return build_model(spec, data.info, resolve_config(spec, data.info, {"pretrained": str(folder), **settings}))


@pytest.mark.parametrize("scheduler", ["ddpm", "ddim"])
def test_samples_equal_the_diffusers_pipeline_on_the_same_generator(tmp_path: Path, scheduler: str) -> None:
    from diffusers import DDIMPipeline, DDIMScheduler, DDPMPipeline

    folder = save_pipeline(tmp_path / "p")
    model = _model(folder, scheduler=scheduler, steps="6", eta="0.5" if scheduler == "ddim" else "0.0")
    ours = model.sample(3, generator=torch.Generator().manual_seed(7))
    if scheduler == "ddpm":
        pipe = DDPMPipeline.from_pretrained(folder)
        kwargs = {}
    else:
        ref = DDPMPipeline.from_pretrained(folder)
        pipe = DDIMPipeline(unet=ref.unet, scheduler=DDIMScheduler.from_config(ref.scheduler.config))
        kwargs = {"eta": 0.5}
    theirs = pipe(batch_size=3, generator=torch.Generator().manual_seed(7), num_inference_steps=6,
                  output_type="np", **kwargs).images  # fmt: skip
    assert ours.shape == (3, 1, 8, 8)
    torch.testing.assert_close(ours.permute(0, 2, 3, 1), torch.from_numpy(theirs), rtol=0, atol=1e-6)


def test_run_trains_nothing_records_the_pipeline_and_ranks(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = save_pipeline(tmp_path / "pipe")
    results = tmp_path / "results"
    code, out, err = genbench(capsys, "run", "diffusers", "--dataset", "digits", "--budget", "smoke",
                              "--set", f"pretrained={folder}", "--set", "steps=5", "--set", "scheduler=ddim",
                              "--threads", "1", "--results-dir", str(results))  # fmt: skip
    assert code == 0, out + err
    assert "nothing trained" in out and "plumbing check" not in out
    store = Store(f"sqlite:///{results / 'genbench.db'}")
    (run,) = [store.get_run(r.id) for r in list_runs(store)]
    assert run.status == "finished" and run.kind == "pretrained" and run.images_seen == 0 and run.steps == 0
    assert not (Path(run.run_dir) / "checkpoint.pt").exists()
    source = run.config["source"]
    assert source["pipeline"] == str(folder.resolve()) and source["pipeline_class"] == "DDPMPipeline"
    assert source["scheduler"] == "DDIMScheduler" and source["scheduler_config"]["num_train_timesteps"] == 100
    assert run.config["model"]["steps"] == 5 and run.num_params > 0
    assert {m.name for m in run.metrics} >= {"clf-fd", "clf-score"}
    code, board, _ = genbench(capsys, "leaderboard", "--format", "json", "--results-dir", str(results))
    (row,) = [r for r in json.loads(board) if r["metric"] == "clf-fd"]
    assert row["model"] == "diffusers" and row["images_seen"] is None and row["train_seconds"] is None
    # Its samples leave through `genbench samples` and score back to its values.
    out_file = tmp_path / "s.npz"
    assert genbench(capsys, "samples", run.id, "--out", str(out_file), "--results-dir", str(results))[0] == 0
    code, _, err = genbench(capsys, "score", str(out_file), "--benchmark", "digits", "--threads", "1",
                            "--results-dir", str(results))  # fmt: skip
    assert code == 0, err
    entry = [r for r in list_runs(store) if r.kind == "samples"][0]
    values = {m.name: m.value for m in store.get_run(entry.id).metrics}
    assert values == {m.name: m.value for m in run.metrics}


def test_pipelines_that_do_not_fit_are_one_line_errors(tmp_path: Path) -> None:
    with pytest.raises(GenbenchError, match="needs a pipeline: --set pretrained="):
        _model("")
    rgb = save_pipeline(tmp_path / "rgb", channels=3, size=32)
    with pytest.raises(GenbenchError, match="makes 3x32x32 images; dataset 'digits' has 1x8x8"):
        _model(rgb)
    with pytest.raises(GenbenchError, match="choose one of pipeline, ddpm, ddim"):
        _model(save_pipeline(tmp_path / "p"), scheduler="euler")
    (tmp_path / "empty").mkdir()
    with pytest.raises(GenbenchError, match="diffusers cannot load a pipeline"):
        _model(tmp_path / "empty")


def test_a_hub_id_loads_from_the_hub_cache_and_records_its_commit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A Hub id goes through snapshot_download; offline, from a cache laid out as the Hub client lays it out."""
    import huggingface_hub.constants

    commit = "0123456789abcdef0123456789abcdef01234567"
    repo = tmp_path / "hub" / "models--acme--tiny-ddpm"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    save_pipeline(repo / "snapshots" / commit)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    model = _model("acme/tiny-ddpm", steps="2")
    assert model.source()["pipeline"] == "acme/tiny-ddpm" and model.source()["revision"] == commit
    assert model.sample(2, generator=torch.Generator().manual_seed(0)).shape == (2, 1, 8, 8)
    with pytest.raises(GenbenchError, match="cannot get pipeline 'acme/absent' from the Hugging Face Hub"):
        _model("acme/absent")


def test_a_suite_runs_a_pipeline_only_where_its_entry_names_one(tmp_path: Path) -> None:
    """`models: all` cannot run a pretrained model without its pipeline: the built-in digits suite
    (`make demo`) leaves it out; an entry that names it and sets `pretrained` runs it."""
    from genbench.plugins import get_plugins
    from genbench.suite import load_suite
    from genbench.suite.plan import expand

    plugins = get_plugins()
    assert plugins.models.get("diffusers").requires_settings == ("pretrained",)
    digits = {j.model for j in expand(plugins.suites["digits"], plugins)}
    assert "diffusers" not in digits and "diffusers-conditional" not in digits and "vae" in digits
    path = tmp_path / "mine.suite.yaml"
    path.write_text(
        "name: mine\nversion: 1\nbudget: smoke\nseeds: [0]\n"
        "entries: [{benchmark: digits, models: [diffusers], set: {pretrained: /some/folder}}]\n"
    )
    assert [j.model for j in expand(load_suite(path), plugins)] == ["diffusers"]
