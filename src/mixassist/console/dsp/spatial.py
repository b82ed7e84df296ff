"""Per-track polarity, gain, sub-sample delay and stereo placement.

Every function takes audio shaped ``(tracks, channels, samples)`` (``channels`` 1 or 2) and
parameters shaped ``(tracks,)`` (a 0-d tensor or a Python number is broadcast to every track)
and is differentiable with respect to the audio and every continuous parameter.

* :func:`gain_polarity` — a fader in dB times a polarity (+1 or −1).
* :func:`fractional_delay` — a band-limited delay of any non-negative (fractional) number of
  samples: a 32-tap Kaiser-windowed sinc, exact to better than −80 dB below 0.8 × Nyquist,
  a bit-exact shift at whole-sample delays, with a constant latency of
  :data:`DELAY_LATENCY` samples that the caller compensates.
* :func:`pan_width` — mid/side width for stereo input, then a constant-power pan (mono input)
  or a constant-power balance normalised to unity at centre (stereo input); the output is
  always stereo.

The delay FIR runs in a numba kernel wrapped in a :class:`torch.autograd.Function` with an
analytic adjoint (see :mod:`mixassist.console.dsp`), so it needs CPU tensors.
"""

from __future__ import annotations

import math
import threading

import numba
import numpy as np
import torch

from mixassist.errors import InvalidParameterError

__all__ = [
    "DELAY_LATENCY",
    "DELAY_TAPS",
    "MAX_DELAY_SAMPLES",
    "fractional_delay",
    "gain_polarity",
    "pan_width",
    "pan_width_curve",
    "pan_width_curve_into",
]

#: Constant latency of :func:`fractional_delay` in samples (half the FIR length): the output
#: is ``y[n] = x(n - delay - DELAY_LATENCY)``.  Drop this many leading samples to compensate.
DELAY_LATENCY = 16
#: Length of the windowed-sinc interpolation FIR.
DELAY_TAPS = 2 * DELAY_LATENCY
#: Largest accepted delay (the history kept between chunks grows with the delay).
MAX_DELAY_SAMPLES = 1 << 22
# Kaiser β for 32 taps: worst-case error of the interpolator (any fraction, any frequency up
# to 0.8 × Nyquist) is −85 dB, and still −84 dB up to 0.82 × Nyquist; larger β trades that
# robustness at the band edge for a deeper but narrower optimum.
_KAISER_BETA = 9.0
_BLOCK = 1024  # output samples per inner block: the accumulator stays in L1
_PARALLEL_MIN_WORK = 4_000_000  # multiply-adds below which threads cost more than they save


# --------------------------------------------------------------------------- validation
def _check_audio(x: torch.Tensor, what: str, max_channels: int = 2) -> None:
    if not isinstance(x, torch.Tensor):
        raise InvalidParameterError(f"{what}: expected a torch.Tensor, got {type(x).__name__}")
    if x.ndim != 3:
        raise InvalidParameterError(
            f"{what}: audio must be shaped (tracks, channels, samples), got shape {tuple(x.shape)}"
        )
    if not 1 <= x.shape[1] <= max_channels:
        raise InvalidParameterError(f"{what}: {x.shape[1]} channels; 1 to {max_channels} are supported")
    if not x.is_floating_point():
        raise InvalidParameterError(f"{what}: audio must be floating point, got {x.dtype}")


def _per_track(value: torch.Tensor | float, tracks: int, name: str) -> torch.Tensor:
    """``value`` as a ``(tracks,)`` floating tensor (0-d tensors and numbers are broadcast)."""
    v = value if isinstance(value, torch.Tensor) else torch.tensor(value, dtype=torch.float64)
    if not v.is_floating_point():
        v = v.to(torch.float64)
    if v.ndim == 0:
        v = v.expand(tracks)
    if v.shape != (tracks,):
        raise InvalidParameterError(f"{name}: expected shape ({tracks},) (one value per track), got {tuple(v.shape)}")
    return v


def _check_range(v: torch.Tensor, name: str, lo: float, hi: float) -> None:
    d = v.detach()
    bad = ~(torch.isfinite(d) & (d >= lo) & (d <= hi))
    if bool(bad.any()):
        i = int(bad.nonzero()[0, 0])
        raise InvalidParameterError(f"{name}[{i}]={float(d[i])!r} is outside [{lo:g}, {hi:g}]")


