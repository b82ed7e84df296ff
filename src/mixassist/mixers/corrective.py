"""Corrective EQ of the rules mixer: high-pass, gentle tone shaping, and priority unmasking cuts.

High-pass below each track's lowest useful content; mud and harshness cuts of at most 3 dB;
with the separation step off, peaking cuts where a track masks a higher-priority one
(after Hafezi & Reiss 2015, "Autonomous multitrack equalization based on masking reduction").
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch

from mixassist.console.dsp.biquad import peaking_sos, sos_response_db
from mixassist.console.params import MixParams
from mixassist.console.schema import EQ_BANDS
from mixassist.mixers.constraints import Constraints
from mixassist.mixers.decisions import Reasons
from mixassist.mixers.roles import is_low_source
from mixassist.mixers.sources import RuleTrack

__all__ = [
    "HPF_CAP_HZ",
    "HPF_MIN_HZ",
    "MAX_CUT_DB",
    "MERGE_OCTAVES",
    "PEAK_SLOTS",
    "high_pass",
    "merge_close_bands",
    "octave_levels",
    "peak_freq",
    "place",
    "power_db",
    "set_peak",
    "tone_eq",
    "unmask",
]

#: Highest high-pass corner per role (Hz); other roles: 200 Hz.
HPF_CAP_HZ: dict[str, float] = {
    "lead": 120.0,
    "chords": 200.0,
    "pad": 200.0,
    "arp": 250.0,
    "percussion": 400.0,
    "drums": 300.0,
    "fx": 300.0,
}
#: Lowest high-pass corner per role (Hz); other roles: 40 Hz.  What lies below it is under the
#: role's useful range: rumble, handling noise and low-end build-up, never part to keep.  Bass and
#: kick drums get no high-pass (the console's DC blocker still removes their offset).
HPF_MIN_HZ: dict[str, float] = {
    "lead": 80.0,
    "chords": 80.0,
    "pad": 80.0,
    "arp": 100.0,
    "percussion": 100.0,
    "drums": 60.0,
    "fx": 40.0,
}
#: A DC offset worth naming in a reason (full scale; -80 dBFS).
_DC_NOTE = 1e-4
#: The console's peaking slots the corrective EQ may use: (slot, lowest Hz, highest Hz).
PEAK_SLOTS = (("peak1", 20.0, 2000.0), ("peak2", 50.0, 5000.0), ("peak3", 200.0, 12000.0), ("peak4", 500.0, 20000.0))
#: Deepest unmasking cut (dB).
MAX_CUT_DB = 4.5
#: Two peaking bands of one track closer than this (octaves) that push the same way are merged.
MERGE_OCTAVES = 1 / 3


def power_db(x: float) -> float:
    return 10 * math.log10(x) if x > 0 else -200.0


def high_pass(tr: RuleTrack, params: MixParams, constraints: Constraints, reasons: Reasons) -> None:
    """High-pass each track below its useful range: at 0.8 × its lowest useful content (measured
    with DC and everything below 20 Hz removed), never below the role's floor
    (:data:`HPF_MIN_HZ`) nor above its cap (:data:`HPF_CAP_HZ`); never on bass or kick."""
    a, role = tr.analysis, tr.role.role
    dc = _dc_words(a.dc_offset)
    if is_low_source(tr.name, role):
        note = f"; the console's DC blocker removes its DC offset ({dc})" if dc else ""
        reasons.add(tr.name, "hpf_hz", f"no high-pass: {tr.name} is a bass-range source ({role}){note}")
        return
    floor, cap = HPF_MIN_HZ.get(role, 40.0), HPF_CAP_HZ.get(role, 200.0)
    low = a.low_cut_hz
    from_content = 0.8 * low if low is not None else 0.0
    corner = float(np.clip(max(from_content, floor), 20.0, cap))
    if low is not None and from_content >= floor:
        why = (
            f"high-pass at {corner:.0f} Hz: only 0.1 % of the track's power above 20 Hz lies below {low:.0f} Hz, "
            f"so this removes rumble and low-end build-up without touching the part (capped at {cap:.0f} Hz "
            f"for a {role} track)"
        )
    else:
        reach = f"its content reaches down to {low:.0f} Hz, but " if low is not None else ""
        why = (
            f"high-pass at {corner:.0f} Hz, the lowest corner for a {role} track: {reach}what lies below "
            f"{corner:.0f} Hz is rumble and low-end build-up under a {role}, not part of it"
        )
    removed = []
    if a.sub_20hz_percent is not None and a.sub_20hz_percent >= 0.1:
        removed.append(f"{a.sub_20hz_percent:.1f} % of its power below 20 Hz")
    if dc:
        removed.append(f"its DC offset ({dc})")
    if removed:
        why += "; it also takes out " + " and ".join(removed)
    reasons.set(params, constraints, tr.name, "hpf_hz", round(corner, 1), why)


def _dc_words(offset: float | None) -> str:
    """``+0.0220, -33 dBFS`` for an offset worth naming, else an empty string."""
    if offset is None or abs(offset) < _DC_NOTE:
        return ""
    return f"{offset:+.4f}, {20 * math.log10(abs(offset)):.0f} dBFS"


def tone_eq(
    tracks: dict[str, RuleTrack],
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
        level = octave_levels(powers[name], centres)
        if level is None:
            continue
        mud = level(200, 500) - level(1000, 4000)
        if mud > 15.0:
            cut = float(np.clip(0.25 * (mud - 15.0) + 1.5, 1.5, 3.0))
            freq = peak_freq(powers[name], centres, 200, 500)
            set_peak(
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
            freq = peak_freq(powers[name], centres, 2000, 5000)
            set_peak(
                name,
                freq,
                -cut,
                2.0,
                params,
                constraints,
                reasons,
                f"harshness: 2–5 kHz sits {harsh:.1f} dB above 500–1000 Hz; a {cut:.1f} dB cut at {freq:.0f} Hz",
            )


def unmask(
    tracks: dict[str, RuleTrack],
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
        placed[n] = place(p, params.get(n, "pan") or 0.0, params.get(n, "width") or 1.0) * gain
    share = {n: placed[n].sum(axis=(0, 1)) / max(placed[n].sum(), 1e-30) for n in names}
    for m in names:
        if tracks[m].role.role in ("bass",) or all(
            params.get(m, f"eq_{s}_db") not in (0.0, None) for s, _, _ in PEAK_SLOTS
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
            for band in np.nonzero(better)[0]:
                blame[band] = f"{t} (masker {msr_db[band]:+.1f} dB relative to it there)"
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
            cut = float(np.clip(round(2 * score[b]) / 2, 1.0, MAX_CUT_DB))
            freq = float(centres[b])
            ok = set_peak(
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


def set_peak(
    track: str,
    freq: float,
    gain_db: float,
    q: float,
    params: MixParams,
    constraints: Constraints,
    reasons: Reasons,
    why: str,
) -> bool:
    for slot, lo, hi in PEAK_SLOTS:
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


def place(powers: np.ndarray, pan: float, width: float) -> np.ndarray:
    """Approximate per-ear band powers ``(2, frames, bands)`` of a raw track after the panner."""
    theta = (pan + 1) * math.pi / 4
    if powers.shape[0] == 1:
        return np.concatenate([powers * math.cos(theta) ** 2, powers * math.sin(theta) ** 2], axis=0)
    return np.stack([powers[0] * 2 * math.cos(theta) ** 2, powers[1] * 2 * math.sin(theta) ** 2])


def octave_levels(powers: np.ndarray, centres: np.ndarray) -> Callable[[float, float], float] | None:
    p = powers.mean(axis=(0, 1))
    if p.sum() <= 0:
        return None

    def level(lo: float, hi: float) -> float:
        sel = (centres >= lo) & (centres < hi)
        if not sel.any():
            return -200.0
        octaves = math.log2(hi / lo)
        return power_db(float(p[sel].sum()) / octaves)

    return level


def peak_freq(powers: np.ndarray, centres: np.ndarray, lo: float, hi: float) -> float:
    p = powers.mean(axis=(0, 1))
    sel = np.nonzero((centres >= lo) & (centres < hi))[0]
    if sel.size == 0:
        return math.sqrt(lo * hi)
    return float(centres[sel[int(np.argmax(p[sel]))]])


def merge_close_bands(
    track: str, params: MixParams, constraints: Constraints, reasons: Reasons, sample_rate: float
) -> int:
    """Merge ``track``'s peaking bands that push the same way within :data:`MERGE_OCTAVES`.

    Two such bands act as one wider, deeper band placed twice; the pair becomes one band at the
    gain-weighted centre (in octaves), with the gain-weighted Q, whose gain is the pair's summed
    response at that centre (so the centre hears the same), within the gain's range. The freed
    slot goes flat. Bands with a locked setting are left alone; shelves are never merged (another
    shape). Returns how many merges were made.
    """
    merges = 0
    while (pair := _close_pair(track, params, constraints)) is not None:
        (s1, f1, g1, q1), (s2, f2, g2, q2) = pair
        w1, w2 = abs(g1), abs(g2)
        centre = 2 ** ((w1 * math.log2(f1) + w2 * math.log2(f2)) / (w1 + w2))
        q = round((w1 * q1 + w2 * q2) / (w1 + w2), 2)
        sos = peaking_sos(
            torch.tensor([f1, f2], dtype=torch.float64),
            torch.tensor([g1, g2], dtype=torch.float64),
            torch.tensor([q1, q2], dtype=torch.float64),
            sample_rate,
        )
        at_centre = float(sos_response_db(sos.reshape(1, 2, 6), [centre], sample_rate).reshape(-1)[0])
        keep, free = (s1, s2) if w1 >= w2 else (s2, s1)
        ranges = {band: (lo, hi) for band, lo, hi, *_ in EQ_BANDS}
        if not ranges[keep][0] <= centre <= ranges[keep][1] and ranges[free][0] <= centre <= ranges[free][1]:
            keep, free = free, keep
        stronger = reasons.get(track, f"eq_{keep}_db") or ""
        purpose = stronger.split(": ", 1)[-1].split(";", 1)[0]
        gain = round(float(np.clip(at_centre, -18.0, 18.0)), 1)
        why = (
            f"{gain:+.1f} dB {'cut' if gain < 0 else 'lift'} at {centre:.0f} Hz, Q {q:g}: one band for two that pushed "
            f"the same way within a third of an octave ({g1:+.1f} dB at {f1:.0f} Hz and {g2:+.1f} dB at {f2:.0f} Hz), "
            f"the same {at_centre:+.1f} dB at the centre" + (f"; {purpose}" if purpose else "")
        )
        constraints.choose(params, track, f"eq_{keep}_hz", round(centre, 1))
        constraints.choose(params, track, f"eq_{keep}_q", q)
        reasons.set(params, constraints, track, f"eq_{keep}_db", gain, why)
        reasons.set(params, constraints, track, f"eq_{free}_db", 0.0, f"merged into eq_{keep} ({centre:.0f} Hz)")
        for slot in (keep, free):  # the band's line (its gain) says where and how wide
            reasons.drop(track, f"eq_{slot}_hz")
            reasons.drop(track, f"eq_{slot}_q")
        merges += 1
    return merges


def _close_pair(
    track: str, params: MixParams, constraints: Constraints
) -> tuple[tuple[str, float, float, float], tuple[str, float, float, float]] | None:
    """The closest pair of ``track``'s free, active peaking bands within :data:`MERGE_OCTAVES`
    that push the same way: ``((slot, Hz, dB, Q), (slot, Hz, dB, Q))``, or None."""
    active = []
    for slot, _, _ in PEAK_SLOTS:
        keys = (f"eq_{slot}_hz", f"eq_{slot}_db", f"eq_{slot}_q")
        if any(constraints.is_locked(track, k) for k in keys):
            continue
        hz, db, q = (params.get(track, k) for k in keys)
        if db and hz and q:
            active.append((slot, float(hz), float(db), float(q)))
    best, gap = None, MERGE_OCTAVES
    for i, a in enumerate(active):
        for b in active[i + 1 :]:
            distance = abs(math.log2(a[1] / b[1]))
            if a[2] * b[2] > 0 and distance < gap:
                best, gap = (a, b), distance
    return best
