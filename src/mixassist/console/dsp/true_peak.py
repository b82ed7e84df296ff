"""True-peak estimate of each sample: 4x polyphase interpolation with parabolic refinement.

A differentiable detector for the limiter (:mod:`mixassist.console.dsp.limiter`): numba
kernels inside a :class:`torch.autograd.Function` with an analytic (sub)gradient.

References
----------
ITU-R BS.1770-4 (2015), Annex 2: true-peak level.
"""

from __future__ import annotations

import numpy as np
import torch
from numba import njit, prange

from mixassist.console.dsp.jit import INLINE_OPTIONS, KERNEL_OPTIONS, fma, jit_options

__all__ = ["DETECTOR_CONTEXT", "DETECTOR_FUTURE", "true_peak_estimate"]

_U = np.uint64  # unsigned indices: no wrap-around checks, so loops vectorise
_BLOCK = 1024  # cells per block; the block buffers stay in L1/L2
# Below this many samples the kernels run on the calling thread (a parallel launch costs more).
_PARALLEL_MIN_WORK = 1 << 20
_TAPS_PER_PHASE = 16
_KAISER_BETA = 3.0  # flat to ~0.42 fs (passband ripple errs on the high side, i.e. safe)
DETECTOR_FUTURE = 8
"""The estimate for sample m needs x up to m + 8."""
DETECTOR_CONTEXT = 17
"""Samples of history the detector needs: x back to m - 9 (the cell before m, its left
neighbour, the taps)."""


