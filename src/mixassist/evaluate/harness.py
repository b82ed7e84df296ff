"""The evaluation harness: every registered method on every song, one comparable table.

A *method* is a function ``method(stems, context) -> MethodOutput`` registered by name with
:func:`register_method`: the baselines here, every mixing method of the one registry
(:data:`mixassist.mixers.base.MIXERS`, through :func:`mixer_method`), and outside code
(``mixassist eval --plugin FILE``; that is how GPL baselines such as matchering stay out of the
package).  A method sees the stems and the reference — never ``target_mix`` or ``truth.json``.

For each song and method the harness records wall time and computes the metrics of
:mod:`mixassist.evaluate.metrics` against ``target_mix`` (the same song in the reference's
style: the fair yardstick) and against the reference itself. For methods that return console
settings it also measures, on an absolute scale, how much of each track the rest of the mix
masks (:func:`mixassist.measure.perception.masking_measure`: 1 − partial/solo loudness after
Moore, Glasberg & Baer 1997; Wichern et al. 2016's loudness loss).
"""

from __future__ import annotations

import importlib.util
import json
import logging
import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import numpy as np

from mixassist.api import mix
from mixassist.audio.io import load_audio
from mixassist.audio.multitrack import Multitrack
from mixassist.console.console import Console
from mixassist.console.params import MixParams
from mixassist.data.references import hit_loudness, load_song
from mixassist.errors import InvalidParameterError, RecipeError
from mixassist.evaluate.metrics import THIRD_OCTAVE_CENTRES_HZ, compare, parameter_error, third_octave_band_db
from mixassist.executors import Executor, Task, raise_first_error
from mixassist.fileio import write_json_atomic
from mixassist.measure import integrated_loudness
from mixassist.measure.perception import MASKING_REFERENCE, masking_measure
from mixassist.mixers.base import MIXERS

__all__ = [
    "SongContext",
    "MethodOutput",
    "METHODS",
    "register_method",
    "mixer_method",
    "load_plugin",
    "evaluate_dataset",
    "evaluate_song",
    "evaluable_songs",
    "mix_masking",
    "mix_sources",
    "source_groups",
    "SUMMARY_METRICS",
    "abs_if_signed",
]

log = logging.getLogger(__name__)

#: Level every stem is set to by the equal-loudness baselines (LUFS).
EQUAL_LOUDNESS_LUFS = -24.0


@dataclass
class SongContext:
    """What a method may know about a song: its reference (never the target) and metadata."""

    name: str
    reference: np.ndarray
    sample_rate: int
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass
class MethodOutput:
    """A method's mix ``(2, samples)`` and, if it has them, its console settings."""

    mix: np.ndarray
    params: MixParams | None = None


Method = Callable[[Multitrack, SongContext], MethodOutput]
METHODS: dict[str, Method] = {}


def register_method(name: str) -> Callable[[Method], Method]:
    """Decorator: make ``fn`` available to ``mixassist eval --methods NAME``."""

    def wrap(fn: Method) -> Method:
        METHODS[name] = fn
        return fn

    return wrap


def load_plugin(path: str | os.PathLike[str]) -> list[str]:
    """Import a Python file that registers methods; returns the names it added."""
    path = Path(path)
    if not path.is_file():
        raise InvalidParameterError(f"plugin {path} does not exist")
    before = set(METHODS)
    spec = importlib.util.spec_from_file_location(f"mixassist_plugin_{path.stem}", path)
    if spec is None or spec.loader is None:
        raise InvalidParameterError(f"plugin {path} is not a Python file")
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as exc:  # the plugin's own error, whatever it is: name the file, no traceback
        raise InvalidParameterError(f"plugin {path} failed to load: {type(exc).__name__}: {exc}") from exc
    return sorted(set(METHODS) - before)


# ---------------------------------------------------------------------- baselines


def equal_loudness_params(stems: Multitrack, level_lufs: float = EQUAL_LOUDNESS_LUFS) -> MixParams:
    """Every non-silent stem at the same integrated loudness, centred, nothing else."""
    tracks = {}
    for t in stems:
        lufs = integrated_loudness(t.audio, stems.sample_rate)
        if lufs is not None:
            tracks[t.name] = {"gain_db": float(np.clip(level_lufs - lufs, -60.0, 24.0))}
    return MixParams(stems.names, tracks=tracks)


