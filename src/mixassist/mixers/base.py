"""The mixer contract: what a mix is asked for (:class:`MixRequest`), what answers it
(:class:`Mixer`) and which mixers there are (:data:`MIXERS`, the one registry that ``mix()``,
the CLI's ``--method`` and the evaluation harness read).

A mixer follows scikit-learn's estimator contract (Buitinck et al. 2013, "API design for
machine learning software"): the constructor only stores settings; :meth:`Mixer.propose`
does the work and returns a :class:`~mixassist.mixers.decisions.Proposal`.
"""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from mixassist.errors import InvalidParameterError

if TYPE_CHECKING:
    from mixassist.audio.multitrack import Multitrack
    from mixassist.console.params import MixParams
    from mixassist.mixers.constraints import Constraints
    from mixassist.mixers.decisions import Proposal
    from mixassist.mixers.sections import Section
    from mixassist.style.target import StyleTarget

__all__ = [
    "Progress",
    "Job",
    "no_progress",
    "Mixer",
    "MixRequest",
    "MixerEntry",
    "MIXERS",
    "method_names",
    "build_mixer",
]

#: ``progress(stage, fraction)``: what a mixer reports while it works.
Progress = Callable[[str, float], None]


@dataclass(frozen=True)
class Job:
    """One :meth:`Mixer.propose` call with its defaults filled in: what :meth:`Mixer.solve` reads."""

    multitrack: Multitrack
    constraints: Constraints
    start: MixParams | None
    report: Progress

    def first_params(self) -> MixParams:
        """The settings to work on: a copy of :attr:`start` (or neutral ones) without its lanes, with
        the locks applied (a locked lane comes back whole; span locks are joined to the mixer's
        own settings at delivery, :meth:`Constraints.apply_lanes`); refuses locks, roles or ranges that name no track of the multitrack."""
        from mixassist.console.params import MixParams  # lazy: torch; the CLI reads MIXERS at start-up

        self.constraints.require_tracks(self.multitrack.names)
        params = self.start.copy() if self.start is not None else MixParams(self.multitrack.names)
        params.lanes.clear()  # a mixer proposes its own lanes; locked ones come back with the locks
        self.constraints.apply(params, spans=False)
        return params


def no_progress(stage: str, fraction: float) -> None:
    """A :data:`Progress` that reports nothing."""


class Mixer(ABC):
    """A strategy that proposes console settings for a multitrack under constraints.

    Subclasses implement :meth:`solve`; :meth:`propose` is the one public entry point."""

    def propose(
        self,
        multitrack: Multitrack,
        constraints: Constraints | None = None,
        *,
        start: MixParams | None = None,
        progress: Progress | None = None,
    ) -> Proposal:
        """Settings, reasons and measurements for ``multitrack``.

        Parameters
        ----------
        multitrack : Multitrack
        constraints : Constraints, optional
            Locks, roles and ranges to honour.
        start : MixParams, optional
            Settings to start from (values of locked settings come from here when a lock
            names no value).
        progress : callable, optional
            ``progress(stage, fraction)`` as the work advances.
        """
        from mixassist.mixers.constraints import Constraints  # lazy: torch (see Job.first_params)

        return self.solve(Job(multitrack, constraints or Constraints(), start, progress or no_progress))

    @abstractmethod
    def solve(self, job: Job) -> Proposal:
        """:meth:`propose` with its defaults filled in."""


@dataclass(frozen=True)
class MixRequest:
    """Everything a mix is asked for, checked once (build it with :func:`mixassist.api.mix_request`).

    Attributes
    ----------
    target : StyleTarget
        References with weights, words and strengths (empty: no style to match).
    method : str
        A name in :data:`MIXERS` (the default is resolved when the request is built).
    loudness_lufs : float or None
        Explicit integrated loudness of the mix (``None``: the target's, else −14 LUFS).
    true_peak_dbtp : float
        True-peak ceiling.
    lock, roles, ranges : tuple of str (``roles`` may be a mapping)
        Locks, role overrides and ranges, as :meth:`Constraints.parse` reads them.
    align : bool
        Correct multi-mic delay and polarity.
    start : MixParams or None
        Settings to start from.
    time_budget_s : float or None
        Most seconds the style solver may optimise.
    seed : int
        Seed of the style solver.
    reference_files : tuple of Path
        The reference files (inputs never to be overwritten).
    out_dir : Path or None
        Folder for ``mix.wav``, ``recipe.json`` and ``report.md``.
    overwrite : bool
        Replace existing outputs (never an input).
    bit_depth : int
        Bit depth of ``mix.wav``.
    ride : bool
        Ride the lead's fader with an automation lane (:mod:`mixassist.mixers.ride`; for the
        other methods on top of their static proposal, :mod:`mixassist.mixers.ride_after`).
    ride_track : str or None
        The track to ride instead of the lead (implies ``ride``).
    sections : tuple of Section
        The song's sections (named in the reasons, kept in the recipe).
    """

    target: StyleTarget
    method: str
    loudness_lufs: float | None = None
    true_peak_dbtp: float = -1.0
    lock: tuple[str, ...] = ()
    roles: Mapping[str, str] | tuple[str, ...] = ()
    ranges: tuple[str, ...] = ()
    align: bool = True
    start: MixParams | None = None
    time_budget_s: float | None = None
    seed: int = 0
    reference_files: tuple[Path, ...] = ()
    out_dir: Path | None = None
    overwrite: bool = False
    bit_depth: int = 24
    ride: bool = False
    ride_track: str | None = None
    sections: tuple[Section, ...] = ()

    def __post_init__(self) -> None:
        if self.method not in MIXERS:
            raise InvalidParameterError(f"unknown method '{self.method}'; methods are: {', '.join(MIXERS)}")

    @property
    def mixer(self) -> MixerEntry:
        """The registry entry of :attr:`method`."""
        return MIXERS[self.method]


