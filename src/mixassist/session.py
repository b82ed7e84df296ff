"""Writing a session: the recipe of a mix (stem paths, locks, reasons) and its files
(``mix.wav``, ``recipe.json``, ``report.md``, ``report.html`` and ``previews/``, optional
``style.png`` and stems) replaced as one :class:`~mixassist.fileio.OutputSet`, checked before
any work is done; the settings a new mix resumes from a recipe with (:func:`resume_settings`).
The exporters (printed stems, DAWproject, REAPER) are in :mod:`mixassist.export`."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mixassist.audio.io import save_audio
from mixassist.fileio import OutputSet, write_bytes_atomic, write_text_atomic
from mixassist.outputs import (
    LANE_PLOT_FOLDER,
    PRINTED_FOLDER,
    RETURN_NAME,
    SESSION_FILES,
    check_output_format,
    printed_names,
)
from mixassist.previews import PREVIEW_FOLDER, Preview
from mixassist.report import lane_plots, style_plot
from mixassist.report_html import render_html
from mixassist.stems import print_stems

if TYPE_CHECKING:
    from mixassist.audio.multitrack import Multitrack
    from mixassist.console.params import MixParams
    from mixassist.mixers.constraints import Constraints
    from mixassist.recipe import Recipe

__all__ = [
    "ResumeSettings",
    "old_printed",
    "resume_settings",
    "save_session",
    "session_recipe",
    "stem_files",
    "write_recipe",
]


def write_recipe(path: Path, recipe: Recipe, folder: Path) -> None:
    """``recipe`` as strict JSON at ``path`` (a staged file), stem paths relative to ``folder``
    (where it will live)."""
    text = json.dumps(recipe.to_dict(relative_to=folder), indent=2, allow_nan=False) + "\n"
    write_text_atomic(path, text)


def session_recipe(
    multitrack: Multitrack,
    constraints: Constraints,
    params: MixParams,
    extra: dict[str, Any],
    *,
    why: dict[str, dict[str, str]],
    roles: dict[str, str] | None = None,
    measured: dict[str, dict[str, Any]] | None = None,
) -> tuple[Recipe, dict[str, np.ndarray]]:
    """The recipe of a session (stem paths, locks, the working folder) and the audio of its
    stems that have no file yet (written by :func:`save_session`)."""
    from mixassist.mixers.decisions import locked_sections  # lazy: torch (see render)
    from mixassist.recipe import Recipe  # lazy: torch (see render)

    recipe = Recipe(
        sample_rate=multitrack.sample_rate,
        files=stem_files(multitrack),
        right_files={t.name: Path(os.path.relpath(t.source_right.resolve())) for t in multitrack if t.source_right},
        params=params,
        base_dir=Path.cwd(),
        extra=extra,
        why=why,
        locked=locked_sections(constraints, multitrack.names),
        roles=roles if roles is not None else {},
        measured=measured if measured is not None else {},
    )
    return recipe, {t.name: t.audio for t in multitrack if t.source is None}


def stem_files(multitrack: Multitrack) -> dict[str, Path]:
    """Recipe paths of the stems; stems without a file (built from arrays) are written next to
    the mix, in ``stems/``, by :func:`save_session`."""
    return {
        t.name: (
            Path(os.path.relpath(Path(t.source).resolve())) if t.source is not None else Path(f"stems/{t.name}.wav")
        )
        for t in multitrack
    }


def save_session(
    out: Path,
    recipe: Recipe,
    stem_audio: Mapping[str, np.ndarray],
    mix_audio: np.ndarray,
    sample_rate: int,
    report: str,
    protect: list[Path],
    *,
    overwrite: bool,
    bit_depth: int,
    style: Mapping[str, Any] | None = None,
    printed: tuple[Multitrack, MixParams] | None = None,
    previews: Sequence[Preview] = (),
    measured: Mapping[str, Any] | None = None,
) -> dict[str, Path]:
    """Write ``mix.wav``, ``recipe.json`` and ``report.md`` (``style.png`` with ``style``, and
    stems that have no file yet, to ``out/stems/``) as one :class:`~mixassist.fileio.OutputSet`:
    staged, then swapped in together, so a failure leaves the previous outputs whole; existing
    outputs are refused unless ``overwrite``, inputs always.  ``printed``: also the printed
    stems of these settings and the reverb return (:mod:`mixassist.stems`) in ``out/printed/``.
    With ``measured`` (the mix's measurements) also ``report.html``, its players playing
    ``previews`` (24-bit FLAC files in ``out/previews/``); previews of an earlier run that this
    one does not write are removed.  A recipe with lanes also gets a plot per automated track in
    ``out/automation/`` (:func:`~mixassist.report.lane_plots`, linked from ``report.md``)."""
    plots = lane_plots(recipe.to_dict())
    stems = {name: f"stems/{name}.wav" for name in stem_audio}
    printed_files = printed_names(printed[1].track_names) if printed is not None else {}
    html = measured is not None
    names = [
        *SESSION_FILES.values(),
        *(["style.png"] if style is not None else []),
        *(["report.html"] if html else []),
        *(p.name for p in previews),
        *plots,
        *stems.values(),
        *printed_files.values(),
        *([RETURN_NAME] if printed is not None else []),
    ]
    check_output_format(out / SESSION_FILES["mix"], bit_depth)
    paths = {key: out / name for key, name in SESSION_FILES.items()}
    old_previews = [f.relative_to(out).as_posix() for f in sorted((out / PREVIEW_FOLDER).rglob("*.flac"))]
    old_plots = [f.relative_to(out).as_posix() for f in sorted((out / LANE_PLOT_FOLDER).glob("*.png"))]
    retire = ["style.png", *old_printed(out), "report.html", *old_previews, *old_plots]
    with OutputSet(out, names, overwrite=overwrite, protect=protect, retire=retire) as outputs:
        if stem_audio:
            files = dict(recipe.files)
            for name, audio in stem_audio.items():
                save_audio(outputs.path(stems[name]), audio, sample_rate, 32)
                files[name] = Path(os.path.relpath(outputs.target(stems[name]).resolve(), recipe.base_dir))
            recipe = replace(recipe, files=files)
        save_audio(outputs.path(SESSION_FILES["mix"]), mix_audio, sample_rate, bit_depth)
        write_recipe(outputs.path(SESSION_FILES["recipe"]), recipe, out)
        write_text_atomic(outputs.path(SESSION_FILES["report"]), report)
        png = None
        if style is not None and style_plot(dict(style), outputs.path("style.png")):
            paths["style"] = out / "style.png"
            png = outputs.path("style.png").read_bytes()
        for file, data in plots.items():
            write_bytes_atomic(outputs.path(file), data)
        if plots:
            paths["automation"] = out / LANE_PLOT_FOLDER
        for preview in previews:
            save_audio(outputs.path(preview.name), preview.audio, preview.sample_rate, 24)
        if previews:
            paths["previews"] = out / PREVIEW_FOLDER
        if measured is not None:
            page = render_html(recipe.to_dict(relative_to=out), measured, previews, style_png=png, lane_pngs=plots)
            write_text_atomic(outputs.path("report.html"), page)
            paths["html"] = out / "report.html"
        if printed is not None:
            multitrack, params = printed
            staged = {name: outputs.path(file) for name, file in printed_files.items()}
            print_stems(multitrack, params, staged, outputs.path(RETURN_NAME))
            paths["printed"] = out / PRINTED_FOLDER
    return paths


def old_printed(out: Path) -> list[str]:
    """Printed stems of an earlier run in ``out`` (this run may replace or retire them)."""
    folder = out / PRINTED_FOLDER
    return sorted(f"{PRINTED_FOLDER}/{p.name}" for p in folder.glob("*.wav")) if folder.is_dir() else []


@dataclass(frozen=True)
class ResumeSettings:
    """What a new mix takes from a previous recipe (``mix --from``): its stems, its settings as
    the start, its locks (``TRACK.PARAM``, kept at the start's values) and its ranges
    (``TRACK.PARAM=LOW:HIGH``), and the user's roles."""

    recipe: Recipe
    lock: list[str]
    ranges: list[str]
    roles: list[str]

    @property
    def start(self) -> MixParams:
        return self.recipe.params

    def load_stems(self, *, sample_rate: int | None = None, downmix: bool = False) -> Multitrack:
        """The recipe's stems under its track names (at ``sample_rate``, default the recipe's)."""
        recipe = self.recipe if sample_rate is None else replace(self.recipe, sample_rate=sample_rate)
        return recipe.load_stems(downmix=downmix)


def resume_settings(recipe_path: str | os.PathLike[str]) -> ResumeSettings:
    """The settings ``mix --from RECIPE`` starts from (see :class:`ResumeSettings`)."""
    from mixassist.recipe import Recipe  # lazy: torch (the console's parameter schema)

    recipe = Recipe.load(recipe_path)
    lock = [f"{section}.{param}" for section, params in recipe.locked.items() for param in params]
    constraints = (recipe.extra.get("context") or {}).get("constraints") or {}
    ranges = [
        f"{section}.{param}={low:g}:{high:g}"
        for section, params in (constraints.get("ranges") or {}).items()
        for param, (low, high) in params.items()
    ]
    roles = [f"{name}={role}" for name, role in (constraints.get("roles") or {}).items()]
    return ResumeSettings(recipe, lock, ranges, roles)
