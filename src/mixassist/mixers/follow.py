"""The closed loop: ``auto`` with a reference renders its proposal, measures it against what the
reference states, and keeps correcting until every feature is within its tolerance or the
console cannot get there.

1. **Start.** The proposal of ``auto``'s first stage (the controller's mix, refined by the style
   solver for words, ``--match`` strengths and locks: :class:`~mixassist.mixers.match.MatchMixer`).
2. **Aim.** The reference's features (:func:`mixassist.measure.reference_features`; several
   references: their weighted mean), moved as ``docs/style.md`` documents: per attribute
   ``start + strength × (reference − start)`` (the mid tonal balance by the broad part of that
   difference only, smoothed and capped: :mod:`~mixassist.mixers.follow_aim`;
   band by band above a band-limited reference's edge), then shifted by each feature word's amount
   (``brighter`` raises the mid bands at and above 4 kHz, ``wider`` the width, ``punchy`` the
   crest and PLR). Loudness is delivered (explicit loudness, else the reference's).
3. **Passes.** Measure the delivered mix (:func:`reference_features`), compare
   (:func:`fidelity_rows`), and correct analytically, cheapest first:

   - **mid tonal balance**: the six master EQ gains fitted by least squares (with a free overall
     offset, since the bands are loudness-normalised) to the wide-band error, through the EQ's
     own magnitude response at the third-octave centres;
   - **width**: the master ``side_gain_db`` by the overall side/mid error (1 dB per dB) where
     the console has it, else every unlocked track's pan and width scaled together;
   - **PLR**: the limiter ceiling at ``loudness + PLR`` (never above the ceiling asked), undone
     when the limiter's gain reduction passes :data:`MAX_LIMITING_DB`;
   - **LRA / short-term spread**: the glue compressor's threshold (and ratio, when it was off).

   Each pass re-renders only what changed: master moves run the master section on the bus
   rendered once (:meth:`Console.master_pre` and the delivery's trials); track moves render the
   bus again. Loudness and true peak are delivered every pass
   (:func:`mixassist.mixers.deliver.deliver_loudness`). The best pass (least total excess over
   the tolerances) is kept, so the loop never ends worse than its start.
4. **Table.** ``context["fidelity"]``: one row per feature (reference, mix, tolerance, ✓/✗) and,
   for every ✗, why — the console's range, a lock, the limiter's gain reduction, or "no expander".
"""

from __future__ import annotations

import copy
import dataclasses
import time
from typing import Any

import numpy as np
import torch

from mixassist.audio.multitrack import Multitrack
from mixassist.console.console import Console, same_bus
from mixassist.console.dsp.biquad import high_shelf_sos, low_shelf_sos, peaking_sos, sos_response_db
from mixassist.console.params import MixParams
from mixassist.console.schema import EQ_BANDS, params_for
from mixassist.measure import (
    DEFAULT_TOLERANCES,
    THIRD_OCTAVE_CENTRES_HZ,
    TONAL_BANDS,
    FidelityRow,
    LoudnessReport,
    fidelity_rows,
    recording_match,
    reference_features,
)
from mixassist.mixers.base import Job, Mixer
from mixassist.mixers.constraints import Constraints
from mixassist.mixers.decisions import Proposal, Reasons
from mixassist.mixers.deliver import TRUE_PEAK_MARGIN_DB, copy_bus, deliver_loudness
from mixassist.mixers.follow_aim import (
    BAND_LIMIT_DB,
    aim_features,
    blend_features,
    broad_tone_why,
    excess,
    relative_difference,
    shifted,
    top_edge,
)
from mixassist.mixers.match import excerpt_multitrack, select_excerpts
from mixassist.style.features import StyleFeatures, style_distance, style_features
from mixassist.style.target import StyleTarget

__all__ = [
    "FollowMixer",
    "LOOP_PASSES",
    "DRIVE_STEP_DB",
    "EXCERPTS",
    "EXCERPT_S",
    "excerpt_multitrack",
    "shifted",
    "MAX_LIMITING_DB",
    "SIDE_HPF_START_HZ",
    "AUTO_TONE_STRENGTH",
    "SAME_SONG_MATCH",
    "aim_features",
    "blend_features",
    "excess",
]

LOOP_PASSES = 4
"""Most correction passes after the start (each: corrections, delivery, measurement)."""

