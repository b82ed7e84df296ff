"""EQ-gain lanes: the console's time-varying EQ against a plain per-sample reference, its
gradients, the one-point lane, and tracks without a lane untouched."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from mixassist.audio.multitrack import Multitrack
from mixassist.console.console import Console, ConsoleSettings
from mixassist.console.dsp.moving_eq import EQ_UPDATE, eq_grid, moving_cascade
from mixassist.console.lanes import Lane
from mixassist.console.params import MixParams
from mixassist.console.settings import automated_eq
from signals import raised_cosine

SR = 22050
#: (band, Hz, Q) of the bands the tests move, in the console's cascade order.
BANDS = {"low_shelf": (100.0, 0.707), "peak2": (800.0, 1.4), "peak4": (5000.0, 1.0), "high_shelf": (8000.0, 0.707)}


def cookbook(band: str, gain_db: float) -> tuple[list[float], list[float]]:
    """RBJ Audio-EQ-Cookbook peaking / shelf ``(b, a)`` (a0 = 1), written out in plain Python."""
    hz, q = BANDS[band]
    amp = 10 ** (gain_db / 40)
    w0 = 2 * math.pi * hz / SR
    cw, alpha = math.cos(w0), math.sin(w0) / (2 * q)
    if band.startswith("peak"):
        b = [1 + alpha * amp, -2 * cw, 1 - alpha * amp]
        a = [1 + alpha / amp, -2 * cw, 1 - alpha / amp]
    else:
        s = 1.0 if band == "high_shelf" else -1.0
        k = 2 * math.sqrt(amp) * alpha
        b = [
            amp * ((amp + 1) + s * (amp - 1) * cw + k),
            -2 * s * amp * ((amp - 1) + s * (amp + 1) * cw),
            amp * ((amp + 1) + s * (amp - 1) * cw - k),
        ]
        a = [
            (amp + 1) - s * (amp - 1) * cw + k,
            2 * s * ((amp - 1) - s * (amp + 1) * cw),
            (amp + 1) - s * (amp - 1) * cw - k,
        ]
    return [v / a[0] for v in b], [1.0, a[1] / a[0], a[2] / a[0]]


def reference_eq(x: np.ndarray, gains: dict[str, object], start: int = 0) -> np.ndarray:
    """Each sample through the bands in order, transposed direct form II, the coefficients
    designed again at every ``EQ_UPDATE``-sample grid point from the lane read there.
    ``gains``: a band's static dB or its lane ``(times, values)``."""
    states = {band: [0.0, 0.0] for band in gains}
    coef: dict[str, tuple[list[float], list[float]]] = {}
    out = np.empty(len(x))
    for i, v in enumerate(x.astype(np.float64)):
        if i == 0 or (start + i) % EQ_UPDATE == 0:
            t = (start + i) // EQ_UPDATE * EQ_UPDATE / SR
            for band, g in gains.items():
                coef[band] = cookbook(band, raised_cosine(*g, t) if isinstance(g, tuple) else float(g))
        for band in gains:
            (b0, b1, b2), (_, a1, a2) = coef[band]
            s = states[band]
            y = b0 * v + s[0]
            s[0], s[1] = b1 * v - a1 * y + s[1], b2 * v - a2 * y
            v = y
        out[i] = v
    return out


@pytest.fixture(scope="module")
def stems() -> Multitrack:
    rng = np.random.default_rng(24)
    n = int(0.6 * SR)
    return Multitrack.from_arrays({"vox": 0.3 * rng.standard_normal(n), "gtr": 0.2 * rng.standard_normal((2, n))}, SR)


def neutral(names: list[str]) -> MixParams:
    p = MixParams(names, tracks={n: {f"eq_{b}_hz": hz for b, (hz, _) in BANDS.items()} for n in names})
    for n in names:
        for b, (_, q) in BANDS.items():
            p.set(n, f"eq_{b}_q", q)
            p.set_bus("master", f"eq_{b}_hz", BANDS[b][0])
            p.set_bus("master", f"eq_{b}_q", q)
    p.dc_block = False
    return p


