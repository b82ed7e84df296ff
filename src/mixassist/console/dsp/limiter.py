"""True-peak brickwall limiter with look-ahead, for the master bus.

The detector is :func:`~mixassist.console.dsp.true_peak.true_peak_estimate`; the gain path
(held reduction, release, moving average) runs in numba kernels inside a
:class:`torch.autograd.Function` with an analytic adjoint (see :mod:`mixassist.console.dsp`).

References
----------
ITU-R BS.1770-4 (2015), Annex 2: true-peak level.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch
from numba import njit

from mixassist.console.dsp.arguments import check_audio, positive_sample_rate, to_cpu, track_param
from mixassist.console.dsp.jit import KERNEL_OPTIONS
from mixassist.console.dsp.levels import (
    DB_PER_NEPER,
    LAMBDA_FLUSH,
    LN10_20,
    LOG2_10_20,
    PEAK_FLOOR,
    S_FLUSH_DB,
    exp2_nonpos,
    ln,
    time_constant_coefficient,
)
from mixassist.console.dsp.true_peak import DETECTOR_CONTEXT, DETECTOR_FUTURE, true_peak_estimate
from mixassist.errors import InvalidParameterError

__all__ = ["LimiterState", "limiter", "limiter_latency"]

_U = np.uint64  # unsigned indices: no wrap-around checks, so loops vectorise
_BLOCK = 1024  # samples per block of the window passes; the buffers stay in L1/L2
_LOOKAHEAD_MS = 1.5


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
    return DETECTOR_FUTURE + _lookahead(positive_sample_rate(sample_rate))


def _history_length(sample_rate: float) -> int:
    return max(DETECTOR_FUTURE + _lookahead(sample_rate), DETECTOR_CONTEXT)


@njit(**KERNEL_OPTIONS)
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
            v = DB_PER_NEPER * ln(max(pr[n], PEAK_FLOOR)) - ceil
            re[_U(look) + _U(n)] = v if v > 0.0 else 0.0
        h = held[t]
        for b0 in range(0, length, _BLOCK):  # blocked so that the window passes stay in cache
            nb = min(_BLOCK, length - b0)
            ub = _U(b0)
            top = 0.0  # reductions are >= 0: a window of zeros holds 0 (most blocks: no peak over the ceiling)
            for n in range(nb + look):
                top = max(top, re[ub + _U(n)])
            for n in range(nb):
                h[ub + _U(n)] = re[ub + _U(n)]
            if top == 0.0:
                continue
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
            s = s if s >= S_FLUSH_DB else 0.0
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
            top = 0.0  # released reductions are >= 0: sums of zeros are 0 (the same 0.0 as summed)
            for n in range(nb + look - 1):
                top = max(top, rel_ext[ub + _U(n)])
            for lag in range(look if top > 0.0 else 0):
                ul = ub + _U(lag)
                for n in range(nb):
                    acc[n] += rel_ext[ul + _U(n)]
            for n in range(nb):
                gr[ub + _U(n)] = exp2_nonpos(-LOG2_10_20 * (acc[n] * inv))


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
            gavg[n] = -LN10_20 * gr[n] * gg[n] * inv
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
                carry = cv if abs(cv) >= LAMBDA_FLUSH else 0.0
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
            gp[n] = (g * DB_PER_NEPER / p) if (on and p > PEAK_FLOOR) else 0.0
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
        keep = avg_hist.shape[1]  # the last `keep` of [avg_hist, released], without copying the block
        avg_tail = (
            released[:, length - keep :].clone() if length >= keep else torch.cat([avg_hist[:, length:], released], 1)
        )
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
    check_audio(x)
    sr = positive_sample_rate(sample_rate)
    tracks, channels, length = x.shape
    ceiling = track_param("ceiling_dbtp", ceiling_dbtp, tracks)
    rel = track_param("release_ms", release_ms, tracks, low=0.0, low_open=True)
    device = x.device
    x = to_cpu(x)
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
    peak = true_peak_estimate(xe, hist, record)
    gain, red_tail, s_last, avg_tail = _LimiterGainFunction.apply(
        peak,
        ceiling,
        time_constant_coefficient(rel, sr),
        state.reduction_history,
        state.release_db,
        state.average_history,
        record,
    )
    start = hist - (DETECTOR_FUTURE + look)
    y = xe[..., start : start + length] * gain.to(x.dtype)[:, None, :]
    new_state = LimiterState(xe[..., -hist:].detach().clone(), red_tail, s_last, avg_tail)
    if device.type != "cpu":
        y = y.to(device)
    return y, new_state
