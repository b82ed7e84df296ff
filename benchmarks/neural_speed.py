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
* **rules_analysis** (the peer on the same machine, same run) -- the ``rules`` mixer's track
  analysis (:func:`mixassist.mixers.analysis.analyse_multitrack`), the first stage every
  knowledge-based mix must spend before deciding anything.

Prints one JSON object: min/median/max wall seconds of each over ``--repeats``, the ratio
neural/rules, the controller's parameter count, and whether the 5 s target is met.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from pathlib import Path

import numpy as np
from _timing import timed  # benchmarks/_timing.py (scripts run from their folder)

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
        x = np.tile(audio, (1, reps))[:, offset:offset + n] * 10 ** (-(i % 7) / 20)
        if i % 3 == 0 and x.shape[0] == 1:
            x = np.concatenate([x, np.roll(x, 13, axis=-1)])
        arrays[f"{sources[i % len(sources)].stem}_{i:02d}"] = x.astype(np.float32)
    ref, _ = load_audio(DEMO / "reference.flac", sample_rate=SAMPLE_RATE)
    reps = -(-n // ref.shape[-1])
    return Multitrack.from_arrays(arrays, SAMPLE_RATE), np.tile(ref, (1, reps))[:, :n]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tracks", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=180.0)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    from mixassist.mixers.analysis import analyse_multitrack
    from mixassist.mixers.neural import NeuralMixer, load_controller
    from mixassist.mixers.roles import infer_role
    from mixassist.style.target import StyleTarget

    stems, reference = build(args.tracks, args.seconds)
    target = StyleTarget.from_audio(reference, SAMPLE_RATE)
    mixer = NeuralMixer(target)
    model = load_controller()

    def neural() -> None:
        roles = {t.name: infer_role(t.name, t.audio, SAMPLE_RATE).role for t in stems}
        mixer.predict(stems, roles)

    neural()  # warm-up (imports, weights)
    result = {
        "session": {"tracks": args.tracks, "seconds": args.seconds, "sample_rate": SAMPLE_RATE},
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "parameters": model.parameter_count(),
        "neural_predict": timed(neural, args.repeats, digits=3)[0],
        "rules_analysis": timed(lambda: analyse_multitrack(stems), args.repeats, digits=3)[0],
    }
    result["ratio_neural_over_rules"] = round(result["neural_predict"]["median_s"] / result["rules_analysis"]["median_s"], 3)
    result["target_s"] = TARGET_S
    result["meets_target"] = result["neural_predict"]["median_s"] <= TARGET_S
    json.dump(result, sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
