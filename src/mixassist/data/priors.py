"""Mix priors: draw realistic console settings that sound like a mix style.

A *prior* is a set of ranges (see :data:`PRIORS`); :func:`draw_prior` turns it into one concrete
:class:`PriorDraw` (e.g. "this bright pop mix has +3.4 dB of air, leads 4.1 dB above the
band, wide pads"), and :func:`prior_params` applies that draw to any multitrack, so two
different songs mixed with one draw share the style but not the content — exactly the
reference / ``target_mix`` pair of the evaluation data.

Track levels are set relative to each stem's measured loudness (the priors describe the
*balance*, not the recording levels), compressor thresholds relative to each stem's peak, and
the master is driven to the style's loudness target with a true-peak limiter at −1 dBTP.
The priors are documented in ``docs/data.md``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from importlib import resources
from typing import Any

import numpy as np

from mixassist.audio.multitrack import Multitrack
from mixassist.console.params import MixParams
from mixassist.errors import InvalidParameterError
from mixassist.measure import integrated_loudness
from mixassist.roles import ROLES

__all__ = [
    "MixPrior",
    "PriorDraw",
    "PRIORS",
    "draw_prior",
    "prior_params",
    "track_levels",
    "blend_priors",
    "role_map",
]


Range = tuple[float, float]


@dataclass(frozen=True)
class MixPrior:
    """Ranges a style's settings are drawn from (uniformly; dB, Hz, s as named).

    ``balance_lu`` gives, per role, the loudness of that role's stems relative to the
    ``chords`` role in the finished mix (LU).
    """

    name: str
    loudness_lufs: Range
    air_db: Range  # master high shelf at air_hz
    air_hz: Range
    low_db: Range  # master low shelf at 120 Hz
    mud_db: Range  # master peak at ~300 Hz
    glue_ratio: Range
    glue_depth_db: Range  # threshold below the mix's peak level
    track_ratio: Range
    track_depth_db: Range  # track compressor threshold below the stem's peak
    pan_spread: Range  # max |pan| for non-centred roles
    stereo_width: Range  # width of stereo stems
    reverb_send_db: Range
    rt60_mid_s: Range
    balance_lu: Mapping[str, Range] = field(default_factory=dict)
    eq_jitter_db: float = 2.0


def _load_priors() -> dict[str, MixPrior]:
    """The styles of ``priors.json``; each style's ``balance_lu`` overrides the shared default."""
    table = json.loads(resources.files(__package__).joinpath("priors.json").read_text(encoding="utf-8"))
    default = {role: tuple(r) for role, r in table["balance_lu_default"].items()}
    priors = {}
    for name, ranges in table["priors"].items():
        balance = {**default, **{role: tuple(r) for role, r in ranges.pop("balance_lu").items()}}
        fields: dict[str, Any] = {k: tuple(r) for k, r in ranges.items()}  # JSON lists to Range tuples
        priors[name] = MixPrior(name, **fields, balance_lu=balance)
    return priors


#: The mix styles (ranges in ``priors.json``, documented in ``docs/data.md``).
PRIORS: dict[str, MixPrior] = _load_priors()


@dataclass(frozen=True)
class PriorDraw:
    """One concrete style: every value drawn from a :class:`MixPrior` (or a blend of two)."""

    name: str
    loudness_lufs: float
    air_db: float
    air_hz: float
    low_db: float
    mud_db: float
    glue_ratio: float
    glue_depth_db: float
    track_ratio: float
    track_depth_db: float
    pan_spread: float
    stereo_width: float
    reverb_send_db: float
    rt60_mid_s: float
    balance_lu: dict[str, float]
    eq_jitter_db: float
    seed: int

    def to_dict(self) -> dict:
        return asdict(self)


