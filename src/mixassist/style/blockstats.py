"""Additive block statistics of a stereo mix, and the style features computed from them (torch).

Every block of a song is reduced to sums (K-weighted energies at a fixed set of sample
positions, Welch band powers, sum of squares, peak) by :func:`block_stats`; the features follow
from the sums of all blocks by one function, :func:`features_from_stats`. Both
:func:`~mixassist.style.features.style_features_torch` (one block, differentiable) and
:func:`~mixassist.style.features.style_features` (many blocks, no gradients) run this code; the
definitions are in :mod:`mixassist.style.features`.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Mapping

import numpy as np
import scipy.signal
import torch

# The meter's K-weighting biquads and gates, so that the loudness here weights and gates audio
# exactly as the meter does.
from mixassist.measure import (
    ABSOLUTE_GATE_LUFS,
    LOUDNESS_FLOOR_LUFS,
    LRA_RELATIVE_GATE_LU,
    MIN_SPREAD_WINDOWS,
    SHORT_TERM_WINDOW_MS,
    STEP_MS,
    WELCH_SEGMENT,
    WIDTH_LIMIT_DB,
    band_matrix,
    bands_in_range,
    k_weighting_sos,
    third_octave_edges,
)

__all__ = [
    "SOFT_PEAK_ORDER",
    "SPECTRAL_FLOOR_DB",
    "Plan",
    "block_stats",
    "features_from_stats",
    "k_fft_size",
    "make_plan",
]

SPECTRAL_FLOOR_DB = -60.0
"""Soft floor of the band spectra, dB relative to the total mid power."""
SOFT_PEAK_ORDER = 32
"""Order ``p`` of the power mean whose gradient stands in for the sample peak's (see :mod:`mixassist.style.features`)."""

_LOUDNESS_OFFSET_DB = -0.691  # BS.1770-4 eq. 2
_BLOCK_S = 0.4  # BS.1770-4 gating block (pyloudnorm's block_size)
_BLOCK_STEP = 1.0 - 0.75  # pyloudnorm's overlap of 75 %
_RELATIVE_GATE_LU = -10.0
_SHORT_TERM_HOPS = SHORT_TERM_WINDOW_MS // STEP_MS
_FLOOR_ENERGY = 10.0 ** ((LOUDNESS_FLOOR_LUFS - _LOUDNESS_OFFSET_DB) / 10.0)
_SPREAD_VAR_EPS = 1e-12  # LU**2: keeps the gradient of a zero standard deviation finite
_K_HISTORY_S = 0.2  # K-weighting impulse response is below 1e-16 of its peak after 0.16 s
_TINY = 1e-300
# Added to power sums that are divided by: -240 dB re full scale, far below any audio, but large
# enough that the gradient of silence (multiplied by zero downstream) stays within float32.
_POWER_FLOOR = 1e-24
_WIDTH_EPS = 10.0 ** (-WIDTH_LIMIT_DB / 10.0)
_WIDTH_DELTA = 1e-12
_SPECTRAL_FLOOR = 10.0 ** (SPECTRAL_FLOOR_DB / 10.0)


# --------------------------------------------------------------------------- the plan


@dataclasses.dataclass(frozen=True)
class Plan:
    """Everything that depends only on the sample rate and the length, not on the audio."""

    sample_rate: float
    samples: int
    segment: int  # Welch segment length
    step: int  # Welch hop
    edges: np.ndarray  # sorted sample positions where the cumulative K-weighted energy is kept
    block_lo: np.ndarray  # loudness blocks, as indices into edges
    block_hi: np.ndarray
    st_lo: np.ndarray  # short-term windows, as indices into edges
    st_hi: np.ndarray
    st_len: np.ndarray  # samples per short-term window
    bands: np.ndarray  # mask of the third-octave bands below the Nyquist frequency
    k_history: int  # samples of history the K-weighting needs


