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
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Any

import numpy as np

from mixassist.audio.multitrack import AUDIO_SUFFIXES
from mixassist.errors import InvalidParameterError
from mixassist.roles import ROLES

__all__ = [
    "KIT_FAMILIES",
    "ROLES",
    "PRIORITY",
    "RoleGuess",
    "infer_role",
    "is_centre_source",
    "is_kick",
    "is_low_source",
    "mic_source_key",
    "multi_mic_candidates",
    "name_family",
    "name_tokens",
    "parse_role_overrides",
    "split_side",
]

#: Balance priority (higher is more important): the order in which tracks claim the
#: spectrum when masking is resolved.
PRIORITY: dict[str, int] = {"lead": 7, "drums": 6, "bass": 5, "chords": 4, "arp": 3, "percussion": 3, "pad": 2, "fx": 1}

#: The name table (``role_names.json``, documented in ``docs/mixing.md``, "Roles from names").
_TABLE: dict[str, Any] = json.loads(
    resources.files(__package__).joinpath("role_names.json").read_text(encoding="utf-8")
)
_RULES: tuple[tuple[str, tuple[tuple[str, ...], ...], frozenset[str]], ...] = tuple(
    (r["role"], tuple(tuple(p) for p in r["phrases"]), frozenset(r["words"])) for r in _TABLE["rules"]
)
_AMBIGUOUS: dict[str, tuple[str, str]] = {k: (v[0], v[1]) for k, v in _TABLE["ambiguous"].items()}
_SIDE_WORDS: dict[str, str] = dict(_TABLE["side_words"])
_POSITION_WORDS: frozenset[str] = frozenset(_TABLE["position_words"])
_FAMILIES: tuple[tuple[str, tuple[tuple[str, ...], ...], frozenset[str], bool], ...] = tuple(
    (f, tuple(tuple(p) for p in v["phrases"]), frozenset(v["words"]), bool(v["one_source"]))
    for f, v in _TABLE["families"].items()
)
KIT_FAMILIES: frozenset[str] = frozenset(_TABLE["kit_families"])
"""Families that make up a multi-mic drum kit (kick, snare, toms, hats, overheads, room)."""
_KICK_WORDS = ("kick", "kicks", "kik", "bd", "bassdrum", "kickdrum")
_EXTENSION = re.compile(r"\.(?:" + "|".join(s.lstrip(".") for s in AUDIO_SUFFIXES) + r")$", re.IGNORECASE)


@dataclass(frozen=True)
class RoleGuess:
    """A track's role and why it was chosen (``source``: ``user``, ``name`` or ``audio``)."""

    role: str
    source: str
    reason: str


def name_tokens(name: str) -> list[str]:
    """A track name as lower-case words: extension dropped, split at separators (``_ - .``
    and spaces), CamelCase and letter/digit boundaries.

    >>> name_tokens("BackingVox_02.wav")
    ['backing', 'vox', '02']
    >>> name_tokens("808Kick")
    ['808', 'kick']
    """
    stem = _EXTENSION.sub("", name.strip())
    spaced = re.sub(r"([a-z])([A-Z])", r"\1 \2", stem)
    spaced = re.sub(r"([A-Za-z])(\d)|(\d)([A-Za-z])", r"\1\3 \2\4", spaced)
    return [p for p in re.split(r"[^a-z0-9]+", spaced.lower()) if p]


def _words(name: str) -> set[str]:
    # every token, plus the separator-split parts ("violin1"), the joined name ("leadvox")
    stem = _EXTENSION.sub("", name.strip())
    parts = [p for p in re.split(r"[^a-z0-9]+", re.sub(r"([a-z])([A-Z])", r"\1 \2", stem).lower()) if p]
    joined = re.sub(r"[^a-z0-9]", "", stem.lower())
    return {*name_tokens(name), *parts, joined, re.sub(r"\d+$", "", joined)}


def _has_phrase(tokens: list[str], phrase: tuple[str, ...]) -> bool:
    n = len(phrase)
    return any(tuple(tokens[i : i + n]) == phrase for i in range(len(tokens) - n + 1))


def _match(
    tokens: list[str], words: set[str], phrases: tuple[tuple[str, ...], ...], keys: frozenset[str]
) -> str | None:
    for phrase in phrases:
        if _has_phrase(tokens, phrase):
            return " ".join(phrase)
    hits = sorted(k for k in keys if k in words)
    return hits[0] if hits else None


def _from_name(name: str) -> tuple[str, str] | None:
    tokens = name_tokens(name)
    words = _words(name)
    for role, phrases, keys in _RULES:
        key = _match(tokens, words, phrases, keys)
        if key is not None:
            return role, key
    return None


def _ambiguous(name: str) -> tuple[str, tuple[str, str]] | None:
    words = _words(name)
    for key, roles in _AMBIGUOUS.items():
        if key in words:
            return key, roles
    return None


def is_kick(name: str) -> bool:
    """True when the name says kick drum ("Kick In", "BD", "Bass Drum", "808 Kick")."""
    words = _words(name)
    return any(k in words for k in _KICK_WORDS) or _has_phrase(name_tokens(name), ("bass", "drum"))