def _interpolator_taps() -> np.ndarray:
    """``(3, 16)`` taps: x at ``i + k/4`` (k = 1, 2, 3) is ``sum_j taps[k-1, j] x[i - 7 + j]``.

    Windowed sinc (Kaiser, beta 3) per fractional phase, normalised to unit DC gain.
    """
    js = np.arange(-(_TAPS_PER_PHASE // 2 - 1), _TAPS_PER_PHASE // 2 + 1)
    half = _TAPS_PER_PHASE / 2
    out = np.empty((3, _TAPS_PER_PHASE))
    for k in (1, 2, 3):
        t = k / 4 - js
        win = np.i0(_KAISER_BETA * np.sqrt(np.clip(1.0 - (t / half) ** 2, 0.0, None))) / np.i0(_KAISER_BETA)
        taps = np.sinc(t) * win
        out[k - 1] = taps / taps.sum()
    return out


_TAPS = _interpolator_taps()


@njit(**INLINE_OPTIONS)
def _refine(a, b, c):
    """Peak of the parabola through ``(a, b, c)`` on a uniform grid if ``b`` is a local maximum.

    Parabolic refinement of the 4x grid: a 4x grid alone under-reads a sine near Nyquist by
    up to 0.7 dB; the vertex of the parabola through the neighbours cuts that to ~0.03 dB.
    """
    den = a - 2.0 * b + c
    is_max = (b >= a) and (b >= c) and (den < 0.0)
    e = a - c
    v = b - e * e / (8.0 * (den if den < 0.0 else -1.0))
    return v if is_max else b


@njit(**INLINE_OPTIONS)
def _refine_grad(a, b, c):
    """(dv/da, dv/db, dv/dc) of :func:`_refine` on the refined branch."""
    den = a - 2.0 * b + c
    e = a - c
    d2 = 8.0 * den * den
    return -(2.0 * e * den - e * e) / d2, 1.0 - 2.0 * e * e / d2, (2.0 * e * den + e * e) / d2


@njit(**KERNEL_OPTIONS)
def _tp_cells_row(xr, hist, length, taps, cr, kr):
    """Per cell of one channel: refined max ``|x|`` over the grid points ``i + k/4``, k = 0..3.

    ``cr[jj]`` is the cell of sample ``i = jj - 9`` (output-aligned: ``jj`` is one past the
    output index), ``jj = 0..length``; ``kr[jj] = 2 k + refined`` of its maximum.
    """
    f1 = np.empty(_BLOCK + 1)
    f2 = np.empty(_BLOCK + 1)
    f3 = np.empty(_BLOCK + 1)
    xi = np.empty(_BLOCK + 1)
    for j0 in range(0, length + 1, _BLOCK):
        nb = min(_BLOCK, length + 1 - j0)
        # fractional values at bases i = j0 - 10 + b (b = 0..nb), integer at j0 - 9 + b
        pos0 = _U(hist + j0 - 17)
        for b in range(nb + 1):
            f1[b] = 0.0
            f2[b] = 0.0
            f3[b] = 0.0
        for j in range(_TAPS_PER_PHASE):
            w1 = taps[0, j]
            w2 = taps[1, j]
            w3 = taps[2, j]
            pj = pos0 + _U(j)
            for b in range(nb + 1):
                v = float(xr[pj + _U(b)])
                f1[b] = fma(w1, v, f1[b])
                f2[b] = fma(w2, v, f2[b])
                f3[b] = fma(w3, v, f3[b])
        pi = _U(hist + j0 - 9)
        for b in range(nb + 1):
            xi[b] = float(xr[pi + _U(b)])
        for b in range(nb):
            gm1 = abs(f3[b])
            g0 = abs(xi[b])
            g1 = abs(f1[b + 1])
            g2 = abs(f2[b + 1])
            g3 = abs(f3[b + 1])
            g4 = abs(xi[b + 1])
            r0 = _refine(gm1, g0, g1)
            r1 = _refine(g0, g1, g2)
            r2 = _refine(g1, g2, g3)
            r3 = _refine(g2, g3, g4)
            best = r0
            kb = 0 + (1 if r0 != g0 else 0)
            if r1 > best:
                best = r1
                kb = 2 + (1 if r1 != g1 else 0)
            if r2 > best:
                best = r2
                kb = 4 + (1 if r2 != g2 else 0)
            if r3 > best:
                best = r3
                kb = 6 + (1 if r3 != g3 else 0)
            cr[j0 + b] = best
            kr[j0 + b] = kb


@njit(**jit_options(KERNEL_OPTIONS, parallel=True))
def _tp_cells_parallel(xe2, hist, length, taps, cell, code):
    for row in prange(xe2.shape[0]):
        _tp_cells_row(xe2[row], hist, length, taps, cell[row], code[row])


@njit(**KERNEL_OPTIONS)
def _tp_link_kernel(cell, kcode, channels, peak, code):
    """``peak[t, n] = max`` over channels and the two cells around sample ``n - 8``."""
    tracks, length = peak.shape
    for t in range(tracks):
        pr = peak[t]
        cr = code[t]
        for n in range(length):
            pr[n] = -1.0
        for c in range(channels):
            row = t * channels + c
            cellr = cell[row]
            kr = kcode[row]
            for d in range(2):
                tag = (c * 2 + d) << 3
                ud = _U(d)
                for n in range(length):
                    v = cellr[_U(n) + ud]
                    better = v > pr[n]
                    pr[n] = v if better else pr[n]
                    cr[n] = (tag | kr[_U(n) + ud]) if better else cr[n]


@njit(**INLINE_OPTIONS)
def _grid_position(hist, base, k):
    """``(pos, k)`` with ``0 <= k <= 3`` for the grid point ``base + k/4``, k in -1..4: x at it is
    ``xr[pos]`` (k = 0) or the interpolator phase ``k`` around ``xr[pos]``."""
    if k < 0:
        base -= 1
        k += 4
    elif k > 3:
        base += 1
        k -= 4
    return hist + base, k


@njit(**INLINE_OPTIONS)
def _grid_value(xr, hist, taps, base, k):
    """x at ``base + k/4`` (output-aligned ``base``, k in -1..4)."""
    pos, k = _grid_position(hist, base, k)
    if k == 0:
        return float(xr[pos])
    acc = 0.0
    for j in range(_TAPS_PER_PHASE):
        acc = fma(taps[k - 1, j], float(xr[pos - 7 + j]), acc)
    return acc


@njit(**INLINE_OPTIONS)
def _grid_scatter(gr, hist, taps, base, k, g):
    """Adjoint of :func:`_grid_value`: ``g`` times its weights added to ``gr``."""
    pos, k = _grid_position(hist, base, k)
    if k == 0:
        gr[pos] += g
    else:
        for j in range(_TAPS_PER_PHASE):
            gr[pos - 7 + j] += g * taps[k - 1, j]


@njit(**KERNEL_OPTIONS)
def _tp_backward_kernel(xe2, hist, channels, taps, code, gpeak, gxe2):
    tracks, length = gpeak.shape
    for t in range(tracks):
        for n in range(length):
            g = gpeak[t, n]
            if g == 0.0:
                continue
            cd = code[t, n]
            c = cd >> 4
            d = (cd >> 3) & 1
            k = (cd >> 1) & 3
            refined = cd & 1
            row = t * channels + c
            xr = xe2[row]
            gr = gxe2[row]
            base = n + d - 9  # cell of jj = n + d holds sample jj - 9
            vb = _grid_value(xr, hist, taps, base, k)
            if refined == 0:
                _grid_scatter(gr, hist, taps, base, k, g if vb > 0.0 else -g)
            else:
                va = _grid_value(xr, hist, taps, base, k - 1)
                vc = _grid_value(xr, hist, taps, base, k + 1)
                da, db, dc = _refine_grad(abs(va), abs(vb), abs(vc))
                _grid_scatter(gr, hist, taps, base, k - 1, g * da if va > 0.0 else -g * da)
                _grid_scatter(gr, hist, taps, base, k, g * db if vb > 0.0 else -g * db)
                _grid_scatter(gr, hist, taps, base, k + 1, g * dc if vc > 0.0 else -g * dc)


class _TruePeakFunction(torch.autograd.Function):
    """Linked 4x true-peak estimate around each sample: ``(T, C, hist + N) -> (T, N)`` float64."""

    @staticmethod
    def forward(ctx, xe, hist, record):
        # The forward kernels read float32 or float64 (each value is widened to float64 as it is
        # read, so the result is the same); the backward kernel reads float64.
        saving = record and ctx.needs_input_grad[0]
        wide = saving or xe.dtype not in (torch.float32, torch.float64)
        xn = (xe.detach().to(torch.float64) if wide else xe.detach()).contiguous()
        tracks, channels, total = xn.shape
        length = total - hist
        x2 = xn.numpy().reshape(tracks * channels, total)
        cell = np.empty((tracks * channels, length + 1))
        kcode = np.empty((tracks * channels, length + 1), dtype=np.int32)
        if tracks * channels > 1 and tracks * channels * length >= _PARALLEL_MIN_WORK:
            _tp_cells_parallel(x2, hist, length, _TAPS, cell, kcode)
        else:
            for row in range(tracks * channels):
                _tp_cells_row(x2[row], hist, length, _TAPS, cell[row], kcode[row])
        peak = torch.empty(tracks, length, dtype=torch.float64)
        code = torch.empty(tracks, length, dtype=torch.int32)
        _tp_link_kernel(cell, kcode, channels, peak.numpy(), code.numpy())
        if saving:
            ctx.save_for_backward(xn, code)
        ctx.hist = hist
        ctx.dtype = xe.dtype
        return peak

    @staticmethod
    def backward(ctx, gpeak):
        xn, code = ctx.saved_tensors
        tracks, channels, total = xn.shape
        gxe = torch.zeros(tracks * channels, total, dtype=torch.float64)
        _tp_backward_kernel(
            xn.numpy().reshape(tracks * channels, total),
            ctx.hist,
            channels,
            _TAPS,
            code.numpy(),
            gpeak.contiguous().to(torch.float64).numpy(),
            gxe.numpy(),
        )
        return gxe.reshape(tracks, channels, total).to(ctx.dtype), None, None


def true_peak_estimate(xe: torch.Tensor, hist: int, record: bool) -> torch.Tensor:
    """Linked 4x true-peak estimate around each sample, float64 ``(tracks, samples)``.

    ``xe`` is ``(tracks, channels, hist + samples)``: ``hist`` (at least
    :data:`DETECTOR_CONTEXT`) samples of history, then the signal.  ``peak[:, n]`` is the
    estimate for signal sample ``m = n - DETECTOR_FUTURE``: the refined maximum of ``|x|`` on
    the 4x grid over ``[m - 1, m + 1)`` and the channels of the track.  Differentiable in
    ``xe`` when ``record`` (pass ``torch.is_grad_enabled()``).
    """
    return _TruePeakFunction.apply(xe, hist, record)
