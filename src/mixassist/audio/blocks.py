"""An audio file read block by block, as often as needed, in memory that does not grow with its length.

:func:`open_blocks` checks the file as :func:`~mixassist.audio.io.load_audio` does (exists, not
empty, readable, sample rate, channel count) and returns :class:`AudioBlocks`, whose every pass
decodes the file afresh and yields checked float32 ``(channels, n)`` blocks: the same samples
``load_audio`` returns, bit for bit, without holding them all (``mixassist analyze`` meters an
hour-long file this way).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import soundfile as sf

from mixassist.audio.io import (
    FFMPEG_SUFFIXES,
    INTEGER_SCALED_PEAK,
    load_audio,
    open_soundfile,
)
from mixassist.errors import AudioFileError, InvalidAudioError

__all__ = ["BLOCK_FRAMES", "AudioBlocks", "open_blocks"]

log = logging.getLogger(__name__)

BLOCK_FRAMES = 1 << 16
"""Frames per block: 0.5 MB of stereo float32, 1.5 s at 44.1 kHz."""
_FLOAT_SUBTYPES = {"FLOAT", "DOUBLE", "VORBIS", "MPEG_LAYER_I", "MPEG_LAYER_II", "MPEG_LAYER_III", "OPUS"}


class AudioBlocks:
    """A file that :func:`open_blocks` checked; iterate it (as often as needed) for its blocks.

    Attributes
    ----------
    path : pathlib.Path
    sample_rate : int
    channels : int
        Channels of the blocks: the file's 1 or 2, or 1 when a file of more is downmixed.
    """

    def __init__(
        self,
        path: Path,
        sample_rate: int,
        channels: int,
        *,
        downmix: bool,
        block_frames: int,
        whole: np.ndarray | None = None,
    ) -> None:
        self.path = path
        self.sample_rate = sample_rate
        self.channels = 1 if downmix and channels > 2 else channels
        self._file_channels = channels
        self._block_frames = block_frames
        self._warned = False
        self._whole = whole

    def __iter__(self) -> Iterator[np.ndarray]:
        """Decode the file from its start: checked float32 blocks ``(channels, n)``, in order."""
        if self._whole is not None:
            yield self._whole
            return
        path = self.path
        try:
            handle = sf.SoundFile(path)
        except (sf.LibsndfileError, OSError, RuntimeError, ValueError) as err:
            raise AudioFileError(f"cannot open ({err})", path) from err
        is_float = handle.subtype in _FLOAT_SUBTYPES
        frames = 0
        with handle:
            while True:
                try:
                    block = handle.read(self._block_frames, dtype="float32", always_2d=True)
                except sf.LibsndfileError as err:
                    if frames == 0:
                        raise AudioFileError(f"corrupt audio data ({err})", path) from err
                    if not self._warned:
                        log.warning("%s: decoding stopped early (%s); using the first %d frames", path, err, frames)
                        self._warned = True
                    return
                if block.shape[0] == 0:
                    return
                yield self._checked(np.ascontiguousarray(block.T), frames, is_float=is_float)
                frames += block.shape[0]

    def _checked(self, block: np.ndarray, offset: int, *, is_float: bool) -> np.ndarray:
        """``block`` checked as load_audio checks a whole file (frame numbers counted from the file's start)."""
        bad = ~np.isfinite(block)
        if bad.any():
            channel, sample = np.argwhere(bad)[np.argmin(np.argwhere(bad)[:, 1])]
            kind = "NaN" if np.isnan(block[channel, sample]) else "Inf"
            raise InvalidAudioError(
                f"{kind} sample at frame {offset + sample} (channel {channel}); repair or re-export the file",
                self.path,
            )
        if is_float and block.size:
            peak = float(np.max(np.abs(block)))
            if peak > INTEGER_SCALED_PEAK:
                raise InvalidAudioError(
                    f"float samples reach {peak:g}, which looks integer-scaled (expected about "
                    "±1.0); divide by 32768 (16-bit) or 8388608 (24-bit) and re-export",
                    self.path,
                )
        if self._file_channels > 2:
            # as load_audio downmixes: the float64 mean of the channels, in float32
            block = block.mean(axis=0, keepdims=True, dtype=np.float64).astype(np.float32)
        return block


def open_blocks(
    path: str | os.PathLike[str], *, downmix: bool = False, block_frames: int = BLOCK_FRAMES
) -> AudioBlocks:
    """Check an audio file and return it as :class:`AudioBlocks`.

    Raises
    ------
    AudioFileError
        Missing, a folder, empty, unreadable, a sample rate outside 8-384 kHz or too many
        channels. An MP4/M4A file is decoded whole by :func:`~mixassist.audio.io.load_audio`
        (through ffmpeg), with its errors, and kept for every pass.
    InvalidAudioError
        More than 2 channels without ``downmix``; while iterating, NaN/Inf samples or
        integer-scaled float data.
    """
    path = Path(path)
    if not path.exists():
        raise AudioFileError("no such file", path)
    if path.is_dir():
        raise AudioFileError("is a folder, not an audio file", path)
    if path.stat().st_size == 0:
        raise AudioFileError("file is empty (0 bytes)", path)
    if path.name.lower().endswith(FFMPEG_SUFFIXES):
        # ffmpeg decodes the whole stream at once: one block, kept for every pass
        audio, rate = load_audio(path, downmix=downmix)
        return AudioBlocks(path, rate, audio.shape[0], downmix=False, block_frames=block_frames, whole=audio)
    handle, rate, channels = open_soundfile(path)
    handle.close()
    if channels > 2 and not downmix:
        raise InvalidAudioError(f"{channels} channels; split it into mono/stereo files or pass --downmix", path)
    return AudioBlocks(path, rate, channels, downmix=downmix, block_frames=block_frames)
