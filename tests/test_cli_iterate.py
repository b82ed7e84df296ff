"""Delivery presets, ``mix --json`` and ``mix --from`` (issue 21), through the real command."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from cli_runner import run_cli

from mixassist.delivery import DELIVERY_TARGETS, delivery_target
from mixassist.errors import InvalidParameterError
from mixassist.measure import integrated_loudness, true_peak

SR = 22050
DOCS = Path(__file__).resolve().parents[1] / "docs" / "delivery.md"


run = run_cli  # in this process: a fresh one spends 3-4 s importing (tests/cli_runner.py)


def test_the_docs_table_states_every_preset_as_the_code_does():
    rows = {}
    for line in DOCS.read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 4 and cells[0].startswith("`") and cells[0].endswith("`"):
            rows[cells[0].strip("`")] = cells
    assert set(rows) == set(DELIVERY_TARGETS)
    for name, t in DELIVERY_TARGETS.items():
        loudness, ceiling = rows[name][1], rows[name][2]
        assert loudness == ("—" if t.loudness_lufs is None else f"{t.loudness_lufs:g} LUFS"), name
        assert ceiling == f"{t.ceiling_dbtp:g} dBTP", name
        assert re.search(r"https?://", rows[name][-1]), f"{name}: no source"
    with pytest.raises(InvalidParameterError, match="spotify, apple-music"):
        delivery_target("myspace")


@pytest.mark.slow  # three real mixes (about 40 s of CPU)
def test_target_json_and_from(tmp_path):
    stems = tmp_path / "stems"
    stems.mkdir()
    t = np.arange(4 * SR) / SR
    sf.write(
        stems / "vocals.wav",
        (0.1 * np.sin(2 * np.pi * 220 * t) * (1 + 0.5 * np.sin(2 * np.pi * 3 * t))).astype(np.float32),
        SR,
    )
    sf.write(stems / "bass.wav", (0.2 * np.sin(2 * np.pi * 55 * t)).astype(np.float32), SR)
    first = tmp_path / "first"
    proc = run(
        "mix",
        str(stems),
        "-o",
        str(first),
        "--target",
        "podcast",
        "--json",
        "--lock",
        "vocals.gain_db=-6",
        "--range",
        "bass.gain_db=-10:-2",
    )
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)  # stdout is the JSON and nothing else
    assert summary["method"] == "rules" and summary["target"] == "podcast"
    assert summary["loudness_lufs"] == -16.0 and summary["true_peak_dbtp"] == -1.0
    assert set(summary["timings_s"]) == {"checks and loading", "mixing", "writing", "total"}
    assert all(Path(p).exists() for p in summary["paths"].values())
    assert {"mix", "recipe", "report", "html", "previews"} <= set(summary["paths"])
    audio, rate = sf.read(summary["paths"]["mix"], always_2d=True)
    assert integrated_loudness(audio.T, rate) == pytest.approx(-16.0, abs=0.5)
    assert true_peak(audio.T, rate) <= 10 ** (-1.0 / 20) * 1.001
    assert summary["measured"]["integrated_lufs"] == pytest.approx(integrated_loudness(audio.T, rate), abs=0.05)
    assert len(summary["previews"]) == 4  # raw sum and mix, excerpt and full

    again = tmp_path / "again"
    proc = run("mix", "--from", str(first / "recipe.json"), "-o", str(again), "--json")  # no stems: the recipe's
    assert proc.returncode == 0, proc.stderr
    recipe = json.loads((again / "recipe.json").read_text())
    tracks = {t["name"]: t for t in recipe["tracks"]}
    assert tracks["vocals"]["params"]["gain_db"] == -6.0 and "gain_db" in tracks["vocals"]["locked"]
    assert recipe["context"]["constraints"]["ranges"]["bass"]["gain_db"] == [-10.0, -2.0]
    assert -10.0 <= tracks["bass"]["params"]["gain_db"] <= -2.0
    assert json.loads(proc.stdout)["loudness_lufs"] == -14.0  # the preset was the first run's choice, not kept
    proc = run("mix", "-o", str(tmp_path / "none"))
    assert proc.returncode == 2 and "--from" in proc.stderr and "Traceback" not in proc.stderr
