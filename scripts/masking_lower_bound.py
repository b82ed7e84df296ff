"""How low fader gains alone can push the masking measure: a lower bound for issue 5's criterion.

Issue 5 judges a mix partly by its masked fraction (the harness measure,
:func:`mixassist.evaluate.harness.mix_masking`: mean over audible sources of 1 − partial / solo
loudness at −23 LUFS, multi-mic groups merged).  ``scripts/masking_sensitivity.py`` shows that EQ
and panning barely move it; this script asks how far level balance alone can.  For each song it
starts from the equal-loudness sum and searches per-source gains g (dB, relative to the
equal-loudness gains, within ±``--max-gain-db``) for the lowest masked fraction with every
source kept audible (solo loudness ≥ 10 × ``SILENT_SONE``; a penalty, not a hard constraint).
Powell from g = 0 and from ``--restarts`` seeded random starts, each polished by Nelder-Mead;
the best gains are then re-rendered through the console and measured with the real
``mix_masking``, which is the figure reported as ``best``.

    .venv/bin/python scripts/masking_lower_bound.py data/heldout [song_006 ...] \\
        [--max-gain-db 12] [--restarts 1] [--seed 0] [--out results.json [--resume]]

Caveats:

- Exact, not approximate: the measure scales the mix to −23 LUFS, and the loudness of
  Σ a_i s_i is recomputed for every g from per-100-ms K-weighted Gram matrices of the sources
  (BS.1770 blocks and gates as in the meter), so the search needs no re-rendering.
- The optimiser pushes gains to the bounds (typically every source ends at ±G): the figure is
  a function of G, not a converged optimum.  A common offset is undone by the renormalisation,
  so ±G amounts to a 2G-dB spread; reported gains have their mean over sources removed.
- One gain per *source* (a multi-mic group moves as one), not per track; no EQ, pan or dynamics.
- Sources silent in the equal-loudness sum keep g = 0 and stay out of the mean.
"""

from __future__ import annotations

import os

# One thread each (torch reads OMP_NUM_THREADS too): the search is serial and may share the machine.
for _var in ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import scipy.optimize

from mixassist import measure as meter
from mixassist.measure.perception import SILENT_SONE, MixLoudness, band_powers, loudness_in_mix
from mixassist.console.params import MixParams
from mixassist.data.references import load_song
from mixassist.evaluate.harness import equal_loudness_params, mix_masking, mix_sources, source_groups

LEVEL_LUFS = -23.0  # mix_masking's listening level
MIN_SOLO_SONE = 10 * SILENT_SONE


class GainModel:
    """The masking measure of Σ 10^(g_i/20) · source_i for any g, from one render of the sources."""

    def __init__(self, sources: np.ndarray, sr: int):
        n_src, n = sources.shape[0], sources.shape[-1]
        self.powers = band_powers(sources, sr)  # (sources, 2, frames, bands)
        # The meter has no public K-weighting; _k_weight is the filter integrated_loudness uses.
        kw = np.stack([meter.k_weight(s.astype(np.float64), sr) for s in sources])
        # 400 ms blocks with 75 % overlap as four 100 ms segments (the loudness module's gating block energies),
        # but as channel-summed Gram matrices so that any weighted sum's block energy is a^T G a.
        blocks = int(np.round((n / sr - 0.4) / (0.4 * 0.25))) + 1
        starts = (0.4 * (np.arange(blocks + 4) * 0.25) * sr).astype(np.int64)
        seg = np.zeros((starts.size, n_src, n_src))
        for k, (a, b) in enumerate(zip(starts, np.append(starts[1:], n))):
            if a < n:
                x = kw[:, :, a:b].reshape(n_src, -1)
                seg[k] = x @ x.T
        self.gram = sum(seg[j:blocks + j] for j in range(4)) / (0.4 * sr)

    def lufs(self, amp: np.ndarray) -> float:
        """BS.1770-4 integrated loudness of Σ amp_i · source_i (absolute and relative gates)."""
        z = np.einsum("i,bij,j->b", amp, self.gram, amp)
        with np.errstate(divide="ignore"):
            block = -0.691 + 10 * np.log10(z)
            relative = -0.691 + 10 * np.log10(z[block >= -70.0].mean()) - 10.0
            return float(-0.691 + 10 * np.log10(z[(block > relative) & (block > -70.0)].mean()))

    def loudness(self, g_db: np.ndarray) -> MixLoudness:
        power = 10.0 ** (np.asarray(g_db) / 10.0)
        power *= 10.0 ** ((LEVEL_LUFS - self.lufs(np.sqrt(power))) / 10.0)  # mix to -23 LUFS
        return loudness_in_mix(self.powers * power[:, None, None, None])


