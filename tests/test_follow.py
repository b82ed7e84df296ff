"""The closed loop (``auto`` with a reference, :mod:`mixassist.mixers.follow`): the mix's features
move toward what the reference states, locks hold exactly, the fidelity rows agree with their
tolerances, and every mix keeps a true-peak margin on an independent 8x oversampled meter."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.signal

from mixassist.audio.multitrack import Multitrack
from mixassist.console.params import MixParams
from mixassist.measure import measure, reference_features
from mixassist.mixers.base import MixRequest, build_mixer
from mixassist.mixers.constraints import Constraints
from mixassist.mixers.decisions import Reasons
from mixassist.mixers.deliver import TRUE_PEAK_MARGIN_DB, deliver_loudness
from mixassist.mixers.follow import AUTO_TONE_STRENGTH, SAME_SONG_MATCH, FollowMixer
from mixassist.mixers.neural import NeuralMixer
from mixassist.style.target import StyleTarget

SR = 22050
SECONDS = 2.5


def _session(
    seed: int = 5, beat_hz: float = 2.0, chord_hz: tuple[float, ...] = (262, 330, 392), seconds: float = SECONDS
) -> Multitrack:
    rng = np.random.default_rng(seed)
    n = int(seconds * SR)
    t = np.arange(n) / SR
    beat = (np.sin(2 * np.pi * beat_hz * t) > 0).astype(float)
    bass = (0.5 * np.sin(2 * np.pi * 55 * t) + 0.2 * np.sin(2 * np.pi * 110 * t)) * (0.4 + 0.6 * beat)
    chord = sum(np.sin(2 * np.pi * f * t + p) for f, p in zip(chord_hz, (0.0, 1.0, 2.0)))
    keys = 0.1 * np.stack([chord + 0.3 * rng.standard_normal(n), chord + 0.3 * rng.standard_normal(n)])
    hats = 0.2 * np.diff(rng.standard_normal(n + 1)) * np.exp(-((t * 8) % 1.0) * 30)
    tracks = {"bass": bass[None], "keys": keys, "hats": hats[None]}
    return Multitrack.from_arrays({k: v.astype(np.float32) for k, v in tracks.items()}, SR)


def _reference(session: Multitrack, kind: str) -> np.ndarray:
    """A reference made from the session's own sum: nearly mono, hard-limited, or dark."""
    x = sum(np.broadcast_to(t.audio, (2, t.audio.shape[-1])).astype(np.float64) for t in session)
    if kind == "narrow":
        x = np.stack([x.mean(0)] * 2) + 0.003 * np.random.default_rng(1).standard_normal(x.shape)
    elif kind == "dense":
        x = np.tanh(4 * x / np.abs(x).max())
    elif kind == "dark":
        x = scipy.signal.sosfilt(scipy.signal.butter(2, 1500, fs=SR, output="sos"), x)
    return (0.5 * x / np.abs(x).max()).astype(np.float32)


def _true_peak_8x(x: np.ndarray) -> float:
    """Independent true peak: 8x polyphase oversampling (scipy), dBTP."""
    up = scipy.signal.resample_poly(x.astype(np.float64), 8, 1, axis=-1)
    return float(20 * np.log10(np.max(np.abs(up))))


@pytest.fixture(scope="module")
def session() -> Multitrack:
    return _session()


@pytest.fixture(scope="module")
def followed(session):
    """Each reference followed once from the controller's mix (the first stage here is ``neural``,
    which ``auto`` runs first too; the style solver adds nothing without words or strengths). The
    dark run locks the master's high shelf and a fader."""
    out = {}
    for kind in ("narrow", "dense", "dark"):
        target = StyleTarget.from_audio(_reference(session, kind), SR)
        lock = ["master.eq_high_shelf_db=1.5", "keys.gain_db=-7"] if kind == "dark" else []
        constraints = Constraints.parse(session.names, lock=lock)
        mixer = FollowMixer(target, NeuralMixer(target))
        out[kind] = mixer.propose(session, constraints)
    return out


def _start_and_end(proposal, key: str) -> tuple[float, float, float]:
    fidelity = proposal.context["fidelity"]
    start = next(r for r in fidelity["start_rows"] if r["key"] == key)
    end = next(r for r in fidelity["rows"] if r["key"] == key)
    return start["reference"], start["mix"], end["mix"]


