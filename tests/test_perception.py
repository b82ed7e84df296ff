"""The masking-aware loudness model against physics, published values and independent code.

References used here:

* the sone: a 1-kHz tone at 40 dB SPL heard with both ears is 1 sone, and loudness doubles
  per +10 dB at moderate levels (ANSI S3.4-2007 gives 4.1 sone at 60 phon and 7.9 at 70:
  ×1.92 — we allow 2 ± 20 %);
* ISO 226:2003: the threshold of hearing T_f and the 60-phon equal-loudness contour, from
  the standard's eq. (1) and its table of α_f, L_U, T_f;
* ``scipy.signal.stft``: band powers re-derived from an independent STFT.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import scipy.signal

from mixassist.errors import InvalidAudioError, InvalidParameterError
from mixassist.measure import perception as pc
from mixassist.measure.perception import (
    CAM_STEP,
    ERB_BANDS,
    MixLoudness,
    band_centres_hz,
    band_matrix,
    band_powers,
    excitation_pattern,
    loudness_in_mix,
    masking_measure,
    partial_loudness,
    sone_to_phon,
    specific_loudness,
    stft,
)

SAMPLE_RATES = [22050, 44100, 48000]

# ISO 226:2003 table 1: f -> (alpha_f, L_U dB, T_f dB SPL)
ISO226 = {
    50: (0.432, -15.9, 44.0),
    100: (0.367, -8.1, 26.5),
    200: (0.315, -3.1, 14.4),
    500: (0.267, 0.0, 4.4),
    1000: (0.250, 0.0, 2.4),
    2000: (0.243, -1.0, -1.3),
    4000: (0.242, 1.2, -5.4),
    8000: (0.254, -11.2, 12.6),
    10000: (0.271, -10.7, 13.9),
}


def iso226_spl(freq_hz: int, phon: float) -> float:
    """ISO 226:2003 eq. (1): the SPL of a tone at loudness level ``phon``."""
    alpha, lu, tf = ISO226[freq_hz]
    af = 4.47e-3 * (10 ** (0.025 * phon) - 1.15) + (0.4 * 10 ** ((tf + lu) / 10 - 9)) ** alpha
    return 10 / alpha * math.log10(af) - lu + 94


def tone(freq_hz: float, spl_db: float, sample_rate: int = 44100, seconds: float = 1.0, channels: int = 2) -> np.ndarray:
    """A diotic tone at ``spl_db`` under the 100 dB SPL full-scale-sine calibration."""
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    amplitude = 10 ** ((spl_db - pc.FULL_SCALE_SINE_SPL_DB) / 20)  # full-scale sine: amplitude 1
    return np.repeat((amplitude * np.sin(2 * np.pi * freq_hz * t))[None], channels, axis=0)


def noise_band(rng: np.random.Generator, lo_hz: float, hi_hz: float, spl_db: float, sample_rate: int = 44100,
               seconds: float = 1.0) -> np.ndarray:
    """Mono band-limited Gaussian noise with total level ``spl_db``."""
    n = int(seconds * sample_rate)
    spec = np.fft.rfft(rng.standard_normal(n))
    freqs = np.fft.rfftfreq(n, 1 / sample_rate)
    spec[(freqs < lo_hz) | (freqs > hi_hz)] = 0
    x = np.fft.irfft(spec, n)
    return x / np.sqrt(np.mean(x**2)) * np.sqrt(0.5 * 10 ** ((spl_db - 100) / 10))


def steady(powers: np.ndarray, edge: int = 3) -> np.ndarray:
    """Drop the edge frames (half-empty windows) of ``(..., frames, bands)`` band powers."""
    return powers[..., edge:-edge, :]


def diotic_sone(x: np.ndarray, sample_rate: int = 44100) -> float:
    """Binaural loudness, frame mean over the steady part: sum of the two ears' loudness."""
    p = steady(band_powers(x, sample_rate))
    return float(sum(partial_loudness(p[ear], np.zeros_like(p[ear])).mean() for ear in range(2)))


# --------------------------------------------------------------------------- the grid


