"""What the user keeps: locked settings, roles and allowed ranges, shared by every mixer.

A mixer proposes; the user stays in charge.  ``Constraints`` carries three things:

* **locks** — settings that must come out exactly as given (``vocals.gain_db=-3``), or exactly
  as they are in the starting settings (``vocals.gain_db``; ``'drums*.*'`` locks every
  setting of every matching track, ``master.limiter_ceiling_dbtp=-2`` a bus setting);
* **roles** — ``{track: role}`` overriding inference (see :mod:`mixassist.mixers.roles`);
* **ranges** — ``{track: {param: (low, high)}}`` narrowing what a mixer may choose.

Lock syntax (CLI ``--lock``, API ``lock=[...]``)::

    TRACK.PARAM=VALUE     vocals.gain_db=-3      a number, or "off" for a bypassable setting
    TRACK.PARAM           vocals.pan             keep the starting value (neutral default if none)
    TRACK.*               'drums.*'              every setting of the track
    master.PARAM[=VALUE]  master.output_gain_db=0  (also reverb.PARAM)
    TRACK.PARAM@A-B       vocals.gain_db@12-20   keep the starting lane over 12–20 s exactly

A lock on an automated parameter (``vocals.gain_db``) keeps its whole lane as well as its
static value.  A *span* lock (``@A-B``, seconds; automatable parameters only, see
:data:`mixassist.console.lanes.AUTOMATABLE`) keeps the start's curve over the span exactly --
widened to the breakpoints that enclose it -- and lets the mixer move the rest: the mixer's own
lane (or static value) is joined to the kept span with a :data:`SPAN_JOIN_S` transition each side.

``TRACK`` may be a shell-style wildcard (``'kick*'``); the names ``master`` and ``reverb``
always mean the buses.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, overload

from mixassist.console.lanes import AUTOMATABLE, Lane, parse_span
from mixassist.console.params import MixParams, check_name, validate_value
from mixassist.console.schema import params_for
from mixassist.errors import InvalidParameterError
from mixassist.mixers.roles import parse_role_overrides

__all__ = ["BUSES", "SPAN_JOIN_S", "Constraints"]

BUSES = ("reverb", "master")
#: Seconds over which a mixer's lane joins a locked span (each side).
SPAN_JOIN_S = 0.25


def _parse_value(text: str, where: str) -> float | None:
    t = text.strip().lower()
    if t in ("off", "none", "null", "bypass"):
        return None
    try:
        return float(t)
    except ValueError:
        raise InvalidParameterError(f"{where}: '{text}' is not a number (or 'off')") from None


@dataclass
class Constraints:
    """Locks, roles and ranges a mixer must honour.

    Attributes
    ----------
    locks : dict
        ``{section: {param: value}}`` where section is a track name, ``"reverb"`` or
        ``"master"``; the value is what the setting must be (``None`` = bypassed).
    roles : dict
        ``{track: role}`` set by the user.
    ranges : dict
        ``{track: {param: (low, high)}}`` in physical units.
    specs : list of str
        The lock strings as the user wrote them (kept for the recipe).
    lanes : dict
        ``{section: {param: Lane or None}}``: for each locked automatable setting, the start's
        lane (``None``: it was static), kept whole.
    spans : dict
        ``{section: {param: [(start_s, stop_s, Lane)]}}``: span locks and the start's lane (a
        one-point lane when it was static).
    """

    locks: dict[str, dict[str, float | None]] = field(default_factory=dict)
    roles: dict[str, str] = field(default_factory=dict)
    ranges: dict[str, dict[str, tuple[float, float]]] = field(default_factory=dict)
    specs: list[str] = field(default_factory=list)
    lanes: dict[str, dict[str, Lane | None]] = field(default_factory=dict)
    spans: dict[str, dict[str, list[tuple[float, float, Lane]]]] = field(default_factory=dict)

    # ------------------------------------------------------------------ building
    @classmethod
    def parse(
        cls,
        track_names: Iterable[str],
        lock: Iterable[str] | None = None,
        roles: Mapping[str, str] | Iterable[str] | None = None,
        ranges: Iterable[str] | None = None,
        start: MixParams | None = None,
    ) -> Constraints:
        """Build constraints from user strings.

        Parameters
        ----------
        track_names : iterable of str
        lock : iterable of str
            Lock specs (see the module docstring).
        roles : mapping or iterable of ``"TRACK=ROLE"``
        ranges : iterable of ``"TRACK.PARAM=LOW:HIGH"``
        start : MixParams, optional
            Where a lock without a value takes its value from (neutral defaults otherwise).
        """
        names = list(track_names)
        base = start if start is not None else MixParams(names)
        out = cls(roles=parse_role_overrides(roles if roles is not None else None, names))
        for spec in lock or []:
            out.specs.append(spec)
            target, _, value_text = spec.partition("=")
            target, at, span_text = target.strip().partition("@")
            section_pattern, dot, param = target.rpartition(".")
            if not dot or not section_pattern or not param:
                raise InvalidParameterError(
                    f"lock '{spec}': write it as TRACK.PARAM[=VALUE], TRACK.* or master.PARAM (e.g. vocals.gain_db=-3)"
                )
            sections = _match_sections(section_pattern, names, f"lock '{spec}'")
            for section in sections:
                kind = section if section in BUSES else "track"
                where = f"lock '{spec}'"
                table = params_for(kind)
                if at:
                    out._lock_span(base, section, param, span_text, value_text, where)
                    continue
                if param == "*":
                    if value_text:
                        raise InvalidParameterError(
                            f"{where}: a wildcard lock keeps current values; drop '={value_text}'"
                        )
                    chosen = list(table)
                else:
                    check_name(param, kind, where)
                    chosen = [param]
                for p in chosen:
                    if value_text and param != "*":
                        value = validate_value(table[p], _parse_value(value_text, where), where)
                    else:
                        value = base.value(section, p)
                    out.locks.setdefault(section, {})[p] = value
                    if p in AUTOMATABLE.get(kind, ()):  # a lock with a value is a static setting
                        out.lanes.setdefault(section, {})[p] = None if value_text else base.lane(section, p)
        for spec in ranges or []:
            target, eq, bounds = spec.partition("=")
            section_pattern, dot, param = target.strip().rpartition(".")
            lo_text, colon, hi_text = bounds.partition(":")
            where = f"range '{spec}'"
            if not (eq and dot and colon):
                raise InvalidParameterError(f"{where}: write it as TRACK.PARAM=LOW:HIGH (e.g. vocals.gain_db=-6:0)")
            for section in _match_sections(section_pattern, names, where):
                kind = section if section in BUSES else "track"
                spec_param = check_name(param, kind, where)
                lo = validate_value(spec_param, _parse_value(lo_text, where), where)
                hi = validate_value(spec_param, _parse_value(hi_text, where), where)
                if lo is None or hi is None or lo > hi:
                    raise InvalidParameterError(f"{where}: LOW must be a number not above HIGH")
                out.ranges.setdefault(section, {})[param] = (lo, hi)
        return out

    def _lock_span(
        self, base: MixParams, section: str, param: str, span_text: str, value_text: str, where: str
    ) -> None:
        kind = section if section in BUSES else "track"
        if param not in AUTOMATABLE.get(kind, ()):
            raise InvalidParameterError(
                f"{where}: only an automatable setting can be locked over a span "
                f"({', '.join(AUTOMATABLE['track'])}; master {', '.join(AUTOMATABLE['master'])})"
            )
        if value_text:
            raise InvalidParameterError(f"{where}: a span lock keeps the starting lane; drop '={value_text}'")
        start_s, stop_s = parse_span(span_text, where)
        lane = base.lane(section, param)
        if lane is None:
            value = base.value(section, param)
            if value is None:
                raise InvalidParameterError(f"{where}: {param} is off in the start; lock it whole instead")
            lane = Lane((start_s,), (value,))
        self.spans.setdefault(section, {}).setdefault(param, []).append((start_s, stop_s, lane))

    def apply_lanes(self, params: MixParams, *, spans: bool = True) -> MixParams:
        """Force the locked lanes into ``params`` (in place): whole locks get the start's lane
        back (or none), span locks the start's curve over their spans (see the module notes)."""
        for section, owned in self.lanes.items():
            for p, lane in owned.items():
                if lane is None:
                    params.clear_lane(section, p)
                elif section == "master" or section in params.tracks:
                    params.set_lane(section, p, lane)
        for section, owned_spans in self.spans.items() if spans else ():
            if section != "master" and section not in params.tracks:
                continue
            for p, kept_spans in owned_spans.items():
                if self.is_locked(section, p):
                    continue
                for start_s, stop_s, kept in kept_spans:
                    current = params.lane(section, p)
                    if current is None:
                        value = params.value(section, p)
                        current = Lane((0.0,), (float(value if value is not None else kept.values[0]),))
                    params.set_lane(section, p, _splice(current, kept, start_s, stop_s))
        return params

    # ------------------------------------------------------------------ queries
    def require_tracks(self, names: list[str]) -> None:
        """Raise when a lock names a track that is not in the session."""
        unknown = [s for s in self.locks if s not in names and s not in ("reverb", "master")]
        if unknown:
            raise InvalidParameterError(f"locks name tracks that are not in the session: {', '.join(unknown)}")

    def is_locked(self, section: str, param: str) -> bool:
        return param in self.locks.get(section, {})

    @overload
    def clip(self, section: str, param: str, value: float) -> float: ...
    @overload
    def clip(self, section: str, param: str, value: None) -> None: ...
    def clip(self, section: str, param: str, value: float | None) -> float | None:
        """``value`` inside the user's range for it (unchanged when there is none)."""
        if value is None or param not in self.ranges.get(section, {}):
            return value
        lo, hi = self.ranges[section][param]
        return min(max(value, lo), hi)

    def choose(self, params: MixParams, section: str, param: str, value: Any) -> bool:
        """Set ``value`` unless the setting is locked; clip it to the user's range.

        Returns whether the value was set (False when locked).
        """
        if self.is_locked(section, param):
            return False
        value = self.clip(section, param, value)
        if section in BUSES:
            params.set_bus(section, param, value)
        else:
            params.set(section, param, value)
        return True

    def apply(self, params: MixParams, *, spans: bool = True) -> MixParams:
        """Force every locked value and lane into ``params`` (in place) and return it; with
        ``spans=False`` the span locks wait (a mixer's first settings: its own lanes come later)."""
        for section, values in self.locks.items():
            for p, v in values.items():
                if section in BUSES:
                    params.set_bus(section, p, v)
                elif section in params.tracks:
                    params.set(section, p, v)
        return self.apply_lanes(params, spans=spans)

    def locked_names(self, section: str) -> list[str]:
        """The locked settings of ``section``: whole ones, then spans as ``PARAM@A-B``."""
        spans = [f"{p}@{a:g}-{b:g}" for p, items in self.spans.get(section, {}).items() for a, b, _ in items]
        return sorted(self.locks.get(section, {})) + spans

    def to_dict(self) -> dict[str, Any]:
        return {
            "locks": {s: dict(v) for s, v in self.locks.items()},
            "roles": dict(self.roles),
            "ranges": {s: {p: list(r) for p, r in v.items()} for s, v in self.ranges.items()},
            "specs": list(self.specs),
            **(
                {"spans": {s: {p: [[a, b] for a, b, _ in v] for p, v in o.items()} for s, o in self.spans.items()}}
                if self.spans
                else {}
            ),
        }


