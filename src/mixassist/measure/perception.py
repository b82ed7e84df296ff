"""Perceptual loudness of tracks in a mix: a compact Moore–Glasberg model with partial loudness.

The model follows the loudness model of Moore, Glasberg & Baer (1997) [1]_ with the constants
of ANSI S3.4-2007 [2]_, reduced to what a mixer needs: the loudness of each track *as heard in
the mix* — its partial loudness in the presence of all the other tracks — fast enough to be
re-evaluated inside a gain-solving loop.

Pipeline
--------
1. :func:`band_powers` — a Hann STFT (window ``2 * hop``, 50 % overlap) weighted by the
   ANSI S3.4-2007 free-field-to-eardrum and middle-ear transfer functions and summed into
   :data:`ERB_BANDS` triangular bands evenly spaced on the ERB-number (Cam) scale [3]_ from
   30 Hz to 16 kHz. Powers are intensities re 0 dB SPL (``10 ** (L_spl / 10)``), calibrated so
   that a full-scale sine plays at :data:`FULL_SCALE_SINE_SPL_DB` = 100 dB SPL.
2. :func:`excitation_pattern` — each band's power is spread over the bands by the rounded
   exponential (roex) auditory filters of ANSI S3.4-2007 §3.5: the upper skirt is fixed, the
   lower skirt broadens with the level per ERB of the exciting band, so upward spread of
   masking grows with level.
3. :func:`specific_loudness` — MGB97 eq. (3) with the ANSI low-level factor: excitation →
   sone per band.
4. :func:`partial_loudness` — MGB97 eqs. (17) and (18): the specific loudness of a signal in
   the presence of a masker.
5. :func:`loudness_in_mix` — per-track solo and partial loudness at both ears, averaged over
   the frames in which the mix is audible; :func:`masking_measure` wraps it for rendered
   stems (the masked fraction is Wichern et al.'s loudness loss [4]_ as a ratio).

:func:`loudness_in_mix` runs one fused numba kernel (spreading, excitation, solo and partial
loudness per frame, frames in parallel) with vectorisable ``log2``/``exp2`` polynomials; the
numpy functions above are the readable reference it is tested against.

Simplifications relative to ANSI S3.4-2007 / MGB97 (more in ``docs/perception.md``):
spectral components are lumped into 1-ERB bands before spreading (ANSI spreads every FFT
component onto a 0.1-Cam grid), which makes a tone's loudness ripple by about ±7 % with its
position between band centres, and C is rescaled for this grid (see :data:`LOUDNESS_C`); the
high-level (> 100 dB excitation) specific-loudness branch is not used (< 1 % different below
120 dB); frames are fixed 100 ms Hann windows (no multi-resolution FFT, no temporal
integration as in Glasberg & Moore 2002); binaural loudness is the sum of the ears (MGB97, no
binaural inhibition as in Moore & Glasberg 2007); and in a mix the auditory-filter shapes of
every source are set by the whole mix, so excitations add. The equal-loudness contours are
ANSI S3.4-2007's; against ISO 226:2003 they read 3–5 phon louder at 2–4 kHz.

References
----------
.. [1] B. C. J. Moore, B. R. Glasberg, T. Baer, "A model for the prediction of thresholds,
   loudness, and partial loudness", J. Audio Eng. Soc. 45(4), 224–240, 1997.
.. [2] ANSI S3.4-2007, "Procedure for the computation of loudness of steady sounds".
.. [3] B. R. Glasberg, B. C. J. Moore, "Derivation of auditory filter shapes from
   notched-noise data", Hearing Research 47, 103–138, 1990.
.. [4] G. Wichern, H. Robertson, A. Wishnick, "Quantitative analysis of masking in multitrack
   mixes using loudness loss", AES 141st Convention, 2016 (building on Wichern et al.,
   "Comparison of loudness features for automatic level adjustment in mixing", AES 139th
   Convention, 2015).
.. [5] ISO 532-1:2017, "Acoustics — Methods for calculating loudness — Part 1: Zwicker
   method" (loudness level below 1 sone).
"""

from __future__ import annotations

import logging
import math
import numbers
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.fft
import scipy.signal
import scipy.sparse
from numba import njit, prange

from mixassist._bitcast import _bits_f32, _bits_f64, _f32_bits, _f64_bits
from mixassist.errors import InvalidAudioError, InvalidParameterError
from mixassist.measure.loudness import integrated_loudness
from mixassist.measure.validate import MAX_SAMPLE_RATE, MIN_SAMPLE_RATE

__all__ = [
    "CAM_STEP",
    "ERB_BANDS",
    "FULL_SCALE_SINE_SPL_DB",
    "LOUDNESS_C",
    "MASKING_REFERENCE",
    "MIX_GATE_SONE",
    "SILENT_SONE",
    "MixLoudness",
    "phon_to_sone",
    "band_centres_hz",
    "band_matrix",
    "band_powers",
    "ear_transfer_db",
    "excitation_pattern",
    "loudness_in_mix",
    "masking_measure",
    "partial_loudness",
    "sone_to_phon",
    "specific_loudness",
]

log = logging.getLogger(__name__)

# ------------------------------------------------------------------------- the band grid

ERB_BANDS = 40
"""Number of bands: evenly spaced on the ERB-number scale from 30 Hz to 16 kHz (≈ 0.99 Cam apart)."""
_LOW_HZ, _HIGH_HZ = 30.0, 16000.0


def _hz_to_cam(freq_hz: np.ndarray | float) -> np.ndarray:
    """ERB-number (Cam) of a frequency, Glasberg & Moore (1990) eq. 4."""
    return 21.4 * np.log10(4.37e-3 * np.asarray(freq_hz, dtype=np.float64) + 1.0)


def _cam_to_hz(cam: np.ndarray | float) -> np.ndarray:
    return (10.0 ** (np.asarray(cam, dtype=np.float64) / 21.4) - 1.0) / 4.37e-3


def _erb_hz(freq_hz: np.ndarray | float) -> np.ndarray:
    """Equivalent rectangular bandwidth of the auditory filter, Glasberg & Moore (1990) eq. 3."""
    return 24.7 * (4.37e-3 * np.asarray(freq_hz, dtype=np.float64) + 1.0)


_CAMS = np.linspace(float(_hz_to_cam(_LOW_HZ)), float(_hz_to_cam(_HIGH_HZ)), ERB_BANDS)
_CENTRES_HZ = _cam_to_hz(_CAMS)
CAM_STEP = float(_CAMS[1] - _CAMS[0])
"""Band spacing in Cam; specific loudness (sone/Cam) × CAM_STEP = sone per band."""

