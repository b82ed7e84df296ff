#!/usr/bin/env python3
"""Integrated loudness speed: ``mixassist.measure.integrated_loudness`` beside pyloudnorm.

What it measures
----------------
One ``--seconds``-long (default 180) stereo signal at 44.1 kHz: seeded noise whose level steps
every 0.5 s over 60 dB (so both gates act). **ours**: ``integrated_loudness`` (K-weighting with
scipy's ``sosfilt``, then the vectorised BS.1770-4 gating). **pyloudnorm**:
``pyloudnorm.Meter(44100).integrated_loudness`` (the library our meter is checked against:
``lfilter`` K-weighting and a Python loop over blocks). Delivery measures a mix's loudness up to
seven times, so this is on the path of every mix of a long song.

Prints one JSON object: min/median/max seconds of each over ``--repeats``, the ratio
ours/pyloudnorm, and both values (they must agree within 0.05 LU; the gating alone within 1e-9,
tests/test_meter.py).
"""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np
from _timing import timed  # benchmarks/_timing.py (scripts run from their folder)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=180.0)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    import pyloudnorm

    from mixassist.measure import integrated_loudness

    sr = 44100
    rng = np.random.default_rng(0)
    n = int(args.seconds * sr)
    steps = 10 ** (rng.uniform(-60, 0, size=n // (sr // 2) + 1) / 20)
    audio = (rng.standard_normal((2, n)) * np.repeat(steps, sr // 2)[:n] * 0.3).astype(np.float32)
    ours, ours_value = timed(lambda: integrated_loudness(audio, sr), args.repeats)
    peer, peer_value = timed(lambda: pyloudnorm.Meter(sr).integrated_loudness(audio.T.astype(np.float64)), args.repeats)
    result = {"seconds": args.seconds, "ours": ours, "pyloudnorm": peer,
              "ratio_ours_over_pyloudnorm": round(ours["median_s"] / peer["median_s"], 3),
              "ours_lufs": ours_value, "pyloudnorm_lufs": peer_value}
    json.dump(result, sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
