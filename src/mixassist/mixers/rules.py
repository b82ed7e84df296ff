"""The knowledge-based mixer: a reasoned first mix from stems alone.

Follows the intelligent-music-production line of rule-based automatic mixing — automatic
fader control from loudness (Perez-Gonzalez & Reiss 2009; Mansbridge, Finn & Reiss 2012),
masking-aware equalisation (Hafezi & Reiss 2015) and panning (Perez-Gonzalez & Reiss 2010),
dynamic range compression from measured dynamics (Ma, De Man, Pestana, Black & Reiss 2015),
best practices collected by De Man & Reiss (2013) — and writes a reason for every setting.

The order of decisions (each one uses the previous ones):

1. measure every raw track (:mod:`mixassist.mixers.analysis`); silent tracks are reported
   and left out;
2. align multi-mic pairs (:mod:`mixassist.mixers.align`);
3. roles (:mod:`mixassist.mixers.roles`) and their balance priority;
4. high-pass below each track's lowest useful content (never kick or bass);
5. pan: anchors (lead, bass, kick, snare) centred, other mono tracks spread left/right to
   the side where they overlap least in spectrum with what is there already; stereo stems
   keep their image (narrowed if they are not mono-compatible);
6. compression from the measured crest factor, attack/release by role;
7. EQ: gentle corrective shaping (mud, harshness); with ``separation=False`` also cuts in bands
   where a track masks a higher-priority one, measured on the ERB scale with the tracks placed
   as they will be;
8. balance: every track's *partial loudness in the mix* (Moore–Glasberg model,
   :mod:`mixassist.measure.perception`) brought to its role's target, relative to the mix;
8b. separation (:mod:`mixassist.mixers.separation`): the free pans, stereo widths and EQ band
   gains searched together, by gradient descent on a differentiable twin of the same loudness
   model, for the lowest mean masked fraction; then the balance again at the new placement;
9. reverb sends by role and density; reverb decay sized to the tempo;
10. master: glue compressor, output gain to the loudness target, true-peak limiter.

Locked settings are never changed; the decisions that depend on them work around them.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from mixassist.audio.multitrack import Multitrack
from mixassist.console.console import Console
from mixassist.console.params import MixParams
from mixassist.errors import InvalidParameterError
from mixassist.measure import integrated_loudness, perception
from mixassist.mixers.analysis import TrackAnalysis, analyse_multitrack
from mixassist.mixers.constraints import Constraints
from mixassist.mixers.decisions import Proposal, Reasons
from mixassist.mixers.deliver import deliver_loudness, mix_bus
from mixassist.mixers.roles import PRIORITY, RoleGuess, is_centre_source, is_low_source, session_roles
from mixassist.mixers.separation import EQ_SLOTS, STEREO_REACH, SeparationModel, separate

__all__ = ["RulesMixer", "ROLE_WEIGHT", "ROLE_WINDOW_PHON", "excerpt", "estimate_tempo_bpm"]

log = logging.getLogger(__name__)

Progress = Callable[[str, float], None]

#: Share of the mix's loudness each role aims for, as relative weights (Pestana & Reiss 2014
#: and De Man et al. 2014 report lead vocals and drums loudest, then bass, then the rest).
ROLE_WEIGHT: dict[str, float] = {
    "lead": 4.0,
    "drums": 2.5,
    "bass": 2.5,
    "chords": 1.5,
    "arp": 1.0,
    "percussion": 0.8,
    "pad": 0.8,
    "fx": 0.5,
}
#: ``k`` tracks of one role share it: each gets ``weight / k**ROLE_SPLIT_EXPONENT``, so a role
#: grows a little, not k-fold, with more tracks (seven drum mics are still one drum kit).
ROLE_SPLIT_EXPONENT = 0.7
#: A track is "in its window" when its loudness in the mix is within this many phon
#: (10 phon = double or half the loudness) of its target.
ROLE_WINDOW_PHON = 6.0
#: The balance moves a fader at most this far from equal solo loudness (dB).
BALANCE_RANGE_DB = 15.0
#: Level the balance is judged at (the mix normalised to this, as a listener would set it).
LISTENING_LUFS = -23.0

# Compression by role: (ratio, attack_ms, release_ms, target crest factor in dB).
_COMP_BY_ROLE: dict[str, tuple[float, float, float, float]] = {
    "lead": (3.0, 5.0, 120.0, 12.0),
    "bass": (4.0, 10.0, 150.0, 10.0),
    "drums": (3.0, 15.0, 120.0, 16.0),
    "chords": (2.0, 15.0, 200.0, 13.0),
    "arp": (2.0, 10.0, 150.0, 13.0),
    "percussion": (2.5, 10.0, 120.0, 16.0),
    "pad": (1.5, 30.0, 300.0, 12.0),
}
# Reverb send by role (dB, post-fader); None = dry.
_SEND_BY_ROLE: dict[str, float | None] = {
    "lead": -16.0,
    "chords": -18.0,
    "pad": -12.0,
    "arp": -16.0,
    "percussion": -20.0,
    "fx": -12.0,
    "drums": -22.0,
    "bass": None,
}
# Pan magnitude by role for sources that are not anchors.
_PAN_BY_ROLE: dict[str, float] = {
    "chords": 0.5,
    "arp": 0.6,
    "percussion": 0.45,
    "pad": 0.7,
    "fx": 0.7,
    "drums": 0.35,
    "lead": 0.0,
    "bass": 0.0,
}
_HPF_CAP_HZ: dict[str, float] = {
    "lead": 120.0,
    "chords": 200.0,
    "pad": 200.0,
    "arp": 250.0,
    "percussion": 400.0,
    "drums": 300.0,
    "fx": 300.0,
}
_PEAK_SLOTS = (("peak1", 20.0, 2000.0), ("peak2", 50.0, 5000.0), ("peak3", 200.0, 12000.0), ("peak4", 500.0, 20000.0))
_MAX_CUT_DB = 4.5
#: Separation EQ gains stay within ±this (dB).
SEPARATION_EQ_DB = 6.0
#: Separation narrows a stereo stem to no less than this width.
SEPARATION_MIN_WIDTH = 0.25
#: Weight of the separation's EQ cost (mean masked fraction per ±SEPARATION_EQ_DB on every free band).
SEPARATION_EQ_COST = 0.1
#: Weight of the separation's cost on changing the mix's long-term spectrum (per dB², level-weighted
#: mean over bands): the separation carves between sources, it does not re-tone the mix.
SEPARATION_TONE_COST = 0.5
#: The separation may also move the frequency (±1 octave) and Q of the free peaking bands.
SEPARATION_TUNE_BANDS = True
_GROUP_SIZE = 16  # tracks rendered at once when measuring processed stems (bounds memory)


@dataclass
class _Track:
    name: str
    analysis: TrackAnalysis
    role: RoleGuess
    priority: int
    group: str | None = None  # multi-mic group id


def excerpt(multitrack: Multitrack, seconds: float, *, pieces: int = 4) -> Multitrack:
    """The whole multitrack if it is at most ``seconds`` long, else ``pieces`` evenly spaced
    excerpts joined (used to measure long songs in bounded time and memory)."""
    n = multitrack.num_samples
    total = int(seconds * multitrack.sample_rate)
    if n <= total:
        return multitrack
    piece = total // pieces
    starts = np.linspace(0.05 * n, 0.95 * n - piece, pieces).astype(int)
    arrays = {t.name: np.concatenate([t.audio[:, s : s + piece] for s in starts], axis=1) for t in multitrack}
    return Multitrack.from_arrays(arrays, multitrack.sample_rate)


def _db(x: float) -> float:
    return 10 * math.log10(x) if x > 0 else -200.0


class RulesMixer:
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
        Longest stretch of audio the balance is measured on (longer songs: excerpts).
    delivery_tolerance_lu : float
        How close the delivered loudness must come to ``loudness_lufs`` (a mixer that re-delivers
        later, such as ``match``, asks for less).
    separation : bool
        Search pans and EQ gains together against masking after the balance
        (:mod:`mixassist.mixers.separation`), then balance again. Off: role-sized pans and the
        priority cuts only.

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
        analysis_seconds: float = 60.0,
        delivery_tolerance_lu: float = 0.1,
        separation: bool = True,
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

    def __repr__(self) -> str:
        return (
            f"RulesMixer(loudness_lufs={self.loudness_lufs:g}, true_peak_dbtp={self.true_peak_dbtp:g}, "
            f"align={self.align}, analysis_seconds={self.analysis_seconds:g})"
        )

    # ------------------------------------------------------------------ the whole mix
    def propose(
        self,
        multitrack: Multitrack,
        constraints: Constraints | None = None,
        *,
        start: MixParams | None = None,
        progress: Progress | None = None,
    ) -> Proposal:
        """Propose console settings for ``multitrack``.

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

        Returns
        -------
        Proposal
        """
        constraints = constraints or Constraints()
        report = progress or (lambda stage, fraction: None)
        constraints.require_tracks(multitrack.names)
        params = start.copy() if start is not None else MixParams(multitrack.names)
        constraints.apply(params)
        reasons = Reasons()
        sr = multitrack.sample_rate

        report("measuring tracks", 0.0)
        analysis = analyse_multitrack(multitrack)
        tracks: dict[str, _Track] = {}
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
            tracks[t.name] = _Track(t.name, a, guess, PRIORITY[guess.role])
        if not tracks:
            reasons.notes.append("every track is silent: nothing to mix; settings left neutral")

        report("aligning multi-mic tracks", 0.1)
        alignment = self._align(multitrack, tracks, params, constraints, reasons)

        report("high-pass, pan and compression", 0.2)
        for tr in tracks.values():
            self._high_pass(tr, params, constraints, reasons)
            self._compress(tr, params, constraints, reasons)
        ex = excerpt(multitrack, self.analysis_seconds)
        raw_powers = {name: perception.band_powers(ex[name].audio, sr) for name in tracks}
        centres = perception.band_centres_hz(sr)
        self._pan(tracks, raw_powers, params, constraints, reasons)

        report("equalisation", 0.35)
        self._tone(tracks, raw_powers, centres, params, constraints, reasons)
        if not self.separation:  # else the separation stage (8b) does the masking-aware EQ
            self._unmask(tracks, raw_powers, centres, params, constraints, reasons)

        report("balance (loudness in the mix)", 0.45)
        measured: dict[str, dict[str, Any]] = {
            name: {"analysis": analysis[name].to_dict()} for name in multitrack.names
        }
        self._balance(tracks, ex, params, constraints, reasons, measured)
        if self.separation:
            report("separation (pans and EQ against masking)", 0.5)
            plan = self._separate(
                tracks,
                ex,
                params,
                constraints,
                reasons,
                lambda f: report("separation (pans and EQ against masking)", 0.5 + 0.15 * f),
            )
            if plan is not None:
                report("balance again, after separation", 0.65)
                self._balance(tracks, ex, params, constraints, reasons, measured)
                self._explain_separation(plan, params, reasons, measured)

        report("reverb", 0.7)
        self._reverb(tracks, multitrack, params, constraints, reasons)

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
        }
        report("done", 1.0)
        final_mix, mix_of = result.pop("mix", None), result.pop("settings", None)
        return Proposal(params, reasons, roles_out, measured, context, alignment, mix=final_mix, mix_of=mix_of)

    # ------------------------------------------------------------------ 2. alignment
    def _align(
        self,
        multitrack: Multitrack,
        tracks: dict[str, _Track],
        params: MixParams,
        constraints: Constraints,
        reasons: Reasons,
    ) -> dict[str, Any] | None:
        if not self.align:
            return None
        from mixassist.mixers.align import align_session

        found = align_session(multitrack, list(tracks), params, constraints, reasons)
        if found is None:
            return None
        for gid, group in enumerate(found.groups):
            for name in group:
                if name in tracks:
                    tracks[name].group = f"group{gid}"
        return found.to_dict()

    # ------------------------------------------------------------------ 4. high-pass
    def _high_pass(self, tr: _Track, params: MixParams, constraints: Constraints, reasons: Reasons) -> None:
        a, role = tr.analysis, tr.role.role
        if is_low_source(tr.name, role):
            reasons.add(tr.name, "hpf_hz", f"no high-pass: {tr.name} is a bass-range source ({role})")
            return
        low = a.low_cut_hz
        if low is None or low < 40.0:
            reasons.add(tr.name, "hpf_hz", f"no high-pass: useful content reaches down to {low or 0:.0f} Hz")
            return
        corner = float(np.clip(0.8 * low, 20.0, _HPF_CAP_HZ.get(role, 200.0)))
        reasons.set(
            params,
            constraints,
            tr.name,
            "hpf_hz",
            round(corner, 1),
            f"high-pass at {corner:.0f} Hz: only 0.1 % of the track's power lies below {low:.0f} Hz, so this "
            f"removes rumble and low-end build-up without touching the part (capped at "
            f"{_HPF_CAP_HZ.get(role, 200.0):.0f} Hz for a {role} track)",
        )

    # ------------------------------------------------------------------ 6. compression
    def _compress(self, tr: _Track, params: MixParams, constraints: Constraints, reasons: Reasons) -> None:
        a, role = tr.analysis, tr.role.role
        if role not in _COMP_BY_ROLE or a.crest_db is None or a.peak_dbfs is None:
            reasons.add(tr.name, "comp_ratio", f"no compression for a {role} track")
            return
        ratio, attack, release, target_crest = _COMP_BY_ROLE[role]
        excess = a.crest_db - target_crest
        if excess < 1.0:
            reasons.add(
                tr.name,
                "comp_ratio",
                f"no compression: crest factor {a.crest_db:.1f} dB is already within the {target_crest:.0f} dB "
                f"typical of a controlled {role} track",
            )
            return
        depth = float(np.clip(excess / (1 - 1 / ratio) + 3.0, 3.0, 18.0))
        threshold = float(np.clip(a.peak_dbfs - depth, -60.0, 0.0))
        facts = f"crest factor {a.crest_db:.1f} dB is {excess:.1f} dB above the {target_crest:.0f} dB of a controlled {role} track"
        reasons.set(params, constraints, tr.name, "comp_ratio", ratio, f"{ratio:g}:1 — {facts}")
        reasons.set(
            params,
            constraints,
            tr.name,
            "comp_threshold_db",
            round(threshold, 1),
            f"{depth:.1f} dB below the track's peak ({a.peak_dbfs:.1f} dBFS), so the loudest {depth:.0f} dB are reduced",
        )
        reasons.set(
            params,
            constraints,
            tr.name,
            "comp_attack_ms",
            attack,
            f"{attack:g} ms attack: {'lets the transient through' if attack >= 10 else 'catches peaks early'} ({role})",
        )
        reasons.set(
            params, constraints, tr.name, "comp_release_ms", release, f"{release:g} ms release, typical for {role}"
        )
        reasons.set(params, constraints, tr.name, "comp_knee_db", 6.0, "6 dB soft knee: gentle onset of gain reduction")

    # ------------------------------------------------------------------ 5. panning
    def _pan(
        self,
        tracks: dict[str, _Track],
        powers: dict[str, np.ndarray],
        params: MixParams,
        constraints: Constraints,
        reasons: Reasons,
    ) -> None:
        profiles = {n: _profile(p) for n, p in powers.items()}
        load = {-1.0: np.zeros_like(next(iter(profiles.values()))) if profiles else None, 1.0: None}
        load[1.0] = None if load[-1.0] is None else load[-1.0].copy()
        group_pan: dict[str, float] = {}
        order = sorted(tracks.values(), key=lambda t: (-t.priority, -(t.analysis.integrated_lufs or -99)))
        for tr in order:
            role = tr.role.role
            if tr.analysis.channels == 2:
                self._stereo_image(tr, params, constraints, reasons)
                if not constraints.is_locked(tr.name, "pan"):
                    reasons.add(tr.name, "pan", "stereo stem: kept centred, its own image carries the placement")
                continue
            if tr.group is not None and tr.group in group_pan:
                pan = group_pan[tr.group]
                reasons.set(
                    params,
                    constraints,
                    tr.name,
                    "pan",
                    pan,
                    f"panned with its multi-mic partner(s) ({pan:+.2f}) so the source stays in one place",
                )
                continue
            if is_centre_source(tr.name, role) or _PAN_BY_ROLE.get(role, 0.5) == 0.0:
                pan = 0.0
                reasons.set(
                    params,
                    constraints,
                    tr.name,
                    "pan",
                    0.0,
                    f"centred: a {role} anchor ({tr.name}) stays in the middle, where low end and the focus of the mix live",
                )
            elif constraints.is_locked(tr.name, "pan"):
                pan = float(params.get(tr.name, "pan") or 0.0)
                reasons.add(tr.name, "pan", "locked by you")
            else:
                prof = profiles[tr.name]
                overlap = {side: float(np.minimum(prof, load[side]).sum()) for side in (-1.0, 1.0)}
                side = -1.0 if overlap[-1.0] <= overlap[1.0] else 1.0
                pan = round(side * _PAN_BY_ROLE.get(role, 0.5), 2)
                word = "left" if side < 0 else "right"
                reasons.set(
                    params,
                    constraints,
                    tr.name,
                    "pan",
                    pan,
                    f"{abs(pan):.2f} {word}: spread away from the centre as a {role} part, to the side whose tracks "
                    f"share less of its spectrum (overlap {overlap[side]:.2f} vs {overlap[-side]:.2f})",
                )
            if pan != 0.0 and load[-1.0] is not None:
                theta = (pan + 1) * math.pi / 4
                load[-1.0] += profiles[tr.name] * math.cos(theta) ** 2
                load[1.0] += profiles[tr.name] * math.sin(theta) ** 2
            if tr.group is not None:
                group_pan[tr.group] = pan

    def _stereo_image(self, tr: _Track, params: MixParams, constraints: Constraints, reasons: Reasons) -> None:
        corr = tr.analysis.correlation
        if corr is not None and corr < 0.0:
            width = 0.6
            why = (
                f"width 0.6: the stem's channels are negatively correlated ({corr:+.2f}), which would cancel in mono; "
                f"narrowed for mono compatibility"
            )
        elif tr.role.role == "pad" and (corr is None or corr > 0.3):
            width = 1.2
            why = "width 1.2: a pad can be wider than recorded, leaving the centre to the anchors"
        else:
            width = 1.0
            why = (
                f"width 1.0: the stereo image is kept as recorded (correlation {corr if corr is not None else 0:+.2f})"
            )
        reasons.set(params, constraints, tr.name, "width", width, why)

    # ------------------------------------------------------------------ 7. EQ
    def _tone(
        self,
        tracks: dict[str, _Track],
        powers: dict[str, np.ndarray],
        centres: np.ndarray,
        params: MixParams,
        constraints: Constraints,
        reasons: Reasons,
    ) -> None:
        """Gentle corrective shaping: mud (200–500 Hz) and harshness (2–5 kHz), at most ±3 dB."""
        for name, tr in tracks.items():
            role = tr.role.role
            if role in ("bass", "drums", "percussion", "fx"):
                continue
            level = _octave_levels(powers[name], centres)
            if level is None:
                continue
            mud = level(200, 500) - level(1000, 4000)
            if mud > 15.0:
                cut = float(np.clip(0.25 * (mud - 15.0) + 1.5, 1.5, 3.0))
                freq = _peak_freq(powers[name], centres, 200, 500)
                self._set_peak(
                    name,
                    freq,
                    -cut,
                    1.0,
                    params,
                    constraints,
                    reasons,
                    f"mud: 200–500 Hz sits {mud:.1f} dB above 1–4 kHz (more than 15 dB makes a {role} part boxy); "
                    f"a broad {cut:.1f} dB cut at {freq:.0f} Hz",
                )
            harsh = level(2000, 5000) - level(500, 1000)
            if harsh > 3.0 and role in ("lead", "chords", "arp", "pad"):
                cut = float(np.clip(0.5 * (harsh - 3.0) + 1.0, 1.0, 3.0))
                freq = _peak_freq(powers[name], centres, 2000, 5000)
                self._set_peak(
                    name,
                    freq,
                    -cut,
                    2.0,
                    params,
                    constraints,
                    reasons,
                    f"harshness: 2–5 kHz sits {harsh:.1f} dB above 500–1000 Hz; a {cut:.1f} dB cut at {freq:.0f} Hz",
                )

    def _unmask(
        self,
        tracks: dict[str, _Track],
        powers: dict[str, np.ndarray],
        centres: np.ndarray,
        params: MixParams,
        constraints: Constraints,
        reasons: Reasons,
    ) -> None:
        """Cut a track where it masks a higher-priority one (Hafezi & Reiss 2015, simplified):
        per ERB band, the masker-to-signal ratio at each ear over the target's active frames."""
        names = list(tracks)
        if len(names) < 2:
            return
        placed = {}
        for n in names:
            p = powers[n]
            a = tracks[n].analysis
            gain = 10 ** ((-24.0 - (a.integrated_lufs or -24.0)) / 10)  # a rough equal-loudness start
            placed[n] = _place(p, params.get(n, "pan") or 0.0, params.get(n, "width") or 1.0) * gain
        share = {n: placed[n].sum(axis=(0, 1)) / max(placed[n].sum(), 1e-30) for n in names}
        for m in names:
            if tracks[m].role.role in ("bass",) or all(
                params.get(m, f"eq_{s}_db") not in (0.0, None) for s, _, _ in _PEAK_SLOTS
            ):
                continue
            demand = np.zeros(len(centres))
            blame = [""] * len(centres)
            for t in names:
                if (
                    tracks[t].priority <= tracks[m].priority
                    or tracks[t].group is not None
                    and tracks[t].group == tracks[m].group
                ):
                    continue
                pt, pm = placed[t], placed[m]
                weight = pt  # frames and ears where the target is loud count most
                ratio = (pm * weight).sum(axis=(0, 1)) / np.maximum((pt * weight).sum(axis=(0, 1)), 1e-30)
                msr_db = 10 * np.log10(np.maximum(ratio, 1e-20))
                key = 10 * np.log10(np.maximum(share[t], 1e-20)) > 10 * np.log10(share[t].max() + 1e-30) - 12.0
                d = np.where(key, np.clip(0.5 * (msr_db + 6.0), 0.0, 6.0), 0.0)
                better = d > demand
                for b in np.nonzero(better)[0]:
                    blame[b] = f"{t} (masker {msr_db[b]:+.1f} dB relative to it there)"
                demand = np.maximum(demand, d)
            if not demand.any():
                continue
            own_db = 10 * np.log10(np.maximum(share[m], 1e-20))
            protect = own_db > own_db.max() - 3.0  # do not gut the masker's own core
            score = np.where(protect, 0.5 * demand, demand)
            score = np.convolve(score, [0.25, 0.5, 0.25], mode="same")
            for _ in range(2):
                b = int(np.argmax(score))
                if score[b] < 1.0:
                    break
                cut = float(np.clip(round(2 * score[b]) / 2, 1.0, _MAX_CUT_DB))
                freq = float(centres[b])
                ok = self._set_peak(
                    m,
                    freq,
                    -cut,
                    1.4,
                    params,
                    constraints,
                    reasons,
                    f"unmasking: {cut:.1f} dB cut at {freq:.0f} Hz (about an octave wide), where {m} "
                    f"masks the higher-priority {blame[b]}",
                )
                if not ok:
                    break
                near = np.abs(np.log2(centres / freq)) < 1.0
                score[near] = 0.0

    def _set_peak(
        self,
        track: str,
        freq: float,
        gain_db: float,
        q: float,
        params: MixParams,
        constraints: Constraints,
        reasons: Reasons,
        why: str,
    ) -> bool:
        for slot, lo, hi in _PEAK_SLOTS:
            names = (f"eq_{slot}_hz", f"eq_{slot}_db", f"eq_{slot}_q")
            if any(constraints.is_locked(track, n) for n in names):
                continue
            if (params.get(track, names[1]) or 0.0) != 0.0 or not lo <= freq <= hi:
                continue
            reasons.set(params, constraints, track, names[0], round(freq, 1), why)
            reasons.set(params, constraints, track, names[1], round(gain_db, 2), why)
            reasons.set(params, constraints, track, names[2], q, f"Q {q:g}: {'broad' if q <= 1.5 else 'focused'} band")
            return True
        return False

    # ------------------------------------------------------------------ 8. balance
    def _balance(
        self,
        tracks: dict[str, _Track],
        ex: Multitrack,
        params: MixParams,
        constraints: Constraints,
        reasons: Reasons,
        measured: dict[str, dict[str, Any]],
    ) -> None:
        names = list(tracks)
        if not names:
            return
        members = _units(tracks)
        units = list(members)
        role_of = {u: _unit_role(tracks, members[u]) for u in units}
        role_count: dict[str, int] = {}
        for u in units:
            role_count[role_of[u]] = role_count.get(role_of[u], 0) + 1
        weight = np.array([ROLE_WEIGHT[role_of[u]] / role_count[role_of[u]] ** ROLE_SPLIT_EXPONENT for u in units])
        start = {  # equal solo loudness, or the locked value
            n: float(params.get(n, "gain_db") or 0.0)
            if constraints.is_locked(n, "gain_db")
            else float(np.clip(-24.0 - (tracks[n].analysis.integrated_lufs or -24.0), -60, 24))
            for n in names
        }
        locked = np.array([any(constraints.is_locked(n, "gain_db") for n in members[u]) for u in units])
        anchor = locked if locked.any() else np.ones(len(units), bool)
        placed, power_per_lu, _ = self._processed_powers(ex, names, params, np.array([start[n] for n in names]))
        stack = np.stack([_unit_power(placed, members[u], start) for u in units])  # (units, 2, frames, bands)
        sums = stack.sum(axis=(1, 2, 3), dtype=np.float64)

        # Faders stay within BALANCE_RANGE_DB of equal solo loudness (relative to the free
        # faders' common level): with many tracks that mask each other the shares could also be
        # met by burying some tracks near their masked threshold, which no engineer would do.
        def hear(o: np.ndarray, anchor: np.ndarray) -> tuple[np.ndarray, np.ndarray, perception.MixLoudness]:
            # heard at a fixed listening level (the mix scaled to LISTENING_LUFS); returns each
            # unit's partial loudness and its target (anchored on the locked units, if any)
            scale = power_per_lu * 10 ** (LISTENING_LUFS / 10) / max(float(np.sum(sums * 10 ** (o / 10))), 1e-300)
            loud = perception.loudness_in_mix(stack * (scale * 10 ** (o / 10))[:, None, None, None])
            partial = np.maximum(loud.partial_sone, 1e-9)
            target = weight * partial[anchor].sum() / weight[anchor].sum()
            return partial, target, loud

        # Partial loudness grows much faster than 1 phon/dB near masked threshold, and tracks
        # that mask each other pull in turns, so a fixed step oscillates. Each unit's step
        # factor halves whenever its error changes sign (Rprop-style damping).
        def solve(offset: np.ndarray, fixed: np.ndarray, centre: float, anchor_on: np.ndarray) -> np.ndarray:
            factor = np.full(len(units), 0.7)
            previous = np.zeros(len(units))
            low, high = centre - BALANCE_RANGE_DB, centre + BALANCE_RANGE_DB
            for _ in range(80):
                partial, target, _ = hear(offset, anchor_on)
                error = 10 * np.log2(target / partial)  # phon-like: 10 per doubling of loudness
                pinned = ((offset <= low) & (error < 0)) | ((offset >= high) & (error > 0))
                free = ~fixed & ~pinned
                if not free.any() or np.max(np.abs(error[free])) < 0.25:
                    break
                flipped = np.sign(error) * np.sign(previous) < 0
                factor = np.where(flipped, factor * 0.5, np.minimum(factor * 1.1, 0.7))
                previous = error
                step = np.clip(factor * error, -6.0, 6.0)
                step[fixed] = 0.0
                offset = np.where(fixed, offset, np.clip(offset + step, low, high))
            return offset

        everything = np.ones(len(units), bool)
        # First the balance among all units as if nothing were locked (faders within the range
        # around equal solo loudness); then, with locked faders, the free ones move together to
        # meet them and the balance is refined around that common level.
        offset = solve(np.zeros(len(units)), ~everything, 0.0, everything)
        if locked.any():
            shift = -float(np.mean(offset[locked]))
            offset = solve(np.where(locked, 0.0, offset + shift), locked, shift, anchor)
        partial, target, loud = hear(offset, anchor)
        gains = {n: float(np.clip(start[n] + offset[k], -60.0, 24.0)) for k, u in enumerate(units) for n in members[u]}
        if not locked.any():  # anchor the absolute level: the summed tracks near -20 LUFS before the master
            shift = self._level_offset(ex, names, params, np.array([gains[n] for n in names]))
            gains = {n: g + shift for n, g in gains.items()}
        total = partial.sum()
        for k, u in enumerate(units):
            off = 10 * np.log2(partial[k] / target[k])
            if abs(off) > ROLE_WINDOW_PHON:
                reasons.notes.append(
                    f"{' + '.join(members[u])}: could not reach its loudness in the mix within {BALANCE_RANGE_DB:g} dB of "
                    f"its solo level ({off:+.1f} phon from target); it masks or is masked heavily"
                )
            role = role_of[u]
            shared = f"; {role_count[role]} sources share the {role} role" if role_count[role] > 1 else ""
            group = f" (with {', '.join(m for m in members[u])} as one source)" if len(members[u]) > 1 else ""
            for n in members[u]:
                measured[n]["balance"] = {
                    "unit": members[u],
                    "share": round(float(partial[k] / total), 4),
                    "target_share": round(float(target[k] / total), 4),
                    "off_target_phon": round(float(off), 2),
                    "partial_phon": round(float(loud.partial_phon[k]), 2),
                    "solo_phon": round(float(loud.solo_phon[k]), 2),
                    "masked_fraction": round(float(loud.masked_fraction[k]), 3),
                }
                reasons.set(
                    params,
                    constraints,
                    n,
                    "gain_db",
                    round(gains[n], 2),
                    f"{gains[n]:+.1f} dB gives {n}{group} {100 * partial[k] / total:.0f} % of the loudness heard in "
                    f"the mix (target {100 * target[k] / total:.0f} % for a {role} part{shared}); measured as "
                    f"partial loudness, so masking by the other tracks ({100 * loud.masked_fraction[k]:.0f} % of "
                    f"its solo loudness) is accounted for",
                )

    # ------------------------------------------------------------------ 8b. separation
    def _separate(
        self,
        tracks: dict[str, _Track],
        ex: Multitrack,
        params: MixParams,
        constraints: Constraints,
        reasons: Reasons,
        progress: Callable[[float], None],
    ) -> dict[str, Any] | None:
        """Search free pans, widths and EQ band gains together for less masking (after the balance).

        Sources are the balance's units (a multi-mic group is one source: one pan, one EQ). A
        source's pan is free when it is not an anchor and not locked; a stereo stem's width is
        free (narrower only) when it is a single, unlocked track; an EQ slot is free when the
        corrective EQ left it flat and none of its settings is locked. Returns what
        :meth:`_explain_separation` needs, or None when nothing is free.
        """
        names = list(tracks)
        members = _units(tracks)
        units = list(members)
        if len(units) < 2:
            return None
        sr = ex.sample_rate
        start_pan = np.array([float(params.get(members[u][0], "pan") or 0.0) for u in units])
        pan_bounds = np.repeat(start_pan[:, None], 2, axis=1)
        stereo = np.array([len(members[u]) == 1 and tracks[members[u][0]].analysis.channels == 2 for u in units])
        start_width = np.array(
            [float(params.get(members[u][0], "width") or 1.0) if stereo[k] else 1.0 for k, u in enumerate(units)]
        )
        width_bounds = np.repeat(start_width[:, None], 2, axis=1)
        for k, u in enumerate(units):
            ms = members[u]
            role = _unit_role(tracks, ms)
            if any(is_centre_source(n, tracks[n].role.role) for n in ms) or _PAN_BY_ROLE.get(role, 0.5) == 0.0:
                continue  # anchors stay where they are
            if stereo[k] and role == "drums":
                continue  # overheads and rooms are the kit's image: kept as they are
            if not any(constraints.is_locked(n, "pan") for n in ms):
                # a stereo stem's reach follows its width (separate's `stereo`); a group with one
                # stays within the reach of a full-width stem
                reach = STEREO_REACH[1] if not stereo[k] and any(tracks[n].analysis.channels == 2 for n in ms) else 1.0
                pan_bounds[k] = (
                    max(constraints.clip(n, "pan", -reach) for n in ms),
                    min(constraints.clip(n, "pan", reach) for n in ms),
                )
            if stereo[k] and not constraints.is_locked(ms[0], "width"):
                low = constraints.clip(ms[0], "width", min(SEPARATION_MIN_WIDTH, start_width[k]))
                width_bounds[k] = (min(low, start_width[k]), start_width[k])
        freq = np.zeros((len(units), len(EQ_SLOTS)))
        q = np.ones_like(freq)
        eq_bounds = np.zeros((len(units), len(EQ_SLOTS), 2))
        for k, u in enumerate(units):
            ms = members[u]
            for j, (slot, _) in enumerate(EQ_SLOTS):
                keys = (f"eq_{slot}_hz", f"eq_{slot}_db", f"eq_{slot}_q")
                freq[k, j] = float(params.get(ms[0], keys[0]))
                q[k, j] = float(params.get(ms[0], keys[2]))
                flat = all((params.get(n, keys[1]) or 0.0) == 0.0 for n in ms)
                same = all(params.get(n, keys[0]) == freq[k, j] and params.get(n, keys[2]) == q[k, j] for n in ms)
                locked = any(constraints.is_locked(n, key) for n in ms for key in keys)
                if flat and same and not locked and freq[k, j] < 0.45 * sr:
                    eq_bounds[k, j] = (
                        max(constraints.clip(n, keys[1], -SEPARATION_EQ_DB) for n in ms),
                        min(constraints.clip(n, keys[1], SEPARATION_EQ_DB) for n in ms),
                    )
        free = np.concatenate(
            [
                pan_bounds[:, 1] > pan_bounds[:, 0],
                width_bounds[:, 1] > width_bounds[:, 0],
                (eq_bounds[..., 1] > eq_bounds[..., 0]).ravel(),
            ]
        )
        if not free.any():
            return None
        gains = {n: float(params.get(n, "gain_db") or 0.0) for n in names}
        centred = params.copy()
        for n in names:
            centred.set(n, "pan", 0.0)
        placed, power_per_lu, mid_side = self._processed_powers(
            ex, names, centred, np.array([gains[n] for n in names]), mid_side=True
        )
        plan = {
            "units": units,
            "members": members,
            "placed": placed,
            "mid_side": mid_side,
            "power_per_lu": power_per_lu,
            "freq": freq,
            "q": q,
            "start_pan": start_pan,
            "start_width": start_width,
            "stereo": stereo,
            "sample_rate": sr,
        }
        model = self._separation_model(plan, gains)
        found = separate(
            model,
            start_pan,
            pan_bounds,
            width_bounds,
            np.zeros_like(freq),
            eq_bounds,
            stereo=stereo,
            eq_limit_db=SEPARATION_EQ_DB,
            eq_cost=SEPARATION_EQ_COST,
            tone_cost=SEPARATION_TONE_COST,
            eq_tune=_tune_mask(eq_bounds) if SEPARATION_TUNE_BANDS else None,
            progress=progress,
        )
        plan["pan_moved"] = (pan_bounds[:, 1] > pan_bounds[:, 0]) & (np.abs(found.pan - start_pan) >= 0.05)
        plan["width_moved"] = (width_bounds[:, 1] > width_bounds[:, 0]) & (np.abs(found.width - start_width) >= 0.05)
        plan["eq_moved"] = (eq_bounds[..., 1] > eq_bounds[..., 0]) & (np.abs(np.round(found.eq_db, 1)) >= 0.5)
        plan["search"] = found
        for k, u in enumerate(units):
            for n in members[u]:
                if plan["pan_moved"][k]:
                    reasons.set(params, constraints, n, "pan", round(float(found.pan[k]), 2), "separation")
                if plan["width_moved"][k]:
                    reasons.set(params, constraints, n, "width", round(float(found.width[k]), 2), "separation")
                for j, (slot, _) in enumerate(EQ_SLOTS):
                    if plan["eq_moved"][k, j]:
                        reasons.set(
                            params, constraints, n, f"eq_{slot}_db", round(float(found.eq_db[k, j]), 1), "separation"
                        )
                        if abs(found.eq_freq_hz[k, j] - freq[k, j]) > 1e-6 or abs(found.eq_q[k, j] - q[k, j]) > 1e-6:
                            reasons.set(
                                params,
                                constraints,
                                n,
                                f"eq_{slot}_hz",
                                round(float(found.eq_freq_hz[k, j]), 1),
                                "separation",
                            )
                            reasons.set(
                                params, constraints, n, f"eq_{slot}_q", round(float(found.eq_q[k, j]), 2), "separation"
                            )
        return plan

    def _separation_model(self, plan: dict[str, Any], gains: dict[str, float]) -> SeparationModel:
        """The units' band-power parts (:class:`SeparationModel`) at ``gains``, heard at
        :data:`LISTENING_LUFS`: multi-mic members summed coherently, as in the balance."""
        units, members, placed, mid_side = plan["units"], plan["members"], plan["placed"], plan["mid_side"]
        parts = []
        for u in units:
            ms = members[u]
            if len(ms) == 1 and ms[0] in mid_side:
                g = 10 ** (gains[ms[0]] / 10)
                left, right = placed[ms[0]][0], placed[ms[0]][1]
                parts.append(np.stack([mid_side[ms[0]][0] * g, mid_side[ms[0]][1] * g, (left - right) / 2 * g]))
                continue
            ears = _unit_power(placed, ms, gains)
            parts.append(np.stack([(ears[0] + ears[1]) / 2, np.zeros_like(ears[0]), (ears[0] - ears[1]) / 2]))
        total = sum(float(placed[n].sum(dtype=np.float64)) * 10 ** (gains[n] / 10) for u in units for n in members[u])
        scale = plan["power_per_lu"] * 10 ** (LISTENING_LUFS / 10) / max(total, 1e-300)
        return SeparationModel(
            np.stack(parts) * scale, plan["start_width"], plan["freq"], plan["q"], plan["sample_rate"]
        )

    def _explain_separation(
        self, plan: dict[str, Any], params: MixParams, reasons: Reasons, measured: dict[str, dict[str, Any]]
    ) -> None:
        """Reasons for the separation's moves, measured at the final faders: each move undone on
        its own, and what that does to the masking in the model."""
        units, members = plan["units"], plan["members"]
        model = self._separation_model(
            plan, {n: float(params.get(n, "gain_db") or 0.0) for u in units for n in members[u]}
        )
        first = [members[u][0] for u in units]
        pan = torch.tensor([float(params.get(n, "pan") or 0.0) for n in first], dtype=torch.float64)
        width = torch.tensor(
            [float(params.get(n, "width") or 1.0) if plan["stereo"][k] else 1.0 for k, n in enumerate(first)],
            dtype=torch.float64,
        )
        eq = torch.tensor(
            [
                [
                    float(params.get(n, f"eq_{slot}_db") or 0.0) if plan["eq_moved"][k, j] else 0.0
                    for j, (slot, _) in enumerate(EQ_SLOTS)
                ]
                for k, n in enumerate(first)
            ],
            dtype=torch.float64,
        )
        tuned = [
            torch.tensor(
                [[float(params.get(n, f"eq_{slot}_{key}")) for slot, _ in EQ_SLOTS] for n in first], dtype=torch.float64
            )
            for key in ("hz", "q")
        ]
        audible = plan["search"].audible
        with torch.no_grad():
            now = model.masked(pan, width, eq, *tuned)[0].numpy()
            start = model.masked(
                torch.as_tensor(plan["start_pan"]), torch.as_tensor(plan["start_width"]), torch.zeros_like(eq)
            )[0].numpy()
        mean_now, mean_start = float(now[audible].mean()), float(start[audible].mean())
        label = {k: " + ".join(members[u]) for k, u in enumerate(units)}

        def undone(k: int, what: str, j: int = 0) -> str:
            p, w, e = pan.clone(), width.clone(), eq.clone()
            if what == "pan":
                p[k] = float(plan["start_pan"][k])
            elif what == "width":
                w[k] = float(plan["start_width"][k])
            else:
                e[k, j] = 0.0
            with torch.no_grad():
                without = model.masked(p, w, e, *tuned)[0].numpy()
            gain = np.where(audible, without - now, -np.inf)
            best = int(np.argmax(gain))
            return (
                f"without this move the sources' mean masked fraction would be {float(without[audible].mean()):.3f} "
                f"instead of {mean_now:.3f}, and {label[best]} gains most from it ({without[best]:.2f} → "
                f"{now[best]:.2f} masked)"
            )

        for k, u in enumerate(units):
            for n in members[u]:
                if plan["pan_moved"][k]:
                    value = float(pan[k])
                    side = "left" if value < 0 else "right" if value > 0 else "centre"
                    reasons.add(
                        n,
                        "pan",
                        f"{abs(value):.2f} {side}: separation, placed where it masks and is masked "
                        f"least (role pan {plan['start_pan'][k]:+.2f}); {undone(k, 'pan')}",
                    )
                if plan["width_moved"][k]:
                    reasons.add(
                        n,
                        "width",
                        f"width {float(width[k]):.2f} (from {plan['start_width'][k]:.2f}): separation, "
                        f"narrowed so that it can sit further to one side without losing a "
                        f"channel; {undone(k, 'width')}",
                    )
                for j, (slot, _) in enumerate(EQ_SLOTS):
                    if plan["eq_moved"][k, j]:
                        value, hz, q = float(eq[k, j]), float(tuned[0][k, j]), float(tuned[1][k, j])
                        why = (
                            f"{value:+.1f} dB {'cut' if value < 0 else 'lift'} at {hz:.0f} Hz: separation, shapes {n} "
                            f"to share the spectrum with the others; {undone(k, 'eq', j)}"
                        )
                        reasons.add(n, f"eq_{slot}_db", why)
                        if reasons.get(n, f"eq_{slot}_hz") == "separation":
                            reasons.add(
                                n,
                                f"eq_{slot}_hz",
                                f"{hz:.0f} Hz: separation, where this band does most "
                                f"against masking (from {plan['freq'][k, j]:.0f} Hz)",
                            )
                            reasons.add(
                                n,
                                f"eq_{slot}_q",
                                f"Q {q:.2f}: separation, the band's width for the same "
                                f"purpose (from {plan['q'][k, j]:.2f})",
                            )
                measured[n]["separation"] = {
                    "masked_fraction_model": round(float(now[k]), 3) if audible[k] else None,
                    "before_model": round(float(start[k]), 3) if audible[k] else None,
                }
        reasons.notes.append(
            f"separation: pans, widths and EQ searched together against masking; the sources' mean masked fraction "
            f"in the loudness model, at the final faders, is {mean_now:.3f} ({mean_start:.3f} with the role pans and "
            f"no separation moves; {int(plan['pan_moved'].sum())} pans, {int(plan['width_moved'].sum())} widths and "
            f"{int(plan['eq_moved'].sum())} EQ bands moved)"
        )

    def _processed_powers(
        self, ex: Multitrack, names: list[str], params: MixParams, gains_db: np.ndarray, *, mid_side: bool = False
    ) -> tuple[dict[str, np.ndarray], float, dict[str, np.ndarray]]:
        """Band powers at each ear of every track after its strip (HPF, EQ, compressor, pan)
        with the fader at 0 dB, no reverb, no master; and the calibration between summed band
        power and loudness: band power of the mix at ``gains_db`` per unit of 10^(LUFS/10).
        Third: with ``mid_side``, ``{track: (2, frames, bands)}`` band powers of ``(L + R)/2`` and
        ``(L − R)/2`` of every stereo track (else empty)."""
        console = Console(ex.sample_rate)
        out: dict[str, np.ndarray] = {}
        ms_out: dict[str, np.ndarray] = {}
        mix = np.zeros((2, ex.num_samples), np.float64)
        for i in range(0, len(names), _GROUP_SIZE):
            group = names[i : i + _GROUP_SIZE]
            sub = MixParams(
                group, tracks={n: {**params.tracks[n], "gain_db": 0.0, "reverb_send_db": None} for n in group}
            )
            sub_mt = Multitrack.from_arrays({n: ex[n].audio for n in group}, ex.sample_rate)
            stems = console.render(sub_mt, sub, want_stems=True).stems
            if stems is None:  # pragma: no cover - render always returns stems when asked
                raise RuntimeError("console returned no stems")
            for j, n in enumerate(group):
                out[n] = perception.band_powers(stems[j], ex.sample_rate)
                if mid_side and ex[n].audio.shape[0] == 2:
                    left, right = stems[j].astype(np.float64)
                    ms_out[n] = perception.band_powers(
                        np.stack([(left + right) / 2, (left - right) / 2]), ex.sample_rate
                    )
                mix += stems[j] * 10 ** (gains_db[i + j] / 20)
        lufs = integrated_loudness(mix, ex.sample_rate)
        total = sum(float(out[n].sum(dtype=np.float64)) * 10 ** (g / 10) for n, g in zip(names, gains_db, strict=True))
        calibration = 1.0 if lufs is None or total <= 0 else total / 10 ** (lufs / 10)
        return out, calibration, ms_out

    def _level_offset(self, ex: Multitrack, names: list[str], params: MixParams, gains_db: np.ndarray) -> float:
        """Common fader shift that puts the summed tracks near -20 LUFS (headroom for the master)."""
        trial = params.copy()
        for n, g in zip(names, gains_db, strict=True):
            trial.set(n, "gain_db", float(np.clip(g, -60, 24)))
        bare = MixParams(
            trial.track_names, tracks={n: {**trial.tracks[n], "reverb_send_db": None} for n in trial.track_names}
        )
        lufs = integrated_loudness(Console(ex.sample_rate).render(ex, bare).mix, ex.sample_rate)
        if lufs is None:
            return 0.0
        shift = -20.0 - lufs
        hi = 24.0 - float(np.max(gains_db))
        lo = -60.0 - float(np.min(gains_db))
        return float(np.clip(shift, lo, hi))

    # ------------------------------------------------------------------ 9. reverb
    def _reverb(
        self,
        tracks: dict[str, _Track],
        multitrack: Multitrack,
        params: MixParams,
        constraints: Constraints,
        reasons: Reasons,
    ) -> None:
        n_active = len(tracks)
        density_db = -1.5 * max(0.0, math.log2(max(n_active, 1) / 8))
        for n, tr in tracks.items():
            role = tr.role.role
            send = _SEND_BY_ROLE.get(role)
            if send is None or is_low_source(n, role) or "hat" in n.lower():
                reasons.set(
                    params,
                    constraints,
                    n,
                    "reverb_send_db",
                    None,
                    f"dry: reverb on a {role if send is None else 'low or very bright rhythmic'} source muddies or smears the mix",
                )
                continue
            value = float(np.clip(send + density_db, -60.0, 6.0))
            dens = (
                f", {-density_db:.1f} dB less because {n_active} tracks already fill the mix" if density_db < 0 else ""
            )
            reasons.set(
                params,
                constraints,
                n,
                "reverb_send_db",
                round(value, 1),
                f"{value:.1f} dB send: typical depth for a {role} part{dens}",
            )
        tempo = estimate_tempo_bpm(multitrack, [n for n, t in tracks.items() if t.role.role in ("drums", "percussion")])
        if tempo is not None:
            beat_s = 60.0 / tempo
            rt60 = float(np.clip(2.0 * beat_s, 0.8, 2.4))
            predelay = float(np.clip(1000 * beat_s / 32, 8.0, 40.0))
            why = f"RT60 {rt60:.2f} s, two beats at the detected {tempo:.0f} BPM: the tail clears before the next bar"
            pwhy = (
                f"{predelay:.0f} ms pre-delay, a 1/128 note at {tempo:.0f} BPM: keeps the attack of the dry sound clear"
            )
        else:
            rt60 = 1.4 if n_active <= 6 else 1.1
            predelay = 20.0
            why = f"RT60 {rt60:.1f} s: no steady tempo found; a medium room for a {'sparse' if n_active <= 6 else 'dense'} arrangement"
            pwhy = "20 ms pre-delay: separates the reverb from the dry attack"
        reasons.set(params, constraints, "reverb", "rt60_mid_s", round(rt60, 2), why)
        reasons.set(
            params,
            constraints,
            "reverb",
            "rt60_low_s",
            round(rt60 * 1.1, 2),
            "low decay 10 % longer than mid: natural warmth",
        )
        reasons.set(
            params,
            constraints,
            "reverb",
            "rt60_high_s",
            round(max(0.1, rt60 * 0.6), 2),
            "high decay at 60 % of mid: air absorption, keeps it from sounding harsh",
        )
        reasons.set(params, constraints, "reverb", "predelay_ms", round(predelay, 1), pwhy)
        reasons.set(
            params, constraints, "reverb", "return_db", 0.0, "return at unity: depth is set by each track's send"
        )

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
        peak_db = 20 * math.log10(float(np.max(np.abs(bus.song))) or 1e-12)
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


