#!/usr/bin/env python3
"""Regenerate the bundled demo multitrack in ``examples/demo/``.

What it makes
-------------
* ``stems/*.flac`` -- eight dry stems (44.1 kHz, 16-bit FLAC, all the same length) of one
  short song ("Lantern", D minor, 116 BPM, the 4-bar progression Dm7-Bb-F-C played three
  times plus a final chord, ~26.7 s). Drums are real recorded one-shot samples placed on a
  humanised pattern (kick, snare, hats; mono). Bass, guitar and lead (alto sax) are mono,
  keys (stereo grand piano) and pad stereo, all General-MIDI instruments rendered by
  fluidsynth with reverb and chorus off. Levels are deliberately unequal, as in a real
  session: a hot bass peaking at -0.3 dBFS (about -16 LUFS), two quiet stems (hats
  -33 LUFS, pad -31 LUFS) and the rest between -19 and -25 LUFS; no stem clips.
  Arrangement: keys lay out in bars 5-8, where the lead and the guitar come in.
* ``reference.flac`` -- a finished stereo mix of a *different* piece ("Neon Parade",
  A major, 128 BPM, I-V-vi-IV, ~20.4 s) in a bright, wide, loud and compressed modern-pop
  style (-9.5 LUFS integrated, -1.2 dBTP), mixed here with plain numpy/scipy: RBJ biquad
  EQ (+5 dB high shelf on the bus), kick side-chain pumping, RMS compressors, a tanh drum
  clipper, a ping-pong delay and a noise-burst convolution reverb, Haas and mid/side
  widening of keys/pad/arp, a soft-knee clipper and a look-ahead true-peak limiter.
* ``midi/song.mid`` and ``midi/reference.mid`` -- the procedurally written scores
  (Standard MIDI File type 1; drums written on channel 10 for documentation only --
  the drum audio comes from the samples, not from the soundfont).

Everything is deterministic for a given ``--seed`` (humanised timing and velocity come
from ``numpy.random.default_rng``).

How to run
----------
::

    apt-get install fluidsynth fluid-soundfont-gm hydrogen-drumkits   # as root
    make venv        # in the repository root: .venv with numpy, scipy, soundfile, soxr, pyloudnorm
    .venv/bin/python scripts/make_demo_data.py [--out examples/demo] [--seed 7]

``--out`` defaults to ``examples/demo`` of this repository (wherever it is run from);
``--seed`` (default 7) drives the humanisation. A run takes about half a minute.

It needs only the project venv (numpy, scipy, soundfile, soxr, pyloudnorm) plus three
Debian packages: ``fluidsynth`` (the CLI renderer), ``fluid-soundfont-gm``
(``/usr/share/sounds/sf2/FluidR3_GM.sf2``) and ``hydrogen-drumkits`` (the drum kit
``rumpf_kit_z01_h2`` by Emanuel Rumpf, CC-BY 3.0). No extra Python package is used: the
MIDI files are written by the tiny writer below, so no separate venv is needed.

It prints only a short summary: one line per stem (name, channels, seconds, integrated
LUFS, sample peak dBFS) and one for the reference (LUFS, true peak, stereo character).
Licences of every source are in ``examples/demo/LICENSE.md``.
"""

from __future__ import annotations

import argparse
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

SR = 44100
SOUNDFONT = Path("/usr/share/sounds/sf2/FluidR3_GM.sf2")
KIT_DIR = Path("/usr/share/hydrogen/data/drumkits/rumpf_kit_z01_h2")
# Samples of the rumpf_kit_z01 kit (Emanuel Rumpf, CC-BY 3.0); the names in brackets are
# the kit's own instrument names in its drumkit.xml.
KIT_SAMPLES = {
    "kick": "beats_06-38.flac",  # "c3 - bass drum 1"
    "kick2": "beats_06-46.flac",  # "f3 - bass drum 2"
    "snare": "beats_01-21.flac",  # "d3 - snare 1"
    "clap": "beats_01-26.flac",  # "d#3 - clap"
    "hat_closed": "beats_09-10.flac",  # "f#3 - hi-hat closed"
    "hat_open": "beats_09-11.flac",  # unmapped sample of the kit: a ringing open hi-hat
}
PRE_ROLL = 0.1  # seconds of silence before bar 1 in every file
DEFAULT_OUT = Path(__file__).resolve().parent.parent / "examples" / "demo"

# --------------------------------------------------------------------------------------
# Checks
# --------------------------------------------------------------------------------------


def die(msg: str) -> None:
    print(f"make_demo_data: error: {msg}", file=sys.stderr)
    raise SystemExit(1)


def check_requirements() -> str:
    exe = shutil.which("fluidsynth")
    if exe is None:
        die("the fluidsynth CLI is missing; install it with: apt-get install fluidsynth")
    if not SOUNDFONT.is_file():
        die(f"soundfont {SOUNDFONT} is missing; install it with: apt-get install fluid-soundfont-gm")
    missing = [n for n in KIT_SAMPLES.values() if not (KIT_DIR / n).is_file()]
    if missing:
        die(
            f"drum kit samples missing in {KIT_DIR} ({', '.join(missing)}); "
            "install them with: apt-get install hydrogen-drumkits"
        )
    return exe


# --------------------------------------------------------------------------------------
# Standard MIDI file writer (type 1)
# --------------------------------------------------------------------------------------

TPB = 480  # ticks per beat


@dataclass
class Part:
    """One instrument part: notes as (start_beat, dur_beats, pitch, velocity)."""

    name: str
    program: int  # General MIDI program 0..127 (ignored for channel 9)
    channel: int
    notes: list[tuple[float, float, int, int]] = field(default_factory=list)
    pan: int = 64
    volume: int = 100


