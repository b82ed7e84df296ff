"""The public, high-level API (re-exported from :mod:`mixassist`)."""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias, TypedDict, Unpack, cast

import numpy as np

from mixassist.audio.blocks import open_blocks
from mixassist.audio.io import load_audio, resample, save_audio
from mixassist.errors import InvalidParameterError
from mixassist.export import EXPORT_FORMATS, export_reaper, export_session, import_dawproject
from mixassist.fileio import OutputSet
from mixassist.measure import measure, measure_blocks
from mixassist.mixers.base import MIXERS, Mixer, MixRequest, Progress, build_mixer
from mixassist.mixers.sections import Section, read_sections
from mixassist.outputs import (
    SESSION_FILES,
    check_mix_outputs,
    check_render_outputs,
    mix_size_bytes,
)
from mixassist.previews import Preview, make_previews, raw_sum
from mixassist.report import mix_measurements, render_report
from mixassist.session import (
    ResumeSettings,
    resume_settings,
    save_session,
    session_recipe,
    write_recipe,
)

#: Write a recipe's mix as printed stems, a DAWproject or a REAPER project (:func:`mixassist.export.export_session`).
export = export_session

if TYPE_CHECKING:
    from mixassist.audio.multitrack import Multitrack
    from mixassist.console.console import RenderResult
    from mixassist.console.params import MixParams
    from mixassist.measure import LoudnessReport
    from mixassist.mixers.constraints import Constraints
    from mixassist.mixers.decisions import Proposal
    from mixassist.mixers.reverse import ReverseResult
    from mixassist.recipe import Recipe
    from mixassist.style.target import StyleTarget

    #: One reference: a path, ``(path, weight)``, ``(audio, sample_rate)`` or ``(audio, sample_rate, weight)``.
    ReferenceItem: TypeAlias = (
        str
        | os.PathLike[str]
        | tuple[str | os.PathLike[str], float]
        | tuple[np.ndarray, int]
        | tuple[np.ndarray, int, float]
    )
    #: What ``mix(reference=...)`` accepts: a ready target, one reference, or several.
    References: TypeAlias = StyleTarget | ReferenceItem | Iterable[ReferenceItem]

__all__ = [
    "analyze",
    "analyze_file",
    "render",
    "render_recipe",
    "mix",
    "mix_request",
    "MixRequest",
    "style_target",
    "check_mix_outputs",
    "export_reaper",
    "mix_size_bytes",
    "resume_settings",
    "ResumeSettings",
    "SESSION_FILES",
    "EXPORT_FORMATS",
    "export",
    "import_dawproject",
    "MixResult",
    "ReverseMixResult",
    "reverse",
    "METHODS",
]

#: Mixing methods ``mix(method=...)`` accepts (the names in :data:`mixassist.mixers.base.MIXERS`).
METHODS = tuple(MIXERS)


def analyze(audio: np.ndarray, sample_rate: int) -> LoudnessReport:
    """Measure ``(channels, samples)`` audio: BS.1770 loudness, LRA, true peak, PLR, image.

    Undefined measures (silence, too short, mono) are ``None`` with a reason in
    ``report.reasons``; no ``-inf`` or NaN is ever returned.
    """
    return measure(audio, sample_rate)


def analyze_file(path: str | os.PathLike[str], *, downmix: bool = False) -> LoudnessReport:
    """:func:`analyze` one file at its own rate, read block by block.

    Memory stays a few MB whatever the file's length (``benchmarks/memory.py``); the report is
    the one :func:`analyze` gives for the whole decoded file, bit for bit. MP4/M4A files, which
    ffmpeg decodes, are read whole.
    """
    blocks = open_blocks(path, downmix=downmix)
    return measure_blocks(lambda: blocks, blocks.sample_rate)


