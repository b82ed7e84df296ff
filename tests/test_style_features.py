"""Style features: against the meter, scipy's Welch spectrum, physics, and themselves.

Independent references: :func:`mixassist.measure.integrated_loudness` (pyloudnorm's gating
over an IIR K-weighting), :func:`mixassist.evaluate.metrics.third_octave_band_db` (scipy.signal.welch),
:func:`mixassist.evaluate.metrics.crest_db` / ``short_term_spread_lu``, a scipy ``sosfilt`` shelf
with its analytic response, and finite differences.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import scipy.signal
import soundfile
import torch

from mixassist import measure as meter
from mixassist.errors import InvalidAudioError, InvalidParameterError
from mixassist.evaluate import metrics
from mixassist.style import (
    THIRD_OCTAVE_CENTRES_HZ,
    StyleFeatures,
    style_distance,
    style_features,
    style_features_torch,
)
from mixassist.style import features as features_module
from mixassist.style.features import SPECTRAL_FLOOR_DB, WIDTH_LIMIT_DB

DEMO = Path(__file__).resolve().parents[1] / "examples" / "demo"
DEMO_FILES = sorted((DEMO / "stems").glob("*.flac")) + [DEMO / "reference.flac"]
FLOAT_FEATURES = (
    "loudness_lufs", "spectral_mid_db", "spectral_side_db", "width_db", "width_overall_db", "crest_db",
    "short_term_spread_lu",
)  # fmt: skip


def _read(path: Path) -> tuple[np.ndarray, int]:
    data, sample_rate = soundfile.read(path, always_2d=True, dtype="float32")
    return np.ascontiguousarray(data.T), sample_rate


@pytest.fixture(scope="module", autouse=True)
def _one_torch_thread():
    """Run this module's torch work on one thread, restored afterwards.

    These tests make many small tensor operations; on the shared 2-core machine torch's OpenMP
    threads then wait on each other whenever another process holds a core (the module took 50 s
    with two threads and 16 s with one). Results do not depend on the thread count.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def reference() -> tuple[np.ndarray, int]:
    return _read(DEMO / "reference.flac")


def _as_stereo(x: np.ndarray) -> np.ndarray:
    x = np.atleast_2d(x)
    return np.repeat(x, 2, axis=0) if x.shape[0] == 1 else x


def _song_like(rng: np.random.Generator, seconds: float, sample_rate: int, channels: int = 2) -> np.ndarray:
    """Coloured, partly correlated noise with a 0.25 Hz level swing (so every gate has work)."""
    n = int(seconds * sample_rate)
    common = rng.standard_normal(n)
    x = np.stack([common + 0.5 * rng.standard_normal(n) for _ in range(channels)])
    x = scipy.signal.lfilter([1.0], [1.0, -0.9], x, axis=-1)  # pink-ish: more low end
    envelope = 10 ** ((-12 + 10 * np.sin(2 * np.pi * 0.25 * np.arange(n) / sample_rate)) / 20)
    return (0.05 * x * envelope).astype(np.float32)


def _unfloor(db: np.ndarray) -> np.ndarray:
    """Undo the soft spectral floor: 10 log10(10**(v/10) - 10**(floor/10))."""
    return 10 * np.log10(np.maximum(10 ** (np.asarray(db) / 10) - 10 ** (SPECTRAL_FLOOR_DB / 10), 1e-300))


def _assert_features_close(a: StyleFeatures, b: StyleFeatures, tol: float) -> None:
    np.testing.assert_array_equal(a.band_centres_hz, b.band_centres_hz)
    for name in FLOAT_FEATURES:
        va, vb = getattr(a, name), getattr(b, name)
        assert (va is None) == (vb is None), name
        if va is not None:
            np.testing.assert_allclose(va, vb, rtol=0, atol=tol, err_msg=name)


# --------------------------------------------------------------------------- loudness


@pytest.mark.parametrize("path", DEMO_FILES, ids=lambda p: p.name)
def test_loudness_equals_meter_on_demo_audio(path: Path) -> None:
    audio, sample_rate = _read(path)
    expected = meter.integrated_loudness(_as_stereo(audio), sample_rate)  # mono is read as L = R
    got = style_features(audio, sample_rate).loudness_lufs
    assert got == pytest.approx(expected, abs=1e-3)  # brief: 0.1 LU; measured ~1e-6 LU


