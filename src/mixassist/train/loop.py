"""Training the controller: sessions sampled from the corpus, parameter loss, checkpoints, export.

A training session pairs a rendered reference (song *B* mixed in a drawn style) with the
tracks of other songs, whose true settings are that style's settings on them.  The track count
follows the config's curriculum; a session larger than one song takes tracks from a second song
mixed in the same style.  Every step's sessions come from a generator seeded with
``[seed, step]``, so a resumed run draws exactly what an uninterrupted one would.

The parameter loss is :mod:`mixassist.train.loss`; checkpoints are
:mod:`mixassist.train.checkpoint`; the style stage that follows is :mod:`mixassist.train.style_stage`.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch

from mixassist.data.synth import synthesize_dataset
from mixassist.errors import InvalidParameterError
from mixassist.fileio import write_bytes_atomic, write_json_atomic
from mixassist.mixers.neural import load_controller
from mixassist.neural.features import sum_stats, summary_vector
from mixassist.neural.layout import bus_targets, track_targets
from mixassist.neural.model import MixController
from mixassist.train.checkpoint import append_log_entry, restore_checkpoint, save_checkpoint
from mixassist.train.config import TrainConfig
from mixassist.train.corpus import (
    ReferenceEntry,
    SongEntry,
    cache_songs,
    load_corpus,
    reference_plan,
    render_references,
    training_songs,
)
from mixassist.train.loss import Batch, collate, loss_terms
from mixassist.train.style_stage import StyleSessions, run_style_stage, true_params

__all__ = ["train", "Sampler", "evaluate_loss", "export"]

Progress = Callable[[str, int, int], None]


class Sampler:
    """Draws training sessions from a corpus (see the module notes)."""

    def __init__(self, songs: dict[str, SongEntry], refs: list[ReferenceEntry], *, no_reference_share: float) -> None:
        self.songs = songs
        self.refs = refs
        self.no_reference_share = no_reference_share
        self._targets: dict[tuple[int, str], tuple] = {}

    def targets(self, ref: ReferenceEntry, song: SongEntry) -> tuple:
        key = (ref.index, song.name)
        if key not in self._targets:
            params = true_params(ref.draw, ref.seed, song)
            rows: list[tuple[np.ndarray, np.ndarray] | None] = []
            for i, name in enumerate(song.names):
                lufs, peak_db, channels = song.levels[name]
                if lufs is None or not math.isfinite(song.approx_lufs[i]):
                    rows.append(None)
                    continue
                rows.append(track_targets(params.tracks[name], float(song.approx_lufs[i]), peak_db, channels == 2))
            glue_depth = -float(cast(float, params.master["comp_threshold_db"])) - 6.0  # never None on the master
            self._targets[key] = (rows, bus_targets(params.reverb, params.master, glue_depth))
            if len(self._targets) > 200_000:
                self._targets.clear()
        return self._targets[key]

    def session(
        self, ref: ReferenceEntry, candidates: list[str], tracks: int, rng: np.random.Generator
    ) -> dict[str, Any]:
        picked: list[tuple[SongEntry, int, tuple]] = []  # (song, track index, its targets)
        order = list(rng.permutation(len(candidates)))
        buses = None
        while len(picked) < tracks and order:
            song = self.songs[candidates[order.pop()]]
            rows, song_buses = self.targets(ref, song)
            buses = buses or song_buses  # the buses' targets come from the style alone
            live = [(song, i, rows[i]) for i in range(len(song.names)) if rows[i] is not None]
            picked += [live[j] for j in rng.permutation(len(live))]
        picked = picked[:tracks]
        rv, _, mv, mm = cast(tuple, buses)  # set: the candidates are never empty
        t_rows = [row for _, _, row in picked]
        return {
            "tracks": np.stack([s.vectors[i] for s, i, _ in picked]),
            "summed": summary_vector(sum_stats([s.stats[i] for s, i, _ in picked])),
            "reference": ref.summary,
            "has_reference": bool(rng.random() >= self.no_reference_share),
            "track_target": np.stack([r[0] for r in t_rows]),
            "track_weight": np.stack([r[1] for r in t_rows]),
            "reverb_target": rv,
            "master_target": mv,
            "master_weight": mm,
        }

    def batch(
        self,
        refs: list[ReferenceEntry],
        song_names: list[str],
        size: int,
        track_range: tuple[int, int],
        rng: np.random.Generator,
    ) -> Batch:
        items = []
        for _ in range(size):
            ref = refs[int(rng.integers(len(refs)))]
            candidates = [n for n in song_names if n != ref.song]
            items.append(self.session(ref, candidates, int(rng.integers(track_range[0], track_range[1] + 1)), rng))
        return collate(items)


_STYLE_KEYS = (
    "style_steps",
    "style_batch",
    "style_learning_rate",
    "style_weight",
    "style_excerpt_s",
    "style_max_tracks",
    "style_checkpoint_every",
    "style_validation_sessions",
)


def _config_key(config: TrainConfig, *, stage: str = "parameter") -> str:
    """What a checkpoint must share with the config to resume: for the parameter stage,
    everything but output, steps, workers and the style stage's settings; for the style stage,
    everything but output, its step count, workers and logging."""
    d = config.to_dict()
    drop = ["output", "workers", "checkpoint_every", "log_every", "work_dir", "synthesise"]
    drop += ["steps", *_STYLE_KEYS] if stage == "parameter" else ["style_steps", "style_checkpoint_every"]
    for k in drop:
        d.pop(k)
    if config.init_weights:
        d["init_sha256"] = hashlib.sha256(Path(config.init_weights).read_bytes()).hexdigest()
    return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:16]


def _lr(config: TrainConfig, step: int) -> float:
    warm = min(500, config.steps // 10)
    if step < warm:
        return config.learning_rate * (step + 1) / warm
    progress = (step - warm) / max(1, config.steps - warm)
    return config.learning_rate * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * progress)))


def evaluate_loss(
    model: MixController,
    sampler: Sampler,
    refs: list[ReferenceEntry],
    names: list[str],
    config: TrainConfig,
    batches: int = 8,
) -> dict[str, float]:
    """Mean losses on fixed validation sessions (seeded, so comparable across checkpoints)."""
    model.eval()
    totals: dict[str, float] = {}
    rng = np.random.default_rng([config.seed, 999_999])
    with torch.no_grad():
        for _ in range(batches):
            terms = loss_terms(model, sampler.batch(refs, names, config.batch, config.tracks_at(config.steps), rng))
            for k, v in terms.items():
                totals[k] = totals.get(k, 0.0) + float(v) / batches
    model.train()
    return totals


def train(
    config: TrainConfig, *, progress: Progress | None = None, log: Callable[[str], None] | None = None
) -> dict[str, Any]:
    """Run (or resume) a training run; returns its summary (also written next to the weights)."""

    report = progress or (lambda stage, done, total: None)
    say = log or (lambda text: None)
    began = time.time()
    torch.manual_seed(config.seed)
    work = Path(config.work_dir)
    work.mkdir(parents=True, exist_ok=True)
    key = _config_key(config)
    songs_dir = Path(config.songs_dir)
    if config.synthesise:
        synthesize_dataset(
            songs_dir,
            songs=config.songs,
            seconds=config.seconds,
            seed=config.data_seed,
            workers=config.workers,
            progress=lambda d, n: report("synthesising songs", d, n),
        )
    names = training_songs(songs_dir, config.exclude_soundfonts, config.exclude_kinds)
    cut = max(2, round(len(names) * config.validation_share))  # a validation reference needs another validation song
    val_names = names[:: max(2, len(names) // cut)][:cut]
    train_names = [n for n in names if n not in val_names]
    say(f"{len(names)} songs usable ({len(train_names)} training, {len(val_names)} validation)")
    cache_songs(songs_dir, names, work, workers=config.workers, progress=report)
    plan = reference_plan(names, config.references, config.seed)
    render_references(songs_dir, plan, work, seconds=config.reference_seconds, workers=config.workers, progress=report)
    songs, refs = load_corpus(work, names, plan)
    train_refs = [r for r in refs if r.song in train_names and math.isfinite(r.loudness_lufs)]
    val_refs = [r for r in refs if r.song in val_names and math.isfinite(r.loudness_lufs)]
    if len(train_refs) < 2 or not val_refs or len(train_names) < 2:
        raise InvalidParameterError("too few references for training and validation; raise `references`")
    sampler = Sampler(songs, refs, no_reference_share=config.no_reference_share)

    model = MixController(config.model)
    init: dict[str, Any] | None = None
    if config.init_weights:
        init = _load_init(model, Path(config.init_weights))
        say(f"starting from {config.init_weights}")
    optimiser = torch.optim.AdamW(model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay)
    step = 0
    history: list[dict[str, Any]] = []
    checkpoint = work / "checkpoint.pt"
    if checkpoint.exists() and config.steps > 0:
        step, history = restore_checkpoint(checkpoint, key, model, optimiser, "a run")
        say(f"resumed at step {step}")
    log_path = work / "log.jsonl"
    model.train()
    window: dict[str, float] = {}
    seen = 0
    t0 = time.time()
    while step < config.steps:
        for group in optimiser.param_groups:
            group["lr"] = _lr(config, step)
        rng = np.random.default_rng([config.seed, step])
        batch = sampler.batch(train_refs, train_names, config.batch, config.tracks_at(step), rng)
        terms = loss_terms(model, batch)
        optimiser.zero_grad()
        terms["total"].backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimiser.step()
        step += 1
        for k, v in terms.items():
            window[k] = window.get(k, 0.0) + float(v.detach())
        seen += 1
        if step % config.log_every == 0 or step == config.steps:
            entry: dict[str, Any] = {
                "step": step,
                "lr": _lr(config, step - 1),
                "seconds": round(time.time() - t0, 1),
                **{k: v / seen for k, v in window.items()},
            }
            window, seen = {}, 0
            if step % config.checkpoint_every == 0 or step == config.steps:  # (a multiple of log_every)
                entry["validation"] = evaluate_loss(model, sampler, val_refs, val_names, config)
                history.append(entry)
                save_checkpoint(checkpoint, key, model, optimiser, step, history)
            append_log_entry(log_path, entry)
            say(
                f"step {step}: loss {entry['total']:.4f}"
                + (f", validation {entry['validation']['total']:.4f}" if "validation" in entry else "")
            )
        report("training", step, config.steps)
    style_history: list[dict[str, Any]] = []
    if config.style_steps > 0:
        sessions = StyleSessions(
            sampler, songs_dir, excerpt_s=config.style_excerpt_s, max_tracks=config.style_max_tracks
        )
        style_history = run_style_stage(
            model,
            config,
            sessions,
            train_refs,
            train_names,
            val_refs,
            val_names,
            key=_config_key(config, stage="style"),
            report=report,
            say=say,
        )
    summary = {
        "steps": step,
        "style_steps": config.style_steps,
        "config": config.to_dict(),
        "parameters": model.parameter_count(),
        "songs": {"training": len(train_names), "validation": len(val_names)},
        "references": {"training": len(train_refs), "validation": len(val_refs)},
        "validation": evaluate_loss(model, sampler, val_refs, val_names, config)
        if config.steps == 0 or style_history
        else (history[-1]["validation"] if history else None),
        "history": [{"step": h["step"], "total": h["total"], "validation": h["validation"]["total"]} for h in history],
        "style_history": style_history,
        "seconds_this_session": round(time.time() - began, 1),
    }
    if init is not None:
        summary["init"] = init
    export(model, config, summary)
    return summary


def _load_init(model: MixController, path: Path) -> dict[str, Any]:
    """Load weights to start from (checked against their SHA-256 sidecar); returns what the
    summary records about them: their checksum and their own training history."""

    loaded = load_controller(path)
    if loaded.config.to_dict() != model.config.to_dict():
        raise InvalidParameterError(
            f"{path}: a controller of another shape ({loaded.config.to_dict()}); "
            f"the config's [model] says {model.config.to_dict()}"
        )
    model.load_state_dict(loaded.state_dict())
    sidecar = path.with_suffix(".json")
    meta = json.loads(sidecar.read_text()) if sidecar.exists() else {}
    return {
        "path": str(path),
        "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
        **{k: meta[k] for k in ("steps", "history", "validation") if k in meta},
    }


def export(model: MixController, config: TrainConfig, summary: dict[str, Any]) -> Path:
    """Write the weights (state dict + model config) and a sidecar JSON with their SHA-256."""
    out = Path(config.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    torch.save(
        {
            "model": {k: v.detach().clone() for k, v in model.state_dict().items()},
            "model_config": config.model.to_dict(),
            "format": 1,
        },
        buffer,
    )
    data = buffer.getvalue()
    write_bytes_atomic(out, data)
    write_json_atomic(
        out.with_suffix(".json"), {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data), **summary}
    )
    return out
