"""Engine B: parts to dry stems (voices, drum hits, recording levels and noise)."""

from __future__ import annotations

from typing import Any

import numpy as np

from mixassist.data.engine_b import instruments as ins
from mixassist.data.engine_b.music import Part
from mixassist.measure import integrated_loudness

__all__ = ["STEREO_VOICES", "render_part", "render_stems"]

#: Voices rendered as stereo stems (the rest are mono, as a close microphone would record them).
STEREO_VOICES = {"pad", "organ", "fm_piano", "accordion", "church_organ", "choir_ooh"}

_FM = {
    "fm_bass": {"ratio": 1.0, "index": 2.5, "decay": 0.25, "sustain": 0.5, "release": 0.05},
    "fm_piano": {"ratio": 1.0, "index": 1.8, "decay": 0.8, "sustain": 0.15, "release": 0.2},
    "fm_bell": {"ratio": 3.5, "index": 2.0, "decay": 1.2, "sustain": 0.0, "release": 0.4},
    "fm_lead": {"ratio": 2.0, "index": 3.0, "decay": 0.3, "sustain": 0.8, "release": 0.08},
}


def render_part(part: Part, length: int, sr: int, rng: np.random.Generator, *, use_fluidsynth: bool) -> np.ndarray:
    """One part as ``(channels, length)`` float audio (not yet levelled)."""
    v = part.voice
    if part.hits:
        out = np.zeros(length)
        use_sample = rng.random() < 0.4
        sample = ins.sample_hit(v, sr) if use_sample else None
        tone = float(rng.uniform(0.85, 1.2))
        for t, vel in part.hits:
            hit = sample if sample is not None else ins.drum_hit(v, sr, rng, tone)
            start = int(t * sr)
            end = min(length, start + hit.shape[0])
            out[start:end] += hit[: end - start] * (vel / 127.0)
        return out[None]
    if v in _FM:
        return ins.fm_voice(part.notes, length, sr, **_FM[v])[None]
    if v in ("pluck", "pluck_bass"):
        notes = [(t, d, p - (12 if v == "pluck_bass" else 0), vel) for t, d, p, vel in part.notes]
        return ins.pluck_voice(notes, length, sr, rng=rng, loss=0.995 if v == "pluck" else 0.998)[None]
    if v in ("pad", "organ"):
        harm = (1.0, 0.4, 0.25, 0.1) if v == "pad" else (1.0, 0.8, 0.0, 0.5, 0.0, 0.3, 0.0, 0.25)
        attack = 0.3 if v == "pad" else 0.01
        left = ins.additive_voice(part.notes, length, sr, harmonics=harm, attack=attack, detune_cents=-6.0)
        right = ins.additive_voice(part.notes, length, sr, harmonics=harm, attack=attack, detune_cents=6.0)
        return np.stack([left, right])
    if use_fluidsynth and v in ins.GM_PROGRAMS:
        audio = ins.fluidsynth_voice(part.notes, length, sr, ins.GM_PROGRAMS[v])
        return audio if v in STEREO_VOICES else audio.mean(axis=0, keepdims=True)
    # without fluidsynth (tests, minimal installs): an FM stand-in for the GM program
    return ins.fm_voice(part.notes, length, sr, ratio=1.0 + (sum(map(ord, v)) % 3), index=1.5, decay=0.5, sustain=0.6)[
        None
    ]


def render_stems(
    parts: list[Part], seconds: float, sr: int, rng: np.random.Generator, *, use_fluidsynth: bool
) -> tuple[dict[str, np.ndarray], list[dict[str, Any]]]:
    """Every part as a dry stem at a random recording level (-30…-14 LUFS) with a noise floor 55-75 dB down."""
    length = int(round(seconds * sr))
    stems: dict[str, np.ndarray] = {}
    info: list[dict[str, Any]] = []
    for part in parts:
        audio = render_part(part, length, sr, rng, use_fluidsynth=use_fluidsynth)
        audio = audio - audio.mean(axis=-1, keepdims=True)
        loud = integrated_loudness(audio, sr)
        if loud is None:
            continue
        level = float(rng.uniform(-30.0, -14.0))
        audio = audio * 10.0 ** ((level - loud) / 20.0)
        rms = float(np.sqrt(np.mean(audio**2)))
        audio = audio + rng.standard_normal(audio.shape) * rms * 10.0 ** (-float(rng.uniform(55, 75)) / 20.0)
        peak = float(np.abs(audio).max())
        if peak > 0.89:
            audio *= 0.89 / peak
        name = part.name
        while name in stems:
            name += "_b"
        stems[name] = audio.astype(np.float32)
        info.append({"name": name, "file": f"stems/{name}.wav", "role": part.role, "voice": part.voice,
                     "channels": int(audio.shape[0])})  # fmt: skip
    return stems, info
