"""The rules mixer's separation step: which pans, widths and EQ bands are free, and the search.

Sets up :func:`mixassist.mixers.separation.separate` for a session after the balance (bounds
from roles, locks and ranges; the sources' band powers at the balance's faders) and writes its
moves into the settings. The constants below are module attributes so that
``scripts/check_separation.py`` can set them for one run.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

import numpy as np

from mixassist.audio.multitrack import Multitrack
from mixassist.console.params import MixParams
from mixassist.mixers.balance import LISTENING_LUFS
from mixassist.mixers.constraints import Constraints
from mixassist.mixers.decisions import Reasons
from mixassist.mixers.panning import PAN_BY_ROLE, pan_limit
from mixassist.mixers.roles import is_centre_source
from mixassist.mixers.separation import EQ_SLOTS, STEREO_REACH, SeparationModel, separate
from mixassist.mixers.sources import (
    RuleTrack,
    StripRenders,
    processed_powers,
    source_units,
    unit_power,
    unit_role,
)

__all__ = [
    "SEPARATION_EQ_COST",
    "SEPARATION_EQ_DB",
    "SEPARATION_MIN_WIDTH",
    "SEPARATION_TONE_COST",
    "SEPARATION_TUNE_BANDS",
    "search_separation",
    "separation_model",
    "tune_mask",
]

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


def search_separation(
    tracks: dict[str, RuleTrack],
    ex: Multitrack,
    params: MixParams,
    constraints: Constraints,
    reasons: Reasons,
    progress: Callable[[float], None],
    renders: StripRenders | None = None,
) -> dict[str, Any] | None:
    """Search free pans, widths and EQ band gains together for less masking (after the balance).

    Sources are the balance's units (a multi-mic group is one source: one pan, one EQ). A
    source's pan is free when it is not an anchor and not locked; a stereo stem's width is
    free (narrower only) when it is a single, unlocked track; an EQ slot is free when the
    corrective EQ left it flat and none of its settings is locked. ``renders``: the tracks'
    :func:`~mixassist.mixers.sources.strip_renders` with their mid and side, if the caller has
    them (the balance's: only the faders changed since). Returns what
    :func:`~mixassist.mixers.separation_reasons.explain_separation` needs, or None when nothing is free.
    """
    names = list(tracks)
    members = source_units(tracks)
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
        role = unit_role(tracks, ms)
        if any(is_centre_source(n, tracks[n].role.role) for n in ms) or PAN_BY_ROLE.get(role, 0.5) == 0.0:
            continue  # anchors stay where they are
        if stereo[k] and role == "drums":
            continue  # overheads and rooms are the kit's image: kept as they are
        if not any(constraints.is_locked(n, "pan") for n in ms):
            # a stereo stem's reach follows its width (separate's `stereo`); a group with one
            # stays within the reach of a full-width stem
            reach = STEREO_REACH[1] if not stereo[k] and any(tracks[n].analysis.channels == 2 for n in ms) else 1.0
            reach = min([reach, *(pan_limit(n, tracks[n].role.role) for n in ms)])  # the roles' pan limits
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
            # an EQ slot's frequency and Q always have a value (their defaults), never None
            freq[k, j] = float(cast(float, params.get(ms[0], keys[0])))
            q[k, j] = float(cast(float, params.get(ms[0], keys[2])))
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
    placed, power_per_lu, mid_side, _ = processed_powers(
        ex, names, centred, np.array([gains[n] for n in names]), mid_side=True, renders=renders
    )
    plan: dict[str, Any] = {
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
    model = separation_model(plan, gains)
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
        eq_tune=tune_mask(eq_bounds) if SEPARATION_TUNE_BANDS else None,
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


def separation_model(plan: dict[str, Any], gains: dict[str, float]) -> SeparationModel:
    """The units' band-power parts (:class:`SeparationModel`) at ``gains``, heard at
    :data:`~mixassist.mixers.balance.LISTENING_LUFS`: multi-mic members summed coherently, as in the balance."""
    units, members, placed, mid_side = plan["units"], plan["members"], plan["placed"], plan["mid_side"]
    parts = []
    for u in units:
        ms = members[u]
        if len(ms) == 1 and ms[0] in mid_side:
            g = 10 ** (gains[ms[0]] / 10)
            left, right = placed[ms[0]][0], placed[ms[0]][1]
            parts.append(np.stack([mid_side[ms[0]][0] * g, mid_side[ms[0]][1] * g, (left - right) / 2 * g]))
            continue
        ears = unit_power(placed, ms, gains)
        parts.append(np.stack([(ears[0] + ears[1]) / 2, np.zeros_like(ears[0]), (ears[0] - ears[1]) / 2]))
    total = sum(float(placed[n].sum(dtype=np.float64)) * 10 ** (gains[n] / 10) for u in units for n in members[u])
    scale = plan["power_per_lu"] * 10 ** (LISTENING_LUFS / 10) / max(total, 1e-300)
    return SeparationModel(np.stack(parts) * scale, plan["start_width"], plan["freq"], plan["q"], plan["sample_rate"])


def tune_mask(eq_bounds: np.ndarray) -> np.ndarray:
    """Free peaking slots (not the shelves) may also move their frequency and Q."""
    peaks = np.array([slot.startswith("peak") for slot, _ in EQ_SLOTS])
    return (eq_bounds[..., 1] > eq_bounds[..., 0]) & peaks[None, :]
