"""Dynamics: a feed-forward log-domain compressor and a true-peak brickwall limiter.

Both follow the package conventions (see :mod:`mixassist.console.dsp`): audio is
``(tracks, channels, samples)``, parameters are ``(tracks,)`` tensors in physical units (Python
floats are broadcast), and ``fn(x, sample_rate, *, ..., state=None) -> (y, state)`` where
processing in chunks while carrying ``state`` equals processing the whole signal bit for bit.

The per-sample work runs in numba kernels inside :class:`torch.autograd.Function` s whose
backward passes are the analytic adjoints, so rendering and optimisation share one
implementation.  Implementation notes:

* the kernels compute in float64 whatever the audio dtype; ``log`` and ``exp`` are short
  polynomials (error below 1e-10 relative) written with explicit FMAs so that LLVM vectorises
  them and vector and scalar code give identical results;
* the compressor processes tracks in groups of four whose one-pole recursions are interleaved
  (they are latency-bound one at a time), in blocks of 1024 samples that stay in cache;
  groups run under ``prange`` for large inputs and on the calling thread for small ones,
  where a parallel launch would cost more than the work;
* values that decay towards zero (smoothed gain reduction, adjoints) are flushed to exact
  zero far below audibility, so long silences never run into subnormal arithmetic.

References
----------
D. Giannoulis, M. Massberg, J. D. Reiss, "Digital dynamic range compressor design — a tutorial
and analysis", J. Audio Eng. Soc. 60(6), 2012.
ITU-R BS.1770-4 (2015), Annex 2: true-peak level.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import torch
from llvmlite import ir
from numba import njit, prange, types
from numba.extending import intrinsic

from mixassist.errors import InvalidAudioError, InvalidParameterError
from mixassist.measure.bits import bits_f64, f64_bits

__all__ = [
    "compressor",
    "limiter",
    "limiter_latency",
    "LimiterState",
    "db_to_amplitude",
    "amplitude_to_db",
    "time_constant_coefficient",
]

# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------

_LN10_20 = math.log(10.0) / 20.0  # d(gain)/d(dB) per unit gain
_DB_PER_NEPER = 20.0 / math.log(10.0)
_LOG2_10_20 = math.log2(10.0) / 20.0
_LN2 = math.log(2.0)
_SQRT2 = math.sqrt(2.0)
_PEAK_FLOOR = 1e-9  # detector floor: -180 dBFS, keeps log finite on silence
_S_FLUSH_DB = 1e-18  # smoothed gain reductions below this are exactly 0 (gain 1.0 in float64)
_LAMBDA_FLUSH = 1e-280  # adjoints below this are 0 (no subnormal slowdown on long silences)


def db_to_amplitude(db):
    """Convert decibels to a linear amplitude factor, ``10 ** (db / 20)``.

    Parameters
    ----------
    db : float or torch.Tensor
        Level in dB.  Tensors keep their dtype and autograd graph.

    Returns
    -------
    float or torch.Tensor
        Linear factor (same type as ``db``).

    Examples
    --------
    >>> db_to_amplitude(-6.0)  # doctest: +ELLIPSIS
    0.501...
    """
    if isinstance(db, torch.Tensor):
        return torch.pow(10.0, db / 20.0)
    return 10.0 ** (float(db) / 20.0)


def amplitude_to_db(amplitude, *, floor_db: float = -180.0):
    """Convert a linear amplitude to dB, ``20 log10(max(|amplitude|, 10^(floor_db/20)))``.

    Never returns ``-inf``: magnitudes below the floor (silence included) map to ``floor_db``.

    Parameters
    ----------
    amplitude : float or torch.Tensor
        Linear amplitude (the sign is ignored).
    floor_db : float, default -180.0
        Lowest level returned.

    Returns
    -------
    float or torch.Tensor
        Level in dB (same type as ``amplitude``).
    """
    floor = 10.0 ** (floor_db / 20.0)
    if isinstance(amplitude, torch.Tensor):
        return 20.0 * torch.log10(amplitude.abs().clamp_min(floor))
    return 20.0 * math.log10(max(abs(float(amplitude)), floor))


def time_constant_coefficient(ms, sample_rate: float):
    """One-pole coefficient ``exp(-1 / (tau * sample_rate))`` for a time constant ``tau`` in ms.

    A one-pole ``s[n] = a s[n-1] + (1 - a) u[n]`` driven by a step reaches ``1 - 1/e`` of the
    step after ``tau`` seconds.

    Parameters
    ----------
    ms : float or torch.Tensor
        Time constant in milliseconds, > 0.
    sample_rate : float
        Sample rate in Hz.

    Returns
    -------
    float or torch.Tensor
        Coefficient in (0, 1) (same type as ``ms``; differentiable for tensors).
    """
    if isinstance(ms, torch.Tensor):
        return torch.exp(-1000.0 / (ms * float(sample_rate)))
    return math.exp(-1000.0 / (float(ms) * float(sample_rate)))


# --------------------------------------------------------------------------------------------
# vectorisable elementary functions for the kernels
# --------------------------------------------------------------------------------------------


@intrinsic
def _fma(typingctx, a, b, c):
    """``a * b + c`` with one rounding (llvm.fma): explicit, so vector and scalar code agree."""
    sig = types.float64(types.float64, types.float64, types.float64)

    def codegen(context, builder, signature, args):
        d = ir.DoubleType()
        fn = builder.module.declare_intrinsic("llvm.fma", [d], ir.FunctionType(d, [d, d, d]))
        return builder.call(fn, args)

    return sig, codegen


_MANTISSA = (1 << 52) - 1
_ONE_BITS = 1023 << 52
# error_model="numpy": no ZeroDivisionError checks (they block vectorisation).  No fast-math:
# every result is then independent of vectorisation and block boundaries, so chunked ==
# whole bit for bit and the backward pass re-derives exactly the forward branch decisions.
_KOPT = dict(cache=True, nogil=True, error_model="numpy")
_INLINE = dict(inline="always", nogil=True, error_model="numpy")
_U = np.uint64  # unsigned indices: no wrap-around checks, so loops vectorise
# Below this many track-samples the kernels run on the calling thread: a parallel launch
# costs microseconds on an idle machine but milliseconds when the cores are oversubscribed.
_PARALLEL_MIN_WORK = 1 << 20


@njit(**_INLINE)
def _ln(p):
    """Natural log of a positive normal float64 (abs. error < 2e-11); vectorisable."""
    b = f64_bits(p)
    m = bits_f64((b & _MANTISSA) | _ONE_BITS)  # mantissa in [1, 2)
    big = m > _SQRT2
    e = float((b >> 52) - 1023) + (1.0 if big else 0.0)
    m = m * (0.5 if big else 1.0)  # now in [sqrt(1/2), sqrt(2)]
    z = (m - 1.0) / (m + 1.0)  # ln m = 2 atanh z, |z| <= 0.1716
    z2 = z * z
    q = _fma(1.0 / 11.0, z2, 1.0 / 9.0)
    q = _fma(q, z2, 1.0 / 7.0)
    q = _fma(q, z2, 1.0 / 5.0)
    q = _fma(q, z2, 1.0 / 3.0)
    q = _fma(q, z2, 1.0)
    return _fma(e, _LN2, 2.0 * z * q)


@njit(**_INLINE)
def _exp2_nonpos(t):
    """``2**t`` for ``t <= 0`` (rel. error < 4e-13), exactly 1.0 at ``t == 0``; vectorisable."""
    t = max(t, -1000.0)
    n = math.floor(t + 0.5)
    r = (t - n) * _LN2  # |r| <= ln2 / 2
    q = _fma(1.0 / 3628800.0, r, 1.0 / 362880.0)
    q = _fma(q, r, 1.0 / 40320.0)
    q = _fma(q, r, 1.0 / 5040.0)
    q = _fma(q, r, 1.0 / 720.0)
    q = _fma(q, r, 1.0 / 120.0)
    q = _fma(q, r, 1.0 / 24.0)
    q = _fma(q, r, 1.0 / 6.0)
    q = _fma(q, r, 0.5)
    q = _fma(q, r, 1.0)
    q = _fma(q, r, 1.0)
    return q * bits_f64((np.int64(n) + 1023) << 52)


# --------------------------------------------------------------------------------------------
# compressor kernels
# --------------------------------------------------------------------------------------------

_LANES = 4  # tracks smoothed together: independent recursions interleave and vectorise
_BLOCK = 1024  # samples per block; the block buffers stay in L1/L2


@njit(**_KOPT)
def _peak_block(x2, row, channels, b0, nb, p):
    """Linked instantaneous peak ``max_c |x_c|`` of one track over one block."""
    ub = _U(b0)
    xs = x2[row]
    for n in range(nb):
        p[n] = abs(xs[ub + _U(n)])
    for c in range(1, channels):
        xs = x2[row + c]
        for n in range(nb):
            p[n] = max(p[n], abs(xs[ub + _U(n)]))


@njit(**_KOPT)
def _static_block(p, nb, threshold_db, k, knee_db, gr, dist):
    """Gain reduction of the soft-knee curve (Giannoulis et al. eq. 4), ``x_db - y_db``.

    ``k = 1 - 1/ratio``.  Writing ``gr`` directly (not ``x - y``) makes ratio 1 give exactly 0.
    ``dist`` receives ``x_db - threshold_db`` (used by the backward pass).
    """
    lo = threshold_db - 0.5 * knee_db
    inv2w = 0.5 / knee_db if knee_db > 0.0 else 0.0  # knee 0: the knee branch is never taken
    for n in range(nb):
        xd = _DB_PER_NEPER * _ln(max(p[n], _PEAK_FLOOR))
        d = xd - threshold_db
        u = xd - lo
        v = k * u * u * inv2w if 2.0 * d < knee_db else k * d
        gr[n] = 0.0 if 2.0 * d <= -knee_db else v
        dist[n] = d


@njit(**_KOPT)
def _smooth_lanes(gr, s_blk, a_att, a_rel, s, nb):
    """Smooth-branching one-pole on ``_LANES`` tracks at once (rows of ``gr``/``s_blk``)."""
    sl = s.copy()
    aa = a_att.copy()
    ar = a_rel.copy()
    for n in range(nb):
        for j in range(_LANES):
            g = gr[j, n]
            v = sl[j]
            v = (aa[j] * v + (1.0 - aa[j]) * g) if g > v else (ar[j] * v + (1.0 - ar[j]) * g)
            v = v if v >= _S_FLUSH_DB else 0.0
            sl[j] = v
            s_blk[j, n] = v
    s[:] = sl


@njit(**_KOPT)
def _apply_block(x2, y2, row, channels, b0, nb, makeup_gain, s_row, g):
    ub = _U(b0)
    for n in range(nb):
        g[n] = makeup_gain * _exp2_nonpos(-_LOG2_10_20 * s_row[n])
    for c in range(channels):
        xs = x2[row + c]
        ys = y2[row + c]
        for n in range(nb):
            ys[ub + _U(n)] = xs[ub + _U(n)] * g[n]


@njit(**_KOPT)
def _compressor_forward_group(
    x2, channels, t0, nt, thr, ratio, knee, a_att, a_rel, makeup_gain, s_init, y2, s_out, s_all
):
    """Tracks ``t0 .. t0 + nt - 1`` (``nt <= _LANES``) of the forward pass, block by block."""
    length = x2.shape[1]
    save = s_all.shape[0] > 0
    gr = np.zeros((_LANES, _BLOCK))
    s_blk = np.zeros((_LANES, _BLOCK))
    p = np.empty(_BLOCK)
    dist = np.empty(_BLOCK)
    s = np.zeros(_LANES)
    aa = np.zeros(_LANES)
    ar = np.zeros(_LANES)
    for j in range(nt):
        s[j] = s_init[t0 + j]
        aa[j] = a_att[t0 + j]
        ar[j] = a_rel[t0 + j]
    for b0 in range(0, length, _BLOCK):
        nb = min(_BLOCK, length - b0)
        for j in range(nt):
            t = t0 + j
            _peak_block(x2, t * channels, channels, b0, nb, p)
            _static_block(p, nb, thr[t], 1.0 - 1.0 / ratio[t], knee[t], gr[j], dist)
        _smooth_lanes(gr, s_blk, aa, ar, s, nb)
        for j in range(nt):
            t = t0 + j
            _apply_block(x2, y2, t * channels, channels, b0, nb, makeup_gain[t], s_blk[j], p)
            if save:
                srow = s_all[t]
                sb = s_blk[j]
                ub = _U(b0)
                for n in range(nb):
                    srow[ub + _U(n)] = sb[n]
    for j in range(nt):
        s_out[t0 + j] = s[j]


@njit(parallel=True, **_KOPT)
def _compressor_forward_parallel(x2, channels, thr, ratio, knee, a_att, a_rel, makeup_gain, s_init, y2, s_out, s_all):
    tracks = thr.shape[0]
    for grp in prange((tracks + _LANES - 1) // _LANES):
        t0 = grp * _LANES
        _compressor_forward_group(
            x2,
            channels,
            t0,
            min(_LANES, tracks - t0),
            thr,
            ratio,
            knee,
            a_att,
            a_rel,
            makeup_gain,
            s_init,
            y2,
            s_out,
            s_all,
        )


@njit(cache=True, nogil=True, error_model="numpy", fastmath={"reassoc"})
def _compressor_backward_group(
    x2, gy2, channels, t0, nt, s_all, s_init, thr, ratio, knee, a_att, a_rel, makeup_gain, gx2, gparams
):
    """Adjoint of :func:`_compressor_forward_group` for tracks ``t0 .. t0 + nt - 1``.

    Blocks are visited last to first; within a block the branch taken at each sample is
    re-derived by the same ``_static_block`` from ``x`` and the saved smoothed reduction, the
    adjoint ``lambda[n] = dL/ds[n] + alpha[n+1] lambda[n+1]`` runs backwards over the lanes,
    and ``gparams[t]`` receives d/d(threshold_db, ratio, knee_db, a_att, a_rel, makeup_gain).
    Reassociation is allowed here only so that the gradient sums vectorise.
    """
    length = x2.shape[1]
    nblocks = (length + _BLOCK - 1) // _BLOCK
    direct = np.zeros((_LANES, _BLOCK))  # dL/ds[n] through the gain of sample n
    alpha = np.zeros((_LANES, _BLOCK))  # coefficient used at n (branch taken)
    lam = np.zeros((_LANES, _BLOCK))  # total dL/ds[n]
    gr_b = np.empty((_LANES, _BLOCK))
    dist_b = np.empty((_LANES, _BLOCK))
    p_b = np.empty((_LANES, _BLOCK))
    sprev_b = np.empty((_LANES, _BLOCK))
    att_b = np.empty((_LANES, _BLOCK))
    e = np.empty(_BLOCK)
    v = np.empty(_BLOCK)
    carry = np.zeros(_LANES)
    acc = np.zeros((_LANES, 6))
    for bi in range(nblocks - 1, -1, -1):
        b0 = bi * _BLOCK
        nb = min(_BLOCK, length - b0)
        ub = _U(b0)
        for j in range(nt):
            t = t0 + j
            row = t * channels
            p = p_b[j]
            _peak_block(x2, row, channels, b0, nb, p)
            _static_block(p, nb, thr[t], 1.0 - 1.0 / ratio[t], knee[t], gr_b[j], dist_b[j])
            srow = s_all[t]
            gm = makeup_gain[t]
            for n in range(nb):
                e[n] = _exp2_nonpos(-_LOG2_10_20 * srow[ub + _U(n)])
                v[n] = 0.0
            for c in range(channels):
                xs = x2[row + c]
                gys = gy2[row + c]
                gxs = gx2[row + c]
                for n in range(nb):
                    i = ub + _U(n)
                    v[n] += gys[i] * xs[i]
                    gxs[i] = gys[i] * (gm * e[n])
            dm = 0.0
            dj = direct[j]
            for n in range(nb):
                dm += v[n] * e[n]
                dj[n] = -_LN10_20 * gm * v[n] * e[n]
            acc[j, 5] += dm
            sp = sprev_b[j]
            sp[0] = srow[ub - _U(1)] if b0 > 0 else s_init[t]
            for n in range(1, nb):
                sp[n] = srow[ub + _U(n - 1)]
            aa = a_att[t]
            ar = a_rel[t]
            grj = gr_b[j]
            al = alpha[j]
            at = att_b[j]
            for n in range(nb):
                is_att = grj[n] > sp[n]
                al[n] = aa if is_att else ar
                at[n] = 1.0 if is_att else 0.0
        cl = carry.copy()
        for n in range(nb - 1, -1, -1):
            for j in range(_LANES):
                lv = direct[j, n] + cl[j]
                lam[j, n] = lv
                cv = lv * alpha[j, n]
                cl[j] = cv if abs(cv) >= _LAMBDA_FLUSH else 0.0
        carry[:] = cl
        for j in range(nt):
            t = t0 + j
            row = t * channels
            k = 1.0 - 1.0 / ratio[t]
            r2 = 1.0 / (ratio[t] * ratio[t])
            w = knee[t]
            inv2w = 0.5 / w if w > 0.0 else 0.0
            lj = lam[j]
            al = alpha[j]
            at = att_b[j]
            grj = gr_b[j]
            dj = dist_b[j]
            p = p_b[j]
            sp = sprev_b[j]
            d_aa = 0.0
            d_ar = 0.0
            d_t = 0.0
            d_r = 0.0
            d_w = 0.0
            for n in range(nb):
                lv = lj[n]
                dgr = lv * (1.0 - al[n])
                dalpha = lv * (sp[n] - grj[n])
                d_aa += at[n] * dalpha
                d_ar += (1.0 - at[n]) * dalpha
                d = dj[n]
                u = d + 0.5 * w
                below = 2.0 * d <= -w
                knee_region = 2.0 * d < w
                # d gr / d x_db (= -d gr / d threshold), d gr / d ratio, d gr / d knee
                dxdb = (k * 2.0 * u * inv2w) if knee_region else k
                dr = (u * u * inv2w * r2) if knee_region else d * r2
                dw = (k * u * inv2w * (1.0 - 2.0 * u * inv2w)) if knee_region else 0.0
                dxdb = 0.0 if below else dxdb
                dr = 0.0 if below else dr
                dw = 0.0 if below else dw
                d_t -= dgr * dxdb
                d_r += dgr * dr
                d_w += dgr * dw
                pk = p[n]
                v[n] = (dgr * dxdb * _DB_PER_NEPER / pk) if pk > _PEAK_FLOOR else 0.0
            acc[j, 0] += d_t
            acc[j, 1] += d_r
            acc[j, 2] += d_w
            acc[j, 3] += d_aa
            acc[j, 4] += d_ar
            # subgradient of the linked detector: the first channel holding the max |x|
            for c in range(channels):
                xs = x2[row + c]
                gxs = gx2[row + c]
                for n in range(nb):
                    i = ub + _U(n)
                    xv = xs[i]
                    hit = abs(xv) == p[n]
                    gxs[i] += (v[n] if xv > 0.0 else -v[n]) if hit else 0.0
                    v[n] = 0.0 if hit else v[n]
    for j in range(nt):
        for q in range(6):
            gparams[t0 + j, q] = acc[j, q]


@njit(parallel=True, **_KOPT)
def _compressor_backward_parallel(
    x2, gy2, channels, s_all, s_init, thr, ratio, knee, a_att, a_rel, makeup_gain, gx2, gparams
):
    tracks = thr.shape[0]
    for grp in prange((tracks + _LANES - 1) // _LANES):
        t0 = grp * _LANES
        _compressor_backward_group(
            x2,
            gy2,
            channels,
            t0,
            min(_LANES, tracks - t0),
            s_all,
            s_init,
            thr,
            ratio,
            knee,
            a_att,
            a_rel,
            makeup_gain,
            gx2,
            gparams,
        )


def _use_parallel(tracks: int, work: int) -> bool:
    return tracks > _LANES and work >= _PARALLEL_MIN_WORK


class _CompressorFunction(torch.autograd.Function):
    """y, s_out = f(x, threshold_db, ratio, knee_db, a_att, a_rel, makeup_gain, s_init)."""

    @staticmethod
    def forward(ctx, x, thr, ratio, knee, a_att, a_rel, makeup_gain, s_init, record):
        xn = x.detach().contiguous()
        tracks, _, length = xn.shape
        params = [t.detach().contiguous().numpy() for t in (thr, ratio, knee, a_att, a_rel, makeup_gain)]
        s0 = s_init.detach().contiguous().numpy()
        y = torch.empty_like(xn)
        s_out = torch.empty(tracks, dtype=torch.float64)
        save = record and any(ctx.needs_input_grad[:7])
        s_all = torch.empty((tracks, length) if save else (0, 0), dtype=torch.float64)
        channels = xn.shape[1]
        x2 = xn.numpy().reshape(tracks * channels, length)
        y2 = y.numpy().reshape(tracks * channels, length)
        if _use_parallel(tracks, tracks * length):
            _compressor_forward_parallel(x2, channels, *params, s0, y2, s_out.numpy(), s_all.numpy())
        else:
            for t0 in range(0, tracks, _LANES):
                _compressor_forward_group(
                    x2, channels, t0, min(_LANES, tracks - t0), *params, s0, y2, s_out.numpy(), s_all.numpy()
                )
        if save:
            ctx.save_for_backward(xn, s_all, s_init, thr, ratio, knee, a_att, a_rel, makeup_gain)
        ctx.mark_non_differentiable(s_out)
        return y, s_out

    @staticmethod
    def backward(ctx, gy, _gs):
        xn, s_all, s_init, *params = ctx.saved_tensors
        gy = gy.contiguous().to(xn.dtype)
        gx = torch.empty_like(xn)
        gp = torch.zeros(xn.shape[0], 6, dtype=torch.float64)
        tracks, channels, length = xn.shape
        args = (
            s_all.numpy(),
            s_init.contiguous().numpy(),
            *[t.contiguous().numpy() for t in params],
            gx.numpy().reshape(tracks * channels, length),
            gp.numpy(),
        )
        x2 = xn.numpy().reshape(tracks * channels, length)
        gy2 = gy.numpy().reshape(tracks * channels, length)
        if _use_parallel(tracks, tracks * length):
            _compressor_backward_parallel(x2, gy2, channels, *args)
        else:
            for t0 in range(0, tracks, _LANES):
                _compressor_backward_group(x2, gy2, channels, t0, min(_LANES, tracks - t0), *args)
        needs = ctx.needs_input_grad
        grads = [gx if needs[0] else None]
        grads += [gp[:, i] if needs[i + 1] else None for i in range(6)]
        return (*grads, None, None)


# --------------------------------------------------------------------------------------------
# argument handling
# --------------------------------------------------------------------------------------------


def _check_audio(x, name: str = "x") -> None:
    if not isinstance(x, torch.Tensor):
        raise InvalidAudioError(
            f"{name} must be a torch.Tensor shaped (tracks, channels, samples), got {type(x).__name__}"
        )
    if x.dim() != 3:
        raise InvalidAudioError(f"{name} has shape {tuple(x.shape)}; expected (tracks, channels, samples)")
    if x.dtype not in (torch.float32, torch.float64):
        raise InvalidAudioError(f"{name} has dtype {x.dtype}; convert it to float32 or float64")


def _check_sample_rate(sample_rate) -> float:
    sr = float(sample_rate)
    if not math.isfinite(sr) or sr <= 0:
        raise InvalidParameterError(f"sample_rate={sample_rate!r}; it must be a positive number of Hz")
    return sr


def _param(name: str, value, tracks: int, *, low: float | None = None, low_open: bool = False) -> torch.Tensor:
    """A float64 ``(tracks,)`` tensor (autograd kept) from a float or a broadcastable tensor."""
    if isinstance(value, torch.Tensor):
        v = value.to(torch.float64)
        if v.device.type != "cpu":
            v = v.cpu()
    else:
        try:
            v = torch.tensor(float(value), dtype=torch.float64)
        except (TypeError, ValueError):
            raise InvalidParameterError(f"{name}={value!r} is not a number") from None
    if v.numel() == 1 and v.dim() <= 1:
        v = v.reshape(()).expand(tracks)
    elif tuple(v.shape) != (tracks,):
        raise InvalidParameterError(
            f"{name} has shape {tuple(v.shape)}; expected a scalar or ({tracks},) — one value per track"
        )
    vd = v.detach()
    if not bool(torch.isfinite(vd).all()):
        raise InvalidParameterError(f"{name} contains a non-finite value: {vd.tolist()}")
    if low is not None:
        bad = (vd <= low) if low_open else (vd < low)
        if bool(bad.any()):
            rel = ">" if low_open else ">="
            raise InvalidParameterError(f"{name}={vd[bad][0].item()!r}; it must be {rel} {low}")
    return v


def _to_cpu(x: torch.Tensor) -> torch.Tensor:
    return x if x.device.type == "cpu" else x.cpu()


# --------------------------------------------------------------------------------------------
# compressor
# --------------------------------------------------------------------------------------------


def compressor(
    x: torch.Tensor,
    sample_rate: float,
    *,
    threshold_db,
    ratio,
    knee_db,
    attack_ms,
    release_ms,
    makeup_db,
    state: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Feed-forward log-domain compressor with a soft knee and smooth-branching ballistics.

    The design of Giannoulis, Massberg & Reiss (JAES 2012):

    * detector: ``x_db = 20 log10(max(max_c |x_c|, 1e-9))``, the instantaneous peak linked over
      the channels of a track;
    * static curve (their eq. 4) with knee width ``W``: ``y_db = x_db`` below the knee,
      ``x_db + (1/R - 1)(x_db - T + W/2)^2 / (2W)`` inside ``|2(x_db - T)| <= W`` and
      ``T + (x_db - T)/R`` above; ``W = 0`` is the hard knee;
    * gain reduction ``gr = x_db - y_db >= 0`` smoothed in dB by a one-pole whose coefficient is
      the attack one while ``gr[n] > s[n-1]`` and the release one otherwise
      (``a = exp(-1 / (tau sample_rate))``);
    * output ``x * 10^((makeup_db - s) / 20)``, the same gain on all channels of a track.

    ``ratio = 1`` gives exactly ``x * 10^(makeup_db/20)`` (the gain is computed in float64 and
    the product rounded once to the dtype of ``x``), hence the identity at ``makeup_db = 0``.

    Parameters
    ----------
    x : torch.Tensor
        Audio ``(tracks, channels, samples)``, float32 or float64.  Computed on the CPU.
    sample_rate : float
        Hz.
    threshold_db : float or torch.Tensor
        Threshold ``T`` in dBFS, shape ``()`` or ``(tracks,)``; console range -60…0.
    ratio : float or torch.Tensor
        Compression ratio ``R >= 1``; console range 1…20.
    knee_db : float or torch.Tensor
        Knee width ``W >= 0`` in dB; console range 0…18.
    attack_ms, release_ms : float or torch.Tensor
        Time constants (> 0) in ms; console ranges 0.1…100 and 10…2000.
    makeup_db : float or torch.Tensor
        Make-up gain in dB; console range 0…24.
    state : torch.Tensor, optional
        float64 ``(tracks,)`` smoothed gain reduction in dB from a previous call;
        ``None`` means silence before the first sample.

    Returns
    -------
    y : torch.Tensor
        Compressed audio, shape and dtype of ``x``.
    state : torch.Tensor
        float64 ``(tracks,)`` smoothed gain reduction after the last sample (detached).

    Notes
    -----
    Differentiable with respect to ``x`` and every parameter tensor (analytic adjoint; the
    detector's subgradient goes to the first channel holding the maximum ``|x|``; the state is
    not differentiated).  Forward saves only ``x`` and the per-sample smoothed gain reduction
    (float64 ``(tracks, samples)``) when a gradient is required, nothing otherwise.

    Examples
    --------
    >>> x = torch.randn(2, 2, 4410) * 0.3
    >>> y, s = compressor(x, 44100, threshold_db=-20.0, ratio=4.0, knee_db=6.0,
    ...                   attack_ms=5.0, release_ms=100.0, makeup_db=0.0)
    >>> y.shape, s.dtype
    (torch.Size([2, 2, 4410]), torch.float64)
    """
    _check_audio(x)
    sr = _check_sample_rate(sample_rate)
    tracks = x.shape[0]
    thr = _param("threshold_db", threshold_db, tracks)
    r = _param("ratio", ratio, tracks, low=1.0)
    w = _param("knee_db", knee_db, tracks, low=0.0)
    att = _param("attack_ms", attack_ms, tracks, low=0.0, low_open=True)
    rel = _param("release_ms", release_ms, tracks, low=0.0, low_open=True)
    mk = _param("makeup_db", makeup_db, tracks)
    if state is None:
        s0 = torch.zeros(tracks, dtype=torch.float64)
    else:
        s0 = _to_cpu(torch.as_tensor(state)).detach().to(torch.float64).reshape(-1)
        if s0.shape != (tracks,):
            raise InvalidParameterError(
                f"compressor state has shape {tuple(s0.shape)}; expected ({tracks},) — "
                "pass the state returned for the same tracks"
            )
        if not bool((torch.isfinite(s0) & (s0 >= 0)).all()):
            raise InvalidParameterError("compressor state must be finite and >= 0 (a gain reduction in dB)")
    device = x.device
    y, s_out = _CompressorFunction.apply(
        _to_cpu(x),
        thr,
        r,
        w,
        time_constant_coefficient(att, sr),
        time_constant_coefficient(rel, sr),
        db_to_amplitude(mk),
        s0,
        torch.is_grad_enabled(),  # needs_input_grad ignores no_grad; save nothing then
    )
    if device.type != "cpu":
        y = y.to(device)
    return y, s_out