# --------------------------------------------------------------------------- gain, polarity
def gain_polarity(x: torch.Tensor, gain_db: torch.Tensor | float, polarity: torch.Tensor | float = 1.0) -> torch.Tensor:
    """Scale each track by ``10 ** (gain_db / 20) * polarity``.

    Parameters
    ----------
    x : torch.Tensor
        ``(tracks, channels, samples)``.
    gain_db : torch.Tensor or float
        ``(tracks,)`` gain in dB (any finite value).
    polarity : torch.Tensor or float
        ``(tracks,)``: ``1`` as recorded, ``-1`` inverted.  Values in between are accepted
        (a relaxed, continuous polarity for optimisation) but only ±1 are meaningful.

    Returns
    -------
    torch.Tensor
        Same shape and dtype as ``x``; differentiable in ``x``, ``gain_db`` and ``polarity``.
        ``gain_db=0, polarity=1`` is the identity, bit for bit.

    Examples
    --------
    >>> x = torch.ones(2, 1, 3)
    >>> gain_polarity(x, torch.tensor([0.0, -6.0]), torch.tensor([1.0, -1.0]))[:, 0, 0]
    tensor([ 1.0000, -0.5012])
    """
    _check_audio(x, "gain_polarity")
    t = x.shape[0]
    g = _per_track(gain_db, t, "gain_db")
    s = _per_track(polarity, t, "polarity")
    _check_range(g, "gain_db", -math.inf, math.inf)  # finite
    _check_range(s, "polarity", -1.0, 1.0)
    factor = torch.pow(10.0, g / 20.0) * s
    return x * factor.to(x.dtype)[:, None, None]


