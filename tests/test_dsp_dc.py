"""The DC blocker (console/dsp/dc.py): a 2nd-order Butterworth high-pass at 5 Hz.

Checked against scipy's design and filter, at its corner and in the pass band, for its DC
rejection (zero-area step response: an offset's mean is gone), chunked == whole, empty input
and gradients.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.signal
import torch

from mixassist.console.dsp.biquad import sos_response_db
from mixassist.console.dsp.dc import (
    DC_BLOCK_HZ,
    MEAN_WINDOW_S,
    dc_block,
    dc_block_sos,
    local_mean_latency,
    remove_local_mean,
)
from mixassist.errors import InvalidParameterError


@pytest.mark.parametrize("sample_rate", [22050, 44100, 48000, 96000])
def test_design_equals_scipy_butterworth(sample_rate):
    ours = dc_block_sos(sample_rate)[0].numpy()
    ref = scipy.signal.butter(2, DC_BLOCK_HZ, "highpass", fs=sample_rate, output="sos")
    np.testing.assert_allclose(ours, ref, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("sample_rate", [22050, 44100, 48000])
@pytest.mark.parametrize("channels", [1, 2])
def test_output_equals_scipy_sosfilt(rng, sample_rate, channels):
    x = rng.normal(0.0, 0.3, (3, channels, 4000)) + 0.2  # noise on an offset
    y, state = dc_block(torch.from_numpy(x), sample_rate)
    sos = scipy.signal.butter(2, DC_BLOCK_HZ, "highpass", fs=sample_rate, output="sos")
    # The settled start: scipy's steady-state initial conditions for the first sample.
    zi = scipy.signal.sosfilt_zi(sos)[:, None, None, :] * x[None, ..., 0, None]  # (1, 3, channels, 2)
    ref, _ = scipy.signal.sosfilt(sos, x, zi=zi)
    err = np.sqrt(np.mean((y.numpy() - ref) ** 2)) / np.sqrt(np.mean(ref**2))
    assert 20 * np.log10(err + 1e-300) < -200  # float64 in, float64 recursion
    assert state.shape == (3, channels, 1, 2)


@pytest.mark.parametrize("sample_rate", [22050, 44100, 48000])
def test_gain_at_corner_and_in_the_pass_band(sample_rate):
    db = sos_response_db(dc_block_sos(sample_rate), torch.tensor([DC_BLOCK_HZ, 20.0, 1000.0]), sample_rate)[0]
    assert abs(float(db[0]) + 3.0103) < 1e-3
    assert -0.02 < float(db[1]) < 0.0  # 20 Hz: the audio band is untouched
    assert abs(float(db[2])) < 1e-6


def test_measured_gain_of_a_1khz_sine_is_unity():
    sr = 22050
    t = np.arange(sr) / sr
    x = np.sin(2 * np.pi * 1000 * t)[None, None]
    y, _ = dc_block(torch.from_numpy(x), sr)
    tail = y.numpy()[0, 0, sr // 2 :]
    assert abs(20 * np.log10(np.sqrt(2 * np.mean(tail**2)))) < 1e-3


@pytest.mark.parametrize("offset", [0.5, -0.02])
def test_an_offset_from_the_first_sample_leaves_no_mean(offset):
    """A step of DC has zero area through a 2nd-order high-pass: after 2 s the mean is < -100 dBFS
    (a first-order blocker would leave offset x 32 ms / 2 s, about -42 dBFS for 0.5)."""
    sr = 22050
    x = torch.full((1, 2, 2 * sr), offset, dtype=torch.float64)
    x[..., :100] = 0.0  # silence first: the blocker starts from rest and meets a step
    y, _ = dc_block(x, sr)
    mean = y.numpy().mean(axis=-1)
    assert np.all(20 * np.log10(np.abs(mean) + 1e-300) < -100), mean
    assert np.abs(y.numpy()[..., -sr // 5 :]).max() < 1e-7  # and the output settles to 0 (tau = 45 ms)


def test_an_offset_on_the_first_sample_gives_no_step():
    """The settled start: a signal that starts on its offset comes out without it from sample 0."""
    sr = 22050
    t = np.arange(sr) / sr
    x = 0.5 + 0.1 * np.sin(2 * np.pi * 1000 * t)
    y, _ = dc_block(torch.from_numpy(x)[None, None], sr)
    assert np.abs(y.numpy()[0, 0] - (x - 0.5)).max() < 2e-3  # no 0.5 step, only the 1 kHz tone
    assert abs(y.numpy()[0, 0, 0]) < 1e-12


def test_float32_keeps_dtype_and_rejects_dc():
    sr = 22050
    x = torch.full((2, 1, sr), 0.5, dtype=torch.float32)
    x[..., 0] = 0.0
    y, _ = dc_block(x, sr)
    assert y.dtype == torch.float32
    assert float(y[..., -sr // 5 :].abs().max()) < 1e-7  # settled 0.8 s after the step (tau = 45 ms)


def test_chunked_equals_whole(rng):
    sr = 22050
    x = torch.from_numpy(rng.normal(0.1, 0.3, (2, 2, 6000)))
    whole, _ = dc_block(x, sr)
    pieces, state, start = [], None, 0
    for size in (1, 7, 500, 1999, 3493):
        y, state = dc_block(x[..., start : start + size], sr, state=state)
        pieces.append(y)
        start += size
    # The first chunk runs x - x[0] from rest, later ones carry the state: float64 rounding apart.
    torch.testing.assert_close(torch.cat(pieces, dim=-1), whole, rtol=1e-9, atol=1e-11)


def test_empty_input():
    y, state = dc_block(torch.zeros(2, 2, 0, dtype=torch.float64), 44100)
    assert y.shape == (2, 2, 0)
    assert state.shape == (2, 2, 1, 2)


def test_gradcheck_through_the_blocker(rng):
    x = torch.from_numpy(rng.normal(0.0, 0.5, (2, 1, 64))).requires_grad_(True)
    assert torch.autograd.gradcheck(lambda v: dc_block(v, 22050, corner_hz=500.0)[0], (x,), eps=1e-6, atol=1e-7)


# ---------------------------------------------------------------- remove_local_mean (after the limiter)
def _local_mean_reference(x: np.ndarray, n: int) -> np.ndarray:
    """``x`` delayed by ``n - 1`` minus two ``n``-tap moving averages (scipy.signal.lfilter), from rest."""
    box = np.ones(n) / n
    mean = scipy.signal.lfilter(box, 1.0, scipy.signal.lfilter(box, 1.0, x, axis=-1), axis=-1)
    delayed = np.concatenate([np.zeros(x.shape[:-1] + (n - 1,)), x[..., : x.shape[-1] - (n - 1)]], axis=-1)
    return delayed - mean


@pytest.mark.parametrize("sample_rate", [22050, 44100, 48000])
@pytest.mark.parametrize("channels", [1, 2])
def test_local_mean_removal_equals_scipy_moving_averages(rng, sample_rate, channels):
    x = rng.normal(0.0, 0.3, (2, channels, sample_rate // 2)) + 0.1
    y, state = remove_local_mean(torch.from_numpy(x), sample_rate)
    n = round(MEAN_WINDOW_S * sample_rate)
    assert local_mean_latency(sample_rate) == n - 1
    # float64 running sums against scipy's direct filter: rounding only
    np.testing.assert_allclose(y.numpy(), _local_mean_reference(x, n), rtol=0, atol=1e-12)
    assert state.shape == (2, channels, 2 * (n - 1))


def test_local_mean_removal_is_zero_phase_in_the_audio_band():
    """A 45 Hz tone (midway between two nulls of the moving averages) comes out delayed by
    exactly ``n - 1`` samples and scaled by ``1 - sinc(45 Hz x 0.1 s)^2`` (0.995), not shifted;
    DC comes out as 0."""
    sr = 22050
    n = round(MEAN_WINDOW_S * sr)
    t = np.arange(sr) / sr
    x = 0.3 + 0.8 * np.sin(2 * np.pi * 45 * t)
    y, _ = remove_local_mean(torch.from_numpy(x)[None, None], sr)
    settled = y.numpy()[0, 0, 2 * n :]
    gain = 1.0 - np.sinc(45 * n / sr) ** 2  # real: zero phase
    assert 0.994 < gain < 0.996
    expected = gain * 0.8 * np.sin(2 * np.pi * 45 * (t[2 * n :] - (n - 1) / sr))
    assert np.abs(settled - expected).max() < 1e-6
    # the 2nd-order 5 Hz high-pass shifts that tone by about 9 degrees: a far larger change
    hp, _ = dc_block(torch.from_numpy(x)[None, None], sr)
    shifted = hp.numpy()[0, 0, 2 * n :] - 0.8 * np.sin(2 * np.pi * 45 * t[2 * n :])
    assert np.abs(shifted).max() > 0.1
    assert abs(float(settled.mean())) < 1e-3  # the offset is gone (a tone's window mean remains)


def test_local_mean_removal_chunked_equals_whole(rng):
    sr = 22050
    x = torch.from_numpy(rng.normal(0.05, 0.3, (1, 2, 9000)))
    whole, _ = remove_local_mean(x, sr)
    pieces, state, start = [], None, 0
    for size in (1, 7, 2500, 3000, 3492):
        y, state = remove_local_mean(x[..., start : start + size], sr, state=state)
        pieces.append(y)
        start += size
    torch.testing.assert_close(torch.cat(pieces, dim=-1), whole, rtol=0, atol=1e-12)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_local_mean_removal_kernel_equals_the_differentiable_path_bit_for_bit(rng, dtype):
    """Without gradients the numba kernel runs; with them, torch's cumsums: the same figures."""
    x = torch.from_numpy(rng.normal(0.02, 0.4, (2, 2, 7000))).to(dtype)
    fast_state = slow_state = None
    for piece in (x[..., :3000], x[..., 3000:3001], x[..., 3001:]):
        fast, fast_state = remove_local_mean(piece, 22050, state=fast_state)
        slow, slow_state = remove_local_mean(piece.clone().requires_grad_(True), 22050, state=slow_state)
        assert fast.dtype == dtype and not fast.requires_grad
        assert torch.equal(fast, slow.detach()) and torch.equal(fast_state, slow_state)