def test_auto_with_a_reference_is_the_closed_loop():
    target = StyleTarget.from_audio(np.zeros((2, SR), np.float32) + 0.1, SR)
    mixer = build_mixer(MixRequest(target=target, method="auto"))
    assert isinstance(mixer, FollowMixer)
    # the tone follows AUTO_TONE_STRENGTH of the way, in the first stage and the loop alike, times --match tone
    assert AUTO_TONE_STRENGTH == 0.5
    assert mixer.target.strengths["tone"] == 0.5 and mixer.first.target.strengths["tone"] == 0.5
    assert mixer.target.strengths["width"] == 1.0 and mixer.target.strengths["dynamics"] == 1.0
    half = build_mixer(MixRequest(target=target.with_strengths("tone=0.5"), method="auto"))
    assert half.target.strengths["tone"] == 0.25
    # words alone: nothing to follow, the first stage keeps the strengths as given
    words = build_mixer(MixRequest(target=StyleTarget().describe("brighter"), method="auto"))
    assert words.target.strengths["tone"] == 1.0 and words.first.target.strengths["tone"] == 1.0


def test_a_narrow_reference_makes_the_mix_narrower(followed):
    ref, start, end = _start_and_end(followed["narrow"], "width_db.overall")
    assert end < start - 6.0 and abs(end - ref) < abs(start - ref) and abs(end - ref) <= 1.5, (ref, start, end)
    assert followed["narrow"].params.master["side_gain_db"] < 0


def test_a_dense_reference_lowers_the_plr(followed):
    ref, start, end = _start_and_end(followed["dense"], "plr_db")
    assert end < start - 2.0 and abs(end - ref) < abs(start - ref), (ref, start, end)


def test_a_dark_reference_darkens_the_mid_balance_and_locks_hold(followed):
    proposal = followed["dark"]
    for key in ("mid_band_db.4-6.3 kHz", "mid_band_db.8-16 kHz"):
        ref, start, end = _start_and_end(proposal, key)
        assert end < start - 3.0 and abs(end - ref) < abs(start - ref), (key, ref, start, end)
    assert proposal.params.master["eq_high_shelf_db"] == 1.5 and proposal.params.get("keys", "gain_db") == -7.0
    assert proposal.mix_of.master["eq_high_shelf_db"] == 1.5  # the mix handed out was rendered with them
    assert proposal.reasons.get("master", "eq_high_shelf_db") == "locked by you"
    for band in ("low_shelf", "peak1", "peak2", "peak3", "peak4"):  # each reason states its own setting
        why = proposal.reasons.get("master", f"eq_{band}_db") or ""
        if "tonal balance follows" in why:
            assert why.startswith(f"{proposal.params.master[f'eq_{band}_db']:+.1f} dB"), (band, why)


def test_rows_agree_with_their_tolerances_and_every_miss_says_why(followed):
    for proposal in followed.values():
        rows = proposal.context["fidelity"]["rows"]
        assert rows
        for r in rows:
            if r["ok"] is None:
                continue
            assert r["ok"] == (abs(r["mix"] - r["reference"]) <= r["tolerance"] + 0.011), r  # values rounded to 0.01
            assert bool(r["reason"]) != r["ok"], r
        # the rows describe the mix handed out
        again = reference_features(proposal.rendered(), SR)
        width = next(r for r in rows if r["key"] == "width_db.overall")
        assert width["mix"] == pytest.approx(again["width_db"]["overall"], abs=0.01)


def test_every_followed_mix_keeps_the_true_peak_margin_on_two_meters(followed):
    for proposal in followed.values():
        mix = proposal.rendered()
        assert measure(mix, SR).true_peak_dbtp <= -1.0
        assert _true_peak_8x(mix) <= -1.0
        # the measurement handed on with the mix (the api writes it instead of measuring again) is
        # exactly that mix's, whether the loop kept the start's mix or its own
        assert proposal.rendered_report() == measure(mix, SR)


