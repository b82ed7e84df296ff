"""What the page hears and sees of a session: loudness-matched excerpts of the mix, the
reference and the raw sum (:mod:`mixassist.previews`' matching), the meters of the mix excerpt,
each compressor's gain reduction and the EQ curves from the console's own filter designs.

The mix excerpt is rendered by :class:`~mixassist.serve.strips.StripCache`: each strip's output
is kept, so after an edit only the touched strip and the buses run again (bit-identical to
:meth:`Console.render <mixassist.console.console.Console.render>` of the same excerpt)."""

from __future__ import annotations

import io
import json
import math
from collections.abc import Callable, Hashable, Mapping
from typing import Any

import numpy as np
import soundfile as sf
import torch
from scipy.signal import sosfreqz

from mixassist.audio.io import load_audio, resample
from mixassist.audio.multitrack import Multitrack
from mixassist.console.console import eq_sos
from mixassist.console.dsp.compressor import compressor
from mixassist.console.params import MixParams
from mixassist.measure import integrated_and_short_term, integrated_loudness, true_peak
from mixassist.previews import loudest_section, raw_sum
from mixassist.serve.store import ServeError
from mixassist.serve.strips import StripCache

__all__ = [
    "DEFAULT_EXCERPT_S",
    "EXCERPT_RANGE_S",
    "reduction_db",
    "Excerpts",
    "eq_curve",
    "excerpt",
    "span",
    "wav_bytes",
]

#: Shortest and longest preview excerpt, seconds.
EXCERPT_RANGE_S = (10.0, 20.0)
#: The excerpt a session previews and meters unless told otherwise, seconds.
DEFAULT_EXCERPT_S = 10.0
_EQ_POINTS = 200


def span(multitrack: Multitrack, start_s: float, seconds: float) -> tuple[int, int]:
    """The samples ``(first, stop)`` of the excerpt from ``start_s`` for ``seconds``, moved back to
    fit the song (all of it when it is shorter)."""
    sr, total = multitrack.sample_rate, multitrack.num_samples
    length = min(total, int(round(seconds * sr)))
    a = min(max(0, int(round(start_s * sr))), total - length)
    return a, a + length


def excerpt(multitrack: Multitrack, start_s: float, seconds: float) -> Multitrack:
    """The stems of the excerpt :func:`span` gives."""
    a, b = span(multitrack, start_s, seconds)
    arrays = {t.name: np.ascontiguousarray(t.read(a, b)) for t in multitrack}
    return Multitrack.from_arrays(arrays, multitrack.sample_rate)


