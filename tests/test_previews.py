"""Loudness-matched previews (issue 21): the raw sum, the mix and each reference, written as
24-bit files, measure the same integrated loudness within 0.1 LU; the excerpt is the loudest
section; no preview has a sample above the peak limit; pyloudnorm is the independent meter."""

from __future__ import annotations

import numpy as np
import pyloudnorm
import pytest

from mixassist.audio.io import load_audio, save_audio
from mixassist.previews import PEAK_LIMIT_DBFS, loudest_section, make_previews, raw_sum

SR = 22050


def _noise(rng: np.random.Generator, seconds: float, level: float, channels: int = 2) -> np.ndarray:
    return (level * rng.standard_normal((channels, int(seconds * SR)))).astype(np.float32)


def test_loudest_section_finds_the_loud_part(rng):
    audio = _noise(rng, 12.0, 0.01)
    audio[:, 7 * SR : 10 * SR] *= 30.0  # seconds 7-10 are 30 dB louder
    start = loudest_section(audio, SR, 3.0)
    assert abs(start / SR - 7.0) <= 0.2
    assert loudest_section(audio[:, : 2 * SR], SR, 3.0) == 0  # shorter than the excerpt: whole


def test_raw_sum_puts_mono_stems_at_minus_3_db_on_both_sides():
    mono = np.ones((1, 10), np.float32)
    stereo = np.full((2, 6), 0.5, np.float32)
    out = raw_sum([mono, stereo])
    assert out.shape == (2, 10)
    np.testing.assert_allclose(out[:, 0], np.sqrt(0.5) + 0.5, rtol=1e-6)
    np.testing.assert_allclose(out[:, 8], np.sqrt(0.5), rtol=1e-6)


def test_written_previews_match_in_loudness_within_0_1_lu(rng, tmp_path):
    raw = _noise(rng, 8.0, 0.3)  # loud and peaky: sets the common level by its peak
    mix = _noise(rng, 8.0, 0.05)
    mix[:, 4 * SR : 7 * SR] *= 4.0
    reference = _noise(rng, 5.0, 0.02, channels=1)
    previews = make_previews(raw, mix, SR, [("ref.wav", reference)], excerpt_s=3.0)
    assert sorted({p.length for p in previews}) == ["excerpt", "full"]
    assert {p.key for p in previews} == {"raw-sum", "mix", "reference-1-ref"}
    meter = pyloudnorm.Meter(SR)
    for length in ("excerpt", "full"):
        chosen = [p for p in previews if p.length == length]
        assert len(chosen) == 3
        loudness = []
        for p in chosen:
            path = tmp_path / p.name
            path.parent.mkdir(parents=True, exist_ok=True)
            save_audio(path, p.audio, SR, 24)
            audio, rate = load_audio(path)
            assert rate == SR
            loudness.append(meter.integrated_loudness(audio.T))
            assert 20 * np.log10(np.abs(audio).max()) <= PEAK_LIMIT_DBFS + 0.01
        assert max(loudness) - min(loudness) < 0.1, loudness
        assert loudness[0] == pytest.approx(chosen[0].loudness_lufs, abs=0.1)
    mix_excerpt = next(p for p in previews if p.key == "mix" and p.length == "excerpt")
    raw_excerpt = next(p for p in previews if p.key == "raw-sum" and p.length == "excerpt")
    assert mix_excerpt.audio.shape[1] == 3 * SR and raw_excerpt.start_s == mix_excerpt.start_s
    assert 3.9 <= mix_excerpt.start_s <= 4.1  # the mix's loud part; the raw sum cut at the same place


def test_silence_is_left_out(rng):
    previews = make_previews(np.zeros((2, SR * 4), np.float32), _noise(rng, 4.0, 0.1), SR, excerpt_s=2.0)
    assert {p.key for p in previews} == {"mix"}
