"""Style targets and descriptor words: parsing, blending, the broad move toward a reference."""

from __future__ import annotations

import numpy as np
import pytest

from mixassist.errors import InvalidParameterError
from mixassist.style import style_features
from mixassist.style.descriptors import DESCRIPTORS, descriptor_table_markdown, feature_value, parse_description
from mixassist.style.target import BROAD_CAP_DB, StyleTarget, parse_reference_spec, parse_strengths

SR = 22050


def _noise(rng: np.random.Generator, seconds: float = 5.0, side: float = 0.3, tilt: float = 0.0) -> np.ndarray:
    """Stereo noise with a spectral tilt (dB/octave re 1 kHz) and a given side level."""
    n = int(seconds * SR)
    spectrum = np.fft.rfft(rng.standard_normal((2, n)), axis=-1)
    freqs = np.fft.rfftfreq(n, 1 / SR)
    shape = (np.maximum(freqs, 20.0) / 1000.0) ** (tilt / 6.02)
    x = np.fft.irfft(spectrum * shape, n, axis=-1)
    mid, sid = x[0], x[1] * side
    out = np.stack([mid + sid, mid - sid])
    return (0.1 * out / np.sqrt(np.mean(out**2))).astype(np.float32)


@pytest.fixture(scope="module")
def signals():
    rng = np.random.default_rng(7)
    return {"flat": _noise(rng), "bright_wide": _noise(rng, side=0.9, tilt=+2.0), "dark": _noise(rng, tilt=-3.0)}


def test_every_required_word_is_in_the_table_with_its_opposite():
    for word in ("bright", "dark", "warm", "thin", "wide", "narrow", "punchy", "smooth", "dry", "wet", "loud",
                 "dynamic", "forward", "back"):
        d = DESCRIPTORS[word]
        assert DESCRIPTORS[d.opposite].opposite == word
        assert np.sign(d.amount) == np.sign(d.at_least) and abs(d.at_least) <= abs(d.amount)
    table = descriptor_table_markdown()
    assert table.count("\n") == len(DESCRIPTORS) + 1


def test_parse_comparatives_sizes_negation_and_tracks():
    moves = parse_description("Brighter, a bit wider and vocals forward; less punchy, much drier", ["vocals", "bass"])
    assert [m.descriptor.word for m in moves] == ["bright", "wide", "forward", "smooth", "dry"]
    assert [m.scale for m in moves] == [1.0, 0.5, 1.0, 1.0, 1.5]
    assert moves[2].tracks == ("vocals",)
    assert moves[4].amount == pytest.approx(-9.0)


def test_track_wildcards_and_unknown_tracks():
    moves = parse_description("drum* back", ["drums_l", "drums_r", "bass"])
    assert moves[0].tracks == ("drums_l", "drums_r")
    with pytest.raises(InvalidParameterError, match="no track named 'vocal'.*did you mean 'vocals forward'"):
        parse_description("vocal forward", ["vocals"])
    assert parse_description("anything forward", None)[0].tracks == ("anything",)


@pytest.mark.parametrize("text, message", [
    ("brihgter", "did you mean 'brighter'"),
    ("sparkly", "unknown word 'sparkly'"),
    ("brighter, darker", "opposite changes"),
])
def test_bad_words_are_refused_with_a_hint(text, message):
    with pytest.raises(InvalidParameterError, match=message):
        parse_description(text, [])


def test_strengths_and_reference_specs(tmp_path):
    assert parse_strengths("tone=1, width=0.5") == {"loudness": 1.0, "tone": 1.0, "width": 0.5, "dynamics": 1.0}
    for bad, message in (("colour=1", "unknown attribute"), ("tone=2", "within 0-1"), ("tone", "ATTRIBUTE=STRENGTH"),
                         ("tone=x", "must be a number")):
        with pytest.raises(InvalidParameterError, match=message):
            parse_strengths(bad)
    assert parse_reference_spec("song.wav:0.5") == ("song.wav", 0.5)
    assert parse_reference_spec("song.wav") == ("song.wav", 1.0)
    odd = tmp_path / "a:b.wav"
    odd.write_bytes(b"")
    assert parse_reference_spec(str(odd)) == (str(odd), 1.0)  # an existing path with a colon stays whole
    with pytest.raises(InvalidParameterError, match="positive"):
        parse_reference_spec("song.wav:-1")


