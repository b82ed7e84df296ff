"""How low faders, EQ and pans together can push the masking measure (issue 5's criterion).

``scripts/masking_lower_bound.py`` searches fader gains alone. This script adds, per source, the
six EQ band gains of the console (default frequencies and Q, within ±``--eq-db``) and a pan
(mono sources: the constant-power law; stereo ones: the balance law), and searches all of them
together for the lowest masked fraction with every source kept audible, from the equal-loudness
sum, by L-BFGS-B on finite differences.

The search runs on a model: each source's band powers (``perception.band_powers``) scaled per
ERB band by its EQ response (the console's biquads evaluated at the band centres), per ear by its
pan law, and the mix brought to −23 LUFS with the K-weighted band powers (no gating). The best
settings are then rendered through the console and measured with the harness's
``mix_masking``: that figure (``best``) is what is reported, so model error cannot flatter it.
A search finds what is *reachable*; it is not a proof that nothing lower exists.

    .venv/bin/python scripts/masking_search_eq_pan.py data/heldout [song_006 ...] \\
        [--max-gain-db 12] [--eq-db 6] [--no-pan] [--centre-anchors] [--out results.json [--resume]]
"""

from __future__ import annotations

import os

if __name__ == "__main__":  # one thread each when run; never when a test imports it (numba is live there)
    for _var in ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(_var, "1")

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import scipy.optimize
import torch

from mixassist import measure as meter
from mixassist.measure.perception import SILENT_SONE, band_powers, loudness_in_mix
from mixassist.console.params import MixParams
from mixassist.console.schema import EQ_BANDS
from mixassist.data.references import load_song
from mixassist.evaluate.harness import equal_loudness_params, mix_masking, mix_sources, source_groups
from mixassist.mixers import separation
from mixassist.mixers.roles import is_centre_source

LEVEL_LUFS = -23.0
MIN_SOLO_SONE = 10 * SILENT_SONE
N_EQ = len(EQ_BANDS)


def eq_response_db(gains_db: np.ndarray, sample_rate: int) -> np.ndarray:
    """``(sources, bands)`` dB response of the console's six-band EQ (default Hz and Q) at the ERB
    band centres, for ``gains_db`` of shape ``(sources, 6)`` (:func:`separation.eq_response_db`)."""
    n = gains_db.shape[0]
    freq = np.tile([hz for _, _, _, hz, *_ in EQ_BANDS], (n, 1))
    q = np.tile([q for *_, q, _ in EQ_BANDS], (n, 1))
    return separation.eq_response_db(torch.as_tensor(gains_db, dtype=torch.float64), torch.as_tensor(freq, dtype=torch.float64),
                                     torch.as_tensor(q, dtype=torch.float64), sample_rate).numpy()


def pan_power(pan: np.ndarray, stereo: np.ndarray) -> np.ndarray:
    """``(sources, 2)`` power factors per ear relative to the centred source: the console's pan law
    for mono sources and balance law for stereo ones give the same factors
    (:func:`separation.pan_power`); ``stereo`` is kept for the callers."""
    return separation.pan_power(torch.as_tensor(np.asarray(pan, dtype=np.float64))).numpy()


