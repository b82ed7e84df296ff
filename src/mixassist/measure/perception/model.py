"""The Moore–Glasberg–Baer (1997) loudness model: per-band constants, roex spreading, specific and
partial loudness, with the constants of ANSI S3.4-2007.

The constants below (:data:`BAND`, the filter-shape arrays and :data:`BAND_SCALE`) are the one
definition of the model that both implementations read: the numpy reference and numba kernel of
:mod:`mixassist.measure.perception` and the torch twin :mod:`mixassist.measure.loudness_model`.
"""

from __future__ import annotations

import numpy as np

from mixassist.errors import InvalidParameterError
from mixassist.measure.perception.erb import (
    CAM_STEP,
    CAMS,
    CENTRES_HZ,
    ERB_BANDS,
    cam_to_hz,
    ear_transfer_db,
    erb_hz,
    hz_to_cam,
)

__all__ = [
    "ABS_DEV",
    "BAND",
    "BAND_SCALE",
    "LOUDNESS_C",
    "LOWER",
    "PL_PER_DB",
    "PU",
    "W_LEVEL",
    "W_UPPER",
    "excitation_pattern",
    "partial_loudness",
    "sone_to_phon",
    "specific_loudness",
]

# ------------------------------------------------------------- loudness model constants

_C_ANSI = 0.046871  # ANSI S3.4-2007 (its 0.1-Cam grid): diotic 40 dB SPL at 1 kHz = 1 sone
_ETHRQ_HIGH_DB = 3.73  # excitation at absolute threshold, >= 500 Hz (ANSI S3.4-2007)
# Excitation at threshold below 500 Hz (ANSI S3.4-2007): the cochlear amplifier's gain falls.
_ETHRQ_HZ = np.array([50, 63, 80, 100, 125, 160, 200, 250, 315, 400, 500], float)
_ETHRQ_DB = np.array([28.18, 23.90, 19.20, 15.68, 12.67, 10.09, 8.08, 6.30, 5.30, 4.50, 3.73])
# alpha and A against the low-frequency gain G (dB re 500 Hz), ANSI S3.4-2007, sampled every
# 5 dB; G = 0 gives alpha = 0.2 and A = 2 E_THRQ = 4.72.
_G_DB = np.array([-25.0, -20.0, -15.0, -10.0, -5.0, 0.0])
_ALPHA_OF_G = np.array([0.2668, 0.2507, 0.2360, 0.2226, 0.2107, 0.2000])
_A_OF_G = np.array([9.003, 7.716, 6.766, 5.922, 5.250, 4.721])
# K (dB): signal-to-masker ratio at the output of the auditory filter at masked threshold,
# MGB97 (their fig. 9); -3 dB from 1 kHz up.
_K_HZ = np.array([50, 63, 80, 100, 125, 160, 200, 250, 315, 400, 500, 630, 800, 1000], float)
_K_DB = np.array([13.5, 10.0, 7.1, 4.9, 3.1, 1.5, 0.4, -0.5, -1.3, -1.9, -2.3, -2.7, -2.9, -3.0])


def _band_constants() -> dict[str, np.ndarray]:
    logf = np.log10(np.clip(CENTRES_HZ, 50.0, None))
    ethrq_db = np.interp(logf, np.log10(_ETHRQ_HZ), _ETHRQ_DB)  # 3.73 dB held above 500 Hz
    g_db = _ETHRQ_HIGH_DB - ethrq_db
    alpha = np.interp(g_db, _G_DB, _ALPHA_OF_G)
    a = np.interp(g_db, _G_DB, _A_OF_G)
    ethrq = 10.0 ** (ethrq_db / 10.0)
    g = 10.0 ** (g_db / 10.0)
    return {
        "ethrq": ethrq,
        "g": g,
        "alpha": alpha,
        "a": a,
        "k": 10.0 ** (np.interp(logf, np.log10(_K_HZ), _K_DB) / 10.0),
        "a_alpha": a**alpha,  # A^alpha
        "thr_alpha": (ethrq * g + a) ** alpha,  # (G E_THRQ + A)^alpha
    }


BAND = _band_constants()
"""Per-band model constants (arrays over the bands): ``g`` (G), ``a`` (A), ``alpha`` (α), ``ethrq``
(E_THRQ), ``k`` (K), ``a_alpha`` (A^α) and ``thr_alpha`` ((G E_THRQ + A)^α), ANSI S3.4-2007 / MGB97."""

# ----------------------------------------------------------------- auditory-filter shapes

