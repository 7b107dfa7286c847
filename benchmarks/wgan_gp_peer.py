"""genbench's wgan-gp against peers at equal images, the same networks and the same batches.

    .venv/bin/python benchmarks/wgan_gp_peer.py --dataset digits --seeds 0 1 2
    GENBENCH_DATA=../shared/data .venv/bin/python benchmarks/wgan_gp_peer.py --dataset mnist --seeds 0

Three arms train in one process, interleaved step by step (so a busy CPU slows all alike), each
from the same initial weights (genbench's DCGAN generator and He-initialised critic, as
``default_config`` sizes them) on the same real batches, with the same schedule: ``n_critic``
critic updates on each batch, then one generator update (genbench's default, ``reuse_real``):

- ``genbench``: ``WGANGP.training_step`` through a ``StepContext``, as ``genbench run`` trains it.
- ``torchgan``: torchgan 0.1.0's own ``train_ops`` of ``WassersteinDiscriminatorLoss``,
  ``WassersteinGradientPenalty`` and ``WassersteinGeneratorLoss``, called as its ``Trainer``
  calls them. Its penalty differs from the paper's: one epsilon per batch, and the norm of the
  whole batch's gradient rather than each sample's, and the critic steps once for the
  Wasserstein loss and once more for the penalty (printed below the table, not corrected).
- ``reference``: Algorithm 1 of Gulrajani et al. (2017) written out here, independently of
  genbench's code: per-sample epsilon, per-sample gradient norm, one Adam step on
  L = D(x~) - D(x) + lambda (||grad D(x^)|| - 1)^2.

Then clf-fd and clf-recall of each arm's samples against the benchmark's reference images (the
benchmark's quick protocol: its number of samples, seed 0), mean ± std over the seeds. Needs
``pip install -e '.[benchmarks]'`` (torchgan).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch

from genbench.api.metric import EvalContext
from genbench.api.model import Batch, StepContext
from genbench.data import load_dataset
from genbench.engine.batches import Batches
from genbench.engine.build import build_metric, build_model, resolve_config
from genbench.plugins import get_plugins

ARMS = ("genbench", "torchgan", "reference")


def reference_step(model, real: torch.Tensor, opt_d, opt_g) -> None:  # type: ignore[no-untyped-def]
    """Algorithm 1, lines 2-12, for one batch ``real`` in [-1, 1]."""
    cfg, g, d = model.config, model.generator, model.discriminator
    b = real.shape[0]
    for _ in range(cfg.n_critic):
        with torch.no_grad():
            fake = g(torch.randn(b, cfg.z_dim))
        eps = torch.rand(b, 1, 1, 1)
        mixed = (eps * real + (1 - eps) * fake).requires_grad_(True)
        (grad,) = torch.autograd.grad(d(mixed).sum(), mixed, create_graph=True)
        penalty = ((grad.reshape(b, -1).norm(dim=1) - 1) ** 2).mean()
        loss = d(fake).mean() - d(real).mean() + cfg.gp_weight * penalty
        opt_d.zero_grad(set_to_none=True)
        loss.backward()
        opt_d.step()
    loss_g = -d(g(torch.randn(b, cfg.z_dim))).mean()
    opt_g.zero_grad(set_to_none=True)
    loss_g.backward()  # the critic's gradients are cleared before its next step
    opt_g.step()


def torchgan_stepper(model) -> Callable[[torch.Tensor], None]:  # type: ignore[no-untyped-def]
    """torchgan's losses stepping genbench's networks (wrapped as torchgan models)."""
    from torchgan.losses import WassersteinDiscriminatorLoss, WassersteinGeneratorLoss, WassersteinGradientPenalty
    from torchgan.models import Discriminator, Generator

    class Gen(Generator):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__(model.config.z_dim)
            self.net = model.generator

        def forward(self, z: torch.Tensor) -> torch.Tensor:
            return self.net(z)

    class Critic(Discriminator):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__(model.info.shape[0])
            self.net = model.discriminator

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.net(x)

    gen, critic = Gen(), Critic()
    opt_d, opt_g = optimizers(model)
    d_loss, penalty, g_loss = (
        WassersteinDiscriminatorLoss(),
        WassersteinGradientPenalty(lambd=model.config.gp_weight),
        WassersteinGeneratorLoss(),
    )
    cpu = torch.device("cpu")

    def step(real: torch.Tensor) -> None:
        for _ in range(model.config.n_critic):
            d_loss.train_ops(gen, critic, opt_d, real, cpu)
            penalty.train_ops(gen, critic, opt_d, real, cpu)
        g_loss.train_ops(gen, critic, opt_g, cpu, real.shape[0])

    return step


def optimizers(model):  # type: ignore[no-untyped-def]
    cfg = model.config
    betas = (cfg.beta1, cfg.beta2)
    return (
        torch.optim.Adam(model.discriminator.parameters(), lr=cfg.lr, betas=betas),
        torch.optim.Adam(model.generator.parameters(), lr=cfg.lr, betas=betas),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="digits")
    parser.add_argument("--budget", default="quick")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--set", dest="sets", action="append", default=[], help="model config key=value")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    plugins = get_plugins()
    bench = plugins.benchmark_for(args.dataset)
    data = load_dataset(bench.dataset)
    spec = plugins.models.get("wgan-gp")
    overrides = dict(item.split("=", 1) for item in args.sets)
    budget = bench.budgets[args.budget]
    num_samples = bench.num_samples[args.budget]
    metrics = {name: build_metric(plugins.metrics.get(name)) for name in ("clf-fd", "clf-recall")}
    cache = Path(tempfile.mkdtemp(prefix="genbench-wgan-peer-"))
    results: dict[str, dict[str, list[float]]] = {arm: {"clf-fd": [], "clf-recall": [], "s": []} for arm in ARMS}

    for seed in args.seeds:
        models = {}
        for arm in ARMS:
            torch.manual_seed(seed)  # the same initial weights in every arm
            models[arm] = build_model(spec, data.info, resolve_config(spec, data.info, overrides)).train()
        ctx = StepContext(models["genbench"].configure_optimizers(), device=torch.device("cpu"))
        tg_step = torchgan_stepper(models["torchgan"])
        ref_opts = optimizers(models["reference"])
        batches = Batches(data.train_x, data.train_y, 64, seed, torch.device("cpu"))
        steps = -(-budget // batches.batch_size)
        # CPU seconds of this process per arm: the arms interleave in one process, so a busy machine
        # or a paused process does not charge its wait to whichever arm was running.
        seconds = dict.fromkeys(ARMS, 0.0)
        for step in range(steps):
            batch = batches.batch(step)
            real = batch.x * 2 - 1  # [-1, 1], the networks' range
            for arm in ARMS:
                torch.manual_seed(seed * 1_000_003 + step)  # the same z and epsilon draws where shapes agree
                t0 = time.process_time()
                if arm == "genbench":
                    ctx.step = step
                    models[arm].training_step(Batch(batch.x, batch.y), ctx)
                elif arm == "torchgan":
                    tg_step(real)
                else:
                    reference_step(models[arm], real, *ref_opts)
                seconds[arm] += time.process_time() - t0
            if step % 100 == 0 or step == steps - 1:
                print(f"seed {seed}: step {step + 1}/{steps}", flush=True)
        for arm in ARMS:
            ectx = EvalContext(models[arm].eval(), data, num_samples, torch.device("cpu"), seed=0, cache_dir=cache)
            ectx.reference_split = bench.reference_split
            shown = []
            for name, metric in metrics.items():
                value = metric.compute(ectx)
                results[arm][name].append(value.value)
                ci = f" [{value.interval.low:.3g}, {value.interval.high:.3g}]" if value.interval else ""
                shown.append(f"{name} {value.value:.4g}{ci}")
            results[arm]["s"].append(seconds[arm])
            print(f"seed {seed} {arm}: {', '.join(shown)}, {seconds[arm]:.0f} CPU-s", flush=True)

    def stat(values: list[float]) -> str:
        t = torch.tensor(values, dtype=torch.float64)
        return f"{t.mean():.3f} ± {t.std():.3f}" if len(values) > 1 else f"{t.mean():.3f}"

    print(f"\nwgan-gp on {args.dataset} at {budget:,} images, seeds {args.seeds}, {num_samples} samples per arm")
    print(f"{'arm':<10} {'clf-fd':>18} {'clf-recall':>18} {'train CPU s':>12}")
    for arm in ARMS:
        r = results[arm]
        print(f"{arm:<10} {stat(r['clf-fd']):>18} {stat(r['clf-recall']):>18} {sum(r['s']) / len(r['s']):>12.0f}")
    print("torchgan's penalty: one epsilon per batch, batch-wide gradient norm, a second critic step.")


if __name__ == "__main__":
    main()
