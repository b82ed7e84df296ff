"""Faithful, defensive audio file I/O.

Reading treats every file as untrusted: nothing is allocated from header values, the
decoded size is bounded by a memory budget, sample rates and channel counts are checked
against documented limits, and non-finite or integer-scaled float data is refused with
a message naming the file and the first bad sample.  Writing is atomic (temporary file in
the destination folder, ``fsync``, ``os.replace``), dithered for integer formats, clips
instead of wrapping, and never replaces an input file.
"""

from __future__ import annotations

import errno
import logging
import os
import shutil
import stat
import struct
import subprocess
import tempfile
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from mixassist import measure
from mixassist.errors import (
    AudioFileError,
    InvalidAudioError,
    InvalidParameterError,
    MissingDependencyError,
    MixAssistError,
    OutputError,
)
from mixassist.fileio import FILE_MODE, output_error, temp_prefix, writing
from mixassist.measure import MAX_SAMPLE_RATE, MIN_SAMPLE_RATE
from mixassist.outputs import check_output_format

__all__ = [
    "open_soundfile",
    "MIN_SAMPLE_RATE",
    "MAX_SAMPLE_RATE",
    "MAX_CHANNELS",
    "MAX_DECODED_BYTES",
    "FFMPEG_SUFFIXES",
    "load_audio",
    "resample",
    "save_audio",
    "check_output_format",
    "check_sample_rate",
]

log = logging.getLogger(__name__)

#: Files with more channels than this are rejected outright, even with ``downmix=True``.
MAX_CHANNELS = 64
#: Upper bound on decoded float32 audio held in memory for one file (4 GiB).
MAX_DECODED_BYTES = 4 * 1024**3
#: A float file whose peak exceeds this (+48 dBFS) is taken to be integer-scaled by mistake.
INTEGER_SCALED_PEAK = 256.0
FFMPEG_SUFFIXES = (".m4a", ".mp4", ".aac")
_READ_BLOCK_FRAMES = 1 << 18
_WAV_FORMATS = {"WAV", "WAVEX", "RF64"}
_SUBTYPES = {16: "PCM_16", 24: "PCM_24", 32: "FLOAT"}
_FLOAT_SUBTYPES = {"FLOAT", "DOUBLE", "VORBIS", "MPEG_LAYER_I", "MPEG_LAYER_II", "MPEG_LAYER_III", "OPUS"}


def check_sample_rate(sample_rate: float, path: str | os.PathLike[str] | None = None) -> int:
    """Return ``sample_rate`` as an int, or raise :class:`AudioFileError` (naming ``path``) if it is no
    whole number of Hz within 8–384 kHz (the range :func:`mixassist.measure.check_sample_rate` accepts)."""
    try:
        measure.check_sample_rate(sample_rate)
    except InvalidParameterError as err:  # not a number
        raise AudioFileError(err.reason, path) from err
    except InvalidAudioError as err:
        raise AudioFileError(
            f"sample rate {sample_rate:g} Hz is outside the supported "
            f"{MIN_SAMPLE_RATE // 1000}-{MAX_SAMPLE_RATE // 1000} kHz range",
            path,
        ) from err
    if sample_rate != int(sample_rate):
        raise AudioFileError(f"sample rate {sample_rate} Hz is not a whole number", path)
    return int(sample_rate)


