"""Just enough music theory for believable arrangements: scales, chords, voice leading, feel."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = [
    "SCALES",
    "QUALITIES",
    "Chord",
    "chord_pcs",
    "voice_chord",
    "nearest_pitch",
    "scale_pitches",
    "swing",
    "humanise",
    "choose",
]

SCALES = {"major": (0, 2, 4, 5, 7, 9, 11), "minor": (0, 2, 3, 5, 7, 8, 10)}

#: Chord quality to semitones above the root.
QUALITIES = {
    "maj": (0, 4, 7),
    "min": (0, 3, 7),
    "dom7": (0, 4, 7, 10),
    "maj7": (0, 4, 7, 11),
    "min7": (0, 3, 7, 10),
    "m7b5": (0, 3, 6, 10),
    "sus4": (0, 5, 7),
    "sus2": (0, 2, 7),
    "power": (0, 7),
}
# rootless jazz voicings (3rd, 7th, 9th [, 13th]) used for comping
_ROOTLESS = {
    "maj7": (4, 11, 14),
    "min7": (3, 10, 14),
    "dom7": (4, 10, 14, 21),
    "m7b5": (3, 6, 10),
    "maj": (4, 7, 14),
    "min": (3, 7, 14),
}


@dataclass(frozen=True)
class Chord:
    """A chord: root pitch class 0-11 (absolute, not relative to the key) and quality."""

    root: int
    quality: str

    def pcs(self) -> tuple[int, ...]:
        return chord_pcs(self)

    def rootless(self) -> tuple[int, ...]:
        """Pitch classes of a rootless (jazz) voicing."""
        return tuple((self.root + i) % 12 for i in _ROOTLESS.get(self.quality, QUALITIES[self.quality]))


def chord_pcs(chord: Chord) -> tuple[int, ...]:
    """Pitch classes of a chord, root first."""
    return tuple((chord.root + i) % 12 for i in QUALITIES[chord.quality])


def nearest_pitch(pc: int, target: float | np.integer, low: int = 0, high: int = 127) -> int:
    """The MIDI pitch of class ``pc`` nearest to ``target`` within ``[low, high]``."""
    candidates = [p for p in range(low, high + 1) if p % 12 == pc % 12]
    if not candidates:
        return int(np.clip(round(target), low, high))
    return min(candidates, key=lambda p: (abs(p - target), p))


def scale_pitches(tonic: int, mode: str, low: int, high: int) -> list[int]:
    """Every pitch of the scale within ``[low, high]``, ascending."""
    pcs = {(tonic + s) % 12 for s in SCALES[mode]}
    return [p for p in range(low, high + 1) if p % 12 in pcs]


def voice_chord(
    pcs: Sequence[int], low: int, high: int, previous: Sequence[int] | None = None, size: int | None = None
) -> list[int]:
    """A close-position voicing of ``pcs`` in ``[low, high]`` that moves least from ``previous``.

    Every inversion at every octave is tried; the cost is the summed movement of the sorted
    voices (plus a pull towards the middle of the range when there is no previous chord).
    ``size`` voices are stacked by cycling through the chord tones (a triad in four voices
    doubles its lowest note an octave up).
    """
    distinct = list(dict.fromkeys(int(p) % 12 for p in pcs))
    size = size or len(distinct)
    tones = [distinct[j % len(distinct)] for j in range(size)]
    centre = (low + high) / 2
    best: tuple[float, list[int]] | None = None
    for inversion in range(len(distinct)):
        order = [distinct[(inversion + j) % len(distinct)] for j in range(size)]
        for base in range(low, high + 1):
            if base % 12 != order[0] % 12:
                continue
            voicing = [base]
            for pc in order[1:]:
                nxt = voicing[-1] + 1
                while nxt % 12 != pc % 12:
                    nxt += 1
                voicing.append(nxt)
            if voicing[-1] > high:
                continue
            if previous:
                prev = sorted(previous)
                k = min(len(prev), len(voicing))
                cost = float(sum(abs(a - b) for a, b in zip(voicing[:k], prev[:k])))
                cost += float(0.1 * abs(np.mean(voicing) - centre))
            else:
                cost = abs(float(np.mean(voicing)) - centre)
            if best is None or cost < best[0]:
                best = (cost, voicing)
    if best is None:  # range too narrow: stack from low
        return sorted(nearest_pitch(pc, low + 6, low, high) for pc in tones)
    return best[1]


def swing(beat: float, ratio: float) -> float:
    """Move off-beat eighths (x.5) to ``x + ratio`` (0.5 = straight, 0.667 = triplet swing)."""
    whole = np.floor(beat)
    frac = beat - whole
    if abs(frac - 0.5) < 1e-6:
        return float(whole + ratio)
    if abs(frac - 0.25) < 1e-6 or abs(frac - 0.75) < 1e-6:  # sixteenths follow their eighth
        return float(beat + (ratio - 0.5) * 0.5)
    return float(beat)


def humanise(
    notes: list[tuple[float, float, int, int]],
    rng: np.random.Generator,
    tempo_bpm: float,
    *,
    timing_ms: float,
    velocity_sd: float,
) -> list[tuple[float, float, int, int]]:
    """Jitter onsets (Gaussian, ``timing_ms`` standard deviation) and velocities (1-127)."""
    beats_per_ms = tempo_bpm / 60000.0
    out = []
    for start, dur, pitch, vel in notes:
        shift = rng.normal(0.0, timing_ms) * beats_per_ms if timing_ms > 0 else 0.0
        v = int(np.clip(round(vel + (rng.normal(0.0, velocity_sd) if velocity_sd > 0 else 0.0)), 1, 127))
        out.append((max(0.0, start + shift), dur, pitch, v))
    return out


def choose(rng: np.random.Generator, items: Sequence):
    """One of ``items``, drawn uniformly with one ``rng.integers`` call."""
    return items[int(rng.integers(len(items)))]