@register_method("sum")
def sum_as_is(stems: Multitrack, ctx: SongContext) -> MethodOutput:
    """Stems summed as they are (mono stems centred with the constant-power law)."""
    params = MixParams(stems.names)
    return MethodOutput(Console(stems.sample_rate).render(stems, params).mix, params)


@register_method("equal_loudness")
def equal_loudness(stems: Multitrack, ctx: SongContext) -> MethodOutput:
    """Each stem to the same LUFS, then summed."""
    params = equal_loudness_params(stems)
    return MethodOutput(Console(stems.sample_rate).render(stems, params).mix, params)


@register_method("equal_loudness_matched")
def equal_loudness_matched(stems: Multitrack, ctx: SongContext) -> MethodOutput:
    """Equal-loudness sum brought to the reference's loudness with a −1 dBTP limiter."""
    target = integrated_loudness(ctx.reference, ctx.sample_rate)
    params = equal_loudness_params(stems)
    params.set_bus("master", "limiter_ceiling_dbtp", -1.0)
    if target is None:
        return MethodOutput(Console(stems.sample_rate).render(stems, params).mix, params)
    params.set_bus("master", "comp_threshold_db", 0.0)
    # output gain (and limiter ceiling) only: the glue compressor stays off (ratio 1)
    params, mix = hit_loudness(Console(stems.sample_rate), stems, params, target)
    return MethodOutput(mix, params)


def mixer_method(name: str) -> Method:
    """The harness method of the mixing method ``name`` (:data:`mixassist.mixers.base.MIXERS`).

    A mixer that reads the style mixes toward the reference (default strengths, seed 0; loudness
    from the reference); one that does not (``rules``: roles inferred from names and audio, not
    read from the song's metadata) is delivered at the reference's loudness.
    """
    entry = MIXERS[name]

    def run(stems: Multitrack, ctx: SongContext) -> MethodOutput:
        if entry.reads_style:
            result = mix(stems, reference=[(ctx.reference, ctx.sample_rate)], method=name)
        else:
            target = integrated_loudness(ctx.reference, ctx.sample_rate)
            loudness = float(np.clip(target, -40.0, -5.0)) if target is not None else -14.0
            result = mix(stems, loudness_lufs=loudness, method=name)
        return MethodOutput(result.mix, result.params)

    run.__name__ = run.__qualname__ = name
    run.__doc__ = f"``mix(method={name!r})``: {entry.summary}."
    return run


for _name in MIXERS:
    register_method(_name)(mixer_method(_name))


# ---------------------------------------------------------------------- running


def source_groups(meta: dict[str, Any]) -> list[list[str]]:
    """Tracks that record one source (the song's declared multi-mic pairs, chained)."""
    groups: list[set[str]] = []
    for pair in meta.get("multi_mic", []):
        names = set(pair["tracks"])
        touching = [g for g in groups if g & names]
        for g in touching:
            names |= g
            groups.remove(g)
        groups.append(names)
    return [sorted(g) for g in groups]


def mix_sources(
    stems: Multitrack, params: MixParams, groups: Sequence[Sequence[str]] = ()
) -> tuple[list[list[str]], np.ndarray]:
    """Each *source's* contribution to the mix bus under ``params``: ``(units, audio)``.

    ``units`` lists the track names of each source — single tracks first, then each of
    ``groups`` whose tracks are all in the session (microphones on one source, summed: the
    masking model adds tracks as unrelated sounds, and two mics of one drum do not mask each
    other); ``audio`` is ``(sources, 2, samples)``, from one console render with
    ``want_stems=True``.
    """
    rendered = Console(stems.sample_rate).render(stems, params, want_stems=True)
    track_audio = cast(np.ndarray, rendered.stems)  # want_stems=True: never None
    names = params.track_names
    grouped = [list(g) for g in groups if all(n in names for n in g)]
    in_group = {n for g in grouped for n in g}
    units = [[n] for n in names if n not in in_group] + grouped
    index = {n: i for i, n in enumerate(names)}
    return units, np.stack([track_audio[[index[n] for n in unit]].sum(axis=0) for unit in units])


