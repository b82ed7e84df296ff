"""The neural mixer: the trained controller predicts every console setting in one pass.

The controller (:mod:`mixassist.neural.model`) reads each track's whole-song summary and role,
the unprocessed sum, and the reference (or a learned "no reference" token) and predicts
normalised settings (:mod:`mixassist.neural.layout`).  This mixer turns them into physical
settings under the user's constraints, chooses pan sides, aligns multi-mic tracks (the
controller does not predict delays or polarity), places the glue threshold below the bus peak,
and delivers loudness and true peak like every other mixer.  Its settings can seed ``match``
(``method="auto"``).

The shipped weights live in ``mixassist/neural/weights/controller.pt`` with a SHA-256 sidecar;
they load offline, and a file that does not match its checksum is refused.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mixassist.audio.multitrack import Multitrack
from mixassist.console.params import MixParams
from mixassist.console.schema import EQ_BANDS, SECTIONS
from mixassist.errors import InvalidParameterError, MissingDependencyError
from mixassist.mixers.align import AlignmentReport, align_session, aligning_locks
from mixassist.mixers.base import Job, Mixer
from mixassist.mixers.constraints import Constraints
from mixassist.mixers.decisions import Proposal, Reasons
from mixassist.mixers.deliver import deliver_job, mix_bus
from mixassist.mixers.roles import is_low_source, session_roles
from mixassist.neural.features import (
    approx_loudness,
    sum_stats,
    summary_vector,
    track_vector,
    window_stats,
)
from mixassist.neural.layout import apply_buses, apply_track, assign_sides
from mixassist.neural.model import MixController, ModelConfig
from mixassist.neural.reference import reference_summary
from mixassist.style.target import StyleTarget

__all__ = ["NeuralMixer", "Predicted", "load_controller", "DEFAULT_WEIGHTS"]

Progress = Callable[[str, float], None]
#: The shipped controller.
DEFAULT_WEIGHTS = Path(__file__).resolve().parents[1] / "neural" / "weights" / "controller.pt"
_LOADED: dict[str, MixController] = {}


def load_controller(path: str | Path | None = None) -> MixController:
    """The controller stored at ``path`` (default: the shipped one), checked against its SHA-256."""
    path = Path(path) if path is not None else DEFAULT_WEIGHTS
    key = str(path.resolve())
    if key in _LOADED:
        return _LOADED[key]
    if not path.exists():
        raise MissingDependencyError(
            f"{path}: no controller weights here (train them with `mixassist train --config configs/neural.toml`)"
        )
    data = path.read_bytes()
    sidecar = path.with_suffix(".json")
    if sidecar.exists():
        expected = json.loads(sidecar.read_text()).get("sha256")
        if expected and hashlib.sha256(data).hexdigest() != expected:
            raise InvalidParameterError(
                f"{path}: the weights do not match the SHA-256 in {sidecar.name}; the file is damaged"
            )
    try:
        state = torch.load(io.BytesIO(data), weights_only=True)
        model = MixController(ModelConfig(**state["model_config"]))
        model.load_state_dict(state["model"])
    except (RuntimeError, KeyError, TypeError, ValueError) as err:
        raise InvalidParameterError(f"{path}: not a controller weights file ({err})") from err
    model.eval()
    _LOADED[key] = model
    return model


@dataclasses.dataclass
class Predicted:
    """The controller's settings for a session before the master's glue threshold and the delivery
    (:meth:`NeuralMixer.predicted_settings`)."""

    params: MixParams
    reasons: Reasons
    roles: dict[str, dict[str, str]]  # per track: role, source, reason
    measured: dict[str, dict[str, Any]]  # per live track: approximate input loudness, peak
    alignment: dict[str, Any] | None
    glue_depth_db: float | None  # the glue threshold's predicted depth below the bus peak (None: no bus predicted)
    stats: dict[str, Any]  # per track: its window statistics (what the controller read)
    live: list[str]  # the tracks that are not silent
    found: AlignmentReport | None  # what the multi-mic alignment detected
    aligning_locks: list[str]  # the live tracks whose delay or polarity was locked when it was detected


class NeuralMixer(Mixer):
    """One-pass mixing by the trained controller.

    Parameters
    ----------
    target : StyleTarget, optional
        References (their summaries steer the controller) and the delivery loudness; words are
        not read by the controller (``method="auto"`` applies them in the refinement).
    loudness_lufs : float, optional
        Explicit delivery loudness (overrides the target's).
    true_peak_dbtp : float
        Ceiling of the mix's true peak.
    align : bool
        Correct multi-mic delay and polarity first.
    weights : path, optional
        Controller weights (default: the shipped ones).
    """

    def __init__(
        self,
        target: StyleTarget | None = None,
        *,
        loudness_lufs: float | None = None,
        true_peak_dbtp: float = -1.0,
        align: bool = True,
        weights: str | Path | None = None,
    ) -> None:
        target = target or StyleTarget()
        if loudness_lufs is not None:
            target = target.with_loudness(loudness_lufs)
        if not -12.0 <= true_peak_dbtp <= 0.0:
            raise InvalidParameterError(f"true_peak_dbtp={true_peak_dbtp:g} is outside -12…0 dBTP")
        self.target = target
        self.true_peak_dbtp = float(true_peak_dbtp)
        self.align = bool(align)
        self.weights = weights

    #: The last :meth:`solve`'s prediction before its delivery (scikit-learn's fitted attribute).
    predicted_: Predicted | None = None

    def __repr__(self) -> str:
        return f"NeuralMixer(references={len(self.target.references)}, weights={self.weights or 'shipped'})"

    def predict(
        self, multitrack: Multitrack, roles: dict[str, str], stats: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """The controller's raw prediction: ``{"tracks": {name: outputs}, "reverb", "master", "stats",
        "live", "loudness"}`` (outputs for the non-silent ``live`` tracks; ``loudness``: each track's
        approximate input loudness, None when silent) (outputs in [0, 1], layout of :mod:`mixassist.neural.layout`).
        ``stats``: each track's ``window_stats`` if an earlier prediction for the same tracks has them."""
        sr = multitrack.sample_rate
        if stats is None:
            stats = {t.name: window_stats(t.audio, sr) for t in multitrack}
        loudness = {n: approx_loudness(s) for n, s in stats.items()}
        live = [n for n in multitrack.names if loudness[n] is not None and stats[n].peak > 0]
        if not live:
            return {"tracks": {}, "reverb": None, "master": None, "stats": stats, "live": live, "loudness": loudness}
        vectors = np.stack([track_vector(stats[n], roles[n]) for n in live])
        reference = reference_summary([(r.audio, r.sample_rate, r.weight) for r in self.target.references])
        has_reference = reference is not None
        summed = summary_vector(sum_stats([stats[n] for n in live]))
        model = load_controller(self.weights)
        with torch.no_grad():
            out = model(
                torch.from_numpy(vectors)[None],
                torch.ones(1, len(live), dtype=torch.bool),
                torch.from_numpy(np.asarray(reference if has_reference else np.zeros_like(summed), np.float32))[None],
                torch.tensor([has_reference]),
                torch.from_numpy(summed)[None],
            )
        track = torch.sigmoid(out["track"][0]).numpy()
        return {
            "tracks": {n: track[i] for i, n in enumerate(live)},
            "reverb": torch.sigmoid(out["reverb"][0]).numpy(),
            "master": torch.sigmoid(out["master"][0]).numpy(),
            "stats": stats,
            "live": live,
            "loudness": loudness,
        }

    def _source(self) -> str:
        """Where the predictions come from, as the reasons say it."""
        return "the reference's style" if self.target.references else "no reference (the controller's average style)"

    def predicted_settings(self, job: Job, like: Predicted | None = None) -> Predicted:
        """The controller's settings for ``job`` under its constraints (roles, alignment, every
        track and bus setting with its reason), before the glue threshold (it sits below the mix
        bus's peak, :meth:`set_master`) and the delivery: :meth:`solve` without its full-length renders.

        ``like``: an earlier prediction for the same tracks (another target: ``auto``'s plain aim),
        whose track statistics are read again, and whose multi-mic alignment is when neither locks
        a delay or polarity."""
        multitrack, constraints, report = job.multitrack, job.constraints, job.report
        params = job.first_params()
        reasons = Reasons()

        report("roles", 0.0)
        roles_out = {
            n: {"role": g.role, "source": g.source, "reason": g.reason}
            for n, g in session_roles(multitrack, constraints.roles).items()
        }
        report("controller", 0.1)
        roles = {n: r["role"] for n, r in roles_out.items()}
        predicted = self.predict(multitrack, roles, like.stats if like is not None else None)
        stats, live, input_lufs = predicted["stats"], predicted["live"], predicted["loudness"]
        measured: dict[str, dict[str, Any]] = {}
        for name in multitrack.names:
            if name not in live:
                reasons.notes.append(f"{name} is silent: left out of the mix's balance and at its neutral settings")
                continue
            measured[name] = {
                "input_lufs_approx": round(float(input_lufs[name]), 2),
                "peak_dbfs": round(20 * float(np.log10(stats[name].peak)), 2),
            }
        if not live:
            reasons.notes.append("every track is silent: nothing to mix; settings left neutral")

        locks = aligning_locks(live, constraints)
        earlier = like.found if like is not None and like.live == live and like.aligning_locks == locks else None
        found = align_session(multitrack, live, params, constraints, reasons, found=earlier) if self.align else None
        alignment = found.to_dict() if found is not None else None
        source = self._source()
        magnitudes: dict[str, float] = {}
        for name in live:
            s = stats[name]
            lufs, peak_db = float(input_lufs[name]), 20 * float(np.log10(s.peak))
            low = is_low_source(name, roles_out[name]["role"])
            values = tidy(
                apply_track(params, name, predicted["tracks"][name], lufs, peak_db, s.stereo, low_source=low), "track"
            )
            magnitudes[name] = float(values.pop("pan"))
            level = lufs + float(values["gain_db"])
            for p, v in values.items():
                reasons.set(params, constraints, name, p, v, _why(p, v, level, roles_out[name]["role"], source, low))
        in_mix = {n: float(input_lufs[n]) + float(params.get(n, "gain_db") or 0.0) for n in live}
        for name, pan in assign_sides(magnitudes, in_mix).items():
            why = (
                "centred"
                if pan == 0.0
                else f"{abs(pan):.2f} from centre (predicted); {'right' if pan > 0 else 'left'} so the sides alternate, loudest first"
            )
            reasons.set(params, constraints, name, "pan", round(pan, 3), why)
        if predicted["reverb"] is not None:
            reverb, master, depth = apply_buses(predicted["reverb"], predicted["master"])
            reverb, master = tidy(reverb, "reverb"), tidy(master, "master")
            for p, v in reverb.items():
                reasons.set(params, constraints, "reverb", p, v, f"predicted from {source}")
            for p, v in master.items():
                if p != "comp_threshold_db":
                    reasons.set(params, constraints, "master", p, v, f"predicted from {source}")
            depth_db: float | None = float(depth)
        else:
            depth_db = None
        return Predicted(params, reasons, roles_out, measured, alignment, depth_db, stats, live, found, locks)

    def set_master(self, predicted: Predicted, constraints: Constraints, bus_peak: float) -> None:
        """The master's glue threshold ``predicted.glue_depth_db`` below ``bus_peak`` (linear, the mix
        bus's peak; none without a glue compressor or a peak) and the true-peak ceiling, with their
        reasons: the settings :meth:`predicted_settings` leaves to be set before the delivery."""
        params, depth = predicted.params, predicted.glue_depth_db
        if depth is not None and bus_peak > 0 and (params.master["comp_ratio"] or 1.0) > 1.0:
            threshold = float(np.clip(20 * np.log10(bus_peak) - depth, -60.0, 0.0))
            predicted.reasons.set(
                params,
                constraints,
                "master",
                "comp_threshold_db",
                round(threshold, 2),
                f"glue threshold {depth:.1f} dB below the bus peak (depth predicted from {self._source()})",
            )
        predicted.reasons.set(
            params,
            constraints,
            "master",
            "limiter_ceiling_dbtp",
            self.true_peak_dbtp,
            f"true-peak ceiling {self.true_peak_dbtp:g} dBTP",
        )

    def solve(self, job: Job) -> Proposal:
        """Settings for ``multitrack`` predicted by the controller, delivered to the loudness target
        (what was predicted before the delivery is kept as ``self.predicted_``)."""
        multitrack, constraints, report = job.multitrack, job.constraints, job.report
        began = time.perf_counter()
        predicted = self.predicted_ = self.predicted_settings(job)
        params, reasons = predicted.params, predicted.reasons
        roles_out, measured, alignment = predicted.roles, predicted.measured, predicted.alignment
        bus, peak = None, 0.0
        if predicted.glue_depth_db is not None:
            report("master: glue threshold", 0.5)
            bus = mix_bus(multitrack, params, constraints, self.true_peak_dbtp)
            peak = float(np.max(np.abs(bus.song))) if bus.song.size else 0.0
        self.set_master(predicted, constraints, peak)
        target_lufs = self.target.delivery_loudness()
        report("master: loudness and true peak", 0.7)
        mix, mix_of, delivered, measured_mix = deliver_job(
            job, params, reasons, after=0.7, loudness_lufs=target_lufs, true_peak_dbtp=self.true_peak_dbtp, bus=bus
        )
        context = {
            "method": "neural",
            "loudness_lufs": target_lufs,
            "true_peak_dbtp": self.true_peak_dbtp,
            "constraints": constraints.to_dict(),
            "target": self.target.to_dict(),
            "weights": str(self.weights or DEFAULT_WEIGHTS.name),
            "seconds": round(time.perf_counter() - began, 3),
            "result": delivered,
        }
        if self.target.description:
            reasons.notes.append(
                "the words are not read by the controller; --method auto applies them in the refinement"
            )
        report("done", 1.0)
        proposal = Proposal(params, reasons, roles_out, measured, context, alignment, method="neural")
        proposal.mix, proposal.mix_of, proposal.mix_report = mix, mix_of, measured_mix
        return proposal


