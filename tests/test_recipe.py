"""Recipes of every version: strict JSON in and out, clear errors, and `mixassist render` reproduces a mix."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from cli_runner import run_cli
from signals import sine

from mixassist import load_audio
from mixassist.api import render_recipe
from mixassist.errors import MixAssistError, OutputError, RecipeError
from mixassist.recipe import Recipe


@pytest.fixture
def session(tmp_path: Path) -> Path:
    (tmp_path / "stems").mkdir()
    sf.write(tmp_path / "stems" / "vox.wav", sine(440, 1.0, 48000, amplitude=0.3).T, 48000, subtype="PCM_24")
    sf.write(tmp_path / "stems" / "pad.flac", sine(220, 0.5, 44100, amplitude=0.2, channels=2).T, 44100)
    recipe = {
        "version": 1,
        "sample_rate": 48000,
        "tracks": [
            {"name": "vox", "file": "stems/vox.wav", "params": {"gain_db": -3.0, "eq_peak2_db": 2.0, "pan": 0.2}},
            {"name": "pad", "file": "stems/pad.flac", "params": {"reverb_send_db": -10.0}},
        ],
        "reverb": {"seed": 3, "params": {"rt60_mid_s": 0.5}},
        "master": {"params": {"limiter_ceiling_dbtp": -1.0}},
    }
    (tmp_path / "recipe.json").write_text(json.dumps(recipe))
    return tmp_path


def test_load_resolves_relative_paths_and_defaults(session):
    r = Recipe.load(session / "recipe.json")
    assert r.sample_rate == 48000 and r.params.track_names == ["vox", "pad"]
    assert r.resolve("vox") == session / "stems" / "vox.wav"
    assert r.params.get("pad", "gain_db") == 0.0 and r.params.reverb_seed == 3
    stems = r.load_stems()
    assert stems.sample_rate == 48000 and stems.num_samples == 48000  # pad resampled and zero-padded


def test_save_round_trip(session, tmp_path):
    r = Recipe.load(session / "recipe.json")
    r.save(session / "copy.json")
    again = Recipe.load(session / "copy.json")
    assert again.params == r.params and again.files == r.files
    with pytest.raises(OutputError, match="already exists"):
        r.save(session / "copy.json")


@pytest.mark.parametrize(
    ("mutate", "match"),
    [
        (lambda d: d["tracks"][0]["params"].update(gain_db=99), "gain_db=99 is outside"),
        (lambda d: d["tracks"][0]["params"].update(eq_peak9_db=1), "unknown parameter 'eq_peak9_db'"),
        (lambda d: d.update(version=7), "unsupported recipe version 7"),
        (lambda d: d.update(sample_rate=5), "outside the supported"),
        (lambda d: d["tracks"].append(dict(d["tracks"][0])), "appears twice"),
        (lambda d: d["tracks"][0].update(gian_db=1), "unknown key"),
        (lambda d: d["master"]["params"].update(limiter_ceiling_dbtp=3), "limiter_ceiling_dbtp=3 is outside"),
    ],
)
def test_invalid_recipes_name_the_problem(session, mutate, match):
    data = json.loads((session / "recipe.json").read_text())
    mutate(data)
    (session / "bad.json").write_text(json.dumps(data))
    with pytest.raises(RecipeError, match=match) as info:
        Recipe.load(session / "bad.json")
    assert "bad.json" in str(info.value)


def test_non_json_and_nan_are_refused(session):
    (session / "broken.json").write_text('{"version": 1,,}')
    with pytest.raises(RecipeError, match="line 1 column"):
        Recipe.load(session / "broken.json")
    (session / "nan.json").write_text('{"version": 1, "sample_rate": NaN}')
    with pytest.raises(RecipeError, match="NaN is not allowed"):
        Recipe.load(session / "nan.json")


def test_render_recipe_reproduces_and_protects_inputs(session):
    out = session / "mix.wav"
    first = render_recipe(session / "recipe.json", out, bit_depth=32)
    audio, rate = load_audio(out)
    assert rate == 48000 and audio.shape == (2, 48000)
    np.testing.assert_array_equal(audio, first.mix)
    second = render_recipe(session / "recipe.json", session / "again.wav", bit_depth=32)
    np.testing.assert_array_equal(second.mix, first.mix)  # same machine, same recipe → same samples
    with pytest.raises(OutputError, match="input file"):
        render_recipe(session / "recipe.json", session / "stems" / "vox.wav", overwrite=True)
    with pytest.raises(OutputError, match="already exists"):
        render_recipe(session / "recipe.json", out)


def test_cli_render(session):
    proc = run_cli("render", str(session / "recipe.json"), "-o", str(session / "cli.flac"))
    assert proc.returncode == 0, proc.stderr
    assert (session / "cli.flac").exists() and "wrote" in proc.stdout
    bad = run_cli("render", str(session / "missing.json"), "-o", str(session / "x.wav"))
    assert bad.returncode == 2 and "missing.json" in bad.stderr and "Traceback" not in bad.stderr


def test_saved_copy_elsewhere_still_finds_its_stems(session, tmp_path_factory):
    elsewhere = tmp_path_factory.mktemp("out")
    Recipe.load(session / "recipe.json").save(elsewhere / "copy.json")
    copy = Recipe.load(elsewhere / "copy.json")
    assert copy.resolve("vox").resolve() == (session / "stems" / "vox.wav").resolve()
    assert not copy.files["vox"].is_absolute()
    assert copy.load_stems().names == ["vox", "pad"]


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ('{"version": 2, "sample_rate": 44100, "tracks": [{"name": "a", "file": "a.wav"}], "reverb": {"seed": "x"}}',
         "'seed' must be a whole number"),
        ("[" * 100_000 + "]" * 100_000, "nested 100000 levels deep"),
    ],
)
def test_parser_refuses_wrong_types_and_absurd_nesting_in_one_line(tmp_path, text, reason):
    from mixassist.errors import RecipeError
    from mixassist.recipe import Recipe

    path = tmp_path / "r.json"
    path.write_text(text)
    with pytest.raises(RecipeError, match=reason) as caught:
        Recipe.load(path)
    assert str(caught.value).startswith(str(path)) and "\n" not in str(caught.value)


# --------------------------------------------------------------------------------------------- issue 19
#: SHA-256 of the float32 mix of tests/fixtures/recipe_v4.json over ``_v4_stems``, rendered by the
#: console of recipe version 4 (main at bddef47, before issue 19; mix bytes little-endian).  No reverb
#: in the fixture: its FFT convolution is the one step whose last bit may depend on the CPU's SIMD
#: width; the rest of the chain (numba kernels with explicit FMAs, no fast-math) does not.
V4_MIX_SHA256 = "04d671955818316a42774b9a5604e5d2cd350840674e7388312e5cf9a840c18b"


def _v4_stems(folder: Path) -> None:
    """The fixture recipe's stems, made here (seeded): a mono voice-like tone and stereo keys, 1.2 s."""
    g = np.random.default_rng(19)
    t = np.arange(int(1.2 * 22050)) / 22050
    vox = 0.3 * np.sin(2 * np.pi * 220 * t) * (1 + 0.5 * np.sin(2 * np.pi * 3 * t)) + 0.02 * g.standard_normal(t.size)
    keys = 0.1 * g.standard_normal((2, t.size)) + 0.2 * np.sin(2 * np.pi * 330 * t)
    sf.write(folder / "vox.wav", vox.astype(np.float32), 22050, subtype="FLOAT")
    sf.write(folder / "keys.wav", keys.T.astype(np.float32), 22050, subtype="FLOAT")


