"""Level-independent style features of a stereo mix, differentiable in torch.

One set of definitions, two ways to run them:

* :func:`style_features_torch` takes short excerpts ``(..., channels, samples)`` as torch tensors
  and returns differentiable tensors (used by an optimiser that renders the console and compares
  the result with a target);
* :func:`style_features` takes a whole song as a numpy array and returns a :class:`StyleFeatures`
  of plain numbers, without gradients and in bounded memory (the song is read in blocks of
  ``block_samples`` and only additive statistics are kept).

Both run the same code: every block is reduced to sums (K-weighted energies at a fixed set of
sample positions, Welch band powers, sum of squares, peak) and the features are computed from
those sums by one function. Block processing equals one-shot processing to rounding error.

Definitions
-----------
Mid and side
    ``M = (L + R) / 2``, ``S = (L - R) / 2``. A one-channel signal is read as ``L = R``, so its
    side is silence and its loudness is that of the stereo copy (as in
    :mod:`mixassist.evaluate.metrics`).
``loudness_lufs``
    Integrated loudness, ITU-R BS.1770-4, gated exactly as
    :func:`mixassist.measure.integrated_loudness` (pyloudnorm's 400 ms blocks at 100 ms steps,
    -70 LUFS absolute gate, -10 LU relative gate). K-weighting uses the meter's biquads, applied
    by overlap-save FFT convolution with their exact frequency response (the impulse response is
    below 1e-16 of its peak after 0.16 s; the overlap is at least 0.2 s), so the figure equals the
    meter's to about 1e-9 LU. The gates are masks computed without gradient; the loudness is
    differentiable through the energies of the blocks that pass them.
``spectral_mid_db``, ``spectral_side_db``
    Long-term power spectra of M and S in the 27 third-octave bands 40 Hz ... 16 kHz
    (:data:`THIRD_OCTAVE_CENTRES_HZ`, edges ``centre * 2**(±1/6)``; bands whose upper edge lies
    above the Nyquist frequency are left out), Welch-averaged over every 8192-sample periodic-Hann
    segment at 50 % overlap (as ``scipy.signal.welch`` and the evaluation metrics), each FFT bin
    counted with the fraction of its width inside the band. In dB **relative to the total mid
    power** ``P_M = sum_b M_b`` over those bands, with a soft floor:
    ``10 log10(X_b / P_M + 10**(SPECTRAL_FLOOR_DB / 10))``. The floor (-60 dB) keeps silence and
    mono side spectra finite (they read exactly -60) with finite gradients; it raises a band 20 dB
    above it by 0.04 dB and one 10 dB above it by 0.41 dB.
``width_db``
    Side-to-mid power ratio per band, ``10 log10((S_b + e M_b + e d) / (M_b + e S_b + d))`` with
    ``e = 10**(-WIDTH_LIMIT_DB / 10)`` (1e-6) and ``d = 1e-12 (P_M + P_S)``: a smooth clip to
    ±60 dB. No side (mono) reads -60 dB, no mid +60 dB, equal powers 0 dB; a band with no energy
    at all reads -60 dB. ``width_overall_db`` is the same ratio of the band sums.
``crest_db``
    Sample peak over RMS, every sample of both channels pooled:
    ``20 log10(max |x|) - 10 log10(mean x**2)``, equal to
    :func:`mixassist.evaluate.metrics.crest_db`. The *value* is exact. Its *gradient* is that of a
    soft peak: ``peak = P_p * stopgrad(max|x| / P_p)`` with the power mean
    ``P_p = (mean |x|**p)**(1/p)``, ``p =`` :data:`SOFT_PEAK_ORDER`. The gradient of
    ``log peak`` is thus the gradient of ``log P_p``, spread over the samples within a few dB of
    the peak instead of one sample, and still exactly scale-invariant (gain does not change the
    crest). A power mean alone would read 2.5-6 dB low on music at ``p = 32`` and still 0.1 dB
    low at ``p = 1024``, where its gradient is nearly the hard maximum's.
``short_term_spread_lu``
    Population standard deviation of the short-term loudness (3 s windows every 100 ms, EBU Tech
    3341, as :func:`mixassist.measure.short_term_loudness`) after the Tech 3342 gates
    (-70 LUFS absolute, then 20 LU below the power mean of what passed); at least 2 windows must
    pass. The same definition as :func:`mixassist.evaluate.metrics.short_term_spread_lu`.

A figure that does not exist is ``None`` in :class:`StyleFeatures`: loudness of silence or of
audio shorter than 400 ms, spectra of audio without mid energy, crest of all-zero audio, spread of
audio shorter than 3.2 s. The torch function returns a finite placeholder with zero gradient there
and a boolean ``*_defined`` tensor beside each such figure.

References
----------
ITU-R BS.1770-4; EBU Tech 3341 and 3342; IEC 61260 (third-octave bands); P. D. Welch, "The use of
fast Fourier transform for the estimation of power spectra", IEEE Trans. Audio Electroacoust.
15(2), 1967.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from mixassist.errors import InvalidAudioError, InvalidParameterError

# The meter's validation, so that the features refuse audio exactly as the meter does.
from mixassist.measure import THIRD_OCTAVE_CENTRES_HZ, WELCH_SEGMENT, WIDTH_LIMIT_DB, as_audio, check_sample_rate
from mixassist.style.blockstats import (
    SOFT_PEAK_ORDER,
    SPECTRAL_FLOOR_DB,
    block_stats,
    features_from_stats,
    k_fft_size,
    make_plan,
)
from mixassist.style.distance import DEFAULT_WEIGHTS, DISTANCE_TERMS, style_distance
from mixassist.style.result import DEFINED_FLAGS, StyleFeatures

__all__ = [
    "DEFAULT_BLOCK_SAMPLES",
    "DEFAULT_WEIGHTS",
    "DEFINED_FLAGS",
    "DISTANCE_TERMS",
    "SOFT_PEAK_ORDER",
    "SPECTRAL_FLOOR_DB",
    "THIRD_OCTAVE_CENTRES_HZ",
    "WELCH_SEGMENT",
    "WIDTH_LIMIT_DB",
    "StyleFeatures",
    "style_distance",
    "style_features",
    "style_features_torch",
]

DEFAULT_BLOCK_SAMPLES = 917504
"""Samples per block of :func:`style_features`: about 21 s at 44.1 kHz (8 whole K-weighting FFT
pieces at 44.1 and 48 kHz)."""


# --------------------------------------------------------------------------- public API


def _check_block(block_samples: Any, step: int) -> int:
    if isinstance(block_samples, bool) or not isinstance(block_samples, (int, np.integer)) or block_samples < 1:
        raise InvalidParameterError(f"block_samples={block_samples!r}; pass a positive number of samples, e.g. 917504")
    return -(-int(block_samples) // step) * step


def style_features_torch(audio: torch.Tensor, sample_rate: float) -> dict[str, torch.Tensor]:
    """Differentiable style features of excerpts, in one block.

    Parameters
    ----------
    audio : torch.Tensor
        ``(..., channels, samples)`` with 1 or 2 channels (one channel is read as ``L = R``),
        float32 or float64, full scale ±1.0. Computed in float64 on the CPU; the results are
        float64 on the CPU (so gradients reach ``audio`` on any device).
    sample_rate : float
        Sample rate in Hz, 8000-384000.

    Returns
    -------
    dict of str to torch.Tensor
        With ``lead = audio.shape[:-2]`` and ``bands`` the third-octave bands below Nyquist:
        ``loudness_lufs`` ``lead``; ``spectral_mid_db``, ``spectral_side_db``, ``width_db``
        ``lead + (bands,)``; ``width_overall_db``, ``crest_db``, ``short_term_spread_lu``
        ``lead``; booleans ``loudness_defined``, ``spectral_defined``, ``width_defined``,
        ``crest_defined``, ``short_term_spread_defined`` ``lead``; and ``band_centres_hz``
        ``(bands,)``. Where a figure is undefined it holds a finite placeholder (loudness -200,
        crest and spread 0) with zero gradient. Definitions: :mod:`mixassist.style.features`.

    Raises
    ------
    InvalidAudioError
        Wrong shape or dtype, more than 2 channels, non-finite samples, or a sample rate outside
        8000-384000 Hz.

    Examples
    --------
    >>> x = (0.1 * torch.randn(1, 2, 4 * 44100)).requires_grad_()
    >>> f = style_features_torch(x, 44100)
    >>> f["spectral_mid_db"].shape, bool(f["loudness_defined"])
    (torch.Size([1, 27]), True)
    >>> f["spectral_mid_db"].mean().backward()
    """
    rate = check_sample_rate(sample_rate)
    if not isinstance(audio, torch.Tensor):
        raise InvalidAudioError(
            f"audio must be a torch.Tensor shaped (..., channels, samples), got {type(audio).__name__}; "
            "use style_features for numpy arrays"
        )
    if audio.dim() < 2 or audio.shape[-2] not in (1, 2):
        raise InvalidAudioError(
            f"audio has shape {tuple(audio.shape)}; expected (..., channels, samples) with 1 or 2 channels"
        )
    if audio.dtype not in (torch.float32, torch.float64):
        raise InvalidAudioError(f"audio has dtype {audio.dtype}; convert it to float32 or float64")
    if not bool(torch.isfinite(audio.detach()).all()):
        raise InvalidAudioError("audio has a non-finite sample; repair it (e.g. torch.nan_to_num) before measuring")
    lead, samples = audio.shape[:-2], audio.shape[-1]
    x = audio.to(device="cpu").reshape(-1, audio.shape[-2], samples)
    x = x.expand(-1, 2, -1) if x.shape[1] == 1 else x
    plan = make_plan(rate, samples)
    ctx = torch.nn.functional.pad(x, (plan.k_history, 0))
    stats = block_stats(ctx, 0, samples, plan)
    stats["cumulative"] = torch.cat([stats["cumulative"].new_zeros((x.shape[0], 1)), stats["cumulative"]], dim=-1)
    out = features_from_stats(stats, plan)
    result = {key: value.reshape(tuple(lead) + tuple(value.shape[1:])) for key, value in out.items()}
    result["band_centres_hz"] = torch.from_numpy(THIRD_OCTAVE_CENTRES_HZ[plan.bands].copy())
    return result


def style_features(
    audio: np.ndarray, sample_rate: float, *, block_samples: int = DEFAULT_BLOCK_SAMPLES
) -> StyleFeatures:
    """Style features of a whole mix, without gradients, in bounded memory.

    The same definitions as :func:`style_features_torch` (see :mod:`mixassist.style.features`);
    the song is read in blocks and only additive statistics are kept, so memory does not grow
    with the song's length beyond the input itself and a few numbers per 100 ms.

    Parameters
    ----------
    audio : numpy.ndarray
        Float samples ``(channels, samples)`` with 1 or 2 channels (one channel is read as
        ``L = R``), or 1-D mono; full scale ±1.0.
    sample_rate : float
        Sample rate in Hz, 8000-384000.
    block_samples : int
        Samples per block, rounded up to a multiple of the Welch hop (4096). The result does not
        depend on it beyond float32 rounding (about 1e-6 dB).

    Returns
    -------
    StyleFeatures

    Raises
    ------
    InvalidAudioError, InvalidParameterError
        As :func:`mixassist.measure.integrated_loudness`, or for a bad ``block_samples``.

    Examples
    --------
    >>> import numpy as np
    >>> t = np.arange(5 * 48000) / 48000
    >>> sine = 0.5 * np.sin(2 * np.pi * 997 * t)
    >>> f = style_features(np.stack([sine, sine]), 48000)
    >>> round(f.crest_db, 2), float(f.spectral_side_db.max())
    (3.01, -60.0)
    """
    rate = check_sample_rate(sample_rate)
    x, _ = as_audio(audio)
    samples = x.shape[-1]
    plan = make_plan(rate, samples)
    block = _check_block(block_samples, plan.step)
    h = plan.k_history
    parts: dict[str, list[torch.Tensor]] = {"cumulative": [], "mid_band": [], "side_band": []}
    offset = torch.zeros(1, dtype=torch.float64)
    sum_square = torch.zeros(1, dtype=torch.float64)
    peak = torch.zeros(1, dtype=torch.float64)
    frames = torch.zeros((), dtype=torch.float64)
    n_fft = k_fft_size(h, block)
    with torch.no_grad():
        for start in range(0, max(samples, 1), block):
            stop = min(start + block, samples)
            # one float32 buffer per block: h samples of history (zeros before the song), the
            # block, and what the last Welch frames and the last K-weighting piece reach into
            pieces = max(1, -(-(stop - start) // (n_fft - h)))
            length = h + max(pieces * (n_fft - h), stop - start + plan.segment)
            lo, hi = max(start - h, 0), min(start - h + length, samples)
            buffer = np.zeros((x.shape[0], length), dtype=np.float32)
            buffer[:, lo - (start - h) : hi - (start - h)] = x[:, lo:hi]
            ctx = torch.from_numpy(buffer)[None]
            ctx = ctx.expand(-1, 2, -1) if ctx.shape[1] == 1 else ctx
            stats = block_stats(ctx, start, stop, plan)
            parts["cumulative"].append(offset[:, None] + stats["cumulative"])
            parts["mid_band"].append(stats["mid_band"])
            parts["side_band"].append(stats["side_band"])
            offset = offset + stats["energy"]
            sum_square = sum_square + stats["sum_square"]
            peak = torch.maximum(peak, stats["peak"])
            frames = frames + stats["frames"]
        total = {
            "cumulative": torch.cat([torch.zeros((1, 1), dtype=torch.float64), *parts["cumulative"]], dim=-1),
            "mid_band": torch.stack(parts["mid_band"]).sum(0),
            "side_band": torch.stack(parts["side_band"]).sum(0),
            "sum_square": sum_square,
            "peak": peak,
            "frames": frames,
        }
        out = features_from_stats(total, plan)

    def scalar(name: str) -> float | None:
        return float(out[name][0]) if bool(out[DEFINED_FLAGS[name]][0]) else None

    def banded(name: str) -> np.ndarray | None:
        if not bool(out[DEFINED_FLAGS[name]][0]):
            return None
        array = out[name][0].numpy().copy()
        array.flags.writeable = False
        return array

    centres = THIRD_OCTAVE_CENTRES_HZ[plan.bands].copy()
    centres.flags.writeable = False
    return StyleFeatures(
        loudness_lufs=scalar("loudness_lufs"),
        spectral_mid_db=banded("spectral_mid_db"),
        spectral_side_db=banded("spectral_side_db"),
        width_db=banded("width_db"),
        width_overall_db=scalar("width_overall_db"),
        crest_db=scalar("crest_db"),
        short_term_spread_lu=scalar("short_term_spread_lu"),
        band_centres_hz=centres,
    )
