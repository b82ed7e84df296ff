"""Evaluation metrics against constructed cases whose answers are known in advance.

Physics and standards first (a full-scale sine reads 0 dB in its band, a stereo 1 kHz sine has a
PLR of 0 dB, gains move loudness by exactly their dB), then invariances (identity, gain, channel
swap, mono), then torch as an independent reference for the STFT framing, then random input.
"""

from __future__ import annotations

import itertools
import json
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from mixassist import measure as meter
from mixassist.measure import stft_magnitudes
from mixassist.console.params import MixParams
from mixassist.errors import InvalidAudioError, InvalidParameterError
from mixassist.evaluate import metrics
from mixassist.evaluate.metrics import af as af_metric
from mixassist.evaluate.metrics import (
    BAND_FLOOR_DB,
    THIRD_OCTAVE_CENTRES_HZ,
    compare,
    compare_with_reasons,
    crest_db,
    diffmst_af_features,
    diffmst_af_metric,
    dynamics_error,
    loudness_error_lu,
    mrstft_distance,
    parameter_error,
    plr_db,
    short_term_spread_lu,
    spectral_balance_distance_db,
    third_octave_band_db,
    true_peak_dbtp,
    width_db,
    width_error_bands_db,
    width_error_db,
)

# Every key of compare() that is a distance or a difference (0 for identical signals).
DISTANCE_KEYS = (
    "loudness_error_lu", "spectral_mid_db", "spectral_side_db", "width_error_db",
    "width_error_low_db", "width_error_mid_db", "width_error_high_db", "plr_error_db",
    "crest_error_db", "st_spread_error_lu", "mrstft", "af_total", "af_rms", "af_crest",
    "af_width", "af_imbalance", "af_bark", "af_bark_mid", "af_bark_side",
)  # fmt: skip
ALL_KEYS = (*DISTANCE_KEYS, "true_peak_dbtp")


def _noise(rng: np.random.Generator, seconds: float, sample_rate: int, channels: int = 2, level: float = 0.1) -> np.ndarray:
    return level * rng.standard_normal((channels, int(seconds * sample_rate)))


def _wide(rng: np.random.Generator, seconds: float, sample_rate: int) -> np.ndarray:
    """Partly correlated stereo noise: a common part plus an independent part per channel."""
    common = rng.standard_normal(int(seconds * sample_rate))
    return 0.05 * (common + 0.7 * rng.standard_normal((2, common.size)))


def _mono_as_stereo(x: np.ndarray) -> np.ndarray:
    return np.repeat(x[:1], 2, axis=0)


# --------------------------------------------------------------------------- identity


@pytest.mark.parametrize("channels", [1, 2])
@pytest.mark.parametrize("sample_rate", [22050, 44100, 48000])
def test_identical_signals_give_zero_everywhere(rng, sample_rate, channels):
    x = _noise(rng, 4.0, sample_rate, channels)
    values, reasons = compare_with_reasons(x, x, sample_rate, target=x)
    assert set(values) == set(ALL_KEYS)
    assert reasons == {}
    for key in DISTANCE_KEYS:
        assert abs(values[key]) <= 1e-9, key
    json.dumps(values, allow_nan=False)


def test_mono_equals_its_stereo_copy(rng):
    x = _noise(rng, 4.0, 44100, channels=1)
    values = compare(x, _mono_as_stereo(x), 44100, target=_mono_as_stereo(x))
    for key in DISTANCE_KEYS:
        assert abs(values[key]) <= 1e-9, key


# --------------------------------------------------------------------------- bands (physics)


def test_full_scale_sine_reads_0_db_in_its_band():
    sample_rate = 48000
    t = np.arange(2 * sample_rate) / sample_rate
    bands = third_octave_band_db(np.sin(2 * np.pi * 1000.0 * t), sample_rate)
    assert bands.shape == THIRD_OCTAVE_CENTRES_HZ.shape == (27,)
    k = int(np.flatnonzero(THIRD_OCTAVE_CENTRES_HZ == 1000.0)[0])
    assert bands[k] == pytest.approx(0.0, abs=0.01)
    # 2 octaves away the Hann leakage is far down
    assert bands[k - 6] < -60.0 and bands[k + 6] < -60.0


