"""Biquad EQ: RBJ cookbook design, exact cascade filtering, chunking, gradients, contract.

References are independent of the code under test: the cookbook formulas are written out
again here with numpy, responses come from ``scipy.signal.sosfreqz``, filtering from
``scipy.signal.sosfilt`` and the Butterworth high-pass from ``scipy.signal.butter``.
"""

from __future__ import annotations

import math
import time

import numpy as np
import pytest
import scipy.signal as ss
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from mixassist.console.dsp.biquad import (
    cascade_sections,
    high_shelf_sos,
    highpass_sos,
    low_shelf_sos,
    peaking_sos,
    sos_response_db,
)
from mixassist.console.dsp.cascade import biquad_cascade
from mixassist.errors import InvalidAudioError, InvalidParameterError

SAMPLE_RATES = (44100, 48000)
AUDIO_FREQS = np.geomspace(20.0, 20000.0, 241)
DESIGNS = {"peak": peaking_sos, "low_shelf": low_shelf_sos, "high_shelf": high_shelf_sos}


# ------------------------------------------------------------------------------------------
# independent references
# ------------------------------------------------------------------------------------------


def cookbook_sos(kind: str, f0: float, gain_db: float, q: float, sample_rate: float) -> np.ndarray:
    """One RBJ Audio-EQ-Cookbook section, written out from the cookbook (numpy float64)."""
    f0 = min(max(f0, 1.0), 0.4999 * sample_rate)  # the documented clamp
    big_a = 10.0 ** (gain_db / 40.0)
    w0 = 2.0 * np.pi * f0 / sample_rate
    alpha = np.sin(w0) / (2.0 * q)
    c = np.cos(w0)
    if kind == "peak":
        b = [1 + alpha * big_a, -2 * c, 1 - alpha * big_a]
        a = [1 + alpha / big_a, -2 * c, 1 - alpha / big_a]
    elif kind == "low_shelf":
        r = 2 * np.sqrt(big_a) * alpha
        b = [
            big_a * ((big_a + 1) - (big_a - 1) * c + r),
            2 * big_a * ((big_a - 1) - (big_a + 1) * c),
            big_a * ((big_a + 1) - (big_a - 1) * c - r),
        ]
        a = [(big_a + 1) + (big_a - 1) * c + r, -2 * ((big_a - 1) + (big_a + 1) * c), (big_a + 1) + (big_a - 1) * c - r]
    elif kind == "high_shelf":
        r = 2 * np.sqrt(big_a) * alpha
        b = [
            big_a * ((big_a + 1) + (big_a - 1) * c + r),
            -2 * big_a * ((big_a - 1) + (big_a + 1) * c),
            big_a * ((big_a + 1) + (big_a - 1) * c - r),
        ]
        a = [(big_a + 1) - (big_a - 1) * c + r, 2 * ((big_a - 1) - (big_a + 1) * c), (big_a + 1) - (big_a - 1) * c - r]
    elif kind == "highpass":
        b = [(1 + c) / 2, -(1 + c), (1 + c) / 2]
        a = [1 + alpha, -2 * c, 1 - alpha]
    else:
        raise ValueError(kind)
    return np.array([*b, *a]) / a[0]


def response_db(sos: np.ndarray, sample_rate: float, freqs: np.ndarray = AUDIO_FREQS) -> np.ndarray:
    _, h = ss.sosfreqz(np.atleast_2d(sos), worN=freqs, fs=sample_rate)
    return 20 * np.log10(np.maximum(np.abs(h), 1e-300))


def rel_error_db(y: np.ndarray, ref: np.ndarray) -> float:
    """RMS error relative to the RMS of the reference, in dB."""
    err = np.sqrt(np.mean((np.asarray(y, np.float64) - ref) ** 2))
    return 20 * math.log10(max(err, 1e-300) / np.sqrt(np.mean(ref**2)))


def program(rng: np.random.Generator, channels: int, n: int, sample_rate: float) -> np.ndarray:
    """Seeded noise plus a logarithmic sine sweep 20 Hz → 20 kHz, (channels, n)."""
    t = np.arange(n) / sample_rate
    sweep = ss.chirp(t, f0=20.0, t1=t[-1], f1=20000.0, method="logarithmic")
    return 0.25 * rng.standard_normal((channels, n)) + 0.5 * sweep


