"""The reverb bus: a seeded, frequency-dependent impulse response and FFT convolution.

:func:`reverb_ir` builds a deterministic, decorrelated stereo impulse response from seeded
noise with an RT60 per octave band (interpolated from three anchors, see docs/console-dsp.md);
:func:`fft_convolve` convolves a bus with it causally (overlap-add), the tail carried in a
state so that chunked rendering equals rendering whole.

References
----------
.. [1] M. R. Schroeder, "New method of measuring reverberation time", J. Acoust. Soc. Am.
   37(3), 1965 (the decay definition; the tests measure it the same way).
"""

from __future__ import annotations

import functools
import math

import numpy as np
import scipy.fft
import torch

from mixassist.console.dsp.arguments import parameter_sample_rate
from mixassist.console.dsp.spatial import DELAY_LATENCY, fractional_delay
from mixassist.errors import InvalidParameterError

__all__ = [
    "BAND_CENTRES_HZ",
    "DEFAULT_MAX_LENGTH_S",
    "band_rt60_s",
    "fft_convolve",
    "reverb_ir",
    "reverb_tail_samples",
]

#: Octave-band centres of the decay model (bands at or above Nyquist are left out).
BAND_CENTRES_HZ = tuple(1000.0 * 2.0**k for k in range(-4, 5))
#: Longest impulse response :func:`reverb_ir` makes unless told otherwise.
DEFAULT_MAX_LENGTH_S = 10.0
_LN_1000 = math.log(1000.0)  # amplitude exp(−ln 1000 · t/T) is −60 dB at t = T
_ANCHORS_HZ = (125.0, 1000.0, 8000.0)
_CROSSOVER_OCTAVES = 0.5  # width of each band-to-band crossover (cos²/sin² in log frequency)
_LENGTH_FACTOR = 1.2  # decay length = 1.2 × the longest RT60 (−72 dB)
_LENGTH_QUANTUM = 1024  # decay lengths are rounded up to this many samples
_FADE_IN_MS = 1.5
_FLATTEN_ROUNDS = 3  # envelope-flattening iterations on each band of noise
_FLATTEN_OVERSAMPLE = 2  # the flattening grid oversamples each band this many times
_MIN_NOISE_LENGTH = 1 << 14
_SEGMENT = 1 << 22  # input samples per overlap-add pass (bounds the memory of long inputs)
_MIN_FRAME_FFT = 1 << 12


# --------------------------------------------------------------------------- the decay model
def band_rt60_s(
    rt60_low_s: torch.Tensor | float,
    rt60_mid_s: torch.Tensor | float,
    rt60_high_s: torch.Tensor | float,
    freq_hz: tuple[float, ...] = BAND_CENTRES_HZ,
) -> torch.Tensor:
    """RT60 in seconds at each of ``freq_hz``, interpolated log-log between the anchors.

    ``rt60_low_s`` applies at 125 Hz and below, ``rt60_mid_s`` at 1 kHz, ``rt60_high_s`` at
    8 kHz and above; in between, ``log RT60`` is linear in ``log f``.  Differentiable.

    Examples
    --------
    >>> band_rt60_s(2.0, 1.0, 0.5, (62.5, 1000.0, 2000.0, 16000.0)).tolist()
    [2.0, 1.0, 0.7937005259840998, 0.5]
    """
    anchors = torch.stack([_as_tensor(v, torch.float64) for v in (rt60_low_s, rt60_mid_s, rt60_high_s)])
    weights = torch.tensor(_interp_weights(freq_hz), dtype=anchors.dtype)
    return torch.exp(weights @ torch.log(anchors))


def _interp_weights(freq_hz: tuple[float, ...]) -> list[list[float]]:
    """Rows of weights on (log low, log mid, log high) for each frequency."""
    u_anchor = [math.log2(f) for f in _ANCHORS_HZ]
    rows = []
    for f in freq_hz:
        u = min(max(math.log2(f), u_anchor[0]), u_anchor[2])
        if u <= u_anchor[1]:
            a = (u - u_anchor[0]) / (u_anchor[1] - u_anchor[0])
            rows.append([1.0 - a, a, 0.0])
        else:
            a = (u - u_anchor[1]) / (u_anchor[2] - u_anchor[1])
            rows.append([0.0, 1.0 - a, a])
    return rows


