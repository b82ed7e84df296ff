#!/usr/bin/env python3
"""Console speed and memory: mixassist vs pedalboard vs dasp-pytorch on one realistic session.

What it measures
----------------
``--tracks`` stereo tracks (default 16) of ``--seconds`` (default 30) at 44.1 kHz run through a
full channel strip (polarity, alignment delay, high-pass, six-band EQ, compressor, fader, pan and
width), a post-fader reverb send bus and a master bus (EQ, glue compressor, output gain,
limiter at -1 dBTP), in three engines:

* **ours** -- ``Console.render`` (no gradients, chunked) and one differentiable
  ``Console.render_tensors`` block followed by ``loss.backward()``;
* **pedalboard** -- the same chain from pedalboard's processors (forward only: it has no
  gradients), pan/width and bus sums in numpy, the reverb as pedalboard ``Convolution`` with a
  decaying-noise impulse response of the same RT60s and length as ours; timed twice, with the
  track strips one after another and in a thread pool of ``os.cpu_count()`` workers (pedalboard
  releases the GIL), and the better of the two is the peer's figure, since ours uses every core;
* **dasp-pytorch** -- the same chain from ``dasp_pytorch.functional`` (forward, and forward plus
  backward with every setting a leaf tensor), the reverb as ``noise_shaped_reverberation``'s
  impulse response applied by FFT (``--dasp-reverb``).

Each phase runs in a fresh subprocess (this script with ``--phase``), so peak resident memory
(``VmHWM``) of one phase never contaminates another; the peak is reset after the input audio is
built, so it counts the inputs and the engine, not the synthesis of the test material.  Times are
``time.perf_counter`` wall seconds: one warm-up run, then the median of ``--repeats`` runs.

Run ``python benchmarks/console_speed.py --help``; ``benchmarks/README.md`` has the targets and
results.  pedalboard (GPL) and dasp-pytorch are benchmark-only peers: the package never imports
them, only this script does.
"""

from __future__ import annotations

import argparse
import datetime
import gc
import json
import math
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

SAMPLE_RATE = 44100
GB = 1e9  # decimal gigabytes, as in the targets
REPO = Path(__file__).resolve().parent.parent
DEMO_STEMS = REPO / "examples" / "demo" / "stems"
SEED = 20240613

#: Targets from the design brief: (key, limit, meaning).
TARGETS = (
    ("forward_vs_pedalboard", 1.0, "ours forward <= 1.0x pedalboard"),
    ("forward_backward_vs_dasp", 0.1, "ours forward+backward <= 0.1x dasp-pytorch"),
    ("peak_rss_forward_backward_gb", 4.0, "peak RSS with gradients <= 4 GB"),
    ("render_5min_peak_rss_gb", 3.0, "peak RSS of the 5-minute render <= 3 GB"),
)

#: dasp-pytorch's frequency-sampling filters work on the next power of two >= 2n-1 samples, so
#: its memory grows with (tracks + master) x FFT length: resident bytes per such bin plus a base,
#: fitted to peaks measured with this script for 16 tracks (forward: 3.0 GB at 30 s; forward +
#: backward: 5.5, 10.0 and 19.5 GB at 10, 15 and 30 s), rounded up (see ``_dasp_need_bytes``).
DASP_BYTES_PER_TRACK_BIN = {"dasp_forward": 40.0, "dasp_forward_backward": 270.0}
DASP_BASE_BYTES = 0.6e9
#: Run a dasp phase only when its estimated need is below this share of the available memory
#: (the phase also volunteers for the OOM killer, see ``_volunteer_for_oom_killer``).
MEMORY_HEADROOM = 0.9


def log(message: str) -> None:
    print(f"[console_speed] {message}", file=sys.stderr, flush=True)


# =============================================================================== test material
BPM = 120.0
STEP_S = 60.0 / BPM / 4  # one sixteenth note
LOOP_BARS = 8
STEPS = 16 * LOOP_BARS
#: A minor: Am F C G, one chord per bar (MIDI note numbers, root position).
CHORDS = ((57, 60, 64), (53, 57, 60), (48, 52, 55), (55, 59, 62))
PENTATONIC = (57, 60, 62, 64, 67, 69, 72, 74, 76)
KINDS = (
    "kick", "snare", "hats", "bass", "keys", "pad", "lead", "pluck",
    "toms", "shaker", "strings", "sub", "counter", "clap", "riser", "rim",
)


def _hz(midi: float) -> float:
    return 440.0 * 2.0 ** ((midi - 69.0) / 12.0)


def _tone(
    freq_hz: float,
    duration_s: float,
    rng: np.random.Generator,
    *,
    harmonics: int,
    tilt: float,
    attack_s: float,
    decay_s: float,
    detune_cents: float = 0.0,
    vibrato_cents: float = 0.0,
) -> np.ndarray:
    """One harmonic note, ``(samples,)``: 1/k**tilt partials, attack/exponential-decay envelope.

    The waveform is read from a one-period wavetable (random partial phases), which keeps the
    synthesis of long sessions fast.
    """
    n = max(1, int(duration_s * SAMPLE_RATE))
    t = np.arange(n) / SAMPLE_RATE
    f = freq_hz * 2.0 ** (detune_cents / 1200.0)
    k = np.arange(1, harmonics + 1)
    k = k[k * f < 0.45 * SAMPLE_RATE]
    table_size = 2048
    grid = np.arange(table_size + 1) / table_size
    phases = rng.uniform(0, 2 * np.pi, len(k))[:, None]
    table = (k.astype(float) ** -tilt) @ np.sin(2 * np.pi * k[:, None] * grid[None] + phases)
    cycles = f * t
    if vibrato_cents:
        rate_hz = 5.5
        depth = f * (2.0 ** (vibrato_cents / 1200.0) - 1.0)
        cycles += depth / (2 * np.pi * rate_hz) * (1 - np.cos(2 * np.pi * rate_hz * np.maximum(t - 0.15, 0)))
    y = np.interp(np.mod(cycles, 1.0), grid, table)
    env = np.minimum(t / attack_s, 1.0) * np.exp(-t / decay_s)
    env *= np.minimum((n - np.arange(n)) / (0.01 * SAMPLE_RATE), 1.0)  # no click at note-off
    return y * env


def _place(loop: np.ndarray, start: int, sound: np.ndarray) -> None:
    """Add ``sound`` ((2, n) or (n,)) into the cyclic ``loop`` at sample ``start`` (wrapping)."""
    n_loop = loop.shape[1]
    sound = np.broadcast_to(sound, (2, sound.shape[-1]))
    pos = 0
    while pos < sound.shape[1]:
        at = (start + pos) % n_loop
        m = min(sound.shape[1] - pos, n_loop - at)
        loop[:, at : at + m] += sound[:, pos : pos + m]
        pos += m


def _noise(rng: np.random.Generator, n: int, band_hz: tuple[float, float] | None, spread: float) -> np.ndarray:
    """Stereo band-limited noise ``(2, n)``; ``spread`` 0 = identical channels, 1 = independent."""
    from scipy import signal  # lazy: phases measure their own peak RSS

    common = rng.standard_normal(n)
    noise = np.stack([common * (1 - spread) + rng.standard_normal(n) * spread for _ in range(2)])
    if band_hz is not None:
        lo, hi = band_hz
        if hi >= 0.45 * SAMPLE_RATE:
            sos = signal.butter(4, lo, "highpass", fs=SAMPLE_RATE, output="sos")
        else:
            sos = signal.butter(2, (lo, hi), "bandpass", fs=SAMPLE_RATE, output="sos")
        noise = signal.sosfilt(sos, noise, axis=-1)
    return noise / (np.std(noise) + 1e-12)


