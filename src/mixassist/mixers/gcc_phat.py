"""Welch cross-spectra and coherence-weighted GCC-PHAT between every pair of tracks.

The measurement behind multi-microphone alignment (:mod:`mixassist.mixers.align`): each track's
spectrum is computed once, the cross-spectral matrix of all tracks is accumulated block by block,
and each pair's delay, peak ratio and plain correlation ρ are read from it. Method and figures:
``docs/mixing.md``, multi-microphone alignment.

Reference: C. H. Knapp and G. C. Carter, "The generalized correlation method for estimation of
time delay", IEEE Trans. Acoustics, Speech and Signal Processing 24(4), 320-327, 1976.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from numpy.lib.stride_tricks import sliding_window_view
from scipy import fft as sfft
from scipy.signal import get_window

from mixassist.audio.multitrack import Track

__all__ = ["PairStats", "cross_spectra", "frame_length", "gcc_stats", "peak_rms", "window_overlap"]

_FRAME_S = 0.35  # Welch frame length (rounded to a power of two: 16384 samples at 44.1/48 kHz)
_BLOCK_FRAMES = 32  # frames per batched cross-spectrum update (bounds memory)
_FFT_TRACKS = 8  # tracks per FFT call
_PAIR_CHUNK = 128  # pairs per GCC batch (bounds memory)


def frame_length(sample_rate: int, num_samples: int, max_lag: int) -> int:
    """Power-of-two Welch frame: ~0.35 s, at least 8× the largest lag, shorter for short files."""
    length = 2 ** round(math.log2(_FRAME_S * sample_rate))
    shortest = 2 ** math.ceil(math.log2(max(8 * max_lag, 1024)))
    length = max(length, shortest)
    while length > shortest and num_samples < 4 * length:
        length //= 2
    return length


def _mono_segment(audio: np.ndarray | Track, start: int, stop: int) -> np.ndarray:
    """Mono float32 downmix of ``audio[:, start:stop]`` (any indices; zeros outside); a track
    is read there only (a long session's stems live in spool files)."""
    n = audio.shape[1] if isinstance(audio, np.ndarray) else audio.num_samples
    out = np.zeros(stop - start, np.float32)
    lo, hi = max(start, 0), min(stop, n)
    if hi > lo:
        src = audio[:, lo:hi] if isinstance(audio, np.ndarray) else audio.read(lo, hi)
        out[lo - start : hi - start] = src[0] if src.shape[0] == 1 else src.mean(axis=0, dtype=np.float32)
    return out


def peak_rms(audio: np.ndarray, block: int = 1 << 22) -> float:
    """Largest per-channel RMS (BLAS dot products in blocks: fast, bounded memory; NaN propagates)."""
    n = audio.shape[1]
    total = np.zeros(audio.shape[0])
    for start in range(0, n, block):
        for c, row in enumerate(audio[:, start : start + block]):
            total[c] += float(np.dot(row, row))
    return math.sqrt(float(total.max()) / max(n, 1))


def _num_frames(num_samples: int, hop: int) -> int:
    # frame k covers samples [k·hop − L/2, k·hop + L/2): centres 0, hop, … past the last sample
    return (num_samples - 1) // hop + 2


def cross_spectra(
    audios: Sequence[np.ndarray | Track], num_samples: int, length: int, bins: slice
) -> tuple[np.ndarray, int]:
    """Welch cross-spectral matrix ``(bins, tracks, tracks)`` complex64 and the frame count.

    ``audios`` are arrays ``(channels, samples)`` or tracks, read a block of frames at a time.

    ``G[f, i, j] = Σ_k conj(X_i[k, f]) X_j[k, f]`` over Hann frames ``X[k]`` (50 % overlap) of
    the mono downmixes, accumulated as one batched matrix product per block of frames.
    """
    hop = length // 2
    window = get_window("hann", length).astype(np.float32)
    frames = _num_frames(num_samples, hop)
    n_bins = bins.stop - bins.start
    tracks = len(audios)
    g = torch.zeros((n_bins, tracks, tracks), dtype=torch.complex64)
    for k0 in range(0, frames, _BLOCK_FRAMES):
        kb = min(_BLOCK_FRAMES, frames - k0)
        start = k0 * hop - length // 2
        stop = (k0 + kb - 1) * hop + length // 2
        spec = np.empty((n_bins, tracks, kb), np.complex64)  # the layout of the batched product
        for t0 in range(0, tracks, _FFT_TRACKS):  # one FFT call per few tracks: batched is faster
            group = audios[t0 : t0 + _FFT_TRACKS]
            x = np.empty((len(group), kb, length), np.float32)
            for t, audio in enumerate(group):
                x[t] = sliding_window_view(_mono_segment(audio, start, stop), length)[::hop]
            x *= window
            spec[:, t0 : t0 + len(group)] = sfft.rfft(x, axis=-1, workers=-1)[..., bins].transpose(2, 0, 1)
        a = torch.from_numpy(spec)
        g.baddbmm_(a.conj(), a.transpose(1, 2))  # in place: no (bins, tracks, tracks) temporary
    return g.numpy(), frames


def window_overlap(length: int, max_lag: int) -> np.ndarray:
    """``h[d] = Σ w[n] w[n+d] / Σ w²`` for d = 0…max_lag+1 (Hann): Welch's loss at lag d."""
    w = get_window("hann", length).astype(np.float64)
    acf = sfft.irfft(np.abs(sfft.rfft(w, 2 * length)) ** 2, 2 * length)
    return acf[: max_lag + 2] / acf[0]


@dataclass
class PairStats:
    """Per pair: delay (s), GCC-PHAT height, peak ratio, ρ, and the lobe share (see :func:`gcc_stats`)."""

    delay_s: np.ndarray
    gcc: np.ndarray  # signed height of the normalised GCC-PHAT peak
    peak_ratio: np.ndarray
    correlation: np.ndarray
    lobe: np.ndarray  # GCC-PHAT at the final delay over GCC-PHAT at its own peak (signed)


def gcc_stats(
    g: np.ndarray,
    first: np.ndarray,
    second: np.ndarray,
    bins: slice,
    *,
    sample_rate: int,
    length: int,
    search_lag: int,
    overlap: np.ndarray,
    fine: bool,
) -> PairStats:
    """GCC-PHAT (γ²-weighted) peak, peak ratio and ρ for the pairs ``(first[p], second[p])``.

    ``g`` holds the bins ``bins`` of frames of ``length`` samples.  ``fine=False`` is the
    coarse pre-filter (single precision, delay on the grid, ρ read off the grid);
    ``fine=True`` oversamples the lag grid 2×, finds the continuous-lag maximum with Newton's
    method and evaluates ρ exactly at it.
    """
    real: type[np.floating[Any]]
    cplx: type[np.complexfloating[Any, Any]]
    real, cplx = (np.float64, np.complex128) if fine else (np.float32, np.complex64)
    n_fft = (2 if fine else 1) * 2 ** math.ceil(math.log2(2 * bins.stop))
    step_s = length / (n_fft * sample_rate)  # lag spacing of the grid
    m = int(math.ceil(search_lag / (sample_rate * step_s)))
    omega = (2 * np.pi * sample_rate / length) * np.arange(bins.start, bins.stop)
    out = [np.empty(len(first)) for _ in range(5)]
    for c0 in range(0, len(first), _PAIR_CHUNK):
        ii, jj = first[c0 : c0 + _PAIR_CHUNK], second[c0 : c0 + _PAIR_CHUNK]
        p = np.arange(len(ii))
        gij = g[:, ii, jj].T.astype(cplx)
        gii: np.ndarray = g[:, ii, ii].real.T.astype(real)
        gjj: np.ndarray = g[:, jj, jj].real.T.astype(real)
        mag = np.abs(gij)
        denom = gii * gjj
        safe = (denom > 0) & (mag > 0)
        coh2 = np.where(safe, np.minimum(mag**2 / np.where(safe, denom, 1), 1), 0).astype(real)
        total = coh2.sum(axis=1)
        total = np.where(total > 0, total, 1)
        # γ² · G/|G|, normalised so that a perfect pure delay peaks at exactly 1
        weights = (np.where(safe, coh2 / np.where(safe, mag, 1), 0) / total[:, None]).astype(real) * gij
        energy = np.sqrt(gii.sum(axis=1) * gjj.sum(axis=1))
        energy = np.where(energy > 0, energy, np.inf)

        r = _lag_domain(weights, n_fft, bins, m, cplx)
        a = np.abs(r)
        idx = np.argmax(a, axis=1)
        peak = a[p, idx]
        # the highest |r| outside the main lobe (bounded by the zero crossings either side of
        # the peak): a rival delay, or the same delay one half-period away with the other
        # polarity.  Ripple on the lobe itself is not a rival.
        cols = np.arange(2 * m + 1)
        crossing = np.sign(r[p, idx])[:, None] * r <= 0
        left = np.maximum.accumulate(np.where(crossing, cols, -1), axis=1)[p, idx]
        right = np.minimum.accumulate(np.where(crossing, cols, 2 * m + 1)[:, ::-1], axis=1)[:, ::-1][p, idx]
        lobe_cols = (cols[None, :] > left[:, None]) & (cols[None, :] < right[:, None])
        ratio = peak / np.maximum(np.where(lobe_cols, 0, a).max(axis=1), 1e-12)
        # parabolic interpolation of the grid peak
        inner = (idx > 0) & (idx < 2 * m)
        y0 = a[p, np.clip(idx - 1, 0, 2 * m)]
        y2 = a[p, np.clip(idx + 1, 0, 2 * m)]
        curv = y0 - 2 * peak + y2
        frac = np.where(inner & (curv < 0), 0.5 * (y0 - y2) / np.where(curv < 0, curv, -1), 0)
        tau = (idx - m + frac) * step_s
        if fine:
            # the GCC-PHAT peak picks the lobe; the delay is the maximum of the plain
            # cross-correlation within it, which is what maximises the energy of the sum
            tau_phat = _climb(weights, omega, tau, step_s, 8)
            gcc_peak = (weights * np.exp(1j * omega[None, :] * tau_phat[:, None])).real.sum(axis=1)
            tau = _climb(gij, omega, tau_phat, step_s, 24)
            turn = np.exp(1j * omega[None, :] * tau[:, None])
            gcc = (weights * turn).real.sum(axis=1)
            rho = (gij * turn).real.sum(axis=1) / energy
            lobe = gcc / np.where(gcc_peak != 0, gcc_peak, 1)
        else:
            gcc = r[p, idx]
            lobe = np.ones(len(ii))
            plain = np.abs(_lag_domain(gij, n_fft, bins, m, cplx) / energy[:, None])
            rho = np.copysign(np.maximum.reduce([plain[p, np.clip(idx + d, 0, 2 * m)] for d in (-1, 0, 1)]), gcc)
        # Parseval over the kept bins gives the Welch (windowed) ρ: divide out the window's
        # overlap loss at the lag, Σ w[n] w[n+τ] / Σ w²
        lag_samples = np.minimum(np.abs(tau) * sample_rate, len(overlap) - 1.0)
        rho = np.clip(rho / np.interp(lag_samples, np.arange(len(overlap)), overlap), -1, 1)
        sl = slice(c0, c0 + len(ii))
        out[0][sl], out[1][sl], out[2][sl], out[3][sl], out[4][sl] = tau, gcc, ratio, rho, lobe
    return PairStats(*out)


def _lag_domain(
    spectrum_bins: np.ndarray, n_fft: int, bins: slice, m: int, cplx: type[np.complexfloating[Any, Any]]
) -> np.ndarray:
    """``(pairs, 2m + 1)`` correlation at lags -m…m from the kept bins of ``(pairs, bins)`` spectra."""
    spectrum: np.ndarray = np.zeros((len(spectrum_bins), n_fft // 2 + 1), cplx)
    spectrum[:, bins] = spectrum_bins
    r = sfft.irfft(spectrum, n_fft, axis=-1) * (n_fft / 2)
    return np.concatenate([r[:, n_fft - m :], r[:, : m + 1]], axis=1)  # lags -m…m


def _climb(spectrum: np.ndarray, omega: np.ndarray, tau: np.ndarray, step_s: float, iterations: int) -> np.ndarray:
    """Newton's method for the nearest maximum of ``|r(τ)|``, ``r(τ) = Re Σ_f S_f e^{jω_f τ}``.

    ``spectrum`` is ``(pairs, bins)``; each step is clipped to ``step_s`` so that the search
    stays on the lobe it starts on.
    """
    for _ in range(iterations):
        z = spectrum * np.exp(1j * omega[None, :] * tau[:, None])
        r0 = z.real.sum(axis=1)
        r1 = -(omega * z.imag).sum(axis=1)
        r2 = -(omega**2 * z.real).sum(axis=1)
        ok = r2 * np.sign(r0) < 0  # curving towards a maximum of |r|
        delta = np.where(ok, r1 / np.where(ok, r2, 1), 0)
        tau = tau - np.clip(delta, -step_s, step_s)
        if np.all(np.abs(delta) < 1e-4 * step_s):
            break
    return tau
