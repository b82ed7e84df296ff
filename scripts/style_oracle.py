#!/usr/bin/env python3
"""How much of a reference's style features can a target use? An oracle analysis.

For every song of a dataset from ``mixassist data synth``, measures (``style_features``) the
reference, ``target_mix`` (the same song mixed in the reference's style), the equal-loudness sum
and the ``rules`` mix (at the reference's loudness), then asks: if a solver reached a target built
from the reference *exactly*, how far would its features be from ``target_mix``'s? Printed per
construction, as the mean over songs of the band-mean absolute difference (dB), for the mid
spectrum, and for width, crest and short-term spread.

Constructions: ``copy`` (the reference's features), ``start`` (no move), and the broad move
``start + a * clip(gauss(reference - start, σ), ±cap)`` of :mod:`mixassist.style.target`.

    python scripts/style_oracle.py DATASET [--json OUT]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from scipy.ndimage import gaussian_filter1d

from mixassist.api import mix
from mixassist.audio.io import load_audio
from mixassist.console.console import Console
from mixassist.data.references import load_song
from mixassist.evaluate.harness import equal_loudness_params
from mixassist.measure import integrated_loudness
from mixassist.style import style_features


def measure(root: Path) -> dict:
    songs = json.loads((root / "dataset.json").read_text())["songs"]
    out = {}
    for song in songs:
        stems, _ = load_song(root / song)
        sr = stems.sample_rate
        ref, _ = load_audio(root / song / "reference.wav", sample_rate=sr)
        tgt, _ = load_audio(root / song / "target_mix.wav", sample_rate=sr)
        equal = Console(sr).render(stems, equal_loudness_params(stems)).mix
        rules = mix(stems, loudness_lufs=float(np.clip(integrated_loudness(ref, sr), -40, -5)), method="rules").mix
        out[song] = {k: style_features(a, sr).to_dict() for k, a in
                     {"reference": ref, "target_mix": tgt, "equal_loudness": equal, "rules": rules}.items()}
        print(f"measured {song}", flush=True)
    return out


def analyse(features: dict) -> dict:
    rows: dict[str, list[float]] = {}

    def add(key: str, value: float) -> None:
        rows.setdefault(key, []).append(float(value))

    for f in features.values():
        tgt = np.array(f["target_mix"]["spectral_mid_db"])
        ref = np.array(f["reference"]["spectral_mid_db"])
        add("mid: copy the reference", np.abs(ref - tgt).mean())
        for start in ("equal_loudness", "rules"):
            st = np.array(f[start]["spectral_mid_db"])
            add(f"mid: {start}, no move", np.abs(st - tgt).mean())
            for sigma, cap, strength in ((4, 12, 1.0), (4, 12, 0.5), (4, 3, 0.5), (8, 6, 0.5)):
                moved = st + strength * np.clip(gaussian_filter1d(ref - st, sigma, mode="nearest"), -cap, cap)
                add(f"mid: {start} + {strength:g}*clip(gauss(ref-start, {sigma}), ±{cap})", np.abs(moved - tgt).mean())
        for name in ("crest_db", "short_term_spread_lu", "width_overall_db"):
            for k in ("reference", "equal_loudness", "rules"):
                add(f"{name}: {k}", abs(f[k][name] - f["target_mix"][name]))
        for k in ("reference", "equal_loudness", "rules"):
            add(f"width_db (per band): {k}", np.abs(np.array(f[k]["width_db"]) - np.array(f["target_mix"]["width_db"])).mean())
    return {k: float(np.mean(v)) for k, v in rows.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("dataset", type=Path)
    ap.add_argument("--json", type=Path, help="Also write the per-song features and the table here.")
    args = ap.parse_args()
    features = measure(args.dataset)
    table = analyse(features)
    for key, value in table.items():
        print(f"{value:6.2f}  {key}")
    if args.json:
        args.json.write_text(json.dumps({"features": features, "table": table}))


if __name__ == "__main__":
    main()
