"""What distinguishes the procedural genres: tempi, harmony, instruments, parts and feel.

The tables live in data files shipped with the package (``genres.json``: tempo ranges,
major-key probability, chord progressions, melody rhythm cells, part and kit probabilities;
``instruments.json``: the General MIDI instruments each player may draw), read once at
import.  Only the per-genre feel (a function of the generator) stays in code.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from typing import Any

import numpy as np

__all__ = [
    "GENRES",
    "TEMPO_RANGES_BPM",
    "MAJOR_PROBABILITY",
    "PROGRESSIONS",
    "RHYTHM_CELLS",
    "PART_PROBABILITY",
    "KIT_PREFERENCE",
    "Instrument",
    "BASSES",
    "CHORDS",
    "SECOND_CHORDS",
    "PADS",
    "LEADS",
    "ARPS",
    "FX",
    "Feel",
    "FEELS",
    "load_table",
]


def load_table(name: str) -> Any:
    """The JSON table ``name`` shipped in this package (``genres.json``, ``loops.json`` …), parsed."""
    return json.loads(resources.files(__package__).joinpath(name).read_text(encoding="utf-8"))


@dataclass(frozen=True)
class Instrument:
    """A General MIDI instrument choice: program, description, stem name, stereo mode, register.

    ``comping`` names how a chord instrument plays (``block``, ``strum``, ``power``, ``stabs``,
    ``sustain``, ``comp``); empty for the other players.
    """

    program: int
    instrument: str
    name: str
    stereo: str = "mono"
    low: int = 48
    high: int = 84
    comping: str = ""


Progression = list[tuple[int, str]]
RhythmCell = list[tuple[float, float]]

_GENRES = load_table("genres.json")
_INSTRUMENTS = load_table("instruments.json")

#: The procedural genres (song kinds).
GENRES: tuple[str, ...] = tuple(_GENRES["genres"])
TEMPO_RANGES_BPM: dict[str, tuple[float, float]] = {g: (lo, hi) for g, (lo, hi) in _GENRES["tempo_ranges_bpm"].items()}
MAJOR_PROBABILITY: dict[str, float] = _GENRES["major_probability"]
#: Chord progressions ``[(degree in semitones above the tonic, quality), ...]`` by ``(genre, mode)``.
PROGRESSIONS: dict[tuple[str, str], list[Progression]] = {
    (key.split("/")[0], key.split("/")[1]): [[(d, q) for d, q in prog] for prog in progs]
    for key, progs in _GENRES["progressions"].items()
}
#: One-bar melody rhythms ``[(onset beat, duration beats), ...]`` by genre.
RHYTHM_CELLS: dict[str, list[RhythmCell]] = {
    g: [[(b, d) for b, d in cell] for cell in cells] for g, cells in _GENRES["rhythm_cells"].items()
}
#: Probability of each optional part (pad, second chords, arp, lead, percussion, loop, fx) by genre.
PART_PROBABILITY: dict[str, dict[str, float]] = _GENRES["part_probability"]
#: Relative weight of each drum kit by genre.
KIT_PREFERENCE: dict[str, dict[str, float]] = _GENRES["kit_preference"]


def _instruments(rows: list[dict[str, Any]]) -> list[Instrument]:
    return [Instrument(**row) for row in rows]


BASSES = {g: _instruments(rows) for g, rows in _INSTRUMENTS["basses"].items()}
CHORDS = {g: _instruments(rows) for g, rows in _INSTRUMENTS["chords"].items()}
SECOND_CHORDS = {g: _instruments(rows) for g, rows in _INSTRUMENTS["second_chords"].items()}
PADS = {g: _instruments(rows) for g, rows in _INSTRUMENTS["pads"].items()}
LEADS = {g: _instruments(rows) for g, rows in _INSTRUMENTS["leads"].items()}
ARPS = {g: _instruments(rows) for g, rows in _INSTRUMENTS["arps"].items()}
FX = _instruments(_INSTRUMENTS["fx"])


@dataclass(frozen=True)
class Feel:
    """Timing feel of a genre: swing ratio (0.5 straight), timing and velocity spread."""

    swing: float
    timing_ms: float
    velocity_sd: float


#: Draws a song's feel from the generator, by genre.
FEELS: dict[str, Callable[[np.random.Generator], Feel]] = {
    "pop": lambda rng: Feel(0.5 if rng.random() < 0.8 else 0.62, 4.0, 6.0),
    "rock": lambda rng: Feel(0.5, 5.0, 7.0),
    "electronic": lambda rng: Feel(0.5, 1.5, 2.0),
    "jazz": lambda rng: Feel(float(rng.uniform(0.6, 0.68)), 9.0, 9.0),
}