# --------------------------------------------------------------------------------------------
# true-peak limiter
# --------------------------------------------------------------------------------------------

_TAPS_PER_PHASE = 16
_KAISER_BETA = 3.0  # flat to ~0.42 fs (passband ripple errs on the high side, i.e. safe)
_FUTURE = 8  # the detection of sample m needs x up to m + 8
_DETECT_CONTEXT = 17  # and x back to m - 9 (the cell before m, its left neighbour, the taps)
_LOOKAHEAD_MS = 1.5


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


def _lookahead(sample_rate: float) -> int:
    return max(1, int(round(_LOOKAHEAD_MS * 1e-3 * sample_rate)))


def limiter_latency(sample_rate: float) -> int:
    """Fixed delay of :func:`limiter` in samples at ``sample_rate``.

    The limiter delays its input by this many samples (1.5 ms of gain look-ahead plus the
    interpolator's 8 future taps); drop that many leading output samples to realign.

    Parameters
    ----------
    sample_rate : float
        Hz.

    Returns
    -------
    int
        Latency in samples (74 at 44.1 kHz, 80 at 48 kHz).

    Examples
    --------
    >>> limiter_latency(44100)
    74
    """
    return _FUTURE + _lookahead(_check_sample_rate(sample_rate))


def _history_length(sample_rate: float) -> int:
    return max(_FUTURE + _lookahead(sample_rate), _DETECT_CONTEXT)


