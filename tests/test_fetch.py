"""Weights fetched on first use, against a real HTTP server on 127.0.0.1: a download that succeeds, one
cut short, a wrong file, a server that never answers, and offline; each failure leaves nothing behind."""

from __future__ import annotations

import hashlib
import http.server
import io
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from genbench.errors import GenbenchError
from genbench.metrics import inception
from genbench.metrics.extractors.fetch import ENV_OFFLINE, fetch


def _weights() -> bytes:
    buf = io.BytesIO()
    torch.save({"conv.weight": torch.arange(3 * 3 * 16, dtype=torch.float32).reshape(16, 3, 3)}, buf)
    return buf.getvalue() * 64  # a few hundred kB: several reads of the download loop


WEIGHTS = _weights()
SHA256 = hashlib.sha256(WEIGHTS).hexdigest()
FIX = "put it there by hand"


class _Handler(http.server.BaseHTTPRequestHandler):
    requests: list[str] = []

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        _Handler.requests.append(self.path)
        body = WEIGHTS
        if self.path == "/wrong.pth":
            body = WEIGHTS[::-1]
        if self.path == "/missing.pth":
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(WEIGHTS)))
        self.end_headers()
        # A truncated download: the announced length, half the bytes, then the connection closes.
        self.wfile.write(body[: len(body) // 2] if self.path == "/truncated.pth" else body)

    def log_message(self, *args: object) -> None:  # quiet
        pass


@pytest.fixture
def server() -> Iterator[str]:
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    _Handler.requests = []
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def silent() -> Iterator[str]:
    """A server that accepts connections (the kernel completes the handshake) and never answers."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    yield f"http://127.0.0.1:{sock.getsockname()[1]}/weights.pth"
    sock.close()


@pytest.fixture(autouse=True)
def online(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_OFFLINE, raising=False)


def _left(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_a_download_is_verified_kept_and_not_repeated(server: str, tmp_path: Path) -> None:
    dest = tmp_path / "hub" / "checkpoints" / "w.pth"
    seen: list[tuple[int, int]] = []
    got = fetch(f"{server}/w.pth", dest, SHA256, what="test weights", fix=FIX,
                progress=lambda task, done, total: seen.append((done, total)))  # fmt: skip
    assert got == dest and dest.read_bytes() == WEIGHTS
    assert _left(dest.parent) == ["w.pth"]  # no temporary file left
    assert seen[0] == (0, len(WEIGHTS)) and seen[-1] == (len(WEIGHTS), len(WEIGHTS))
    assert torch.load(dest, weights_only=True)["conv.weight"].shape == (16, 3, 3)
    fetch(f"{server}/w.pth", dest, SHA256, what="test weights", fix=FIX)
    assert _Handler.requests == ["/w.pth"]  # the second use reads the cache


@pytest.mark.parametrize(
    ("path", "needle"),
    [
        ("/truncated.pth", "cut off"),
        ("/wrong.pth", "not the pinned file, not kept"),
        ("/missing.pth", "HTTP 404"),
    ],
)
def test_a_failed_download_leaves_nothing_and_says_where_to_put_the_file(
    server: str, tmp_path: Path, path: str, needle: str
) -> None:
    dest = tmp_path / "checkpoints" / "w.pth"
    with pytest.raises(GenbenchError) as info:
        fetch(f"{server}{path}", dest, SHA256, what="test weights", fix=FIX)
    message = str(info.value)
    assert needle in message and message.endswith(FIX) and "\n" not in message
    assert _left(dest.parent) == []


def test_a_server_that_never_answers_times_out(silent: str, tmp_path: Path) -> None:
    dest = tmp_path / "w.pth"
    with pytest.raises(GenbenchError, match=r"did not answer within 0.5 s .*put it there by hand"):
        fetch(silent, dest, SHA256, what="test weights", fix=FIX, timeout=0.5)
    assert _left(tmp_path) == []


def test_offline_nothing_is_requested(server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_OFFLINE, "1")
    with pytest.raises(GenbenchError, match=f"not found at {tmp_path / 'w.pth'} and .GENBENCH_OFFLINE is set"):
        fetch(f"{server}/w.pth", tmp_path / "w.pth", SHA256, what="test weights", fix=FIX)
    assert _Handler.requests == []


def test_inception_weights_are_fetched_into_the_torch_hub_cache_on_first_use(
    server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(inception.ENV_WEIGHTS, raising=False)
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    monkeypatch.setattr(inception, "INCEPTION_URL", f"{server}/{inception.INCEPTION_FILE}")
    monkeypatch.setenv(inception.ENV_SHA256, SHA256)  # the small file stands in for the pinned one
    path, sha = inception.inception_weights()
    assert path == tmp_path / "hub" / "checkpoints" / inception.INCEPTION_FILE and sha == SHA256
    assert path.read_bytes() == WEIGHTS and _Handler.requests == [f"/{inception.INCEPTION_FILE}"]
    # The pinned hash is checked before use: a file that fails it is refused, not re-downloaded.
    monkeypatch.delenv(inception.ENV_SHA256)
    with pytest.raises(GenbenchError, match="expected 6726825d"):
        inception.inception_weights()
    assert len(_Handler.requests) == 1
