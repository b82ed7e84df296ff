"""Balance of the rules mixer: each source's partial loudness in the mix brought to its role's share.

Automatic fader control from loudness (Perez-Gonzalez & Reiss 2009; Mansbridge, Finn & Reiss
2012), judged as *partial* loudness in the mix (Moore–Glasberg model,
:mod:`mixassist.measure.perception`), so masking by the other tracks is accounted for.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from mixassist.audio.multitrack import Multitrack
from mixassist.console.params import MixParams
from mixassist.measure import perception
from mixassist.mixers.constraints import Constraints
from mixassist.mixers.decisions import Reasons
from mixassist.mixers.sources import (
    RuleTrack,
    StripRenders,
    level_offset,
    processed_powers,
    source_units,
    unit_power,
    unit_role,
)

__all__ = ["BALANCE_RANGE_DB", "LISTENING_LUFS", "ROLE_SPLIT_EXPONENT", "ROLE_WEIGHT", "ROLE_WINDOW_PHON", "balance"]

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


def balance(
    tracks: dict[str, RuleTrack],
    ex: Multitrack,
    params: MixParams,
    constraints: Constraints,
    reasons: Reasons,
    measured: dict[str, dict[str, Any]],
    renders: StripRenders | None = None,
) -> None:
    """Set each source's fader so that its partial loudness in the mix meets its role's share
    (``renders``: the tracks' :func:`~mixassist.mixers.sources.strip_renders`, if the caller has them)."""
    names = list(tracks)
    if not names:
        return
    members = source_units(tracks)
    units = list(members)
    role_of = {u: unit_role(tracks, members[u]) for u in units}
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
    placed, power_per_lu, _, stems = processed_powers(
        ex, names, params, np.array([start[n] for n in names]), keep_stems=not locked.any(), renders=renders
    )
    stack = np.stack([unit_power(placed, members[u], start) for u in units])  # (units, 2, frames, bands)
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
        shift = level_offset(ex, names, np.array([gains[n] for n in names]), stems)
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
