"""Check that a change of structure changes no result: produce the same outputs from two checkouts, compare.

    python scripts/compare_outputs.py produce OUT [--songs 2 --seconds 6]
    python scripts/compare_outputs.py compare BEFORE AFTER

``produce`` runs the installed ``mixassist`` command (so run it with the checkout's interpreter, or with
``PYTHONPATH=CHECKOUT/src``) on:

- the bundled demo with every mixing method (rules without context; match, neural and auto toward the
  demo's reference; ``reverse`` of the rules mix), each writing ``mix.wav``, ``recipe.json``, ``report.md``;
- a small synthesised set (``data synth``: stems, references, target mixes, truth), and the rules and
  auto mixes of each of its songs.

``compare`` reports every file that differs. Audio and data files must be byte-identical; JSON and
Markdown are compared after removing what measures the run rather than the result (wall-clock seconds,
absolute paths of the output folder, the package version). Exit 0 when nothing differs, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "examples" / "demo"
DEMO_METHODS = ("rules", "match", "neural", "auto")
# Keys that hold how long something took, not what it made.
_TIME_KEY = re.compile(r"(^|_)(seconds|wall_s|time_s|elapsed_s)$|^seconds_|^wall_|_seconds$|^timings?$")
_TIME_TEXT = re.compile(r"\d+(\.\d+)?\s?s\b(?= (per|in|elapsed|total))|in \d+(\.\d+)? s|\(\d+(\.\d+)? s\)")


def _run(*args: str | Path) -> None:
    cmd = [sys.executable, "-m", "mixassist", *map(str, args)]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.exit(f"failed ({done.returncode}): {' '.join(cmd)}\n{done.stderr[-2000:]}")


def produce(out: Path, songs: int, seconds: float) -> None:
    out.mkdir(parents=True, exist_ok=True)
    ref = DEMO / "reference.flac"
    for method in DEMO_METHODS:
        context = [] if method == "rules" else ["--reference", str(ref)]
        print(f"demo {method}", flush=True)
        _run("mix", DEMO / "stems", "-o", out / "demo" / method, "--method", method, *context, "--overwrite")
    print("demo reverse", flush=True)
    _run("reverse", DEMO / "stems", "--mix", out / "demo" / "rules" / "mix.wav", "-o", out / "demo" / "reverse", "--overwrite")
    print("data synth", flush=True)
    synth = out / "synth"
    _run("data", "synth", "--songs", str(songs), "--seconds", str(seconds), "--seed", "0", "--workers", "1", "-o", synth)
    for song in sorted(p for p in synth.iterdir() if p.is_dir()):
        for method in ("rules", "auto"):
            context = [] if method == "rules" else ["--reference", str(song / "reference.wav")]
            print(f"{song.name} {method}", flush=True)
            _run("mix", song / "stems", "-o", out / "mixes" / song.name / method, "--method", method, *context, "--overwrite")


def _strip_times(value: object) -> object:
    if isinstance(value, dict):
        return {k: ("<time>" if _TIME_KEY.search(k) else _strip_times(v)) for k, v in value.items() if k != "version_package"}
    if isinstance(value, list):
        return [_strip_times(v) for v in value]
    return value


def _normalised(path: Path, root: Path) -> bytes:
    data = path.read_bytes()
    if path.suffix == ".json":
        text = data.decode().replace(str(root.resolve()), "<out>").replace(str(root), "<out>")
        return json.dumps(_strip_times(json.loads(text)), sort_keys=True, indent=1).encode()
    if path.suffix == ".md":
        text = data.decode().replace(str(root.resolve()), "<out>").replace(str(root), "<out>")
        return _TIME_TEXT.sub("<time>", text).encode()
    return data


def compare(before: Path, after: Path) -> int:
    files_a = {p.relative_to(before) for p in before.rglob("*") if p.is_file()}
    files_b = {p.relative_to(after) for p in after.rglob("*") if p.is_file()}
    differ = 0
    for rel in sorted(files_a ^ files_b):
        print(f"only in {'before' if rel in files_a else 'after'}: {rel}")
        differ += 1
    for rel in sorted(files_a & files_b):
        if _normalised(before / rel, before) != _normalised(after / rel, after):
            print(f"differs: {rel}")
            differ += 1
    print(f"{len(files_a & files_b)} files compared, {differ} differ")
    return 0 if differ == 0 else 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("produce", help="write every output into OUT")
    p.add_argument("out", type=Path)
    p.add_argument("--songs", type=int, default=2)
    p.add_argument("--seconds", type=float, default=6.0)
    c = sub.add_parser("compare", help="compare two folders made by produce")
    c.add_argument("before", type=Path)
    c.add_argument("after", type=Path)
    args = parser.parse_args()
    os.environ.setdefault("PYTHONHASHSEED", "0")
    if args.command == "produce":
        produce(args.out, args.songs, args.seconds)
    else:
        sys.exit(compare(args.before, args.after))


if __name__ == "__main__":
    main()
