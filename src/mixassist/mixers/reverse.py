"""Reverse mixing: recover the console settings that reproduce a finished mix.

Given the stems and a finished stereo mix of them (sample-aligned), :func:`reverse_mix` finds
:class:`~mixassist.console.params.MixParams` such that our console, fed the stems, renders
(close to) that mix, and says how sure it is of each setting: a closed-form start
(:mod:`mixassist.mixers.reverse_start`), then a refinement against the mix
(:mod:`mixassist.mixers.reverse_refine`). The method is described in ``docs/reverse.md``.
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
from mixassist.console.console import Console, ConsoleSettings
from mixassist.console.dsp.biquad import lowpass_sos, sos_response_db
from mixassist.console.params import MixParams
from mixassist.errors import InvalidAudioError, InvalidParameterError
from mixassist.measure import mrstft_distance, true_peak
from mixassist.mixers.constraints import Constraints
from mixassist.mixers.deliver import TRUE_PEAK_MARGIN_DB, lowered_ceiling
from mixassist.mixers.reverse_refine import (
    EQ_GAINS,
    FIT_MASTER,
    FIT_REACH,
    FIT_TRACK,
    Fit,
    adam_step,
    free_mask,
    level_term,
    mrstft_loss,
    probe,
    reach_reason,
)
from mixassist.mixers.reverse_start import band_shapes, common_lowpass, fit_gain_eq, side_start, stft, transfer
from mixassist.mixers.threads import single_threaded

__all__ = [
    "BAND_ENERGY_MIN",
    "CEILING_DBTP",
    "EQ_GAINS",
    "EQ_PRIOR",
    "FIT_MASTER",
    "FIT_REACH",
    "FIT_TRACK",
    "REACH_KEEP",
    "LENGTH_SLACK_S",
    "ReverseResult",
    "mrstft_loss",
    "reverse_mix",
]

log = logging.getLogger(__name__)

#: A mix this much longer or shorter than the stems is trimmed or padded (with a note);
#: more is refused.
LENGTH_SLACK_S = 1.0
#: Energy-weighted EQ-band sensitivity below which a band has "no energy" (confidence 0).
BAND_ENERGY_MIN = 0.05
#: Prior on the fitted EQ band gains in the refinement, per dB² (loss units); see ``EQ_RIDGE``
#: in :mod:`mixassist.mixers.reverse_start` for the closed-form fit's.
EQ_PRIOR = 1e-5
#: True-peak ceiling of the written re-render (dBTP): the fit runs without the limiter (it has no
#: useful gradient and the given mix's own limiting is part of what the settings reproduce), the
#: final render runs it here unless the user locked ``master.limiter_ceiling_dbtp``.
CEILING_DBTP = -1.0
#: The fitted reach settings (:data:`FIT_REACH`) are kept only when they bring the excerpts' loss
#: at least this fraction below the same fit with them neutral; otherwise they go back to neutral
#: (off), so a mix our console makes without them is given back without them.
REACH_KEEP = 0.02
_SILENT_PEAK = 1e-6  # -120 dBFS
_PREROLL_S = 0.1


def _limit(
    params: MixParams,
    constraints: Constraints,
    mix: np.ndarray,
    sample_rate: int,
    why: dict[str, dict[str, str]],
    notes: list[str],
) -> bool:
    """Switch the master limiter on for the written re-render (unless the user set or locked it)
    at :data:`CEILING_DBTP` less the delivery's true-peak margin, say why, and whether it did."""
    if constraints.is_locked("master", "limiter_ceiling_dbtp") or params.master["limiter_ceiling_dbtp"] is not None:
        return False
    params.set_bus("master", "limiter_ceiling_dbtp", CEILING_DBTP - TRUE_PEAK_MARGIN_DB)
    given = true_peak(mix, sample_rate)
    peak = f"the given mix peaks at {given:+.2f} dBTP" if given is not None else "the given mix is silent"
    text = (
        f"limiter at {CEILING_DBTP:g} dBTP on the re-render: the fit leaves it off, so without it the "
        f"recovered settings could clip ({peak}); it only acts above the ceiling"
    )
    why.setdefault("master", {})["limiter_ceiling_dbtp"] = text + (
        f"; set {TRUE_PEAK_MARGIN_DB:g} dB lower, so that every compliant true-peak meter reads at most {CEILING_DBTP:g}"
    )
    notes.append(f"the re-render runs the master limiter at {CEILING_DBTP:g} dBTP ({peak})")
    return True