# the console's extremes: freq 20 Hz / 20 kHz, q 0.1 / 10, gain ±18 dB, hpf 10 Hz / 2 kHz
GRID_FREQS = (20.0, 100.0, 1000.0, 8000.0, 16000.0, 20000.0, 23500.0)
GRID_GAINS = (-18.0, -6.0, 0.0, 6.0, 18.0)
GRID_QS = (0.1, 0.707, 10.0)


def grid(sample_rate: float):
    f, g, q = (np.array(v, dtype=np.float64).ravel() for v in np.meshgrid(GRID_FREQS, GRID_GAINS, GRID_QS, indexing="ij"))
    return f, g, q


# ------------------------------------------------------------------------------------------
# design
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("sample_rate", SAMPLE_RATES)
@pytest.mark.parametrize("kind", sorted(DESIGNS))
def test_design_magnitude_matches_cookbook(kind, sample_rate):
    f, g, q = grid(sample_rate)
    sos = DESIGNS[kind](torch.tensor(f), torch.tensor(g), torch.tensor(q), sample_rate)
    assert sos.shape == (len(f), 1, 6) and sos.dtype == torch.float64
    ours = sos_response_db(sos, torch.tensor(AUDIO_FREQS), sample_rate).numpy()
    worst = 0.0
    for i in range(len(f)):
        ref = response_db(cookbook_sos(kind, f[i], g[i], q[i], sample_rate), sample_rate)
        via_scipy = response_db(sos[i].numpy(), sample_rate)
        worst = max(worst, np.abs(via_scipy - ref).max(), np.abs(ours[i] - ref).max())
        coefficients = cookbook_sos(kind, f[i], g[i], q[i], sample_rate)
        np.testing.assert_allclose(sos[i, 0].numpy(), coefficients, rtol=1e-9, atol=1e-12)
    assert worst < 0.1, f"{kind} at {sample_rate} Hz: {worst:.3g} dB from the cookbook"
    assert worst < 1e-6  # in fact equal to rounding


