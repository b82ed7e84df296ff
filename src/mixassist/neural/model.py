"""The controller network: a set transformer over track, reference, sum and bus tokens.

* Track tokens: an MLP of each track's vector (:func:`mixassist.neural.features.track_vector`:
  whole-song summary with stereo and input level, plus the role).
* Reference tokens: two tokens from the reference's summary (mid/side tone, width, dynamics,
  loudness); a learned "no reference" pair stands in when there is none.
* Sum token: the summary of the unprocessed tracks' sum (what the session sounds like before
  mixing), so the network can compare it with the reference.
* Bus tokens: two learned queries, read out as the reverb and master settings.

There is **no positional encoding**: a learned *type* embedding (track / reference / sum / bus)
is all that distinguishes tokens, so track outputs are permutation-equivariant and bus outputs
permutation-invariant in the tracks; a key-padding mask lets batches hold sessions of
different sizes.  Outputs are logits; ``torch.sigmoid`` of them is the layout of
:mod:`mixassist.neural.layout`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

from mixassist.neural.features import SUMMARY_DIM, TRACK_DIM
from mixassist.neural.layout import MASTER_OUTPUTS, REVERB_OUTPUTS, TRACK_OUTPUTS

__all__ = ["ModelConfig", "MixController"]


@dataclass(frozen=True)
class ModelConfig:
    """Sizes of the controller (the defaults are the shipped model's)."""

    d_model: int = 128
    layers: int = 4
    heads: int = 4
    ff: int = 256
    dropout: float = 0.1

    def to_dict(self) -> dict:
        return asdict(self)


def _mlp(n_in: int, n_hidden: int, n_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(n_in, n_hidden), nn.GELU(), nn.Linear(n_hidden, n_out))


class MixController(nn.Module):
    """Predicts console settings for any number of tracks from their features and a reference."""

    def __init__(self, config: ModelConfig | None = None) -> None:
        super().__init__()
        self.config = config or ModelConfig()
        d = self.config.d_model
        self.track_encoder = _mlp(TRACK_DIM, 2 * d, d)
        self.reference_encoder = _mlp(SUMMARY_DIM, 2 * d, 2 * d)
        self.sum_encoder = _mlp(SUMMARY_DIM, 2 * d, d)
        self.no_reference = nn.Parameter(torch.zeros(2, d))
        self.bus_queries = nn.Parameter(torch.randn(2, d) * 0.02)
        self.type_embedding = nn.Parameter(torch.randn(4, d) * 0.02)  # track, reference, sum, bus
        layer = nn.TransformerEncoderLayer(
            d,
            self.config.heads,
            self.config.ff,
            self.config.dropout,
            activation="gelu",
            batch_first=True,
            norm_first=True,
        )
        self.transformer = nn.TransformerEncoder(layer, self.config.layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(d)
        self.track_head = _mlp(d, d, len(TRACK_OUTPUTS))
        self.reverb_head = _mlp(d, d, len(REVERB_OUTPUTS))
        self.master_head = _mlp(d, d, len(MASTER_OUTPUTS))

    def forward(
        self,
        tracks: torch.Tensor,
        track_mask: torch.Tensor,
        reference: torch.Tensor,
        has_reference: torch.Tensor,
        summed: torch.Tensor,
    ) -> dict[str, torch.Tensor]:
        """Logits of every output.

        Parameters
        ----------
        tracks : (batch, tracks, TRACK_DIM)
        track_mask : (batch, tracks) bool, True where a track is present
        reference : (batch, SUMMARY_DIM)
        has_reference : (batch,) bool
        summed : (batch, SUMMARY_DIM), summary of the unprocessed sum

        Returns
        -------
        dict
            ``track`` (batch, tracks, len(TRACK_OUTPUTS)), ``reverb`` (batch, 5), ``master``
            (batch, len(MASTER_OUTPUTS)).
        """
        b, t, _ = tracks.shape
        d = self.config.d_model
        track_tokens = self.track_encoder(tracks) + self.type_embedding[0]
        ref = self.reference_encoder(reference).view(b, 2, d)
        ref = torch.where(has_reference.view(b, 1, 1), ref, self.no_reference.expand(b, 2, d))
        ref_tokens = ref + self.type_embedding[1]
        sum_token = (self.sum_encoder(summed) + self.type_embedding[2]).unsqueeze(1)
        bus_tokens = self.bus_queries.expand(b, 2, d) + self.type_embedding[3]
        tokens = torch.cat([track_tokens, ref_tokens, sum_token, bus_tokens], dim=1)
        present = torch.cat([track_mask, torch.ones(b, 5, dtype=torch.bool, device=tracks.device)], dim=1)
        hidden = self.norm(self.transformer(tokens, src_key_padding_mask=~present))
        return {
            "track": self.track_head(hidden[:, :t]),
            "reverb": self.reverb_head(hidden[:, t + 3]),
            "master": self.master_head(hidden[:, t + 4]),
        }

    def parameter_count(self) -> int:
        return sum(p.numel() for p in self.parameters())
