"""``mixassist batch``: many songs, each mixed by the one per-song path (:func:`mixassist.api.mix`
and :meth:`~mixassist.api.MixResult.save`, as ``mixassist mix`` does), on an executor
(:mod:`mixassist.executors`: this process, a local pool, or Ray).

The input is a folder of song folders or a CSV/JSON manifest (:func:`read_songs`). Each song is
written into a staging folder inside ``OUT`` (named after the worker's process id, so a killed
worker's leftover is recognised and removed by the next run) and renamed to ``OUT/<song>`` when
whole: a song folder is complete or absent. ``OUT/summary.csv`` and ``OUT/summary.json`` list
every song: its status, measures, method, seconds, the worker's peak memory and the one-line
error of a failure. ``resume`` keeps the songs already complete.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from mixassist.delivery import delivery_target
from mixassist.errors import InvalidParameterError, OutputError, RecipeError
from mixassist.executors import Executor, Outcome, Task
from mixassist.fileio import TEMP_TAG, check_output_folder, clean_stale_temporaries, write_text_atomic, writing
from mixassist.outputs import SESSION_FILES

__all__ = [
    "SongJob",
    "BatchOptions",
    "read_songs",
    "mix_song",
    "run_batch",
    "is_complete",
    "SUMMARY_FIELDS",
    "REFERENCE_STEM",
    "WORDS_FILE",
]

#: A song folder's reference files are ``reference.*`` (several: ``reference*.wav``); its words ``words.txt``.
REFERENCE_STEM = "reference"
WORDS_FILE = "words.txt"
#: Columns of ``summary.csv`` (``summary.json`` has the same keys per song).
SUMMARY_FIELDS = (
    "song",
    "status",
    "method",
    "integrated_lufs",
    "true_peak_dbtp",
    "loudness_range_lu",
    "plr_db",
    "seconds",
    "cpu_s",
    "peak_rss_mb",
    "attempts",
    "error",
)
_AUDIO = (".wav", ".flac", ".aif", ".aiff", ".ogg", ".mp3", ".m4a", ".mp4")
_MANIFEST_KEYS = {"song", "stems", "reference", "words", "lock", "target", "loudness_lufs", "true_peak_dbtp"}


@dataclass(frozen=True)
class SongJob:
    """One song of a batch: absolute paths, so any worker (any working folder) reads the same.

    ``stems``: a folder or files; ``references``: ``PATH`` or ``PATH:WEIGHT``; ``words``: the
    ``--describe`` text; ``lock``: lock strings; ``target``: a delivery preset name;
    ``loudness_lufs``/``true_peak_dbtp``: override the batch's."""

    name: str
    stems: tuple[str, ...]
    references: tuple[str, ...] = ()
    words: str | None = None
    lock: tuple[str, ...] = ()
    target: str | None = None
    loudness_lufs: float | None = None
    true_peak_dbtp: float | None = None


@dataclass(frozen=True)
class BatchOptions:
    """What every song of a batch shares (the ``mix`` command's options)."""

    out: str
    method: str | None = None
    loudness_lufs: float | None = None
    true_peak_dbtp: float = -1.0
    target: str | None = None
    bit_depth: int = 24
    lock: tuple[str, ...] = ()
    seed: int = 0
    overwrite: bool = False


# ---------------------------------------------------------------------- reading the input


def read_songs(source: str | os.PathLike[str]) -> list[SongJob]:
    """The songs of ``source``: a folder of song folders, or a ``.csv``/``.json`` manifest.

    A song folder holds its stems (or a ``stems/`` folder of them), optionally ``reference.*``
    (any audio file named so; ``reference-2.wav`` etc. for several) and ``words.txt``. A
    manifest has one row (CSV) or object (JSON list) per song with ``stems`` (a folder, or
    files separated by ``;``) and optionally ``song`` (the output name; default the stems'
    folder name), ``reference`` (``;``-separated, ``PATH:WEIGHT`` allowed), ``words``,
    ``lock`` (``;``-separated), ``target`` (a delivery preset), ``loudness_lufs`` and
    ``true_peak_dbtp``. Relative paths are relative to the manifest's folder.
    """
    source = Path(source)
    if source.is_dir():
        songs = [_folder_song(p) for p in sorted(source.iterdir()) if p.is_dir() and not p.name.startswith(".")]
        if not songs:
            raise InvalidParameterError(f"{source}: no song folders in it (one folder of stems per song)")
    elif source.is_file() and source.suffix.lower() in (".csv", ".json"):
        songs = _manifest_songs(source)
    elif source.exists():
        raise InvalidParameterError(f"{source}: give a folder of song folders or a .csv/.json manifest")
    else:
        raise InvalidParameterError(f"{source}: no such folder or manifest")
    seen: set[str] = set()
    for song in songs:
        if song.name in seen:
            raise InvalidParameterError(f"{source}: two songs are named {song.name!r}; give each a unique 'song'")
        seen.add(song.name)
    return songs


