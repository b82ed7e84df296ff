#!/usr/bin/env python3
"""How steady the lead sits against the rest of the mix, with and without the rules mixer's ride.

For each song of a synthesised pool (``mixassist.data.synth``; ``song.json`` names the stems'
roles and the song's sections) in the chosen split, the rules mixer mixes it twice: as it does by
default (no ride) and with ``ride_name`` = the song's lead stem (the loudest, if several).  On
each mix's printed stems the lead and the rest of the mix bus are measured as the ride measures
them (:func:`mixassist.mixers.ride.part_and_rest`, then
:func:`mixassist.measure.perception.relative_short_term`: the lead's partial loudness minus the
rest's in 3-s windows every 0.5 s, phon ≈ LU) and the standard deviation over the windows where
both play (the windows of the mix without the ride, for both) is the figure.  A second figure
uses BS.1770 short-term loudness (3 s, 0.5 s step) of the lead minus the rest's, in LU, on the
same windows (gated where either is below -70 LUFS).  The mixes' integrated loudness and true
peak and the ride lane's steepest slope are checked against the targets.

Splits, as ``scripts/heldout_set.py`` draws them from the training config: ``test`` = songs whose
soundfont training excludes (the held-out set), ``validation`` = songs training could read.  The
ride's constants were chosen on ``validation``; the figures to report come from ``test``.

    python benchmarks/ride_steadiness.py POOL [--split test|validation] [--limit N] [--json OUT]
    python benchmarks/ride_steadiness.py ENGINE_B_TEST --split engine-b [--json OUT]   # out of distribution

Out of distribution, ``--split engine-b`` reads engine B's songs (``mixassist data engine-b --split
test -o DIR``; its own voices, processors and styles): each song's lead stem from ``meta.json``,
its sections detected (engine B loops one arrangement, so it states none).

The pool of ``ride_steadiness.json`` (24 songs × 30 s at 22.05 kHz; 13 validation songs with a
lead, 7 test songs):
``synthesize_dataset(POOL, songs=24, seconds=30.0, seed=24, sample_rate=22050)``
(``mixassist.data.synth``).  The ride side is the rules mixer as ``--ride`` runs it: the section
moves (:mod:`mixassist.mixers.section_moves`: chorus lift, solo forward, sends by section) go in
before the ride, on the song's known sections.  On it the test split gave a 46 % lower spread
with the ride (6.00 → 3.24 LU, partial loudness; BS.1770 short-term 2.04 → 1.82 LU, which does
not count masking and is not what the ride holds), 2–12 lanes a song, every lane's steepest move
≤ 3.93 dB/s, every mix within 0.07 LU of −14 LUFS and at or under −1 dBTP.  (Before the section
moves: 47 %, 6.00 → 3.21 LU.)

Target (issue 24): the lead's spread at least 40 % lower with the ride (mean over songs), no
move faster than ``RIDE_MAX_RATE_DB_S``, loudness within the delivery tolerance, true peak at or
under the ceiling.
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
import time
import tomllib
from pathlib import Path

import numpy as np

TARGET_REDUCTION = 0.40
LOUDNESS_LUFS = -14.0
CEILING_DBTP = -1.0


def split_songs(pool: Path, split: str, config: Path) -> list[str]:
    """The pool's songs of ``split`` (``test``: held-out soundfonts; ``validation``: the rest that training could read)."""
    cfg = tomllib.loads(config.read_text())
    excluded_fonts = set(cfg.get("exclude_soundfonts", cfg.get("data", {}).get("exclude_soundfonts", [])))
    excluded_kinds = set(cfg.get("exclude_kinds", cfg.get("data", {}).get("exclude_kinds", [])))
    chosen = []
    for name in json.loads((pool / "dataset.json").read_text())["songs"]:
        meta = json.loads((pool / name / "song.json").read_text())
        unheard = meta.get("soundfont") in excluded_fonts
        readable = not unheard and meta.get("kind") not in excluded_kinds
        if unheard if split == "test" else readable:
            chosen.append(name)
    return chosen