def optimise(model: GainModel, max_db: float, restarts: int, rng: np.random.Generator) -> dict[str, Any]:
    """Lowest masked fraction over gains in ±max_db, every initially audible source kept audible."""
    n_src = model.powers.shape[0]
    idx = np.nonzero(model.loudness(np.zeros(n_src)).solo_sone >= SILENT_SONE)[0]

    def full(x: np.ndarray) -> np.ndarray:
        g = np.zeros(n_src)
        g[idx] = np.clip(x, -max_db, max_db)  # Nelder-Mead ignores bounds
        return g

    def objective(x: np.ndarray) -> float:
        loud = model.loudness(full(x))
        deficit = np.log10(MIN_SOLO_SONE / np.maximum(loud.solo_sone[idx], 1e-30))
        return float(loud.masked_fraction[idx].mean() + 10.0 * np.clip(deficit, 0, None).sum())

    spread = min(12.0, max_db)
    starts = [np.zeros(idx.size)] + [rng.uniform(-spread, spread, idx.size) for _ in range(restarts)]
    runs, best_x, best_f = [], None, np.inf
    for x0 in starts:
        r = scipy.optimize.minimize(objective, x0, method="Powell", bounds=[(-max_db, max_db)] * idx.size,
                                    options={"xtol": 1e-2, "ftol": 1e-6, "maxfev": 6000})
        r2 = scipy.optimize.minimize(objective, r.x, method="Nelder-Mead",
                                     options={"xatol": 1e-2, "fatol": 1e-6, "maxfev": 1000, "adaptive": True})
        x, f = (r2.x, r2.fun) if r2.fun < r.fun else (r.x, r.fun)
        runs.append(round(float(f), 6))
        if f < best_f:
            best_x, best_f = x, f
    g = full(best_x)
    at_bound = [int(i) for i in idx if abs(g[i]) > max_db - 0.5]
    g[idx] -= g[idx].mean()  # the renormalisation undoes a common offset
    return {"gains": g, "active": idx, "at_bound": at_bound, "restart_objectives": runs}


