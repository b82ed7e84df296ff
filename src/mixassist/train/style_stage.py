"""The style stage: the controller fine-tuned with the style loss rendered through the console.

The parameter loss (:func:`mixassist.train.loss.loss_terms`) scores every setting by its
distance in the normalised space, whether or not it changes what one hears.  This stage adds
the distance one hears: each session's predicted settings are decoded differentiably
(:func:`mixassist.neural.layout.decode_tracks`), an excerpt of the song is rendered through the
differentiable console with them and with the true settings, and the style distance between the
two renders (:func:`mixassist.style.style_distance`: spectral balance of mid and side, width
per band, crest, short-term loudness spread — loudness left out, the mixers deliver it) is
added to the parameter loss::

    loss = parameter loss + style_weight * style distance (dB/LU)

What the controller does not decide is the same in both renders: the output gain and the
limiter are off (delivery sets them), multi-mic delay and polarity are the true ones, the
reverb's random seed is the style's; pan *sides* follow the true pans (the controller predicts
how far from centre; the mixer picks sides).  The glue threshold sits the predicted (true) depth
below each render's bus peak, as the mixers place it.  Switches (high-pass, compressor, send on
or off) are the controller's own hard decisions, as at inference; their continuous settings
get the gradient.

A session is one training song (up to ``style_max_tracks`` of its tracks) with a reference of
another song; the model reads the same whole-song inputs as at inference, and the renders cover
a ``style_excerpt_s`` excerpt at the solver's reduced rate
(:func:`mixassist.mixers.match.solve_decimation`).  Sessions of step *k* come from a generator
seeded with ``[seed, 7, k]``; checkpoints (``style_checkpoint.pt``) hold the model, the
optimiser and the torch RNG, so a resumed stage equals an uninterrupted one.
"""

from __future__ import annotations

import math
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import numpy as np
import soxr
import torch

from mixassist.console.console import Console, ConsoleSettings
from mixassist.console.params import MixParams
from mixassist.data.priors import PriorDraw, prior_params
from mixassist.data.references import load_song
from mixassist.mixers.match import solve_decimation
from mixassist.mixers.roles import is_low_source
from mixassist.neural.features import sum_stats, summary_vector
from mixassist.neural.layout import decode_buses, decode_tracks
from mixassist.neural.model import MixController
from mixassist.style.features import DEFAULT_WEIGHTS, style_distance, style_features_torch
from mixassist.train.checkpoint import append_log_entry, restore_checkpoint, save_checkpoint
from mixassist.train.loss import collate, loss_terms

__all__ = ["StyleSession", "StyleSessions", "style_loss", "STYLE_TERMS"]

Progress = Callable[[str, int, int], None]
#: The style distance's terms the stage trains on (loudness is delivered, not predicted).
STYLE_TERMS = tuple(t for t in DEFAULT_WEIGHTS if t != "loudness_lu")
_WEIGHTS = {"loudness_lu": 0.0}


def true_params(ref_draw: dict[str, Any], ref_seed: int, song: Any) -> MixParams:
    """The settings of a reference's style on a cached song (as the training targets use them)."""
    draw = PriorDraw(**ref_draw)
    seed = int(np.random.SeedSequence([ref_seed, zlib.crc32(song.name.encode())]).generate_state(1)[0])
    return prior_params(draw, song.levels, song.roles, seed=seed, fixed=song.fixed)


@dataclass
class StyleSession:
    """One session of the style stage: the model's inputs and targets (an item for
    :func:`mixassist.train.loss.collate`) and what it takes to render it."""

    item: dict[str, Any]
    audio: list[torch.Tensor]  # the excerpt of each track, (channels, samples), at the reduced rate
    sample_rate: int  # of ``audio``
    truth: ConsoleSettings  # true settings (limiter off, output gain 0)
    glue_depth: float | None  # true glue threshold below the bus peak (None: glue off)
    input_lufs: torch.Tensor  # (tracks,) as the controller measures them
    peak_db: torch.Tensor  # (tracks,)
    stereo: torch.Tensor  # (tracks,) bool
    low_source: torch.Tensor  # (tracks,) bool
    pan_sign: torch.Tensor  # (tracks,) ±1: the true pans' sides


