"""Reference fidelity: the features a finished reference states reliably, and how far a mix is from them.

A reference is usually another song, so its spectrum in detail is its content. What it states
reliably is its *balance*: integrated loudness, the mid and side tonal balance in a few wide
bands (loudness-normalised), the stereo width (side-to-mid energy) per band and overall, and its
dynamics (peak-to-loudness ratio, crest factor, loudness range, short-term loudness spread).
:func:`reference_features` measures these on any stereo signal (a reference or a mix, the same
way); :func:`fidelity_rows` compares a mix's features with a reference's under tolerances, one
:class:`FidelityRow` per feature with a reason for every miss.

Everything is built from the public measures of this package: Welch third-octave band powers
(:mod:`~mixassist.measure.bands`), the width bands (:mod:`~mixassist.measure.width`), the meter
(:func:`~mixassist.measure.measure`: loudness, LRA, true peak, PLR, side/mid) and the dynamics
(:mod:`~mixassist.measure.dynamics`).
"""

from __future__ import annotations

import dataclasses
import math
import types
from collections.abc import Mapping
from typing import Any

import numpy as np

from mixassist.measure import LoudnessReport, check_sample_rate, measure
from mixassist.measure.bands import (
    BAND_FLOOR_DB,
    NORMALISATION_LUFS,
    bands_in_range,
    mid_side_spectra,
    power_db,
    third_octave_powers,
)
from mixassist.measure.dynamics import crest_with_reason, spread_with_reason
from mixassist.measure.reasons import as_stereo
from mixassist.measure.width import WIDTH_BANDS_HZ, width_band_powers, width_with_reason

__all__ = ["DEFAULT_TOLERANCES", "TONAL_BANDS", "FidelityRow", "fidelity_rows", "reference_features", "tonal_band_db"]

TONAL_BANDS: Mapping[str, tuple[int, int]] = types.MappingProxyType(
    {
        "40-80 Hz": (0, 4),
        "100-200 Hz": (4, 8),
        "250-500 Hz": (8, 12),
        "630-1250 Hz": (12, 16),
        "1.6-3.15 kHz": (16, 20),
        "4-6.3 kHz": (20, 23),
        "8-16 kHz": (23, 27),
    }
)
"""Wide tonal bands: name → slice of :data:`~mixassist.measure.THIRD_OCTAVE_CENTRES_HZ` (nominal centres
named). Each is 3-4 third-octave bands, about what one master EQ band moves."""

DEFAULT_TOLERANCES: Mapping[str, float] = types.MappingProxyType(
    {
        "loudness_lufs": 0.5,
        "mid_band_db": 1.5,
        "mid_third_octave_db": 2.0,
        "side_band_db": 3.0,
        "width_db": 1.5,
        "width_band_db": 2.5,
        "plr_db": 1.0,
        "crest_db": 1.0,
        "loudness_range_lu": 1.0,
        "short_term_spread_lu": 1.0,
    }
)
"""How far a mix may sit from the reference, per kind of feature (dB or LU). ``mid_third_octave_db``
bounds the mean absolute third-octave difference of the mid spectra, the others each value. The
issue's goals (issue 19): width ±1.5 dB, PLR ±1.0 dB, LRA ±1.0 LU, mid tonal distance 2.0 dB;
the rest chosen on the validation songs (``docs/mixing.md``, "The closed loop")."""

_UNITS = {"lufs": "LUFS", "db": "dB", "lu": "LU"}


