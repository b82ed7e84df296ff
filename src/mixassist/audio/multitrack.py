"""A session of named stems at one sample rate and one length."""

from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path

import numpy as np

from mixassist.audio.io import check_sample_rate, load_audio, resample
from mixassist.audio.spool import SpooledAudio, Spooler
from mixassist.errors import AudioFileError, InvalidAudioError, InvalidParameterError

__all__ = ["AUDIO_SUFFIXES", "Track", "Multitrack", "load_multitrack", "merge_pair", "side_of"]

log = logging.getLogger(__name__)

#: File name endings treated as audio when a folder is given.
AUDIO_SUFFIXES = (
    ".wav",
    ".wave",
    ".flac",
    ".aif",
    ".aiff",
    ".ogg",
    ".oga",
    ".mp3",
    ".m4a",
    ".mp4",
    ".aac",
    ".w64",
    ".rf64",
    ".caf",
)


class Track:
    """One stem: a name, float32 audio shaped ``(channels, samples)`` and where it came from.

    ``source`` is its file; a stereo track merged from a left/right pair of mono files
    (``piano_L.wav`` + ``piano_R.wav``) has the left file in ``source`` and the right one in
    ``source_right``; ``files`` lists both.

    The audio is an array, or a :class:`~mixassist.audio.spool.SpooledAudio` (a long session's
    stems, kept in a temporary file by :func:`load_multitrack`): then :attr:`audio` reads the
    whole stem from that file on every access (keep it only as long as it is needed), and
    :meth:`read` reads a range. Both give the same samples either way.
    """

    __slots__ = ("name", "_data", "source", "source_right")

    def __init__(
        self,
        name: str,
        audio: np.ndarray | SpooledAudio,
        source: Path | None = None,
        source_right: Path | None = None,
    ) -> None:
        self.name = name
        self._data = audio
        self.source = source
        self.source_right = source_right

    @property
    def audio(self) -> np.ndarray:
        """The whole stem, float32 ``(channels, samples)`` (read from its file when spooled)."""
        return self._data if isinstance(self._data, np.ndarray) else self._data.read()

    def read(self, start: int, stop: int) -> np.ndarray:
        """Samples ``start:stop`` (clipped to the track), float32 ``(channels, n)``: a view of the
        array, or a new array read from the spool file."""
        if isinstance(self._data, np.ndarray):
            return self._data[:, max(start, 0) : stop]
        return self._data.read(start, stop)

    def blocks(self, frames: int = 1 << 20) -> Iterator[np.ndarray]:
        """The stem in consecutive blocks of ``frames`` samples (the last one shorter)."""
        for start in range(0, self.num_samples, frames):
            yield self.read(start, start + frames)

    @property
    def spooled(self) -> bool:
        """True when the audio lives in a temporary file rather than in memory."""
        return not isinstance(self._data, np.ndarray)

    @property
    def files(self) -> tuple[Path, ...]:
        """Every file the track was read from (two for a merged left/right pair)."""
        return tuple(p for p in (self.source, self.source_right) if p is not None)

    @property
    def channels(self) -> int:
        """1 (mono) or 2 (stereo)."""
        return int(self._data.shape[0])

    @property
    def num_samples(self) -> int:
        return int(self._data.shape[1])

    def is_silent(self) -> bool:
        """True when every sample is exactly zero."""
        return not any(np.any(block) for block in self.blocks())

    def __repr__(self) -> str:
        src = f", source='{self.source}'" if self.source else ""
        if self.source_right is not None:
            src += f", source_right='{self.source_right}'"
        spooled = ", spooled" if self.spooled else ""
        return f"Track('{self.name}', channels={self.channels}, samples={self.num_samples}{src}{spooled})"