def render(
    multitrack: Multitrack,
    params: MixParams,
    *,
    want_stems: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> RenderResult:
    """Render ``multitrack`` through the console with ``params`` (full length, no gradients)."""
    from mixassist.console.console import Console  # lazy: torch, seconds at `import mixassist`

    return Console(multitrack.sample_rate).render(multitrack, params, want_stems=want_stems, progress=progress)


def render_recipe(
    recipe_path: str | os.PathLike[str],
    output: str | os.PathLike[str],
    *,
    bit_depth: int = 24,
    overwrite: bool = False,
    save_recipe: str | os.PathLike[str] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> RenderResult:
    """Render exactly what a recipe says and write the mix to ``output`` (WAV/FLAC).

    ``save_recipe`` also writes the recipe there, its stem paths rewritten for its folder.
    """
    from mixassist.recipe import Recipe  # lazy: torch (see render)

    recipe = Recipe.load(recipe_path)
    output = Path(output)
    stem_paths = list(recipe.stem_paths())
    protect = [*stem_paths, Path(recipe_path)]
    # Refuse a bad output before loading and rendering anything.
    groups = check_render_outputs(
        output, bit_depth=bit_depth, overwrite=overwrite, save_recipe=save_recipe, protect=protect
    )
    stems = recipe.load_stems()
    result = render(stems, recipe.params, progress=progress)
    for folder, names in groups.items():  # each folder's outputs swapped in together
        with OutputSet(folder, names, overwrite=overwrite, protect=protect) as outputs:
            if output.name in names and folder == output.parent:
                save_audio(outputs.path(output.name), result.mix, result.sample_rate, bit_depth)
            if save_recipe is not None and folder == Path(save_recipe).parent:
                write_recipe(outputs.path(Path(save_recipe).name), recipe, folder)
    return result


@dataclass
class MixResult:
    """A proposed mix: the audio, its settings with reasons, and how it measures.

    Attributes
    ----------
    mix, sample_rate
        The mix, float32 ``(2, samples)``, and its rate in Hz.
    proposal : Proposal
        Settings (``proposal.params``), reasons, roles, measurements.
    recipe : Recipe
        The recipe (version 3, :data:`mixassist.recipe.RECIPE_VERSION`) that re-renders this mix.
    measured : dict
        The mix's loudness, true peak, LRA, PLR, correlation, width and spectral tilt.
    previews : list of Preview
        The raw sum, the mix and each reference, loudness-matched (:mod:`mixassist.previews`).
    """

    mix: np.ndarray
    sample_rate: int
    proposal: Proposal
    recipe: Recipe
    measured: dict[str, Any] = field(default_factory=dict)

    @property
    def params(self) -> MixParams:
        return self.proposal.params

    def report(self) -> str:
        """``report.md`` as text."""
        return render_report(self.recipe.to_dict(), self.measured)

    def summary(
        self, paths: Mapping[str, Path], *, timings_s: Mapping[str, float] | None = None, target: str | None = None
    ) -> dict[str, Any]:
        """A JSON-ready summary (``mix --json``): the written ``paths``, the mix's measures, the
        method, the delivery ``target``, the tracks, the previews and ``timings_s``."""
        ctx = self.recipe.extra.get("context") or {}
        return {
            "paths": {key: str(path) for key, path in paths.items()},
            "method": ctx.get("method"),
            "target": target,
            "loudness_lufs": ctx.get("loudness_lufs"),
            "true_peak_dbtp": ctx.get("true_peak_dbtp"),
            "sample_rate": self.sample_rate,
            "duration_s": round(self.mix.shape[-1] / self.sample_rate, 3),
            "tracks": list(self.params.track_names),
            "measured": self.measured,
            "previews": [
                {
                    "file": p.name,
                    "label": p.label,
                    "gain_db": round(p.gain_db, 2),
                    "loudness_lufs": round(p.loudness_lufs, 2),
                }
                for p in self.previews
            ],
            "notes": list(self.proposal.reasons.notes),
            "timings_s": dict(timings_s or {}),
        }

    def save(
        self,
        out_dir: str | os.PathLike[str],
        *,
        overwrite: bool = False,
        bit_depth: int = 24,
        stems: bool = False,
    ) -> dict[str, Path]:
        """Write ``mix.wav``, ``recipe.json``, ``report.md``, ``report.html`` and ``previews/``
        into ``out_dir`` (created).

        Stems that came from arrays rather than files are written to ``out_dir/stems/`` first,
        so the recipe always re-renders.  ``stems``: also the printed stems and the reverb
        return, in ``out_dir/printed/`` (:mod:`mixassist.stems`).  Every file is written
        atomically; inputs are never overwritten; existing outputs are refused unless ``overwrite``.
        """
        out = Path(out_dir)
        protect = [
            p.resolve() for p in self.recipe.stem_paths(n for n in self.recipe.files if n not in self._stem_audio)
        ]
        context = self.recipe.extra.get("context") or {}
        return save_session(
            out,
            self.recipe,
            self._stem_audio,
            self.mix,
            self.sample_rate,
            self.report(),
            protect,
            overwrite=overwrite,
            bit_depth=bit_depth,
            style=context if context.get("style") else None,
            printed=(self._multitrack, self.params) if stems and self._multitrack is not None else None,
            previews=self.previews,
            measured=self.measured,
        )

    _stem_audio: dict[str, np.ndarray] = field(default_factory=dict, repr=False)
    previews: list[Preview] = field(default_factory=list, repr=False)
    _multitrack: Multitrack | None = field(default=None, repr=False)


def mix_request(
    *,
    loudness_lufs: float | None = None,
    true_peak_dbtp: float = -1.0,
    lock: Iterable[str] | None = None,
    roles: Mapping[str, str] | Iterable[str] | None = None,
    ranges: Iterable[str] | None = None,
    method: str | None = None,
    align: bool = True,
    start: MixParams | None = None,
    reference: References | None = None,
    describe: str | None = None,
    match: str | Mapping[str, float] | None = None,
    time_budget_s: float | None = None,
    seed: int = 0,
    out_dir: str | os.PathLike[str] | None = None,
    overwrite: bool = False,
    bit_depth: int = 24,
    downmix: bool = False,
    ride: bool = False,
    ride_track: str | None = None,
    sections: str | os.PathLike[str] | Iterable[Section] | None = None,
) -> MixRequest:
    """A :class:`~mixassist.mixers.base.MixRequest` from :func:`mix`'s arguments, checked once
    before any audio is loaded: references, words and strengths (:func:`style_target`) and the
    method (default: ``"auto"`` with a reference or words, else ``"rules"``).
    ``out_dir``, ``overwrite`` and ``bit_depth`` say where and how :meth:`MixResult.save` writes;
    ``downmix`` averages reference files with more than two channels to mono.  ``ride`` /
    ``ride_track`` ride the lead's (or that track's) fader with an automation lane (every method; on top of the static proposal for all but ``rules``);
    ``sections``: the song's sections, or a CSV file of them (:func:`~mixassist.mixers.sections.read_sections`)."""
    items = [] if reference is None or _is_target(reference) else _reference_items(reference)  # read once
    target = style_target(
        reference if _is_target(reference) else items, describe=describe, match=match, downmix=downmix
    )
    if method is None:
        method = "auto" if not target.is_empty else "rules"
    return MixRequest(
        target=target,
        method=method,
        loudness_lufs=loudness_lufs,
        true_peak_dbtp=true_peak_dbtp,
        lock=tuple(lock or ()),
        roles=dict(roles) if isinstance(roles, Mapping) else tuple(roles or ()),
        ranges=tuple(ranges or ()),
        align=align,
        start=start,
        time_budget_s=time_budget_s,
        seed=seed,
        reference_files=tuple(_reference_files(items)),
        out_dir=None if out_dir is None else Path(out_dir),
        overwrite=overwrite,
        bit_depth=bit_depth,
        ride=ride or ride_track is not None,
        ride_track=ride_track,
        sections=_sections(sections),
    )


def _sections(sections: str | os.PathLike[str] | Iterable[Section] | None) -> tuple[Section, ...]:
    """The song's sections: none, as given, or read from a CSV file (a last ``start_s,label`` line
    ends at the song's end: closed when the stems are known, :func:`mix`)."""
    if sections is None:
        return ()
    if isinstance(sections, (str, os.PathLike)):
        return read_sections(sections, length_s=math.inf)  # the last one, if open, ends with the song
    return tuple(sections)


class MixSettings(TypedDict, total=False):
    """The keyword settings of :func:`mix`, each as :func:`mix_request` reads it."""

    loudness_lufs: float | None
    true_peak_dbtp: float
    lock: Iterable[str] | None
    roles: Mapping[str, str] | Iterable[str] | None
    ranges: Iterable[str] | None
    method: str | None
    align: bool
    start: MixParams | None
    reference: References | None
    describe: str | None
    match: str | Mapping[str, float] | None
    time_budget_s: float | None
    seed: int
    ride: bool
    ride_track: str | None
    sections: str | os.PathLike[str] | Iterable[Section] | None


def mix(
    multitrack: Multitrack,
    request: MixRequest | None = None,
    *,
    progress: Progress | None = None,
    **settings: Unpack[MixSettings],
) -> MixResult:
    """Propose a mix of ``multitrack`` as console settings, render it and explain it.

    Parameters
    ----------
    multitrack : Multitrack
    request : MixRequest, optional
        Everything below, built and checked by :func:`mix_request` (the CLI's way); pass either
        a request or the keyword settings, not both.
    loudness_lufs : float, optional
        Integrated loudness of the result. Default: the references' loudness (and loudness words) with a reference or words,
        −14 LUFS (streaming level) otherwise. An explicit value overrides references and words.
    true_peak_dbtp : float
        True-peak ceiling (−1 dBTP default).
    lock : iterable of str
        Settings to keep, e.g. ``["vocals.gain_db=-3", "drums.*", "master.output_gain_db"]``
        (see :mod:`mixassist.mixers.constraints`).
    roles : mapping or iterable of ``"TRACK=ROLE"``
        Override inferred roles (``lead``, ``bass``, ``drums``, ``percussion``, ``chords``,
        ``pad``, ``arp``, ``fx``).
    ranges : iterable of ``"TRACK.PARAM=LOW:HIGH"``
        Narrow what the mixer may choose.
    method : str, optional
        ``"rules"`` (knowledge-based), ``"match"`` (rules, then solved toward the style of
        ``reference`` and ``describe``), ``"neural"`` (the trained controller, one pass) or
        ``"auto"`` (the controller's mix, refined by the ``match`` solver for words, strengths
        below 1 and locks): the names in :data:`mixassist.mixers.base.MIXERS`. Default:
        ``"auto"`` when a reference or words are given, else ``"rules"``.
    align : bool
        Detect and correct multi-mic delay and polarity.
    start : MixParams, optional
        Settings to start from (e.g. a previous recipe's); locks without a value keep these.
    progress : callable, optional
        ``progress(stage, fraction)``.
    reference : optional
        A :class:`~mixassist.style.target.StyleTarget`, an audio file path, or a list whose items
        are a path, ``(path, weight)``, ``(audio, sample_rate)`` or ``(audio, sample_rate, weight)``.
    describe : str, optional
        Descriptor words, e.g. ``"brighter, wider, vocals forward"`` (``docs/style.md``).
    match : str or mapping, optional
        Strength 0-1 per attribute (``"tone=1,width=0.5,dynamics=0.7"``; ``loudness`` too).
    time_budget_s : float, optional
        Most seconds the ``match`` solver may spend optimising.
    seed : int
        Seed of the ``match`` solver (same inputs and seed, same mix).

    Examples
    --------
    >>> stems = mixassist.load_multitrack("examples/demo/stems")             # doctest: +SKIP
    >>> result = mixassist.mix(stems, loudness_lufs=-14, lock=["lead.pan=0"])  # doctest: +SKIP
    >>> result.save("demo-out/")                                             # doctest: +SKIP
    """
    if request is None:
        request = mix_request(**settings)
    elif settings:
        raise InvalidParameterError(
            f"mix(): pass a MixRequest or keyword settings, not both (got {', '.join(settings)})"
        )
    return _mix(multitrack, request, progress)


def _mix(multitrack: Multitrack, request: MixRequest, progress: Progress | None) -> MixResult:
    """:func:`mix` of a checked request."""
    from mixassist.console.console import Console  # lazy: torch (see render)
    from mixassist.mixers.constraints import Constraints  # lazy: torch (see render)
    from mixassist.style.descriptors import parse_description  # lazy: torch (see render)

    target = request.target
    if target.description:  # words that name tracks are checked now, not after the work
        parse_description(target.description, multitrack.names)
    constraints = Constraints.parse(
        multitrack.names, lock=request.lock, roles=request.roles, ranges=request.ranges, start=request.start
    )
    mixer: Mixer = build_mixer(request)
    proposal = mixer.propose(multitrack, constraints, start=request.start, progress=progress)
    if not request.mixer.reads_style and not target.is_empty:
        proposal.reasons.notes.append(f"--method {request.method}: the reference and the words were not used")
    if progress:
        progress("rendering the mix", 1.0)
    # The written mix must be bit-equal to what `mixassist render recipe.json` produces: the
    # mixer's delivery render is (Console.render_master), if it is of the final settings.
    rendered_mix = proposal.rendered()
    report = proposal.rendered_report()  # the mixer's measurement of that very mix, if it made one
    if rendered_mix is None:
        rendered_mix = Console(multitrack.sample_rate).render(multitrack, proposal.params).mix
    references = [
        (Path(r.label).name, resample(r.audio, int(r.sample_rate), multitrack.sample_rate)) for r in target.references
    ]
    final_mix = rendered_mix
    with ThreadPoolExecutor(max_workers=1) as pool:  # the previews beside the measurements and the recipe
        previewing = pool.submit(
            lambda: make_previews(raw_sum(list(multitrack)), final_mix, multitrack.sample_rate, references)
        )
        recipe, measured, stem_audio = _recipe_of(multitrack, constraints, proposal, final_mix, report)
        previews = previewing.result()
    return MixResult(rendered_mix, multitrack.sample_rate, proposal, recipe, measured, stem_audio, previews, multitrack)


def _recipe_of(
    multitrack: Multitrack,
    constraints: Constraints,
    proposal: Proposal,
    rendered_mix: np.ndarray,
    report: LoudnessReport | None,
) -> tuple[Recipe, dict[str, Any], dict[str, np.ndarray]]:
    """The recipe of ``proposal``, the mix's measurements (``report``: the mixer's, if it made one)
    and the stems' audio by path, as :func:`_mix` returns them."""
    measured = mix_measurements(rendered_mix, multitrack.sample_rate, report)
    extra: dict[str, Any] = {"context": proposal.context, "result": measured, "notes": list(proposal.reasons.notes)}
    if proposal.alignment is not None:
        extra["alignment"] = proposal.alignment
    recipe, stem_audio = session_recipe(
        multitrack,
        constraints,
        proposal.params,
        extra,
        why=dict(proposal.reasons.why),
        roles={n: r["role"] for n, r in proposal.roles.items()},
        measured=proposal.measured,
    )
    return recipe, measured, stem_audio


def _reference_items(reference: References | None) -> list[ReferenceItem]:
    """``reference`` (not a target) as a list of items: one path or array tuple, or several."""
    if reference is None:
        return []
    if isinstance(reference, (str, os.PathLike)) or (
        isinstance(reference, tuple) and len(reference) in (2, 3) and isinstance(reference[0], np.ndarray)
    ):
        return [cast("ReferenceItem", reference)]
    return list(cast("Iterable[ReferenceItem]", reference))


def _reference_files(items: Iterable[ReferenceItem]) -> list[Path]:
    """The files among reference items (inputs a mix must never overwrite)."""
    files = []
    for item in items:
        if isinstance(item, (str, os.PathLike)):
            files.append(Path(item))
        elif isinstance(item, tuple) and isinstance(item[0], (str, os.PathLike)):
            files.append(Path(item[0]))
    return files


def _is_target(reference: object) -> bool:
    from mixassist.style.target import StyleTarget  # lazy: torch (see render)

    return isinstance(reference, StyleTarget)


def style_target(
    reference: References | None = None,
    *,
    describe: str | None = None,
    match: str | Mapping[str, float] | None = None,
    downmix: bool = False,
) -> StyleTarget:
    """A :class:`~mixassist.style.target.StyleTarget` from ``mix()``'s ``reference``, ``describe``
    and ``match`` arguments (see :func:`mix`); ``downmix`` averages reference files with more
    than two channels to mono (as for stems)."""
    from mixassist.style.target import StyleTarget  # lazy: torch (see render)

    if isinstance(reference, StyleTarget):
        target = reference
    else:
        target = StyleTarget()
        for item in _reference_items(reference):
            if isinstance(item, (str, os.PathLike)) or (
                isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], (str, os.PathLike))
            ):
                path, weight = (item, 1.0) if isinstance(item, (str, os.PathLike)) else item
                audio, rate = load_audio(path, downmix=downmix)
                target = target.add_reference(audio, rate, weight=float(weight), label=str(path))
            elif isinstance(item, tuple) and len(item) in (2, 3) and isinstance(item[0], np.ndarray):
                weight = item[2] if len(item) == 3 else 1.0
                target = target.add_reference(
                    item[0], item[1], weight=weight, label=f"reference {len(target.references) + 1}"
                )
            else:
                raise InvalidParameterError(
                    f"reference {item!r}: pass a file path, (path, weight), (audio, sample_rate) or (audio, sample_rate, weight)"
                )
    return target.with_strengths(match).describe(describe)