def test_version_4_recipe_renders_bit_identically_to_the_version_4_console(tmp_path: Path) -> None:
    """Issue 19 raised the version to 5 (low-pass, drive, mid/side width); a version 4 file still
    renders exactly as the version 4 console rendered it, and so does its re-saved version 5 copy."""
    import hashlib  # lazy: only this test

    from mixassist.api import render
    from mixassist.recipe import RECIPE_VERSION

    fixture = Path(__file__).parent / "fixtures" / "recipe_v4.json"
    (tmp_path / "recipe.json").write_text(fixture.read_text())
    _v4_stems(tmp_path)
    recipe = Recipe.load(tmp_path / "recipe.json")
    mix = render(recipe.load_stems(), recipe.params).mix
    assert hashlib.sha256(mix.astype("<f4").tobytes()).hexdigest() == V4_MIX_SHA256
    assert RECIPE_VERSION == 5
    recipe.save(tmp_path / "again.json")
    again = Recipe.load(tmp_path / "again.json")
    assert json.loads((tmp_path / "again.json").read_text())["version"] == 5
    assert np.array_equal(render(again.load_stems(), again.params).mix, mix)


def test_version_5_settings_are_refused_in_older_files_and_kept_in_new_ones(tmp_path: Path) -> None:
    _v4_stems(tmp_path)
    data = json.loads((Path(__file__).parent / "fixtures" / "recipe_v4.json").read_text())
    data["tracks"][0]["params"].update(drive_db=0.0, lpf_hz=None)  # neutral: what version 4 renders anyway
    assert Recipe.from_dict(data, base_dir=tmp_path).params.get("vox", "drive_db") == 0.0
    data["tracks"][0]["params"]["drive_db"] = 6.0
    with pytest.raises(RecipeError, match="'drive_db' needs recipe version 5; this file says 4"):
        Recipe.from_dict(data, base_dir=tmp_path)
    data["version"] = 5
    data["master"]["params"].update(side_gain_db=-6.0, side_hpf_hz=120.0, lpf_hz=16000.0, drive_db=2.0)
    data["tracks"][1]["params"]["lpf_hz"] = 9000.0
    recipe = Recipe.from_dict(data, base_dir=tmp_path)
    assert recipe.params.master["side_hpf_hz"] == 120.0 and recipe.params.get("keys", "lpf_hz") == 9000.0
    assert Recipe.from_dict(recipe.to_dict(), base_dir=tmp_path).params == recipe.params
    data["master"]["params"]["side_gain_db"] = -60.0
    with pytest.raises(MixAssistError, match=r"side_gain_db=-60 is outside the allowed range -40…12 dB"):
        Recipe.from_dict(data, base_dir=tmp_path)
