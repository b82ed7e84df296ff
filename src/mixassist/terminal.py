"""What the command-line interfaces share: rich's terminals on stdout and stderr, and the
transient progress bar of a job that reports ``progress(done, total)``."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from rich.console import Console as Terminal
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

__all__ = ["out", "err", "bar", "with_bar", "song_progress"]

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


@contextmanager
def song_progress(label: str, total: int, *, already: int = 0) -> Iterator[Callable[[str, bool], None]]:
    """Progress of a many-song job (``batch``, ``eval``, ``data synth``): yields
    ``done(name, ok)``, called once per finished song. On a terminal a lasting bar shows the
    songs done of ``total``, the failures and the time remaining; elsewhere (a log, CI) one
    plain line per song: ``label: 3/10 songs, 1 failed, ETA 0:01:20 (song_c failed)``.
    ``already``: songs finished before this run (kept), counted as done, not in the ETA."""
    start, state = time.monotonic(), {"done": already, "failed": 0}
    if err.is_terminal:
        columns = (TextColumn(label), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[failed]}"))
        with Progress(*columns, TimeElapsedColumn(), TimeRemainingColumn(), console=err) as shown:
            task = shown.add_task(label, total=total, completed=already, failed="")

            def update(name: str, ok: bool) -> None:
                state["done"] += 1
                state["failed"] += not ok
                failed = f"[red]{state['failed']} failed[/red]" if state["failed"] else ""
                shown.update(task, completed=state["done"], failed=failed)

            yield update
        return

    def line(name: str, ok: bool) -> None:
        state["done"] += 1
        state["failed"] += not ok
        fresh = state["done"] - already
        left = total - state["done"]
        eta = (time.monotonic() - start) / fresh * left if fresh else 0.0
        clock = time.strftime("%H:%M:%S", time.gmtime(eta)) if eta < 86400 else f"{eta / 3600:.0f} h"
        err.print(
            f"{label}: {state['done']}/{total} songs, {state['failed']} failed, ETA {clock} "
            f"({name} {'done' if ok else 'failed'})",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )

    yield line
