"""The parameter loss: sessions collated into padded batches, and the masked loss on them.

In the normalised space of :mod:`mixassist.neural.layout`: masked smooth-L1 on the regressed
outputs (the fader level weighted ×4: balance matters most), binary cross-entropy on the on/off
switches; ambiguous outputs are masked (see the layout module).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from mixassist.neural.features import TRACK_DIM
from mixassist.neural.layout import SWITCHES, TRACK_OUTPUTS
from mixassist.neural.model import MixController

__all__ = ["Batch", "collate", "loss_terms"]

_SWITCH_IDX = [TRACK_OUTPUTS.index(s) for s in SWITCHES]
_REG_IDX = [i for i, n in enumerate(TRACK_OUTPUTS) if n not in SWITCHES]
_TRACK_WEIGHTS = torch.tensor([4.0 if n == "level" else 1.0 for n in TRACK_OUTPUTS])


@dataclass
class Batch:
    """Padded training sessions: the model's inputs and the targets and weights of its outputs."""

    tracks: torch.Tensor  # (B, T, TRACK_DIM)
    mask: torch.Tensor  # (B, T) bool
    reference: torch.Tensor  # (B, SUMMARY_DIM)
    has_reference: torch.Tensor  # (B,)
    summed: torch.Tensor  # (B, SUMMARY_DIM)
    track_target: torch.Tensor  # (B, T, O)
    track_weight: torch.Tensor  # (B, T, O) mask (0 for padding and ambiguous outputs)
    reverb_target: torch.Tensor
    master_target: torch.Tensor
    master_weight: torch.Tensor


def collate(items: list[dict[str, Any]]) -> Batch:
    """Pad session items (``tracks``, ``track_target``, ``reference``, ...) into one :class:`Batch`."""
    b, t = len(items), max(len(it["tracks"]) for it in items)
    tracks = np.zeros((b, t, TRACK_DIM), np.float32)
    mask = np.zeros((b, t), bool)
    tt = np.zeros((b, t, len(TRACK_OUTPUTS)), np.float32)
    tw = np.zeros_like(tt)
    for k, it in enumerate(items):
        n = len(it["tracks"])
        tracks[k, :n], mask[k, :n], tt[k, :n], tw[k, :n] = it["tracks"], True, it["track_target"], it["track_weight"]

    def stack(key: str) -> torch.Tensor:
        return torch.from_numpy(np.stack([it[key] for it in items]).astype(np.float32))

    return Batch(
        torch.from_numpy(tracks),
        torch.from_numpy(mask),
        stack("reference"),
        torch.tensor([it["has_reference"] for it in items]),
        stack("summed"),
        torch.from_numpy(tt),
        torch.from_numpy(tw),
        stack("reverb_target"),
        stack("master_target"),
        stack("master_weight"),
    )


def loss_terms(
    model: MixController, batch: Batch, *, out: dict[str, torch.Tensor] | None = None
) -> dict[str, torch.Tensor]:
    """``{"track", "switch", "reverb", "master", "total"}`` losses of one batch (``out``: the
    model's outputs on it, when already computed)."""
    if out is None:
        out = model(batch.tracks, batch.mask, batch.reference, batch.has_reference, batch.summed)
    pred = torch.sigmoid(out["track"])
    w = batch.track_weight * _TRACK_WEIGHTS
    reg = F.smooth_l1_loss(pred[..., _REG_IDX], batch.track_target[..., _REG_IDX], reduction="none", beta=0.05)
    track = (reg * w[..., _REG_IDX]).sum() / w[..., _REG_IDX].sum().clamp_min(1.0)
    sw = batch.track_weight[..., _SWITCH_IDX]
    bce = F.binary_cross_entropy_with_logits(
        out["track"][..., _SWITCH_IDX], batch.track_target[..., _SWITCH_IDX], reduction="none"
    )
    switch = (bce * sw).sum() / sw.sum().clamp_min(1.0)
    reverb = F.smooth_l1_loss(torch.sigmoid(out["reverb"]), batch.reverb_target, beta=0.05)
    mr = F.smooth_l1_loss(torch.sigmoid(out["master"]), batch.master_target, reduction="none", beta=0.05)
    master = (mr * batch.master_weight).sum() / batch.master_weight.sum().clamp_min(1.0)
    total = track + 0.2 * switch + reverb + master
    return {"track": track, "switch": switch, "reverb": reverb, "master": master, "total": total}