@pytest.mark.parametrize("sample_rate", [22050, 44100, 48000])
@pytest.mark.parametrize("channels", [1, 2])
def test_loudness_and_spread_equal_the_references_on_gated_signals(rng, sample_rate: int, channels: int) -> None:
    x = _song_like(rng, 13.37, sample_rate, channels)
    x[:, int(2 * sample_rate) : int(6 * sample_rate)] *= 0.03  # 30 dB down: above -70 LUFS, below the relative gates
    f = style_features(x, sample_rate, block_samples=16 * 4096)  # several blocks, odd length
    assert f.loudness_lufs == pytest.approx(meter.integrated_loudness(_as_stereo(x), sample_rate), abs=1e-3)
    assert f.short_term_spread_lu == pytest.approx(metrics.short_term_spread_lu(x, sample_rate), abs=1e-3)
    assert f.crest_db == pytest.approx(metrics.crest_db(x), abs=1e-6)
    torch_f = style_features_torch(torch.from_numpy(x), sample_rate)
    assert float(torch_f["loudness_lufs"]) == pytest.approx(f.loudness_lufs, abs=1e-3)


def test_sine_loudness_crest_and_undefined_figures() -> None:
    sample_rate = 48000
    t = np.arange(10 * sample_rate) / sample_rate
    tone = 10 ** (-23 / 20) * np.sin(2 * np.pi * 997 * t)
    f = style_features(np.stack([tone, tone]), sample_rate)
    assert f.loudness_lufs == pytest.approx(-23.0, abs=0.05)  # BS.1770: 997 Hz stereo sine at -23 dBFS
    assert f.crest_db == pytest.approx(10 * math.log10(2), abs=0.01)  # brief: ±0.1 dB
    assert f.short_term_spread_lu == pytest.approx(0.0, abs=1e-3)

    short = style_features(np.stack([tone, tone])[:, : int(0.3 * sample_rate)], sample_rate)
    assert short.loudness_lufs is None and short.short_term_spread_lu is None
    assert short.crest_db is not None and short.spectral_mid_db is not None
    silent = style_features(np.zeros((2, 5 * sample_rate)), sample_rate)
    assert all(getattr(silent, name) is None for name in FLOAT_FEATURES)
    empty = style_features(np.zeros((2, 0)), sample_rate)
    assert all(getattr(empty, name) is None for name in FLOAT_FEATURES)


# --------------------------------------------------------------------------- spectra and width


def test_spectra_and_width_equal_scipy_welch_bands(reference) -> None:
    audio, sample_rate = reference
    f = style_features(audio, sample_rate)
    mid = metrics.third_octave_band_db(audio, sample_rate, which="mid")
    side = metrics.third_octave_band_db(audio, sample_rate, which="side")
    total_db = 10 * np.log10(np.sum(10 ** (mid / 10)))
    np.testing.assert_allclose(_unfloor(f.spectral_mid_db), mid - total_db, atol=1e-3)
    np.testing.assert_allclose(_unfloor(f.spectral_side_db), side - total_db, atol=1e-3)
    # width: the smooth ±60 dB clip of the side-to-mid band power ratio
    s_pow, m_pow, e = 10 ** (side / 10), 10 ** (mid / 10), 10 ** (-WIDTH_LIMIT_DB / 10)
    np.testing.assert_allclose(f.width_db, 10 * np.log10((s_pow + e * m_pow) / (m_pow + e * s_pow)), atol=1e-3)
    assert np.all(np.abs(f.width_db) < WIDTH_LIMIT_DB)
    np.testing.assert_array_equal(f.band_centres_hz, THIRD_OCTAVE_CENTRES_HZ)


def test_white_noise_band_levels_follow_the_band_widths(rng) -> None:
    sample_rate = 44100
    noise = (0.1 * rng.standard_normal((2, 30 * sample_rate))).astype(np.float32)
    f = style_features(noise, sample_rate)
    widths = THIRD_OCTAVE_CENTRES_HZ * (2 ** (1 / 6) - 2 ** (-1 / 6))
    expected = 10 * np.log10(widths / widths.sum())  # white noise: band power ∝ band width
    np.testing.assert_allclose(f.spectral_mid_db, expected, atol=0.5)
    # about +1 dB per band: the mean step equals that of the nominal centres
    step = np.mean(np.diff(f.spectral_mid_db))
    assert step == pytest.approx(np.mean(np.diff(10 * np.log10(THIRD_OCTAVE_CENTRES_HZ))), abs=0.05)
    # independent channels: side and mid carry equal power, width ~0 dB
    np.testing.assert_allclose(f.width_db, 0.0, atol=1.0)
    assert f.width_overall_db == pytest.approx(0.0, abs=0.1)


