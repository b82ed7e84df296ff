"""What the command-line interfaces share: rich's terminals on stdout and stderr, and the
transient progress bar of a job that reports ``progress(done, total)``."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from rich.console import Console as Terminal
from rich.progress import BarColumn, Progress, ProgressColumn, TextColumn, TimeRemainingColumn

__all__ = ["out", "err", "bar", "with_bar"]

T = TypeVar("T")

out = Terminal(soft_wrap=True)  # results, on stdout (rich's terminal, not the mixing console); paths never wrap
err = Terminal(stderr=True)  # progress, log and errors, on stderr


def bar(label: TextColumn, clock: ProgressColumn) -> Progress:
    """A transient progress bar on stderr: ``label``, the bar, the percentage done and ``clock``."""
    # Off where stderr is no terminal: a transient bar there leaves a blank line (before errors too).
    return Progress(
        label,
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        clock,
        console=err,
        transient=True,
        disable=not err.is_terminal,
    )


def with_bar(label: str, job: Callable[[Callable[[int, int], None]], T]) -> T:
    """``job(progress)`` under a transient bar labelled ``label`` with the time remaining;
    ``progress(done, total)`` moves the bar."""
    with bar(TextColumn(label), TimeRemainingColumn()) as shown:
        task = shown.add_task(label, total=1.0)
        return job(lambda done, total: shown.update(task, completed=done / max(total, 1)))
