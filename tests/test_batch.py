"""`mixassist batch` and the executors behind batch, eval and data synth: a local pool whose
worker is killed, --resume, a corrupt song, a manifest, and the same songs on a local Ray
runtime. Songs are 2.5 s of three stems at 22050 Hz, mixed with the neural method (one pass)."""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from cli_runner import run_cli

from mixassist.audio.io import save_audio
from mixassist.batch import BatchOptions, is_complete, read_songs, run_batch
from mixassist.errors import MissingDependencyError, RecipeError
from mixassist.executors import InProcess, RayExecutor, Task

SR = 22050
SONGS = ("song_a", "song_b", "song_c", "song_d")
ROOT = Path(__file__).resolve().parents[1]


def _write_song(folder: Path, seed: int, seconds: float = 2.5) -> None:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    env = np.exp(-((t % 0.5) / 0.5) * 8)
    folder.mkdir(parents=True)
    save_audio(folder / "bass.wav", (0.3 * np.sin(2 * np.pi * (55 + 5 * seed) * t) * (0.6 + 0.4 * env))[None], SR, 24)
    save_audio(folder / "drums.wav", (0.5 * rng.standard_normal(t.size) * env**4)[None], SR, 24)
    keys = 0.1 * np.stack([np.sin(2 * np.pi * 330 * t + p) for p in (0.0, 0.3)])
    save_audio(folder / "keys.wav", keys, SR, 24)


