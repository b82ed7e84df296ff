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
lane ever move audibly: a 6 dB move over 0.5 s changes the gain by at most 0.03 dB per update
(π/2 · 12 dB/s · 1.45 ms).

Two ways, one recursion: the kernels below (numba, float64, explicit FMAs) run the residual form
``e = d0·u + s1``, ``y = u + e`` of :mod:`.cascade` with the coefficients of each sub-block;
with gradients a :class:`torch.autograd.Function` keeps every section's input and residual and
its backward pass is the analytic adjoint of that recursion (so gradients reach the lane's values
through the coefficient designs).  The incoming state is a constant for the gradient, as in
:func:`~.cascade.biquad_cascade`.  The console runs only the automated bands here, after the
strip's static sections (:func:`mixassist.console.settings.automated_eq`).

Memory: the moving sections' coefficients of one block, ``tracks × (n / EQ_UPDATE) × moving
sections × 5`` float64 (0.3 MB per moving band and track for a 10 s block at 44.1 kHz); with
gradients also two float64 copies of the signal per section.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numba
import numpy as np
import torch
from torch.autograd.function import once_differentiable

from mixassist.console.dsp.envelope import LaneTensors
from mixassist.console.dsp.jit import KERNEL_OPTIONS, fma

__all__ = ["EQ_UPDATE", "eq_grid", "lane_at", "moving_cascade", "moving_eq", "residual"]

#: Samples between coefficient updates of an automated EQ (on the lane's clock).
EQ_UPDATE = 64


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
    if not (torch.is_grad_enabled() and values.requires_grad):  # a render: numpy is faster on small arrays
        vn = vt.detach().numpy()
        return torch.from_numpy(
            np.where(u >= 1.0, vn[j + 1], vn[j] + (vn[j + 1] - vn[j]) * (0.5 - 0.5 * np.cos(np.pi * u)))
        )
    w = torch.from_numpy(0.5 - 0.5 * np.cos(np.pi * u))
    jj = torch.from_numpy(j)
    v0, v1 = vt[jj], vt[jj + 1]
    return torch.where(torch.from_numpy(u >= 1.0), v1, v0 + (v1 - v0) * w)


@numba.njit(**KERNEL_OPTIONS)
def _forward_kernel(x, rows, fixed, moving, which, bounds, s_in, y, s_out, keep_u, keep_e, save):  # pragma: no cover
    # The channels of a track share its coefficients and run side by side (independent
    # recursions in flight: the CPU overlaps their latencies).
    tracks, channels = rows.shape[0], x.shape[1]
    sections = fixed.shape[1]
    u = np.empty(channels)
    c = np.empty((sections, 5))
    for t in range(tracks):
        s = s_in[t].copy()
        for m in range(bounds.shape[0] - 1):
            for k in range(sections):
                c[k] = fixed[t, k] if which[k] < 0 else moving[t, m, which[k]]
            for i in range(bounds[m], bounds[m + 1]):
                for ch in range(channels):
                    u[ch] = x[rows[t], ch, i]
                for k in range(sections):
                    c0, c1, c2, c3, c4 = c[k, 0], c[k, 1], c[k, 2], c[k, 3], c[k, 4]
                    for ch in range(channels):
                        v = u[ch]
                        e = fma(c0, v, s[ch, k, 0])
                        s[ch, k, 0] = fma(-c3, e, fma(c1, v, s[ch, k, 1]))
                        s[ch, k, 1] = fma(-c4, e, c2 * v)
                        if save:
                            keep_u[t, ch, k, i] = v
                            keep_e[t, ch, k, i] = e
                        u[ch] = v + e
                for ch in range(channels):
                    y[rows[t], ch, i] = u[ch]
        s_out[t] = s


