"""EQ-gain lanes: a strip's filter cascade with coefficients that follow automation.

A lane on an EQ band's gain (``eq_<band>_db``) makes the cascade time-varying.  As on hardware
and DAW consoles, the coefficients are updated on a control grid rather than every sample: every
:data:`EQ_UPDATE` samples of the lane's clock (the song's sample index, as for every lane), the
band's gain is read from the lane at the grid point's time ``j · EQ_UPDATE / sample_rate`` and
the whole cascade is designed again with the schema's designs (:func:`~.settings.eq_sos`).  A
sub-block of ``EQ_UPDATE`` samples then runs with those coefficients.  The grid is fixed on the
song's clock, so where the console's chunks cut a sub-block the two pieces share their
coefficients: a chunked render equals a one-shot render.  Between updates the filter keeps its
**transposed-direct-form-II** states (the form :func:`~.cascade.biquad_cascade` runs), so a
coefficient change is a smooth continuation, not a restart; a reference must use the same form,
because the transient after a coefficient change depends on which states a form keeps.

At 44.1 kHz an update every 64 samples is 1.45 ms, finer than the raised-cosine segments of a
lane ever move audibly: a 6 dB move over 0.5 s changes the gain by 0.19 dB per update.

Two ways, one recursion: the kernels below (numba, float64) run the residual form ``e = d0·u +
s1``, ``y = u + e`` of :mod:`.cascade` with the coefficients of each sub-block; with gradients a
:class:`torch.autograd.Function` keeps every section's input and residual and its backward pass
is the analytic adjoint of that recursion (so gradients reach the lane's values through the
coefficient designs).  The incoming state is a constant for the gradient, as in
:func:`~.cascade.biquad_cascade`.

Memory: the coefficients of one block, ``tracks × (n / EQ_UPDATE) × sections × 5`` float64
(about 2.5 MB per track for a 10 s block at 44.1 kHz); with gradients also two float64 copies of
the signal per section.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numba
import numpy as np
import torch
from numba import prange
from torch.autograd.function import once_differentiable

from mixassist.console.dsp.envelope import LaneTensors
from mixassist.console.dsp.jit import KERNEL_OPTIONS, jit_options

__all__ = ["EQ_UPDATE", "eq_grid", "lane_at", "moving_cascade", "moving_eq", "residual"]

#: Samples between coefficient updates of an automated EQ (on the lane's clock).
EQ_UPDATE = 64

_PARALLEL = jit_options(KERNEL_OPTIONS, parallel=True)


def eq_grid(clock: int, n: int) -> tuple[int, np.ndarray]:
    """The control grid over a block of ``n`` samples whose first sample is ``clock`` on the
    lane's clock: the first grid index ``j0`` and the sub-blocks' bounds in the block,
    ``bounds[m] … bounds[m + 1]`` running with grid point ``j0 + m``."""
    j0 = clock // EQ_UPDATE
    j1 = (clock + n - 1) // EQ_UPDATE if n else j0
    inner = np.arange(j0 + 1, j1 + 1, dtype=np.int64) * EQ_UPDATE - clock
    return int(j0), np.concatenate([[0], inner, [n]]).astype(np.int64)


def lane_at(times_s: torch.Tensor, values: torch.Tensor, t: np.ndarray) -> torch.Tensor:
    """The lane at the times ``t`` (seconds, float64 numpy): ``(len(t),)`` float64, differentiable
    in ``values`` -- the formula of :func:`mixassist.console.lanes.lane_curve_numpy`."""
    tt = times_s.detach().to(torch.float64).numpy()
    vt = values.to(torch.float64)
    if vt.shape[0] == 1:
        return vt[:1].expand(len(t))
    j = np.clip(np.searchsorted(tt, t, side="right") - 1, 0, len(tt) - 2)
    u = np.clip((t - tt[j]) / (tt[j + 1] - tt[j]), 0.0, 1.0)
    w = torch.from_numpy(0.5 - 0.5 * np.cos(np.pi * u))
    jj = torch.from_numpy(j)
    v0, v1 = vt[jj], vt[jj + 1]
    return torch.where(torch.from_numpy(u >= 1.0), v1, v0 + (v1 - v0) * w)


@numba.njit(**_PARALLEL)
def _forward_kernel(x, coef, row_track, bounds, s_in, y, s_out, keep_u, keep_e, save):  # pragma: no cover
    rows, n = x.shape
    sections = coef.shape[2]
    for r in prange(rows):
        t = row_track[r]
        s = s_in[r].copy()
        for m in range(bounds.shape[0] - 1):
            c = coef[t, m]
            for i in range(bounds[m], bounds[m + 1]):
                u = x[r, i]
                for k in range(sections):
                    e = c[k, 0] * u + s[k, 0]
                    s[k, 0] = (c[k, 1] * u + s[k, 1]) - c[k, 3] * e
                    s[k, 1] = c[k, 2] * u - c[k, 4] * e
                    if save:
                        keep_u[r, k, i] = u
                        keep_e[r, k, i] = e
                    u = u + e
                y[r, i] = u
        s_out[r] = s


@numba.njit(**_PARALLEL)
def _backward_kernel(gy, coef, row_track, bounds, keep_u, keep_e, gx, gcoef):  # pragma: no cover
    rows, n = gy.shape
    sections = coef.shape[2]
    for r in prange(rows):
        t = row_track[r]
        g = gy[r].copy()
        for k in range(sections - 1, -1, -1):
            a1 = 0.0  # adjoints of the states after the sample (the final state is not differentiated)
            a2 = 0.0
            for m in range(bounds.shape[0] - 2, -1, -1):
                c0, c1, c2, c3, c4 = coef[t, m, k, 0], coef[t, m, k, 1], coef[t, m, k, 2], coef[t, m, k, 3], coef[t, m, k, 4]
                acc = gcoef[r, m, k]
                for i in range(bounds[m + 1] - 1, bounds[m] - 1, -1):
                    gi = g[i]
                    eb = gi - c3 * a1 - c4 * a2
                    u = keep_u[r, k, i]
                    e = keep_e[r, k, i]
                    acc[0] += u * eb
                    acc[1] += u * a1
                    acc[2] += u * a2
                    acc[3] -= e * a1
                    acc[4] -= e * a2
                    g[i] = gi + c0 * eb + c1 * a1 + c2 * a2
                    a2 = a1
                    a1 = eb
        gx[r] = g


def _run(x: np.ndarray, coef: np.ndarray, row_track: np.ndarray, bounds: np.ndarray, s_in: np.ndarray, save: bool):
    rows, n = x.shape
    sections = coef.shape[2]
    y = np.empty_like(x)
    s_out = np.empty_like(s_in)
    shape = (rows, sections, n) if save else (1, 1, 1)
    keep_u, keep_e = np.empty(shape), np.empty(shape)
    _forward_kernel(x, coef, row_track, bounds, s_in, y, s_out, keep_u, keep_e, save)
    return y, s_out, keep_u, keep_e


class _MovingFunction(torch.autograd.Function):
    """``y, state = moving cascade(x; coef, state_in)`` with an analytic backward pass."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, coef: torch.Tensor, s_in: torch.Tensor, row_track: Any, bounds: Any) -> Any:
        y, s_out, keep_u, keep_e = _run(x.numpy(), coef.detach().numpy(), row_track, bounds, s_in.numpy(), True)
        ctx.save_for_backward(coef)
        ctx.keep = (keep_u, keep_e, row_track, bounds)
        ctx.mark_non_differentiable(out := torch.from_numpy(s_out))
        return torch.from_numpy(y), out

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, gy: torch.Tensor, _gs: torch.Tensor) -> Any:
        (coef,) = ctx.saved_tensors
        keep_u, keep_e, row_track, bounds = ctx.keep
        g = np.ascontiguousarray(gy.to(torch.float64).numpy())
        gx = np.empty_like(g)
        gcoef = np.zeros((g.shape[0], *coef.shape[1:]))
        _backward_kernel(g, coef.numpy(), row_track, bounds, keep_u, keep_e, gx, gcoef)
        per_track = torch.zeros(coef.shape, dtype=torch.float64)
        per_track.index_add_(0, torch.from_numpy(row_track), torch.from_numpy(gcoef))
        return torch.from_numpy(gx), per_track, None, None, None


