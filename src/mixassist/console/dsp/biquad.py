"""Biquad EQ design: RBJ Audio-EQ-Cookbook sections as differentiable torch sos.

:func:`peaking_sos`, :func:`low_shelf_sos` and :func:`high_shelf_sos` (shelves in their ``Q``
form), :func:`highpass_sos` and :func:`lowpass_sos` (even-order Butterworths as cookbook
high-/low-pass sections, equal to ``scipy.signal.butter(order, freq_hz, kind, fs=sample_rate)``) return float64
``(tracks, sections, 6)`` in ``scipy.signal`` *sos* layout ``[b0, b1, b2, a0, a1, a2]`` with
``a0 = 1``; frequencies are clamped to ``[1 Hz, 0.4999 * sample_rate]``.  At ``gain_db = 0``
the peaking and shelving sections have ``b == a`` bit for bit, so
:func:`~mixassist.console.dsp.cascade.biquad_cascade` passes them through unchanged.

References
----------
R. Bristow-Johnson, "Cookbook formulae for audio EQ biquad filter coefficients"
(W3C Audio EQ Cookbook, https://www.w3.org/TR/audio-eq-cookbook/).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from mixassist.console.dsp.arguments import parameter_sample_rate, sos_tensor
from mixassist.errors import InvalidParameterError

__all__ = [
    "FREQ_MIN_HZ",
    "NYQUIST_FRACTION",
    "cascade_sections",
    "high_shelf_sos",
    "highpass_sos",
    "low_shelf_sos",
    "lowpass_sos",
    "peaking_sos",
    "sos_response_db",
]

#: Lowest design frequency; lower requests are clamped to it.
FREQ_MIN_HZ = 1.0
#: Highest design frequency as a fraction of ``sample_rate``; higher requests are clamped to it.
NYQUIST_FRACTION = 0.4999

# --------------------------------------------------------------------------------------------
# design
# --------------------------------------------------------------------------------------------


def _as_param(name: str, value) -> torch.Tensor:
    """A float64 CPU tensor of shape ``()`` or ``(tracks,)`` (autograd kept), checked finite."""
    if isinstance(value, torch.Tensor):
        v = value.to(device="cpu", dtype=torch.float64)
    else:
        try:
            v = torch.tensor(float(value), dtype=torch.float64)
        except (TypeError, ValueError):
            raise InvalidParameterError(f"{name}={value!r} is not a number") from None
    if v.dim() > 1:
        raise InvalidParameterError(f"{name} has shape {tuple(v.shape)}; expected a scalar or (tracks,)")
    if not bool(torch.isfinite(v.detach()).all()):
        raise InvalidParameterError(f"{name} contains a non-finite value: {v.detach().tolist()}")
    return v


def _broadcast(**params) -> list[torch.Tensor]:
    try:
        out = torch.broadcast_tensors(*params.values())
    except RuntimeError:
        shapes = ", ".join(f"{k}: {tuple(v.shape)}" for k, v in params.items())
        raise InvalidParameterError(f"parameter shapes do not broadcast ({shapes}); give one value per track") from None
    return [v.reshape(-1) for v in out]  # () -> (1,)


def _clamp_freq(freq_hz: torch.Tensor, sample_rate: float) -> torch.Tensor:
    return torch.clamp(freq_hz, FREQ_MIN_HZ, NYQUIST_FRACTION * sample_rate)


def _check_q(q: torch.Tensor) -> None:
    bad = q.detach() <= 0
    if bool(bad.any()):
        raise InvalidParameterError(f"q={q.detach()[bad][0].item()!r}; it must be > 0 (console range 0.1…10)")


def _omega(freq_hz: torch.Tensor, q: torch.Tensor, sample_rate: float):
    w0 = (2.0 * math.pi / sample_rate) * _clamp_freq(freq_hz, sample_rate)
    cos_w0 = torch.cos(w0)
    alpha = torch.sin(w0) / (2.0 * q)
    return cos_w0, alpha


def _normalised(b0, b1, b2, a0, a1, a2) -> torch.Tensor:
    """``(tracks, 1, 6)`` sos rows divided by ``a0``."""
    one = torch.ones_like(a0)
    return torch.stack([b0 / a0, b1 / a0, b2 / a0, one, a1 / a0, a2 / a0], dim=-1)[:, None, :]


def _gain_section(freq_hz, gain_db, q, sample_rate) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``cos(w0)``, ``alpha`` and ``A = 10^(gain_db/40)`` of a peaking or shelving section, checked."""
    sr = parameter_sample_rate(sample_rate)
    fp, gp, qp = _as_param("freq_hz", freq_hz), _as_param("gain_db", gain_db), _as_param("q", q)
    f, g, qq = _broadcast(freq_hz=fp, gain_db=gp, q=qp)
    _check_q(qq)
    if fp.shape == qp.shape and fp.numel() < f.numel():
        # One frequency and Q for many gains (an automated band's control grid): the
        # trigonometry once, then broadcast (the same values elementwise).
        cos_w0, alpha = (v.reshape(-1).expand(f.shape) for v in _omega(fp, qp, sr))
    else:
        cos_w0, alpha = _omega(f, qq, sr)
    amp = torch.pow(10.0, g / 40.0)  # exactly 1.0 at 0 dB, so b == a bit for bit
    return cos_w0, alpha, amp


