"""Compressor and true-peak limiter against physics, the paper's equations and a plain reference loop."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest
import torch
from scipy.signal import butter, resample_poly, sosfilt

from mixassist.console.dsp import compressor as compressor_module
from mixassist.console.dsp.compressor import compressor
from mixassist.console.dsp.levels import amplitude_to_db, db_to_amplitude, time_constant_coefficient
from mixassist.console.dsp.limiter import LimiterState, limiter, limiter_latency
from mixassist.errors import InvalidAudioError, InvalidParameterError

SAMPLE_RATES = (22050, 44100, 48000)

# console ranges (physical units), used for the extremes and the random draws
COMP_RANGES = {
    "threshold_db": (-60.0, 0.0),
    "ratio": (1.0, 20.0),
    "knee_db": (0.0, 18.0),
    "attack_ms": (0.1, 100.0),
    "release_ms": (10.0, 2000.0),
    "makeup_db": (0.0, 24.0),
}
LIMITER_RANGES = {"ceiling_dbtp": (-12.0, 0.0), "release_ms": (10.0, 1000.0)}


def _comp_params(**values) -> dict:
    base = dict(threshold_db=-20.0, ratio=4.0, knee_db=6.0, attack_ms=5.0, release_ms=100.0, makeup_db=0.0)
    base.update(values)
    return base


def _expected_output_db(x_db, threshold_db, ratio, knee_db):
    """Giannoulis, Massberg & Reiss (2012) eq. 4, written out independently of the module."""
    x_db = np.asarray(x_db, dtype=np.float64)
    below = x_db < threshold_db - knee_db / 2.0
    above = x_db > threshold_db + knee_db / 2.0
    y = np.where(above, threshold_db + (x_db - threshold_db) / ratio, x_db)
    if knee_db > 0:
        inside = ~below & ~above
        knee = x_db + (1.0 / ratio - 1.0) * (x_db - threshold_db + knee_db / 2.0) ** 2 / (2.0 * knee_db)
        y = np.where(inside, knee, y)
    return y


def _reference_compressor(x, sample_rate, threshold_db, ratio, knee_db, attack_ms, release_ms, makeup_db, s0=None):
    """Plain per-sample loop of the design in the brief (float64 numpy, no vectorisation)."""
    tracks, channels, length = x.shape
    y = np.empty_like(x)
    s_out = np.empty(tracks)
    for t in range(tracks):
        a_att = math.exp(-1.0 / (attack_ms[t] * 1e-3 * sample_rate))
        a_rel = math.exp(-1.0 / (release_ms[t] * 1e-3 * sample_rate))
        thr, r, w = threshold_db[t], ratio[t], knee_db[t]
        s = 0.0 if s0 is None else s0[t]
        for n in range(length):
            peak = max(abs(x[t, c, n]) for c in range(channels))
            xd = 20.0 * math.log10(max(peak, 1e-9))
            if 2.0 * (xd - thr) < -w:
                yd = xd
            elif 2.0 * abs(xd - thr) <= w and w > 0:
                yd = xd + (1.0 / r - 1.0) * (xd - thr + w / 2.0) ** 2 / (2.0 * w)
            else:
                yd = thr + (xd - thr) / r
            gr = xd - yd
            if gr > s:
                s = a_att * s + (1.0 - a_att) * gr
            else:
                s = a_rel * s + (1.0 - a_rel) * gr
            gain = 10.0 ** ((makeup_db[t] - s) / 20.0)
            for c in range(channels):
                y[t, c, n] = x[t, c, n] * gain
        s_out[t] = s
    return y, s_out


def _true_peak_db(y: np.ndarray) -> float:
    """True peak by 8x oversampling (scipy's polyphase Kaiser resampler), in dBTP."""
    up = resample_poly(np.asarray(y, dtype=np.float64), 8, 1, axis=-1)
    return 20.0 * math.log10(float(np.abs(up).max()))


def _crest_test_signal(rng, sample_rate: int, seconds: float, *, white: bool) -> np.ndarray:
    """Stereo noise bursts with a strong crest factor plus a full-scale fs/4 sine at 45 degrees.

    Faded in/out over 50 ms so that the 8x measurement does not see a truncation step that
    no limiter could have looked at.
    """
    n = int(seconds * sample_rate)
    t = np.arange(n) / sample_rate
    env = np.zeros(n)
    for _ in range(int(6 * seconds)):
        start = rng.integers(0, n - sample_rate // 10)
        env[start:start + rng.integers(sample_rate // 200, sample_rate // 10)] += rng.uniform(0.2, 1.0)
    noise = rng.standard_normal((2, n))
    if not white:  # a music-like spectrum: -6 dB/octave above 2 kHz
        noise = sosfilt(butter(1, 2000.0 / (sample_rate / 2), output="sos"), noise) * 5.0
    fade = np.clip(np.minimum(t, t[-1] - t) / 0.05, 0.0, 1.0)
    sine = np.sin(2 * np.pi * (sample_rate / 4) * t + np.pi / 4)
    return (0.3 * noise * env + 0.5 * sine) * fade


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------


def test_db_helpers_round_trip_and_floor():
    db = torch.tensor([-120.0, -6.0, 0.0, 12.0], dtype=torch.float64)
    assert torch.allclose(amplitude_to_db(db_to_amplitude(db)), db, atol=1e-12)
    assert db_to_amplitude(-20.0) == pytest.approx(0.1, rel=1e-15)
    assert amplitude_to_db(0.0) == -180.0
    assert amplitude_to_db(torch.zeros(3)).eq(-180.0).all()
    assert amplitude_to_db(-0.5) == pytest.approx(20 * math.log10(0.5))
    assert amplitude_to_db(0.0, floor_db=-100.0) == -100.0


def test_time_constant_coefficient_reaches_one_minus_1_over_e_after_tau():
    a = time_constant_coefficient(10.0, 48000)
    assert a == pytest.approx(math.exp(-1.0 / 480.0), rel=1e-15)
    # a step through the one-pole reaches 1 - 1/e after tau * sample_rate samples
    assert 1.0 - a**480 == pytest.approx(1.0 - 1.0 / math.e, rel=1e-12)
    at = time_constant_coefficient(torch.tensor([10.0], dtype=torch.float64), 48000)
    assert at.item() == pytest.approx(a, rel=1e-15)


# --------------------------------------------------------------------------------------------
# compressor: physics and the paper
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("channels", [1, 2])
@pytest.mark.parametrize(
    ("threshold_db", "ratio", "knee_db", "makeup_db"),
    [(-20.0, 4.0, 0.0, 0.0), (-20.0, 4.0, 12.0, 0.0), (-40.0, 20.0, 18.0, 6.0), (-10.0, 1.5, 6.0, 0.0), (-30.0, 8.0, 0.5, 0.0)],
)
def test_static_curve_matches_equation_4(threshold_db, ratio, knee_db, makeup_db, channels):
    """Constant (DC) levels, one per track; the settled gain is the static curve within 0.01 dB."""
    sample_rate = 8000
    levels_db = np.linspace(-80.0, 0.0, 161)
    amp = 10.0 ** (levels_db / 20.0)
    x = np.repeat(amp[:, None, None], channels, axis=1) * np.ones((1, 1, 2000))
    if channels == 2:
        x[:, 1, :] *= -0.5  # linked detector: the louder channel decides, same gain on both
    y, _ = compressor(
        torch.tensor(x), sample_rate, threshold_db=threshold_db, ratio=ratio, knee_db=knee_db,
        attack_ms=1.0, release_ms=10.0, makeup_db=makeup_db,
    )
    y = y.numpy()
    gain_db = 20 * np.log10(np.abs(y[:, :, -1]) / np.abs(x[:, :, -1]))  # settled after 250 time constants
    expected = _expected_output_db(levels_db, threshold_db, ratio, knee_db) - levels_db + makeup_db
    for c in range(channels):
        np.testing.assert_allclose(gain_db[:, c], expected, atol=0.01)


@pytest.mark.parametrize("sample_rate", SAMPLE_RATES)
@pytest.mark.parametrize(("attack_ms", "release_ms"), [(1.0, 50.0), (10.0, 200.0), (50.0, 1000.0)])
def test_step_response_time_constants(attack_ms, release_ms, sample_rate):
    """-40 -> -10 dB step (threshold -30, ratio 4, hard knee): the 15 dB gain change reaches
    1 - 1/e after the attack time, and the recovery after the step back down after the release
    time, each within 10 %."""
    up = int(0.1 * sample_rate)
    down = up + int(10 * attack_ms * 1e-3 * sample_rate)
    length = down + int(3 * release_ms * 1e-3 * sample_rate)
    level = np.full(length, 10 ** (-40 / 20))
    level[up:down] = 10 ** (-10 / 20)
    x = torch.tensor(level)[None, None, :]
    y, _ = compressor(x, sample_rate, threshold_db=-30.0, ratio=4.0, knee_db=0.0, attack_ms=attack_ms, release_ms=release_ms, makeup_db=0.0)
    gain_db = 20 * np.log10(y[0, 0].numpy() / level)
    final_change = -15.0  # gr = (1 - 1/4) * (-10 - (-30))
    assert gain_db[up - 1] == 0.0
    assert gain_db[down - 1] == pytest.approx(final_change, abs=1e-3)
    target = (1 - 1 / math.e) * final_change
    t_attack = (np.argmax(gain_db[up:] <= target) + 1) / sample_rate
    assert t_attack == pytest.approx(attack_ms * 1e-3, rel=0.1)
    recovered = gain_db[down:] >= final_change - target  # 1 - 1/e of the 15 dB back
    t_release = (np.argmax(recovered) + 1) / sample_rate
    assert t_release == pytest.approx(release_ms * 1e-3, rel=0.1)


def test_matches_plain_reference_loop(rng):
    """Random parameters and signals, float64: equal to the loop within -120 dB (measured:
    about -255 dB relative to the signal peak; the kernels' log/exp polynomials are the limit)."""
    tracks, channels, length, sample_rate = 4, 2, 3000, 16000
    env = np.repeat(rng.uniform(0.001, 1.0, (tracks, 1, length // 100)), 100, axis=-1)
    x = rng.standard_normal((tracks, channels, length)) * env
    x[:, :, 1500:1600] = 0.0  # exact silence inside
    params = {name: rng.uniform(lo, hi, tracks) for name, (lo, hi) in COMP_RANGES.items()}
    params["knee_db"][0] = 0.0
    params["ratio"][1] = 1.0
    y, state = compressor(torch.tensor(x), sample_rate, **{k: torch.tensor(v) for k, v in params.items()})
    y_ref, s_ref = _reference_compressor(x, sample_rate, **params)
    err_db = 20 * np.log10(np.abs(y.numpy() - y_ref).max() / np.abs(y_ref).max())
    assert err_db < -120.0
    np.testing.assert_allclose(state.numpy(), s_ref, rtol=1e-9, atol=1e-9)
    # continuing from a state is continuing the loop
    y2, _ = compressor(torch.tensor(x), sample_rate, state=state, **{k: torch.tensor(v) for k, v in params.items()})
    y2_ref, _ = _reference_compressor(x, sample_rate, **params, s0=s_ref)
    assert 20 * np.log10(np.abs(y2.numpy() - y2_ref).max() / np.abs(y2_ref).max()) < -120.0


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("makeup_db", [0.0, 7.5])
def test_ratio_one_is_exactly_makeup_gain(rng, dtype, makeup_db):
    x = torch.tensor(rng.standard_normal((3, 2, 5000)) * 2.0, dtype=dtype)
    y, state = compressor(x, 44100, threshold_db=-60.0, ratio=1.0, knee_db=18.0, attack_ms=0.1, release_ms=10.0, makeup_db=makeup_db)
    gain = db_to_amplitude(torch.tensor(makeup_db, dtype=torch.float64))
    assert torch.equal(y, (x.to(torch.float64) * gain).to(dtype))
    if makeup_db == 0.0:
        assert torch.equal(y, x)
    assert torch.equal(state, torch.zeros(3, dtype=torch.float64))


def test_gain_is_the_same_on_all_channels_and_never_above_makeup(rng):
    x = torch.tensor(rng.standard_normal((2, 2, 4000)))
    y, _ = compressor(x, 44100, **_comp_params(threshold_db=-12.0, makeup_db=3.0))
    g = y / x
    assert torch.allclose(g[:, 0], g[:, 1], rtol=1e-12)
    assert (g <= db_to_amplitude(3.0) * (1 + 1e-12)).all()


# --------------------------------------------------------------------------------------------
# compressor: contracts
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("sample_rate", SAMPLE_RATES)
@pytest.mark.parametrize("channels", [1, 2])
def test_compressor_chunked_equals_whole(rng, sample_rate, channels):
    tracks, length = 5, 6000
    x = torch.tensor(rng.standard_normal((tracks, channels, length)) * np.linspace(0.01, 1.5, length), dtype=torch.float32)
    params = {name: torch.tensor(rng.uniform(lo, hi, tracks)) for name, (lo, hi) in COMP_RANGES.items()}
    y, s = compressor(x, sample_rate, **params)
    cuts = [0, 0, 1, 1, 700, 1023, 1024, 2049, 5999, length]
    state, outs = None, []
    for a, b in zip(cuts[:-1], cuts[1:]):
        yc, state = compressor(x[..., a:b], sample_rate, state=state, **params)
        outs.append(yc)
    assert torch.equal(torch.cat(outs, dim=-1), y)
    assert torch.equal(state, s)


def test_compressor_batch_consistent(rng):
    tracks = 6  # more than one group of interleaved tracks
    x = torch.tensor(rng.standard_normal((tracks, 2, 3000)))
    params = {name: torch.tensor(rng.uniform(lo, hi, tracks)) for name, (lo, hi) in COMP_RANGES.items()}
    y, s = compressor(x, 44100, **params)
    for t in range(tracks):
        yt, st = compressor(x[t:t + 1], 44100, **{k: v[t:t + 1] for k, v in params.items()})
        assert torch.equal(yt[0], y[t])
        assert torch.equal(st[0], s[t])


def test_compressor_parallel_path_equals_serial_path(rng, monkeypatch):
    """Large inputs run the prange kernels, small ones the same group code serially."""
    tracks = 9  # three groups of interleaved tracks, the last one partial
    # float32 audio: the same compiled variants as the extremes test, no extra compile time
    x = torch.tensor(rng.standard_normal((tracks, 2, 3000)), dtype=torch.float32, requires_grad=True)
    params = {name: torch.tensor(rng.uniform(lo, hi, tracks), requires_grad=True) for name, (lo, hi) in COMP_RANGES.items()}

    def run():
        y, s = compressor(x, 44100, **params)
        grads = torch.autograd.grad(y.square().sum(), [x, *params.values()])
        return y.detach(), s, grads

    serial = run()
    monkeypatch.setattr(compressor_module, "_PARALLEL_MIN_WORK", 0)
    parallel = run()
    assert torch.equal(serial[0], parallel[0]) and torch.equal(serial[1], parallel[1])
    for a, b in zip(serial[2], parallel[2]):
        assert torch.equal(a, b)


def test_compressor_scalar_parameters_broadcast(rng):
    x = torch.tensor(rng.standard_normal((3, 2, 1000)))
    y1, _ = compressor(x, 44100, **_comp_params())
    y2, _ = compressor(x, 44100, **{k: torch.full((3,), v, dtype=torch.float32) for k, v in _comp_params().items()})
    y3, _ = compressor(x, 44100, **{k: torch.tensor(v) for k, v in _comp_params().items()})
    assert torch.equal(y1, y2) and torch.equal(y1, y3)


def test_compressor_zero_length_and_silence():
    state_in = torch.tensor([3.0, 0.0], dtype=torch.float64)
    y, s = compressor(torch.zeros(2, 2, 0), 44100, **_comp_params(), state=state_in)
    assert y.shape == (2, 2, 0) and torch.equal(s, state_in)
    y, s = compressor(torch.zeros(2, 2, 4410), 44100, **_comp_params(makeup_db=12.0, threshold_db=-60.0))
    assert torch.equal(y, torch.zeros(2, 2, 4410)) and torch.equal(s, torch.zeros(2, dtype=torch.float64))


def test_compressor_state_is_detached_float64_and_validated(rng):
    x = torch.tensor(rng.standard_normal((2, 2, 100)), requires_grad=True)
    y, s = compressor(x, 44100, **_comp_params(threshold_db=-30.0))
    assert s.dtype == torch.float64 and s.shape == (2,) and not s.requires_grad and (s > 0).all()
    with pytest.raises(InvalidParameterError, match="state"):
        compressor(x, 44100, **_comp_params(), state=torch.zeros(3))


@pytest.mark.parametrize(
    ("name", "value"),
    [("ratio", 0.5), ("knee_db", -1.0), ("attack_ms", 0.0), ("release_ms", -5.0), ("threshold_db", float("nan")), ("makeup_db", float("inf"))],
)
def test_compressor_rejects_bad_parameters(name, value):
    with pytest.raises(InvalidParameterError, match=name):
        compressor(torch.zeros(1, 2, 10), 44100, **_comp_params(**{name: value}))
    with pytest.raises(ValueError):  # the builtin a caller would catch
        compressor(torch.zeros(1, 2, 10), 44100, **_comp_params(**{name: value}))


def test_compressor_rejects_bad_audio_and_shapes():
    with pytest.raises(InvalidAudioError, match="shape"):
        compressor(torch.zeros(2, 10), 44100, **_comp_params())
    with pytest.raises(InvalidAudioError, match="dtype"):
        compressor(torch.zeros(1, 2, 10, dtype=torch.int16), 44100, **_comp_params())
    with pytest.raises(InvalidParameterError, match="threshold_db"):
        compressor(torch.zeros(2, 2, 10), 44100, **_comp_params(threshold_db=torch.zeros(3)))
    with pytest.raises(InvalidParameterError, match="sample_rate"):
        compressor(torch.zeros(1, 2, 10), 0, **_comp_params())


# --------------------------------------------------------------------------------------------
# compressor: gradients
# --------------------------------------------------------------------------------------------


def _grad_inputs(rng, knee):
    env = np.repeat(np.array([0.05, 0.8, 0.3, 1.0, 0.1, 0.5, 0.9, 0.02]), 8)
    x = torch.tensor(rng.standard_normal((2, 2, 64)) * env, dtype=torch.float64, requires_grad=True)
    params = [
        torch.tensor(v, dtype=torch.float64, requires_grad=True)
        for v in ([-20.0, -12.0], [4.0, 2.5], knee, [2.0, 5.0], [20.0, 40.0], [1.0, 0.0])
    ]
    return x, params


@pytest.mark.parametrize("knee", [[6.0, 3.0], [0.0, 0.0]])
def test_compressor_gradcheck(rng, knee):
    x, params = _grad_inputs(rng, knee)
    state = torch.tensor([2.0, 0.5], dtype=torch.float64)
    names = ["threshold_db", "ratio", "knee_db", "attack_ms", "release_ms", "makeup_db"]
    if knee[0] == 0.0:  # a finite difference would step to a negative knee; check the rest
        params[2].requires_grad_(False)

    def fn(x, *p):
        # 1 kHz so that millisecond time constants give coefficients far from 1
        return compressor(x, 1000, state=state, **dict(zip(names, p)))[0]

    assert torch.autograd.gradcheck(fn, (x, *params), eps=1e-6, atol=1e-6, rtol=1e-4)


def test_compressor_gradient_dtype_float32(rng):
    x = torch.tensor(rng.standard_normal((2, 2, 500)), dtype=torch.float32, requires_grad=True)
    thr = torch.tensor([-20.0, -10.0], requires_grad=True)
    y, _ = compressor(x, 44100, **_comp_params(threshold_db=thr))
    y.square().sum().backward()
    assert x.grad.dtype == torch.float32 and thr.grad.dtype == torch.float32
    assert torch.isfinite(x.grad).all() and (thr.grad != 0).all()


def _extreme_comp_params(tracks_dtype=torch.float64):
    """Every parameter at normalised 0, 0.5, 1 together, plus the corners that matter most."""
    rows = []
    for u in (0.0, 0.5, 1.0):
        rows.append({k: lo + u * (hi - lo) for k, (lo, hi) in COMP_RANGES.items()})
    for ratio in (1.0, 20.0):
        for knee in (0.0, 18.0):
            for attack, release in ((0.1, 2000.0), (100.0, 10.0), (0.1, 10.0)):
                rows.append(dict(threshold_db=-60.0 if knee else 0.0, ratio=ratio, knee_db=knee, attack_ms=attack, release_ms=release, makeup_db=24.0))
    return {k: torch.tensor([r[k] for r in rows], dtype=tracks_dtype, requires_grad=True) for k in COMP_RANGES}


@pytest.mark.parametrize("signal", ["silence", "full_scale_noise", "impulse_then_10s_silence"])
def test_compressor_finite_at_extremes(rng, signal):
    sample_rate = 44100
    params = _extreme_comp_params()
    tracks = params["ratio"].shape[0]
    if signal == "silence":
        x = np.zeros((tracks, 2, 4410))
    elif signal == "full_scale_noise":
        x = rng.uniform(-1.0, 1.0, (tracks, 2, 4410))
    else:
        x = np.zeros((tracks, 2, 10 * sample_rate + 1))
        x[:, :, 0] = 4.0  # +12 dBFS
    x = torch.tensor(x, dtype=torch.float32, requires_grad=True)
    start = time.perf_counter()
    y, state = compressor(x, sample_rate, **params)
    (y.square().sum() + y.sum()).backward()
    elapsed = time.perf_counter() - start
    assert torch.isfinite(y).all() and torch.isfinite(state).all()
    assert torch.isfinite(x.grad).all()
    for name, p in params.items():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
    if signal == "impulse_then_10s_silence":
        # 21 tracks x 10 s forward + backward is ~0.5 s of CPU; subnormal arithmetic in the
        # decays would make it 10-100x slower.  Loose bound: this box may be shared.
        assert elapsed < 20.0
        assert (y[:, :, 1:] == 0).all()


# --------------------------------------------------------------------------------------------
# limiter
# --------------------------------------------------------------------------------------------


def test_limiter_latency_values():
    assert limiter_latency(44100) == 74
    assert limiter_latency(48000) == 80
    assert limiter_latency(22050) == 41


@pytest.mark.parametrize("white", [True, False], ids=["white_bursts", "lowpassed_bursts"])
@pytest.mark.parametrize("ceiling_dbtp", [-1.0, -3.0])
@pytest.mark.parametrize("release_ms", [10.0, 300.0])
def test_limiter_true_peak_below_ceiling(rng, ceiling_dbtp, release_ms, white):
    sample_rate = 44100
    sig = _crest_test_signal(rng, sample_rate, 3.0, white=white) * db_to_amplitude(12.0)
    assert _true_peak_db(sig) > ceiling_dbtp + 12.0  # the input is far over the ceiling
    lat = limiter_latency(sample_rate)
    x = torch.tensor(np.pad(sig, ((0, 0), (0, lat)))[None], dtype=torch.float32)
    y, _ = limiter(x, sample_rate, ceiling_dbtp=ceiling_dbtp, release_ms=release_ms)
    overshoot = _true_peak_db(y[0].numpy()) - ceiling_dbtp
    assert overshoot <= 0.1  # measured: 0.043 dB at most over these cases
    assert overshoot > -1.0  # and it does not simply turn everything down


def test_limiter_true_peak_of_sine_near_nyquist():
    """A 4x sample grid alone under-reads a sine near fs/2 by up to 0.7 dB."""
    sample_rate = 48000
    n = np.arange(sample_rate)
    fade = np.clip(np.minimum(n, n[-1] - n) / 2400, 0, 1)
    worst = -np.inf
    for f_hz, phase in ((17000.0, 0.3), (19000.0, 1.1), (12000.0, np.pi / 4), (997.0, 0.0)):
        sig = np.sin(2 * np.pi * f_hz * n / sample_rate + phase) * fade * 2.0
        x = torch.tensor(np.stack([sig, 0.5 * sig])[None])
        y, _ = limiter(x, sample_rate, ceiling_dbtp=-1.0, release_ms=50.0)
        worst = max(worst, _true_peak_db(y[0].numpy()) + 1.0)
    assert worst <= 0.1


@pytest.mark.parametrize("sample_rate", SAMPLE_RATES)
@pytest.mark.parametrize("channels", [1, 2])
def test_limiter_quiet_signal_passes_unchanged(rng, sample_rate, channels):
    sig = _crest_test_signal(rng, sample_rate, 1.0, white=True)[:channels]
    sig *= db_to_amplitude(-3.0) / 10 ** (_true_peak_db(sig) / 20)  # true peak -3 dBTP
    x = torch.tensor(sig[None], dtype=torch.float32)
    y, state = limiter(x, sample_rate, ceiling_dbtp=-1.0, release_ms=100.0)
    lat = limiter_latency(sample_rate)
    assert torch.equal(y[..., lat:], x[..., :-lat])
    assert torch.equal(y[..., :lat], torch.zeros(1, channels, lat))
    assert (state.reduction_history == 0).all() and (state.release_db == 0).all()


@pytest.mark.parametrize("sample_rate", SAMPLE_RATES)
def test_limiter_chunked_equals_whole(rng, sample_rate):
    sig = _crest_test_signal(rng, sample_rate, 1.0, white=False) * 4.0
    x = torch.tensor(sig[None], dtype=torch.float32)
    kw = dict(ceiling_dbtp=-2.0, release_ms=30.0)
    y, s = limiter(x, sample_rate, **kw)
    n = x.shape[-1]
    cuts = [0, 0, 1, 5, 17, 300, 1024, 1025, n // 2, n - 3, n]
    state, outs = None, []
    for a, b in zip(cuts[:-1], cuts[1:]):
        yc, state = limiter(x[..., a:b], sample_rate, state=state, **kw)
        outs.append(yc)
    assert torch.equal(torch.cat(outs, dim=-1), y)
    for got, want in zip(state, s):
        assert torch.equal(got, want)


def test_true_peak_detector_reads_float32_as_its_float64_path_does(rng):
    """Without gradients the detector reads float32 directly; it equals the float64 path
    (the one that keeps what the backward pass needs) bit for bit."""
    from mixassist.console.dsp.true_peak import DETECTOR_CONTEXT, true_peak_estimate

    x = torch.from_numpy(rng.normal(0.0, 0.5, (1, 2, DETECTOR_CONTEXT + 3000)).astype(np.float32))
    fast = true_peak_estimate(x, DETECTOR_CONTEXT, False)
    wide = x.to(torch.float64).requires_grad_(True)
    slow = true_peak_estimate(wide, DETECTOR_CONTEXT, True)
    assert fast.dtype == torch.float64 and torch.equal(fast, slow.detach())


def test_limiter_gain_path_equals_a_plain_reference_on_bursts(rng):
    """Bursts over the ceiling between quiet stretches (the kernels skip windows of zero
    reduction): the output equals the documented gain path written as plain numpy loops
    (held maximum over the look-ahead, one-pole release with instant attack, moving average)."""
    from mixassist.console.dsp.true_peak import DETECTOR_CONTEXT, DETECTOR_FUTURE, true_peak_estimate

    sr, ceiling, release_ms = 22050, -1.0, 10.0
    t = np.arange(3 * sr // 2) / sr
    sig = 0.2 * np.sin(2 * np.pi * 220 * t) + (np.sin(2 * np.pi * t) > 0.97) * rng.normal(0, 0.8, t.size)
    x = np.stack([sig, 0.6 * sig])[None]
    y, _ = limiter(torch.from_numpy(x), sr, ceiling_dbtp=ceiling, release_ms=release_ms)
    look = limiter_latency(sr) - DETECTOR_FUTURE
    hist = max(DETECTOR_FUTURE + look, DETECTOR_CONTEXT)
    xe = np.concatenate([np.zeros((1, 2, hist)), x], axis=-1)
    peak = true_peak_estimate(torch.from_numpy(xe), hist, False).numpy()[0]
    need = np.maximum(20 * np.log10(np.maximum(peak, 1e-9)) - ceiling, 0.0)
    need = np.concatenate([np.zeros(look), need])
    held = np.array([need[n : n + look + 1].max() for n in range(t.size)])
    a, s, released = math.exp(-1000.0 / (release_ms * sr)), 0.0, np.empty(t.size)
    for n, g in enumerate(held):
        s = g if g > s else a * s + (1 - a) * g
        s = s if s >= 1e-18 else 0.0  # flushed to an exact 0 (levels.S_FLUSH_DB)
        released[n] = s
    released = np.concatenate([np.zeros(look - 1), released])
    gain = 10 ** (-np.array([released[n : n + look].mean() for n in range(t.size)]) / 20)
    start = hist - (DETECTOR_FUTURE + look)
    expected = xe[..., start : start + t.size] * gain
    assert 0.1 < (gain == 1.0).mean() < 0.9  # both kinds of window are exercised
    np.testing.assert_allclose(y.numpy(), expected, rtol=1e-9, atol=1e-12)


def test_limiter_batch_consistent_and_state_type(rng):
    x = torch.tensor(rng.standard_normal((3, 2, 5000)) * 2.0)
    ceiling = torch.tensor([-1.0, -6.0, 0.0])
    release = torch.tensor([10.0, 100.0, 1000.0])
    y, s = limiter(x, 44100, ceiling_dbtp=ceiling, release_ms=release)
    assert isinstance(s, LimiterState)
    for t in range(3):
        yt, _ = limiter(x[t:t + 1], 44100, ceiling_dbtp=ceiling[t:t + 1], release_ms=release[t:t + 1])
        assert torch.equal(yt[0], y[t])


def test_limiter_zero_length_silence_and_validation():
    y, s = limiter(torch.zeros(1, 2, 0), 44100, ceiling_dbtp=-1.0, release_ms=100.0)
    assert y.shape == (1, 2, 0)
    y2, s2 = limiter(torch.zeros(1, 2, 0), 44100, ceiling_dbtp=-1.0, release_ms=100.0, state=s)
    assert all(torch.equal(a, b) for a, b in zip(s, s2))
    y, _ = limiter(torch.zeros(1, 2, 4410), 44100, ceiling_dbtp=-12.0, release_ms=10.0)
    assert torch.equal(y, torch.zeros(1, 2, 4410))
    with pytest.raises(InvalidParameterError, match="state"):
        limiter(torch.zeros(1, 2, 10), 48000, ceiling_dbtp=-1.0, release_ms=100.0, state=s)
    with pytest.raises(InvalidParameterError, match="release_ms"):
        limiter(torch.zeros(1, 2, 10), 48000, ceiling_dbtp=-1.0, release_ms=0.0)


def test_limiter_gradcheck(rng):
    x = torch.tensor(rng.standard_normal((1, 2, 96)), dtype=torch.float64, requires_grad=True)
    ceiling = torch.tensor([-6.0], dtype=torch.float64, requires_grad=True)
    release = torch.tensor([20.0], dtype=torch.float64, requires_grad=True)

    def fn(x, c, r):
        return limiter(x, 8000, ceiling_dbtp=c, release_ms=r)[0]

    assert torch.autograd.gradcheck(fn, (x, ceiling, release), eps=1e-6, atol=1e-6, rtol=1e-4)


@pytest.mark.parametrize("signal", ["silence", "full_scale_noise", "impulse_then_10s_silence"])
def test_limiter_finite_at_extremes(rng, signal):
    sample_rate = 44100
    settings = [(lo + u * (hi - lo), rlo + u * (rhi - rlo)) for u in (0.0, 0.5, 1.0)
                for (lo, hi), (rlo, rhi) in [(LIMITER_RANGES["ceiling_dbtp"], LIMITER_RANGES["release_ms"])]]
    ceiling = torch.tensor([c for c, _ in settings], dtype=torch.float64, requires_grad=True)
    release = torch.tensor([r for _, r in settings], dtype=torch.float64, requires_grad=True)
    if signal == "silence":
        x = np.zeros((3, 2, 4410))
    elif signal == "full_scale_noise":
        x = rng.uniform(-1.0, 1.0, (3, 2, 4410))
    else:
        x = np.zeros((3, 2, 10 * sample_rate))
        x[:, :, 100] = 4.0
    x = torch.tensor(x, dtype=torch.float32, requires_grad=True)
    start = time.perf_counter()
    y, state = limiter(x, sample_rate, ceiling_dbtp=ceiling, release_ms=release)
    (y.square().sum() + y.sum()).backward()
    elapsed = time.perf_counter() - start
    assert torch.isfinite(y).all() and all(torch.isfinite(s).all() for s in state)
    assert torch.isfinite(x.grad).all()
    assert torch.isfinite(ceiling.grad).all() and torch.isfinite(release.grad).all()
    if signal == "impulse_then_10s_silence":
        assert elapsed < 20.0  # loose: subnormal decays would be orders of magnitude slower
        peak_db = 20 * torch.log10(y.detach().abs().amax(dim=(1, 2)))
        assert (peak_db <= ceiling.detach() + 0.1).all()
