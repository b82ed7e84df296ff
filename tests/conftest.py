"""Shared fixtures. Test data is made here, never read from somebody's machine."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

#: The test files that take longest, longest first (measured with ``pytest --durations=0``).
#: ``make test`` hands whole files to two workers in collection order, so these are collected
#: first: longest-first keeps the last file from running alone while the other worker idles.
LONGEST_FIRST = (
    "test_match_words.py",
    "test_neural_train.py",
    "test_match.py",
    "test_rules.py",
    "test_readme.py",
    "test_serve_browser.py",
    "test_neural.py",
    "test_batch.py",
    "test_eval_harness.py",
    "test_spool.py",
    "test_console.py",
    "test_separation.py",
    "test_data_synth.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: the rest keep their order


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
