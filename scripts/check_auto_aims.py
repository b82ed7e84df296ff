#!/usr/bin/env python3
"""How far ``method="auto"`` moves a mix toward the aims the controller's own mixes give.

For each song of an evaluation set (``mixassist data synth`` layout: ``stems/`` and
``reference.wav``) it runs ``auto`` twice: with ``--match tone=0,width=0,dynamics=0`` (aim: the
controller's mix with no reference) and with the second track's fader locked at -20 dB (aim: the
controller's mix without the lock). It prints the style distance (without loudness, which is
delivered) from the start mix and from the result to the aim.

    python scripts/check_auto_aims.py data/validation
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from mixassist.audio.io import load_audio
from mixassist.audio.multitrack import load_multitrack
from mixassist.mixers.constraints import Constraints
from mixassist.mixers.match import AUTO_STEPS, MatchMixer
from mixassist.style import style_distance
from mixassist.style.features import StyleFeatures
from mixassist.style.target import StyleTarget


def _gap(a: StyleFeatures, b: StyleFeatures) -> float:
    return style_distance(a, b, {"loudness_lu": 0.0})["total"]  # loudness is delivered, not solved


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("data", type=Path)
    args = ap.parse_args()
    rows = []
    for song in sorted(p for p in args.data.iterdir() if (p / "stems").is_dir()):
        stems = load_multitrack(song / "stems")
        ref, rate = load_audio(song / "reference.wav")
        target = StyleTarget.from_audio(ref, rate)
        cases = {"strengths 0": (target.with_strengths("tone=0,width=0,dynamics=0"), None),
                 f"lock {stems.names[1]}.gain_db=-20": (target, Constraints.parse(stems.names, lock=[f"{stems.names[1]}.gain_db=-20"]))}
        for case, (t, constraints) in cases.items():
            style = MatchMixer(t, steps=AUTO_STEPS, start_method="neural").propose(stems, constraints).context["style"]
            start, aim, result = (StyleFeatures.from_dict(style[k]) for k in ("start", "target", "result"))
            row = {"song": song.name, "case": case, "start_to_aim": round(_gap(start, aim), 2), "result_to_aim": round(_gap(result, aim), 2)}
            rows.append(row)
            print(json.dumps(row), flush=True)
    for case in ("strengths 0", "lock"):
        picked = [r for r in rows if r["case"].startswith(case)]
        if picked:
            mean = lambda k: round(sum(r[k] for r in picked) / len(picked), 2)  # noqa: E731
            print(json.dumps({"case": case, "songs": len(picked), "start_to_aim": mean("start_to_aim"), "result_to_aim": mean("result_to_aim")}))


if __name__ == "__main__":
    main()
