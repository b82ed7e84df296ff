"""Multi-part scores from the music21 corpus, excerpted and orchestrated for realistic ensembles.

Repertoire (files with a rights notice, e.g. the Palestrina Humdrum encodings, whose notice
reserves "all derivative electronic formats", are never used):

* Bach four-part chorales (``bach/bwv*.mxl``): choir, voices, organ, woodwinds, brass or
  strings, drawn per song;
* string quartet movements by Haydn, Mozart and Beethoven: violin 1, violin 2, viola, cello;
* Monteverdi five-part madrigals: voices, a viol/string consort, recorders or cornetts and
  sackbuts.

music21 exports every part as a piano; here each part gets a General MIDI program from its
part name or from the drawn ensemble.  A window of the requested length is taken from a
random bar of the piece (repeating the piece when it is too short); the tempo is drawn in
60-120 BPM.  The top sounding part is the "lead", the lowest the "bass", the inner ones
"chords".  music21 is optional (``pip install 'mixassist[data]'``): it is imported only here,
and only when a score is requested.
"""

from __future__ import annotations

import fnmatch
import logging
import re
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mixassist.data.synth.arrangement import Arrangement, PartStem
from mixassist.data.synth.genres import load_table
from mixassist.data.synth.midi import Part, quantise_tempo_bpm
from mixassist.data.synth.theory import humanise
from mixassist.errors import MissingDependencyError

__all__ = ["music21_available", "CATEGORIES", "ENSEMBLES", "arrange_score", "assign_roles"]

log = logging.getLogger(__name__)

_INSTALL = "install it with: pip install 'mixassist[data]'"


def music21_available() -> bool:
    """True when music21 can be imported."""
    try:
        import music21  # noqa: F401  # lazy: music21 is an optional dependency (the data extra)
    except ImportError:
        return False
    return True


def _music21():
    try:
        import music21  # lazy: music21 is an optional dependency (the data extra)
    except ImportError as err:
        raise MissingDependencyError(f"music21 is needed to synthesise songs from scores; {_INSTALL}") from err
    return music21


@dataclass(frozen=True)
class Category:
    """A repertoire: corpus path patterns, accepted part counts, ensembles to draw from."""

    name: str
    patterns: tuple[str, ...]
    parts: tuple[int, ...]
    ensembles: tuple[str, ...]
    weight: float


CATEGORIES: tuple[Category, ...] = (
    Category("chorale", ("bach/bwv*.mxl",), (4,), ("choir", "voices", "organ", "winds", "brass", "strings"), 0.4),
    Category(
        "string_quartet",
        (
            "beethoven/opus18no1/movement*.mxl",
            "beethoven/opus59no*/movement*.mxl",
            "haydn/opus1no1/movement*.mxl",
            "haydn/opus74no1/movement*.mxl",
            "mozart/k80/movement*.mxl",
            "mozart/k155/movement*.mxl",
            "mozart/k156/movement*.mxl",
            "mozart/k458/movement*.mxl",
        ),
        (4,),
        ("quartet",),
        0.35,
    ),
    Category(
        "madrigal",
        ("monteverdi/madrigal.*.mxl",),
        (4, 5, 6),
        ("voices", "choir", "strings", "recorders", "brass"),
        0.25,
    ),
)

# (program, instrument, stem base name) per ensemble (table: ensembles.json), from the top
# voice down; the last entry is repeated for extra lower parts.
ENSEMBLES: dict[str, list[tuple[int, str, str]]] = {
    name: [(program, instrument, stem) for program, instrument, stem in members]
    for name, members in load_table("ensembles.json").items()
}
_VOICE_NAMES = (
    "soprano",
    "canto",
    "cantus",
    "quinto",
    "alto",
    "altus",
    "tenor",
    "tenore",
    "basso",
    "bass",
    "bassus",
    "sesto",
)
_NAME_TO_INSTRUMENT = [
    (r"viol(in|ino)", (40, "violin", "violin")),
    (r"viola", (41, "viola", "viola")),
    (r"cello|violoncell|violone", (42, "cello", "cello")),
]


def _corpus_paths(music21) -> list[str]:
    root = Path(music21.common.getCorpusFilePath())
    out = []
    for p in music21.corpus.getCorePaths():
        try:
            out.append(Path(p).relative_to(root).as_posix())
        except ValueError:
            continue
    return sorted(out)


def _rights_notice(path: Path) -> str | None:
    """The rights statement embedded in a MusicXML/Humdrum file, if any."""
    try:
        if path.suffix == ".mxl":
            with zipfile.ZipFile(path) as z:
                names = [n for n in z.namelist() if not n.startswith("META") and n.endswith(("xml", "musicxml"))]
                text = z.read(names[0]).decode("utf-8", "replace") if names else ""
        else:
            text = path.read_text(errors="replace")[:200_000]
    except (OSError, zipfile.BadZipFile, KeyError):
        return "unreadable"
    found = re.findall(r"<rights[^>]*>(.*?)</rights>", text, re.S) + re.findall(r"^!!!(?:YEM|YEC).*$", text, re.M)
    found = [f.strip() for f in found if f.strip()]
    return "; ".join(found) if found else None


