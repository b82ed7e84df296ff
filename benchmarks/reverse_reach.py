#!/usr/bin/env python3
"""Can ``reverse`` reproduce band-limited, near-mono and saturated mixes? Before and after issue 19.

Targets are made WITHOUT the project's console, in plain numpy/scipy, from the bundled demo stems
(``examples/demo/stems``, an excerpt of ``--seconds`` s at 22.05 kHz): each stem gets a seeded gain
(−9…0 dB) and pan (constant-power sin/cos law; stereo stems balanced), they are summed, and the
bus is then processed as the style asks, with other filter orders and curves than the console's:

* ``band_limited``: a 2nd-order Butterworth low-pass at 4 kHz (``scipy.signal.butter``; the
  console's is 4th order);
* ``near_mono``: mid/side with the side at −22 dB and high-passed by a 1st-order Butterworth at
  250 Hz (the console's side high-pass is 2nd order);
* ``saturated``: the bus normalised to a −1 dBFS peak, then ``tanh(g x) / g`` with ``g`` = +10 dB
  (the console's curve has ``k² = g² − 1``);
* ``lofi``: all three (3 kHz low-pass, side −25 dB above a 300 Hz side high-pass, 8 dB of drive).

For each target, :func:`mixassist.mixers.reverse.reverse_mix` runs twice with the same seed and
steps: ``before`` with ``reach=False`` (only the settings reverse fitted before issue 19: faders,
pans, widths, track EQ; the new processors stay neutral, as on main) and ``after`` with the
default ``reach=True`` (also the master low-pass, side gain, side high-pass and drive).  The
full-length re-render is compared with the target by
:func:`mixassist.evaluate.metrics.compare`: MRSTFT, mid and side tonal distance (mean |dB| over
third-octave bands, loudness-normalised), width error (mean |dB| over the width bands, and each
band's |dB|) and |crest error|; the ratio after/before is given for each.

    python benchmarks/reverse_reach.py [--seconds 8] [--steps 40] [--json benchmarks/reverse_reach.json]
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import platform
import time
from pathlib import Path

import numpy as np
import scipy.signal as ss

from mixassist import load_audio
from mixassist.audio.multitrack import Multitrack
from mixassist.evaluate.metrics import compare
from mixassist.mixers.reverse import FIT_REACH, reverse_mix

SR = 22050
STEMS = Path(__file__).resolve().parents[1] / "examples" / "demo" / "stems"
METRICS = (
    "mrstft",
    "spectral_mid_db",
    "spectral_side_db",
    "width_error_db",
    "width_error_low_db",
    "width_error_mid_db",
    "width_error_high_db",
    "crest_error_db",
)


def load_stems(seconds: float, start_s: float) -> Multitrack:
    arrays = {}
    for path in sorted(STEMS.glob("*.flac")):
        audio, _ = load_audio(path, sample_rate=SR)
        a, b = int(start_s * SR), int((start_s + seconds) * SR)
        arrays[path.stem] = np.ascontiguousarray(audio[:, a:b], dtype=np.float32)
    return Multitrack.from_arrays(arrays, SR)


def plain_sum(stems: Multitrack, seed: int) -> np.ndarray:
    """Seeded gains and pans, constant-power sin/cos law, summed: float64 (2, n)."""
    g = np.random.default_rng(seed)
    bus = np.zeros((2, stems.num_samples))
    for track in stems:
        gain = 10 ** (g.uniform(-9.0, 0.0) / 20)
        theta = (g.uniform(-0.6, 0.6) + 1) * math.pi / 4
        x = track.audio.astype(np.float64)
        if x.shape[0] == 1:
            bus += gain * np.stack([math.cos(theta) * x[0], math.sin(theta) * x[0]])
        else:
            bus += gain * math.sqrt(2) * np.stack([math.cos(theta) * x[0], math.sin(theta) * x[1]])
    return bus


def low_pass(x: np.ndarray, hz: float) -> np.ndarray:
    return ss.sosfilt(ss.butter(2, hz, "lowpass", fs=SR, output="sos"), x, axis=-1)


def narrow(x: np.ndarray, side_db: float, side_hpf_hz: float) -> np.ndarray:
    mid, side = (x[0] + x[1]) / 2, (x[0] - x[1]) / 2
    side = ss.sosfilt(ss.butter(1, side_hpf_hz, "highpass", fs=SR, output="sos"), side) * 10 ** (side_db / 20)
    return np.stack([mid + side, mid - side])


def drive(x: np.ndarray, drive_db: float) -> np.ndarray:
    x = x * (10 ** (-1 / 20) / np.max(np.abs(x)))
    g = 10 ** (drive_db / 20)
    return np.tanh(g * x) / g


TARGETS = {
    "band_limited": lambda x: low_pass(x, 4000.0),
    "near_mono": lambda x: narrow(x, -22.0, 250.0),
    "saturated": lambda x: drive(x, 10.0),
    "lofi": lambda x: drive(narrow(low_pass(x, 3000.0), -25.0, 300.0), 8.0),
}


def run(seconds: float, steps: int, start_s: float, only: list[str] | None) -> dict:
    stems = load_stems(seconds, start_s)
    bus = plain_sum(stems, seed=19)
    rows = {}
    for name, style in TARGETS.items():
        if only and name not in only:
            continue
        target = style(bus).astype(np.float32)
        row: dict = {}
        for label, reach in (("before", False), ("after", True)):
            t0 = time.perf_counter()
            result = reverse_mix(stems, target, seed=0, steps=steps, confidence=False, reach=reach)
            wall = time.perf_counter() - t0
            figures = compare(result.mix, target, SR, target=target)
            # distances as magnitudes (compare() gives the per-band width and crest errors signed)
            row[label] = {k: None if figures[k] is None else abs(figures[k]) for k in METRICS} | {
                "wall_s": round(wall, 1),
                "master": {k: result.params.master[k] for k in FIT_REACH},
                "why": result.why.get("master", {}),
            }
        row["ratio_after_over_before"] = {
            k: (row["after"][k] / row["before"][k]) if row["before"][k] else None
            for k in METRICS
            if row["before"][k] is not None and row["after"][k] is not None
        }
        rows[name] = row
        print(name, json.dumps({k: (row["before"][k], row["after"][k]) for k in METRICS}))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--start", type=float, default=4.0, help="excerpt start in the demo stems (s)")
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--only", nargs="*", help="target names to run (default: all)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    rows = run(args.seconds, args.steps, args.start, args.only)
    means = {
        label: {k: float(np.mean([r[label][k] for r in rows.values() if r[label][k] is not None])) for k in METRICS}
        for label in ("before", "after")
    }
    out = {
        "benchmark": "reverse_reach",
        "date": datetime.date.today().isoformat(),
        "machine": f"{platform.machine()}, {platform.processor() or 'cpu'}",
        "settings": {"seconds": args.seconds, "start_s": args.start, "steps": args.steps, "sample_rate": SR},
        "targets": rows,
        "mean": means,
        "mean_ratio_after_over_before": {k: means["after"][k] / means["before"][k] for k in METRICS},
    }
    print(json.dumps(out["mean"], indent=1))
    if args.json:
        args.json.write_text(json.dumps(out, indent=1, allow_nan=False) + "\n")


if __name__ == "__main__":
    main()
