"""The streaming meter (mixassist.measure.stream, .meter) and the block reader (mixassist.audio.blocks).

The reference is :func:`whole_array_report`: the whole-array formulas (K-weight the whole signal,
gate its blocks, window its hop energies, sum its stereo moments), as ``measure()`` computed them
before it fed its array to the block meter, themselves checked against the standards in
tests/test_meter.py. The block meter (``measure_blocks`` of any block size, and ``measure``) must
equal it exactly, every reading and every reason, so the tests compare whole reports with ``==``.
"""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from mixassist.api import analyze, analyze_file
from mixassist.audio.blocks import open_blocks
from mixassist.audio.io import load_audio
from mixassist.errors import AudioFileError, InvalidAudioError
from mixassist.measure import LoudnessReport, k_weight, measure, measure_blocks
from mixassist.measure.loudness import (
    REASON_SHORT_MOMENTARY,
    REASON_SHORT_TERM,
    hop_energies,
    integrated_from_weighted,
    lra_from_short_term,
    series_max,
    window_loudness,
)
from mixassist.measure.peak import sample_peak_of, true_peak_of
from mixassist.measure.stereo import MOMENT_CHUNK, correlation_of, side_mid_of, stereo_moments
from mixassist.measure.summary import empty_report, report_from
from mixassist.measure.validate import as_audio


def whole_array_report(audio: np.ndarray, rate: float) -> LoudnessReport:
    """Every reading from the whole-array formulas: the independent reference of the block meter."""
    x, peak = as_audio(audio)
    if x.shape[-1] == 0:
        return empty_report()
    weighted = k_weight(x, rate)
    hop_energy, edges = hop_energies(weighted, rate)
    momentary = window_loudness(hop_energy, edges, 400)
    short_term = window_loudness(hop_energy, edges, 3000)
    moments = stereo_moments(x) if x.shape[0] == 2 else None
    return report_from(
        {
            "integrated_lufs": integrated_from_weighted(weighted, rate),
            "loudness_range_lu": lra_from_short_term(short_term),
            "true_peak_dbtp": true_peak_of(x, peak),
            "sample_peak_dbfs": sample_peak_of(x, peak),
            "momentary_max_lufs": series_max(momentary, REASON_SHORT_MOMENTARY),
            "short_term_max_lufs": series_max(short_term, REASON_SHORT_TERM),
            "correlation": correlation_of(x, moments),
            "side_mid_db": side_mid_of(x, moments),
        }
    )


def _split(x: np.ndarray, size: int):
    return lambda: [x[..., i : i + size] for i in range(0, x.shape[-1], size)]


