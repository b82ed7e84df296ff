"""Writing a session: the recipe of a mix (stem paths, locks, reasons) and its files
(``mix.wav``, ``recipe.json``, ``report.md``, optional ``style.png`` and stems) replaced as one
:class:`~mixassist.fileio.OutputSet`, checked before any work is done."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mixassist.audio.io import check_output_format, save_audio
from mixassist.fileio import OutputSet, check_output_folder, write_text_atomic
from mixassist.report import style_plot

if TYPE_CHECKING:
    from mixassist.audio.multitrack import Multitrack
    from mixassist.console.params import MixParams
    from mixassist.mixers.constraints import Constraints
    from mixassist.recipe import Recipe

__all__ = [
    "SESSION_FILES",
    "check_mix_outputs",
    "mix_size_bytes",
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
) -> dict[str, Path]:
    """Write ``mix.wav``, ``recipe.json`` and ``report.md`` (``style.png`` with ``style``, and
    stems that have no file yet, to ``out/stems/``) as one :class:`~mixassist.fileio.OutputSet`:
    staged, then swapped in together, so a failure leaves the previous outputs whole; existing
    outputs are refused unless ``overwrite``, inputs always."""
    stems = {name: f"stems/{name}.wav" for name in stem_audio}
    names = [*SESSION_FILES.values(), *(["style.png"] if style is not None else []), *stems.values()]
    check_output_format(out / SESSION_FILES["mix"], bit_depth)
    paths = {key: out / name for key, name in SESSION_FILES.items()}
    with OutputSet(out, names, overwrite=overwrite, protect=protect, retire=["style.png"]) as outputs:
        if stem_audio:
            files = dict(recipe.files)
            for name, audio in stem_audio.items():
                save_audio(outputs.path(stems[name]), audio, sample_rate, 32)
                files[name] = Path(os.path.relpath(outputs.target(stems[name]).resolve(), recipe.base_dir))
            recipe = replace(recipe, files=files)
        save_audio(outputs.path(SESSION_FILES["mix"]), mix_audio, sample_rate, bit_depth)
        write_recipe(outputs.path(SESSION_FILES["recipe"]), recipe, out)
        write_text_atomic(outputs.path(SESSION_FILES["report"]), report)
        if style is not None and style_plot(dict(style), outputs.path("style.png")):
            paths["style"] = out / "style.png"
    return paths


#: The files :meth:`MixResult.save` and :meth:`ReverseMixResult.save` write, by key.
SESSION_FILES = {"mix": "mix.wav", "recipe": "recipe.json", "report": "report.md"}


def check_mix_outputs(
    out_dir: str | os.PathLike[str],
    protect: Iterable[Path] = (),
    *,
    overwrite: bool = False,
    style: bool = False,
    bit_depth: int = 24,
    needed_bytes: int = 0,
) -> dict[str, Path]:
    """The files :meth:`MixResult.save` writes into ``out_dir``; raises ``OutputError`` now
    (before any work) if one exists and ``overwrite`` is false, would replace an input, or
    cannot be written: a file in the folder's way, an unwritable folder, a name too long,
    a bit depth other than 16/24/32, or less free space than ``needed_bytes``.
    ``style``: also ``style.png`` (the ``match`` method's plot)."""
    out = Path(out_dir)
    names = {**SESSION_FILES, **({"style": "style.png"} if style else {})}
    check_output_format(out / SESSION_FILES["mix"], bit_depth)
    OutputSet(out, names.values(), overwrite=overwrite, protect=protect)
    check_output_folder(out, names.values(), needed_bytes=needed_bytes)
    return {key: out / name for key, name in names.items()}


def mix_size_bytes(frames: int, bit_depth: int, *, channels: int = 2, stems: int = 0) -> int:
    """Estimated bytes a mix of ``frames`` at ``bit_depth`` writes (plus ``stems`` 32-bit stems
    of ``channels``), with room for the recipe, report and a plot."""
    audio = frames * channels * (bit_depth // 8)
    return audio + stems * frames * channels * 4 + 4 * 1024 * 1024
