"""``MixParams``: every console setting of one mix, in physical units.

Three sections: one settings dict per track, the reverb bus and the master bus.  Values are
validated against :mod:`mixassist.console.schema` on every way in (constructor, ``set``,
``from_dict``, ``from_normalised``), so an unknown name or an out-of-range value is refused
with a message that names it and the allowed range.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import torch

from mixassist.console.lanes import AUTOMATABLE, Lane
from mixassist.console.schema import SECTIONS, Param, params_for
from mixassist.errors import InvalidParameterError

__all__ = ["MixParams", "check_name", "validate_value"]


def validate_value(param: Param, value: Any, where: str) -> float | None:
    """Return ``value`` as a float (or None for a bypassed optional parameter), or raise."""
    if value is None:
        if param.optional:
            return None
        raise InvalidParameterError(f"{where}: {param.name} cannot be null; allowed {param.describe_range()}")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidParameterError(
            f"{where}: {param.name}={value!r} is not a number; allowed {param.describe_range()}"
        )
    value = float(value)
    if not math.isfinite(value):
        raise InvalidParameterError(f"{where}: {param.name}={value} is not finite; allowed {param.describe_range()}")
    if param.choices is not None:
        if value not in param.choices:
            raise InvalidParameterError(f"{where}: {param.name}={value:g} must be {param.describe_range()}")
        return value
    # A tolerance of a few ULPs lets values round-tripped through float32 tensors back in.
    slack = 1e-6 * max(1.0, abs(param.minimum), abs(param.maximum))
    if not (param.minimum - slack <= value <= param.maximum + slack):
        raise InvalidParameterError(
            f"{where}: {param.name}={value:g} is outside the allowed range {param.describe_range()}"
        )
    return min(max(value, param.minimum), param.maximum)


def check_name(name: str, section: str, where: str) -> Param:
    """The schema's :class:`Param` called ``name`` in ``section``, or raise with a "did you mean"."""
    table = params_for(section)
    if name in table:
        return table[name]
    close = difflib.get_close_matches(name, table, n=1)
    hint = f"; did you mean '{close[0]}'?" if close else ""
    raise InvalidParameterError(f"{where}: unknown parameter '{name}'{hint} (see `mixassist params`)")


def _defaults(section: str) -> dict[str, float | None]:
    return {p.name: p.default for p in SECTIONS[section]}


