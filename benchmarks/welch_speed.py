#!/usr/bin/env python3
"""Long-term spectrum speed: ``mixassist.measure.spectrum.welch_psd`` beside ``scipy.signal.welch``.

What it measures
----------------
The spectrum the rules analysis takes of every raw track (and the evaluation metrics of every
mix): one ``--seconds``-long (default 180) mono signal at 44.1 kHz, seeded noise, 8192-sample
periodic-Hann segments at 50 % overlap, density scaling. **ours**: ``welch_psd`` (batched real
FFTs over blocks of segments). **scipy**: ``scipy.signal.welch`` with the same arguments (SciPy
≥ 1.12 runs it through ``ShortTimeFFT``, one FFT call per segment).

Prints one JSON object: min/median/max seconds of each over ``--repeats``, the ratio
ours/scipy, and the largest difference between the two spectra relative to their peak (they
agree to ~1e-15; tests/test_spectrum.py checks 1e-10).
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
    import scipy
    import scipy.signal

    from mixassist.measure import welch_psd

    sr, segment = 44100, 8192
    x = np.random.default_rng(0).standard_normal(int(args.seconds * sr))
    ours, (_, p_ours) = timed(lambda: welch_psd(x, sr, segment), args.repeats)
    peer, (_, p_peer) = timed(lambda: scipy.signal.welch(x, sr, window="hann", nperseg=segment,
                                                         noverlap=segment // 2, detrend=False), args.repeats)
    result = {"seconds": args.seconds, "scipy_version": scipy.__version__, "ours": ours, "scipy": peer,
              "ratio_ours_over_scipy": round(ours["median_s"] / peer["median_s"], 3),
              "max_relative_difference": float(np.max(np.abs(p_ours - p_peer)) / np.max(p_peer))}
    json.dump(result, sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
