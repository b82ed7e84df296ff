"""Variations: several plausible alternatives to the current mix under the same context and
locks, each measured, auditioned, and one picked as the new start.

They come from the project's own solver, not from a separate code path: variation k re-solves
the current settings with the ``match`` mixer (:class:`~mixassist.mixers.match.MatchMixer`,
started from the current settings, the locks kept exactly) toward the session's words plus one
pair of descriptor words from :data:`VARIATION_WORDS` (one about balance and dynamics, one about
space, one about tone ...), and is delivered to the same loudness.  Each is measured on the
preview excerpt (crest factor, short-term spread, width, tone tilt) and described by how it
differs from the current mix."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from mixassist.api import mix
from mixassist.console.params import MixParams
from mixassist.serve.store import ServeError, SessionState
from mixassist.serve.view import features

if TYPE_CHECKING:
    from mixassist.serve.workbench import Workbench

__all__ = ["MAX_VARIATIONS", "VARIATION_WORDS", "MEASURES", "make_variations", "pick_variation", "variation_preview"]

#: Most variations one request may ask for.
MAX_VARIATIONS = 5
#: What each variation asks of the solver besides the session's words: (label, words).
VARIATION_WORDS = (
    ("drier and punchier", "drier, punchier"),
    ("wetter and wider", "wetter, wider"),
    ("warmer and darker", "warmer, darker"),
    ("brighter and narrower", "brighter, narrower"),
    ("smoother, more dynamic", "smoother, more dynamic"),
)
#: The measures a variation is described by: key, label, unit.
MEASURES = (
    ("crest_db", "crest", "dB"),
    ("short_term_spread_lu", "loudness spread", "LU"),
    ("width_overall_db", "width", "dB"),
    ("tilt", "tone tilt", "dB"),
)


def make_variations(bench: Workbench, sid: str, n: int) -> SessionState:
    """Solve ``n`` variations of the current mix (1 … :data:`MAX_VARIATIONS`) and keep them in
    the session's state."""
    if not 1 <= n <= MAX_VARIATIONS:
        raise ServeError(f"n={n}: ask for 1 to {MAX_VARIATIONS} variations")
    with bench.lock:
        state = bench.store.load(sid)
        excerpts = bench.excerpts(state)
        current = state.current
        start, seconds = excerpts.window(None, None, state.excerpt_start_s)
        base = features(excerpts.mix(bench.params(state), start, seconds), state.sample_rate)
        words = current.context.get("words", "")
        locks = [f"{owner}.{p}" for owner, names in current.locked.items() for p in names]
        refs = list(current.context.get("reference", []))
        out = []
        for label, extra in VARIATION_WORDS[:n]:
            result = mix(
                excerpts.multitrack,
                method="match",
                start=MixParams.from_dict(current.params),
                lock=locks,
                reference=refs or None,
                describe=", ".join(w for w in (words, extra) if w),
                time_budget_s=bench.variation_budget_s,
            )
            got = features(excerpts.mix(result.params, start, seconds), state.sample_rate)
            measured = {key: got.get(key) for key, _, _ in MEASURES}
            out.append(
                {
                    "label": label,
                    "words": extra,
                    "params": result.params.to_dict(),
                    "why": {k: dict(v) for k, v in result.recipe.why.items()},
                    "measured": measured,
                    "summary": _summary(base, got),
                }
            )
        state.variations = out
        bench.store.save(state)
    return state


def _summary(base: dict[str, Any], got: dict[str, Any]) -> str:
    """How a variation measures against the current mix, e.g. ``width +1.2 dB, crest -0.8 dB``."""
    parts = []
    for key, label, unit in MEASURES:
        a, b = base.get(key), got.get(key)
        if a is not None and b is not None and abs(b - a) >= 0.05:
            parts.append(f"{label} {b - a:+.1f} {unit}")
    return ", ".join(parts) + " against the current mix" if parts else "measures like the current mix"


def _variation(state: SessionState, k: int) -> dict[str, Any]:
    if not 0 <= k < len(state.variations):
        raise ServeError(f"variation {k}: there are {len(state.variations)}; ask for variations first", 404)
    return state.variations[k]


def pick_variation(bench: Workbench, sid: str, k: int) -> SessionState:
    """Make variation ``k`` the current mix (one history step); the variations stay to audition."""

    def make(state: SessionState) -> None:
        chosen = _variation(state, k)
        cur = state.current
        step = type(cur)(
            f"variation: {chosen['label']}",
            chosen["params"],
            why={k2: dict(v) for k2, v in chosen["why"].items()},
            locked={k2: list(v) for k2, v in cur.locked.items()},
            roles=dict(cur.roles),
            context=dict(cur.context),
        )
        state.push(step)

    return bench.change(sid, make)


def variation_preview(
    bench: Workbench, sid: str, k: int, start: float | None, seconds: float | None
) -> tuple[np.ndarray, float | None, int]:
    """Variation ``k``'s mix excerpt, loudness-matched like the other previews."""
    state = bench.store.load(sid)
    chosen = _variation(state, k)
    with bench.lock:
        excerpts = bench.excerpts(state)
        a, d = excerpts.window(start, seconds, state.excerpt_start_s)
        audio, loudness = excerpts.preview("mix", MixParams.from_dict(chosen["params"]), a, d)
    return audio, loudness, state.sample_rate
