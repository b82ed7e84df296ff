"""Build an evaluation set of songs the neural controller never saw in training.

Takes the songs of a synthesised dataset whose soundfont is one training excludes (and any kind,
scores included: training reads no scores), links their stems into a new dataset folder, and
renders references and target mixes *among those songs only* (each reference is another held-out
song), so nothing of the evaluation touches training material.

    mixassist data synth --songs 20 --seconds 20 --seed 0 --out data/evalpool   # or any pool
    python scripts/heldout_set.py data/evalpool data/heldout
    mixassist eval data/heldout -o out/heldout --methods sum,equal_loudness_matched,rules,match,neural,auto

Exclusions are read from the training config (default configs/neural.toml).

``--validation`` builds the complement instead: the pool's songs that training *could* have read
(its soundfonts and kinds) -- songs it never saw if the pool is not the training pool, with sounds
it knows. Tune choices there (e.g. ``AUTO_SHARE``), and keep the held-out set for the final figures.

    python scripts/heldout_set.py data/evalpool data/validation --validation
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from mixassist.data.references import make_references
from mixassist.train.config import load_config


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pool", type=Path, help="a synthesised dataset folder")
    parser.add_argument("out", type=Path, help="new dataset folder (links to the pool's stems)")
    parser.add_argument("--config", type=Path, default=Path("configs/neural.toml"), help="training config whose exclusions define 'unseen'")
    parser.add_argument("--seed", type=int, default=0, help="seed of the references")
    parser.add_argument("--validation", action="store_true",
                        help="take the songs training could read instead (a validation set for tuning)")
    args = parser.parse_args()
    config = load_config(args.config)
    index = json.loads((args.pool / "dataset.json").read_text())
    held = []
    for name in index["songs"]:
        meta = json.loads((args.pool / name / "song.json").read_text())
        unheard = meta.get("soundfont") in config.exclude_soundfonts
        readable = not unheard and meta.get("kind") not in config.exclude_kinds
        if (readable if args.validation else unheard):
            held.append(name)
    if len(held) < 2:
        what = "training could read" if args.validation else "use a held-out soundfont"
        print(f"{args.pool}: only {len(held)} songs {what}; synthesise a larger pool", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    for name in held:
        folder = args.out / name
        folder.mkdir(exist_ok=True)
        (folder / "song.json").write_text((args.pool / name / "song.json").read_text())
        if not (folder / "stems").exists():
            os.symlink((args.pool / name / "stems").resolve(), folder / "stems")
    (args.out / "dataset.json").write_text(json.dumps({**index, "songs": held, "held_out_from": str(args.config)}, indent=2))
    make_references(args.out, seed=args.seed, progress=lambda done, total: print(f"references {done}/{total}", flush=True))
    print(f"{len(held)} {'validation' if args.validation else 'held-out'} songs in {args.out}: {', '.join(held)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
