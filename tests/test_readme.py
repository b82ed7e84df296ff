"""The README's examples are executed, so they cannot rot."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README, flags=re.S)


def test_readme_has_examples():
    assert blocks("python") and any("$ mixassist" in b for b in blocks("console"))


@pytest.mark.parametrize("code", blocks("python"))
def test_python_examples_run(code, monkeypatch, capsys):
    monkeypatch.chdir(ROOT)
    exec(compile(code, "README.md", "exec"), {"__name__": "readme"})


@pytest.mark.parametrize(
    "line",
    [ln[2:] for b in blocks("console") for ln in b.splitlines() if ln.startswith("$ mixassist ")],
)
def test_cli_examples_run(line):
    args = shlex.split(line)[1:]
    proc = subprocess.run(
        [sys.executable, "-m", "mixassist", *args],
        cwd=ROOT, capture_output=True, text=True, timeout=300, check=False, env=os.environ.copy(),
    )
    assert proc.returncode == 0, proc.stderr
