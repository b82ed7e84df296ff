"""Ground truth for style transfer: a reference from another song, the target mix, the settings.

For song *i* of a dataset, one style is drawn (:func:`mixassist.data.priors.draw_prior`) and
applied to two multitracks:

* ``reference.wav`` — a *different* song *j* mixed in that style (what a user would bring);
* ``target_mix.wav`` — song *i*'s own stems mixed in the same style (what a perfect style
  transfer would produce), with every setting stored in ``truth.json``.

Both are rendered by our console; the reference is driven to the style's loudness target and
the target mix to the loudness the reference reached (the same number unless the reference's
song cannot get there under its true-peak ceiling).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from mixassist.audio.io import load_audio, save_audio
from mixassist.audio.multitrack import Multitrack
from mixassist.console.console import Console
from mixassist.console.params import MixParams
from mixassist.data.priors import draw_prior, prior_params, role_map
from mixassist.errors import InvalidParameterError, RecipeError
from mixassist.executors import Executor, Outcome, Task, raise_first_error
from mixassist.fileio import write_json_atomic
from mixassist.measure import integrated_loudness, true_peak
from mixassist.mixers.constraints import Constraints
from mixassist.mixers.decisions import Reasons
from mixassist.mixers.deliver import deliver_loudness

__all__ = ["load_song", "hit_loudness", "make_references", "reference_song", "alignment_truth"]

log = logging.getLogger(__name__)


def load_song(song_dir: str | os.PathLike[str], sample_rate: int | None = None) -> tuple[Multitrack, dict[str, Any]]:
    """A song folder's stems (in ``song.json`` order, names as declared) and its metadata."""
    song_dir = Path(song_dir)
    try:
        meta = json.loads((song_dir / "song.json").read_text())
    except FileNotFoundError as err:
        raise RecipeError("no song.json in this song folder", song_dir) from err
    except json.JSONDecodeError as err:
        raise RecipeError(f"song.json is not valid JSON ({err.msg})", song_dir) from err
    arrays, sources, rate = {}, {}, sample_rate or int(meta.get("sample_rate", 44100))
    for stem in meta["stems"]:
        path = song_dir / stem["file"]
        arrays[stem["name"]], _ = load_audio(path, sample_rate=rate)
        sources[stem["name"]] = path
    return Multitrack.from_arrays(arrays, rate, sources), meta


def alignment_truth(meta: dict[str, Any]) -> dict[str, dict[str, float]]:
    """Settings that re-align the song's declared multi-mic pairs (delay the early mic, fix polarity)."""
    fixed: dict[str, dict[str, float]] = {}
    for pair in meta.get("multi_mic", []):
        first, second = pair["tracks"][:2]
        fixed.setdefault(first, {})["delay_ms"] = float(pair["delay_ms"])
        if float(pair.get("polarity", 1)) < 0:
            fixed.setdefault(second, {})["polarity"] = -1.0
    return fixed


def hit_loudness(
    console: Console, stems: Multitrack, params: MixParams, target_lufs: float, *, tolerance_lu: float = 0.05
) -> tuple[MixParams, np.ndarray]:
    """Set the master (glue threshold, output gain) so that the mix reads ``target_lufs``.

    The glue compressor's threshold (when its ratio is above 1) is placed ``glue depth`` below
    the mix's peak level; the output gain is then found by the shared delivery search
    (:func:`mixassist.mixers.deliver.deliver_loudness`: secant steps, which converge under heavy
    limiting where fixed 1 dB-per-LU corrections do not), to within ``tolerance_lu``, and the
    limiter ceiling is lowered by any true-peak overshoot so the truth stays at or below the
    ceiling it asks for.  Returns the settings and the final mix (bit-identical to a render).
    """
    params = params.copy()
    depth = -float(params.master["comp_threshold_db"] or 0.0) - 6.0
    bus = console.render_bus(stems, params)
    if (params.master["comp_ratio"] or 1.0) > 1.0:  # a glue compressor that works: place its threshold
        mix = console.render_master(bus, params)
        peak = float(np.max(np.abs(mix))) if mix.size else 0.0
        if peak > 0:
            params.set_bus("master", "comp_threshold_db", float(np.clip(20 * np.log10(peak) - depth, -60.0, 0.0)))
    ceiling = params.master["limiter_ceiling_dbtp"]
    delivered = deliver_loudness(
        stems,
        params,
        Constraints(),
        Reasons(),
        loudness_lufs=target_lufs,
        true_peak_dbtp=float(ceiling) if ceiling is not None else 0.0,
        bus=bus,
        tolerance_lu=tolerance_lu,
        max_trials=10,
    )
    return delivered["settings"], delivered["mix"]


