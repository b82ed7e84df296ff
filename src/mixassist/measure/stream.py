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

import math
from collections.abc import Callable, Iterable, Iterator

import numpy as np
import scipy.signal

from mixassist.errors import InvalidAudioError
from mixassist.measure.loudness import (
    MOMENTARY_WINDOW_MS,
    REASON_SHORT_MOMENTARY,
    REASON_SHORT_TERM,
    SHORT_TERM_WINDOW_MS,
    STEP_MS,
    gating_block_count,
    gating_segment_starts,
    hop_edges,
    integrated_from_segments,
    lra_from_short_term,
    series_max,
    window_loudness,
)
from mixassist.measure.peak import channel_true_peak, true_peak_db
from mixassist.measure.reading import REASON_ZERO, Reading
from mixassist.measure.stereo import (
    MOMENT_CHUNK,
    REASON_MONO_SIDE,
    correlation_from_moments,
    mono_correlation,
    side_mid_from_moments,
    stereo_moments,
)
from mixassist.measure.summary import LoudnessReport, empty_report, report_from
from mixassist.measure.validate import as_audio, check_sample_rate
from mixassist.measure.weighting import k_weighting_sos

__all__ = ["BlockSource", "StreamMeter", "measure_blocks"]

BlockSource = Callable[[], Iterable[np.ndarray]]
"""A callable that returns a fresh pass over a signal: its ``(channels, n)`` float blocks, in order."""

_EDGE_BATCH = 4096  # segment starts and hop edges computed per batch


class _Segmenter:
    """Sums a stream of per-sample values over consecutive segments whose edges a function gives.

    Each segment's sum is one ``np.add.reduceat`` over exactly its samples, as the whole-array
    measure sums them, so the sums are the same bit for bit.
    """

    def __init__(self, edges: Callable[[int, int], np.ndarray], rows: int) -> None:
        self._edges = edges  # edges(first, count): edges number first .. first + count - 1
        self._cache = edges(0, _EDGE_BATCH)
        self._cache_first = 0
        self._buffer = np.zeros((rows, 0))
        self._buffer_start = 0  # sample index of the buffer's first value: edge number `done`
        self.done = 0  # segments completed
        self.sums: list[np.ndarray] = []

    def _edge(self, number: int) -> int:
        if not self._cache_first <= number < self._cache_first + self._cache.size:
            self._cache_first = number
            self._cache = self._edges(number, _EDGE_BATCH)
        return int(self._cache[number - self._cache_first])

    def feed(self, values: np.ndarray) -> None:
        """Append ``(rows, n)`` values and sum every segment now complete."""
        self._buffer = np.concatenate([self._buffer, values], axis=-1) if self._buffer.shape[-1] else values
        end = self._buffer_start + self._buffer.shape[-1]
        first = self.done
        last = first
        while self._edge(last + 1) <= end:
            last += 1
        if last == first:
            return
        local = np.array([self._edge(k) for k in range(first, last + 1)]) - self._buffer_start
        self.sums.append(np.add.reduceat(self._buffer[:, : local[-1]], local[:-1], axis=-1))
        self._buffer = self._buffer[:, local[-1] :]
        self._buffer_start += int(local[-1])
        self.done = last

    def rest(self) -> np.ndarray:
        """The sum of the incomplete segment at the end, ``(rows,)``; zero when there is none."""
        if self._buffer.shape[-1] == 0:
            return np.zeros(self._buffer.shape[0])
        return np.add.reduceat(self._buffer, [0], axis=-1)[:, 0]

    def all_sums(self) -> np.ndarray:
        """The sums of every complete segment, ``(rows, segments)``."""
        if not self.sums:
            return np.zeros((self._buffer.shape[0], 0))
        return np.concatenate(self.sums, axis=-1)