def run_song(path: Path, max_db: float, restarts: int, seed: int) -> dict[str, Any]:
    t0 = time.time()
    stems, meta = load_song(path)
    groups = source_groups(meta)
    params = equal_loudness_params(stems)
    names = params.track_names
    units, sources = mix_sources(stems, params, groups)  # as mix_masking forms them
    labels = ["+".join(u) for u in units]
    model = GainModel(sources, stems.sample_rate)

    start = model.loudness(np.zeros(len(units)))
    opt = optimise(model, max_db, restarts, np.random.default_rng(seed))
    g, idx = opt["gains"], opt["active"]
    loud = model.loudness(g)
    # Verify: re-render with track gain = equal-loudness gain + its source's gain, shifted so the
    # loudest fits the console's +24 dB (the offset is undone by the renormalisation).
    total = {n: params.get(n, "gain_db") + g[i] for i, u in enumerate(units) for n in u}
    shift = max(0.0, max(total.values()) - 24.0)
    tracks = {n: {"gain_db": float(np.clip(v - shift, -60.0, 24.0))} for n, v in total.items()}
    equal, best = mix_masking(stems, params, groups), mix_masking(stems, MixParams(names, tracks=tracks), groups)
    return {
        "song": path.name,
        "sources": labels,
        "n_audible_start": int(idx.size),
        "equal_loudness": equal["masking_fraction"],
        "equal_loudness_model": float(start.masked_fraction[idx].mean()),
        "best": best["masking_fraction"],
        "best_model": float(loud.masked_fraction[idx].mean()),
        "relative_reduction_pct": 100 * (1 - best["masking_fraction"] / equal["masking_fraction"]),
        "max_gain_db": max_db,
        "gains_db": {lab: round(float(v), 2) for lab, v in zip(labels, g)},
        "gain_spread_db": float(np.ptp(g[idx])),
        "at_bound": [labels[i] for i in opt["at_bound"]],
        "min_solo_sone": float(loud.solo_sone[idx].min()),
        "quietest_source": labels[int(idx[np.argmin(loud.solo_sone[idx])])],
        "n_audible_best": sum(v is not None for v in best["per_track"].values()),
        "gain_clipped_at_-60": any(v - shift < -60.0 for v in total.values()),
        "per_source_equal_loudness": equal["per_track"],
        "per_source_best": best["per_track"],
        "lufs_model_minus_meter": model.lufs(np.ones(len(units)))
        - meter.integrated_loudness(sources.sum(0, dtype=np.float64), stems.sample_rate),
        "restart_objectives": opt["restart_objectives"],
        "seconds": round(time.time() - t0, 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("dataset", type=Path, help="folder with dataset.json and song_* folders")
    ap.add_argument("songs", nargs="*", help="song names (default: every song of the dataset)")
    ap.add_argument("--max-gain-db", type=float, default=12.0, help="gain bound ±G, dB (default 12)")
    ap.add_argument("--restarts", type=int, default=1, help="random starts besides g = 0 (default 1)")
    ap.add_argument("--seed", type=int, default=0, help="seed of the random starts (default 0)")
    ap.add_argument("--out", type=Path, help="JSON file for the full results (default: print only)")
    ap.add_argument("--resume", action="store_true", help="skip songs already in --out")
    args = ap.parse_args()
    if args.resume and args.out is None:
        ap.error("--resume needs --out")
    index = args.dataset / "dataset.json"
    songs = args.songs or (json.loads(index.read_text())["songs"] if index.exists()
                           else sorted(p.name for p in args.dataset.glob("song_*")))
    results: dict[str, Any] = {"songs": {}}
    if args.resume and args.out.exists():
        results = json.loads(args.out.read_text())
    for song in songs:
        if song in results["songs"] and results["songs"][song]["max_gain_db"] != args.max_gain_db:
            ap.error(f"{args.out} holds {song} at another --max-gain-db")
        if song not in results["songs"]:
            r = results["songs"][song] = run_song(args.dataset / song, args.max_gain_db, args.restarts, args.seed)
            keys = ("song", "equal_loudness", "best", "relative_reduction_pct", "gains_db", "min_solo_sone",
                    "seconds")
            print(json.dumps({k: round(r[k], 4) if isinstance(r[k], float) else r[k] for k in keys}), flush=True)
            if args.out is not None:
                args.out.write_text(json.dumps(results, indent=1))
    done = [results["songs"][s] for s in songs]
    eq, best = float(np.mean([r["equal_loudness"] for r in done])), float(np.mean([r["best"] for r in done]))
    results["summary"] = {"n_songs": len(done), "max_gain_db": args.max_gain_db,
                          "mean_equal_loudness": round(eq, 4), "mean_best": round(best, 4),
                          "reduction_of_mean_pct": round(100 * (1 - best / eq), 2)}
    print(json.dumps({"summary": results["summary"]}), flush=True)
    if args.out is not None:
        args.out.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
