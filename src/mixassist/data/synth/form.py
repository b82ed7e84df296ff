"""Song form and harmony: sections with their density, and the chord timeline over them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from mixassist.data.synth.arrangement import Section
from mixassist.data.synth.theory import Chord

__all__ = ["plan_sections", "chord_timeline", "chord_at", "section_at"]


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


def chord_at(timeline: Sequence[tuple[float, float, Chord]], beat: float) -> Chord:
    """The chord sounding at ``beat`` (the last one past the end)."""
    for start, dur, chord in timeline:
        if start <= beat < start + dur:
            return chord
    return timeline[-1][2]


def section_at(sections: Sequence[Section], bar: int) -> Section:
    """The section holding ``bar`` (the last one past the end)."""
    for sec in sections:
        if sec.start_bar <= bar < sec.start_bar + sec.bars:
            return sec
    return sections[-1]