class StreamMeter:
    """First pass of :func:`measure_blocks`: every reading but the true peak, from blocks fed in order."""

    def __init__(self, sample_rate: float) -> None:
        self.rate = check_sample_rate(sample_rate)
        self.channels = 0
        self.samples = 0
        self.peak = 0.0
        self._zi: np.ndarray | None = None
        self._sos = k_weighting_sos(self.rate).copy()  # sosfilt wants a writable array
        self._gating: _Segmenter | None = None
        hop = self.rate * STEP_MS / 1000.0
        self._hops = _Segmenter(lambda first, count: np.rint(np.arange(first, first + count) * hop).astype(np.int64), 1)
        self._moments = np.zeros(5)
        self._moment_carry = np.zeros((2, 0), dtype=np.float32)

    def feed(self, block: np.ndarray) -> None:
        """Measure the next ``(channels, n)`` block (1-D is mono); every block has the same channels."""
        x, peak = as_audio(block)
        if self.channels == 0:
            self.channels = x.shape[0]
            self._zi = np.zeros((self._sos.shape[0], self.channels, 2))
            rate = self.rate
            self._gating = _Segmenter(lambda first, count: gating_segment_starts(count, rate, first), self.channels)
        elif x.shape[0] != self.channels:
            raise InvalidAudioError(f"a block has {x.shape[0]} channels after blocks of {self.channels}")
        if x.shape[-1] == 0:
            return
        self.samples += x.shape[-1]
        self.peak = max(self.peak, peak)
        weighted, self._zi = scipy.signal.sosfilt(self._sos, x, axis=-1, zi=self._zi)
        if self._gating is not None:
            self._gating.feed(np.square(weighted))
        self._hops.feed(np.einsum("cn,cn->n", weighted, weighted)[np.newaxis])
        if self.channels == 2:
            self._feed_moments(x)

    def _feed_moments(self, x: np.ndarray) -> None:
        carry = np.concatenate([self._moment_carry, x], axis=-1)
        whole = carry.shape[-1] // MOMENT_CHUNK * MOMENT_CHUNK
        for start in range(0, whole, MOMENT_CHUNK):
            self._moments += stereo_moments(carry[:, start : start + MOMENT_CHUNK])
        self._moment_carry = carry[:, whole:]

    def readings(self) -> dict[str, Reading]:
        """Every reading of what was fed, but the true peak (which needs a second pass)."""
        results: dict[str, Reading] = {}
        results["integrated_lufs"] = integrated_from_segments(self._gating_segments(), self.samples, self.rate)
        edges = hop_edges(self.samples, self.rate)
        hop_energy = self._hops.all_sums()[0][: max(edges.size - 1, 0)]
        momentary = window_loudness(hop_energy, edges, MOMENTARY_WINDOW_MS)
        short_term = window_loudness(hop_energy, edges, SHORT_TERM_WINDOW_MS)
        results["loudness_range_lu"] = lra_from_short_term(short_term)
        results["sample_peak_dbfs"] = (20.0 * math.log10(self.peak), None) if self.peak else (None, REASON_ZERO)
        results["momentary_max_lufs"] = series_max(momentary, REASON_SHORT_MOMENTARY)
        results["short_term_max_lufs"] = series_max(short_term, REASON_SHORT_TERM)
        if self.channels == 2:
            moments = self._moments.copy()
            if self._moment_carry.shape[-1]:
                moments += stereo_moments(self._moment_carry)
            totals = tuple(float(v) for v in moments)
            results["correlation"] = correlation_from_moments(totals)
            results["side_mid_db"] = side_mid_from_moments(totals)
        else:
            results["correlation"] = mono_correlation(self.peak > 0.0)
            results["side_mid_db"] = (None, REASON_MONO_SIDE)
        return results

    def _gating_segments(self) -> np.ndarray:
        """The gating segments as the whole-array measure builds them, ``(channels, blocks + 4)``."""
        if self._gating is None or self.samples < 0.4 * self.rate:
            return np.zeros((self.channels, 0))
        size = gating_block_count(self.samples, self.rate) + 4
        segments = np.zeros((self.channels, size))
        complete = self._gating.all_sums()[:, :size]
        segments[:, : complete.shape[-1]] = complete
        if self._gating.done < size:
            # the last segment that starts inside the signal runs to its end
            segments[:, self._gating.done] = self._gating.rest()
        return segments


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
    return report_from(results)
