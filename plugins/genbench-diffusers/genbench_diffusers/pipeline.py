"""A pretrained diffusers image pipeline as a genbench model: loaded, never trained, sampled under
the benchmark's protocol.

Any pipeline ``diffusers.DiffusionPipeline.from_pretrained`` loads that holds a ``UNet2DModel``
(``unet``) and a scheduler (``scheduler``) works: ``DDPMPipeline``, ``DDIMPipeline``, ... from a
folder written by ``save_pretrained`` or a Hugging Face Hub id (downloaded once into the Hub
cache; the commit actually used is recorded). The sampling loop is the pipelines' own
(``DDPMPipeline.__call__``: noise, then ``unet`` and ``scheduler.step`` per timestep, then
``x / 2 + 0.5`` clipped to [0, 1]), run here so that genbench's seeded generator draws every
noise and the samples land in [0, 1] NCHW like every genbench model's.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from genbench.api import randn_tensor
from genbench.api.dataset import DataInfo
from genbench.api.model import Batch, GenerativeModel, StepContext, eval_setting
from genbench.errors import GenbenchError

SCHEDULERS = ("pipeline", "ddpm", "ddim")


@dataclass
class DiffusersConfig:
    pretrained: str = ""  # a Hub id (google/ddpm-cifar10-32) or a folder written by save_pretrained
    revision: str = ""  # Hub branch, tag or commit; "" = the default branch (the commit used is recorded)
    scheduler: str = eval_setting("pipeline", "sampler: pipeline (the scheduler saved with it), ddpm or ddim")
    steps: int = eval_setting(0, "denoising steps; 0 = the scheduler's training timesteps", ge=0, le=100_000)
    eta: float = eval_setting(0.0, "DDIM only: noise of each step (0 deterministic, 1 DDPM-like)", ge=0.0, le=1.0)


def _weights_sha256(folder: Path) -> str:
    """One hash over the UNet's weight files of a local pipeline folder (names and bytes)."""
    digest = hashlib.sha256()
    for path in sorted((folder / "unet").glob("*")):
        if path.suffix in (".safetensors", ".bin"):
            digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def load_pipeline(config: DiffusersConfig) -> tuple[Any, dict[str, Any]]:
    """The pipeline ``config`` names and where it came from: {"pipeline", "revision", ...}."""
    from diffusers import DiffusionPipeline

    if not config.pretrained:
        raise GenbenchError(
            "model 'diffusers' needs a pipeline: --set pretrained=HUB_ID (e.g. google/ddpm-cifar10-32) "
            "or --set pretrained=FOLDER written by save_pretrained"
        )
    folder = Path(config.pretrained).expanduser()
    if folder.is_dir():
        if config.revision:
            raise GenbenchError(f"--set revision={config.revision} names a Hub revision; {folder} is a local folder")
        source = {"pipeline": str(folder.resolve()), "revision": "local folder", "unet_sha256": _weights_sha256(folder)}
    else:
        from huggingface_hub import snapshot_download

        try:  # the snapshot's folder is named by the commit it holds: that is the revision used
            folder = Path(snapshot_download(config.pretrained, revision=config.revision or None))
        except Exception as exc:
            raise GenbenchError(
                f"cannot get pipeline '{config.pretrained}' from the Hugging Face Hub ({type(exc).__name__}: "
                f"{str(exc).splitlines()[0] if str(exc) else ''}): check the id, go online, or give a local folder"
            ) from None
        source = {"pipeline": config.pretrained, "revision": folder.name}
    try:
        pipe = DiffusionPipeline.from_pretrained(folder)
    except Exception as exc:
        raise GenbenchError(
            f"diffusers cannot load a pipeline from {config.pretrained} ({type(exc).__name__}: "
            f"{str(exc).splitlines()[0] if str(exc) else ''})"
        ) from None
    return pipe, {**source, "pipeline_class": type(pipe).__name__}


def _scheduler(pipe: Any, name: str) -> Any:
    from diffusers import DDIMScheduler, DDPMScheduler

    if name == "pipeline":
        return pipe.scheduler
    if name == "ddpm":
        return DDPMScheduler.from_config(pipe.scheduler.config)
    if name == "ddim":
        return DDIMScheduler.from_config(pipe.scheduler.config)
    raise GenbenchError(f"--set scheduler={name}: choose one of {', '.join(SCHEDULERS)}")


