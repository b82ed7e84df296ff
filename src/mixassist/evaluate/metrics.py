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
    gain that brings its BS.1770-4 integrated loudness (:mod:`mixassist.measure.meter`) to
    :data:`NORMALISATION_LUFS` (-23 LUFS, EBU R128). Gains act on the measured powers exactly,
    so no scaled copy of the audio is made.

References
----------
ITU-R BS.1770-4; EBU R128, Tech 3341 and Tech 3342; IEC 61260 (third-octave bands);
Yamamoto et al., "Parallel WaveGAN", ICASSP 2020 and Steinmetz & Reiss, "auraloss", DMRN+15,
2020 (multi-resolution STFT); Vanka et al., "Diff-MST: Differentiable mixing style transfer",
ISMIR 2024 (the AF metric).
"""

from __future__ import annotations

import functools
import logging
import math
import types
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Literal

import numpy as np
import scipy.fft
import scipy.signal

from mixassist import measure as meter
from mixassist.console.schema import EQ_BANDS, params_for
from mixassist.errors import InvalidAudioError, InvalidParameterError

# The meter's own validation, so that every mixassist function refuses bad audio with the same
# messages (NaN/Inf samples, wrong layout, integer PCM, absurd sample rates).
from mixassist.measure import as_audio, check_sample_rate
from mixassist.measure.spectrum import welch_psd
from mixassist.style.features import (
    THIRD_OCTAVE_CENTRES_HZ,  # one definition: the style features own the bands
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

logger = logging.getLogger(__name__)

NORMALISATION_LUFS = -23.0
"""Integrated loudness both signals are brought to before a level-independent comparison."""
WELCH_SEGMENT = 8192
"""Welch segment length in samples (periodic Hann, 50 % overlap); 5.9 Hz bins at 48 kHz."""
BAND_FLOOR_DB = -120.0
"""Absolute floor of :func:`third_octave_band_db`, dB re full-scale sine: silence reads this."""
SPECTRAL_FLOOR_DB = -60.0
"""Floor of :func:`spectral_balance_distance_db`, dB relative to the normalisation loudness:
after both signals are brought to -23 LUFS, no band reads below -23 - 60 = -83 dB. The same
absolute floor for both signals makes a mono mix against a mono reference read 0 on the side
spectrum, and a mono mix against a wide one large but finite."""
WIDTH_BANDS_HZ: Mapping[str, tuple[float, float]] = types.MappingProxyType(
    {
        "low": (20.0, 250.0),
        "mid": (250.0, 4000.0),
        "high": (4000.0, math.inf),  # up to the Nyquist frequency
    }
)
"""The three broad bands of :func:`width_db`, Hz (lower edge inclusive)."""
WIDTH_LIMIT_DB = 60.0
""":func:`width_db` is clipped to ±60 dB: -60 dB reads "mono" (no side at all), +60 dB "no mid"."""
MRSTFT_FFT_SIZES = (1024, 2048, 512)
"""auraloss ``MultiResolutionSTFTLoss`` defaults (samples, at any sample rate)."""
MRSTFT_HOP_SIZES = (120, 240, 50)
MRSTFT_WIN_LENGTHS = (600, 1200, 240)
AF_WEIGHTS: Mapping[str, float] = types.MappingProxyType(
    {"rms": 0.1, "crest": 0.001, "width": 1.0, "imbalance": 1.0, "bark": 0.1}
)
"""Weights of Diff-MST's AF terms, as in their evaluation (``scripts/eval_generate.py``)."""

_AF_N_FFT = 32768
_AF_HOP = 8192  # Diff-MST: fft_size // 4
_AF_BARK_BANDS = 24
_AF_F_MIN_HZ = 20.0
_AF_F_MAX_HZ = 20000.0
_AF_EPS = 1e-8  # Diff-MST's clamp on mean squares and denominators, and its log offset
_AF_SIDE_FLOOR_DB = -60.0
_MRSTFT_POWER_EPS = 1e-8  # auraloss clamps |X|^2 at eps=1e-8 before the square root
_FRAMES_PER_CHUNK = 2048  # bounds the memory of the STFTs on long files
_MIN_SPREAD_WINDOWS = 2

_Result = tuple[Any, str | None]
_Which = Literal["mid", "side"]


# --------------------------------------------------------------------------- plumbing


def _stereo(audio: Any) -> np.ndarray:
    """Validated float64 ``(2, samples)``; mono is duplicated (L = R)."""
    x, _ = as_audio(audio)
    x = np.asarray(x, dtype=np.float64)
    return np.repeat(x, 2, axis=0) if x.shape[0] == 1 else x


def _explain(name: str, result: _Result) -> Any:
    value, reason = result
    if value is None:
        logger.debug("%s is None: %s", name, reason)
    return value


def _loudness_of(x: np.ndarray, rate: float, name: str = "signal") -> _Result:
    if x.shape[-1] == 0:
        return None, f"{name} is empty"
    value = meter.integrated_loudness(x, rate)
    if value is None:
        if x.shape[-1] < 0.4 * rate:
            return None, f"{name} is shorter than one 400 ms loudness block"
        return None, f"{name} is silent: below the -70 LUFS absolute gate"
    return float(value), None


def _check_which(which: str) -> _Which:
    if which not in ("mid", "side"):
        raise InvalidParameterError(f"which={which!r}; use 'mid' or 'side'")
    return which  # type: ignore[return-value]


def _power_db(power: np.ndarray | float) -> np.ndarray:
    """``10 log10(2 P)``: dB re a full-scale sine (mean square 1/2); P = 0 reads -3000, not -inf."""
    return 10.0 * np.log10(np.maximum(2.0 * np.asarray(power, dtype=np.float64), 1e-300))


# --------------------------------------------------------------------------- spectra


def _welch_psd(signal: np.ndarray, rate: float) -> tuple[np.ndarray, np.ndarray]:
    """One-sided Welch density of a 1-D signal (integrates to its mean square)."""
    n = signal.shape[-1]
    if n < 2:
        return np.zeros(1), np.zeros(1)
    return welch_psd(signal, rate, min(WELCH_SEGMENT, n))


def _band_matrix(freqs: np.ndarray, lows: np.ndarray, highs: np.ndarray) -> np.ndarray:
    """Hz of each bin's width (centre ± half a bin) inside each band, shape ``(bands, bins)``."""
    if freqs.size < 2:
        return np.zeros((lows.size, freqs.size))
    half = 0.5 * (freqs[1] - freqs[0])
    bin_lo = np.maximum(freqs - half, 0.0)
    bin_hi = np.minimum(freqs + half, freqs[-1])
    overlap = np.minimum(highs[:, None], bin_hi[None, :]) - np.maximum(lows[:, None], bin_lo[None, :])
    return np.maximum(overlap, 0.0)


def _third_octave_edges() -> tuple[np.ndarray, np.ndarray]:
    return THIRD_OCTAVE_CENTRES_HZ * 2.0 ** (-1.0 / 6.0), THIRD_OCTAVE_CENTRES_HZ * 2.0 ** (1.0 / 6.0)


def _bands_in_range(rate: float) -> np.ndarray:
    """Mask of the third-octave bands whose upper edge is at or below the Nyquist frequency."""
    return _third_octave_edges()[1] <= rate / 2.0


_Spectra = dict[str, tuple[np.ndarray, np.ndarray]]