VOX = ((0.05, 0.2, 0.45), (0.0, -12.0, 9.0))  # eq_peak2_db, moving across several chunks
SHELF = ((0.1, 0.3), (3.0, -6.0))  # eq_high_shelf_db


def test_render_matches_per_sample_reference_and_neighbours_untouched(stems: Multitrack) -> None:
    p = neutral(stems.names)
    p.set("vox", "eq_low_shelf_db", 4.0)
    p.set("vox", "eq_peak4_db", -3.0)  # a static band after a moving one in the cascade
    p.set("gtr", "eq_peak2_db", -5.0)
    q = p.copy()
    q.set_lane("vox", "eq_peak2_db", Lane(*VOX))
    q.set_lane("vox", "eq_high_shelf_db", Lane(*SHELF))
    console = Console(SR, chunk_s=0.0517)  # 1140 samples: the chunks cut the 64-sample grid
    flat = console.render(stems, p, want_stems=True)
    moving = console.render(stems, q, want_stems=True)
    # The guitar has no lane: bit for bit as without the vocal's lanes.
    assert np.array_equal(flat.stems[1], moving.stems[1])
    # The vocal (mono, centred: the same pan gain on both sides as the static render).
    x = stems["vox"].audio[0]
    static = {"low_shelf": 4.0, "peak4": -3.0}
    pan_gain = float(flat.stems[0, 0, 100] / reference_eq(x, static)[100])
    # The static bands first, then the automated ones in cascade order (docs/console-dsp.md).
    want = pan_gain * reference_eq(x, {**static, "peak2": VOX, "high_shelf": SHELF})
    err = moving.stems[0, 0].astype(np.float64) - want
    assert 20 * np.log10(np.sqrt(np.mean(err**2)) / np.sqrt(np.mean(want**2))) < -100
    assert np.abs(err).max() < 1e-5 * np.abs(want).max()
    # The lane moves the sound: far from the static render while it moves.
    assert np.abs(moving.stems[0, 0] - flat.stems[0, 0]).max() > 0.05


def test_master_eq_lane_matches_reference(stems: Multitrack) -> None:
    p = neutral(stems.names)
    q = p.copy()
    q.set_lane("master", "eq_high_shelf_db", Lane(*SHELF))
    console = Console(SR, chunk_s=0.0517)
    flat, moving = console.render(stems, p).mix, console.render(stems, q).mix
    want = reference_eq(flat[1], {"high_shelf": SHELF})
    err = moving[1].astype(np.float64) - want
    assert 20 * np.log10(np.sqrt(np.mean(err**2)) / np.sqrt(np.mean(want**2))) < -100
    # The bus path (render_bus + render_master) carries the master's lanes too, bit for bit.
    assert np.array_equal(console.render_master(console.render_bus(stems, q), q), moving)


def test_grid_and_gradient_path_agree_with_the_render() -> None:
    j0, bounds = eq_grid(-70, 200)  # the strips' clock starts before the song under a delay
    assert j0 == -2 and bounds.tolist() == [0, 6, 70, 134, 198, 200]
    rng = np.random.default_rng(3)
    x = torch.from_numpy(rng.standard_normal((2, 2, 300)))
    gains = [cookbook("peak2", g) for g in (-6.0, 3.0, 9.0)]
    moving = torch.tensor([[[[*b, *a]] for b, a in gains]] * 2, dtype=torch.float64)  # (2, 3, 1, 6)
    unit = ([1.0, 0.0, 0.0], [1.0, 0.0, 0.0])
    shelf = torch.tensor([[[*b, *a] for b, a in (cookbook("low_shelf", 4.0), unit, unit)]] * 2, dtype=torch.float64)
    bounds = np.array([0, 50, 180, 300])
    plain, s_plain = moving_cascade(x, shelf, moving, [1], bounds)
    y, s = moving_cascade(x.clone().requires_grad_(True), shelf, moving.clone().requires_grad_(True), [1], bounds)
    assert torch.equal(y.detach(), plain) and torch.equal(s, s_plain)
    # Two calls, state carried, equal one call.
    a, sa = moving_cascade(x[..., :180], shelf, moving[:, :2], [1], bounds[:3])
    b, _ = moving_cascade(x[..., 180:], shelf, moving[:, 2:], [1], bounds[2:] - 180, sa)
    assert torch.equal(torch.cat([a, b], dim=-1), plain)
    # The section the moving one replaces is not used.
    other = shelf.clone()
    other[:, 1] = torch.tensor([2.0, 0.1, 0.3, 1.0, -0.5, 0.2])
    assert torch.equal(moving_cascade(x, other, moving, [1], bounds)[0], plain)