def peaking_sos(freq_hz, gain_db, q, sample_rate: float) -> torch.Tensor:
    """Peaking EQ section (RBJ Audio-EQ-Cookbook "peakingEQ").

    ``H(s) = (s^2 + s (A/Q) + 1) / (s^2 + s / (A Q) + 1)``, ``A = 10^(gain_db/40)``, mapped with
    the bilinear transform prewarped at ``freq_hz``: gain ``gain_db`` at ``freq_hz``, 0 dB at DC
    and Nyquist.

    Parameters
    ----------
    freq_hz : float or torch.Tensor
        Centre frequency in Hz, shape ``()`` or ``(tracks,)``; clamped to
        ``[1, 0.4999 * sample_rate]``.
    gain_db : float or torch.Tensor
        Gain at the centre in dB (console range ±18); 0 gives an exact identity section.
    q : float or torch.Tensor
        Quality factor > 0 (console range 0.1…10).
    sample_rate : float
        Hz.

    Returns
    -------
    torch.Tensor
        float64 ``(tracks, 1, 6)`` sos (``tracks`` = broadcast length of the parameters, 1 for
        scalars), ``a0 = 1``; differentiable with respect to every tensor argument.

    Examples
    --------
    >>> sos = peaking_sos(torch.tensor([1000.0, 3000.0]), 6.0, 0.7, 44100)
    >>> sos.shape
    torch.Size([2, 1, 6])
    >>> round(sos_response_db(sos, torch.tensor([1000.0]), 44100)[0, 0].item(), 6)
    6.0
    """
    cos_w0, alpha, amp = _gain_section(freq_hz, gain_db, q, sample_rate)
    a1 = -2.0 * cos_w0
    return _normalised(1.0 + alpha * amp, a1, 1.0 - alpha * amp, 1.0 + alpha / amp, a1, 1.0 - alpha / amp)


def _sqrt(v: torch.Tensor) -> torch.Tensor:
    """``torch.sqrt``; without gradients on many values (an automated band's control grid)
    numpy's correctly rounded one instead (it may differ from torch's vectorised one in the last
    bit): torch's waits on its thread pool there (8 ms for 7000 values on a loaded 2-core
    machine, against 20 µs).  The static designs (a value per track) keep ``torch.sqrt``."""
    if v.requires_grad or v.numel() < 1024:
        return torch.sqrt(v)
    return torch.from_numpy(np.sqrt(v.detach().numpy()))


def _shelf(freq_hz, gain_db, q, sample_rate, high: bool) -> torch.Tensor:
    cos_w0, alpha, amp = _gain_section(freq_hz, gain_db, q, sample_rate)
    ap1 = amp + 1.0
    am1 = amp - 1.0  # exactly 0 at 0 dB: every b then equals its a bit for bit
    k = 2.0 * _sqrt(amp) * alpha
    if high:
        sgn = 1.0
    else:
        sgn = -1.0  # the low shelf is the high shelf with the sign of the cos terms flipped
    pb = ap1 + sgn * am1 * cos_w0
    pa = ap1 - sgn * am1 * cos_w0
    b0 = amp * (pb + k)
    b1 = (-2.0 * sgn) * amp * (am1 + sgn * ap1 * cos_w0)
    b2 = amp * (pb - k)
    a0 = pa + k
    a1 = (2.0 * sgn) * (am1 - sgn * ap1 * cos_w0)
    a2 = pa - k
    return _normalised(b0, b1, b2, a0, a1, a2)


