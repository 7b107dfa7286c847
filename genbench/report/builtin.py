"""genbench's default artifacts plugin: the sample grid and the loss curve kept with every run.

It follows runs through the lifecycle hooks like any tracker (plugins/genbench-tensorboard is
another one beside it) and keeps its files through ``session.add_artifact``: the grid is stored
with the metrics in the transaction that marks the run finished, the curve right after
``genbench_run_finished``. Both implementations are ``tryfirst``, so trackers called after them
find the files in ``session.artifacts``. Without this plugin (``pm.unregister(name=...)``), runs
still finish with their metrics, and keep no pictures. torch is imported only when drawing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from genbench import hookimpl

if TYPE_CHECKING:
    from genbench.engine.evaluate import Score
    from genbench.engine.session import RunSession
    from genbench.store.schema import Run


@hookimpl(tryfirst=True)
def genbench_evaluated(run: Run, scores: list[Score], session: RunSession) -> None:
    """At the end of training (not at `genbench eval`): 64 samples, translations both ways, or on a
    reconstruction benchmark the restorations of 8 test measurements."""
    if session.status != "evaluating":
        return
    model = session.model
    if "restore" in model.capabilities and session.bench.degradation:
        from genbench.report.images import save_restoration_grid

        path = save_restoration_grid(
            model, session.bench.degradation, session.data.split("test")[0], session.run_dir / "restorations.png",
            device=session.device, seed=session.eval_cfg.seed, samples=session.bench.restore_samples, title=title(run),
        )  # fmt: skip
        session.add_artifact("samples", path)  # the run's picture
    elif "sample" in model.capabilities:
        from genbench.report.images import save_sample_grid

        path = save_sample_grid(
            model, session.run_dir / "samples.png", device=session.device, seed=session.eval_cfg.seed, title=title(run)
        )
        session.add_artifact("samples", path)
    elif "translate" in model.capabilities and session.data.has_domain_b:
        from genbench.report.translation import save_translation_grid

        path = save_translation_grid(model, session.data, session.run_dir / "translations.png", device=session.device)
        session.add_artifact("samples", path)  # the run's picture: the report shows kind "samples"


@hookimpl(tryfirst=True)
def genbench_run_finished(run: Run, session: RunSession) -> None:
    """Every stored loss against images seen, whether the run finished, diverged or was interrupted."""
    if run.status == "failed":
        return
    series = {name: [(images, v) for _, images, v in pts] for name, pts in session.history.items()}
    if not series:
        return
    from genbench.report.images import save_loss_curve

    path = save_loss_curve(series, session.run_dir / "losses.png", f"{run.model} on {run.dataset} ({run.id})")
    session.add_artifact("loss_curve", path)


def title(run: Run) -> str:
    """The sample grid's caption: what, on what, which run, at which budget."""
    text = f"{run.family}/{run.model} on {run.dataset} - run {run.id}"
    text += f" - budget {run.budget} ({run.budget_images:,} images)"
    return text + (" - smoke: a plumbing check" if run.budget == "smoke" else "")
