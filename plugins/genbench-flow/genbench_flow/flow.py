"""What RealNVP and Glow share: the multi-scale stack, its exact likelihood, sampling and training.

A subclass builds ``self.layers``, a flat list of flow layers (see :mod:`genbench_flow.layers`)
in which :class:`~genbench_flow.layers.Split` layers factor latents out, and chooses the input
preprocessing and the top prior. Everything below is the change of variables

    log p(y) = log p(z) + Σ_i log|det ∂f_i/∂h_{i-1}|

applied to the dequantised image (:mod:`genbench_flow.dequantization`), so ``log_likelihood``
returns genbench's log P(k) in nats per 8-bit image (``genbench/metrics/nll.py``).
"""

from __future__ import annotations

import math
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import nn

from genbench.api import randint_tensor, randn_tensor
from genbench.api.dataset import DataInfo
from genbench.api.model import Batch, GenerativeModel, StepContext
from genbench.errors import GenbenchError
from genbench.metrics.nll import LEVELS, discrete_log_prob_from_density, to_levels
from genbench_flow.dequantization import (
    UniformDequantizer,
    VariationalDequantizer,
    postprocess,
    preprocess,
    to_image,
)
from genbench_flow.layers import AffineCoupling, Split, gaussian_log_prob

# Sampling clamps every intermediate value to ±SAMPLE_BOUND. On the path of real data the values
# stay within about ±20; a draw from the tail of the prior through an undertrained flow can be
# expanded by each coupling in turn until float32 overflows, and would come back as NaN. With
# the clamp such a draw ends as a saturated image instead. Likelihoods never pass through it.
SAMPLE_BOUND = 1e4


def max_levels(height: int, width: int) -> int:
    """How many times a (height, width) image can be squeezed: both sides must stay even."""
    n = 0
    while height % 2 == 0 and width % 2 == 0 and height > 1 and width > 1:
        height, width, n = height // 2, width // 2, n + 1
    return n


