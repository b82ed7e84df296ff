"""The rules mixer's sources: tracks with their analysis and role, multi-mic units, band powers.

The balance and the separation both work on *units* (a single track, or a multi-mic group as
one source) and on each track's band powers after its channel strip; both are formed here, in
one place, so the two steps see the same sources.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import NamedTuple, cast

import numpy as np
import torch

from mixassist.audio.multitrack import Multitrack
from mixassist.console.console import Console
from mixassist.console.dsp.dc import dc_block
from mixassist.console.params import MixParams
from mixassist.measure import integrated_loudness, perception
from mixassist.mixers.analysis import ANALYSIS_THREADS, TrackAnalysis
from mixassist.mixers.roles import PRIORITY, RoleGuess

__all__ = [
    "GROUP_SIZE",
    "ProcessedPowers",
    "RuleTrack",
    "StripRenders",
    "excerpt",
    "level_offset",
    "pan_gains",
    "processed_powers",
    "source_units",
    "strip_renders",
    "unit_power",
    "unit_role",
]

#: Tracks rendered at once when measuring processed stems (bounds memory).
GROUP_SIZE = 16


@dataclass
class RuleTrack:
    """A non-silent track as the rules mixer sees it: analysis, role, priority, multi-mic group."""

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
    arrays = {t.name: np.concatenate([t.read(s, s + piece) for s in starts], axis=1) for t in multitrack}
    return Multitrack.from_arrays(arrays, multitrack.sample_rate)


def source_units(tracks: dict[str, RuleTrack]) -> dict[str, list[str]]:
    """Sources of the balance and the separation, in track order: single tracks, and multi-mic
    groups as one source (their members are aligned, so they add coherently, and keep their
    relative levels): ``{unit: [track, ...]}``."""
    members: dict[str, list[str]] = {}
    for name, tr in tracks.items():
        members.setdefault(tr.group or name, []).append(name)
    return members


def unit_role(tracks: dict[str, RuleTrack], members: list[str]) -> str:
    """A unit's role: its members' highest-priority one."""
    return max((tracks[n].role.role for n in members), key=lambda r: PRIORITY[r])


def unit_power(placed: dict[str, np.ndarray], members: list[str], gains_db: dict[str, float]) -> np.ndarray:
    """``(2, frames, bands)`` band powers of a unit's members at ``gains_db``, summed coherently."""
    # ``members`` is never empty, so the sum is an array (never the start value 0)
    return cast(np.ndarray, sum(np.sqrt(placed[n] * 10 ** (gains_db[n] / 10)) for n in members) ** 2)


#: Settings a strip render of :func:`strip_renders` leaves aside (set per use: faders, pans, sends).
_PLACED_LATER = ("gain_db", "pan", "reverb_send_db")


@dataclass
class StripRenders:
    """Each track's strip rendered once on an excerpt, fader at 0 dB, centred, without send
    (:func:`strip_renders`): what :func:`processed_powers` places at any faders and pans.

    The pan is the strip's last stage and a gain per channel (the console's laws: ``√2 cos θ``
    and ``√2 sin θ`` relative to the centre, mono and stereo alike), so a track at another pan
    is its centred render scaled, and its band powers at each ear are scaled by the squares."""

    settings: dict[str, dict[str, object]]
    """Each track's settings the render used (all but :data:`_PLACED_LATER`)."""
    stems: dict[str, np.ndarray]
    """``{track: (2, samples)}`` float32, the track after its strip, centred, at 0 dB."""
    powers: dict[str, np.ndarray]
    """``{track: (2, frames, bands)}`` their band powers at each ear."""
    mid_side: dict[str, np.ndarray]
    """``{track: (2, frames, bands)}`` band powers of ``(L + R)/2`` and ``(L − R)/2`` of every
    stereo track (rendered with ``mid_side``; else empty)."""
    with_mid_side: bool

    def fits(self, params: MixParams, names: list[str], mid_side: bool) -> bool:
        """Whether these renders are those of ``names`` under ``params`` (faders, pans and sends aside)."""
        return (not mid_side or self.with_mid_side) and all(
            n in self.settings and self.settings[n] == _strip_settings(params, n) for n in names
        )


def _strip_settings(params: MixParams, name: str) -> dict[str, object]:
    return {k: v for k, v in params.tracks[name].items() if k not in _PLACED_LATER}


def strip_renders(ex: Multitrack, names: list[str], params: MixParams, *, mid_side: bool = False) -> StripRenders:
    """Render every track's strip on ``ex`` once: fader at 0 dB, centred, no send, no master
    (see :class:`StripRenders`); ``mid_side``: also the band powers of each stereo track's mid and side."""
    console = Console(ex.sample_rate)
    stems_out: dict[str, np.ndarray] = {}
    out: dict[str, np.ndarray] = {}
    ms_out: dict[str, np.ndarray] = {}
    for i in range(0, len(names), GROUP_SIZE):
        group = names[i : i + GROUP_SIZE]
        centred = {"gain_db": 0.0, "pan": 0.0, "reverb_send_db": None}
        sub = MixParams(group, tracks={n: {**params.tracks[n], **centred} for n in group})
        sub_mt = Multitrack.from_arrays({n: ex[n].audio for n in group}, ex.sample_rate)
        stems = console.render(sub_mt, sub, want_stems=True).stems
        if stems is None:  # pragma: no cover - render always returns stems when asked
            raise RuntimeError("console returned no stems")
        for j, (n, (powers, ms)) in enumerate(zip(group, _band_powers(stems, ex, group, mid_side), strict=True)):
            stems_out[n], out[n] = stems[j], powers
            if ms is not None:
                ms_out[n] = ms
    return StripRenders({n: _strip_settings(params, n) for n in names}, stems_out, out, ms_out, mid_side)


