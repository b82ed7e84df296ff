"""Printed stems: each track's post-strip stereo signal and the reverb return, written as files.

A printed stem is what its track adds to the mix bus: the input after the DC blocker, polarity,
delay, high-pass and EQ, compressor, fader and pan/width.  ``reverb-return.wav`` is the reverb
bus's output after its return level.  All are 32-bit float WAV, stereo, at the session rate, as
long as the mix plus the master's look-ahead (about 0.1 s of tail, which the master reads to make
the song's last samples); summed, they are the mix bus, and the recipe's master section on that
sum gives ``mix.wav`` to its last sample (``tests/test_stems.py`` checks it within -90 dBFS).

They are rendered block by block by :meth:`~mixassist.console.console.Console.iter_stems` and
written as they come, so memory holds one block of every track (plus the decoded inputs), never
the whole stems (``benchmarks/stems_memory.py``).  The names are numbered in console order
(``printed/01-vocals.wav``), so a DAW that imports a folder keeps the order.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import soundfile as sf

from mixassist.errors import OutputError
from mixassist.fileio import FILE_MODE, writing

if TYPE_CHECKING:
    from mixassist.audio.multitrack import Multitrack
    from mixassist.console.params import MixParams

__all__ = ["print_stems", "stems_size_bytes"]


#: Most tail (s) a printed stem runs past the song's end: the master's look-ahead (about 0.1 s).
TAIL_S = 0.25


def stems_size_bytes(frames: int, tracks: int, sample_rate: int) -> int:
    """Bytes the printed stems of ``tracks`` tracks and the reverb return take (32-bit stereo) for a
    song of ``frames`` samples at ``sample_rate``, its tail included (at most :data:`TAIL_S`)."""
    return (tracks + 1) * (frames + int(TAIL_S * sample_rate)) * 2 * 4


def print_stems(
    multitrack: Multitrack,
    params: MixParams,
    paths: Mapping[str, Path],
    return_path: Path,
    *,
    progress: Callable[[int, int], None] | None = None,
) -> None:
    """Render and write the printed stems of ``params`` (one file per track in ``paths``, the reverb
    return at ``return_path``), block by block.

    The files are written in place (callers pass paths staged by an
    :class:`~mixassist.fileio.OutputSet`); a failed write raises ``OutputError`` naming the file.
    """
    from mixassist.console.console import Console  # lazy: torch, seconds at `import mixassist`

    rate = multitrack.sample_rate
    wanted = [(i, Path(paths[name])) for i, name in enumerate(params.track_names) if name in paths]
    targets = [path for _, path in wanted] + [Path(return_path)]
    # Plain RIFF sizes are 32-bit: a longer stem needs RF64.
    fmt = "RF64" if stems_size_bytes(multitrack.num_samples, 0, rate) > 0xFFFFFFFF - 1024 else "WAV"
    files: list[sf.SoundFile] = []
    try:
        for target in targets:
            files.append(_open(target, rate, fmt))
        for stems, ret in Console(rate).iter_stems(multitrack, params, progress=progress):
            for (i, target), out in zip(wanted, files):
                _write(out, stems[i].T, target)
            _write(files[-1], ret.T, targets[-1])
    finally:
        for out in files:
            out.close()
    for target in targets:
        with writing(target):
            os.chmod(target, FILE_MODE)
            fd = os.open(target, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)


def _open(target: Path, rate: int, fmt: str) -> sf.SoundFile:
    try:
        with writing(target):
            return sf.SoundFile(str(target), "w", rate, 2, "FLOAT", format=fmt)
    except RuntimeError as err:  # soundfile's LibsndfileError
        raise OutputError(f"cannot write: {err}", target) from err


def _write(out: sf.SoundFile, block: np.ndarray, target: Path) -> None:
    try:
        with writing(target):
            out.write(block)
    except (RuntimeError, AssertionError) as err:  # soundfile: LibsndfileError, or a short write
        raise OutputError(f"cannot write ({err or 'disk full?'})", target) from err
