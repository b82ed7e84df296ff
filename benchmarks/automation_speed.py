#!/usr/bin/env python3
"""What automation lanes cost the console: ``Console.render`` with and without lanes, side by side.

The session and settings are ``console_speed.py``'s (16 stereo tracks × 30 s at 44.1 kHz, every
processor on: ``make_tracks``, ``make_scene``).  The ``lanes`` side adds automation on top of the
same static settings, more than a real mix carries:

* a fader ride on **every** track: a breakpoint every 0.25 s (4 per second, what the rules
  mixer's ride writes at most), ±3 dB around the track's gain;
* a pan lane on 4 tracks and a reverb-send lane on 4 tracks (a point every 2 s);
* an EQ-gain lane on 4 tracks (``eq_peak2_db`` or ``eq_high_shelf_db`` alternately, a point
  every 2 s, −6…+6 dB: the band is redesigned every 64 samples for the whole song);
* a master output-gain lane and a master ``eq_high_shelf_db`` lane (a point every 5 s, ±1 dB).

A third side, ``lanes_no_eq``, renders the same lanes without the EQ lanes (the session of the
figures before EQ lanes existed), so what the EQ lanes add is measured in the same rounds.

The sides render the full length (chunked, no gradients) in the same process, alternating round
after round (one warm-up each, then ``--repeats`` rounds), so a change of load falls on all
alike.  Each run's wall seconds (``perf_counter``) and CPU seconds of the process, all threads
(``process_time``), are kept; the ratios are ``lanes / static`` of the medians (and of the
minima: the least disturbed run of each side).  On a shared, overloaded machine the wall times
scatter by 2-3x between identical runs; CPU seconds scatter less (the work is the same whoever
else runs, though a loaded machine's shared caches still stretch them by up to ~20 %), so
``ratio_cpu`` is the figure to read there.

    python benchmarks/automation_speed.py [--tracks 16] [--seconds 30] [--repeats 3] [--json]

Target (issue 24): ratio ≤ 1.15.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from console_speed import SAMPLE_RATE, make_scene, make_tracks  # noqa: E402

TARGET_RATIO = 1.15


def lanes_on(params, seconds: float, seed: int = 24, eq: bool = True):  # noqa: ANN001, ANN201  (mixassist types, lazily imported)
    """A copy of ``params`` with the lanes of the module notes."""
    from mixassist.console.lanes import Lane  # lazy: the script's --help stays light

    out = params.copy()
    rng = np.random.default_rng(seed)
    ride_t = np.arange(0.0, seconds, 0.25)
    slow_t = np.arange(0.0, seconds, 2.0)
    for i, name in enumerate(out.track_names):
        base = out.get(name, "gain_db")
        ride = np.clip(base + rng.uniform(-3.0, 3.0, ride_t.size), -60.0, 24.0)
        out.set_lane(name, "gain_db", Lane(tuple(ride_t), tuple(ride)))
        if i % 4 == 0:
            out.set_lane(name, "pan", Lane(tuple(slow_t), tuple(rng.uniform(-0.8, 0.8, slow_t.size))))
        if i % 4 == 1:
            out.set_lane(name, "reverb_send_db", Lane(tuple(slow_t), tuple(rng.uniform(-24.0, -8.0, slow_t.size))))
    master_t = np.arange(0.0, seconds, 5.0)
    gain = out.master["output_gain_db"] or 0.0
    out.set_lane("master", "output_gain_db", Lane(tuple(master_t), tuple(gain + rng.uniform(-1, 1, master_t.size))))
    if not eq:
        return out
    eq_rng = np.random.default_rng(seed + 1)  # its own stream: the other lanes stay as they were
    for i, name in enumerate(out.track_names):
        if i % 4 == 2:
            band = "eq_peak2_db" if i % 8 == 2 else "eq_high_shelf_db"
            base = out.get(name, band) or 0.0
            values = np.clip(base + eq_rng.uniform(-6.0, 6.0, slow_t.size), -18.0, 18.0)
            out.set_lane(name, band, Lane(tuple(slow_t), tuple(values)))
    shelf = out.master["eq_high_shelf_db"] or 0.0
    values = np.clip(shelf + eq_rng.uniform(-1, 1, master_t.size), -18.0, 18.0)
    out.set_lane("master", "eq_high_shelf_db", Lane(tuple(master_t), tuple(values)))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tracks", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", action="store_true", help="only the JSON line on stdout")
    args = parser.parse_args()

    from mixassist.audio.multitrack import Multitrack  # lazy: after argument parsing
    from mixassist.console.console import Console  # lazy: after argument parsing
    from mixassist.console.params import MixParams  # lazy: after argument parsing

    audios, source = make_tracks(args.tracks, int(args.seconds * SAMPLE_RATE))
    scene = make_scene(list(audios))
    multitrack = Multitrack.from_arrays(audios, SAMPLE_RATE)
    static = MixParams(list(audios), tracks=scene["tracks"], reverb=scene["reverb"], master=scene["master"])
    moving = lanes_on(static, args.seconds)
    no_eq = lanes_on(static, args.seconds, eq=False)
    console = Console(SAMPLE_RATE)
    runs = {
        "static": lambda: console.render(multitrack, static),
        "lanes_no_eq": lambda: console.render(multitrack, no_eq),
        "lanes": lambda: console.render(multitrack, moving),
    }
    wall: dict[str, list[float]] = {k: [] for k in runs}
    cpu: dict[str, list[float]] = {k: [] for k in runs}
    for fn in runs.values():
        fn()  # warm-up: compiled kernels, FFT plans
    for _ in range(args.repeats):
        for name, fn in runs.items():
            w0, c0 = time.perf_counter(), time.process_time()
            fn()
            wall[name].append(round(time.perf_counter() - w0, 4))
            cpu[name].append(round(time.process_time() - c0, 4))
    sides = {
        k: {
            "median_s": statistics.median(wall[k]),
            "runs_s": wall[k],
            "cpu_median_s": statistics.median(cpu[k]),
            "cpu_runs_s": cpu[k],
            "cpu_min_s": min(cpu[k]),
        }
        for k in runs
    }
    ratio = sides["lanes"]["median_s"] / sides["static"]["median_s"]
    ratio_cpu = sides["lanes"]["cpu_median_s"] / sides["static"]["cpu_median_s"]
    ratio_cpu_min = sides["lanes"]["cpu_min_s"] / sides["static"]["cpu_min_s"]
    no_eq_cpu = sides["lanes_no_eq"]["cpu_median_s"] / sides["static"]["cpu_median_s"]
    no_eq_cpu_min = sides["lanes_no_eq"]["cpu_min_s"] / sides["static"]["cpu_min_s"]
    points = sum(len(lane) for owned in moving.lanes.values() for lane in owned.values())
    report = {
        "benchmark": "automation_speed",
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "python": platform.python_version()},
        "session": {"tracks": args.tracks, "seconds": args.seconds, "sample_rate": SAMPLE_RATE, "audio": source},
        "lanes": {
            "count": sum(len(o) for o in moving.lanes.values()),
            "points": points,
            "eq_lanes": sum(n.startswith("eq_") for o in moving.lanes.values() for n in o),
        },
        "static": sides["static"],
        "lanes_render": sides["lanes"],
        "lanes_no_eq_render": sides["lanes_no_eq"],
        "ratio_lanes_vs_static": round(ratio, 3),
        "ratio_cpu_lanes_vs_static": round(ratio_cpu, 3),
        "ratio_cpu_min_lanes_vs_static": round(ratio_cpu_min, 3),
        "ratio_cpu_lanes_no_eq_vs_static": round(no_eq_cpu, 3),
        "ratio_cpu_min_lanes_no_eq_vs_static": round(no_eq_cpu_min, 3),
        "target": {"ratio_max": TARGET_RATIO, "met_wall": ratio <= TARGET_RATIO, "met_cpu": ratio_cpu <= TARGET_RATIO},
    }
    if not args.json:
        print(
            f"static {sides['static']['median_s']:.2f} s, with lanes {sides['lanes']['median_s']:.2f} s: "
            f"ratio {ratio:.3f}, CPU ratio {ratio_cpu:.3f} (minima {ratio_cpu_min:.3f}; without the EQ lanes "
            f"{no_eq_cpu:.3f}, minima {no_eq_cpu_min:.3f}; target <= {TARGET_RATIO})",
            file=sys.stderr,
        )
    print(json.dumps(report))


if __name__ == "__main__":
    main()