# --------------------------------------------------------------------------- pan, width
def _pan_gains(pan: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """(cos θ, sin θ, √2·cos θ, √2·sin θ) for θ = (pan + 1)·π/4, in float64.

    Each is written piecewise so that the values that matter are exact in floating point:
    √0.5 at centre for the pan law, 1 at centre for the balance law, 0 on the far side at
    a hard pan (and 1 on the near side for the pan law).  The two pieces are the same analytic function, so the result and its
    derivative are continuous.
    """
    p = pan.to(torch.float64)
    a = (1.0 + p) * (math.pi / 4)  # θ
    b = (1.0 - p) * (math.pi / 4)  # π/2 − θ
    q = p * (math.pi / 4)  # θ − π/4
    cos_t = torch.where(p <= 0, torch.cos(a), torch.sin(b))
    sin_t = torch.where(p >= 0, torch.cos(b), torch.sin(a))
    # √2·cos(π/4 + q) = cos q − sin q (exactly 1 at q = 0); √2·sin(π/4 + q) = cos q + sin q.
    bal_l = torch.where(p <= 0, torch.cos(q) - torch.sin(q), math.sqrt(2.0) * torch.sin(b))
    bal_r = torch.where(p >= 0, torch.cos(q) + torch.sin(q), math.sqrt(2.0) * torch.sin(a))
    return cos_t, sin_t, bal_l, bal_r


def pan_width(x: torch.Tensor, pan: torch.Tensor | float, width: torch.Tensor | float = 1.0) -> torch.Tensor:
    """Place each track in the stereo field.

    With θ = (pan + 1)·π/4:

    * mono input — constant-power pan: ``L = cos θ · x``, ``R = sin θ · x``; centre gives
      √0.5 (−3.01 dB) on each side exactly, hard left/right give (1, 0)/(0, 1), and
      ``L² + R² = x²`` everywhere.  ``width`` is ignored.
    * stereo input — first the width on mid/side, ``M = (L + R)/2``,
      ``S = width · (L − R)/2``, ``L' = M + S``, ``R' = M − S`` (1 is the identity, 0 mono,
      2 doubles the side), then a constant-power balance normalised to unity at centre:
      ``L'' = √2 cos θ · L'``, ``R'' = √2 sin θ · R'``.  ``pan=0, width=1`` returns the input
      bit for bit.

    Parameters
    ----------
    x : torch.Tensor
        ``(tracks, channels, samples)``, ``channels`` 1 or 2.
    pan : torch.Tensor or float
        ``(tracks,)``, −1 (hard left) … 1 (hard right).
    width : torch.Tensor or float
        ``(tracks,)``, 0 … 2; used for stereo input only.

    Returns
    -------
    torch.Tensor
        ``(tracks, 2, samples)``, dtype of ``x``; differentiable in ``x``, ``pan`` and
        ``width``.

    Examples
    --------
    >>> y = pan_width(torch.ones(1, 1, 4), torch.tensor([0.0]))
    >>> bool((y == math.sqrt(0.5)).all())
    True
    """
    _check_audio(x, "pan_width")
    t = x.shape[0]
    p = _per_track(pan, t, "pan")
    _check_range(p, "pan", -1.0, 1.0)
    cos_t, sin_t, bal_l, bal_r = _pan_gains(p)
    if x.shape[1] == 1:
        g = torch.stack([cos_t, sin_t], dim=1).to(x.dtype)
        return g[:, :, None] * x
    w = _per_track(width, t, "width")
    _check_range(w, "width", 0.0, 2.0)
    w = w.to(torch.float64)
    same = (1.0 + w) * 0.5  # L' = same·L + cross·R, R' = cross·L + same·R
    cross = (1.0 - w) * 0.5
    mat = torch.stack(
        [torch.stack([bal_l * same, bal_l * cross], dim=1), torch.stack([bal_r * cross, bal_r * same], dim=1)], dim=1
    ).to(x.dtype)
    # One pass over the audio: (tracks, 2, 2) @ (tracks, 2, samples).
    return torch.matmul(mat, x)


def pan_width_curve(x: torch.Tensor, pan: torch.Tensor, width: torch.Tensor | float = 1.0) -> torch.Tensor:
    """:func:`pan_width` with a pan that moves: ``pan`` is ``(tracks, samples)``, one position per
    sample (an automation lane), the same laws sample by sample.

    Parameters
    ----------
    x : torch.Tensor
        ``(tracks, channels, samples)``, ``channels`` 1 or 2.
    pan : torch.Tensor
        ``(tracks, samples)``, −1 … 1.
    width : torch.Tensor or float
        ``(tracks,)``, 0 … 2 (stereo input only; not automated).

    Returns
    -------
    torch.Tensor
        ``(tracks, 2, samples)``, dtype of ``x``; differentiable in ``x``, ``pan`` and ``width``.
    """
    _check_audio(x, "pan_width_curve")
    t = x.shape[0]
    if pan.shape != (t, x.shape[-1]):
        raise InvalidParameterError(f"pan_width_curve: pan must be shaped {(t, x.shape[-1])}, got {tuple(pan.shape)}")
    if pan.shape[1]:
        lo, hi = np.min(pan.detach().numpy(), axis=1), np.max(pan.detach().numpy(), axis=1)
        _check_range(torch.from_numpy(np.where(lo < -1.0, lo, hi)), "pan", -1.0, 1.0)
    w = _per_track(width, t, "width")
    _check_range(w, "width", 0.0, 2.0)
    if not (pan.requires_grad or w.requires_grad or x.requires_grad):
        out = np.empty((t, 2, x.shape[-1]), dtype=x.numpy().dtype)
        return torch.from_numpy(pan_width_curve_into(x.numpy(), pan.numpy(), w.double().numpy(), out))
    cos_t, sin_t, bal_l, bal_r = _pan_gains(pan)
    if x.shape[1] == 1:
        return torch.stack([cos_t, sin_t], dim=1).to(x.dtype) * x
    w = w.to(torch.float64)[:, None]
    same, cross = (1.0 + w) * 0.5, (1.0 - w) * 0.5
    left, right = x[:, 0], x[:, 1]
    same, cross = same.to(x.dtype), cross.to(x.dtype)
    # width first (static), then the moving balance: L'' = bal_l·(same·L + cross·R), and so on
    out_l = bal_l.to(x.dtype) * (same * left + cross * right)
    out_r = bal_r.to(x.dtype) * (cross * left + same * right)
    return torch.stack([out_l, out_r], dim=1)


def pan_width_curve_into(x: np.ndarray, pan: np.ndarray, width: np.ndarray, out: np.ndarray) -> np.ndarray:
    """:func:`pan_width_curve` for a render (no gradients), in numpy and in ``x``'s precision,
    written into ``out`` (``(tracks, 2, samples)``, ``x``'s dtype; a view of a larger buffer is
    fine): its vectorised float32 ``sin``/``cos`` are several times faster than torch's or
    float64's, and float32 gains are what a float32 render multiplies by anyway."""
    theta = ((pan + 1.0) * (math.pi / 4)).astype(x.dtype)
    return pan_width_angle_into(x, theta, width, out)


def pan_width_angle_into(
    x: np.ndarray, theta: np.ndarray, width: np.ndarray, out: np.ndarray, work: np.ndarray | None = None
) -> np.ndarray:
    """:func:`pan_width_curve_into` from the pan angle ``theta = (pan + 1)·π/4`` ``(tracks,
    samples)`` in ``x``'s dtype, a track at a time through ``work`` (``(4, samples)``, ``x``'s
    dtype; made when not given): the same operations, no temporaries per track."""
    n = x.shape[-1]
    work = np.empty((4, n), dtype=x.dtype) if work is None else work
    cos_t, sin_t, a, b = work[0, :n], work[1, :n], work[2, :n], work[3, :n]
    root2 = x.dtype.type(math.sqrt(2.0))
    for i in range(x.shape[0]):
        np.cos(theta[i], out=cos_t)
        np.sin(theta[i], out=sin_t)
        if x.shape[1] == 1:
            np.multiply(cos_t, x[i, 0], out=out[i, 0])
            np.multiply(sin_t, x[i, 0], out=out[i, 1])
            continue
        cos_t *= root2
        sin_t *= root2
        left, right = x[i, 0], x[i, 1]
        if width[i] == 1.0:  # as recorded: no mid/side matrix
            np.multiply(cos_t, left, out=out[i, 0])
            np.multiply(sin_t, right, out=out[i, 1])
            continue
        same, cross = x.dtype.type((1.0 + width[i]) * 0.5), x.dtype.type((1.0 - width[i]) * 0.5)
        for ch, gain, to_left, to_right in ((0, cos_t, same, cross), (1, sin_t, cross, same)):
            np.multiply(to_left, left, out=a)  # L' = same·L + cross·R, R' = cross·L + same·R
            np.multiply(to_right, right, out=b)
            np.add(a, b, out=a)
            np.multiply(gain, a, out=out[i, ch])
    return out


# --------------------------------------------------------------------------- fractional delay
def _delay_taps(frac: torch.Tensor) -> torch.Tensor:
    """Kaiser-windowed sinc taps ``(tracks, DELAY_TAPS)`` for fractions in [0, 1), float64.

    The FIR computes ``y[n] = Σ_k taps[k] · x[n − D − DELAY_TAPS + k]`` (``D`` the whole
    part of the delay).  With ``m = DELAY_LATENCY − k`` and ``t = m − frac``,
    ``taps[k] = sinc(t) · I0(β·√(1 − (t/L)²)) / I0(β)``, ``L = DELAY_LATENCY``: the sinc is
    centred on ``x[n − D − L − frac]``.  Its numerator ``sin(π·t)`` is written
    ``−(−1)^m · sin(π·frac)``, which is exactly zero at every tap when ``frac = 0``, and the
    centre tap is exactly 1 there, so whole-sample delays give an exact delta.
    """
    lat = DELAY_LATENCY
    k = torch.arange(DELAY_TAPS, dtype=torch.float64)
    m = lat - k
    sign = torch.where(torch.remainder(m, 2) == 0, 1.0, -1.0)
    f = frac.to(torch.float64)[:, None]
    t = m[None, :] - f
    centre = t == 0
    # Near t = 0 the quotient loses its digits (and its derivative all of them), so use the
    # Taylor series there: sinc t = 1 − (πt)²/6 + (πt)⁴/120 − …, error < 1e-18 for |t| < 1e-3.
    small = t.abs() < 1e-3
    pt2 = (math.pi * t) ** 2
    series = 1.0 - pt2 / 6.0 + pt2 * pt2 / 120.0
    num = -sign[None, :] * torch.sin(math.pi * f)
    sinc = torch.where(small, series, num / (math.pi * torch.where(small, torch.ones_like(t), t)))
    # Clamped away from 0 so the derivative of √ stays finite at the window's edge (t = L).
    arg = torch.clamp_min(1.0 - (t / lat) ** 2, 1e-30)
    window = torch.special.i0(_KAISER_BETA * torch.sqrt(arg)) / float(np.i0(_KAISER_BETA))
    return torch.where(centre, torch.ones_like(t), sinc * window)


@numba.njit(cache=True, nogil=True, fastmath={"contract"}, boundscheck=False)
def _fir_row(src, s, w, out, acc):  # pragma: no cover - compiled
    """``out[n] = Σ_k w[k] · src[s + n + k]``; ``len(w)`` is a multiple of 8."""
    n_out = out.shape[0]
    k_len = w.shape[0]
    for b0 in range(0, n_out, _BLOCK):
        bn = min(_BLOCK, n_out - b0)
        a = acc[:bn]
        a[:] = 0.0
        for k in range(0, k_len, 8):
            w0 = w[k]
            w1 = w[k + 1]
            w2 = w[k + 2]
            w3 = w[k + 3]
            w4 = w[k + 4]
            w5 = w[k + 5]
            w6 = w[k + 6]
            w7 = w[k + 7]
            seg = src[s + b0 + k : s + b0 + k + bn + 7]
            for i in range(bn):
                a[i] = (
                    a[i]
                    + w0 * seg[i]
                    + w1 * seg[i + 1]
                    + w2 * seg[i + 2]
                    + w3 * seg[i + 3]
                    + w4 * seg[i + 4]
                    + w5 * seg[i + 5]
                    + w6 * seg[i + 6]
                    + w7 * seg[i + 7]
                )
        out[b0 : b0 + bn] = a


@numba.njit(inline="always", nogil=True, boundscheck=False)
def _row(r, n_ch, starts, a, b):  # pragma: no cover - compiled
    """Row ``r = t·channels + c``: ``t``, ``c``, the track's start ``starts[t]``, ``a[t, c]`` and ``b[t, c]``."""
    t = r // n_ch
    c = r % n_ch
    return t, c, starts[t], a[t, c], b[t, c]


@numba.njit(cache=True, nogil=True, boundscheck=False)
def _fir_forward(first, step, hist, x, starts, w, delta, lat, out):  # pragma: no cover - compiled
    """``out[t, c, n] = Σ_k w[t, k] · z[t, c, starts[t] + n + k]`` with ``z = hist ++ x``,
    for the flattened rows ``r = t·channels + c`` in ``range(first, rows, step)``.

    Rows whose taps are an exact delta (``delta[t]``, peak at ``lat``) are copied instead.
    """
    n_ch, n = x.shape[1], x.shape[2]
    h = hist.shape[2]
    k_len = w.shape[1]
    for r in range(first, x.shape[0] * n_ch, step):
        t, c, s, hr, xr = _row(r, n_ch, starts, hist, x)
        orow = out[t, c]
        if delta[t]:
            j0 = s + lat  # z index of out[0]
            n1 = min(max(h - j0, 0), n)  # outputs still read from the history
            for i in range(n1):
                orow[i] = hr[j0 + i]
            if n1 < n:
                orow[n1:] = xr[j0 + n1 - h : j0 + n - h]
            continue
        acc = np.empty(_BLOCK, out.dtype)
        n0 = min(max(h - s, 0), n)  # outputs whose window touches the history
        if n0 > 0:
            head = np.zeros(n0 + k_len - 1, out.dtype)
            for j in range(n0 + k_len - 1):
                jj = s + j
                if jj < h:
                    head[j] = hr[jj]
                elif jj - h < n:
                    head[j] = xr[jj - h]
            _fir_row(head, 0, w[t], orow[:n0], acc)
        if n0 < n:
            _fir_row(xr, s + n0 - h, w[t], orow[n0:], acc)


@numba.njit(cache=True, nogil=True, fastmath={"contract"}, boundscheck=False)
def _fir_adjoint(first, step, gy, starts, w, gz):  # pragma: no cover - compiled
    """Adjoint of :func:`_fir_forward`: ``gz[t, c, starts[t] + n + k] += w[t, k] · gy[t, c, n]``."""
    n_ch, n = gy.shape[1], gy.shape[2]
    k_len = w.shape[1]
    for r in range(first, gy.shape[0] * n_ch, step):
        t, c, s, g, zr = _row(r, n_ch, starts, gy, gz)
        for b0 in range(0, n, _BLOCK):
            bn = min(_BLOCK, n - b0)
            for k in range(k_len):
                wk = w[t, k]
                if wk == 0.0:
                    continue
                dst = zr[s + b0 + k : s + b0 + k + bn]
                src = g[b0 : b0 + bn]
                for i in range(bn):
                    dst[i] += wk * src[i]


@numba.njit(cache=True, nogil=True, fastmath={"reassoc", "contract"}, boundscheck=False)
def _fir_taps_grad(first, step, gy, z, starts, k_len, gw):  # pragma: no cover - compiled
    """``gw[t, c, k] = Σ_n gy[t, c, n] · z[t, c, starts[t] + n + k]`` (float64 accumulation)."""
    n_ch, n = gy.shape[1], gy.shape[2]
    for r in range(first, gy.shape[0] * n_ch, step):
        t, c, s, g, zr = _row(r, n_ch, starts, gy, z)
        for k in range(k_len):
            acc = 0.0
            for i in range(n):
                acc += np.float64(g[i]) * np.float64(zr[s + i + k])
            gw[t, c, k] = acc


def _run_rows(kernel, rows: int, work: float, *args) -> None:
    """Run ``kernel(first, step, *args)`` over rows ``first, first + step, …``, threaded when big.

    The kernels release the GIL, so plain threads give real parallelism without a second,
    spinning OpenMP pool beside torch's (it slows the torch ops that follow on a small
    machine).  Rows are dealt out interleaved, so cheap (whole-sample) and expensive tracks
    spread evenly.  Small jobs run inline.
    """
    threads = min(torch.get_num_threads(), rows)
    if threads <= 1 or work < _PARALLEL_MIN_WORK:
        kernel(0, 1, *args)
        return
    errors: list[BaseException] = []

    def run(first: int) -> None:
        try:
            kernel(first, threads, *args)
        except BaseException as exc:  # re-raised in the calling thread
            errors.append(exc)

    workers = [threading.Thread(target=run, args=(i,)) for i in range(1, threads)]
    for w in workers:
        w.start()
    run(0)
    for w in workers:
        w.join()
    if errors:
        raise errors[0]


class _FirDelay(torch.autograd.Function):
    """The delay FIR with its analytic adjoint (w.r.t. audio, carried history and taps)."""

    @staticmethod
    def forward(ctx, x, hist, taps, starts, delta):  # noqa: D102
        out = torch.empty_like(x)
        rows, work = x.shape[0] * x.shape[1], x.numel() * (1 + (~delta).sum() * DELAY_TAPS / max(len(delta), 1))
        _run_rows(
            _fir_forward,
            rows,
            work,
            hist.detach().numpy(),
            x.detach().numpy(),
            starts,
            taps.detach().numpy(),
            delta,
            DELAY_LATENCY,
            out.numpy(),
        )
        ctx.save_for_backward(x, hist, taps)
        ctx.starts = starts
        return out

    @staticmethod
    def backward(ctx, gy):  # noqa: D102
        x, hist, taps = ctx.saved_tensors
        starts = ctx.starts
        gy = gy.detach().contiguous().to(x.dtype)
        h = hist.shape[2]
        rows = x.shape[0] * x.shape[1]
        g_x = g_hist = g_taps = None
        if ctx.needs_input_grad[0] or ctx.needs_input_grad[1]:
            gz = torch.zeros(x.shape[0], x.shape[1], h + x.shape[2], dtype=x.dtype)
            work = gy.numel() * DELAY_TAPS
            _run_rows(_fir_adjoint, rows, work, gy.numpy(), starts, taps.detach().numpy(), gz.numpy())
            g_hist, g_x = gz[..., :h], gz[..., h:]
        if ctx.needs_input_grad[2]:
            z = torch.cat([hist.detach(), x.detach()], dim=-1)
            gw = torch.zeros(x.shape[0], x.shape[1], taps.shape[1], dtype=torch.float64)
            work = gy.numel() * DELAY_TAPS
            _run_rows(_fir_taps_grad, rows, work, gy.numpy(), z.numpy(), starts, taps.shape[1], gw.numpy())
            g_taps = gw.sum(dim=1).to(taps.dtype)
        return g_x, g_hist, g_taps, None, None


def fractional_delay(
    x: torch.Tensor, delay_samples: torch.Tensor | float, state: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Delay each track by a fractional number of samples, band-limited.

    ``y[n] = x(n − delay_samples − DELAY_LATENCY)``, where ``x(·)`` is the band-limited
    interpolation of the samples: a :data:`DELAY_TAPS`-tap Kaiser-windowed sinc (β = 9)
    applied after a whole-sample shift.  For content below 0.8 × Nyquist the error is below
    −80 dB for any fraction; whole-sample delays are exact shifts, bit for bit (the kernel is
    an exact delta there, and such tracks are copied without any arithmetic).

    Parameters
    ----------
    x : torch.Tensor
        ``(tracks, channels, samples)``, float32 or float64, on the CPU.  Zero samples is
        fine.
    delay_samples : torch.Tensor or float
        ``(tracks,)`` delays in samples, ``0 ≤ delay ≤ MAX_DELAY_SAMPLES`` (e.g.
        ``delay_ms * sample_rate / 1000``; compute it in float64 — a float32 delay of
        thousands of samples is only good to ~10⁻³ samples).
    state : torch.Tensor, optional
        ``(tracks, channels, history)`` returned by the previous call; ``None`` means
        silence before the first sample.  Processing in chunks while carrying it equals
        processing whole.  The history holds ``floor(max delay) + DELAY_TAPS`` samples; if
        the delays grow between calls beyond what the history covers, the missing past is
        taken as silence.

    Returns
    -------
    y : torch.Tensor
        Same shape and dtype as ``x``; differentiable w.r.t. ``x``, ``delay_samples`` and
        ``state`` (the taps are torch functions of the fractional delay).  The derivative
        w.r.t. the delay is that of the band-limited interpolator.  Across a whole sample,
        where the split into whole and fraction changes, the output is continuous (to
        ~1e-16) and its derivative jumps slightly (the window moves by one tap: ~1e-4
        relative for content below 0.8 × Nyquist, more for content near Nyquist).
    state : torch.Tensor
        The history to pass to the next call.

    Notes
    -----
    The output lags the requested delay by the constant :data:`DELAY_LATENCY` samples, the
    half-length of the centred FIR; the console drops that many leading samples.

    Examples
    --------
    >>> x = torch.arange(1.0, 6.0).reshape(1, 1, 5)
    >>> y, _ = fractional_delay(torch.nn.functional.pad(x, (0, DELAY_LATENCY + 2)), torch.tensor([2.0]))
    >>> y[0, 0, DELAY_LATENCY:].tolist()
    [0.0, 0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
    """
    _check_audio(x, "fractional_delay", max_channels=64)
    if x.device.type != "cpu":
        raise InvalidParameterError(
            f"fractional_delay runs on the CPU; got a tensor on {x.device} (move it with .cpu())"
        )
    if x.dtype not in (torch.float32, torch.float64):
        raise InvalidParameterError(f"fractional_delay: audio must be float32 or float64, got {x.dtype}")
    n_tracks, n_ch, n = x.shape
    d = _per_track(delay_samples, n_tracks, "delay_samples")
    _check_range(d, "delay_samples", 0.0, float(MAX_DELAY_SAMPLES))
    d64 = d.to(torch.float64)
    whole = torch.floor(d64.detach())
    frac = d64 - whole  # exact in floating point; carries the gradient w.r.t. the delay
    taps = _delay_taps(frac).to(x.dtype)
    whole_np = whole.numpy().astype(np.int64)
    needed = (int(whole_np.max()) if n_tracks else 0) + DELAY_TAPS

    if state is None:
        hist = x.new_zeros(n_tracks, n_ch, needed)
    else:
        if not isinstance(state, torch.Tensor) or state.ndim != 3 or tuple(state.shape[:2]) != (n_tracks, n_ch):
            got = tuple(state.shape) if isinstance(state, torch.Tensor) else type(state).__name__
            raise InvalidParameterError(
                f"fractional_delay: state {got} does not fit audio {tuple(x.shape)}; "
                "pass the state returned by the previous call on the same tracks"
            )
        hist = state.to(x.dtype)
        if hist.shape[2] < needed:
            hist = torch.nn.functional.pad(hist, (needed - hist.shape[2], 0))
    hist = hist.contiguous()
    h = hist.shape[2]
    starts = (h - whole_np - DELAY_TAPS).astype(np.int64)
    delta = (frac.detach() == 0).numpy()
    y = _FirDelay.apply(x.contiguous(), hist, taps, starts, delta)
    if n >= h:
        new_state = x[..., n - h :].clone()
    else:
        new_state = torch.cat([hist[..., n:], x], dim=-1)
    return y, new_state