@dataclass(frozen=True)
class MixerEntry:
    """One mixing method: its name, a line for the help, and how to build it from a request.

    ``reads_style``: the mixer reads the request's references and words (``rules`` does not);
    ``plots_style``: its proposal carries the style comparison that ``style.png`` shows.
    """

    name: str
    summary: str
    build: Callable[[MixRequest], Mixer]
    reads_style: bool
    plots_style: bool


def _rules(request: MixRequest) -> Mixer:
    from mixassist.mixers.rules import RulesMixer  # lazy: torch; the CLI reads MIXERS at start-up

    loudness = -14.0 if request.loudness_lufs is None else request.loudness_lufs
    return RulesMixer(
        loudness_lufs=loudness,
        true_peak_dbtp=request.true_peak_dbtp,
        align=request.align,
        ride=request.ride,
        ride_name=request.ride_track,
        sections=request.sections,
    )


def _ridden(request: MixRequest, mixer: Mixer) -> Mixer:
    """``mixer``, with the lead (or ``request.ride_track``) ridden on top when ``request.ride``."""
    if not request.ride:
        return mixer
    from mixassist.mixers.ride_after import RideAfter  # lazy: torch (see _rules)

    return RideAfter(
        mixer, ride_name=request.ride_track, sections=request.sections, true_peak_dbtp=request.true_peak_dbtp
    )


def _match(request: MixRequest, *, auto: bool, keep_bus: bool = False) -> Mixer:
    from mixassist.mixers.match import AUTO_STEPS, STEPS, MatchMixer  # lazy: torch (see _rules)

    mixer = MatchMixer(
        request.target,
        loudness_lufs=request.loudness_lufs,
        true_peak_dbtp=request.true_peak_dbtp,
        align=request.align,
        time_budget_s=request.time_budget_s,
        seed=request.seed,
        start_method="neural" if auto else "rules",
        steps=AUTO_STEPS if auto else STEPS,
        keep_bus=keep_bus,
    )
    return _ridden(request, mixer)


def _auto(request: MixRequest) -> Mixer:
    from mixassist.mixers.follow import AUTO_TONE_STRENGTH, FollowMixer  # lazy: torch (see _rules)

    if not request.target.references:  # words alone: no reference to follow, the first stage as before
        return FollowMixer(request.target, _match(request, auto=True), true_peak_dbtp=request.true_peak_dbtp)
    target = request.target.with_strengths({"tone": request.target.strengths["tone"] * AUTO_TONE_STRENGTH})
    request = dataclasses.replace(request, target=target)
    return FollowMixer(
        target,
        _match(request, auto=True, keep_bus=True),  # the loop delivers the whole song again, often from this bus
        true_peak_dbtp=request.true_peak_dbtp,
        tone_scale=AUTO_TONE_STRENGTH,
    )


def _neural(request: MixRequest) -> Mixer:
    from mixassist.mixers.neural import NeuralMixer  # lazy: torch (see _rules)

    mixer = NeuralMixer(
        request.target,
        loudness_lufs=request.loudness_lufs,
        true_peak_dbtp=request.true_peak_dbtp,
        align=request.align,
    )
    return _ridden(request, mixer)


#: The mixing methods by name, in the order the help lists them.
MIXERS: dict[str, MixerEntry] = {
    entry.name: entry
    for entry in (
        MixerEntry("rules", "knowledge-based", _rules, reads_style=False, plots_style=False),
        MixerEntry(
            "match", "rules solved toward the style", partial(_match, auto=False), reads_style=True, plots_style=True
        ),
        MixerEntry("neural", "trained controller, one pass", _neural, reads_style=True, plots_style=False),
        MixerEntry(
            "auto",
            "neural, refined for words, --match strengths and locks, then the closed loop toward the reference",
            _auto,
            reads_style=True,
            plots_style=True,
        ),
    )
}


def method_names() -> tuple[str, ...]:
    """The names in :data:`MIXERS`."""
    return tuple(MIXERS)


def build_mixer(request: MixRequest) -> Mixer:
    """The mixer ``request.method`` names, built with the request's settings."""
    return request.mixer.build(request)
