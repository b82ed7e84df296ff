"""A meter reading: a value, or None with the reason why it does not exist.

No measure returns ``-inf`` or ``NaN``. A figure that does not exist (silence, a signal shorter
than the measurement window, a mono signal's side level) is ``None``, and the reason travels with
it, so that :class:`~mixassist.measure.summary.LoudnessReport` can say why in ``reasons``.
"""

from __future__ import annotations

import logging
from typing import Any, TypeVar

__all__ = ["REASON_EMPTY", "REASON_SILENT_GATE", "REASON_ZERO", "Measured", "Reading", "explain"]

logger = logging.getLogger(__name__)

REASON_EMPTY = "empty: zero-length audio"
"""Reason of a reading of zero-length audio."""
REASON_SILENT_GATE = "silent: below the -70 LUFS absolute gate"
"""Reason of a gated loudness reading of a signal below the absolute gate."""
REASON_ZERO = "silent: all samples are zero"
"""Reason of a peak or stereo reading of digital silence."""

Reading = tuple[float | None, str | None]
"""A value and None, or None and the reason the value does not exist."""
Measured = tuple[Any, str | None]
"""The same pair for a value of any type (a number, an array of band values, a mapping)."""

T = TypeVar("T")


def explain(name: str, result: tuple[T | None, str | None]) -> T | None:
    """The value of ``result``; a missing one is logged (debug) with its reason, under ``name``."""
    value, reason = result
    if value is None:
        logger.debug("%s is None: %s", name, reason)
    return value
