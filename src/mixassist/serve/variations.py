"""Variations: several plausible alternatives to the current mix under the same locks, each
measured, auditioned, and one picked as the new start.

Variation k is the session's song mixed in a *sampled style*: a draw (seed k) from one of the
style priors in :mod:`mixassist.data.priors` (bright pop, dark jazz, roomy orchestral, dense
rock; then blends), whose settings :func:`~mixassist.data.priors.prior_params` places relative
to each stem's measured loudness and peak by the tracks' roles (the settings the neural
controller is trained to predict for that style), the user's locks applied exactly, and the
master delivered to the current mix's loudness by the mixers' own delivery
(:func:`~mixassist.data.references.hit_loudness` over
:func:`~mixassist.mixers.deliver.deliver_loudness`).  The controller itself, given such a
style as a reference, moved crest, width and tone by under 1 dB on small sessions, too little
to choose between; the ``auto`` solver with words moved them 1-3 dB but took 5-12 s per
variation on a 3-s session.  Each variation is measured on the preview excerpt (crest factor,
short-term spread, width, tone tilt) and described by how it differs from the current mix."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from mixassist.console.console import Console
from mixassist.console.params import MixParams
from mixassist.console.schema import params_for
from mixassist.data.priors import draw_prior, prior_params, track_levels
from mixassist.data.references import hit_loudness
from mixassist.serve.store import ServeError, SessionState, Step
from mixassist.serve.view import features

if TYPE_CHECKING:
    from mixassist.serve.workbench import Workbench

__all__ = ["MAX_VARIATIONS", "MEASURES", "make_variations", "params_diff", "pick_variation", "variation_preview"]

#: Most variations one request may ask for.
MAX_VARIATIONS = 6
#: The measures a variation is described by: key, label, unit.
MEASURES = (
    ("crest_db", "crest", "dB"),
    ("short_term_spread_lu", "loudness spread", "LU"),
    ("width_overall_db", "width", "dB"),
    ("tilt", "tone tilt", "dB"),
)
_STYLES = ("bright_pop", "dark_jazz", "roomy_orchestral", "dense_rock")


def make_variations(bench: Workbench, sid: str, n: int) -> SessionState:
    """Make ``n`` variations of the current mix (1 … :data:`MAX_VARIATIONS`) and keep them in
    the session's state (see the module docstring)."""
    if not 1 <= n <= MAX_VARIATIONS:
        raise ServeError(f"n={n}: ask for 1 to {MAX_VARIATIONS} variations")
    with bench.lock:
        state = bench.store.load(sid)
        excerpts = bench.excerpts(state)
        multitrack = excerpts.multitrack
        current = state.current
        params = bench.params(state)
        start, seconds = excerpts.window(None, None, state.excerpt_start_s)
        base = features(excerpts.mix(params, start, seconds), state.sample_rate)
        target = current.context.get("loudness_lufs")
        if target is None:
            target = features(Console(state.sample_rate).render(multitrack, params).mix, state.sample_rate)[
                "loudness_lufs"
            ]
        levels = track_levels(multitrack)
        out = []
        for k in range(n):
            style = _STYLES[k] if k < len(_STYLES) else None
            draw = draw_prior(style, seed=k)
            label = draw.name.replace("_", " ")
            drawn = _locked(prior_params(draw, levels, current.roles, seed=k), params, current.locked)
            if target is not None:
                drawn, _ = hit_loudness(Console(state.sample_rate), multitrack, drawn, float(target), tolerance_lu=0.1)
            drawn = _locked(drawn, params, current.locked)
            got = features(excerpts.mix(drawn, start, seconds), state.sample_rate)
            why = f"variation '{label}': drawn from that style's prior (seed {k}); mastered to the current loudness"
            out.append(
                {
                    "label": label,
                    "params": drawn.to_dict(),
                    "why": _reasons(drawn, current.locked, why),
                    "measured": {key: got.get(key) for key, _, _ in MEASURES},
                    "params_diff": params_diff(params, drawn),
                    "summary": _summary(base, got),
                }
            )
        state.variations = out
        bench.store.save(state)
    return state


