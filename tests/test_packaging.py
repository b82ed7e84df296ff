"""Project promises that are easy to break silently."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "mixassist"
GPL_OR_PEERS = ("pedalboard", "matchering", "dasp_pytorch")


def test_package_never_imports_benchmark_only_peers():
    pattern = re.compile(rf"^\s*(from|import)\s+({'|'.join(GPL_OR_PEERS)})\b", re.M)
    offenders = [str(p.relative_to(ROOT)) for p in SRC.rglob("*.py") if pattern.search(p.read_text())]
    assert offenders == []


def test_no_print_or_assert_validation_in_library_code():
    offenders = []
    for p in SRC.rglob("*.py"):
        if p.name in ("cli.py", "__main__.py"):
            continue
        for i, line in enumerate(p.read_text().splitlines(), 1):
            if re.match(r"\s*print\(", line) or re.match(r"\s*assert\s", line):
                offenders.append(f"{p.relative_to(ROOT)}:{i}")
    assert offenders == []


def test_typed_and_pinned():
    assert (SRC / "py.typed").exists()
    reqs = (ROOT / "requirements.txt").read_text()
    assert "torch==2.13.0" in reqs
    assert all("==" in ln for ln in reqs.splitlines() if ln.strip() and not ln.startswith("#"))


def test_ci_runs_the_readme_test_command():
    assert "make test" in (ROOT / ".ci" / "run").read_text()
    readme = (ROOT / "README.md").read_text()
    assert "make test" in readme and "make demo" in readme
