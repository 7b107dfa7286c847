"""`genbench report` and the leaderboard's shared formats with hostile store rows: file names, artifact
paths, markup in names; the report written atomically; --out that is a file."""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from genbench.report.html import write_report
from genbench.report.leaderboard import build_boards
from genbench.report.tables import boards_markdown, boards_records, records_csv
from genbench.store import Store
from genbench.store.schema import Artifact, MetricRecord, Run
from genbench.testing import run_cli

MARKUP = '<img src=x onerror="alert(1)">*bold* [link](http://e.org) a|b\nnext'


def add(store: Store, rid: str, run_dir: Path, *, model: str = "vae", family: str = "vae", benchmark: str = "digits",
        artifacts: dict[str, str] | None = None, fd: float = 10.0) -> None:  # fmt: skip
    with store.session() as s:
        s.add(Run(id=rid, status="finished", family=family, model=model, dataset="digits", benchmark=benchmark,
                  benchmark_version=1, budget="quick", budget_images=100, seed=0, config={}, config_hash=model,
                  versions={}, device="cpu", hardware="cpu", run_dir=str(run_dir), num_params=10, images_seen=100,
                  wall_seconds=2.0, train_seconds=1.0))  # fmt: skip
        s.add(MetricRecord(run_id=rid, name="clf-fd", value=fd, direction="min", fingerprint={"num_samples": 10},
                           fingerprint_hash="F", settings={}))  # fmt: skip
        for kind, path in (artifacts or {}).items():
            s.add(Artifact(run_id=rid, kind=kind, path=path))


def png(path: Path) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray((np.arange(48).reshape(4, 4, 3) * 5).astype(np.uint8)).save(path)
    return str(path)


def files_under(folder: Path) -> set[str]:
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}


def test_hostile_rows_never_write_outside_out_nor_copy_foreign_files(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'r.db'}")
    runs = tmp_path / "results" / "runs"
    secret = tmp_path / "secret.png"  # a readable file of someone else's, outside every run's folder
    png(secret)
    good = runs / "r1"
    add(store, "r1", good, artifacts={"samples": png(good / "samples.png"), "loss_curve": png(good / "losses.png")})
    # A run id with ../ and a benchmark with ../ in it: their files would land outside --out.
    add(store, "../../../zz", runs / "zz", benchmark="../../../yy",
        artifacts={"samples": png(runs / "zz" / "samples.png")}, fd=11.0)  # fmt: skip
    # A row naming another file as its artifact, inside its folder by a link, or with a run_dir that is not its own.
    evil = runs / "e1"
    evil.mkdir(parents=True)
    (evil / "link.png").symlink_to(secret)
    add(store, "e1", evil, artifacts={"samples": str(secret), "loss_curve": str(evil / "link.png")}, fd=12.0)
    add(store, "e2", tmp_path, artifacts={"samples": str(secret)}, fd=13.0)  # run_dir: the folder above
    text = runs / "e3" / "notes.png"
    text.parent.mkdir(parents=True)
    text.write_text("not an image")
    add(store, "e3", runs / "e3", artifacts={"samples": str(text)}, fd=14.0)

    out = tmp_path / "deep" / "er" / "report"
    notes: list[str] = []
    index = write_report(store, out, warn=notes.append)
    assert index == out / "index.html"
    inside = files_under(out)
    assert inside == {"index.html", "img/r1-samples.png", "img/r1-losses.png", "pareto/board-0.png",
                      "pareto/digits-quick-1.png"}, inside  # fmt: skip
    elsewhere = {p for p in files_under(tmp_path) if not p.startswith(("deep/er/report/", "results/runs/", "r.db"))}
    assert elsewhere == {"secret.png"}, elsewhere  # nothing written outside --out
    assert any("../../../zz" in n and "not a safe id" in n for n in notes), notes
    assert sum("not a PNG inside" in n for n in notes) == 3, notes  # e1, e2, e3
    page = index.read_text()
    assert 'id="run-../../../zz"' in page or "run-../../../zz" in page  # shown as text, escaped
    assert not list(tmp_path.glob("deep/er/.genbench-report-*"))  # the staging folder is gone


