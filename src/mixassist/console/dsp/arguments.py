"""Argument checks shared by the DSP processors: audio tensors, per-track parameters, sample rates."""

from __future__ import annotations

import math

import numpy as np
import torch

from mixassist.errors import InvalidAudioError, InvalidParameterError
from mixassist.measure import check_sample_rate

__all__ = ["check_audio", "parameter_sample_rate", "positive_sample_rate", "sos_tensor", "to_cpu", "track_param"]


def check_audio(x, name: str = "x") -> None:
    """Refuse anything but a float32/float64 tensor shaped ``(tracks, channels, samples)``."""
    if not isinstance(x, torch.Tensor):
        raise InvalidAudioError(
            f"{name} must be a torch.Tensor shaped (tracks, channels, samples), got {type(x).__name__}"
        )
    if x.dim() != 3:
        raise InvalidAudioError(f"{name} has shape {tuple(x.shape)}; expected (tracks, channels, samples)")
    if x.dtype not in (torch.float32, torch.float64):
        raise InvalidAudioError(f"{name} has dtype {x.dtype}; convert it to float32 or float64")


def positive_sample_rate(sample_rate) -> float:
    """``sample_rate`` as a float, refused unless finite and > 0 (any rate: gradchecks run at 1 kHz)."""
    sr = float(sample_rate)
    if not math.isfinite(sr) or sr <= 0:
        raise InvalidParameterError(f"sample_rate={sample_rate!r}; it must be a positive number of Hz")
    return sr


def parameter_sample_rate(sample_rate) -> float:
    """:func:`~mixassist.measure.check_sample_rate` (8-384 kHz), a bad rate reported as a parameter error."""
    try:
        return check_sample_rate(sample_rate)
    except InvalidAudioError as exc:  # out of range: for a processor it is a wrong argument
        raise InvalidParameterError(exc.reason) from None


def track_param(name: str, value, tracks: int, *, low: float | None = None, low_open: bool = False) -> torch.Tensor:
    """A float64 ``(tracks,)`` tensor (autograd kept) from a float or a broadcastable tensor."""
    if isinstance(value, torch.Tensor):
        v = value.to(torch.float64)
        if v.device.type != "cpu":
            v = v.cpu()
    else:
        try:
            v = torch.tensor(float(value), dtype=torch.float64)
        except (TypeError, ValueError):
            raise InvalidParameterError(f"{name}={value!r} is not a number") from None
    if v.numel() == 1 and v.dim() <= 1:
        v = v.reshape(()).expand(tracks)
    elif tuple(v.shape) != (tracks,):
        raise InvalidParameterError(
            f"{name} has shape {tuple(v.shape)}; expected a scalar or ({tracks},) — one value per track"
        )
    vd = v.detach()
    if not bool(torch.isfinite(vd).all()):
        raise InvalidParameterError(f"{name} contains a non-finite value: {vd.tolist()}")
    if low is not None:
        bad = (vd <= low) if low_open else (vd < low)
        if bool(bad.any()):
            rel = ">" if low_open else ">="
            raise InvalidParameterError(f"{name}={vd[bad][0].item()!r}; it must be {rel} {low}")
    return v


def to_cpu(x: torch.Tensor) -> torch.Tensor:
    """``x`` itself on the CPU, else a CPU copy."""
    return x if x.device.type == "cpu" else x.cpu()


def sos_tensor(sos) -> torch.Tensor:
    """``sos`` as a tensor (an array-like as float64), a ``(sections, 6)`` one given a tracks axis."""
    if not isinstance(sos, torch.Tensor):
        sos = torch.as_tensor(np.asarray(sos, dtype=np.float64))
    if sos.dim() == 2:
        sos = sos[None]
    return sos
