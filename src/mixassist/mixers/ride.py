"""Riding the lead: an automation lane on one fader that holds the part steady against the mix.

What an engineer (or a plug-in such as Vocal Rider) does by hand: when the rest of the song gets
busier the lead goes up a little, when it thins out the lead comes down, so its loudness *in the
mix* stays in a band.  The rules mixer runs this after the balance and the reverb, before the
master stage, on the track named by the user or else on its lead (``RulesMixer(ride=True)``,
``mix --ride`` / ``--ride-track NAME``).

1. The printed stems of the settings so far are streamed (:meth:`Console.iter_stems`); the part
   and the rest (every other track and the reverb return) become band powers at each ear
   (:func:`~mixassist.measure.perception.band_powers`, :data:`RIDE_HOP_S` hop), never whole
   signals.
2. :func:`~mixassist.measure.perception.relative_short_term`: in 3-s windows every 0.5 s, the
   part's partial loudness minus the rest's, in phon (reads like LU).  The target is its median
   over the windows where both play: the static balance stays where the balance step put it.
3. Each window's answer to every fader move on a 1-dB grid within ±:data:`RIDE_RANGE_DB` is
   measured (the part's band powers scaled: the fader is linear and after the compressor, so no
   re-render), and the smallest move that brings the window into the band
   ±:data:`RIDE_BAND_LU` is read off that curve (partial loudness grows faster than 1 phon/dB
   near the masked threshold, so a 1:1 step would overshoot).  Windows where the part or the rest
   is silent hold the neighbouring moves.  The moves are smoothed over
   :data:`RIDE_SMOOTH_WINDOWS` windows and limited to :data:`RIDE_MAX_RATE_DB_S` (the lane's
   steepest slope, π/2·Δ/Δt between breakpoints), centred on each change (a forward and a
   backward limiter averaged), then measured once more for the record.
4. The lane (breakpoints at the window centres, base = the balanced fader) goes on the track; a
   reason is written for each stretch where the ride moves at least 1 dB, naming its section
   when the song's sections are known.

Rate limit and smoothing are what keep it from pumping: at most 4 dB/s, and no move faster than
a 1.5-s average of what the measure asks.  Delivery runs after, so the integrated loudness and
true-peak targets hold as without rides.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from mixassist.audio.multitrack import Multitrack
from mixassist.console.console import Console
from mixassist.console.lanes import Lane, lane_curve_numpy, max_rate
from mixassist.console.params import MixParams
from mixassist.measure import perception
from mixassist.mixers.constraints import Constraints
from mixassist.mixers.decisions import Reasons
from mixassist.mixers.sections import Section

__all__ = [
    "RIDE_BAND_LU",
    "RIDE_HOP_S",
    "RIDE_MAX_RATE_DB_S",
    "RIDE_RANGE_DB",
    "RIDE_SMOOTH_WINDOWS",
    "RidePlan",
    "choose_ridden",
    "part_and_rest",
    "plan_ride",
    "ride_track",
]

#: Frame hop of the band powers the ride listens to, seconds.
RIDE_HOP_S = 0.1
#: The part's loudness relative to the rest is held within ± this of its median (LU ≈ phon).
RIDE_BAND_LU = 0.5
#: Steepest fader move the ride may make, dB per second (of the lane's curve, not its points).
RIDE_MAX_RATE_DB_S = 4.0
#: The ride moves the fader at most this far from the balance's setting, dB.
RIDE_RANGE_DB = 6.0
#: Moving average of the desired moves over this many windows (0.5 s apart).
RIDE_SMOOTH_WINDOWS = 3
#: A stretch of the ride gets its own reason when it moves the fader at least this far, dB.
REASON_DB = 1.0


@dataclass(frozen=True)
class RidePlan:
    """The ride: breakpoints ``times_s`` / ``offsets_db`` (relative to the balanced fader) and
    the measure before and after (:class:`~mixassist.measure.perception.ShortTermRelative`)."""

    times_s: np.ndarray
    offsets_db: np.ndarray
    before: perception.ShortTermRelative
    after: perception.ShortTermRelative
    target_phon: float


def choose_ridden(
    name: str | None, leads: Mapping[str, float | None], playing: Collection[str], reasons: Reasons
) -> str | None:
    """The track to ride: ``name`` (``None``, with a note, when it is silent), else the loudest of
    ``leads`` (track name → its integrated loudness, LUFS; ``None`` for none); ``None``, with a
    note, when there is no lead. What every mixer's ride uses (``rules`` and ``RideAfter``)."""
    if name is None:
        if not leads:
            reasons.notes.append("no lead part to ride (name one with --ride-track)")
            return None
        loudness = {t: -math.inf if v is None else float(v) for t, v in leads.items()}
        return max(loudness, key=loudness.__getitem__)
    if name not in playing:
        reasons.notes.append(f"{name}: not ridden, it is silent")
        return None
    return name