FULL_SCALE_SINE_SPL_DB = 100.0
"""Calibration: a full-scale sine (mean square 0.5) is taken to play at 100 dB SPL."""
# Band power unit: intensity re 0 dB SPL, 10 ** (L_spl / 10); mean square 0.5 -> 1e10.
_POWER_PER_MEAN_SQUARE = 10.0 ** (FULL_SCALE_SINE_SPL_DB / 10.0) / 0.5

# ------------------------------------------------------------------ outer and middle ear

# ANSI S3.4-2007 tables: frequency (Hz), free-field (frontal incidence) to eardrum transfer
# (dB) and middle-ear transfer (dB). Their sum is 0 dB at 1 kHz.
_OME_HZ = np.array(
    [
        20,
        25,
        31.5,
        40,
        50,
        63,
        80,
        100,
        125,
        160,
        200,
        250,
        315,
        400,
        500,
        630,
        750,
        800,
        1000,
        1250,
        1500,
        1600,
        2000,
        2500,
        3000,
        3150,
        4000,
        5000,
        6000,
        6300,
        8000,
        9000,
        10000,
        11200,
        12500,
        14000,
        15000,
        16000,
        18000,
        20000,
    ],
    float,
)
_FREE_FIELD_DB = np.array(
    [
        0,
        0,
        0,
        0,
        0,
        0,
        0,
        0,
        0.1,
        0.3,
        0.5,
        0.9,
        1.4,
        1.6,
        1.7,
        2.5,
        2.7,
        2.6,
        2.6,
        3.2,
        5.2,
        6.6,
        12,
        16.8,
        15.3,
        15.2,
        14.2,
        10.7,
        7.1,
        6.4,
        1.8,
        -0.9,
        -1.6,
        1.9,
        4.9,
        2,
        -2,
        2.5,
        2.5,
        2.5,
    ],
    float,
)
_MIDDLE_EAR_DB = np.array(
    [
        -39.6,
        -32,
        -25.85,
        -21.4,
        -18.5,
        -15.9,
        -14.1,
        -12.4,
        -11,
        -9.6,
        -8.3,
        -7.4,
        -6.2,
        -4.8,
        -3.8,
        -3.3,
        -2.9,
        -2.6,
        -2.6,
        -4.5,
        -5.4,
        -6.1,
        -8.5,
        -10.4,
        -7.3,
        -7,
        -6.6,
        -7,
        -9.2,
        -10.2,
        -12.2,
        -10.8,
        -10.1,
        -12.7,
        -15,
        -18.2,
        -23.8,
        -32.3,
        -45.5,
        -50,
    ],
    float,
)


def ear_transfer_db(freq_hz: np.ndarray | float) -> np.ndarray:
    """Outer (free field, frontal) plus middle-ear transfer in dB (ANSI S3.4-2007 tables).

    Linear in dB against log frequency between the tabulated points; the end values are held
    below 20 Hz and above 20 kHz. 0 dB at 1 kHz.
    """
    logf = np.log10(np.maximum(np.asarray(freq_hz, dtype=np.float64), 1.0))
    return np.interp(logf, np.log10(_OME_HZ), _FREE_FIELD_DB + _MIDDLE_EAR_DB)


# ------------------------------------------------------------- loudness model constants

_C_ANSI = 0.046871  # ANSI S3.4-2007 (its 0.1-Cam grid): diotic 40 dB SPL at 1 kHz = 1 sone
_ETHRQ_HIGH_DB = 3.73  # excitation at absolute threshold, >= 500 Hz (ANSI S3.4-2007)
# Excitation at threshold below 500 Hz (ANSI S3.4-2007): the cochlear amplifier's gain falls.
_ETHRQ_HZ = np.array([50, 63, 80, 100, 125, 160, 200, 250, 315, 400, 500], float)
_ETHRQ_DB = np.array([28.18, 23.90, 19.20, 15.68, 12.67, 10.09, 8.08, 6.30, 5.30, 4.50, 3.73])
# alpha and A against the low-frequency gain G (dB re 500 Hz), ANSI S3.4-2007, sampled every
# 5 dB; G = 0 gives alpha = 0.2 and A = 2 E_THRQ = 4.72.
_G_DB = np.array([-25.0, -20.0, -15.0, -10.0, -5.0, 0.0])
_ALPHA_OF_G = np.array([0.2668, 0.2507, 0.2360, 0.2226, 0.2107, 0.2000])
_A_OF_G = np.array([9.003, 7.716, 6.766, 5.922, 5.250, 4.721])
# K (dB): signal-to-masker ratio at the output of the auditory filter at masked threshold,
# MGB97 (their fig. 9); -3 dB from 1 kHz up.
_K_HZ = np.array([50, 63, 80, 100, 125, 160, 200, 250, 315, 400, 500, 630, 800, 1000], float)
_K_DB = np.array([13.5, 10.0, 7.1, 4.9, 3.1, 1.5, 0.4, -0.5, -1.3, -1.9, -2.3, -2.7, -2.9, -3.0])


def _band_constants() -> dict[str, np.ndarray]:
    logf = np.log10(np.clip(_CENTRES_HZ, 50.0, None))
    ethrq_db = np.interp(logf, np.log10(_ETHRQ_HZ), _ETHRQ_DB)  # 3.73 dB held above 500 Hz
    g_db = _ETHRQ_HIGH_DB - ethrq_db
    alpha = np.interp(g_db, _G_DB, _ALPHA_OF_G)
    a = np.interp(g_db, _G_DB, _A_OF_G)
    ethrq = 10.0 ** (ethrq_db / 10.0)
    g = 10.0 ** (g_db / 10.0)
    return {
        "ethrq": ethrq,
        "g": g,
        "alpha": alpha,
        "a": a,
        "k": 10.0 ** (np.interp(logf, np.log10(_K_HZ), _K_DB) / 10.0),
        "a_alpha": a**alpha,  # A^alpha
        "thr_alpha": (ethrq * g + a) ** alpha,  # (G E_THRQ + A)^alpha
    }


_BAND = _band_constants()

# ----------------------------------------------------------------- auditory-filter shapes

_P51_1K = 4.0 * 1000.0 / float(_erb_hz(1000.0))  # roex p of the 1-kHz filter at 51 dB/ERB
_PU = 4.0 * _CENTRES_HZ / _erb_hz(_CENTRES_HZ)  # upper-skirt p, level independent
_PL_PER_DB = 0.35 * _PU / _P51_1K  # fall of the lower-skirt p per dB above 51 dB/ERB
_P_MIN = 0.1  # ANSI floor on the lower-skirt p at very high levels
_PG_MAX = 40.0  # (1 + pg) exp(-pg) < 2e-16 beyond: cut there (no subnormal arithmetic)


