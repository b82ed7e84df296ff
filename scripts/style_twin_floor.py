#!/usr/bin/env python3
"""The noise floor of the style-transfer benchmark: how far is a *perfect* style transfer?

``target_mix`` is the song mixed in the reference's style, but a style fixes only part of a mix:
:func:`mixassist.data.priors.prior_params` draws each song's pans, high-pass corners, EQ jitter,
track compressor times and ratios, stereo widths, reverb sends and reverb seed at random on top
of it. No method can recover those choices from a reference that is a different song. This
script renders **style twins** — the same song, the *same* style draw (read from ``truth.json``:
an oracle), the same multi-mic alignment, new per-song random draws, delivered at the reference's
loudness like every method — and measures them against ``target_mix`` with the harness's own
metrics. Their mean distance is what a method that knew the style exactly would score; a
criterion below it is out of reach of a method that guesses the per-song choices.

A twin is not a strict lower bound: a method can do better than another *draw* by guessing the
middle of every range (crest of the shipped controller is already below its twin floor).
``--central`` renders that guess instead — the same style draw, every per-song choice at the
middle of its range (``prior_params(..., central=True)``), ``--twins`` reverb noises — which
estimates the floor of any method that knew the style exactly. The generator alternates pan
sides in track order, a convention no reference reveals; ``--random-sides`` puts every panned
track on a random side per twin (a method that cannot know the convention).

    python scripts/style_twin_floor.py data/heldout --twins 3 [--central] [--random-sides] [--json OUT]

Prints one JSON object: the mean over songs and twins of each summary metric and of the width
error per band (magnitudes of signed errors, as in the harness's tables), per song, and the
settings used.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from mixassist.audio.io import load_audio
from mixassist.console.console import Console
from mixassist.data.priors import PriorDraw, prior_params, role_map
from mixassist.data.references import alignment_truth, hit_loudness, load_song
from mixassist.evaluate.harness import SUMMARY_METRICS, abs_if_signed
from mixassist.evaluate.metrics import compare
from mixassist.measure import integrated_loudness

#: Twin seeds start here (``make_references`` draws the truth from ``song_seed + 2``, a 32-bit
#: value, so these small seeds never repeat it).
FIRST_SEED = 1000


def twins_of(song_dir: Path, seeds: Sequence[int], *, central: bool = False,
             random_sides: bool = False) -> list[dict[str, float | None]]:
    """The harness's summary metrics of one style twin per seed of one song against its target.

    The truth itself is the twin of seed ``truth["style"]["seed"] + 2`` (what
    :func:`~mixassist.data.references.make_references` used); the floor uses other seeds.
    """
    stems, meta = load_song(song_dir)
    sr = stems.sample_rate
    truth = json.loads((song_dir / "truth.json").read_text())
    reference, _ = load_audio(song_dir / "reference.wav", sample_rate=sr)
    target, _ = load_audio(song_dir / "target_mix.wav", sample_rate=sr)
    loudness = integrated_loudness(reference, sr)
    draw = PriorDraw(**truth["style"])
    console = Console(sr)
    rows = []
    for seed in seeds:
        params = prior_params(draw, stems, role_map(meta["stems"]), seed=seed, fixed=alignment_truth(meta), central=central)
        if random_sides:
            flips = np.random.default_rng(seed).choice([-1.0, 1.0], size=len(stems.names))
            for name, flip in zip(stems.names, flips):
                pan = params.get(name, "pan")
                if pan:
                    params.set(name, "pan", float(flip * pan))
        params, mix = hit_loudness(console, stems, params, truth["target_loudness_lufs"] if loudness is None else loudness)
        scores = compare(mix, target, sr, target=target)
        keys = [key for key, _ in SUMMARY_METRICS] + [f"width_error_{band}_db" for band in ("low", "mid", "high")]
        rows.append({key: abs_if_signed(key, scores.get(key)) for key in keys if key in scores})
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset", type=Path, help="a dataset with references (mixassist data synth, scripts/heldout_set.py)")
    parser.add_argument("--twins", type=int, default=3, help="twins per song (default 3)")
    parser.add_argument("--central", action="store_true", help="per-song choices at the middle of their ranges, not drawn")
    parser.add_argument("--random-sides", action="store_true", help="every panned track on a random side per twin")
    parser.add_argument("--json", type=Path, help="also write the result here")
    args = parser.parse_args()
    if args.twins < 1:
        print("--twins must be at least 1", file=sys.stderr)
        return 2
    index = args.dataset / "dataset.json"
    if not index.exists():
        print(f"{args.dataset}: no dataset.json (not a synthesised dataset)", file=sys.stderr)
        return 2
    songs = [s for s in json.loads(index.read_text())["songs"] if (args.dataset / s / "truth.json").exists()]
    if not songs:
        print(f"{args.dataset}: no song has truth.json", file=sys.stderr)
        return 2
    per_song = {}
    for i, song in enumerate(songs, 1):
        rows = twins_of(args.dataset / song, range(FIRST_SEED, FIRST_SEED + args.twins), central=args.central,
                        random_sides=args.random_sides)
        per_song[song] = {key: float(np.mean([r[key] for r in rows if r.get(key) is not None]))
                          for key in rows[0] if any(r.get(key) is not None for r in rows)}
        print(f"[{i}/{len(songs)}] {song}", file=sys.stderr, flush=True)
    keys = sorted({k for row in per_song.values() for k in row})
    mean = {k: float(np.mean([row[k] for row in per_song.values() if k in row])) for k in keys}
    result = {"dataset": str(args.dataset), "twins": args.twins, "central": args.central,
              "random_sides": args.random_sides, "first_seed": FIRST_SEED,
              "mean": mean, "songs": per_song}
    text = json.dumps(result, indent=2)
    if args.json:
        args.json.write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
