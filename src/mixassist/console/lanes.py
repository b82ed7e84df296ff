"""Automation lanes: breakpoint envelopes for the settings that move with the song.

A :class:`Lane` is a list of breakpoints ``(time_s, value)``, the value in the parameter's own
unit (dB for gains and sends, −1…1 for pan).  Between two breakpoints the value follows a
**raised-cosine** segment in that unit::

    v(t) = v0 + (v1 − v0) · w,   w = (1 − cos(π·u)) / 2,   u = (t − t0) / (t1 − t0)

so a gain lane is smooth *in dB* (the linear gain is ``10^(v/20)`` of it).  The envelope is
continuous with a continuous slope (zero at every breakpoint), never overshoots its breakpoints
(each segment is monotone), and its steepest slope is ``π/2 · |v1 − v0| / (t1 − t0)`` at the
segment's middle -- what a rate limit on rides must use (:func:`max_rate`).  Before the first
breakpoint the first value holds, after the last the last.

The console renders a lane with :func:`mixassist.console.dsp.envelope.lane_curve`: output sample
``i`` of a block starting at sample ``start`` reads the lane at ``t = (start + i) /
sample_rate``.  A segment whose two values are equal is exactly that value (``v0 + 0·w``), and
the samples from the last breakpoint on are exactly its value, so a held span renders bit for
bit as the static setting would.

A static setting is a lane with one point: :meth:`~mixassist.console.params.MixParams.set_lane`
stores a one-point lane as the static value, so the console takes the static path for it and it
renders bit-identically to the setting it always was.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from mixassist.console.schema import EQ_BANDS
from mixassist.errors import InvalidParameterError

__all__ = ["AUTOMATABLE", "EQ_GAINS", "MAX_POINTS", "Lane", "lane_curve_numpy", "max_rate", "parse_span"]

#: The parameters a lane may move, per section (``"track"`` or ``"master"``).
#: The EQ bands' gains (``eq_<band>_db``, the schema's names) move too: the console then updates
#: the band's coefficients every :data:`~mixassist.console.dsp.moving_eq.EQ_UPDATE` samples.
EQ_GAINS: tuple[str, ...] = tuple(f"eq_{band}_db" for band, *_ in EQ_BANDS)
AUTOMATABLE: dict[str, tuple[str, ...]] = {
    "track": ("gain_db", "pan", "reverb_send_db", *EQ_GAINS),
    "master": ("output_gain_db", *EQ_GAINS),
}

#: Most breakpoints one lane may hold (a ride of a 10-minute song at 4 points/s is 2400).
MAX_POINTS = 100_000


@dataclass(frozen=True)
class Lane:
    """A breakpoint envelope: strictly increasing ``times_s`` (≥ 0) and one value each.

    Values are in the parameter's unit and are validated against its range by
    :class:`~mixassist.console.params.MixParams`.

    Examples
    --------
    >>> lane = Lane((0.0, 2.0), (-6.0, 0.0))
    >>> lane.value_at(1.0)
    -3.0
    """

    times_s: tuple[float, ...]
    values: tuple[float, ...]

    def __post_init__(self) -> None:
        times = tuple(float(t) for t in self.times_s)
        values = tuple(float(v) for v in self.values)
        object.__setattr__(self, "times_s", times)
        object.__setattr__(self, "values", values)
        if not times or len(times) != len(values):
            raise InvalidParameterError(
                f"a lane needs one value per time and at least one point; got {len(times)} times, {len(values)} values"
            )
        if len(times) > MAX_POINTS:
            raise InvalidParameterError(f"a lane holds at most {MAX_POINTS} points; got {len(times)}")
        if not all(math.isfinite(t) and t >= 0 for t in times):
            raise InvalidParameterError("lane times must be finite seconds >= 0")
        if any(b <= a for a, b in zip(times, times[1:], strict=False)):
            raise InvalidParameterError("lane times must increase strictly")
        if not all(math.isfinite(v) for v in values):
            raise InvalidParameterError("lane values must be finite")

    def __len__(self) -> int:
        return len(self.times_s)

    def value_at(self, time_s: float) -> float:
        """The lane's value at ``time_s`` (the same formula as :func:`lane_curve`)."""
        return float(lane_curve_numpy(self.times_s, self.values, np.array([float(time_s)]))[0])

    def span(self, start_s: float, stop_s: float) -> Lane:
        """The points that fix the curve on ``[start_s, stop_s]`` exactly: the span widened to
        the breakpoints that enclose it (or the end values held)."""
        t = np.asarray(self.times_s)
        first = max(int(np.searchsorted(t, start_s, side="right")) - 1, 0)
        last = min(int(np.searchsorted(t, stop_s, side="left")), len(t) - 1)
        return Lane(self.times_s[first : last + 1], self.values[first : last + 1])

    def to_dict(self) -> dict[str, list[float]]:
        return {"times_s": list(self.times_s), "values": list(self.values)}

    @classmethod
    def from_dict(cls, data: Any, where: str) -> Lane:
        if not isinstance(data, Mapping) or set(data) - {"times_s", "values"}:
            raise InvalidParameterError(f"{where}: a lane is {{'times_s': [...], 'values': [...]}}")
        times, values = data.get("times_s"), data.get("values")
        if not isinstance(times, list) or not isinstance(values, list):
            raise InvalidParameterError(f"{where}: 'times_s' and 'values' must be lists of numbers")
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in [*times, *values]):
            raise InvalidParameterError(f"{where}: 'times_s' and 'values' must be lists of numbers")
        try:
            return cls(tuple(times), tuple(values))
        except InvalidParameterError as err:
            raise InvalidParameterError(f"{where}: {err}") from None

    def __repr__(self) -> str:
        pts = ", ".join(f"({t:g} s, {v:g})" for t, v in list(zip(self.times_s, self.values, strict=True))[:4])
        more = f", … {len(self) - 4} more" if len(self) > 4 else ""
        return f"Lane({pts}{more})"


