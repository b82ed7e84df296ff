"""What each track is for in the mix: its *role*, from its name, its sound, or the user.

Roles drive every knowledge-based decision (priority in the balance, whether a track may be
high-passed or panned, compression and reverb by role).  They are the roles of the
synthesised data (:data:`mixassist.roles.ROLES`), so inference can be measured against
ground truth.

Inference, in order: a user's ``--role name=role``; keywords in the track name (``vox``,
``kick``, ``bass``, ``pad`` …, matched on word parts so ``snare_top`` and ``LeadVox`` work);
then audio features (spectral centroid, low-frequency share, crest factor, onset density).
Each result carries the reason it was chosen.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from mixassist.errors import InvalidParameterError
from mixassist.roles import ROLES

__all__ = ["ROLES", "PRIORITY", "RoleGuess", "infer_role", "parse_role_overrides", "is_low_source", "is_centre_source"]

#: Balance priority (higher is more important): the order in which tracks claim the
#: spectrum when masking is resolved.
PRIORITY: dict[str, int] = {"lead": 7, "drums": 6, "bass": 5, "chords": 4, "arp": 3, "percussion": 3, "pad": 2, "fx": 1}

# Keyword → role, tried in order (first match wins); word parts of the lower-cased name.
_KEYWORDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "lead",
        (
            "vocal",
            "vocals",
            "vox",
            "voc",
            "voice",
            "lead",
            "leadvox",
            "sing",
            "singer",
            "melody",
            "solo",
            "soprano",
            "violin1",
            "flute",
            "whistle",
            "rap",
            "mc",
            "narrator",
            "host",
            "speech",
            "dialog",
            "dialogue",
        ),
    ),
    ("bass", ("bass", "sub", "808", "contrabass", "upright", "pedal", "tuba", "cello")),
    (
        "drums",
        (
            "kick",
            "kik",
            "bd",
            "snare",
            "sn",
            "snr",
            "tom",
            "toms",
            "hat",
            "hats",
            "hh",
            "hihat",
            "overhead",
            "overheads",
            "oh",
            "cymbal",
            "cymbals",
            "ride",
            "crash",
            "drum",
            "drums",
            "drumkit",
        ),
    ),
    (
        "percussion",
        (
            "perc",
            "percussion",
            "shaker",
            "conga",
            "congas",
            "bongo",
            "bongos",
            "tamb",
            "tambourine",
            "clap",
            "claps",
            "cowbell",
            "djembe",
            "cajon",
            "loop",
            "loops",
            "timbale",
            "triangle",
        ),
    ),
    ("pad", ("pad", "pads", "strings", "string", "choir", "ambient", "ambience", "atmo", "drone", "organ")),
    ("arp", ("arp", "arpeggio", "pluck", "seq", "sequence")),
    ("fx", ("fx", "sfx", "riser", "sweep", "noise", "impact", "whoosh")),
    (
        "chords",
        (
            "gtr",
            "guitar",
            "guitars",
            "piano",
            "keys",
            "rhodes",
            "epiano",
            "wurli",
            "synth",
            "chord",
            "chords",
            "violin2",
            "viola",
            "alto",
            "tenor",
            "horn",
            "horns",
            "brass",
            "sax",
            "trumpet",
            "trombone",
            "clarinet",
            "oboe",
            "bassoon",
            "vibes",
            "marimba",
            "harp",
            "accordion",
            "banjo",
            "mandolin",
        ),
    ),
)


@dataclass(frozen=True)
class RoleGuess:
    """A track's role and why it was chosen (``source``: ``user``, ``name`` or ``audio``)."""

    role: str
    source: str
    reason: str


def _words(name: str) -> list[str]:
    # "LeadVox_01" -> ["lead", "vox", "01", "leadvox"]; "snare_top" -> ["snare", "top"]
    spaced = re.sub(r"([a-z])([A-Z])", r"\1 \2", name)
    parts = [p for p in re.split(r"[^A-Za-z0-9]+", spaced.lower()) if p]
    joined = re.sub(r"[^a-z0-9]", "", name.lower())
    return [*parts, joined, *(re.sub(r"\d+$", "", p) for p in parts)]


def _from_name(name: str) -> tuple[str, str] | None:
    words = _words(name)
    for role, keys in _KEYWORDS:
        for key in keys:
            if key in words:
                return role, key
    return None


