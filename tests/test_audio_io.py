"""Loading, resampling and writing audio: faithful on good files, one clear error on bad ones."""

from __future__ import annotations

import logging
import os
import shutil
import tracemalloc

import numpy as np
import pytest
import soundfile as sf
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from signals import sine, wav_bytes

from mixassist import (
    AudioFileError,
    InvalidAudioError,
    MissingDependencyError,
    MixAssistError,
    OutputError,
    load_audio,
    load_multitrack,
    save_audio,
)
from mixassist.audio import io as audio_io

# ---------------------------------------------------------------- formats


@pytest.mark.parametrize(
    ("suffix", "fmt", "subtype", "tol"),
    [
        (".wav", "WAV", "PCM_16", 2**-15),
        (".wav", "WAV", "PCM_24", 2**-23),
        (".wav", "WAV", "PCM_32", 2**-31 * 4),
        (".wav", "WAV", "FLOAT", 0.0),
        (".wav", "WAV", "DOUBLE", 1e-7),
        (".flac", "FLAC", "PCM_16", 2**-15),
        (".flac", "FLAC", "PCM_24", 2**-23),
        (".aiff", "AIFF", "PCM_16", 2**-15),
    ],
)
@pytest.mark.parametrize("channels", [1, 2])
def test_lossless_formats_load_exactly(tmp_path, rng, suffix, fmt, subtype, tol, channels):
    x = (rng.uniform(-0.9, 0.9, size=(channels, 4410))).astype(np.float32)
    path = tmp_path / f"x{suffix}"
    sf.write(path, x.T, 44100, subtype=subtype, format=fmt)
    y, rate = load_audio(path)
    assert rate == 44100
    assert y.dtype == np.float32 and y.shape == (channels, 4410)
    np.testing.assert_allclose(y, x, atol=tol + 1e-9)


@pytest.mark.parametrize(("fmt", "subtype", "suffix"), [("OGG", "VORBIS", ".ogg"), ("MP3", "MPEG_LAYER_III", ".mp3")])
def test_lossy_formats_load(tmp_path, fmt, subtype, suffix):
    x = sine(440, 1.0, 44100, amplitude=0.5, channels=2)
    path = tmp_path / f"x{suffix}"
    sf.write(path, x.T, 44100, format=fmt, subtype=subtype)
    y, rate = load_audio(path)
    assert rate == 44100 and y.shape[0] == 2
    # Lossy codecs pad and shift; the level of the sine survives.
    rms = np.sqrt(np.mean(y[:, 4410:-4410] ** 2))
    assert rms == pytest.approx(0.5 / np.sqrt(2), rel=0.05)


def test_resample_on_load_keeps_frequency_and_level(tmp_path):
    x = sine(1000, 1.0, 96000, amplitude=0.5)
    path = tmp_path / "x.wav"
    sf.write(path, x.T, 96000, subtype="FLOAT")
    y, rate = load_audio(path, sample_rate=44100)
    assert rate == 44100 and y.shape == (1, 44100)
    ref = sine(1000, 1.0, 44100, amplitude=0.5)
    # soxr HQ: error well below -60 dB away from the edges.
    err = y[:, 1000:-1000] - ref[:, 1000:-1000]
    assert 20 * np.log10(np.sqrt(np.mean(err**2)) / 0.35) < -60


# ---------------------------------------------------------------- hostile files


def test_zero_byte_file(write_bytes):
    p = write_bytes("empty.wav", b"")
    with pytest.raises(AudioFileError, match="empty") as info:
        load_audio(p)
    assert str(p) in str(info.value)


def test_text_named_wav_is_rejected_by_content(write_bytes):
    p = write_bytes("notes.wav", b"these are my session notes, not audio\n" * 20)
    with pytest.raises(AudioFileError, match="not a readable audio file"):
        load_audio(p)