def part_and_rest(
    multitrack: Multitrack, params: MixParams, name: str, hop_s: float = RIDE_HOP_S
) -> tuple[np.ndarray, np.ndarray]:
    """Band powers ``(2, frames, bands)`` of track ``name`` after its strip and of the rest of the
    mix bus (the other tracks and the reverb return), streamed from the printed stems block by
    block: exactly :func:`~mixassist.measure.perception.band_powers` of the whole signals."""
    sr = multitrack.sample_rate
    hop = max(1, int(round(hop_s * sr)))
    total = multitrack.num_samples
    frames = 1 + -(-total // hop) if total else 0
    out = np.zeros((2, 2, frames, perception.ERB_BANDS))
    index = params.track_names.index(name)
    chunk = 200 * hop
    pending: list[np.ndarray] = []  # (2 signals, 2 channels, n) pieces not yet framed
    held = 0
    start = 0  # song index of the first pending sample (a multiple of hop)
    context = np.zeros((2, 2, hop), np.float32)  # the hop samples before ``start``

    def frame(upto: int) -> None:
        nonlocal pending, held, start, context
        joined = np.concatenate(pending, axis=-1) if len(pending) > 1 else pending[0]
        seg = np.concatenate([context, joined[..., : upto - start]], axis=-1)
        powers = perception.band_powers(seg, sr, hop_s=hop / sr)  # frame f: song frame start/hop + f - 1
        first, count = start // hop, (upto - start) // hop
        out[:, :, first : first + count] = powers[:, :, 1 : 1 + count]
        context = seg[..., -hop:]
        rest = joined[..., upto - start :]
        pending, held, start = ([rest] if rest.shape[-1] else []), rest.shape[-1], upto

    seen = 0  # song samples taken; the pieces run on past the song's end (the tails the master reads): cut there
    for stems, wet in Console(sr).iter_stems(multitrack, params):
        take = min(stems.shape[-1], total - seen)
        if take <= 0:
            break
        part = stems[index, :, :take]
        others = stems[:, :, :take].sum(axis=0, dtype=np.float32) - part + wet[:, :take]
        pending.append(np.stack([part, others]))
        held += take
        seen += take
        if held >= chunk:
            frame(start + (held // hop) * hop)
    end = frames * hop  # the last frame reads past the song: zeros there, as band_powers pads
    if end > start:
        pending.append(np.zeros((2, 2, end - start - held), np.float32))
        frame(end)
    return out[0], out[1]


def _smooth(values: np.ndarray, width: int) -> np.ndarray:
    if width <= 1 or values.size < 2:
        return values
    padded = np.pad(values, (width // 2, width - 1 - width // 2), mode="edge")
    return np.convolve(padded, np.ones(width) / width, mode="valid")


def _rate_limit(values: np.ndarray, step: float) -> np.ndarray:
    """``values`` with consecutive differences at most ``step``, centred on each change: the mean
    of a forward and a backward limiter (each Lipschitz, so their mean is too), so a move starts
    before a jump and ends after it instead of lagging behind it."""
    forward, backward = values.copy(), values.copy()
    for k in range(1, values.size):
        forward[k] = min(max(forward[k], forward[k - 1] - step), forward[k - 1] + step)
    for k in range(values.size - 2, -1, -1):
        backward[k] = min(max(backward[k], backward[k + 1] - step), backward[k + 1] + step)
    return 0.5 * (forward + backward)


def _wanted(grid_db: np.ndarray, relative: np.ndarray, target: float) -> np.ndarray:
    """Per window, the smallest move (dB, on ``grid_db``, interpolated) that brings ``relative``
    (``(grid, windows)``, phon) into the band around ``target``; the grid's end if none does."""
    low, high = target - RIDE_BAND_LU, target + RIDE_BAND_LU
    zero = int(np.argmin(np.abs(grid_db)))
    out = np.zeros(relative.shape[1])
    for w in range(relative.shape[1]):
        r = np.maximum.accumulate(relative[:, w])  # loudness never falls as the fader rises
        if r[zero] < low:
            out[w] = float(np.interp(low, r[zero:], grid_db[zero:])) if r[-1] >= low else grid_db[-1]
        elif r[zero] > high:
            out[w] = float(np.interp(high, r[: zero + 1], grid_db[: zero + 1])) if r[0] <= high else grid_db[0]
    return out


def plan_ride(part: np.ndarray, rest: np.ndarray, hop_s: float = RIDE_HOP_S) -> RidePlan | None:
    """The ride for ``part`` against ``rest`` (band powers as :func:`part_and_rest` returns
    them), or ``None`` when fewer than four windows have both playing."""
    before = perception.relative_short_term(part, rest, hop_s)
    active = before.active
    if int(active.sum()) < 4:
        return None
    target = float(np.median(before.relative_phon[active]))
    times = before.times_s
    step_s = float(times[1] - times[0]) if times.size > 1 else 0.5
    # Each window's answer to every fader move on a 1-dB grid: partial loudness grows faster than
    # 1 phon/dB near the masked threshold, so the move is read off the curve, not assumed.
    grid = np.arange(-RIDE_RANGE_DB, RIDE_RANGE_DB + 0.5, 1.0)
    relative = np.stack(
        [perception.relative_short_term(part * 10.0 ** (g / 10.0), rest, hop_s).relative_phon for g in grid]
    )
    wanted = _wanted(grid, relative, target)
    wanted = np.interp(np.arange(times.size), np.flatnonzero(active), wanted[active])  # hold over gaps
    # the lane's steepest slope is π/2 times the mean slope between points; 2 % margin for rounding
    max_step = RIDE_MAX_RATE_DB_S * step_s * (2.0 / math.pi) * 0.98
    offsets = _rate_limit(_smooth(wanted, RIDE_SMOOTH_WINDOWS), max_step)
    offsets = np.round(np.clip(offsets, -RIDE_RANGE_DB, RIDE_RANGE_DB), 2)
    gain = 10.0 ** (lane_curve_numpy(times, offsets, np.arange(part.shape[1]) * hop_s) / 10.0)
    after = perception.relative_short_term(part * gain[None, :, None], rest, hop_s)
    return RidePlan(times, offsets, before, after, target)


def _lane(times: np.ndarray, values: np.ndarray) -> Lane:
    """The breakpoints without the inner points of constant runs."""
    keep = np.ones(values.size, bool)
    keep[1:-1] = ~((values[1:-1] == values[:-2]) & (values[1:-1] == values[2:]))
    return Lane(tuple(float(t) for t in times[keep]), tuple(float(v) for v in values[keep]))


def _section_name(a: float, b: float, sections: Sequence[Section]) -> str:
    best, overlap = None, 0.0
    for s in sections:
        o = min(b, s.stop_s) - max(a, s.start_s)
        if o > overlap:
            best, overlap = s, o
    return f" in {best.describe()}" if best is not None else ""


def _stretches(times: np.ndarray, offsets: np.ndarray) -> Iterable[tuple[float, float, float]]:
    """``(start_s, stop_s, peak_db)`` of each run where the ride is at least :data:`REASON_DB` one way."""
    sign = np.where(offsets >= REASON_DB, 1, np.where(offsets <= -REASON_DB, -1, 0))
    k = 0
    while k < sign.size:
        if sign[k] == 0:
            k += 1
            continue
        j = k
        while j + 1 < sign.size and sign[j + 1] == sign[k]:
            j += 1
        run = offsets[k : j + 1]
        yield float(times[k]), float(times[j]), float(run[np.argmax(np.abs(run))])
        k = j + 1


def ride_track(
    multitrack: Multitrack,
    params: MixParams,
    constraints: Constraints,
    reasons: Reasons,
    name: str,
    *,
    sections: Sequence[Section] = (),
) -> dict[str, Any] | None:
    """Ride ``name``'s fader (see the module notes): sets its ``gain_db`` lane in ``params``,
    writes the reasons, and returns the measures (``None`` when it was not ridden)."""
    if constraints.is_locked(name, "gain_db"):
        reasons.notes.append(f"{name}: not ridden, its fader is locked")
        return None
    part, rest = part_and_rest(multitrack, params, name)
    plan = plan_ride(part, rest)
    if plan is None:
        reasons.notes.append(f"{name}: not ridden, it and the rest of the mix rarely play together")
        return None
    base = float(params.get(name, "gain_db") or 0.0)
    values = np.clip(base + plan.offsets_db, -60.0, 24.0)
    lane = _lane(plan.times_s, values)
    params.set_lane(name, "gain_db", lane)
    before, after = plan.before.spread(), plan.after.spread()
    summary = {
        "track": name,
        "target_relative_phon": round(plan.target_phon, 2),
        "spread_before_lu": None if before is None else round(before, 3),
        "spread_after_lu": None if after is None else round(after, 3),
        "max_rate_db_s": round(max_rate(lane), 3),
        "range_db": [round(float(plan.offsets_db.min()), 2), round(float(plan.offsets_db.max()), 2)],
        "points": len(lane),
    }
    for a, b, peak in _stretches(plan.times_s, plan.offsets_db):
        k = (plan.times_s >= a) & (plan.times_s <= b) & plan.before.active
        if not k.any():  # the fader only holds its move while the part is silent: nothing to explain
            continue
        gap = float(np.mean(plan.before.relative_phon[k]) - plan.target_phon)
        heard = plan.times_s[k]  # the section named is where the part plays during the move
        where = "busier" if peak > 0 else "thinner"
        reasons.add(
            name,
            f"gain_db@{a:g}-{b:g}",
            f"ride {peak:+.1f} dB at most over {a:.1f}–{b:.1f} s"
            f"{_section_name(float(heard[0]) - 1.5, float(heard[-1]) + 1.5, sections)}: the rest of the "
            f"mix is {where} there ({name} would sit {gap:+.1f} LU from its usual place against it)",
        )
    if before is not None and after is not None:
        reasons.notes.append(
            f"{name} ridden: its short-term loudness against the rest of the mix varies {before:.2f} LU "
            f"(standard deviation) without the ride, {after:.2f} LU with it; moves within ±{RIDE_RANGE_DB:g} dB "
            f"and at most {RIDE_MAX_RATE_DB_S:g} dB/s"
        )
    return summary
