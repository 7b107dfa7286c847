"""The README's "Use from Python" example runs as written (issue #26)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"


def python_example() -> str:
    text = README.read_text(encoding="utf-8")
    section = text.split("### Use from Python", 1)[1].split("\n## ", 1)[0].split("\n### ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, re.S)
    assert len(blocks) == 1, "the section holds one python block"
    return blocks[0]


def test_the_python_example_runs_on_digits_smoke(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("GENBENCH_DB", raising=False)
    monkeypatch.setenv("GENBENCH_CACHE", str(tmp_path / "cache"))
    scope: dict[str, object] = {}
    exec(compile(python_example(), str(README) + ":Use from Python", "exec"), scope)
    outcome = scope["outcome"]
    assert outcome.run.status == "finished" and outcome.scores  # type: ignore[attr-defined]
    images = scope["images"]
    assert tuple(images.shape) == (16, 1, 8, 8)  # type: ignore[attr-defined]
    assert 0 <= float(images.min()) and float(images.max()) <= 1  # type: ignore[attr-defined]
    assert scope["boards"] and (tmp_path / "results" / "python" / "genbench.db").exists()
