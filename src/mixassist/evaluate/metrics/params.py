"""How far predicted console settings are from the true ones, in the parameters' units."""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from mixassist.console.schema import EQ_BANDS, params_for
from mixassist.errors import InvalidParameterError

__all__ = ["parameter_error"]


def _section_value(values: Mapping[str, Any], name: str, default: Any, where: str) -> float | None:
    value = values.get(name, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise InvalidParameterError(f"{where}: {name}={value!r} is not a finite number")
    return float(value)


def _section_errors(pred: Mapping[str, Any], truth: Mapping[str, Any], section: str, where: str) -> dict[str, Any]:
    table = params_for(section)
    get_p = functools.partial(_section_value, pred, where=f"predicted {where}")
    get_t = functools.partial(_section_value, truth, where=f"true {where}")
    eq = []
    for band, *_ in EQ_BANDS:
        name = f"eq_{band}_db"
        p, t = get_p(name, table[name].default), get_t(name, table[name].default)
        if p is not None and t is not None and (p != 0.0 or t != 0.0):
            eq.append(abs(p - t))
    p_ratio = get_p("comp_ratio", table["comp_ratio"].default)
    t_ratio = get_t("comp_ratio", table["comp_ratio"].default)
    ratio = None
    if p_ratio is not None and t_ratio is not None and (p_ratio != 1.0 or t_ratio != 1.0):
        if p_ratio <= 0.0 or t_ratio <= 0.0:
            raise InvalidParameterError(f"{where}: comp_ratio must be positive (got {p_ratio:g} and {t_ratio:g})")
        ratio = abs(math.log2(p_ratio) - math.log2(t_ratio))
    return {"eq": eq, "ratio": ratio}


def _mean_or_none(values: Sequence[float]) -> float | None:
    return float(np.mean(values)) if len(values) else None


def parameter_error(pred_params: Mapping[str, Any], truth_params: Mapping[str, Any]) -> dict[str, Any]:
    """How far predicted console settings are from the true ones, in the parameters' units.

    Both arguments are shaped like :meth:`mixassist.console.params.MixParams.to_dict`
    (``{"tracks": {name: {param: value}}, "master": {...}, ...}``); a missing parameter takes
    its neutral default from :mod:`mixassist.console.schema`. Tracks present in both are
    compared.

    * **Gain** (``gain_db``): mean absolute error, dB, both as is (``gain_error_db``) and after
      removing the mean offset across tracks (``gain_error_relative_db``): a mix whose faders
      are all 3 dB low sounds the same after loudness normalisation, so the relative error is
      the one that judges the balance. ``gain_offset_db`` is that mean signed offset.
    * **Pan**: mean absolute difference, pan units (-1 ... 1; 2 is hard left against hard right).
    * **EQ gains** (``eq_*_db`` of the six bands): mean absolute error, dB, over the
      (track, band) pairs where the truth or the prediction is non-zero (a flat band matched by
      a flat band is not counted); frequencies and Qs are not compared.
    * **Compressor ratio**: mean ``|log2(ratio_pred) - log2(ratio_true)|`` over the tracks where
      either ratio differs from 1 (off): 1.0 means a factor of 2 (e.g. 2:1 against 4:1).
    * The master bus's EQ gains and compressor ratio the same way (``master_*``).

    Parameters
    ----------
    pred_params, truth_params : mapping
        ``MixParams.to_dict()``-shaped dicts.

    Returns
    -------
    dict
        ``tracks_compared`` (int), ``tracks_missing`` (true tracks absent from the prediction)
        and ``tracks_extra`` (lists of str), ``gain_error_db``, ``gain_error_relative_db``,
        ``gain_offset_db``, ``pan_error``, ``eq_gain_error_db``, ``comp_ratio_error_log2``,
        ``master_eq_gain_error_db``, ``master_comp_ratio_error_log2`` (float, or None where
        nothing was compared) and ``per_track``: ``{track: {gain_error_db (signed, pred -
        truth), gain_error_relative_db (signed), pan_error (signed), eq_gain_error_db,
        comp_ratio_error_log2}}``. JSON-safe.

    Raises
    ------
    InvalidParameterError
        No track in common, or a value that is not a finite number.

    Examples
    --------
    >>> truth = {"tracks": {"vox": {"gain_db": -3.0}, "bass": {"gain_db": -6.0}}}
    >>> pred = {"tracks": {"vox": {"gain_db": -5.0}, "bass": {"gain_db": -8.0}}}
    >>> err = parameter_error(pred, truth)
    >>> err["gain_error_db"], err["gain_error_relative_db"], err["gain_offset_db"]
    (2.0, 0.0, -2.0)
    """
    try:
        pred_tracks = dict(pred_params.get("tracks", {}))
        truth_tracks = dict(truth_params.get("tracks", {}))
    except (AttributeError, TypeError, ValueError) as exc:
        raise InvalidParameterError(
            f"parameter_error takes MixParams.to_dict()-shaped mappings ({exc}); pass params.to_dict()"
        ) from exc
    names = [name for name in truth_tracks if name in pred_tracks]
    if not names:
        raise InvalidParameterError(f"no track in common: predicted {sorted(pred_tracks)}, true {sorted(truth_tracks)}")
    table = params_for("track")
    per_track: dict[str, dict[str, float | None]] = {}
    gain_diffs, pans, eqs, ratios = [], [], [], []
    for name in names:
        p, t = pred_tracks[name], truth_tracks[name]
        where = f"track '{name}'"
        p_gain = _section_value(p, "gain_db", table["gain_db"].default, f"predicted {where}")
        t_gain = _section_value(t, "gain_db", table["gain_db"].default, f"true {where}")
        p_pan = _section_value(p, "pan", table["pan"].default, f"predicted {where}")
        t_pan = _section_value(t, "pan", table["pan"].default, f"true {where}")
        section = _section_errors(p, t, "track", where)
        gain_diffs.append(p_gain - t_gain)  # type: ignore[operator]
        pans.append(p_pan - t_pan)  # type: ignore[operator]
        eqs += section["eq"]
        if section["ratio"] is not None:
            ratios.append(section["ratio"])
        per_track[name] = {
            "gain_error_db": float(p_gain - t_gain),  # type: ignore[operator]
            "pan_error": float(p_pan - t_pan),  # type: ignore[operator]
            "eq_gain_error_db": _mean_or_none(section["eq"]),
            "comp_ratio_error_log2": section["ratio"],
        }
    offset = float(np.mean(gain_diffs))
    for name, diff in zip(names, gain_diffs):
        per_track[name]["gain_error_relative_db"] = float(diff - offset)
    master = _section_errors(
        dict(pred_params.get("master") or {}), dict(truth_params.get("master") or {}), "master", "master bus"
    )
    return {
        "tracks_compared": len(names),
        "tracks_missing": sorted(set(truth_tracks) - set(pred_tracks)),
        "tracks_extra": sorted(set(pred_tracks) - set(truth_tracks)),
        "gain_error_db": float(np.mean(np.abs(gain_diffs))),
        "gain_error_relative_db": float(np.mean(np.abs(np.asarray(gain_diffs) - offset))),
        "gain_offset_db": offset,
        "pan_error": float(np.mean(np.abs(pans))),
        "eq_gain_error_db": _mean_or_none(eqs),
        "comp_ratio_error_log2": _mean_or_none(ratios),
        "master_eq_gain_error_db": _mean_or_none(master["eq"]),
        "master_comp_ratio_error_log2": master["ratio"],
        "per_track": per_track,
    }