@njit(**_INLINE)
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


@njit(**_INLINE)
def _refine_grad(a, b, c):
    """(dv/da, dv/db, dv/dc) of :func:`_refine` on the refined branch."""
    den = a - 2.0 * b + c
    e = a - c
    d2 = 8.0 * den * den
    return -(2.0 * e * den - e * e) / d2, 1.0 - 2.0 * e * e / d2, (2.0 * e * den + e * e) / d2


@njit(**_KOPT)
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
                f1[b] = _fma(w1, v, f1[b])
                f2[b] = _fma(w2, v, f2[b])
                f3[b] = _fma(w3, v, f3[b])
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


@njit(parallel=True, **_KOPT)
def _tp_cells_parallel(xe2, hist, length, taps, cell, code):
    for row in prange(xe2.shape[0]):
        _tp_cells_row(xe2[row], hist, length, taps, cell[row], code[row])


@njit(**_KOPT)
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


@njit(**_INLINE)
def _grid_value(xr, hist, taps, base, k):
    """x at ``base + k/4`` (output-aligned ``base``, k in -1..4)."""
    if k < 0:
        base -= 1
        k += 4
    elif k > 3:
        base += 1
        k -= 4
    pos = hist + base
    if k == 0:
        return float(xr[pos])
    acc = 0.0
    for j in range(_TAPS_PER_PHASE):
        acc = _fma(taps[k - 1, j], float(xr[pos - 7 + j]), acc)
    return acc


