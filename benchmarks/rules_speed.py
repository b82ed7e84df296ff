"""Wall seconds of ``mix(..., method="rules")`` per stage, against the previous code, on 8 stems × 3 min.

The session is made up and seeded (:func:`session`): kick, snare, hats, bass, keys (stereo), pad
(stereo), a vocal-like lead and a guitar, 44.1 kHz, ``--seconds`` long (default 180). Each side
runs in its own fresh process: ``ours`` is this tree's ``src``; ``baseline`` is the package as it
was at ``--baseline`` (a commit, extracted with ``git archive``; default: the commit this work
started from), so both run the same script on the same audio in the same session. The sides
alternate, round after round, so that a change of load falls on both alike.

Inside a process: the session is built, one 5-s warm-up mix is made (imports, numba caches, FFT
plans), then ``--repeats`` timed mixes of the full session. Each stage's wall (``perf_counter``) and
CPU (``process_time``, all threads) seconds are read from the mixer's progress callback (a stage
lasts until the next stage name); ``render+measure`` is the time from the mixer's last report to
the end of ``mix`` (the delivered mix measured, the recipe built). Medians over the repeats.

It also compares the two sides' decisions on the same session (``decisions``): the largest
absolute difference of each kind of setting (fader and EQ gains in dB, EQ frequencies as octaves
and Hz, pans, widths, sends) between the baseline's recipe and ours.

    python benchmarks/rules_speed.py [--seconds 180] [--seed 0] [--repeats 1] [--baseline COMMIT|none] [--json]
    python benchmarks/rules_speed.py --stems examples/demo/stems     # real stems instead

Target (issue 20): ``rules`` on 8 stems × 3 min in at most 10 s on the 2-core machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

RATE = 44100
ROOT = Path(__file__).resolve().parents[1]
BASELINE = "36ec7cf"  # main before the float32 separation search and the shared strip render (issue 20, fourth pass)
TARGET_S = 10.0


def session(seconds: float, seed: int = 0, rate: int = RATE) -> dict[str, np.ndarray]:
    """Eight seeded stems: kick, snare, hats, bass, keys (stereo), pad (stereo), lead, guitar."""
    rng = np.random.default_rng(seed)
    n = int(seconds * rate)
    t = np.arange(n) / rate
    beat = 60.0 / (96.0 + 8 * (seed % 5))

    def hits(period: float, offset: float, decay: float) -> np.ndarray:
        return np.exp(-((t - offset) % period) * decay)

    kick = 0.8 * np.sin(2 * np.pi * (50 * t + 40 * (1 - np.exp(-((t % beat) * 30))) / 30)) * hits(beat, 0.0, 18.0)
    snare = 0.5 * hits(2 * beat, beat, 22.0) * (0.6 * rng.standard_normal(n) + 0.4 * np.sin(2 * np.pi * 190 * t))
    hats = 0.15 * hits(beat / 2, 0.0, 60.0) * np.diff(rng.standard_normal(n), prepend=0.0)
    roots = 55.0 * 2 ** (np.array([0, 5, 7, 3]) / 12)
    chord = roots[((t // (4 * beat)) % 4).astype(int)]
    bass = 0.5 * np.tanh(2 * np.sin(2 * np.pi * np.cumsum(chord) / rate)) * (0.6 + 0.4 * hits(beat, 0.0, 4.0))

    def voice(mult: float, detune: float) -> np.ndarray:
        return np.sin(2 * np.pi * np.cumsum(chord * mult * (1 + detune)) / rate)

    keys_mono = sum(voice(m, 0.0) for m in (4, 5, 6)) * (0.2 * hits(beat, 0.0, 3.0))
    keys = np.stack([keys_mono, 0.9 * keys_mono + 0.02 * rng.standard_normal(n)])
    swell = 0.6 + 0.4 * np.sin(2 * np.pi * t / 8.0)
    detunes = ((2, 0.003), (3, -0.002), (4, 0.001))
    pad = np.stack([0.08 * swell * sum(voice(m, s * d) for m, d in detunes) for s in (1, -1)])
    notes = rng.integers(0, 8, size=int(seconds / beat) + 2)
    f0 = 220.0 * 2 ** (notes[(t // beat).astype(int)] / 12) * (1 + 0.01 * np.sin(2 * np.pi * 5.5 * t))
    phase = 2 * np.pi * np.cumsum(f0) / rate
    lead = sum(a * np.sin(k * phase) for k, a in ((1, 1.0), (2, 0.5), (3, 0.35), (4, 0.2), (5, 0.12), (7, 0.06)))
    phrases = (np.sin(2 * np.pi * t / (8 * beat)) > -0.3).astype(float)
    lead = 0.25 * lead * np.convolve(phrases, np.ones(2000) / 2000, mode="same")
    guitar = 0.15 * np.tanh(1.5 * sum(voice(m, 0.0) for m in (2, 3, 4, 6)) * hits(beat, beat / 2, 6.0))
    stems = {"kick": kick, "snare": snare, "hats": hats, "bass": bass, "keys": keys, "pad": pad}
    stems |= {"lead": lead, "guitar": guitar}
    return {name: np.asarray(x, dtype=np.float32) for name, x in stems.items()}


# ---------------------------------------------------------------- one side, in its own process
class StageClock:
    """Wall and CPU seconds per stage from a mixer's ``progress(stage, fraction)`` reports."""

    def __init__(self) -> None:
        self.wall: dict[str, float] = {}
        self.cpu: dict[str, float] = {}
        self.stage, self.t_wall, self.t_cpu = "", time.perf_counter(), time.process_time()

    def close(self, stage: str) -> None:
        w, c = time.perf_counter(), time.process_time()
        if self.stage:
            self.wall[self.stage] = self.wall.get(self.stage, 0.0) + w - self.t_wall
            self.cpu[self.stage] = self.cpu.get(self.stage, 0.0) + c - self.t_cpu
        self.stage, self.t_wall, self.t_cpu = stage, w, c

    def progress(self, stage: str, fraction: float) -> None:
        if stage in ("done", "rendering the mix"):
            stage = "render+measure"
        if stage != self.stage:
            self.close(stage)


