"""The first pass of a meter fed block by block: every reading but the true peak.

:class:`StreamMeter` carries the K-weighting state from block to block and keeps only partial sums:
the energy of every 100 ms gating segment per channel and of every 100 ms hop (36,000 floats per
hour each), the stereo sums of :func:`~mixassist.measure.stereo.stereo_moments` over its chunks,
and the sample peak. Each sum is taken over exactly the samples the whole-array arithmetic sums,
in the same order, so :func:`~mixassist.measure.summary.measure` (which feeds it the array in
blocks) and :func:`~mixassist.measure.stream.measure_blocks` (which feeds it a file) give the same
figures bit for bit as the whole-array formulas (tests/test_stream.py).
"""

from __future__ import annotations

import math
from collections.abc import Callable

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
from mixassist.measure.reading import REASON_ZERO, Reading, explain
from mixassist.measure.stereo import (
    MOMENT_CHUNK,
    REASON_MONO_SIDE,
    correlation_from_moments,
    mono_correlation,
    side_mid_from_moments,
    stereo_moments,
)
from mixassist.measure.validate import as_audio, check_sample_rate
from mixassist.measure.weighting import k_weighting_sos

__all__ = [
    "METER_BLOCK",
    "StreamMeter",
    "integrated_and_short_term",
    "integrated_streamed",
    "loudness_and_correlation",
]

METER_BLOCK = 1 << 16
"""Samples per block when a whole array is fed to :class:`StreamMeter` (a few MB of float64)."""
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
    """Every reading but the true peak, from blocks fed in order (see the module)."""

    def __init__(self, sample_rate: float, *, integrated_only: bool = False, moments: bool = True) -> None:
        self.rate = check_sample_rate(sample_rate)
        # integrated_only: only the gating sums; moments=False: no stereo sums (readings() needs both)
        self.integrated_only, self.moments = integrated_only, moments
        self.channels = 0
        self.samples = 0
        self.peak = 0.0
        self._zi: np.ndarray | None = None
        self._sos = k_weighting_sos(self.rate).copy()  # sosfilt wants a writable array
        self._gating: _Segmenter | None = None
        hop = self.rate * STEP_MS / 1000.0
        self._hops = _Segmenter(lambda first, count: np.rint(np.arange(first, first + count) * hop).astype(np.int64), 1)
        self._moments = np.zeros(5)
        self._dc_sum = np.zeros(0)
        self._moment_carry = np.zeros((2, 0), dtype=np.float32)

    def feed(self, block: np.ndarray) -> None:
        """Measure the next ``(channels, n)`` block (1-D is mono); every block has the same channels."""
        x, peak = as_audio(block)
        if self.channels == 0:
            self.channels = x.shape[0]
            self._zi = np.zeros((self._sos.shape[0], self.channels, 2))
            self._dc_sum = np.zeros(self.channels)
            rate = self.rate
            self._gating = _Segmenter(lambda first, count: gating_segment_starts(count, rate, first), self.channels)
        elif x.shape[0] != self.channels:
            raise InvalidAudioError(f"a block has {x.shape[0]} channels after blocks of {self.channels}")
        if x.shape[-1] == 0:
            return
        self.samples += x.shape[-1]
        self.peak = max(self.peak, peak)
        self._dc_sum += x.sum(axis=-1, dtype=np.float64)
        weighted, self._zi = scipy.signal.sosfilt(self._sos, x, axis=-1, zi=self._zi)
        if self._gating is not None:
            self._gating.feed(np.square(weighted))
        if self.integrated_only:
            return
        self._hops.feed(np.einsum("cn,cn->n", weighted, weighted)[np.newaxis])
        if self.channels == 2 and self.moments:
            self._feed_moments(x)

    def _feed_moments(self, x: np.ndarray) -> None:
        carry = np.concatenate([self._moment_carry, x], axis=-1)
        whole = carry.shape[-1] // MOMENT_CHUNK * MOMENT_CHUNK
        for start in range(0, whole, MOMENT_CHUNK):
            self._moments += stereo_moments(carry[:, start : start + MOMENT_CHUNK])
        self._moment_carry = carry[:, whole:]

    def dc_offset(self) -> np.ndarray:
        """The mean sample value of each channel fed so far (float64; empty before any block)."""
        return self._dc_sum / self.samples if self.samples else np.zeros(self.channels)

    def readings(self) -> dict[str, Reading]:
        """Every reading of what was fed, but the true peak (which needs a second pass)."""
        if self.integrated_only or not self.moments:
            raise RuntimeError("a meter fed with integrated_only=True or moments=False has no readings()")
        results: dict[str, Reading] = {}
        results["integrated_lufs"] = self.integrated_lufs()
        edges = hop_edges(self.samples, self.rate)
        hop_energy = self.hop_energies(edges)
        momentary = window_loudness(hop_energy, edges, MOMENTARY_WINDOW_MS)
        short_term = window_loudness(hop_energy, edges, SHORT_TERM_WINDOW_MS)
        results["loudness_range_lu"] = lra_from_short_term(short_term)
        results["sample_peak_dbfs"] = (20.0 * math.log10(self.peak), None) if self.peak else (None, REASON_ZERO)
        results["momentary_max_lufs"] = series_max(momentary, REASON_SHORT_MOMENTARY)
        results["short_term_max_lufs"] = series_max(short_term, REASON_SHORT_TERM)
        results["correlation"] = self.correlation()
        if self.channels == 2:
            results["side_mid_db"] = side_mid_from_moments(self._moment_totals())
        else:
            results["side_mid_db"] = (None, REASON_MONO_SIDE)
        return results

    def _moment_totals(self) -> tuple[float, ...]:
        moments = self._moments.copy()
        if self._moment_carry.shape[-1]:
            moments += stereo_moments(self._moment_carry)
        return tuple(float(v) for v in moments)

    def correlation(self) -> Reading:
        """Stereo correlation of what was fed (:func:`~mixassist.measure.correlation`, bit for bit)."""
        if self.channels == 2:
            if not self.moments:
                raise RuntimeError("a meter fed with moments=False has no correlation()")
            return correlation_from_moments(self._moment_totals())
        return mono_correlation(self.peak > 0.0)

    def integrated_lufs(self) -> Reading:
        """Integrated loudness of what was fed (BS.1770-4), with the reason when it is None."""
        return integrated_from_segments(self.gating_segments(), self.samples, self.rate)

    def hop_energies(self, edges: np.ndarray) -> np.ndarray:
        """The channel-summed K-weighted energy of every 100 ms hop between ``edges``
        (``hop_edges`` of the samples fed)."""
        return self._hops.all_sums()[0][: max(edges.size - 1, 0)]

    def gating_segments(self) -> np.ndarray:
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


