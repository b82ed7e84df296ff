"""The processors that let the console reach what references ask (issue 19): the low-pass,
saturation (drive) and the master's mid/side width.

Each is checked against an independent reference: the low-pass against
``scipy.signal.butter``/``sosfreqz``/``sosfilt``, the saturation against a plain per-sample
loop of the documented curve, mid/side against plain numpy (and ``sosfilt`` for the side
high-pass); each passes ``torch.autograd.gradcheck`` in float64 on small sizes; and each is an
exact bypass at its neutral setting, in the console too.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.signal as ss
import torch

from mixassist.audio.multitrack import Multitrack
from mixassist.console import Console, MixParams
from mixassist.console.dsp.biquad import lowpass_sos, sos_response_db
from mixassist.console.dsp.cascade import biquad_cascade
from mixassist.console.dsp.midside import mid_side_width
from mixassist.console.dsp.saturation import drive_curve_k, saturate
from mixassist.errors import InvalidAudioError, InvalidParameterError

SR = 22050


# ------------------------------------------------------------------------------------------ low-pass
@pytest.mark.parametrize("sample_rate", [22050, 44100, 48000])
@pytest.mark.parametrize("corner_hz", [200.0, 1000.0, 5000.0, 10000.0])
def test_lowpass_equals_scipy_butterworth(sample_rate: int, corner_hz: float) -> None:
    ours = lowpass_sos(corner_hz, sample_rate)[0].numpy()
    ref = ss.butter(4, corner_hz, "lowpass", fs=sample_rate, output="sos")
    freqs = np.geomspace(20.0, 0.49 * sample_rate, 200)
    _, h_ref = ss.sosfreqz(ref, worN=freqs, fs=sample_rate)
    ref_db = 20 * np.log10(np.maximum(np.abs(h_ref), 1e-15))
    ours_db = sos_response_db(torch.from_numpy(ours), freqs, sample_rate).numpy()
    audible = ref_db > -120.0  # where both are representable
    assert np.max(np.abs(ours_db[audible] - ref_db[audible])) < 1e-6  # dB
    # -3.01 dB at the corner, 24 dB/octave well above it
    corner = sos_response_db(torch.from_numpy(ours), [corner_hz], sample_rate).item()
    assert corner == pytest.approx(-3.0103, abs=1e-3)


def test_lowpass_filtering_equals_sosfilt(rng: np.random.Generator) -> None:
    x = rng.standard_normal((2, 1, 3000))
    corners = torch.tensor([800.0, 6000.0])
    y, _ = biquad_cascade(torch.from_numpy(x), lowpass_sos(corners, SR))
    for t, hz in enumerate(corners.tolist()):
        ref = ss.sosfilt(ss.butter(4, hz, "lowpass", fs=SR, output="sos"), x[t, 0])
        err = np.sqrt(np.mean((y[t, 0].numpy() - ref) ** 2) / np.mean(ref**2))
        assert 20 * math.log10(err + 1e-300) < -200.0  # dB relative RMS (float64)


def test_lowpass_gradcheck_in_the_corner() -> None:
    x = torch.randn(1, 1, 48, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    hz = torch.tensor([3000.0], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda f, a: biquad_cascade(a, lowpass_sos(f, SR))[0], (hz, x.requires_grad_()))


# ------------------------------------------------------------------------------------------ saturation
def _loop_saturate(x: np.ndarray, drive_db: float) -> np.ndarray:
    """The documented curve, one sample at a time: tanh(k x)/k with k² = 10^(drive/10) - 1."""
    k = math.sqrt(10.0 ** (drive_db / 10.0) - 1.0)
    out = np.empty_like(x)
    for i, v in enumerate(x.ravel()):
        out.flat[i] = v if k == 0.0 else math.tanh(k * float(v)) / k
    return out


@pytest.mark.parametrize("drive_db", [0.5, 3.0, 12.0, 24.0])
def test_saturation_equals_the_per_sample_curve(drive_db: float, rng: np.random.Generator) -> None:
    x = rng.uniform(-1.5, 1.5, (1, 2, 400))
    x[0, 0, :5] = [0.0, 1e-6, -1e-6, 1e-3, 3.0]  # the series branch, zero and a hard overload
    y = saturate(torch.from_numpy(x), drive_db).numpy()
    np.testing.assert_allclose(y, _loop_saturate(x, drive_db), rtol=1e-12, atol=1e-15)
    y32 = saturate(torch.from_numpy(x.astype(np.float32)), drive_db)
    assert y32.dtype == torch.float32
    np.testing.assert_allclose(y32.numpy(), _loop_saturate(x.astype(np.float32), drive_db), rtol=2e-7, atol=1e-9)


def test_saturation_physics(rng: np.random.Generator) -> None:
    x = torch.from_numpy(rng.uniform(-1, 1, (3, 1, 256)))
    assert torch.equal(saturate(x, 0.0), x)  # 0 dB: the identity, bit for bit
    quiet = torch.full((1, 1, 1), 1e-4, dtype=torch.float64)
    assert saturate(quiet, 24.0).item() == pytest.approx(1e-4, rel=1e-5)  # quiet passes at unity
    loud = torch.full((1, 1, 1), 100.0, dtype=torch.float64)
    assert saturate(loud, 24.0).item() == pytest.approx(1 / drive_curve_k(24.0), rel=1e-9)  # the ceiling
    assert 20 * math.log10(1 / drive_curve_k(24.0)) == pytest.approx(-24.0, abs=0.02)
    assert torch.equal(saturate(-x, 12.0), -saturate(x, 12.0))  # odd symmetry: no even harmonics
    # a sine driven 12 dB: the third harmonic appears, no second
    t = np.arange(SR) / SR
    y = saturate(torch.from_numpy(0.8 * np.sin(2 * np.pi * 100 * t))[None, None], 12.0)[0, 0].numpy()
    spec = np.abs(np.fft.rfft(y))
    assert spec[300] > 0.05 * spec[100] and spec[200] < 1e-9 * spec[100]
    with pytest.raises(InvalidParameterError, match="drive_db"):
        saturate(x, -1.0)


def test_saturation_gradcheck_and_the_gradient_at_the_bypass() -> None:
    g = torch.Generator().manual_seed(2)
    x = (torch.rand(2, 2, 24, dtype=torch.float64, generator=g) * 3 - 1.5).requires_grad_()
    for drive in ([0.01, 6.0], [0.5, 24.0]):  # (gradcheck steps ±1e-6: the range starts at 0)
        d = torch.tensor(drive, dtype=torch.float64, requires_grad=True)
        assert torch.autograd.gradcheck(saturate, (x, d))
    # at 0 dB the gradient in the drive is not zero (an optimiser can start from "off") and
    # equals the one-sided difference quotient
    x0 = x[:1].detach()
    d0 = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    saturate(x0, d0).pow(2).sum().backward()
    h = 1e-7
    quotient = (saturate(x0, h).pow(2).sum() - x0.pow(2).sum()) / h
    assert d0.grad is not None and float(d0.grad.abs()) > 1e-2
    assert float(d0.grad) == pytest.approx(float(quotient), rel=1e-5)


# ------------------------------------------------------------------------------------------ mid/side
def test_mid_side_equals_numpy_and_sosfilt(rng: np.random.Generator) -> None:
    x = rng.standard_normal((1, 2, 2000))
    for gain_db, hpf_hz in ((-12.0, None), (6.0, None), (0.0, 150.0), (-40.0, 300.0)):
        y, _ = mid_side_width(torch.from_numpy(x), SR, side_gain_db=gain_db, side_hpf_hz=hpf_hz)
        mid, side = (x[0, 0] + x[0, 1]) / 2, (x[0, 0] - x[0, 1]) / 2
        if hpf_hz is not None:
            side = ss.sosfilt(ss.butter(2, hpf_hz, "highpass", fs=SR, output="sos"), side)
        side = side * 10 ** (gain_db / 20)
        np.testing.assert_allclose(y[0].numpy(), np.stack([mid + side, mid - side]), rtol=0, atol=1e-12)


def test_side_high_pass_makes_the_lows_mono(rng: np.random.Generator) -> None:
    t = np.arange(SR // 2) / SR
    left, right = np.sin(2 * np.pi * 50 * t), -np.sin(2 * np.pi * 50 * t)  # all side, at 50 Hz
    y, _ = mid_side_width(torch.from_numpy(np.stack([left, right])[None]), SR, side_gain_db=0.0, side_hpf_hz=400.0)
    side = (y[0, 0] - y[0, 1]).numpy()[SR // 4 :] / 2
    # 12 dB/octave: about -36 dB three octaves below the corner
    assert 20 * np.log10(np.std(side) / np.std(left)) < -34.0
    with pytest.raises(InvalidAudioError, match="stereo"):
        mid_side_width(torch.zeros(1, 1, 8), SR, side_gain_db=0.0)


def test_mid_side_chunked_equals_whole_and_gradcheck(rng: np.random.Generator) -> None:
    x = torch.from_numpy(rng.standard_normal((1, 2, 900)))
    whole, _ = mid_side_width(x, SR, side_gain_db=-6.0, side_hpf_hz=200.0)
    a, state = mid_side_width(x[..., :313], SR, side_gain_db=-6.0, side_hpf_hz=200.0)
    b, _ = mid_side_width(x[..., 313:], SR, side_gain_db=-6.0, side_hpf_hz=200.0, state=state)
    np.testing.assert_allclose(torch.cat([a, b], -1).numpy(), whole.numpy(), rtol=0, atol=1e-13)
    small = x[..., :32].clone().requires_grad_()
    gain = torch.tensor([-3.0], dtype=torch.float64, requires_grad=True)
    hz = torch.tensor([300.0], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(
        lambda a, g, f: mid_side_width(a, SR, side_gain_db=g, side_hpf_hz=f)[0], (small, gain, hz)
    )


# ------------------------------------------------------------------------------------------ in the console
@pytest.fixture(scope="module")
def session() -> Multitrack:
    g = np.random.default_rng(7)
    return Multitrack.from_arrays(
        {
            "mono": (0.2 * g.standard_normal((1, SR // 2))).astype(np.float32),
            "stereo": (0.2 * g.standard_normal((2, SR // 2))).astype(np.float32),
        },
        SR,
    )


def test_neutral_new_settings_render_bit_identically(session: Multitrack) -> None:
    base = MixParams(session.names, tracks={"mono": {"eq_peak2_db": 3.0}}, master={"limiter_ceiling_dbtp": -1.0})
    explicit = base.copy()
    for name in session.names:
        explicit.set(name, "drive_db", 0.0)
        explicit.set(name, "lpf_hz", None)
    for name, value in (("drive_db", 0.0), ("side_gain_db", 0.0), ("side_hpf_hz", None), ("lpf_hz", None)):
        explicit.set_bus("master", name, value)
    console = Console(SR)
    assert np.array_equal(console.render(session, base).mix, console.render(session, explicit).mix)


def test_console_track_low_pass_and_drive_follow_the_references(session: Multitrack) -> None:
    """One mono track, no DC blocker, centred: each side is the pan law (−3 dB) times the
    reference chain: scipy's Butterworth low-pass, then the per-sample curve."""
    x = session["mono"].audio.astype(np.float64)[0]
    params = MixParams(["mono"], tracks={"mono": {"lpf_hz": 2000.0, "drive_db": 12.0}}, dc_block=False)
    mix = Console(SR).render(Multitrack.from_arrays({"mono": session["mono"].audio}, SR), params).mix
    ref = _loop_saturate(ss.sosfilt(ss.butter(4, 2000.0, "lowpass", fs=SR, output="sos"), x), 12.0) * math.sqrt(0.5)
    np.testing.assert_allclose(mix[0], ref, rtol=0, atol=2e-6)  # float32 rendering


def test_console_master_width_narrows_and_widens(session: Multitrack) -> None:
    console = Console(SR)

    lows = ss.butter(4, 300.0, "lowpass", fs=SR, output="sos")

    def side_to_mid_db(below_300_hz: bool = False, **master: float) -> float:
        mix = console.render(session, MixParams(session.names, master=master)).mix.astype(np.float64)
        if below_300_hz:
            mix = ss.sosfilt(lows, mix)
        return 10 * math.log10(np.mean((mix[0] - mix[1]) ** 2) / np.mean((mix[0] + mix[1]) ** 2))

    plain = side_to_mid_db()
    assert side_to_mid_db(side_gain_db=-20.0) == pytest.approx(plain - 20.0, abs=0.5)
    assert side_to_mid_db(side_gain_db=6.0) == pytest.approx(plain + 6.0, abs=0.5)
    # a side high-pass at 1 kHz: below 300 Hz the noise mix turns nearly mono
    assert side_to_mid_db(True, side_hpf_hz=1000.0) < side_to_mid_db(True) - 12.0