@dataclass
class ReverseMixResult:
    """Settings recovered from stems and a finished mix (see :func:`reverse`).

    Attributes
    ----------
    result : mixassist.mixers.reverse.ReverseResult
        Settings, per-setting confidence, loss history, MRSTFT of the re-render.
    recipe : Recipe
        The recipe that re-renders the recovered mix; ``extra["confidence"]`` holds the
        confidence, ``extra["result"]`` the MRSTFT against the given mix.
    sample_rate : int
    """

    result: ReverseResult
    recipe: Recipe
    sample_rate: int
    _stem_audio: dict[str, np.ndarray] = field(default_factory=dict, repr=False)
    _protect: list[Path] = field(default_factory=list, repr=False)

    @property
    def params(self) -> MixParams:
        return self.result.params

    @property
    def confidence(self) -> dict[str, dict[str, float]]:
        return self.result.confidence

    @property
    def mix(self) -> np.ndarray:
        return self.result.mix

    def report(self) -> str:
        """``report.md`` as text: per track, each recovered setting and its confidence."""
        from mixassist.console.schema import params_for  # lazy: torch (see render)
        from mixassist.mixers.reverse import FIT_TRACK  # lazy: torch (see render)

        r = self.result
        table = params_for("track")
        mr = "—" if r.mrstft is None else f"{r.mrstft:.3f}"
        lines = [
            "# Reverse-mix report",
            "",
            f"Recovered console settings for {len(r.params.track_names)} tracks at {self.sample_rate} Hz in "
            f"{r.wall_s:.1f} s. MRSTFT distance of the re-render (`mix.wav`) to the given mix: **{mr}** "
            "(0 = identical). `mixassist render recipe.json -o mix.wav` reproduces it.",
            "",
            "Confidence (0…1) says how sharply the given mix pins a setting down: how much the fit worsens when "
            "the setting moves by 0.05 of its range, discounted where other settings can stand in for it; "
            "0 for silent stems and for EQ bands where the track has no energy; 1 for settings you locked. "
            "See docs/reverse.md.",
            "",
        ]
        if r.notes:
            lines += ["## Notes", "", *[f"- {n}" for n in r.notes], ""]
        for name in r.params.track_names:
            lines += [f"## {name}", "", "| setting | value | confidence | how |", "|---|---|---|---|"]
            conf = r.confidence.get(name, {})
            for key in FIT_TRACK:
                value = r.params.get(name, key)
                if key not in conf or value is None:
                    continue
                unit = table[key].unit
                shown = f"{value:+.2f}{(' ' + unit) if unit else ''}"
                lines.append(f"| {key} | {shown} | {conf[key]:.2f} | {r.why.get(name, {}).get(key, '')} |")
            lines.append("")
        if "master" in r.confidence:
            lines += ["## master", "", "| setting | value | confidence |", "|---|---|---|"]
            for key, c in r.confidence["master"].items():
                lines.append(f"| {key} | {r.params.master[key]:+.2f} | {c:.2f} |")
            lines.append("")
        return "\n".join(lines)

    def save(self, out_dir: str | os.PathLike[str], *, overwrite: bool = False, bit_depth: int = 24) -> dict[str, Path]:
        """Write ``recipe.json``, ``mix.wav`` (the re-render) and ``report.md`` into ``out_dir``.

        Atomic writes; inputs (stems, the given mix) are never overwritten; existing outputs are
        refused unless ``overwrite``.  Stems that came from arrays go to ``out_dir/stems/``.
        """
        protect = [
            *(p.resolve() for p in self.recipe.stem_paths(n for n in self.recipe.files if n not in self._stem_audio)),
            *self._protect,
        ]
        return save_session(
            Path(out_dir),
            self.recipe,
            self._stem_audio,
            self.result.mix,
            self.sample_rate,
            self.report(),
            protect,
            overwrite=overwrite,
            bit_depth=bit_depth,
        )