def low_shelf_sos(freq_hz, gain_db, q, sample_rate: float) -> torch.Tensor:
    """Low-shelf section (RBJ Audio-EQ-Cookbook "lowShelf", ``Q`` form).

    ``H(s) = A (s^2 + (√A/Q) s + A) / (A s^2 + (√A/Q) s + 1)``, ``A = 10^(gain_db/40)``:
    gain ``gain_db`` at DC, 0 dB at Nyquist, ``gain_db / 2`` at ``freq_hz``.  ``q = 1/√2`` is the
    steepest shelf without overshoot (cookbook slope ``S = 1``).

    Parameters and result as in :func:`peaking_sos`, with ``freq_hz`` the shelf midpoint and
    ``gain_db`` the shelf gain.

    Examples
    --------
    >>> sos = low_shelf_sos(200.0, -6.0, 0.707, 48000)
    >>> round(sos_response_db(sos, torch.tensor([1.0]), 48000).item(), 2)
    -6.0
    """
    return _shelf(freq_hz, gain_db, q, sample_rate, high=False)


def high_shelf_sos(freq_hz, gain_db, q, sample_rate: float) -> torch.Tensor:
    """High-shelf section (RBJ Audio-EQ-Cookbook "highShelf", ``Q`` form).

    ``H(s) = A (A s^2 + (√A/Q) s + 1) / (s^2 + (√A/Q) s + A)``, ``A = 10^(gain_db/40)``:
    0 dB at DC, gain ``gain_db`` at Nyquist, ``gain_db / 2`` at ``freq_hz``.

    Parameters and result as in :func:`low_shelf_sos`.

    Examples
    --------
    >>> sos = high_shelf_sos(8000.0, 3.0, 0.707, 48000)
    >>> round(sos_response_db(sos, torch.tensor([23999.0]), 48000).item(), 2)
    3.0
    """
    return _shelf(freq_hz, gain_db, q, sample_rate, high=True)


def highpass_sos(freq_hz, sample_rate: float, order: int = 4) -> torch.Tensor:
    """Butterworth high-pass as ``order / 2`` cascaded RBJ cookbook high-pass sections.

    Section ``k`` has ``Q_k = 1 / (2 cos(π (2k + 1) / (2 order)))`` (0.5412 and 1.3066 for
    order 4, 0.7071 for order 2); every section is prewarped at ``freq_hz``, so the cascade is
    the bilinear transform of the analog Butterworth high-pass, −3 dB at ``freq_hz``, and
    equals ``scipy.signal.butter(order, freq_hz, "highpass", fs=sample_rate)``.

    Parameters
    ----------
    freq_hz : float or torch.Tensor
        Cut-off (−3 dB) in Hz, shape ``()`` or ``(tracks,)``; clamped to
        ``[1, 0.4999 * sample_rate]``.
    sample_rate : float
        Hz.
    order : int, default 4
        Even filter order ≥ 2 (slope ``6 * order`` dB per octave).

    Returns
    -------
    torch.Tensor
        float64 ``(tracks, order // 2, 6)`` sos, ``a0 = 1``; differentiable in ``freq_hz``.

    Examples
    --------
    >>> sos = highpass_sos(torch.tensor([80.0, 120.0]), 44100)
    >>> sos.shape
    torch.Size([2, 2, 6])
    >>> round(sos_response_db(sos[:1], torch.tensor([80.0]), 44100).item(), 3)
    -3.01
    """
    return _butterworth(freq_hz, sample_rate, order, high=True)


def lowpass_sos(freq_hz, sample_rate: float, order: int = 4) -> torch.Tensor:
    """Butterworth low-pass as ``order / 2`` cascaded RBJ cookbook low-pass sections.

    The mirror of :func:`highpass_sos` (same section Qs, prewarped at ``freq_hz``): −3 dB at
    ``freq_hz``, ``6 * order`` dB per octave above it, a zero at Nyquist; equals
    ``scipy.signal.butter(order, freq_hz, "lowpass", fs=sample_rate)``.  A corner at or above
    ``0.4999 * sample_rate`` is clamped there (then it still cuts the last few hundred Hz).

    Examples
    --------
    >>> sos = lowpass_sos(torch.tensor([5000.0]), 44100)
    >>> round(sos_response_db(sos, torch.tensor([5000.0]), 44100).item(), 3)
    -3.01
    """
    return _butterworth(freq_hz, sample_rate, order, high=False)


