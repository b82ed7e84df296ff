"""What the neural controller sees: fast, whole-song summaries of tracks, their sum and a reference.

Each signal is read in :data:`WINDOWS` short windows spread evenly over its whole length (not
one crop), so a 3-minute track costs about as much as a 10-second one. Per window we keep the
power of mid and side in :data:`BAND_EDGES_HZ` bands and the K-weighted (BS.1770) power; the
summary vector built from those window statistics (:func:`summary_vector`) holds, scaled to
about unit size:

* level: approximate integrated loudness (BS.1770 gating on the windows), sample peak, crest,
  loudness spread over windows, share of active windows;
* tone: mid band powers relative to the total, spectral centroid, share below 150 Hz;
* stereo: side-to-mid ratio per band and overall, a stereo flag;
* movement: variability of four coarse band levels over time.

The statistics of a *sum* of tracks are approximated by adding the tracks' window powers
(incoherent sum), so any subset's sum is computed from the per-track statistics alone — the
training curriculum relies on that, and inference does the same so the two cannot drift.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import cast

import numpy as np
import scipy.signal
import torch

from mixassist.measure import k_weighting_sos
from mixassist.roles import ROLES

__all__ = [
    "WINDOWS",
    "BAND_EDGES_HZ",
    "SUMMARY_DIM",
    "ROLE_NAMES",
    "TRACK_DIM",
    "WindowStats",
    "window_stats",
    "sum_stats",
    "summary_vector",
    "track_vector",
    "approx_loudness",
]

#: Windows read per signal, spread evenly over its length.
WINDOWS = 64
#: Band edges (Hz) of the window band powers: 20 log-spaced bands.
BAND_EDGES_HZ = np.geomspace(30.0, 18000.0, 21)
_BANDS = len(BAND_EDGES_HZ) - 1
_COARSE = ((0, 5), (5, 10), (10, 15), (15, 20))  # band index ranges of the four movement bands
#: Roles in the order of the one-hot part of a track's vector (the rules mixer's roles).
ROLE_NAMES = ROLES  # the one-hot order of the shipped weights
_FLOOR = 1e-12


@dataclass
class WindowStats:
    """Per-window statistics of one signal (or of a sum).

    Attributes
    ----------
    mid, side : numpy.ndarray
        ``(windows, bands)`` band powers of mid ``(L+R)/2`` and side ``(L-R)/2`` (mono: side 0).
    k_power : numpy.ndarray
        ``(windows,)`` K-weighted mean-square power summed over channels (BS.1770 weighting).
    peak : float
        Sample peak of the whole signal (linear).
    stereo : bool
        Two channels.
    """

    mid: np.ndarray
    side: np.ndarray
    k_power: np.ndarray
    peak: float
    stereo: bool


def _window_length(sample_rate: float) -> int:
    return int(2 ** round(math.log2(0.186 * sample_rate)))  # 8192 at 44.1/48 kHz


@functools.lru_cache(maxsize=8)
def _plan(sample_rate: float, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Hann window, band matrix (bins → bands, with the one-sided Parseval weights), K² per bin."""
    window = np.hanning(n).astype(np.float32)
    freqs = np.fft.rfftfreq(n, 1.0 / sample_rate)
    one_sided = np.full(freqs.size, 2.0)
    one_sided[0] = 1.0
    if n % 2 == 0:
        one_sided[-1] = 1.0
    scale = one_sided / (n * float(np.sum(window.astype(np.float64) ** 2)))  # |X|² → mean square
    bands = np.zeros((freqs.size, _BANDS))
    for b in range(_BANDS):
        inside = (freqs >= BAND_EDGES_HZ[b]) & (freqs < BAND_EDGES_HZ[b + 1])
        bands[inside, b] = scale[inside]
    _, h = scipy.signal.sosfreqz(k_weighting_sos(float(sample_rate)), worN=freqs, fs=sample_rate)
    k2 = (np.abs(h) ** 2 * scale).astype(np.float64)
    return window, bands.astype(np.float32), k2.astype(np.float32)


def window_stats(audio: np.ndarray, sample_rate: float, windows: int = WINDOWS) -> WindowStats:
    """Window statistics of ``audio`` ``(channels, samples)`` (1 or 2 channels)."""
    x = np.asarray(audio, dtype=np.float32)
    if x.ndim == 1:
        x = x[None, :]
    n = _window_length(sample_rate)
    window, bands, k2 = _plan(float(sample_rate), n)
    samples = x.shape[-1]
    peak = float(max(x.max(initial=0.0), -x.min(initial=0.0))) if x.size else 0.0
    if samples < n:
        x = np.pad(x, ((0, 0), (0, n - samples)))
        samples = n
    starts = np.linspace(0, samples - n, windows).round().astype(np.int64)
    frames = torch.from_numpy(x[:, starts[:, None] + np.arange(n)[None, :]]) * torch.from_numpy(window)  # (C, W, n)
    bands_t, k2_t = torch.from_numpy(bands), torch.from_numpy(k2)
    with torch.no_grad():
        if x.shape[0] == 2:
            # L = M + S and R = M - S, so |L|² + |R|² = 2 (|M|² + |S|²): two transforms serve all
            pm = torch.fft.rfft(0.5 * (frames[0] + frames[1])).abs().square()
            ps = torch.fft.rfft(0.5 * (frames[0] - frames[1])).abs().square()
            mid, side, k_power = pm @ bands_t, ps @ bands_t, 2.0 * ((pm + ps) @ k2_t)
        else:
            pm = torch.fft.rfft(frames[0]).abs().square()
            mid, k_power = pm @ bands_t, pm @ k2_t
            side = torch.zeros_like(mid)
    return WindowStats(mid.double().numpy(), side.double().numpy(), k_power.double().numpy(), peak, x.shape[0] == 2)