def test_band_grid_is_erb_spaced_and_rate_independent():
    centres = band_centres_hz(44100)
    assert 36 <= ERB_BANDS <= 44 and centres.shape == (ERB_BANDS,)
    assert centres[0] == pytest.approx(30.0) and centres[-1] == pytest.approx(16000.0)
    cams = 21.4 * np.log10(4.37e-3 * centres + 1)  # Glasberg & Moore (1990) eq. 4
    assert np.allclose(np.diff(cams), CAM_STEP) and 0.95 < CAM_STEP < 1.05
    for rate in SAMPLE_RATES:
        assert np.array_equal(band_centres_hz(rate), centres)
    with pytest.raises(InvalidAudioError, match="outside"):
        band_centres_hz(1000)


# ----------------------------------------------------------------- calibration (sone)


@pytest.mark.parametrize("sample_rate", SAMPLE_RATES)
def test_1khz_at_40_db_spl_is_one_sone_binaurally(sample_rate):
    """Definition of the sone. Binaural = sum of the ears (MGB97), so each ear hears 0.5 sone.
    Tolerance ±25 % (the 1-ERB grid makes a tone ripple ±7 % with its frequency)."""
    x = tone(1000, 40, sample_rate)  # -60 dBFS amplitude
    mix = loudness_in_mix(band_powers(x, sample_rate)[None])
    assert mix.solo_sone[0] == pytest.approx(1.0, rel=0.25)
    assert mix.solo_phon[0] == pytest.approx(40.0, abs=3.5)
    p = steady(band_powers(x[:1], sample_rate))[0]  # one ear
    assert partial_loudness(p, np.zeros_like(p)).mean() == pytest.approx(0.5, rel=0.25)


def test_position_averaged_1khz_tone_is_one_sone_through_the_stft():
    """LOUDNESS_C is derived on an ideal band grid; through the real STFT the tone's loudness,
    averaged over its position between band centres, must still be 1.00 sone (±3 %)."""
    cam_1k = 21.4 * np.log10(4.37e-3 * 1000 + 1)
    cams = cam_1k + CAM_STEP * (np.arange(8) + 0.5) / 8 - CAM_STEP / 2
    freqs = (10 ** (cams / 21.4) - 1) / 4.37e-3
    values = [diotic_sone(tone(f, 40, seconds=0.6)) for f in freqs]
    assert np.mean(values) == pytest.approx(1.0, abs=0.03)
    assert max(values) / min(values) < 1.2  # the grid ripple stays within ±10 %


@pytest.mark.parametrize(("level_db", "ansi_sone"), [(30, 0.420), (40, 0.998), (50, 2.089), (60, 4.106), (70, 7.881)])
def test_1khz_loudness_matches_ansi_s3_4(level_db, ansi_sone):
    """Loudness of a diotic 1-kHz tone, ANSI S3.4-2007 (Moore's sone–phon table), ±10 %."""
    assert diotic_sone(tone(1000, level_db)) == pytest.approx(ansi_sone, rel=0.1)


@pytest.mark.parametrize("low_db", [40, 50, 60, 70])
def test_loudness_doubles_per_10_db(low_db):
    ratio = diotic_sone(tone(1000, low_db + 10)) / diotic_sone(tone(1000, low_db))
    assert ratio == pytest.approx(2.0, rel=0.2)


def test_60_phon_equal_loudness_contour_iso226():
    """Tones on ISO 226:2003's 60-phon contour read 60 phon within ±3 phon, except 2–4 kHz,
    where ANSI S3.4-2007's ear transfer (fitted to the older contours) reads louder: ±6."""
    for freq, tol in [(100, 3), (200, 3), (500, 3), (1000, 3), (8000, 3), (2000, 6), (4000, 6)]:
        level = float(sone_to_phon(diotic_sone(tone(freq, iso226_spl(freq, 60)))))
        assert level == pytest.approx(60.0, abs=tol), freq


