"""Every metric for one mix against one reference, in one flat dict, with reasons for what is undefined."""

from __future__ import annotations

import logging
import math

import numpy as np

from mixassist.evaluate.metrics.af import AF_SIDE_FLOOR_DB, af_raw, af_terms
from mixassist.evaluate.metrics.levels import difference, dynamics_differences
from mixassist.evaluate.metrics.stereo import width_difference
from mixassist.evaluate.metrics.tonal import SPECTRAL_FLOOR_DB, spectral_distance
from mixassist.measure import (
    NORMALISATION_LUFS,
    WIDTH_BANDS_HZ,
    Measured,
    as_stereo,
    check_sample_rate,
    loudness_with_reason,
    mid_side_spectra,
    mrstft_distance,
    third_octave_powers,
    true_peak_with_reason,
    width_band_powers,
    width_with_reason,
)

__all__ = ["compare", "compare_with_reasons"]

logger = logging.getLogger(__name__)


def compare_with_reasons(
    mix: np.ndarray, ref: np.ndarray, sample_rate: float, *, target: np.ndarray | None = None
) -> tuple[dict[str, float | None], dict[str, str]]:
    """:func:`compare`, plus a short human reason for every value that is None.

    Returns
    -------
    values : dict of str to float or None
        As :func:`compare`.
    reasons : dict of str to str
        For each key whose value is None, why (e.g. ``"mix loudness undefined: mix is silent:
        below the -70 LUFS absolute gate"``).
    """
    rate = check_sample_rate(sample_rate)
    x, y = as_stereo(mix), as_stereo(ref)
    l_x, l_y = loudness_with_reason(x, rate, "mix"), loudness_with_reason(y, rate, "reference")
    spectra_x, spectra_y = mid_side_spectra(x, rate), mid_side_spectra(y, rate)
    bands_x, bands_y = third_octave_powers(spectra_x, rate), third_octave_powers(spectra_y, rate)
    width = width_difference(
        width_with_reason(*width_band_powers(spectra_x, rate)), width_with_reason(*width_band_powers(spectra_y, rate))
    )
    results: dict[str, Measured] = {
        "loudness_error_lu": difference(l_x, l_y, "loudness"),
        "spectral_mid_db": spectral_distance(bands_x["mid"], bands_y["mid"], l_x, l_y, rate, SPECTRAL_FLOOR_DB),
        "spectral_side_db": spectral_distance(bands_x["side"], bands_y["side"], l_x, l_y, rate, SPECTRAL_FLOOR_DB),
        "width_error_db": (
            (None, width[1]) if width[0] is None else (float(np.mean(np.abs(list(width[0].values())))), None)
        ),
    }
    for band in WIDTH_BANDS_HZ:
        results[f"width_error_{band}_db"] = (None, width[1]) if width[0] is None else (width[0][band], None)
    tp_x = true_peak_with_reason(x, rate)
    results.update(dynamics_differences(x, y, rate, l_x, l_y, tp_x, true_peak_with_reason(y, rate)))
    results["true_peak_dbtp"] = tp_x
    if target is not None:
        results["mrstft"] = (mrstft_distance(mix, target, rate), "empty")
    results.update(af_terms(af_raw(x, rate), af_raw(y, rate), l_x, l_y, NORMALISATION_LUFS, AF_SIDE_FLOOR_DB))
    values: dict[str, float | None] = {}
    reasons: dict[str, str] = {}
    for key, (value, reason) in results.items():
        if value is None or not math.isfinite(value):
            values[key] = None
            reasons[key] = str(reason) if value is None else "not finite"
            logger.debug("%s is None: %s", key, reasons[key])
        else:
            values[key] = float(value) + 0.0  # + 0.0 turns -0.0 into 0.0
    return values, reasons


def compare(
    mix: np.ndarray, ref: np.ndarray, sample_rate: float, *, target: np.ndarray | None = None
) -> dict[str, float | None]:
    """Every metric of this module for one mix against one reference, in one flat dict.

    Parameters
    ----------
    mix : numpy.ndarray
        The mix to judge, ``(channels, samples)`` (1 or 2 channels) or 1-D mono.
    ref : numpy.ndarray
        The reference (any length; may be a different song in the wanted style).
    sample_rate : float
        Sample rate of all signals, Hz.
    target : numpy.ndarray, optional
        A sample-aligned target of the same song (same length as ``mix``); adds ``mrstft``.

    Returns
    -------
    dict of str to float or None
        Plain floats (or None where undefined; :func:`compare_with_reasons` says why), safe
        for ``json.dumps(..., allow_nan=False)``. Signed values are mix minus reference.

        ``loudness_error_lu``
            :func:`loudness_error_lu`, signed.
        ``spectral_mid_db``, ``spectral_side_db``
            :func:`spectral_balance_distance_db`, mean |dB| over third-octave bands.
        ``width_error_db``; ``width_error_low_db``, ``width_error_mid_db``, ``width_error_high_db``
            :func:`width_error_db` (mean |dB|); per band signed (:func:`width_error_bands_db`).
        ``plr_error_db``, ``crest_error_db``, ``st_spread_error_lu``
            :func:`dynamics_error`, signed.
        ``true_peak_dbtp``
            :func:`true_peak_dbtp` of the mix (not a difference).
        ``mrstft``
            :func:`mrstft_distance` to ``target``; only when ``target`` is given.
        ``af_total``, ``af_rms``, ``af_crest``, ``af_width``, ``af_imbalance``, ``af_bark``,
        ``af_bark_mid``, ``af_bark_side``
            :func:`diffmst_af_metric` with its defaults (-23 LUFS, side floor -60 dB).

    Examples
    --------
    >>> import json
    >>> import numpy as np
    >>> x = np.random.default_rng(0).standard_normal((2, 4 * 44100)) * 0.05
    >>> result = compare(x, x, 44100, target=x)
    >>> result["spectral_mid_db"], result["mrstft"], result["af_total"]
    (0.0, 0.0, 0.0)
    >>> _ = json.dumps(result, allow_nan=False)
    """
    return compare_with_reasons(mix, ref, sample_rate, target=target)[0]
