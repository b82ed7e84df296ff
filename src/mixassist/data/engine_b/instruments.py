"""Engine B's sound sources: its own additive/FM/plucked voices and drums, CC0 one-shots, fluidsynth.

A *note* is ``(start_s, duration_s, midi_pitch, velocity 1-127)``. Every voice renders a list of
notes into a mono float array of ``length`` samples; nothing here depends on the training
synthesiser (``mixassist.data.synth``), whose parts all come from soundfonts and Hydrogen kits.

* ``fm``: two-operator FM (Chowning 1973) with an index envelope: electric piano, bells, bass;
* ``additive``: a sum of harmonics with a slow envelope (organ/pad; two detuned copies make a stereo pad);
* ``pluck``: Karplus-Strong string (guitar, harp-like, bass);
* drums synthesised from first principles (pitch-swept sine kick, noise+tone snare, metallic hats)
  or one-shots from the Audiophob kit (CC0, the only kit engine B reads);
* fluidsynth renders of General MIDI programs the training synthesiser never draws
  (:data:`GM_PROGRAMS`) from FluidR3_GM, through a small Standard MIDI File writer of its own.
"""

from __future__ import annotations

import functools
import math
import shutil
import struct
import subprocess
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

import numba
import numpy as np
import soundfile as sf
from scipy import signal

from mixassist.errors import MissingDependencyError, MixAssistError

__all__ = [
    "AUDIOPHOB",
    "GM_PROGRAMS",
    "Note",
    "additive_voice",
    "drum_hit",
    "fluidsynth_available",
    "fluidsynth_voice",
    "fm_voice",
    "karplus_strong",
    "midi_file_bytes",
    "pluck_voice",
    "sample_hit",
]

Note = tuple[float, float, int, int]

#: General MIDI programs engine B renders with fluidsynth; none is drawn by the training synthesiser.
GM_PROGRAMS = {
    "harpsichord": 6, "clavinet": 7, "marimba": 12, "xylophone": 13, "dulcimer": 15, "church_organ": 19,
    "accordion": 21, "harmonica": 22, "nylon_guitar": 24, "muted_guitar": 28, "fretless_bass": 35,
    "slap_bass": 36, "viola": 41, "cello": 42, "contrabass": 43, "pizzicato": 45, "choir_ooh": 52,
    "tuba": 58, "muted_trumpet": 59, "french_horn": 60, "brass_section": 61, "soprano_sax": 64,
    "baritone_sax": 67, "oboe": 68, "english_horn": 69, "bassoon": 70, "piccolo": 72, "recorder": 74,
    "pan_flute": 75, "sitar": 104, "banjo": 105, "kalimba": 108, "fiddle": 110, "steel_drums": 114,
}  # fmt: skip

SOUNDFONT = Path("/usr/share/sounds/sf2/FluidR3_GM.sf2")
AUDIOPHOB = Path("/usr/share/hydrogen/data/drumkits/Audiophob")
#: Audiophob (CC0) one-shots by drum.
AUDIOPHOB_FILES = {
    "kick": "86335__zgump__tom-0105.wav",
    "snare": "25671__walter-odington__garage-city-snare-snappy.wav",
    "hat": "116973__cbeeching__hat-light.wav",
    "open_hat": "104227__minorr__hhat-paiste-302-14-open-p.wav",
    "clap": "29800__stomachache__3.wav",
    "ride": "15590__lewis__sabmute.wav",
}


def _hz(pitch: float) -> float:
    return 440.0 * 2.0 ** ((pitch - 69.0) / 12.0)


def _envelope(n: int, sr: int, attack: float, decay: float, sustain: float, release: float, held: int) -> np.ndarray:
    t = np.arange(n) / sr
    env = np.where(
        t < attack, t / max(attack, 1e-4), sustain + (1 - sustain) * np.exp(-(t - attack) / max(decay, 1e-3))
    )
    after = np.arange(n) - held
    return env * np.where(after > 0, np.exp(-after / (max(release, 1e-3) * sr)), 1.0)


def _place(out: np.ndarray, start: int, sound: np.ndarray) -> None:
    end = min(out.shape[-1], start + sound.shape[-1])
    if start < end:
        out[..., start:end] += sound[..., : end - start]


def _render_notes(
    notes: Sequence[Note],
    length: int,
    sr: int,
    release: float,
    sound: Callable[[np.ndarray, float, int, int], np.ndarray],
) -> np.ndarray:
    """Each note's ``sound(t, f, held, n)`` (``t`` the note's time axis, ``n`` samples, ``held`` until note off),
    scaled by velocity and placed at its start."""
    out = np.zeros(length)
    for start, dur, pitch, vel in notes:
        held = int(dur * sr)
        n = min(held + int(release * sr * 5), length)
        _place(out, int(start * sr), sound(np.arange(n) / sr, _hz(pitch), held, n) * (vel / 127.0))
    return out