@pytest.mark.parametrize("freq", [100, 1000, 4000, 10000])
def test_threshold_in_quiet_iso226(freq):
    """At the ISO 226:2003 threshold T_f a tone is barely loud (1e-3..1e-2 sone, the model's
    threshold within ~±4 dB of the standard's), 10 dB below it is ~0, and the loudness 10 dB
    above threshold is about the same at every frequency."""
    tf = ISO226[freq][2]
    assert diotic_sone(tone(freq, tf - 10)) < 1e-4
    assert 1e-3 < diotic_sone(tone(freq, tf)) < 1e-2
    assert diotic_sone(tone(freq, tf + 10)) == pytest.approx(diotic_sone(tone(1000, 12.4)), rel=0.5)


def test_silence_is_exactly_zero_and_finite():
    p = band_powers(np.zeros((2, 44100)), 44100)
    assert p.shape == (2, 21, ERB_BANDS) and not p.any()
    mix = loudness_in_mix(np.zeros((3, 2, 21, ERB_BANDS)))
    assert mix.active_frames == 0 and mix.mix_sone == 0.0
    for values in (mix.solo_sone, mix.partial_sone, mix.masked_fraction, mix.solo_phon, mix.partial_phon):
        assert np.all(np.isfinite(values))
    assert not mix.solo_sone.any() and not mix.masked_fraction.any()
    assert not specific_loudness(np.zeros(ERB_BANDS)).any()
    assert not partial_loudness(np.zeros((4, ERB_BANDS)), np.ones((4, ERB_BANDS))).any()
    assert band_powers(np.zeros((1, 0)), 44100).shape == (1, 0, ERB_BANDS)


def test_phon_scale():
    assert sone_to_phon(1.0) == pytest.approx(40.0, abs=0.01)
    assert sone_to_phon(2.0) == pytest.approx(50.0)
    assert sone_to_phon(0.1368) == pytest.approx(20.0, abs=0.3)  # ISO 532-1 low-level branch
    below, above = sone_to_phon([1 - 1e-9, 1 + 1e-9])
    assert above - below < 0.02  # continuous at 1 sone
    assert np.isfinite(sone_to_phon(0.0)) and 0.0 < sone_to_phon(0.0) < 3.0


# ----------------------------------------------------------------------- masking


def test_partial_loudness_without_masker_equals_solo(rng):
    s = np.abs(rng.standard_normal((5, ERB_BANDS))) * 10 ** rng.uniform(-2, 9, (5, ERB_BANDS))
    alone = partial_loudness(s, np.zeros_like(s))
    assert np.allclose(alone, specific_loudness(excitation_pattern(s)).sum(-1), rtol=1e-12)


def test_partial_loudness_falls_as_the_masker_rises(rng):
    sig = steady(band_powers(tone(1000, 60)[:1], 44100))[0]
    noise = steady(band_powers(noise_band(rng, 700, 1400, 0.0)[None], 44100))[0]
    values = [partial_loudness(sig, noise * 10 ** (level / 10)).mean() for level in range(20, 91, 10)]
    assert np.all(np.diff(values) < 0)
    assert values[0] > 0.95 * partial_loudness(sig, np.zeros_like(sig)).mean()  # 40 dB below: unmasked
    assert values[-1] < 1e-3  # 30 dB above: inaudible


def test_masked_threshold_critical_ratio_at_1khz(rng):
    """A 1-kHz tone in broadband noise is at masked threshold (partial loudness equal to the
    loudness of a tone at the absolute threshold, MGB97's criterion) when it is about 17 dB
    above the noise spectrum level (the critical ratio: 10 log10 ERB(1 kHz) − 4 dB ≈ 17.2 dB,
    Moore 2012, *An Introduction to the Psychology of Hearing*; Hawkins & Stevens 1950: ~18 dB).
    We accept 15–19 dB."""
    spectrum_db = 30.0
    noise = steady(band_powers(noise_band(rng, 200, 5000, spectrum_db + 10 * np.log10(4800))[None], 44100))[0]
    at_threshold = steady(band_powers(tone(1000, ISO226[1000][2])[:1], 44100))[0]
    criterion = partial_loudness(at_threshold, np.zeros_like(at_threshold)).mean()

    def partial(ratio_db):
        sig = steady(band_powers(tone(1000, spectrum_db + ratio_db)[:1], 44100))[0]
        return partial_loudness(sig, noise).mean()

    assert partial(15) < criterion < partial(19)


