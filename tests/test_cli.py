"""The command line (mostly in this process, tests/cli_runner.py): real exit codes, one-line errors, strict JSON."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from cli_runner import run_cli, run_process
from signals import sine, wav_bytes

JSON_KEYS = {
    "file",
    "integrated_lufs",
    "loudness_range_lu",
    "true_peak_dbtp",
    "sample_peak_dbfs",
    "momentary_max_lufs",
    "short_term_max_lufs",
    "plr_db",
    "correlation",
    "side_mid_db",
}


run = run_cli  # the commands' behaviour; test_missing_file_and_usage_errors_exit_2 also runs a real process


def test_analyze_json_is_strict_and_complete(tmp_path):
    sf.write(tmp_path / "tone.wav", sine(1000, 5.0, 48000, amplitude=10 ** (-23 / 20), channels=2).T, 48000, subtype="FLOAT")
    sf.write(tmp_path / "silence.wav", np.zeros(48000, np.float32), 48000)
    proc = run("analyze", "--json", str(tmp_path / "tone.wav"), str(tmp_path / "silence.wav"))
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(proc.stdout, parse_constant=lambda c: pytest.fail(f"non-strict JSON constant {c}"))
    assert [Path(r["file"]).name for r in rows] == ["tone.wav", "silence.wav"]
    for row in rows:
        assert JSON_KEYS <= set(row)
    tone, silence = rows
    assert tone["integrated_lufs"] == pytest.approx(-23.0, abs=0.1)
    assert tone["correlation"] == pytest.approx(1.0, abs=1e-6)
    assert silence["integrated_lufs"] is None and "integrated_lufs" in silence["reasons"]


def test_analyze_table(tmp_path):
    sf.write(tmp_path / "tone.wav", sine(1000, 3.0, 44100, amplitude=0.1).T, 44100)
    proc = run("analyze", str(tmp_path / "tone.wav"))
    assert proc.returncode == 0, proc.stderr
    assert "tone.wav" in proc.stdout and "Integrated" in proc.stdout


@pytest.mark.parametrize(
    ("name", "payload", "reason"),
    [
        ("empty.wav", b"", "empty"),
        ("text.wav", b"not audio at all\n" * 30, "not a readable audio file"),
        ("rate.wav", wav_bytes(1, 1_000_000_000, 16, b"\x00\x01" * 50), "sample rate"),
        ("six.wav", wav_bytes(6, 44100, 16, b"\x00" * 1200), "6 channels"),
    ],
)
def test_user_errors_are_one_line_exit_2(write_bytes, name, payload, reason):
    p = write_bytes(name, payload)
    proc = run("analyze", str(p))
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert name in lines[0] and reason in lines[0]
    assert "Traceback" not in proc.stderr and proc.stdout == ""


def test_nan_error_names_track_and_sample(tmp_path):
    x = np.zeros((1, 500), np.float32)
    x[0, 321] = np.nan
    sf.write(tmp_path / "bad.wav", x.T, 44100, subtype="FLOAT")
    proc = run("analyze", str(tmp_path / "bad.wav"))
    assert proc.returncode == 2
    assert "bad.wav" in proc.stderr and "frame 321" in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.parametrize("run", [run_cli, run_process], ids=["in-process", "process"])
def test_missing_file_and_usage_errors_exit_2(tmp_path, run):
    proc = run("analyze", str(tmp_path / "nope.wav"))
    assert proc.returncode == 2 and "nope.wav" in proc.stderr and "Traceback" not in proc.stderr
    assert proc.stderr.count("\n") == 1, proc.stderr
    assert run("analyze").returncode == 2  # no files: a usage error
    assert run("no-such-command").returncode == 2


def test_version():
    proc = run("--version")
    assert proc.returncode == 0 and proc.stdout.startswith("mixassist ")


def test_result_lines_never_wrap_a_long_path():
    """Results go to scripts as well as people: a path longer than the terminal stays on one line."""
    from mixassist.terminal import out

    path = "/" + "/".join(["a-rather-long-folder-name"] * 12) + "/song.rpp"
    with out.capture() as captured:
        out.print(f"wrote {path}")
    assert captured.get() == f"wrote {path}\n"