def _rbj_high_shelf(freq_hz: float, gain_db: float, sample_rate: int) -> np.ndarray:
    """RBJ cookbook high shelf, shelf slope S = 1, as one scipy sos row."""
    a = 10 ** (gain_db / 40)
    w0 = 2 * math.pi * freq_hz / sample_rate
    alpha = math.sin(w0) / 2 * math.sqrt(2)
    cos = math.cos(w0)
    b = [a * ((a + 1) + (a - 1) * cos + 2 * math.sqrt(a) * alpha), -2 * a * ((a - 1) + (a + 1) * cos),
         a * ((a + 1) + (a - 1) * cos - 2 * math.sqrt(a) * alpha)]  # fmt: skip
    den = [(a + 1) - (a - 1) * cos + 2 * math.sqrt(a) * alpha, 2 * ((a - 1) - (a + 1) * cos),
           (a + 1) - (a - 1) * cos - 2 * math.sqrt(a) * alpha]  # fmt: skip
    return np.array([b + den]) / den[0]


def test_high_shelf_on_noise_raises_the_top_bands_by_its_gain(rng) -> None:
    sample_rate = 44100
    noise = 0.1 * rng.standard_normal((2, 20 * sample_rate))
    sos = _rbj_high_shelf(4000.0, 6.0, sample_rate)
    shelved = scipy.signal.sosfilt(sos, noise, axis=-1)
    change = style_features(shelved, sample_rate).spectral_mid_db - style_features(noise, sample_rate).spectral_mid_db
    centres = THIRD_OCTAVE_CENTRES_HZ
    change -= np.mean(change[(centres >= 100) & (centres <= 500)])  # renormalise to the unshelved bands
    np.testing.assert_allclose(change[centres >= 8000], 6.0, atol=0.5)
    # every band against the shelf's analytic power gain, averaged over the band
    for centre, value in zip(centres, change, strict=True):
        freqs = np.linspace(centre * 2 ** (-1 / 6), centre * 2 ** (1 / 6), 200)
        _, response = scipy.signal.sosfreqz(sos, worN=freqs, fs=sample_rate)
        assert value == pytest.approx(10 * np.log10(np.mean(np.abs(response) ** 2)), abs=0.15), centre


def test_mono_reads_the_floor_and_swapping_channels_keeps_the_width(rng, reference) -> None:
    sample_rate = 44100
    left = _song_like(rng, 5.0, sample_rate, 1)[0]
    mono = style_features(np.stack([left, left]), sample_rate)
    np.testing.assert_array_equal(mono.spectral_side_db, SPECTRAL_FLOOR_DB)
    np.testing.assert_allclose(mono.width_db, -WIDTH_LIMIT_DB, atol=1e-6)
    assert mono.width_overall_db == pytest.approx(-WIDTH_LIMIT_DB, abs=1e-6)
    _assert_features_close(style_features(left[None], sample_rate), mono, 1e-6)  # 1 channel = L = R

    audio, sample_rate = reference
    wide, swapped = style_features(audio, sample_rate), style_features(audio[::-1], sample_rate)
    _assert_features_close(swapped, wide, 1e-9)


def test_a_gain_changes_only_the_loudness(reference) -> None:
    audio, sample_rate = reference
    loud, quiet = style_features(audio, sample_rate), style_features(audio * 10 ** (-12 / 20), sample_rate)
    assert quiet.loudness_lufs - loud.loudness_lufs == pytest.approx(-12.0, abs=1e-3)  # brief: ±0.05
    for name in FLOAT_FEATURES[1:]:
        np.testing.assert_allclose(getattr(quiet, name), getattr(loud, name), atol=1e-3, err_msg=name)  # brief: 0.05


# --------------------------------------------------------------------------- one definition, two paths


