"""Two-domain datasets for unpaired image-to-image translation.

- ``mnist2color`` and ``digits2color``: a digit set (domain A, grey strokes repeated over three
  channels) and the same kind of digits procedurally recoloured (domain B: coloured strokes on
  coloured, textured backgrounds, in the spirit of MNIST-M, Ganin et al. 2016,
  arXiv:1505.07818). The training set is split into two disjoint halves by a fixed
  permutation, one per domain, so no training image has a counterpart in the other domain.
  Domain B's test split is the recolouring of domain A's test split, so every test image's
  counterpart is known: evaluation only (ground-truth error), never training.
- Image-folder pairs in the layout of the CycleGAN reference implementation
  (``<root>/<name>/{trainA,trainB,testA,testB}/``), downloaded from the authors' server when
  the user is online (their ``datasets/download_cyclegan_dataset.sh``).

Everything is deterministic: the recolouring draws from a generator seeded per split.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F

from genbench.api.dataset import ImageData
from genbench.errors import GenbenchError

SPLIT_SEED = 0  # the permutation that halves the training set between the two domains
TRAIN_COLOUR_SEED = 1  # recolouring of domain B's training half
TEST_COLOUR_SEED = 2  # recolouring of the test split (domain A's test images' counterparts)


def grey_to_rgb(x: torch.Tensor) -> torch.Tensor:
    """(N, 1, H, W) uint8 -> (N, 3, H, W): the grey image repeated over three channels."""
    return x.expand(-1, 3, -1, -1).contiguous()


def recolour(x: torch.Tensor, seed: int, *, chunk: int = 4096) -> torch.Tensor:
    """Coloured strokes on coloured textured backgrounds: (N, 1, H, W) uint8 -> (N, 3, H, W) uint8.

    Per image: a light or dark background mixing two colours through a smooth random field and
    stripes of random angle, frequency and phase; the stroke takes a colour from the opposite
    half of the range, so the digit stays visible (each channel differs by at least 0.2). The
    grey value is the stroke's opacity. Deterministic for a given ``seed``.
    """
    gen = torch.Generator().manual_seed(seed)
    out = []
    for i in range(0, len(x), chunk):
        out.append(_recolour_chunk(x[i : i + chunk], gen))
    return torch.cat(out) if out else torch.empty((0, 3, *x.shape[2:]), dtype=torch.uint8)


def _recolour_chunk(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    n, _, h, w = x.shape
    alpha = x.float() / 255.0  # (n, 1, H, W) stroke opacity
    dark = (torch.rand(n, 1, 1, 1, generator=gen) < 0.5).float()  # 1: dark background, light stroke

    def colour(low_half: torch.Tensor) -> torch.Tensor:  # (n, 3, 1, 1) in [0, 0.4] or [0.6, 1]
        u = torch.rand(n, 3, 1, 1, generator=gen) * 0.4
        return low_half * u + (1 - low_half) * (0.6 + u)

    bg1, bg2, fg = colour(dark), colour(dark), colour(1 - dark)
    smooth = F.interpolate(torch.rand(n, 1, 4, 4, generator=gen), size=(h, w), mode="bicubic", align_corners=False)
    theta = torch.rand(n, 1, 1, 1, generator=gen) * math.pi
    freq = 1.5 + 3.0 * torch.rand(n, 1, 1, 1, generator=gen)  # stripe cycles across the image
    phase = torch.rand(n, 1, 1, 1, generator=gen) * 2 * math.pi
    yy, xx = torch.meshgrid(torch.linspace(0, 1, h), torch.linspace(0, 1, w), indexing="ij")
    stripes = 0.5 + 0.5 * torch.sin(2 * math.pi * freq * (xx * torch.cos(theta) + yy * torch.sin(theta)) + phase)
    t = (0.6 * smooth.clamp(0, 1) + 0.4 * stripes).clamp(0, 1)  # (n, 1, H, W) texture
    background = bg1 * (1 - t) + bg2 * t  # (n, 3, H, W)
    image = background * (1 - alpha) + fg * alpha
    return (image * 255).round().clamp(0, 255).to(torch.uint8)


def recoloured_pair(base: ImageData, name: str) -> ImageData:
    """The two-domain dataset built from a one-channel digit set (see the module docstring)."""
    order = torch.randperm(len(base.train_y), generator=torch.Generator().manual_seed(SPLIT_SEED))
    half = len(order) // 2
    a_idx, b_idx = order[:half].sort().values, order[half:].sort().values
    return ImageData(
        name,
        grey_to_rgb(base.train_x[a_idx]),
        base.train_y[a_idx].clone(),
        grey_to_rgb(base.test_x),
        base.test_y.clone(),
        base.num_classes,
        train_b_x=recolour(base.train_x[b_idx], TRAIN_COLOUR_SEED),
        train_b_y=base.train_y[b_idx].clone(),
        test_b_x=recolour(base.test_x, TEST_COLOUR_SEED),
        test_b_y=base.test_y.clone(),
        paired_test=True,
    )


def load_mnist2color(root: Path | None = None) -> ImageData:
    from genbench.data.torchvision_sets import load_mnist

    return recoloured_pair(load_mnist(root), "mnist2color")


def load_digits2color(root: Path | None = None) -> ImageData:
    from genbench.data.digits import load

    return recoloured_pair(load(root), "digits2color")


# -- image-folder pairs (the reference implementation's layout) ------------------------------

# The CycleGAN authors' server, over https (its http address is the reference script's). The
# authors publish no checksum: each archive is bounded instead (download and unpacked size, member
# count), only image files under the four split folders are unpacked, and the sha256 of what was
# fetched is kept beside the images (``<name>/SHA256``) to compare with a colleague's copy.
CYCLEGAN_URL = "https://people.eecs.berkeley.edu/~taesung_park/CycleGAN/datasets/{name}.zip"
FOLDER_PAIRS = ("horse2zebra", "monet2photo", "apple2orange", "summer2winter_yosemite")
FOLDER_SIZE = 128  # images are resized to this side and held in memory as uint8
SPLITS = ("trainA", "trainB", "testA", "testB")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")
MAX_DOWNLOAD_BYTES = 600 * 2**20  # the largest of the four (monet2photo) is about 300 MB
MAX_UNPACKED_BYTES = 1 * 2**30
MAX_RATIO = 50  # unpacked / packed bytes of one image file (JPEGs are about 1)
MAX_MEMBERS = 20_000  # monet2photo, the largest, holds about 8,000 images
MAX_IMAGE_PIXELS = 40_000_000  # a 40-megapixel photo; the sets' images are 256 x 256


def folder_layout(name: str) -> str:
    return f"<root>/{name}/{{trainA,trainB,testA,testB}}/*.jpg"


def _complete(folder: Path) -> bool:
    return all((folder / s).is_dir() and any(_images(folder / s)) for s in SPLITS)


def _images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES) if folder.is_dir() else []


def _download(name: str, root: Path) -> None:
    """Fetch ``<name>.zip`` from the CycleGAN authors' server over https and unpack its images into ``root``."""
    import hashlib
    import tempfile
    import urllib.request

    url = CYCLEGAN_URL.format(name=name)
    digest = hashlib.sha256()
    with tempfile.TemporaryDirectory(dir=root, prefix=f".{name}-") as tmp:
        archive = Path(tmp) / f"{name}.zip"
        with urllib.request.urlopen(url, timeout=60) as resp, open(archive, "wb") as fh:  # noqa: S310 (https only)
            if not resp.geturl().startswith("https://"):
                raise GenbenchError(f"{url} was redirected to {resp.geturl()}, not https: refused")
            total = 0
            for block in iter(lambda: resp.read(1 << 20), b""):
                total += len(block)
                if total > MAX_DOWNLOAD_BYTES:
                    raise GenbenchError(f"{url} is over {MAX_DOWNLOAD_BYTES // 2**20} MB: refused")
                digest.update(block)
                fh.write(block)
        unpack_images(archive, root, name)
    (root / name / "SHA256").write_text(f"{digest.hexdigest()}  {name}.zip\n")


