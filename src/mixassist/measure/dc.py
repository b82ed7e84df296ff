"""DC offset: the mean of each channel, linear and in dBFS.

A DC offset is inaudible in itself but steals headroom, makes the limiter and compressors act
asymmetrically and thumps at edits; a mix should carry none (the console's DC blockers remove it).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from mixassist.measure.validate import as_audio

__all__ = ["DC_FLOOR_DBFS", "dc_offset", "dc_offset_dbfs"]

#: What :func:`dc_offset_dbfs` reads for an offset of exactly 0 (never ``-inf``).
DC_FLOOR_DBFS = -200.0


def dc_offset(audio: Any) -> np.ndarray:
    """The DC offset of each channel: its mean sample value (full scale ±1).

    Parameters
    ----------
    audio : np.ndarray
        ``(channels, samples)`` or mono ``(samples,)``, floating point.

    Returns
    -------
    np.ndarray
        float64 ``(channels,)``; zeros for zero-length audio.

    Examples
    --------
    >>> dc_offset(np.array([[0.5, 0.5], [0.1, -0.1]]))
    array([0.5, 0. ])
    """
    x, _ = as_audio(audio)
    if x.shape[-1] == 0:
        return np.zeros(x.shape[0])
    return np.asarray(np.mean(x, axis=-1, dtype=np.float64))


def dc_offset_dbfs(offset: Any) -> np.ndarray:
    """``20 log10 |offset|`` per channel, dBFS, floored at :data:`DC_FLOOR_DBFS`.

    Examples
    --------
    >>> dc_offset_dbfs(np.array([0.1, 0.0])).round(1)
    array([ -20., -200.])
    """
    magnitude = np.abs(np.asarray(offset, dtype=np.float64))
    return 20.0 * np.log10(np.maximum(magnitude, 10.0 ** (DC_FLOOR_DBFS / 20.0)))
