"""The training corpus: synthesised songs, their cached track statistics, and rendered references.

Three resumable stages, each writing one file per item under the run's work folder (written
atomically: a killed run leaves whole files or none, and a re-run skips what exists):

1. ``songs_dir``: songs synthesised by :func:`mixassist.data.synth.synthesize_dataset`.
2. ``songs/NAME.npz``: per track the controller's window statistics, the role the mixer would
   infer (the model's input), the true role, loudness and peak (for the targets).
3. ``references/ref_NNNN.npz``: a song mixed in a drawn style by our console (the same priors
   and loudness delivery as the evaluation's references), summarised as the controller sees it.

Targets are not stored: for reference *r* and any other song *A*, the true settings are
:func:`mixassist.data.priors.prior_params` of *r*'s style on *A* — cheap from the cached levels.
"""

from __future__ import annotations

import io
import json
import logging
import multiprocessing
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mixassist.audio.multitrack import Multitrack
from mixassist.console.console import Console
from mixassist.data.priors import draw_prior, prior_params, role_map, track_levels
from mixassist.data.references import alignment_truth, hit_loudness, load_song
from mixassist.errors import InvalidParameterError
from mixassist.fileio import write_bytes_atomic
from mixassist.measure import integrated_loudness
from mixassist.mixers.roles import infer_role
from mixassist.neural.features import WindowStats, approx_loudness, summary_vector, track_vector, window_stats

__all__ = ["SongEntry", "ReferenceEntry", "training_songs", "cache_songs", "render_references", "load_corpus"]

log = logging.getLogger(__name__)
Progress = Callable[[str, int, int], None]


@dataclass
class SongEntry:
    """One cached song."""

    name: str
    names: list[str]
    stats: list[WindowStats]
    vectors: np.ndarray  # (tracks, TRACK_DIM) controller inputs
    roles: dict[str, str]  # true roles (targets)
    levels: dict[str, tuple[float | None, float, int]]  # exact loudness, peak dB, channels
    approx_lufs: np.ndarray  # (tracks,) loudness as the controller measures it (nan: silent)
    fixed: dict[str, dict[str, float]]  # multi-mic alignment settings


@dataclass
class ReferenceEntry:
    """One rendered reference."""

    index: int
    song: str
    summary: np.ndarray  # (SUMMARY_DIM,)
    loudness_lufs: float
    draw: dict[str, Any]
    seed: int


def training_songs(songs_dir: Path, exclude_soundfonts: Sequence[str], exclude_kinds: Sequence[str]) -> list[str]:
    """Names of the dataset's songs that training may read (excluded soundfonts and kinds left out)."""
    index = json.loads((songs_dir / "dataset.json").read_text())
    keep = []
    for name in index["songs"]:
        meta = json.loads((songs_dir / name / "song.json").read_text())
        if meta.get("soundfont") in exclude_soundfonts or meta.get("kind") in exclude_kinds:
            continue
        keep.append(name)
    if len(keep) < 3:
        raise InvalidParameterError(f"{songs_dir}: only {len(keep)} songs left after the exclusions; need ≥ 3")
    return keep


def _save_npz(path: Path, **arrays: Any) -> None:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    write_bytes_atomic(path, buffer.getvalue())


def _cache_song(songs_dir: str, name: str, out: str) -> str:

    stems, meta = load_song(Path(songs_dir) / name)
    sr = stems.sample_rate
    stats = [window_stats(t.audio, sr) for t in stems]
    inferred = [infer_role(t.name, t.audio, sr).role for t in stems]
    vectors = np.stack([track_vector(s, r) for s, r in zip(stats, inferred)])
    approx = np.array([np.nan if (v := approx_loudness(s)) is None else v for s in stats])
    info = {
        "names": stems.names,
        "roles": role_map(meta["stems"]),
        "levels": track_levels(stems),
        "fixed": alignment_truth(meta),
        "inferred": inferred,
    }
    _save_npz(
        Path(out),
        mid=np.stack([s.mid for s in stats]),
        side=np.stack([s.side for s in stats]),
        k_power=np.stack([s.k_power for s in stats]),
        peak=np.array([s.peak for s in stats]),
        stereo=np.array([s.stereo for s in stats]),
        vectors=vectors,
        approx_lufs=approx,
        info=np.array(json.dumps(info)),
    )
    return name


