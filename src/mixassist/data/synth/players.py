"""The pitched players of a procedural song: bass, chords, pad, arpeggio, lead and GM percussion.

Each player follows its genre (walking bass and comping for jazz, off-beat bass and synth
stabs for electronic, ...) and returns plain ``(start_beats, dur_beats, pitch, velocity)``
notes; humanisation and swing are applied by the arranger.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from mixassist.data.synth.arrangement import Section
from mixassist.data.synth.form import chord_at, section_at
from mixassist.data.synth.genres import RHYTHM_CELLS, Instrument
from mixassist.data.synth.theory import Chord, choose, nearest_pitch, scale_pitches, voice_chord

__all__ = [
    "Note",
    "PERC_KEYS",
    "Timeline",
    "bass_notes",
    "chord_notes",
    "pad_notes",
    "arp_notes",
    "lead_notes",
    "percussion_notes",
]

Note = tuple[float, float, int, int]
"""One note: ``(start_beats, dur_beats, pitch, velocity)``."""
Timeline = Sequence[tuple[float, float, Chord]]
"""The chords of a song: ``(start_beats, dur_beats, chord)`` each."""

# GM percussion (channel 10) keys
PERC_KEYS = {
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


def bass_notes(
    genre: str,
    timeline: Timeline,
    sections: Sequence[Section],
    rng: np.random.Generator,
    low: int = 28,
    high: int = 55,
) -> list[Note]:
    """A bass line: root-based eighths (pop/rock), off-beat or sustained synth bass
    (electronic), or a walking line with chromatic approach notes (jazz)."""
    notes: list[Note] = []
    pattern = int(rng.integers(3))
    previous = None
    b: float  # beat offset within the chord: whole beats (jazz, electronic) or eighths (rock, pop)
    for idx, (start, dur, chord) in enumerate(timeline):
        sec = section_at(sections, int(start // 4))
        if sec.name == "intro" and sec.density < 0.32:
            continue
        root = nearest_pitch(chord.root, 36 if previous is None else previous, low, min(high, low + 17))
        fifth = root + 7
        octave = root + 12 if root + 12 <= high else root
        nxt_chord = timeline[idx + 1][2] if idx + 1 < len(timeline) else chord
        nxt_root = nearest_pitch(nxt_chord.root, root, low, min(high, low + 17))
        dense = sec.density >= 0.7
        if genre == "jazz":
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
                        walk.append(nearest_pitch(choose(rng, tones) % 12, walk[-1] + rng.integers(-3, 4), low, high))
                for b, p in enumerate(walk):
                    notes.append((start + b, 0.92, int(np.clip(p, low, high)), 96 if b % 2 == 0 else 86))
        elif genre == "electronic":
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
        elif genre == "rock":
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
    genre: str,
    timeline: Timeline,
    sections: Sequence[Section],
    rng: np.random.Generator,
) -> list[Note]:
    """Comping: block chords, strums, power chords, synth stabs, sustained organ or jazz comping."""
    notes: list[Note] = []
    previous: list[int] | None = None
    rhythm_choice = int(rng.integers(3))
    for start, dur, chord in timeline:
        sec = section_at(sections, int(start // 4))
        if inst.comping == "comp":
            voicing = voice_chord(chord.rootless(), inst.low, inst.high, previous)
        elif inst.comping == "power":
            root = nearest_pitch(chord.root, 45, inst.low, inst.low + 12)
            voicing = [root, root + 7, root + 12]
        else:
            voicing = voice_chord(chord.pcs(), inst.low, inst.high, previous, size=4 if inst.comping != "stabs" else 3)
        previous = voicing
        hits: list[tuple[float, float, int]]  # (offset, duration, velocity)
        if inst.comping == "block":
            options: list[list[tuple[float, float, int]]] = [
                [(0, 1.9, 84), (2, 1.9, 76)],
                [(0, 1.4, 86), (1.5, 1.0, 72), (2.5, 1.4, 76)],
                [(0, 0.9, 84), (1, 0.9, 70), (2, 0.9, 78), (3, 0.9, 70)],
            ]
            hits = options[rhythm_choice] if sec.density >= 0.45 else [(0, dur - 0.1, 74)]
        elif inst.comping == "strum":
            eighths: list[float] = [0, 1, 1.5, 2.5, 3, 3.5] if sec.density >= 0.7 else [0, 1.5, 2.5]
            hits = [(b, 0.45 if b % 1 else 0.9, 88 if b % 1 == 0 else 70) for b in eighths]
        elif inst.comping == "power":
            if sec.density >= 0.7:
                hits = [(k / 2, 0.45, 110 if k % 2 == 0 else 100) for k in range(int(dur * 2))]
            else:
                hits = [(k / 2, 0.25, 96) for k in range(int(dur * 2))]  # palm-muted eighths
        elif inst.comping == "stabs":
            hits = (
                [(b + 0.5, 0.3, 100) for b in range(int(dur))] if sec.density >= 0.5 else [(0, 0.4, 96), (2.5, 0.4, 90)]
            )
        elif inst.comping == "sustain":
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
            spread = 0.012 if inst.comping == "strum" else 0.004
            down = int(offset * 2) % 2 == 0
            order = voicing if down else voicing[::-1]
            for i, p in enumerate(order):
                notes.append((start + offset + i * spread * (60 / 100), min(length, dur - offset), p, vel - 3 * i))
    return notes


def pad_notes(inst: Instrument, timeline: Timeline, sections: Sequence[Section], active: set[str]) -> list[Note]:
    """Sustained chords, legato, in the sections named in ``active``."""
    notes: list[Note] = []
    previous = None
    for start, dur, chord in timeline:
        sec = section_at(sections, int(start // 4))
        voicing = voice_chord(chord.pcs(), inst.low, inst.high, previous, size=3)
        previous = voicing
        if sec.name in active:
            notes += [(start, dur + 0.05, p, 70 + int(10 * sec.density)) for p in voicing]
    return notes


def arp_notes(
    inst: Instrument,
    timeline: Timeline,
    sections: Sequence[Section],
    active: set[str],
    tempo_bpm: float,
    rng: np.random.Generator,
) -> list[Note]:
    """Chord-tone arpeggios (sixteenths, or eighths above 125 BPM), up, down or up-down."""
    step = 0.5 if tempo_bpm > 125 else 0.25
    shape = int(rng.integers(3))
    notes = []
    previous = None
    for start, dur, chord in timeline:
        sec = section_at(sections, int(start // 4))
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


def lead_notes(
    inst: Instrument,
    genre: str,
    timeline: Timeline,
    sections: Sequence[Section],
    active: set[str],
    tonic: int,
    mode: str,
    rng: np.random.Generator,
) -> list[Note]:
    """A melody of two-bar phrases: a motif (rhythm and contour) repeated and varied.

    Notes on the beat snap to chord tones, off-beat notes move by scale steps; every phrase
    ends with a longer note and a breath.  Jazz lines add chromatic passing notes.
    """
    scale = scale_pitches(tonic, mode, inst.low, inst.high)
    cells = RHYTHM_CELLS[genre]
    centre = (inst.low + inst.high) / 2
    notes = []
    pitch = nearest_pitch(tonic, centre, inst.low, inst.high)
    for sec in sections:
        if sec.name not in active:
            continue
        motif_rhythm = [choose(rng, cells), choose(rng, cells)]
        motif_steps = [int(rng.choice([-2, -1, -1, 0, 1, 1, 2, 3, -3])) for _ in range(16)]
        for ph, bar in enumerate(range(sec.start_bar, sec.start_bar + sec.bars, 2)):
            rhythm = motif_rhythm if ph % 4 != 2 else [choose(rng, cells), choose(rng, cells)]
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
                chord = chord_at(timeline, beat)
                target: float = pitch + steps[i % len(steps)] * 2
                if target > inst.high - 2 or target < inst.low + 2:
                    target = centre
                if float(onset).is_integer():
                    pitch = nearest_pitch(choose(rng, chord.pcs()), target, inst.low, inst.high)
                else:
                    idx = int(np.argmin([abs(p - target) for p in scale]))
                    pitch = scale[idx]
                    if genre == "jazz" and rng.random() < 0.2:
                        pitch = int(np.clip(pitch + choose(rng, [-1, 1]), inst.low, inst.high))
                vel = 96 if float(onset).is_integer() else 84
                notes.append((beat, dur * 0.95, int(pitch), vel))
    return notes


def percussion_notes(instrument: str, sections: Sequence[Section], active: set[str]) -> list[Note]:
    """GM-percussion patterns: shaker sixteenths, tambourine on 2 and 4 plus eighths, conga tumbao."""
    notes = []
    for sec in sections:
        if sec.name not in active:
            continue
        for bar in range(sec.start_bar, sec.start_bar + sec.bars):
            b0 = bar * 4.0
            if instrument in ("maracas", "cabasa"):
                key = PERC_KEYS[instrument]
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
