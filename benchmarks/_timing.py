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


def timed_side_by_side(sides: dict[str, Callable[[], Any]], repeats: int, digits: int = 4) -> dict[str, dict]:
    """Like for like: one untimed warm-up run of every side, then ``repeats`` rounds that run each
    side once in turn, so that a change of load on a shared machine falls on every side alike.

    Returns ``{side: {"min_s", "median_s", "max_s", "runs_s"}}``.
    """
    for fn in sides.values():
        fn()  # warm-up: imports, caches, compiled kernels, FFT plans
    runs: dict[str, list[float]] = {name: [] for name in sides}
    for _ in range(repeats):
        for name, fn in sides.items():
            t0 = time.perf_counter()
            fn()
            runs[name].append(time.perf_counter() - t0)
    return {
        name: {
            "min_s": round(min(times), digits),
            "median_s": round(statistics.median(times), digits),
            "max_s": round(max(times), digits),
            "runs_s": [round(t, digits) for t in times],
        }
        for name, times in runs.items()
    }
