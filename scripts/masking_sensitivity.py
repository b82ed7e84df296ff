"""How much the masking measure responds to the rules mixer's EQ and panning.

For each song: masked fraction (harness measure, multi-mic sources merged) of the equal-loudness
sum, of the rules mix, of the rules mix with every EQ cut removed, with every pan centred, with
every non-centred pan pushed to ±1, and with every EQ cut doubled.

    .venv/bin/python scripts/masking_sensitivity.py data/eval [song_001 song_003 ...]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from mixassist.api import mix
from mixassist.data.references import load_song
from mixassist.evaluate.harness import equal_loudness_params, mix_masking, source_groups

_PEAKS = ("peak1", "peak2", "peak3", "peak4")


def variants(params):
    def edit(fn):
        p = params.copy()
        for n in p.track_names:
            fn(p, n)
        return p

    yield "rules", params
    yield "no_eq_cuts", edit(lambda p, n: [p.set(n, f"eq_{s}_db", 0.0) for s in _PEAKS])
    yield "pans_centred", edit(lambda p, n: p.set(n, "pan", 0.0))
    yield "pans_hard", edit(lambda p, n: p.set(n, "pan", float(np.sign(p.get(n, "pan") or 0.0))))
    yield "eq_cuts_doubled", edit(lambda p, n: [p.set(n, f"eq_{s}_db", max(-18.0, 2 * (p.get(n, f"eq_{s}_db") or 0.0))) for s in _PEAKS])


def main() -> None:
    root = Path(sys.argv[1])
    songs = sys.argv[2:] or sorted(p.name for p in root.glob("song_*"))
    for song in songs:
        stems, meta = load_song(root / song)
        groups = source_groups(meta)
        row = {"song": song, "equal_loudness": mix_masking(stems, equal_loudness_params(stems), groups)["masking_fraction"]}
        for name, params in variants(mix(stems).params):
            row[name] = mix_masking(stems, params, groups)["masking_fraction"]
        print(json.dumps({k: round(v, 3) if isinstance(v, float) else v for k, v in row.items()}), flush=True)


if __name__ == "__main__":
    main()