def infer_role(name: str, audio: np.ndarray, sample_rate: int) -> RoleGuess:
    """Guess a track's role from its name, else from its sound.

    Parameters
    ----------
    name : str
        Track name (file name without extension).
    audio : np.ndarray
        ``(channels, samples)``.
    sample_rate : int
    """
    found = _from_name(name)
    if found is not None:
        role, key = found
        return RoleGuess(role, "name", f"the name '{name}' contains '{key}'")
    return _from_audio(audio, sample_rate)


def _from_audio(audio: np.ndarray, sample_rate: int) -> RoleGuess:
    mono = np.mean(audio, axis=0, dtype=np.float64)
    if not np.any(mono):
        return RoleGuess("chords", "audio", "silent; no evidence either way")
    n_fft = 4096
    hop = 2048
    frames = max(1, 1 + (mono.size - n_fft) // hop)
    idx = np.arange(n_fft)[None, :] + hop * np.arange(frames)[:, None]
    padded = np.pad(mono, (0, max(0, idx.max() + 1 - mono.size)))
    spec = np.abs(np.fft.rfft(padded[idx] * np.hanning(n_fft), axis=1)) ** 2
    freqs = np.fft.rfftfreq(n_fft, 1.0 / sample_rate)
    power = spec.sum(axis=0) + 1e-20
    centroid = float(np.sum(freqs * power) / np.sum(power))
    low_share = float(power[freqs < 150].sum() / power.sum())
    frame_energy = spec.sum(axis=1) + 1e-20
    level_db = 10 * np.log10(frame_energy)
    flux = np.maximum(np.diff(level_db), 0)
    onsets_per_s = float(np.sum(flux > 6.0) / (mono.size / sample_rate))
    rms = float(np.sqrt(np.mean(mono**2)))
    crest_db = 20 * np.log10(float(np.max(np.abs(mono))) / rms) if rms > 0 else 0.0
    facts = f"centroid {centroid:.0f} Hz, {100 * low_share:.0f} % of energy below 150 Hz, crest {crest_db:.1f} dB, {onsets_per_s:.1f} onsets/s"
    if low_share > 0.5 and centroid < 400:
        return RoleGuess("bass", "audio", f"mostly low-frequency energy ({facts})")
    if crest_db > 15 and onsets_per_s > 1.0:
        return RoleGuess("drums" if centroid < 3000 else "percussion", "audio", f"percussive ({facts})")
    if crest_db < 9 and onsets_per_s < 0.5:
        return RoleGuess("pad", "audio", f"sustained with few onsets ({facts})")
    return RoleGuess("chords", "audio", f"no name keyword; a tonal part by default ({facts})")


def session_roles(multitrack: Any, user_roles: Mapping[str, str]) -> dict[str, RoleGuess]:
    """Every track's role: the user's where given, else inferred from its name and sound."""
    return {
        t.name: (
            RoleGuess(user_roles[t.name], "user", "set by you")
            if t.name in user_roles
            else infer_role(t.name, t.audio, multitrack.sample_rate)
        )
        for t in multitrack
    }


def parse_role_overrides(items: Mapping[str, str] | Iterable[str] | None, track_names: list[str]) -> dict[str, str]:
    """``["vocals=lead", ...]`` or ``{"vocals": "lead"}`` → ``{track: role}``, validated.

    Names may use shell-style wildcards (``'gtr*=chords'``).
    """
    if not items:
        return {}
    pairs: list[tuple[str, str]] = []
    if isinstance(items, Mapping):
        pairs = [(str(k), str(v)) for k, v in items.items()]
    else:
        for item in items:
            if "=" not in item:
                raise InvalidParameterError(f"role '{item}': write it as TRACK=ROLE, e.g. vocals=lead")
            name, role = item.split("=", 1)
            pairs.append((name.strip(), role.strip()))
    out: dict[str, str] = {}
    for pattern, role in pairs:
        if role not in ROLES:
            raise InvalidParameterError(f"role '{role}' for '{pattern}' is not one of: {', '.join(ROLES)}")
        matched = [n for n in track_names if fnmatch.fnmatchcase(n, pattern)]
        if not matched:
            raise InvalidParameterError(f"role for '{pattern}': no such track; tracks are: {', '.join(track_names)}")
        for n in matched:
            out[n] = role
    return out


def is_low_source(name: str, role: str) -> bool:
    """Bass-range sources never get a high-pass: the bass role and kick drums."""
    words = _words(name)
    return role == "bass" or any(k in words for k in ("kick", "kik", "bd", "808", "sub"))


def is_centre_source(name: str, role: str) -> bool:
    """Sources kept in the centre: lead, bass, kick and snare (the mix's anchor)."""
    words = _words(name)
    return role in ("lead", "bass") or any(k in words for k in ("kick", "kik", "bd", "snare", "sn", "snr"))
