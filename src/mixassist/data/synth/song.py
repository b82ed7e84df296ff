"""One song: draw it from a seed, render it, level it, write ``stems/*.wav`` and ``song.json``.

Every random decision comes from generators seeded with ``[seed, stream]`` (one stream per
concern: kind and soundfont, arrangement, mixing), so the same seed gives byte-identical
files on the same machine.  A song folder is written under a temporary name next to its
destination and renamed when complete: a killed run leaves either a whole song or none.
"""

from __future__ import annotations

import logging
import math
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mixassist.audio.io import save_audio
from mixassist.data.synth.arrangement import (
    KINDS,
    ROLES,
    Arrangement,
    PartStem,
    SampleStem,
)
from mixassist.data.synth.drums import (
    SONIC_PI_SAMPLES,
    kit_samples,
    place_hits,
    render_loop,
    sonic_pi_kit,
    usable_kits,
)
from mixassist.data.synth.mixing import (
    LEVEL_RANGE_LUFS,
    MULTI_MIC_KINDS,
    fade_edges,
    make_multi_mic,
    remove_dc,
    set_level,
    spaced_pair,
)
from mixassist.data.synth.procedural import arrange_procedural
from mixassist.data.synth.render import (
    SOUNDFONTS,
    FluidSynthRenderer,
    Renderer,
    SoundFont,
    find_soundfont,
)
from mixassist.data.synth.scores import arrange_score, music21_available
from mixassist.errors import InvalidParameterError, MissingDependencyError, OutputError
from mixassist.fileio import fsync_folder, write_json_atomic

__all__ = ["SongSpec", "synthesize_song", "SONG_VERSION", "KIND_WEIGHTS"]

log = logging.getLogger(__name__)

SONG_VERSION = 1
#: Probability of each kind when ``kind`` is None (scores only when music21 is installed).
KIND_WEIGHTS = {"score": 0.2, "pop": 0.25, "rock": 0.2, "electronic": 0.2, "jazz": 0.15}
_MAX_SECONDS = 600.0
# stream numbers of the per-concern generators
_STREAM_KIND, _STREAM_ARRANGE, _STREAM_MIX, _STREAM_LEVELS, _STREAM_FONT = 1, 2, 3, 4, 5
# drawn level range, inside LEVEL_RANGE_LUFS with room for the peak ceiling to pull down
_DRAW_LUFS = (-33.0, -12.0)


@dataclass(frozen=True)
class SongSpec:
    """What to synthesise: the inputs of :func:`synthesize_song`, validated.

    Parameters
    ----------
    seed : int
        Any non-negative integer; everything about the song follows from it.
    seconds : float
        Length of every stem, 1-600 s.
    sample_rate : int
        8-192 kHz (fluidsynth renders at this rate when it can, else at 48 kHz and the
        result is resampled).
    kind : str or None
        One of ``"score"``, ``"pop"``, ``"rock"``, ``"electronic"``, ``"jazz"``; None draws
        it from the seed (never ``"score"`` when music21 is missing).

    Examples
    --------
    >>> SongSpec(seed=7, seconds=20.0).frames
    882000
    """

    seed: int
    seconds: float
    sample_rate: int = 44100
    kind: str | None = None

    def __post_init__(self) -> None:
        if isinstance(self.seed, bool) or not isinstance(self.seed, (int, np.integer)) or self.seed < 0:
            raise InvalidParameterError(f"seed={self.seed!r} must be a non-negative integer")
        if not (
            isinstance(self.seconds, (int, float, np.integer, np.floating))
            and not isinstance(self.seconds, bool)
            and math.isfinite(self.seconds)
            and 1.0 <= self.seconds <= _MAX_SECONDS
        ):
            raise InvalidParameterError(f"seconds={self.seconds!r} must be between 1 and {_MAX_SECONDS:.0f}")
        if (
            isinstance(self.sample_rate, bool)
            or not isinstance(self.sample_rate, (int, np.integer))
            or not (8000 <= self.sample_rate <= 192000)
        ):
            raise InvalidParameterError(
                f"sample_rate={self.sample_rate!r} must be an integer between 8000 and 192000 Hz"
            )
        if self.kind is not None and self.kind not in KINDS:
            raise InvalidParameterError(f"kind={self.kind!r} is not one of {', '.join(KINDS)} (or None to draw it)")
        # plain Python numbers from here on (numpy scalars are accepted as input)
        object.__setattr__(self, "seed", int(self.seed))
        object.__setattr__(self, "seconds", float(self.seconds))
        object.__setattr__(self, "sample_rate", int(self.sample_rate))

    @property
    def frames(self) -> int:
        """Samples per stem: ``round(seconds * sample_rate)``."""
        return int(round(float(self.seconds) * int(self.sample_rate)))

    def rng(self, stream: int) -> np.random.Generator:
        """The generator of one concern of this song."""
        return np.random.default_rng([int(self.seed), stream])

    def draw_kind(self, scores_available: bool | None = None) -> str:
        """``kind``, or the kind drawn from the seed."""
        if self.kind is not None:
            return self.kind
        if scores_available is None:
            scores_available = music21_available()
        names = [k for k in KINDS if scores_available or k != "score"]
        p = np.array([KIND_WEIGHTS[k] for k in names])
        return names[int(self.rng(_STREAM_KIND).choice(len(names), p=p / p.sum()))]