def test_inter_sample_peaks_stay_under_the_ceiling_on_an_independent_8x_meter():
    """A signal built for inter-sample peaks: a sine at a quarter of the rate sampled 45° off its
    crests (its samples read 3 dB under its peaks) and a clipped square wave, driven hard into the
    limiter."""
    n = 3 * SR
    t = np.arange(n)
    quarter = np.sin(np.pi / 2 * t + np.pi / 4)
    square = np.clip(3 * np.sin(2 * np.pi * 2950 / SR * t), -1, 1)
    stems = Multitrack.from_arrays({"isp": (0.35 * quarter + 0.35 * square).astype(np.float32)[None]}, SR)
    params = MixParams(stems.names, master={"limiter_ceiling_dbtp": -1.0})
    reasons = Reasons()
    result = deliver_loudness(stems, params, Constraints(), reasons, loudness_lufs=-9.0, true_peak_dbtp=-1.0)
    mix = result["mix"]
    assert measure(mix, SR).true_peak_dbtp <= -1.0 - TRUE_PEAK_MARGIN_DB + 0.05
    assert _true_peak_8x(mix) <= -1.0
    assert params.master["limiter_ceiling_dbtp"] <= -1.0 - TRUE_PEAK_MARGIN_DB
    assert "margin" in (reasons.get("master", "limiter_ceiling_dbtp") or "")


def test_a_reference_that_is_a_mix_of_these_stems_is_followed_band_by_band():
    """A darker mix of the session's own stems (9 s: recording_match needs 8 s of overlap) is read
    as a mix of these stems: the loop says so, records the match, and aims the tone band by band
    (the aim is the reference itself, tone strength 1). The 2.5-s sessions above are too short to
    tell, so they are followed as another song (next test)."""
    long = _session(seconds=9.0)
    target = StyleTarget.from_audio(_reference(long, "dark"), SR)
    proposal = FollowMixer(target, NeuralMixer(target)).propose(long, Constraints())
    fidelity = proposal.context["fidelity"]
    assert fidelity["recording_match"] >= SAME_SONG_MATCH
    assert any("a mix of these stems" in note for note in proposal.reasons.notes)
    tonal = next(r for r in fidelity["rows"] if r["key"] == "mid_band_db.4-6.3 kHz")
    assert "broad balance" not in (tonal["reason"] or "")
    # (telling another song apart is tests/test_similarity.py's: these toy sessions are strictly
    # periodic, and two of them on one grid match at some lag whatever their notes)


def test_short_sessions_are_followed_as_another_song(followed):
    for kind, proposal in followed.items():
        assert proposal.context["fidelity"]["recording_match"] == 0.0, kind
        assert not any("a mix of these stems" in note for note in proposal.reasons.notes), kind


def test_strengths_and_words_move_the_aim_as_documented():
    """``start + strength × (reference − start)`` per attribute, then each feature word's amount on
    its feature (docs/style.md); no mixing needed."""
    from mixassist.measure import THIRD_OCTAVE_CENTRES_HZ
    from mixassist.mixers.follow import aim_features

    rng = np.random.default_rng(3)
    start = reference_features(0.1 * rng.standard_normal((2, 3 * SR)), SR)
    x = 0.1 * rng.standard_normal(3 * SR)
    reference = reference_features(np.stack([x, 0.9 * x + 0.05 * rng.standard_normal(3 * SR)]), SR)
    target = StyleTarget.from_audio(np.stack([x, x]).astype(np.float32), SR)

    held, why = aim_features(start, reference, target.with_strengths("width=0,tone=0.5"), -14.0, ["a"])
    assert held["width_db"]["overall"] == pytest.approx(start["width_db"]["overall"])
    i = 10
    half = start["mid_third_octave_db"][i] + 0.5 * (
        reference["mid_third_octave_db"][i] - start["mid_third_octave_db"][i]
    )
    assert held["mid_detail_db"][i] == pytest.approx(half)  # the tonal aim itself is the broad move: next test
    assert held["plr_db"] == pytest.approx(reference["plr_db"]) and "width_db" in why and held["loudness_lufs"] == -14.0

    plain, _ = aim_features(start, reference, target, -14.0, ["a"])
    worded, why = aim_features(start, reference, target.describe("brighter, wider"), -14.0, ["a"])
    assert worded["width_db"]["overall"] == pytest.approx(plain["width_db"]["overall"] + 3.0)
    for k, hz in enumerate(THIRD_OCTAVE_CENTRES_HZ):
        if plain["mid_third_octave_db"][k] is not None:
            lift = worded["mid_third_octave_db"][k] - plain["mid_third_octave_db"][k]
            assert lift == pytest.approx(3.0 if hz >= 4000 else 0.0), hz
    assert "brighter" in why["mid_band_db"] and "wider" in why["width_db"]