def _roex(p: np.ndarray, g: np.ndarray) -> np.ndarray:
    """Rounded exponential filter weight ``(1 + p g) exp(-p g)`` for ``g >= 0``, with ``p g <= 40``."""
    pg = np.minimum(p * g, _PG_MAX)
    return (1.0 + pg) * np.exp(-pg)


# _DEV[i, j]: deviation of band i from the centre of filter j, relative to the filter centre.
_DEV = (_CENTRES_HZ[:, None] - _CENTRES_HZ[None, :]) / _CENTRES_HZ[None, :]
_LOWER = _DEV < 0.0  # band i below filter j's centre: lower skirt, level dependent
_ABS_DEV = np.abs(_DEV)
_W_UPPER = np.where(_LOWER, 0.0, _roex(_PU[None, :], np.maximum(_DEV, 0.0)))
# Level per ERB at band i (ANSI §3.5): power through a level-independent roex centred on i.
_W_LEVEL = _roex(_PU[None, :], _ABS_DEV)  # [k, i]


def _check_bands(array: np.ndarray, name: str) -> None:
    if array.ndim < 1 or array.shape[-1] != ERB_BANDS:
        raise InvalidParameterError(f"{name} has shape {array.shape}; its last axis must be the {ERB_BANDS} bands")


def _spreading(shape_powers: np.ndarray) -> np.ndarray:
    """Spreading matrices ``W[..., i, j]``: excitation at band j per unit power in band i.

    Lower skirt of filter j (bands i below its centre): ANSI S3.4-2007 §3.5
    ``p_l = p_u(j) − 0.35 p_u(j) / p_51,1k · (X_i − 51)``, floored at 0.1, with ``X_i`` the
    level per ERB (dB) at band i of ``shape_powers``; upper skirt ``p_u = 4 f_j / ERB(f_j)``.
    """
    level = np.asarray(shape_powers, dtype=np.float64) @ _W_LEVEL
    level_db = 10.0 * np.log10(np.maximum(level, 1e-10))
    p_low = np.maximum(_PU - _PL_PER_DB * (level_db[..., :, None] - 51.0), _P_MIN)
    return np.where(_LOWER, _roex(p_low, _ABS_DEV), _W_UPPER)


def excitation_pattern(band_powers: np.ndarray, *, shape_powers: np.ndarray | None = None) -> np.ndarray:
    """Excitation per band: band powers spread by level-dependent roex auditory filters.

    ``E_j = sum_i P_i W_ij`` with ``W`` the roex(p) filter of ANSI S3.4-2007 §3.5 centred on
    band j, evaluated at band i: ``W = (1 + p g) exp(-p g)``, ``g = |f_i − f_j| / f_j``. The
    lower skirt's ``p`` falls as the level per ERB at band i rises (more upward spread of
    masking at high levels); the upper skirt is fixed.

    Parameters
    ----------
    band_powers : numpy.ndarray
        ``(..., bands)`` band powers from :func:`band_powers` (one ear), non-negative.
    shape_powers : numpy.ndarray, optional
        Band powers that set the filter shapes (default ``band_powers``), broadcastable to
        ``band_powers``. In a mix the filters are set by the whole mix, so the excitations of
        several sources add; pass the mix here.

    Returns
    -------
    numpy.ndarray
        ``(..., bands)`` float64 excitation, intensity re 0 dB SPL.

    Examples
    --------
    >>> p = np.zeros(ERB_BANDS); p[10] = 1e8                       # an 80-dB band at 525 Hz
    >>> e = 10 * np.log10(excitation_pattern(p)[[8, 12]])      # 2 bands below and above
    >>> bool(e[1] > e[0])                                      # upward spread is wider
    True
    """
    p = np.maximum(np.asarray(band_powers, dtype=np.float64), 0.0)
    _check_bands(p, "band_powers")
    shape = p if shape_powers is None else np.broadcast_to(np.asarray(shape_powers, dtype=np.float64), p.shape)
    return np.matmul(p[..., None, :], _spreading(shape))[..., 0, :]


# ----------------------------------------------------------------- specific loudness


def _specific(e: np.ndarray) -> np.ndarray:
    """MGB97 eq. (3) with the ANSI low-level factor, sone/Cam (before C)."""
    b = _BAND
    n = (e * b["g"] + b["a"]) ** b["alpha"] - b["a_alpha"]
    r = np.minimum(2.0 * e / (e + b["ethrq"]), 1.0)  # >= 1 exactly when E >= E_THRQ
    return n * r * np.sqrt(r)


def _ideal_tone_loudness(freq_hz: float, level_db: float, c: float) -> float:
    """Monaural loudness of a pure tone whose power falls on the band grid as band_powers puts it."""
    tri = np.maximum(0.0, 1.0 - np.abs(float(_hz_to_cam(freq_hz)) - _CAMS) / CAM_STEP)
    power = tri * 10.0 ** ((level_db + float(ear_transfer_db(freq_hz))) / 10.0)
    return float(c * CAM_STEP * _specific(excitation_pattern(power)).sum())


def _calibrated_c() -> float:
    # ANSI's C makes a diotic 40-dB 1-kHz tone 1 sone on its fine grid. Our 1-ERB bands make a
    # tone's excitation slightly broader (louder, with a ±7 % ripple over its position between
    # band centres), so C is rescaled to give 1 sone on average over one band spacing at 1 kHz.
    cams = float(_hz_to_cam(1000.0)) + CAM_STEP * (np.arange(32) + 0.5) / 32 - CAM_STEP / 2
    mean = np.mean([2.0 * _ideal_tone_loudness(float(_cam_to_hz(c)), 40.0, _C_ANSI) for c in cams])
    return _C_ANSI / float(mean)


LOUDNESS_C = _calibrated_c()
"""Specific-loudness constant C (sone/Cam): ANSI S3.4-2007's 0.046871 rescaled for the 1-ERB band
grid so that a diotic 1-kHz tone at 40 dB SPL is 1 sone (binaural = sum of the two ears)."""
_SCALE = LOUDNESS_C * CAM_STEP


