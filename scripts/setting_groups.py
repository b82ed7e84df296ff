#!/usr/bin/env python3
"""Which of the controller's settings cost the most against ``target_mix``?

For each song of an evaluation set (``truth.json`` needed), takes the ``neural`` mixer's settings,
swaps in one group of the ground truth's settings (track faders, pans, widths, reverb sends, EQ,
high-passes, compressors; the reverb bus; the master's EQ and glue ratio/times), delivers the mix
at the truth's loudness like the ground truth (``hit_loudness``) and scores it with the
harness's metrics. Prints, per group, the mean MRSTFT, side and mid spectral balance and width
error: the drop from ``none`` is what knowing that group exactly would be worth.

    python scripts/setting_groups.py data/validation
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from mixassist.api import mix
from mixassist.audio.io import load_audio
from mixassist.console.console import Console
from mixassist.console.params import MixParams
from mixassist.data.references import hit_loudness, load_song
from mixassist.evaluate.metrics import compare

_TRACK = MixParams(["x"]).tracks["x"]
GROUPS = {
    "gain": ["gain_db"], "pan": ["pan"], "width": ["width"], "send": ["reverb_send_db"], "hpf": ["hpf_hz"],
    "eq": [k for k in _TRACK if k.startswith("eq_")], "comp": [k for k in _TRACK if k.startswith("comp_")],
}
METRICS = ("mrstft", "spectral_side_db", "spectral_mid_db", "width_error_db")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("data", type=Path)
    args = ap.parse_args()
    rows: dict[str, list[list[float]]] = {g: [] for g in ["none", *GROUPS, "reverb", "master"]}
    for song in sorted(p for p in args.data.iterdir() if (p / "truth.json").exists()):
        stems, _ = load_song(song)
        sr = stems.sample_rate
        truth = json.loads((song / "truth.json").read_text())
        true = MixParams.from_dict(truth["params"])
        reference, _ = load_audio(song / "reference.wav", sample_rate=sr)
        target, _ = load_audio(song / "target_mix.wav", sample_rate=sr)
        ours = mix(stems, reference=[(reference, sr)], method="neural").params
        for group in rows:
            trial = ours.copy()
            if group in GROUPS:
                for name in stems.names:
                    for key in GROUPS[group]:
                        trial.tracks[name][key] = true.tracks[name][key]
            elif group == "reverb":
                trial.reverb = dict(true.reverb)
            elif group == "master":  # level, threshold and ceiling are set by the delivery
                trial.master.update({k: v for k, v in true.master.items()
                                     if k not in ("output_gain_db", "limiter_ceiling_dbtp", "comp_threshold_db")})
            _, rendered = hit_loudness(Console(sr), stems, trial, truth["target_loudness_lufs"])
            scores = compare(rendered, target, sr, target=target)
            rows[group].append([abs(scores[m]) for m in METRICS])
        print(f"{song.name} done", flush=True)
    for group, values in rows.items():
        print(json.dumps({"truth_group": group, **dict(zip(METRICS, np.round(np.mean(values, axis=0), 3).tolist()))}))


if __name__ == "__main__":
    main()
