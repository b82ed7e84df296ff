"""Test signals and hand-made file bytes, shared by the tests."""

from __future__ import annotations

import math
import struct

import numpy as np


def sine(freq_hz: float, seconds: float, sample_rate: int, amplitude: float = 0.5, channels: int = 1) -> np.ndarray:
    """A (channels, samples) float32 sine."""
    t = np.arange(int(round(seconds * sample_rate))) / sample_rate
    x = (amplitude * np.sin(2 * np.pi * freq_hz * t)).astype(np.float32)
    return np.repeat(x[None, :], channels, axis=0)


def wav_bytes(channels: int, sample_rate: int, bits: int, data: bytes, *, declared_len: int | None = None, fmt: int = 1) -> bytes:
    """A canonical 44-byte-header RIFF/WAVE file with a possibly lying data length."""
    n = len(data) if declared_len is None else declared_len
    block = channels * bits // 8
    riff = min(36 + n, 0xFFFFFFFF)
    byte_rate = min(sample_rate * block, 0xFFFFFFFF)
    return (
        b"RIFF" + struct.pack("<I", riff) + b"WAVE"
        + b"fmt " + struct.pack("<IHHIIHH", 16, fmt, channels, sample_rate, byte_rate, block, bits)
        + b"data" + struct.pack("<I", n) + data
    )


def asymmetric_bass(seconds: float, sample_rate: int, offset: float) -> dict[str, np.ndarray]:
    """Stems for DC tests: a bass whose waveform is asymmetric (55 Hz and its octave in
    quadrature: the negative peaks are larger, so a limiter makes DC of it) on a DC ``offset``,
    and a little stereo noise; 0.5 s fades.  float32 ``(channels, samples)`` by name."""
    n = int(seconds * sample_rate)
    t = np.arange(n) / sample_rate
    env = np.sin(np.pi / 2 * np.clip(np.minimum(t, t[::-1]) / 0.5, 0, 1)) ** 2
    wave = env * (0.4 * np.sin(2 * np.pi * 55 * t) + 0.25 * np.sin(2 * np.pi * 110 * t + np.pi / 2))
    noise = env * 0.05 * np.random.default_rng(0).standard_normal((2, n))
    return {"bass": (offset + wave).astype(np.float32), "noise": noise.astype(np.float32)}


def raised_cosine(times: list[float], values: list[float], t: float) -> float:
    """The documented lane envelope (docs/mixing.md, ``console/lanes.py``), one time at a time in
    plain Python: the independent reference the lane tests compare the console with."""
    if t <= times[0]:
        return values[0]
    if t >= times[-1]:
        return values[-1]
    k = max(i for i in range(len(times)) if times[i] <= t)
    u = (t - times[k]) / (times[k + 1] - times[k])
    return values[k] + (values[k + 1] - values[k]) * (1 - math.cos(math.pi * u)) / 2


def busier_chorus(seconds: float, sample_rate: int, seed: int) -> dict[str, np.ndarray]:
    """A steady lead (``vox``) over a band (``pad``, ``chords``) 12 dB louder in the second half
    (the 'chorus'): what a ride must answer."""
    rng = np.random.default_rng(seed)
    n = int(seconds * sample_rate)
    t = np.arange(n) / sample_rate
    vox = sum(0.2 / k * np.sin(2 * np.pi * 220 * k * t + 0.3 * np.sin(2 * np.pi * 5 * t)) for k in range(1, 6))
    level = np.where(t < seconds / 2, 0.25, 1.0)
    pad = 0.15 * level * rng.standard_normal(n)
    chords = 0.2 * level * np.sin(2 * np.pi * 330 * t) * (1 + 0.3 * np.sin(2 * np.pi * 3 * t))
    return {"vox": np.asarray(vox), "pad": pad, "chords": chords}