def integrated_and_short_term(audio: np.ndarray, sample_rate: float) -> tuple[float | None, np.ndarray]:
    """:func:`~mixassist.measure.loudness.integrated_loudness` and
    :func:`~mixassist.measure.loudness.short_term_loudness` of one signal, K-weighting it once,
    in blocks (:class:`StreamMeter`): the same figures, bit for bit, without float64 copies of
    the whole signal.

    Parameters, raises
        As :func:`~mixassist.measure.loudness.integrated_loudness`.

    Returns
    -------
    (float or None, numpy.ndarray)
        Integrated loudness in LUFS, and the short-term loudness every 100 ms.
    """
    integrated, short_term, _ = loudness_and_correlation(audio, sample_rate, correlation=False)
    return integrated, short_term


def loudness_and_correlation(
    audio: np.ndarray, sample_rate: float, *, correlation: bool = True
) -> tuple[float | None, np.ndarray, float | None]:
    """:func:`integrated_and_short_term` and, with ``correlation``, the stereo correlation
    (:func:`~mixassist.measure.correlation`, bit for bit; None for mono or without ``correlation``)
    from the same pass."""
    rate = check_sample_rate(sample_rate)
    x, _ = as_audio(audio)
    meter = StreamMeter(rate, moments=correlation)
    for start in range(0, max(x.shape[-1], 1), METER_BLOCK):
        meter.feed(x[:, start : start + METER_BLOCK])
    integrated = explain("integrated_loudness", meter.integrated_lufs())
    edges = hop_edges(meter.samples, rate)
    corr = explain("correlation", meter.correlation()) if correlation and meter.channels == 2 else None
    return integrated, window_loudness(meter.hop_energies(edges), edges, SHORT_TERM_WINDOW_MS), corr


def integrated_streamed(audio: np.ndarray, sample_rate: float) -> float | None:
    """:func:`~mixassist.measure.loudness.integrated_loudness` of ``audio``, bit for bit, fed in
    blocks (:class:`StreamMeter` with ``integrated_only``): no float64 copy of the whole signal,
    and only the K-weighting and the gating sums (about 60 % of :func:`~mixassist.measure.measure`'s
    time on a stereo mix: no hops, stereo moments or true peak)."""
    rate = check_sample_rate(sample_rate)
    x, _ = as_audio(audio)
    meter = StreamMeter(rate, integrated_only=True)
    for start in range(0, x.shape[-1], METER_BLOCK):
        meter.feed(x[:, start : start + METER_BLOCK])
    return meter.integrated_lufs()[0]