#: How far ``auto`` follows a reference's tonal balance (its first stage and the loop): the
#: ``tone`` strength is multiplied by this. Chosen on engine B's validation split (8 songs;
#: ``docs/mixing.md``, "How far the tone follows"): full following (1) left the mixes 5.62 dB
#: (mid) from their target mixes, half (0.5) 4.33, none (0) 4.96, main's default before the loop
#: 4.90. A reference is another song: its detailed tonal balance is largely its content (a
#: target mix reads 7.6 dB from its own reference there), so following it fully overshoots.
AUTO_TONE_STRENGTH = 0.5
SAME_SONG_MATCH = 0.2
"""A reference whose :func:`~mixassist.measure.recording_match` with the start mix reaches this is a mix
of these stems: its tone is followed band by band and all the way. Chosen on the validation splits
(``docs/mixing.md``, "A reference that is a mix of these stems")."""
MAX_LIMITING_DB = 10.0
"""Most gain reduction (dB, the loudest 10 ms block) the limiter may apply to reach a reference's PLR."""
EXCERPTS, EXCERPT_S = 3, 6.0
"""The passes render the loudest ``EXCERPTS`` windows of ``EXCERPT_S`` seconds (``match``'s choice of
windows; the whole song when it is shorter than twice that); the chosen settings are then delivered
and measured on the whole song."""
DRIVE_STEP_DB = 4.0
"""Largest rise of the master drive in one pass when the limiter alone cannot reach a reference's PLR."""
EQ_STEP_DB = 9.0
"""Largest change of one master EQ gain in one pass (the loop measures again before going further)."""
SIDE_HPF_START_HZ = 120.0
"""Where the side high-pass starts when the reference's lows are narrower than the mix's (1.5x per pass after)."""
_PATIENCE = 2  # passes without a better score before the loop stops
_EQ_RIDGE = 0.02  # least-squares ridge per dB² of EQ gain: keeps unneeded bands near flat
#: Where a flat master EQ band is placed when the loop first moves it: (Hz, Q), one per wide-band pair.
_EQ_PLACES = dict(
    zip(("low_shelf", "peak1", "peak2", "peak3", "peak4", "high_shelf"),
        ((90.0, 0.707), (180.0, 0.9), (500.0, 0.9), (1400.0, 0.9), (4000.0, 0.9), (8000.0, 0.707)))
)  # fmt: skip
_DESIGNS = {"low_shelf": low_shelf_sos, "high_shelf": high_shelf_sos}


@dataclasses.dataclass
class _Pass:
    params: MixParams
    mix: np.ndarray
    settings: MixParams
    delivered: dict[str, Any]
    features: dict[str, Any]
    rows: list[FidelityRow]
    score: float
    reasons: Reasons  # the reasons as they stood with these settings
    report: LoudnessReport | None = None  # measure() of ``mix``, when it is the whole song's


@dataclasses.dataclass
class _Step:
    """What one pass's corrections read and write."""

    params: MixParams
    constraints: Constraints
    reasons: Reasons
    current: _Pass
    aim: dict[str, Any]
    limits: dict[str, str]  # row key or family -> why the console cannot get there
    multitrack: Multitrack
    loudness: float

    def unpack(self) -> tuple[MixParams, Constraints, Reasons, _Pass, dict[str, Any], dict[str, str]]:
        return self.params, self.constraints, self.reasons, self.current, self.aim, self.limits