def test_missing_file(tmp_path):
    with pytest.raises(AudioFileError, match="no such file"):
        load_audio(tmp_path / "nope.wav")


def test_truncated_wav_loads_what_is_there_with_warning(write_bytes, caplog):
    data = (np.arange(100, dtype=np.int16) * 100).tobytes()
    p = write_bytes("trunc.wav", wav_bytes(1, 44100, 16, data, declared_len=20000))
    with caplog.at_level(logging.WARNING):
        y, rate = load_audio(p)
    assert y.shape == (1, 100)
    np.testing.assert_allclose(y[0], np.arange(100) * 100 / 32768, atol=1e-6)
    assert "truncated" in caplog.text


def test_header_claiming_4_gb_keeps_memory_bounded(write_bytes):
    p = write_bytes("liar.wav", wav_bytes(2, 44100, 16, b"\x00" * 16, declared_len=0xFFFFFFF0))
    assert p.stat().st_size == 60
    tracemalloc.start()
    try:
        y, _ = load_audio(p)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert y.shape == (2, 4)
    assert peak < 64 * 1024**2


@pytest.mark.parametrize("rate", [0, 1, 1_000_000_000])
def test_absurd_sample_rates(write_bytes, rate):
    p = write_bytes("rate.wav", wav_bytes(1, rate, 16, b"\x00\x01" * 50))
    with pytest.raises(AudioFileError):
        load_audio(p)


def test_zero_channels(write_bytes):
    p = write_bytes("ch0.wav", wav_bytes(0, 44100, 16, b"\x00" * 100))
    with pytest.raises(AudioFileError):
        load_audio(p)


def test_six_channels_needs_downmix(tmp_path, rng):
    x = rng.uniform(-0.5, 0.5, size=(6, 1000)).astype(np.float32)
    p = tmp_path / "surround.wav"
    sf.write(p, x.T, 48000, subtype="FLOAT")
    with pytest.raises(InvalidAudioError, match="6 channels.*--downmix"):
        load_audio(p)
    y, _ = load_audio(p, downmix=True)
    np.testing.assert_allclose(y[0], x.mean(axis=0), atol=1e-6)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_float_wav_names_first_bad_sample(tmp_path, bad):
    x = np.zeros((2, 1000), np.float32)
    x[1, 777] = bad
    x[0, 900] = bad
    p = tmp_path / "bad.wav"
    sf.write(p, x.T, 44100, subtype="FLOAT")
    with pytest.raises(InvalidAudioError, match=r"frame 777 \(channel 1") as info:
        load_audio(p)
    assert "bad.wav" in str(info.value)


def test_integer_scaled_floats_are_refused(tmp_path):
    x = (sine(440, 0.1, 44100, amplitude=1.0) * 32767.0).astype(np.float32)
    p = tmp_path / "scaled.wav"
    sf.write(p, x.T, 44100, subtype="FLOAT")
    with pytest.raises(InvalidAudioError, match="integer-scaled"):
        load_audio(p)


def test_float_headroom_above_full_scale_is_kept(tmp_path):
    x = sine(440, 0.1, 44100, amplitude=2.0)
    p = tmp_path / "hot.wav"
    sf.write(p, x.T, 44100, subtype="FLOAT")
    y, _ = load_audio(p)
    assert np.max(np.abs(y)) == pytest.approx(2.0, rel=1e-3)


def test_silent_and_tiny_stems_load(tmp_path):
    sf.write(tmp_path / "silent.wav", np.zeros(44100, np.float32), 44100, subtype="PCM_16")
    sf.write(tmp_path / "tiny.wav", sine(440, 0.01, 44100).T, 44100, subtype="PCM_16")
    mt = load_multitrack(tmp_path)
    assert mt.names == ["silent", "tiny"]
    assert mt["silent"].is_silent() and not mt["tiny"].is_silent()
    assert mt.num_samples == 44100