def _sweep(start_hz: float, end_hz: float, duration_s: float, decay_s: float) -> np.ndarray:
    t = np.arange(int(duration_s * SAMPLE_RATE)) / SAMPLE_RATE
    freq = end_hz + (start_hz - end_hz) * np.exp(-t / 0.03)
    return np.sin(2 * np.pi * np.cumsum(freq) / SAMPLE_RATE) * np.exp(-t / decay_s)


def _synth_loop(kind: str, rng: np.random.Generator) -> np.ndarray:
    """One seamless 8-bar loop (16 s at 120 BPM) of an instrument, ``(2, samples)`` float64."""
    n_loop = int(round(STEPS * STEP_S * SAMPLE_RATE))
    loop = np.zeros((2, n_loop))
    step = lambda s: int(round(s * STEP_S * SAMPLE_RATE))  # noqa: E731
    drums = {
        "kick": ((20.0, 200.0), 0.1), "snare": ((900.0, 8000.0), 0.4), "hats": ((7000.0, 1e9), 0.8),
        "shaker": ((4000.0, 11000.0), 0.9), "clap": ((800.0, 5000.0), 0.7), "toms": ((100.0, 900.0), 0.3),
        "rim": ((1500.0, 6000.0), 0.3), "riser": ((500.0, 12000.0), 0.9),
    }
    if kind in drums:
        band, spread = drums[kind]
        bed = _noise(rng, n_loop, band, spread)

        def burst(at: int, decay_s: float, gain: float, length_s: float = 0.4) -> None:
            m = int(length_s * SAMPLE_RATE)
            t = np.arange(m) / SAMPLE_RATE
            lo = int(rng.integers(0, n_loop - m))
            _place(loop, at, bed[:, lo : lo + m] * (gain * np.exp(-t / decay_s) * np.minimum(t / 5e-4, 1)))

        for s in range(STEPS):
            bar, pos = divmod(s, 16)
            vel = rng.uniform(0.8, 1.0)
            if kind == "kick" and (pos in (0, 8) or (pos == 10 and bar % 2) or (pos == 7 and bar == 7)):
                _place(loop, step(s), vel * _sweep(120.0, 48.0, 0.45, 0.16))
                burst(step(s), 0.004, 0.3 * vel, 0.03)
            elif kind == "snare" and (pos in (4, 12) or (pos in (7, 15) and rng.random() < 0.3)):
                gain = vel if pos in (4, 12) else 0.25 * vel
                _place(loop, step(s), gain * 0.5 * _sweep(230.0, 185.0, 0.3, 0.07))
                burst(step(s), 0.12, gain)
            elif kind == "hats" and pos % 2 == 0:
                burst(step(s), 0.25 if pos == 14 and bar % 2 else 0.035, vel * (1.0 if pos % 4 == 0 else 0.6))
            elif kind == "shaker":
                burst(step(s), 0.05, vel * (0.9 if pos % 2 else 0.5), 0.15)
            elif kind == "clap" and pos in (4, 12) and bar >= 4:
                for k, delay_ms in enumerate((0.0, 11.0, 23.0)):
                    burst(step(s) + int(delay_ms * SAMPLE_RATE / 1000), 0.015 if k < 2 else 0.13, vel)
            elif kind == "toms" and bar in (3, 7) and pos >= 10 and pos % 2 == 0:
                pitch = (180.0, 150.0, 120.0)[min((pos - 10) // 2, 2)]
                _place(loop, step(s), vel * _sweep(pitch * 1.5, pitch, 0.6, 0.25))
                burst(step(s), 0.05, 0.2 * vel)
            elif kind == "rim" and pos in (3, 6, 11, 14) and rng.random() < 0.8:
                t = np.arange(int(0.12 * SAMPLE_RATE)) / SAMPLE_RATE
                ring = (np.sin(2 * np.pi * 820 * t) + 0.6 * np.sin(2 * np.pi * 545 * t)) * np.exp(-t / 0.03)
                _place(loop, step(s), vel * ring)
                burst(step(s), 0.01, 0.5 * vel, 0.05)
            elif kind == "riser" and s % 64 == 32:
                m = step(32)
                ramp = np.linspace(0.0, 1.0, m) ** 2
                lo = int(rng.integers(0, n_loop - m))
                _place(loop, step(s), bed[:, lo : lo + m] * ramp)
        return loop

    tonal = {  # octave shift, harmonics, tilt, attack_s, decay_s, detune (cents), stereo spread
        "bass": (-12, 6, 1.4, 0.005, 0.35, 2.0, 0.1), "sub": (-24, 2, 2.0, 0.02, 1.5, 0.0, 0.0),
        "keys": (0, 10, 1.3, 0.004, 1.0, 4.0, 0.4), "pad": (0, 6, 2.0, 0.5, 4.0, 9.0, 0.8),
        "strings": (12, 9, 1.1, 0.35, 3.0, 12.0, 0.7), "lead": (12, 12, 1.0, 0.01, 0.8, 3.0, 0.25),
        "counter": (0, 8, 1.2, 0.02, 0.6, 5.0, 0.35), "pluck": (12, 8, 1.0, 0.002, 0.13, 6.0, 0.5),
    }
    octave, harmonics, tilt, attack_s, decay_s, detune, spread = tonal[kind]
    notes: list[tuple[int, float, float, float]] = []  # (start step, midi, steps, velocity)
    pitch = 69
    for bar in range(LOOP_BARS):
        chord = CHORDS[bar % len(CHORDS)]
        if kind == "bass":
            for p in range(0, 16, 2):
                notes.append((bar * 16 + p, chord[0] - 12 + (7 if p == 12 else 0), 2.0, 1.0 if p % 4 == 0 else 0.7))
        elif kind == "sub":
            notes += [(bar * 16, chord[0] - 12, 16.0, 1.0)]
        elif kind in ("keys",):
            notes += [(bar * 16 + p, m, 8.0, 0.8) for p in (0, 8) for m in chord]
        elif kind in ("pad", "strings"):
            notes += [(bar * 16, m, 16.0, 0.7) for m in (*chord, chord[0] + 12)]
        elif kind == "pluck":
            arp = (*chord, chord[0] + 12, chord[1] + 12, chord[0] + 12, chord[2], chord[1])
            notes += [(bar * 16 + p, arp[p % len(arp)], 1.0, 0.9 if p % 4 == 0 else 0.6) for p in range(16)]
        else:  # lead and counter melody: a random walk on the pentatonic scale
            p = 0
            while p < 16:
                length = int(rng.choice((2, 2, 4, 4, 6))) if kind == "lead" else 4
                if rng.random() < 0.8:
                    here = PENTATONIC.index(min(PENTATONIC, key=lambda m: abs(m - pitch)))
                    pitch = PENTATONIC[int(np.clip(here + rng.integers(-2, 3), 0, len(PENTATONIC) - 1))]
                    midi = pitch - (12 if kind == "counter" else 0)
                    notes.append((bar * 16 + p, midi, float(length), rng.uniform(0.7, 1.0)))
                p += length
    for start, midi, length, vel in notes:
        # L = a + w b, R = a - w b with b a detuned copy: inter-channel correlation (1-w²)/(1+w²).
        duration_s = length * STEP_S + min(decay_s, 1.0)
        a, b = (
            _tone(
                _hz(midi + octave), duration_s, rng, harmonics=harmonics, tilt=tilt, attack_s=attack_s,
                decay_s=decay_s, detune_cents=cents, vibrato_cents=18.0 if kind == "lead" else 0.0,
            )
            for cents in (0.0, detune)
        )
        _place(loop, step(start), vel * np.stack([a + spread * b, a - spread * b]))
    if kind == "pad":  # an airy noise layer under the chords
        loop += 0.05 * _noise(rng, n_loop, (2000.0, 9000.0), 1.0) * np.abs(loop).max()
    return loop


def synthesise_tracks(n_tracks: int, num_samples: int, seed: int = SEED) -> dict[str, np.ndarray]:
    """Deterministic musical test material: ``{name: (2, num_samples) float32}``.

    Sixteen instruments (drums, bass, chords, pads, melodies, percussion) on a 120 BPM A-minor
    loop of 8 bars, each stereo with partially decorrelated channels (independent noise, detuned
    partials) and its own peak level between -20 and -6 dBFS; the loop is tiled to the length.
    """
    tracks = {}
    for i in range(n_tracks):
        kind = KINDS[i % len(KINDS)]
        name = kind if i < len(KINDS) else f"{kind}{i // len(KINDS) + 1}"
        rng = np.random.default_rng([seed, i])
        loop = _synth_loop(kind, rng)
        loop *= 10.0 ** (rng.uniform(-20.0, -6.0) / 20.0) / (np.abs(loop).max() + 1e-12)
        tracks[name] = _tile(loop.astype(np.float32), num_samples, offset=0)
    return tracks


def _tile(loop: np.ndarray, num_samples: int, offset: int) -> np.ndarray:
    out = np.empty((loop.shape[0], num_samples), np.float32)
    pos, at = 0, offset % loop.shape[1]
    while pos < num_samples:
        m = min(num_samples - pos, loop.shape[1] - at)
        out[:, pos : pos + m] = loop[:, at : at + m]
        pos, at = pos + m, 0
    return out


def demo_stem_tracks(n_tracks: int, num_samples: int) -> dict[str, np.ndarray] | None:
    """The bundled demo stems looped to ``num_samples``, or None when there are none.

    With fewer stems than tracks the stems repeat, each repeat started 3.7 s further into its
    loop; mono stems become stereo with the right channel 0.3 ms late (partly decorrelated).
    """
    files = sorted(DEMO_STEMS.glob("*.flac"))
    if not files:
        return None
    import soundfile  # lazy: only for the demo stems
    import soxr  # lazy: only for the demo stems

    loops = []
    for path in files:
        audio, sample_rate = soundfile.read(path, dtype="float32", always_2d=True)
        if sample_rate != SAMPLE_RATE:
            audio = soxr.resample(audio, sample_rate, SAMPLE_RATE).astype(np.float32)
        audio = audio.T[:2]
        if audio.shape[0] == 1:
            lag = int(0.0003 * SAMPLE_RATE)
            audio = np.stack([audio[0], np.concatenate([np.zeros(lag, np.float32), audio[0, :-lag]])])
        loops.append((path.stem, np.ascontiguousarray(audio)))
    tracks = {}
    for i in range(n_tracks):
        stem, loop = loops[i % len(loops)]
        repeat = i // len(loops)
        name = stem if repeat == 0 else f"{stem}_{repeat + 1}"
        tracks[name] = _tile(loop, num_samples, offset=int(repeat * 3.7 * SAMPLE_RATE))
    return tracks


def make_tracks(n_tracks: int, num_samples: int) -> tuple[dict[str, np.ndarray], str]:
    """Test material and a description of where it came from (demo stems preferred)."""
    stems = demo_stem_tracks(n_tracks, num_samples)
    if stems is not None:
        return stems, f"examples/demo/stems ({len(list(DEMO_STEMS.glob('*.flac')))} files, looped)"
    return synthesise_tracks(n_tracks, num_samples), "synthesised (seeded 8-bar loop, 16 instruments)"


# =============================================================================== the mix
EQ_BANDS = ("low_shelf", "peak1", "peak2", "peak3", "peak4", "high_shelf")
#: Per band: (Hz range for tracks, Q range) -- realistic corrective/tonal moves.
_TRACK_EQ = {
    "low_shelf": ((80.0, 200.0), (0.6, 0.9)),
    "peak1": ((150.0, 400.0), (0.7, 2.0)),
    "peak2": ((500.0, 1500.0), (0.8, 2.5)),
    "peak3": ((2000.0, 4000.0), (0.7, 2.0)),
    "peak4": ((5000.0, 9000.0), (0.7, 2.0)),
    "high_shelf": ((8000.0, 12000.0), (0.6, 0.9)),
}
_MASTER_EQ = {  # band: (Hz, dB, Q)
    "low_shelf": (90.0, 1.5, 0.7), "peak1": (250.0, -1.0, 1.0), "peak2": (900.0, -0.8, 1.2),
    "peak3": (3000.0, 1.0, 1.0), "peak4": (7000.0, 0.8, 0.8), "high_shelf": (11000.0, 2.0, 0.7),
}


def make_scene(names: list[str], seed: int = SEED) -> dict[str, Any]:
    """Every processor on with realistic, non-neutral settings, in mixassist's parameter names.

    Returns ``{"tracks": {name: {param: value}}, "reverb": {...}, "master": {...}}``; the
    pedalboard and dasp-pytorch chains translate these same values.
    """
    tracks = {}
    for i, name in enumerate(names):
        rng = np.random.default_rng([seed, 1000 + i])
        u = lambda lo, hi: round(float(rng.uniform(lo, hi)), 3)  # noqa: E731
        t: dict[str, float] = {
            "gain_db": u(-6.0, 3.0),
            "polarity": -1.0 if i % 7 == 3 else 1.0,
            "delay_ms": u(0.2, 2.0),
            "hpf_hz": u(30.0, 120.0),
        }
        for band in EQ_BANDS:
            (f_lo, f_hi), (q_lo, q_hi) = _TRACK_EQ[band]
            t[f"eq_{band}_hz"] = round(float(np.exp(rng.uniform(np.log(f_lo), np.log(f_hi)))), 2)
            t[f"eq_{band}_db"] = round(float(rng.choice((-1.0, 1.0)) * rng.uniform(1.5, 5.0)), 3)
            t[f"eq_{band}_q"] = u(q_lo, q_hi)
        t.update(
            comp_threshold_db=u(-28.0, -16.0), comp_ratio=u(2.0, 5.0), comp_attack_ms=u(3.0, 25.0),
            comp_release_ms=u(60.0, 250.0), comp_knee_db=u(3.0, 8.0), comp_makeup_db=u(2.0, 6.0),
            pan=u(-0.7, 0.7), width=u(0.6, 1.4), reverb_send_db=u(-22.0, -10.0),
        )
        tracks[name] = t
    reverb = {"rt60_low_s": 1.9, "rt60_mid_s": 1.7, "rt60_high_s": 1.1, "predelay_ms": 20.0, "return_db": -4.0}
    master: dict[str, float] = {}
    for band, (hz, db, q) in _MASTER_EQ.items():
        master.update({f"eq_{band}_hz": hz, f"eq_{band}_db": db, f"eq_{band}_q": q})
    master.update(
        comp_threshold_db=-14.0, comp_ratio=2.0, comp_attack_ms=30.0, comp_release_ms=200.0,
        comp_knee_db=6.0, comp_makeup_db=2.0, output_gain_db=2.0,
        limiter_ceiling_dbtp=-1.0, limiter_release_ms=100.0,
    )
    return {"tracks": tracks, "reverb": reverb, "master": master}


def reverb_ir_length(reverb: dict[str, float]) -> int:
    """Impulse-response length for the peers: pre-delay + 1.2 x the longest RT60, rounded up to
    1024 samples -- the length ``mixassist.console.dsp.reverb.reverb_ir`` documents for ours."""
    longest_s = max(reverb["rt60_low_s"], reverb["rt60_mid_s"], reverb["rt60_high_s"])
    n = math.ceil(reverb["predelay_ms"] / 1000.0 * SAMPLE_RATE) + 1.2 * longest_s * SAMPLE_RATE
    return int(math.ceil(n / 1024.0) * 1024)


def numpy_reverb_ir(reverb: dict[str, float], seed: int = SEED) -> np.ndarray:
    """Stereo decaying-noise IR ``(2, samples)`` float32 with three-band RT60s (for pedalboard)."""
    from scipy import signal  # lazy: phases measure their own peak RSS

    n = reverb_ir_length(reverb)
    pre = int(reverb["predelay_ms"] / 1000.0 * SAMPLE_RATE)
    t = np.arange(n - pre) / SAMPLE_RATE
    rng = np.random.default_rng([seed, 7])
    noise = rng.standard_normal((2, n - pre))
    low = signal.sosfilt(signal.butter(2, 250.0, "lowpass", fs=SAMPLE_RATE, output="sos"), noise)
    high = signal.sosfilt(signal.butter(2, 4000.0, "highpass", fs=SAMPLE_RATE, output="sos"), noise)
    mid = noise - low - high
    decay = lambda rt60_s: np.exp(-math.log(1000.0) * t / rt60_s)  # noqa: E731 (-60 dB at RT60)
    tail = low * decay(reverb["rt60_low_s"]) + mid * decay(reverb["rt60_mid_s"]) + high * decay(reverb["rt60_high_s"])
    ir = np.zeros((2, n), np.float32)
    ir[:, pre:] = tail / np.sqrt(np.sum(tail**2, axis=-1, keepdims=True))
    return ir


def _db(value_db: float) -> float:
    return 10.0 ** (value_db / 20.0)


# =============================================================================== ours
def _ours_params(audios: dict[str, np.ndarray], scene: dict[str, Any]):
    from mixassist.console.params import MixParams  # lazy: phases measure their own peak RSS

    return MixParams(list(audios), tracks=scene["tracks"], reverb=scene["reverb"], master=scene["master"])


def ours_forward(audios: dict[str, np.ndarray], scene: dict[str, Any]) -> Callable[[], np.ndarray]:
    """``Console.render``: the full-length, chunked, no-gradient render."""
    from mixassist.audio.multitrack import Multitrack  # lazy: phases measure their own peak RSS
    from mixassist.console.console import Console  # lazy: phases measure their own peak RSS

    multitrack = Multitrack.from_arrays(audios, SAMPLE_RATE)
    params = _ours_params(audios, scene)
    console = Console(SAMPLE_RATE)
    return lambda: console.render(multitrack, params).mix


def loss_target(tracks) -> Any:
    """The target of :func:`mix_loss`: a plain -12 dB sum of the input tracks, ``(2, samples)``."""
    return sum(tracks) * 0.25


def mix_loss(mix, target) -> Any:
    """Mean-square distance of the mix to the target (the same loss for every engine)."""
    return ((mix - target) ** 2).mean()


def ours_forward_backward(audios: dict[str, np.ndarray], scene: dict[str, Any]) -> Callable[[], dict[str, Any]]:
    """One differentiable ``render_tensors`` block over the whole excerpt, then ``backward``.

    Every tunable schema parameter that is switched on (track, reverb and master) is a leaf
    tensor with ``requires_grad``; the loss is :func:`mix_loss`.
    """
    import torch  # lazy: phases measure their own peak RSS

    from mixassist.console.console import Console, ConsoleSettings  # lazy: phases measure their own peak RSS
    from mixassist.console.schema import SECTIONS  # lazy: phases measure their own peak RSS

    params = _ours_params(audios, scene)
    tensors = [torch.from_numpy(a) for a in audios.values()]
    target = loss_target(tensors)
    console = Console(SAMPLE_RATE)
    tunable = {section: {p.name for p in ps if p.tunable} for section, ps in SECTIONS.items()}

    def step() -> dict[str, Any]:
        settings = ConsoleSettings.from_params(params)
        leaves = []
        for section, values in (("track", settings.track), ("reverb", settings.reverb), ("master", settings.master)):
            for name, value in values.items():
                if name in tunable[section] and not torch.isnan(value).any():
                    values[name] = value.clone().requires_grad_(True)
                    leaves.append(values[name])
        mix, _ = console.render_tensors(tensors, settings)
        loss = mix_loss(mix, target)
        loss.backward()
        return _grad_summary(leaves, loss)

    return step


def _grad_summary(leaves, loss) -> dict[str, Any]:
    import torch  # lazy: phases measure their own peak RSS

    grads = [g.grad for g in leaves if g.grad is not None]  # None: the engine ignores that setting
    return {
        "leaves": len(leaves),
        "with_grad": len(grads),
        "finite_grads": int(sum(bool(torch.isfinite(g).all()) for g in grads)),
        "loss": float(loss.detach()),
    }


# =============================================================================== pedalboard
def _pan_width(y: np.ndarray, pan: float, width: float) -> np.ndarray:
    """Mid/side width, then constant-power balance (numpy; pedalboard has no panner)."""
    mid, side = 0.5 * (y[0] + y[1]), 0.5 * (y[0] - y[1]) * width
    theta = (pan + 1.0) * math.pi / 4.0
    return np.stack([(mid + side) * (math.sqrt(2) * math.cos(theta)), (mid - side) * (math.sqrt(2) * math.sin(theta))])


def pedalboard_forward(
    audios: dict[str, np.ndarray], scene: dict[str, Any], pooled: bool = False
) -> Callable[[], np.ndarray]:
    """The same mix from pedalboard processors; tracks one after the other, or in a thread pool
    (``pooled``, see :func:`pedalboard_forward_pooled`).

    Per track: polarity (numpy) → ``Delay`` → ``HighpassFilter`` (pedalboard's is first order,
    6 dB/oct; ours is 24 dB/oct) → ``LowShelfFilter`` → 4 × ``PeakFilter`` → ``HighShelfFilter`` →
    ``Compressor`` (hard knee) → ``Gain`` (make-up + fader) → pan/width (numpy) → send.
    Reverb bus: ``Convolution`` with :func:`numpy_reverb_ir`.  Master: shelves and peaks,
    ``Compressor``, ``Gain``, ``Limiter`` at -1 dB (sample peak; pedalboard has no true-peak
    limiter).
    """
    import pedalboard as pb  # lazy: benchmark-only peer, loaded by its phase

    def eq(p: dict[str, float]) -> list:
        return [
            pb.LowShelfFilter(p["eq_low_shelf_hz"], p["eq_low_shelf_db"], p["eq_low_shelf_q"]),
            *[pb.PeakFilter(p[f"eq_{b}_hz"], p[f"eq_{b}_db"], p[f"eq_{b}_q"]) for b in EQ_BANDS[1:5]],
            pb.HighShelfFilter(p["eq_high_shelf_hz"], p["eq_high_shelf_db"], p["eq_high_shelf_q"]),
        ]

    def comp(p: dict[str, float]) -> Any:
        return pb.Compressor(p["comp_threshold_db"], p["comp_ratio"], p["comp_attack_ms"], p["comp_release_ms"])

    strips = []
    for name in audios:
        p = scene["tracks"][name]
        board = pb.Pedalboard([
            pb.Delay(delay_seconds=p["delay_ms"] / 1000.0, feedback=0.0, mix=1.0),
            pb.HighpassFilter(p["hpf_hz"]), *eq(p), comp(p), pb.Gain(p["comp_makeup_db"] + p["gain_db"]),
        ])
        strips.append((name, board, p))
    reverb = pb.Pedalboard([pb.Convolution(numpy_reverb_ir(scene["reverb"]), 1.0, SAMPLE_RATE)])
    m = scene["master"]
    master = pb.Pedalboard([
        *eq(m), comp(m), pb.Gain(m["comp_makeup_db"] + m["output_gain_db"]),
        pb.Limiter(m["limiter_ceiling_dbtp"], m["limiter_release_ms"]),
    ])

    def strip(item: tuple[str, Any, dict[str, float]]) -> np.ndarray:
        name, board, p = item
        x = audios[name] * np.float32(p["polarity"])
        return _pan_width(board(x, SAMPLE_RATE, reset=True), p["pan"], p["width"])

    # Each track has its own Pedalboard object, so the strips may run on different threads;
    # pedalboard releases the GIL while it processes.  The pool is made once, outside the timing,
    # as our console's numba threads are.
    pool = ThreadPoolExecutor(max_workers=os.cpu_count() or 1) if pooled else None

    def run() -> np.ndarray:
        n = next(iter(audios.values())).shape[1]
        bus = np.zeros((2, n), np.float32)
        send = np.zeros((2, n), np.float32)
        # map() keeps track order, so the pooled sums are the serial sums, bit for bit
        outputs = pool.map(strip, strips) if pool is not None else map(strip, strips)
        for (_, _, p), y in zip(strips, outputs):
            bus += y
            send += y * np.float32(_db(p["reverb_send_db"]))
        bus += reverb(send, SAMPLE_RATE, reset=True) * np.float32(_db(scene["reverb"]["return_db"]))
        return master(bus, SAMPLE_RATE, reset=True)

    return run


def pedalboard_forward_pooled(audios: dict[str, np.ndarray], scene: dict[str, Any]) -> Callable[[], np.ndarray]:
    """:func:`pedalboard_forward` with the track strips in a thread pool of ``os.cpu_count()``
    workers (the reverb and master buses stay one after the other, as ours do)."""
    return pedalboard_forward(audios, scene, pooled=True)


# =============================================================================== dasp-pytorch
#: Centres of noise_shaped_reverberation's 12 bands (lowpass, 10 octaves, highpass), Hz.
_DASP_REVERB_BANDS_HZ = (12.0, 31.5, 63.0, 125.0, 250.0, 500.0, 1000.0, 2000.0, 4000.0, 8000.0, 16000.0, 18000.0)


def _dasp_reverb_decays(reverb: dict[str, float], ir_samples: int) -> list[float]:
    """Map three-band RT60s to dasp's per-band ``decay`` in (0, 1).

    dasp's envelope is ``exp(-(10 decay + 1) t)`` with ``t`` running 0…1 over the IR, so a band
    reaches -60 dB at RT60 when ``10 decay + 1 = ln(1000) · ir_s / rt60_s``.
    """
    ir_s = ir_samples / SAMPLE_RATE
    points = np.log([125.0, 1000.0, 8000.0])
    rt60 = [reverb["rt60_low_s"], reverb["rt60_mid_s"], reverb["rt60_high_s"]]
    out = []
    for hz in _DASP_REVERB_BANDS_HZ:
        rt = float(np.interp(np.log(hz), points, rt60))
        out.append(float(np.clip((math.log(1000.0) * ir_s / rt - 1.0) / 10.0, 1e-3, 1.0)))
    return out


def dasp_setup(audios: dict[str, np.ndarray], scene: dict[str, Any], requires_grad: bool, reverb_mode: str = "fft"):
    """Settings as tensors (leaves with ``requires_grad`` when asked) and the render function.

    Chain per track (batched over tracks, x shaped (tracks, 2, samples)): polarity → high-pass
    (two Butterworth sections from ``dasp_pytorch.signal.biquad``) and the six EQ bands, in one
    ``sosfilt_via_fsm`` pass exactly as ``functional.parametric_eq`` builds it → ``compressor``
    → ``gain`` → ``stereo_widener`` → ``stereo_panner`` (each input channel panned, so stereo
    stems keep their image) → ``stereo_bus`` post-fader send.  Reverb: the wet-only
    ``noise_shaped_reverberation`` IR (as long as the peers'), applied by FFT convolution
    (``reverb_mode="fft"``, see :func:`_dasp_fft_reverb`) or by dasp's own direct convolution
    (``"native"``).  Master: ``parametric_eq``,
    ``compressor``, ``gain``, and a ``compressor`` at ratio 20 with 0.1 ms attack standing in
    for the limiter (dasp has none).  The alignment delay has no dasp processor and is left out.
    """
    import dasp_pytorch.functional as F  # lazy: benchmark-only peer, loaded by its phase
    import dasp_pytorch.signal as S  # lazy: benchmark-only peer, loaded by its phase
    import torch  # lazy: phases measure their own peak RSS

    names = list(audios)
    rows = [scene["tracks"][n] for n in names]

    def leaf(values, grad: bool = True):
        t = torch.tensor(values, dtype=torch.float32)
        return t.requires_grad_(True) if (requires_grad and grad) else t

    tr = {k: leaf([r[k] for r in rows], grad=k not in ("polarity", "delay_ms")) for k in rows[0]}
    # dasp's pan is 0 (left) … 1 (right); its width keeps the level at 0.5 (side/mid = w/(1-w)).
    m = {k: leaf([v]) for k, v in scene["master"].items()}
    ir_samples = reverb_ir_length(scene["reverb"])
    rv = {
        "decays": leaf(_dasp_reverb_decays(scene["reverb"], ir_samples)),
        "gains": leaf([1.0] * 12),
        "return_db": leaf([scene["reverb"]["return_db"]]),
    }
    leaves = [t for t in (*tr.values(), *m.values(), *rv.values()) if t.requires_grad]
    x_in = torch.stack([torch.from_numpy(a) for a in audios.values()])
    sr = SAMPLE_RATE

    def eq_args(p, prefix=""):
        args = []
        for band in EQ_BANDS:
            args += [p[f"eq_{band}_db"], p[f"eq_{band}_hz"], p[f"eq_{band}_q"]]
        return args

    def track_sos(p):
        sections = []
        for q in (0.5412, 1.3066):  # 4th-order Butterworth = two biquads
            hz = p["hpf_hz"]
            b, a = S.biquad(torch.zeros_like(hz), hz, torch.full_like(hz, q), sr, "high_pass")
            sections.append(torch.cat((b, a), dim=-1))
        for band in EQ_BANDS:
            kind = {"low_shelf": "low_shelf", "high_shelf": "high_shelf"}.get(band, "peaking")
            b, a = S.biquad(p[f"eq_{band}_db"], p[f"eq_{band}_hz"], p[f"eq_{band}_q"], sr, kind)
            sections.append(torch.cat((b, a), dim=-1))
        return torch.stack(sections, dim=1)  # (tracks, 8, 6)

    def render():
        torch.manual_seed(SEED)  # dasp draws the reverb noise with torch.randn
        n_tracks = x_in.shape[0]
        x = x_in * tr["polarity"][:, None, None]
        x = S.sosfilt_via_fsm(track_sos(tr), x)
        x = F.compressor(
            x, sr, tr["comp_threshold_db"], tr["comp_ratio"], tr["comp_attack_ms"], tr["comp_release_ms"],
            tr["comp_knee_db"], tr["comp_makeup_db"],
        )
        x = F.gain(x, sr, tr["gain_db"])
        x = F.stereo_widener(x, sr, (tr["width"] / (1.0 + tr["width"]))[:, None])
        pan01 = (tr["pan"] + 1.0) / 2.0
        x = F.stereo_panner(x, sr, torch.stack((0.5 * pan01, 0.5 + 0.5 * pan01), dim=1)).sum(dim=2)
        tracks = x.permute(1, 0, 2).unsqueeze(0)  # (1, 2, tracks, samples)
        bus = tracks.sum(dim=2)
        send = F.stereo_bus(tracks, sr, tr["reverb_send_db"].view(1, n_tracks, 1))
        g, d = rv["gains"], rv["decays"]
        if reverb_mode == "native":
            wet = F.noise_shaped_reverberation(
                send, sr, *[g[i : i + 1] for i in range(12)], *[d[i : i + 1] for i in range(12)],
                torch.ones(1), num_samples=ir_samples,
            )
        else:
            wet = _dasp_fft_reverb(send, g, d, ir_samples)
        bus = bus + wet * 10.0 ** (rv["return_db"] / 20.0)
        y = F.parametric_eq(bus, sr, *eq_args(m))
        y = F.compressor(
            y, sr, m["comp_threshold_db"], m["comp_ratio"], m["comp_attack_ms"], m["comp_release_ms"],
            m["comp_knee_db"], m["comp_makeup_db"],
        )
        y = F.gain(y, sr, m["output_gain_db"])
        one = torch.ones(1)
        y = F.compressor(  # the limiter's stand-in: ratio 20, 0.1 ms attack, 0.5 dB knee
            y, sr, m["limiter_ceiling_dbtp"], 20.0 * one, 0.1 * one, m["limiter_release_ms"], 0.5 * one, 0.0 * one
        )
        return y[0]

    return render, leaves, x_in


def _dasp_fft_reverb(x, band_gains, band_decays, ir_samples: int):
    """``noise_shaped_reverberation`` (mix = 1) with its final convolution done by FFT.

    The impulse response is built line for line as dasp builds it (octave filterbank on white
    noise, per-band exponential envelopes, band mean; same ``torch.randn`` draw, so the same IR
    for the same seed); only dasp's direct ``conv1d`` of the signal with the IR is replaced.
    On CPU that convolution runs at well under 1 GMAC/s and would take minutes per pass
    here, which would measure a PyTorch convolution corner case rather than dasp's design.
    """
    import dasp_pytorch.signal as S  # lazy: benchmark-only peer, loaded by its phase
    import torch  # lazy: phases measure their own peak RSS

    n_taps = 1023
    filters = S.octave_band_filterbank(n_taps, SAMPLE_RATE).type_as(x)
    n_bands = filters.shape[0]
    noise = torch.randn(2, n_bands, ir_samples + n_taps - 1).type_as(x)
    bands = torch.nn.functional.conv1d(noise, filters, groups=n_bands).view(1, 2, n_bands, ir_samples)
    t = torch.linspace(0, 1, steps=ir_samples).type_as(x)
    env = torch.exp(-(band_decays.view(1, 1, n_bands, 1) * 10.0 + 1.0) * t.view(1, 1, 1, -1))
    ir = (bands * env * band_gains.view(1, 1, n_bands, 1)).mean(2)  # (1, 2, ir_samples)
    n = x.shape[-1]
    n_fft = 2 ** math.ceil(math.log2(n + ir_samples - 1))
    wet = torch.fft.irfft(torch.fft.rfft(x, n_fft) * torch.fft.rfft(ir, n_fft), n_fft)
    return wet[..., :n]


def dasp_forward(audios: dict[str, np.ndarray], scene: dict[str, Any], reverb_mode: str = "fft") -> Callable[[], Any]:
    import torch  # lazy: phases measure their own peak RSS

    render, _, _ = dasp_setup(audios, scene, requires_grad=False, reverb_mode=reverb_mode)

    def run():
        with torch.no_grad():
            return render()

    return run


def dasp_forward_backward(
    audios: dict[str, np.ndarray], scene: dict[str, Any], reverb_mode: str = "fft"
) -> Callable[[], dict[str, Any]]:
    render, leaves, x_in = dasp_setup(audios, scene, requires_grad=True, reverb_mode=reverb_mode)
    target = loss_target(x_in.unbind(0))

    def step() -> dict[str, Any]:
        for t in leaves:
            t.grad = None
        loss = mix_loss(render(), target)
        loss.backward()
        return _grad_summary(leaves, loss)

    return step


def _dasp_fft_length(num_samples: int) -> int:
    return 2 ** math.ceil(math.log2(2 * num_samples - 1))


def _dasp_need_bytes(phase: str, n_tracks: int, num_samples: int) -> float:
    return DASP_BASE_BYTES + DASP_BYTES_PER_TRACK_BIN[phase] * (n_tracks + 1) * _dasp_fft_length(num_samples)


# =============================================================================== phases (child side)
def _peak_rss_bytes() -> float:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return float(line.split()[1]) * 1024.0
    except OSError:
        pass
    scale = 1.0 if sys.platform == "darwin" else 1024.0  # ru_maxrss: bytes on macOS, KiB on Linux
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale


def _volunteer_for_oom_killer() -> None:
    """Make this process the kernel's first choice if memory runs out (shared machines)."""
    try:
        Path("/proc/self/oom_score_adj").write_text("1000")
    except OSError:
        pass


def _reset_peak_rss() -> bool:
    """Reset VmHWM to the current RSS (Linux >= 4.0); False where not possible."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


ENGINES = {
    "ours_forward": ours_forward,
    "ours_forward_backward": ours_forward_backward,
    "pedalboard_forward": pedalboard_forward,
    "pedalboard_forward_pooled": pedalboard_forward_pooled,
    "dasp_forward": dasp_forward,
    "dasp_forward_backward": dasp_forward_backward,
}


def run_phase(phase: str, duration_s: float, n_tracks: int, repeats: int, dasp_reverb: str = "fft") -> dict[str, Any]:
    """Run one phase in this process and return its measurements."""
    num_samples = int(round(duration_s * SAMPLE_RATE))
    if phase.startswith("dasp"):
        _volunteer_for_oom_killer()
    if phase == "ours_render_5min":
        return _long_render(duration_s, n_tracks)
    t0 = time.perf_counter()
    audios, source = make_tracks(n_tracks, num_samples)
    scene = make_scene(list(audios))
    log(f"{phase}: material ready ({source}, {time.perf_counter() - t0:.1f} s); setting up")
    options = {"reverb_mode": dasp_reverb} if phase.startswith("dasp") else {}
    fn = ENGINES[phase](audios, scene, **options)
    gc.collect()
    reset = _reset_peak_rss()
    runs, cpu, info = [], [], None
    for i in range(repeats + 1):
        c0, w0 = time.process_time(), time.perf_counter()
        info = fn()
        wall = time.perf_counter() - w0
        cpu_s = time.process_time() - c0
        label = "warm-up" if i == 0 else f"run {i}/{repeats}"
        log(f"{phase}: {label}: {wall:.3f} s (cpu {cpu_s:.2f} s)")
        if i:
            runs.append(wall)
            cpu.append(cpu_s)
        info = info if isinstance(info, dict) else None  # drop the rendered audio before the next run
        gc.collect()
    out = {
        "runs_s": [round(r, 4) for r in runs],
        "median_s": statistics.median(runs),
        "cpu_median_s": statistics.median(cpu),
        "peak_rss_gb": _peak_rss_bytes() / GB,
        "peak_reset_after_inputs": reset,
        "input_gb": sum(a.nbytes for a in audios.values()) / GB,
        "audio_source": source,
    }
    if info:
        out["grad_check"] = info
    return out


def _long_render(duration_s: float, n_tracks: int) -> dict[str, Any]:
    """``Console.render`` of a long session once, measuring the peak RSS including the inputs."""
    # Warm up on 30 s (several chunks), so that the kernels for full-size blocks are compiled
    # outside the measurement too; short blocks take other code paths.
    warm, _ = make_tracks(n_tracks, int(min(duration_s, 30.0) * SAMPLE_RATE))
    ours_forward(warm, make_scene(list(warm)))()
    del warm
    num_samples = int(round(duration_s * SAMPLE_RATE))
    audios, source = make_tracks(n_tracks, num_samples)
    fn = ours_forward(audios, make_scene(list(audios)))
    gc.collect()
    reset = _reset_peak_rss()
    log(f"ours_render_5min: rendering {n_tracks} x {duration_s:g} s")
    w0, c0 = time.perf_counter(), time.process_time()
    fn()
    wall, cpu_s = time.perf_counter() - w0, time.process_time() - c0
    log(f"ours_render_5min: {wall:.2f} s (cpu {cpu_s:.2f} s)")
    return {
        "runs_s": [round(wall, 4)],
        "median_s": wall,
        "cpu_median_s": cpu_s,
        "peak_rss_gb": _peak_rss_bytes() / GB,
        "peak_reset_after_inputs": reset,
        "input_gb": sum(a.nbytes for a in audios.values()) / GB,
        "audio_source": source,
    }


# =============================================================================== driver (parent side)
def _mem_available_bytes() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return float(line.split()[1]) * 1024.0
    except OSError:
        pass
    return None


def _spawn(phase: str, args: argparse.Namespace, duration_s: float) -> dict[str, Any]:
    cmd = [
        sys.executable, str(Path(__file__).resolve()), "--phase", phase, "--seconds", repr(duration_s),
        "--tracks", str(args.tracks), "--repeats", str(args.repeats), "--dasp-reverb", args.dasp_reverb,
    ]
    log(f"--- {phase} ({args.tracks} tracks x {duration_s:g} s)")
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, text=True)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode != 0 or not lines:
        reason = f"subprocess exited with {proc.returncode}"
        if proc.returncode in (-9, 137):
            reason += " (killed: out of memory?)"
        return {"error": reason}
    return json.loads(lines[-1])


def _dasp_estimate(phase: str, args: argparse.Namespace, free: float) -> dict[str, Any] | None:
    """Measure a dasp phase on the longest halved excerpt that fits in memory, scaled up.

    dasp's cost follows its FFT length (the next power of two >= 2n-1), which halves with
    the excerpt, so the time is scaled by the ratio of FFT lengths.  This flatters dasp: for
    16 tracks x 30 s, 15 s scaled gave 61 s where the full size measured 81 s.
    """
    full = int(round(args.seconds * SAMPLE_RATE))
    duration_s = args.seconds
    while duration_s > 1.0:
        duration_s /= 2.0
        if _dasp_need_bytes(phase, args.tracks, int(round(duration_s * SAMPLE_RATE))) <= MEMORY_HEADROOM * free:
            break
    else:
        return None
    part = _spawn(phase, args, duration_s)
    if "median_s" not in part:
        return None
    scale = _dasp_fft_length(full) / _dasp_fft_length(int(round(duration_s * SAMPLE_RATE)))
    return {
        "estimate_s": part["median_s"] * scale,
        "estimate_basis": f"measured at {duration_s:g} s (median {part['median_s']:.2f} s, peak RSS "
        f"{part['peak_rss_gb']:.2f} GB) and scaled x{scale:g} by FFT length",
        "partial": part,
    }


def _ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or not b else round(a / b, 4)


def run_all(args: argparse.Namespace) -> dict[str, Any]:
    import torch  # lazy: phases measure their own peak RSS

    started = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    load_start = _load_average()
    num_samples = int(round(args.seconds * SAMPLE_RATE))
    phases = [
        "ours_forward", "ours_forward_backward", "ours_render_5min",
        "pedalboard_forward", "pedalboard_forward_pooled", "dasp_forward", "dasp_forward_backward",
    ]
    results: dict[str, dict[str, Any]] = {}
    for phase in phases:
        if phase.startswith("dasp") and args.skip_dasp:
            results[phase] = {"skipped": "--skip-dasp"}
            continue
        if phase.startswith("dasp"):
            need, free = _dasp_need_bytes(phase, args.tracks, num_samples), _mem_available_bytes()
            if free is not None and need > MEMORY_HEADROOM * free:
                reason = f"needs about {need / GB:.1f} GB, {free / GB:.1f} GB available"
                log(f"--- {phase}: full size skipped, {reason}")
                results[phase] = {"skipped": reason}
                estimate = _dasp_estimate(phase, args, free)
                if estimate:
                    results[phase].update(estimate)
                continue
        duration_s = args.long_seconds if phase == "ours_render_5min" else args.seconds
        results[phase] = _spawn(phase, args, duration_s)

    med = {k: (round(v["median_s"], 4) if "median_s" in v else None) for k, v in results.items()}
    # The peer's figure is the better of its serial and pooled variants (equal thread use: ours
    # runs its kernels on every core, so pedalboard may too); both stay in the JSON.
    variants = {k: med[k] for k in ("pedalboard_forward", "pedalboard_forward_pooled") if med[k] is not None}
    best_pb = min(variants, key=lambda k: variants[k]) if variants else None
    out: dict[str, Any] = {
        "ours_forward_s": med["ours_forward"],
        "ours_forward_backward_s": med["ours_forward_backward"],
        "pedalboard_forward_s": None if best_pb is None else med[best_pb],
        "pedalboard_forward_variant": None if best_pb is None else ("pooled" if best_pb.endswith("pooled") else "serial"),
        "pedalboard_forward_serial_s": med["pedalboard_forward"],
        "pedalboard_forward_pooled_s": med["pedalboard_forward_pooled"],
        "pedalboard_pool_workers": os.cpu_count(),
        "dasp_forward_s": med["dasp_forward"],
        "dasp_forward_backward_s": med["dasp_forward_backward"],
        "peak_rss_forward_backward_gb": _rounded(results["ours_forward_backward"].get("peak_rss_gb")),
        "render_5min_peak_rss_gb": _rounded(results["ours_render_5min"].get("peak_rss_gb")),
        "render_5min_input_gb": _rounded(results["ours_render_5min"].get("input_gb")),
        "render_5min_s": med["ours_render_5min"],
        "forward_vs_pedalboard": _ratio(med["ours_forward"], None if best_pb is None else med[best_pb]),
        "forward_vs_pedalboard_serial": _ratio(med["ours_forward"], med["pedalboard_forward"]),
        "forward_vs_pedalboard_pooled": _ratio(med["ours_forward"], med["pedalboard_forward_pooled"]),
        "forward_backward_vs_dasp": _ratio(med["ours_forward_backward"], med["dasp_forward_backward"]),
        "dasp_forward_backward_s_estimate": _rounded(results["dasp_forward_backward"].get("estimate_s"), 4),
        "dasp_forward_backward_estimate_basis": results["dasp_forward_backward"].get("estimate_basis"),
        "forward_backward_vs_dasp_estimate": _ratio(
            med["ours_forward_backward"],
            results["dasp_forward_backward"].get("median_s") or results["dasp_forward_backward"].get("estimate_s"),
        ),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "tracks": args.tracks,
        "seconds": args.seconds,
        "render_5min_seconds": args.long_seconds,
        "sample_rate": SAMPLE_RATE,
        "repeats": args.repeats,
        "dasp_reverb": args.dasp_reverb,
        "input_gb": _rounded(args.tracks * 2 * num_samples * 4 / GB),
        "audio_source": next((v["audio_source"] for v in results.values() if "audio_source" in v), None),
        "peak_rss_gb": {k: _rounded(v.get("peak_rss_gb")) for k, v in results.items()},
        "cpu_s": {k: _rounded(v.get("cpu_median_s")) for k, v in results.items()},
        "runs_s": {k: v.get("runs_s") for k, v in results.items()},
        "grad_check": {k: v["grad_check"] for k, v in results.items() if "grad_check" in v},
        "partial_runs": {k: v["partial"] for k, v in results.items() if "partial" in v},
        "not_measured": {k: v.get("error") or v.get("skipped") for k, v in results.items() if "median_s" not in v},
        "load_avg_1min": {"start": load_start, "end": _load_average()},
        "date": started,
        "machine": f"{platform.machine()}, {platform.processor() or platform.system()}, "
        f"python {platform.python_version()}, torch {torch.__version__}",
    }
    out["targets_met"] = {
        meaning: (None if out[key] is None else bool(out[key] <= limit)) for key, limit, meaning in TARGETS
    }
    out["_errors"] = [k for k, v in results.items() if "error" in v]
    return out


def _load_average() -> float | None:
    """1-minute load average: other work on the machine shows up here (and in wall times)."""
    return round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None


def _rounded(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(value, digits)


def print_table(out: dict[str, Any]) -> None:
    rows = [
        ("ours forward (Console.render)", "ours_forward_s", "ours_forward"),
        ("ours forward+backward", "ours_forward_backward_s", "ours_forward_backward"),
        (f"ours render {out['render_5min_seconds']:g} s (once)", "render_5min_s", "ours_render_5min"),
        ("pedalboard forward, serial", "pedalboard_forward_serial_s", "pedalboard_forward"),
        (f"pedalboard forward, {out['pedalboard_pool_workers']} threads", "pedalboard_forward_pooled_s",
         "pedalboard_forward_pooled"),
        ("dasp-pytorch forward", "dasp_forward_s", "dasp_forward"),
        ("dasp-pytorch forward+backward", "dasp_forward_backward_s", "dasp_forward_backward"),
    ]
    print(f"{out['tracks']} tracks x {out['seconds']:g} s stereo at {out['sample_rate']} Hz "
          f"(inputs {out['input_gb']} GB; {out['audio_source']}); {out['cpu_count']} cores, "
          f"{out['torch_threads']} torch threads, load average {out['load_avg_1min']['start']} at the start, "
          f"{out['load_avg_1min']['end']} at the end")
    print(f"{'phase':<34} {'median s':>9} {'cpu s':>8} {'peak RSS GB':>12}  note")
    for label, key, phase in rows:
        t = out[key]
        note = out["not_measured"].get(phase) or ""
        print(f"{label:<34} {('-' if t is None else f'{t:.3f}'):>9} {str(out['cpu_s'].get(phase) or '-'):>8} "
              f"{str(out['peak_rss_gb'].get(phase) or '-'):>12}  {note}")
    for key, limit, meaning in TARGETS:
        value, met = out[key], out["targets_met"][meaning]
        verdict = "n/a" if met is None else ("met" if met else "MISSED")
        print(f"{key:<30} {('-' if value is None else value)!s:>8}   target: {meaning}: {verdict}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], epilog="Targets and results: benchmarks/README.md"
    )
    add = parser.add_argument
    add("--seconds", type=float, default=30.0, help="length of each track (default 30)")
    add("--tracks", type=int, default=16, help="number of stereo tracks (default 16)")
    add("--repeats", type=int, default=3, help="timed runs after one warm-up; the median is reported (default 3)")
    add("--skip-dasp", action="store_true", help="leave out dasp-pytorch (its forward+backward needs ~20 GB)")
    add("--long-seconds", type=float, default=300.0, help="length of the long no-gradient render (default 300)")
    add(
        "--dasp-reverb", choices=("fft", "native"), default="fft",
        help="dasp's noise-shaped reverb IR applied by FFT (default), or by its own direct conv1d (slow on CPU)",
    )
    add("--json", action="store_true", help="print one line of JSON only")
    add("--phase", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.seconds <= 0 or args.tracks < 1 or args.repeats < 1 or args.long_seconds <= 0:
        parser.error("--seconds, --long-seconds, --tracks and --repeats must be positive")

    if args.phase:
        try:
            result = run_phase(args.phase, args.seconds, args.tracks, args.repeats, args.dasp_reverb)
        except Exception as exc:  # reported to the parent, which carries on with the other phases
            traceback.print_exc()
            first = (str(exc).strip().splitlines() or [""])[0]
            result = {"error": f"{type(exc).__name__}: {first} (traceback on stderr)"}
        print(json.dumps(result), flush=True)
        return 0

    out = run_all(args)
    errors = out.pop("_errors")
    if not args.json:
        print_table(out)
    print(json.dumps(out, separators=(",", ":")), flush=True)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
