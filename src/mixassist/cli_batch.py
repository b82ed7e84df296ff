"""The ``batch`` command: many songs mixed on a local process pool or a Ray cluster
(:mod:`mixassist.batch`), and the ``--workers``/``--ray`` options ``eval`` and ``data synth``
share with it. Registered on the app by :mod:`mixassist.cli`; it parses, calls
:mod:`mixassist.batch` and prints."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

# Light modules only (no numpy or torch in this process until a song runs in it).
from mixassist.batch import BatchOptions, is_complete, read_songs, run_batch
from mixassist.delivery import DELIVERY_TARGETS, delivery_target
from mixassist.executors import make_executor
from mixassist.outputs import check_output_format
from mixassist.terminal import out, song_progress

__all__ = ["register", "WorkersOption", "RayOption", "MEMORY_PER_WORKER_GB"]

#: What one worker may need for a long song (``benchmarks/memory.py``: 1.0-1.4 GB for 8 stems x
#: 10 minutes, with spooling): the default worker count never exceeds available memory / this.
MEMORY_PER_WORKER_GB = 1.5

WorkersOption = Annotated[
    int | None,
    typer.Option(
        "--workers",
        min=1,
        help="Local worker processes, one compute thread each (default: one per core, as memory allows; "
        "1: in this process).",
        show_default=False,
    ),
]
RayOption = Annotated[
    str | None,
    typer.Option(
        "--ray",
        help="Run on Ray: 'auto' (the cluster this machine is in, else a local one) or the head's HOST:PORT "
        "(needs pip install mixassist[cluster]).",
        show_default=False,
    ),
]


def batch_command(
    source: Annotated[
        Path,
        typer.Argument(
            help="A folder of song folders (stems, optional reference.* and words.txt) or a CSV/JSON manifest.",
            show_default=False,
        ),
    ],
    out_dir: Annotated[
        Path,
        typer.Option(
            "--output", "-o", help="Folder for one folder per song and summary.csv/.json.", show_default=False
        ),
    ],
    method: Annotated[
        str | None,
        typer.Option("--method", help="As `mix --method` (default: auto with a reference or words, else rules)."),
    ] = None,
    workers: WorkersOption = None,
    ray: RayOption = None,
    resume: Annotated[bool, typer.Option("--resume", help="Keep the songs an earlier run finished.")] = False,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Mix finished songs again.")] = False,
    target: Annotated[
        str | None,
        typer.Option("--target", help=f"Delivery preset for every song ({'|'.join(DELIVERY_TARGETS)})."),
    ] = None,
    loudness: Annotated[
        float | None, typer.Option("--loudness", help="Integrated loudness, LUFS.", show_default=False)
    ] = None,
    true_peak: Annotated[float, typer.Option("--true-peak", help="True-peak ceiling, dBTP.")] = -1.0,
    bit_depth: Annotated[int, typer.Option("--bit-depth", help="16, 24 or 32.")] = 24,
    lock: Annotated[
        list[str] | None, typer.Option("--lock", help="A lock for every song (as `mix --lock`). Repeatable.")
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the style solver.")] = 0,
) -> None:
    """Mix every song of SOURCE into OUTPUT/<song>/ (each complete or absent), with a summary."""
    check_output_format(out_dir / "mix.wav", bit_depth)
    if target is not None:
        delivery_target(target)
    if resume and overwrite:
        raise typer.BadParameter("--resume keeps finished songs and --overwrite mixes them again: choose one")
    songs = read_songs(source)
    # in BatchOptions' order: out, method, loudness, true peak, target, bit depth, locks, seed, overwrite
    options = BatchOptions(
        str(out_dir), method, loudness, true_peak, target, bit_depth, tuple(lock or ()), seed, overwrite
    )
    executor = make_executor(workers, ray, memory_per_worker_gb=MEMORY_PER_WORKER_GB)
    kept = sum(1 for s in songs if resume and is_complete(out_dir / s.name))
    with song_progress("batch", len(songs), already=kept) as done:
        rows = run_batch(songs, options, executor, resume=resume, on_done=lambda o: done(o.key, o.ok))
    counts = {s: sum(1 for r in rows if r["status"] == s) for s in ("done", "kept", "failed")}
    out.print(
        f"batch: {counts['done']} mixed, {counts['kept']} kept, {counts['failed']} failed "
        f"({executor.workers} worker{'s' if executor.workers != 1 else ''})"
    )
    for row in rows:
        if row["status"] == "failed":
            out.print(f"failed: {row['song']}: {row['error']}", markup=False, highlight=False)
    out.print(f"wrote {out_dir / 'summary.csv'}")
    if counts["failed"]:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add ``batch`` to ``app``."""
    app.command("batch")(batch_command)
