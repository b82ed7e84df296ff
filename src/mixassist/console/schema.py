"""Every console parameter, declared once.

Normalisation for optimisation, validation of user edits, ``--lock`` parsing, recipe
(de)serialisation and reports all read these declarations; nothing else lists parameters.

Conventions
-----------
* Names carry their unit suffix (``_db``, ``_hz``, ``_ms``, ``_s``, ``_dbtp``); dimensionless
  controls stay bare (``ratio``, ``q``, ``pan``, ``width``, ``polarity``).
* Every default is neutral: a track with only ``gain_db`` set is rendered scaled and centred,
  nothing else.  Processors that cannot be neutral while switched on (high- and low-pass, the
  side high-pass, reverb send, limiter) are *optional*: their value ``None`` means bypassed.
  ``drive_db = 0`` and ``side_gain_db = 0`` bypass saturation and mid/side width exactly.
* The normalised view maps each range to [0, 1], logarithmically for Hz, ms, s, ratio and Q.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch

__all__ = [
    "Param",
    "TRACK_PARAMS",
    "REVERB_PARAMS",
    "MASTER_PARAMS",
    "SECTIONS",
    "EQ_BANDS",
    "UNIT_SUFFIXES",
    "BARE_NAMES",
    "params_for",
]

#: Allowed unit suffixes and the unit each one means.
UNIT_SUFFIXES = {"_db": "dB", "_dbtp": "dBTP", "_hz": "Hz", "_ms": "ms", "_s": "s", "_lufs": "LUFS"}
#: Dimensionless controls, allowed without a suffix (also as the last word: ``comp_ratio``).
BARE_NAMES = ("ratio", "q", "pan", "width", "polarity")


@dataclass(frozen=True)
class Param:
    """One console setting.

    Parameters
    ----------
    name : str
        Unit-suffixed name, e.g. ``eq_peak1_hz``.
    unit : str
        Display unit (``"dB"``, ``"Hz"``, ``""`` for dimensionless).
    minimum, maximum : float
        Allowed range (inclusive).
    default : float or None
        Neutral value; ``None`` (only for optional parameters) means the processor is bypassed.
    scale : {"linear", "log"}
        How the range maps to the normalised [0, 1] view.
    doc : str
        One line: what it does.
    optional : bool
        ``None`` is a valid value meaning "bypassed".
    choices : tuple of float, optional
        For discrete settings (polarity): the only allowed values.
    tunable : bool
        Whether mixers adjust it by default when optimising (False for discrete settings and
        alignment delays, which are set by analysis, not by a style loss).
    """

    name: str
    unit: str
    minimum: float
    maximum: float
    default: float | None
    scale: Literal["linear", "log"]
    doc: str
    optional: bool = False
    choices: tuple[float, ...] | None = None
    tunable: bool = True

    def __post_init__(self) -> None:
        if self.scale == "log" and self.minimum <= 0:
            raise ValueError(f"{self.name}: log scale needs a positive minimum")
        if self.default is None and not self.optional:
            raise ValueError(f"{self.name}: only optional parameters may default to None")

    def to_normalised(self, value: float | torch.Tensor) -> float | torch.Tensor:
        """Physical value → [0, 1] (log-spaced for ``scale="log"``)."""
        lo, hi = self.minimum, self.maximum
        if self.scale == "log" and isinstance(value, torch.Tensor):
            return (torch.log(value) - math.log(lo)) / (math.log(hi) - math.log(lo))
        if self.scale == "log":
            return (math.log(value) - math.log(lo)) / (math.log(hi) - math.log(lo))
        return (value - lo) / (hi - lo)

    def from_normalised(self, value: float | torch.Tensor) -> float | torch.Tensor:
        """[0, 1] → physical value (inverse of :meth:`to_normalised`)."""
        lo, hi = self.minimum, self.maximum
        if self.scale == "log" and isinstance(value, torch.Tensor):
            return torch.exp(math.log(lo) + value * (math.log(hi) - math.log(lo)))
        if self.scale == "log":
            return math.exp(math.log(lo) + value * (math.log(hi) - math.log(lo)))
        return lo + value * (hi - lo)

    def describe_range(self) -> str:
        if self.choices:
            return " or ".join(f"{c:g}" for c in self.choices)
        text = f"{self.minimum:g}…{self.maximum:g}{(' ' + self.unit) if self.unit else ''}"
        return text + (" (or null = off)" if self.optional else "")

    def __repr__(self) -> str:
        return f"Param('{self.name}', {self.describe_range()}, default={self.default})"


#: The six EQ bands: (band, low Hz, high Hz, default Hz, Q range, default Q, shape).
EQ_BANDS = (
    ("low_shelf", 20.0, 1000.0, 100.0, (0.3, 2.0), 0.707, "low shelf"),
    ("peak1", 20.0, 2000.0, 200.0, (0.1, 10.0), 0.707, "peaking"),
    ("peak2", 50.0, 5000.0, 800.0, (0.1, 10.0), 0.707, "peaking"),
    ("peak3", 200.0, 12000.0, 2500.0, (0.1, 10.0), 0.707, "peaking"),
    ("peak4", 500.0, 20000.0, 6000.0, (0.1, 10.0), 0.707, "peaking"),
    ("high_shelf", 1000.0, 20000.0, 8000.0, (0.3, 2.0), 0.707, "high shelf"),
)


def _eq_params() -> tuple[Param, ...]:
    out = []
    for band, lo, hi, f0, (qlo, qhi), q0, shape in EQ_BANDS:
        out += [
            Param(f"eq_{band}_hz", "Hz", lo, hi, f0, "log", f"{shape} EQ band: frequency"),
            Param(f"eq_{band}_db", "dB", -18.0, 18.0, 0.0, "linear", f"{shape} EQ band: gain (0 = flat)"),
            Param(f"eq_{band}_q", "", qlo, qhi, q0, "log", f"{shape} EQ band: Q (bandwidth / shelf slope)"),
        ]
    return tuple(out)


def _comp_params(what: str) -> tuple[Param, ...]:
    return (
        Param("comp_threshold_db", "dB", -60.0, 0.0, 0.0, "linear", f"{what} compressor: threshold (peak level)"),
        Param("comp_ratio", "", 1.0, 20.0, 1.0, "log", f"{what} compressor: ratio (1 = off)"),
        Param("comp_attack_ms", "ms", 0.1, 100.0, 10.0, "log", f"{what} compressor: attack time constant"),
        Param("comp_release_ms", "ms", 10.0, 2000.0, 100.0, "log", f"{what} compressor: release time constant"),
        Param("comp_knee_db", "dB", 0.0, 18.0, 6.0, "linear", f"{what} compressor: soft-knee width"),
        Param("comp_makeup_db", "dB", 0.0, 24.0, 0.0, "linear", f"{what} compressor: make-up gain"),
    )


def _drive(what: str) -> Param:
    return Param(
        "drive_db",
        "dB",
        0.0,
        24.0,
        0.0,
        "linear",
        f"{what} saturation: drive into a tanh curve (0 = off; quiet signals pass at unity)",
    )


TRACK_PARAMS: tuple[Param, ...] = (
    Param("gain_db", "dB", -60.0, 24.0, 0.0, "linear", "fader gain, after the compressor"),
    Param(
        "polarity",
        "",
        -1.0,
        1.0,
        1.0,
        "linear",
        "polarity: 1 as recorded, -1 inverted",
        choices=(-1.0, 1.0),
        tunable=False,
    ),
    Param(
        "delay_ms", "ms", 0.0, 100.0, 0.0, "linear", "input delay for multi-mic alignment (sub-sample)", tunable=False
    ),
    Param(
        "hpf_hz", "Hz", 10.0, 2000.0, None, "log", "high-pass filter (24 dB/octave Butterworth) corner", optional=True
    ),
    Param(
        "lpf_hz", "Hz", 200.0, 20000.0, None, "log", "low-pass filter (24 dB/octave Butterworth) corner", optional=True
    ),
    *_eq_params(),
    *_comp_params("track"),
    _drive("track"),
    Param(
        "pan", "", -1.0, 1.0, 0.0, "linear", "constant-power pan, -1 left … 1 right (centre: -3 dB each side for mono)"
    ),
    Param("width", "", 0.0, 2.0, 1.0, "linear", "stereo width of stereo stems (0 mono, 1 as recorded, 2 double side)"),
    Param("reverb_send_db", "dB", -60.0, 6.0, None, "linear", "post-fader send to the reverb bus", optional=True),
)

REVERB_PARAMS: tuple[Param, ...] = (
    Param("rt60_low_s", "s", 0.1, 10.0, 1.8, "log", "reverb decay time (RT60) at 125 Hz and below"),
    Param("rt60_mid_s", "s", 0.1, 10.0, 1.5, "log", "reverb decay time (RT60) at 1 kHz"),
    Param("rt60_high_s", "s", 0.1, 10.0, 0.8, "log", "reverb decay time (RT60) at 8 kHz and above"),
    Param("predelay_ms", "ms", 0.0, 200.0, 20.0, "linear", "reverb pre-delay"),
    Param("return_db", "dB", -60.0, 12.0, 0.0, "linear", "reverb return level into the mix bus"),
)

MASTER_PARAMS: tuple[Param, ...] = (
    Param(
        "lpf_hz", "Hz", 200.0, 20000.0, None, "log", "low-pass filter (24 dB/octave Butterworth) corner", optional=True
    ),
    *_eq_params(),
    Param("side_gain_db", "dB", -40.0, 12.0, 0.0, "linear", "mid/side width: side level (0 = as mixed, -40 near mono)"),
    Param(
        "side_hpf_hz",
        "Hz",
        20.0,
        1000.0,
        None,
        "log",
        "high-pass on the side only (12 dB/octave): mono below",
        optional=True,
    ),
    *_comp_params("master glue"),
    _drive("master"),
    Param("output_gain_db", "dB", -24.0, 24.0, 0.0, "linear", "master output gain, before the limiter"),
    Param("limiter_ceiling_dbtp", "dBTP", -12.0, 0.0, None, "linear", "true-peak limiter ceiling", optional=True),
    Param("limiter_release_ms", "ms", 10.0, 1000.0, 100.0, "log", "true-peak limiter release time constant"),
)

#: The three places settings live, and their parameters.
SECTIONS: dict[str, tuple[Param, ...]] = {
    "track": TRACK_PARAMS,
    "reverb": REVERB_PARAMS,
    "master": MASTER_PARAMS,
}


def params_for(section: str) -> dict[str, Param]:
    """``{name: Param}`` for ``"track"``, ``"reverb"`` or ``"master"``."""
    return {p.name: p for p in SECTIONS[section]}
