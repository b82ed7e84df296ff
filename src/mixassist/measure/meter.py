"""Broadcast loudness, peak and stereo metering.

Every measure takes a float array ``audio`` shaped ``(channels, samples)`` with one or two
channels (a 1-D array is read as mono) at ``sample_rate`` Hz, nominal full scale ±1.0.

What is measured, and against which standard:

* integrated loudness, ITU-R BS.1770-4 (gated as pyloudnorm gates, vectorised here; pyloudnorm is our
  acceptance reference),
* momentary (400 ms) and short-term (3 s) loudness every 100 ms, EBU Tech 3341,
* loudness range, EBU Tech 3342,
* true peak, ITU-R BS.1770-4 Annex 2 (4x oversampling),
* sample peak, stereo correlation and the side/mid energy ratio.

K-weighting is built from pyloudnorm's own biquads, so every loudness figure here weights a
signal identically to ``pyloudnorm.Meter(sample_rate).integrated_loudness``. :func:`measure`
K-weights once and derives every loudness figure from that one filtered signal.

No measure returns ``-inf`` or ``NaN``. A figure that does not exist (silence, a signal
shorter than the measurement window, a mono signal's side level) is ``None``, and
:class:`LoudnessReport` says why in ``reasons``. Windowed loudness series are floored at
:data:`LOUDNESS_FLOOR_LUFS` so that silent windows stay finite.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import math
from typing import Any

import numpy as np
import scipy.signal

from mixassist.measure.validate import MAX_SAMPLE_RATE, MIN_SAMPLE_RATE, as_audio, check_sample_rate
from mixassist.measure.weighting import k_weighting_sos

__all__ = [
    "ABSOLUTE_GATE_LUFS",
    "LOUDNESS_FLOOR_LUFS",
    "LRA_RELATIVE_GATE_LU",
    "MAX_SAMPLE_RATE",
    "MIN_SAMPLE_RATE",
    "MOMENTARY_WINDOW_MS",
    "SHORT_TERM_WINDOW_MS",
    "STEP_MS",
    "TRUE_PEAK_OVERSAMPLING",
    "LoudnessReport",
    "correlation",
    "integrated_and_short_term",
    "integrated_loudness",
    "loudness_range",
    "measure",
    "momentary_loudness",
    "sample_peak_dbfs",
    "short_term_loudness",
    "side_mid_db",
    "true_peak",
]

logger = logging.getLogger(__name__)

ABSOLUTE_GATE_LUFS = -70.0
"""Absolute gate of BS.1770-4 (integrated loudness) and Tech 3342 (loudness range)."""
LRA_RELATIVE_GATE_LU = -20.0
"""Relative gate of EBU Tech 3342, below the power mean of the absolute-gated short-term values."""
MOMENTARY_WINDOW_MS = 400
"""Momentary loudness window, EBU Tech 3341 (also the BS.1770-4 gating block)."""
SHORT_TERM_WINDOW_MS = 3000
"""Short-term loudness window, EBU Tech 3341."""
STEP_MS = 100
"""Update interval of the momentary and short-term series (10 Hz, Tech 3341/3342 minimum)."""
LOUDNESS_FLOOR_LUFS = -200.0
"""Floor of the momentary and short-term series: a window with less K-weighted energy (digital
silence) reads this value instead of ``-inf``. It lies far below the -70 LUFS gate, so it never
passes a gate."""
TRUE_PEAK_OVERSAMPLING = 4
"""Oversampling factor of :func:`true_peak`, at every sample rate (BS.1770-4 asks for at least 4x
below 96 kHz and allows less above; always using 4x is at least as accurate)."""

# A sample this large is no audio scale at all; refusing it keeps every sum of squares below the
# float64 overflow, so no figure can come out infinite. float32's largest value (3.4e38) passes.
# BS.1770-4 eq. 2: L = -0.691 + 10 log10(sum_i G_i z_i); G = 1 for left, right and mono.
_LOUDNESS_OFFSET_DB = -0.691
_FLOOR_ENERGY = 10.0 ** ((LOUDNESS_FLOOR_LUFS - _LOUDNESS_OFFSET_DB) / 10.0)
_MIN_LRA_WINDOWS = 2
# True-peak interpolator: a Kaiser-windowed sinc, 16 taps per phase (see _true_peak_filter).
_TP_TAPS_PER_PHASE = 16
_TP_KAISER_BETA = 8.0
_TP_ROW = 32  # input positions per row of the banded interpolation matrix (and per skip test)
_TP_CHUNK = 1 << 18  # input positions per chunk: bounds memory for hour-long files
# Rows per matrix product. Products this small stay single-threaded in OpenBLAS (below its
# m*n*k threading threshold), which on a busy 2-core machine ran steadily ~0.17 s per channel
# for 3 min at 48 kHz, where large multi-threaded products took 0.2-3.6 s.
_TP_ROWS_PER_PRODUCT = 48
_MOMENT_CHUNK = 1 << 20

_REASON_EMPTY = "empty: zero-length audio"
_REASON_SILENT_GATE = "silent: below the -70 LUFS absolute gate"
_REASON_ZERO = "silent: all samples are zero"
_REASON_MONO_SIDE = "mono: no side signal"
_REASON_SHORT_BLOCK = "shorter than one 400 ms block"
_REASON_SHORT_MOMENTARY = "shorter than one 400 ms momentary window"
_REASON_SHORT_TERM = "shorter than one 3 s short-term window"
_REASON_FLOOR = f"silent: no window above the {LOUDNESS_FLOOR_LUFS:g} LUFS floor"

_Result = tuple[float | None, str | None]


# --------------------------------------------------------------------------- K-weighting


def _k_weight(x: np.ndarray, sample_rate: float) -> np.ndarray:
    """K-weighted copy of ``x`` in float64, shape ``(channels, samples)``."""
    if x.shape[-1] == 0:
        return np.zeros(x.shape)  # sosfilt refuses empty input
    sos = k_weighting_sos(sample_rate).copy()  # sosfilt wants a writable array
    # sosfilt filters a float64 copy of its own (result dtype of sos and x)
    return scipy.signal.sosfilt(sos, x, axis=-1)


# --------------------------------------------------------------------------- loudness


def _gating_block_energies(weighted: np.ndarray, sample_rate: float) -> np.ndarray:
    """Mean square per channel of every 400 ms gating block (75 % overlap), ``(channels, blocks)``.

    Block ``j`` spans samples ``int(0.4 * (j * 0.25) * rate)`` to ``int(0.4 * (j * 0.25 + 1) *
    rate)`` and there are ``round((T - 0.4) / 0.1) + 1`` of them, clipped at the end — the
    bounds pyloudnorm 0.1/0.2 use, evaluated with the same float operations.  Block ``j`` ends
    where block ``j + 4`` starts, so each block is the sum of four 100 ms segments, each summed
    once (no running total: a quiet block after loud ones keeps its precision).
    """
    samples = weighted.shape[-1]
    blocks = int(np.round((samples / sample_rate - 0.4) / (0.4 * 0.25))) + 1
    starts = (0.4 * (np.arange(blocks + 4) * 0.25) * sample_rate).astype(np.int64)  # int() truncation
    inside = starts < samples
    segments = np.zeros((weighted.shape[0], starts.size))
    # reduceat sums each start to the next, the last one to the end of the signal
    segments[:, inside] = np.add.reduceat(np.square(weighted), starts[inside], axis=-1)
    sums = (
        segments[:, :blocks] + segments[:, 1 : blocks + 1] + segments[:, 2 : blocks + 2] + segments[:, 3 : blocks + 3]
    )
    return (1.0 / (0.4 * sample_rate)) * sums


def _integrated_from_weighted(weighted: np.ndarray, sample_rate: float) -> _Result:
    """BS.1770-4 gating of an already K-weighted signal (channel weights 1).

    The same blocks, gates and arithmetic as ``pyloudnorm.Meter.integrated_loudness``, whose
    Python loop over blocks cost 0.5 s per 3-minute stereo signal (`benchmarks/loudness_speed.py`);
    equal to it within 1e-9 LU (tests/test_meter.py).
    """
    samples = weighted.shape[-1]
    if samples == 0:
        return None, _REASON_EMPTY
    # The same comparison pyloudnorm.util.valid_audio makes before it refuses a signal.
    if samples < 0.4 * sample_rate:
        return None, _REASON_SHORT_BLOCK
    z = _gating_block_energies(np.asarray(weighted, dtype=np.float64), sample_rate)
    with np.errstate(divide="ignore"):
        block = -0.691 + 10.0 * np.log10(z.sum(axis=0))
        above = block >= -70.0
        if not np.any(above):
            return None, _REASON_SILENT_GATE
        relative = -0.691 + 10.0 * np.log10(z[:, above].mean(axis=1).sum()) - 10.0
        gated = (block > relative) & (block > -70.0)
        if not np.any(gated):
            return None, _REASON_SILENT_GATE
        value = float(-0.691 + 10.0 * np.log10(z[:, gated].mean(axis=1).sum()))
    if not math.isfinite(value):
        return None, _REASON_SILENT_GATE
    return value, None


def _hop_energies(weighted: np.ndarray, sample_rate: float) -> tuple[np.ndarray, np.ndarray]:
    """Channel-summed K-weighted energy per 100 ms hop, and the hop edges in samples."""
    samples = weighted.shape[-1]
    hop = sample_rate * STEP_MS / 1000.0
    hops = int(samples // hop)
    edges = np.rint(np.arange(hops + 2) * hop).astype(np.int64)
    edges = edges[edges <= samples]
    if edges.size < 2:
        return np.zeros(0), edges
    energy = np.einsum("cn,cn->n", weighted[:, : edges[-1]], weighted[:, : edges[-1]])
    # Sums per hop, then per window from the hop sums: no running total over the whole file,
    # so a quiet window after loud ones keeps its precision.
    return np.add.reduceat(energy, edges[:-1]), edges


def _window_loudness(hop_energy: np.ndarray, edges: np.ndarray, window_ms: int) -> np.ndarray:
    hops = window_ms // STEP_MS
    if hop_energy.size < hops:
        return np.zeros(0)
    sums = np.lib.stride_tricks.sliding_window_view(hop_energy, hops).sum(axis=-1)
    mean_square = sums / (edges[hops:] - edges[:-hops])
    loudness = _LOUDNESS_OFFSET_DB + 10.0 * np.log10(np.maximum(mean_square, _FLOOR_ENERGY))
    return np.maximum(loudness, LOUDNESS_FLOOR_LUFS)  # exactly the floor, despite rounding


def _series_max(series: np.ndarray, short_reason: str) -> _Result:
    if series.size == 0:
        return None, short_reason
    top = float(series.max())
    if top <= LOUDNESS_FLOOR_LUFS:
        return None, _REASON_FLOOR
    return top, None


def _lra_from_short_term(short_term_lufs: np.ndarray) -> _Result:
    if short_term_lufs.size == 0:
        return None, _REASON_SHORT_TERM
    gated = short_term_lufs[short_term_lufs >= ABSOLUTE_GATE_LUFS]
    if gated.size == 0:
        return None, _REASON_SILENT_GATE
    # Tech 3342: relative gate 20 LU below the power mean of the absolute-gated values.
    power_mean_lufs = 10.0 * np.log10(np.mean(10.0 ** (gated / 10.0)))
    gated = gated[gated >= power_mean_lufs + LRA_RELATIVE_GATE_LU]
    if gated.size < _MIN_LRA_WINDOWS:
        return None, f"fewer than {_MIN_LRA_WINDOWS} short-term windows above the gates"
    low, high = np.percentile(gated, [10.0, 95.0])
    return float(high - low), None


# --------------------------------------------------------------------------- peaks


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
    """Largest interpolated magnitude of ``channel / scale`` above ``floor``, else ``floor``.

    The channel is read as preceded and followed by silence, so the interpolation reaches past
    both ends. Chunks bound the memory. Rows whose input is too small to beat ``floor`` through
    the filter (largest input magnitude times the filter's L1 norm) are skipped, which is exact.
    """
    matrix, gain_bound = _true_peak_matrix()
    width, row = _TP_TAPS_PER_PHASE, _TP_ROW
    lead = width // 2 - 1  # a row starting at x[m - lead] interpolates positions m, m + 1, ...
    samples = channel.shape[-1]
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
        segment[a - lo : b - lo] = channel[a:b].astype(np.float64) / scale
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


def _true_peak_of(x: np.ndarray, peak: float) -> _Result:
    if x.shape[-1] == 0:
        return None, _REASON_EMPTY
    if peak == 0.0:
        return None, _REASON_ZERO
    best = 1.0  # the sample peak, relative to itself: phase 0 of the interpolator
    for channel in x:
        best = _channel_true_peak(channel, peak, best)
    return 20.0 * math.log10(peak) + 20.0 * math.log10(best), None


def _sample_peak_of(x: np.ndarray, peak: float) -> _Result:
    if x.shape[-1] == 0:
        return None, _REASON_EMPTY
    if peak == 0.0:
        return None, _REASON_ZERO
    return 20.0 * math.log10(peak), None


# --------------------------------------------------------------------------- stereo


def _stereo_moments(x: np.ndarray) -> tuple[float, float, float, float, float]:
    """Float64 sums of L², R², L·R, (L+R)² and (L−R)², in bounded-memory chunks."""
    totals = np.zeros(5)
    for start in range(0, x.shape[-1], _MOMENT_CHUNK):
        left = x[0, start : start + _MOMENT_CHUNK].astype(np.float64)
        right = x[1, start : start + _MOMENT_CHUNK].astype(np.float64)
        mid = left + right
        side = left - right
        # einsum's own loops, not BLAS: a threaded BLAS dot crawls on a busy machine
        totals += (
            np.einsum("i,i->", left, left),
            np.einsum("i,i->", right, right),
            np.einsum("i,i->", left, right),
            np.einsum("i,i->", mid, mid),
            np.einsum("i,i->", side, side),
        )
    return tuple(float(v) for v in totals)  # type: ignore[return-value]


def _correlation_of(x: np.ndarray, moments: tuple[float, ...] | None) -> _Result:
    if x.shape[-1] == 0:
        return None, _REASON_EMPTY
    if x.shape[0] == 1:
        if not np.any(x):
            return None, _REASON_ZERO
        return 1.0, None
    left_sq, right_sq, cross = (moments or _stereo_moments(x))[:3]
    if left_sq == 0.0 and right_sq == 0.0:
        return None, _REASON_ZERO
    if left_sq == 0.0 or right_sq == 0.0:
        silent = "left" if left_sq == 0.0 else "right"
        return None, f"silent {silent} channel: correlation is undefined"
    value = cross / math.sqrt(left_sq * right_sq)
    return min(1.0, max(-1.0, value)), None


def _side_mid_of(x: np.ndarray, moments: tuple[float, ...] | None) -> _Result:
    if x.shape[-1] == 0:
        return None, _REASON_EMPTY
    if x.shape[0] == 1:
        return None, _REASON_MONO_SIDE
    mid_sq, side_sq = (moments or _stereo_moments(x))[3:]
    if mid_sq == 0.0 and side_sq == 0.0:
        return None, _REASON_ZERO
    if side_sq == 0.0:
        return None, "identical channels: no side signal"
    if mid_sq == 0.0:
        return None, "opposite-polarity channels: no mid signal, side/mid is unbounded"
    # The (1/2)^2 of M = (L+R)/2 and S = (L-R)/2 cancels in the ratio.
    return 10.0 * math.log10(side_sq / mid_sq), None


# --------------------------------------------------------------------------- public API


def _explain(name: str, result: _Result) -> float | None:
    value, reason = result
    if value is None:
        logger.debug("%s is None: %s", name, reason)
    return value


def integrated_loudness(audio: np.ndarray, sample_rate: float) -> float | None:
    """Integrated (programme) loudness, ITU-R BS.1770-4.

    K-weighting, 400 ms blocks with 75 % overlap, the -70 LUFS absolute gate and the -10 LU
    relative gate: pyloudnorm's blocks and gates (``pyloudnorm.Meter.integrated_loudness``),
    vectorised here, on a signal K-weighted by the same biquads, so the figure equals
    ``pyloudnorm.Meter(sample_rate).integrated_loudness(audio.T)`` to rounding error.

    Parameters
    ----------
    audio : numpy.ndarray
        Float samples shaped ``(channels, samples)`` with 1 or 2 channels, or 1-D mono;
        full scale ±1.0. Channel weights are 1.0 (BS.1770-4 table 3).
    sample_rate : float
        Sample rate in Hz, 8000-384000.

    Returns
    -------
    float or None
        Loudness in LUFS; None when the signal is shorter than one 400 ms block or lies
        entirely below the -70 LUFS absolute gate (silence).

    Raises
    ------
    InvalidAudioError
        More than 2 channels, a non-finite sample, or a sample rate outside 8000-384000 Hz.
    InvalidParameterError
        ``audio`` is not a floating-point array of 1 or 2 dimensions, or ``sample_rate`` is
        not a number.

    Examples
    --------
    >>> import numpy as np
    >>> t = np.arange(10 * 48000) / 48000
    >>> tone = 10 ** (-23 / 20) * np.sin(2 * np.pi * 1000 * t)
    >>> round(integrated_loudness(np.stack([tone, tone]), 48000), 1)
    -23.0
    """
    rate = check_sample_rate(sample_rate)
    x, _ = as_audio(audio)
    if x.shape[-1] < 0.4 * rate:  # no need to filter what cannot be measured
        return _explain("integrated_loudness", _integrated_from_weighted(x, rate))
    return _explain("integrated_loudness", _integrated_from_weighted(_k_weight(x, rate), rate))


def momentary_loudness(audio: np.ndarray, sample_rate: float) -> np.ndarray:
    """Momentary loudness every 100 ms, EBU Tech 3341 (400 ms rectangular window).

    Element ``k`` is the BS.1770-4 loudness (ungated) of samples
    ``round(k * 0.1 * sample_rate)`` to ``round((k + 4) * 0.1 * sample_rate)``, i.e. of the
    window ending at ``(k + 4) * 100 ms``; only windows that lie wholly inside the signal are
    reported. The signal is K-weighted once and the windows are summed from per-hop energies.

    Parameters
    ----------
    audio : numpy.ndarray
        Float samples shaped ``(channels, samples)`` (1 or 2 channels) or 1-D mono.
    sample_rate : float
        Sample rate in Hz, 8000-384000.

    Returns
    -------
    numpy.ndarray
        Float64 loudness in LUFS, shape ``(windows,)``; empty when the signal is shorter than
        400 ms. Every value is finite: windows of digital silence read
        :data:`LOUDNESS_FLOOR_LUFS`.

    Raises
    ------
    InvalidAudioError, InvalidParameterError
        As :func:`integrated_loudness`.

    Examples
    --------
    >>> import numpy as np
    >>> momentary_loudness(np.zeros(48000), 48000)
    array([-200., -200., -200., -200., -200., -200., -200.])
    """
    rate = check_sample_rate(sample_rate)
    x, _ = as_audio(audio)
    return _window_loudness(*_hop_energies(_k_weight(x, rate), rate), MOMENTARY_WINDOW_MS)


def short_term_loudness(audio: np.ndarray, sample_rate: float) -> np.ndarray:
    """Short-term loudness every 100 ms, EBU Tech 3341 (3 s rectangular window).

    Element ``k`` covers samples ``round(k * 0.1 * sample_rate)`` to
    ``round((k + 30) * 0.1 * sample_rate)``; only windows wholly inside the signal are reported.

    Parameters
    ----------
    audio : numpy.ndarray
        Float samples shaped ``(channels, samples)`` (1 or 2 channels) or 1-D mono.
    sample_rate : float
        Sample rate in Hz, 8000-384000.

    Returns
    -------
    numpy.ndarray
        Float64 loudness in LUFS, shape ``(windows,)``; empty when the signal is shorter than
        3 s. Windows of digital silence read :data:`LOUDNESS_FLOOR_LUFS`.

    Raises
    ------
    InvalidAudioError, InvalidParameterError
        As :func:`integrated_loudness`.

    Examples
    --------
    >>> import numpy as np
    >>> short_term_loudness(np.zeros(48000), 48000).shape
    (0,)
    """
    rate = check_sample_rate(sample_rate)
    x, _ = as_audio(audio)
    return _window_loudness(*_hop_energies(_k_weight(x, rate), rate), SHORT_TERM_WINDOW_MS)


def integrated_and_short_term(audio: np.ndarray, sample_rate: float) -> tuple[float | None, np.ndarray]:
    """:func:`integrated_loudness` and :func:`short_term_loudness` of one signal, K-weighting it
    once (the same figures, bit for bit, in about half the time).

    Parameters, raises
        As :func:`integrated_loudness`.

    Returns
    -------
    (float or None, numpy.ndarray)
        Integrated loudness in LUFS, and the short-term loudness every 100 ms.
    """
    rate = check_sample_rate(sample_rate)
    x, _ = as_audio(audio)
    weighted = _k_weight(x, rate)
    integrated = _explain("integrated_loudness", _integrated_from_weighted(weighted, rate))
    return integrated, _window_loudness(*_hop_energies(weighted, rate), SHORT_TERM_WINDOW_MS)


def loudness_range(audio: np.ndarray, sample_rate: float) -> float | None:
    """Loudness range (LRA), EBU Tech 3342.

    The short-term loudness series (3 s windows every 100 ms, see
    :func:`short_term_loudness`) is gated at -70 LUFS, then at 20 LU below the power mean of
    what passed; LRA is the 95th minus the 10th percentile of the remaining values (linear
    interpolation between ranks). Unlike ``pyloudnorm.Meter.loudness_range`` no silence is
    appended and the step is exactly 100 ms.

    Parameters
    ----------
    audio : numpy.ndarray
        Float samples shaped ``(channels, samples)`` (1 or 2 channels) or 1-D mono.
    sample_rate : float
        Sample rate in Hz, 8000-384000.

    Returns
    -------
    float or None
        Loudness range in LU; None when the signal is shorter than 3 s, silent (below the
        absolute gate) or leaves fewer than 2 short-term windows after gating.

    Raises
    ------
    InvalidAudioError, InvalidParameterError
        As :func:`integrated_loudness`.

    Examples
    --------
    >>> import numpy as np
    >>> t = np.arange(40 * 48000) / 48000
    >>> level = np.where(t < 20, 10 ** (-20 / 20), 10 ** (-30 / 20))
    >>> tone = level * np.sin(2 * np.pi * 1000 * t)
    >>> round(loudness_range(np.stack([tone, tone]), 48000), 1)
    10.0
    """
    rate = check_sample_rate(sample_rate)
    x, _ = as_audio(audio)
    short_term = _window_loudness(*_hop_energies(_k_weight(x, rate), rate), SHORT_TERM_WINDOW_MS)
    return _explain("loudness_range", _lra_from_short_term(short_term))


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

    Parameters
    ----------
    audio : numpy.ndarray
        Float samples shaped ``(channels, samples)`` (1 or 2 channels) or 1-D mono.
    sample_rate : float
        Sample rate in Hz, 8000-384000; validated only, as the interpolator works in
        normalised frequency.

    Returns
    -------
    float or None
        True peak in dBTP; None for empty or all-zero input.

    Raises
    ------
    InvalidAudioError, InvalidParameterError
        As :func:`integrated_loudness`.

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
    return _explain("true_peak", _true_peak_of(x, peak))


def sample_peak_dbfs(audio: np.ndarray) -> float | None:
    """Largest absolute sample value over all channels, in dBFS (a full-scale sine reads 0).

    Parameters
    ----------
    audio : numpy.ndarray
        Float samples shaped ``(channels, samples)`` (1 or 2 channels) or 1-D mono.

    Returns
    -------
    float or None
        Sample peak in dBFS; None for empty or all-zero input.

    Raises
    ------
    InvalidAudioError, InvalidParameterError
        As :func:`integrated_loudness`.

    Examples
    --------
    >>> import numpy as np
    >>> round(sample_peak_dbfs(np.array([0.0, -0.5, 0.25])), 2)
    -6.02
    """
    x, peak = as_audio(audio)
    return _explain("sample_peak_dbfs", _sample_peak_of(x, peak))


def correlation(audio: np.ndarray) -> float | None:
    """Stereo correlation ``sum(L*R) / sqrt(sum(L**2) * sum(R**2))`` over the whole signal.

    +1 for identical channels, 0 for unrelated ones, -1 for opposite polarity. A mono signal
    reads 1.0: it feeds both loudspeakers identically.

    Parameters
    ----------
    audio : numpy.ndarray
        Float samples shaped ``(channels, samples)`` (1 or 2 channels) or 1-D mono.

    Returns
    -------
    float or None
        Correlation in [-1, 1]; None when a channel (or the mono signal) is silent or the
        input is empty.

    Raises
    ------
    InvalidAudioError, InvalidParameterError
        As :func:`integrated_loudness`.

    Examples
    --------
    >>> import numpy as np
    >>> left = np.sin(np.linspace(0, 100, 4800))
    >>> round(correlation(np.stack([left, -left])), 4)
    -1.0
    """
    x, _ = as_audio(audio)
    moments = _stereo_moments(x) if x.shape[0] == 2 else None
    return _explain("correlation", _correlation_of(x, moments))


def side_mid_db(audio: np.ndarray) -> float | None:
    """Side-to-mid energy ratio ``10 log10(E[S**2] / E[M**2])``, M = (L+R)/2, S = (L-R)/2.

    Very negative for near-mono material, 0 dB for unrelated channels of equal level,
    positive when the channels are mostly out of phase.

    Parameters
    ----------
    audio : numpy.ndarray
        Float samples shaped ``(2, samples)``; mono input is accepted and gives None.

    Returns
    -------
    float or None
        Ratio in dB; None for mono input, identical channels (no side signal), exactly
        opposite channels (no mid signal), silence or empty input.

    Raises
    ------
    InvalidAudioError, InvalidParameterError
        As :func:`integrated_loudness`.

    Examples
    --------
    >>> import numpy as np
    >>> left = np.sin(np.linspace(0, 100, 4800))
    >>> round(side_mid_db(np.stack([left, 0.5 * left])), 2)  # S/M = 0.25 / 0.75
    -9.54
    """
    x, _ = as_audio(audio)
    moments = _stereo_moments(x) if x.shape[0] == 2 else None
    return _explain("side_mid_db", _side_mid_of(x, moments))


_REPORT_DECIMALS = {
    "integrated_lufs": 2,
    "loudness_range_lu": 2,
    "true_peak_dbtp": 2,
    "sample_peak_dbfs": 2,
    "momentary_max_lufs": 2,
    "short_term_max_lufs": 2,
    "plr_db": 2,
    "correlation": 4,
    "side_mid_db": 2,
}


@dataclasses.dataclass(frozen=True)
class LoudnessReport:
    """Every meter reading of one signal, as returned by :func:`measure`.

    Attributes
    ----------
    integrated_lufs : float or None
        Integrated loudness, ITU-R BS.1770-4, LUFS.
    loudness_range_lu : float or None
        Loudness range, EBU Tech 3342, LU.
    true_peak_dbtp : float or None
        Maximum true peak, BS.1770-4 Annex 2 (4x), dBTP.
    sample_peak_dbfs : float or None
        Maximum absolute sample value, dBFS.
    momentary_max_lufs : float or None
        Maximum momentary (400 ms) loudness, EBU Tech 3341, LUFS.
    short_term_max_lufs : float or None
        Maximum short-term (3 s) loudness, EBU Tech 3341, LUFS.
    plr_db : float or None
        Peak-to-loudness ratio ``true_peak_dbtp - integrated_lufs``, dB.
    correlation : float or None
        Stereo correlation, -1...1; 1.0 for mono.
    side_mid_db : float or None
        Side-to-mid energy ratio, dB.
    reasons : dict of str to str
        For each field that is None, a short human reason (e.g. ``"mono: no side signal"``).
    """

    integrated_lufs: float | None
    loudness_range_lu: float | None
    true_peak_dbtp: float | None
    sample_peak_dbfs: float | None
    momentary_max_lufs: float | None
    short_term_max_lufs: float | None
    plr_db: float | None
    correlation: float | None
    side_mid_db: float | None
    reasons: dict[str, str] = dataclasses.field(default_factory=dict, hash=False)

    def to_dict(self) -> dict[str, Any]:
        """The nine readings, rounded (2 decimals; correlation 4), plus ``"reasons"``.

        Returns
        -------
        dict
            JSON-serialisable with ``json.dumps(..., allow_nan=False)``: every reading is a
            finite float or None.
        """
        out: dict[str, Any] = {}
        for name, decimals in _REPORT_DECIMALS.items():
            value = getattr(self, name)
            # + 0.0 turns a rounded -0.0 into 0.0
            out[name] = None if value is None else round(float(value), decimals) + 0.0
        out["reasons"] = dict(self.reasons)
        return out


def measure(audio: np.ndarray, sample_rate: float) -> LoudnessReport:
    """Every meter reading of a signal, K-weighting it once.

    Parameters
    ----------
    audio : numpy.ndarray
        Float samples shaped ``(channels, samples)`` with 1 or 2 channels, or 1-D mono;
        full scale ±1.0. Zero-length audio gives a report of all None, not an error.
    sample_rate : float
        Sample rate in Hz, 8000-384000.

    Returns
    -------
    LoudnessReport
        Readings per :func:`integrated_loudness`, :func:`loudness_range`, :func:`true_peak`,
        :func:`sample_peak_dbfs`, :func:`momentary_loudness` (max),
        :func:`short_term_loudness` (max), :func:`correlation` and :func:`side_mid_db`, with
        ``plr_db = true_peak_dbtp - integrated_lufs``; ``reasons`` explains every None.

    Raises
    ------
    InvalidAudioError, InvalidParameterError
        As :func:`integrated_loudness`.

    Examples
    --------
    >>> import numpy as np
    >>> t = np.arange(10 * 48000) / 48000
    >>> tone = 10 ** (-23 / 20) * np.sin(2 * np.pi * 1000 * t)
    >>> report = measure(tone, 48000)  # mono
    >>> round(report.integrated_lufs, 1), report.correlation, report.side_mid_db
    (-26.0, 1.0, None)
    >>> report.reasons["side_mid_db"]
    'mono: no side signal'
    """
    rate = check_sample_rate(sample_rate)
    x, peak = as_audio(audio)
    results: dict[str, _Result] = {}
    if x.shape[-1] == 0:
        results = {name: (None, _REASON_EMPTY) for name in _REPORT_DECIMALS}
    else:
        weighted = _k_weight(x, rate)
        results["integrated_lufs"] = _integrated_from_weighted(weighted, rate)
        hop_energy, edges = _hop_energies(weighted, rate)
        del weighted
        momentary = _window_loudness(hop_energy, edges, MOMENTARY_WINDOW_MS)
        short_term = _window_loudness(hop_energy, edges, SHORT_TERM_WINDOW_MS)
        results["loudness_range_lu"] = _lra_from_short_term(short_term)
        results["true_peak_dbtp"] = _true_peak_of(x, peak)
        results["sample_peak_dbfs"] = _sample_peak_of(x, peak)
        results["momentary_max_lufs"] = _series_max(momentary, _REASON_SHORT_MOMENTARY)
        results["short_term_max_lufs"] = _series_max(short_term, _REASON_SHORT_TERM)
        moments = _stereo_moments(x) if x.shape[0] == 2 else None
        results["correlation"] = _correlation_of(x, moments)
        results["side_mid_db"] = _side_mid_of(x, moments)
        tp, loudness = results["true_peak_dbtp"][0], results["integrated_lufs"][0]
        if tp is not None and loudness is not None:
            results["plr_db"] = (tp - loudness, None)
        else:
            missing = [name for name, value in (("true_peak_dbtp", tp), ("integrated_lufs", loudness)) if value is None]
            results["plr_db"] = (
                None,
                f"needs true_peak_dbtp and integrated_lufs; {' and '.join(missing)} "
                + ("is" if len(missing) == 1 else "are")
                + " None",
            )
    values = {name: results[name][0] for name in _REPORT_DECIMALS}
    reasons = {name: str(results[name][1]) for name in _REPORT_DECIMALS if results[name][0] is None}
    for name, reason in reasons.items():
        logger.debug("%s is None: %s", name, reason)
    return LoudnessReport(**values, reasons=reasons)
