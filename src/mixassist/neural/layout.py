"""The controller's outputs: which console settings it predicts, how each is normalised, and
which are ambiguous.

Every output lives in [0, 1] (a sigmoid of the model's logit).  Most are the console's own
normalised view (:meth:`Param.to_normalised`); three are re-expressed so that the same number
means the same thing on any recording:

* ``level``: the track's level after the fader, ``gain_db + input loudness`` (the input loudness
  as the controller measures it, :func:`mixassist.neural.features.approx_loudness`), mapped
  from −60…0;
* ``comp_depth``: how far the threshold sits below the track's sample peak, 0…40 dB;
* master ``glue_depth``: the glue threshold below the mix bus peak, 0…20 dB.

Ambiguities the loss must not punish (:func:`target_vectors` returns a mask per output):

* a bypassed processor's settings (high-pass corner when off, compressor settings at ratio 1,
  send level when off) — masked; an ``*_on`` output learns the switch;
* pan side: the loss sees ``|pan|`` and the mixer chooses sides (:func:`assign_sides`);
* width of a mono track — masked;
* EQ band order cannot be swapped here: the six bands are typed (shelf/peak, own ranges).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import cast

import numpy as np
import torch

from mixassist.console.params import MixParams
from mixassist.console.schema import MASTER_PARAMS, REVERB_PARAMS, TRACK_PARAMS, Param

__all__ = [
    "TRACK_OUTPUTS",
    "REVERB_OUTPUTS",
    "MASTER_OUTPUTS",
    "SWITCHES",
    "track_targets",
    "bus_targets",
    "apply_track",
    "apply_buses",
    "decode_tracks",
    "decode_buses",
    "assign_sides",
]

_P = {p.name: p for p in TRACK_PARAMS}
_R = {p.name: p for p in REVERB_PARAMS}
_M = {p.name: p for p in MASTER_PARAMS}
_EQ = [p.name for p in TRACK_PARAMS if p.name.startswith("eq_")]

LEVEL_RANGE = (-60.0, 0.0)
COMP_DEPTH_RANGE = (0.0, 40.0)
GLUE_DEPTH_RANGE = (0.0, 20.0)
_COMP = ("comp_ratio", "comp_attack_ms", "comp_release_ms", "comp_knee_db")

#: Per-track outputs, in order.
TRACK_OUTPUTS: tuple[str, ...] = (
    "level",
    "hpf_on",
    "hpf_hz",
    *_EQ,
    "comp_on",
    "comp_depth",
    *_COMP,
    "comp_makeup_db",
    "pan_abs",
    "width",
    "send_on",
    "reverb_send_db",
)
#: Reverb-bus outputs, in order.
REVERB_OUTPUTS: tuple[str, ...] = tuple(p.name for p in REVERB_PARAMS)
#: Master-bus outputs, in order (output gain and limiter are set by loudness delivery).
MASTER_OUTPUTS: tuple[str, ...] = (*_EQ, "glue_depth", *_COMP, "comp_makeup_db")
#: Outputs that are on/off switches (binary cross-entropy); the rest are regressed.
SWITCHES = ("hpf_on", "comp_on", "send_on")

_COMP_ON = 1.05  # a ratio at or below this counts as "no compressor"


def _lin(value: float, lo: float, hi: float) -> float:
    return float(np.clip((value - lo) / (hi - lo), 0.0, 1.0))


def _unlin(u, lo: float, hi: float):  # numbers or tensors
    return lo + u * (hi - lo)


def _decode(param: Param, u: torch.Tensor) -> torch.Tensor:
    """``param.from_normalised`` on a tensor, which gives a tensor."""
    return cast(torch.Tensor, param.from_normalised(u))


def _norm(param, value: float) -> float:
    return float(np.clip(param.to_normalised(float(np.clip(value, param.minimum, param.maximum))), 0.0, 1.0))


def track_targets(
    settings: Mapping[str, float | None], input_lufs: float, peak_db: float, stereo: bool
) -> tuple[np.ndarray, np.ndarray]:
    """One track's target vector and mask (1 = counts in the loss) from its console settings.

    ``input_lufs`` and ``peak_db`` are the track's measured input loudness and sample peak.
    """

    def get(name: str) -> float | None:
        value = settings.get(name, _P[name].default)
        return _P[name].default if value is None and not _P[name].optional else value

    def number(name: str) -> float:  # a setting that is never None (not optional: its default stands in)
        return float(cast(float, get(name)))

    t = np.zeros(len(TRACK_OUTPUTS), dtype=np.float32)
    m = np.ones(len(TRACK_OUTPUTS), dtype=np.float32)
    idx = {n: i for i, n in enumerate(TRACK_OUTPUTS)}

    def optional(switch: str, name: str) -> None:  # an on/off output, and the value masked when off
        value = get(name)
        t[idx[switch]] = 0.0 if value is None else 1.0
        if value is None:
            m[idx[name]] = 0.0
        else:
            t[idx[name]] = _norm(_P[name], value)

    t[idx["level"]] = _lin(number("gain_db") + input_lufs, *LEVEL_RANGE)
    optional("hpf_on", "hpf_hz")
    for name in _EQ:
        t[idx[name]] = _norm(_P[name], number(name))
    ratio = number("comp_ratio")
    on = ratio > _COMP_ON
    t[idx["comp_on"]] = 1.0 if on else 0.0
    t[idx["comp_depth"]] = _lin(peak_db - number("comp_threshold_db"), *COMP_DEPTH_RANGE)
    for name in _COMP:
        t[idx[name]] = _norm(_P[name], number(name))
    if not on:
        for name in ("comp_depth", *_COMP):
            m[idx[name]] = 0.0
    t[idx["comp_makeup_db"]] = _norm(_P["comp_makeup_db"], number("comp_makeup_db"))
    t[idx["pan_abs"]] = abs(number("pan"))
    t[idx["width"]] = _norm(_P["width"], number("width"))
    if not stereo:
        m[idx["width"]] = 0.0
    optional("send_on", "reverb_send_db")
    return t, m


def bus_targets(
    reverb: Mapping[str, float | None], master: Mapping[str, float | None], glue_depth_db: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Reverb and master target vectors and masks; ``glue_depth_db`` = bus peak − glue threshold."""
    rv = np.array(
        [
            _norm(_R[n], float(cast(float, reverb.get(n) if reverb.get(n) is not None else _R[n].default)))
            for n in REVERB_OUTPUTS
        ],
        dtype=np.float32,
    )
    mv = np.zeros(len(MASTER_OUTPUTS), dtype=np.float32)
    mm = np.ones(len(MASTER_OUTPUTS), dtype=np.float32)
    ratio = float(master.get("comp_ratio") or 1.0)
    for i, name in enumerate(MASTER_OUTPUTS):
        if name == "glue_depth":
            mv[i] = _lin(glue_depth_db, *GLUE_DEPTH_RANGE)
        else:
            value = master.get(name)
            mv[i] = _norm(_M[name], float(cast(float, value if value is not None else _M[name].default)))
        if ratio <= _COMP_ON and name in ("glue_depth", *_COMP):
            mm[i] = 0.0
    return rv, np.ones_like(rv), mv, mm


