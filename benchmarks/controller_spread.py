#!/usr/bin/env python3
"""How much the controller's settings differ across the tracks of a song, against how much the truth does.

Issue 19, build item 3: "Measure how much the predictions vary across the tracks of a song, against
how much the truth varies, and make settings differ where the tracks differ." A new user saw the
controller propose nearly the same settings on every track (about +2 dB shelf near 8 kHz, ~3.6:1,
pan ±0.41). This measures it, so a retrained controller can be judged on it.

For each song, ``mix(stems, reference=[reference], method="neural")`` (the controller, one pass),
and for each kind of track setting:

* ``sd_pred`` and ``sd_true``: the standard deviation **across the song's tracks** of the
  prediction and of the truth (faders centred on the song's mean, since a common offset is the
  delivery's); means over songs, and their ratio ``sd_pred / sd_true`` (1 = as varied as the truth,
  0 = the same value on every track);
* ``r``: the correlation across tracks between prediction and truth, each centred on its song's mean
  and pooled over songs (does the controller vary settings *where* the truth does?);
* ``mae``: mean absolute error.

``pan_abs`` is ``|pan|``: which side a part goes is a free choice, how far out it goes is not.

Sets: **in distribution**, the synthesiser's held-out songs (``truth.json`` holds every console
setting the target mix was rendered with); **out of distribution**, engine B's test split, whose
``meta.json`` states only the target's pans (its processors are not the console's, so no other
setting has a console truth). Only reading: nothing is chosen on these figures.

    python benchmarks/controller_spread.py --in-dist data/heldout --ood data/engine_b/test \
        [--json benchmarks/controller_spread.json] [--limit N]
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import sys
from pathlib import Path
from typing import Any

import numpy as np

from mixassist.api import mix
from mixassist.audio.io import load_audio
from mixassist.audio.multitrack import Multitrack
from mixassist.data.references import load_song

#: Kinds of track setting compared (``gain_db`` centred per song).
KINDS = (
    "gain_db",
    "pan",
    "pan_abs",
    "eq_low_shelf_db",
    "eq_peak1_db",
    "eq_peak2_db",
    "eq_peak3_db",
    "eq_peak4_db",
    "eq_high_shelf_db",
    "comp_ratio",
    "comp_threshold_db",
    "reverb_send_db",
)
CENTRED = {"gain_db"}
#: Kinds read from another: ``pan_abs`` is ``|pan|`` (which side is a free choice; how far out is not).
DERIVED = {"pan_abs": ("pan", abs)}


def load(song: Path) -> tuple[Multitrack, np.ndarray, dict[str, dict[str, float]]]:
    """Stems, reference and the per-track truth (console settings, or engine B's pans)."""
    if (song / "song.json").exists():
        stems, _meta = load_song(song)
        truth = json.loads((song / "truth.json").read_text())["params"]["tracks"]
    else:
        meta = json.loads((song / "meta.json").read_text())
        rate = int(meta["sample_rate"])
        arrays = {s["name"]: load_audio(song / s["file"], sample_rate=rate)[0] for s in meta["stems"]}
        stems = Multitrack.from_arrays(arrays, rate)
        truth = {name: {"pan": float(p)} for name, p in meta["target"]["pans"].items()}
    reference, _ = load_audio(song / "reference.wav", sample_rate=stems.sample_rate)
    return stems, reference, truth


def song_rows(song: Path) -> dict[str, tuple[list[float], list[float]]]:
    """``{kind: (predicted per track, true per track)}`` for the kinds the truth states."""
    stems, reference, truth = load(song)
    params = mix(stems, reference=[(reference, stems.sample_rate)], method="neural").params
    rows: dict[str, tuple[list[float], list[float]]] = {}
    for kind in KINDS:
        pred, true = [], []
        for name in stems.names:
            source, fn = DERIVED.get(kind, (kind, float))
            t = truth.get(name, {}).get(source)
            p = params.get(name, source)
            if t is None or p is None:
                continue
            pred.append(float(fn(p)))
            true.append(float(fn(t)))
        if len(pred) >= 2:
            rows[kind] = (pred, true)
    return rows


def summarise(songs: list[dict[str, tuple[list[float], list[float]]]]) -> dict[str, dict[str, float | int]]:
    out: dict[str, dict[str, float | int]] = {}
    for kind in KINDS:
        pairs = [s[kind] for s in songs if kind in s]
        if not pairs:
            continue
        sd_p = [float(np.std(p)) for p, _ in pairs]
        sd_t = [float(np.std(t)) for _, t in pairs]
        cp = np.concatenate([np.asarray(p) - np.mean(p) for p, _ in pairs])
        ct = np.concatenate([np.asarray(t) - np.mean(t) for _, t in pairs])
        centre = kind in CENTRED
        err = np.concatenate(
            [
                np.abs(
                    (np.asarray(p) - (np.mean(p) if centre else 0)) - (np.asarray(t) - (np.mean(t) if centre else 0))
                )
                for p, t in pairs
            ]
        )
        denom = float(np.linalg.norm(cp) * np.linalg.norm(ct))
        out[kind] = {
            "songs": len(pairs),
            "sd_pred": round(float(np.mean(sd_p)), 3),
            "sd_true": round(float(np.mean(sd_t)), 3),
            "ratio": round(float(np.mean(sd_p)) / max(float(np.mean(sd_t)), 1e-9), 3),
            "r": round(float(cp @ ct) / denom, 3) if denom > 0 else 0.0,
            "mae": round(float(err.mean()), 3),
        }
    return out


def song_dirs(root: Path, limit: int | None) -> list[Path]:
    songs = sorted(p for p in root.iterdir() if (p / "reference.wav").exists() and (p / "stems").is_dir())
    return songs[:limit] if limit else songs


def markdown(result: dict[str, Any]) -> str:
    lines = []
    for key, title in (("in", "in distribution"), ("out", "out of distribution (engine B test; pans only)")):
        table = result["sets"].get(key)
        if not table:
            continue
        lines += [
            f"**{title}** ({result['songs'][key]} songs)",
            "",
            "| setting | sd pred | sd true | ratio | r | MAE |",
            "|---|---|---|---|---|---|",
        ]
        for kind, row in table.items():
            lines.append(
                f"| {kind} | {row['sd_pred']} | {row['sd_true']} | {row['ratio']} | {row['r']} | {row['mae']} |"
            )
        lines.append("")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--in-dist", type=Path, help="the synthesiser's held-out songs (truth.json)")
    parser.add_argument("--ood", type=Path, help="engine B's test split (meta.json)")
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    result: dict[str, Any] = {
        "benchmark": "controller_spread",
        "date": datetime.date.today().isoformat(),
        "machine": platform.platform(),
        "sets": {},
        "songs": {},
    }
    for key, root in (("in", args.in_dist), ("out", args.ood)):
        if root is None:
            continue
        if not root.is_dir():
            print(f"{root}: not a folder of songs", file=sys.stderr)
            return 2
        songs = song_dirs(root, args.limit)
        rows = []
        for k, song in enumerate(songs):
            print(f"[{key} {k + 1}/{len(songs)}] {song.name}", file=sys.stderr, flush=True)
            rows.append(song_rows(song))
        result["sets"][key] = summarise(rows)
        result["songs"][key] = len(songs)
    text = json.dumps(result, indent=1)
    if args.json:
        args.json.write_text(text + "\n")
    print(markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
