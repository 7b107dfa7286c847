"""Glow (Kingma & Dhariwal 2018, arXiv:1807.03039).

L levels; each level squeezes, then runs K steps of flow, each step being
actnorm (data-dependent init) → invertible 1x1 convolution (LU form) → affine coupling
(channel halves, zero-initialised last layer, scale sigmoid(h + 2)); every level but the last
then splits half its channels off to a learned conditional prior N(μ(h), σ(h)²). The top latent
has a learned prior ("learntop"); ``cglow`` adds a class-conditional shift of it (the paper's
y-conditioned prior), of every split prior, class-reading couplings and a floor on the coupling
scale (see :class:`ConditionalGlowConfig`). Input: y = u - 0.5 for dequantised u in [0, 1).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from torch import nn

from genbench.api.dataset import DataInfo
from genbench.api.model import eval_setting, memory_setting
from genbench.config import setting
from genbench_flow.flow import FlowModel, apply_preset, max_levels
from genbench_flow.layers import ActNorm, AffineCoupling, GlowNet, InvConv1x1, Split, Squeeze

# Architecture presets; any field set in the config (not None) overrides its preset value.
PRESETS: dict[str, dict[str, Any]] = {
    # 8x8 digits: 8 -> 4 -> 2.
    "tiny": {"levels": 2, "steps": 4, "hidden": 32},
    # 28x28 (Fashion-)MNIST: 28 -> 14 -> 7 (7 is odd: two levels, no padding), sized so the quick
    # budget (60,000 images) trains in about 10 minutes on one CPU thread.
    "small": {"levels": 2, "steps": 8, "hidden": 48},
    # The paper's CIFAR-10 model (its hyperparameter table): L = 3, K = 32, 512 channels. A GPU job.
    "paper": {"levels": 3, "steps": 32, "hidden": 512},
}


@dataclass
class GlowConfig:
    # -- architecture: None takes the preset's value ----------------------------------
    preset: Literal["tiny", "small", "paper"] = "small"
    levels: int | None = setting(None, ge=1, le=8)  # L: squeezes; all but the last end with a split
    steps: int | None = setting(None, ge=1, le=256)  # K: steps of flow per level
    hidden: int | None = setting(None, ge=1, le=4096)  # channels of each coupling's network
    # -- dequantisation -----------------------------------------------------------------
    dequantization: Literal["uniform", "variational"] = "uniform"  # "variational": Flow++'s learned q(v|k)
    dequant_hidden: int = setting(16, ge=1, le=4096)  # channels of the variational dequantiser's networks
    # -- training -----------------------------------------------------------------------
    lr: float = setting(1e-3, gt=0, le=1)  # Adam, Glow's rate
    warmup_steps: int = setting(100, ge=0, le=10**9)  # linear learning-rate warm-up
    max_grad_norm: float = setting(50.0, ge=0, le=1e6)  # global gradient-norm clip inside the optimizer; 0 = off
    # -- evaluation-time settings ---------------------------------------------------------
    temperature: float = eval_setting(
        1.0, "sampling temperature T: every latent's σ is scaled by T (Glow Sec. 5)", ge=0, le=10
    )
    eval_chunk: int = memory_setting(512, "images per flow pass when scoring and sampling (memory)", ge=1, le=10**6)

    def architecture(self) -> dict[str, Any]:
        """Levels, steps and hidden channels: the preset with every set field applied over it."""
        return apply_preset(self, PRESETS)


class Glow(FlowModel):
    Config = GlowConfig
    capabilities = frozenset({"sample", "log_likelihood", "encode"})
    preprocessing = "center"
    learned_top_prior = True

    def __init__(self, config: GlowConfig, info: DataInfo) -> None:
        super().__init__(config, info)
        arch = config.architecture()
        self.check_levels(arch["levels"], info)
        c, h, w = info.shape
        layers: list[nn.Module] = []
        self._split_shapes: list[tuple[int, int, int]] = []
        # cglow's class_couplings: every coupling network also reads the one-hot label (as channels).
        self.coupling_classes = (
            info.num_classes if self.conditional and getattr(config, "class_couplings", False) else 0
        )
        # cglow's coupling settings (Glow's: affine, scale unfloored).
        additive = getattr(config, "coupling", "affine") == "additive"
        scale = "none" if additive else "sigmoid"
        min_scale = getattr(config, "min_scale", 0.0)
        for level in range(arch["levels"]):
            layers.append(Squeeze())
            c, h, w = 4 * c, h // 2, w // 2
            for _ in range(arch["steps"]):
                n_in, n_out = AffineCoupling.net_channels(c, "channel", additive=additive)
                n_in += self.coupling_classes
                layers += [
                    ActNorm(c),
                    InvConv1x1(c),  # draws a random rotation before the network's weights (golden values)
                    AffineCoupling(
                        c, GlowNet(n_in, n_out, arch["hidden"]), mask="channel", scale=scale, min_scale=min_scale
                    ),
                ]
            if level < arch["levels"] - 1:
                classes = info.num_classes if self.conditional and getattr(config, "class_splits", False) else 0
                layers.append(Split(c, learned_prior=True, num_classes=classes, size=(h, w)))
                self._split_shapes.append((c - c // 2, h, w))
                c = c // 2
        self.layers = nn.ModuleList(layers)
        self._init_top_prior((c, h, w))

    @classmethod
    def default_config(cls, info: DataInfo) -> GlowConfig:
        channels, height, width = info.shape
        if channels == 3 and height >= 32:
            return GlowConfig(preset="paper")
        if max(height, width) <= 8:
            return GlowConfig(preset="tiny")
        return GlowConfig(preset="small", levels=min(2, max_levels(height, width)))


@dataclass
class ConditionalGlowConfig(GlowConfig):
    # Weight of the auxiliary class prediction loss on the top latent, in bits per image against
    # the bound's bits/dim (Glow's code: loss = bits_x + weight_y * bits_y; its class-conditional
    # CIFAR-10 run uses 0.01). 0 trains the conditional prior by likelihood alone.
    weight_y: float = setting(0.01, ge=0, le=1e3)
    # The split priors' mean and log-std shifted by the class too (a linear map of the one-hot
    # label per position), not only the top prior's: the label then reaches every latent.
    class_splits: bool = True
    # Beyond the paper: every coupling network also reads the one-hot label, so the class shapes
    # the whole map and not only the priors (a conditional flow; Ardizzone et al. 2019's cINN).
    # The label-free likelihood then takes one pass of the flow per class.
    class_couplings: bool = True
    # "affine": y_b = x_b * s + t, s = sigmoid(h + 2) as glow (Glow's code's flow_coupling=1);
    # "additive": y_b = x_b + t (flow_coupling=0, the code's default and the coupling of the
    # paper's class-conditional runs; on MNIST quick it cost 1 bit/dim, see the README).
    coupling: Literal["affine", "additive"] = "affine"
    # Floor of the affine scale: s = min_scale + (1 - min_scale) * sigmoid(h + 2) (0: Glow's), so
    # that sampling divides by at most 1/0.35 per coupling. With Glow's unfloored scale, 77% of
    # cglow's MNIST quick samples at T = 1 were blown up by the inverse (one coupling after
    # another dividing by s near 0) into saturated noise, which is why its classes seemed not to
    # steer (plugin README, issue 25).
    min_scale: float = setting(0.35, ge=0, lt=1)


class ConditionalGlow(Glow):
    """Glow with a class-conditional top prior: ``sample(labels=...)`` draws that class.

    The top latent's mean and log-std are shifted per position by a learned linear map of the
    one-hot label, and an auxiliary classifier on the top latent adds ``weight_y`` times its
    cross-entropy to the loss (Glow Sec. 5 and its code's ``ycond``/``weight_y``). Training
    maximises log p(x | y); ``log_likelihood(x)`` without labels is log p(x) =
    log Σ_y p(y) p(x | y) with a uniform p(y), the quantity genbench's NLL ranks, and with
    labels it is log p(x | y). The split priors and the coupling networks read the label too
    (``class_splits``, ``class_couplings``), and the coupling scale is floored (``min_scale``) so
    that sampling cannot blow a draw up.
    """

    Config = ConditionalGlowConfig
    capabilities = frozenset({"sample", "log_likelihood", "encode", "conditional"})
    conditional = True

    @classmethod
    def default_config(cls, info: DataInfo) -> ConditionalGlowConfig:
        # Glow's architecture for this data; every other field keeps cglow's own default.
        base = Glow.default_config(info)
        return ConditionalGlowConfig(preset=base.preset, levels=base.levels, steps=base.steps, hidden=base.hidden)
