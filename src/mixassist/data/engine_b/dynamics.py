"""Engine B's non-linear processors: a feedback RMS compressor, multiband dynamics, tape saturation, a limiter.

Unlike the training console's feed-forward peak-detecting compressor, engine B's compressor
detects the RMS of its own *output* (feedback topology, as in many vintage units): the gain
computed for sample ``n`` is applied to sample ``n``'s input and the detector hears the result.
The multiband unit splits with Linkwitz-Riley crossovers (:mod:`.filters`) and compresses each
band; the saturation is a tape-style curve (pre-emphasis, ``tanh`` with a little asymmetry,
de-emphasis); the limiter is a look-ahead brick wall on the sample peak of a 4× oversampled copy.

The sample loops run under numba (``cache=True``); each is a plain loop that tests compare with
the formula it implements.
"""

from __future__ import annotations

import math

import numba
import numpy as np
from scipy import signal

from mixassist.data.engine_b.filters import lr4_split, tilt_eq

__all__ = ["feedback_rms_compressor", "lookahead_limiter", "multiband_compressor", "tape_saturation"]


@numba.njit(cache=True)
def _feedback_rms(
    x: np.ndarray, threshold_db: float, ratio: float, attack: float, release: float, rms_coef: float
) -> np.ndarray:  # pragma: no cover - numba
    channels, n = x.shape
    out = np.empty_like(x)
    power = 0.0
    gain_db = 0.0
    slope = ratio - 1.0
    for i in range(n):
        g = 10.0 ** (gain_db / 20.0)
        peak_power = 0.0
        for c in range(channels):
            y = x[c, i] * g
            out[c, i] = y
            peak_power += y * y
        power = rms_coef * power + (1.0 - rms_coef) * peak_power / channels
        level_db = 10.0 * math.log10(power + 1e-20)
        # feedback law: gain = -(ratio - 1) * (output over threshold); its fixed point is the
        # static curve out = threshold + (in - threshold) / ratio
        over = level_db - threshold_db
        wanted = max(-slope * over, -60.0) if over > 0.0 else 0.0
        coef = attack if wanted < gain_db else release
        gain_db = coef * gain_db + (1.0 - coef) * wanted
    return out


def _coef(time_ms: float, sample_rate: int) -> float:
    return math.exp(-1.0 / max(time_ms * 1e-3 * sample_rate, 1.0))


def feedback_rms_compressor(
    audio: np.ndarray,
    sample_rate: int,
    *,
    threshold_db: float,
    ratio: float,
    attack_ms: float = 10.0,
    release_ms: float = 150.0,
    rms_ms: float = 20.0,
) -> np.ndarray:
    """Feedback compressor with an RMS detector (``(channels, samples)`` in, same out).

    The detector is the mean-square of the output (all channels averaged) smoothed with a
    one-pole of ``rms_ms``; the gain moves toward ``-(ratio - 1) × (output level - threshold)``
    with one-pole attack/release smoothing. For a steady
    sine well above threshold the output level settles at ``threshold + (input - threshold) / ratio``
    (the static curve of a compressor; tests check it).
    """
    x = np.ascontiguousarray(np.atleast_2d(audio), dtype=np.float64)
    if ratio <= 1.0:
        return x
    return _feedback_rms(
        x, float(threshold_db), float(ratio), _coef(attack_ms, sample_rate), _coef(release_ms, sample_rate),
        _coef(rms_ms, sample_rate),
    )  # fmt: skip


def multiband_compressor(
    audio: np.ndarray, sample_rate: int, *, crossovers_hz: list[float], thresholds_db: list[float], ratio: float
) -> np.ndarray:
    """LR4 band split, a feedback RMS compressor per band (faster in higher bands), summed."""
    bands = lr4_split(np.atleast_2d(audio), crossovers_hz, sample_rate)
    out = np.zeros_like(bands[0])
    for k, (band, thr) in enumerate(zip(bands, thresholds_db)):
        attack, release = 30.0 / (k + 1), 300.0 / (k + 1)
        out += feedback_rms_compressor(
            band, sample_rate, threshold_db=thr, ratio=ratio, attack_ms=attack, release_ms=release
        )
    return out


def tape_saturation(audio: np.ndarray, sample_rate: int, drive_db: float, *, bias: float = 0.1) -> np.ndarray:
    """Tape-style saturation: +3 dB treble pre-emphasis, ``tanh`` with asymmetry ``bias``, de-emphasis.

    ``y = (tanh(d x + b) - tanh(b)) / d`` with ``d = 10^(drive_db/20)``: unity gain for small
    signals at any drive (the slope at 0 is ``1 - tanh(b)^2``, compensated), compressing peaks.
    The asymmetry adds even harmonics; a 10 Hz high-pass removes the DC it makes.
    """
    if drive_db <= 0.0:
        return np.asarray(audio, dtype=np.float64)
    d = 10.0 ** (drive_db / 20.0)
    emphasised = tilt_eq(np.asarray(audio, dtype=np.float64), 3.0, 3000.0, sample_rate)
    t0 = math.tanh(bias)
    shaped = (np.tanh(d * emphasised + bias) - t0) / (d * (1.0 - t0 * t0))
    shaped = tilt_eq(shaped, -3.0, 3000.0, sample_rate)
    sos = signal.butter(1, 10.0, btype="highpass", fs=sample_rate, output="sos")
    return signal.sosfilt(sos, shaped, axis=-1)


@numba.njit(cache=True)
def _limit(
    x: np.ndarray, peaks: np.ndarray, ceiling: float, look: int, release: float
) -> np.ndarray:  # pragma: no cover
    channels, n = x.shape
    need = np.ones(n)
    for i in range(n):
        if peaks[i] > ceiling:
            need[i] = ceiling / peaks[i]
    # gain at i = min of `need` over [i, i + look] (look-ahead), then release smoothing upward only
    window_min = np.ones(n)
    for i in range(n):
        m = 1.0
        for j in range(i, min(i + look + 1, n)):
            if need[j] < m:
                m = need[j]
        window_min[i] = m
    out = np.empty_like(x)
    g = 1.0
    for i in range(n):
        target = window_min[i]
        g = target if target < g else release * g + (1.0 - release) * target
        for c in range(channels):
            out[c, i] = x[c, i] * g
    return out


def lookahead_limiter(
    audio: np.ndarray, sample_rate: int, ceiling_db: float, *, release_ms: float = 80.0
) -> np.ndarray:
    """Brick-wall limiter with 2 ms look-ahead on the 4×-oversampled peak (then a hard safety clip)."""
    x = np.ascontiguousarray(np.atleast_2d(audio), dtype=np.float64)
    ceiling = 10.0 ** (ceiling_db / 20.0)
    over = signal.resample_poly(x, 4, 1, axis=-1)
    peaks = np.abs(over).max(axis=0).reshape(-1, 4).max(axis=1)[: x.shape[1]]
    if peaks.shape[0] < x.shape[1]:
        peaks = np.pad(peaks, (0, x.shape[1] - peaks.shape[0]))
    # the oversampled peak of sample i can come from the interpolation up to a few samples later
    spread = np.maximum.reduce([np.roll(peaks, k) for k in range(-2, 3)])
    look = max(int(2e-3 * sample_rate), 1)
    limited = _limit(x, spread, ceiling, look, _coef(release_ms, sample_rate))
    return np.clip(limited, -ceiling, ceiling)
