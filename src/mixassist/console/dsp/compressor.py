"""Feed-forward log-domain compressor with a soft knee and smooth-branching ballistics.

The design of Giannoulis, Massberg & Reiss; the per-sample work runs in numba kernels inside a
:class:`torch.autograd.Function` whose backward pass is the analytic adjoint (see
:mod:`mixassist.console.dsp` and docs/console-dsp.md).

References
----------
D. Giannoulis, M. Massberg, J. D. Reiss, "Digital dynamic range compressor design — a tutorial
and analysis", J. Audio Eng. Soc. 60(6), 2012.
"""

from __future__ import annotations

import numpy as np
import torch
from numba import njit, prange

from mixassist.console.dsp.arguments import check_audio, positive_sample_rate, to_cpu, track_param
from mixassist.console.dsp.jit import KERNEL_OPTIONS, jit_options
from mixassist.console.dsp.levels import (
    DB_PER_NEPER,
    LAMBDA_FLUSH,
    LN10_20,
    LOG2_10_20,
    PEAK_FLOOR,
    S_FLUSH_DB,
    db_to_amplitude,
    exp2_nonpos,
    ln,
    time_constant_coefficient,
)
from mixassist.errors import InvalidParameterError

__all__ = ["compressor"]

_U = np.uint64  # unsigned indices: no wrap-around checks, so loops vectorise
# Below this many track-samples the kernels run on the calling thread: a parallel launch
# costs microseconds on an idle machine but milliseconds when the cores are oversubscribed.
_PARALLEL_MIN_WORK = 1 << 20
_LANES = 4  # tracks smoothed together: independent recursions interleave and vectorise
_BLOCK = 1024  # samples per block; the block buffers stay in L1/L2


@njit(**KERNEL_OPTIONS)
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


@njit(**KERNEL_OPTIONS)
def _static_block(p, nb, threshold_db, k, knee_db, gr, dist):
    """Gain reduction of the soft-knee curve (Giannoulis et al. eq. 4), ``x_db - y_db``.

    ``k = 1 - 1/ratio``.  Writing ``gr`` directly (not ``x - y``) makes ratio 1 give exactly 0.
    ``dist`` receives ``x_db - threshold_db`` (used by the backward pass).
    """
    lo = threshold_db - 0.5 * knee_db
    inv2w = 0.5 / knee_db if knee_db > 0.0 else 0.0  # knee 0: the knee branch is never taken
    for n in range(nb):
        xd = DB_PER_NEPER * ln(max(p[n], PEAK_FLOOR))
        d = xd - threshold_db
        u = xd - lo
        v = k * u * u * inv2w if 2.0 * d < knee_db else k * d
        gr[n] = 0.0 if 2.0 * d <= -knee_db else v
        dist[n] = d


@njit(**KERNEL_OPTIONS)
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
            v = v if v >= S_FLUSH_DB else 0.0
            sl[j] = v
            s_blk[j, n] = v
    s[:] = sl


@njit(**KERNEL_OPTIONS)
def _apply_block(x2, y2, row, channels, b0, nb, makeup_gain, s_row, g):
    ub = _U(b0)
    for n in range(nb):
        g[n] = makeup_gain * exp2_nonpos(-LOG2_10_20 * s_row[n])
    for c in range(channels):
        xs = x2[row + c]
        ys = y2[row + c]
        for n in range(nb):
            ys[ub + _U(n)] = xs[ub + _U(n)] * g[n]


@njit(**KERNEL_OPTIONS)
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


@njit(**jit_options(KERNEL_OPTIONS, parallel=True))
def _compressor_forward_parallel(x2, channels, thr, ratio, knee, a_att, a_rel, makeup_gain, s_init, y2, s_out, s_all):
    tracks = thr.shape[0]
    for grp in prange((tracks + _LANES - 1) // _LANES):
        t0 = grp * _LANES
        nt = min(_LANES, tracks - t0)
        _compressor_forward_group(
            x2, channels, t0, nt, thr, ratio, knee, a_att, a_rel, makeup_gain, s_init, y2, s_out, s_all
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
                e[n] = exp2_nonpos(-LOG2_10_20 * srow[ub + _U(n)])
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
                dj[n] = -LN10_20 * gm * v[n] * e[n]
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
                cl[j] = cv if abs(cv) >= LAMBDA_FLUSH else 0.0
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
                v[n] = (dgr * dxdb * DB_PER_NEPER / pk) if pk > PEAK_FLOOR else 0.0
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


@njit(**jit_options(KERNEL_OPTIONS, parallel=True))
def _compressor_backward_parallel(
    x2, gy2, channels, s_all, s_init, thr, ratio, knee, a_att, a_rel, makeup_gain, gx2, gparams
):
    tracks = thr.shape[0]
    for grp in prange((tracks + _LANES - 1) // _LANES):
        t0 = grp * _LANES
        nt = min(_LANES, tracks - t0)
        _compressor_backward_group(
            x2, gy2, channels, t0, nt, s_all, s_init, thr, ratio, knee, a_att, a_rel, makeup_gain, gx2, gparams
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
    check_audio(x)
    sr = positive_sample_rate(sample_rate)
    tracks = x.shape[0]
    thr = track_param("threshold_db", threshold_db, tracks)
    r = track_param("ratio", ratio, tracks, low=1.0)
    w = track_param("knee_db", knee_db, tracks, low=0.0)
    att = track_param("attack_ms", attack_ms, tracks, low=0.0, low_open=True)
    rel = track_param("release_ms", release_ms, tracks, low=0.0, low_open=True)
    mk = track_param("makeup_db", makeup_db, tracks)
    if state is None:
        s0 = torch.zeros(tracks, dtype=torch.float64)
    else:
        s0 = to_cpu(torch.as_tensor(state)).detach().to(torch.float64).reshape(-1)
        if s0.shape != (tracks,):
            raise InvalidParameterError(
                f"compressor state has shape {tuple(s0.shape)}; expected ({tracks},) — "
                "pass the state returned for the same tracks"
            )
        if not bool((torch.isfinite(s0) & (s0 >= 0)).all()):
            raise InvalidParameterError("compressor state must be finite and >= 0 (a gain reduction in dB)")
    device = x.device
    y, s_out = _CompressorFunction.apply(
        to_cpu(x),
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
