"""Engine B's mixer: a style draw applied to a song's stems, with engine B's own processors.

Per track: level to its role's balance, Bessel high-pass, tilt EQ, optional Butterworth
low-pass, a feedback RMS compressor, tape saturation, a pan law of the style (mono tracks) or
mid/side width (stereo tracks), and a send to one Freeverb. Master: the sum and the reverb's
return, multiband dynamics, tape saturation, tilt, mid/side width (side gain, optionally a mono
low end), band-limiting (lo-fi), then a look-ahead limiter whose input gain is searched until
the mix reads the style's loudness (or the limiter cannot push further); true peak ≤ -1 dBTP.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from mixassist.data.engine_b import dynamics as dyn
from mixassist.data.engine_b import filters as flt
from mixassist.data.engine_b.reverb import freeverb
from mixassist.measure import integrated_loudness, true_peak_dbtp

__all__ = ["ROLE_BALANCE_LU", "mid_side_width", "mix_stems"]

#: Loudness of each role relative to -24 LUFS before processing (LU).
ROLE_BALANCE_LU = {"lead": 4.0, "bass": 1.0, "drums": 0.0, "chords": -2.0, "pad": -6.0}
_BASE_LUFS = -24.0
_CEILING_DB = -1.3  # limiter ceiling: the 4x-oversampled peak; the meter's true peak then reads <= -1.0
_CENTRED = {"lead", "bass"}


def mid_side_width(
    stereo: np.ndarray, side_gain_db: float, sample_rate: int, side_hpf_hz: float | None = None
) -> np.ndarray:
    """Scale the side ``(L - R)/2`` by ``side_gain_db`` (mid untouched); optionally high-pass the side (mono lows)."""
    mid, side = (stereo[0] + stereo[1]) / 2.0, (stereo[0] - stereo[1]) / 2.0
    side = side * 10.0 ** (side_gain_db / 20.0)
    if side_hpf_hz:
        side = flt.lr4_split(side[None], [side_hpf_hz], sample_rate)[1][0]
    return np.stack([mid + side, mid - side])


def _track(
    audio: np.ndarray, role: str, name: str, style: dict[str, Any], sr: int, rng: np.random.Generator, pan: float
) -> np.ndarray:
    x = np.asarray(audio, dtype=np.float64)
    loud = integrated_loudness(x, sr)
    target = _BASE_LUFS + ROLE_BALANCE_LU.get(role, 0.0) + float(rng.uniform(-1.5, 1.5))
    if name.startswith("hats"):
        target -= 6.0
    x = x * 10.0 ** ((target - (loud if loud is not None else target)) / 20.0)
    low_source = role == "bass" or name.startswith("kick")
    if not low_source:
        x = flt.bessel_highpass(x, float(rng.uniform(60.0, 160.0)), int(rng.integers(2, 5)), sr)
    x = flt.tilt_eq(x, float(style["track_tilt_db"]) + float(rng.uniform(-1.0, 1.0)), 1000.0, sr)
    if style["track_lpf_hz"]:
        x = flt.butter_lowpass(x, float(style["track_lpf_hz"]) * float(rng.uniform(0.85, 1.15)), 2, sr)
    if style["comp_ratio"] > 1.05 and role in ("lead", "bass", "drums", "chords"):
        rms_db = 10.0 * np.log10(np.mean(x**2) + 1e-20)
        x = dyn.feedback_rms_compressor(
            x, sr, threshold_db=rms_db + 3.0 - float(style["comp_depth_db"]) / 2.0, ratio=float(style["comp_ratio"]),
            attack_ms=float(rng.uniform(3.0, 20.0)), release_ms=float(rng.uniform(80.0, 250.0)),
        )  # fmt: skip
    if style["track_drive_db"]:
        x = dyn.tape_saturation(x, sr, float(style["track_drive_db"]))
    if x.shape[0] == 1:
        return flt.pan_mono(x[0], pan, str(style["pan_law"]))
    width = float(style["stereo_width"])
    mid, side = (x[0] + x[1]) / 2.0, (x[0] - x[1]) / 2.0 * width
    left, right = flt.pan_gains(pan * 0.5, "sincos3")
    return np.stack([(mid + side) * left * np.sqrt(2.0), (mid - side) * right * np.sqrt(2.0)])


def _pans(names: list[str], roles: list[str], spread: float, rng: np.random.Generator) -> list[float]:
    pans, side = [], 1.0 if rng.random() < 0.5 else -1.0
    for name, role in zip(names, roles):
        if role in _CENTRED or name.startswith(("kick", "snare")):
            pans.append(0.0)
        else:
            pans.append(side * spread * float(rng.uniform(0.6, 1.0)))
            side = -side
    return pans


def _master_chain(bus: np.ndarray, style: dict[str, Any], sr: int) -> np.ndarray:
    x = bus
    if style["master_multiband"]:
        thresholds = [10.0 * np.log10(np.mean(b**2) + 1e-20) + 2.0 for b in flt.lr4_split(x, [180.0, 2500.0], sr)]
        x = dyn.multiband_compressor(
            x, sr, crossovers_hz=[180.0, 2500.0], thresholds_db=thresholds, ratio=float(style["master_multiband"])
        )
    if style["master_drive_db"]:
        peak = float(np.abs(x).max()) + 1e-12
        x = dyn.tape_saturation(x / peak * 0.5, sr, float(style["master_drive_db"])) * peak / 0.5
    x = flt.tilt_eq(x, float(style["master_tilt_db"]), 1000.0, sr)
    x = mid_side_width(x, float(style["side_gain_db"]), sr, style["side_hpf_hz"])
    if style["band_limit_hz"]:
        low, high = style["band_limit_hz"]
        x = flt.elliptic_lowpass(flt.bessel_highpass(x, float(low), 2, sr), float(high), sr)
    return x


def _deliver(x: np.ndarray, target_lufs: float, sr: int) -> tuple[np.ndarray, float]:
    """Gain into the limiter, searched (secant in dB) until the output reads ``target_lufs`` within 0.1 LU."""
    loud = integrated_loudness(x, sr)
    if loud is None:
        return x, float("nan")
    gain = target_lufs - loud
    best = (np.inf, x, loud)
    prev: tuple[float, float] | None = None
    for _ in range(6):
        y = dyn.lookahead_limiter(x * 10.0 ** (gain / 20.0), sr, _CEILING_DB)
        got = integrated_loudness(y, sr) or -70.0
        err = got - target_lufs
        if abs(err) < abs(best[0]):
            best = (err, y, got)
        if abs(err) < 0.1:
            break
        step = -err
        if prev is not None and abs(got - prev[1]) > 1e-3:
            slope = (got - prev[1]) / (gain - prev[0])
            step = -err / max(slope, 0.1)
        prev = (gain, got)
        gain += float(np.clip(step, -12.0, 12.0))
        gain = min(gain, 30.0)
    y = best[1]
    tp = true_peak_dbtp(y, sr)
    if tp is not None and tp > -1.05:
        y = y * 10.0 ** ((-1.05 - tp) / 20.0)
    return y, float(integrated_loudness(y, sr) or float("nan"))


def mix_stems(
    stems: dict[str, np.ndarray], roles: dict[str, str], style: dict[str, Any], sr: int, rng: np.random.Generator
) -> tuple[np.ndarray, dict[str, Any]]:
    """The stereo mix ``(2, samples)`` of ``stems`` in the drawn ``style``, and what was done (pans, loudness)."""
    names = list(stems)
    pans = _pans(names, [roles[n] for n in names], float(style["pan_spread"]), rng)
    length = max(a.shape[-1] for a in stems.values())
    bus = np.zeros((2, length))
    send = np.zeros((2, length))
    send_gain = 10.0 ** (float(style["reverb_send_db"]) / 20.0)
    for name, pan in zip(names, pans):
        track = _track(stems[name], roles[name], name, style, sr, rng, pan)
        bus[:, : track.shape[1]] += track
        if not (roles[name] == "bass" or name.startswith("kick")):
            send[:, : track.shape[1]] += track * send_gain * float(rng.uniform(0.7, 1.3))
    bus += freeverb(send, sr, room=float(style["reverb_room"]), damp=float(style["reverb_damp"])) * 10.0 ** (9.0 / 20.0)
    mixed, reached = _deliver(_master_chain(bus, style, sr), float(style["loudness_lufs"]), sr)
    return mixed.astype(np.float32), {"pans": dict(zip(names, pans)), "loudness_lufs": reached}
