"""Multi-resolution STFT distance between two sample-aligned signals, in numpy.

The auraloss ``MultiResolutionSTFTLoss`` (spectral convergence plus log-magnitude distance at
three resolutions), with ``torch.stft`` framing (``center=True``, reflect padding) reproduced
by :func:`stft_magnitudes`. References: Yamamoto et al., "Parallel WaveGAN", ICASSP 2020;
Steinmetz & Reiss, "auraloss", DMRN+15, 2020.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterator, Sequence

import numpy as np
import scipy.fft
import scipy.signal

from mixassist.errors import InvalidAudioError, InvalidParameterError
from mixassist.measure import as_audio, check_sample_rate
from mixassist.measure.reading import explain

__all__ = [
    "MRSTFT_FFT_SIZES",
    "MRSTFT_HOP_SIZES",
    "MRSTFT_WIN_LENGTHS",
    "centred_hann_window",
    "mrstft_distance",
    "stft_magnitudes",
]

MRSTFT_FFT_SIZES = (1024, 2048, 512)
"""auraloss ``MultiResolutionSTFTLoss`` defaults (samples, at any sample rate)."""
MRSTFT_HOP_SIZES = (120, 240, 50)
"""Hop sizes of the :data:`MRSTFT_FFT_SIZES` resolutions, samples."""
MRSTFT_WIN_LENGTHS = (600, 1200, 240)
"""Hann window lengths of the :data:`MRSTFT_FFT_SIZES` resolutions, samples."""

_MRSTFT_POWER_EPS = 1e-8  # auraloss clamps |X|^2 at eps=1e-8 before the square root
_FRAMES_PER_CHUNK = 2048  # bounds the memory of the STFTs on long files


def stft_magnitudes(
    signal: np.ndarray, n_fft: int, hop: int, win_length: int, window: np.ndarray | None = None
) -> Iterator[np.ndarray]:
    """Magnitude STFT frames in chunks, as ``torch.stft(center=True, pad_mode="reflect")``.

    The periodic Hann window of ``win_length`` is centred in ``n_fft`` (zeros either side);
    the signal is reflect-padded by ``n_fft // 2`` on both sides; frame ``k`` starts at
    ``k * hop`` of the padded signal; ``1 + samples // hop`` frames. Yields arrays shaped
    ``(frames_in_chunk, n_fft // 2 + 1)``.
    """
    if window is None:
        window = centred_hann_window(n_fft, win_length)
    padded = np.pad(signal, n_fft // 2, mode="reflect") if signal.size > 1 else np.pad(signal, n_fft // 2)
    frames = np.lib.stride_tricks.sliding_window_view(padded, n_fft)[::hop]
    for start in range(0, frames.shape[0], _FRAMES_PER_CHUNK):
        yield np.abs(scipy.fft.rfft(frames[start : start + _FRAMES_PER_CHUNK] * window, axis=-1, workers=-1))


@functools.lru_cache(maxsize=8)
def centred_hann_window(n_fft: int, win_length: int) -> np.ndarray:
    """Periodic Hann window of ``win_length`` centred in ``n_fft`` zeros (read-only, cached)."""
    window = np.zeros(n_fft)
    left = (n_fft - win_length) // 2
    window[left : left + win_length] = scipy.signal.get_window("hann", win_length, fftbins=True)
    window.flags.writeable = False
    return window


def mrstft_distance(
    mix: np.ndarray,
    target: np.ndarray,
    sample_rate: float,
    *,
    fft_sizes: Sequence[int] = MRSTFT_FFT_SIZES,
    hop_sizes: Sequence[int] = MRSTFT_HOP_SIZES,
    win_lengths: Sequence[int] = MRSTFT_WIN_LENGTHS,
) -> float | None:
    """Multi-resolution STFT distance between a mix and a sample-aligned target.

    For each resolution (auraloss defaults: FFT 1024/2048/512, hop 120/240/50, Hann window
    600/1200/240, ``torch.stft`` framing with ``center=True``, reflect padding) and each
    channel: spectral convergence ``||Y - X||_F / ||Y||_F`` plus the mean absolute log-magnitude
    difference ``mean|ln Y - ln X|``, with magnitudes ``sqrt(max(|STFT|**2, 1e-8))`` as in
    auraloss. The result is the sum of the two terms averaged over resolutions and channels
    (auraloss pools the channels into one Frobenius norm; we average per channel).

    Parameters
    ----------
    mix, target : numpy.ndarray
        Float samples shaped ``(channels, samples)`` (1 or 2 channels) or 1-D mono, the same
        number of samples. A mono signal against a stereo one is compared as L = R.
    sample_rate : float
        Sample rate of both, Hz (validated only: the resolutions are in samples, as in auraloss).
    fft_sizes, hop_sizes, win_lengths : sequence of int
        The resolutions, in samples.

    Returns
    -------
    float or None
        Dimensionless distance: 0 for identical signals, growing with any difference (level,
        spectrum, timing). None for empty input.

    Raises
    ------
    InvalidAudioError
        If the two signals differ in length (the distance needs sample-aligned signals).
    """
    check_sample_rate(sample_rate)
    x, _ = as_audio(mix)
    y, _ = as_audio(target)
    if x.shape[-1] != y.shape[-1]:
        raise InvalidAudioError(
            f"mix has {x.shape[-1]} samples and target {y.shape[-1]}; the MRSTFT distance "
            "compares sample-aligned signals: trim or pad them to the same length"
        )
    if x.shape[-1] == 0:
        return explain("mrstft_distance", (None, "empty"))
    if not (len(fft_sizes) == len(hop_sizes) == len(win_lengths)) or not fft_sizes:
        raise InvalidParameterError("fft_sizes, hop_sizes and win_lengths must have the same non-zero length")
    channels = max(x.shape[0], y.shape[0])
    x = np.broadcast_to(np.asarray(x, dtype=np.float64), (channels, x.shape[-1]))
    y = np.broadcast_to(np.asarray(y, dtype=np.float64), (channels, y.shape[-1]))
    total = 0.0
    for n_fft, hop, win in zip(fft_sizes, hop_sizes, win_lengths):
        if not (0 < int(win) <= int(n_fft)) or int(hop) <= 0:
            raise InvalidParameterError(
                f"bad resolution fft={n_fft}, hop={hop}, win={win}: need 0 < win <= fft, hop > 0"
            )
        for channel in range(channels):
            diff_sq = ref_sq = log_abs = 0.0
            count = 0
            for x_mag, y_mag in zip(
                stft_magnitudes(x[channel], int(n_fft), int(hop), int(win)),
                stft_magnitudes(y[channel], int(n_fft), int(hop), int(win)),
            ):
                x_mag = np.sqrt(np.maximum(np.square(x_mag), _MRSTFT_POWER_EPS))
                y_mag = np.sqrt(np.maximum(np.square(y_mag), _MRSTFT_POWER_EPS))
                diff_sq += float(np.sum(np.square(y_mag - x_mag)))
                ref_sq += float(np.sum(np.square(y_mag)))
                log_abs += float(np.sum(np.abs(np.log(y_mag) - np.log(x_mag))))
                count += x_mag.size
            total += math.sqrt(diff_sq) / math.sqrt(ref_sq) + log_abs / count
    return float(total / (len(fft_sizes) * channels))
