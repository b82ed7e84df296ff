"""Band grids and long-term band levels: third-octave bands (IEC 61260) over Welch spectra.

Long-term spectrum: Welch power spectral density, :data:`WELCH_SEGMENT` -point periodic Hann
segments, 50 % overlap, no detrending, one-sided density (integrates to the mean square). Band
power: the spectrum integrated over the band, each FFT bin counted with the fraction of its
width (bin centre ± half a bin) that lies inside the band (:func:`band_matrix`). In dB re
full-scale sine: ``10 log10(2 P)`` (:func:`power_db`), so a full-scale sine inside one band reads
0 dB. Third-octave bands: the 27 nominal centres 40 Hz ... 16 kHz of IEC 61260, edges at
``centre * 2**(±1/6)`` of the *nominal* centre; a band whose upper edge lies above the Nyquist
frequency is out of range (:func:`bands_in_range`).

Mid and side are ``M = (L + R) / 2``, ``S = (L - R) / 2``; a one-channel signal is read as L = R.

References: IEC 61260 (third-octave bands); P. D. Welch, IEEE Trans. Audio Electroacoust. 15(2), 1967.
"""

from __future__ import annotations

import logging
import math
from typing import Literal, cast

import numpy as np

from mixassist.errors import InvalidParameterError
from mixassist.measure import check_sample_rate, welch_psd, welch_psd_read
from mixassist.measure.reasons import as_stereo, loudness_with_reason

__all__ = [
    "BAND_FLOOR_DB",
    "NORMALISATION_LUFS",
    "THIRD_OCTAVE_CENTRES_HZ",
    "WELCH_SEGMENT",
    "MidSide",
    "MidSideSpectra",
    "band_matrix",
    "bands_in_range",
    "check_mid_side",
    "long_term_spectrum",
    "mid_side_spectra",
    "power_db",
    "spectral_tilt_db_per_octave",
    "third_octave_band_db",
    "third_octave_edges",
    "third_octave_powers",
    "welch_spectrum",
]

logger = logging.getLogger(__name__)

THIRD_OCTAVE_CENTRES_HZ = np.array(
    [40, 50, 63, 80, 100, 125, 160, 200, 250, 315, 400, 500, 630, 800, 1000,
     1250, 1600, 2000, 2500, 3150, 4000, 5000, 6300, 8000, 10000, 12500, 16000],
    dtype=float,
)  # fmt: skip
"""Nominal third-octave centres (IEC 61260), Hz; band edges at ``centre * 2**(±1/6)``."""
THIRD_OCTAVE_CENTRES_HZ.flags.writeable = False
WELCH_SEGMENT = 8192
"""Welch segment length in samples (periodic Hann, 50 % overlap); 5.9 Hz bins at 48 kHz.
Shorter audio uses one segment of its length."""
BAND_FLOOR_DB = -120.0
"""Absolute floor of :func:`third_octave_band_db`, dB re full-scale sine: silence reads this."""
NORMALISATION_LUFS = -23.0
"""Integrated loudness (EBU R128) signals are brought to before a level-independent comparison."""

_LONG_TERM_SEGMENT_S = 0.1856  # 8192 samples at 44.1 kHz: 5.4 Hz bins, fine enough for a high-pass corner

MidSide = Literal["mid", "side"]
"""Which of the two signals ``M = (L+R)/2``, ``S = (L-R)/2`` a measure reads."""
MidSideSpectra = dict[str, tuple[np.ndarray, np.ndarray]]
"""``{"mid": (freqs, psd), "side": (freqs, psd)}`` as :func:`mid_side_spectra` returns it."""


def check_mid_side(which: str) -> MidSide:
    """``which`` when it is ``"mid"`` or ``"side"``; otherwise :class:`InvalidParameterError`."""
    if which not in ("mid", "side"):
        raise InvalidParameterError(f"which={which!r}; use 'mid' or 'side'")
    return cast(MidSide, which)


def power_db(power: np.ndarray | float) -> np.ndarray:
    """``10 log10(2 P)``: dB re a full-scale sine (mean square 1/2); P = 0 reads -3000, not -inf."""
    return 10.0 * np.log10(np.maximum(2.0 * np.asarray(power, dtype=np.float64), 1e-300))


def welch_spectrum(signal: np.ndarray, rate: float) -> tuple[np.ndarray, np.ndarray]:
    """One-sided Welch density of a 1-D signal over :data:`WELCH_SEGMENT` segments (integrates to its mean square)."""
    n = signal.shape[-1]
    if n < 2:
        return np.zeros(1), np.zeros(1)
    return welch_psd(signal, rate, min(WELCH_SEGMENT, n))


def band_matrix(freqs: np.ndarray, lows: np.ndarray, highs: np.ndarray) -> np.ndarray:
    """Hz of each bin's width (centre ± half a bin) inside each band, shape ``(bands, bins)``."""
    if freqs.size < 2:
        return np.zeros((lows.size, freqs.size))
    half = 0.5 * (freqs[1] - freqs[0])
    bin_lo = np.maximum(freqs - half, 0.0)
    bin_hi = np.minimum(freqs + half, freqs[-1])
    overlap = np.minimum(highs[:, None], bin_hi[None, :]) - np.maximum(lows[:, None], bin_lo[None, :])
    return np.maximum(overlap, 0.0)