_P51_1K = 4.0 * 1000.0 / float(erb_hz(1000.0))  # roex p of the 1-kHz filter at 51 dB/ERB
PU = 4.0 * CENTRES_HZ / erb_hz(CENTRES_HZ)
"""Upper-skirt roex p of each band's auditory filter, ``4 f / ERB(f)``, level independent."""
PL_PER_DB = 0.35 * PU / _P51_1K
"""Fall of each filter's lower-skirt roex p per dB of level per ERB above 51 dB (ANSI §3.5)."""
_P_MIN = 0.1  # ANSI floor on the lower-skirt p at very high levels
_PG_MAX = 40.0  # (1 + pg) exp(-pg) < 2e-16 beyond: cut there (no subnormal arithmetic)


def _roex(p: np.ndarray, g: np.ndarray) -> np.ndarray:
    """Rounded exponential filter weight ``(1 + p g) exp(-p g)`` for ``g >= 0``, with ``p g <= 40``."""
    pg = np.minimum(p * g, _PG_MAX)
    return (1.0 + pg) * np.exp(-pg)


# _DEV[i, j]: deviation of band i from the centre of filter j, relative to the filter centre.
_DEV = (CENTRES_HZ[:, None] - CENTRES_HZ[None, :]) / CENTRES_HZ[None, :]
LOWER = _DEV < 0.0
"""``LOWER[i, j]``: band i lies below filter j's centre (on its level-dependent lower skirt)."""
ABS_DEV = np.abs(_DEV)
"""``ABS_DEV[i, j]``: ``|f_i − f_j| / f_j``, the roex g of band i in filter j."""
W_UPPER = np.where(LOWER, 0.0, _roex(PU[None, :], np.maximum(_DEV, 0.0)))
"""``W_UPPER[i, j]``: the fixed upper-skirt weight of band i in filter j (0 on the lower skirt)."""
# Level per ERB at band i (ANSI §3.5): power through a level-independent roex centred on i.
W_LEVEL = _roex(PU[None, :], ABS_DEV)  # [k, i]
"""``W_LEVEL[k, i]``: weight of band k in the level per ERB at band i."""


def _check_bands(array: np.ndarray, name: str) -> None:
    if array.ndim < 1 or array.shape[-1] != ERB_BANDS:
        raise InvalidParameterError(f"{name} has shape {array.shape}; its last axis must be the {ERB_BANDS} bands")


def _spreading(shape_powers: np.ndarray) -> np.ndarray:
    """Spreading matrices ``W[..., i, j]``: excitation at band j per unit power in band i.

    Lower skirt of filter j (bands i below its centre): ANSI S3.4-2007 §3.5
    ``p_l = p_u(j) − 0.35 p_u(j) / p_51,1k · (X_i − 51)``, floored at 0.1, with ``X_i`` the
    level per ERB (dB) at band i of ``shape_powers``; upper skirt ``p_u = 4 f_j / ERB(f_j)``.
    """
    level = np.asarray(shape_powers, dtype=np.float64) @ W_LEVEL
    level_db = 10.0 * np.log10(np.maximum(level, 1e-10))
    p_low = np.maximum(PU - PL_PER_DB * (level_db[..., :, None] - 51.0), _P_MIN)
    return np.where(LOWER, _roex(p_low, ABS_DEV), W_UPPER)


def excitation_pattern(band_powers: np.ndarray, *, shape_powers: np.ndarray | None = None) -> np.ndarray:
    """Excitation per band: band powers spread by level-dependent roex auditory filters.

    ``E_j = sum_i P_i W_ij`` with ``W`` the roex(p) filter of ANSI S3.4-2007 §3.5 centred on
    band j, evaluated at band i: ``W = (1 + p g) exp(-p g)``, ``g = |f_i − f_j| / f_j``. The
    lower skirt's ``p`` falls as the level per ERB at band i rises (more upward spread of
    masking at high levels); the upper skirt is fixed.

    Parameters
    ----------
    band_powers : numpy.ndarray
        ``(..., bands)`` band powers from :func:`band_powers` (one ear), non-negative.
    shape_powers : numpy.ndarray, optional
        Band powers that set the filter shapes (default ``band_powers``), broadcastable to
        ``band_powers``. In a mix the filters are set by the whole mix, so the excitations of
        several sources add; pass the mix here.

    Returns
    -------
    numpy.ndarray
        ``(..., bands)`` float64 excitation, intensity re 0 dB SPL.

    Examples
    --------
    >>> p = np.zeros(ERB_BANDS); p[10] = 1e8                       # an 80-dB band at 525 Hz
    >>> e = 10 * np.log10(excitation_pattern(p)[[8, 12]])      # 2 bands below and above
    >>> bool(e[1] > e[0])                                      # upward spread is wider
    True
    """
    p = np.maximum(np.asarray(band_powers, dtype=np.float64), 0.0)
    _check_bands(p, "band_powers")
    shape = p if shape_powers is None else np.broadcast_to(np.asarray(shape_powers, dtype=np.float64), p.shape)
    return np.matmul(p[..., None, :], _spreading(shape))[..., 0, :]