@njit(**_INLINE)
def _grid_scatter(gr, hist, taps, base, k, g):
    if k < 0:
        base -= 1
        k += 4
    elif k > 3:
        base += 1
        k -= 4
    pos = hist + base
    if k == 0:
        gr[pos] += g
    else:
        for j in range(_TAPS_PER_PHASE):
            gr[pos - 7 + j] += g * taps[k - 1, j]


@njit(**_KOPT)
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
        # the kernels read float64 (one compiled variant; the master bus is small)
        xn = xe.detach().to(torch.float64).contiguous()
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
        if record and ctx.needs_input_grad[0]:
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


@njit(**_KOPT)
def _limiter_gain_kernel(peak, ceiling, a_rel, red_hist, s_init, avg_hist, red_ext, held, released, gain, s_out):
    """Required reduction -> sliding max (look-ahead) -> release -> moving average -> gain.

    ``red_ext = [red_hist, reduction]`` (``L + N``), ``held[n] = max(red_ext[n .. n + L])``,
    ``released`` = one-pole with instant attack, ``gain = 10^(-mean(rel_ext[n .. n + L - 1]) / 20)``
    with ``rel_ext = [avg_hist, released]``.  Direct window sums keep chunked == whole exact.
    """
    tracks, length = peak.shape
    look = red_hist.shape[1]
    for t in range(tracks):
        re = red_ext[t]
        pr = peak[t]
        ceil = ceiling[t]
        for i in range(look):
            re[i] = red_hist[t, i]
        for n in range(length):
            v = _DB_PER_NEPER * _ln(max(pr[n], _PEAK_FLOOR)) - ceil
            re[_U(look) + _U(n)] = v if v > 0.0 else 0.0
        h = held[t]
        for b0 in range(0, length, _BLOCK):  # blocked so that the window passes stay in cache
            nb = min(_BLOCK, length - b0)
            ub = _U(b0)
            for n in range(nb):
                h[ub + _U(n)] = re[ub + _U(n)]
            for lag in range(1, look + 1):
                ul = ub + _U(lag)
                for n in range(nb):
                    h[ub + _U(n)] = max(h[ub + _U(n)], re[ul + _U(n)])
        a = a_rel[t]
        s = s_init[t]
        rr = released[t]
        for n in range(length):
            g = h[n]
            s = g if g > s else a * s + (1.0 - a) * g
            s = s if s >= _S_FLUSH_DB else 0.0
            rr[n] = s
        s_out[t] = s
        nh = look - 1
        rel_ext = np.empty(nh + length)
        for i in range(nh):
            rel_ext[i] = avg_hist[t, i]
        for n in range(length):
            rel_ext[_U(nh) + _U(n)] = rr[n]
        acc = np.empty(_BLOCK)
        gr = gain[t]
        inv = 1.0 / look
        for b0 in range(0, length, _BLOCK):
            nb = min(_BLOCK, length - b0)
            ub = _U(b0)
            for n in range(nb):
                acc[n] = 0.0
            for lag in range(look):
                ul = ub + _U(lag)
                for n in range(nb):
                    acc[n] += rel_ext[ul + _U(n)]
            for n in range(nb):
                gr[ub + _U(n)] = _exp2_nonpos(-_LOG2_10_20 * (acc[n] * inv))


