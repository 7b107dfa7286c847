"""Sample files in the layouts other tools read and write: an image folder, an ADM ``.npz``, a ``.pt``.

- a folder of PNG/JPEG files, at any depth, read in the order of their relative paths (the
  layout of torch-fidelity's ``--input1 DIR`` and clean-fid's ``compute_fid(folder)``);
- ``.npz`` in the ADM / guided-diffusion evaluation layout: uint8 NHWC images under ``arr_0``,
  int class labels under ``arr_1`` when present;
- ``.pt``: a tensor, NCHW or NHWC, uint8 or float in [0, 1], or a dict holding one under
  ``images`` with ``labels`` beside it.

Images come back as uint8 NCHW with the expected (C, H, W): anything else is refused with one
line saying what is wrong with which file. Writing produces the same layouts (``genbench
samples``), so a round trip gives back the very images.
"""

from __future__ import annotations

import hashlib
import io
import os
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from genbench.errors import GenbenchError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
Progress = Callable[[str, int, int], None]


@dataclass
class SampleSet:
    """Images read from a sample file: uint8 (N, C, H, W), labels (N,) int64 or None, and the file's identity."""

    images: torch.Tensor
    labels: torch.Tensor | None
    sha256: str  # the file's sha256; for a folder, of its image files' relative paths and bytes
    layout: str  # "folder", "npz" or "pt"


def _shape_text(shape: tuple[int, int, int]) -> str:
    c, h, w = shape
    return f"{h}x{w} {'grayscale (1 channel)' if c == 1 else f'{c}-channel'}"


def read_samples(
    path: Path, shape: tuple[int, int, int], num_classes: int, progress: Progress | None = None
) -> SampleSet:
    """The images (and labels) of ``path``, checked against ``shape`` = (C, H, W) and ``num_classes``."""
    if not path.exists():
        raise GenbenchError(f"{path} not found: give a folder of PNG/JPEG images, an .npz or a .pt file")
    if path.is_dir():
        samples = _read_folder(path, shape, progress)
    elif path.suffix == ".npz":
        samples = _read_npz(path, shape)
    elif path.suffix == ".pt":
        samples = _read_pt(path, shape)
    else:
        raise GenbenchError(f"{path}: unknown sample file type '{path.suffix}': give a folder, an .npz or a .pt file")
    # Standard strides: an NHWC array permuted to NCHW with one channel counts as contiguous yet keeps
    # channels-last strides, and convolutions then take another kernel (features differ by ~1e-6).
    samples.images = samples.images.clone(memory_format=torch.contiguous_format)
    if samples.labels is not None:
        labels = samples.labels
        if labels.dim() != 1 or len(labels) != len(samples.images):
            raise GenbenchError(
                f"{path}: {len(labels)} labels of shape {tuple(labels.shape)} for {len(samples.images)} images: "
                "give one class index per image"
            )
        if len(labels) and (int(labels.min()) < 0 or int(labels.max()) >= num_classes):
            raise GenbenchError(
                f"{path}: labels lie in [{int(labels.min())}, {int(labels.max())}], the dataset's classes are "
                f"0..{num_classes - 1}"
            )
    return samples


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _read_folder(folder: Path, shape: tuple[int, int, int], progress: Progress | None) -> SampleSet:
    from PIL import Image, UnidentifiedImageError

    files = sorted(
        (p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES),
        key=lambda p: p.relative_to(folder).as_posix(),
    )
    if not files:
        raise GenbenchError(f"{folder} holds no PNG or JPEG files (searched at any depth)")
    c, h, w = shape
    out = np.empty((len(files), c, h, w), dtype=np.uint8)
    digest = hashlib.sha256()
    task = f"reading images of {folder.name}"
    for i, file in enumerate(files):
        if progress is not None and (i % 500 == 0):
            progress(task, i, len(files))
        try:
            data = file.read_bytes()  # read once: hashed, then decoded from memory
            with Image.open(io.BytesIO(data)) as im:
                mode, array = im.mode, np.asarray(im)
        except (OSError, UnidentifiedImageError, ValueError) as exc:
            raise GenbenchError(f"cannot read image {file}: {str(exc).splitlines()[0]}") from None
        digest.update(file.relative_to(folder).as_posix().encode() + b"\0" + data)
        out[i] = _image_to_chw(file, mode, array, shape)
    if progress is not None:
        progress(task, len(files), len(files))
    return SampleSet(torch.from_numpy(out), None, digest.hexdigest(), "folder")


