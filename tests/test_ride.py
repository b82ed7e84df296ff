"""Riding the lead: the rules mixer's automation lane holds the lead steady against a song that
gets busier, within the rate limit, with reasons naming the section; sections from CSV."""

from __future__ import annotations

import numpy as np
import pytest

from mixassist.audio.multitrack import Multitrack
from mixassist.console.console import Console
from mixassist.console.lanes import max_rate
from mixassist.console.params import MixParams
from mixassist.errors import InvalidParameterError
from mixassist.measure import perception
from mixassist.mixers.constraints import Constraints
from mixassist.mixers.ride import RIDE_MAX_RATE_DB_S, RIDE_RANGE_DB, part_and_rest
from mixassist.mixers.rules import RulesMixer
from mixassist.mixers.section_moves import CHORUS_LIFT_DB
from mixassist.mixers.sections import Section, read_sections
from mixassist.mixers.structure import activity_change, detect_sections
from signals import busier_chorus

SR = 22050
SECONDS = 8.0


@pytest.fixture(scope="module")
def song() -> Multitrack:
    """A steady lead over a band that is 12 dB louder in its second half (the 'chorus')."""
    return Multitrack.from_arrays(busier_chorus(SECONDS, SR, seed=7), SR)


@pytest.fixture(scope="module")
def ridden(song: Multitrack):
    sections = (Section(0.0, 4.0, "verse"), Section(4.0, 8.0, "chorus"))
    constraints = Constraints.parse(song.names, roles=["vox=lead"])
    return RulesMixer(ride=True, separation=False, sections=sections).propose(song, constraints)


def test_ride_steadies_the_lead_within_the_limits(ridden) -> None:
    params = ridden.params
    lane = params.lane("vox", "gain_db")
    assert lane is not None
    pad = params.lane("pad", "gain_db")  # not ridden: its only move is the chorus lift (section_moves)
    assert pad is None or pad.value_at(6.5) - pad.value_at(1.5) == pytest.approx(CHORUS_LIFT_DB)
    assert not any(text.startswith("ride") for text in ridden.reasons.for_section("pad").values())
    base = params.get("vox", "gain_db")
    verse, chorus = lane.value_at(1.5) - base, lane.value_at(6.5) - base
    assert chorus > verse + 2.0  # up in the busy half
    assert max_rate(lane) <= RIDE_MAX_RATE_DB_S + 1e-9
    assert max(abs(v - base) for v in lane.values) <= RIDE_RANGE_DB + 0.01
    ride = ridden.measured["vox"]["ride"]
    assert ride["spread_after_lu"] < 0.6 * ride["spread_before_lu"]
    result = ridden.context["result"]
    assert abs(result["integrated_lufs"] - (-14.0)) <= 0.1 and result["true_peak_dbtp"] <= -1.0 + 1e-6
    spans = {k: v for k, v in ridden.reasons.for_section("vox").items() if k.startswith("gain_db@")}
    assert spans and any("chorus" in text for text in spans.values())
    assert ridden.context["sections"][1] == {"start_s": 4.0, "stop_s": 8.0, "label": "chorus"}


def test_ride_is_off_by_default_and_a_locked_fader_is_not_ridden(song: Multitrack, ridden) -> None:
    locked = Constraints.parse(song.names, lock=["vox.gain_db=-6"], roles=["vox=lead"])
    proposal = RulesMixer(ride_name="vox", separation=False).propose(song, locked)
    assert proposal.params.lane("vox", "gain_db") is None and proposal.params.get("vox", "gain_db") == -6.0
    assert any("locked" in note for note in proposal.reasons.notes)
    with pytest.raises(InvalidParameterError, match="not in the session"):
        RulesMixer(ride_name="nobody").propose(song)


def test_sections_csv(tmp_path) -> None:
    (tmp_path / "s.csv").write_text("start_s,stop_s,label\n0,12.5,intro\n12.5,30,verse\n")
    assert read_sections(tmp_path / "s.csv") == (Section(0.0, 12.5, "intro"), Section(12.5, 30.0, "verse"))
    (tmp_path / "open.csv").write_text("# a comment\n20,chorus\n0,verse\n")
    assert read_sections(tmp_path / "open.csv", length_s=40.0)[1] == Section(20.0, 40.0, "chorus")
    (tmp_path / "bad.csv").write_text("0,10,a\n5,12,b\n")
    with pytest.raises(InvalidParameterError, match="overlap"):
        read_sections(tmp_path / "bad.csv")
    (tmp_path / "junk.csv").write_text("zero,ten,a\n")
    with pytest.raises(InvalidParameterError, match="line 1"):
        read_sections(tmp_path / "junk.csv")