def test_render_and_gradient_paths_of_the_eq_lanes_give_the_same_numbers() -> None:
    """automated_eq without gradients (each laned track designed and put in residual form on its
    own, two tracks at a time in the kernel and an odd one alone) equals the differentiable path
    bit for bit: two bands, lanes on three tracks, two blocks."""
    rng = np.random.default_rng(7)
    x = torch.from_numpy(rng.standard_normal((3, 2, 900)) * 0.3)
    settings = ConsoleSettings.from_params(neutral(["a", "b", "c"]), dtype=torch.float64)
    settings.track["eq_low_shelf_db"] = torch.tensor([2.0, -3.0, 1.0], dtype=torch.float64)
    times = torch.tensor(VOX[0], dtype=torch.float64) * 0.05

    def run(grad: bool) -> tuple[torch.Tensor, torch.Tensor]:
        values = [torch.tensor(v, dtype=torch.float64, requires_grad=grad) for v in (VOX[1], (4.0, -8.0, 2.0))]
        lanes = {
            "eq_peak2_db": {0: (times, values[0]), 2: (times, values[1])},
            "eq_high_shelf_db": {1: (times, values[1]), 2: (times, values[0])},
        }
        with torch.set_grad_enabled(grad):
            a, state = automated_eq(x[..., :500], settings.track, SR, lanes, -30, None, hpf=False)
            b, state = automated_eq(x[..., 500:], settings.track, SR, lanes, 470, state, hpf=False)
        return torch.cat([a, b], dim=-1).detach(), state

    (y, state), (y_grad, state_grad) = run(False), run(True)
    assert torch.equal(y, y_grad) and torch.equal(state, state_grad)
    with torch.no_grad():
        static, _ = automated_eq(x, settings.track, SR, {}, -30, None, hpf=False)
    assert all(not torch.equal(y[i], static[i]) for i in range(3))  # every track's lanes moved its EQ


def test_gradcheck_through_the_eq_lane() -> None:
    rng = np.random.default_rng(5)
    x = torch.from_numpy(rng.standard_normal((1, 2, 40)))
    moving = torch.tensor(
        [[[[*b, *a] for b, a in (cookbook("peak2", g), cookbook("high_shelf", -g))] for g in (-4.0, 2.0, 6.0)]],
        dtype=torch.float64,
        requires_grad=True,
    )
    fixed = torch.tensor(
        [[[*b, *a] for b, a in [cookbook("low_shelf", 3.0)] * 3]], dtype=torch.float64, requires_grad=True
    )
    bounds = np.array([0, 7, 25, 40])
    state = torch.from_numpy(rng.standard_normal((1, 2, 3, 2)) * 0.1)
    assert torch.autograd.gradcheck(
        lambda xx, ff, mm: moving_cascade(xx, ff, mm, [0, 2], bounds, state)[0],
        (x.requires_grad_(True), fixed, moving),
    )
    # Through the console: the lane's values get their gradients through the coefficient designs.
    n = 160
    sig = torch.from_numpy(rng.standard_normal((1, n)) * 0.3)
    base = neutral(["a"])
    times = torch.tensor([0.0, 0.002, 0.006], dtype=torch.float64)

    def render(track_values: torch.Tensor, master_values: torch.Tensor) -> torch.Tensor:
        s = ConsoleSettings.from_params(base, dtype=torch.float64)
        s.track_lanes = {"eq_peak2_db": {0: (times, track_values)}}
        s.master_lanes = {"eq_low_shelf_db": (times, master_values)}
        mix, _ = Console(SR).render_tensors([sig], s)
        return (mix * weights).sum(dim=-1)  # two outputs: two backward passes per check

    weights = torch.from_numpy(rng.standard_normal(n))

    args = (
        torch.tensor([-3.0, 6.0, 1.0], dtype=torch.float64, requires_grad=True),
        torch.tensor([2.0, -4.0, 0.5], dtype=torch.float64, requires_grad=True),
    )
    assert torch.autograd.gradcheck(render, args)