def test_local_mean_removal_refuses_a_wrong_state_and_a_tiny_window():
    x = torch.zeros(1, 2, 100, dtype=torch.float64)
    with pytest.raises(InvalidParameterError, match="state"):
        remove_local_mean(x, 22050, state=torch.zeros(1, 1, 4))
    with pytest.raises(InvalidParameterError, match="window_s"):
        remove_local_mean(x, 22050, window_s=1e-5)
    y, state = remove_local_mean(torch.zeros(1, 2, 0, dtype=torch.float32), 22050)
    assert y.shape == (1, 2, 0) and y.dtype == torch.float32


def test_gradcheck_through_limiter_mean_removal_limiter(rng):
    """The master's last stages as the console runs them (a short window so the test is small)."""
    from mixassist.console.dsp.limiter import limiter

    sr = 8000
    x = torch.from_numpy(rng.normal(0.1, 0.6, (1, 2, 96))).requires_grad_(True)
    ceiling = torch.tensor(-3.0, dtype=torch.float64, requires_grad=True)
    release = torch.tensor(20.0, dtype=torch.float64, requires_grad=True)

    def chain(v, c, r):
        y, _ = limiter(v, sr, ceiling_dbtp=c, release_ms=r)
        y, _ = remove_local_mean(y, sr, window_s=0.001)
        return limiter(y, sr, ceiling_dbtp=c, release_ms=r)[0]

    assert torch.autograd.gradcheck(chain, (x, ceiling, release), eps=1e-6, atol=1e-6, rtol=1e-4)
