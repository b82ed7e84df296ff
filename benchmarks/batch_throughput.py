"""Songs per hour of ``mixassist batch`` with 1 and 2 local workers and on Ray with 2 workers;
Ray's overhead per song; CPU seconds and peak memory per song for each mixing method.

The songs are made up and seeded: ``--songs`` folders (default 6) of four stems (kick, bass,
stereo keys, lead), ``--seconds`` long (default 15), 44.1 kHz, each with a ``reference.wav``
(another seeded song's raw sum), so every method can run. Each executor mixes the same songs
through :func:`mixassist.batch.run_batch` (the ``batch`` command's path) into a fresh folder:

* ``local_1`` / ``local_2``: :class:`~mixassist.executors.LocalPool` with 1 and 2 workers
  (fresh processes, one compute thread each); the batch's wall time includes their start-up.
* ``ray_2``: a local Ray runtime, ``ray.init(num_cpus=2)``, started before the clock (a
  cluster is up before a batch is submitted); its two workers start cold inside the clock,
  as the pool's do. ``ray_2_warm`` runs the songs again on the same, now warm, workers.

Per executor: ``songs_per_hour`` = songs / batch wall × 3600; ``task_s`` (mean wall seconds
inside the worker per song) and ``task_cpu_s``; ``peak_rss_mb`` per worker (the largest peak
resident memory of a worker during one song: the batch's ``summary.csv`` column) and
``overhead_pct`` = (batch wall × workers / songs − task_s) / task_s: what the executor adds to
each song (start-up, scheduling, transfer), as a share of the song's own time. Cold runs pay the
workers' start-up (imports, numba caches: seconds per worker, the same for the pool and Ray) once
per batch; ``ray_overhead_pct`` is ``ray_2_warm``'s: what Ray itself adds per song (submitting,
scheduling, moving the task and its result).

``methods``: every method of :data:`mixassist.mixers.base.MIXERS` on ``--method-songs`` songs
(default 1) of a full song's size (``--method-seconds`` 180, ``--method-stems`` 8, the same
kinds of seeded stems), one worker (so CPU seconds are the method's own, on one thread), with
the reference: CPU seconds, wall seconds and peak memory per song (medians over the songs). A
fresh worker's first song includes its warm-up (imports inside the task, numba caches: about
1 CPU-s, see ``task_cpu_s`` of the cold runs against ``ray_2_warm``).

    python benchmarks/batch_throughput.py [--songs 6] [--seconds 15] [--method neural] [--json]
        [--method-songs 1] [--method-seconds 180] [--method-stems 8]

Machine load matters (the 2-core machine is shared): ``uptime``'s load averages before and
after are in the JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
# Ray's workers import this tree's package too (pool workers get sys.path from this process).
os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT / "src"), os.environ.get("PYTHONPATH")]))

from mixassist.audio.io import save_audio  # noqa: E402
from mixassist.batch import BatchOptions, read_songs, run_batch  # noqa: E402
from mixassist.executors import Executor, LocalPool, RayExecutor  # noqa: E402

RATE = 44100


def make_song(folder: Path, seconds: float, seed: int, stems_count: int = 4) -> None:
    """Seeded stems (kick, bass, stereo keys, lead, then pads and percussion up to
    ``stems_count``) and a reference (the raw sum)."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * RATE)) / RATE
    beat = 60.0 / (92.0 + 6 * (seed % 7))
    env = np.exp(-((t % beat) / beat) * 9)
    f0 = 55.0 * 2 ** (int(rng.integers(0, 7)) / 12)
    stems = {
        "kick": (0.8 * np.sin(2 * np.pi * 50 * t) * env**3)[None],
        "bass": (0.3 * np.sign(np.sin(2 * np.pi * f0 * t)) * (0.6 + 0.4 * env))[None],
        "keys": 0.15 * np.stack([np.sin(2 * np.pi * f0 * 4 * t + p) for p in (0.0, 0.5)]) * (0.6 + 0.4 * np.roll(env, 300)),
        "lead": (0.2 * np.sin(2 * np.pi * f0 * 8 * t * (1 + 0.005 * np.sin(2 * np.pi * 5 * t))))[None],
    }
    for k in range(4, stems_count):
        if k % 2:  # percussion: noise bursts off the beat
            hits = np.exp(-(((t + beat * (0.25 + 0.1 * k)) % (beat / 2)) / beat) * 30)
            stems[f"perc{k}"] = (0.3 * rng.standard_normal(t.size) * hits)[None]
        else:  # a slow stereo pad
            f = f0 * 2 ** (int(rng.integers(12, 24)) / 12)
            swell = 0.5 + 0.5 * np.sin(2 * np.pi * t / (8 * beat))
            stems[f"pad{k}"] = 0.08 * np.stack([np.sin(2 * np.pi * f * t + p) for p in (0.0, 1.1)]) * swell
    folder.mkdir(parents=True)
    total = np.zeros((2, t.size))
    for name, audio in stems.items():
        audio = audio * 10 ** (rng.uniform(-10, 0) / 20)
        save_audio(folder / f"{name}.wav", audio.astype(np.float32), RATE, 24)
        total += audio if audio.shape[0] == 2 else np.repeat(audio, 2, axis=0)
    save_audio(folder / "reference.wav", (0.5 * total / np.max(np.abs(total))).astype(np.float32), RATE, 24)


