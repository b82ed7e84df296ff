"""Reference fidelity (``mixassist.measure.fidelity``): the features a reference states and the rows
that compare a mix with them, checked against independent computations (scipy, plain numpy)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.signal

from mixassist.measure import (
    DEFAULT_TOLERANCES,
    TONAL_BANDS,
    FidelityRow,
    fidelity_rows,
    integrated_loudness,
    reference_features,
)

SR = 22050


def _stereo_noise(side_gain: float, seconds: float = 4.0, seed: int = 0) -> np.ndarray:
    """Mid noise plus ``side_gain`` times independent side noise, as L/R."""
    rng = np.random.default_rng(seed)
    mid, side = 0.1 * rng.standard_normal((2, int(seconds * SR)))
    return np.stack([mid + side_gain * side, mid - side_gain * side])


def test_width_is_the_side_to_mid_energy_ratio():
    x = _stereo_noise(0.25)
    f = reference_features(x, SR)
    mid, side = 0.5 * (x[0] + x[1]), 0.5 * (x[0] - x[1])
    expected = 10 * math.log10(np.sum(side**2) / np.sum(mid**2))  # plain numpy, about -12 dB
    assert f["width_db"]["overall"] == pytest.approx(expected, abs=1e-6)
    for band in ("low", "mid", "high"):  # white noise: the same ratio in every band
        assert f["width_db"][band] == pytest.approx(expected, abs=0.5)


def test_tonal_bands_are_loudness_normalised_welch_band_powers():
    x = _stereo_noise(0.1)
    f = reference_features(x, SR)
    g = reference_features(0.1 * x, SR)  # -20 dB: normalised band levels do not move
    for band in TONAL_BANDS:
        if f["mid_band_db"][band] is not None:
            assert g["mid_band_db"][band] == pytest.approx(f["mid_band_db"][band], abs=1e-6)
    # independent: scipy's Welch of the mid, brought to -23 LUFS, summed over 250-500 Hz third-octaves
    mid = 0.5 * (x[0] + x[1])
    freqs, psd = scipy.signal.welch(mid, SR, nperseg=8192, window="hann")
    lo, hi = 250 * 2 ** (-1 / 6), 500 * 2 ** (1 / 6)
    sel = (freqs >= lo) & (freqs < hi)
    power = psd[sel].sum() * (freqs[1] - freqs[0]) * 10 ** ((-23 - integrated_loudness(x, SR)) / 10)
    assert f["mid_band_db"]["250-500 Hz"] == pytest.approx(10 * math.log10(2 * power), abs=0.2)
    # bands above the Nyquist frequency of 22.05 kHz are absent, not floored
    assert f["mid_third_octave_db"][-1] is None and f["mid_band_db"]["8-16 kHz"] is not None


def test_rows_tick_exactly_within_their_tolerances():
    ref = reference_features(_stereo_noise(0.25), SR)
    narrow = reference_features(_stereo_noise(0.1, seed=1), SR)  # about 8 dB narrower
    rows = {r.key: r for r in fidelity_rows(narrow, ref)}
    width = rows["width_db.overall"]
    assert width.ok is False and "below the reference" in width.reason
    assert abs(width.error) == pytest.approx(abs(narrow["width_db"]["overall"] - ref["width_db"]["overall"]))
    for row in rows.values():
        if row.ok is not None:
            assert row.ok == (abs(row.error) <= row.tolerance + 1e-9), row.key
            assert (row.reason == "") == row.ok, row.key
    # a tolerance wider than the miss turns the row into a tick
    wide = {r.key: r for r in fidelity_rows(narrow, ref, {"width_db": 20.0})}
    assert wide["width_db.overall"].ok is True and wide["width_db.overall"].tolerance == 20.0
    # short audio: LRA and spread are undefined, the row says why instead of guessing
    assert rows["short_term_spread_lu"].ok is None or rows["short_term_spread_lu"].mix is not None
    row = FidelityRow.from_dict(width.to_dict())
    assert row.key == width.key and row.ok is False and set(DEFAULT_TOLERANCES) >= {"plr_db", "loudness_range_lu"}


def test_mono_reads_the_width_floor_and_plr_follows_the_meter():
    t = np.arange(3 * SR) / SR
    tone = 0.5 * np.sin(2 * np.pi * 440 * t)
    f = reference_features(tone, SR)
    assert f["width_db"]["low"] == -60.0 and f["width_db"]["overall"] is None
    assert f["plr_db"] == pytest.approx(f["true_peak_dbtp"] - f["loudness_lufs"], abs=1e-9)
    assert f["crest_db"] == pytest.approx(3.01, abs=0.01)


def test_the_report_shows_each_row_with_its_mark_and_reason():
    from mixassist.report import fidelity_rows_text, fidelity_section

    ref = reference_features(_stereo_noise(0.25), SR)
    mix = reference_features(_stereo_noise(0.1, seed=1), SR)
    rows = [r.to_dict() for r in fidelity_rows(mix, ref)]
    ctx = {"fidelity": {"rows": rows, "start_rows": rows, "passes": 2}}
    header, table = fidelity_rows_text(ctx)
    assert header[:5] == ["feature", "reference", "before the loop", "this mix", "tolerance"]
    width = next(t for t in table if t[0].startswith("width (side/mid), overall"))
    assert width[5] == "✗" and "below the reference" in width[6]
    assert all((t[5] == "✓") == (t[6] == "") for t in table if t[5] != "—")
    text = "\n".join(fidelity_section(ctx))
    assert "## Reference fidelity" in text and "after 2 pass(es)" in text
    assert fidelity_rows_text({}) == ([], []) and fidelity_section({}) == []
