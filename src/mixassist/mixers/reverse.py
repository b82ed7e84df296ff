"""Reverse mixing: recover the console settings that reproduce a finished mix.

Given the stems and a finished stereo mix of them (sample-aligned), :func:`reverse_mix` finds
:class:`~mixassist.console.params.MixParams` such that our console, fed the stems, renders
(close to) that mix, and says how sure it is of each setting.

Method
------
1. **Closed-form start.**  Over a long excerpt, the short-time spectrum of each mix channel
   is regressed on the spectra of every stem channel, one complex least-squares problem per
   frequency bin (ridge-regularised): ``M_c(f, t) ≈ Σ_k H_kc(f) X_k(f, t)``.  For a linear
   mix (fader, EQ, pan, width) the transfer functions ``H`` are exact.  From them:

   * pan from the energy split of each track between L and R (the inverse of the
     constant-power law of :func:`~mixassist.console.dsp.spatial.pan_width`);
   * width of stereo stems from the ratio of the side to the mid transfer;
   * fader gain and the six EQ band gains by fitting ``gain_db + EQ(f)`` (the console's own
     biquad designs, :func:`~mixassist.console.dsp.biquad.sos_response_db`) to the measured
     ``|H(f)|`` in dB, weighted by where the track has energy.

2. **Refinement.**  Adam on the normalised settings (see
   :meth:`~mixassist.console.schema.Param.to_normalised`) of gain, pan, width and the six EQ
   band gains of every track (optionally the master EQ gains and output gain), rendering
   excerpts from several places in the song through :meth:`Console.render_tensors` (the one
   renderer) and minimising :func:`mrstft_loss` plus a small level term.  Each excerpt is
   rendered after a short pre-roll so the filters are warm; the pre-roll is not scored.
   The best settings seen are kept, so refinement never makes the fit worse on the excerpts.

3. **Confidence.**  See :func:`reverse_mix`.

Degeneracy: master EQ gains at the default band frequencies, and the master output gain, are
exactly redundant with moving every track together.  By default the master stays where it
starts (neutral or locked) and the tracks carry everything; ``fit_master=True`` also fits it,
with a prior that keeps it near its start, which matters only when track settings are locked.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from mixassist.audio.multitrack import Multitrack
from mixassist.console.console import Console, ConsoleSettings, eq_sos
from mixassist.console.dsp.biquad import sos_response_db
from mixassist.console.params import MixParams
from mixassist.console.schema import EQ_BANDS, params_for
from mixassist.errors import InvalidAudioError, InvalidParameterError
from mixassist.measure import mrstft_distance
from mixassist.mixers.constraints import Constraints

__all__ = ["ReverseResult", "reverse_mix", "mrstft_loss", "FIT_TRACK", "FIT_MASTER", "LENGTH_SLACK_S"]

log = logging.getLogger(__name__)

EQ_GAINS = tuple(f"eq_{band}_db" for band, *_ in EQ_BANDS)
#: Track settings reverse fits (everything else stays as it starts: neutral, or locked).
FIT_TRACK = ("gain_db", "pan", "width", *EQ_GAINS)
#: Master settings fitted with ``fit_master=True``.
FIT_MASTER = (*EQ_GAINS, "output_gain_db")
#: A mix this much longer or shorter than the stems is trimmed or padded (with a note);
#: more is refused.
LENGTH_SLACK_S = 1.0
#: Loss FFT sizes (samples at 44.1 kHz; scaled with the sample rate).
LOSS_FFT_SIZES = (512, 1024, 2048)
#: Step, in normalised units, of the curvature probe behind the confidence.
CONFIDENCE_STEP = 0.05
#: Loss rise at which confidence is one half (see :func:`reverse_mix`).
CONFIDENCE_SCALE = 0.01
#: Energy-weighted EQ-band sensitivity below which a band has "no energy" (confidence 0).
BAND_ENERGY_MIN = 0.05
#: Ridge on EQ band gains, per dB², in the closed-form response fit (dB² of misfit) and in the
#: refinement (loss units).  Within a track's band the fader and the six EQ bands are nearly
#: collinear (three bells can add up to a constant); the ridge picks the flattest EQ.
EQ_RIDGE = 3e-3
EQ_PRIOR = 1e-5
_SILENT_PEAK = 1e-6  # -120 dBFS
_PREROLL_S = 0.1

# Adam step sizes, in physical units per step (converted to normalised units per setting).
_STEP = {"gain_db": 0.1, "pan": 0.005, "width": 0.01, "eq": 0.15, "output_gain_db": 0.05}


# --------------------------------------------------------------------------- loss
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
        spec = lambda x: torch.stft(x, n_fft, n_fft // 4, window=window, center=True, return_complex=True)  # noqa: E731
        sy = torch.sqrt(torch.clamp(spec(y2).abs() ** 2, min=1e-8))
        st = torch.sqrt(torch.clamp(spec(t2).abs() ** 2, min=1e-8))
        sc = torch.linalg.vector_norm(sy - st, dim=(-2, -1)) / torch.linalg.vector_norm(st, dim=(-2, -1)).clamp_min(
            1e-8
        )
        logmag = (torch.log(sy) - torch.log(st)).abs().mean(dim=(-2, -1))
        total = total + (sc + logmag).mean()
    return total / len(sizes)


def _level_term(y: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Squared level difference in units of 10 dB (mean power over everything)."""
    py = y.pow(2).mean().clamp_min(1e-12)
    pt = target.pow(2).mean().clamp_min(1e-12)
    return (10.0 * torch.log10(py / pt) / 10.0) ** 2


