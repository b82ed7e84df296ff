"""Issue-5 checks of the rules mixer over a synthesised dataset (``mixassist data synth``).

Prints one JSON line per song and a summary: integrated loudness against the target, true
peak, mix correlation, the worst distance of a source's share of the mix's loudness from its
target (phon, from the final render, same model), multi-mic pairs declared / found / found but
not declared, and role inference against ``song.json``.

    .venv/bin/python scripts/check_rules.py data/eval [--loudness -14]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from mixassist.api import mix
from mixassist.measure import correlation, integrated_loudness, true_peak
from mixassist.measure.perception import masking_measure, phon_to_sone
from mixassist.console.console import Console
from mixassist.data.references import load_song
from mixassist.mixers.balance import ROLE_WINDOW_PHON


def check_song(folder: Path, loudness_lufs: float) -> dict:
    stems, meta = load_song(folder)
    sr = stems.sample_rate
    result = mix(stems, loudness_lufs=loudness_lufs)
    rendered = Console(sr).render(stems, result.params, want_stems=True).stems
    units: dict[tuple[str, ...], float] = {}
    for name in result.params.track_names:
        balance = result.recipe.measured[name].get("balance")
        if balance:
            units.setdefault(tuple(balance["unit"]), balance["target_share"])
    index = {n: i for i, n in enumerate(result.params.track_names)}
    merged = np.stack([rendered[[index[n] for n in unit]].sum(axis=0) for unit in units])
    measure = masking_measure(merged, sr)
    sone = phon_to_sone(measure["partial_phon"])
    off = 10 * np.log2((sone / sone.sum()) / np.array(list(units.values())))
    declared = {tuple(sorted(p["tracks"])) for p in meta.get("multi_mic", [])}
    found = {tuple(sorted(p["tracks"])) for p in (result.proposal.alignment or {}).get("pairs", []) if p.get("related")}
    truth_roles = {s["name"]: s["role"] for s in meta["stems"]}
    guessed = {n: r["role"] for n, r in result.proposal.roles.items()}
    return {
        "song": folder.name,
        "lufs": round(integrated_loudness(result.mix, sr), 3),
        "true_peak_dbtp": round(true_peak(result.mix, sr), 3),
        "correlation": round(correlation(result.mix), 3),
        "worst_off_target_phon": round(float(np.max(np.abs(off))), 2),
        "pairs_declared": len(declared),
        "pairs_found": len(found & declared),
        "pairs_false": len(found - declared),
        "roles_right": sum(guessed[n] == r for n, r in truth_roles.items()),
        "roles": len(truth_roles),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset", type=Path)
    parser.add_argument("--loudness", type=float, default=-14.0)
    args = parser.parse_args()
    rows = []
    for folder in sorted(p for p in args.dataset.glob("song_*") if p.is_dir()):
        rows.append(check_song(folder, args.loudness))
        print(json.dumps(rows[-1]), flush=True)
    summary = {
        "songs": len(rows),
        "max_abs_loudness_error_lu": max(abs(r["lufs"] - args.loudness) for r in rows),
        "max_true_peak_dbtp": max(r["true_peak_dbtp"] for r in rows),
        "min_correlation": min(r["correlation"] for r in rows),
        "worst_off_target_phon": max(r["worst_off_target_phon"] for r in rows),
        "window_phon": ROLE_WINDOW_PHON,
        "songs_outside_window": sum(r["worst_off_target_phon"] > ROLE_WINDOW_PHON for r in rows),
        "pairs_declared_found_false": [sum(r[k] for r in rows) for k in ("pairs_declared", "pairs_found", "pairs_false")],
        "roles_right": f"{sum(r['roles_right'] for r in rows)}/{sum(r['roles'] for r in rows)}",
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