def _with_mid(features: dict, mid: np.ndarray) -> dict:
    """``features`` with these mid third-octave levels (None above Nyquist, as measured)."""
    return {**features, "mid_third_octave_db": [None if np.isnan(v) else float(v) for v in mid]}


def _levels(values: list) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in values], dtype=float)


@pytest.mark.parametrize("strength", [1.0, 0.5])
def test_the_tonal_aim_follows_the_broad_difference_not_a_band_of_content(strength):
    """A reference is another song: a +20 dB band (its content) is mostly ignored, a broad tilt is
    followed, no band moves more than strength × LOOP_TONE_CAP_DB; the detail is kept aside."""
    from mixassist.mixers.follow_aim import LOOP_TONE_CAP_DB, LOOP_TONE_SMOOTHING_BANDS, aim_features

    rng = np.random.default_rng(5)
    start = reference_features(0.1 * rng.standard_normal((2, 3 * SR)), SR)
    mid = np.array(start["mid_third_octave_db"], dtype=float)
    tilt = np.linspace(-2.0, 2.0, mid.size)
    spike = np.zeros(mid.size)
    spike[6] = 20.0
    reference = _with_mid(start, mid + tilt + spike)
    target = StyleTarget.from_audio(0.1 * rng.standard_normal((2, SR)).astype(np.float32), SR)
    aim, why = aim_features(start, reference, target.with_strengths({"tone": strength}), -14.0, ["a"])
    assert "broad balance only" in why["mid_band_db"]  # the fidelity table says why the aim is not the reference
    move = _levels(aim["mid_third_octave_db"]) - mid
    detail = _levels(aim["mid_detail_db"]) - mid
    ok = ~np.isnan(mid)  # bands above Nyquist have no level
    np.testing.assert_allclose(detail[ok], strength * (tilt + spike)[ok], atol=1e-9)
    assert np.all(np.abs(move[~np.isnan(mid)]) <= strength * LOOP_TONE_CAP_DB + 1e-9)
    assert move[6] < strength * (20.0 / (LOOP_TONE_SMOOTHING_BANDS * np.sqrt(2 * np.pi)) + 2.0)  # spread, not copied
    far = (np.abs(np.arange(mid.size) - 6) > 3 * LOOP_TONE_SMOOTHING_BANDS) & ~np.isnan(mid)  # beyond the spike
    assert far.sum() >= 4
    np.testing.assert_allclose(move[far], strength * tilt[far], atol=0.5 * strength)


def test_a_band_limited_reference_is_followed_band_by_band_above_its_edge():
    """Where the reference's spectrum ends (every band from some third-octave ≥ 1 kHz up sits
    BAND_LIMIT_DB or more down), the aim is the band-by-band move the master low-pass makes;
    below the edge it stays broad (the spectrum's cliff does not leak into the bands under it)."""
    from mixassist.measure import THIRD_OCTAVE_CENTRES_HZ
    from mixassist.mixers.follow_aim import BAND_LIMIT_DB, aim_features

    rng = np.random.default_rng(6)
    start = reference_features(0.1 * rng.standard_normal((2, 3 * SR)), SR)
    mid = np.array(start["mid_third_octave_db"], dtype=float)
    centres = np.asarray(THIRD_OCTAVE_CENTRES_HZ)
    cut = np.where(centres >= 3150.0, -3 * BAND_LIMIT_DB, 0.0)
    target = StyleTarget.from_audio(0.1 * rng.standard_normal((2, SR)).astype(np.float32), SR)
    aim, _ = aim_features(start, _with_mid(start, mid + cut), target, -14.0, ["a"])
    move = _levels(aim["mid_third_octave_db"]) - mid
    above = (centres >= 3150.0) & ~np.isnan(mid)
    assert above.sum() >= 3
    np.testing.assert_allclose(move[above], cut[above], atol=1e-9)
    np.testing.assert_allclose(move[centres < 3150.0], 0.0, atol=1e-9)