def _match_sections(pattern: str, names: list[str], where: str) -> list[str]:
    if pattern in BUSES:
        return [pattern]
    matched = [n for n in names if fnmatch.fnmatchcase(n, pattern)]
    if not matched:
        raise InvalidParameterError(f"{where}: no track matches '{pattern}'; tracks are: {', '.join(names)}")
    return matched


def _splice(current: Lane, kept: Lane, start_s: float, stop_s: float) -> Lane:
    """``current`` with ``kept``'s curve on ``[start_s, stop_s]`` exactly: the breakpoints of
    ``kept`` that fix the span (:meth:`Lane.span`), joined to ``current`` over
    :data:`SPAN_JOIN_S` each side."""
    piece = kept.span(start_s, stop_s)
    if len(piece) == 1:  # a held value: pin it at both ends of the span
        piece = Lane((start_s, stop_s), (piece.values[0], piece.values[0]))
    first, last = piece.times_s[0], piece.times_s[-1]
    before = [(t, v) for t, v in zip(current.times_s, current.values, strict=True) if t < first - SPAN_JOIN_S]
    after = [(t, v) for t, v in zip(current.times_s, current.values, strict=True) if t > last + SPAN_JOIN_S]
    if first - SPAN_JOIN_S >= 0.0:
        before.append((first - SPAN_JOIN_S, current.value_at(first - SPAN_JOIN_S)))
    after.insert(0, (last + SPAN_JOIN_S, current.value_at(last + SPAN_JOIN_S)))
    points = [*before, *zip(piece.times_s, piece.values, strict=True), *after]
    return Lane(tuple(t for t, _ in points), tuple(v for _, v in points))
