"""Loudness delivery: the master output gain and true-peak ceiling that meet a loudness target.

Shared by every mixer: whatever a mixer decides upstream, the last step renders the bus, moves
``master.output_gain_db`` until the integrated loudness (BS.1770-4) is within 0.1 LU of the
target, and lowers the limiter ceiling by any measured true-peak overshoot. Locked settings are
respected (a locked output gain leaves the loudness where it lands, with a note).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from mixassist.audio.meter import integrated_loudness, true_peak
from mixassist.audio.multitrack import Multitrack
from mixassist.console.console import Console
from mixassist.console.params import MixParams
from mixassist.mixers.constraints import Constraints
from mixassist.mixers.decisions import Reasons

__all__ = ["deliver_loudness", "master_free_bus"]


def master_free_bus(multitrack: Multitrack, params: MixParams) -> np.ndarray:
    """The mix bus before the master section (master settings neutral), ``(2, samples)``."""
    bare = params.copy()
    neutral = MixParams(["x"]).master
    for p in bare.master:
        bare.master[p] = neutral[p]
    return Console(multitrack.sample_rate).render(multitrack, bare).mix


def deliver_loudness(
    multitrack: Multitrack,
    params: MixParams,
    constraints: Constraints,
    reasons: Reasons,
    *,
    loudness_lufs: float,
    true_peak_dbtp: float,
    bus: np.ndarray | None = None,
    progress: Callable[[float], None] | None = None,
    tolerance_lu: float = 0.1,
    max_trials: int = 6,
) -> dict[str, Any]:
    """Set ``master.output_gain_db`` (and the limiter ceiling) in ``params`` to deliver the target.

    Parameters
    ----------
    multitrack, params
        The session and its settings (changed in place: output gain, limiter ceiling).
    constraints, reasons
        Locks to honour; where the reasons are written.
    loudness_lufs, true_peak_dbtp
        The delivery targets.
    bus : numpy.ndarray, optional
        :func:`master_free_bus` if the caller has it already.
    progress : callable, optional
        ``progress(fraction)``.
    tolerance_lu, max_trials : float, int
        Stop when the loudness is this close to the target, or after this many trials.

    Returns
    -------
    dict
        ``integrated_lufs``, ``true_peak_dbtp`` of the final mix, ``pre_master_lufs``, and
        ``mix``: the final mix itself, float32 ``(2, samples)`` (equal to a full render of
        ``params``, to float rounding: the master section run on the bus).
    """
    report = progress or (lambda fraction: None)
    sr = multitrack.sample_rate
    console = Console(sr)
    bus = master_free_bus(multitrack, params) if bus is None else bus
    bus_lufs = integrated_loudness(bus, sr)
    # The master runs EQ -> glue compressor -> output gain -> limiter: everything before the gain
    # is computed once, and each trial runs only the gain and the limiter on it.
    pre_master = {**params.master, "output_gain_db": 0.0, "limiter_ceiling_dbtp": None}
    pre = console.render(Multitrack.from_arrays({"bus": bus}, sr), MixParams(["bus"], master=pre_master)).mix
    pre_track = Multitrack.from_arrays({"bus": pre}, sr)

    def tail(gain_db: float) -> MixParams:
        return MixParams(["bus"], master={"output_gain_db": gain_db,
                                          "limiter_ceiling_dbtp": params.master["limiter_ceiling_dbtp"],
                                          "limiter_release_ms": params.master["limiter_release_ms"]})

    gain = float(params.master["output_gain_db"] or 0.0)
    locked_gain = constraints.is_locked("master", "output_gain_db")
    ceiling = params.master["limiter_ceiling_dbtp"]
    rendered: tuple[float, float | None, np.ndarray] | None = None  # (gain, ceiling, master output)
    previous: tuple[float, float] | None = None  # (gain, loudness) of the last trial, for the secant
    for attempt in range(max_trials):
        trial_gain = round(float(np.clip(gain, -24, 24)), 2)
        mix = console.render(pre_track, tail(trial_gain)).mix
        rendered = (trial_gain, params.master["limiter_ceiling_dbtp"], mix)
        lufs = integrated_loudness(mix, sr)
        tp = true_peak(mix, sr)
        report(0.8 * (attempt + 1) / max_trials)
        if lufs is None:
            break
        error = loudness_lufs - lufs
        over = (tp - true_peak_dbtp) if tp is not None else 0.0
        if over > 0.0 and ceiling is not None and not constraints.is_locked("master", "limiter_ceiling_dbtp"):
            ceiling = float(max(-12.0, ceiling - over - 0.05))
            params.set_bus("master", "limiter_ceiling_dbtp", ceiling)
            reasons.add("master", "limiter_ceiling_dbtp",
                        f"ceiling {ceiling:.2f} dBTP: {true_peak_dbtp:g} dBTP asked, lowered by the measured overshoot")
            previous = None
            continue
        if abs(error) < tolerance_lu or locked_gain:
            break
        # secant on loudness(gain): the limiter makes the slope below 1 once it works
        slope = 1.0
        if previous is not None and abs(trial_gain - previous[0]) > 1e-3:
            slope = float(np.clip((lufs - previous[1]) / (trial_gain - previous[0]), 0.2, 1.0))
        previous = (trial_gain, lufs)
        gain = trial_gain + error / slope
    if not locked_gain:
        gain = float(np.clip(gain, -24.0, 24.0))
        reasons.set(params, constraints, "master", "output_gain_db", round(gain, 2),
                    f"{gain:+.1f} dB brings the mix to {loudness_lufs:g} LUFS integrated (EBU R128 / BS.1770)")
    # The master section on the bus is the whole console (the bus holds every track and the
    # reverb return; a stereo track at centre, unity gain, passes unchanged), so the last trial
    # is the final mix when it ran with the final settings; otherwise render the master once more.
    final_gain = float(params.master["output_gain_db"] or 0.0)
    if rendered is not None and rendered[0] == final_gain and rendered[1] == params.master["limiter_ceiling_dbtp"]:
        final = rendered[2]
    else:
        final = console.render(pre_track, tail(final_gain)).mix
    report(1.0)
    lufs, tp = integrated_loudness(final, sr), true_peak(final, sr)
    if lufs is not None and abs(lufs - loudness_lufs) > 0.5:
        reasons.notes.append(f"the mix reads {lufs:.1f} LUFS, not the {loudness_lufs:g} LUFS asked"
                             + (" (the master output gain is locked)" if locked_gain else ""))
    return {"integrated_lufs": lufs, "true_peak_dbtp": tp, "pre_master_lufs": bus_lufs, "mix": final}
