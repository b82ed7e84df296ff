"""The Console end to end: neutral defaults, chunked == one-shot, latency, gradients."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from mixassist.audio.multitrack import Multitrack
from mixassist.console.console import Console, ConsoleSettings
from mixassist.console.dsp.dc import dc_block_sos
from mixassist.console.params import MixParams
from mixassist.console.schema import SECTIONS
from mixassist.errors import InvalidParameterError, MixAssistError
from signals import asymmetric_bass

SR = 44100


def make_stems(rng: np.random.Generator, seconds: float = 1.0, sample_rate: int = SR) -> Multitrack:
    n = int(seconds * sample_rate)
    t = np.arange(n) / sample_rate
    kick = np.zeros(n)
    for k in range(0, n, sample_rate // 4):
        m = min(2000, n - k)
        kick[k : k + m] += 0.8 * np.sin(2 * np.pi * 60 * t[:m]) * np.exp(-t[:m] * 30)
    bass = 0.3 * np.sin(2 * np.pi * 110 * t) * (1 + 0.5 * np.sin(2 * np.pi * 2 * t))
    keys = 0.2 * rng.standard_normal((2, n)) * np.exp(-((t % 0.5) * 6))
    return Multitrack.from_arrays({"kick": kick, "bass": bass, "keys": keys}, sample_rate)


def busy_params(names: list[str]) -> MixParams:
    """Every processor switched on, with audible settings."""
    tracks = {}
    for i, name in enumerate(names):
        tracks[name] = {
            "gain_db": -3.0 - i,
            "polarity": -1.0 if i == 1 else 1.0,
            "delay_ms": 0.37 * i,
            "hpf_hz": 30.0 + 20 * i,
            "eq_low_shelf_db": 3.0,
            "eq_peak2_db": -4.0,
            "eq_peak3_q": 3.0,
            "eq_peak3_db": 2.0,
            "eq_high_shelf_db": -2.0,
            "comp_threshold_db": -20.0,
            "comp_ratio": 4.0,
            "comp_attack_ms": 5.0,
            "comp_release_ms": 80.0,
            "comp_makeup_db": 2.0,
            "pan": [-0.5, 0.0, 0.4][i % 3],
            "width": 1.4,
            "reverb_send_db": -12.0,
        }
    return MixParams(
        names,
        tracks=tracks,
        reverb={"rt60_mid_s": 0.6, "rt60_low_s": 0.8, "rt60_high_s": 0.3, "predelay_ms": 10.0, "return_db": -3.0},
        master={
            "eq_high_shelf_db": 2.0,
            "comp_threshold_db": -12.0,
            "comp_ratio": 2.0,
            "output_gain_db": 12.0,
            "limiter_ceiling_dbtp": -1.0,
        },
    )


def test_gain_only_is_scaled_and_panned_nothing_else(rng):
    """Without the DC blockers (how recipes of version 1 and 2 render)."""
    stems = make_stems(rng)
    params = MixParams(stems.names, tracks={"kick": {"gain_db": -6.0}, "keys": {"gain_db": 3.0}}, dc_block=False)
    out = Console(SR).render(stems, params, want_stems=True)
    g = lambda db: 10 ** (db / 20)  # noqa: E731
    expected = (
        np.repeat(stems["kick"].audio, 2, axis=0) * g(-6.0) * math.sqrt(0.5)
        + np.repeat(stems["bass"].audio, 2, axis=0) * math.sqrt(0.5)
        + stems["keys"].audio * g(3.0)
    )
    np.testing.assert_allclose(out.mix, expected, atol=2e-7)
    np.testing.assert_allclose(out.stems[1], np.repeat(stems["bass"].audio, 2, axis=0) * math.sqrt(0.5), atol=1e-7)


def test_default_params_leave_stereo_stem_bit_exact(rng):
    """Without the DC blockers (how recipes of version 1 and 2 render) a neutral strip is exact."""
    stems = make_stems(rng)
    keys_only = Multitrack([stems["keys"]], SR)
    out = Console(SR).render(keys_only, MixParams(["keys"], dc_block=False))
    np.testing.assert_array_equal(out.mix, stems["keys"].audio)


def _blocked(x: np.ndarray) -> np.ndarray:
    """``x`` ``(channels, samples)`` through the DC blocker's design by scipy (2nd-order
    Butterworth high-pass, 5 Hz), started settled on the first sample (``sosfilt_zi``)."""
    import scipy.signal  # lazy: only the reference needs it

    sos = scipy.signal.butter(2, 5.0, "highpass", fs=SR, output="sos")
    x = x.astype(np.float64)
    zi = scipy.signal.sosfilt_zi(sos)[:, None, :] * x[None, :, :1]
    return scipy.signal.sosfilt(sos, x, zi=zi)[0]


def test_gain_only_with_dc_blockers_equals_scipy_reference(rng):
    """New mixes: each strip's blocker, the panner and fader, then the master's blocker."""
    stems = make_stems(rng)
    params = MixParams(stems.names, tracks={"kick": {"gain_db": -6.0}, "keys": {"gain_db": 3.0}})
    assert params.dc_block
    out = Console(SR).render(stems, params)
    g = lambda db: 10 ** (db / 20)  # noqa: E731
    bus = (
        np.repeat(_blocked(stems["kick"].audio), 2, axis=0) * g(-6.0) * math.sqrt(0.5)
        + np.repeat(_blocked(stems["bass"].audio), 2, axis=0) * math.sqrt(0.5)
        + _blocked(stems["keys"].audio) * g(3.0)
    )
    np.testing.assert_allclose(out.mix, _blocked(bus), atol=3e-7)


def test_dc_offset_is_removed_from_the_mix(rng):
    """A stem with +0.5 DC (and one with -0.2) gives a mix whose mean is below -80 dBFS.

    (The mean of a finite window of any tone is of the order of ``A / (2 pi f T)`` however well
    DC is removed, hence a 1 kHz tone here: a 220 Hz one at +8 dB reads about -78 dBFS.)
    """
    n = 2 * SR
    t = np.arange(n) / SR
    stems = Multitrack.from_arrays(
        {
            "tone": 0.5 + 0.2 * np.sin(2 * np.pi * 1000 * t),
            "pad": -0.2 + 0.1 * rng.standard_normal((2, n)),
        },
        SR,
    )
    params = MixParams(stems.names, tracks={"tone": {"pan": -0.9}}, master={"output_gain_db": 8.0})
    mix = Console(SR).render(stems, params).mix
    mean_db = 20 * np.log10(np.abs(mix.astype(np.float64).mean(axis=1)))
    assert np.all(mean_db < -80), mean_db
    old = Console(SR).render(stems, MixParams(stems.names, tracks={"tone": {"pan": -0.9}}, dc_block=False)).mix
    assert np.abs(old.mean(axis=1)).max() > 0.1  # without the blockers the offset reaches the mix


def test_master_dc_stages_equal_scipy_when_the_limiter_rests(rng):
    """Placement and latency of the master's DC stages against scipy: under its ceiling the
    limiter passes its input exactly, so the mix is each strip's blocker, the sum, the master's
    blocker, then the local mean removed (two 0.1 s moving averages by ``scipy.signal.lfilter``,
    centred by the latency compensation).  float32 render against float64: 3e-7."""
    import scipy.signal  # lazy: only the reference needs it

    stems = make_stems(rng)
    params = MixParams(
        stems.names, tracks={n: {"gain_db": -12.0} for n in stems.names}, master={"limiter_ceiling_dbtp": 0.0}
    )
    out = Console(SR).render(stems, params).mix
    assert 20 * np.log10(np.abs(out).max()) < -6.0  # the limiters never act
    latency = Console(SR).plan(ConsoleSettings.from_params(params))["latency"]
    held = {n: np.concatenate([a, np.repeat(a[:, -1:], latency, axis=1)], axis=1)  # the flush tail holds
            for n, a in ((t.name, t.audio) for t in stems)}
    g = 10 ** (-12.0 / 20)
    bus = g * (
        np.repeat(_blocked(held["kick"]), 2, axis=0) * math.sqrt(0.5)
        + np.repeat(_blocked(held["bass"]), 2, axis=0) * math.sqrt(0.5)
        + _blocked(held["keys"])
    )
    master = _blocked(bus)
    n = round(0.1 * SR)
    box = np.ones(n) / n
    mean = scipy.signal.lfilter(box, 1.0, scipy.signal.lfilter(box, 1.0, master))[:, n - 1 :]
    np.testing.assert_allclose(out, master[:, : out.shape[1]] - mean[:, : out.shape[1]], atol=3e-7)


def test_limiter_dc_is_removed_within_the_ceiling():
    """+12 dB of an asymmetric bass on +0.5 DC into a -1 dBTP limiter: the limiter alone makes
    DC (about -51 dBFS here); the master's local-mean removal and second limiter take it below
    -80 dBFS (measured -108) while the true peak stays where the limiter alone puts it, within
    its 0.1 dB of the ceiling (measured -0.956 dBTP both ways)."""
    from mixassist.console.dsp.limiter import limiter
    from mixassist.measure import true_peak

    sr = 22050
    stems = Multitrack.from_arrays(asymmetric_bass(4.0, sr, offset=0.5), sr)
    params = MixParams(stems.names, master={"output_gain_db": 12.0, "limiter_ceiling_dbtp": -1.0})
    console = Console(sr)
    mix = console.render(stems, params).mix.astype(np.float64)
    mean_db = 20 * np.log10(np.abs(mix.mean(axis=1)))
    assert np.all(mean_db < -80), mean_db
    assert true_peak(mix, sr) <= -1.0 + 0.1
    # the limiter alone, on the same master input (the tail as it was before the DC stages)
    pre = console.master_pre(console.render_bus(stems, params), params)
    with torch.no_grad():
        alone, _ = limiter(
            torch.from_numpy(pre.audio).double()[None] * 10 ** (12 / 20), sr, ceiling_dbtp=-1.0, release_ms=100.0
        )
    alone = alone[0].numpy()[:, -mix.shape[1] :]
    assert np.all(20 * np.log10(np.abs(alone.mean(axis=1))) > -60)  # the DC the stages remove
    assert true_peak(mix, sr) <= true_peak(alone, sr) + 0.05


def test_render_master_refuses_a_bus_of_the_other_dc_setting(rng):
    stems = make_stems(rng, seconds=0.3)
    params = busy_params(stems.names)
    bus = Console(SR).render_bus(stems, params)
    off = params.copy()
    off.dc_block = False
    with pytest.raises(InvalidParameterError, match="dc_block"):
        Console(SR).render_master(bus, off)


@pytest.mark.parametrize("chunk_s", [0.05, 0.3117, 10.0])
def test_chunked_render_equals_one_shot(rng, chunk_s):
    stems = make_stems(rng)
    params = busy_params(stems.names)
    console = Console(SR, chunk_s=chunk_s)
    chunked = console.render(stems, params, want_stems=True)
    settings = ConsoleSettings.from_params(params)
    whole, whole_stems = console.render_tensors([torch.from_numpy(t.audio) for t in stems], settings, want_stems=True)
    ref = whole.numpy()
    err_db = 20 * np.log10(np.sqrt(np.mean((chunked.mix - ref) ** 2)) / np.sqrt(np.mean(ref**2)) + 1e-30)
    assert err_db < -80, err_db
    np.testing.assert_allclose(chunked.stems, whole_stems.numpy(), atol=1e-5)
    assert np.isfinite(chunked.mix).all() and np.abs(chunked.mix).max() > 0.01


def test_latency_is_compensated(rng):
    n = SR // 2
    click = np.zeros(n, np.float32)
    click[1000] = 0.5
    stems = Multitrack.from_arrays({"click": click}, SR)
    params = MixParams(["click"], tracks={"click": {"delay_ms": 1000 / SR * 10}}, master={"limiter_ceiling_dbtp": -0.1})
    out = Console(SR, chunk_s=0.1).render(stems, params)
    peak = int(np.argmax(np.abs(out.mix[0])))
    assert peak == 1010  # the requested 10-sample delay, nothing more
    b0 = float(dc_block_sos(SR)[0, 0, 0])  # the strip's and the master's DC blockers pass b0 of a click
    assert out.mix[0, peak] == pytest.approx(0.5 * math.sqrt(0.5) * b0**2, rel=1e-4)


def test_processed_stems_sum_to_the_dry_mix(rng):
    stems = make_stems(rng)
    params = busy_params(stems.names)
    for name in stems.names:
        params.set(name, "reverb_send_db", None)
    params = MixParams.from_dict({**params.to_dict(), "master": {}})
    out = Console(SR).render(stems, params, want_stems=True)
    # The stems are taken before the master, whose only processing left is its DC blocker.
    np.testing.assert_allclose(_blocked(out.stems.sum(axis=0)), out.mix, atol=1e-5)
    params.dc_block = False
    out = Console(SR).render(stems, params, want_stems=True)
    np.testing.assert_allclose(out.stems.sum(axis=0), out.mix, atol=1e-5)


def test_render_checks_rate_and_tracks(rng):
    stems = make_stems(rng)
    with pytest.raises(InvalidParameterError, match="48000 Hz"):
        Console(48000).render(stems, MixParams(stems.names))
    with pytest.raises(InvalidParameterError, match="no stems for tracks"):
        Console(SR).render(stems, MixParams(["vox"]))


def _settings_at(names: list[str], level: float, requires_grad: bool = True) -> tuple[ConsoleSettings, list[torch.Tensor]]:
    """Every parameter at normalised ``level`` (optional ones switched on), as leaf tensors."""
    leaves = []

    def section(params, shape):
        out = {}
        for p in params:
            if p.choices is not None:
                out[p.name] = torch.full(shape, p.choices[-1], dtype=torch.float64)
                continue
            v = torch.full(shape, float(p.from_normalised(level)), dtype=torch.float64, requires_grad=requires_grad)
            leaves.append(v)
            out[p.name] = v
        return out

    s = ConsoleSettings(
        track=section(SECTIONS["track"], (len(names),)),
        reverb=section(SECTIONS["reverb"], ()),
        master=section(SECTIONS["master"], ()),
    )
    return s, leaves


@pytest.mark.parametrize("level", [0.0, 0.5, 1.0])
@pytest.mark.parametrize("signal", ["silence", "noise"])
def test_gradients_finite_at_parameter_extremes(rng, level, signal):
    n = 2048
    tracks = [
        torch.from_numpy(rng.uniform(-1, 1, (1, n))) if signal == "noise" else torch.zeros(1, n, dtype=torch.float64),
        torch.from_numpy(rng.uniform(-1, 1, (2, n))) if signal == "noise" else torch.zeros(2, n, dtype=torch.float64),
    ]
    settings, leaves = _settings_at(["a", "b"], level)
    # Keep the reverb short so the test stays fast.
    settings.reverb["rt60_low_s"] = settings.reverb["rt60_mid_s"] = settings.reverb["rt60_high_s"] = torch.tensor(
        0.2, dtype=torch.float64, requires_grad=True
    )
    mix, _ = Console(SR).render_tensors(tracks, settings)
    assert torch.isfinite(mix).all()
    loss = mix.pow(2).mean() + mix.abs().mean()
    loss.backward()
    for leaf in leaves:
        assert leaf.grad is None or torch.isfinite(leaf.grad).all()


def test_limiter_holds_true_peak_on_real_music():
    """The demo stems pushed +12 dB into a -1 dBTP ceiling: true peak ≤ ceiling + 0.1 dB."""
    from pathlib import Path

    from mixassist.audio.multitrack import load_multitrack
    from mixassist.measure import true_peak

    stems = load_multitrack(Path(__file__).resolve().parents[1] / "examples" / "demo" / "stems")
    params = MixParams(
        stems.names,
        tracks={n: {"gain_db": 6.0} for n in stems.names},
        master={"output_gain_db": 6.0, "limiter_ceiling_dbtp": -1.0, "limiter_release_ms": 50.0},
    )
    out = Console(stems.sample_rate).render(stems, params)
    unlimited = Console(stems.sample_rate).render(stems, MixParams.from_dict({**params.to_dict(), "master": {"output_gain_db": 6.0}}))
    assert true_peak(unlimited.mix, stems.sample_rate) > 6.0  # the limiter really had work to do
    assert true_peak(out.mix, stems.sample_rate) <= -1.0 + 0.1


@pytest.mark.parametrize("chunk_s", [0.05, 0.3117, 10.0])
@pytest.mark.parametrize("limiter", [True, False])
def test_master_on_the_rendered_bus_is_bit_identical_to_a_full_render(rng, chunk_s, limiter):
    stems = make_stems(rng, seconds=0.83)  # the song ends inside a block
    params = busy_params(stems.names)
    if not limiter:
        params.set_bus("master", "limiter_ceiling_dbtp", None)
    console = Console(SR, chunk_s=chunk_s)
    full = console.render(stems, params).mix
    bus = console.render_bus(stems, params)
    assert bus.audio.shape == (2, stems.num_samples + bus.latency) and bus.limiter is limiter
    np.testing.assert_array_equal(console.render_master(bus, params), full)
    pre = console.master_pre(bus, params)
    assert pre.stage == "pre" and pre.audio.shape == bus.audio.shape
    np.testing.assert_array_equal(console.render_master(pre, params, stage="tail"), full)
    # other master settings on the same bus: still the full render of those settings
    other = params.copy()
    other.set_bus("master", "output_gain_db", 3.5)
    other.set_bus("master", "eq_peak2_db", -2.0)
    np.testing.assert_array_equal(console.render_master(bus, other), console.render(stems, other).mix)


def test_render_master_refuses_a_bus_that_does_not_fit(rng):
    stems = make_stems(rng, seconds=0.5)
    params = busy_params(stems.names)
    console = Console(SR, chunk_s=0.1)
    bus = console.render_bus(stems, params)
    off = params.copy()
    off.set_bus("master", "limiter_ceiling_dbtp", None)
    with pytest.raises(InvalidParameterError, match="limiter"):
        console.render_master(bus, off)
    with pytest.raises(InvalidParameterError, match="blocks"):
        Console(SR, chunk_s=0.2).render_master(bus, params)
    with pytest.raises(InvalidParameterError, match="'pre' bus"):
        console.render_master(bus, params, stage="tail")
    with pytest.raises(InvalidParameterError, match="'bus' bus"):
        console.master_pre(console.master_pre(bus, params), params)
    with pytest.raises(InvalidParameterError, match="stage"):
        console.render_master(bus, params, stage="pre")


def test_recipe_versions_switch_the_dc_blockers(rng, tmp_path):
    """Version 1-2 recipes render as they always did (no DC blockers, bit for bit); version 3
    records ``dc_block`` and new mixes have it on."""
    from mixassist.recipe import RECIPE_VERSION, Recipe  # lazy: the recipe layer sits above the console

    stems = make_stems(rng)
    old = {
        "version": 2,
        "sample_rate": SR,
        "tracks": [{"name": n, "file": f"{n}.wav", "params": {"gain_db": -3.0}} for n in stems.names],
    }
    recipe = Recipe.from_dict(old, base_dir=tmp_path)
    assert recipe.params.dc_block is False
    plain = MixParams(stems.names, tracks={n: {"gain_db": -3.0} for n in stems.names}, dc_block=False)
    np.testing.assert_array_equal(Console(SR).render(stems, recipe.params).mix, Console(SR).render(stems, plain).mix)
    assert RECIPE_VERSION == 5  # issue 24: version 4 adds automation lanes; issue 19: 5 the low-pass, drive, width
    saved = recipe.to_dict()
    assert saved["version"] == 5 and saved["dc_block"] is False  # re-saved, it keeps rendering the same
    assert Recipe.from_dict(saved, base_dir=tmp_path).params.dc_block is False
    new = Recipe.from_dict({**old, "version": 3}, base_dir=tmp_path)
    assert new.params.dc_block is True
    assert new.to_dict()["dc_block"] is True
    with pytest.raises(MixAssistError, match="dc_block"):
        Recipe.from_dict({**old, "version": 3, "dc_block": "yes"}, base_dir=tmp_path)
    with pytest.raises(MixAssistError, match="version 3"):
        Recipe.from_dict({**old, "dc_block": True}, base_dir=tmp_path)
    assert MixParams(["a"]).dc_block and MixParams(["a"]).copy().dc_block
    assert not MixParams(["a"], dc_block=False).copy().dc_block
