"""Issue 19: the style match reaches a reference much narrower than the start through the
master's mid/side width (a gap of ``WIDTH_REACH_DB`` or more), and says so in dB."""

from __future__ import annotations

import numpy as np
import pytest
from match_session import SR, four_stems

from mixassist.console.console import Console
from mixassist.console.params import MixParams
from mixassist.mixers.match import WIDTH_REACH_DB, MatchMixer
from mixassist.style.target import StyleTarget


@pytest.fixture(scope="module")
def narrow_reference() -> np.ndarray:
    """Another song of the same kind, mixed nearly mono (side -20 dB on the master)."""
    other = four_stems(seed=11)
    params = MixParams(
        other.names,
        tracks={"keys": {"width": 1.5}, "hats": {"pan": 0.6}, "lead": {"pan": -0.4}},
        master={"side_gain_db": -20.0, "limiter_ceiling_dbtp": -1.0},
    )
    return Console(SR).render(other, params).mix


@pytest.mark.slow  # about 19 s of CPU (the rules start, the solve, the delivery): shorter excerpts are refused
def test_a_much_narrower_reference_moves_the_master_side_level(narrow_reference: np.ndarray) -> None:
    session = four_stems()
    proposal = MatchMixer(StyleTarget.from_audio(narrow_reference, SR), steps=12).propose(session)
    style = proposal.context["style"]
    start, target, result = (style[k]["width_overall_db"] for k in ("start", "target", "result"))
    assert start - target >= WIDTH_REACH_DB  # the case the master's width is for
    assert abs(result - target) < 0.5 * abs(start - target)  # at least half the way there
    side = proposal.params.master["side_gain_db"]
    assert side is not None and side <= -2.0
    assert "dB" in proposal.reasons.get("master", "side_gain_db")