def specific_loudness(excitation: np.ndarray) -> np.ndarray:
    """Specific loudness per band of an excitation pattern, sone per band (one ear).

    MGB97 eq. (3) with the ANSI S3.4-2007 low-level factor::

        N' = C [(G E + A)^α − A^α]                              E >= E_THRQ
        N' = C (2E / (E + E_THRQ))^1.5 [(G E + A)^α − A^α]       E <  E_THRQ

    with C = :data:`LOUDNESS_C`, E_THRQ = 3.73 dB above 500 Hz (rising to 28 dB at 50 Hz),
    G = E_THRQ(500 Hz) / E_THRQ(f) the low-frequency cochlear gain, α = 0.2 and A = 4.72
    above 500 Hz (α up to 0.267 and A up to 9.0 at 50 Hz), then multiplied by
    :data:`CAM_STEP` so that the sum over bands is the loudness in sone.

    Parameters
    ----------
    excitation : numpy.ndarray
        ``(..., bands)`` excitation from :func:`excitation_pattern`, non-negative.

    Returns
    -------
    numpy.ndarray
        ``(..., bands)`` float64, sone; exactly 0 where the excitation is 0.

    Examples
    --------
    >>> e = np.zeros(ERB_BANDS); e[15] = 1e4        # a 40-dB excitation at 1.05 kHz
    >>> round(float(specific_loudness(e)[15] / CAM_STEP / LOUDNESS_C), 2)   # (1e4 + 4.72)^0.2 - 4.72^0.2
    4.95
    """
    e = np.maximum(np.asarray(excitation, dtype=np.float64), 0.0)
    _check_bands(e, "excitation")
    return _SCALE * _specific(e)


def _partial(e_sig: np.ndarray, e_noise: np.ndarray) -> np.ndarray:
    """MGB97 eqs. (17)/(18), sone/Cam before C."""
    b = _BAND
    g, a, alpha = b["g"], b["a"], b["alpha"]
    ethrn = e_noise * b["k"] + b["ethrq"]  # E_THRN = K E_NOISE + E_THRQ
    t_tot = ((e_sig + e_noise) * g + a) ** alpha
    t_thrn = ((e_noise + ethrn) * g + a) ** alpha  # [(E_NOISE (1 + K) + E_THRQ) G + A]^α
    t_noise = (e_noise * g + a) ** alpha
    high = e_sig >= ethrn
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(high, ethrn / np.where(high, e_sig, 1.0), 0.0) ** 0.3
    n_high = (t_tot - b["a_alpha"]) - (t_thrn - b["thr_alpha"]) * ratio
    s = 2.0 * e_sig / (e_sig + ethrn)
    n_low = s * np.sqrt(s) * (b["thr_alpha"] - b["a_alpha"]) * (t_tot - t_noise) / (t_thrn - t_noise)
    return np.maximum(np.where(high, n_high, n_low), 0.0)


def partial_loudness(signal: np.ndarray, masker: np.ndarray) -> np.ndarray:
    """Partial loudness per frame of ``signal`` heard in the presence of ``masker`` (one ear), sone.

    Both are band powers at the same ear. Their excitation patterns are computed with the
    auditory-filter shapes set by ``signal + masker`` (:func:`excitation_pattern`), then MGB97
    eqs. (17)–(18) give the signal's specific partial loudness::

        E_THRN = K E_N + E_THRQ                  (masked threshold; K = −3 dB from 1 kHz up)
        E_S >= E_THRN:  N' = C{[(E_S + E_N)G + A]^α − A^α}
                             − C{[(E_N(1 + K) + E_THRQ)G + A]^α − (E_THRQ G + A)^α} (E_THRN/E_S)^0.3
        E_S <  E_THRN:  N' = C (2E_S/(E_S + E_THRN))^1.5
                             · [(E_THRQ G + A)^α − A^α] / {[(E_N(1 + K) + E_THRQ)G + A]^α − (E_N G + A)^α}
                             · {[(E_S + E_N)G + A]^α − (E_N G + A)^α}

    This form, not the loudness increment ``N'(s + m) − N'(m)``, is used because MGB97 fitted
    it to masked-threshold and partial-loudness data: the increment form grossly underrates a
    signal well above its masked threshold (two equal excitations would leave each only 15 %
    of its solo loudness). Without a masker both branches reduce exactly to
    :func:`specific_loudness`, and they join continuously at ``E_S = E_THRN``.

    Parameters
    ----------
    signal, masker : numpy.ndarray
        ``(..., frames, bands)`` band powers (:func:`band_powers` of each, at one ear),
        broadcastable to each other.

    Returns
    -------
    numpy.ndarray
        ``(..., frames)`` float64, sone.

    Examples
    --------
    >>> s = np.zeros((1, ERB_BANDS)); s[0, 15] = 1e6            # a 60-dB band at 1.05 kHz
    >>> alone = partial_loudness(s, np.zeros_like(s))[0]
    >>> masked = partial_loudness(s, np.full_like(s, 1e6))[0]    # a 60-dB-per-band noise
    >>> bool(0.0 < masked < 0.5 * alone)
    True
    """
    sig = np.maximum(np.asarray(signal, dtype=np.float64), 0.0)
    mask = np.maximum(np.asarray(masker, dtype=np.float64), 0.0)
    _check_bands(sig, "signal")
    _check_bands(mask, "masker")
    sig, mask = np.broadcast_arrays(sig, mask)
    w = _spreading(sig + mask)
    e_sig = np.matmul(sig[..., None, :], w)[..., 0, :]
    e_noise = np.matmul(mask[..., None, :], w)[..., 0, :]
    return _SCALE * _partial(e_sig, e_noise).sum(-1)


def sone_to_phon(loudness_sone: np.ndarray | float) -> np.ndarray:
    """Loudness level in phon: ``40 + 10 log2(N)`` from 1 sone up, ``40 (N + 0.0005)^0.35`` below.

    The low-level branch is ISO 532-1:2017's; it joins the power law at 1 sone and stays
    finite at 0 (≈ 2.8 phon; anything under ~3 phon is inaudible). Never ``-inf``/``NaN`` for
    non-negative input.

    Examples
    --------
    >>> sone_to_phon([0.0, 1.0, 2.0]).round(1).tolist()
    [2.8, 40.0, 50.0]
    """
    n = np.maximum(np.asarray(loudness_sone, dtype=np.float64), 0.0)
    return np.where(n >= 1.0, 40.0 + 10.0 * np.log2(np.maximum(n, 1.0)), 40.0 * (n + 0.0005) ** 0.35)


# ------------------------------------------------------------------ fused numba kernel
#
# loudness_in_mix runs here. Per frame (frames in parallel) and ear: the mix's level per ERB,
# the spreading matrix and the mix's excitation and loudness in float64; every track's
# excitation as one float32 matrix product (BLAS); then each track's solo and partial specific
# loudness in float32 with short log2/exp2 polynomials (relative error < 1e-6) that LLVM
# vectorises. Same formulas as the numpy reference above (_spreading, _specific, _partial).
# fast-math is limited to reassociation, contraction, reciprocal and signed-zero freedom: it
# lets the band sums and polynomials vectorise and use FMAs; NaN/Inf semantics are kept.


_FAST = {"reassoc", "contract", "arcp", "nsz"}
_INLINE = dict(inline="always", nogil=True, error_model="numpy", fastmath=_FAST)
_LN2 = math.log(2.0)
_LOG2E = 1.0 / _LN2
_DB_PER_LOG2 = 10.0 * math.log10(2.0)

