"""What the closed loop aims at (:mod:`mixassist.mixers.follow`, step 2): the reference's features
moved by the strengths and words, the song's features predicted from an excerpt's change, and the
score a pass is kept by.

A reference is another song: its detailed mid spectrum is mostly its content, so the tonal aim moves
by the broad, capped part of ``reference − start`` (:func:`mixassist.style.target.broad_difference`,
the rule ``match`` uses), band by band only above a band-limited reference's edge, where the master
low-pass follows it (:func:`top_edge`). Chosen on the validation splits: ``docs/mixing.md``, "Only
the broad tone".
"""

from __future__ import annotations

from typing import Any

import numpy as np

from mixassist.measure import THIRD_OCTAVE_CENTRES_HZ, FidelityRow
from mixassist.style.descriptors import BAND_REGIONS_HZ, parse_description
from mixassist.style.target import BROAD_CAP_DB, TONE_SMOOTHING_BANDS, StyleTarget, broad_difference

__all__ = [
    "BAND_LIMIT_DB",
    "LOOP_TONE_CAP_DB",
    "LOOP_TONE_SMOOTHING_BANDS",
    "aim_features",
    "blend_features",
    "broad_tone_why",
    "excess",
    "relative_difference",
    "shifted",
    "top_edge",
    "toward",
]

#: The loop's tonal aim moves each third-octave band by ``strength × clip(smooth(reference − start), ±cap)``
#: (:func:`mixassist.style.target.broad_difference`): Gaussian σ in bands, and the cap in dB. Tried
#: on the validation splits against other σ and caps (``docs/mixing.md``, "Only the broad tone"),
#: ``match``'s own values won: the loop and ``match`` read a reference one way.
LOOP_TONE_SMOOTHING_BANDS = TONE_SMOOTHING_BANDS
LOOP_TONE_CAP_DB = BROAD_CAP_DB
BAND_LIMIT_DB = 12.0
"""How far (dB) a reference's top bands must sit below the mix's before the master low-pass follows them."""

_TONE = ("mid_third_octave_db",)
_WIDTH = ("side_third_octave_db",)
_DYNAMICS = ("plr_db", "crest_db", "loudness_range_lu", "short_term_spread_lu")


def blend_features(features: list[tuple[dict[str, Any], float]]) -> dict[str, Any]:
    """The weighted mean of several :func:`reference_features` results (weights normalised); a
    value missing in one reference is the mean of the others."""
    if len(features) == 1:
        return features[0][0]

    def mean(values: list[tuple[Any, float]]) -> Any:
        present = [(v, w) for v, w in values if v is not None]
        if not present:
            return None
        total = sum(w for _, w in present)
        return float(sum(float(v) * w for v, w in present) / total)

    out = dict(features[0][0])
    for key, value in features[0][0].items():
        if isinstance(value, list):
            out[key] = [mean([(f[key][i], w) for f, w in features]) for i in range(len(value))]
        elif isinstance(value, dict) and key != "reasons":
            out[key] = {k: mean([(f[key].get(k), w) for f, w in features]) for k in value}
        elif isinstance(value, float) or value is None:
            out[key] = mean([(f.get(key), w) for f, w in features])
    return out


def toward(start: Any, ref: Any, strength: float) -> Any:
    if isinstance(ref, list):
        return [toward(a, b, strength) for a, b in zip(start, ref)]
    if isinstance(ref, dict):
        return {k: toward(start.get(k), v, strength) for k, v in ref.items()}
    if start is None or ref is None:
        return ref
    return float(start) + strength * (float(ref) - float(start))


def relative_difference(ref: list[float | None], mix: list[float | None]) -> np.ndarray:
    """Third-octave ``ref − mix`` (NaN where either is None), re its 250 Hz-2 kHz median (all NaN: none)."""
    diff = np.array([np.nan if a is None or b is None else a - b for a, b in zip(ref, mix)], dtype=float)
    if np.all(np.isnan(diff[8:18])):
        return np.full_like(diff, np.nan)
    return diff - np.nanmedian(diff[8:18])


def top_edge(diff: np.ndarray) -> int | None:
    """Where a band-limited reference's spectrum ends: the lowest third-octave, at or above 1 kHz, from
    which every band up sits :data:`BAND_LIMIT_DB` or more below the mix's (``diff``:
    :func:`relative_difference`). None: the reference is not band-limited against the mix."""
    centres = np.asarray(THIRD_OCTAVE_CENTRES_HZ)
    first = None
    for i in range(len(diff) - 1, -1, -1):
        if np.isnan(diff[i]):
            continue
        if diff[i] > -BAND_LIMIT_DB or centres[i] < 1000.0:
            break
        first = i
    return first


def _broad_toward(start: list[float | None], ref: list[float | None], strength: float) -> list[float | None]:
    """``start + strength × clip(smooth(ref − start), ±LOOP_TONE_CAP_DB)`` over the bands both have
    (None elsewhere, as :func:`toward`: the reference's value where the start has none), below a
    band-limited reference's edge (:func:`top_edge`); from the edge up, the band-by-band move
    (the master low-pass follows it, and the aim must agree with what the loop does)."""
    edge = top_edge(relative_difference(toward(start, ref, strength), start))
    if edge is None:
        return _broad(start, ref, strength)
    return [*_broad(start[:edge], ref[:edge], strength), *toward(start[edge:], ref[edge:], strength)]


