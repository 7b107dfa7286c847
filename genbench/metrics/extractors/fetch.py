"""Weights fetched on first use: downloaded once into the torch hub cache, atomically, and verified.

:func:`fetch` downloads a pinned URL into a temporary file beside its destination, hashing as it
goes, checks the length the server announced and the full sha256 the caller pins, and only then
renames the file into place: a crash, a cut connection or a wrong file never leaves a file under
the name genbench loads. Offline (``$GENBENCH_OFFLINE=1``, or no network) or on any failure the
error is one line that says where to put the file by hand.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import socket
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

from genbench.errors import GenbenchError

ENV_OFFLINE = "GENBENCH_OFFLINE"  # "1": never download; missing weights are an error saying where to put them
ENV_TIMEOUT = "GENBENCH_DOWNLOAD_TIMEOUT"  # seconds a server may stay silent (connect or read); default 60
CHUNK = 1 << 20

Progress = Callable[[str, int, int], None]


def offline() -> bool:
    return os.environ.get(ENV_OFFLINE, "") not in ("", "0")


def _timeout() -> float:
    try:
        return float(os.environ.get(ENV_TIMEOUT, "60"))
    except ValueError:
        raise GenbenchError(f"${ENV_TIMEOUT} must be a number of seconds") from None


class _Lines:
    """Default progress: a line on stderr every 10% (readable when piped, and in a log)."""

    def __init__(self) -> None:
        self.shown = -1

    def __call__(self, task: str, done: int, total: int) -> None:
        tenth = done * 10 // total if total else 0
        if tenth != self.shown:
            self.shown = tenth
            size = f"{done / 1e6:.1f} of {total / 1e6:.1f} MB" if total else f"{done / 1e6:.1f} MB"
            print(f"{task}: {size}", file=sys.stderr, flush=True)


def fetch(
    url: str,
    dest: Path,
    sha256: str,
    *,
    what: str,
    fix: str,
    timeout: float | None = None,
    progress: Progress | None = None,
) -> Path:
    """Download ``url`` to ``dest`` unless it is there; the file's full sha256 must be ``sha256``.

    ``what`` names the file in messages, ``fix`` says how to put it there by hand. Raises a one-line
    :class:`GenbenchError` when offline, when the server fails or stays silent for ``timeout`` seconds,
    when fewer bytes arrive than announced, or when the hash differs; ``dest`` is then left as it was.
    """
    if dest.is_file():
        return dest
    if offline():
        raise GenbenchError(f"{what} not found at {dest} and ${ENV_OFFLINE} is set: {fix}")
    timeout = _timeout() if timeout is None else timeout
    report = progress or _Lines()
    task = f"downloading {what}"
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    except OSError as exc:
        raise GenbenchError(f"cannot write {what} into {dest.parent} ({exc.strerror}): {fix}") from None
    tmp = Path(tmp_name)
    try:
        digest = hashlib.sha256()
        done = 0
        with os.fdopen(fd, "wb") as out:
            request = urllib.request.Request(url, headers={"User-Agent": "genbench"})
            with urllib.request.urlopen(request, timeout=timeout) as response:
                total = int(response.headers.get("Content-Length") or 0)
                report(task, 0, total)
                last = time.monotonic()
                while True:
                    block = response.read(CHUNK)
                    if not block:
                        break
                    out.write(block)
                    digest.update(block)
                    done += len(block)
                    if time.monotonic() - last > 0.5 or done == total:
                        report(task, done, total)
                        last = time.monotonic()
            out.flush()
            os.fsync(out.fileno())
        if total and done != total:
            raise GenbenchError(f"download of {what} from {url} was cut off after {done:,} of {total:,} bytes: {fix}")
        actual = digest.hexdigest()
        if actual != sha256.lower():
            raise GenbenchError(
                f"downloaded {what} from {url} has sha256 {actual[:16]}..., expected {sha256[:16]}...: "
                f"not the pinned file, not kept; {fix}"
            )
        report(task, done, total or done)
        tmp.replace(dest)  # atomic: the file appears whole, verified, or not at all
        return dest
    except GenbenchError:
        raise
    except http.client.IncompleteRead as exc:
        got = len(exc.partial) + done
        raise GenbenchError(f"download of {what} from {url} was cut off after about {got:,} bytes: {fix}") from None
    except (TimeoutError, socket.timeout):
        raise GenbenchError(f"the server of {url} did not answer within {timeout:g} s ({what}): {fix}") from None
    except urllib.error.HTTPError as exc:
        raise GenbenchError(f"cannot download {what} from {url} (HTTP {exc.code} {exc.reason}): {fix}") from None
    except urllib.error.URLError as exc:
        if isinstance(exc.reason, (TimeoutError, socket.timeout)):
            raise GenbenchError(f"the server of {url} did not answer within {timeout:g} s ({what}): {fix}") from None
        raise GenbenchError(f"cannot download {what} from {url} ({exc.reason}): {fix}") from None
    except (OSError, http.client.HTTPException) as exc:
        raise GenbenchError(f"cannot download {what} from {url} ({type(exc).__name__}: {exc}): {fix}") from None
    finally:
        tmp.unlink(missing_ok=True)
