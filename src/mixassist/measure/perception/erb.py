"""The band grid of the perception model and the ear's transfer to it.

:data:`ERB_BANDS` bands evenly spaced on the ERB-number (Cam) scale of Glasberg & Moore (1990)
from 30 Hz to 16 kHz, the full-scale calibration (a full-scale sine plays at 100 dB SPL) and the
ANSI S3.4-2007 free-field-to-eardrum and middle-ear transfer functions.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "CAMS",
    "CAM_STEP",
    "CENTRES_HZ",
    "ERB_BANDS",
    "FULL_SCALE_SINE_SPL_DB",
    "POWER_PER_MEAN_SQUARE",
    "cam_to_hz",
    "ear_transfer_db",
    "erb_hz",
    "hz_to_cam",
]

ERB_BANDS = 40
"""Number of bands: evenly spaced on the ERB-number scale from 30 Hz to 16 kHz (≈ 0.99 Cam apart)."""
_LOW_HZ, _HIGH_HZ = 30.0, 16000.0


def hz_to_cam(freq_hz: np.ndarray | float) -> np.ndarray:
    """ERB-number (Cam) of a frequency, Glasberg & Moore (1990) eq. 4."""
    return 21.4 * np.log10(4.37e-3 * np.asarray(freq_hz, dtype=np.float64) + 1.0)


def cam_to_hz(cam: np.ndarray | float) -> np.ndarray:
    """Frequency of an ERB-number (Cam), the inverse of :func:`hz_to_cam`."""
    return (10.0 ** (np.asarray(cam, dtype=np.float64) / 21.4) - 1.0) / 4.37e-3


def erb_hz(freq_hz: np.ndarray | float) -> np.ndarray:
    """Equivalent rectangular bandwidth of the auditory filter, Glasberg & Moore (1990) eq. 3."""
    return 24.7 * (4.37e-3 * np.asarray(freq_hz, dtype=np.float64) + 1.0)


CAMS = np.linspace(float(hz_to_cam(_LOW_HZ)), float(hz_to_cam(_HIGH_HZ)), ERB_BANDS)
"""ERB-number (Cam) of each band centre."""
CENTRES_HZ = cam_to_hz(CAMS)
"""Centre frequency of each band, Hz."""
CAM_STEP = float(CAMS[1] - CAMS[0])
"""Band spacing in Cam; specific loudness (sone/Cam) × CAM_STEP = sone per band."""

FULL_SCALE_SINE_SPL_DB = 100.0
"""Calibration: a full-scale sine (mean square 0.5) is taken to play at 100 dB SPL."""
POWER_PER_MEAN_SQUARE = 10.0 ** (FULL_SCALE_SINE_SPL_DB / 10.0) / 0.5
"""Band power (intensity re 0 dB SPL, ``10 ** (L_spl / 10)``) per unit mean square: 0.5 -> 1e10."""

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