@njit(cache=True, nogil=True, error_model="numpy", fastmath={"reassoc"})
def _limiter_gain_backward_kernel(peak, a_rel, s_init, red_ext, held, released, gain, ggain, gpeak, gparams):
    tracks, length = peak.shape
    look = red_ext.shape[1] - length
    for t in range(tracks):
        # gain -> moving average -> released (only the part of rel_ext after the history)
        gavg = np.zeros(length + look - 1)
        gr = gain[t]
        gg = ggain[t]
        inv = 1.0 / look
        for n in range(length):
            gavg[n] = -_LN10_20 * gr[n] * gg[n] * inv
        grel = np.zeros(length)
        for lag in range(look):
            # released[n'] sits at rel_ext index n' + look - 1 = n + lag
            off = _U(look - 1 - lag)
            for n in range(length):
                grel[n] += gavg[_U(n) + off]  # gavg is zero past length
        # release one-pole adjoint (attack coefficient 0)
        a = a_rel[t]
        rr = released[t]
        h = held[t]
        gheld = np.empty(length)
        carry = 0.0
        d_a = 0.0
        for n in range(length - 1, -1, -1):
            lv = grel[n] + carry
            sp = rr[n - 1] if n > 0 else s_init[t]
            g = h[n]
            if g > sp:
                gheld[n] = lv
                carry = 0.0
            else:
                gheld[n] = lv * (1.0 - a)
                d_a += lv * (sp - g)
                cv = lv * a
                carry = cv if abs(cv) >= _LAMBDA_FLUSH else 0.0
        gparams[t, 1] = d_a
        # sliding max: route to the first index holding the window maximum
        re = red_ext[t]
        gre = np.zeros(length + look)
        for n in range(length):
            g = gheld[n]
            if g != 0.0:
                hv = h[n]
                for lag in range(look + 1):
                    if re[n + lag] == hv:
                        gre[n + lag] += g
                        break
        # reduction = max(0, 20 log10(peak) - ceiling)
        pr = peak[t]
        gp = gpeak[t]
        d_c = 0.0
        for n in range(length):
            g = gre[_U(look) + _U(n)]
            on = re[_U(look) + _U(n)] > 0.0
            p = pr[n]
            gp[n] = (g * _DB_PER_NEPER / p) if (on and p > _PEAK_FLOOR) else 0.0
            d_c -= g if on else 0.0
        gparams[t, 0] = d_c


