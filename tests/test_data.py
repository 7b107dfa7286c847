"""Built-in datasets: shapes, ranges, the read-only data root, and the offline error."""

from __future__ import annotations

import os
from pathlib import Path
from urllib.error import URLError

import pytest
import torch

from genbench.data import load_dataset
from genbench.errors import GenbenchError

SHARED = Path(os.environ.get("GENBENCH_DATA") or Path(__file__).parents[2] / "shared" / "data")
needs_mnist = pytest.mark.skipif(not (SHARED / "MNIST" / "raw").is_dir(), reason="no MNIST files beside the checkout")


def test_digits_needs_no_files():
    d = load_dataset("digits")
    assert d.train_x.shape == (1437, 1, 8, 8) and d.test_x.shape == (360, 1, 8, 8)
    assert d.train_x.dtype == torch.uint8 and int(d.train_x.max()) == 255 and int(d.train_x.min()) == 0
    assert set(d.train_y.tolist()) == set(range(10))
    assert torch.equal(load_dataset("digits").test_y, d.test_y)  # a fixed split


def snapshot(root: Path) -> dict[str, tuple[int, float]]:
    return {str(p): (p.stat().st_size, p.stat().st_mtime) for p in root.rglob("*")}


@needs_mnist
@pytest.mark.parametrize(("name", "folder", "label0"), [("mnist", "MNIST", 5), ("fashion-mnist", "FashionMNIST", 9)])
def test_mnist_like_from_the_shared_folder_without_writing_into_it(name, folder, label0, tmp_path, monkeypatch):
    monkeypatch.setenv("GENBENCH_CACHE", str(tmp_path / "cache"))
    before = snapshot(SHARED / folder)
    d = load_dataset(name, SHARED)
    assert d.train_x.shape == (60000, 1, 28, 28) and d.test_x.shape == (10000, 1, 28, 28)
    assert int(d.train_y[0]) == label0  # the first training label of the official files
    assert snapshot(SHARED / folder) == before
    assert (tmp_path / "cache" / "unpacked" / folder / "raw").is_dir()


@needs_mnist
def test_two_loaders_unpacking_at_once_both_succeed(tmp_path, monkeypatch):
    # Suite jobs start together on a fresh cache: a second loader unpacks the same file while the
    # first is half-way through it (a shared temporary name made the first fail).
    import shutil

    monkeypatch.setenv("GENBENCH_CACHE", str(tmp_path / "cache"))
    copy, inner = shutil.copyfileobj, {}

    def copy_while_another_unpacks(fin, fout):  # type: ignore[no-untyped-def]
        if "started" not in inner:
            inner["started"] = True  # the second loader copies normally
            inner["data"] = load_dataset("mnist", SHARED)
        copy(fin, fout)

    monkeypatch.setattr(shutil, "copyfileobj", copy_while_another_unpacks)
    d = load_dataset("mnist", SHARED)
    assert torch.equal(d.train_x, inner["data"].train_x) and d.train_x.shape == (60000, 1, 28, 28)
    assert not list((tmp_path / "cache").rglob("*.tmp"))


def test_offline_with_no_files_names_the_layout(tmp_path, monkeypatch):
    import torchvision.datasets as tvd

    def offline(self):  # type: ignore[no-untyped-def]
        raise URLError("no network")

    monkeypatch.setattr(tvd.MNIST, "download", offline)
    monkeypatch.setenv("GENBENCH_CACHE", str(tmp_path / "cache"))
    (tmp_path / "data").mkdir()
    with pytest.raises(GenbenchError, match=r"<root>/MNIST/raw/"):
        load_dataset("mnist", tmp_path / "data")


def test_missing_data_folder(tmp_path):
    with pytest.raises(GenbenchError, match="does not exist"):
        load_dataset("mnist", tmp_path / "nowhere")


def test_corrupt_archive_fails_its_md5(tmp_path, monkeypatch):
    raw = tmp_path / "data" / "MNIST" / "raw"
    raw.mkdir(parents=True)
    import torchvision.datasets as tvd

    for url, _ in tvd.MNIST.resources:
        (raw / Path(url).name).write_bytes(b"not gzip")
    monkeypatch.setenv("GENBENCH_CACHE", str(tmp_path / "cache"))
    with pytest.raises(GenbenchError, match="md5"):
        load_dataset("mnist", tmp_path / "data")


def test_cifar10_from_torchvisions_layout_keeps_channels_first(tmp_path, monkeypatch):
    from genbench.testing import fake_cifar10

    written = fake_cifar10(tmp_path, monkeypatch, per_batch=4)
    d = load_dataset("cifar10", tmp_path)
    assert d.train_x.shape == (20, 3, 32, 32) and d.test_x.shape == (4, 3, 32, 32)
    assert d.train_x.dtype == torch.uint8 and d.num_classes == 10
    assert torch.equal(d.train_x, written[:20]) and torch.equal(d.test_x, written[20:])
    assert d.train_y.tolist() == [0, 1, 2, 3] * 5
