"""Roles, constraints (locks/ranges), analysis and recipe v2: the parts every mixer shares."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mixassist.audio.multitrack import Multitrack
from mixassist.console.params import MixParams
from mixassist.errors import InvalidParameterError, RecipeError
from mixassist.mixers.analysis import analyse_multitrack, analyse_track
from mixassist.mixers.constraints import Constraints
from mixassist.mixers.roles import infer_role, is_centre_source, is_low_source, parse_role_overrides
from mixassist.recipe import Recipe

SR = 44100


@pytest.mark.parametrize(
    ("name", "role"),
    [
        ("LeadVox_01", "lead"), ("vocal_lead", "lead"), ("vox", "lead"), ("organ_soprano", "lead"),
        ("kick_in", "drums"), ("snare_top", "drums"), ("Overheads", "drums"), ("hats", "drums"),
        ("synth_bass", "bass"), ("upright_bass", "bass"), ("organ_pedal", "bass"), ("cello_close", "bass"),
        ("shaker", "percussion"), ("loop", "percussion"), ("djembe", "percussion"),
        ("strings", "pad"), ("arp", "arp"), ("riser_fx", "fx"),
        ("rhythm_guitar", "chords"), ("piano", "chords"), ("epiano", "chords"), ("viola", "chords"),
    ],
)
def test_role_from_name(name, role):
    guess = infer_role(name, np.zeros((1, SR), np.float32), SR)
    assert (guess.role, guess.source) == (role, "name")
    assert guess.reason


def test_role_from_audio_when_the_name_says_nothing(rng):
    t = np.arange(4 * SR) / SR
    low = (0.5 * np.sin(2 * np.pi * 55 * t))[None].astype(np.float32)
    assert infer_role("track1", low, SR).role == "bass"
    clicks = np.zeros(4 * SR, np.float32)
    for start in range(0, 4 * SR, SR // 4):  # 4 hits per second, decaying noise bursts
        n = SR // 20
        clicks[start : start + n] += (rng.standard_normal(n) * np.exp(-np.arange(n) / (0.005 * SR))).astype(np.float32)
    assert infer_role("track2", clicks[None], SR).role in ("drums", "percussion")
    pad = (0.3 * np.sin(2 * np.pi * 440 * t) * (1 + 0.1 * np.sin(2 * np.pi * 0.2 * t)))[None].astype(np.float32)
    assert infer_role("track3", pad, SR).role == "pad"


def test_low_and_centre_sources():
    assert is_low_source("kick_out", "drums") and is_low_source("anything", "bass")
    assert not is_low_source("snare", "drums")
    assert is_centre_source("snare_top", "drums") and is_centre_source("x", "lead")
    assert not is_centre_source("hats", "drums")


def test_role_overrides_validate():
    assert parse_role_overrides(["vox=lead", "gtr*=chords"], ["vox", "gtr1", "gtr2"]) == {
        "vox": "lead", "gtr1": "chords", "gtr2": "chords"}
    with pytest.raises(InvalidParameterError, match="not one of"):
        parse_role_overrides(["vox=singer"], ["vox"])
    with pytest.raises(InvalidParameterError, match="no such track"):
        parse_role_overrides(["voc=lead"], ["vox"])
    with pytest.raises(InvalidParameterError, match="TRACK=ROLE"):
        parse_role_overrides(["vox"], ["vox"])


# ---------------------------------------------------------------------- constraints

NAMES = ["vox", "kick_in", "kick_out", "bass"]


def test_lock_with_value_and_without():
    start = MixParams(NAMES, tracks={"bass": {"pan": 0.25}})
    c = Constraints.parse(NAMES, lock=["vox.gain_db=-3", "bass.pan", "master.limiter_ceiling_dbtp=off"], start=start)
    assert c.locks["vox"] == {"gain_db": -3.0}
    assert c.locks["bass"] == {"pan": 0.25}
    assert c.locks["master"] == {"limiter_ceiling_dbtp": None}
    p = c.apply(MixParams(NAMES))
    assert p.get("vox", "gain_db") == -3.0 and p.get("bass", "pan") == 0.25


def test_wildcard_locks_every_setting_of_matching_tracks():
    c = Constraints.parse(NAMES, lock=["kick*.*"])
    assert set(c.locks) == {"kick_in", "kick_out"}
    assert "gain_db" in c.locks["kick_in"] and "eq_peak1_hz" in c.locks["kick_out"]
    assert c.is_locked("kick_in", "pan") and not c.is_locked("vox", "pan")


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("vox.gain=3", "unknown parameter 'gain'"),
        ("vox.gain_db=99", "outside the allowed range"),
        ("voc.gain_db=0", "no track matches 'voc'"),
        ("vox", "TRACK.PARAM"),
        ("vox.gain_db=loud", "not a number"),
        ("vox.*=3", "wildcard lock keeps current values"),
        ("vox.gain_db=off", "cannot be null"),
    ],
)
def test_bad_locks_are_refused_with_the_reason(spec, message):
    with pytest.raises(InvalidParameterError, match=message):
        Constraints.parse(NAMES, lock=[spec])


def test_ranges_clip_choices_and_locks_win():
    c = Constraints.parse(NAMES, lock=["vox.pan=0.5"], ranges=["bass.gain_db=-6:0"])
    p = MixParams(NAMES)
    assert c.choose(p, "bass", "gain_db", 5.0) and p.get("bass", "gain_db") == 0.0
    assert not c.choose(p, "vox", "pan", -1.0)
    with pytest.raises(InvalidParameterError, match="LOW:HIGH"):
        Constraints.parse(NAMES, ranges=["bass.gain_db=-6"])
    with pytest.raises(InvalidParameterError, match="not above"):
        Constraints.parse(NAMES, ranges=["bass.gain_db=0:-6"])


# ---------------------------------------------------------------------- analysis


def test_analysis_measures_low_cut_crest_and_silence(rng):
    t = np.arange(3 * SR) / SR
    tone = (0.25 * np.sin(2 * np.pi * 200 * t))[None].astype(np.float32)
    a = analyse_track("tone", tone, SR)
    assert not a.silent
    assert 150 <= a.low_cut_hz <= 200  # the lowest useful content of a 200 Hz tone is just below it
    assert a.crest_db == pytest.approx(3.01, abs=0.1)  # a sine's crest factor
    assert a.integrated_lufs == pytest.approx(-12.0 - 3.0 + 0.0, abs=1.5)
    s = analyse_track("silent", np.zeros((2, SR), np.float32), SR)
    assert s.silent and s.integrated_lufs is None
    json.dumps(s.to_dict(), allow_nan=False)
    json.dumps(a.to_dict(), allow_nan=False)


def test_tracks_analysed_on_threads_read_as_one_at_a_time(rng):
    # analyse_multitrack measures two tracks at once (threads): every figure of every track must
    # be the one analyse_track gives alone, in the session's order
    sr = 22050
    arrays = {f"t{k}": (0.1 * (k + 1) * rng.standard_normal((1 + k % 2, 2 * sr))).astype(np.float32) for k in range(5)}
    arrays["t2"][:] = 0.0  # a silent one among them
    found = analyse_multitrack(Multitrack.from_arrays(arrays, sr))
    assert list(found) == list(arrays)
    for name, audio in arrays.items():
        assert found[name].to_dict() == analyse_track(name, audio, sr).to_dict()


# ---------------------------------------------------------------------- recipe v2


def _v2(tmp_path):
    (tmp_path / "a.wav").write_bytes(b"")
    return {
        "version": 2, "sample_rate": 44100,
        "tracks": [{"name": "a", "file": "a.wav", "role": "lead", "params": {"gain_db": -3.0},
                    "why": {"gain_db": "because"}, "locked": ["pan"], "measured": {"x": 1}}],
        "reverb": {"seed": 3, "params": {}, "why": {"rt60_mid_s": "room"}},
        "master": {"params": {"limiter_ceiling_dbtp": -1.0}, "locked": ["output_gain_db"]},
        "context": {"method": "rules"},
    }


def test_recipe_v2_round_trips_reasons_locks_roles(tmp_path):
    r = Recipe.from_dict(_v2(tmp_path), base_dir=tmp_path)
    assert r.why == {"a": {"gain_db": "because"}, "reverb": {"rt60_mid_s": "room"}}
    assert r.locked == {"a": ["pan"], "master": ["output_gain_db"]}
    assert r.roles == {"a": "lead"} and r.measured == {"a": {"x": 1}}
    r.save(tmp_path / "out.json")
    again = Recipe.load(tmp_path / "out.json")
    assert again.why == r.why and again.locked == r.locked and again.params == r.params
    assert again.extra["context"] == {"method": "rules"}
    saved = json.loads((tmp_path / "out.json").read_text())
    # Issue 20: saved as the current version (4 since issue 24, 5 since issue 19), with the DC blockers off as the
    # version 2 mix had them.
    assert saved["version"] == 5 and saved["dc_block"] is False


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d["tracks"][0]["why"].update(gain=""), "unknown parameter 'gain'"),
        (lambda d: d["tracks"][0].update(locked=["nope_db"]), "'locked' names unknown parameter"),
        (lambda d: d["tracks"][0].update(why="x"), "'why' must be an object"),
        (lambda d: d["tracks"][0].update(colour="red"), "unknown key"),
        (lambda d: d["master"].update(gain=1), "master: unknown key"),
        (lambda d: d["tracks"][0].update(role=3), "'role' must be a string"),
    ],
)
def test_recipe_v2_rejects_bad_annotations(tmp_path, mutate, message):
    data = _v2(tmp_path)
    mutate(data)
    with pytest.raises(RecipeError, match=message):
        Recipe.from_dict(data, base_dir=tmp_path)


def test_recipe_writes_strict_json_from_numpy_and_nan(tmp_path):
    r = Recipe.from_dict(_v2(tmp_path), base_dir=tmp_path)
    r.extra["result"] = {"lufs": np.float32(-14.0), "bad": float("nan"), "n": np.int64(3)}
    r.save(tmp_path / "o.json")
    data = json.loads((tmp_path / "o.json").read_text())
    assert data["result"] == {"lufs": -14.0, "bad": None, "n": 3}
