"""Engine B (issue 19): determinism, disjoint splits, styles that do what they claim, processors
checked against independent references (scipy designs and frequency responses, formulas, plain loops)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import signal

from mixassist.data.engine_b import dynamics as dyn
from mixassist.data.engine_b import filters as flt
from mixassist.data.engine_b.dataset import generate_split, plan_split
from mixassist.data.engine_b.instruments import karplus_strong, midi_file_bytes
from mixassist.data.engine_b.mixer import mid_side_width, mix_stems
from mixassist.data.engine_b.music import QUARTETS, arrange, score_pool
from mixassist.data.engine_b.reverb import comb_filter, freeverb
from mixassist.data.engine_b.song import render_stems
from mixassist.data.engine_b.styles import STYLES, draw_style
from mixassist.errors import OutputError
from mixassist.measure import integrated_loudness, plr_db, side_mid_db

SR = 22050


def _response_db(filtered_impulse: np.ndarray, freqs: np.ndarray) -> np.ndarray:
    spectrum = np.fft.rfft(filtered_impulse)
    bins = np.fft.rfftfreq(filtered_impulse.shape[-1], 1.0 / SR)
    return 20 * np.log10(np.abs(np.interp(freqs, bins, np.abs(spectrum))))


def _impulse(n: int = 1 << 16) -> np.ndarray:
    x = np.zeros(n)
    x[0] = 1.0
    return x


# ------------------------------------------------------------------ dataset


@pytest.fixture(scope="module")
def tiny_split(tmp_path_factory: pytest.TempPathFactory):
    """Two tiny songs (2.5 s, 22.05 kHz, no fluidsynth or music21), made twice in two folders."""
    a, b = tmp_path_factory.mktemp("ebA"), tmp_path_factory.mktemp("ebB")
    kw = dict(songs=2, seconds=2.5, seed=5, sample_rate=SR, use_fluidsynth=False, scores=False)
    generate_split(a, "val", **kw)
    generate_split(b, "val", **kw)
    return a, b


def test_the_same_seed_gives_the_same_bytes(tiny_split) -> None:
    a, b = tiny_split
    files = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    assert any(f.name == "target_mix.wav" for f in files) and any(f.name == "reference.wav" for f in files)
    assert any(f.parent.name == "stems" for f in files)
    for f in files:
        assert (a / f).read_bytes() == (b / f).read_bytes(), f


def test_each_song_has_stems_target_reference_and_meta(tiny_split) -> None:
    import json

    a, _ = tiny_split
    for song in ("val_000", "val_001"):
        meta = json.loads((a / song / "meta.json").read_text())
        assert meta["reference_song"] != song and meta["reference_song"] in ("val_000", "val_001")
        assert meta["style"]["name"] in STYLES and isinstance(meta["seed"], int)
        assert 3 <= len(meta["stems"]) <= 8 and all((a / song / s["file"]).exists() for s in meta["stems"])


def test_a_split_resumes_and_refuses_other_settings(tiny_split) -> None:
    a, _ = tiny_split
    before = {p: p.stat().st_mtime_ns for p in a.rglob("*.wav")}
    kw = dict(songs=2, seconds=2.5, sample_rate=SR, use_fluidsynth=False, scores=False)
    generate_split(a, "val", seed=5, **kw)  # complete: nothing is rendered again
    assert {p: p.stat().st_mtime_ns for p in a.rglob("*.wav")} == before
    with pytest.raises(OutputError, match="seed 5 .asked 6"):
        generate_split(a, "val", seed=6, **kw)


def test_splits_share_no_seed_no_piece_and_no_name() -> None:
    val, test = plan_split("val", 8, 0), plan_split("test", 8, 0)
    assert not {p["seed"] for p in val} & {p["seed"] for p in test}
    assert not {p["name"] for p in val} & {p["name"] for p in test}
    for genre in ("chorale", "quartet"):
        assert not set(score_pool(genre, "val")) & set(score_pool(genre, "test"))
    assert set(score_pool("quartet", "val")) | set(score_pool("quartet", "test")) == set(QUARTETS)
    assert {p["style_name"] for p in test} == set(STYLES)  # eight songs cover all seven styles
    assert all(p["reference_song"] != p["name"] for p in val + test)


# ------------------------------------------------------------------ styles


@pytest.fixture(scope="module")
def pop_stems():
    rng = np.random.default_rng(3)
    parts, _ = arrange("pop", 3.0, rng)
    stems, info = render_stems(parts, 3.0, SR, rng, use_fluidsynth=False)
    return stems, {s["name"]: s["role"] for s in info}


def _styled(pop_stems, name: str) -> np.ndarray:
    stems, roles = pop_stems
    mixed, _ = mix_stems(stems, roles, draw_style(name, np.random.default_rng(1)), SR, np.random.default_rng(2))
    return mixed


def _rolloff_hz(x: np.ndarray, share: float = 0.99) -> float:
    power = np.abs(np.fft.rfft(x.mean(axis=0))) ** 2
    return float(np.searchsorted(np.cumsum(power) / power.sum(), share) * SR / 2 / (power.shape[0] - 1))


def test_styles_do_what_they_claim(pop_stems) -> None:
    lofi, club, wide = (_styled(pop_stems, s) for s in ("lofi_vintage", "club_limited", "orchestral_roomy"))
    assert side_mid_db(lofi) < -15.0  # nearly mono
    assert _rolloff_hz(lofi) < 5500.0 < _rolloff_hz(club)  # band-limited
    assert plr_db(club, SR) < 8.0 < plr_db(wide, SR)  # hard-limited
    assert side_mid_db(wide) > -6.0 and side_mid_db(wide) > side_mid_db(club) + 2.0  # wide and roomy
    for mixed, name in ((lofi, "lofi_vintage"), (club, "club_limited"), (wide, "orchestral_roomy")):
        lo, hi = STYLES[name]["loudness_lufs"]
        assert lo - 0.6 <= integrated_loudness(mixed, SR) <= hi + 0.6
        peak_8x = np.abs(signal.resample_poly(mixed.astype(np.float64), 8, 1, axis=-1)).max()
        assert 20 * np.log10(peak_8x) <= -1.0


# ------------------------------------------------------------------ processors against references


@pytest.mark.parametrize("order", [2, 4])
def test_bessel_highpass_matches_scipy_and_is_3_db_down_at_the_corner(order: int) -> None:
    freqs = np.array([30.0, 100.0, 300.0, 1000.0, 5000.0])
    ours = _response_db(flt.bessel_highpass(_impulse(), 300.0, order, SR), freqs)
    b, a = signal.bessel(order, 300.0, btype="highpass", norm="mag", fs=SR)  # independent design, (b, a) form
    _, h = signal.freqz(b, a, worN=freqs, fs=SR)
    np.testing.assert_allclose(ours, 20 * np.log10(np.abs(h)), atol=0.05)
    assert ours[2] == pytest.approx(-3.01, abs=0.05)


def test_elliptic_lowpass_ripple_and_stop_band() -> None:
    sos = flt.design_elliptic_lowpass(4000.0, SR, order=6, ripple_db=0.5, stop_db=50.0)
    f, h = signal.sosfreqz(sos, worN=8192, fs=SR)
    mag = 20 * np.log10(np.abs(h) + 1e-15)
    assert mag[f <= 4000.0].min() >= -0.5 - 1e-6 and mag[f <= 4000.0].max() <= 1e-6
    # scipy's order estimate for a 4.8 kHz stop-band edge is 6: the design reaches 50 dB by then
    assert signal.ellipord(4000.0, 4800.0, 0.5, 50.0, fs=SR)[0] == 6
    assert mag[f >= 4800.0].max() <= -50.0 + 1e-3


def test_linkwitz_riley_bands_sum_to_an_allpass_and_cross_at_minus_6_db() -> None:
    low, high = flt.design_lr4(1000.0, SR)
    _, hl = signal.sosfreqz(low, worN=[1000.0], fs=SR)
    _, hh = signal.sosfreqz(high, worN=[1000.0], fs=SR)
    assert 20 * np.log10(abs(hl[0])) == pytest.approx(-6.02, abs=0.01)
    assert 20 * np.log10(abs(hh[0])) == pytest.approx(-6.02, abs=0.01)
    bands = flt.lr4_split(_impulse()[None], [200.0, 3000.0], SR)
    total = np.abs(np.fft.rfft(sum(bands)[0]))
    np.testing.assert_allclose(total[1:], 1.0, atol=1e-6)  # all-pass: flat magnitude


def test_tilt_eq_pivots_around_its_frequency() -> None:
    b, a = flt.design_tilt(6.0, 1000.0, SR)
    _, h = signal.freqz(b, a, worN=[5.0, 1000.0, 10000.0], fs=SR)
    mag = 20 * np.log10(np.abs(h))
    assert mag[0] == pytest.approx(-3.0, abs=0.05) and mag[1] == pytest.approx(0.0, abs=0.05)
    assert mag[2] == pytest.approx(3.0, abs=0.3)


@pytest.mark.parametrize("law", sorted(flt.PAN_LAWS))
def test_pan_laws_follow_their_formulas(law: str) -> None:
    for pan in np.linspace(-1, 1, 9):
        theta = (pan + 1) * math.pi / 4
        power, linear = (math.cos(theta), math.sin(theta)), ((1 - pan) / 2, (1 + pan) / 2)
        expect = {"sincos3": power, "linear6": linear, "law4p5": tuple(math.sqrt(p * q) for p, q in zip(power, linear))}
        assert flt.pan_gains(pan, law) == pytest.approx(expect[law], abs=1e-12)
    left, right = flt.pan_gains(0.0, law)
    assert 20 * math.log10(left) == pytest.approx(flt.PAN_LAWS[law], abs=1e-3) and left == pytest.approx(right)
    assert flt.pan_gains(-1.0, law) == pytest.approx((1.0, 0.0), abs=1e-12)


@pytest.mark.parametrize("ratio", [2.0, 4.0])
def test_feedback_compressor_settles_on_the_static_curve(ratio: float) -> None:
    t = np.arange(2 * SR) / SR
    for level_db in (-30.0, -6.0):
        x = 10 ** (level_db / 20) * math.sqrt(2) * np.sin(2 * np.pi * 440 * t)
        y = dyn.feedback_rms_compressor(x[None], SR, threshold_db=-20.0, ratio=ratio)
        out_db = 10 * np.log10(np.mean(y[0, SR:] ** 2))
        expect = level_db if level_db < -20 else -20 + (level_db + 20) / ratio
        assert out_db == pytest.approx(expect, abs=0.15)


def test_multiband_compressor_below_threshold_is_the_crossovers_allpass_and_compresses_above() -> None:
    x = np.random.default_rng(4).standard_normal((2, SR)) * 0.01
    quiet = dyn.multiband_compressor(x, SR, crossovers_hz=[200.0, 3000.0], thresholds_db=[0.0, 0.0, 0.0], ratio=4.0)
    np.testing.assert_allclose(quiet, sum(flt.lr4_split(x, [200.0, 3000.0], SR)), atol=1e-12)
    loud = dyn.multiband_compressor(x * 100, SR, crossovers_hz=[200.0, 3000.0], thresholds_db=[-30.0] * 3, ratio=4.0)
    assert np.std(loud[:, SR // 2 :]) < 0.5 * np.std(quiet[:, SR // 2 :] * 100)


def test_tape_saturation_is_unity_for_quiet_signals_and_compresses_peaks() -> None:
    t = np.arange(SR) / SR
    quiet = 1e-3 * np.sin(2 * np.pi * 200 * t)
    out = dyn.tape_saturation(quiet[None], SR, 12.0)[0]
    assert 20 * np.log10(np.std(out[SR // 2 :]) / np.std(quiet[SR // 2 :])) == pytest.approx(0.0, abs=0.1)
    loud = 0.9 * np.sin(2 * np.pi * 200 * t)
    shaped = dyn.tape_saturation(loud[None], SR, 12.0)[0]
    spectrum = np.abs(np.fft.rfft(shaped[SR // 2 :]))
    assert (
        spectrum[3 * 100] > 1e-2 * spectrum[100] and spectrum[2 * 100] > 1e-3 * spectrum[100]
    )  # odd and even harmonics


def test_limiter_holds_the_ceiling_on_an_8x_oversampled_check() -> None:
    x = np.random.default_rng(0).standard_normal((2, SR)) * 0.5
    y = dyn.lookahead_limiter(x, SR, -1.3)
    assert 20 * np.log10(np.abs(signal.resample_poly(y, 8, 1, axis=-1)).max()) <= -1.0
    quiet = x * 0.1  # below the ceiling: untouched
    np.testing.assert_allclose(dyn.lookahead_limiter(quiet, SR, -1.3), quiet, atol=1e-12)


def test_mid_side_width_scales_only_the_side() -> None:
    x = np.random.default_rng(1).standard_normal((2, 1000))
    y = mid_side_width(x, -6.0, SR)
    np.testing.assert_allclose(y[0] + y[1], x[0] + x[1], atol=1e-12)
    np.testing.assert_allclose(y[0] - y[1], (x[0] - x[1]) * 10 ** (-6 / 20), atol=1e-12)


def test_freeverb_comb_equals_a_plain_loop_and_the_reverb_decays() -> None:
    x = np.random.default_rng(2).standard_normal(3000)
    d, f, damp = 113, 0.84, 0.2
    buf, store, ref = np.zeros(d), 0.0, np.zeros_like(x)
    for i in range(x.shape[0]):  # Freeverb's comb, written out
        y = buf[i % d]
        store = y * (1 - damp) + store * damp
        buf[i % d] = x[i] + store * f
        ref[i] = y
    np.testing.assert_allclose(comb_filter(x, d, f, damp), ref, atol=1e-12)
    tail = freeverb(_impulse(SR * 3)[None], SR, room=0.5, damp=0.5)
    early, late = (np.sqrt(np.mean(tail[:, s : s + SR // 4] ** 2)) for s in (SR // 4, 2 * SR))
    assert late < early * 0.1 and np.corrcoef(tail[0], tail[1])[0, 1] < 0.9  # decays; decorrelated channels


def test_karplus_strong_pitch_and_midi_header() -> None:
    period = 50
    y = karplus_strong(np.random.default_rng(0).uniform(-1, 1, period), period, SR, 0.999)
    ac = np.array([np.dot(y[: SR // 2], y[lag : lag + SR // 2]) for lag in range(40, 61)])
    k = int(np.argmax(ac))
    lag = 40 + k + 0.5 * (ac[k - 1] - ac[k + 1]) / (ac[k - 1] - 2 * ac[k] + ac[k + 1])  # parabolic peak
    assert lag == pytest.approx(period + 0.5, abs=0.05)  # the two-point average adds half a sample of delay
    data = midi_file_bytes([(0.0, 0.5, 60, 100)], 24)
    assert data[:4] == b"MThd" and data[14:18] == b"MTrk" and bytes([0xC0, 24]) in data
