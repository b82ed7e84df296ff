"""Measurements that may not exist: a value with the reason it is missing.

A figure that does not exist (silence below the BS.1770 -70 LUFS gate, audio shorter than a
measurement window) is ``None``; the measures of :mod:`mixassist.measure` built on this module
compute a :data:`Measured` pair ``(value, reason)`` so that a caller (the evaluation's
``compare_with_reasons``) can say why, and the plain public functions return the value alone.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from mixassist.measure import as_audio, integrated_loudness

__all__ = ["Measured", "as_stereo", "explain", "loudness_with_reason"]

logger = logging.getLogger(__name__)

Measured = tuple[Any, str | None]
"""``(value, reason)``: the value, or ``None`` and a short human reason why it does not exist."""


def as_stereo(audio: Any) -> np.ndarray:
    """Validated float64 ``(2, samples)``; mono is duplicated (L = R)."""
    x, _ = as_audio(audio)
    x = np.asarray(x, dtype=np.float64)
    return np.repeat(x, 2, axis=0) if x.shape[0] == 1 else x


def explain(name: str, result: Measured) -> Any:
    """The value of ``result``; when it is None, the reason is logged at debug level under ``name``."""
    value, reason = result
    if value is None:
        logger.debug("%s is None: %s", name, reason)
    return value


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
