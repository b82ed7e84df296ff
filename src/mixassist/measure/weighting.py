"""K-weighting (ITU-R BS.1770-4), the frequency weighting of every loudness measure."""

from __future__ import annotations

import functools

import numpy as np
from pyloudnorm.iirfilter import IIRfilter

__all__ = ["k_weighting_sos"]


@functools.lru_cache(maxsize=16)
def k_weighting_sos(sample_rate: float) -> np.ndarray:
    """The BS.1770-4 K-weighting pre-filter at ``sample_rate`` Hz as read-only second-order sections ``(2, 6)``."""
    # pyloudnorm's K-weighting (its Meter applies 'high_shelf' then 'high_pass' with lfilter);
    # the same biquads run here as second-order sections.
    stages = (
        IIRfilter(4.0, 1.0 / np.sqrt(2.0), 1500.0, sample_rate, "high_shelf"),
        IIRfilter(0.0, 0.5, 38.0, sample_rate, "high_pass"),
    )
    sos = np.array([np.concatenate([stage.passband_gain * stage.b, stage.a]) for stage in stages])
    sos.flags.writeable = False
    return sos