@pytest.mark.parametrize("sample_rate", SAMPLE_RATES)
@pytest.mark.parametrize("order", [2, 4])
def test_highpass_is_butterworth(order, sample_rate):
    cutoffs = np.array([10.0, 20.0, 80.0, 500.0, 2000.0, 20000.0])
    sos = highpass_sos(torch.tensor(cutoffs), sample_rate, order=order)
    assert sos.shape == (len(cutoffs), order // 2, 6)
    for i, fc in enumerate(cutoffs):
        ref = response_db(ss.butter(order, fc, "highpass", fs=sample_rate, output="sos"), sample_rate)
        qs = [1 / (2 * math.cos(math.pi * (2 * k + 1) / (2 * order))) for k in range(order // 2)]
        cookbook = np.stack([cookbook_sos("highpass", fc, 0.0, qk, sample_rate) for qk in qs])
        ours = sos_response_db(sos[i], torch.tensor(AUDIO_FREQS), sample_rate).numpy()
        audible = ref > -120  # deep in the stop band dB values are rounding noise
        assert np.abs(ours - ref)[audible].max() < 0.1
        assert np.abs(response_db(cookbook, sample_rate) - ref)[audible].max() < 1e-6
        np.testing.assert_allclose(sos[i].numpy(), cookbook, rtol=1e-9, atol=1e-12)
    at_cutoff = sos_response_db(sos[2:3], torch.tensor([80.0]), sample_rate).item()
    assert at_cutoff == pytest.approx(-10 * math.log10(2), abs=1e-6)


@pytest.mark.parametrize("sample_rate", (22050, 44100, 48000))
def test_band_gains_at_their_frequencies(sample_rate):
    f = torch.tensor([50.0, 1000.0, 9000.0])
    g = torch.tensor([-18.0, 7.5, 18.0])
    q = torch.tensor([0.1, 1.0, 10.0])
    peak = sos_response_db(peaking_sos(f, g, q, sample_rate), f, sample_rate).diagonal()
    torch.testing.assert_close(peak, g.double(), atol=1e-9, rtol=0)
    for design in (low_shelf_sos, high_shelf_sos):  # a cookbook shelf passes gain/2 at f0
        mid = sos_response_db(design(f, g, 0.707, sample_rate), f, sample_rate).diagonal()
        torch.testing.assert_close(mid, g.double() / 2, atol=1e-9, rtol=0)
    dc = sos_response_db(low_shelf_sos(f, g, 0.707, sample_rate), [1e-3], sample_rate)[:, 0]
    torch.testing.assert_close(dc, g.double(), atol=1e-4, rtol=0)


def test_frequencies_are_clamped_near_nyquist():
    sr = 44100
    above = peaking_sos(torch.tensor([30000.0, 0.4999 * sr, 0.0], dtype=torch.float64), 6.0, 1.0, sr)
    torch.testing.assert_close(above[0], above[1], rtol=0, atol=0)
    torch.testing.assert_close(above[2], peaking_sos(1.0, 6.0, 1.0, sr)[0], rtol=0, atol=0)
    f = torch.tensor([30000.0, 20000.0], dtype=torch.float64, requires_grad=True)
    high_shelf_sos(f, 6.0, 1.0, sr).sum().backward()
    assert f.grad[0] == 0 and f.grad[1] != 0
    # a 20 kHz peak at 44.1 kHz (near Nyquist) is stable and filters finitely
    sos = peaking_sos(20000.0, 18.0, 10.0, sr)
    poles = np.roots([1.0, *sos[0, 0, 4:].numpy()])
    assert np.abs(poles).max() < 1


def test_flat_bands_are_exact_identity_sections():
    f, _, q = grid(44100)
    for design in DESIGNS.values():
        sos = design(torch.tensor(f), 0.0, torch.tensor(q), 44100)
        assert torch.equal(sos[..., :3], sos[..., 3:]), design.__name__


# ------------------------------------------------------------------------------------------
# filtering against scipy
# ------------------------------------------------------------------------------------------


def console_sos(tracks: int, sample_rate: float, seed: int = 0) -> torch.Tensor:
    """A full channel strip per track with different settings: 4th-order HPF + 6 bands."""
    g = np.random.default_rng(seed)
    hz = lambda lo, hi: torch.tensor(np.exp(g.uniform(np.log(lo), np.log(hi), tracks)))  # noqa: E731
    db = lambda: torch.tensor(g.uniform(-18, 18, tracks))  # noqa: E731
    qs = lambda: torch.tensor(np.exp(g.uniform(np.log(0.1), np.log(10), tracks)))  # noqa: E731
    return cascade_sections(
        highpass_sos(hz(10, 2000), sample_rate),
        low_shelf_sos(hz(20, 400), db(), qs(), sample_rate),
        *[peaking_sos(hz(20, 20000), db(), qs(), sample_rate) for _ in range(4)],
        high_shelf_sos(hz(2000, 20000), db(), qs(), sample_rate),
    )


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("channels", [1, 2])
@pytest.mark.parametrize("tracks", [1, 9])
def test_matches_sosfilt(rng, tracks, channels, dtype):
    sr = 44100
    n = 3 * sr // 2 + 3  # crosses many 256-sample blocks and ends on a partial one
    x = np.stack([program(rng, channels, n, sr) for _ in range(tracks)])
    xt = torch.tensor(x, dtype=dtype)
    sos = console_sos(tracks, sr, seed=tracks * 10 + channels)
    y, state = biquad_cascade(xt, sos)
    assert y.shape == xt.shape and y.dtype == dtype and state.shape == (tracks, channels, 8, 2)
    worst = -np.inf
    for t in range(tracks):
        ref = ss.sosfilt(sos[t].numpy(), xt[t].double().numpy(), axis=-1)
        worst = max(worst, rel_error_db(y[t].numpy(), ref))
    # float64: rounding of float64 arithmetic; float32: the final rounding of the output
    limit = -200.0 if dtype == torch.float64 else -140.0
    assert worst < limit, f"error vs scipy.signal.sosfilt: {worst:.1f} dB"


def test_numpy_sos_and_a0_not_one():
    sr = 48000
    x = torch.tensor(program(np.random.default_rng(3), 2, 5000, sr))[None]
    sos = ss.butter(6, [200, 4000], "bandpass", fs=sr, output="sos")
    scaled = sos * np.array([3.0, 3.0, 3.0, 3.0, 3.0, 3.0])  # same filter, a0 = 3
    y1, _ = biquad_cascade(x, sos)
    y2, _ = biquad_cascade(x, scaled)
    ref = ss.sosfilt(sos, x[0].numpy(), axis=-1)
    assert rel_error_db(y1[0].numpy(), ref) < -240
    assert rel_error_db(y2[0].numpy(), ref) < -240


# ------------------------------------------------------------------------------------------
# chunking
# ------------------------------------------------------------------------------------------


@settings(max_examples=25, deadline=None)
@given(
    cuts=st.lists(st.integers(0, 1500), min_size=1, max_size=6),
    tracks=st.sampled_from([1, 3, 9]),
    channels=st.sampled_from([1, 2]),
    use_float32=st.booleans(),
)
def test_chunked_equals_whole(cuts, tracks, channels, use_float32):
    sr = 44100
    n = 1500
    dtype = torch.float32 if use_float32 else torch.float64
    x = torch.tensor(np.random.default_rng(len(cuts) + tracks).standard_normal((tracks, channels, n)), dtype=dtype)
    sos = console_sos(tracks, sr, seed=tracks)
    whole, s_whole = biquad_cascade(x, sos)
    pieces, state = [], None
    bounds = [0, *sorted(cuts), n]
    for a, b in zip(bounds[:-1], bounds[1:]):
        y, state = biquad_cascade(x[..., a:b], sos, state)
        pieces.append(y)
    chunked = torch.cat(pieces, dim=-1)
    scale = whole.abs().max().item()
    tol = 1e-6 if use_float32 else 1e-12  # float32: one rounding step of the output at most
    assert (chunked - whole).abs().max().item() <= tol * scale
    torch.testing.assert_close(state, s_whole, rtol=1e-12, atol=1e-12 * scale)


def test_long_chunked_render_matches_scipy_with_state(rng):
    sr = 48000
    x = torch.tensor(program(rng, 2, 4 * sr, sr))[None]
    sos = console_sos(1, sr, seed=7)
    ref = ss.sosfilt(sos[0].numpy(), x[0].numpy(), axis=-1)
    state, out = None, []
    for a in range(0, x.shape[-1], 12345):
        y, state = biquad_cascade(x[..., a : a + 12345], sos, state)
        out.append(y)
    assert rel_error_db(torch.cat(out, -1)[0].numpy(), ref) < -240


# ------------------------------------------------------------------------------------------
# gradients
# ------------------------------------------------------------------------------------------


def small_sos(tracks: int) -> torch.Tensor:
    return cascade_sections(
        highpass_sos(torch.linspace(50.0, 400.0, tracks), 8000, order=2),
        peaking_sos(
            torch.linspace(300.0, 2500.0, tracks), torch.linspace(-9.0, 12.0, tracks), torch.linspace(0.5, 4.0, tracks), 8000
        ),
        high_shelf_sos(1500.0, torch.linspace(6.0, -6.0, tracks), 0.8, 8000),
    )


def test_gradcheck_wrt_audio_and_sos():
    g = torch.Generator().manual_seed(1)
    x = torch.randn(2, 2, 64, dtype=torch.float64, generator=g, requires_grad=True)
    sos = small_sos(2).detach().requires_grad_(True)
    assert torch.autograd.gradcheck(lambda x, s: biquad_cascade(x, s)[0], (x, sos))
    # with a carried state (treated as a constant) and a0 != 1
    _, state = biquad_cascade(torch.randn(2, 2, 50, dtype=torch.float64, generator=g), sos.detach())
    scaled = (sos.detach() * torch.tensor([1.0, 2.0, 0.5])[None, :, None]).requires_grad_(True)
    assert torch.autograd.gradcheck(lambda x, s: biquad_cascade(x, s, state)[0], (x, scaled))


def test_gradcheck_through_design_parameters():
    sr = 8000
    g = torch.Generator().manual_seed(2)
    x = torch.randn(2, 2, 64, dtype=torch.float64, generator=g)
    params = [
        torch.tensor(v, dtype=torch.float64, requires_grad=True)
        for v in ([120.0, 300.0], [900.0, 2000.0], [6.0, -9.0], [0.7, 3.0], [250.0, 90.0], [2500.0, 3200.0])
    ]

    def run(hpf_hz, peak_hz, peak_db, peak_q, shelf_hz, hs_hz):
        sos = cascade_sections(
            highpass_sos(hpf_hz, sr, order=4),
            low_shelf_sos(shelf_hz, -peak_db / 2, peak_q / 2, sr),
            peaking_sos(peak_hz, peak_db, peak_q, sr),
            high_shelf_sos(hs_hz, peak_db, 0.707, sr),
        )
        return biquad_cascade(x, sos)[0]

    assert torch.autograd.gradcheck(run, tuple(params))


def test_gradcheck_wide_lanes_across_blocks():
    # 18 rows run as 16-lane groups (the 16-track path); 301 samples cross a block boundary
    # and end with a partial quad, so every backward code path is exercised.
    g = torch.Generator().manual_seed(3)
    x = torch.randn(9, 2, 301, dtype=torch.float64, generator=g, requires_grad=True)
    sos = small_sos(9).detach().requires_grad_(True)
    assert torch.autograd.gradcheck(lambda x, s: biquad_cascade(x, s)[0], (x, sos), fast_mode=True)
    y, _ = biquad_cascade(x, sos)
    w = torch.randn(y.shape, dtype=torch.float64, generator=g)
    gx, gs = torch.autograd.grad((y * w).sum(), (x, sos))
    # batch consistency of gradients: one track alone (the 2-lane path) gives the same
    x1 = x[4:5].detach().requires_grad_(True)
    s1 = sos[4:5].detach().requires_grad_(True)
    gx1, gs1 = torch.autograd.grad((biquad_cascade(x1, s1)[0] * w[4:5]).sum(), (x1, s1))
    torch.testing.assert_close(gx1, gx[4:5], rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(gs1, gs[4:5], rtol=1e-9, atol=1e-12)


def test_float32_gradients_follow_float64():
    g = torch.Generator().manual_seed(4)
    x64 = torch.randn(3, 2, 2000, dtype=torch.float64, generator=g)
    sos = small_sos(3)
    grads = []
    for dtype in (torch.float64, torch.float32):
        x = x64.detach().to(dtype).clone().requires_grad_(True)
        s = sos.detach().requires_grad_(True)
        y, _ = biquad_cascade(x, s)
        (y.double() ** 2).sum().backward()
        grads.append((x.grad.double(), s.grad))
    torch.testing.assert_close(grads[1][0], grads[0][0], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(grads[1][1], grads[0][1], rtol=1e-5, atol=1e-3)


@pytest.mark.parametrize("signal", ["silence", "full_scale_noise"])
def test_finite_output_and_gradients_at_extremes(signal):
    sr = 44100
    combos = [(f, q, gdb, h) for f in (20.0, 20000.0) for q in (0.1, 10.0) for gdb in (-18.0, 18.0) for h in (10.0, 2000.0)]
    f, q, gdb, h = (torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in zip(*combos))
    tracks = len(combos)
    n = sr // 2
    if signal == "silence":
        x = torch.zeros(tracks, 2, n)
    else:
        x = torch.tensor(np.random.default_rng(5).uniform(-1, 1, (tracks, 2, n)), dtype=torch.float32)
    x.requires_grad_(True)
    sos = cascade_sections(
        highpass_sos(h, sr),
        low_shelf_sos(f, gdb, q, sr),
        peaking_sos(f, gdb, q, sr),
        peaking_sos(f * 0.5, -gdb, q, sr),
        high_shelf_sos(f, gdb, q, sr),
    )
    y, state = biquad_cascade(x, sos)
    assert torch.isfinite(y).all() and torch.isfinite(state).all()
    if signal == "silence":
        assert not y.any()
    (y.double() ** 2).mean().backward()
    for p in (x, f, q, gdb, h):
        assert torch.isfinite(p.grad).all()


# ------------------------------------------------------------------------------------------
# contract
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("channels", [1, 2])
def test_batch_consistent(rng, channels, dtype):
    sr = 22050
    x = torch.tensor(rng.standard_normal((5, channels, 3001)), dtype=dtype)
    sos = console_sos(5, sr, seed=11)
    together, st_together = biquad_cascade(x, sos)
    for t in range(5):
        alone, st_alone = biquad_cascade(x[t : t + 1], sos[t : t + 1])
        tol = dict(rtol=1e-6, atol=1e-7) if dtype == torch.float32 else dict(rtol=1e-12, atol=1e-13)
        torch.testing.assert_close(alone, together[t : t + 1], **tol)
        torch.testing.assert_close(st_alone, st_together[t : t + 1], rtol=1e-12, atol=1e-13)


def test_one_cascade_broadcasts_to_all_tracks(rng):
    x = torch.tensor(rng.standard_normal((4, 2, 1000)))
    one = console_sos(1, 44100, seed=2)
    y_b, _ = biquad_cascade(x, one)
    y_e, _ = biquad_cascade(x, one.expand(4, -1, -1))
    y_2d, _ = biquad_cascade(x, one[0])
    assert torch.equal(y_b, y_e) and torch.equal(y_b, y_2d)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_flat_eq_is_bit_exact_identity(rng, dtype):
    sr = 44100
    tracks = 17  # 34 rows: two full 16-lane groups and a partial one
    f = torch.tensor(np.exp(rng.uniform(np.log(20), np.log(20000), (6, tracks))))
    q = torch.tensor(np.exp(rng.uniform(np.log(0.1), np.log(10), (6, tracks))))
    flat = cascade_sections(
        low_shelf_sos(f[0], 0.0, q[0], sr),
        *[peaking_sos(f[i], 0.0, q[i], sr) for i in range(1, 5)],
        high_shelf_sos(f[5], 0.0, q[5], sr),
    )
    x = torch.tensor(rng.standard_normal((tracks, 2, 4099)), dtype=dtype)
    x[..., 100] = 1e-30  # tiny next to large samples: no cancellation error may survive
    x[..., 101] = -7.5
    for xs, sos in ((x, flat), (x[:1], flat[:1])):  # and one track alone (2 lanes)
        y, state = biquad_cascade(xs, sos)
        assert torch.equal(y, xs)
        assert not state.any()


def test_silence_in_silence_out_and_empty_input():
    sos = console_sos(3, 44100)
    y, state = biquad_cascade(torch.zeros(3, 2, 1000), sos)
    assert not y.any() and not state.any()
    _, state = biquad_cascade(torch.randn(3, 2, 777), sos)
    for dtype in (torch.float32, torch.float64):
        empty = torch.zeros(3, 2, 0, dtype=dtype)
        y, after = biquad_cascade(empty, sos, state)
        assert y.shape == (3, 2, 0) and y.dtype == dtype
        assert torch.equal(after, state) and after is not state
    y, none = biquad_cascade(torch.randn(3, 1, 10), sos[:, :0])
    assert none.shape == (3, 1, 0, 2)


def test_empty_input_keeps_the_graph():
    x = torch.zeros(2, 2, 0, requires_grad=True)
    y, _ = biquad_cascade(x, small_sos(2))
    assert y.requires_grad


def test_impulse_then_long_silence_stays_fast_and_decays_to_zero():
    """Subnormal numbers in decaying tails would slow x86 down many times over.

    These sections decay through the whole float64 range within a few seconds, so without the
    flush the rest of the 30 s would run on subnormals.
    """
    sr = 44100
    n = 30 * sr
    sos = cascade_sections(
        highpass_sos(80.0, sr),
        peaking_sos(200.0, 12.0, 2.0, sr),
        low_shelf_sos(300.0, -6.0, 0.7, sr),
        high_shelf_sos(5000.0, 6.0, 0.7, sr),
    )
    impulse = torch.zeros(1, 2, n)
    impulse[..., 0] = 1.0
    noise = torch.tensor(np.random.default_rng(0).standard_normal((1, 2, n)), dtype=torch.float32)

    def cpu_seconds(fn):
        best = math.inf
        for _ in range(3):
            t = time.process_time()  # all threads; robust to other load on the machine
            out = fn()
            best = min(best, time.process_time() - t)
        return best, out

    t_noise, _ = cpu_seconds(lambda: biquad_cascade(noise, sos))
    t_impulse, (y, state) = cpu_seconds(lambda: biquad_cascade(impulse, sos))
    assert t_impulse < 2 * t_noise + 0.02, (t_impulse, t_noise)
    assert not y[..., -25 * sr :].any() and not state.any()  # flushed to exact zeros

    def backward(x, pick):
        x = x.clone().requires_grad_(True)
        y, _ = biquad_cascade(x, sos)
        pick(y).sum().backward()
        return x.grad

    # an adjoint impulse at the very end decays backwards through 30 s
    t_back, g = cpu_seconds(lambda: backward(impulse, lambda y: y[..., -1]))
    t_back_noise, _ = cpu_seconds(lambda: backward(noise, lambda y: y))
    assert t_back < 2 * t_back_noise + 0.05, (t_back, t_back_noise)
    assert torch.isfinite(g).all() and not g[..., : 25 * sr].any()


# ------------------------------------------------------------------------------------------
# helpers and errors
# ------------------------------------------------------------------------------------------


def test_sos_response_db_matches_scipy():
    sos = console_sos(2, 48000, seed=5)
    ours = sos_response_db(sos, torch.tensor(AUDIO_FREQS), 48000).numpy()
    for t in range(2):
        ref = response_db(sos[t].numpy(), 48000)
        assert np.abs(ours[t] - ref).max() < 1e-6


def test_cascade_sections_broadcasts_tracks():
    hp = highpass_sos(torch.tensor([40.0, 60.0, 90.0]), 48000)
    master = peaking_sos(1000.0, 3.0, 1.0, 48000)
    both = cascade_sections(hp, master, master[0])
    assert both.shape == (3, 4, 6)
    torch.testing.assert_close(both[:, 2], master[0, 0].expand(3, 6))
    torch.testing.assert_close(both[:, 3], master[0, 0].expand(3, 6))
    with pytest.raises(InvalidParameterError):
        cascade_sections(hp, peaking_sos(torch.tensor([1.0, 2.0]), 0.0, 1.0, 48000))


@pytest.mark.parametrize(
    "call",
    [
        lambda: peaking_sos(1000.0, 3.0, 0.0, 44100),
        lambda: low_shelf_sos(1000.0, float("nan"), 1.0, 44100),
        lambda: high_shelf_sos(1000.0, 3.0, 1.0, -1),
        lambda: highpass_sos(100.0, 44100, order=3),
        lambda: highpass_sos(torch.ones(2, 2), 44100),
        lambda: biquad_cascade(torch.zeros(2, 1, 10), torch.tensor([[[1.0, 0, 0, 1.0, -2.5, 1.5]]])),
        lambda: biquad_cascade(torch.zeros(2, 1, 10), torch.zeros(3, 1, 6)),
        lambda: biquad_cascade(torch.zeros(2, 1, 10), peaking_sos(1e3, 1.0, 1.0, 44100), torch.zeros(2, 1, 2, 2)),
    ],
)
def test_bad_parameters_are_refused(call):
    with pytest.raises(InvalidParameterError):
        call()


def test_bad_audio_is_refused():
    sos = peaking_sos(1000.0, 3.0, 1.0, 44100)
    with pytest.raises(InvalidAudioError):
        biquad_cascade(torch.zeros(2, 10), sos)
    with pytest.raises(InvalidAudioError):
        biquad_cascade(torch.zeros(1, 1, 10, dtype=torch.int16), sos)