def reverse(
    multitrack: Multitrack,
    mix_audio: np.ndarray,
    sample_rate: int,
    *,
    lock: Iterable[str] | None = None,
    seed: int = 0,
    time_budget_s: float | None = None,
    steps: int = 80,
    mix_path: str | os.PathLike[str] | None = None,
    progress: Progress | None = None,
    **options: Any,
) -> ReverseMixResult:
    """:func:`mixassist.mixers.reverse.reverse_mix` (console settings that make our console
    reproduce ``mix_audio`` from the stems) as a result that saves like a mix, with its recipe.

    Parameters
    ----------
    multitrack, mix_audio, sample_rate, seed, time_budget_s, steps
        As in :func:`~mixassist.mixers.reverse.reverse_mix`; ``sample_rate`` is required here.
    lock : iterable of str
        Settings to keep exactly (see :mod:`mixassist.mixers.constraints`).
    mix_path : path, optional
        Where the mix came from (protected from being overwritten, named in the recipe).
    progress : callable, optional
        ``progress(stage, fraction)``.
    **options
        Passed to :func:`mixassist.mixers.reverse.reverse_mix` (``excerpt_s``, ``fit_master`` …).

    Returns
    -------
    ReverseMixResult
        ``.params``, ``.confidence``, ``.save(out_dir)``.

    Examples
    --------
    >>> stems = mixassist.load_multitrack("song/stems")                      # doctest: +SKIP
    >>> result = reverse(stems, mix_audio, 44100, lock=["vocals.pan=0"])     # doctest: +SKIP
    >>> result.save("song/reversed/")                                        # doctest: +SKIP
    """
    from mixassist.mixers.constraints import Constraints  # lazy: torch (see render)
    from mixassist.mixers.reverse import reverse_mix  # lazy: torch (see render)

    constraints = Constraints.parse(multitrack.names, lock=lock)
    result = reverse_mix(
        multitrack,
        mix_audio,
        sample_rate=sample_rate,
        constraints=constraints,
        seed=seed,
        time_budget_s=time_budget_s,
        steps=steps,
        progress=progress,
        **options,
    )
    measured = mix_measurements(result.mix, multitrack.sample_rate)
    measured_vs = {"mrstft_vs_given_mix": result.mrstft}
    context: dict[str, Any] = {"method": "reverse", "seed": seed, "steps": steps, "locks": list(constraints.specs)}
    if mix_path is not None:
        context["given_mix"] = str(mix_path)
    extra: dict[str, Any] = {
        "context": context,
        "result": {**measured, **measured_vs},
        "notes": list(result.notes),
        "confidence": result.confidence,
        "loss_history": [round(v, 6) for v in result.loss_history],
    }
    recipe, stem_audio = session_recipe(
        multitrack, constraints, result.params, extra, why={s: dict(v) for s, v in result.why.items() if v}
    )
    protect = [Path(mix_path).resolve()] if mix_path is not None else []
    return ReverseMixResult(result, recipe, multitrack.sample_rate, stem_audio, protect)
