"""Procedural pop, rock, electronic and jazz arrangements, deterministic from a generator.

A song gets a tempo (70-160 BPM depending on style), a key, a form of sections (intro, verse,
chorus, bridge) with their own density, chord progressions per section, and players:
drums (from a real kit), bass, one or two chord instruments, and optionally pad, lead,
arpeggio, percussion, a loop and an fx part.  Each player follows the style (walking bass
and spang-a-lang ride for jazz, four-on-the-floor and off-beat bass for electronic, ...)
and is humanised (timing, velocity, swing where the style has it).

Only plain data comes out (:class:`~mixassist.data.synth.arrangement.Arrangement`): no
audio, no fluidsynth, so every rule here is testable on its own.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from mixassist.data.synth.arrangement import (
    Arrangement,
    LoopStem,
    PartStem,
    SampleStem,
    Section,
    key_name,
)
from mixassist.data.synth.drums import Hit, Kit, fitting_loops, sonic_pi_licences
from mixassist.data.synth.midi import Part, quantise_tempo_bpm
from mixassist.data.synth.theory import (
    Chord,
    humanise,
    nearest_pitch,
    scale_pitches,
    swing,
    voice_chord,
)

__all__ = [
    "STYLES",
    "TEMPO_RANGES_BPM",
    "Feel",
    "plan_sections",
    "chord_timeline",
    "bass_notes",
    "lead_notes",
    "drum_events",
    "drum_hits",
    "arrange_procedural",
]

STYLES = ("pop", "rock", "electronic", "jazz")
TEMPO_RANGES_BPM = {"pop": (72.0, 128.0), "rock": (92.0, 160.0), "electronic": (96.0, 140.0), "jazz": (70.0, 160.0)}
_MAJOR_PROBABILITY = {"pop": 0.65, "rock": 0.55, "electronic": 0.3, "jazz": 0.7}

_P = list[tuple[int, str]]
PROGRESSIONS: dict[tuple[str, str], list[_P]] = {
    ("pop", "major"): [
        [(0, "maj"), (7, "maj"), (9, "min"), (5, "maj")],
        [(9, "min"), (5, "maj"), (0, "maj"), (7, "maj")],
        [(0, "maj"), (9, "min"), (5, "maj"), (7, "maj")],
        [(5, "maj"), (0, "maj"), (7, "maj"), (9, "min")],
        [(0, "maj"), (5, "maj"), (9, "min"), (7, "sus4")],
        [(0, "maj"), (4, "min"), (5, "maj"), (7, "maj")],
    ],
    ("pop", "minor"): [
        [(0, "min"), (8, "maj"), (3, "maj"), (10, "maj")],
        [(0, "min"), (5, "min"), (8, "maj"), (7, "min")],
        [(0, "min"), (10, "maj"), (8, "maj"), (10, "maj")],
        [(0, "min"), (8, "maj"), (5, "min"), (7, "maj")],
    ],
    ("rock", "major"): [
        [(0, "maj"), (10, "maj"), (5, "maj"), (0, "maj")],
        [(0, "maj"), (5, "maj"), (7, "maj"), (5, "maj")],
        [(0, "maj"), (7, "maj"), (5, "maj"), (5, "maj")],
        [(0, "maj"), (3, "maj"), (5, "maj"), (0, "maj")],
    ],
    ("rock", "minor"): [
        [(0, "min"), (10, "maj"), (8, "maj"), (10, "maj")],
        [(0, "min"), (5, "min"), (10, "maj"), (0, "min")],
        [(0, "min"), (8, "maj"), (10, "maj"), (0, "min")],
        [(0, "min"), (3, "maj"), (10, "maj"), (5, "maj")],
    ],
    ("electronic", "major"): [
        [(0, "maj7"), (9, "min7"), (5, "maj7"), (7, "sus4")],
        [(5, "maj7"), (7, "maj"), (4, "min7"), (9, "min7")],
    ],
    ("electronic", "minor"): [
        [(0, "min"), (8, "maj"), (3, "maj"), (10, "maj")],
        [(0, "min7"), (5, "min7"), (8, "maj7"), (7, "min7")],
        [(0, "min"), (10, "maj"), (8, "maj"), (10, "maj")],
        [(0, "min"), (0, "min"), (8, "maj"), (10, "sus2")],
    ],
    ("jazz", "major"): [
        [(2, "min7"), (7, "dom7"), (0, "maj7"), (0, "maj7")],
        [(0, "maj7"), (9, "min7"), (2, "min7"), (7, "dom7")],
        [(4, "min7"), (9, "dom7"), (2, "min7"), (7, "dom7")],
        [(0, "maj7"), (5, "dom7"), (4, "min7"), (9, "dom7"), (2, "min7"), (7, "dom7"), (0, "maj7"), (0, "maj7")],
    ],
    ("jazz", "minor"): [
        [(2, "m7b5"), (7, "dom7"), (0, "min7"), (0, "min7")],
        [(0, "min7"), (5, "min7"), (2, "m7b5"), (7, "dom7")],
        [(0, "min7"), (8, "dom7"), (2, "m7b5"), (7, "dom7")],
    ],
}


@dataclass(frozen=True)
class Instrument:
    """A General MIDI instrument choice: program, description, stem name, stereo mode, register."""

    program: int
    instrument: str
    name: str
    stereo: str = "mono"
    low: int = 48
    high: int = 84
    style: str = ""


_I = Instrument
BASSES = {
    "pop": [
        _I(33, "electric bass (finger)", "bass", low=28, high=55),
        _I(34, "electric bass (pick)", "bass", low=28, high=55),
        _I(38, "synth bass", "synth_bass", low=28, high=55),
    ],
    "rock": [
        _I(34, "electric bass (pick)", "bass", low=28, high=55),
        _I(33, "electric bass (finger)", "bass", low=28, high=55),
    ],
    "electronic": [
        _I(38, "synth bass 1", "synth_bass", low=28, high=55),
        _I(39, "synth bass 2", "synth_bass", low=28, high=55),
        _I(87, "bass and lead synth", "synth_bass", low=28, high=55),
    ],
    "jazz": [
        _I(32, "acoustic bass", "upright_bass", low=28, high=55),
        _I(33, "electric bass (finger)", "bass", low=28, high=55),
    ],
}
CHORDS = {
    "pop": [
        _I(0, "acoustic grand piano", "piano", "native", 52, 79, "block"),
        _I(4, "electric piano", "epiano", "spaced", 52, 79, "block"),
        _I(25, "steel-string acoustic guitar", "acoustic_guitar", "spaced", 48, 76, "strum"),
        _I(27, "clean electric guitar", "guitar", "mono", 48, 76, "strum"),
    ],
    "rock": [
        _I(29, "overdriven guitar", "rhythm_guitar", "mono", 40, 67, "power"),
        _I(30, "distortion guitar", "rhythm_guitar", "mono", 40, 67, "power"),
    ],
    "electronic": [
        _I(81, "saw synth", "synth_stabs", "mono", 55, 79, "stabs"),
        _I(90, "polysynth", "synth_stabs", "mono", 55, 79, "stabs"),
        _I(5, "electric piano", "epiano", "spaced", 52, 79, "block"),
    ],
    "jazz": [
        _I(0, "acoustic grand piano", "piano", "native", 50, 76, "comp"),
        _I(26, "jazz guitar", "guitar", "mono", 48, 72, "comp"),
        _I(4, "electric piano", "epiano", "spaced", 50, 76, "comp"),
    ],
}
SECOND_CHORDS = {
    "pop": [
        _I(27, "clean electric guitar", "guitar", "mono", 52, 76, "strum"),
        _I(0, "acoustic grand piano", "piano", "native", 52, 79, "block"),
    ],
    "rock": [
        _I(18, "rock organ", "organ", "native", 48, 76, "sustain"),
        _I(0, "acoustic grand piano", "piano", "native", 52, 79, "block"),
        _I(16, "drawbar organ", "organ", "native", 48, 76, "sustain"),
    ],
    "electronic": [_I(4, "electric piano", "epiano", "spaced", 52, 79, "block")],
    "jazz": [_I(26, "jazz guitar", "guitar", "mono", 48, 72, "comp")],
}
PADS = {
    "pop": [
        _I(48, "string ensemble", "strings", "native", 48, 76),
        _I(49, "slow strings", "strings", "native", 48, 76),
        _I(89, "warm pad", "pad", "layer", 48, 74),
        _I(88, "new age pad", "pad", "layer", 48, 74),
        _I(91, "choir pad", "pad", "layer", 52, 76),
    ],
    "rock": [_I(48, "string ensemble", "strings", "native", 48, 76), _I(89, "warm pad", "pad", "layer", 48, 74)],
    "electronic": [
        _I(88, "new age pad", "pad", "layer", 48, 74),
        _I(89, "warm pad", "pad", "layer", 48, 74),
        _I(90, "polysynth pad", "pad", "layer", 48, 74),
        _I(94, "halo pad", "pad", "layer", 48, 74),
        _I(95, "sweep pad", "pad", "layer", 48, 74),
        _I(50, "synth strings", "synth_strings", "layer", 48, 76),
    ],
    "jazz": [
        _I(48, "string ensemble", "strings", "native", 52, 79),
        _I(49, "slow strings", "strings", "native", 52, 79),
    ],
}
LEADS = {
    "pop": [
        _I(80, "square lead", "lead", "mono", 62, 84),
        _I(81, "saw lead", "lead", "mono", 62, 84),
        _I(54, "synth voice", "vocal_lead", "mono", 60, 79),
        _I(65, "alto sax", "sax", "mono", 58, 79),
        _I(73, "flute", "flute", "mono", 67, 91),
        _I(56, "trumpet", "trumpet", "mono", 58, 82),
        _I(40, "violin", "violin", "mono", 62, 88),
        _I(71, "clarinet", "clarinet", "mono", 55, 84),
        _I(53, "voice oohs", "vocal_lead", "mono", 60, 79),
    ],
    "rock": [
        _I(29, "overdriven guitar", "lead_guitar", "mono", 55, 84),
        _I(30, "distortion guitar", "lead_guitar", "mono", 55, 84),
        _I(81, "saw lead", "lead", "mono", 60, 84),
        _I(65, "alto sax", "sax", "mono", 58, 79),
    ],
    "electronic": [
        _I(80, "square lead", "lead", "mono", 62, 86),
        _I(81, "saw lead", "lead", "mono", 62, 86),
        _I(84, "charang lead", "lead", "mono", 60, 84),
        _I(85, "voice lead", "vocal_lead", "mono", 60, 81),
        _I(86, "fifths lead", "lead", "mono", 55, 79),
    ],
    "jazz": [
        _I(66, "tenor sax", "sax", "mono", 50, 76),
        _I(65, "alto sax", "sax", "mono", 56, 80),
        _I(56, "trumpet", "trumpet", "mono", 58, 82),
        _I(73, "flute", "flute", "mono", 65, 91),
        _I(11, "vibraphone", "vibes", "mono", 55, 89),
        _I(71, "clarinet", "clarinet", "mono", 52, 84),
        _I(57, "trombone", "trombone", "mono", 43, 70),
    ],
}
ARPS = {
    "pop": [
        _I(8, "celesta", "arp", "mono", 64, 91),
        _I(46, "harp", "harp", "native", 55, 84),
        _I(98, "crystal", "arp", "layer", 60, 88),
        _I(10, "music box", "arp", "mono", 64, 91),
        _I(5, "electric piano", "arp", "spaced", 60, 84),
    ],
    "electronic": [
        _I(81, "saw synth", "arp", "layer", 55, 84),
        _I(80, "square synth", "arp", "layer", 60, 86),
        _I(98, "crystal", "arp", "layer", 60, 88),
        _I(38, "synth bass 1", "arp", "mono", 48, 72),
    ],
}
FX = [
    _I(97, "soundtrack fx", "fx", "layer", 72, 88),
    _I(99, "atmosphere fx", "fx", "layer", 72, 88),
    _I(101, "goblins fx", "fx", "layer", 72, 88),
    _I(102, "echoes fx", "fx", "layer", 72, 88),
    _I(103, "sci-fi fx", "fx", "layer", 72, 88),
]
# GM percussion (channel 10) keys
_PERC_KEYS = {
    "tambourine": 54,
    "maracas": 70,
    "cabasa": 69,
    "conga_high_mute": 62,
    "conga_high": 63,
    "conga_low": 64,
    "bongo_high": 60,
    "bongo_low": 61,
    "claves": 75,
}
_PART_PROBABILITY = {
    # pad, second chords, arp, lead, percussion, loop, fx
    "pop": dict(pad=0.6, second=0.35, arp=0.45, lead=0.9, perc=0.5, loop=0.3, fx=0.0),
    "rock": dict(pad=0.3, second=0.5, arp=0.0, lead=0.75, perc=0.3, loop=0.15, fx=0.0),
    "electronic": dict(pad=0.8, second=0.2, arp=0.7, lead=0.75, perc=0.35, loop=0.5, fx=0.35),
    "jazz": dict(pad=0.2, second=0.2, arp=0.0, lead=0.95, perc=0.3, loop=0.0, fx=0.0),
}
_KIT_PREFERENCE = {
    "pop": {
        "rumpf_kit_z01_h2": 3,
        "ColomboAcousticDrumkit": 3,
        "BJA_Pacific": 3,
        "Audiophob": 1,
        "sonic-pi-samples": 1,
    },
    "rock": {"rumpf_kit_z01_h2": 3, "ColomboAcousticDrumkit": 3, "BJA_Pacific": 3},
    "electronic": {"Audiophob": 2, "sonic-pi-samples": 3, "rumpf_kit_z01_h2": 1},
    "jazz": {"ColomboAcousticDrumkit": 3, "BJA_Pacific": 3, "rumpf_kit_z01_h2": 2},
}
# drum stems: which slots go to which stem (and the stem's channels)
DRUM_STEMS = {
    "kick": (("kick",), 1),
    "snare": (("snare", "clap", "stick"), 1),
    "hats": (("hat_closed", "hat_open", "hat_pedal"), 1),
    "toms": (("tom_high", "tom_mid", "tom_low"), 1),
    "overheads": (("crash", "ride", "ride_bell"), 2),
}
_DRUM_INSTRUMENTS = {
    "kick": "kick drum",
    "snare": "snare drum",
    "hats": "hi-hat",
    "toms": "toms",
    "overheads": "cymbals (overhead pair)",
}


@dataclass(frozen=True)
class Feel:
    """Timing feel of a style: swing ratio (0.5 straight), timing and velocity spread."""

    swing: float
    timing_ms: float
    velocity_sd: float


def _choice(rng: np.random.Generator, items: Sequence):
    return items[int(rng.integers(len(items)))]


def _weighted(rng: np.random.Generator, weights: Mapping[str, float]) -> str:
    names = sorted(weights)
    p = np.array([weights[n] for n in names], float)
    return names[int(rng.choice(len(names), p=p / p.sum()))]


# --------------------------------------------------------------------------------------
# Form and harmony
# --------------------------------------------------------------------------------------


def plan_sections(total_bars: int, rng: np.random.Generator) -> list[Section]:
    """Intro/verse/chorus/bridge sections covering at least ``total_bars`` bars.

    Sections last 8 bars (4 in songs shorter than 24 bars; an intro half that).  Short
    songs may start straight in a verse or chorus, as an excerpt would.  Densities: intro
    0.25-0.4, verse 0.45-0.65, chorus 0.8-1.0, bridge 0.35-0.6.
    """
    length = 8 if total_bars >= 24 else 4
    density = {
        "intro": lambda: rng.uniform(0.25, 0.4),
        "verse": lambda: rng.uniform(0.45, 0.65),
        "chorus": lambda: rng.uniform(0.8, 1.0),
        "bridge": lambda: rng.uniform(0.35, 0.6),
    }
    cycle = ["verse", "chorus", "verse", "chorus", "bridge", "chorus", "chorus"]
    names: list[tuple[str, int]] = []
    if total_bars >= 10 and rng.random() < 0.6:
        names.append(("intro", max(2, length // 2)))
    elif total_bars < 10:
        cycle = cycle[int(rng.integers(2)) :]  # start in a verse or in a chorus
    i = 0
    covered = sum(b for _, b in names)
    while covered < total_bars:
        name = cycle[i % len(cycle)]
        names.append((name, length))
        covered += length
        i += 1
    sections, bar = [], 0
    for name, bars in names:
        sections.append(Section(name, bar, bars, float(density[name]())))
        bar += bars
    return sections


def chord_timeline(
    sections: Sequence[Section],
    progressions: Mapping[str, Sequence[tuple[int, str]]],
    tonic: int,
    beats_per_chord: float,
) -> list[tuple[float, float, Chord]]:
    """``(start_beats, dur_beats, chord)`` for the whole form; each section restarts its progression."""
    out = []
    for sec in sections:
        prog = progressions.get(sec.name) or progressions["verse"]
        t = sec.start_bar * 4.0
        end = (sec.start_bar + sec.bars) * 4.0
        k = 0
        while t < end - 1e-9:
            degree, quality = prog[k % len(prog)]
            out.append((t, beats_per_chord, Chord((tonic + degree) % 12, quality)))
            t += beats_per_chord
            k += 1
    return out


def _chord_at(timeline: Sequence[tuple[float, float, Chord]], beat: float) -> Chord:
    for start, dur, chord in timeline:
        if start <= beat < start + dur:
            return chord
    return timeline[-1][2]


def _section_at(sections: Sequence[Section], bar: int) -> Section:
    for sec in sections:
        if sec.start_bar <= bar < sec.start_bar + sec.bars:
            return sec
    return sections[-1]


# --------------------------------------------------------------------------------------
# Players
# --------------------------------------------------------------------------------------


def bass_notes(
    style: str,
    timeline: Sequence[tuple[float, float, Chord]],
    sections: Sequence[Section],
    rng: np.random.Generator,
    low: int = 28,
    high: int = 55,
) -> list[tuple[float, float, int, int]]:
    """A bass line: root-based eighths (pop/rock), off-beat or sustained synth bass
    (electronic), or a walking line with chromatic approach notes (jazz)."""
    notes: list[tuple[float, float, int, int]] = []
    pattern = int(rng.integers(3))
    previous = None
    for idx, (start, dur, chord) in enumerate(timeline):
        sec = _section_at(sections, int(start // 4))
        if sec.name == "intro" and sec.density < 0.32:
            continue
        root = nearest_pitch(chord.root, 36 if previous is None else previous, low, min(high, low + 17))
        fifth = root + 7
        octave = root + 12 if root + 12 <= high else root
        nxt_chord = timeline[idx + 1][2] if idx + 1 < len(timeline) else chord
        nxt_root = nearest_pitch(nxt_chord.root, root, low, min(high, low + 17))
        dense = sec.density >= 0.7
        if style == "jazz":
            if sec.density < 0.5:  # two-feel
                for b in range(0, int(dur), 2):
                    notes.append((start + b, 1.8, root if b == 0 else fifth if fifth <= high else root, 92))
            else:
                tones = [chord.root + i for i in (0, 4 if chord.quality in ("maj", "maj7", "dom7") else 3, 7)]
                walk = [root]
                for b in range(1, int(dur)):
                    if b == int(dur) - 1:  # chromatic or scale approach to the next root
                        walk.append(nxt_root + (1 if rng.random() < 0.5 else -1))
                    else:
                        walk.append(nearest_pitch(_choice(rng, tones) % 12, walk[-1] + rng.integers(-3, 4), low, high))
                for b, p in enumerate(walk):
                    notes.append((start + b, 0.92, int(np.clip(p, low, high)), 96 if b % 2 == 0 else 86))
        elif style == "electronic":
            if pattern == 0 or not dense and pattern == 1:  # off-beat eighths
                for b in range(int(dur)):
                    notes.append((start + b + 0.5, 0.4, root, 100))
            elif pattern == 1:  # rolling sixteenths
                for s in range(int(dur * 4)):
                    if s % 4 != 0:
                        notes.append((start + s / 4, 0.22, root if s % 8 else octave, 92 if s % 2 else 104))
            else:  # sustained sub with a push
                notes.append((start, dur - 0.6, root, 104))
                notes.append((start + dur - 0.5, 0.45, octave, 90))
        elif style == "rock":
            step = 0.5 if dense or sec.density > 0.5 else 1.0
            b = 0.0
            while b < dur - 1e-9:
                p = root if b < dur - 1 or rng.random() < 0.6 else fifth if fifth <= high else root
                notes.append((start + b, step * 0.85, p, 108 if b % 1 == 0 else 96))
                b += step
        else:  # pop
            if not dense and pattern == 0:
                notes.append((start, 1.5, root, 100))
                notes.append((start + 1.5, 1.0, root, 88))
                notes.append((start + 2.5, 1.4, fifth if fifth <= high else root, 92))
            else:
                for k in range(int(dur * 2)):
                    b = k / 2
                    p = octave if (pattern == 1 and k % 4 == 3) else root
                    if k == int(dur * 2) - 1 and rng.random() < 0.4:
                        p = nxt_root + (-1 if nxt_root > root else 1)
                    notes.append((start + b, 0.42, int(np.clip(p, low, high)), 104 if k % 2 == 0 else 90))
        previous = root
    return notes


def chord_notes(
    inst: Instrument,
    style: str,
    timeline: Sequence[tuple[float, float, Chord]],
    sections: Sequence[Section],
    rng: np.random.Generator,
) -> list[tuple[float, float, int, int]]:
    """Comping: block chords, strums, power chords, synth stabs, sustained organ or jazz comping."""
    notes: list[tuple[float, float, int, int]] = []
    previous: list[int] | None = None
    rhythm_choice = int(rng.integers(3))
    for start, dur, chord in timeline:
        sec = _section_at(sections, int(start // 4))
        if inst.style == "comp":
            voicing = voice_chord(chord.rootless(), inst.low, inst.high, previous)
        elif inst.style == "power":
            root = nearest_pitch(chord.root, 45, inst.low, inst.low + 12)
            voicing = [root, root + 7, root + 12]
        else:
            voicing = voice_chord(chord.pcs(), inst.low, inst.high, previous, size=4 if inst.style != "stabs" else 3)
        previous = voicing
        hits: list[tuple[float, float, int]]  # (offset, duration, velocity)
        if inst.style == "block":
            options = [
                [(0, 1.9, 84), (2, 1.9, 76)],
                [(0, 1.4, 86), (1.5, 1.0, 72), (2.5, 1.4, 76)],
                [(0, 0.9, 84), (1, 0.9, 70), (2, 0.9, 78), (3, 0.9, 70)],
            ]
            hits = options[rhythm_choice] if sec.density >= 0.45 else [(0, dur - 0.1, 74)]
        elif inst.style == "strum":
            eighths = [0, 1, 1.5, 2.5, 3, 3.5] if sec.density >= 0.7 else [0, 1.5, 2.5]
            hits = [(b, 0.45 if b % 1 else 0.9, 88 if b % 1 == 0 else 70) for b in eighths]
        elif inst.style == "power":
            if sec.density >= 0.7:
                hits = [(k / 2, 0.45, 110 if k % 2 == 0 else 100) for k in range(int(dur * 2))]
            else:
                hits = [(k / 2, 0.25, 96) for k in range(int(dur * 2))]  # palm-muted eighths
        elif inst.style == "stabs":
            hits = (
                [(b + 0.5, 0.3, 100) for b in range(int(dur))] if sec.density >= 0.5 else [(0, 0.4, 96), (2.5, 0.4, 90)]
            )
        elif inst.style == "sustain":
            hits = [(0, dur - 0.05, 80)]
        else:  # jazz comping: Charleston or scattered off-beat hits
            if rng.random() < 0.5:
                hits = [(0, 1.2, 74), (1.5, 0.5, 68)]
            else:
                hits = [(b, 0.45, int(rng.integers(58, 78))) for b in (0.5, 1.5, 2.5, 3.5) if rng.random() < 0.45] or [
                    (0, 1.0, 70)
                ]
            hits = [(o, d, v) for o, d, v in hits if o < dur]
        for offset, length, vel in hits:
            if offset >= dur:
                continue
            spread = 0.012 if inst.style == "strum" else 0.004
            down = int(offset * 2) % 2 == 0
            order = voicing if down else voicing[::-1]
            for i, p in enumerate(order):
                notes.append((start + offset + i * spread * (60 / 100), min(length, dur - offset), p, vel - 3 * i))
    return notes


def pad_notes(
    inst: Instrument, timeline: Sequence[tuple[float, float, Chord]], sections: Sequence[Section], active: set[str]
) -> list[tuple[float, float, int, int]]:
    """Sustained chords, legato, in the sections named in ``active``."""
    notes: list[tuple[float, float, int, int]] = []
    previous = None
    for start, dur, chord in timeline:
        sec = _section_at(sections, int(start // 4))
        voicing = voice_chord(chord.pcs(), inst.low, inst.high, previous, size=3)
        previous = voicing
        if sec.name in active:
            notes += [(start, dur + 0.05, p, 70 + int(10 * sec.density)) for p in voicing]
    return notes


def arp_notes(
    inst: Instrument,
    timeline: Sequence[tuple[float, float, Chord]],
    sections: Sequence[Section],
    active: set[str],
    tempo_bpm: float,
    rng: np.random.Generator,
) -> list[tuple[float, float, int, int]]:
    """Chord-tone arpeggios (sixteenths, or eighths above 125 BPM), up, down or up-down."""
    step = 0.5 if tempo_bpm > 125 else 0.25
    shape = int(rng.integers(3))
    notes = []
    previous = None
    for start, dur, chord in timeline:
        sec = _section_at(sections, int(start // 4))
        voicing = voice_chord(chord.pcs(), inst.low, inst.low + 14, previous, size=4)
        previous = voicing
        if sec.name not in active:
            continue
        seq = voicing + [voicing[0] + 12]
        if shape == 1:
            seq = seq[::-1]
        elif shape == 2:
            seq = seq + seq[-2:0:-1]
        for k in range(int(round(dur / step))):
            vel = 92 if k % 4 == 0 else 74
            notes.append((start + k * step, step * 0.9, seq[k % len(seq)], vel))
    return notes


_RHYTHM_CELLS = {
    "pop": [
        [(0, 1), (1, 0.5), (1.5, 0.5), (2, 1.5)],
        [(0.5, 0.5), (1, 0.5), (1.5, 1), (2.5, 0.5), (3, 1)],
        [(0, 0.75), (0.75, 0.75), (1.5, 0.5), (2, 2)],
        [(0, 0.5), (0.5, 0.5), (1, 1), (2, 0.5), (2.5, 0.5), (3, 1)],
        [(0, 2.5), (3, 0.5), (3.5, 0.5)],
    ],
    "rock": [
        [(0, 1), (1, 1), (2, 0.5), (2.5, 1.5)],
        [(0, 2), (2, 0.5), (2.5, 0.5), (3, 1)],
        [(0, 0.5), (0.5, 0.5), (1, 0.5), (1.5, 0.5), (2, 2)],
    ],
    "electronic": [
        [(0, 0.75), (0.75, 0.75), (1.5, 0.5), (2.5, 0.5), (3, 0.5)],
        [(0, 1.5), (1.5, 1.5), (3, 1)],
        [(0, 0.5), (0.75, 0.25), (1, 0.5), (2, 0.75), (2.75, 0.75), (3.5, 0.5)],
    ],
    "jazz": [
        [(0, 0.5), (0.5, 0.5), (1, 0.5), (1.5, 0.5), (2, 0.5), (2.5, 0.5), (3, 1)],
        [(0.5, 0.5), (1, 1), (2, 0.5), (2.5, 0.5), (3, 0.5), (3.5, 0.5)],
        [(0, 1.5), (1.5, 0.5), (2, 0.5), (2.5, 1.5)],
        [(0, 0.5), (0.5, 0.5), (1, 2), (3, 0.5), (3.5, 0.5)],
    ],
}


def lead_notes(
    inst: Instrument,
    style: str,
    timeline: Sequence[tuple[float, float, Chord]],
    sections: Sequence[Section],
    active: set[str],
    tonic: int,
    mode: str,
    rng: np.random.Generator,
) -> list[tuple[float, float, int, int]]:
    """A melody of two-bar phrases: a motif (rhythm and contour) repeated and varied.

    Notes on the beat snap to chord tones, off-beat notes move by scale steps; every phrase
    ends with a longer note and a breath.  Jazz lines add chromatic passing notes.
    """
    scale = scale_pitches(tonic, mode, inst.low, inst.high)
    cells = _RHYTHM_CELLS[style]
    centre = (inst.low + inst.high) / 2
    notes = []
    pitch = nearest_pitch(tonic, centre, inst.low, inst.high)
    for sec in sections:
        if sec.name not in active:
            continue
        motif_rhythm = [_choice(rng, cells), _choice(rng, cells)]
        motif_steps = [int(rng.choice([-2, -1, -1, 0, 1, 1, 2, 3, -3])) for _ in range(16)]
        for ph, bar in enumerate(range(sec.start_bar, sec.start_bar + sec.bars, 2)):
            rhythm = motif_rhythm if ph % 4 != 2 else [_choice(rng, cells), _choice(rng, cells)]
            steps = motif_steps if ph % 4 != 2 else [int(rng.integers(-2, 3)) for _ in range(16)]
            events = [
                (b + 4 * k, d) for k, cell in enumerate(rhythm) for b, d in cell if bar + k < sec.start_bar + sec.bars
            ]
            if not events:
                continue
            events = [e for e in events if e[0] < 7.0] or events[:1]  # breathe before the next phrase
            last_on, _ = events[-1]
            events[-1] = (last_on, max(1.0, 7.5 - last_on))
            for i, (onset, dur) in enumerate(events):
                beat = bar * 4 + onset
                chord = _chord_at(timeline, beat)
                target = pitch + steps[i % len(steps)] * 2
                if target > inst.high - 2 or target < inst.low + 2:
                    target = centre
                if float(onset).is_integer():
                    pitch = nearest_pitch(_choice(rng, chord.pcs()), target, inst.low, inst.high)
                else:
                    idx = int(np.argmin([abs(p - target) for p in scale]))
                    pitch = scale[idx]
                    if style == "jazz" and rng.random() < 0.2:
                        pitch = int(np.clip(pitch + _choice(rng, [-1, 1]), inst.low, inst.high))
                vel = 96 if float(onset).is_integer() else 84
                notes.append((beat, dur * 0.95, int(pitch), vel))
    return notes


def percussion_notes(
    instrument: str, sections: Sequence[Section], active: set[str]
) -> list[tuple[float, float, int, int]]:
    """GM-percussion patterns: shaker sixteenths, tambourine on 2 and 4 plus eighths, conga tumbao."""
    notes = []
    for sec in sections:
        if sec.name not in active:
            continue
        for bar in range(sec.start_bar, sec.start_bar + sec.bars):
            b0 = bar * 4.0
            if instrument in ("maracas", "cabasa"):
                key = _PERC_KEYS[instrument]
                notes += [(b0 + k / 4, 0.2, key, 96 if k % 2 else 70) for k in range(16)]
            elif instrument == "tambourine":
                notes += [(b0 + k / 2, 0.2, 54, 110 if k in (2, 6) else 72) for k in range(8)]
            elif instrument == "congas":
                for b, key, v in ((0, 62, 80), (1, 62, 70), (1.5, 63, 100), (2, 62, 76), (3, 64, 104), (3.5, 64, 96)):
                    notes.append((b0 + b, 0.3, key, v))
            else:  # claves son clave
                for b in (0, 0.75, 1.5, 2.5, 3):
                    notes.append((b0 + b, 0.2, 75, 100))
    return notes


# --------------------------------------------------------------------------------------
# Drums
# --------------------------------------------------------------------------------------


def _slot(kit_slots: set[str], *candidates: str) -> str | None:
    return next((c for c in candidates if c in kit_slots), None)


def drum_events(
    style: str,
    sections: Sequence[Section],
    kit_slots: set[str],
    rng: np.random.Generator,
) -> list[tuple[float, float, str, float]]:
    """Drum hits ``(beat, velocity, slot, pan)`` for the whole form.

    Pop/rock: backbeat with eighth or sixteenth hats (ride in rock choruses), crashes at
    section starts, tom fills into the next section.  Electronic: four on the floor, clap on
    2 and 4, off-beat open hats.  Jazz: spang-a-lang ride, hi-hat pedal on 2 and 4, feathered
    kick, sparse snare comping.  Slots missing from the kit fall back (ride to ride bell or
    crash, clap to snare, pedal hat to closed hat) or are left out.
    """
    ev: list[tuple[float, float, str, float]] = []
    kick = _slot(kit_slots, "kick")
    snare = _slot(kit_slots, "snare")
    clap = _slot(kit_slots, "clap", "snare")
    hat_c = _slot(kit_slots, "hat_closed")
    hat_o = _slot(kit_slots, "hat_open", "hat_closed")
    hat_p = _slot(kit_slots, "hat_pedal", "hat_closed")
    ride = _slot(kit_slots, "ride", "ride_bell", "crash")
    crash = _slot(kit_slots, "crash", "ride")
    toms = [t for t in ("tom_high", "tom_mid", "tom_low") if t in kit_slots]
    crash_pan = float(rng.choice([-0.6, 0.6]))
    ride_pan = -crash_pan * 0.8
    kick_var = int(rng.integers(3))
    for si, sec in enumerate(sections):
        last_section = si == len(sections) - 1
        for bar in range(sec.start_bar, sec.start_bar + sec.bars):
            b0 = bar * 4.0
            first = bar == sec.start_bar
            fill = bar == sec.start_bar + sec.bars - 1 and not last_section and sec.bars >= 4 and rng.random() < 0.7
            d = sec.density
            if first and crash and (si > 0 or rng.random() < 0.5) and d > 0.4:
                ev.append((b0, 112, crash, crash_pan))
            if style == "jazz":
                for b in (0, 1, 1 + 2 / 3, 2, 3, 3 + 2 / 3):
                    if ride:
                        ev.append((b0 + b, 92 if b in (1, 3) else 74, ride, ride_pan))
                for b in (1, 3):
                    if hat_p:
                        ev.append((b0 + b, 80, hat_p, 0.0))
                if kick:
                    for b in range(4):
                        if d > 0.5 or rng.random() < 0.3:
                            ev.append((b0 + b, 34, kick, 0.0))
                    if rng.random() < 0.3:
                        ev.append((b0 + _choice(rng, [1 + 2 / 3, 2 + 2 / 3, 3 + 2 / 3]), 84, kick, 0.0))
                if snare:
                    for b in (0 + 2 / 3, 1 + 2 / 3, 2 + 2 / 3, 3 + 2 / 3):
                        if rng.random() < 0.25 + 0.2 * d:
                            ev.append((b0 + b, float(rng.integers(38, 72)), snare, 0.0))
                if fill and snare:
                    for k in range(6):
                        ev.append((b0 + 2 + k / 3, 60 + 8 * k, snare, 0.0))
                continue
            if style == "electronic":
                if kick and (d > 0.3 or bar % 2 == 1):
                    for b in range(4):
                        ev.append((b0 + b, 118, kick, 0.0))
                if clap and d > 0.3:
                    for b in (1, 3):
                        ev.append((b0 + b, 110, clap, 0.0))
                if hat_o and d > 0.3:
                    for b in range(4):
                        ev.append((b0 + b + 0.5, 96, hat_o, 0.0))
                if hat_c:
                    for k in range(16):
                        if d >= 0.7 or k % 2 == 0:
                            if k % 4 != 2:
                                ev.append((b0 + k / 4, 84 if k % 2 == 0 else 62, hat_c, 0.0))
                if fill and snare:
                    for k in range(8):
                        ev.append((b0 + 2 + k / 4, 70 + 6 * k, snare, 0.0))
                continue
            # pop and rock
            kicks = [(0, 2), (0, 2.5), (0, 1.5, 2.5), (0, 0.5, 2, 2.5)][kick_var + (1 if d > 0.75 else 0)]
            if d < 0.35:
                kicks = (0,)
            if kick:
                for b in kicks:
                    if not (fill and b >= 2):
                        ev.append((b0 + b, 112 if b == 0 else 100, kick, 0.0))
            if snare and d >= 0.35:
                for b in (1, 3):
                    if not (fill and b == 3):
                        ev.append((b0 + b + 0.004, 112, snare, 0.0))
                for b in (1.75, 3.5):
                    if rng.random() < 0.3 * d:
                        ev.append((b0 + b, 40, snare, 0.0))
            use_ride = style == "rock" and d >= 0.8 and ride is not None
            step = 0.25 if (style == "pop" and d >= 0.8) else 0.5
            k = 0
            while k * step < (2 if fill else 4):
                b = k * step
                if use_ride:
                    ev.append((b0 + b, 96 if b % 1 == 0 else 76, ride, ride_pan))
                elif hat_c:
                    open_hat = hat_o is not None and b == 3.5 and bar % 2 == 1
                    ev.append(
                        (b0 + b, 90 if open_hat else (96 if b % 1 == 0 else 66), hat_o if open_hat else hat_c, 0.0)
                    )
                k += 1
            if fill:
                voices = toms if toms else ([snare] if snare else [])
                for j in range(8):
                    if voices:
                        ev.append(
                            (b0 + 2 + j / 4, 86 + 4 * (j % 4), voices[min(len(voices) - 1, j * len(voices) // 8)], 0.0)
                        )
    return ev


def drum_hits(
    events: Sequence[tuple[float, float, str, float]], tempo_bpm: float, feel: Feel, rng: np.random.Generator
) -> list[Hit]:
    """Beats to seconds with swing and humanisation (velocities clipped to 1-127)."""
    beat_s = 60.0 / tempo_bpm
    hits = []
    for beat, vel, slot, pan in events:
        b = swing(beat, feel.swing)
        t = b * beat_s + (rng.normal(0, feel.timing_ms / 1000.0) if feel.timing_ms > 0 else 0.0)
        v = float(np.clip(vel + (rng.normal(0, feel.velocity_sd) if feel.velocity_sd > 0 else 0.0), 1, 127))
        hits.append(Hit(max(0.0, t), v, slot, pan))
    return hits


# --------------------------------------------------------------------------------------
# The whole song
# --------------------------------------------------------------------------------------

_FEELS = {
    "pop": lambda rng: Feel(0.5 if rng.random() < 0.8 else 0.62, 4.0, 6.0),
    "rock": lambda rng: Feel(0.5, 5.0, 7.0),
    "electronic": lambda rng: Feel(0.5, 1.5, 2.0),
    "jazz": lambda rng: Feel(float(rng.uniform(0.6, 0.68)), 9.0, 9.0),
}


def _swung(notes, feel: Feel):
    return [(swing(s, feel.swing), d, p, v) for s, d, p, v in notes]


def arrange_procedural(
    style: str,
    seconds: float,
    rng: np.random.Generator,
    kits: Mapping[str, Kit],
    *,
    electronic_kit: Callable[[np.random.Generator], Kit] | None = None,
    loops_available: bool = True,
) -> Arrangement:
    """Draw a complete procedural song of ``style`` lasting ``seconds``.

    Parameters
    ----------
    style : {"pop", "rock", "electronic", "jazz"}
        The style.
    seconds : float
        Length of the song (the arrangement covers it plus a bar).
    rng : numpy.random.Generator
        The only source of randomness.
    kits : mapping
        Allowed kits by name (:func:`~mixassist.data.synth.drums.usable_kits`).
    electronic_kit : callable, optional
        Builds the Sonic Pi kit from ``rng`` (None: that kit is not offered).
    loops_available : bool
        Whether Sonic Pi loops may be drawn.

    Returns
    -------
    Arrangement
    """
    lo, hi = TEMPO_RANGES_BPM[style]
    tempo = quantise_tempo_bpm(float(rng.uniform(lo, hi)))
    mode = "major" if rng.random() < _MAJOR_PROBABILITY[style] else "minor"
    tonic = int(rng.integers(12))
    song_beats = seconds * tempo / 60.0
    total_bars = int(math.ceil(song_beats / 4.0)) + 1
    sections = plan_sections(total_bars, rng)
    progs = PROGRESSIONS[(style, mode)]
    verse = _choice(rng, progs)
    chorus = verse if rng.random() < 0.3 else _choice(rng, progs)
    bridge = _choice(rng, progs)
    beats_per_chord = 2.0 if style == "jazz" and rng.random() < 0.4 else 4.0
    timeline = chord_timeline(
        sections, {"verse": verse, "chorus": chorus, "bridge": bridge, "intro": verse}, tonic, beats_per_chord
    )
    feel = _FEELS[style](rng)
    prob = _PART_PROBABILITY[style]
    timing = feel.timing_ms
    parts: list[PartStem] = []
    licences: list[str] = []

    def add(inst: Instrument, role: str, notes, *, detune=True, layer=0.0):
        if not notes:
            return
        notes = humanise(_swung(notes, feel), rng, tempo, timing_ms=timing, velocity_sd=feel.velocity_sd)
        stereo = "native" if inst.stereo in ("layer", "native") else inst.stereo
        part = Part(
            inst.name,
            role,
            inst.instrument,
            inst.program,
            notes,
            channels=1 if stereo == "mono" else 2,
            detune_cents=float(rng.uniform(-6, 6) * (2.0 if role in ("pad", "fx") else 1.0)) if detune else 0.0,
            layer_cents=layer if inst.stereo == "layer" else 0.0,
        )
        parts.append(PartStem(part, stereo))

    used: set[int] = set()

    def pick(options: Sequence[Instrument]) -> Instrument:
        """Draw an instrument, avoiding programs already in the song (identical samples
        playing the same chord tones would make near-duplicate stems)."""
        fresh = [i for i in options if i.program not in used] or list(options)
        inst = _choice(rng, fresh)
        used.add(inst.program)
        return inst

    bass = pick(BASSES[style])
    add(bass, "bass", bass_notes(style, timeline, sections, rng, bass.low, bass.high))
    main = pick(CHORDS[style])
    add(main, "chords", chord_notes(main, style, timeline, sections, rng))
    if rng.random() < prob["second"]:
        options = [i for i in SECOND_CHORDS[style] if i.name != main.name]
        if options:
            second = pick(options)
            active = {"chorus", "bridge"} if rng.random() < 0.5 else {"verse", "chorus", "bridge", "intro"}
            in_active = [t for t in timeline if _section_at(sections, int(t[0] // 4)).name in active]
            add(second, "chords", chord_notes(second, style, in_active, sections, rng))
    if rng.random() < prob["pad"]:
        pad = pick(PADS[style])
        active = {"intro", "chorus", "bridge"} | ({"verse"} if rng.random() < 0.5 else set())
        add(pad, "pad", pad_notes(pad, timeline, sections, active), layer=float(rng.uniform(6, 12)))
    if rng.random() < prob["lead"]:
        lead = pick(LEADS[style])
        active = {"verse", "chorus"} | ({"bridge"} if rng.random() < 0.5 else set())
        add(lead, "lead", lead_notes(lead, style, timeline, sections, active, tonic, mode, rng))
    if style in ARPS and rng.random() < prob["arp"]:
        arp = pick(ARPS[style])
        active = {"chorus", "bridge"} if style != "electronic" else {"verse", "chorus", "bridge"}
        add(arp, "arp", arp_notes(arp, timeline, sections, active, tempo, rng), layer=float(rng.uniform(5, 10)))
    if rng.random() < prob["fx"]:
        fx = pick(FX)
        # one swell per section, entering off the downbeat, on the tonic or the fifth up high
        notes = [
            (
                sec.start_bar * 4.0 + 2.0,
                min(6.0, sec.bars * 4.0 - 2.0),
                nearest_pitch(tonic + _choice(rng, [0, 7]), 80, fx.low, fx.high),
                90,
            )
            for sec in sections
        ]
        add(fx, "fx", notes, layer=float(rng.uniform(6, 12)))

    # drums
    samples: list[SampleStem] = []
    weights = {
        name: w
        for name, w in _KIT_PREFERENCE[style].items()
        if (name in kits and kits[name].is_drumkit) or (name == "sonic-pi-samples" and electronic_kit)
    }
    if not weights:
        weights = {name: 1.0 for name, kit in kits.items() if kit.is_drumkit}
    drumkit = None
    if weights:
        kit_name = _weighted(rng, weights)
        drumkit = electronic_kit(rng) if kit_name == "sonic-pi-samples" and electronic_kit else kits[kit_name]
        events = drum_events(style, sections, set(drumkit.slots), rng)
        drum_feel = Feel(feel.swing if style != "jazz" else 0.5, feel.timing_ms * 0.6, feel.velocity_sd)
        hits = drum_hits(events, tempo, drum_feel, rng)  # jazz triplets are already swung
        for stem, (slots, channels) in DRUM_STEMS.items():
            stem_hits = [h for h in hits if h.slot in slots]
            if stem_hits:
                choke = {"hat_open": {"hat_closed", "hat_pedal"}} if stem == "hats" else {}
                samples.append(SampleStem(stem, "drums", _DRUM_INSTRUMENTS[stem], channels, drumkit, stem_hits, choke))
        licences.append(drumkit.credit)

    # percussion
    if rng.random() < prob["perc"]:
        active = {"chorus"} | ({"verse", "bridge"} if rng.random() < 0.5 else set())
        djembe = kits.get("circAfrique v4")
        if djembe is not None and style != "rock" and rng.random() < 0.3:
            events = []
            for sec in sections:
                if sec.name not in active:
                    continue
                for bar in range(sec.start_bar, sec.start_bar + sec.bars):
                    for b, name, v in (
                        (0, "Djembe1 Bass", 110),
                        (0.75, "Djembe1 Tone", 80),
                        (1, "Djembe1 Tone", 90),
                        (1.5, "Djembe1 Slap", 104),
                        (2, "Djembe1 Bass", 100),
                        (2.75, "Djembe1 Tone", 78),
                        (3, "Djembe1 Tone", 88),
                        (3.5, "Djembe1 Slap", 108),
                    ):
                        if name in djembe.instruments:
                            events.append((bar * 4.0 + b, v, name, 0.0))
            hits = drum_hits(events, tempo, feel, rng)
            if hits:
                samples.append(SampleStem("djembe", "percussion", "djembe", 1, djembe, hits))
                licences.append(djembe.credit)
        else:
            instrument = _choice(
                rng,
                {
                    "pop": ["tambourine", "maracas", "cabasa"],
                    "rock": ["tambourine"],
                    "electronic": ["maracas", "cabasa", "claves"],
                    "jazz": ["congas", "maracas", "claves"],
                }[style],
            )
            notes = percussion_notes(instrument, sections, active)
            if notes:
                notes = humanise(_swung(notes, feel), rng, tempo, timing_ms=timing, velocity_sd=feel.velocity_sd)
                name = {"maracas": "shaker", "cabasa": "shaker"}.get(instrument, instrument)
                parts.append(
                    PartStem(Part(name, "percussion", instrument, 0, notes, channels=1, percussion=True), "mono")
                )

    loops: list[LoopStem] = []
    if loops_available and rng.random() < prob["loop"]:
        candidates = fitting_loops(tempo)
        if candidates:
            loop, beats = candidates[int(rng.integers(len(candidates)))]
            whole = rng.random() < 0.5
            active = [
                (s.start_bar * 4.0, (s.start_bar + s.bars) * 4.0)
                for s in sections
                if whole or s.name in ("chorus", "bridge")
            ]
            if active:
                loops.append(LoopStem("loop", loop, beats, active))
                credit = sonic_pi_licences().get(loop.name, f"'{loop.name}'")
                licences.append(f"Loop from Sonic Pi (Debian package sonic-pi-samples), freesound.org: {credit}.")
    return Arrangement(
        kind=style,
        source="procedural",
        tempo_bpm=tempo,
        key=key_name(tonic, mode),
        song_beats=song_beats,
        parts=parts,
        samples=samples,
        loops=loops,
        drumkit=drumkit,
        sections=sections,
        licences=licences,
    )
