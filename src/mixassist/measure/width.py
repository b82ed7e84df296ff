"""Stereo width: the side-to-mid energy ratio in three broad bands, from the Welch spectra.

``10 log10(E_S / E_M)`` with ``M = (L+R)/2``, ``S = (L-R)/2`` integrated from the long-term
spectra of :mod:`mixassist.measure.bands` over :data:`WIDTH_BANDS_HZ`, clipped to
±:data:`WIDTH_LIMIT_DB`.
"""

from __future__ import annotations

import math
import types
from collections.abc import Mapping

import numpy as np

from mixassist.measure import check_sample_rate
from mixassist.measure.bands import MidSideSpectra, band_matrix, mid_side_spectra, power_db
from mixassist.measure.reading import Measured, explain
from mixassist.measure.reasons import as_stereo

__all__ = ["WIDTH_BANDS_HZ", "WIDTH_LIMIT_DB", "width_band_powers", "width_db", "width_with_reason"]

WIDTH_BANDS_HZ: Mapping[str, tuple[float, float]] = types.MappingProxyType(
    {
        "low": (20.0, 250.0),
        "mid": (250.0, 4000.0),
        "high": (4000.0, math.inf),  # up to the Nyquist frequency
    }
)
"""The three broad bands of :func:`width_db`, Hz (lower edge inclusive)."""
WIDTH_LIMIT_DB = 60.0
""":func:`width_db` is clipped to ±60 dB: -60 dB reads "mono" (no side at all), +60 dB "no mid"."""


def width_band_powers(spectra: MidSideSpectra, rate: float) -> tuple[np.ndarray, np.ndarray]:
    """Mean-square power of mid and side in the :data:`WIDTH_BANDS_HZ` bands."""
    lows = np.array([lo for lo, _ in WIDTH_BANDS_HZ.values()])
    highs = np.minimum(np.array([hi for _, hi in WIDTH_BANDS_HZ.values()]), rate / 2.0)
    (mid_f, mid_psd), (side_f, side_psd) = spectra["mid"], spectra["side"]
    return band_matrix(mid_f, lows, highs) @ mid_psd, band_matrix(side_f, lows, highs) @ side_psd


def width_with_reason(mid: np.ndarray, side: np.ndarray) -> Measured:
    """``{band: dB}`` side-to-mid ratio of the band powers (:func:`width_band_powers`), or None for silence."""
    if not (np.any(mid > 0.0) or np.any(side > 0.0)):
        return None, "silent: no mid or side energy"
    # S = 0 (also with M = 0: nothing there) reads the mono floor; M = 0 < S reads the ceiling.
    ratio = np.where(
        side <= 0.0,
        -WIDTH_LIMIT_DB,
        np.where(mid <= 0.0, WIDTH_LIMIT_DB, power_db(side) - power_db(mid)),
    )
    ratio = np.clip(ratio, -WIDTH_LIMIT_DB, WIDTH_LIMIT_DB)
    return {name: float(v) for name, v in zip(WIDTH_BANDS_HZ, ratio)}, None


def width_db(audio: np.ndarray, sample_rate: float) -> dict[str, float] | None:
    """Side-to-mid energy ratio in three broad bands, dB.

    ``10 log10(E_S / E_M)`` with ``M = (L+R)/2``, ``S = (L-R)/2`` integrated from the Welch
    spectra over :data:`WIDTH_BANDS_HZ`: ``"low"`` 20-250 Hz, ``"mid"`` 250 Hz-4 kHz, ``"high"``
    4 kHz-Nyquist. Clipped to ±60 dB (:data:`WIDTH_LIMIT_DB`): a band without side energy (mono,
    or a band with no energy at all) reads -60 dB; a band with side but no mid energy +60 dB.

    Parameters
    ----------
    audio : numpy.ndarray
        Float samples shaped ``(channels, samples)`` (1 or 2 channels) or 1-D mono.
    sample_rate : float
        Sample rate in Hz.

    Returns
    -------
    dict of str to float, or None
        ``{"low": dB, "mid": dB, "high": dB}``: about -60 for mono, 0 for unrelated channels of
        equal level, positive for mostly out-of-phase channels. None for silence.

    Examples
    --------
    >>> import numpy as np
    >>> left = np.random.default_rng(0).standard_normal(48000)
    >>> width_db(left, 48000)  # mono
    {'low': -60.0, 'mid': -60.0, 'high': -60.0}
    """
    rate = check_sample_rate(sample_rate)
    return explain("width_db", width_with_reason(*width_band_powers(mid_side_spectra(as_stereo(audio), rate), rate)))