@dataclasses.dataclass(frozen=True)
class FidelityRow:
    """One feature of a mix against the reference.

    Attributes
    ----------
    feature : str
        Readable name (``"width (side/mid), overall"``, ``"mid 250-500 Hz"``, ``"PLR"`` …).
    key : str
        Stable identifier (``"width_db.overall"``, ``"mid_band_db.250-500 Hz"``, ``"plr_db"``).
    unit : str
        ``"dB"``, ``"LU"`` or ``"LUFS"``.
    reference, mix : float or None
        The two values (None: not measurable, e.g. a spread of a song shorter than 3 s).
    tolerance : float
        Largest allowed ``|mix - reference|``.
    ok : bool or None
        Within the tolerance; None when either value is missing.
    reason : str
        Why a row is not ✓ (empty when it is).
    """

    feature: str
    key: str
    unit: str
    reference: float | None
    mix: float | None
    tolerance: float
    ok: bool | None
    reason: str = ""

    @property
    def error(self) -> float | None:
        """``mix - reference``, or None."""
        if self.reference is None or self.mix is None:
            return None
        return self.mix - self.reference

    def to_dict(self) -> dict[str, Any]:
        """Strict JSON: values rounded to 0.01, None kept."""

        def r(v: float | None) -> float | None:
            return None if v is None else round(float(v), 2) + 0.0

        return {
            "feature": self.feature,
            "key": self.key,
            "unit": self.unit,
            "reference": r(self.reference),
            "mix": r(self.mix),
            "tolerance": r(self.tolerance),
            "ok": self.ok,
            "reason": self.reason,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FidelityRow:
        """The row :meth:`to_dict` wrote."""
        return cls(
            feature=str(data["feature"]),
            key=str(data["key"]),
            unit=str(data["unit"]),
            reference=data["reference"],
            mix=data["mix"],
            tolerance=float(data["tolerance"]),
            ok=data["ok"],
            reason=str(data.get("reason", "")),
        )


def tonal_band_db(third_octave_db: list[float | None], shared: np.ndarray | None = None) -> dict[str, float | None]:
    """Wide-band levels (:data:`TONAL_BANDS`) from third-octave levels in dB: the power sum of the
    band's third-octaves that are present (not None) and, when given, in the ``shared`` mask."""
    out: dict[str, float | None] = {}
    for name, (a, b) in TONAL_BANDS.items():
        powers = [
            10.0 ** (v / 10.0)
            for i, v in enumerate(third_octave_db[a:b], start=a)
            if v is not None and (shared is None or shared[i])
        ]
        out[name] = 10.0 * math.log10(sum(powers)) if powers and sum(powers) > 0 else None
    return out


def reference_features(
    audio: np.ndarray, sample_rate: float, *, report: LoudnessReport | None = None
) -> dict[str, Any]:
    """The features a finished stereo mix states reliably (measure a reference and a mix alike).

    Parameters
    ----------
    audio : numpy.ndarray
        ``(channels, samples)`` (1 or 2 channels; mono reads as L = R) or 1-D.
    sample_rate : float
        Hz.
    report : LoudnessReport, optional
        :func:`~mixassist.measure.measure` of this very audio when the caller has it (the delivery
        measured its mix): it is not measured again.

    Returns
    -------
    dict
        Strict-JSON values (None where a figure does not exist, with ``reasons[name]``):

        - ``sample_rate``;
        - ``loudness_lufs`` (BS.1770-4 integrated), ``true_peak_dbtp`` (4x), ``plr_db`` (true peak
          minus loudness), ``crest_db`` (sample peak over RMS), ``loudness_range_lu`` (EBU Tech 3342),
          ``short_term_spread_lu`` (standard deviation of the gated 3 s loudness);
        - ``width_db``: ``{"overall", "low", "mid", "high"}`` side-to-mid energy, dB (bands of
          :data:`~mixassist.measure.WIDTH_BANDS_HZ`, overall from the meter's energies);
        - ``mid_third_octave_db``, ``side_third_octave_db``: 27 third-octave levels of mid and side
          after normalising the signal to -23 LUFS (None above the Nyquist frequency, floor -120);
        - ``mid_band_db``, ``side_band_db``: the same in the wide :data:`TONAL_BANDS`.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> noise = rng.standard_normal((2, 4 * 22050)) * 0.1
    >>> f = reference_features(noise, 22050)
    >>> abs(f["width_db"]["overall"]) < 0.2  # unrelated channels of equal level
    True
    """
    rate = check_sample_rate(sample_rate)
    x = as_stereo(audio)
    reasons: dict[str, str] = {}
    report = measure(x, rate) if report is None else report
    loudness = report.integrated_lufs
    for name in ("integrated_lufs", "true_peak_dbtp", "plr_db", "loudness_range_lu"):
        if name in report.reasons:
            reasons[{"integrated_lufs": "loudness_lufs"}.get(name, name)] = report.reasons[name]
    crest, why = crest_with_reason(x)
    if why:
        reasons["crest_db"] = why
    spread, why = spread_with_reason(x, rate)
    if why:
        reasons["short_term_spread_lu"] = why

    spectra = mid_side_spectra(x, rate)
    widths, why = width_with_reason(*width_band_powers(spectra, rate))
    width: dict[str, float | None] = {"overall": report.side_mid_db, **(widths or dict.fromkeys(WIDTH_BANDS_HZ))}
    if why:
        reasons["width_db"] = why
    elif report.side_mid_db is None:
        reasons["width_db.overall"] = report.reasons.get("side_mid_db", "undefined")
    powers = third_octave_powers(spectra, rate)
    scale = 10.0 ** ((NORMALISATION_LUFS - loudness) / 10.0) if loudness is not None else 1.0
    present = bands_in_range(rate)
    levels: dict[str, list[float | None]] = {}
    for which in ("mid", "side"):
        db = np.maximum(power_db(powers[which] * scale), BAND_FLOOR_DB)
        levels[which] = [float(v) if ok else None for v, ok in zip(db, present)]
    if loudness is None:
        reasons["mid_band_db"] = "not loudness-normalised: " + report.reasons.get("integrated_lufs", "undefined")

    return {
        "sample_rate": rate,
        "loudness_lufs": loudness,
        "true_peak_dbtp": report.true_peak_dbtp,
        "plr_db": report.plr_db,
        "crest_db": crest,
        "loudness_range_lu": report.loudness_range_lu,
        "short_term_spread_lu": spread,
        "width_db": width,
        "mid_third_octave_db": levels["mid"],
        "side_third_octave_db": levels["side"],
        "mid_band_db": tonal_band_db(levels["mid"]),
        "side_band_db": tonal_band_db(levels["side"]),
        "reasons": reasons,
    }


_SCALARS = {  # key: (feature, unit)
    "loudness_lufs": ("integrated loudness", "LUFS"), "plr_db": ("PLR (true peak − loudness)", "dB"),
    "crest_db": ("crest factor", "dB"), "loudness_range_lu": ("loudness range (LRA)", "LU"),
    "short_term_spread_lu": ("short-term loudness spread", "LU"),
}  # fmt: skip


def _row(feature: str, key: str, unit: str, ref: float | None, mix: float | None, tol: float, why: str) -> FidelityRow:
    if ref is None or mix is None:
        missing = "the reference's" if ref is None else "the mix's"
        return FidelityRow(feature, key, unit, ref, mix, tol, None, f"{missing} value is undefined{why}")
    error = mix - ref
    ok = abs(error) <= tol + 1e-9
    step = "LU" if unit == "LUFS" else unit
    side = "above" if error > 0 else "below"
    reason = "" if ok else f"{abs(error):.1f} {step} {side} the reference (tolerance ±{tol:g} {step})"
    return FidelityRow(feature, key, unit, float(ref), float(mix), tol, ok, reason)


def fidelity_rows(
    mix_features: Mapping[str, Any],
    reference_features: Mapping[str, Any],
    tolerances: Mapping[str, float] | None = None,
) -> list[FidelityRow]:
    """The mix against the reference, one :class:`FidelityRow` per feature.

    Parameters
    ----------
    mix_features, reference_features : mapping
        What :func:`reference_features` returned for the mix and for the reference.
    tolerances : mapping, optional
        Per kind of feature (keys of :data:`DEFAULT_TOLERANCES`; missing keys take the default).

    Returns
    -------
    list of FidelityRow
        Loudness, PLR, crest, LRA, short-term spread; width overall and per band; the mean absolute
        third-octave mid difference (``mid_third_octave_db``); mid and side per wide band. Bands are
        compared where both signals have them (a reference at a lower rate has fewer). A row whose
        value is missing on either side has ``ok=None`` and says which.
    """
    tol = {**DEFAULT_TOLERANCES, **(tolerances or {})}
    rows: list[FidelityRow] = []
    ref_reasons = reference_features.get("reasons", {})
    mix_reasons = mix_features.get("reasons", {})

    def why(key: str) -> str:
        text = ref_reasons.get(key) or mix_reasons.get(key)
        return f" ({text})" if text else ""

    for key, (name, unit) in _SCALARS.items():
        rows.append(_row(name, key, unit, reference_features.get(key), mix_features.get(key), tol[key], why(key)))
    for band in ("overall", *WIDTH_BANDS_HZ):
        ref_w, mix_w = reference_features["width_db"].get(band), mix_features["width_db"].get(band)
        label = "overall" if band == "overall" else f"{band} band"
        kind = "width_db" if band == "overall" else "width_band_db"
        rows.append(
            _row(f"width (side/mid), {label}", f"width_db.{band}", "dB", ref_w, mix_w, tol[kind], why("width_db"))
        )
    ref_mid, mix_mid = reference_features["mid_third_octave_db"], mix_features["mid_third_octave_db"]
    shared = np.array([a is not None and b is not None for a, b in zip(ref_mid, mix_mid)])
    if shared.any():
        distance: float | None = float(
            np.mean([abs(float(b) - float(a)) for a, b, s in zip(ref_mid, mix_mid, shared) if s])
        )
        rows.append(
            FidelityRow(
                "mid tonal distance (third-octave, mean |Δ|)",
                "mid_third_octave_db",
                "dB",
                0.0,
                distance,
                tol["mid_third_octave_db"],
                bool(distance is not None and distance <= tol["mid_third_octave_db"] + 1e-9),
                ""
                if distance is not None and distance <= tol["mid_third_octave_db"] + 1e-9
                else f"the third-octave mid spectra differ by {distance:.1f} dB on average "
                f"(tolerance {tol['mid_third_octave_db']:g}); a reference's detailed spectrum is mostly its content",
            )
        )
    for which in ("mid", "side"):
        ref_b = tonal_band_db(reference_features[f"{which}_third_octave_db"], shared)
        mix_b = tonal_band_db(mix_features[f"{which}_third_octave_db"], shared)
        for band in TONAL_BANDS:
            if ref_b[band] is None and mix_b[band] is None:
                continue  # above both Nyquist frequencies
            rows.append(
                _row(
                    f"{which} {band}",
                    f"{which}_band_db.{band}",
                    "dB",
                    ref_b[band],
                    mix_b[band],
                    tol[f"{which}_band_db"],
                    why("mid_band_db"),
                )
            )
    return rows
