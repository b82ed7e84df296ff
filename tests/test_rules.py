"""The knowledge-based mixer on the demo and on awkward sessions (done-when of issue 5)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import mixassist
from mixassist.api import mix
from mixassist.measure import perception
from mixassist.measure.perception import phon_to_sone
from mixassist.measure import correlation, integrated_loudness, true_peak
from mixassist.audio.multitrack import Multitrack, load_multitrack
from mixassist.console.console import Console
from mixassist.mixers.balance import ROLE_WINDOW_PHON
from mixassist.mixers.reverb import estimate_tempo_bpm
from mixassist.mixers.rules import RulesMixer
from mixassist.recipe import Recipe

DEMO = Path(__file__).parent.parent / "examples" / "demo" / "stems"
SR = 44100


def shares_in_mix(stems: np.ndarray, sample_rate: int) -> np.ndarray:
    """Each track's share of the summed partial loudness, from rendered stems (same model)."""
    m = perception.masking_measure(stems, sample_rate)
    partial = phon_to_sone(m["partial_phon"])
    return partial / partial.sum()


@pytest.fixture(scope="module")
def demo():
    stems = load_multitrack(DEMO)
    return stems, mix(stems, lock=["lead.pan=0.1", "keys.gain_db=-2.5", "hats.*"])


def test_demo_meets_loudness_true_peak_and_correlation(demo):
    stems, result = demo
    assert integrated_loudness(result.mix, SR) == pytest.approx(-14.0, abs=0.5)
    assert true_peak(result.mix, SR) <= -1.0 + 1e-3
    assert correlation(result.mix) > 0
    assert result.measured["integrated_lufs"] == pytest.approx(integrated_loudness(result.mix, SR), abs=0.01)


def test_demo_every_track_audible_in_its_role_window(demo):
    stems, result = demo
    params = result.params
    rendered = Console(SR).render(stems, params, want_stems=True)
    shares = shares_in_mix(rendered.stems, SR)
    for i, name in enumerate(params.track_names):
        target = result.recipe.measured[name]["balance"]["target_share"]
        assert abs(10 * np.log2(shares[i] / target)) <= ROLE_WINDOW_PHON, (name, shares[i], target)


def test_demo_locks_are_kept_exactly(demo):
    _, result = demo
    p = result.params
    assert p.get("lead", "pan") == 0.1
    assert p.get("keys", "gain_db") == -2.5
    from mixassist.console.params import MixParams

    assert p.tracks["hats"] == MixParams(["hats"]).tracks["hats"]
    assert result.proposal.why("lead")["pan"] == "locked by you"
    assert result.recipe.locked["keys"] == ["gain_db"]


def test_demo_decisions_follow_the_rules(demo):
    _, result = demo
    p, roles = result.params, result.recipe.roles
    assert roles["lead"] == "lead" and roles["bass"] == "bass" and roles["kick"] == "drums"
    for name in ("kick", "bass"):
        assert p.get(name, "hpf_hz") is None  # never high-pass bass-range sources
        assert p.get(name, "pan") == 0.0
    assert p.get("snare", "pan") == 0.0
    # a reason for every setting that moved from neutral
    neutral = mixassist.console.params.MixParams(p.track_names)
    for name in p.track_names:
        for key, value in p.tracks[name].items():
            if value != neutral.tracks[name][key] and key.startswith(("gain", "pan", "hpf", "comp_ratio", "reverb")):
                assert result.proposal.why(name).get(key), (name, key)
    assert p.master["limiter_ceiling_dbtp"] is not None and p.master["limiter_ceiling_dbtp"] <= -1.0


def test_saved_recipe_rerenders_the_same_audio(demo, tmp_path):
    stems, result = demo
    paths = result.save(tmp_path / "out")
    # report.html and the previews/ folder: issue 21
    assert {p.name for p in paths.values()} == {"mix.wav", "recipe.json", "report.md", "report.html", "previews"}
    data = json.loads(paths["recipe"].read_text())
    # 3 (issue 20): dc_block; 4 (issue 24): lanes; 5 (issue 19): low-pass, drive, mid/side width
    assert data["version"] == 5 and data["context"]["method"] == "rules"
    assert data["dc_block"] is True
    assert all(t["why"] for t in data["tracks"])
    recipe = Recipe.load(paths["recipe"])
    again = Console(recipe.sample_rate).render(recipe.load_stems(), recipe.params).mix
    np.testing.assert_array_equal(again, result.mix)
    report = paths["report"].read_text()
    assert "## What was done, and why" in report and "LUFS" in report
    lead_row = next(line for line in report.splitlines() if line.startswith("| lead |"))
    share = result.recipe.measured["lead"]["balance"]["share"]
    assert f"{100 * share:.0f} %" in lead_row  # the table shows the measured share, not a dash
    with pytest.raises(mixassist.OutputError, match="already exists"):
        result.save(tmp_path / "out")