def test_detect_sections_of_a_synthesised_song() -> None:
    """A B A B, 6 s each: bass and soft chords, then drums-like noise, a pad and louder, higher chords."""
    rng = np.random.default_rng(3)
    n = int(24 * SR)
    t = np.arange(n) / SR
    chorus = ((t // 6) % 2 == 1).astype(float)
    bass = 0.3 * np.sin(2 * np.pi * 55 * t)
    chords = (0.05 + 0.15 * chorus) * np.sin(2 * np.pi * np.where(chorus > 0, 392, 262) * t)
    hits = np.zeros(n)
    hits[:: SR // 4] = 1.0
    drums = chorus * np.convolve(hits, np.exp(-np.arange(2000) / 300.0), mode="same") * rng.standard_normal(n) * 0.4
    pad = chorus * 0.1 * rng.standard_normal((2, n))
    song = Multitrack.from_arrays({"bass": bass, "chords": chords, "drums": drums, "pad": pad}, SR)
    found = detect_sections(song)
    truth = [6.0, 12.0, 18.0]
    edges = [s.start_s for s in found[1:]]
    hits_found = sum(any(abs(e - b) <= 1.0 for e in edges) for b in truth)
    assert hits_found / len(truth) >= 0.8 and len(edges) <= len(truth) + 1
    assert found[0].start_s == 0.0 and found[-1].stop_s == pytest.approx(24.0)
    assert found[0].label == found[2].label != found[1].label  # the repeat is recognised
    assert len(found) == 4


def test_report_shows_lanes_sections_and_span_reasons() -> None:
    from mixassist.report import automation_lines, decision_lines  # lazy: the report layer sits above the mixers

    recipe = {
        "tracks": [
            {
                "name": "vox",
                "params": {"gain_db": -5.0},
                "lanes": {"gain_db": {"times_s": [1.5, 2.0, 6.5], "values": [-5.0, -6.0, -3.0]}},
            }
        ],
        "master": {"params": {}},
        "context": {"sections": [{"start_s": 0.0, "stop_s": 4.0, "label": "verse"}]},
    }
    text = "\n".join(automation_lines(recipe))
    assert (
        "verse 0.0–4.0 s" in text
        and "vox gain_db: 3 points" in text
        and "(base -5.0 dB)" in text
        and "3.1 dB/s" in text
    )
    assert decision_lines({"gain_db@1.5-3.5": "ride -1 dB"}, {}) == ["- `gain_db` lane, 1.5–3.5 s: ride -1 dB"]
    assert automation_lines({"tracks": [{"name": "a", "params": {}}], "master": {}}) == []


def test_detect_sections_hears_entries_that_barely_change_the_mix() -> None:
    """Sections at 7.3 s and 14.1 s marked only by a quiet part entering and another leaving
    (each 14 dB under the bass and the chords, which never change), and one 2.4 s before the end
    where the quiet part leaves again: the activity cue finds all three, to a quarter second."""
    rng = np.random.default_rng(5)
    n = int(22 * SR)
    t = np.arange(n) / SR
    bed = 0.3 * np.sin(2 * np.pi * 55 * t) + 0.2 * np.sin(2 * np.pi * 262 * t)
    shaker = np.where((t >= 7.3) & (t < 19.6), 0.03, 0.0) * rng.standard_normal(n)
    organ = np.where(t < 14.1, 0.04, 0.0) * np.sin(2 * np.pi * 523 * t)
    found = detect_sections(Multitrack.from_arrays({"bed": bed, "shaker": shaker, "organ": organ}, SR))
    edges = [s.start_s for s in found[1:]]
    assert len(edges) == 3 and all(abs(e - b) <= 0.25 for e, b in zip(edges, [7.3, 14.1, 19.6], strict=True))


def test_activity_change_matches_a_plain_loop() -> None:
    activity = np.random.default_rng(2).random((40, 3))
    span = 4
    padded = np.concatenate([np.repeat(activity[:1], span, 0), activity, np.repeat(activity[-1:], span, 0)])
    want = [
        sum(abs(padded[i + span : i + 2 * span, j].mean() - padded[i : i + span, j].mean()) for j in range(3)) / 3
        for i in range(40)
    ]
    np.testing.assert_allclose(activity_change(activity, span), want, rtol=1e-12, atol=1e-12)


def test_part_and_rest_is_band_powers_of_the_printed_stems(song: Multitrack) -> None:
    """The streamed band powers equal band_powers of the rendered stems: the stems' tails past
    the song's end (what the master's look-ahead reads) are cut at the song's end."""
    params = MixParams(song.names)
    params.set("vox", "gain_db", -3.0)
    params.set_bus("master", "limiter_ceiling_dbtp", -1.0)  # with the DC removal: a tail longer than a hop
    part, rest = part_and_rest(song, params, "vox")
    stems = Console(SR).render(song, params, want_stems=True).stems
    assert stems is not None and stems.shape[-1] == song.num_samples
    want_part = perception.band_powers(stems[0], SR, hop_s=0.1)
    want_rest = perception.band_powers(stems[1:].sum(axis=0), SR, hop_s=0.1)
    np.testing.assert_allclose(part, want_part, rtol=1e-4, atol=1e-9)
    np.testing.assert_allclose(rest, want_rest, rtol=1e-4, atol=1e-9)