def _vlq(n: int) -> bytes:
    out = [n & 0x7F]
    n >>= 7
    while n:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    return bytes(reversed(out))


def _track(events: list[tuple[int, int, bytes]]) -> bytes:
    # events: (tick, order, data); order puts note-offs before note-ons on the same tick.
    data = bytearray()
    last = 0
    for tick, _, ev in sorted(events, key=lambda e: (e[0], e[1])):
        data += _vlq(tick - last) + ev
        last = tick
    return b"MTrk" + struct.pack(">I", len(data)) + bytes(data)


def _part_events(part: Part, offset_beats: float, end_tick: int) -> list[tuple[int, int, bytes]]:
    ch = part.channel
    ev: list[tuple[int, int, bytes]] = []
    name = part.name.encode()
    ev.append((0, 0, b"\xff\x03" + _vlq(len(name)) + name))
    if ch != 9:
        ev.append((0, 1, bytes([0xC0 | ch, part.program])))
    for cc, val in ((7, part.volume), (10, part.pan), (11, 127), (91, 0), (93, 0)):
        ev.append((0, 1, bytes([0xB0 | ch, cc, val])))
    for start, dur, pitch, vel in part.notes:
        on = int(round((start + offset_beats) * TPB))
        off = max(on + 1, int(round((start + dur + offset_beats) * TPB)))
        if off >= end_tick:  # nothing may follow the end-of-track event
            raise ValueError(f"{part.name}: note at beat {start:.2f} ends after the end of the file")
        ev.append((on, 3, bytes([0x90 | ch, pitch, int(np.clip(vel, 1, 127))])))
        ev.append((off, 2, bytes([0x80 | ch, pitch, 0])))
    ev.append((end_tick, 9, b"\xff\x2f\x00"))
    return ev


def write_midi(path: Path, parts: list[Part], bpm: float, end_beats: float) -> None:
    """Write a type-1 SMF: a tempo track plus one track per part."""
    offset = PRE_ROLL * bpm / 60.0
    end_tick = int(round((end_beats + offset) * TPB))
    tempo = int(round(60_000_000 / bpm))
    tracks = [_track([(0, 0, b"\xff\x51\x03" + tempo.to_bytes(3, "big")),
                      (0, 0, b"\xff\x58\x04\x04\x02\x18\x08"),
                      (end_tick, 9, b"\xff\x2f\x00")])]
    tracks += [_track(_part_events(p, offset, end_tick)) for p in parts]
    header = b"MThd" + struct.pack(">IHHH", 6, 1, len(tracks), TPB)
    path.write_bytes(header + b"".join(tracks))


# --------------------------------------------------------------------------------------
# Rendering
# --------------------------------------------------------------------------------------


def render_part(exe: str, part: Part, bpm: float, end_beats: float, tmp: Path, n: int) -> np.ndarray:
    """Render one part with fluidsynth (reverb and chorus off) to a float (n, 2) array."""
    import soundfile as sf

    mid = tmp / f"{part.name}.mid"
    wav = tmp / f"{part.name}.wav"
    write_midi(mid, [part], bpm, end_beats)
    cmd = [exe, "-ni", "-q", "-g", "0.5", "-r", str(SR), "-R", "0", "-C", "0",
           "-o", "synth.reverb.active=0", "-o", "synth.chorus.active=0",
           "-T", "wav", "-O", "float", "-F", str(wav), str(SOUNDFONT), str(mid)]
    # Guard against a runaway render (fluidsynth renders until its MIDI player stops):
    # kill it once the file is clearly longer than the score.
    limit = 2 * (n + 10 * SR) * 2 * 4
    with open(tmp / f"{part.name}.log", "w+") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        while proc.poll() is None:
            if wav.is_file() and wav.stat().st_size > limit:
                proc.kill()
                proc.wait()
                die(f"fluidsynth kept rendering {part.name} past the end of its MIDI file")
            time.sleep(0.05)
        log.seek(0)
        msg = log.read().strip()
    if proc.returncode != 0 or not wav.is_file():
        die(f"fluidsynth failed on {part.name}: {msg}")
    x, sr = sf.read(wav, dtype="float64", always_2d=True)
    if sr != SR:
        die(f"fluidsynth rendered {sr} Hz instead of {SR} Hz")
    out = np.zeros((n, 2))
    m = min(n, len(x))
    out[:m] = x[:m, :2]
    return out


def load_kit() -> dict[str, np.ndarray]:
    """Read the kit's samples, mono, resampled to 44.1 kHz, leading silence trimmed."""
    import soundfile as sf
    import soxr

    kit = {}
    for key, fname in KIT_SAMPLES.items():
        x, sr = sf.read(KIT_DIR / fname, dtype="float64", always_2d=True)
        x = x.mean(axis=1)
        if sr != SR:
            x = soxr.resample(x, sr, SR, quality="VHQ")
        thr = np.max(np.abs(x)) * 10 ** (-40 / 20)
        onset = int(np.argmax(np.abs(x) > thr))
        x = x[max(0, onset - int(0.001 * SR)):]
        fade = int(0.005 * SR)
        x[-fade:] *= np.linspace(1.0, 0.0, fade)
        kit[key] = x / np.max(np.abs(x))
    return kit


def _soft_lowpass(x: np.ndarray, vel: float) -> np.ndarray:
    """Softer hits are darker: a one-pole low-pass whose cutoff falls with velocity."""
    from scipy.signal import lfilter

    fc = 2500.0 * (8.0 ** (vel / 127.0))  # 2.5 kHz at vel 0 ... 20 kHz at vel 127
    if fc >= 18000:
        return x
    a = np.exp(-2 * np.pi * fc / SR)
    return lfilter([1 - a], [1, -a], x)


