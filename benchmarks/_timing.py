"""Shared by the benchmark scripts: time a callable several times (wall clock, ``perf_counter``)."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any


def timed(fn: Callable[[], Any], repeats: int, digits: int = 4) -> tuple[dict, Any]:
    """Run ``fn`` ``repeats`` times; ``({"min_s", "median_s", "max_s"}, last return value)``."""
    times, value = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        value = fn()
        times.append(time.perf_counter() - t0)
    stats = {"min_s": min(times), "median_s": statistics.median(times), "max_s": max(times)}
    return {k: round(v, digits) for k, v in stats.items()}, value