def _mid_side_spectra(x: np.ndarray, rate: float) -> _Spectra:
    """Welch spectra ``(freqs, psd)`` of ``M = (L+R)/2`` and ``S = (L-R)/2``."""
    return {"mid": _welch_psd(0.5 * (x[0] + x[1]), rate), "side": _welch_psd(0.5 * (x[0] - x[1]), rate)}


def _third_octave_powers(spectra: _Spectra, rate: float) -> dict[str, np.ndarray]:
    """Mean-square power per third-octave band of mid and side (0 beyond Nyquist)."""
    lows, highs = _third_octave_edges()
    out = {}
    for which, (freqs, psd) in spectra.items():
        powers = _band_matrix(freqs, lows, highs) @ psd
        powers[~_bands_in_range(rate)] = 0.0
        out[which] = powers
    return out


def _width_powers(spectra: _Spectra, rate: float) -> tuple[np.ndarray, np.ndarray]:
    """Mean-square power of mid and side in the :data:`WIDTH_BANDS_HZ` bands."""
    lows = np.array([lo for lo, _ in WIDTH_BANDS_HZ.values()])
    highs = np.minimum(np.array([hi for _, hi in WIDTH_BANDS_HZ.values()]), rate / 2.0)
    (mid_f, mid_psd), (side_f, side_psd) = spectra["mid"], spectra["side"]
    return _band_matrix(mid_f, lows, highs) @ mid_psd, _band_matrix(side_f, lows, highs) @ side_psd


def third_octave_band_db(
    audio: np.ndarray,
    sample_rate: float,
    *,
    which: _Which = "mid",
    normalise: bool = False,
) -> np.ndarray:
    """Long-term level of the mid or side signal in 27 third-octave bands, 40 Hz ... 16 kHz.

    Welch spectrum of ``M = (L+R)/2`` or ``S = (L-R)/2`` (8192-point periodic Hann, 50 %
    overlap), integrated over each band (edges ``centre * 2**(±1/6)`` of the nominal centres in
    :data:`THIRD_OCTAVE_CENTRES_HZ`, partial bins weighted by their overlap).

    Parameters
    ----------
    audio : numpy.ndarray
        Float samples shaped ``(channels, samples)`` (1 or 2 channels) or 1-D mono.
    sample_rate : float
        Sample rate in Hz, 8000-384000.
    which : {"mid", "side"}
        Which signal to analyse. The side of a mono signal is silence: every band at the floor.
    normalise : bool
        Scale to :data:`NORMALISATION_LUFS` (-23 LUFS integrated) first. A signal whose loudness
        is undefined (silent, or shorter than 400 ms) is left unscaled.

    Returns
    -------
    numpy.ndarray
        Shape ``(27,)``, band levels in dB re full-scale sine (a full-scale sine inside one band
        reads 0 dB), floored at :data:`BAND_FLOOR_DB` (-120 dB, absolute). Bands whose upper
        edge lies above the Nyquist frequency read the floor.

    Raises
    ------
    InvalidAudioError, InvalidParameterError
        As :func:`mixassist.measure.meter.integrated_loudness`, or for an unknown ``which``.

    Examples
    --------
    >>> import numpy as np
    >>> t = np.arange(48000) / 48000
    >>> bands = third_octave_band_db(np.sin(2 * np.pi * 1000 * t), 48000)
    >>> int(THIRD_OCTAVE_CENTRES_HZ[np.argmax(bands)]), abs(float(bands.max())) < 0.01
    (1000, True)
    """
    which = _check_which(which)
    rate = check_sample_rate(sample_rate)
    x = _stereo(audio)
    powers = _third_octave_powers(_mid_side_spectra(x, rate), rate)[which]
    if normalise:
        loudness, reason = _loudness_of(x, rate)
        if loudness is None:
            logger.debug("third_octave_band_db: not normalised: %s", reason)
        else:
            powers = powers * 10.0 ** ((NORMALISATION_LUFS - loudness) / 10.0)
    return np.maximum(_power_db(powers), BAND_FLOOR_DB)


# --------------------------------------------------------------------------- pair measures


def _loudness_error(l_mix: _Result, l_ref: _Result) -> _Result:
    if l_mix[0] is None:
        return None, f"mix loudness undefined: {l_mix[1]}"
    if l_ref[0] is None:
        return None, f"reference loudness undefined: {l_ref[1]}"
    return l_mix[0] - l_ref[0], None


def _spectral_distance(
    p_mix: np.ndarray, p_ref: np.ndarray, l_mix: _Result, l_ref: _Result, rate: float, floor_db: float
) -> _Result:
    if l_mix[0] is None:
        return None, f"cannot loudness-normalise the mix: {l_mix[1]}"
    if l_ref[0] is None:
        return None, f"cannot loudness-normalise the reference: {l_ref[1]}"
    floor = NORMALISATION_LUFS + floor_db
    levels = [
        np.maximum(_power_db(p) + (NORMALISATION_LUFS - loud), floor)
        for p, loud in ((p_mix, l_mix[0]), (p_ref, l_ref[0]))
    ]
    in_range = _bands_in_range(rate)
    return float(np.mean(np.abs(levels[0] - levels[1])[in_range])), None


def _width_of(mid: np.ndarray, side: np.ndarray) -> _Result:
    if not (np.any(mid > 0.0) or np.any(side > 0.0)):
        return None, "silent: no mid or side energy"
    # S = 0 (also with M = 0: nothing there) reads the mono floor; M = 0 < S reads the ceiling.
    ratio = np.where(
        side <= 0.0,
        -WIDTH_LIMIT_DB,
        np.where(mid <= 0.0, WIDTH_LIMIT_DB, _power_db(side) - _power_db(mid)),
    )
    ratio = np.clip(ratio, -WIDTH_LIMIT_DB, WIDTH_LIMIT_DB)
    return {name: float(v) for name, v in zip(WIDTH_BANDS_HZ, ratio)}, None


def _width_diff(w_mix: _Result, w_ref: _Result) -> _Result:
    if w_mix[0] is None:
        return None, f"mix width undefined: {w_mix[1]}"
    if w_ref[0] is None:
        return None, f"reference width undefined: {w_ref[1]}"
    return {band: w_mix[0][band] - w_ref[0][band] for band in WIDTH_BANDS_HZ}, None


def _difference(a: _Result, b: _Result, what: str) -> _Result:
    if a[0] is None:
        return None, f"mix {what} undefined: {a[1]}"
    if b[0] is None:
        return None, f"reference {what} undefined: {b[1]}"
    return a[0] - b[0], None


# --------------------------------------------------------------------------- loudness


def loudness_error_lu(mix: np.ndarray, ref: np.ndarray, sample_rate: float) -> float | None:
    """Integrated loudness of the mix minus that of the reference, BS.1770-4.

    Parameters
    ----------
    mix, ref : numpy.ndarray
        Float samples shaped ``(channels, samples)`` (1 or 2 channels) or 1-D mono.
    sample_rate : float
        Sample rate of both, Hz.

    Returns
    -------
    float or None
        Signed difference in LU (positive: the mix is louder); None when either loudness is
        undefined (silent below the -70 LUFS gate, or shorter than 400 ms).

    Examples
    --------
    >>> import numpy as np
    >>> noise = np.random.default_rng(0).standard_normal((2, 48000)) * 0.1
    >>> round(loudness_error_lu(noise * 2.0, noise, 48000), 3)  # +6.021 dB of gain
    6.021
    """
    rate = check_sample_rate(sample_rate)
    x, y = _stereo(mix), _stereo(ref)
    return _explain(
        "loudness_error_lu", _loudness_error(_loudness_of(x, rate, "mix"), _loudness_of(y, rate, "reference"))
    )


