"""`mixassist mix` (in this process, tests/cli_runner.py): outputs, locks, one-line user errors with exit code 2."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf
from cli_runner import run_cli

from mixassist.measure import integrated_loudness, true_peak

SR = 44100


run = run_cli  # in this process: a fresh one spends 3-4 s importing (tests/cli_runner.py)


@pytest.fixture(scope="module")
def stems(tmp_path_factory):
    folder = tmp_path_factory.mktemp("stems")
    rng = np.random.default_rng(5)
    t = np.arange(4 * SR) / SR
    sf.write(folder / "vocals.wav", (0.1 * np.sin(2 * np.pi * 220 * t) * (1 + 0.5 * np.sin(2 * np.pi * 3 * t))).astype(np.float32), SR)
    sf.write(folder / "bass.wav", (0.2 * np.sin(2 * np.pi * 55 * t)).astype(np.float32), SR)
    noise = rng.standard_normal((4 * SR, 2)).astype(np.float32) * 0.02
    sf.write(folder / "keys.flac", noise, SR)
    return folder


def test_mix_writes_mix_recipe_report_and_honours_locks(stems, tmp_path):
    out = tmp_path / "out"
    proc = run("mix", str(stems), "-o", str(out), "--loudness", "-16", "--lock", "vocals.gain_db=-6",
               "--lock", "bass.*", "--role", "keys=pad")
    assert proc.returncode == 0, proc.stderr
    assert "wrote" in proc.stdout and "LUFS" in proc.stdout
    audio, rate = sf.read(out / "mix.wav", always_2d=True)
    assert rate == SR
    assert integrated_loudness(audio.T, SR) == pytest.approx(-16.0, abs=0.5)
    assert true_peak(audio.T, SR) <= -1.0 + 0.05  # 24-bit dither included
    recipe = json.loads((out / "recipe.json").read_text())
    tracks = {t["name"]: t for t in recipe["tracks"]}
    assert tracks["vocals"]["params"]["gain_db"] == -6.0 and "gain_db" in tracks["vocals"]["locked"]
    assert tracks["bass"]["params"]["gain_db"] == 0.0 and tracks["bass"]["params"]["comp_ratio"] == 1.0
    assert tracks["keys"]["role"] == "pad"
    assert recipe["context"]["loudness_lufs"] == -16.0
    report = (out / "report.md").read_text()
    assert "vocals" in report and "locked by you" in report
    # the recipe reproduces the mix
    proc = run("render", str(out / "recipe.json"), "-o", str(tmp_path / "again.wav"), "--bit-depth", "32")
    assert proc.returncode == 0, proc.stderr
    again, _ = sf.read(tmp_path / "again.wav", always_2d=True)
    assert np.max(np.abs(again - audio)) < 2e-7 * 8  # the 24-bit file vs the float render: dither only


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        (["--lock", "vocals.gian_db=3"], "unknown parameter 'gian_db'"),
        (["--lock", "vox.gain_db=3"], "no track matches 'vox'"),
        (["--lock", "vocals.gain_db=99"], "outside the allowed range"),
        (["--role", "vocals=singer"], "not one of"),
        (["--method", "magic"], "unknown method"),
        (["--loudness", "5"], "outside -40"),
    ],
)
def test_user_errors_are_one_line_exit_2(stems, tmp_path, args, reason):
    proc = run("mix", str(stems), "-o", str(tmp_path / "o"), *args)
    assert proc.returncode == 2, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and reason in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "o" / "mix.wav").exists()


def test_existing_output_is_refused_and_kept(stems, tmp_path):
    out = tmp_path / "o"
    out.mkdir()
    (out / "mix.wav").write_bytes(b"keep me")
    proc = run("mix", str(stems), "-o", str(out))
    assert proc.returncode == 2
    assert "already exists" in proc.stderr and "mix.wav" in proc.stderr
    assert (out / "mix.wav").read_bytes() == b"keep me"


def test_missing_stems_folder(tmp_path):
    proc = run("mix", str(tmp_path / "nowhere"), "-o", str(tmp_path / "o"))
    assert proc.returncode == 2 and "nowhere" in proc.stderr and "Traceback" not in proc.stderr


def test_mix_request_is_checked_once_with_methods_from_the_registry():
    import dataclasses

    from mixassist import InvalidParameterError
    from mixassist.api import METHODS, mix, mix_request
    from mixassist.audio.multitrack import Multitrack
    from mixassist.mixers.base import MIXERS

    assert METHODS == tuple(MIXERS) == ("rules", "match", "neural", "auto")
    assert mix_request().method == "rules" and mix_request(describe="brighter").method == "auto"
    with pytest.raises(InvalidParameterError, match="unknown method 'magic'; methods are: rules, match, neural, auto"):
        mix_request(method="magic")
    request = mix_request(lock=["vocals.gain_db=-3"], roles={"keys": "pad"}, out_dir="o")
    assert request.lock == ("vocals.gain_db=-3",) and request.mixer.name == "rules"
    with pytest.raises(dataclasses.FrozenInstanceError):
        request.method = "match"  # type: ignore[misc]
    tone = Multitrack.from_arrays({"vocals": np.zeros(SR, dtype=np.float32)}, SR)
    with pytest.raises(InvalidParameterError, match="not both"):
        mix(tone, request, seed=1)


def test_output_problems_fail_first_in_one_line(stems, tmp_path):
    import time

    start = time.monotonic()
    proc = run("mix", str(tmp_path / "not-loaded-yet.wav"), "-o", str(tmp_path / "o"), "--bit-depth", "8")
    elapsed = time.monotonic() - start
    assert proc.returncode == 2 and proc.stderr.startswith("mixassist: error: ")  # no blank line first
    assert proc.stderr.strip().splitlines() == [f"mixassist: error: {tmp_path / 'o' / 'mix.wav'}: bit_depth=8 is not one of 16, 24, 32 (--bit-depth)"]
    assert not (tmp_path / "o").exists()
    print(f"--bit-depth 8 refused in {elapsed:.2f} s (process start included)")
    (tmp_path / "file").write_text("x")
    proc = run("mix", str(stems), "-o", str(tmp_path / "file" / "sub"))
    assert proc.returncode == 2 and "is a file, not a folder" in proc.stderr and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
