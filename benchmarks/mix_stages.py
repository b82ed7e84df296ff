#!/usr/bin/env python3
"""Where one ``mix`` spends its time: wall seconds per progress stage, in one process.

Loads STEMS (and ``--reference``), then runs :func:`mixassist.api.mix` with the method asked (the
API's default without ``--method``) and prints, for each stage the mixer reports through its
progress callback, the wall seconds until the next stage began (stages under 0.05 s are folded
into a count). A stage name is what the CLI's progress bar shows, so the table reads like a timed
run of ``mixassist mix``. Nothing is written.

    python benchmarks/mix_stages.py STEMS [--reference REF] [--method auto|match|rules|neural] [--json]

Used for issue 19's note on where the default spends its time beside ``--method match``
(``loop_speed.py``'s session: ``python -c "from match_speed import build_session; ..."`` or
``loop_speed.py --keep DIR``).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("stems", type=Path)
    ap.add_argument("--reference", type=Path)
    ap.add_argument("--method")
    ap.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    args = ap.parse_args()

    from mixassist.api import mix  # lazy: after argument parsing
    from mixassist.audio.io import load_audio  # lazy: after argument parsing
    from mixassist.audio.multitrack import load_multitrack  # lazy: after argument parsing

    began = time.perf_counter()
    multitrack = load_multitrack(args.stems)
    reference = None
    if args.reference is not None:
        audio, _ = load_audio(args.reference, sample_rate=multitrack.sample_rate)
        reference = [(audio, multitrack.sample_rate)]
    stages: list[tuple[str, float]] = [("loading", time.perf_counter() - began)]
    current: list[object] = [None, time.perf_counter()]

    def progress(stage: str, fraction: float) -> None:
        now = time.perf_counter()
        if stage != current[0]:
            if current[0] is not None:
                stages.append((str(current[0]), now - float(current[1])))  # type: ignore[arg-type]
            current[0], current[1] = stage, now

    start = time.perf_counter()
    result = mix(multitrack, reference=reference, method=args.method, progress=progress)
    end = time.perf_counter()
    if current[0] is not None:
        stages.append((str(current[0]), end - float(current[1])))  # type: ignore[arg-type]
    out = {
        "method": result.proposal.context.get("method"),
        "mix_s": round(end - start, 2),
        "stages": [(name, round(s, 2)) for name, s in stages if s >= 0.05],
        "short_stages": sum(1 for _, s in stages if s < 0.05),
    }
    if args.json:
        print(json.dumps(out))
        return 0
    for name, s in out["stages"]:
        print(f"{s:7.2f} s  {name}")
    print(f"{out['mix_s']:7.2f} s  mix in all ({out['method']}; {out['short_stages']} stages under 0.05 s not shown)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
