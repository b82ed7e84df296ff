#!/usr/bin/env python3
"""How far each descriptor word moves its measured feature (result minus the rules start).

Runs the ``match`` mixer with one word at a time on the four-stem session of
``tests/test_match.py`` (20 solver steps, as the tests) and prints, per feature word, the measured
change beside the amount asked and the documented "at least" (``docs/style.md``). ``--method
auto`` runs the solver as ``mix(method="auto")`` does instead (the controller's start,
``AUTO_STEPS``; the change is then measured from the controller's mix). Loudness words are
measured against the loudness the mix gets without a word (−14 LUFS): the start is delivered at
the word's loudness already.

    python scripts/check_words.py [--steps 20] [--method auto]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from test_match import _session  # noqa: E402  (the tests' session, so the figures match the tests)

from mixassist.mixers.match import AUTO_STEPS, MatchMixer  # noqa: E402
from mixassist.style.descriptors import DESCRIPTORS, feature_value  # noqa: E402
from mixassist.style.target import StyleTarget  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--method", choices=("match", "auto"), default="match")
    args = ap.parse_args()
    session = _session()
    how = ({"steps": args.steps} if args.method == "match" else
           {"steps": AUTO_STEPS, "start_method": "neural"})
    for word, d in DESCRIPTORS.items():
        if d.feature in ("reverb", "track_level"):
            continue
        style = MatchMixer(StyleTarget().describe(word), **how).propose(session).context["style"]
        before = StyleTarget().delivery_loudness() if d.feature == "loudness" else feature_value(d.feature, style["start"])
        moved = feature_value(d.feature, style["result"]) - before
        ok = "ok" if moved * d.at_least > 0 and abs(moved) >= abs(d.at_least) else "SHORT"
        print(f"{word:8s} moved {moved:+6.2f}  asked {d.amount:+5.1f}  at least {d.at_least:+5.1f}  {ok}", flush=True)


if __name__ == "__main__":
    main()
