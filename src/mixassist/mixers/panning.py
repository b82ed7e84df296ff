"""Panning of the rules mixer: anchors centred, other mono tracks to the side they overlap least.

After Perez-Gonzalez & Reiss (2010), "A real-time semiautonomous audio panning system for music
mixing": greedy by priority, each mono track goes to the side whose already-placed tracks share
less of its ERB-band spectrum; stereo stems keep (or narrow) their image.
"""

from __future__ import annotations

import math

import numpy as np

from mixassist.console.params import MixParams
from mixassist.mixers.constraints import Constraints
from mixassist.mixers.decisions import Reasons
from mixassist.mixers.roles import is_centre_source
from mixassist.mixers.sources import RuleTrack

__all__ = ["PAN_BY_ROLE", "PAN_LIMIT_BY_ROLE", "limit_pan", "pan_limit", "pan_tracks", "profile", "stereo_image"]

#: Pan magnitude by role for sources that are not anchors (0: centred).
PAN_BY_ROLE: dict[str, float] = {
    "chords": 0.5,
    "arp": 0.6,
    "percussion": 0.45,
    "pad": 0.7,
    "fx": 0.7,
    "drums": 0.35,
    "lead": 0.0,
    "bass": 0.0,
}
#: Furthest a role may be panned (|pan|), whatever the separation finds: a part that keeps
#: time or fills the chords never sits in one ear only. Anchors (lead, bass, kick, snare) stay centred.
PAN_LIMIT_BY_ROLE: dict[str, float] = {
    "drums": 0.6,
    "percussion": 0.6,
    "chords": 0.8,
    "pad": 0.8,
    "arp": 0.8,
    "fx": 1.0,
    "lead": 0.0,
    "bass": 0.0,
}


def pan_limit(name: str, role: str) -> float:
    """The furthest ``name`` (a ``role`` track) may be panned: 0 for anchors."""
    return 0.0 if is_centre_source(name, role) else PAN_LIMIT_BY_ROLE.get(role, 1.0)


def limit_pan(tr: RuleTrack, params: MixParams, constraints: Constraints, reasons: Reasons) -> bool:
    """Bring ``tr``'s pan back within its role's limit (unless locked), saying so; True if it moved."""
    pan = float(params.get(tr.name, "pan") or 0.0)
    limit = pan_limit(tr.name, tr.role.role)
    if abs(pan) <= limit + 1e-9 or constraints.is_locked(tr.name, "pan"):
        return False
    before = (reasons.get(tr.name, "pan") or "").split(": ", 1)[-1]
    clipped = math.copysign(limit, pan)
    word = "left" if pan < 0 else "right"
    why = f"{limit:.2f} {word}: held to a {tr.role.role} part's limit of {limit:.2f} (it was {abs(pan):.2f} {word})"
    reasons.set(params, constraints, tr.name, "pan", clipped, f"{why}; {before}" if before else why)
    return True


def pan_tracks(
    tracks: dict[str, RuleTrack],
    powers: dict[str, np.ndarray],
    params: MixParams,
    constraints: Constraints,
    reasons: Reasons,
) -> None:
    profiles = {n: profile(p) for n, p in powers.items()}
    first = next(iter(profiles.values()), None)
    # summed profiles of the tracks placed so far, per side (None when there is nothing to place)
    load = None if first is None else {-1.0: np.zeros_like(first), 1.0: np.zeros_like(first)}
    group_pan: dict[str, float] = {}
    order = sorted(tracks.values(), key=lambda t: (-t.priority, -(t.analysis.integrated_lufs or -99)))
    for tr in order:
        role = tr.role.role
        if tr.analysis.channels == 2:
            stereo_image(tr, params, constraints, reasons)
            if not constraints.is_locked(tr.name, "pan"):
                reasons.add(tr.name, "pan", "stereo stem: kept centred, its own image carries the placement")
            continue
        if tr.group is not None and tr.group in group_pan:
            pan = group_pan[tr.group]
            why = f"panned with its multi-mic partner(s) ({pan:+.2f}) so the source stays in one place"
            reasons.set(params, constraints, tr.name, "pan", pan, why)
            continue
        if is_centre_source(tr.name, role) or PAN_BY_ROLE.get(role, 0.5) == 0.0:
            pan = 0.0
            why = (
                f"centred: a {role} anchor ({tr.name}) stays in the middle, where low end and the focus of the mix live"
            )
            reasons.set(params, constraints, tr.name, "pan", 0.0, why)
        elif constraints.is_locked(tr.name, "pan"):
            pan = float(params.get(tr.name, "pan") or 0.0)
            reasons.add(tr.name, "pan", "locked by you")
        else:
            prof = profiles[tr.name]
            if load is None:  # a track to place has a profile, so the load exists
                raise RuntimeError(f"panning: no spectral load to place {tr.name!r} against")
            overlap = {side: float(np.minimum(prof, load[side]).sum()) for side in (-1.0, 1.0)}
            side = -1.0 if overlap[-1.0] <= overlap[1.0] else 1.0
            pan = round(side * PAN_BY_ROLE.get(role, 0.5), 2)
            word = "left" if side < 0 else "right"
            why = (
                f"{abs(pan):.2f} {word}: spread away from the centre as a {role} part, to the side whose tracks "
                f"share less of its spectrum (overlap {overlap[side]:.2f} vs {overlap[-side]:.2f})"
            )
            reasons.set(params, constraints, tr.name, "pan", pan, why)
        if pan != 0.0 and load is not None:
            theta = (pan + 1) * math.pi / 4
            load[-1.0] += profiles[tr.name] * math.cos(theta) ** 2
            load[1.0] += profiles[tr.name] * math.sin(theta) ** 2
        if tr.group is not None:
            group_pan[tr.group] = pan


def stereo_image(tr: RuleTrack, params: MixParams, constraints: Constraints, reasons: Reasons) -> None:
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
        why = f"width 1.0: the stereo image is kept as recorded (correlation {corr if corr is not None else 0:+.2f})"
    reasons.set(params, constraints, tr.name, "width", width, why)


def profile(powers: np.ndarray) -> np.ndarray:
    """Normalised long-term band profile of ``(channels, frames, bands)`` powers."""
    p = powers.mean(axis=(0, 1))
    total = p.sum()
    return p / total if total > 0 else p
