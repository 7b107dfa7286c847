"""Contract tests every model plugin's test-suite inherits.

Usage in a plugin's tests::

    from genbench.testing import ModelContract

    class TestVAE(ModelContract):
        model_name = "vae"
        overrides = {"hidden": "16"}  # a tiny configuration
        loss_key = "loss"  # this loss must fall over ``train_steps`` steps

Each test builds the model on scikit-learn's 8x8 digits (no files needed) and checks the
contract in :mod:`genbench.api.model`: registration, a training step that changes every
optimizer's parameters, losses that fall, sample shape and range, every declared capability
(encode and classify: shapes, determinism, batch independence; restore: K samples per measurement),
checkpoint round-trips and seeded determinism.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import pickle
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest
import torch

from genbench.api.dataset import ImageData
from genbench.api.model import Batch, GenerativeModel, StepContext
from genbench.api.representation import labelled_subset
from genbench.api.restoration import Degradation
from genbench.engine.build import build_model, model_class, resolve_config
from genbench.plugins import get_plugins
from genbench.specs import CAPABILITIES, ModelSpec

# Relative tolerance of golden values computed in float64 (:func:`float64`): summation order changes
# them by about 1e-13 between CPUs and thread counts, a change in the arithmetic by far more than this.
GOLDEN_RTOL = 1e-7


@contextlib.contextmanager
def float64() -> Iterator[None]:
    """Build, train and evaluate in float64 inside the block (the default dtype, restored after).

    Golden values recorded in float64 hold on any CPU, thread count and float32 matmul precision:
    float32 trajectories differ in their 4th digit between kernels (issue #26), float64 ones agree
    to about 1e-10 after a few steps, so a golden can keep a tight tolerance and still catch a
    change in the arithmetic.
    """
    saved = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        yield
    finally:
        torch.set_default_dtype(saved)


def batch_at(data: ImageData, step: int, batch_size: int) -> Batch:
    """The training batch of ``step``: consecutive images, wrapping around the train split.

    Images come in the default float dtype (float32, or float64 inside :func:`float64`).
    """
    dtype = torch.get_default_dtype()
    idx = torch.arange(step * batch_size, (step + 1) * batch_size) % len(data.train_y)
    batch = Batch(ImageData.to_float(data.train_x[idx]).to(dtype), data.train_y[idx])
    if data.has_domain_b:  # two-domain data: B images from the far end, so A and B are never paired
        train_b_x, train_b_y, _, _ = data.splits_b
        n_b = len(train_b_y)
        idx_b = (n_b - 1 - torch.arange(step * batch_size, (step + 1) * batch_size)) % n_b
        batch.x_b, batch.y_b = ImageData.to_float(train_b_x[idx_b]).to(dtype), train_b_y[idx_b]
    return batch


def fake_cifar10(root: Path, monkeypatch: pytest.MonkeyPatch, *, per_batch: int = 8, seed: int = 0) -> torch.Tensor:
    """Write a tiny CIFAR-10 in torchvision's layout under ``root`` and let torchvision read it.

    Five train batches and a test batch of ``per_batch`` random images each, with labels
    ``i % 10``. The real files are a 163 MB download that offline machines cannot make, and
    torchvision checks their md5, so ``monkeypatch`` turns that check off for the test.
    Returns the (6 * per_batch, 3, 32, 32) uint8 images written, train batches first.
    """
    import torchvision.datasets.cifar as tv_cifar

    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    gen = torch.Generator().manual_seed(seed)
    images = torch.randint(0, 256, (6 * per_batch, 3, 32, 32), dtype=torch.uint8, generator=gen)
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    for b, name in enumerate(names):
        rows = images[b * per_batch : (b + 1) * per_batch]
        entry = {"data": rows.reshape(per_batch, -1).numpy(), "labels": [i % 10 for i in range(per_batch)]}
        (folder / name).write_bytes(pickle.dumps(entry))
    (folder / "batches.meta").write_bytes(pickle.dumps({"label_names": [f"class{i}" for i in range(10)]}))
    monkeypatch.setattr(tv_cifar, "check_integrity", lambda *args, **kwargs: True)
    return images


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """Run the ``genbench`` console entry point in-process: (exit code, stdout, stderr).

    Plugin authors use it to test the commands they register, as genbench's own CLI tests do.
    """
    from genbench import cli

    argv = sys.argv
    sys.argv = ["genbench", *args]
    try:
        cli.main()
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    finally:
        sys.argv = argv
    out, err = capsys.readouterr()
    return code, out, err


def train_steps(
    model: GenerativeModel, data: ImageData, steps: int, batch_size: int = 32, *, start: int = 0
) -> list[dict[str, float]]:
    """Train ``model`` on CPU for ``steps`` steps (numbered from ``start``); the losses of each step."""
    ctx = StepContext(model.configure_optimizers(), device=torch.device("cpu"))
    model.train()
    history = []
    for step in range(start, start + steps):
        ctx.step = step
        losses = model.training_step(batch_at(data, step, batch_size), ctx)
        history.append({k: float(v) for k, v in losses.items()})
    return history


class ModelContract:
    model_name: ClassVar[str]
    dataset: ClassVar[str] = "digits"
    overrides: ClassVar[dict[str, str]] = {}
    batch_size: ClassVar[int] = 32
    train_steps: ClassVar[int] = 40
    loss_key: ClassVar[str | None] = None  # None: no monotone loss to check (e.g. GANs)
    # Ratio the mean of the last five values of ``loss_key`` must fall below, relative to the first five.
    loss_drop: ClassVar[float] = 0.9
    # Likelihood models: steps trained before the Gibbs check on uniform noise, and its image count.
    noise_train_steps: ClassVar[int] = 20
    noise_images: ClassVar[int] = 100
    # Label budget whose class-balanced subset a model with ``uses_labelled_subset`` is given.
    label_budget: ClassVar[str] = "100"
    # The operator a model with ``restore`` is trained for and restores in the contract tests.
    degradation: ClassVar[dict[str, Any]] = {"op": "inpaint", "rate": 0.5, "seed": 0}

    # -- fixtures --------------------------------------------------------------------

    @pytest.fixture(scope="class")
    @classmethod
    def spec(cls) -> ModelSpec:
        return get_plugins().models.get(cls.model_name)

    @pytest.fixture(scope="class")
    @classmethod
    def data(cls) -> ImageData:
        from genbench.data import load_dataset

        return load_dataset(cls.dataset)

    def build(self, spec: ModelSpec, data: ImageData, seed: int = 0) -> GenerativeModel:
        torch.manual_seed(seed)
        config = resolve_config(spec, data.info, self.overrides)
        model = build_model(spec, data.info, config)
        if model.uses_labelled_subset:  # as the engine does before training
            subset = labelled_subset(data.train_y, self.label_budget, 0, data.num_classes)
            model.set_labelled(data.train_x[subset.indices], data.train_y[subset.indices])
        if model.uses_degradation:  # as the engine does before training
            model.set_degradation(Degradation.from_mapping(self.degradation))
        return model

    def batch(self, data: ImageData, step: int = 0) -> Batch:
        return batch_at(data, step, self.batch_size)

    def train(self, model: GenerativeModel, data: ImageData, steps: int) -> list[dict[str, float]]:
        return train_steps(model, data, steps, self.batch_size)

    # -- registration ----------------------------------------------------------------

    def test_spec_matches_class(self, spec: ModelSpec) -> None:
        cls = model_class(spec)
        assert frozenset(spec.capabilities) == cls.capabilities, "spec and class disagree on capabilities"
        assert set(cls.capabilities) <= set(CAPABILITIES)
        assert dataclasses.is_dataclass(cls.Config)
        for cap, method in (
            ("sample", "sample"),
            ("conditional", "sample"),
            ("log_likelihood", "log_likelihood"),
            ("reconstruct", "reconstruct"),
            ("encode", "encode"),
            ("classify", "classify"),
            ("translate", "translate"),
            ("restore", "restore"),
        ):
            if cap in cls.capabilities:
                assert getattr(cls, method) is not getattr(GenerativeModel, method), f"{cap} declared, not implemented"

    # -- training --------------------------------------------------------------------

    def test_training_step_updates_every_optimizer(self, spec: ModelSpec, data: ImageData) -> None:
        model = self.build(spec, data)
        optimizers = model.configure_optimizers()
        if not optimizers:  # a baseline with nothing to train, or a pretrained model the engine does not train
            assert model.pretrained or not list(model.parameters()), "a model with parameters returned no optimizer"
            return
        before = {
            name: [p.detach().clone() for g in opt.param_groups for p in g["params"]]
            for name, opt in optimizers.items()
        }
        ctx = StepContext(optimizers, device=torch.device("cpu"))
        model.train()
        losses = model.training_step(self.batch(data), ctx)
        assert losses, "training_step returned no losses"
        for key, value in losses.items():
            assert torch.as_tensor(value).numel() == 1, f"loss {key} is not a scalar"
            assert torch.isfinite(torch.as_tensor(value)), f"loss {key} is not finite"
        for name, opt in optimizers.items():
            after = [p for g in opt.param_groups for p in g["params"]]
            changed = any(not torch.equal(a, b) for a, b in zip(after, before[name]))
            assert changed, f"optimizer '{name}' changed no parameter"

    def test_loss_falls(self, spec: ModelSpec, data: ImageData) -> None:
        if self.loss_key is None:
            pytest.skip("no loss that must fall monotonically for this model")
        history = self.train(self.build(spec, data), data, self.train_steps)
        first = sum(h[self.loss_key] for h in history[:5]) / 5
        last = sum(h[self.loss_key] for h in history[-5:]) / 5
        assert last < self.loss_drop * first, f"{self.loss_key} went from {first:.4g} to {last:.4g}"

    def test_seeded_training_is_deterministic(self, spec: ModelSpec, data: ImageData) -> None:
        runs = []
        for _ in range(2):
            model = self.build(spec, data, seed=3)
            torch.manual_seed(4)
            runs.append(self.train(model, data, 3))
        assert runs[0] == runs[1]

    # -- capabilities ----------------------------------------------------------------

    def _check_images(self, x: torch.Tensor, n: int, data: ImageData) -> None:
        assert x.shape == (n, *data.info.shape), f"shape {tuple(x.shape)}"
        assert x.dtype == torch.float32
        assert torch.isfinite(x).all()
        assert float(x.min()) >= 0.0 and float(x.max()) <= 1.0, "images outside [0, 1]"

    def test_sample_shape_and_range(self, spec: ModelSpec, data: ImageData) -> None:
        if "sample" not in spec.capabilities:
            pytest.skip("model does not sample")
        model = self.build(spec, data).eval()
        with torch.no_grad():
            x = model.sample(6, generator=torch.Generator().manual_seed(0))
            again = model.sample(6, generator=torch.Generator().manual_seed(0))
        self._check_images(x, 6, data)
        assert torch.equal(x, again), "the same generator seed gave different samples"

    def test_conditional_sample(self, spec: ModelSpec, data: ImageData) -> None:
        if "conditional" not in spec.capabilities:
            pytest.skip("model is not class-conditional")
        model = self.build(spec, data).eval()
        labels = torch.arange(data.num_classes)
        with torch.no_grad():
            x = model.sample(len(labels), labels=labels, generator=torch.Generator().manual_seed(0))
        self._check_images(x, len(labels), data)

    def test_log_likelihood(self, spec: ModelSpec, data: ImageData) -> None:
        if "log_likelihood" not in spec.capabilities:
            pytest.skip("model has no likelihood")
        model = self.build(spec, data).eval()
        batch = self.batch(data)
        with torch.no_grad():
            ll = model.log_likelihood(batch.x[:4], batch.y[:4])
        assert ll.shape == (4,)
        assert torch.isfinite(ll).all()
        # log P of discrete 8-bit data can never exceed 0 nats.
        assert (ll <= 1e-3).all(), f"log-probability of discrete data above 0: {ll}"

    def test_uniform_noise_costs_at_least_8_bits(self, spec: ModelSpec, data: ImageData) -> None:
        """Gibbs: a normalised model pays at least 8 bits/dim on uniformly random 8-bit images."""
        if "log_likelihood" not in spec.capabilities:
            pytest.skip("model has no likelihood")
        from genbench.metrics.nll import NOISE_SLACK, noise_bits_per_dim

        model = self.build(spec, data)
        self.train(model, data, self.noise_train_steps)
        model.eval()
        torch.manual_seed(0)
        value = noise_bits_per_dim(model, data.info.shape, seed=0, n=self.noise_images)
        assert value >= 8.0 - NOISE_SLACK, (
            f"{self.noise_images} uniform noise images cost {value:.4f} bits/dim < 8: log_likelihood is not "
            "a normalised log P of 8-bit images (see genbench/metrics/nll.py, point 6)"
        )

    def test_reconstruct_and_encode(self, spec: ModelSpec, data: ImageData) -> None:
        model = self.build(spec, data).eval()
        x = self.batch(data).x[:5]
        ran = False
        with torch.no_grad():
            if "reconstruct" in spec.capabilities:
                self._check_images(model.reconstruct(x), 5, data)
                ran = True
            if "encode" in spec.capabilities:
                z = model.encode(x)
                assert z.dim() == 2 and z.shape[0] == 5 and torch.isfinite(z).all()
                ran = True
        if not ran:
            pytest.skip("model neither reconstructs nor encodes")

    def test_translate(self, spec: ModelSpec, data: ImageData) -> None:
        if "translate" not in spec.capabilities:
            pytest.skip("model does not translate")
        assert data.has_domain_b, f"set `dataset` to a two-domain dataset (e.g. digits2color), not '{data.name}'"
        model = self.build(spec, data).eval()
        test_b = data.splits_b[2][:5]
        inputs = {"a2b": ImageData.to_float(data.test_x[:5]), "b2a": ImageData.to_float(test_b)}
        with torch.no_grad():
            for direction, x in inputs.items():
                y = model.translate(x, direction)
                self._check_images(y, 5, data)
                assert torch.equal(y, model.translate(x, direction)), f"{direction}: translate is not deterministic"
                # Translation is per image: a batch of one gives the same image as the batch.
                torch.testing.assert_close(model.translate(x[:1], direction), y[:1], atol=1e-5, rtol=0)
            with pytest.raises(ValueError):
                model.translate(inputs["a2b"], "sideways")

    def test_restore_contract(self, spec: ModelSpec, data: ImageData) -> None:
        """K posterior samples per measurement: (N, K, C, H, W) in [0, 1], fixed by the generator's seed."""
        if "restore" not in spec.capabilities:
            pytest.skip("model does not restore")
        model = self.build(spec, data)
        self.train(model, data, 2)
        model.eval()
        op = Degradation.from_mapping(self.degradation)
        m = op.measure(ImageData.to_float(data.test_x[:5]), torch.Generator().manual_seed(0))
        with torch.no_grad():
            out = model.restore(m, 3, generator=torch.Generator().manual_seed(1))
            again = model.restore(m, 3, generator=torch.Generator().manual_seed(1))
        assert out.shape == (5, 3, *data.info.shape), f"shape {tuple(out.shape)}"
        assert out.dtype == torch.float32 and torch.isfinite(out).all()
        assert float(out.min()) >= 0.0 and float(out.max()) <= 1.0, "restorations outside [0, 1]"
        assert torch.equal(out, again), "the same generator seed gave different restorations"

    def test_encode_contract(self, spec: ModelSpec, data: ImageData) -> None:
        """Features the probe can use: (B, D) float32, finite, one D, independent of the batch."""
        if "encode" not in spec.capabilities:
            pytest.skip("model does not encode")
        model = self.build(spec, data)
        self.train(model, data, 2)
        model.eval()
        x = self.batch(data).x[:8]
        with torch.no_grad():
            z, again, part = model.encode(x), model.encode(x), model.encode(x[:3])
        assert z.dim() == 2 and z.shape[0] == 8 and z.shape[1] >= 1, f"shape {tuple(z.shape)}"
        assert z.dtype == torch.float32 and torch.isfinite(z).all()
        assert torch.equal(z, again), "encode is not deterministic in eval mode"
        assert part.shape == (3, z.shape[1]), "the feature dimension changed with the batch size"
        # The probe encodes in batches: an image's features must not depend on its batch-mates.
        torch.testing.assert_close(part, z[:3], rtol=1e-4, atol=1e-5)

    def test_classify_contract(self, spec: ModelSpec, data: ImageData) -> None:
        """Logits for every class: (B, num_classes), finite, independent of the batch."""
        if "classify" not in spec.capabilities:
            pytest.skip("model does not classify")
        model = self.build(spec, data)
        self.train(model, data, 2)
        model.eval()
        x = self.batch(data).x[:8]
        with torch.no_grad():
            logits, again, part = model.classify(x), model.classify(x), model.classify(x[:3])
        assert logits.shape == (8, data.num_classes), f"shape {tuple(logits.shape)}"
        assert torch.isfinite(logits).all()
        assert torch.equal(logits, again), "classify is not deterministic in eval mode"
        torch.testing.assert_close(part, logits[:3], rtol=1e-4, atol=1e-5)

    # -- checkpoints -----------------------------------------------------------------

    def test_checkpoint_round_trip(self, spec: ModelSpec, data: ImageData) -> None:
        model = self.build(spec, data, seed=1)
        self.train(model, data, 2)
        buf = io.BytesIO()
        torch.save(model.state_dict(), buf)
        buf.seek(0)
        fresh = self.build(spec, data, seed=2)
        fresh.load_state_dict(torch.load(buf, weights_only=True))
        for (name, a), (_, b) in zip(model.state_dict().items(), fresh.state_dict().items()):
            assert torch.equal(a, b), f"{name} differs after reload"
        if "sample" in spec.capabilities:
            model.eval(), fresh.eval()
            with torch.no_grad():
                a = model.sample(3, generator=torch.Generator().manual_seed(5))
                b = fresh.sample(3, generator=torch.Generator().manual_seed(5))
            assert torch.equal(a, b), "reloaded model samples differently"
        if "translate" in spec.capabilities:
            model.eval(), fresh.eval()
            x = ImageData.to_float(data.test_x[:3])
            with torch.no_grad():
                a, b = model.translate(x, "a2b"), fresh.translate(x, "a2b")
            assert torch.equal(a, b), "reloaded model translates differently"
        if "restore" in spec.capabilities:
            model.eval(), fresh.eval()
            m = Degradation.from_mapping(self.degradation).measure(ImageData.to_float(data.test_x[:3]))
            with torch.no_grad():
                a = model.restore(m, 2, generator=torch.Generator().manual_seed(5))
                b = fresh.restore(m, 2, generator=torch.Generator().manual_seed(5))
            assert torch.equal(a, b), "reloaded model restores differently"
        x = self.batch(data).x[:4]
        model.eval(), fresh.eval()
        with torch.no_grad():
            for cap in ("reconstruct", "encode", "classify"):
                if cap in spec.capabilities:
                    a, b = getattr(model, cap)(x), getattr(fresh, cap)(x)
                    assert torch.equal(a, b), f"reloaded model gives different {cap} outputs"


def tiny_overrides(**kwargs: Any) -> dict[str, str]:
    """``tiny_overrides(hidden=8)`` -> ``{"hidden": "8"}`` for ``ModelContract.overrides``."""
    return {k: str(v) for k, v in kwargs.items()}