def _run_side(seconds: float, repeats: int, seed: int, recipe_out: str | None, stems: str | None = None) -> dict:
    from mixassist.api import mix  # lazy: the side's own package (PYTHONPATH)
    from mixassist.audio.multitrack import Multitrack, load_multitrack  # lazy: as above

    if stems:
        multitrack = load_multitrack(sorted(Path(stems).glob("*.*")))
    else:
        multitrack = Multitrack.from_arrays(session(seconds, seed), RATE)
    mix(Multitrack.from_arrays(session(5.0, seed), RATE), method="rules")  # warm-up
    runs = []
    result = None
    for _ in range(repeats):
        clock = StageClock()
        t0, c0 = time.perf_counter(), time.process_time()
        result = mix(multitrack, method="rules", progress=clock.progress)
        clock.close("end")
        runs.append(
            {
                "total_s": time.perf_counter() - t0,
                "total_cpu_s": time.process_time() - c0,
                "stages_s": clock.wall,
                "stages_cpu_s": clock.cpu,
            }
        )
    if recipe_out and result is not None:
        Path(recipe_out).write_text(json.dumps(result.recipe.to_dict()))
    return {"runs": runs, "load_avg_1min": os.getloadavg()[0]}


# ---------------------------------------------------------------- the parent
def _extract(commit: str, into: Path) -> Path:
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", commit, "src"], capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive.stdout, check=True)
    return into / "src"


def _child(src: Path, args: argparse.Namespace, recipe_out: Path) -> dict:
    env = dict(os.environ, PYTHONPATH=str(src))
    command = [sys.executable, __file__, "--phase", "side", "--seconds", str(args.seconds)]
    command += ["--repeats", "1", "--seed", str(args.seed), "--recipe-out", str(recipe_out)]
    if args.stems:
        command += ["--stems", str(Path(args.stems).resolve())]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.stderr.write(done.stderr)
        raise RuntimeError(f"the side from {src} failed (exit {done.returncode})")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _median(runs: list[dict], key: str) -> dict[str, float]:
    stages = sorted(
        {s for r in runs for s in r[key]}, key=lambda s: min(list(r[key]).index(s) for r in runs if s in r[key])
    )
    return {s: round(statistics.median(r[key].get(s, 0.0) for r in runs), 2) for s in stages}


