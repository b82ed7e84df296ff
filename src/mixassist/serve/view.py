"""The session state the page reads (``GET /api/sessions/{id}``, and every change's answer):
strips with their values, reasons and locks, meters of the mix excerpt, the comparison with the
reference, the context, the history and the variations, and the parameter schema."""

from __future__ import annotations

import dataclasses
import math
from typing import TYPE_CHECKING, Any

from mixassist.console.params import MixParams
from mixassist.console.schema import params_for
from mixassist.measure import fidelity_rows, reference_features
from mixassist.serve.store import SessionState
from mixassist.style.features import style_features

if TYPE_CHECKING:
    from mixassist.serve.render import Excerpts

__all__ = ["state_view", "schema_view", "style_view"]


def schema_view() -> dict[str, list[dict[str, Any]]]:
    """The parameter schema as the page's controls read it."""
    return {
        section: [
            {
                "name": p.name,
                "unit": p.unit,
                "min": p.minimum,
                "max": p.maximum,
                "default": p.default,
                "optional": p.optional,
                "scale": p.scale,
                "doc": p.doc,
            }
            for p in params_for(section).values()
        ]
        for section in ("track", "master", "reverb")
    }


def state_view(state: SessionState, excerpts: Excerpts) -> dict[str, Any]:
    """The JSON state of ``state`` (the contract's ``state`` object)."""
    step = state.current
    params = MixParams.from_dict(step.params)
    start, seconds = excerpts.window(None, None, state.excerpt_start_s)
    reduction = excerpts.gain_reduction(params, start, seconds)
    proposed = MixParams.from_dict(step.proposed) if step.proposed else params
    tracks = [
        {
            "name": name,
            "role": step.roles.get(name, ""),
            "params": dict(params.tracks[name]),
            "proposed": dict(proposed.tracks[name]),
            "reasons": dict(step.why.get(name, {})),
            "locked": list(step.locked.get(name, [])),
            "gain_reduction_db": reduction.get(name, 0.0),
        }
        for name in params.track_names
    ]

    def bus(name: str) -> dict[str, Any]:
        return {
            "params": dict(getattr(params, name)),
            "proposed": dict(getattr(proposed, name)),
            "reasons": dict(step.why.get(name, {})),
            "locked": list(step.locked.get(name, [])),
        }

    return {
        "id": state.id,
        "name": state.name,
        "sample_rate": state.sample_rate,
        "seconds": state.seconds,
        "excerpt": {"start_s": start, "seconds": seconds},
        "tracks": tracks,
        "master": {**bus("master"), "gain_reduction_db": excerpts.master_reduction(params, start, seconds)},
        "reverb": bus("reverb"),
        "meters": excerpts.meters(params, start, seconds),
        "reference": style_view(excerpts, params, start, seconds),
        "context": dict(step.context),
        "history": {
            "index": state.index,
            "length": len(state.history),
            "can_undo": state.index > 0,
            "can_redo": state.index < len(state.history) - 1,
            "labels": [s.label for s in state.history],
        },
        "variations": [
            {
                "index": k,
                "label": v["label"],
                "summary": v["summary"],
                "measured": v.get("measured", {}),
                "params_diff": v.get("params_diff", {}),
            }
            for k, v in enumerate(state.variations)
        ],
        "schema": schema_view(),
    }


def style_view(excerpts: Excerpts, params: MixParams, start: float, seconds: float) -> dict[str, Any] | None:
    """The mix excerpt against the reference's loudest section: the fidelity rows
    (:func:`~mixassist.measure.fidelity_rows`) and, per third-octave band, the mid level and width
    of each (``None`` without a reference)."""
    if excerpts.reference() is None:
        return None
    mix = excerpts.mix(params, start, seconds)
    sr = excerpts.sample_rate
    measured = excerpts.reference_features(
        lambda audio: {"style": features(audio, sr), "fidelity": reference_features(audio, sr)}
    )
    a, b = features(mix, sr), measured["style"]
    # The same rows, tolerances and reasons as the report's "Reference fidelity" table (mixers/follow.py).
    rows = [dataclasses.asdict(row) for row in fidelity_rows(reference_features(mix, sr), measured["fidelity"])]
    return {
        "files": list(excerpts.references),
        "fidelity": rows,
        "style": {
            "band_centres_hz": a["band_centres_hz"],
            "mix": {"mid_db": a["mid_db"], "width_db": a["width_db"]},
            "reference": {"mid_db": b["mid_db"], "width_db": b["width_db"]},
        },
    }


def features(audio: Any, sample_rate: int) -> dict[str, Any]:
    """Style features of ``audio`` rounded for JSON, and the tone tilt (mean mid level of the
    bands from 2 kHz up minus that below 250 Hz)."""
    f = style_features(audio, sample_rate)
    centres = [float(c) for c in f.band_centres_hz]
    mid = [] if f.spectral_mid_db is None else [round(float(v), 2) for v in f.spectral_mid_db]
    width = [] if f.width_db is None else [round(float(v), 2) for v in f.width_db]
    highs = [v for c, v in zip(centres, mid) if c >= 2000.0]
    lows = [v for c, v in zip(centres, mid) if c < 250.0]
    tilt = sum(highs) / len(highs) - sum(lows) / len(lows) if highs and lows else None
    return {
        "crest_db": _r(f.crest_db),
        "short_term_spread_lu": _r(f.short_term_spread_lu),
        "width_overall_db": _r(f.width_overall_db),
        "tilt": _r(tilt),
        "loudness_lufs": _r(f.loudness_lufs),
        "band_centres_hz": centres,
        "mid_db": mid,
        "width_db": width,
    }


def _r(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else round(float(value), 2)