def _voice_name(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


def _instrument_for(part_name: str, index: int, count: int, ensemble: str) -> tuple[int, str, str]:
    table = ENSEMBLES[ensemble]
    if ensemble == "quartet":
        for pattern, value in _NAME_TO_INSTRUMENT:
            if re.search(pattern, part_name.lower()):
                return value
    if ensemble in ("choir", "voices"):
        base = _voice_name(part_name)
        if base and any(v in base for v in _VOICE_NAMES):
            program, instrument, _ = table[min(index, len(table) - 1)]
            voice = next(v for v in _VOICE_NAMES if v in base)
            voice = {
                "canto": "soprano",
                "cantus": "soprano",
                "altus": "alto",
                "tenore": "tenor",
                "basso": "bass",
                "bassus": "bass",
                "sesto": "sextus",
            }.get(voice, voice)
            return program, instrument.split("(")[0] + f"({voice})", "bass_voice" if voice == "bass" else voice
    # map the index onto the table: top, inner..., bottom
    if index == count - 1:
        return table[-1]
    return table[min(index, len(table) - 2)]


def _unique_names(bases: Sequence[str]) -> list[str]:
    counts: dict[str, int] = {}
    for b in bases:
        counts[b] = counts.get(b, 0) + 1
    seen: dict[str, int] = {}
    out = []
    for b in bases:
        if counts[b] > 1:
            seen[b] = seen.get(b, 0) + 1
            out.append(f"{b}{seen[b]}")
        else:
            out.append(b)
    return out


def assign_roles(mean_pitches: Sequence[float]) -> list[str]:
    """Top part "lead", lowest "bass", the rest "chords" (by mean pitch in the excerpt)."""
    order = np.argsort(mean_pitches)
    roles = ["chords"] * len(mean_pitches)
    if len(mean_pitches) >= 1:
        roles[int(order[-1])] = "lead"
    if len(mean_pitches) >= 2:
        roles[int(order[0])] = "bass"
    return roles


def _extract(score) -> tuple[list[str], list[list[tuple[float, float, int, int]]], list[float], float]:
    """Part names, notes ``(offset_ql, dur_ql, pitch, velocity)``, bar starts, length (quarter notes)."""
    names, parts = [], []
    for part in score.parts:
        notes = []
        for n in part.stripTies().flatten().notes:
            dur = float(n.quarterLength)
            if dur <= 0:  # grace notes
                continue
            vel = n.volume.velocity if n.volume is not None and n.volume.velocity else 80
            for p in n.pitches:
                notes.append((float(n.offset), dur, int(p.midi), int(vel)))
        names.append(part.partName or part.id or "")
        parts.append(sorted(notes))
    bars = sorted({float(m.offset) for m in score.parts[0].getElementsByClass("Measure")}) or [0.0]
    return names, parts, bars, float(score.highestTime)


def _window(parts, bars, length_ql, window_ql, rng) -> tuple[float, list[list[tuple[float, float, int, int]]]]:
    """Pick a bar-aligned window where every part plays; repeat the piece when it is short."""
    if length_ql <= 0:
        return 0.0, [[] for _ in parts]
    reps = int(np.ceil((window_ql + 1) / length_ql)) + 1 if length_ql < window_ql + 1 else 1
    tiled = [[(s + k * length_ql, d, p, v) for k in range(reps) for s, d, p, v in notes] for notes in parts]
    starts = [b for b in bars if b + window_ql <= length_ql * reps] or [0.0]

    def coverage(start: float) -> float:
        worst = 1.0
        for notes in tiled:
            covered = sum(
                min(s + d, start + window_ql) - max(s, start)
                for s, d, _, _ in notes
                if s < start + window_ql and s + d > start
            )
            worst = min(worst, covered / window_ql)
        return worst

    order = rng.permutation(len(starts))[:24]
    scored = [(coverage(starts[i]), starts[i]) for i in order]
    good = [s for c, s in scored if c >= 0.3]
    start = good[0] if good else max(scored)[1]
    out = []
    for notes in tiled:
        sel = []
        for s, d, p, v in notes:
            if s + d <= start or s >= start + window_ql:
                continue
            s2 = max(s, start)
            sel.append((s2 - start, s + d - s2, p, v))
        out.append(sel)
    return start, out


def _doubled(a: Sequence[tuple[float, float, int, int]], b: Sequence[tuple[float, float, int, int]]) -> bool:
    """True when most of ``b``'s notes (onset, pitch) also occur in ``a`` (a doubling part)."""
    if not b:
        return False
    sa = {(round(s, 3), p) for s, _, p, _ in a}
    return sum((round(s, 3), p) in sa for s, _, p, _ in b) / len(b) > 0.6


def _dynamics(notes, rng: np.random.Generator, base: float) -> list[tuple[float, float, int, int]]:
    """Phrase-level dynamics (a slow random walk per 4 beats) and downbeat accents."""
    if not notes:
        return []
    horizon = int(max(s for s, _, _, _ in notes) // 4) + 2
    walk = np.cumsum(rng.normal(0, 4.0, horizon))
    walk = np.clip(walk - walk.mean(), -15, 15)
    out = []
    for s, d, p, v in notes:
        accent = 5 if float(s).is_integer() and int(s) % 4 == 0 else 0
        vel = 0.5 * v + 0.5 * base + walk[int(s // 4)] + accent
        out.append((s, d, p, int(np.clip(round(vel), 20, 120))))
    return out


def arrange_score(seconds: float, rng: np.random.Generator) -> Arrangement:
    """Draw a piece, an ensemble, a tempo and an excerpt of ``seconds``.

    Raises
    ------
    MissingDependencyError
        music21 (or its corpus) is not installed.
    """
    music21 = _music21()
    all_paths = _corpus_paths(music21)
    if not all_paths:
        raise MissingDependencyError(f"the music21 corpus is not installed; {_INSTALL}")
    root = Path(music21.common.getCorpusFilePath())
    weights = np.array([c.weight for c in CATEGORIES])
    for _attempt in range(12):
        category = CATEGORIES[int(rng.choice(len(CATEGORIES), p=weights / weights.sum()))]
        candidates = [p for p in all_paths if any(fnmatch.fnmatchcase(p, pat) for pat in category.patterns)]
        if not candidates:
            continue
        rel = candidates[int(rng.integers(len(candidates)))]
        notice = _rights_notice(root / rel)
        if notice:
            log.debug("%s skipped: rights notice %r", rel, notice)
            continue
        try:
            score = music21.corpus.parse(rel)
        except Exception as err:  # music21 raises many types on odd files
            log.debug("%s skipped: %s", rel, err)
            continue
        if not hasattr(score, "parts") or len(score.parts) not in category.parts:
            continue
        arrangement = _orchestrate(score, rel, category, seconds, rng)
        if arrangement is not None and len(arrangement.parts) >= 2:
            return arrangement
    raise MissingDependencyError(f"no usable score found in the music21 corpus at {root}; {_INSTALL}")


def _orchestrate(score, rel: str, category: Category, seconds: float, rng: np.random.Generator) -> Arrangement | None:
    tempo = quantise_tempo_bpm(float(rng.uniform(60.0, 120.0)))
    window_ql = seconds * tempo / 60.0
    names, parts, bars, length = _extract(score)
    _, excerpt = _window(parts, bars, length, window_ql + 1.0, rng)
    ensemble = category.ensembles[int(rng.integers(len(category.ensembles)))]
    keep: list[int] = []
    for i, notes in enumerate(excerpt):
        if not notes:
            continue
        if any(_doubled(excerpt[j], notes) for j in keep):
            continue
        keep.append(i)
    if len(keep) < 2:
        return None
    count = len(parts)
    chosen = [_instrument_for(names[i], i, count, ensemble) for i in keep]
    stem_names = _unique_names([c[2] for c in chosen])
    means = [float(np.mean([p for _, _, p, _ in excerpt[i]])) for i in keep]
    roles = assign_roles(means)
    timing_ms = float(rng.uniform(6.0, 14.0))
    stems = []
    for (program, instrument, _), name, role, i in zip(chosen, stem_names, roles, keep):
        legato = 0.98 if program == 19 else 0.93
        notes = [(s, d * legato, p, v) for s, d, p, v in excerpt[i]]
        notes = _dynamics(notes, rng, base=float(rng.uniform(70, 95)))
        notes = humanise(notes, rng, tempo, timing_ms=timing_ms, velocity_sd=5.0)
        if role != "chords":  # the top and bottom parts are close-miked in mono
            stereo = "mono"
        elif program == 19:
            stereo = "native"
        else:
            stereo = "spaced" if rng.random() < 0.3 else "mono"
        part = Part(
            name,
            role,
            instrument,
            program,
            notes,
            channels=1 if stereo == "mono" else 2,
            detune_cents=float(rng.uniform(-8.0, 8.0)),
        )
        stems.append(PartStem(part, stereo))
    try:
        key = score.analyze("key")
        key_text = f"{key.tonic.name.replace('-', 'b')} {key.mode}"
    except Exception:  # analysis can fail on odd excerpts; the key is informative only
        key_text = "unknown"
    composer = (score.metadata.composer if score.metadata is not None else None) or rel.split("/")[0].capitalize()
    source = "music21:" + re.sub(r"\.(mxl|xml|krn|abc|musicxml)$", "", rel)
    licence = (
        f"Score: {rel} from the music21 corpus ({composer}); the composition is in the public domain and the "
        "encoding, distributed with music21 (BSD-3-Clause), carries no rights notice. Orchestration, tempo "
        "and performance generated by mixassist."
    )
    return Arrangement(
        kind="score",
        source=source,
        tempo_bpm=tempo,
        key=key_text,
        song_beats=window_ql,
        parts=stems,
        licences=[licence],
    )