def decode_tracks(
    out: torch.Tensor, input_lufs: torch.Tensor, peak_db: torch.Tensor, stereo: torch.Tensor, low_source: torch.Tensor
) -> dict[str, torch.Tensor]:
    """Physical settings of many tracks from their outputs, as differentiable tensors.

    ``out`` is ``(..., tracks, len(TRACK_OUTPUTS))`` in [0, 1]; the other arguments are
    ``(..., tracks)`` (``stereo`` and ``low_source`` boolean).  Returns one tensor per console
    setting with the tracks' shape, in the console's convention (NaN = bypassed high-pass or
    send; a bass-range source (``low_source``) gets neither, whatever its switches say — the
    rule the ``rules`` mixer and the training truth follow; a compressor that is off has ratio 1 and its settings at their defaults; a mono
    track's width at its default).  ``pan`` is the magnitude: sides are chosen elsewhere
    (:func:`assign_sides`).  Switches (``*_on`` ≥ 0.5) are hard decisions with no gradient;
    every continuous value keeps its gradient.  :func:`apply_track` is this for one track.
    """
    o = {n: out[..., i] for i, n in enumerate(TRACK_OUTPUTS)}
    nan = torch.full_like(o["level"], float("nan"))

    def default(name: str) -> torch.Tensor:
        return torch.full_like(o["level"], float(cast(float, _P[name].default)))

    v: dict[str, torch.Tensor] = {}
    v["gain_db"] = torch.clamp(_unlin(o["level"], *LEVEL_RANGE) - input_lufs, -60.0, 24.0)
    v["hpf_hz"] = torch.where((o["hpf_on"] >= 0.5) & ~low_source, _decode(_P["hpf_hz"], o["hpf_hz"]), nan)
    for name in _EQ:
        v[name] = _decode(_P[name], o[name])
    on = o["comp_on"] >= 0.5
    ratio = torch.clamp(_decode(_P["comp_ratio"], o["comp_ratio"]), min=_COMP_ON + 0.05)
    v["comp_ratio"] = torch.where(on, ratio, torch.ones_like(ratio))
    threshold = torch.clamp(peak_db - _unlin(o["comp_depth"], *COMP_DEPTH_RANGE), -60.0, 0.0)
    v["comp_threshold_db"] = torch.where(on, threshold, default("comp_threshold_db"))
    for name in ("comp_attack_ms", "comp_release_ms", "comp_knee_db"):
        v[name] = torch.where(on, _decode(_P[name], o[name]), default(name))
    v["comp_makeup_db"] = _decode(_P["comp_makeup_db"], o["comp_makeup_db"])
    v["pan"] = torch.clamp(o["pan_abs"], 0.0, 1.0)
    v["width"] = torch.where(stereo, _decode(_P["width"], o["width"]), default("width"))
    v["reverb_send_db"] = torch.where(
        (o["send_on"] >= 0.5) & ~low_source, _decode(_P["reverb_send_db"], o["reverb_send_db"]), nan
    )
    return v


