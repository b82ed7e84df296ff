"""Dynamics of a whole signal: crest factor, peak-to-loudness ratio, short-term loudness spread.

Built on the meter (ITU-R BS.1770-4 loudness and true peak, EBU Tech 3341 short-term loudness,
EBU Tech 3342 gates). Each measure has a ``*_with_reason`` form returning ``(value, reason)``
(:data:`mixassist.measure.reasons.Measured`) and a plain one returning the value or None.
"""

from __future__ import annotations

import math

import numpy as np

from mixassist.measure import (
    ABSOLUTE_GATE_LUFS,
    LRA_RELATIVE_GATE_LU,
    check_sample_rate,
    short_term_loudness,
    true_peak,
)
from mixassist.measure.reading import Measured, explain
from mixassist.measure.reasons import as_stereo, loudness_with_reason

__all__ = [
    "MIN_SPREAD_WINDOWS",
    "crest_db",
    "crest_with_reason",
    "plr_db",
    "plr_with_reason",
    "short_term_spread_lu",
    "spread_with_reason",
    "true_peak_dbtp",
    "true_peak_with_reason",
]

MIN_SPREAD_WINDOWS = 2
"""Fewest short-term windows that must pass the gates for a short-term spread to exist."""


def crest_with_reason(x: np.ndarray) -> Measured:
    """Crest factor of ``x``, all channels pooled, dB; None for empty or all-zero audio."""
    if x.shape[-1] == 0:
        return None, "empty"
    peak = float(np.max(np.abs(x)))
    if peak == 0.0:
        return None, "silent: all samples are zero"
    # peak / rms computed on x / peak: the mean square is then at least 1 / samples, so tiny
    # (even subnormal) signals cannot underflow to a zero RMS. In float64 blocks, each summed by
    # a dot product: no full-length temporaries.
    flat = x.reshape(-1)
    total = 0.0
    for a in range(0, flat.size, CREST_BLOCK):
        block = flat[a : a + CREST_BLOCK].astype(np.float64) / peak
        total += float(np.dot(block, block))
    return -10.0 * math.log10(total / flat.size), None


#: Samples :func:`crest_with_reason` converts to float64 at a time.
CREST_BLOCK = 1 << 18


def spread_with_reason(x: np.ndarray, rate: float) -> Measured:
    """Standard deviation of the gated short-term loudness of ``x``, LU (see :func:`short_term_spread_lu`)."""
    series = short_term_loudness(x, rate)
    if series.size == 0:
        return None, "shorter than one 3 s short-term window"
    gated = series[series >= ABSOLUTE_GATE_LUFS]
    if gated.size:
        # EBU Tech 3342's gates: -70 LUFS absolute, then 20 LU below the power mean of the rest.
        power_mean = 10.0 * math.log10(float(np.mean(10.0 ** (gated / 10.0))))
        gated = gated[gated >= power_mean + LRA_RELATIVE_GATE_LU]
    if gated.size < MIN_SPREAD_WINDOWS:
        return None, f"fewer than {MIN_SPREAD_WINDOWS} short-term windows above the gates"
    return float(np.std(gated)), None


def true_peak_with_reason(x: np.ndarray, rate: float) -> Measured:
    """Maximum true peak of ``x``, dBTP; None for empty or all-zero audio."""
    value = true_peak(x, rate)
    if value is None:
        return None, "empty or all samples zero"
    return float(value), None


def plr_with_reason(tp: Measured, loudness: Measured) -> Measured:
    """Peak-to-loudness ratio from a true peak and an integrated loudness (each possibly undefined), dB."""
    if loudness[0] is None:
        return None, f"loudness undefined: {loudness[1]}"
    if tp[0] is None:
        return None, f"true peak undefined: {tp[1]}"
    return tp[0] - loudness[0], None


def true_peak_dbtp(audio: np.ndarray, sample_rate: float) -> float | None:
    """Maximum true peak, ITU-R BS.1770-4 Annex 2 (4x oversampling), dBTP.

    A wrapper of :func:`mixassist.measure.true_peak`; None for empty or all-zero audio.

    Examples
    --------
    >>> import numpy as np
    >>> t = np.arange(48000) / 48000
    >>> round(true_peak_dbtp(0.5 * np.sin(2 * np.pi * 997 * t), 48000), 1)
    -6.0
    """
    rate = check_sample_rate(sample_rate)
    return explain("true_peak_dbtp", true_peak_with_reason(as_stereo(audio), rate))


def plr_db(audio: np.ndarray, sample_rate: float) -> float | None:
    """Peak-to-loudness ratio: true peak (dBTP) minus integrated loudness (LUFS), dB.

    Returns
    -------
    float or None
        PLR in dB (about 8-12 dB for a mastered pop song, more for a dynamic mix); None when
        the loudness is undefined (silent or shorter than 400 ms).
    """
    rate = check_sample_rate(sample_rate)
    x = as_stereo(audio)
    return explain("plr_db", plr_with_reason(true_peak_with_reason(x, rate), loudness_with_reason(x, rate)))


def crest_db(audio: np.ndarray) -> float | None:
    """Crest factor over the whole signal: sample peak over RMS, all channels pooled, dB.

    ``20 log10(max|x|) - 10 log10(mean(x**2))`` with the peak and mean square taken over every
    sample of every channel (a mono signal and its L = R stereo copy read the same).

    Returns
    -------
    float or None
        Crest factor in dB (3.01 for a sine); None for empty or all-zero audio.

    Examples
    --------
    >>> import numpy as np
    >>> round(crest_db(np.sin(2 * np.pi * np.arange(4800) / 48)), 2)
    3.01
    """
    return explain("crest_db", crest_with_reason(as_stereo(audio)))


def short_term_spread_lu(audio: np.ndarray, sample_rate: float) -> float | None:
    """Spread of the short-term loudness: standard deviation of the gated 3 s values, LU.

    The short-term loudness series (EBU Tech 3341: 3 s windows every 100 ms, from
    :func:`mixassist.measure.short_term_loudness`) is gated as for loudness range
    (EBU Tech 3342: -70 LUFS absolute, then -20 LU relative to the power mean of what passed);
    the spread is the population standard deviation of the remaining values. Unlike LRA
    (a percentile range) it weighs every window, so it moves smoothly with compression.

    Returns
    -------
    float or None
        Standard deviation in LU (0 for steady noise); None when the signal is shorter than 3 s,
        silent, or leaves fewer than 2 windows after gating.
    """
    rate = check_sample_rate(sample_rate)
    return explain("short_term_spread_lu", spread_with_reason(as_stereo(audio), rate))
