"""Craft rules of the rules mixer: close EQ bands merged, a lead always compressed, pans held to role limits."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import signal

from mixassist.console.params import MixParams
from mixassist.mixers.analysis import TrackAnalysis
from mixassist.mixers.compression import LEAD_GAIN_REDUCTION_DB, compress
from mixassist.mixers.constraints import Constraints
from mixassist.mixers.corrective import merge_close_bands
from mixassist.mixers.decisions import Reasons
from mixassist.mixers.panning import PAN_LIMIT_BY_ROLE, limit_pan
from mixassist.mixers.roles import RoleGuess
from mixassist.mixers.sources import RuleTrack

SR = 44100


def rbj_peak_db(f0: float, gain_db: float, q: float, at: float) -> float:
    """RBJ cookbook peaking EQ response in dB at ``at`` Hz, from scipy (the independent reference)."""
    a = 10 ** (gain_db / 40)
    w0 = 2 * np.pi * f0 / SR
    alpha = np.sin(w0) / (2 * q)
    b = [1 + alpha * a, -2 * np.cos(w0), 1 - alpha * a]
    den = [1 + alpha / a, -2 * np.cos(w0), 1 - alpha / a]
    _, h = signal.freqz(b, den, worN=[at], fs=SR)
    return float(20 * np.log10(abs(h[0])))


def bands(**spec: tuple[float, float, float]) -> MixParams:
    params = MixParams(["hats"])
    for slot, (hz, db, q) in spec.items():
        params.set("hats", f"eq_{slot}_hz", hz)
        params.set("hats", f"eq_{slot}_db", db)
        params.set("hats", f"eq_{slot}_q", q)
    return params


def test_two_close_cuts_become_one_band_with_the_same_depth_at_the_centre():
    params = bands(peak2=(1393.0, -5.0, 1.4), peak3=(1403.0, -5.0, 1.4))
    reasons = Reasons()
    reasons.add("hats", "eq_peak2_db", "-5.0 dB cut at 1393 Hz: separation, shapes hats; more")
    assert merge_close_bands("hats", params, Constraints(), reasons, SR) == 1
    gains = {s: params.get("hats", f"eq_{s}_db") for s in ("peak2", "peak3")}
    kept = next(s for s, g in gains.items() if g != 0.0)
    assert sorted(gains.values()) == [pytest.approx(gains[kept]), 0.0]
    centre = params.get("hats", f"eq_{kept}_hz")
    assert 1393.0 < centre < 1403.0
    both = rbj_peak_db(1393.0, -5.0, 1.4, centre) + rbj_peak_db(1403.0, -5.0, 1.4, centre)
    assert gains[kept] == pytest.approx(both, abs=0.06)  # rounded to 0.1 dB
    assert gains[kept] < -9.5  # two 5 dB cuts at almost one place: nearly 10 dB there
    why = reasons.get("hats", f"eq_{kept}_db")
    assert "third of an octave" in why and "1393 Hz" in why and "1403 Hz" in why
    assert reasons.get("hats", "eq_peak2_hz") is None  # the band's line carries frequency and Q


def test_gain_weighted_centre_and_the_range_limit():
    params = bands(peak1=(1000.0, -12.0, 1.0), peak2=(1200.0, -12.0, 1.0), peak3=(1100.0, 6.0, 1.0))
    merge_close_bands("hats", params, Constraints(), Reasons(), SR)
    live = {s: params.get("hats", f"eq_{s}_db") for s in ("peak1", "peak2", "peak3")}
    assert live["peak3"] == 6.0  # opposite sign: kept
    cut = [s for s in ("peak1", "peak2") if live[s] != 0.0]
    assert len(cut) == 1 and live[cut[0]] == -18.0  # about -24 dB at the centre, held at the console's range
    assert params.get("hats", f"eq_{cut[0]}_hz") == pytest.approx(np.sqrt(1000.0 * 1200.0), abs=0.1)


@pytest.mark.parametrize(
    "spec",
    [
        {"peak2": (1393.0, -5.0, 1.4), "peak3": (1403.0, 3.0, 1.4)},  # opposite directions
        {"peak2": (1000.0, -5.0, 1.4), "peak3": (1300.0, -5.0, 1.4)},  # 0.38 octave apart
        {"peak2": (1000.0, 4.0, 1.0), "peak3": (2000.0, 4.0, 1.0)},
    ],
)
def test_opposite_or_distant_bands_are_kept(spec):
    params = bands(**spec)
    before = params.copy()
    assert merge_close_bands("hats", params, Constraints(), Reasons(), SR) == 0
    assert params == before


def test_a_locked_band_is_not_merged():
    params = bands(peak2=(1393.0, -5.0, 1.4), peak3=(1403.0, -5.0, 1.4))
    constraints = Constraints.parse(["hats"], ["hats.eq_peak3_db"])
    assert merge_close_bands("hats", params, constraints, Reasons(), SR) == 0


def lead(crest: float, spread: float = 6.0, peak: float = -3.0) -> RuleTrack:
    a = TrackAnalysis("lead", 1, False, -20.0, peak, crest, spread, 2.0, 150.0, 1500.0, None)
    return RuleTrack("lead", a, RoleGuess("lead", "name", "lead in the name"), 7)


def test_a_steady_lead_still_gets_a_gentle_compressor():
    params, reasons = MixParams(["lead"]), Reasons()
    tr = lead(crest=9.0, spread=6.0, peak=-3.0)
    compress(tr, params, Constraints(), reasons)
    assert params.get("lead", "comp_ratio") == 3.0
    assert params.get("lead", "comp_attack_ms") == 10.0
    # loud phrases' peaks at -3 dBFS - 6 LU / 2 = -6 dBFS; 3:1 takes 4 dB off a level 6 dB over the threshold
    over = LEAD_GAIN_REDUCTION_DB / (1 - 1 / 3)
    assert params.get("lead", "comp_threshold_db") == pytest.approx(-6.0 - over, abs=0.05)
    for p in ("comp_ratio", "comp_threshold_db", "comp_attack_ms", "comp_release_ms", "comp_knee_db"):
        assert reasons.get("lead", p)
    assert "gentle lead compression" in reasons.get("lead", "comp_ratio")


def test_a_dynamic_lead_keeps_the_crest_rule():
    params, reasons = MixParams(["lead"]), Reasons()
    compress(lead(crest=18.0), params, Constraints(), reasons)
    assert params.get("lead", "comp_ratio") == 3.0
    assert "crest factor 18.0 dB is 6.0 dB above" in reasons.get("lead", "comp_ratio")


def track(name: str, role: str) -> RuleTrack:
    a = TrackAnalysis(name, 1, False, -20.0, -3.0, 12.0, 6.0, 2.0, 150.0, 1500.0, None)
    return RuleTrack(name, a, RoleGuess(role, "name", ""), 3)


@pytest.mark.parametrize(
    ("name", "role", "pan", "expected"),
    [
        ("hats", "drums", -1.0, -PAN_LIMIT_BY_ROLE["drums"]),
        ("shaker", "percussion", 0.9, PAN_LIMIT_BY_ROLE["percussion"]),
        ("piano", "chords", -1.0, -PAN_LIMIT_BY_ROLE["chords"]),
        ("snare", "drums", 0.3, 0.0),
        ("vox", "lead", -0.2, 0.0),
        ("piano", "chords", 0.5, 0.5),
    ],
)
def test_pans_are_held_to_the_role_limit(name, role, pan, expected):
    params, reasons = MixParams([name]), Reasons()
    params.set(name, "pan", pan)
    reasons.add(name, "pan", f"{abs(pan):.2f} left: separation, placed where it masks least")
    moved = limit_pan(track(name, role), params, Constraints(), reasons)
    assert params.get(name, "pan") == pytest.approx(expected)
    assert moved == (expected != pan)
    if moved:
        assert "limit" in reasons.get(name, "pan") and "separation" in reasons.get(name, "pan")


def test_a_locked_pan_is_not_limited():
    params = MixParams(["hats"])
    params.set("hats", "pan", -1.0)
    assert not limit_pan(track("hats", "drums"), params, Constraints.parse(["hats"], ["hats.pan"]), Reasons())
    assert params.get("hats", "pan") == -1.0


def test_report_gives_one_line_per_eq_band_and_per_compressor():
    from mixassist.report import decision_lines

    why = {
        "comp_ratio": "3:1 — crest factor high",
        "comp_threshold_db": "18 dB below the peak",
        "comp_attack_ms": "15 ms attack",
        "eq_peak2_db": "-5.0 dB cut at 1403 Hz: separation",
        "eq_peak2_hz": "1403 Hz: separation (from 800 Hz)",
        "eq_peak2_q": "Q 0.50: separation",
        "pan": "0.60 left",
    }
    params = {
        "comp_ratio": 3.0,
        "comp_threshold_db": -25.7,
        "comp_attack_ms": 15.0,
        "comp_release_ms": 120.0,
        "comp_knee_db": 6.0,
        "eq_peak2_db": -5.0,
        "eq_peak2_hz": 1402.9,
        "eq_peak2_q": 0.5,
        "pan": -0.6,
    }
    lines = decision_lines(why, params)
    assert lines == [
        "- compressor = 3:1 @ -25.7 dB, 15/120 ms, knee 6 dB: 3:1 — crest factor high; 18 dB below the peak; "
        "15 ms attack",
        "- `eq_peak2` = -5.0 dB @ 1403 Hz, Q 0.5: -5.0 dB cut at 1403 Hz: separation",
        "- `pan` = -0.6: 0.60 left",
    ]


def test_report_names_the_start_method_and_the_limiter_reduction():
    from mixassist.report import render_report

    features = {"loudness_lufs": -14.0}
    recipe = {
        "tracks": [],
        "context": {
            "method": "auto",
            "start": "neural",
            "result": {"limiter_reduction_db": {"max": 3.4, "mean": 0.8}},
            "style": {"start": features, "target": features, "result": features},
        },
    }
    text = render_report(recipe, {})
    assert "| limiter gain reduction | max 3.4 dB, mean 0.8 dB | |" in text
    assert "start (neural)" in text and "start (rules)" not in text