class _LimiterGainFunction(torch.autograd.Function):
    """gain, red_tail, s_last, avg_tail = f(peak, ceiling_dbtp, a_rel, red_hist, s_init, avg_hist)."""

    @staticmethod
    def forward(ctx, peak, ceiling, a_rel, red_hist, s_init, avg_hist, record):
        tracks, length = peak.shape
        look = red_hist.shape[1]
        pk = peak.detach().contiguous()
        red_ext = torch.empty(tracks, look + length, dtype=torch.float64)
        held = torch.empty(tracks, length, dtype=torch.float64)
        released = torch.empty(tracks, length, dtype=torch.float64)
        gain = torch.empty(tracks, length, dtype=torch.float64)
        s_out = torch.empty(tracks, dtype=torch.float64)
        s0 = s_init.detach().contiguous()
        ar = a_rel.detach().contiguous()
        avg_hist = avg_hist.detach().contiguous()
        _limiter_gain_kernel(
            pk.numpy(),
            ceiling.detach().contiguous().numpy(),
            ar.numpy(),
            red_hist.detach().contiguous().numpy(),
            s0.numpy(),
            avg_hist.numpy(),
            red_ext.numpy(),
            held.numpy(),
            released.numpy(),
            gain.numpy(),
            s_out.numpy(),
        )
        red_tail = red_ext[:, length:].clone()
        avg_tail = torch.cat([avg_hist, released], dim=1)[:, length:].clone()
        if record and any(ctx.needs_input_grad[:3]):
            ctx.save_for_backward(pk, ar, s0, red_ext, held, released, gain)
        ctx.mark_non_differentiable(red_tail, s_out, avg_tail)
        return gain, red_tail, s_out, avg_tail

    @staticmethod
    def backward(ctx, ggain, _g1, _g2, _g3):
        pk, ar, s0, red_ext, held, released, gain = ctx.saved_tensors
        gpeak = torch.empty_like(pk)
        gparams = torch.zeros(pk.shape[0], 2, dtype=torch.float64)
        _limiter_gain_backward_kernel(
            pk.numpy(),
            ar.numpy(),
            s0.numpy(),
            red_ext.numpy(),
            held.numpy(),
            released.numpy(),
            gain.numpy(),
            ggain.contiguous().to(torch.float64).numpy(),
            gpeak.numpy(),
            gparams.numpy(),
        )
        needs = ctx.needs_input_grad
        return (
            gpeak if needs[0] else None,
            gparams[:, 0] if needs[1] else None,
            gparams[:, 1] if needs[2] else None,
            None,
            None,
            None,
            None,
        )


