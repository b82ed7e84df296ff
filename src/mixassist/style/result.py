"""The plain-number result of :func:`~mixassist.style.features.style_features` and its strict-JSON form."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from mixassist.errors import InvalidParameterError

__all__ = ["BANDED_FEATURES", "DEFINED_FLAGS", "SCALAR_FEATURES", "StyleFeatures"]

SCALAR_FEATURES = ("loudness_lufs", "width_overall_db", "crest_db", "short_term_spread_lu")
"""The features that are one number per signal."""
BANDED_FEATURES = ("spectral_mid_db", "spectral_side_db", "width_db")
"""The features that are one number per third-octave band."""
DEFINED_FLAGS = {
    "loudness_lufs": "loudness_defined",
    "spectral_mid_db": "spectral_defined",
    "spectral_side_db": "spectral_defined",
    "width_db": "width_defined",
    "width_overall_db": "width_defined",
    "crest_db": "crest_defined",
    "short_term_spread_lu": "short_term_spread_defined",
}
"""Feature -> the boolean ``*_defined`` entry of :func:`~mixassist.style.features.style_features_torch` that says whether it exists."""


@dataclasses.dataclass(frozen=True, eq=False)
class StyleFeatures:
    """Style of one stereo mix over its whole length, in physical units.

    Attributes
    ----------
    loudness_lufs : float or None
        Integrated loudness, BS.1770-4, LUFS.
    spectral_mid_db, spectral_side_db : numpy.ndarray or None
        ``(bands,)`` third-octave band powers of mid and side, dB relative to the total mid
        power, soft-floored at -60 dB.
    width_db : numpy.ndarray or None
        ``(bands,)`` side-to-mid power ratio per band, dB, within ±60.
    width_overall_db : float or None
        Side-to-mid power ratio over all bands, dB, within ±60.
    crest_db : float or None
        Sample peak over RMS, both channels pooled, dB.
    short_term_spread_lu : float or None
        Standard deviation of the gated 3 s short-term loudness, LU.
    band_centres_hz : numpy.ndarray
        ``(bands,)`` nominal centres of the bands (those below the Nyquist frequency).

    See :mod:`mixassist.style.features` for the definitions.
    """

    loudness_lufs: float | None
    spectral_mid_db: np.ndarray | None
    spectral_side_db: np.ndarray | None
    width_db: np.ndarray | None
    width_overall_db: float | None
    crest_db: float | None
    short_term_spread_lu: float | None
    band_centres_hz: np.ndarray

    def __repr__(self) -> str:
        def fmt(value: Any) -> str:
            if value is None:
                return "None"
            if isinstance(value, np.ndarray):
                return f"<{value.size} bands, {value.min():.1f}…{value.max():.1f}>"
            return f"{value:.2f}"

        fields = ", ".join(
            f"{f.name}={fmt(getattr(self, f.name))}" for f in dataclasses.fields(self) if f.name != "band_centres_hz"
        )
        return f"StyleFeatures({fields})"

    def to_dict(self) -> dict[str, Any]:
        """Strict-JSON dictionary: floats and lists of floats, ``None`` for undefined figures."""
        out: dict[str, Any] = {}
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if isinstance(value, np.ndarray):
                out[field.name] = [float(v) for v in value]
            else:
                out[field.name] = None if value is None else float(value)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> StyleFeatures:
        """Inverse of :meth:`to_dict`.

        Raises
        ------
        InvalidParameterError
            A key is missing or unknown, a value is not finite, or a band array has the wrong length.
        """
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        missing = sorted(names - set(data))
        if unknown or missing:
            raise InvalidParameterError(
                f"style features: unknown keys {unknown}, missing keys {missing}; expected {sorted(names)}"
            )
        centres = _finite_array(data["band_centres_hz"], "band_centres_hz")
        values: dict[str, Any] = {"band_centres_hz": centres}
        for name in BANDED_FEATURES:
            raw = data[name]
            values[name] = None if raw is None else _finite_array(raw, name)
            if values[name] is not None and values[name].shape != centres.shape:
                raise InvalidParameterError(
                    f"style features: {name} has {values[name].size} values for {centres.size} bands"
                )
        for name in SCALAR_FEATURES:
            raw = data[name]
            if raw is not None and (
                isinstance(raw, bool) or not isinstance(raw, (int, float)) or not math.isfinite(raw)
            ):
                raise InvalidParameterError(f"style features: {name}={raw!r} is not a finite number or null")
            values[name] = None if raw is None else float(raw)
        return cls(**values)


def _finite_array(raw: Any, name: str) -> np.ndarray:
    try:
        array = np.asarray(raw, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InvalidParameterError(f"style features: {name} is not a list of numbers ({exc})") from exc
    if array.ndim != 1 or not np.all(np.isfinite(array)):
        raise InvalidParameterError(f"style features: {name} must be a flat list of finite numbers")
    array.flags.writeable = False
    return array
