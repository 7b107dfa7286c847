"""Lifecycle hooks: the runner calls them in order, with keyword arguments; a failing tracker never stops a run."""

from __future__ import annotations

import types

from genbench import hookimpl
from genbench.engine.runner import Runner, RunRequest
from genbench.plugins import Plugins

SMOKE = ["train.batch_size=64", "train.log_every=2", "eval.num_samples=64"]


def recorder() -> tuple[types.ModuleType, list[tuple[str, dict]]]:
    calls: list[tuple[str, dict]] = []
    mod = types.ModuleType("genbench_recorder")

    @hookimpl
    def genbench_run_started(run, resumed):  # type: ignore[no-untyped-def]
        calls.append(("started", {"id": run.id, "status": run.status, "resumed": resumed}))

    @hookimpl
    def genbench_losses_logged(run, step, images_seen, losses):  # type: ignore[no-untyped-def]
        calls.append(("losses", {"id": run.id, "step": step, "images": images_seen, "losses": losses}))

    @hookimpl
    def genbench_evaluated(run, scores):  # type: ignore[no-untyped-def]
        calls.append(("evaluated", {"id": run.id, "scores": {s.name: s.value for s in scores}}))

    @hookimpl
    def genbench_run_finished(run):  # type: ignore[no-untyped-def]
        calls.append(("finished", {"id": run.id, "status": run.status}))

    for fn in (genbench_run_started, genbench_losses_logged, genbench_evaluated, genbench_run_finished):
        setattr(mod, fn.__name__, fn)
    return mod, calls


def test_lifecycle_hooks_follow_a_run_then_a_resume(toy_plugins, results):
    mod, calls = recorder()
    runner = Runner(results, plugins=Plugins.load(extra=[mod]))
    req = RunRequest("toy", "digits", budget="smoke", sets=SMOKE, device="cpu", stop_after_steps=20)
    out = runner.run(req)
    assert out.run.status == "interrupted"
    kinds = [k for k, _ in calls]
    assert kinds[0] == "started" and kinds[-1] == "finished" and "evaluated" not in kinds
    assert calls[0][1]["resumed"] is False and calls[-1][1]["status"] == "interrupted"
    logged = [c for k, c in calls if k == "losses"]
    assert [c["step"] for c in logged] == list(range(2, 21, 2))  # every train.log_every steps
    assert set(logged[0]["losses"]) == {"loss", "loss_scale"} and logged[-1]["images"] == 20 * 64

    calls.clear()
    done = runner.resume(out.run.id, device_name="cpu")
    kinds = [k for k, _ in calls]
    assert kinds[0] == "started" and calls[0][1]["resumed"] is True
    assert kinds[-2:] == ["evaluated", "finished"] and calls[-1][1]["status"] == "finished"
    stored = {m.name: m.value for m in done.run.metrics}
    assert calls[-2][1]["scores"] == stored and "nll" in stored
    assert {c["id"] for _, c in calls} == {out.run.id}


def test_a_failing_tracker_is_a_note_naming_it_and_the_run_finishes(toy_plugins, results):
    mod = types.ModuleType("genbench_bad_tracker")

    @hookimpl
    def genbench_losses_logged(run, step, images_seen, losses):  # type: ignore[no-untyped-def]
        raise RuntimeError("tracker server unreachable")

    mod.genbench_losses_logged = genbench_losses_logged
    notes: list[str] = []
    runner = Runner(results, plugins=Plugins.load(extra=[mod]), notice=notes.append)
    out = runner.run(RunRequest("toy", "digits", budget="smoke", sets=SMOKE, device="cpu"))
    assert out.run.status == "finished"
    assert notes and all("genbench_bad_tracker" in n and "tracker server unreachable" in n for n in notes)
