"""Every descriptor word moves its measured feature by at least the documented amount, in the
style-match mixer and in ``auto`` (split from test_match.py so the two halves run on different
test workers)."""

from __future__ import annotations

import numpy as np
import pytest
from match_session import SR, four_stems

from mixassist.audio.multitrack import Multitrack
from mixassist.console.console import Console
from mixassist.console.params import MixParams
from mixassist.measure import integrated_loudness
from mixassist.mixers.match import AUTO_STEPS, MatchMixer
from mixassist.style.descriptors import DESCRIPTORS, feature_value
from mixassist.style.target import StyleTarget


@pytest.fixture(scope="module")
def session() -> Multitrack:
    return four_stems()


# ---------------------------------------------------------------------- descriptor words


def _measure(feature: str, session: Multitrack, params: MixParams, style: dict, which: str, tracks=()) -> float:
    return feature_value(feature, style[which])


def _pre_master(session: Multitrack, params: MixParams) -> tuple[np.ndarray, np.ndarray]:
    bare = params.copy()
    for k, v in MixParams(["x"]).master.items():
        bare.master[k] = v
    r = Console(SR).render(session, bare, want_stems=True)
    return r.mix, r.stems


@pytest.mark.parametrize("word", [w for w, d in DESCRIPTORS.items() if d.feature not in ("reverb", "track_level")])
def test_feature_word_moves_its_feature_by_at_least_the_documented_amount(session, word):
    d = DESCRIPTORS[word]
    proposal = MatchMixer(StyleTarget().describe(word), steps=20).propose(session)
    style = proposal.context["style"]
    if d.feature == "loudness":  # the start is delivered at the word's loudness already: against no word
        moved = style["result"]["loudness_lufs"] - StyleTarget().delivery_loudness()
    else:
        moved = _measure(d.feature, session, proposal.params, style, "result") - _measure(d.feature, session, proposal.params, style, "start")
    assert np.sign(moved) == np.sign(d.at_least) and abs(moved) >= abs(d.at_least), (word, moved)


@pytest.mark.parametrize("word", ["bright", "dark", "warm", "wide", "smooth"])
def test_auto_applies_feature_words_too(session, word):
    """``method="auto"`` (the controller's start):
    the word's own feature is a full term of the solver loss, so a few bands' worth of "bright"
    is not lost among the ~27 bands of the tone term (before: bright -0.17 dB, dark +0.02)."""

    d = DESCRIPTORS[word]
    style = MatchMixer(StyleTarget().describe(word), steps=AUTO_STEPS, start_method="neural").propose(session).context["style"]
    moved = feature_value(d.feature, style["result"]) - feature_value(d.feature, style["start"])
    assert np.sign(moved) == np.sign(d.at_least) and abs(moved) >= abs(d.at_least), (word, moved)


def test_word_values_in_the_solver_equal_the_descriptors_measure(session):
    """The solver reads a word's feature from differentiable features as the tests read it from
    the plain ones (one function, tensors in, tensors out)."""
    import torch

    from mixassist.mixers.match_loss import WORD_FEATURES as _WORD_FEATURES
    from mixassist.style.features import style_features, style_features_torch

    mix = Console(SR).render(session, MixParams(session.names)).mix
    plain = style_features(mix, SR)
    x = torch.from_numpy(mix.astype(np.float64)).requires_grad_()
    tensors = style_features_torch(x, SR)
    for feature in _WORD_FEATURES:
        value = feature_value(feature, tensors)
        assert float(value.detach()) == pytest.approx(feature_value(feature, plain), abs=0.05), feature
        assert torch.autograd.grad(value, x, retain_graph=True)[0].abs().sum() > 0, feature


@pytest.mark.parametrize("word", ["wet", "dry"])
def test_reverb_words_move_the_wet_to_dry_ratio(session, word):
    start = MatchMixer(StyleTarget().describe("brighter"), steps=0).propose(session).params
    moved = MatchMixer(StyleTarget().describe(f"brighter, {word}"), steps=0).propose(session).params

    def ratio(params):
        full, _ = _pre_master(session, params)
        dry_params = params.copy()
        dry_params.set_bus("reverb", "return_db", -60.0)
        dry, _ = _pre_master(session, dry_params)
        return 10 * np.log10(np.sum((full - dry) ** 2) / np.sum(dry**2))

    change = ratio(moved) - ratio(start)
    d = DESCRIPTORS[word]
    assert np.sign(change) == np.sign(d.at_least) and abs(change) >= abs(d.at_least), change


@pytest.mark.parametrize("word", ["forward", "back"])
def test_track_words_move_the_track_against_the_rest(session, word):
    def level(params):
        _, stems = _pre_master(session, params)
        i = params.track_names.index("lead")
        rest = stems.sum(axis=0) - stems[i]
        return integrated_loudness(stems[i], SR) - integrated_loudness(rest, SR)

    start = MatchMixer(StyleTarget().describe("brighter"), steps=0).propose(session).params
    moved = MatchMixer(StyleTarget().describe(f"brighter, lead {word}"), steps=0).propose(session).params
    change = level(moved) - level(start)
    d = DESCRIPTORS[word]
    assert np.sign(change) == np.sign(d.at_least) and abs(change) >= abs(d.at_least), change
