"""Loudness and dynamics differences between a mix and a reference (BS.1770-4, EBU Tech 3341/3342)."""

from __future__ import annotations

import numpy as np

from mixassist.measure import (
    Measured,
    as_stereo,
    check_sample_rate,
    crest_with_reason,
    explain,
    loudness_with_reason,
    plr_with_reason,
    spread_with_reason,
    true_peak_with_reason,
)

__all__ = ["difference", "dynamics_differences", "dynamics_error", "loudness_error_lu"]


def difference(a: Measured, b: Measured, what: str) -> Measured:
    """Mix value ``a`` minus reference value ``b``, or None with which side is undefined and why."""
    if a[0] is None:
        return None, f"mix {what} undefined: {a[1]}"
    if b[0] is None:
        return None, f"reference {what} undefined: {b[1]}"
    return a[0] - b[0], None


def loudness_error_lu(mix: np.ndarray, ref: np.ndarray, sample_rate: float) -> float | None:
    """Integrated loudness of the mix minus that of the reference, BS.1770-4.

    Parameters
    ----------
    mix, ref : numpy.ndarray
        Float samples shaped ``(channels, samples)`` (1 or 2 channels) or 1-D mono.
    sample_rate : float
        Sample rate of both, Hz.

    Returns
    -------
    float or None
        Signed difference in LU (positive: the mix is louder); None when either loudness is
        undefined (silent below the -70 LUFS gate, or shorter than 400 ms).

    Examples
    --------
    >>> import numpy as np
    >>> noise = np.random.default_rng(0).standard_normal((2, 48000)) * 0.1
    >>> round(loudness_error_lu(noise * 2.0, noise, 48000), 3)  # +6.021 dB of gain
    6.021
    """
    rate = check_sample_rate(sample_rate)
    x, y = as_stereo(mix), as_stereo(ref)
    return explain(
        "loudness_error_lu",
        difference(loudness_with_reason(x, rate, "mix"), loudness_with_reason(y, rate, "reference"), "loudness"),
    )


def dynamics_error(mix: np.ndarray, ref: np.ndarray, sample_rate: float) -> dict[str, float | None]:
    """Signed dynamics differences, mix minus reference.

    Returns
    -------
    dict
        ``plr_error_db`` (:func:`plr_db`), ``crest_error_db`` (:func:`crest_db`) and
        ``st_spread_error_lu`` (:func:`short_term_spread_lu`); each None where either
        signal's value is undefined. All three are independent of the overall gain.
    """
    rate = check_sample_rate(sample_rate)
    x, y = as_stereo(mix), as_stereo(ref)
    results = dynamics_differences(
        x, y, rate, loudness_with_reason(x, rate, "mix"), loudness_with_reason(y, rate, "reference"),
        true_peak_with_reason(x, rate), true_peak_with_reason(y, rate),
    )  # fmt: skip
    return {key: explain(key, result) for key, result in results.items()}


def dynamics_differences(
    x: np.ndarray, y: np.ndarray, rate: float, l_x: Measured, l_y: Measured, tp_x: Measured, tp_y: Measured
) -> dict[str, Measured]:
    """PLR, crest factor and short-term spread differences of stereo ``x`` and ``y`` (see :func:`dynamics_error`)."""
    return {
        "plr_error_db": difference(plr_with_reason(tp_x, l_x), plr_with_reason(tp_y, l_y), "PLR"),
        "crest_error_db": difference(crest_with_reason(x), crest_with_reason(y), "crest factor"),
        "st_spread_error_lu": difference(spread_with_reason(x, rate), spread_with_reason(y, rate), "short-term spread"),
    }
