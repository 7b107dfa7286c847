"""MNIST, Fashion-MNIST and CIFAR-10 through torchvision, from a data root.

The data root may be read-only: compressed MNIST files are checked against torchvision's
md5 and unpacked into genbench's cache, never next to the originals. When the files are
absent, torchvision downloads them (users are online); offline that fails with one line
that names the layout expected.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import os
import shutil
import tempfile
from pathlib import Path

import torch

from genbench.api.dataset import ImageData
from genbench.errors import GenbenchError


def _writable(path: Path) -> bool:
    return path.is_dir() and os.access(path, os.W_OK)


def _download_root(root: Path | None) -> Path:
    from genbench.data import cache_root

    if root is not None and _writable(root):
        return root
    return cache_root() / "downloads"


def _try_download(  # type: ignore[no-untyped-def]
    make, root: Path, layout: str, name: str, *, url: str = "", searched: tuple[Path, ...] = ()
):
    root.mkdir(parents=True, exist_ok=True)
    try:
        # torchvision prints each mirror it tries; keep the terminal to our one-line error.
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            return make(root, True)
    except Exception as exc:
        where = f" at {' or '.join(str(p) for p in searched)}" if searched else ""
        source = f" from {url}" if url else ""
        raise GenbenchError(
            f"{name} not found{where}, and its download{source} failed ({type(exc).__name__}): "
            f"fetch it on a machine that is online and put it under --data-dir/GENBENCH_DATA as {layout}"
        ) from None


def _mnist_like(cls_name: str, root: Path | None, name: str) -> ImageData:
    import torchvision.datasets as tvd
    from torchvision.datasets.utils import check_integrity

    from genbench.data import cache_root

    cls = getattr(tvd, cls_name)
    layout = f"<root>/{cls_name}/raw/{{train,t10k}}-{{images-idx3,labels-idx1}}-ubyte[.gz]"
    files = [(Path(url).name, md5) for url, md5 in cls.resources]
    unpacked = cache_root() / "unpacked"
    raw_dir = unpacked / cls_name / "raw"
    src = root / cls_name / "raw" if root is not None else None

    def have(dirpath: Path | None) -> bool:
        return dirpath is not None and all((dirpath / f.removesuffix(".gz")).exists() for f, _ in files)

    if src is not None and not have(src) and not all((src / f).exists() for f, _ in files):
        # The user named a folder: never fall back to a copy cached from somewhere else without a word.
        present = [f for f, _ in files if (src / f).exists() or (src / f.removesuffix(".gz")).exists()]
        if present:
            missing = [f for f, _ in files if f not in present]
            raise GenbenchError(f"{src} holds only part of {cls_name}: {', '.join(missing)} missing; expected {layout}")
    if have(src):
        base = root
    else:
        if src is not None and all((src / f).exists() for f, _ in files):
            raw_dir.mkdir(parents=True, exist_ok=True)
            for fname, md5 in files:
                gz = src / fname
                if not os.access(gz, os.R_OK):
                    raise GenbenchError(f"cannot read {gz}: check its permissions")
                if not check_integrity(str(gz), md5):
                    raise GenbenchError(f"{gz} fails its md5 check ({md5}): the file is corrupt, fetch it again")
                out = raw_dir / fname.removesuffix(".gz")
                if not out.exists():
                    # A temporary name of this process's own: suite jobs starting together unpack the
                    # same file at once, and a shared name let one move another's half-written file.
                    fd, tmp = tempfile.mkstemp(dir=raw_dir, prefix=f"{out.name}.", suffix=".tmp")
                    try:
                        with gzip.open(gz, "rb") as fin, os.fdopen(fd, "wb") as fout:
                            shutil.copyfileobj(fin, fout)
                        os.replace(tmp, out)  # atomic: a killed unpack never leaves a half file
                    except BaseException:  # Ctrl-C or a full disk: no orphan of this process's own name
                        Path(tmp).unlink(missing_ok=True)
                        raise
            base = unpacked
        elif have(raw_dir) and root is None:
            base = unpacked  # unpacked earlier from md5-checked files, and no folder was named
        else:
            dl = _download_root(root)
            searched = tuple(dict.fromkeys(p for p in (src, raw_dir) if p is not None))
            url = cls.mirrors[0] + files[0][0] if getattr(cls, "mirrors", None) else ""
            _try_download(lambda r, d: cls(str(r), train=True, download=d), dl, layout, cls_name, url=url,
                          searched=searched)  # fmt: skip
            base = dl
    try:
        train = cls(str(base), train=True, download=False)
        test = cls(str(base), train=False, download=False)
    except Exception as exc:
        raise GenbenchError(f"cannot read {cls_name} under {base}: {exc}; expected {layout}") from None
    return ImageData(
        name,
        train.data.unsqueeze(1).contiguous(),
        train.targets.long(),
        test.data.unsqueeze(1).contiguous(),
        test.targets.long(),
        num_classes=10,
    )


def load_mnist(root: Path | None = None) -> ImageData:
    return _mnist_like("MNIST", root, "mnist")


def load_fashion_mnist(root: Path | None = None) -> ImageData:
    return _mnist_like("FashionMNIST", root, "fashion-mnist")


def load_cifar10(root: Path | None = None) -> ImageData:
    import torchvision.datasets as tvd

    layout = "<root>/cifar-10-batches-py/{data_batch_1..5,test_batch}"

    def make(r: Path, download: bool):  # type: ignore[no-untyped-def]
        return tvd.CIFAR10(str(r), train=True, download=download), tvd.CIFAR10(str(r), train=False, download=download)

    base = root if root is not None and (root / "cifar-10-batches-py").is_dir() else None
    if base is None:
        base = _download_root(root)
        if not (base / "cifar-10-batches-py").is_dir():
            searched = tuple(dict.fromkeys(p / "cifar-10-batches-py" for p in (root, base) if p is not None))
            _try_download(make, base, layout, "CIFAR-10", url=tvd.CIFAR10.url, searched=searched)
    try:
        train, test = make(base, False)
    except Exception as exc:
        raise GenbenchError(f"cannot read CIFAR-10 under {base}: {exc}; expected {layout}") from None

    def to_tensors(ds):  # type: ignore[no-untyped-def]
        # torchvision keeps CIFAR as (N, H, W, C) uint8 numpy; models want NCHW.
        return torch.from_numpy(ds.data).permute(0, 3, 1, 2).contiguous(), torch.tensor(ds.targets, dtype=torch.long)

    (tx, ty), (vx, vy) = to_tensors(train), to_tensors(test)
    return ImageData("cifar10", tx, ty, vx, vy, num_classes=10)