def test_silence_and_mono_side_read_the_floor():
    silence = np.zeros((2, 48000))
    assert np.all(third_octave_band_db(silence, 48000) == BAND_FLOOR_DB)
    mono = np.random.default_rng(3).standard_normal(48000)
    assert np.all(third_octave_band_db(mono, 48000, which="side") == BAND_FLOOR_DB)


def test_bands_above_nyquist_read_the_floor():
    x = np.random.default_rng(4).standard_normal((2, 22050))
    bands = third_octave_band_db(x, 22050)
    above = THIRD_OCTAVE_CENTRES_HZ * 2 ** (1 / 6) > 22050 / 2
    assert above.sum() == 3  # 10k, 12.5k and 16k
    assert np.all(bands[above] == BAND_FLOOR_DB)
    assert np.all(bands[~above] > -40.0)


def test_normalise_shifts_bands_by_the_loudness_gain(rng):
    x = _noise(rng, 3.0, 44100)
    loudness = meter.integrated_loudness(x, 44100)
    shift = third_octave_band_db(x, 44100, normalise=True) - third_octave_band_db(x, 44100)
    np.testing.assert_allclose(shift, metrics.NORMALISATION_LUFS - loudness, atol=1e-9)


@pytest.mark.parametrize("which", ["mid", "side"])
def test_high_shelf_distance_equals_the_band_average(rng, which):
    """An exact FFT-domain +3 dB shelf above 3550 Hz (a gap between the 3150 Hz band's upper
    edge, 3535.7 Hz, and the 4 kHz band's lower edge, 3563.6 Hz): bands from 4 kHz up gain
    exactly 3 dB, those below none; loudness normalisation then shifts every band by minus the
    loudness change, which the meter measures."""
    sample_rate, corner_hz, boost_db = 48000, 3550.0, 3.0
    x = _noise(rng, 8.0, sample_rate)
    spectrum = np.fft.rfft(x, axis=-1)
    freqs = np.fft.rfftfreq(x.shape[-1], 1 / sample_rate)
    spectrum[:, freqs >= corner_hz] *= 10 ** (boost_db / 20)
    shelved = np.fft.irfft(spectrum, n=x.shape[-1], axis=-1)

    gain_db = np.where(THIRD_OCTAVE_CENTRES_HZ >= 4000.0, boost_db, 0.0)
    # the raw band levels first: the shelf itself
    raw = third_octave_band_db(shelved, sample_rate, which=which) - third_octave_band_db(x, sample_rate, which=which)
    np.testing.assert_allclose(raw, gain_db, atol=0.01)
    # then the metric: both normalised to -23 LUFS
    loudness_shift = meter.integrated_loudness(shelved, sample_rate) - meter.integrated_loudness(x, sample_rate)
    assert 0.3 < loudness_shift < boost_db
    expected = float(np.mean(np.abs(gain_db - loudness_shift)))
    got = spectral_balance_distance_db(shelved, x, sample_rate, which=which)
    assert got == pytest.approx(expected, abs=0.01)


