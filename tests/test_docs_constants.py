"""docs/mixing.md restates the rules mixer's constants by hand: they must match the code's values.

Each check reads a number quoted in a row of the "Order of decisions" table and compares it with
the constant the code uses, so the table cannot drift from the mixer.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from mixassist.mixers import (
    analysis,
    balance,
    compression,
    corrective,
    panning,
    reverb,
    ride,
    section_moves,
    separation,
    separation_step,
)
from mixassist.mixers.rules import RulesMixer

DOC = Path(__file__).resolve().parents[1] / "docs" / "mixing.md"


def row(step: str) -> str:
    """The table row of ``step`` in docs/mixing.md ("| step | what | rule |")."""
    rows = [line for line in DOC.read_text(encoding="utf-8").splitlines() if line.startswith(f"| {step} |")]
    assert len(rows) == 1, f"docs/mixing.md has {len(rows)} rows for step {step!r}"
    return rows[0]


def number(text: str, pattern: str) -> float:
    """The number captured by ``pattern`` in ``text`` (− read as minus)."""
    found = re.search(pattern, text.replace("−", "-"))
    assert found is not None, f"{pattern!r} not found in: {text[:200]}…"
    return float(found.group(1))


def default(function: Callable[..., object], name: str) -> object:
    return inspect.signature(function).parameters[name].default


def test_high_pass_caps():
    text = row("high-pass")
    assert number(text, r"lead (\d+) Hz") == corrective.HPF_CAP_HZ["lead"]
    cap = number(text, r"chords/pads (\d+) Hz")
    assert cap == corrective.HPF_CAP_HZ["chords"] == corrective.HPF_CAP_HZ["pad"]


def test_high_pass_floors():
    text = row("high-pass")
    floors = text[text.index("role's floor") :]
    assert number(floors, r"lead (\d+) Hz") == corrective.HPF_MIN_HZ["lead"]
    assert number(floors, r"chords/pads (\d+) Hz") == corrective.HPF_MIN_HZ["chords"] == corrective.HPF_MIN_HZ["pad"]
    for role in ("arp", "percussion", "drums", "fx"):
        assert number(floors, rf"{role} (\d+) Hz") == corrective.HPF_MIN_HZ[role]
    assert number(text, r"without the power below (\d+) Hz") == analysis.LOW_CUT_FROM_HZ


@pytest.mark.parametrize(
    ("pattern", "role", "field"),
    [
        (r"typical value \(lead (\d+) dB", "lead", 3),
        (r"typical value \(lead \d+ dB, bass (\d+)", "bass", 3),
        (r"typical value \(lead \d+ dB, bass \d+, drums (\d+)", "drums", 3),
        (r"typical value \(lead \d+ dB, bass \d+, drums \d+, chords (\d+)", "chords", 3),
        (r"role ratio \(lead ([\d.]+):1", "lead", 0),
        (r"role ratio \(lead [\d.]+:1, bass ([\d.]+):1", "bass", 0),
        (r"role ratio \(lead [\d.]+:1, bass [\d.]+:1, drums ([\d.]+):1", "drums", 0),
        (r"drums ([\d.]+) ms attack", "drums", 1),
    ],
)
def test_compression_by_role(pattern, role, field):
    assert number(row("compression"), pattern) == compression.COMP_BY_ROLE[role][field]


def test_pan_amounts():
    text = row("pan")
    assert number(text, r"role amount \(chords ([\d.]+)") == panning.PAN_BY_ROLE["chords"]
    assert number(text, r"role amount \(chords [\d.]+, pads ([\d.]+)") == panning.PAN_BY_ROLE["pad"]


def test_balance_weights_and_limits():
    text = row("balance")
    for role, weight in balance.ROLE_WEIGHT.items():
        assert number(text, rf"\b{role} ([\d.]+)") == weight, role
    assert number(text, r"k\^([\d.]+)") == balance.ROLE_SPLIT_EXPONENT
    assert number(text, r"mix at (-[\d.]+) LUFS") == balance.LISTENING_LUFS
    assert number(text, r"at most ([\d.]+) dB from equal solo loudness") == balance.BALANCE_RANGE_DB


def test_separation_bounds_and_costs():
    text = row("separation")
    narrow, wide = separation.STEREO_REACH
    assert number(text, r"within ([\d.]+) - [\d.]+·width") == narrow
    assert number(text, r"within [\d.]+ - ([\d.]+)·width") == pytest.approx(narrow - wide)
    assert number(text, r"narrower only, down to ([\d.]+)") == separation_step.SEPARATION_MIN_WIDTH
    assert number(text, r"six bands, ±([\d.]+) dB") == separation_step.SEPARATION_EQ_DB
    assert number(text, r"Q by up to 2\^±([\d.]+)") == separation.TUNE_Q_OCTAVES
    assert "by up to an octave" in text and separation.TUNE_OCTAVES == 1.0
    assert number(text, r"by (\d+) Adam steps") == default(separation.separate, "steps")
    assert number(text, r"on ≤ (\d+) frames") == separation.MAX_FRAMES
    assert number(text, r"heard at (-[\d.]+) LUFS") == balance.LISTENING_LUFS
    assert number(text, r"Costs keep it a mix: ([\d.]+) ×") == separation_step.SEPARATION_EQ_COST
    assert number(text, r"mean \(gain/([\d.]+) dB\)²") == separation_step.SEPARATION_EQ_DB
    assert number(text, r"; ([\d.]+) per dB² of left/right imbalance") == default(separation.separate, "imbalance_cost")
    assert number(text, r"imbalance of the whole mix; ([\d.]+) × the level-weighted") == (
        separation_step.SEPARATION_TONE_COST
    )


def test_reverb_sends():
    text = row("reverb")
    sends = reverb.SEND_BY_ROLE
    assert number(text, r"pads (-[\d.]+) dB") == sends["pad"]
    assert number(text, r"lead (-[\d.]+)") == sends["lead"]
    assert number(text, r"chords (-[\d.]+)") == sends["chords"]
    assert number(text, r"drums (-[\d.]+)") == sends["drums"]
    assert "bass, kick and hats dry" in text and sends["bass"] is None


def test_master_defaults():
    text = row("master")
    assert number(text, r"\(default (-[\d.]+) LUFS\)") == default(RulesMixer, "loudness_lufs")
    assert number(text, r"\(default (-[\d.]+) dBTP\)") == default(RulesMixer, "true_peak_dbtp")


def test_unmasking_cut_depth():
    assert number(row("unmasking"), r"peaking cuts of [\d.]+–([\d.]+) dB") == corrective.MAX_CUT_DB


def test_ride_constants():
    text = row("ride")
    assert number(text, r"within ±([\d.]+) LU of its median") == ride.RIDE_BAND_LU
    assert number(text, r"at most ([\d.]+) dB/s") == ride.RIDE_MAX_RATE_DB_S
    assert number(text, r"within ±([\d.]+) dB of the balance") == ride.RIDE_RANGE_DB
    assert number(text, r"smoothed over (\d+) windows") == ride.RIDE_SMOOTH_WINDOWS


def test_section_moves_constants():
    text = row("section moves")
    m = section_moves
    assert number(text, r"within (\d+) dB of its loudest") == m.ACTIVE_DB
    assert number(text, r"at least ([\d.]+) dB louder") == m.CHORUS_MARGIN_DB
    assert number(text, r"at least ([\d.]+) more tracks playing") == m.CHORUS_MORE_PARTS
    assert number(text, r"that play there by ([\d.]+) dB") == m.CHORUS_LIFT_DB
    assert number(text, r"plays under (\d+) % of a section") == 100 * m.SILENT_SHARE
    assert number(text, r"by at least ([\d.]+) dB, comes forward") == m.SOLO_RISE_DB
    assert number(text, r"comes forward ([\d.]+) dB") == m.SOLO_DB
    assert number(text, r"every send moves ([\d.]+) dB per dB") == m.SEND_SLOPE
    assert number(text, r"within ±([\d.]+) dB in") == m.SEND_RANGE_DB
    assert number(text, r"in ([\d.]+)-dB steps") == m.SEND_STEP_DB
    assert number(text, r"none under ([\d.]+) dB") == m.SEND_MIN_DB
    assert number(text, r"at least ([\d.]+) s long") == m.RAMP_S
    assert number(text, r"never faster than the ride's ([\d.]+) dB/s") == ride.RIDE_MAX_RATE_DB_S
    assert all(role in text for role in m.LIFT_ROLES) and all(role in text for role in m.MELODIC_ROLES)