def test_one_point_eq_lane_is_the_static_setting(stems: Multitrack) -> None:
    p = neutral(stems.names)
    p.set("vox", "eq_peak2_db", -3.5)
    q = neutral(stems.names)
    q.set_lane("vox", "eq_peak2_db", Lane((1.0,), (-3.5,)))
    q.set_lane("master", "eq_high_shelf_db", Lane((0.0,), (0.0,)))
    assert q.lane("vox", "eq_peak2_db") is None and q == p
    console = Console(SR)
    assert np.array_equal(console.render(stems, p).mix, console.render(stems, q).mix)
    # The lane is a setting like the others: validated, stored, and round-tripped.
    r = neutral(stems.names)
    r.set_lane("gtr", "eq_low_shelf_db", Lane((0.0, 0.5), (0.0, 6.0)))
    assert MixParams.from_dict(r.to_dict()) == r
    with pytest.raises(ValueError, match="outside the allowed range"):
        r.set_lane("gtr", "eq_peak1_db", Lane((0.0, 0.5), (0.0, 30.0)))
    with pytest.raises(ValueError, match="cannot be automated"):
        r.set_lane("gtr", "eq_peak1_hz", Lane((0.0, 0.5), (200.0, 300.0)))


def test_report_plots_show_send_and_eq_lanes() -> None:
    """The report's automation plot has one panel per lane, EQ-gain and send lanes included,
    and its lane lines name them (issue 24: lanes in the report)."""
    pytest.importorskip("matplotlib")
    from mixassist.report import lane_plot_png, lane_rows  # lazy: the report layer sits above the console

    lanes = {
        "gain_db": {"times_s": [0.0, 1.0, 2.5], "values": [-3.0, -6.0, -2.0]},
        "reverb_send_db": {"times_s": [0.5, 2.0], "values": [-18.0, -9.0]},
        "eq_peak2_db": {"times_s": list(VOX[0]), "values": list(VOX[1])},
    }
    sections = [{"start_s": 0.0, "stop_s": 1.5, "label": "verse"}, {"start_s": 1.5, "stop_s": 3.0, "label": "chorus"}]
    png = lane_plot_png("vox", lanes, sections)
    assert png is not None and png.startswith(b"\x89PNG")
    height = int.from_bytes(png[20:24], "big")  # the IHDR chunk: 80 dpi, 1.2 in + 1.5 in per panel
    assert height == round(80 * (1.2 + 1.5 * 3))
    recipe = {
        "tracks": [{"name": "vox", "params": {"eq_peak2_db": 0.0}, "lanes": lanes}],
        "master": {"params": {}, "lanes": {"eq_high_shelf_db": {"times_s": [0.1, 0.3], "values": [3.0, -6.0]}}},
    }
    rows = dict.fromkeys(text.split(":")[0] for _, text in lane_rows(recipe))
    assert list(rows) == ["gain_db", "reverb_send_db", "eq_peak2_db", "eq_high_shelf_db"]