def _image_to_chw(file: Path, mode: str, array: np.ndarray, shape: tuple[int, int, int]) -> np.ndarray:
    c, h, w = shape
    if mode not in ("L", "RGB"):
        raise GenbenchError(f"{file} is a '{mode}' image: save samples as 8-bit grayscale (L) or RGB PNG/JPEG")
    if array.shape[:2] != (h, w):
        raise GenbenchError(
            f"{file} is {array.shape[0]}x{array.shape[1]}, the benchmark takes {h}x{w} images: "
            "save samples at the dataset's resolution (genbench does not resize them)"
        )
    if mode == "L":
        if c != 1:
            raise GenbenchError(f"{file} is grayscale, the benchmark takes {_shape_text(shape)} images (RGB)")
        return array[None]
    if c == 1:
        # A grayscale sample saved as RGB is the same image when its three channels agree.
        if not (np.array_equal(array[..., 0], array[..., 1]) and np.array_equal(array[..., 0], array[..., 2])):
            raise GenbenchError(f"{file} is a colour RGB image, the benchmark takes {_shape_text(shape)} images")
        return array[None, ..., 0]
    return array.transpose(2, 0, 1)


def _read_npz(path: Path, shape: tuple[int, int, int]) -> SampleSet:
    try:
        with np.load(path, allow_pickle=False) as f:
            if "arr_0" not in f.files:
                raise GenbenchError(
                    f"{path} has no arr_0 (it holds {', '.join(f.files) or 'nothing'}): the ADM layout keeps "
                    "uint8 NHWC images under arr_0 and labels under arr_1"
                )
            images = f["arr_0"]
            labels = f["arr_1"] if "arr_1" in f.files else None
    except GenbenchError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise GenbenchError(f"cannot read {path}: {str(exc).splitlines()[0]}") from None
    if images.dtype != np.uint8:
        raise GenbenchError(f"{path}: arr_0 is {images.dtype}, the ADM layout holds uint8 images (0..255)")
    c, h, w = shape
    if images.ndim != 4 or images.shape[1:] != (h, w, c):
        raise GenbenchError(
            f"{path}: arr_0 has shape {images.shape}, expected (N, {h}, {w}, {c}) (NHWC) for "
            f"{_shape_text(shape)} images"
        )
    tensor = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).contiguous()
    return SampleSet(tensor, _labels(path, labels), file_sha256(path), "npz")


def _labels(path: Path, labels: np.ndarray | torch.Tensor | None) -> torch.Tensor | None:
    if labels is None:
        return None
    t = torch.as_tensor(np.asarray(labels))
    if t.is_floating_point() or t.dtype == torch.bool:
        raise GenbenchError(f"{path}: labels are {t.dtype}, expected integer class indices")
    return t.long().reshape(-1) if t.dim() <= 1 else t.long()


