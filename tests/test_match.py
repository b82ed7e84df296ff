"""The style-match mixer: moves toward a reference, honours locks, is deterministic, and picks
``auto`` with context (the descriptor words are in test_match_words.py)."""

from __future__ import annotations

import numpy as np
import pytest
from match_session import SR, four_stems

from mixassist.api import mix
from mixassist.audio.io import save_audio
from mixassist.audio.multitrack import Multitrack
from mixassist.cli import main
from mixassist.console.console import Console
from mixassist.console.params import MixParams
from mixassist.errors import InvalidParameterError
from mixassist.measure import integrated_loudness, true_peak
from mixassist.mixers.constraints import Constraints
from mixassist.mixers.match import AUTO_STEPS, MatchMixer, select_excerpts, solve_decimation
from mixassist.style import style_distance
from mixassist.style.features import StyleFeatures
from mixassist.style.target import StyleTarget


@pytest.fixture(scope="module")
def session() -> Multitrack:
    return four_stems()


@pytest.fixture(scope="module")
def reference() -> np.ndarray:
    """The same kind of song, mixed bright, wide and loud (a different seed: different content)."""
    other = four_stems(seed=11)
    params = MixParams(other.names, tracks={"keys": {"width": 1.8, "gain_db": 3.0}, "hats": {"pan": 0.7, "gain_db": 4.0},
                                            "bass": {"gain_db": -4.0}},
                       master={"eq_high_shelf_db": 6.0, "eq_high_shelf_hz": 4000.0, "output_gain_db": 6.0,
                               "limiter_ceiling_dbtp": -1.0})
    return Console(SR).render(other, params).mix


@pytest.fixture(scope="module")
def matched(session, reference):
    return MatchMixer(StyleTarget.from_audio(reference, SR)).propose(session)


def _features(d: dict) -> StyleFeatures:
    return StyleFeatures.from_dict(d)


def test_match_moves_toward_the_reference_and_delivers(session, matched):
    style = matched.context["style"]
    start, target = _features(style["start"]), _features(style["target"])
    result = _features(style["result"])
    before, after = style_distance(start, target), style_distance(result, target)
    assert after["total"] < 0.7 * before["total"], (before, after)
    mixed = Console(SR).render(session, matched.params).mix
    assert integrated_loudness(mixed, SR) == pytest.approx(target.loudness_lufs, abs=0.5)
    assert true_peak(mixed, SR) <= -1.0 + 1e-3
    assert matched.context["solver"]["steps"] >= 5
    assert matched.method == "match"


def test_every_changed_setting_says_why(matched):
    changed = [(t, p) for t in matched.params.track_names for p in ("gain_db", "pan", "eq_high_shelf_db")
               if "style match" in (matched.reasons.get(t, p) or "")]
    assert changed, "the solve changed no track setting"
    for t, p in changed:
        assert "→" in matched.reasons.get(t, p)
        # the sentence names what it moved toward (a reference without a file name: "the reference")
        assert matched.reasons.get(t, p).endswith("toward the style of the reference"), matched.reasons.get(t, p)


def test_locks_are_kept_exactly(session, reference):
    constraints = Constraints.parse(session.names, lock=["lead.gain_db=-7.25", "keys.*", "master.eq_high_shelf_db=-2"])
    p = MatchMixer(StyleTarget.from_audio(reference, SR), steps=8).propose(session, constraints).params
    assert p.get("lead", "gain_db") == -7.25
    assert p.master["eq_high_shelf_db"] == -2.0
    assert p.tracks["keys"] == MixParams(session.names).tracks["keys"]


def test_same_seed_same_mix(session, reference):
    a = MatchMixer(StyleTarget.from_audio(reference, SR), steps=6, seed=5).propose(session).params
    b = MatchMixer(StyleTarget.from_audio(reference, SR), steps=6, seed=5).propose(session).params
    assert a == b