def apply_preset(config: Any, presets: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The architecture of ``config``: its preset's values, each replaced by the config's own field when set."""
    arch = dict(presets[config.preset])
    for key in arch:
        if getattr(config, key) is not None:
            arch[key] = getattr(config, key)
    return arch


class ClippedAdam(torch.optim.Adam):
    """Adam that clips the global gradient norm to ``max_grad_norm`` before each step.

    The model owns this policy (the engine's ``train.grad_clip`` is off by default): early flow
    training has rare huge gradients when a coupling's scale moves fast, and one of them is
    enough to send the log-determinant to inf. Gradients are already unscaled and averaged
    across ranks when ``step`` runs (see ``StepContext.optimize``).
    """

    def __init__(self, params: Any, *, lr: float, max_grad_norm: float) -> None:
        super().__init__(params, lr=lr)
        self.max_grad_norm = max_grad_norm

    @torch.no_grad()
    def step(self, closure: Any = None) -> Any:  # type: ignore[override]
        if self.max_grad_norm > 0:
            params = [p for g in self.param_groups for p in g["params"] if p.grad is not None]
            nn.utils.clip_grad_norm_(params, self.max_grad_norm)
        return super().step(closure)


class FlowModel(GenerativeModel):
    """Base class of the flows: subclasses set ``layers``, ``top_shape`` and the choices below.

    ``sample`` draws every latent from its prior at ``config.temperature`` (σ scaled by T,
    Glow Sec. 5) and maps it back; ``encode`` returns all latents of the cell-centre of each
    image, flattened, (B, D); ``log_likelihood`` is the dequantised bound on log P(k).
    """

    preprocessing: Literal["center", "logit"] = "center"
    logit_alpha: float = 0.05
    learned_top_prior: bool = True
    conditional: bool = False  # class-conditional top prior (``cglow``)
    coupling_classes: int = 0  # > 0: coupling networks read the one-hot label (``cglow``'s class_couplings)

    def __init__(self, config: Any, info: DataInfo) -> None:
        super().__init__(config, info)
        self.num_dims = math.prod(info.shape)
        if config.dequantization == "variational":
            self.dequantizer: nn.Module = VariationalDequantizer(info.shape[0], config.dequant_hidden)
        else:
            self.dequantizer = UniformDequantizer()

    def _init_top_prior(self, top_shape: tuple[int, int, int]) -> None:
        """Call at the end of a subclass's ``__init__`` with the shape of the last latent."""
        self.top_shape = top_shape
        c = top_shape[0]
        # Glow's "learntop": a learned mean and log-std per position, zero at the start (= N(0, I)).
        self.top_prior = nn.Parameter(torch.zeros(1, 2 * c, *top_shape[1:])) if self.learned_top_prior else None
        # Glow's y-conditioned prior ("ycond"): mean and log-std shifted by a zero-initialised linear
        # map of the one-hot label (an embedding), here per position, not only per channel.
        self.class_prior = nn.Embedding(self.info.num_classes, 2 * math.prod(top_shape)) if self.conditional else None
        # Glow's auxiliary classifier ("weight_y"): logits from the top latent's spatial mean.
        self.class_head = nn.Linear(c, self.info.num_classes) if self.conditional else None
        for layer in (self.class_prior, self.class_head):
            if layer is not None:
                nn.init.zeros_(layer.weight)
        if self.class_head is not None:
            nn.init.zeros_(self.class_head.bias)

    @staticmethod
    def check_levels(levels: int, info: DataInfo) -> None:
        most = max_levels(*info.shape[1:])
        if levels > most:
            raise GenbenchError(
                f"levels={levels}: a {info.shape[1]}x{info.shape[2]} image can be squeezed at most {most} "
                f"times (both sides must stay even); set levels <= {most}"
            )

    # -- the prior ----------------------------------------------------------------------

    def _top_params(self, n: int, labels: torch.Tensor | None, ref: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and log-std of the top latent, each (n, C, H, W)."""
        c = self.top_shape[0]
        if self.top_prior is None:
            zeros = ref.new_zeros(n, *self.top_shape)
            h = torch.cat([zeros, zeros], dim=1)
        else:
            h = self.top_prior.to(ref.dtype).expand(n, -1, -1, -1)
        if self.class_prior is not None and labels is not None:
            h = h + self.class_prior(labels).to(ref.dtype).view(n, 2 * c, *self.top_shape[1:])
        return h[:, :c], h[:, c:]

    # -- the flow -----------------------------------------------------------------------

    def flow_forward(
        self, y: torch.Tensor, labels: torch.Tensor | None = None, *, all_classes: bool = False
    ) -> tuple[list[torch.Tensor], torch.Tensor, torch.Tensor]:
        """y (B, C, H, W) -> (latents, Σ log|det|, Σ log p of the factored-out latents), top latent last.

        Class-conditional split priors (cglow) read ``labels``; with ``all_classes`` the last
        term is (K, B), one row per class, where any split prior depends on the class.
        """
        logdet = y.new_zeros(y.shape[0])
        log_pz = y.new_zeros(y.shape[0])
        latents = []
        h = y
        for layer in self.layers:
            if isinstance(layer, Split):
                h, z, log_p = layer(h, labels, all_classes=all_classes)
                latents.append(z)
                log_pz = log_pz + log_p
            elif isinstance(layer, AffineCoupling) and self.coupling_classes:
                h, ld = layer(h, self._label_map(labels, h))
                logdet = logdet + ld
            else:
                h, ld = layer(h)
                logdet = logdet + ld
        latents.append(h)
        return latents, logdet, log_pz

    def flow_inverse(
        self,
        top: torch.Tensor,
        *,
        latents: list[torch.Tensor] | None = None,
        noise: list[torch.Tensor] | None = None,
        temperature: float = 1.0,
        bound: float | None = None,
        labels: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """The top latent back to y (B, C, H, W).

        Each Split takes its latent from ``latents`` (bottom-up, as :meth:`flow_forward` returns
        them, top excluded) or else draws it as mean + temperature · σ · noise (``noise``
        top-down; none means the prior's mean). ``bound`` clamps every intermediate value.
        """
        h = top
        given = list(reversed(latents)) if latents is not None else []
        splits = iter(noise or [])
        for layer in reversed(self.layers):
            if isinstance(layer, Split):
                z2 = given.pop(0) if given else None
                h = layer.inverse(h, z2, temperature=temperature, noise=next(splits, None), labels=labels)
            elif isinstance(layer, AffineCoupling) and self.coupling_classes:
                h = layer.inverse(h, self._label_map(labels, h))
            else:
                h = layer.inverse(h)
            if bound is not None:
                h = h.clamp(-bound, bound)
        return h

    def _label_map(self, labels: torch.Tensor | None, like: torch.Tensor) -> torch.Tensor:
        """The one-hot label as constant channels (B, K, H, W) for class-conditioned couplings;
        zeros without labels (``encode``: the map with no class given)."""
        if labels is None:
            return like.new_zeros(like.shape[0], self.coupling_classes, *like.shape[2:])
        onehot = F.one_hot(labels, self.coupling_classes).to(like.dtype)  # (B, K)
        return onehot[:, :, None, None].expand(-1, -1, *like.shape[2:])

    def log_density(self, y: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """log p(y) of the flow in nats, (B,). Without labels a conditional flow marginalises them."""
        return self.log_density_and_top(y, labels)[0]

    def log_density_and_top(
        self, y: torch.Tensor, labels: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """log p(y) in nats (B,) and the top latent (B, C, H, W) it was computed from."""
        marginal = self.class_prior is not None and labels is None
        if marginal and self.coupling_classes:
            # The whole map depends on the class: one pass per class, then log Σ_c p(c) p(y | c).
            per_class = []
            for c in range(self.info.num_classes):
                lab = torch.full((y.shape[0],), c, dtype=torch.long, device=y.device)
                per_class.append(self.log_density_and_top(y, lab)[0])
            log_p = torch.logsumexp(torch.stack(per_class), dim=0) - math.log(self.info.num_classes)
            return log_p, y.new_zeros(0)
        latents, logdet, log_pz = self.flow_forward(y, labels, all_classes=marginal)
        top = latents[-1]
        b = y.shape[0]
        if marginal:
            # log p(z) = log Σ_c p(c) p(z | c) with a uniform p(c); the split priors' terms are
            # per class too where they depend on it, (K, B), else (B,) and the same for all.
            per_class = []
            for c in range(self.info.num_classes):
                lab = torch.full((b,), c, dtype=torch.long, device=y.device)
                per_class.append(gaussian_log_prob(top, *self._top_params(b, lab, y)))
            joint = torch.stack(per_class) + log_pz  # (K, B)
            return torch.logsumexp(joint, dim=0) - math.log(self.info.num_classes) + logdet, top
        log_top = gaussian_log_prob(top, *self._top_params(b, labels, y))
        return log_top + log_pz + logdet, top

    def class_logits(self, top: torch.Tensor) -> torch.Tensor:
        """The auxiliary classifier's logits (B, num_classes) from the top latent (B, C, H, W)."""
        assert self.class_head is not None
        return self.class_head(top.mean(dim=(2, 3)))

    def log_prob_bound(
        self, x: torch.Tensor, labels: torch.Tensor | None = None, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """One-draw estimate of the dequantisation bound on log P(k) in nats, (B,)."""
        return self._bound_and_top(x, labels, generator)[0]

    def _bound_and_top(
        self, x: torch.Tensor, labels: torch.Tensor | None, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        u, log_q = self.dequantizer(x, generator)  # u in [0, 1)^D, (B,)
        y, log_dy_du = preprocess(u, self.preprocessing, self.logit_alpha)
        log_p_y, top = self.log_density_and_top(y, labels)
        return discrete_log_prob_from_density(log_p_y + log_dy_du - log_q, self.num_dims), top

    # -- training -------------------------------------------------------------------------

    def configure_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        cfg = self.config
        return {"flow": ClippedAdam(self.parameters(), lr=cfg.lr, max_grad_norm=cfg.max_grad_norm)}

    def training_step(self, batch: Batch, ctx: StepContext) -> dict[str, torch.Tensor]:
        cfg = self.config
        # Linear learning-rate warm-up (Glow's code warms up too): the first steps move actnorm
        # and the 1x1 convolutions away from their data-dependent start gently.
        scale = min(1.0, (ctx.step + 1) / cfg.warmup_steps) if cfg.warmup_steps > 0 else 1.0
        for group in ctx.optimizers["flow"].param_groups:
            group["lr"] = cfg.lr * scale
        labels = batch.y if self.conditional else None
        with ctx.autocast():
            log_p, top = self._bound_and_top(batch.x, labels)
        bits = -log_p.float().mean() / (self.num_dims * math.log(2))  # bits/dim of the bound
        out = {"loss": bits.detach()}
        weight_y = float(getattr(cfg, "weight_y", 0.0))
        if self.class_head is not None and labels is not None and weight_y > 0:
            # Glow's code: loss = bits_x + weight_y * bits_y, bits_y the classifier's cross-entropy in bits.
            bits_y = F.cross_entropy(self.class_logits(top.float()), labels) / math.log(2)
            out["bits_y"] = bits_y.detach()
            ctx.optimize(bits + weight_y * bits_y, "flow")
        else:
            ctx.optimize(bits, "flow")
        return out

    # -- capabilities ---------------------------------------------------------------------

    def _device(self) -> torch.device:
        return next(self.parameters()).device

    @torch.no_grad()
    def sample_latents(
        self, n: int, *, labels: torch.Tensor | None = None, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """y (before postprocessing) of n samples at ``config.temperature``."""
        device = self._device()
        t = float(self.config.temperature)
        if self.class_prior is not None and labels is None:
            labels = randint_tensor(self.info.num_classes, (n,), generator=generator, device=device)
        elif labels is not None and self.class_prior is None:
            raise ValueError(f"{type(self).__name__} is unconditional: sample() takes no labels (use cglow)")
        ref = torch.zeros((), device=device)
        mean, logs = self._top_params(n, labels, ref)
        top = mean + t * torch.exp(logs) * randn_tensor(tuple(mean.shape), generator=generator, device=device)
        # One noise tensor per Split, top-down, always drawn so a seed gives the same noise at any T.
        noise = [randn_tensor((n, *shape), generator=generator, device=device) for shape in reversed(self.split_shapes)]
        # All noise drawn first, then the inverse a chunk at a time (memory and speed only).
        chunk, parts = self._eval_chunk(), []
        for i in range(0, max(n, 1), chunk):
            part = slice(i, i + chunk)
            noise_part = [z[part] for z in noise]
            labels_part = None if labels is None else labels[part]
            parts.append(
                self.flow_inverse(top[part], noise=noise_part, temperature=t, bound=SAMPLE_BOUND, labels=labels_part)
            )
        return torch.cat(parts)

    @torch.no_grad()
    def sample(
        self, n: int, *, labels: torch.Tensor | None = None, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """(n, C, H, W) 8-bit images in [0, 1]: the cell each flow sample u falls in."""
        y = self.sample_latents(n, labels=labels, generator=generator)
        return to_image(postprocess(y, self.preprocessing, self.logit_alpha))

    def _eval_chunk(self) -> int:
        """Images per flow pass when evaluating: ``config.eval_chunk`` (a memory setting)."""
        return int(self.config.eval_chunk)

    @torch.inference_mode()
    def log_likelihood(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """Bound on log P(k) in nats for each 8-bit image, (B,); log P(k | y) for cglow given labels.

        One dequantisation draw per image from the global RNG: an unbiased estimate of the bound.
        The whole batch is dequantised first (the same draws as one pass), then the flow runs
        ``eval_chunk`` images at a time, which bounds the memory a batch takes (on MNIST a Glow pass
        costs about the same CPU time per image at 500 and at 64).
        """
        labels = y if self.conditional else None
        u, log_q = self.dequantizer(x)  # u in [0, 1)^D, (B,)
        chunk, out = self._eval_chunk(), []
        for i in range(0, x.shape[0], chunk):
            part, log_dy_du = preprocess(u[i : i + chunk], self.preprocessing, self.logit_alpha)
            log_p_y, _ = self.log_density_and_top(part, None if labels is None else labels[i : i + chunk])
            out.append(discrete_log_prob_from_density(log_p_y + log_dy_du - log_q[i : i + chunk], self.num_dims))
        return torch.cat(out) if out else x.new_zeros(0)

    @torch.no_grad()
    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """All latents of the cell centres u = (k + 1/2) / 256, flattened: (B, D)."""
        u = (to_levels(x).to(x.dtype) + 0.5) / LEVELS
        y, _ = preprocess(u, self.preprocessing, self.logit_alpha)
        chunk, out = self._eval_chunk(), []
        for i in range(0, x.shape[0], chunk):
            latents, _, _ = self.flow_forward(y[i : i + chunk])
            out.append(torch.cat([z.flatten(1) for z in latents], dim=1))
        return torch.cat(out)

    @property
    def split_shapes(self) -> list[tuple[int, int, int]]:
        """(C, H, W) of each factored-out latent, bottom-up; set by the subclass."""
        return self._split_shapes
