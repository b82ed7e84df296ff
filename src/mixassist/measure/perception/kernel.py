"""The fused numba kernel behind :func:`~mixassist.measure.perception.loudness_in_mix`.

Per frame (frames in parallel) and ear: the mix's level per ERB, the spreading matrix and the
mix's excitation and loudness in float64; every track's excitation as one float32 matrix product
(BLAS); then each track's solo and partial specific loudness in float32 with short log2/exp2
polynomials (relative error < 1e-6) that LLVM vectorises. Same formulas as the numpy reference in
:mod:`~mixassist.measure.perception.model`. fast-math is limited to reassociation, contraction,
reciprocal and signed-zero freedom: it lets the band sums and polynomials vectorise and use FMAs;
NaN/Inf semantics are kept.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numba import njit, prange

from mixassist.measure.bits import bits_f32, bits_f64, f32_bits, f64_bits
from mixassist.measure.perception.model import ABS_DEV, BAND, PL_PER_DB, PU, W_LEVEL, W_UPPER

__all__ = ["KERNEL_ARGS", "mix_kernel"]

_FAST = {"reassoc", "contract", "arcp", "nsz"}
_INLINE: dict[str, Any] = dict(inline="always", nogil=True, error_model="numpy", fastmath=_FAST)
_LN2 = math.log(2.0)
_LOG2E = 1.0 / _LN2
_DB_PER_LOG2 = 10.0 * math.log10(2.0)

# float64 (spreading, once per frame and ear)
_MANT64 = (1 << 52) - 1
_ONE64 = 1023 << 52


@njit(**_INLINE)
def _log2(x):
    """log2 of a positive normal float64 (abs. error < 1e-9); branch-free, so loops vectorise."""
    bits = f64_bits(x)
    m = bits_f64((bits & _MANT64) | _ONE64)  # mantissa in [1, 2)
    big = m > 1.4142135623730951
    e = float((bits >> 52) - 1023) + (1.0 if big else 0.0)
    m = m * (0.5 if big else 1.0)  # in [sqrt(1/2), sqrt(2)]
    z = (m - 1.0) / (m + 1.0)  # ln m = 2 atanh z, |z| <= 0.1716
    z2 = z * z
    q = 1.0 + z2 * (1.0 / 3.0 + z2 * (1.0 / 5.0 + z2 * (1.0 / 7.0 + z2 * (1.0 / 9.0 + z2 * (1.0 / 11.0)))))
    return e + 2.0 * _LOG2E * z * q


@njit(**_INLINE)
def _exp2(t):
    """2**t of a float64, t clamped to [-1000, 1000] (rel. error < 1e-12); branch-free."""
    t = min(max(t, -1000.0), 1000.0)
    n = np.floor(t + 0.5)
    r = (t - n) * _LN2  # |r| <= ln2 / 2
    q = 1.0 + r * (
        1.0
        + r
        * (
            1.0 / 2.0
            + r
            * (
                1.0 / 6.0
                + r
                * (
                    1.0 / 24.0
                    + r
                    * (
                        1.0 / 120.0
                        + r * (1.0 / 720.0 + r * (1.0 / 5040.0 + r * (1.0 / 40320.0 + r * (1.0 / 362880.0))))
                    )
                )
            )
        )
    )
    return q * bits_f64((np.int64(n) + 1023) << 52)


@njit(**_INLINE)
def _pow(x, a):
    """x**a, float64, positive normal x."""
    return _exp2(a * _log2(x))


# float32 (per track, band and frame). Every constant is a float32 so nothing is promoted.
_F = np.float32
_F0, _F1, _F2, _FHALF = _F(0.0), _F(1.0), _F(2.0), _F(0.5)
_F_SQRT2, _F_2LOG2E, _F_LN2 = _F(math.sqrt(2.0)), _F(2.0 / _LN2), _F(_LN2)
_F_C3, _F_C5, _F_C7, _F_C9 = _F(1 / 3), _F(1 / 5), _F(1 / 7), _F(1 / 9)
_F_E2, _F_E3, _F_E4, _F_E5, _F_E6, _F_E7 = _F(1 / 2), _F(1 / 6), _F(1 / 24), _F(1 / 120), _F(1 / 720), _F(1 / 5040)
_F_TMIN, _F_TMAX = _F(-126.0), _F(127.0)
_F_03 = _F(0.3)
_F_TINY = _F(1e-20)  # float32 powers/ratios below this are 0: no subnormal arithmetic
_I23, _I127 = np.int32(23), np.int32(127)
_MANT32, _ONE32 = np.int32((1 << 23) - 1), np.int32(127 << 23)


@njit(**_INLINE)
def _log2f(x):
    """log2 of a positive normal float32 (abs. error < 2e-7); branch-free."""
    bits = f32_bits(x)
    m = bits_f32((bits & _MANT32) | _ONE32)
    big = m > _F_SQRT2
    e = np.float32((bits >> _I23) - _I127) + (_F1 if big else _F0)
    m = m * (_FHALF if big else _F1)
    z = (m - _F1) / (m + _F1)
    z2 = z * z
    q = _F1 + z2 * (_F_C3 + z2 * (_F_C5 + z2 * (_F_C7 + z2 * _F_C9)))
    return e + _F_2LOG2E * z * q


@njit(**_INLINE)
def _exp2f(t):
    """2**t of a float32, t clamped to [-126, 127] (rel. error < 3e-7); branch-free."""
    t = min(max(t, _F_TMIN), _F_TMAX)
    n = np.floor(t + _FHALF)
    r = (t - n) * _F_LN2
    q = _F1 + r * (_F1 + r * (_F_E2 + r * (_F_E3 + r * (_F_E4 + r * (_F_E5 + r * (_F_E6 + r * _F_E7))))))
    return q * bits_f32(np.int32((np.int32(n) + _I127) << _I23))


@njit(**_INLINE)
def _powf(x, a):
    """x**a, float32, positive normal x (rel. error < 5e-7)."""
    return _exp2f(a * _log2f(x))


@njit(parallel=True, cache=True, nogil=True, error_model="numpy", fastmath=_FAST)
def mix_kernel(p, w_upper, w_level, abs_dev, c64, c32, solo, partial, mix):  # pragma: no cover - compiled
    """``p`` ``(tracks, ears, frames, bands)`` float64 → ``solo``/``partial`` ``(tracks, frames)`` and
    ``mix`` ``(frames,)``, accumulated over ears and bands, sone/Cam before C.

    Rows of ``c64``/``c32``: G, A, α, E_THRQ, K, A^α, (G E_THRQ + A)^α, p_u, dp_l/dB.
    """
    tracks, ears, frames, nb = p.shape
    for f in prange(frames):
        tot = np.empty(nb)
        level = np.empty(nb)
        w = np.empty((nb, nb))
        w32 = np.empty((nb, nb), dtype=np.float32)
        e_tot = np.empty(nb)
        fr32 = np.empty((2, nb), dtype=np.float32)  # E_mix, (G E_mix + A)^α
        own = np.empty((tracks, nb), dtype=np.float32)
        e_own = np.empty((tracks, nb), dtype=np.float32)
        active = np.empty(tracks, dtype=np.bool_)
        for ear in range(ears):
            for j in range(nb):
                tot[j] = 0.0
            for t in range(tracks):
                on = False
                for j in range(nb):
                    v = p[t, ear, f, j]
                    tot[j] += v
                    v32 = np.float32(v)
                    own[t, j] = v32 if v32 > _F_TINY else _F0
                    on = on or v32 > _F_TINY
                active[t] = on
            peak = 0.0
            for j in range(nb):
                peak = max(peak, tot[j])
            if peak <= 0.0:
                continue
            # Spreading matrix w[i, j] (ANSI S3.4-2007 §3.5): level per ERB at each band ...
            for i in range(nb):
                s = 0.0
                for kk in range(nb):
                    s += tot[kk] * w_level[kk, i]
                level[i] = _DB_PER_LOG2 * _log2(max(s, 1e-10)) - 51.0
            # ... sets the lower skirt of the filters above band i; the upper skirt is fixed.
            for i in range(nb):
                d = level[i]
                for j in range(i + 1):
                    w[i, j] = w_upper[i, j]
                for j in range(i + 1, nb):
                    pl = max(c64[7, j] - c64[8, j] * d, 0.1)
                    pg = min(pl * abs_dev[i, j], 40.0)
                    w[i, j] = (1.0 + pg) * _exp2(-pg * _LOG2E)
                for j in range(nb):
                    w32[i, j] = np.float32(w[i, j])
            for j in range(nb):
                e_tot[j] = 0.0
            for i in range(nb):
                ti = tot[i]
                for j in range(nb):
                    e_tot[j] += ti * w[i, j]
            m = 0.0
            for j in range(nb):  # the mix: MGB97 eq. 3
                et = e_tot[j]
                tt = _pow(et * c64[0, j] + c64[1, j], c64[2, j])
                r = min(2.0 * et / (et + c64[3, j]), 1.0)
                m += (tt - c64[5, j]) * r * math.sqrt(r)
            mix[f] += m
            np.dot(own, w32, e_own)
            # The mix's excitation again in float32, as the sum of the tracks' excitations: where
            # only one track excites a band, E_mix − E_track is then exactly 0 (no masker).
            for j in range(nb):
                fr32[0, j] = _F0
            for t in range(tracks):
                for j in range(nb):
                    fr32[0, j] += e_own[t, j]
            for j in range(nb):
                fr32[1, j] = _powf(fr32[0, j] * c32[0, j] + c32[1, j], c32[2, j])
            for t in range(tracks):
                if not active[t]:
                    continue
                s_solo = _F0
                s_part = _F0
                for j in range(nb):
                    es = e_own[t, j]
                    es = es if es > _F_TINY else _F0
                    g = c32[0, j]
                    a = c32[1, j]
                    al = c32[2, j]
                    eq = c32[3, j]
                    aa = c32[5, j]
                    ta = c32[6, j]
                    tt = fr32[1, j]
                    # solo: MGB97 eq. 3
                    r = min(_F2 * es / (es + eq), _F1)
                    r = r if r > _F_TINY else _F0
                    n_solo = (_powf(es * g + a, al) - aa) * r * math.sqrt(r)
                    s_solo += n_solo
                    # partial: MGB97 eqs. 17 (E_S >= E_THRN) and 18
                    en = max(fr32[0, j] - es, _F0)
                    ethrn = en * c32[4, j] + eq
                    t_thrn = _powf((en + ethrn) * g + a, al)
                    high = es >= ethrn
                    base = ethrn / max(es, _F_TINY) if high else en * g + a
                    rr = _powf(base, _F_03 if high else al)  # (E_THRN/E_S)^0.3 or (E_N G + A)^α
                    n_high = (tt - aa) - (t_thrn - ta) * rr
                    sv = _F2 * es / (es + ethrn)
                    sv = sv if sv > _F_TINY else _F0
                    n_low = sv * math.sqrt(sv) * (ta - aa) * (tt - rr) / (t_thrn - rr)
                    n_part = max(n_high if high else n_low, _F0)
                    s_part += n_part if en > _F0 else n_solo  # no masker: eqs. 17/18 reduce to eq. 3
                solo[t, f] += s_solo
                partial[t, f] += s_part


def _kernel_constants() -> np.ndarray:
    b = BAND
    rows = [b["g"], b["a"], b["alpha"], b["ethrq"], b["k"], b["a_alpha"], b["thr_alpha"], PU, PL_PER_DB]
    return np.ascontiguousarray(np.stack(rows))


_C64 = _kernel_constants()
# The model constants in the kernel's layout: mix_kernel(p, *KERNEL_ARGS, solo, partial, mix).
KERNEL_ARGS = (
    np.ascontiguousarray(W_UPPER),
    np.ascontiguousarray(W_LEVEL),
    np.ascontiguousarray(ABS_DEV),
    _C64,
    _C64.astype(np.float32),
)