def params_diff(a: MixParams, b: MixParams, most: int = 4) -> dict[str, list[float | None]]:
    """The ``most`` settings that differ most between ``a`` and ``b`` (by the share of their
    range; a processor switched on or off counts as the whole range), as
    ``{"track/NAME/param" | "master/param" | "reverb/param": [a's value, b's value]}``."""
    moves = []
    for owner in [*a.track_names, "master", "reverb"]:
        kind = "track" if owner in a.tracks else owner
        where = f"track/{owner}" if kind == "track" else owner
        for name, param in params_for(kind).items():
            x, y = a.value(owner, name), b.value(owner, name)
            if x == y or not _audible(a, b, owner, name):
                continue
            share = 1.0 if x is None or y is None else abs(x - y) / (param.maximum - param.minimum)
            moves.append((share, f"{where}/{name}", [x, y]))
    moves.sort(key=lambda m: -m[0])
    return {key: values for _, key, values in moves[:most]}


def _audible(a: MixParams, b: MixParams, owner: str, name: str) -> bool:
    """Whether ``name`` does anything in ``a`` or ``b``: an EQ band's frequency and Q only with
    gain, a compressor's settings only with a ratio above 1."""
    if name.startswith("eq_") and not name.endswith("_db"):
        gain = name.rsplit("_", 1)[0] + "_db"
        return a.value(owner, gain) != 0.0 or b.value(owner, gain) != 0.0
    if name.startswith("comp_") and name != "comp_ratio":
        return a.value(owner, "comp_ratio") != 1.0 or b.value(owner, "comp_ratio") != 1.0
    return True


def _reasons(params: MixParams, locked: dict[str, list[str]], why: str) -> dict[str, dict[str, str]]:
    """``why`` for every setting the draw moved from neutral and the user did not lock."""
    out: dict[str, dict[str, str]] = {}
    for owner in [*params.track_names, "master", "reverb"]:
        values = params.tracks[owner] if owner in params.tracks else getattr(params, owner)
        neutral = MixParams(params.track_names)
        ref = neutral.tracks[owner] if owner in neutral.tracks else getattr(neutral, owner)
        moved = {p: why for p, v in values.items() if v != ref[p] and p not in locked.get(owner, [])}
        if moved:
            out[owner] = moved
    return out


def _locked(params: MixParams, current: MixParams, locked: dict[str, list[str]]) -> MixParams:
    """``params`` with every locked setting at its current value, exactly."""
    params = params.copy()
    for owner, names in locked.items():
        for name in names:
            if owner in ("master", "reverb"):
                params.set_bus(owner, name, current.value(owner, name))
            else:
                params.set(owner, name, current.value(owner, name))
    return params


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
        step = Step(
            f"variation: {chosen['label']}",
            chosen["params"],
            why={k2: dict(v) for k2, v in chosen["why"].items()},
            locked={k2: list(v) for k2, v in cur.locked.items()},
            roles=dict(cur.roles),
            context=dict(cur.context),
            proposed=chosen["params"],
        )
        state.push(step)

    return bench.change(sid, make)


def variation_preview(
    bench: Workbench, sid: str, k: int, start: float | None, seconds: float | None
) -> tuple[np.ndarray, float | None, float | None, int]:
    """Variation ``k``'s mix excerpt as rendered (it is delivered at the current loudness), its
    loudness and true peak."""
    state = bench.store.load(sid)
    chosen = _variation(state, k)
    with bench.lock:
        excerpts = bench.excerpts(state)
        a, d = excerpts.window(start, seconds, state.excerpt_start_s)
        audio, loudness, peak = excerpts.preview("mix", MixParams.from_dict(chosen["params"]), a, d)
    return audio, loudness, peak, state.sample_rate
