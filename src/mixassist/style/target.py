"""Style targets: what the ``match`` mixer solves toward, built from references, words and numbers.

A :class:`StyleTarget` collects the user's context — one or several reference songs with weights,
a strength per attribute (``--match tone=1,width=0.5``), descriptor words (``--describe``) and an
explicit loudness (``--loudness``) — and :meth:`StyleTarget.resolve` turns it into concrete
target features for one session, given the features of the starting mix.

How a reference becomes a target (see ``docs/style.md`` for the measurements behind it)
-----------------------------------------------------------------------------------------
A reference is a *different song*: its spectrum is mostly its content (a bass-heavy song reads
+20 dB at 50 Hz whatever its mix), and only a broad part of it is style. So banded features are
moved from the start mix toward the reference by the *broad* difference only::

    target_b = start_b + strength * clip(smooth(reference - start)_b, ±cap)

with a Gaussian smoothing of :data:`TONE_SMOOTHING_BANDS` third-octave bands for the spectra and
:data:`WIDTH_SMOOTHING_BANDS` for the width, capped at :data:`BROAD_CAP_DB`.  Scalars (loudness,
crest, short-term spread) move by ``strength * (reference - start)``.  Strength 0 holds an
attribute where the start mix has it; 1 goes the whole way.  Then descriptor words change the
target by their documented amounts (:mod:`mixassist.style.descriptors`), and an explicit loudness
overrides everything about loudness.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.ndimage import gaussian_filter1d

from mixassist.audio.io import load_audio
from mixassist.errors import InvalidParameterError
from mixassist.style.descriptors import BAND_REGIONS_HZ, Move, parse_description
from mixassist.style.features import StyleFeatures, style_features
from mixassist.style.result import DEFINED_FLAGS

__all__ = [
    "ATTRIBUTES",
    "BROAD_CAP_DB",
    "STRENGTH_FIELDS",
    "TONE_SMOOTHING_BANDS",
    "WIDTH_SMOOTHING_BANDS",
    "broad_difference",
    "Reference",
    "ResolvedTarget",
    "StyleTarget",
    "parse_reference_spec",
    "parse_strengths",
]

#: Attribute → the style-distance terms it governs (``--match ATTRIBUTE=STRENGTH``).
ATTRIBUTES: dict[str, tuple[str, ...]] = {
    "loudness": ("loudness_lu",),
    "tone": ("spectral_mid_db",),
    "width": ("width_db", "spectral_side_db"),
    "dynamics": ("crest_db", "short_term_spread_lu"),
}
TONE_SMOOTHING_BANDS = 4.0
"""Gaussian σ, in third-octave bands, of the reference-minus-start spectral difference."""
WIDTH_SMOOTHING_BANDS = 6.0
"""Gaussian σ, in bands, of the width difference (per-band width is mostly content)."""
#: Attribute → the :class:`StyleFeatures` fields its strength moves in :meth:`StyleTarget.resolve`
#: (loudness is not moved there: it is :meth:`StyleTarget.delivery_loudness`).
STRENGTH_FIELDS: dict[str, tuple[str, ...]] = {
    "tone": ("spectral_mid_db",),
    "width": ("spectral_side_db", "width_db", "width_overall_db"),
    "dynamics": ("crest_db", "short_term_spread_lu"),
}
_BAND_SMOOTHING = {
    "spectral_mid_db": TONE_SMOOTHING_BANDS,
    "spectral_side_db": TONE_SMOOTHING_BANDS,
    "width_db": WIDTH_SMOOTHING_BANDS,
}
BROAD_CAP_DB = 12.0
"""Largest change of any band a reference may ask for, dB."""


def parse_strengths(spec: str | Mapping[str, float] | None) -> dict[str, float]:
    """``"tone=1,width=0.5"`` (or a mapping) → ``{attribute: strength}``, every attribute present.

    Unnamed attributes keep strength 1. Raises :class:`InvalidParameterError` for an unknown
    attribute or a strength outside 0-1.
    """
    out = {a: 1.0 for a in ATTRIBUTES}
    if spec is None:
        return out
    items: Iterable[tuple[str, Any]]
    if isinstance(spec, str):
        pairs = []
        for part in spec.split(","):
            if not part.strip():
                continue
            name, eq, text = part.partition("=")
            if not eq:
                raise InvalidParameterError(
                    f"--match '{part.strip()}': write ATTRIBUTE=STRENGTH, e.g. tone=1,width=0.5"
                )
            pairs.append((name.strip(), text.strip()))
        items = pairs
    else:
        items = spec.items()
    for name, value in items:
        if name not in ATTRIBUTES:
            raise InvalidParameterError(f"--match: unknown attribute '{name}'; use {', '.join(ATTRIBUTES)}")
        try:
            strength = float(value)
        except (TypeError, ValueError):
            raise InvalidParameterError(f"--match {name}={value!r}: the strength must be a number 0-1") from None
        if not (math.isfinite(strength) and 0.0 <= strength <= 1.0):
            raise InvalidParameterError(f"--match {name}={value}: the strength must be within 0-1")
        out[name] = strength
    return out


def parse_reference_spec(spec: str) -> tuple[str, float]:
    """``"ref.wav"`` → ``("ref.wav", 1.0)``; ``"ref.wav:0.5"`` → ``("ref.wav", 0.5)``."""
    path, colon, weight = spec.rpartition(":")
    if colon and path and not os.path.exists(spec):
        try:
            value = float(weight)
        except ValueError:
            return spec, 1.0
        if not (math.isfinite(value) and value > 0):
            raise InvalidParameterError(f"--reference {spec}: the weight must be a positive number")
        return path, value
    return spec, 1.0


@dataclass(frozen=True)
class Reference:
    """One reference mix: its style features, weight and label, and its audio (kept for the
    neural controller, which summarises it on its own side: :mod:`mixassist.neural.reference`)."""

    features: StyleFeatures
    weight: float
    label: str
    audio: np.ndarray
    sample_rate: float


@dataclass
class ResolvedTarget:
    """Concrete target features for one session, and the setting moves words ask for.

    Attributes
    ----------
    features : StyleFeatures
        The target (same bands as the start mix).
    start : StyleFeatures
        The starting mix's features it was built from.
    reference : StyleFeatures or None
        The weighted blend of the references (None without one).
    moves : list of Move
        Descriptor words that move settings after the solve (reverb, track level).
    word_moves : list of Move
        Descriptor words that changed the target features.
    """

    features: StyleFeatures
    start: StyleFeatures
    reference: StyleFeatures | None
    moves: list[Move] = field(default_factory=list)
    word_moves: list[Move] = field(default_factory=list)


@dataclass
class StyleTarget:
    """The user's context for a mix, before it meets the session.

    Build with :meth:`from_audio` / :meth:`from_file` (one reference), :meth:`from_references`
    (several, weighted) or ``StyleTarget()`` (words and numbers only), then refine with
    :meth:`with_strengths`, :meth:`describe` and :meth:`with_loudness`.

    Examples
    --------
    >>> target = StyleTarget().describe("brighter, wider")
    >>> target.with_loudness(-16).loudness_lufs
    -16.0
    """

    references: list[Reference] = field(default_factory=list)
    strengths: dict[str, float] = field(default_factory=lambda: parse_strengths(None))
    description: str = ""
    loudness_lufs: float | None = None

    # ------------------------------------------------------------------ building
    @classmethod
    def from_audio(
        cls, audio: np.ndarray, sample_rate: float, *, weight: float = 1.0, label: str = "reference"
    ) -> StyleTarget:
        """One reference given as ``(channels, samples)`` audio."""
        return cls().add_reference(audio, sample_rate, weight=weight, label=label)

    @classmethod
    def from_file(cls, path: str | os.PathLike[str], *, weight: float = 1.0) -> StyleTarget:
        """One reference read from an audio file (any rate; loaded at its own rate)."""
        return cls().add_file(path, weight=weight)

    @classmethod
    def from_references(cls, references: Sequence[tuple[np.ndarray, float, float]]) -> StyleTarget:
        """Several references as ``(audio, sample_rate, weight)``; weights are normalised."""
        target = cls()
        for i, (audio, rate, weight) in enumerate(references):
            target = target.add_reference(audio, rate, weight=weight, label=f"reference {i + 1}")
        return target

    def add_reference(
        self, audio: np.ndarray, sample_rate: float, *, weight: float = 1.0, label: str = "reference"
    ) -> StyleTarget:
        """A copy with one more reference."""
        if (
            isinstance(weight, bool)
            or not isinstance(weight, (int, float))
            or not (math.isfinite(weight) and weight > 0)
        ):
            raise InvalidParameterError(f"{label}: weight={weight!r}; pass a positive number")
        features = style_features(np.asarray(audio), sample_rate)
        if features.loudness_lufs is None or features.spectral_mid_db is None:
            raise InvalidParameterError(
                f"{label}: the reference is silent or shorter than 0.4 s; it has no style to match"
            )
        return StyleTarget(
            [*self.references, Reference(features, float(weight), label, np.asarray(audio), sample_rate)],
            dict(self.strengths),
            self.description,
            self.loudness_lufs,
        )

    def add_file(self, path: str | os.PathLike[str], *, weight: float = 1.0) -> StyleTarget:
        """A copy with one more reference read from ``path``."""
        audio, rate = load_audio(path)
        return self.add_reference(audio, rate, weight=weight, label=str(path))

    def with_strengths(self, spec: str | Mapping[str, float] | None) -> StyleTarget:
        """A copy with strengths per attribute (``"tone=1,width=0.5"``; others keep theirs)."""
        merged = dict(self.strengths)
        if spec is not None:
            given = parse_strengths(spec)
            named = (
                spec
                if isinstance(spec, Mapping)
                else {p.partition("=")[0].strip() for p in spec.split(",") if p.strip()}
            )
            merged.update({k: given[k] for k in named})
        return StyleTarget(list(self.references), merged, self.description, self.loudness_lufs)

    def describe(self, words: str | None) -> StyleTarget:
        """A copy with descriptor words added (checked against the track names in :meth:`resolve`)."""
        if not words:
            return self
        parse_description(words, None)  # fail early on unknown words; track names are checked in resolve
        text = f"{self.description}, {words}" if self.description else words
        return StyleTarget(list(self.references), dict(self.strengths), text, self.loudness_lufs)

    def with_loudness(self, lufs: float | None) -> StyleTarget:
        """A copy with an explicit integrated loudness (overrides references and words)."""
        if lufs is not None:
            if isinstance(lufs, bool) or not isinstance(lufs, (int, float)) or not (-40.0 <= float(lufs) <= -5.0):
                raise InvalidParameterError(f"loudness {lufs!r} is outside -40…-5 LUFS")
            lufs = float(lufs)
        return StyleTarget(list(self.references), dict(self.strengths), self.description, lufs)

    @property
    def is_empty(self) -> bool:
        """No reference and no words: nothing to match (an explicit loudness alone is not a style)."""
        return not self.references and not self.description

    # ------------------------------------------------------------------ using
    def delivery_loudness(self) -> float:
        """The loudness a mix for this target is delivered at: explicit, else the references'
        blend (by the loudness strength, from −14 LUFS), plus loudness words; within −40…−5."""
        if self.loudness_lufs is not None:
            return self.loudness_lufs
        value = -14.0
        ref = self.reference_features()
        if ref is not None and ref.loudness_lufs is not None:
            value += self.strengths["loudness"] * (ref.loudness_lufs - value)
        for m in parse_description(self.description, None) if self.description else []:
            if m.descriptor.feature == "loudness":
                value += m.amount
        return float(np.clip(value, -40.0, -5.0))

    def reference_features(self) -> StyleFeatures | None:
        """The weighted blend of the references' features (None without references)."""
        if not self.references:
            return None
        first = self.references[0].features
        centres = first.band_centres_hz
        for r in self.references[1:]:
            centres = np.intersect1d(centres, r.features.band_centres_hz)

        def blend(name: str) -> Any:
            values = [getattr(r.features, name) for r in self.references]
            if any(v is None for v in values):
                present = [(v, r.weight) for v, r in zip(values, self.references) if v is not None]
                if not present:
                    return None
                values, weights = [v for v, _ in present], [w for _, w in present]
            else:
                weights = [r.weight for r in self.references]
            if isinstance(values[0], np.ndarray):
                picked = [v[np.isin(r.features.band_centres_hz, centres)] for v, r in zip(values, self.references)]
                return np.sum([w * v for v, w in zip(picked, weights)], axis=0) / sum(weights)
            return float(sum(w * v for v, w in zip(values, weights)) / sum(weights))

        # every feature, blended in the order of its field
        return StyleFeatures(**{name: blend(name) for name in DEFINED_FLAGS}, band_centres_hz=np.array(centres))

    def resolve(
        self, start: StyleFeatures, track_names: Sequence[str] = (), *, reference: StyleFeatures | None = None
    ) -> ResolvedTarget:
        """Concrete target features for a session whose starting mix measures ``start``.

        ``reference`` replaces the references' blend as what the strengths move toward (the
        ``auto`` method aims at the controller's own mixes of the session); the loudness stays
        :meth:`delivery_loudness`.

        Raises
        ------
        InvalidParameterError
            The start mix has no style (silent), or a word names a track not in ``track_names``.
        """
        if start.loudness_lufs is None or start.spectral_mid_db is None or start.width_db is None:
            raise InvalidParameterError("the starting mix is silent: there is nothing to move toward a style")
        centres = start.band_centres_hz
        values: dict[str, Any] = {
            "loudness_lufs": start.loudness_lufs,
            "spectral_mid_db": np.array(start.spectral_mid_db, dtype=float),
            "spectral_side_db": np.array(start.spectral_side_db, dtype=float),
            "width_db": np.array(start.width_db, dtype=float),
            "width_overall_db": start.width_overall_db,
            "crest_db": start.crest_db,
            "short_term_spread_lu": start.short_term_spread_lu,
        }
        ref = reference if reference is not None else self.reference_features()
        if ref is not None:
            for attr, names in STRENGTH_FIELDS.items():
                strength = self.strengths[attr]
                for name in names:
                    here, there = values[name], getattr(ref, name)
                    if name in _BAND_SMOOTHING:  # per band: a broad, capped move
                        values[name] = _broad_move(
                            here, there, centres, ref.band_centres_hz, strength, _BAND_SMOOTHING[name]
                        )
                    elif here is not None and there is not None:
                        values[name] = here + strength * (there - here)
        moves = parse_description(self.description, track_names) if self.description else []
        settings_moves, word_moves = [], []
        for m in moves:
            d = m.descriptor
            if d.feature in ("reverb", "track_level"):
                settings_moves.append(m)
                continue
            word_moves.append(m)
            region = BAND_REGIONS_HZ.get(d.feature)
            band = None if region is None else (centres >= region[0]) & (centres < region[1])
            if band is not None:
                # move the bands, then re-reference to the new total mid power (the levels are
                # relative to it): a cut in bands that hold most of the power lowers the total too
                mid = values["spectral_mid_db"].copy()
                mid[band] += m.amount
                shift = 10 * np.log10(np.sum(10 ** (mid / 10)) / np.sum(10 ** (values["spectral_mid_db"] / 10)))
                values["spectral_mid_db"] = mid - shift
                values["spectral_side_db"][band] += m.amount
                values["spectral_side_db"] = values["spectral_side_db"] - shift
            elif d.feature == "width":
                values["width_db"] = values["width_db"] + m.amount
                values["spectral_side_db"] = values["spectral_side_db"] + m.amount
                if values["width_overall_db"] is not None:
                    values["width_overall_db"] += m.amount
            elif d.feature == "crest":
                values["crest_db"] = values["crest_db"] + m.amount if values["crest_db"] is not None else None
            elif d.feature == "loudness":  # the level itself is in delivery_loudness
                if values["crest_db"] is not None:
                    values["crest_db"] += d.also_crest_db * m.scale
        # The loudness target does not depend on the start: the start was delivered at some
        # level already, and moving *it* by the strength and the words counted them twice.
        values["loudness_lufs"] = self.delivery_loudness()
        features = StyleFeatures(band_centres_hz=np.array(centres), **values)
        return ResolvedTarget(features, start, ref, settings_moves, word_moves)

    def to_dict(self) -> dict[str, Any]:
        """Strict-JSON summary for the recipe's context."""
        return {
            "references": [
                {"label": r.label, "weight": r.weight, "features": r.features.to_dict()} for r in self.references
            ],
            "strengths": dict(self.strengths),
            "describe": self.description or None,
            "loudness_lufs": self.loudness_lufs,
            "smoothing": {
                "tone_bands": TONE_SMOOTHING_BANDS,
                "width_bands": WIDTH_SMOOTHING_BANDS,
                "cap_db": BROAD_CAP_DB,
            },
        }


def broad_difference(diff: np.ndarray, sigma: float, cap_db: float = BROAD_CAP_DB) -> np.ndarray:
    """``clip(smooth(diff), ±cap_db)``: the broad part of a per-band difference (Gaussian σ in bands,
    edges held), what a reference's spectrum says about style rather than content."""
    diff = np.asarray(diff, dtype=float)
    smooth = gaussian_filter1d(diff, sigma, mode="nearest") if diff.size > 1 else diff
    return np.clip(smooth, -cap_db, cap_db)


def _broad_move(
    start: np.ndarray,
    ref: np.ndarray | None,
    centres: np.ndarray,
    ref_centres: np.ndarray,
    strength: float,
    sigma: float,
) -> np.ndarray:
    """``start + strength * clip(smooth(ref - start), ±cap)`` over the bands both have."""
    if ref is None or strength == 0.0:
        return start.copy()
    common = np.isin(centres, ref_centres)
    out = start.copy()
    out[common] += strength * broad_difference(ref[np.isin(ref_centres, centres)] - start[common], sigma)
    return out