def test_partial_never_exceeds_solo(rng):
    for _ in range(20):
        s = np.abs(rng.standard_normal((8, ERB_BANDS))) * 10 ** rng.uniform(-3, 10, (8, ERB_BANDS))
        m = np.abs(rng.standard_normal((8, ERB_BANDS))) * 10 ** rng.uniform(-3, 10, (8, ERB_BANDS))
        assert np.all(partial_loudness(s, m) <= partial_loudness(s, np.zeros_like(m)) + 1e-12)


def test_on_frequency_masking_beats_distant_masking(rng):
    """A 60-dB noise around 4 kHz hides most of a 55-dB 4-kHz tone; the same noise around
    100 Hz hides almost nothing of it."""
    sig = steady(band_powers(tone(4000, 55)[:1], 44100))[0]
    solo = partial_loudness(sig, np.zeros_like(sig)).mean()
    near = steady(band_powers(noise_band(rng, 3400, 4700, 60)[None], 44100))[0]
    far = steady(band_powers(noise_band(rng, 70, 140, 60)[None], 44100))[0]
    assert 1 - partial_loudness(sig, near).mean() / solo > 0.5
    assert 1 - partial_loudness(sig, far).mean() / solo < 0.02


@pytest.mark.parametrize("masker_db", [70, 90])
def test_upward_spread_of_masking_exceeds_downward(rng, masker_db):
    """A narrow noise at 1 kHz masks a 2-kHz tone more than a 2-kHz noise masks a 1-kHz tone, and
    the asymmetry grows with level (level-dependent lower skirt, ANSI S3.4-2007)."""
    def masked(sig_hz, lo, hi):
        sig = steady(band_powers(tone(sig_hz, 45)[:1], 44100))[0]
        noise = steady(band_powers(noise_band(rng, lo, hi, masker_db)[None], 44100))[0]
        return 1 - partial_loudness(sig, noise).mean() / partial_loudness(sig, np.zeros_like(sig)).mean()

    upward = masked(2000, 900, 1100)
    downward = masked(1000, 1800, 2200)
    assert upward > 1.5 * downward
    if masker_db == 90:
        assert upward > 0.9 and downward < 0.5


def test_panning_apart_unmasks(rng):
    """Two equal noises hard left and hard right do not mask each other (a per-ear model);
    both centred (constant-power pan) they mask each other heavily."""
    a = noise_band(rng, 200, 5000, 0.0)
    b = noise_band(rng, 200, 5000, 0.0)
    pa, pb = band_powers(a[None], 44100)[0], band_powers(b[None], 44100)[0]
    gain = 10 ** (60 / 10)  # the noises are made at 0 dB SPL: play them at 60
    zero = np.zeros_like(pa)
    apart = loudness_in_mix(gain * np.stack([np.stack([pa, zero]), np.stack([zero, pb])]))
    centred = loudness_in_mix(gain * 0.5 * np.stack([np.stack([pa, pa]), np.stack([pb, pb])]))
    assert apart.active_frames > 0 and np.array_equal(apart.masked_fraction, [0.0, 0.0])
    assert np.all(centred.masked_fraction > 0.3)
    assert apart.partial_sone.sum() > 1.5 * centred.partial_sone.sum()


