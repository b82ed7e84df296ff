"""Writing a session: the recipe of a mix (stem paths, locks, reasons) and its files
(``mix.wav``, ``recipe.json``, ``report.md``, ``report.html`` and ``previews/``, optional
``style.png`` and stems) replaced as one :class:`~mixassist.fileio.OutputSet`, checked before
any work is done; a recipe's REAPER project (:func:`export_reaper`); the settings a new mix
resumes from a recipe with (:func:`resume_settings`)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mixassist.audio.io import check_output_format, load_audio, open_soundfile, save_audio
from mixassist.errors import InvalidParameterError, MixAssistError, RecipeError
from mixassist.fileio import OutputSet, check_output_folder, write_text_atomic
from mixassist.previews import PREVIEW_FOLDER, Preview
from mixassist.reaper import ReaperItem, reaper_project
from mixassist.report import decision_lines, style_plot
from mixassist.report_html import render_html

if TYPE_CHECKING:
    from mixassist.audio.multitrack import Multitrack
    from mixassist.console.params import MixParams
    from mixassist.mixers.constraints import Constraints
    from mixassist.recipe import Recipe

__all__ = [
    "PRINTED_FOLDER",
    "SESSION_FILES",
    "ResumeSettings",
    "check_mix_outputs",
    "export_reaper",
    "resume_settings",
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
    previews: Sequence[Preview] = (),
    measured: Mapping[str, Any] | None = None,
) -> dict[str, Path]:
    """Write ``mix.wav``, ``recipe.json`` and ``report.md`` (``style.png`` with ``style``, and
    stems that have no file yet, to ``out/stems/``) as one :class:`~mixassist.fileio.OutputSet`:
    staged, then swapped in together, so a failure leaves the previous outputs whole; existing
    outputs are refused unless ``overwrite``, inputs always. With ``measured`` (the mix's
    measurements) also ``report.html``, its players playing ``previews`` (24-bit FLAC files in
    ``out/previews/``); previews of an earlier run that this one does not write are removed."""
    stems = {name: f"stems/{name}.wav" for name in stem_audio}
    html = measured is not None
    names = [
        *SESSION_FILES.values(),
        *(["style.png"] if style is not None else []),
        *(["report.html"] if html else []),
        *(p.name for p in previews),
        *stems.values(),
    ]
    check_output_format(out / SESSION_FILES["mix"], bit_depth)
    paths = {key: out / name for key, name in SESSION_FILES.items()}
    old_previews = [f.relative_to(out).as_posix() for f in sorted((out / PREVIEW_FOLDER).rglob("*.flac"))]
    retire = ["style.png", "report.html", *old_previews]
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
        for preview in previews:
            save_audio(outputs.path(preview.name), preview.audio, preview.sample_rate, 24)
        if previews:
            paths["previews"] = out / PREVIEW_FOLDER
        if measured is not None:
            page = render_html(recipe.to_dict(relative_to=out), measured, previews, style_png=png)
            write_text_atomic(outputs.path("report.html"), page)
            paths["html"] = out / "report.html"
    return paths


#: The files :meth:`MixResult.save` and :meth:`ReverseMixResult.save` write, by key.
SESSION_FILES = {"mix": "mix.wav", "recipe": "recipe.json", "report": "report.md"}


def check_mix_outputs(
    out_dir: str | os.PathLike[str],
    protect: Iterable[Path] = (),
    *,
    overwrite: bool = False,
    style: bool = False,
    html: bool = False,
    bit_depth: int = 24,
    needed_bytes: int = 0,
) -> dict[str, Path]:
    """The files :meth:`MixResult.save` writes into ``out_dir``; raises ``OutputError`` now
    (before any work) if one exists and ``overwrite`` is false, would replace an input, or
    cannot be written: a file in the folder's way, an unwritable folder, a name too long,
    a bit depth other than 16/24/32, or less free space than ``needed_bytes``.
    ``style``: also ``style.png`` (the ``match`` method's plot); ``html``: also ``report.html``
    (a mix's page; its previews are checked when they are written)."""
    out = Path(out_dir)
    names = {**SESSION_FILES, **({"style": "style.png"} if style else {}), **({"html": "report.html"} if html else {})}
    check_output_format(out / SESSION_FILES["mix"], bit_depth)
    OutputSet(out, names.values(), overwrite=overwrite, protect=protect)
    check_output_folder(out, names.values(), needed_bytes=needed_bytes)
    return {key: out / name for key, name in names.items()}


def mix_size_bytes(frames: int, bit_depth: int, *, channels: int = 2, stems: int = 0, previews: int = 0) -> int:
    """Estimated bytes a mix of ``frames`` at ``bit_depth`` writes (plus ``stems`` 32-bit stems
    of ``channels`` and ``previews`` full-length 24-bit previews, counted uncompressed), with room
    for the recipe, the reports and a plot."""
    audio = frames * channels * (bit_depth // 8)
    return audio + stems * frames * channels * 4 + previews * frames * channels * 3 + 4 * 1024 * 1024


#: Folder (beside the recipe) where printed stems are looked for: ``NAME.wav`` per track and
#: ``reverb.wav`` for the reverb return.
PRINTED_FOLDER = "printed"


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
    for entry in data["tracks"]:
        unmapped = _unmapped_settings(entry["params"])
        if unmapped:
            notes.setdefault(entry["name"], []).append(
                "Not carried (set by hand, or play the printed stem): " + unmapped
            )
    printed_folder = Path(printed_dir) if printed_dir is not None else recipe.base_dir / PRINTED_FOLDER
    printed = {
        key: ReaperItem(_relative(f, folder), _length_s(f))
        for key in [*recipe.params.track_names, "reverb"]
        if (f := printed_folder / f"{key}.wav").is_file()
    }
    sections = (recipe.extra.get("context") or {}).get("sections") or []
    markers = [
        (float(s["start_s"]), str(s.get("name", f"section {i + 1}")))
        for i, s in enumerate(sections)
        if isinstance(s, Mapping) and "start_s" in s
    ]
    text = reaper_project(
        data,
        items,
        notes=notes,
        project_notes=_project_notes(data, bool(printed)),
        printed=printed,
        markers=markers,
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
        "Carried as REAPER settings: fader, pan, polarity, delay (item position), reverb sends (post-fader).",
        "Not carried: EQ, compressor, width, the reverb and the master chain - ReaEQ/ReaComp/ReaVerbate keep",
        "their settings as undocumented binary state, so they are listed in the track notes (SWS Notes window)",
        "and here." + (" The printed stems (muted, folder 'printed (mixassist)') carry the sound." if printed else ""),
        "The reverb bus is muted: insert a reverb on it, then unmute it.",
        "",
        "Master bus:",
    ]
    master = data.get("master") or {}
    lines += [f"  {_unmapped_settings(master.get('params') or {}) or 'neutral'}"]
    lines += decision_lines(master.get("why") or {}, master.get("params") or {})
    reverb = data.get("reverb") or {}
    lines += ["", "Reverb bus:", *(f"  {k} = {v}" for k, v in (reverb.get("params") or {}).items())]
    return lines


_EQ_BANDS = ("low_shelf", "peak1", "peak2", "peak3", "peak4", "high_shelf")


def _unmapped_settings(p: Mapping[str, Any]) -> str:
    """The settings of a strip or the master that a REAPER project cannot hold as text, in their
    units (EQ bands that cut or boost, high-pass, compressor, width, output, limiter)."""
    parts = []
    if p.get("hpf_hz") is not None:
        parts.append(f"high-pass {p['hpf_hz']:.0f} Hz")
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
    if p.get("output_gain_db"):
        parts.append(f"output gain {p['output_gain_db']:+.1f} dB")
    if p.get("limiter_ceiling_dbtp") is not None:
        parts.append(f"true-peak limiter at {p['limiter_ceiling_dbtp']:g} dBTP")
    return "; ".join(parts)


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
