"""RealNVP (Dinh, Sohl-Dickstein & Bengio 2017, arXiv:1605.08803).

Multi-scale architecture (their Sec. 3.6): at each scale but the last, three checkerboard
affine couplings with alternating masks, a squeeze, three channel-wise couplings with
alternating halves, then half the channels are factored out to N(0, I); the last scale is four
checkerboard couplings. Every coupling's s and t come from one small ResNet, with
log s = scale · tanh(h) (their code's bounded scale), and is followed by an activation
normalisation (Glow's actnorm, standing in for the paper's batch normalisation, whose batch
statistics would make one image's log P depend on its batch). Input: the logit of the
dequantised image, y = logit(α + (1 - 2α) u) (their Sec. 4.1).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from torch import nn

from genbench.api.dataset import DataInfo
from genbench.api.model import eval_setting, memory_setting
from genbench.config import setting
from genbench_flow.flow import FlowModel, apply_preset, max_levels
from genbench_flow.layers import ActNorm, AffineCoupling, ResNet, Split, Squeeze

# Architecture presets; any field set in the config (not None) overrides its preset value.
PRESETS: dict[str, dict[str, Any]] = {
    # 8x8 digits: scales at 8x8 and 4x4.
    "tiny": {"scales": 2, "hidden": 32, "blocks": 1},
    # 28x28 (Fashion-)MNIST: scales at 28x28 and 14x14. Three couplings run at full resolution,
    # so the ResNets are narrow: the quick budget then trains in about 10 minutes on one CPU thread.
    "small": {"scales": 2, "hidden": 16, "blocks": 1},
    # CIFAR-10 as the paper's Sec. 4.1 describes it: "8 residual blocks, 64 feature maps, and
    # downscale only once" (two scales: 32x32, then 16x16). A GPU job.
    "paper": {"scales": 2, "hidden": 64, "blocks": 8},
}


@dataclass
class RealNVPConfig:
    # -- architecture: None takes the preset's value ----------------------------------
    preset: Literal["tiny", "small", "paper"] = "small"
    scales: int | None = setting(None, ge=1, le=8)  # scales of the multi-scale architecture (squeezes + 1)
    hidden: int | None = setting(None, ge=1, le=4096)  # feature maps of the s/t ResNets
    blocks: int | None = setting(None, ge=1, le=64)  # residual blocks per s/t ResNet
    # -- dequantisation -----------------------------------------------------------------
    dequantization: Literal["uniform", "variational"] = "uniform"  # "variational": Flow++'s learned q(v|k)
    dequant_hidden: int = setting(16, ge=1, le=4096)  # channels of the variational dequantiser's networks
    # -- training -----------------------------------------------------------------------
    lr: float = setting(1e-3, gt=0, le=1)  # Adam (the paper's rate)
    warmup_steps: int = setting(100, ge=0, le=10**9)  # linear learning-rate warm-up
    max_grad_norm: float = setting(50.0, ge=0, le=1e6)  # global gradient-norm clip inside the optimizer; 0 = off
    # -- evaluation-time settings ---------------------------------------------------------
    temperature: float = eval_setting(1.0, "sampling temperature T: every latent's σ is scaled by T", ge=0, le=10)
    eval_chunk: int = memory_setting(512, "images per flow pass when scoring and sampling (memory)", ge=1, le=10**6)

    def architecture(self) -> dict[str, Any]:
        """Scales, hidden channels and blocks: the preset with every set field applied over it."""
        return apply_preset(self, PRESETS)


class RealNVP(FlowModel):
    Config = RealNVPConfig
    capabilities = frozenset({"sample", "log_likelihood", "encode"})
    preprocessing = "logit"
    logit_alpha = 0.05
    learned_top_prior = False  # z ~ N(0, I) everywhere, as in the paper

    def __init__(self, config: RealNVPConfig, info: DataInfo) -> None:
        super().__init__(config, info)
        arch = config.architecture()
        self.check_levels(arch["scales"] - 1, info)
        c, h, w = info.shape
        layers: list[nn.Module] = []
        self._split_shapes: list[tuple[int, int, int]] = []

        def coupling(channels: int, mask: Literal["channel", "checkerboard"], parity: int) -> list[nn.Module]:
            n_in, n_out = AffineCoupling.net_channels(channels, mask, parity)
            net = ResNet(n_in, n_out, arch["hidden"], arch["blocks"])
            return [AffineCoupling(channels, net, mask=mask, parity=parity, scale="tanh"), ActNorm(channels)]

        for scale in range(arch["scales"]):
            if scale == arch["scales"] - 1:
                for i in range(4):
                    layers += coupling(c, "checkerboard", i % 2)
                break
            for i in range(3):
                layers += coupling(c, "checkerboard", i % 2)
            layers.append(Squeeze())
            c, h, w = 4 * c, h // 2, w // 2
            for i in range(3):
                layers += coupling(c, "channel", i % 2)
            layers.append(Split(c, learned_prior=False))
            self._split_shapes.append((c - c // 2, h, w))
            c = c // 2
        self.layers = nn.ModuleList(layers)
        self._init_top_prior((c, h, w))

    @classmethod
    def default_config(cls, info: DataInfo) -> RealNVPConfig:
        channels, height, width = info.shape
        if channels == 3 and height >= 32:
            return RealNVPConfig(preset="paper")
        if max(height, width) <= 8:
            return RealNVPConfig(preset="tiny")
        return RealNVPConfig(preset="small", scales=min(2, max_levels(height, width) + 1))
