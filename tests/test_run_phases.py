"""A run is phases announced through hooks; the grid and loss curve are a default plugin; the store writes."""

from __future__ import annotations

import ast
import types
from pathlib import Path

import pytest

from genbench import hookimpl
from genbench.engine.runner import Runner, RunRequest
from genbench.plugins import DEFAULT_PLUGINS, Plugins
from genbench.store import Store
from genbench.store.runs import RunWriter
from genbench.store.schema import Artifact, LossPoint, MetricRecord, Run, utcnow

SMOKE = ["train.batch_size=64", "train.log_every=2", "eval.num_samples=64"]
ARTIFACTS_PLUGIN = "genbench.report.builtin"
ROOT = Path(__file__).parents[1]


def toy_request(stop: int = 0) -> RunRequest:
    return RunRequest("toy", "digits", budget="smoke", sets=SMOKE, device="cpu", stop_after_steps=stop)


def phase_recorder(runner_box: list[Runner]) -> tuple[types.ModuleType, list[tuple]]:
    """A tracker that records each hook with what the store and the session hold at that moment."""
    calls: list[tuple] = []
    mod = types.ModuleType("genbench_phase_recorder")

    def stored(run_id: str) -> tuple[str, int]:
        row = runner_box[0].store.get_run(run_id)
        return row.status, len(row.metrics)

    @hookimpl
    def genbench_run_started(run, resumed, session):  # type: ignore[no-untyped-def]
        calls.append(("started", stored(run.id), session.stage))

    @hookimpl
    def genbench_losses_logged(run, step, session):  # type: ignore[no-untyped-def]
        calls.append(("losses", step, session.stage))

    @hookimpl
    def genbench_evaluated(run, scores, session):  # type: ignore[no-untyped-def]
        calls.append(("evaluated", stored(run.id), sorted(k for k, _ in session.artifacts)))

    @hookimpl
    def genbench_run_finished(run, session):  # type: ignore[no-untyped-def]
        calls.append(("finished", stored(run.id), sorted(k for k, _ in session.artifacts)))

    for fn in (genbench_run_started, genbench_losses_logged, genbench_evaluated, genbench_run_finished):
        setattr(mod, fn.__name__, fn)
    return mod, calls


def test_the_phases_are_announced_in_order_and_finished_comes_with_the_metrics(toy_plugins, results):
    box: list[Runner] = []
    mod, calls = phase_recorder(box)
    box.append(runner := Runner(results, plugins=Plugins.load(extra=[mod])))
    out = runner.run(toy_request())
    kinds = [c[0] for c in calls]
    assert kinds[0] == "started" and kinds[-2:] == ["evaluated", "finished"]
    assert set(kinds[1:-2]) == {"losses"} and len(kinds) - 3 == 2048 // 64 // 2  # every train.log_every steps
    assert calls[0][1] == ("running", 0) and {c[2] for c in calls if c[0] == "losses"} == {"training"}
    # Scored, not stored yet: the run says "evaluating" until its metrics and "finished" land together.
    assert calls[-2][1] == ("evaluating", 0)
    assert calls[-1][1] == ("finished", len(out.scores)) and len(out.scores) >= 2
    # The default plugin runs first (tryfirst): a tracker after it sees its files in session.artifacts.
    assert calls[-2][2] == ["samples"] and calls[-1][2] == ["loss_curve", "samples"]


def test_the_default_plugin_keeps_the_grid_and_curve_with_the_run(toy_plugins, results):
    runner = Runner(results)
    assert ARTIFACTS_PLUGIN in DEFAULT_PLUGINS and runner.plugins.manager.has_plugin(ARTIFACTS_PLUGIN)
    info = runner.plugins.info_of(ARTIFACTS_PLUGIN)
    assert info is not None and info.registers == {"lifecycle": ["evaluated", "run_finished"]}  # `genbench plugins`
    out = runner.run(toy_request())
    arts = {a.kind: Path(a.path) for a in out.run.artifacts}
    assert set(arts) == {"checkpoint", "samples", "loss_curve"}
    assert arts["samples"].name == "samples.png" and arts["loss_curve"].name == "losses.png"
    assert all(p.stat().st_size > 0 for p in arts.values())

    part = runner.run(toy_request(stop=6))  # an interrupted run keeps its curve, and has no grid yet
    assert part.run.status == "interrupted"
    assert {a.kind for a in part.run.artifacts} == {"checkpoint", "loss_curve"}
    done = runner.resume(part.run.id, device_name="cpu")  # the curve is redrawn in place, stored once
    kinds = sorted(a.kind for a in runner.store.get_run(done.run.id).artifacts)
    assert kinds == ["checkpoint", "loss_curve", "samples"]