class Multitrack:
    """Named stems sharing one ``sample_rate`` and one length.

    Parameters
    ----------
    tracks : sequence of Track
        Mono or stereo stems with unique names and equal lengths (see
        :meth:`from_arrays` to pad unequal ones).
    sample_rate : int
        Hz, 8–384 kHz.
    """

    def __init__(self, tracks: Sequence[Track], sample_rate: int) -> None:
        self.sample_rate = check_sample_rate(sample_rate)
        tracks = tuple(tracks)
        if not tracks:
            raise InvalidAudioError("a multitrack needs at least one track")
        names = [t.name for t in tracks]
        dupes = sorted(n for n, c in Counter(names).items() if c > 1)
        if dupes:
            raise InvalidParameterError(f"track names must be unique; repeated: {', '.join(dupes)}")
        lengths = {t.num_samples for t in tracks}
        if len(lengths) > 1:
            raise InvalidAudioError(
                f"tracks differ in length ({min(lengths)}-{max(lengths)} samples); use Multitrack.from_arrays to pad"
            )
        for t in tracks:
            if len(t._data.shape) != 2 or t.channels not in (1, 2):
                raise InvalidAudioError(
                    f"track '{t.name}' must be mono or stereo (channels, samples), got {t.audio.shape}"
                )
        self.tracks = tracks

    @classmethod
    def from_arrays(
        cls,
        arrays: Mapping[str, np.ndarray | SpooledAudio],
        sample_rate: int,
        sources: Mapping[str, Path | None] | None = None,
        right_sources: Mapping[str, Path] | None = None,
    ) -> Multitrack:
        """Build from ``{name: (channels, samples) or (samples,)}``, zero-padding to the longest.

        ``sources`` names each track's file; ``right_sources`` the right-channel file of a
        track merged from a left/right pair. A :class:`~mixassist.audio.spool.SpooledAudio`
        (checked when it was decoded) is padded by reading silence past its end (its
        ``length`` is set)."""
        items: list[tuple[str, np.ndarray | SpooledAudio]] = []
        for name, audio in arrays.items():
            if isinstance(audio, SpooledAudio):
                items.append((name, audio))
                continue
            audio = np.asarray(audio, dtype=np.float32)
            if audio.ndim == 1:
                audio = audio[None, :]
            if audio.ndim != 2:
                raise InvalidAudioError(f"track '{name}' must be (channels, samples), got {audio.shape}")
            if not np.isfinite(audio).all():
                raise InvalidAudioError(f"track '{name}' contains NaN/Inf samples")
            items.append((name, audio))
        length = max((a.shape[1] for _, a in items), default=0)
        right = right_sources or {}
        tracks = [Track(name, _pad(audio, length), (sources or {}).get(name), right.get(name)) for name, audio in items]
        return cls(tracks, sample_rate)

    @property
    def names(self) -> list[str]:
        return [t.name for t in self.tracks]

    @property
    def sources(self) -> list[Path]:
        """Files the tracks were loaded from (to protect them from being overwritten)."""
        return [f for t in self.tracks for f in t.files]

    @property
    def num_samples(self) -> int:
        return self.tracks[0].num_samples

    @property
    def duration_s(self) -> float:
        return self.num_samples / self.sample_rate

    def __len__(self) -> int:
        return len(self.tracks)

    def __iter__(self) -> Iterator[Track]:
        return iter(self.tracks)

    def __getitem__(self, key: str | int) -> Track:
        if isinstance(key, int):
            return self.tracks[key]
        for t in self.tracks:
            if t.name == key:
                return t
        raise KeyError(f"no track named '{key}'; tracks are: {', '.join(self.names)}")

    def __repr__(self) -> str:
        return (
            f"Multitrack({len(self)} tracks, sample_rate={self.sample_rate}, "
            f"duration_s={self.duration_s:.2f}, names={self.names})"
        )


def _pad(audio: np.ndarray | SpooledAudio, length: int) -> np.ndarray | SpooledAudio:
    if isinstance(audio, SpooledAudio):
        audio.length = length  # reads past its end are silence
        return audio
    if audio.shape[1] == length:
        return np.ascontiguousarray(audio)
    out = np.zeros((audio.shape[0], length), dtype=np.float32)
    out[:, : audio.shape[1]] = audio
    return out


def _expand(paths: Iterable[str | os.PathLike[str]]) -> list[Path]:
    files: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            found = sorted(
                f
                for f in p.iterdir()
                if f.is_file() and not f.name.startswith(".") and f.name.lower().endswith(AUDIO_SUFFIXES)
            )
            if not found:
                raise AudioFileError(f"no audio files in this folder (looked for {', '.join(AUDIO_SUFFIXES)})", p)
            files.extend(found)
        else:
            files.append(p)
    return _once(files)


def _once(files: list[Path]) -> list[Path]:
    """``files`` without repeats (the same file given twice, by another path or a link, is
    mixed once, with a warning)."""
    kept: list[Path] = []
    seen: dict[tuple[int, int] | str, Path] = {}
    for f in files:
        try:
            info = f.stat()
            key: tuple[int, int] | str = (info.st_dev, info.st_ino)
        except OSError:
            key = os.path.abspath(f)  # missing: load_audio names the problem
        if key in seen:
            log.warning("%s: the same file as %s, given twice; mixing it once", f, seen[key])
            continue
        seen[key] = f
        kept.append(f)
    return kept


