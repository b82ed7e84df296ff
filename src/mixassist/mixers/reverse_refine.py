"""The refinement of reverse mixing: the loss, the fitted settings as tensors, Adam and the confidence probe.

Adam on the normalised settings (:meth:`~mixassist.console.schema.Param.to_normalised`) of the
fitted track (and master) settings, rendering through :meth:`Console.render_tensors` and scored
by a multi-resolution STFT loss; the confidence of each setting is the loss's rise when it alone
is moved (see :func:`mixassist.mixers.reverse.reverse_mix`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, cast

import torch

from mixassist.audio.multitrack import Multitrack
from mixassist.console.console import ConsoleSettings
from mixassist.console.dsp.saturation import drive_curve_k
from mixassist.console.params import MixParams
from mixassist.console.schema import EQ_BANDS, params_for
from mixassist.mixers.constraints import Constraints

__all__ = [
    "CONFIDENCE_SCALE",
    "CONFIDENCE_STEP",
    "EQ_GAINS",
    "FIT_MASTER",
    "FIT_REACH",
    "FIT_TRACK",
    "REACH_NEUTRAL",
    "REACH_PRIOR",
    "REACH_START",
    "LOSS_FFT_SIZES",
    "STEP",
    "Fit",
    "adam_step",
    "free_mask",
    "level_term",
    "mrstft_loss",
    "probe",
    "reach_reason",
]

#: The console's six EQ band gains.
EQ_GAINS = tuple(f"eq_{band}_db" for band, *_ in EQ_BANDS)
#: Track settings reverse fits (everything else stays as it starts: neutral, or locked).
FIT_TRACK = ("gain_db", "pan", "width", *EQ_GAINS)
#: Master settings fitted with ``fit_master=True``.
FIT_MASTER = (*EQ_GAINS, "output_gain_db")
#: Master settings fitted with ``reach=True`` (the default): what no track setting can stand in
#: for -- a low-pass, the mid/side width and its side high-pass, saturation (issue 19).
FIT_REACH = ("lpf_hz", "side_gain_db", "side_hpf_hz", "drive_db")
#: Where an optional reach setting starts the fit (its "nearly off" end), in physical units; the
#: low-pass starts at most at 0.45 × the sample rate (the filter design clamps corners above
#: 0.4999 × the rate, where the corner would have no gradient).
REACH_START = {"lpf_hz": 20000.0, "side_hpf_hz": 20.0}
#: Prior weight (loss per normalised unit²) on the reach settings' distance from their start.
REACH_PRIOR = 0.01
#: Below these moves from neutral, a fitted reach setting is put back exactly to neutral (the
#: optional ones switched off): in normalised units for the filters, dB for the rest.
REACH_NEUTRAL = {"lpf_hz": 0.03, "side_hpf_hz": 0.05, "side_gain_db": 0.25, "drive_db": 0.25}
#: Loss FFT sizes (samples at 44.1 kHz; scaled with the sample rate).
LOSS_FFT_SIZES = (512, 1024, 2048)
#: Step, in normalised units, of the curvature probe behind the confidence.
CONFIDENCE_STEP = 0.05
#: Loss rise at which confidence is one half (see :func:`reverse_mix`).
CONFIDENCE_SCALE = 0.01

#: Adam step sizes, in physical units per step (converted to normalised units per setting).
STEP = {"gain_db": 0.1, "pan": 0.005, "width": 0.01, "eq": 0.15, "output_gain_db": 0.05, "side_gain_db": 1.5}
#: Adam step sizes given directly in normalised units (log-scaled corners; the drive, whose
#: effect grows with the square of its gain, moves 0.25 dB).
STEP_NORMALISED = {"lpf_hz": 0.06, "side_hpf_hz": 0.04, "drive_db": 0.5 / 24.0}


def mrstft_loss(y: torch.Tensor, target: torch.Tensor, sample_rate: int) -> torch.Tensor:
    """Differentiable multi-resolution STFT loss.

    For FFT sizes 512/1024/2048 (at 44.1 kHz; scaled with ``sample_rate``), hop 1/4, Hann
    window: spectral convergence ``||Y - T||_F / ||T||_F`` plus mean absolute log-magnitude
    difference, magnitudes floored at 1e-4 (as auraloss and
    :func:`mixassist.evaluate.metrics.mrstft_distance`), averaged over resolutions.

    Parameters
    ----------
    y, target : torch.Tensor
        ``(..., samples)``, the same shape; leading dimensions are averaged over.
    sample_rate : int
        Hz.

    Returns
    -------
    torch.Tensor
        0-d, dimensionless; 0 for identical inputs.
    """
    scale = sample_rate / 44100.0
    y2 = y.reshape(-1, y.shape[-1])
    t2 = target.reshape(-1, target.shape[-1])
    total = y.new_zeros(())
    sizes = [max(64, 1 << int(round(math.log2(n * scale)))) for n in LOSS_FFT_SIZES]
    for n_fft in sizes:
        window = torch.hann_window(n_fft, dtype=y.dtype)
        # the FFT size and window bound now, not looked up when called (ruff B023)
        spec = lambda x, n_fft=n_fft, window=window: torch.stft(  # noqa: E731
            x, n_fft, n_fft // 4, window=window, center=True, return_complex=True
        )
        sy = torch.sqrt(torch.clamp(spec(y2).abs() ** 2, min=1e-8))
        st = torch.sqrt(torch.clamp(spec(t2).abs() ** 2, min=1e-8))
        sc = torch.linalg.vector_norm(sy - st, dim=(-2, -1)) / torch.linalg.vector_norm(st, dim=(-2, -1)).clamp_min(
            1e-8
        )
        logmag = (torch.log(sy) - torch.log(st)).abs().mean(dim=(-2, -1))
        total = total + (sc + logmag).mean()
    return total / len(sizes)


def level_term(y: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Squared level difference in units of 10 dB (mean power over everything)."""
    py = y.pow(2).mean().clamp_min(1e-12)
    pt = target.pow(2).mean().clamp_min(1e-12)
    return (10.0 * torch.log10(py / pt) / 10.0) ** 2