def blend_priors(a: MixPrior, b: MixPrior, weight: float) -> MixPrior:
    """A style whose ranges interpolate ``a`` (weight 0) and ``b`` (weight 1)."""

    def mix(x: Range, y: Range) -> Range:
        return (x[0] + weight * (y[0] - x[0]), x[1] + weight * (y[1] - x[1]))

    fields = {
        k: mix(getattr(a, k), getattr(b, k))
        for k in MixPrior.__dataclass_fields__
        if k not in ("name", "balance_lu", "eq_jitter_db")
    }
    balance = {r: mix(a.balance_lu.get(r, (0, 0)), b.balance_lu.get(r, (0, 0))) for r in ROLES}
    return MixPrior(f"{a.name}+{b.name}@{weight:.2f}", balance_lu=balance, eq_jitter_db=a.eq_jitter_db, **fields)


def draw_prior(name: str | None, seed: int) -> PriorDraw:
    """Draw one concrete style; ``name=None`` picks a named style or a random blend of two."""
    rng = np.random.default_rng(seed)
    if name is None:
        names = sorted(PRIORS)
        if rng.random() < 0.3:
            a, b = rng.choice(len(names), size=2, replace=False)
            style = blend_priors(PRIORS[names[a]], PRIORS[names[b]], float(rng.uniform(0.25, 0.75)))
        else:
            style = PRIORS[names[int(rng.integers(len(names)))]]
    elif name in PRIORS:
        style = PRIORS[name]
    else:
        raise InvalidParameterError(f"unknown style '{name}'; styles are: {', '.join(sorted(PRIORS))}")

    def u(r: Range) -> float:
        return float(rng.uniform(r[0], r[1]))

    values = {
        k: u(getattr(style, k))
        for k in MixPrior.__dataclass_fields__
        if k not in ("name", "balance_lu", "eq_jitter_db")
    }
    balance = {role: u(style.balance_lu.get(role, (0.0, 0.0))) for role in ROLES}
    return PriorDraw(name=style.name, balance_lu=balance, eq_jitter_db=style.eq_jitter_db, seed=seed, **values)


def _peak_db(audio: np.ndarray) -> float:
    peak = float(np.max(np.abs(audio))) if audio.size else 0.0
    return 20 * math.log10(peak) if peak > 0 else -120.0


def track_levels(multitrack: Multitrack) -> dict[str, tuple[float | None, float, int]]:
    """``{track: (integrated loudness or None, sample peak dB, channels)}``: what :func:`prior_params`
    reads from the audio (precompute it once to draw many styles for one song)."""
    sr = multitrack.sample_rate
    return {t.name: (integrated_loudness(t.audio, sr), _peak_db(t.audio), t.channels) for t in multitrack}


