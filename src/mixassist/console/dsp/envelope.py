"""Automation lanes as the console renders them: a lane's curve over one block of samples.

The envelope is :mod:`mixassist.console.lanes`' raised cosine in the parameter's unit.  Each
block is cut into *runs*: the samples before the first breakpoint (its value held), one run per
segment, and the samples from the last breakpoint on (its value held).  Sample ``i`` of a block
starting at ``start`` is at ``t = (start + i) / sample_rate`` and belongs to the segment
``t_k ≤ t < t_{k+1}``.

Two ways, one result:

* **a render** (no gradients): a numba kernel walks each run in steps of :data:`TABLE` samples,
  ``cos(φ + rδ) = cos φ·cos rδ − sin φ·sin rδ`` from a table of ``cos rδ``, ``sin rδ``
  (``r < TABLE``, made once per segment), with ``(cos φ, sin φ)`` stepped by the rotation
  ``TABLE·δ`` and re-anchored on an exact ``cos``/``sin`` every :data:`ANCHOR` samples (drift
  below 1e-12).  The samples of a step do not depend on each other, so the loop vectorises:
  0.25 ns a sample, against 2 ns for a rotation one sample at a time (which short segments,
  under :data:`SHORT_RUN` samples, still use: there the table would cost more).  With ``db``
  numpy's vectorised ``exp`` then makes the linear gain ``10^(v/20)``;
* **with gradients** (an optimiser's excerpt): the weights ``w = (1 − cos πu)/2`` per run in
  numpy (they depend on the times, which are not differentiated) and ``v_k + (v_{k+1} − v_k)·w``
  in torch, so the values get their gradients.

They agree to 1e-12 (``tests/test_lanes.py``).  Held runs and segments whose two values are equal
are exact (``v + 0·w``) both ways.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor

import numba
import numpy as np
import torch

from mixassist.console.dsp.jit import KERNEL_OPTIONS
from mixassist.console.dsp.spatial import pan_width_angle_into, pan_width_curve

__all__ = [
    "ANCHOR",
    "SHORT_RUN",
    "TABLE",
    "LaneTensors",
    "lane_curve",
    "lane_into",
    "lane_rows",
    "lane_scale",
    "moving_pan",
]

#: A lane as the console reads it: ``(times_s, values)``, float64 ``(points,)`` tensors.
LaneTensors = tuple[torch.Tensor, torch.Tensor]

#: Samples between exact re-anchors of the kernel's cos/sin recurrence.
ANCHOR = 4096
#: Samples (tracks x block) from which :func:`lane_scale` runs its rows on two threads.
PARALLEL_ROWS_SAMPLES = 1 << 18
#: Samples per vectorised run of the kernel (a table of ``cos``/``sin`` of ``r·δ``, ``r < TABLE``).
TABLE = 64
#: Segments shorter than this walk the rotation sample by sample (the table would cost more).
SHORT_RUN = 8 * TABLE
_LN10_20 = math.log(10.0) / 20.0


def _edges(times: np.ndarray, start: int, n: int, sample_rate: int) -> np.ndarray:
    """Each breakpoint's first sample of the block at or after it (0…n): the first ``i`` with
    ``(start + i) / sample_rate >= t_k``, found from ``ceil(t_k · rate)`` and checked both ways in
    the same float64 arithmetic as the samples' times."""
    sr = float(sample_rate)
    guess = np.ceil(times * sr) - start
    guess = np.where((guess - 1 + start) / sr >= times, guess - 1, guess)
    guess = np.where((guess + start) / sr < times, guess + 1, guess)
    return np.clip(guess, 0, n).astype(np.int64)


@numba.njit(**KERNEL_OPTIONS)
def _curve_kernel(
    times: np.ndarray,
    values: np.ndarray,
    edges: np.ndarray,
    start: int,
    sample_rate: float,
    offset: float,
    scale: float,
    table: np.ndarray,
    out: np.ndarray,
) -> None:  # pragma: no cover - compiled
    # ``out[i] = (curve + offset) · scale``, rounded to ``out``'s dtype (``scale`` ln 10 / 20
    # before a vectorised exp, or a pan's angle: the operations numpy would do, without their
    # passes and temporaries); ``table`` is ``(2, TABLE)`` scratch.
    n = out.shape[0]
    k_last = times.shape[0] - 1
    for i in range(min(edges[0], n)):
        out[i] = (values[0] + offset) * scale
    for k in range(k_last):
        a = edges[k]
        b = edges[k + 1]
        if b <= a:
            continue
        v0 = values[k]
        dv = values[k + 1] - values[k]
        inv = 1.0 / (times[k + 1] - times[k])
        delta = math.pi * inv / sample_rate
        if b - a < SHORT_RUN:  # a short segment: the rotation one sample at a time
            cd = math.cos(delta)
            sd = math.sin(delta)
            c = 0.0
            s = 0.0
            for i in range(a, b):
                if i == a or (i - a) % ANCHOR == 0:
                    phase = math.pi * (((start + i) / sample_rate - times[k]) * inv)
                    c = math.cos(phase)
                    s = math.sin(phase)
                out[i] = (v0 + dv * (0.5 - 0.5 * c) + offset) * scale
                c, s = c * cd - s * sd, s * cd + c * sd
            continue
        # cos(φ + r·δ) = cos φ · cos rδ − sin φ · sin rδ for r < TABLE: no dependency between
        # the samples of a run of TABLE, so the loop vectorises; (cos φ, sin φ) steps by TABLE·δ.
        tc = table[0]
        ts = table[1]
        for r in range(TABLE):
            tc[r] = math.cos(r * delta)
            ts[r] = math.sin(r * delta)
        cd = math.cos(TABLE * delta)
        sd = math.sin(TABLE * delta)
        for w0 in range(a, b, ANCHOR):
            w1 = min(w0 + ANCHOR, b)
            phase = math.pi * (((start + w0) / sample_rate - times[k]) * inv)
            c = math.cos(phase)
            s = math.sin(phase)
            for i in range(w0, w1, TABLE):
                run = out[i : min(i + TABLE, w1)]
                for r in range(run.shape[0]):
                    run[r] = (v0 + dv * (0.5 - 0.5 * (c * tc[r] - s * ts[r])) + offset) * scale
                c, s = c * cd - s * sd, s * cd + c * sd
    for i in range(max(edges[k_last], 0), n):
        out[i] = (values[k_last] + offset) * scale