@pytest.fixture(scope="module")
def songs(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("songs")
    for seed, name in enumerate(SONGS):
        _write_song(root / name, seed)
    return root


def _recipes(out: Path, names: list[str]) -> dict[str, dict]:
    """The songs' recipes without their one wall-clock field (the mixer's seconds)."""
    recipes = {name: json.loads((out / name / "recipe.json").read_text()) for name in names}
    for recipe in recipes.values():
        recipe["context"].pop("seconds", None)
    return recipes


def _summary(out: Path) -> list[dict[str, str]]:
    with open(out / "summary.csv", newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def pooled(songs, tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess, list[int]]:
    """`batch --workers 2` in a subprocess; song_c's worker is killed (SIGKILL) as soon as it
    starts the song, and once more in its retry: the song must end failed, the others whole."""
    out = tmp_path_factory.mktemp("pooled") / "out"
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    command = [sys.executable, "-m", "mixassist", "batch", str(songs), "-o", str(out), "--workers", "2"]
    proc = subprocess.Popen([*command, "--method", "neural"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    killed: list[int] = []
    deadline = time.monotonic() + 300
    while proc.poll() is None and time.monotonic() < deadline:
        for staging in out.glob(".mixassist-*-song_c-*.tmp") if out.is_dir() else ():
            pid = int(staging.name.split("-")[1])
            if pid not in killed and len(killed) < 2:
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
        time.sleep(0.02)
    stdout, stderr = proc.communicate(timeout=60)
    return out, subprocess.CompletedProcess(command, proc.returncode, stdout.decode(), stderr.decode()), killed


def test_a_killed_worker_is_retried_once_then_recorded_failed(pooled):
    out, run, killed = pooled
    assert len(killed) == 2 and killed[0] != killed[1], run.stderr  # the retry ran in a fresh process
    assert run.returncode == 1, run.stderr  # some songs failed: not a user error (2), not success
    rows = {r["song"]: r for r in _summary(out)}
    assert list(rows) == list(SONGS)
    assert rows["song_c"]["status"] == "failed" and rows["song_c"]["attempts"] == "2"
    assert "SIGKILL" in rows["song_c"]["error"] and "twice" in rows["song_c"]["error"]
    assert not (out / "song_c").exists()  # absent, not partial
    assert not [p.name for p in out.iterdir() if p.name.startswith(".")]  # no staging left behind
    for name in ("song_a", "song_b", "song_d"):
        row = rows[name]
        assert row["status"] == "done" and row["method"] == "neural" and is_complete(out / name)
        assert float(row["integrated_lufs"]) == pytest.approx(-14.0, abs=0.1)
        assert float(row["true_peak_dbtp"]) <= -1.0 + 1e-6
        assert 0 < float(row["seconds"]) and 100 < float(row["peak_rss_mb"]) < 4000
    summary = json.loads((out / "summary.json").read_text())
    assert summary["counts"] == {"done": 3, "kept": 0, "failed": 1} and summary["workers"] == 2
    assert "failed: song_c:" in run.stdout


def test_resume_recomputes_only_the_missing_song(pooled, songs):
    out, _, _ = pooled
    before = {n: (out / n / "recipe.json").stat().st_mtime_ns for n in ("song_a", "song_b", "song_d")}
    # finished songs are neither kept nor redone silently
    refused = run_cli("batch", str(songs), "-o", str(out), "--workers", "1", "--method", "neural")
    assert refused.returncode == 2
    assert "--resume" in refused.stderr
    resumed = run_cli("batch", str(songs), "-o", str(out), "--workers", "1", "--method", "neural", "--resume")
    assert resumed.returncode == 0
    after = {n: (out / n / "recipe.json").stat().st_mtime_ns for n in before}
    assert after == before
    assert all(is_complete(out / name) for name in SONGS)
    rows = _summary(out)
    assert [(r["song"], r["status"]) for r in rows] == [
        ("song_a", "kept"),
        ("song_b", "kept"),
        ("song_c", "done"),
        ("song_d", "kept"),
    ]
    assert rows[0]["integrated_lufs"]  # kept songs keep their measures (read from their recipe)
    assert "1 mixed, 3 kept, 0 failed" in resumed.stdout


# ---------------------------------------------------------------------- Ray


@pytest.fixture(scope="module")
def ray_runtime():
    ray = pytest.importorskip("ray")
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield RayExecutor(None)
    ray.shutdown()


def test_ray_batch_gives_the_pools_recipes(ray_runtime, pooled, songs, tmp_path):
    out = tmp_path / "out"
    rows = run_batch(read_songs(songs), BatchOptions(out=str(out), method="neural"), ray_runtime)
    assert [(r["song"], r["status"]) for r in rows] == [(n, "done") for n in SONGS]
    assert len(_summary(out)) == 4 and all(is_complete(out / n) for n in SONGS)
    pool_out = pooled[0]
    names = [n for n in SONGS if is_complete(pool_out / n)]  # song_c too after the --resume test
    assert len(names) >= 3
    assert _recipes(out, names) == _recipes(pool_out, names)  # stem paths are relative, and equally deep
    assert (out / "song_a" / "mix.wav").read_bytes() == (pool_out / "song_a" / "mix.wav").read_bytes()


def test_a_corrupt_song_fails_while_the_others_complete(ray_runtime, songs, tmp_path):
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "vocals.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk" * 3)
    manifest = tmp_path / "songs.json"
    manifest.write_text(json.dumps([{"stems": str(songs / "song_b")}, {"song": "broken", "stems": "bad"}]))
    out = tmp_path / "out"
    rows = run_batch(read_songs(manifest), BatchOptions(out=str(out), method="neural"), ray_runtime)
    assert [(r["song"], r["status"]) for r in rows] == [("song_b", "done"), ("broken", "failed")]
    assert "vocals.wav" in rows[1]["error"] and "\n" not in rows[1]["error"]
    assert is_complete(out / "song_b") and not (out / "broken").exists()


def test_ray_reruns_a_task_whose_worker_died(ray_runtime, tmp_path):
    flag = tmp_path / "died-once"
    # a builtin (pickled by name, as any worker can import it) that kills its worker the first time
    code = f"import os, pathlib\nif not pathlib.Path({str(flag)!r}).exists():\n    pathlib.Path({str(flag)!r}).touch(); os._exit(9)"
    outcomes = ray_runtime.run([Task("x", exec, (code,))])
    assert outcomes[0].ok and outcomes[0].attempts == 1 and flag.exists()


def test_references_and_eval_on_ray_equal_the_run_in_this_process(ray_runtime, tmp_path):
    from mixassist.data.references import make_references
    from mixassist.evaluate.harness import evaluate_dataset

    here = tmp_path / "here"
    for i, name in enumerate(("s0", "s1")):
        _write_song(here / name / "stems", seed=i, seconds=1.5)
        stems = [
            {"name": n, "file": f"stems/{n}.wav", "role": r, "channels": c}
            for n, r, c in (("bass", "bass", 1), ("drums", "drums", 1), ("keys", "chords", 2))
        ]
        meta = {"version": 1, "name": name, "sample_rate": SR, "seconds": 1.5, "stems": stems, "multi_mic": []}
        (here / name / "song.json").write_text(json.dumps(meta))
    (here / "dataset.json").write_text(json.dumps({"version": 1, "seed": 0, "songs": ["s0", "s1"]}))
    make_references(here, seed=3)
    there = tmp_path / "there"
    shutil.copytree(here, there)
    for file in ("reference.wav", "target_mix.wav", "truth.json"):
        (there / "s1" / file).unlink()  # s1 is made again, on Ray (s0 is kept: resumable)
    make_references(there, seed=3, executor=ray_runtime)
    for file in ("reference.wav", "target_mix.wav", "truth.json"):
        assert (here / "s1" / file).read_bytes() == (there / "s1" / file).read_bytes(), file
    a = evaluate_dataset(here, ["sum"], tmp_path / "eval_here", plots=False)
    b = evaluate_dataset(here, ["sum"], tmp_path / "eval_there", plots=False, executor=ray_runtime)
    for result in (a, b):
        for row in result["songs"].values():
            for method in ("sum",):
                row[method].pop("wall_s")
        result["mean"] = {m: {k: v for k, v in d.items() if k != "wall_s"} for m, d in result["mean"].items()}
    assert json.dumps(a, sort_keys=True, default=str) == json.dumps(b, sort_keys=True, default=str)


# ---------------------------------------------------------------------- no Ray, manifests


def test_ray_without_ray_installed_is_one_line_naming_the_extra(monkeypatch, songs, tmp_path):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError
    with pytest.raises(MissingDependencyError, match=r"pip install mixassist\[cluster\]"):
        RayExecutor("auto")
    proc = run_cli("batch", str(songs), "-o", str(tmp_path / "out"), "--ray", "auto")
    assert proc.returncode == 2
    message = proc.stderr.strip()
    assert "\n" not in message and "pip install mixassist[cluster]" in message
    assert not (tmp_path / "out").exists()


def test_manifest_rows_become_songs_with_absolute_paths(songs, tmp_path):
    manifest = tmp_path / "m.csv"
    rows = [
        "song,stems,reference,words,lock,target,loudness_lufs",
        f"first,{songs / 'song_a'},ref.wav:0.5;other.wav,brighter  wider,bass.gain_db=-3;keys.pan,,-16",
        f",{songs / 'song_b'},,,,spotify,",
    ]
    manifest.write_text("\n".join(rows) + "\n")
    first, second = read_songs(manifest)
    assert first.name == "first" and first.stems == (str(songs / "song_a"),)
    assert first.references == (f"{tmp_path / 'ref.wav'}:0.5", str(tmp_path / "other.wav"))
    assert first.words == "brighter wider" and first.lock == ("bass.gain_db=-3", "keys.pan")
    assert first.loudness_lufs == -16.0 and first.target is None
    assert second.name == "song_b" and second.target == "spotify" and second.loudness_lufs is None
    folder_songs = read_songs(songs)
    assert [s.name for s in folder_songs] == list(SONGS) and len(folder_songs[0].stems) == 3
    manifest.write_text("song,stems,colour\nx,a,red\n")
    with pytest.raises(RecipeError, match="unknown column"):
        read_songs(manifest)


def test_in_process_executor_records_an_error_and_goes_on():
    outcomes = InProcess().run([Task("bad", int, ("x",)), Task("good", int, ("7",))])
    assert [o.ok for o in outcomes] == [False, True] and outcomes[1].value == 7
    assert outcomes[0].error.startswith("ValueError: invalid literal")


def test_song_folder_reads_reference_and_words(tmp_path):
    song = tmp_path / "in" / "tune"
    _write_song(song, 0, seconds=0.5)
    shutil.copy(song / "keys.wav", song / "reference.wav")
    (song / "words.txt").write_text("warmer\n  vocals forward\n")
    (job,) = read_songs(tmp_path / "in")
    assert [Path(s).name for s in job.stems] == ["bass.wav", "drums.wav", "keys.wav"]
    assert [Path(r).name for r in job.references] == ["reference.wav"] and job.words == "warmer vocals forward"
