"""Level-independent style features of a stereo mix, differentiable in torch.

One set of definitions, two ways to run them:

* :func:`style_features_torch` takes short excerpts ``(..., channels, samples)`` as torch tensors
  and returns differentiable tensors (used by an optimiser that renders the console and compares
  the result with a target);
* :func:`style_features` takes a whole song as a numpy array and returns a :class:`StyleFeatures`
  of plain numbers, without gradients and in bounded memory (the song is read in blocks of
  ``block_samples`` and only additive statistics are kept).

Both run the same code: every block is reduced to sums (K-weighted energies at a fixed set of
sample positions, Welch band powers, sum of squares, peak) and the features are computed from
those sums by one function. Block processing equals one-shot processing to rounding error.

Definitions
-----------
Mid and side
    ``M = (L + R) / 2``, ``S = (L - R) / 2``. A one-channel signal is read as ``L = R``, so its
    side is silence and its loudness is that of the stereo copy (as in
    :mod:`mixassist.evaluate.metrics`).
``loudness_lufs``
    Integrated loudness, ITU-R BS.1770-4, gated exactly as
    :func:`mixassist.measure.meter.integrated_loudness` (pyloudnorm's 400 ms blocks at 100 ms steps,
    -70 LUFS absolute gate, -10 LU relative gate). K-weighting uses the meter's biquads, applied
    by overlap-save FFT convolution with their exact frequency response (the impulse response is
    below 1e-16 of its peak after 0.16 s; the overlap is at least 0.2 s), so the figure equals the
    meter's to about 1e-9 LU. The gates are masks computed without gradient; the loudness is
    differentiable through the energies of the blocks that pass them.
``spectral_mid_db``, ``spectral_side_db``
    Long-term power spectra of M and S in the 27 third-octave bands 40 Hz ... 16 kHz
    (:data:`THIRD_OCTAVE_CENTRES_HZ`, edges ``centre * 2**(±1/6)``; bands whose upper edge lies
    above the Nyquist frequency are left out), Welch-averaged over every 8192-sample periodic-Hann
    segment at 50 % overlap (as ``scipy.signal.welch`` and the evaluation metrics), each FFT bin
    counted with the fraction of its width inside the band. In dB **relative to the total mid
    power** ``P_M = sum_b M_b`` over those bands, with a soft floor:
    ``10 log10(X_b / P_M + 10**(SPECTRAL_FLOOR_DB / 10))``. The floor (-60 dB) keeps silence and
    mono side spectra finite (they read exactly -60) with finite gradients; it raises a band 20 dB
    above it by 0.04 dB and one 10 dB above it by 0.41 dB.
``width_db``
    Side-to-mid power ratio per band, ``10 log10((S_b + e M_b + e d) / (M_b + e S_b + d))`` with
    ``e = 10**(-WIDTH_LIMIT_DB / 10)`` (1e-6) and ``d = 1e-12 (P_M + P_S)``: a smooth clip to
    ±60 dB. No side (mono) reads -60 dB, no mid +60 dB, equal powers 0 dB; a band with no energy
    at all reads -60 dB. ``width_overall_db`` is the same ratio of the band sums.
``crest_db``
    Sample peak over RMS, every sample of both channels pooled:
    ``20 log10(max |x|) - 10 log10(mean x**2)``, equal to
    :func:`mixassist.evaluate.metrics.crest_db`. The *value* is exact. Its *gradient* is that of a
    soft peak: ``peak = P_p * stopgrad(max|x| / P_p)`` with the power mean
    ``P_p = (mean |x|**p)**(1/p)``, ``p =`` :data:`SOFT_PEAK_ORDER`. The gradient of
    ``log peak`` is thus the gradient of ``log P_p``, spread over the samples within a few dB of
    the peak instead of one sample, and still exactly scale-invariant (gain does not change the
    crest). A power mean alone would read 2.5-6 dB low on music at ``p = 32`` and still 0.1 dB
    low at ``p = 1024``, where its gradient is nearly the hard maximum's.
``short_term_spread_lu``
    Population standard deviation of the short-term loudness (3 s windows every 100 ms, EBU Tech
    3341, as :func:`mixassist.measure.meter.short_term_loudness`) after the Tech 3342 gates
    (-70 LUFS absolute, then 20 LU below the power mean of what passed); at least 2 windows must
    pass. The same definition as :func:`mixassist.evaluate.metrics.short_term_spread_lu`.

A figure that does not exist is ``None`` in :class:`StyleFeatures`: loudness of silence or of
audio shorter than 400 ms, spectra of audio without mid energy, crest of all-zero audio, spread of
audio shorter than 3.2 s. The torch function returns a finite placeholder with zero gradient there
and a boolean ``*_defined`` tensor beside each such figure.

References
----------
ITU-R BS.1770-4; EBU Tech 3341 and 3342; IEC 61260 (third-octave bands); P. D. Welch, "The use of
fast Fourier transform for the estimation of power spectra", IEEE Trans. Audio Electroacoust.
15(2), 1967.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import types
from collections.abc import Mapping
from typing import Any

import numpy as np
import scipy.signal
import torch

# The meter's validation and K-weighting biquads, so that the loudness here weights and refuses
# audio exactly as the meter does.
from mixassist import measure as meter
from mixassist.errors import InvalidAudioError, InvalidParameterError
from mixassist.measure import as_audio, check_sample_rate, k_weighting_sos

__all__ = [
    "DEFAULT_BLOCK_SAMPLES",
    "DEFAULT_WEIGHTS",
    "SOFT_PEAK_ORDER",
    "SPECTRAL_FLOOR_DB",
    "THIRD_OCTAVE_CENTRES_HZ",
    "WELCH_SEGMENT",
    "WIDTH_LIMIT_DB",
    "StyleFeatures",
    "style_distance",
    "style_features",
    "style_features_torch",
]

THIRD_OCTAVE_CENTRES_HZ = np.array(
    [40, 50, 63, 80, 100, 125, 160, 200, 250, 315, 400, 500, 630, 800, 1000,
     1250, 1600, 2000, 2500, 3150, 4000, 5000, 6300, 8000, 10000, 12500, 16000],
    dtype=float,
)  # fmt: skip
"""Nominal third-octave centres (IEC 61260), Hz; band edges at ``centre * 2**(±1/6)``."""
THIRD_OCTAVE_CENTRES_HZ.flags.writeable = False
WELCH_SEGMENT = 8192
"""Welch segment in samples (periodic Hann, 50 % overlap); shorter audio uses one segment of its length."""
SPECTRAL_FLOOR_DB = -60.0
"""Soft floor of the band spectra, dB relative to the total mid power."""
WIDTH_LIMIT_DB = 60.0
"""``width_db`` is smoothly clipped to ±60 dB: -60 reads "no side" (mono), +60 "no mid"."""
SOFT_PEAK_ORDER = 32
"""Order ``p`` of the power mean whose gradient stands in for the sample peak's (see the module notes)."""
DEFAULT_BLOCK_SAMPLES = 917504
"""Samples per block of :func:`style_features`: about 21 s at 44.1 kHz (8 whole K-weighting FFT
pieces at 44.1 and 48 kHz)."""
DEFAULT_WEIGHTS: Mapping[str, float] = types.MappingProxyType(
    {
        "loudness_lu": 1.0,
        "spectral_mid_db": 1.0,
        "spectral_side_db": 1.0,
        "width_db": 1.0,
        "crest_db": 1.0,
        "short_term_spread_lu": 1.0,
    }
)
"""Weights of the terms of :func:`style_distance`'s ``total`` (every term is in dB or LU)."""

