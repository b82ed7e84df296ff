"""Exporters: a recipe's mix in the forms a DAW reads (printed stems, a DAWproject session, a
REAPER project), and a DAWproject read back into a recipe. Each checks its outputs before the
stems are loaded and writes them as one :class:`~mixassist.fileio.OutputSet`."""

from __future__ import annotations

import json
import math
import os
import zipfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import soundfile as sf

from mixassist.audio.io import load_audio, open_soundfile
from mixassist.console.lanes import EQ_GAINS, lane_curve_numpy
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
from mixassist.outputs import EXPORT_FORMATS, PRINTED_FOLDER, RETURN_NAME, printed_names
from mixassist.reaper import REAPER_LANES, ReaperItem, reaper_project
from mixassist.report import decision_lines
from mixassist.session import old_printed, write_recipe
from mixassist.stems import print_stems, stems_size_bytes

if TYPE_CHECKING:
    from mixassist.audio.multitrack import Multitrack
    from mixassist.recipe import Recipe

__all__ = [
    "EXPORT_FORMATS",
    "LANE_TOLERANCE",
    "MAX_PROJECT_XML_BYTES",
    "export_session",
    "export_reaper",
    "import_dawproject",
    "lane_points",
]

#: How far straight lines between exported points may stray from a lane's curve, by parameter
#: (dB for every gain, send and EQ gain; pan units for pan).
LANE_TOLERANCE = {
    "gain_db": 0.01,
    "reverb_send_db": 0.01,
    "output_gain_db": 0.01,
    "pan": 0.001,
    **{name: 0.01 for name in EQ_GAINS},
}


def lane_points(lane: Mapping[str, Any], tolerance: float) -> list[tuple[float, float]]:
    """A lane's curve as points for a DAW that draws straight lines between them: the
    breakpoints, and each raised-cosine segment of height Δv cut into ``n`` pieces with
    ``π²·Δv / (16·n²) <= tolerance`` (the curve's greatest bend times ``h²/8``), so the lines
    stay within ``tolerance`` of the curve (in the lane's unit); a flat segment is one line."""
    times, values = [float(t) for t in lane["times_s"]], [float(v) for v in lane["values"]]
    grid = [times[0]]
    for t0, t1, v0, v1 in zip(times, times[1:], values, values[1:], strict=False):
        n = max(1, math.ceil(math.sqrt(math.pi**2 * abs(v1 - v0) / (16.0 * tolerance))))
        grid += [t0 + (t1 - t0) * k / n for k in range(1, n)] + [t1]
    curve = lane_curve_numpy(times, values, np.asarray(grid))
    return [(t, float(v)) for t, v in zip(grid, curve, strict=True)]


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
    if format == "reaper":
        return {"reaper": export_reaper(recipe_path, output, overwrite=overwrite)}
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
            output,
            names,
            needed_bytes=stems_size_bytes(
                multitrack.num_samples, len(recipe.params.track_names), multitrack.sample_rate
            ),
        )
        with OutputSet(output, names, overwrite=overwrite, protect=protect, retire=old_printed(output)) as out:
            staged = {name: out.path(file) for name, file in files.items()}
            print_stems(multitrack, recipe.params, staged, out.path(RETURN_NAME), progress=progress)
        return {"printed": output / PRINTED_FOLDER}
    folder = output.parent
    OutputSet(folder, [output.name], overwrite=overwrite, protect=protect)
    multitrack = recipe.load_stems()
    check_output_folder(
        folder, [output.name], needed_bytes=stems_size_bytes(multitrack.num_samples, 0, multitrack.sample_rate)
    )
    data = recipe.to_dict(relative_to=folder)
    infos = {name: _stem_info(recipe.resolve(name), multitrack, name) for name in recipe.params.track_names}
    sends = any(
        recipe.params.tracks[n].get("reverb_send_db") is not None or recipe.params.lane(n, "reverb_send_db")
        for n in recipe.params.track_names
    )
    with OutputSet(folder, [output.name], overwrite=overwrite, protect=protect) as out:
        scratch = None
        reverb = None
        if sends and out.staging is not None:
            scratch = out.staging / "reverb-return.wav"
            print_stems(multitrack, recipe.params, {}, scratch, progress=progress)
            printed = sf.info(str(scratch))  # the printed return: the song and the master's look-ahead
            reverb = StemInfo(2, printed.samplerate, printed.frames / printed.samplerate)
        with writing(output), zipfile.ZipFile(out.path(output.name), "w") as zf:
            automation = {
                t["name"]: {k: lane_points(lane, LANE_TOLERANCE[k]) for k, lane in (t.get("lanes") or {}).items()}
                for t in data["tracks"]
            }
            master_lanes = (data.get("master") or {}).get("lanes") or {}
            master = {k: lane_points(lane, LANE_TOLERANCE[k]) for k, lane in master_lanes.items()}
            xml = project_xml(data, infos, reverb, automation, master)
            zf.writestr("project.xml", xml, zipfile.ZIP_DEFLATED)
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


