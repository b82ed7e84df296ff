"""The one public measurement layer: validation, K-weighting, spectra, loudness, peaks, stereo, perception.

Every layer above (console, style, neural, mixers, evaluation, reports) measures through the names
exported here; nothing below this package's public names is imported from outside it. Three parts
that need numba or torch are imported by their own names, so that importing this package loads
neither: :mod:`mixassist.measure.perception` (the loudness model), :mod:`mixassist.measure.loudness_model`
(its torch twin) and :mod:`mixassist.measure.bits` (bit casts for numba kernels).
"""

from mixassist.measure.dc import DC_FLOOR_DBFS, dc_offset, dc_offset_dbfs
from mixassist.measure.loudness import (
    ABSOLUTE_GATE_LUFS,
    LOUDNESS_FLOOR_LUFS,
    LRA_RELATIVE_GATE_LU,
    MOMENTARY_WINDOW_MS,
    SHORT_TERM_WINDOW_MS,
    STEP_MS,
    integrated_loudness,
    k_weight,
    loudness_range,
    momentary_loudness,
    short_term_loudness,
)
from mixassist.measure.meter import integrated_and_short_term, integrated_streamed, loudness_and_correlation
from mixassist.measure.peak import TRUE_PEAK_OVERSAMPLING, sample_peak_dbfs, true_peak
from mixassist.measure.similarity import recording_match
from mixassist.measure.spectrum import welch_psd, welch_psd_read
from mixassist.measure.stereo import correlation, side_mid_db
from mixassist.measure.stream import measure_blocks
from mixassist.measure.summary import LoudnessReport, measure
from mixassist.measure.tempo import tempo_bpm
from mixassist.measure.validate import MAX_SAMPLE_RATE, MIN_SAMPLE_RATE, as_audio, check_sample_rate
from mixassist.measure.weighting import k_weighting_sos

# isort: split
# The band, width, dynamics and MRSTFT measures import the names above from this package, so they come after them.
from mixassist.measure.bands import (
    BAND_FLOOR_DB,
    NORMALISATION_LUFS,
    THIRD_OCTAVE_CENTRES_HZ,
    WELCH_SEGMENT,
    MidSide,
    MidSideSpectra,
    band_matrix,
    bands_in_range,
    check_mid_side,
    long_term_spectrum,
    mid_side_spectra,
    power_db,
    spectral_tilt_db_per_octave,
    third_octave_band_db,
    third_octave_edges,
    third_octave_powers,
    welch_spectrum,
)
from mixassist.measure.dynamics import (
    MIN_SPREAD_WINDOWS,
    crest_db,
    crest_with_reason,
    plr_db,
    plr_with_reason,
    short_term_spread_lu,
    spread_with_reason,
    true_peak_dbtp,
    true_peak_with_reason,
)
from mixassist.measure.fidelity import (
    DEFAULT_TOLERANCES,
    TONAL_BANDS,
    FidelityRow,
    fidelity_rows,
    reference_features,
    tonal_band_db,
)
from mixassist.measure.mrstft import (
    MRSTFT_FFT_SIZES,
    MRSTFT_HOP_SIZES,
    MRSTFT_WIN_LENGTHS,
    centred_hann_window,
    mrstft_distance,
    stft_magnitudes,
)
from mixassist.measure.reading import Measured, explain
from mixassist.measure.reasons import as_stereo, loudness_with_reason
from mixassist.measure.width import WIDTH_BANDS_HZ, WIDTH_LIMIT_DB, width_band_powers, width_db, width_with_reason

__all__ = [
    "DC_FLOOR_DBFS",
    "DEFAULT_TOLERANCES",
    "dc_offset",
    "dc_offset_dbfs",
    "ABSOLUTE_GATE_LUFS",
    "BAND_FLOOR_DB",
    "LOUDNESS_FLOOR_LUFS",
    "LRA_RELATIVE_GATE_LU",
    "MAX_SAMPLE_RATE",
    "MIN_SAMPLE_RATE",
    "MIN_SPREAD_WINDOWS",
    "MOMENTARY_WINDOW_MS",
    "MRSTFT_FFT_SIZES",
    "MRSTFT_HOP_SIZES",
    "MRSTFT_WIN_LENGTHS",
    "NORMALISATION_LUFS",
    "SHORT_TERM_WINDOW_MS",
    "STEP_MS",
    "THIRD_OCTAVE_CENTRES_HZ",
    "TONAL_BANDS",
    "TRUE_PEAK_OVERSAMPLING",
    "WELCH_SEGMENT",
    "WIDTH_BANDS_HZ",
    "WIDTH_LIMIT_DB",
    "LoudnessReport",
    "Measured",
    "MidSide",
    "MidSideSpectra",
    "as_audio",
    "as_stereo",
    "band_matrix",
    "bands_in_range",
    "centred_hann_window",
    "check_mid_side",
    "check_sample_rate",
    "correlation",
    "crest_db",
    "crest_with_reason",
    "explain",
    "FidelityRow",
    "fidelity_rows",
    "integrated_and_short_term",
    "integrated_streamed",
    "integrated_loudness",
    "k_weight",
    "k_weighting_sos",
    "long_term_spectrum",
    "loudness_and_correlation",
    "loudness_range",
    "loudness_with_reason",
    "measure",
    "measure_blocks",
    "mid_side_spectra",
    "momentary_loudness",
    "mrstft_distance",
    "plr_db",
    "plr_with_reason",
    "power_db",
    "reference_features",
    "recording_match",
    "sample_peak_dbfs",
    "short_term_loudness",
    "short_term_spread_lu",
    "side_mid_db",
    "spectral_tilt_db_per_octave",
    "spread_with_reason",
    "stft_magnitudes",
    "third_octave_band_db",
    "third_octave_edges",
    "third_octave_powers",
    "tempo_bpm",
    "tonal_band_db",
    "true_peak",
    "true_peak_dbtp",
    "true_peak_with_reason",
    "welch_psd",
    "welch_psd_read",
    "welch_spectrum",
    "width_band_powers",
    "width_db",
    "width_with_reason",
]
