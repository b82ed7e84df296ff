"""Song structure from the stems: section boundaries by novelty, labels by repetition.

:func:`detect_sections` (after Foote 2000's checkerboard novelty on a self-similarity matrix,
with the tracks' entries and exits, which mark most section boundaries, as a second cue):

1. **Frames** (:func:`structure_frames`), one every :data:`STRUCTURE_HOP_S` (coarser for songs
   longer than :data:`MAX_FRAMES` frames): the mix's (the stems' sum's) energy in 10 ERB band
   groups, in dB, and each track's level in dB.
2. **Features**: the band levels, each standardised over the song; and each track's *activity*,
   its frame level mapped from :data:`ACTIVITY_RANGE_DB` under its loud frames (its
   :data:`LOUD_PERCENTILE` th percentile: 0) to :data:`ACTIVITY_TOP_DB` under (1), weighted
   :data:`ACTIVITY_WEIGHT` against the tone.  Smoothed over :data:`SMOOTH_S`, each frame scaled
   to unit length.
3. **Novelty**: with ``S = F Fᵀ`` (cosine similarity of every pair of frames), a
   Gaussian-tapered checkerboard kernel slid down the diagonal -- high where the past and the
   future are each self-similar but unlike each other -- at each half-width of
   :data:`KERNELS_S` (a short kernel places an edge, a long one tells a section change from a
   fill), each normalised to 0…1 and averaged.  Added, with weight :data:`CHANGE_WEIGHT`: the
   *activity change*, the summed absolute difference of each track's mean activity over the
   :data:`CHANGE_S` seconds after and before the frame (an instrument that enters or leaves).
4. **Boundaries**: the peaks of that curve, at least :data:`MIN_SECTION_S` apart and
   :data:`EDGE_S` from the song's ends, above its median plus :data:`PEAK_THRESHOLD` times its
   spread (max − median), strongest first; each is then moved to the strongest activity change
   within ±:data:`REFINE_S` measured over :data:`REFINE_CHANGE_S` (the entry itself, not the
   smoothed curve's centre).
5. **Labels**: each section's mean feature is compared with the earlier sections'; one at least
   :data:`SAME_LABEL` similar takes its letter (a repeat: ``A``, ``B``, ``A`` …), else the next.

Every figure was chosen on the validation pool of ``benchmarks/section_detection.py`` (synthesised
songs with known sections) and measured once on its test pool and on songs from a generator of
its own; a synthesised song in ``tests/test_ride.py`` checks the behaviour.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mixassist.audio.multitrack import Multitrack
from mixassist.measure import perception
from mixassist.mixers.sections import Section

__all__ = [
    "ACTIVITY_RANGE_DB",
    "ACTIVITY_TOP_DB",
    "ACTIVITY_WEIGHT",
    "CHANGE_S",
    "CHANGE_WEIGHT",
    "EDGE_S",
    "KERNELS_S",
    "LOUD_PERCENTILE",
    "MAX_FRAMES",
    "MIN_SECTION_S",
    "PEAK_THRESHOLD",
    "REFINE_CHANGE_S",
    "REFINE_S",
    "SAME_LABEL",
    "SMOOTH_S",
    "STRUCTURE_HOP_S",
    "StructureFrames",
    "activity_change",
    "detect_sections",
    "novelty",
    "sections_from_frames",
    "structure_features",
    "structure_frames",
]

#: Frame hop of the features, seconds.
STRUCTURE_HOP_S = 0.1
#: Most frames analysed (the hop grows for longer songs; 2000 frames keep S at 32 MB).
MAX_FRAMES = 2000
#: Feature smoothing, seconds.
SMOOTH_S = 0.5
#: Half-widths of the checkerboard kernels, seconds.
KERNELS_S: tuple[float, ...] = (1.5, 3.0, 6.0)
#: Shortest section, seconds.
MIN_SECTION_S = 5.0
#: No boundary closer than this to the song's start or end, seconds.
EDGE_S = 1.0
#: A peak counts above median + this × (max − median) of the novelty.
PEAK_THRESHOLD = 0.2
#: Cosine similarity of two sections' mean features above which they share a label.
SAME_LABEL = 0.9
#: Weight of the tracks' activity against the mix's tone in the features.
ACTIVITY_WEIGHT = 1.0
#: A track's activity is 0 this far (dB) under its loud frames ...
ACTIVITY_RANGE_DB = 20.0
#: ... and 1 from this far under them.
ACTIVITY_TOP_DB = 10.0
#: The percentile of a track's frame levels that counts as its loud frames.
LOUD_PERCENTILE = 100.0
#: Weight of the activity change in the boundary curve (0: novelty alone).
CHANGE_WEIGHT = 4.0
#: Span before and after a frame over which the activity change is measured, seconds.
CHANGE_S = 1.0
#: A boundary moves to the strongest activity change within this distance, seconds (0: it stays).
REFINE_S = 1.5
#: Span of the activity change that places a boundary, seconds.
REFINE_CHANGE_S = 0.5
_BAND_GROUPS = 10


@dataclass(frozen=True)
class StructureFrames:
    """What the detector reads of a song: ``tone`` ``(frames, 10)`` band-group levels of the mix
    and ``levels`` ``(frames, tracks)`` of each track, dB, one frame every ``hop_s``."""

    hop_s: float
    length_s: float
    tone: np.ndarray
    levels: np.ndarray


def structure_frames(multitrack: Multitrack) -> StructureFrames:
    """The song's :class:`StructureFrames` (step 1 of the module notes)."""
    sr, n = multitrack.sample_rate, multitrack.num_samples
    hop_s = max(STRUCTURE_HOP_S, n / sr / MAX_FRAMES)
    hop = max(1, int(round(hop_s * sr)))
    frames = max(1, -(-n // hop))
    mix = np.zeros(n, np.float32)
    levels = []
    for track in multitrack:
        mono = np.asarray(track.audio, dtype=np.float32).mean(axis=0)
        mix += mono
        padded = np.zeros(frames * hop, np.float32)
        padded[:n] = mono
        levels.append(10 * np.log10(np.mean(padded.reshape(frames, hop).astype(np.float64) ** 2, axis=1) + 1e-12))
    bands = perception.band_powers(mix, sr, hop_s=hop / sr)[0, :frames]  # (frames, 40)
    grouped = bands.reshape(frames, _BAND_GROUPS, -1).sum(axis=2)
    tone = 10 * np.log10(grouped + 1e-3)
    track_levels = np.stack(levels, axis=1) if levels else np.zeros((frames, 0))
    return StructureFrames(hop / sr, n / sr, tone, track_levels)


def _activity(levels: np.ndarray) -> np.ndarray:
    if levels.shape[1] == 0:
        return levels
    loud = np.percentile(levels, LOUD_PERCENTILE, axis=0)
    span = max(ACTIVITY_RANGE_DB - ACTIVITY_TOP_DB, 1e-6)
    return np.clip((levels - (loud - ACTIVITY_RANGE_DB)) / span, 0.0, 1.0)


def _smooth(features: np.ndarray, width: int) -> np.ndarray:
    if width <= 1:
        return features
    kernel = np.ones(width) / width
    return np.stack(
        [np.convolve(np.pad(c, width, mode="edge"), kernel, mode="same")[width:-width] for c in features.T], axis=1
    )


def structure_features(frames: StructureFrames) -> np.ndarray:
    """Unit-length feature vectors ``(frames, dims)`` (step 2 of the module notes)."""
    tone = frames.tone
    tone = (tone - tone.mean(axis=0)) / (tone.std(axis=0) + 1e-6) / np.sqrt(_BAND_GROUPS)
    tracks = max(frames.levels.shape[1], 1)
    acts = _activity(frames.levels) / np.sqrt(tracks) * ACTIVITY_WEIGHT
    features = _smooth(np.concatenate([tone, acts], axis=1), int(round(SMOOTH_S / frames.hop_s)))
    norms = np.linalg.norm(features, axis=1, keepdims=True)
    return features / np.maximum(norms, 1e-9)


def novelty(features: np.ndarray, half_width: int) -> np.ndarray:
    """Foote's novelty of unit-length ``features`` ``(frames, dims)`` with a checkerboard kernel
    of ``half_width`` frames (Gaussian taper, σ = half_width / 2), normalised to 0…1."""
    frames = features.shape[0]
    sim = features @ features.T
    k = max(1, half_width)
    offsets = np.arange(-k, k) + 0.5
    taper = np.exp(-0.5 * (offsets / (k / 2.0)) ** 2)
    checker = np.sign(offsets)[:, None] * np.sign(offsets)[None, :] * taper[:, None] * taper[None, :]
    padded = np.pad(sim, k, mode="constant")
    out = np.array([np.sum(checker * padded[i : i + 2 * k, i : i + 2 * k]) for i in range(frames)])
    out = np.maximum(out, 0.0)
    return out / out.max() if out.max() > 0 else out


def activity_change(activity: np.ndarray, span: int) -> np.ndarray:
    """Per frame, the summed absolute difference of each track's mean ``activity`` ``(frames,
    tracks)`` over the ``span`` frames from it on and the ``span`` frames before it (the ends
    padded with their edge values), divided by the number of tracks."""
    frames, tracks = activity.shape
    if tracks == 0 or frames == 0:
        return np.zeros(frames)
    k = max(1, span)
    padded = np.pad(activity, ((k, k), (0, 0)), mode="edge")
    sums = np.concatenate([np.zeros((1, tracks)), np.cumsum(padded, axis=0)])
    i = np.arange(frames) + k
    after = (sums[i + k] - sums[i]) / k
    before = (sums[i] - sums[i - k]) / k
    return np.abs(after - before).sum(axis=1) / tracks


def _normalised(curve: np.ndarray) -> np.ndarray:
    top = float(curve.max()) if curve.size else 0.0
    return curve / top if top > 0 else curve


def sections_from_frames(frames: StructureFrames) -> tuple[Section, ...]:
    """The sections of a song's :class:`StructureFrames` (steps 2 to 5 of the module notes)."""
    hop_s, length_s = frames.hop_s, frames.length_s
    features = structure_features(frames)
    curve = np.mean([novelty(features, int(round(k / hop_s))) for k in KERNELS_S], axis=0)
    activity = _activity(frames.levels)
    if CHANGE_WEIGHT > 0:
        curve = curve + CHANGE_WEIGHT * _normalised(activity_change(activity, int(round(CHANGE_S / hop_s))))
    gap = max(1, int(round(MIN_SECTION_S / hop_s)))
    level = np.median(curve) + PEAK_THRESHOLD * (curve.max() - np.median(curve))
    fine = activity_change(activity, int(round(REFINE_CHANGE_S / hop_s)))
    reach = int(round(REFINE_S / hop_s))
    peaks: list[int] = []
    for i in np.argsort(-curve):
        if curve[i] < level:
            break
        edge = i * hop_s
        if edge < EDGE_S or length_s - edge < EDGE_S:
            continue
        if all(abs(i - p) >= gap for p in peaks):
            peaks.append(int(i))
    if reach > 0:
        peaks = [max(p - reach, 0) + int(np.argmax(fine[max(p - reach, 0) : p + reach + 1])) for p in peaks]
    edges = [0.0, *sorted({p * hop_s for p in peaks if EDGE_S <= p * hop_s <= length_s - EDGE_S}), length_s]
    labels: list[str] = []
    means: list[np.ndarray] = []
    for a, b in zip(edges, edges[1:], strict=False):
        mean = features[int(a / hop_s) : max(int(a / hop_s) + 1, int(b / hop_s))].mean(axis=0)
        mean /= max(float(np.linalg.norm(mean)), 1e-9)
        similar = [k for k, m in enumerate(means) if float(m @ mean) >= SAME_LABEL]
        labels.append(labels[similar[0]] if similar else chr(ord("A") + min(len(set(labels)), 25)))
        means.append(mean)
    return tuple(Section(a, b, label) for a, b, label in zip(edges, edges[1:], labels, strict=False))


def detect_sections(multitrack: Multitrack) -> tuple[Section, ...]:
    """The song's sections, labelled ``A``, ``B`` … by repetition (see the module notes)."""
    if multitrack.num_samples == 0:
        return ()
    return sections_from_frames(structure_frames(multitrack))
