"""Engine B's music: procedural arrangements in five genres and excerpts of music21 scores.

A song is a list of :class:`Part` (stem name, role, voice, notes). Procedural genres (``pop``,
``rock``, ``club``, ``jazz``, ``folk``) draw a tempo, a key and a four-chord loop and write
bass, chords, lead, pad and drum parts; score genres (``chorale``, ``quartet``) take an excerpt
of a Bach chorale or a Beethoven string quartet from the music21 corpus (pieces split between
the validation and test splits: :func:`score_pool`). The quartets engine B reads
(op. 18 nos. 3-5, op. 74, op. 132) are ones the training synthesiser's corpus list leaves out.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import numpy as np

from mixassist.errors import MissingDependencyError

__all__ = ["GENRES", "SCORE_GENRES", "Part", "arrange", "score_pool"]

SCORE_GENRES = ("chorale", "quartet")
GENRES = ("pop", "rock", "club", "jazz", "folk", *SCORE_GENRES)

CHORALES = (
    "bach/bwv1.6", "bach/bwv10.7", "bach/bwv101.7", "bach/bwv102.7", "bach/bwv103.6", "bach/bwv104.6",
    "bach/bwv108.6", "bach/bwv11.6", "bach/bwv110.7", "bach/bwv111.6", "bach/bwv113.8", "bach/bwv114.7",
    "bach/bwv115.6", "bach/bwv116.6", "bach/bwv117.4", "bach/bwv119.9",
)  # fmt: skip
QUARTETS = ("beethoven/opus18no3", "beethoven/opus18no4", "beethoven/opus18no5", "beethoven/opus74")

# tempo range (BPM), chord loop (scale degrees as semitone roots and chord types), major probability
_GENRE_TABLE = {
    "pop": ((88, 124), [(0, "maj"), (7, "maj"), (9, "min"), (5, "maj")]),
    "rock": ((100, 150), [(0, "maj"), (10, "maj"), (5, "maj"), (0, "maj")]),
    "club": ((118, 130), [(0, "min"), (8, "maj"), (3, "maj"), (10, "maj")]),
    "jazz": ((90, 170), [(2, "min7"), (7, "dom7"), (0, "maj7"), (9, "dom7")]),
    "folk": ((80, 116), [(0, "maj"), (5, "maj"), (0, "maj"), (7, "maj")]),
}
_CHORD = {"maj": (0, 4, 7), "min": (0, 3, 7), "maj7": (0, 4, 7, 11), "min7": (0, 3, 7, 10), "dom7": (0, 4, 7, 10)}


@dataclass
class Part:
    """One stem to render: its name, role, the voice (see :mod:`.song`) and its notes."""

    name: str
    role: str
    voice: str
    notes: list[tuple[float, float, int, int]] = field(default_factory=list)
    hits: list[tuple[float, int]] = field(default_factory=list)  # drums: (time_s, velocity)


def score_pool(genre: str, split: str) -> tuple[str, ...]:
    """The corpus pieces of ``genre`` a split may use: alternate pieces, so val and test never share one."""
    pieces = CHORALES if genre == "chorale" else QUARTETS
    return pieces[0::2] if split == "val" else pieces[1::2]


@functools.lru_cache(maxsize=8)
def _score_notes(path: str) -> tuple[tuple[str, ...], tuple[tuple[tuple[float, float, int], ...], ...], float]:
    try:
        from music21 import corpus  # lazy: music21 is optional and slow to import
    except ImportError as err:  # pragma: no cover - music21 is in the dev environment
        raise MissingDependencyError("engine B's score songs need music21: pip install music21") from err
    score = corpus.parse(path)
    names: list[str] = []
    parts: list[tuple[tuple[float, float, int], ...]] = []
    for part in score.parts:
        notes: list[tuple[float, float, int]] = []
        for n in part.flatten().notes:
            for p in n.pitches:
                notes.append((float(n.offset), float(n.quarterLength), int(p.midi)))
        names.append(str(part.partName or f"part{len(names)}"))
        parts.append(tuple(notes))
    return tuple(names), tuple(parts), float(score.highestTime)


def _score_parts(genre: str, piece: str, seconds: float, rng: np.random.Generator) -> tuple[list[Part], float]:
    names, parts, total = _score_notes(piece)
    bpm = float(rng.uniform(56, 84) if genre == "chorale" else rng.uniform(84, 132))
    spq = 60.0 / bpm
    span = seconds / spq
    start = float(rng.uniform(0, max(total - span, 0.0))) if total > span else 0.0
    start = float(np.floor(start))
    voices = (
        ["choir_ooh", "recorder", "english_horn", "bassoon"] if rng.random() < 0.5 else ["oboe", "organ", "french_horn", "tuba"]
    ) if genre == "chorale" else ["fiddle", "fiddle", "viola", "cello"]  # fmt: skip
    roles = ["lead", "chords", "chords", "bass"]
    out = []
    for k, (name, notes) in enumerate(zip(names, parts)):
        k4 = min(k, 3)
        chosen = []
        for off, dur, pitch in notes:
            t = (off - start) * spq
            if -1e-9 <= t < seconds - 0.05 and dur > 0:
                vel = int(np.clip(rng.normal(80, 10), 40, 120))
                jitter = float(rng.normal(0, 0.008))
                chosen.append((max(t + jitter, 0.0), min(dur * spq * 0.95, seconds - t), pitch, vel))
        if chosen:
            stem = "".join(c for c in name.lower().replace(" ", "_") if c.isalnum() or c == "_") or f"part{k}"
            out.append(Part(f"{stem}_{k}", roles[k4], voices[k4], chosen))
    # the excerpt's repeat when the piece is shorter than asked: loop the parts
    if total * spq < seconds:
        loop = total * spq
        for part in out:
            part.notes = [
                (t + r * loop, d, p, v)
                for r in range(int(seconds // loop) + 1)
                for t, d, p, v in part.notes
                if t + r * loop < seconds
            ]
    return out, bpm


def _procedural(genre: str, seconds: float, rng: np.random.Generator) -> tuple[list[Part], float]:
    (lo, hi), loop = _GENRE_TABLE[genre]
    bpm = float(rng.uniform(lo, hi))
    beat = 60.0 / bpm
    key = int(rng.integers(0, 12))
    swing = 0.12 if genre == "jazz" else 0.0
    bars = int(np.ceil(seconds / (4 * beat)))

    def human(t: float) -> float:
        return max(t + float(rng.normal(0, 0.006)), 0.0)

    bass_v = {"pop": "fm_bass", "rock": "pluck_bass", "club": "fm_bass", "jazz": "contrabass", "folk": "pluck_bass"}[
        genre
    ]
    chord_v = str(rng.choice({"pop": ["fm_piano", "nylon_guitar", "clavinet"], "rock": ["muted_guitar", "pluck"],
                              "club": ["fm_bell", "pluck"], "jazz": ["fm_piano", "muted_guitar"],
                              "folk": ["banjo", "nylon_guitar", "accordion"]}[genre]))  # fmt: skip
    lead_v = str(rng.choice({"pop": ["soprano_sax", "pan_flute", "fm_bell"], "rock": ["harmonica", "fm_lead"],
                             "club": ["fm_lead", "steel_drums"], "jazz": ["muted_trumpet", "baritone_sax"],
                             "folk": ["fiddle", "harmonica", "recorder"]}[genre]))  # fmt: skip
    bass, chords, lead, pad = (Part("bass", "bass", bass_v), Part("keys", "chords", chord_v),
                               Part("lead", "lead", lead_v), Part("pad", "pad", "pad"))  # fmt: skip
    kick, snare, hats = Part("kick", "drums", "kick"), Part("snare", "drums", "snare"), Part("hats", "drums", "hat")
    scale = [0, 2, 4, 5, 7, 9, 11] if genre != "club" else [0, 2, 3, 5, 7, 8, 10]
    melody = 72 + key % 12
    for bar in range(bars):
        root, kind = loop[bar % 4]
        t0 = bar * 4 * beat
        chord = [48 + (key + root) % 12 + i for i in _CHORD[kind]]
        for b in range(4):
            t = t0 + b * beat
            if genre == "club" or (genre != "jazz" and b % 2 == 0) or genre == "jazz":
                pitch = 36 + (key + root) % 12 + (7 if genre == "jazz" and b % 2 else 0)
                bass.notes.append(
                    (human(t), beat * (0.9 if genre != "club" else 0.45), pitch, int(rng.integers(80, 110)))
                )
            if genre in ("pop", "rock", "folk") or (genre == "jazz" and b in (1, 3)):
                dur = beat * (0.9 if genre != "jazz" else 0.4)
                for p in chord:
                    chords.notes.append(
                        (human(t + (swing * beat if b % 2 else 0)), dur, p + 12, int(rng.integers(60, 95)))
                    )
        if genre in ("club", "pop"):
            pad.notes += [(t0, 4 * beat, p + 12, 70) for p in chord]
        # lead: two notes a beat, a random walk on the scale, resting a quarter of the time
        for s in range(8):
            if rng.random() < 0.25:
                continue
            step = int(rng.integers(-2, 3))
            degree = (scale.index(min(scale, key=lambda d: abs(d - (melody - key) % 12))) + step) % 7
            melody = int(np.clip(melody + step * 2, 64 + key % 12, 86))
            pitch = 60 + key % 12 + scale[degree] + 12 * ((melody - 60) // 12)
            lead.notes.append((human(t0 + s * beat / 2), beat / 2 * 0.9, pitch, int(rng.integers(70, 110))))
        if genre in ("pop", "rock", "club", "jazz"):
            for b in range(4):
                t = t0 + b * beat
                if (
                    genre == "club"
                    or (genre in ("pop", "rock") and b in (0, 2))
                    or (genre == "jazz" and rng.random() < 0.3)
                ):
                    kick.hits.append((human(t), int(rng.integers(95, 120))))
                if (genre != "jazz" and b in (1, 3)) or (genre == "jazz" and rng.random() < 0.2):
                    snare.hits.append((human(t), int(rng.integers(85, 120))))
                for half in (0, 1):
                    if genre == "jazz" and half == 1 and b % 2 == 0:
                        continue
                    off = half * beat * (0.5 + swing)
                    hats.hits.append((human(t + off), int(rng.integers(50, 100))))
    extras = []
    if genre == "folk":  # a shaker and a second melodic line (a third below the lead) instead of a kit
        extras.append(
            Part(
                "shaker",
                "drums",
                "hat",
                hits=[(human(b * beat / 2), int(rng.integers(40, 90))) for b in range(bars * 8)],
            )
        )
        extras.append(Part("harmony", "chords", str(rng.choice(["accordion", "pan_flute", "fm_bell"])),
                           [(t + 0.01, d, p - 4, max(v - 15, 30)) for t, d, p, v in lead.notes]))  # fmt: skip
    parts = [bass, chords, lead]
    if pad.notes:
        parts.append(pad)
    if kick.hits:
        parts += [kick, snare, hats]
    parts += extras
    for part in parts:
        part.notes = [n for n in part.notes if n[0] < seconds - 0.05]
        part.hits = [h for h in part.hits if h[0] < seconds - 0.05]
    if genre == "jazz":
        hats.voice = "ride"
    return parts, bpm


def arrange(genre: str, seconds: float, rng: np.random.Generator, piece: str | None = None) -> tuple[list[Part], float]:
    """The parts of a song in ``genre`` (and its tempo); score genres need ``piece`` (a corpus path)."""
    if genre in SCORE_GENRES:
        if piece is None:
            raise MissingDependencyError("a score genre needs a corpus piece")
        return _score_parts(genre, piece, seconds, rng)
    return _procedural(genre, seconds, rng)