def sum_stats(parts: Sequence[WindowStats], gains_db: Sequence[float] | None = None) -> WindowStats:
    """Approximate statistics of the sum of ``parts`` (powers add; optional gains in dB)."""
    if not parts:
        raise ValueError("sum_stats needs at least one part")
    gains = [10 ** (g / 10) for g in gains_db] if gains_db is not None else [1.0] * len(parts)
    # sum() starts at the int 0; with at least one part the results are arrays
    mid = cast(np.ndarray, sum(g * p.mid for g, p in zip(gains, parts)))
    side = cast(np.ndarray, sum(g * p.side for g, p in zip(gains, parts)))
    k = cast(np.ndarray, sum(g * p.k_power for g, p in zip(gains, parts)))
    peak = float(sum(math.sqrt(g) * p.peak for g, p in zip(gains, parts)))
    return WindowStats(mid, side, k, peak, any(p.stereo for p in parts))


def approx_loudness(stats: WindowStats) -> float | None:
    """BS.1770-style gated loudness (LUFS) over the windows; None when every window is below −70."""
    block = -0.691 + 10 * np.log10(np.maximum(stats.k_power, _FLOOR))
    kept = block > -70.0
    if not np.any(kept):
        return None
    relative = -0.691 + 10 * math.log10(float(np.mean(stats.k_power[kept]))) - 10.0
    kept &= block > relative
    return float(-0.691 + 10 * math.log10(float(np.mean(stats.k_power[kept]))))


def _db(x: np.ndarray | float) -> np.ndarray:
    return 10 * np.log10(np.maximum(x, _FLOOR))


#: Length of :func:`summary_vector`.
SUMMARY_DIM = 8 + 2 * _BANDS + 1 + len(_COARSE) + 1


def summary_vector(stats: WindowStats) -> np.ndarray:
    """The summary of one signal's statistics, float32 ``(SUMMARY_DIM,)`` (see module notes).

    A silent signal gives zeros with the ``silent`` flag (index 7) set.
    """
    out = np.zeros(SUMMARY_DIM, dtype=np.float32)
    lufs = approx_loudness(stats)
    if lufs is None or stats.peak <= 0:
        out[7] = 1.0
        return out
    mid_total = stats.mid.sum(axis=0)  # (bands,)
    side_total = stats.side.sum(axis=0)
    total = float(mid_total.sum()) or _FLOOR
    block = -0.691 + 10 * np.log10(np.maximum(stats.k_power, _FLOOR))
    active = block > lufs - 20.0
    rms_db = float(_db(np.mean(stats.k_power)))
    peak_db = 20 * math.log10(stats.peak)
    out[0] = (lufs + 30.0) / 10.0
    out[1] = (peak_db + 10.0) / 10.0
    out[2] = (peak_db - rms_db) / 10.0
    out[3] = float(np.std(block[active])) / 10.0 if active.sum() > 1 else 0.0
    out[4] = float(np.mean(active))
    out[5] = 1.0 if stats.stereo else 0.0
    out[6] = float(np.clip(_db(float(side_total.sum()) / total), -40.0, 10.0)) / 20.0
    i = 8
    out[i : i + _BANDS] = np.clip(_db(mid_total / total), -60.0, 0.0) / 20.0 + 1.0
    i += _BANDS
    out[i : i + _BANDS] = np.clip(_db(side_total / np.maximum(mid_total, _FLOOR)), -40.0, 10.0) / 20.0
    i += _BANDS
    centres = np.sqrt(BAND_EDGES_HZ[:-1] * BAND_EDGES_HZ[1:])
    out[i] = math.log2(float(np.sum(centres * mid_total) / total) / 1000.0) / 3.0
    i += 1
    for lo, hi in _COARSE:
        level = _db(stats.mid[:, lo:hi].sum(axis=1))
        loud = level[active] if active.sum() > 1 else level
        out[i] = float(np.std(loud)) / 10.0
        i += 1
    out[i] = float(mid_total[:4].sum() / total)  # share below ~150 Hz
    return out


#: Length of :func:`track_vector`: the summary plus the role one-hot.
TRACK_DIM = SUMMARY_DIM + len(ROLE_NAMES)


def track_vector(stats: WindowStats, role: str) -> np.ndarray:
    """A track's input to the controller: its summary and its role (one-hot)."""
    onehot = np.zeros(len(ROLE_NAMES), dtype=np.float32)
    if role in ROLE_NAMES:
        onehot[ROLE_NAMES.index(role)] = 1.0
    return np.concatenate([summary_vector(stats), onehot])