_LOUDNESS_OFFSET_DB = -0.691  # BS.1770-4 eq. 2
_BLOCK_S = 0.4  # BS.1770-4 gating block (pyloudnorm's block_size)
_BLOCK_STEP = 1.0 - 0.75  # pyloudnorm's overlap of 75 %
_RELATIVE_GATE_LU = -10.0
_SHORT_TERM_HOPS = meter.SHORT_TERM_WINDOW_MS // meter.STEP_MS
_FLOOR_ENERGY = 10.0 ** ((meter.LOUDNESS_FLOOR_LUFS - _LOUDNESS_OFFSET_DB) / 10.0)
_MIN_SPREAD_WINDOWS = 2
_SPREAD_VAR_EPS = 1e-12  # LU**2: keeps the gradient of a zero standard deviation finite
_K_HISTORY_S = 0.2  # K-weighting impulse response is below 1e-16 of its peak after 0.16 s
_TINY = 1e-300
# Added to power sums that are divided by: -240 dB re full scale, far below any audio, but large
# enough that the gradient of silence (multiplied by zero downstream) stays within float32.
_POWER_FLOOR = 1e-24
_WIDTH_EPS = 10.0 ** (-WIDTH_LIMIT_DB / 10.0)
_WIDTH_DELTA = 1e-12
_SPECTRAL_FLOOR = 10.0 ** (SPECTRAL_FLOOR_DB / 10.0)
_SCALARS = ("loudness_lufs", "width_overall_db", "crest_db", "short_term_spread_lu")
_BANDED = ("spectral_mid_db", "spectral_side_db", "width_db")
_DEFINED = {
    "loudness_lufs": "loudness_defined",
    "spectral_mid_db": "spectral_defined",
    "spectral_side_db": "spectral_defined",
    "width_db": "width_defined",
    "width_overall_db": "width_defined",
    "crest_db": "crest_defined",
    "short_term_spread_lu": "short_term_spread_defined",
}
_TERMS = {  # distance term -> feature
    "loudness_lu": "loudness_lufs",
    "spectral_mid_db": "spectral_mid_db",
    "spectral_side_db": "spectral_side_db",
    "width_db": "width_db",
    "crest_db": "crest_db",
    "short_term_spread_lu": "short_term_spread_lu",
}


