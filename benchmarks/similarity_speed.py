#!/usr/bin/env python3
"""Same-song measure speed: ``band_level_changes`` beside the same bands from ``scipy.signal.stft``.

What it measures
----------------
The loop reads ``recording_match(reference, start mix)`` once per song (``mixers/follow.py``). Its
cost is two :func:`~mixassist.measure.similarity.band_level_changes` and 18 band correlations. Here,
on ``--seconds`` (default 180) of seeded stereo noise at 44.1 kHz:

* **ours**: ``band_level_changes`` (mono sum, float32 Hann frames as a strided view, batched real
  FFTs through ``scipy.fft``, band sums as one matrix product per batch);
* **scipy**: the same level changes from ``scipy.signal.stft`` (float64, Hann, half-overlapping,
  no padding), the first version of the measure;
* **recording_match**: the whole measure on two such signals, as the loop calls it.

Prints one JSON object: min/median/max seconds over ``--repeats`` (sides run in turn), the ratio
ours/scipy, and the largest difference of the level changes between the two, dB
(``tests/test_similarity.py`` checks 0.01 dB on music-like signals).
"""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np
from _timing import timed_side_by_side  # benchmarks/_timing.py (scripts run from their folder)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=180.0)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    import scipy
    import scipy.signal

    from mixassist.measure import recording_match
    from mixassist.measure.similarity import MATCH_BANDS, MATCH_HOP_S, band_level_changes

    sr = 44100
    rng = np.random.default_rng(0)
    a = (0.1 * rng.standard_normal((2, int(args.seconds * sr)))).astype(np.float32)
    b = (0.1 * rng.standard_normal((2, int(args.seconds * sr)))).astype(np.float32)
    hop = int(round(MATCH_HOP_S * sr))
    edges = np.geomspace(80.0, 12000.0, MATCH_BANDS + 1)

    def with_scipy(x: np.ndarray) -> np.ndarray:
        freqs, _, spec = scipy.signal.stft(
            x.astype(np.float64).mean(axis=0), sr, nperseg=2 * hop, noverlap=hop, boundary=None, padded=False
        )
        power = np.abs(spec) ** 2
        bands = np.stack([power[(freqs >= lo) & (freqs < hi)].sum(axis=0) for lo, hi in zip(edges, edges[1:])])
        return np.diff(10 * np.log10(bands + 1e-3 * bands.max(axis=1, keepdims=True)), axis=1)

    times = timed_side_by_side(
        {
            "ours": lambda: band_level_changes(a, sr),
            "scipy": lambda: with_scipy(a),
            "recording_match": lambda: recording_match(a, sr, b, sr),
        },
        args.repeats,
    )
    result = {
        "seconds": args.seconds,
        "scipy_version": scipy.__version__,
        **times,
        "ratio_ours_over_scipy": round(times["ours"]["median_s"] / times["scipy"]["median_s"], 3),
        "max_difference_db": float(np.max(np.abs(band_level_changes(a, sr) - with_scipy(a)))),
    }
    json.dump(result, sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
