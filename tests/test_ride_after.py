"""Rides on top of the style-matching methods (issue 24: "keep the static match and add rides on
top"): ``--ride`` with ``neural`` and ``auto`` rides the lead after the static proposal, within the
rules' limits, with reasons naming the section, and the delivery still holds."""

from __future__ import annotations

import numpy as np
import pytest

from mixassist.api import mix
from mixassist.audio.multitrack import Multitrack
from mixassist.console.lanes import max_rate
from mixassist.errors import InvalidParameterError
from mixassist.measure import measure
from mixassist.mixers.ride import RIDE_MAX_RATE_DB_S, RIDE_RANGE_DB
from mixassist.mixers.sections import Section
from signals import busier_chorus

SR = 22050
SECONDS = 8.0
SECTIONS = (Section(0.0, 4.0, "verse"), Section(4.0, 8.0, "chorus"))


@pytest.fixture(scope="module")
def song() -> Multitrack:
    """A steady lead over a band that is 12 dB louder in its second half (the 'chorus')."""
    return Multitrack.from_arrays(busier_chorus(SECONDS, SR, seed=11), SR)


def _check_ride(result, track: str = "vox") -> None:
    params = result.params
    lane = params.lane(track, "gain_db")
    assert lane is not None
    assert all(params.lane(t, "gain_db") is None for t in params.track_names if t != track)
    base = params.get(track, "gain_db")
    assert lane.value_at(6.5) - base > lane.value_at(1.5) - base + 2.0  # up in the busy half
    assert max_rate(lane) <= RIDE_MAX_RATE_DB_S + 1e-9
    assert max(abs(v - base) for v in lane.values) <= RIDE_RANGE_DB + 0.01
    spans = {k: v for k, v in result.proposal.reasons.for_section(track).items() if k.startswith("gain_db@")}
    assert spans and any("chorus" in text for text in spans.values())


def test_neural_with_ride_rides_the_lead_and_delivers(song: Multitrack) -> None:
    static = mix(song, method="neural", roles=["vox=lead"], sections=SECTIONS)
    ridden = mix(song, method="neural", roles=["vox=lead"], ride=True, sections=SECTIONS)
    assert static.params.lane("vox", "gain_db") is None
    _check_ride(ridden)
    ride = ridden.proposal.measured["vox"]["ride"]
    assert ride["spread_after_lu"] < 0.6 * ride["spread_before_lu"]
    # the static settings under the ride are the neural proposal's (only the lane and delivery differ)
    for t in song.names:
        assert ridden.params.get(t, "pan") == static.params.get(t, "pan")
    report = measure(ridden.mix, SR)
    assert abs(report.integrated_lufs - (-14.0)) <= 0.1 and report.true_peak_dbtp <= -1.0 + 1e-6


def test_auto_rides_before_the_closed_loop(song: Multitrack) -> None:
    reference = (0.5 * np.stack([song["vox"].audio[0] + song["pad"].audio[0]] * 2), SR)
    result = mix(song, reference=reference, roles=["vox=lead"], ride_track="vox", sections=SECTIONS)
    _check_ride(result)
    assert "fidelity" in result.proposal.context  # the loop measured the ridden mix
    assert measure(result.mix, SR).true_peak_dbtp <= -1.0 + 1e-6


def test_ride_track_must_exist_for_every_method(song: Multitrack) -> None:
    with pytest.raises(InvalidParameterError, match="not in the session"):
        mix(song, method="neural", ride_track="nobody")
