"""Long sessions in bounded memory: stems spooled to temporary files and read back block by block,
the mix quantised and written block by block, the delivery metered in blocks. Every path gives
what the whole-array path gives, bit for bit (tolerance 0), on short sessions."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import soundfile as sf

import mixassist.audio.spool as spool_module
from mixassist.audio.io import save_audio
from mixassist.audio.multitrack import Multitrack, Track, load_multitrack
from mixassist.audio.spool import SpooledAudio
from mixassist.errors import AudioFileError
from mixassist.measure import integrated_loudness, measure, true_peak

SR = 22050


def _tone(seconds: float, channels: int, seed: int, rate: int = SR) -> np.ndarray:
    rng = np.random.default_rng(seed)
    n = int(seconds * rate)
    t = np.arange(n) / rate
    env = np.exp(-((t * (1 + seed % 3)) % 0.5) * 8)
    x = 0.3 * np.sin(2 * np.pi * 55 * 2 ** (seed % 24 / 12) * t) * env + 0.02 * rng.standard_normal(n)
    rows = [x, 0.7 * np.roll(x, 7 + seed) + 0.01 * rng.standard_normal(n)][:channels]
    return np.stack(rows).astype(np.float32)


def _write_stems(folder, seconds: float = 3.0) -> None:
    """Mono and stereo stems, one shorter (padded), one at another rate (resampled), an L/R pair
    (merged) and a copy of the kick 3 ms late (aligned)."""
    folder.mkdir()
    kick = _tone(seconds, 1, 0)
    stems = {
        "kick": kick,
        "kick_room": 0.6 * np.roll(kick, int(0.003 * SR)),
        "bass": _tone(seconds, 1, 3),
        "keys": _tone(seconds, 2, 4),
        "lead vox": _tone(seconds - 0.7, 1, 5),  # shorter: zero-padded
        "piano_L": _tone(seconds, 1, 6),
        "piano_R": _tone(seconds, 1, 7),
    }
    for name, audio in stems.items():
        sf.write(folder / f"{name}.wav", audio.T, SR, subtype="PCM_24")
    sf.write(folder / "pad.flac", _tone(seconds, 2, 8, 32000).T, 32000, subtype="PCM_24")  # resampled


def test_spooled_audio_reads_back_what_was_written():
    audio = np.random.default_rng(0).standard_normal((2, 1000)).astype(np.float32)
    spooled = SpooledAudio(audio, length=1200)
    assert spooled.shape == (2, 1200)
    whole = spooled.read()
    assert whole.dtype == np.float32 and whole.shape == (2, 1200)
    assert np.array_equal(whole[:, :1000], audio) and not whole[:, 1000:].any()  # padded with silence
    for a, b in [(0, 1), (10, 500), (999, 1001), (995, 1200), (1100, 1150), (-5, 3), (1150, 5000), (700, 700)]:
        expected = np.pad(audio, ((0, 0), (0, 200)))[:, max(a, 0) : min(b, 1200)]
        assert np.array_equal(spooled.read(a, b), expected), (a, b)
    copy = pickle.loads(pickle.dumps(spooled))
    assert copy.shape == spooled.shape and np.array_equal(copy.read(), whole)
    spooled.close()


def test_spooled_audio_names_the_folder_it_cannot_write(tmp_path):
    with pytest.raises(AudioFileError, match="temporary file"):
        SpooledAudio(np.zeros((1, 10), np.float32), folder=str(tmp_path / "missing"))


def test_a_spooled_track_behaves_as_an_array_track():
    audio = _tone(1.0, 2, 1)
    held, spooled = Track("keys", audio), Track("keys", SpooledAudio(audio))
    assert spooled.spooled and not held.spooled
    assert (spooled.channels, spooled.num_samples) == (held.channels, held.num_samples) == (2, SR)
    assert np.array_equal(spooled.audio, held.audio)
    assert np.array_equal(spooled.read(100, 5000), held.read(100, 5000))
    assert np.array_equal(np.concatenate(list(spooled.blocks(4096)), axis=1), audio)
    assert not spooled.is_silent() and Track("x", SpooledAudio(np.zeros((1, 50), np.float32))).is_silent()
    assert "spooled" in repr(spooled)


def test_load_multitrack_spooled_equals_held(tmp_path):
    _write_stems(tmp_path / "stems")
    held = load_multitrack(tmp_path / "stems", spool=False)
    spooled = load_multitrack(tmp_path / "stems", spool=True)
    assert spooled.names == held.names and "piano" in held.names
    assert spooled.sample_rate == held.sample_rate == SR
    for a, b in zip(held, spooled):
        assert b.spooled and not a.spooled
        assert (a.source, a.source_right, a.channels, a.num_samples) == (
            b.source,
            b.source_right,
            b.channels,
            b.num_samples,
        )
        assert np.array_equal(a.audio, b.audio), a.name


def test_long_sessions_spool_by_themselves(tmp_path, monkeypatch):
    _write_stems(tmp_path / "stems", seconds=1.0)
    assert not any(t.spooled for t in load_multitrack(tmp_path / "stems"))
    monkeypatch.setattr(spool_module, "SPOOL_BYTES", 3 * SR * 4)  # past the third stem
    assert all(t.spooled for t in load_multitrack(tmp_path / "stems"))


@pytest.mark.parametrize("method", ["neural", "rules"])
def test_a_spooled_session_mixes_as_a_held_one(tmp_path, method):
    """Same decisions (every setting and reason), same mix bit for bit, same measurements."""
    from mixassist.api import mix

    _write_stems(tmp_path / "stems")
    results = [mix(load_multitrack(tmp_path / "stems", spool=s), method=method) for s in (False, True)]
    held, spooled = results
    assert held.proposal.alignment is not None and held.proposal.alignment["tracks"]  # the kick pair
    assert spooled.params.to_dict() == held.params.to_dict()
    assert spooled.proposal.reasons.why == held.proposal.reasons.why
    assert np.array_equal(spooled.mix, held.mix)
    assert spooled.measured == held.measured


def test_render_of_a_spooled_session_is_the_held_render(tmp_path):
    from mixassist.api import render
    from mixassist.console.params import MixParams

    _write_stems(tmp_path / "stems")
    held, spooled = (load_multitrack(tmp_path / "stems", spool=s) for s in (False, True))
    params = MixParams(held.names)
    params.set("keys", "comp_ratio", 4.0)
    params.set("keys", "comp_threshold_db", -30.0)
    params.set("bass", "hpf_hz", 40.0)
    params.set("lead_vox", "reverb_send_db", -12.0)
    params.set("kick_room", "delay_ms", 1.3)
    params.set_bus("master", "limiter_ceiling_dbtp", -1.0)
    params.set_bus("master", "output_gain_db", 6.0)
    a, b = render(held, params, want_stems=True), render(spooled, params, want_stems=True)
    assert np.array_equal(a.mix, b.mix) and a.stems is not None and b.stems is not None
    assert np.array_equal(a.stems, b.stems)


def test_render_recipe_of_a_long_session_spools_and_renders_the_same(tmp_path, monkeypatch):
    """``mixassist render``: the recipe's stems spooled (as a long session's are), the same file."""
    from mixassist.api import mix, render_recipe
    from mixassist.recipe import Recipe

    _write_stems(tmp_path / "stems", seconds=2.0)
    mix(load_multitrack(tmp_path / "stems"), method="neural").save(tmp_path / "out")
    recipe = tmp_path / "out" / "recipe.json"
    assert not any(t.spooled for t in Recipe.load(recipe).load_stems())
    render_recipe(recipe, tmp_path / "held.wav")
    monkeypatch.setattr(spool_module, "SPOOL_BYTES", 0)
    stems = Recipe.load(recipe).load_stems()
    assert all(t.spooled for t in stems) and stems.num_samples == 2 * SR
    render_recipe(recipe, tmp_path / "spooled.wav")
    assert (tmp_path / "spooled.wav").read_bytes() == (tmp_path / "held.wav").read_bytes()
    assert (tmp_path / "held.wav").read_bytes() == (tmp_path / "out" / "mix.wav").read_bytes()


def _whole_array_quantise(audio: np.ndarray, bit_depth: int, seed: int) -> np.ndarray:
    """The reference: the whole array dithered and quantised at once (the previous writer)."""
    scale = float(2 ** (bit_depth - 1))
    x = audio.astype(np.float64) * scale
    rng = np.random.default_rng(seed)
    x += rng.random(x.shape) - rng.random(x.shape)
    q = np.clip(np.rint(x), -scale, scale - 1)
    return q.T.astype(np.int32)


@pytest.mark.parametrize("bit_depth", [16, 24])
@pytest.mark.parametrize("channels", [1, 2])
def test_block_writing_equals_whole_array_quantisation(tmp_path, bit_depth, channels):
    """Several blocks (2**16 frames each) and a partial one; clipped samples counted the same."""
    audio = 3.5 * _tone(7.0, channels, 2)  # peaks above full scale: some samples clip
    path = tmp_path / "out.wav"
    clipped = save_audio(path, audio, SR, bit_depth, seed=5)
    data, _ = sf.read(path, dtype="int32", always_2d=True)
    expected = _whole_array_quantise(audio, bit_depth, 5) << (32 - bit_depth)
    assert np.array_equal(data, expected)
    assert clipped == int(np.count_nonzero(np.abs(audio) > 1.0)) > 0
    save_audio(tmp_path / "float.wav", audio, SR, 32)
    assert np.array_equal(sf.read(tmp_path / "float.wav", dtype="float32", always_2d=True)[0].T, audio)


def test_delivery_meters_in_blocks_as_the_whole_array_measures(monkeypatch):
    """Delivery reads loudness and true peak from ``measure`` (blocks) and the limiter's gain
    reduction in chunks: the whole-array figures, exactly."""
    from mixassist.mixers import deliver

    mix = _tone(5.0, 2, 9)
    report = measure(mix, SR)
    assert report.integrated_lufs == integrated_loudness(mix, SR) and report.true_peak_dbtp == true_peak(mix, SR)
    whole = deliver.limiter_reduction(1.3 * mix, mix, 0.0, SR)
    monkeypatch.setattr(deliver, "REDUCTION_CHUNK", 3000)  # many chunks, not a whole number of 10 ms blocks
    assert deliver.limiter_reduction(1.3 * mix, mix, 0.0, SR) == whole == {"max": 2.28, "mean": 2.28}


def test_multitrack_of_spooled_tracks_checks_shapes():
    with pytest.raises(Exception, match="differ in length"):
        Multitrack(
            [Track("a", SpooledAudio(np.zeros((1, 10), np.float32))), Track("b", np.zeros((1, 11), np.float32))], SR
        )