# --------------------------------------------------------------------------- the result


@dataclasses.dataclass(frozen=True, eq=False)
class StyleFeatures:
    """Style of one stereo mix over its whole length, in physical units.

    Attributes
    ----------
    loudness_lufs : float or None
        Integrated loudness, BS.1770-4, LUFS.
    spectral_mid_db, spectral_side_db : numpy.ndarray or None
        ``(bands,)`` third-octave band powers of mid and side, dB relative to the total mid
        power, soft-floored at -60 dB.
    width_db : numpy.ndarray or None
        ``(bands,)`` side-to-mid power ratio per band, dB, within ±60.
    width_overall_db : float or None
        Side-to-mid power ratio over all bands, dB, within ±60.
    crest_db : float or None
        Sample peak over RMS, both channels pooled, dB.
    short_term_spread_lu : float or None
        Standard deviation of the gated 3 s short-term loudness, LU.
    band_centres_hz : numpy.ndarray
        ``(bands,)`` nominal centres of the bands (those below the Nyquist frequency).

    See :mod:`mixassist.style.features` for the definitions.
    """

    loudness_lufs: float | None
    spectral_mid_db: np.ndarray | None
    spectral_side_db: np.ndarray | None
    width_db: np.ndarray | None
    width_overall_db: float | None
    crest_db: float | None
    short_term_spread_lu: float | None
    band_centres_hz: np.ndarray

    def __repr__(self) -> str:
        def fmt(value: Any) -> str:
            if value is None:
                return "None"
            if isinstance(value, np.ndarray):
                return f"<{value.size} bands, {value.min():.1f}…{value.max():.1f}>"
            return f"{value:.2f}"

        fields = ", ".join(
            f"{f.name}={fmt(getattr(self, f.name))}" for f in dataclasses.fields(self) if f.name != "band_centres_hz"
        )
        return f"StyleFeatures({fields})"

    def to_dict(self) -> dict[str, Any]:
        """Strict-JSON dictionary: floats and lists of floats, ``None`` for undefined figures."""
        out: dict[str, Any] = {}
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if isinstance(value, np.ndarray):
                out[field.name] = [float(v) for v in value]
            else:
                out[field.name] = None if value is None else float(value)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> StyleFeatures:
        """Inverse of :meth:`to_dict`.

        Raises
        ------
        InvalidParameterError
            A key is missing or unknown, a value is not finite, or a band array has the wrong length.
        """
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        missing = sorted(names - set(data))
        if unknown or missing:
            raise InvalidParameterError(
                f"style features: unknown keys {unknown}, missing keys {missing}; expected {sorted(names)}"
            )
        centres = _finite_array(data["band_centres_hz"], "band_centres_hz")
        values: dict[str, Any] = {"band_centres_hz": centres}
        for name in _BANDED:
            raw = data[name]
            values[name] = None if raw is None else _finite_array(raw, name)
            if values[name] is not None and values[name].shape != centres.shape:
                raise InvalidParameterError(
                    f"style features: {name} has {values[name].size} values for {centres.size} bands"
                )
        for name in _SCALARS:
            raw = data[name]
            if raw is not None and (
                isinstance(raw, bool) or not isinstance(raw, (int, float)) or not math.isfinite(raw)
            ):
                raise InvalidParameterError(f"style features: {name}={raw!r} is not a finite number or null")
            values[name] = None if raw is None else float(raw)
        return cls(**values)


