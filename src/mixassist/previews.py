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
from dataclasses import dataclass
from pathlib import PurePosixPath

import numpy as np

from mixassist.measure import integrated_loudness, sample_peak_dbfs, short_term_loudness

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
    audio : numpy.ndarray
        Float32 ``(channels, samples)``, the gain applied.
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
    audio: np.ndarray
    sample_rate: int
    length: str
    start_s: float
    gain_db: float
    loudness_lufs: float

    @property
    def name(self) -> str:
        """Its path inside the output folder: ``previews/<length>/<key>.flac``."""
        return f"{PREVIEW_FOLDER}/{self.length}/{self.key}.flac"


def raw_sum(tracks: Sequence[np.ndarray]) -> np.ndarray:
    """The stems summed as the console sums them at neutral settings: stereo stems as they are,
    mono stems on both sides at −3 dB (constant-power centre). Float32 ``(2, samples)``."""
    length = max((t.shape[1] for t in tracks), default=0)
    out = np.zeros((2, length), dtype=np.float64)
    for audio in tracks:
        if audio.shape[0] == 1:
            out[:, : audio.shape[1]] += math.sqrt(0.5) * audio[0]
        else:
            out[:, : audio.shape[1]] += audio
    return out.astype(np.float32)


def loudest_section(audio: np.ndarray, sample_rate: int, seconds: float = EXCERPT_S) -> int:
    """First sample of the ``seconds``-long window of ``audio`` whose short-term loudness
    (EBU Tech 3341, every 100 ms) has the highest mean energy; 0 when the audio is no longer
    than the window or too short to meter."""
    length = int(round(seconds * sample_rate))
    if audio.shape[-1] <= length:
        return 0
    series = short_term_loudness(audio, sample_rate)
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
    start = loudest_section(mix, sample_rate, excerpt_s)
    sources: list[tuple[str, str, np.ndarray, int]] = [
        ("raw-sum", "raw sum of the stems", raw, start),
        ("mix", "this mix", mix, start),
    ]
    used = {"raw-sum", "mix"}
    for i, (label, audio) in enumerate(references):
        key = f"reference-{i + 1}-{preview_slug(PurePosixPath(label).stem)}"
        if key in used:
            key = f"{key}-{i + 1}"
        used.add(key)
        sources.append((key, label, audio, loudest_section(audio, sample_rate, excerpt_s)))
    previews: list[Preview] = []
    for kind in ("excerpt", "full"):
        cuts = {
            key: (label, audio if kind == "full" else audio[:, s : s + length], s if kind == "excerpt" else 0)
            for key, label, audio, s in sources
        }
        previews += _matched(cuts, sample_rate, kind)
    return previews


def _matched(cuts: Mapping[str, tuple[str, np.ndarray, int]], sample_rate: int, kind: str) -> list[Preview]:
    """The cuts gained to one common integrated loudness (see the module docstring)."""
    measured: dict[str, tuple[float, float]] = {}
    for key, (_, audio, _) in cuts.items():
        loudness = integrated_loudness(audio, sample_rate) if audio.shape[-1] else None
        peak = sample_peak_dbfs(audio) if audio.shape[-1] else None
        if loudness is not None and peak is not None and math.isfinite(peak):
            measured[key] = (loudness, peak)
    if not measured:
        return []
    common = min(loudness + PEAK_LIMIT_DBFS - peak for loudness, peak in measured.values())
    out = []
    for key, (loudness, _) in measured.items():
        label, audio, start = cuts[key]
        gain_db = common - loudness
        scaled = (audio.astype(np.float64) * 10.0 ** (gain_db / 20.0)).astype(np.float32)
        out.append(Preview(key, label, scaled, sample_rate, kind, start / sample_rate, gain_db, common))
    return out