# float64 (spreading, once per frame and ear)
_MANT64 = (1 << 52) - 1
_ONE64 = 1023 << 52


@njit(**_INLINE)
def _log2(x):
    """log2 of a positive normal float64 (abs. error < 1e-9); branch-free, so loops vectorise."""
    bits = _f64_bits(x)
    m = _bits_f64((bits & _MANT64) | _ONE64)  # mantissa in [1, 2)
    big = m > 1.4142135623730951
    e = float((bits >> 52) - 1023) + (1.0 if big else 0.0)
    m = m * (0.5 if big else 1.0)  # in [sqrt(1/2), sqrt(2)]
    z = (m - 1.0) / (m + 1.0)  # ln m = 2 atanh z, |z| <= 0.1716
    z2 = z * z
    q = 1.0 + z2 * (1.0 / 3.0 + z2 * (1.0 / 5.0 + z2 * (1.0 / 7.0 + z2 * (1.0 / 9.0 + z2 * (1.0 / 11.0)))))
    return e + 2.0 * _LOG2E * z * q


@njit(**_INLINE)
def _exp2(t):
    """2**t of a float64, t clamped to [-1000, 1000] (rel. error < 1e-12); branch-free."""
    t = min(max(t, -1000.0), 1000.0)
    n = np.floor(t + 0.5)
    r = (t - n) * _LN2  # |r| <= ln2 / 2
    q = 1.0 + r * (
        1.0
        + r
        * (
            1.0 / 2.0
            + r
            * (
                1.0 / 6.0
                + r
                * (
                    1.0 / 24.0
                    + r
                    * (
                        1.0 / 120.0
                        + r * (1.0 / 720.0 + r * (1.0 / 5040.0 + r * (1.0 / 40320.0 + r * (1.0 / 362880.0))))
                    )
                )
            )
        )
    )
    return q * _bits_f64((np.int64(n) + 1023) << 52)


@njit(**_INLINE)
def _pow(x, a):
    """x**a, float64, positive normal x."""
    return _exp2(a * _log2(x))


# float32 (per track, band and frame). Every constant is a float32 so nothing is promoted.
_F = np.float32
_F0, _F1, _F2, _FHALF = _F(0.0), _F(1.0), _F(2.0), _F(0.5)
_F_SQRT2, _F_2LOG2E, _F_LN2 = _F(math.sqrt(2.0)), _F(2.0 / _LN2), _F(_LN2)
_F_C3, _F_C5, _F_C7, _F_C9 = _F(1 / 3), _F(1 / 5), _F(1 / 7), _F(1 / 9)
_F_E2, _F_E3, _F_E4, _F_E5, _F_E6, _F_E7 = _F(1 / 2), _F(1 / 6), _F(1 / 24), _F(1 / 120), _F(1 / 720), _F(1 / 5040)
_F_TMIN, _F_TMAX = _F(-126.0), _F(127.0)
_F_03 = _F(0.3)
_F_TINY = _F(1e-20)  # float32 powers/ratios below this are 0: no subnormal arithmetic
_I23, _I127 = np.int32(23), np.int32(127)
_MANT32, _ONE32 = np.int32((1 << 23) - 1), np.int32(127 << 23)


@njit(**_INLINE)
def _log2f(x):
    """log2 of a positive normal float32 (abs. error < 2e-7); branch-free."""
    bits = _f32_bits(x)
    m = _bits_f32((bits & _MANT32) | _ONE32)
    big = m > _F_SQRT2
    e = np.float32((bits >> _I23) - _I127) + (_F1 if big else _F0)
    m = m * (_FHALF if big else _F1)
    z = (m - _F1) / (m + _F1)
    z2 = z * z
    q = _F1 + z2 * (_F_C3 + z2 * (_F_C5 + z2 * (_F_C7 + z2 * _F_C9)))
    return e + _F_2LOG2E * z * q


@njit(**_INLINE)
def _exp2f(t):
    """2**t of a float32, t clamped to [-126, 127] (rel. error < 3e-7); branch-free."""
    t = min(max(t, _F_TMIN), _F_TMAX)
    n = np.floor(t + _FHALF)
    r = (t - n) * _F_LN2
    q = _F1 + r * (_F1 + r * (_F_E2 + r * (_F_E3 + r * (_F_E4 + r * (_F_E5 + r * (_F_E6 + r * _F_E7))))))
    return q * _bits_f32(np.int32((np.int32(n) + _I127) << _I23))


@njit(**_INLINE)
def _powf(x, a):
    """x**a, float32, positive normal x (rel. error < 5e-7)."""
    return _exp2f(a * _log2f(x))


