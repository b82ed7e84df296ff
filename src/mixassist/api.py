"""The public, high-level API (re-exported from :mod:`mixassist`)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mixassist.audio.io import load_audio, save_audio
from mixassist.errors import InvalidParameterError, OutputError
from mixassist.fileio import write_text_atomic

if TYPE_CHECKING:
    from mixassist.audio.meter import LoudnessReport
    from mixassist.audio.multitrack import Multitrack
    from mixassist.console.console import RenderResult
    from mixassist.console.params import MixParams
    from mixassist.mixers.decisions import Proposal
    from mixassist.recipe import Recipe

__all__ = ["analyze", "analyze_file", "render", "render_recipe", "mix", "MixResult", "METHODS"]

#: Mixing methods ``mix(method=...)`` accepts.
METHODS = ("rules",)


def analyze(audio: np.ndarray, sample_rate: int) -> LoudnessReport:
    """Measure ``(channels, samples)`` audio: BS.1770 loudness, LRA, true peak, PLR, image.

    Undefined measures (silence, too short, mono) are ``None`` with a reason in
    ``report.reasons``; no ``-inf`` or NaN is ever returned.
    """
    from mixassist.audio.meter import measure

    return measure(audio, sample_rate)


def analyze_file(path: str | os.PathLike[str], *, downmix: bool = False) -> LoudnessReport:
    """Load one file at its own rate and :func:`analyze` it."""
    audio, sample_rate = load_audio(path, downmix=downmix)
    return analyze(audio, sample_rate)


def render(
    multitrack: Multitrack,
    params: MixParams,
    *,
    want_stems: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> RenderResult:
    """Render ``multitrack`` through the console with ``params`` (full length, no gradients)."""
    from mixassist.console.console import Console

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
    from mixassist.recipe import Recipe

    recipe = Recipe.load(recipe_path)
    stems = recipe.load_stems()
    protect = [*stems.sources, Path(recipe_path)]
    # Refuse a bad output before spending time on the render.
    _check_output(Path(output), protect, overwrite=overwrite)
    if save_recipe is not None:
        _check_output(Path(save_recipe), protect, overwrite=overwrite)
    result = render(stems, recipe.params, progress=progress)
    save_audio(output, result.mix, result.sample_rate, bit_depth, overwrite=overwrite, protect=protect)
    if save_recipe is not None:
        recipe.save(save_recipe, overwrite=overwrite)
    return result


def _check_output(path: Path, protect: list[Path], *, overwrite: bool) -> None:
    for p in protect:
        if path.exists() and os.path.samefile(path, p):
            raise OutputError(f"refusing to overwrite the input file {p}", path)
    if path.exists() and not overwrite:
        raise OutputError("already exists; choose another name or pass --overwrite", path)


@dataclass
class MixResult:
    """A proposed mix: the audio, its settings with reasons, and how it measures.

    Attributes
    ----------
    mix : np.ndarray
        float32 ``(2, samples)``.
    sample_rate : int
    proposal : Proposal
        Settings (``proposal.params``), reasons, roles, measurements.
    recipe : Recipe
        The recipe (version 2) that re-renders this mix.
    measured : dict
        The mix's loudness, true peak, LRA, PLR, correlation, width and spectral tilt.
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
        from mixassist.report import render_report

        return render_report(self.recipe.to_dict(), self.measured)

    def save(self, out_dir: str | os.PathLike[str], *, overwrite: bool = False, bit_depth: int = 24) -> dict[str, Path]:
        """Write ``mix.wav``, ``recipe.json`` and ``report.md`` into ``out_dir`` (created).

        Stems that came from arrays rather than files are written to ``out_dir/stems/`` first,
        so the recipe always re-renders.  Every file is written atomically; inputs are never
        overwritten; existing outputs are refused unless ``overwrite``.
        """
        from mixassist.recipe import Recipe

        out = Path(out_dir)
        protect = [self.recipe.resolve(n).resolve() for n in self.recipe.files if n not in self._stem_audio]
        paths = check_mix_outputs(out, protect, overwrite=overwrite)
        out.mkdir(parents=True, exist_ok=True)
        recipe = self.recipe
        missing = list(self._stem_audio)
        if missing:
            files = dict(recipe.files)
            stems_dir = out / "stems"
            stems_dir.mkdir(exist_ok=True)
            for name in missing:
                target = stems_dir / f"{name}.wav"
                save_audio(target, self._stem_audio[name], self.sample_rate, 32, overwrite=overwrite)
                files[name] = Path(os.path.relpath(target.resolve(), recipe.base_dir))
            recipe = Recipe(recipe.sample_rate, files, recipe.params, recipe.base_dir, recipe.extra,
                            recipe.why, recipe.locked, recipe.roles, recipe.measured)
        save_audio(paths["mix"], self.mix, self.sample_rate, bit_depth, overwrite=overwrite, protect=protect)
        recipe.save(paths["recipe"], overwrite=overwrite)
        write_text_atomic(paths["report"], self.report(), overwrite=overwrite)
        return paths

    _stem_audio: dict[str, np.ndarray] = field(default_factory=dict, repr=False)


