"""Saturation: a level-compensated tanh curve, batched over tracks, with an analytic adjoint.

The curve (odd-symmetric, memoryless, slope 1 at the origin so a quiet signal passes at unity)::

    y = tanh(k x) / k,        k² = s = 10^(drive_db / 10) − 1

For drives of 10 dB and more ``k ≈ 10^(drive_db / 20)``: the signal is pushed ``drive_db`` into a
tanh whose asymptote is at full scale and brought back down by as much, so the curve's ceiling
sits at ``1 / k`` (about ``−drive_db`` dBFS).  The ``− 1`` makes ``drive_db = 0`` the identity
(``s = 0``) and keeps the curve smooth in ``s`` there: ``y = x − s x³ / 3 + …``, so the
third-harmonic term grows linearly with ``s`` and the gradient in ``drive_db`` is not zero at the
bypass (an optimiser can start from "off").  The console skips the processor at ``drive_db = 0``
(bit-exact bypass).

The per-sample work runs in numba (float64 arithmetic whatever the audio dtype) inside a
``torch.autograd.Function``: ``dy/dx = 1 − tanh²(k x)`` and ``dy/ds = x³ T′(s x²)`` with
``T(v) = tanh(√v) / √v``, evaluated by its Taylor series for ``v < 1e-4`` (no cancellation).
Memoryless: no state, chunked equals whole trivially.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from numba import njit, prange

from mixassist.console.dsp.arguments import check_audio, track_param
from mixassist.console.dsp.jit import KERNEL_OPTIONS, jit_options

__all__ = ["DRIVE_SERIES_BELOW", "drive_curve_k", "saturate"]

#: Below this ``v = s x²`` the curve and its derivative use their Taylor series in ``v``.
DRIVE_SERIES_BELOW = 1e-4
_PARALLEL_FROM = 1 << 16  # samples per call: below this, one thread (a parallel launch costs more)


def drive_curve_k(drive_db: float) -> float:
    """The curve's ``k`` (``√(10^(drive_db/10) − 1)``) for one drive in dB; the ceiling is ``1/k``."""
    return math.sqrt(max(10.0 ** (drive_db / 10.0) - 1.0, 0.0))


@njit(**jit_options(KERNEL_OPTIONS, inline="always"))
def _t_and_dt(v: float) -> tuple[float, float]:
    """``T(v) = tanh(√v)/√v`` and ``T′(v)``."""
    if v < DRIVE_SERIES_BELOW:
        t = 1.0 + v * (-1.0 / 3.0 + v * (2.0 / 15.0 + v * (-17.0 / 315.0)))
        dt = -1.0 / 3.0 + v * (4.0 / 15.0 + v * (-17.0 / 105.0 + v * (248.0 / 2835.0)))
        return t, dt
    u = math.sqrt(v)
    th = math.tanh(u)
    return th / u, (u * (1.0 - th * th) - th) / (2.0 * u * u * u)


@njit(**KERNEL_OPTIONS)
def _rows_forward(x, s, y, lo, hi):
    for r in range(lo, hi):
        sr = s[r]
        if sr == 0.0:
            for i in range(x.shape[1]):
                y[r, i] = x[r, i]
            continue
        k = math.sqrt(sr)
        for i in range(x.shape[1]):
            xi = np.float64(x[r, i])
            v = sr * xi * xi
            if v < DRIVE_SERIES_BELOW:
                y[r, i] = xi * (1.0 + v * (-1.0 / 3.0 + v * (2.0 / 15.0 + v * (-17.0 / 315.0))))
            else:
                y[r, i] = math.tanh(k * xi) / k


@njit(**jit_options(KERNEL_OPTIONS, parallel=True))
def _forward_parallel(x, s, y):
    for r in prange(x.shape[0]):
        _rows_forward(x, s, y, r, r + 1)


@njit(**KERNEL_OPTIONS)
def _forward_serial(x, s, y):
    _rows_forward(x, s, y, 0, x.shape[0])


@njit(**KERNEL_OPTIONS)
def _rows_backward(x, s, g, gx, gs, lo, hi):
    for r in range(lo, hi):
        sr = s[r]
        k = math.sqrt(sr)
        acc = 0.0
        for i in range(x.shape[1]):
            xi = np.float64(x[r, i])
            gi = np.float64(g[r, i])
            th = math.tanh(k * xi)
            gx[r, i] = gi * (1.0 - th * th)
            _, dt = _t_and_dt(sr * xi * xi)
            acc += gi * xi * xi * xi * dt
        gs[r] = acc


@njit(**jit_options(KERNEL_OPTIONS, parallel=True))
def _backward_parallel(x, s, g, gx, gs):
    for r in prange(x.shape[0]):
        _rows_backward(x, s, g, gx, gs, r, r + 1)


@njit(**KERNEL_OPTIONS)
def _backward_serial(x, s, g, gx, gs):
    _rows_backward(x, s, g, gx, gs, 0, x.shape[0])


class _Saturate(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, s: torch.Tensor) -> torch.Tensor:  # x (rows, n), s (rows,) float64
        xn = x.detach().contiguous().numpy()
        sn = s.detach().contiguous().numpy()
        y = np.empty_like(xn)
        (_forward_parallel if xn.size >= _PARALLEL_FROM else _forward_serial)(xn, sn, y)
        ctx.save_for_backward(x, s)
        return torch.from_numpy(y)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x, s = ctx.saved_tensors
        xn = x.detach().contiguous().numpy()
        gn = grad.detach().contiguous().numpy()
        gx = np.empty_like(xn)
        gs = np.empty(xn.shape[0], np.float64)
        (_backward_parallel if xn.size >= _PARALLEL_FROM else _backward_serial)(xn, s.detach().numpy(), gn, gx, gs)
        return torch.from_numpy(gx).to(grad.dtype), torch.from_numpy(gs)


def saturate(x: torch.Tensor, drive_db: torch.Tensor | float) -> torch.Tensor:
    """Level-compensated tanh saturation (see the module docstring for the curve).

    Parameters
    ----------
    x : torch.Tensor
        ``(tracks, channels, samples)``, float32 or float64.
    drive_db : float or torch.Tensor
        Drive in dB, a scalar or ``(tracks,)``, ≥ 0 (console range 0…24); 0 is the identity.

    Returns
    -------
    torch.Tensor
        Same shape and dtype as ``x``; differentiable in ``x`` and ``drive_db``.

    Examples
    --------
    >>> y = saturate(torch.full((1, 1, 1), 0.5, dtype=torch.float64), 12.0)
    >>> round(y.item(), 4)  # tanh(3.853 * 0.5) / 3.853
    0.2484
    """
    check_audio(x)
    tracks, channels, n = x.shape
    drive = track_param("drive_db", drive_db, tracks, low=0.0)
    s = torch.pow(10.0, drive / 10.0) - 1.0
    if x.device.type != "cpu" or x.numel() == 0:
        k = torch.sqrt(s.clamp_min(1e-300))[:, None, None].to(x.dtype)
        return torch.where(k > 1e-150, torch.tanh(k * x) / k, x)
    rows = x.reshape(tracks * channels, n)
    y = _Saturate.apply(rows, s.repeat_interleave(channels))
    return y.reshape(tracks, channels, n)