def test_loudness_in_mix_matches_pairwise_partial_loudness(rng):
    """The fast kernel (masker = mix − own, float32 inner loop) against the float64 reference:
    each track's partial loudness with the incoherent sum of the others as masker, per ear."""
    tracks, frames = 5, 12
    placed = np.abs(rng.standard_normal((tracks, 2, frames, ERB_BANDS))) * 10 ** rng.uniform(0, 8, (tracks, 2, 1, ERB_BANDS))
    placed[1, :, :, :20] = 0.0  # a high-passed track
    placed[2] *= 1e-5  # a buried one
    placed[3, :, :4] = 0.0  # one that enters late
    mix = loudness_in_mix(placed)
    total = placed.sum(0)
    ref_partial = np.zeros(tracks)
    ref_solo = np.zeros(tracks)
    for t in range(tracks):
        for ear in range(2):
            others = total[ear] - placed[t, ear]
            ref_partial[t] += partial_loudness(placed[t, ear], others).mean()
            e = excitation_pattern(placed[t, ear], shape_powers=total[ear])
            ref_solo[t] += specific_loudness(e).sum(-1).mean()
    assert mix.active_frames == frames
    np.testing.assert_allclose(mix.partial_sone, ref_partial, rtol=2e-5, atol=1e-9)
    np.testing.assert_allclose(mix.solo_sone, ref_solo, rtol=2e-5, atol=1e-9)
    ref_mix = sum(specific_loudness(excitation_pattern(total[ear])).sum(-1).mean() for ear in range(2))
    assert mix.mix_sone == pytest.approx(ref_mix, rel=1e-9)
    assert np.all(mix.partial_sone <= mix.solo_sone)


def test_mix_loudness_frame_average_and_repr():
    placed = np.zeros((2, 2, 10, ERB_BANDS))
    placed[0, :, :5, 15] = 1e6  # first half: one track
    placed[1, :, :, 20] = 1e6
    mix = loudness_in_mix(placed)
    assert isinstance(mix, MixLoudness) and mix.active_frames == 10
    first_half = loudness_in_mix(placed[:, :, :5])
    # The mean over active frames: track 0 is silent in half of them.
    assert mix.solo_sone[0] == pytest.approx(first_half.solo_sone[0] / 2, rel=1e-6)
    assert "MixLoudness(tracks=2" in repr(mix)


def test_loudness_in_mix_validates():
    with pytest.raises(InvalidParameterError, match="expected"):
        loudness_in_mix(np.zeros((2, 1, 5, ERB_BANDS)))
    with pytest.raises(InvalidParameterError, match="non-negative"):
        loudness_in_mix(-np.ones((1, 2, 5, ERB_BANDS)))
    with pytest.raises(InvalidParameterError, match="finite"):
        loudness_in_mix(np.full((1, 2, 5, ERB_BANDS), np.nan))
    with pytest.raises(InvalidParameterError, match="bands"):
        partial_loudness(np.zeros((3, 7)), np.zeros((3, 7)))


# -------------------------------------------------------------------- band powers


@pytest.mark.parametrize("sample_rate", SAMPLE_RATES)
@pytest.mark.parametrize("channels", [1, 2])
def test_band_powers_equal_scipy_stft(rng, sample_rate, channels):
    """Independent framing and FFT (scipy.signal.stft, float64) with the same band weights."""
    x = (0.1 * rng.standard_normal((channels, int(0.7 * sample_rate)))).astype(np.float32)
    hop = round(0.05 * sample_rate)
    window = scipy.signal.get_window("hann", 2 * hop)
    _, _, z = scipy.signal.stft(x.astype(np.float64), sample_rate, window=window, nperseg=2 * hop, noverlap=hop,
                                boundary="zeros", padded=True)
    power = np.abs(z * window.sum()) ** 2  # undo scipy's 1/sum(window) scaling
    expected = np.einsum("cbf,bk->cfk", power, band_matrix(sample_rate, 2 * hop, window))
    got = band_powers(x, sample_rate)
    assert got.shape == expected.shape == (channels, 1 + math.ceil(x.shape[1] / hop), ERB_BANDS)
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-6 * expected.max())


def test_band_powers_blocks_equal_one_shot(rng, monkeypatch):
    x = 0.1 * rng.standard_normal((2, 3, 44100))  # (tracks, channels, samples)
    whole = band_powers(x, 44100)
    monkeypatch.setattr(stft, "_BLOCK_FRAMES", 7)
    np.testing.assert_allclose(band_powers(x, 44100), whole, rtol=1e-6)
    assert whole.shape == (2, 3, 21, ERB_BANDS)


