"""Calibrated power per ERB band and frame, as it reaches the cochlea (:func:`band_powers`).

A Hann STFT weighted by the ANSI S3.4-2007 ear transfer and summed into the triangular bands of
:mod:`~mixassist.measure.perception.erb`.
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np
import scipy.fft
import scipy.signal
import scipy.sparse

from mixassist.errors import InvalidParameterError
from mixassist.measure.perception.erb import (
    CAM_STEP,
    CAMS,
    CENTRES_HZ,
    ERB_BANDS,
    POWER_PER_MEAN_SQUARE,
    ear_transfer_db,
    hz_to_cam,
)
from mixassist.measure.validate import as_sample_array, check_sample_rate

__all__ = ["band_centres_hz", "band_matrix", "band_powers"]

_BLOCK_FRAMES = 256  # STFT frames per block in band_powers: bounds memory for long audio


def band_centres_hz(sample_rate: int) -> np.ndarray:
    """Centre frequencies of the :data:`ERB_BANDS` bands.

    The grid is the same at every sample rate, so a band index means the same frequency
    everywhere (the loudness constants are per band). Bands above the Nyquist frequency
    ``sample_rate / 2`` are kept and read zero power (the top band's filter reaches 17.9 kHz).

    Parameters
    ----------
    sample_rate : int
        Hz, 8000–384000.

    Returns
    -------
    numpy.ndarray
        ``(ERB_BANDS,)`` float64, Hz, ascending from 30 Hz to 16 kHz, evenly spaced in
        ERB-number (Glasberg & Moore 1990).

    Examples
    --------
    >>> c = band_centres_hz(44100)
    >>> c.shape, round(float(c[0])), round(float(c[-1]))
    ((40,), 30, 16000)
    """
    check_sample_rate(sample_rate)
    return CENTRES_HZ.copy()


def _hop_samples(hop_s: Any, sample_rate: int) -> int:
    if isinstance(hop_s, bool) or not isinstance(hop_s, numbers.Real) or not 0.005 <= float(hop_s) <= 1.0:
        raise InvalidParameterError(f"hop_s={hop_s!r} must be a number of seconds in 0.005-1.0 (default 0.05)")
    return max(1, int(round(float(hop_s) * sample_rate)))


def band_matrix(sample_rate: int, n_fft: int, window: np.ndarray) -> np.ndarray:
    """Weights turning one frame's ``|rfft(x * window, n_fft)|^2`` into calibrated band powers.

    Each column is a triangular band on the ERB-number scale (adjacent bands sum to one
    between the first and last centre) times the ANSI S3.4-2007 outer + middle-ear power
    transfer at the bin (:func:`ear_transfer_db`), times the one-sided-spectrum and Parseval
    factors that make the sum over bins the frame's window-weighted mean square, times the
    100 dB SPL full-scale calibration.

    Parameters
    ----------
    sample_rate : int
        Hz.
    n_fft : int
        FFT length (at least ``len(window)``).
    window : numpy.ndarray
        The analysis window.

    Returns
    -------
    numpy.ndarray
        ``(n_fft // 2 + 1, ERB_BANDS)`` float64.
    """
    freqs = np.arange(n_fft // 2 + 1) * (sample_rate / n_fft)
    tri = np.maximum(0.0, 1.0 - np.abs(hz_to_cam(freqs)[:, None] - CAMS[None, :]) / CAM_STEP)
    one_sided = np.full(freqs.shape, 2.0)
    one_sided[0] = 1.0
    if n_fft % 2 == 0:
        one_sided[-1] = 1.0
    ear = 10.0 ** (ear_transfer_db(freqs) / 10.0)
    scale = POWER_PER_MEAN_SQUARE / (n_fft * float(np.sum(np.asarray(window, dtype=np.float64) ** 2)))
    return tri * (one_sided * ear * scale)[:, None]


def band_powers(audio: np.ndarray, sample_rate: int, *, hop_s: float = 0.05) -> np.ndarray:
    """Calibrated power per ERB band per frame, as it reaches the cochlea.

    A Hann STFT with a window of ``2 * hop`` samples and 50 % overlap (shifted squared
    windows sum to a constant, so the frame mean of a stationary signal's band powers sums to
    its mean square); frame ``m`` is centred on sample ``m * hop`` — the signal is zero-padded
    by ``hop`` at the start, exactly as ``scipy.signal.stft(..., boundary="zeros",
    padded=True)`` frames it. Each frame's ``|X_k|^2`` is weighted by :func:`band_matrix`.
    Frames are processed in blocks, so memory stays bounded for any length.

    Parameters
    ----------
    audio : numpy.ndarray
        Float samples ``(..., channels, samples)``, full scale ±1.0 (1-D = mono).
    sample_rate : int
        Hz, 8000–384000.
    hop_s : float
        Frame hop in seconds, 0.005–1.0 (default 50 ms: 100 ms windows).

    Returns
    -------
    numpy.ndarray
        ``(..., channels, frames, ERB_BANDS)`` float64, intensity re 0 dB SPL
        (``10 * log10`` is the band level in dB SPL); ``frames = 1 + ceil(samples / hop)``,
        0 for empty audio. Digital silence gives exact zeros.

    Notes
    -----
    A full-scale 1-kHz sine (mean square 0.5) sums to 1e10 (100 dB SPL) over the bands; the
    ear transfer is 0 dB at 1 kHz, so a −60 dBFS 1-kHz sine sums to 1e4 (40 dB SPL). FFTs run
    in float32 (band powers to ~1e-6 relative).

    References
    ----------
    ANSI S3.4-2007 (ear transfer tables); Glasberg & Moore (1990) (ERB-number scale).

    Examples
    --------
    >>> t = np.arange(44100) / 44100
    >>> p = band_powers(1e-3 * np.sin(2 * np.pi * 1000 * t), 44100)   # -60 dBFS peak
    >>> p.shape, round(float(10 * np.log10(p[0, 10].sum())), 1)
    ((1, 21, 40), 40.0)
    """
    rate = int(round(check_sample_rate(sample_rate)))
    x = as_sample_array(audio)
    hop = _hop_samples(hop_s, rate)
    n_win = 2 * hop
    n = x.shape[-1]
    lead = x.shape[:-1]
    frames = 1 + -(-n // hop) if n else 0
    out = np.zeros((*lead, frames, ERB_BANDS), dtype=np.float64)
    if frames == 0:
        return out
    window = scipy.signal.get_window("hann", n_win).astype(np.float32)  # periodic, as stft uses
    n_fft = n_win  # no zero padding: pocketfft takes any length
    weights = band_matrix(rate, n_fft, window)
    used = int(np.nonzero(weights.any(axis=1))[0].max()) + 1  # bins above the top band: unused
    weights_t = scipy.sparse.csr_array(weights[:used].T.astype(np.float32))
    rows = x.reshape(-1, n)
    flat = out.reshape(-1, frames, ERB_BANDS)
    for r in range(rows.shape[0]):
        row = rows[r]
        for first in range(0, frames, _BLOCK_FRAMES):
            count = min(_BLOCK_FRAMES, frames - first)
            # Frame m covers original samples [(m - 1) hop, (m + 1) hop).
            lo, hi = (first - 1) * hop, (first + count + 1) * hop
            seg = np.zeros(hi - lo, dtype=np.float32)
            src_lo, src_hi = max(lo, 0), min(hi, n)
            if src_hi > src_lo:
                seg[src_lo - lo : src_hi - lo] = row[src_lo:src_hi]
            if not seg.any():
                continue  # silent block: exact zeros
            view = np.lib.stride_tricks.sliding_window_view(seg, n_win)[::hop][:count]
            spec = scipy.fft.rfft(view * window, n=n_fft, axis=-1)[:, :used]
            power = spec.real**2 + spec.imag**2
            flat[r, first : first + count] = (weights_t @ power.T).T
    return out