class StyleSessions:
    """Draws and renders style-stage sessions from a training corpus.

    ``sampler`` is the parameter stage's :class:`~mixassist.train.loop.Sampler` (its songs,
    cached statistics and targets); ``songs_dir`` holds the songs' audio.
    """

    def __init__(self, sampler: Any, songs_dir: Path, *, excerpt_s: float, max_tracks: int) -> None:
        self.sampler = sampler
        self.songs_dir = Path(songs_dir)
        self.excerpt_s = float(excerpt_s)
        self.max_tracks = int(max_tracks)
        self._audio: dict[str, tuple[list[np.ndarray], int]] = {}
        self._consoles: dict[int, Console] = {}

    def audio(self, name: str) -> tuple[list[np.ndarray], int]:
        """A song's tracks at the solver's reduced rate (loaded once)."""
        if name not in self._audio:
            stems, _ = load_song(self.songs_dir / name)
            factor = solve_decimation(stems.sample_rate)
            sr = stems.sample_rate // factor
            tracks = []
            for t in stems:
                a = t.audio if factor == 1 else soxr.resample(t.audio.T, stems.sample_rate, sr, quality="HQ").T
                tracks.append(np.ascontiguousarray(a, dtype=np.float32))
            self._audio[name] = (tracks, sr)
        return self._audio[name]

    def console(self, sample_rate: int) -> Console:
        if sample_rate not in self._consoles:
            self._consoles[sample_rate] = Console(sample_rate)
        return self._consoles[sample_rate]

    def session(self, ref: Any, song_name: str, rng: np.random.Generator) -> StyleSession:
        song = self.sampler.songs[song_name]
        rows, buses = self.sampler.targets(ref, song)
        params = true_params(ref.draw, ref.seed, song)
        live = [i for i, r in enumerate(rows) if r is not None]
        if len(live) > self.max_tracks:
            live = sorted(int(i) for i in rng.choice(live, self.max_tracks, replace=False))
        tracks, sr = self.audio(song_name)
        n = tracks[0].shape[-1]
        length = min(n, int(round(self.excerpt_s * sr)))
        start = int(rng.integers(0, n - length + 1))
        audio = [torch.from_numpy(tracks[i][:, start : start + length]) for i in live]
        names = [song.names[i] for i in live]
        sub = MixParams(
            names,
            tracks={k: params.tracks[k] for k in names},
            reverb=params.reverb,
            master={**params.master, "limiter_ceiling_dbtp": None, "output_gain_db": 0.0},
            reverb_seed=params.reverb_seed,
        )
        glue = (
            -float(cast(float, params.master["comp_threshold_db"])) - 6.0
            if (params.master["comp_ratio"] or 1.0) > 1.0
            else None
        )
        rv, _, mv, mm = buses
        item = {
            "tracks": song.vectors[live],
            "summed": summary_vector(sum_stats([song.stats[i] for i in live])),
            "reference": ref.summary,
            "has_reference": True,
            "track_target": np.stack([rows[i][0] for i in live]),
            "track_weight": np.stack([rows[i][1] for i in live]),
            "reverb_target": rv,
            "master_target": mv,
            "master_weight": mm,
        }
        pans = torch.tensor([float(sub.get(k, "pan") or 0.0) for k in names], dtype=torch.float64)
        return StyleSession(
            item=item,
            audio=audio,
            sample_rate=sr,
            truth=ConsoleSettings.from_params(sub),
            glue_depth=glue,
            input_lufs=torch.tensor(song.approx_lufs[live], dtype=torch.float64),
            peak_db=torch.tensor(
                [20.0 * math.log10(max(song.stats[i].peak, 1e-12)) for i in live], dtype=torch.float64
            ),
            stereo=torch.tensor([bool(song.stats[i].stereo) for i in live]),
            low_source=torch.tensor([is_low_source(k, song.roles.get(k, "chords")) for k in names]),
            pan_sign=torch.where(pans < 0, -1.0, 1.0),
        )

    def draw(self, refs: list[Any], song_names: list[str], count: int, rng: np.random.Generator) -> list[StyleSession]:
        """``count`` sessions: a random reference, and a different song for its tracks."""
        out = []
        for _ in range(count):
            ref = refs[int(rng.integers(len(refs)))]
            candidates = [n for n in song_names if n != ref.song]
            out.append(self.session(ref, candidates[int(rng.integers(len(candidates)))], rng))
        return out

    def render_truth(self, session: StyleSession) -> dict[str, torch.Tensor]:
        """Style features of the excerpt mixed with the true settings (no gradient)."""
        sr = session.sample_rate
        with torch.no_grad():
            mix, _ = self.console(sr).render_tensors(
                session.audio, session.truth, glue_below_peak_db=session.glue_depth
            )
            return style_features_torch(mix, sr)

    def render_prediction(
        self, session: StyleSession, track_out: torch.Tensor, reverb_out: torch.Tensor, master_out: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        """Style features of the excerpt mixed with the predicted settings (outputs in [0, 1],
        ``(tracks, outputs)`` and the two bus vectors), differentiable."""
        decoded = decode_tracks(
            track_out.double(), session.input_lufs, session.peak_db, session.stereo, session.low_source
        )
        decoded["pan"] = decoded["pan"] * session.pan_sign
        track = dict(session.truth.track)
        for name, value in decoded.items():
            track[name] = value.to(torch.float32)
        reverb, master, depth = decode_buses(reverb_out.double(), master_out.double())
        master_all = dict(session.truth.master)
        master_all.update({k: v.to(torch.float32) for k, v in master.items()})
        reverb_all = dict(session.truth.reverb)
        reverb_all.update({k: v.to(torch.float32) for k, v in reverb.items()})
        settings = ConsoleSettings(
            track=track, reverb=reverb_all, master=master_all, reverb_seed=session.truth.reverb_seed
        )
        glue = depth if bool(master["comp_ratio"] > 1.0) else None
        sr = session.sample_rate
        mix, _ = self.console(sr).render_tensors(session.audio, settings, glue_below_peak_db=glue)
        return style_features_torch(mix, sr)


def style_loss(
    sessions: StyleSessions,
    batch: list[StyleSession],
    out: dict[str, torch.Tensor],
    targets: list[dict[str, torch.Tensor]] | None = None,
) -> tuple[torch.Tensor, dict[str, float]]:
    """Mean style distance over the batch's sessions (differentiable) and its mean terms."""
    totals, terms = [], {t: 0.0 for t in STYLE_TERMS}
    track, reverb, master = torch.sigmoid(out["track"]), torch.sigmoid(out["reverb"]), torch.sigmoid(out["master"])
    for b, session in enumerate(batch):
        n = len(session.audio)
        truth = targets[b] if targets is not None else sessions.render_truth(session)
        pred = sessions.render_prediction(session, track[b, :n], reverb[b], master[b])
        d = style_distance(pred, truth, _WEIGHTS)
        totals.append(d["total"].reshape(()))
        for t in STYLE_TERMS:
            terms[t] += float(d[t].detach()) / len(batch)
    return torch.stack(totals).mean(), terms


def run_style_stage(
    model: MixController,
    config: Any,
    sessions: StyleSessions,
    train_refs: list[Any],
    train_names: list[str],
    val_refs: list[Any],
    val_names: list[str],
    *,
    key: str,
    report: Progress,
    say: Callable[[str], None],
) -> list[dict[str, Any]]:
    """Fine-tune ``model`` in place for ``config.style_steps`` steps (resumable); returns the
    stage's history (one entry per checkpoint, with validation)."""

    work = Path(config.work_dir)
    checkpoint = work / "style_checkpoint.pt"
    optimiser = torch.optim.AdamW(model.parameters(), lr=config.style_learning_rate, weight_decay=config.weight_decay)
    step = 0
    history: list[dict[str, Any]] = []
    if checkpoint.exists():
        step, history = restore_checkpoint(checkpoint, key, model, optimiser, "a style stage")
        say(f"style stage resumed at step {step}")
    validation = _validation(sessions, val_refs, val_names, config)
    if not history:
        history.append({"step": 0, "validation": _validate(model, sessions, validation)})
        say(
            f"style stage start: validation style {history[0]['validation']['style']:.3f} dB, "
            f"parameter loss {history[0]['validation']['parameter']:.4f}"
        )
    log_path = work / "log.jsonl"
    every = config.style_checkpoint_every
    window: dict[str, float] = {}
    seen, t0 = 0, time.time()
    model.train()
    report("style fine-tuning", step, config.style_steps)
    while step < config.style_steps:
        rng = np.random.default_rng([config.seed, 7, step])
        batch = sessions.draw(train_refs, train_names, config.style_batch, rng)
        data = collate([s.item for s in batch])
        out = model(data.tracks, data.mask, data.reference, data.has_reference, data.summed)
        terms = loss_terms(model, data, out=out)
        style, parts = style_loss(sessions, batch, out)
        total = terms["total"] + config.style_weight * style
        optimiser.zero_grad()
        total.backward()
        for p in model.parameters():
            if p.grad is not None:
                p.grad = torch.nan_to_num(p.grad, nan=0.0, posinf=0.0, neginf=0.0)
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimiser.step()
        step += 1
        for k, v in {"parameter": float(terms["total"].detach()), "style": float(style.detach()), **parts}.items():
            window[k] = window.get(k, 0.0) + v
        seen += 1
        if step % every == 0 or step == config.style_steps:
            entry: dict[str, Any] = {
                "stage": "style",
                "step": step,
                "seconds": round(time.time() - t0, 1),
                **{k: v / seen for k, v in window.items()},
                "validation": _validate(model, sessions, validation),
            }
            window, seen = {}, 0
            history.append(entry)
            save_checkpoint(checkpoint, key, model, optimiser, step, history)
            append_log_entry(log_path, entry)
            say(
                f"style step {step}: style {entry['style']:.3f} dB, parameter {entry['parameter']:.4f}; validation "
                f"style {entry['validation']['style']:.3f} dB, parameter {entry['validation']['parameter']:.4f}"
            )
        report("style fine-tuning", step, config.style_steps)
    return history


def _validation(
    sessions: StyleSessions, refs: list[Any], names: list[str], config: Any
) -> list[tuple[StyleSession, dict]]:
    """Fixed validation sessions (unseen songs and their references) with their true renders."""
    rng = np.random.default_rng([config.seed, 888_888])
    drawn = sessions.draw(refs, names, config.style_validation_sessions, rng)
    return [(s, sessions.render_truth(s)) for s in drawn]


def _validate(
    model: MixController, sessions: StyleSessions, validation: list[tuple[StyleSession, dict]]
) -> dict[str, float]:

    was_training = model.training
    model.eval()
    batch = [s for s, _ in validation]
    with torch.no_grad():
        data = collate([s.item for s in batch])
        out = model(data.tracks, data.mask, data.reference, data.has_reference, data.summed)
        terms = loss_terms(model, data, out=out)
        style, parts = style_loss(sessions, batch, out, [t for _, t in validation])
    model.train(was_training)
    return {"parameter": float(terms["total"]), "style": float(style), **{k: round(v, 4) for k, v in parts.items()}}
