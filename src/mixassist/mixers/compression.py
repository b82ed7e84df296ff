"""Compression of the rules mixer: ratio, threshold and timing from the measured crest factor.

After Ma, De Man, Pestana, Black & Reiss (2015), "Intelligent multitrack dynamic range
compression": compress when a track's crest factor exceeds its role's typical value. A lead is
always compressed: below its typical crest factor it gets a gentle 3:1 set from its measured
dynamics, so that it stays steady in front of the mix.
"""

from __future__ import annotations

import numpy as np

from mixassist.console.params import MixParams
from mixassist.mixers.constraints import Constraints
from mixassist.mixers.decisions import Reasons
from mixassist.mixers.sources import RuleTrack

__all__ = ["COMP_BY_ROLE", "LEAD_GAIN_REDUCTION_DB", "compress"]

#: Compression by role: (ratio, attack_ms, release_ms, target crest factor in dB).
COMP_BY_ROLE: dict[str, tuple[float, float, float, float]] = {
    "lead": (3.0, 10.0, 120.0, 12.0),
    "bass": (4.0, 10.0, 150.0, 10.0),
    "drums": (3.0, 15.0, 120.0, 16.0),
    "chords": (2.0, 15.0, 200.0, 13.0),
    "arp": (2.0, 10.0, 150.0, 13.0),
    "percussion": (2.5, 10.0, 120.0, 16.0),
    "pad": (1.5, 30.0, 300.0, 12.0),
}
#: Gain reduction (dB) the gentle lead compressor aims at on the lead's loud phrases.
LEAD_GAIN_REDUCTION_DB = 4.0


def compress(tr: RuleTrack, params: MixParams, constraints: Constraints, reasons: Reasons) -> None:
    a, role = tr.analysis, tr.role.role
    if role not in COMP_BY_ROLE or a.crest_db is None or a.peak_dbfs is None:
        reasons.add(tr.name, "comp_ratio", f"no compression for a {role} track")
        return
    ratio, attack, release, target_crest = COMP_BY_ROLE[role]
    excess = a.crest_db - target_crest
    if excess < 1.0 and role == "lead":
        threshold, why = _gentle_lead(tr)
    elif excess < 1.0:
        reasons.add(
            tr.name,
            "comp_ratio",
            f"no compression: crest factor {a.crest_db:.1f} dB is already within the {target_crest:.0f} dB "
            f"typical of a controlled {role} track",
        )
        return
    else:
        depth = float(np.clip(excess / (1 - 1 / ratio) + 3.0, 3.0, 18.0))
        threshold = round(float(np.clip(a.peak_dbfs - depth, -60.0, 0.0)), 1)
        timing = "lets the transient through" if attack >= 10 else "catches peaks early"
        facts = f"crest factor {a.crest_db:.1f} dB is {excess:.1f} dB above the {target_crest:.0f} dB of a controlled"
        why = {
            "comp_ratio": f"{ratio:g}:1 — {facts} {role} track",
            "comp_threshold_db": f"{depth:.1f} dB below the track's peak ({a.peak_dbfs:.1f} dBFS), so the loudest "
            f"{depth:.0f} dB are reduced",
            "comp_attack_ms": f"{attack:g} ms attack: {timing} ({role})",
            "comp_release_ms": f"{release:g} ms release, typical for {role}",
        }
    values = {"comp_ratio": ratio, "comp_threshold_db": threshold, "comp_attack_ms": attack, "comp_release_ms": release}
    for key, value in values.items():
        reasons.set(params, constraints, tr.name, key, value, why[key])
    reasons.set(params, constraints, tr.name, "comp_knee_db", 6.0, "6 dB soft knee: gentle onset of gain reduction")


def _gentle_lead(tr: RuleTrack) -> tuple[float, dict[str, str]]:
    """The threshold and the reasons for a lead already within its typical crest factor: 3:1 with
    the threshold under its loud phrases, so they get about :data:`LEAD_GAIN_REDUCTION_DB` of gain
    reduction and the quiet ones are left alone. The console's detector reads peaks, so the loud
    phrases' level is the track's peak less half its short-term loudness spread (the loud phrases
    sit within the top half of it)."""
    a = tr.analysis
    crest, peak = float(a.crest_db or 0.0), float(a.peak_dbfs or 0.0)
    ratio, attack, release, _ = COMP_BY_ROLE["lead"]
    spread = float(a.short_term_spread_lu or 0.0)
    loud = peak - spread / 2
    over = LEAD_GAIN_REDUCTION_DB / (1 - 1 / ratio)
    threshold = round(float(np.clip(loud - over, peak - 18.0, peak - 3.0)), 1)
    facts = f"crest factor {crest:.1f} dB, short-term loudness spread {spread:.1f} LU"
    return threshold, {
        "comp_ratio": f"{ratio:g}:1 gentle lead compression ({facts}): holds the lead steady in front of the mix",
        "comp_threshold_db": f"{threshold:.1f} dBFS: {loud - threshold:.1f} dB under the loud phrases' peaks (the "
        f"track's {peak:.1f} dBFS peak less half the spread), about {LEAD_GAIN_REDUCTION_DB:g} dB of gain reduction "
        "there, the quiet phrases untouched",
        "comp_attack_ms": f"{attack:g} ms attack: medium, so note and consonant onsets keep their edge",
        "comp_release_ms": f"{release:g} ms release: recovers between words and notes",
    }