def _broad(start: list[float | None], ref: list[float | None], strength: float) -> list[float | None]:
    both = [i for i, (a, b) in enumerate(zip(start, ref)) if a is not None and b is not None]
    out = [b if a is None else (None if b is None else float(a)) for a, b in zip(start, ref)]
    if both:
        diff = np.array([float(ref[i]) - float(start[i]) for i in both])  # type: ignore[arg-type]
        move = strength * broad_difference(diff, LOOP_TONE_SMOOTHING_BANDS, LOOP_TONE_CAP_DB)
        for i, d in zip(both, move):
            out[i] = float(start[i]) + float(d)  # type: ignore[arg-type]
    return out


def broad_tone_why() -> str:
    """Why the tonal aim is not the reference's balance itself (the fidelity table's reason)."""
    return (
        f"the broad balance only (smoothed over {LOOP_TONE_SMOOTHING_BANDS:g} third-octaves, each band moved at most "
        f"{LOOP_TONE_CAP_DB:g} dB; band by band above a band-limited reference's edge): a reference's detail is "
        "mostly its own content"
    )


def aim_features(
    start: dict[str, Any],
    reference: dict[str, Any],
    target: StyleTarget,
    loudness_lufs: float,
    names: list[str],
    *,
    detail: bool = False,
) -> tuple[dict[str, Any], dict[str, str]]:
    """What the loop aims at: the reference moved by the strengths and words (module notes, step 2),
    and for each aimed feature that differs from the reference, why (``{row key prefix: text}``).

    The tonal balance moves by the broad, capped part of the difference only (:func:`_broad_toward`):
    a reference is another song, and its detailed spectrum is mostly its content. The aim's
    ``mid_detail_db`` keeps the band-by-band move, which the master low-pass reads (a band-limited
    reference's edge is detail). ``detail``: the tone band by band (a reference that is a mix of
    these stems: its detail is the answer)."""
    s = target.strengths
    aim = dict(reference)
    why: dict[str, str] = {}
    for keys, attribute in ((_TONE, "tone"), (_WIDTH, "width"), (_DYNAMICS, "dynamics")):
        extra = ("width_db",) if attribute == "width" else ()
        for key in (*keys, *extra):
            aim[key] = toward(start[key], reference[key], s[attribute])
        if s[attribute] != 1.0:
            for key in (*keys, *extra):
                why[key.replace("third_octave", "band")] = f"--match {attribute}={s[attribute]:g}"
    aim["mid_detail_db"] = aim["mid_third_octave_db"]
    if not detail:
        aim["mid_third_octave_db"] = _broad_toward(
            start["mid_third_octave_db"], reference["mid_third_octave_db"], s["tone"]
        )
        why["mid_band_db"] = (f"--match tone={s['tone']:g}; " if s["tone"] != 1.0 else "") + broad_tone_why()
    aim["loudness_lufs"] = loudness_lufs
    if reference["loudness_lufs"] is None or abs(loudness_lufs - reference["loudness_lufs"]) > 0.05:
        why["loudness_lufs"] = f"the loudness asked ({loudness_lufs:g} LUFS)"
    centres = np.asarray(THIRD_OCTAVE_CENTRES_HZ)
    for move in parse_description(target.description, names) if target.description else []:
        feature, amount = move.descriptor.feature, move.amount
        if feature in BAND_REGIONS_HZ:
            lo, hi = BAND_REGIONS_HZ[feature]
            inside = (centres >= lo) & (centres < hi)
            for key in ("mid_third_octave_db", "mid_detail_db"):
                aim[key] = [None if v is None else v + (amount if inside[i] else 0.0) for i, v in enumerate(aim[key])]
            why["mid_band_db"] = f"'{move.text}' asks {amount:+g} dB"
        elif feature == "width":
            aim["width_db"] = {k: None if v is None else v + amount for k, v in aim["width_db"].items()}
            why["width_db"] = f"'{move.text}' asks {amount:+g} dB"
        elif feature == "crest":
            for key in ("crest_db", "plr_db"):
                aim[key] = None if aim[key] is None else aim[key] + amount
                why[key] = f"'{move.text}' asks {amount:+g} dB"
    return aim, why


def shifted(song: Any, excerpt: Any, excerpt_start: Any) -> Any:
    """``song + (excerpt - excerpt_start)`` value by value (lists and dicts elementwise; None where
    any is None): the song's features predicted from a change measured on its excerpts."""
    if isinstance(song, list):
        return [shifted(a, b, c) for a, b, c in zip(song, excerpt, excerpt_start)]
    if isinstance(song, dict):
        return {
            k: v if k in ("reasons", "sample_rate") else shifted(v, excerpt.get(k), excerpt_start.get(k))
            for k, v in song.items()
        }
    if song is None or excerpt is None or excerpt_start is None:
        return None
    return float(song) + float(excerpt) - float(excerpt_start)


def excess(rows: list[FidelityRow]) -> float:
    """Total excess over the tolerances, each in tolerances: ``Σ max(0, |error| − tol) / tol``."""
    total = 0.0
    for row in rows:
        if row.error is not None and row.key != "mid_third_octave_db" and not row.key.startswith("side_band"):
            total += max(0.0, abs(row.error) - row.tolerance) / row.tolerance
    return total
