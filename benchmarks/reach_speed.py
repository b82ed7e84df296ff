#!/usr/bin/env python3
"""What the issue-19 processors cost in a full render: the same session with them off and on.

One session of ``--tracks`` stereo tracks × ``--seconds`` at 44.1 kHz (seeded noise with
different spectral tilts), rendered by ``Console.render`` (full length, no gradients, chunked):

* ``off``: every track with a high-pass, a +3 dB bell and a 3:1 compressor; a master with a bell,
  a 2:1 glue compressor and the limiter at −1 dBTP (the new settings neutral: skipped);
* ``on``: the same, plus on every track a low-pass (6–16 kHz) and 6 dB of drive, and on the master a
  14 kHz low-pass, the side at −6 dB above a 150 Hz side high-pass and 3 dB of drive.

Timed side by side (``_timing.timed_side_by_side``: one warm-up, then rounds that run each once
in turn); the figure is the ratio of the medians.

    python benchmarks/reach_speed.py [--tracks 8] [--seconds 60] [--repeats 3] [--json benchmarks/reach_speed.json]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
from pathlib import Path

import numpy as np
import scipy.signal as ss
from _timing import timed_side_by_side

from mixassist.audio.multitrack import Multitrack
from mixassist.console import Console, MixParams

SR = 44100


def session(tracks: int, seconds: float) -> Multitrack:
    g = np.random.default_rng(19)
    n = int(seconds * SR)
    arrays = {}
    for i in range(tracks):
        x = g.standard_normal((2, n))
        x = ss.sosfilt(ss.butter(1, 200.0 * 1.6**i, "lowpass", fs=SR, output="sos"), x)
        arrays[f"t{i}"] = (0.2 * x / np.max(np.abs(x))).astype(np.float32)
    return Multitrack.from_arrays(arrays, SR)


def settings(names: list[str], on: bool) -> MixParams:
    track = {"hpf_hz": 60.0, "eq_peak2_db": 3.0, "comp_ratio": 3.0, "comp_threshold_db": -24.0}
    master = {"eq_peak3_db": 1.0, "comp_ratio": 2.0, "comp_threshold_db": -12.0, "limiter_ceiling_dbtp": -1.0}
    params = MixParams(names, tracks={n: dict(track) for n in names}, master=master)
    if on:
        for i, n in enumerate(names):
            params.set(n, "lpf_hz", 6000.0 + 10000.0 * i / max(len(names) - 1, 1))
            params.set(n, "drive_db", 6.0)
        for name, value in (("lpf_hz", 14000.0), ("side_gain_db", -6.0), ("side_hpf_hz", 150.0), ("drive_db", 3.0)):
            params.set_bus("master", name, value)
    return params


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tracks", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    stems = session(args.tracks, args.seconds)
    console = Console(SR)
    sides = {label: settings(stems.names, label == "on") for label in ("off", "on")}
    times = timed_side_by_side({k: (lambda p=p: console.render(stems, p)) for k, p in sides.items()}, args.repeats)
    out = {
        "benchmark": "reach_speed",
        "date": datetime.date.today().isoformat(),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs (shared)",
        "settings": {"tracks": args.tracks, "seconds": args.seconds, "sample_rate": SR, "repeats": args.repeats},
        "render_s": times,
        "ratio_on_over_off": round(times["on"]["median_s"] / times["off"]["median_s"], 3),
    }
    print(json.dumps(out, indent=1))
    if args.json:
        args.json.write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
