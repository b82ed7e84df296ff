"""Decoded audio kept in a temporary file and read back whole or by range.

A 10-minute session of 8 stems is about 1.3 GB of float32 once decoded. :func:`load_multitrack
<mixassist.audio.multitrack.load_multitrack>` decodes each stem once (checked, resampled, merged
as usual) and, for a long session, writes it here instead of keeping it in memory; the console
then reads each stem block by block, and the analyses read one stem at a time. A read returns
exactly the samples that were written (float32 in, float32 out), so a spooled session renders
bit for bit as one held in memory (``tests/test_spool.py``).

The file is unlinked as soon as it is made (``tempfile.TemporaryFile``): nothing is left behind
when the process ends, however it ends.
"""

from __future__ import annotations

import os
import tempfile
from typing import Any

import numpy as np

from mixassist.errors import AudioFileError

__all__ = ["SPOOL_BYTES", "SpooledAudio", "Spooler"]

#: Decoded size of a session (bytes of float32) above which ``load_multitrack`` spools its stems
#: (about 1.5 minutes of 8 stereo stems at 44.1 kHz).
SPOOL_BYTES = 256 * 1024 * 1024

_ITEM = np.dtype(np.float32).itemsize


class SpooledAudio:
    """float32 ``(channels, frames)`` audio in an unlinked temporary file.

    Parameters
    ----------
    audio : np.ndarray
        ``(channels, frames)``; converted to float32.
    length : int, optional
        The length reads see (default ``frames``): samples past ``frames`` read as silence, the
        zero-padding of a stem shorter than its session, without writing it.
    folder : str, optional
        Where the temporary file lives (default: the system's temporary folder, ``TMPDIR``).

    Raises
    ------
    AudioFileError
        When the temporary file cannot be written (full disk, no permission), naming the folder.
    """

    def __init__(self, audio: np.ndarray, length: int | None = None, folder: str | None = None) -> None:
        audio = np.asarray(audio, dtype=np.float32)
        if audio.ndim != 2:
            raise ValueError(f"SpooledAudio needs (channels, frames) audio, got shape {audio.shape}")
        self.channels, self.frames = int(audio.shape[0]), int(audio.shape[1])
        self.length = self.frames if length is None else int(length)
        if self.length < self.frames:
            raise ValueError(f"length {self.length} is shorter than the audio ({self.frames} frames)")
        where = folder or tempfile.gettempdir()
        try:
            self._file = tempfile.TemporaryFile(dir=folder)
        except OSError as err:
            raise AudioFileError(
                f"cannot make a temporary file for a long stem ({err.strerror or err})", where
            ) from err
        try:
            for row in audio:
                self._file.write(np.ascontiguousarray(row).data.cast("B"))
            self._file.flush()
        except OSError as err:
            self._file.close()
            raise AudioFileError(
                f"cannot spool a long stem to a temporary file ({err.strerror or err}); free some space or set TMPDIR",
                where,
            ) from err

    @property
    def shape(self) -> tuple[int, int]:
        """``(channels, length)``."""
        return self.channels, self.length

    def read(self, start: int = 0, stop: int | None = None) -> np.ndarray:
        """Samples ``start:stop`` (clipped to ``0…length``) as a new float32 ``(channels, n)`` array."""
        stop = self.length if stop is None else min(int(stop), self.length)
        start = min(max(int(start), 0), stop)
        out = np.zeros((self.channels, stop - start), np.float32)
        hi = min(stop, self.frames)
        if hi > start:
            fd = self._file.fileno()
            for c in range(self.channels):
                view = out[c, : hi - start].data.cast("B")
                offset = (c * self.frames + start) * _ITEM
                done = 0
                while done < len(view):
                    got = os.preadv(fd, [view[done:]], offset + done)
                    if got <= 0:
                        raise AudioFileError("the temporary file of a long stem ended early", self._file.name)
                    done += got
        return out

    def close(self) -> None:
        """Remove the temporary file now (otherwise when this object is collected)."""
        self._file.close()

    def __reduce__(self) -> tuple[Any, ...]:
        # pickled (to another process) as its samples, spooled again there
        return SpooledAudio, (self.read(0, self.frames), self.length)

    def __repr__(self) -> str:
        return f"SpooledAudio(channels={self.channels}, frames={self.frames}, length={self.length})"


class Spooler:
    """Decoded stems of one session, held in memory until together they pass ``limit`` bytes of
    float32, then every one of them (those held so far too) spooled: the one policy of
    ``load_multitrack`` and ``Recipe.load_stems``.

    Parameters
    ----------
    spool : bool, optional
        True: spool every stem; False: never; None (default): past ``limit``.
    limit : int, optional
        Default :data:`SPOOL_BYTES`.
    """

    def __init__(self, spool: bool | None = None, limit: int | None = None) -> None:
        self.spool = spool
        self.limit = SPOOL_BYTES if limit is None else int(limit)
        self.items: dict[Any, np.ndarray | SpooledAudio] = {}
        self._bytes = 0

    @property
    def spooling(self) -> bool:
        """Whether stems added now are spooled."""
        return self.spool is True or (self.spool is None and self._bytes > self.limit)

    def add(self, key: Any, audio: np.ndarray) -> np.ndarray | SpooledAudio:
        """Hold ``audio`` under ``key`` (replacing what was there) and return what is held."""
        old = self.items.pop(key, None)
        if isinstance(old, SpooledAudio):
            old.close()
        self._bytes += int(audio.size) * _ITEM
        if self.spooling:
            for k, held in self.items.items():
                if isinstance(held, np.ndarray):
                    self.items[k] = SpooledAudio(held)
            self.items[key] = SpooledAudio(audio)
        else:
            self.items[key] = audio
        return self.items[key]