class Excerpts:
    """Renders, matches and meters the excerpts of one session (its stems loaded once)."""

    def __init__(self, multitrack: Multitrack, references: list[str]) -> None:
        self.multitrack = multitrack
        self.sample_rate = multitrack.sample_rate
        self.references = references
        self.strips = StripCache(multitrack.sample_rate)
        self._reference_audio: np.ndarray | None = None
        self._reference_features: dict[str, Any] | None = None
        #: The window of the last preview: the meters read it, so an edit's state and the
        #: preview that follows it share one render.
        self.listening: tuple[float, float] | None = None
        self._reduction: dict[str, float] = {}
        self._signals: dict[tuple, np.ndarray] = {}
        self._lufs: dict[Hashable, tuple[float | None, float | None]] = {}

    def window(self, start_s: float | None, seconds: float | None, default_start_s: float) -> tuple[float, float]:
        """A checked excerpt window (start, length) in seconds; without either, the window last
        listened to (:meth:`preview`), else ``default_start_s`` for :data:`DEFAULT_EXCERPT_S`."""
        if start_s is None and seconds is None and self.listening is not None:
            return self.listening
        low, high = EXCERPT_RANGE_S
        seconds = DEFAULT_EXCERPT_S if seconds is None else float(seconds)
        if not (math.isfinite(seconds) and low <= seconds <= high):
            raise ServeError(f"seconds={seconds:g}: a preview lasts {low:g} to {high:g} s")
        start = default_start_s if start_s is None else float(start_s)
        if not (math.isfinite(start) and 0 <= start <= self.multitrack.duration_s):
            raise ServeError(f"start={start:g}: the song lasts {self.multitrack.duration_s:.1f} s")
        return start, seconds

    def mix(self, params: MixParams, start_s: float, seconds: float) -> np.ndarray:
        """The mix of the excerpt (float32 ``(2, samples)``), from the strip cache."""
        key = span(self.multitrack, start_s, seconds)
        return self.strips.render(excerpt(self.multitrack, start_s, seconds), params, key=key)

    def reference(self) -> np.ndarray | None:
        """The first reference at the session's rate (read once), or None."""
        if not self.references:
            return None
        if self._reference_audio is None:
            audio, rate = load_audio(self.references[0])
            self._reference_audio = resample(audio, rate, self.sample_rate)
        return self._reference_audio

    def set_references(self, references: list[str]) -> None:
        """Compare with ``references`` from now on (the renders stay cached)."""
        if references != self.references:
            self.references = list(references)
            self._reference_audio, self._reference_features = None, None
            self._signals = {k: v for k, v in self._signals.items() if k[0] != "reference"}

    def reference_features(self, measure: Callable[[np.ndarray], dict[str, Any]]) -> dict[str, Any]:
        """``measure`` of the reference (once: it does not change while the session has it)."""
        if self._reference_features is None:
            audio = self.reference()
            self._reference_features = {} if audio is None else measure(audio)
        return self._reference_features

    def preview(
        self, which: str, params: MixParams, start_s: float, seconds: float
    ) -> tuple[np.ndarray, float, float | None]:
        """``which`` of the excerpt, its integrated loudness before matching (LUFS) and the true
        peak of what is sent (dBTP): the mix
        as rendered (a fader move is heard), the reference (its loudest section) and the raw sum
        of the stems scaled to the mix's integrated loudness (BS.1770), as the previews of
        :mod:`mixassist.previews` are matched.  The window is remembered (:attr:`listening`)."""
        if which not in ("mix", "reference", "raw"):
            raise ServeError(f"which={which[:20]}: use mix, reference or raw")
        mix = self.mix(params, start_s, seconds)
        self.listening = (start_s, seconds)
        token = json.dumps([span(self.multitrack, start_s, seconds), params.to_dict()], sort_keys=True)
        mix_lufs, mix_peak = self._measured(("mix", token), mix)
        if which == "mix":
            if mix_lufs is None:
                raise ServeError("the mix excerpt is silent: nothing to play", 404)
            return mix, mix_lufs, mix_peak
        if which == "raw":
            key = ("raw", span(self.multitrack, start_s, seconds))
            if key not in self._signals:
                self._signals = {k: v for k, v in self._signals.items() if k[0] != "raw"} | {
                    key: raw_sum(list(excerpt(self.multitrack, start_s, seconds)))
                }
        else:
            ref = self.reference()
            if ref is None:
                raise ServeError("this session has no reference; add one and re-solve", 404)
            key = ("reference", mix.shape[-1])
            if key not in self._signals:
                a = loudest_section(ref, self.sample_rate, mix.shape[-1] / self.sample_rate)
                self._signals[key] = ref[:, a : a + mix.shape[-1]]
        audio = self._signals[key]
        lufs, peak = self._measured(key, audio)
        if lufs is None or mix_lufs is None:
            raise ServeError(f"the {which} excerpt is silent: nothing to play", 404)
        gain_db = mix_lufs - lufs
        scaled = (audio * np.float32(10.0 ** (gain_db / 20.0))).astype(np.float32)
        return scaled, lufs, None if peak is None else peak + gain_db

    def _measured(self, key: Hashable, audio: np.ndarray) -> tuple[float | None, float | None]:
        """Integrated loudness and true peak of ``audio`` (kept under ``key``)."""
        if key not in self._lufs:
            if len(self._lufs) > 64:
                self._lufs.clear()
            silent = not audio.shape[-1] or not np.any(audio)
            self._lufs[key] = (
                None if silent else integrated_loudness(audio, self.sample_rate),
                None if silent else true_peak(audio, self.sample_rate),
            )
        return self._lufs[key]

    def meters(self, params: MixParams, start_s: float, seconds: float) -> dict[str, Any]:
        """Integrated and short-term loudness (every 100 ms) and true peak of the mix excerpt."""
        mix = self.mix(params, start_s, seconds)
        integrated, short = integrated_and_short_term(mix, self.sample_rate)
        peak = true_peak(mix, self.sample_rate) if np.any(mix) else None
        return {
            "integrated_lufs": _round(integrated),
            "short_term_lufs": [
                [round(start_s + 3.0 + 0.1 * k, 2), _round(v)] for k, v in enumerate(short.tolist()) if math.isfinite(v)
            ],
            "true_peak_dbtp": _round(peak),
            "span_s": [round(start_s, 3), round(start_s + mix.shape[-1] / self.sample_rate, 3)],
        }

    def gain_reduction(self, params: MixParams, start_s: float, seconds: float) -> dict[str, float]:
        """Each track's compressor gain reduction on the excerpt (the largest, dB): the
        compressor's own curve and ballistics run on the stem (before its EQ)."""
        part = excerpt(self.multitrack, start_s, seconds)
        out: dict[str, float] = {}
        for track in part:
            p = params.tracks[track.name]
            comp_settings = {k: v for k, v in p.items() if k.startswith("comp_")}  # (the fader comes after)
            key = json.dumps([track.name, span(self.multitrack, start_s, seconds), comp_settings], sort_keys=True)
            if key in self._reduction:
                out[track.name] = self._reduction[key]
                continue
            if p["comp_ratio"] == 1.0 or track.is_silent():
                out[track.name] = 0.0
                continue
            out[track.name] = self._reduction[key] = reduction_db(track.audio, p, self.sample_rate)
        return out

    def master_reduction(self, params: MixParams, start_s: float, seconds: float) -> float:
        """The glue compressor's largest gain reduction (dB) on the excerpt, run on the strips' sum
        (before the reverb return and the master EQ: an estimate)."""
        if params.master["comp_ratio"] == 1.0:
            return 0.0
        part = excerpt(self.multitrack, start_s, seconds)
        bus = self.strips.dry_sum(part, params, key=span(self.multitrack, start_s, seconds))
        return reduction_db(bus, params.master, self.sample_rate)


