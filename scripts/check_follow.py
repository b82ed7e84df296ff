#!/usr/bin/env python3
"""Reference fidelity before and after the closed loop, on a validation set (choices are made here).

For each song of a set in the ``mixassist data synth`` / ``mixassist data engine-b`` layout
(``SONG/stems/`` and ``SONG/reference.wav``) it runs the default method (``auto``: the controller,
then the closed loop of :mod:`mixassist.mixers.follow`) and prints, per song and as means, the
absolute error against the reference before the loop (the controller's mix) and after it:
side/mid width, PLR, LRA, crest, the third-octave mid tonal distance, and how many features sit
within tolerance. ``--passes`` and ``--tolerance KEY=VALUE`` try other choices. Use a VALIDATION
split only (engine B's ``val``, or the synthetic validation songs); never the test split.

    python scripts/check_follow.py VAL_DIR [--passes 4] [--tolerance plr_db=1.0] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

from mixassist.audio.io import load_audio
from mixassist.audio.multitrack import load_multitrack
from mixassist.mixers.base import MixRequest, build_mixer
from mixassist.mixers.follow import LOOP_PASSES, FollowMixer
from mixassist.style.target import StyleTarget

KEYS = ("width_db.overall", "plr_db", "loudness_range_lu", "crest_db", "mid_third_octave_db", "loudness_lufs")


def _errors(rows: list[dict]) -> dict[str, float | None]:
    by_key = {r["key"]: r for r in rows}
    out: dict[str, float | None] = {}
    for key in KEYS:
        r = by_key.get(key)
        out[key] = None if r is None or r["mix"] is None or r["reference"] is None else abs(r["mix"] - r["reference"])
    out["within"] = sum(r["ok"] is True for r in rows)
    out["measured"] = sum(r["ok"] is not None for r in rows)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("data", type=Path)
    ap.add_argument("--passes", type=int, default=LOOP_PASSES)
    ap.add_argument("--tolerance", action="append", default=[], help="KEY=VALUE (keys of DEFAULT_TOLERANCES)")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    tolerances = {k: float(v) for k, v in (t.split("=", 1) for t in args.tolerance)}
    songs = []
    for song in sorted(p for p in args.data.iterdir() if (p / "stems").is_dir()):
        stems = load_multitrack(song / "stems")
        ref, rate = load_audio(song / "reference.wav")
        target = StyleTarget.from_audio(ref, rate)
        mixer = build_mixer(MixRequest(target=target, method="auto"))
        assert isinstance(mixer, FollowMixer)
        mixer.passes, mixer.tolerances = args.passes, {**mixer.tolerances, **tolerances}
        began = time.perf_counter()
        proposal = mixer.propose(stems)
        fidelity = proposal.context["fidelity"]
        entry = {
            "song": song.name,
            "seconds": round(time.perf_counter() - began, 2),
            "loop_seconds": fidelity["seconds"],
            "passes": fidelity["passes"],
            "before": _errors(fidelity["start_rows"]),
            "after": _errors(fidelity["rows"]),
        }
        songs.append(entry)
        print(json.dumps(entry))
    means = {}
    for when in ("before", "after"):
        means[when] = {
            key: round(statistics.mean(v for s in songs if (v := s[when][key]) is not None), 3)
            for key in (*KEYS, "within", "measured")
        }
    summary = {
        "songs": len(songs),
        "passes": args.passes,
        "tolerances": tolerances,
        "means": means,
        "loop_seconds_mean": round(statistics.mean(s["loop_seconds"] for s in songs), 2),
    }
    print(json.dumps(summary, indent=2))
    if args.json:
        args.json.write_text(json.dumps({"songs": songs, **summary}, indent=2) + "\n")


if __name__ == "__main__":
    main()
