"""Loudness in the mix: every track's solo and partial loudness at both ears (:func:`loudness_in_mix`).

Moore, Glasberg & Baer (1997) eqs. (3), (17) and (18) with the auditory-filter shapes set by the
whole mix, evaluated by the fused kernel of :mod:`~mixassist.measure.perception.kernel`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from mixassist.errors import InvalidParameterError
from mixassist.measure.perception.erb import ERB_BANDS
from mixassist.measure.perception.kernel import KERNEL_ARGS, mix_kernel
from mixassist.measure.perception.model import BAND_SCALE, sone_to_phon

__all__ = ["MIX_GATE_SONE", "SILENT_SONE", "MixLoudness", "loudness_in_mix", "phon_to_sone"]

MIX_GATE_SONE = 0.01
"""A frame counts in the time averages of :func:`loudness_in_mix` when the mix's loudness (both
ears) exceeds this (≈ 8 phon): digital silence and inaudible noise floors are left out."""
SILENT_SONE = 1e-3
"""A track whose average solo loudness is below this (less than a 1-kHz tone at the threshold
of hearing, ≈ 0.004 sone in this model) is reported as silent by :func:`masking_measure`."""


def phon_to_sone(loudness_phon: Any) -> np.ndarray:
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
        mix_kernel(p, *KERNEL_ARGS, solo, partial, mix)
    solo *= BAND_SCALE
    partial *= BAND_SCALE
    mix *= BAND_SCALE
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