def test_ffmpeg_missing_is_a_clear_error(tmp_path, monkeypatch):
    p = tmp_path / "song.m4a"
    p.write_bytes(b"\x00\x00\x00\x20ftypM4A " + b"\x00" * 64)
    monkeypatch.setattr(audio_io.shutil, "which", lambda name: None)
    with pytest.raises(MissingDependencyError, match="ffmpeg"):
        load_audio(p)


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg not installed")
def test_m4a_through_ffmpeg(tmp_path):
    import subprocess

    src = tmp_path / "src.wav"
    sf.write(src, sine(440, 1.0, 48000, channels=2).T, 48000)
    dst = tmp_path / "x.m4a"
    subprocess.run(["ffmpeg", "-v", "error", "-i", str(src), "-c:a", "aac", str(dst)], check=True)
    y, rate = load_audio(dst)
    assert rate == 48000 and y.shape[0] == 2
    assert np.sqrt(np.mean(y[:, 4800:-4800] ** 2)) == pytest.approx(0.5 / np.sqrt(2), rel=0.05)


# ---------------------------------------------------------------- multitrack


def test_mixed_rates_and_lengths_load_together(tmp_path):
    sf.write(tmp_path / "a.wav", sine(100, 1.0, 44100).T, 44100, subtype="FLOAT")
    sf.write(tmp_path / "b.wav", sine(100, 0.5, 48000, channels=2).T, 48000, subtype="FLOAT")
    sf.write(tmp_path / "c.flac", sine(100, 2.0, 48000).T, 48000)
    sf.write(tmp_path / "d.wav", sine(100, 0.25, 96000).T, 96000, subtype="FLOAT")
    mt = load_multitrack(tmp_path)
    assert mt.sample_rate == 48000  # the most common input rate
    assert mt.num_samples == 96000  # padded to the longest (c: 2 s)
    assert [t.channels for t in mt] == [1, 2, 1, 1]
    a = mt["a"].audio[0]
    assert np.all(a[48000 + 10 :] == 0.0)  # zero-padded at the end
    assert np.sqrt(np.mean(a[1000:47000] ** 2)) == pytest.approx(0.5 / np.sqrt(2), rel=1e-3)
    assert set(mt.sources) == {tmp_path / n for n in ("a.wav", "b.wav", "c.flac", "d.wav")}


def test_explicit_session_rate_and_unique_names(tmp_path):
    (tmp_path / "x").mkdir()
    (tmp_path / "y").mkdir()
    for sub in ("x", "y"):
        sf.write(tmp_path / sub / "vox.wav", sine(200, 0.2, 22050).T, 22050)
    mt = load_multitrack([tmp_path / "x" / "vox.wav", tmp_path / "y"], sample_rate=44100)
    assert mt.names == ["vox", "vox_2"]
    assert mt.sample_rate == 44100 and mt.num_samples == 8820


def test_folder_without_audio(tmp_path):
    (tmp_path / "readme.txt").write_text("hi")
    with pytest.raises(AudioFileError, match="no audio files"):
        load_multitrack(tmp_path)


def test_one_bad_stem_names_itself(tmp_path, write_bytes):
    sf.write(tmp_path / "good.wav", sine(200, 0.2, 44100).T, 44100)
    write_bytes("broken.wav", b"garbage" * 10)
    with pytest.raises(MixAssistError, match="broken.wav"):
        load_multitrack(tmp_path)


def test_session_rate_out_of_range(tmp_path):
    sf.write(tmp_path / "a.wav", sine(200, 0.2, 44100).T, 44100)
    with pytest.raises(AudioFileError, match="8-384 kHz"):
        load_multitrack(tmp_path, sample_rate=1000)


# ---------------------------------------------------------------- writing


