"""Rides on top of any mixer: the static proposal, then the lead's fader ridden, then delivered again.

Issue 24 asks the style-matching mixers to "match per-section features where the reference has a
clear structure, or keep the static match and add rides on top".  This is the second: the
``match``, ``neural`` and ``auto`` methods propose their static settings as before, and with
``--ride`` / ``--ride-track`` :class:`RideAfter` then

1. picks the track to ride as the rules mixer does (:func:`~mixassist.mixers.ride.choose_ridden`):
   the one named, else the session's lead (the loudest by integrated loudness, when several are);
2. rides it with :func:`~mixassist.mixers.ride.ride_track` -- the same measure, band, rate limit
   and reasons the rules mixer uses, naming the song's sections (given, or detected with
   :func:`~mixassist.mixers.structure.detect_sections`);
3. delivers the loudness and true peak again (:func:`~mixassist.mixers.deliver.deliver_job`), since
   a ride moves the integrated loudness a little.

Under ``auto`` the ride comes before the closed loop (the loop's first stage is wrapped), so the
reference-fidelity table measures the ridden mix; the loop changes only master settings and
track dynamics, never a track's fader, so it leaves the lane as the ride made it.
"""

from __future__ import annotations

from mixassist.errors import InvalidParameterError
from mixassist.measure import integrated_loudness
from mixassist.mixers.base import Job, Mixer
from mixassist.mixers.decisions import Proposal
from mixassist.mixers.deliver import deliver_job
from mixassist.mixers.ride import choose_ridden, ride_track
from mixassist.mixers.sections import Section, clip_sections, sections_to_dicts
from mixassist.mixers.structure import detect_sections

__all__ = ["RideAfter"]


class RideAfter(Mixer):
    """``first``'s proposal with a ride on one fader, delivered again (module notes).

    Parameters
    ----------
    first : Mixer
        The mixer whose static proposal is ridden.
    ride_name : str, optional
        The track to ride; default the session's lead.
    sections : sequence of Section
        The song's sections, named in the reasons; detected when none are given.
    true_peak_dbtp : float
        The ceiling the delivery keeps (the loudness target is the one ``first`` delivered).
    """

    def __init__(
        self,
        first: Mixer,
        *,
        ride_name: str | None = None,
        sections: tuple[Section, ...] = (),
        true_peak_dbtp: float = -1.0,
    ) -> None:
        self.first = first
        self.ride_name = ride_name
        self.sections = tuple(sections)
        self.true_peak_dbtp = float(true_peak_dbtp)

    def __repr__(self) -> str:
        return f"RideAfter({self.first!r}, ride_name={self.ride_name!r})"

    def solve(self, job: Job) -> Proposal:
        """The first mixer's proposal, ridden and delivered again."""
        multitrack, constraints, report = job.multitrack, job.constraints, job.report
        if self.ride_name is not None and self.ride_name not in multitrack.names:
            raise InvalidParameterError(
                f"ride track '{self.ride_name}' is not in the session; tracks: {', '.join(multitrack.names)}"
            )
        proposal = self.first.propose(
            multitrack, constraints, start=job.start, progress=lambda stage, f: report(stage, 0.8 * f)
        )
        params, reasons = proposal.params, proposal.reasons
        leads = {
            t.name: integrated_loudness(t.audio, multitrack.sample_rate)
            for t in multitrack
            if proposal.roles.get(t.name, {}).get("role") == "lead"
        }
        playing = [t.name for t in multitrack if not t.is_silent()]
        chosen = choose_ridden(self.ride_name, leads, playing, reasons)
        if chosen is None:
            return proposal
        report("riding the lead", 0.8)
        sections = clip_sections(self.sections, multitrack.num_samples / multitrack.sample_rate)
        if not sections:  # the ride's reasons name the song's sections
            sections = detect_sections(multitrack)
        ride = ride_track(multitrack, params, constraints, reasons, chosen, sections=sections)
        if sections:
            proposal.context["sections"] = sections_to_dicts(sections)
        if ride is None:
            return proposal
        proposal.measured.setdefault(chosen, {})["ride"] = ride
        proposal.context["ride"] = ride
        constraints.apply(params)  # span locks on lanes join the ride
        loudness = float(proposal.context["loudness_lufs"])
        ceiling = float(proposal.context.get("true_peak_dbtp", self.true_peak_dbtp))
        mix, mix_of, delivered, measured = deliver_job(
            job,
            params,
            reasons,
            after=0.85,
            loudness_lufs=loudness,
            true_peak_dbtp=ceiling,
            previous=proposal.context.get("result"),
        )
        proposal.mix, proposal.mix_of, proposal.mix_report = mix, mix_of, measured
        proposal.context["result"] = delivered
        report("done", 1.0)
        return proposal
