"""The JSON mix recipe: the contract with the user and with other tools.

Version 1::

    {"version": 1, "sample_rate": 44100,
     "tracks": [{"name": "vox", "file": "stems/vox.wav", "params": {"gain_db": -3.0}}],
     "reverb": {"seed": 0, "params": {"rt60_mid_s": 1.5}},
     "master": {"params": {"limiter_ceiling_dbtp": -1.0}}}

File paths are relative to the recipe's folder; missing parameters take their neutral
defaults; unknown names and out-of-range values are refused with the allowed range.  Written
as strict JSON (no NaN/Infinity), atomically.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mixassist.audio.io import check_sample_rate, load_audio
from mixassist.audio.multitrack import Multitrack
from mixassist.console.params import MixParams
from mixassist.errors import MixAssistError, OutputError, RecipeError

__all__ = ["RECIPE_VERSION", "Recipe"]

RECIPE_VERSION = 1


@dataclass
class Recipe:
    """A mix: where the stems are and every console setting.

    Attributes
    ----------
    sample_rate : int
        Session rate in Hz; stems at other rates are resampled on load.
    files : dict of str to Path
        Track name → stem file (absolute, or relative to ``base_dir``).
    params : MixParams
        Every setting; track order is console order.
    base_dir : Path
        Folder relative paths are resolved against (the recipe's folder).
    extra : dict
        Other top-level keys (kept on save; later versions add reasons, context, …).
    """

    sample_rate: int
    files: dict[str, Path]
    params: MixParams
    base_dir: Path = field(default_factory=Path)
    extra: dict[str, Any] = field(default_factory=dict)

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
        try:
            data = json.loads(text, parse_constant=_reject_constant)
        except json.JSONDecodeError as err:
            raise RecipeError(f"not valid JSON: line {err.lineno} column {err.colno}: {err.msg}", path) from err
        except ValueError as err:
            raise RecipeError(str(err), path) from err
        try:
            return cls.from_dict(data, base_dir=path.parent)
        except MixAssistError as err:
            raise RecipeError(err.reason if err.path is None else str(err), path) from err

    @classmethod
    def from_dict(cls, data: Any, base_dir: str | os.PathLike[str] = ".") -> Recipe:
        if not isinstance(data, Mapping):
            raise RecipeError("a recipe must be a JSON object")
        version = data.get("version")
        if version != RECIPE_VERSION:
            raise RecipeError(f"unsupported recipe version {version!r}; this mixassist reads version {RECIPE_VERSION}")
        rate = data.get("sample_rate")
        if not isinstance(rate, int) or isinstance(rate, bool):
            raise RecipeError(f"sample_rate must be a whole number of Hz, got {rate!r}")
        check_sample_rate(rate)
        tracks = data.get("tracks")
        if not isinstance(tracks, list) or not tracks:
            raise RecipeError("'tracks' must be a non-empty list")
        files: dict[str, Path] = {}
        settings: dict[str, Mapping[str, Any]] = {}
        for i, entry in enumerate(tracks):
            if not isinstance(entry, Mapping) or not isinstance(entry.get("name"), str) or not isinstance(entry.get("file"), str):
                raise RecipeError(f"tracks[{i}] needs a string 'name' and a string 'file'")
            name = entry["name"]
            if name in files:
                raise RecipeError(f"track name '{name}' appears twice")
            unknown = set(entry) - {"name", "file", "params"}
            if unknown:
                raise RecipeError(f"tracks[{i}] ('{name}'): unknown key(s) {', '.join(sorted(unknown))}")
            files[name] = Path(entry["file"])
            settings[name] = _section(entry.get("params", {}), f"track '{name}'")
        reverb = data.get("reverb", {}) or {}
        master = data.get("master", {}) or {}
        params = MixParams(
            list(files),
            tracks=settings,
            reverb=_section(reverb.get("params", {}), "reverb"),
            master=_section(master.get("params", {}), "master"),
            reverb_seed=int(reverb.get("seed", 0)),
        )
        extra = {k: v for k, v in data.items() if k not in {"version", "sample_rate", "tracks", "reverb", "master"}}
        return cls(sample_rate=rate, files=files, params=params, base_dir=Path(base_dir), extra=extra)

    def resolve(self, name: str) -> Path:
        """Absolute-or-cwd-relative path of a track's stem."""
        f = self.files[name]
        return f if f.is_absolute() else self.base_dir / f

    def load_stems(self, *, downmix: bool = False) -> Multitrack:
        """Decode every stem at the recipe's sample rate, zero-padded to the longest."""
        arrays, sources = {}, {}
        for name in self.params.track_names:
            path = self.resolve(name)
            arrays[name], _ = load_audio(path, sample_rate=self.sample_rate, downmix=downmix)
            sources[name] = path
        return Multitrack.from_arrays(arrays, self.sample_rate, sources)

    # ------------------------------------------------------------------ writing
    def to_dict(self, relative_to: str | os.PathLike[str] | None = None) -> dict[str, Any]:
        """The recipe as JSON-ready data; with ``relative_to``, relative stem paths are
        rewritten to be relative to that folder (absolute paths stay absolute)."""
        p = self.params.to_dict()
        files = dict(self.files)
        if relative_to is not None:
            for name, f in files.items():
                if not f.is_absolute():
                    files[name] = Path(os.path.relpath(self.resolve(name), relative_to))
        return {
            "version": RECIPE_VERSION,
            "sample_rate": self.sample_rate,
            "tracks": [
                {"name": n, "file": files[n].as_posix(), "params": p["tracks"][n]} for n in self.params.track_names
            ],
            "reverb": {"seed": self.params.reverb_seed, "params": p["reverb"]},
            "master": {"params": p["master"]},
            **self.extra,
        }

    def save(self, path: str | os.PathLike[str], *, overwrite: bool = False) -> None:
        """Write strict JSON atomically (temporary file in the same folder, then rename).

        Relative stem paths are rewritten relative to the new file's folder, so the saved
        recipe still finds its stems.
        """
        path = Path(path)
        if path.exists() and not overwrite:
            raise OutputError("already exists; choose another name or allow overwriting", path)
        folder = path.parent if str(path.parent) else Path(".")
        text = json.dumps(self.to_dict(relative_to=folder), indent=2, allow_nan=False) + "\n"
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent if str(path.parent) else ".")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(text)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not allowed in a recipe (strict JSON)")


def _section(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise RecipeError(f"{where}: 'params' must be an object of name: value")
    return value
