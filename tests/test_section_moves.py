"""Section moves of the rules mixer (with the ride): a chorus lift of the supporting tracks, a
solo forward where the lead is silent, reverb sends by section; reasons name the section; locks
hold; delivery still meets loudness and true peak; nothing moves without ``ride``."""

from __future__ import annotations

import numpy as np
import pytest

from mixassist.audio.multitrack import Multitrack
from mixassist.console.lanes import max_rate
from mixassist.console.params import MixParams
from mixassist.mixers.analysis import analyse_multitrack
from mixassist.mixers.constraints import Constraints
from mixassist.mixers.decisions import Reasons
from mixassist.mixers.ride import RIDE_MAX_RATE_DB_S
from mixassist.mixers.roles import PRIORITY, RoleGuess
from mixassist.mixers.rules import RulesMixer
from mixassist.mixers.section_moves import CHORUS_LIFT_DB, SOLO_DB, section_moves
from mixassist.mixers.sections import Section
from mixassist.mixers.sources import RuleTrack

SR = 22050
SECTIONS = (Section(0.0, 3.0, "verse"), Section(3.0, 6.0, "chorus"), Section(6.0, 9.0, "solo"))
ROLES = ["vox=lead", "keys=chords", "gtr=chords"]


@pytest.fixture(scope="module")
def song() -> Multitrack:
    """Verse: the lead over soft keys; chorus: the keys 8 dB louder; solo: the lead rests and a
    guitar line plays (only there)."""
    t = np.arange(int(9 * SR)) / SR
    vox = np.where(t < 6.0, 1.0, 0.0) * sum(0.15 / k * np.sin(2 * np.pi * 220 * k * t) for k in range(1, 5))
    keys = (
        np.where((t >= 3.0) & (t < 6.0), 0.25, 0.1)
        * np.sin(2 * np.pi * 330 * t)
        * (1 + 0.3 * np.sin(2 * np.pi * 2 * t))
    )
    gtr = np.where(t >= 6.0, 1.0, 0.0) * sum(0.12 / k * np.sin(2 * np.pi * 440 * k * t) for k in range(1, 4))
    return Multitrack.from_arrays({"vox": vox, "keys": keys, "gtr": gtr}, SR)


@pytest.fixture(scope="module")
def moved(song: Multitrack):
    constraints = Constraints.parse(song.names, roles=ROLES)
    return RulesMixer(ride=True, separation=False, sections=SECTIONS).propose(song, constraints)


def test_chorus_lift_and_solo_forward_where_they_belong(moved) -> None:
    params = moved.params
    keys = params.lane("keys", "gain_db")
    assert keys is not None
    base = params.get("keys", "gain_db")
    assert keys.value_at(4.5) - base == pytest.approx(CHORUS_LIFT_DB)  # lifted in the chorus ...
    assert keys.value_at(1.0) == pytest.approx(base) and keys.value_at(8.0) == pytest.approx(base)  # ... only there
    gtr = params.lane("gtr", "gain_db")
    assert gtr is not None
    assert gtr.value_at(7.5) - params.get("gtr", "gain_db") == pytest.approx(SOLO_DB)
    assert gtr.value_at(1.0) == pytest.approx(params.get("gtr", "gain_db"))
    why_keys, why_gtr = moved.reasons.for_section("keys"), moved.reasons.for_section("gtr")
    assert "chorus (0:03–0:06)" in why_keys["gain_db@3-6"] and "gain_db@0-3" not in why_keys
    assert "solo (0:06–0:09)" in why_gtr["gain_db@6-9"] and "vox is silent" in why_gtr["gain_db@6-9"]
    # the lead is the ride's: no section move on it; the master output gain is never automated
    assert not any("chorus" in text and "lifts" in text for text in moved.reasons.for_section("vox").values())
    assert params.lane("master", "output_gain_db") is None
    for name in ("vox", "keys", "gtr"):
        for param in ("gain_db", "reverb_send_db"):
            lane = params.lane(name, param)
            assert lane is None or max_rate(lane) <= RIDE_MAX_RATE_DB_S + 1e-9


