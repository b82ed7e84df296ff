"""Tempo of a performance from the autocorrelation of its onset envelope.

A measurement of the audio (no mixing decision): the rules mixer sizes its reverb decay and
pre-delay to it. Onset envelope: positive log-energy flux in 10 ms frames; the tempo is the
strongest autocorrelation lag between 70 and 180 BPM, refined by a parabola.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["tempo_bpm"]


def tempo_bpm(audios: Sequence[np.ndarray], sample_rate: int, *, seconds: float = 60.0) -> float | None:
    """Tempo (BPM) of the sum of ``audios`` (each ``(channels, samples)``, the same length).

    Each signal is downmixed to mono and summed over at most its first ``seconds``. Returns
    None for less than 4 s of audio or when no periodicity stands out (peak below 0.3 of the
    zero-lag value).
    """
    sr = sample_rate
    n = min(audios[0].shape[1] if audios else 0, int(seconds * sr))
    if n < 4 * sr:
        return None
    mono = np.zeros(n)
    for audio in audios:
        mono += np.mean(audio[:, :n], axis=0)
    hop = int(0.01 * sr)
    frames = n // hop
    energy = np.sum(mono[: frames * hop].reshape(frames, hop) ** 2, axis=1) + 1e-12
    flux = np.maximum(np.diff(10 * np.log10(energy)), 0.0)
    flux = flux - flux.mean()
    if not np.any(flux):
        return None
    ac = np.correlate(flux, flux, mode="full")[flux.size - 1 :]
    if ac[0] <= 0:
        return None
    lags = np.arange(ac.size) * 0.01
    sel = (lags >= 60 / 180) & (lags <= 60 / 70)
    if not sel.any():
        return None
    idx = np.nonzero(sel)[0]
    best = idx[int(np.argmax(ac[idx]))]
    if ac[best] / ac[0] < 0.3:
        return None
    # parabolic refinement of the lag
    if 0 < best < ac.size - 1:
        a, b, c = ac[best - 1], ac[best], ac[best + 1]
        denom = a - 2 * b + c
        shift = 0.5 * (a - c) / denom if denom != 0 else 0.0
    else:
        shift = 0.0
    return float(60.0 / ((best + shift) * 0.01))
