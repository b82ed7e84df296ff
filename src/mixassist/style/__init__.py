"""Style: what a finished mix "means", independent of its content and its level.

:mod:`.features` measures a stereo mix in units a person reads — integrated loudness (LUFS),
mid and side third-octave spectra relative to the total mid power (dB), stereo width per band
(dB), crest factor (dB) and short-term loudness spread (LU) — with one set of definitions that
runs differentiably on torch excerpts (:func:`style_features_torch`, for optimisers) and without
gradients over a whole song in bounded memory (:func:`style_features`, for reports and targets).
:func:`style_distance` compares two measurements term by term. See ``docs/style.md``.
"""

from mixassist.style.features import (
    DEFAULT_WEIGHTS,
    THIRD_OCTAVE_CENTRES_HZ,
    StyleFeatures,
    style_distance,
    style_features,
    style_features_torch,
)

__all__ = [
    "DEFAULT_WEIGHTS",
    "THIRD_OCTAVE_CENTRES_HZ",
    "StyleFeatures",
    "style_distance",
    "style_features",
    "style_features_torch",
]
