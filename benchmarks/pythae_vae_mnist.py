"""pythae's VAE with genbench's VAE networks, trained on MNIST for the same images seen, for comparison.

Two steps, because pythae wants its own environment (``pip install pythae`` in a separate venv):

    # 1. in genbench's venv: dump MNIST's training images
    .venv/bin/python benchmarks/pythae_vae_mnist.py dump --out /tmp/metrics-results/pythae
    # 2. in a venv with pythae: train and save 10,000 samples
    /tmp/metrics-pythae/bin/python benchmarks/pythae_vae_mnist.py train --out /tmp/metrics-results/pythae
    # 3. in genbench's venv: score them with the same metrics as benchmarks/vae_sample_modes.py
    .venv/bin/python benchmarks/pythae_vae_mnist.py score --out /tmp/metrics-results/pythae

pythae's ``VAE`` (``--loss``: its default MSE or BCE reconstruction loss) gets genbench's encoder and
decoder (genbench_vae/nets.py; the decoder's first output channel through a sigmoid is the
reconstruction), Adam at 1e-3, batches of 64 for ``--images`` images; samples are decoder
outputs for z ~ N(0, I), as pythae's ``NormalSampler`` makes them.
"""

from __future__ import annotations

import argparse
import importlib.util
import time
from pathlib import Path

import torch

NETS = Path(__file__).resolve().parents[1] / "plugins" / "genbench-vae" / "genbench_vae" / "nets.py"


def dump(out: Path) -> None:
    from genbench.data import load_dataset

    torch.save(load_dataset("mnist").train_x, out / "mnist-train.pt")


def train(out: Path, images: int, num_samples: int, loss: str, latent_dim: int = 32, hidden: int = 32) -> None:
    from pythae.models import VAE, VAEConfig
    from pythae.models.base.base_utils import ModelOutput
    from pythae.models.nn import BaseDecoder, BaseEncoder

    spec = importlib.util.spec_from_file_location("nets", NETS)
    nets = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(nets)  # type: ignore[union-attr]
    shape = (1, 28, 28)

    class Encoder(BaseEncoder):
        def __init__(self) -> None:
            super().__init__()
            self.net = nets.Encoder(shape, hidden, latent_dim)

        def forward(self, x: torch.Tensor) -> ModelOutput:
            mean, logvar = self.net(x)
            return ModelOutput(embedding=mean, log_covariance=logvar)

    class Decoder(BaseDecoder):
        def __init__(self) -> None:
            super().__init__()
            self.net = nets.Decoder(shape, hidden, latent_dim)

        def forward(self, z: torch.Tensor) -> ModelOutput:
            loc, _ = self.net(z)
            return ModelOutput(reconstruction=torch.sigmoid(loc))

    torch.manual_seed(0)
    config = VAEConfig(input_dim=shape, latent_dim=latent_dim, reconstruction_loss=loss)
    model = VAE(config, encoder=Encoder(), decoder=Decoder())
    data = torch.load(out / "mnist-train.pt").float().div(255)  # (60000, 1, 28, 28)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    gen = torch.Generator().manual_seed(0)
    order = torch.randperm(len(data), generator=gen)
    t0 = time.perf_counter()
    model.train()
    for step in range(images // 64):
        batch = data[order[step * 64 : (step + 1) * 64]]
        value = model({"data": batch}).loss
        opt.zero_grad()
        value.backward()
        opt.step()
    print(f"trained {images // 64 * 64:,} images in {time.perf_counter() - t0:.0f} s, last loss {float(value):.2f}")
    model.eval()
    with torch.no_grad():
        z = torch.randn(num_samples, latent_dim, generator=torch.Generator().manual_seed(1234))
        samples = torch.cat([model.decoder(z[i : i + 500])["reconstruction"] for i in range(0, num_samples, 500)])
    torch.save(samples.clamp(0, 1), out / "samples.pt")


def score(out: Path) -> None:
    from torchvision.utils import save_image

    from genbench.api.model import GenerativeModel
    from genbench.data import load_dataset
    from genbench.engine.build import build_metric
    from genbench.engine.evaluate import evaluate
    from genbench.plugins import get_plugins

    samples = torch.load(out / "samples.pt")
    data = load_dataset("mnist")

    class Stored(GenerativeModel):
        capabilities = frozenset({"sample"})

        def __init__(self) -> None:
            super().__init__(type("NoSettings", (), {"__dataclass_fields__": {}})(), data.info)
            self.next = 0

        def sample(self, n, *, labels=None, generator=None):  # type: ignore[no-untyped-def]
            self.next += n
            return samples[self.next - n : self.next]

    plugins = get_plugins()
    names = ("clf-fd", "clf-score", "clf-precision", "clf-recall", "clf-density", "clf-coverage")
    metrics = [build_metric(plugins.metrics.get(name)) for name in names]
    scores = evaluate(Stored(), metrics, data, num_samples=len(samples), device=torch.device("cpu"), seed=1234,
                      batch_size=500, cache_dir=out / "cache")  # fmt: skip
    print("| pythae VAE | " + " | ".join(f"{s.value:.4g}" for s in scores) + " |")
    save_image(samples[:100], out / "samples-pythae.png", nrow=10, padding=1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("step", choices=("dump", "train", "score"))
    parser.add_argument("--out", default="/tmp/metrics-results/pythae")
    parser.add_argument("--images", type=int, default=20480)
    parser.add_argument("--num-samples", type=int, default=10000)
    parser.add_argument("--loss", default="mse", choices=("mse", "bce"), help="pythae's reconstruction loss")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.step == "dump":
        dump(out)
    elif args.step == "train":
        train(out, args.images, args.num_samples, args.loss)
    else:
        score(out)


if __name__ == "__main__":
    main()