def make_references(
    dataset: str | os.PathLike[str],
    *,
    seed: int = 0,
    overwrite: bool = False,
    progress: Callable[[int, int], None] | None = None,
    executor: Executor | None = None,
) -> list[Path]:
    """Write ``reference.wav``, ``target_mix.wav`` and ``truth.json`` into every song folder.

    Deterministic from ``seed``; resumable (songs with a ``truth.json`` are skipped unless
    ``overwrite``).  Needs at least two songs: a reference is always another song.
    ``executor`` (:mod:`mixassist.executors`) runs the songs (:func:`reference_song`), e.g. on
    a local pool or Ray, with the same files as a run in this process; the first failure is
    raised once the others are done.
    """
    root = Path(dataset)
    index = json.loads((root / "dataset.json").read_text())
    names: list[str] = list(index["songs"])
    if len(names) < 2:
        raise InvalidParameterError("references need at least two songs (a reference is always a different song)")
    todo = [i for i, name in enumerate(names) if overwrite or not (root / name / "truth.json").exists()]
    done = len(names) - len(todo)
    if progress and done:
        progress(done, len(names))
    if executor is None:
        for i in todo:
            reference_song(str(root), names, i, seed)
            done += 1
            if progress:
                progress(done, len(names))
    else:
        counter = [done]

        def finished(outcome: Outcome) -> None:
            counter[0] += 1
            if progress:
                progress(counter[0], len(names))

        tasks = [Task(names[i], reference_song, (str(root.resolve()), names, i, seed)) for i in todo]
        raise_first_error(executor.run(tasks, finished))
    return [root / name for name in names]


def reference_song(dataset: str, names: list[str], i: int, seed: int) -> str:
    """Song ``i``'s reference (another song in a drawn style), target mix and ``truth.json``
    (written last: it marks the song complete); the task :func:`make_references` runs."""
    root = Path(dataset)
    name = names[i]
    song_dir = root / name
    song_seed = int(np.random.SeedSequence([seed, i, 7]).generate_state(1)[0])
    rng = np.random.default_rng(song_seed)
    j = (i + 1 + int(rng.integers(len(names) - 1))) % len(names)
    draw = draw_prior(None, song_seed)
    stems, meta = load_song(song_dir)
    ref_stems, ref_meta = load_song(root / names[j], sample_rate=stems.sample_rate)
    console = Console(stems.sample_rate)

    ref_params = prior_params(
        draw, ref_stems, role_map(ref_meta["stems"]), seed=song_seed + 1, fixed=alignment_truth(ref_meta)
    )
    ref_params, ref_mix = hit_loudness(console, ref_stems, ref_params, draw.loudness_lufs)
    tgt_params = prior_params(draw, stems, role_map(meta["stems"]), seed=song_seed + 2, fixed=alignment_truth(meta))
    # The target is delivered at the loudness the reference *reached*: a sparse, peaky song
    # may not reach a loud style's number at -1 dBTP (the output gain tops out with the
    # limiter taking ~18 dB), and the loudness the user hears in the reference is the style.
    reached = integrated_loudness(ref_mix, stems.sample_rate)
    tgt_params, tgt_mix = hit_loudness(console, stems, tgt_params, draw.loudness_lufs if reached is None else reached)

    save_audio(song_dir / "reference.wav", ref_mix, stems.sample_rate, 24, overwrite=True)
    save_audio(song_dir / "target_mix.wav", tgt_mix, stems.sample_rate, 24, overwrite=True)
    truth = {
        "version": 1,
        "song": name,
        "reference_song": names[j],
        "style": draw.to_dict(),
        "params": tgt_params.to_dict(),
        "reference_params": ref_params.to_dict(),
        "target_loudness_lufs": draw.loudness_lufs,
        "measured": {
            "target_mix_lufs": integrated_loudness(tgt_mix, stems.sample_rate),
            "target_mix_dbtp": true_peak(tgt_mix, stems.sample_rate),
            "reference_lufs": reached,
            "reference_dbtp": true_peak(ref_mix, stems.sample_rate),
        },
    }
    write_json_atomic(song_dir / "truth.json", truth)  # written last: marks the song complete
    log.info("%s: reference from %s in style %s", name, names[j], draw.name)
    return name