def test_time_budget_stops_the_solver(session, reference):
    p = MatchMixer(StyleTarget.from_audio(reference, SR), steps=200, time_budget_s=1e-3).propose(session)
    assert p.context["solver"]["steps"] <= 1


def test_excerpts_and_decimation():
    mix = np.zeros((2, 100 * 1000), np.float32)
    mix[:, 60_000:70_000] = 1.0
    windows = select_excerpts(mix, 1000, 3, 5.0)
    assert len(windows) == 3 and all(b - a == 5000 for a, b in windows)
    assert any(a < 70_000 and b > 60_000 for a, b in windows)  # the loud part is in
    assert windows == sorted(windows)
    assert select_excerpts(mix[:, :9000], 1000, 3, 5.0) == [(0, 9000)]
    assert solve_decimation(44100) == 2 and solve_decimation(22050) == 1 and solve_decimation(96000) == 4


# ---------------------------------------------------------------------- API and CLI


def test_api_picks_auto_with_context_and_refuses_bad_words_before_work(session, reference):
    with pytest.raises(InvalidParameterError, match="no track named 'guitar'"):
        mix(session, describe="guitar forward")
    with pytest.raises(InvalidParameterError, match="unknown method"):
        mix(session, describe="brighter", method="magic")
    result = mix(session, describe="drier", method="rules")
    assert result.proposal.method == "rules"
    assert any("not used" in n for n in result.proposal.reasons.notes)
    assert mix(session, describe="drier").proposal.method == "auto"
    assert mix(session).proposal.method == "rules"


def test_cli_mix_with_reference_writes_the_style_report_and_plot(tmp_path, session, reference):
    stems_dir = tmp_path / "stems"
    stems_dir.mkdir()
    for t in session:
        save_audio(stems_dir / f"{t.name}.wav", t.audio, SR, 24)
    ref = tmp_path / "ref.wav"
    save_audio(ref, reference, SR, 24)
    out = tmp_path / "out"
    with pytest.raises(SystemExit) as exc:
        main(["mix", str(stems_dir), "-o", str(out), "--reference", f"{ref}:0.5", "--describe", "lead forward",
              "--match", "width=0.5", "--time-budget", "5"])
    assert exc.value.code in (0, None)
    report = (out / "report.md").read_text()
    assert "## Style: this mix against its target" in report and "'lead forward'" in report
    assert (out / "style.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cli_unknown_word_is_one_line_exit_2(tmp_path, session, capsys):
    stems_dir = tmp_path / "stems"
    stems_dir.mkdir()
    save_audio(stems_dir / "bass.wav", session["bass"].audio, SR, 24)
    with pytest.raises(SystemExit) as exc:
        main(["mix", str(stems_dir), "-o", str(tmp_path / "o"), "--describe", "sparkly"])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert "unknown word 'sparkly'" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "o").exists()


def test_auto_without_words_strengths_or_locks_is_the_controllers_mix(session, reference):
    """The controller's mix already carries the reference's style for this song; chasing the
    reference itself made every validation mix worse (docs/model-card.md), so nothing is solved."""
    from mixassist.mixers.neural import NeuralMixer

    target = StyleTarget.from_audio(reference, SR)
    auto = MatchMixer(target, start_method="neural").propose(session)
    assert auto.context["solver"]["steps"] == 0 and auto.context["style"]["aim"] is None
    assert any("the style solver was not run" in n for n in auto.reasons.notes)
    neural = NeuralMixer(target).propose(session)
    assert auto.params == neural.params
    np.testing.assert_array_equal(auto.rendered(), neural.rendered())  # no second delivery either


def _style_gap(features: StyleFeatures, aim: StyleFeatures) -> float:
    """The style distance without loudness (delivered, not solved)."""
    return style_distance(features, aim, {"loudness_lu": 0.0})["total"]