def _read_pt(path: Path, shape: tuple[int, int, int]) -> SampleSet:
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # pickle, zip and format errors alike: the file is not a readable tensor file
        raise GenbenchError(f"cannot read {path}: {str(exc).splitlines()[0]}") from None
    labels = None
    if isinstance(obj, dict):
        if "images" not in obj:
            raise GenbenchError(f"{path} holds a dict without 'images' (keys: {', '.join(map(str, obj))})")
        obj, labels = obj["images"], obj.get("labels")
    if not isinstance(obj, torch.Tensor):
        raise GenbenchError(f"{path} holds a {type(obj).__name__}, expected an image tensor")
    c, h, w = shape
    x = obj
    if x.dim() == 4 and tuple(x.shape[1:]) == (c, h, w):
        pass
    elif x.dim() == 4 and tuple(x.shape[1:]) == (h, w, c):
        x = x.permute(0, 3, 1, 2)
    else:
        raise GenbenchError(
            f"{path}: tensor of shape {tuple(x.shape)}, expected (N, {c}, {h}, {w}) or (N, {h}, {w}, {c}) for "
            f"{_shape_text(shape)} images"
        )
    if x.dtype == torch.uint8:
        images = x.contiguous()
    elif x.is_floating_point():
        if not torch.isfinite(x).all():
            raise GenbenchError(f"{path}: the images hold NaN or inf values")
        lo, hi = float(x.min()), float(x.max())
        if lo < 0.0 or hi > 1.0:
            raise GenbenchError(
                f"{path}: float images must lie in [0, 1], these lie in [{lo:.3g}, {hi:.3g}] "
                "(map [-1, 1] outputs with (x + 1) / 2, or save uint8)"
            )
        images = torch.round(x.float() * 255).to(torch.uint8).contiguous()  # scored as 8-bit images, like samples
    else:
        raise GenbenchError(f"{path}: images of dtype {x.dtype}: save uint8 (0..255) or float in [0, 1]")
    return SampleSet(images, _labels(path, labels), file_sha256(path), "pt")


def write_samples(
    images: torch.Tensor, labels: torch.Tensor | None, out: Path, progress: Progress | None = None
) -> None:
    """Write uint8 (N, C, H, W) ``images`` (and labels) to ``out``: ``.npz`` (ADM), ``.pt`` or a folder.

    Files are written through a temporary name and renamed, so a crash never leaves half a file;
    a folder gets ``000000.png``... and carries no labels (write an .npz or a .pt for those).
    """
    if images.dtype != torch.uint8 or images.dim() != 4:
        raise GenbenchError(f"samples to write must be uint8 NCHW, got {images.dtype} {tuple(images.shape)}")
    if out.suffix == ".npz":
        nhwc = images.permute(0, 2, 3, 1).contiguous().numpy()
        if labels is None:
            _atomic(out, lambda tmp: np.savez(tmp, arr_0=nhwc))
        else:
            _atomic(out, lambda tmp: np.savez(tmp, arr_0=nhwc, arr_1=labels.long().numpy()))
    elif out.suffix == ".pt":
        obj = images if labels is None else {"images": images, "labels": labels.long()}
        _atomic(out, lambda tmp: torch.save(obj, tmp))
    elif out.suffix:
        raise GenbenchError(f"--out {out}: write an .npz, a .pt or a folder (a path without a suffix)")
    else:
        if labels is not None:
            raise GenbenchError(f"--out {out}: a folder of images carries no labels; write an .npz or a .pt")
        _write_folder(images, out, progress)


def _atomic(out: Path, write: Callable[[Path], None]) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.stem}.{os.getpid()}.tmp{out.suffix}")
    try:
        write(tmp)
        tmp.replace(out)
    finally:
        tmp.unlink(missing_ok=True)


def _write_folder(images: torch.Tensor, out: Path, progress: Progress | None) -> None:
    from PIL import Image

    if out.exists() and any(out.iterdir()):
        raise GenbenchError(f"--out {out} is a folder that is not empty: give a new or empty folder")
    out.mkdir(parents=True, exist_ok=True)
    arrays = images.permute(0, 2, 3, 1).numpy()
    for i, array in enumerate(arrays):
        if progress is not None and i % 500 == 0:
            progress(f"writing {out.name}", i, len(arrays))
        # uint8 (H, W) saves as an L image, (H, W, 3) as RGB.
        Image.fromarray(array[..., 0] if array.shape[-1] == 1 else array).save(out / f"{i:06d}.png")
    if progress is not None:
        progress(f"writing {out.name}", len(arrays), len(arrays))