# ----------------------------------------------------------------- specific loudness


def _specific(e: np.ndarray) -> np.ndarray:
    """MGB97 eq. (3) with the ANSI low-level factor, sone/Cam (before C)."""
    b = BAND
    n = (e * b["g"] + b["a"]) ** b["alpha"] - b["a_alpha"]
    r = np.minimum(2.0 * e / (e + b["ethrq"]), 1.0)  # >= 1 exactly when E >= E_THRQ
    return n * r * np.sqrt(r)


def _ideal_tone_loudness(freq_hz: float, level_db: float, c: float) -> float:
    """Monaural loudness of a pure tone whose power falls on the band grid as band_powers puts it."""
    tri = np.maximum(0.0, 1.0 - np.abs(float(hz_to_cam(freq_hz)) - CAMS) / CAM_STEP)
    power = tri * 10.0 ** ((level_db + float(ear_transfer_db(freq_hz))) / 10.0)
    return float(c * CAM_STEP * _specific(excitation_pattern(power)).sum())


def _calibrated_c() -> float:
    # ANSI's C makes a diotic 40-dB 1-kHz tone 1 sone on its fine grid. Our 1-ERB bands make a
    # tone's excitation slightly broader (louder, with a ±7 % ripple over its position between
    # band centres), so C is rescaled to give 1 sone on average over one band spacing at 1 kHz.
    cams = float(hz_to_cam(1000.0)) + CAM_STEP * (np.arange(32) + 0.5) / 32 - CAM_STEP / 2
    mean = np.mean([2.0 * _ideal_tone_loudness(float(cam_to_hz(c)), 40.0, _C_ANSI) for c in cams])
    return _C_ANSI / float(mean)


LOUDNESS_C = _calibrated_c()
"""Specific-loudness constant C (sone/Cam): ANSI S3.4-2007's 0.046871 rescaled for the 1-ERB band
grid so that a diotic 1-kHz tone at 40 dB SPL is 1 sone (binaural = sum of the two ears)."""
BAND_SCALE = LOUDNESS_C * CAM_STEP
"""C × CAM_STEP: turns the model's specific loudness before C (per Cam) into sone per band."""


def specific_loudness(excitation: np.ndarray) -> np.ndarray:
    """Specific loudness per band of an excitation pattern, sone per band (one ear).

    MGB97 eq. (3) with the ANSI S3.4-2007 low-level factor::

        N' = C [(G E + A)^α − A^α]                              E >= E_THRQ
        N' = C (2E / (E + E_THRQ))^1.5 [(G E + A)^α − A^α]       E <  E_THRQ

    with C = :data:`LOUDNESS_C`, E_THRQ = 3.73 dB above 500 Hz (rising to 28 dB at 50 Hz),
    G = E_THRQ(500 Hz) / E_THRQ(f) the low-frequency cochlear gain, α = 0.2 and A = 4.72
    above 500 Hz (α up to 0.267 and A up to 9.0 at 50 Hz), then multiplied by
    :data:`CAM_STEP` so that the sum over bands is the loudness in sone.

    Parameters
    ----------
    excitation : numpy.ndarray
        ``(..., bands)`` excitation from :func:`excitation_pattern`, non-negative.

    Returns
    -------
    numpy.ndarray
        ``(..., bands)`` float64, sone; exactly 0 where the excitation is 0.

    Examples
    --------
    >>> e = np.zeros(ERB_BANDS); e[15] = 1e4        # a 40-dB excitation at 1.05 kHz
    >>> round(float(specific_loudness(e)[15] / CAM_STEP / LOUDNESS_C), 2)   # (1e4 + 4.72)^0.2 - 4.72^0.2
    4.95
    """
    e = np.maximum(np.asarray(excitation, dtype=np.float64), 0.0)
    _check_bands(e, "excitation")
    return BAND_SCALE * _specific(e)


