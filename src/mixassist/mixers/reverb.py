"""Reverb of the rules mixer: sends by role and density, decay and pre-delay sized to the tempo."""

from __future__ import annotations

import math

import numpy as np

from mixassist.audio.multitrack import Multitrack
from mixassist.console.params import MixParams
from mixassist.measure import tempo_bpm
from mixassist.mixers.constraints import Constraints
from mixassist.mixers.decisions import Reasons
from mixassist.mixers.roles import is_low_source
from mixassist.mixers.sources import RuleTrack

__all__ = ["SEND_BY_ROLE", "estimate_tempo_bpm", "reverb_settings"]

#: Reverb send by role (dB, post-fader); None = dry.
SEND_BY_ROLE: dict[str, float | None] = {
    "lead": -16.0,
    "chords": -18.0,
    "pad": -12.0,
    "arp": -16.0,
    "percussion": -20.0,
    "fx": -12.0,
    "drums": -22.0,
    "bass": None,
}


def estimate_tempo_bpm(multitrack: Multitrack, rhythm_tracks: list[str], *, seconds: float = 60.0) -> float | None:
    """Tempo from the autocorrelation of an onset envelope (rhythm tracks, else everything).

    Returns None when no periodicity stands out (peak below 0.3 of the zero-lag value); see
    :func:`mixassist.measure.tempo.tempo_bpm`.
    """
    names = rhythm_tracks or multitrack.names
    head = int(seconds * multitrack.sample_rate)  # all that tempo_bpm reads
    return tempo_bpm([multitrack[name].read(0, head) for name in names], multitrack.sample_rate, seconds=seconds)


def reverb_settings(
    tracks: dict[str, RuleTrack],
    multitrack: Multitrack,
    params: MixParams,
    constraints: Constraints,
    reasons: Reasons,
) -> None:
    n_active = len(tracks)
    density_db = -1.5 * max(0.0, math.log2(max(n_active, 1) / 8))
    for n, tr in tracks.items():
        role = tr.role.role
        send = SEND_BY_ROLE.get(role)
        if send is None or is_low_source(n, role) or "hat" in n.lower():
            reasons.set(
                params,
                constraints,
                n,
                "reverb_send_db",
                None,
                f"dry: reverb on a {role if send is None else 'low or very bright rhythmic'} source muddies or smears the mix",
            )
            continue
        value = float(np.clip(send + density_db, -60.0, 6.0))
        dens = f", {-density_db:.1f} dB less because {n_active} tracks already fill the mix" if density_db < 0 else ""
        reasons.set(
            params,
            constraints,
            n,
            "reverb_send_db",
            round(value, 1),
            f"{value:.1f} dB send: typical depth for a {role} part{dens}",
        )
    tempo = estimate_tempo_bpm(multitrack, [n for n, t in tracks.items() if t.role.role in ("drums", "percussion")])
    if tempo is not None:
        beat_s = 60.0 / tempo
        rt60 = float(np.clip(2.0 * beat_s, 0.8, 2.4))
        predelay = float(np.clip(1000 * beat_s / 32, 8.0, 40.0))
        why = f"RT60 {rt60:.2f} s, two beats at the detected {tempo:.0f} BPM: the tail clears before the next bar"
        pwhy = f"{predelay:.0f} ms pre-delay, a 1/128 note at {tempo:.0f} BPM: keeps the attack of the dry sound clear"
    else:
        rt60 = 1.4 if n_active <= 6 else 1.1
        predelay = 20.0
        why = f"RT60 {rt60:.1f} s: no steady tempo found; a medium room for a {'sparse' if n_active <= 6 else 'dense'} arrangement"
        pwhy = "20 ms pre-delay: separates the reverb from the dry attack"
    reasons.set(params, constraints, "reverb", "rt60_mid_s", round(rt60, 2), why)
    reasons.set(
        params,
        constraints,
        "reverb",
        "rt60_low_s",
        round(rt60 * 1.1, 2),
        "low decay 10 % longer than mid: natural warmth",
    )
    reasons.set(
        params,
        constraints,
        "reverb",
        "rt60_high_s",
        round(max(0.1, rt60 * 0.6), 2),
        "high decay at 60 % of mid: air absorption, keeps it from sounding harsh",
    )
    reasons.set(params, constraints, "reverb", "predelay_ms", round(predelay, 1), pwhy)
    reasons.set(params, constraints, "reverb", "return_db", 0.0, "return at unity: depth is set by each track's send")