class Model:
    def __init__(self, sources: np.ndarray, stereo: np.ndarray, sr: int, eq_db: float, pan: bool):
        self.sr, self.eq_db, self.pan, self.stereo = sr, eq_db, pan, stereo
        self.powers = band_powers(sources, sr)  # (S, 2, F, B)
        kw = np.stack([meter.k_weight(s.astype(np.float64), sr) for s in sources])
        self.k_power = band_powers(kw, sr).sum(axis=2)  # (S, 2, B): K-weighted energy per ear and band
        self.lufs0 = meter.integrated_loudness(sources.sum(0, dtype=np.float64), sr)
        self.k0 = float(self.k_power.sum())
        self.n = sources.shape[0]
        self.per = 1 + (N_EQ if eq_db > 0 else 0) + (1 if pan else 0)

    def unpack(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        x = x.reshape(self.n, self.per)
        gain = x[:, 0]
        eq = x[:, 1:1 + N_EQ] if self.eq_db > 0 else np.zeros((self.n, N_EQ))
        pan = x[:, -1] if self.pan else np.zeros(self.n)
        return gain, eq, pan

    def factors(self, x: np.ndarray) -> np.ndarray:
        """``(S, 2, B)`` power factor per source, ear and band."""
        gain, eq, pan = self.unpack(x)
        band = 10 ** (eq_response_db(eq, self.sr) / 10) if self.eq_db > 0 else np.ones((self.n, self.powers.shape[-1]))
        return (10 ** (gain / 10))[:, None, None] * pan_power(pan, self.stereo)[:, :, None] * band[:, None, :]

    def measure(self, x: np.ndarray):
        f = self.factors(x)
        lufs = self.lufs0 + 10 * np.log10(float((self.k_power * f).sum()) / self.k0)
        scale = 10 ** ((LEVEL_LUFS - lufs) / 10)
        return loudness_in_mix(self.powers * (f * scale)[:, :, None, :])


def search(model: Model, max_gain: float, seed: int, centred: np.ndarray) -> tuple[np.ndarray, list[int]]:
    start = model.measure(np.zeros(model.n * model.per))
    idx = np.nonzero(start.solo_sone >= SILENT_SONE)[0]
    bounds = []
    for i in range(model.n):
        bounds.append((-max_gain, max_gain))
        bounds += [(-model.eq_db, model.eq_db)] * (N_EQ if model.eq_db > 0 else 0)
        bounds += [(0.0, 0.0) if centred[i] else (-1.0, 1.0)] if model.pan else []

    def objective(x: np.ndarray) -> float:
        loud = model.measure(x)
        deficit = np.log10(MIN_SOLO_SONE / np.maximum(loud.solo_sone[idx], 1e-30))
        return float(loud.masked_fraction[idx].mean() + 10.0 * np.clip(deficit, 0, None).sum())

    rng = np.random.default_rng(seed)
    best_x, best_f = None, np.inf
    for x0 in (np.zeros(len(bounds)), rng.uniform([b[0] / 2 for b in bounds], [b[1] / 2 for b in bounds])):
        r = scipy.optimize.minimize(objective, x0, method="L-BFGS-B", bounds=bounds,
                                    options={"eps": 1e-2, "maxiter": 200, "maxfun": 40000})
        if r.fun < best_f:
            best_x, best_f = r.x, r.fun
    return best_x, [int(i) for i in idx]


def run_song(path: Path, max_gain: float, eq_db: float, pan: bool, seed: int, centre_anchors: bool) -> dict[str, Any]:
    t0 = time.time()
    stems, meta = load_song(path)
    groups = source_groups(meta)
    params = equal_loudness_params(stems)
    names = params.track_names
    units, sources = mix_sources(stems, params, groups)  # as mix_masking forms them
    labels = ["+".join(u) for u in units]
    stereo = np.array([any(stems[n].audio.shape[0] == 2 for n in u) for u in units])
    model = Model(sources, stereo, stems.sample_rate, eq_db, pan)
    roles = {s["name"]: s.get("role", "chords") for s in meta["stems"]}
    centred = np.array([centre_anchors and any(is_centre_source(n, roles.get(n, "chords")) for n in u) for u in units])
    x, idx = search(model, max_gain, seed, centred)
    gain, eq, pans = model.unpack(x)
    gain = gain - gain[idx].mean()
    tracks: dict[str, dict[str, float]] = {}
    for i, unit in enumerate(units):
        for n in unit:
            t = {"gain_db": float(params.get(n, "gain_db") + gain[i])}
            t.update({f"eq_{band}_db": float(eq[i, j]) for j, (band, *_) in enumerate(EQ_BANDS)})
            if pan:
                t["pan"] = float(np.clip(pans[i], -1, 1))
            tracks[n] = t
    shift = max(0.0, max(t["gain_db"] for t in tracks.values()) - 24.0)
    for t in tracks.values():
        t["gain_db"] = float(np.clip(t["gain_db"] - shift, -60.0, 24.0))
    equal = mix_masking(stems, params, groups)
    best = mix_masking(stems, MixParams(names, tracks=tracks), groups)
    return {
        "song": path.name, "sources": labels, "max_gain_db": max_gain, "eq_db": eq_db, "pan": pan,
        "centred": [lab for lab, c in zip(labels, centred) if c],
        "equal_loudness": equal["masking_fraction"], "best": best["masking_fraction"],
        "best_model": float(model.measure(x).masked_fraction[idx].mean()),
        "relative_reduction_pct": 100 * (1 - best["masking_fraction"] / equal["masking_fraction"]),
        "gains_db": {lab: round(float(v), 2) for lab, v in zip(labels, gain)},
        "eq_db_per_source": {lab: [round(float(v), 2) for v in eq[i]] for i, lab in enumerate(labels)},
        "pans": {lab: round(float(p), 2) for lab, p in zip(labels, pans)},
        "n_audible_best": sum(v is not None for v in best["per_track"].values()),
        "seconds": round(time.time() - t0, 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("dataset", type=Path)
    ap.add_argument("songs", nargs="*")
    ap.add_argument("--max-gain-db", type=float, default=12.0)
    ap.add_argument("--eq-db", type=float, default=6.0, help="EQ band gain bound ±E dB (0: no EQ)")
    ap.add_argument("--no-pan", action="store_true")
    ap.add_argument("--centre-anchors", action="store_true",
                    help="keep lead, bass, kick and snare sources centred (mixers.roles.is_centre_source; roles from song.json)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path)
    ap.add_argument("--resume", action="store_true")
    args = ap.parse_args()
    index = args.dataset / "dataset.json"
    songs = args.songs or (json.loads(index.read_text())["songs"] if index.exists()
                           else sorted(p.name for p in args.dataset.glob("song_*")))
    results: dict[str, Any] = {"songs": {}}
    if args.resume and args.out is not None and args.out.exists():
        results = json.loads(args.out.read_text())
    for song in songs:
        if song not in results["songs"]:
            r = results["songs"][song] = run_song(args.dataset / song, args.max_gain_db, args.eq_db, not args.no_pan,
                                                  args.seed, args.centre_anchors)
            print(json.dumps({k: r[k] for k in ("song", "equal_loudness", "best", "best_model", "relative_reduction_pct",
                                                "n_audible_best", "seconds")}), flush=True)
            if args.out is not None:
                args.out.write_text(json.dumps(results, indent=1))
    done = [results["songs"][s] for s in songs]
    eq, best = float(np.mean([r["equal_loudness"] for r in done])), float(np.mean([r["best"] for r in done]))
    results["summary"] = {"n_songs": len(done), "max_gain_db": args.max_gain_db, "eq_db": args.eq_db,
                          "pan": not args.no_pan, "centre_anchors": args.centre_anchors, "mean_equal_loudness": round(eq, 4), "mean_best": round(best, 4),
                          "reduction_of_mean_pct": round(100 * (1 - best / eq), 2)}
    print(json.dumps({"summary": results["summary"]}), flush=True)
    if args.out is not None:
        args.out.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