#: EQ bands predicted within this of 0 dB are left flat (frequency and Q at their defaults).
FLAT_EQ_DB = 0.3
_DECIMALS = {"_db": 2, "_dbtp": 2, "_hz": 1, "_ms": 1, "_s": 2, "ratio": 2, "q": 3, "pan": 3, "width": 3}


def tidy(values: dict[str, Any], section: str) -> dict[str, Any]:
    """Settings as a person would write them: near-flat EQ bands flat, values rounded
    (0.01 dB, 0.1 Hz, 0.1 ms, 0.01 s, ratio 0.01, Q and width 0.001) — far below what the ear or
    the controller's accuracy resolves, and a recipe that reads cleanly."""
    defaults = {p.name: p.default for p in SECTIONS[section]}
    out = dict(values)
    for band, *_ in EQ_BANDS:
        gain = out.get(f"eq_{band}_db")
        if gain is not None and abs(gain) < FLAT_EQ_DB:
            for suffix in ("db", "hz", "q"):
                out[f"eq_{band}_{suffix}"] = defaults[f"eq_{band}_{suffix}"]
    for name, value in out.items():
        if isinstance(value, float):
            key = next((k for k in _DECIMALS if name.endswith(k)), None)
            if key is not None:
                out[name] = round(value, _DECIMALS[key])
    return out


def _why(param: str, value: Any, level: float, role: str, source: str, low: bool = False) -> str:
    if param == "gain_db":
        return f"{value:+.1f} dB puts this {role} track at about {level:.1f} LUFS before the master, as predicted from {source}"
    if value is None and low and param in ("hpf_hz", "reverb_send_db"):
        return (
            "no high-pass: a bass-range source keeps its low end"
            if param == "hpf_hz"
            else "no reverb send: bass-range sources stay dry (reverberant low end muddies the mix and widens the bass)"
        )
    if value is None:
        return {"hpf_hz": "no high-pass (predicted)", "reverb_send_db": "no reverb send (predicted)"}.get(
            param, "off (predicted)"
        )
    if param == "comp_ratio" and value == 1.0:
        return "no compression (predicted)"
    return f"predicted from {source}"