class LimiterState(NamedTuple):
    """Carried state of :func:`limiter` (all detached; shapes depend on the sample rate).

    Attributes
    ----------
    x_history : torch.Tensor
        ``(tracks, channels, H)`` last input samples (delay line and interpolator context).
    reduction_history : torch.Tensor
        float64 ``(tracks, L)`` last required gain reductions in dB (look-ahead window).
    release_db : torch.Tensor
        float64 ``(tracks,)`` released gain reduction in dB.
    average_history : torch.Tensor
        float64 ``(tracks, L - 1)`` last released reductions (moving-average window).
    """

    x_history: torch.Tensor
    reduction_history: torch.Tensor
    release_db: torch.Tensor
    average_history: torch.Tensor


def _limiter_initial_state(tracks: int, channels: int, dtype: torch.dtype, sample_rate: float) -> LimiterState:
    look = _lookahead(sample_rate)
    return LimiterState(
        torch.zeros(tracks, channels, _history_length(sample_rate), dtype=dtype),
        torch.zeros(tracks, look, dtype=torch.float64),
        torch.zeros(tracks, dtype=torch.float64),
        torch.zeros(tracks, look - 1, dtype=torch.float64),
    )


def limiter(
    x: torch.Tensor,
    sample_rate: float,
    *,
    ceiling_dbtp,
    release_ms,
    state: LimiterState | None = None,
) -> tuple[torch.Tensor, LimiterState]:
    """True-peak brickwall limiter with look-ahead (for the master bus).

    Detector: the signal is interpolated at ``i + k/4`` with a polyphase windowed sinc
    (16 taps per phase), each local maximum of ``|x|`` on that 4x grid is refined by the
    vertex of the parabola through its neighbours, and the estimate for sample ``m`` is the
    maximum over ``[m - 1, m + 1)`` and the channels of the track.  The required reduction
    ``max(0, peak_db - ceiling_dbtp)`` is held over a look-ahead window of ``L`` samples
    (1.5 ms), released by a one-pole in dB (instant attack) and averaged over ``L`` samples,
    so the gain is smooth and already down when the peak arrives; the input is delayed by
    :func:`limiter_latency` samples.  The output true peak (ITU-R BS.1770-4, measured 8x)
    stays within 0.1 dB of the ceiling; signals whose estimated true peak stays below the
    ceiling pass exactly unchanged, only delayed.

    Parameters
    ----------
    x : torch.Tensor
        Audio ``(tracks, channels, samples)``, float32 or float64 (usually one track).
        Computed on the CPU.
    sample_rate : float
        Hz.
    ceiling_dbtp : float or torch.Tensor
        Ceiling in dBTP, shape ``()`` or ``(tracks,)``; console range -12…0.
    release_ms : float or torch.Tensor
        Release time constant (> 0) in ms; console range 10…1000.
    state : LimiterState, optional
        From a previous call with the same tracks, channels and sample rate; ``None`` means
        silence before the first sample.

    Returns
    -------
    y : torch.Tensor
        Limited audio, shape and dtype of ``x``, delayed by ``limiter_latency(sample_rate)``.
    state : LimiterState
        To pass with the next chunk.

    Notes
    -----
    Differentiable with respect to ``x``, ``ceiling_dbtp`` and ``release_ms`` (subgradients
    through the maxima, analytic adjoints in numba).

    Examples
    --------
    >>> x = torch.randn(1, 2, 4410)
    >>> y, st = limiter(x, 44100, ceiling_dbtp=-1.0, release_ms=100.0)
    >>> y.shape
    torch.Size([1, 2, 4410])
    """
    _check_audio(x)
    sr = _check_sample_rate(sample_rate)
    tracks, channels, length = x.shape
    ceiling = _param("ceiling_dbtp", ceiling_dbtp, tracks)
    rel = _param("release_ms", release_ms, tracks, low=0.0, low_open=True)
    device = x.device
    x = _to_cpu(x)
    look = _lookahead(sr)
    hist = _history_length(sr)
    if state is None:
        state = _limiter_initial_state(tracks, channels, x.dtype, sr)
    else:
        expected = ((tracks, channels, hist), (tracks, look), (tracks,), (tracks, look - 1))
        got = tuple(tuple(t.shape) for t in state)
        if got != expected:
            raise InvalidParameterError(
                f"limiter state has shapes {got}, expected {expected}; pass the state returned "
                "for the same tracks, channels and sample_rate"
            )
    if length == 0:
        return x.clone().to(device), state
    xe = torch.cat([state.x_history.to(x.dtype), x], dim=-1)  # (T, C, hist + N)
    record = torch.is_grad_enabled()  # needs_input_grad ignores no_grad; save nothing then
    peak = _TruePeakFunction.apply(xe, hist, record)
    gain, red_tail, s_last, avg_tail = _LimiterGainFunction.apply(
        peak,
        ceiling,
        time_constant_coefficient(rel, sr),
        state.reduction_history,
        state.release_db,
        state.average_history,
        record,
    )
    start = hist - (_FUTURE + look)
    y = xe[..., start : start + length] * gain.to(x.dtype)[:, None, :]
    new_state = LimiterState(xe[..., -hist:].detach().clone(), red_tail, s_last, avg_tail)
    if device.type != "cpu":
        y = y.to(device)
    return y, new_state