def _band_masks(n: int, sample_rate: int, centres: tuple[float, ...]) -> np.ndarray:
    """Zero-phase octave masks ``(bands, n // 2 + 1)`` on the ``rfft`` grid; they sum to one.

    Between adjacent centres the crossover is ``cos²``/``sin²`` in log frequency over
    ``_CROSSOVER_OCTAVES`` around their geometric mean; the lowest band extends to DC and the
    highest to Nyquist.
    """
    freq = np.fft.rfftfreq(n, 1.0 / sample_rate)
    u = np.log2(np.maximum(freq, 1e-12))
    masks = np.ones((len(centres), freq.size))
    for i in range(len(centres) - 1):
        edge = 0.5 * (math.log2(centres[i]) + math.log2(centres[i + 1]))
        a = np.clip((u - edge) / _CROSSOVER_OCTAVES + 0.5, 0.0, 1.0)
        upper = np.sin(0.5 * math.pi * a) ** 2
        masks[i] *= 1.0 - upper
        masks[i + 1] *= upper
    return masks


def _model_centres(sample_rate: int) -> tuple[float, ...]:
    """Centres of the bands the noise is split into: a sub band below the 62.5 Hz octave
    (so that octave has a lower edge too), then the octaves below Nyquist."""
    return (BAND_CENTRES_HZ[0] / 2, *(f for f in BAND_CENTRES_HZ if f < sample_rate / 2))


@functools.lru_cache(maxsize=8)
def _band_noise(seed: int, sample_rate: int, n: int, dtype: torch.dtype) -> torch.Tensor:
    """Seeded stereo noise split into bands: ``(bands, 2, n)``, one band per :func:`_model_centres`.

    Each band starts as the noise through its zero-phase mask (the masks sum to one); then
    its envelope is made flat by ``_FLATTEN_ROUNDS`` rounds of "divide the analytic signal by
    its magnitude, re-apply the mask" (crest-factor reduction), and its power is set to the
    expected power of masked unit white noise.  Without this, the Rayleigh-distributed
    envelope of a narrow band makes the decay of one realisation wander (±25 % in the
    63 Hz octave for a 1 s RT60, see the tests); with it the bands are still confined to their
    masks and add up to a spectrally flat noise, and each decays as its envelope says.

    Cached: an optimiser that changes the RT60s calls :func:`reverb_ir` many times with the
    same seed and rate, and only the cheap envelopes are recomputed.  Filtering is circular
    (the noise is stationary, so the wrap-around is invisible).
    """
    centres = _model_centres(sample_rate)
    rng = np.random.default_rng(seed)
    n_bins = n // 2 + 1
    # White noise, drawn directly as its spectrum (independent complex Gaussian bins).
    spec = (rng.standard_normal((2, n_bins)) + 1j * rng.standard_normal((2, n_bins))).astype(np.complex64)
    masks = _band_masks(n, sample_rate, centres).astype(np.float32)
    # Two-sided weight of each rfft bin (the analytic signal doubles the positive frequencies).
    double = np.full(n_bins, 2.0, np.float32)
    double[0] = 1.0
    if n % 2 == 0:
        double[-1] = 1.0
    out = np.empty((len(centres), 2, n), np.float32)
    for b, mask in enumerate(masks):
        hi = int(np.flatnonzero(mask)[-1]) + 1  # bins above `hi` are outside the band
        # The envelope is flattened on a coarser grid that still oversamples the band
        # _FLATTEN_OVERSAMPLE times: the low bands cost a fraction of a full-length FFT.
        m = min(n, scipy.fft.next_fast_len(_FLATTEN_OVERSAMPLE * hi))
        band = spec[:, :hi] * mask[:hi]
        for _ in range(_FLATTEN_ROUNDS):
            grid = np.zeros((2, m), np.complex64)
            grid[:, :hi] = band * double[:hi]
            analytic = scipy.fft.ifft(grid, axis=-1)
            analytic /= np.maximum(np.abs(analytic), np.float32(1e-30))
            band = scipy.fft.rfft(analytic.real, axis=-1)[:, :hi] * mask[:hi]
        full = np.zeros((2, n_bins), np.complex64)
        full[:, :hi] = band
        signal = scipy.fft.irfft(full, n=n, axis=-1)
        power = float(np.sum(double * mask.astype(np.float64) ** 2)) / n  # E[x²] of masked unit white noise
        rms = np.sqrt(np.mean(np.square(signal, dtype=np.float64), axis=-1, keepdims=True))
        out[b] = signal * (np.sqrt(power) / np.maximum(rms, 1e-300))
    return torch.from_numpy(out).to(dtype)