def split_side(name: str) -> tuple[str, str | None]:
    """``(base, side)``: the name without a trailing left/right word, and ``"L"``/``"R"`` or None.

    >>> split_side("OH_left")
    ('oh', 'L')
    >>> split_side("Piano")
    ('piano', None)
    """
    tokens = name_tokens(name)
    if len(tokens) > 1 and tokens[-1] in _SIDE_WORDS:
        return " ".join(tokens[:-1]), _SIDE_WORDS[tokens[-1]]
    return " ".join(tokens), None


def name_family(name: str) -> str | None:
    """The source family a name belongs to (``kick``, ``snare``, ``toms``, ``hats``,
    ``overheads``, ``room``, ``bass``, ``guitar``), or None."""
    tokens = name_tokens(name)
    words = _words(name)
    for family, phrases, keys, _ in _FAMILIES:
        if _match(tokens, words, phrases, keys) is not None:
            return family
    return None


def mic_source_key(name: str) -> str:
    """The name with digits, side and microphone-position words removed: "Kick In" and
    "Kick_Out" share the key ``kick``; "Tom 1" and "Tom 2" share ``tom``."""
    tokens = [t for t in name_tokens(name) if not t.isdigit() and t not in _SIDE_WORDS and t not in _POSITION_WORDS]
    return " ".join(tokens)


def multi_mic_candidates(names: Iterable[str]) -> list[tuple[str, str]]:
    """Pairs of tracks whose names say they are two microphones on one source.

    Two names qualify when they belong to the same one-source family (kick, snare, bass,
    guitar), differ only in microphone-position words, digits or nothing else (``Kick In`` /
    ``Kick Out`` / ``Kick Sub``, ``Snare Top`` / ``Snare Bottom``, ``Bass DI`` / ``Bass Amp``),
    and are not a left/right pair.  These are *hints*: the alignment step measures every
    hinted pair in full and groups it only when the audio confirms it.
    """
    info = []
    for n in names:
        family = name_family(n)
        one_source = any(f == family and single for f, _, _, single in _FAMILIES)
        if one_source:
            info.append((n, family, mic_source_key(n), split_side(n)[1]))
    pairs = []
    for i, (a, fa, ka, sa) in enumerate(info):
        for b, fb, kb, sb in info[i + 1 :]:
            if fa == fb and (ka == kb or not ka or not kb) and not (sa and sb and sa != sb):
                pairs.append((a, b))
    return pairs


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
    ambiguous = _ambiguous(name)
    if ambiguous is not None:
        return _decide_ambiguous(name, ambiguous[0], ambiguous[1], audio, sample_rate)
    return _from_audio(audio, sample_rate)


def _decide_ambiguous(name: str, key: str, roles: tuple[str, str], audio: np.ndarray, sample_rate: int) -> RoleGuess:
    """A name word that means either of two roles ("808": a bass line or a kick) is decided by
    how long the sound holds: notes that sustain are the bass, short decaying hits the drum."""
    sustained, what = _sustain_share(audio, sample_rate)
    if sustained is None:
        return RoleGuess(roles[0], "name", f"the name '{name}' contains '{key}' (silent; read as {roles[0]})")
    role = roles[0] if sustained >= 0.5 else roles[1]
    return RoleGuess(role, "name", f"the name '{name}' contains '{key}', and the sound {what}")


def _sustain_share(audio: np.ndarray, sample_rate: int) -> tuple[float | None, str]:
    """Share of the sounding time (frames within 40 dB of the loudest) that stays within
    12 dB of the loudest frames (their 95th percentile); ``None`` when silent."""
    mono = np.asarray(np.mean(audio, axis=0, dtype=np.float64))
    hop = max(1, sample_rate // 100)  # 10 ms frames
    frames = mono.size // hop
    if frames == 0 or not np.any(mono):
        return None, "is silent"
    energy = np.mean(mono[: frames * hop].reshape(frames, hop) ** 2, axis=1) + 1e-30
    level_db = 10 * np.log10(energy)
    top = float(np.percentile(level_db, 95))
    sounding = level_db > top - 40.0
    share = float(np.mean(level_db[sounding] > top - 12.0))
    verb = "sustains like a bass line" if share >= 0.5 else "is short decaying hits"
    return share, f"{verb} ({100 * share:.0f} % of its sounding time within 12 dB of its peak level)"


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
    """Bass-range sources never get a high-pass: the bass role and kick drums (and 808s, subs)."""
    words = _words(name)
    return role == "bass" or is_kick(name) or any(k in words for k in ("808", "sub"))


def is_centre_source(name: str, role: str) -> bool:
    """Sources kept in the centre: lead, bass, kick and snare (the mix's anchor).

    Backing vocals (role ``chords`` from their name: "BVs", "Harmony Vox") are not centred,
    and neither is a left/right half of a pair ("OH L").
    """
    words = _words(name)
    if split_side(name)[1] is not None and role not in ("lead", "bass"):
        return False
    return role in ("lead", "bass") or is_kick(name) or any(k in words for k in ("snare", "sn", "snr"))