def fm_voice(
    notes: Sequence[Note], length: int, sr: int, *, ratio: float = 1.0, index: float = 2.0, decay: float = 0.6,
    sustain: float = 0.3, release: float = 0.15,
) -> np.ndarray:  # fmt: skip
    """Two-operator FM: ``sin(2π f t + I e(t) sin(2π r f t))``, the index following the amplitude envelope."""

    def sound(t: np.ndarray, f: float, held: int, n: int) -> np.ndarray:
        env = _envelope(n, sr, 0.004, decay, sustain, release, held)
        return np.sin(2 * np.pi * f * t + index * env * np.sin(2 * np.pi * ratio * f * t)) * env

    return _render_notes(notes, length, sr, release, sound)


def additive_voice(
    notes: Sequence[Note], length: int, sr: int, *, harmonics: Sequence[float] = (1.0, 0.5, 0.3, 0.2, 0.1),
    attack: float = 0.08, release: float = 0.3, detune_cents: float = 0.0,
) -> np.ndarray:  # fmt: skip
    """A sum of harmonics ``k f`` with amplitudes ``harmonics[k-1]``, slow attack (organ, pad)."""
    detune = 2.0 ** (detune_cents / 1200.0)

    def sound(t: np.ndarray, f: float, held: int, n: int) -> np.ndarray:
        tone = sum(
            a * np.sin(2 * np.pi * k * f * detune * t) for k, a in enumerate(harmonics, 1) if k * f * detune < sr / 2.2
        )
        return np.asarray(tone) * _envelope(n, sr, attack, 1.0, 0.8, release, held)

    return _render_notes(notes, length, sr, release, sound)


@numba.njit(cache=True)
def karplus_strong(excitation: np.ndarray, period: int, n: int, loss: float) -> np.ndarray:  # pragma: no cover
    """Karplus-Strong: ``y[i] = x[i] + loss · (y[i-P] + y[i-P-1]) / 2`` (x the excitation, zero after it)."""
    y = np.zeros(n)
    for i in range(n):
        x = excitation[i] if i < excitation.shape[0] else 0.0
        a = y[i - period] if i >= period else 0.0
        b = y[i - period - 1] if i >= period + 1 else 0.0
        y[i] = x + loss * 0.5 * (a + b)
    return y


def pluck_voice(
    notes: Sequence[Note], length: int, sr: int, *, rng: np.random.Generator, loss: float = 0.996
) -> np.ndarray:
    """Plucked strings: a noise burst one period long into :func:`karplus_strong`, damped at note off."""
    out = np.zeros(length)
    for start, dur, pitch, vel in notes:
        period = max(int(round(sr / _hz(pitch))), 2)
        n = min(int((dur + 0.3) * sr), length)
        tone = karplus_strong(rng.uniform(-1, 1, period), period, n, loss)
        held = int(dur * sr)
        tone[held:] *= np.exp(-np.arange(n - held) / (0.05 * sr))
        _place(out, int(start * sr), tone * (vel / 127.0))
    return out


def drum_hit(kind: str, sr: int, rng: np.random.Generator, tone: float = 1.0) -> np.ndarray:
    """One synthesised drum hit: ``kick``, ``snare``, ``hat``, ``open_hat``, ``clap``, ``ride``."""
    if kind == "kick":
        n = int(0.45 * sr)
        t = np.arange(n) / sr
        f = 45.0 * tone + 110.0 * np.exp(-t / 0.04)
        phase = 2 * np.pi * np.cumsum(f) / sr
        click = rng.standard_normal(n) * np.exp(-t / 0.002) * 0.3
        return np.sin(phase) * np.exp(-t / 0.18) + click
    if kind in ("snare", "clap"):
        n = int(0.3 * sr)
        t = np.arange(n) / sr
        noise = signal.sosfilt(signal.butter(2, [1500, 9000], "bandpass", fs=sr, output="sos"), rng.standard_normal(n))
        if kind == "clap":
            env = (
                sum(np.exp(-np.maximum(t - d, 0) / 0.01) * (t >= d) for d in (0.0, 0.011, 0.023))
                + np.exp(-t / 0.08) * 0.5
            )
            return noise * env * 0.6
        body = np.sin(2 * np.pi * 185.0 * tone * t) * np.exp(-t / 0.05)
        return 0.7 * noise * np.exp(-t / 0.07) + body
    if kind in ("hat", "open_hat", "ride"):
        decay = {"hat": 0.04, "open_hat": 0.3, "ride": 0.8}[kind]
        n = int(min(decay * 5, 1.5) * sr)
        t = np.arange(n) / sr
        metal = sum(np.sign(np.sin(2 * np.pi * f * tone * t)) for f in (205.3, 304.4, 369.6, 522.7, 540.0, 800.0))
        hp = signal.butter(4, 7000 if kind != "ride" else 4000, "highpass", fs=sr, output="sos")
        return signal.sosfilt(hp, np.asarray(metal) * 0.15 + rng.standard_normal(n) * 0.3) * np.exp(-t / decay)
    raise MixAssistError(f"engine B has no drum {kind!r}")


