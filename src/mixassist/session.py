"""Writing a session: the recipe of a mix (stem paths, locks, reasons) and its files
(``mix.wav``, ``recipe.json``, ``report.md``, optional ``style.png`` and stems) replaced as one
:class:`~mixassist.fileio.OutputSet`, checked before any work is done."""

from __future__ import annotations

import json
import os
import zipfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import soundfile as sf

from mixassist.audio.io import check_output_format, save_audio
from mixassist.dawproject import (
    EMBEDDED_RECIPE,
    EMBEDDED_RETURN,
    ProjectContents,
    StemInfo,
    metadata_xml,
    project_xml,
    read_project,
)
from mixassist.errors import InvalidParameterError, MixAssistError, OutputError, RecipeError
from mixassist.fileio import OutputSet, check_output_folder, write_text_atomic, writing
from mixassist.report import style_plot
from mixassist.stems import PRINTED_FOLDER, RETURN_NAME, print_stems, printed_names, stems_size_bytes

if TYPE_CHECKING:
    from mixassist.audio.multitrack import Multitrack
    from mixassist.console.params import MixParams
    from mixassist.mixers.constraints import Constraints
    from mixassist.recipe import Recipe

__all__ = [
    "EXPORT_FORMATS",
    "SESSION_FILES",
    "export_session",
    "import_dawproject",
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
    printed: tuple[Multitrack, MixParams] | None = None,
) -> dict[str, Path]:
    """Write ``mix.wav``, ``recipe.json`` and ``report.md`` (``style.png`` with ``style``, and
    stems that have no file yet, to ``out/stems/``) as one :class:`~mixassist.fileio.OutputSet`:
    staged, then swapped in together, so a failure leaves the previous outputs whole; existing
    outputs are refused unless ``overwrite``, inputs always.  ``printed``: also the printed
    stems of these settings and the reverb return (:mod:`mixassist.stems`) in ``out/printed/``."""
    stems = {name: f"stems/{name}.wav" for name in stem_audio}
    printed_files = printed_names(printed[1].track_names) if printed is not None else {}
    names = [
        *SESSION_FILES.values(),
        *(["style.png"] if style is not None else []),
        *stems.values(),
        *printed_files.values(),
        *([RETURN_NAME] if printed is not None else []),
    ]
    check_output_format(out / SESSION_FILES["mix"], bit_depth)
    paths = {key: out / name for key, name in SESSION_FILES.items()}
    with OutputSet(out, names, overwrite=overwrite, protect=protect, retire=_old_printed(out)) as outputs:
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
        if printed is not None:
            multitrack, params = printed
            staged = {name: outputs.path(file) for name, file in printed_files.items()}
            print_stems(multitrack, params, staged, outputs.path(RETURN_NAME))
            paths["printed"] = out / PRINTED_FOLDER
    return paths


def _old_printed(out: Path) -> list[str]:
    """Earlier outputs of ours this run may replace or retire: ``style.png`` and printed stems."""
    folder = out / PRINTED_FOLDER
    old = sorted(f"{PRINTED_FOLDER}/{p.name}" for p in folder.glob("*.wav")) if folder.is_dir() else []
    return ["style.png", *old]


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
    printed: Sequence[str] = (),
) -> dict[str, Path]:
    """The files :meth:`MixResult.save` writes into ``out_dir``; raises ``OutputError`` now
    (before any work) if one exists and ``overwrite`` is false, would replace an input, or
    cannot be written: a file in the folder's way, an unwritable folder, a name too long,
    a bit depth other than 16/24/32, or less free space than ``needed_bytes``.
    ``style``: also ``style.png`` (the ``match`` method's plot); ``printed``: the track names
    whose printed stems (and the reverb return) will be written too."""
    out = Path(out_dir)
    names = {**SESSION_FILES, **({"style": "style.png"} if style else {})}
    extra = [*printed_names(list(printed)).values(), RETURN_NAME] if printed else []
    check_output_format(out / SESSION_FILES["mix"], bit_depth)
    OutputSet(out, [*names.values(), *extra], overwrite=overwrite, protect=protect)
    check_output_folder(out, [*names.values(), *extra], needed_bytes=needed_bytes)
    return {key: out / name for key, name in names.items()}


