"""The record of a mixer's decisions: what it set, and why, in words and numbers."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mixassist.console.console import Bus
from mixassist.console.params import MixParams
from mixassist.measure import LoudnessReport
from mixassist.mixers.constraints import BUSES, Constraints

__all__ = ["Reasons", "Proposal", "locked_sections"]


def locked_sections(constraints: Constraints, names: Iterable[str]) -> dict[str, list[str]]:
    """``{section: [locked setting names]}`` for the tracks ``names`` and the buses, locked ones only."""
    return {s: constraints.locked_names(s) for s in [*names, *BUSES] if constraints.locked_names(s)}


@dataclass
class Reasons:
    """``{section: {param: why}}``; a section is a track name, ``"reverb"`` or ``"master"``."""

    why: dict[str, dict[str, str]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def add(self, section: str, param: str, text: str) -> None:
        self.why.setdefault(section, {})[param] = text

    def drop(self, section: str, param: str) -> None:
        """Forget the reason for ``param`` (a setting that no longer does anything, e.g. a merged EQ band's frequency)."""
        self.why.get(section, {}).pop(param, None)

    def get(self, section: str, param: str) -> str | None:
        return self.why.get(section, {}).get(param)

    def set(self, params: MixParams, constraints: Constraints, section: str, param: str, value: Any, why: str) -> bool:
        """Set a value through the constraints and record why; a locked setting keeps its
        value and says so. Returns whether the value was set."""
        if constraints.is_locked(section, param):
            self.add(section, param, "locked by you")
            return False
        constraints.choose(params, section, param, value)
        clipped = params.value(section, param)
        if value is not None and clipped is not None and abs(float(clipped) - float(value)) > 1e-9:
            why = f"{why} (kept inside your range: {value:.3g} → {clipped:.3g})"
        self.add(section, param, why)
        return True

    def for_section(self, section: str) -> dict[str, str]:
        return dict(self.why.get(section, {}))


@dataclass
class Proposal:
    """What a mixer returns: settings, reasons, and the facts behind them.

    Attributes
    ----------
    params : MixParams
        The proposed settings (locks applied).
    reasons : Reasons
        Why each setting was chosen; ``notes`` hold session-wide remarks.
    roles : dict
        ``{track: {"role", "source", "reason"}}``.
    measured : dict
        ``{track: {...}}`` measurements per track (raw analysis, loudness in the mix).
    context : dict
        What the mixer was asked for (loudness target, true-peak ceiling, locks …).
    alignment : dict or None
        The multi-mic alignment report.
    mix : numpy.ndarray or None
        The rendered mix, when the mixer made it while delivering (saves a render).
    mix_of : MixParams or None
        The settings ``mix`` is a full render of (bit for bit); the mix may be used as the
        render of ``params`` only when the two are equal.
    mix_report : (numpy.ndarray, LoudnessReport) or None
        A mix the mixer measured and its :func:`~mixassist.measure.measure` report; read through
        :meth:`rendered_report`, which hands it out only while that mix is still ``mix`` (a mixer
        that starts from another's proposal and renders again replaces ``mix``).
    bus : (MixParams, Bus) or None
        A mix bus before the master (:meth:`~mixassist.console.console.Console.render_bus`) and the
        settings it was rendered with, when the mixer was asked to keep it for a later stage
        (``auto``'s loop takes it and, where :func:`~mixassist.console.console.same_bus` says it
        is the bus of its own settings, delivers the whole song from it). Not saved.
    """

    params: MixParams
    reasons: Reasons
    roles: dict[str, dict[str, str]]
    measured: dict[str, dict[str, Any]]
    context: dict[str, Any]
    alignment: dict[str, Any] | None = None
    method: str = "rules"
    mix: np.ndarray | None = None  # the final mix the mixer rendered while delivering, float32 (2, samples), or None
    mix_of: MixParams | None = None
    mix_report: tuple[np.ndarray, LoudnessReport] | None = None
    bus: tuple[MixParams, Bus] | None = None

    def rendered(self) -> np.ndarray | None:
        """``mix`` if it is the render of ``params`` as they stand, else ``None``."""
        return self.mix if self.mix is not None and self.mix_of is not None and self.mix_of == self.params else None

    def rendered_report(self) -> LoudnessReport | None:
        """The measurement of :meth:`rendered`'s mix, if the mixer made one of that very mix."""
        mix = self.rendered()
        if mix is None or self.mix_report is None or self.mix_report[0] is not mix:
            return None
        return self.mix_report[1]

    def locked(self, constraints: Constraints) -> dict[str, list[str]]:
        return locked_sections(constraints, self.params.track_names)

    def why(self, section: str) -> Mapping[str, str]:
        return self.reasons.for_section(section)