def residual(sos: torch.Tensor) -> torch.Tensor:
    """``(..., K, 5)`` residual coefficients ``(b0 − 1, b1 − a1, b2 − a2, a1, a2)`` (over ``a0``)
    of ``(..., K, 6)`` sos."""
    a0 = sos[..., 3:4]
    b, a = sos[..., 0:3] / a0, sos[..., 4:6] / a0
    return torch.cat([b[..., :1] - 1.0, b[..., 1:3] - a, a], dim=-1)


def moving_cascade(
    x: torch.Tensor, sos: torch.Tensor, bounds: np.ndarray, state: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Filter each track through its cascade with coefficients that change between sub-blocks.

    Parameters
    ----------
    x : torch.Tensor
        ``(tracks, channels, n)`` float32 or float64.
    sos : torch.Tensor
        ``(tracks, subblocks, sections, 6)`` scipy-layout sections, stable; sub-block ``m`` runs
        samples ``bounds[m] … bounds[m + 1]`` (differentiable).
    bounds : numpy.ndarray
        int64 ``(subblocks + 1,)``, from 0 to ``n``, non-decreasing.
    state : torch.Tensor, optional
        float64 ``(tracks, channels, sections, 2)``: the transposed-direct-form-II states of
        :func:`~mixassist.console.dsp.cascade.biquad_cascade` (interchangeable with them).

    Returns
    -------
    y, state
        Shape and dtype of ``x``; the states after the last sample (detached).
    """
    tracks, channels, n = x.shape
    sections = sos.shape[2]
    s_in = torch.zeros(tracks * channels, sections, 2, dtype=torch.float64)
    if state is not None:
        s_in = state.detach().to(torch.float64).reshape(tracks * channels, sections, 2).contiguous()
    coef = residual(sos.to(torch.float64)).contiguous()
    rows = x.reshape(tracks * channels, n).to(torch.float64).contiguous()
    row_track = np.repeat(np.arange(tracks, dtype=np.int64), channels)
    if torch.is_grad_enabled() and (rows.requires_grad or coef.requires_grad):
        y, s_out = _MovingFunction.apply(rows, coef, s_in, row_track, bounds)
    else:
        yn, sn, _, _ = _run(rows.detach().numpy(), coef.detach().numpy(), row_track, bounds, s_in.numpy(), False)
        y, s_out = torch.from_numpy(yn), torch.from_numpy(sn)
    return y.reshape(tracks, channels, n).to(x.dtype), s_out.reshape(tracks, channels, sections, 2)


def moving_eq(
    x: torch.Tensor,
    p: Mapping[str, torch.Tensor],
    lanes: Mapping[str, Mapping[int, LaneTensors]],
    design: Callable[[Mapping[str, torch.Tensor]], torch.Tensor],
    clock: int,
    sample_rate: int,
    state: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The EQ of ``x`` ``(tracks, channels, n)`` with the ``eq_*_db`` lanes ``{param: {track:
    lane}}`` read on the control grid (module notes); ``design`` maps ``(batch,)`` settings to
    ``(batch, sections, 6)`` sos (the strip's or the master's ``eq_sos``), ``p`` holds the
    static ``(tracks,)`` settings.  Returns the audio and the cascade's state."""
    tracks, _, n = x.shape
    j0, bounds = eq_grid(clock, n)
    m = len(bounds) - 1
    times = (np.arange(m, dtype=np.float64) + j0) * (EQ_UPDATE / float(sample_rate))
    grid: dict[str, torch.Tensor] = {}
    for name, value in p.items():
        if value.ndim == 0 or value.shape[0] != tracks:
            continue
        owned = lanes.get(name, {})
        fixed = value.to(torch.float64)
        cols = [lane_at(*owned[i], times) if i in owned else fixed[i].expand(m) for i in range(tracks)]
        grid[name] = torch.stack(cols).reshape(tracks * m)
    sos = design(grid)
    return moving_cascade(x, sos.reshape(tracks, m, *sos.shape[1:]), bounds, state)

