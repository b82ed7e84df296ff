"""Loudness delivery: reaches the target, honours locks, and hands back the exact full render."""

from __future__ import annotations

import numpy as np
import pytest

from mixassist.audio.multitrack import Multitrack
from mixassist.console.console import Console
from mixassist.console.params import MixParams
from mixassist.measure import integrated_loudness, measure, true_peak
from mixassist.mixers.constraints import Constraints
from mixassist.mixers.decisions import Proposal, Reasons
from mixassist.mixers.deliver import deliver_loudness, limiter_reduction, mix_bus
from signals import asymmetric_bass

SR = 22050


def make_session() -> Multitrack:
    """A kick and a swelling stereo pad, 6 s: peaks well above the body, so limiting bites."""
    rng = np.random.default_rng(7)
    n = 6 * SR
    t = np.arange(n) / SR
    kick = np.zeros(n)
    for k in range(0, n, SR // 2):
        m = min(1500, n - k)
        kick[k : k + m] = 0.9 * np.sin(2 * np.pi * 55 * t[:m]) * np.exp(-t[:m] * 25)
    pad = 0.05 * rng.standard_normal((2, n)) * (1 + np.sin(2 * np.pi * 0.3 * t))
    return Multitrack.from_arrays({"kick": kick.astype(np.float32), "pad": pad.astype(np.float32)}, SR)


@pytest.fixture(scope="module")
def session() -> Multitrack:
    return make_session()


def _params(session: Multitrack) -> MixParams:
    return MixParams(session.names, tracks={"pad": {"reverb_send_db": -10.0}},
                     master={"comp_ratio": 2.0, "comp_threshold_db": -20.0, "limiter_ceiling_dbtp": -1.0})


@pytest.mark.parametrize("target", [-20.0, -14.0, -8.0])  # light to heavy limiting
def test_reaches_the_target_and_returns_the_full_render(session, target):
    params = _params(session)
    result = deliver_loudness(session, params, Constraints(), Reasons(), loudness_lufs=target, true_peak_dbtp=-1.0)
    assert abs(result["integrated_lufs"] - target) < 0.1
    assert result["true_peak_dbtp"] <= -1.0 + 1e-6
    assert result["trials"] <= 5
    full = Console(SR).render(session, params).mix
    np.testing.assert_array_equal(result["mix"], full)
    assert result["settings"] == params
    assert integrated_loudness(full, SR) == pytest.approx(result["integrated_lufs"], abs=1e-9)
    assert true_peak(full, SR) == pytest.approx(result["true_peak_dbtp"], abs=1e-9)


def test_the_report_handed_out_is_the_measurement_of_the_mix(session):
    """The api writes ``report`` into the recipe instead of measuring the mix again: it must be
    exactly ``measure`` of the returned mix."""
    params = _params(session)
    result = deliver_loudness(session, params, Constraints(), Reasons(), loudness_lufs=-12.0, true_peak_dbtp=-1.0)
    assert result["report"] == measure(result["mix"], SR)
    assert result["report"].integrated_lufs == result["integrated_lufs"]


def test_an_earlier_delivery_makes_the_first_trial_land(session):
    params = _params(session)
    first = deliver_loudness(session, params, Constraints(), Reasons(), loudness_lufs=-9.0, true_peak_dbtp=-1.0)
    assert first["limiting_db"] > 1.0  # the limiter works hard here
    again = first["settings"].copy()  # the delivered settings (ceiling lowered for true peak) ...
    again.set_bus("master", "output_gain_db", 0.0)  # ... with the gain back at 0 dB
    second = deliver_loudness(session, again, Constraints(), Reasons(), loudness_lufs=-9.0, true_peak_dbtp=-1.0,
                              previous=first)
    assert second["trials"] == 1
    assert abs(second["integrated_lufs"] + 9.0) < 0.1


def test_a_target_out_of_reach_is_not_tried_again_at_the_bound(session):
    """A session 50 dB too quiet for the target: the gain stops at its +24 dB bound after one
    trial there (the same trial again renders the same mix; it used to run all six), and the mix
    is still the full render, with a note that it missed."""
    quiet = Multitrack.from_arrays({t.name: (t.audio * 10 ** (-50 / 20)).astype(np.float32) for t in session}, SR)
    params, reasons = _params(quiet), Reasons()
    result = deliver_loudness(quiet, params, Constraints(), reasons, loudness_lufs=-8.0, true_peak_dbtp=-1.0)
    assert params.master["output_gain_db"] == 24.0
    assert result["trials"] <= 2
    assert result["integrated_lufs"] < -20.0
    assert any("not the -8.0 LUFS asked" in note for note in reasons.notes)
    assert reasons.get("master", "output_gain_db").startswith("+24.0 dB takes the mix to")  # not "brings it to -8"
    np.testing.assert_array_equal(result["mix"], Console(SR).render(quiet, params).mix)


def test_a_given_bus_is_used_and_a_locked_gain_is_kept(session):
    params = _params(session)
    params.set_bus("master", "output_gain_db", 2.0)
    constraints = Constraints.parse(session.names, ["master.output_gain_db=2"])
    reasons = Reasons()
    bus = mix_bus(session, params, constraints, -1.0)
    result = deliver_loudness(session, params, constraints, reasons, loudness_lufs=-6.0, true_peak_dbtp=-1.0, bus=bus)
    assert params.master["output_gain_db"] == 2.0 and result["trials"] == 1
    assert any("locked" in note for note in reasons.notes)
    np.testing.assert_array_equal(result["mix"], Console(SR).render(session, params).mix)


def test_proposal_hands_out_its_mix_only_for_the_settings_it_renders(session):
    params = _params(session)
    result = deliver_loudness(session, params, Constraints(), Reasons(), loudness_lufs=-14.0, true_peak_dbtp=-1.0)
    proposal = Proposal(params, Reasons(), {}, {}, {}, mix=result["mix"], mix_of=result["settings"])
    assert proposal.rendered() is result["mix"]
    params.set("pad", "gain_db", -1.0)
    assert proposal.rendered() is None


def test_proposal_hands_out_its_report_only_with_the_mix_it_measured(session):
    """A mixer that starts from another's proposal and delivers again replaces ``mix`` (``match``
    does): the first mixer's report must not be handed out with the new mix."""
    params = _params(session)
    result = deliver_loudness(session, params, Constraints(), Reasons(), loudness_lufs=-14.0, true_peak_dbtp=-1.0)
    proposal = Proposal(params, Reasons(), {}, {}, {}, mix=result["mix"], mix_of=result["settings"],
                        mix_report=(result["mix"], result["report"]))
    assert proposal.rendered_report() is result["report"]
    proposal.mix = result["mix"].copy()  # another mix of the same settings, not the one measured
    assert proposal.rendered() is not None and proposal.rendered_report() is None
    proposal.mix = result["mix"]
    params.set("pad", "gain_db", -1.0)
    assert proposal.rendered_report() is None


def test_limiter_reduction_reads_a_known_gain_envelope():
    t = np.arange(SR) / SR
    pre = np.stack([np.sin(2 * np.pi * 440 * t), np.sin(2 * np.pi * 440 * t)]) * 0.5
    envelope = np.where(t < 0.5, 1.0, 0.5)  # the second half turned down by 6.02 dB
    mix = pre * 2.0 * envelope  # +6.02 dB of output gain before it
    found = limiter_reduction(pre, mix, 20 * np.log10(2.0), SR)
    assert found["max"] == pytest.approx(20 * np.log10(2.0), abs=0.01)
    assert found["mean"] == pytest.approx(20 * np.log10(2.0) / 2, abs=0.05)
    assert limiter_reduction(np.zeros((2, SR)), np.zeros((2, SR)), 0.0, SR) is None


def test_delivery_reports_more_limiting_for_a_louder_target(session):
    light, heavy = (
        deliver_loudness(session, _params(session), Constraints(), Reasons(), loudness_lufs=t, true_peak_dbtp=-1.0)
        for t in (-20.0, -8.0)
    )
    assert heavy["limiter_reduction_db"]["max"] > light["limiter_reduction_db"]["max"]
    assert heavy["limiter_reduction_db"]["mean"] > 1.0  # the limiter works hard at -8 LUFS
    assert 0.0 <= heavy["limiter_reduction_db"]["mean"] <= heavy["limiter_reduction_db"]["max"]


def test_delivered_mix_of_a_dc_stem_has_no_dc_and_keeps_the_ceiling():
    """A +0.5 DC stem with an asymmetric waveform, delivered to -9 LUFS under -1 dBTP: DC below
    -80 dBFS on both channels (measured -130; the limiter alone left -79 here), true peak at
    most -1 dBTP, loudness on target."""
    stems = Multitrack.from_arrays(asymmetric_bass(4.0, SR, offset=0.5), SR)
    params = MixParams(stems.names, master={"limiter_ceiling_dbtp": -1.0})
    result = deliver_loudness(stems, params, Constraints(), Reasons(), loudness_lufs=-9.0, true_peak_dbtp=-1.0)
    mix = result["mix"].astype(np.float64)
    assert np.all(20 * np.log10(np.abs(mix.mean(axis=1))) < -80), mix.mean(axis=1)
    assert result["true_peak_dbtp"] <= -1.0 + 1e-6 and true_peak(mix, SR) <= -1.0 + 1e-6
    assert abs(result["integrated_lufs"] + 9.0) < 0.1
    assert result["limiter_reduction_db"]["max"] > 0.5  # the limiter worked


@pytest.fixture()
def excerpts_on(monkeypatch):
    """The excerpt search on the 6-s session: three 0.5-s excerpts after 0.5 s of warm-up each."""
    from mixassist.mixers import deliver

    for name, value in (("EXCERPTS", 3), ("EXCERPT_S", 0.5), ("EXCERPT_WARM_UP_S", 0.5), ("EXCERPT_SHARE", 1)):
        monkeypatch.setattr(deliver, name, value)


def test_master_excerpts_equal_the_full_render_on_their_samples(session, excerpts_on):
    """The delivery's shortcut, the master's tail run on excerpts joined end to end, each after a
    warm-up, against the one console path: the full render's same samples, within 1e-4 of full
    scale (-80 dBFS; measured 1.9e-5 with 0.5 s of warm-up, what the limiter's 100-ms release
    keeps of a join's reduction, on a mix whose limiter takes ~7 dB at -8 LUFS)."""
    from mixassist.mixers.deliver import master_excerpts

    params = _params(session)
    deliver_loudness(session, params, Constraints(), Reasons(), loudness_lufs=-8.0, true_peak_dbtp=-1.0)
    console = Console(SR)
    pre = console.master_pre(console.render_bus(session, params), params)
    starts, pieces = master_excerpts(console, pre, params)
    full = console.render(session, params).mix
    assert len(starts) == 3 and starts[0] >= SR // 2
    for start, piece in zip(starts, pieces, strict=True):
        assert piece.shape == (2, SR // 2)
        np.testing.assert_allclose(piece, full[:, start : start + SR // 2], rtol=0, atol=1e-4)


@pytest.mark.parametrize("target", [-14.0, -8.0])
def test_the_excerpt_search_saves_full_trials_and_still_delivers(session, excerpts_on, target):
    """With the excerpts searched first the full-length trials still decide: on target, under the
    ceiling, the full render bit for bit, in fewer full-length trials than without (5 at -8 LUFS)."""
    params = _params(session)
    result = deliver_loudness(session, params, Constraints(), Reasons(), loudness_lufs=target, true_peak_dbtp=-1.0)
    assert abs(result["integrated_lufs"] - target) < 0.1
    assert result["true_peak_dbtp"] <= -1.0 + 1e-6
    assert result["trials"] <= 3
    np.testing.assert_array_equal(result["mix"], Console(SR).render(session, params).mix)
