"""A differentiable twin of :func:`mixassist.measure.perception.loudness_in_mix`, in PyTorch.

The rules mixer's separation stage (:mod:`mixassist.mixers.separation`) moves pans, EQ gains and
faders to lower the masking between tracks. The numba kernel behind ``loudness_in_mix`` is fast
but gives no gradients, and finite differences over a few hundred settings take minutes; this
module computes the same quantities — every track's solo and partial loudness per frame, Moore,
Glasberg & Baer (1997) eqs. (3), (17) and (18) with ANSI S3.4-2007's level-dependent roex
filters, both ears summed — with torch operations, so that autograd gives the gradient of any
function of them with respect to the band powers (and so to the settings that scale them).

It reads its constants from :mod:`mixassist.measure.perception.model` (one model, two implementations)
and is tested against the kernel there (``tests/test_loudness_model.py``). It differs from the
kernel only in precision: float64 by default, float32 on request (the kernel computes per-track terms in float32).

References
----------
B. C. J. Moore, B. R. Glasberg, T. Baer, "A model for the prediction of thresholds, loudness,
and partial loudness", J. Audio Eng. Soc. 45(4), 224–240, 1997; ANSI S3.4-2007.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import torch

from mixassist.errors import InvalidParameterError
from mixassist.measure.perception.erb import ERB_BANDS
from mixassist.measure.perception.mix import MIX_GATE_SONE
from mixassist.measure.perception.model import ABS_DEV, BAND, BAND_SCALE, LOWER, PL_PER_DB, PU, W_LEVEL, W_UPPER

__all__ = ["LoudnessInMix", "loudness_in_mix_torch"]

_TINY = 1e-20  # powers and excitations below this count as 0 (as the kernel's float32 floor)


def _constants() -> dict[str, torch.Tensor]:
    b = BAND
    values = {
        "g": b["g"],
        "a": b["a"],
        "alpha": b["alpha"],
        "ethrq": b["ethrq"],
        "k": b["k"],
        "a_alpha": b["a_alpha"],
        "thr_alpha": b["thr_alpha"],
        "pu": PU,
        "pl_per_db": PL_PER_DB,
        "w_upper": W_UPPER,
        "w_level": W_LEVEL,
        "abs_dev": ABS_DEV,
        "lower": LOWER.astype(np.float64),
    }
    return {k: torch.as_tensor(np.asarray(v, dtype=np.float64)) for k, v in values.items()}


_C = _constants()
_C32 = {k: v.to(torch.float32) for k, v in _C.items()}


def _of(dtype: torch.dtype) -> dict[str, torch.Tensor]:
    """The model's constants in ``dtype`` (float64 or float32)."""
    return _C32 if dtype == torch.float32 else _C


@dataclass(frozen=True, eq=False)
class LoudnessInMix:
    """Per-track loudness as tensors (see :func:`loudness_in_mix_torch`).

    Attributes
    ----------
    solo_sone, partial_sone : torch.Tensor
        ``(tracks,)`` mean over the active frames, sone (both ears summed).
    mix_sone : torch.Tensor
        Scalar, the mix's mean loudness over the active frames, sone.
    active : torch.Tensor
        ``(frames,)`` bool, the frames averaged over (the mix louder than ``MIX_GATE_SONE``).
    """

    solo_sone: torch.Tensor
    partial_sone: torch.Tensor
    mix_sone: torch.Tensor
    active: torch.Tensor

    @property
    def masked_fraction(self) -> torch.Tensor:
        """``(tracks,)`` ``1 − partial / solo`` (0 for a silent track), as the numpy model's."""
        solo = self.solo_sone
        frac = 1.0 - self.partial_sone / torch.where(solo > 0, solo, torch.ones_like(solo))
        return torch.where(solo > 0, frac.clamp(0.0, 1.0), torch.zeros_like(frac))