def test_mid_distance_is_a_pseudometric_the_generalisation_bound_rests_on(rng):
    """``benchmarks/generalisation.py`` bounds "mid to the target" + "mid to the reference" below by
    the target's own distance to the reference. That holds only if ``compare``'s ``spectral_mid_db``
    obeys the triangle inequality: per-signal normalisation and an absolute floor (a floor or a
    normalisation relative to the other signal would break it). Dark, bright and band-limited noises
    at different loudness, some bands on the floor."""
    sr = 44100
    base = _noise(rng, 3.0, sr)
    spectrum, freqs = np.fft.rfft(base, axis=-1), np.fft.rfftfreq(base.shape[-1], 1 / sr)
    shapes = [
        np.ones_like(freqs),
        (1 + freqs / 200.0) ** -1.5,  # dark
        np.minimum(1.0, (freqs / 2000.0) ** 1.0 + 1e-3),  # bright, thin lows
        np.where(freqs < 3000.0, 1.0, 1e-6),  # band-limited: the top bands sit on the floor
        np.where((freqs > 300.0) & (freqs < 5000.0), 3.0, 0.05),
    ]
    signals = [np.fft.irfft(spectrum * w, n=base.shape[-1], axis=-1) * g for w, g in zip(shapes, (1, 0.2, 3, 0.5, 1))]
    d = np.array([[compare(a, b, sr)["spectral_mid_db"] for b in signals] for a in signals])
    np.testing.assert_allclose(d, d.T, atol=1e-9)
    assert np.all(np.diag(d) == 0.0) and np.all(d[~np.eye(len(d), dtype=bool)] > 0.5)
    for i, j, k in itertools.permutations(range(len(signals)), 3):
        assert d[i, k] <= d[i, j] + d[j, k] + 1e-9
    # the same figure as the public tonal distance
    assert d[0, 3] == pytest.approx(spectral_balance_distance_db(signals[0], signals[3], sr), abs=1e-9)


def test_spectral_distance_refuses_an_unknown_signal(rng):
    x = _noise(rng, 1.0, 44100)
    with pytest.raises(InvalidParameterError, match="which"):
        spectral_balance_distance_db(x, x, 44100, which="left")  # type: ignore[arg-type]


# --------------------------------------------------------------------------- gain only


@pytest.mark.parametrize("gain_db", [-12.0, 7.5])
def test_gain_change_only_moves_loudness(rng, gain_db):
    sample_rate = 44100
    x = _wide(rng, 5.0, sample_rate)
    y = x * 10 ** (gain_db / 20)
    values = compare(y, x, sample_rate)
    assert values["loudness_error_lu"] == pytest.approx(gain_db, abs=1e-6)
    for key in DISTANCE_KEYS:
        if key not in ("loudness_error_lu", "mrstft"):
            assert abs(values[key]) <= 1e-6, key
    assert values["true_peak_dbtp"] == pytest.approx(true_peak_dbtp(x, sample_rate) + gain_db, abs=1e-6)
    # Without loudness normalisation the AF RMS term sees the gain, as Diff-MST's raw metric does.
    assert diffmst_af_metric(y, x, sample_rate, target_lufs=None)["af_rms"] > 1e-5


# --------------------------------------------------------------------------- channel swap


def test_swapped_channels_flip_imbalance_and_keep_width(rng):
    sample_rate = 44100
    x = _wide(rng, 3.0, sample_rate) * np.array([[1.0], [0.6]])  # louder on the left
    swapped = x[::-1]
    f, g = diffmst_af_features(x, sample_rate), diffmst_af_features(swapped, sample_rate)
    assert float(f["imbalance"]) < -0.2
    assert float(g["imbalance"]) == pytest.approx(-float(f["imbalance"]), abs=1e-12)
    assert float(g["width"]) == pytest.approx(float(f["width"]), rel=1e-12)
    np.testing.assert_allclose(g["bark_side"], f["bark_side"], atol=1e-9)
    np.testing.assert_allclose(g["rms"], f["rms"][::-1], rtol=1e-12)

    af = diffmst_af_metric(swapped, x, sample_rate)
    assert af["af_imbalance"] == pytest.approx((2 * float(f["imbalance"])) ** 2, rel=1e-9)
    assert af["af_width"] <= 1e-12 and af["af_bark"] <= 1e-9
    assert width_error_db(swapped, x, sample_rate) <= 1e-9
    assert spectral_balance_distance_db(swapped, x, sample_rate, "side") <= 1e-9


# --------------------------------------------------------------------------- mono


