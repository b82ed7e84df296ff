#!/usr/bin/env python3
"""Regenerate the bundled demo multitrack (``examples/demo/`` by default) with the package's own tools.

What it makes
-------------
* ``stems/*.flac`` -- eight dry stems (44.1 kHz, 16-bit FLAC, all the same length) of one
  short song ("Lantern", D minor, 116 BPM, the 4-bar progression Dm7-Bb-F-C played three
  times plus a final chord, ~26.7 s). Drums are real recorded one-shot samples of the
  ``rumpf_kit_z01_h2`` Hydrogen kit placed on a humanised pattern (kick, snare, hats; mono);
  bass, guitar and lead (alto sax) are mono, keys (stereo grand piano) and pad stereo, all
  General-MIDI instruments rendered by fluidsynth with reverb and chorus off. Levels are
  deliberately unequal, as in a real session: a hot bass peaking at -0.3 dBFS, two quiet
  stems (hats -33 LUFS, pad -31 LUFS) and the rest between -19 and -25 LUFS.
* ``reference.flac`` -- a finished stereo mix of a *different* piece ("Neon Parade",
  A major, 128 BPM, I-V-vi-IV, ~20.4 s) in a bright, wide, loud and compressed modern-pop
  style, mixed by the package's console (:class:`mixassist.console.Console`): track EQ and
  compression, pans and widths, a reverb send, a bright master EQ with glue compression,
  driven to -9.5 LUFS into the true-peak limiter (:func:`mixassist.data.references.hit_loudness`).
* ``midi/song.mid`` and ``midi/reference.mid`` -- the scores (type-1 SMF, one track per part;
  drums on channel 10 for documentation only -- the drum audio comes from the samples).

The parts are :class:`mixassist.data.synth.midi.Part` rendered by
:class:`mixassist.data.synth.FluidSynthRenderer`, drums placed by
:func:`mixassist.data.synth.drums.place_hits`, levels set by
:func:`mixassist.data.synth.mixing.set_level` and measured by :mod:`mixassist.measure`.
Everything is deterministic for a given ``--seed``.

How to run
----------
::

    apt-get install fluidsynth fluid-soundfont-gm hydrogen-drumkits   # as root
    make venv
    .venv/bin/python scripts/make_demo_data.py [--out examples/demo] [--seed 7]

It prints one line per stem (name, channels, seconds, integrated LUFS, sample peak dBFS) and
one for the reference (LUFS, true peak, stereo character). Licences of every source are in
``examples/demo/LICENSE.md``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from mixassist.audio.io import save_audio
from mixassist.audio.multitrack import Multitrack
from mixassist.console import Console, MixParams
from mixassist.data.references import hit_loudness
from mixassist.data.synth.drums import Hit, kit_samples, place_hits, usable_kits
from mixassist.data.synth.midi import Part, write_score_midi
from mixassist.data.synth.mixing import fade_edges, set_level
from mixassist.data.synth.render import SOUNDFONTS, FluidSynthRenderer
from mixassist.errors import MixAssistError
from mixassist.measure import correlation, integrated_loudness, sample_peak_dbfs, side_mid_db, true_peak

SR = 44100
KIT = "rumpf_kit_z01_h2"  # Emanuel Rumpf, CC-BY 3.0
SOUNDFONT = next(f for f in SOUNDFONTS if f.key == "FluidR3_GM")
PRE_ROLL = 0.1  # seconds of silence before bar 1 in every file
DEFAULT_OUT = Path(__file__).resolve().parent.parent / "examples" / "demo"
CHOKE = {"hat_open": {"hat_closed", "hat_open"}}


def die(msg: str) -> None:
    print(f"make_demo_data: error: {msg}", file=sys.stderr)
    raise SystemExit(1)


def _part(name: str, program: int, role: str, instrument: str, channels: int = 1) -> Part:
    return Part(name, role, instrument, program, channels=channels)


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
    (4, 0, 1.5, 69),
    (4, 1.5, 0.5, 67),
    (4, 2, 1, 65),
    (4, 3, 0.5, 64),
    (4, 3.5, 0.5, 65),
    (5, 0, 2, 62),
    (5, 2, 0.5, 65),
    (5, 2.5, 0.5, 67),
    (5, 3, 1, 69),
    (6, 0, 1.5, 72),
    (6, 1.5, 0.5, 69),
    (6, 2, 1, 67),
    (6, 3, 1, 65),
    (7, 0, 1.5, 64),
    (7, 1.5, 0.5, 67),
    (7, 2, 1.5, 64),
    (7, 3.5, 0.5, 62),
    (8, 0, 1.5, 74),
    (8, 1.5, 0.5, 72),
    (8, 2, 1, 69),
    (8, 3, 0.5, 65),
    (8, 3.5, 0.5, 69),
    (9, 0, 1.5, 70),
    (9, 1.5, 0.5, 69),
    (9, 2, 1, 65),
    (9, 3, 1, 62),
    (10, 0, 1, 72),
    (10, 1, 0.5, 69),
    (10, 1.5, 0.5, 72),
    (10, 2, 1.5, 77),
    (10, 3.5, 0.5, 76),
    (11, 0, 1.5, 76),
    (11, 1.5, 0.5, 74),
    (11, 2, 1, 72),
    (11, 3, 1, 76),
    (12, 0, 2.8, 74),
]


def _hum(rng: np.random.Generator, beat: float, vel: int, t_sd: float = 0.008, v_sd: float = 5.0):
    return beat + rng.normal(0, t_sd), int(np.clip(round(vel + rng.normal(0, v_sd)), 1, 127))


def song_parts(rng: np.random.Generator) -> list[Part]:
    bass = _part("bass", 33, "bass", "electric bass (finger)")
    keys = _part("keys", 0, "chords", "acoustic grand piano", 2)
    pad = _part("pad", 89, "pad", "warm pad", 2)
    guitar = _part("guitar", 27, "chords", "clean electric guitar")
    lead = _part("lead", 65, "lead", "alto sax")
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
        for beat, dur, pitch, vel in (
            (0, 0.9, root, 104),
            (1.5, 0.45, root, 84),
            (2, 0.9, root + 7, 96),
            (3, 0.45, root + 12, 88),
            (3.5, 0.45, approach, 80),
        ):
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
    (0, 0.5, 76),
    (0.5, 0.5, 76),
    (1, 0.5, 73),
    (1.5, 1.0, 76),
    (2.5, 0.5, 78),
    (3, 1.0, 80),
    (4, 0.5, 81),
    (4.5, 0.5, 80),
    (5, 0.5, 78),
    (5.5, 1.0, 76),
    (6.5, 0.5, 73),
    (7, 1.0, 71),
]


def ref_parts(rng: np.random.Generator) -> list[Part]:
    bass = _part("ref_bass", 38, "bass", "synth bass 1")
    keys = _part("ref_keys", 5, "chords", "electric piano 2", 2)
    pad = _part("ref_pad", 90, "pad", "polysynth pad", 2)
    lead = _part("ref_lead", 81, "lead", "saw lead")
    pluck = _part("ref_pluck", 11, "arp", "vibraphone")  # 16th-note sparkle
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


# --------------------------------------------------------------------------------------
# Rendering with the package
# --------------------------------------------------------------------------------------


def render(parts: list[Part], bpm: float, end_beats: float, n: int) -> dict[str, np.ndarray]:
    """Render parts (shifted by the pre-roll) with fluidsynth: ``{name: (2, n)}``."""
    offset = PRE_ROLL * bpm / 60.0
    shifted = [
        Part(p.name, p.role, p.instrument, p.program, [(s + offset, d, k, v) for s, d, k, v in p.notes], p.channels)
        for p in parts
    ]
    audio = FluidSynthRenderer().render(
        shifted, tempo_bpm=bpm, song_beats=end_beats + offset, seconds=n / SR, sample_rate=SR, soundfont=SOUNDFONT
    )
    return {p.name: np.asarray(x, np.float64) for p, x in zip(parts, audio)}


def drum_tracks(drums: dict[str, list[tuple[float, float, str]]], n: int, seed: int) -> dict[str, np.ndarray]:
    """Place the kit's one-shots at the hits' times: ``{stem: (n,)}`` (the kick undarkened)."""
    kit = usable_kits().get(KIT)
    if kit is None:
        die(f"the drum kit {KIT} is missing; install it with: apt-get install hydrogen-drumkits")
    assert kit is not None
    samples = kit_samples(kit, sorted({slot for hits in drums.values() for _, _, slot in hits}), SR)
    rng = np.random.default_rng([seed, 3])
    return {
        stem: place_hits(
            n, [Hit(t, v, slot) for t, v, slot in hits], samples, SR, rng=rng, choke=CHOKE, darken=stem != "kick"
        )[0].astype(np.float64)
        for stem, hits in drums.items()
    }


def score(
    path: Path, parts: list[Part], drums: dict[str, list[tuple[float, float, str]]], bpm: float, end: float
) -> None:
    """The documentation MIDI file: the parts plus the drums on channel 10."""
    gm = {"kick": 36, "snare": 38, "clap": 39, "hat_closed": 42, "hat_open": 46}
    drum = Part("drums", "drums", "drum kit", 0, percussion=True)
    for hits in drums.values():
        drum.notes += [((t - PRE_ROLL) * bpm / 60.0, 0.25, gm[slot], int(v)) for t, v, slot in hits]
    write_score_midi(path, [*parts, drum], bpm, end)


def make_song(seed: int, out: Path) -> dict[str, np.ndarray]:
    rng = np.random.default_rng([seed, 1])
    n = int(round((PRE_ROLL + SONG_BARS * 4 * 60.0 / SONG_BPM + SONG_TAIL) * SR))
    end_beats = SONG_BARS * 4 + SONG_TAIL * SONG_BPM / 60.0
    parts = song_parts(rng)
    drums = song_drums(rng)
    score(out / "midi" / "song.mid", parts, drums, SONG_BPM, end_beats)
    raw = drum_tracks(drums, n, seed)
    for name, x in render(parts, SONG_BPM, end_beats, n).items():
        if SONG_LEVELS[name][0] == 1:
            x = x.mean(axis=0)
        elif name == "keys":
            # FluidR3's grand piano is a spaced pair (L/R nearly uncorrelated); blend the
            # two sides a little, like a nearer mic pair, for a realistic stereo image.
            x = (x + 0.5 * x[::-1]) / 1.5
        raw[name] = x
    stems = {}
    for name, (_, (kind, target)) in SONG_LEVELS.items():
        x = fade_edges(raw[name], SR, fade_in_ms=2.0, fade_out_ms=600.0)
        if kind == "lufs":
            x, _ = set_level(x, SR, target, ceiling_dbfs=MAX_PEAK_DB)
        else:
            x = x * np.float32(10 ** ((target - (sample_peak_dbfs(x) or 0.0)) / 20))
        stems[name] = x
    return stems


def _eq(*bands: tuple[str, float, float, float]) -> dict[str, float]:
    """Console EQ settings from ``(band, Hz, dB, Q)``."""
    out: dict[str, float] = {}
    for band, hz, db, q in bands:
        out |= {f"eq_{band}_hz": hz, f"eq_{band}_db": db, f"eq_{band}_q": q}
    return out


def _comp(threshold_db: float, ratio: float, attack_ms: float, release_ms: float) -> dict[str, float]:
    return {
        "comp_threshold_db": threshold_db,
        "comp_ratio": ratio,
        "comp_attack_ms": attack_ms,
        "comp_release_ms": release_ms,
    }


#: The reference's console: per track (level LUFS before processing, settings).
REF_TRACKS: dict[str, tuple[float, dict[str, float]]] = {
    "kick": (
        -16.0,
        {"hpf_hz": 35.0, **_eq(("low_shelf", 70.0, 3.0, 0.707), ("peak2", 3500.0, 3.0, 1.0)), **_comp(-20, 4, 8, 80)},
    ),
    "snare": (
        -19.0,
        {
            "hpf_hz": 150.0,
            **_eq(("peak1", 200.0, 2.0, 1.0), ("high_shelf", 6000.0, 4.0, 0.707)),
            **_comp(-22, 4, 3, 100),
            "reverb_send_db": -15.0,
        },
    ),
    "hats": (-26.0, {"hpf_hz": 500.0, **_eq(("high_shelf", 9000.0, 3.0, 0.707)), "pan": 0.35}),
    "bass": (-16.5, {"hpf_hz": 32.0, **_eq(("low_shelf", 90.0, 2.0, 0.707)), **_comp(-20, 4, 10, 100)}),
    "keys": (
        -22.0,
        {"hpf_hz": 180.0, **_eq(("high_shelf", 5000.0, 3.0, 0.707)), "width": 1.8, "reverb_send_db": -18.0},
    ),
    "pad": (-22.0, {"hpf_hz": 220.0, **_eq(("high_shelf", 7000.0, 4.0, 0.707)), "width": 2.0}),
    "lead": (
        -17.5,
        {"hpf_hz": 250.0, **_eq(("peak3", 3000.0, 3.0, 0.8)), **_comp(-18, 3, 5, 120), "reverb_send_db": -13.0},
    ),
    "pluck": (-27.0, {"hpf_hz": 400.0, **_eq(("high_shelf", 8000.0, 4.0, 0.707)), "pan": -0.3}),
}
REF_MASTER = {
    **_eq(("low_shelf", 90.0, 1.5, 0.707), ("peak2", 3200.0, 1.5, 0.9), ("high_shelf", 7500.0, 5.0, 0.7)),
    "comp_ratio": 2.5,
    "comp_threshold_db": -11.0,  # glue 5 dB below the bus peak (hit_loudness places it)
    "comp_attack_ms": 12.0,
    "comp_release_ms": 160.0,
    "limiter_ceiling_dbtp": -1.2,
}
REF_REVERB = {"rt60_mid_s": 1.6, "rt60_low_s": 1.9, "rt60_high_s": 1.0, "predelay_ms": 20.0}


def make_reference(seed: int, out: Path) -> np.ndarray:
    rng = np.random.default_rng([seed, 2])
    n = int(round((PRE_ROLL + REF_BARS * 4 * 60.0 / REF_BPM + REF_TAIL) * SR))
    end_beats = REF_BARS * 4 + REF_TAIL * REF_BPM / 60.0
    parts = ref_parts(rng)
    drums, _ = ref_drums(rng)
    drums = {stem: [(t, v, "kick" if slot == "kick2" else slot) for t, v, slot in hits] for stem, hits in drums.items()}
    score(out / "midi" / "reference.mid", parts, drums, REF_BPM, end_beats)
    tracks = drum_tracks(drums, n, seed)
    for name, x in render(parts, REF_BPM, end_beats, n).items():
        tracks[name.removeprefix("ref_")] = x if name in ("ref_keys", "ref_pad") else x.mean(axis=0)
    stems = Multitrack.from_arrays(tracks, SR)
    settings = {}
    for name, (level, values) in REF_TRACKS.items():
        lufs = integrated_loudness(stems[name].audio, SR)
        settings[name] = {
            "gain_db": float(np.clip(level - (lufs if lufs is not None else level), -60.0, 24.0)),
            **values,
        }
    params = MixParams(stems.names, tracks=settings, reverb=REF_REVERB, master=REF_MASTER, reverb_seed=seed)
    _, mix = hit_loudness(Console(SR), stems, params, -9.5)
    return mix


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output folder (default: examples/demo)")
    ap.add_argument("--seed", type=int, default=7, help="random seed for humanisation (default: 7)")
    args = ap.parse_args(argv)
    out: Path = args.out
    (out / "stems").mkdir(parents=True, exist_ok=True)
    (out / "midi").mkdir(parents=True, exist_ok=True)
    try:
        stems = make_song(args.seed, out)
        ref = make_reference(args.seed, out)
    except MixAssistError as err:
        die(str(err))

    for old in (out / "stems").glob("*.flac"):
        if old.stem not in stems:
            old.unlink()
    print(f"{'stem':<10} {'ch':>2} {'seconds':>7} {'LUFS':>7} {'peak dBFS':>9}")
    for name, x in stems.items():
        y = np.atleast_2d(x)
        save_audio(out / "stems" / f"{name}.flac", y, SR, 16, overwrite=True)
        lufs, peak = integrated_loudness(y, SR), sample_peak_dbfs(y)
        print(f"{name:<10} {y.shape[0]:>2} {y.shape[1] / SR:>7.2f} {lufs or -np.inf:>7.1f} {peak or -np.inf:>9.1f}")
    save_audio(out / "reference.flac", ref, SR, 16, overwrite=True)
    print(
        f"reference: 2 ch {ref.shape[1] / SR:.2f} s, {integrated_loudness(ref, SR) or -np.inf:.1f} LUFS, "
        f"true peak {true_peak(ref, SR) or -np.inf:.1f} dBTP, L/R correlation {correlation(ref) or 0.0:.2f}, "
        f"side/mid {side_mid_db(ref) or -np.inf:.1f} dB"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