class MixParams:
    """Console settings for a set of named tracks, the reverb bus and the master bus.

    Parameters
    ----------
    track_names : sequence of str
        The tracks, in console order.
    tracks : mapping, optional
        ``{track: {param: value}}``; missing parameters take their neutral defaults.
    reverb, master : mapping, optional
        ``{param: value}`` for the buses.
    reverb_seed : int
        Seed of the reverb's impulse response (part of the mix: same seed, same reverb).
    dc_block : bool, default True
        Whether the console's DC blockers run (every strip and the master; see
        :mod:`mixassist.console.dsp.dc`).  Recipes of version 1 and 2 load with it off, so they
        render as they did.

    Examples
    --------
    >>> p = MixParams(["vox", "bass"], tracks={"vox": {"gain_db": -3.0}})
    >>> p.get("vox", "gain_db"), p.get("bass", "gain_db")
    (-3.0, 0.0)
    """

    def __init__(
        self,
        track_names: Sequence[str],
        tracks: Mapping[str, Mapping[str, Any]] | None = None,
        reverb: Mapping[str, Any] | None = None,
        master: Mapping[str, Any] | None = None,
        reverb_seed: int = 0,
        dc_block: bool = True,
        lanes: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> None:
        names = list(track_names)
        if len(set(names)) != len(names):
            raise InvalidParameterError("track names must be unique")
        if not isinstance(dc_block, bool):
            raise InvalidParameterError(f"dc_block={dc_block!r} must be true or false")
        self.track_names = names
        self.reverb_seed = int(reverb_seed)
        self.dc_block = dc_block
        self.tracks: dict[str, dict[str, float | None]] = {n: _defaults("track") for n in names}
        self.reverb: dict[str, float | None] = _defaults("reverb")
        self.master: dict[str, float | None] = _defaults("master")
        for track, values in (tracks or {}).items():
            for name, value in values.items():
                self.set(track, name, value)
        for name, value in (reverb or {}).items():
            self.set_bus("reverb", name, value)
        for name, value in (master or {}).items():
            self.set_bus("master", name, value)
        self.lanes: dict[str, dict[str, Lane]] = {}
        for owner, owned in (lanes or {}).items():
            if not isinstance(owned, Mapping):
                raise InvalidParameterError(f"lanes of '{owner}' must map a parameter to its lane")
            for name, lane in owned.items():
                where = f"lane {owner}.{name}"
                self.set_lane(owner, name, lane if isinstance(lane, Lane) else Lane.from_dict(lane, where))

    # ------------------------------------------------------------------ access
    def get(self, track: str, name: str) -> float | None:
        return self.tracks[track][name]

    def value(self, section: str, name: str) -> float | None:
        """The setting ``name`` of ``section``: a track's name, ``"reverb"`` or ``"master"``."""
        if section == "master":
            return self.master[name]
        if section == "reverb":
            return self.reverb[name]
        return self.get(section, name)

    def set(self, track: str, name: str, value: Any) -> None:
        """Set one track parameter (validated)."""
        if track not in self.tracks:
            close = difflib.get_close_matches(track, self.track_names, n=1, cutoff=0.5)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            raise InvalidParameterError(f"unknown track '{track}'{hint} (tracks: {', '.join(self.track_names)})")
        where = f"track '{track}'"
        self.tracks[track][name] = validate_value(check_name(name, "track", where), value, where)

    def set_bus(self, bus: str, name: str, value: Any) -> None:
        """Set one ``"reverb"`` or ``"master"`` parameter (validated)."""
        if bus not in ("reverb", "master"):
            raise InvalidParameterError(f"unknown bus '{bus}'; use 'reverb' or 'master'")
        where = f"{bus} bus"
        getattr(self, bus)[name] = validate_value(check_name(name, bus, where), value, where)

    # ------------------------------------------------------------------ lanes
    def set_lane(self, owner: str, name: str, lane: Lane) -> None:
        """Automate ``name`` of ``owner`` (a track or ``"master"``) with ``lane`` (validated).

        A one-point lane *is* the static setting: it is stored as the static value (and any
        lane removed), so it renders bit-identically to the setting it always was.
        """
        section = "master" if owner == "master" else "track"
        where = f"lane {owner}.{name}"
        if name not in AUTOMATABLE[section]:
            raise InvalidParameterError(
                f"{where}: {name} cannot be automated; lanes move {', '.join(AUTOMATABLE[section])}"
            )
        if section == "track" and owner not in self.tracks:
            raise InvalidParameterError(f"{where}: unknown track '{owner}' (tracks: {', '.join(self.track_names)})")
        param = check_name(name, section, where)
        values = tuple(validate_value(param, v, where) for v in lane.values)
        if len(lane) == 1:
            self.clear_lane(owner, name)
            if section == "master":
                self.set_bus("master", name, values[0])
            else:
                self.set(owner, name, values[0])
            return
        self.lanes.setdefault(owner, {})[name] = Lane(lane.times_s, tuple(float(v) for v in values if v is not None))

    def lane(self, owner: str, name: str) -> Lane | None:
        """The lane of ``name`` of ``owner`` (two or more points), or ``None`` when it is static."""
        return self.lanes.get(owner, {}).get(name)

    def clear_lane(self, owner: str, name: str | None = None) -> None:
        """Remove one lane (or, with ``name=None``, every lane of ``owner``); the static value stays."""
        if name is None:
            self.lanes.pop(owner, None)
            return
        owned = self.lanes.get(owner, {})
        owned.pop(name, None)
        if not owned:
            self.lanes.pop(owner, None)

    def lane_tensors(self) -> tuple[dict[str, dict[int, tuple[torch.Tensor, torch.Tensor]]], dict[str, tuple]]:
        """The lanes as float64 tensors for the console: ``({param: {track index: (times_s,
        values)}}, {param: (times_s, values)})`` for the tracks and the master."""
        track: dict[str, dict[int, tuple[torch.Tensor, torch.Tensor]]] = {}
        master: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
        for owner, owned in self.lanes.items():
            for name, lane in owned.items():
                pair = (torch.tensor(lane.times_s, dtype=torch.float64), torch.tensor(lane.values, dtype=torch.float64))
                if owner == "master":
                    master[name] = pair
                else:
                    track.setdefault(name, {})[self.track_names.index(owner)] = pair
        return track, master

    def copy(self) -> MixParams:
        return MixParams.from_dict(self.to_dict())

    # ------------------------------------------------------------------ dict form
    def to_dict(self) -> dict[str, Any]:
        """Every setting in physical units (strict-JSON safe), and whether the DC blockers run;
        ``"lanes"`` only when something is automated."""
        out: dict[str, Any] = {
            "tracks": {n: dict(v) for n, v in self.tracks.items()},
            "reverb": dict(self.reverb),
            "master": dict(self.master),
            "reverb_seed": self.reverb_seed,
            "dc_block": self.dc_block,
        }
        if self.lanes:
            out["lanes"] = {o: {n: lane.to_dict() for n, lane in owned.items()} for o, owned in self.lanes.items()}
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> MixParams:
        """Inverse of :meth:`to_dict`; unknown keys or values are refused.  A dict without
        ``dc_block`` gets the constructor's default (on)."""
        unknown = set(data) - {"tracks", "reverb", "master", "reverb_seed", "dc_block", "lanes"}
        if unknown:
            raise InvalidParameterError(f"unknown section(s) {', '.join(sorted(unknown))}")
        tracks = data.get("tracks", {})
        lanes = data.get("lanes") or {}
        if not isinstance(lanes, Mapping) or not all(isinstance(v, Mapping) for v in lanes.values()):
            raise InvalidParameterError("'lanes' must map a track (or 'master') to {param: lane}")
        return cls(
            list(tracks),
            tracks=tracks,
            reverb=data.get("reverb"),
            master=data.get("master"),
            reverb_seed=int(data.get("reverb_seed", 0)),
            dc_block=data.get("dc_block", True),
            lanes=lanes,
        )

    # ------------------------------------------------------------------ tensor views
    def track_tensors(self, dtype: torch.dtype = torch.float32) -> dict[str, torch.Tensor]:
        """``{name: (tracks,) tensor}`` in physical units; bypassed optional values are NaN.

        NaN marks "off" so the console can see it; use :meth:`active` for the mask.
        """
        return {
            p.name: torch.tensor(
                [math.nan if self.tracks[t][p.name] is None else self.tracks[t][p.name] for t in self.track_names],
                dtype=dtype,
            )
            for p in SECTIONS["track"]
        }

    def bus_tensors(self, bus: str, dtype: torch.dtype = torch.float32) -> dict[str, torch.Tensor]:
        """``{name: scalar tensor}`` for ``"reverb"`` or ``"master"``; bypassed values are NaN."""
        values = getattr(self, bus)
        return {
            p.name: torch.tensor(math.nan if values[p.name] is None else values[p.name], dtype=dtype)
            for p in SECTIONS[bus]
        }

    def normalised(self, section: str = "track") -> tuple[torch.Tensor, torch.Tensor]:
        """The normalised view of one section.

        Returns
        -------
        values : torch.Tensor
            ``(tracks, n_params)`` for ``"track"`` or ``(n_params,)`` for a bus, in [0, 1]
            (log-spaced where the schema says so); bypassed values read 0.
        active : torch.Tensor
            bool, same shape: False where an optional processor is bypassed.
        """
        params = SECTIONS[section]
        rows: Iterable[Mapping[str, float | None]]
        rows = [self.tracks[t] for t in self.track_names] if section == "track" else [getattr(self, section)]
        vals = [[0.0 if (v := r[p.name]) is None else float(p.to_normalised(v)) for p in params] for r in rows]
        act = [[r[p.name] is not None for p in params] for r in rows]
        values = torch.tensor(vals, dtype=torch.float32).reshape(len(vals), len(params))
        active = torch.tensor(act, dtype=torch.bool).reshape(len(vals), len(params))
        if section != "track":
            return values[0], active[0]
        return values, active

    def with_normalised(self, section: str, values: torch.Tensor, active: torch.Tensor | None = None) -> MixParams:
        """A copy with ``section`` replaced from its normalised view (clamped to [0, 1]).

        Discrete parameters (polarity) and bypassed optional ones are kept as they are.
        """
        out = self.copy()
        params = SECTIONS[section]
        vals = values.detach().double().clamp(0.0, 1.0)
        if section != "track":
            vals = vals.reshape(1, -1)
        names = self.track_names if section == "track" else [section]
        for row, owner in enumerate(names):
            current = out.tracks[owner] if section == "track" else getattr(out, section)
            for col, p in enumerate(params):
                on = current[p.name] is not None if active is None else bool(active.reshape(len(names), -1)[row, col])
                if p.choices is not None or not on:
                    continue
                current[p.name] = validate_value(p, float(p.from_normalised(float(vals[row, col]))), section)
        return out

    # ------------------------------------------------------------------ display
    def changed(self, track: str) -> dict[str, float | None]:
        """The settings of ``track`` that differ from the neutral defaults."""
        defaults = _defaults("track")
        return {k: v for k, v in self.tracks[track].items() if v != defaults[k]}

    def __repr__(self) -> str:
        def fmt(values: Mapping[str, float | None]) -> str:
            return ", ".join(f"{k}={v:g}" if v is not None else f"{k}=off" for k, v in values.items())

        rows = [f"  Track('{t}'{', ' if self.changed(t) else ''}{fmt(self.changed(t))})" for t in self.track_names]
        bus = {b: {k: v for k, v in getattr(self, b).items() if v != _defaults(b)[k]} for b in ("reverb", "master")}
        rows += [f"  {b.capitalize()}({fmt(v)})" for b, v in bus.items()]
        rows += [f"  Lane({o}.{n}: {len(lane)} points)" for o, owned in self.lanes.items() for n, lane in owned.items()]
        return "MixParams(\n" + "\n".join(rows) + "\n)"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, MixParams) and self.to_dict() == other.to_dict()
