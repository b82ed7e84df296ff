#!/usr/bin/env python3
"""Where a style match spends its time: seconds per progress stage of ``mixassist.mix``.

The session of ``match_speed.py`` (``--stems`` × ``--seconds`` from the demo stems, the demo
reference looped), built once in a temporary folder; then in this process: loading the stems,
the rules analysis of every track alone (``analyse_multitrack``), and ``mix(stems,
reference=..., method="match")`` with each progress stage's wall time (the solver's steps are
summed into one "matching the style" entry). Prints one JSON object. Not a comparison with a peer
(``match_speed.py`` is): this is for finding the next thing to make faster.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

from _timing import timed  # benchmarks/_timing.py (scripts run from their folder)
from match_speed import build_session


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stems", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=180.0)
    args = parser.parse_args()
    from mixassist.api import mix
    from mixassist.audio.multitrack import load_multitrack
    from mixassist.mixers.analysis import analyse_multitrack

    folder = Path(tempfile.mkdtemp(prefix="match_stages_"))
    try:
        stem_dir, reference, _ = build_session(folder / "session", args.stems, args.seconds)
        load, stems = timed(lambda: load_multitrack(stem_dir), 1, digits=2)
        analysis, _ = timed(lambda: analyse_multitrack(stems), 1, digits=2)
        stages: dict[str, float] = {}
        mark = {"stage": "before the first stage", "t": time.perf_counter()}

        def progress(stage: str, fraction: float) -> None:
            stage = "matching the style" if stage.startswith("matching the style") else stage
            if stage != mark["stage"]:
                now = time.perf_counter()
                stages[mark["stage"]] = stages.get(mark["stage"], 0.0) + now - mark["t"]
                mark.update(stage=stage, t=now)

        total, _ = timed(lambda: mix(stems, reference=str(reference), method="match", progress=progress), 1, digits=2)
        stages[mark["stage"]] = stages.get(mark["stage"], 0.0) + time.perf_counter() - mark["t"]
        json.dump({"session": {"stems": args.stems, "seconds": args.seconds}, "load_s": load["median_s"],
                   "analysis_alone_s": analysis["median_s"], "mix_s": total["median_s"],
                   "stages_s": {k: round(v, 2) for k, v in stages.items()}}, sys.stdout, indent=2)
        print()
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