def third_octave_edges() -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper edges of the :data:`THIRD_OCTAVE_CENTRES_HZ` bands, Hz."""
    return THIRD_OCTAVE_CENTRES_HZ * 2.0 ** (-1.0 / 6.0), THIRD_OCTAVE_CENTRES_HZ * 2.0 ** (1.0 / 6.0)


def bands_in_range(rate: float) -> np.ndarray:
    """Mask of the third-octave bands whose upper edge is at or below the Nyquist frequency."""
    return third_octave_edges()[1] <= rate / 2.0


def mid_side_spectra(x: np.ndarray, rate: float) -> MidSideSpectra:
    """Welch spectra ``(freqs, psd)`` of ``M = (L+R)/2`` and ``S = (L-R)/2`` of a ``(2, samples)`` array."""
    return {"mid": welch_spectrum(0.5 * (x[0] + x[1]), rate), "side": welch_spectrum(0.5 * (x[0] - x[1]), rate)}


def third_octave_powers(spectra: MidSideSpectra, rate: float) -> dict[str, np.ndarray]:
    """Mean-square power per third-octave band of mid and side (0 beyond Nyquist)."""
    lows, highs = third_octave_edges()
    out = {}
    for which, (freqs, psd) in spectra.items():
        powers = band_matrix(freqs, lows, highs) @ psd
        powers[~bands_in_range(rate)] = 0.0
        out[which] = powers
    return out


def third_octave_band_db(
    audio: np.ndarray,
    sample_rate: float,
    *,
    which: MidSide = "mid",
    normalise: bool = False,
) -> np.ndarray:
    """Long-term level of the mid or side signal in 27 third-octave bands, 40 Hz ... 16 kHz.

    Welch spectrum of ``M = (L+R)/2`` or ``S = (L-R)/2`` (8192-point periodic Hann, 50 %
    overlap), integrated over each band (edges ``centre * 2**(±1/6)`` of the nominal centres in
    :data:`THIRD_OCTAVE_CENTRES_HZ`, partial bins weighted by their overlap).

    Parameters
    ----------
    audio, sample_rate
        As :func:`mixassist.measure.integrated_loudness` (which also lists the errors raised).
    which : {"mid", "side"}
        Which signal to analyse (another value raises InvalidParameterError). The side of a
        mono signal is silence: every band at the floor.
    normalise : bool
        Scale to :data:`NORMALISATION_LUFS` (-23 LUFS integrated) first. A signal whose loudness
        is undefined (silent, or shorter than 400 ms) is left unscaled.

    Returns
    -------
    numpy.ndarray
        Shape ``(27,)``, band levels in dB re full-scale sine (a full-scale sine inside one band
        reads 0 dB), floored at :data:`BAND_FLOOR_DB` (-120 dB, absolute). Bands whose upper
        edge lies above the Nyquist frequency read the floor.

    Examples
    --------
    >>> import numpy as np
    >>> t = np.arange(48000) / 48000
    >>> bands = third_octave_band_db(np.sin(2 * np.pi * 1000 * t), 48000)
    >>> int(THIRD_OCTAVE_CENTRES_HZ[np.argmax(bands)]), abs(float(bands.max())) < 0.01
    (1000, True)
    """
    which = check_mid_side(which)
    rate = check_sample_rate(sample_rate)
    x = as_stereo(audio)
    powers = third_octave_powers(mid_side_spectra(x, rate), rate)[which]
    if normalise:
        loudness, reason = loudness_with_reason(x, rate)
        if loudness is None:
            logger.debug("third_octave_band_db: not normalised: %s", reason)
        else:
            powers = powers * 10.0 ** ((NORMALISATION_LUFS - loudness) / 10.0)
    return np.maximum(power_db(powers), BAND_FLOOR_DB)


def long_term_spectrum(audio: np.ndarray, sample_rate: int) -> tuple[np.ndarray, np.ndarray]:
    """Welch power spectrum of the mono sum: ``(freqs_hz, power)``, segments of about 0.19 s.

    The float64 mono sum is made a few hundred segments at a time, never for the whole signal
    (the same figures bit for bit: each sample's mean is the same arithmetic)."""
    audio = np.atleast_2d(audio)
    size = audio.shape[-1]
    nper = int(2 ** round(math.log2(_LONG_TERM_SEGMENT_S * sample_rate)))
    nper = max(256, min(nper, size)) if size >= 256 else size
    if nper < 16:
        return np.zeros(1), np.zeros(1)

    def mono(a: int, b: int) -> np.ndarray:
        return cast(np.ndarray, np.mean(audio[:, a:b], axis=0, dtype=np.float64))  # axis=0 of 2-D: an array

    return welch_psd_read(mono, size, sample_rate, nper)


def spectral_tilt_db_per_octave(audio: np.ndarray, sample_rate: int) -> float | None:
    """Least-squares slope of the octave-smoothed long-term spectrum, 100 Hz–10 kHz (dB/octave).

    Per-octave band *power* (so pink noise reads 0 dB/octave, white noise +3 dB/octave);
    commercial mixes typically read about −1 to −3 dB/octave.
    """
    freqs, power = long_term_spectrum(audio, sample_rate)
    top = min(10000.0, 0.45 * sample_rate)
    if power.sum() <= 0 or top <= 200:
        return None
    edges = 100.0 * 2.0 ** np.arange(0, math.log2(top / 100.0) + 1e-9, 1 / 3)
    centres, levels = [], []
    for lo, hi in zip(edges[:-1], edges[1:], strict=False):
        sel = (freqs >= lo) & (freqs < hi)
        if sel.any() and power[sel].sum() > 0:
            # power per octave: band power divided by the band's width in octaves
            levels.append(10 * math.log10(float(power[sel].sum()) / math.log2(hi / lo)))
            centres.append(math.log2(math.sqrt(lo * hi)))
    if len(levels) < 3:
        return None
    slope = float(np.polyfit(np.array(centres), np.array(levels), 1)[0])
    return slope