def test_auto_strength_below_one_moves_toward_the_controllers_plain_mix(session, reference):
    """``tone=0``: the tone aim is the controller's mix with no reference; the other attributes
    keep the start's (strength 1)."""
    from mixassist.mixers.neural import NeuralMixer
    from mixassist.style.features import style_features

    target = StyleTarget.from_audio(reference, SR)
    plain = style_features(NeuralMixer(StyleTarget(), loudness_lufs=target.delivery_loudness()).propose(session).mix, SR)
    half = MatchMixer(target.with_strengths("tone=0"), steps=1, start_method="neural").propose(session).context["style"]
    aim, start = _features(half["aim"]["features"]), _features(half["start"])
    np.testing.assert_allclose(aim.spectral_mid_db, plain.spectral_mid_db, atol=1e-6)
    assert aim.width_overall_db == start.width_overall_db and aim.crest_db == start.crest_db
    np.testing.assert_array_equal(aim.width_db, start.width_db)

    # The solver runs and lowers its loss toward that aim. (On this 5 s toy session the whole-song
    # distance does not follow the excerpts' reliably; on real songs it does:
    # scripts/check_auto_aims.py, figures in docs/style.md.)
    solver = MatchMixer(target.with_strengths("tone=0,width=0,dynamics=0"), steps=AUTO_STEPS,
                        start_method="neural").propose(session).context["solver"]
    assert solver["steps"] > 1 and min(solver["loss"]) < 0.9 * solver["loss"][0], solver["loss"]


def test_auto_plain_aim_of_a_long_song_is_measured_on_excerpts(session, reference):
    """A song at least PLAIN_EXCERPT_SHARE times the solver's excerpts (here 1 x 3.5 s in 15 s):
    the plain aim is the start mix plus what the plain settings change on the excerpts, with no
    whole-song mix of them. It lands near the whole plain mix's mid balance, much nearer than the
    start it blends from."""
    from mixassist.mixers.neural import NeuralMixer
    from mixassist.style.features import style_features

    target = StyleTarget.from_audio(reference, SR)
    session = Multitrack.from_arrays({t.name: np.concatenate([t.audio] * 3, axis=1) for t in session}, SR)
    plain = style_features(NeuralMixer(StyleTarget(), loudness_lufs=target.delivery_loudness()).propose(session).mix, SR)
    mixer = MatchMixer(target.with_strengths("tone=0"), steps=1, start_method="neural", excerpts=1, excerpt_s=3.5)
    style = mixer.propose(session).context["style"]
    aim, start = _features(style["aim"]["features"]), _features(style["start"])
    off, span = np.abs(aim.spectral_mid_db - plain.spectral_mid_db), np.abs(start.spectral_mid_db - plain.spectral_mid_db)
    assert np.mean(off) < 0.35 * np.mean(span), (np.mean(off), np.mean(span))
    assert not np.array_equal(aim.spectral_mid_db, plain.spectral_mid_db)  # not the whole-song mix
    assert aim.crest_db == start.crest_db  # strength 1 for the dynamics: the start's


def test_auto_re_solves_the_rest_around_a_lock(session, reference):
    """A fader locked far from the controller's choice: the free settings move the mix back
    toward the style of the controller's unlocked mix, and the lock stays exactly."""
    target = StyleTarget.from_audio(reference, SR)
    constraints = Constraints.parse(session.names, lock=["lead.gain_db=-30", "hats.gain_db=8"])
    proposal = MatchMixer(target, steps=AUTO_STEPS, start_method="neural").propose(session, constraints)
    assert proposal.params.get("lead", "gain_db") == -30.0 and proposal.params.get("hats", "gain_db") == 8.0
    style = proposal.context["style"]
    assert "without the locks" in style["aim"]["toward"]
    before, after = _style_gap(_features(style["start"]), _features(style["target"])), _style_gap(_features(style["result"]), _features(style["target"]))
    assert after < 0.8 * before, (before, after)
    assert any("style match" in (proposal.reasons.get(t, "gain_db") or "") for t in ("bass", "keys"))