def probe(
    loss: Callable[[torch.Tensor], float], z: torch.Tensor, where: tuple[int, ...], base: float, inflation: float = 1.0
) -> float:
    """Confidence ``r / (r + CONFIDENCE_SCALE)`` from the loss rise ``r`` at ±CONFIDENCE_STEP,
    divided by the variance inflation of the setting."""
    rises = []
    for sign in (1.0, -1.0):
        zz = z.clone()
        moved = float(zz[where]) + sign * CONFIDENCE_STEP
        if not 0.0 <= moved <= 1.0:
            continue
        zz[where] = moved
        rises.append(loss(zz) - base)
    if not rises:
        return 0.0
    rise = max(0.0, sum(rises) / len(rises)) / max(inflation, 1.0)
    return float(rise / (rise + CONFIDENCE_SCALE))


def free_mask(
    params: MixParams, multitrack: Multitrack, silent: list[bool], constraints: Constraints, fit_master: bool
) -> torch.Tensor:
    """``(tracks, len(FIT_TRACK))`` bool: the settings the fit moves (not silent, locked, or a mono width)."""
    mask = torch.zeros(len(params.track_names), len(FIT_TRACK), dtype=torch.bool)
    for r, name in enumerate(params.track_names):
        if silent[r]:
            continue
        for c, key in enumerate(FIT_TRACK):
            if key == "width" and multitrack.tracks[r].channels == 1:
                continue
            mask[r, c] = not constraints.is_locked(name, key)
    return mask