def unpack_images(archive: Path, root: Path, name: str) -> int:
    """Unpack the image files under ``<name>/<split>/`` of a zip into ``root``; the bytes written.

    Refused in one line: a member path that leaves ``root`` (absolute, ``..``), more than
    ``MAX_MEMBERS`` members, more than ``MAX_UNPACKED_BYTES`` unpacked, or a member that inflates
    past ``MAX_RATIO`` times its packed size (both counted as written, not as the archive
    declares). Other members (links, folders, notes) are skipped."""
    import zipfile

    target = root.resolve()
    written = 0
    try:
        with zipfile.ZipFile(archive) as zf:
            members = zf.infolist()
            if len(members) > MAX_MEMBERS:
                raise GenbenchError(f"{archive.name} holds {len(members):,} members, over {MAX_MEMBERS:,}: refused")
            for info in members:
                parts = Path(info.filename).parts
                dest = (target / info.filename).resolve()
                if info.filename.startswith(("/", "\\")) or ".." in parts or target not in dest.parents:
                    raise GenbenchError(f"{archive.name}: member {info.filename!r} leaves {root}: refused")
                is_link = (info.external_attr >> 16) & 0o170000 == 0o120000
                if info.is_dir() or is_link or len(parts) != 3 or parts[0] != name or parts[1] not in SPLITS:
                    continue
                if Path(parts[2]).suffix.lower() not in IMAGE_SUFFIXES:
                    continue
                dest.parent.mkdir(parents=True, exist_ok=True)
                # JPEG and PNG barely compress further: a member that inflates far past its packed
                # size is a bomb, whatever size its header declares.
                member_cap = max(2**20, MAX_RATIO * info.compress_size)
                member = 0
                with zf.open(info) as src, open(dest, "wb") as out:
                    for block in iter(lambda: src.read(1 << 20), b""):
                        written += len(block)
                        member += len(block)
                        if written > MAX_UNPACKED_BYTES:
                            raise GenbenchError(
                                f"{archive.name} unpacks to over {MAX_UNPACKED_BYTES // 2**20} MB: refused"
                            )
                        if member > member_cap:
                            raise GenbenchError(
                                f"{archive.name}: {info.filename} inflates over {MAX_RATIO}x its packed size "
                                f"({info.compress_size:,} bytes): refused"
                            )
                        out.write(block)
    except zipfile.BadZipFile as exc:
        raise GenbenchError(f"{archive.name} is not a zip archive ({exc}): refused") from None
    return written


