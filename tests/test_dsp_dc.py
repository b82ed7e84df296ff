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
from mixassist.console.dsp.dc import DC_BLOCK_HZ, dc_block, dc_block_sos


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