# --------------------------------------------------------------------------- spectral balance


def spectral_balance_distance_db(
    mix: np.ndarray,
    ref: np.ndarray,
    sample_rate: float,
    which: _Which = "mid",
    *,
    floor_db: float = SPECTRAL_FLOOR_DB,
) -> float | None:
    """Mean absolute third-octave level difference after loudness normalisation.

    Both signals are scaled to -23 LUFS integrated (BS.1770-4), their mid or side third-octave
    levels are measured (:func:`third_octave_band_db`), every band is floored at
    ``-23 + floor_db`` dB (the same absolute floor for both signals), and the mean of
    ``|level_mix - level_ref|`` is taken over the bands below the Nyquist frequency.

    The floor is what keeps side spectra of mono material finite: a mono signal's side reads the
    floor in every band, so mono against mono is exactly 0 and mono against wide is the mean
    height of the wide signal's side bands above the floor. (A floor relative to each signal's own
    mid band — ``max(side, mid - 60 dB)`` — was rejected: two different mono mixes would then
    differ on the side spectrum by exactly their mid-spectrum difference.)

    Parameters
    ----------
    mix, ref : numpy.ndarray
        Float samples shaped ``(channels, samples)`` (1 or 2 channels) or 1-D mono.
    sample_rate : float
        Sample rate of both, Hz.
    which : {"mid", "side"}
        Compare the mid ``(L+R)/2`` or the side ``(L-R)/2`` spectrum.
    floor_db : float
        Floor relative to the normalisation loudness, dB (default -60: bands read no lower than
        -83 dB re full-scale sine after normalisation).

    Returns
    -------
    float or None
        Mean absolute difference in dB (0 for identical signals, and for signals that differ
        only in gain); None when either loudness is undefined (silent, or shorter than 400 ms).

    Examples
    --------
    >>> import numpy as np
    >>> noise = np.random.default_rng(0).standard_normal((2, 96000)) * 0.1
    >>> spectral_balance_distance_db(noise, 0.3 * noise, 48000) < 1e-9
    True
    """
    which = _check_which(which)
    rate = check_sample_rate(sample_rate)
    x, y = _stereo(mix), _stereo(ref)
    result = _spectral_distance(
        _third_octave_powers(_mid_side_spectra(x, rate), rate)[which],
        _third_octave_powers(_mid_side_spectra(y, rate), rate)[which],
        _loudness_of(x, rate, "mix"),
        _loudness_of(y, rate, "reference"),
        rate,
        float(floor_db),
    )
    return _explain(f"spectral_balance_distance_db[{which}]", result)


# --------------------------------------------------------------------------- width


def width_db(audio: np.ndarray, sample_rate: float) -> dict[str, float] | None:
    """Side-to-mid energy ratio in three broad bands, dB.

    ``10 log10(E_S / E_M)`` with ``M = (L+R)/2``, ``S = (L-R)/2`` integrated from the Welch
    spectra over :data:`WIDTH_BANDS_HZ`: ``"low"`` 20-250 Hz, ``"mid"`` 250 Hz-4 kHz, ``"high"``
    4 kHz-Nyquist. Clipped to ±60 dB (:data:`WIDTH_LIMIT_DB`): a band without side energy (mono,
    or a band with no energy at all) reads -60 dB; a band with side but no mid energy +60 dB.

    Parameters
    ----------
    audio : numpy.ndarray
        Float samples shaped ``(channels, samples)`` (1 or 2 channels) or 1-D mono.
    sample_rate : float
        Sample rate in Hz.

    Returns
    -------
    dict of str to float, or None
        ``{"low": dB, "mid": dB, "high": dB}``: about -60 for mono, 0 for unrelated channels of
        equal level, positive for mostly out-of-phase channels. None for silence.

    Examples
    --------
    >>> import numpy as np
    >>> left = np.random.default_rng(0).standard_normal(48000)
    >>> width_db(left, 48000)  # mono
    {'low': -60.0, 'mid': -60.0, 'high': -60.0}
    """
    rate = check_sample_rate(sample_rate)
    return _explain("width_db", _width_of(*_width_powers(_mid_side_spectra(_stereo(audio), rate), rate)))


def width_error_bands_db(mix: np.ndarray, ref: np.ndarray, sample_rate: float) -> dict[str, float] | None:
    """Per-band width difference ``width_db(mix) - width_db(ref)``, dB, signed.

    Positive: the mix is wider than the reference in that band. See :func:`width_db`.

    Returns
    -------
    dict of str to float, or None
        ``{"low": dB, "mid": dB, "high": dB}``; None when either signal is silent.
    """
    rate = check_sample_rate(sample_rate)
    w_mix = _width_of(*_width_powers(_mid_side_spectra(_stereo(mix), rate), rate))
    w_ref = _width_of(*_width_powers(_mid_side_spectra(_stereo(ref), rate), rate))
    return _explain("width_error_bands_db", _width_diff(w_mix, w_ref))


def width_error_db(mix: np.ndarray, ref: np.ndarray, sample_rate: float) -> float | None:
    """Mean absolute width difference over the three bands of :func:`width_db`, dB.

    Returns
    -------
    float or None
        ``mean(|width_mix - width_ref|)`` over low, mid and high; at most 120 dB. None when
        either signal is silent. Per-band signed values: :func:`width_error_bands_db`.

    Examples
    --------
    >>> import numpy as np
    >>> lr = np.random.default_rng(0).standard_normal((2, 48000))
    >>> width_error_db(lr, lr[::-1], 48000)  # swapping channels keeps the width
    0.0
    """
    bands = width_error_bands_db(mix, ref, sample_rate)
    return None if bands is None else float(np.mean(np.abs(list(bands.values()))))


# --------------------------------------------------------------------------- dynamics


def _crest_of(x: np.ndarray) -> _Result:
    if x.shape[-1] == 0:
        return None, "empty"
    peak = float(np.max(np.abs(x)))
    if peak == 0.0:
        return None, "silent: all samples are zero"
    # peak / rms computed on x / peak: the mean square is then at least 1 / samples, so tiny
    # (even subnormal) signals cannot underflow to a zero RMS.
    return -10.0 * math.log10(float(np.mean(np.square(x / peak)))), None


def _spread_of(x: np.ndarray, rate: float) -> _Result:
    series = meter.short_term_loudness(x, rate)
    if series.size == 0:
        return None, "shorter than one 3 s short-term window"
    gated = series[series >= meter.ABSOLUTE_GATE_LUFS]
    if gated.size:
        # EBU Tech 3342's gates: -70 LUFS absolute, then 20 LU below the power mean of the rest.
        power_mean = 10.0 * math.log10(float(np.mean(10.0 ** (gated / 10.0))))
        gated = gated[gated >= power_mean + meter.LRA_RELATIVE_GATE_LU]
    if gated.size < _MIN_SPREAD_WINDOWS:
        return None, f"fewer than {_MIN_SPREAD_WINDOWS} short-term windows above the gates"
    return float(np.std(gated)), None


def _true_peak_of(x: np.ndarray, rate: float) -> _Result:
    value = meter.true_peak(x, rate)
    if value is None:
        return None, "empty or all samples zero"
    return float(value), None


