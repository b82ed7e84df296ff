"""The closed-form start of reverse mixing: per-bin transfer functions, then fader and EQ fitted to them.

Over a long excerpt, the short-time spectrum of each mix channel is regressed on the spectra of
every stem channel (ridge-regularised complex least squares per bin); for a linear mix the
transfer functions are exact. Fader and EQ gains are then fitted to their magnitude with the
console's own filter designs. See ``docs/reverse.md``.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from mixassist.console.console import eq_sos
from mixassist.console.dsp.biquad import highpass_sos, lowpass_sos, sos_response_db
from mixassist.console.params import MixParams
from mixassist.console.schema import EQ_BANDS, params_for
from mixassist.mixers.constraints import Constraints
from mixassist.mixers.reverse_refine import EQ_GAINS

__all__ = ["EQ_RIDGE", "LOWPASS_GAIN", "band_shapes", "common_lowpass", "fit_gain_eq", "side_start", "stft", "transfer"]

#: Ridge on EQ band gains, per dB², in the closed-form response fit (dB² of misfit) and in the
#: refinement (loss units).  Within a track's band the fader and the six EQ bands are nearly
#: collinear (three bells can add up to a constant); the ridge picks the flattest EQ.
EQ_RIDGE = 3e-3


def stft(x: torch.Tensor, n_fft: int) -> torch.Tensor:
    """Complex STFT ``(..., bins, frames)``: Hann, hop ``n_fft // 4``, not centred."""
    return torch.stft(
        x, n_fft, n_fft // 4, window=torch.hann_window(n_fft, dtype=x.dtype), center=False, return_complex=True
    )


def transfer(stems: list[np.ndarray], mix: np.ndarray, n_fft: int) -> tuple[torch.Tensor, torch.Tensor, np.ndarray]:
    """Per-bin least squares ``mix ≈ Σ H · stem``.

    Returns ``H`` ``(F, K, 2)`` complex (K = stem channels), the stems' powers ``(K, F)`` and
    the stem-channel owner of each row ``(K,)``.
    """
    rows, owner = [], []
    for i, audio in enumerate(stems):
        for c in range(audio.shape[0]):
            rows.append(audio[c])
            owner.append(i)
    x = stft(torch.from_numpy(np.stack(rows)).double(), n_fft)  # (K, F, T)
    y = stft(torch.from_numpy(mix).double(), n_fft)  # (2, F, T)
    xf = x.permute(1, 2, 0)  # (F, T, K)
    yf = y.permute(1, 2, 0)  # (F, T, 2)
    a = xf.mH @ xf  # (F, K, K)
    b = xf.mH @ yf  # (F, K, 2)
    diag = torch.diagonal(a, dim1=-2, dim2=-1).real
    # Per-regressor Tikhonov (scale-invariant: shrinks each transfer by ~0.1 %, whatever the
    # stem's level in that bin), plus a floor for stems with no energy in a bin.
    ridge = 1e-3 * diag + 1e-12 * diag.amax(dim=-1, keepdim=True).clamp_min(1e-30)
    a = a + torch.diag_embed(ridge.to(a.dtype))
    h = torch.linalg.solve(a, b)
    power = (x.abs() ** 2).mean(dim=-1)  # (K, F)
    return h, power, np.asarray(owner)


def band_shapes(sample_rate: int, freqs: torch.Tensor) -> torch.Tensor:
    """``(6, F)``: dB response of each EQ band at +1 dB (defaults for Hz and Q)."""
    p = params_for("track")
    shapes = []
    for band, *_ in EQ_BANDS:
        settings = {
            k: torch.tensor([v.default if v.default is not None else math.nan], dtype=torch.float64)
            for k, v in p.items()
        }
        settings[f"eq_{band}_db"] = torch.tensor([6.0], dtype=torch.float64)
        shapes.append(sos_response_db(eq_sos(settings, sample_rate, hpf=False), freqs, sample_rate)[0] / 6.0)
    return torch.stack(shapes)