@numba.njit(**KERNEL_OPTIONS)
def _stereo_kernel(x, rows, fixed, moving, which, bounds, s_in, y, s_out):  # pragma: no cover - compiled
    # :func:`_forward_kernel` without the saving, for two channels, written out: the two
    # channels' recursions interleave (the same operations in the same order: the same bits).
    tracks = rows.shape[0]
    sections = fixed.shape[1]
    c = np.empty((sections, 5))
    st = np.empty((sections, 4))
    for t in range(tracks):
        for k in range(sections):
            st[k, 0], st[k, 1], st[k, 2], st[k, 3] = (
                s_in[t, 0, k, 0],
                s_in[t, 0, k, 1],
                s_in[t, 1, k, 0],
                s_in[t, 1, k, 1],
            )
        for m in range(bounds.shape[0] - 1):
            for k in range(sections):
                c[k] = fixed[t, k] if which[k] < 0 else moving[t, m, which[k]]
            for i in range(bounds[m], bounds[m + 1]):
                v0 = np.float64(x[rows[t], 0, i])
                v1 = np.float64(x[rows[t], 1, i])
                for k in range(sections):
                    c0, c1, c2, c3, c4 = c[k, 0], c[k, 1], c[k, 2], c[k, 3], c[k, 4]
                    e0 = fma(c0, v0, st[k, 0])
                    e1 = fma(c0, v1, st[k, 2])
                    st[k, 0] = fma(-c3, e0, fma(c1, v0, st[k, 1]))
                    st[k, 2] = fma(-c3, e1, fma(c1, v1, st[k, 3]))
                    st[k, 1] = fma(-c4, e0, c2 * v0)
                    st[k, 3] = fma(-c4, e1, c2 * v1)
                    v0 = v0 + e0
                    v1 = v1 + e1
                y[rows[t], 0, i] = v0
                y[rows[t], 1, i] = v1
        for k in range(sections):
            s_out[t, 0, k, 0], s_out[t, 0, k, 1], s_out[t, 1, k, 0], s_out[t, 1, k, 1] = (
                st[k, 0],
                st[k, 1],
                st[k, 2],
                st[k, 3],
            )


@numba.njit(**KERNEL_OPTIONS)
def _pair_kernel(x, rows, fixed, moving, which, bounds, s_in, y, s_out):  # pragma: no cover - compiled
    # :func:`_stereo_kernel` on two tracks at once (an even count): four independent recursions
    # in flight, where one track's two leave the CPU waiting on each FMA's latency (10.6 -> 6.6 ms
    # for four tracks of 441000 samples); each track's operations are its own, in the same order.
    tracks = rows.shape[0]
    sections = fixed.shape[1]
    c = np.empty((2, sections, 5))
    st = np.empty((sections, 8))
    for t0 in range(0, tracks - 1, 2):
        t1 = t0 + 1
        r0 = rows[t0]
        r1 = rows[t1]
        for k in range(sections):
            for h in range(2):
                t = t0 if h == 0 else t1
                st[k, 4 * h], st[k, 4 * h + 1] = s_in[t, 0, k, 0], s_in[t, 0, k, 1]
                st[k, 4 * h + 2], st[k, 4 * h + 3] = s_in[t, 1, k, 0], s_in[t, 1, k, 1]
        for m in range(bounds.shape[0] - 1):
            for k in range(sections):
                c[0, k] = fixed[t0, k] if which[k] < 0 else moving[t0, m, which[k]]
                c[1, k] = fixed[t1, k] if which[k] < 0 else moving[t1, m, which[k]]
            for i in range(bounds[m], bounds[m + 1]):
                v0 = np.float64(x[r0, 0, i])
                v1 = np.float64(x[r0, 1, i])
                v2 = np.float64(x[r1, 0, i])
                v3 = np.float64(x[r1, 1, i])
                for k in range(sections):
                    a0, a1, a2, a3, a4 = c[0, k, 0], c[0, k, 1], c[0, k, 2], c[0, k, 3], c[0, k, 4]
                    b0, b1, b2, b3, b4 = c[1, k, 0], c[1, k, 1], c[1, k, 2], c[1, k, 3], c[1, k, 4]
                    e0 = fma(a0, v0, st[k, 0])
                    e1 = fma(a0, v1, st[k, 2])
                    e2 = fma(b0, v2, st[k, 4])
                    e3 = fma(b0, v3, st[k, 6])
                    st[k, 0] = fma(-a3, e0, fma(a1, v0, st[k, 1]))
                    st[k, 2] = fma(-a3, e1, fma(a1, v1, st[k, 3]))
                    st[k, 4] = fma(-b3, e2, fma(b1, v2, st[k, 5]))
                    st[k, 6] = fma(-b3, e3, fma(b1, v3, st[k, 7]))
                    st[k, 1] = fma(-a4, e0, a2 * v0)
                    st[k, 3] = fma(-a4, e1, a2 * v1)
                    st[k, 5] = fma(-b4, e2, b2 * v2)
                    st[k, 7] = fma(-b4, e3, b2 * v3)
                    v0 = v0 + e0
                    v1 = v1 + e1
                    v2 = v2 + e2
                    v3 = v3 + e3
                y[r0, 0, i] = v0
                y[r0, 1, i] = v1
                y[r1, 0, i] = v2
                y[r1, 1, i] = v3
        for k in range(sections):
            for h in range(2):
                t = t0 if h == 0 else t1
                s_out[t, 0, k, 0], s_out[t, 0, k, 1] = st[k, 4 * h], st[k, 4 * h + 1]
                s_out[t, 1, k, 0], s_out[t, 1, k, 1] = st[k, 4 * h + 2], st[k, 4 * h + 3]


