#!/usr/bin/env python3
"""How well ``recording_match`` tells a mix of these stems from another song, per song of a set.

For every song folder (stems, ``reference.wav`` = another song, ``target_mix.wav`` = this song
mixed), the stems' plain sum (every stem at unity, mono-summed inside the measure) against the
target mix ("same": a mix of these stems) and against the reference ("other"). The loop compares
the reference with its own start mix, a mix of the same stems. Use validation splits for choices:

    python scripts/check_same_song.py data/engine_b/val data/validation

prints one line per song and the least "same" and the largest "other" over all songs, the
separation behind ``mixassist.mixers.follow.SAME_SONG_MATCH``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

from generalisation import load, song_dirs  # noqa: E402  (the benchmark's song reader: both engines)

from mixassist.measure import recording_match  # noqa: E402
from mixassist.mixers.follow import SAME_SONG_MATCH  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sets", nargs="+", type=Path, help="set folders (song folders inside)")
    args = parser.parse_args()
    same, other = [], []
    for root in args.sets:
        for song in song_dirs(root, None):
            stems, reference, target, _ = load(song)
            sr = stems.sample_rate
            plain = np.sum([np.atleast_2d(t.audio).mean(axis=0) for t in stems], axis=0)[None]
            same.append(recording_match(target, sr, plain, sr))
            other.append(recording_match(reference, sr, plain, sr))
            print(f"{root.name}/{song.name}: same {same[-1]:.3f}, other {other[-1]:.3f}", flush=True)
    print(
        f"{len(same)} songs: least same {min(same):.3f}, largest other {max(other):.3f} "
        f"(SAME_SONG_MATCH = {SAME_SONG_MATCH:g})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
