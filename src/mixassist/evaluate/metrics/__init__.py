"""Objective metrics that compare a mix with a reference (or with a sample-aligned target).

Every function takes float audio shaped ``(channels, samples)`` with one or two channels (a
1-D array is read as mono; mono means L = R) at ``sample_rate`` Hz, nominal full scale ±1.0.
The mix and the reference may differ in length and channel count, never in sample rate.

Each figure is in a unit a person reads (dB, LU, dBTP) or is a documented dimensionless loss.
No figure is ``NaN`` or infinite. A figure that does not exist returns ``None`` — silence
below the BS.1770 -70 LUFS gate, audio shorter than a measurement window — and
:func:`compare_with_reasons` says why. Mono material stays finite everywhere: every side-signal
measure has a floor, so a mono mix against a wide reference is large but finite, and mono
against mono is 0.

Definitions, once
-----------------
Mid and side
    ``M = (L + R) / 2``, ``S = (L - R) / 2`` (Diff-MST's AF metric uses the unscaled sums
    ``L + R`` and ``L - R``, as its authors do; only there).
The measurements themselves (band levels, width, dynamics, MRSTFT) live in
:mod:`mixassist.measure` and are re-exported here; this package compares them.

Long-term spectrum
    Welch power spectral density, :data:`WELCH_SEGMENT` -point periodic Hann segments, 50 %
    overlap, no detrending, one-sided density (integrates to the mean square).
Band level
    Power of a band = the spectrum integrated over the band, each FFT bin counted with the
    fraction of its width (bin centre ± half a bin) that lies inside the band. In dB re
    full-scale sine: ``10 log10(2 P)``, so a full-scale sine inside one band reads 0 dB.
Third-octave bands
    The 27 nominal centres 40 Hz ... 16 kHz of IEC 61260 (:data:`THIRD_OCTAVE_CENTRES_HZ`),
    edges at ``centre * 2**(±1/6)`` of the *nominal* centre. A band whose upper edge lies above
    the Nyquist frequency reads the floor and is left out of every distance.
Loudness normalisation
    Where a metric compares levels "after loudness normalisation", each signal is scaled by the
    gain that brings its BS.1770-4 integrated loudness (:func:`mixassist.measure.integrated_loudness`) to
    :data:`NORMALISATION_LUFS` (-23 LUFS, EBU R128). Gains act on the measured powers exactly,
    so no scaled copy of the audio is made.

References
----------
ITU-R BS.1770-4; EBU R128, Tech 3341 and Tech 3342; IEC 61260 (third-octave bands);
Yamamoto et al., "Parallel WaveGAN", ICASSP 2020 and Steinmetz & Reiss, "auraloss", DMRN+15,
2020 (multi-resolution STFT); Vanka et al., "Diff-MST: Differentiable mixing style transfer",
ISMIR 2024 (the AF metric).
"""

from mixassist.evaluate.metrics.af import AF_WEIGHTS, diffmst_af_features, diffmst_af_metric
from mixassist.evaluate.metrics.comparison import compare, compare_with_reasons
from mixassist.evaluate.metrics.levels import dynamics_error, loudness_error_lu
from mixassist.evaluate.metrics.params import parameter_error
from mixassist.evaluate.metrics.stereo import width_error_bands_db, width_error_db
from mixassist.evaluate.metrics.tonal import SPECTRAL_FLOOR_DB, spectral_balance_distance_db
from mixassist.measure import (
    BAND_FLOOR_DB,
    MRSTFT_FFT_SIZES,
    MRSTFT_HOP_SIZES,
    MRSTFT_WIN_LENGTHS,
    NORMALISATION_LUFS,
    THIRD_OCTAVE_CENTRES_HZ,
    WELCH_SEGMENT,
    WIDTH_BANDS_HZ,
    WIDTH_LIMIT_DB,
    crest_db,
    mrstft_distance,
    plr_db,
    short_term_spread_lu,
    third_octave_band_db,
    true_peak_dbtp,
    width_db,
)

__all__ = [
    "AF_WEIGHTS",
    "BAND_FLOOR_DB",
    "MRSTFT_FFT_SIZES",
    "MRSTFT_HOP_SIZES",
    "MRSTFT_WIN_LENGTHS",
    "NORMALISATION_LUFS",
    "SPECTRAL_FLOOR_DB",
    "THIRD_OCTAVE_CENTRES_HZ",
    "WELCH_SEGMENT",
    "WIDTH_BANDS_HZ",
    "WIDTH_LIMIT_DB",
    "compare",
    "compare_with_reasons",
    "crest_db",
    "diffmst_af_features",
    "diffmst_af_metric",
    "dynamics_error",
    "loudness_error_lu",
    "mrstft_distance",
    "parameter_error",
    "plr_db",
    "short_term_spread_lu",
    "spectral_balance_distance_db",
    "third_octave_band_db",
    "true_peak_dbtp",
    "width_db",
    "width_error_bands_db",
    "width_error_db",
]
