"""Stereo image: channel correlation and the side-to-mid energy ratio."""

from __future__ import annotations

import math

import numpy as np

from mixassist.measure.reading import REASON_EMPTY, REASON_ZERO, Reading, explain
from mixassist.measure.validate import as_audio

__all__ = [
    "MOMENT_CHUNK",
    "REASON_MONO_SIDE",
    "correlation",
    "correlation_from_moments",
    "correlation_of",
    "mono_correlation",
    "side_mid_db",
    "side_mid_from_moments",
    "side_mid_of",
    "stereo_moments",
]

MOMENT_CHUNK = 1 << 20
"""Samples per partial sum of :func:`stereo_moments` (a streaming meter sums the same chunks)."""
REASON_MONO_SIDE = "mono: no side signal"
"""Reason of a side/mid reading of mono audio."""


def stereo_moments(x: np.ndarray) -> tuple[float, float, float, float, float]:
    """Float64 sums of L², R², L·R, (L+R)² and (L−R)², in bounded-memory chunks."""
    totals = np.zeros(5)
    for start in range(0, x.shape[-1], MOMENT_CHUNK):
        left = x[0, start : start + MOMENT_CHUNK].astype(np.float64)
        right = x[1, start : start + MOMENT_CHUNK].astype(np.float64)
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
    left_sq, right_sq, cross, mid_sq, side_sq = (float(v) for v in totals)
    return left_sq, right_sq, cross, mid_sq, side_sq


def correlation_of(x: np.ndarray, moments: tuple[float, ...] | None) -> Reading:
    """Stereo correlation of validated audio ``x``, from ``moments`` when given (:func:`stereo_moments`)."""
    if x.shape[-1] == 0:
        return None, REASON_EMPTY
    if x.shape[0] == 1:
        return mono_correlation(bool(np.any(x)))
    return correlation_from_moments(moments or stereo_moments(x))


def mono_correlation(nonzero: bool) -> Reading:
    """Correlation of a mono signal: 1.0, or None when every sample is zero."""
    return (1.0, None) if nonzero else (None, REASON_ZERO)


def correlation_from_moments(moments: tuple[float, ...]) -> Reading:
    """Stereo correlation from the sums of :func:`stereo_moments`."""
    left_sq, right_sq, cross = moments[:3]
    if left_sq == 0.0 and right_sq == 0.0:
        return None, REASON_ZERO
    if left_sq == 0.0 or right_sq == 0.0:
        silent = "left" if left_sq == 0.0 else "right"
        return None, f"silent {silent} channel: correlation is undefined"
    value = cross / math.sqrt(left_sq * right_sq)
    return min(1.0, max(-1.0, value)), None


def side_mid_of(x: np.ndarray, moments: tuple[float, ...] | None) -> Reading:
    """Side-to-mid energy ratio in dB of validated audio ``x``, from ``moments`` when given."""
    if x.shape[-1] == 0:
        return None, REASON_EMPTY
    if x.shape[0] == 1:
        return None, REASON_MONO_SIDE
    return side_mid_from_moments(moments or stereo_moments(x))


def side_mid_from_moments(moments: tuple[float, ...]) -> Reading:
    """Side-to-mid energy ratio in dB from the sums of :func:`stereo_moments`."""
    mid_sq, side_sq = moments[3:]
    if mid_sq == 0.0 and side_sq == 0.0:
        return None, REASON_ZERO
    if side_sq == 0.0:
        return None, "identical channels: no side signal"
    if mid_sq == 0.0:
        return None, "opposite-polarity channels: no mid signal, side/mid is unbounded"
    # The (1/2)^2 of M = (L+R)/2 and S = (L-R)/2 cancels in the ratio.
    return 10.0 * math.log10(side_sq / mid_sq), None


def correlation(audio: np.ndarray) -> float | None:
    """Stereo correlation ``sum(L*R) / sqrt(sum(L**2) * sum(R**2))`` over the whole signal.

    +1 for identical channels, 0 for unrelated ones, -1 for opposite polarity. A mono signal
    reads 1.0: it feeds both loudspeakers identically.

    Parameters, raises
        As :func:`integrated_loudness` (``audio`` only).

    Returns
    -------
    float or None
        Correlation in [-1, 1]; None when a channel (or the mono signal) is silent or the
        input is empty.

    Examples
    --------
    >>> import numpy as np
    >>> left = np.sin(np.linspace(0, 100, 4800))
    >>> round(correlation(np.stack([left, -left])), 4)
    -1.0
    """
    x, _ = as_audio(audio)
    moments = stereo_moments(x) if x.shape[0] == 2 else None
    return explain("correlation", correlation_of(x, moments))


def side_mid_db(audio: np.ndarray) -> float | None:
    """Side-to-mid energy ratio ``10 log10(E[S**2] / E[M**2])``, M = (L+R)/2, S = (L-R)/2.

    Very negative for near-mono material, 0 dB for unrelated channels of equal level,
    positive when the channels are mostly out of phase.

    Parameters, raises
        As :func:`integrated_loudness`: ``audio`` is meant to be stereo, ``(2, samples)``; mono
        input is accepted and gives None.

    Returns
    -------
    float or None
        Ratio in dB; None for mono input, identical channels (no side signal), exactly
        opposite channels (no mid signal), silence or empty input.

    Examples
    --------
    >>> import numpy as np
    >>> left = np.sin(np.linspace(0, 100, 4800))
    >>> round(side_mid_db(np.stack([left, 0.5 * left])), 2)  # S/M = 0.25 / 0.75
    -9.54
    """
    x, _ = as_audio(audio)
    moments = stereo_moments(x) if x.shape[0] == 2 else None
    return explain("side_mid_db", side_mid_of(x, moments))
