"""What the rules mixer's separation stage does, song by song (issue 5's masking criterion).

For each song of a synthesised dataset: the harness's masked fraction (``mix_masking``:
mean over sources of 1 − partial/solo loudness at −23 LUFS, multi-mic sources merged) of the
equal-loudness sum, of ``RulesMixer(separation=False)`` and of ``RulesMixer()``; how much the
separation changed the mix's tone (per octave 62.5 Hz–16 kHz, the mid signal's long-term
spectrum of the delivered mix against the one without separation, the mean offset removed);
how many EQ bands it moved and by how much; and the mixer's time. Then the means, and the
reduction of the mean masked fraction against the equal-loudness sum.

    .venv/bin/python scripts/check_separation.py data/heldout [song_001 ...] \
        [--eq-db 6] [--eq-cost 0.1] [--tone-cost 0.5] [--fixed-bands]

The options set the separation's constants in ``mixers/separation_step.py`` for this run (how the
alternatives in ``docs/mixing.md`` were measured).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import scipy.signal

from mixassist.data.references import load_song
from mixassist.evaluate.harness import equal_loudness_params, mix_masking, source_groups
from mixassist.mixers import separation_step as rules  # the separation constants live in separation_step.py
from mixassist.mixers.rules import RulesMixer
from mixassist.mixers.separation import EQ_SLOTS

OCTAVES_HZ = 62.5 * 2.0 ** np.arange(8)  # lower edges: 62.5 Hz … 8 kHz (to 16 kHz)


def octave_levels_db(mix: np.ndarray, sample_rate: int) -> np.ndarray:
    freqs, power = scipy.signal.welch(mix.mean(axis=0), sample_rate, nperseg=8192)
    return np.array([10 * np.log10(power[(freqs >= lo) & (freqs < 2 * lo)].sum() + 1e-20) for lo in OCTAVES_HZ])


def check_song(folder: Path) -> dict:
    stems, meta = load_song(folder)
    groups = source_groups(meta)
    sr = stems.sample_rate
    plain = RulesMixer(separation=False).propose(stems)
    began = time.perf_counter()
    separated = RulesMixer().propose(stems)
    seconds = time.perf_counter() - began
    tone = octave_levels_db(separated.mix, sr) - octave_levels_db(plain.mix, sr)
    tone -= tone.mean()
    moved = [abs(separated.params.get(n, f"eq_{slot}_db") or 0.0) for n in separated.params.track_names
             for slot, _ in EQ_SLOTS if ": separation" in (separated.reasons.get(n, f"eq_{slot}_db") or "")]
    bands = len(separated.params.track_names) * len(EQ_SLOTS)
    return {
        "song": folder.name,
        "equal_loudness": mix_masking(stems, equal_loudness_params(stems), groups)["masking_fraction"],
        "rules_without_separation": mix_masking(stems, plain.params, groups)["masking_fraction"],
        "rules": mix_masking(stems, separated.params, groups)["masking_fraction"],
        "tone_change_db": [round(float(v), 2) for v in tone],
        "eq_bands_moved": round(len(moved) / bands, 3),
        "mean_abs_moved_eq_db": round(float(np.mean(moved)), 2) if moved else 0.0,
        "seconds": round(seconds, 2),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("dataset", type=Path)
    ap.add_argument("songs", nargs="*")
    ap.add_argument("--eq-db", type=float, default=rules.SEPARATION_EQ_DB, help="EQ gain bound ±dB (0: no EQ)")
    ap.add_argument("--eq-cost", type=float, default=rules.SEPARATION_EQ_COST)
    ap.add_argument("--tone-cost", type=float, default=rules.SEPARATION_TONE_COST)
    ap.add_argument("--fixed-bands", action="store_true", help="peaking bands keep their frequency and Q")
    args = ap.parse_args()
    rules.SEPARATION_EQ_DB, rules.SEPARATION_EQ_COST = args.eq_db, args.eq_cost
    rules.SEPARATION_TONE_COST, rules.SEPARATION_TUNE_BANDS = args.tone_cost, not args.fixed_bands
    index = args.dataset / "dataset.json"
    songs = args.songs or (json.loads(index.read_text())["songs"] if index.exists()
                           else sorted(p.name for p in args.dataset.glob("song_*")))
    rows = []
    for song in songs:
        row = check_song(args.dataset / song)
        rows.append(row)
        print(json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in row.items()}), flush=True)
    mean = {k: float(np.mean([r[k] for r in rows])) for k in ("equal_loudness", "rules_without_separation", "rules",
                                                              "eq_bands_moved", "mean_abs_moved_eq_db", "seconds")}
    tone = np.array([r["tone_change_db"] for r in rows])
    print(json.dumps({"summary": {
        "n_songs": len(rows), "eq_db": args.eq_db, "eq_cost": args.eq_cost, "tone_cost": args.tone_cost,
        "tuned_bands": not args.fixed_bands, **{k: round(v, 4) for k, v in mean.items()},
        "reduction_vs_equal_loudness_pct": round(100 * (1 - mean["rules"] / mean["equal_loudness"]), 1),
        "reduction_without_separation_pct": round(100 * (1 - mean["rules_without_separation"] / mean["equal_loudness"]), 1),
        "tone_change_mean_db": [round(float(v), 2) for v in tone.mean(axis=0)],
        "tone_change_rms_db": round(float(np.sqrt(np.mean(tone**2))), 2),
    }}), flush=True)


if __name__ == "__main__":
    main()