# --------------------------------------------------------------------------- result
@dataclass
class ReverseResult:
    """What :func:`reverse_mix` recovered.

    Attributes
    ----------
    params : MixParams
        The recovered settings (locks applied exactly).
    confidence : dict
        ``{section: {param: c}}``, ``c`` in 0…1, for every fitted setting (and 1.0 for locked
        ones); a section is a track name or ``"master"``.
    loss_history : list of float
        Loss on the excerpts at each refinement step (step 0 = the closed-form start).
    mrstft : float or None
        :func:`mixassist.evaluate.metrics.mrstft_distance` of the full-length re-render against
        the given mix.
    mix : np.ndarray
        float32 ``(2, samples)``: the full-length re-render.
    start : MixParams
        The closed-form estimate the refinement started from.
    why : dict
        ``{section: {param: text}}``: how each setting was found.
    notes : list of str
        Session-wide remarks (trimmed mix, silent stems, stopped by the time budget …).
    band_energy : dict
        ``{track: {eq_*_db: e}}``: energy-weighted sensitivity of the track's spectrum to each
        EQ band (1 = all of its energy is where the band acts fully).
    wall_s : float
        Seconds taken.
    """

    params: MixParams
    confidence: dict[str, dict[str, float]]
    loss_history: list[float]
    mrstft: float | None
    mix: np.ndarray
    start: MixParams
    why: dict[str, dict[str, str]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    band_energy: dict[str, dict[str, float]] = field(default_factory=dict)
    wall_s: float = 0.0

    def __repr__(self) -> str:
        mr = "None" if self.mrstft is None else f"{self.mrstft:.3f}"
        return f"ReverseResult({len(self.params.track_names)} tracks, mrstft={mr}, steps={len(self.loss_history)})"


# --------------------------------------------------------------------------- input checks
def _check_mix(mix_audio: Any, multitrack: Multitrack, notes: list[str]) -> np.ndarray:
    mix = np.asarray(mix_audio, dtype=np.float32)
    if mix.ndim == 1:
        mix = mix[None, :]
    if mix.ndim != 2 or mix.shape[0] not in (1, 2):
        raise InvalidAudioError(f"the mix must be mono or stereo (channels, samples); got shape {mix.shape}")
    if not np.isfinite(mix).all():
        raise InvalidAudioError("the mix contains NaN/Inf samples")
    if mix.shape[0] == 1:
        mix = np.repeat(mix, 2, axis=0)
        notes.append("the mix is mono: fitted as left = right")
    n, m, sr = multitrack.num_samples, mix.shape[1], multitrack.sample_rate
    if m != n:
        diff_s = abs(m - n) / sr
        if diff_s > LENGTH_SLACK_S:
            raise InvalidAudioError(
                f"the mix is {m / sr:.2f} s long but the stems are {n / sr:.2f} s; reverse needs the mix of "
                f"exactly these stems, sample-aligned (trim or pad so they differ by at most {LENGTH_SLACK_S:g} s)"
            )
        if m > n:
            mix = mix[:, :n]
            notes.append(f"the mix is {diff_s:.3f} s longer than the stems: its end was ignored")
        else:
            mix = np.pad(mix, ((0, 0), (0, n - m)))
            notes.append(f"the mix is {diff_s:.3f} s shorter than the stems: compared as if it ended in silence")
    if not np.any(mix):
        raise InvalidAudioError("the mix is silent; there is nothing to recover settings from")
    return np.ascontiguousarray(mix)


def _piece_starts(n: int, piece: int, pieces: int, rng: np.random.Generator) -> list[int]:
    """``pieces`` start indices of ``piece`` samples spread over ``n``, jittered by ``rng``."""
    if piece * pieces >= n:
        return [0] if piece >= n else list(range(0, n - piece + 1, piece))[:pieces]
    slot = n // pieces
    return [int(i * slot + rng.integers(0, max(1, slot - piece + 1))) for i in range(pieces)]


# --------------------------------------------------------------------------- closed form
def _stft(x: torch.Tensor, n_fft: int) -> torch.Tensor:
    return torch.stft(
        x, n_fft, n_fft // 4, window=torch.hann_window(n_fft, dtype=x.dtype), center=False, return_complex=True
    )


def _transfer(stems: list[np.ndarray], mix: np.ndarray, n_fft: int) -> tuple[torch.Tensor, torch.Tensor, np.ndarray]:
    """Per-bin least squares ``mix ≈ Σ H · stem``.

    Returns ``H`` ``(F, K, 2)`` complex (K = stem channels), the stems' powers ``(K, F)`` and
    the stem-channel owner of each row ``(K,)``.
    """
    rows, owner = [], []
    for i, a in enumerate(stems):
        for c in range(a.shape[0]):
            rows.append(a[c])
            owner.append(i)
    x = _stft(torch.from_numpy(np.stack(rows)).double(), n_fft)  # (K, F, T)
    y = _stft(torch.from_numpy(mix).double(), n_fft)  # (2, F, T)
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


def _band_shapes(sample_rate: int, freqs: torch.Tensor) -> torch.Tensor:
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


# --------------------------------------------------------------------------- main entry
def reverse_mix(
    multitrack: Multitrack,
    mix_audio: np.ndarray,
    *,
    sample_rate: int | None = None,
    constraints: Constraints | None = None,
    seed: int = 0,
    time_budget_s: float | None = None,
    steps: int = 80,
    excerpt_s: float = 4.0,
    pieces: int = 4,
    analysis_s: float = 60.0,
    fit_master: bool = False,
    confidence: bool = True,
    progress: Callable[[str, float], None] | None = None,
) -> ReverseResult:
    """Recover console settings that make our console reproduce ``mix_audio`` from the stems.

    Parameters
    ----------
    multitrack : Multitrack
        The stems, sample-aligned with the mix.
    mix_audio : np.ndarray
        The finished mix, float ``(channels, samples)`` (mono or stereo) at the multitrack's
        rate; up to :data:`LENGTH_SLACK_S` longer or shorter than the stems (trimmed or padded,
        with a note), otherwise refused.
    sample_rate : int, optional
        The mix's rate in Hz; refused if it differs from ``multitrack.sample_rate``.
    constraints : Constraints, optional
        Locks (kept exactly, never changed by the fit; a locked setting reverse does not fit
        itself, e.g. ``hpf_hz`` or a compressor, becomes part of the model) and ranges.
    seed : int
        Picks the excerpts (their positions are jittered); same seed, same result.
    time_budget_s : float, optional
        Wall-clock budget: refinement stops early to fit it (the closed-form start, the
        confidence probes and the final full-length render always run).
    steps : int
        Adam steps of the refinement (0: closed-form estimate only).
    excerpt_s : float
        Total length of the excerpts rendered at each step (``pieces`` pieces).
    pieces : int
        Number of places in the song the excerpts come from.
    analysis_s : float
        Audio used by the closed-form start (the whole song if shorter).
    fit_master : bool
        Also fit the master EQ gains and output gain (see the module docstring).
    confidence : bool
        Compute the per-setting confidence (costs two renders per setting).
    progress : callable, optional
        ``progress(stage, fraction)``.

    Returns
    -------
    ReverseResult

    Notes
    -----
    **Confidence** of a fitted setting: with ``L`` the loss on the excerpts at the solution and
    ``L±`` the loss with only that setting moved by ±0.05 in normalised units (one-sided at a
    range end), the rise ``r = (L+ + L−)/2 − L`` (curvature times step², halved) gives
    ``c = r / (r + 0.01)``: 0 when moving the setting changes nothing audible in the fit,
    ½ when a ±0.05 move raises the loss by 0.01, → 1 for a sharply determined setting.  It is 0
    for every setting of a silent stem, for ``width`` of a mono stem, and for an EQ band where
    the track has no energy (energy-weighted band sensitivity below 0.05; ``band_energy``).
    Locked settings report 1.

    Raises
    ------
    InvalidParameterError
        Sample-rate mismatch, bad ``steps``/``excerpt_s``/``time_budget_s``.
    InvalidAudioError
        A mix that is not mono/stereo, not finite, silent, or whose length differs from the
        stems by more than :data:`LENGTH_SLACK_S`.

    Examples
    --------
    >>> result = reverse_mix(stems, mix_audio, seed=0)               # doctest: +SKIP
    >>> result.params.get("vox", "gain_db"), result.confidence["vox"]["gain_db"]  # doctest: +SKIP
    """
    threads = torch.get_num_threads()
    # The tensors here are small: intra-op threads cost more than they give (measured 10-15x
    # slower with 2 threads on 2 busy cores), so run single-threaded and restore afterwards.
    torch.set_num_threads(1)
    try:
        return _reverse_mix(
            multitrack,
            mix_audio,
            sample_rate=sample_rate,
            constraints=constraints,
            seed=seed,
            time_budget_s=time_budget_s,
            steps=steps,
            excerpt_s=excerpt_s,
            pieces=pieces,
            analysis_s=analysis_s,
            fit_master=fit_master,
            confidence=confidence,
            progress=progress,
        )
    finally:
        torch.set_num_threads(threads)


def _reverse_mix(
    multitrack: Multitrack,
    mix_audio: np.ndarray,
    *,
    sample_rate: int | None,
    constraints: Constraints | None,
    seed: int,
    time_budget_s: float | None,
    steps: int,
    excerpt_s: float,
    pieces: int,
    analysis_s: float,
    fit_master: bool,
    confidence: bool,
    progress: Callable[[str, float], None] | None,
) -> ReverseResult:
    t0 = time.monotonic()
    sr = multitrack.sample_rate
    if sample_rate is not None and int(sample_rate) != sr:
        raise InvalidParameterError(
            f"the mix is at {sample_rate} Hz but the stems are at {sr} Hz; resample one of them "
            "(the CLI loads the stems at the mix's rate unless --sample-rate says otherwise)"
        )
    if steps < 0:
        raise InvalidParameterError(f"steps={steps} must be 0 or more")
    if not excerpt_s > 0 or pieces < 1:
        raise InvalidParameterError(f"excerpt_s={excerpt_s} must be positive and pieces={pieces} at least 1")
    if time_budget_s is not None and not time_budget_s > 0:
        raise InvalidParameterError(f"time_budget_s={time_budget_s} must be positive")
    report = progress or (lambda stage, fraction: None)
    notes: list[str] = []
    why: dict[str, dict[str, str]] = {}
    mix = _check_mix(mix_audio, multitrack, notes)
    constraints = constraints or Constraints()
    names = multitrack.names
    n = multitrack.num_samples
    rng = np.random.default_rng(seed)
    torch_dtype = torch.float32

    silent = [float(np.max(np.abs(t.audio))) < _SILENT_PEAK for t in multitrack]
    live = [i for i, s in enumerate(silent) if not s]
    for i, s in enumerate(silent):
        if s:
            notes.append(f"'{names[i]}' is silent: its settings stay neutral (confidence 0)")
    if not live:
        raise InvalidAudioError("every stem is silent; there is nothing to fit")

    # ---------------------------------------------------------------- 1. closed form
    report("closed-form estimate", 0.0)
    params = constraints.apply(MixParams(names))
    start_params = params.copy()
    n_fft = 1 << int(round(math.log2(0.093 * sr)))
    length = min(n, int(analysis_s * sr))
    if length < 4 * n_fft:
        n_fft = max(256, 1 << int(math.log2(max(length // 4, 256))))
    if length < n:
        starts = _piece_starts(n, length // 4, 4, rng)
        idx = np.concatenate([np.arange(s, s + length // 4) for s in starts])
    else:
        idx = np.arange(n)
    stems_a = [multitrack.tracks[i].audio[:, idx] for i in live]
    h, power, owner = _transfer(stems_a, mix[:, idx], n_fft)
    freqs = torch.fft.rfftfreq(n_fft, 1.0 / sr).double()
    usable = (freqs >= 20.0) & (freqs <= 0.45 * sr)
    shapes = _band_shapes(sr, freqs)  # (6, F)

    estimates: dict[str, dict[str, float]] = {}
    targets_db, weights = [], []
    band_energy: dict[str, dict[str, float]] = {}
    for j, i in enumerate(live):
        rows = np.flatnonzero(owner == j)
        p_track = power[rows].sum(dim=0)  # (F,)
        if len(rows) == 1:
            hl, hr = h[:, rows[0], 0], h[:, rows[0], 1]
            sl, sr_ = hl, hr
            total = hl.abs() ** 2 + hr.abs() ** 2
            width = None
        else:
            kl, kr = rows
            sl = h[:, kl, 0] + h[:, kr, 0]
            sr_ = h[:, kl, 1] + h[:, kr, 1]
            dl = h[:, kl, 0] - h[:, kr, 0]
            dr = h[:, kr, 1] - h[:, kl, 1]
            total = (sl.abs() ** 2 + sr_.abs() ** 2) / 2.0
            side = torch.from_numpy(multitrack.tracks[i].audio[0, idx] - multitrack.tracks[i].audio[1, idx]).double()
            ps = (_stft(side, n_fft).abs() ** 2).mean(dim=-1) * usable
            den = float((ps * (sl.abs() ** 2 + sr_.abs() ** 2)).sum())
            num = float((ps * ((sl.conj() * dl).real + (sr_.conj() * dr).real)).sum())
            width = None if den <= 1e-30 else float(np.clip(num / den, 0.0, 2.0))
        level_db = 10 * torch.log10(p_track.clamp_min(1e-30))
        w = ((level_db - (level_db[usable].max() - 40.0)) / 40.0).clamp(0.0, 1.0) * usable
        wl = float((w * sl.abs() ** 2).sum())
        wr = float((w * sr_.abs() ** 2).sum())
        theta = math.atan2(math.sqrt(max(wr, 0.0)), math.sqrt(max(wl, 0.0)))
        est = {"pan": float(np.clip(4.0 * theta / math.pi - 1.0, -1.0, 1.0))}
        if width is not None:
            est["width"] = width
        estimates[names[i]] = est
        targets_db.append(10 * torch.log10(total.clamp_min(1e-30)))
        weights.append(w)
        pw = p_track * usable
        band_energy[names[i]] = {
            g: float((pw * shapes[b].abs()).sum() / pw.sum().clamp_min(1e-30)) for b, g in enumerate(EQ_GAINS)
        }
    inflation: dict[str, dict[str, float]] = {names[i]: {} for i in live}
    _fit_gain_eq(
        params,
        [names[i] for i in live],
        torch.stack(targets_db),
        torch.stack(weights),
        freqs,
        shapes,
        sr,
        estimates,
        inflation,
        constraints,
    )
    for name, est in estimates.items():
        for key, value in est.items():
            constraints.choose(params, name, key, value)
            why.setdefault(name, {})[key] = "closed-form least-squares estimate, refined against the mix"
    for i in live:
        if multitrack.tracks[i].channels == 1:
            why.setdefault(names[i], {}).pop("width", None)
    constraints.apply(params)
    start_params = params.copy()
    report("closed-form estimate", 1.0)

    # ---------------------------------------------------------------- 2. refinement
    piece = max(int(excerpt_s * sr / pieces), min(n, 2048))
    pre = int(_PREROLL_S * sr)
    starts = _piece_starts(n, piece, pieces, rng)
    segments = [(max(0, s - pre), s, min(n, s + piece)) for s in starts]
    seg_len = min(b - s for _, s, b in segments)
    segments = [(a, s, s + seg_len) for a, s, _ in segments]

    def cut(audio: np.ndarray) -> np.ndarray:
        return np.concatenate([audio[:, a:b] for a, _, b in segments], axis=1)

    tracks_t = [torch.from_numpy(np.ascontiguousarray(cut(t.audio))).to(torch_dtype) for t in multitrack]
    mix_cut = torch.from_numpy(cut(mix)).to(torch_dtype)
    offsets, pos = [], 0
    for a, s, b in segments:
        offsets.append(pos + (s - a))
        pos += b - a

    def scored(y: torch.Tensor) -> torch.Tensor:
        return torch.stack([y[:, o : o + seg_len] for o in offsets])  # (pieces, 2, seg_len)

    target = scored(mix_cut)
    console = Console(sr)
    free = _free_mask(params, multitrack, silent, constraints, fit_master)
    fit = Fit(params, free, fit_master, constraints, torch_dtype)

    def loss_of(z_track: torch.Tensor, z_master: torch.Tensor | None) -> torch.Tensor:
        settings = fit.settings(z_track, z_master)
        y, _ = console.render_tensors(tracks_t, settings)
        y = scored(y)
        loss = mrstft_loss(y, target, sr) + 0.1 * _level_term(y, target) + EQ_PRIOR * fit.eq_db(z).pow(2).sum()
        if z_master is not None:  # keep the master near its start (gauge, see module docstring)
            loss = loss + 0.1 * ((z_master - fit.z0_master) ** 2).sum()
        return loss

    history: list[float] = []
    z = fit.z0_track.clone().requires_grad_(True)
    zm = fit.z0_master.clone().requires_grad_(True) if fit_master else None
    adam: dict[str, Any] = {}
    best = (math.inf, z.detach().clone(), None if zm is None else zm.detach().clone())
    n_conf = int(free.sum()) * 2 + (2 * int(fit.free_master.sum()) if fit_master else 0)
    t_probe = None
    stopped = False
    for step in range(steps + 1):
        t_step = time.monotonic()
        z.grad = None
        if zm is not None:
            zm.grad = None
        loss = loss_of(z, zm)
        value = float(loss.detach())
        history.append(value)
        if value < best[0]:
            best = (value, z.detach().clone(), None if zm is None else zm.detach().clone())
        if step == steps:
            break
        loss.backward()
        decay = 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * step / max(steps, 1)))  # cosine schedule
        _adam_step(adam, "track", z, fit.lr_track * decay, fit.free)
        if zm is not None:
            _adam_step(adam, "master", zm, fit.lr_master * decay, fit.free_master)
        with torch.no_grad():
            z.clamp_(0.0, 1.0)
            if zm is not None:
                zm.clamp_(0.0, 1.0)
        report("refining against the mix", (step + 1) / max(steps, 1))
        if time_budget_s is not None:
            per_step = time.monotonic() - t_step
            t_probe = t_probe or per_step / 3.0
            left = time_budget_s - (time.monotonic() - t0)
            if left < per_step + (n_conf * t_probe if confidence else 0.0):
                notes.append(f"refinement stopped after {step + 1} of {steps} steps to fit the time budget")
                stopped = True
                break
    if stopped or steps:
        with torch.no_grad():
            value = float(loss_of(z, zm))
        history.append(value) if value < best[0] else None
        if value < best[0]:
            best = (value, z.detach().clone(), None if zm is None else zm.detach().clone())
    params = fit.params_from(best[1], best[2])
    constraints.apply(params)
    for i in live:
        for key in ("gain_db", *EQ_GAINS):
            if not constraints.is_locked(names[i], key):
                why.setdefault(names[i], {})[key] = "closed-form least-squares estimate, refined against the mix"

    # ---------------------------------------------------------------- 3. confidence
    conf: dict[str, dict[str, float]] = {}
    for i, name in enumerate(names):
        conf[name] = {}
        for key in FIT_TRACK:
            if constraints.is_locked(name, key):
                conf[name][key] = 1.0
            elif silent[i] or (key == "width" and multitrack.tracks[i].channels == 1):
                conf[name][key] = 0.0
    if fit_master:
        conf["master"] = {k: 1.0 for k in FIT_MASTER if constraints.is_locked("master", k)}
    if confidence:
        with torch.no_grad():
            z_best, zm_best = best[1], best[2]
            base = float(loss_of(z_best, zm_best))
            probes = [(r, c) for r, c in zip(*torch.nonzero(fit.free, as_tuple=True))]
            probes = [(int(r), int(c)) for r, c in probes]
            todo = len(probes) + (int(fit.free_master.sum()) if fit_master else 0)
            done = 0
            for r, c in probes:
                name, key = names[r], FIT_TRACK[c]
                if key in EQ_GAINS and band_energy.get(name, {}).get(key, 0.0) < BAND_ENERGY_MIN:
                    conf[name][key] = 0.0
                else:
                    conf[name][key] = _probe(
                        lambda zz: float(loss_of(zz, zm_best)),
                        z_best,
                        (r, c),
                        base,
                        inflation.get(name, {}).get(key, 1.0),
                    )
                done += 1
                report("confidence", done / max(todo, 1))
            if fit_master:
                for c in torch.nonzero(fit.free_master).flatten().tolist():
                    conf["master"][FIT_MASTER[c]] = _probe(lambda zz: float(loss_of(z_best, zz)), zm_best, (c,), base)
                    done += 1
                    report("confidence", done / max(todo, 1))
    for name in names:
        for key in EQ_GAINS:
            if band_energy.get(name, {}).get(key, 1.0) < BAND_ENERGY_MIN and key in conf.get(name, {}):
                conf[name][key] = 0.0 if not constraints.is_locked(name, key) else 1.0

    # ---------------------------------------------------------------- final render
    report("rendering the mix", 0.0)
    rendered = console.render(multitrack, params).mix

    distance = mrstft_distance(rendered, mix, sr)
    report("rendering the mix", 1.0)
    for i, name in enumerate(names):
        if silent[i]:
            why[name] = {k: "stem is silent: left neutral" for k in FIT_TRACK if not constraints.is_locked(name, k)}
        for key in constraints.locked_names(name):
            why.setdefault(name, {})[key] = "locked by you"
    return ReverseResult(
        params=params,
        confidence=conf,
        loss_history=history,
        mrstft=distance,
        mix=rendered,
        start=start_params,
        why=why,
        notes=notes,
        band_energy=band_energy,
        wall_s=time.monotonic() - t0,
    )


# --------------------------------------------------------------------------- helpers
def _probe(
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


def _free_mask(
    params: MixParams, multitrack: Multitrack, silent: list[bool], constraints: Constraints, fit_master: bool
) -> torch.Tensor:
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
        self, params: MixParams, free: torch.Tensor, fit_master: bool, constraints: Constraints, dtype: torch.dtype
    ) -> None:
        self.params = params
        self.free = free
        self.dtype = dtype
        table, master = params_for("track"), params_for("master")
        self.track_specs = [table[k] for k in FIT_TRACK]
        self.master_specs = [master[k] for k in FIT_MASTER]
        self.z0_track = torch.tensor(
            [[float(s.to_normalised(params.tracks[t][s.name])) for s in self.track_specs] for t in params.track_names],
            dtype=torch.float64,
        )
        self.z0_master = torch.tensor(
            [float(s.to_normalised(params.master[s.name])) for s in self.master_specs], dtype=torch.float64
        )
        self.free_master = torch.tensor(
            [fit_master and not constraints.is_locked("master", s.name) for s in self.master_specs], dtype=torch.bool
        )
        self.base = ConsoleSettings.from_params(params, dtype)

        def step(spec: Any) -> float:
            return _STEP["eq" if spec.name in EQ_GAINS else spec.name] / (spec.maximum - spec.minimum)

        self.lr_track = torch.tensor([step(s) for s in self.track_specs], dtype=torch.float64)
        self.lr_master = torch.tensor([step(s) for s in self.master_specs], dtype=torch.float64)

    def eq_db(self, z: torch.Tensor) -> torch.Tensor:
        """The free EQ band gains in dB (0 elsewhere), differentiable in ``z``."""
        cols = [c for c, s in enumerate(self.track_specs) if s.name in EQ_GAINS]
        spec = self.track_specs[cols[0]]
        db = spec.from_normalised(z[:, cols])
        return torch.where(self.free[:, cols], db, torch.zeros_like(db))

    def settings(self, z: torch.Tensor, zm: torch.Tensor | None) -> ConsoleSettings:
        track = dict(self.base.track)
        for c, spec in enumerate(self.track_specs):
            if bool(self.free[:, c].any()):
                value = spec.from_normalised(z[:, c]).to(self.dtype)
                track[spec.name] = torch.where(self.free[:, c], value, self.base.track[spec.name])
        master = dict(self.base.master)
        if zm is not None:
            for c, spec in enumerate(self.master_specs):
                if bool(self.free_master[c]):
                    master[spec.name] = spec.from_normalised(zm[c]).to(self.dtype)
        return ConsoleSettings(track=track, reverb=self.base.reverb, master=master, reverb_seed=self.base.reverb_seed)

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


def _round(spec: Any, value: float) -> float:
    return min(max(value, spec.minimum), spec.maximum)


def _adam_step(state: dict[str, Any], key: str, z: torch.Tensor, lr: torch.Tensor, free: torch.Tensor) -> None:
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


def _fit_gain_eq(
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
