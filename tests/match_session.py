"""The four-stem toy session the style-match tests mix (tests/test_match*.py)."""

from __future__ import annotations

import numpy as np

from mixassist.audio.multitrack import Multitrack

SR = 22050
SECONDS = 5.0


def four_stems(seed: int = 3) -> Multitrack:
    """Four stems with content in different bands: bass, keys (stereo), hats, a lead line."""
    rng = np.random.default_rng(seed)
    n = int(SECONDS * SR)
    t = np.arange(n) / SR
    beat = (np.sin(2 * np.pi * 2.0 * t) > 0).astype(float)
    bass = (0.5 * np.sin(2 * np.pi * 55 * t) + 0.2 * np.sin(2 * np.pi * 110 * t)) * (0.4 + 0.6 * beat)
    chord = sum(np.sin(2 * np.pi * f * t + p) for f, p in ((262, 0.0), (330, 1.0), (392, 2.0)))
    keys = np.stack([chord + 0.3 * rng.standard_normal(n), chord + 0.3 * rng.standard_normal(n)]) * 0.1
    hats_env = np.exp(-((t * 8) % 1.0) * 30)
    hats = np.diff(rng.standard_normal(n + 1)) * hats_env * 0.2
    lead = 0.3 * np.sin(2 * np.pi * (440 + 40 * np.sin(2 * np.pi * 0.5 * t)) * t) * (0.5 + 0.5 * beat[::-1])
    return Multitrack.from_arrays({"bass": bass[None].astype(np.float32), "keys": keys.astype(np.float32),
                                   "hats": hats[None].astype(np.float32), "lead": lead[None].astype(np.float32)}, SR)