def _kernel_into(
    times: np.ndarray, values: np.ndarray, start: int, sample_rate: int, offset: float, scale: float, out: np.ndarray
) -> None:
    """``out = (curve + offset) · scale`` (``out`` float64 or float32, contiguous)."""
    t = np.ascontiguousarray(times, dtype=np.float64)
    v = np.ascontiguousarray(values, dtype=np.float64)
    edges = _edges(t, start, out.shape[0], sample_rate)
    _curve_kernel(t, v, edges, int(start), float(sample_rate), offset, scale, np.empty((2, TABLE)), out)


def lane_into(
    times_s: np.ndarray,
    values: np.ndarray,
    start: int,
    sample_rate: int,
    out: np.ndarray,
    *,
    db: bool = False,
    scratch: np.ndarray | None = None,
) -> np.ndarray:
    """:func:`lane_curve` without gradients, written into ``out`` (float32 or float64, ``(n,)``,
    contiguous): the console fills its gain rows with it, with no float64 copy between.
    ``scratch``: float64, at least ``n`` samples, for a float32 ``out`` (reused across rows)."""
    n = out.shape[0]
    v = np.ascontiguousarray(values, dtype=np.float64)
    if n and len(v) == 1:
        out[:] = math.exp(v[0] * _LN10_20) if db else v[0]
    elif n:
        t = np.ascontiguousarray(times_s, dtype=np.float64)
        curve = out if out.dtype == np.float64 else (np.empty(n) if scratch is None else scratch[:n])
        _kernel_into(t, v, start, sample_rate, 0.0, _LN10_20 if db else 1.0, curve)
        if db:  # numpy's exp is vectorised: several times faster than a scalar exp per sample
            np.exp(curve, out=out)  # (into a float32 row: exp in float64, then rounded once)
        elif curve is not out:
            out[:] = curve
    return out


def lane_curve(
    times_s: torch.Tensor, values: torch.Tensor, start: int, n: int, sample_rate: int, *, db: bool = False
) -> torch.Tensor:
    """The lane sampled at ``(start + i) / sample_rate`` for ``i < n``: ``(n,)`` float64.

    Parameters
    ----------
    times_s : torch.Tensor
        ``(points,)`` float64, strictly increasing (never differentiated).
    values : torch.Tensor
        ``(points,)``, the breakpoints' values in the parameter's unit (differentiable).
    start : int
        Sample index of the block's first sample on the lane's clock (negative: the first value
        holds).
    n : int
        Samples.
    sample_rate : int
        Hz.
    db : bool
        Return the linear gain ``10^(v/20)`` of the curve instead of the curve.
    """
    times = times_s.detach().to(torch.float64).numpy()
    if not values.requires_grad:
        return torch.from_numpy(
            lane_into(times, values.detach().to(torch.float64).numpy(), start, sample_rate, np.empty(n), db=db)
        )
    vt = values.to(torch.float64)
    if vt.shape[0] == 1 or n == 0:
        curve = vt[:1].expand(n)
    else:
        edges = _edges(times, start, n, sample_rate)
        t = (np.arange(n, dtype=np.float64) + float(start)) / float(sample_rate)
        pieces = [vt[0].expand(int(edges[0]))] if edges[0] > 0 else []
        for k in range(len(times) - 1):
            a, b = int(edges[k]), int(edges[k + 1])
            if b > a:
                w = 0.5 - 0.5 * np.cos(np.pi * ((t[a:b] - times[k]) / (times[k + 1] - times[k])))
                pieces.append(vt[k] + (vt[k + 1] - vt[k]) * torch.from_numpy(w))
        if edges[-1] < n:
            pieces.append(vt[-1].expand(n - int(edges[-1])))
        curve = torch.cat(pieces)
    return torch.exp(curve * _LN10_20) if db else curve