def fit_gain_eq(
    params: MixParams,
    live_names: list[str],
    target_db: torch.Tensor,
    weights: torch.Tensor,
    freqs: torch.Tensor,
    shapes: torch.Tensor,
    sample_rate: int,
    estimates: dict[str, dict[str, float]],
    inflation: dict[str, dict[str, float]],
    constraints: Constraints,
) -> None:
    """Fit ``gain_db`` and the EQ band gains of each live track to its measured response (dB).

    Weighted least squares on ``gain_db + EQ(f)`` with the console's own filter designs;
    locked values (and locked high-pass, Hz, Q) are part of the model.  Writes ``estimates``.
    """
    sub = MixParams(live_names, tracks={n: params.tracks[n] for n in live_names})
    base = sub.track_tensors(torch.float64)
    keys = ("gain_db", *EQ_GAINS)
    locked = torch.tensor([[constraints.is_locked(n, k) for k in keys] for n in live_names])
    fixed = torch.stack([base[k] for k in keys], dim=1)
    finite = torch.isfinite(target_db)
    w = weights * finite
    tdb = torch.where(finite, target_db, torch.zeros_like(target_db))
    # Start: gain from the weighted mean level, EQ flat.
    g0 = (w * tdb).sum(dim=1) / w.sum(dim=1).clamp_min(1e-12)
    x = torch.zeros_like(fixed)
    x[:, 0] = g0
    x = torch.where(locked, fixed, x).clone().requires_grad_(True)
    hpf = bool(torch.isfinite(base["hpf_hz"]).any())

    def objective() -> torch.Tensor:
        vals = torch.where(locked, fixed, x)
        p = dict(base)
        for c, k in enumerate(EQ_GAINS, start=1):
            p[k] = vals[:, c].clamp(-18.0, 18.0)
        resp = sos_response_db(eq_sos(p, sample_rate, hpf=hpf), freqs, sample_rate)  # (N, F)
        err = tdb - (vals[:, :1] + resp)
        data = (w * err**2).sum(dim=1) / w.sum(dim=1).clamp_min(1e-12)
        return data.sum() + EQ_RIDGE * (vals[:, 1:] ** 2).sum()

    opt = torch.optim.LBFGS(
        [x], lr=1.0, max_iter=200, tolerance_grad=1e-9, tolerance_change=1e-12, line_search_fn="strong_wolfe"
    )

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = objective()
        loss.backward()
        return loss

    opt.step(closure)
    vals = torch.where(locked, fixed, x.detach())
    # Variance inflation of each setting in the linearised fit: how much its uncertainty grows
    # because other settings can take its place (1 = independent; see reverse_mix Notes).
    jac = torch.cat([torch.ones(1, shapes.shape[1], dtype=shapes.dtype), shapes]).T  # (F, 7)
    for r, name in enumerate(live_names):
        wn = w[r] / w[r].sum().clamp_min(1e-12)
        hess = jac.T @ (wn[:, None] * jac)
        free = ~locked[r]
        free_keys = [k for k, f in zip(keys, free.tolist()) if f]
        ridge = torch.tensor([0.0 if k == "gain_db" else EQ_RIDGE for k in free_keys], dtype=hess.dtype)
        h_free = hess[free][:, free] + torch.diag(ridge)
        inv = torch.linalg.inv(h_free + 1e-12 * torch.eye(h_free.shape[0], dtype=hess.dtype))
        diag_h = torch.diagonal(h_free)
        for k, vif in zip(free_keys, (diag_h * torch.diagonal(inv)).tolist()):
            inflation[name][k] = max(1.0, float(vif))
    table = params_for("track")
    for r, name in enumerate(live_names):
        for c, key in enumerate(keys):
            spec = table[key]
            estimates[name][key] = float(np.clip(float(vals[r, c]), spec.minimum, spec.maximum))


#: A common low-pass is taken into the start only when it removes at least this fraction of the
#: misfit (weighted mean square, dB²) between the tracks' shared response and a flat one.
LOWPASS_GAIN = 0.5


