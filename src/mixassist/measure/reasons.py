"""Measurements that may not exist: a value with the reason it is missing.

A figure that does not exist (silence below the BS.1770 -70 LUFS gate, audio shorter than a
measurement window) is ``None``; the measures of :mod:`mixassist.measure` built on this module
compute a :data:`~mixassist.measure.reading.Measured` pair ``(value, reason)`` so that a caller (the evaluation's
``compare_with_reasons``) can say why, and the plain public functions return the value alone.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from mixassist.measure import as_audio, integrated_loudness
from mixassist.measure.reading import Measured

__all__ = ["as_stereo", "loudness_with_reason"]


def as_stereo(audio: Any) -> np.ndarray:
    """Validated float64 ``(2, samples)``; mono is duplicated (L = R)."""
    x, _ = as_audio(audio)
    x = np.asarray(x, dtype=np.float64)
    return np.repeat(x, 2, axis=0) if x.shape[0] == 1 else x


def loudness_with_reason(x: np.ndarray, rate: float, name: str = "signal") -> Measured:
    """BS.1770-4 integrated loudness of ``x``, LUFS, or None with why (empty, too short, silent)."""
    if x.shape[-1] == 0:
        return None, f"{name} is empty"
    value = integrated_loudness(x, rate)
    if value is None:
        if x.shape[-1] < 0.4 * rate:
            return None, f"{name} is shorter than one 400 ms loudness block"
        return None, f"{name} is silent: below the -70 LUFS absolute gate"
    return float(value), None