def test_strength_zero_holds_and_one_moves_broadly(signals):
    start = style_features(signals["flat"], SR)
    target = StyleTarget.from_audio(signals["bright_wide"], SR)
    ref = target.reference_features()
    held = target.with_strengths("tone=0,width=0,dynamics=0,loudness=0").resolve(start)
    np.testing.assert_allclose(held.features.spectral_mid_db, start.spectral_mid_db)
    np.testing.assert_allclose(held.features.width_db, start.width_db)
    assert held.features.crest_db == pytest.approx(start.crest_db)
    full = target.resolve(start).features
    assert full.loudness_lufs == pytest.approx(ref.loudness_lufs)
    assert full.crest_db == pytest.approx(ref.crest_db)
    # the broad (smoothed, capped) difference: the high bands move up, the low bands down, never beyond the cap
    move = full.spectral_mid_db - start.spectral_mid_db
    assert move[-1] - move[0] > 6.0  # tilted up: highs gain on lows (levels are relative to the total)
    assert np.all(np.abs(move) <= BROAD_CAP_DB + 1e-9)
    assert np.mean(full.width_db - start.width_db) > 5.0  # the reference is much wider
    half = target.with_strengths("tone=0.5").resolve(start).features
    np.testing.assert_allclose(half.spectral_mid_db - start.spectral_mid_db, 0.5 * move, atol=1e-9)


def test_several_references_blend_by_weight(signals):
    a, b = signals["bright_wide"], signals["dark"]
    fa, fb = style_features(a, SR), style_features(b, SR)
    blend = StyleTarget.from_references([(a, SR, 3.0), (b, SR, 1.0)]).reference_features()
    assert blend.crest_db == pytest.approx(0.75 * fa.crest_db + 0.25 * fb.crest_db)
    np.testing.assert_allclose(blend.spectral_mid_db, 0.75 * fa.spectral_mid_db + 0.25 * fb.spectral_mid_db)


def test_words_change_the_target_by_their_amounts(signals):
    start = style_features(signals["flat"], SR)
    centres = start.band_centres_hz
    t = StyleTarget().describe("brighter, wider, punchier, louder").resolve(start).features
    assert feature_value("high", t) - feature_value("high", start) == pytest.approx(3.0)
    # levels stay relative to the total mid power: the other bands move together, by the re-referencing only
    others = (t.spectral_mid_db - start.spectral_mid_db)[centres < 4000]
    np.testing.assert_allclose(others, others[0])
    assert others[0] < 0.0  # a boost raises the total, so the rest reads lower
    np.testing.assert_allclose(t.width_db - start.width_db, 3.0)
    # the loudness target is where the mix is delivered (-14 LUFS + 3), whatever the start's level:
    # the start is delivered at it already, and moving the start by the word counted it twice
    assert t.loudness_lufs == pytest.approx(-14.0 + 3.0)
    assert t.crest_db == pytest.approx(start.crest_db + 2.0 - 1.0)  # punchy +2, loud trades 1 dB


def test_loudness_target_is_the_delivery_loudness_whatever_the_start(signals):
    ref = style_features(signals["dark"], SR).loudness_lufs
    target = StyleTarget.from_audio(signals["dark"], SR).with_strengths("loudness=0.5").describe("louder")
    expected = -14.0 + 0.5 * (ref + 14.0) + 3.0
    assert target.delivery_loudness() == pytest.approx(expected)
    for name in ("flat", "bright_wide"):
        start = style_features(signals[name], SR)
        assert target.resolve(start).features.loudness_lufs == pytest.approx(expected)


def test_explicit_loudness_overrides_references_and_words(signals):
    start = style_features(signals["flat"], SR)
    t = StyleTarget.from_audio(signals["dark"], SR).describe("louder").with_loudness(-16).resolve(start)
    assert t.features.loudness_lufs == -16.0
    with pytest.raises(InvalidParameterError, match="outside"):
        StyleTarget().with_loudness(-3)


def test_settings_words_are_kept_as_moves_and_tracks_are_checked(signals):
    start = style_features(signals["flat"], SR)
    r = StyleTarget().describe("drier, vocals back").resolve(start, ["vocals", "bass"])
    assert [m.descriptor.word for m in r.moves] == ["dry", "back"]
    np.testing.assert_allclose(r.features.spectral_mid_db, start.spectral_mid_db)
    with pytest.raises(InvalidParameterError, match="no track named 'guitar'"):
        StyleTarget().describe("guitar forward").resolve(start, ["vocals"])


def test_silent_reference_and_silent_start_are_refused(signals):
    with pytest.raises(InvalidParameterError, match="silent"):
        StyleTarget.from_audio(np.zeros((2, SR), np.float32), SR)
    silent = style_features(np.zeros((2, 5 * SR), np.float32), SR)
    with pytest.raises(InvalidParameterError, match="silent"):
        StyleTarget.from_audio(signals["flat"], SR).resolve(silent)
    with pytest.raises(InvalidParameterError, match="positive"):
        StyleTarget.from_audio(signals["flat"], SR, weight=0)


def test_docs_print_the_words_table_as_the_code_has_it():
    from pathlib import Path

    docs = (Path(__file__).resolve().parents[1] / "docs" / "style.md").read_text()
    assert descriptor_table_markdown() in docs
