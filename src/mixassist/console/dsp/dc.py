"""The DC blocker: a 2nd-order Butterworth high-pass at 5 Hz, always on in every strip and the master.

Why second order.  A first-order blocker (``y[n] = x[n] − x[n−1] + R·y[n−1]``) answers an offset
that starts with the file with a decaying step whose *area* is ``offset × τ`` (τ = 1 / (2π f_c)):
a stem with +0.5 DC over 3 s would still leave a mean of 0.5 × 32 ms / 3 s, −45 dBFS.  A
high-pass of order ≥ 2 has ``H(s)/s = s / D(s)``, which is 0 at ``s = 0``: its step response has
zero area, so the offset's mean is gone once the ringing has decayed (about 5 τ, 0.2 s at 5 Hz).
At 5 Hz the filter costs −0.26 dB at 10 Hz, −0.017 dB at 20 Hz and nothing audible above.

:func:`dc_block_sos` is :func:`~mixassist.console.dsp.biquad.highpass_sos` with ``order=2`` (one
RBJ section, equal to ``scipy.signal.butter(2, corner_hz, "highpass", fs=sample_rate)``);
:func:`dc_block` runs it through :func:`~mixassist.console.dsp.cascade.biquad_cascade`.

Settled start.  With no state, :func:`dc_block` starts as if its input had held its first
sample forever (``scipy.signal.sosfilt_zi(sos) * x[0]``): a stem that starts on an offset gives
no step at all, so nothing downstream (compressor, limiter) shapes a transient that would leave
part of the offset behind.  A stem that starts in silence starts from rest, as every other
processor does.

After the limiter: :func:`remove_local_mean`.  A gain that moves within a waveform's period (a
brickwall limiter's) makes DC out of an asymmetric waveform: ``mean(g x) != 0`` although
``mean(x) = 0`` (the demo's rules mix: -57 dBFS, all of it from the limiter).  A high-pass after
the limiter would remove it but shift the phase of the bass the limiter has just levelled (5 Hz,
2nd order: about 10 degrees at 40 Hz; on the demo a 0.13 change of the waveform, true peak
-0.28 dBTP against a -1.05 ceiling).  So the master ends *limiter -> remove_local_mean ->
limiter*: the local mean is a zero-phase low-pass (the 0.2 s triangle of two 0.1 s moving
averages; a tone above 40 Hz changes by at most 0.5 %, with no phase shift), so what it
subtracts is only the slow offset the limiter made (|mean| <= 0.012 on the demo), and the second
limiter, with the same settings, takes the few samples this lifts over the ceiling back under
it; its reductions are that small, so the DC it makes is tiny (-94 dBFS on the demo).
"""

from __future__ import annotations

import numpy as np
import torch
from numba import njit

from mixassist.console.dsp.biquad import highpass_sos
from mixassist.console.dsp.cascade import biquad_cascade
from mixassist.console.dsp.jit import KERNEL_OPTIONS
from mixassist.errors import InvalidParameterError

__all__ = ["DC_BLOCK_HZ", "MEAN_WINDOW_S", "dc_block", "dc_block_sos", "local_mean_latency", "remove_local_mean"]

#: Corner (−3 dB) of the console's DC blocker, Hz, at every sample rate.
DC_BLOCK_HZ = 5.0

#: Length of each of the two moving averages of :func:`remove_local_mean`, s.  Their cascade is a
#: triangle of twice this length: nulls at every multiple of 10 Hz, -3 dB of the removal at 5.8 Hz.
MEAN_WINDOW_S = 0.1


def dc_block_sos(sample_rate: float, *, corner_hz: float = DC_BLOCK_HZ, tracks: int = 1) -> torch.Tensor:
    """The blocker's one biquad section, float64 ``(tracks, 1, 6)`` in scipy sos layout.

    Parameters
    ----------
    sample_rate : float
        Hz.
    corner_hz : float, default 5
        −3 dB frequency in Hz (clamped to ``[1, 0.4999 * sample_rate]``).
    tracks : int, default 1
        Rows to repeat it for (one per track of a batch).

    Examples
    --------
    >>> from mixassist.console.dsp.biquad import sos_response_db
    >>> round(sos_response_db(dc_block_sos(48000), torch.tensor([5.0]), 48000).item(), 2)
    -3.01
    """
    return highpass_sos(float(corner_hz), sample_rate, order=2).expand(int(tracks), -1, -1).contiguous()


