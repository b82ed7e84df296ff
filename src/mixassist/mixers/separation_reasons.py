"""Reasons for the separation step's moves, measured at the final faders.

Each move is undone on its own in the separation's loudness model, and its reason says what the
sources' mean masked fraction would be without it and which source gains most from it.
"""

from __future__ import annotations

from typing import Any, cast

import numpy as np
import torch

from mixassist.console.params import MixParams
from mixassist.mixers.decisions import Reasons
from mixassist.mixers.separation import EQ_SLOTS
from mixassist.mixers.separation_step import separation_model
from mixassist.mixers.threads import single_threaded

__all__ = ["explain_separation"]


@single_threaded()  # small tensors: one thread is faster (see single_threaded)
def explain_separation(
    plan: dict[str, Any], params: MixParams, reasons: Reasons, measured: dict[str, dict[str, Any]]
) -> None:
    """Reasons for the separation's moves, measured at the final faders: each move undone on
    its own, and what that does to the masking in the model."""
    units, members = plan["units"], plan["members"]
    model = separation_model(plan, {n: float(params.get(n, "gain_db") or 0.0) for u in units for n in members[u]})
    first = [members[u][0] for u in units]
    pan = torch.tensor([float(params.get(n, "pan") or 0.0) for n in first], dtype=torch.float64)
    width = torch.tensor(
        [float(params.get(n, "width") or 1.0) if plan["stereo"][k] else 1.0 for k, n in enumerate(first)],
        dtype=torch.float64,
    )
    eq = torch.tensor(
        [
            [
                float(params.get(n, f"eq_{slot}_db") or 0.0) if plan["eq_moved"][k, j] else 0.0
                for j, (slot, _) in enumerate(EQ_SLOTS)
            ]
            for k, n in enumerate(first)
        ],
        dtype=torch.float64,
    )
    tuned = [
        torch.tensor(
            # an EQ slot's frequency and Q always have a value (their defaults), never None
            [[float(cast(float, params.get(n, f"eq_{slot}_{key}"))) for slot, _ in EQ_SLOTS] for n in first],
            dtype=torch.float64,
        )
        for key in ("hz", "q")
    ]
    audible = plan["search"].audible
    with torch.no_grad():
        now = model.masked(pan, width, eq, *tuned)[0].numpy()
        start = model.masked(
            torch.as_tensor(plan["start_pan"]), torch.as_tensor(plan["start_width"]), torch.zeros_like(eq)
        )[0].numpy()
    mean_now, mean_start = float(now[audible].mean()), float(start[audible].mean())
    label = {k: " + ".join(members[u]) for k, u in enumerate(units)}

    def undone(k: int, what: str, j: int = 0) -> str:
        p, w, e = pan.clone(), width.clone(), eq.clone()
        if what == "pan":
            p[k] = float(plan["start_pan"][k])
        elif what == "width":
            w[k] = float(plan["start_width"][k])
        else:
            e[k, j] = 0.0
        with torch.no_grad():
            without = model.masked(p, w, e, *tuned)[0].numpy()
        gain = np.where(audible, without - now, -np.inf)
        best = int(np.argmax(gain))
        mean_without = float(without[audible].mean())
        if f"{without[best]:.2f}" == f"{now[best]:.2f}":
            return "a fine touch of the search: on its own it changes no source's masking by 0.01 or more"
        said = f"{label[best]} is less masked with it ({without[best]:.2f} → {now[best]:.2f})"
        if f"{mean_without:.3f}" != f"{mean_now:.3f}":
            said += f"; the sources' mean masked fraction {mean_without:.3f} → {mean_now:.3f}"
        return said

    for k, u in enumerate(units):
        for n in members[u]:
            if plan["pan_moved"][k]:
                value = float(pan[k])
                side = "left" if value < 0 else "right" if value > 0 else "centre"
                reasons.add(
                    n,
                    "pan",
                    f"{abs(value):.2f} {side}: separation, placed where it masks and is masked "
                    f"least (from the role pan {plan['start_pan'][k]:+.2f}); {undone(k, 'pan')}",
                )
            if plan["width_moved"][k]:
                reasons.add(
                    n,
                    "width",
                    f"width {float(width[k]):.2f} (from {plan['start_width'][k]:.2f}): separation, "
                    f"narrowed so that it can sit further to one side without losing a "
                    f"channel; {undone(k, 'width')}",
                )
            for j, (slot, _) in enumerate(EQ_SLOTS):
                if plan["eq_moved"][k, j]:
                    value, hz, q = float(eq[k, j]), float(tuned[0][k, j]), float(tuned[1][k, j])
                    why = (
                        f"{value:+.1f} dB {'cut' if value < 0 else 'lift'} at {hz:.0f} Hz: separation, makes room "
                        f"between {n} and the others; {undone(k, 'eq', j)}"
                    )
                    reasons.add(n, f"eq_{slot}_db", why)
                    if reasons.get(n, f"eq_{slot}_hz") == "separation":
                        was_hz, was_q = f"{plan['freq'][k, j]:.0f}", f"{plan['q'][k, j]:.2f}"
                        reasons.add(
                            n,
                            f"eq_{slot}_hz",
                            f"{hz:.0f} Hz: separation, where this band does most against masking"
                            + (f" (from {was_hz} Hz)" if was_hz != f"{hz:.0f}" else ""),
                        )
                        reasons.add(
                            n,
                            f"eq_{slot}_q",
                            f"Q {q:.2f}: separation, the band's width for the same purpose"
                            + (f" (from {was_q})" if was_q != f"{q:.2f}" else ""),
                        )
            measured[n]["separation"] = {
                "masked_fraction_model": round(float(now[k]), 3) if audible[k] else None,
                "before_model": round(float(start[k]), 3) if audible[k] else None,
            }
    reasons.notes.append(
        f"separation: pans, widths and EQ searched together against masking; the sources' mean masked fraction "
        f"in the loudness model, at the final faders, is {mean_now:.3f} ({mean_start:.3f} with the role pans and "
        f"no separation moves; {int(plan['pan_moved'].sum())} pans, {int(plan['width_moved'].sum())} widths and "
        f"{int(plan['eq_moved'].sum())} EQ bands moved)"
    )