def place_hits(n: int, hits: list[tuple[float, float, str]], kit: dict[str, np.ndarray],
               choke: dict[str, set[str]] | None = None, lowpass: bool = True) -> np.ndarray:
    """Mix kit samples at (time_s, velocity, sample_key); ``choke`` cuts ringing samples."""
    out = np.zeros(n)
    hits = sorted(hits)
    for i, (t, vel, key) in enumerate(hits):
        s = kit[key] * (vel / 127.0) ** 1.7
        if lowpass:
            s = _soft_lowpass(s, vel)
        start = int(round(t * SR))
        if choke and key in choke:
            nxt = next((h for h in hits[i + 1:] if h[2] in choke[key]), None)
            if nxt is not None:
                stop = int(round(nxt[0] * SR)) - start
                if 0 < stop < len(s):
                    fade = min(int(0.012 * SR), len(s) - stop)
                    s = s.copy()
                    s[stop:stop + fade] *= np.linspace(1, 0, fade)
                    s[stop + fade:] = 0
        end = min(n, start + len(s))
        if start < n:
            out[start:end] += s[: end - start]
    return out


# --------------------------------------------------------------------------------------
# Helpers for levels
# --------------------------------------------------------------------------------------


def lufs(x: np.ndarray) -> float:
    import pyloudnorm as pyln

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(pyln.Meter(SR).integrated_loudness(x))


def peak_db(x: np.ndarray) -> float:
    return float(20 * np.log10(np.max(np.abs(x)) + 1e-12))


def true_peak_db(x: np.ndarray) -> float:
    from scipy.signal import resample_poly

    y = resample_poly(x, 4, 1, axis=0)
    return float(20 * np.log10(np.max(np.abs(y)) + 1e-12))


def fade_edges(x: np.ndarray, fade_in: float = 0.002, fade_out: float = 0.6) -> np.ndarray:
    x = x.copy()
    a, b = int(fade_in * SR), int(fade_out * SR)
    ramp_in = np.linspace(0, 1, a)
    ramp_out = np.cos(np.linspace(0, np.pi / 2, b)) ** 2
    if x.ndim == 2:
        ramp_in, ramp_out = ramp_in[:, None], ramp_out[:, None]
    x[:a] *= ramp_in
    x[-b:] *= ramp_out
    return x


# --------------------------------------------------------------------------------------
# The demo song: "Lantern", D minor, 116 BPM
# --------------------------------------------------------------------------------------

SONG_BPM = 116.0
SONG_BARS = 12  # three passes of the 4-bar progression, then one final chord (bar 13)
SONG_TAIL = 1.8  # seconds after the downbeat of bar 13
# chord per bar: (bass root, keys voicing, pad voicing, guitar voicing (top three used))
SONG_CHORDS = [
    (38, (62, 65, 69, 72), (57, 62, 65), (62, 69, 74, 77)),  # Dm7
    (34, (62, 65, 70, 74), (53, 58, 62), (58, 65, 70, 74)),  # Bb
    (41, (60, 65, 69, 72), (53, 57, 60), (60, 65, 69, 72)),  # F
    (36, (60, 64, 67, 72), (52, 55, 60), (60, 67, 72, 76)),  # C
]
# lead melody, bars 5-13 (bar index, beat, duration, pitch)
SONG_MELODY = [
    (4, 0, 1.5, 69), (4, 1.5, 0.5, 67), (4, 2, 1, 65), (4, 3, 0.5, 64), (4, 3.5, 0.5, 65),
    (5, 0, 2, 62), (5, 2, 0.5, 65), (5, 2.5, 0.5, 67), (5, 3, 1, 69),
    (6, 0, 1.5, 72), (6, 1.5, 0.5, 69), (6, 2, 1, 67), (6, 3, 1, 65),
    (7, 0, 1.5, 64), (7, 1.5, 0.5, 67), (7, 2, 1.5, 64), (7, 3.5, 0.5, 62),
    (8, 0, 1.5, 74), (8, 1.5, 0.5, 72), (8, 2, 1, 69), (8, 3, 0.5, 65), (8, 3.5, 0.5, 69),
    (9, 0, 1.5, 70), (9, 1.5, 0.5, 69), (9, 2, 1, 65), (9, 3, 1, 62),
    (10, 0, 1, 72), (10, 1, 0.5, 69), (10, 1.5, 0.5, 72), (10, 2, 1.5, 77), (10, 3.5, 0.5, 76),
    (11, 0, 1.5, 76), (11, 1.5, 0.5, 74), (11, 2, 1, 72), (11, 3, 1, 76),
    (12, 0, 2.8, 74),
]


def _hum(rng: np.random.Generator, beat: float, vel: int, t_sd: float = 0.008, v_sd: float = 5.0):
    return beat + rng.normal(0, t_sd), int(np.clip(round(vel + rng.normal(0, v_sd)), 1, 127))