class FollowMixer(Mixer):
    """``auto`` with a reference: the first stage's proposal, then the closed loop (module notes).

    Parameters
    ----------
    target : StyleTarget
        References, strengths, words, loudness.
    first : Mixer
        The first stage (``MatchMixer(start_method="neural")``).
    true_peak_dbtp : float
        The true-peak ceiling asked.
    passes : int
        Most correction passes (:data:`LOOP_PASSES`).
    tolerances : mapping, optional
        Per kind of feature (:data:`mixassist.measure.DEFAULT_TOLERANCES`).
    tone_scale : float
        The factor ``target``'s tone strength already carries (``auto``: :data:`AUTO_TONE_STRENGTH`),
        named in the reasons of the tonal rows.
    """

    def __init__(
        self,
        target: StyleTarget,
        first: Mixer,
        *,
        true_peak_dbtp: float = -1.0,
        passes: int = LOOP_PASSES,
        tolerances: dict[str, float] | None = None,
        tone_scale: float = 1.0,
    ) -> None:
        self.target = target
        self.tone_scale = float(tone_scale)
        self.first = first
        self.true_peak_dbtp = float(true_peak_dbtp)
        self.passes = int(passes)
        self.tolerances = {**DEFAULT_TOLERANCES, **(tolerances or {})}

    def __repr__(self) -> str:
        return f"FollowMixer(first={self.first!r}, passes={self.passes})"

    def solve(self, job: Job) -> Proposal:
        """The first stage's proposal, followed toward the reference (module notes)."""
        multitrack, constraints, report = job.multitrack, job.constraints, job.report
        has_reference = bool(self.target.references)
        share = 0.6 if has_reference else 1.0
        proposal = self.first.propose(
            multitrack, constraints, start=job.start, progress=lambda stage, f: report(stage, share * f)
        )
        kept, proposal.bus = proposal.bus, None  # the first stage's bus, if it kept one (let go at the end)
        if not has_reference or self.passes < 0:
            return proposal
        began = time.perf_counter()
        sr = multitrack.sample_rate
        report("following the reference: measuring", 0.6)
        reference = blend_features(
            [(reference_features(r.audio, r.sample_rate), r.weight) for r in self.target.references]
        )
        mix = proposal.rendered()
        if mix is None:
            mix = Console(sr).render(multitrack, proposal.params).mix
        start_features = reference_features(mix, sr, report=proposal.rendered_report())
        if start_features["loudness_lufs"] is None:
            proposal.reasons.notes.append("the mix is silent: there is nothing to follow the reference with")
            return proposal
        loudness = float(proposal.context.get("loudness_lufs", self.target.delivery_loudness()))
        aim, aim_why, match = self._aim(start_features, reference, mix, sr, loudness, multitrack.names)
        if match >= SAME_SONG_MATCH:
            proposal.reasons.notes.append(
                f"the reference is a mix of these stems (recording match {match:.2f}): its tonal balance is "
                "followed band by band"
            )
        rows = fidelity_rows(start_features, aim, self.tolerances)
        start = best = _Pass(
            proposal.params.copy(), mix, proposal.params.copy(), dict(proposal.context.get("result", {})),
            start_features, rows, excess(rows), proposal.reasons,
        )  # fmt: skip
        start_rows = fidelity_rows(start_features, reference, self.tolerances)
        limits: dict[str, str] = {}
        # the passes write their reasons on a copy: kept only with the settings they explain
        params, reasons = proposal.params.copy(), copy.deepcopy(proposal.reasons)
        console = Console(sr)
        # The passes run on loud excerpts (the whole song when it is short); each excerpt measurement
        # is read as the song's start plus the excerpt's change since the start.
        n = multitrack.num_samples
        # a song under twice the excerpts' length is cheaper whole (no final whole-song delivery)
        windows = [(0, n)] if n < 2 * EXCERPTS * EXCERPT_S * sr else select_excerpts(mix, sr, EXCERPTS, EXCERPT_S)
        whole = windows == [(0, n)]
        excerpt = multitrack if whole else excerpt_multitrack(multitrack, windows)
        bus = console.render_bus(excerpt, params)
        if whole:
            excerpt_start, excerpt_lufs = start_features, loudness
        else:
            excerpt_start = reference_features(console.render_master(copy_bus(bus), params), sr)
            excerpt_lufs = (
                loudness + float(excerpt_start["loudness_lufs"] or 0.0) - float(start_features["loudness_lufs"])
            )
        current = best
        passes = stale = 0
        for k in range(self.passes):
            off = [r for r in current.rows if r.ok is False]
            report(
                f"following the reference: pass {k + 1}/{self.passes}, {len(off)} features off",
                0.6 + 0.3 * k / self.passes,
            )
            if not off:
                break
            step = _Step(params, constraints, reasons, current, aim, limits, multitrack, loudness)
            tracks_moved = self._width(step)
            self._tone(step)
            tracks_moved |= self._dynamics(step)
            if params == current.params:
                break  # nothing left that the console can move
            if tracks_moved:
                bus = console.render_bus(excerpt, params)
            noted = len(reasons.notes)
            delivered = deliver_loudness(
                excerpt, params, constraints, reasons, loudness_lufs=excerpt_lufs,
                true_peak_dbtp=self.true_peak_dbtp, bus=copy_bus(bus), previous=current.delivered,
            )  # fmt: skip
            if not whole:  # a miss of the excerpts' loudness is not the song's: the whole-song delivery notes its own
                del reasons.notes[noted:]
            constraints.apply(params)
            meter = delivered.pop("report")
            mix, settings = delivered.pop("mix"), delivered.pop("settings")
            measured = reference_features(mix, sr, report=meter)
            features = measured if whole else shifted(start_features, measured, excerpt_start)
            rows = fidelity_rows(features, aim, self.tolerances)
            current = _Pass(
                params.copy(), mix, settings, delivered, features, rows, excess(rows), copy.deepcopy(reasons),
                meter if whole else None,
            )  # fmt: skip
            passes += 1
            if current.score < best.score - 1e-6:
                best, stale = current, 0
            else:
                stale += 1
                if stale >= _PATIENCE:
                    break
        if passes and best is not start and not whole:  # the chosen settings on the whole song
            report("following the reference: the whole song", 0.9)
            params, reasons = best.params.copy(), copy.deepcopy(best.reasons)
            # the first stage's bus when the passes moved only the master (it is the bus of these settings)
            reuse = kept is not None and same_bus(kept[0], params)
            bus = kept[1] if kept is not None and reuse else console.render_bus(multitrack, params)
            kept = None
            delivered = deliver_loudness(
                multitrack, params, constraints, reasons, loudness_lufs=loudness,
                true_peak_dbtp=self.true_peak_dbtp, bus=bus, previous=best.delivered,
            )  # fmt: skip
            constraints.apply(params)
            meter = delivered.pop("report")
            mix, settings = delivered.pop("mix"), delivered.pop("settings")
            features = reference_features(mix, sr, report=meter)
            rows = fidelity_rows(features, aim, self.tolerances)
            whole_song = _Pass(params, mix, settings, delivered, features, rows, excess(rows), reasons, meter)
            best = whole_song if whole_song.score <= start.score + 1e-6 else start
        got = best.features["loudness_lufs"]
        if got is not None and abs(got - loudness) > self.tolerances["loudness_lufs"]:
            gain, ceiling = best.params.master["output_gain_db"] or 0.0, best.params.master["limiter_ceiling_dbtp"]
            limiter = "no limiter" if ceiling is None else f"the true-peak limiter at {ceiling:.2f} dBTP"
            limits["loudness_lufs"] = (
                f"the delivery reached {got:.1f} of the {loudness:.1f} LUFS asked (output gain {gain:+.1f} dB into {limiter})"
            )
        final_rows = _explain(fidelity_rows(best.features, reference, self.tolerances), aim_why, limits, passes)
        if best is not start:
            proposal.params, proposal.reasons = best.params, best.reasons
            report_of_mix = (best.mix, best.report) if best.report is not None else None
            proposal.mix, proposal.mix_of, proposal.mix_report = best.mix, best.settings, report_of_mix
            proposal.context["result"] = best.delivered
            self._update_style(proposal, best.mix, sr)
        proposal.reasons.notes.append(
            f"followed the reference in {passes} pass{'es' if passes != 1 else ''}: "
            f"{sum(r.ok is True for r in final_rows)} of {sum(r.ok is not None for r in final_rows)} features within tolerance"
        )
        proposal.context["fidelity"] = {
            "rows": [r.to_dict() for r in final_rows],
            "start_rows": [r.to_dict() for r in start_rows],
            "passes": passes,
            "tolerances": dict(self.tolerances),
            "recording_match": round(match, 3),
            "seconds": round(time.perf_counter() - began, 3),
        }
        report("done", 1.0)
        return proposal

    def _aim(
        self,
        start: dict[str, Any],
        reference: dict[str, Any],
        mix: np.ndarray,
        sr: int,
        loudness: float,
        names: list[str],
    ) -> tuple[dict[str, Any], dict[str, str], float]:
        """The aim and its reasons (:func:`~mixassist.mixers.follow_aim.aim_features`), and how much every
        reference is a mix of these stems (:func:`recording_match`, the least over references). At
        :data:`SAME_SONG_MATCH` or more the reference's detail is the answer, not another song's
        content: the tone is aimed band by band, as far as the user's ``tone`` strength (the
        default's :data:`AUTO_TONE_STRENGTH` undone)."""
        match = min(recording_match(r.audio, r.sample_rate, mix, sr) for r in self.target.references)
        user = self.target.strengths["tone"] / self.tone_scale
        if match >= SAME_SONG_MATCH:
            target = self.target.with_strengths({"tone": min(1.0, user)})
            aim, why = aim_features(start, reference, target, loudness, names, detail=True)
            return aim, why, match
        aim, why = aim_features(start, reference, self.target, loudness, names)
        if self.tone_scale != 1.0 and "mid_band_db" in why:
            why["mid_band_db"] = (
                f"the default follows the reference's tone {self.tone_scale:g} of the way (AUTO_TONE_STRENGTH, "
                "chosen on validation songs)"
                + (f", times --match tone={user:g}" if user != 1.0 else "")
                + f", {broad_tone_why()}"
            )
        return aim, why, match

    # ------------------------------------------------------------------ corrections
    def _tone(self, step: _Step) -> None:
        """Master EQ gains fitted to the wide-band mid error (free offset: levels are loudness-normalised)."""
        params, constraints, reasons, current, aim, limits = step.unpack()
        rows = {r.key: r for r in current.rows}
        keys = [f"mid_band_db.{b}" for b in TONAL_BANDS]
        present = [k for k in keys if k in rows and rows[k].error is not None]
        if not any(rows[k].ok is False for k in present):
            return
        corner = self._band_limit(step)
        if corner is not None:  # bands above the low-pass are the filter's: the EQ does not chase them
            present = [k for k in present if THIRD_OCTAVE_CENTRES_HZ[TONAL_BANDS[k.split(".", 1)[1]][0]] < corner]
        error = np.array([-float(rows[k].error or 0.0) for k in present])  # what each band needs
        bands = [b for b, *_ in EQ_BANDS]
        free = [b for b in bands if not constraints.is_locked("master", f"eq_{b}_db")]
        if not free:
            limits["mid_band_db"] = "the master EQ's gains are locked"
            return
        for b in free:  # place a flat band where the loop wants it
            if (params.master[f"eq_{b}_db"] or 0.0) == 0.0:
                hz, q = _EQ_PLACES[b]
                for name, value in ((f"eq_{b}_hz", hz), (f"eq_{b}_q", q)):
                    if not constraints.is_locked("master", name):
                        constraints.choose(params, "master", name, value)
        slopes = self._eq_slopes(params, free, step.multitrack.sample_rate, [k.split(".", 1)[1] for k in present])
        # least squares: slopes @ dg + c ≈ error, ridge on dg only
        a = np.hstack([slopes, np.ones((len(present), 1))])
        reg = np.diag([_EQ_RIDGE] * len(free) + [0.0])
        dg = np.linalg.solve(a.T @ a + reg, a.T @ error)[:-1]
        dg = np.clip(dg, -EQ_STEP_DB, EQ_STEP_DB)
        p = params_for("master")["eq_low_shelf_db"]
        for b, d in zip(free, dg):
            old = float(params.master[f"eq_{b}_db"] or 0.0)
            wanted = old + float(d)
            new = float(np.clip(wanted, p.minimum, p.maximum))
            if abs(wanted - new) > 0.5:
                limits["mid_band_db"] = (
                    f"the master EQ's {b.replace('_', ' ')} would need {wanted:+.1f} dB; its range ends at "
                    f"{p.maximum if wanted > 0 else p.minimum:+g} dB"
                )
            if abs(new - old) >= 0.05:
                reasons.set(
                    params, constraints, "master", f"eq_{b}_db", round(new, 2),
                    f"{new:+.1f} dB at {params.master[f'eq_{b}_hz']:.0f} Hz: the mix's mid tonal balance follows the reference's",
                )  # fmt: skip

    @staticmethod
    def _band_limit(step: _Step) -> float | None:
        """The master low-pass for a band-limited reference: where, from some third-octave at or above
        1 kHz up, every band of the reference sits :data:`BAND_LIMIT_DB` or more below the mix's
        (levels re their 250 Hz-2 kHz median), the corner goes to that band, and a third-octave lower
        each pass while the band above it is still that far off. Returns the corner (None: no low-pass)."""
        params, constraints, reasons, current, aim, _ = step.unpack()
        if "lpf_hz" not in params.master:
            return None
        corner = params.master["lpf_hz"]
        if constraints.is_locked("master", "lpf_hz"):
            return corner
        diff = relative_difference(aim["mid_detail_db"], current.features["mid_third_octave_db"])
        first = top_edge(diff)
        if first is None:
            return corner
        centres = np.asarray(THIRD_OCTAVE_CENTRES_HZ)
        wanted = float(centres[first])
        if corner is not None:
            above = centres > corner
            still = above & ~np.isnan(diff) & (diff <= -BAND_LIMIT_DB)
            wanted = min(wanted, corner * 2 ** (-1 / 3)) if still.any() and corner <= wanted else min(wanted, corner)
        wanted = float(np.clip(wanted, 1000.0, 20000.0))
        if corner is None or abs(wanted - corner) > 1.0:
            reasons.set(
                params, constraints, "master", "lpf_hz", round(wanted, 1),
                f"low-pass at {wanted:.0f} Hz: the reference's spectrum ends there "
                f"(its bands above sit {BAND_LIMIT_DB:g} dB or more below the mix's)",
            )  # fmt: skip
        return wanted

    @staticmethod
    def _eq_slopes(params: MixParams, free: list[str], sr: int, wide: list[str]) -> np.ndarray:
        """dB change of each wide band's mean third-octave level per dB of each free band's gain."""
        centres = torch.tensor(THIRD_OCTAVE_CENTRES_HZ, dtype=torch.float64)
        out = np.zeros((len(wide), len(free)))
        for k, b in enumerate(free):
            hz, q = float(params.master[f"eq_{b}_hz"] or 1000.0), float(params.master[f"eq_{b}_q"] or 0.707)
            g = float(params.master[f"eq_{b}_db"] or 0.0)
            design = _DESIGNS.get(b, peaking_sos)
            up, down = (
                sos_response_db(design(hz, g + s, q, sr).to(torch.float64).reshape(1, 6), centres, sr).numpy()
                for s in (1.0, -1.0)
            )
            slope = (up - down) / 2.0
            for j, name in enumerate(wide):
                lo, hi = TONAL_BANDS[name]
                inside = [i for i in range(lo, hi) if THIRD_OCTAVE_CENTRES_HZ[i] * 2 ** (1 / 6) <= sr / 2]
                out[j, k] = float(np.mean(slope[inside])) if inside else 0.0
        return out

    def _width(self, step: _Step) -> bool:
        """The overall side/mid error: the master's side gain, else the tracks' pans and widths.
        Returns whether a track setting moved (the bus must be rendered again)."""
        params, constraints, reasons, current, aim, limits = step.unpack()
        low = next(r for r in current.rows if r.key == "width_db.low")
        if (
            low.ok is False
            and low.error is not None
            and low.error > 0
            and "side_hpf_hz" in params.master
            and not constraints.is_locked("master", "side_hpf_hz")
        ):  # the reference's lows are narrower than the rest: mono below a corner
            old_hz = params.master["side_hpf_hz"]
            hz = float(min(250.0, 1.5 * old_hz)) if old_hz is not None else SIDE_HPF_START_HZ
            reasons.set(
                params, constraints, "master", "side_hpf_hz", round(hz, 1),
                f"side high-passed at {hz:.0f} Hz: the reference's lows are narrower than its mids "
                f"({aim['width_db']['low']:.1f} dB side/mid below 250 Hz)",
            )  # fmt: skip
        row = next(r for r in current.rows if r.key == "width_db.overall")
        if row.ok is not False or row.error is None:
            return False
        need = -float(row.error)
        if "side_gain_db" in params.master and not constraints.is_locked("master", "side_gain_db"):
            p = params_for("master")["side_gain_db"]
            old = float(params.master["side_gain_db"] or 0.0)
            wanted = old + need
            new = float(np.clip(wanted, p.minimum, p.maximum))
            if abs(wanted - new) > 0.5:
                limits["width_db"] = (
                    f"the reference's width needs side {wanted:+.0f} dB; the console's range ends at "
                    f"{p.maximum if wanted > 0 else p.minimum:+g} dB"
                )
            reasons.set(
                params, constraints, "master", "side_gain_db", round(new, 2),
                f"side {new:+.1f} dB: the mix's side/mid follows the reference's ({aim['width_db']['overall']:.1f} dB)",
            )  # fmt: skip
            return False
        # no master width on this console: scale the image of every unlocked track
        scale = float(np.clip(10 ** (need / 20.0), 0.25, 4.0))
        moved = False
        wide_limit = True
        for track in step.multitrack:
            for name, top in (("pan", 1.0), ("width", 2.0)):
                if name == "width" and track.channels != 2:
                    continue
                value = params.get(track.name, name)
                if value is None or constraints.is_locked(track.name, name):
                    continue
                new = float(np.clip(value * scale, -top, top))
                wide_limit &= abs(new) >= top - 1e-6 or value == 0.0
                if abs(new - value) > 1e-3:
                    moved |= reasons.set(
                        params, constraints, track.name, name, round(new, 3),
                        f"{(reasons.get(track.name, name) or '').split('; follows')[0]}; follows the reference's width "
                        f"(side/mid {aim['width_db']['overall']:.1f} dB)".lstrip("; "),
                    )  # fmt: skip
        if not moved:
            limits["width_db"] = (
                "every pan and width is at its limit or locked, and this console has no master side gain"
                if need > 0 and wide_limit
                else "the pans and widths that could move are locked"
            )
        return moved

    def _dynamics(self, step: _Step) -> bool:
        """PLR through the limiter ceiling; LRA and short-term spread through the glue compressor.
        Returns whether a track setting moved (the bus must be rendered again)."""
        params, constraints, reasons, current, aim, limits = step.unpack()
        rows = {r.key: r for r in current.rows}
        plr = rows["plr_db"]
        moved = False
        if plr.ok is False and plr.reference is not None and plr.error is not None:
            if plr.error > 0:
                self._denser(step, plr)
            else:
                moved = self._more_dynamic(step, plr)
        lra = rows["loudness_range_lu"] if rows["loudness_range_lu"].error is not None else rows["short_term_spread_lu"]
        if lra.ok is not False or lra.error is None:
            return moved
        if constraints.is_locked("master", "comp_threshold_db"):
            limits[lra.key] = "the glue compressor's threshold is locked"
            return moved
        ratio = float(params.master["comp_ratio"] or 1.0)
        threshold = float(params.master["comp_threshold_db"] or 0.0)
        if lra.error > 0:  # too dynamic: compress more
            if ratio < 2.0 and not constraints.is_locked("master", "comp_ratio"):
                reasons.set(
                    params, constraints, "master", "comp_ratio", 2.5, "glue 2.5:1: the reference is less dynamic"
                )
                if not constraints.is_locked("master", "comp_release_ms"):
                    constraints.choose(params, "master", "comp_release_ms", 400.0)
            new = float(np.clip(threshold - 2.0 * lra.error - (6.0 if ratio < 2.0 else 0.0), -60.0, 0.0))
        else:  # too steady: compress less
            if ratio <= 1.0 or threshold >= 0.0:
                limits[lra.key] = (
                    f"the mix is as dynamic as the stems allow without the glue compressor "
                    f"({lra.mix:.1f} LU); the console has no expander"
                )
                return moved
            new = float(np.clip(threshold - 2.0 * lra.error, -60.0, 0.0))
        reasons.set(
            params, constraints, "master", "comp_threshold_db", round(new, 2),
            f"glue threshold {new:.1f} dB: the mix's loudness range follows the reference's ({lra.reference:.1f} LU)",
        )  # fmt: skip
        return moved

    def _denser(self, step: _Step, plr: FidelityRow) -> None:
        """PLR above the reference's: the limiter ceiling down (within :data:`MAX_LIMITING_DB` of gain
        reduction), the rest by the master's saturation where the console has it."""
        params, constraints, reasons, current, _, limits = step.unpack()
        error = float(plr.error or 0.0)
        reduction = float((current.delivered.get("limiter_reduction_db") or {}).get("max", 0.0) or 0.0)
        ceiling = float(params.master["limiter_ceiling_dbtp"] or self.true_peak_dbtp)
        cut = float(np.clip(error, 0.0, max(0.0, MAX_LIMITING_DB - reduction)))
        cut = min(cut, ceiling + 12.0)
        if cut > 0.05 and not constraints.is_locked("master", "limiter_ceiling_dbtp"):
            new = round(ceiling - cut, 2)
            reasons.set(
                params, constraints, "master", "limiter_ceiling_dbtp", new,
                f"ceiling {new:.2f} dBTP: the mix's PLR follows the reference's ({plr.reference:.1f} dB)",
            )  # fmt: skip
        else:
            cut = 0.0
        rest = error - cut
        if rest <= 0.5:
            return
        what = f"the limiter cannot reach PLR {plr.reference:.1f} dB without exceeding {MAX_LIMITING_DB:g} dB of gain reduction"
        if "drive_db" not in params.master or constraints.is_locked("master", "drive_db"):
            limits["plr_db"] = what
            return
        p = params_for("master")["drive_db"]
        old = float(params.master["drive_db"] or 0.0)
        new = float(min(p.maximum, old + min(DRIVE_STEP_DB, 1.5 * rest)))
        if new <= old + 0.05:
            limits["plr_db"] = f"{what}, and the master's drive is at its {p.maximum:g} dB limit"
            return
        reasons.set(
            params, constraints, "master", "drive_db", round(new, 2),
            f"drive {new:.1f} dB: saturation makes the mix as dense as the reference (PLR {plr.reference:.1f} dB) "
            "where the limiter alone would pump",
        )  # fmt: skip

    def _more_dynamic(self, step: _Step, plr: FidelityRow) -> bool:
        """PLR below the reference's: the ceiling up to the one asked, then less master drive, then a
        gentler glue compressor, then gentler track compressors. Returns whether a track setting moved."""
        params, constraints, reasons, _, _, limits = step.unpack()
        need = -float(plr.error or 0.0)
        asked = self.true_peak_dbtp
        ceiling = float(params.master["limiter_ceiling_dbtp"] or asked)
        top = asked - TRUE_PEAK_MARGIN_DB
        if ceiling < top - 0.05 and not constraints.is_locked("master", "limiter_ceiling_dbtp"):
            new = round(min(top, ceiling + need), 2)
            reasons.set(
                params, constraints, "master", "limiter_ceiling_dbtp", new,
                f"ceiling {new:.2f} dBTP: the mix's PLR follows the reference's ({plr.reference:.1f} dB)",
            )  # fmt: skip
            need -= new - ceiling
        if need <= 0.3:
            return False
        if float(plr.reference or 0.0) > top - step.loudness + 0.05:
            limits["plr_db"] = (
                f"PLR is at most the ceiling minus the loudness: {top:g} − ({step.loudness:g}) = {top - step.loudness:.1f} dB"
            )
            return False
        drive = float(params.master.get("drive_db") or 0.0)
        if drive > 0.0 and not constraints.is_locked("master", "drive_db"):
            new = round(max(0.0, drive - 2.0 * need), 2)
            reasons.set(
                params, constraints, "master", "drive_db", new, f"drive {new:.1f} dB: the reference is more dynamic"
            )
            return False
        ratio = float(params.master["comp_ratio"] or 1.0)
        if ratio > 1.0 and not constraints.is_locked("master", "comp_ratio"):
            new = round(max(1.0, 1.0 + 0.5 * (ratio - 1.0)), 2) if ratio > 1.1 else 1.0
            reasons.set(
                params, constraints, "master", "comp_ratio", new,
                f"glue {new:g}:1: the reference is more dynamic (PLR {plr.reference:.1f} dB)",
            )  # fmt: skip
            return False
        eased = False
        for track in step.multitrack.names:  # the tracks' own compressors, where the master has nothing left
            ratio = float(params.get(track, "comp_ratio") or 1.0)
            if ratio > 1.0 and not constraints.is_locked(track, "comp_ratio"):
                new = round(1.0 + 0.5 * (ratio - 1.0), 2) if ratio > 1.1 else 1.0
                before = (reasons.get(track, "comp_ratio") or "").split("; eased")[0]
                eased |= reasons.set(
                    params, constraints, track, "comp_ratio", new,
                    f"{before}; eased to {new:g}:1: the reference is more dynamic (PLR {plr.reference:.1f} dB)".lstrip("; "),
                )  # fmt: skip
        if not eased:
            limits["plr_db"] = (
                "the mix is as dynamic as the console leaves it (no drive or compression left to ease; "
                "the console has no expander)"
            )
        return eased

    # ------------------------------------------------------------------ the report's figures
    @staticmethod
    def _update_style(proposal: Proposal, mix: np.ndarray, sr: int) -> None:
        """The style section's result and distance, measured on the followed mix."""
        style = proposal.context.get("style")
        if not style:
            return
        final = style_features(mix, sr)
        style["result"] = final.to_dict()
        style["distance_result"] = style_distance(final, StyleFeatures.from_dict(style["target"]))


