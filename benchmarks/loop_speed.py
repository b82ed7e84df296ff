#!/usr/bin/env python3
"""The closed loop's speed: the default ``mixassist mix STEMS --reference REF`` end to end, beside
``--method match``.

What it measures
----------------
The session of ``match_speed.py`` (``--stems`` stems, default 8, of ``--seconds``, default 180, at
44.1 kHz from the demo stems, and the demo reference looped), written as 24-bit WAV, then, each as a
subprocess and in turn (``--repeats`` rounds, so a change of load falls on both alike):

* **default** -- ``mixassist mix STEMS -o OUT --reference REF`` (``auto``: the controller, the style
  solver where words, strengths or locks ask, then the closed loop of ``mixers/follow.py``), with
  start-up, loading, delivery, writing ``mix.wav``, ``recipe.json``, ``report.md``, ``report.html``
  and the plot;
* **match** -- the same with ``--method match`` (the rules start and the style solver), the peer
  the issue names ("the default no slower than ``match``").

From the default's ``recipe.json`` it reads the loop's own seconds and passes
(``context.fidelity``) and how many features ended within tolerance. Prints one JSON object:
wall seconds (min/median/max), the ratio default/match, the loop's share, and whether the default
meets the targets (≤ 60 s, ≤ match).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from match_speed import build_session  # benchmarks/match_speed.py (scripts run from their folder)

TARGET_S = 60.0


def _run(cmd: list[str]) -> tuple[float, str | None]:
    start = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    return seconds, None if done.returncode == 0 else ((done.stderr or done.stdout).strip().splitlines() or ["?"])[-1]


def _stats(times: list[float]) -> dict:
    return {
        "min_s": round(min(times), 2),
        "median_s": round(statistics.median(times), 2),
        "max_s": round(max(times), 2),
        "runs_s": [round(t, 2) for t in times],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--stems", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=180.0)
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--keep", type=Path, help="Keep the session and outputs in this folder.")
    args = ap.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="loop_speed_")) if args.keep is None else args.keep
    folder.mkdir(parents=True, exist_ok=True)
    try:
        stem_dir, reference, _ = build_session(folder / "session", args.stems, args.seconds)
        base = [sys.executable, "-m", "mixassist", "mix", str(stem_dir), "--reference", str(reference), "--overwrite"]
        sides = {
            "default": [*base, "-o", str(folder / "default")],
            "match": [*base, "-o", str(folder / "match"), "--method", "match"],
        }
        times: dict[str, list[float]] = {k: [] for k in sides}
        errors = {}
        for _ in range(args.repeats):
            for name, cmd in sides.items():
                seconds, error = _run(cmd)
                times[name].append(seconds)
                if error:
                    errors[name] = error
        recipe = json.loads((folder / "default" / "recipe.json").read_text()) if not errors else {}
        fidelity = recipe.get("context", {}).get("fidelity", {})
        rows = fidelity.get("rows", [])
        med = {k: statistics.median(v) for k, v in times.items()}
        result = {
            "benchmark": "loop_speed",
            "session": {"stems": args.stems, "seconds": args.seconds, "sample_rate": 44100},
            "machine": {
                "cpus": os.cpu_count(),
                "python": platform.python_version(),
                "platform": platform.platform(),
                "load_avg_1min": round(os.getloadavg()[0], 2),
            },
            "default": _stats(times["default"]),
            "match": _stats(times["match"]),
            "errors": errors or None,
            "ratio_default_over_match": round(med["default"] / med["match"], 3),
            "loop": {
                "seconds": fidelity.get("seconds"),
                "passes": fidelity.get("passes"),
                "share_of_default": round(fidelity["seconds"] / med["default"], 3) if fidelity else None,
                "within_tolerance": sum(r["ok"] is True for r in rows),
                "within_tolerance_before": sum(r["ok"] is True for r in fidelity.get("start_rows", [])),
                "measured": sum(r["ok"] is not None for r in rows),
            },
            "target": {
                "limit_s": TARGET_S,
                "meets": med["default"] <= TARGET_S,
                "no_slower_than_match": med["default"] <= med["match"],
            },
        }
        print(json.dumps(result, indent=2))
    finally:
        if args.keep is None:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
