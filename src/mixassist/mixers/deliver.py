"""Loudness delivery: the master output gain and true-peak ceiling that meet a loudness target.

Shared by every mixer: whatever a mixer decides upstream, the last step renders the bus once,
moves ``master.output_gain_db`` until the integrated loudness (BS.1770-4) is within the
tolerance of the target, and lowers the limiter ceiling by any measured true-peak overshoot.
Locked settings are respected (a locked output gain leaves the loudness where it lands, with a
note).

Each trial runs only the master's output gain and limiter (:meth:`Console.render_master`), on the
bus after the master EQ and glue compressor, which are run once.  The first trial is the gain
that would reach the target without the limiter (the limiter only takes loudness away), plus
what the limiter took in an earlier delivery if the caller passes one; the next ones follow the
secant, the first step's slope from the share of the peaks' overshoot the limiter took away.
The mix returned is bit-identical to a full :meth:`Console.render` of the delivered settings, so
callers need not render again.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import dataclasses
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from mixassist.audio.multitrack import Multitrack
from mixassist.console.console import Bus, Console
from mixassist.console.params import MixParams
from mixassist.console.schema import params_for
from mixassist.measure import LoudnessReport, integrated_streamed, measure, true_peak
from mixassist.mixers.constraints import Constraints
from mixassist.mixers.decisions import Reasons

if TYPE_CHECKING:
    from mixassist.mixers.base import Job

__all__ = [
    "TRUE_PEAK_MARGIN_DB",
    "copy_bus",
    "deliver_job",
    "deliver_loudness",
    "limiter_reduction",
    "lowered_ceiling",
    "master_excerpts",
    "mix_bus",
]

#: The output gain the delivery may set, ±dB: the schema's range of ``master.output_gain_db``.
OUTPUT_GAIN_LIMIT_DB = float(params_for("master")["output_gain_db"].maximum)

#: Most loudness (LU) an earlier delivery's limiting is trusted to predict for the first trial.
PLAUSIBLE_LIMITING_DB = 12.0

#: Smallest slope of loudness against output gain the search assumes (LU per dB).  Loudness is
#: concave in the gain (the limiter takes a growing share of each dB), so secant steps from
#: below never overshoot and a low floor is safe; a hard-limited master measures ~0.1.
MIN_SLOPE = 0.05

#: dB the delivery keeps the true peak below the ceiling asked: the limiter's ceiling and the
#: overshoot check both aim this far below it, so that a compliant meter of another make (4x or 8x
#: oversampled, other interpolation filters) also reads at most the ceiling asked (issue 19: a
#: ceiling of -1.0 read -0.994 dBTP on an independent 4x meter; the limiter keeps its 8x true peak
#: within 0.1 dB of its own ceiling).
TRUE_PEAK_MARGIN_DB = 0.1


#: dB more than a measured overshoot that :func:`lowered_ceiling` lowers the ceiling by; also how far
#: under the aim a long song's delivery starts its ceiling (:func:`_predict_on_excerpts`): the
#: limiter's own overshoot of its ceiling, measured 0.00-0.05 dB on 3-min songs, then needs no
#: second full-length trial under a lowered ceiling.
OVERSHOOT_ROOM_DB = 0.05


def lowered_ceiling(ceiling: float, true_peak_dbtp: float | None, aim_dbtp: float) -> float | None:
    """The limiter ceiling lowered by what a render's true peak overshoots ``aim_dbtp`` (and 0.05 dB
    more, floored at the schema's -12 dBTP), or ``None`` when it does not overshoot. The limiter's
    4x detector under-reads what saturation and very bright masters put near Nyquist, so its output
    can read a little over its own ceiling on the meter."""
    over = (true_peak_dbtp - aim_dbtp) if true_peak_dbtp is not None else 0.0
    return float(max(-12.0, ceiling - over - OVERSHOOT_ROOM_DB)) if over > 0.0 else None


#: The delivery of a long song searches on excerpts first (:func:`master_excerpts`): this many,
#: evenly spaced, each this long (s) after a warm-up this long (s; the limiter's release, at most
#: 1 s, and the 0.1 s local-mean window settle in it), and only where they cover at most
#: ``1 / EXCERPT_SHARE`` of the song; the search on them stops after ``EXCERPT_TRIALS`` trials.
EXCERPTS, EXCERPT_S, EXCERPT_WARM_UP_S, EXCERPT_SHARE, EXCERPT_TRIALS = 8, 4.0, 1.0, 3, 6

#: Block (s) over which the limiter's gain reduction is read (its release is slower than this).
REDUCTION_BLOCK_S = 0.01


def _libc() -> ctypes.CDLL | None:
    """The C library if it has glibc's ``malloc_trim`` (musl, macOS and Windows have not)."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.malloc_trim.argtypes = [ctypes.c_size_t]
    except (OSError, AttributeError):
        return None
    return libc


