"""The README's examples are executed, so they cannot rot."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from cli_runner import run_cli

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README, flags=re.S)


def test_readme_has_examples():
    assert blocks("python") and any("$ mixassist" in b for b in blocks("console"))


def test_python_examples_run(monkeypatch, capsys):
    """The Python blocks form one session, run in order in one namespace."""
    monkeypatch.chdir(ROOT)
    namespace = {"__name__": "readme"}
    for code in blocks("python"):
        exec(compile(code, "README.md", "exec"), namespace)


@pytest.mark.parametrize(
    "line",
    [ln[2:] for b in blocks("console") for ln in b.splitlines() if ln.startswith("$ mixassist ")],
)
def test_cli_examples_run(line):
    """Through the console script's ``main``, in this process (tests/cli_runner.py; test_cli.py
    runs the installed command as a real process)."""
    proc = run_cli(*shlex.split(line)[1:], cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