def _programme(channels: int, samples: int, seed: int = 0) -> np.ndarray:
    """Noise with a rising envelope and a loud burst: gating, LRA and true peak all have work."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((channels, samples)) * np.linspace(0.003, 0.4, samples)
    x[:, samples // 3 : samples // 3 + 50] *= 2.0
    if channels == 2:
        x[1] = 0.7 * x[1] + 0.3 * x[0]
    return x.astype(np.float32)


@pytest.mark.parametrize("channels", [1, 2])
@pytest.mark.parametrize(
    "seconds",
    [0.001, 0.2, 0.3999, 0.4, 0.45, 2.99, 3.0, 3.05, 7.31],
)
@pytest.mark.parametrize("block", [1000, 4096, 22050 * 8 + 3])
def test_streaming_equals_whole_array(channels: int, seconds: float, block: int) -> None:
    x = _programme(channels, max(int(seconds * 22050), 1))
    whole = whole_array_report(x, 22050)
    assert measure_blocks(_split(x, block), 22050) == whole
    assert measure(x, 22050) == whole


@pytest.mark.parametrize("rate", [44100, 48000])
def test_streaming_equals_whole_array_other_rates(rate: int) -> None:
    x = _programme(2, int(4.05 * rate), seed=rate)
    whole = whole_array_report(x, rate)
    assert measure(x, rate) == whole
    assert whole.integrated_lufs is not None and whole.loudness_range_lu is not None
    assert measure_blocks(_split(x, 65536), rate) == whole


def test_streaming_crosses_the_stereo_sum_chunks() -> None:
    # longer than two chunks of stereo_moments, fed in blocks that straddle the chunk bounds
    x = _programme(2, 2 * MOMENT_CHUNK + 12345, seed=3)
    whole = whole_array_report(x, 22050)
    assert measure(x, 22050) == whole
    assert whole.correlation is not None and whole.side_mid_db is not None
    assert measure_blocks(_split(x, 300_001), 22050) == whole


@pytest.mark.parametrize("channels", [1, 2])
def test_streaming_silence_and_empty(channels: int) -> None:
    silence = np.zeros((channels, 22050 * 4), np.float32)
    report = measure_blocks(_split(silence, 5000), 22050)
    assert report == measure(silence, 22050) == whole_array_report(silence, 22050)
    assert report.integrated_lufs is None and report.true_peak_dbtp is None
    empty = np.zeros((channels, 0), np.float32)
    assert measure_blocks(lambda: [empty], 22050) == measure(empty, 22050)
    assert measure_blocks(lambda: [], 22050) == measure(empty, 22050)


def test_streaming_mono_blocks_1d_and_uneven() -> None:
    x = _programme(1, 22050 * 5, seed=7)[0]
    sizes = [1, 2, 7, 100, 4095, 22050, 10**6]
    blocks, start = [], 0
    for size in sizes:
        blocks.append(x[start : start + size])
        start += size
    assert measure_blocks(lambda: blocks, 22050) == whole_array_report(x, 22050)


def test_streaming_refuses_what_measure_refuses() -> None:
    bad = np.ones((2, 100), np.float32)
    bad[1, 50] = np.nan
    with pytest.raises(InvalidAudioError, match="non-finite"):
        measure_blocks(lambda: [np.zeros((2, 100), np.float32), bad], 22050)
    with pytest.raises(InvalidAudioError, match="channels"):
        measure_blocks(lambda: [np.zeros((2, 100), np.float32), np.zeros((1, 100), np.float32)], 22050)
    with pytest.raises(InvalidAudioError, match="second reading"):
        # a source whose second pass is shorter than its first
        passes = iter([[np.ones((1, 30000), np.float32)], [np.ones((1, 100), np.float32)]])
        measure_blocks(lambda: next(passes), 22050)


@pytest.mark.parametrize(
    ("name", "channels", "subtype", "rate", "seconds"),
    [
        ("stereo.wav", 2, "PCM_24", 44100, 3.3),
        ("mono.flac", 1, "PCM_16", 22050, 1.2),
        ("float.wav", 2, "FLOAT", 22050, 0.3),
        ("quad.wav", 4, "FLOAT", 22050, 2.0),
    ],
)
def test_analyze_file_streams_the_same_report(tmp_path, name, channels, subtype, rate, seconds) -> None:
    path = tmp_path / name
    sf.write(path, _programme(channels, int(seconds * rate)).T * 0.5, rate, subtype=subtype)
    assert analyze_file(path, downmix=True) == analyze(*load_audio(path, downmix=True))
    # small blocks, many passes: the same samples as load_audio
    blocks = open_blocks(path, downmix=True, block_frames=777)
    audio, _ = load_audio(path, downmix=True)
    assert np.array_equal(np.concatenate(list(blocks), axis=-1), audio)
    assert np.array_equal(np.concatenate(list(blocks), axis=-1), audio)


def test_open_blocks_errors(tmp_path) -> None:
    with pytest.raises(AudioFileError, match="no such file"):
        open_blocks(tmp_path / "missing.wav")
    (tmp_path / "empty.wav").write_bytes(b"")
    with pytest.raises(AudioFileError, match="empty"):
        open_blocks(tmp_path / "empty.wav")
    (tmp_path / "junk.wav").write_bytes(b"not audio at all" * 10)
    with pytest.raises(AudioFileError, match="not a readable audio file"):
        open_blocks(tmp_path / "junk.wav")
    sf.write(tmp_path / "quad.wav", np.zeros((100, 4), np.float32), 22050)
    with pytest.raises(InvalidAudioError, match="--downmix"):
        open_blocks(tmp_path / "quad.wav")
    scaled = np.zeros((5000, 1), np.float32)
    scaled[4000] = 30000.0
    sf.write(tmp_path / "scaled.wav", scaled, 22050, subtype="FLOAT")
    with pytest.raises(InvalidAudioError, match="integer-scaled"):
        list(open_blocks(tmp_path / "scaled.wav", block_frames=1000))
    nan = np.zeros((5000, 2), np.float32)
    nan[4321, 1] = np.nan
    sf.write(tmp_path / "nan.wav", nan, 22050, subtype="FLOAT")
    with pytest.raises(InvalidAudioError, match=r"NaN sample at frame 4321 \(channel 1\)"):
        analyze_file(tmp_path / "nan.wav")


@pytest.mark.parametrize("block", [1000, 65536])
def test_streamed_dc_offset_equals_the_whole_array_mean(block: int) -> None:
    """DC is left out of report equality (sums in blocks round differently), so it is checked here."""
    rng = np.random.default_rng(7)
    x = (0.1 * rng.standard_normal((2, 3 * 44100)) + np.array([[0.02], [-0.3]])).astype(np.float32)
    streamed = measure_blocks(lambda: (x[:, i : i + block] for i in range(0, x.shape[-1], block)), 44100)
    whole = measure(x, 44100)
    np.testing.assert_allclose(streamed.dc_offset, whole.dc_offset, rtol=0, atol=1e-12)
    np.testing.assert_allclose(whole.dc_offset, x.astype(np.float64).mean(axis=-1), rtol=0, atol=1e-12)
    assert whole.dc_offset_dbfs[1] == pytest.approx(20 * np.log10(0.3), abs=0.05)


@pytest.mark.parametrize("channels", [1, 2])
@pytest.mark.parametrize("seconds", [0.0, 0.3999, 0.4, 3.05, 7.31])
def test_integrated_streamed_equals_the_whole_array_integrated_loudness(channels: int, seconds: float) -> None:
    """The integrated-only meter (what a render's bus is measured with) against the whole-array
    reference, bit for bit; METER_BLOCK is 65536 samples, so 7.31 s crosses two block bounds."""
    from mixassist.measure import integrated_loudness, integrated_streamed
    from mixassist.measure.meter import StreamMeter

    x = _programme(channels, int(seconds * 22050))
    assert integrated_streamed(x, 22050) == whole_array_report(x, 22050).integrated_lufs
    if x.shape[-1]:
        assert integrated_streamed(x, 22050) == integrated_loudness(x, 22050)
    meter = StreamMeter(22050, integrated_only=True)
    meter.feed(x)
    with pytest.raises(RuntimeError, match="integrated_only"):
        meter.readings()


@pytest.mark.parametrize("channels", [1, 2])
def test_loudness_and_correlation_is_the_separate_readings_from_one_pass(channels: int) -> None:
    """What the rules' track analysis reads in one pass: the integrated and short-term loudness and
    the stereo correlation, each bit for bit the separate whole-array reading (2.5 s crosses a
    stereo-sum chunk)."""
    from mixassist.measure import correlation, integrated_and_short_term, loudness_and_correlation

    x = _programme(channels, int(2.5 * 22050) + MOMENT_CHUNK * (channels - 1), seed=11)
    integrated, short_term, corr = loudness_and_correlation(x, 22050)
    alone = integrated_and_short_term(x, 22050)
    assert integrated == alone[0] == whole_array_report(x, 22050).integrated_lufs
    np.testing.assert_array_equal(short_term, alone[1])
    assert corr == (correlation(x) if channels == 2 else None)
    assert loudness_and_correlation(x, 22050, correlation=False)[2] is None
