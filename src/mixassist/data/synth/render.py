"""Rendering melodic parts to audio with the fluidsynth CLI (reverb and chorus off: dry stems).

The renderer is an object with one method, :meth:`FluidSynthRenderer.render`, so tests and
other back ends can inject their own (see :class:`Renderer`).  All parts of a song go into
one MIDI file, one segment per part (:func:`~mixassist.data.synth.midi.write_multiplexed_midi`),
so a song costs one fluidsynth process and one soundfont load.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import soundfile as sf

from mixassist.audio.io import resample
from mixassist.data.synth.midi import Part, segment_beats, write_multiplexed_midi
from mixassist.errors import MissingDependencyError, MixAssistError

__all__ = [
    "SOUNDFONTS",
    "SoundFont",
    "Renderer",
    "FluidSynthRenderer",
    "SynthesisError",
    "find_soundfont",
]

log = logging.getLogger(__name__)


class SynthesisError(MixAssistError, RuntimeError):
    """An external renderer (fluidsynth) failed or misbehaved while making a song."""


@dataclass(frozen=True)
class SoundFont:
    """A General MIDI soundfont the synthesiser may draw.

    Attributes
    ----------
    key : str
        Short name recorded in ``song.json`` when no file is found (normally the file stem).
    candidates : tuple of str
        Where Debian installs it, first match wins.
    apt : str
        The Debian package that provides it.
    licence : str
        One line for the song's licence notes.
    """

    key: str
    candidates: tuple[str, ...]
    apt: str
    licence: str


#: The soundfonts drawn per song (uniformly, from the song's seed).
SOUNDFONTS: tuple[SoundFont, ...] = (
    SoundFont(
        "FluidR3_GM",
        ("/usr/share/sounds/sf2/FluidR3_GM.sf2",),
        "fluid-soundfont-gm",
        "Melodic parts rendered with the Fluid (R3) General MIDI SoundFont, (c) 2000-2002, 2008 "
        "Frank Wen, MIT licence.",
    ),
    SoundFont(
        "MuseScore_General",
        (
            "/usr/share/sounds/sf3/MuseScore_General_Lite.sf3",
            "/usr/share/sounds/sf3/MuseScore_General.sf3",
            "/usr/share/sounds/sf2/MuseScore_General.sf2",
        ),
        "musescore-general-soundfont-small",
        "Melodic parts rendered with the MuseScore_General SoundFont, (c) 2018-2021 S. Christian "
        "Collins, MIT licence (parts public domain or CC0).",
    ),
)


def find_soundfont(font: SoundFont) -> Path:
    """The installed file of ``font``.

    Raises
    ------
    MissingDependencyError
        None of its known paths exists; the message names the apt package.
    """
    for candidate in font.candidates:
        path = Path(candidate)
        if path.is_file():
            return path.resolve()
    raise MissingDependencyError(
        f"soundfont {font.key} not found (looked in {', '.join(font.candidates)}); "
        f"install it with: apt-get install {font.apt}"
    )


def _find_fluidsynth() -> str:
    exe = shutil.which("fluidsynth")
    if exe is None:
        raise MissingDependencyError(
            "the fluidsynth command is needed to render melodic parts; install it with: apt-get install fluidsynth"
        )
    return exe


class Renderer(Protocol):
    """Turns parts into audio; injectable (tests use a stub that needs no fluidsynth)."""

    def render(
        self,
        parts: Sequence[Part],
        *,
        tempo_bpm: float,
        song_beats: float,
        seconds: float,
        sample_rate: int,
        soundfont: SoundFont,
    ) -> list[np.ndarray]:
        """One float32 ``(2, round(seconds * sample_rate))`` array per part, in order."""
        ...


# fluidsynth renders 8-96 kHz; these rates keep the segment period short (see segment_beats)
_NATIVE_RATES = (16000, 22050, 24000, 32000, 44100, 48000, 88200, 96000)


class FluidSynthRenderer:
    """Render parts with the ``fluidsynth`` CLI: no reverb, no chorus, float WAV, one process.

    Parameters
    ----------
    gain : float
        fluidsynth's master gain (``-g``); stems are re-levelled afterwards, this only keeps
        the float render far from any internal limit.
    timeout_s : float
        Wall-clock limit for one song's render; the process is killed past it.
    """

    def __init__(self, gain: float = 0.5, timeout_s: float = 300.0) -> None:
        self.gain = gain
        self.timeout_s = timeout_s

    def __repr__(self) -> str:
        return f"FluidSynthRenderer(gain={self.gain}, timeout_s={self.timeout_s})"

    def render(
        self,
        parts: Sequence[Part],
        *,
        tempo_bpm: float,
        song_beats: float,
        seconds: float,
        sample_rate: int,
        soundfont: SoundFont,
    ) -> list[np.ndarray]:
        n = int(round(seconds * sample_rate))
        if not parts:
            return []
        exe = _find_fluidsynth()
        font_path = find_soundfont(soundfont)
        rate = sample_rate if sample_rate in _NATIVE_RATES else 48000
        period = segment_beats(tempo_bpm, song_beats, rate)
        tempo_us = int(round(60e6 / tempo_bpm))
        shift = period * tempo_us * rate / 1e6  # samples between segment starts
        if abs(shift - round(shift)) > 1e-6:
            log.debug("segment period %.3f samples is not whole; parts may shift by < 1 block", shift)
        shift_n = int(round(shift))
        n_render = int(np.ceil(seconds * rate)) + 1
        total = shift_n * len(parts)
        with tempfile.TemporaryDirectory(prefix="mixassist-synth-") as tmp:
            mid = Path(tmp) / "parts.mid"
            wav = Path(tmp) / "parts.wav"
            write_multiplexed_midi(mid, list(parts), tempo_bpm, song_beats, period)
            audio = self._run(exe, font_path, mid, wav, rate, total)
        out = []
        for k in range(len(parts)):
            seg = np.zeros((2, n_render), np.float32)
            chunk = audio[:, k * shift_n : k * shift_n + n_render]
            seg[:, : chunk.shape[1]] = chunk
            if rate != sample_rate:
                seg = resample(seg, rate, sample_rate)
            fixed = np.zeros((2, n), np.float32)
            m = min(n, seg.shape[1])
            fixed[:, :m] = seg[:, :m]
            out.append(fixed)
        return out

    def _run(self, exe: str, font: Path, mid: Path, wav: Path, rate: int, frames: int) -> np.ndarray:
        cmd = [
            exe, "-ni", "-q", "-g", str(self.gain), "-r", str(rate), "-R", "0", "-C", "0",
            "-o", "synth.reverb.active=0", "-o", "synth.chorus.active=0",
            "-o", "synth.dynamic-sample-loading=1", "-o", "synth.polyphony=512",
            "-T", "wav", "-O", "float", "-F", str(wav), str(font), str(mid),
        ]  # fmt: skip
        # Guard against a runaway render (fluidsynth renders until its MIDI player stops):
        # kill it once the file is clearly longer than the MIDI file, or after timeout_s.
        limit_bytes = int(1.25 * frames * 2 * 4) + (1 << 20)
        started = time.monotonic()
        log_path = wav.with_suffix(".log")
        with open(log_path, "w+") as log_file:
            proc = subprocess.Popen(cmd, stdout=log_file, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
            reason = None
            while proc.poll() is None:
                if wav.is_file() and wav.stat().st_size > limit_bytes:
                    reason = "kept rendering past the end of its MIDI file"
                elif time.monotonic() - started > self.timeout_s:
                    reason = f"took longer than {self.timeout_s:.0f} s"
                if reason:
                    proc.kill()
                    proc.wait()
                    raise SynthesisError(f"fluidsynth {reason}; killed it", mid)
                time.sleep(0.02)
            log_file.seek(0)
            message = log_file.read().strip()
        if proc.returncode != 0 or not wav.is_file():
            raise SynthesisError(f"fluidsynth failed (exit {proc.returncode}): {message[-500:]}", font)
        try:
            data, got_rate = sf.read(wav, dtype="float32", always_2d=True)
        except (sf.LibsndfileError, RuntimeError) as err:
            raise SynthesisError(f"could not read fluidsynth's output ({err})", wav) from err
        if got_rate != rate:
            raise SynthesisError(f"fluidsynth rendered {got_rate} Hz instead of {rate} Hz", wav)
        if not np.isfinite(data).all():
            raise SynthesisError("fluidsynth produced NaN/Inf samples", wav)
        if data.shape[1] == 1:
            data = np.repeat(data, 2, axis=1)
        return np.ascontiguousarray(data[:, :2].T)


def default_renderer() -> FluidSynthRenderer:
    """The renderer used when none is given."""
    return FluidSynthRenderer()


def fluidsynth_available() -> bool:
    """True when the fluidsynth CLI is on ``PATH`` (for skipping tests and early checks)."""
    return shutil.which("fluidsynth") is not None
