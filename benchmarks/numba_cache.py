"""First-run against second-run time of ``mixassist mix``: does numba's on-disk cache spare the compile?

Two fresh processes run ``mixassist mix`` (rules) on the same short synthesised session (4 stems
× 6 s at 44.1 kHz in a temporary folder), both with ``NUMBA_CACHE_DIR`` pointing at one new
empty folder: the first starts as a fresh install does (no cached kernel), the second finds the
kernels the first one wrote. A third run points ``NUMBA_CACHE_DIR`` at a read-only folder (as a
read-only install with no writable cache would be): it must still work, compiling in memory.

    python benchmarks/numba_cache.py [--seconds 6] [--json out.json]

Prints JSON: wall seconds per run and the ratio first / second.
"""

from __future__ import annotations

import argparse
import json
import os
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf


def _session(folder: Path, seconds: float, rate: int = 44100) -> Path:
    stems = folder / "stems"
    stems.mkdir()
    t = np.arange(int(seconds * rate)) / rate
    rng = np.random.default_rng(0)
    beat = (np.sin(2 * np.pi * 55 * t) * np.exp(-((t % 0.5) * 12))).astype(np.float32)
    signals = {
        "kick.wav": beat,
        "bass.wav": 0.3 * np.sin(2 * np.pi * 41.2 * t * (1 + 0.01 * np.sin(t))),
        "keys.wav": 0.1 * np.sign(np.sin(2 * np.pi * 220 * t)) + 0.01 * rng.standard_normal(t.size),
        "vocal.wav": 0.2 * np.sin(2 * np.pi * 330 * t) * (1 + np.sin(2 * np.pi * 3 * t)) / 2,
    }
    for name, x in signals.items():
        sf.write(stems / name, np.asarray(x, np.float32), rate, subtype="PCM_24")
    return stems


def _run(stems: Path, out: Path, cache: Path) -> float:
    env = {**os.environ, "NUMBA_CACHE_DIR": str(cache)}
    command = [sys.executable, "-m", "mixassist", "mix", str(stems), "-o", str(out), "--method", "rules", "--overwrite"]
    t0 = time.perf_counter()
    subprocess.run(command, env=env, check=True, capture_output=True)
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        stems = _session(folder, args.seconds)
        cache = folder / "numba-cache"
        cache.mkdir()
        first = _run(stems, folder / "out1", cache)
        second = _run(stems, folder / "out2", cache)
        cached_files = sum(1 for p in cache.rglob("*") if p.suffix in {".nbi", ".nbc"})
        locked = folder / "read-only-cache"
        locked.mkdir()
        locked.chmod(stat.S_IRUSR | stat.S_IXUSR)
        try:
            read_only = _run(stems, folder / "out3", locked)
        finally:
            locked.chmod(stat.S_IRWXU)
    result = {
        "session": f"4 stems x {args.seconds:g} s, 44.1 kHz, mixassist mix --method rules",
        "first_run_s": round(first, 2),
        "second_run_s": round(second, 2),
        "first_over_second": round(first / second, 2),
        "compile_cost_s": round(first - second, 2),
        "cache_files": cached_files,
        "read_only_cache_run_s": round(read_only, 2),
    }
    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")


if __name__ == "__main__":
    main()