def test_mono_mix_stays_finite_and_mono_against_mono_is_zero(rng):
    sample_rate = 44100
    wide = _wide(rng, 4.0, sample_rate)
    mono_a = _noise(rng, 4.0, sample_rate, channels=1)
    # a different mono signal with a different spectrum (first-difference = brighter)
    mono_b = np.diff(_noise(rng, 4.0, sample_rate, channels=1), axis=-1, prepend=0.0)

    against_wide, reasons = compare_with_reasons(mono_a, wide, sample_rate)
    assert reasons == {}
    assert all(math.isfinite(v) for v in against_wide.values())
    assert 10.0 < against_wide["spectral_side_db"] <= 60.0
    assert against_wide["width_error_db"] > 40.0  # mono reads the -60 dB floor
    assert 0.1 < against_wide["af_bark_side"] < 10.0
    assert math.isfinite(against_wide["af_total"])

    mono_pair = compare(mono_a, _mono_as_stereo(mono_b), sample_rate)
    assert mono_pair["spectral_mid_db"] > 1.0  # they do differ...
    for key in ("spectral_side_db", "width_error_db", "width_error_low_db", "af_width", "af_imbalance", "af_bark_side"):
        assert mono_pair[key] == 0.0, key  # ...but not in their (absent) side signals


def test_af_side_floor_departs_from_diffmst_only_on_the_side_term(rng):
    """Diff-MST's plain ln(B + 1e-8) makes a mono mix's side term explode; ours is bounded."""
    sample_rate = 44100
    wide = _wide(rng, 4.0, sample_rate)
    mono = _mono_as_stereo(_noise(rng, 4.0, sample_rate, channels=1))
    ours = diffmst_af_metric(mono, wide, sample_rate)
    theirs = diffmst_af_metric(mono, wide, sample_rate, side_floor_db=None)
    assert theirs["af_bark_side"] > 10 * ours["af_bark_side"]
    for key in ("af_rms", "af_crest", "af_width", "af_imbalance", "af_bark_mid"):
        assert ours[key] == theirs[key], key
    # on two wide signals the floor is far below the side spectrum: the same as theirs
    other = _wide(rng, 4.0, sample_rate)
    a = diffmst_af_metric(other, wide, sample_rate)
    b = diffmst_af_metric(other, wide, sample_rate, side_floor_db=None)
    assert a["af_bark_side"] == pytest.approx(b["af_bark_side"], rel=0.01)


# --------------------------------------------------------------------------- width


def test_width_of_a_panned_copy():
    # L = s, R = s / 2: S / M = (1/4) / (3/4) in amplitude, -9.54 dB in every band
    s = np.random.default_rng(5).standard_normal(96000)
    width = width_db(np.stack([s, 0.5 * s]), 48000)
    assert width == pytest.approx({"low": -9.542, "mid": -9.542, "high": -9.542}, abs=0.01)
    assert width_db(s, 48000) == {"low": -60.0, "mid": -60.0, "high": -60.0}
    assert width_db(np.zeros((2, 4800)), 48000) is None
    anti = width_db(np.stack([s, -s]), 48000)
    assert anti == {"low": 60.0, "mid": 60.0, "high": 60.0}


def test_width_error_per_band(rng):
    s = rng.standard_normal(96000)
    narrow, wide = np.stack([s, 0.5 * s]), np.stack([s, 0.2 * s])
    bands = width_error_bands_db(wide, narrow, 48000)
    expected = 20 * math.log10(0.8 / 1.2) - 20 * math.log10(0.5 / 1.5)  # S/M of 0.2 vs of 0.5
    assert bands == pytest.approx({"low": expected, "mid": expected, "high": expected}, abs=0.01)
    assert width_error_db(wide, narrow, 48000) == pytest.approx(expected, abs=0.01)
    assert width_error_db(narrow, wide, 48000) == pytest.approx(expected, abs=0.01)


# --------------------------------------------------------------------------- dynamics


