#!/usr/bin/env python3
"""How far ``auto``'s plain aim measured on excerpts lands from the whole-song plain mix.

``MatchMixer._plain_style`` estimates the style of the controller's mix *without* a reference as the
start mix's features plus what the plain settings change on the solver's excerpts (songs at least
``PLAIN_EXCERPT_SHARE`` times the excerpts). For each song of an evaluation set
(``stems/`` and ``reference.wav``) this runs both ways, the excerpt estimate forced even on short
songs, and prints per feature the mean and largest |estimate - whole| (per band) beside the
|whole plain - start| span the default's blend moves across.

    python scripts/check_plain_aim.py data/engine_b/val data/validation

(the figures in docs/style.md: both validation splits, 16 songs; never a test split).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from mixassist.api import style_target
from mixassist.audio.io import load_audio
from mixassist.audio.multitrack import load_multitrack
from mixassist.mixers import match
from mixassist.mixers.constraints import Constraints
from mixassist.mixers.match import AUTO_STEPS, MatchMixer
from mixassist.mixers.neural import NeuralMixer
from mixassist.style.features import style_features
from mixassist.style.target import STRENGTH_FIELDS, StyleTarget


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("data", type=Path, nargs="+")
    args = ap.parse_args()
    match.PLAIN_EXCERPT_SHARE = 0  # the excerpt estimate on every song, short ones too
    rows = []
    for folder in args.data:
        for song in sorted(p for p in folder.iterdir() if (p / "stems").is_dir()):
            stems = load_multitrack(song / "stems")
            sr = stems.sample_rate
            ref, _ = load_audio(song / "reference.wav", sample_rate=sr)
            target = style_target(reference=[(ref, sr)]).with_strengths({"tone": 0.5})
            mixer = MatchMixer(target, start_method="neural", steps=AUTO_STEPS)
            loudness = mixer.expected_loudness()
            first_mixer = NeuralMixer(mixer._controller_target(), loudness_lufs=loudness)
            first = first_mixer.propose(stems, Constraints())
            start = style_features(first.rendered(), sr)
            whole = style_features(NeuralMixer(StyleTarget(), loudness_lufs=loudness).propose(stems).rendered(), sr)
            estimate = mixer._plain_style(
                stems, Constraints(), first, first_mixer.predicted_, start, loudness, lambda *a: None
            )
            row: dict[str, object] = {"song": f"{folder.name}/{song.name}"}
            for names in STRENGTH_FIELDS.values():
                for name in names:
                    a, b, s = getattr(whole, name), getattr(estimate, name), getattr(start, name)
                    if a is not None and b is not None and s is not None:
                        off, span = np.abs(np.asarray(b) - a), np.abs(np.asarray(a) - s)
                        row[name] = [round(float(off.mean()), 3), round(float(off.max()), 3), round(float(span.mean()), 3)]
            rows.append(row)
            print(json.dumps(row), flush=True)
    for name in [n for names in STRENGTH_FIELDS.values() for n in names]:
        got = [r[name] for r in rows if name in r]
        if got:
            print(
                f"{name}: mean |estimate - whole| {np.mean([g[0] for g in got]):.3f}, largest {max(g[1] for g in got):.3f}, "
                f"mean span |whole - start| {np.mean([g[2] for g in got]):.3f} ({len(got)} songs)"
            )


if __name__ == "__main__":
    main()