def song_parts(rng: np.random.Generator) -> list[Part]:
    bass = Part("bass", 33, 0)  # Electric Bass (finger)
    keys = Part("keys", 0, 1)  # Acoustic Grand Piano (stereo samples)
    pad = Part("pad", 89, 2)  # Pad 2 (warm)
    guitar = Part("guitar", 27, 3)  # Electric Guitar (clean)
    lead = Part("lead", 65, 4)  # Alto Sax
    for bar in range(SONG_BARS + 1):
        root, kv, pv, gv = SONG_CHORDS[bar % 4]
        b0 = bar * 4.0
        if bar == SONG_BARS:  # final Dm chord
            root, kv, pv, gv = SONG_CHORDS[0]
            for p in (root, root + 12):
                bass.notes.append((b0, 2.5, p, 100))
            keys.notes += [(b0 + 0.01 * i, 2.5, p, 78) for i, p in enumerate(kv)]
            pad.notes += [(b0, 2.8, p, 70) for p in pv]
            guitar.notes += [(b0 + 0.03 * i, 2.5, p, 70) for i, p in enumerate(gv)]
            continue
        # bass: root, pushed root, fifth, octave, approach
        nxt = SONG_CHORDS[(bar + 1) % 4][0]
        approach = nxt - 1 if bar % 2 else nxt + 2
        for beat, dur, pitch, vel in ((0, 0.9, root, 104), (1.5, 0.45, root, 84), (2, 0.9, root + 7, 96),
                                      (3, 0.45, root + 12, 88), (3.5, 0.45, approach, 80)):
            s, v = _hum(rng, b0 + beat, vel)
            bass.notes.append((s, dur, pitch, v))
        # keys: comping on 1, the and of 2, and 4 (light strum); they lay out in bars 5-8
        for beat, dur, vel in ((0, 1.4, 80), (1.5, 1.3, 70), (3, 0.7, 64)) if not 4 <= bar < 8 else ():
            s, v = _hum(rng, b0 + beat, vel)
            keys.notes += [(s + 0.006 * i, dur, p, v - 3 * i) for i, p in enumerate(kv)]
        # pad: whole-bar chord (legato)
        s, v = _hum(rng, b0, 64, t_sd=0.003)
        pad.notes += [(s, 4.0, p, v) for p in pv]
        # guitar: short off-beat chord stabs (a quick down-strum) from bar 5
        if bar >= 4:
            for k in range(4):
                s, v = _hum(rng, b0 + k + 0.5, 84 if k % 2 else 74)
                dur = 0.22 if k < 3 else 0.4
                guitar.notes += [(s + 0.008 * i, dur, p, v - 4 * i) for i, p in enumerate(gv[1:])]
    for bar, beat, dur, pitch in SONG_MELODY:
        s, v = _hum(rng, bar * 4.0 + beat, 92 if beat == int(beat) else 80)
        lead.notes.append((s, dur * 0.96, pitch, v))
    return [bass, keys, pad, guitar, lead]


def song_drums(rng: np.random.Generator) -> dict[str, list[tuple[float, float, str]]]:
    """Humanised drum hits (time_s, velocity, sample) for kick, snare and hats."""
    sixteenth = 60.0 / SONG_BPM / 4

    def at(bar: int, step: float, sd: float, late: float = 0.0) -> float:
        return PRE_ROLL + (bar * 16 + step) * sixteenth + late + rng.normal(0, sd)

    def vel(v: float, sd: float = 6.0) -> float:
        return float(np.clip(v + rng.normal(0, sd), 10, 127))

    kick, snare, hats = [], [], []
    for bar in range(SONG_BARS):
        fill = bar % 4 == 3 and bar >= 7
        steps = (0, 8, 10) if bar % 2 == 0 else (0, 6, 8)
        for st in steps:
            kick.append((at(bar, st, 0.002), vel(112 if st == 0 else 100), "kick"))
        for st in (4, 12):
            if fill and st == 12:
                continue
            snare.append((at(bar, st, 0.002, late=0.004), vel(112), "snare"))
        for st in (7, 14):  # ghost notes
            if not fill and rng.random() < 0.45:
                snare.append((at(bar, st, 0.004), vel(40, 4), "snare"))
        if fill:
            for st, v in ((12, 84), (13, 92), (14, 102), (15, 116)):
                snare.append((at(bar, st, 0.003), vel(v, 4), "snare"))
        for st in range(0, 16, 2):
            if fill and st >= 12:
                break
            if st == 14 and bar % 2 == 1:
                hats.append((at(bar, st, 0.003), vel(88), "hat_open"))
            else:
                hats.append((at(bar, st, 0.003), vel(100 if st % 4 == 0 else 72), "hat_closed"))
    kick.append((at(SONG_BARS, 0, 0.001), vel(118, 2), "kick"))
    hats.append((at(SONG_BARS, 0, 0.001), vel(96, 2), "hat_open"))
    return {"kick": kick, "snare": snare, "hats": hats}


# stem name -> (channels, level spec); level spec: ("lufs", target) or ("peak", dBFS)
SONG_LEVELS = {
    "kick": (1, ("lufs", -21.0)),
    "snare": (1, ("lufs", -24.5)),
    "hats": (1, ("lufs", -33.0)),
    "bass": (1, ("peak", -0.3)),  # the hot one
    "keys": (2, ("lufs", -24.0)),
    "pad": (2, ("lufs", -31.0)),
    "guitar": (1, ("lufs", -25.0)),
    "lead": (1, ("lufs", -19.0)),
}
MAX_PEAK_DB = -1.0  # ceiling for every stem but the hot one


