"""How the CLI shows things: the consoles, tables that fit the terminal, training and evaluation progress."""

from __future__ import annotations

import time
from collections.abc import Collection
from typing import TYPE_CHECKING

from rich.console import Console

from genbench import columns

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

console = Console()
err_console = Console(stderr=True)

PLAIN_EVERY_S = 30.0  # seconds between progress lines when stderr is not a terminal (logs, CI)


def _duration(seconds: float) -> str:
    seconds = max(0, int(seconds))
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 60}m{seconds % 60:02d}s"


class PlainReporter:
    """Training progress as a plain line every PLAIN_EVERY_S seconds: what a log file or CI shows."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.total = 0
        self.last_line = 0.0
        self.t0 = 0.0
        self.done0 = 0
        self.line = ""

    def start(self, total_images: int, done_images: int) -> None:
        self.total, self.done0 = total_images, done_images
        self.t0 = self.last_line = time.monotonic()
        err_console.print(f"{self.label}: training for {total_images:,} images", highlight=False, soft_wrap=True)

    def update(self, images_seen: int, losses: dict[str, float], images_per_s: float) -> None:
        stats = " ".join(f"{k}={v:.4g}" for k, v in losses.items())
        eta = (self.total - images_seen) / images_per_s if images_per_s > 0 else 0.0
        self.line = (
            f"{self.label}: {images_seen:,}/{self.total:,} images ({100 * images_seen / max(self.total, 1):.0f}%) "
            f"{stats} {images_per_s:,.0f} img/s, {_duration(eta)} left"
        )
        if time.monotonic() - self.last_line >= PLAIN_EVERY_S:
            self.last_line = time.monotonic()
            err_console.print(self.line, highlight=False, soft_wrap=True)
            self.line = ""

    def stop(self) -> None:
        if self.line:
            err_console.print(self.line, highlight=False, soft_wrap=True)
        took = _duration(time.monotonic() - self.t0)
        err_console.print(f"{self.label}: training stopped after {took}", highlight=False)


def reporter(label: str) -> RichReporter | PlainReporter:
    """Training progress for ``label``: a bar on a terminal, plain lines in a log."""
    return RichReporter(label) if err_console.is_terminal else PlainReporter(label)


class EvalProgress:
    """Evaluation's progress(task, done, total): a bar per task on a terminal, else occasional lines."""

    def __init__(self) -> None:
        self.plain = not err_console.is_terminal
        self.progress: Progress | None = None
        self.tasks: dict[str, TaskID] = {}
        self.started: dict[str, float] = {}
        self.last_line: dict[str, float] = {}

    def __call__(self, task: str, done: int, total: int) -> None:
        now = time.monotonic()
        first = task not in self.started
        if first:
            self.started[task] = now
            self.last_line[task] = now
        if self.plain:
            self._line(task, done, total, now, first)
            return
        if self.progress is None:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )  # fmt: skip

            self.progress = Progress(
                TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                TimeRemainingColumn(), console=err_console,
            )  # fmt: skip
            self.progress.start()
        if first:
            self.tasks[task] = self.progress.add_task(task, total=total)
        self.progress.update(self.tasks[task], completed=done, total=total)

    def _line(self, task: str, done: int, total: int, now: float, first: bool) -> None:
        elapsed = now - self.started[task]
        if task.startswith("metric "):  # a whole metric: say when it starts and how long it took
            said = "started" if done < total else f"done in {elapsed:.1f} s"
            err_console.print(f"{task}: {said}", highlight=False, soft_wrap=True)
            return
        if first and done < total:  # said when it starts, with its size: a step may take minutes
            err_console.print(f"{task}: 0/{total:,} started", highlight=False, soft_wrap=True)
            return
        if done >= total or (not first and now - self.last_line[task] >= PLAIN_EVERY_S):
            self.last_line[task] = now
            rate = done / elapsed if elapsed > 0 else 0.0
            left = f", {_duration((total - done) / rate)} left" if 0 < done < total and rate > 0 else ""
            err_console.print(
                f"{task}: {done:,}/{total:,} ({rate:,.0f}/s{left})" if done < total
                else f"{task}: {total:,} done in {elapsed:.1f} s",
                highlight=False, soft_wrap=True,
            )  # fmt: skip

    def close(self) -> None:
        if self.progress is not None:
            self.progress.stop()
            self.progress = None


class RichReporter:
    """Progress bar with loss, images/s and ETA."""

    def __init__(self, label: str) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        self.progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("images"),
            TextColumn("{task.fields[stats]}"),
            TimeRemainingColumn(),
            console=err_console,
            transient=False,
        )
        self.label = label
        self.task: TaskID | None = None

    def start(self, total_images: int, done_images: int) -> None:
        self.progress.start()
        self.task = self.progress.add_task(self.label, total=total_images, completed=done_images, stats="")

    def update(self, images_seen: int, losses: dict[str, float], images_per_s: float) -> None:
        stats = " ".join(f"{k}={v:.4g}" for k, v in losses.items()) + f" {images_per_s:,.0f} img/s"
        if self.task is not None:  # started
            self.progress.update(self.task, completed=images_seen, stats=stats)

    def stop(self) -> None:
        self.progress.stop()


def print_columns(
    headers: list[str],
    cells: list[list[str]],
    importance: list[str],
    right: Collection[str] = (),
    wrap: Collection[str] = (),
    fold: Collection[str] = (),
) -> None:
    """A listing on the CLI's console that fits the terminal and never cuts a name
    (:func:`genbench.columns.print_columns`)."""
    columns.print_columns(console, headers, cells, importance, right=right, wrap=wrap, fold=fold)
