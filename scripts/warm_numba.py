"""Fill numba's on-disk cache at install time (``make venv`` runs this once).

Every numba kernel is compiled with ``cache=True`` (``console/dsp/jit.py``), so only the first run
after an install compiles (about 14 s on a quiet 2-core machine; ``benchmarks/numba_cache.py``).
This runs the code paths ``make demo`` takes on a tiny synthesised session (4 stems x 1 s): a
``rules`` mix (console forward kernels in float32, true peak, limiter, perception model) and a
short ``match`` (the style solver: float64 excerpts and every backward kernel), so those kernels
are compiled here, once, and loaded from the cache afterwards.

    python scripts/warm_numba.py
"""

from __future__ import annotations

import sys
import time

import numpy as np

import mixassist
from mixassist.audio import Multitrack


def session(seconds: float = 1.0, sample_rate: int = 44100) -> Multitrack:
    """Four short synthetic stems with a kick, a bass, keys and a voice-like tone."""
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    rng = np.random.default_rng(0)
    stems = {
        "kick": np.sin(2 * np.pi * 55 * t) * np.exp(-((t % 0.5) * 12)),
        "bass": 0.3 * np.sin(2 * np.pi * 41.2 * t),
        "keys": np.stack([0.1 * np.sign(np.sin(2 * np.pi * 220 * t)), 0.01 * rng.standard_normal(t.size)]),
        "vocal": 0.2 * np.sin(2 * np.pi * 330 * t) * (1 + np.sin(2 * np.pi * 3 * t)) / 2,
    }
    return Multitrack.from_arrays({k: np.asarray(v, np.float32) for k, v in stems.items()}, sample_rate)


def main() -> int:
    start = time.perf_counter()
    stems = session()
    rules = mixassist.mix(stems, method="rules")
    mixassist.mix(stems, method="match", reference=(rules.mix, stems.sample_rate), time_budget_s=1.0)
    sys.stderr.write(f"numba kernels compiled and cached ({time.perf_counter() - start:.1f} s)\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
