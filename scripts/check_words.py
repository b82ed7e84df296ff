#!/usr/bin/env python3
"""How far each descriptor word moves its measured feature (result minus the rules start).

Runs the ``match`` mixer with one word at a time on the four-stem session of
``tests/test_match.py`` (20 solver steps, as the tests) and prints, per feature word, the measured
change beside the amount asked and the documented "at least" (``docs/style.md``). ``--method
auto`` runs the solver as ``mix(method="auto")`` does instead (the controller's start,
``AUTO_STEPS``; the change is then measured from the controller's mix). Loudness words are
measured against the loudness the mix gets without a word (−14 LUFS): the start is delivered at
the word's loudness already. ``--lr`` sets the solver's Adam step (``match._LR``, in step
units) and ``--losses`` prints each word's loss per step and what the delivery's limiter took
(``limiting_db``), to study the solver.

    python scripts/check_words.py [--method auto] [--steps N] [--lr 0.5] [--words bright,smooth] [--losses]
"""

from __future__ import annotations

import argparse
import sys

import mixassist.mixers.match as match
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from test_match import _session  # noqa: E402  (the tests' session, so the figures match the tests)

from mixassist.mixers.match import AUTO_STEPS, MatchMixer  # noqa: E402
from mixassist.style.descriptors import DESCRIPTORS, feature_value  # noqa: E402
from mixassist.style.target import StyleTarget  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--method", choices=("match", "auto"), default="match")
    ap.add_argument("--steps", type=int, help="solver steps (default: 20 for match, AUTO_STEPS for auto)")
    ap.add_argument("--lr", type=float, default=match._LR, help=f"Adam step in step units (default {match._LR})")
    ap.add_argument("--words", help="comma-separated words (default: every feature word)")
    ap.add_argument("--losses", action="store_true", help="also print the solver's loss per step")
    args = ap.parse_args()
    match._LR = args.lr
    session = _session()
    steps = args.steps if args.steps is not None else (20 if args.method == "match" else AUTO_STEPS)
    how = {"steps": steps} if args.method == "match" else {"steps": steps, "start_method": "neural"}
    chosen = {w.strip() for w in args.words.split(",")} if args.words else None
    for word, d in DESCRIPTORS.items():
        if d.feature in ("reverb", "track_level") or (chosen is not None and word not in chosen):
            continue
        proposal = MatchMixer(StyleTarget().describe(word), **how).propose(session)
        style = proposal.context["style"]
        before = StyleTarget().delivery_loudness() if d.feature == "loudness" else feature_value(d.feature, style["start"])
        moved = feature_value(d.feature, style["result"]) - before
        ok = "ok" if moved * d.at_least > 0 and abs(moved) >= abs(d.at_least) else "SHORT"
        print(f"{word:8s} moved {moved:+6.2f}  asked {d.amount:+5.1f}  at least {d.at_least:+5.1f}  {ok}", flush=True)
        if args.losses:
            print("         loss " + " ".join(f"{v:.2f}" for v in proposal.context["solver"]["loss"])
                  + f"; output gain {proposal.params.master['output_gain_db']:+.1f} dB, limiter took "
                  f"{proposal.context['result']['limiting_db']:.1f} dB", flush=True)


if __name__ == "__main__":
    main()
