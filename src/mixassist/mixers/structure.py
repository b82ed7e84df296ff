"""Song structure from the stems: section boundaries by novelty, labels by repetition.

:func:`detect_sections` (Foote 2000's checkerboard novelty on a self-similarity matrix):

1. **Features**, one frame every :data:`STRUCTURE_HOP_S` (coarser for songs longer than
   :data:`MAX_FRAMES` frames): the mix's (the stems' sum's) energy in 10 ERB band groups, in dB,
   each standardised over the song; and each track's *activity*, its frame level mapped from
   "30 dB under its loudest frame" (0) to "10 dB under" (1) -- an instrument entering or leaving
   is what most often marks a section.  Smoothed over :data:`SMOOTH_S`, each frame scaled to unit
   length.
2. **Self-similarity** ``S = F Fᵀ`` (cosine similarity of every pair of frames).
3. **Novelty**: a Gaussian-tapered checkerboard kernel of half-width :data:`KERNEL_S` slid down
   the diagonal: high where the past and the future are each self-similar but unlike each other.
4. **Boundaries**: the novelty's peaks, at least :data:`MIN_SECTION_S` apart, above its median
   plus :data:`PEAK_THRESHOLD` times its spread (max − median).
5. **Labels**: each section's mean feature is compared with the earlier sections'; one at least
   :data:`SAME_LABEL` similar takes its letter (a repeat: ``A``, ``B``, ``A`` …), else the next.

The figures are chosen on the synthesised songs' known sections (``song.json``) and tested on a
synthesised song in ``tests/test_ride.py``.
"""

from __future__ import annotations

import numpy as np

from mixassist.audio.multitrack import Multitrack
from mixassist.measure import perception
from mixassist.mixers.sections import Section

__all__ = [
    "KERNEL_S",
    "MAX_FRAMES",
    "MIN_SECTION_S",
    "PEAK_THRESHOLD",
    "SAME_LABEL",
    "SMOOTH_S",
    "ACTIVITY_WEIGHT",
    "STRUCTURE_HOP_S",
    "detect_sections",
    "novelty",
    "structure_features",
]

#: Frame hop of the features, seconds.
STRUCTURE_HOP_S = 0.25
#: Most frames analysed (the hop grows for longer songs; 2000 frames keep S at 32 MB).
MAX_FRAMES = 2000
#: Feature smoothing, seconds.
SMOOTH_S = 1.0
#: Half-width of the checkerboard kernel, seconds.
KERNEL_S = 3.0
#: Shortest section, seconds.
MIN_SECTION_S = 3.0
#: A peak counts above median + this × (max − median) of the novelty.
PEAK_THRESHOLD = 0.1
#: Cosine similarity of two sections' mean features above which they share a label.
SAME_LABEL = 0.9
#: Weight of the tracks' activity against the mix's tone in the features.
ACTIVITY_WEIGHT = 2.0
_BAND_GROUPS = 10


def structure_features(multitrack: Multitrack) -> tuple[np.ndarray, float]:
    """``(frames, features)`` unit-length feature vectors (see the module notes) and their hop, s."""
    sr, n = multitrack.sample_rate, multitrack.num_samples
    hop_s = max(STRUCTURE_HOP_S, n / sr / MAX_FRAMES)
    hop = max(1, int(round(hop_s * sr)))
    frames = max(1, -(-n // hop))
    mix = np.zeros(n, np.float32)
    activity = []
    for track in multitrack:
        mono = np.asarray(track.audio, dtype=np.float32).mean(axis=0)
        mix += mono
        padded = np.zeros(frames * hop, np.float32)
        padded[:n] = mono
        level = 10 * np.log10(np.mean(padded.reshape(frames, hop).astype(np.float64) ** 2, axis=1) + 1e-12)
        activity.append(np.clip((level - (level.max() - 30.0)) / 20.0, 0.0, 1.0))
    bands = perception.band_powers(mix, sr, hop_s=hop / sr)[0, :frames]  # (frames, 40)
    grouped = bands.reshape(frames, _BAND_GROUPS, -1).sum(axis=2)
    tone = 10 * np.log10(grouped + 1e-3)
    tone = (tone - tone.mean(axis=0)) / (tone.std(axis=0) + 1e-6) / np.sqrt(_BAND_GROUPS)
    acts = np.stack(activity, axis=1) / np.sqrt(max(len(activity), 1)) * ACTIVITY_WEIGHT
    features = np.concatenate([tone, acts], axis=1)
    width = max(1, int(round(SMOOTH_S / hop_s)))
    kernel = np.ones(width) / width
    features = np.stack(
        [np.convolve(np.pad(c, width, mode="edge"), kernel, mode="same")[width:-width] for c in features.T], axis=1
    )
    norms = np.linalg.norm(features, axis=1, keepdims=True)
    return features / np.maximum(norms, 1e-9), hop_s


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


def detect_sections(multitrack: Multitrack) -> tuple[Section, ...]:
    """The song's sections, labelled ``A``, ``B`` … by repetition (see the module notes)."""
    length_s = multitrack.num_samples / multitrack.sample_rate
    if multitrack.num_samples == 0:
        return ()
    features, hop_s = structure_features(multitrack)
    curve = novelty(features, int(round(KERNEL_S / hop_s)))
    gap = max(1, int(round(MIN_SECTION_S / hop_s)))
    level = np.median(curve) + PEAK_THRESHOLD * (curve.max() - np.median(curve))
    peaks: list[int] = []
    for i in np.argsort(-curve):
        if curve[i] < level:
            break
        edge = i * hop_s
        if edge < MIN_SECTION_S or length_s - edge < MIN_SECTION_S:
            continue
        if all(abs(i - p) >= gap for p in peaks):
            peaks.append(int(i))
    edges = [0.0, *sorted(p * hop_s for p in peaks), length_s]
    labels: list[str] = []
    means: list[np.ndarray] = []
    for a, b in zip(edges, edges[1:], strict=False):
        mean = features[int(a / hop_s) : max(int(a / hop_s) + 1, int(b / hop_s))].mean(axis=0)
        mean /= max(float(np.linalg.norm(mean)), 1e-9)
        similar = [k for k, m in enumerate(means) if float(m @ mean) >= SAME_LABEL]
        labels.append(labels[similar[0]] if similar else chr(ord("A") + min(len(set(labels)), 25)))
        means.append(mean)
    return tuple(Section(a, b, label) for a, b, label in zip(edges, edges[1:], labels, strict=False))
