"""The bundled demo multitrack is what the README promises, and our meter agrees with pyloudnorm on it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyloudnorm
import pytest
import soundfile as sf

from mixassist import load_multitrack
from mixassist.measure import integrated_loudness

DEMO = Path(__file__).resolve().parents[1] / "examples" / "demo"
STEMS = sorted((DEMO / "stems").glob("*.flac"))


def test_demo_shape_and_size():
    assert 6 <= len(STEMS) <= 10
    stems = load_multitrack(DEMO / "stems")
    assert 20.0 <= stems.duration_s <= 40.0
    assert {t.channels for t in stems} == {1, 2}
    assert not any(t.is_silent() for t in stems)
    total = sum(p.stat().st_size for p in DEMO.rglob("*") if p.is_file())
    assert total <= 8 * 1024**2
    assert (DEMO / "LICENSE.md").exists() and (DEMO / "reference.flac").exists()
    licence = (DEMO / "LICENSE.md").read_text()
    assert "CC BY" in licence and "MIT" in licence


@pytest.mark.parametrize("path", [*STEMS, DEMO / "reference.flac"], ids=lambda p: p.name)
def test_integrated_loudness_equals_pyloudnorm(path):
    data, rate = sf.read(path, dtype="float64", always_2d=True)
    ours = integrated_loudness(data.T, rate)
    theirs = pyloudnorm.Meter(rate).integrated_loudness(data)
    assert ours is not None and np.isfinite(theirs)
    assert abs(ours - theirs) <= 0.05


def test_levels_are_deliberately_unequal():
    levels = {}
    for p in STEMS:
        data, rate = sf.read(p, dtype="float64", always_2d=True)
        levels[p.stem] = integrated_loudness(data.T, rate)
    assert max(levels.values()) - min(levels.values()) >= 10.0  # some quiet, one hot