@njit(parallel=True, cache=True, nogil=True, error_model="numpy", fastmath=_FAST)
def _mix_kernel(p, w_upper, w_level, abs_dev, c64, c32, solo, partial, mix):  # pragma: no cover - compiled
    """``p`` ``(tracks, ears, frames, bands)`` float64 → ``solo``/``partial`` ``(tracks, frames)`` and
    ``mix`` ``(frames,)``, accumulated over ears and bands, sone/Cam before C.

    Rows of ``c64``/``c32``: G, A, α, E_THRQ, K, A^α, (G E_THRQ + A)^α, p_u, dp_l/dB.
    """
    tracks, ears, frames, nb = p.shape
    for f in prange(frames):
        tot = np.empty(nb)
        level = np.empty(nb)
        w = np.empty((nb, nb))
        w32 = np.empty((nb, nb), dtype=np.float32)
        e_tot = np.empty(nb)
        fr32 = np.empty((2, nb), dtype=np.float32)  # E_mix, (G E_mix + A)^α
        own = np.empty((tracks, nb), dtype=np.float32)
        e_own = np.empty((tracks, nb), dtype=np.float32)
        active = np.empty(tracks, dtype=np.bool_)
        for ear in range(ears):
            for j in range(nb):
                tot[j] = 0.0
            for t in range(tracks):
                on = False
                for j in range(nb):
                    v = p[t, ear, f, j]
                    tot[j] += v
                    v32 = np.float32(v)
                    own[t, j] = v32 if v32 > _F_TINY else _F0
                    on = on or v32 > _F_TINY
                active[t] = on
            peak = 0.0
            for j in range(nb):
                peak = max(peak, tot[j])
            if peak <= 0.0:
                continue
            # Spreading matrix w[i, j] (ANSI S3.4-2007 §3.5): level per ERB at each band ...
            for i in range(nb):
                s = 0.0
                for kk in range(nb):
                    s += tot[kk] * w_level[kk, i]
                level[i] = _DB_PER_LOG2 * _log2(max(s, 1e-10)) - 51.0
            # ... sets the lower skirt of the filters above band i; the upper skirt is fixed.
            for i in range(nb):
                d = level[i]
                for j in range(i + 1):
                    w[i, j] = w_upper[i, j]
                for j in range(i + 1, nb):
                    pl = max(c64[7, j] - c64[8, j] * d, 0.1)
                    pg = min(pl * abs_dev[i, j], 40.0)
                    w[i, j] = (1.0 + pg) * _exp2(-pg * _LOG2E)
                for j in range(nb):
                    w32[i, j] = np.float32(w[i, j])
            for j in range(nb):
                e_tot[j] = 0.0
            for i in range(nb):
                ti = tot[i]
                for j in range(nb):
                    e_tot[j] += ti * w[i, j]
            m = 0.0
            for j in range(nb):  # the mix: MGB97 eq. 3
                et = e_tot[j]
                tt = _pow(et * c64[0, j] + c64[1, j], c64[2, j])
                r = min(2.0 * et / (et + c64[3, j]), 1.0)
                m += (tt - c64[5, j]) * r * math.sqrt(r)
            mix[f] += m
            np.dot(own, w32, e_own)
            # The mix's excitation again in float32, as the sum of the tracks' excitations: where
            # only one track excites a band, E_mix − E_track is then exactly 0 (no masker).
            for j in range(nb):
                fr32[0, j] = _F0
            for t in range(tracks):
                for j in range(nb):
                    fr32[0, j] += e_own[t, j]
            for j in range(nb):
                fr32[1, j] = _powf(fr32[0, j] * c32[0, j] + c32[1, j], c32[2, j])
            for t in range(tracks):
                if not active[t]:
                    continue
                s_solo = _F0
                s_part = _F0
                for j in range(nb):
                    es = e_own[t, j]
                    es = es if es > _F_TINY else _F0
                    g = c32[0, j]
                    a = c32[1, j]
                    al = c32[2, j]
                    eq = c32[3, j]
                    aa = c32[5, j]
                    ta = c32[6, j]
                    tt = fr32[1, j]
                    # solo: MGB97 eq. 3
                    r = min(_F2 * es / (es + eq), _F1)
                    r = r if r > _F_TINY else _F0
                    n_solo = (_powf(es * g + a, al) - aa) * r * math.sqrt(r)
                    s_solo += n_solo
                    # partial: MGB97 eqs. 17 (E_S >= E_THRN) and 18
                    en = max(fr32[0, j] - es, _F0)
                    ethrn = en * c32[4, j] + eq
                    t_thrn = _powf((en + ethrn) * g + a, al)
                    high = es >= ethrn
                    base = ethrn / max(es, _F_TINY) if high else en * g + a
                    rr = _powf(base, _F_03 if high else al)  # (E_THRN/E_S)^0.3 or (E_N G + A)^α
                    n_high = (tt - aa) - (t_thrn - ta) * rr
                    sv = _F2 * es / (es + ethrn)
                    sv = sv if sv > _F_TINY else _F0
                    n_low = sv * math.sqrt(sv) * (ta - aa) * (tt - rr) / (t_thrn - rr)
                    n_part = max(n_high if high else n_low, _F0)
                    s_part += n_part if en > _F0 else n_solo  # no masker: eqs. 17/18 reduce to eq. 3
                solo[t, f] += s_solo
                partial[t, f] += s_part


def _kernel_constants() -> np.ndarray:
    b = _BAND
    rows = [b["g"], b["a"], b["alpha"], b["ethrq"], b["k"], b["a_alpha"], b["thr_alpha"], _PU, _PL_PER_DB]
    return np.ascontiguousarray(np.stack(rows))


_C64 = _kernel_constants()
_KERNEL_ARGS = (
    np.ascontiguousarray(_W_UPPER),
    np.ascontiguousarray(_W_LEVEL),
    np.ascontiguousarray(_ABS_DEV),
    _C64,
    _C64.astype(np.float32),
)

# ------------------------------------------------------------------------ in the mix

MIX_GATE_SONE = 0.01
"""A frame counts in the time averages of :func:`loudness_in_mix` when the mix's loudness (both
ears) exceeds this (≈ 8 phon): digital silence and inaudible noise floors are left out."""
SILENT_SONE = 1e-3
"""A track whose average solo loudness is below this (less than a 1-kHz tone at the threshold
of hearing, ≈ 0.004 sone in this model) is reported as silent by :func:`masking_measure`."""


def phon_to_sone(loudness_phon) -> np.ndarray:
    """Inverse of :func:`sone_to_phon` (``None`` reads as silence): sone from phon."""
    p = np.array([0.0 if v is None else float(v) for v in np.atleast_1d(np.asarray(loudness_phon, dtype=object))])
    low = np.maximum(p / 40.0, 0.0) ** (1 / 0.35) - 0.0005
    return np.where(p >= 40.0, 2.0 ** ((p - 40.0) / 10.0), np.maximum(low, 0.0))


@dataclass(frozen=True, eq=False)  # arrays inside: no element-wise __eq__ surprises
class MixLoudness:
    """Loudness of every track alone and in the mix (see :func:`loudness_in_mix`).

    Attributes
    ----------
    solo_sone : numpy.ndarray
        ``(tracks,)`` each track's loudness without the others (both ears summed), sone.
    partial_sone : numpy.ndarray
        ``(tracks,)`` each track's partial loudness in the mix, sone.
    mix_sone : float
        The whole mix's loudness, sone.
    active_frames : int
        Number of frames averaged over (those in which the mix exceeds :data:`MIX_GATE_SONE`).
    """

    solo_sone: np.ndarray
    partial_sone: np.ndarray
    mix_sone: float
    active_frames: int

    @property
    def solo_phon(self) -> np.ndarray:
        """``(tracks,)`` loudness level alone, phon (:func:`sone_to_phon`)."""
        return sone_to_phon(self.solo_sone)

    @property
    def partial_phon(self) -> np.ndarray:
        """``(tracks,)`` loudness level in the mix, phon."""
        return sone_to_phon(self.partial_sone)

    @property
    def mix_phon(self) -> float:
        """The mix's loudness level, phon."""
        return float(sone_to_phon(self.mix_sone))

    @property
    def masked_fraction(self) -> np.ndarray:
        """``(tracks,)`` ``1 − partial / solo`` in 0…1, the share of a track's loudness that the
        rest of the mix masks (Wichern et al.'s loudness loss as a ratio); 0 for a silent track."""
        solo = self.solo_sone
        frac = 1.0 - self.partial_sone / np.where(solo > 0.0, solo, 1.0)
        return np.where(solo > 0.0, np.clip(frac, 0.0, 1.0), 0.0)

    def __repr__(self) -> str:
        return (
            f"MixLoudness(tracks={len(self.solo_sone)}, mix_sone={self.mix_sone:.3g}, "
            f"active_frames={self.active_frames}, "
            f"masked_fraction={np.round(self.masked_fraction, 3).tolist()})"
        )


