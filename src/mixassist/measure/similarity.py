"""Whether two recordings are mixes of the same performance.

A reference is usually another song; sometimes it is a mix of *these* stems (an earlier mix, the
finished master, a rough). Then its detailed balance is the answer rather than another song's
content. Two mixes of one performance share every note's onset and decay in every band, whatever
their EQ, compression, width and level; two songs share at most a beat grid.

:func:`recording_match` reads that: each signal's level in :data:`MATCH_BANDS` log-spaced bands
(80 Hz-12 kHz, mono sum) every :data:`MATCH_HOP_S`, the frame-to-frame *change* of each band's
level in dB (a static EQ or gain cancels), then the lower quartile over bands of the normalised
correlation of those changes, at the best lag within :data:`MATCH_MAX_LAG_S` (a master may start
later) that overlaps at least :data:`MATCH_MIN_OVERLAP_S`. About 0.25-1.0 for two mixes of one
performance, under 0.05 for different songs on the validation splits: the separation
behind :data:`~mixassist.mixers.follow.SAME_SONG_MATCH` was measured on the validation splits
(``docs/mixing.md``, "A reference that is a mix of these stems").
"""

from __future__ import annotations

import numpy as np
from scipy import fft as sp_fft
from scipy import signal

from mixassist.measure.validate import as_audio

__all__ = [
    "MATCH_BANDS",
    "MATCH_HOP_S",
    "MATCH_MAX_LAG_S",
    "MATCH_MIN_OVERLAP_S",
    "MATCH_QUANTILE",
    "band_level_changes",
    "recording_match",
]

MATCH_BANDS = 18
"""Log-spaced bands between 80 Hz and 12 kHz (the top edge drops to 0.45 × the lower sample rate)."""
MATCH_HOP_S = 0.05
"""Seconds between level readings (frames of twice that, Hann, half overlapping)."""
MATCH_MAX_LAG_S = 10.0
"""Largest offset between the two recordings that is searched, seconds."""
MATCH_MIN_OVERLAP_S = 8.0
"""Least overlap, seconds, a lag needs to count: over fewer frames a chance correlation is too
likely (two 2.5-s toy songs sharing a hi-hat grid read 0.25). Shorter recordings read 0."""
MATCH_QUANTILE = 0.25
"""The bands' lower quartile of correlations is the match: one performance matches in nearly every
band, two songs sharing a kick or a hi-hat pattern in some (the mean over bands read 0.47 for two
2.5-s toy songs sharing one, against 0.25 for this quartile)."""
_FLOOR = 1e-3  # per-band power floor re the band's loudest frame (−30 dB)
_CHUNK = 256  # frames per FFT batch (bounded memory on long songs)


def band_level_changes(audio: np.ndarray, sample_rate: float, top_hz: float = 12000.0) -> np.ndarray:
    """``(MATCH_BANDS, frames − 1)``: each band's level change from frame to frame, dB (mono sum);
    bands log-spaced from 80 Hz to ``top_hz`` (at most 0.45 × the sample rate)."""
    x = as_audio(audio)[0].mean(axis=0, dtype=np.float64).astype(np.float32)
    hop = max(1, int(round(MATCH_HOP_S * sample_rate)))
    frame = 2 * hop
    if x.size < 2 * frame:
        return np.zeros((MATCH_BANDS, 0))
    edges = np.geomspace(80.0, min(top_hz, 0.45 * sample_rate), MATCH_BANDS + 1)
    freqs = np.fft.rfftfreq(frame, 1.0 / sample_rate)
    members = np.stack([(freqs >= lo) & (freqs < hi) for lo, hi in zip(edges, edges[1:])], axis=1).astype(np.float32)
    window = signal.get_window("hann", frame).astype(np.float32)
    frames = np.lib.stride_tricks.sliding_window_view(x, frame)[::hop]  # a view: no copy of the song
    bands = np.empty((frames.shape[0], MATCH_BANDS))
    for i in range(0, frames.shape[0], _CHUNK):  # Hann frames, power spectra, band sums, a chunk at a time
        spectra = sp_fft.rfft(frames[i : i + _CHUNK] * window, axis=1, workers=-1)
        bands[i : i + _CHUNK] = (spectra.real**2 + spectra.imag**2) @ members
    bands = bands.T
    # a floor per band, relative (a gain moves it with the signal): near-silence reads no change, so
    # notes rising out of digital silence do not dominate with 100-dB jumps
    floor = _FLOOR * np.maximum(bands.max(axis=1, keepdims=True), 1e-30)
    return np.diff(10.0 * np.log10(bands + floor), axis=1)


def recording_match(a: np.ndarray, sample_rate_a: float, b: np.ndarray, sample_rate_b: float) -> float:
    """How much ``a`` and ``b`` are mixes of one performance, −1…1 (module notes): the lower quartile
    over bands of the correlation of their level changes, at the best lag within
    :data:`MATCH_MAX_LAG_S`. Only lags at which at least half the shorter recording, and at least
    :data:`MATCH_MIN_OVERLAP_S`, overlap count. 0.0 when no lag does, or fewer than four bands
    change level at all."""
    top = min(12000.0, 0.45 * min(sample_rate_a, sample_rate_b))  # the same bands at both rates
    da, db = band_level_changes(a, sample_rate_a, top), band_level_changes(b, sample_rate_b, top)
    if da.shape[1] < 2 or db.shape[1] < 2:
        return 0.0
    max_lag = int(round(MATCH_MAX_LAG_S / MATCH_HOP_S))
    lags = np.arange(-min(max_lag, db.shape[1] - 1), min(max_lag, da.shape[1] - 1) + 1)
    overlap = np.minimum(da.shape[1], db.shape[1] + lags) - np.maximum(0, lags)
    keep = overlap >= max(2, min(da.shape[1], db.shape[1]) // 2)  # at least half the shorter one overlaps
    keep &= overlap * MATCH_HOP_S >= MATCH_MIN_OVERLAP_S
    lags, overlap = lags[keep], overlap[keep]
    if not lags.size:
        return 0.0
    rows = []
    for row_a, row_b in zip(da, db):
        sa, sb = row_a.std(), row_b.std()
        if sa == 0.0 or sb == 0.0:
            continue
        za, zb = (row_a - row_a.mean()) / sa, (row_b - row_b.mean()) / sb
        full = signal.correlate(za, zb, mode="full", method="fft")  # [k]: Σ za[m] zb[m − lag], lag = k − (len(zb) − 1)
        rows.append(full[lags + zb.size - 1] / overlap)
    if len(rows) < 4:
        return 0.0
    return float(np.max(np.quantile(np.array(rows), MATCH_QUANTILE, axis=0)))
