"""Excerpt renders that re-run only what an edit changes.

Each strip's output (:meth:`Console.strip_blocks <mixassist.console.console.Console.strip_blocks>`)
is kept under a key of the excerpt, the track, its settings and lanes, and the console's key of
everything else it depends on (the render's plan; whether its channel group runs the EQ and the
compressor).  A render takes every kept strip whose key still holds, renders the others, and runs
the buses (sum, reverb, master) on them: the same mix, bit for bit, as a full render of the
excerpt (``tests/test_serve_api.py``).  After an edit to one track only that strip and the buses
run; a change to the master or the reverb runs the buses only."""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Hashable

import numpy as np
import torch

from mixassist.audio.multitrack import Multitrack
from mixassist.console.console import Console, ConsoleSettings
from mixassist.console.params import MixParams

__all__ = ["StripCache"]


class StripCache:
    """Renders excerpts of one session at ``sample_rate``, keeping strip outputs up to
    ``budget_bytes`` (least recently used go first; 10 s of a stereo strip at 44.1 kHz is 3.5 MB)
    and the last few mixes."""

    def __init__(self, sample_rate: int, budget_bytes: int = 512 * 2**20) -> None:
        self.console = Console(sample_rate)
        self.budget_bytes = budget_bytes
        self.kept_bytes = 0
        self.strips: OrderedDict[Hashable, list[torch.Tensor]] = OrderedDict()
        self.mixes: OrderedDict[str, np.ndarray] = OrderedDict()
        #: Strips rendered so far (the rest came from the cache): what the tests count.
        self.strips_rendered = 0

    def render(self, multitrack: Multitrack, params: MixParams, *, key: Hashable) -> np.ndarray:
        """The mix of ``multitrack`` (an excerpt named by ``key``) with ``params``."""
        whole = json.dumps([key, params.to_dict()], sort_keys=True)
        if whole in self.mixes:
            self.mixes.move_to_end(whole)
            return self.mixes[whole]
        strips = self.strips_of(multitrack, params, key=key)
        mix = self.console.render(multitrack, params, strips=strips).mix
        self.mixes[whole] = mix
        while len(self.mixes) > 8:
            self.mixes.popitem(last=False)
        return mix

    def dry_sum(self, multitrack: Multitrack, params: MixParams, *, key: Hashable) -> np.ndarray:
        """The strips' sum, float32 ``(2, samples)``: the mix bus before the reverb return and the
        master (from the kept strips; a few samples of latency tail at the end)."""
        strips = self.strips_of(multitrack, params, key=key)
        return torch.cat([sum(blocks) for blocks in zip(*strips.values())], dim=-1)[0].numpy()

    def strips_of(self, multitrack: Multitrack, params: MixParams, *, key: Hashable) -> dict[str, list[torch.Tensor]]:
        """Every track's strip output, block by block: kept ones reused, the others rendered."""
        plan = self.console.plan(ConsoleSettings.from_params(_dry(params)))
        lanes = params.to_dict().get("lanes", {})
        strips = {}
        for name in params.track_names:
            console_key, blocks = self.console.strip_blocks(multitrack, params, name, plan)
            own = json.dumps([params.tracks[name], lanes.get(name)], sort_keys=True)
            cache_key = (key, name, own, console_key)
            if cache_key not in self.strips:
                self.strips[cache_key] = list(blocks)
                self.kept_bytes += sum(b.numel() * b.element_size() for b in self.strips[cache_key])
                self.strips_rendered += 1
            self.strips.move_to_end(cache_key)
            strips[name] = self.strips[cache_key]
        while self.kept_bytes > self.budget_bytes and len(self.strips) > len(strips):  # (this render's stay)
            _, dropped = self.strips.popitem(last=False)
            self.kept_bytes -= sum(b.numel() * b.element_size() for b in dropped)
        return strips


def _dry(params: MixParams) -> MixParams:
    """``params`` without reverb sends: the same plan for the strips (which run before the sends)
    without designing the reverb's impulse response, which the bus render designs anyway."""
    dry = params.copy()
    for name in dry.track_names:
        dry.set(name, "reverb_send_db", None)
        dry.clear_lane(name, "reverb_send_db")
    return dry
