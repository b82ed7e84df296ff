"""Loudness-matched previews: the raw sum, the mix and each reference at one integrated loudness,
as the same excerpt from the mix's loudest section and at full length.

Louder sounds better, so a comparison at unequal levels judges the level, not the mix
(Matchering writes its previews matched for the same reason). Every preview is scaled to one
common integrated loudness (ITU-R BS.1770-4), chosen as the loudest level at which none of them
has a sample above ``PEAK_LIMIT_DBFS`` after its gain: only gain is applied, never a limiter,
so what is heard is the signal itself.

The excerpt is the ``EXCERPT_S`` seconds of the mix with the highest energy of its short-term
loudness; the raw sum is cut at the same place; a reference (another song, another length) is
cut at its own loudest section. Files shorter than the excerpt are used whole.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Protocol

import numpy as np

from mixassist.measure import integrated_and_short_term, integrated_loudness, sample_peak_dbfs

__all__ = [
    "EXCERPT_S",
    "PEAK_LIMIT_DBFS",
    "PREVIEW_FOLDER",
    "Preview",
    "loudest_section",
    "make_previews",
    "preview_slug",
    "raw_sum",
]

#: Length of the excerpt previews, seconds.
EXCERPT_S = 30.0
#: Highest sample peak a preview may reach after its gain (dBFS): headroom for the 24-bit file.
PEAK_LIMIT_DBFS = -0.5
#: Folder of the previews inside a mix's output folder.
PREVIEW_FOLDER = "previews"


@dataclass(frozen=True)
class Preview:
    """One loudness-matched preview.

    Attributes
    ----------
    key : str
        ``"raw-sum"``, ``"mix"`` or ``"reference-N"``: the file stem.
    label : str
        What it is, for people (a reference's label is its file name).
    source : numpy.ndarray
        Float32 ``(channels, samples)`` before the gain (a view of the signal it previews:
        nothing is copied until :attr:`audio` is read, when the file is written).
    sample_rate : int
    length : str
        ``"excerpt"`` or ``"full"``.
    start_s : float
        Where the excerpt starts in the source, seconds (0 for full length).
    gain_db : float
        The gain applied to reach ``loudness_lufs``.
    loudness_lufs : float
        The common integrated loudness every preview of this length was matched to.
    """

    key: str
    label: str
    source: np.ndarray
    sample_rate: int
    length: str
    start_s: float
    gain_db: float
    loudness_lufs: float

    @property
    def audio(self) -> np.ndarray:
        """Float32 ``(channels, samples)``, the gain applied (made on each read, in blocks: no
        float64 copy of the whole signal)."""
        gain = 10.0 ** (self.gain_db / 20.0)
        out = np.empty(self.source.shape, dtype=np.float32)
        for a in range(0, self.source.shape[-1], SUM_BLOCK):
            out[:, a : a + SUM_BLOCK] = self.source[:, a : a + SUM_BLOCK].astype(np.float64) * gain
        return out

    @property
    def name(self) -> str:
        """Its path inside the output folder: ``previews/<length>/<key>.flac``."""
        return f"{PREVIEW_FOLDER}/{self.length}/{self.key}.flac"


class Readable(Protocol):
    """A stem read range by range (:class:`~mixassist.audio.multitrack.Track`)."""

    @property
    def channels(self) -> int: ...

    @property
    def num_samples(self) -> int: ...

    def read(self, start: int, stop: int) -> np.ndarray: ...


#: Frames summed at a time by :func:`raw_sum` (bounded memory for long, spooled sessions).
SUM_BLOCK = 1 << 18


def raw_sum(tracks: Sequence[np.ndarray | Readable]) -> np.ndarray:
    """The stems summed as the console sums them at neutral settings: stereo stems as they are,
    mono stems on both sides at −3 dB (constant-power centre). Float32 ``(2, samples)``.
    ``tracks`` are arrays ``(channels, samples)`` or stems read range by range (summed in
    blocks, so a spooled session is never held whole)."""
    lengths = [t.shape[1] if isinstance(t, np.ndarray) else t.num_samples for t in tracks]
    out = np.zeros((2, max(lengths, default=0)), dtype=np.float32)
    for start in range(0, out.shape[1], SUM_BLOCK):
        stop = min(start + SUM_BLOCK, out.shape[1])
        acc = np.zeros((2, stop - start), dtype=np.float64)
        for t, n in zip(tracks, lengths, strict=True):
            if start >= n:
                continue
            block = t[:, start : min(stop, n)] if isinstance(t, np.ndarray) else t.read(start, min(stop, n))
            if block.shape[0] == 1:
                acc[:, : block.shape[1]] += math.sqrt(0.5) * block[0]
            else:
                acc[:, : block.shape[1]] += block
        out[:, start:stop] = acc
    return out


def loudest_section(
    audio: np.ndarray, sample_rate: int, seconds: float = EXCERPT_S, *, short_term: np.ndarray | None = None
) -> int:
    """First sample of the ``seconds``-long window of ``audio`` whose short-term loudness
    (EBU Tech 3341, every 100 ms) has the highest mean energy; 0 when the audio is no longer
    than the window or too short to meter. ``short_term``: that series, if already measured."""
    length = int(round(seconds * sample_rate))
    if audio.shape[-1] <= length:
        return 0
    series = short_term if short_term is not None else integrated_and_short_term(audio, sample_rate)[1]
    if series.size == 0:
        return 0
    energy = np.where(np.isfinite(series), 10.0 ** (series / 10.0), 0.0)
    # Short-term value k covers 100 ms steps k … k + 30; a window of `seconds` spans `seconds/0.1 - 30` + 1 values.
    span = max(1, int(round(seconds / 0.1)) - 30 + 1)
    if energy.size <= span:
        return 0
    sums = np.convolve(energy, np.ones(span), mode="valid")
    start = int(np.argmax(sums)) * sample_rate // 10
    return int(min(start, audio.shape[-1] - length))


def preview_slug(label: str) -> str:
    """A file-name-safe form of a label (letters, digits, ``-``), at most 40 characters."""
    return re.sub(r"[^A-Za-z0-9]+", "-", label).strip("-")[:40] or "reference"


def make_previews(
    raw: np.ndarray,
    mix: np.ndarray,
    sample_rate: int,
    references: Sequence[tuple[str, np.ndarray]] = (),
    *,
    excerpt_s: float = EXCERPT_S,
) -> list[Preview]:
    """The excerpt and full-length previews of the raw sum, the mix and each reference.

    Parameters
    ----------
    raw, mix : numpy.ndarray
        ``(channels, samples)`` at ``sample_rate``: the raw sum (:func:`raw_sum`) and the mix.
    references : sequence of (label, audio)
        Reference songs, already at ``sample_rate``.
    excerpt_s : float
        Length of the excerpt, seconds.

    Returns
    -------
    list of Preview
        Excerpts first, then full lengths; silent or unmeasurable signals are left out.
        Within each length every preview has the same integrated loudness (to the file's
        rounding: well under 0.1 LU), found as described in the module docstring.
    """
    length = int(round(excerpt_s * sample_rate))
    signals = [("raw-sum", "raw sum of the stems", raw), ("mix", "this mix", mix)]
    used = {"raw-sum", "mix"}
    for i, (label, audio) in enumerate(references):
        key = f"reference-{i + 1}-{preview_slug(PurePosixPath(label).stem)}"
        if key in used:
            key = f"{key}-{i + 1}"
        used.add(key)
        signals.append((key, label, audio))
    # Each whole signal is metered once, in blocks: its integrated loudness (the full-length
    # preview's) and its short-term series (where its loudest section is); two at a time on
    # threads (the filters release the GIL; each reading is its own, so the same figures).
    with ThreadPoolExecutor(max_workers=2) as pool:
        readings = list(pool.map(lambda signal: _metered(signal[2], sample_rate), signals))
    metered = {key: reading for (key, _, _), reading in zip(signals, readings, strict=True)}
    mix_start = loudest_section(mix, sample_rate, excerpt_s, short_term=metered["mix"][1])
    full, excerpts = {}, {}
    for key, label, audio in signals:
        s = (
            mix_start
            if key in ("raw-sum", "mix")
            else loudest_section(audio, sample_rate, excerpt_s, short_term=metered[key][1])
        )
        cut = audio[:, s : s + length]
        full[key] = (label, audio, 0, metered[key][0])
        excerpts[key] = (label, cut, s, integrated_loudness(cut, sample_rate) if cut.shape[-1] else None)
    return _matched(excerpts, sample_rate, "excerpt") + _matched(full, sample_rate, "full")


def _metered(audio: np.ndarray, sample_rate: int) -> tuple[float | None, np.ndarray]:
    if audio.shape[-1] == 0:
        return None, np.zeros(0)
    return integrated_and_short_term(audio, sample_rate)


def _peak_dbfs(audio: np.ndarray) -> float | None:
    """:func:`~mixassist.measure.sample_peak_dbfs`, read in blocks (no whole-signal copy)."""
    if audio.shape[-1] == 0:
        return None
    peak = max(float(np.abs(audio[:, a : a + SUM_BLOCK]).max()) for a in range(0, audio.shape[-1], SUM_BLOCK))
    return sample_peak_dbfs(np.array([[peak]], dtype=np.float64))


def _matched(
    cuts: Mapping[str, tuple[str, np.ndarray, int, float | None]], sample_rate: int, kind: str
) -> list[Preview]:
    """The cuts (label, audio, start, integrated loudness) gained to one common integrated
    loudness (see the module docstring)."""
    measured: dict[str, tuple[float, float]] = {}
    for key, (_, audio, _, loudness) in cuts.items():
        peak = _peak_dbfs(audio)
        if loudness is not None and peak is not None and math.isfinite(peak):
            measured[key] = (loudness, peak)
    if not measured:
        return []
    common = min(loudness + PEAK_LIMIT_DBFS - peak for loudness, peak in measured.values())
    out = []
    for key, (loudness, _) in measured.items():
        label, audio, start, _ = cuts[key]
        out.append(Preview(key, label, audio, sample_rate, kind, start / sample_rate, common - loudness, common))
    return out