def _folder_song(folder: Path) -> SongJob:
    folder = folder.resolve()
    stems_dir = folder / "stems"
    audio = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in _AUDIO)
    references = tuple(str(p) for p in audio if p.name.lower().startswith(REFERENCE_STEM))
    if stems_dir.is_dir():
        stems: tuple[str, ...] = (str(stems_dir),)
    else:
        stems = tuple(str(p) for p in audio if not p.name.lower().startswith(REFERENCE_STEM))
    words_file = folder / WORDS_FILE
    words = " ".join(words_file.read_text(encoding="utf-8").split()) if words_file.is_file() else None
    return SongJob(folder.name, stems or (str(folder),), references, words or None)


def _manifest_songs(path: Path) -> list[SongJob]:
    try:
        text = path.read_text(encoding="utf-8")
        rows: Any = json.loads(text) if path.suffix.lower() == ".json" else list(csv.DictReader(io.StringIO(text)))
    except (OSError, UnicodeDecodeError, ValueError, csv.Error) as exc:
        raise RecipeError(f"unreadable manifest ({' '.join(str(exc).split())})", path) from exc
    if isinstance(rows, dict) and isinstance(rows.get("songs"), list):
        rows = rows["songs"]
    if not isinstance(rows, list) or not rows or not all(isinstance(r, dict) for r in rows):
        raise RecipeError("a manifest is a list of songs (CSV rows or JSON objects) with at least 'stems'", path)
    base = path.resolve().parent
    return [_manifest_song(row, base, path, n) for n, row in enumerate(rows, 1)]


def _manifest_song(row: Mapping[str, Any], base: Path, path: Path, number: int) -> SongJob:
    where = f"song {number}"
    unknown = sorted(str(k) for k in row if k not in _MANIFEST_KEYS and k is not None)
    if unknown:
        raise RecipeError(
            f"{where}: unknown column(s) {', '.join(unknown)}; known: {', '.join(sorted(_MANIFEST_KEYS))}", path
        )

    def items(key: str) -> list[str]:
        value = row.get(key)
        if value is None or value == "":
            return []
        parts = value if isinstance(value, list) else str(value).split(";")
        return [str(p).strip() for p in parts if str(p).strip()]

    def number_or_none(key: str) -> float | None:
        value = row.get(key)
        if value is None or value == "":
            return None
        try:
            return float(value)
        except (TypeError, ValueError):
            raise RecipeError(f"{where}: {key}={value!r} is not a number", path) from None

    stems = [str((base / p).resolve()) for p in items("stems")]
    if not stems:
        raise RecipeError(f"{where}: no 'stems' (a folder, or files separated by ';')", path)
    references = []
    for spec in items("reference"):
        file, colon, weight = spec.rpartition(":")
        if colon and file and not (base / spec).exists():
            references.append(f"{(base / file).resolve()}:{weight}")
        else:
            references.append(str((base / spec).resolve()))
    name = str(row.get("song") or "").strip()
    if not name and len(stems) == 1:
        name = Path(stems[0]).name if Path(stems[0]).is_dir() else Path(stems[0]).stem
    if not name or name.startswith(".") or "/" in name or "\\" in name:
        raise RecipeError(f"{where}: give it a 'song' name (a folder name, not a path)", path)
    target = str(row["target"]).strip() if row.get("target") else None
    if target is not None:
        delivery_target(target)  # an unknown preset is refused now
    words = " ".join(str(row.get("words") or "").split()) or None
    return SongJob(
        name,
        tuple(stems),
        tuple(references),
        words,
        tuple(items("lock")),
        target,
        number_or_none("loudness_lufs"),
        number_or_none("true_peak_dbtp"),
    )


# ---------------------------------------------------------------------- one song (in a worker)


def is_complete(folder: Path) -> bool:
    """A song folder a batch finished (it appears only whole, by one rename)."""
    return folder.is_dir() and all((folder / name).is_file() for name in SESSION_FILES.values())


