"""Distances between two sets of style features, per term in dB or LU, and their weighted total."""

from __future__ import annotations

import math
import types
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from mixassist.errors import InvalidParameterError
from mixassist.style.result import BANDED_FEATURES, DEFINED_FLAGS, SCALAR_FEATURES, StyleFeatures

__all__ = ["DEFAULT_WEIGHTS", "DISTANCE_TERMS", "style_distance"]

DEFAULT_WEIGHTS: Mapping[str, float] = types.MappingProxyType(
    {
        "loudness_lu": 1.0,
        "spectral_mid_db": 1.0,
        "spectral_side_db": 1.0,
        "width_db": 1.0,
        "crest_db": 1.0,
        "short_term_spread_lu": 1.0,
    }
)
"""Weights of the terms of :func:`style_distance`'s ``total`` (every term is in dB or LU)."""
DISTANCE_TERMS = {  # distance term -> feature
    "loudness_lu": "loudness_lufs",
    "spectral_mid_db": "spectral_mid_db",
    "spectral_side_db": "spectral_side_db",
    "width_db": "width_db",
    "crest_db": "crest_db",
    "short_term_spread_lu": "short_term_spread_lu",
}
"""Distance term -> the feature it compares."""


def _as_tensors(features: StyleFeatures | Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    if isinstance(features, StyleFeatures):
        out: dict[str, torch.Tensor] = {"band_centres_hz": torch.from_numpy(np.array(features.band_centres_hz))}
        bands = features.band_centres_hz.size
        for name in (*BANDED_FEATURES, *SCALAR_FEATURES):
            value = getattr(features, name)
            shape = (bands,) if name in BANDED_FEATURES else ()
            out[name] = (
                torch.zeros(shape, dtype=torch.float64)
                if value is None
                else torch.as_tensor(np.array(value), dtype=torch.float64)
            )
            out[DEFINED_FLAGS[name]] = torch.tensor(value is not None)
        # a feature group is defined only if all its members are
        out["spectral_defined"] = torch.tensor(
            features.spectral_mid_db is not None and features.spectral_side_db is not None
        )
        out["width_defined"] = torch.tensor(features.width_db is not None)
        return out
    if isinstance(features, Mapping):
        needed = {"band_centres_hz", *DISTANCE_TERMS.values()} | {DEFINED_FLAGS[f] for f in DISTANCE_TERMS.values()}
        missing = sorted(needed - set(features))
        if missing:
            raise InvalidParameterError(
                f"style features are missing {missing}; pass the result of style_features_torch"
            )
        return {key: features[key] for key in needed}
    raise InvalidParameterError(
        f"cannot compare a {type(features).__name__}; pass StyleFeatures or the dict of style_features_torch"
    )


def style_distance(
    a: StyleFeatures | Mapping[str, torch.Tensor],
    b: StyleFeatures | Mapping[str, torch.Tensor],
    weights: Mapping[str, float] | None = None,
) -> dict[str, Any]:
    """Per-term style distances in dB and LU, and their weighted total.

    Terms: ``loudness_lu`` ``|ΔL|``; ``spectral_mid_db``, ``spectral_side_db``, ``width_db``:
    the mean over the bands both share of ``|Δ|``; ``crest_db`` and ``short_term_spread_lu``
    ``|Δ|``. ``total = sum(weight * term)`` over the terms defined on both sides.

    Parameters
    ----------
    a, b : StyleFeatures or dict of torch.Tensor
        :func:`style_features` results, or :func:`style_features_torch` results (with any
        leading batch shape; a ``StyleFeatures`` broadcasts against it).
    weights : mapping of str to float, optional
        Weights by term name; terms not named take :data:`DEFAULT_WEIGHTS`. A weight of 0
        leaves a term out of the total.

    Returns
    -------
    dict
        Each term and ``total``. With two ``StyleFeatures``: floats, ``None`` for a term
        undefined on either side. Otherwise float64 tensors of the batch shape, differentiable;
        a term undefined on either side reads 0 and adds nothing to ``total``.

    Raises
    ------
    InvalidParameterError
        An unknown or non-finite weight, an unsupported input, or no band in common.

    Examples
    --------
    >>> import numpy as np
    >>> noise = np.random.default_rng(0).standard_normal((2, 5 * 44100)) * 0.1
    >>> d = style_distance(style_features(noise, 44100), style_features(0.5 * noise, 44100))
    >>> round(d["loudness_lu"], 2), round(d["spectral_mid_db"], 6)
    (6.02, 0.0)
    """
    merged = dict(DEFAULT_WEIGHTS)
    for name, value in (weights or {}).items():
        if name not in DEFAULT_WEIGHTS:
            raise InvalidParameterError(f"unknown style term {name!r} in weights; use one of {sorted(DEFAULT_WEIGHTS)}")
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
            raise InvalidParameterError(f"weight {name}={value!r}; pass a finite number >= 0")
        merged[name] = float(value)
    plain = isinstance(a, StyleFeatures) and isinstance(b, StyleFeatures)
    ta, tb = _as_tensors(a), _as_tensors(b)
    centres_a = ta["band_centres_hz"].detach().cpu().numpy()
    centres_b = tb["band_centres_hz"].detach().cpu().numpy()
    common, ia, ib = np.intersect1d(centres_a, centres_b, return_indices=True)
    if common.size == 0:
        raise InvalidParameterError("the two feature sets share no band; measure them at comparable sample rates")
    ia_t, ib_t = torch.from_numpy(ia), torch.from_numpy(ib)
    terms: dict[str, Any] = {}
    total: torch.Tensor | float = 0.0
    for term, feature in DISTANCE_TERMS.items():
        fa, fb = ta[feature], tb[feature]
        if feature in BANDED_FEATURES:
            diff = (fa.index_select(-1, ia_t) - fb.index_select(-1, ib_t)).abs().mean(-1)
        else:
            diff = (fa - fb).abs()
        defined = ta[DEFINED_FLAGS[feature]] & tb[DEFINED_FLAGS[feature]]
        term_value = torch.where(defined, diff, torch.zeros_like(diff))
        terms[term] = term_value
        if merged[term]:
            total = total + merged[term] * term_value
    if plain:
        out: dict[str, Any] = {}
        for term, feature in DISTANCE_TERMS.items():
            both = getattr(a, feature) is not None and getattr(b, feature) is not None
            out[term] = float(terms[term]) if both else None
        out["total"] = float(total)
        return out
    terms["total"] = total if isinstance(total, torch.Tensor) else torch.zeros((), dtype=torch.float64)
    return terms
