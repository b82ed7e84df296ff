"""Plain words → documented changes of a style target: the one table of descriptor words.

``--describe "brighter, a bit wider, vocals forward"`` is parsed here into :class:`Move` objects.
Each word either changes the *target features* the ``match`` mixer solves toward (tone, width,
dynamics, loudness), or moves a *setting* after the solve (reverb return, one track's fader),
because no style feature measures it directly.  Every word states how much it asks for and the
least change of its measured feature a user can count on (``docs/style.md``; the tests check each
word against that figure).

Grammar: words separated by commas, ``and`` or ``;``.  A word may carry a comparative
(``brighter``), ``more``/``less`` (``less bright`` = ``dark``), and a size modifier:
``slightly``/``a bit``/``a little`` (half), ``much``/``very``/``a lot`` (1.5×).  ``TRACK forward``
and ``TRACK back`` (also ``up``/``down``, ``louder``/``quieter``) name a track of the session
(shell wildcards allowed: ``'drum*' back``).
"""

from __future__ import annotations

import difflib
import fnmatch
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from mixassist.errors import InvalidParameterError

__all__ = [
    "Descriptor",
    "Move",
    "DESCRIPTORS",
    "BAND_REGIONS_HZ",
    "FEATURE_SOURCES",
    "feature_value",
    "parse_description",
    "descriptor_table_markdown",
]

#: The band region each tone word moves: feature → (low Hz, high Hz), inclusive below, exclusive above.
BAND_REGIONS_HZ: dict[str, tuple[float, float]] = {
    "high": (4000.0, 1e9),
    "low_mid": (100.0, 400.0 + 1e-6),
    "low": (0.0, 250.0),
}


@dataclass(frozen=True)
class Descriptor:
    """One word and what it changes.

    Attributes
    ----------
    word : str
        The word (``"bright"``).
    opposite : str
        The word that undoes it.
    feature : str
        What it changes: ``"high"`` (mid and side band levels at and above 4 kHz against the
        other bands), ``"low_mid"`` (100-400 Hz), ``"low"`` (below 250 Hz), ``"width"`` (every band's side-to-mid ratio),
        ``"crest"`` (crest factor), ``"loudness"`` (integrated loudness), ``"reverb"`` (reverb
        return level, a setting) or ``"track_level"`` (one fader, a setting).
    amount : float
        The change asked for, dB or LU (signed).
    at_least : float
        The least change of the measured feature the result shows (signed like ``amount``),
        checked by the tests.
    measured_by : str
        How the change is measured, in words.
    also_crest_db : float
        An extra crest target change that goes with loudness words (``loud`` trades crest).
    """

    word: str
    opposite: str
    feature: str
    amount: float
    at_least: float
    measured_by: str
    also_crest_db: float = 0.0


_HIGH = "mean mid band level at and above 4 kHz minus that of the other bands (dB)"
_LOW_MID = "mean mid band level 100-400 Hz minus that of the other bands (dB)"
_LOW = "mean mid band level below 250 Hz minus that of the other bands (dB)"

#: Every descriptor word. Settings-words (reverb, track level) are exact moves after the solve.
DESCRIPTORS: dict[str, Descriptor] = {
    d.word: d
    for d in (
        Descriptor("bright", "dark", "high", +3.0, +1.5, _HIGH),
        Descriptor("dark", "bright", "high", -3.0, -1.5, _HIGH),
        Descriptor("warm", "thin", "low_mid", +2.5, +1.0, _LOW_MID),
        Descriptor("thin", "warm", "low", -3.0, -1.5, _LOW),
        Descriptor("wide", "narrow", "width", +3.0, +1.5, "overall side-to-mid power ratio (dB)"),
        Descriptor("narrow", "wide", "width", -3.0, -2.0, "overall side-to-mid power ratio (dB)"),
        Descriptor("punchy", "smooth", "crest", +2.0, +1.0, "crest factor, peak over RMS (dB)"),
        Descriptor("smooth", "punchy", "crest", -2.0, -0.2, "crest factor, peak over RMS (dB)"),
        Descriptor("wet", "dry", "reverb", +6.0, +5.5, "reverb return level: wet-to-dry energy ratio (dB)"),
        Descriptor("dry", "wet", "reverb", -6.0, -5.5, "reverb return level: wet-to-dry energy ratio (dB)"),
        Descriptor("loud", "dynamic", "loudness", +3.0, +2.5, "integrated loudness (LU)", also_crest_db=-1.0),
        Descriptor("dynamic", "loud", "loudness", -3.0, -2.5, "integrated loudness (LU)", also_crest_db=+1.5),
        Descriptor(
            "forward", "back", "track_level", +3.0, +2.0, "the track's level relative to the rest of the mix (LU)"
        ),
        Descriptor(
            "back", "forward", "track_level", -3.0, -2.0, "the track's level relative to the rest of the mix (LU)"
        ),
    )
}

