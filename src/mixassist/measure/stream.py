"""Every meter reading of a signal read block by block, in memory that does not grow with its length.

:func:`measure_blocks` gives the :class:`~mixassist.measure.summary.LoudnessReport` that
:func:`~mixassist.measure.summary.measure` gives for the whole array, bit for bit: it runs the same
arithmetic on the same partial sums, only fed from blocks.

- K-weighting: ``sosfilt`` with its state carried from block to block (the same recursion).
- Integrated loudness: the energy of every 100 ms gating segment per channel (kept: 36,000 pairs
  of floats per hour), gated at the end as :func:`~mixassist.measure.loudness.integrated_from_segments`.
- Momentary, short-term, LRA: the channel-summed energy of every 100 ms hop (kept, 36,000 floats
  per hour), windowed at the end as the whole-array measure does.
- Correlation and side/mid: the sums of :func:`~mixassist.measure.stereo.stereo_moments` over the
  same chunks of :data:`~mixassist.measure.stereo.MOMENT_CHUNK` samples.
- Sample peak: the running largest magnitude.
- True peak: the interpolator's input is the signal divided by its sample peak, known only after
  the first pass, so each channel is read once more, in the same chunks as the whole-array
  measure (:func:`~mixassist.measure.peak.channel_true_peak`, which both share).

Only partial sums, one block and one chunk of carry are held, so a one-hour file needs a few MB
beside the 36,000-entry series (``benchmarks/memory.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

import numpy as np

from mixassist.errors import InvalidAudioError
from mixassist.measure.meter import StreamMeter
from mixassist.measure.peak import channel_true_peak, true_peak_db
from mixassist.measure.reading import REASON_ZERO
from mixassist.measure.summary import LoudnessReport, empty_report, report_from

__all__ = ["BlockSource", "measure_blocks"]

BlockSource = Callable[[], Iterable[np.ndarray]]
"""A callable that returns a fresh pass over a signal: its ``(channels, n)`` float blocks, in order."""


class _ChannelReader:
    """``read(a, b)`` over one channel of a fresh pass, for increasing overlapping ranges."""

    def __init__(self, blocks: Iterable[np.ndarray], channel: int) -> None:
        self._blocks: Iterator[np.ndarray] = iter(blocks)
        self._channel = channel
        self._buffer = np.zeros(0, dtype=np.float32)
        self._start = 0

    def __call__(self, a: int, b: int) -> np.ndarray:
        if a < self._start:
            raise InvalidAudioError(f"true-peak pass read backwards (sample {a} after {self._start})")
        pieces = [self._buffer[a - self._start :]] if a - self._start < self._buffer.size else []
        have = self._start + self._buffer.size
        skip = max(a - have, 0)
        while have < b:
            block = next(self._blocks, None)
            if block is None:
                raise InvalidAudioError(f"the signal ended at sample {have} on its second reading, not at {b}")
            row = np.atleast_2d(block)[self._channel]
            have += row.size
            if skip >= row.size:
                skip -= row.size
                continue
            pieces.append(row[skip:])
            skip = 0
        self._buffer = np.concatenate(pieces) if len(pieces) != 1 else pieces[0]
        self._start = a
        return self._buffer[: b - a]


def measure_blocks(blocks: BlockSource, sample_rate: float) -> LoudnessReport:
    """Every reading of :func:`~mixassist.measure.summary.measure`, from a signal read block by block.

    Parameters
    ----------
    blocks : callable
        Returns a fresh pass over the signal: an iterable of float blocks shaped
        ``(channels, n)`` (1-D is mono) with 1 or 2 channels. It is called once for the
        loudness, peak and stereo readings, then once per channel for the true peak; every
        pass must give the same samples.
    sample_rate : float
        Sample rate in Hz, 8000-384000.

    Returns
    -------
    LoudnessReport
        The same report, bit for bit, as ``measure`` of the blocks joined into one array.

    Raises
    ------
    InvalidAudioError, InvalidParameterError
        As :func:`~mixassist.measure.summary.measure`, per block; also when the blocks change
        their channel count or a later pass is shorter than the first.

    Examples
    --------
    >>> import numpy as np
    >>> tone = 0.1 * np.sin(2 * np.pi * 1000 * np.arange(96000) / 48000)
    >>> whole = measure_blocks(lambda: np.array_split(tone, 7), 48000)
    >>> round(whole.integrated_lufs, 2)
    -23.01
    """
    meter = StreamMeter(sample_rate)
    for block in blocks():
        meter.feed(block)
    if meter.samples == 0:
        return empty_report()
    results = meter.readings()
    if meter.peak == 0.0:
        results["true_peak_dbtp"] = (None, REASON_ZERO)
    else:
        best = 1.0  # the sample peak, relative to itself (as the whole-array measure starts)
        for channel in range(meter.channels):
            best = channel_true_peak(meter.samples, _ChannelReader(blocks(), channel), meter.peak, best)
        results["true_peak_dbtp"] = (true_peak_db(meter.peak, best), None)
    return report_from(results, meter.dc_offset())
