"""Short-term partial loudness of one part against the rest of a mix (:func:`relative_short_term`).

What a fader rider listens to: in each short-term window (3 s, as EBU R128's short-term loudness,
stepped every 0.5 s) the part's partial loudness in the presence of the rest and the rest's in
the presence of the part (:func:`~mixassist.measure.perception.loudness_in_mix` on the two),
and their difference in phon -- 10 phon is a doubling of loudness, and above ~40 phon a level
change of 1 dB moves loudness level by about 1 phon, so the difference reads like LU.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mixassist.errors import InvalidParameterError
from mixassist.measure.perception.mix import loudness_in_mix

__all__ = ["ACTIVE_RANGE_PHON", "SHORT_TERM_STEP_S", "SHORT_TERM_WINDOW_S", "ShortTermRelative", "relative_short_term"]

#: Window and step of the short-term measure, seconds.
SHORT_TERM_WINDOW_S = 3.0
SHORT_TERM_STEP_S = 0.5
#: A window counts when the part (alone) and the rest (alone) are within this many phon of their
#: loudest window: the part's rests and the rest's breaks are not riding material.
ACTIVE_RANGE_PHON = 20.0


@dataclass(frozen=True)
class ShortTermRelative:
    """Per window: ``times_s`` (centres), ``part_phon`` and ``rest_phon`` (partial loudness
    levels), ``relative_phon = part_phon - rest_phon`` and ``active`` (both audible)."""

    times_s: np.ndarray
    part_phon: np.ndarray
    rest_phon: np.ndarray
    relative_phon: np.ndarray
    active: np.ndarray

    def spread(self) -> float | None:
        """Standard deviation of ``relative_phon`` over the active windows (``None`` if < 2)."""
        values = self.relative_phon[self.active]
        return float(np.std(values)) if values.size >= 2 else None


def relative_short_term(
    part: np.ndarray,
    rest: np.ndarray,
    hop_s: float,
    *,
    window_s: float = SHORT_TERM_WINDOW_S,
    step_s: float = SHORT_TERM_STEP_S,
) -> ShortTermRelative:
    """Short-term partial loudness of ``part`` against ``rest``.

    Parameters
    ----------
    part, rest : numpy.ndarray
        ``(2, frames, bands)`` band powers at each ear (:func:`band_powers` of the two signals
        with hop ``hop_s``).
    hop_s : float
        Their frame hop, seconds.
    window_s, step_s : float
        Window length and step, seconds.
    """
    if part.shape != rest.shape or part.ndim != 3 or part.shape[0] != 2:
        raise InvalidParameterError(f"part {part.shape} and rest {rest.shape} must both be (2, frames, bands)")
    frames = part.shape[1]
    width = max(1, int(round(window_s / hop_s)))
    step = max(1, int(round(step_s / hop_s)))
    starts = list(range(0, max(frames - width, 0) + 1, step))
    part_phon, rest_phon, part_solo, rest_solo = (np.zeros(len(starts)) for _ in range(4))
    for k, a in enumerate(starts):
        loud = loudness_in_mix(np.stack([part[:, a : a + width], rest[:, a : a + width]]))
        part_phon[k], rest_phon[k] = loud.partial_phon
        part_solo[k], rest_solo[k] = loud.solo_phon
    times = (np.asarray(starts, dtype=np.float64) + width / 2) * hop_s
    active = np.zeros(len(starts), bool)
    if len(starts):
        active = (part_solo >= part_solo.max() - ACTIVE_RANGE_PHON) & (rest_solo >= rest_solo.max() - ACTIVE_RANGE_PHON)
        active &= (part_phon > 0) & (rest_phon > 0)
    return ShortTermRelative(times, part_phon, rest_phon, part_phon - rest_phon, active)