def _require_sonic_pi() -> None:
    if not SONIC_PI_SAMPLES.is_dir():
        raise MissingDependencyError(
            f"Sonic Pi samples not found in {SONIC_PI_SAMPLES}; install them with: apt-get install sonic-pi-samples"
        )


def arrange(spec: SongSpec, kind: str) -> Arrangement:
    """The arrangement of a song (no audio yet)."""
    rng = spec.rng(_STREAM_ARRANGE)
    if kind == "score":
        return arrange_score(spec.seconds, rng)
    kits = usable_kits()
    _require_sonic_pi()
    return arrange_procedural(kind, spec.seconds, rng, kits, electronic_kit=sonic_pi_kit, loops_available=True)


def _stem_from_part(x: np.ndarray, ps: PartStem, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
    """The stem of a rendered part: mono, the render's own stereo, or a spaced pair.

    Lead and bass parts are always mono, as they are recorded in a studio.
    """
    if ps.stereo == "mono" or ps.part.role in ("lead", "bass"):
        return x.mean(axis=0, keepdims=True)
    if ps.stereo == "spaced":
        return spaced_pair(x.mean(axis=0), sample_rate, rng)
    side = float(np.mean((x[0] - x[1]) ** 2))
    mid = float(np.mean((x[0] + x[1]) ** 2)) or 1.0
    if side / mid < 1e-4:  # the "stereo" render is dual mono: mike it as a pair instead
        return spaced_pair(x.mean(axis=0), sample_rate, rng)
    return x


def _render_samples(stem: SampleStem, n: int, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
    slots = sorted({h.slot for h in stem.hits})
    samples = kit_samples(stem.kit, slots, sample_rate)
    return place_hits(
        n,
        stem.hits,
        samples,
        sample_rate,
        channels=stem.channels,
        rng=rng,
        choke=stem.choke,
        velocity_layers=not stem.kit.single_layer,
    )


def _pair_kind(name: str, role: str, instrument: str) -> str | None:
    if name == "kick":
        return "kick"
    if name == "snare":
        return "snare"
    if role == "bass" and "bass" in name:
        return "bass"
    if any(w in instrument for w in ("cello", "viola", "acoustic guitar", "steel-string", "bassoon", "trombone")):
        return "acoustic"
    return None


def _round(x: float | None, digits: int = 2) -> float | None:
    return None if x is None else round(float(x), digits) + 0.0


def synthesize_song(
    out_dir: str | os.PathLike[str],
    *,
    seed: int,
    seconds: float,
    sample_rate: int = 44100,
    kind: str | None = None,
    renderer: Renderer | None = None,
    overwrite: bool = False,
    name: str | None = None,
) -> dict[str, Any]:
    """Synthesise one dry multitrack song into the folder ``out_dir``.

    Parameters
    ----------
    out_dir : path
        The song folder to create (``.../song_007``); its name is the song's name.
    seed : int
        Non-negative; the same seed gives byte-identical files on the same machine.
    seconds : float
        Length of every stem (1-600 s); all stems have ``round(seconds * sample_rate)``
        samples.
    sample_rate : int
        Hz.
    kind : {"score", "pop", "rock", "electronic", "jazz"} or None
        None draws it from the seed.
    renderer : Renderer, optional
        Renders melodic parts; defaults to :class:`FluidSynthRenderer` (tests inject a stub).
    overwrite : bool
        Replace an existing ``out_dir``; otherwise an existing folder is an error.
    name : str, optional
        The song name recorded in ``song.json`` (default: ``out_dir``'s name).

    Returns
    -------
    dict
        The song's metadata, as written to ``song.json`` (see ``docs/data.md``).

    Raises
    ------
    MissingDependencyError
        fluidsynth, the drawn soundfont, the drum kits, the Sonic Pi samples or (for
        scores) music21 are missing; the message names the package to install.
    OutputError
        ``out_dir`` exists and ``overwrite`` is False.
    InvalidParameterError
        A bad ``seed``, ``seconds``, ``sample_rate`` or ``kind``.

    Examples
    --------
    >>> meta = synthesize_song(Path("/tmp/song_000"), seed=3, seconds=10.0)  # doctest: +SKIP
    >>> meta["kind"], [s["name"] for s in meta["stems"]]  # doctest: +SKIP
    ('rock', ['kick', 'snare', 'hats', 'overheads', 'bass', 'rhythm_guitar', 'lead_guitar'])
    """
    spec = SongSpec(seed=seed, seconds=seconds, sample_rate=sample_rate, kind=kind)
    out_dir = Path(out_dir)
    name = name or out_dir.name
    if out_dir.exists() and not overwrite:
        raise OutputError("song folder already exists; remove it or pass overwrite=True", out_dir)
    if not out_dir.parent.is_dir():
        raise OutputError(f"folder {out_dir.parent} does not exist", out_dir)
    renderer = renderer if renderer is not None else FluidSynthRenderer()

    song_kind = spec.draw_kind()
    font = SOUNDFONTS[int(spec.rng(_STREAM_FONT).integers(len(SOUNDFONTS)))]
    arrangement = arrange(spec, song_kind)
    stems = _render_stems(spec, arrangement, renderer, font)

    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.partial-", dir=out_dir.parent))
    try:
        (tmp / "stems").mkdir()
        meta = _write_song(tmp, spec, name, song_kind, arrangement, font, stems)
        if out_dir.exists():
            shutil.rmtree(out_dir)
        os.replace(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    fsync_folder(out_dir.parent)
    return meta


@dataclass
class _Stem:
    name: str
    role: str
    instrument: str
    program: int | None
    audio: np.ndarray  # (channels, n) float32


def _render_stems(
    spec: SongSpec, arr: Arrangement, renderer: Renderer, font: SoundFont
) -> tuple[list[_Stem], list[dict[str, Any]]]:
    n, rate = spec.frames, spec.sample_rate
    rng = spec.rng(_STREAM_MIX)
    raw: list[_Stem] = []
    if arr.parts:
        audio = renderer.render(
            [ps.part for ps in arr.parts],
            tempo_bpm=arr.tempo_bpm,
            song_beats=arr.song_beats,
            seconds=spec.seconds,
            sample_rate=rate,
            soundfont=font,
        )
        for ps, x in zip(arr.parts, audio):
            x = _stem_from_part(np.asarray(x, np.float32), ps, rate, rng)
            program = None if ps.part.percussion else ps.part.program
            raw.append(_Stem(ps.part.name, ps.part.role, ps.part.instrument, program, x))
    for sample_stem in arr.samples:
        raw.append(
            _Stem(
                sample_stem.name,
                sample_stem.role,
                sample_stem.instrument,
                None,
                _render_samples(sample_stem, n, rate, rng),
            )
        )
    for loop in arr.loops:
        x = render_loop(loop.loop, loop.beats, arr.tempo_bpm, n, rate, loop.active)
        raw.append(_Stem(loop.name, loop.role, loop.loop.instrument, None, x))

    # drop silent stems (a part may have no note inside the excerpt), fade the edges
    kept: list[_Stem] = []
    for stem in raw:
        faded = fade_edges(remove_dc(stem.audio, rate), rate)
        if float(np.max(np.abs(faded), initial=0.0)) < 1e-5:
            log.debug("%s: silent in this excerpt, left out", stem.name)
            continue
        stem.audio = faded
        kept.append(stem)

    # multi-microphone pairs of one source
    pairs: list[dict[str, Any]] = []
    candidates = [i for i, s in enumerate(kept) if s.audio.shape[0] == 1 and _pair_kind(s.name, s.role, s.instrument)]
    wanted = 0
    draw = rng.random()
    if candidates and draw < 0.5:
        wanted = 2 if draw < 0.12 and len(candidates) > 1 else 1
    chosen = sorted(rng.choice(candidates, size=wanted, replace=False).tolist()) if wanted else []
    out: list[_Stem] = []
    for i, stem in enumerate(kept):
        if i not in chosen:
            out.append(stem)
            continue
        kind = MULTI_MIC_KINDS[_pair_kind(stem.name, stem.role, stem.instrument) or "acoustic"]
        second, delay_ms, polarity = make_multi_mic(stem.audio[0], rate, kind, rng)
        a = _Stem(
            f"{stem.name}_{kind.suffixes[0]}",
            stem.role,
            f"{stem.instrument} ({kind.instruments[0]})",
            stem.program,
            stem.audio,
        )
        b = _Stem(
            f"{stem.name}_{kind.suffixes[1]}",
            stem.role,
            f"{stem.instrument} ({kind.instruments[1]})",
            stem.program,
            second[None, :],
        )
        out += [a, b]
        pairs.append({"tracks": [a.name, b.name], "delay_ms": round(delay_ms, 4), "polarity": polarity})

    # unique, lowercase names
    seen: dict[str, int] = {}
    for stem in out:
        base = stem.name.lower()
        seen[base] = seen.get(base, 0) + 1
        stem.name = base if seen[base] == 1 else f"{base}{seen[base]}"
    return out, pairs


def _write_song(
    folder: Path,
    spec: SongSpec,
    name: str,
    kind: str,
    arr: Arrangement,
    font: SoundFont,
    rendered: tuple[list[_Stem], list[dict[str, Any]]],
) -> dict[str, Any]:
    stems, pairs = rendered
    rng = spec.rng(_STREAM_LEVELS)
    rate = spec.sample_rate
    entries = []
    for index, stem in enumerate(stems):
        target = float(rng.uniform(*_DRAW_LUFS))
        audio, lufs = set_level(stem.audio, rate, target)
        if lufs is None or not (LEVEL_RANGE_LUFS[0] <= lufs <= LEVEL_RANGE_LUFS[1]):
            log.debug("%s: level %s LUFS outside the range, left out", stem.name, lufs)
            continue
        rel = f"stems/{stem.name}.wav"
        save_audio(folder / rel, audio, rate, 24, seed=(int(spec.seed) * 1009 + index) % (1 << 32))
        if stem.role not in ROLES:
            raise AssertionError(f"internal error: role {stem.role!r}")  # pragma: no cover
        entries.append(
            {
                "name": stem.name,
                "file": rel,
                "role": stem.role,
                "instrument": stem.instrument,
                "channels": int(audio.shape[0]),
                "level_lufs": _round(lufs),
                "program": stem.program,
            }
        )
    names = {e["name"] for e in entries}
    pairs = [p for p in pairs if all(t in names for t in p["tracks"])]
    uses_parts = bool(arr.parts)
    licences = []
    if uses_parts:
        licences.append(font.licence)
    licences += arr.licences
    if any("CC-BY-SA" in line or "CC BY-SA" in line for line in licences):
        licences.append(
            "This song contains CC BY-SA 3.0 material: share it (and works made from its audio) under CC BY-SA 3.0."
        )
    if arr.loops or (arr.drumkit is not None and arr.drumkit.name == "sonic-pi-samples"):
        licences.append(
            "Sonic Pi samples: sources and CC0 dedication listed in the samples' README.md "
            "(https://github.com/sonic-pi-net/sonic-pi/tree/dev/etc/samples)."
        )
    licences.append("Arrangement, performance and mixing of the stems generated by mixassist (MIT licence).")
    try:
        font_name = find_soundfont(font).stem
    except MissingDependencyError:  # a stub renderer needs no soundfont
        font_name = font.key
    beat_s = 60.0 / arr.tempo_bpm
    meta: dict[str, Any] = {
        "version": SONG_VERSION,
        "name": name,
        "seed": int(spec.seed),
        "kind": kind,
        "source": arr.source,
        "tempo_bpm": round(arr.tempo_bpm, 3),
        "key": arr.key,
        "soundfont": font_name if uses_parts else None,
        "drumkit": None if arr.drumkit is None else {"name": arr.drumkit.name, "licence": arr.drumkit.licence},
        "sample_rate": rate,
        "seconds": float(spec.seconds),
        "stems": entries,
        "multi_mic": pairs,
        "sections": [
            {
                "name": s.name,
                "start_s": round(s.start_bar * 4 * beat_s, 3),
                "bars": s.bars,
                "density": round(s.density, 3),
            }
            for s in arr.sections
            if s.start_bar * 4 * beat_s < spec.seconds
        ],
        "licences": licences,
    }
    write_json_atomic(folder / "song.json", meta)
    return meta