def test_tempo_of_a_click_track():
    n = 12 * SR
    x = np.zeros((1, n), np.float32)
    period = int(SR * 60 / 123)
    for s in range(0, n - 200, period):
        x[0, s : s + 200] = np.hanning(200)
    bpm = estimate_tempo_bpm(Multitrack.from_arrays({"click": x}, SR), ["click"])
    assert bpm == pytest.approx(123, abs=1.5)
    assert estimate_tempo_bpm(Multitrack.from_arrays({"quiet": np.zeros((1, n), np.float32)}, SR), []) is None


# ---------------------------------------------------------------------- awkward sessions


def _tone(freq, seconds, rng, level=0.1, channels=1):
    t = np.arange(int(seconds * SR)) / SR
    env = 0.6 + 0.4 * np.sin(2 * np.pi * rng.uniform(0.3, 2) * t) ** 2
    x = level * env * np.sin(2 * np.pi * freq * t + rng.uniform(0, 6)) + 0.01 * level * rng.standard_normal(t.size)
    return np.repeat(x[None], channels, axis=0).astype(np.float32)


def test_silent_stem_is_reported_and_left_out(rng):
    mt = Multitrack.from_arrays({"vox": _tone(220, 4, rng), "gtr": _tone(330, 4, rng), "dead": np.zeros((1, 4 * SR), np.float32)}, SR)
    result = mix(mt)
    assert any("dead is silent" in n for n in result.proposal.reasons.notes)
    assert result.params.get("dead", "gain_db") == 0.0
    assert "balance" not in result.recipe.measured["dead"]
    assert integrated_loudness(result.mix, SR) == pytest.approx(-14.0, abs=0.5)


def test_single_stem(rng):
    result = mix(Multitrack.from_arrays({"only": _tone(440, 4, rng, channels=2)}, SR))
    assert integrated_loudness(result.mix, SR) == pytest.approx(-14.0, abs=0.5)
    assert true_peak(result.mix, SR) <= -1.0 + 1e-3


def test_very_different_lengths_mix(rng):
    mt = Multitrack.from_arrays({"long": _tone(200, 8, rng), "short": _tone(800, 0.5, rng)}, SR)
    result = mix(mt)
    assert result.mix.shape == (2, 8 * SR)
    assert integrated_loudness(result.mix, SR) == pytest.approx(-14.0, abs=0.5)


def test_all_silent_session_gives_neutral_settings():
    mt = Multitrack.from_arrays({"a": np.zeros((1, SR), np.float32), "b": np.zeros((2, SR), np.float32)}, SR)
    result = mix(mt)
    assert not np.any(result.mix)
    assert any("silent" in n for n in result.proposal.reasons.notes)


@pytest.mark.slow
def test_64_stems(rng):
    arrays = {f"t{i:02d}": _tone(80 * 1.07**i, 3, rng, level=rng.uniform(0.01, 0.3), channels=1 + i % 2) for i in range(64)}
    result = mix(Multitrack.from_arrays(arrays, SR))
    assert integrated_loudness(result.mix, SR) == pytest.approx(-14.0, abs=0.5)
    assert true_peak(result.mix, SR) <= -1.0 + 1e-3
    gains = [result.params.get(n, "gain_db") for n in arrays]
    assert max(gains) - min(gains) < 60


def test_bad_settings_are_refused(rng):
    mt = Multitrack.from_arrays({"vox": _tone(220, 2, rng)}, SR)
    with pytest.raises(mixassist.InvalidParameterError, match="outside -40"):
        RulesMixer(loudness_lufs=3.0)
    with pytest.raises(mixassist.InvalidParameterError, match="unknown method"):
        mix(mt, method="magic")
    with pytest.raises(mixassist.InvalidParameterError, match="no track matches"):
        mix(mt, lock=["vocals.gain_db=0"])


# --------------------------------------------------------------------------- the high-pass (issue 20)


def _high_pass_of(name: str, role: str, audio: np.ndarray, sample_rate: int = 22050):
    """Run the rules mixer's high-pass decision on one synthetic track: (hpf_hz, reason)."""
    from mixassist.console.params import MixParams
    from mixassist.mixers.analysis import analyse_track
    from mixassist.mixers.constraints import Constraints
    from mixassist.mixers.corrective import high_pass
    from mixassist.mixers.decisions import Reasons
    from mixassist.mixers.roles import RoleGuess
    from mixassist.mixers.sources import RuleTrack

    track = RuleTrack(name, analyse_track(name, audio, sample_rate), RoleGuess(role, "user", "test"), 1)
    params, reasons = MixParams([name]), Reasons()
    high_pass(track, params, Constraints(), reasons)
    return params.get(name, "hpf_hz"), reasons.get(name, "hpf_hz"), track.analysis


