"""welch_psd against scipy.signal.welch (the reference it replaces for speed)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.signal

from mixassist.errors import InvalidParameterError
from mixassist.measure import welch_psd


@pytest.mark.parametrize(("samples", "segment"), [(100_000, 8192), (10_001, 1000), (5000, 999), (8192, 8192),
                                                  (8193, 8192), (20, 2), (300_000, 256)])
def test_equals_scipy_welch(rng, samples, segment):
    x = rng.standard_normal(samples) * np.linspace(0.1, 1.0, samples)
    f_ref, p_ref = scipy.signal.welch(x, 44100.0, window="hann", nperseg=segment, noverlap=segment // 2,
                                      detrend=False, scaling="density")
    freqs, psd = welch_psd(x, 44100.0, segment)
    np.testing.assert_array_equal(freqs, f_ref)
    np.testing.assert_allclose(psd, p_ref, rtol=1e-10, atol=1e-14 * p_ref.max())


def test_a_sine_lands_in_its_bin_with_its_power():
    sr, n = 48000, 48000 * 4
    tone = 0.5 * np.sin(2 * np.pi * 1500.0 * np.arange(n) / sr)
    freqs, psd = welch_psd(tone, sr, 4800)
    assert freqs[int(np.argmax(psd))] == pytest.approx(1500.0)
    # Parseval: the density integrates to the mean square (0.125)
    assert np.sum(psd) * (freqs[1] - freqs[0]) == pytest.approx(0.125, rel=1e-3)


def test_refuses_bad_shapes():
    with pytest.raises(InvalidParameterError, match="1-D"):
        welch_psd(np.zeros((2, 100)), 44100, 16)
    with pytest.raises(InvalidParameterError, match="segment"):
        welch_psd(np.zeros(100), 44100, 101)
