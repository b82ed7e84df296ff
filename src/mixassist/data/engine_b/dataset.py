"""Engine B datasets: a split of songs, each with stems, a target mix, a reference and ``meta.json``.

Seeds: song ``i`` of split ``s`` (``val`` or ``test``) made with ``--seed K`` has the seed
``SeedSequence([K, SPLIT_IDS[s], i])``: the splits never share a seed, and score pieces are
divided between them (:func:`~mixassist.data.engine_b.music.score_pool`), so they never share
a song. Styles cycle through :data:`~mixassist.data.engine_b.styles.STYLES` from an offset drawn
from the split's seed, so eight songs cover all seven styles. A song's reference is another song
of the split mixed in the same style draw: the next one whose genre suits the style and differs
from the song's own, else the next that suits it, else the next of another genre.

The rule (docs/data.md): choices (tolerances, step counts, thresholds) are made on ``val``;
``test`` is only read by ``benchmarks/generalisation.py``.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from mixassist.data.engine_b.instruments import fluidsynth_available
from mixassist.data.engine_b.mixer import mix_stems
from mixassist.data.engine_b.music import SCORE_GENRES, arrange, score_pool
from mixassist.data.engine_b.song import render_stems
from mixassist.data.engine_b.styles import STYLE_GENRES, STYLES, draw_style
from mixassist.errors import InvalidParameterError, OutputError
from mixassist.fileio import write_json_atomic

__all__ = ["ENGINE_VERSION", "SPLIT_IDS", "generate_split", "plan_split", "song_seed"]

ENGINE_VERSION = 1
SPLIT_IDS = {"val": 1, "test": 2}
Progress = Callable[[int, int, str], None]


def song_seed(seed: int, split: str, index: int) -> int:
    """The seed of song ``index`` of ``split``."""
    if split not in SPLIT_IDS:
        raise InvalidParameterError(f"split {split!r} is not one of {sorted(SPLIT_IDS)}")
    return int(np.random.SeedSequence([seed, SPLIT_IDS[split], index]).generate_state(1)[0])


def _music21_available() -> bool:
    try:
        import music21  # noqa: F401  # lazy: only to know whether score genres can be drawn
    except ImportError:
        return False
    return True


def plan_split(split: str, songs: int, seed: int, *, scores: bool = True) -> list[dict[str, Any]]:
    """Name, seed, style draw, genre, piece and reference song of every song of the split (no audio)."""
    if songs < 2:
        raise InvalidParameterError(
            f"--songs {songs}: a split needs at least 2 songs (references come from other songs)"
        )
    order = sorted(STYLES)
    offset = int(np.random.default_rng([seed, SPLIT_IDS[split] if split in SPLIT_IDS else 0]).integers(0, len(order)))
    plans = []
    for i in range(songs):
        s = song_seed(seed, split, i)
        rng = np.random.default_rng([s, 0])
        style = order[(i + offset) % len(order)]
        genres = [g for g in STYLE_GENRES[style] if scores or g not in SCORE_GENRES]
        genre = str(rng.choice(genres))
        piece = str(rng.choice(score_pool(genre, split))) if genre in SCORE_GENRES else None
        plans.append({"name": f"{split}_{i:03d}", "seed": s, "style_name": style, "genre": genre, "piece": piece,
                      "style": draw_style(style, np.random.default_rng([s, 1]))})  # fmt: skip
    for i, plan in enumerate(plans):
        # the next song whose genre differs and suits the style, else one that suits it, else any other genre
        suits = STYLE_GENRES[str(plan["style_name"])]
        others = [plans[(i + k) % songs] for k in range(1, songs)]
        ranked = sorted(others, key=lambda p: (p["genre"] not in suits, p["genre"] == plan["genre"]))
        plan["reference_song"] = ranked[0]["name"]
    return plans


def _write(path: Path, audio: np.ndarray, sr: int, subtype: str) -> None:
    """24-bit PCM (float WAV files get a PEAK chunk with a time stamp: not byte-reproducible), atomic."""
    tmp = path.with_name(path.name + ".partial")
    sf.write(tmp, np.asarray(audio, dtype=np.float32).T, sr, subtype=subtype, format="WAV")
    os.replace(tmp, path)


def _load_stems(folder: Path, info: list[dict[str, Any]]) -> dict[str, np.ndarray]:
    return {s["name"]: sf.read(folder / s["file"], dtype="float32", always_2d=True)[0].T for s in info}


def _render_song(
    folder: Path, plan: dict[str, Any], seconds: float, sr: int, use_fluidsynth: bool
) -> list[dict[str, Any]]:
    done = folder / "stems.json"
    if done.exists():
        return list(json.loads(done.read_text()))
    shutil.rmtree(folder / "stems", ignore_errors=True)
    (folder / "stems").mkdir(parents=True)
    rng = np.random.default_rng([plan["seed"], 2])
    parts, _ = arrange(plan["genre"], seconds, rng, plan["piece"])
    stems, info = render_stems(parts, seconds, sr, rng, use_fluidsynth=use_fluidsynth)
    for name, audio in stems.items():
        _write(folder / "stems" / f"{name}.wav", audio, sr, "PCM_24")
    write_json_atomic(done, info)
    return info


def generate_split(
    out: str | os.PathLike[str],
    split: str,
    *,
    songs: int = 8,
    seconds: float = 20.0,
    seed: int = 0,
    sample_rate: int = 44100,
    use_fluidsynth: bool | None = None,
    scores: bool | None = None,
    progress: Progress | None = None,
) -> list[Path]:
    """Make (or resume) the ``split`` of engine B in ``out``; returns the song folders.

    Resumable: a song whose ``meta.json`` exists is kept; stems already rendered (``stems.json``)
    are reused. A folder made with other settings is refused (:class:`OutputError`).
    ``use_fluidsynth``/``scores`` default to what is installed (fluidsynth + FluidR3_GM; music21).
    """
    root = Path(out)
    use_fs = fluidsynth_available() if use_fluidsynth is None else use_fluidsynth
    with_scores = _music21_available() if scores is None else scores
    settings = {"engine": "B", "version": ENGINE_VERSION, "split": split, "seed": seed, "seconds": seconds,
                "sample_rate": sample_rate, "songs": songs, "fluidsynth": use_fs, "scores": with_scores}  # fmt: skip
    index = root / "dataset.json"
    if index.exists():
        old = json.loads(index.read_text())
        if {k: old.get(k) for k in settings} != settings:
            differ = ", ".join(f"{k} {old.get(k)!r} (asked {v!r})" for k, v in settings.items() if old.get(k) != v)
            raise OutputError(f"holds an engine-B split made with other settings: {differ}; use another folder", root)
    root.mkdir(parents=True, exist_ok=True)
    write_json_atomic(index, {**settings, "complete": False})
    plans = plan_split(split, songs, seed, scores=with_scores)
    total = 2 * songs
    infos: dict[str, list[dict[str, Any]]] = {}
    for k, plan in enumerate(plans):
        if progress:
            progress(k, total, f"stems {plan['name']} ({plan['genre']})")
        infos[plan["name"]] = _render_song(root / plan["name"], plan, seconds, sample_rate, use_fs)
    for k, plan in enumerate(plans):
        folder = root / plan["name"]
        if progress:
            progress(songs + k, total, f"mixes {plan['name']} ({plan['style_name']})")
        if (folder / "meta.json").exists():
            continue
        ref = plan["reference_song"]
        own = _load_stems(folder, infos[plan["name"]])
        other = _load_stems(root / ref, infos[ref])
        roles = {s["name"]: s["role"] for s in infos[plan["name"]]}
        ref_roles = {s["name"]: s["role"] for s in infos[ref]}
        target, t_info = mix_stems(own, roles, plan["style"], sample_rate, np.random.default_rng([plan["seed"], 3]))
        reference, r_info = mix_stems(
            other, ref_roles, plan["style"], sample_rate, np.random.default_rng([plan["seed"], 4])
        )
        _write(folder / "target_mix.wav", target, sample_rate, "PCM_24")
        _write(folder / "reference.wav", reference, sample_rate, "PCM_24")
        meta = {
            "engine": "B", "version": ENGINE_VERSION, "name": plan["name"], "split": split, "seed": plan["seed"],
            "genre": plan["genre"], "source": f"music21:{plan['piece']}" if plan["piece"] else "procedural",
            "style": plan["style"], "reference_song": ref, "reference_genre": next(p["genre"] for p in plans if p["name"] == ref),
            "sample_rate": sample_rate, "seconds": seconds, "stems": infos[plan["name"]],
            "target": t_info, "reference": r_info,
        }  # fmt: skip
        write_json_atomic(folder / "meta.json", meta)
    write_json_atomic(index, {**settings, "complete": True, "song_names": [p["name"] for p in plans]})
    if progress:
        progress(total, total, "done")
    return [root / p["name"] for p in plans]