@functools.lru_cache(maxsize=16)
def _one_shot(name: str, sr: int) -> np.ndarray:
    audio, rate = sf.read(AUDIOPHOB / AUDIOPHOB_FILES[name], dtype="float64", always_2d=True)
    mono = audio.mean(axis=1)
    if rate != sr:
        g = math.gcd(int(rate), sr)
        mono = signal.resample_poly(mono, sr // g, int(rate) // g)
    return mono / max(np.abs(mono).max(), 1e-9)


def sample_hit(kind: str, sr: int) -> np.ndarray | None:
    """An Audiophob one-shot for ``kind``, or None where the kit is not installed."""
    if kind not in AUDIOPHOB_FILES or not (AUDIOPHOB / AUDIOPHOB_FILES[kind]).exists():
        return None
    return _one_shot(kind, sr).copy()


# ----------------------------------------------------------------- fluidsynth


def _vlq(value: int) -> bytes:
    out = [value & 0x7F]
    value >>= 7
    while value:
        out.append(0x80 | (value & 0x7F))
        value >>= 7
    return bytes(reversed(out))


def midi_file_bytes(notes: Sequence[Note], program: int, *, ticks_per_second: int = 1000) -> bytes:
    """A format-0 Standard MIDI File: one channel, ``program``, the notes; 1 tick = 1 ms (tempo 500000 µs, 500 PPQ)."""
    events: list[tuple[int, int, bytes]] = []
    for start, dur, pitch, vel in notes:
        on, off = int(round(start * ticks_per_second)), int(round((start + dur) * ticks_per_second))
        events.append((on, 1, bytes([0x90, pitch & 0x7F, max(1, min(vel, 127))])))
        events.append((max(off, on + 1), 0, bytes([0x80, pitch & 0x7F, 0])))
    events.sort(key=lambda e: (e[0], e[1]))
    track = b"\x00\xff\x51\x03" + (500000).to_bytes(3, "big") + b"\x00" + bytes([0xC0, program & 0x7F])
    track += b"\x00" + bytes([0xB0, 91, 0]) + b"\x00" + bytes([0xB0, 93, 0])  # no reverb, no chorus sends
    now = 0
    for tick, _, data in events:
        track += _vlq(tick - now) + data
        now = tick
    track += b"\x00\xff\x2f\x00"
    header = b"MThd" + struct.pack(">IHHH", 6, 0, 1, ticks_per_second // 2)
    return header + b"MTrk" + struct.pack(">I", len(track)) + track


def fluidsynth_available() -> bool:
    """True when the fluidsynth CLI and FluidR3_GM are installed."""
    return shutil.which("fluidsynth") is not None and SOUNDFONT.exists()


def fluidsynth_voice(notes: Sequence[Note], length: int, sr: int, program: int) -> np.ndarray:
    """``notes`` played by GM ``program`` of FluidR3_GM (fluidsynth, reverb and chorus off), stereo ``(2, length)``."""
    exe = shutil.which("fluidsynth")
    if exe is None or not SOUNDFONT.exists():
        raise MissingDependencyError(
            "engine B renders GM parts with fluidsynth: apt-get install fluidsynth fluid-soundfont-gm"
        )
    with tempfile.TemporaryDirectory(prefix="engine_b_") as tmp:
        mid, wav = Path(tmp) / "part.mid", Path(tmp) / "part.wav"
        mid.write_bytes(midi_file_bytes(notes, program))
        cmd = [exe, "-ni", "-q", "-g", "0.6", "-r", str(sr), "-R", "0", "-C", "0", "-T", "wav", "-O", "float",
               "-F", str(wav), str(SOUNDFONT), str(mid)]  # fmt: skip
        proc = subprocess.run(cmd, capture_output=True, timeout=120, check=False)
        if proc.returncode != 0 or not wav.exists():
            raise MixAssistError(
                f"fluidsynth failed on program {program}: {proc.stderr.decode(errors='replace')[-300:]}"
            )
        audio, _ = sf.read(wav, dtype="float64", always_2d=True)
    out = np.zeros((2, length))
    m = min(length, audio.shape[0])
    out[:, :m] = audio[:m].T[:2]
    return out