def test_sends_follow_the_sections_and_delivery_holds(moved) -> None:
    params = moved.params
    lane = params.lane("keys", "reverb_send_db")
    assert lane is not None  # the solo is the sparsest section: more send there than in the chorus
    assert lane.value_at(7.5) >= lane.value_at(4.5) + 1.0
    spans = {k: v for k, v in moved.reasons.for_section("keys").items() if k.startswith("reverb_send_db@")}
    assert spans and all("(0:0" in text and "send" in text for text in spans.values())
    result = moved.context["result"]
    assert abs(result["integrated_lufs"] - (-14.0)) <= 0.1 and result["true_peak_dbtp"] <= -1.0 + 1e-6


def test_locks_hold_and_nothing_moves_without_the_ride(song: Multitrack) -> None:
    constraints = Constraints.parse(
        song.names, lock=["keys.gain_db@3-6", "gtr.reverb_send_db", "gtr.gain_db=-4"], roles=ROLES
    )
    locked = RulesMixer(ride=True, separation=False, sections=SECTIONS).propose(song, constraints)
    keys = locked.params.lane("keys", "gain_db")
    assert keys is None or keys.value_at(4.5) == 0.0  # the start's (neutral) fader kept over the span
    assert "gain_db@3-6" not in locked.reasons.for_section("keys")
    assert locked.params.lane("gtr", "reverb_send_db") is None and locked.params.lane("gtr", "gain_db") is None
    assert locked.params.get("gtr", "gain_db") == -4.0
    static = RulesMixer(separation=False, sections=SECTIONS).propose(song, Constraints.parse(song.names, roles=ROLES))
    assert not static.params.lanes


def _session(keys_chorus: float) -> tuple[Multitrack, dict[str, RuleTrack], MixParams]:
    """A B A B, 3 s each: the lead throughout over keys that play ``keys_chorus`` times louder in B."""
    t = np.arange(int(12 * SR)) / SR
    vox = sum(0.15 / k * np.sin(2 * np.pi * 220 * k * t) for k in range(1, 5))
    keys = np.where((t // 3) % 2 == 1, 0.1 * keys_chorus, 0.1) * np.sin(2 * np.pi * 330 * t)
    song = Multitrack.from_arrays({"vox": vox, "keys": keys}, SR)
    analysis = analyse_multitrack(song)
    roles = {"vox": RoleGuess("lead", "user", ""), "keys": RoleGuess("chords", "user", "")}
    tracks = {n: RuleTrack(n, analysis[n], roles[n], PRIORITY[roles[n].role]) for n in song.names}
    params = MixParams(song.names)
    params.set("keys", "reverb_send_db", -18.0)
    return song, tracks, params


def test_a_detected_chorus_is_the_loud_repeat_and_flat_songs_get_no_moves() -> None:
    sections = tuple(Section(3.0 * k, 3.0 * k + 3.0, "AB"[k % 2]) for k in range(4))
    song, tracks, params = _session(keys_chorus=3.0)
    reasons = Reasons()
    written = section_moves(song, params, Constraints.parse(song.names), reasons, tracks, sections, ridden="vox")
    lane = params.lane("keys", "gain_db")
    assert written["keys"][0] == "gain_db" and lane is not None
    assert [round(lane.value_at(t), 6) for t in (1.5, 4.5, 7.5, 10.5)] == [0.0, CHORUS_LIFT_DB, 0.0, CHORUS_LIFT_DB]
    assert "repeated section that plays fullest" in reasons.get("keys", "gain_db@3-6")
    song, tracks, params = _session(keys_chorus=1.0)  # nothing changes between the sections
    assert section_moves(song, params, Constraints.parse(song.names), Reasons(), tracks, sections) == {}
    assert not params.lanes
