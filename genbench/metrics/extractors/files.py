"""Weights files: finding them and checking their sha256 before anything is loaded.

A metric is only comparable when its extractor's weights are exactly the published ones, so
every weights file is hashed and checked before use, and its hash goes into the metric's
fingerprint. Hashes are memoised per (path, size, mtime) so a 100 MB file is read once.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from genbench.errors import GenbenchError

_HASHES: dict[tuple[str, int, int], str] = {}


def sha256_file(path: Path) -> str:
    """The hex sha256 of a file (memoised while the file's size and mtime are unchanged)."""
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if key not in _HASHES:
        digest = hashlib.sha256()
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
        _HASHES[key] = digest.hexdigest()
    return _HASHES[key]


def verify_sha256(path: Path, expected: str, what: str, fix: str) -> str:
    """Check that ``path`` exists and its sha256 starts with ``expected``; return the full hash.

    ``expected`` may be a prefix (torch hub names files with the first 8 hex digits of their
    hash). ``what`` names the file for the message and ``fix`` says what to do about it.
    """
    if not path.is_file():
        raise GenbenchError(f"{what} not found at {path}: {fix}")
    actual = sha256_file(path)
    if not actual.startswith(expected.lower()):
        raise GenbenchError(
            f"{what} at {path} has sha256 {actual[:16]}..., expected {expected[:16]}...: "
            f"the file is truncated or not the right one; {fix}"
        )
    return actual
