"""What a song is made of before any audio exists: parts, drum hits, loops, sections.

Both generators (:mod:`~mixassist.data.synth.procedural` and
:mod:`~mixassist.data.synth.scores`) return an :class:`Arrangement`;
:mod:`~mixassist.data.synth.song` renders it.  Everything here is plain data, so the
generators can be tested without fluidsynth or samples.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from mixassist.data.synth.drums import Hit, Kit, Loop
from mixassist.data.synth.midi import Part
from mixassist.roles import ROLES

__all__ = [
    "ROLES",
    "KINDS",
    "STEREO_MODES",
    "Section",
    "PartStem",
    "SampleStem",
    "LoopStem",
    "Arrangement",
    "NOTE_NAMES",
    "key_name",
]

#: Song kinds: music21 scores and four procedural styles.
KINDS = ("score", "pop", "rock", "electronic", "jazz")
#: How a part's stereo render becomes a stem: ``mono`` (L+R)/2, ``native`` (fluidsynth's
#: stereo samples), ``spaced`` (mono source seen by a spaced microphone pair).
STEREO_MODES = ("mono", "native", "spaced")

NOTE_NAMES = {
    "major": ("C", "Db", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B"),
    "minor": ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "G#", "A", "Bb", "B"),
}


def key_name(tonic_pc: int, mode: str) -> str:
    """ "D minor", "Bb major": conventional spelling of a key from its tonic pitch class.

    >>> key_name(2, "minor"), key_name(10, "major")
    ('D minor', 'Bb major')
    """
    return f"{NOTE_NAMES[mode][tonic_pc % 12]} {mode}"


@dataclass(frozen=True)
class Section:
    """A stretch of the form: name ("verse"), first bar, length in bars and density 0-1."""

    name: str
    start_bar: int
    bars: int
    density: float


@dataclass
class PartStem:
    """A stem rendered by fluidsynth from ``part``; ``stereo`` is one of :data:`STEREO_MODES`."""

    part: Part
    stereo: str = "mono"


@dataclass
class SampleStem:
    """A stem made of one-shot samples from ``kit`` (drums, djembe).

    ``hits`` are timed in seconds; ``velocity_layers`` tells :func:`place_hits` how to scale.
    """

    name: str
    role: str
    instrument: str
    channels: int
    kit: Kit
    hits: list[Hit] = field(default_factory=list)
    choke: dict[str, set[str]] = field(default_factory=dict)


@dataclass
class LoopStem:
    """A Sonic Pi loop tiled over ``active`` beat ranges, ``beats`` song beats per pass."""

    name: str
    loop: Loop
    beats: float
    active: list[tuple[float, float]]
    role: str = "percussion"


@dataclass
class Arrangement:
    """A whole song, ready to render.

    Attributes
    ----------
    kind : str
        One of :data:`KINDS`.
    source : str
        ``"procedural"`` or ``"music21:<corpus path>"``.
    tempo_bpm : float
        Constant tempo (quarter notes per minute).
    key : str
        E.g. ``"D minor"``.
    song_beats : float
        Beats that fit in the requested length.
    parts : list of PartStem
        Rendered by fluidsynth.
    samples : list of SampleStem
        Drum and percussion stems made from samples.
    loops : list of LoopStem
        Loop stems.
    drumkit : Kit or None
        The drum kit of the song (recorded in ``song.json``).
    sections : list of Section
        The form (empty for scores).
    licences : list of str
        Extra licence lines (score source, percussion kits).
    """

    kind: str
    source: str
    tempo_bpm: float
    key: str
    song_beats: float
    parts: list[PartStem] = field(default_factory=list)
    samples: list[SampleStem] = field(default_factory=list)
    loops: list[LoopStem] = field(default_factory=list)
    drumkit: Kit | None = None
    sections: list[Section] = field(default_factory=list)
    licences: list[str] = field(default_factory=list)
