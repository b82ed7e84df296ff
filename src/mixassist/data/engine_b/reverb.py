"""Engine B's reverb: Freeverb (Jezar at Dreampoint, 2000), a Schroeder-Moorer comb/all-pass network.

The training console convolves with a seeded noise impulse response (``console/dsp/reverb.py``);
this is a recursive network instead: per channel, eight parallel feedback combs with a one-pole
low-pass in the loop (damping), then four series Schroeder all-passes; the right channel's
delay lines are ``stereo_spread`` samples longer, which decorrelates the channels. Delay
lengths are Freeverb's 44.1 kHz tunings scaled to the sample rate.

``room`` in [0, 1] sets the comb feedback ``0.28 room + 0.7``; ``damp`` in [0, 1] the in-loop
low-pass ``0.4 damp``; the input is mono (the sum of the channels × 0.015, Freeverb's fixed gain).
"""

from __future__ import annotations

import numba
import numpy as np

__all__ = ["COMB_TUNING", "ALLPASS_TUNING", "comb_filter", "freeverb"]

COMB_TUNING = (1116, 1188, 1277, 1356, 1422, 1491, 1557, 1617)
ALLPASS_TUNING = (556, 441, 341, 225)
STEREO_SPREAD = 23
FIXED_GAIN = 0.015
ALLPASS_FEEDBACK = 0.5


@numba.njit(cache=True)
def comb_filter(x: np.ndarray, delay: int, feedback: float, damp: float) -> np.ndarray:  # pragma: no cover - numba
    """Freeverb's lowpass-feedback comb: ``y[n] = x[n - d] + f · lp[n]``, ``lp = (1 - damp) buf + damp lp``."""
    buf = np.zeros(delay)
    out = np.empty_like(x)
    store = 0.0
    idx = 0
    for i in range(x.shape[0]):
        y = buf[idx]
        store = y * (1.0 - damp) + store * damp
        buf[idx] = x[i] + store * feedback
        idx += 1
        if idx >= delay:
            idx = 0
        out[i] = y
    return out


@numba.njit(cache=True)
def _allpass(x: np.ndarray, delay: int, g: float) -> np.ndarray:  # pragma: no cover - numba
    buf = np.zeros(delay)
    out = np.empty_like(x)
    idx = 0
    for i in range(x.shape[0]):
        delayed = buf[idx]
        out[i] = -x[i] + delayed
        buf[idx] = x[i] + delayed * g
        idx += 1
        if idx >= delay:
            idx = 0
    return out


def freeverb(audio: np.ndarray, sample_rate: int, *, room: float = 0.8, damp: float = 0.5) -> np.ndarray:
    """The wet signal (``(2, samples)``) of Freeverb for ``audio`` (``(channels, samples)``)."""
    x = np.atleast_2d(np.asarray(audio, dtype=np.float64))
    mono = np.ascontiguousarray(x.sum(axis=0) * FIXED_GAIN)
    scale = sample_rate / 44100.0
    feedback, damping = 0.28 * room + 0.7, 0.4 * damp
    wet = []
    for spread in (0, STEREO_SPREAD):
        acc = np.zeros_like(mono)
        for d in COMB_TUNING:
            acc += comb_filter(mono, max(int(round((d + spread) * scale)), 1), feedback, damping)
        for d in ALLPASS_TUNING:
            acc = _allpass(acc, max(int(round((d + spread) * scale)), 1), ALLPASS_FEEDBACK)
        wet.append(acc)
    return np.stack(wet)