def test_without_the_default_plugin_a_run_still_finishes_with_its_metrics(toy_plugins, results):
    plugins = Plugins.load()
    plugins.manager.unregister(name=ARTIFACTS_PLUGIN)
    out = Runner(results, plugins=plugins).run(toy_request())
    assert out.run.status == "finished" and {m.name for m in out.run.metrics} == {s.name for s in out.scores}
    assert out.scores and {a.kind for a in out.run.artifacts} == {"checkpoint"}
    run_dir = Path(out.run.run_dir)
    assert not (run_dir / "samples.png").exists() and not (run_dir / "losses.png").exists()


def test_a_failing_grid_is_a_note_and_the_run_finishes(toy_plugins, results, monkeypatch):
    import genbench.report.images as images

    def broken(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise RuntimeError("no fonts here")

    monkeypatch.setattr(images, "save_sample_grid", broken)
    notes: list[str] = []
    out = Runner(results, notice=notes.append).run(toy_request())
    assert out.run.status == "finished" and out.run.metrics
    hook_notes = [n for n in notes if "failed in plugin" in n]
    assert hook_notes == [f"genbench_evaluated failed in plugin '{ARTIFACTS_PLUGIN}': RuntimeError: no fonts here"]
    assert {a.kind for a in out.run.artifacts} == {"checkpoint", "loss_curve"}


# -- the store's run writes --------------------------------------------------------------------


def a_run(store: Store, tmp_path: Path) -> RunWriter:
    run = Run(
        id="r1", status="running", family="toy", model="toy-pixel", dataset="digits", benchmark="digits",
        benchmark_version=1, budget="smoke", budget_images=256, seed=0, config={}, config_hash="h",
        versions={}, device="cpu", hardware="cpu", run_dir=str(tmp_path), owner="me:1:a", heartbeat=utcnow(),
    )  # fmt: skip
    writer = RunWriter(store, run.id)
    writer.create(run)
    return writer


class FakeScore:
    def __init__(self, name: str, value: float, fingerprint: object = None) -> None:
        self.name, self.value, self.direction, self.unit = name, value, "min", ""
        self.fingerprint = fingerprint if fingerprint is not None else {"metric": name}
        self.fingerprint_hash, self.settings, self.seconds = "f" * 16, {}, 0.1
        self.interval = None  # Score.interval: no evaluation interval
        self.evaluations = None  # Score.evaluations: cost not measured


def test_run_writer_keeps_finite_losses_until_a_checkpoint_and_restart_forgets_what_is_replayed(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'g.db'}")
    writer = a_run(store, tmp_path)
    writer.log_losses(2, 128, {"loss": 1.5, "bad": float("nan"), "worse": float("inf")})
    with store.session(write=False) as s:
        assert s.query(LossPoint).count() == 0  # pending until the checkpoint
    writer.checkpointed(2, 128, tmp_path / "checkpoint.pt")
    writer.log_losses(4, 256, {"loss": 1.0})
    writer.checkpointed(4, 256, tmp_path / "checkpoint.pt")
    assert writer.loss_history() == {"loss": [(2, 128, 1.5), (4, 256, 1.0)]}
    row = store.get_run("r1")
    assert (row.steps, row.images_seen) == (4, 256) and [a.kind for a in row.artifacts] == ["checkpoint"]
    writer.add_scores([FakeScore("nll", 3.0)])
    writer.restart(after_step=2)
    assert writer.loss_history() == {"loss": [(2, 128, 1.5)]} and store.get_run("r1").metrics == []


def test_finished_and_metrics_are_one_transaction(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'g.db'}")
    writer = a_run(store, tmp_path)
    writer.stop("evaluating", "", wall=1.0, release=False)
    with pytest.raises(Exception):  # a value the database cannot take: nothing of the finish is stored
        writer.finish([FakeScore("a", 1.0), FakeScore("b", 2.0, fingerprint={"x": object()})], wall=2.0)
    row = store.get_run("r1")
    assert row.status == "evaluating" and row.owner == "me:1:a" and row.metrics == [] and row.wall_seconds == 1.0
    writer.finish([FakeScore("a", 1.0)], [("samples", tmp_path / "s.png")], wall=2.0)
    row = store.get_run("r1")
    assert (row.status, row.owner, row.wall_seconds) == ("finished", None, 3.0)
    assert [m.name for m in row.metrics] == ["a"] and [a.kind for a in row.artifacts] == ["samples"]
    writer.add_artifacts([("samples", tmp_path / "s.png"), ("loss_curve", tmp_path / "l.png")])
    with store.session(write=False) as s:
        assert sorted(a.kind for a in s.query(Artifact)) == ["loss_curve", "samples"]  # no duplicate
        assert s.query(MetricRecord).count() == 1


# -- no database write outside genbench/store ----------------------------------------------------

WRITE_METHODS = {"add", "add_all", "delete", "merge"}
WRITE_CONSTRUCTS = {"insert", "update", "delete"}


def write_places(source: str) -> list[int]:
    """Lines that write to the database: session.add/add_all/delete/merge, SQLAlchemy insert/update/
    delete constructs, and row attributes set inside a ``with ....session() as s`` block."""
    tree = ast.parse(source)
    constructs = {
        a.asname or a.name
        for n in ast.walk(tree)
        if isinstance(n, ast.ImportFrom) and (n.module or "").startswith("sqlalchemy")
        for a in n.names
    } & WRITE_CONSTRUCTS
    lines = [
        n.lineno
        for n in ast.walk(tree)
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id in constructs
    ]
    for block in (n for n in ast.walk(tree) if isinstance(n, ast.With)):
        names = {
            i.optional_vars.id
            for i in block.items
            if isinstance(i.optional_vars, ast.Name)
            and isinstance(i.context_expr, ast.Call)
            and getattr(i.context_expr.func, "attr", "") == "session"
        }
        for node in (n for stmt in block.body for n in ast.walk(stmt)) if names else ():
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in WRITE_METHODS
                and getattr(node.func.value, "id", None) in names
            ):
                lines.append(node.lineno)
            targets = node.targets if isinstance(node, ast.Assign) else []
            for t in (e for t in targets for e in (t.elts if isinstance(t, ast.Tuple) else [t])):
                if isinstance(t, ast.Attribute) and getattr(t.value, "id", None) != "self":
                    lines.append(node.lineno)
    return sorted(set(lines))


def test_the_write_finder_finds_the_writes_the_runner_used_to_make():
    old_runner = (
        "from sqlalchemy import delete\n"
        "def f(store, run, pending):\n"
        "    with store.session() as s:\n"
        "        s.add(run)\n"
        "    with store.session() as s:\n"
        "        s.execute(delete(LossPoint))\n"
        "        s.add_all(pending)\n"
        "        row = s.get(Run, run.id)\n"
        "        row.status, row.owner = 'finished', None\n"
        "    with store.session(write=False) as s:\n"
        "        return s.get(Run, run.id).status\n"
    )
    assert write_places(old_runner) == [4, 6, 7, 9]
    assert write_places((ROOT / "genbench" / "store" / "runs.py").read_text())  # where they live now


def test_no_database_write_outside_the_store_package():
    store = ROOT / "genbench" / "store"
    files = [*ROOT.joinpath("genbench").rglob("*.py"), *ROOT.joinpath("plugins").glob("*/genbench_*/**/*.py")]
    found = {
        f"{p.relative_to(ROOT)}:{line}" for p in files if store not in p.parents for line in write_places(p.read_text())
    }
    assert not found, f"database writes outside genbench/store: {sorted(found)}"
