"""One contract, every processor: the promises the Console relies on.

Each entry wraps a processor as ``run(x, state) -> (y, state)`` on ``(tracks, channels, samples)``
with per-track settings drawn for ``tracks``.  The contract: shape kept (stereo out for the
panner), dtype kept, batch-consistent (tracks together == each alone), silence in → silence
out, zero-length in → zero-length out, finite on full-scale noise, and chunked == whole.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
import torch

from mixassist.console.dsp.biquad import cascade_sections, highpass_sos, lowpass_sos, peaking_sos
from mixassist.console.dsp.cascade import biquad_cascade
from mixassist.console.dsp.compressor import compressor
from mixassist.console.dsp.dc import dc_block
from mixassist.console.dsp.limiter import limiter
from mixassist.console.dsp.midside import mid_side_width
from mixassist.console.dsp.reverb import fft_convolve, reverb_ir
from mixassist.console.dsp.saturation import saturate
from mixassist.console.dsp.spatial import fractional_delay, gain_polarity, pan_width

SR = 44100
Run = Callable[[torch.Tensor, object], tuple[torch.Tensor, object]]


def _per_track(values: list[float], tracks: int) -> torch.Tensor:
    return torch.tensor([values[i % len(values)] for i in range(tracks)], dtype=torch.float64)


def make(name: str, tracks: int) -> Run:
    if name == "gain_polarity":
        return lambda x, s: (gain_polarity(x, _per_track([-6.0, 3.0], tracks), _per_track([1.0, -1.0], tracks)), s)
    if name == "fractional_delay":
        return lambda x, s: fractional_delay(x, _per_track([0.0, 2.5, 7.25], tracks), s)
    if name == "dc_block":
        return lambda x, s: dc_block(x, SR, state=s)
    if name == "eq":
        sos = cascade_sections(
            highpass_sos(_per_track([40.0, 90.0], tracks), SR),
            peaking_sos(_per_track([500.0, 3000.0], tracks), _per_track([6.0, -4.0], tracks), _per_track([1.0, 4.0], tracks), SR),
        )
        return lambda x, s: biquad_cascade(x, sos, s)
    if name == "compressor":
        return lambda x, s: compressor(
            x, SR, threshold_db=_per_track([-20.0, -30.0], tracks), ratio=_per_track([4.0, 8.0], tracks),
            knee_db=_per_track([6.0, 0.0], tracks), attack_ms=_per_track([5.0, 1.0], tracks),
            release_ms=_per_track([100.0, 50.0], tracks), makeup_db=_per_track([2.0, 0.0], tracks), state=s,
        )
    if name == "limiter":
        return lambda x, s: limiter(x, SR, ceiling_dbtp=_per_track([-1.0, -3.0], tracks), release_ms=_per_track([50.0, 200.0], tracks), state=s)
    if name == "pan_width":
        return lambda x, s: (pan_width(x, _per_track([-0.3, 0.6], tracks), _per_track([1.5, 0.5], tracks)), s)
    if name == "reverb":
        ir = reverb_ir(SR, rt60_low_s=0.3, rt60_mid_s=0.2, rt60_high_s=0.1, predelay_ms=5.0, seed=1).double()
        return lambda x, s: fft_convolve(x, (ir[: x.shape[1]] if x.shape[1] == 1 else ir).to(x.dtype), s)
    if name == "lowpass":  # issue 19
        sos = lowpass_sos(_per_track([800.0, 12000.0], tracks), SR)
        return lambda x, s: biquad_cascade(x, sos, s)
    if name == "saturation":
        return lambda x, s: (saturate(x, _per_track([6.0, 18.0, 0.0], tracks)), s)
    if name == "mid_side":  # a stereo bus stage: a mono input is taken as dual mono
        return lambda x, s: mid_side_width(
            x.expand(-1, 2, -1).contiguous(), SR, side_gain_db=_per_track([-6.0, 3.0], tracks),
            side_hpf_hz=_per_track([100.0, 300.0], tracks), state=s,
        )
    raise KeyError(name)


PROCESSORS = ["gain_polarity", "fractional_delay", "dc_block", "eq", "compressor", "limiter", "pan_width", "reverb",
              "lowpass", "saturation", "mid_side"]
# The limiter and reverb delay their output (look-ahead / pre-delay): compare after the fact.
STATELESS = {"gain_polarity", "pan_width", "saturation"}


def signal(rng: np.random.Generator, tracks: int, channels: int, n: int, level: float = 0.5) -> torch.Tensor:
    return torch.from_numpy(level * rng.uniform(-1, 1, (tracks, channels, n)))


def out_channels(name: str, channels: int) -> int:
    return 2 if name in ("pan_width", "mid_side") else channels


@pytest.mark.parametrize("channels", [1, 2])
@pytest.mark.parametrize("name", PROCESSORS)
def test_shape_dtype_and_finiteness(rng, name, channels):
    for dtype in (torch.float32, torch.float64):
        x = signal(rng, 3, channels, 3000, level=1.0).to(dtype)
        y, _ = make(name, 3)(x, None)
        assert y.shape == (3, out_channels(name, channels), 3000)
        assert y.dtype == dtype
        assert torch.isfinite(y).all()


@pytest.mark.parametrize("channels", [1, 2])
@pytest.mark.parametrize("name", PROCESSORS)
def test_batch_consistent(rng, name, channels):
    x = signal(rng, 3, channels, 2000)
    together, _ = make(name, 3)(x, None)
    for t in range(3):
        # No cross-talk: track t with the other tracks silenced comes out exactly the same.
        alone, _ = make(name, 3)(x * (torch.arange(3) == t).double()[:, None, None], None)
        torch.testing.assert_close(alone[t], together[t], rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("name", PROCESSORS)
def test_silence_in_silence_out(name):
    x = torch.zeros(2, 2, 4000, dtype=torch.float64)
    y, _ = make(name, 2)(x, None)
    assert torch.count_nonzero(y) == 0


@pytest.mark.parametrize("name", PROCESSORS)
def test_zero_length(name):
    x = torch.zeros(2, 2, 0, dtype=torch.float64)
    y, _ = make(name, 2)(x, None)
    assert y.shape[-1] == 0


@pytest.mark.parametrize("name", sorted(set(PROCESSORS) - STATELESS))
def test_chunked_equals_whole(rng, name):
    x = signal(rng, 2, 2, 6000)
    run = make(name, 2)
    whole, _ = run(x, None)
    pieces, state, start = [], None, 0
    for size in (1, 7, 500, 1999, 3493):
        y, state = run(x[..., start : start + size], state)
        pieces.append(y)
        start += size
    torch.testing.assert_close(torch.cat(pieces, dim=-1), whole, rtol=1e-9, atol=1e-11)