def _render_reference(songs_dir: str, song: str, index: int, seed: int, seconds: float, out: str) -> int:

    stems, meta = load_song(Path(songs_dir) / song)
    length = int(seconds * stems.sample_rate)
    if stems.num_samples > length:  # a random excerpt: references are shorter or longer than the songs they steer
        start = int(np.random.default_rng([seed, 5]).integers(stems.num_samples - length))
        stems = Multitrack.from_arrays({t.name: t.audio[:, start : start + length] for t in stems}, stems.sample_rate)
    draw = draw_prior(None, seed)
    params = prior_params(draw, stems, role_map(meta["stems"]), seed=seed + 1, fixed=alignment_truth(meta))
    params, mix = hit_loudness(Console(stems.sample_rate), stems, params, draw.loudness_lufs)
    lufs = integrated_loudness(mix, stems.sample_rate)
    summary = summary_vector(window_stats(mix, stems.sample_rate))
    _save_npz(
        Path(out),
        summary=summary,
        loudness=np.array(np.nan if lufs is None else lufs),
        info=np.array(json.dumps({"song": song, "draw": draw.to_dict(), "seed": seed, "index": index})),
    )
    return index


def _run_pool(
    jobs: list[tuple[Callable[..., Any], tuple]], workers: int, label: str, progress: Progress | None
) -> None:
    report = progress or (lambda stage, done, total: None)
    total = len(jobs)
    report(label, 0, total)
    if not jobs:
        return
    if workers <= 1:
        for i, (fn, args) in enumerate(jobs):
            fn(*args)
            report(label, i + 1, total)
        return
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = [pool.submit(fn, *args) for fn, args in jobs]
        for i, future in enumerate(as_completed(futures)):
            future.result()
            report(label, i + 1, total)


def cache_songs(
    songs_dir: Path, names: Sequence[str], work: Path, *, workers: int, progress: Progress | None = None
) -> None:
    """Stage 2 (resumable)."""
    folder = work / "songs"
    folder.mkdir(parents=True, exist_ok=True)
    jobs = [
        (_cache_song, (str(songs_dir), n, str(folder / f"{n}.npz")))
        for n in names
        if not (folder / f"{n}.npz").exists()
    ]
    _run_pool(jobs, workers, "caching song statistics", progress)


def reference_plan(names: Sequence[str], count: int, seed: int) -> list[tuple[int, str, int]]:
    """``[(index, song, style seed)]``: reference *i* mixes song ``names[i % len]`` (shuffled per
    round) in the style drawn from its seed; deterministic from ``seed``."""
    plan = []
    rng = np.random.default_rng([seed, 17])
    order: list[int] = []
    for i in range(count):
        if not order:
            order = list(rng.permutation(len(names)))
        song = names[order.pop()]
        style_seed = int(np.random.SeedSequence([seed, i, 23]).generate_state(1)[0])
        plan.append((i, song, style_seed))
    return plan


def render_references(
    songs_dir: Path,
    plan: Sequence[tuple[int, str, int]],
    work: Path,
    *,
    seconds: float,
    workers: int,
    progress: Progress | None = None,
) -> None:
    """Stage 3 (resumable): each reference is a ``seconds``-long excerpt of its song."""
    folder = work / "references"
    folder.mkdir(parents=True, exist_ok=True)
    jobs = [
        (_render_reference, (str(songs_dir), song, i, s, seconds, str(folder / f"ref_{i:05d}.npz")))
        for i, song, s in plan
        if not (folder / f"ref_{i:05d}.npz").exists()
    ]
    _run_pool(jobs, workers, "rendering references", progress)


def _load_song(path: Path) -> SongEntry:
    with np.load(path) as z:
        info = json.loads(str(z["info"]))
        stats = [
            WindowStats(z["mid"][i], z["side"][i], z["k_power"][i], float(z["peak"][i]), bool(z["stereo"][i]))
            for i in range(len(info["names"]))
        ]
        levels = {k: (v[0], float(v[1]), int(v[2])) for k, v in info["levels"].items()}
        return SongEntry(
            path.stem,
            info["names"],
            stats,
            z["vectors"].astype(np.float32),
            info["roles"],
            levels,
            z["approx_lufs"].astype(np.float64),
            {k: dict(v) for k, v in info["fixed"].items()},
        )


def _load_reference(path: Path) -> ReferenceEntry:
    with np.load(path) as z:
        info = json.loads(str(z["info"]))
        return ReferenceEntry(
            int(info["index"]),
            info["song"],
            z["summary"].astype(np.float32),
            float(z["loudness"]),
            info["draw"],
            int(info["seed"]),
        )


def load_corpus(
    work: Path, names: Sequence[str], plan: Sequence[tuple[int, str, int]]
) -> tuple[dict[str, SongEntry], list[ReferenceEntry]]:
    """The cached songs and references of a run (all stages must be complete)."""
    songs = {n: _load_song(work / "songs" / f"{n}.npz") for n in names}
    refs = [_load_reference(work / "references" / f"ref_{i:05d}.npz") for i, _, _ in plan]
    return songs, refs
