"""Roles and sources from track names: the table in ``mixers/role_names.json``, left/right file
pairs merged on load (and re-rendered from the recipe), multi-mic families (issue 20, "Names")."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf

from mixassist.api import render, render_recipe
from mixassist.audio.multitrack import load_multitrack, side_of
from mixassist.console import MixParams
from mixassist.errors import OutputError
from mixassist.mixers.roles import (
    KIT_FAMILIES,
    infer_role,
    is_centre_source,
    is_low_source,
    multi_mic_candidates,
    name_family,
    name_tokens,
)
from mixassist.recipe import Recipe

SR = 22050
SILENT = np.zeros((1, SR), np.float32)

# name -> role: the failures of issue 20 first, then ordinary names that must keep their role.
NAME_TABLE = [
    # kick drums are drums, never bass
    ("Bass Drum", "drums"),
    ("BassDrum", "drums"),
    ("bass_drum_in", "drums"),
    ("BD", "drums"),
    ("808 Kick", "drums"),
    ("808Kick", "drums"),
    ("Kick 808", "drums"),
    ("Kick In", "drums"),
    ("Kick_Out", "drums"),
    ("kick_sub", "drums"),
    ("Kick Sub.wav", "drums"),
    ("KickDrum", "drums"),
    # bass
    ("Sub Bass", "bass"),
    ("Bass DI", "bass"),
    ("Bass Amp", "bass"),
    ("808 bass", "bass"),
    ("808_Bass_02", "bass"),
    ("SubBass", "bass"),
    ("double_bass", "bass"),
    ("Upright Bass", "bass"),
    ("bass.wav", "bass"),
    # backing vocals: a supporting part (chords), not the lead
    ("BackingVox", "chords"),
    ("Backing Vocals", "chords"),
    ("BVs", "chords"),
    ("BV 1", "chords"),
    ("Harmony Vox", "chords"),
    ("Harmonies", "chords"),
    ("Choir", "chords"),
    ("Vox Dbl", "chords"),
    ("Double", "chords"),
    ("LeadVox_Double", "chords"),
    ("BGV_L", "chords"),
    ("Adlibs", "chords"),
    ("backing-vox-hi.flac", "chords"),
    # lead
    ("Lead Vox", "lead"),
    ("Vocal", "lead"),
    ("LV", "lead"),
    ("Main Vox", "lead"),
    ("LeadVox_01", "lead"),
    ("vocal_lead", "lead"),
    ("vox", "lead"),
    ("VOX.WAV", "lead"),
    ("organ_soprano", "lead"),
    ("Rap", "lead"),
    # drums and kit pieces
    ("Snare Top", "drums"),
    ("Snare_Bottom", "drums"),
    ("OH L", "drums"),
    ("OH_right", "drums"),
    ("Overheads", "drums"),
    ("Room L", "drums"),
    ("Tom 1", "drums"),
    ("Tom3", "drums"),
    ("hats", "drums"),
    ("HiHat", "drums"),
    # the rest of the vocabulary
    ("synth_bass", "bass"),
    ("organ_pedal", "bass"),
    ("cello_close", "bass"),
    ("shaker", "percussion"),
    ("loop", "percussion"),
    ("djembe", "percussion"),
    ("Claps", "percussion"),
    ("strings", "pad"),
    ("Pad_L", "pad"),
    ("arp", "arp"),
    ("riser_fx", "fx"),
    ("rhythm_guitar", "chords"),
    ("piano", "chords"),
    ("piano_L.wav", "chords"),
    ("Piano R", "chords"),
    ("epiano", "chords"),
    ("viola", "chords"),
    ("Gtr DI", "chords"),
]


def test_the_table_is_wide():
    assert len(NAME_TABLE) >= 60
    assert len({n for n, _ in NAME_TABLE}) == len(NAME_TABLE)


@pytest.mark.parametrize(("name", "role"), NAME_TABLE)
def test_role_from_name_table(name, role):
    guess = infer_role(name, SILENT, SR)
    assert (guess.role, guess.source) == (role, "name"), guess.reason
    assert name.split(".")[0].split("_")[0].lower()[:2] in guess.reason.lower()


@pytest.mark.parametrize(
    ("name", "tokens"),
    [
        ("BackingVox", ["backing", "vox"]),
        ("Kick-In.wav", ["kick", "in"]),
        ("808Kick", ["808", "kick"]),
        ("OH.left", ["oh", "left"]),
        ("Tom2", ["tom", "2"]),
        ("BVs", ["bvs"]),
        ("LEAD VOX_03.aiff", ["lead", "vox", "03"]),
    ],
)
def test_names_are_normalised(name, tokens):
    assert name_tokens(name) == tokens


@pytest.mark.parametrize(
    "name", ["BackingVox", "Harmony Vox", "BVs", "Choir", "Vox Dbl", "Double", "Harmonies", "Backing Vocals"]
)
def test_backing_vocals_are_not_centred_as_a_lead(name):
    role = infer_role(name, SILENT, SR).role
    assert role != "lead" and not is_centre_source(name, role)


@pytest.mark.parametrize("name", ["Lead Vox", "Vocal", "LV", "Main Vox"])
def test_lead_vocals_stay_centred(name):
    assert is_centre_source(name, infer_role(name, SILENT, SR).role)


@pytest.mark.parametrize("name", ["Bass Drum", "BD", "808 Kick", "Kick In", "kick_sub"])
def test_kicks_are_centred_low_sources(name):
    role = infer_role(name, SILENT, SR).role
    assert is_centre_source(name, role) and is_low_source(name, role)


def _eight_oh_eight(kind: str) -> np.ndarray:
    """An 808: short decaying pitched hits (a kick) or held notes (a bass line), 4 s."""
    n = 4 * SR
    x = np.zeros(n)
    if kind == "kick":
        t = np.arange(int(0.3 * SR)) / SR
        hit = np.sin(2 * np.pi * (50 + 80 * np.exp(-30 * t)) * t) * np.exp(-15 * t)
        for start in range(0, n - t.size, SR // 2):
            x[start : start + t.size] += hit
    else:
        t = np.arange(SR) / SR
        for k, f in enumerate((41.2, 55.0, 49.0, 36.7)):
            x[k * SR : (k + 1) * SR] = (
                np.sin(2 * np.pi * f * t) * np.exp(-0.7 * t) * np.minimum(1, (SR - np.arange(SR)) / 200)
            )
    return (0.5 * x)[None].astype(np.float32)


@pytest.mark.parametrize(("kind", "role"), [("kick", "drums"), ("bass", "bass")])
def test_a_bare_808_is_decided_by_its_sound(kind, role):
    guess = infer_role("808", _eight_oh_eight(kind), SR)
    assert guess.role == role, guess.reason
    assert "808" in guess.reason and "%" in guess.reason


def test_kit_families_and_multi_mic_hints():
    names = [
        "Kick In",
        "Kick Out",
        "Kick Sub",
        "Snare Top",
        "Snare Bottom",
        "OH L",
        "OH R",
        "Room L",
        "Room R",
        "Tom 1",
        "Tom 2",
        "Tom 3",
        "Bass DI",
        "Bass Amp",
        "Gtr L",
        "Gtr R",
        "Lead Vox",
    ]
    families = {n: name_family(n) for n in names}
    kit = [n for n in names if families[n] in KIT_FAMILIES]
    assert kit == names[:12]
    assert all(infer_role(n, SILENT, SR).role == "drums" for n in kit)
    pairs = {frozenset(p) for p in multi_mic_candidates(names)}
    assert pairs == {
        frozenset(p)
        for p in [
            ("Kick In", "Kick Out"),
            ("Kick In", "Kick Sub"),
            ("Kick Out", "Kick Sub"),
            ("Snare Top", "Snare Bottom"),
            ("Bass DI", "Bass Amp"),
        ]
    }  # overhead, room and guitar L/R pairs and toms are separate sources: no hint


@pytest.mark.parametrize(
    ("name", "base", "side"),
    [
        ("piano_L", "piano", "L"),
        ("Piano R", "Piano", "R"),
        ("OH_left", "OH", "L"),
        ("OH-Right", "OH", "R"),
        ("Pedal", "Pedal", None),
        ("snare", "snare", None),
        ("L", "L", None),
        ("Kick_Sub", "Kick_Sub", None),
    ],
)
def test_side_of_a_file_name(name, base, side):
    assert side_of(name) == (base, side)


# ------------------------------------------------------------------ L/R pairs on load


def _write(path, audio, sample_rate=SR):
    sf.write(path, np.asarray(audio, np.float32).T, sample_rate, subtype="FLOAT")
    return path


def _noise(rng, channels=1, n=SR):
    return (0.1 * rng.standard_normal((channels, n))).astype(np.float32)


@pytest.mark.parametrize(
    ("left", "right"), [("piano_L.wav", "piano_R.wav"), ("Piano L.wav", "Piano R.wav"), ("OH_left.wav", "OH_right.wav")]
)
def test_a_left_right_pair_loads_as_one_stereo_track(tmp_path, rng, left, right):
    a, b, v = _noise(rng), _noise(rng), _noise(rng)
    _write(tmp_path / left, a), _write(tmp_path / right, b), _write(tmp_path / "vox.wav", v)
    mt = load_multitrack(tmp_path)
    base = side_of(left.removesuffix(".wav"))[0].replace(" ", "_")
    assert sorted(mt.names) == sorted([base, "vox"])
    track = mt[base]
    np.testing.assert_array_equal(track.audio, np.concatenate([a, b]))
    assert track.files == (tmp_path / left, tmp_path / right)
    assert set(mt.sources) == {tmp_path / left, tmp_path / right, tmp_path / "vox.wav"}


@pytest.mark.parametrize("fault", ["length", "rate", "stereo", "three"])
def test_a_pair_that_cannot_merge_stays_two_tracks_with_a_note(tmp_path, rng, caplog, fault):
    a = _noise(rng)
    _write(tmp_path / "keys_L.wav", a)
    if fault == "length":
        _write(tmp_path / "keys_R.wav", _noise(rng, n=SR + 10))
    elif fault == "rate":
        _write(tmp_path / "keys_R.wav", _noise(rng), 44100)
    elif fault == "stereo":
        _write(tmp_path / "keys_R.wav", _noise(rng, channels=2))
    else:
        _write(tmp_path / "keys_R.wav", _noise(rng)), _write(tmp_path / "keys_right.wav", _noise(rng))
    with caplog.at_level("INFO"):
        mt = load_multitrack(tmp_path)
    assert "keys_L" in mt.names and all(t.source_right is None for t in mt)
    if fault != "three":
        assert "not merged" in caplog.text


def test_a_merged_pair_round_trips_through_the_recipe_and_re_renders(tmp_path, rng):
    stems = tmp_path / "stems"
    stems.mkdir()
    a, b, v = _noise(rng), _noise(rng), _noise(rng)
    _write(stems / "piano_L.wav", a), _write(stems / "piano_R.wav", b), _write(stems / "vox.wav", v)
    mt = load_multitrack(stems)
    params = MixParams(mt.names, tracks={"piano": {"gain_db": -3.0, "pan": -0.3}, "vox": {"gain_db": 1.0}})
    recipe = Recipe(
        sample_rate=mt.sample_rate,
        files={t.name: t.source for t in mt},
        right_files={t.name: t.source_right for t in mt if t.source_right},
        params=params,
    )
    out = tmp_path / "out"
    out.mkdir()
    recipe.save(out / "recipe.json")
    data = json.loads((out / "recipe.json").read_text())
    entry = next(t for t in data["tracks"] if t["name"] == "piano")
    assert entry["file"] == [(stems / "piano_L.wav").as_posix(), (stems / "piano_R.wav").as_posix()]
    again = Recipe.load(out / "recipe.json")
    assert again.stem_paths() == [stems / "piano_L.wav", stems / "piano_R.wav", stems / "vox.wav"]
    np.testing.assert_array_equal(again.load_stems()["piano"].audio, mt["piano"].audio)
    result = render_recipe(out / "recipe.json", out / "mix.wav", bit_depth=32)
    np.testing.assert_array_equal(result.mix, render(mt, params).mix)
    with pytest.raises(OutputError):  # the right file is an input too
        render_recipe(out / "recipe.json", stems / "piano_R.wav", overwrite=True)


def test_a_recipe_pair_entry_is_validated(tmp_path):
    bad = {"version": 2, "sample_rate": SR, "tracks": [{"name": "p", "file": ["a.wav"]}]}
    with pytest.raises(Exception, match="list of two"):
        Recipe.from_dict(bad)
