"""The JSON mix recipe: the contract with the user and with other tools.

Version 5 adds the processors that reach what references ask (issue 19): track ``lpf_hz`` and
``drive_db``, master ``lpf_hz``, ``side_gain_db``, ``side_hpf_hz`` and ``drive_db``; their
defaults are exact bypasses, so files of version 4 and older (which may name them only at those
neutral values) render as
they always did.  Version 4 adds automation: ``lanes`` per track and on the master (version 3
files, which have none, render as they always did; version 2 files, which lack ``dc_block``, and version 1 files,
which also lack the ``why``/``locked``/``role``/``measured`` keys and the top-level ``context``,
are still read and render as they always did: without the console's DC blockers)::

    {"version": 5, "sample_rate": 44100, "mixassist": "0.1.0", "dc_block": true,
     "tracks": [{"name": "vox", "file": "stems/vox.wav", "role": "lead",
                 "params": {"gain_db": -3.0, "pan": 0.0},
                 "why": {"gain_db": "-3.0 dB puts vox -4.1 phon relative to the mix ..."},
                 "locked": ["pan", "gain_db@30-45"],
                 "lanes": {"gain_db": {"times_s": [0.0, 12.5, 13.0], "values": [-3.0, -3.0, -1.5]}},
                 "measured": {"analysis": {"integrated_lufs": -21.3, ...}}}],
     "reverb": {"seed": 0, "params": {"rt60_mid_s": 1.5}, "why": {...}, "locked": []},
     "master": {"params": {"limiter_ceiling_dbtp": -1.0}, "why": {...}, "locked": []},
     "context": {"method": "rules", "loudness_lufs": -14.0, ...},
     "alignment": {...}, "result": {"integrated_lufs": -14.0, ...}, "notes": ["..."]}

A track merged from a left/right pair of mono files names both, left first:
``"file": ["stems/piano_L.wav", "stems/piano_R.wav"]``.  A lane (:mod:`mixassist.console.lanes`)
moves an automatable setting (track ``gain_db``, ``pan``, ``reverb_send_db``; master
``output_gain_db``; the EQ bands' gains ``eq_<band>_db`` on both) through its breakpoints; the setting's ``params`` value stays as its base.  A
``why`` key or a ``locked`` entry may name a span of a lane, ``PARAM@START-STOP`` (seconds).  File paths are relative to the recipe's folder; missing parameters take their neutral
defaults; unknown names and out-of-range values are refused with the allowed range; a
``why`` or ``locked`` entry must name a real parameter.  Written as strict JSON (no
NaN/Infinity), atomically.  ``mixassist render recipe.json`` renders ``params`` and nothing
else: reasons, locks and measurements document the mix, they never change its sound.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mixassist.audio.io import check_sample_rate, load_audio
from mixassist.audio.multitrack import Multitrack, merge_pair
from mixassist.audio.spool import Spooler
from mixassist.console.lanes import AUTOMATABLE, parse_span
from mixassist.console.params import MixParams
from mixassist.console.schema import params_for
from mixassist.errors import MixAssistError, OutputError, RecipeError
from mixassist.fileio import write_text_atomic
from mixassist.version import __version__

__all__ = ["RECIPE_VERSION", "Recipe"]

RECIPE_VERSION = 5
_READABLE_VERSIONS = (1, 2, 3, 4, 5)
#: The first version with the low-passes, drives and mid/side width, and the settings it added.
_REACH_VERSION = 5
_REACH_NAMES = {"track": ("lpf_hz", "drive_db"), "master": ("lpf_hz", "side_gain_db", "side_hpf_hz", "drive_db")}
#: The first version with automation lanes.
_LANES_VERSION = 4
#: The first version whose mixes run the console's DC blockers (``dc_block``, on unless it says false).
_DC_BLOCK_VERSION = 3
_TRACK_KEYS = {"name", "file", "params", "role", "why", "locked", "measured", "lanes"}
_BUS_KEYS = {"params", "why", "locked", "seed", "lanes"}
#: Deepest JSON nesting a recipe file may have (a real one has about 6 levels).
MAX_NESTING = 64


@dataclass
class Recipe:
    """A mix: where the stems are and every console setting.

    Attributes
    ----------
    sample_rate : int
        Session rate in Hz; stems at other rates are resampled on load.
    files : dict of str to Path
        Track name → stem file (absolute, or relative to ``base_dir``); for a track merged
        from a left/right pair, the left file.
    params : MixParams
        Every setting; track order is console order.
    base_dir : Path
        Folder relative paths are resolved against (the recipe's folder).
    why : dict
        ``{section: {param: reason}}``; a section is a track name, ``"reverb"`` or ``"master"``.
    locked : dict
        ``{section: [param, ...]}``: settings the user locked.
    roles : dict
        ``{track: role}``.
    measured : dict
        ``{track: {...}}``: the measurements behind the decisions.
    right_files : dict of str to Path
        Track name → the right-channel file of a track merged from a left/right pair.
    extra : dict
        Other top-level keys (``context``, ``alignment``, ``result``, ``notes``; kept on save).
    """

    sample_rate: int
    files: dict[str, Path]
    params: MixParams
    base_dir: Path = field(default_factory=Path)
    extra: dict[str, Any] = field(default_factory=dict)
    why: dict[str, dict[str, str]] = field(default_factory=dict)
    locked: dict[str, list[str]] = field(default_factory=dict)
    roles: dict[str, str] = field(default_factory=dict)
    measured: dict[str, dict[str, Any]] = field(default_factory=dict)
    right_files: dict[str, Path] = field(default_factory=dict)

    # ------------------------------------------------------------------ reading
    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Recipe:
        """Read and validate a recipe file."""
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError as err:
            raise RecipeError("no such recipe file", path) from err
        except (OSError, UnicodeDecodeError) as err:
            raise RecipeError(f"cannot read ({err})", path) from err
        depth = _nesting_depth(text)
        if depth > MAX_NESTING:
            raise RecipeError(f"JSON nested {depth} levels deep; a recipe needs at most {MAX_NESTING}", path)
        try:
            data = json.loads(text, parse_constant=_reject_constant)
        except json.JSONDecodeError as err:
            raise RecipeError(f"not valid JSON: line {err.lineno} column {err.colno}: {err.msg}", path) from err
        except (ValueError, RecursionError) as err:
            raise RecipeError(str(err) or "not valid JSON", path) from err
        try:
            return cls.from_dict(data, base_dir=path.parent)
        except MixAssistError as err:
            raise RecipeError(err.reason if err.path is None else str(err), path) from err

    @classmethod
    def from_dict(cls, data: Any, base_dir: str | os.PathLike[str] = ".") -> Recipe:
        if not isinstance(data, Mapping):
            raise RecipeError("a recipe must be a JSON object")
        version = data.get("version")
        if version not in _READABLE_VERSIONS:
            raise RecipeError(
                f"unsupported recipe version {version!r}; this mixassist reads versions "
                f"{', '.join(map(str, _READABLE_VERSIONS))}"
            )
        rate = data.get("sample_rate")
        if not isinstance(rate, int) or isinstance(rate, bool):
            raise RecipeError(f"sample_rate must be a whole number of Hz, got {rate!r}")
        check_sample_rate(rate)
        tracks = data.get("tracks")
        if not isinstance(tracks, list) or not tracks:
            raise RecipeError("'tracks' must be a non-empty list")
        files: dict[str, Path] = {}
        right_files: dict[str, Path] = {}
        settings: dict[str, Mapping[str, Any]] = {}
        why: dict[str, dict[str, str]] = {}
        locked: dict[str, list[str]] = {}
        roles: dict[str, str] = {}
        measured: dict[str, dict[str, Any]] = {}
        lanes: dict[str, Any] = {}
        for i, entry in enumerate(tracks):
            file = entry.get("file") if isinstance(entry, Mapping) else None
            pair = isinstance(file, list) and len(file) == 2 and all(isinstance(f, str) for f in file)
            if (
                not isinstance(entry, Mapping)
                or not isinstance(entry.get("name"), str)
                or not (isinstance(file, str) or pair)
            ):
                raise RecipeError(
                    f"tracks[{i}] needs a string 'name' and a 'file': a path, or a list of two (left, right)"
                )
            name = entry["name"]
            if name in files:
                raise RecipeError(f"track name '{name}' appears twice")
            allowed = _TRACK_KEYS if version >= 2 else {"name", "file", "params"}
            unknown = set(entry) - allowed
            if unknown:
                raise RecipeError(f"tracks[{i}] ('{name}'): unknown key(s) {', '.join(sorted(unknown))}")
            if isinstance(file, list):
                files[name], right_files[name] = Path(file[0]), Path(file[1])
            elif isinstance(file, str):
                files[name] = Path(file)
            settings[name] = _section(entry.get("params", {}), f"track '{name}'")
            _since_reach(entry, f"track '{name}'", "track", version)
            _annotations(entry, name, "track", why, locked)
            _lanes(entry, name, version, lanes)
            if "role" in entry:
                if not isinstance(entry["role"], str):
                    raise RecipeError(f"track '{name}': 'role' must be a string")
                roles[name] = entry["role"]
            if "measured" in entry:
                if not isinstance(entry["measured"], Mapping):
                    raise RecipeError(f"track '{name}': 'measured' must be an object")
                measured[name] = dict(entry["measured"])
        reverb = data.get("reverb", {}) or {}
        master = data.get("master", {}) or {}
        for bus, section in (("reverb", reverb), ("master", master)):
            if not isinstance(section, Mapping):
                raise RecipeError(f"'{bus}' must be an object")
            unknown = set(section) - (_BUS_KEYS if version >= 2 else {"params", "seed"})
            if unknown:
                raise RecipeError(f"{bus}: unknown key(s) {', '.join(sorted(unknown))}")
            _annotations(section, bus, bus, why, locked)
            _since_reach(section, bus, bus, version)
            if bus == "reverb" and "lanes" in section:
                raise RecipeError("reverb: no reverb setting can be automated; 'lanes' belong to tracks and the master")
            _lanes(section, bus, version, lanes)
        params = MixParams(
            list(files),
            tracks=settings,
            reverb=_section(reverb.get("params", {}), "reverb"),
            master=_section(master.get("params", {}), "master"),
            reverb_seed=_seed(reverb.get("seed", 0)),
            dc_block=_dc_block(data, version),
            lanes=lanes,
        )
        core = {"version", "sample_rate", "tracks", "reverb", "master", "dc_block"}
        extra = {k: v for k, v in data.items() if k not in core}
        return cls(
            sample_rate=rate,
            files=files,
            params=params,
            base_dir=Path(base_dir),
            extra=extra,
            why=why,
            locked=locked,
            roles=roles,
            measured=measured,
            right_files=right_files,
        )

    def resolve(self, name: str) -> Path:
        """Absolute-or-cwd-relative path of a track's stem."""
        f = self.files[name]
        return f if f.is_absolute() else self.base_dir / f

    def resolve_right(self, name: str) -> Path | None:
        """Like :meth:`resolve`, for the right-channel file of a merged pair (else None)."""
        f = self.right_files.get(name)
        if f is None:
            return None
        return f if f.is_absolute() else self.base_dir / f

    def stem_paths(self, names: Iterable[str] | None = None) -> list[Path]:
        """Every stem file the recipe reads for ``names`` (default: all tracks), both files of
        a merged pair."""
        chosen = self.files if names is None else names
        return [p for n in chosen for p in (self.resolve(n), self.resolve_right(n)) if p is not None]

    def load_stems(self, *, downmix: bool = False, spool: bool | None = None) -> Multitrack:
        """Decode every stem at the recipe's sample rate, zero-padded to the longest; a long
        session's stems are spooled to temporary files as ``load_multitrack`` does (``spool``)."""
        held = Spooler(spool)
        sources, right_sources = {}, {}
        for name in self.params.track_names:
            path = self.resolve(name)
            audio, _ = load_audio(path, sample_rate=self.sample_rate, downmix=downmix)
            sources[name] = path
            right = self.resolve_right(name)
            if right is not None:
                right_audio, _ = load_audio(right, sample_rate=self.sample_rate, downmix=downmix)
                try:
                    audio = merge_pair(audio, right_audio, name)
                except MixAssistError as err:
                    raise RecipeError(f"{err.reason}; the recipe names them as one stereo track", right) from err
                del right_audio
                right_sources[name] = right
            held.add(name, audio)
            del audio
        return Multitrack.from_arrays(held.items, self.sample_rate, sources, right_sources)

    # ------------------------------------------------------------------ writing
    def to_dict(self, relative_to: str | os.PathLike[str] | None = None) -> dict[str, Any]:
        """The recipe as JSON-ready data; with ``relative_to``, relative stem paths are
        rewritten to be relative to that folder (absolute paths stay absolute)."""
        p = self.params.to_dict()
        files = dict(self.files)
        right_files = dict(self.right_files)
        if relative_to is not None:
            for name, f in files.items():
                if not f.is_absolute():
                    files[name] = Path(os.path.relpath(self.resolve(name), relative_to))
            for name, f in right_files.items():
                right = self.resolve_right(name)
                if not f.is_absolute() and right is not None:
                    right_files[name] = Path(os.path.relpath(right, relative_to))

        def track(n: str) -> dict[str, Any]:
            file: str | list[str] = files[n].as_posix()
            if n in right_files:
                file = [files[n].as_posix(), right_files[n].as_posix()]
            entry: dict[str, Any] = {"name": n, "file": file}
            if n in self.roles:
                entry["role"] = self.roles[n]
            entry["params"] = p["tracks"][n]
            entry.update(self._notes_for(n))
            if n in p.get("lanes", {}):
                entry["lanes"] = p["lanes"][n]
            if n in self.measured:
                entry["measured"] = self.measured[n]
            return entry

        extra = {k: v for k, v in self.extra.items() if k != "mixassist"}
        return _strict(
            {
                "version": RECIPE_VERSION,
                "sample_rate": self.sample_rate,
                "mixassist": __version__,
                "dc_block": self.params.dc_block,
                "tracks": [track(n) for n in self.params.track_names],
                "reverb": {"seed": self.params.reverb_seed, "params": p["reverb"], **self._notes_for("reverb")},
                "master": {
                    "params": p["master"],
                    **self._notes_for("master"),
                    **({"lanes": p["lanes"]["master"]} if "master" in p.get("lanes", {}) else {}),
                },
                **extra,
            }
        )

    def _notes_for(self, section: str) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.why.get(section):
            out["why"] = dict(self.why[section])
        if self.locked.get(section):
            out["locked"] = list(self.locked[section])
        return out

    def save(self, path: str | os.PathLike[str], *, overwrite: bool = False) -> None:
        """Write strict JSON atomically (temporary file in the same folder, then rename).

        Relative stem paths are rewritten relative to the new file's folder, so the saved
        recipe still finds its stems.
        """
        path = Path(path)
        if path.exists() and not overwrite:
            raise OutputError("already exists; choose another name or allow overwriting", path)
        folder = path.parent if str(path.parent) else Path(".")
        write_text_atomic(path, json.dumps(self.to_dict(relative_to=folder), indent=2, allow_nan=False) + "\n")


def _dc_block(data: Mapping[str, Any], version: int) -> bool:
    """Whether the recipe's mix runs the DC blockers: never before version 3 (so old recipes
    render bit for bit as they did), from version 3 as ``dc_block`` says (default true)."""
    if version < _DC_BLOCK_VERSION:
        if "dc_block" in data:
            raise RecipeError(f"'dc_block' needs recipe version {_DC_BLOCK_VERSION}; this file says {version}")
        return False
    value = data.get("dc_block", True)
    if not isinstance(value, bool):
        raise RecipeError(f"dc_block={value!r} must be true or false")
    return value


def _since_reach(entry: Mapping[str, Any], where: str, kind: str, version: int) -> None:
    """Refuse the settings of version 5 in an older file unless they are at their neutral value
    (null, or 0 dB: what such a file renders with anyway; tools that write every setting of
    ``MixParams.to_dict`` under an older version stay readable).  A moved one, or a lock or reason
    for one, makes the file lie about its version."""
    if version >= _REACH_VERSION:
        return
    params = entry.get("params") or {}
    named = [*(entry.get("why") or {}), *(entry.get("locked") or [])]
    for name in _REACH_NAMES.get(kind, ()):
        if name in named or params.get(name, params_for(kind)[name].default) != params_for(kind)[name].default:
            raise RecipeError(
                f"{where}: '{name}' needs recipe version {_REACH_VERSION}; this file says {version} "
                f'(set "version": {_REACH_VERSION})'
            )


def _lanes(entry: Mapping[str, Any], section: str, version: int, lanes: dict[str, Any]) -> None:
    """Collect the ``lanes`` of one recipe section (validated by ``MixParams``)."""
    if "lanes" not in entry:
        return
    if version < _LANES_VERSION:
        raise RecipeError(f"{section}: 'lanes' need recipe version {_LANES_VERSION}; this file says {version}")
    value = entry["lanes"]
    if not isinstance(value, Mapping):
        raise RecipeError(f"{section}: 'lanes' must be an object of parameter: {{times_s, values}}")
    lanes[section] = dict(value)


def _known(name: str, table: Mapping[str, Any], kind: str) -> bool:
    """A setting's name, or an automatable one's span ``PARAM@START-STOP``."""
    param, at, span = name.partition("@")
    if not at:
        return name in table
    if param not in AUTOMATABLE.get(kind, ()):
        return False
    try:
        parse_span(span, name)
    except MixAssistError:
        return False
    return True


def _annotations(entry: Mapping[str, Any], section: str, kind: str, why: dict, locked: dict) -> None:
    """Validate and collect the ``why`` and ``locked`` keys of one recipe section."""
    table = params_for(kind)
    where = f"track '{section}'" if kind == "track" else section
    reasons = entry.get("why", {})
    if not isinstance(reasons, Mapping) or not all(isinstance(v, str) for v in reasons.values()):
        raise RecipeError(f"{where}: 'why' must be an object of parameter: text")
    for name in reasons:
        if not _known(name, table, kind):
            raise RecipeError(f"{where}: 'why' names unknown parameter '{name}'")
    names = entry.get("locked", [])
    if not isinstance(names, list) or not all(isinstance(v, str) for v in names):
        raise RecipeError(f"{where}: 'locked' must be a list of parameter names")
    for name in names:
        if not _known(name, table, kind):
            raise RecipeError(f"{where}: 'locked' names unknown parameter '{name}'")
    if reasons:
        why[section] = dict(reasons)
    if names:
        locked[section] = list(names)


def _strict(value: Any) -> Any:
    """JSON-ready copy: numpy scalars to Python, non-finite floats to None."""
    if isinstance(value, Mapping):
        return {str(k): _strict(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_strict(v) for v in value]
    if isinstance(value, (bool, str)) or value is None:
        return value
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(float(value)) else None
    if isinstance(value, Path):
        return value.as_posix()
    return value


def _nesting_depth(text: str) -> int:
    """Deepest ``[``/``{`` nesting in JSON text (brackets inside strings not counted), found
    without recursion, so absurd nesting is refused before the parser recurses."""
    depth = deepest = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


def _seed(value: Any) -> int:
    """The reverb's seed: a whole number 0 … 2**32 − 1."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**32:
        raise RecipeError(f"reverb: 'seed' must be a whole number from 0 to {2**32 - 1}, got {value!r}")
    return value


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not allowed in a recipe (strict JSON)")


def _section(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise RecipeError(f"{where}: 'params' must be an object of name: value")
    return value