def _keep_under_ceiling(
    console: Console, multitrack: Multitrack, params: MixParams, rendered: np.ndarray, why: dict[str, dict[str, str]]
) -> np.ndarray:
    """Lower the ceiling :func:`_limit` set by what the re-render's true peak overshoots
    :data:`CEILING_DBTP` less the margin (at most twice), by the delivery's rule
    (:func:`~mixassist.mixers.deliver.lowered_ceiling`)."""
    for _ in range(2):
        peak = true_peak(rendered, console.sample_rate)
        ceiling = params.master["limiter_ceiling_dbtp"]
        lowered = None if ceiling is None else lowered_ceiling(ceiling, peak, CEILING_DBTP - TRUE_PEAK_MARGIN_DB)
        if lowered is None:
            break
        params.set_bus("master", "limiter_ceiling_dbtp", round(lowered, 2))
        why["master"]["limiter_ceiling_dbtp"] += (
            f"; lowered to {round(lowered, 2):g} dBTP by the measured overshoot ({peak:+.2f} dBTP)"
        )
        rendered = console.render(multitrack, params).mix
    return rendered


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


# --------------------------------------------------------------------------- main entry
@single_threaded()
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
    reach: bool = True,
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
    reach : bool
        Also fit the master low-pass, mid/side width, side high-pass and drive
        (:data:`FIT_REACH`): what band-limited, narrow or saturated mixes need.  They are kept
        only where they lower the loss by :data:`REACH_KEEP` and each moved clearly from neutral;
        ``False`` keeps them neutral (the console before issue 19).
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
    for i, is_silent in enumerate(silent):
        if is_silent:
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
    h, power, owner = transfer(stems_a, mix[:, idx], n_fft)
    freqs = torch.fft.rfftfreq(n_fft, 1.0 / sr).double()
    usable = (freqs >= 20.0) & (freqs <= 0.45 * sr)
    shapes = band_shapes(sr, freqs)  # (6, F)

    estimates: dict[str, dict[str, float]] = {}
    targets_db, weights, stem_powers = [], [], []
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
            audio = multitrack.tracks[i].audio  # read once (a spooled stem is read from its file)
            side = torch.from_numpy(audio[0, idx] - audio[1, idx]).double()
            ps = (stft(side, n_fft).abs() ** 2).mean(dim=-1) * usable
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
        stem_powers.append(p_track)
        pw = p_track * usable
        band_energy[names[i]] = {
            g: float((pw * shapes[b].abs()).sum() / pw.sum().clamp_min(1e-30)) for b, g in enumerate(EQ_GAINS)
        }
    if reach and not constraints.is_locked("master", "lpf_hz"):  # a low-pass the tracks share: the master's
        corner = common_lowpass(torch.stack(targets_db), torch.stack(stem_powers), freqs, sr)
        if corner is not None:
            response = sos_response_db(lowpass_sos(corner, sr), freqs, sr)[0].clamp_min(-60.0)
            targets_db = [t - response for t in targets_db]
            params.set_bus("master", "lpf_hz", round(corner, 1))
    inflation: dict[str, dict[str, float]] = {names[i]: {} for i in live}
    fit_gain_eq(
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
    if reach and not any(constraints.is_locked("master", k) for k in ("side_gain_db", "side_hpf_hz")):
        with torch.no_grad():  # the mid/side stage's closed-form start, on the excerpts
            y_start, _ = console.render_tensors(tracks_t, ConsoleSettings.from_params(params, torch_dtype))
        side_gain, side_hpf = side_start(scored(y_start), target, sr)
        if abs(side_gain) >= 0.5 or side_hpf is not None:
            params.set_bus("master", "side_gain_db", round(side_gain, 2))
            params.set_bus("master", "side_hpf_hz", None if side_hpf is None else round(side_hpf, 1))
    free = free_mask(params, multitrack, silent, constraints, fit_master)
    fit = Fit(params, free, fit_master, constraints, torch_dtype, reach=reach, sample_rate=sr)
    has_master = bool(fit.master_specs)

    def loss_of(z_track: torch.Tensor, z_master: torch.Tensor | None) -> torch.Tensor:
        settings = fit.settings(z_track, z_master)
        y, _ = console.render_tensors(tracks_t, settings)
        y = scored(y)
        loss = mrstft_loss(y, target, sr) + 0.1 * level_term(y, target) + EQ_PRIOR * fit.eq_db(z).pow(2).sum()
        if z_master is not None:  # keep the master near its start (gauge, see module docstring)
            loss = loss + (fit.prior_master * (z_master - fit.z0_master) ** 2).sum()
        return loss

    history: list[float] = []
    z = fit.z0_track.clone().requires_grad_(True)
    zm = fit.z0_master.clone().requires_grad_(True) if has_master else None
    adam: dict[str, Any] = {}
    best = (math.inf, z.detach().clone(), None if zm is None else zm.detach().clone())
    n_conf = int(free.sum()) * 2 + 2 * int(fit.free_master.sum())
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
        adam_step(adam, "track", z, fit.lr_track * decay, fit.free)
        if zm is not None:
            adam_step(adam, "master", zm, fit.lr_master * decay, fit.free_master)
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
    gain = 0.0
    if fit.z0_reach and best[2] is not None:  # the reach settings stay only where they help
        with torch.no_grad():
            without = float(loss_of(best[1], fit.neutral_reach(best[2])))
        if without <= best[0] * (1.0 + REACH_KEEP):
            best = (without, best[1], fit.neutral_reach(best[2]))
        gain = 1.0 - best[0] / max(without, 1e-12)
    params = fit.params_from(best[1], best[2])
    if fit.z0_reach:
        for name in fit.tidy_reach(params, best[2]):
            why.setdefault("master", {})[name] = reach_reason(name, params.master[name], gain)
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
    if has_master:
        conf["master"] = {k: 1.0 for k in (*FIT_MASTER, *FIT_REACH) if constraints.is_locked("master", k)}
    if confidence:
        with torch.no_grad():
            z_best, zm_best = best[1], best[2]
            base = float(loss_of(z_best, zm_best))
            probes = [(r, c) for r, c in zip(*torch.nonzero(fit.free, as_tuple=True))]
            probes = [(int(r), int(c)) for r, c in probes]
            todo = len(probes) + int(fit.free_master.sum())
            done = 0
            for r, c in probes:
                name, key = names[r], FIT_TRACK[c]
                if key in EQ_GAINS and band_energy.get(name, {}).get(key, 0.0) < BAND_ENERGY_MIN:
                    conf[name][key] = 0.0
                else:
                    conf[name][key] = probe(
                        lambda zz: float(loss_of(zz, zm_best)),
                        z_best,
                        (r, c),
                        base,
                        inflation.get(name, {}).get(key, 1.0),
                    )
                done += 1
                report("confidence", done / max(todo, 1))
            if has_master:
                if zm_best is None:  # the master is fitted, so its tensor exists
                    raise RuntimeError("reverse: the fitted master settings are missing")
                for c in torch.nonzero(fit.free_master).flatten().tolist():
                    conf["master"][FIT_MASTER[c]] = probe(lambda zz: float(loss_of(z_best, zz)), zm_best, (c,), base)
                    done += 1
                    report("confidence", done / max(todo, 1))
    for name in names:
        for key in EQ_GAINS:
            if band_energy.get(name, {}).get(key, 1.0) < BAND_ENERGY_MIN and key in conf.get(name, {}):
                conf[name][key] = 0.0 if not constraints.is_locked(name, key) else 1.0

    # ---------------------------------------------------------------- final render
    report("rendering the mix", 0.0)
    limited = _limit(params, constraints, mix, sr, why, notes)
    rendered = console.render(multitrack, params).mix
    if limited:
        rendered = _keep_under_ceiling(console, multitrack, params, rendered, why)

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
