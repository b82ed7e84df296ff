"""Validation of what every measurement takes: a sample rate and an audio array.

One function per check, used by every layer above (measurements, processors, mixers).
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np

from mixassist.errors import InvalidAudioError, InvalidParameterError

__all__ = ["MAX_SAMPLE_RATE", "MIN_SAMPLE_RATE", "as_audio", "as_sample_array", "check_sample_rate"]

MIN_SAMPLE_RATE = 8000
"""Lowest accepted sample rate, Hz."""
MAX_SAMPLE_RATE = 384000
"""Highest accepted sample rate, Hz."""
# A sample this large is no audio scale at all; refusing it keeps every sum of squares below the
# float64 overflow, so no figure can come out infinite. float32's largest value (3.4e38) passes.
_MAX_ABS_SAMPLE = 1e100


def check_sample_rate(sample_rate: Any) -> float:
    """Return ``sample_rate`` as a float after checking it is a real number within 8-384 kHz.

    Raises :class:`~mixassist.errors.InvalidParameterError` for a non-number and
    :class:`~mixassist.errors.InvalidAudioError` for a rate outside the accepted range.
    """
    if isinstance(sample_rate, bool) or not isinstance(sample_rate, numbers.Real):
        raise InvalidParameterError(f"sample_rate={sample_rate!r} is not a number; pass the rate in Hz, e.g. 48000")
    rate = float(sample_rate)
    if not math.isfinite(rate) or not MIN_SAMPLE_RATE <= rate <= MAX_SAMPLE_RATE:
        raise InvalidAudioError(
            f"sample_rate={sample_rate!r} Hz is outside {MIN_SAMPLE_RATE}-{MAX_SAMPLE_RATE} Hz; "
            "resample the audio to a supported rate (e.g. 48000 Hz)"
        )
    return rate


def as_audio(audio: Any) -> tuple[np.ndarray, float]:
    """Validate ``audio`` and return it as a ``(channels, samples)`` view and its sample peak."""
    try:
        array = np.asarray(audio)
    except Exception as exc:  # ragged lists and the like
        raise InvalidParameterError(
            f"audio could not be read as an array ({exc}); pass a numpy array shaped (channels, samples)"
        ) from exc
    if not np.issubdtype(array.dtype, np.floating):
        hint = (
            " (integer PCM: divide by the full-scale value, e.g. audio / 32768.0)"
            if np.issubdtype(array.dtype, np.integer)
            else ""
        )
        raise InvalidParameterError(
            f"audio has dtype {array.dtype}; pass floating-point samples with full scale ±1.0" + hint
        )
    if array.ndim == 1:
        array = array[np.newaxis, :]
    elif array.ndim != 2:
        raise InvalidParameterError(
            f"audio has shape {array.shape}; pass a 1-D mono array or a 2-D array shaped (channels, samples)"
        )
    channels, samples = array.shape
    if channels == 0:
        raise InvalidParameterError(
            f"audio has shape {array.shape}: no channels; pass (channels, samples) with 1 or 2 channels"
        )
    if channels > 2:
        hint = (
            "; it looks like (samples, channels): pass audio.T"
            if samples <= 2 < channels
            else "; downmix to stereo or split it into mono/stereo signals"
        )
        raise InvalidAudioError(f"audio has {channels} channels (shape {array.shape}); the meter takes 1 or 2" + hint)
    if samples == 0:
        return array, 0.0
    high = float(array.max())
    low = float(array.min())
    if not (math.isfinite(high) and math.isfinite(low)):
        bad = ~np.isfinite(array)
        index = int(np.flatnonzero(bad.any(axis=0))[0])
        channel = int(np.flatnonzero(bad[:, index])[0])
        raise InvalidAudioError(
            f"audio has a non-finite sample ({array[channel, index]}) at sample index {index} "
            f"(channel {channel}); repair or remove it (e.g. numpy.nan_to_num) before metering"
        )
    peak = max(high, -low)
    if peak > _MAX_ABS_SAMPLE:
        index = int(np.flatnonzero((np.abs(array) > _MAX_ABS_SAMPLE).any(axis=0))[0])
        raise InvalidAudioError(
            f"audio has a sample of magnitude {peak:.3g} (first at sample index {index}); "
            "that is no audio scale: normalise to full scale ±1.0"
        )
    return array, peak


def as_sample_array(audio: Any) -> np.ndarray:
    """Validate float audio of any layout ``(..., channels, samples)`` (1-D = mono) and return it as an array.

    Unlike :func:`as_audio` it takes any number of leading axes and channels (stems of a mix, say),
    so it checks only the type and the samples: floating point, at least 1-D, finite and below 1e100.
    """
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