def decode_buses(
    reverb_out: torch.Tensor, master_out: torch.Tensor
) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor], torch.Tensor]:
    """Physical reverb and master settings and the glue depth (dB below the bus peak) from the
    bus outputs (``(..., len(REVERB_OUTPUTS))``, ``(..., len(MASTER_OUTPUTS))``), differentiable;
    a glue ratio at or below the "off" threshold reads 1.  :func:`apply_buses` is this on numbers."""
    reverb = {n: _decode(_R[n], reverb_out[..., i]) for i, n in enumerate(REVERB_OUTPUTS)}
    master: dict[str, torch.Tensor] = {}
    depth = torch.zeros_like(master_out[..., 0])
    for i, name in enumerate(MASTER_OUTPUTS):
        if name == "glue_depth":
            depth = _unlin(master_out[..., i], *GLUE_DEPTH_RANGE)
        else:
            master[name] = _decode(_M[name], master_out[..., i])
    ratio = master["comp_ratio"]
    master["comp_ratio"] = torch.where(ratio <= _COMP_ON, torch.ones_like(ratio), ratio)
    return reverb, master, depth


def apply_track(
    params: MixParams,
    track: str,
    out: Sequence[float],
    input_lufs: float,
    peak_db: float,
    stereo: bool,
    *,
    low_source: bool,
) -> dict[str, float | None]:
    """Physical settings of one track from its output vector (:func:`decode_tracks` on numbers):
    ``None`` for a bypassed high-pass or send; a compressor that is off gives only ``comp_ratio``
    1; a mono track gives no width.

    Pan is returned as a magnitude (``pan_abs``): :func:`assign_sides` picks the sides.
    """
    row = torch.as_tensor(np.asarray(out, dtype=np.float64))[None]
    decoded = decode_tracks(
        row,
        torch.tensor([float(input_lufs)], dtype=torch.float64),
        torch.tensor([float(peak_db)], dtype=torch.float64),
        torch.tensor([bool(stereo)]),
        torch.tensor([bool(low_source)]),
    )
    values: dict[str, float | None] = {}
    for name, tensor in decoded.items():
        value = float(tensor[0])
        values[name] = None if math.isnan(value) else value
    if values["comp_ratio"] == 1.0:
        for name in ("comp_threshold_db", "comp_attack_ms", "comp_release_ms", "comp_knee_db"):
            del values[name]
    if not stereo:
        del values["width"]
    return values


def apply_buses(
    reverb_out: Sequence[float], master_out: Sequence[float]
) -> tuple[dict[str, float], dict[str, float], float]:
    """Physical reverb and master settings, and the glue depth (dB below the bus peak)."""
    reverb, master, depth = decode_buses(
        torch.as_tensor(np.asarray(reverb_out, dtype=np.float64)),
        torch.as_tensor(np.asarray(master_out, dtype=np.float64)),
    )
    return ({n: float(v) for n, v in reverb.items()}, {n: float(v) for n, v in master.items()}, float(depth))


def assign_sides(
    magnitudes: Mapping[str, float], loudness: Mapping[str, float], *, centre: float = 0.05
) -> dict[str, float]:
    """Signed pans from magnitudes: tracks off centre alternate right/left, loudest first, so the
    two sides carry about the same level (the model only predicts how far from centre)."""
    order = sorted((n for n, v in magnitudes.items() if v > centre), key=lambda n: (-loudness.get(n, -120.0), n))
    signed = {n: 0.0 for n, v in magnitudes.items() if v <= centre}
    side = 1.0
    for n in order:
        signed[n] = side * float(magnitudes[n])
        side = -side
    return signed