def _tone_mix(freqs_hz: list[float], seconds: float = 2.0, sample_rate: int = 22050) -> np.ndarray:
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    return sum(0.2 * np.sin(2 * np.pi * f * t) for f in freqs_hz)[None]


def test_dc_offset_is_rumble_not_content():
    """pad.flac's case: +0.022 DC used to read as "useful content down to 0 Hz" and skip the high-pass."""
    audio = _tone_mix([220.0, 330.0, 440.0]) + 0.022
    hpf, why, analysis = _high_pass_of("pad", "pad", audio)
    assert analysis.low_cut_hz is not None and analysis.low_cut_hz > 150  # DC is not content
    assert analysis.dc_offset == pytest.approx(0.022, abs=1e-4)
    assert hpf is not None and 80.0 <= hpf <= 200.0
    assert "DC offset (+0.0220" in why


def test_rumble_below_the_role_floor_is_cut():
    """The snare's case: energy down to ~27 Hz is rumble under a snare, not a reason to skip the
    high-pass; the corner is at least the role's floor and the reason says so."""
    from mixassist.mixers.corrective import HPF_MIN_HZ

    audio = _tone_mix([27.0, 200.0, 1800.0])
    hpf, why, analysis = _high_pass_of("snare", "drums", audio)
    assert analysis.low_cut_hz < 40
    assert hpf == HPF_MIN_HZ["drums"] == 60.0
    assert "lowest corner for a drums track" in why and "rumble" in why
    hpf, why, _ = _high_pass_of("pad", "pad", _tone_mix([30.0, 220.0]))
    assert hpf == HPF_MIN_HZ["pad"]


def test_infrasonic_power_is_named_in_the_reason():
    audio = _tone_mix([8.0, 440.0, 880.0])  # 8 Hz: one third of the power, far below any part
    hpf, why, analysis = _high_pass_of("keys", "chords", audio)
    assert analysis.sub_20hz_percent == pytest.approx(100 / 3, abs=3)
    assert analysis.low_cut_hz > 300
    assert hpf == 200.0  # 0.8 x ~440 Hz, capped for chords
    assert "of its power below 20 Hz" in why


def test_content_above_the_floor_sets_the_corner_as_before():
    hpf, why, _ = _high_pass_of("lead", "lead", _tone_mix([125.0, 250.0, 500.0]))
    assert 90.0 <= hpf <= 120.0  # 0.8 x the lowest useful content (~118 Hz with the Welch leakage), under the cap
    assert "only 0.1 %" in why


def test_bass_and_kick_get_no_high_pass_but_their_dc_is_named():
    for name, role in (("bass", "bass"), ("kick", "drums")):
        hpf, why, _ = _high_pass_of(name, role, _tone_mix([45.0, 90.0]) + 0.01)
        assert hpf is None
        assert "DC blocker" in why and "+0.0100" in why


@pytest.mark.slow  # a whole rules mix (about 30 s of CPU); test_console checks the console alone fast
def test_a_stem_with_half_full_scale_dc_leaves_no_dc_in_the_rules_mix():
    """Issue 20: a stem with +0.5 DC gave a mix with +0.507 DC at -14.8 LUFS; now the mix's mean
    is below -80 dBFS on both channels and the loudness target is met."""
    sr, n = 22050, 4 * 22050
    rng = np.random.default_rng(3)
    t = np.arange(n) / sr
    env = np.exp(-((t % 0.5) * 8))
    stems = Multitrack.from_arrays(
        {
            "pad": (0.5 + 0.1 * np.sin(2 * np.pi * 440 * t) + 0.05 * rng.standard_normal(n)).astype(np.float32),
            "hats": (0.2 * rng.standard_normal(n) * env).astype(np.float32),
            "keys": (0.15 * np.sin(2 * np.pi * 660 * t) * (1 + env)).astype(np.float32),
        },
        sr,
    )
    result = mix(stems, method="rules", align=False)
    offset = result.mix.astype(np.float64).mean(axis=1)
    assert np.all(20 * np.log10(np.abs(offset)) < -80), offset
    assert integrated_loudness(result.mix, sr) == pytest.approx(-14.0, abs=0.5)
    assert result.params.dc_block