@pytest.mark.parametrize("sample_rate", [22050, 44100, 48000])
@pytest.mark.parametrize("channels", [1, 2])
def test_numpy_path_equals_torch_path(rng, sample_rate: int, channels: int) -> None:
    x = _song_like(rng, 7.3, sample_rate, channels)
    numpy_f = style_features(x, sample_rate, block_samples=5 * 4096)
    for audio in (torch.from_numpy(x), torch.from_numpy(x.astype(np.float64))):
        torch_f = style_features_torch(audio, sample_rate)
        np.testing.assert_array_equal(torch_f["band_centres_hz"].numpy(), numpy_f.band_centres_hz)
        for name in FLOAT_FEATURES:
            np.testing.assert_allclose(torch_f[name].numpy(), getattr(numpy_f, name), atol=1e-3, err_msg=name)
    assert numpy_f.band_centres_hz[-1] < sample_rate / 2


def test_torch_batch_rows_equal_single_calls(reference) -> None:
    audio, sample_rate = reference
    excerpts = torch.from_numpy(
        np.stack([audio[:, : 6 * sample_rate], 0.3 * audio[::-1, 6 * sample_rate : 12 * sample_rate]])
    )
    batch = style_features_torch(excerpts[None], sample_rate)  # lead shape (1, 2)
    for row in range(2):
        single = style_features_torch(excerpts[row], sample_rate)  # no lead shape
        for name in FLOAT_FEATURES:
            assert batch[name].shape[:2] == (1, 2)
            # float32 input: FFTs run in float32, and a batched FFT may take another SIMD path than
            # a single one (seen: 3e-6 dB apart on one CPU, bit-equal on another) -- the documented
            # float32 rounding of these features, ~1e-6 dB
            torch.testing.assert_close(batch[name][0, row], single[name], rtol=0, atol=1e-5)


def test_block_processing_equals_one_shot(rng) -> None:
    sample_rate = 48000
    x = _song_like(rng, 21.7, sample_rate)
    one_shot = style_features(x, sample_rate, block_samples=x.shape[-1] + 8192)
    for block in (13 * 4096, 40 * 4096 + 1, 10**6):  # float32 FFTs: equal to ~1e-6 dB
        _assert_features_close(style_features(x, sample_rate, block_samples=block), one_shot, 1e-5)


