"""The differentiable loudness model and the rules mixer's separation stage (pans, widths and EQ
searched together against masking)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from mixassist.audio.multitrack import Multitrack
from mixassist.console.console import Console
from mixassist.console.dsp.spatial import pan_width
from mixassist.console.params import MixParams
from mixassist.errors import InvalidParameterError
from mixassist.evaluate.harness import mix_masking
from mixassist.measure import perception
from mixassist.measure.loudness_model import loudness_in_mix_torch
from mixassist.mixers.constraints import Constraints
from mixassist.mixers.rules import RulesMixer
from mixassist.mixers.separation import SeparationModel, pan_power, separate, stereo_reach
from mixassist.mixers.sources import processed_powers, strip_renders
from mixassist.mixers.threads import single_threaded

SR = 44100
BANDS = perception.ERB_BANDS


def _random_placed(rng, tracks=5, frames=30):
    """Band powers over a wide range of levels, with silent bands, a silent frame and a silent track."""
    p = 10 ** rng.uniform(0, 8, size=(tracks, 2, frames, BANDS))
    p[rng.random(p.shape) < 0.2] = 0.0
    p[:, :, 3] = 0.0  # a frame with nothing in it
    p[-1] = 0.0  # a silent track
    return p


def test_torch_loudness_matches_the_numba_kernel(rng):
    # Independent reference: perception.loudness_in_mix (numba, float32 per-track terms).
    for _ in range(3):
        p = _random_placed(rng)
        ref = perception.loudness_in_mix(p)
        got = loudness_in_mix_torch(torch.as_tensor(p))
        assert int(got.active.sum()) == ref.active_frames
        for name in ("solo_sone", "partial_sone", "masked_fraction"):
            np.testing.assert_allclose(getattr(got, name).numpy(), getattr(ref, name), rtol=1e-5, atol=1e-9, err_msg=name)
        assert float(got.mix_sone) == pytest.approx(ref.mix_sone, rel=1e-6)


def test_torch_loudness_gradients_pass_gradcheck(rng):
    # band powers as exp(x), so the finite differences are relative steps at every level
    x0 = torch.as_tensor(rng.uniform(np.log(1e3), np.log(1e7), size=(3, 2, 1, BANDS)), dtype=torch.float64)  # frames are independent, then averaged

    def masked(x):
        return loudness_in_mix_torch(torch.exp(x)).masked_fraction

    assert torch.autograd.gradcheck(masked, (x0.clone().requires_grad_(True),), eps=1e-6, atol=1e-6, rtol=1e-4)


@pytest.mark.parametrize("level", [0.0, 1e-30, 1e-12, 1e14])
def test_torch_loudness_is_finite_at_extremes(level, rng):
    p = torch.full((3, 2, 5, BANDS), level, dtype=torch.float64)
    p[0] = torch.as_tensor(10 ** rng.uniform(2, 7, size=(2, 5, BANDS)))
    p.requires_grad_(True)
    got = loudness_in_mix_torch(p)
    total = got.masked_fraction.sum() + got.partial_sone.sum() + got.solo_sone.sum()
    total.backward()
    assert torch.isfinite(total) and torch.isfinite(p.grad).all()
    silent = loudness_in_mix_torch(torch.zeros(2, 2, 5, BANDS, dtype=torch.float64))
    assert float(silent.solo_sone.abs().sum()) == 0.0 and not bool(silent.active.any())


def test_torch_loudness_refuses_a_wrong_shape():
    with pytest.raises(InvalidParameterError, match="expected"):
        loudness_in_mix_torch(torch.zeros(2, 3, 5, BANDS, dtype=torch.float64))


@pytest.mark.parametrize("channels", [1, 2])
@pytest.mark.parametrize("pan", [-1.0, -0.4, 0.0, 0.7, 1.0])
def test_pan_power_is_the_console_law(pan, channels):
    x = torch.ones(1, channels, 8, dtype=torch.float64)
    out = pan_width(x, torch.tensor([pan], dtype=torch.float64), 1.0)
    centred = pan_width(x, torch.tensor([0.0]), 1.0)
    ratio = (out**2).mean(-1)[0] / (centred**2).mean(-1)[0]
    np.testing.assert_allclose(pan_power(torch.tensor([pan], dtype=torch.float64))[0].numpy(), ratio.numpy(), rtol=1e-9, atol=1e-12)


def _stereo_noise(rng, seconds=3.0, correlation=0.3):
    n = int(seconds * SR)
    common, a, b = rng.standard_normal((3, n))
    k = math.sqrt(correlation)
    return 0.1 * np.stack([k * common + math.sqrt(1 - correlation) * a, k * common + math.sqrt(1 - correlation) * b])


def _parts(left_right: np.ndarray, mid_side: np.ndarray) -> np.ndarray:
    return np.stack([mid_side[0], mid_side[1], (left_right[0] - left_right[1]) / 2])


@pytest.mark.parametrize("pan,width", [(0.5, 1.0), (-0.8, 0.3), (0.9, 0.0), (-0.3, 1.6)])
def test_separation_model_places_a_stereo_stem_as_the_console_does(pan, width, rng):
    # Independent reference: the console's render of the stem at that pan and width, band powers per ear.
    audio = _stereo_noise(rng)
    start = 1.2
    console = Console(SR)
    mt = Multitrack.from_arrays({"pad": audio}, SR)
    rendered = console.render(mt, MixParams(["pad"], tracks={"pad": {"width": start}}), want_stems=True).stems[0]
    left, right = rendered.astype(np.float64)
    mid_side = perception.band_powers(np.stack([(left + right) / 2, (left - right) / 2]), SR)
    parts = _parts(perception.band_powers(rendered, SR), mid_side)[None]
    model = SeparationModel(parts, np.array([start]), np.full((1, 6), 1000.0), np.full((1, 6), 0.707), SR)
    placed = model.placed(torch.tensor([pan], dtype=torch.float64), torch.tensor([width], dtype=torch.float64),
                          torch.zeros(1, 6, dtype=torch.float64))[0].numpy()
    truth = perception.band_powers(
        console.render(mt, MixParams(["pad"], tracks={"pad": {"width": width, "pan": pan}}), want_stems=True).stems[0], SR)
    truth = truth[:, :: math.ceil(truth.shape[1] / 128)]
    # the model holds the source's power: compare shapes (per ear and band) after equal totals
    truth_scaled = truth * placed.sum() / truth.sum()
    strong = truth_scaled.mean(1) > 1e-3 * truth_scaled.mean(1).max()
    err_db = 10 * np.log10(placed.mean(1)[strong] / truth_scaled.mean(1)[strong])
    assert np.max(np.abs(err_db)) < 0.05


def test_separation_model_eq_follows_the_console(rng):
    audio = 0.1 * rng.standard_normal((1, 3 * SR))
    mt = Multitrack.from_arrays({"keys": audio}, SR)
    console = Console(SR)
    flat = console.render(mt, MixParams(["keys"]), want_stems=True).stems[0]
    left, right = flat.astype(np.float64)
    parts = _parts(perception.band_powers(flat, SR), perception.band_powers(np.stack([(left + right) / 2, (left - right) / 2]), SR))
    freq = np.array([[100.0, 200.0, 800.0, 2500.0, 6000.0, 8000.0]])
    q = np.full((1, 6), 0.707)
    gains = np.array([[0.0, 0.0, -6.0, 0.0, 4.0, 0.0]])
    model = SeparationModel(parts[None], np.ones(1), freq, q, SR)
    placed = model.placed(torch.zeros(1, dtype=torch.float64), torch.ones(1, dtype=torch.float64),
                          torch.as_tensor(gains))[0].numpy()
    settings = {"eq_peak2_hz": 800.0, "eq_peak2_db": -6.0, "eq_peak2_q": 0.707, "eq_peak4_hz": 6000.0, "eq_peak4_db": 4.0,
                "eq_peak4_q": 0.707}
    truth = perception.band_powers(console.render(mt, MixParams(["keys"], tracks={"keys": settings}), want_stems=True).stems[0], SR)
    truth = truth[:, :: math.ceil(truth.shape[1] / 128)]
    truth_scaled = truth * placed.sum() / truth.sum()
    centres = perception.band_centres_hz(SR)
    band = (centres > 60) & (centres < 12000)
    err_db = 10 * np.log10(placed.mean(axis=(0, 1))[band] / truth_scaled.mean(axis=(0, 1))[band])
    # the EQ is read at band centres, the bands are ~1 ERB wide: within 0.5 dB
    assert np.max(np.abs(err_db)) < 0.5


def _overlapping_sources(rng, frames=40):
    """Four mono sources with overlapping spectra at similar levels (band powers, centred)."""
    centres = perception.band_centres_hz(SR)
    shapes = [np.exp(-0.5 * ((np.log2(centres / f)) / 1.2) ** 2) for f in (150.0, 600.0, 800.0, 2500.0)]
    parts = []
    for shape in shapes:
        ear = 1e6 * shape[None, :] * rng.uniform(0.5, 1.5, size=(frames, 1))
        parts.append(np.stack([ear, np.zeros_like(ear), np.zeros_like(ear)]))
    return np.stack(parts)


def test_separate_lowers_masking_and_keeps_to_its_bounds(rng):
    parts = _overlapping_sources(rng)
    n = len(parts)
    freq = np.tile([100.0, 200.0, 800.0, 2500.0, 6000.0, 8000.0], (n, 1))
    model = SeparationModel(parts, np.ones(n), freq, np.full((n, 6), 0.707), SR)
    start_pan = np.array([0.0, -0.5, 0.5, 0.0])
    pan_bounds = np.array([[0.0, 0.0], [-1.0, 1.0], [-1.0, 1.0], [0.0, 0.0]])  # sources 0 and 3 are anchors
    eq_bounds = np.zeros((n, 6, 2))
    eq_bounds[1:3] = (-6.0, 6.0)
    width_bounds = np.ones((n, 2))
    found = separate(model, start_pan, pan_bounds, width_bounds, np.zeros((n, 6)), eq_bounds, steps=60)
    assert found.mean_after < found.mean_before - 0.03
    assert found.pan[0] == 0.0 and found.pan[3] == 0.0
    assert np.all(found.eq_db[[0, 3]] == 0.0)
    assert np.all(np.abs(found.eq_db) <= 6.0 + 1e-9) and np.all(np.abs(found.pan) <= 1.0)
    assert found.steps == 60
    # pans alone, no EQ allowed at all (eq_limit_db 0 once made the EQ cost 0/0 and stopped the search)
    pans_only = separate(model, start_pan, pan_bounds, width_bounds, np.zeros((n, 6)), np.zeros((n, 6, 2)),
                         eq_limit_db=0.0, steps=30)
    assert pans_only.steps == 30 and pans_only.mean_after < pans_only.mean_before
    assert np.all(pans_only.eq_db == 0.0)
    # nothing free: the start comes back, unchanged
    still = separate(model, start_pan, np.repeat(start_pan[:, None], 2, 1), width_bounds, np.zeros((n, 6)),
                     np.zeros((n, 6, 2)))
    assert still.steps == 0 and np.array_equal(still.pan, start_pan)
    np.testing.assert_allclose(still.masked_after, still.masked_before)


def test_the_search_runs_torch_on_one_thread_and_restores_the_count(rng, monkeypatch):
    # small tensors: two threads on two busy cores made each step several times slower
    # (benchmarks/rules_speed.py); the caller's thread count must come back, also after an error
    import mixassist.mixers.separation as separation

    before = torch.get_num_threads()
    seen = []
    real = separation.loudness_in_mix_torch
    monkeypatch.setattr(separation, "loudness_in_mix_torch", lambda p, **kw: seen.append(torch.get_num_threads()) or real(p, **kw))
    parts = _overlapping_sources(rng)
    n = len(parts)
    freq = np.tile([100.0, 200.0, 800.0, 2500.0, 6000.0, 8000.0], (n, 1))
    model = SeparationModel(parts, np.ones(n), freq, np.full((n, 6), 0.707), SR)
    bounds = np.array([[0.0, 0.0], [-1.0, 1.0], [-1.0, 1.0], [0.0, 0.0]])
    separate(model, np.zeros(n), bounds, np.ones((n, 2)), np.zeros((n, 6)), np.zeros((n, 6, 2)), steps=3)
    assert seen and set(seen) == {1}
    assert torch.get_num_threads() == before
    with pytest.raises(RuntimeError), single_threaded():
        assert torch.get_num_threads() == 1
        raise RuntimeError("inside")
    assert torch.get_num_threads() == before


def test_a_stereo_stem_is_panned_no_further_than_its_width_allows(rng):
    parts = _overlapping_sources(rng)[:2].copy()
    parts[1, 1] = parts[1, 0] * 0.8  # source 1 is a wide stereo stem: side power as large as most of its mid
    model = SeparationModel(parts, np.ones(2), np.tile([100.0, 200.0, 800.0, 2500.0, 6000.0, 8000.0], (2, 1)),
                            np.full((2, 6), 0.707), SR)
    found = separate(model, np.zeros(2), np.array([[0.0, 0.0], [-1.0, 1.0]]), np.array([[1.0, 1.0], [0.25, 1.0]]),
                     np.zeros((2, 6)), np.zeros((2, 6, 2)), stereo=np.array([False, True]), steps=60,
                     imbalance_cost=0.0)  # alone on one side, it could not go out at all with a balance cost
    assert 0.25 - 1e-9 <= found.width[1] <= 1.0 + 1e-9
    assert abs(found.pan[1]) <= float(stereo_reach(torch.tensor(found.width[1]))) + 1e-9
    assert abs(found.pan[1]) > 0.3  # it did move away from the anchor (from a centred, symmetric start)
    # and it cannot go out to its full reach without being narrowed
    assert abs(found.pan[1]) < 0.6 + 1e-9 or found.width[1] < 1.0


# ---------------------------------------------------------------------- in the rules mixer


def _session(rng, seconds=6.0):
    """Lead, bass and two chord parts that share the midrange (mono), plus a wide stereo pad."""
    t = np.arange(int(seconds * SR)) / SR

    def tone(freqs, amp=0.1):
        env = 0.6 + 0.4 * np.sin(2 * np.pi * 0.5 * t) ** 2
        return (amp * env * sum(np.sin(2 * np.pi * f * t + rng.uniform(0, 6)) for f in freqs))[None]

    noise = rng.standard_normal((2, t.size))
    pad = 0.02 * np.stack([noise[0] + 0.3 * noise[1], noise[1] + 0.3 * noise[0]])
    return Multitrack.from_arrays({
        "vocal_lead": tone([440, 880, 1320, 2200]),
        "bass": tone([55, 110, 165]),
        "piano": tone([330, 660, 990, 1980, 2640]),
        "guitar": tone([392, 784, 1176, 2350]),
        "pad": pad,
    }, SR)


@pytest.fixture(scope="module")
def separated():
    rng = np.random.default_rng(5)
    stems = _session(rng)
    constraints = Constraints.parse(stems.names, lock=["guitar.pan=-0.3"])
    on, off = (RulesMixer(separation=flag).propose(stems, constraints) for flag in (True, False))
    return stems, on, off


def test_separation_lowers_the_harness_masking_measure(separated):
    stems, on, off = separated
    with_it = mix_masking(stems, on.params)["masking_fraction"]
    without = mix_masking(stems, off.params)["masking_fraction"]
    assert with_it < without - 0.03, (with_it, without)


def test_separation_moves_are_explained_and_respect_anchors_and_locks(separated):
    _, on, _ = separated
    p = on.params
    assert p.get("vocal_lead", "pan") == 0.0 and p.get("bass", "pan") == 0.0
    assert p.get("guitar", "pan") == -0.3 and on.why("guitar")["pan"] == "locked by you"
    moved = [(n, k) for n in p.track_names for k, v in on.why(n).items() if v.startswith(("separation",)) or ": separation" in v]
    assert moved, "the separation moved nothing"
    for n, k in moved:
        why = on.why(n)[k]
        if k.endswith(("_hz", "_q")):  # a tuned band: its gain's reason carries the measurement
            slot = k.rsplit("_", 1)[0]
            assert (n, f"{slot}_db") in moved and "separation" in why, why
            default = {"eq_peak1": 200.0, "eq_peak2": 800.0, "eq_peak3": 2500.0, "eq_peak4": 6000.0}[slot]
            if k.endswith("_hz"):
                assert default / 2 - 0.1 <= p.get(n, k) <= default * 2 + 0.1
            else:
                assert 0.707 / 2**1.5 - 0.01 <= p.get(n, k) <= 0.707 * 2**1.5 + 0.01
            continue
        # each move says what it does to the masking: the source it helps most, before → after
        # (and the sources' mean when that changes), or that on its own it is only a fine touch
        assert "is less masked with it (" in why or "a fine touch of the search" in why, why
        if k.startswith("eq_") and k.endswith("_db"):
            assert abs(p.get(n, k)) <= 6.0
        if k == "width":
            assert 0.25 <= p.get(n, k) <= 1.0
    assert any(note.startswith("separation: pans, widths and EQ searched together") for note in on.reasons.notes)
    assert on.measured["piano"]["separation"]["masked_fraction_model"] is not None


def test_separation_off_keeps_the_role_pans_and_priority_cuts(separated):
    _, _, off = separated
    for n in off.params.track_names:
        assert not any(": separation" in v for v in off.why(n).values())
    assert abs(off.params.get("piano", "pan")) == 0.5  # the chords role pan


def test_tuned_bands_stay_within_an_octave_and_their_q_range(rng):
    parts = _overlapping_sources(rng)
    n = len(parts)
    freq = np.tile([100.0, 200.0, 800.0, 2500.0, 6000.0, 8000.0], (n, 1))
    q = np.full((n, 6), 0.707)
    model = SeparationModel(parts, np.ones(n), freq, q, SR)
    eq_bounds = np.zeros((n, 6, 2))
    eq_bounds[:, 1:5] = (-6.0, 6.0)
    tune = np.zeros((n, 6), bool)
    tune[:, 1:5] = True
    found = separate(model, np.zeros(n), np.zeros((n, 2)), np.ones((n, 2)), np.zeros((n, 6)), eq_bounds,
                     eq_tune=tune, steps=40)
    assert found.mean_after < found.mean_before
    assert np.all(found.eq_freq_hz[:, [0, 5]] == freq[:, [0, 5]]) and np.all(found.eq_q[:, [0, 5]] == 0.707)
    assert np.all(found.eq_freq_hz >= freq / 2 - 1e-9) and np.all(found.eq_freq_hz <= freq * 2 + 1e-9)
    assert np.all(found.eq_q >= q / 2**1.5 - 1e-9) and np.all(found.eq_q <= q * 2**1.5 + 1e-9)
    assert np.any(np.abs(found.eq_freq_hz - freq) > 1.0)  # the bands did move


def test_a_centred_mono_source_is_nudged_off_the_saddle(rng):
    # two identical mono sources, both free and centred: the mix is symmetric, the gradient of any
    # one pan is 0 there, yet spreading them apart unmasks both
    parts = _overlapping_sources(rng)[[1, 1]].copy()
    model = SeparationModel(parts, np.ones(2), np.tile([100.0, 200.0, 800.0, 2500.0, 6000.0, 8000.0], (2, 1)),
                            np.full((2, 6), 0.707), SR)
    found = separate(model, np.zeros(2), np.array([[-1.0, 1.0], [-1.0, 1.0]]), np.ones((2, 2)), np.zeros((2, 6)),
                     np.zeros((2, 6, 2)), steps=40)
    assert found.mean_after < found.mean_before - 0.05
    assert found.pan[0] * found.pan[1] < 0  # to opposite sides


def test_torch_loudness_in_float32_reads_as_float64(rng):
    # the separation's search runs the model in float32 (SEARCH_DTYPE): the same readings to
    # float32 precision, and gradients that point the same way
    p = torch.as_tensor(_random_placed(rng))
    exact, fast = loudness_in_mix_torch(p), loudness_in_mix_torch(p, dtype=torch.float32)
    assert fast.masked_fraction.dtype == torch.float32
    for name in ("solo_sone", "partial_sone", "masked_fraction"):
        np.testing.assert_allclose(getattr(fast, name).double().numpy(), getattr(exact, name).numpy(), rtol=1e-4, atol=1e-6)
    grads = []
    for dtype in (torch.float64, torch.float32):
        x = p.clone().requires_grad_(True)
        loudness_in_mix_torch(x, dtype=dtype).masked_fraction.mean().backward()
        grads.append(x.grad.double().flatten())
    assert float(torch.nn.functional.cosine_similarity(grads[0], grads[1], dim=0)) > 0.999
    with pytest.raises(InvalidParameterError, match="float32"):
        loudness_in_mix_torch(p, dtype=torch.float16)


def test_panned_powers_from_one_centred_render_equal_a_render_at_the_pans(rng):
    # the balance and the separation share one strip render: a track at another pan is its centred
    # render scaled by the console's pan law (mono and stereo), checked against rendering at the pans
    stems = _session(rng, seconds=2.0)
    names = list(stems.names)
    params = MixParams(names, tracks={"guitar": {"pan": 0.6, "eq_peak2_db": -3.0}, "pad": {"pan": -0.8, "width": 0.7}})
    gains = np.array([-3.0, 0.0, -6.0, 2.0, 1.0])
    direct = processed_powers(stems, names, params, gains, keep_stems=True)
    renders = strip_renders(stems, names, params, mid_side=True)
    derived = processed_powers(stems, names, params, gains, keep_stems=True, renders=renders)
    assert derived.calibration == pytest.approx(direct.calibration, rel=1e-5)
    for n in names:
        np.testing.assert_allclose(derived.powers[n], direct.powers[n], rtol=1e-4, atol=1e-6 * direct.powers[n].max())
        np.testing.assert_allclose(derived.stems[n], direct.stems[n], rtol=1e-5, atol=1e-7)
    # the renders are reused only for the settings they were made with (faders and pans aside)
    assert renders.fits(params, names, True)
    changed = params.copy()
    changed.set("guitar", "eq_peak2_db", -4.0)
    assert not renders.fits(changed, names, False)
    centred = processed_powers(stems, names, params, gains, mid_side=True, renders=renders)
    assert set(centred.mid_side) == {"pad"}