@numba.njit(**KERNEL_OPTIONS)
def _backward_kernel(gy, fixed, moving, which, bounds, keep_u, keep_e, gx, gfixed, gmoving):  # pragma: no cover
    tracks, channels, n = gy.shape
    sections = fixed.shape[1]
    acc = np.empty(5)
    for t in range(tracks):
        for ch in range(channels):
            g = gy[t, ch].copy()
            for k in range(sections - 1, -1, -1):
                a1 = 0.0  # adjoints of the states after the sample (the final state is not differentiated)
                a2 = 0.0
                for m in range(bounds.shape[0] - 2, -1, -1):
                    c = fixed[t, k] if which[k] < 0 else moving[t, m, which[k]]
                    c0, c1, c2, c3, c4 = c[0], c[1], c[2], c[3], c[4]
                    acc[:] = 0.0
                    for i in range(bounds[m + 1] - 1, bounds[m] - 1, -1):
                        gi = g[i]
                        eb = gi - c3 * a1 - c4 * a2
                        u = keep_u[t, ch, k, i]
                        e = keep_e[t, ch, k, i]
                        acc[0] += u * eb
                        acc[1] += u * a1
                        acc[2] += u * a2
                        acc[3] -= e * a1
                        acc[4] -= e * a2
                        g[i] = gi + c0 * eb + c1 * a1 + c2 * a2
                        a2 = a1
                        a1 = eb
                    if which[k] < 0:
                        gfixed[t, k] += acc
                    else:
                        gmoving[t, m, which[k]] += acc
            gx[t, ch] = g


def _run(
    x: np.ndarray,
    fixed: np.ndarray,
    moving: np.ndarray,
    which: np.ndarray,
    bounds: np.ndarray,
    s_in: np.ndarray,
    save: bool,
    rows: np.ndarray | None = None,
    y: np.ndarray | None = None,
):
    """The kernels on the tracks ``rows`` of ``x`` (all by default), written into those rows of
    ``y`` (a new array by default); ``fixed``, ``moving`` and the states are the rows' own."""
    _, channels, n = x.shape
    rows = np.arange(x.shape[0], dtype=np.int64) if rows is None else rows
    y = np.empty_like(x) if y is None else y
    s_out = np.empty_like(s_in)
    shape = (len(rows), channels, fixed.shape[1], n) if save else (1, 1, 1, 1)
    keep_u, keep_e = np.empty(shape), np.empty(shape)
    if channels == 2 and not save:
        even = len(rows) - len(rows) % 2  # pairs of tracks side by side, an odd last one alone
        if even:
            _pair_kernel(x, rows[:even], fixed[:even], moving[:even], which, bounds, s_in[:even], y, s_out[:even])
        if even < len(rows):
            parts = (fixed[even:], moving[even:], which, bounds, s_in[even:], y, s_out[even:])
            _stereo_kernel(x, rows[even:], *parts)
        return y, s_out, keep_u, keep_e
    _forward_kernel(x, rows, fixed, moving, which, bounds, s_in, y, s_out, keep_u, keep_e, save)
    return y, s_out, keep_u, keep_e


