"""Per-strip caching of excerpt renders (placeholder: whole renders memoised)."""

from __future__ import annotations

import json
from collections import OrderedDict
from typing import Any

import numpy as np

from mixassist.audio.multitrack import Multitrack
from mixassist.console.console import Console
from mixassist.console.params import MixParams

__all__ = ["StripCache"]


class StripCache:
    """Renders excerpts of a session, remembering recent results."""

    def __init__(self, sample_rate: int, size: int = 8) -> None:
        self.console = Console(sample_rate)
        self.size = size
        self.mixes: OrderedDict[str, np.ndarray] = OrderedDict()
        self.strips_rendered = 0

    def render(self, multitrack: Multitrack, params: MixParams, *, key: Any) -> np.ndarray:
        token = json.dumps([key, params.to_dict()], sort_keys=True)
        if token in self.mixes:
            self.mixes.move_to_end(token)
            return self.mixes[token]
        mix = self.console.render(multitrack, params).mix
        self.strips_rendered += len(multitrack)
        self.mixes[token] = mix
        while len(self.mixes) > self.size:
            self.mixes.popitem(last=False)
        return mix