def true_peak_dbtp(audio: np.ndarray, sample_rate: float) -> float | None:
    """Maximum true peak, ITU-R BS.1770-4 Annex 2 (4x oversampling), dBTP.

    A wrapper of :func:`mixassist.measure.meter.true_peak`; None for empty or all-zero audio.

    Examples
    --------
    >>> import numpy as np
    >>> t = np.arange(48000) / 48000
    >>> round(true_peak_dbtp(0.5 * np.sin(2 * np.pi * 997 * t), 48000), 1)
    -6.0
    """
    rate = check_sample_rate(sample_rate)
    return _explain("true_peak_dbtp", _true_peak_of(_stereo(audio), rate))


def plr_db(audio: np.ndarray, sample_rate: float) -> float | None:
    """Peak-to-loudness ratio: true peak (dBTP) minus integrated loudness (LUFS), dB.

    Returns
    -------
    float or None
        PLR in dB (about 8-12 dB for a mastered pop song, more for a dynamic mix); None when
        the loudness is undefined (silent or shorter than 400 ms).
    """
    rate = check_sample_rate(sample_rate)
    x = _stereo(audio)
    return _explain("plr_db", _plr_of(_true_peak_of(x, rate), _loudness_of(x, rate)))


def _plr_of(tp: _Result, loudness: _Result) -> _Result:
    if loudness[0] is None:
        return None, f"loudness undefined: {loudness[1]}"
    if tp[0] is None:
        return None, f"true peak undefined: {tp[1]}"
    return tp[0] - loudness[0], None


def crest_db(audio: np.ndarray) -> float | None:
    """Crest factor over the whole signal: sample peak over RMS, all channels pooled, dB.

    ``20 log10(max|x|) - 10 log10(mean(x**2))`` with the peak and mean square taken over every
    sample of every channel (a mono signal and its L = R stereo copy read the same).

    Returns
    -------
    float or None
        Crest factor in dB (3.01 for a sine); None for empty or all-zero audio.

    Examples
    --------
    >>> import numpy as np
    >>> round(crest_db(np.sin(2 * np.pi * np.arange(4800) / 48)), 2)
    3.01
    """
    return _explain("crest_db", _crest_of(_stereo(audio)))


def short_term_spread_lu(audio: np.ndarray, sample_rate: float) -> float | None:
    """Spread of the short-term loudness: standard deviation of the gated 3 s values, LU.

    The short-term loudness series (EBU Tech 3341: 3 s windows every 100 ms, from
    :func:`mixassist.measure.meter.short_term_loudness`) is gated as for loudness range
    (EBU Tech 3342: -70 LUFS absolute, then -20 LU relative to the power mean of what passed);
    the spread is the population standard deviation of the remaining values. Unlike LRA
    (a percentile range) it weighs every window, so it moves smoothly with compression.

    Returns
    -------
    float or None
        Standard deviation in LU (0 for steady noise); None when the signal is shorter than 3 s,
        silent, or leaves fewer than 2 windows after gating.
    """
    rate = check_sample_rate(sample_rate)
    return _explain("short_term_spread_lu", _spread_of(_stereo(audio), rate))


def dynamics_error(mix: np.ndarray, ref: np.ndarray, sample_rate: float) -> dict[str, float | None]:
    """Signed dynamics differences, mix minus reference.

    Returns
    -------
    dict
        ``plr_error_db`` (:func:`plr_db`), ``crest_error_db`` (:func:`crest_db`) and
        ``st_spread_error_lu`` (:func:`short_term_spread_lu`); each None where either
        signal's value is undefined. All three are independent of the overall gain.
    """
    rate = check_sample_rate(sample_rate)
    x, y = _stereo(mix), _stereo(ref)
    results = _dynamics_results(
        x, y, rate, _loudness_of(x, rate, "mix"), _loudness_of(y, rate, "reference"),
        _true_peak_of(x, rate), _true_peak_of(y, rate),
    )  # fmt: skip
    return {key: _explain(key, result) for key, result in results.items()}


def _dynamics_results(
    x: np.ndarray, y: np.ndarray, rate: float, l_x: _Result, l_y: _Result, tp_x: _Result, tp_y: _Result
) -> dict[str, _Result]:
    return {
        "plr_error_db": _difference(_plr_of(tp_x, l_x), _plr_of(tp_y, l_y), "PLR"),
        "crest_error_db": _difference(_crest_of(x), _crest_of(y), "crest factor"),
        "st_spread_error_lu": _difference(_spread_of(x, rate), _spread_of(y, rate), "short-term spread"),
    }


# --------------------------------------------------------------------------- STFTs