def max_rate(lane: Lane) -> float:
    """The steepest slope of the lane's curve, in its unit per second (π/2 · Δv/Δt per segment)."""
    if len(lane) < 2:
        return 0.0
    t, v = np.asarray(lane.times_s), np.asarray(lane.values)
    return float(np.max(np.abs(np.diff(v)) / np.diff(t)) * math.pi / 2)


def lane_curve_numpy(
    times_s: Sequence[float] | np.ndarray, values: Sequence[float] | np.ndarray, t: np.ndarray
) -> np.ndarray:
    """The lane at the times ``t`` (seconds), float64, in numpy: the formula of the module notes
    (plots, measurements; the console renders with
    :func:`mixassist.console.dsp.envelope.lane_curve`)."""
    tt, vv = np.asarray(times_s, dtype=np.float64), np.asarray(values, dtype=np.float64)
    if len(vv) == 1:
        return np.full(t.shape, vv[0])
    j = np.clip(np.searchsorted(tt, t, side="right") - 1, 0, len(vv) - 2)
    u = np.clip((t - tt[j]) / (tt[j + 1] - tt[j]), 0.0, 1.0)
    w = 0.5 - 0.5 * np.cos(np.pi * u)
    return np.where(u >= 1.0, vv[j + 1], vv[j] + (vv[j + 1] - vv[j]) * w)


def parse_span(text: str, where: str) -> tuple[float, float]:
    """``"A-B"`` (seconds) as ``(A, B)``, ``0 <= A < B``; or raise naming ``where``."""
    a, dash, b = text.partition("-")
    try:
        lo, hi = float(a), float(b)
    except ValueError:
        lo = hi = -1.0
    if not dash or not (0.0 <= lo < hi) or hi == float("inf"):
        raise InvalidParameterError(f"{where}: a span is START-STOP in seconds, START < STOP (e.g. @12-20.5)")
    return lo, hi
