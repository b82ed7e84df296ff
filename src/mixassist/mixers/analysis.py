"""Measurements of each raw track that knowledge-based decisions rest on.

Everything here is measured on the unprocessed stems and kept in the recipe
(``tracks[i].measured``), so every decision can be traced to a number.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from mixassist.audio.multitrack import Multitrack
from mixassist.measure import correlation, integrated_and_short_term
from mixassist.measure.spectrum import welch_psd

__all__ = ["TrackAnalysis", "analyse_track", "analyse_multitrack", "long_term_spectrum"]

_WELCH_SEGMENT_S = 0.1856  # 8192 samples at 44.1 kHz: 5.4 Hz bins, fine enough for a high-pass corner
_LOW_CUT_SHARE = 1e-3  # "lowest useful content": the frequency below which 0.1 % (-30 dB) of the power lies


@dataclass
class TrackAnalysis:
    """Measured facts about one raw track (units in the names; ``None`` where undefined)."""

    name: str
    channels: int
    silent: bool
    integrated_lufs: float | None
    peak_dbfs: float | None
    crest_db: float | None  # peak over RMS of the active (non-silent) part
    short_term_spread_lu: float | None  # 10th–95th percentile of short-term loudness
    onsets_per_s: float
    low_cut_hz: float | None  # lowest useful content
    centroid_hz: float | None
    correlation: float | None  # stereo tracks only

    def to_dict(self) -> dict:
        out = asdict(self)
        for k, v in out.items():
            if isinstance(v, float):
                out[k] = round(v, 3) if math.isfinite(v) else None
        return out


def long_term_spectrum(audio: np.ndarray, sample_rate: int) -> tuple[np.ndarray, np.ndarray]:
    """Welch power spectrum of the mono sum: ``(freqs_hz, power)``."""
    mono = np.mean(audio, axis=0, dtype=np.float64)
    nper = int(2 ** round(math.log2(_WELCH_SEGMENT_S * sample_rate)))
    nper = max(256, min(nper, mono.size)) if mono.size >= 256 else mono.size
    if nper < 16:
        return np.zeros(1), np.zeros(1)
    return welch_psd(mono, sample_rate, nper)


def _onsets_per_s(mono: np.ndarray, sample_rate: int) -> float:
    hop = max(1, int(0.01 * sample_rate))
    frames = mono.size // hop
    if frames < 3:
        return 0.0
    energy = np.sum(mono[: frames * hop].reshape(frames, hop) ** 2, axis=1) + 1e-12
    level = 10 * np.log10(energy)
    rise = level[2:] - level[:-2]
    active = level[2:] > level.max() - 40
    peaks = (rise > 8.0) & active
    # count rising edges only (one onset, not every frame of its attack)
    return float(np.sum(peaks[1:] & ~peaks[:-1]) / (mono.size / sample_rate))


def analyse_track(name: str, audio: np.ndarray, sample_rate: int) -> TrackAnalysis:
    """Measure one track ``(channels, samples)``."""
    channels = int(audio.shape[0])
    lufs, st = integrated_and_short_term(audio, sample_rate)
    peak = float(np.max(np.abs(audio))) if audio.size else 0.0
    if lufs is None or peak == 0.0:
        return TrackAnalysis(name, channels, True, None, None, None, None, 0.0, None, None, None)
    mono = np.mean(audio, axis=0, dtype=np.float64)
    block = max(1, int(0.4 * sample_rate))
    nblocks = mono.size // block
    if nblocks >= 2:
        ms = np.mean(mono[: nblocks * block].reshape(nblocks, block) ** 2, axis=1)
        active = ms[ms > ms.max() * 1e-4]  # ignore the gaps: crest of what plays
        rms = math.sqrt(float(np.mean(active)))
    else:
        rms = math.sqrt(float(np.mean(mono**2)))
    crest = 20 * math.log10(float(np.max(np.abs(mono))) / rms) if rms > 0 else None
    st = st[np.isfinite(st)] if st.size else st
    st = st[st > (st.max() - 40)] if st.size else st
    spread = float(np.percentile(st, 95) - np.percentile(st, 10)) if st.size >= 2 else None
    freqs, power = long_term_spectrum(audio, sample_rate)
    total = float(power.sum())
    low_cut = centroid = None
    if total > 0:
        cumulative = np.cumsum(power) / total
        low_cut = float(freqs[int(np.searchsorted(cumulative, _LOW_CUT_SHARE))])
        centroid = float(np.sum(freqs * power) / total)
    corr = correlation(audio) if channels == 2 else None
    return TrackAnalysis(
        name=name,
        channels=channels,
        silent=False,
        integrated_lufs=float(lufs),
        peak_dbfs=20 * math.log10(peak),
        crest_db=crest,
        short_term_spread_lu=spread,
        onsets_per_s=_onsets_per_s(mono, sample_rate),
        low_cut_hz=low_cut,
        centroid_hz=centroid,
        correlation=corr,
    )


def analyse_multitrack(multitrack: Multitrack) -> dict[str, TrackAnalysis]:
    """:func:`analyse_track` for every track, by name."""
    return {t.name: analyse_track(t.name, t.audio, multitrack.sample_rate) for t in multitrack}
