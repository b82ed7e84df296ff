#!/usr/bin/env python3
"""Neural controller speed: one-pass prediction for 64 tracks × 3 min, beside the rules analysis.

What it measures
----------------
``--tracks`` stems (default 64) of ``--seconds`` (default 180) at 44.1 kHz, in memory (a third
stereo), made from the bundled demo stems looped to length (a stem used again starts 3.7 s
further on and is scaled, so no two tracks are equal), plus the demo reference looped.

* **neural_predict** -- ``NeuralMixer.predict``: role inference, every track's whole-song
  window statistics, the sum and the reference summary, and one forward pass of the shipped
  controller (what the issue's "inference ≤ 5 s" means; loading files and the final render are
  not part of it).
* **rules_analysis_windows** (the like-for-like peer) -- the ``rules`` mixer's track analysis
  (:func:`mixassist.mixers.analysis.analyse_multitrack`: loudness, short-term loudness, crest,
  onsets, long-term spectrum, correlation) run on exactly the samples the controller's
  spectra read: the same ``WINDOWS`` windows of the same length at the same starts, per track,
  joined into one excerpt (built outside the timing).  Both sides then read the same audio.
* **rules_analysis_full** -- the same analysis of the whole session, what the ``rules`` mixer
  spends today before deciding anything (every sample read).

Every side gets one untimed warm-up run, then the sides run in turn, ``--repeats`` rounds, so
a change of load on the shared machine falls on all of them alike.  Besides the wall times the
JSON counts the samples each side reads (channels x samples; the controller's whole-track peak
is a plain max over every sample and is counted apart) and gives the ratios of time and of time
per sample read.  Prints one JSON object; the 5 s target is the controller's.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
from pathlib import Path

import numpy as np
from _timing import timed_side_by_side  # benchmarks/_timing.py (scripts run from their folder)

REPO = Path(__file__).resolve().parent.parent
DEMO = REPO / "examples" / "demo"
SAMPLE_RATE = 44100
TARGET_S = 5.0


def build(tracks: int, seconds: float):
    from mixassist.audio.io import load_audio
    from mixassist.audio.multitrack import Multitrack

    n = int(seconds * SAMPLE_RATE)
    sources = sorted((DEMO / "stems").glob("*.flac"))
    arrays = {}
    for i in range(tracks):
        audio, _ = load_audio(sources[i % len(sources)], sample_rate=SAMPLE_RATE)
        offset = int(3.7 * SAMPLE_RATE) * (i // len(sources))
        reps = -(-(n + offset) // audio.shape[-1])
        x = np.tile(audio, (1, reps))[:, offset : offset + n] * 10 ** (-(i % 7) / 20)
        if i % 3 == 0 and x.shape[0] == 1:
            x = np.concatenate([x, np.roll(x, 13, axis=-1)])
        arrays[f"{sources[i % len(sources)].stem}_{i:02d}"] = x.astype(np.float32)
    ref, _ = load_audio(DEMO / "reference.flac", sample_rate=SAMPLE_RATE)
    reps = -(-n // ref.shape[-1])
    return Multitrack.from_arrays(arrays, SAMPLE_RATE), np.tile(ref, (1, reps))[:, :n]


def window_starts(samples: int, sample_rate: float, windows: int) -> tuple[np.ndarray, int]:
    """The starts and length of the windows ``window_stats`` reads (mirrors mixassist.neural.features)."""
    n = int(2 ** round(math.log2(0.186 * sample_rate)))  # 8192 at 44.1 kHz
    return np.linspace(0, max(samples - n, 0), windows).round().astype(np.int64), n


def windows_excerpt(stems, windows: int):
    """Every track cut to the samples the controller's spectra read, windows joined in order."""
    from mixassist.audio.multitrack import Multitrack

    starts, n = window_starts(stems.num_samples, stems.sample_rate, windows)
    index = (starts[:, None] + np.arange(n)[None, :]).ravel()
    index = index[index < stems.num_samples]
    arrays = {t.name: np.ascontiguousarray(t.audio[:, index]) for t in stems}
    return Multitrack.from_arrays(arrays, stems.sample_rate), int(np.unique(index).size)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tracks", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=180.0)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    from mixassist.mixers.analysis import analyse_multitrack
    from mixassist.mixers.neural import NeuralMixer, load_controller
    from mixassist.mixers.roles import infer_role
    from mixassist.neural.features import WINDOWS
    from mixassist.style.target import StyleTarget

    stems, reference = build(args.tracks, args.seconds)
    target = StyleTarget.from_audio(reference, SAMPLE_RATE)
    mixer = NeuralMixer(target)
    model = load_controller()

    def neural() -> None:
        roles = {t.name: infer_role(t.name, t.audio, SAMPLE_RATE).role for t in stems}
        mixer.predict(stems, roles)

    excerpt, unique = windows_excerpt(stems, WINDOWS)
    channels = sum(t.audio.shape[0] for t in stems)
    read = {  # channel-samples each side reads
        "neural_predict": channels * excerpt.num_samples,  # its FFT frames
        "rules_analysis_windows": channels * excerpt.num_samples,
        "rules_analysis_full": channels * stems.num_samples,
    }
    times = timed_side_by_side(
        {
            "neural_predict": neural,
            "rules_analysis_windows": lambda: analyse_multitrack(excerpt),
            "rules_analysis_full": lambda: analyse_multitrack(stems),
        },
        args.repeats,
        digits=3,
    )
    med = {k: v["median_s"] for k, v in times.items()}
    per_m = {k: med[k] / (read[k] / 1e6) for k in med}  # seconds per million channel-samples read
    result = {
        "session": {"tracks": args.tracks, "seconds": args.seconds, "sample_rate": SAMPLE_RATE},
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "load_avg_1min": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None,
        },
        "parameters": model.parameter_count(),
        **times,
        "samples_read": {
            **read,
            "neural_predict_peak_scan": channels * stems.num_samples,
            "share_of_session_read_by_windows": round(unique / stems.num_samples, 4),
            "windows": WINDOWS,
        },
        "seconds_per_million_samples_read": {k: round(v, 4) for k, v in per_m.items()},
        # like for like: the same samples read on both sides
        "ratio_neural_over_rules_windows": round(med["neural_predict"] / med["rules_analysis_windows"], 3),
        # what each mixer spends today (the rules side reads every sample)
        "ratio_neural_over_rules_full": round(med["neural_predict"] / med["rules_analysis_full"], 3),
        "ratio_per_sample_read_neural_over_rules_full": round(
            per_m["neural_predict"] / per_m["rules_analysis_full"], 3
        ),
    }
    result["target_s"] = TARGET_S
    result["meets_target"] = med["neural_predict"] <= TARGET_S
    json.dump(result, sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