def test_excerpt_changes_carry_over_to_the_song_value_by_value():
    """Long songs run their passes on excerpts: each feature is the song's start plus the excerpt's change."""
    from mixassist.mixers.follow import shifted

    song = {
        "plr_db": 10.0,
        "width_db": {"overall": -12.0, "low": None},
        "mid_third_octave_db": [1.0, None],
        "reasons": {"a": "b"},
    }
    now = {
        "plr_db": 7.5,
        "width_db": {"overall": -20.0, "low": -30.0},
        "mid_third_octave_db": [4.0, 2.0],
        "reasons": {},
    }
    then = {
        "plr_db": 9.0,
        "width_db": {"overall": -15.0, "low": -31.0},
        "mid_third_octave_db": [2.0, 1.0],
        "reasons": {},
    }
    out = shifted(song, now, then)
    assert out["plr_db"] == 8.5 and out["width_db"] == {"overall": -17.0, "low": None}
    assert out["mid_third_octave_db"] == [3.0, None] and out["reasons"] == {"a": "b"}


def test_the_whole_song_is_delivered_from_the_first_stage_bus_when_only_the_master_moved(session, monkeypatch):
    """``auto``'s first stage keeps its final bus (``keep_bus``); the loop, whose passes here move only
    the master (a dark reference: the master EQ), delivers the whole song from it instead of
    rendering the tracks again: one whole-song render fewer, and the same settings and mix bit for
    bit as without it, which is the full render of those settings. (Excerpts of 0.4 s make this
    2.5-s song long enough for the loop's excerpt passes.)"""
    from mixassist.console.console import Console
    from mixassist.mixers import follow
    from mixassist.mixers.match import AUTO_STEPS, MatchMixer

    monkeypatch.setattr(follow, "EXCERPT_S", 0.4)
    renders: list[int] = []
    render_bus = Console.render_bus

    def counted(self, multitrack, params, **kw):
        renders.append(multitrack.num_samples)
        return render_bus(self, multitrack, params, **kw)

    monkeypatch.setattr(Console, "render_bus", counted)
    target = StyleTarget.from_audio(_reference(session, "dark"), SR).with_strengths({"tone": 0.5})
    out = {}
    for keep in (True, False):
        renders.clear()
        first = MatchMixer(target, start_method="neural", steps=AUTO_STEPS, keep_bus=keep)
        proposal = FollowMixer(target, first, tone_scale=0.5).propose(session)
        out[keep] = proposal, renders.count(session.num_samples)
    (kept, kept_renders), (fresh, fresh_renders) = out[True], out[False]
    assert kept.context["fidelity"]["passes"] > 0 and kept.bus is None  # the loop ran; the bus was let go
    assert kept.params == fresh.params
    assert kept.params.tracks == MatchMixer(target, start_method="neural", steps=AUTO_STEPS).propose(session).params.tracks
    np.testing.assert_array_equal(kept.rendered(), fresh.rendered())
    np.testing.assert_array_equal(kept.rendered(), Console(SR).render(session, kept.params).mix)
    assert kept_renders == fresh_renders - 1


def test_same_bus_reads_the_tracks_reverb_lanes_and_limiter_not_the_rest_of_the_master(session):
    from mixassist.console.console import Console, same_bus
    from mixassist.console.lanes import Lane

    base = MixParams(session.names, master={"limiter_ceiling_dbtp": -1.0})
    master_moved = base.copy()
    master_moved.set_bus("master", "eq_high_shelf_db", -3.0)
    master_moved.set_bus("master", "output_gain_db", 6.0)
    assert same_bus(base, master_moved)
    bus, moved = Console(SR).render_bus(session, base), Console(SR).render_bus(session, master_moved)
    np.testing.assert_array_equal(bus.audio, moved.audio)
    for change in ("track", "reverb", "limiter", "lane"):
        other = base.copy()
        if change == "track":
            other.set("keys", "gain_db", -1.0)
        elif change == "reverb":
            other.set_bus("reverb", "return_db", -3.0)
        elif change == "limiter":
            other.set_bus("master", "limiter_ceiling_dbtp", None)
        else:
            other.set_lane("bass", "gain_db", Lane([0.0, 1.0], [0.0, -3.0]))
        assert not same_bus(base, other), change