def lane_rows(
    static: torch.Tensor, lanes: Mapping[int, LaneTensors], start: int, n: int, sample_rate: int, db: bool
) -> torch.Tensor:
    """``(tracks, n)``: each laned row its lane's curve (as a linear gain with ``db``), every other
    row its ``static`` value held -- the very number the static path multiplies by, so a track
    without a lane renders bit-identically beside one with a lane.  Filled in numpy when nothing
    needs a gradient (a render), stacked in torch when something does."""
    if static.requires_grad or any(values.requires_grad for _, values in lanes.values()):
        rows = [
            lane_curve(*lanes[i], start, n, sample_rate, db=db).to(static.dtype) if i in lanes else static[i].expand(n)
            for i in range(static.shape[0])
        ]
        return torch.stack(rows)
    fixed = static.detach().numpy()
    out = np.empty((static.shape[0], n), dtype=fixed.dtype)
    scratch = None if fixed.dtype == np.float64 else np.empty(n)
    for i in range(static.shape[0]):
        if i in lanes:
            times, values = lanes[i]
            lane_into(times.numpy(), values.detach().numpy(), start, sample_rate, out[i], db=db, scratch=scratch)
        else:
            out[i] = fixed[i]
    return torch.from_numpy(out)


def lane_scale(
    x: torch.Tensor, static: torch.Tensor, lanes: Mapping[int, LaneTensors], start: int, sample_rate: int, db: bool
) -> torch.Tensor:
    """``x * lane_rows(static, lanes, …)[:, None, :]``: each track of ``x`` ``(tracks, channels,
    n)`` times its lane's curve (a linear gain with ``db``), or times its ``static`` value.

    A render (no gradients, ``x`` and ``static`` of one dtype) makes the same products row by row
    in numpy, each laned row's curve in one reused buffer: no ``(tracks, n)`` array of rows."""
    n = x.shape[-1]
    grads = static.requires_grad or x.requires_grad or any(v.requires_grad for _, v in lanes.values())
    if (torch.is_grad_enabled() and grads) or x.dtype != static.dtype:
        return x * lane_rows(static, lanes, start, n, sample_rate, db)[:, None, :]
    xn, fixed = x.detach().numpy(), static.detach().numpy()
    out = np.empty(xn.shape, dtype=xn.dtype)
    laned = {i: (t.numpy(), v.detach().numpy()) for i, (t, v) in lanes.items()}

    def rows(first: int, stop: int) -> None:
        row = np.empty(n, dtype=xn.dtype)
        scratch = None if row.dtype == np.float64 else np.empty(n)
        for i in range(first, stop):
            if i in laned:
                lane_into(*laned[i], start, sample_rate, row, db=db, scratch=scratch)
                np.multiply(xn[i], row, out=out[i])
            else:
                np.multiply(xn[i], fixed[i], out=out[i])

    tracks = xn.shape[0]
    if tracks < 2 or n * tracks < PARALLEL_ROWS_SAMPLES:
        rows(0, tracks)
    else:  # two halves of the rows side by side (the kernel and numpy's products release the GIL)
        with ThreadPoolExecutor(max_workers=1) as pool:
            second = pool.submit(rows, tracks // 2, tracks)
            rows(0, tracks // 2)
            second.result()
    return torch.from_numpy(out)


def moving_pan(
    y: torch.Tensor,
    x: torch.Tensor,
    lanes: Mapping[int, LaneTensors],
    width: torch.Tensor,
    start: int,
    sample_rate: int,
) -> torch.Tensor:
    """``y`` (``pan_width`` of ``x`` with the static pans) with the rows that have a pan lane
    replaced by :func:`~mixassist.console.dsp.spatial.pan_width_curve` of their lane."""
    n = x.shape[-1]
    rows = sorted(lanes)
    tensors = (y, x, width, *(values for _, values in lanes.values()))
    if not (torch.is_grad_enabled() and any(t.requires_grad for t in tensors)):
        # a render: each laned row of y (this block's own new tensor) rewritten in place, the pan
        # angle (pan + 1)·π/4 straight from the lane's kernel in x's dtype, no copies
        xn, yn, wn = x.detach().numpy(), y.detach().numpy(), width.detach().double().numpy()
        theta = np.empty((1, n), dtype=xn.dtype)
        work = np.empty((4, n), dtype=xn.dtype)
        for i in rows:
            times, values = lanes[i]
            _kernel_into(times.numpy(), values.detach().numpy(), start, sample_rate, 1.0, math.pi / 4, theta[0])
            pan_width_angle_into(xn[i : i + 1], theta, wn[i : i + 1], yn[i : i + 1], work)
        return y
    index = torch.tensor(rows)
    curves = torch.stack([lane_curve(*lanes[i], start, n, sample_rate) for i in rows])
    moving = pan_width_curve(x.index_select(0, index), curves, width.index_select(0, index)).to(y.dtype)
    return y.index_copy(0, index, moving)
