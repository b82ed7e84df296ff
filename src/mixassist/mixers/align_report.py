"""What multi-microphone alignment found: measured pairs, groups, per-track moves, the report.

Results of :func:`mixassist.mixers.align.detect_alignment`. Within a group the latest-arriving
track is the *anchor* (left as recorded; the recipe's JSON calls it ``"reference"``), and every
earlier track is delayed to meet it.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

__all__ = ["AlignmentGroup", "AlignmentReport", "PairAlignment", "TrackAlignment", "json_float"]


@dataclass(frozen=True)
class PairAlignment:
    """The measured relation between two tracks.

    Attributes
    ----------
    first, second : str
        The tracks (``first`` comes first in the multitrack).
    delay_ms : float
        How much later ``second`` arrives than ``first`` (negative: earlier).
    polarity : int
        ``second``'s polarity relative to ``first``: 1 same, -1 inverted.
    correlation : float
        Plain normalised cross-correlation ``ρ`` at ``delay_ms``, -1…1 (signed).
    coherence : float
        ``|GCC-PHAT|`` (coherence-weighted) at ``delay_ms``, 0…1: the γ²-weighted mean
        agreement of the two tracks' phases with a pure delay (1: every coherent bin agrees).
        Reported, not a criterion: it depends on the number of frames and the bandwidth.
    peak_ratio : float
        GCC-PHAT peak over the highest ``|GCC-PHAT|`` outside its main lobe within
        ``±2 · max_delay_ms`` (≥ 1; large means unambiguous).
    related : bool
        Whether the pair passed the decision rule (see ``docs/mixing.md``, multi-microphone alignment).
    reason : str
        One line: the verdict and the numbers behind it.
    """

    first: str
    second: str
    delay_ms: float
    polarity: int
    correlation: float
    coherence: float
    peak_ratio: float
    related: bool
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "tracks": [self.first, self.second],
            "delay_ms": json_float(self.delay_ms, 4),
            "polarity": int(self.polarity),
            "correlation": json_float(self.correlation, 4),
            "coherence": json_float(self.coherence, 4),
            "peak_ratio": json_float(self.peak_ratio, 3),
            "related": bool(self.related),
            "reason": self.reason,
        }


@dataclass(frozen=True)
class TrackAlignment:
    """What alignment does to one non-anchor member of a group.

    Attributes
    ----------
    track : str
    anchor : str
        The group's anchor (latest-arriving) track, which is left as it is; ``"reference"`` in
        :meth:`to_dict` (the recipe's key).
    delay_ms : float
        Delay that brings ``track`` in time with ``anchor`` (≥ 0).
    polarity : int
        1, or -1 when ``track`` is inverted relative to ``anchor``.
    applied : bool
        False when the track is locked or needs more delay than the console has; then
        :attr:`AlignmentReport.settings` leaves it out.
    reason : str
        One line, for the user.
    """

    track: str
    anchor: str
    delay_ms: float
    polarity: int
    applied: bool
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "track": self.track,
            "reference": self.anchor,  # the recipe's key, kept
            "delay_ms": json_float(self.delay_ms, 4),
            "polarity": int(self.polarity),
            "applied": bool(self.applied),
            "reason": self.reason,
        }


@dataclass(frozen=True)
class AlignmentGroup:
    """Tracks that share one source.  Iterating over a group yields its track names.

    Attributes
    ----------
    anchor : str
        The latest-arriving member; the others are delayed to meet it (``"reference"`` in
        :meth:`to_dict`, the recipe's key).
    tracks : tuple of str
        Every member, earliest first.
    arrival_ms : dict
        ``{track: ms}``: arrival relative to the earliest member (0).
    polarity : dict
        ``{track: ±1}``: polarity relative to the anchor.
    notes : tuple of str
        Disagreements between measured pairs and the group's arrival times, if any.
    """

    anchor: str
    tracks: tuple[str, ...]
    arrival_ms: dict[str, float]
    polarity: dict[str, int]
    notes: tuple[str, ...] = ()

    def __iter__(self) -> Iterator[str]:
        return iter(self.tracks)

    def __len__(self) -> int:
        return len(self.tracks)

    def __contains__(self, name: object) -> bool:
        return name in self.tracks

    def to_dict(self) -> dict[str, Any]:
        return {
            "reference": self.anchor,  # the recipe's key, kept
            "tracks": list(self.tracks),
            "arrival_ms": {k: json_float(v, 4) for k, v in self.arrival_ms.items()},
            "polarity": {k: int(v) for k, v in self.polarity.items()},
            "notes": list(self.notes),
        }


@dataclass
class AlignmentReport:
    """Everything :func:`detect_alignment` found, and the settings it proposes.

    Attributes
    ----------
    sample_rate : int
        Hz.
    groups : list of AlignmentGroup
        Tracks that share a source (two or more each).
    tracks : dict
        ``{track: TrackAlignment}`` for every non-anchor group member.
    pairs : list of PairAlignment
        Every pair measured over the full band (related ones first); pairs the coarse pass
        ruled out are only counted in ``pairs_checked``.
    skipped : dict
        ``{track: reason}`` for tracks left out of the analysis (silent).
    pairs_checked : int
        Pairs of non-silent tracks examined.
    thresholds : dict
        The decision thresholds used (``max_delay_ms``, ``min_correlation``,
        ``min_peak_ratio``).
    analysis : dict
        Frame length and count of the Welch analysis.
    """

    sample_rate: int
    groups: list[AlignmentGroup] = field(default_factory=list)
    tracks: dict[str, TrackAlignment] = field(default_factory=dict)
    pairs: list[PairAlignment] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    pairs_checked: int = 0
    thresholds: dict[str, float] = field(default_factory=dict)
    analysis: dict[str, Any] = field(default_factory=dict)

    @property
    def settings(self) -> dict[str, dict[str, float]]:
        """``{track: {"delay_ms": x, "polarity": ±1.0}}`` for every track to change.

        Ready for :class:`~mixassist.console.MixParams` (``MixParams(names, tracks=...)`` or
        ``params.set``).  Anchors, locked and silent tracks are not included.
        """
        return {
            name: {"delay_ms": float(t.delay_ms), "polarity": float(t.polarity)}
            for name, t in self.tracks.items()
            if t.applied
        }

    @property
    def reasons(self) -> dict[str, str]:
        """``{track: one line}`` for every track alignment touched, anchored on or skipped."""
        out = {name: reason for name, reason in self.skipped.items()}
        for g in self.groups:
            others = [t for t in g.tracks if t != g.anchor]
            out[g.anchor] = (
                f"alignment reference: {', '.join(others)} {'is' if len(others) == 1 else 'are'} "
                f"delayed to meet it (it arrives last); its own delay and polarity are left as recorded"
            )
        out.update({name: t.reason for name, t in self.tracks.items()})
        return out

    def group_of(self, track: str) -> AlignmentGroup | None:
        """The group ``track`` belongs to, or None."""
        return next((g for g in self.groups if track in g.tracks), None)

    def pair(self, a: str, b: str) -> PairAlignment | None:
        """The measurement of the pair ``a``, ``b`` (either order), if it was measured."""
        return next((p for p in self.pairs if {p.first, p.second} == {a, b}), None)

    def to_dict(self) -> dict[str, Any]:
        """Strict-JSON-safe form (no NaN or infinity)."""
        return {
            "sample_rate": int(self.sample_rate),
            "thresholds": {k: json_float(v, 6) for k, v in self.thresholds.items()},
            "settings": {k: dict(v) for k, v in self.settings.items()},
            "groups": [g.to_dict() for g in self.groups],
            "tracks": {k: t.to_dict() for k, t in self.tracks.items()},
            "pairs": [p.to_dict() for p in self.pairs],
            "skipped": dict(self.skipped),
            "pairs_checked": int(self.pairs_checked),
            "analysis": {k: json_float(v, 6) if isinstance(v, float) else v for k, v in self.analysis.items()},
        }

    def __repr__(self) -> str:
        if not self.groups:
            return f"AlignmentReport(no related tracks among {self.pairs_checked} pairs)"
        parts = []
        for g in self.groups:
            moves = []
            for name in g.tracks:
                t = self.tracks.get(name)
                if t is None:
                    continue
                flip = ", inverted" if t.polarity < 0 else ""
                moves.append(f"{name} +{t.delay_ms:.3f} ms{flip}{'' if t.applied else ' (not applied)'}")
            parts.append(f"{g.anchor} ← " + "; ".join(moves))
        return "AlignmentReport(" + " | ".join(parts) + ")"


def json_float(value: float, digits: int) -> float | None:
    """``value`` rounded to ``digits``, or None when it is not finite (strict JSON)."""
    value = float(value)
    return round(value, digits) if math.isfinite(value) else None