_COMPARATIVES = {
    "brighter": "bright",
    "darker": "dark",
    "warmer": "warm",
    "thinner": "thin",
    "wider": "wide",
    "narrower": "narrow",
    "punchier": "punchy",
    "smoother": "smooth",
    "wetter": "wet",
    "drier": "dry",
    "dryer": "dry",
    "louder": "loud",
    "more dynamic": "dynamic",
    "quieter": "dynamic",
    "up": "forward",
    "down": "back",
    "front": "forward",
    "backward": "back",
    "backwards": "back",
}
_TRACK_WORDS = {
    "forward": "forward",
    "back": "back",
    "up": "forward",
    "down": "back",
    "louder": "forward",
    "quieter": "back",
    "front": "forward",
    "backward": "back",
    "backwards": "back",
}
_SIZES = {
    "slightly": 0.5,
    "a bit": 0.5,
    "a little": 0.5,
    "a touch": 0.5,
    "somewhat": 0.5,
    "much": 1.5,
    "very": 1.5,
    "a lot": 1.5,
    "way": 1.5,
    "more": 1.0,
}


@dataclass(frozen=True)
class Move:
    """One parsed descriptor: the word, its size factor and (for track words) the tracks."""

    descriptor: Descriptor
    scale: float = 1.0
    tracks: tuple[str, ...] = ()
    text: str = ""

    @property
    def amount(self) -> float:
        return self.descriptor.amount * self.scale

    @property
    def at_least(self) -> float:
        return self.descriptor.at_least * self.scale

    def describe(self) -> str:
        d = self.descriptor
        unit = "LU" if d.feature in ("loudness", "track_level") else "dB"
        who = f"{', '.join(self.tracks)}: " if self.tracks else ""
        return f"'{self.text}': {who}{d.measured_by} {self.amount:+.1f} {unit}"


#: The style feature each feature word is read from (setting words have none).
FEATURE_SOURCES: dict[str, str] = {
    **{region: "spectral_mid_db" for region in BAND_REGIONS_HZ},
    "width": "width_overall_db",
    "crest": "crest_db",
    "loudness": "loudness_lufs",
}


def feature_value(feature: str, features: Any) -> Any:
    """The measured value a feature word moves, from a ``StyleFeatures`` (or its dict), or from
    :func:`~mixassist.style.features.style_features_torch` tensors (then a tensor, with its
    gradient): band words read their region's mean mid level minus the other bands' mean;
    ``width`` the overall width, ``crest`` the crest factor, ``loudness`` the loudness. None for
    setting words and undefined features."""
    get = features.get if isinstance(features, dict) else lambda k: getattr(features, k)
    key = FEATURE_SOURCES.get(feature)
    value = None if key is None else get(key)
    if value is None:
        return None
    tensor = hasattr(value, "detach")
    if feature in BAND_REGIONS_HZ:
        lo, hi = BAND_REGIONS_HZ[feature]
        centres = np.asarray(get("band_centres_hz"), dtype=float)
        inside = (centres >= lo) & (centres < hi)
        if tensor:
            import torch  # lazy: torch costs about a second at start-up; only tensor inputs need it

            mask = torch.from_numpy(inside)
            return value[..., mask].mean(-1) - value[..., ~mask].mean(-1)
        mid = np.asarray(value, dtype=float)
        return float(mid[inside].mean() - mid[~inside].mean())
    return value if tensor else float(value)


def _split(text: str) -> list[str]:
    parts = re.split(r",|;|\band\b", text.lower())
    return [" ".join(p.split()) for p in parts if p.strip()]


