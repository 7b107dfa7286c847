"""FID, KID, IS and fid-clean against torch-fidelity and clean-fid, on random Inception weights.

The standard weights file is not on these machines, so a randomly initialised state dict of
the same architecture is saved to disk and loaded through the path the real file takes
(``$GENBENCH_INCEPTION_WEIGHTS``, with its hash given in ``$GENBENCH_INCEPTION_SHA256``).
Inception on a CPU costs about a second per image, so the FID/KID/IS comparison runs the
network at its smallest input size (75x75, patched into torch-fidelity and genbench alike) and
a separate test checks genbench's features against torch-fidelity's at the real 299x299.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from unittest import mock

import pytest
import torch

from genbench.api.dataset import ImageData
from genbench.api.metric import EvalContext
from genbench.api.model import GenerativeModel
from genbench.engine.build import build_metric
from genbench.errors import GenbenchError
from genbench.metrics import inception
from genbench.metrics.extractors.features import reference_features, sample_features
from genbench.metrics.extractors.files import sha256_file
from genbench.plugins import get_plugins


def random_inception_weights(path: Path, size: int = 75) -> None:
    """Save a random-weights state dict of torch-fidelity's Inception-v3.

    Default init makes activations vanish through 20 layers, so batch-norm statistics are
    calibrated on one batch of random images at input ``size``: features then have unit scale,
    like real ones (at that input size; at another they drift by orders of magnitude).
    """
    import torch_fidelity.feature_extractor_inceptionv3 as tfi

    torch.manual_seed(0)
    with (
        mock.patch.object(tfi, "load_state_dict_from_url", return_value={}),
        mock.patch.object(tfi.FeatureExtractorInceptionV3, "load_state_dict", lambda self, sd: None),
    ):
        net = tfi.FeatureExtractorInceptionV3("inception-v3-compat", ["2048"])
    for m in net.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.momentum = None  # running statistics = this batch's statistics
            m.reset_running_stats()
    net.train()
    with torch.no_grad(), mock.patch.object(tfi.FeatureExtractorInceptionV3, "INPUT_IMAGE_SIZE", size):
        net(torch.randint(0, 256, (6, 3, 24, 24), dtype=torch.uint8))
    with torch.no_grad():
        net.fc.weight.mul_(0.05)  # logits of a few units, so that softmax does not saturate
    torch.save(net.state_dict(), path)


@pytest.fixture(scope="module")
def weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("inception") / "random-inception.pth"
    random_inception_weights(path)
    return path


@pytest.fixture
def random_weights(weights: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv(inception.ENV_WEIGHTS, str(weights))
    monkeypatch.setenv(inception.ENV_SHA256, sha256_file(weights))
    return weights


@pytest.fixture
def small_input(monkeypatch: pytest.MonkeyPatch) -> None:
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3
    from torchmetrics.image.fid import NoTrainInceptionV3

    monkeypatch.setattr(FeatureExtractorInceptionV3, "INPUT_IMAGE_SIZE", 75)
    monkeypatch.setattr(NoTrainInceptionV3, "INPUT_IMAGE_SIZE", 75)
    monkeypatch.setattr(inception, "INPUT_SIZE", 75)


def image_sets(n_real: int, n_fake: int, channels: int = 1, size: int = 12) -> tuple[torch.Tensor, torch.Tensor]:
    """8-bit images as k / 255: real ones are smooth blobs, fake ones blobs plus noise."""
    gen = torch.Generator().manual_seed(0)
    grid = torch.linspace(-1, 1, size)
    centres = torch.rand(n_real + n_fake, 2, 1, 1, generator=gen) - 0.5
    blobs = torch.exp(-((grid[None, :, None] - centres[:, 0]) ** 2 + (grid[None, None, :] - centres[:, 1]) ** 2) * 4)
    x = blobs[:, None].expand(-1, channels, -1, -1).clone()
    x[n_real:] = (x[n_real:] + 0.4 * torch.rand(n_fake, channels, size, size, generator=gen)).clamp(0, 1)
    x = torch.round(x * 255) / 255
    return x[:n_real], x[n_real:]


class Replay(GenerativeModel):
    """Test double: 'samples' are a fixed tensor of images."""

    capabilities = frozenset({"sample"})

    def __init__(self, info, images: torch.Tensor) -> None:  # type: ignore[no-untyped-def]
        super().__init__(None, info)
        self.images = images

    def sample(self, n, *, labels=None, generator=None):  # type: ignore[no-untyped-def]
        return self.images[:n]


def context(real: torch.Tensor, fake: torch.Tensor, cache_dir: Path) -> EvalContext:
    as_uint8 = (real * 255).round().to(torch.uint8)
    labels = torch.zeros(len(real), dtype=torch.long)
    data = ImageData("blobs", as_uint8, labels, as_uint8, labels, num_classes=10)
    return EvalContext(Replay(data.info, fake), data, len(fake), torch.device("cpu"), seed=5, cache_dir=cache_dir)


def metric(name: str):  # type: ignore[no-untyped-def]
    return build_metric(get_plugins().metrics.get(name))


def test_missing_weights_fail_before_training_with_one_line_saying_where(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(inception.ENV_WEIGHTS, raising=False)
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    for name in ("fid", "kid", "is", "fid-clean"):
        with pytest.raises(GenbenchError) as info:
            metric(name).check("cifar10", (3, 32, 32))
        message = str(info.value)
        assert "\n" not in message
        assert inception.INCEPTION_FILE in message and str(tmp_path / "hub" / "checkpoints") in message


def test_truncated_or_foreign_weights_are_refused_by_hash(
    tmp_path: Path, weights: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(inception.ENV_SHA256, raising=False)
    truncated = tmp_path / inception.INCEPTION_FILE
    truncated.write_bytes(weights.read_bytes()[:1000])
    monkeypatch.setenv(inception.ENV_WEIGHTS, str(truncated))
    with pytest.raises(GenbenchError, match="truncated or not the right one"):
        metric("fid").check("cifar10", (3, 32, 32))
    # A file that is not the standard one fails the standard hash even when complete.
    monkeypatch.setenv(inception.ENV_WEIGHTS, str(weights))
    with pytest.raises(GenbenchError, match="expected 6726825d"):
        metric("fid").check("cifar10", (3, 32, 32))
    # An override names the whole hash: a prefix (even the file's own) is refused.
    monkeypatch.setenv(inception.ENV_SHA256, sha256_file(weights)[:8])
    with pytest.raises(GenbenchError, match="not a full sha256"):
        metric("fid").check("cifar10", (3, 32, 32))
    assert len(inception.INCEPTION_SHA256) == 64


def test_bad_images_are_refused(random_weights: Path) -> None:
    extractor = inception.InceptionExtractor()
    for bad, message in [
        (torch.full((2, 3, 8, 8), float("nan")), "NaN"),
        (torch.full((2, 3, 8, 8), 1.5), r"\[0, 1\]"),
        (torch.zeros(2, 8, 8), "NCHW"),
        (torch.zeros(2, 2, 8, 8), "1- or 3-channel"),
    ]:
        with pytest.raises(GenbenchError, match=message):
            extractor.extract(bad, torch.device("cpu"))
    with pytest.raises(GenbenchError, match="1- or 3-channel"):
        metric("fid").check("two-channel", (2, 8, 8))


def test_too_few_samples_are_refused_before_any_network_runs(random_weights: Path, tmp_path: Path) -> None:
    real, fake = image_sets(4, 9)
    for name, n, needed in (("fid", 1, 2), ("kid", 1, 2), ("is", 9, 10), ("fid-clean", 1, 2)):
        with pytest.raises(GenbenchError, match=f"{name}: needs at least {needed} images, got {n}"):
            metric(name).compute(context(real, fake[:n], tmp_path))


class Uint8Images(torch.utils.data.Dataset):
    """What torch-fidelity takes as an input: a dataset of (3, H, W) uint8 images."""

    def __init__(self, x: torch.Tensor) -> None:
        self.x = (x * 255).round().to(torch.uint8).expand(-1, 3, -1, -1)

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int) -> torch.Tensor:
        return self.x[i]


def test_features_equal_torch_fidelity_inception_at_299(random_weights: Path) -> None:
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

    x, _ = image_sets(3, 0, channels=3, size=20)
    ours = inception.InceptionExtractor().extract(x, torch.device("cpu"))
    tf = FeatureExtractorInceptionV3("inception-v3-compat", ["2048", "logits_unbiased"], str(random_weights))
    pool, logits = tf(Uint8Images(x).x)
    assert ours["features"].shape == (3, 2048)
    for got, want in ((ours["features"], pool), (ours["logits"], logits)):
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5 * float(want.abs().max()))


def test_tf1_resize_is_not_the_antialiased_one() -> None:
    # From 32 to 299 px the antialiased bilinear (torchmetrics' default) blurs what TF1 keeps.
    x = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    tf1 = inception.prepare_images(x, "tf1-bilinear")
    aa = torch.nn.functional.interpolate(
        torch.round(x * 255), size=(299, 299), mode="bilinear", align_corners=False, antialias=True
    )
    assert tf1.shape == aa.shape == (2, 3, 299, 299)
    assert float((tf1 - aa).abs().mean()) > 10  # grey levels


def test_fid_kid_is_equal_torch_fidelity_on_the_same_images_and_weights(
    random_weights: Path, small_input: None, tmp_path: Path
) -> None:
    import torch_fidelity

    real, fake = image_sets(30, 40)  # grayscale: genbench replicates it to RGB
    ctx = context(real, fake, tmp_path)
    values = {name: metric(name).compute(ctx) for name in ("fid", "kid", "is")}
    ours = {name: value.value for name, value in values.items()}
    for name, value in values.items():
        assert set(get_plugins().metrics.get(name).fingerprint_fields) <= set(value.fingerprint), name
        assert value.fingerprint["weights_sha256"] == sha256_file(random_weights)
        assert value.fingerprint["resize"] == "tf1-bilinear"
        assert value.name == f"{name}@{sha256_file(random_weights)[:8]}"  # not the standard weights: not "fid"
    assert values["kid"].fingerprint["kid_subset_size"] == 30  # n < 1000: the subset is every real image

    theirs = torch_fidelity.calculate_metrics(
        input1=Uint8Images(fake), input2=Uint8Images(real), cuda=False, isc=True, fid=True, kid=True,
        feature_extractor_weights_path=str(random_weights), kid_subset_size=30, rng_seed=ctx.seed,
        cache=False, verbose=False,
    )  # fmt: skip
    assert ours["fid"] == pytest.approx(theirs["frechet_inception_distance"], rel=1e-4)
    assert ours["kid"] == pytest.approx(theirs["kernel_inception_distance_mean"], rel=1e-4)
    assert ours["is"] == pytest.approx(theirs["inception_score_mean"], rel=1e-4)
    assert ours["fid"] > 1 and ours["kid"] > 0.01 and ours["is"] > 1.001  # non-trivial values


def test_values_with_other_weights_never_carry_the_name_fid(
    random_weights: Path, small_input: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from genbench.engine.evaluate import evaluate

    real, fake = image_sets(12, 12)
    ctx = context(real, fake, tmp_path)
    ctx.model.config = dataclasses.make_dataclass("NoSettings", [])()  # evaluate() records eval settings
    sha = sha256_file(random_weights)
    scores = evaluate(ctx.model, [metric("fid")], ctx.data, num_samples=12, device=ctx.device, seed=5,
                      batch_size=64, cache_dir=tmp_path)  # fmt: skip
    assert [s.name for s in scores] == [f"fid@{sha[:8]}"]
    # The same file, were it the standard one, is stored as plain "fid".
    monkeypatch.setattr(inception, "INCEPTION_SHA256", sha)
    scores = evaluate(ctx.model, [metric("fid")], ctx.data, num_samples=12, device=ctx.device, seed=5,
                      batch_size=64, cache_dir=tmp_path)  # fmt: skip
    assert [s.name for s in scores] == ["fid"]


def test_reference_cache_is_keyed_on_code_versions_and_spot_checked(
    random_weights: Path, small_input: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real, fake = image_sets(12, 12)
    ctx = context(real, fake, tmp_path)
    first = metric("fid").compute(ctx).value
    files = sorted((tmp_path / "reference").glob("*.pt"))
    assert len(files) == 1
    # A cache whose features no longer match a recomputation (a change the key missed) is rebuilt.
    stored = torch.load(files[0], weights_only=True)
    stored["tensors"]["mu"] += 1.0
    stored["tensors"]["features"] *= 2.0
    torch.save(stored, files[0])
    assert metric("fid").compute(context(real, fake, tmp_path)).value == pytest.approx(first, rel=1e-6)
    # Another torch-fidelity (the resize's code) is another cache file.
    real_version = inception._version
    monkeypatch.setattr(inception, "_version", lambda dist: "0.0" if dist == "torch-fidelity" else real_version(dist))
    metric("fid").compute(context(real, fake, tmp_path))
    assert len(list((tmp_path / "reference").glob("*.pt"))) == 2


def test_inception_prdc_on_the_fid_features(random_weights: Path, small_input: None, tmp_path: Path) -> None:
    from prdc import compute_prdc

    from genbench.metrics.prdc import QUANTITIES

    real, fake = image_sets(20, 20)
    ctx = context(real, fake, tmp_path)
    values = {q: metric(f"inception-{q}").compute(ctx) for q in QUANTITIES}
    extractor = inception.InceptionExtractor()
    expected = compute_prdc(
        reference_features(extractor, ctx)["features"].double().numpy(),
        sample_features(extractor, ctx.samples(), ctx.device)["features"].double().numpy(),
        nearest_k=5,
    )
    for q, value in values.items():
        assert value.value == pytest.approx(float(expected[q]), abs=1e-12), q
        assert value.fingerprint["prdc_k"] == 5 and value.name.startswith(f"inception-{q}@")


def test_fid_clean_follows_clean_fid_on_the_same_images(random_weights: Path, tmp_path: Path) -> None:
    """clean-fid's own pipeline (PNG files, its loader, its "clean" resize) on the same network.

    clean-fid's scipy ``sqrtm`` cannot take the square root of the singular product of two
    2048-d covariances from a handful of images (it raises "Imaginary component"), so the
    value is compared through its features: genbench's features equal clean-fid's, and the
    distance equals the closed form on clean-fid's features (and genbench's Fréchet math equals
    clean-fid's ``frechet_distance`` where that is well-posed: tests/test_metrics_stats.py).
    """
    from cleanfid import fid as cleanfid
    from PIL import Image

    real, fake = image_sets(4, 4, channels=1, size=16)
    net = inception._load_network(*inception.inception_weights(), torch.device("cpu"))

    def clean_fid_network(x: torch.Tensor) -> torch.Tensor:
        # What clean-fid's torchscript wrapper does to its resized [0, 255] batch in "clean" mode.
        h = (x - 128) / 128
        for name in inception._TRUNK:
            h = getattr(net, name)(h)
        return torch.flatten(h, 1)

    theirs = []
    for name, images in (("real", real), ("fake", fake)):
        folder = tmp_path / name
        folder.mkdir()
        for i, img in enumerate((images[:, 0] * 255).round().to(torch.uint8)):
            Image.fromarray(img.numpy()).save(folder / f"{i:03d}.png")  # grayscale PNGs, as users save them
        feats = cleanfid.get_folder_features(
            str(folder), clean_fid_network, num_workers=0, batch_size=8, device=torch.device("cpu"),
            mode="clean", verbose=False,
        )  # fmt: skip
        theirs.append(torch.from_numpy(feats))

    ctx = context(real, fake, tmp_path / "cache")
    value = metric("fid-clean").compute(ctx)
    # The features the metric used: the reference's from the disk cache, the samples' remembered.
    extractor = inception.InceptionExtractor("clean")
    cached_real = reference_features(extractor, ctx)["features"]
    remembered_fake = sample_features(extractor, ctx.samples(), ctx.device)["features"]
    ours = torch.cat([cached_real, remembered_fake])
    expected = torch.cat(theirs)
    torch.testing.assert_close(ours, expected, rtol=1e-5, atol=1e-5 * float(expected.abs().max()))

    # The distance of clean-fid's features, by another route than genbench's: with centred
    # features A (n1, d) and B (n2, d), Tr (S1 S2)^½ is the nuclear norm of A Bᵀ / √((n1-1)(n2-1)).
    a, b = theirs[1].double(), theirs[0].double()
    a, b, mean_gap = a - a.mean(0), b - b.mean(0), (a.mean(0) - b.mean(0)).square().sum()
    n1, n2 = len(a), len(b)
    cross = torch.linalg.matrix_norm(a @ b.T, ord="nuc") / ((n1 - 1) * (n2 - 1)) ** 0.5
    expected = float(mean_gap + a.square().sum() / (n1 - 1) + b.square().sum() / (n2 - 1) - 2 * cross)
    assert value.value == pytest.approx(expected, rel=1e-4)
    assert value.fingerprint["resize"] == "clean" and value.value > 1