def _length_s(path: Path) -> float:
    """Seconds of audio in ``path``: from its header, or by decoding (MP4 through ffmpeg)."""
    try:
        handle, rate, _ = open_soundfile(path)
    except MixAssistError:
        audio, rate = load_audio(path)
        return audio.shape[-1] / rate
    with handle:
        return handle.frames / rate


def export_reaper(
    recipe_path: str | os.PathLike[str],
    out_path: str | os.PathLike[str],
    *,
    overwrite: bool = False,
    printed_dir: str | os.PathLike[str] | None = None,
) -> Path:
    """Write a recipe's REAPER project (``.rpp``, :mod:`mixassist.reaper`) to ``out_path``.

    Items point at the raw stems (paths relative to the project's folder), with the recipe's
    fader, pan, polarity and delay; sends go to a reverb bus; each track's reasons are its notes;
    printed stems, where ``printed_dir`` (default: ``printed/`` beside the recipe) holds them,
    sit on muted alternate tracks. A missing stem is one error naming it; an existing
    ``out_path`` is refused unless ``overwrite``, a stem or the recipe always.
    """
    from mixassist.recipe import Recipe  # lazy: torch (the console's parameter schema)

    recipe = Recipe.load(recipe_path)
    out = Path(out_path)
    folder = out.parent if str(out.parent) else Path(".")
    if out.suffix.lower() != ".rpp":
        raise InvalidParameterError(f"{out}: a REAPER project ends in .rpp; name it e.g. song.rpp")
    stems = recipe.stem_paths()
    OutputSet(folder, [out.name], overwrite=overwrite, protect=[*stems, Path(recipe_path)])
    check_output_folder(folder, [out.name])
    items: dict[str, list[ReaperItem]] = {}
    for name in recipe.params.track_names:
        files = [recipe.resolve(name), *([r] if (r := recipe.resolve_right(name)) is not None else [])]
        for f in files:
            if not f.is_file():
                raise RecipeError(f"stem '{name}' is missing ({f}); put it back or fix the recipe's path", recipe_path)
        sides = ["L", "R"] if len(files) == 2 else [""]
        items[name] = [
            ReaperItem(_relative(f, folder), _length_s(f), side) for f, side in zip(files, sides, strict=True)
        ]
    data = recipe.to_dict()
    notes = {
        section: decision_lines(recipe.why.get(section, {}), _section_params(data, section))
        for section in [*recipe.params.track_names, "reverb"]
        if recipe.why.get(section)
    }
    envelopes = {}
    for entry in data["tracks"]:
        unmapped = _unmapped_settings(entry["params"])
        lanes = entry.get("lanes") or {}
        envelopes[entry["name"]] = {
            k: lane_points(lane, LANE_TOLERANCE[k]) for k, lane in lanes.items() if k in REAPER_LANES
        }
        eq_lanes = [
            f"the {k} automation lane ({len(lane['times_s'])} points)" for k, lane in lanes.items() if k in EQ_GAINS
        ]
        if eq_lanes:
            unmapped = "; ".join(filter(None, [unmapped, *eq_lanes]))
        if unmapped:
            notes.setdefault(entry["name"], []).append(
                "Not carried (set by hand, or play the printed stem): " + unmapped
            )
    printed_folder = Path(printed_dir) if printed_dir is not None else recipe.base_dir / PRINTED_FOLDER
    found = {
        **{name: printed_folder / Path(file).name for name, file in printed_names(recipe.params.track_names).items()},
        "reverb": printed_folder / Path(RETURN_NAME).name,
    }
    printed = {key: ReaperItem(_relative(f, folder), _length_s(f)) for key, f in found.items() if f.is_file()}
    sections = (recipe.extra.get("context") or {}).get("sections") or []
    markers = [
        (float(s["start_s"]), str(s.get("label", s.get("name", f"section {i + 1}"))))
        for i, s in enumerate(sections)
        if isinstance(s, Mapping) and "start_s" in s
    ]
    master_gain = ((data.get("master") or {}).get("lanes") or {}).get("output_gain_db")
    text = reaper_project(
        data,
        items,
        notes=notes,
        project_notes=_project_notes(data, bool(printed)),
        printed=printed,
        markers=markers,
        envelopes=envelopes,
        master_envelope=lane_points(master_gain, LANE_TOLERANCE["output_gain_db"]) if master_gain else (),
    )
    with OutputSet(folder, [out.name], overwrite=overwrite, protect=[*stems, Path(recipe_path)]) as outputs:
        write_text_atomic(outputs.path(out.name), text)
    return out


