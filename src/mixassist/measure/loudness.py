"""Loudness: ITU-R BS.1770-4 integrated loudness, EBU Tech 3341 momentary and short-term series,
EBU Tech 3342 loudness range.

Every measure takes a float array ``audio`` shaped ``(channels, samples)`` with one or two channels
(a 1-D array is read as mono) at ``sample_rate`` Hz, nominal full scale ±1.0. Integrated loudness is
gated as pyloudnorm gates (vectorised here; pyloudnorm is our acceptance reference), and the
K-weighting is pyloudnorm's own biquads (:func:`~mixassist.measure.weighting.k_weighting_sos`).
Windowed loudness series are floored at :data:`LOUDNESS_FLOOR_LUFS` so that silent windows stay
finite.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.signal

from mixassist.measure.reading import REASON_EMPTY, REASON_SILENT_GATE, Reading, explain
from mixassist.measure.validate import as_audio, check_sample_rate
from mixassist.measure.weighting import k_weighting_sos

__all__ = [
    "ABSOLUTE_GATE_LUFS",
    "LOUDNESS_FLOOR_LUFS",
    "LRA_RELATIVE_GATE_LU",
    "MOMENTARY_WINDOW_MS",
    "REASON_SHORT_MOMENTARY",
    "REASON_SHORT_TERM",
    "SHORT_TERM_WINDOW_MS",
    "STEP_MS",
    "hop_edges",
    "hop_energies",
    "gating_block_count",
    "gating_segment_starts",
    "integrated_from_segments",
    "integrated_from_weighted",
    "integrated_loudness",
    "k_weight",
    "loudness_range",
    "lra_from_short_term",
    "momentary_loudness",
    "series_max",
    "short_term_loudness",
    "window_loudness",
]

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

# BS.1770-4 eq. 2: L = -0.691 + 10 log10(sum_i G_i z_i); G = 1 for left, right and mono.
_LOUDNESS_OFFSET_DB = -0.691
_FLOOR_ENERGY = 10.0 ** ((LOUDNESS_FLOOR_LUFS - _LOUDNESS_OFFSET_DB) / 10.0)
_MIN_LRA_WINDOWS = 2

_REASON_SHORT_BLOCK = "shorter than one 400 ms block"
REASON_SHORT_MOMENTARY = "shorter than one 400 ms momentary window"
"""Reason of a momentary-loudness reading of a signal shorter than one window."""
REASON_SHORT_TERM = "shorter than one 3 s short-term window"
"""Reason of a short-term or loudness-range reading of a signal shorter than one window."""
_REASON_FLOOR = f"silent: no window above the {LOUDNESS_FLOOR_LUFS:g} LUFS floor"


def k_weight(x: np.ndarray, sample_rate: float) -> np.ndarray:
    """K-weighted copy of ``x`` in float64, shape ``(channels, samples)``."""
    if x.shape[-1] == 0:
        return np.zeros(x.shape)  # sosfilt refuses empty input
    sos = k_weighting_sos(sample_rate).copy()  # sosfilt wants a writable array
    # sosfilt filters a float64 copy of its own (result dtype of sos and x)
    return scipy.signal.sosfilt(sos, x, axis=-1)


def gating_segment_starts(count: int, sample_rate: float, first: int = 0) -> np.ndarray:
    """First sample of the ``count`` 100 ms gating segments from number ``first`` on.

    Segment ``j`` starts at ``int(0.4 * (j * 0.25) * rate)`` — the bounds pyloudnorm 0.1/0.2
    use for its 400 ms blocks, evaluated with the same float operations.
    """
    return (0.4 * (np.arange(first, first + count) * 0.25) * sample_rate).astype(np.int64)  # int() truncation


def gating_block_count(samples: int, sample_rate: float) -> int:
    """Number of 400 ms gating blocks (75 % overlap) of a signal, ``round((T - 0.4) / 0.1) + 1``."""
    return int(np.round((samples / sample_rate - 0.4) / (0.4 * 0.25))) + 1


def _gating_segments(weighted: np.ndarray, sample_rate: float) -> np.ndarray:
    """Energy per channel of every 100 ms gating segment, ``(channels, blocks + 4)``.

    Segment ``j`` sums the squares from its start (:func:`gating_segment_starts`) to the next
    start; the last one that starts inside the signal, to the end of the signal; those that
    start after it are zero.
    """
    samples = weighted.shape[-1]
    blocks = gating_block_count(samples, sample_rate)
    starts = gating_segment_starts(blocks + 4, sample_rate)
    inside = starts < samples
    segments = np.zeros((weighted.shape[0], starts.size))
    # reduceat sums each start to the next, the last one to the end of the signal
    segments[:, inside] = np.add.reduceat(np.square(weighted), starts[inside], axis=-1)
    return segments


def integrated_from_segments(segments: np.ndarray, samples: int, sample_rate: float) -> Reading:
    """BS.1770-4 gating of the gating segments (:func:`gating_segment_starts`) of ``samples`` samples.

    Block ``j`` ends where block ``j + 4`` starts, so each 400 ms block is the sum of four 100 ms
    segments, each summed once (no running total: a quiet block after loud ones keeps its
    precision). The same gates and arithmetic as ``pyloudnorm.Meter.integrated_loudness``.
    """
    if samples == 0:
        return None, REASON_EMPTY
    # The same comparison pyloudnorm.util.valid_audio makes before it refuses a signal.
    if samples < 0.4 * sample_rate:
        return None, _REASON_SHORT_BLOCK
    blocks = gating_block_count(samples, sample_rate)
    sums = (
        segments[:, :blocks] + segments[:, 1 : blocks + 1] + segments[:, 2 : blocks + 2] + segments[:, 3 : blocks + 3]
    )
    z = (1.0 / (0.4 * sample_rate)) * sums
    with np.errstate(divide="ignore"):
        block = -0.691 + 10.0 * np.log10(z.sum(axis=0))
        above = block >= -70.0
        if not np.any(above):
            return None, REASON_SILENT_GATE
        relative = -0.691 + 10.0 * np.log10(z[:, above].mean(axis=1).sum()) - 10.0
        gated = (block > relative) & (block > -70.0)
        if not np.any(gated):
            return None, REASON_SILENT_GATE
        value = float(-0.691 + 10.0 * np.log10(z[:, gated].mean(axis=1).sum()))
    if not math.isfinite(value):
        return None, REASON_SILENT_GATE
    return value, None


def integrated_from_weighted(weighted: np.ndarray, sample_rate: float) -> Reading:
    """BS.1770-4 gating of an already K-weighted signal (channel weights 1).

    The same blocks, gates and arithmetic as ``pyloudnorm.Meter.integrated_loudness``, whose
    Python loop over blocks cost 0.5 s per 3-minute stereo signal (`benchmarks/loudness_speed.py`);
    equal to it within 1e-9 LU (tests/test_meter.py).
    """
    samples = weighted.shape[-1]
    if samples < 0.4 * sample_rate:
        return integrated_from_segments(np.zeros((weighted.shape[0], 0)), samples, sample_rate)
    segments = _gating_segments(np.asarray(weighted, dtype=np.float64), sample_rate)
    return integrated_from_segments(segments, samples, sample_rate)


def hop_energies(weighted: np.ndarray, sample_rate: float) -> tuple[np.ndarray, np.ndarray]:
    """Channel-summed K-weighted energy per 100 ms hop, and the hop edges in samples."""
    edges = hop_edges(weighted.shape[-1], sample_rate)
    if edges.size < 2:
        return np.zeros(0), edges
    energy = np.einsum("cn,cn->n", weighted[:, : edges[-1]], weighted[:, : edges[-1]])
    # Sums per hop, then per window from the hop sums: no running total over the whole file,
    # so a quiet window after loud ones keeps its precision.
    return np.add.reduceat(energy, edges[:-1]), edges


def hop_edges(samples: int, sample_rate: float) -> np.ndarray:
    """Edges in samples of the whole 100 ms hops of a signal of ``samples`` samples (``round(k * hop)``)."""
    hop = sample_rate * STEP_MS / 1000.0
    hops = int(samples // hop)
    edges = np.rint(np.arange(hops + 2) * hop).astype(np.int64)
    return edges[edges <= samples]


def window_loudness(hop_energy: np.ndarray, edges: np.ndarray, window_ms: int) -> np.ndarray:
    """Loudness of every window of ``window_ms`` from the hop energies, floored at :data:`LOUDNESS_FLOOR_LUFS`."""
    hops = window_ms // STEP_MS
    if hop_energy.size < hops:
        return np.zeros(0)
    sums = np.lib.stride_tricks.sliding_window_view(hop_energy, hops).sum(axis=-1)
    mean_square = sums / (edges[hops:] - edges[:-hops])
    loudness = _LOUDNESS_OFFSET_DB + 10.0 * np.log10(np.maximum(mean_square, _FLOOR_ENERGY))
    return np.maximum(loudness, LOUDNESS_FLOOR_LUFS)  # exactly the floor, despite rounding


def series_max(series: np.ndarray, short_reason: str) -> Reading:
    """The largest value of a loudness series, or None with ``short_reason`` (empty) or the floor reason."""
    if series.size == 0:
        return None, short_reason
    top = float(series.max())
    if top <= LOUDNESS_FLOOR_LUFS:
        return None, _REASON_FLOOR
    return top, None


def lra_from_short_term(short_term_lufs: np.ndarray) -> Reading:
    """Loudness range (EBU Tech 3342) of a short-term loudness series."""
    if short_term_lufs.size == 0:
        return None, REASON_SHORT_TERM
    gated = short_term_lufs[short_term_lufs >= ABSOLUTE_GATE_LUFS]
    if gated.size == 0:
        return None, REASON_SILENT_GATE
    # Tech 3342: relative gate 20 LU below the power mean of the absolute-gated values.
    power_mean_lufs = 10.0 * np.log10(np.mean(10.0 ** (gated / 10.0)))
    gated = gated[gated >= power_mean_lufs + LRA_RELATIVE_GATE_LU]
    if gated.size < _MIN_LRA_WINDOWS:
        return None, f"fewer than {_MIN_LRA_WINDOWS} short-term windows above the gates"
    low, high = np.percentile(gated, [10.0, 95.0])
    return float(high - low), None


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
        return explain("integrated_loudness", integrated_from_weighted(x, rate))
    return explain("integrated_loudness", integrated_from_weighted(k_weight(x, rate), rate))


def _windowed_series(audio: np.ndarray, sample_rate: float, window_ms: int) -> np.ndarray:
    """Loudness every 100 ms over windows of ``window_ms``, K-weighting ``audio`` once."""
    rate = check_sample_rate(sample_rate)
    x, _ = as_audio(audio)
    return window_loudness(*hop_energies(k_weight(x, rate), rate), window_ms)


def momentary_loudness(audio: np.ndarray, sample_rate: float) -> np.ndarray:
    """Momentary loudness every 100 ms, EBU Tech 3341 (400 ms rectangular window).

    Element ``k`` is the BS.1770-4 loudness (ungated) of samples
    ``round(k * 0.1 * sample_rate)`` to ``round((k + 4) * 0.1 * sample_rate)``, i.e. of the
    window ending at ``(k + 4) * 100 ms``; only windows that lie wholly inside the signal are
    reported. The signal is K-weighted once and the windows are summed from per-hop energies.

    Parameters, raises
        As :func:`integrated_loudness`.

    Returns
    -------
    numpy.ndarray
        Float64 loudness in LUFS, shape ``(windows,)``; empty when the signal is shorter than
        400 ms. Every value is finite: windows of digital silence read
        :data:`LOUDNESS_FLOOR_LUFS`.

    Examples
    --------
    >>> import numpy as np
    >>> momentary_loudness(np.zeros(48000), 48000)
    array([-200., -200., -200., -200., -200., -200., -200.])
    """
    return _windowed_series(audio, sample_rate, MOMENTARY_WINDOW_MS)


def short_term_loudness(audio: np.ndarray, sample_rate: float) -> np.ndarray:
    """Short-term loudness every 100 ms, EBU Tech 3341 (3 s rectangular window).

    Element ``k`` covers samples ``round(k * 0.1 * sample_rate)`` to
    ``round((k + 30) * 0.1 * sample_rate)``; only windows wholly inside the signal are reported.
    Parameters, errors and result as :func:`momentary_loudness`; the result is empty when the
    signal is shorter than 3 s.

    Examples
    --------
    >>> import numpy as np
    >>> short_term_loudness(np.zeros(48000), 48000).shape
    (0,)
    """
    return _windowed_series(audio, sample_rate, SHORT_TERM_WINDOW_MS)


def loudness_range(audio: np.ndarray, sample_rate: float) -> float | None:
    """Loudness range (LRA), EBU Tech 3342.

    The short-term loudness series (3 s windows every 100 ms, see
    :func:`short_term_loudness`) is gated at -70 LUFS, then at 20 LU below the power mean of
    what passed; LRA is the 95th minus the 10th percentile of the remaining values (linear
    interpolation between ranks). Unlike ``pyloudnorm.Meter.loudness_range`` no silence is
    appended and the step is exactly 100 ms.

    Parameters, raises
        As :func:`integrated_loudness`.

    Returns
    -------
    float or None
        Loudness range in LU; None when the signal is shorter than 3 s, silent (below the
        absolute gate) or leaves fewer than 2 short-term windows after gating.

    Examples
    --------
    >>> import numpy as np
    >>> t = np.arange(40 * 48000) / 48000
    >>> level = np.where(t < 20, 10 ** (-20 / 20), 10 ** (-30 / 20))
    >>> tone = level * np.sin(2 * np.pi * 1000 * t)
    >>> round(loudness_range(np.stack([tone, tone]), 48000), 1)
    10.0
    """
    short_term = _windowed_series(audio, sample_rate, SHORT_TERM_WINDOW_MS)
    return explain("loudness_range", lra_from_short_term(short_term))