def mix_masking(
    stems: Multitrack, params: MixParams | None, groups: Sequence[Sequence[str]] = ()
) -> dict[str, Any] | None:
    """Masking in the mix ``params`` makes of ``stems``; ``None`` without settings.

    Re-renders the console (one extra render per song and method: the methods return only their
    mix) and passes each source's contribution to the mix bus (:func:`mix_sources`: tracks in
    one of ``groups``, e.g. kick in/out, summed into one source) to
    :func:`~mixassist.measure.perception.masking_measure`, at −23 LUFS.
    The result is absolute (no comparison with the target): ``masking_fraction`` is the mean
    over audible sources of ``1 − partial / solo`` loudness, lower is better; ``per_track``
    maps source names (``"kick_in+kick_out"`` for a group) to their fraction (``None`` for
    silent ones).
    """
    if params is None:
        return None
    units, merged = mix_sources(stems, params, groups)
    measure = masking_measure(merged, stems.sample_rate)
    labels = ["+".join(unit) for unit in units]
    return {
        "masking_fraction": measure["masked_fraction_mean"],
        "per_track": dict(zip(labels, measure["masked_fraction"])),
        "partial_phon": dict(zip(labels, measure["partial_phon"])),
        "solo_phon": dict(zip(labels, measure["solo_phon"])),
        "mix_phon": measure["mix_phon"],
        "level_lufs": measure["level_lufs"],
    }


#: Metrics shown in the summary table, with their column titles.
SUMMARY_METRICS = [
    ("loudness_error_lu", "loud LU"),
    ("spectral_mid_db", "mid dB"),
    ("spectral_side_db", "side dB"),
    ("width_error_db", "width dB"),
    ("crest_error_db", "crest dB"),
    ("st_spread_error_lu", "ST spread LU"),
    ("plr_error_db", "PLR dB"),
    ("true_peak_dbtp", "TP dBTP"),
    ("mrstft", "MRSTFT"),
    ("af_total", "AF"),
]


def abs_if_signed(key: str, value: Any) -> Any:
    """Signed errors (``*_error_lu``, ``*_error_db``, the per-band ``width_error_*_db``) as
    magnitudes, so means over songs do not cancel; everything else unchanged."""
    signed = key.endswith(("_error_lu", "_error_db")) or key.startswith("width_error_")
    if isinstance(value, (int, float)) and signed:
        return abs(value)
    return value


def _song_names(root: Path) -> list[str]:
    index = root / "dataset.json"
    if index.exists():
        return list(json.loads(index.read_text())["songs"])
    return sorted(p.name for p in root.iterdir() if (p / "song.json").exists())


def evaluable_songs(dataset: str | os.PathLike[str]) -> list[str]:
    """The songs of ``dataset`` that have ground truth (``truth.json``), in dataset order."""
    root = Path(dataset)
    return [s for s in _song_names(root) if (root / s / "truth.json").exists()]