def test_the_page_is_replaced_atomically_and_other_files_are_kept(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'r.db'}")
    run_dir = tmp_path / "runs" / "r1"
    add(store, "r1", run_dir, artifacts={"samples": png(run_dir / "samples.png")})
    out = tmp_path / "report"
    write_report(store, out)
    (out / "mine.txt").write_text("a reader's own file")
    reader = open(out / "index.html", "rb")  # a browser holding the old page while it is rewritten
    old = (out / "index.html").read_bytes()
    try:
        add(store, "r2", tmp_path / "runs" / "r2", model="dcgan", family="gan", fd=5.0)
        write_report(store, out)
        assert reader.read() == old  # the old file was never truncated or rewritten in place
    finally:
        reader.close()
    page = (out / "index.html").read_text()
    assert "dcgan" in page and page.endswith("</html>\n")
    assert (out / "mine.txt").read_text() == "a reader's own file"


def test_out_that_is_a_file_is_one_line(tmp_path, capsys, monkeypatch):
    store = Store(f"sqlite:///{tmp_path / 'r.db'}")
    add(store, "r1", tmp_path / "runs" / "r1")
    monkeypatch.delenv("GENBENCH_DB", raising=False)
    target = tmp_path / "report.html"
    target.write_text("keep me")
    for out in (target, target / "sub"):
        code, stdout, err = run_cli(capsys, "report", "--db", f"sqlite:///{tmp_path / 'r.db'}", "--out", str(out))
        assert code == 2 and len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
        assert "is a file" in err
    assert target.read_text() == "keep me"


def test_markdown_and_csv_escape_names(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'r.db'}")
    add(store, "r1", tmp_path / "runs" / "r1", model=MARKUP, family='=HYPERLINK("http://e.org","x")')
    add(store, "r2", tmp_path / "runs" / "r2", model="@SUM(A1:A9)", family="+cmd|' /C calc'!A0", fd=3.0)
    boards = build_boards(store)
    md = boards_markdown(boards)
    assert "<img" not in md and "&lt;img" in md  # markup is text
    assert "\\*bold\\*" in md and "\\[link\\]" in md and "a\\|b" in md
    rows = [line for line in md.splitlines() if line.startswith("| ") and "HYPERLINK" in line]
    assert len(rows) == 1  # the newline in the name did not start a line of its own
    head = next(line for line in md.splitlines() if line.startswith("| #"))
    assert rows[0].count(" | ") == head.count(" | ")  # the pipe in the name did not add a column
    table = list(csv.DictReader(io.StringIO(records_csv(boards_records(boards)))))
    for row in table:
        for key in ("model", "family"):
            assert not row[key].startswith(("=", "+", "-", "@")), row[key]
    assert {r["family"] for r in table} == {'\'=HYPERLINK("http://e.org","x")', "'+cmd|' /C calc'!A0"}
    assert "'@SUM(A1:A9)" in {r["model"] for r in table}


def test_a_failed_report_leaves_the_old_one_and_no_staging_folder(tmp_path, monkeypatch):
    from genbench.report import html

    store = Store(f"sqlite:///{tmp_path / 'r.db'}")
    add(store, "r1", tmp_path / "runs" / "r1")
    out = tmp_path / "report"
    write_report(store, out)
    old = (out / "index.html").read_text()

    def full_disk(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(html, "save_pareto", full_disk)
    with pytest.raises(html.GenbenchError, match="cannot write the report .*No space left"):
        write_report(store, out)
    assert (out / "index.html").read_text() == old
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".genbench-report-")]


@pytest.mark.parametrize("fmt", ["markdown", "csv"])
def test_leaderboard_command_escapes(tmp_path, capsys, monkeypatch, fmt):
    store = Store(f"sqlite:///{tmp_path / 'r.db'}")
    add(store, "r1", tmp_path / "runs" / "r1", model="<script>alert(1)</script>", family="=1+1")
    monkeypatch.delenv("GENBENCH_DB", raising=False)
    code, out, err = run_cli(capsys, "leaderboard", "--db", f"sqlite:///{tmp_path / 'r.db'}", "--format", fmt)
    assert code == 0, err
    if fmt == "markdown":
        assert "<script>" not in out and "&lt;script&gt;" in out
    else:  # CSV is data: the name is kept as written, quoted by the csv module, its formula neutralised
        assert "<script>alert(1)</script>" in out
        assert ",=1+1," not in out and ",'=1+1," in out