def test_crest_over_blocks_is_the_plain_float64_formula():
    """Summed in float64 blocks (CREST_BLOCK samples): the plain peak-over-RMS of the whole array in
    float64, within 1e-9 dB, for a float32 array that does not fill its last block, a strided view,
    and a signal so quiet that its float32 squares would be subnormal."""
    from mixassist.measure.dynamics import CREST_BLOCK

    rng = np.random.default_rng(5)
    x = (rng.standard_normal((2, CREST_BLOCK + 12345)) * np.linspace(0.01, 1.0, CREST_BLOCK + 12345)).astype(np.float32)
    for audio in (x, x[:, ::3], x * np.float32(1e-20)):
        wide = audio.astype(np.float64)
        plain = 20 * math.log10(np.max(np.abs(wide)) / math.sqrt(np.mean(wide**2)))
        assert crest_db(audio) == pytest.approx(plain, abs=1e-9)


def test_dynamics_of_known_signals():
    sample_rate = 48000
    t = np.arange(4 * sample_rate) / sample_rate
    sine = 10 ** (-23 / 20) * np.sin(2 * np.pi * 1000.0 * t)
    stereo = np.stack([sine, sine])
    assert crest_db(stereo) == pytest.approx(10 * math.log10(2), abs=1e-6)
    # EBU Tech 3341 case 1: -23 dBFS stereo 1 kHz reads -23 LUFS, and its true peak is -23 dBTP
    assert plr_db(stereo, sample_rate) == pytest.approx(0.0, abs=0.1)
    assert short_term_spread_lu(stereo, sample_rate) == pytest.approx(0.0, abs=1e-3)
    assert crest_db(np.zeros((2, 100))) is None
    assert plr_db(np.zeros((2, 48000)), sample_rate) is None
    assert short_term_spread_lu(stereo[:, : 2 * sample_rate], sample_rate) is None  # < 3 s


def test_short_term_spread_grows_with_level_changes(rng):
    sample_rate = 8000
    steady = _noise(rng, 20.0, sample_rate)
    stepped = steady * np.where(np.arange(steady.shape[-1]) < 10 * sample_rate, 1.0, 10 ** (-10 / 20))
    assert short_term_spread_lu(steady, sample_rate) < 0.2
    spread = short_term_spread_lu(stepped, sample_rate)
    # two plateaus 10 LU apart plus the crossfade between them: std a little under 5 LU
    assert 4.0 < spread < 5.0
    errors = dynamics_error(stepped, steady, sample_rate)
    assert errors["st_spread_error_lu"] == pytest.approx(spread - short_term_spread_lu(steady, sample_rate))
    assert set(errors) == {"plr_error_db", "crest_error_db", "st_spread_error_lu"}


def test_loudness_error_sign_and_silence(rng):
    x = _noise(rng, 1.0, 44100)
    assert loudness_error_lu(0.5 * x, x, 44100) == pytest.approx(-6.0206, abs=1e-3)
    assert loudness_error_lu(np.zeros_like(x), x, 44100) is None
    values, reasons = compare_with_reasons(np.zeros_like(x), x, 44100)
    assert values["loudness_error_lu"] is None and "silent" in reasons["loudness_error_lu"]
    assert values["af_total"] is None and "silent" in reasons["af_total"]
    json.dumps(values, allow_nan=False)


# --------------------------------------------------------------------------- MRSTFT


def _auraloss_like(x: np.ndarray, y: np.ndarray) -> float:
    """The auraloss MRSTFT formula written with torch.stft, one channel at a time."""
    total = 0.0
    for n_fft, hop, win in zip(metrics.MRSTFT_FFT_SIZES, metrics.MRSTFT_HOP_SIZES, metrics.MRSTFT_WIN_LENGTHS):
        def mag(signal: np.ndarray) -> torch.Tensor:
            spec = torch.stft(
                torch.from_numpy(signal), n_fft, hop, win, torch.hann_window(win, dtype=torch.float64),
                center=True, pad_mode="reflect", return_complex=True,
            )  # fmt: skip
            return torch.sqrt(torch.clamp(spec.real**2 + spec.imag**2, min=1e-8))

        xm, ym = mag(x), mag(y)
        sc = torch.linalg.norm(ym - xm) / torch.linalg.norm(ym)
        total += float(sc + torch.mean(torch.abs(torch.log(ym) - torch.log(xm))))
    return total / len(metrics.MRSTFT_FFT_SIZES)