def load_audio(
    path: str | os.PathLike[str],
    sample_rate: int | None = None,
    *,
    downmix: bool = False,
    stream: int = 0,
) -> tuple[np.ndarray, int]:
    """Decode one audio file into float32 ``(channels, samples)``.

    Parameters
    ----------
    path : str or os.PathLike
        WAV (PCM 16/24/32, float 32/64), FLAC, AIFF, OGG, MP3 (through libsndfile), or
        ``.m4a/.mp4/.stem.mp4`` (through ffmpeg, which must be installed).
    sample_rate : int, optional
        Resample (soxr, high quality) to this rate in Hz.  ``None`` keeps the file's rate.
    downmix : bool
        Average files with more than two channels to mono instead of refusing them.
    stream : int
        For multi-stream containers (``.stem.mp4``): which audio stream (0 = the mixture).

    Returns
    -------
    audio : np.ndarray
        float32, shape ``(channels, samples)`` with 1 or 2 channels.
    sample_rate : int
        Rate of ``audio`` in Hz.

    Raises
    ------
    AudioFileError
        Missing, empty, undecodable or absurd file (sample rate outside 8–384 kHz,
        too many channels, larger than the memory budget).
    InvalidAudioError
        NaN/Inf samples, integer-scaled float data, or more than 2 channels without
        ``downmix``.
    MissingDependencyError
        An MP4/M4A file and no ffmpeg on the PATH.

    Examples
    --------
    >>> audio, rate = load_audio("stems/vox.wav", sample_rate=48000)  # doctest: +SKIP
    """
    path = Path(path)
    if not path.exists():
        raise AudioFileError("no such file", path)
    if path.is_dir():
        raise AudioFileError("is a folder, not an audio file", path)
    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode):
            raise AudioFileError("not a regular file (a pipe, device or socket); give an audio file", path)
        with open(path, "rb"):
            pass
    except PermissionError as err:
        raise AudioFileError("permission denied; make the file readable (chmod u+r)", path) from err
    except OSError as err:
        if isinstance(err, MixAssistError):
            raise
        raise AudioFileError(f"cannot open ({err.strerror or err})", path) from err
    if info.st_size == 0:
        raise AudioFileError("file is empty (0 bytes)", path)

    if path.name.lower().endswith(FFMPEG_SUFFIXES):
        audio, file_rate = _decode_ffmpeg(path, stream)
        is_float = True
    else:
        audio, file_rate, is_float = _decode_soundfile(path)

    audio = _check_content(audio, path, is_float=is_float, downmix=downmix)
    if sample_rate is not None and sample_rate != file_rate:
        audio = resample(audio, file_rate, sample_rate)
        file_rate = int(sample_rate)
    return audio, file_rate


def open_soundfile(path: Path) -> tuple[sf.SoundFile, int, int]:
    """Open ``path`` with soundfile and check its header: the open handle (the caller closes it),
    its sample rate and its channel count (1 to :data:`MAX_CHANNELS`)."""
    try:
        handle = sf.SoundFile(path)
    except sf.LibsndfileError as err:
        reason = str(getattr(err, "error_string", "") or err).strip().rstrip(".")
        raise AudioFileError(f"not a readable audio file ({reason})", path) from err
    except (OSError, RuntimeError, ValueError) as err:
        raise AudioFileError(f"cannot open ({err})", path) from err
    try:
        rate = check_sample_rate(handle.samplerate, path)
        channels = handle.channels
        if channels < 1:
            raise AudioFileError("file declares 0 channels", path)
        if channels > MAX_CHANNELS:
            raise AudioFileError(f"{channels} channels is more than the {MAX_CHANNELS} supported", path)
    except BaseException:
        handle.close()
        raise
    return handle, rate, channels


def _decode_soundfile(path: Path) -> tuple[np.ndarray, int, bool]:
    handle, rate, channels = open_soundfile(path)
    with handle:
        budget_frames = MAX_DECODED_BYTES // (4 * channels)
        blocks: list[np.ndarray] = []
        total = 0
        try:
            # Read in bounded blocks until EOF: never trust the header's frame count.
            while True:
                block = handle.read(_READ_BLOCK_FRAMES, dtype="float32", always_2d=True)
                if block.shape[0] == 0:
                    break
                total += block.shape[0]
                if total > budget_frames:
                    raise AudioFileError(
                        f"decoded audio exceeds the {MAX_DECODED_BYTES / 1024**3:.0f} GiB "
                        "memory budget; split the file into shorter parts",
                        path,
                    )
                blocks.append(np.ascontiguousarray(block.T))  # channels first now: one copy less at the end
        except sf.LibsndfileError as err:
            if not blocks:
                raise AudioFileError(f"corrupt audio data ({err})", path) from err
            log.warning("%s: decoding stopped early (%s); using the first %d frames", path, err, total)
        subtype = handle.subtype
    declared = _wav_declared_frames(path, channels) if handle.format in _WAV_FORMATS else None
    if declared is not None and declared > total:
        log.warning(
            "%s: truncated file: header declares %d frames, %d present; using what is there",
            path,
            declared,
            total,
        )
    audio = np.concatenate(blocks, axis=1) if blocks else np.zeros((channels, 0), np.float32)
    return np.ascontiguousarray(audio, dtype=np.float32), rate, subtype in _FLOAT_SUBTYPES


