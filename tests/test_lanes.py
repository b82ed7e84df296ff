"""Automation lanes: the envelope, the console's render against a per-sample loop, gradients,
one-point lanes bit-identical to the static setting, block independence."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.signal
import torch

from mixassist.audio.multitrack import Multitrack
from mixassist.console.console import Console, ConsoleSettings
from mixassist.console.dsp.envelope import lane_curve, lane_rows
from mixassist.console.dsp.reverb import reverb_ir
from mixassist.console.lanes import Lane, max_rate
from mixassist.console.params import MixParams
from mixassist.errors import InvalidParameterError, MixAssistError
from signals import raised_cosine

SR = 22050



@pytest.fixture(scope="module")
def stems() -> Multitrack:
    rng = np.random.default_rng(24)
    n = int(1.2 * SR)
    t = np.arange(n) / SR
    return Multitrack.from_arrays(
        {
            "vox": 0.3 * np.sin(2 * np.pi * 330 * t) + 0.05 * rng.standard_normal(n),
            "gtr": 0.2 * rng.standard_normal((2, n)),
            "bass": 0.4 * np.sin(2 * np.pi * 82 * t),
        },
        SR,
    )


def test_lane_validation() -> None:
    with pytest.raises(InvalidParameterError, match="increase"):
        Lane((1.0, 1.0), (0.0, 1.0))
    with pytest.raises(InvalidParameterError, match="one value per time"):
        Lane((0.0, 1.0), (0.0,))
    p = MixParams(["a"])
    with pytest.raises(InvalidParameterError, match="cannot be automated"):
        p.set_lane("a", "comp_ratio", Lane((0.0, 1.0), (1.0, 2.0)))
    with pytest.raises(InvalidParameterError, match="outside the allowed range"):
        p.set_lane("a", "pan", Lane((0.0, 1.0), (0.0, 2.0)))
    p.set_lane("a", "gain_db", Lane((0.5,), (-4.0,)))  # one point: the static setting
    assert p.lane("a", "gain_db") is None and p.get("a", "gain_db") == -4.0


def test_curve_matches_plain_loop_and_rate() -> None:
    times, values = [0.1, 0.4, 0.45, 1.2], [-6.0, 2.0, 2.0, -20.0]
    tt = torch.tensor(times, dtype=torch.float64)
    curve = lane_curve(tt, torch.tensor(values), -30, 40000, SR).numpy()  # the render's kernel
    grad_path = lane_curve(tt, torch.tensor(values, requires_grad=True), -30, 40000, SR).detach().numpy()
    ref = np.array([raised_cosine(times, values, (i - 30) / SR) for i in range(40000)])
    np.testing.assert_allclose(curve, ref, rtol=0, atol=1e-11)
    np.testing.assert_allclose(grad_path, ref, rtol=0, atol=1e-12)
    gain = lane_curve(tt, torch.tensor(values), -30, 40000, SR, db=True).numpy()
    np.testing.assert_allclose(gain, 10 ** (ref / 20), rtol=1e-11)
    held = (np.arange(40000) - 30) / SR
    assert np.all(curve[(held >= 0.4) & (held <= 0.45)] == 2.0)  # a held span is exact
    assert Lane(tuple(times), tuple(values)).value_at(0.8) == pytest.approx(raised_cosine(times, values, 0.8))
    slope = np.max(np.abs(np.diff(ref))) * SR
    assert slope == pytest.approx(max_rate(Lane(tuple(times), tuple(values))), rel=1e-3)


def test_render_curve_short_and_long_segments_in_blocks() -> None:
    """The render's kernel (a table per long segment, the rotation per short one) against the plain
    loop, over segments from 3 to 9000 samples and across block starts; float32 gain rows are the
    float64 gain rounded once."""
    times = [0.0, 0.0001, 0.0101, 0.0111, 0.03, 0.45, 0.46]
    values = [-3.0, 4.0, -20.0, 6.0, 6.0, -1.0, 2.5]
    tt, vv = torch.tensor(times, dtype=torch.float64), torch.tensor(values, dtype=torch.float64)
    n = int(0.5 * SR)
    ref = np.array([raised_cosine(times, values, (i - 7) / SR) for i in range(n)])
    pieces = [lane_curve(tt, vv, a - 7, min(a + 3001, n) - a, SR).numpy() for a in range(0, n, 3001)]
    np.testing.assert_allclose(np.concatenate(pieces), ref, rtol=0, atol=1e-11)
    rows = lane_rows(torch.zeros(2), {1: (tt, vv)}, -7, n, SR, db=True).numpy()
    assert rows.dtype == np.float32 and np.all(rows[0] == 0.0)
    exact = lane_curve(tt, vv, -7, n, SR, db=True).numpy()
    assert np.array_equal(rows[1], exact.astype(np.float32))
    np.testing.assert_allclose(exact, 10 ** (ref / 20), rtol=1e-11)


def lane_params(names: list[str]) -> MixParams:
    p = MixParams(names, tracks={"gtr": {"pan": 0.3, "gain_db": -2.0}, "bass": {"reverb_send_db": -20.0}})
    p.dc_block = False
    p.set_lane("vox", "gain_db", Lane((0.1, 0.5, 1.0), (-12.0, 3.0, -6.0)))
    p.set_lane("vox", "pan", Lane((0.0, 0.6, 1.1), (-0.8, 0.5, 0.0)))
    p.set_lane("vox", "reverb_send_db", Lane((0.2, 0.9), (-30.0, -6.0)))
    p.set_lane("gtr", "pan", Lane((0.3, 1.0), (-1.0, 1.0)))
    p.set_lane("master", "output_gain_db", Lane((0.0, 1.15), (-3.0, 2.0)))
    return p


def test_render_matches_per_sample_reference(stems: Multitrack) -> None:
    """Faders, pans, sends and the master gain from lanes, as a plain per-sample numpy loop computes
    them (the reverb by scipy's convolution of the same impulse response): within -100 dB."""
    p = lane_params(stems.names)
    mix = Console(SR, chunk_s=0.23).render(stems, p).mix.astype(np.float64)
    n = stems.num_samples
    bus, send = np.zeros((2, n)), np.zeros((2, n))
    for name in stems.names:
        x = stems[name].audio.astype(np.float64)
        x = x if x.shape[0] == 2 else x[[0]]
        out = np.zeros((2, n))
        for i in range(n):
            t = i / SR

            def at(param: str, name: str = name, t: float = t) -> float | None:
                lane = p.lane(name, param)
                static = p.get(name, param)
                return static if lane is None else raised_cosine(list(lane.times_s), list(lane.values), t)

            g = 10 ** (at("gain_db") / 20)
            theta = (at("pan") + 1) * math.pi / 4
            if x.shape[0] == 1:
                out[:, i] = [math.cos(theta) * g * x[0, i], math.sin(theta) * g * x[0, i]]
            else:
                out[:, i] = [math.sqrt(2) * math.cos(theta) * g * x[0, i], math.sqrt(2) * math.sin(theta) * g * x[1, i]]
            s = at("reverb_send_db")
            if s is not None:
                send[:, i] += 10 ** (s / 20) * out[:, i]
        bus += out
    r = p.reverb
    ir = (
        reverb_ir(
            SR,
            rt60_low_s=r["rt60_low_s"],
            rt60_mid_s=r["rt60_mid_s"],
            rt60_high_s=r["rt60_high_s"],
            predelay_ms=r["predelay_ms"],
            seed=p.reverb_seed,
        )
        .double()
        .numpy()
    )
    bus += np.stack([scipy.signal.fftconvolve(send[c], ir[c])[:n] for c in range(2)])
    lane = p.lane("master", "output_gain_db")
    assert lane is not None
    ref = bus * np.array([10 ** (raised_cosine(list(lane.times_s), list(lane.values), i / SR) / 20) for i in range(n)])
    err_db = 10 * np.log10(np.sum((mix - ref) ** 2) / np.sum(ref**2))
    assert err_db < -100.0


def test_one_point_lane_is_bit_identical_and_neighbours_untouched(stems: Multitrack) -> None:
    static = MixParams(stems.names, tracks={"vox": {"gain_db": -4.0, "pan": 0.2, "reverb_send_db": -9.0}})
    static.set_bus("master", "limiter_ceiling_dbtp", -1.0)
    laned = static.copy()
    for name, value in (("gain_db", -4.0), ("pan", 0.2), ("reverb_send_db", -9.0)):
        laned.set_lane("vox", name, Lane((0.8,), (value,)))
    laned.set_lane("master", "output_gain_db", Lane((0.4,), (0.0,)))
    console = Console(SR, chunk_s=0.3)
    a, b = console.render(stems, static, want_stems=True), console.render(stems, laned, want_stems=True)
    assert np.array_equal(a.mix, b.mix) and laned == static
    # a moving lane on one track leaves the other tracks' stems bit for bit as they were
    moving = static.copy()
    moving.set_lane("vox", "gain_db", Lane((0.0, 1.0), (-10.0, 0.0)))
    moving.set_lane("vox", "pan", Lane((0.0, 1.0), (-0.5, 0.5)))
    c = console.render(stems, moving, want_stems=True)
    assert a.stems is not None and c.stems is not None
    assert np.array_equal(a.stems[1:], c.stems[1:]) and not np.array_equal(a.stems[0], c.stems[0])


def test_chunked_equals_one_shot_and_bus_path(stems: Multitrack) -> None:
    p = lane_params(stems.names)
    p.set_bus("master", "limiter_ceiling_dbtp", -1.0)
    p.dc_block = True
    p.set("gtr", "delay_ms", 0.4)  # the strips lag the song: the lanes must follow the song's clock
    console = Console(SR, chunk_s=0.17)
    mix = console.render(stems, p).mix
    tracks = [torch.from_numpy(stems[n].audio) for n in stems.names]
    one, _ = console.render_tensors(tracks, ConsoleSettings.from_params(p))
    np.testing.assert_allclose(mix, one.numpy(), atol=1e-6)
    assert np.array_equal(console.render_master(console.render_bus(stems, p), p), mix)


def test_lanes_gradcheck() -> None:
    n = 48
    x = torch.randn(2, 1, n, dtype=torch.float64)
    times = torch.tensor([0.0, 0.001, 0.0015], dtype=torch.float64)

    def gain(values: torch.Tensor) -> torch.Tensor:
        return x * torch.pow(10.0, lane_curve(times, values, 3, n, SR) / 20.0)

    assert torch.autograd.gradcheck(gain, (torch.tensor([-3.0, 2.0, 0.5], dtype=torch.float64, requires_grad=True),))

    names = ["a", "b"]
    base = MixParams(names)
    base.dc_block = False

    def render(gain_values: torch.Tensor, pan_values: torch.Tensor, out_values: torch.Tensor) -> torch.Tensor:
        s = ConsoleSettings.from_params(base, dtype=torch.float64)
        s.track_lanes = {"gain_db": {0: (times, gain_values)}, "pan": {1: (times, pan_values)}}
        s.master_lanes = {"output_gain_db": (times, out_values)}
        mix, _ = Console(SR).render_tensors([x[0], torch.cat([x[1], x[0]])], s)
        return mix

    args = (
        torch.tensor([-3.0, 2.0, 0.5], dtype=torch.float64, requires_grad=True),
        torch.tensor([-0.5, 0.2, 0.9], dtype=torch.float64, requires_grad=True),
        torch.tensor([1.0, -2.0, 0.0], dtype=torch.float64, requires_grad=True),
    )
    assert torch.autograd.gradcheck(render, args)


def test_lanes_round_trip_dict() -> None:
    p = lane_params(["vox", "gtr", "bass"])
    q = MixParams.from_dict(p.to_dict())
    assert q == p and q.lane("vox", "pan") == p.lane("vox", "pan")
    assert "lanes" not in MixParams(["a"]).to_dict()
    assert "Lane(vox.gain_db: 3 points)" in repr(p)


def test_recipe_version_4_lanes_and_span_annotations(tmp_path) -> None:
    from mixassist.recipe import Recipe  # lazy: the recipe layer sits above the console

    p = lane_params(["vox", "gtr", "bass"])
    data = {
        "version": 4,
        "sample_rate": SR,
        "tracks": [
            {
                "name": n,
                "file": f"{n}.wav",
                "params": p.to_dict()["tracks"][n],
                **({"lanes": p.to_dict()["lanes"][n]} if n in p.lanes else {}),
                **({"why": {"gain_db@0.1-1": "ride"}, "locked": ["pan@0-0.5"]} if n == "vox" else {}),
            }
            for n in p.track_names
        ],
        "master": {"params": p.to_dict()["master"], "lanes": p.to_dict()["lanes"]["master"]},
        "dc_block": False,
    }
    recipe = Recipe.from_dict(data, base_dir=tmp_path)
    assert recipe.params == p and recipe.locked["vox"] == ["pan@0-0.5"]
    again = Recipe.from_dict(recipe.to_dict(), base_dir=tmp_path)
    assert again.params == p and again.to_dict()["tracks"][0]["lanes"] == data["tracks"][0]["lanes"]
    with pytest.raises(MixAssistError, match="version 4"):
        Recipe.from_dict({**data, "version": 3}, base_dir=tmp_path)
    bad = {**data, "tracks": [{**data["tracks"][0], "locked": ["comp_ratio@0-1"]}, *data["tracks"][1:]]}
    with pytest.raises(MixAssistError, match="comp_ratio@0-1"):
        Recipe.from_dict(bad, base_dir=tmp_path)


def test_locked_lanes_are_kept_exactly_through_a_re_solve(stems: Multitrack) -> None:
    from mixassist.mixers.constraints import Constraints  # lazy: the mixers sit above the console
    from mixassist.mixers.rules import RulesMixer  # lazy: the mixers sit above the console

    start = MixParams(stems.names, tracks={n: {"gain_db": -6.0} for n in stems.names})
    whole = Lane((0.1, 0.4, 0.9), (-9.0, -3.0, -7.5))
    ridden = Lane((0.0, 0.35, 0.6, 0.95), (-4.0, -1.0, -8.0, -2.0))
    start.set_lane("vox", "gain_db", whole)
    start.set_lane("gtr", "gain_db", ridden)
    start.set_lane("bass", "pan", Lane((0.0, 1.0), (-0.5, 0.5)))  # not locked: the re-solve drops it
    constraints = Constraints.parse(stems.names, lock=["vox.gain_db", "gtr.gain_db@0.4-0.55"], start=start)
    params = RulesMixer(separation=False).propose(stems, constraints, start=start).params
    assert params.lane("vox", "gain_db") == whole and params.lane("bass", "pan") is None
    kept = params.lane("gtr", "gain_db")
    assert kept is not None and {0.35: -1.0, 0.6: -8.0}.items() <= dict(zip(kept.times_s, kept.values)).items()

    def on_span(lane: Lane) -> np.ndarray:
        curve = lane_curve(torch.tensor(lane.times_s), torch.tensor(lane.values), 0, stems.num_samples, SR)
        return curve.numpy()[int(0.4 * SR) : int(0.55 * SR) + 1]

    assert np.array_equal(on_span(kept), on_span(ridden))  # the span renders bit for bit as before
    assert "gain_db@0.4-0.55" in constraints.locked_names("gtr")


def test_lane_scale_on_two_threads_is_the_plain_product_bit_for_bit(monkeypatch):
    """A render's faders on a long block run their rows in two halves on two threads: the products
    of one thread bit for bit, and ``x * lane_rows(...)`` (the differentiable path) to float32 rounding."""
    from mixassist.console.dsp import envelope

    rng = np.random.default_rng(3)
    n, tracks = 70_000, 5  # 350,000 samples: over PARALLEL_ROWS_SAMPLES
    assert n * tracks >= envelope.PARALLEL_ROWS_SAMPLES
    x = torch.from_numpy(rng.standard_normal((tracks, 2, n)).astype(np.float32))
    static = torch.tensor([0.5, 1.0, 2.0, 0.25, 1.5], dtype=torch.float32)
    lanes = {i: (torch.tensor([0.0, 0.4, 1.1, 1.5], dtype=torch.float64),
                 torch.tensor([-3.0, 2.0, -6.0 + i, 0.0], dtype=torch.float64)) for i in (0, 2, 3)}
    threaded = envelope.lane_scale(x, static, lanes, 123, SR, db=True)
    expected = x * lane_rows(static, lanes, 123, n, SR, db=True)[:, None, :]
    monkeypatch.setattr(envelope, "PARALLEL_ROWS_SAMPLES", 1 << 40)
    serial = envelope.lane_scale(x, static, lanes, 123, SR, db=True)
    np.testing.assert_array_equal(threaded.numpy(), serial.numpy())
    np.testing.assert_allclose(threaded.numpy(), expected.numpy(), rtol=1e-6, atol=0)