def prior_params(
    draw: PriorDraw,
    multitrack: Multitrack | Mapping[str, tuple[float | None, float, int]],
    roles: Mapping[str, str],
    *,
    seed: int,
    fixed: Mapping[str, Mapping[str, float]] | None = None,
    central: bool = False,
) -> MixParams:
    """Console settings that mix ``multitrack`` in the style ``draw``.

    Parameters
    ----------
    draw : PriorDraw
    multitrack : Multitrack or mapping
        The session, or its :func:`track_levels` (same result, no audio read).
    roles : mapping
        Track name → one of :data:`ROLES` (unknown roles count as ``chords``).
    seed : int
        Per-song randomness (pans, EQ jitter) on top of the style.
    fixed : mapping, optional
        Track name → settings to force (e.g. alignment of multi-mic pairs).
    central : bool
        Every per-song random choice at the middle of its range instead of drawn (``seed``
        then sets only the reverb's noise): the one guess closest to all the draws, for the
        benchmark's floor (``scripts/style_twin_floor.py --central``).

    The master output gain is left at 0 dB: use :func:`mixassist.data.references.hit_loudness`
    to drive the rendered mix to ``draw.loudness_lufs``.
    """
    rng: Any = _Middle() if central else np.random.default_rng(seed)
    levels = track_levels(multitrack) if isinstance(multitrack, Multitrack) else dict(multitrack)
    tracks: dict[str, dict[str, float | None]] = {}
    side = 1.0
    for name, (lufs, peak_db, channels) in levels.items():
        role = roles.get(name, "chords")
        role = role if role in ROLES else "chords"
        p: dict[str, float | None] = {}
        if lufs is None:  # silent or too short: leave it alone (it is reported elsewhere)
            tracks[name] = p
            continue
        target = -24.0 + draw.balance_lu[role]
        p["gain_db"] = float(np.clip(target - lufs, -60.0, 24.0))
        low_source = role == "bass" or "kick" in name
        if not low_source:  # never high-pass kick or bass-range sources
            p["hpf_hz"] = float(rng.uniform(60.0, 180.0) if role != "lead" else rng.uniform(80.0, 140.0))
        jitter = draw.eq_jitter_db
        p["eq_peak2_db"] = float(rng.uniform(-jitter, jitter))
        p["eq_peak3_db"] = float(rng.uniform(-jitter, jitter))
        p["eq_high_shelf_db"] = float(np.clip(draw.air_db * 0.5 + rng.uniform(-1, 1), -18, 18))
        if draw.track_ratio > 1.05 and role in ("lead", "bass", "drums", "chords"):
            p["comp_ratio"] = float(np.clip(draw.track_ratio * rng.uniform(0.8, 1.2), 1.0, 20.0))
            p["comp_threshold_db"] = float(np.clip(peak_db - draw.track_depth_db, -60.0, 0.0))
            p["comp_attack_ms"] = float(rng.uniform(3.0, 30.0) if role != "drums" else rng.uniform(5.0, 20.0))
            p["comp_release_ms"] = float(rng.uniform(60.0, 300.0))
            p["comp_knee_db"] = 6.0
        if role in ("lead", "bass") or "kick" in name or "snare" in name:
            p["pan"] = 0.0
        else:
            p["pan"] = float(side * rng.uniform(0.3, 1.0) * draw.pan_spread)
            side = -side
        if channels == 2:
            p["width"] = float(np.clip(draw.stereo_width * rng.uniform(0.9, 1.1), 0.0, 2.0))
        if not low_source:
            p["reverb_send_db"] = float(np.clip(draw.reverb_send_db + rng.uniform(-3, 3), -60.0, 6.0))
        tracks[name] = p
    for name, values in (fixed or {}).items():
        tracks.setdefault(name, {}).update(values)
    master = {
        "eq_low_shelf_hz": 120.0,
        "eq_low_shelf_db": draw.low_db,
        "eq_peak2_hz": 300.0,
        "eq_peak2_db": draw.mud_db,
        "eq_high_shelf_hz": draw.air_hz,
        "eq_high_shelf_db": draw.air_db,
        "comp_ratio": draw.glue_ratio,
        "comp_threshold_db": -draw.glue_depth_db - 6.0,  # refined by hit_loudness once the mix level is known
        "comp_attack_ms": 20.0,
        "comp_release_ms": 200.0,
        "limiter_ceiling_dbtp": -1.0,
    }
    reverb = {
        "rt60_mid_s": draw.rt60_mid_s,
        "rt60_low_s": draw.rt60_mid_s * 1.2,
        "rt60_high_s": max(0.1, draw.rt60_mid_s * 0.6),
        "predelay_ms": 20.0,
        "return_db": 0.0,
    }
    return MixParams(list(levels), tracks=tracks, reverb=reverb, master=master, reverb_seed=seed % 1000)


class _Middle:
    """Stands in for the generator in :func:`prior_params`: every draw at its range's middle."""

    @staticmethod
    def uniform(low: float, high: float) -> float:
        return 0.5 * (low + high)


def role_map(stems: Sequence[Mapping[str, str]]) -> dict[str, str]:
    """``{name: role}`` from a ``song.json`` ``stems`` list."""
    return {s["name"]: s.get("role", "chords") for s in stems}