def _partial(e_sig: np.ndarray, e_noise: np.ndarray) -> np.ndarray:
    """MGB97 eqs. (17)/(18), sone/Cam before C."""
    b = BAND
    g, a, alpha = b["g"], b["a"], b["alpha"]
    ethrn = e_noise * b["k"] + b["ethrq"]  # E_THRN = K E_NOISE + E_THRQ
    t_tot = ((e_sig + e_noise) * g + a) ** alpha
    t_thrn = ((e_noise + ethrn) * g + a) ** alpha  # [(E_NOISE (1 + K) + E_THRQ) G + A]^α
    t_noise = (e_noise * g + a) ** alpha
    high = e_sig >= ethrn
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(high, ethrn / np.where(high, e_sig, 1.0), 0.0) ** 0.3
    n_high = (t_tot - b["a_alpha"]) - (t_thrn - b["thr_alpha"]) * ratio
    s = 2.0 * e_sig / (e_sig + ethrn)
    n_low = s * np.sqrt(s) * (b["thr_alpha"] - b["a_alpha"]) * (t_tot - t_noise) / (t_thrn - t_noise)
    return np.maximum(np.where(high, n_high, n_low), 0.0)


def partial_loudness(signal: np.ndarray, masker: np.ndarray) -> np.ndarray:
    """Partial loudness per frame of ``signal`` heard in the presence of ``masker`` (one ear), sone.

    Both are band powers at the same ear. Their excitation patterns are computed with the
    auditory-filter shapes set by ``signal + masker`` (:func:`excitation_pattern`), then MGB97
    eqs. (17)–(18) give the signal's specific partial loudness::

        E_THRN = K E_N + E_THRQ                  (masked threshold; K = −3 dB from 1 kHz up)
        E_S >= E_THRN:  N' = C{[(E_S + E_N)G + A]^α − A^α}
                             − C{[(E_N(1 + K) + E_THRQ)G + A]^α − (E_THRQ G + A)^α} (E_THRN/E_S)^0.3
        E_S <  E_THRN:  N' = C (2E_S/(E_S + E_THRN))^1.5
                             · [(E_THRQ G + A)^α − A^α] / {[(E_N(1 + K) + E_THRQ)G + A]^α − (E_N G + A)^α}
                             · {[(E_S + E_N)G + A]^α − (E_N G + A)^α}

    This form, not the loudness increment ``N'(s + m) − N'(m)``, is used because MGB97 fitted
    it to masked-threshold and partial-loudness data: the increment form grossly underrates a
    signal well above its masked threshold (two equal excitations would leave each only 15 %
    of its solo loudness). Without a masker both branches reduce exactly to
    :func:`specific_loudness`, and they join continuously at ``E_S = E_THRN``.

    Parameters
    ----------
    signal, masker : numpy.ndarray
        ``(..., frames, bands)`` band powers (:func:`band_powers` of each, at one ear),
        broadcastable to each other.

    Returns
    -------
    numpy.ndarray
        ``(..., frames)`` float64, sone.

    Examples
    --------
    >>> s = np.zeros((1, ERB_BANDS)); s[0, 15] = 1e6            # a 60-dB band at 1.05 kHz
    >>> alone = partial_loudness(s, np.zeros_like(s))[0]
    >>> masked = partial_loudness(s, np.full_like(s, 1e6))[0]    # a 60-dB-per-band noise
    >>> bool(0.0 < masked < 0.5 * alone)
    True
    """
    sig = np.maximum(np.asarray(signal, dtype=np.float64), 0.0)
    mask = np.maximum(np.asarray(masker, dtype=np.float64), 0.0)
    _check_bands(sig, "signal")
    _check_bands(mask, "masker")
    sig, mask = np.broadcast_arrays(sig, mask)
    w = _spreading(sig + mask)
    e_sig = np.matmul(sig[..., None, :], w)[..., 0, :]
    e_noise = np.matmul(mask[..., None, :], w)[..., 0, :]
    return BAND_SCALE * _partial(e_sig, e_noise).sum(-1)


def sone_to_phon(loudness_sone: np.ndarray | float) -> np.ndarray:
    """Loudness level in phon: ``40 + 10 log2(N)`` from 1 sone up, ``40 (N + 0.0005)^0.35`` below.

    The low-level branch is ISO 532-1:2017's; it joins the power law at 1 sone and stays
    finite at 0 (≈ 2.8 phon; anything under ~3 phon is inaudible). Never ``-inf``/``NaN`` for
    non-negative input.

    Examples
    --------
    >>> sone_to_phon([0.0, 1.0, 2.0]).round(1).tolist()
    [2.8, 40.0, 50.0]
    """
    n = np.maximum(np.asarray(loudness_sone, dtype=np.float64), 0.0)
    return np.where(n >= 1.0, 40.0 + 10.0 * np.log2(np.maximum(n, 1.0)), 40.0 * (n + 0.0005) ** 0.35)