def _relative(path: Path, folder: Path) -> str:
    """``path`` as the project names it: relative to the project's folder (REAPER resolves
    relative media paths against it), so the folder can move with its stems."""
    return Path(os.path.relpath(path.resolve(), folder.resolve())).as_posix()


def _section_params(data: Mapping[str, Any], section: str) -> Mapping[str, Any]:
    if section in ("reverb", "master"):
        return (data.get(section) or {}).get("params", {})
    return next((t["params"] for t in data["tracks"] if t["name"] == section), {})


def _project_notes(data: Mapping[str, Any], printed: bool) -> list[str]:
    """The project notes: what the file carries, what it cannot, and the master's settings."""
    lines = [
        f"mixassist {data.get('mixassist', '?')}: {len(data['tracks'])} tracks at {data['sample_rate']} Hz.",
        "Carried as REAPER settings: fader, pan, polarity, delay (item position), reverb sends (post-fader);",
        "automation of faders, pans, sends and the master output gain as envelopes.",
        "Not carried: EQ, compressor, width, the reverb and the master chain - ReaEQ/ReaComp/ReaVerbate keep",
        "their settings as undocumented binary state, so they are listed in the track notes (SWS Notes window)",
        "and here." + (" The printed stems (muted, folder 'printed (mixassist)') carry the sound." if printed else ""),
        "The reverb bus is muted: insert a reverb on it, then unmute it.",
    ]
    eq_lanes = [f"{t['name']}.{k}" for t in data["tracks"] for k in (t.get("lanes") or {}) if k in EQ_GAINS]
    if eq_lanes:
        lines.append(f"Not carried: the EQ-gain automation lanes {', '.join(eq_lanes)} (no EQ settings can be).")
    lines += ["", "Master bus:"]
    master = data.get("master") or {}
    lines += [f"  {_unmapped_settings(master.get('params') or {}) or 'neutral'}"]
    for name, lane in (master.get("lanes") or {}).items():
        if name == "output_gain_db":
            lines.append(f"  {name} automation lane: the master volume envelope ({len(lane['times_s'])} points)")
        else:
            lines.append(f"  {name} automation lane (not carried): {len(lane['times_s'])} points in the recipe")
    lines += decision_lines(master.get("why") or {}, master.get("params") or {})
    reverb = data.get("reverb") or {}
    lines += ["", "Reverb bus:", *(f"  {k} = {v}" for k, v in (reverb.get("params") or {}).items())]
    return lines


_EQ_BANDS = ("low_shelf", "peak1", "peak2", "peak3", "peak4", "high_shelf")


def _unmapped_settings(p: Mapping[str, Any]) -> str:
    """The settings of a strip or the master that a REAPER project cannot hold as text, in their
    units (EQ bands that cut or boost, high- and low-pass, compressor, width, mid/side, drive, output,
    limiter)."""
    parts = []
    if p.get("hpf_hz") is not None:
        parts.append(f"high-pass {p['hpf_hz']:.0f} Hz")
    if p.get("lpf_hz") is not None:
        parts.append(f"low-pass {p['lpf_hz']:.0f} Hz (24 dB/octave)")
    for band in _EQ_BANDS:
        if p.get(f"eq_{band}_db"):
            parts.append(
                f"EQ {band} {p[f'eq_{band}_db']:+.1f} dB @ {p[f'eq_{band}_hz']:.0f} Hz Q {p[f'eq_{band}_q']:g}"
            )
    if (p.get("comp_ratio") or 1.0) > 1.0:
        parts.append(
            f"compressor {p['comp_ratio']:g}:1 @ {p['comp_threshold_db']:.1f} dB, attack {p['comp_attack_ms']:g} ms, "
            f"release {p['comp_release_ms']:g} ms, knee {p['comp_knee_db']:g} dB, make-up {p.get('comp_makeup_db', 0):g} dB"
        )
    if p.get("width", 1.0) != 1.0:
        parts.append(f"width {p['width']:g}")
    if p.get("side_gain_db"):
        parts.append(f"mid/side: side {p['side_gain_db']:+.1f} dB")
    if p.get("side_hpf_hz") is not None:
        parts.append(f"side high-pass {p['side_hpf_hz']:.0f} Hz (mono below)")
    if p.get("drive_db"):
        parts.append(f"saturation drive {p['drive_db']:.1f} dB (tanh)")
    if p.get("output_gain_db"):
        parts.append(f"output gain {p['output_gain_db']:+.1f} dB")
    if p.get("limiter_ceiling_dbtp") is not None:
        parts.append(f"true-peak limiter at {p['limiter_ceiling_dbtp']:g} dBTP")
    return "; ".join(parts)