def run(executor: Executor, songs: Path, out: Path, method: str) -> dict:
    start = time.perf_counter()
    rows = run_batch(read_songs(songs), BatchOptions(out=str(out), method=method), executor)
    wall = time.perf_counter() - start
    failed = [r for r in rows if r["status"] != "done"]
    if failed:
        raise SystemExit(f"{len(failed)} songs failed: {failed[0]['error']}")
    task = statistics.mean(r["seconds"] for r in rows)
    workers = executor.workers
    return {
        "workers": workers,
        "songs": len(rows),
        "batch_wall_s": round(wall, 2),
        "songs_per_hour": round(len(rows) / wall * 3600, 1),
        "task_s": round(task, 3),
        "task_cpu_s": round(statistics.mean(r["cpu_s"] for r in rows), 3),
        "peak_rss_mb": max(r["peak_rss_mb"] for r in rows),
        "overhead_pct": round(100 * (wall * workers / len(rows) - task) / task, 1),
    }


def per_method(songs: Path, work: Path) -> dict:
    from mixassist.mixers.base import MIXERS

    results = {}
    for method in MIXERS:
        rows = run_batch(
            read_songs(songs), BatchOptions(out=str(work / f"m_{method}"), method=method), LocalPool(1)
        )
        bad = [r["error"] for r in rows if r["status"] != "done"]
        if bad:
            results[method] = {"error": bad[0]}
            continue
        results[method] = {
            "cpu_s_per_song": round(statistics.median(r["cpu_s"] for r in rows), 2),
            "wall_s_per_song": round(statistics.median(r["seconds"] for r in rows), 2),
            "peak_rss_mb": round(max(r["peak_rss_mb"] for r in rows), 1),
        }
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--songs", type=int, default=6)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--method", default="neural", help="The method of the throughput runs.")
    parser.add_argument("--method-songs", type=int, default=1, help="Songs per method for `methods` (0: skip).")
    parser.add_argument("--method-seconds", type=float, default=180.0, help="Length of the `methods` songs.")
    parser.add_argument("--method-stems", type=int, default=8, help="Stems of the `methods` songs.")
    parser.add_argument("--json", action="store_true", help="Only the JSON on stdout.")
    args = parser.parse_args()
    load_before = os.getloadavg()
    work = Path(tempfile.mkdtemp(prefix="batch-bench-"))
    songs = work / "songs"
    for i in range(args.songs):
        make_song(songs / f"song_{i:02d}", args.seconds, seed=i)
    result: dict = {
        "benchmark": "batch_throughput",
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "python": platform.python_version()},
        "songs": args.songs,
        "seconds_per_song": args.seconds,
        "sample_rate": RATE,
        "stems": 4,
        "method": args.method,
        "load_average_before": [round(x, 2) for x in load_before],
    }
    runs = {
        "local_1": run(LocalPool(1), songs, work / "local_1", args.method),
        "local_2": run(LocalPool(2), songs, work / "local_2", args.method),
    }
    import ray  # the optional extra: the benchmark needs it

    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        executor = RayExecutor(None)
        runs["ray_2"] = run(executor, songs, work / "ray_2", args.method)
        runs["ray_2_warm"] = run(executor, songs, work / "ray_2_warm", args.method)
    finally:
        ray.shutdown()
    result["runs"] = runs
    result["ray_overhead_pct"] = runs["ray_2_warm"]["overhead_pct"]
    if args.method_songs:
        method_songs = work / "method_songs"
        for i in range(args.method_songs):
            make_song(method_songs / f"long_{i:02d}", args.method_seconds, seed=100 + i, stems_count=args.method_stems)
        result["methods_song"] = {"songs": args.method_songs, "seconds": args.method_seconds, "stems": args.method_stems}
        result["methods"] = per_method(method_songs, work)
    result["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    shutil.rmtree(work, ignore_errors=True)
    text = json.dumps(result, indent=2)
    out = Path(__file__).with_suffix(".json")
    out.write_text(text + "\n")
    print(text if args.json else f"{text}\nwrote {out}")


if __name__ == "__main__":
    main()