class Fit:
    """The fitted settings as normalised tensors, and their way back to ``MixParams``."""

    def __init__(
        self,
        params: MixParams,
        free: torch.Tensor,
        fit_master: bool,
        constraints: Constraints,
        dtype: torch.dtype,
        *,
        reach: bool = False,
        sample_rate: int = 44100,
    ) -> None:
        self.params = params
        self.free = free
        self.dtype = dtype
        table, master = params_for("track"), params_for("master")
        self.track_specs = [table[k] for k in FIT_TRACK]
        # the reach settings are fitted when asked and not locked; an optional one that is off
        # starts from its "nearly off" end (REACH_START)
        reach_names = [k for k in FIT_REACH if reach and not constraints.is_locked("master", k)]
        self.master_specs = [master[k] for k in (*(FIT_MASTER if fit_master else ()), *reach_names)]
        params = params.copy()
        off = {**REACH_START, "lpf_hz": min(REACH_START["lpf_hz"], 0.45 * sample_rate), "side_gain_db": 0.0}
        off["drive_db"] = 0.0
        for k in reach_names:
            if params.master[k] is None:
                params.set_bus("master", k, off[k])
        # where each reach setting starts (the closed form may have placed the low-pass) and its "off"
        self.z0_reach = {k: float(master[k].to_normalised(cast(float, params.master[k]))) for k in reach_names}
        self.z_off = {k: float(master[k].to_normalised(off[k])) for k in reach_names}
        # the fitted settings always have a value (none of them is optional): never None here
        self.z0_track = torch.tensor(
            [
                [float(s.to_normalised(cast(float, params.tracks[t][s.name]))) for s in self.track_specs]
                for t in params.track_names
            ],
            dtype=torch.float64,
        )
        self.z0_master = torch.tensor(
            [float(s.to_normalised(cast(float, params.master[s.name]))) for s in self.master_specs], dtype=torch.float64
        )
        self.free_master = torch.tensor([not constraints.is_locked("master", s.name) for s in self.master_specs])
        self.base = ConsoleSettings.from_params(params, dtype)

        def step(spec: Any) -> float:
            if spec.name in STEP_NORMALISED:
                return STEP_NORMALISED[spec.name]
            return STEP["eq" if spec.name in EQ_GAINS else spec.name] / (spec.maximum - spec.minimum)

        self.lr_track = torch.tensor([step(s) for s in self.track_specs], dtype=torch.float64)
        # the gauge prior keeps the master EQ and output gain near their start (they trade with
        # the tracks'); the reach settings have no track stand-in, so only a light one
        self.prior_master = torch.tensor(
            [0.1 if s.name in FIT_MASTER else REACH_PRIOR for s in self.master_specs], dtype=torch.float64
        )
        self.lr_master = torch.tensor([step(s) for s in self.master_specs], dtype=torch.float64)

    def eq_db(self, z: torch.Tensor) -> torch.Tensor:
        """The free EQ band gains in dB (0 elsewhere), differentiable in ``z``."""
        cols = [c for c, s in enumerate(self.track_specs) if s.name in EQ_GAINS]
        spec = self.track_specs[cols[0]]
        db = cast(torch.Tensor, spec.from_normalised(z[:, cols]))  # a tensor in, a tensor out
        return torch.where(self.free[:, cols], db, torch.zeros_like(db))

    def settings(self, z: torch.Tensor, zm: torch.Tensor | None) -> ConsoleSettings:
        track = dict(self.base.track)
        for c, spec in enumerate(self.track_specs):
            if bool(self.free[:, c].any()):
                value = cast(torch.Tensor, spec.from_normalised(z[:, c])).to(self.dtype)
                track[spec.name] = torch.where(self.free[:, c], value, self.base.track[spec.name])
        master = dict(self.base.master)
        if zm is not None:
            for c, spec in enumerate(self.master_specs):
                if bool(self.free_master[c]):
                    master[spec.name] = cast(torch.Tensor, spec.from_normalised(zm[c])).to(self.dtype)
        return ConsoleSettings(
            track=track,
            reverb=self.base.reverb,
            master=master,
            reverb_seed=self.base.reverb_seed,
            dc_block=self.base.dc_block,
        )

    def params_from(self, z: torch.Tensor, zm: torch.Tensor | None) -> MixParams:
        out = self.params.copy()
        for r, name in enumerate(out.track_names):
            for c, spec in enumerate(self.track_specs):
                if bool(self.free[r, c]):
                    out.set(name, spec.name, _round(spec, float(spec.from_normalised(float(z[r, c])))))
        if zm is not None:
            for c, spec in enumerate(self.master_specs):
                if bool(self.free_master[c]):
                    out.set_bus("master", spec.name, _round(spec, float(spec.from_normalised(float(zm[c])))))
        return out

    def neutral_reach(self, zm: torch.Tensor | None) -> torch.Tensor | None:
        """``zm`` with every reach setting off (no width, drive; the filters at their open ends)."""
        if zm is None:
            return None
        out = zm.clone()
        for c, spec in enumerate(self.master_specs):
            if spec.name in self.z_off:
                out[c] = self.z_off[spec.name]
        return out

    def tidy_reach(self, params: MixParams, zm: torch.Tensor | None) -> list[str]:
        """Put each fitted reach setting that moved less than :data:`REACH_NEUTRAL` back to
        neutral exactly (the optional ones off); the names of those kept."""
        kept: list[str] = []
        if zm is None:
            return kept
        for c, spec in enumerate(self.master_specs):
            name = spec.name
            if name not in self.z_off:
                continue
            if name in ("lpf_hz", "side_hpf_hz"):  # open beyond where "off" starts: off
                sign = -1.0 if name == "lpf_hz" else 1.0
                moved = sign * (float(zm[c]) - self.z_off[name])
                neutral = None
            else:
                moved = abs(float(spec.from_normalised(float(zm[c]))) - float(spec.default or 0.0))
                neutral = spec.default
            if moved < REACH_NEUTRAL[name]:
                params.set_bus("master", name, neutral)
            else:
                kept.append(name)
        return kept