def evaluate_song(
    song_dir: str,
    methods: Sequence[str],
    plugins: Sequence[str] = (),
    progress: Callable[[str], None] | None = None,
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Every method on one song: its row of ``results["songs"]`` and the spectra's signals
    (the reference, the target and each method's mix) for the plots. The task
    :func:`evaluate_dataset` hands its executor; ``plugins`` are loaded first where their
    methods are missing (a fresh worker process); ``progress`` is told ``"SONG: METHOD"`` as
    each method starts."""
    if any(m not in METHODS for m in methods):
        for path in plugins:
            load_plugin(path)
    folder = Path(song_dir)
    stems, meta = load_song(folder)
    sr = stems.sample_rate
    reference, _ = load_audio(folder / "reference.wav", sample_rate=sr)
    target, _ = load_audio(folder / "target_mix.wav", sample_rate=sr)
    truth = json.loads((folder / "truth.json").read_text())
    ctx = SongContext(folder.name, reference, sr, meta)
    row: dict[str, Any] = {
        "reference_song": truth.get("reference_song"),
        "style": truth.get("style", {}).get("name"),
        "target_vs_reference": compare(target, reference, sr),
        "target_masking": mix_masking(stems, MixParams.from_dict(truth["params"]), source_groups(meta)),
    }
    spectra = {"reference": reference, "target_mix": target}
    for name in methods:
        if progress:
            progress(f"{folder.name}: {name}")
        start = time.perf_counter()
        output = METHODS[name](stems, ctx)
        wall = time.perf_counter() - start
        mix = np.asarray(output.mix, dtype=np.float32)
        entry = {
            "wall_s": wall,
            "vs_target": compare(mix, target, sr, target=target),
            "vs_reference": compare(mix, reference, sr),
        }
        if output.params is not None:
            entry["params_error"] = parameter_error(output.params.to_dict(), truth["params"])
        entry["masking"] = mix_masking(stems, output.params, source_groups(meta))
        row[name] = entry
        spectra[name] = mix
    return row, spectra


def evaluate_dataset(
    dataset: str | os.PathLike[str],
    methods: Sequence[str],
    out: str | os.PathLike[str],
    *,
    progress: Callable[[str], None] | None = None,
    plots: bool = True,
    executor: Executor | None = None,
    plugins: Sequence[str | os.PathLike[str]] = (),
    on_song: Callable[[str, bool], None] | None = None,
) -> dict[str, Any]:
    """Run ``methods`` on every song with ground truth and write the report to ``out``.

    Writes ``results.json`` (every number), ``results.md`` (per-song and mean tables against
    ``target_mix`` and against the reference, and the absolute masking table) and, with
    matplotlib, ``plots/*.png``. Returns the results dict.

    Methods that return ``params`` are rendered once more with their stems to measure masking
    (:func:`mix_masking`); so are the ground-truth settings behind ``target_mix``, as a
    reference row. Methods without ``params`` get ``None``.

    ``executor`` (:mod:`mixassist.executors`) runs the songs (:func:`evaluate_song`), e.g. on
    a local pool or Ray, with the numbers of a run in this process (only ``wall_s`` differs);
    ``plugins`` are the files that registered extra methods, loaded again in each worker;
    ``on_song(name, ok)`` is called as each song finishes. Without it songs run here, one
    after another, and ``progress`` names each song and method as it starts. A song that
    fails fails the evaluation, as in a run here.
    """
    root, out = Path(dataset), Path(out)
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise InvalidParameterError(f"unknown method(s) {', '.join(unknown)}; available: {', '.join(sorted(METHODS))}")
    songs = evaluable_songs(root)
    if not songs:
        raise RecipeError("no songs with truth.json (run `mixassist data synth` first)", root)
    out.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {"dataset": str(root), "methods": list(methods), "songs": {}}
    spectra: dict[str, dict[str, np.ndarray]] = {}
    if executor is None:
        for song in songs:
            results["songs"][song], spectra[song] = evaluate_song(str(root / song), methods, progress=progress)
            if on_song:
                on_song(song, True)
    else:
        paths = [str(Path(p).resolve()) for p in plugins]
        tasks = [Task(song, evaluate_song, (str((root / song).resolve()), list(methods), paths)) for song in songs]
        outcomes = executor.run(tasks, None if on_song is None else lambda o: on_song(o.key, o.ok))
        raise_first_error(outcomes)
        for outcome in outcomes:
            results["songs"][outcome.key], spectra[outcome.key] = outcome.value
    results["masking_reference"] = MASKING_REFERENCE
    results["mean"] = _means(results, methods)
    write_json_atomic(out / "results.json", _json_safe(results))
    (out / "results.md").write_text(markdown_report(results))
    if plots:
        _plots(results, spectra, out / "plots", songs)
    return results


def _means(results: dict[str, Any], methods: Sequence[str]) -> dict[str, Any]:
    means: dict[str, Any] = {}
    for name in methods:
        means[name] = {}
        for against in ("vs_target", "vs_reference"):
            keys = {k for song in results["songs"].values() for k in song[name][against]}
            means[name][against] = {
                k: _mean([abs_if_signed(k, song[name][against].get(k)) for song in results["songs"].values()])
                for k in sorted(keys)
            }
        means[name]["wall_s"] = _mean([song[name]["wall_s"] for song in results["songs"].values()])
        means[name]["masking_fraction"] = _mean(
            [_masking(song.get(name, {}).get("masking")) for song in results["songs"].values()]
        )
    return means


def _masking(entry: dict[str, Any] | None) -> float | None:
    return None if entry is None else entry.get("masking_fraction")


def _mean(values: list[Any]) -> float | None:
    nums = [float(v) for v in values if isinstance(v, (int, float)) and math.isfinite(v)]
    return float(np.mean(nums)) if nums else None


def _json_safe(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, (np.floating, float)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    return value


def _fmt(v: Any) -> str:
    return "—" if not isinstance(v, (int, float)) else f"{v:.3g}" if abs(v) < 0.01 else f"{v:.2f}"


def markdown_report(results: dict[str, Any]) -> str:
    """Tables: mean over songs vs ``target_mix``, vs the reference, then per song."""
    methods = results["methods"]
    lines = [
        f"# Evaluation of {results['dataset']}",
        "",
        f"{len(results['songs'])} songs; lower is better except where noted.",
    ]
    for against, title in (
        ("vs_target", "against target_mix (same song, reference's style)"),
        ("vs_reference", "against the reference (a different song)"),
    ):
        cols = [(k, t) for k, t in SUMMARY_METRICS if against == "vs_target" or k != "mrstft"]
        lines += [
            "",
            f"## Mean {title}",
            "",
            "| method | " + " | ".join(t for _, t in cols) + " | time s |",
            "|---|" + "---|" * (len(cols) + 1),
        ]
        if against == "vs_reference":
            ideal = {
                k: _mean([abs_if_signed(k, s["target_vs_reference"].get(k)) for s in results["songs"].values()])
                for k, _ in cols
            }
            lines.append("| *target_mix itself (ideal)* | " + " | ".join(_fmt(ideal[k]) for k, _ in cols) + " | — |")
        for m in methods:
            mean = results["mean"][m][against]
            lines.append(
                f"| {m} | "
                + " | ".join(_fmt(mean.get(k)) for k, _ in cols)
                + f" | {_fmt(results['mean'][m]['wall_s'])} |"
            )
    lines += [
        "",
        "## Masking in the mix (absolute, lower is better)",
        "",
        "Mean over audible sources of 1 − partial/solo loudness at −23 LUFS: the share of each source's",
        "loudness the rest of the mix masks (declared multi-mic tracks of one source are summed first;",
        "Wichern et al. 2016, loudness loss; partial loudness after",
        "Moore, Glasberg & Baer 1997, JAES 45(4), ANSI S3.4-2007 constants; `mixassist.measure.perception`).",
        "— = the method returns no console settings.",
        "",
        "| method | masked fraction |",
        "|---|---|",
        "| *target_mix (truth settings)* | "
        + _fmt(_mean([_masking(s.get("target_masking")) for s in results["songs"].values()]))
        + " |",
    ]
    for m in methods:
        lines.append(f"| {m} | {_fmt(results['mean'][m].get('masking_fraction'))} |")
    lines += [
        "",
        "## Per song, against target_mix",
        "",
        "| song | style | method | " + " | ".join(t for _, t in SUMMARY_METRICS) + " |",
        "|---|---|---|" + "---|" * len(SUMMARY_METRICS),
    ]
    for song, row in results["songs"].items():
        for m in methods:
            vals = row[m]["vs_target"]
            lines.append(
                f"| {song} | {row.get('style')} | {m} | "
                + " | ".join(_fmt(abs_if_signed(k, vals.get(k))) for k, _ in SUMMARY_METRICS)
                + " |"
            )
    lines += [
        "",
        "Metric definitions: `mixassist.evaluate.metrics`; AF is Diff-MST's audio-feature metric (their data differ).",
    ]
    return "\n".join(lines) + "\n"


def _plots(results: dict[str, Any], spectra: dict[str, dict[str, np.ndarray]], folder: Path, songs: list[str]) -> None:
    try:
        import matplotlib  # lazy: optional dependency (and 0.5 s to import)

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt  # lazy: optional dependency
    except ImportError:  # plots are a convenience; the numbers are in results.json
        log.warning("matplotlib is not installed: skipping plots")
        return

    folder.mkdir(parents=True, exist_ok=True)
    methods = results["methods"]
    for key, title in SUMMARY_METRICS:
        fig, ax = plt.subplots(figsize=(6, 3))
        vals = [results["mean"][m]["vs_target"].get(key) for m in methods]
        ax.bar(methods, [v if v is not None else 0.0 for v in vals], color="#4c72b0")
        ax.set_title(f"{title} vs target_mix (mean over {len(songs)} songs)")
        ax.tick_params(axis="x", rotation=30)
        fig.tight_layout()
        fig.savefig(folder / f"metric_{key}.png", dpi=100)
        plt.close(fig)
    for song in songs:
        fig, ax = plt.subplots(figsize=(7, 3.5))
        sr = int(json.loads((Path(results["dataset"]) / song / "song.json").read_text()).get("sample_rate", 44100))
        for name, audio in spectra[song].items():
            bands = third_octave_band_db(audio, sr, which="mid", normalise=True)
            ax.semilogx(
                THIRD_OCTAVE_CENTRES_HZ, bands, label=name, lw=2.0 if name in ("reference", "target_mix") else 1.0
            )
        ax.set_xlabel("Hz")
        ax.set_ylabel("mid band level, dB (loudness-normalised)")
        ax.set_title(f"{song}: mix vs reference spectra")
        ax.legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(folder / f"spectra_{song}.png", dpi=100)
        plt.close(fig)
