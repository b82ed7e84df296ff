"""Engine B's linear processors: filters of other families than the console's, a tilt EQ, pan laws.

The training console uses second-order (RBJ biquad) high-pass, shelves and peaks and a
constant-power pan. Engine B uses other shapes on purpose (``docs/data.md``, engine B):

* high-pass: Bessel (maximally flat group delay) of order 2-4;
* low-pass: elliptic (0.5 dB ripple, 40-60 dB stop band) for band-limiting, Butterworth for gentle darkening;
* crossovers: Linkwitz-Riley 4th order (two cascaded 2nd-order Butterworths), whose low and high
  outputs sum to an all-pass;
* a first-order *tilt* EQ: one gain at low frequencies, the opposite at high, pivoting at ``pivot_hz``;
* pan laws: -3 dB sine/cosine, -4.5 dB (the geometric mean of constant power and linear) and -6 dB linear.

Every filter is a causal IIR run as second-order sections (:func:`scipy.signal.sosfilt`);
``design_*`` returns the sections so that tests compare them with :func:`scipy.signal.sosfreqz`.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import signal

from mixassist.errors import InvalidParameterError

__all__ = [
    "PAN_LAWS",
    "bessel_highpass",
    "butter_lowpass",
    "design_bessel_highpass",
    "design_elliptic_lowpass",
    "design_lr4",
    "design_tilt",
    "elliptic_lowpass",
    "lr4_split",
    "pan_gains",
    "pan_mono",
    "tilt_eq",
]

#: Pan-law names and the gain each channel gets at the centre (dB).
PAN_LAWS = {"sincos3": -3.0103, "law4p5": -4.5154, "linear6": -6.0206}


def _run(sos: np.ndarray, audio: np.ndarray) -> np.ndarray:
    return signal.sosfilt(sos, audio, axis=-1)


def design_bessel_highpass(corner_hz: float, order: int, sample_rate: int) -> np.ndarray:
    """Bessel high-pass, ``norm="mag"`` (-3 dB at ``corner_hz``), as second-order sections."""
    return signal.bessel(order, corner_hz, btype="highpass", norm="mag", fs=sample_rate, output="sos")


def bessel_highpass(audio: np.ndarray, corner_hz: float, order: int, sample_rate: int) -> np.ndarray:
    """``audio`` through :func:`design_bessel_highpass`."""
    return _run(design_bessel_highpass(corner_hz, order, sample_rate), audio)


def design_elliptic_lowpass(
    edge_hz: float, sample_rate: int, *, order: int = 6, ripple_db: float = 0.5, stop_db: float = 50.0
) -> np.ndarray:
    """Elliptic (Cauer) low-pass: pass band to ``edge_hz`` within ``ripple_db``, ``stop_db`` below above."""
    edge = min(edge_hz, 0.45 * sample_rate)
    return signal.ellip(order, ripple_db, stop_db, edge, btype="lowpass", fs=sample_rate, output="sos")


def elliptic_lowpass(audio: np.ndarray, edge_hz: float, sample_rate: int, **kw: float) -> np.ndarray:
    """``audio`` through :func:`design_elliptic_lowpass`."""
    return _run(design_elliptic_lowpass(edge_hz, sample_rate, **kw), audio)  # type: ignore[arg-type]


def butter_lowpass(audio: np.ndarray, corner_hz: float, order: int, sample_rate: int) -> np.ndarray:
    """Butterworth low-pass of ``order`` (-3 dB at ``corner_hz``)."""
    corner = min(corner_hz, 0.45 * sample_rate)
    return _run(signal.butter(order, corner, btype="lowpass", fs=sample_rate, output="sos"), audio)


def design_lr4(crossover_hz: float, sample_rate: int) -> tuple[np.ndarray, np.ndarray]:
    """Linkwitz-Riley 4th-order low-pass and high-pass sections (each a squared 2nd-order Butterworth)."""
    low = signal.butter(2, crossover_hz, btype="lowpass", fs=sample_rate, output="sos")
    high = signal.butter(2, crossover_hz, btype="highpass", fs=sample_rate, output="sos")
    return np.vstack([low, low]), np.vstack([high, high])


def lr4_split(audio: np.ndarray, crossovers_hz: list[float], sample_rate: int) -> list[np.ndarray]:
    """Bands of ``audio`` split at ``crossovers_hz`` (ascending) with LR4 crossovers.

    Each lower band is all-pass compensated for the later crossovers (its signal also passes the
    later crossover's low+high pair), so the bands sum to one common all-pass of the input.
    """
    bands: list[np.ndarray] = []
    rest = audio
    for k, fc in enumerate(crossovers_hz):
        low, high = design_lr4(fc, sample_rate)
        band = _run(low, rest)
        for later in crossovers_hz[k + 1 :]:
            lo2, hi2 = design_lr4(later, sample_rate)
            band = _run(lo2, band) + _run(hi2, band)
        bands.append(band)
        rest = _run(high, rest)
    bands.append(rest)
    return bands


def design_tilt(gain_db: float, pivot_hz: float, sample_rate: int) -> tuple[np.ndarray, np.ndarray]:
    """First-order tilt EQ ``(b, a)``: ``-gain_db/2`` at DC, ``+gain_db/2`` at Nyquist, 0 dB near ``pivot_hz``.

    A first-order shelf ``H(s) = g_lo (s + w_z)/(s + w_p)`` with ``w_z = w_0 / sqrt(G)``,
    ``w_p = w_0 sqrt(G)`` (``G`` the linear high/low gain ratio) has ``|H| = g_lo`` at DC and
    ``g_lo G`` at high frequencies, and the geometric mean at ``w_0``; bilinear transform with
    the pivot pre-warped.
    """
    ratio = 10.0 ** (gain_db / 20.0)
    w0 = 2.0 * sample_rate * math.tan(math.pi * pivot_hz / sample_rate)
    wz, wp = w0 / math.sqrt(ratio), w0 * math.sqrt(ratio)
    g_lo = 10.0 ** (-gain_db / 40.0)
    # H(s) = g_lo * ratio * (s + wz) / (s + wp)  -> DC gain g_lo, HF gain g_lo * ratio
    b, a = signal.bilinear([g_lo * ratio, g_lo * ratio * wz], [1.0, wp], fs=sample_rate)
    return np.asarray(b), np.asarray(a)


def tilt_eq(audio: np.ndarray, gain_db: float, pivot_hz: float, sample_rate: int) -> np.ndarray:
    """``audio`` through :func:`design_tilt` (positive ``gain_db``: brighter)."""
    if gain_db == 0.0:
        return audio
    b, a = design_tilt(gain_db, pivot_hz, sample_rate)
    return signal.lfilter(b, a, audio, axis=-1)


def pan_gains(pan: float, law: str) -> tuple[float, float]:
    """Left and right gains for ``pan`` in [-1, 1] under ``law`` (:data:`PAN_LAWS`).

    ``sincos3``: ``(cos θ, sin θ)``, ``θ = (pan + 1) π/4``; ``linear6``: ``((1 - pan)/2, (1 + pan)/2)``;
    ``law4p5``: the square root of their product, channel by channel. Hard left is ``(1, 0)`` in all three.
    """
    theta = (pan + 1.0) * math.pi / 4.0
    power = (math.cos(theta), math.sin(theta))
    linear = ((1.0 - pan) / 2.0, (1.0 + pan) / 2.0)
    if law == "sincos3":
        return power
    if law == "linear6":
        return linear
    if law == "law4p5":
        return math.sqrt(power[0] * linear[0]), math.sqrt(power[1] * linear[1])
    raise InvalidParameterError(f"unknown pan law {law!r}; use one of {sorted(PAN_LAWS)}")


def pan_mono(mono: np.ndarray, pan: float, law: str) -> np.ndarray:
    """A mono signal placed at ``pan`` under ``law``: ``(2, samples)``."""
    left, right = pan_gains(pan, law)
    return np.stack([left * mono, right * mono])