@pytest.mark.parametrize("bits", [16, 24])
@pytest.mark.parametrize("suffix", [".wav", ".flac"])
def test_integer_round_trip(tmp_path, rng, bits, suffix):
    x = rng.uniform(-0.99, 0.99, size=(2, 20000)).astype(np.float32)
    lsb = 2.0 ** -(bits - 1)
    # Undithered: plain rounding, within half an LSB.
    p = tmp_path / f"plain{suffix}"
    assert save_audio(p, x, 44100, bits, dither=False) == 0
    y, _ = load_audio(p)
    assert np.max(np.abs(y - x)) <= 0.5 * lsb * (1 + 1e-6)
    # TPDF dither (±1 LSB) + rounding: error is at most 1.5 LSB, unbiased, about 0.58 LSB RMS.
    p = tmp_path / f"dither{suffix}"
    save_audio(p, x, 44100, bits)
    y, _ = load_audio(p)
    err = (y.astype(np.float64) - x) / lsb
    assert np.max(np.abs(err)) <= 1.5 + 1e-6
    assert np.sqrt(np.mean(err**2)) < 1.0
    assert abs(np.mean(err)) < 0.02


def test_float_write_is_exact_and_unclipped(tmp_path, rng):
    x = rng.uniform(-2, 2, size=(1, 1000)).astype(np.float32)
    p = tmp_path / "f.wav"
    assert save_audio(p, x, 48000, 32) == 0
    y, _ = load_audio(p)
    np.testing.assert_array_equal(y, x)


def test_clipping_not_wrapping_and_counted(tmp_path, caplog):
    x = np.array([[0.5, 1.5, -1.7, 1.0, -1.0, 0.0]], np.float32)
    p = tmp_path / "clip.wav"
    with caplog.at_level(logging.WARNING):
        n = save_audio(p, x, 44100, 16, dither=False)
    assert n == 2
    assert "2 samples beyond full scale were clipped" in caplog.text
    y, _ = load_audio(p)
    assert y[0, 1] == pytest.approx(32767 / 32768) and y[0, 2] == -1.0  # not wrapped to the other sign


def test_refuses_existing_output_unless_overwrite(tmp_path):
    p = tmp_path / "out.wav"
    p.write_bytes(b"keep me")
    with pytest.raises(OutputError, match="already exists"):
        save_audio(p, np.zeros((1, 10)), 44100)
    assert p.read_bytes() == b"keep me"
    save_audio(p, np.zeros((1, 10)), 44100, overwrite=True)
    assert load_audio(p)[0].shape == (1, 10)


def test_never_overwrites_an_input_even_through_symlink(tmp_path):
    src = tmp_path / "vox.wav"
    sf.write(src, sine(200, 0.1, 44100).T, 44100)
    before = src.read_bytes()
    link = tmp_path / "link.wav"
    os.symlink(src, link)
    mt = load_multitrack(tmp_path / "vox.wav")
    for target in (src, link, tmp_path / "." / "vox.wav"):
        with pytest.raises(OutputError, match="input file"):
            save_audio(target, np.zeros((1, 10)), 44100, overwrite=True, protect=mt.sources)
    assert src.read_bytes() == before and link.is_symlink()


def test_failed_write_leaves_nothing_behind(tmp_path, monkeypatch):
    def boom(self, data):
        raise OSError("disk full")

    monkeypatch.setattr(sf.SoundFile, "write", boom)
    with pytest.raises(OutputError, match="disk full"):
        save_audio(tmp_path / "out.wav", np.zeros((1, 100)), 44100)
    assert list(tmp_path.iterdir()) == []


def test_failed_overwrite_keeps_old_content(tmp_path, monkeypatch):
    p = tmp_path / "out.wav"
    save_audio(p, np.full((1, 100), 0.25), 44100)
    before = p.read_bytes()
    monkeypatch.setattr(sf.SoundFile, "write", lambda self, data: (_ for _ in ()).throw(OSError("disk full")))
    with pytest.raises(OutputError):
        save_audio(p, np.zeros((1, 100)), 44100, overwrite=True)
    assert p.read_bytes() == before and sorted(tmp_path.iterdir()) == [p]