# ---------------------------------------------------------------------- helpers


def _units(tracks: dict[str, _Track]) -> dict[str, list[str]]:
    """Sources of the balance and the separation, in track order: single tracks, and multi-mic
    groups as one source (their members are aligned, so they add coherently, and keep their
    relative levels): ``{unit: [track, ...]}``."""
    members: dict[str, list[str]] = {}
    for name, tr in tracks.items():
        members.setdefault(tr.group or name, []).append(name)
    return members


def _unit_role(tracks: dict[str, _Track], members: list[str]) -> str:
    """A unit's role: its members' highest-priority one."""
    return max((tracks[n].role.role for n in members), key=lambda r: PRIORITY[r])


def _unit_power(placed: dict[str, np.ndarray], members: list[str], gains_db: dict[str, float]) -> np.ndarray:
    """``(2, frames, bands)`` band powers of a unit's members at ``gains_db``, summed coherently."""
    return sum(np.sqrt(placed[n] * 10 ** (gains_db[n] / 10)) for n in members) ** 2


def _tune_mask(eq_bounds: np.ndarray) -> np.ndarray:
    """Free peaking slots (not the shelves) may also move their frequency and Q."""
    peaks = np.array([slot.startswith("peak") for slot, _ in EQ_SLOTS])
    return (eq_bounds[..., 1] > eq_bounds[..., 0]) & peaks[None, :]


