"""Moves that follow the song's sections: a chorus lift, a solo forward, reverb sends by section.

The rules mixer runs this with the ride (``--ride`` / ``--ride-track``; off by default, so the
static mix is unchanged), after the reverb and before the ride, so the ride hears these moves.
Every move is an automation lane with raised-cosine ramps centred on the section boundaries
(each ramp at least :data:`RAMP_S` long and never steeper than the ride's limit,
:data:`~mixassist.mixers.ride.RIDE_MAX_RATE_DB_S`), bounded in dB, with a reason per section
that names it (``"gain_db@42-70"``: ``"in B (0:42–1:10) …"``).  The master's output gain is never
automated: delivery still sets one output gain and the limiter for the whole song, so the
integrated loudness and true-peak targets hold.

What each section is, read from the tracks (:func:`section_levels`): each track's level in each
section (its frames' mean power, through its static fader) and how much of the section it plays
(frames within :data:`ACTIVE_DB` of its loud frames, as the section detector reads activity).

1. **Chorus lift**: the section label that repeats and whose sections are the song's fullest --
   at least :data:`CHORUS_MORE_PARTS` more tracks playing than the other sections (their mean)
   and not quieter, or at least :data:`CHORUS_MARGIN_DB` louder and not fewer parts; the one with
   the most parts when several are -- or the sections a user named ``chorus``: its supporting
   tracks (:data:`LIFT_ROLES`) that play there come up :data:`CHORUS_LIFT_DB`.
2. **Solo forward**: in a section where the lead is silent (plays under :data:`SILENT_SHARE` of
   it) though it plays elsewhere, the melodic track (:data:`MELODIC_ROLES`) that plays there and
   rises most over its level elsewhere, at least :data:`SOLO_RISE_DB`, carries the line and
   comes forward :data:`SOLO_DB`; so does a melodic track that plays in one section label only,
   other than the chorus, where the band plays under :data:`CHORUS_MARGIN_DB` over the median
   section (a feature part; a part that joins only where the band is fullest thickens it).
3. **Sends by section**: every track with a reverb send gets :data:`SEND_SLOPE` dB less send
   per dB its section is louder than the song's median section (more room in sparse sections,
   less in dense ones), within ±:data:`SEND_RANGE_DB`, in :data:`SEND_STEP_DB` steps; no lane
   unless some section moves at least :data:`SEND_MIN_DB`.

Locks hold: a locked setting (whole) gets no lane; a section that overlaps a span lock of the
setting gets no move (the span keeps the start's curve; :meth:`Constraints.apply` splices it in);
the ridden track's fader is left to the ride.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from mixassist.audio.multitrack import Multitrack
from mixassist.console.lanes import Lane
from mixassist.console.params import MixParams
from mixassist.mixers.constraints import Constraints
from mixassist.mixers.decisions import Reasons
from mixassist.mixers.ride import RIDE_MAX_RATE_DB_S
from mixassist.mixers.sections import Section
from mixassist.mixers.sources import RuleTrack
from mixassist.mixers.structure import structure_frames

__all__ = [
    "ACTIVE_DB",
    "CHORUS_LIFT_DB",
    "CHORUS_MARGIN_DB",
    "CHORUS_MORE_PARTS",
    "LIFT_ROLES",
    "MELODIC_ROLES",
    "PLAYS_SHARE",
    "RAMP_S",
    "SEND_MIN_DB",
    "SEND_RANGE_DB",
    "SEND_SLOPE",
    "SEND_STEP_DB",
    "SILENT_SHARE",
    "SOLO_DB",
    "SOLO_RISE_DB",
    "SectionLevels",
    "section_levels",
    "section_moves",
]

#: A frame counts as playing within this many dB of the track's loudest frame.
ACTIVE_DB = 20.0
#: A track plays in a section when at least this share of its frames are playing ...
PLAYS_SHARE = 0.5
#: ... and is silent there under this share.
SILENT_SHARE = 0.1
#: The chorus's sections are at least this much louder (dB) than the other sections' mean ...
CHORUS_MARGIN_DB = 1.5
#: ... or have at least this many more parts playing (and are not quieter).
CHORUS_MORE_PARTS = 0.5
#: Lift of the supporting tracks in the chorus, dB.
CHORUS_LIFT_DB = 1.5
#: Roles lifted in the chorus (the lead is ridden; the bass and effects stay).
LIFT_ROLES = ("chords", "pad", "arp", "drums", "percussion")
#: Roles that may carry the line when the lead is silent (a pad or an effect thickens, it does not).
MELODIC_ROLES = ("lead", "chords", "arp")
#: A solo comes forward by this much, dB.
SOLO_DB = 3.0
#: The track that takes over the line rises at least this much (dB) over its level elsewhere.
SOLO_RISE_DB = 3.0
#: Send change per dB of section level above the median section, dB/dB.
SEND_SLOPE = 0.5
#: Largest send change, dB.
SEND_RANGE_DB = 3.0
#: Send changes are rounded to this step, dB.
SEND_STEP_DB = 0.5
#: A send lane is written only when some section moves at least this much, dB.
SEND_MIN_DB = 1.0
#: Shortest ramp between two sections' values, seconds (centred on the boundary).
RAMP_S = 1.0


@dataclass(frozen=True)
class SectionLevels:
    """Per section ``k`` and track ``name``: ``level_db[name][k]`` (mean power through the static
    fader, dB) and ``share[name][k]`` (share of the section's frames the track plays); ``mix_db[k]``
    the sum of the tracks' powers, dB."""

    level_db: dict[str, np.ndarray]
    share: dict[str, np.ndarray]
    mix_db: np.ndarray


def section_levels(multitrack: Multitrack, params: MixParams, sections: Sequence[Section]) -> SectionLevels:
    """The tracks' levels and activity per section (see the module notes)."""
    frames = structure_frames(multitrack)
    hop = frames.hop_s
    count = frames.levels.shape[0]
    level_db: dict[str, np.ndarray] = {}
    share: dict[str, np.ndarray] = {}
    mix = np.zeros(len(sections))
    for j, name in enumerate(multitrack.names):
        levels = frames.levels[:, j]
        gain = float(params.get(name, "gain_db") or 0.0)
        playing = levels >= levels.max() - ACTIVE_DB
        lv, sh = np.full(len(sections), -120.0), np.zeros(len(sections))
        for k, s in enumerate(sections):
            a, b = int(s.start_s / hop), min(count, max(int(s.start_s / hop) + 1, int(s.stop_s / hop)))
            if b <= a:
                continue
            power = float(np.mean(10.0 ** (levels[a:b] / 10.0)))
            lv[k] = 10 * math.log10(power + 1e-12) + gain
            sh[k] = float(np.mean(playing[a:b]))
            mix[k] += 10.0 ** (lv[k] / 10.0)
        level_db[name], share[name] = lv, sh
    return SectionLevels(level_db, share, 10 * np.log10(mix + 1e-12))


def _ramp(delta: float) -> float:
    """The ramp's length for a step of ``delta`` (dB): :data:`RAMP_S`, longer when the ride's
    rate limit asks (the steepest slope of a raised cosine is π/2 · Δ/T; 2 % margin)."""
    return max(RAMP_S, math.pi / 2 * abs(delta) / (RIDE_MAX_RATE_DB_S * 0.98))


def _lane(base: float, offsets: np.ndarray, sections: Sequence[Section]) -> Lane | None:
    """Breakpoints holding ``base + offsets[k]`` over section ``k``, ramps centred on each
    boundary where the value changes; ``None`` when a ramp would not fit between two others."""
    times: list[float] = []
    values: list[float] = []
    for k in range(1, len(sections)):
        a, b = float(offsets[k - 1]), float(offsets[k])
        if a == b:
            continue
        edge, half = sections[k].start_s, _ramp(b - a) / 2
        start = max(edge - half, 0.0)
        if times and start <= times[-1]:
            return None
        times += [start, edge + half]
        values += [base + a, base + b]
    if not times:
        return None
    return Lane(tuple(times), tuple(values))


def _span_locked(constraints: Constraints, name: str, param: str, s: Section) -> bool:
    margin = _ramp(SEND_RANGE_DB + SOLO_DB)
    return any(
        a < s.stop_s + margin and b > s.start_s - margin for a, b, _ in constraints.spans.get(name, {}).get(param, [])
    )


def _rise(levels: SectionLevels, name: str, k: int) -> float:
    """How much louder ``name`` plays in section ``k`` than in the others (their mean power),
    dB, with silence counted :data:`ACTIVE_DB` under its level in ``k``."""
    here = float(levels.level_db[name][k])
    others = np.delete(levels.level_db[name], k)
    if others.size == 0:
        return 0.0
    floor = here - ACTIVE_DB
    return here - 10 * math.log10(float(np.mean(10.0 ** (np.maximum(others, floor) / 10.0))))


def _chorus(sections: Sequence[Section], levels: SectionLevels) -> set[str]:
    """The chorus's labels (see the module notes): those you named ``chorus …``, else the
    fullest repeated label if it stands out, else none."""
    named = {s.label for s in sections if "chorus" in s.label.lower()}
    if named:
        return named
    parts = np.sum([levels.share[name] for name in levels.share], axis=0)  # tracks playing, per section
    best: tuple[float, float, str] | None = None
    for label in sorted({s.label for s in sections}):
        ks = [k for k, s in enumerate(sections) if s.label == label]
        others = [k for k in range(len(sections)) if k not in ks]
        if len(ks) < 2 or not others:
            continue
        more = float(np.mean(parts[ks]) - np.mean(parts[others]))
        louder = float(np.mean(levels.mix_db[ks]) - np.mean(levels.mix_db[others]))
        if (more >= CHORUS_MORE_PARTS and louder >= 0.0) or (louder >= CHORUS_MARGIN_DB and more >= 0.0):
            score = (float(np.mean(parts[ks])), louder, label)
            best = score if best is None or score > best else best
    return set() if best is None else {best[2]}


def _set_lane(
    params: MixParams,
    constraints: Constraints,
    reasons: Reasons,
    name: str,
    param: str,
    offsets: np.ndarray,
    why: dict[int, str],
    sections: Sequence[Section],
) -> bool:
    if constraints.is_locked(name, param):
        reasons.notes.append(f"{name}: no section moves on {param}, it is locked")
        return False
    for k in list(why):
        if _span_locked(constraints, name, param, sections[k]):
            offsets[k] = 0.0
            why.pop(k)
            reasons.notes.append(f"{name}: no {param} move in {sections[k].describe()}, a span of it is locked")
    base = float(params.get(name, param) or 0.0)
    low, high = (-60.0, 24.0) if param == "gain_db" else (-60.0, 6.0)
    offsets = np.array([constraints.clip(name, param, float(np.clip(base + o, low, high))) for o in offsets]) - base
    lane = _lane(base, offsets, sections)
    if lane is None or not why:
        if why and np.ptp(offsets) > 0:
            reasons.notes.append(f"{name}: no section moves on {param}, its sections are too short for the ramps")
        return False
    params.set_lane(name, param, lane)
    for k, text in why.items():
        s = sections[k]
        reasons.add(name, f"{param}@{round(s.start_s, 2):g}-{round(s.stop_s, 2):g}", text)
    return True


def section_moves(
    multitrack: Multitrack,
    params: MixParams,
    constraints: Constraints,
    reasons: Reasons,
    tracks: dict[str, RuleTrack],
    sections: Sequence[Section],
    *,
    ridden: str | None = None,
) -> dict[str, list[str]]:
    """Write the section moves (see the module notes) as lanes in ``params`` with their reasons;
    returns ``{track: [param, ...]}`` of the lanes written."""
    sections = [s for s in sections if s.stop_s > s.start_s]
    if len(sections) < 2 or not tracks:
        return {}
    levels = section_levels(multitrack, params, sections)
    role = {name: tr.role.role for name, tr in tracks.items()}
    gains: dict[str, np.ndarray] = {name: np.zeros(len(sections)) for name in tracks}
    gain_why: dict[str, dict[int, str]] = {name: {} for name in tracks}

    chorus = _chorus(sections, levels)
    if chorus:
        ks = [k for k, s in enumerate(sections) if s.label in chorus]
        others = [k for k in range(len(sections)) if k not in ks]
        louder = float(np.mean(levels.mix_db[ks]) - np.mean(levels.mix_db[others])) if others else 0.0
        parts = np.sum([levels.share[name] for name in levels.share], axis=0)
        more = float(np.mean(parts[ks]) - np.mean(parts[others])) if others else 0.0
        named = any("chorus" in label.lower() for label in chorus)
        what = "the chorus" if named else "the chorus (the repeated section that plays fullest)"
        for name in tracks:
            if role[name] not in LIFT_ROLES or name == ridden:
                continue
            for k in ks:
                if levels.share[name][k] >= PLAYS_SHARE:
                    gains[name][k] += CHORUS_LIFT_DB
                    gain_why[name][k] = (
                        f"in {sections[k].describe()}, {what}, the band plays {louder:+.1f} dB, with {more:+.1f} "
                        f"tracks playing, against the other sections: {name} lifts {CHORUS_LIFT_DB:+.1f} dB with it"
                    )

    leads = [n for n in tracks if role[n] == "lead"]
    lead = max(leads, key=lambda n: float(np.max(levels.level_db[n]))) if leads else None
    melodic = [n for n in tracks if role[n] in MELODIC_ROLES and n != lead and n != ridden]
    for k, s in enumerate(sections):
        if lead is None or levels.share[lead][k] >= SILENT_SHARE or levels.share[lead].max() < PLAYS_SHARE:
            continue
        rise = {n: _rise(levels, n, k) for n in melodic if levels.share[n][k] >= PLAYS_SHARE}
        if not rise or max(rise.values()) < SOLO_RISE_DB:
            continue
        solo = max(rise, key=lambda n: rise[n])
        gains[solo][k] += SOLO_DB
        gain_why[solo][k] = (
            f"in {s.describe()} the {lead} is silent and {solo} carries the line ({rise[solo]:.0f} dB over its level "
            f"elsewhere): {SOLO_DB:+.1f} dB"
        )
    full = (
        float(np.median(levels.mix_db)) + CHORUS_MARGIN_DB
    )  # a part that joins where the band is this full thickens it
    for name in melodic:
        plays = {sections[k].label for k in range(len(sections)) if levels.share[name][k] >= PLAYS_SHARE}
        quiet = all(
            levels.share[name][k] < SILENT_SHARE for k in range(len(sections)) if sections[k].label not in plays
        )
        if len(plays) != 1 or plays <= chorus or not quiet or len({s.label for s in sections}) < 2:
            continue  # (a part that joins only in the chorus thickens it: the chorus lift is its move)
        for k, s in enumerate(sections):
            if s.label in plays and k not in gain_why[name] and levels.mix_db[k] < full:
                gains[name][k] += SOLO_DB
                gain_why[name][k] = (
                    f"in {s.describe()} {name} plays its feature (it plays only in {s.label}): {SOLO_DB:+.1f} dB"
                )

    written: dict[str, list[str]] = {}
    for name in tracks:
        if gain_why[name] and name != ridden:
            if _set_lane(params, constraints, reasons, name, "gain_db", gains[name], gain_why[name], sections):
                written.setdefault(name, []).append("gain_db")

    median = float(np.median(levels.mix_db))
    offsets = np.clip(-SEND_SLOPE * (levels.mix_db - median), -SEND_RANGE_DB, SEND_RANGE_DB)
    offsets = np.round(offsets / SEND_STEP_DB) * SEND_STEP_DB
    offsets[np.abs(offsets) < SEND_MIN_DB] = 0.0
    if float(np.max(np.abs(offsets))) > 0.0:
        for name in tracks:
            send = params.get(name, "reverb_send_db")
            if send is None or send <= -60.0:
                continue
            mine = offsets.copy()
            for k in range(len(sections)):  # where the track is silent its send holds (no reason, no ramp)
                if levels.share[name][k] < SILENT_SHARE:
                    mine[k] = mine[k - 1] if k else 0.0
            why = {
                k: (
                    f"in {s.describe()} the band plays {abs(levels.mix_db[k] - median):.1f} dB "
                    f"{'under' if offsets[k] > 0 else 'over'} the song's median section: "
                    f"{'more room' if offsets[k] > 0 else 'drier'}, send {offsets[k]:+.1f} dB"
                )
                for k, s in enumerate(sections)
                if offsets[k] != 0.0 and levels.share[name][k] >= SILENT_SHARE
            }
            if _set_lane(params, constraints, reasons, name, "reverb_send_db", mine, why, sections):
                written.setdefault(name, []).append("reverb_send_db")
    return written