def test_mrstft_matches_the_auraloss_formula(rng):
    x, y = rng.standard_normal(20000), rng.standard_normal(20000)
    assert mrstft_distance(x, y, 44100) == pytest.approx(_auraloss_like(x, y), rel=1e-9)


def test_mrstft_zero_for_identical_and_monotonic_in_noise(rng):
    sample_rate = 22050
    target = _wide(rng, 2.0, sample_rate)
    noise = rng.standard_normal(target.shape)
    assert mrstft_distance(target, target, sample_rate) == 0.0
    distances = [mrstft_distance(target + level * noise, target, sample_rate) for level in (1e-4, 1e-3, 1e-2, 1e-1)]
    assert all(a < b for a, b in zip(distances, distances[1:])), distances
    with pytest.raises(InvalidAudioError, match="same length"):
        mrstft_distance(target, target[:, :-1], sample_rate)


def test_stft_framing_matches_torch(rng):
    x = rng.standard_normal(40000)
    for n_fft, hop, win in ((1024, 120, 600), (32768, 8192, 32768)):
        ours = np.concatenate(list(stft_magnitudes(x, n_fft, hop, win)))
        ref = torch.stft(
            torch.from_numpy(x), n_fft, hop, win, torch.hann_window(win, dtype=torch.float64),
            center=True, pad_mode="reflect", return_complex=True,
        ).abs().numpy().T  # fmt: skip
        np.testing.assert_allclose(ours, ref, atol=1e-9)


# --------------------------------------------------------------------------- AF details


def test_af_features_follow_their_definitions(rng):
    sample_rate = 44100
    s = rng.standard_normal(3 * sample_rate)
    x = 0.1 * np.stack([s, 0.5 * s])
    f = diffmst_af_features(x, sample_rate, target_lufs=None)
    assert float(f["width"]) == pytest.approx(0.25 / 2.25, rel=1e-12)  # E[(L-R)^2] / E[(L+R)^2]
    assert float(f["imbalance"]) == pytest.approx((0.25 - 1.0) / 1.25, rel=1e-12)
    np.testing.assert_allclose(f["rms"], np.sqrt(np.mean(x**2, axis=-1)), rtol=1e-12)
    assert f["bark_mid"].shape == f["bark_side"].shape == (24,)
    # loudness normalisation: the features of any gain of x are the same
    g = diffmst_af_features(3.0 * x, sample_rate)
    for key, value in diffmst_af_features(x, sample_rate).items():
        np.testing.assert_allclose(g[key], value, rtol=1e-9, atol=1e-12)