def mix(
    multitrack: Multitrack,
    *,
    loudness_lufs: float = -14.0,
    true_peak_dbtp: float = -1.0,
    lock: Iterable[str] | None = None,
    roles: Mapping[str, str] | Iterable[str] | None = None,
    ranges: Iterable[str] | None = None,
    method: str = "rules",
    align: bool = True,
    start: MixParams | None = None,
    progress: Callable[[str, float], None] | None = None,
) -> MixResult:
    """Propose a mix of ``multitrack`` as console settings, render it and explain it.

    Parameters
    ----------
    multitrack : Multitrack
    loudness_lufs : float
        Integrated loudness of the result (−14 LUFS default, streaming level).
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
    method : str
        ``"rules"`` (knowledge-based).
    align : bool
        Detect and correct multi-mic delay and polarity.
    start : MixParams, optional
        Settings to start from (e.g. a previous recipe's); locks without a value keep these.
    progress : callable, optional
        ``progress(stage, fraction)``.

    Examples
    --------
    >>> stems = mixassist.load_multitrack("examples/demo/stems")             # doctest: +SKIP
    >>> result = mixassist.mix(stems, loudness_lufs=-14, lock=["lead.pan=0"])  # doctest: +SKIP
    >>> result.save("demo-out/")                                             # doctest: +SKIP
    """
    from mixassist.console.console import Console
    from mixassist.mixers.constraints import Constraints
    from mixassist.mixers.rules import RulesMixer
    from mixassist.recipe import Recipe
    from mixassist.report import mix_measurements

    if method not in METHODS:
        raise InvalidParameterError(f"unknown method '{method}'; methods are: {', '.join(METHODS)}")
    constraints = Constraints.parse(multitrack.names, lock=lock, roles=roles, ranges=ranges, start=start)
    mixer = RulesMixer(loudness_lufs=loudness_lufs, true_peak_dbtp=true_peak_dbtp, align=align)
    proposal = mixer.propose(multitrack, constraints, start=start, progress=progress)
    if progress:
        progress("rendering the mix", 1.0)
    rendered = Console(multitrack.sample_rate).render(multitrack, proposal.params)
    measured = mix_measurements(rendered.mix, multitrack.sample_rate)
    # Stems without a file (built from arrays) are written next to the mix by MixResult.save.
    files = {t.name: (Path(os.path.relpath(Path(t.source).resolve())) if t.source is not None else Path(f"stems/{t.name}.wav"))
             for t in multitrack}
    locked = {s: constraints.locked_names(s) for s in [*multitrack.names, "reverb", "master"] if constraints.locked_names(s)}
    extra: dict[str, Any] = {"context": proposal.context, "result": measured, "notes": list(proposal.reasons.notes)}
    if proposal.alignment is not None:
        extra["alignment"] = proposal.alignment
    recipe = Recipe(
        sample_rate=multitrack.sample_rate,
        files=files,
        params=proposal.params,
        base_dir=Path.cwd(),
        extra=extra,
        why=dict(proposal.reasons.why),
        locked=locked,
        roles={n: r["role"] for n, r in proposal.roles.items()},
        measured=proposal.measured,
    )
    stem_audio = {t.name: t.audio for t in multitrack if t.source is None}
    return MixResult(rendered.mix, multitrack.sample_rate, proposal, recipe, measured, stem_audio)


def check_mix_outputs(out_dir: str | os.PathLike[str], protect: Iterable[Path] = (), *, overwrite: bool = False) -> dict[str, Path]:
    """The files :meth:`MixResult.save` writes into ``out_dir``; raises ``OutputError`` now
    (before any work) if one exists and ``overwrite`` is false, or would replace an input."""
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise OutputError("exists and is not a folder", out)
    paths = {"mix": out / "mix.wav", "recipe": out / "recipe.json", "report": out / "report.md"}
    for p in paths.values():
        _check_output(p, list(protect), overwrite=overwrite)
    return paths