def dc_block(
    x: torch.Tensor, sample_rate: float, *, corner_hz: float = DC_BLOCK_HZ, state: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Remove DC (and content far below the audio band) from every channel of every track.

    Parameters
    ----------
    x : torch.Tensor
        Audio ``(tracks, channels, samples)``, float32 or float64.
    sample_rate : float
        Hz.
    corner_hz : float, default 5
        −3 dB frequency of the 2nd-order Butterworth high-pass, Hz.
    state : torch.Tensor, optional
        From the previous call on the preceding chunk; ``None`` (the first chunk) starts
        settled on the first sample (see the module's notes).  Chunked processing equals
        one-shot processing.

    Returns
    -------
    y : torch.Tensor
        Shape and dtype of ``x``; differentiable with respect to ``x``.
    state : torch.Tensor
        float64 ``(tracks, channels, 1, 2)`` for the next chunk.

    Examples
    --------
    >>> x = torch.full((1, 1, 48000), 0.5)
    >>> y, _ = dc_block(x, 48000)
    >>> float(y.abs().max()) < 1e-7
    True
    """
    sos = dc_block_sos(sample_rate, corner_hz=corner_hz, tracks=x.shape[0])
    if state is not None or x.shape[-1] == 0:
        return biquad_cascade(x, sos, state)
    # Settled on c = x[..., 0]: by linearity the output is the filter from rest of x - c (exact
    # gradients through c), and the state to carry on is that filter's state plus the state of
    # a filter that has seen c forever.
    c = x[..., :1]
    y, state = biquad_cascade(x - c, sos, None)
    return y, state + _settled_state(sos, c.detach()[..., 0])


def _settled_state(sos: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
    """The cascade state of the section after a constant input ``c`` ``(tracks, channels)`` forever.

    :func:`biquad_cascade` keeps transposed-direct-form-II states of the residual ``e = y - u``
    (``e = (b0 - 1) u + s1``, ``s1' = (b1 - a1) u + s2 - a1 e``, ``s2' = (b2 - a2) u - a2 e``).  At
    a constant input ``c`` a high-pass outputs 0, so ``e = -c``, ``s2 = b2 c`` and ``s1 = -b0 c``
    (which equals ``(b1 + b2) c`` because ``b0 + b1 + b2 = 0``).
    """
    c = c.to(device="cpu", dtype=torch.float64)
    b0, b2 = sos[:, 0, 0, None], sos[:, 0, 2, None]  # (tracks, 1)
    return torch.stack([-b0 * c, b2 * c], dim=-1)[:, :, None, :]


def _mean_window(sample_rate: float, window_s: float) -> int:
    n = int(round(window_s * sample_rate))
    if n < 2:
        raise InvalidParameterError(
            f"window_s={window_s:g} is {n} sample(s) at {sample_rate:g} Hz; the moving average needs at least 2"
        )
    return n


def local_mean_latency(sample_rate: float, *, window_s: float = MEAN_WINDOW_S) -> int:
    """Delay of :func:`remove_local_mean` in samples: ``n - 1`` for windows of ``n`` samples.

    Examples
    --------
    >>> local_mean_latency(44100)
    4409
    """
    return _mean_window(sample_rate, window_s) - 1


def remove_local_mean(
    x: torch.Tensor, sample_rate: float, *, window_s: float = MEAN_WINDOW_S, state: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Subtract the zero-phase local mean: ``y[m] = x[m - d] - tri(x)[m]``, ``d = n - 1``.

    ``tri`` is two causal moving averages of ``n = round(window_s * sample_rate)`` samples in
    cascade: a symmetric triangle of ``2 n - 1`` taps centred on ``x[m - d]``, so the output is
    ``x`` delayed by ``d`` samples minus a linear-phase low-pass of it (nulls at multiples of
    ``1 / window_s`` Hz, DC gain 1): a DC remover that shifts no phase (see the module's notes).

    Parameters
    ----------
    x, sample_rate
        As in :func:`dc_block`.
    window_s : float, default 0.1
        Length of each moving average, s (at least 2 samples).
    state : torch.Tensor, optional
        float64 ``(tracks, channels, 2 d)``: the last input samples, from the previous call on the
        preceding chunk; ``None`` means silence before the first sample.  Chunked processing
        equals one-shot processing (to float64 rounding of the running sums).

    Returns
    -------
    y : torch.Tensor
        Shape and dtype of ``x``, delayed by :func:`local_mean_latency`; differentiable with
        respect to ``x``.
    state : torch.Tensor
        For the next chunk.

    Examples
    --------
    >>> x = torch.full((1, 1, 22050), 0.5, dtype=torch.float64)
    >>> y, _ = remove_local_mean(x, 22050)
    >>> float(y[..., 4410:].abs().max()) < 1e-12   # settled once both windows are full
    True
    """
    n = _mean_window(sample_rate, window_s)
    d = n - 1
    tracks, channels, length = x.shape
    if state is None:
        state = torch.zeros(tracks, channels, 2 * d, dtype=torch.float64)
    elif tuple(state.shape) != (tracks, channels, 2 * d):
        raise InvalidParameterError(
            f"remove_local_mean state has shape {tuple(state.shape)}, expected {(tracks, channels, 2 * d)}; "
            "pass the state returned for the same tracks, channels, sample_rate and window_s"
        )
    if torch.is_grad_enabled() and x.requires_grad:
        xe = torch.cat([state.to(x.device), x.to(torch.float64)], dim=-1)  # (T, C, 2d + N)
        first = _moving_average(xe, n)  # (T, C, d + N): windows ending at xe[d:], ...
        mean = _moving_average(first, n)  # (T, C, N): the triangle centred on xe[d + k]
        y = (xe[..., d : d + length] - mean).to(x.dtype)
        return y, xe[..., xe.shape[-1] - 2 * d :].detach().clone()
    # Without gradients: the same sums in the same order in one numba pass (bit for bit the
    # torch path's result, several times faster: no float64 copies of the block).
    xs = x.detach().to("cpu").contiguous()
    y_np = np.empty(tuple(xs.shape), dtype=xs.numpy().dtype)
    tail = np.empty((tracks, channels, 2 * d), dtype=np.float64)
    _local_mean_kernel(state.detach().to("cpu", torch.float64).contiguous().numpy(), xs.numpy(), n, y_np, tail)
    return torch.from_numpy(y_np).to(x.device), torch.from_numpy(tail)


@njit(**KERNEL_OPTIONS)
def _local_mean_kernel(state, x, n, y, tail):
    """:func:`remove_local_mean` without gradients, bit for bit as its torch path computes it.

    Per row, over ``xe = [state, x]`` (float64): ``S`` its running sum from 0 (``torch.cumsum``
    adds in order), ``first[j] = (S[j + n] - S[j]) / n``, ``S2`` the running sum of ``first``,
    ``y[k] = xe[d + k] - (S2[k + n] - S2[k]) / n``; ``tail`` gets the last ``2 d`` of ``xe``.
    """
    tracks, channels, length = x.shape
    d = n - 1
    total = 2 * d + length
    xe = np.empty(total)
    s = np.empty(total + 1)
    s2 = np.empty(total - n + 2)
    for t in range(tracks):
        for c in range(channels):
            for i in range(2 * d):
                xe[i] = state[t, c, i]
            for i in range(length):
                xe[2 * d + i] = np.float64(x[t, c, i])
            acc = 0.0
            s[0] = 0.0
            for i in range(total):
                acc += xe[i]
                s[i + 1] = acc
            acc = 0.0
            s2[0] = 0.0
            for j in range(total - n + 1):
                acc += (s[j + n] - s[j]) / n
                s2[j + 1] = acc
            for k in range(length):
                y[t, c, k] = xe[d + k] - (s2[k + n] - s2[k]) / n
            for i in range(2 * d):
                tail[t, c, i] = xe[total - 2 * d + i]


def _moving_average(x: torch.Tensor, n: int) -> torch.Tensor:
    """Mean of every ``n`` consecutive samples along the last axis (``samples - n + 1`` of them)."""
    sums = torch.nn.functional.pad(torch.cumsum(x, dim=-1), (1, 0))
    return (sums[..., n:] - sums[..., :-n]) / n
