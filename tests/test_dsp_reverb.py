"""The reverb bus: a seeded IR whose bands decay as asked, and an FFT convolution equal to scipy's."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.signal
import torch

from mixassist.console.dsp import reverb
from mixassist.console.dsp.reverb import BAND_CENTRES_HZ, fft_convolve, reverb_ir, reverb_tail_samples
from mixassist.errors import InvalidParameterError

# ----------------------------------------------------------------------------- measuring a decay


def expected_rt60_s(freq_hz: float, low: float, mid: float, high: float) -> float:
    """The documented model, written out independently: log-log between 125 Hz, 1 kHz and 8 kHz."""
    u = min(max(math.log2(freq_hz / 1000), -3.0), 3.0)
    if u <= 0:
        return math.exp(math.log(low) + (u + 3) / 3 * (math.log(mid) - math.log(low)))
    return math.exp(math.log(mid) + u / 3 * (math.log(high) - math.log(mid)))


def measured_rt60_s(h: np.ndarray, sample_rate: int, centre_hz: float) -> float:
    """T20 × 3: Schroeder backward integration of the octave band, line fit from −5 to −25 dB (ISO 3382)."""
    lo, hi = centre_hz / math.sqrt(2), min(centre_hz * math.sqrt(2), 0.95 * sample_rate / 2)
    sos = scipy.signal.butter(4, [lo, hi], btype="bandpass", fs=sample_rate, output="sos")
    band = scipy.signal.sosfilt(sos, h)
    energy = np.cumsum(band[::-1] ** 2)[::-1]
    edc_db = 10 * np.log10(energy / energy[0] + 1e-300)
    i5, i25 = int(np.argmax(edc_db <= -5)), int(np.argmax(edc_db <= -25))
    slope_db_per_s = np.polyfit(np.arange(i5, i25) / sample_rate, edc_db[i5:i25], 1)[0]
    return -60.0 / slope_db_per_s


# ----------------------------------------------------------------------------- the impulse response


def test_same_seed_same_ir_and_different_seed_different():
    kw = dict(rt60_low_s=1.2, rt60_mid_s=0.9, rt60_high_s=0.5, predelay_ms=7.5)
    a = reverb_ir(44100, seed=3, **kw)
    reverb._band_noise.cache_clear()  # not just the cache answering twice
    b = reverb_ir(44100, seed=3, **kw)
    c = reverb_ir(44100, seed=4, **kw)
    assert torch.equal(a, b)
    assert a.shape == c.shape
    corr = float((a * c).sum(-1).abs().max())  # unit-energy channels: this is the correlation
    assert corr < 0.1
    assert float((a[0] * a[1]).sum().abs()) < 0.1  # left and right are decorrelated


@pytest.mark.parametrize(
    ("sample_rate", "rt60s", "seed"),
    [
        (44100, (2.5, 1.5, 0.6), 0),
        (44100, (1.0, 1.0, 1.0), 0),
        (44100, (0.8, 1.2, 2.0), 1),
        (48000, (2.5, 1.5, 0.6), 1),
        (48000, (1.0, 1.0, 1.0), 2),
    ],
)
def test_each_octave_band_decays_at_its_rt60(sample_rate, rt60s, seed):
    low, mid, high = rt60s
    ir = reverb_ir(sample_rate, rt60_low_s=low, rt60_mid_s=mid, rt60_high_s=high, predelay_ms=10.0, seed=seed)
    h = ir.double().numpy()
    for centre in BAND_CENTRES_HZ:
        want = expected_rt60_s(centre, low, mid, high)
        for ch in range(2):
            got = measured_rt60_s(h[ch], sample_rate, centre)
            assert got == pytest.approx(want, rel=0.10), (centre, ch, got, want)


def test_flat_decay_has_a_flat_spectrum():
    """The bands add back up: with one RT60 everywhere, every octave carries the same power."""
    ir = reverb_ir(44100, rt60_low_s=1.0, rt60_mid_s=1.0, rt60_high_s=1.0, predelay_ms=0.0).double().numpy()
    freq, psd = scipy.signal.welch(ir, fs=44100, nperseg=8192, axis=-1)
    psd = psd.mean(axis=0)
    levels = []
    for centre in BAND_CENTRES_HZ:
        sel = (freq >= centre / math.sqrt(2)) & (freq < min(centre * math.sqrt(2), 22050))
        levels.append(10 * np.log10(psd[sel].mean()))
    assert np.ptp(levels) < 1.0, levels


@pytest.mark.parametrize("predelay_ms", [0.0, 12.3, 50.0, 200.0])
def test_predelay_sets_the_onset(predelay_ms):
    sample_rate = 44100
    ir = reverb_ir(sample_rate, rt60_low_s=0.5, rt60_mid_s=0.5, rt60_high_s=0.5, predelay_ms=predelay_ms)
    h = ir.double().numpy()
    energy = np.cumsum((h**2).sum(axis=0))
    energy /= energy[-1]
    onset_ms = np.argmax(energy > 1e-6) * 1000 / sample_rate
    assert predelay_ms - 0.5 <= onset_ms <= predelay_ms + 1.0
    if predelay_ms == 50.0:  # a whole number of samples: exact silence before
        assert not h[:, : round(predelay_ms * sample_rate / 1000)].any()


@pytest.mark.parametrize(
    "kw",
    [
        dict(rt60_low_s=2.5, rt60_mid_s=1.5, rt60_high_s=0.6, predelay_ms=20.0),
        dict(rt60_low_s=0.1, rt60_mid_s=0.1, rt60_high_s=0.1, predelay_ms=0.0),
        dict(rt60_low_s=0.3, rt60_mid_s=0.3, rt60_high_s=0.3, predelay_ms=200.0),
    ],
)
def test_unit_energy_and_length(kw):
    sample_rate = 44100
    ir = reverb_ir(sample_rate, **kw)
    assert ir.dtype == torch.float32 and ir.shape[0] == 2
    torch.testing.assert_close((ir.double() ** 2).sum(-1), torch.ones(2, dtype=torch.float64), rtol=1e-5, atol=0)
    decay = 1.2 * max(kw["rt60_low_s"], kw["rt60_mid_s"], kw["rt60_high_s"]) * sample_rate
    pre = math.ceil(kw["predelay_ms"] * sample_rate / 1000)
    assert pre + decay <= ir.shape[1] <= pre + decay + 1024
    assert reverb_tail_samples(ir) == ir.shape[1] - 1


def test_length_is_bounded():
    ir = reverb_ir(16000, rt60_low_s=10.0, rt60_mid_s=10.0, rt60_high_s=10.0, predelay_ms=200.0)
    assert ir.shape == (2, 10 * 16000)
    short = reverb_ir(16000, rt60_low_s=10.0, rt60_mid_s=1.0, rt60_high_s=1.0, predelay_ms=0.0, max_length_s=2.0)
    assert short.shape == (2, 2 * 16000)


@pytest.mark.parametrize(("rt60_s", "predelay_ms"), [(0.1, 0.0), (10.0, 0.0), (0.1, 200.0), (10.0, 200.0)])
def test_finite_gradients_at_extremes(rt60_s, predelay_ms):
    rt = [torch.tensor(rt60_s, dtype=torch.float64, requires_grad=True) for _ in range(3)]
    pre = torch.tensor(predelay_ms, dtype=torch.float64, requires_grad=True)
    ir = reverb_ir(8000, rt60_low_s=rt[0], rt60_mid_s=rt[1], rt60_high_s=rt[2], predelay_ms=pre, seed=1)
    assert ir.dtype == torch.float64 and torch.isfinite(ir).all()
    weights = torch.linspace(0, 1, ir.shape[-1], dtype=torch.float64)  # "later energy", which the RT60s raise
    (ir.pow(2) * weights).sum().backward()
    for leaf in (*rt, pre):
        assert torch.isfinite(leaf.grad).all()
    assert sum(float(r.grad) for r in rt) > 0


def test_gradcheck_rt60s_and_predelay():
    def ir(low, mid, high, pre):
        return reverb_ir(8000, rt60_low_s=low, rt60_mid_s=mid, rt60_high_s=high, predelay_ms=pre, max_length_s=0.04)

    args = [torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in (0.3, 0.2, 0.15, 1.3)]
    assert torch.autograd.gradcheck(ir, args, fast_mode=True)


def test_cache_reuses_the_band_noise():
    kw = dict(rt60_low_s=1.0, rt60_mid_s=0.8, rt60_high_s=0.4, predelay_ms=5.0, seed=11)
    reverb_ir(22050, **kw)
    before = reverb._band_noise.cache_info().hits
    reverb_ir(22050, **{**kw, "rt60_mid_s": 0.85})  # an optimiser's step: same noise, new envelopes
    assert reverb._band_noise.cache_info().hits == before + 1


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        (dict(rt60_mid_s=0.0), "rt60_mid_s"),
        (dict(rt60_low_s=float("nan")), "rt60_low_s"),
        (dict(predelay_ms=-1.0), "predelay_ms"),
        (dict(predelay_ms=2000.0, max_length_s=1.0), "no room"),
        (dict(seed=-1), "seed"),
        (dict(max_length_s=0.0), "max_length_s"),
    ],
)
def test_reverb_ir_rejects_bad_settings(kw, match):
    args = {**dict(rt60_low_s=1.0, rt60_mid_s=1.0, rt60_high_s=1.0, predelay_ms=10.0), **kw}
    with pytest.raises(InvalidParameterError, match=match):
        reverb_ir(44100, **args)
    with pytest.raises(InvalidParameterError, match="sample_rate"):
        reverb_ir(1000, rt60_low_s=1.0, rt60_mid_s=1.0, rt60_high_s=1.0, predelay_ms=0.0)


# ----------------------------------------------------------------------------- convolution


def scipy_reference(x: np.ndarray, h: np.ndarray) -> np.ndarray:
    """Full convolution, channel by channel, with the documented broadcasting."""
    x = np.asarray(x, np.float64)
    h = np.asarray(h, np.float64)
    channels = max(x.shape[-2], h.shape[0])
    xb = np.broadcast_to(x, (*x.shape[:-2], channels, x.shape[-1]))
    hb = np.broadcast_to(h, (channels, h.shape[-1]))
    return scipy.signal.fftconvolve(xb, hb if xb.ndim == 2 else hb[None], axes=-1)


def rel_err(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a - b).max() / np.abs(b).max())


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize(
    ("x_shape", "ir_shape"),
    [
        ((2, 5000), (2, 700)),  # one frame
        ((2, 300), (2, 2000)),  # input shorter than the IR
        ((1, 50_000), (2, 3000)),  # mono into a stereo IR; several frames
        ((3, 2, 20_000), (1, 2500)),  # batch; a mono IR on stereo input
        ((2, 4096), (2, 1)),  # a one-tap IR
    ],
)
def test_fft_convolve_matches_scipy(rng, dtype, x_shape, ir_shape):
    x = rng.standard_normal(x_shape)
    h = rng.standard_normal(ir_shape) * np.exp(-np.arange(ir_shape[-1]) / 500)
    y, state = fft_convolve(torch.from_numpy(x).to(dtype), torch.from_numpy(h).to(dtype))
    ref = scipy_reference(x, h)
    n = x_shape[-1]
    tol = 1e-5 if dtype == torch.float32 else 1e-12
    assert y.dtype == dtype and y.shape == ref[..., :n].shape
    assert rel_err(y.double().numpy(), ref[..., :n]) < tol
    assert state.shape == (*ref.shape[:-1], ir_shape[-1] - 1)
    if ir_shape[-1] > 1:
        assert rel_err(state.double().numpy(), ref[..., n:]) < tol


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_fft_convolve_chunked_equals_whole(rng, dtype):
    n, taps = 60_000, 9000
    x = torch.from_numpy(rng.standard_normal((2, n))).to(dtype)
    h = torch.from_numpy(rng.standard_normal((2, taps)) * np.exp(-np.arange(taps) / 2000)).to(dtype)
    whole, whole_state = fft_convolve(x, h)
    inner = rng.integers(0, n, 7).tolist()
    cuts = sorted([0, *inner, inner[0], inner[1] + 5, n])  # zero-length and shorter-than-tail chunks
    state, pieces = None, []
    for a, b in zip(cuts[:-1], cuts[1:]):
        y, state = fft_convolve(x[:, a:b], h, state)
        pieces.append(y)
    scale = whole.abs().max()
    tol = 1e-6 if dtype == torch.float32 else 1e-12
    torch.testing.assert_close(torch.cat(pieces, -1) / scale, whole / scale, rtol=0, atol=tol)
    torch.testing.assert_close(state / scale, whole_state / scale, rtol=0, atol=tol)
    # Feeding the tail's worth of silence plays the tail out.
    tail, _ = fft_convolve(torch.zeros(2, reverb_tail_samples(h), dtype=dtype), h, state)
    torch.testing.assert_close(tail / scale, whole_state / scale, rtol=0, atol=tol)


def test_fft_convolve_long_input_in_segments(rng, monkeypatch):
    x = torch.from_numpy(rng.standard_normal((2, 30_000)))
    h = torch.from_numpy(rng.standard_normal((2, 1500)))
    whole, whole_state = fft_convolve(x, h)
    monkeypatch.setattr(reverb, "_SEGMENT", 7000)
    seg, seg_state = fft_convolve(x, h)
    torch.testing.assert_close(seg, whole, rtol=0, atol=1e-10)
    torch.testing.assert_close(seg_state, whole_state, rtol=0, atol=1e-10)


def test_fft_convolve_gradcheck(rng):
    x = torch.from_numpy(rng.standard_normal((2, 40))).requires_grad_()
    h = torch.from_numpy(rng.standard_normal((2, 9))).requires_grad_()
    s = torch.from_numpy(rng.standard_normal((2, 8))).requires_grad_()
    assert torch.autograd.gradcheck(lambda a, b, c: fft_convolve(a, b, c), (x, h, s))


def test_reverb_pipeline_gradcheck_through_the_convolution(rng):
    """The RT60s reach the wet signal: d(wet)/d(RT60) checked numerically on a tiny case."""
    x = torch.from_numpy(rng.standard_normal((2, 64)))

    def wet(mid):
        ir = reverb_ir(8000, rt60_low_s=0.2, rt60_mid_s=mid, rt60_high_s=0.1, predelay_ms=0.0, max_length_s=0.02)
        return fft_convolve(x, ir)[0]

    assert torch.autograd.gradcheck(wet, (torch.tensor(0.15, dtype=torch.float64, requires_grad=True),))


def test_fft_convolve_zero_length_and_errors():
    h = torch.ones(2, 10)
    y, state = fft_convolve(torch.zeros(2, 0), h)
    assert y.shape == (2, 0) and state.shape == (2, 9) and not state.any()
    s = torch.arange(18.0).reshape(2, 9)
    y, state = fft_convolve(torch.zeros(2, 0), h, s)
    assert torch.equal(state, s)
    with pytest.raises(InvalidParameterError, match="cannot be paired"):
        fft_convolve(torch.zeros(3, 10), h)
    with pytest.raises(InvalidParameterError, match="state"):
        fft_convolve(torch.zeros(2, 10), h, torch.zeros(2, 5))
    with pytest.raises(InvalidParameterError, match="ir must be"):
        fft_convolve(torch.zeros(2, 10), torch.ones(10))