def make_plan(sample_rate: float, samples: int) -> Plan:
    """The :class:`Plan` of a signal of ``samples`` samples at ``sample_rate`` Hz."""
    rate = float(sample_rate)
    # pyloudnorm's gating blocks, with its float expressions, so the sample bounds are identical.
    if samples >= _BLOCK_S * rate:
        n_blocks = int(np.round((samples / rate - _BLOCK_S) / (_BLOCK_S * _BLOCK_STEP))) + 1
        j = np.arange(n_blocks)
        lo = np.minimum((_BLOCK_S * (j * _BLOCK_STEP) * rate).astype(np.int64), samples)
        hi = np.minimum((_BLOCK_S * (j * _BLOCK_STEP + 1) * rate).astype(np.int64), samples)
    else:
        lo = hi = np.zeros(0, dtype=np.int64)
    # the meter's short-term windows: hop edges round(k * 0.1 * rate), 30 hops per window
    hop = rate * STEP_MS / 1000.0
    hop_edges = np.rint(np.arange(int(samples // hop) + 2) * hop).astype(np.int64)
    hop_edges = hop_edges[hop_edges <= samples]
    windows = hop_edges.size - 1 - _SHORT_TERM_HOPS + 1
    if windows > 0:
        st_lo, st_hi = hop_edges[:windows], hop_edges[_SHORT_TERM_HOPS : _SHORT_TERM_HOPS + windows]
    else:
        st_lo = st_hi = np.zeros(0, dtype=np.int64)
    edges = np.unique(np.concatenate([[0], lo, hi, st_lo, st_hi]).astype(np.int64))
    segment = max(1, min(WELCH_SEGMENT, samples))
    return Plan(
        sample_rate=rate,
        samples=samples,
        segment=segment,
        step=max(1, segment - segment // 2),
        edges=edges,
        block_lo=np.searchsorted(edges, lo),
        block_hi=np.searchsorted(edges, hi),
        st_lo=np.searchsorted(edges, st_lo),
        st_hi=np.searchsorted(edges, st_hi),
        st_len=(st_hi - st_lo).astype(np.float64),
        bands=bands_in_range(rate),
        k_history=1 << max(0, math.ceil(math.log2(_K_HISTORY_S * rate))),
    )


def k_fft_size(history: int, n: int) -> int:
    """FFT size of the K-weighting pieces: 8 times the history, or less for a short signal."""
    return min(max(1 << 16, 8 * history), 1 << math.ceil(math.log2(history + max(n, 1))))


@functools.lru_cache(maxsize=16)
def _k_response(sample_rate: float, n_fft: int, dtype: torch.dtype) -> torch.Tensor:
    """Exact frequency response of the meter's K-weighting biquads on the ``n_fft`` rfft grid."""
    sos = k_weighting_sos(sample_rate)
    z = np.exp(-2j * np.pi * np.arange(n_fft // 2 + 1) / n_fft)
    response = np.ones_like(z)
    for b0, b1, b2, a0, a1, a2 in sos:
        response *= (b0 + b1 * z + b2 * z * z) / (a0 + a1 * z + a2 * z * z)
    return torch.from_numpy(response).to(torch.complex128 if dtype == torch.float64 else torch.complex64)


@functools.lru_cache(maxsize=16)
def _band_weights(sample_rate: float, segment: int, dtype: torch.dtype) -> torch.Tensor:
    """``(2 * bins, bands)``: weights of the squared real and imaginary parts of the rfft bins.

    ``band power = sum_k |X_k|**2 * W[k, b]`` is the one-sided Welch density of
    ``scipy.signal.welch(..., scaling="density")`` integrated over the band, each bin counted
    with the fraction of its width (centre ± half a bin) inside it (as the evaluation metrics).
    The rows are repeated for the real and imaginary parts (so a matrix product of the squared
    ``view_as_real`` spectrum does the sum), and scaled by 1/4 because the spectra are taken of
    ``L + R`` and ``L - R`` rather than of M and S. Bands above the Nyquist frequency are dropped.
    """
    freqs = np.fft.rfftfreq(segment, 1.0 / sample_rate)
    keep = bands_in_range(sample_rate)
    lows, highs = third_octave_edges()
    overlap = np.ascontiguousarray(band_matrix(freqs, lows[keep], highs[keep]).T)  # (bins, bands)
    window = scipy.signal.get_window("hann", segment, fftbins=True)
    density = np.full(freqs.size, 2.0 / (sample_rate * float(np.sum(window**2))))
    density[0] /= 2.0
    if segment % 2 == 0:
        density[-1] /= 2.0
    weights = np.repeat(0.25 * overlap * density[:, None], 2, axis=0)
    return torch.from_numpy(weights).to(dtype)


@functools.lru_cache(maxsize=16)
def _window(segment: int, dtype: torch.dtype) -> torch.Tensor:
    return torch.hann_window(segment, periodic=True, dtype=dtype)


# --------------------------------------------------------------------------- block statistics


def _k_weighted_power(x: torch.Tensor, history: int, n: int, sample_rate: float) -> torch.Tensor:
    """Channel-summed K-weighted power of ``x[..., history : history + n]``, in float64.

    ``x`` ``(batch, channels, length)`` holds ``history`` samples before the first output
    (zeros at the start of a signal); samples after ``history + n`` do not affect the result.
    Overlap-save FFT convolution with the biquads' exact response: with ``history`` covering the
    impulse response (0.2 s) the output equals the IIR filter run over the whole signal.
    """
    n_fft = k_fft_size(history, n)
    hop = n_fft - history
    pieces = max(1, -(-n // hop))
    need = history + pieces * hop
    x = x[..., :need] if x.shape[-1] >= need else torch.nn.functional.pad(x, (0, need - x.shape[-1]))
    frames = x.unfold(-1, n_fft, hop)  # (batch, channels, pieces, n_fft)
    spectrum = torch.fft.rfft(frames) * _k_response(sample_rate, n_fft, x.dtype)
    y = torch.fft.irfft(spectrum, n_fft)[..., history:]
    return y.square().sum(dim=1).reshape(x.shape[0], pieces * hop)[:, :n].to(torch.float64)


def _soft_peak(x: torch.Tensor) -> torch.Tensor:
    """Sample peak of ``x`` over its last two axes, with the gradient of a power mean.

    Value: ``max |x|`` exactly. Gradient: that of ``P_p * (max / P_p)`` with the ratio held
    constant, ``P_p = (mean |x|**p)**(1/p)``, ``p =`` :data:`SOFT_PEAK_ORDER`.
    """
    magnitude = x.abs().flatten(-2)
    peak = magnitude.amax(dim=-1).detach()
    sound = peak > 0
    one = torch.ones_like(peak)
    safe_peak = torch.where(sound, peak, one)  # where, not a tiny clamp: float32 has no 1e-300
    # the mean is at least 1 / samples (the peak sample has ratio 1), so its root has a gradient
    mean = (magnitude / safe_peak[..., None]).pow(SOFT_PEAK_ORDER).mean(dim=-1)
    power_mean = safe_peak * torch.where(sound, mean, one) ** (1.0 / SOFT_PEAK_ORDER)
    return torch.where(sound, power_mean * (peak / power_mean.detach()), torch.zeros_like(peak))


def block_stats(ctx: torch.Tensor, start: int, stop: int, plan: Plan) -> dict[str, torch.Tensor]:
    """Additive statistics of song samples ``[start, stop)``, float64.

    ``ctx`` ``(batch, 2, length)`` float32 or float64 begins at song sample
    ``start - plan.k_history`` (zeros before the song) and reaches at least
    ``min(stop + plan.segment, plan.samples)`` (anything after the song's end is ignored).
    """
    h = plan.k_history
    n = stop - start
    body = ctx[..., h : h + n]
    batch = ctx.shape[0]
    # cumulative K-weighted energy at the plan's edges inside (start, stop]
    power = _k_weighted_power(ctx, h, n, plan.sample_rate)
    cumulative = torch.cumsum(power, dim=-1)
    inside = plan.edges[(plan.edges > start) & (plan.edges <= stop)]
    stats = {
        "cumulative": cumulative[:, torch.from_numpy(inside - start - 1)],
        "energy": cumulative[:, -1] if n else power.new_zeros(batch),
        "sum_square": body.square().sum(dim=(-2, -1), dtype=torch.float64),
    }
    if n == 0:
        stats["peak"] = power.new_zeros(batch)
    elif torch.is_grad_enabled() and body.requires_grad:
        stats["peak"] = _soft_peak(body).to(torch.float64)
    else:
        low, high = torch.aminmax(body, dim=-1)
        stats["peak"] = torch.maximum(high, -low).amax(dim=-1).to(torch.float64)
    # Welch frames that start in [start, stop) and end inside the song
    first = -(-start // plan.step) * plan.step
    last_start = plan.samples - plan.segment
    starts = np.arange(first, min(stop, last_start + 1), plan.step) if plan.samples >= 2 else np.zeros(0)
    weights = _band_weights(plan.sample_rate, plan.segment, ctx.dtype)
    if starts.size:
        off = h + int(starts[0]) - start
        span = ctx[..., off : off + int(starts[-1] - starts[0]) + plan.segment]
        left, right = span[:, 0], span[:, 1]
        sums = torch.stack((left + right, left - right), dim=1)  # 2 M and 2 S (weights scale by 1/4)
        frames = sums.unfold(-1, plan.segment, plan.step) * _window(plan.segment, ctx.dtype)
        spectrum = torch.view_as_real(torch.fft.rfft(frames)).flatten(-2)  # (batch, 2, frames, 2 bins)
        band = (spectrum.square().sum(dim=-2) @ weights).to(torch.float64)
        stats["mid_band"], stats["side_band"] = band[:, 0], band[:, 1]
    else:
        stats["mid_band"] = stats["side_band"] = power.new_zeros((batch, weights.shape[1]))
    stats["frames"] = torch.tensor(float(starts.size), dtype=torch.float64)
    return stats


def _db(power: torch.Tensor) -> torch.Tensor:
    return 10.0 * torch.log10(power)


def features_from_stats(stats: Mapping[str, torch.Tensor], plan: Plan) -> dict[str, torch.Tensor]:
    """Features from the statistics of the whole signal (see :mod:`mixassist.style.features`)."""
    rate = plan.sample_rate
    cumulative = stats["cumulative"]
    out: dict[str, torch.Tensor] = {}

    # integrated loudness (gates as pyloudnorm: >= absolute, then > both)
    z = (cumulative[:, plan.block_hi] - cumulative[:, plan.block_lo]) / (_BLOCK_S * rate)
    with torch.no_grad():
        block_lufs = _LOUDNESS_OFFSET_DB + _db(z)
        passed = block_lufs >= ABSOLUTE_GATE_LUFS
        gated_mean = (z * passed).sum(-1) / passed.sum(-1).clamp_min(1)
        relative = _LOUDNESS_OFFSET_DB + _db(gated_mean) + _RELATIVE_GATE_LU
        mask = (block_lufs > relative[:, None]) & (block_lufs > ABSOLUTE_GATE_LUFS) & passed.any(-1, keepdim=True)
    defined = mask.any(-1)
    mean_z = (z * mask).sum(-1) / mask.sum(-1).clamp_min(1)
    loudness = _LOUDNESS_OFFSET_DB + _db(mean_z.clamp_min(_FLOOR_ENERGY))
    out["loudness_lufs"] = torch.where(defined, loudness, torch.full_like(loudness, LOUDNESS_FLOOR_LUFS))
    out["loudness_defined"] = defined

    # spectra and width
    frames = stats["frames"].clamp_min(1.0)
    mid, side = stats["mid_band"] / frames, stats["side_band"] / frames
    mid_total, side_total = mid.sum(-1), side.sum(-1)
    reference = (mid_total + _POWER_FLOOR)[:, None]
    out["spectral_mid_db"] = _db(mid / reference + _SPECTRAL_FLOOR)
    out["spectral_side_db"] = _db(side / reference + _SPECTRAL_FLOOR)
    out["spectral_defined"] = (mid_total > 0) & (stats["frames"] > 0)
    delta = _WIDTH_DELTA * (mid_total + side_total) + _POWER_FLOOR
    out["width_db"] = _db(
        (side + _WIDTH_EPS * mid + _WIDTH_EPS * delta[:, None]) / (mid + _WIDTH_EPS * side + delta[:, None])
    )
    out["width_overall_db"] = _db(
        (side_total + _WIDTH_EPS * mid_total + _WIDTH_EPS * delta) / (mid_total + _WIDTH_EPS * side_total + delta)
    )
    out["width_defined"] = (mid_total + side_total > 0) & (stats["frames"] > 0)

    # crest factor
    count = max(2 * plan.samples, 1)
    peak, mean_square = stats["peak"], stats["sum_square"] / count
    defined = (peak > 0) & (mean_square > 0)
    # where before the logarithm too, so that silence has a zero gradient rather than 0 * inf
    one = torch.ones_like(peak)
    crest = 20.0 * torch.log10(torch.where(defined, peak, one)) - _db(torch.where(defined, mean_square, one))
    out["crest_db"] = torch.where(defined, crest, torch.zeros_like(crest))
    out["crest_defined"] = defined

    # short-term loudness spread (Tech 3342 gates)
    energy = cumulative[:, plan.st_hi] - cumulative[:, plan.st_lo]
    st_len = torch.from_numpy(plan.st_len)
    short_term = (_LOUDNESS_OFFSET_DB + _db((energy / st_len).clamp_min(_FLOOR_ENERGY))).clamp_min(LOUDNESS_FLOOR_LUFS)
    with torch.no_grad():
        passed = short_term >= ABSOLUTE_GATE_LUFS
        power_mean = _db(
            ((10.0 ** (short_term / 10.0)) * passed).sum(-1).clamp_min(_TINY) / passed.sum(-1).clamp_min(1)
        )
        gate = passed & (short_term >= power_mean[:, None] + LRA_RELATIVE_GATE_LU)
        count_st = gate.sum(-1)
    n = count_st.clamp_min(1)
    mean_st = (short_term * gate).sum(-1) / n
    variance = ((short_term - mean_st[:, None]).square() * gate).sum(-1) / n
    defined = count_st >= MIN_SPREAD_WINDOWS
    spread = torch.sqrt(variance + _SPREAD_VAR_EPS)
    out["short_term_spread_lu"] = torch.where(defined, spread, torch.zeros_like(spread))
    out["short_term_spread_defined"] = defined
    return out
