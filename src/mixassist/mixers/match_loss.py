"""The ``match`` solver's loss: the style distance made smooth, plus one term per feature word.

:func:`solver_loss` is what :class:`~mixassist.mixers.match.MatchMixer` descends; the helpers
turn a differentiable feature measurement into :class:`~mixassist.style.StyleFeatures` and aim
an excerpt's features by what the song needs.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from mixassist.style.descriptors import FEATURE_SOURCES, feature_value
from mixassist.style.features import DEFINED_FLAGS, DISTANCE_TERMS, StyleFeatures

__all__ = ["HUBER_DB", "WORD_FEATURES", "WORD_WEIGHT", "as_features", "shift_features", "solver_loss"]


HUBER_DB = 0.3
"""Scale of the solver's pseudo-Huber penalty per feature difference, dB or LU."""
WORD_WEIGHT = 1.0
"""Weight of each descriptor word's own feature in :func:`solver_loss`, as one more term."""
#: Feature words the solver weighs as terms of their own (loudness is delivered, not solved).
WORD_FEATURES = tuple(f for f in FEATURE_SOURCES if f != "loudness")


def _pseudo_huber(diff: torch.Tensor) -> torch.Tensor:
    return HUBER_DB**2 * (torch.sqrt(1.0 + torch.square(diff / HUBER_DB)) - 1.0)


def solver_loss(
    feats: dict[str, torch.Tensor], aim: StyleFeatures, words: tuple[str, ...] | list[str] = ()
) -> torch.Tensor:
    """The smooth stand-in for :func:`style_distance` the solver descends.

    The same terms (band means for banded features), each difference through a pseudo-Huber
    ``δ² (sqrt(1 + (x/δ)²) - 1)``, δ = :data:`HUBER_DB`: quadratic near zero, linear (like the
    distance) far away. The plain distance is an absolute value: at a target met exactly it has
    a kink, so a step that improves one term by a little costs every met term its full slope
    and the descent stalls at the start; the quadratic floor removes that.

    ``words``: the descriptor features asked for (``"high"``, ``"width"`` …, of
    ``WORD_FEATURES``); each adds its own feature's difference as one more term, weighted
    :data:`WORD_WEIGHT`. The aim already holds the word's change, but inside the tone term
    "bright" is 5 bands of ~27 and weighs a fifth of a term: from a start already near the
    reference (``auto``) the solver then kept the start (bright moved −0.17 dB of +1.5).
    """
    total = torch.zeros((), dtype=torch.float64)
    for name in DISTANCE_TERMS.values():
        target = getattr(aim, name)
        if target is None or not bool(feats[DEFINED_FLAGS[name]]):
            continue
        huber = _pseudo_huber(feats[name] - torch.as_tensor(np.asarray(target), dtype=torch.float64))
        total = total + (huber.mean() if huber.ndim else huber)
    for feature in words:
        wanted = feature_value(feature, aim)
        if wanted is None or not bool(feats[DEFINED_FLAGS[FEATURE_SOURCES[feature]]]):
            continue
        total = total + WORD_WEIGHT * _pseudo_huber(feature_value(feature, feats) - wanted)
    return total


def as_features(feats: dict[str, torch.Tensor]) -> StyleFeatures:
    """Detached :class:`StyleFeatures` from a :func:`style_features_torch` result (no batch)."""
    values: dict[str, Any] = {}
    for name, flag in DEFINED_FLAGS.items():
        value = feats[name].detach().cpu().numpy()
        values[name] = None if not bool(feats[flag]) else (value.copy() if value.ndim else float(value))
    return StyleFeatures(band_centres_hz=feats["band_centres_hz"].numpy().copy(), **values)


def shift_features(excerpt: StyleFeatures, song_start: StyleFeatures, song_target: StyleFeatures) -> StyleFeatures:
    """``excerpt + (target - start)`` feature by feature (undefined stays as the excerpt has it)."""
    values: dict[str, Any] = {}
    # the excerpt may be measured at a lower rate: shift the bands it has (song bands are a superset)
    pick = np.searchsorted(song_start.band_centres_hz, excerpt.band_centres_hz)
    for name in DEFINED_FLAGS:
        e, s, t = getattr(excerpt, name), getattr(song_start, name), getattr(song_target, name)
        if e is None or s is None or t is None:
            values[name] = e
        elif isinstance(e, np.ndarray):
            values[name] = e + (np.asarray(t) - np.asarray(s))[pick]
        else:
            values[name] = float(e + t - s)
    return StyleFeatures(band_centres_hz=excerpt.band_centres_hz, **values)