def _profile(powers: np.ndarray) -> np.ndarray:
    """Normalised long-term band profile of ``(channels, frames, bands)`` powers."""
    p = powers.mean(axis=(0, 1))
    total = p.sum()
    return p / total if total > 0 else p


def _place(powers: np.ndarray, pan: float, width: float) -> np.ndarray:
    """Approximate per-ear band powers ``(2, frames, bands)`` of a raw track after the panner."""
    theta = (pan + 1) * math.pi / 4
    if powers.shape[0] == 1:
        return np.concatenate([powers * math.cos(theta) ** 2, powers * math.sin(theta) ** 2], axis=0)
    return np.stack([powers[0] * 2 * math.cos(theta) ** 2, powers[1] * 2 * math.sin(theta) ** 2])


def _octave_levels(powers: np.ndarray, centres: np.ndarray) -> Callable[[float, float], float] | None:
    p = powers.mean(axis=(0, 1))
    if p.sum() <= 0:
        return None

    def level(lo: float, hi: float) -> float:
        sel = (centres >= lo) & (centres < hi)
        if not sel.any():
            return -200.0
        octaves = math.log2(hi / lo)
        return _db(float(p[sel].sum()) / octaves)

    return level


def _peak_freq(powers: np.ndarray, centres: np.ndarray, lo: float, hi: float) -> float:
    p = powers.mean(axis=(0, 1))
    sel = np.nonzero((centres >= lo) & (centres < hi))[0]
    if sel.size == 0:
        return math.sqrt(lo * hi)
    return float(centres[sel[int(np.argmax(p[sel]))]])