def test_bark_filterbank_shape_and_their_edge_quirk():
    bank = af_metric._bark_filterbank(44100.0)
    assert bank.shape == (24, 32768 // 2 + 1)
    assert np.all(bank.max(axis=1) > 0.5)  # no empty band at 44.1 kHz
    points = af_metric._bark_to_hz_as_diffmst(np.linspace(af_metric._hz_to_bark(20.0), af_metric._hz_to_bark(20000.0), 26))
    assert points[0] == pytest.approx(20.0, rel=1e-3)  # the corrected low end inverts exactly
    assert points[-1] > 30000.0  # the uncorrected high end overshoots 20 kHz, as in Diff-MST


# --------------------------------------------------------------------------- parameters


def _params(tracks, master=None):
    names = list(tracks)
    return MixParams(names, tracks=tracks, master=master or {}).to_dict()


def test_parameter_error_on_constructed_recipes():
    truth = _params(
        {
            "vox": {"gain_db": -3.0, "pan": 0.0, "eq_peak2_db": 4.0, "comp_ratio": 4.0},
            "bass": {"gain_db": -6.0, "pan": -0.5, "comp_ratio": 2.0},
            "drums": {"gain_db": 0.0, "pan": 0.3},
        },
        master={"eq_low_shelf_db": 2.0},
    )
    pred = _params(
        {
            "vox": {"gain_db": -5.0, "pan": 0.1, "eq_peak2_db": 1.0, "comp_ratio": 2.0},
            "bass": {"gain_db": -8.0, "pan": -0.5, "eq_high_shelf_db": -2.0},
            "drums": {"gain_db": -5.0, "pan": 0.0},
        },
        master={"eq_low_shelf_db": 3.0},
    )
    err = parameter_error(pred, truth)
    # gain differences -2, -2, -5: mean offset -3, relative errors 1, 1, 2
    assert err["gain_offset_db"] == pytest.approx(-3.0)
    assert err["gain_error_db"] == pytest.approx(3.0)
    assert err["gain_error_relative_db"] == pytest.approx(4.0 / 3.0)
    assert err["pan_error"] == pytest.approx((0.1 + 0.0 + 0.3) / 3)
    assert err["eq_gain_error_db"] == pytest.approx((3.0 + 2.0) / 2)  # only non-flat bands
    assert err["comp_ratio_error_log2"] == pytest.approx(1.0)  # 4:1 vs 2:1 and 2:1 vs off
    assert err["master_eq_gain_error_db"] == pytest.approx(1.0)
    assert err["master_comp_ratio_error_log2"] is None  # both off
    assert err["tracks_compared"] == 3 and err["tracks_missing"] == [] and err["tracks_extra"] == []
    assert err["per_track"]["drums"]["gain_error_db"] == pytest.approx(-5.0)
    assert err["per_track"]["drums"]["gain_error_relative_db"] == pytest.approx(-2.0)
    assert err["per_track"]["drums"]["comp_ratio_error_log2"] is None
    json.dumps(err, allow_nan=False)

    same = parameter_error(truth, truth)
    assert same["gain_error_db"] == same["pan_error"] == same["eq_gain_error_db"] == 0.0
    assert same["comp_ratio_error_log2"] == 0.0


def test_parameter_error_tracks_and_bad_input():
    truth = _params({"vox": {"gain_db": -3.0}, "gtr": {}})
    pred = _params({"vox": {"gain_db": -3.0}, "keys": {}})
    err = parameter_error(pred, truth)
    assert err["tracks_compared"] == 1 and err["tracks_missing"] == ["gtr"] and err["tracks_extra"] == ["keys"]
    with pytest.raises(InvalidParameterError, match="no track in common"):
        parameter_error(_params({"a": {}}), _params({"b": {}}))
    with pytest.raises(InvalidParameterError, match="not a finite number"):
        parameter_error({"tracks": {"vox": {"gain_db": float("nan")}}}, truth)


# --------------------------------------------------------------------------- random input


@settings(max_examples=25, deadline=None)
@given(
    audio=st.integers(1, 2).flatmap(
        lambda channels: hnp.arrays(
            np.float64,
            st.tuples(st.just(channels), st.integers(0, 16000)),
            elements=st.floats(-2.0, 2.0, allow_nan=False, allow_infinity=False),
        )
    ),
    ref_seed=st.integers(0, 2**32 - 1),
    with_target=st.booleans(),
)
def test_random_audio_gives_finite_or_explained_values(audio, ref_seed, with_target):
    sample_rate = 8000
    ref = np.random.default_rng(ref_seed).uniform(-1, 1, (2, 12000))
    target = None
    if with_target:
        target = np.random.default_rng(ref_seed + 1).uniform(-1, 1, audio.shape)
    values, reasons = compare_with_reasons(audio, ref, sample_rate, target=target)
    for key, value in values.items():
        assert value is None or (isinstance(value, float) and math.isfinite(value)), key
        assert (value is None) == (key in reasons), key
    json.dumps(values, allow_nan=False)
    bands = third_octave_band_db(audio, sample_rate, which="side", normalise=True)
    assert np.all(np.isfinite(bands))