def reduction_db(audio: np.ndarray, settings: Mapping[str, float | None], sample_rate: int) -> float:
    """The largest gain reduction (dB, positive) of the compressor with ``settings``' ``comp_*``
    values (its own curve and ballistics, make-up left out) on ``audio`` ``(channels, samples)``,
    read where the input is above -80 dBFS."""
    x = torch.from_numpy(np.ascontiguousarray(audio, dtype=np.float32))[None]
    comp = {k[5:]: torch.tensor([float(v)]) for k, v in settings.items() if k.startswith("comp_") and v is not None}
    comp["makeup_db"] = torch.tensor([0.0])
    y, _ = compressor(x, sample_rate, **comp)
    level = x.abs().amax(dim=1)[0].numpy()
    loud = level > 1e-4
    if not loud.any():
        return 0.0
    ratio = y.abs().amax(dim=1)[0].numpy()[loud] / level[loud]
    return round(float(-20.0 * np.log10(max(float(ratio.min()), 1e-12))), 2)


def eq_curve(values: Mapping[str, float | None], sample_rate: int, *, hpf: bool) -> dict[str, list[float]]:
    """The magnitude response of a strip's (``hpf``) or the master's EQ, from the sections the
    console renders with (:func:`~mixassist.console.console.eq_sos`), at 200 log-spaced points
    from 20 Hz to 20 kHz (or Nyquist)."""
    names = [k for k in values if k.startswith("eq_") or k == "hpf_hz"]
    tensors = {k: torch.tensor([_or_nan(values[k])], dtype=torch.float64) for k in names}
    sos = eq_sos(tensors, sample_rate, hpf=hpf)[0].numpy()
    hz = np.geomspace(20.0, min(20000.0, 0.49 * sample_rate), _EQ_POINTS)
    _, h = sosfreqz(sos, worN=hz, fs=sample_rate)
    db = 20.0 * np.log10(np.maximum(np.abs(h), 1e-12))
    return {"hz": [round(float(f), 2) for f in hz], "db": [round(float(d), 3) for d in db]}


def wav_bytes(audio: np.ndarray, sample_rate: int) -> bytes:
    """32-bit float WAV of ``(channels, samples)`` audio: a raw sum matched to a loud mix may peak
    over full scale, and is sent as it is (the page may lower all three alike)."""
    buffer = io.BytesIO()
    sf.write(buffer, audio.T.astype(np.float32), sample_rate, subtype="FLOAT", format="WAV")
    return buffer.getvalue()


def _or_nan(value: float | None) -> float:
    return math.nan if value is None else float(value)


def _round(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else round(float(value), 2)