class _MovingFunction(torch.autograd.Function):
    """``y, state = moving cascade(x; fixed, moving, state_in)`` with an analytic backward pass."""

    @staticmethod
    def forward(
        ctx: Any,
        x: torch.Tensor,
        fixed: torch.Tensor,
        moving: torch.Tensor,
        s_in: torch.Tensor,
        which: Any,
        bounds: Any,
    ) -> Any:
        y, s_out, keep_u, keep_e = _run(
            x.numpy(), fixed.detach().numpy(), moving.detach().numpy(), which, bounds, s_in.numpy(), True
        )
        ctx.save_for_backward(fixed, moving)
        ctx.keep = (keep_u, keep_e, which, bounds)
        ctx.mark_non_differentiable(out := torch.from_numpy(s_out))
        return torch.from_numpy(y), out

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, gy: torch.Tensor, _gs: torch.Tensor) -> Any:
        fixed, moving = ctx.saved_tensors
        keep_u, keep_e, which, bounds = ctx.keep
        g = np.ascontiguousarray(gy.to(torch.float64).numpy())
        gx = np.empty_like(g)
        gfixed, gmoving = np.zeros(fixed.shape), np.zeros(moving.shape)
        _backward_kernel(g, fixed.numpy(), moving.numpy(), which, bounds, keep_u, keep_e, gx, gfixed, gmoving)
        return torch.from_numpy(gx), torch.from_numpy(gfixed), torch.from_numpy(gmoving), None, None, None


def residual(sos: Any) -> Any:
    """``(..., K, 5)`` residual coefficients ``(b0 − 1, b1 − a1, b2 − a2, a1, a2)`` (over ``a0``)
    of ``(..., K, 6)`` sos: a tensor (differentiable), or a numpy array (a render: torch's
    threaded elementwise operations cost more than they save on these mid-sized arrays)."""
    a0 = sos[..., 3:4]
    b, a = sos[..., 0:3] / a0, sos[..., 4:6] / a0
    parts = [b[..., :1] - 1.0, b[..., 1:3] - a, a]
    return np.concatenate(parts, axis=-1) if isinstance(sos, np.ndarray) else torch.cat(parts, dim=-1)