def _wav_declared_frames(path: Path, channels: int) -> int | None:
    """Frame count a (RIFF) WAV header claims, read without trusting it; None if unknown."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(12)
            if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
                return None
            block_align = None
            for _ in range(64):  # bounded walk over chunks
                chunk = fh.read(8)
                if len(chunk) < 8:
                    return None
                cid, size = chunk[:4], struct.unpack("<I", chunk[4:])[0]
                if cid == b"fmt ":
                    fmt = fh.read(min(size, 16))
                    if len(fmt) >= 14:
                        block_align = struct.unpack("<H", fmt[12:14])[0]
                    fh.seek(size - len(fmt) + (size & 1), os.SEEK_CUR)
                elif cid == b"data":
                    if not block_align:
                        return None
                    return size // block_align
                else:
                    fh.seek(size + (size & 1), os.SEEK_CUR)
    except OSError:
        return None
    return None


def _decode_ffmpeg(path: Path, stream: int) -> tuple[np.ndarray, int]:
    ffmpeg, ffprobe = shutil.which("ffmpeg"), shutil.which("ffprobe")
    if ffmpeg is None or ffprobe is None:
        raise MissingDependencyError(
            "decoding MP4/M4A needs ffmpeg, which is not installed "
            "(Debian/Ubuntu: apt-get install ffmpeg; or convert the file to WAV/FLAC)",
            path,
        )
    probe = subprocess.run(
        [
            ffprobe,
            "-v",
            "error",
            "-select_streams",
            f"a:{stream}",
            "-show_entries",
            "stream=sample_rate,channels",
            "-of",
            "csv=p=0",
            str(path),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    fields = probe.stdout.strip().split(",")
    if probe.returncode != 0 or len(fields) < 2 or not all(f.strip().isdigit() for f in fields[:2]):
        detail = probe.stderr.strip().splitlines()[-1] if probe.stderr.strip() else "no audio stream"
        raise AudioFileError(f"ffmpeg cannot read audio stream {stream} ({detail})", path)
    rate = check_sample_rate(float(fields[0]), path)
    channels = int(fields[1])
    if not 1 <= channels <= MAX_CHANNELS:
        raise AudioFileError(f"{channels} channels is outside the supported 1-{MAX_CHANNELS}", path)
    proc = subprocess.run(
        [
            ffmpeg,
            "-v",
            "error",
            "-nostdin",
            "-i",
            str(path),
            "-map",
            f"0:a:{stream}",
            "-f",
            "f32le",
            "-acodec",
            "pcm_f32le",
            "-",
        ],
        capture_output=True,
        timeout=3600,
        check=False,
    )
    if proc.returncode != 0:
        lines = proc.stderr.decode(errors="replace").strip().splitlines()
        raise AudioFileError(f"ffmpeg failed ({lines[-1] if lines else 'unknown error'})", path)
    if len(proc.stdout) > MAX_DECODED_BYTES:
        raise AudioFileError("decoded audio exceeds the memory budget", path)
    data = np.frombuffer(proc.stdout, dtype="<f4")
    data = data[: data.size - data.size % channels]
    return np.ascontiguousarray(data.reshape(-1, channels).T), rate


def _check_content(audio: np.ndarray, path: Path, *, is_float: bool, downmix: bool) -> np.ndarray:
    channels = audio.shape[0]
    if not np.isfinite(audio).all():
        bad = ~np.isfinite(audio)
        channel, sample = np.argwhere(bad)[np.argmin(np.argwhere(bad)[:, 1])]
        kind = "NaN" if np.isnan(audio[channel, sample]) else "Inf"
        raise InvalidAudioError(
            f"{kind} sample at frame {sample} (channel {channel}, {bad.sum()} non-finite "
            "samples in all); repair or re-export the file",
            path,
        )
    if is_float and audio.size:
        peak = float(np.max(np.abs(audio)))
        if peak > INTEGER_SCALED_PEAK:
            raise InvalidAudioError(
                f"float samples reach {peak:g}, which looks integer-scaled (expected about "
                "±1.0); divide by 32768 (16-bit) or 8388608 (24-bit) and re-export",
                path,
            )
    if channels > 2:
        if not downmix:
            raise InvalidAudioError(
                f"{channels} channels; split it into mono/stereo files or pass --downmix",
                path,
            )
        log.info("%s: downmixing %d channels to mono", path, channels)
        audio = audio.mean(axis=0, keepdims=True, dtype=np.float64).astype(np.float32)
    return audio


def resample(audio: np.ndarray, sample_rate: int, target_rate: int) -> np.ndarray:
    """Resample ``(channels, samples)`` audio with soxr (high quality) to ``target_rate``.

    Raises
    ------
    InvalidParameterError
        If either rate is outside 8–384 kHz.
    """
    for rate in (sample_rate, target_rate):
        try:
            measure.check_sample_rate(rate)
        except MixAssistError as err:
            raise InvalidParameterError(
                f"sample_rate={rate} Hz is outside {MIN_SAMPLE_RATE}-{MAX_SAMPLE_RATE} Hz"
            ) from err
    if sample_rate == target_rate:
        return audio
    if audio.shape[-1] == 0:
        return np.zeros(audio.shape[:-1] + (0,), np.float32)
    out = soxr.resample(audio.T, sample_rate, target_rate, quality="HQ")
    return np.ascontiguousarray(np.asarray(out, dtype=np.float32).reshape(-1, audio.shape[0]).T)


#: Frames :func:`save_audio` quantises and writes at a time (its memory does not grow with the length).
WRITE_FRAMES = 1 << 16


def save_audio(
    path: str | os.PathLike[str],
    audio: np.ndarray,
    sample_rate: int,
    bit_depth: int = 24,
    *,
    overwrite: bool = False,
    protect: Iterable[str | os.PathLike[str]] = (),
    dither: bool = True,
    seed: int | None = 0,
) -> int:
    """Write ``(channels, samples)`` audio to WAV or FLAC, atomically.

    Parameters
    ----------
    path : str or os.PathLike
        Destination ending in ``.wav`` or ``.flac``.
    audio : np.ndarray
        Shape ``(channels, samples)`` or ``(samples,)``; nominal full scale ±1.0.
    sample_rate : int
        Hz, 8–384 kHz.
    bit_depth : {16, 24, 32}
        16/24-bit integer PCM with TPDF dither, or 32-bit float (WAV only; kept unclipped).
    overwrite : bool
        Replace an existing file.  Never replaces a file in ``protect``.
    protect : iterable of paths
        Files that must never be written (the inputs); compared with
        ``os.path.samefile`` so symlinks and relative paths count.
    dither : bool
        Add ±1 LSB triangular (TPDF) dither before integer quantisation.
    seed : int or None
        Dither seed (deterministic output by default).

    Returns
    -------
    int
        Number of samples clipped at full scale (integer formats); a warning is logged
        when it is non-zero.

    Raises
    ------
    OutputError
        Unsupported extension or bit depth, an existing file without ``overwrite``, a
        protected input, or a failed write (no file is left behind).
    InvalidAudioError
        Non-finite samples.
    """
    path = Path(path)
    check_output_format(path, bit_depth)
    suffix = path.suffix.lower()
    rate = int(sample_rate)
    try:
        measure.check_sample_rate(rate)
    except MixAssistError as err:
        raise OutputError(f"sample rate {sample_rate} Hz is outside 8-384 kHz", path) from err
    audio = np.asarray(audio)
    if audio.ndim == 1:
        audio = audio[None, :]
    if audio.ndim != 2:
        raise InvalidAudioError(f"audio must be (channels, samples), got shape {audio.shape}", path)
    if suffix == ".flac" and audio.shape[0] > 8:
        raise OutputError(f"FLAC holds at most 8 channels, got {audio.shape[0]}", path)
    if not all(np.isfinite(audio[:, a : a + WRITE_FRAMES]).all() for a in range(0, audio.shape[1], WRITE_FRAMES)):
        raise InvalidAudioError("refusing to write NaN/Inf samples", path)
    for other in protect:
        if _same_file(path, Path(other)):
            raise OutputError(f"refusing to overwrite the input file {os.fspath(other)}", path)
    with writing(path):  # stat itself fails on a name too long
        if path.exists() or path.is_symlink():
            if not overwrite:
                raise OutputError("already exists; choose another name or allow overwriting", path)
            if path.is_dir():
                raise OutputError("is a folder", path)
        folder = path.parent if str(path.parent) else Path(".")
        if not folder.is_dir():
            raise OutputError(f"folder {folder} does not exist", path)

    quantiser = _Quantiser(audio, bit_depth, dither=dither, seed=seed)
    fmt = "FLAC" if suffix == ".flac" else "WAV"
    if fmt == "WAV" and audio.size * quantiser.item_bytes > 0xFFFFFFFF - 1024:
        fmt = "RF64"  # plain RIFF sizes are 32-bit
    tmp_name: str | None = None
    try:
        with writing(path):
            fd, tmp_name = tempfile.mkstemp(prefix=temp_prefix(path), suffix=".tmp", dir=folder)
            os.close(fd)
            # libsndfile opens the file by name, so a failed write is its error (or a short
            # count), never an exception lost inside a Python I/O callback.
            with sf.SoundFile(tmp_name, "w", rate, audio.shape[0], _SUBTYPES[bit_depth], format=fmt) as out:
                for start in range(0, audio.shape[1], WRITE_FRAMES):  # block by block: bounded memory
                    out.write(quantiser.block(start, start + WRITE_FRAMES))
            fd = os.open(tmp_name, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
            os.chmod(tmp_name, FILE_MODE)
            os.replace(tmp_name, path)
    except BaseException as err:
        _discard(tmp_name)
        if isinstance(err, (AssertionError, RuntimeError)):  # soundfile: short write, LibsndfileError
            raise _write_failure(err, folder, path) from err
        raise
    if quantiser.clipped:
        log.warning("%s: %d samples beyond full scale were clipped", path, quantiser.clipped)
    return quantiser.clipped


def _discard(name: str | None) -> None:
    if name is not None:
        try:
            os.unlink(name)
        except OSError:
            pass


def _write_failure(err: BaseException, folder: Path, path: Path) -> OutputError:
    """soundfile reports a full disk as a short write (``AssertionError``) or a
    ``LibsndfileError``; name the cause when the disk is (nearly) full."""
    try:
        full = shutil.disk_usage(folder).free < 1024 * 1024
    except OSError:
        full = False
    if full or "space" in str(err).lower():
        return output_error(OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)), path)
    detail = str(err).strip() or "the audio library wrote fewer frames than asked"
    return OutputError(f"cannot write: {detail}", path)


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


class _Quantiser:
    """``audio`` as frames-first blocks ready for soundfile, quantised block by block; counts the
    samples it clipped (``clipped``, complete after the last block).

    The result is what quantising the whole array at once gives, bit for bit: the TPDF dither
    of the whole array is two uniform draws ``random(shape) - random(shape)`` from one PCG64
    stream (one 64-bit output per draw), so each channel's block takes its draws from a copy
    of that stream advanced to the block's place in it.
    """

    def __init__(self, audio: np.ndarray, bit_depth: int, *, dither: bool, seed: int | None) -> None:
        self.audio = audio
        self.bit_depth = bit_depth
        self.item_bytes = 4 if bit_depth in (24, 32) else 2
        self.clipped = 0
        self._streams: list[tuple[np.random.Generator, np.random.Generator]] = []
        if dither and bit_depth != 32 and audio.size:
            channels, frames = audio.shape
            origin = np.random.PCG64(seed)
            for c in range(channels):  # the first draw covers every channel, then the second
                pair = []
                for offset in (c * frames, (channels + c) * frames):
                    stream = np.random.PCG64()
                    stream.state = origin.state
                    pair.append(np.random.Generator(stream.advance(offset)))
                self._streams.append((pair[0], pair[1]))

    def block(self, start: int, stop: int) -> np.ndarray:
        """Frames ``start:stop`` (the blocks must come in order, each once)."""
        audio = self.audio[:, start:stop]
        if self.bit_depth == 32:
            return np.ascontiguousarray(audio.T, dtype=np.float32)
        scale = float(2 ** (self.bit_depth - 1))
        # Counted before dither: a sample is "clipped" when the signal itself exceeds full scale.
        self.clipped += int(np.count_nonzero(np.abs(audio) > 1.0))
        x = audio.astype(np.float64) * scale
        for c, (first, second) in enumerate(self._streams):
            x[c] += first.random(x.shape[1]) - second.random(x.shape[1])  # TPDF, ±1 LSB peak
        q = np.rint(x)
        np.clip(q, -scale, scale - 1, out=q)
        if self.bit_depth == 16:
            return np.ascontiguousarray(q.T, dtype=np.int16)
        # libsndfile writes int32 input to PCM_24 by keeping the top 24 bits.
        return np.ascontiguousarray((q.astype(np.int32) << 8).T)