def _butterworth(freq_hz, sample_rate: float, order: int, *, high: bool) -> torch.Tensor:
    if isinstance(order, bool) or not isinstance(order, (int, np.integer)) or order < 2 or order % 2:
        kind = "high" if high else "low"
        raise InvalidParameterError(f"order={order!r}; the {kind}-pass order must be an even integer >= 2")
    sr = parameter_sample_rate(sample_rate)
    (f,) = _broadcast(freq_hz=_as_param("freq_hz", freq_hz))
    w0 = (2.0 * math.pi / sr) * _clamp_freq(f, sr)
    cos_w0 = torch.cos(w0)
    sin_w0 = torch.sin(w0)
    sections = []
    for k in range(int(order) // 2):
        q = 1.0 / (2.0 * math.cos(math.pi * (2 * k + 1) / (2 * int(order))))
        alpha = sin_w0 / (2.0 * q)
        if high:
            b0, b1 = 0.5 * (1.0 + cos_w0), -(1.0 + cos_w0)
        else:
            b0, b1 = 0.5 * (1.0 - cos_w0), 1.0 - cos_w0
        sections.append(_normalised(b0, b1, b0, 1.0 + alpha, -2.0 * cos_w0, 1.0 - alpha))
    return torch.cat(sections, dim=1)


def cascade_sections(*sos_list: torch.Tensor) -> torch.Tensor:
    """Concatenate section tensors into one cascade, broadcasting the tracks axis.

    Parameters
    ----------
    *sos_list : torch.Tensor
        Each ``(tracks_i, sections_i, 6)`` or ``(sections_i, 6)``; every ``tracks_i`` is 1 or
        the common number of tracks.

    Returns
    -------
    torch.Tensor
        float64 ``(tracks, Σ sections_i, 6)`` in the order given; gradients flow to every input.

    Examples
    --------
    >>> hp = highpass_sos(torch.tensor([40.0, 60.0]), 48000)
    >>> cascade_sections(hp, peaking_sos(1000.0, 3.0, 1.0, 48000)).shape
    torch.Size([2, 3, 6])
    """
    if not sos_list:
        raise InvalidParameterError("cascade_sections needs at least one sos tensor")
    parts = []
    for i, s in enumerate(sos_list):
        s = sos_tensor(s)
        if s.dim() != 3 or s.shape[-1] != 6:
            raise InvalidParameterError(
                f"sos #{i} has shape {tuple(s.shape)}; expected (tracks, sections, 6) or (sections, 6)"
            )
        parts.append(s)
    tracks = max(p.shape[0] for p in parts)
    for i, p in enumerate(parts):
        if p.shape[0] not in (1, tracks):
            raise InvalidParameterError(f"sos #{i} has {p.shape[0]} tracks; expected 1 or {tracks}")
    return torch.cat([p.to(torch.float64).expand(tracks, -1, -1) for p in parts], dim=1)


def sos_response_db(sos: torch.Tensor, freqs_hz, sample_rate: float, *, floor_db: float = -300.0) -> torch.Tensor:
    """Magnitude response of a cascade in dB, ``20 log10 |Π_k H_k(e^{jω})|``.

    Parameters
    ----------
    sos : torch.Tensor
        ``(..., sections, 6)`` (e.g. ``(tracks, sections, 6)``); ``a0`` need not be 1.
    freqs_hz : float, sequence or torch.Tensor
        ``(F,)`` frequencies in Hz.
    sample_rate : float
        Hz.
    floor_db : float, default -300
        Each section's numerator and denominator magnitudes are floored at this level, so exact
        zeros (a high-pass at DC) give a large negative number instead of ``-inf``.

    Returns
    -------
    torch.Tensor
        float64 ``(..., F)``; differentiable with respect to ``sos``.

    Examples
    --------
    >>> sos = peaking_sos(1000.0, -4.0, 2.0, 44100)
    >>> db = sos_response_db(sos, torch.tensor([1000.0, 20.0]), 44100)
    >>> round(db[0, 0].item(), 6), abs(db[0, 1].item()) < 0.01
    (-4.0, True)
    """
    sr = parameter_sample_rate(sample_rate)
    if not isinstance(sos, torch.Tensor):
        sos = torch.as_tensor(np.asarray(sos, dtype=np.float64))
    if sos.dim() < 2 or sos.shape[-1] != 6:
        raise InvalidParameterError(f"sos has shape {tuple(sos.shape)}; expected (..., sections, 6)")
    s = sos.to(device="cpu", dtype=torch.float64)
    f = torch.as_tensor(freqs_hz, dtype=torch.float64).reshape(-1)
    w = (2.0 * math.pi / sr) * f
    c1, s1, c2, s2 = torch.cos(w), torch.sin(w), torch.cos(2.0 * w), torch.sin(2.0 * w)
    s = s[..., None, :]  # (..., sections, 1, 6) against (F,)
    tiny = 10.0 ** (floor_db / 10.0)

    def power(c0, cc1, cc2):
        re = c0 + cc1 * c1 + cc2 * c2
        im = cc1 * s1 + cc2 * s2
        return (re * re + im * im).clamp_min(tiny)

    num = power(s[..., 0], s[..., 1], s[..., 2])
    den = power(s[..., 3], s[..., 4], s[..., 5])
    return (10.0 * (torch.log10(num) - torch.log10(den))).sum(dim=-2)
