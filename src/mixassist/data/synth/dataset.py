"""Many songs in parallel, resumable: ``song_000 ... song_{N-1}`` plus ``dataset.json``."""

from __future__ import annotations

import json
import logging
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np

from mixassist.data.synth.render import Renderer
from mixassist.data.synth.song import (
    SONG_VERSION,
    SongSpec,
    synthesize_song,
)
from mixassist.errors import InvalidParameterError, OutputError
from mixassist.executors import Executor, InProcess, LocalPool, Outcome, Task, raise_first_error
from mixassist.fileio import write_json_atomic

__all__ = ["DATASET_VERSION", "song_seed", "song_names", "is_complete", "synthesize_dataset"]

log = logging.getLogger(__name__)

DATASET_VERSION = 1


def song_seed(seed: int, index: int) -> int:
    """The seed of song ``index`` of a dataset seeded with ``seed`` (independent of workers).

    >>> song_seed(0, 0) == song_seed(0, 0) != song_seed(0, 1)
    True
    """
    return int(np.random.SeedSequence([int(seed), int(index)]).generate_state(1, np.uint32)[0])


def song_names(songs: int) -> list[str]:
    """``song_000``, ``song_001``, ... (wider numbers beyond 1000 songs)."""
    width = max(3, len(str(max(0, songs - 1))))
    return [f"song_{i:0{width}d}" for i in range(songs)]


def is_complete(folder: Path, *, name: str, seed: int, seconds: float, sample_rate: int) -> bool:
    """True when ``folder`` holds a finished song with exactly these settings.

    Raises
    ------
    OutputError
        The folder holds a finished song made with *other* settings (another dataset seed,
        length or sample rate): refusing to mix two datasets in one folder.
    """
    try:
        meta = json.loads((folder / "song.json").read_text())
    except (OSError, ValueError):
        return False
    if not isinstance(meta, dict) or meta.get("version") != SONG_VERSION or meta.get("name") != name:
        return False
    made = (meta.get("seed"), meta.get("seconds"), meta.get("sample_rate"))
    if made != (seed, float(seconds), sample_rate):
        raise OutputError(
            f"holds a song made with seed={made[0]}, seconds={made[1]}, sample_rate={made[2]}, not "
            f"seed={seed}, seconds={float(seconds)}, sample_rate={sample_rate}; use another output folder",
            folder,
        )
    stems = meta.get("stems")
    if not isinstance(stems, list) or not stems:
        return False
    return all(isinstance(s, dict) and (folder / str(s.get("file", ""))).is_file() for s in stems)


def _make_song(folder: str, seed: int, seconds: float, sample_rate: int, renderer: Renderer | None) -> str:
    synthesize_song(
        Path(folder), seed=seed, seconds=seconds, sample_rate=sample_rate, renderer=renderer, overwrite=True
    )
    return folder


def synthesize_dataset(
    out: str | os.PathLike[str],
    *,
    songs: int,
    seconds: float,
    seed: int,
    sample_rate: int = 44100,
    workers: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    renderer: Renderer | None = None,
    executor: Executor | None = None,
) -> list[Path]:
    """Synthesise ``songs`` songs into ``out`` in parallel; re-running resumes.

    Song ``i`` is written to ``out/song_{i:03d}`` with the seed :func:`song_seed(seed, i)
    <song_seed>`, so a song is the same whatever the worker count.  Each song folder appears
    only when complete (written under a temporary name, then renamed); complete songs are
    skipped on a re-run and leftovers of a killed run are removed.  ``out/dataset.json`` is
    written last.

    Workers are started with the ``spawn`` method (clean processes: results never depend on
    what the caller imported or which threads it runs), so, as with any multiprocessing code,
    a script calling this with ``workers > 1`` needs an ``if __name__ == "__main__":`` guard.

    Parameters
    ----------
    out : path
        Output folder (created).
    songs : int
        Number of songs, >= 1.
    seconds : float
        Length of every song.
    seed : int
        Dataset seed, >= 0.
    sample_rate : int
        Hz.
    workers : int, optional
        Parallel processes (default: the number of CPU cores); 1 runs in this process.
    progress : callable, optional
        Called as ``progress(done, total)`` after the resume check and after every song.
    renderer : Renderer, optional
        Passed to :func:`synthesize_song` (must be picklable when ``workers > 1``).
    executor : Executor, optional
        Runs the songs (:mod:`mixassist.executors`: a local pool, Ray); overrides ``workers``.
        A failed song is raised once the others are done.

    Returns
    -------
    list of pathlib.Path
        The song folders, in order.

    Raises
    ------
    OutputError
        ``out`` holds a dataset (or songs) made with another seed, length or sample rate.
    MissingDependencyError, InvalidParameterError
        As :func:`synthesize_song`.
    """
    if isinstance(songs, bool) or not isinstance(songs, (int, np.integer)) or songs < 1:
        raise InvalidParameterError(f"songs={songs!r} must be a positive integer")
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, (int, np.integer)) or workers < 1):
        raise InvalidParameterError(f"workers={workers!r} must be a positive integer or None")
    SongSpec(seed=seed, seconds=seconds, sample_rate=sample_rate)  # validate early
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise OutputError("is not a folder", out)
    out.mkdir(parents=True, exist_ok=True)
    index_file = out / "dataset.json"
    settings = {"seed": int(seed), "seconds": float(seconds), "sample_rate": int(sample_rate)}
    if index_file.exists():
        try:
            old = json.loads(index_file.read_text())
        except (OSError, ValueError) as err:
            raise OutputError(f"unreadable dataset.json ({err}); use another output folder", out) from err
        if not isinstance(old, dict) or any(old.get(k) != v for k, v in settings.items()):
            raise OutputError(
                f"holds a dataset made with { ({k: old.get(k) for k in settings} if isinstance(old, dict) else old) }, "
                f"not {settings}; use another output folder",
                out,
            )
    for stale in out.glob(".song_*.partial-*"):
        log.info("removing the leftover of an interrupted song: %s", stale)
        shutil.rmtree(stale, ignore_errors=True)

    names = song_names(int(songs))
    folders = [out / name for name in names]
    seeds = [song_seed(seed, i) for i in range(len(names))]
    pending = [
        i
        for i, (folder, name) in enumerate(zip(folders, names))
        if not is_complete(folder, name=name, seed=seeds[i], seconds=seconds, sample_rate=int(sample_rate))
    ]
    total = len(names)
    done = total - len(pending)
    if pending:
        log.info("%d of %d songs to synthesise in %s", len(pending), total, out)
    if progress is not None:
        progress(done, total)
    tasks = [
        Task(names[i], _make_song, (str(folders[i].resolve()), seeds[i], float(seconds), int(sample_rate), renderer))
        for i in pending
    ]
    if executor is None:
        # spawn workers (LocalPool) start clean (no inherited threads or state), so results
        # never depend on what the caller had imported
        n_workers = min(workers or os.cpu_count() or 1, max(1, len(tasks)))
        executor = InProcess() if n_workers <= 1 else LocalPool(n_workers)
    counter = [done]

    def finished(outcome: Outcome) -> None:
        counter[0] += 1
        if progress is not None:
            progress(counter[0], total)

    if tasks:
        raise_first_error(executor.run(tasks, finished))
    write_json_atomic(index_file, {"version": DATASET_VERSION, **settings, "songs": names})
    return folders