class DiffusersPipeline(GenerativeModel):
    """Unconditional sampling from a pretrained pipeline's UNet and scheduler (a class-conditional
    UNet is sampled with uniformly drawn labels)."""

    Config = DiffusersConfig
    capabilities = frozenset({"sample"})
    pretrained = True

    def __init__(self, config: DiffusersConfig, info: DataInfo) -> None:
        from diffusers import UNet2DModel

        super().__init__(config, info)
        pipe, self._source = load_pipeline(config)
        unet, scheduler = getattr(pipe, "unet", None), getattr(pipe, "scheduler", None)
        if not isinstance(unet, UNet2DModel) or scheduler is None:
            raise GenbenchError(
                f"pipeline {config.pretrained} ({type(pipe).__name__}) is not an image diffusion pipeline with a "
                "UNet2DModel 'unet' and a 'scheduler'"
            )
        c, h, w = info.shape
        size = unet.config.sample_size
        hw = tuple(size) if isinstance(size, (list, tuple)) else (size, size)
        if unet.config.in_channels != c or hw != (h, w):
            raise GenbenchError(
                f"pipeline {config.pretrained} makes {unet.config.in_channels}x{hw[0]}x{hw[1]} images; dataset "
                f"'{info.name}' has {c}x{h}x{w}: pick the benchmark of the pipeline's dataset"
            )
        self.unet = unet.eval().requires_grad_(False)
        self.scheduler = _scheduler(pipe, config.scheduler)
        self.num_class_embeds = unet.config.num_class_embeds

    def source(self) -> dict[str, Any]:
        config = {k: v for k, v in dict(self.scheduler.config).items() if not k.startswith("_")}
        return {**self._source, "scheduler": type(self.scheduler).__name__, "scheduler_config": config}

    @classmethod
    def network_evaluations(cls, config: DiffusersConfig) -> int | None:
        return config.steps or None  # 0: the scheduler's own count, known once it is loaded

    # -- training: none -------------------------------------------------------------------

    def configure_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {}  # pretrained: the engine trains nothing

    def training_step(self, batch: Batch, ctx: StepContext) -> dict[str, torch.Tensor]:
        return {}

    # -- sampling ---------------------------------------------------------------------------

    def _labels(self, n: int, labels: torch.Tensor | None, generator: torch.Generator | None) -> torch.Tensor | None:
        if self.num_class_embeds is None:
            return None
        if labels is None:  # unconditional samples of a class-conditional UNet: classes drawn uniformly
            labels = torch.randint(self.info.num_classes, (n,), generator=generator, device="cpu")
        return labels

    @torch.no_grad()
    def sample(
        self, n: int, *, labels: torch.Tensor | None = None, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """(n, C, H, W) float in [0, 1]: ``DDPMPipeline.__call__``'s loop, every noise from ``generator``."""
        from diffusers import DDIMScheduler

        device = next(self.unet.parameters()).device
        sched = self.scheduler
        sched.set_timesteps(self.config.steps or sched.config.num_train_timesteps, device=device)
        class_labels = self._labels(n, labels, generator)
        if class_labels is not None:
            class_labels = class_labels.to(device)
        x = randn_tensor((n, *self.info.shape), generator=generator, device=device) * sched.init_noise_sigma
        extra = {"eta": self.config.eta} if isinstance(sched, DDIMScheduler) else {}
        for t in sched.timesteps:  # x: (n, C, H, W), from noise to images in [-1, 1]
            eps = self.unet(sched.scale_model_input(x, t), t, class_labels=class_labels).sample
            x = sched.step(eps, t, x, generator=generator, **extra).prev_sample
        return (x / 2 + 0.5).clamp(0, 1).float()


class DiffusersConditionalPipeline(DiffusersPipeline):
    """A class-conditional pipeline (its UNet has ``num_class_embeds``): samples of the labels asked for."""

    capabilities = frozenset({"sample", "conditional"})

    def __init__(self, config: DiffusersConfig, info: DataInfo) -> None:
        super().__init__(config, info)
        if self.num_class_embeds is None or self.num_class_embeds < info.num_classes:
            raise GenbenchError(
                f"pipeline {config.pretrained} is not class-conditional over {info.num_classes} classes "
                f"(its UNet has num_class_embeds={self.num_class_embeds}): use model 'diffusers'"
            )