# --------------------------------------------------------------------------- the impulse response
def reverb_ir(
    sample_rate: int,
    *,
    rt60_low_s: torch.Tensor | float,
    rt60_mid_s: torch.Tensor | float,
    rt60_high_s: torch.Tensor | float,
    predelay_ms: torch.Tensor | float,
    seed: int = 0,
    max_length_s: float | None = None,
) -> torch.Tensor:
    """A deterministic stereo reverb impulse response with a per-band decay.

    Parameters
    ----------
    sample_rate : int
        Hz, 8–384 kHz.
    rt60_low_s, rt60_mid_s, rt60_high_s : torch.Tensor or float
        Decay times (−60 dB) in seconds at ≤ 125 Hz, 1 kHz and ≥ 8 kHz; positive.  Octave
        bands in between are interpolated log-log (:func:`band_rt60_s`).
    predelay_ms : torch.Tensor or float
        Silence before the onset, ms, ≥ 0; fractional samples are realised with the
        band-limited delay of :func:`~mixassist.console.dsp.spatial.fractional_delay`.
    seed : int
        Seeds the noise (``numpy.random.default_rng``); same arguments → identical output.
    max_length_s : float, optional
        Upper bound on the whole response (pre-delay included), default 10 s.

    Returns
    -------
    torch.Tensor
        ``(2, length)`` with ``length = ceil(pre-delay) + 1.2 × max RT60`` (rounded up to a
        multiple of 1024 samples, bounded by ``max_length_s``).  Each channel has **unit
        energy** (Σ h² = 1), so the console's return level sets the wet loudness
        independently of the decay times (for a white input the wet signal has the input's
        power).  The dtype is float64 if any tensor argument is float64, otherwise the
        default dtype.  Differentiable w.r.t. the RT60s (through the envelopes; the length
        is a step function of them and carries no gradient) and w.r.t. ``predelay_ms``
        (through the interpolating FIR; the gradient is that of a band-limited shift).

    Notes
    -----
    The two channels use independent noise, so the response is decorrelated between
    left and right.  The onset is faded in over 1.5 ms (raised cosine) to avoid a click.

    The band-split noise is generated at a power-of-two length ≥ the decay (at least 2¹⁴
    samples, at most the maximum length), cached per ``(seed, sample_rate, length)``, and
    cut to size: RT60 changes that stay within one power of two change the decay but not the
    noise realisation, and cost only the envelopes (a few ms).  The first call for a new
    length costs ~0.1–1 s (the band split, see ``_band_noise``).

    Examples
    --------
    >>> ir = reverb_ir(44100, rt60_low_s=2.0, rt60_mid_s=1.5, rt60_high_s=0.6, predelay_ms=20.0)
    >>> ir.shape, round(float((ir**2).sum(-1)[0]), 6)
    (torch.Size([2, 107378]), 1.0)
    """
    rate = parameter_sample_rate(sample_rate)
    if rate != int(rate):  # the noise cache and the band split take whole-Hz rates
        raise InvalidParameterError(f"sample_rate={sample_rate!r} must be a whole number of Hz")
    sample_rate = int(rate)
    args = {"rt60_low_s": rt60_low_s, "rt60_mid_s": rt60_mid_s, "rt60_high_s": rt60_high_s, "predelay_ms": predelay_ms}
    dtype = torch.get_default_dtype()
    for v in args.values():
        if isinstance(v, torch.Tensor) and v.is_floating_point():
            dtype = torch.promote_types(dtype, v.dtype)
    tensors = {k: _as_tensor(v, torch.float64) for k, v in args.items()}
    for k, v in tensors.items():
        if v.numel() != 1:
            raise InvalidParameterError(f"{k}: expected one value, got shape {tuple(v.shape)}")
        value = float(v.detach())
        lo = 0.0 if k == "predelay_ms" else 1e-3
        if not (math.isfinite(value) and value >= lo):
            raise InvalidParameterError(f"{k}={value!r} must be a finite number ≥ {lo:g}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise InvalidParameterError(f"seed={seed!r} must be a non-negative integer")
    max_length_s = DEFAULT_MAX_LENGTH_S if max_length_s is None else float(max_length_s)
    n_max = int(math.floor(max_length_s * sample_rate)) if math.isfinite(max_length_s) else 0
    if n_max < 1:
        raise InvalidParameterError(f"max_length_s={max_length_s!r} must be positive and finite")

    predelay = tensors["predelay_ms"].reshape(()) * (sample_rate / 1000.0)  # samples, float64
    n_pre = int(math.ceil(float(predelay.detach())))
    if n_pre >= n_max:
        raise InvalidParameterError(
            f"predelay_ms={float(tensors['predelay_ms']):g} leaves no room for the decay within "
            f"max_length_s={max_length_s:g}; shorten the pre-delay or raise max_length_s"
        )
    rt = band_rt60_s(
        tensors["rt60_low_s"].reshape(()),
        tensors["rt60_mid_s"].reshape(()),
        tensors["rt60_high_s"].reshape(()),
        _model_centres(sample_rate),
    )
    longest = max(float(tensors[k].detach()) for k in ("rt60_low_s", "rt60_mid_s", "rt60_high_s"))
    n_decay = int(math.ceil(_LENGTH_FACTOR * longest * sample_rate / _LENGTH_QUANTUM)) * _LENGTH_QUANTUM
    n_decay = max(1, min(n_decay, n_max - n_pre))

    # The noise is made at a power-of-two length (or the maximum) and cut to size, so small
    # RT60 changes (an optimiser's steps) reuse the cached noise and keep its realisation.
    n_noise = max(_MIN_NOISE_LENGTH, 1 << (n_decay - 1).bit_length())
    n_noise = n_max if n_noise > n_max else n_noise
    bands = _band_noise(int(seed), sample_rate, n_noise, dtype)[:, :, :n_decay]
    t = torch.arange(n_decay, dtype=dtype) / sample_rate
    env = torch.exp(t[None, :] * (-_LN_1000 / rt).to(dtype)[:, None])  # (bands, n)
    decay = bands[0] * env[0]  # Σ_b band_b · envelope_b, one band at a time (cache-friendly)
    for b in range(1, bands.shape[0]):
        decay = torch.addcmul(decay, bands[b], env[b])

    n_fade = min(n_decay, max(1, int(round(_FADE_IN_MS * sample_rate / 1000.0))))
    ramp = torch.sin(0.5 * math.pi * (torch.arange(n_fade, dtype=torch.float64) + 0.5) / n_fade) ** 2
    decay = torch.cat([decay[:, :n_fade] * ramp.to(dtype), decay[:, n_fade:]], dim=-1)

    # Pre-delay by the band-limited delay line (a plain shift for whole samples); the padding
    # makes room for the shift and the FIR latency, which is then dropped.
    padded = torch.nn.functional.pad(decay, (0, n_pre + DELAY_LATENCY))[None]
    ir = fractional_delay(padded, predelay.reshape(1), None)[0][0, :, DELAY_LATENCY:]
    energy = (ir * ir).sum(dim=-1, keepdim=True)
    return ir / torch.sqrt(torch.clamp_min(energy, torch.finfo(dtype).tiny))


def _as_tensor(v: torch.Tensor | float, dtype: torch.dtype) -> torch.Tensor:
    if isinstance(v, torch.Tensor):
        return v.to(dtype)
    try:
        return torch.tensor(float(v), dtype=dtype)
    except (TypeError, ValueError):
        raise InvalidParameterError(f"expected a number or a tensor, got {v!r}") from None


# --------------------------------------------------------------------------- convolution
def reverb_tail_samples(ir: torch.Tensor) -> int:
    """Samples of output a convolution with ``ir`` keeps producing after its input ends (``L − 1``)."""
    return max(int(ir.shape[-1]) - 1, 0)


def _fft_size(n: int, taps: int) -> int:
    """The FFT length for overlap-add of ``n`` samples with ``taps`` taps: a power of two.

    One frame (``≥ n + taps − 1``) when that is small; otherwise frames of ``≥ 2·taps`` (at
    least 4096), which keeps each transform in cache: on the 2-core reference machine a
    batch of 2¹⁸-point transforms costs ~2.5 ns per sample against ~5 ns for one 2²¹-point
    transform, and MKL's power-of-two sizes beat 2·3·5·7-smooth ones of similar length.
    """
    one_frame = 1 << max(n + taps - 2, 1).bit_length()
    framed = max(1 << (2 * taps - 1).bit_length(), _MIN_FRAME_FFT)
    return min(one_frame, framed)


def fft_convolve(
    x: torch.Tensor, ir: torch.Tensor, state: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Causal convolution of ``x`` with ``ir`` by FFT, block by block with a carried tail.

    Channel ``c`` of ``x`` is convolved with channel ``c`` of ``ir``; a mono side is
    broadcast (mono ``x`` with a stereo ``ir`` gives stereo).  The output has the input's
    length; the ``L − 1`` samples of tail that fall after it are returned in ``state`` and
    added to the start of the next block (overlap-add), so processing a signal in chunks
    equals processing it whole.  To hear the tail after the last block, feed
    :func:`reverb_tail_samples` samples of silence.

    Parameters
    ----------
    x : torch.Tensor
        ``(channels, samples)`` or ``(batch, channels, samples)``; zero samples is fine.
    ir : torch.Tensor
        ``(channels, L)``, ``L ≥ 1``.
    state : torch.Tensor, optional
        The tail from the previous call, ``(..., channels_out, L − 1)``; ``None`` means
        silence before.

    Returns
    -------
    y : torch.Tensor
        ``(..., channels_out, samples)`` with ``channels_out = max(channels, ir channels)``,
        in the promoted dtype of ``x`` and ``ir``.  Differentiable w.r.t. ``x``, ``ir`` and
        ``state``.
    state : torch.Tensor
        ``(..., channels_out, L − 1)``: the tail to add to the next block.

    Notes
    -----
    Overlap-add with power-of-two FFTs: one frame of ``≥ samples + L − 1`` for short inputs,
    otherwise frames of ``≥ 2·L`` transformed in one batched call (cache-friendly), in passes
    of at most 2²² input samples that reuse the IR's spectrum (bounded memory).  Float32
    results match a float64 direct convolution to ~1e-6 of the output's peak.

    Examples
    --------
    >>> x = torch.tensor([[1.0, 0.0, 0.0, 2.0]])
    >>> y, tail = fft_convolve(x, torch.tensor([[1.0, 0.5]]))
    >>> y.round(decimals=6).tolist(), tail.round(decimals=6).tolist()
    ([[1.0, 0.5, 0.0, 2.0]], [[1.0]])
    """
    if not isinstance(x, torch.Tensor) or x.ndim not in (2, 3) or not x.is_floating_point():
        got = f"shape {tuple(x.shape)} {x.dtype}" if isinstance(x, torch.Tensor) else type(x).__name__
        raise InvalidParameterError(
            "fft_convolve: x must be a float tensor shaped (channels, samples) or "
            f"(batch, channels, samples); got {got}"
        )
    if not isinstance(ir, torch.Tensor) or ir.ndim != 2 or ir.shape[-1] < 1 or not ir.is_floating_point():
        got = f"shape {tuple(ir.shape)} {ir.dtype}" if isinstance(ir, torch.Tensor) else type(ir).__name__
        raise InvalidParameterError(
            f"fft_convolve: ir must be a float tensor shaped (channels, L) with L ≥ 1; got {got}"
        )
    c_x, c_ir = x.shape[-2], ir.shape[0]
    if c_x != c_ir and 1 not in (c_x, c_ir):
        raise InvalidParameterError(
            f"fft_convolve: {c_x} input channels cannot be paired with {c_ir} IR channels; "
            "use equal counts or a mono side"
        )
    dtype = torch.promote_types(x.dtype, ir.dtype)
    x, ir = x.to(dtype), ir.to(dtype)
    n, taps = x.shape[-1], ir.shape[-1]
    tail = taps - 1
    out_shape = (*x.shape[:-2], max(c_x, c_ir))
    if state is None:
        state = x.new_zeros((*out_shape, tail))
    elif not isinstance(state, torch.Tensor) or tuple(state.shape) != (*out_shape, tail):
        got_state = tuple(state.shape) if isinstance(state, torch.Tensor) else type(state).__name__
        raise InvalidParameterError(
            f"fft_convolve: state {got_state} does not fit; expected {(*out_shape, tail)} "
            "(pass the state returned by the previous call with the same IR)"
        )
    else:
        state = state.to(dtype)
    if n == 0:
        return x.new_zeros((*out_shape, 0)), state

    nfft = _fft_size(min(n, _SEGMENT), taps)
    spectrum = torch.fft.rfft(ir, n=nfft)[:, None, :]  # (ir channels, 1 frame axis, bins)
    if n <= _SEGMENT:
        return _overlap_add(x, spectrum, nfft, taps, state)
    pieces = []
    for start in range(0, n, _SEGMENT):
        y, state = _overlap_add(x[..., start : start + _SEGMENT], spectrum, nfft, taps, state)
        pieces.append(y)
    return torch.cat(pieces, dim=-1), state


def _overlap_add(
    x: torch.Tensor, spectrum: torch.Tensor, nfft: int, taps: int, state: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Convolve ``x`` frame by frame (hop ``nfft − taps + 1``, all frames in one batched FFT).

    ``state`` is the incoming tail (``taps − 1`` samples); returns the output and the new tail.
    """
    n, tail = x.shape[-1], taps - 1
    hop = nfft - tail
    frames = -(-n // hop)
    xf = torch.nn.functional.pad(x, (0, frames * hop - n)).reshape(*x.shape[:-1], frames, hop)
    y = torch.fft.irfft(torch.fft.rfft(xf, n=nfft) * spectrum, n=nfft)  # (..., C, frames, nfft)
    body, spill = y[..., :hop], y[..., hop:]  # each frame spills `tail` samples into the next
    if frames > 1:  # here nfft ≥ 2·taps, so a frame only spills into the one after it
        carried = torch.nn.functional.pad(spill[..., :-1, :], (0, hop - tail))
        body = torch.cat([body[..., :1, :], body[..., 1:, :] + carried], dim=-2)
    flat = body.reshape(*body.shape[:-2], frames * hop)  # the convolution's first frames·hop samples
    head = min(n, tail)  # the incoming tail overlaps the first `head` output samples
    out = torch.cat([flat[..., :head] + state[..., :head], flat[..., head:n]], dim=-1)
    # The new tail: the convolution past the block's end, plus what is left of the old tail.
    after = torch.cat([flat[..., n:], spill[..., -1, :]], dim=-1)[..., :tail]
    rest = state[..., n:]
    if rest.shape[-1]:
        after = torch.cat([after[..., : rest.shape[-1]] + rest, after[..., rest.shape[-1] :]], dim=-1)
    return out, after
