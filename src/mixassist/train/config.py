"""The training configuration: one TOML file says everything a run needs (see ``configs/neural.toml``)."""

from __future__ import annotations

import tomllib
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from mixassist.errors import InvalidParameterError
from mixassist.neural.model import ModelConfig

__all__ = ["TrainConfig", "load_config"]


@dataclass(frozen=True)
class TrainConfig:
    """Every setting of a training run.

    Data: ``songs`` synthesised songs of ``seconds`` s (seed ``data_seed``) in ``songs_dir``
    (made when missing, resumed when partial; ``synthesise = false`` reads any folder of songs
    with a ``dataset.json`` as it is); songs whose soundfont or kind is excluded are
    never read, so evaluation sets made from those stay unseen.  ``references`` reference mixes
    are rendered, each from a ``reference_seconds`` excerpt of one song in one drawn style; every other song is a training target
    for it.

    Training: ``steps`` Adam steps of ``batch`` sessions; the number of tracks per session
    follows ``curriculum`` (``[[from_step, min_tracks, max_tracks], ...]``; sessions larger than
    a song are filled with tracks of another song mixed in the same style).  ``init_weights``
    (a controller file) starts the run from those weights instead of random ones; with
    ``steps = 0`` the parameter stage is skipped.

    Style stage (:mod:`mixassist.train.style_stage`, after the parameter stage): ``style_steps``
    AdamW steps at ``style_learning_rate`` of ``style_batch`` sessions (one song, at most
    ``style_max_tracks`` tracks, a ``style_excerpt_s`` excerpt rendered through the console),
    loss = parameter loss + ``style_weight`` × style distance in dB; a checkpoint, a log line
    and a validation on ``style_validation_sessions`` fixed sessions every
    ``style_checkpoint_every`` steps.
    """

    songs_dir: str = "data/train"
    synthesise: bool = True
    songs: int = 160
    seconds: float = 20.0
    data_seed: int = 1000
    exclude_soundfonts: tuple[str, ...] = ("MuseScore_General", "MuseScore_General_Lite")
    exclude_kinds: tuple[str, ...] = ("score",)
    references: int = 400
    reference_seconds: float = 10.0
    validation_share: float = 0.1
    work_dir: str = "runs/neural"
    output: str = "src/mixassist/neural/weights/controller.pt"
    seed: int = 0
    steps: int = 5000
    batch: int = 32
    learning_rate: float = 1e-3
    weight_decay: float = 1e-4
    no_reference_share: float = 0.1
    curriculum: tuple[tuple[int, int, int], ...] = ((0, 2, 6), (800, 2, 12), (2000, 2, 24))
    checkpoint_every: int = 500
    log_every: int = 100
    workers: int = 2
    init_weights: str = ""
    style_steps: int = 0
    style_batch: int = 8
    style_learning_rate: float = 1e-4
    style_weight: float = 0.01
    style_excerpt_s: float = 4.0
    style_max_tracks: int = 12
    style_checkpoint_every: int = 25
    style_validation_sessions: int = 16
    model: ModelConfig = field(default_factory=ModelConfig)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def tracks_at(self, step: int) -> tuple[int, int]:
        """``(min, max)`` tracks per session at ``step``."""
        lo, hi = self.curriculum[0][1:]
        for start, a, b in self.curriculum:
            if step >= start:
                lo, hi = a, b
        return lo, hi


def load_config(path: str | Path | None = None, **overrides: Any) -> TrainConfig:
    """A :class:`TrainConfig` from a TOML file (flat keys plus a ``[model]`` table), then overrides.

    Unknown keys are errors, named with the file.
    """
    data: dict[str, Any] = {}
    if path is not None:
        path = Path(path)
        try:
            data = tomllib.loads(path.read_text())
        except FileNotFoundError as err:
            raise InvalidParameterError(f"{path}: no such config file") from err
        except tomllib.TOMLDecodeError as err:
            raise InvalidParameterError(f"{path}: not valid TOML ({err})") from err
    data.update({k: v for k, v in overrides.items() if v is not None})
    known = {f.name for f in fields(TrainConfig)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise InvalidParameterError(
            f"{path or 'config'}: unknown setting(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}"
        )
    model = data.pop("model", {})
    model_known = {f.name for f in fields(ModelConfig)}
    if not isinstance(model, dict) or set(model) - model_known:
        raise InvalidParameterError(f"{path or 'config'}: [model] takes {', '.join(sorted(model_known))}")
    for key in ("exclude_soundfonts", "exclude_kinds"):
        if key in data:
            data[key] = tuple(data[key])
    if "curriculum" in data:
        try:
            data["curriculum"] = tuple((int(a), int(b), int(c)) for a, b, c in data["curriculum"])
        except (TypeError, ValueError) as err:
            raise InvalidParameterError(
                f"{path or 'config'}: curriculum is [[from_step, min_tracks, max_tracks], ...]"
            ) from err
    config = TrainConfig(model=ModelConfig(**model), **data)
    if config.steps < 0 or config.batch < 1 or config.references < 2 or config.songs < 3:
        raise InvalidParameterError("steps must be ≥ 0, batch ≥ 1, references ≥ 2, songs ≥ 3")
    if config.steps == 0 and not config.init_weights:
        raise InvalidParameterError("steps = 0 skips the parameter stage: it needs init_weights to start from")
    if config.init_weights and not Path(config.init_weights).is_file():
        raise InvalidParameterError(f"init_weights: {config.init_weights}: no such file")
    if (
        config.style_steps < 0
        or config.style_batch < 1
        or config.style_max_tracks < 1
        or config.style_checkpoint_every < 1
        or config.style_validation_sessions < 1
    ):
        raise InvalidParameterError(
            "style_steps must be ≥ 0; style_batch, style_max_tracks, "
            "style_checkpoint_every and style_validation_sessions ≥ 1"
        )
    if not config.style_excerpt_s >= 3.5:
        raise InvalidParameterError(
            f"style_excerpt_s={config.style_excerpt_s}: must be ≥ 3.5 s "
            "(the short-term loudness spread needs 3 s windows)"
        )
    if not (config.style_weight >= 0 and config.style_learning_rate > 0):
        raise InvalidParameterError("style_weight must be ≥ 0 and style_learning_rate > 0")
    if config.log_every < 1 or config.checkpoint_every % config.log_every:
        raise InvalidParameterError("log_every must be ≥ 1 and divide checkpoint_every")
    if any(lo < 1 or hi < lo for _, lo, hi in config.curriculum):
        raise InvalidParameterError("curriculum track counts must satisfy 1 ≤ min ≤ max")
    return config
