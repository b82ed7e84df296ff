"""Peak memory (RSS) of ``analyze``, ``render`` and ``mix`` on long material, each in a fresh process.

- ``analyze_stream``: ``mixassist analyze`` of a **1-hour stereo 44.1 kHz** 16-bit WAV (635 MB),
  which streams the file (``api.analyze_file``); ``analyze_whole`` the previous path in the same
  run: ``analyze(*load_audio(file))``, the whole file decoded then metered.
- ``mix_rules``, ``mix_neural``: ``mixassist mix --method rules|neural`` of **8 stems × 10 min**
  (mono and stereo, 44.1 kHz, 24-bit), neural toward a 30 s reference;
  ``render``: ``mixassist render`` of the rules mix's ``recipe.json``.

All audio is made up (seeded noise, tones and pulses) and written to a temporary folder.
Each command runs in its own child process; its peak RSS is ``ru_maxrss`` of
``resource.getrusage(RUSAGE_CHILDREN)`` read by a one-shot Python wrapper around it.

    python benchmarks/memory.py [--quick] [--parts analyze,rules,render,neural] [--song-seconds S] [--json out.json]

``--quick`` scales the lengths down (1 hour → 3 min, 10 min → 30 s) for a smoke run;
``--song-seconds`` sets the stems' length alone. ``--parts``: any of ``analyze``, ``rules``,
``render``, ``neural`` (``mix`` = the last three). ``render`` renders the rules mix's recipe, or
the neural mix's when rules is not run (the render's memory does not depend on the settings).
Targets (issue 20): analyze of 1 hour ≤ 0.5 GB; mix and render of 8 × 10 min ≤ 1.5 GB.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

RATE = 44100
_WRAPPER = (
    "import resource, subprocess, sys; rc = subprocess.run(sys.argv[1:]).returncode; "
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, rc)"
)
_WHOLE = "import sys; from mixassist.api import analyze; from mixassist.audio.io import load_audio; analyze(*load_audio(sys.argv[1]))"


def write_long(path: Path, seconds: float, channels: int, seed: int, subtype: str) -> None:
    """Seeded programme-like audio written block by block (the writer holds one block)."""
    rng = np.random.default_rng(seed)
    block = RATE * 10
    total = int(seconds * RATE)
    freq = 55.0 * 2 ** (seed % 24 / 12)
    with sf.SoundFile(path, "w", RATE, channels, subtype=subtype) as out:
        for start in range(0, total, block):
            n = min(block, total - start)
            t = (start + np.arange(n)) / RATE
            envelope = 0.5 + 0.5 * np.sin(2 * np.pi * t / (17.0 + seed))
            tone = np.sin(2 * np.pi * freq * t) * np.exp(-((t * (1 + seed % 3)) % 0.5) * 8)
            x = 0.25 * envelope * tone + 0.02 * rng.standard_normal(n)
            frame = np.stack([x, 0.8 * x + 0.01 * rng.standard_normal(n)][:channels], axis=1)
            out.write(frame.astype(np.float32))


def peak_rss(command: list[str]) -> dict:
    t0 = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", _WRAPPER, *command], capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t0
    kib, rc = done.stdout.strip().splitlines()[-1].split()
    if rc != "0":
        raise RuntimeError(f"{command} failed: {done.stderr[-2000:]}")
    return {"peak_rss_gb": round(int(kib) * 1024 / 1e9, 3), "wall_s": round(wall, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 min instead of 1 hour, 30 s stems instead of 10 min")
    parser.add_argument(
        "--parts", default="analyze,mix", help="comma-separated: analyze, rules, render, neural (mix = all three)"
    )
    parser.add_argument("--song-seconds", type=float, help="length of the 8 stems (default 600, --quick 30)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    parts = set(args.parts.split(","))
    if "mix" in parts:
        parts |= {"rules", "render", "neural"}
    hour, song = (180.0, 30.0) if args.quick else (3600.0, 600.0)
    song = args.song_seconds or song
    cli = [sys.executable, "-m", "mixassist"]
    results: dict = {"quick": args.quick, "analyze_seconds": hour, "song_seconds": song, "stems": 8}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        if "analyze" in parts:
            _analyze(folder, hour, cli, results)
        if parts & {"rules", "render", "neural"}:
            _mix(folder, song, cli, results, parts)
    text = json.dumps(results, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")


def _analyze(folder: Path, seconds: float, cli: list[str], results: dict) -> None:
    long_file = folder / "long.wav"
    write_long(long_file, seconds, 2, 1, "PCM_16")
    results["analyze_stream"] = peak_rss([*cli, "analyze", str(long_file)])
    results["analyze_whole"] = peak_rss([sys.executable, "-c", _WHOLE, str(long_file)])
    results["analyze_ratio_whole_over_stream"] = round(
        results["analyze_whole"]["peak_rss_gb"] / results["analyze_stream"]["peak_rss_gb"], 1
    )
    long_file.unlink()


def _mix(folder: Path, song: float, cli: list[str], results: dict, parts: set[str]) -> None:
    stems = folder / "stems"
    stems.mkdir()
    names = ["kick", "snare", "hats", "bass", "keys", "pad", "lead_vocal", "guitar"]
    for seed, name in enumerate(names):
        write_long(stems / f"{name}.wav", song, 1 + seed % 2, seed, "PCM_24")
    reference = folder / "reference.wav"
    write_long(reference, 30.0, 2, 99, "PCM_24")
    rules, neural = folder / "rules", folder / "neural"
    if "neural" in parts:
        results["mix_neural"] = peak_rss(
            [*cli, "mix", str(stems), "-o", str(neural), "--method", "neural", "--reference", str(reference)]
        )
    if "rules" in parts:
        results["mix_rules"] = peak_rss([*cli, "mix", str(stems), "-o", str(rules), "--method", "rules"])
    if "render" in parts:
        recipe = (rules if "rules" in parts else neural) / "recipe.json"
        if not recipe.exists():  # render alone: a neural mix first, not measured
            peak_rss([*cli, "mix", str(stems), "-o", str(neural), "--method", "neural"])
        results["render"] = peak_rss([*cli, "render", str(recipe), "-o", str(folder / "render.wav")])
        results["render_of"] = recipe.parent.name


if __name__ == "__main__":
    main()