def _size(phrase: str) -> tuple[float, str]:
    for size in sorted(_SIZES, key=len, reverse=True):
        if phrase.startswith(size + " "):
            return _SIZES[size], phrase[len(size) + 1 :]
    return 1.0, phrase


def parse_description(text: str, track_names: Sequence[str] | None = ()) -> list[Move]:
    """Parse ``"brighter, a bit wider, vocals forward"`` into moves.

    Parameters
    ----------
    text : str
        Descriptor words (see the module notes for the grammar).
    track_names : sequence of str or None
        The session's tracks, for ``TRACK forward/back``; None accepts any track name (to check
        the words before the session is known).

    Raises
    ------
    InvalidParameterError
        An unknown word (with the closest known one), a track that is not in the session, or two
        words that contradict each other (``brighter, darker``).

    Examples
    --------
    >>> [m.describe() for m in parse_description("brighter, a bit wider")]  # doctest: +NORMALIZE_WHITESPACE
    ["'brighter': mean of the mid band levels at and above 4 kHz (dB re total mid power) +3.0 dB",
     "'a bit wider': overall side-to-mid power ratio (dB) +1.5 dB"]
    """
    if not isinstance(text, str):
        raise InvalidParameterError(f"describe: expected words such as 'brighter, wider', got {text!r}")
    names = list(track_names) if track_names is not None else []
    moves: list[Move] = []
    for phrase in _split(text):
        scale, rest = _size(phrase)
        negate = False
        if rest.startswith("less "):
            negate, rest = True, rest[5:]
        if rest.startswith("more ") and rest != "more dynamic":
            rest = rest[5:]
        words = rest.split()
        tracks: tuple[str, ...] = ()
        if len(words) >= 2 and words[-1] in _TRACK_WORDS:
            pattern = " ".join(words[:-1])
            matched = [n for n in names if fnmatch.fnmatchcase(n.lower(), pattern)]
            if track_names is None:
                matched = [pattern]
            if not matched:
                close = difflib.get_close_matches(pattern, [n.lower() for n in names], n=1)
                hint = f"; did you mean '{close[0]} {words[-1]}'?" if close else ""
                raise InvalidParameterError(
                    f"describe '{phrase}': no track named '{pattern}'{hint} (tracks: {', '.join(names) or 'none'})"
                )
            tracks, key = tuple(matched), _TRACK_WORDS[words[-1]]
        else:
            key = _COMPARATIVES.get(rest, rest)
            if key not in DESCRIPTORS or key in ("forward", "back"):
                known = sorted(
                    {*DESCRIPTORS, *_COMPARATIVES} - {"forward", "back", "up", "down", "front", "backward", "backwards"}
                )
                close = difflib.get_close_matches(rest, known, n=1)
                hint = f"; did you mean '{close[0]}'?" if close else ""
                raise InvalidParameterError(
                    f"describe: unknown word '{phrase}'{hint} (known: {', '.join(sorted(DESCRIPTORS))}, "
                    "TRACK forward, TRACK back; see docs/style.md)"
                )
        if negate:
            key = DESCRIPTORS[key].opposite
        moves.append(Move(DESCRIPTORS[key], scale, tracks, phrase))
    _check_contradictions(moves)
    return moves


def _check_contradictions(moves: list[Move]) -> None:
    seen: dict[tuple[str, tuple[str, ...]], Move] = {}
    for m in moves:
        key = (m.descriptor.feature, m.tracks)
        other = seen.get(key)
        if other is not None and np.sign(other.amount) != np.sign(m.amount):
            raise InvalidParameterError(f"describe: '{other.text}' and '{m.text}' ask for opposite changes")
        seen[key] = m


def descriptor_table_markdown() -> str:
    """The table of words as Markdown (the one printed in ``docs/style.md``)."""
    lines = ["| word | opposite | changes | asked | at least |", "|---|---|---|---|---|"]
    for d in DESCRIPTORS.values():
        unit = "LU" if d.feature in ("loudness", "track_level") else "dB"
        word = f"TRACK {d.word}" if d.feature == "track_level" else d.word
        extra = f"; crest target {d.also_crest_db:+g} dB" if d.also_crest_db else ""
        lines.append(
            f"| {word} | {d.opposite} | {d.measured_by}{extra} | {d.amount:+g} {unit} | {d.at_least:+g} {unit} |"
        )
    return "\n".join(lines)