def _stft_magnitudes(
    signal: np.ndarray, n_fft: int, hop: int, win_length: int, window: np.ndarray | None = None
) -> Iterator[np.ndarray]:
    """Magnitude STFT frames in chunks, as ``torch.stft(center=True, pad_mode="reflect")``.

    The periodic Hann window of ``win_length`` is centred in ``n_fft`` (zeros either side);
    the signal is reflect-padded by ``n_fft // 2`` on both sides; frame ``k`` starts at
    ``k * hop`` of the padded signal; ``1 + samples // hop`` frames. Yields arrays shaped
    ``(frames_in_chunk, n_fft // 2 + 1)``.
    """
    if window is None:
        window = _centred_window(n_fft, win_length)
    padded = np.pad(signal, n_fft // 2, mode="reflect") if signal.size > 1 else np.pad(signal, n_fft // 2)
    frames = np.lib.stride_tricks.sliding_window_view(padded, n_fft)[::hop]
    for start in range(0, frames.shape[0], _FRAMES_PER_CHUNK):
        yield np.abs(scipy.fft.rfft(frames[start : start + _FRAMES_PER_CHUNK] * window, axis=-1, workers=-1))


@functools.lru_cache(maxsize=8)
def _centred_window(n_fft: int, win_length: int) -> np.ndarray:
    window = np.zeros(n_fft)
    left = (n_fft - win_length) // 2
    window[left : left + win_length] = scipy.signal.get_window("hann", win_length, fftbins=True)
    window.flags.writeable = False
    return window


def mrstft_distance(
    mix: np.ndarray,
    target: np.ndarray,
    sample_rate: float,
    *,
    fft_sizes: Sequence[int] = MRSTFT_FFT_SIZES,
    hop_sizes: Sequence[int] = MRSTFT_HOP_SIZES,
    win_lengths: Sequence[int] = MRSTFT_WIN_LENGTHS,
) -> float | None:
    """Multi-resolution STFT distance between a mix and a sample-aligned target.

    For each resolution (auraloss defaults: FFT 1024/2048/512, hop 120/240/50, Hann window
    600/1200/240, ``torch.stft`` framing with ``center=True``, reflect padding) and each
    channel: spectral convergence ``||Y - X||_F / ||Y||_F`` plus the mean absolute log-magnitude
    difference ``mean|ln Y - ln X|``, with magnitudes ``sqrt(max(|STFT|**2, 1e-8))`` as in
    auraloss. The result is the sum of the two terms averaged over resolutions and channels
    (auraloss pools the channels into one Frobenius norm; we average per channel).

    Parameters
    ----------
    mix, target : numpy.ndarray
        Float samples shaped ``(channels, samples)`` (1 or 2 channels) or 1-D mono, the same
        number of samples. A mono signal against a stereo one is compared as L = R.
    sample_rate : float
        Sample rate of both, Hz (validated only: the resolutions are in samples, as in auraloss).
    fft_sizes, hop_sizes, win_lengths : sequence of int
        The resolutions, in samples.

    Returns
    -------
    float or None
        Dimensionless distance: 0 for identical signals, growing with any difference (level,
        spectrum, timing). None for empty input.

    Raises
    ------
    InvalidAudioError
        If the two signals differ in length (the distance needs sample-aligned signals).
    """
    check_sample_rate(sample_rate)
    x, _ = as_audio(mix)
    y, _ = as_audio(target)
    if x.shape[-1] != y.shape[-1]:
        raise InvalidAudioError(
            f"mix has {x.shape[-1]} samples and target {y.shape[-1]}; the MRSTFT distance "
            "compares sample-aligned signals: trim or pad them to the same length"
        )
    if x.shape[-1] == 0:
        return _explain("mrstft_distance", (None, "empty"))
    if not (len(fft_sizes) == len(hop_sizes) == len(win_lengths)) or not fft_sizes:
        raise InvalidParameterError("fft_sizes, hop_sizes and win_lengths must have the same non-zero length")
    channels = max(x.shape[0], y.shape[0])
    x = np.broadcast_to(np.asarray(x, dtype=np.float64), (channels, x.shape[-1]))
    y = np.broadcast_to(np.asarray(y, dtype=np.float64), (channels, y.shape[-1]))
    total = 0.0
    for n_fft, hop, win in zip(fft_sizes, hop_sizes, win_lengths):
        if not (0 < int(win) <= int(n_fft)) or int(hop) <= 0:
            raise InvalidParameterError(
                f"bad resolution fft={n_fft}, hop={hop}, win={win}: need 0 < win <= fft, hop > 0"
            )
        for channel in range(channels):
            diff_sq = ref_sq = log_abs = 0.0
            count = 0
            for x_mag, y_mag in zip(
                _stft_magnitudes(x[channel], int(n_fft), int(hop), int(win)),
                _stft_magnitudes(y[channel], int(n_fft), int(hop), int(win)),
            ):
                x_mag = np.sqrt(np.maximum(np.square(x_mag), _MRSTFT_POWER_EPS))
                y_mag = np.sqrt(np.maximum(np.square(y_mag), _MRSTFT_POWER_EPS))
                diff_sq += float(np.sum(np.square(y_mag - x_mag)))
                ref_sq += float(np.sum(np.square(y_mag)))
                log_abs += float(np.sum(np.abs(np.log(y_mag) - np.log(x_mag))))
                count += x_mag.size
            total += math.sqrt(diff_sq) / math.sqrt(ref_sq) + log_abs / count
    return float(total / (len(fft_sizes) * channels))


# --------------------------------------------------------------------------- Diff-MST AF


def _hz_to_bark(freq_hz: float) -> float:
    """Traunmüller (1990) Bark with its low and high corrections."""
    bark = 26.81 * freq_hz / (1960.0 + freq_hz) - 0.53
    if bark < 2.0:
        bark += 0.15 * (2.0 - bark)
    elif bark > 20.1:
        bark += 0.22 * (bark - 20.1)
    return bark


def _bark_to_hz_as_diffmst(barks: np.ndarray) -> np.ndarray:
    """Inverse Traunmüller as Diff-MST's ``mst/filter.py`` (after torchaudio's prototype) has it.

    Their inverse undoes the low-end correction when any value lies below 2 Bark and only
    *otherwise* the high-end one, so with a 20 Hz lower limit the values above 20.1 Bark are
    never un-corrected: their top band edges land higher than the forward scale says (the
    last one above 30 kHz). Reproduced on purpose, so the band energies match theirs.
    """
    barks = np.array(barks, dtype=np.float64)
    if np.any(barks < 2.0):
        low = barks < 2.0
        barks[low] = (barks[low] - 0.3) / 0.85
    elif np.any(barks > 20.1):
        high = barks > 20.1
        barks[high] = (barks[high] + 4.422) / 1.22
    return 1960.0 * (barks + 0.53) / (26.28 - barks)


@functools.lru_cache(maxsize=8)
def _bark_filterbank(sample_rate: float, n_fft: int = _AF_N_FFT, bands: int = _AF_BARK_BANDS) -> np.ndarray:
    """Triangular Bark filterbank shaped ``(bands, n_fft // 2 + 1)``, peak weight 1 (unnormalised).

    Band points equally spaced in Bark from 20 Hz to 20 kHz (``bands + 2`` points, each band a
    triangle from its lower to its upper neighbour); the bin frequencies are
    ``linspace(0, floor(sample_rate / 2), n_fft // 2 + 1)`` as in Diff-MST. Bands above the
    Nyquist frequency are all zero and read ``ln(1e-8)`` for every signal.
    """
    bins = np.linspace(0.0, float(math.floor(sample_rate / 2.0)), n_fft // 2 + 1)
    points = _bark_to_hz_as_diffmst(np.linspace(_hz_to_bark(_AF_F_MIN_HZ), _hz_to_bark(_AF_F_MAX_HZ), bands + 2))
    lower, centre, upper = points[:-2, None], points[1:-1, None], points[2:, None]
    rising = (bins[None, :] - lower) / (centre - lower)
    falling = (upper - bins[None, :]) / (upper - centre)
    bank = np.maximum(0.0, np.minimum(rising, falling))
    bank.flags.writeable = False
    return bank


def _mean_magnitude(signal: np.ndarray) -> np.ndarray:
    """Time-averaged STFT magnitude, n_fft 32768, hop 8192, periodic Hann (torch.stft framing)."""
    window = _centred_window(_AF_N_FFT, _AF_N_FFT)
    total = np.zeros(_AF_N_FFT // 2 + 1)
    frames = 0
    for chunk in _stft_magnitudes(signal, _AF_N_FFT, _AF_HOP, _AF_N_FFT, window):
        total += chunk.sum(axis=0)
        frames += chunk.shape[0]
    return total / max(frames, 1)


def _af_raw(x: np.ndarray, rate: float) -> dict[str, np.ndarray]:
    """Gain-free statistics from which the AF features at any gain follow exactly."""
    bank = _bark_filterbank(float(rate))
    if x.shape[-1] == 0:  # empty: every statistic is 0 (the features then read their clamps)
        x = np.zeros((2, 1))
    return {
        "mean_square": np.mean(np.square(x), axis=-1),  # (2,) L, R
        "peak": np.max(np.abs(x), axis=-1),
        "sum_square": np.mean(np.square(x[0] + x[1])),
        "diff_square": np.mean(np.square(x[0] - x[1])),
        "bark_mid": bank @ _mean_magnitude(x[0] + x[1]),
        "bark_side": bank @ _mean_magnitude(x[0] - x[1]),
    }


def _af_features(raw: Mapping[str, np.ndarray], gain: float, side_eps: np.ndarray | float) -> dict[str, np.ndarray]:
    """Diff-MST's five features of ``gain * x`` (see :func:`diffmst_af_features`)."""
    g2 = gain * gain
    mean_square = raw["mean_square"] * g2
    rms = np.sqrt(np.maximum(mean_square, _AF_EPS))
    energy_l, energy_r = mean_square
    return {
        "rms": rms,
        "crest_db": 20.0 * np.log10(np.maximum(raw["peak"] * gain / np.maximum(rms, _AF_EPS), _AF_EPS)),
        "width": np.float64(raw["diff_square"] * g2 / max(float(raw["sum_square"] * g2), _AF_EPS)),
        "imbalance": np.float64((energy_r - energy_l) / max(float(energy_r + energy_l), _AF_EPS)),
        "bark_mid": np.log(raw["bark_mid"] * gain + _AF_EPS),
        "bark_side": np.log(raw["bark_side"] * gain + _AF_EPS + side_eps),
    }


def _side_eps(raw_ref: Mapping[str, np.ndarray], gain_ref: float, side_floor_db: float | None) -> np.ndarray | float:
    """Per-band side floor: ``side_floor_db`` below the (normalised) reference's mid, Bark units."""
    if side_floor_db is None:
        return 0.0
    return 10.0 ** (side_floor_db / 20.0) * raw_ref["bark_mid"] * gain_ref


def _af_gain(loudness: _Result, target_lufs: float | None) -> float | None:
    if target_lufs is None:
        return 1.0
    if loudness[0] is None:
        return None
    return 10.0 ** ((target_lufs - loudness[0]) / 20.0)


_AF_KEYS = ("af_rms", "af_crest", "af_width", "af_imbalance", "af_bark", "af_bark_mid", "af_bark_side", "af_total")


def _af_metric(
    raw_mix: Mapping[str, np.ndarray],
    raw_ref: Mapping[str, np.ndarray],
    l_mix: _Result,
    l_ref: _Result,
    target_lufs: float | None,
    side_floor_db: float | None,
) -> dict[str, _Result]:
    g_mix, g_ref = _af_gain(l_mix, target_lufs), _af_gain(l_ref, target_lufs)
    if g_mix is None or g_ref is None:
        which, loud = ("mix", l_mix) if g_mix is None else ("reference", l_ref)
        reason = f"cannot loudness-normalise the {which}: {loud[1]}"
        return {key: (None, reason) for key in _AF_KEYS}
    eps = _side_eps(raw_ref, g_ref, side_floor_db)
    f_mix, f_ref = _af_features(raw_mix, g_mix, eps), _af_features(raw_ref, g_ref, eps)

    def mse(name: str) -> float:
        return float(np.mean(np.square(f_mix[name] - f_ref[name])))

    terms = {
        "af_rms": AF_WEIGHTS["rms"] * mse("rms"),
        "af_crest": AF_WEIGHTS["crest"] * mse("crest_db"),
        "af_width": AF_WEIGHTS["width"] * mse("width"),
        "af_imbalance": AF_WEIGHTS["imbalance"] * mse("imbalance"),
        # Diff-MST concatenates the mid and side log spectra into one (24, 2) feature: its MSE is
        # the mean of the two halves' MSEs, so each half contributes weight / 2.
        "af_bark_mid": 0.5 * AF_WEIGHTS["bark"] * mse("bark_mid"),
        "af_bark_side": 0.5 * AF_WEIGHTS["bark"] * mse("bark_side"),
    }
    terms["af_bark"] = terms["af_bark_mid"] + terms["af_bark_side"]
    terms["af_total"] = sum(terms[k] for k in ("af_rms", "af_crest", "af_width", "af_imbalance", "af_bark"))
    return {key: (float(terms[key]), None) for key in _AF_KEYS}


def diffmst_af_features(
    audio: np.ndarray,
    sample_rate: float,
    *,
    target_lufs: float | None = NORMALISATION_LUFS,
    side_floor_db: float | None = None,
) -> dict[str, np.ndarray] | None:
    """The five audio-production features of Diff-MST's AF metric, for one signal.

    Computed on the signal scaled to ``target_lufs`` (BS.1770-4 integrated loudness):

    * ``rms`` (2,): per-channel RMS, linear amplitude, ``sqrt(max(mean(x**2), 1e-8))``;
    * ``crest_db`` (2,): per-channel ``20 log10(max|x| / rms)``;
    * ``width`` (): ``E[(L-R)**2] / E[(L+R)**2]`` (denominator clamped at 1e-8);
    * ``imbalance`` (): ``(E_R - E_L) / (E_R + E_L)``, -1 (all left) ... 1 (all right);
    * ``bark_mid``, ``bark_side`` (24,): ``ln(B + 1e-8)`` of the 24-band Bark filterbank
      (20 Hz-20 kHz, triangular) applied to the time-averaged STFT magnitude
      (n_fft 32768, hop 8192, Hann) of ``L + R`` and ``L - R``.

    Parameters
    ----------
    audio : numpy.ndarray
        Float samples shaped ``(channels, samples)`` (1 or 2 channels; mono is L = R).
    sample_rate : float
        Sample rate in Hz.
    target_lufs : float or None
        Loudness to normalise to first; None uses the signal as it is.
    side_floor_db : float or None
        Side-spectrum floor relative to this signal's own mid Bark magnitude in each band, dB;
        None (the default here) is Diff-MST's plain ``ln(B + 1e-8)``.
        :func:`diffmst_af_metric` anchors the floor to the reference's mid instead.

    Returns
    -------
    dict of str to numpy.ndarray, or None
        The features; None when ``target_lufs`` is given and the loudness is undefined.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.random.default_rng(0).standard_normal((2, 44100)) * [[0.1], [0.2]]
    >>> round(float(diffmst_af_features(x, 44100)["imbalance"]), 1)  # (4 - 1) / (4 + 1)
    0.6
    """
    rate = check_sample_rate(sample_rate)
    x = _stereo(audio)
    gain = _af_gain(_loudness_of(x, rate), target_lufs)
    if gain is None:
        return _explain("diffmst_af_features", (None, "loudness undefined: cannot normalise"))
    raw = _af_raw(x, rate)
    return _af_features(raw, gain, _side_eps(raw, gain, side_floor_db))


def diffmst_af_metric(
    mix: np.ndarray,
    ref: np.ndarray,
    sample_rate: float,
    *,
    target_lufs: float | None = NORMALISATION_LUFS,
    side_floor_db: float | None = _AF_SIDE_FLOOR_DB,
) -> dict[str, float | None]:
    """Diff-MST's "AF" audio-production-style metric (Vanka et al., ISMIR 2024), finite on mono.

    Both signals are scaled to ``target_lufs`` (-23 LUFS, BS.1770-4), the features of
    :func:`diffmst_af_features` are taken from each, and every term is the mean squared error
    between the two feature vectors times its weight (:data:`AF_WEIGHTS`): RMS 0.1, crest
    factor 0.001, width 1.0, imbalance 1.0, Bark spectrum 0.1. The Bark term is one MSE over the
    concatenated mid and side log spectra (48 values), as in Diff-MST; ``af_bark_mid`` and
    ``af_bark_side`` are its two halves (each weight 0.05 on its own 24-band MSE), which add up
    to ``af_bark``. ``af_total`` is the sum of the five terms.

    Where this departs from Diff-MST (``mst/loss.py``, ``compute_barkspectrum``):

    1. **Side spectrum floor.** Theirs is ``ln(B_side + 1e-8)``. The side of a mono mix is 0
       and reads ``ln(1e-8) = -18.4``, against about +7 for the side bands of a wide -23 LUFS
       signal at 44.1 kHz, so a mono mix scores about ``0.05 * 26**2 = 33`` on this term alone
       (the size of their equal-loudness baseline's published 33.4: that baseline is a mono
       sum) and the term stops saying anything about tonal balance. Ours is
       ``ln(B_side + 1e-8 + eps_b)`` with, per band ``b``, ``eps_b = 10**(side_floor_db / 20)``
       times the normalised *reference's* mid magnitude ``B_mid_ref[b]``, the same ``eps_b``
       for both signals. Side content more than 60 dB below the reference's mid in a band
       counts as silence; mono against mono is exactly 0; mono against wide is at most about
       ``(ln(B_side_ref[b] / B_mid_ref[b]) + 6.9)**2`` per band. On ordinary stereo material
       (side within 60 dB of mid) the term is Diff-MST's to within a fraction of a percent.
       ``side_floor_db=None`` restores theirs exactly.
    2. **Loudness.** Both signals are normalised to the same loudness. Their evaluation script
       (``scripts/eval_generate.py``) normalises only the reference (to -16 LUFS) and scores
       the predicted mix at whatever level the console produced; ``target_lufs=None`` skips
       normalisation so the caller can reproduce that.
    3. **Mono input** is accepted (as L = R); their width feature asserts two channels.
    4. **Framing.** numpy replaces torch: ``torch.stft`` with ``center=True`` and reflect
       padding, reproduced (also for inputs shorter than half a frame, where torch refuses).

    Kept on purpose: their ``L + R`` / ``L - R`` scaling, natural logs, the 1e-8 clamps, and
    their Bark filterbank including the quirk that leaves band edges above 20.1 Bark
    un-corrected (see ``_bark_to_hz_as_diffmst``), so that values match theirs.

    Parameters
    ----------
    mix, ref : numpy.ndarray
        Float samples shaped ``(channels, samples)`` (1 or 2 channels) or 1-D mono.
    sample_rate : float
        Sample rate of both, Hz (Diff-MST used 44.1 kHz; the FFT size stays 32768 at any rate).
    target_lufs : float or None
        Common loudness, LUFS; None compares the signals at their own levels.
    side_floor_db : float or None
        Side-spectrum floor relative to the reference's mid Bark magnitude in each band, dB;
        None for Diff-MST's plain 1e-8.

    Returns
    -------
    dict of str to float or None
        ``af_rms``, ``af_crest``, ``af_width``, ``af_imbalance``, ``af_bark``, ``af_bark_mid``,
        ``af_bark_side``, ``af_total`` (dimensionless weighted losses, lower is better, 0 for
        identical signals). All None when a loudness needed for normalisation is undefined.
    """
    rate = check_sample_rate(sample_rate)
    x, y = _stereo(mix), _stereo(ref)
    results = _af_metric(
        _af_raw(x, rate),
        _af_raw(y, rate),
        _loudness_of(x, rate, "mix"),
        _loudness_of(y, rate, "reference"),
        target_lufs,
        side_floor_db,
    )
    return {key: _explain(key, result) for key, result in results.items()}


# --------------------------------------------------------------------------- parameters


def _section_value(values: Mapping[str, Any], name: str, default: Any, where: str) -> float | None:
    value = values.get(name, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise InvalidParameterError(f"{where}: {name}={value!r} is not a finite number")
    return float(value)


def _section_errors(pred: Mapping[str, Any], truth: Mapping[str, Any], section: str, where: str) -> dict[str, Any]:
    table = params_for(section)
    get_p = functools.partial(_section_value, pred, where=f"predicted {where}")
    get_t = functools.partial(_section_value, truth, where=f"true {where}")
    eq = []
    for band, *_ in EQ_BANDS:
        name = f"eq_{band}_db"
        p, t = get_p(name, table[name].default), get_t(name, table[name].default)
        if p is not None and t is not None and (p != 0.0 or t != 0.0):
            eq.append(abs(p - t))
    p_ratio = get_p("comp_ratio", table["comp_ratio"].default)
    t_ratio = get_t("comp_ratio", table["comp_ratio"].default)
    ratio = None
    if p_ratio is not None and t_ratio is not None and (p_ratio != 1.0 or t_ratio != 1.0):
        if p_ratio <= 0.0 or t_ratio <= 0.0:
            raise InvalidParameterError(f"{where}: comp_ratio must be positive (got {p_ratio:g} and {t_ratio:g})")
        ratio = abs(math.log2(p_ratio) - math.log2(t_ratio))
    return {"eq": eq, "ratio": ratio}


def _mean_or_none(values: Sequence[float]) -> float | None:
    return float(np.mean(values)) if len(values) else None


def parameter_error(pred_params: Mapping[str, Any], truth_params: Mapping[str, Any]) -> dict[str, Any]:
    """How far predicted console settings are from the true ones, in the parameters' units.

    Both arguments are shaped like :meth:`mixassist.console.params.MixParams.to_dict`
    (``{"tracks": {name: {param: value}}, "master": {...}, ...}``); a missing parameter takes
    its neutral default from :mod:`mixassist.console.schema`. Tracks present in both are
    compared.

    * **Gain** (``gain_db``): mean absolute error, dB, both as is (``gain_error_db``) and after
      removing the mean offset across tracks (``gain_error_relative_db``): a mix whose faders
      are all 3 dB low sounds the same after loudness normalisation, so the relative error is
      the one that judges the balance. ``gain_offset_db`` is that mean signed offset.
    * **Pan**: mean absolute difference, pan units (-1 ... 1; 2 is hard left against hard right).
    * **EQ gains** (``eq_*_db`` of the six bands): mean absolute error, dB, over the
      (track, band) pairs where the truth or the prediction is non-zero (a flat band matched by
      a flat band is not counted); frequencies and Qs are not compared.
    * **Compressor ratio**: mean ``|log2(ratio_pred) - log2(ratio_true)|`` over the tracks where
      either ratio differs from 1 (off): 1.0 means a factor of 2 (e.g. 2:1 against 4:1).
    * The master bus's EQ gains and compressor ratio the same way (``master_*``).

    Parameters
    ----------
    pred_params, truth_params : mapping
        ``MixParams.to_dict()``-shaped dicts.

    Returns
    -------
    dict
        ``tracks_compared`` (int), ``tracks_missing`` (true tracks absent from the prediction)
        and ``tracks_extra`` (lists of str), ``gain_error_db``, ``gain_error_relative_db``,
        ``gain_offset_db``, ``pan_error``, ``eq_gain_error_db``, ``comp_ratio_error_log2``,
        ``master_eq_gain_error_db``, ``master_comp_ratio_error_log2`` (float, or None where
        nothing was compared) and ``per_track``: ``{track: {gain_error_db (signed, pred -
        truth), gain_error_relative_db (signed), pan_error (signed), eq_gain_error_db,
        comp_ratio_error_log2}}``. JSON-safe.

    Raises
    ------
    InvalidParameterError
        No track in common, or a value that is not a finite number.

    Examples
    --------
    >>> truth = {"tracks": {"vox": {"gain_db": -3.0}, "bass": {"gain_db": -6.0}}}
    >>> pred = {"tracks": {"vox": {"gain_db": -5.0}, "bass": {"gain_db": -8.0}}}
    >>> err = parameter_error(pred, truth)
    >>> err["gain_error_db"], err["gain_error_relative_db"], err["gain_offset_db"]
    (2.0, 0.0, -2.0)
    """
    try:
        pred_tracks = dict(pred_params.get("tracks", {}))
        truth_tracks = dict(truth_params.get("tracks", {}))
    except (AttributeError, TypeError, ValueError) as exc:
        raise InvalidParameterError(
            f"parameter_error takes MixParams.to_dict()-shaped mappings ({exc}); pass params.to_dict()"
        ) from exc
    names = [name for name in truth_tracks if name in pred_tracks]
    if not names:
        raise InvalidParameterError(f"no track in common: predicted {sorted(pred_tracks)}, true {sorted(truth_tracks)}")
    table = params_for("track")
    per_track: dict[str, dict[str, float | None]] = {}
    gain_diffs, pans, eqs, ratios = [], [], [], []
    for name in names:
        p, t = pred_tracks[name], truth_tracks[name]
        where = f"track '{name}'"
        p_gain = _section_value(p, "gain_db", table["gain_db"].default, f"predicted {where}")
        t_gain = _section_value(t, "gain_db", table["gain_db"].default, f"true {where}")
        p_pan = _section_value(p, "pan", table["pan"].default, f"predicted {where}")
        t_pan = _section_value(t, "pan", table["pan"].default, f"true {where}")
        section = _section_errors(p, t, "track", where)
        gain_diffs.append(p_gain - t_gain)  # type: ignore[operator]
        pans.append(p_pan - t_pan)  # type: ignore[operator]
        eqs += section["eq"]
        if section["ratio"] is not None:
            ratios.append(section["ratio"])
        per_track[name] = {
            "gain_error_db": float(p_gain - t_gain),  # type: ignore[operator]
            "pan_error": float(p_pan - t_pan),  # type: ignore[operator]
            "eq_gain_error_db": _mean_or_none(section["eq"]),
            "comp_ratio_error_log2": section["ratio"],
        }
    offset = float(np.mean(gain_diffs))
    for name, diff in zip(names, gain_diffs):
        per_track[name]["gain_error_relative_db"] = float(diff - offset)
    master = _section_errors(
        dict(pred_params.get("master") or {}), dict(truth_params.get("master") or {}), "master", "master bus"
    )
    return {
        "tracks_compared": len(names),
        "tracks_missing": sorted(set(truth_tracks) - set(pred_tracks)),
        "tracks_extra": sorted(set(pred_tracks) - set(truth_tracks)),
        "gain_error_db": float(np.mean(np.abs(gain_diffs))),
        "gain_error_relative_db": float(np.mean(np.abs(np.asarray(gain_diffs) - offset))),
        "gain_offset_db": offset,
        "pan_error": float(np.mean(np.abs(pans))),
        "eq_gain_error_db": _mean_or_none(eqs),
        "comp_ratio_error_log2": _mean_or_none(ratios),
        "master_eq_gain_error_db": _mean_or_none(master["eq"]),
        "master_comp_ratio_error_log2": master["ratio"],
        "per_track": per_track,
    }


# --------------------------------------------------------------------------- everything


def compare_with_reasons(
    mix: np.ndarray, ref: np.ndarray, sample_rate: float, *, target: np.ndarray | None = None
) -> tuple[dict[str, float | None], dict[str, str]]:
    """:func:`compare`, plus a short human reason for every value that is None.

    Returns
    -------
    values : dict of str to float or None
        As :func:`compare`.
    reasons : dict of str to str
        For each key whose value is None, why (e.g. ``"mix loudness undefined: mix is silent:
        below the -70 LUFS absolute gate"``).
    """
    rate = check_sample_rate(sample_rate)
    x, y = _stereo(mix), _stereo(ref)
    l_x, l_y = _loudness_of(x, rate, "mix"), _loudness_of(y, rate, "reference")
    spectra_x, spectra_y = _mid_side_spectra(x, rate), _mid_side_spectra(y, rate)
    bands_x, bands_y = _third_octave_powers(spectra_x, rate), _third_octave_powers(spectra_y, rate)
    width = _width_diff(_width_of(*_width_powers(spectra_x, rate)), _width_of(*_width_powers(spectra_y, rate)))
    results: dict[str, _Result] = {
        "loudness_error_lu": _loudness_error(l_x, l_y),
        "spectral_mid_db": _spectral_distance(bands_x["mid"], bands_y["mid"], l_x, l_y, rate, SPECTRAL_FLOOR_DB),
        "spectral_side_db": _spectral_distance(bands_x["side"], bands_y["side"], l_x, l_y, rate, SPECTRAL_FLOOR_DB),
        "width_error_db": (
            (None, width[1]) if width[0] is None else (float(np.mean(np.abs(list(width[0].values())))), None)
        ),
    }
    for band in WIDTH_BANDS_HZ:
        results[f"width_error_{band}_db"] = (None, width[1]) if width[0] is None else (width[0][band], None)
    tp_x = _true_peak_of(x, rate)
    results.update(_dynamics_results(x, y, rate, l_x, l_y, tp_x, _true_peak_of(y, rate)))
    results["true_peak_dbtp"] = tp_x
    if target is not None:
        results["mrstft"] = (mrstft_distance(mix, target, rate), "empty")
    results.update(_af_metric(_af_raw(x, rate), _af_raw(y, rate), l_x, l_y, NORMALISATION_LUFS, _AF_SIDE_FLOOR_DB))
    values: dict[str, float | None] = {}
    reasons: dict[str, str] = {}
    for key, (value, reason) in results.items():
        if value is None or not math.isfinite(value):
            values[key] = None
            reasons[key] = str(reason) if value is None else "not finite"
            logger.debug("%s is None: %s", key, reasons[key])
        else:
            values[key] = float(value) + 0.0  # + 0.0 turns -0.0 into 0.0
    return values, reasons


def compare(
    mix: np.ndarray, ref: np.ndarray, sample_rate: float, *, target: np.ndarray | None = None
) -> dict[str, float | None]:
    """Every metric of this module for one mix against one reference, in one flat dict.

    Parameters
    ----------
    mix : numpy.ndarray
        The mix to judge, ``(channels, samples)`` (1 or 2 channels) or 1-D mono.
    ref : numpy.ndarray
        The reference (any length; may be a different song in the wanted style).
    sample_rate : float
        Sample rate of all signals, Hz.
    target : numpy.ndarray, optional
        A sample-aligned target of the same song (same length as ``mix``); adds ``mrstft``.

    Returns
    -------
    dict of str to float or None
        Plain floats (or None where undefined; :func:`compare_with_reasons` says why), safe
        for ``json.dumps(..., allow_nan=False)``. Signed values are mix minus reference.

        ``loudness_error_lu``
            :func:`loudness_error_lu`, signed.
        ``spectral_mid_db``, ``spectral_side_db``
            :func:`spectral_balance_distance_db`, mean |dB| over third-octave bands.
        ``width_error_db``; ``width_error_low_db``, ``width_error_mid_db``, ``width_error_high_db``
            :func:`width_error_db` (mean |dB|); per band signed (:func:`width_error_bands_db`).
        ``plr_error_db``, ``crest_error_db``, ``st_spread_error_lu``
            :func:`dynamics_error`, signed.
        ``true_peak_dbtp``
            :func:`true_peak_dbtp` of the mix (not a difference).
        ``mrstft``
            :func:`mrstft_distance` to ``target``; only when ``target`` is given.
        ``af_total``, ``af_rms``, ``af_crest``, ``af_width``, ``af_imbalance``, ``af_bark``,
        ``af_bark_mid``, ``af_bark_side``
            :func:`diffmst_af_metric` with its defaults (-23 LUFS, side floor -60 dB).

    Examples
    --------
    >>> import json
    >>> import numpy as np
    >>> x = np.random.default_rng(0).standard_normal((2, 4 * 44100)) * 0.05
    >>> result = compare(x, x, 44100, target=x)
    >>> result["spectral_mid_db"], result["mrstft"], result["af_total"]
    (0.0, 0.0, 0.0)
    >>> _ = json.dumps(result, allow_nan=False)
    """
    return compare_with_reasons(mix, ref, sample_rate, target=target)[0]