def common_lowpass(
    targets_db: torch.Tensor, stem_power: torch.Tensor, freqs: torch.Tensor, sample_rate: int
) -> float | None:
    """The master low-pass corner (Hz) that the tracks' transfers share, or ``None``.

    ``targets_db`` ``(tracks, F)`` are the tracks' transfer magnitudes in dB and ``stem_power``
    ``(tracks, F)`` the stems' own powers.  Each track's response is taken relative to its median
    over 200 Hz-2 kHz; the shared response is the mean over the tracks, weighted by where each
    stem has energy (within 50 dB of its peak: a roll-off shows where the stem plays, whatever
    the mix keeps).  Candidate corners from 1 kHz to 0.45 × the rate are fitted with the
    console's own 24 dB/octave Butterworth (:func:`lowpass_sos`), from 500 Hz up; the best is
    kept when it removes :data:`LOWPASS_GAIN` of the misfit of "no low-pass".
    """
    top = 0.45 * sample_rate
    low = (freqs >= 200.0) & (freqs <= 2000.0)
    use = (freqs >= 500.0) & (freqs <= top)
    if not bool(low.any()) or int(use.sum()) < 8:
        return None
    level = 10 * torch.log10(stem_power.clamp_min(1e-30))
    w = (level - (level.amax(dim=-1, keepdim=True) - 50.0)).clamp(0.0, 50.0) / 50.0  # (tracks, F)
    rel = targets_db - targets_db[:, low].median(dim=-1, keepdim=True).values
    shared = (w * rel).sum(dim=0) / w.sum(dim=0).clamp_min(1e-12)
    weight = w.sum(dim=0) * use
    if float(weight.sum()) <= 0.0:
        return None
    flat = float((weight * shared**2).sum() / weight.sum())
    best: tuple[float, float] | None = None
    for corner in np.geomspace(1000.0, top, 48):
        response = sos_response_db(lowpass_sos(float(corner), sample_rate), freqs, sample_rate)[0]
        misfit = float((weight * (shared - response.clamp_min(-60.0)) ** 2).sum() / weight.sum())
        if best is None or misfit < best[1]:
            best = (float(corner), misfit)
    if best is None or best[1] > (1.0 - LOWPASS_GAIN) * flat:
        return None
    return best[0]


def side_start(y: torch.Tensor, target: torch.Tensor, sample_rate: int) -> tuple[float, float | None]:
    """Closed-form start of the master's mid/side stage: ``(side_gain_db, side_hpf_hz or None)``.

    ``y`` is the start settings' render and ``target`` the given mix, ``(..., 2, samples)``.  The
    side-to-mid ratio the mix needs, ``r(f)`` = the target's minus the render's (dB, per STFT bin),
    is fitted with a gain plus the console's 12 dB/octave side high-pass
    (:func:`~mixassist.console.dsp.biquad.highpass_sos`, order 2) at corners from 20 Hz to 1 kHz,
    weighted by where the render has side energy (within 50 dB of its peak, 40 Hz to 0.45 × the
    rate); the high-pass is kept when it removes a third of the misfit of the gain alone.
    """
    n_fft = max(256, 1 << int(round(math.log2(0.093 * sample_rate))))

    def mid_side_power(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = x.detach().double().reshape(-1, 2, x.shape[-1])
        mid, side = 0.5 * (x[:, 0] + x[:, 1]), 0.5 * (x[:, 0] - x[:, 1])
        return (stft(mid, n_fft).abs() ** 2).mean(dim=(0, -1)), (stft(side, n_fft).abs() ** 2).mean(dim=(0, -1))

    (my, sy), (mt, st) = mid_side_power(y), mid_side_power(target)
    freqs = torch.fft.rfftfreq(n_fft, 1.0 / sample_rate).double()
    db = lambda p: 10 * torch.log10(p.clamp_min(1e-20))  # noqa: E731
    need = (db(st) - db(mt) - (db(sy) - db(my))).clamp(-60.0, 30.0)
    level = db(sy)
    weight = ((level - (level.max() - 50.0)) / 50.0).clamp(0.0, 1.0) * (freqs >= 40.0) * (freqs <= 0.45 * sample_rate)
    if float(weight.sum()) <= 0.0:
        return 0.0, None

    def fit(shape: torch.Tensor) -> tuple[float, float]:
        gain = float((weight * (need - shape)).sum() / weight.sum())
        gain = min(max(gain, -40.0), 12.0)
        return gain, float((weight * (need - shape - gain) ** 2).sum() / weight.sum())

    plain_gain, plain_misfit = fit(torch.zeros_like(need))
    best: tuple[float, float, float | None] = (plain_gain, plain_misfit, None)
    for corner in np.geomspace(20.0, 1000.0, 30):
        shape = sos_response_db(highpass_sos(float(corner), sample_rate, order=2), freqs, sample_rate)[0]
        gain, misfit = fit(shape.clamp_min(-60.0))
        if misfit < best[1]:
            best = (gain, misfit, float(corner))
    if best[2] is not None and best[1] > (2.0 / 3.0) * plain_misfit:
        return plain_gain, None
    return best[0], best[2]