def _track_name(path: Path) -> str:
    name = path.name
    for ending in (".stem.mp4", *AUDIO_SUFFIXES):
        if name.lower().endswith(ending):
            name = name[: -len(ending)]
            break
    return re.sub(r"\s+", "_", name.strip()) or "track"


_SIDE = re.compile(r"^(?P<base>.*?[^\s_.\-])[\s_.\-]+(?P<side>l|r|left|right|lt|rt)$", re.IGNORECASE)


def side_of(name: str) -> tuple[str, str | None]:
    """``(base, "L" | "R")`` for a name ending in a separated left/right word (``piano_L``,
    ``Piano R``, ``OH_left``), else ``(name, None)``."""
    m = _SIDE.match(name)
    if m is None:
        return name, None
    return m["base"], "L" if m["side"].lower().startswith("l") else "R"


def merge_pair(left: np.ndarray, right: np.ndarray, name: str) -> np.ndarray:
    """One stereo ``(2, samples)`` array from two mono ``(1, samples)`` halves of equal length.

    Raises
    ------
    InvalidAudioError
        When either half is not mono or their lengths differ.
    """
    if left.shape[0] != 1 or right.shape[0] != 1:
        raise InvalidAudioError(
            f"'{name}': a left/right pair must be two mono files, got {left.shape[0]} and {right.shape[0]} channels"
        )
    if left.shape[1] != right.shape[1]:
        raise InvalidAudioError(
            f"'{name}': the left and right files differ in length ({left.shape[1]} and {right.shape[1]} samples)"
        )
    return np.ascontiguousarray(np.concatenate([left, right], axis=0), dtype=np.float32)


def _pair_sides(decoded: list[tuple[str, np.ndarray | SpooledAudio, int, Path]]) -> dict[int, int]:
    """``{index of a left file: index of its right file}`` for the pairs that can be merged:
    one left and one right of the same base name, both mono, at one rate, of one length."""
    sides: dict[str, dict[str, list[int]]] = {}
    for i, (name, _, _, path) in enumerate(decoded):
        base, side = side_of(name)
        if side is not None and not path.name.lower().endswith(".stem.mp4"):
            sides.setdefault(base.lower(), {}).setdefault(side, []).append(i)
    pairs: dict[int, int] = {}
    for found in sides.values():
        lefts, rights = found.get("L", []), found.get("R", [])
        if len(lefts) != 1 or len(rights) != 1:
            continue
        (li, left, lrate, lpath), (ri, right, rrate, rpath) = (
            (lefts[0], *decoded[lefts[0]][1:]),
            (rights[0], *decoded[rights[0]][1:]),
        )
        if left.shape[0] != 1 or right.shape[0] != 1:
            why = f"not both mono ({left.shape[0]} and {right.shape[0]} channels)"
        elif lrate != rrate:
            why = f"their sample rates differ ({lrate} and {rrate} Hz)"
        elif left.shape[1] != right.shape[1]:
            why = f"their lengths differ ({left.shape[1]} and {right.shape[1]} samples)"
        else:
            pairs[li] = ri
            continue
        log.info("%s and %s kept as two tracks, not merged into one stereo track: %s", lpath, rpath, why)
    return pairs


def _unique(names: list[str]) -> list[str]:
    seen: Counter[str] = Counter()
    taken = set(names)
    out = []
    for n in names:
        seen[n] += 1
        if seen[n] == 1:
            out.append(n)
            continue
        k = seen[n]
        while f"{n}_{k}" in taken:
            k += 1
        taken.add(f"{n}_{k}")
        out.append(f"{n}_{k}")
    return out