@pytest.mark.parametrize(
    ("name", "kwargs", "match"),
    [
        ("x.mp3", {}, r"\.wav or \.flac"),
        ("x.flac", {"bit_depth": 32}, "FLAC cannot hold"),
        ("x.wav", {"bit_depth": 8}, "bit_depth=8"),
        ("missing/x.wav", {}, "does not exist"),
    ],
)
def test_bad_output_requests(tmp_path, name, kwargs, match):
    with pytest.raises(OutputError, match=match):
        save_audio(tmp_path / name, np.zeros((1, 10)), 44100, **kwargs)


def test_refuses_non_finite_output(tmp_path):
    with pytest.raises(InvalidAudioError):
        save_audio(tmp_path / "x.wav", np.array([[0.0, np.nan]]), 44100)
    assert not (tmp_path / "x.wav").exists()


# ---------------------------------------------------------------- properties


@settings(max_examples=40, deadline=None)
@given(
    audio=hnp.arrays(
        np.float32,
        st.tuples(st.sampled_from([1, 2]), st.integers(0, 3000)),
        elements=st.floats(-4, 4, width=32, allow_subnormal=True),
    )
)
def test_float_write_read_property(tmp_path_factory, audio):
    p = tmp_path_factory.mktemp("prop") / "x.wav"
    save_audio(p, audio, 44100, 32)
    y, rate = load_audio(p)
    assert rate == 44100 and y.shape == audio.shape
    np.testing.assert_array_equal(y, audio)


@settings(max_examples=40, deadline=None)
@given(
    audio=hnp.arrays(
        np.float32,
        st.tuples(st.sampled_from([1, 2]), st.integers(1, 3000)),
        elements=st.floats(-3, 3, width=32),
    )
)
def test_pcm24_write_clips_within_range(tmp_path_factory, audio):
    p = tmp_path_factory.mktemp("prop") / "x.flac"
    n = save_audio(p, audio, 48000, 24)
    y, _ = load_audio(p)
    assert n == int(np.count_nonzero(np.abs(audio) > 1.0))
    assert np.all(np.abs(y) <= 1.0)
    expected = np.clip(audio, -1.0, 1.0)
    assert np.max(np.abs(y - expected)) <= 1.5 * 2.0**-23 + 1e-7


def test_fifo_is_not_a_regular_file(tmp_path):
    fifo = tmp_path / "pipe.wav"
    os.mkfifo(fifo)
    with pytest.raises(AudioFileError, match="not a regular file"):
        load_audio(fifo)


def test_unreadable_stem_says_permission_denied(tmp_path):
    p = tmp_path / "locked.wav"
    sf.write(p, np.zeros(100, np.float32), 22050)
    p.chmod(0)
    try:
        if os.access(p, os.R_OK):
            pytest.skip("running as root: chmod does not stop reads")
        with pytest.raises(AudioFileError, match="permission denied"):
            load_audio(p)
    finally:
        p.chmod(0o644)


def test_same_file_twice_is_mixed_once_with_a_warning(tmp_path, caplog):
    p = tmp_path / "a.wav"
    sf.write(p, np.zeros(100, np.float32), 22050)
    (tmp_path / "link.wav").symlink_to(p)
    with caplog.at_level(logging.WARNING):
        multitrack = load_multitrack([p, tmp_path / "link.wav", p])
    assert multitrack.names == ["a"]
    assert "given twice; mixing it once" in caplog.text


def test_downmix_applies_to_references(tmp_path, rng):
    from mixassist.api import mix_request

    ref = tmp_path / "ref.wav"
    sf.write(ref, (rng.standard_normal((22050, 6)) * 0.05).astype(np.float32), 22050)
    with pytest.raises(InvalidAudioError, match="pass --downmix"):
        mix_request(reference=ref)
    assert not mix_request(reference=ref, downmix=True).target.is_empty
