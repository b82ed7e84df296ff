"""Peaks: true peak (ITU-R BS.1770-4 Annex 2, 4x oversampling) and sample peak."""

from __future__ import annotations

import functools
import math
from collections.abc import Callable

import numpy as np
import scipy.signal

from mixassist.measure.reading import REASON_EMPTY, REASON_ZERO, Reading, explain
from mixassist.measure.validate import as_audio, check_sample_rate

__all__ = [
    "TRUE_PEAK_OVERSAMPLING",
    "channel_true_peak",
    "sample_peak_dbfs",
    "sample_peak_of",
    "true_peak",
    "true_peak_db",
    "true_peak_of",
]

TRUE_PEAK_OVERSAMPLING = 4
"""Oversampling factor of :func:`true_peak`, at every sample rate (BS.1770-4 asks for at least 4x
below 96 kHz and allows less above; always using 4x is at least as accurate)."""

# True-peak interpolator: a Kaiser-windowed sinc, 16 taps per phase (see _true_peak_filter).
_TP_TAPS_PER_PHASE = 16
_TP_KAISER_BETA = 8.0
_TP_ROW = 32  # input positions per row of the banded interpolation matrix (and per skip test)
_TP_CHUNK = 1 << 18  # input positions per chunk: bounds memory for hour-long files
# Rows per matrix product. Products this small stay single-threaded in OpenBLAS (below its
# m*n*k threading threshold), which on a busy 2-core machine ran steadily ~0.17 s per channel
# for 3 min at 48 kHz, where large multi-threaded products took 0.2-3.6 s.
_TP_ROWS_PER_PRODUCT = 48