def pan_gains(pan: float) -> np.ndarray:
    """``(2,)`` gain of each channel of a track panned to ``pan`` relative to it centred
    (``√2 cos θ``, ``√2 sin θ``, θ = (pan + 1)·π/4: the console's laws, mono and stereo)."""
    theta = (float(np.clip(pan, -1.0, 1.0)) + 1.0) * (np.pi / 4)
    return np.sqrt(2.0) * np.array([np.cos(theta), np.sin(theta)])


class ProcessedPowers(NamedTuple):
    """What :func:`processed_powers` measured."""

    powers: dict[str, np.ndarray]
    """``{track: (2, frames, bands)}`` band powers at each ear after the strip, fader at 0 dB."""
    calibration: float
    """Band power of the mix at the given gains per unit of 10^(LUFS/10)."""
    mid_side: dict[str, np.ndarray]
    """With ``mid_side``: ``{track: (2, frames, bands)}`` band powers of ``(L + R)/2`` and
    ``(L − R)/2`` of every stereo track, centred (else empty)."""
    stems: dict[str, np.ndarray]
    """With ``keep_stems``: ``{track: (2, samples)}`` float32, the track after its strip and
    panner at 0 dB (for :func:`level_offset`; else empty)."""


def processed_powers(
    ex: Multitrack,
    names: list[str],
    params: MixParams,
    gains_db: np.ndarray,
    *,
    mid_side: bool = False,
    keep_stems: bool = False,
    renders: StripRenders | None = None,
) -> ProcessedPowers:
    """Band powers at each ear of every track after its strip (HPF, EQ, compressor, pan)
    with the fader at 0 dB, no reverb, no master; and the calibration between summed band
    power and loudness: band power of the mix at ``gains_db`` per unit of 10^(LUFS/10)
    (see :class:`ProcessedPowers`).

    ``renders``: the tracks' :func:`strip_renders` if the caller has them (used when they
    :meth:`~StripRenders.fits` ``params``; else the strips are rendered again): the balance and
    the separation after it differ only in faders and pans, so they share one render."""
    if renders is None or not renders.fits(params, names, mid_side):
        renders = strip_renders(ex, names, params, mid_side=mid_side)
    out: dict[str, np.ndarray] = {}
    kept: dict[str, np.ndarray] = {}
    mix = np.zeros((2, ex.num_samples), np.float64)
    for n, g in zip(names, gains_db, strict=True):
        pan = pan_gains(float(params.tracks[n].get("pan") or 0.0))
        out[n] = renders.powers[n] * (pan**2)[:, None, None]
        stem = renders.stems[n] * pan.astype(np.float32)[:, None]
        mix += stem * 10 ** (g / 20)
        if keep_stems:
            kept[n] = stem
    lufs = integrated_loudness(mix, ex.sample_rate)
    total = sum(float(out[n].sum(dtype=np.float64)) * 10 ** (g / 10) for n, g in zip(names, gains_db, strict=True))
    calibration = 1.0 if lufs is None or total <= 0 else total / 10 ** (lufs / 10)
    ms_out = {n: renders.mid_side[n] for n in names if n in renders.mid_side} if mid_side else {}
    return ProcessedPowers(out, calibration, ms_out, kept)


def _band_powers(
    stems: np.ndarray, ex: Multitrack, names: list[str], mid_side: bool
) -> list[tuple[np.ndarray, np.ndarray | None]]:
    """Each rendered stem's band powers at each ear, and (``mid_side``, stereo tracks) of its mid
    and side, two tracks at a time on threads (the FFTs release the GIL; each result is its
    own, so the same figures bit for bit): the balance and the separation wait on these alone."""

    def one(j: int) -> tuple[np.ndarray, np.ndarray | None]:
        powers = perception.band_powers(stems[j], ex.sample_rate)
        if not (mid_side and ex[names[j]].channels == 2):
            return powers, None
        left, right = stems[j].astype(np.float64)
        return powers, perception.band_powers(np.stack([(left + right) / 2, (left - right) / 2]), ex.sample_rate)

    workers = min(ANALYSIS_THREADS, os.cpu_count() or 1, len(names))
    if workers <= 1:
        return [one(j) for j in range(len(names))]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(one, range(len(names))))


def level_offset(ex: Multitrack, names: list[str], gains_db: np.ndarray, stems: dict[str, np.ndarray]) -> float:
    """Common fader shift that puts the summed tracks near -20 LUFS (headroom for the master).

    The sum is of ``stems`` (:attr:`ProcessedPowers.stems` of ``names``: each strip at 0 dB,
    without reverb, DC blockers on) at ``gains_db``, through the master's DC blocker: what the
    console renders for these faders with a neutral master, without rendering again (the fader
    is linear and follows the strip; float64 sums instead of the render's float32 bus, a
    difference far below the 0.01 dB the faders are rounded to).
    """
    mix = np.zeros((2, ex.num_samples), np.float64)
    for n, g in zip(names, gains_db, strict=True):
        mix += stems[n] * 10 ** (float(np.clip(g, -60, 24)) / 20)
    mix = dc_block(torch.from_numpy(mix)[None], ex.sample_rate)[0][0].numpy()
    lufs = integrated_loudness(mix, ex.sample_rate)
    if lufs is None:
        return 0.0
    shift = -20.0 - lufs
    hi = 24.0 - float(np.max(gains_db))
    lo = -60.0 - float(np.min(gains_db))
    return float(np.clip(shift, lo, hi))
