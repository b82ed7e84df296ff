"""Training checkpoints: everything a resumed run needs to equal an uninterrupted one."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import torch

from mixassist.errors import InvalidParameterError
from mixassist.fileio import write_bytes_atomic
from mixassist.neural.model import MixController

__all__ = ["append_log_entry", "save_checkpoint", "restore_checkpoint"]


def _save_torch(path: Path, obj: Any) -> None:
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    write_bytes_atomic(path, buffer.getvalue())


def save_checkpoint(
    path: Path,
    key: str,
    model: MixController,
    optimiser: torch.optim.Optimizer,
    step: int,
    history: list[dict[str, Any]],
) -> None:
    """Everything a resumed run needs to equal an uninterrupted one (written atomically)."""
    _save_torch(
        path,
        {
            "model": model.state_dict(),
            "optimiser": optimiser.state_dict(),
            "step": step,
            "history": history,
            "config_key": key,
            "torch_rng": torch.get_rng_state(),
        },
    )


def restore_checkpoint(
    path: Path, key: str, model: MixController, optimiser: torch.optim.Optimizer, what: str
) -> tuple[int, list[dict[str, Any]]]:
    """Load a :func:`save_checkpoint` file into ``model`` and ``optimiser`` (and torch's RNG);
    returns its step and history.  A checkpoint of another configuration is refused."""
    state = torch.load(path, weights_only=False)
    if state.get("config_key") != key:
        raise InvalidParameterError(f"{path.parent}: holds {what} made with another configuration; use a new work_dir")
    model.load_state_dict(state["model"])
    optimiser.load_state_dict(state["optimiser"])
    torch.set_rng_state(state["torch_rng"])
    return int(state["step"]), list(state["history"])


def append_log_entry(log_path: Path, entry: dict[str, Any]) -> None:
    """Append ``entry`` as one JSON line to the training log ``log_path`` (``log.jsonl``)."""
    with open(log_path, "a") as fh:
        fh.write(json.dumps(entry) + "\n")
