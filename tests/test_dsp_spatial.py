"""Gain, polarity, sub-sample delay and pan/width: exact where the maths is exact, physics elsewhere."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from mixassist.console.dsp import spatial
from mixassist.console.dsp.spatial import (
    DELAY_LATENCY,
    DELAY_TAPS,
    fractional_delay,
    gain_polarity,
    pan_width,
)
from mixassist.errors import InvalidParameterError

L = DELAY_LATENCY


def band_limited(rng: np.random.Generator, sample_rate: int, count: int = 40):
    """A sum of random-phase sines below 0.8 × Nyquist, as a function of (fractional) time in samples."""
    freq = rng.uniform(20.0, 0.8 * sample_rate / 2, count) / sample_rate  # cycles per sample
    phase = rng.uniform(0, 2 * np.pi, count)
    amp = rng.uniform(0.2, 1.0, count) / count

    def signal(n: np.ndarray) -> np.ndarray:
        return (amp[:, None] * np.sin(2 * np.pi * freq[:, None] * n[None, :] + phase[:, None])).sum(axis=0)

    return signal


def error_db(y: np.ndarray, ref: np.ndarray) -> float:
    return 20 * np.log10(np.sqrt(np.mean((y - ref) ** 2)) / np.sqrt(np.mean(ref**2)))


# ----------------------------------------------------------------------------- gain and polarity


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_gain_polarity_exact(rng, dtype):
    x = torch.from_numpy(rng.standard_normal((3, 2, 500))).to(dtype)
    assert torch.equal(gain_polarity(x, torch.zeros(3), torch.ones(3)), x)
    assert torch.equal(gain_polarity(x, 0.0, -1.0), -x)
    y = gain_polarity(x, torch.tensor([-20 * math.log10(2), 20.0, 0.0]), torch.tensor([1.0, 1.0, -1.0]))
    torch.testing.assert_close(y[0], x[0] / 2, rtol=1e-6, atol=0)
    torch.testing.assert_close(y[1], x[1] * 10, rtol=1e-6, atol=0)
    assert torch.equal(y[2], -x[2])


def test_gain_polarity_gradcheck(rng):
    x = torch.from_numpy(rng.standard_normal((2, 1, 30))).requires_grad_()
    g = torch.tensor([-3.0, 6.0], dtype=torch.float64, requires_grad=True)
    # A relaxed polarity: at ±1 the numerical step would leave the allowed range.
    s = torch.tensor([0.5, -0.9], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(gain_polarity, (x, g, s))


# ----------------------------------------------------------------------------- pan and width


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_mono_pan_law(rng, dtype):
    x = torch.from_numpy(rng.standard_normal((3, 1, 1000))).to(dtype)
    y = pan_width(x, torch.tensor([0.0, -1.0, 1.0]), 1.0)
    assert y.shape == (3, 2, 1000) and y.dtype == dtype
    half = torch.tensor(math.sqrt(0.5), dtype=dtype)
    assert torch.equal(y[0, 0], x[0, 0] * half) and torch.equal(y[0, 1], x[0, 0] * half)  # −3.01 dB each side
    assert torch.equal(y[1, 0], x[1, 0]) and not y[1, 1].any()  # hard left
    assert torch.equal(y[2, 1], x[2, 0]) and not y[2, 0].any()  # hard right


def test_mono_pan_is_constant_power(rng):
    pans = torch.linspace(-1, 1, 41, dtype=torch.float64)
    x = torch.from_numpy(rng.standard_normal((1, 1, 256))).expand(41, 1, 256)
    y = pan_width(x, pans, 1.0)
    torch.testing.assert_close(y.pow(2).sum(dim=1), x[:, 0].pow(2), rtol=1e-14, atol=0)
    theta = (pans.numpy() + 1) * np.pi / 4  # the documented law, θ = (pan + 1)·π/4
    np.testing.assert_allclose(y[:, 0, 0].numpy(), np.cos(theta) * x[0, 0, 0].item(), rtol=1e-14, atol=1e-15)
    np.testing.assert_allclose(y[:, 1, 0].numpy(), np.sin(theta) * x[0, 0, 0].item(), rtol=1e-14, atol=1e-15)


def test_mono_ignores_width(rng):
    x = torch.from_numpy(rng.standard_normal((2, 1, 100)))
    assert torch.equal(pan_width(x, 0.3, 0.0), pan_width(x, 0.3, 2.0))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_stereo_centre_width_one_is_identity(rng, dtype):
    x = torch.from_numpy(rng.standard_normal((4, 2, 1000))).to(dtype)
    assert torch.equal(pan_width(x, torch.zeros(4), torch.ones(4)), x)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_width_zero_is_mono_and_two_doubles_side(rng, dtype):
    x = torch.from_numpy(rng.standard_normal((1, 2, 1000))).to(dtype)
    mid, side = (x[:, 0] + x[:, 1]) / 2, (x[:, 0] - x[:, 1]) / 2
    y0 = pan_width(x, 0.0, 0.0)
    assert torch.equal(y0[:, 0], mid) and torch.equal(y0[:, 1], mid)
    y2 = pan_width(x, 0.0, 2.0)
    tol = 1e-6 if dtype == torch.float32 else 1e-14
    torch.testing.assert_close((y2[:, 0] + y2[:, 1]) / 2, mid, rtol=0, atol=tol)
    torch.testing.assert_close((y2[:, 0] - y2[:, 1]) / 2, 2 * side, rtol=0, atol=tol)


def test_stereo_balance_law(rng):
    pans = torch.tensor([-1.0, -0.5, 0.25, 0.7, 1.0], dtype=torch.float64)
    x = torch.from_numpy(rng.standard_normal((5, 2, 64)))
    y = pan_width(x, pans, 1.0)
    theta = (pans.numpy() + 1) * np.pi / 4
    np.testing.assert_allclose(y[:, 0].numpy(), math.sqrt(2) * np.cos(theta)[:, None] * x[:, 0].numpy(), atol=1e-14)
    np.testing.assert_allclose(y[:, 1].numpy(), math.sqrt(2) * np.sin(theta)[:, None] * x[:, 1].numpy(), atol=1e-14)
    assert not y[0, 1].any() and not y[4, 0].any()  # hard sides silence the other channel exactly


@pytest.mark.parametrize("channels", [1, 2])
def test_pan_width_gradcheck(rng, channels):
    x = torch.from_numpy(rng.standard_normal((3, channels, 20))).requires_grad_()
    pan = torch.tensor([-0.6, 0.0, 0.8], dtype=torch.float64, requires_grad=True)
    width = torch.tensor([0.3, 1.0, 1.7], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(pan_width, (x, pan, width))


@pytest.mark.parametrize("channels", [1, 2])
def test_pan_width_gradients_finite_at_extremes(rng, channels):
    x = torch.from_numpy(rng.standard_normal((4, channels, 50))).requires_grad_()
    pan = torch.tensor([-1.0, 1.0, -1.0, 1.0], dtype=torch.float64, requires_grad=True)
    width = torch.tensor([0.0, 2.0, 2.0, 0.0], dtype=torch.float64, requires_grad=True)
    y = pan_width(x, pan, width)
    (y * torch.from_numpy(rng.standard_normal(y.shape))).sum().backward()
    assert torch.isfinite(y).all()
    for g in (x.grad, pan.grad) + ((width.grad,) if channels == 2 else ()):
        assert torch.isfinite(g).all() and g.abs().sum() > 0
    if channels == 1:
        assert width.grad is None  # width does not act on mono input


def test_pan_width_batch_consistent_and_empty(rng):
    x = torch.from_numpy(rng.standard_normal((3, 2, 100)))
    pan, width = torch.tensor([-0.3, 0.5, 1.0]), torch.tensor([0.0, 1.3, 2.0])
    whole = pan_width(x, pan, width)
    for i in range(3):
        assert torch.equal(pan_width(x[i : i + 1], pan[i : i + 1], width[i : i + 1]), whole[i : i + 1])
    assert pan_width(torch.zeros(2, 1, 0), 0.0).shape == (2, 2, 0)
    assert pan_width(torch.zeros(2, 2, 0), 0.0, 1.0).shape == (2, 2, 0)
    assert pan_width(torch.zeros(0, 2, 10), torch.zeros(0), torch.zeros(0)).shape == (0, 2, 10)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"pan": 1.5}, "pan"),
        ({"pan": float("nan")}, "pan"),
        ({"width": -0.1}, "width"),
        ({"width": 2.5}, "width"),
        ({"pan": torch.zeros(3)}, "one value per track"),
    ],
)
def test_pan_width_rejects_bad_parameters(kwargs, match):
    args = {"pan": 0.0, "width": 1.0, **kwargs}
    with pytest.raises(InvalidParameterError, match=match):
        pan_width(torch.zeros(2, 2, 10), args["pan"], args["width"])


def test_pan_width_rejects_bad_audio():
    with pytest.raises(InvalidParameterError, match="3 channels; 1 to 2"):
        pan_width(torch.zeros(1, 3, 10), 0.0)
    with pytest.raises(InvalidParameterError, match="tracks, channels, samples"):
        pan_width(torch.zeros(2, 10), 0.0)


# ----------------------------------------------------------------------------- fractional delay


def test_latency_constant():
    assert DELAY_TAPS == 2 * DELAY_LATENCY
    impulse = torch.zeros(1, 1, 64, dtype=torch.float64)
    impulse[0, 0, 0] = 1.0
    y, _ = fractional_delay(impulse, 0.0)
    assert int(y[0, 0].abs().argmax()) == DELAY_LATENCY and y[0, 0, DELAY_LATENCY] == 1.0


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_integer_delay_is_a_bit_exact_shift(rng, dtype):
    delays = [0, 1, 17, 4800]
    n = 6000
    x = torch.from_numpy(rng.standard_normal((4, 2, n))).to(dtype)
    y, _ = fractional_delay(x, torch.tensor(delays, dtype=torch.float64))
    for i, d in enumerate(delays):
        assert not y[i, :, : d + L].any()
        assert torch.equal(y[i, :, d + L :], x[i, :, : n - d - L])
    # The differentiable path (the delay needs a gradient, so the FIR runs) gives the same bits.
    d = torch.tensor(delays, dtype=torch.float64, requires_grad=True)
    y_grad, _ = fractional_delay(x, d)
    assert torch.equal(y_grad.detach(), y)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("delay", [0.25, 0.5, 3.7, 1000.123])
def test_fractional_delay_matches_the_shifted_signal(rng, delay, dtype):
    sample_rate = 44100
    signal = band_limited(rng, sample_rate)
    n = 6000
    x = torch.from_numpy(signal(np.arange(n, dtype=np.float64))).to(dtype).reshape(1, 1, n)
    y, _ = fractional_delay(x, torch.tensor([delay], dtype=torch.float64))
    start = int(delay) + DELAY_TAPS + 1  # earlier outputs see the silence before the signal
    k = np.arange(start, n, dtype=np.float64)
    ref = signal(k - delay - L)
    assert error_db(y[0, 0, start:].double().numpy(), ref) < -60


@pytest.mark.parametrize("sample_rate", [44100, 48000])
@pytest.mark.parametrize("delay_ms", [0.37, 2.5, 33.333, 100.0])
def test_fractional_delay_in_milliseconds(rng, sample_rate, delay_ms):
    signal = band_limited(rng, sample_rate)
    n = 8000
    delay = delay_ms * sample_rate / 1000  # samples, float64 as the console computes it
    x = torch.from_numpy(signal(np.arange(n, dtype=np.float64))).to(torch.float32).expand(2, 2, n)
    y, _ = fractional_delay(x, torch.tensor([delay, delay], dtype=torch.float64))
    start = int(delay) + DELAY_TAPS + 1
    ref = signal(np.arange(start, n) - delay - L)
    for track in range(2):
        for ch in range(2):
            assert error_db(y[track, ch, start:].double().numpy(), ref) < -60


def test_delay_gradient_is_the_signal_slope(rng):
    """∂y/∂delay = −x'(n − delay − L) for a band-limited signal: at, just below and between whole samples."""
    n, omega, phase = 600, 2 * np.pi * 0.23, 0.4
    x = torch.from_numpy(np.sin(omega * np.arange(n) + phase)).reshape(1, 1, n)
    for delay in (3.0, 3.0 - 1e-9, 3.0 + 1e-9, 7.35):
        d = torch.tensor([delay], dtype=torch.float64, requires_grad=True)
        y, _ = fractional_delay(x, d)
        k = np.arange(100, n)
        weights = torch.from_numpy(np.cos(omega * (k - delay - L) + phase))
        (grad,) = torch.autograd.grad((y[0, 0, 100:] * weights).sum(), d)
        expected = float(np.sum(-omega * np.cos(omega * (k - delay - L) + phase) ** 2))
        assert grad.item() == pytest.approx(expected, rel=1e-4)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_fractional_delay_chunked_equals_whole(rng, dtype):
    n = 12000
    x = torch.from_numpy(rng.standard_normal((4, 2, n))).to(dtype)
    delays = torch.tensor([0.0, 3.25, 4800.5, 250.0], dtype=torch.float64)
    whole, whole_state = fractional_delay(x, delays)
    inner = rng.integers(0, n, 9).tolist()
    cuts = sorted([0, *inner, inner[3], n])  # a zero-length chunk, and chunks shorter than the history
    state, pieces = None, []
    for a, b in zip(cuts[:-1], cuts[1:]):
        y, state = fractional_delay(x[..., a:b], delays, state)
        pieces.append(y)
    tol = 1e-6 if dtype == torch.float32 else 1e-13
    torch.testing.assert_close(torch.cat(pieces, dim=-1), whole, rtol=0, atol=tol)
    torch.testing.assert_close(state, whole_state, rtol=0, atol=0)
    assert state.shape == (4, 2, 4800 + DELAY_TAPS)