def estimate_tempo_bpm(multitrack: Multitrack, rhythm_tracks: list[str], *, seconds: float = 60.0) -> float | None:
    """Tempo from the autocorrelation of an onset envelope (rhythm tracks, else everything).

    Returns None when no periodicity stands out (peak below 0.3 of the zero-lag value).
    """
    sr = multitrack.sample_rate
    names = rhythm_tracks or multitrack.names
    n = min(multitrack.num_samples, int(seconds * sr))
    if n < 4 * sr:
        return None
    mono = np.zeros(n)
    for name in names:
        mono += np.mean(multitrack[name].audio[:, :n], axis=0)
    hop = int(0.01 * sr)
    frames = n // hop
    energy = np.sum(mono[: frames * hop].reshape(frames, hop) ** 2, axis=1) + 1e-12
    flux = np.maximum(np.diff(10 * np.log10(energy)), 0.0)
    flux = flux - flux.mean()
    if not np.any(flux):
        return None
    ac = np.correlate(flux, flux, mode="full")[flux.size - 1 :]
    if ac[0] <= 0:
        return None
    lags = np.arange(ac.size) * 0.01
    sel = (lags >= 60 / 180) & (lags <= 60 / 70)
    if not sel.any():
        return None
    idx = np.nonzero(sel)[0]
    best = idx[int(np.argmax(ac[idx]))]
    if ac[best] / ac[0] < 0.3:
        return None
    # parabolic refinement of the lag
    if 0 < best < ac.size - 1:
        a, b, c = ac[best - 1], ac[best], ac[best + 1]
        denom = a - 2 * b + c
        shift = 0.5 * (a - c) / denom if denom != 0 else 0.0
    else:
        shift = 0.0
    return float(60.0 / ((best + shift) * 0.01))
