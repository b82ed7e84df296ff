"""Separation: pans and EQ gains chosen together to lower the masking between sources.

The knowledge-based literature places sources so that they mask each other less: pan sources
that share a spectrum to opposite sides (Perez-Gonzalez & Reiss 2010), cut in one source where
it masks another (Hafezi & Reiss 2015), or search pans and EQ together against a masking model
(Ronan, Ma, Mac Namee, Reiss & Hettiarachchi 2018: "optimisation of equalisation and panning to
minimise masking"). This module is the last: every free pan and free EQ band gain of every
source is moved together, by gradient descent on the partial-loudness model
(:mod:`mixassist.measure.loudness_model`, the same Moore–Glasberg model the balance and the
evaluation harness use), to lower the sources' mean masked fraction
(``1 − partial / solo`` loudness, Wichern et al. 2016).

The model and its costs are described in ``docs/mixing.md`` (the separation step).

References
----------
E. Perez-Gonzalez, J. D. Reiss, "A real-time semiautonomous audio panning system for music
mixing", EURASIP J. Adv. Signal Process., 2010. S. Hafezi, J. D. Reiss, "Autonomous
multitrack equalization based on masking reduction", J. Audio Eng. Soc. 63(5), 2015.
M. Ronan, Z. Ma, B. Mac Namee, J. D. Reiss et al., "Automatic minimisation of masking in
multitrack audio using subgroups", arXiv:1803.09960, 2018. G. Wichern et al., "Quantitative
analysis of masking in multitrack mixes using loudness loss", AES 141st Convention, 2016.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from mixassist.console.dsp.biquad import high_shelf_sos, low_shelf_sos, peaking_sos, sos_response_db
from mixassist.console.schema import EQ_BANDS
from mixassist.errors import InvalidParameterError
from mixassist.measure.loudness_model import loudness_in_mix_torch
from mixassist.measure.perception import SILENT_SONE, band_centres_hz
from mixassist.mixers.threads import single_threaded

__all__ = [
    "EQ_SLOTS",
    "MAX_FRAMES",
    "SEARCH_DTYPE",
    "STEREO_REACH",
    "Separation",
    "SeparationModel",
    "eq_response_db",
    "pan_power",
    "separate",
    "stereo_reach",
]

#: The console's six EQ bands, in order: (slot name, design function).
EQ_SLOTS: tuple[tuple[str, Callable[..., torch.Tensor]], ...] = tuple(
    (band, {"low_shelf": low_shelf_sos, "high_shelf": high_shelf_sos}.get(band, peaking_sos)) for band, *_ in EQ_BANDS
)
log = logging.getLogger(__name__)

#: Frames the search looks at (evenly spaced): the gradient's cost grows with them.
MAX_FRAMES = 128
#: Precision of the masking model inside the search (:func:`separate`'s gradient steps, the
#: masked fractions it reports); the settings and the costs stay float64. float32 takes a
#: separation of 8 stems from 3.0 to 1.9 s and moves its decisions by at most 0.001 dB of EQ
#: gain, 0.0003 of pan and 0.001 octave of EQ frequency (``benchmarks/README.md``, the rules line).
SEARCH_DTYPE = torch.float32
#: How far a stereo stem may be panned (balance law) at width 0 and at width 1 or more: a wide
#: stem panned hard would lose one channel, so it is narrowed before it goes further out.
STEREO_REACH = (1.0, 0.6)
_NUDGE = 0.2  # a centred free pan starts this far to its better side
TUNE_OCTAVES = 1.0  # a tuned EQ band's frequency moves at most this far from its slot's
TUNE_Q_OCTAVES = 1.5  # and its Q at most this factor (as a power of 2) from its start


def eq_response_db(gain_db: torch.Tensor, freq_hz: torch.Tensor, q: torch.Tensor, sample_rate: int) -> torch.Tensor:
    """``(sources, bands)`` dB response of the console's six-band EQ at the ERB band centres.

    ``gain_db``, ``freq_hz`` and ``q`` are ``(sources, 6)`` in :data:`EQ_SLOTS` order;
    differentiable in all three (the console's RBJ biquads, evaluated exactly).
    """
    sections = [design(freq_hz[:, j], gain_db[:, j], q[:, j], sample_rate) for j, (_, design) in enumerate(EQ_SLOTS)]
    freqs = torch.as_tensor(band_centres_hz(sample_rate), dtype=torch.float64)
    return sos_response_db(torch.cat(sections, dim=1), freqs, sample_rate)


def stereo_reach(width: torch.Tensor) -> torch.Tensor:
    """Largest pan allowed for a stereo stem at ``width``: linear from ``STEREO_REACH[0]`` at 0 to
    ``STEREO_REACH[1]`` at 1 and beyond."""
    narrow, wide = STEREO_REACH
    return narrow + (wide - narrow) * width.clamp(0.0, 1.0)


def pan_power(pan: torch.Tensor) -> torch.Tensor:
    """``(sources, 2)`` power at each ear relative to the centred source, for the console's laws.

    Mono sources (constant-power pan, ``cos θ``/``sin θ``) and stereo ones (balance ``√2 cos θ``
    /``√2 sin θ`` on each channel) both give ``(2 cos² θ, 2 sin² θ)``, θ = (pan + 1)·π/4.
    """
    theta = (pan.clamp(-1.0, 1.0) + 1.0) * (math.pi / 4)
    return torch.stack([2.0 * torch.cos(theta) ** 2, 2.0 * torch.sin(theta) ** 2], dim=1)


@dataclass
class Separation:
    """Result of :func:`separate`.

    Attributes
    ----------
    pan, width : numpy.ndarray
        ``(sources,)`` chosen pans and widths (fixed ones at their start value).
    eq_db : numpy.ndarray
        ``(sources, 6)`` chosen EQ gains (fixed ones at their start value).
    eq_freq_hz, eq_q : numpy.ndarray
        ``(sources, 6)`` the EQ slots' frequencies and Qs (moved only where ``eq_tune`` allowed).
    masked_before, masked_after : numpy.ndarray
        ``(sources,)`` masked fraction of each source in the model at the start and with the
        chosen settings (``nan`` for sources too quiet to count).
    audible : numpy.ndarray
        ``(sources,)`` bool, the sources the mean is taken over.
    steps : int
        Gradient steps taken.
    """

    pan: np.ndarray
    width: np.ndarray
    eq_db: np.ndarray
    eq_freq_hz: np.ndarray
    eq_q: np.ndarray
    masked_before: np.ndarray
    masked_after: np.ndarray
    audible: np.ndarray
    steps: int

    @property
    def mean_before(self) -> float:
        return float(np.mean(self.masked_before[self.audible])) if self.audible.any() else float("nan")

    @property
    def mean_after(self) -> float:
        return float(np.mean(self.masked_after[self.audible])) if self.audible.any() else float("nan")


class SeparationModel:
    """The masking model of a session's sources as a function of their pans, widths and EQ gains.

    Each source is given as three band-power patterns of its strip rendered centred at its
    fader and its start width ``w0``: ``A = |M|²``, ``S = |S|²`` and ``D = (|L|² − |R|²) / 2``
    with ``M = (L + R)/2`` and ``S = (L − R)/2`` (a mono source: ``S = D = 0``). At width
    ``w = r·w0`` and pan θ the console gives, per band and frame, exactly::

        |L'|² = 2 cos² θ (A + r² S + r D)      |R'|² = 2 sin² θ (A + r² S − r D)

    (the width is a gain on the side signal, the pan a balance; see
    :func:`~mixassist.console.dsp.spatial.pan_width`). The EQ scales every band by its
    response at the band centre. Each source's power is then brought back to its start value:
    EQ and width shape and place, they do not level (the balance runs again afterwards).

    Parameters
    ----------
    parts : numpy.ndarray
        ``(sources, 3, frames, bands)``: ``A``, ``S``, ``D`` above, scaled to the listening
        level; at most :data:`MAX_FRAMES` evenly spaced frames are kept.
    start_width : numpy.ndarray
        ``(sources,)`` the width the parts were rendered at (1 for mono sources).
    eq_freq_hz, eq_q : numpy.ndarray
        ``(sources, 6)`` the EQ slots' frequencies and Qs (fixed).
    sample_rate : int
    """

    def __init__(
        self, parts: np.ndarray, start_width: np.ndarray, eq_freq_hz: np.ndarray, eq_q: np.ndarray, sample_rate: int
    ) -> None:
        if parts.ndim != 4 or parts.shape[1] != 3:
            raise InvalidParameterError(f"parts has shape {parts.shape}; expected (sources, 3, frames, bands)")
        step = max(1, math.ceil(parts.shape[2] / MAX_FRAMES))
        self.parts = torch.as_tensor(np.ascontiguousarray(parts[:, :, ::step]), dtype=torch.float64)
        self.start_width = torch.as_tensor(start_width, dtype=torch.float64)
        self.start_power = self._power(torch.ones(len(self.parts), dtype=torch.float64))
        self.eq_freq_hz = torch.as_tensor(eq_freq_hz, dtype=torch.float64)
        self.eq_q = torch.as_tensor(eq_q, dtype=torch.float64)
        self.sample_rate = int(sample_rate)

    def _power(self, ratio: torch.Tensor, shape: torch.Tensor | None = None) -> torch.Tensor:
        """``(sources,)`` mean power, both ears, centred, at width ratio ``ratio`` and EQ ``shape``."""
        mean = self.parts[:, :2].mean(dim=2)  # (S, 2, B)
        both = 2.0 * (mean[:, 0] + ratio[:, None] ** 2 * mean[:, 1])
        return (both if shape is None else both * shape).sum(-1).clamp_min(1e-30)

    def placed(
        self,
        pan: torch.Tensor,
        width: torch.Tensor,
        eq_db: torch.Tensor,
        eq_freq_hz: torch.Tensor | None = None,
        eq_q: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """``(sources, 2, frames, bands)`` band powers at each ear with ``pan``, ``width`` (absolute)
        and ``eq_db`` applied, each source's power held at its start value."""
        ratio = width / self.start_width.clamp_min(1e-9)
        freq = self.eq_freq_hz if eq_freq_hz is None else eq_freq_hz
        q = self.eq_q if eq_q is None else eq_q
        shape = 10.0 ** (eq_response_db(eq_db, freq, q, self.sample_rate) / 10.0)  # (S, B)
        shape = shape * (self.start_power / self._power(ratio, shape))[:, None]
        a, side, d = self.parts[:, 0], self.parts[:, 1], self.parts[:, 2]
        r = ratio[:, None, None]
        ears = torch.stack([a + r**2 * side + r * d, a + r**2 * side - r * d], dim=1).clamp_min(0.0)
        return ears * pan_power(pan)[:, :, None, None] * shape[:, None, None, :]

    def masked(
        self,
        pan: torch.Tensor,
        width: torch.Tensor,
        eq_db: torch.Tensor,
        eq_freq_hz: torch.Tensor | None = None,
        eq_q: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Masked fraction per source and the mix's left/right power imbalance (dB)."""
        frac, imbalance_db, _ = self.measure(pan, width, eq_db, eq_freq_hz, eq_q)
        return frac, imbalance_db

    def measure(
        self,
        pan: torch.Tensor,
        width: torch.Tensor,
        eq_db: torch.Tensor,
        eq_freq_hz: torch.Tensor | None = None,
        eq_q: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Masked fraction per source, the mix's left/right power imbalance (dB) and its
        long-term band powers ``(bands,)`` (both ears)."""
        placed = self.placed(pan, width, eq_db, eq_freq_hz, eq_q)
        ears = placed.sum(dim=(0, 2, 3))
        imbalance_db = 10.0 * torch.log10(ears[0].clamp_min(1e-30) / ears[1].clamp_min(1e-30))
        masked = loudness_in_mix_torch(placed, dtype=SEARCH_DTYPE).masked_fraction.to(torch.float64)
        return masked, imbalance_db, placed.sum(dim=(0, 1)).mean(0)

    def solo_sone(self) -> np.ndarray:
        """``(sources,)`` solo loudness at the start settings (centred, flat), sone."""
        with torch.no_grad():
            flat = torch.zeros_like(self.eq_freq_hz)
            placed = self.placed(torch.zeros(len(flat), dtype=torch.float64), self.start_width, flat)
            return loudness_in_mix_torch(placed).solo_sone.numpy()


@single_threaded()
def separate(
    model: SeparationModel,
    start_pan: np.ndarray,
    pan_bounds: np.ndarray,
    width_bounds: np.ndarray,
    start_eq_db: np.ndarray,
    eq_bounds: np.ndarray,
    *,
    stereo: np.ndarray | None = None,
    eq_limit_db: float = 6.0,
    eq_cost: float = 0.1,
    imbalance_cost: float = 0.02,
    tone_cost: float = 0.0,
    eq_tune: np.ndarray | None = None,
    steps: int = 120,
    learning_rate: float = 0.2,
    progress: Callable[[float], None] | None = None,
) -> Separation:
    """Choose pans, widths and EQ gains (and bands) that lower the sources' mean masked fraction.

    Parameters
    ----------
    model : SeparationModel
    start_pan : numpy.ndarray
        ``(sources,)`` pans to start from (the fixed ones stay there).
    pan_bounds : numpy.ndarray
        ``(sources, 2)`` lowest and highest pan allowed; equal values fix the pan.
    width_bounds : numpy.ndarray
        ``(sources, 2)`` lowest and highest width; the search starts at the model's start width
        (equal values fix it).
    start_eq_db : numpy.ndarray
        ``(sources, 6)`` EQ gains to start from.
    eq_bounds : numpy.ndarray
        ``(sources, 6, 2)`` bounds per EQ gain; equal values fix it.
    stereo : numpy.ndarray, optional
        ``(sources,)`` bool: stereo stems, whose pan is also held within
        :func:`stereo_reach` of their width.
    eq_limit_db : float
        Scale of the EQ cost: a gain of ``eq_limit_db`` on every free band costs ``eq_cost``.
    eq_cost, imbalance_cost, tone_cost : float
        Weights, in units of mean masked fraction: ``eq_cost · mean((g / eq_limit_db)²)`` over the
        free gains, ``imbalance_cost · (imbalance_db / 1 dB)²`` and ``tone_cost`` times the
        level-weighted mean over bands of the squared change (dB) of the mix's long-term band
        power (bands within 30 dB of the strongest, weighted by how far above that floor).
    eq_tune : numpy.ndarray, optional
        ``(sources, 6)`` bool: free EQ slots whose frequency (±:data:`TUNE_OCTAVES` octaves) and
        Q (×2^±:data:`TUNE_Q_OCTAVES`) are searched too (the peaking bands, typically).
    steps, learning_rate : int, float
        Adam steps on the unconstrained (logistic) view of each bounded setting.
    progress : callable, optional
        ``progress(fraction)``.

    Returns
    -------
    Separation
        The best settings seen (lowest objective), never worse than the start.
    """
    n = model.parts.shape[0]
    pan_lo, pan_hi = (torch.as_tensor(pan_bounds[:, k], dtype=torch.float64) for k in (0, 1))
    w_lo, w_hi = (torch.as_tensor(width_bounds[:, k], dtype=torch.float64) for k in (0, 1))
    eq_lo, eq_hi = (torch.as_tensor(eq_bounds[..., k], dtype=torch.float64) for k in (0, 1))
    coupled = torch.as_tensor(stereo if stereo is not None else np.zeros(n, bool))
    pan_free, w_free, eq_free = pan_hi > pan_lo, w_hi > w_lo, eq_hi > eq_lo
    pan0 = torch.as_tensor(start_pan, dtype=torch.float64).clamp(pan_lo, pan_hi)
    w0 = model.start_width.clamp(w_lo, w_hi)
    eq0 = torch.as_tensor(start_eq_db, dtype=torch.float64).clamp(eq_lo, eq_hi)
    audible = torch.as_tensor(model.solo_sone() >= SILENT_SONE)

    def logit(value: torch.Tensor, lo: torch.Tensor, hi: torch.Tensor) -> torch.Tensor:
        u = ((value - lo) / torch.where(hi > lo, hi - lo, torch.ones_like(hi))).clamp(1e-3, 1 - 1e-3)
        return torch.log(u / (1 - u))

    def boxed(
        z: torch.Tensor, lo: torch.Tensor, hi: torch.Tensor, free: torch.Tensor, fixed: torch.Tensor
    ) -> torch.Tensor:
        return torch.where(free, lo + (hi - lo) * torch.sigmoid(z), fixed)

    z_pan = logit(pan0, pan_lo, pan_hi)
    # a stereo stem's pan is a share of its reach at the current width: z maps to (-1, 1)
    share0 = (pan0 / stereo_reach(w0)).clamp(-0.999, 0.999)
    z_pan = torch.where(coupled, torch.atanh(share0), z_pan).requires_grad_(True)
    z_w = logit(w0, w_lo, w_hi).requires_grad_(True)
    z_eq = logit(eq0, eq_lo, eq_hi).requires_grad_(True)
    tune = torch.as_tensor(eq_tune if eq_tune is not None else np.zeros(eq0.shape, bool)) & eq_free
    z_f = torch.zeros_like(eq0, requires_grad=True)  # octaves from the slot's frequency, through tanh
    z_q = torch.zeros_like(eq0, requires_grad=True)

    def tuned() -> tuple[torch.Tensor, torch.Tensor]:
        freq = torch.where(tune, model.eq_freq_hz * 2.0 ** (TUNE_OCTAVES * torch.tanh(z_f)), model.eq_freq_hz)
        q = torch.where(tune, model.eq_q * 2.0 ** (TUNE_Q_OCTAVES * torch.tanh(z_q)), model.eq_q)
        return freq, q

    def settings() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        width = boxed(z_w, w_lo, w_hi, w_free, w0)
        pan = boxed(z_pan, pan_lo, pan_hi, pan_free, pan0)
        held = torch.minimum(torch.maximum(stereo_reach(width) * torch.tanh(z_pan), pan_lo), pan_hi)
        pan = torch.where(coupled & pan_free, held, pan)
        return pan, width, boxed(z_eq, eq_lo, eq_hi, eq_free, eq0)

    n_eq = max(int(eq_free.sum()), 1)
    eq_scale = eq_limit_db if eq_limit_db > 0 else 1.0  # no EQ allowed: the cost is 0 whatever the scale

    with torch.no_grad():
        tone0 = model.measure(pan0, w0, eq0)[2]
        # bands that carry the mix's tone: within 30 dB of its strongest, weighted by level
        level_db = 10.0 * torch.log10(tone0.clamp_min(1e-30))
        tone_weight = torch.clamp((level_db - level_db.max() + 30.0) / 30.0, min=0.0)
        tone_weight = tone_weight / tone_weight.sum().clamp_min(1e-30)

    def objective(
        pan: torch.Tensor, width: torch.Tensor, eq: torch.Tensor, balance: bool = True
    ) -> tuple[torch.Tensor, torch.Tensor]:
        frac, imbalance, tone = model.measure(pan, width, eq, *tuned())
        loss = frac[audible].mean() if bool(audible.any()) else frac.sum() * 0.0
        loss = loss + eq_cost * ((eq * eq_free) ** 2).sum() / n_eq / eq_scale**2
        loss = loss + (imbalance_cost * imbalance**2 if balance else 0.0)
        tilt_db = 10.0 * torch.log10(tone.clamp_min(1e-30) / tone0.clamp_min(1e-30))
        loss = loss + tone_cost * (tone_weight * tilt_db**2).sum()
        return loss, frac

    with torch.no_grad():
        start_loss, start_frac = objective(pan0, w0, eq0)
        freq0, q0 = tuned()
        best: tuple[float, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor] = (
            float(start_loss),
            pan0.clone(),
            w0.clone(),
            eq0.clone(),
            start_frac.clone(),
            freq0.detach(),
            q0.detach(),
        )
        # A free pan that starts exactly centred sits on a saddle when the rest of the mix is
        # symmetric (the gradient is 0 there): the search starts it a little to whichever side
        # masks less, one source after another (judged without the balance cost: one source
        # moved alone always unbalances the mix, and the search rebalances it with the others).
        # The given start stays the reference the result must beat.
        for s in np.nonzero((pan_free & (pan0.abs() < 1e-9)).numpy())[0]:
            trials = []
            for side in (-1.0, 1.0):
                trial = pan0.clone()
                trial[s] = torch.tensor(side * _NUDGE, dtype=torch.float64).clamp(pan_lo[s], pan_hi[s])
                trials.append((float(objective(trial, w0, eq0, balance=False)[0]), side))
            pan0[s] = torch.tensor(min(trials)[1] * _NUDGE, dtype=torch.float64).clamp(pan_lo[s], pan_hi[s])
            z_pan.data[s] = torch.atanh(pan0[s] / stereo_reach(w0[s])) if coupled[s] else logit(pan0, pan_lo, pan_hi)[s]
    free = [
        z for z, f in ((z_pan, pan_free), (z_w, w_free), (z_eq, eq_free), (z_f, tune), (z_q, tune)) if bool(f.any())
    ]
    taken = 0
    if free and n > 1:
        opt = torch.optim.Adam(free, lr=learning_rate)
        for k in range(steps):
            opt.zero_grad()
            pan, width, eq = settings()
            loss, frac = objective(pan, width, eq)
            if not torch.isfinite(loss):  # pragma: no cover - the model is finite for finite powers
                log.warning("separation: the objective became %s at step %d; keeping the best settings so far", loss, k)
                break
            if float(loss.detach()) < best[0]:
                freq_now, q_now = tuned()
                best = (
                    float(loss.detach()),
                    pan.detach().clone(),
                    width.detach().clone(),
                    eq.detach().clone(),
                    frac.detach().clone(),
                    freq_now.detach().clone(),
                    q_now.detach().clone(),
                )
            loss.backward()
            opt.step()
            taken = k + 1
            if progress is not None:
                progress(taken / steps)
    _, pan, width, eq, frac, freq, q = best
    aud = audible.numpy()
    nan = np.full(n, np.nan)
    return Separation(
        pan=pan.numpy().copy(),
        width=width.numpy().copy(),
        eq_db=eq.numpy().copy(),
        eq_freq_hz=freq.numpy().copy(),
        eq_q=q.numpy().copy(),
        masked_before=np.where(aud, start_frac.numpy(), nan),
        masked_after=np.where(aud, frac.numpy(), nan),
        audible=aud,
        steps=taken,
    )
