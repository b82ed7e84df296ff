"""Measurements of each raw track that knowledge-based decisions rest on.

Everything here is measured on the unprocessed stems and kept in the recipe
(``tracks[i].measured``), so every decision can be traced to a number.
"""

from __future__ import annotations

import math
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from typing import cast

import numpy as np

from mixassist.audio.multitrack import Multitrack
from mixassist.measure import dc_offset, long_term_spectrum, loudness_and_correlation

__all__ = [
    "ANALYSIS_THREADS",
    "LOW_CUT_FROM_HZ",
    "TrackAnalysis",
    "analyse_track",
    "analyse_multitrack",
    "long_term_spectrum",
]

_LOW_CUT_SHARE = 1e-3  # "lowest useful content": the frequency below which 0.1 % (-30 dB) of the power lies
#: The lowest useful content is measured on the track with its DC offset removed and without the
#: power below this frequency (Hz): DC and infrasonic rumble are never content to keep.
LOW_CUT_FROM_HZ = 20.0
#: Tracks measured at once (threads); more than two holds more audio copies for little gain on two cores.
ANALYSIS_THREADS = 2


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
    low_cut_hz: float | None  # lowest useful content (DC removed, measured from LOW_CUT_FROM_HZ up)
    centroid_hz: float | None
    correlation: float | None  # stereo tracks only
    dc_offset: float | None = None  # the channel mean of largest magnitude (full scale)
    sub_20hz_percent: float | None = None  # share of the power (DC removed) below 20 Hz, %

    def to_dict(self) -> dict:
        out = asdict(self)
        for k, v in out.items():
            if isinstance(v, float):
                out[k] = round(v, 3) if math.isfinite(v) else None
        return out


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
    lufs, st, corr = loudness_and_correlation(audio, sample_rate)  # one pass: the stereo sums with the K-weighting
    peak = float(np.max(np.abs(audio))) if audio.size else 0.0
    if lufs is None or peak == 0.0:
        return TrackAnalysis(name, channels, True, None, None, None, None, 0.0, None, None, None)
    mono = cast(np.ndarray, np.mean(audio, axis=0, dtype=np.float64))  # axis=0 of 2-D audio: an array
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
    offsets = dc_offset(audio)
    dc = float(offsets[int(np.argmax(np.abs(offsets)))])
    freqs, power = long_term_spectrum(audio - offsets[:, None].astype(audio.dtype), sample_rate)
    total = float(power.sum())
    sub = float(power[freqs < LOW_CUT_FROM_HZ].sum())
    useful = np.where(freqs < LOW_CUT_FROM_HZ, 0.0, power)  # DC and infrasonic rumble are not content
    low_cut = centroid = sub_percent = None
    if total > 0:
        sub_percent = 100.0 * sub / total
        centroid = float(np.sum(freqs * power) / total)
    if useful.sum() > 0:
        cumulative = np.cumsum(useful) / float(useful.sum())
        low_cut = float(freqs[int(np.searchsorted(cumulative, _LOW_CUT_SHARE))])
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
        dc_offset=dc,
        sub_20hz_percent=sub_percent,
    )


def analyse_multitrack(multitrack: Multitrack) -> dict[str, TrackAnalysis]:
    """:func:`analyse_track` for every track, by name.

    Tracks are measured two at a time on threads (the filters and FFTs release the GIL; each
    track's result is its own, so the order of work changes nothing); one at a time on one core,
    and for a long session whose stems are spooled to disk (memory first: each measurement holds
    its whole stem and float64 copies of it; two at once took a 10-minute, 8-stem rules mix from
    1.43 to 1.75 GB, ``benchmarks/memory.py``).
    """
    workers = min(ANALYSIS_THREADS, os.cpu_count() or 1, len(multitrack))
    if any(t.spooled for t in multitrack):
        workers = 1
    measure = lambda t: analyse_track(t.name, t.audio, multitrack.sample_rate)  # noqa: E731
    if workers <= 1:
        return {t.name: measure(t) for t in multitrack}
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return dict(zip(multitrack.names, pool.map(measure, multitrack), strict=True))
