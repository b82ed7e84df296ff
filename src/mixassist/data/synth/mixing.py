"""Turning raw renders into recorded-looking stems: levels, fades, spaced pairs, multi-mic pairs.

All functions are pure and work on float arrays shaped ``(channels, samples)`` (or 1-D mono).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.fft import irfft, next_fast_len, rfft, rfftfreq
from scipy.signal import butter, sosfilt, sosfiltfilt

from mixassist.errors import InvalidParameterError
from mixassist.measure import integrated_loudness

__all__ = [
    "LEVEL_RANGE_LUFS",
    "PEAK_CEILING_DBFS",
    "fractional_delay",
    "remove_dc",
    "fade_edges",
    "set_level",
    "spaced_pair",
    "MultiMic",
    "MULTI_MIC_KINDS",
    "make_multi_mic",
]

#: Integrated loudness of every written stem lies in this range (drawn per stem).
LEVEL_RANGE_LUFS = (-35.0, -10.0)
#: Sample-peak ceiling when levelling: a stem drawn too hot for its crest factor is turned down.
PEAK_CEILING_DBFS = -1.0


def fractional_delay(x: np.ndarray, delay_samples: float) -> np.ndarray:
    """Delay by a (fractional) number of samples, band-limited, keeping the length.

    Implemented as a linear phase shift in the frequency domain on a zero-padded copy
    (an ideal fractional-delay filter; the padding keeps the sinc's wrap-around out of the
    kept samples).

    Parameters
    ----------
    x : numpy.ndarray
        ``(..., samples)``.
    delay_samples : float
        Delay, >= 0.

    Returns
    -------
    numpy.ndarray
        Same shape and dtype as ``x``.
    """
    if delay_samples < 0:
        raise InvalidParameterError(f"delay_samples={delay_samples} must be >= 0")
    n = x.shape[-1]
    if n == 0 or delay_samples == 0:
        return x.copy()
    m = next_fast_len(n + int(np.ceil(delay_samples)) + 4096)
    spectrum = rfft(x.astype(np.float64), m, axis=-1)
    phase = np.exp(-2j * np.pi * rfftfreq(m) * delay_samples)
    y = irfft(spectrum * phase, m, axis=-1)[..., :n]
    return y.astype(x.dtype, copy=False)


def remove_dc(x: np.ndarray, sample_rate: int, cutoff_hz: float = 20.0) -> np.ndarray:
    """A recording chain's DC blocker: 2nd-order Butterworth high-pass (causal) at ``cutoff_hz``.

    Some soundfont samples carry a large DC offset; it is inaudible, ignored by K-weighted
    loudness, and would otherwise dominate correlations between stems.
    """
    sos = butter(2, cutoff_hz, "high", fs=sample_rate, output="sos")
    return sosfilt(sos, np.asarray(x, dtype=np.float64), axis=-1).astype(np.float32)


def fade_edges(x: np.ndarray, sample_rate: int, fade_in_ms: float = 5.0, fade_out_ms: float = 30.0) -> np.ndarray:
    """Short raised-cosine fades so an excerpt starts and ends without a click."""
    y = np.array(x, dtype=np.float32, copy=True)
    n = y.shape[-1]
    a = min(n, int(fade_in_ms * 1e-3 * sample_rate))
    b = min(n, int(fade_out_ms * 1e-3 * sample_rate))
    if a:
        y[..., :a] *= (0.5 - 0.5 * np.cos(np.linspace(0, np.pi, a))).astype(np.float32)
    if b:
        y[..., n - b :] *= (0.5 + 0.5 * np.cos(np.linspace(0, np.pi, b))).astype(np.float32)
    return y


def set_level(
    x: np.ndarray, sample_rate: int, target_lufs: float, *, ceiling_dbfs: float = PEAK_CEILING_DBFS
) -> tuple[np.ndarray, float | None]:
    """Scale to ``target_lufs`` integrated loudness, then down if the sample peak exceeds the ceiling.

    Returns the scaled audio and its measured loudness (None for silence, returned
    unscaled).  Loudness scales with gain except through the -70 LUFS absolute gate, so the
    result can differ from the target by a little; the returned figure is measured.
    """
    y = np.asarray(x, dtype=np.float32)
    peak = float(np.max(np.abs(y), initial=0.0))
    if peak == 0.0:
        return y, None
    y = y * np.float32(0.5 / peak)  # keep very quiet renders above the -70 LUFS gate
    lufs = integrated_loudness(y, sample_rate)
    if lufs is None:
        return y, None
    gain_db = min(target_lufs - lufs, ceiling_dbfs - 20 * np.log10(0.5))
    y = (y * np.float32(10 ** (gain_db / 20))).astype(np.float32)
    return y, integrated_loudness(y, sample_rate)


def spaced_pair(x: np.ndarray, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
    """A mono source as a spaced microphone pair: ``(2, n)``.

    A near-coincident pair (ORTF-like spacing): the far microphone hears it 0.05-0.35 ms
    later (fractional), 1-4 dB quieter and a little darker (zero-phase low-pass at
    6-12 kHz); which side is near is drawn.  Longer delays would make tonal sources read as
    strongly anti-correlated, which a recording engineer would not leave.
    """
    mono = np.asarray(x, dtype=np.float32).reshape(-1)
    delay_ms = float(rng.uniform(0.05, 0.35))
    far = fractional_delay(mono, delay_ms * 1e-3 * sample_rate)
    cutoff_hz = min(float(rng.uniform(6000, 12000)), 0.45 * sample_rate)
    far = sosfiltfilt(butter(2, cutoff_hz, "low", fs=sample_rate, output="sos"), far).astype(np.float32)
    far *= np.float32(10 ** (-float(rng.uniform(1.0, 4.0)) / 20))
    pair = [mono, far] if rng.random() < 0.5 else [far, mono]
    return np.stack(pair).astype(np.float32)


@dataclass(frozen=True)
class MultiMic:
    """How the second microphone of a pair differs from the first.

    Attributes
    ----------
    suffixes : (str, str)
        Stem-name suffixes ("in", "out").
    instruments : (str, str)
        Descriptions of the two microphones.
    delay_ms : (float, float)
        Range the delay is drawn from (within 0.1-10 ms).
    flip_probability : float
        Chance the second microphone is polarity-inverted.
    highpass_hz, lowpass_hz : (float, float) or None
        Ranges of the zero-phase filters of the second microphone.
    drive : float
        tanh saturation of the second microphone (an amp), 0 = none.
    """

    suffixes: tuple[str, str]
    instruments: tuple[str, str]
    delay_ms: tuple[float, float]
    flip_probability: float
    highpass_hz: tuple[float, float] | None = None
    lowpass_hz: tuple[float, float] | None = None
    drive: float = 0.0


#: Pair kinds by the source they apply to.
MULTI_MIC_KINDS = {
    "kick": MultiMic(
        ("in", "out"), ("inside the shell", "outside the resonant head"), (0.3, 3.0), 0.3, lowpass_hz=(2500, 6000)
    ),
    "snare": MultiMic(
        ("top", "bottom"), ("top head", "bottom head (snares)"), (0.1, 1.0), 0.85, highpass_hz=(300, 700)
    ),
    "bass": MultiMic(
        ("di", "amp"),
        ("direct injection", "amplifier, close mic"),
        (1.0, 10.0),
        0.3,
        highpass_hz=(40, 70),
        lowpass_hz=(2000, 5000),
        drive=1.5,
    ),
    "acoustic": MultiMic(("close", "far"), ("close mic", "distant mic"), (1.0, 8.0), 0.2, lowpass_hz=(5000, 10000)),
}


def make_multi_mic(
    x: np.ndarray, sample_rate: int, kind: MultiMic, rng: np.random.Generator
) -> tuple[np.ndarray, float, int]:
    """The second microphone of a pair on the mono source ``x``.

    The source is delayed by a drawn fractional delay, filtered with *zero-phase* filters
    (so the delay stays exactly the declared one), optionally saturated, polarity-flipped
    with the kind's probability, and given a little white noise (40-55 dB below its RMS).

    Returns
    -------
    (second, delay_ms, polarity)
        The second microphone ``(n,)`` float32, the true delay of its content relative to
        ``x`` in milliseconds, and its polarity (+1 or -1).
    """
    mono = np.asarray(x, dtype=np.float32).reshape(-1)
    delay_ms = float(rng.uniform(*kind.delay_ms))
    y = fractional_delay(mono.astype(np.float64), delay_ms * 1e-3 * sample_rate)
    if kind.highpass_hz is not None:
        y = sosfiltfilt(butter(2, float(rng.uniform(*kind.highpass_hz)), "high", fs=sample_rate, output="sos"), y)
    if kind.lowpass_hz is not None:
        cutoff = min(float(rng.uniform(*kind.lowpass_hz)), 0.45 * sample_rate)
        y = sosfiltfilt(butter(2, cutoff, "low", fs=sample_rate, output="sos"), y)
    if kind.drive > 0:
        peak = float(np.max(np.abs(y))) or 1.0
        y = np.tanh(kind.drive * y / peak) * peak / kind.drive
    polarity = -1 if rng.random() < kind.flip_probability else 1
    y = polarity * y
    active = np.abs(y) > 1e-4 * (float(np.max(np.abs(y))) or 1.0)
    rms = float(np.sqrt(np.mean(y[active] ** 2))) if active.any() else 0.0
    noise_db = float(rng.uniform(40.0, 55.0))
    y = y + rng.standard_normal(y.shape[-1]) * rms * 10 ** (-noise_db / 20)
    return y.astype(np.float32), delay_ms, polarity
