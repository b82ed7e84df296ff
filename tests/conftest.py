"""Shared fixtures. Test data is made here, never read from somebody's machine."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(20261122)


@pytest.fixture
def write_bytes(tmp_path: Path):
    def _write(name: str, payload: bytes) -> Path:
        p = tmp_path / name
        p.write_bytes(payload)
        return p

    return _write
