"""The command line refuses bad output options before it imports the mixing code.

Each case runs ``mixassist`` in a fresh interpreter through a small harness that, when the
command exits, prints which heavy modules (numpy, scipy, torch, numba, the API) were imported by
then.  A refused output option must leave that list empty: the refusal comes before seconds of
imports, whatever the machine's speed (no timing involved).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

HEAVY = ("numpy", "scipy", "torch", "numba", "mixassist.api", "mixassist.measure", "mixassist.console")

HARNESS = f"""
import json, sys
from mixassist.cli import main
try:
    main(sys.argv[1:])
except SystemExit as exit:
    sys.stdout.write(json.dumps({{"code": exit.code, "heavy": [m for m in {HEAVY!r} if m in sys.modules]}}))
"""


def run_cli(*args: str) -> tuple[dict, str]:
    proc = subprocess.run(
        [sys.executable, "-c", HARNESS, *args], capture_output=True, text=True, timeout=300, check=False
    )
    return json.loads(proc.stdout), proc.stderr


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        (("mix", "{stems}", "-o", "{out}", "--bit-depth", "8"), "bit_depth=8 is not one of 16, 24, 32"),
        (("reverse", "{stems}", "--mix", "{stems}", "-o", "{out}", "--bit-depth", "12"), "bit_depth=12"),
        (("render", "{recipe}", "-o", "{out}.mp3"), "output must end in .wav or .flac"),
        (("render", "{recipe}", "-o", "{out}.flac", "--bit-depth", "32"), "FLAC cannot hold 32-bit float"),
        (("mix", "{stems}", "-o", "{file}/sub"), "is a file, not a folder"),
        (("batch", "{stems}", "-o", "{out}", "--bit-depth", "8"), "bit_depth=8 is not one of 16, 24, 32"),
    ],
    ids=["mix-bit-depth", "reverse-bit-depth", "render-extension", "render-flac-32", "mix-file-in-the-way", "batch-bit-depth"],
)
def test_bad_output_options_are_refused_before_heavy_imports(tmp_path: Path, args, reason):
    (tmp_path / "file").write_text("x")
    where = {"stems": str(tmp_path / "stems"), "out": str(tmp_path / "out"), "recipe": str(tmp_path / "r.json"),
             "file": str(tmp_path / "file")}
    result, stderr = run_cli(*(a.format(**where) for a in args))
    assert result["code"] == 2
    assert len(stderr.strip().splitlines()) == 1 and reason in stderr and "Traceback" not in stderr
    assert result["heavy"] == [], f"imported before the refusal: {result['heavy']}"
    assert not (tmp_path / "out").exists()


def test_the_harness_sees_heavy_imports(tmp_path: Path):
    """Control: with good output options the command goes on to load the stems (missing here),
    which imports the audio code first; the harness reports it."""
    result, stderr = run_cli("mix", str(tmp_path / "missing.wav"), "-o", str(tmp_path / "out"))
    assert result["code"] == 2 and "missing.wav" in stderr
    assert "numpy" in result["heavy"] and "mixassist.api" in result["heavy"]
