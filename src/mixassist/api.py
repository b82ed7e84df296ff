"""The public, high-level API (re-exported from :mod:`mixassist`)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from mixassist.audio.io import load_audio, save_audio
from mixassist.errors import OutputError

if TYPE_CHECKING:
    from mixassist.audio.meter import LoudnessReport
    from mixassist.audio.multitrack import Multitrack
    from mixassist.console.console import RenderResult
    from mixassist.console.params import MixParams

__all__ = ["analyze", "analyze_file", "render", "render_recipe"]


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
