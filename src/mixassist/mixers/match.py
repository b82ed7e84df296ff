"""The ``match`` mixer: console settings solved toward a style target, starting from ``rules``.

1. **Start.** The knowledge-based mixer (:mod:`mixassist.mixers.rules`) proposes a mix (every
   setting with a reason), delivered at the loudness the target expects; its full render is
   measured (:func:`mixassist.style.style_features`).
2. **Target.** :meth:`StyleTarget.resolve` builds the concrete target from that measurement,
   the references, the strengths and the words.
3. **Excerpts.** ``excerpts`` windows of ``excerpt_s`` seconds, the loudest among evenly spaced
   candidates, are joined into one short multitrack; the optimiser renders only these.
   Because excerpts are not the song, the optimiser aims the *excerpt's* features at
   ``excerpt_start + (target - song_start)``: it moves each feature by what the song needs.
4. **Solve.** Adam on the free settings (faders, pans, widths, the six EQ gains of every track
   and of the master, compressor thresholds, reverb sends and return, glue ratio), each in a
   physical step unit (1 dB, 0.05 pan …), through the differentiable console
   (:meth:`Console.render_tensors`) and :func:`style_features_torch`; loss = the style distance's
   terms made smooth (:func:`solver_loss`) + a prior ``PRIOR_WEIGHT * Σ (Δ / tolerance)²`` that
   keeps every setting plausible and near the reasoned start. Tone words and ``smooth`` start
   from a master move (:data:`WORD_SEEDS`), and each feature word's own feature is one more
   loss term (:data:`WORD_WEIGHT`). Locked settings are not variables; user ranges clip.
   Deterministic: no randomness beyond ``seed`` (excerpt choice is deterministic too).
5. **Words that move settings** (``dry``/``wet``, ``TRACK forward/back``) are applied exactly.
6. **Delivery**: output gain and true-peak ceiling for the target loudness
   (:func:`mixassist.mixers.deliver.deliver_loudness`).
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import soxr
import torch

from mixassist.audio.multitrack import Multitrack
from mixassist.console.console import Console, ConsoleSettings
from mixassist.console.params import MixParams, validate_value
from mixassist.console.schema import EQ_BANDS, params_for
from mixassist.errors import InvalidParameterError
from mixassist.mixers.base import Job, Mixer, no_progress
from mixassist.mixers.constraints import BUSES, Constraints
from mixassist.mixers.decisions import Proposal
from mixassist.mixers.deliver import copy_bus, deliver_job, deliver_loudness, mix_bus
from mixassist.mixers.match_loss import WORD_FEATURES, WORD_WEIGHT, as_features, shift_features, solver_loss
from mixassist.mixers.neural import NeuralMixer, Predicted
from mixassist.mixers.rules import RulesMixer
from mixassist.style.features import (
    StyleFeatures,
    style_distance,
    style_features,
    style_features_torch,
)
from mixassist.style.target import STRENGTH_FIELDS, ResolvedTarget, StyleTarget

__all__ = [
    "MatchMixer",
    "PRIOR_WEIGHT",
    "WORD_WEIGHT",
    "STEPS",
    "AUTO_STEPS",
    "WORD_SEEDS",
    "WIDTH_REACH_DB",
    "select_excerpts",
    "solve_decimation",
    "solver_loss",
]

log = logging.getLogger(__name__)

Progress = Callable[[str, float], None]

PRIOR_WEIGHT = 0.02
"""Weight of the prior, per setting, against the style distance (dB/LU)."""
STEPS = 30
"""Default number of optimiser steps (fewer when the time budget runs out)."""

AUTO_STEPS = 10
"""Optimiser steps when refining the neural controller's mix (``method="auto"``): it starts
closer. More steps or a smaller step did not help the words on the tests' session: at lr 0.5 the
loss oscillates (``python scripts/check_words.py --method auto --words smooth --losses``); with
``--steps 30 --lr 0.1`` it converges but "smooth" ends at -0.14 dB of crest, short of its -0.2
(the delivery limiter pins the crest), and at ``--lr 0.2`` bright/dark reach only +1.67/-1.48."""
#: ``auto``'s plain aim (:meth:`MatchMixer._plain_style`) is measured on the solver's excerpts only in
#: songs at least this many times their length (3 x 4 s: from 36 s); shorter songs are mixed whole.
#: On 16 validation songs (8 of engine B, 8 in distribution, mixed whole both ways) the excerpts'
#: estimate of the plain mid balance was 0.12-0.14 dB from the whole mix's per band (mean; the
#: plain-to-start span it blends across: 0.8 dB), its crest 0.08 dB.
PLAIN_EXCERPT_SHARE = 3
_ATTRIBUTES = tuple(STRENGTH_FIELDS)  # tone, width, dynamics: what the solver moves (loudness is delivered)
_LR = 0.5  # Adam step, in each setting's step unit (0.5 dB, 0.025 pan …)
_PATIENCE = 8  # steps without improvement before stopping early

# (step per optimiser unit, prior tolerance) in physical units; ratio is handled in its normalised (log) view.
_TRACK_FREE: dict[str, tuple[float, float]] = {
    "gain_db": (1.0, 6.0),
    "pan": (0.05, 0.5),
    "width": (0.05, 0.5),
    "comp_threshold_db": (1.0, 8.0),
    "reverb_send_db": (1.0, 8.0),
    **{f"eq_{band}_db": (1.0, 4.0) for band, *_ in EQ_BANDS},
}
_MASTER_FREE: dict[str, tuple[float, float]] = {
    "output_gain_db": (1.0, 12.0),
    "comp_threshold_db": (1.0, 8.0),
    "comp_ratio": (0.03, 0.25),  # normalised (log) units
    **{f"eq_{band}_db": (1.0, 3.0) for band, *_ in EQ_BANDS},
}
_REVERB_FREE: dict[str, tuple[float, float]] = {"return_db": (1.0, 6.0)}
#: The master's mid/side width joins the free settings when the target's overall width is at least
#: this far (dB of side/mid) from the start mix's: faders, pans and track widths move a mix's width a
#: few dB, a reference 5-10 dB narrower or wider needs the master's side level (issue 19). Below it
#: (and so for the ±3 dB the words "wide"/"narrow" ask) the solve is as it was before issue 19.
WIDTH_REACH_DB = 4.0
_WIDTH_FREE = ("side_gain_db", (1.0, 12.0))
_NORMALISED = {("master", "comp_ratio")}
#: Words that start the solve from a master move: feature → (band or None, Hz, Q, master
#: setting moved, dB per dB asked). Low and low-mid bands carry most of a mix's power, so their
#: level *relative to the total* moves about half as much as the band itself: twice the ask.
#: "smooth" (crest down) starts from a glue threshold 3 dB lower per dB asked.
WORD_SEEDS: dict[str, tuple[str | None, float, float, str, float]] = {
    "high": ("high_shelf", 4000.0, 0.707, "eq_high_shelf_db", 1.0),
    "low_mid": ("peak1", 200.0, 0.7, "eq_peak1_db", 2.0),
    "low": ("low_shelf", 150.0, 0.707, "eq_low_shelf_db", 2.0),
    "crest-": (None, 0.0, 0.0, "comp_threshold_db", 3.0),
}


@dataclass(frozen=True)
class _Free:
    section: str  # track name, "master" or "reverb"
    name: str
    start: float  # physical (or normalised for _NORMALISED)
    step: float
    tolerance: float
    low: float
    high: float


def _width_gap(start: StyleFeatures, target: StyleFeatures) -> float | None:
    """Target minus start overall width (side/mid, dB), or None where either is undefined."""
    a, b = start.width_overall_db, target.width_overall_db
    return None if a is None or b is None else float(b) - float(a)


def solve_decimation(sample_rate: int) -> int:
    """By how much the solver's excerpts are resampled down: to the first rate ≤ 24 kHz
    reached by halving (44.1 kHz → 22.05 kHz). Settings are physical (Hz, ms, dB), so they mean
    the same at either rate; the features lose only the bands above the lower Nyquist frequency
    (from 10 kHz up at 22.05 kHz), which the full-rate start and target still carry."""
    factor = 1
    while sample_rate // (2 * factor) >= 16000 and sample_rate / factor > 24000:
        factor *= 2
    return factor


def select_excerpts(mix: np.ndarray, sample_rate: int, count: int, seconds: float) -> list[tuple[int, int]]:
    """``count`` windows of ``seconds`` (sample ranges), the loudest of ``2 * count`` evenly
    spaced candidates by mean square of ``mix``, in time order; the whole song if it is short."""
    n = mix.shape[-1]
    length = int(round(seconds * sample_rate))
    if n <= count * length or count < 1:
        return [(0, n)]
    starts = np.linspace(0, n - length, 2 * count).astype(int)
    energy = [float(np.mean(np.square(mix[:, s : s + length], dtype=np.float64))) for s in starts]
    chosen = sorted(np.argsort(energy)[::-1][:count])
    return [(int(starts[i]), int(starts[i]) + length) for i in chosen]


def excerpt_multitrack(multitrack: Multitrack, windows: list[tuple[int, int]]) -> Multitrack:
    """The tracks cut to ``windows`` (sample ranges, :func:`select_excerpts`) and joined."""
    arrays = {t.name: np.concatenate([t.read(a, b) for a, b in windows], axis=1) for t in multitrack}
    return Multitrack.from_arrays(arrays, multitrack.sample_rate)


def shifted_style(song: StyleFeatures, excerpt: StyleFeatures, excerpt_start: StyleFeatures) -> StyleFeatures:
    """``song + (excerpt - excerpt_start)`` for every feature :data:`STRENGTH_FIELDS` names (bands
    elementwise; None where any is None), the rest of ``song`` as it is: the song's style after a
    change measured on its excerpts."""
    values: dict[str, Any] = {}
    for names in STRENGTH_FIELDS.values():
        for name in names:
            a, b, c = getattr(song, name), getattr(excerpt, name), getattr(excerpt_start, name)
            values[name] = None if a is None or b is None or c is None else a + (b - c)
    return dataclasses.replace(song, **values)


class MatchMixer(Mixer):
    """Solve console settings toward a :class:`~mixassist.style.target.StyleTarget`.

    Parameters
    ----------
    target : StyleTarget
        References, strengths, words, loudness.
    loudness_lufs : float, optional
        Explicit delivery loudness (overrides the target's).
    true_peak_dbtp : float
        Ceiling of the mix's true peak.
    align : bool
        Multi-mic alignment in the ``rules`` start.
    excerpts, excerpt_s : int, float
        How much of the song the optimiser renders per step.
    steps : int
        Most optimiser steps.
    time_budget_s : float, optional
        Stop optimising after this long (the start mix, delivery and render are not counted).
    seed : int
        Everything is deterministic given the seed.
    prior_weight : float
        See :data:`PRIOR_WEIGHT`.
    start_method : str
        ``"rules"`` (``match``: the solver moves the rules mix toward the references by the
        strengths) or ``"neural"`` (``auto``: the controller's mix already carries the
        references' style for this song, so the solver aims at the controller's own mixes —
        see :meth:`_auto_aim` — and otherwise only at the words).
    keep_bus : bool
        Keep the final delivery's mix bus on the proposal (:attr:`Proposal.bus`) for a stage
        that delivers the whole song again (``auto``'s loop, when it moves only the master).
    """

    def __init__(
        self,
        target: StyleTarget,
        *,
        loudness_lufs: float | None = None,
        true_peak_dbtp: float = -1.0,
        align: bool = True,
        excerpts: int = 3,
        excerpt_s: float = 4.0,
        steps: int = STEPS,
        time_budget_s: float | None = None,
        seed: int = 0,
        prior_weight: float = PRIOR_WEIGHT,
        start_method: str = "rules",
        keep_bus: bool = False,
    ) -> None:
        if not isinstance(target, StyleTarget):
            raise InvalidParameterError(f"target must be a StyleTarget, got {type(target).__name__}")
        if loudness_lufs is not None:
            target = target.with_loudness(loudness_lufs)
        if not -12.0 <= true_peak_dbtp <= 0.0:
            raise InvalidParameterError(f"true_peak_dbtp={true_peak_dbtp:g} is outside -12…0 dBTP")
        if excerpts < 1 or excerpt_s < 3.5:
            raise InvalidParameterError(
                "excerpts must be ≥ 1 and excerpt_s ≥ 3.5 s (short-term loudness needs 3 s windows)"
            )
        if steps < 0:
            raise InvalidParameterError(f"steps={steps} must be ≥ 0")
        if start_method not in ("rules", "neural"):
            raise InvalidParameterError(f"start_method={start_method!r}: use 'rules' or 'neural'")
        if time_budget_s is not None and not (time_budget_s > 0):
            raise InvalidParameterError(f"time budget {time_budget_s!r} must be a positive number of seconds")
        self.target = target
        self.true_peak_dbtp = float(true_peak_dbtp)
        self.align = bool(align)
        self.excerpts = int(excerpts)
        self.excerpt_s = float(excerpt_s)
        self.steps = int(steps)
        self.time_budget_s = time_budget_s
        self.seed = int(seed)
        self.prior_weight = float(prior_weight)
        self.start_method = start_method
        self.keep_bus = bool(keep_bus)

    @property
    def method(self) -> str:
        """``"match"`` (rules start) or ``"auto"`` (neural start)."""
        return "auto" if self.start_method == "neural" else "match"

    def __repr__(self) -> str:
        return (
            f"MatchMixer(references={len(self.target.references)}, describe={self.target.description!r}, "
            f"steps={self.steps}, time_budget_s={self.time_budget_s}, seed={self.seed})"
        )

    # ------------------------------------------------------------------ loudness before the start mix
    def expected_loudness(self) -> float:
        """The loudness the start mix is delivered at (:meth:`StyleTarget.delivery_loudness`)."""
        return self.target.delivery_loudness()

    # ------------------------------------------------------------------ the mix
    def solve(self, job: Job) -> Proposal:
        """Settings for ``job.multitrack`` that match the target (see the module notes)."""
        multitrack, constraints, report = job.multitrack, job.constraints, job.report
        sr = multitrack.sample_rate
        began = time.perf_counter()
        loudness = self.expected_loudness()
        if self.start_method == "neural":
            first: Mixer = NeuralMixer(
                self._controller_target(), loudness_lufs=loudness, true_peak_dbtp=self.true_peak_dbtp, align=self.align
            )
        else:  # the start needs the loudness only roughly (it is delivered exactly at the end)
            # no separation stage: its masking-driven pan, width and EQ moves are not the
            # reference's style, and the solver would first have to undo them (docs/mixing.md)
            first = RulesMixer(
                loudness_lufs=loudness,
                true_peak_dbtp=self.true_peak_dbtp,
                align=self.align,
                delivery_tolerance_lu=0.5,
                separation=False,
            )
        proposal = first.propose(
            multitrack, constraints, start=job.start, progress=lambda stage, f: report(f"start: {stage}", 0.3 * f)
        )
        params, reasons = proposal.params, proposal.reasons
        report("measuring the start mix", 0.3)
        start_mix = proposal.rendered()
        if start_mix is None:
            start_mix = Console(sr).render(multitrack, params).mix
        start_features = style_features(start_mix, sr)
        if start_features.loudness_lufs is None:
            reasons.notes.append("the mix is silent: nothing to match; the rules settings are kept")
            proposal.context.update({"method": self.method, "target": self.target.to_dict()})
            proposal.method = self.method
            return proposal
        if self.start_method == "neural":
            like = first.predicted_ if isinstance(first, NeuralMixer) else None
            aim, toward = self._auto_aim(multitrack, constraints, proposal, like, start_features, loudness, report)
            solver_target = self.target.with_strengths({a: 1.0 if aim is not None else 0.0 for a in _ATTRIBUTES})
        else:
            aim, toward, solver_target = None, self._reference_names(), self.target
        resolved = solver_target.resolve(start_features, multitrack.names, reference=aim)
        if resolved.reference is None:
            toward = "the words asked for"
        elif not toward:  # auto with nothing to aim at but the references: they are the style
            toward = self._reference_names()
        pulled = resolved.reference is not None and any(solver_target.strengths[a] > 0 for a in _ATTRIBUTES)
        free = self._free_settings(multitrack, params, constraints)
        gap = _width_gap(start_features, resolved.features)
        if gap is not None and abs(gap) >= WIDTH_REACH_DB and not constraints.is_locked("master", "side_gain_db"):
            name, (step, tol) = _WIDTH_FREE
            lo, hi = constraints.ranges.get("master", {}).get(name, (-40.0, 12.0))
            free.append(_Free("master", name, params.master[name] or 0.0, step, tol, lo, hi))
        windows = select_excerpts(start_mix, sr, self.excerpts, self.excerpt_s)
        history: list[float] = []
        steps_run = 0
        if not (pulled or resolved.word_moves):
            followed = (
                "the controller's mix already follows the reference"
                if self.target.references
                else "the controller's mix is its house style (no reference)"
            )
            reasons.notes.append(
                f"{followed}, and no feature word, strength below 1 or lock asks for another style: the style solver "
                "was not run"
                if self.start_method == "neural"
                else "no reference to move toward (or every strength is 0) and no feature word: the style solver was not run"
            )
        elif free and self.steps:
            seeds = self._word_seeds(params, constraints, resolved)
            values, history, steps_run = self._solve(multitrack, params, free, windows, resolved, report, seeds)
            self._apply(params, free, values, constraints, reasons, toward)
        else:
            reasons.notes.append("no free setting to solve (all locked): the style match changed nothing")
        self._settings_moves(params, constraints, reasons, resolved)
        report("master: loudness and true peak", 0.9)
        # a resolved target always carries a loudness (float(None) would raise here as before)
        target_lufs = float(cast(float, resolved.features.loudness_lufs))
        unchanged = (
            self.start_method == "neural"
            and steps_run == 0
            and not resolved.moves
            and target_lufs == loudness
            and proposal.rendered() is not None
        )
        if unchanged:  # the controller's delivered mix is the answer: no second delivery
            delivered = dict(proposal.context["result"])
            final = start_features
        else:
            bus = mix_bus(multitrack, params, constraints, self.true_peak_dbtp) if self.keep_bus else None
            proposal.mix, proposal.mix_of, delivered, proposal.mix_report = deliver_job(
                job,
                params,
                reasons,
                after=0.9,
                loudness_lufs=target_lufs,
                true_peak_dbtp=self.true_peak_dbtp,
                previous=proposal.context.get("result"),
                bus=None if bus is None else copy_bus(bus),
            )
            proposal.bus = None if bus is None else (params.copy(), bus)
            final = style_features(proposal.mix, sr)
        proposal.context.update(
            {
                "method": self.method,
                "start": self.start_method,
                "loudness_lufs": target_lufs,
                "target": self.target.to_dict(),
                "words": [m.describe() for m in (*resolved.word_moves, *resolved.moves)],
                "style": {
                    "start": start_features.to_dict(),
                    "target": resolved.features.to_dict(),
                    "reference": reference.to_dict()
                    if (reference := self.target.reference_features()) is not None
                    else None,
                    "aim": {"toward": toward, "features": aim.to_dict()} if aim is not None else None,
                    "result": final.to_dict(),
                    "distance_start": style_distance(start_features, resolved.features),
                    "distance_result": style_distance(final, resolved.features),
                },
                "solver": {
                    "steps": steps_run,
                    "loss": history,
                    "free_settings": len(free),
                    "seed": self.seed,
                    "excerpts_s": [[a / sr, b / sr] for a, b in windows],
                    "prior_weight": self.prior_weight,
                    "time_budget_s": self.time_budget_s,
                    "seconds": time.perf_counter() - began,
                },
                "result": delivered,
            }
        )
        proposal.method = self.method
        report("done", 1.0)
        return proposal

    # ------------------------------------------------------------------ pieces
    def _reference_names(self) -> str:
        """The references by file name (``"the reference"`` when one has no name): what a style
        note says the mix moved toward."""
        names = [os.path.basename(r.label) or r.label for r in self.target.references if r.label]
        if not names or names == ["reference"]:
            return "the reference"
        return ", ".join(names)

    def _controller_target(self) -> StyleTarget:
        """The target as the controller reads it: references and loudness, no words (the solve
        applies those; the controller's own note about unread words would mislead here)."""
        return dataclasses.replace(self.target, description="")

    def _auto_aim(
        self,
        multitrack: Multitrack,
        constraints: Constraints,
        first: Proposal,
        like: Predicted | None,
        start: StyleFeatures,
        loudness: float,
        report: Progress,
    ) -> tuple[StyleFeatures | None, str]:
        """What ``auto``'s solver moves the controller's mix toward (``None``: nowhere but the words).

        The controller's mix carries the references' style *for this song*. Aiming the solver at
        the references themselves copies the other song's content instead: on the validation set
        (``docs/model-card.md``) every share of the reference-minus-start distance made the mix
        worse against ``target_mix``. So ``auto`` aims at the controller's own mixes:

        - **locks** (and narrowed ranges): the controller's mix of the session *without* them
          (roles kept); the free settings are re-solved so that the constrained mix keeps that style;
        - **strengths below 1**: per attribute, ``plain + strength × (styled − plain)``, where
          ``styled`` is the mix with the references and ``plain`` the controller's mix with
          none (its learned house style): strength 0 is "this song as the controller mixes it
          without a reference". ``plain`` is measured as the start mix plus what the plain settings
          change on the solver's excerpts (:meth:`_plain_style`), not as a second whole-song mix.
        """
        s = self.target.strengths
        partial = bool(self.target.references) and any(s[a] < 1.0 for a in _ATTRIBUTES)
        locked = any(constraints.locks.values()) or any(constraints.ranges.values())  # ranges constrain too
        if not (partial or locked):
            return None, ""
        unlocked = Constraints(roles=dict(constraints.roles))
        sr = multitrack.sample_rate

        def controller_style(target: StyleTarget, stage: str) -> StyleFeatures:
            report(stage, 0.3)
            mixer = NeuralMixer(target, loudness_lufs=loudness, true_peak_dbtp=self.true_peak_dbtp, align=self.align)
            proposal = mixer.propose(multitrack, unlocked)
            mix = proposal.rendered()
            return style_features(mix if mix is not None else Console(sr).render(multitrack, proposal.params).mix, sr)

        styled = controller_style(self._controller_target(), "aim: the mix without locks") if locked else start
        if not partial:
            return styled, "the controller's mix without the locks and ranges"
        plain = self._plain_style(multitrack, unlocked, first, like, start, loudness, report)
        values: dict[str, Any] = {}
        for attribute, names in STRENGTH_FIELDS.items():
            for name in names:
                a, b = getattr(plain, name), getattr(styled, name)
                values[name] = b if a is None or b is None else a + s[attribute] * (b - a)
        aim = dataclasses.replace(styled, **values)
        what = "the controller's mixes with and without the reference, blended by the strengths"
        return aim, what + (" (without the locks and ranges)" if locked else "")

    def _plain_style(
        self,
        multitrack: Multitrack,
        unlocked: Constraints,
        first: Proposal,
        like: Predicted | None,
        start: StyleFeatures,
        loudness: float,
        report: Progress,
    ) -> StyleFeatures:
        """The style of the controller's mix of ``multitrack`` without a reference (``plain`` in
        :meth:`_auto_aim`): the start mix's features plus what the plain settings change on the
        solver's excerpts (:func:`select_excerpts` of the start mix), each mix delivered there to
        the start's loudness on them. Only the controller's pass runs on the whole song; its glue
        threshold sits below the excerpts' bus peak (the loudest windows hold the song's peaks), and
        it reads the start's track statistics and alignment again (``like``, the start's prediction).
        A song shorter than :data:`PLAIN_EXCERPT_SHARE` times the excerpts is mixed and measured
        whole, as before (there the excerpts would save little)."""
        report("aim: the mix without a reference", 0.3)
        sr = multitrack.sample_rate
        mixer = NeuralMixer(StyleTarget(), loudness_lufs=loudness, true_peak_dbtp=self.true_peak_dbtp, align=self.align)
        start_mix = first.rendered()
        short = self.excerpts * self.excerpt_s * PLAIN_EXCERPT_SHARE * sr > multitrack.num_samples
        if short or start_mix is None:
            proposal = mixer.propose(multitrack, unlocked)
            mix = proposal.rendered()
            return style_features(mix if mix is not None else Console(sr).render(multitrack, proposal.params).mix, sr)
        predicted = mixer.predicted_settings(Job(multitrack, unlocked, None, no_progress), like=like)
        excerpt = excerpt_multitrack(multitrack, select_excerpts(start_mix, sr, self.excerpts, self.excerpt_s))
        at_start = style_features(Console(sr).render(excerpt, first.params).mix, sr)
        if at_start.loudness_lufs is None or start.loudness_lufs is None:
            return start
        bus = mix_bus(excerpt, predicted.params, unlocked, self.true_peak_dbtp)
        mixer.set_master(predicted, unlocked, float(np.max(np.abs(bus.song))) if bus.song.size else 0.0)
        delivered = deliver_loudness(
            excerpt,
            predicted.params,
            unlocked,
            predicted.reasons,
            loudness_lufs=loudness + at_start.loudness_lufs - start.loudness_lufs,
            true_peak_dbtp=self.true_peak_dbtp,
            bus=bus,
        )
        return shifted_style(start, style_features(delivered["mix"], sr), at_start)

    def _free_settings(self, multitrack: Multitrack, params: MixParams, constraints: Constraints) -> list[_Free]:
        out: list[_Free] = []
        silent = {t.name for t in multitrack if t.is_silent()}

        def add(section: str, name: str, step: float, tol: float) -> None:
            if constraints.is_locked(section, name):
                return
            kind = section if section in BUSES else "track"
            p = params_for(kind)[name]
            value = params.value(section, name)
            if value is None:
                return
            lo, hi = p.minimum, p.maximum
            if section in constraints.ranges and name in constraints.ranges[section]:
                lo, hi = constraints.ranges[section][name]
            if (section, name) in _NORMALISED:
                out.append(
                    _Free(
                        section,
                        name,
                        float(p.to_normalised(value)),
                        step,
                        tol,
                        float(p.to_normalised(lo)),
                        float(p.to_normalised(hi)),
                    )
                )
            else:
                out.append(_Free(section, name, float(value), step, tol, float(lo), float(hi)))

        any_send = False
        for t in multitrack:
            if t.name in silent:
                continue
            for name, (step, tol) in _TRACK_FREE.items():
                if name == "width" and t.channels != 2:
                    continue
                if name == "comp_threshold_db" and (params.get(t.name, "comp_ratio") or 1.0) <= 1.0:
                    continue
                add(t.name, name, step, tol)
            any_send |= params.get(t.name, "reverb_send_db") is not None
        for name, (step, tol) in _MASTER_FREE.items():
            if name in ("comp_threshold_db", "comp_ratio") and (params.master["comp_ratio"] or 1.0) <= 1.0:
                continue
            add("master", name, step, tol)
        if any_send:
            for name, (step, tol) in _REVERB_FREE.items():
                add("reverb", name, step, tol)
        return out

    def _settings(self, base: ConsoleSettings, names: list[str], free: list[_Free], z: torch.Tensor) -> ConsoleSettings:
        track = dict(base.track)
        master = dict(base.master)
        reverb = dict(base.reverb)
        index = {n: i for i, n in enumerate(names)}
        grouped: dict[tuple[str, str], list[tuple[int, torch.Tensor]]] = {}
        for k, f in enumerate(free):
            value = torch.clamp(f.start + z[k] * f.step, f.low, f.high)
            if f.section == "master":
                if (f.section, f.name) in _NORMALISED:
                    value = cast(torch.Tensor, params_for("master")[f.name].from_normalised(value))
                master[f.name] = value.to(torch.float32)
            elif f.section == "reverb":
                reverb[f.name] = value.to(torch.float32)
            else:
                grouped.setdefault(("track", f.name), []).append((index[f.section], value))
        for (_, name), items in grouped.items():
            idx = torch.tensor([i for i, _ in items])
            vals = torch.stack([v for _, v in items]).to(torch.float32)
            track[name] = track[name].index_put((idx,), vals)
        # The solver's excerpts render without the DC blockers: a 5 Hz high-pass moves no style
        # feature it reads, and with it the solver's first steps overshot (test_match's auto
        # strength case: loss 1.24 -> 2.88). The delivered mix renders with them (``base.dc_block``).
        return ConsoleSettings(track=track, reverb=reverb, master=master, reverb_seed=base.reverb_seed, dc_block=False)

    def _solve(
        self,
        multitrack: Multitrack,
        params: MixParams,
        free: list[_Free],
        windows: list[tuple[int, int]],
        resolved: ResolvedTarget,
        report: Progress,
        seeds: dict[tuple[str, str], float] | None = None,
    ) -> tuple[np.ndarray, list[float], int]:
        seeds = seeds or {}
        torch.manual_seed(self.seed)
        names = params.track_names
        factor = solve_decimation(multitrack.sample_rate)
        sr = multitrack.sample_rate // factor
        tracks = []
        for n in names:
            audio = np.concatenate([multitrack[n].read(a, b) for a, b in windows], axis=1)
            if factor > 1:
                audio = soxr.resample(audio.T, multitrack.sample_rate, sr, quality="HQ").T
            tracks.append(torch.from_numpy(np.ascontiguousarray(audio, dtype=np.float32)))
        console = Console(sr)
        base = ConsoleSettings.from_params(params)
        z = torch.zeros(len(free), dtype=torch.float64, requires_grad=True)
        steps = torch.tensor([f.step for f in free], dtype=torch.float64)
        tol = torch.tensor([f.tolerance for f in free], dtype=torch.float64)
        with torch.no_grad():  # the excerpt at the start settings: aim it by what the song needs
            mix, _ = console.render_tensors(tracks, self._settings(base, names, free, z))
            aim = shift_features(as_features(style_features_torch(mix, sr)), resolved.start, resolved.features)
            for k, f in enumerate(free):  # words with a starting move (bright: a master shelf …)
                if (f.section, f.name) in seeds:
                    z[k] = seeds[(f.section, f.name)] / f.step
        words = sorted({m.descriptor.feature for m in resolved.word_moves} & set(WORD_FEATURES))
        optimiser = torch.optim.Adam([z], lr=_LR)
        best, best_z, stale, history = math.inf, z.detach().clone(), 0, []
        began = time.perf_counter()
        steps_run = 0
        for step in range(self.steps):
            if self.time_budget_s is not None and time.perf_counter() - began > self.time_budget_s:
                break
            optimiser.zero_grad()
            mix, _ = console.render_tensors(tracks, self._settings(base, names, free, z))
            feats = style_features_torch(mix, sr)
            style = solver_loss(feats, aim, words)
            prior = self.prior_weight * torch.sum(torch.square(z * steps / tol))
            loss = style + prior
            value = float(loss.detach())
            history.append(value)
            steps_run = step + 1
            report(
                f"matching the style (step {step + 1}, loss {value:.2f})", 0.35 + 0.5 * (step + 1) / max(self.steps, 1)
            )
            if not math.isfinite(value):
                log.warning("match: the loss is not finite at step %d; keeping the best settings so far", step)
                break
            if value < best - 1e-4:
                best, best_z, stale = value, z.detach().clone(), 0
            else:
                stale += 1
                if stale >= _PATIENCE:
                    break
            loss.backward()
            with torch.no_grad():
                # backward() has just filled the gradient
                z.grad = torch.nan_to_num(cast(torch.Tensor, z.grad), nan=0.0, posinf=0.0, neginf=0.0)
            optimiser.step()
        values = np.array([min(max(f.start + float(best_z[k]) * f.step, f.low), f.high) for k, f in enumerate(free)])
        return values, history, steps_run

    def _apply(
        self,
        params: MixParams,
        free: list[_Free],
        values: np.ndarray,
        constraints: Constraints,
        reasons: Any,
        toward: str,
    ) -> None:
        for f, value in zip(free, values):
            kind = f.section if f.section in BUSES else "track"
            p = params_for(kind)[f.name]
            old = (
                params.master[f.name]
                if f.section == "master"
                else params.reverb[f.name]
                if f.section == "reverb"
                else params.get(f.section, f.name)
            )
            chosen = float(p.from_normalised(value)) if (f.section, f.name) in _NORMALISED else float(value)
            new = validate_value(p, round(chosen, 3), f.section)
            if old is None or new is None or abs(new - old) < (0.02 if p.unit == "" else 0.1):
                continue
            before = reasons.get(f.section, f.name)
            unit = f" {p.unit}" if p.unit else ""
            note = f"style match: {old:g} → {new:g}{unit}, toward the style of {toward}"
            constraints.choose(params, f.section, f.name, new)
            reasons.add(f.section, f.name, f"{before}; {note}" if before else note)

    @staticmethod
    def _word_seeds(
        params: MixParams, constraints: Constraints, resolved: ResolvedTarget
    ) -> dict[tuple[str, str], float]:
        """Where tone words start the solve: a master EQ move of the asked size (the solver then
        refines it with everything else). Band frequencies/Q are set when unlocked; returns
        ``{("master", gain param): dB}``."""
        seeds: dict[tuple[str, str], float] = {}
        for move in resolved.word_moves:
            feature = move.descriptor.feature
            key_word = "crest-" if feature == "crest" and move.amount < 0 else feature
            seed = WORD_SEEDS.get(key_word)
            if seed is None:
                continue
            band, hz, q, name, per_db = seed
            if constraints.is_locked("master", name) or params.master[name] is None:
                continue
            if name == "comp_threshold_db" and (params.master["comp_ratio"] or 1.0) <= 1.0:
                continue
            if band is not None and params.master[name] == 0.0:  # a band the start left flat: place it
                constraints.choose(params, "master", f"eq_{band}_hz", hz)
                constraints.choose(params, "master", f"eq_{band}_q", q)
            key = ("master", name)
            seeds[key] = seeds.get(key, 0.0) + per_db * move.amount
        return seeds

    def _settings_moves(
        self, params: MixParams, constraints: Constraints, reasons: Any, resolved: ResolvedTarget
    ) -> None:
        for move in resolved.moves:
            d = move.descriptor
            if d.feature == "reverb":
                self._reverb_move(params, constraints, reasons, move.amount, move.text)
            elif d.feature == "track_level":
                for track in move.tracks:
                    if constraints.is_locked(track, "gain_db"):
                        reasons.notes.append(f"'{move.text}': {track}.gain_db is locked; left as it is")
                        continue
                    old = params.get(track, "gain_db") or 0.0
                    new = float(np.clip(old + move.amount, -60.0, 24.0))
                    constraints.choose(params, track, "gain_db", new)
                    reasons.add(
                        track,
                        "gain_db",
                        f"{reasons.get(track, 'gain_db') or ''}; '{move.text}': "
                        f"{new - old:+.1f} dB on the fader, the rest unchanged".lstrip("; "),
                    )

    @staticmethod
    def _reverb_move(params: MixParams, constraints: Constraints, reasons: Any, amount: float, text: str) -> None:
        sends = [t for t in params.track_names if params.get(t, "reverb_send_db") is not None]
        if not sends:
            if amount <= 0:
                reasons.notes.append(f"'{text}': the mix has no reverb send; it is already dry")
                return
            for t in params.track_names:  # "wet" on a dry mix: open modest sends on every track first
                if not constraints.is_locked(t, "reverb_send_db"):
                    constraints.choose(params, t, "reverb_send_db", -20.0)
                    reasons.add(t, "reverb_send_db", f"'{text}': send opened at -20 dB (the mix had no reverb)")
            return
        if constraints.is_locked("reverb", "return_db"):
            reasons.notes.append(f"'{text}': reverb.return_db is locked; left as it is")
            return
        old = params.reverb["return_db"] or 0.0
        new = float(np.clip(old + amount, -60.0, 12.0))
        constraints.choose(params, "reverb", "return_db", new)
        rest = amount - (new - old)
        reasons.add("reverb", "return_db", f"'{text}': return {old:+.1f} → {new:+.1f} dB")
        if abs(rest) > 1e-6:  # the return hit its limit: move the sends by the rest
            for t in sends:
                if not constraints.is_locked(t, "reverb_send_db"):
                    value = float(np.clip((params.get(t, "reverb_send_db") or -60.0) + rest, -60.0, 6.0))
                    constraints.choose(params, t, "reverb_send_db", value)
                    reasons.add(t, "reverb_send_db", f"'{text}': send {rest:+.1f} dB (the return is at its limit)")