def make_song(exe: str, kit: dict[str, np.ndarray], seed: int, tmp: Path, out: Path) -> dict[str, np.ndarray]:
    rng = np.random.default_rng([seed, 1])
    n = int(round((PRE_ROLL + SONG_BARS * 4 * 60.0 / SONG_BPM + SONG_TAIL) * SR))
    end_beats = SONG_BARS * 4 + SONG_TAIL * SONG_BPM / 60.0
    parts = song_parts(rng)
    drums = song_drums(rng)
    drum_part = Part("drums", 0, 9)
    gm = {"kick": 36, "snare": 38, "hat_closed": 42, "hat_open": 46}
    for hits in drums.values():
        for t, v, key in hits:
            drum_part.notes.append(((t - PRE_ROLL) * SONG_BPM / 60.0, 0.25, gm[key], int(v)))
    write_midi(out / "midi" / "song.mid", parts + [drum_part], SONG_BPM, end_beats)

    raw: dict[str, np.ndarray] = {}
    for key in ("kick", "snare", "hats"):
        raw[key] = place_hits(n, drums[key], kit, choke={"hat_open": {"hat_closed", "hat_open"}},
                              lowpass=key != "kick")
    for part in parts:
        x = render_part(exe, part, SONG_BPM, end_beats, tmp, n)
        if SONG_LEVELS[part.name][0] == 1:
            x = x.mean(axis=1)
        elif part.name == "keys":
            # FluidR3's grand piano is a spaced pair (L/R nearly uncorrelated); blend the
            # two sides a little, like a nearer mic pair, for a realistic stereo image.
            x = (x + 0.5 * x[:, ::-1]) / 1.5
        raw[part.name] = x

    stems = {}
    for name, (_, (kind, target)) in SONG_LEVELS.items():
        x = fade_edges(raw[name])
        if kind == "lufs":
            for _ in range(3):  # repeat: the -70 LUFS gate depends on the absolute level
                x = x * 10 ** ((target - lufs(x)) / 20)
            if peak_db(x) > MAX_PEAK_DB:
                x = x * 10 ** ((MAX_PEAK_DB - peak_db(x)) / 20)
        else:
            x = x * 10 ** ((target - peak_db(x)) / 20)
        stems[name] = x
    return stems


# --------------------------------------------------------------------------------------
# The reference: "Neon Parade", A major, 128 BPM, mixed loud, bright and wide
# --------------------------------------------------------------------------------------

REF_BPM = 128.0
REF_BARS = 10
REF_TAIL = 1.5
# I-V-vi-IV in A: (bass root, keys voicing, pad voicing)
REF_CHORDS = [
    (33, (64, 69, 73, 76), (57, 61, 64, 69)),  # A
    (40, (64, 68, 71, 76), (56, 59, 64, 68)),  # E
    (42, (66, 69, 73, 78), (57, 61, 66, 69)),  # F#m
    (38, (66, 69, 74, 78), (57, 62, 66, 69)),  # D
]
REF_HOOK = [  # (beat within 2-bar phrase, duration, pitch), sung-like synth hook
    (0, 0.5, 76), (0.5, 0.5, 76), (1, 0.5, 73), (1.5, 1.0, 76), (2.5, 0.5, 78), (3, 1.0, 80),
    (4, 0.5, 81), (4.5, 0.5, 80), (5, 0.5, 78), (5.5, 1.0, 76), (6.5, 0.5, 73), (7, 1.0, 71),
]


def ref_parts(rng: np.random.Generator) -> list[Part]:
    bass = Part("ref_bass", 38, 0)  # Synth Bass 1
    keys = Part("ref_keys", 5, 1)  # Electric Piano 2
    pad = Part("ref_pad", 90, 2)  # Pad 3 (polysynth)
    lead = Part("ref_lead", 81, 3)  # Lead 2 (sawtooth)
    pluck = Part("ref_pluck", 11, 4)  # Vibraphone, 16th-note arpeggio sparkle
    for bar in range(REF_BARS + 1):
        root, kv, pv = REF_CHORDS[bar % 4]
        b0 = bar * 4.0
        if bar == REF_BARS:
            root, kv, pv = REF_CHORDS[0]
            bass.notes.append((b0, 2.0, root, 110))
            keys.notes += [(b0, 2.0, p, 96) for p in kv]
            pad.notes += [(b0, 2.0, p, 90) for p in pv]
            lead.notes.append((b0, 2.0, 81, 100))
            continue
        for k in range(8):  # driving 8th-note bass, octave jump on the offbeats
            s, v = _hum(rng, b0 + 0.5 * k, 112 if k % 2 == 0 else 96, t_sd=0.004)
            bass.notes.append((s, 0.42, root + (12 if k % 2 else 0), v))
        for beat, dur in ((0, 0.45), (0.75, 0.45), (1.5, 0.45), (2.5, 0.45), (3, 0.45), (3.5, 0.4)):
            s, v = _hum(rng, b0 + beat, 96, t_sd=0.004)
            keys.notes += [(s, dur, p, v) for p in kv]
        pad.notes += [(b0, 4.0, p, 84) for p in pv]
        if bar >= 2:
            for k in range(16):
                s, v = _hum(rng, b0 + 0.25 * k, 70 if k % 4 else 86, t_sd=0.003)
                pluck.notes.append((s, 0.22, kv[k % 4] + 12, v))
        if bar >= 4 and bar % 2 == 0:
            for beat, dur, pitch in REF_HOOK:
                s, v = _hum(rng, b0 + beat, 104, t_sd=0.004)
                lead.notes.append((s, dur * 0.92, pitch, v))
    return [bass, keys, pad, lead, pluck]


def ref_drums(rng: np.random.Generator) -> tuple[dict[str, list], list[float]]:
    sixteenth = 60.0 / REF_BPM / 4

    def at(bar: int, step: float, sd: float = 0.0015) -> float:
        return PRE_ROLL + (bar * 16 + step) * sixteenth + rng.normal(0, sd)

    def vel(v: float, sd: float = 4.0) -> float:
        return float(np.clip(v + rng.normal(0, sd), 10, 127))

    kick, snare, hats = [], [], []
    for bar in range(REF_BARS):
        for st in (0, 4, 8, 12):
            kick.append((at(bar, st, 0.0005), vel(118, 2), "kick2"))
        if bar >= 2:
            for st in (4, 12):
                t = at(bar, st)
                snare.append((t, vel(116), "snare"))
                snare.append((t + 0.004, vel(120), "clap"))
        if bar % 4 == 3:
            for st in (13, 14, 15):
                snare.append((at(bar, st), vel(80 + 12 * (st - 13)), "snare"))
        for st in range(16):
            if st % 4 == 2:
                hats.append((at(bar, st), vel(92), "hat_open"))
            else:
                hats.append((at(bar, st), vel(96 if st % 2 == 0 else 70), "hat_closed"))
    kick.append((at(REF_BARS, 0, 0), 124.0, "kick2"))
    hats.append((at(REF_BARS, 0, 0), 110.0, "hat_open"))
    return {"kick": kick, "snare": snare, "hats": hats}, [t for t, _, _ in kick]


