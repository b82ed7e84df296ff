"""Perceptual loudness of tracks in a mix: a compact Moore–Glasberg model with partial loudness.

The loudness model of Moore, Glasberg & Baer (1997) [1]_ with the constants of ANSI S3.4-2007 [2]_,
reduced to what a mixer needs: the loudness of each track *as heard in the mix* — its partial
loudness in the presence of all the other tracks — fast enough to be re-evaluated inside a
gain-solving loop. Imported as its own package (it needs numba), not through ``mixassist.measure``.

Pipeline
--------
1. :func:`band_powers` (:mod:`.stft`, on the band grid of :mod:`.erb`) — a Hann STFT weighted by
   the ANSI S3.4-2007 ear transfer and summed into :data:`ERB_BANDS` bands evenly spaced on the
   ERB-number scale [3]_, calibrated so that a full-scale sine plays at 100 dB SPL.
2. :func:`excitation_pattern`, :func:`specific_loudness`, :func:`partial_loudness` (:mod:`.model`)
   — level-dependent roex spreading, MGB97 eq. (3) and eqs. (17)–(18).
3. :func:`loudness_in_mix` (:mod:`.mix`, one fused numba kernel in :mod:`.kernel`) — per-track
   solo and partial loudness at both ears; :func:`masking_measure` (:mod:`.masking`) wraps it
   for rendered stems (the masked fraction is Wichern et al.'s loudness loss [4]_ as a ratio).

The simplifications relative to ANSI S3.4-2007 / MGB97 are listed in ``docs/perception.md``.

References
----------
.. [1] B. C. J. Moore, B. R. Glasberg, T. Baer, "A model for the prediction of thresholds,
   loudness, and partial loudness", J. Audio Eng. Soc. 45(4), 224–240, 1997.
.. [2] ANSI S3.4-2007, "Procedure for the computation of loudness of steady sounds".
.. [3] B. R. Glasberg, B. C. J. Moore, "Derivation of auditory filter shapes from
   notched-noise data", Hearing Research 47, 103–138, 1990.
.. [4] G. Wichern, H. Robertson, A. Wishnick, "Quantitative analysis of masking in multitrack
   mixes using loudness loss", AES 141st Convention, 2016 (building on Wichern et al.,
   "Comparison of loudness features for automatic level adjustment in mixing", AES 139th
   Convention, 2015).
.. [5] ISO 532-1:2017, "Acoustics — Methods for calculating loudness — Part 1: Zwicker
   method" (loudness level below 1 sone).
"""

from mixassist.measure.perception.erb import CAM_STEP, ERB_BANDS, FULL_SCALE_SINE_SPL_DB, ear_transfer_db
from mixassist.measure.perception.masking import MASKING_REFERENCE, masking_measure
from mixassist.measure.perception.mix import MIX_GATE_SONE, SILENT_SONE, MixLoudness, loudness_in_mix, phon_to_sone
from mixassist.measure.perception.model import (
    LOUDNESS_C,
    excitation_pattern,
    partial_loudness,
    sone_to_phon,
    specific_loudness,
)
from mixassist.measure.perception.short_term import ShortTermRelative, relative_short_term
from mixassist.measure.perception.stft import band_centres_hz, band_matrix, band_powers

__all__ = [
    "CAM_STEP",
    "ERB_BANDS",
    "FULL_SCALE_SINE_SPL_DB",
    "LOUDNESS_C",
    "MASKING_REFERENCE",
    "MIX_GATE_SONE",
    "SILENT_SONE",
    "MixLoudness",
    "ShortTermRelative",
    "phon_to_sone",
    "band_centres_hz",
    "band_matrix",
    "band_powers",
    "ear_transfer_db",
    "excitation_pattern",
    "loudness_in_mix",
    "masking_measure",
    "partial_loudness",
    "relative_short_term",
    "sone_to_phon",
    "specific_loudness",
]