def decision_differences(ours: dict, theirs: dict) -> dict[str, dict]:
    """Largest absolute difference of each kind of setting between two recipes (same tracks)."""
    kinds: dict[str, tuple[float, str]] = {}

    def note(kind: str, value: float, where: str) -> None:
        if value > kinds.get(kind, (-1.0, ""))[0]:
            kinds[kind] = (value, where)

    def settings(recipe: dict) -> dict[str, dict]:
        out = {t["name"]: t["params"] for t in recipe["tracks"]}
        out.update({bus: recipe[bus]["params"] for bus in ("reverb", "master") if bus in recipe})
        return out

    a, b = settings(ours), settings(theirs)
    for name in a.keys() & b.keys():
        for key in a[name].keys() & b[name].keys():
            x, y = a[name][key], b[name][key]
            if not isinstance(x, (int, float)) or not isinstance(y, (int, float)) or isinstance(x, bool):
                if x != y:
                    note(f"{key.split('_')[0]}_on_off", 1.0, f"{name}.{key}: {y} -> {x}")
                continue
            kind = "eq_hz_octaves" if key.endswith("_hz") and key.startswith("eq_") else key
            kind = "eq_db" if key.startswith("eq_") and key.endswith("_db") else kind
            kind = "eq_q" if key.startswith("eq_") and key.endswith("_q") else kind
            diff = abs(np.log2(max(x, 1e-9) / max(y, 1e-9))) if kind == "eq_hz_octaves" else abs(float(x) - float(y))
            note(kind, float(diff), f"{name}.{key}: {y} -> {x}")
    return {k: {"max_abs": round(v, 3), "where": w} for k, (v, w) in sorted(kinds.items())}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=180.0)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--stems", help="a folder of stems to mix instead of the synthesised session")
    parser.add_argument("--baseline", default=BASELINE, help="commit of the previous code, or 'none'")
    parser.add_argument("--json", action="store_true", help="only the JSON line on stdout")
    parser.add_argument("--phase", choices=["side"], help=argparse.SUPPRESS)
    parser.add_argument("--recipe-out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase == "side":
        print(json.dumps(_run_side(args.seconds, args.repeats, args.seed, args.recipe_out, args.stems)))
        return 0

    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        sides = {"ours": ROOT / "src"}
        if args.baseline != "none":
            sides["baseline"] = _extract(args.baseline, Path(tmp))
        runs: dict[str, list[dict]] = {name: [] for name in sides}
        recipes: dict[str, dict] = {}
        loads = []
        for k in range(args.repeats):
            for name, src in sides.items():
                print(f"round {k + 1}/{args.repeats}: {name} …", file=sys.stderr, flush=True)
                out = _child(src, args, Path(tmp) / f"{name}.json")
                runs[name] += out["runs"]
                loads.append(out["load_avg_1min"])
                recipes[name] = json.loads((Path(tmp) / f"{name}.json").read_text())
    report: dict = {"session": args.stems or f"8 stems × {args.seconds:g} s, 44.1 kHz, seed {args.seed}"}
    for name, r in runs.items():
        report[f"{name}_s"] = round(statistics.median(x["total_s"] for x in r), 2)
        report[f"{name}_cpu_s"] = round(statistics.median(x["total_cpu_s"] for x in r), 2)
        report[f"{name}_stages_s"] = _median(r, "stages_s")
        report[f"{name}_stages_cpu_s"] = _median(r, "stages_cpu_s")
        report[f"{name}_runs_s"] = [round(x["total_s"], 2) for x in r]
    if "baseline" in runs:
        report["speed_up"] = round(report["baseline_s"] / report["ours_s"], 2)
        report["cpu_speed_up"] = round(report["baseline_cpu_s"] / report["ours_cpu_s"], 2)
        for kind, key in (("stage_ratios", "stages_s"), ("stage_cpu_ratios", "stages_cpu_s")):
            ours_stages = report[f"ours_{key}"]
            report[kind] = {
                s: round(v / ours_stages[s], 2) if ours_stages.get(s) else None
                for s, v in report[f"baseline_{key}"].items()
            }
        report["decisions"] = decision_differences(recipes["ours"], recipes["baseline"])
        report["baseline_commit"] = args.baseline
    report["target_s"] = TARGET_S
    report["target_met"] = report["ours_s"] <= TARGET_S
    # the bound when other sessions load the cores: every CPU second spread over both cores
    report["cpu_bound_s"] = round(report["ours_cpu_s"] / (os.cpu_count() or 1), 2)
    report["load_avg_1min"] = {"before": round(load_before, 2), "during": loads, "after": round(os.getloadavg()[0], 2)}
    report["cpu_count"] = os.cpu_count()
    report["date"] = time.strftime("%Y-%m-%d %H:%M")
    report["machine"] = f"{platform.machine()} {platform.processor() or platform.node()}"
    if not args.json:
        for s in report["ours_stages_s"]:
            base = report.get("baseline_stages_s", {}).get(s)
            print(
                f"{s:45s} ours {report['ours_stages_s'][s]:7.2f} s   baseline {base if base is not None else '-':>7} s"
            )
        print(f"{'total':45s} ours {report['ours_s']:7.2f} s   baseline {report.get('baseline_s', '-')} s")
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
