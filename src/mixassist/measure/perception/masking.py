"""How much of each track the rest of the mix masks (:func:`masking_measure`).

The masked fraction ``1 − partial / solo`` loudness is Wichern et al.'s loudness loss (AES 141st
Convention, 2016) as a ratio, with the partial loudness of Moore, Glasberg & Baer (1997).
"""

from __future__ import annotations

import logging
import numbers
from typing import Any

import numpy as np

from mixassist.errors import InvalidParameterError
from mixassist.measure.loudness import integrated_loudness
from mixassist.measure.perception.mix import SILENT_SONE, loudness_in_mix
from mixassist.measure.perception.stft import band_powers
from mixassist.measure.validate import as_sample_array, check_sample_rate

__all__ = ["MASKING_REFERENCE", "masking_measure"]

log = logging.getLogger(__name__)

MASKING_REFERENCE = (
    "masked fraction = 1 - partial/solo loudness, Wichern et al. 2016 (AES 141st Conv.) loudness loss; "
    "partial loudness: Moore, Glasberg & Baer 1997, JAES 45(4), with ANSI S3.4-2007 constants"
)


def masking_measure(stems: np.ndarray, sample_rate: int, *, level_lufs: float = -23.0) -> dict[str, Any]:
    """How much of each track the rest of the mix masks, as a strict-JSON-safe dict.

    All stems are scaled by one common gain so that their sum measures ``level_lufs``
    (ITU-R BS.1770-4 integrated loudness, :func:`mixassist.measure.integrated_loudness`),
    which makes the figures independent of the mix's level; then :func:`loudness_in_mix`
    gives every track's solo and partial loudness.

    Parameters
    ----------
    stems : numpy.ndarray
        ``(tracks, 2, samples)``: each processed track as it enters the mix bus
        (``Console.render(..., want_stems=True).stems``).
    sample_rate : int
        Hz.
    level_lufs : float
        Listening level the mix is set to (default −23 LUFS, EBU R128; with the 100 dB SPL
        full-scale calibration a 1-kHz tone at −23 LUFS in both channels plays at 77 dB SPL).

    Returns
    -------
    dict
        ``masked_fraction_mean`` (mean over audible tracks, 0…1, lower is better),
        ``masked_fraction``, ``partial_phon``, ``solo_phon`` (lists in track order, ``None``
        for a track quieter than :data:`SILENT_SONE`), ``mix_phon``, ``level_lufs`` and
        ``reference``. Every figure is ``None`` when the mix has no integrated loudness
        (silent, or shorter than 400 ms).

    Examples
    --------
    >>> t = np.arange(44100) / 44100
    >>> tone = 0.1 * np.sin(2 * np.pi * 440 * t)
    >>> m = masking_measure(np.stack([np.stack([tone, tone]), np.zeros((2, 44100))]), 44100)
    >>> m["masked_fraction"]
    [0.0, None]
    """
    x = as_sample_array(stems)
    rate = int(round(check_sample_rate(sample_rate)))
    if x.ndim != 3 or x.shape[1] != 2:
        raise InvalidParameterError(f"stems has shape {x.shape}; expected (tracks, 2, samples)")
    if isinstance(level_lufs, bool) or not isinstance(level_lufs, numbers.Real) or not -70.0 < float(level_lufs) < 0.0:
        raise InvalidParameterError(f"level_lufs={level_lufs!r} must be a loudness between -70 and 0 LUFS")
    tracks = x.shape[0]
    result: dict[str, Any] = {
        "masked_fraction_mean": None,
        "masked_fraction": [None] * tracks,
        "partial_phon": [None] * tracks,
        "solo_phon": [None] * tracks,
        "mix_phon": None,
        "level_lufs": float(level_lufs),
        "reference": MASKING_REFERENCE,
    }
    mix_lufs = integrated_loudness(x.sum(0, dtype=np.float64), rate) if tracks else None
    if mix_lufs is None:
        log.info("masking: the mix is silent or shorter than 400 ms; no figures")
        return result
    power_gain = 10.0 ** ((float(level_lufs) - mix_lufs) / 10.0)
    loud = loudness_in_mix(band_powers(x, rate) * power_gain)
    audible = loud.solo_sone >= SILENT_SONE

    def per_track(values: np.ndarray) -> list[float | None]:
        return [float(v) if ok else None for v, ok in zip(values, audible)]

    fractions = loud.masked_fraction
    result.update(
        masked_fraction_mean=float(fractions[audible].mean()) if audible.any() else None,
        masked_fraction=per_track(fractions),
        partial_phon=per_track(loud.partial_phon),
        solo_phon=per_track(loud.solo_phon),
        mix_phon=loud.mix_phon,
    )
    return result
