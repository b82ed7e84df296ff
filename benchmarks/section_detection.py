#!/usr/bin/env python3
"""How well :func:`mixassist.mixers.structure.detect_sections` finds the boundaries of songs whose
sections are known.

Each true boundary (the start of every section but the first) is matched to at most one detected
boundary within ``--tolerance`` seconds (1 s; closest pairs first); a detected boundary left
unmatched is an *extra*.  Per split: the hit rate (matched / true boundaries, issue 24's figure:
at least 80 % within 1 s), the extras and the precision (matched / detected), the median error
of the matched ones and, per song, the truth and what was found.

Splits (every constant of the detector was chosen on ``validation`` alone; ``test`` and ``ood``
were run once, at the end):

``validation``
    a synthesised pool (``mixassist.data.synth``; ``song.json`` lists its sections):
    ``synthesize_dataset(POOL, songs=24, seconds=30.0, seed=24, sample_rate=22050)``, the pool
    ``ride_steadiness.py`` reads.
``test``
    another pool of the same synthesiser, never looked at while choosing:
    ``synthesize_dataset(POOL, songs=24, seconds=30.0, seed=2417, sample_rate=22050)``.
``ood``
    songs not from the project's synthesiser (engine B has no sections: it loops one
    arrangement): :func:`ood_song`, a small generator written here for this benchmark, with
    sections of 4 or 8 bars in forms such as A B A B C B whose instruments, levels, chords and
    drum patterns change (sometimes only slightly) from one section type to the next, additive
    and subtractive voices of its own, 20 songs (seeds 0…19, 22.05 kHz).

    python benchmarks/section_detection.py --validation POOL [--test POOL2] [--ood 20] [--json OUT]
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
import time
from pathlib import Path

import numpy as np

TOLERANCE_S = 1.0
TARGET_HIT_RATE = 0.8
SR = 22050


def match(truth: list[float], found: list[float], tolerance: float = TOLERANCE_S) -> list[tuple[float, float]]:
    """Pairs ``(true, found)`` within ``tolerance``, each used once, closest pairs first."""
    pairs = sorted(
        ((abs(t - f), i, j) for i, t in enumerate(truth) for j, f in enumerate(found) if abs(t - f) <= tolerance)
    )
    used_t: set[int] = set()
    used_f: set[int] = set()
    out = []
    for _, i, j in pairs:
        if i not in used_t and j not in used_f:
            used_t.add(i)
            used_f.add(j)
            out.append((truth[i], found[j]))
    return out


def pool_songs(pool: Path):
    """``(name, multitrack, true boundaries)`` of each song of a synthesised pool whose sections
    are known (the score excerpts have none in ``song.json``: they are left out)."""
    from mixassist.audio.multitrack import load_multitrack  # lazy: after argument parsing

    for name in json.loads((pool / "dataset.json").read_text())["songs"]:
        meta = json.loads((pool / name / "song.json").read_text())
        starts = [float(s["start_s"]) for s in meta.get("sections") or []]
        if not starts:
            continue
        multitrack = load_multitrack(pool / name / "stems")
        length = multitrack.num_samples / multitrack.sample_rate
        yield name, multitrack, [s for s in starts[1:] if s < length - 0.5]


# ---------------------------------------------------------------- the out-of-distribution songs


def _tone(freqs: np.ndarray, harmonics: tuple[float, ...]) -> np.ndarray:
    phase = 2 * np.pi * np.cumsum(freqs) / SR
    return np.sum([a * np.sin(k * phase) for k, a in enumerate(harmonics, 1) if a], axis=0)


def _notes(starts: list[float], durs: list[float], pitches: list[int], n: int, harmonics, attack, decay) -> np.ndarray:
    out = np.zeros(n)
    for s, d, p in zip(starts, durs, pitches, strict=False):
        a, b = int(s * SR), min(n, int((s + d) * SR))
        if b <= a:
            continue
        t = np.arange(b - a) / SR
        env = np.minimum(1.0, t / attack) * np.exp(-t / decay)
        env[-min(200, env.size) :] *= np.linspace(1, 0, min(200, env.size))
        out[a:b] += env * _tone(np.full(b - a, 440.0 * 2 ** ((p - 69) / 12)), harmonics)
    return out


def _hits(times: list[float], n: int, kind: str, rng: np.random.Generator) -> np.ndarray:
    out = np.zeros(n)
    length = int(0.3 * SR)
    t = np.arange(length) / SR
    if kind == "kick":
        hit = np.sin(2 * np.pi * (50 * t + 60 * (1 - np.exp(-t / 0.03)) * 0.03)) * np.exp(-t / 0.12)
    elif kind == "snare":
        hit = rng.standard_normal(length) * np.exp(-t / 0.06) * 0.6 + np.sin(2 * np.pi * 190 * t) * np.exp(-t / 0.05)
    else:
        noise = rng.standard_normal(length)
        hit = np.diff(noise, prepend=0.0) * np.exp(-t / 0.02) * 0.4
    for s in times:
        a = int(s * SR)
        b = min(n, a + length)
        if a < n:
            out[a:b] += hit[: b - a]
    return out


def ood_song(seed: int):
    """A song of sections from a generator independent of the project's synthesiser: returns the
    stems ``{name: audio}`` and the true boundaries, seconds."""
    rng = np.random.default_rng(seed)
    bpm = float(rng.uniform(78, 150))
    bar = 4 * 60.0 / bpm
    forms = ["ABAB", "ABABCB", "IABAB", "AABAB", "IABCB", "ABCAB"]
    form = forms[int(rng.integers(len(forms)))]
    instruments = ["bass", "chords", "lead", "pad", "arp", "kick", "snare", "hat"]
    types = {}
    for kind in sorted(set(form)):
        on = {i for i in instruments if rng.random() < (0.35 if kind == "I" else 0.6)}
        on |= {"bass", "chords"} if kind != "I" else {"pad"}
        types[kind] = {
            "on": on,
            "gain_db": {i: float(rng.uniform(-6, 3)) for i in instruments},
            "bars": int(rng.choice([2, 4])) if kind == "I" else int(rng.choice([4, 8])),
            "roots": [int(r) for r in rng.choice([0, 2, 5, 7, 9], size=4)],
            "octave": int(rng.choice([0, 12])),
            "busy": int(rng.choice([1, 2])),
        }
    spans = []
    t0 = 0.0
    for kind in form:
        spans.append((t0, kind))
        t0 += types[kind]["bars"] * bar
    n = int(t0 * SR)
    key = int(rng.integers(40, 52))
    stems = {i: np.zeros(n) for i in instruments}
    for start, kind in spans:
        spec = types[kind]
        for b in range(spec["bars"]):
            tb = start + b * bar
            root = key + spec["roots"][b % 4]
            chord = [root + 12, root + 16 - (spec["roots"][b % 4] in (2, 9)), root + 19]
            beats = [tb + k * bar / 4 for k in range(4)]
            add = {
                "bass": _notes(
                    beats[:: 2 // spec["busy"]], [bar / 4 * 0.9] * 4, [root - 12] * 4, n, (1, 0.5, 0.3, 0.2), 0.01, 0.4
                ),
                "chords": _notes(
                    [tb] * 3, [bar * 0.95] * 3, [p + spec["octave"] for p in chord], n, (1, 0.3, 0.1), 0.01, 0.9
                ),
                "pad": _notes([tb] * 3, [bar] * 3, [p + 12 for p in chord], n, (1, 0.0, 0.2), 0.3, 4.0),
                "lead": _notes(
                    [tb + k * bar / 8 for k in range(8) if rng.random() < 0.7],
                    [bar / 8 * 0.9] * 8,
                    [int(root + 24 + rng.choice([0, 2, 4, 7, 9])) for _ in range(8)],
                    n,
                    (1, 0.0, 0.33, 0.0, 0.2),
                    0.005,
                    0.3,
                ),
                "arp": _notes(
                    [tb + k * bar / 16 for k in range(16)],
                    [bar / 16] * 16,
                    [chord[k % 3] + 24 for k in range(16)],
                    n,
                    (1, 0.1),
                    0.002,
                    0.08,
                ),
                "kick": _hits(beats[:: 2 // spec["busy"]] if spec["busy"] == 2 else beats[::2], n, "kick", rng),
                "snare": _hits(beats[1::2], n, "snare", rng),
                "hat": _hits([tb + k * bar / (4 * spec["busy"] * 2) for k in range(8 * spec["busy"])], n, "hat", rng),
            }
            for name in spec["on"]:
                stems[name] += add[name] * 10 ** (spec["gain_db"][name] / 20)
    out = {}
    for name, audio in stems.items():
        if np.abs(audio).max() > 0:
            level = 10 ** (float(rng.uniform(-24, -12)) / 20)
            audio = audio / np.sqrt(np.mean(audio**2)) * level
            out[name] = (audio + rng.standard_normal(n) * level * 1e-3).astype(np.float32)
    return out, [s for s, _ in spans[1:]]


def ood_songs(count: int):
    from mixassist.audio.multitrack import Multitrack  # lazy: after argument parsing

    for seed in range(count):
        stems, truth = ood_song(seed)
        yield f"ood_{seed:02d}", Multitrack.from_arrays(stems, SR), truth


# ---------------------------------------------------------------- scoring


def score(songs, detect) -> dict:
    rows = []
    errors: list[float] = []
    seconds = 0.0
    for name, multitrack, truth in songs:
        t0 = time.perf_counter()
        found_sections = detect(multitrack)
        seconds += time.perf_counter() - t0
        found = [s.start_s for s in found_sections[1:]]
        pairs = match(truth, found)
        errors += [abs(a - b) for a, b in pairs]
        rows.append(
            {
                "song": name,
                "truth_s": [round(x, 2) for x in truth],
                "found_s": [round(x, 2) for x in found],
                "labels": "".join(s.label for s in found_sections),
                "hits": len(pairs),
                "extras": len(found) - len(pairs),
            }
        )
    boundaries = sum(len(r["truth_s"]) for r in rows)
    hits = sum(r["hits"] for r in rows)
    detected = sum(len(r["found_s"]) for r in rows)
    return {
        "songs": len(rows),
        "boundaries": boundaries,
        "hits": hits,
        "hit_rate": round(hits / boundaries, 3) if boundaries else None,
        "extras": detected - hits,
        "precision": round(hits / detected, 3) if detected else None,
        "median_error_s": round(float(np.median(errors)), 3) if errors else None,
        "songs_all_found": sum(r["hits"] == len(r["truth_s"]) for r in rows),
        "detect_seconds": round(seconds, 2),
        "per_song": rows,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--validation", type=Path, help="the validation pool (seed 24)")
    parser.add_argument("--test", type=Path, default=None, help="the test pool (seed 2417)")
    parser.add_argument("--ood", type=int, default=0, help="this many out-of-distribution songs")
    parser.add_argument("--json", type=Path, default=None, help="also write the JSON here")
    args = parser.parse_args()

    from mixassist.mixers import structure  # lazy: after argument parsing

    splits = {}
    if args.validation is not None:
        splits["validation"] = score(pool_songs(args.validation), structure.detect_sections)
    if args.test is not None:
        splits["test"] = score(pool_songs(args.test), structure.detect_sections)
    if args.ood:
        splits["ood"] = score(ood_songs(args.ood), structure.detect_sections)
    for split, figures in splits.items():
        print(
            f"{split}: {figures['hits']}/{figures['boundaries']} boundaries within {TOLERANCE_S:g} s "
            f"({figures['hit_rate']}), {figures['extras']} extras (precision {figures['precision']}), "
            f"median error {figures['median_error_s']} s",
            file=sys.stderr,
        )
    constants = {
        name: getattr(structure, name)
        for name in structure.__all__
        if name.isupper() and not callable(getattr(structure, name))
    }
    report = {
        "benchmark": "section_detection",
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "tolerance_s": TOLERANCE_S,
        "target_hit_rate": TARGET_HIT_RATE,
        "pools": {"validation": str(args.validation), "test": str(args.test), "ood_songs": args.ood},
        "constants": constants,
        "checks": {
            split: {"hit_rate_met": f["hit_rate"] is not None and f["hit_rate"] >= TARGET_HIT_RATE}
            for split, f in splits.items()
        },
        "splits": splits,
    }
    text = json.dumps(report, indent=1)
    if args.json is not None:
        args.json.write_text(text + "\n")
    print(text[:2000])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