def mix_song(job: SongJob, options: BatchOptions) -> dict[str, Any]:
    """Mix one song into ``OUT/<song>`` (staged, then renamed: complete or absent); its summary
    row without the timing (the executor measures that)."""
    from mixassist.api import mix, mix_request  # lazy: a worker's heavy imports, not the CLI's start-up
    from mixassist.audio.multitrack import load_multitrack  # lazy: numpy and scipy
    from mixassist.style.target import parse_reference_spec  # lazy: torch

    out = Path(options.out)
    preset_name = job.target or options.target
    preset = delivery_target(preset_name) if preset_name else None
    loudness = job.loudness_lufs if job.loudness_lufs is not None else options.loudness_lufs
    if loudness is None and preset is not None:
        loudness = preset.loudness_lufs
    true_peak = job.true_peak_dbtp if job.true_peak_dbtp is not None else options.true_peak_dbtp
    if preset is not None and job.true_peak_dbtp is None:
        true_peak = preset.ceiling_dbtp
    bit_depth = (preset.bit_depth if preset else None) or options.bit_depth
    request = mix_request(
        reference=[parse_reference_spec(spec) for spec in job.references],
        describe=job.words,
        method=options.method,
        loudness_lufs=loudness,
        true_peak_dbtp=true_peak,
        lock=[*options.lock, *job.lock],
        seed=options.seed,
        bit_depth=bit_depth,
    )
    # The song's staging folder exists while it is worked on; its name carries this process's
    # id, so what a killed worker leaves is removed by the batch (fileio.clean_stale_temporaries).
    staging = Path(tempfile.mkdtemp(prefix=f"{TEMP_TAG}{os.getpid()}-{job.name[:40]}-", suffix=".tmp", dir=out))
    try:
        multitrack = load_multitrack(list(job.stems), sample_rate=preset.sample_rate if preset else None)
        result = mix(multitrack, request)
        result.save(staging, overwrite=True, bit_depth=bit_depth)
        _put_in_place(staging, out / job.name, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return _measures_row({"result": result.measured, "context": result.recipe.extra.get("context")})


def _put_in_place(staging: Path, final: Path, out: Path) -> None:
    """Rename the staged song to ``final``; an earlier folder there goes aside first and is
    removed after (an interrupted swap leaves the song absent, never half-written)."""
    with writing(final):
        if final.exists():
            aside = Path(tempfile.mkdtemp(prefix=f"{TEMP_TAG}{os.getpid()}-old-", suffix=".tmp", dir=out))
            os.rename(final, aside / "song")
            os.rename(staging, final)
            shutil.rmtree(aside, ignore_errors=True)
        else:
            os.rename(staging, final)


def _measures_row(recipe: Mapping[str, Any]) -> dict[str, Any]:
    measured = recipe.get("result") or {}
    context = recipe.get("context") or {}
    return {
        "method": context.get("method"),
        **{key: measured.get(key) for key in ("integrated_lufs", "true_peak_dbtp", "loudness_range_lu", "plr_db")},
    }


# ---------------------------------------------------------------------- the batch


def run_batch(
    songs: Sequence[SongJob],
    options: BatchOptions,
    executor: Executor,
    *,
    resume: bool = False,
    on_done: Callable[[Outcome], None] | None = None,
) -> list[dict[str, Any]]:
    """Mix ``songs`` into ``options.out`` on ``executor``; write and return the summary rows.

    Existing complete songs are kept with ``resume``, replaced with ``options.overwrite``, and
    refused otherwise (before any work). A failing song never stops the batch: its row says
    ``failed`` and why, and its folder is absent."""
    out = Path(options.out).resolve()
    options = replace(options, out=str(out))
    complete = {s.name for s in songs if is_complete(out / s.name)}
    if complete and not (resume or options.overwrite):
        first = sorted(complete)[0]
        raise OutputError(
            f"already holds {len(complete)} finished song(s) ({first}, …); pass --resume to keep them "
            "or --overwrite to mix them again",
            out,
        )
    check_output_folder(out, ["summary.csv", "summary.json"])
    with writing(out):
        out.mkdir(parents=True, exist_ok=True)
    clean_stale_temporaries(out)  # what killed workers left
    todo = [s for s in songs if not (resume and s.name in complete)]
    tasks = [Task(s.name, mix_song, (s, options)) for s in todo]
    outcomes = {o.key: o for o in executor.run(tasks, on_done)}
    rows = []
    for song in songs:
        outcome = outcomes.get(song.name)
        if outcome is None:  # kept from an earlier run
            rows.append(_row(song.name, "kept", _kept_measures(out / song.name)))
        elif outcome.ok:
            rows.append(_row(song.name, "done", outcome.value, outcome))
        else:
            rows.append(_row(song.name, "failed", {}, outcome))
    clean_stale_temporaries(out)  # the staging folders of workers killed in this run
    write_summary(out, rows, workers=executor.workers, executor=type(executor).__name__)
    return rows


def _kept_measures(folder: Path) -> dict[str, Any]:
    try:
        return _measures_row(json.loads((folder / SESSION_FILES["recipe"]).read_text(encoding="utf-8")))
    except (OSError, ValueError):
        return {}


def _row(name: str, status: str, measures: Mapping[str, Any] | None, outcome: Outcome | None = None) -> dict[str, Any]:
    row: dict[str, Any] = dict.fromkeys(SUMMARY_FIELDS)
    row.update({"song": name, "status": status, **(measures or {})})
    if outcome is not None:
        row.update(
            seconds=round(outcome.seconds, 3),
            cpu_s=round(outcome.cpu_s, 3),
            peak_rss_mb=None if outcome.peak_rss_mb is None else round(outcome.peak_rss_mb, 1),
            attempts=outcome.attempts,
            error=outcome.error,
        )
    return row


def write_summary(out: Path, rows: Sequence[Mapping[str, Any]], **about: Any) -> None:
    """``summary.csv`` (one row per song) and ``summary.json`` (the rows, counts and ``about``)."""
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=SUMMARY_FIELDS, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: "" if row.get(k) is None else row[k] for k in SUMMARY_FIELDS})
    write_text_atomic(out / "summary.csv", text.getvalue())
    counts = {status: sum(1 for r in rows if r["status"] == status) for status in ("done", "kept", "failed")}
    data = {"songs": list(rows), "counts": counts, **about}
    write_text_atomic(out / "summary.json", json.dumps(data, indent=2, allow_nan=False, default=_plain) + "\n")


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else str(value)  # numpy scalars