def bs1770_relative(part: np.ndarray, rest: np.ndarray, sample_rate: int, times_s: np.ndarray) -> np.ndarray:
    """Short-term loudness (3 s) of ``part`` minus ``rest`` at the window centres ``times_s``, LU."""
    from mixassist.measure import short_term_loudness  # lazy: after argument parsing

    a, b = (np.asarray(short_term_loudness(signal, sample_rate), dtype=np.float64) for signal in (part, rest))
    n = min(len(a), len(b))
    a, b = np.nan_to_num(a[:n], nan=-200.0, neginf=-200.0), np.nan_to_num(b[:n], nan=-200.0, neginf=-200.0)
    centres = 1.5 + 0.1 * np.arange(n)  # element k covers k * 0.1 s … k * 0.1 + 3 s
    rel = np.interp(times_s, centres, a - b)
    gate = np.interp(times_s, centres, np.minimum(a, b)) > -70.0
    return np.where(gate, rel, np.nan)


def song_figures(folder: Path) -> dict | None:
    from mixassist.audio.multitrack import load_multitrack  # lazy: after argument parsing
    from mixassist.console.console import Console  # lazy: after argument parsing
    from mixassist.console.lanes import max_rate  # lazy: after argument parsing
    from mixassist.measure import measure, perception  # lazy: after argument parsing
    from mixassist.mixers.ride import part_and_rest  # lazy: after argument parsing
    from mixassist.mixers.rules import RulesMixer  # lazy: after argument parsing
    from mixassist.mixers.sections import Section  # lazy: after argument parsing

    if (folder / "meta.json").exists():  # engine B (out of distribution): its one lead; sections detected
        from mixassist.audio.io import load_audio  # lazy: after argument parsing
        from mixassist.audio.multitrack import Multitrack  # lazy: after argument parsing

        meta = json.loads((folder / "meta.json").read_text())
        rate = int(meta["sample_rate"])
        arrays = {s["name"]: load_audio(folder / s["file"], sample_rate=rate)[0] for s in meta["stems"]}
        multitrack = Multitrack.from_arrays(arrays, rate)
        leads = [s["name"] for s in meta["stems"] if s["role"] == "lead"]
        if not leads:
            return None
        lead, sections = leads[0], ()
    else:
        meta = json.loads((folder / "song.json").read_text())
        multitrack = load_multitrack(folder / "stems")
        leads = [s["name"] for s in meta["stems"] if s["role"] == "lead" and s["name"] in multitrack.names]
        if not leads:
            return None
        lead = max(leads, key=lambda n: next(s["level_lufs"] for s in meta["stems"] if s["name"] == n))
        spans = meta.get("sections") or []
        ends = [s["start_s"] for s in spans[1:]] + [multitrack.num_samples / multitrack.sample_rate]
        sections = tuple(Section(s["start_s"], e, s["name"]) for s, e in zip(spans, ends, strict=False))
    row: dict = {"song": folder.name, "lead": lead, "tracks": len(multitrack.names)}
    mask = None
    for side, mixer in (("static", RulesMixer()), ("ride", RulesMixer(ride_name=lead, sections=sections))):
        t0 = time.perf_counter()
        proposal = mixer.propose(multitrack)
        elapsed = time.perf_counter() - t0
        params = proposal.params
        part, rest = part_and_rest(multitrack, params, lead)
        st = perception.relative_short_term(part, rest, 0.1)
        mask = st.active if mask is None else mask
        mix = Console(multitrack.sample_rate).render(multitrack, params, want_stems=True)
        assert mix.stems is not None
        index = params.track_names.index(lead)
        lead_audio = mix.stems[index]
        rest_audio = mix.stems.sum(axis=0) - lead_audio  # the strips' sum (reverb return left out here)
        lu = bs1770_relative(lead_audio, rest_audio, multitrack.sample_rate, st.times_s)
        ok = mask & np.isfinite(lu)
        report = measure(mix.mix, multitrack.sample_rate)
        lane = params.lane(lead, "gain_db")
        row[side] = {
            "spread_partial_lu": round(float(np.std(st.relative_phon[mask])), 3),
            "spread_bs1770_lu": round(float(np.std(lu[ok])), 3) if ok.sum() >= 2 else None,
            "windows": int(mask.sum()),
            "integrated_lufs": None if report.integrated_lufs is None else round(report.integrated_lufs, 2),
            "true_peak_dbtp": None if report.true_peak_dbtp is None else round(report.true_peak_dbtp, 2),
            "lane_points": 0 if lane is None else len(lane),
            "lane_max_rate_db_s": 0.0 if lane is None else round(max_rate(lane), 3),
            "lanes": sum(len(owned) for owned in params.lanes.values()),
            "any_lane_max_rate_db_s": round(
                max((max_rate(ln) for owned in params.lanes.values() for ln in owned.values()), default=0.0), 3
            ),
            "mix_seconds": round(elapsed, 2),
        }
        if side == "ride":
            row["reasons"] = [v for k, v in proposal.reasons.for_section(lead).items() if "@" in k]
    return row


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pool", type=Path, help="a synthesised dataset folder (mixassist data synth)")
    parser.add_argument(
        "--split",
        choices=["test", "validation", "engine-b"],
        default="test",
        help="engine-b: every song of an engine B split folder (out of distribution; sections detected)",
    )
    parser.add_argument("--config", type=Path, default=Path("configs/neural.toml"))
    parser.add_argument("--limit", type=int, default=None, help="at most this many songs")
    parser.add_argument("--json", type=Path, default=None, help="also write the JSON here")
    args = parser.parse_args()

    from mixassist.mixers.ride import RIDE_BAND_LU, RIDE_MAX_RATE_DB_S, RIDE_RANGE_DB  # lazy: after parsing

    if args.split == "engine-b":
        songs = sorted(p.name for p in args.pool.iterdir() if (p / "meta.json").exists())[: args.limit]
    else:
        songs = split_songs(args.pool, args.split, args.config)[: args.limit]
    rows = []
    for name in songs:
        row = song_figures(args.pool / name)
        if row is None:
            print(f"{name}: no lead stem, skipped", file=sys.stderr)
            continue
        rows.append(row)
        s, r = row["static"], row["ride"]
        print(
            f"{name}: spread {s['spread_partial_lu']:.2f} -> {r['spread_partial_lu']:.2f} LU (partial), "
            f"{s['spread_bs1770_lu']} -> {r['spread_bs1770_lu']} LU (BS.1770); {r['integrated_lufs']} LUFS, "
            f"{r['true_peak_dbtp']} dBTP, {r['lane_max_rate_db_s']} dB/s",
            file=sys.stderr,
        )
    static = np.array([r["static"]["spread_partial_lu"] for r in rows])
    ride = np.array([r["ride"]["spread_partial_lu"] for r in rows])
    lu_pairs = [(r["static"]["spread_bs1770_lu"], r["ride"]["spread_bs1770_lu"]) for r in rows]
    lu_pairs = [p for p in lu_pairs if None not in p]
    reduction = 1.0 - float(ride.mean() / static.mean()) if rows else None
    loud_ok = all(
        r[s]["integrated_lufs"] is not None and abs(r[s]["integrated_lufs"] - LOUDNESS_LUFS) <= 0.1
        for r in rows
        for s in ("static", "ride")
    )
    peak_ok = all(
        r[s]["true_peak_dbtp"] is not None and r[s]["true_peak_dbtp"] <= CEILING_DBTP + 1e-6
        for r in rows
        for s in ("static", "ride")
    )
    rate = max((r["ride"]["lane_max_rate_db_s"] for r in rows), default=0.0)
    any_rate = max((r["ride"]["any_lane_max_rate_db_s"] for r in rows), default=0.0)
    report = {
        "benchmark": "ride_steadiness",
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "pool": str(args.pool),
        "split": args.split,
        "songs": len(rows),
        "constants": {"band_lu": RIDE_BAND_LU, "max_rate_db_s": RIDE_MAX_RATE_DB_S, "range_db": RIDE_RANGE_DB},
        "spread_partial_lu": {"static_mean": round(float(static.mean()), 3), "ride_mean": round(float(ride.mean()), 3)},
        "reduction_partial": None if reduction is None else round(reduction, 3),
        "reduction_per_song_median": round(float(np.median(1 - ride / static)), 3) if rows else None,
        "spread_bs1770_lu": {
            "static_mean": round(float(np.mean([a for a, _ in lu_pairs])), 3) if lu_pairs else None,
            "ride_mean": round(float(np.mean([b for _, b in lu_pairs])), 3) if lu_pairs else None,
        },
        "max_lane_rate_db_s": rate,
        "max_any_lane_rate_db_s": any_rate,
        "checks": {
            "reduction_at_least": TARGET_REDUCTION,
            "reduction_met": reduction is not None and reduction >= TARGET_REDUCTION,
            "rate_met": max(rate, any_rate) <= RIDE_MAX_RATE_DB_S + 1e-9,
            "loudness_within_0.1_lu": loud_ok,
            "true_peak_at_or_under_ceiling": peak_ok,
        },
        "per_song": rows,
    }
    text = json.dumps(report, indent=1)
    if args.json is not None:
        args.json.write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