def test_fractional_delay_gradcheck(rng):
    x = torch.from_numpy(rng.standard_normal((3, 2, 48))).requires_grad_()
    d = torch.tensor([0.3, 2.6, 17.5], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a, b: fractional_delay(a, b)[0], (x, d))
    history = torch.from_numpy(rng.standard_normal((3, 2, 17 + DELAY_TAPS))).requires_grad_()
    assert torch.autograd.gradcheck(lambda a, b, h: fractional_delay(a, b, h)[0], (x, d, history))


@pytest.mark.parametrize("delay_ms", [0.0, 100.0])
def test_fractional_delay_finite_at_extremes(rng, delay_ms):
    sample_rate = 48000
    x = torch.from_numpy(rng.standard_normal((2, 2, 6000))).requires_grad_()
    d = torch.full((2,), delay_ms * sample_rate / 1000, dtype=torch.float64, requires_grad=True)
    y, state = fractional_delay(x, d)
    y.pow(2).sum().backward()
    assert torch.isfinite(y).all() and torch.isfinite(x.grad).all() and torch.isfinite(d.grad).all()
    assert torch.isfinite(state).all()


def test_fractional_delay_state_follows_a_growing_delay(rng):
    """The history grows with the delay; past samples it never kept count as silence."""
    x = torch.from_numpy(rng.standard_normal((1, 1, 400)))
    y1, s1 = fractional_delay(x[..., :200], torch.tensor([10.0]))
    assert s1.shape == (1, 1, 10 + DELAY_TAPS)
    y2, s2 = fractional_delay(x[..., 200:], torch.tensor([50.0]), s1)
    assert s2.shape == (1, 1, 50 + DELAY_TAPS)
    # Output n of the second chunk reads input 200 + n − 50 − L: available when it is ≥ 200 − (10 + DELAY_TAPS).
    n = np.arange(200)
    src = 200 + n - 50 - L
    kept = src >= 200 - (10 + DELAY_TAPS)
    assert torch.equal(y2[0, 0, kept], x[0, 0, src[kept]])
    assert not y2[0, 0, ~kept].any()