#: What the console cannot do, named in a row that stays ✗ for no other stated reason.
_CONSOLE_LIMITS = {
    "width_db.low": "the master's side gain moves every band alike, and its side high-pass only narrows the lows",
    "width_db.mid": "the master's side gain moves every band alike; the rest is the tracks' own stereo",
    "width_db.high": "the master's side gain moves every band alike; the rest is the tracks' own stereo",
    "side_band_db": "the side spectrum follows the width and the mid balance; the console has no side-only EQ",
    "crest_db": "the crest follows the PLR's corrections (limiter, drive, glue); none is aimed at it alone",
}


def _explain(
    rows: list[FidelityRow], aim_why: dict[str, str], limits: dict[str, str], passes: int
) -> list[FidelityRow]:
    """Rows against the reference, each ✗ with why: what the console could not do, what moved the
    aim (words, strengths, the loudness asked), or what is left after the passes."""
    out = []
    for row in rows:
        if row.ok is not False:
            out.append(row)
            continue
        family = row.key.split(".")[0]
        why = next((limits[k] for k in (row.key, family) if k in limits), None)
        aimed = next((aim_why[k] for k in (row.key, family) if k in aim_why), None)
        if why is None and aimed is not None:
            why = f"aimed elsewhere: {aimed}"
        if why is None:
            why = f"{row.reason}; still off after {passes} pass{'es' if passes != 1 else ''} of the loop"
            if row.key in _CONSOLE_LIMITS or family in _CONSOLE_LIMITS:
                why += f": {_CONSOLE_LIMITS.get(row.key) or _CONSOLE_LIMITS[family]}"
        out.append(dataclasses.replace(row, reason=why))
    return out
