"""What a session writes, and the checks made before any work: the file names of a mix, its
printed stems and the export formats; the audio format, the folder, free space and inputs
(:class:`~mixassist.fileio.OutputSet`). Light on purpose: the CLI runs these checks before it
imports numpy or torch, so a bad option fails in a moment."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Sequence
from pathlib import Path

from mixassist.errors import OutputError
from mixassist.fileio import OutputSet, check_output_folder

__all__ = [
    "BIT_DEPTHS",
    "EXPORT_FORMATS",
    "LANE_PLOT_FOLDER",
    "PRINTED_FOLDER",
    "RETURN_NAME",
    "SESSION_FILES",
    "check_mix_outputs",
    "check_output_format",
    "check_render_outputs",
    "lane_plot_names",
    "mix_size_bytes",
    "printed_names",
]

#: Bit depths the audio writer takes: 16 or 24-bit PCM (dithered) or 32-bit float (WAV only).
BIT_DEPTHS = (16, 24, 32)
#: The files a mix (``MixResult.save``) or a reverse (``ReverseMixResult.save``) writes, by key.
SESSION_FILES = {"mix": "mix.wav", "recipe": "recipe.json", "report": "report.md"}


def check_output_format(path: str | os.PathLike[str], bit_depth: int) -> None:
    """Refuse, before any work, an audio output that cannot be written: an extension other
    than ``.wav``/``.flac``, a bit depth other than 16, 24 or 32, or 32-bit FLAC."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".wav", ".flac"):
        raise OutputError("output must end in .wav or .flac", path)
    if isinstance(bit_depth, bool) or bit_depth not in BIT_DEPTHS:
        raise OutputError(f"bit_depth={bit_depth} is not one of 16, 24, 32 (--bit-depth)", path)
    if suffix == ".flac" and bit_depth == 32:
        raise OutputError("FLAC cannot hold 32-bit float; use bit_depth=24 or a .wav file", path)


def check_mix_outputs(
    out_dir: str | os.PathLike[str],
    protect: Iterable[Path] = (),
    *,
    overwrite: bool = False,
    style: bool = False,
    html: bool = False,
    bit_depth: int = 24,
    needed_bytes: int = 0,
    printed: Sequence[str] = (),
) -> dict[str, Path]:
    """The files a mix session writes into ``out_dir`` (:data:`SESSION_FILES`); raises
    ``OutputError`` now (before any work) if one exists and ``overwrite`` is false, would replace
    an input, or cannot be written: a file in the folder's way, an unwritable folder, a name too
    long, a bit depth other than 16/24/32, or less free space than ``needed_bytes``.
    ``style``: also ``style.png`` (the ``match`` method's plot); ``html``: also ``report.html``
    (a mix's page; its previews are checked when they are written); ``printed``: the track names
    whose printed stems (and the reverb return) will be written too."""
    out = Path(out_dir)
    names = {**SESSION_FILES, **({"style": "style.png"} if style else {}), **({"html": "report.html"} if html else {})}
    check_output_format(out / SESSION_FILES["mix"], bit_depth)
    extra = [*printed_names(list(printed)).values(), RETURN_NAME] if printed else []
    OutputSet(out, [*names.values(), *extra], overwrite=overwrite, protect=protect)
    check_output_folder(out, [*names.values(), *extra], needed_bytes=needed_bytes)
    return {key: out / name for key, name in names.items()}


def check_render_outputs(
    output: str | os.PathLike[str],
    *,
    bit_depth: int = 24,
    overwrite: bool = False,
    save_recipe: str | os.PathLike[str] | None = None,
    protect: Iterable[Path] = (),
) -> dict[Path, list[str]]:
    """Check, before any work, the outputs of a render: the mix file ``output`` (format as
    :func:`check_output_format`) and, if given, ``save_recipe``.  Returns ``{folder: [names]}``,
    the files to write per folder; raises ``OutputError`` as :func:`check_mix_outputs`."""
    output = Path(output)
    check_output_format(output, bit_depth)
    groups: dict[Path, list[str]] = {output.parent: [output.name]}
    if save_recipe is not None:
        groups.setdefault(Path(save_recipe).parent, []).append(Path(save_recipe).name)
    protect = list(protect)
    for folder, names in groups.items():
        OutputSet(folder, names, overwrite=overwrite, protect=protect)
        check_output_folder(folder, names)
    return groups


def mix_size_bytes(frames: int, bit_depth: int, *, channels: int = 2, stems: int = 0, previews: int = 0) -> int:
    """Estimated bytes a mix of ``frames`` at ``bit_depth`` writes (plus ``stems`` 32-bit stems
    of ``channels`` and ``previews`` full-length 24-bit previews, counted uncompressed), with room
    for the recipe, the reports and a plot."""
    audio = frames * channels * (bit_depth // 8)
    return audio + stems * frames * channels * 4 + previews * frames * channels * 3 + 4 * 1024 * 1024


#: Folder (inside the output folder) that holds the printed stems.
PRINTED_FOLDER = "printed"
#: The reverb return's file, beside the printed stems.
RETURN_NAME = f"{PRINTED_FOLDER}/reverb-return.wav"
#: Characters kept in a file name; others become ``_``.
_UNSAFE = re.compile(r"[^A-Za-z0-9._ +-]")


def printed_names(track_names: Sequence[str]) -> dict[str, str]:
    """``{track: "printed/NN-name.wav"}`` in console order (numbered, so names never collide with
    :data:`RETURN_NAME` or with each other after unsafe characters are replaced)."""
    width = max(2, len(str(len(track_names))))
    return {
        name: f"{PRINTED_FOLDER}/{i:0{width}d}-{_UNSAFE.sub('_', name).strip(' .') or 'track'}.wav"
        for i, name in enumerate(track_names, start=1)
    }


#: Folder (inside the output folder) that holds the automation plots (one PNG per automated track).
LANE_PLOT_FOLDER = "automation"


def lane_plot_names(track_names: Sequence[str], automated: Iterable[str]) -> dict[str, str]:
    """``{owner: "automation/NN-name.png"}`` for the ``automated`` owners (track names, or
    ``"master"`` → ``automation/master.png``), numbered in console order like :func:`printed_names`."""
    wanted = set(automated)
    names = {
        name: f"{LANE_PLOT_FOLDER}/{Path(file).stem}.png"
        for name, file in printed_names(list(track_names)).items()
        if name in wanted
    }
    return {**names, **({"master": f"{LANE_PLOT_FOLDER}/master.png"} if "master" in wanted else {})}


#: The formats ``mixassist export`` writes (:func:`mixassist.export.export_session`), with the output each expects.
EXPORT_FORMATS = {"stems": "a folder", "dawproject": "a .dawproject file", "reaper": "a .rpp file"}