def test_fractional_delay_longer_than_the_block_and_empty(rng):
    x = torch.from_numpy(rng.standard_normal((2, 1, 100)))
    y, state = fractional_delay(x, torch.tensor([500.0, 0.5]))
    assert not y[0].any()
    y0, state0 = fractional_delay(x[..., :0], torch.tensor([500.0, 0.5]), state)
    assert y0.shape == (2, 1, 0) and torch.equal(state0, state)
    y1, s1 = fractional_delay(torch.zeros(0, 2, 10), torch.zeros(0))
    assert y1.shape == (0, 2, 10) and s1.shape == (0, 2, DELAY_TAPS)


def test_fractional_delay_batch_consistent(rng):
    x = torch.from_numpy(rng.standard_normal((3, 2, 3000))).float()
    d = torch.tensor([0.0, 12.75, 300.1], dtype=torch.float64)
    whole, _ = fractional_delay(x, d)
    for i in range(3):
        alone, _ = fractional_delay(x[i : i + 1], d[i : i + 1])
        assert torch.equal(alone, whole[i : i + 1])


def test_threads_give_the_same_bits(rng, monkeypatch):
    x = torch.from_numpy(rng.standard_normal((5, 2, 4000))).float()
    d = torch.tensor([0.0, 1.5, 2.25, 3.0, 99.9], dtype=torch.float64)
    monkeypatch.setattr(spatial, "_PARALLEL_MIN_WORK", 0)
    threaded, _ = fractional_delay(x, d)
    monkeypatch.setattr(spatial, "_PARALLEL_MIN_WORK", float("inf"))
    inline, _ = fractional_delay(x, d)
    assert torch.equal(threaded, inline)


@pytest.mark.parametrize(
    ("delay", "match"),
    [
        (torch.tensor([-1.0, 0.0]), "outside"),
        (torch.tensor([float("nan"), 0.0]), "outside"),
        (torch.tensor([float(spatial.MAX_DELAY_SAMPLES) + 1, 0.0]), "outside"),
        (torch.zeros(3), "one value per track"),
    ],
)
def test_fractional_delay_rejects_bad_delays(delay, match):
    with pytest.raises(InvalidParameterError, match=match):
        fractional_delay(torch.zeros(2, 2, 10), delay)


def test_fractional_delay_rejects_bad_audio_and_state():
    with pytest.raises(InvalidParameterError, match="float32 or float64"):
        fractional_delay(torch.zeros(1, 1, 10, dtype=torch.float16), 0.0)
    with pytest.raises(InvalidParameterError, match="state"):
        fractional_delay(torch.zeros(2, 2, 10), 0.0, torch.zeros(2, 1, 40))