def biquad(kind: str, f0: float, gain_db: float = 0.0, q: float = 0.707) -> tuple[np.ndarray, np.ndarray]:
    """RBJ audio-EQ-cookbook biquads: 'hp', 'lp', 'peak', 'lowshelf', 'highshelf'."""
    a_ = 10 ** (gain_db / 40)
    w0 = 2 * np.pi * f0 / SR
    cw, sw = np.cos(w0), np.sin(w0)
    alpha = sw / (2 * q)
    if kind == "hp":
        b = [(1 + cw) / 2, -(1 + cw), (1 + cw) / 2]
        a = [1 + alpha, -2 * cw, 1 - alpha]
    elif kind == "lp":
        b = [(1 - cw) / 2, 1 - cw, (1 - cw) / 2]
        a = [1 + alpha, -2 * cw, 1 - alpha]
    elif kind == "peak":
        b = [1 + alpha * a_, -2 * cw, 1 - alpha * a_]
        a = [1 + alpha / a_, -2 * cw, 1 - alpha / a_]
    else:
        sq = 2 * np.sqrt(a_) * alpha
        if kind == "lowshelf":
            b = [a_ * ((a_ + 1) - (a_ - 1) * cw + sq), 2 * a_ * ((a_ - 1) - (a_ + 1) * cw),
                 a_ * ((a_ + 1) - (a_ - 1) * cw - sq)]
            a = [(a_ + 1) + (a_ - 1) * cw + sq, -2 * ((a_ - 1) + (a_ + 1) * cw), (a_ + 1) + (a_ - 1) * cw - sq]
        else:
            b = [a_ * ((a_ + 1) + (a_ - 1) * cw + sq), -2 * a_ * ((a_ - 1) + (a_ + 1) * cw),
                 a_ * ((a_ + 1) + (a_ - 1) * cw - sq)]
            a = [(a_ + 1) - (a_ - 1) * cw + sq, 2 * ((a_ - 1) - (a_ + 1) * cw), (a_ + 1) - (a_ - 1) * cw - sq]
    b, a = np.asarray(b), np.asarray(a)
    return b / a[0], a / a[0]


def eq(x: np.ndarray, *bands: tuple) -> np.ndarray:
    from scipy.signal import lfilter

    for band in bands:
        b, a = biquad(*band)
        x = lfilter(b, a, x, axis=0)
    return x