_LIBC = _libc()

#: Samples per channel :func:`limiter_reduction` converts to float64 at a time.
REDUCTION_CHUNK = 1 << 20


def copy_bus(bus: Bus) -> Bus:
    """A bus a delivery or master run may consume, the original kept."""
    return dataclasses.replace(bus, audio=bus.audio.copy())


def mix_bus(multitrack: Multitrack, params: MixParams, constraints: Constraints, ceiling_dbtp: float) -> Bus:
    """The mix bus of ``params`` before the master section (:meth:`Console.render_bus`), planned
    with the limiter as delivery will run it: at ``ceiling_dbtp`` unless the user locked the
    ceiling (the bus's length depends on whether the limiter runs)."""
    planned = params
    if not constraints.is_locked("master", "limiter_ceiling_dbtp"):
        planned = params.copy()
        planned.set_bus("master", "limiter_ceiling_dbtp", ceiling_dbtp)
    return Console(multitrack.sample_rate).render_bus(multitrack, planned)


def deliver_loudness(
    multitrack: Multitrack,
    params: MixParams,
    constraints: Constraints,
    reasons: Reasons,
    *,
    loudness_lufs: float,
    true_peak_dbtp: float,
    bus: Bus | None = None,
    progress: Callable[[float], None] | None = None,
    tolerance_lu: float = 0.1,
    max_trials: int = 6,
    previous: Mapping[str, Any] | None = None,
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
    bus : Bus, optional
        :func:`mix_bus` of ``params`` if the caller has it already (it is rendered again if it
        was rendered with the limiter planned differently). It is consumed: once the master's
        EQ and glue compressor have run on it, its samples are let go (``bus.audio`` is empty
        afterwards; its ``loudness_lufs`` stays), so a long song's bus is not held through the trials.
    progress : callable, optional
        ``progress(fraction)``.
    tolerance_lu, max_trials : float, int
        Stop when the loudness is this close to the target, or after this many trials.
    previous : dict, optional
        What this function returned for an earlier delivery of similar settings to the same
        target: the first trial assumes the limiter takes as much loudness again
        (``limiting_db``), and the second assumes the same slope of loudness against gain
        (``slope``).

    Returns
    -------
    dict
        ``integrated_lufs``, ``true_peak_dbtp`` of the final mix, ``pre_master_lufs``,
        ``limiting_db`` (loudness the limiter took: the gain's worth minus what arrived),
        ``slope`` (LU per dB of gain near the answer, 1 without limiting),
        ``trials`` (master runs tried), ``limiter_reduction_db`` (``{"max", "mean"}`` dB of gain
        reduction of the limiter in the final mix, :func:`limiter_reduction`; None when the limiter
        is off or the mix is silent), ``mix``: the final mix, float32 ``(2, samples)``, and
        ``settings``: a copy of ``params`` as delivered, of which ``mix`` is bit-identical to
        the full render ``Console.render(multitrack, settings).mix``, and ``report``: its
        :func:`~mixassist.measure.measure` report (the figures above are read from it; callers
        that measure the mix can use it instead of measuring again).
    """
    report = progress or (lambda fraction: None)
    sr = multitrack.sample_rate
    console = Console(sr)
    uses_limiter = params.master["limiter_ceiling_dbtp"] is not None
    if bus is None or bus.limiter != uses_limiter or bus.dc_block != params.dc_block:
        bus = console.render_bus(multitrack, params)
    # The master runs EQ -> glue compressor -> DC blocker -> output gain -> limiter(s): everything before the gain
    # is computed once, and each trial runs only the gain and the limiter on it.
    pre = console.master_pre(bus, params)
    bus_lufs = bus.loudness_lufs
    bus.audio = bus.audio[:, :0]  # consumed: its samples are let go (0.2 GB for 10 stereo minutes)
    _return_freed_memory()
    pre_lufs = pre.loudness_lufs
    pre_peak = max((float(np.max(np.abs(b))) for b in _chunks(pre.song)), default=0.0)
    peak_db = 20.0 * np.log10(pre_peak) if pre_peak > 0 else None

    gain = float(params.master["output_gain_db"] or 0.0)
    locked_gain = constraints.is_locked("master", "output_gain_db")
    if pre_lufs is not None and not locked_gain:
        linear = loudness_lufs - pre_lufs  # reaches the target if the limiter does nothing
        limiting = (previous or {}).get("limiting_db")
        known = limiting is not None and np.isfinite(limiting)
        gain = linear + (
            float(np.clip(limiting, 0.0, PLAUSIBLE_LIMITING_DB)) if known and limiting is not None else 0.0
        )
    ceiling = params.master["limiter_ceiling_dbtp"]
    aim_tp = true_peak_dbtp - TRUE_PEAK_MARGIN_DB
    if ceiling is not None and ceiling > aim_tp and not constraints.is_locked("master", "limiter_ceiling_dbtp"):
        ceiling = round(aim_tp, 2)
        params.set_bus("master", "limiter_ceiling_dbtp", ceiling)
        reasons.add(
            "master",
            "limiter_ceiling_dbtp",
            f"ceiling {ceiling:g} dBTP: {true_peak_dbtp:g} dBTP asked, less a {TRUE_PEAK_MARGIN_DB:g} dB margin so that "
            "every compliant true-peak meter reads at most the ceiling asked",
        )
    lock_ceiling = constraints.is_locked("master", "limiter_ceiling_dbtp")
    search = _Search(params, reasons, loudness_lufs, true_peak_dbtp, aim_tp, tolerance_lu, locked_gain, lock_ceiling)
    slope = float(np.clip((previous or {}).get("slope") or 1.0, MIN_SLOPE, 1.0))
    first_step = previous is None
    predicted = None
    if previous is None and not locked_gain and pre_lufs is not None:
        predicted = _predict_on_excerpts(console, pre, params, search, gain, pre_lufs)
    if predicted is not None:  # the full-length trials start where the excerpts' search ended, at its slope
        gain, slope, first_step = predicted[0], predicted[1], False
    report(0.1 if predicted is not None else 0.0)
    # (gain, ceiling, master output, its measurements)
    rendered: tuple[float, float | None, np.ndarray, LoudnessReport] | None = None
    trials = 0

    def run(trial_gain: float) -> tuple[float | None, float | None]:
        nonlocal rendered, trials
        rendered = None  # the last trial's mix is let go before the next is rendered (one mix held)
        _return_freed_memory()
        rendered = _trial(console, pre, params, trial_gain)
        trials += 1
        report(0.1 + 0.7 * trials / max_trials)
        return rendered[3].integrated_lufs, rendered[3].true_peak_dbtp

    gain, slope = search.run(run, gain, slope, max_trials, peak_db if first_step else None, pre_lufs)
    if not locked_gain:
        gain = float(np.clip(gain, -OUTPUT_GAIN_LIMIT_DB, OUTPUT_GAIN_LIMIT_DB))
        reasons.set(
            params,
            constraints,
            "master",
            "output_gain_db",
            round(gain, 2),
            f"{gain:+.1f} dB brings the mix to {loudness_lufs:g} LUFS integrated (EBU R128 / BS.1770)",
        )
    # The last trial is the final mix when it ran with the final settings; otherwise run the
    # master's tail once more.
    final_gain = float(params.master["output_gain_db"] or 0.0)
    if rendered is not None and rendered[0] == final_gain and rendered[1] == params.master["limiter_ceiling_dbtp"]:
        final, report_of_mix = rendered[2:]
    else:
        rendered = None
        final = console.render_master(pre, params, stage="tail")
        trials += 1
        report_of_mix = measure(final, sr)
    lufs, tp = report_of_mix.integrated_lufs, report_of_mix.true_peak_dbtp
    report(1.0)
    if lufs is not None and abs(lufs - loudness_lufs) > 0.5:
        reasons.notes.append(
            f"the mix reads {lufs:.1f} LUFS, not the {loudness_lufs:.1f} LUFS asked"
            + (" (the master output gain is locked)" if locked_gain else "")
        )
        if not locked_gain:  # the gain's reason says what it reached, not what it aimed at
            bound = abs(final_gain) >= OUTPUT_GAIN_LIMIT_DB
            reasons.add(
                "master",
                "output_gain_db",
                f"{final_gain:+.1f} dB takes the mix to {lufs:.1f} LUFS of the {loudness_lufs:.1f} LUFS asked "
                + ("(the output gain's ±24 dB limit)" if bound else "(the limiter takes the rest)"),
            )
    limiting = (pre_lufs + final_gain - lufs) if pre_lufs is not None and lufs is not None else None
    reduction = (
        limiter_reduction(pre.song, final, final_gain, sr)
        if params.master["limiter_ceiling_dbtp"] is not None
        else None
    )
    return {
        "integrated_lufs": lufs,
        "true_peak_dbtp": tp,
        "pre_master_lufs": bus_lufs,
        "limiting_db": limiting,
        "slope": slope,
        "trials": trials,
        "limiter_reduction_db": reduction,
        "mix": final,
        "settings": params.copy(),
        "report": report_of_mix,
    }


class _Search:
    """The search for the output gain (and the lowered ceiling), on any ``trial(gain) -> (lufs,
    true peak)``: the secant on loudness(gain) below the target, the ceiling lowered by a measured
    overshoot (in ``params``, with its reason)."""

    def __init__(
        self,
        params: MixParams,
        reasons: Reasons,
        target_lufs: float,
        true_peak_dbtp: float,
        aim_tp: float,
        tolerance_lu: float,
        locked_gain: bool,
        locked_ceiling: bool,
    ) -> None:
        self.params, self.reasons = params, reasons
        self.target, self.true_peak_dbtp, self.aim_tp = target_lufs, true_peak_dbtp, aim_tp
        self.tolerance, self.locked_gain, self.locked_ceiling = tolerance_lu, locked_gain, locked_ceiling

    def run(
        self,
        trial: Callable[[float], tuple[float | None, float | None]],
        gain: float,
        slope: float,
        max_trials: int,
        peak_db: float | None,
        pre_lufs: float | None,
        tolerance_lu: float | None = None,
    ) -> tuple[float, float]:
        """``(gain, slope)`` after at most ``max_trials`` trials: the last gain tried when it
        landed, else the next one to try. ``peak_db`` (the master's peak before its output gain),
        when given, sizes the first step from the share of the peaks' overshoot the limiter took."""
        last: tuple[float, float] | None = None  # (gain, loudness) of the last trial, for the secant
        tolerance = self.tolerance if tolerance_lu is None else tolerance_lu
        tried: tuple[float, float | None] | None = None  # (gain, ceiling) of the last trial
        for _ in range(max_trials):
            trial_gain = round(float(np.clip(gain, -OUTPUT_GAIN_LIMIT_DB, OUTPUT_GAIN_LIMIT_DB)), 2)
            if tried == (trial_gain, self.params.master["limiter_ceiling_dbtp"]):
                # the gain is held at its ±24 dB bound (the target is out of reach) and nothing else
                # changed: the same trial again would render the same mix
                break
            tried = (trial_gain, self.params.master["limiter_ceiling_dbtp"])
            lufs, tp = trial(trial_gain)
            if lufs is None:
                break
            error = self.target - lufs
            ceiling = self.params.master["limiter_ceiling_dbtp"]
            new = None if ceiling is None else lowered_ceiling(ceiling, tp, self.aim_tp)
            lowered = new is not None and not self.locked_ceiling
            if lowered and new is not None:  # (lowered implies a new ceiling; said again for the type checker)
                ceiling = new
                self.params.set_bus("master", "limiter_ceiling_dbtp", ceiling)
                self.reasons.add(
                    "master",
                    "limiter_ceiling_dbtp",
                    f"ceiling {ceiling:.2f} dBTP: {self.true_peak_dbtp:g} dBTP asked, less a {TRUE_PEAK_MARGIN_DB:g} "
                    "dB margin, lowered by the measured overshoot",
                )
            elif abs(error) < tolerance or self.locked_gain:
                break
            if self.locked_gain or abs(error) < tolerance:
                continue  # the same gain again, under the lowered ceiling
            # secant on loudness(gain): the limiter makes the slope below 1 once it works
            if last is not None and abs(trial_gain - last[0]) > 1e-3:
                slope = float(np.clip((lufs - last[1]) / (trial_gain - last[0]), MIN_SLOPE, 1.0))
            elif last is None and pre_lufs is not None and ceiling is not None and peak_db is not None:
                # first step: the limiter took `loss` LU for `over_db` dB of peaks above the ceiling;
                # assume it keeps taking that share of each further dB
                loss, over_db = pre_lufs + trial_gain - lufs, peak_db + trial_gain - ceiling
                if loss > 0.05 and over_db > 0.5:
                    slope = float(np.clip(1.0 - loss / over_db, MIN_SLOPE, 1.0))
            # a lowered ceiling moves the curve a little: do not take a secant across it
            last = None if lowered else (trial_gain, lufs)
            gain = trial_gain + error / slope
        return gain, slope


def _excerpt_starts(samples: int, sample_rate: int) -> list[int]:
    """Where :func:`_predict_on_excerpts` cuts its excerpts (each after a warm-up), or ``[]``
    when the song is too short for them to save time."""
    seg, warm = round(EXCERPT_S * sample_rate), round(EXCERPT_WARM_UP_S * sample_rate)
    if EXCERPTS < 2 or seg < 1 or EXCERPTS * (seg + warm) * EXCERPT_SHARE > samples:
        return []
    return [warm + round(k * (samples - seg - warm) / (EXCERPTS - 1)) for k in range(EXCERPTS)]


def master_excerpts(console: Console, pre: Bus, params: MixParams) -> tuple[list[int], list[np.ndarray]]:
    """The master's tail (output gain, limiters) of ``params`` run on :data:`EXCERPTS` evenly
    spaced excerpts of a :meth:`Console.master_pre` bus, each after :data:`EXCERPT_WARM_UP_S` of
    warm-up: where each starts in the song, and each, float32 ``(2, EXCERPT_S seconds)``: sample
    ``k`` of the excerpt at ``a`` stands for sample ``a + k`` of the full render's mix, as far as
    the warm-up makes it so (``test_deliver`` checks them against the full render). Nothing when
    the song is too short for excerpts to save time.

    The excerpts run as one bus, in one :meth:`Console.render_master` (its two threads, its
    blocks): each with its warm-up before it and the master's look-ahead after it, so a join
    reaches only the next excerpt's warm-up."""
    starts = _excerpt_starts(pre.samples, pre.sample_rate)
    return starts, _run_excerpts(console, _excerpt_bus(pre, starts), params, len(starts))


def _excerpt_bus(pre: Bus, starts: list[int]) -> Bus:
    """The excerpts at ``starts`` of ``pre``, each with its warm-up and the look-ahead, end to end."""
    sr, lat = pre.sample_rate, pre.latency
    seg, warm = round(EXCERPT_S * sr), round(EXCERPT_WARM_UP_S * sr)
    pieces = [pre.audio[:, a - warm : a + seg + lat] for a in starts] + [np.zeros((2, lat), np.float32)]
    audio = np.concatenate(pieces, axis=1)
    return Bus(audio, audio.shape[1] - lat, lat, pre.limiter, pre.chunk, sr, "pre", pre.dc_block)


def _run_excerpts(console: Console, bus: Bus, params: MixParams, count: int) -> list[np.ndarray]:
    """Each excerpt of the master's tail on an :func:`_excerpt_bus`, without its warm-up."""
    seg, warm = round(EXCERPT_S * bus.sample_rate), round(EXCERPT_WARM_UP_S * bus.sample_rate)
    out = console.render_master(bus, params, stage="tail") if count else np.zeros((2, 0), np.float32)
    step = warm + seg + bus.latency
    return [out[:, k * step + warm : k * step + warm + seg] for k in range(count)]


def _predict_on_excerpts(
    console: Console, pre: Bus, params: MixParams, search: _Search, gain: float, pre_lufs: float
) -> tuple[float, float] | None:
    """The search run on excerpts of a long song (:func:`master_excerpts`) first: ``(gain,
    slope)`` to start the full-length trials from, or ``None`` (a short song, no limiter, a lane
    on the master). The loudness the limiter takes from the excerpts stands for what it takes from
    the song (the song's loudness at a gain is ``pre_lufs + gain`` less that), so one full-length
    trial usually lands; the full-length trials still decide, as before."""
    sr = pre.sample_rate
    starts = _excerpt_starts(pre.samples, sr)
    if params.master["limiter_ceiling_dbtp"] is None or params.lanes.get("master") or not starts:
        return None
    seg = round(EXCERPT_S * sr)
    before = np.concatenate([pre.audio[:, a : a + seg] for a in starts], axis=1)
    linear, peak = integrated_streamed(before, sr), float(np.max(np.abs(before)))
    if linear is None or peak <= 0.0:
        return None
    bus = _excerpt_bus(pre, starts)
    ceiling = params.master["limiter_ceiling_dbtp"]
    room = round(search.aim_tp - OVERSHOOT_ROOM_DB, 2)
    if not search.locked_ceiling and ceiling > room:  # the room the overshoot rule would add: see OVERSHOOT_ROOM_DB
        params.set_bus("master", "limiter_ceiling_dbtp", room)
        search.reasons.add(
            "master",
            "limiter_ceiling_dbtp",
            f"ceiling {room:g} dBTP: {search.true_peak_dbtp:g} dBTP asked, less a {TRUE_PEAK_MARGIN_DB:g} dB margin "
            f"and {OVERSHOOT_ROOM_DB:g} dB for the limiter's own overshoot, which excerpts of a long song may not show",
        )

    def trial(trial_gain: float) -> tuple[float | None, float | None]:
        out = _run_excerpts(console, bus, _with_gain(params, trial_gain), len(starts))
        lufs = integrated_streamed(np.concatenate(out, axis=1), sr)
        tp = max((t for t in (true_peak(x, sr) for x in out) if t is not None), default=None)
        return (None if lufs is None else pre_lufs + lufs - linear), tp

    # half the tolerance: the excerpts' loudness loss is near the song's, not equal to it
    return search.run(trial, gain, 1.0, EXCERPT_TRIALS, 20.0 * np.log10(peak), pre_lufs, search.tolerance / 2)


def limiter_reduction(pre: np.ndarray, mix: np.ndarray, gain_db: float, sample_rate: float) -> dict[str, float] | None:
    """The limiter's gain reduction in ``mix``: ``{"max", "mean"}`` in dB (0 = untouched).

    ``pre`` is the master before its output gain (:meth:`Console.master_pre`'s song), ``mix`` the
    master's output, latency-compensated, so sample ``n`` of one is sample ``n`` of the other; the
    gain and the limiter are all that lie between them. Read per 10 ms block as the ratio of RMS
    (the limiter's gain is a smooth envelope, linked across channels), over the blocks within
    60 dB of the loudest; None for a silent mix.
    """
    block = max(1, int(round(REDUCTION_BLOCK_S * sample_rate)))
    n = min(pre.shape[-1], mix.shape[-1]) // block * block
    if n == 0:
        return None
    before, after = np.empty(n // block), np.empty(n // block)
    step = block * max(1, REDUCTION_CHUNK // block)  # whole 10 ms blocks at a time: bounded float64 copies
    for a in range(0, n, step):
        b = min(a + step, n)
        gained = pre[:, a:b].astype(np.float64) * 10 ** (gain_db / 20)
        before[a // block : b // block] = np.mean(gained.reshape(gained.shape[0], -1, block) ** 2, axis=(0, 2))
        done = mix[:, a:b].astype(np.float64)
        after[a // block : b // block] = np.mean(done.reshape(mix.shape[0], -1, block) ** 2, axis=(0, 2))
    active = before > before.max() * 1e-6
    if not active.any():
        return None
    reduction = 10 * np.log10(before[active] / np.maximum(after[active], 1e-30))
    reduction = np.maximum(reduction, 0.0)
    return {"max": round(float(reduction.max()), 2), "mean": round(float(reduction.mean()), 2)}


def _trial(
    console: Console, pre: Bus, params: MixParams, gain_db: float
) -> tuple[float, float | None, np.ndarray, LoudnessReport]:
    """``(gain, ceiling, mix, its measurements)`` of the master's tail at ``gain_db``
    (:func:`~mixassist.measure.measure` meters in blocks, without float64 copies of the mix)."""
    mix = console.render_master(pre, _with_gain(params, gain_db), stage="tail")
    return (gain_db, params.master["limiter_ceiling_dbtp"], mix, measure(mix, pre.sample_rate))


def _return_freed_memory() -> None:
    """Hand freed heap memory back to the system (glibc's ``malloc_trim``; nothing elsewhere).

    A render allocates and frees many block-sized buffers, partly in the worker threads' own
    heaps, and glibc keeps what was freed there: after the bus render and master of a 10-minute
    song about 0.3 GB that nothing uses would count in the process's memory through the trials
    (``benchmarks/memory.py``). A trim takes a few milliseconds.
    """
    if _LIBC is not None:
        _LIBC.malloc_trim(0)


def _chunks(audio: np.ndarray) -> list[np.ndarray]:
    """``audio`` ``(channels, samples)`` as views of :data:`REDUCTION_CHUNK` samples."""
    return [audio[:, a : a + REDUCTION_CHUNK] for a in range(0, audio.shape[-1], REDUCTION_CHUNK)]


def _with_gain(params: MixParams, gain_db: float) -> MixParams:
    """``params`` with the master output gain at ``gain_db`` (the master section is all that is read)."""
    trial = MixParams(["bus"], master=dict(params.master), dc_block=params.dc_block)
    trial.set_bus("master", "output_gain_db", gain_db)
    trial.lanes = {"master": dict(params.lanes["master"])} if "master" in params.lanes else {}
    return trial


def deliver_job(
    job: Job, params: MixParams, reasons: Reasons, *, after: float, **options: Any
) -> tuple[np.ndarray, MixParams, dict[str, Any], tuple[np.ndarray, LoudnessReport]]:
    """:func:`deliver_loudness` of a mixer's ``job``: reported as the stage "master: loudness and
    true peak" from fraction ``after`` to 1, with the job's locks applied again afterwards.
    ``options`` as in :func:`deliver_loudness`. Returns the mix, the settings it was rendered
    with, the figures of the mix (strict JSON), and the mix with its
    :func:`~mixassist.measure.measure` report (a :class:`~mixassist.mixers.decisions.Proposal`'s
    ``mix_report``: whoever measures that mix again need not)."""
    stage = "master: loudness and true peak"
    delivered = deliver_loudness(
        job.multitrack,
        params,
        job.constraints,
        reasons,
        progress=lambda f: job.report(stage, after + (1.0 - after) * f),
        **options,
    )
    job.constraints.apply(params)
    report, mix = delivered.pop("report"), delivered.pop("mix")
    return mix, delivered.pop("settings"), delivered, (mix, report)