def read_folder(folder: Path, size: int) -> torch.Tensor:
    """Every image in ``folder`` (sorted by name) as RGB, resized to size x size: (N, 3, size, size) uint8.

    An image over ``MAX_IMAGE_PIXELS`` is refused in one line before it is decoded."""
    import warnings

    import numpy as np
    from PIL import Image

    out = []
    for path in _images(folder):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error", Image.DecompressionBombWarning)
                with Image.open(path) as im:
                    if im.width * im.height > MAX_IMAGE_PIXELS:
                        raise GenbenchError(
                            f"image {path} is {im.width} x {im.height} pixels, over the {MAX_IMAGE_PIXELS:,} "
                            "allowed: remove or shrink it"
                        )
                    im = im.convert("RGB")
                    if im.size != (size, size):
                        im = im.resize((size, size), Image.Resampling.BICUBIC)
                    out.append(torch.from_numpy(np.asarray(im, dtype=np.uint8).copy()).permute(2, 0, 1))
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise GenbenchError(f"image {path} is too large to decode safely ({exc}): remove or shrink it") from None
        except OSError as exc:
            raise GenbenchError(f"cannot read image {path}: {exc}; remove or replace the file") from None
    return torch.stack(out)


def load_folder_pair(name: str, root: Path | None, size: int = FOLDER_SIZE) -> ImageData:
    """An unpaired two-domain set in the reference layout under ``root/name`` (downloaded when missing).

    The folders carry no labels: every image has label 0 (one class), and the test splits are
    unpaired.
    """
    from genbench.data.torchvision_sets import _download_root

    candidates = [root / name] if root is not None else []
    dl = _download_root(root)
    candidates.append(dl / name)
    folder = next((c for c in candidates if _complete(c)), None)
    if folder is None:
        try:
            dl.mkdir(parents=True, exist_ok=True)
            _download(name, dl)
        except GenbenchError as exc:
            raise GenbenchError(f"{name} download refused: {exc}") from None
        except Exception as exc:
            raise GenbenchError(
                f"{name} files not found and download failed ({type(exc).__name__}): "
                f"put them under --data-dir/GENBENCH_DATA as {folder_layout(name)}"
            ) from None
        if not _complete(dl / name):
            raise GenbenchError(f"the {name} download did not unpack as {folder_layout(name)}; remove {dl / name}")
        folder = dl / name
    xs = {s: read_folder(folder / s, size) for s in SPLITS}

    def zeros(x: torch.Tensor) -> torch.Tensor:
        return torch.zeros(len(x), dtype=torch.long)

    return ImageData(
        name,
        xs["trainA"],
        zeros(xs["trainA"]),
        xs["testA"],
        zeros(xs["testA"]),
        1,
        train_b_x=xs["trainB"],
        train_b_y=zeros(xs["trainB"]),
        test_b_x=xs["testB"],
        test_b_y=zeros(xs["testB"]),
    )


def _folder_loader(name: str) -> Callable[[Path | None], ImageData]:
    def load(root: Path | None = None) -> ImageData:
        return load_folder_pair(name, root)

    load.__name__ = load.__qualname__ = f"load_{name}"
    return load


load_horse2zebra = _folder_loader("horse2zebra")
load_monet2photo = _folder_loader("monet2photo")
load_apple2orange = _folder_loader("apple2orange")
load_summer2winter_yosemite = _folder_loader("summer2winter_yosemite")