def _smooth_ar(target_db: np.ndarray, attack_s: float, release_s: float, block: int = 16) -> np.ndarray:
    """Attack/release smoothing of a gain curve in dB, at a control rate of ``block`` samples."""
    nb = -(-len(target_db) // block)
    pad = np.full(nb * block - len(target_db), target_db[-1])
    ctrl = np.concatenate([target_db, pad]).reshape(nb, block).min(axis=1).tolist()
    aa = float(np.exp(-block / (attack_s * SR)))
    ar = float(np.exp(-block / (release_s * SR)))
    y = ctrl[0]
    out = [0.0] * nb
    for i, v in enumerate(ctrl):
        c = aa if v < y else ar
        y = c * y + (1 - c) * v
        out[i] = y
    return np.interp(np.arange(len(target_db)), np.arange(nb) * block + block / 2, out)


def compress(x: np.ndarray, threshold_db: float, ratio: float, attack_s: float, release_s: float) -> np.ndarray:
    """Feed-forward compressor on a 5 ms RMS detector (stereo-linked), hard knee."""
    from scipy.signal import lfilter

    p = x**2 if x.ndim == 1 else np.mean(x**2, axis=1)
    a = np.exp(-1 / (0.005 * SR))
    lvl = 10 * np.log10(lfilter([1 - a], [1, -a], p) + 1e-12)
    over = np.maximum(lvl - threshold_db, 0)
    gr = -over * (1 - 1 / ratio)
    g = 10 ** (_smooth_ar(gr, attack_s, release_s) / 20)
    return x * (g[:, None] if x.ndim == 2 else g)


def duck(n: int, triggers: list[float], depth_db: float, release_s: float) -> np.ndarray:
    """Kick-keyed side-chain pumping envelope (linear gain per sample)."""
    from scipy.signal import fftconvolve

    env = np.zeros(n)
    idx = np.array([int(round(t * SR)) for t in triggers if t * SR < n])
    env[idx] = 1.0
    t = np.arange(int(release_s * 4 * SR)) / SR
    shape = np.exp(-t / release_s)
    attack = int(0.004 * SR)
    shape[:attack] *= np.linspace(0, 1, attack)
    env = np.minimum(fftconvolve(env, shape)[:n], 1.0)
    return 10 ** (depth_db * env / 20)


def limiter(x: np.ndarray, ceiling_db: float, lookahead_s: float = 0.002, release_s: float = 0.06) -> np.ndarray:
    """Look-ahead brick-wall limiter with 4x oversampled (true-peak) detection: the needed
    gain reduction is held over the look-ahead window, released exponentially, then
    smoothed by a moving average no longer than the hold, so every peak stays covered."""
    from scipy.ndimage import minimum_filter1d, uniform_filter1d
    from scipy.signal import resample_poly

    n = len(x)
    os4 = resample_poly(x, 4, 1, axis=0)
    pk = np.abs(os4).max(axis=1)[: 4 * n].reshape(n, 4).max(axis=1)
    req = np.minimum(0.0, ceiling_db - 20 * np.log10(pk + 1e-12))
    la = max(2, int(lookahead_s * SR))
    held = minimum_filter1d(req, size=2 * la + 1, mode="nearest")
    rel = _smooth_ar(held, 1e-6, release_s, block=1 if n < 2000 else 8)
    rel = np.minimum(rel, held)
    g = uniform_filter1d(rel, size=la, mode="nearest")
    g = np.minimum(g, held)
    return x * 10 ** (g / 20)[:, None]


def soft_clip(x: np.ndarray, shave_db: float) -> np.ndarray:
    """tanh soft clipper, 4x oversampled, driven so that the highest peak drops ~shave_db."""
    from scipy.optimize import brentq
    from scipy.signal import resample_poly

    pk = np.max(np.abs(x))
    # the peak p maps to c * tanh(p / c); pick the drive d = p / c with tanh(d) / d = 10^(-shave/20)

    d = brentq(lambda v: np.tanh(v) / v - 10 ** (-shave_db / 20), 1e-6, 50.0)
    c = pk / d
    y = resample_poly(x, 4, 1, axis=0)
    y = c * np.tanh(y / c)
    return resample_poly(y, 1, 4, axis=0)[: len(x)]


def knee_clip(x: np.ndarray, ceiling_db: float, knee_db: float) -> np.ndarray:
    """Soft-knee clipper (4x oversampled): linear up to ``knee_db`` below the ceiling, then a
    tanh curve that approaches the ceiling. The loud-master trick before the limiter."""
    from scipy.signal import resample_poly

    c = 10 ** (ceiling_db / 20)
    k = c * 10 ** (-knee_db / 20)
    y = resample_poly(x, 4, 1, axis=0)
    a = np.abs(y)
    over = a > k
    y[over] = np.sign(y[over]) * (k + (c - k) * np.tanh((a[over] - k) / (c - k)))
    return resample_poly(y, 1, 4, axis=0)[: len(x)]


def reverb_ir(seed: int, seconds: float = 1.8, rt60: float = 1.6, predelay: float = 0.02) -> np.ndarray:
    """Stereo decorrelated exponentially decaying noise, darkened over time."""
    rng = np.random.default_rng([seed, 99])
    n = int(seconds * SR)
    t = np.arange(n) / SR
    env = 10 ** (-3 * t / rt60)
    ir = rng.standard_normal((n, 2)) * env[:, None]
    ir = eq(ir, ("lp", 6000.0), ("hp", 250.0))
    ir = np.vstack([np.zeros((int(predelay * SR), 2)), ir])
    return ir / np.sqrt(np.sum(ir**2) / 2)


def widen(x: np.ndarray, haas_ms: float, width: float) -> np.ndarray:
    """Mono or stereo in -> wide stereo out: Haas offset on the right, then M/S width."""
    if x.ndim == 1:
        x = np.stack([x, x], axis=1)
    d = int(haas_ms * 1e-3 * SR)
    r = np.concatenate([np.zeros(d), x[:-d, 1]]) if d else x[:, 1]
    y = np.stack([x[:, 0], r], axis=1)
    mid, side = (y[:, 0] + y[:, 1]) / 2, (y[:, 0] - y[:, 1]) / 2
    side = side * width
    return np.stack([mid + side, mid - side], axis=1)


def pan(x: np.ndarray, pos: float) -> np.ndarray:
    """Constant-power pan of a mono signal, pos in [-1, 1]."""
    th = (pos + 1) * np.pi / 4
    return np.stack([x * np.cos(th), x * np.sin(th)], axis=1) * np.sqrt(2)


def make_reference(exe: str, kit: dict[str, np.ndarray], seed: int, tmp: Path, out: Path) -> np.ndarray:
    from scipy.signal import fftconvolve

    rng = np.random.default_rng([seed, 2])
    n = int(round((PRE_ROLL + REF_BARS * 4 * 60.0 / REF_BPM + REF_TAIL) * SR))
    end_beats = REF_BARS * 4 + REF_TAIL * REF_BPM / 60.0
    parts = ref_parts(rng)
    drums, kick_times = ref_drums(rng)
    drum_part = Part("ref_drums", 0, 9)
    gm = {"kick2": 36, "snare": 38, "clap": 39, "hat_closed": 42, "hat_open": 46}
    for hits in drums.values():
        for t, v, key in hits:
            drum_part.notes.append(((t - PRE_ROLL) * REF_BPM / 60.0, 0.25, gm[key], int(v)))
    write_midi(out / "midi" / "reference.mid", parts + [drum_part], REF_BPM, end_beats)

    r = {p.name: render_part(exe, p, REF_BPM, end_beats, tmp, n) for p in parts}
    choke = {"hat_open": {"hat_closed", "hat_open"}}
    kick = place_hits(n, drums["kick"], kit, lowpass=False)
    snare = place_hits(n, drums["snare"], kit)
    hats = place_hits(n, drums["hats"], kit, choke=choke)
    pump = duck(n, kick_times, -6.0, 0.09)

    def norm(x: np.ndarray, target: float) -> np.ndarray:
        return x * 10 ** ((target - lufs(x)) / 20)

    kick = compress(eq(kick, ("hp", 35.0), ("lowshelf", 70.0, 3.0), ("peak", 3500.0, 3.0, 1.0)),
                    -20, 4, 0.008, 0.08)
    snare = compress(eq(snare, ("hp", 150.0), ("peak", 200.0, 2.0, 1.0), ("highshelf", 6000.0, 4.0)),
                     -22, 4, 0.003, 0.1)
    hats = eq(hats, ("hp", 500.0), ("highshelf", 9000.0, 3.0))
    bass = compress(eq(r["ref_bass"].mean(axis=1), ("hp", 32.0), ("lowshelf", 90.0, 2.0)), -20, 4, 0.01, 0.1) * pump
    keys = eq(r["ref_keys"], ("hp", 180.0), ("highshelf", 5000.0, 3.0)) * pump[:, None]
    pad = eq(r["ref_pad"], ("hp", 220.0), ("highshelf", 7000.0, 4.0)) * pump[:, None]
    lead = compress(eq(r["ref_lead"].mean(axis=1), ("hp", 250.0), ("peak", 3000.0, 3.0, 0.8)), -18, 3, 0.005, 0.12)
    pluck = eq(r["ref_pluck"].mean(axis=1), ("hp", 400.0), ("highshelf", 8000.0, 4.0))

    # drum bus: kick, snare/clap and hats into a 4x-oversampled soft clipper (shaves ~6 dB off the loudest hit)
    drums = pan(norm(kick, -16.0), 0.0) + pan(norm(snare, -19.0), 0.0) + pan(norm(hats, -26.0), 0.35)
    mix = soft_clip(drums, 6.0)
    mix = mix + (pan(norm(bass, -16.5), 0.0)
                 + widen(norm(keys, -22.0), 14.0, 1.8)
                 + widen(norm(pad, -22.0), 22.0, 2.2)
                 + widen(norm(pluck, -27.0), 9.0, 1.6)
                 + pan(norm(lead, -17.5), 0.0))
    # sends: stereo ping-pong delay on the lead, convolution reverb on lead/snare/keys
    dly = int(0.75 * 60.0 / REF_BPM * SR)
    lead_n = norm(lead, -17.5)
    echo = np.zeros((n, 2))
    echo[dly:, 0] = lead_n[:-dly] * 0.28
    echo[2 * dly:, 1] = lead_n[:-2 * dly] * 0.2
    mix += eq(echo, ("hp", 400.0), ("lp", 7000.0))
    send = pan(lead_n, 0.0) * 0.22 + pan(norm(snare, -19.0), 0.0) * 0.18 + norm(keys, -22.0) * 0.12
    mix += fftconvolve(send, reverb_ir(seed), axes=0)[:n] * 0.5

    # master bus: tilt bright, glue compression, then loudness into a true-peak limiter
    mix = eq(mix, ("hp", 28.0), ("lowshelf", 90.0, 1.5), ("peak", 3200.0, 1.5, 0.9),
             ("highshelf", 7500.0, 5.0, 0.7))
    mix = mix * 10 ** ((-14.0 - lufs(mix)) / 20)
    mix = compress(mix, -19.0, 2.5, 0.012, 0.16)
    mix = fade_edges(mix, 0.002, 0.5)
    target, ceiling = -9.5, -1.2
    lo, hi = target - lufs(mix), target - lufs(mix) + 12.0  # pre-limiter gain bracket (dB)
    for _ in range(14):  # bisection: loudness after the limiter grows with the gain
        gain = (lo + hi) / 2
        y = limiter(knee_clip(mix * 10 ** (gain / 20), -0.6, 6.0), ceiling)
        err = target - lufs(y)
        if abs(err) < 0.02:
            break
        lo, hi = (gain, hi) if err > 0 else (lo, gain)
    tp = true_peak_db(y)
    if tp > -1.0:
        y = y * 10 ** ((-1.0 - tp) / 20)
    return y


# --------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output folder (default: examples/demo)")
    ap.add_argument("--seed", type=int, default=7, help="random seed for humanisation (default: 7)")
    args = ap.parse_args(argv)

    exe = check_requirements()
    import soundfile as sf

    out: Path = args.out
    (out / "stems").mkdir(parents=True, exist_ok=True)
    (out / "midi").mkdir(parents=True, exist_ok=True)
    kit = load_kit()
    with tempfile.TemporaryDirectory(prefix="mixassist-demo-") as td:
        tmp = Path(td)
        stems = make_song(exe, kit, args.seed, tmp, out)
        ref = make_reference(exe, kit, args.seed, tmp, out)

    for old in (out / "stems").glob("*.flac"):
        if old.stem not in stems:
            old.unlink()
    print(f"{'stem':<10} {'ch':>2} {'seconds':>7} {'LUFS':>7} {'peak dBFS':>9}")
    for name, x in stems.items():
        path = out / "stems" / f"{name}.flac"
        sf.write(path, x, SR, format="FLAC", subtype="PCM_16")
        y, _ = sf.read(path, dtype="float64")
        ch = 1 if y.ndim == 1 else y.shape[1]
        print(f"{name:<10} {ch:>2} {len(y) / SR:>7.2f} {lufs(y):>7.1f} {peak_db(y):>9.1f}")
    path = out / "reference.flac"
    sf.write(path, ref, SR, format="FLAC", subtype="PCM_16")
    y, _ = sf.read(path, dtype="float64")
    mid, side = (y[:, 0] + y[:, 1]) / 2, (y[:, 0] - y[:, 1]) / 2
    corr = float(np.corrcoef(y[:, 0], y[:, 1])[0, 1])
    sm = 10 * np.log10(np.sum(side**2) / np.sum(mid**2))
    print(f"reference: 2 ch {len(y) / SR:.2f} s, {lufs(y):.1f} LUFS, true peak {true_peak_db(y):.1f} dBTP, "
          f"L/R correlation {corr:.2f}, side/mid {sm:.1f} dB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
