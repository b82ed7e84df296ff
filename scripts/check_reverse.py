"""Measure reverse mixing on a dataset from ``mixassist data synth``.

For every song: recover settings from ``stems/`` and ``target_mix.wav`` (rendered by our console
from ``truth.json``'s ``params``), then report against the truth

* gain error, dB: absolute, and after removing the mean offset over tracks (the common
  offset is exactly redundant with the master output gain, which reverse leaves at 0 dB);
* pan error (absolute, −1…1 scale), and width error for stereo stems;
* EQ band-gain error, dB, over bands where the track has energy (``band_energy`` ≥ 0.05);
* MRSTFT (:func:`mixassist.evaluate.metrics.mrstft_distance`) of the full re-render against
  the target, next to that of the neutral mix (all settings at defaults) and the closed-form
  start; wall time.

Usage::

    .venv/bin/python scripts/check_reverse.py /tmp/eval8 [--steps 80] [--songs 8] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from mixassist.audio.io import load_audio
from mixassist.audio.multitrack import load_multitrack
from mixassist.console.console import Console
from mixassist.console.params import MixParams
from mixassist.evaluate.metrics import mrstft_distance
from mixassist.mixers.reverse import BAND_ENERGY_MIN, EQ_GAINS, reverse_mix


def check_song(song: Path, steps: int, seed: int) -> dict:
    truth_data = json.loads((song / "truth.json").read_text())
    truth = MixParams.from_dict(truth_data["params"])
    mix, sr = load_audio(song / "target_mix.wav")
    stems = load_multitrack(song / "stems", sample_rate=sr)
    names = [n for n in truth.track_names if n in stems.names]
    t = time.monotonic()
    result = reverse_mix(stems, mix, seed=seed, steps=steps)
    wall = time.monotonic() - t
    got = result.params
    gain_err = np.array([got.get(n, "gain_db") - truth.get(n, "gain_db") for n in names])
    pan_err = [abs(got.get(n, "pan") - truth.get(n, "pan")) for n in names]
    width_err = [abs(got.get(n, "width") - truth.get(n, "width")) for n in names if stems[n].channels == 2]
    eq_err = [abs(got.get(n, k) - truth.get(n, k)) for n in names for k in EQ_GAINS
              if result.band_energy.get(n, {}).get(k, 0.0) >= BAND_ENERGY_MIN]
    console = Console(sr)
    neutral = mrstft_distance(console.render(stems, MixParams(stems.names)).mix, mix[:, : stems.num_samples], sr)
    start = mrstft_distance(console.render(stems, result.start).mix, mix[:, : stems.num_samples], sr)
    return {
        "song": song.name,
        "tracks": len(names),
        "gain_abs_db": float(np.mean(np.abs(gain_err))),
        "gain_rel_db": float(np.mean(np.abs(gain_err - gain_err.mean()))),
        "gain_offset_db": float(gain_err.mean()),
        "truth_output_gain_db": truth.master["output_gain_db"],
        "pan": float(np.mean(pan_err)),
        "width": float(np.mean(width_err)) if width_err else None,
        "eq_db": float(np.mean(eq_err)) if eq_err else None,
        "mrstft": result.mrstft,
        "mrstft_start": start,
        "mrstft_neutral": neutral,
        "wall_s": wall,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dataset", type=Path)
    ap.add_argument("--steps", type=int, default=80)
    ap.add_argument("--songs", type=int, default=None)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    songs = sorted(p for p in args.dataset.iterdir() if (p / "truth.json").exists())[: args.songs]
    rows = []
    keys = ["tracks", "gain_abs_db", "gain_rel_db", "gain_offset_db", "truth_output_gain_db", "pan", "width", "eq_db",
            "mrstft", "mrstft_start", "mrstft_neutral", "wall_s"]
    print("| song | " + " | ".join(keys) + " |")
    print("|---" * (len(keys) + 1) + "|")
    fmt = lambda v: "—" if v is None else f"{v:.3f}" if isinstance(v, float) else str(v)  # noqa: E731
    for song in songs:
        row = check_song(song, args.steps, args.seed)
        rows.append(row)
        print(f"| {row['song']} | " + " | ".join(fmt(row[k]) for k in keys) + " |", flush=True)
    mean = {k: float(np.mean([r[k] for r in rows if r[k] is not None])) for k in keys}
    print("| **mean** | " + " | ".join(fmt(mean[k]) for k in keys) + " |")
    if args.json:
        args.json.write_text(json.dumps({"songs": rows, "mean": mean}, indent=2))


if __name__ == "__main__":
    main()