@pytest.mark.parametrize("sample_rate", SAMPLE_RATES)
def test_band_powers_calibration(sample_rate):
    """Parseval and the calibration: a full-scale 1-kHz sine sums to 100 dB SPL, −60 dBFS to 40
    (the ear transfer is 0 dB at 1 kHz); a 4-kHz tone gains the ANSI transfer (+7.6 dB)."""
    for spl in (100, 40):
        p = steady(band_powers(tone(1000, spl, sample_rate)[:1], sample_rate))
        assert 10 * np.log10(p.sum(-1)) == pytest.approx(np.full(p.shape[:-1], spl), abs=0.05)
    p = steady(band_powers(tone(4000, 40, sample_rate)[:1], sample_rate))
    assert 10 * np.log10(p.sum(-1).mean()) == pytest.approx(40 + 14.2 - 6.6, abs=0.05)


def test_band_powers_above_nyquist_are_zero(rng):
    p = band_powers(0.1 * rng.standard_normal((1, 22050)), 22050)
    above = band_centres_hz(22050) - 1.2 * 24.7 * (4.37e-3 * band_centres_hz(22050) + 1) > 11025
    assert above.any() and not p[..., above].any() and p[..., ~above].all()


def test_band_powers_validate():
    with pytest.raises(InvalidAudioError, match="NaN"):
        band_powers(np.array([[0.0, np.nan]]), 44100)
    with pytest.raises(InvalidParameterError, match="dtype"):
        band_powers(np.zeros((1, 100), dtype=np.int16), 44100)
    with pytest.raises(InvalidParameterError, match="hop_s"):
        band_powers(np.zeros((1, 100)), 44100, hop_s=0.0)


# ---------------------------------------------------------------------- measure


def _stems(rng: np.random.Generator, sample_rate: int = 22050, seconds: float = 2.0) -> np.ndarray:
    n = int(sample_rate * seconds)
    t = np.arange(n) / sample_rate
    bass = 0.3 * np.sin(2 * np.pi * 55 * t)
    pad = noise_band(rng, 300, 3000, 80, sample_rate, seconds)
    lead = 0.05 * np.sin(2 * np.pi * 880 * t) * (t > 0.5)
    stems = np.zeros((4, 2, n))
    stems[0] = bass
    stems[1] = pad
    stems[2, 0] = lead  # hard left
    return stems  # stems[3] is silent


def test_masking_measure_is_level_invariant_and_json_safe(rng):
    stems = _stems(rng)
    a = masking_measure(stems, 22050)
    b = masking_measure(stems * 10 ** (-17 / 20), 22050)
    assert a["masked_fraction"][3] is None and a["solo_phon"][3] is None
    assert a["masked_fraction_mean"] == pytest.approx(b["masked_fraction_mean"], abs=1e-3)
    for x, y in zip(a["masked_fraction"][:3], b["masked_fraction"][:3]):
        assert x == pytest.approx(y, abs=1e-3)
    assert 0.0 <= a["masked_fraction_mean"] <= 1.0
    # The quiet lead in the loud pad's band is the most masked track.
    assert a["masked_fraction"][2] == max(a["masked_fraction"][:3])
    json.dumps(a, allow_nan=False)
    assert "Moore" in a["reference"] and "Wichern" in a["reference"]


def test_masking_measure_silent_or_short_mix_is_all_none():
    out = masking_measure(np.zeros((2, 2, 22050)), 22050)
    assert out["masked_fraction_mean"] is None and out["masked_fraction"] == [None, None]
    assert masking_measure(0.1 * np.ones((1, 2, 1000)), 22050)["masked_fraction_mean"] is None
    with pytest.raises(InvalidParameterError, match="tracks, 2, samples"):
        masking_measure(np.zeros((2, 22050)), 22050)


def test_phon_to_sone_inverts_sone_to_phon():
    from mixassist.measure.perception import phon_to_sone, sone_to_phon

    sone = np.array([0.0, 0.001, 0.05, 0.5, 1.0, 2.0, 37.0])
    np.testing.assert_allclose(phon_to_sone(sone_to_phon(sone)), sone, rtol=1e-9, atol=1e-12)
    assert phon_to_sone([None])[0] == 0.0
