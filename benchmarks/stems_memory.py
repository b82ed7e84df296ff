"""Peak memory (RSS) of printing stems: 16 tracks × 5 min, each command in a fresh process.

- ``export_stems``: ``mixassist export RECIPE --format stems`` — the console renders block by
  block (:meth:`Console.iter_stems`) and each block is written to the 17 files at once
  (16 stems + the reverb return), so memory holds the decoded inputs and one block.
- ``whole_stems``: the same stems as one array, ``render(want_stems=True)`` (the path the console
  had before: every stem of the song in memory), then written — the previous code, side by side.
- ``render``: ``mixassist render`` of the same recipe (the mix alone), for scale.

The 16 stems (8 mono, 8 stereo, 44.1 kHz, 24-bit WAV) are made up (seeded tones, pulses and noise)
and written to a temporary folder with a recipe that turns on every strip stage (EQ, high-pass,
compressor, pan, width, reverb send) and the master chain.  Peak RSS is ``ru_maxrss`` of the child
(``resource.getrusage(RUSAGE_CHILDREN)``), as in ``benchmarks/memory.py``.

    python benchmarks/stems_memory.py [--quick] [--seconds S] [--json out.json]

``--quick`` prints 30 s songs instead of 5 min.  Target (issue 21): printing 16 × 5 min within the
console's 3 GB.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from memory import RATE, peak_rss, write_long  # noqa: E402  (the sibling benchmark's helpers)

TRACKS = 16
_WHOLE = (
    "import sys, numpy as np; from mixassist.recipe import Recipe; from mixassist.api import render; "
    "from mixassist.audio.io import save_audio; r = Recipe.load(sys.argv[1]); m = r.load_stems(); "
    "res = render(m, r.params, want_stems=True); "
    "[save_audio(f'{sys.argv[2]}/{i:02d}.wav', s, m.sample_rate, 32) for i, s in enumerate(res.stems)]"
)


def _recipe(folder: Path, names: list[str]) -> Path:
    tracks = []
    for i, name in enumerate(names):
        params = {
            "gain_db": -6.0 + i % 5,
            "hpf_hz": 40.0 + 10 * i,
            "eq_peak2_db": -3.0 + i % 4,
            "comp_ratio": 3.0,
            "comp_threshold_db": -20.0,
            "pan": -0.8 + 0.1 * i,
            "width": 0.8,
            "reverb_send_db": -15.0,
        }
        tracks.append({"name": name, "file": f"stems/{name}.wav", "params": params})
    recipe = {
        "version": 3,
        "sample_rate": RATE,
        "tracks": tracks,
        "reverb": {"seed": 0, "params": {"rt60_mid_s": 1.6}},
        "master": {"params": {"comp_ratio": 2.0, "comp_threshold_db": -12.0, "limiter_ceiling_dbtp": -1.0}},
    }
    path = folder / "recipe.json"
    path.write_text(json.dumps(recipe, indent=1))
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="30 s songs instead of 5 min")
    parser.add_argument("--seconds", type=float, default=None, help="song length (overrides --quick)")
    parser.add_argument("--skip-whole", action="store_true", help="do not run the whole-array comparison")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    seconds = args.seconds or (30.0 if args.quick else 300.0)
    cli = [sys.executable, "-m", "mixassist"]
    results: dict = {"tracks": TRACKS, "song_seconds": seconds, "sample_rate": RATE, "target_gb": 3.0}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "stems").mkdir()
        names = [f"track{i:02d}" for i in range(TRACKS)]
        for seed, name in enumerate(names):
            write_long(folder / "stems" / f"{name}.wav", seconds, 1 + seed % 2, seed, "PCM_24")
        recipe = _recipe(folder, names)
        results["input_gb"] = round(sum(f.stat().st_size for f in (folder / "stems").iterdir()) / 1e9, 3)
        results["render"] = peak_rss([*cli, "render", str(recipe), "-o", str(folder / "mix.wav")])
        results["export_stems"] = peak_rss([*cli, "export", str(recipe), "--format", "stems", "-o", str(folder / "out")])
        if not args.skip_whole:
            (folder / "whole").mkdir()
            results["whole_stems"] = peak_rss([sys.executable, "-c", _WHOLE, str(recipe), str(folder / "whole")])
            results["ratio_whole_over_export"] = round(
                results["whole_stems"]["peak_rss_gb"] / results["export_stems"]["peak_rss_gb"], 2
            )
        results["within_target"] = results["export_stems"]["peak_rss_gb"] <= 3.0
    text = json.dumps(results, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")


if __name__ == "__main__":
    main()
