"""Stereo width differences between a mix and a reference, in three broad bands."""

from __future__ import annotations

import numpy as np

from mixassist.measure import (
    WIDTH_BANDS_HZ,
    Measured,
    as_stereo,
    check_sample_rate,
    explain,
    mid_side_spectra,
    width_band_powers,
    width_with_reason,
)

__all__ = ["width_difference", "width_error_bands_db", "width_error_db"]


def width_difference(w_mix: Measured, w_ref: Measured) -> Measured:
    """Per-band ``width_mix - width_ref``, dB, or None with which side is undefined and why."""
    if w_mix[0] is None:
        return None, f"mix width undefined: {w_mix[1]}"
    if w_ref[0] is None:
        return None, f"reference width undefined: {w_ref[1]}"
    return {band: w_mix[0][band] - w_ref[0][band] for band in WIDTH_BANDS_HZ}, None


def width_error_bands_db(mix: np.ndarray, ref: np.ndarray, sample_rate: float) -> dict[str, float] | None:
    """Per-band width difference ``width_db(mix) - width_db(ref)``, dB, signed.

    Positive: the mix is wider than the reference in that band. See :func:`width_db`.

    Returns
    -------
    dict of str to float, or None
        ``{"low": dB, "mid": dB, "high": dB}``; None when either signal is silent.
    """
    rate = check_sample_rate(sample_rate)
    w_mix = width_with_reason(*width_band_powers(mid_side_spectra(as_stereo(mix), rate), rate))
    w_ref = width_with_reason(*width_band_powers(mid_side_spectra(as_stereo(ref), rate), rate))
    return explain("width_error_bands_db", width_difference(w_mix, w_ref))


def width_error_db(mix: np.ndarray, ref: np.ndarray, sample_rate: float) -> float | None:
    """Mean absolute width difference over the three bands of :func:`width_db`, dB.

    Returns
    -------
    float or None
        ``mean(|width_mix - width_ref|)`` over low, mid and high; at most 120 dB. None when
        either signal is silent. Per-band signed values: :func:`width_error_bands_db`.

    Examples
    --------
    >>> import numpy as np
    >>> lr = np.random.default_rng(0).standard_normal((2, 48000))
    >>> width_error_db(lr, lr[::-1], 48000)  # swapping channels keeps the width
    0.0
    """
    bands = width_error_bands_db(mix, ref, sample_rate)
    return None if bands is None else float(np.mean(np.abs(list(bands.values()))))
