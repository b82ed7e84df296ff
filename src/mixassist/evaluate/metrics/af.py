"""Diff-MST's "AF" audio-production-style metric (Vanka et al., ISMIR 2024), finite on mono.

Their five features (RMS, crest factor, width, imbalance, Bark spectra of ``L + R`` and
``L - R``) and the weighted mean squared errors between a mix's and a reference's, after
loudness normalisation; :func:`diffmst_af_metric` says where this departs from theirs.
"""

from __future__ import annotations

import functools
import math
import types
from collections.abc import Mapping
from typing import TypedDict

import numpy as np

from mixassist.measure import (
    NORMALISATION_LUFS,
    Measured,
    as_stereo,
    centred_hann_window,
    check_sample_rate,
    explain,
    loudness_with_reason,
    stft_magnitudes,
)

__all__ = ["AF_SIDE_FLOOR_DB", "AF_WEIGHTS", "AfRaw", "af_raw", "af_terms", "diffmst_af_features", "diffmst_af_metric"]

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
AF_SIDE_FLOOR_DB = -60.0
"""Default side-spectrum floor of :func:`diffmst_af_metric`, dB below the reference's mid Bark magnitude."""


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
    window = centred_hann_window(_AF_N_FFT, _AF_N_FFT)
    total = np.zeros(_AF_N_FFT // 2 + 1)
    frames = 0
    for chunk in stft_magnitudes(signal, _AF_N_FFT, _AF_HOP, _AF_N_FFT, window):
        total += chunk.sum(axis=0)
        frames += chunk.shape[0]
    return total / max(frames, 1)


class AfRaw(TypedDict):
    """Gain-free statistics of one stereo signal (:func:`af_raw`)."""

    mean_square: np.ndarray  # (2,) L, R
    peak: np.ndarray  # (2,)
    sum_square: np.float64
    diff_square: np.float64
    bark_mid: np.ndarray  # (24,)
    bark_side: np.ndarray  # (24,)


def af_raw(x: np.ndarray, rate: float) -> AfRaw:
    """Gain-free statistics of stereo ``x`` from which the AF features at any gain follow exactly."""
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


def _af_features(raw: AfRaw, gain: float, side_eps: np.ndarray | float) -> dict[str, np.ndarray | np.float64]:
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


def _side_eps(raw_ref: AfRaw, gain_ref: float, side_floor_db: float | None) -> np.ndarray | float:
    """Per-band side floor: ``side_floor_db`` below the (normalised) reference's mid, Bark units."""
    if side_floor_db is None:
        return 0.0
    return 10.0 ** (side_floor_db / 20.0) * raw_ref["bark_mid"] * gain_ref


def _af_gain(loudness: Measured, target_lufs: float | None) -> float | None:
    if target_lufs is None:
        return 1.0
    if loudness[0] is None:
        return None
    return 10.0 ** ((target_lufs - loudness[0]) / 20.0)


_AF_KEYS = ("af_rms", "af_crest", "af_width", "af_imbalance", "af_bark", "af_bark_mid", "af_bark_side", "af_total")


def af_terms(
    raw_mix: AfRaw,
    raw_ref: AfRaw,
    l_mix: Measured,
    l_ref: Measured,
    target_lufs: float | None,
    side_floor_db: float | None,
) -> dict[str, Measured]:
    """The AF terms (``af_*`` keys) of two :func:`af_raw` statistics at their normalisation gains."""
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
) -> dict[str, np.ndarray | np.float64] | None:
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
    x = as_stereo(audio)
    gain = _af_gain(loudness_with_reason(x, rate), target_lufs)
    if gain is None:
        return explain("diffmst_af_features", (None, "loudness undefined: cannot normalise"))
    raw = af_raw(x, rate)
    return _af_features(raw, gain, _side_eps(raw, gain, side_floor_db))


def diffmst_af_metric(
    mix: np.ndarray,
    ref: np.ndarray,
    sample_rate: float,
    *,
    target_lufs: float | None = NORMALISATION_LUFS,
    side_floor_db: float | None = AF_SIDE_FLOOR_DB,
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
    x, y = as_stereo(mix), as_stereo(ref)
    results = af_terms(
        af_raw(x, rate),
        af_raw(y, rate),
        loudness_with_reason(x, rate, "mix"),
        loudness_with_reason(y, rate, "reference"),
        target_lufs,
        side_floor_db,
    )
    return {key: explain(key, result) for key, result in results.items()}