def _round(spec: Any, value: float) -> float:
    """``value`` within ``spec``'s range."""
    return min(max(value, spec.minimum), spec.maximum)


def adam_step(state: dict[str, Any], key: str, z: torch.Tensor, lr: torch.Tensor, free: torch.Tensor) -> None:
    """One Adam update (Kingma & Ba 2015) of ``z`` in place, with a per-setting step size
    ``lr`` in normalised units (Adam's step is scale-free, so ``lr`` is the step length)."""
    if z.grad is None:
        return
    g = z.grad.detach()
    beta1, beta2, eps = 0.9, 0.999, 1e-12
    s = state.setdefault(key, {"t": 0, "m": torch.zeros_like(g), "v": torch.zeros_like(g)})
    s["t"] += 1
    s["m"].mul_(beta1).add_(g, alpha=1 - beta1)
    s["v"].mul_(beta2).addcmul_(g, g, value=1 - beta2)
    mhat = s["m"] / (1 - beta1 ** s["t"])
    vhat = s["v"] / (1 - beta2 ** s["t"])
    with torch.no_grad():
        z -= (lr * mhat / (vhat.sqrt() + eps)).masked_fill(~free, 0.0)


def reach_reason(name: str, value: float | None, gain: float) -> str:
    """The ``why`` of a fitted reach setting, in physical units; ``gain`` is the fraction of the
    excerpts' loss it removed (against the same fit without the reach settings)."""
    because = f"fitted against the mix: with the master's reach settings the excerpts' loss is {100 * gain:.0f} % lower"
    v = float(value or 0.0)
    if name == "lpf_hz":
        what = f"low-pass at {v:.0f} Hz (24 dB/octave): the mix has little above it"
    elif name == "side_gain_db":
        what = f"side {v:+.1f} dB: the mix is {'narrower' if v < 0 else 'wider'} than the stems panned as they are"
    elif name == "side_hpf_hz":
        what = f"side high-pass at {v:.0f} Hz (12 dB/octave): the mix is mono below it"
    else:
        ceiling = -20 * math.log10(max(drive_curve_k(v), 1e-12))
        what = f"saturation driven {v:.1f} dB (tanh, ceiling {ceiling:+.1f} dBFS): the mix's peaks are rounded"
    return f"{what}; {because}"