def test_ten_minutes_are_processed_in_bounded_blocks(rng, monkeypatch) -> None:
    sample_rate = 44100
    n = 600 * sample_rate
    x = np.empty((2, n), dtype=np.float32)
    x[0] = rng.standard_normal(n, dtype=np.float32)
    x[1] = 0.5 * x[0] + rng.standard_normal(n, dtype=np.float32)
    x *= 0.05
    seen: list[int] = []
    original = features_module.block_stats

    def spy(ctx, start, stop, plan):
        seen.append(ctx.shape[-1])
        return original(ctx, start, stop, plan)

    monkeypatch.setattr(features_module, "block_stats", spy)
    block = features_module.DEFAULT_BLOCK_SAMPLES
    f = style_features(x, sample_rate, block_samples=block)
    assert len(seen) == -(-n // block)
    # a block's buffer: the block, 16384 samples of K-weighting history, and at most one K piece
    # (131072) or one Welch segment of look-ahead: ~4 s, never the whole 10 minutes
    assert max(seen) <= block + 16384 + 131072
    peak_db = 20 * math.log10(max(float(x.max()), -float(x.min())))
    mean_square = sum(float(np.dot(row.astype(np.float64), row)) for row in x) / x.size
    assert f.crest_db == pytest.approx(peak_db - 10 * math.log10(mean_square), abs=1e-4)
    # steady noise: every block gated in, the loudness of the first minute is that of all ten
    assert f.loudness_lufs == pytest.approx(meter.integrated_loudness(x[:, : 60 * sample_rate], sample_rate), abs=0.05)


# --------------------------------------------------------------------------- gradients


def test_gradcheck_through_every_smooth_feature() -> None:
    """torch.autograd.gradcheck in float64 on a 4-parameter family of 3.5 s signals.

    The gates are masks computed without gradient: piecewise constant in the input, so the
    finite differences see the same gated blocks as long as no block sits on a threshold, which
    holds for these signals. The crest factor is left out on purpose: its value is the exact
    sample peak and its gradient that of a power mean (tested below), so it is not the
    derivative of its own value.
    """
    sample_rate = 8000
    gen = torch.Generator().manual_seed(3)
    n = int(3.5 * sample_rate)
    envelope = 1.0 + 0.8 * torch.sin(2 * math.pi * 0.5 * torch.arange(n, dtype=torch.float64) / sample_rate)
    basis = torch.randn(4, 2, n, generator=gen, dtype=torch.float64) * envelope
    basis[1, 1] = basis[1, 0]  # a mono component
    basis[2] = torch.cumsum(basis[2], dim=-1) * 0.05  # a dark component

    projections = torch.randn(3, 20, generator=gen, dtype=torch.float64)  # 20 bands below 4 kHz

    def features_of(weights: torch.Tensor) -> torch.Tensor:
        x = 0.05 * torch.einsum("k,kcn->cn", weights, basis)
        f = style_features_torch(x, sample_rate)
        assert bool(f["loudness_defined"]) and bool(f["short_term_spread_defined"])
        banded = torch.stack([f["spectral_mid_db"], f["spectral_side_db"], f["width_db"]])
        # every scalar, a few single bands and random projections of every band (one backward
        # pass per output keeps the check fast)
        return torch.cat([
            torch.stack([f["loudness_lufs"], f["width_overall_db"], f["short_term_spread_lu"]]),
            banded[:, [0, 9, 19]].reshape(-1),
            (banded * projections).sum(-1),
        ])  # fmt: skip

    weights = torch.tensor([1.0, 0.7, 0.5, 0.3], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(features_of, (weights,), eps=1e-6, atol=1e-5, rtol=1e-4)


def test_crest_value_is_exact_and_its_gradient_follows_the_exact_crest(reference) -> None:
    audio, sample_rate = reference
    x0 = torch.from_numpy(audio[:, : 6 * sample_rate].astype(np.float64))
    x = x0.clone().requires_grad_()
    crest = style_features_torch(x, sample_rate)["crest_db"]
    assert float(crest.detach()) == pytest.approx(metrics.crest_db(audio[:, : 6 * sample_rate]), abs=1e-9)
    (grad,) = torch.autograd.grad(crest, x)
    assert torch.isfinite(grad).all()
    assert float((grad * x0).sum()) == pytest.approx(0.0, abs=1e-9)  # a gain leaves the crest alone
    paths = {  # smooth one-parameter changes of the waveform, a = 0 is the original
        "cubic": lambda a: x0 + a * x0**3,
        "tanh": lambda a: torch.tanh((1 + a) * x0) / (1 + a),
        "fade": lambda a: x0 * (1 + a * torch.linspace(-1, 1, x0.shape[-1], dtype=torch.float64)),
        "power": lambda a: torch.sign(x0) * x0.abs() ** (1 + a),
    }
    for name, path in paths.items():
        a = torch.zeros((), dtype=torch.float64, requires_grad=True)
        (surrogate,) = torch.autograd.grad(style_features_torch(path(a), sample_rate)["crest_db"], a)
        h = 1e-3
        exact = (metrics.crest_db(path(torch.tensor(h)).numpy()) - metrics.crest_db(path(torch.tensor(-h)).numpy())) / (
            2 * h
        )
        assert float(surrogate) == pytest.approx(exact, rel=0.25), name  # measured within 13 %


@pytest.mark.parametrize("kind", ["silence", "mono", "full_scale_noise", "antiphase"])
def test_gradients_are_finite(rng, reference, kind: str) -> None:
    sample_rate = 44100
    n = 4 * sample_rate
    if kind == "silence":
        x = np.zeros((2, n))
    elif kind == "mono":
        x = np.repeat(_song_like(rng, 4.0, sample_rate, 1), 2, axis=0)
    elif kind == "full_scale_noise":
        x = rng.uniform(-1.0, 1.0, (2, n))
    else:
        left = _song_like(rng, 4.0, sample_rate, 1)[0]
        x = np.stack([left, -left])
    audio = torch.tensor(x, dtype=torch.float32, requires_grad=True)
    target = style_features(reference[0], reference[1])
    f = style_features_torch(audio, sample_rate)
    loss = style_distance(f, target)["total"] + sum(f[name].sum() for name in FLOAT_FEATURES)
    (grad,) = torch.autograd.grad(loss, audio)
    assert torch.isfinite(grad).all()
    assert all(bool(torch.isfinite(f[name]).all()) for name in FLOAT_FEATURES)
    if kind != "silence":
        assert float(grad.abs().max()) > 0


# --------------------------------------------------------------------------- distance and serialisation


def test_style_distance_terms(reference) -> None:
    audio, sample_rate = reference
    f = style_features(audio, sample_rate)
    same = style_distance(f, f)
    assert set(same) == {"loudness_lu", "spectral_mid_db", "spectral_side_db", "width_db", "crest_db",
                         "short_term_spread_lu", "total"}  # fmt: skip
    assert all(value == 0.0 for value in same.values())
    quieter = style_features(0.5 * audio, sample_rate)
    d = style_distance(f, quieter)
    assert d["loudness_lu"] == pytest.approx(20 * math.log10(2), abs=1e-3)
    assert d["total"] == pytest.approx(d["loudness_lu"], abs=1e-3)
    assert style_distance(f, quieter, weights={"loudness_lu": 0.0})["total"] == pytest.approx(0.0, abs=1e-3)

    narrow = style_features(np.repeat(audio.mean(axis=0, keepdims=True), 2, axis=0), sample_rate)
    d = style_distance(f, narrow)
    expected_width = np.mean(np.abs(f.width_db - narrow.width_db))
    assert d["width_db"] == pytest.approx(expected_width)
    assert d["width_db"] > 20  # the reference is wide, the mono fold-down reads -60 dB

    # torch against StyleFeatures: a differentiable tensor per batch row, same numbers
    excerpt = torch.from_numpy(audio[None]).requires_grad_()
    dt = style_distance(style_features_torch(excerpt, sample_rate), narrow)
    assert dt["total"].shape == (1,)
    assert float(dt["width_db"][0].detach()) == pytest.approx(d["width_db"], abs=1e-3)
    dt["total"].sum().backward()
    assert torch.isfinite(excerpt.grad).all()

    silent = style_features(np.zeros((2, 44100)), 44100)
    d = style_distance(f, silent)
    assert d["loudness_lu"] is None and d["total"] == 0.0
    with pytest.raises(InvalidParameterError, match="unknown style term"):
        style_distance(f, f, weights={"brightness": 1.0})
    with pytest.raises(InvalidParameterError):
        style_distance(f, {"loudness_lufs": torch.zeros(())})


def test_to_dict_is_strict_json_and_round_trips(reference) -> None:
    audio, sample_rate = reference
    f = style_features(audio, sample_rate)
    text = json.dumps(f.to_dict(), allow_nan=False)
    back = StyleFeatures.from_dict(json.loads(text))
    _assert_features_close(back, f, 0.0)
    silent = StyleFeatures.from_dict(
        json.loads(json.dumps(style_features(np.zeros((2, 100)), 8000).to_dict(), allow_nan=False))
    )
    assert silent.loudness_lufs is None and silent.spectral_mid_db is None
    assert "loudness_lufs=" in repr(f)
    broken = f.to_dict() | {"crest_db": float("nan")}
    with pytest.raises(InvalidParameterError, match="crest_db"):
        StyleFeatures.from_dict(broken)
    with pytest.raises(InvalidParameterError, match="missing"):
        StyleFeatures.from_dict({"loudness_lufs": -14.0})


def test_bad_input_is_refused() -> None:
    with pytest.raises(InvalidAudioError, match="3 channels"):
        style_features(np.zeros((3, 1000), dtype=np.float32), 44100)
    with pytest.raises(InvalidAudioError, match="non-finite"):
        style_features(np.array([[0.0, np.nan]]), 44100)
    with pytest.raises(InvalidParameterError, match="int16"):
        style_features(np.zeros((2, 10), dtype=np.int16), 44100)
    with pytest.raises(InvalidAudioError, match="sample_rate"):
        style_features(np.zeros((2, 10)), 1000)
    with pytest.raises(InvalidParameterError, match="block_samples"):
        style_features(np.zeros((2, 10)), 44100, block_samples=0)
    with pytest.raises(InvalidAudioError, match="channels"):
        style_features_torch(torch.zeros(3, 100), 44100)
    with pytest.raises(InvalidAudioError, match="non-finite"):
        style_features_torch(torch.tensor([[0.0, float("inf")]]), 44100)
    with pytest.raises(InvalidAudioError, match="torch.Tensor"):
        style_features_torch(np.zeros((2, 100)), 44100)
