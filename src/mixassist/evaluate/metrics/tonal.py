"""Spectral balance: third-octave mid or side levels of a mix against a reference (IEC 61260 bands)."""

from __future__ import annotations

import numpy as np

from mixassist.measure import (
    NORMALISATION_LUFS,
    Measured,
    MidSide,
    as_stereo,
    bands_in_range,
    check_mid_side,
    check_sample_rate,
    explain,
    loudness_with_reason,
    mid_side_spectra,
    power_db,
    third_octave_powers,
)

__all__ = ["SPECTRAL_FLOOR_DB", "spectral_balance_distance_db", "spectral_distance"]

SPECTRAL_FLOOR_DB = -60.0
"""Floor of :func:`spectral_balance_distance_db`, dB relative to the normalisation loudness:
after both signals are brought to -23 LUFS, no band reads below -23 - 60 = -83 dB. The same
absolute floor for both signals makes a mono mix against a mono reference read 0 on the side
spectrum, and a mono mix against a wide one large but finite."""


def spectral_distance(
    p_mix: np.ndarray, p_ref: np.ndarray, l_mix: Measured, l_ref: Measured, rate: float, floor_db: float
) -> Measured:
    """Mean |dB| between band powers after loudness normalisation, floored; None when a loudness is undefined."""
    if l_mix[0] is None:
        return None, f"cannot loudness-normalise the mix: {l_mix[1]}"
    if l_ref[0] is None:
        return None, f"cannot loudness-normalise the reference: {l_ref[1]}"
    floor = NORMALISATION_LUFS + floor_db
    levels = [
        np.maximum(power_db(p) + (NORMALISATION_LUFS - loud), floor)
        for p, loud in ((p_mix, l_mix[0]), (p_ref, l_ref[0]))
    ]
    in_range = bands_in_range(rate)
    return float(np.mean(np.abs(levels[0] - levels[1])[in_range])), None


def spectral_balance_distance_db(
    mix: np.ndarray,
    ref: np.ndarray,
    sample_rate: float,
    which: MidSide = "mid",
    *,
    floor_db: float = SPECTRAL_FLOOR_DB,
) -> float | None:
    """Mean absolute third-octave level difference after loudness normalisation.

    Both signals are scaled to -23 LUFS integrated (BS.1770-4), their mid or side third-octave
    levels are measured (:func:`third_octave_band_db`), every band is floored at
    ``-23 + floor_db`` dB (the same absolute floor for both signals), and the mean of
    ``|level_mix - level_ref|`` is taken over the bands below the Nyquist frequency.

    The floor is what keeps side spectra of mono material finite: a mono signal's side reads the
    floor in every band, so mono against mono is exactly 0 and mono against wide is the mean
    height of the wide signal's side bands above the floor. (A floor relative to each signal's own
    mid band — ``max(side, mid - 60 dB)`` — was rejected: two different mono mixes would then
    differ on the side spectrum by exactly their mid-spectrum difference.)

    Parameters
    ----------
    mix, ref, sample_rate
        As :func:`~mixassist.evaluate.metrics.levels.loudness_error_lu`.
    which : {"mid", "side"}
        Compare the mid ``(L+R)/2`` or the side ``(L-R)/2`` spectrum.
    floor_db : float
        Floor relative to the normalisation loudness, dB (default -60: bands read no lower than
        -83 dB re full-scale sine after normalisation).

    Returns
    -------
    float or None
        Mean absolute difference in dB (0 for identical signals, and for signals that differ
        only in gain); None when either loudness is undefined (silent, or shorter than 400 ms).

    Examples
    --------
    >>> import numpy as np
    >>> noise = np.random.default_rng(0).standard_normal((2, 96000)) * 0.1
    >>> spectral_balance_distance_db(noise, 0.3 * noise, 48000) < 1e-9
    True
    """
    which = check_mid_side(which)
    rate = check_sample_rate(sample_rate)
    x, y = as_stereo(mix), as_stereo(ref)
    result = spectral_distance(
        third_octave_powers(mid_side_spectra(x, rate), rate)[which],
        third_octave_powers(mid_side_spectra(y, rate), rate)[which],
        loudness_with_reason(x, rate, "mix"),
        loudness_with_reason(y, rate, "reference"),
        rate,
        float(floor_db),
    )
    return explain(f"spectral_balance_distance_db[{which}]", result)