@functools.lru_cache(maxsize=1)
def _true_peak_filter() -> np.ndarray:
    """Prototype low-pass of the 4x true-peak interpolator, ``4 * 16 + 1`` taps at 4x the rate.

    A Kaiser-windowed sinc (beta 8, about 80 dB stop-band attenuation) cut off at the input Nyquist
    frequency. Being a windowed sinc it is a Nyquist filter: scaled so that the centre tap is 1,
    its phase 0 reproduces the input samples exactly, so the sample peak is one of its outputs.
    Against the 48-tap example filter printed in BS.1770-4 Annex 2 it does not over-read
    (the example reads up to +0.2 dB high on tones near fs/4) and it lands on the sample
    positions that the Tech 3341 true-peak signals are built around.
    """
    length = TRUE_PEAK_OVERSAMPLING * _TP_TAPS_PER_PHASE + 1
    taps = scipy.signal.firwin(length, 1.0 / TRUE_PEAK_OVERSAMPLING, window=("kaiser", _TP_KAISER_BETA))
    taps = taps / taps[length // 2]
    taps.flags.writeable = False
    return taps


@functools.lru_cache(maxsize=1)
def _true_peak_matrix() -> tuple[np.ndarray, float]:
    """Banded matrix that interpolates one row of input, and the filter's largest phase L1 norm.

    For a row ``r`` of ``_TP_ROW + 15`` consecutive input samples starting at ``x[m - 7]``,
    ``r @ matrix`` holds phases 1..3 of the interpolated signal at input positions
    ``m .. m + _TP_ROW - 1``: phase ``p`` at position ``m`` is ``sum_k h[p + 32 - 4 (k - 7)]
    x[m - 7 + k]`` for the prototype ``h`` of :func:`_true_peak_filter`. Phase 0 is the input
    itself, covered by the sample peak. Matrix products over many rows at once run several
    times faster than one vector operation per tap, despite the zeros in the band.
    """
    taps = _true_peak_filter()
    factor, width, row = TRUE_PEAK_OVERSAMPLING, _TP_TAPS_PER_PHASE, _TP_ROW
    centre = factor * width // 2
    offsets = np.arange(width) - (width // 2 - 1)
    phases = np.stack([taps[p + centre - factor * offsets] for p in range(1, factor)], axis=1)
    matrix = np.zeros((row + width - 1, row * (factor - 1)), dtype=np.float32)
    outputs = factor - 1
    for position in range(row):
        matrix[position : position + width, position * outputs : (position + 1) * outputs] = phases
    matrix.flags.writeable = False
    return matrix, float(np.abs(phases).sum(axis=0).max())


def _channel_true_peak(channel: np.ndarray, scale: float, floor: float) -> float:
    """Largest interpolated magnitude of ``channel / scale`` above ``floor``, else ``floor``."""
    return channel_true_peak(channel.shape[-1], lambda a, b: channel[a:b], scale, floor)


def channel_true_peak(samples: int, read: Callable[[int, int], np.ndarray], scale: float, floor: float) -> float:
    """Largest interpolated magnitude of a channel of ``samples`` divided by ``scale``, above ``floor``.

    ``read(a, b)`` returns the channel's samples ``a`` to ``b`` (``0 <= a < b <= samples``); it
    is called with increasing, overlapping ranges of about :data:`_TP_CHUNK` samples, so a reader
    that streams a file needs to keep only the last few samples (the measure of a whole array
    and :mod:`~mixassist.measure.stream` share this function, and so their figures bit for bit).
    The channel is read as preceded and followed by silence, so the interpolation reaches past
    both ends. Chunks bound the memory. Rows whose input is too small to beat ``floor`` through
    the filter (largest input magnitude times the filter's L1 norm) are skipped, which is exact.
    """
    matrix, gain_bound = _true_peak_matrix()
    width, row = _TP_TAPS_PER_PHASE, _TP_ROW
    lead = width // 2 - 1  # a row starting at x[m - lead] interpolates positions m, m + 1, ...
    first, last = -width // 2, samples + width // 2  # every position whose taps touch the signal
    best = floor
    for start in range(first, last, _TP_CHUNK):
        rows = -(-(min(start + _TP_CHUNK, last) - start) // row)
        # input x[start - lead + i] for i < (rows + 1) * row; zero outside the signal
        lo = start - lead
        segment = np.zeros((rows + 1) * row, dtype=np.float32)
        a, b = max(lo, 0), min(lo + segment.size, samples)
        if b <= a:
            continue
        segment[a - lo : b - lo] = read(a, b).astype(np.float64) / scale
        block_peak = np.abs(segment).reshape(rows + 1, row).max(axis=1)
        reach = np.maximum(block_peak[:-1], block_peak[1:])  # a row spans two blocks
        candidates = np.flatnonzero(reach * gain_bound > best)
        if candidates.size == 0:
            continue
        windows = np.lib.stride_tricks.as_strided(
            segment,
            shape=(rows, row + width - 1),
            strides=(row * segment.itemsize, segment.itemsize),
            writeable=False,
        )
        selected = windows[candidates]
        interpolated = np.empty((selected.shape[0], matrix.shape[1]), dtype=np.float32)
        for first_row in range(0, selected.shape[0], _TP_ROWS_PER_PRODUCT):
            rows_slice = slice(first_row, first_row + _TP_ROWS_PER_PRODUCT)
            np.matmul(selected[rows_slice], matrix, out=interpolated[rows_slice])
        best = max(best, float(interpolated.max()), float(-interpolated.min()))
    return best


def true_peak_of(x: np.ndarray, peak: float) -> Reading:
    """True peak in dBTP of validated audio ``x`` whose sample peak is ``peak``."""
    if x.shape[-1] == 0:
        return None, REASON_EMPTY
    if peak == 0.0:
        return None, REASON_ZERO
    best = 1.0  # the sample peak, relative to itself: phase 0 of the interpolator
    for channel in x:
        best = _channel_true_peak(channel, peak, best)
    return true_peak_db(peak, best), None


def true_peak_db(peak: float, best: float) -> float:
    """True peak in dBTP from the sample peak and the largest interpolated magnitude relative to it."""
    return 20.0 * math.log10(peak) + 20.0 * math.log10(best)


def sample_peak_of(x: np.ndarray, peak: float) -> Reading:
    """Sample peak in dBFS of validated audio ``x`` whose sample peak is ``peak``."""
    if x.shape[-1] == 0:
        return None, REASON_EMPTY
    if peak == 0.0:
        return None, REASON_ZERO
    return 20.0 * math.log10(peak), None


def true_peak(audio: np.ndarray, sample_rate: float) -> float | None:
    """Maximum true-peak level, ITU-R BS.1770-4 Annex 2.

    Each channel is oversampled 4x (at every sample rate) with a 65-tap Kaiser-windowed-sinc
    interpolator (not the 48-tap example coefficients of Annex 2, which over-read by up to
    0.2 dB near fs/4) and the largest magnitude over all channels is reported; the sample
    peak is one of the interpolated values, so the true peak is never below it. The signal is read as
    preceded and followed by silence. Work proceeds in chunks of 65536 positions, so memory
    stays bounded for hour-long signals. On tones, the reading is within +0.01/-0.6 dB of the
    continuous-time peak up to 0.45 ``sample_rate`` (the under-read is the 4x grid's, largest
    near Nyquist).

    Parameters, raises
        As :func:`integrated_loudness`; ``sample_rate`` is validated only, as the interpolator
        works in normalised frequency.

    Returns
    -------
    float or None
        True peak in dBTP; None for empty or all-zero input.

    Examples
    --------
    >>> import numpy as np
    >>> n = np.arange(48000)
    >>> fade = np.hanning(n.size)  # a hard onset would add real Gibbs overshoot
    >>> tone = 0.5 * fade * np.sin(2 * np.pi * n / 4 + np.pi / 4)  # fs/4, samples at 45 deg
    >>> round(sample_peak_dbfs(tone), 1), round(true_peak(tone, 48000), 1)
    (-9.0, -6.0)
    """
    check_sample_rate(sample_rate)
    x, peak = as_audio(audio)
    return explain("true_peak", true_peak_of(x, peak))


def sample_peak_dbfs(audio: np.ndarray) -> float | None:
    """Largest absolute sample value over all channels, in dBFS (a full-scale sine reads 0);
    None for empty or all-zero input.

    Parameters, raises
        As :func:`integrated_loudness` (``audio`` only).

    Examples
    --------
    >>> import numpy as np
    >>> round(sample_peak_dbfs(np.array([0.0, -0.5, 0.25])), 2)
    -6.02
    """
    x, peak = as_audio(audio)
    return explain("sample_peak_dbfs", sample_peak_of(x, peak))
