"""Torch's intra-op threads for the mixers' small-tensor work."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch

__all__ = ["single_threaded"]


@contextmanager
def single_threaded() -> Iterator[None]:
    """Run torch on one intra-op thread inside the block (or the decorated function), then
    restore the count.

    The mixers' optimisations work on small tensors (the separation model: sources × 2 × 128
    frames × 40 bands; the reverse fit's excerpts): with two threads on two busy cores each step
    waits on the other thread. A separation step took 6x longer (178 ms against 28 ms forward and
    backward, ``benchmarks/rules_speed.py``); the reverse fit 10-15x.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)