def _stem_streams(path: Path) -> int:
    """Number of audio streams in a ``.stem.mp4`` (stream 0 is the mixture)."""
    ffprobe = shutil.which("ffprobe")
    if ffprobe is None:
        return 0  # load_audio raises the clear "needs ffmpeg" error
    out = subprocess.run(
        [ffprobe, "-v", "error", "-select_streams", "a", "-show_entries", "stream=index", "-of", "csv=p=0", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return len(out.stdout.split())


def load_multitrack(
    folder_or_files: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
    sample_rate: int | None = None,
    *,
    downmix: bool = False,
    spool: bool | None = None,
) -> Multitrack:
    """Load stems from a folder or a list of files into one :class:`Multitrack`.

    Parameters
    ----------
    folder_or_files : path or iterable of paths
        A folder (its audio files, sorted, not recursive), one file, or several files
        and folders.  A ``.stem.mp4`` contributes its stems (streams 1…n).
    sample_rate : int, optional
        Session rate in Hz.  Default: the most common input rate (ties go to the
        higher rate).  Every stem at another rate is resampled with soxr.
    downmix : bool
        Average files with more than two channels to mono instead of refusing them.
    spool : bool, optional
        Keep the decoded stems in temporary files (:class:`~mixassist.audio.spool.SpooledAudio`)
        rather than in memory, read back block by block by the console and one stem at a time
        by the analyses: the same samples, in memory that does not grow with the session's
        length. Default: when the session decodes to more than
        :data:`~mixassist.audio.spool.SPOOL_BYTES` (256 MB, about 1.5 minutes of 8 stereo stems).

    Returns
    -------
    Multitrack
        Mono stems stay mono and stereo stay stereo; shorter stems are zero-padded at
        the end; names come from file names, made unique (``vox``, ``vox_2``).  A left/right
        pair of mono files of one rate and length (``piano_L.wav`` + ``piano_R.wav``,
        ``OH left``/``OH right``) becomes one stereo track named without the side
        (``piano``) whose ``source``/``source_right`` are the two files; a pair that differs in
        channels, rate or length stays two tracks, with a logged note.

    Raises
    ------
    AudioFileError, InvalidAudioError, MissingDependencyError
        From :func:`~mixassist.audio.io.load_audio`, naming the file.
    """
    if isinstance(folder_or_files, (str, os.PathLike)):
        folder_or_files = [folder_or_files]
    files = _expand(folder_or_files)
    if not files:
        raise AudioFileError("no input files given")
    if sample_rate is not None:
        sample_rate = check_sample_rate(sample_rate)

    spooler = Spooler(spool)  # past SPOOL_BYTES decoded, every stem goes to a spool file
    found: list[tuple[str, int, Path]] = []
    for path in files:
        base = _track_name(path)
        if path.name.lower().endswith(".stem.mp4") and (n := _stem_streams(path)) > 1:
            for k in range(1, n):
                audio, rate = load_audio(path, downmix=downmix, stream=k)
                spooler.add(len(found), audio)
                found.append((f"{base}_{k}", rate, path))
        else:
            audio, rate = load_audio(path, downmix=downmix)
            spooler.add(len(found), audio)
            found.append((base, rate, path))
        del audio
    decoded = [(name, spooler.items[i], rate, path) for i, (name, rate, path) in enumerate(found)]
    spooler.items.clear()

    rates = Counter(rate for _, _, rate, _ in decoded)
    if sample_rate is None:
        sample_rate = max(rates, key=lambda r: (rates[r], r))
    pairs = _pair_sides(decoded)
    right_halves = set(pairs.values())
    kept = [i for i in range(len(decoded)) if i not in right_halves]
    names = _unique([side_of(decoded[i][0])[0] if i in pairs else decoded[i][0] for i in kept])
    arrays: dict[str, np.ndarray | SpooledAudio] = {}
    sources, right_sources = {}, {}
    for name, i in zip(names, kept):
        _, held, rate, path = decoded[i]
        if rate == sample_rate and i not in pairs:
            arrays[name], sources[name] = held, path
            continue
        audio = _whole(held)
        if rate != sample_rate:
            log.info("%s: resampling %d Hz -> %d Hz", path, rate, sample_rate)
            audio = resample(audio, rate, sample_rate)
        if i in pairs:
            _, right_held, _, right_path = decoded[pairs[i]]
            right = _whole(right_held)
            if rate != sample_rate:
                right = resample(right, rate, sample_rate)
            log.info("%s + %s: merged into one stereo track '%s'", path, right_path, name)
            audio = merge_pair(audio, right, name)
            right_sources[name] = right_path
        arrays[name] = SpooledAudio(audio) if isinstance(held, SpooledAudio) else audio
        sources[name] = path
    decoded.clear()
    lengths = {a.shape[1] for a in arrays.values()}
    if len(lengths) > 1:
        log.info("stems differ in length (%d-%d samples); zero-padding to the longest", min(lengths), max(lengths))
    return Multitrack.from_arrays(arrays, sample_rate, sources, right_sources)


def _whole(held: np.ndarray | SpooledAudio) -> np.ndarray:
    """The samples of a decoded stem (a spooled one is read back and its file removed)."""
    if isinstance(held, np.ndarray):
        return held
    audio = held.read()
    held.close()
    return audio
