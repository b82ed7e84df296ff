"""Multi-microphone delay and polarity alignment.

When one source is picked up by several microphones (kick in/out, snare top/bottom, DI and
amp, close and room), the farther microphone hears it later and sometimes with inverted
polarity, and the tracks comb-filter when they are summed as recorded.
:func:`detect_alignment` finds the tracks that share a source (coherence-weighted GCC-PHAT,
:mod:`mixassist.mixers.gcc_phat`), measures how much later each one arrives and whether it is
inverted, and proposes the ``delay_ms`` and ``polarity`` settings that put every such group in
phase.  The console can only delay, so within a group the *latest*-arriving track is the
*anchor* (left as it is) and every earlier track is delayed to meet it.  The method, the
decision rule and the figures behind its thresholds are in ``docs/mixing.md`` (multi-microphone
alignment).

Reference: C. H. Knapp and G. C. Carter, "The generalized correlation method for estimation of
time delay", IEEE Trans. Acoustics, Speech and Signal Processing 24(4), 320-327, 1976.

Examples
--------
>>> report = detect_alignment(stems)                              # doctest: +SKIP
>>> report.settings                                               # doctest: +SKIP
{'kick_in': {'delay_ms': 2.4012, 'polarity': -1.0}}
>>> params = MixParams(stems.names, tracks=report.settings)       # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from collections.abc import Iterable
from typing import Any

import numpy as np

from mixassist.audio.multitrack import Multitrack
from mixassist.console.schema import params_for
from mixassist.errors import InvalidAudioError, InvalidParameterError
from mixassist.mixers.align_report import AlignmentGroup, AlignmentReport, PairAlignment, TrackAlignment
from mixassist.mixers.gcc_phat import cross_spectra, frame_length, gcc_stats, peak_rms, window_overlap
from mixassist.mixers.roles import multi_mic_candidates

__all__ = [
    "align_session",
    "detect_session",
    "AlignmentGroup",
    "AlignmentReport",
    "PairAlignment",
    "TrackAlignment",
    "detect_alignment",
]

log = logging.getLogger(__name__)

_LOW_HZ = 20.0  # bins below are left out (DC offsets, rumble)
_COARSE_BAND_HZ = 8000.0  # upper edge of the coarse pass
_SILENCE_DBFS = -120.0  # RMS (loudest channel) below this is "silent"; 24-bit dither is near -138 dBFS
# The coarse pass only pre-filters: a pair goes on to the full-band measurement unless it is
# clearly unrelated (|ρ| below half of min_correlation, or a peak ratio below 1.25).
_PREFILTER_CORRELATION = 0.5
_PREFILTER_PEAK_RATIO = 1.25
# The delay that maximises the plain correlation must lie on the GCC-PHAT peak's main lobe:
# GCC-PHAT there at least this fraction of its peak (true pairs: ≥ 0.8 on synthesised songs).
_MIN_LOBE_SHARE = 0.5
# In a group of three or more, a related pair whose measured delay differs from the one its
# group's spanning tree implies by more than this is noted in the report.
_CHAIN_TOLERANCE_MS = 0.05


def detect_alignment(
    multitrack: Multitrack,
    *,
    max_delay_ms: float = 20.0,
    min_correlation: float = 0.4,
    min_peak_ratio: float = 2.0,
    locked: Iterable[str] = (),
    hints: Iterable[tuple[str, str]] = (),
) -> AlignmentReport:
    """Find tracks that share a source and the delay/polarity that put them in phase.

    Parameters
    ----------
    multitrack : Multitrack
        Mono or stereo stems (stereo ones are downmixed to mono for the analysis).
    max_delay_ms : float
        Largest arrival difference between two microphones of one source, 0.1…100 ms.  Pairs
        whose correlation peak lies farther apart are reported as unrelated.
    min_correlation : float
        Least ``|ρ|``, the plain normalised cross-correlation at the measured delay, 0…1.
    min_peak_ratio : float
        Least height of the GCC-PHAT peak over the highest ``|GCC-PHAT|`` outside its main
        lobe (a rival delay), > 1.
    locked : iterable of str
        Tracks whose ``delay_ms``/``polarity`` the user locked: never changed.  A locked
        group anchor is fine; a locked non-anchor member is reported and skipped.
    hints : iterable of (str, str)
        Pairs whose names say they are two microphones on one source
        (:func:`mixassist.mixers.roles.multi_mic_candidates`): each is measured in full even when
        the coarse pass would drop it, and grouped only if it passes the same decision rule,
        so a name never forces a group.

    Returns
    -------
    AlignmentReport
        ``report.settings`` is ``{track: {"delay_ms": x, "polarity": ±1.0}}``, relative to
        the tracks as recorded; ``report.to_dict()`` is strict-JSON-safe.

    Raises
    ------
    InvalidParameterError
        A threshold out of range, or ``locked`` naming a track that is not in the session.
    InvalidAudioError
        A track contains NaN or infinity.

    Notes
    -----
    See ``docs/mixing.md`` (multi-microphone alignment) for the method (Welch cross-spectra,
    coherence-weighted GCC-PHAT after Knapp & Carter 1976) and the decision rule.  Cost: one STFT per track and
    one batched ``tracks × tracks`` cross-spectrum product per block of frames: 64 tracks of
    60 s at 44.1 kHz take about 3-4 s on two cores, and the memory needed beyond the audio
    (a few hundred MB for 64 tracks) does not grow with the length.

    Examples
    --------
    >>> report = detect_alignment(stems, locked=["kick_in"])         # doctest: +SKIP
    >>> for group in report.groups:                                 # doctest: +SKIP
    ...     print(group.anchor, list(group))
    """
    max_delay_ms = float(max_delay_ms)
    delay_param = params_for("track")["delay_ms"]
    if not (math.isfinite(max_delay_ms) and 0.1 <= max_delay_ms <= delay_param.maximum):
        raise InvalidParameterError(f"max_delay_ms={max_delay_ms:g} is outside 0.1…{delay_param.maximum:g} ms")
    if not 0.0 <= float(min_correlation) <= 1.0:
        raise InvalidParameterError(f"min_correlation={min_correlation:g} is outside 0…1")
    if not (math.isfinite(float(min_peak_ratio)) and float(min_peak_ratio) > 1.0):
        raise InvalidParameterError(f"min_peak_ratio={min_peak_ratio:g} must be a finite number above 1")
    locked_set = set(locked)
    unknown = sorted(locked_set - set(multitrack.names))
    if unknown:
        raise InvalidParameterError(
            f"locked names tracks that are not in the session: {', '.join(unknown)} "
            f"(tracks: {', '.join(multitrack.names)})"
        )
    sample_rate = multitrack.sample_rate
    report = AlignmentReport(
        sample_rate=sample_rate,
        thresholds={
            "max_delay_ms": max_delay_ms,
            "min_correlation": float(min_correlation),
            "min_peak_ratio": float(min_peak_ratio),
        },
    )
    began = time.perf_counter()

    # silent tracks are left out
    active: list[int] = []
    for index, track in enumerate(multitrack):
        rms = peak_rms(track.audio)
        if not math.isfinite(rms):
            raise InvalidAudioError(f"track '{track.name}' contains NaN or infinite samples")
        if rms <= 10 ** (_SILENCE_DBFS / 20):
            report.skipped[track.name] = "silent: nothing to align"
        else:
            active.append(index)
    if len(active) < 2:
        return report

    num_samples = multitrack.num_samples
    max_lag = max(1, int(math.ceil(max_delay_ms * 1e-3 * sample_rate)))
    length = frame_length(sample_rate, num_samples, max_lag)
    search_lag = 2 * max_lag
    overlap = window_overlap(length, search_lag)
    bin_hz = sample_rate / length
    low_bin = max(1, int(math.ceil(_LOW_HZ / bin_hz)))
    audios = [multitrack[i] for i in active]  # read a block of frames at a time
    names = [multitrack[i].name for i in active]
    n_active = len(active)
    first, second = np.triu_indices(n_active, k=1)
    report.pairs_checked = len(first)

    # 1-2. coarse pass: every pair, 20 Hz…8 kHz
    coarse_top = min(int(_COARSE_BAND_HZ / bin_hz) + 1, length // 2)
    coarse_bins = slice(low_bin, coarse_top)
    g, frames = cross_spectra(audios, num_samples, length, coarse_bins)
    report.analysis = {
        "frame_length": length,
        "frames": frames,
        "coarse_band_hz": float(coarse_top * bin_hz),
    }
    coarse = gcc_stats(
        g,
        first,
        second,
        coarse_bins,
        sample_rate=sample_rate,
        length=length,
        search_lag=search_lag,
        overlap=overlap,
        fine=False,
    )
    del g
    hinted = {frozenset(pair) for pair in hints}
    named = np.array([frozenset((names[a], names[b])) in hinted for a, b in zip(first, second)], dtype=bool)
    candidate = (
        (np.abs(coarse.correlation) >= _PREFILTER_CORRELATION * min_correlation)
        & (coarse.peak_ratio >= min(_PREFILTER_PEAK_RATIO, min_peak_ratio))
    ) | named
    first, second = first[candidate], second[candidate]
    log.debug(
        "alignment coarse pass: %d tracks, %d frames of %d samples, %d of %d pairs are candidates (%.2f s)",
        n_active,
        frames,
        length,
        len(first),
        report.pairs_checked,
        time.perf_counter() - began,
    )

    # 3. full-band measurement of the candidates
    related: list[PairAlignment] = []
    unrelated: list[PairAlignment] = []
    if len(first):
        members = np.unique(np.concatenate([first, second]))
        local = {int(t): k for k, t in enumerate(members)}
        full_bins = slice(low_bin, length // 2)
        g, _ = cross_spectra([audios[t] for t in members], num_samples, length, full_bins)
        fine = gcc_stats(
            g,
            np.array([local[int(t)] for t in first]),
            np.array([local[int(t)] for t in second]),
            full_bins,
            sample_rate=sample_rate,
            length=length,
            search_lag=search_lag,
            overlap=overlap,
            fine=True,
        )
        del g
        for k in range(len(first)):
            pair = _decide(
                names[first[k]],
                names[second[k]],
                delay_ms=float(fine.delay_s[k] * 1e3),
                gcc=float(fine.gcc[k]),
                peak_ratio=float(fine.peak_ratio[k]),
                correlation=float(fine.correlation[k]),
                lobe_share=float(fine.lobe[k]),
                max_delay_ms=max_delay_ms,
                min_correlation=float(min_correlation),
                min_peak_ratio=float(min_peak_ratio),
            )
            if frozenset((pair.first, pair.second)) in hinted:
                note = "confirmed by the audio" if pair.related else "not confirmed by the audio, left apart"
                pair = dataclasses.replace(pair, reason=f"{pair.reason}; the names say one source, {note}")
            (related if pair.related else unrelated).append(pair)
    report.pairs = related + unrelated

    # 5. groups, anchors, settings
    _group(report, related, names, locked_set, delay_param.maximum)
    log.info(
        "alignment: %d group(s) among %d tracks (%d pairs, %d measured in full) in %.2f s",
        len(report.groups),
        n_active,
        report.pairs_checked,
        len(report.pairs),
        time.perf_counter() - began,
    )
    return report


def _decide(
    a: str,
    b: str,
    *,
    delay_ms: float,
    gcc: float,
    peak_ratio: float,
    correlation: float,
    lobe_share: float,
    max_delay_ms: float,
    min_correlation: float,
    min_peak_ratio: float,
) -> PairAlignment:
    polarity = -1 if correlation < 0 else 1
    numbers = f"correlation {correlation:+.2f}, coherence {abs(gcc):.2f}, peak ratio {peak_ratio:.1f}"
    if abs(delay_ms) > max_delay_ms:
        verdict = (
            f"unrelated: the correlation peak lies {abs(delay_ms):.2f} ms apart, beyond max_delay_ms={max_delay_ms:g}"
        )
    elif abs(correlation) < min_correlation:
        verdict = f"unrelated: |correlation| {abs(correlation):.2f} is below {min_correlation:g} (different signals)"
    elif peak_ratio < min_peak_ratio:
        verdict = (
            f"not aligned: the delay is ambiguous, the GCC-PHAT peak is only {peak_ratio:.1f}× the next one "
            f"(needs {min_peak_ratio:g}×; tonal or unrelated material)"
        )
    elif lobe_share < _MIN_LOBE_SHARE or (correlation < 0) != (gcc < 0):
        verdict = (
            "not aligned: not a delayed copy, the waveforms match best at a delay where their phases "
            "do not (tonal material in common, e.g. the same notes)"
        )
    else:
        later, earlier = (b, a) if delay_ms >= 0 else (a, b)
        inverted = " with inverted polarity" if polarity < 0 else ""
        reason = f"share a source: {later} arrives {abs(delay_ms):.2f} ms after {earlier}{inverted} ({numbers})"
        return PairAlignment(a, b, delay_ms, polarity, correlation, abs(gcc), peak_ratio, True, reason)
    return PairAlignment(a, b, delay_ms, polarity, correlation, abs(gcc), peak_ratio, False, f"{verdict} ({numbers})")


def _group(
    report: AlignmentReport, related: list[PairAlignment], names: list[str], locked: set[str], console_max_ms: float
) -> None:
    """Connected components of related pairs → groups, anchors and per-track settings."""
    parent = {n: n for n in names}

    def find(x: str) -> str:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    # maximum spanning tree by |ρ| (Kruskal): the strongest measurements fix the arrivals
    tree: list[PairAlignment] = []
    for p in sorted(related, key=lambda q: -abs(q.correlation)):
        ra, rb = find(p.first), find(p.second)
        if ra != rb:
            parent[ra] = rb
            tree.append(p)
    components: dict[str, list[str]] = {}
    for n in names:
        components.setdefault(find(n), []).append(n)
    for members in components.values():
        if len(members) < 2:
            continue
        edges = [p for p in tree if p.first in members]
        arrival: dict[str, float] = {members[0]: 0.0}
        polarity: dict[str, int] = {members[0]: 1}
        todo = [members[0]]
        while todo:
            node = todo.pop()
            for p in edges:
                if p.first == node and p.second not in arrival:
                    arrival[p.second] = arrival[node] + p.delay_ms
                    polarity[p.second] = polarity[node] * p.polarity
                elif p.second == node and p.first not in arrival:
                    arrival[p.first] = arrival[node] - p.delay_ms
                    polarity[p.first] = polarity[node] * p.polarity
                else:
                    continue
                todo.append(p.second if p.first == node else p.first)
        order = sorted(members, key=lambda n: (arrival[n], names.index(n)))
        anchor = order[-1]
        earliest = arrival[order[0]]
        notes = []
        for p in related:
            if p.first not in members or p in tree:
                continue
            implied = arrival[p.second] - arrival[p.first]
            implied_polarity = polarity[p.first] * polarity[p.second]
            if abs(implied - p.delay_ms) > _CHAIN_TOLERANCE_MS or implied_polarity != p.polarity:
                notes.append(
                    f"{p.first}/{p.second} measured {p.delay_ms:+.2f} ms (polarity {p.polarity:+d}) but the group's "
                    f"stronger pairs imply {implied:+.2f} ms (polarity {implied_polarity:+d})"
                )
        group = AlignmentGroup(
            anchor=anchor,
            tracks=tuple(order),
            arrival_ms={n: arrival[n] - earliest for n in order},
            polarity={n: polarity[n] * polarity[anchor] for n in order},
            notes=tuple(notes),
        )
        report.groups.append(group)
        for name in order[:-1]:
            delay_ms = arrival[anchor] - arrival[name]
            flip = polarity[name] * polarity[anchor]
            link = max((p for p in related if name in (p.first, p.second)), key=lambda q: abs(q.correlation))
            evidence = (
                f"{link.first}/{link.second}: correlation {link.correlation:+.2f}, coherence {link.coherence:.2f}, "
                f"peak ratio {link.peak_ratio:.1f}"
            )
            change = f"delay {name} by {delay_ms:.2f} ms" + (" and invert its polarity" if flip < 0 else "")
            facts = (
                f"{anchor} arrives {delay_ms:.2f} ms after {name}"
                + (" with inverted polarity" if flip < 0 else "")
                + f" ({evidence})"
            )
            if name in locked:
                reason = f"locked, left as it is; alignment with {anchor} would {change} ({facts})"
                applied = False
            elif delay_ms > console_max_ms:
                reason = (
                    f"not aligned: it would need {delay_ms:.2f} ms of delay, more than the console's "
                    f"{console_max_ms:g} ms ({facts})"
                )
                applied = False
            else:
                reason = f"{change} to line it up with {anchor}: {facts}"
                applied = True
            report.tracks[name] = TrackAlignment(name, anchor, delay_ms, flip, applied, reason)
    report.groups.sort(key=lambda g: names.index(g.tracks[0]))


def aligning_locks(names: list[str], constraints: Any) -> list[str]:
    """The tracks among ``names`` whose delay or polarity ``constraints`` lock (alignment never moves them)."""
    return [n for n in names if constraints.is_locked(n, "delay_ms") or constraints.is_locked(n, "polarity")]


def detect_session(multitrack: Multitrack, names: list[str], constraints: Any) -> AlignmentReport | None:
    """:func:`detect_alignment` of the tracks ``names`` of ``multitrack`` with the locks of
    ``constraints`` and the names' multi-mic hints; None for fewer than two tracks. Changes nothing."""
    if len(names) < 2:
        return None
    locked = aligning_locks(names, constraints)
    active = Multitrack([multitrack[n] for n in names], multitrack.sample_rate)
    return detect_alignment(active, locked=locked, hints=multi_mic_candidates(names))


def align_session(
    multitrack: Multitrack,
    names: list[str],
    params: Any,
    constraints: Any,
    reasons: Any,
    found: AlignmentReport | None = None,
) -> AlignmentReport | None:
    """Detect multi-mic groups among ``names`` (:func:`detect_session`, unless ``found`` is its
    result already: on the same tracks under the same delay and polarity locks) and set their
    delays and polarities in ``params`` through the constraints (locked tracks are never moved),
    with a reason each; None for fewer than two tracks. Shared by every mixer."""
    if found is None:
        found = detect_session(multitrack, names, constraints)
    if found is None:
        return None
    for name, values in found.settings.items():
        why = found.reasons.get(name, "aligned to its multi-mic partner")
        for p, v in values.items():
            reasons.set(params, constraints, name, p, v, why)
    return found
