"""The one public measurement layer: validation, K-weighting, spectra, loudness, peaks, stereo, perception.

Every layer above (console, style, neural, mixers, evaluation, reports) measures through the names
exported here; nothing below this package's public names is imported from outside it. Three parts
that need numba or torch are imported by their own names, so that importing this package loads
neither: :mod:`mixassist.measure.perception` (the loudness model), :mod:`mixassist.measure.loudness_model`
(its torch twin) and :mod:`mixassist.measure.bits` (bit casts for numba kernels).
"""

from mixassist.measure.loudness import (
    ABSOLUTE_GATE_LUFS,
    LOUDNESS_FLOOR_LUFS,
    LRA_RELATIVE_GATE_LU,
    MOMENTARY_WINDOW_MS,
    SHORT_TERM_WINDOW_MS,
    STEP_MS,
    integrated_and_short_term,
    integrated_loudness,
    loudness_range,
    momentary_loudness,
    short_term_loudness,
)
from mixassist.measure.peak import TRUE_PEAK_OVERSAMPLING, sample_peak_dbfs, true_peak
from mixassist.measure.spectrum import welch_psd
from mixassist.measure.stereo import correlation, side_mid_db
from mixassist.measure.summary import LoudnessReport, measure
from mixassist.measure.validate import MAX_SAMPLE_RATE, MIN_SAMPLE_RATE, as_audio, check_sample_rate
from mixassist.measure.weighting import k_weighting_sos

__all__ = [
    "ABSOLUTE_GATE_LUFS",
    "LOUDNESS_FLOOR_LUFS",
    "LRA_RELATIVE_GATE_LU",
    "MAX_SAMPLE_RATE",
    "MIN_SAMPLE_RATE",
    "MOMENTARY_WINDOW_MS",
    "SHORT_TERM_WINDOW_MS",
    "STEP_MS",
    "TRUE_PEAK_OVERSAMPLING",
    "LoudnessReport",
    "as_audio",
    "check_sample_rate",
    "correlation",
    "integrated_and_short_term",
    "integrated_loudness",
    "k_weighting_sos",
    "loudness_range",
    "measure",
    "momentary_loudness",
    "sample_peak_dbfs",
    "short_term_loudness",
    "side_mid_db",
    "true_peak",
    "welch_psd",
]