def loudness_in_mix(placed: np.ndarray) -> MixLoudness:
    """Solo and partial loudness of every track of a mix, from band powers at each ear.

    For track ``i`` at each ear the masker is the incoherent power sum of the other tracks. The
    auditory-filter shapes are set by the mix, so excitations add and the masker's excitation
    is ``E(mix) − E(track i)``: O(tracks) work, not O(tracks²). Partial loudness is MGB97
    eqs. (17)–(18) (:func:`partial_loudness`), solo loudness eq. (3)
    (:func:`specific_loudness`), both with the mix's filter shapes, so ``partial <= solo``
    compares like with like. The two ears are summed (binaural loudness = sum of the monaural
    loudnesses, MGB97): a 1-kHz tone at 40 dB SPL at both ears is 1 sone.

    Time averaging: each frame (100 ms Hann at the default hop) approximates short-term
    loudness; the reported values are arithmetic means over the frames in which the mix is
    louder than :data:`MIX_GATE_SONE`. Hence ``masked_fraction = Σ_t (solo_t − partial_t) /
    Σ_t solo_t``: a solo-loudness-weighted mean of the per-frame loss in which frames where the
    track is silent do not count.

    Parameters
    ----------
    placed : numpy.ndarray
        ``(tracks, 2, frames, bands)`` band powers of each track as it arrives at each ear
        (:func:`band_powers` × pan gain² × EQ power gain per band), non-negative and finite.

    Returns
    -------
    MixLoudness

    Raises
    ------
    InvalidParameterError
        Wrong shape, or negative or non-finite powers.

    Notes
    -----
    One fused numba kernel, frames in parallel: 64 tracks × 600 frames × 40 bands take a few
    milliseconds (see ``docs/perception.md``). The first call in a fresh environment compiles
    it (cached on disk afterwards).

    Examples
    --------
    >>> p = np.zeros((2, 2, 10, ERB_BANDS)); p[:, :, :, 15] = 1e6    # two equal 60-dB bands
    >>> m = loudness_in_mix(p)
    >>> m.active_frames, bool(0.3 < m.masked_fraction[0] < 0.9)
    (10, True)
    """
    p = np.ascontiguousarray(placed, dtype=np.float64)
    if p.ndim != 4 or p.shape[1] != 2 or p.shape[-1] != ERB_BANDS:
        raise InvalidParameterError(f"placed has shape {p.shape}; expected (tracks, 2 ears, frames, {ERB_BANDS} bands)")
    tracks, _, frames, _ = p.shape
    if p.size:
        total = float(np.sum(p))
        if not math.isfinite(total) or float(p.min()) < 0.0:
            raise InvalidParameterError("placed band powers must be finite and non-negative")
    solo = np.zeros((tracks, frames))
    partial = np.zeros((tracks, frames))
    mix = np.zeros(frames)
    if p.size:
        _mix_kernel(p, *_KERNEL_ARGS, solo, partial, mix)
    solo *= _SCALE
    partial *= _SCALE
    mix *= _SCALE
    active = mix > MIX_GATE_SONE
    count = int(active.sum())
    if count == 0:
        return MixLoudness(np.zeros(tracks), np.zeros(tracks), 0.0, 0)
    return MixLoudness(
        solo_sone=solo[:, active].mean(1),
        partial_sone=partial[:, active].mean(1),
        mix_sone=float(mix[active].mean()),
        active_frames=count,
    )


# ----------------------------------------------------------------------- band powers

_BLOCK_FRAMES = 256  # STFT frames per block in band_powers: bounds memory for long audio
_MAX_ABS_SAMPLE = 1e100


def band_centres_hz(sample_rate: int) -> np.ndarray:
    """Centre frequencies of the :data:`ERB_BANDS` bands.

    The grid is the same at every sample rate, so a band index means the same frequency
    everywhere (the loudness constants are per band). Bands above the Nyquist frequency
    ``sample_rate / 2`` are kept and read zero power (the top band's filter reaches 17.9 kHz).

    Parameters
    ----------
    sample_rate : int
        Hz, 8000–384000.

    Returns
    -------
    numpy.ndarray
        ``(ERB_BANDS,)`` float64, Hz, ascending from 30 Hz to 16 kHz, evenly spaced in
        ERB-number (Glasberg & Moore 1990).

    Examples
    --------
    >>> c = band_centres_hz(44100)
    >>> c.shape, round(float(c[0])), round(float(c[-1]))
    ((40,), 30, 16000)
    """
    _check_sample_rate(sample_rate)
    return _CENTRES_HZ.copy()


def _check_sample_rate(sample_rate: Any) -> int:
    if isinstance(sample_rate, bool) or not isinstance(sample_rate, numbers.Real):
        raise InvalidParameterError(f"sample_rate={sample_rate!r} is not a number; pass the rate in Hz, e.g. 48000")
    if not math.isfinite(float(sample_rate)) or not MIN_SAMPLE_RATE <= float(sample_rate) <= MAX_SAMPLE_RATE:
        raise InvalidAudioError(
            f"sample_rate={sample_rate!r} Hz is outside {MIN_SAMPLE_RATE}-{MAX_SAMPLE_RATE} Hz; resample the audio"
        )
    return int(round(float(sample_rate)))


def _hop_samples(hop_s: Any, sample_rate: int) -> int:
    if isinstance(hop_s, bool) or not isinstance(hop_s, numbers.Real) or not 0.005 <= float(hop_s) <= 1.0:
        raise InvalidParameterError(f"hop_s={hop_s!r} must be a number of seconds in 0.005-1.0 (default 0.05)")
    return max(1, int(round(float(hop_s) * sample_rate)))


