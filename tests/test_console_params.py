"""The parameter schema and MixParams: one declaration, validated everywhere."""

from __future__ import annotations

import json
import math

import pytest
import torch

from mixassist.console.params import MixParams
from mixassist.console.schema import BARE_NAMES, SECTIONS, UNIT_SUFFIXES, params_for
from mixassist.errors import InvalidParameterError

ALL = [(section, p) for section, params in SECTIONS.items() for p in params]


@pytest.mark.parametrize(("section", "param"), ALL, ids=[f"{s}.{p.name}" for s, p in ALL])
def test_every_name_has_a_unit_suffix_or_is_dimensionless(section, param):
    suffix = next((s for s in sorted(UNIT_SUFFIXES, key=len, reverse=True) if param.name.endswith(s)), None)
    last_word = param.name.rsplit("_", 1)[-1]
    assert suffix is not None or last_word in BARE_NAMES, f"{param.name} has no unit suffix"
    if suffix is not None:
        assert param.unit == UNIT_SUFFIXES[suffix]
    else:
        assert param.unit == ""
    assert param.doc and param.minimum < param.maximum


@pytest.mark.parametrize(("section", "param"), ALL, ids=[f"{s}.{p.name}" for s, p in ALL])
def test_normalisation_round_trips_and_is_log_where_declared(section, param):
    for n in (0.0, 0.25, 0.5, 1.0):
        v = param.from_normalised(n)
        assert param.minimum - 1e-9 <= v <= param.maximum + 1e-9
        assert param.to_normalised(v) == pytest.approx(n, abs=1e-12)
        t = param.from_normalised(torch.tensor(n, dtype=torch.float64))
        assert float(t) == pytest.approx(v, rel=1e-12)
    if param.scale == "log":  # the midpoint is the geometric mean
        assert param.from_normalised(0.5) == pytest.approx(math.sqrt(param.minimum * param.maximum))
    if param.unit in ("Hz",) or param.name.endswith(("_q", "_ratio", "_attack_ms", "_release_ms", "_s")):
        assert param.scale == "log", f"{param.name} should be log-scaled"


def test_defaults_are_neutral():
    t = params_for("track")
    assert t["gain_db"].default == 0 and t["pan"].default == 0 and t["width"].default == 1
    assert t["hpf_hz"].default is None and t["reverb_send_db"].default is None
    assert t["comp_ratio"].default == 1 and t["comp_makeup_db"].default == 0
    assert all(p.default == 0 for p in SECTIONS["track"] if p.name.startswith("eq_") and p.name.endswith("_db"))
    m = params_for("master")
    assert m["limiter_ceiling_dbtp"].default is None and m["output_gain_db"].default == 0


def test_unknown_names_and_out_of_range_values_are_named():
    with pytest.raises(InvalidParameterError, match=r"track 'vox': unknown parameter 'eq_peak5_hz'; did you mean 'eq_peak"):
        MixParams(["vox"], tracks={"vox": {"eq_peak5_hz": 100.0}})
    with pytest.raises(InvalidParameterError, match=r"gain_db=40 is outside the allowed range -60…24 dB"):
        MixParams(["vox"], tracks={"vox": {"gain_db": 40}})
    with pytest.raises(InvalidParameterError, match="unknown track 'vocs'; did you mean 'vox'"):
        MixParams(["vox"], tracks={"vocs": {"gain_db": 0}})
    with pytest.raises(InvalidParameterError, match="polarity=0.5 must be -1 or 1"):
        MixParams(["vox"], tracks={"vox": {"polarity": 0.5}})
    with pytest.raises(InvalidParameterError, match="not a number"):
        MixParams(["vox"], tracks={"vox": {"pan": "left"}})
    with pytest.raises(InvalidParameterError, match="not finite"):
        MixParams(["vox"], master={"output_gain_db": float("nan")})
    with pytest.raises(InvalidParameterError, match="cannot be null"):
        MixParams(["vox"], tracks={"vox": {"gain_db": None}})
    with pytest.raises(InvalidParameterError, match="master bus: unknown parameter"):
        MixParams(["vox"], master={"limiter_ceiling_db": -1})


def test_dict_round_trip_is_strict_json():
    p = MixParams(
        ["vox", "bass"],
        tracks={"vox": {"gain_db": -3.5, "hpf_hz": 80.0, "pan": 0.25}},
        reverb={"rt60_mid_s": 2.0},
        master={"limiter_ceiling_dbtp": -1.0},
        reverb_seed=7,
    )
    text = json.dumps(p.to_dict(), allow_nan=False)
    q = MixParams.from_dict(json.loads(text))
    assert q == p and q.reverb_seed == 7
    assert q.get("bass", "hpf_hz") is None and q.get("vox", "hpf_hz") == 80.0


@pytest.mark.parametrize("dc_block", [True, False])
def test_dict_round_trip_keeps_dc_block(dc_block):
    """``dc_block`` (whether the console's DC blockers run) is part of the settings' dict form."""
    p = MixParams(["vox"], tracks={"vox": {"gain_db": -2.0}}, dc_block=dc_block)
    data = json.loads(json.dumps(p.to_dict(), allow_nan=False))
    assert data["dc_block"] is dc_block
    q = MixParams.from_dict(data)
    assert q.dc_block is dc_block and q == p and p.copy().dc_block is dc_block
    assert MixParams(["vox"], dc_block=not dc_block) != p  # it takes part in equality
    assert MixParams.from_dict({"tracks": {"vox": {}}}).dc_block is True  # absent: the default (on)
    with pytest.raises(InvalidParameterError, match="dc_block"):
        MixParams.from_dict({**data, "dc_block": "yes"})


def test_normalised_view_round_trip_keeps_bypass_and_polarity():
    p = MixParams(["a", "b"], tracks={"a": {"gain_db": -6.0, "hpf_hz": 120.0, "polarity": -1}, "b": {"comp_ratio": 4.0}})
    values, active = p.normalised("track")
    assert values.shape == (2, len(SECTIONS["track"])) and values.min() >= 0 and values.max() <= 1
    names = [q.name for q in SECTIONS["track"]]
    assert not active[1, names.index("hpf_hz")] and active[0, names.index("hpf_hz")]
    q = p.with_normalised("track", values)
    for t in ("a", "b"):
        for name, v in p.tracks[t].items():
            if v is None:
                assert q.tracks[t][name] is None
            else:
                assert q.tracks[t][name] == pytest.approx(v, rel=1e-5, abs=1e-5)
    m, _ = p.normalised("master")
    assert m.shape == (len(SECTIONS["master"]),)


def test_tensor_view_marks_bypass_as_nan():
    p = MixParams(["a", "b"], tracks={"a": {"reverb_send_db": -12.0}})
    t = p.track_tensors()
    assert t["reverb_send_db"][0] == -12.0 and torch.isnan(t["reverb_send_db"][1])
    assert torch.isnan(p.bus_tensors("master")["limiter_ceiling_dbtp"])


def test_repr_shows_what_changed():
    p = MixParams(["vox"], tracks={"vox": {"gain_db": -3.2}}, master={"limiter_ceiling_dbtp": -1.0})
    text = repr(p)
    assert "Track('vox', gain_db=-3.2)" in text and "limiter_ceiling_dbtp=-1" in text
