"""Mid/side width for a stereo bus: the side scaled (and optionally high-passed), the mid untouched.

::

    M = (L + R) / 2,   S = (L − R) / 2
    S' = 10^(side_gain_db / 20) · HPF₂(S)          (HPF only when side_hpf_hz is set)
    L' = M + S',       R' = M − S'

``side_gain_db = 0`` without a side high-pass is the identity (the console skips the stage, so the
bypass is exact); ``−40`` dB leaves the image nearly mono; ``+12`` dB widens it fourfold in side
level.  The side high-pass is a 2nd-order (12 dB/octave) Butterworth
(:func:`~mixassist.console.dsp.biquad.highpass_sos`, ``order=2``, −3 dB at ``side_hpf_hz``) run
through the biquad cascade: below its corner the mix is mono, with the mid channel's phase
untouched.  Stateful (the filter's state), so chunked equals whole.
"""

from __future__ import annotations

import torch

from mixassist.console.dsp.arguments import check_audio, track_param
from mixassist.console.dsp.biquad import highpass_sos
from mixassist.console.dsp.cascade import biquad_cascade
from mixassist.errors import InvalidAudioError

__all__ = ["SIDE_HPF_ORDER", "mid_side_width"]

#: Order of the side-only high-pass (12 dB/octave).
SIDE_HPF_ORDER = 2


def mid_side_width(
    x: torch.Tensor,
    sample_rate: float,
    *,
    side_gain_db: torch.Tensor | float,
    side_hpf_hz: torch.Tensor | float | None = None,
    state: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Scale (and optionally high-pass) the side of stereo signals.

    Parameters
    ----------
    x : torch.Tensor
        ``(tracks, 2, samples)``, float32 or float64.
    sample_rate : float
        Hz.
    side_gain_db : float or torch.Tensor
        Side level in dB, a scalar or ``(tracks,)`` (console range −40…+12).
    side_hpf_hz : float or torch.Tensor, optional
        Corner of the side-only high-pass in Hz (console range 20…1000); ``None`` for none.
    state : torch.Tensor, optional
        The side filter's state from the previous block.

    Returns
    -------
    y : torch.Tensor
        Same shape and dtype as ``x``; differentiable in ``x`` and both settings.
    state : torch.Tensor or None
        The side filter's state (``None`` without the high-pass).

    Examples
    --------
    >>> x = torch.tensor([[[1.0, 0.5], [0.0, 0.5]]])
    >>> mid_side_width(x, 44100, side_gain_db=-120.0)[0]  # mono: L = R = (L + R) / 2
    tensor([[[0.5000, 0.5000],
             [0.5000, 0.5000]]])
    """
    check_audio(x)
    if x.shape[1] != 2:
        raise InvalidAudioError(f"mid/side width needs stereo (tracks, 2, samples); got {tuple(x.shape)}")
    tracks = x.shape[0]
    gain = torch.pow(10.0, track_param("side_gain_db", side_gain_db, tracks) / 20.0).to(x.dtype)
    mid = 0.5 * (x[:, 0] + x[:, 1])
    side = 0.5 * (x[:, 0] - x[:, 1])
    if side_hpf_hz is not None:
        sos = highpass_sos(track_param("side_hpf_hz", side_hpf_hz, tracks), sample_rate, order=SIDE_HPF_ORDER)
        filtered, state = biquad_cascade(side[:, None, :], sos, state)
        side = filtered[:, 0]
    side = side * gain[:, None]
    return torch.stack([mid + side, mid - side], dim=1), state