def mix_size_bytes(frames: int, bit_depth: int, *, channels: int = 2, stems: int = 0) -> int:
    """Estimated bytes a mix of ``frames`` at ``bit_depth`` writes (plus ``stems`` 32-bit stems
    of ``channels``), with room for the recipe, report and a plot."""
    audio = frames * channels * (bit_depth // 8)
    return audio + stems * frames * channels * 4 + 4 * 1024 * 1024


# ---------------------------------------------------------------------------------- exporters
#: The formats :func:`export_session` writes, with the output each expects.
EXPORT_FORMATS = {"stems": "a folder", "dawproject": "a .dawproject file"}
#: Largest ``project.xml`` or embedded recipe read from a DAWproject (a real one is a few hundred kB).
MAX_PROJECT_XML_BYTES = 64 * 1024 * 1024


def export_session(
    recipe_path: str | os.PathLike[str],
    output: str | os.PathLike[str],
    *,
    format: str,
    overwrite: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Path]:
    """Write a recipe's mix in another form: ``"stems"`` (the printed stems and the reverb return
    in ``output/printed/``) or ``"dawproject"`` (``output`` ending in ``.dawproject``).

    Everything about the outputs is checked before the stems are loaded; the files are written
    as one :class:`~mixassist.fileio.OutputSet`.  Returns ``{"printed": folder}`` or
    ``{"dawproject": file}``.
    """
    from mixassist.recipe import Recipe  # lazy: torch (see render)

    if format not in EXPORT_FORMATS:
        raise InvalidParameterError(f"format={format!r}: use one of {', '.join(EXPORT_FORMATS)}")
    output = Path(output)
    if format == "dawproject" and output.suffix.lower() != ".dawproject":
        raise OutputError("a DAWproject must end in .dawproject", output)
    recipe = Recipe.load(recipe_path)
    protect = [*recipe.stem_paths(), Path(recipe_path)]
    if format == "stems":
        files = printed_names(recipe.params.track_names)
        names = [*files.values(), RETURN_NAME]
        OutputSet(output, names, overwrite=overwrite, protect=protect)
        multitrack = recipe.load_stems()
        check_output_folder(
            output, names, needed_bytes=stems_size_bytes(multitrack.num_samples, len(recipe.params.track_names))
        )
        with OutputSet(output, names, overwrite=overwrite, protect=protect, retire=_old_printed(output)[1:]) as out:
            staged = {name: out.path(file) for name, file in files.items()}
            print_stems(multitrack, recipe.params, staged, out.path(RETURN_NAME), progress=progress)
        return {"printed": output / PRINTED_FOLDER}
    folder = output.parent
    OutputSet(folder, [output.name], overwrite=overwrite, protect=protect)
    multitrack = recipe.load_stems()
    check_output_folder(folder, [output.name], needed_bytes=stems_size_bytes(multitrack.num_samples, 0))
    data = recipe.to_dict(relative_to=folder)
    infos = {name: _stem_info(recipe.resolve(name), multitrack, name) for name in recipe.params.track_names}
    sends = any(recipe.params.tracks[n].get("reverb_send_db") is not None for n in recipe.params.track_names)
    with OutputSet(folder, [output.name], overwrite=overwrite, protect=protect) as out:
        scratch = None
        reverb = None
        if sends and out.staging is not None:
            scratch = out.staging / "reverb-return.wav"
            print_stems(multitrack, recipe.params, {}, scratch, progress=progress)
            reverb = StemInfo(2, multitrack.sample_rate, multitrack.num_samples / multitrack.sample_rate)
        with writing(output), zipfile.ZipFile(out.path(output.name), "w") as zf:
            zf.writestr("project.xml", project_xml(data, infos, reverb), zipfile.ZIP_DEFLATED)
            zf.writestr("metadata.xml", metadata_xml(Path(recipe_path).stem), zipfile.ZIP_DEFLATED)
            zf.writestr(EMBEDDED_RECIPE, json.dumps(data, indent=2, allow_nan=False) + "\n", zipfile.ZIP_DEFLATED)
            if scratch is not None:
                zf.write(scratch, EMBEDDED_RETURN, zipfile.ZIP_STORED)
    return {"dawproject": output}


def _stem_info(path: Path, multitrack: Multitrack, name: str) -> StemInfo:
    """What a clip states about its file: the file's own channels, rate and length (the session's
    values for files soundfile cannot open, such as ``.stem.mp4``)."""
    try:
        info = sf.info(str(path))
        return StemInfo(info.channels, info.samplerate, info.frames / info.samplerate)
    except (RuntimeError, OSError):
        t = multitrack[name]
        return StemInfo(t.audio.shape[0], multitrack.sample_rate, t.audio.shape[1] / multitrack.sample_rate)


def import_dawproject(
    path: str | os.PathLike[str], output: str | os.PathLike[str], *, overwrite: bool = False
) -> tuple[Recipe, ProjectContents]:
    """Read a DAWproject back into a recipe and write it to ``output`` (stem paths rewritten for
    its folder).

    The DAW's values (volumes, pans, EQ, compressors, sends, the master's devices) replace the
    recipe's; what the format cannot hold comes from the recipe embedded by :func:`export_session`
    (``mixassist/recipe.json``; neutral defaults without one).  Settings the DAW changed, or every
    setting it carries when there is no embedded recipe, are *locked* in the written recipe, so a
    new mix from it keeps them and solves the rest.
    """
    from mixassist.recipe import Recipe  # lazy: torch (see render)

    path, output = Path(path), Path(output)
    try:
        with zipfile.ZipFile(path) as zf:
            xml = _member(zf, "project.xml", path)
            embedded = None
            if EMBEDDED_RECIPE in zf.namelist():
                embedded = json.loads(_member(zf, EMBEDDED_RECIPE, path), parse_constant=_no_constant)
    except FileNotFoundError as err:
        raise RecipeError("no such DAWproject file", path) from err
    except (zipfile.BadZipFile, OSError) as err:
        raise RecipeError(f"not a DAWproject (a zip holding project.xml): {err}", path) from err
    except ValueError as err:
        raise RecipeError(f"{EMBEDDED_RECIPE} inside is not valid JSON ({err})", path) from err
    try:
        contents = read_project(xml, embedded if isinstance(embedded, dict) else None)
        recipe = Recipe.from_dict(contents.recipe, base_dir=path.parent)
    except MixAssistError as err:
        raise RecipeError(err.reason if err.path is None else str(err), path) from err
    with OutputSet(output.parent, [output.name], overwrite=overwrite, protect=[path, *recipe.stem_paths()]) as out:
        write_recipe(out.path(output.name), recipe, output.parent)
    return recipe, contents


def _member(zf: zipfile.ZipFile, name: str, path: Path) -> bytes:
    """One member of a container, refused when missing or larger than it should be."""
    try:
        info = zf.getinfo(name)
    except KeyError as err:
        raise RecipeError(f"not a DAWproject: no {name} inside", path) from err
    if info.file_size > MAX_PROJECT_XML_BYTES:
        raise RecipeError(f"{name} inside is {info.file_size} bytes; at most {MAX_PROJECT_XML_BYTES} are read", path)
    with zf.open(info) as member:
        data = member.read(MAX_PROJECT_XML_BYTES + 1)
    if len(data) > MAX_PROJECT_XML_BYTES:
        raise RecipeError(f"{name} inside is larger than {MAX_PROJECT_XML_BYTES} bytes", path)
    return data


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not allowed (strict JSON)")
