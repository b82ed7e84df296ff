"""Levels and time constants: dB conversions and one-pole coefficients, and their numba twins.

The kernel functions (:func:`ln`, :func:`exp2_nonpos`) are short polynomials written with
explicit FMAs, so that LLVM vectorises them and vector and scalar code give identical results.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from numba import njit

from mixassist.console.dsp.jit import INLINE_OPTIONS, fma
from mixassist.measure.bits import bits_f64, f64_bits

__all__ = [
    "DB_PER_NEPER",
    "LAMBDA_FLUSH",
    "LN10_20",
    "LOG2_10_20",
    "PEAK_FLOOR",
    "S_FLUSH_DB",
    "amplitude_to_db",
    "db_to_amplitude",
    "exp2_nonpos",
    "ln",
    "time_constant_coefficient",
]

LN10_20 = math.log(10.0) / 20.0
"""d(gain)/d(dB) per unit gain."""
DB_PER_NEPER = 20.0 / math.log(10.0)
"""dB per neper: ``20 log10(x) = DB_PER_NEPER * ln(x)``."""
LOG2_10_20 = math.log2(10.0) / 20.0
"""``10^(db/20) = 2^(LOG2_10_20 * db)``."""
_LN2 = math.log(2.0)
_SQRT2 = math.sqrt(2.0)
PEAK_FLOOR = 1e-9
"""Detector floor: -180 dBFS, keeps the log finite on silence."""
S_FLUSH_DB = 1e-18
"""Smoothed gain reductions (dB) below this are exactly 0 (gain 1.0 in float64)."""
LAMBDA_FLUSH = 1e-280
"""Adjoints below this are 0 (no subnormal slowdown on long silences)."""
_MANTISSA = (1 << 52) - 1
_ONE_BITS = 1023 << 52


def db_to_amplitude(db):
    """Convert decibels to a linear amplitude factor, ``10 ** (db / 20)``.

    Parameters
    ----------
    db : float or torch.Tensor
        Level in dB.  Tensors keep their dtype and autograd graph.

    Returns
    -------
    float or torch.Tensor
        Linear factor (same type as ``db``).

    Examples
    --------
    >>> db_to_amplitude(-6.0)  # doctest: +ELLIPSIS
    0.501...
    """
    if isinstance(db, torch.Tensor):
        return torch.pow(10.0, db / 20.0)
    return 10.0 ** (float(db) / 20.0)


def amplitude_to_db(amplitude, *, floor_db: float = -180.0):
    """Convert a linear amplitude to dB, ``20 log10(max(|amplitude|, 10^(floor_db/20)))``.

    Never returns ``-inf``: magnitudes below the floor (silence included) map to ``floor_db``.

    Parameters
    ----------
    amplitude : float or torch.Tensor
        Linear amplitude (the sign is ignored).
    floor_db : float, default -180.0
        Lowest level returned.

    Returns
    -------
    float or torch.Tensor
        Level in dB (same type as ``amplitude``).
    """
    floor = 10.0 ** (floor_db / 20.0)
    if isinstance(amplitude, torch.Tensor):
        return 20.0 * torch.log10(amplitude.abs().clamp_min(floor))
    return 20.0 * math.log10(max(abs(float(amplitude)), floor))


def time_constant_coefficient(ms, sample_rate: float):
    """One-pole coefficient ``exp(-1 / (tau * sample_rate))`` for a time constant ``tau`` in ms.

    A one-pole ``s[n] = a s[n-1] + (1 - a) u[n]`` driven by a step reaches ``1 - 1/e`` of the
    step after ``tau`` seconds.

    Parameters
    ----------
    ms : float or torch.Tensor
        Time constant in milliseconds, > 0.
    sample_rate : float
        Sample rate in Hz.

    Returns
    -------
    float or torch.Tensor
        Coefficient in (0, 1) (same type as ``ms``; differentiable for tensors).
    """
    if isinstance(ms, torch.Tensor):
        return torch.exp(-1000.0 / (ms * float(sample_rate)))
    return math.exp(-1000.0 / (float(ms) * float(sample_rate)))


@njit(**INLINE_OPTIONS)
def ln(p):
    """Natural log of a positive normal float64 (abs. error < 2e-11); vectorisable."""
    b = f64_bits(p)
    m = bits_f64((b & _MANTISSA) | _ONE_BITS)  # mantissa in [1, 2)
    big = m > _SQRT2
    e = float((b >> 52) - 1023) + (1.0 if big else 0.0)
    m = m * (0.5 if big else 1.0)  # now in [sqrt(1/2), sqrt(2)]
    z = (m - 1.0) / (m + 1.0)  # ln m = 2 atanh z, |z| <= 0.1716
    z2 = z * z
    q = fma(1.0 / 11.0, z2, 1.0 / 9.0)
    q = fma(q, z2, 1.0 / 7.0)
    q = fma(q, z2, 1.0 / 5.0)
    q = fma(q, z2, 1.0 / 3.0)
    q = fma(q, z2, 1.0)
    return fma(e, _LN2, 2.0 * z * q)


@njit(**INLINE_OPTIONS)
def exp2_nonpos(t):
    """``2**t`` for ``t <= 0`` (rel. error < 4e-13), exactly 1.0 at ``t == 0``; vectorisable."""
    t = max(t, -1000.0)
    n = math.floor(t + 0.5)
    r = (t - n) * _LN2  # |r| <= ln2 / 2
    q = fma(1.0 / 3628800.0, r, 1.0 / 362880.0)
    q = fma(q, r, 1.0 / 40320.0)
    q = fma(q, r, 1.0 / 5040.0)
    q = fma(q, r, 1.0 / 720.0)
    q = fma(q, r, 1.0 / 120.0)
    q = fma(q, r, 1.0 / 24.0)
    q = fma(q, r, 1.0 / 6.0)
    q = fma(q, r, 0.5)
    q = fma(q, r, 1.0)
    q = fma(q, r, 1.0)
    return q * bits_f64((np.int64(n) + 1023) << 52)