def _finite_array(raw: Any, name: str) -> np.ndarray:
    try:
        array = np.asarray(raw, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InvalidParameterError(f"style features: {name} is not a list of numbers ({exc})") from exc
    if array.ndim != 1 or not np.all(np.isfinite(array)):
        raise InvalidParameterError(f"style features: {name} must be a flat list of finite numbers")
    array.flags.writeable = False
    return array


# --------------------------------------------------------------------------- the plan


@dataclasses.dataclass(frozen=True)
class _Plan:
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


def _make_plan(sample_rate: float, samples: int) -> _Plan:
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
    hop = rate * meter.STEP_MS / 1000.0
    hop_edges = np.rint(np.arange(int(samples // hop) + 2) * hop).astype(np.int64)
    hop_edges = hop_edges[hop_edges <= samples]
    windows = hop_edges.size - 1 - _SHORT_TERM_HOPS + 1
    if windows > 0:
        st_lo, st_hi = hop_edges[:windows], hop_edges[_SHORT_TERM_HOPS : _SHORT_TERM_HOPS + windows]
    else:
        st_lo = st_hi = np.zeros(0, dtype=np.int64)
    edges = np.unique(np.concatenate([[0], lo, hi, st_lo, st_hi]).astype(np.int64))
    segment = max(1, min(WELCH_SEGMENT, samples))
    upper = THIRD_OCTAVE_CENTRES_HZ * 2.0 ** (1.0 / 6.0)
    return _Plan(
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
        bands=upper <= rate / 2.0,
        k_history=1 << max(0, math.ceil(math.log2(_K_HISTORY_S * rate))),
    )


def _k_fft_size(history: int, n: int) -> int:
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
    upper_all = THIRD_OCTAVE_CENTRES_HZ * 2.0 ** (1.0 / 6.0)
    keep = upper_all <= sample_rate / 2.0
    lows = (THIRD_OCTAVE_CENTRES_HZ * 2.0 ** (-1.0 / 6.0))[keep]
    highs = upper_all[keep]
    if freqs.size < 2:
        overlap = np.zeros((freqs.size, int(keep.sum())))
    else:
        half = 0.5 * (freqs[1] - freqs[0])
        bin_lo = np.maximum(freqs - half, 0.0)
        bin_hi = np.minimum(freqs + half, freqs[-1])
        overlap = np.minimum(highs[None, :], bin_hi[:, None]) - np.maximum(lows[None, :], bin_lo[:, None])
        overlap = np.maximum(overlap, 0.0)
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
    n_fft = _k_fft_size(history, n)
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


def _block_stats(ctx: torch.Tensor, start: int, stop: int, plan: _Plan) -> dict[str, torch.Tensor]:
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


def _finish(stats: Mapping[str, torch.Tensor], plan: _Plan) -> dict[str, torch.Tensor]:
    """Features from the statistics of the whole signal (see the module notes)."""
    rate = plan.sample_rate
    cumulative = stats["cumulative"]
    out: dict[str, torch.Tensor] = {}

    # integrated loudness (gates as pyloudnorm: >= absolute, then > both)
    z = (cumulative[:, plan.block_hi] - cumulative[:, plan.block_lo]) / (_BLOCK_S * rate)
    with torch.no_grad():
        block_lufs = _LOUDNESS_OFFSET_DB + _db(z)
        passed = block_lufs >= meter.ABSOLUTE_GATE_LUFS
        gated_mean = (z * passed).sum(-1) / passed.sum(-1).clamp_min(1)
        relative = _LOUDNESS_OFFSET_DB + _db(gated_mean) + _RELATIVE_GATE_LU
        mask = (block_lufs > relative[:, None]) & (block_lufs > meter.ABSOLUTE_GATE_LUFS) & passed.any(-1, keepdim=True)
    defined = mask.any(-1)
    mean_z = (z * mask).sum(-1) / mask.sum(-1).clamp_min(1)
    loudness = _LOUDNESS_OFFSET_DB + _db(mean_z.clamp_min(_FLOOR_ENERGY))
    out["loudness_lufs"] = torch.where(defined, loudness, torch.full_like(loudness, meter.LOUDNESS_FLOOR_LUFS))
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
    short_term = (_LOUDNESS_OFFSET_DB + _db((energy / st_len).clamp_min(_FLOOR_ENERGY))).clamp_min(
        meter.LOUDNESS_FLOOR_LUFS
    )
    with torch.no_grad():
        passed = short_term >= meter.ABSOLUTE_GATE_LUFS
        power_mean = _db(
            ((10.0 ** (short_term / 10.0)) * passed).sum(-1).clamp_min(_TINY) / passed.sum(-1).clamp_min(1)
        )
        gate = passed & (short_term >= power_mean[:, None] + meter.LRA_RELATIVE_GATE_LU)
        count_st = gate.sum(-1)
    n = count_st.clamp_min(1)
    mean_st = (short_term * gate).sum(-1) / n
    variance = ((short_term - mean_st[:, None]).square() * gate).sum(-1) / n
    defined = count_st >= _MIN_SPREAD_WINDOWS
    spread = torch.sqrt(variance + _SPREAD_VAR_EPS)
    out["short_term_spread_lu"] = torch.where(defined, spread, torch.zeros_like(spread))
    out["short_term_spread_defined"] = defined
    return out


# --------------------------------------------------------------------------- public API


def _check_block(block_samples: Any, step: int) -> int:
    if isinstance(block_samples, bool) or not isinstance(block_samples, (int, np.integer)) or block_samples < 1:
        raise InvalidParameterError(f"block_samples={block_samples!r}; pass a positive number of samples, e.g. 917504")
    return -(-int(block_samples) // step) * step


def style_features_torch(audio: torch.Tensor, sample_rate: float) -> dict[str, torch.Tensor]:
    """Differentiable style features of excerpts, in one block.

    Parameters
    ----------
    audio : torch.Tensor
        ``(..., channels, samples)`` with 1 or 2 channels (one channel is read as ``L = R``),
        float32 or float64, full scale ±1.0. Computed in float64 on the CPU; the results are
        float64 on the CPU (so gradients reach ``audio`` on any device).
    sample_rate : float
        Sample rate in Hz, 8000-384000.

    Returns
    -------
    dict of str to torch.Tensor
        With ``lead = audio.shape[:-2]`` and ``bands`` the third-octave bands below Nyquist:
        ``loudness_lufs`` ``lead``; ``spectral_mid_db``, ``spectral_side_db``, ``width_db``
        ``lead + (bands,)``; ``width_overall_db``, ``crest_db``, ``short_term_spread_lu``
        ``lead``; booleans ``loudness_defined``, ``spectral_defined``, ``width_defined``,
        ``crest_defined``, ``short_term_spread_defined`` ``lead``; and ``band_centres_hz``
        ``(bands,)``. Where a figure is undefined it holds a finite placeholder (loudness -200,
        crest and spread 0) with zero gradient. Definitions: :mod:`mixassist.style.features`.

    Raises
    ------
    InvalidAudioError
        Wrong shape or dtype, more than 2 channels, non-finite samples, or a sample rate outside
        8000-384000 Hz.

    Examples
    --------
    >>> x = (0.1 * torch.randn(1, 2, 4 * 44100)).requires_grad_()
    >>> f = style_features_torch(x, 44100)
    >>> f["spectral_mid_db"].shape, bool(f["loudness_defined"])
    (torch.Size([1, 27]), True)
    >>> f["spectral_mid_db"].mean().backward()
    """
    rate = check_sample_rate(sample_rate)
    if not isinstance(audio, torch.Tensor):
        raise InvalidAudioError(
            f"audio must be a torch.Tensor shaped (..., channels, samples), got {type(audio).__name__}; "
            "use style_features for numpy arrays"
        )
    if audio.dim() < 2 or audio.shape[-2] not in (1, 2):
        raise InvalidAudioError(
            f"audio has shape {tuple(audio.shape)}; expected (..., channels, samples) with 1 or 2 channels"
        )
    if audio.dtype not in (torch.float32, torch.float64):
        raise InvalidAudioError(f"audio has dtype {audio.dtype}; convert it to float32 or float64")
    if not bool(torch.isfinite(audio.detach()).all()):
        raise InvalidAudioError("audio has a non-finite sample; repair it (e.g. torch.nan_to_num) before measuring")
    lead, samples = audio.shape[:-2], audio.shape[-1]
    x = audio.to(device="cpu").reshape(-1, audio.shape[-2], samples)
    x = x.expand(-1, 2, -1) if x.shape[1] == 1 else x
    plan = _make_plan(rate, samples)
    ctx = torch.nn.functional.pad(x, (plan.k_history, 0))
    stats = _block_stats(ctx, 0, samples, plan)
    stats["cumulative"] = torch.cat([stats["cumulative"].new_zeros((x.shape[0], 1)), stats["cumulative"]], dim=-1)
    out = _finish(stats, plan)
    result = {key: value.reshape(tuple(lead) + tuple(value.shape[1:])) for key, value in out.items()}
    result["band_centres_hz"] = torch.from_numpy(THIRD_OCTAVE_CENTRES_HZ[plan.bands].copy())
    return result


def style_features(
    audio: np.ndarray, sample_rate: float, *, block_samples: int = DEFAULT_BLOCK_SAMPLES
) -> StyleFeatures:
    """Style features of a whole mix, without gradients, in bounded memory.

    The same definitions as :func:`style_features_torch` (see :mod:`mixassist.style.features`);
    the song is read in blocks and only additive statistics are kept, so memory does not grow
    with the song's length beyond the input itself and a few numbers per 100 ms.

    Parameters
    ----------
    audio : numpy.ndarray
        Float samples ``(channels, samples)`` with 1 or 2 channels (one channel is read as
        ``L = R``), or 1-D mono; full scale ±1.0.
    sample_rate : float
        Sample rate in Hz, 8000-384000.
    block_samples : int
        Samples per block, rounded up to a multiple of the Welch hop (4096). The result does not
        depend on it beyond float32 rounding (about 1e-6 dB).

    Returns
    -------
    StyleFeatures

    Raises
    ------
    InvalidAudioError, InvalidParameterError
        As :func:`mixassist.measure.meter.integrated_loudness`, or for a bad ``block_samples``.

    Examples
    --------
    >>> import numpy as np
    >>> t = np.arange(5 * 48000) / 48000
    >>> sine = 0.5 * np.sin(2 * np.pi * 997 * t)
    >>> f = style_features(np.stack([sine, sine]), 48000)
    >>> round(f.crest_db, 2), float(f.spectral_side_db.max())
    (3.01, -60.0)
    """
    rate = check_sample_rate(sample_rate)
    x, _ = as_audio(audio)
    samples = x.shape[-1]
    plan = _make_plan(rate, samples)
    block = _check_block(block_samples, plan.step)
    h = plan.k_history
    parts: dict[str, list[torch.Tensor]] = {"cumulative": [], "mid_band": [], "side_band": []}
    offset = torch.zeros(1, dtype=torch.float64)
    sum_square = torch.zeros(1, dtype=torch.float64)
    peak = torch.zeros(1, dtype=torch.float64)
    frames = torch.zeros((), dtype=torch.float64)
    n_fft = _k_fft_size(h, block)
    with torch.no_grad():
        for start in range(0, max(samples, 1), block):
            stop = min(start + block, samples)
            # one float32 buffer per block: h samples of history (zeros before the song), the
            # block, and what the last Welch frames and the last K-weighting piece reach into
            pieces = max(1, -(-(stop - start) // (n_fft - h)))
            length = h + max(pieces * (n_fft - h), stop - start + plan.segment)
            lo, hi = max(start - h, 0), min(start - h + length, samples)
            buffer = np.zeros((x.shape[0], length), dtype=np.float32)
            buffer[:, lo - (start - h) : hi - (start - h)] = x[:, lo:hi]
            ctx = torch.from_numpy(buffer)[None]
            ctx = ctx.expand(-1, 2, -1) if ctx.shape[1] == 1 else ctx
            stats = _block_stats(ctx, start, stop, plan)
            parts["cumulative"].append(offset[:, None] + stats["cumulative"])
            parts["mid_band"].append(stats["mid_band"])
            parts["side_band"].append(stats["side_band"])
            offset = offset + stats["energy"]
            sum_square = sum_square + stats["sum_square"]
            peak = torch.maximum(peak, stats["peak"])
            frames = frames + stats["frames"]
        total = {
            "cumulative": torch.cat([torch.zeros((1, 1), dtype=torch.float64), *parts["cumulative"]], dim=-1),
            "mid_band": torch.stack(parts["mid_band"]).sum(0),
            "side_band": torch.stack(parts["side_band"]).sum(0),
            "sum_square": sum_square,
            "peak": peak,
            "frames": frames,
        }
        out = _finish(total, plan)

    def scalar(name: str) -> float | None:
        return float(out[name][0]) if bool(out[_DEFINED[name]][0]) else None

    def banded(name: str) -> np.ndarray | None:
        if not bool(out[_DEFINED[name]][0]):
            return None
        array = out[name][0].numpy().copy()
        array.flags.writeable = False
        return array

    centres = THIRD_OCTAVE_CENTRES_HZ[plan.bands].copy()
    centres.flags.writeable = False
    return StyleFeatures(
        loudness_lufs=scalar("loudness_lufs"),
        spectral_mid_db=banded("spectral_mid_db"),
        spectral_side_db=banded("spectral_side_db"),
        width_db=banded("width_db"),
        width_overall_db=scalar("width_overall_db"),
        crest_db=scalar("crest_db"),
        short_term_spread_lu=scalar("short_term_spread_lu"),
        band_centres_hz=centres,
    )


# --------------------------------------------------------------------------- distance


def _as_tensors(features: StyleFeatures | Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    if isinstance(features, StyleFeatures):
        out: dict[str, torch.Tensor] = {"band_centres_hz": torch.from_numpy(np.array(features.band_centres_hz))}
        bands = features.band_centres_hz.size
        for name in (*_BANDED, *_SCALARS):
            value = getattr(features, name)
            shape = (bands,) if name in _BANDED else ()
            out[name] = (
                torch.zeros(shape, dtype=torch.float64)
                if value is None
                else torch.as_tensor(np.array(value), dtype=torch.float64)
            )
            out[_DEFINED[name]] = torch.tensor(value is not None)
        # a feature group is defined only if all its members are
        out["spectral_defined"] = torch.tensor(
            features.spectral_mid_db is not None and features.spectral_side_db is not None
        )
        out["width_defined"] = torch.tensor(features.width_db is not None)
        return out
    if isinstance(features, Mapping):
        needed = {"band_centres_hz", *_TERMS.values()} | {_DEFINED[f] for f in _TERMS.values()}
        missing = sorted(needed - set(features))
        if missing:
            raise InvalidParameterError(
                f"style features are missing {missing}; pass the result of style_features_torch"
            )
        return {key: features[key] for key in needed}
    raise InvalidParameterError(
        f"cannot compare a {type(features).__name__}; pass StyleFeatures or the dict of style_features_torch"
    )


def style_distance(
    a: StyleFeatures | Mapping[str, torch.Tensor],
    b: StyleFeatures | Mapping[str, torch.Tensor],
    weights: Mapping[str, float] | None = None,
) -> dict[str, Any]:
    """Per-term style distances in dB and LU, and their weighted total.

    Terms: ``loudness_lu`` ``|ΔL|``; ``spectral_mid_db``, ``spectral_side_db``, ``width_db``:
    the mean over the bands both share of ``|Δ|``; ``crest_db`` and ``short_term_spread_lu``
    ``|Δ|``. ``total = sum(weight * term)`` over the terms defined on both sides.

    Parameters
    ----------
    a, b : StyleFeatures or dict of torch.Tensor
        :func:`style_features` results, or :func:`style_features_torch` results (with any
        leading batch shape; a ``StyleFeatures`` broadcasts against it).
    weights : mapping of str to float, optional
        Weights by term name; terms not named take :data:`DEFAULT_WEIGHTS`. A weight of 0
        leaves a term out of the total.

    Returns
    -------
    dict
        Each term and ``total``. With two ``StyleFeatures``: floats, ``None`` for a term
        undefined on either side. Otherwise float64 tensors of the batch shape, differentiable;
        a term undefined on either side reads 0 and adds nothing to ``total``.

    Raises
    ------
    InvalidParameterError
        An unknown or non-finite weight, an unsupported input, or no band in common.

    Examples
    --------
    >>> import numpy as np
    >>> noise = np.random.default_rng(0).standard_normal((2, 5 * 44100)) * 0.1
    >>> d = style_distance(style_features(noise, 44100), style_features(0.5 * noise, 44100))
    >>> round(d["loudness_lu"], 2), round(d["spectral_mid_db"], 6)
    (6.02, 0.0)
    """
    merged = dict(DEFAULT_WEIGHTS)
    for name, value in (weights or {}).items():
        if name not in DEFAULT_WEIGHTS:
            raise InvalidParameterError(f"unknown style term {name!r} in weights; use one of {sorted(DEFAULT_WEIGHTS)}")
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
            raise InvalidParameterError(f"weight {name}={value!r}; pass a finite number >= 0")
        merged[name] = float(value)
    plain = isinstance(a, StyleFeatures) and isinstance(b, StyleFeatures)
    ta, tb = _as_tensors(a), _as_tensors(b)
    centres_a = ta["band_centres_hz"].detach().cpu().numpy()
    centres_b = tb["band_centres_hz"].detach().cpu().numpy()
    common, ia, ib = np.intersect1d(centres_a, centres_b, return_indices=True)
    if common.size == 0:
        raise InvalidParameterError("the two feature sets share no band; measure them at comparable sample rates")
    ia_t, ib_t = torch.from_numpy(ia), torch.from_numpy(ib)
    terms: dict[str, Any] = {}
    total: torch.Tensor | float = 0.0
    for term, feature in _TERMS.items():
        fa, fb = ta[feature], tb[feature]
        if feature in _BANDED:
            diff = (fa.index_select(-1, ia_t) - fb.index_select(-1, ib_t)).abs().mean(-1)
        else:
            diff = (fa - fb).abs()
        defined = ta[_DEFINED[feature]] & tb[_DEFINED[feature]]
        value = torch.where(defined, diff, torch.zeros_like(diff))
        terms[term] = value
        if merged[term]:
            total = total + merged[term] * value
    if plain:
        out: dict[str, Any] = {}
        for term, feature in _TERMS.items():
            defined = getattr(a, feature) is not None and getattr(b, feature) is not None
            out[term] = float(terms[term]) if defined else None
        out["total"] = float(total)
        return out
    terms["total"] = total if isinstance(total, torch.Tensor) else torch.zeros((), dtype=torch.float64)
    return terms