def moving_cascade(
    x: torch.Tensor,
    sos: torch.Tensor,
    moving: torch.Tensor,
    sections: Sequence[int],
    bounds: np.ndarray,
    state: torch.Tensor | None = None,
    *,
    into: tuple[torch.Tensor, Sequence[int]] | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Filter each track through its cascade, the sections ``sections`` with coefficients that
    change between sub-blocks.

    Parameters
    ----------
    x : torch.Tensor
        ``(tracks, channels, n)`` float32 or float64.
    sos : torch.Tensor
        ``(tracks, K, 6)`` scipy-layout sections (stable), in cascade order.
    moving : torch.Tensor
        ``(tracks, subblocks, J, 6)``: section ``sections[j]`` of sub-block ``m`` (samples
        ``bounds[m] … bounds[m + 1]``); those sections of ``sos`` are not used.
    sections : sequence of int
        ``J`` distinct section indices.
    bounds : numpy.ndarray
        int64 ``(subblocks + 1,)``, from 0 to ``n``, non-decreasing.
    state : torch.Tensor, optional
        float64 ``(tracks, channels, K, 2)``: the transposed-direct-form-II states of
        :func:`~mixassist.console.dsp.cascade.biquad_cascade` (interchangeable with them).
    into : (torch.Tensor, sequence of int), optional
        Without gradients only: ``(out, rows)``, ``x`` and ``out`` hold more tracks, these
        ``rows`` are the ``tracks`` filtered, written into those rows of ``out`` (no copies).

    Returns
    -------
    y, state
        Shape and dtype of ``x`` (``out`` with ``into``); the states after the last sample
        (detached).  Differentiable in ``x``, ``sos`` and ``moving``.
    """
    tracks, channels = sos.shape[0], x.shape[1]
    s_in = torch.zeros(tracks, channels, sos.shape[1], 2, dtype=torch.float64)
    if state is not None:
        s_in = state.detach().to(torch.float64).contiguous()
    grads = torch.is_grad_enabled() and (x.requires_grad or sos.requires_grad or moving.requires_grad)
    if not grads:
        mov = np.ascontiguousarray(residual(moving.detach().to(torch.float64).numpy()))
        return _render(x, residual(sos.detach().to(torch.float64).numpy()), mov, sections, bounds, s_in, into)
    if into is not None:
        raise ValueError("moving_cascade: 'into' is for renders without gradients")
    fixed = residual(sos.to(torch.float64)).contiguous()
    which = np.full(sos.shape[1], -1, dtype=np.int64)
    which[list(sections)] = np.arange(len(sections))
    mov_t = residual(moving.to(torch.float64)).contiguous()
    y, s_out = _MovingFunction.apply(x.to(torch.float64).contiguous(), fixed, mov_t, s_in, which, bounds)
    return y.to(x.dtype), s_out


def _render(
    x: torch.Tensor,
    fixed: np.ndarray,
    mov: np.ndarray,
    sections: Sequence[int],
    bounds: np.ndarray,
    s_in: torch.Tensor,
    into: tuple[torch.Tensor, Sequence[int]] | None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`moving_cascade` without gradients, on residual coefficients (``fixed`` ``(tracks,
    K, 5)``, ``mov`` ``(tracks, subblocks, J, 5)``, float64): float32 audio in and out as it is
    (the recursion runs in float64 either way)."""
    # A section with b = a in every track that no lane moves is the identity bit for bit (its
    # residual and states stay 0): the kernel skips it.
    flat = (fixed[..., :3] == 0).all(axis=2).all(axis=0)
    keep = [k for k in range(fixed.shape[1]) if k in sections or not bool(flat[k])]
    if len(keep) < fixed.shape[1]:
        y, kept = _render(
            x, fixed[:, keep], mov, [keep.index(k) for k in sections], bounds, s_in[:, :, keep].contiguous(), into
        )
        s_out = s_in.clone()
        s_out[:, :, keep] = kept
        return y, s_out
    which = np.full(fixed.shape[1], -1, dtype=np.int64)
    which[list(sections)] = np.arange(len(sections))
    arrays = (np.ascontiguousarray(fixed), mov, which, bounds, s_in.numpy())
    if into is None:
        yn, sn, _, _ = _run(x.detach().contiguous().numpy(), *arrays, False)
        return torch.from_numpy(yn), torch.from_numpy(sn)
    out, rows = into
    _, sn, _, _ = _run(x.detach().contiguous().numpy(), *arrays, False, np.asarray(rows, np.int64), out.numpy())
    return out, torch.from_numpy(sn)


def moving_eq(
    x: torch.Tensor,
    sos: torch.Tensor,
    lanes: Mapping[int, Mapping[int, LaneTensors]],
    design: Callable[[int, torch.Tensor, torch.Tensor], torch.Tensor],
    clock: int,
    sample_rate: int,
    state: torch.Tensor | None = None,
    *,
    into: tuple[torch.Tensor, Sequence[int]] | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The cascade ``sos`` ``(tracks, sections, 6)`` on ``x`` ``(tracks, channels, n)`` with the
    sections that have lanes (``{section: {track: lane}}``) designed again on the control grid
    (module notes) by ``design(section, tracks, gains)``: ``tracks`` ``(r,)`` indices,
    ``gains`` ``(r, m)`` the lanes' values at the ``m`` grid points, the result ``(r, m, 6)``.
    Returns the audio and the cascade's state; ``into``: as for :func:`moving_cascade`."""
    tracks = sos.shape[0]
    j0, bounds = eq_grid(clock, x.shape[-1])
    m = len(bounds) - 1
    times = (np.arange(m, dtype=np.float64) + j0) * (EQ_UPDATE / float(sample_rate))
    sections = sorted(lanes)
    grads = torch.is_grad_enabled() and (
        x.requires_grad or sos.requires_grad or any(v.requires_grad for o in lanes.values() for _, v in o.values())
    )
    if not grads:
        # A render: each laned track's band designed on its own (no stacking of the designs) and
        # taken to residual form straight into the grid; the other tracks' entries are their
        # static sections' residuals (torch's threaded copies wait on a loaded machine).
        s_in = torch.zeros(tracks, x.shape[1], sos.shape[1], 2, dtype=torch.float64)
        if state is not None:
            s_in = state.detach().to(torch.float64).contiguous()
        fixed = residual(sos.detach().to(torch.float64).numpy())
        mov = np.empty((tracks, m, len(sections), 5))
        mov[:] = fixed[:, None, sections]
        for j, k in enumerate(sections):
            for i in sorted(lanes[k]):
                gains = lane_at(*lanes[k][i], times)
                mov[i, :, j] = residual(design(k, torch.tensor([i]), gains[None]).detach().numpy()[0])
        return _render(x, fixed, mov, sections, bounds, s_in, into)
    moving = sos.to(torch.float64)[:, None, sections].expand(tracks, m, len(sections), 6).clone()
    for j, k in enumerate(sections):
        rows = sorted(lanes[k])
        gains = torch.stack([lane_at(*lanes[k][i], times) for i in rows])
        moving[rows, :, j] = design(k, torch.tensor(rows), gains).to(torch.float64)
    return moving_cascade(x, sos, moving, sections, bounds, state, into=into)