def band_matrix(sample_rate: int, n_fft: int, window: np.ndarray) -> np.ndarray:
    """Weights turning one frame's ``|rfft(x * window, n_fft)|^2`` into calibrated band powers.

    Each column is a triangular band on the ERB-number scale (adjacent bands sum to one
    between the first and last centre) times the ANSI S3.4-2007 outer + middle-ear power
    transfer at the bin (:func:`ear_transfer_db`), times the one-sided-spectrum and Parseval
    factors that make the sum over bins the frame's window-weighted mean square, times the
    100 dB SPL full-scale calibration.

    Parameters
    ----------
    sample_rate : int
        Hz.
    n_fft : int
        FFT length (at least ``len(window)``).
    window : numpy.ndarray
        The analysis window.

    Returns
    -------
    numpy.ndarray
        ``(n_fft // 2 + 1, ERB_BANDS)`` float64.
    """
    freqs = np.arange(n_fft // 2 + 1) * (sample_rate / n_fft)
    tri = np.maximum(0.0, 1.0 - np.abs(_hz_to_cam(freqs)[:, None] - _CAMS[None, :]) / CAM_STEP)
    one_sided = np.full(freqs.shape, 2.0)
    one_sided[0] = 1.0
    if n_fft % 2 == 0:
        one_sided[-1] = 1.0
    ear = 10.0 ** (ear_transfer_db(freqs) / 10.0)
    scale = _POWER_PER_MEAN_SQUARE / (n_fft * float(np.sum(np.asarray(window, dtype=np.float64) ** 2)))
    return tri * (one_sided * ear * scale)[:, None]


def _as_audio(audio: Any) -> np.ndarray:
    try:
        array = np.asarray(audio)
    except Exception as exc:  # ragged lists and the like
        raise InvalidParameterError(f"audio could not be read as an array ({exc}); pass (channels, samples)") from exc
    if not np.issubdtype(array.dtype, np.floating):
        raise InvalidParameterError(f"audio has dtype {array.dtype}; pass floating-point samples with full scale ±1.0")
    if array.ndim == 0:
        raise InvalidParameterError("audio is a scalar; pass an array shaped (channels, samples)")
    if array.ndim == 1:
        array = array[None]
    if array.size:
        peak = float(np.max(np.abs(array)))
        if not math.isfinite(peak):
            raise InvalidAudioError("audio contains NaN or Inf samples; remove or repair them before measuring")
        if peak > _MAX_ABS_SAMPLE:
            raise InvalidAudioError("audio has samples beyond 1e100; it is not audio at full scale ±1.0")
    return array


def band_powers(audio: np.ndarray, sample_rate: int, *, hop_s: float = 0.05) -> np.ndarray:
    """Calibrated power per ERB band per frame, as it reaches the cochlea.

    A Hann STFT with a window of ``2 * hop`` samples and 50 % overlap (shifted squared
    windows sum to a constant, so the frame mean of a stationary signal's band powers sums to
    its mean square); frame ``m`` is centred on sample ``m * hop`` — the signal is zero-padded
    by ``hop`` at the start, exactly as ``scipy.signal.stft(..., boundary="zeros",
    padded=True)`` frames it. Each frame's ``|X_k|^2`` is weighted by :func:`band_matrix`.
    Frames are processed in blocks, so memory stays bounded for any length.

    Parameters
    ----------
    audio : numpy.ndarray
        Float samples ``(..., channels, samples)``, full scale ±1.0 (1-D = mono).
    sample_rate : int
        Hz, 8000–384000.
    hop_s : float
        Frame hop in seconds, 0.005–1.0 (default 50 ms: 100 ms windows).

    Returns
    -------
    numpy.ndarray
        ``(..., channels, frames, ERB_BANDS)`` float64, intensity re 0 dB SPL
        (``10 * log10`` is the band level in dB SPL); ``frames = 1 + ceil(samples / hop)``,
        0 for empty audio. Digital silence gives exact zeros.

    Notes
    -----
    A full-scale 1-kHz sine (mean square 0.5) sums to 1e10 (100 dB SPL) over the bands; the
    ear transfer is 0 dB at 1 kHz, so a −60 dBFS 1-kHz sine sums to 1e4 (40 dB SPL). FFTs run
    in float32 (band powers to ~1e-6 relative).

    References
    ----------
    ANSI S3.4-2007 (ear transfer tables); Glasberg & Moore (1990) (ERB-number scale).

    Examples
    --------
    >>> t = np.arange(44100) / 44100
    >>> p = band_powers(1e-3 * np.sin(2 * np.pi * 1000 * t), 44100)   # -60 dBFS peak
    >>> p.shape, round(float(10 * np.log10(p[0, 10].sum())), 1)
    ((1, 21, 40), 40.0)
    """
    rate = _check_sample_rate(sample_rate)
    x = _as_audio(audio)
    hop = _hop_samples(hop_s, rate)
    n_win = 2 * hop
    n = x.shape[-1]
    lead = x.shape[:-1]
    frames = 1 + -(-n // hop) if n else 0
    out = np.zeros((*lead, frames, ERB_BANDS), dtype=np.float64)
    if frames == 0:
        return out
    window = scipy.signal.get_window("hann", n_win).astype(np.float32)  # periodic, as stft uses
    n_fft = n_win  # no zero padding: pocketfft takes any length
    weights = band_matrix(rate, n_fft, window)
    used = int(np.nonzero(weights.any(axis=1))[0].max()) + 1  # bins above the top band: unused
    weights_t = scipy.sparse.csr_array(weights[:used].T.astype(np.float32))
    rows = x.reshape(-1, n)
    flat = out.reshape(-1, frames, ERB_BANDS)
    for r in range(rows.shape[0]):
        row = rows[r]
        for first in range(0, frames, _BLOCK_FRAMES):
            count = min(_BLOCK_FRAMES, frames - first)
            # Frame m covers original samples [(m - 1) hop, (m + 1) hop).
            lo, hi = (first - 1) * hop, (first + count + 1) * hop
            seg = np.zeros(hi - lo, dtype=np.float32)
            src_lo, src_hi = max(lo, 0), min(hi, n)
            if src_hi > src_lo:
                seg[src_lo - lo : src_hi - lo] = row[src_lo:src_hi]
            if not seg.any():
                continue  # silent block: exact zeros
            view = np.lib.stride_tricks.sliding_window_view(seg, n_win)[::hop][:count]
            spec = scipy.fft.rfft(view * window, n=n_fft, axis=-1)[:, :used]
            power = spec.real**2 + spec.imag**2
            flat[r, first : first + count] = (weights_t @ power.T).T
    return out


# ---------------------------------------------------------------------------- masking

MASKING_REFERENCE = (
    "masked fraction = 1 - partial/solo loudness, Wichern et al. 2016 (AES 141st Conv.) loudness loss; "
    "partial loudness: Moore, Glasberg & Baer 1997, JAES 45(4), with ANSI S3.4-2007 constants"
)


def masking_measure(stems: np.ndarray, sample_rate: int, *, level_lufs: float = -23.0) -> dict[str, Any]:
    """How much of each track the rest of the mix masks, as a strict-JSON-safe dict.

    All stems are scaled by one common gain so that their sum measures ``level_lufs``
    (ITU-R BS.1770-4 integrated loudness, :func:`mixassist.measure.meter.integrated_loudness`),
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
    x = _as_audio(stems)
    rate = _check_sample_rate(sample_rate)
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
