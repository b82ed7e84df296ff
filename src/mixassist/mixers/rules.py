"""The knowledge-based mixer: a reasoned first mix from stems alone.

Follows the intelligent-music-production line of rule-based automatic mixing (Perez-Gonzalez &
Reiss 2009, 2010; Mansbridge, Finn & Reiss 2012; Hafezi & Reiss 2015; Ma et al. 2015; De Man &
Reiss 2013) and writes a reason for every setting. :meth:`RulesMixer.propose` runs the steps in
order, each in its own module (sources, corrective, compression, panning, balance,
separation_step, separation_reasons, reverb); the order and the rules are in ``docs/mixing.md``.
Locked settings are never changed; the decisions that depend on them work around them.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from mixassist.audio.multitrack import Multitrack
from mixassist.console.params import MixParams
from mixassist.errors import InvalidParameterError
from mixassist.measure import perception
from mixassist.mixers.align import AlignmentReport, align_session, detect_session
from mixassist.mixers.analysis import analyse_multitrack
from mixassist.mixers.balance import balance
from mixassist.mixers.base import Job, Mixer
from mixassist.mixers.compression import compress
from mixassist.mixers.constraints import Constraints
from mixassist.mixers.corrective import high_pass, merge_close_bands, tone_eq, unmask
from mixassist.mixers.decisions import Proposal, Reasons
from mixassist.mixers.deliver import deliver_loudness, mix_bus
from mixassist.mixers.panning import limit_pan, pan_tracks
from mixassist.mixers.reverb import reverb_settings
from mixassist.mixers.ride import choose_ridden, ride_track
from mixassist.mixers.roles import PRIORITY, session_roles
from mixassist.mixers.section_moves import section_moves
from mixassist.mixers.sections import Section, clip_sections, sections_to_dicts
from mixassist.mixers.separation_reasons import explain_separation
from mixassist.mixers.separation_step import search_separation
from mixassist.mixers.sources import RuleTrack, excerpt, strip_renders
from mixassist.mixers.structure import detect_sections
from mixassist.mixers.threads import single_threaded

__all__ = ["ANALYSIS_SECONDS", "RulesMixer"]

log = logging.getLogger(__name__)

Progress = Callable[[str, float], None]

#: Longest stretch (s) the balance and the separation measure; a longer song is measured on four
#: evenly spaced excerpts, joined, a quarter of this long each (:func:`~mixassist.mixers.sources.excerpt`).
#: Was 60 s: at 30 s the balance's and the separation's five strip renders take half the time,
#: and on the sessions it was chosen on the separation's masked fraction was as low
#: (``benchmarks/README.md``, ``rules_speed.py``).
ANALYSIS_SECONDS = 30.0


class RulesMixer(Mixer):
    """Knowledge-based mixer.

    Parameters
    ----------
    loudness_lufs : float
        Integrated loudness of the delivered mix (EBU R128 / ITU-R BS.1770), default −14.
    true_peak_dbtp : float
        Ceiling for the mix's true peak, default −1.
    align : bool
        Detect and correct multi-mic delay/polarity.
    analysis_seconds : float
        Longest stretch of audio the balance and the separation are measured on (longer songs:
        excerpts), default :data:`ANALYSIS_SECONDS`.
    delivery_tolerance_lu : float
        How close the delivered loudness must come to ``loudness_lufs`` (a mixer that re-delivers
        later, such as ``match``, asks for less).
    separation : bool
        Search pans and EQ gains together against masking after the balance
        (:mod:`mixassist.mixers.separation`), then balance again. Off: role-sized pans and the
        priority cuts only.
    ride : bool
        Ride a fader with an automation lane so the part holds steady against the rest of the
        mix (:mod:`mixassist.mixers.ride`), after the section moves (a chorus lift, a solo
        forward, sends by section: :mod:`mixassist.mixers.section_moves`). Off by default: the
        static mix is unchanged.
    ride_name : str, optional
        The track to ride (implies ``ride``); default the lead (the loudest, if several).
    sections : sequence of Section
        The song's sections, named in the ride's and the section moves' reasons (with ``ride``
        and none given, they are detected: :func:`~mixassist.mixers.structure.detect_sections`).

    Examples
    --------
    >>> proposal = RulesMixer(loudness_lufs=-14).propose(stems)   # doctest: +SKIP
    >>> proposal.params.get("vocals", "gain_db"), proposal.why("vocals")["gain_db"]  # doctest: +SKIP
    """

    def __init__(
        self,
        loudness_lufs: float = -14.0,
        true_peak_dbtp: float = -1.0,
        *,
        align: bool = True,
        analysis_seconds: float = ANALYSIS_SECONDS,
        delivery_tolerance_lu: float = 0.1,
        separation: bool = True,
        ride: bool = False,
        ride_name: str | None = None,
        sections: tuple[Section, ...] = (),
    ) -> None:
        if not -40.0 <= loudness_lufs <= -5.0:
            raise InvalidParameterError(f"loudness_lufs={loudness_lufs:g} is outside -40…-5 LUFS")
        if not -12.0 <= true_peak_dbtp <= 0.0:
            raise InvalidParameterError(f"true_peak_dbtp={true_peak_dbtp:g} is outside -12…0 dBTP")
        self.loudness_lufs = float(loudness_lufs)
        self.true_peak_dbtp = float(true_peak_dbtp)
        self.align = bool(align)
        self.analysis_seconds = float(analysis_seconds)
        self.delivery_tolerance_lu = float(delivery_tolerance_lu)
        self.separation = bool(separation)
        self.ride = bool(ride) or ride_name is not None
        self.ride_name = ride_name
        self.sections = tuple(sections)

    def __repr__(self) -> str:
        return (
            f"RulesMixer(loudness_lufs={self.loudness_lufs:g}, true_peak_dbtp={self.true_peak_dbtp:g}, "
            f"align={self.align}, analysis_seconds={self.analysis_seconds:g})"
        )

    # ------------------------------------------------------------------ the whole mix
    @single_threaded()
    def solve(self, job: Job) -> Proposal:
        """The rules' settings for ``job.multitrack`` (the steps in the module notes).

        Torch runs on one intra-op thread throughout (:func:`~mixassist.mixers.threads.single_threaded`):
        the console already runs its stages on two threads of its own (the mono beside the stereo
        strips, the master tail's two halves), and torch's own threads beside them only wait on
        each other. Same settings bit for bit; on the 2-core machine, 8 stems x 3 min, the whole
        mix 14.6-15.7 s against 21.2-21.8 s (the master stage 4.2-4.6 against 9.0 s,
        ``benchmarks/README.md``)."""
        multitrack, constraints, report = job.multitrack, job.constraints, job.report
        params = job.first_params()
        reasons = Reasons()
        sr = multitrack.sample_rate
        sections = clip_sections(self.sections, multitrack.num_samples / sr)
        if self.ride_name is not None and self.ride_name not in multitrack.names:
            raise InvalidParameterError(
                f"ride track '{self.ride_name}' is not in the session; tracks: {', '.join(multitrack.names)}"
            )

        report("measuring tracks", 0.0)
        # The multi-mic detection reads the tracks beside the analysis (a third task for the two
        # cores; not for a spooled session, whose memory comes first). Its result is the one of
        # every track; should one turn out silent, the detection runs again without it.
        beside = self.align and len(multitrack) >= 2 and not any(t.spooled for t in multitrack)
        with ThreadPoolExecutor(max_workers=1) as pool:
            early = pool.submit(detect_session, multitrack, list(multitrack.names), constraints) if beside else None
            analysis = analyse_multitrack(multitrack)
            detected = early.result() if early is not None else None
        tracks: dict[str, RuleTrack] = {}
        roles_out: dict[str, dict[str, str]] = {}
        guesses = session_roles(multitrack, constraints.roles)
        for t in multitrack:
            guess = guesses[t.name]
            roles_out[t.name] = {"role": guess.role, "source": guess.source, "reason": guess.reason}
            a = analysis[t.name]
            if a.silent:
                reasons.notes.append(f"{t.name} is silent: left out of the balance and left at its neutral settings")
                for p in ("gain_db", "pan"):
                    reasons.add(t.name, p, "silent track: nothing to set")
                continue
            tracks[t.name] = RuleTrack(t.name, a, guess, PRIORITY[guess.role])
        if not tracks:
            reasons.notes.append("every track is silent: nothing to mix; settings left neutral")

        report("aligning multi-mic tracks", 0.1)
        alignment = self._align(
            multitrack, tracks, params, constraints, reasons, detected if len(tracks) == len(multitrack) else None
        )

        report("high-pass, pan and compression", 0.2)
        for tr in tracks.values():
            high_pass(tr, params, constraints, reasons)
            compress(tr, params, constraints, reasons)
        ex = excerpt(multitrack, self.analysis_seconds)
        raw_powers = {name: perception.band_powers(ex[name].audio, sr) for name in tracks}
        centres = perception.band_centres_hz(sr)
        pan_tracks(tracks, raw_powers, params, constraints, reasons)

        report("equalisation", 0.35)
        tone_eq(tracks, raw_powers, centres, params, constraints, reasons)
        if not self.separation:  # else the separation stage (8b) does the masking-aware EQ
            unmask(tracks, raw_powers, centres, params, constraints, reasons)
        for name in tracks:
            merge_close_bands(name, params, constraints, reasons, sr)

        report("balance (loudness in the mix)", 0.45)
        measured: dict[str, dict[str, Any]] = {
            name: {"analysis": analysis[name].to_dict()} for name in multitrack.names
        }
        # one render of the strips for the balance and the separation (only faders and pans differ)
        renders = strip_renders(ex, list(tracks), params, mid_side=self.separation) if tracks else None
        balance(tracks, ex, params, constraints, reasons, measured, renders)
        if self.separation:
            report("separation (pans and EQ against masking)", 0.5)
            plan = search_separation(
                tracks,
                ex,
                params,
                constraints,
                reasons,
                lambda f: report("separation (pans and EQ against masking)", 0.5 + 0.15 * f),
                renders,
            )
            renders = None  # the excerpt's strips are let go before the balance renders them again
            if plan is not None:
                report("balance again, after separation", 0.65)
                balance(tracks, ex, params, constraints, reasons, measured)
                explain_separation(plan, params, reasons, measured)
        for name, tr in tracks.items():  # the separation's result obeys the same craft rules
            merge_close_bands(name, params, constraints, reasons, sr)
            limit_pan(tr, params, constraints, reasons)

        report("reverb", 0.7)
        reverb_settings(tracks, multitrack, params, constraints, reasons)

        if self.ride and not sections:  # the ride's reasons name the song's sections: detect them
            sections = detect_sections(multitrack)
        leads = {name: t.analysis.integrated_lufs for name, t in tracks.items() if t.role.role == "lead"}
        chosen = choose_ridden(self.ride_name, leads, tracks, reasons) if self.ride else None
        if self.ride:  # the section moves go in first, so the ride hears them
            moved = section_moves(multitrack, params, constraints, reasons, tracks, sections, ridden=chosen)
            for name, lanes in moved.items():
                measured[name]["section_moves"] = lanes
        ride = (
            None if chosen is None else ride_track(multitrack, params, constraints, reasons, chosen, sections=sections)
        )
        if ride is not None:
            measured[ride["track"]]["ride"] = ride
        constraints.apply(params)  # span locks on lanes join the settings made above
        report("master: loudness and true peak", 0.75)
        result = self._master(
            multitrack,
            params,
            constraints,
            reasons,
            lambda f: report("master: loudness and true peak", 0.75 + 0.25 * f),
        )
        constraints.apply(params)
        context = {
            "method": "rules",
            "loudness_lufs": self.loudness_lufs,
            "true_peak_dbtp": self.true_peak_dbtp,
            "constraints": constraints.to_dict(),
            "analysis_seconds": self.analysis_seconds,
            "result": result,
            **({"sections": sections_to_dicts(sections)} if sections else {}),
            **({"ride": ride} if ride is not None else {}),
        }
        report("done", 1.0)
        final_mix, mix_of, mix_report = (
            result.pop("mix", None),
            result.pop("settings", None),
            result.pop("report", None),
        )
        return Proposal(
            params,
            reasons,
            roles_out,
            measured,
            context,
            alignment,
            mix=final_mix,
            mix_of=mix_of,
            mix_report=(final_mix, mix_report) if final_mix is not None and mix_report is not None else None,
        )

    # ------------------------------------------------------------------ 2. alignment
    def _align(
        self,
        multitrack: Multitrack,
        tracks: dict[str, RuleTrack],
        params: MixParams,
        constraints: Constraints,
        reasons: Reasons,
        detected: AlignmentReport | None = None,
    ) -> dict[str, Any] | None:
        """The multi-mic alignment of ``tracks`` (``detected``: their detection, if made already)."""
        if not self.align:
            return None
        found = align_session(multitrack, list(tracks), params, constraints, reasons, detected)
        if found is None:
            return None
        for gid, group in enumerate(found.groups):
            for name in group:
                if name in tracks:
                    tracks[name].group = f"group{gid}"
        return found.to_dict()

    # ------------------------------------------------------------------ 10. master
    def _master(
        self,
        multitrack: Multitrack,
        params: MixParams,
        constraints: Constraints,
        reasons: Reasons,
        progress: Callable[[float], None],
    ) -> dict[str, Any]:
        bus = mix_bus(multitrack, params, constraints, self.true_peak_dbtp)
        progress(0.2)
        if bus.loudness_lufs is None:
            reasons.notes.append("the mix is silent: master left neutral")
            return {"integrated_lufs": None, "true_peak_dbtp": None}
        choose = lambda p, v, why: reasons.set(params, constraints, "master", p, v, why)  # noqa: E731
        peak_db = 20 * math.log10(max(float(np.max(np.abs(b))) for b in _blocks(bus.song)) or 1e-12)
        choose("comp_ratio", 2.0, "2:1 glue compression: holds the parts together without audible pumping")
        choose("comp_attack_ms", 30.0, "30 ms attack: transients pass, the body is controlled")
        choose("comp_release_ms", 200.0, "200 ms release: recovers between phrases")
        choose("comp_knee_db", 6.0, "6 dB soft knee")
        choose(
            "comp_threshold_db",
            round(float(np.clip(peak_db - 6.0, -60.0, 0.0)), 1),
            f"threshold 6 dB below the mix's peak ({peak_db:.1f} dBFS): 1–3 dB of gain reduction on the loudest passages",
        )
        choose(
            "limiter_ceiling_dbtp",
            self.true_peak_dbtp,
            f"true-peak limiter at {self.true_peak_dbtp:g} dBTP: no inter-sample overs after encoding",
        )
        result = deliver_loudness(
            multitrack,
            params,
            constraints,
            reasons,
            loudness_lufs=self.loudness_lufs,
            true_peak_dbtp=self.true_peak_dbtp,
            bus=bus,
            progress=lambda f: progress(0.2 + 0.8 * f),
            tolerance_lu=self.delivery_tolerance_lu,
        )
        return result


def _blocks(audio: np.ndarray, size: int = 1 << 20) -> list[np.ndarray]:
    """``audio`` ``(channels, samples)`` as views of ``size`` samples (at least one, maybe empty): a
    peak read without a whole-signal copy."""
    return [audio[:, a : a + size] for a in range(0, max(audio.shape[-1], 1), size)]
