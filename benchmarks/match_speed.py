#!/usr/bin/env python3
"""Style-match speed: ``mixassist mix STEMS --reference REF`` end to end, beside matchering.

What it measures
----------------
``--stems`` stems (default 8) of ``--seconds`` (default 180) at 44.1 kHz, made from the bundled
demo stems (looped to length; a stem used twice starts 3.7 s further on), and a reference of the
same length (the demo's reference, looped). Both are written to a temporary folder as 24-bit WAV.

* **ours** -- ``mixassist mix STEMS -o OUT --reference REF --method M`` as a subprocess (``--method``,
  default ``match``: the slowest way a reference is used; ``auto`` is the CLI's default since
  2026-12-05): Python start-up, loading and resampling the stems, the start mix (``rules`` or the
  controller), the style solve, loudness delivery, the full render, and writing ``mix.wav``,
  ``recipe.json``, ``report.md`` and ``style.png``.
* **matchering** (GPL, benchmark only; skipped when it is not installed) -- ``matchering.process``
  of the plain sum of the same stems toward the same reference, as a subprocess too. It only
  equalises and limits a finished mix (no console settings), so it is the floor of what any
  reference tool must spend, not an equal task.

Prints one JSON object: wall seconds of each (``farm-bench``-style min/median/max over
``--repeats``), the ratio ours/matchering, and whether ours meets the target (≤ 60 s for 8 stems ×
3 min on a 2-core machine).
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

import numpy as np

REPO = Path(__file__).resolve().parent.parent
DEMO = REPO / "examples" / "demo"
SAMPLE_RATE = 44100
TARGET_S = 60.0


def _loop(audio: np.ndarray, samples: int, offset: int = 0) -> np.ndarray:
    reps = -(-(samples + offset) // audio.shape[-1])
    return np.tile(audio, (1, reps))[:, offset : offset + samples]


def build_session(folder: Path, stems: int, seconds: float) -> tuple[Path, Path, Path]:
    """Write the stems, the reference and their plain sum; returns (stems dir, reference, sum)."""
    import soundfile as sf

    from mixassist.audio.io import load_audio

    n = int(seconds * SAMPLE_RATE)
    sources = sorted((DEMO / "stems").glob("*.flac"))
    stem_dir = folder / "stems"
    stem_dir.mkdir(parents=True)
    total = np.zeros((2, n), np.float64)
    for i in range(stems):
        src = sources[i % len(sources)]
        audio, _ = load_audio(src, sample_rate=SAMPLE_RATE)
        audio = _loop(audio, n, offset=int(3.7 * SAMPLE_RATE) * (i // len(sources)))
        sf.write(stem_dir / f"{src.stem}_{i:02d}.wav", audio.T, SAMPLE_RATE, subtype="PCM_24")
        total += audio if audio.shape[0] == 2 else np.repeat(audio, 2, axis=0) * 0.7071
    ref, _ = load_audio(DEMO / "reference.flac", sample_rate=SAMPLE_RATE)
    reference = folder / "reference.wav"
    sf.write(reference, _loop(ref, n).T, SAMPLE_RATE, subtype="PCM_24")
    mix = folder / "sum.wav"
    sf.write(mix, (total / max(1.0, np.abs(total).max() / 0.9)).T, SAMPLE_RATE, subtype="PCM_24")
    return stem_dir, reference, mix


def _time(cmd: list[str], repeats: int) -> dict:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        done = subprocess.run(cmd, capture_output=True, text=True)
        times.append(time.perf_counter() - start)
        if done.returncode != 0:
            return {"error": (done.stderr or done.stdout).strip().splitlines()[-1:], "cmd": cmd}
    return {"min_s": min(times), "median_s": statistics.median(times), "max_s": max(times), "runs": repeats}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--stems", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=180.0)
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--method", default="match", choices=("match", "auto", "neural", "rules"))
    ap.add_argument("--keep", type=Path, help="Keep the session and outputs in this folder.")
    args = ap.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="match_speed_")) if args.keep is None else args.keep
    folder.mkdir(parents=True, exist_ok=True)
    try:
        stem_dir, reference, summed = build_session(folder / "session", args.stems, args.seconds)
        mixassist = str(Path(sys.executable).with_name("mixassist"))
        ours = _time([mixassist, "mix", str(stem_dir), "-o", str(folder / "out"), "--reference", str(reference),
                      "--method", args.method, "--overwrite"], args.repeats)
        peer: dict = {"skipped": "matchering is not installed (pip install matchering==2.0.6)"}
        try:
            import matchering  # noqa: F401  (GPL: benchmark only)

            code = ("import matchering as mg, sys; mg.log(lambda *a: None); "
                    "mg.process(target=sys.argv[1], reference=sys.argv[2], results=[mg.pcm24(sys.argv[3])])")
            peer = _time([sys.executable, "-c", code, str(summed), str(reference), str(folder / "matchering.wav")],
                         args.repeats)
        except ImportError:
            pass
        result = {
            "benchmark": "match_speed",
            "session": {"stems": args.stems, "seconds": args.seconds, "sample_rate": SAMPLE_RATE},
            "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
            "method": args.method,
            "ours_mix_with_reference": ours,
            "matchering_on_the_sum": peer,
            "ratio_ours_over_matchering": (ours["median_s"] / peer["median_s"])
            if "median_s" in ours and "median_s" in peer else None,
            "target": {"limit_s": TARGET_S, "meets": ("median_s" in ours and ours["median_s"] <= TARGET_S)},
        }
        print(json.dumps(result, indent=2))
    finally:
        if args.keep is None:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