def _pow(x: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
    return torch.exp(a * torch.log(x))


def _specific(e: torch.Tensor) -> torch.Tensor:
    """MGB97 eq. (3) with the ANSI low-level factor, sone/Cam before C (``e >= 0``)."""
    c = _of(e.dtype)
    n = _pow(e * c["g"] + c["a"], c["alpha"]) - c["a_alpha"]
    r = torch.clamp(2.0 * e / (e + c["ethrq"]), max=1.0)
    return n * r * torch.sqrt(r.clamp_min(_TINY))


_LOWER_AT = np.flatnonzero(LOWER.reshape(-1))  # the lower-skirt entries (i, j) of a (bands, bands) matrix, flat
_LOWER_ROW = torch.as_tensor(_LOWER_AT // ERB_BANDS)  # their band i (the level they read)
_LOWER_COL = torch.as_tensor(_LOWER_AT % ERB_BANDS)  # their filter j
_LOWER_FLAT = torch.as_tensor(_LOWER_AT)


class _LowerSkirt(torch.autograd.Function):
    """The spreading matrices from the level per ERB (dB), with their gradient in one step.

    Only the lower-skirt entries depend on the level (the upper skirt is fixed), so only those
    are computed, in the same operations and order as the whole-matrix formula (equal values);
    the backward pass reads the derivative saved by the forward one (``d roex / d p`` times
    ``d p / d level``) instead of retracing the clamps, exponentials and products: the
    separation's gradient steps spend most of their time here (``benchmarks/rules_speed.py``).
    """

    @staticmethod
    def forward(ctx: Any, level_db: torch.Tensor) -> torch.Tensor:
        c = _of(level_db.dtype)
        pu, pl, dev = c["pu"][_LOWER_COL], c["pl_per_db"][_LOWER_COL], c["abs_dev"].reshape(-1)[_LOWER_FLAT]
        p_raw = pu - pl * (level_db[..., _LOWER_ROW] - 51.0)
        p_low = torch.clamp(p_raw, min=0.1)
        pg_raw = p_low * dev
        pg = torch.clamp(pg_raw, max=40.0)
        decay = torch.exp(-pg)
        lower = (1.0 + pg) * decay
        # d lower / d level = -pg e^-pg * dev * (-pl), where neither clamp holds
        ctx.save_for_backward(torch.where((p_raw >= 0.1) & (pg_raw <= 40.0), pg * decay * dev * pl, 0.0))
        w = c["w_upper"].expand(*level_db.shape[:-1], ERB_BANDS, ERB_BANDS).clone()
        w.view(*level_db.shape[:-1], ERB_BANDS * ERB_BANDS)[..., _LOWER_FLAT] = lower
        return w

    @staticmethod
    def backward(ctx: Any, grad_w: torch.Tensor) -> torch.Tensor:
        (slope,) = ctx.saved_tensors
        lead = grad_w.shape[:-2]
        picked = grad_w.reshape(*lead, ERB_BANDS * ERB_BANDS)[..., _LOWER_FLAT] * slope
        return torch.zeros(*lead, ERB_BANDS, dtype=grad_w.dtype).index_add_(-1, _LOWER_ROW, picked)


def _spreading(total: torch.Tensor) -> torch.Tensor:
    """``(..., bands, bands)`` spreading matrices set by the mix's band powers ``total`` (``(..., bands)``)."""
    level_db = 10.0 * torch.log10((total @ _of(total.dtype)["w_level"]).clamp_min(1e-10))
    return cast(torch.Tensor, _LowerSkirt.apply(level_db))


def loudness_in_mix_torch(placed: torch.Tensor, *, dtype: torch.dtype = torch.float64) -> LoudnessInMix:
    """Solo and partial loudness of every track of a mix, differentiable in the band powers.

    Same model and conventions as :func:`mixassist.measure.perception.loudness_in_mix`: for track
    ``i`` at each ear the masker's excitation is the mix's minus the track's, with auditory
    filters shaped by the whole mix; the two ears are summed; values are means over the frames
    in which the mix's loudness exceeds :data:`~mixassist.measure.perception.MIX_GATE_SONE` (the
    choice of frames carries no gradient).

    Parameters
    ----------
    placed : torch.Tensor
        ``(tracks, 2, frames, bands)`` band powers at each ear (intensity re 0 dB SPL),
        non-negative.
    dtype : torch.dtype
        Precision of the computation and of the results: float64 (the default), or float32,
        about twice as fast; the rules mixer's separation search runs in it (its decisions move
        by at most 0.001 dB or pan, ``docs/mixing.md``).

    Returns
    -------
    LoudnessInMix

    Examples
    --------
    >>> p = torch.zeros(2, 2, 10, 40, dtype=torch.float64); p[:, :, :, 15] = 1e6
    >>> m = loudness_in_mix_torch(p)
    >>> bool(0.3 < float(m.masked_fraction[0]) < 0.9)
    True
    """
    if placed.ndim != 4 or placed.shape[1] != 2 or placed.shape[-1] != ERB_BANDS:
        raise InvalidParameterError(
            f"placed has shape {tuple(placed.shape)}; expected (tracks, 2, frames, {ERB_BANDS})"
        )
    if dtype not in (torch.float64, torch.float32):
        raise InvalidParameterError(f"dtype={dtype}: use torch.float64 or torch.float32")
    c = _of(dtype)
    p = placed.to(dtype)
    p = torch.where(p > _TINY, p, torch.zeros_like(p))
    total = p.sum(0)  # (2, F, B)
    w = _spreading(total)  # (2, F, B, B)
    e_own = torch.einsum("tefi,efij->tefj", p, w)
    e_mix = e_own.sum(0)
    mix = (_specific(e_mix).sum(-1)).sum(0) * BAND_SCALE  # (F,)
    e_s = torch.where(e_own > _TINY, e_own, torch.zeros_like(e_own))
    e_n = (e_mix - e_s).clamp_min(0.0)
    solo_spec = _specific(e_s)
    g, a, alpha = c["g"], c["a"], c["alpha"]
    ethrn = e_n * c["k"] + c["ethrq"]
    t_tot = _pow(e_mix * g + a, alpha).expand_as(e_s)
    t_thrn = _pow((e_n + ethrn) * g + a, alpha)
    t_noise = _pow(e_n * g + a, alpha)
    high = e_s >= ethrn
    ratio = _pow(ethrn / torch.where(high, e_s, torch.ones_like(e_s)), torch.tensor(0.3, dtype=dtype))
    n_high = (t_tot - c["a_alpha"]) - (t_thrn - c["thr_alpha"]) * ratio
    s = 2.0 * e_s / (e_s + ethrn)
    n_low = (
        s * torch.sqrt(s.clamp_min(_TINY)) * (c["thr_alpha"] - c["a_alpha"]) * (t_tot - t_noise) / (t_thrn - t_noise)
    )
    part_spec = torch.clamp(torch.where(high, n_high, n_low), min=0.0)
    part_spec = torch.where(e_n > 0, part_spec, solo_spec)  # no masker: eqs. 17/18 reduce to eq. 3
    solo = solo_spec.sum(-1).sum(1) * BAND_SCALE  # (T, F)
    partial = part_spec.sum(-1).sum(1) * BAND_SCALE
    active = (mix > MIX_GATE_SONE).detach()
    count = int(active.sum())
    if count == 0:
        zeros = torch.zeros(p.shape[0], dtype=dtype)
        return LoudnessInMix(zeros, zeros, torch.zeros((), dtype=dtype), active)
    return LoudnessInMix(solo[:, active].mean(1), partial[:, active].mean(1), mix[active].mean(), active)
