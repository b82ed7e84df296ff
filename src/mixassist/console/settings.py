"""The settings of one render as tensors, and the switches they imply.

:class:`ConsoleSettings` holds a mix's settings as physical-unit tensors (differentiable when a
mixer optimises them); the functions here say which optional stages a strip or the master runs
(an exactly neutral stage is skipped, so a mix that does not use it renders bit for bit as
before) and design the shared EQ cascade.  The render loops live in :mod:`.console`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import torch

from mixassist.console.dsp.biquad import high_shelf_sos, highpass_sos, low_shelf_sos, lowpass_sos, peaking_sos
from mixassist.console.dsp.cascade import biquad_cascade
from mixassist.console.dsp.compressor import compressor
from mixassist.console.dsp.envelope import LaneTensors
from mixassist.console.dsp.moving_eq import moving_eq
from mixassist.console.params import MixParams
from mixassist.console.schema import EQ_BANDS

__all__ = [
    "ConsoleSettings",
    "Tensors",
    "active",
    "automated_eq",
    "band_sos",
    "compress",
    "db_gain",
    "drives",
    "eq_is_flat",
    "eq_sos",
    "fill_bypassed",
    "flush_tail",
    "is_neutral_comp",
    "widens",
]

Tensors = Mapping[str, torch.Tensor]


@dataclass
class ConsoleSettings:
    """Physical-unit tensors for one render: ``track`` values are ``(tracks,)``, buses scalars.

    Optional (bypassable) settings are NaN where bypassed.  Build from :class:`MixParams`
    with :meth:`from_params`, or from differentiable tensors when optimising.  ``dc_block``
    switches the DC blockers of every strip and the master (on for new mixes; off to render
    recipes of version 1 and 2 as they were).  ``track_lanes`` (``{param: {track index:
    (times_s, values)}}``) and ``master_lanes`` (``{param: (times_s, values)}``) automate the
    parameters of :data:`~mixassist.console.lanes.AUTOMATABLE`; their ``values`` may require
    gradients.
    """

    track: dict[str, torch.Tensor]
    reverb: dict[str, torch.Tensor]
    master: dict[str, torch.Tensor]
    reverb_seed: int = 0
    channels: list[int] = field(default_factory=list)
    dc_block: bool = True
    track_lanes: dict[str, dict[int, LaneTensors]] = field(default_factory=dict)
    master_lanes: dict[str, LaneTensors] = field(default_factory=dict)

    @classmethod
    def from_params(cls, params: MixParams, dtype: torch.dtype = torch.float32) -> ConsoleSettings:
        track_lanes, master_lanes = params.lane_tensors()
        return cls(
            track=params.track_tensors(dtype),
            reverb=params.bus_tensors("reverb", dtype),
            master=params.bus_tensors("master", dtype),
            reverb_seed=params.reverb_seed,
            dc_block=params.dc_block,
            track_lanes=track_lanes,
            master_lanes=master_lanes,
        )


def active(v: torch.Tensor) -> torch.Tensor:
    """Where an optional (bypassable) setting is on: not NaN."""
    return ~torch.isnan(v)


def fill_bypassed(v: torch.Tensor, value: float) -> torch.Tensor:
    """``v`` with NaN (bypassed) replaced by ``value``, keeping gradients of the rest finite."""
    return torch.where(torch.isnan(v), torch.full_like(v, value), v)


def db_gain(v: torch.Tensor) -> torch.Tensor:
    """dB to a linear amplitude factor."""
    return torch.pow(10.0, v / 20.0)


def eq_sos(p: Tensors, sample_rate: int, *, hpf: bool, lpf: bool = False) -> torch.Tensor:
    """The EQ of a strip as ``(batch, sections, 6)`` sos: optional 4th-order high-pass and
    low-pass, then the six bands.

    ``p`` maps the schema's EQ (and, with ``hpf``/``lpf``, ``hpf_hz``/``lpf_hz``) names to
    ``(batch,)`` tensors; a NaN corner (bypassed) gives identity sections.
    """
    sections = []
    for on, name, butterworth, neutral in ((hpf, "hpf_hz", highpass_sos, 20.0), (lpf, "lpf_hz", lowpass_sos, 20000.0)):
        if on:
            hz = p[name]
            sos = butterworth(fill_bypassed(hz, neutral), sample_rate, order=4)
            identity = torch.zeros_like(sos)
            identity[..., 0] = 1.0
            identity[..., 3] = 1.0
            sections.append(torch.where(active(hz)[:, None, None], sos, identity))
    for band, *_ in EQ_BANDS:
        sections.append(band_sos(band, p[f"eq_{band}_hz"], p[f"eq_{band}_db"], p[f"eq_{band}_q"], sample_rate))
    return torch.cat(sections, dim=1)


def automated_eq(
    x: torch.Tensor,
    p: Tensors,
    sample_rate: int,
    lanes: Mapping[str, Mapping[int, LaneTensors]],
    clock: int,
    state: torch.Tensor | None,
    *,
    hpf: bool,
    lpf: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The EQ cascade of ``x`` ``(tracks, channels, n)`` with the ``eq_*_db`` lanes of ``lanes``
    (``{param: {track: lane}}``), read on the lanes' clock from sample ``clock``.

    Every track runs :func:`eq_sos` of ``p`` in :func:`biquad_cascade`, with the automated bands
    flat on the tracks that have a lane (a flat section passes its input through bit for bit);
    those tracks then run their automated bands, in cascade order, through
    :func:`~mixassist.console.dsp.moving_eq.moving_eq` -- the automated bands sit after the
    static ones (static sections commute; only a moving one would not, and it moves slowly: see
    docs/console-dsp.md).  Tracks without a lane render bit for bit as without lanes.
    ``state``: from the previous block, ``(tracks, channels, sections + automated bands, 2)``.
    """
    eq_lanes = {k: v for k, v in lanes.items() if k.startswith("eq_") and v}
    if not eq_lanes:
        return biquad_cascade(x, eq_sos(p, sample_rate, hpf=hpf, lpf=lpf), state)
    bands = [band for band, *_ in EQ_BANDS]
    names = sorted(eq_lanes, key=lambda name: bands.index(name[3:-3]))  # the automated bands, in order
    rows = sorted({i for owned in eq_lanes.values() for i in owned})
    index = torch.tensor(rows)
    laned = torch.zeros(x.shape[0], dtype=torch.bool).index_fill_(0, index, True)
    flat = {name: torch.where(laned, torch.zeros_like(p[name]), p[name]) for name in names}
    sos = eq_sos({**p, **flat}, sample_rate, hpf=hpf, lpf=lpf)
    sections = sos.shape[1]
    y, out = biquad_cascade(x, sos, None if state is None else state[:, :, :sections].contiguous())
    sub = {k: v.index_select(0, index) if v.ndim else v for k, v in p.items()}
    static = torch.cat(
        [band_sos(n[3:-3], sub[n[:-3] + "_hz"], sub[n], sub[n[:-3] + "_q"], sample_rate) for n in names], 1
    )
    moved = {j: {rows.index(i): lane for i, lane in eq_lanes[n].items()} for j, n in enumerate(names)}

    def design(j: int, tracks: torch.Tensor, gains: torch.Tensor) -> torch.Tensor:
        band = names[j][3:-3]
        hz, q = sub[f"eq_{band}_hz"], sub[f"eq_{band}_q"]
        rows = [band_sos(band, hz[int(t)], g, q[int(t)], sample_rate)[:, 0] for t, g in zip(tracks, gains)]
        return rows[0][None] if len(rows) == 1 else torch.stack(rows)  # (one track, as a render asks: no copy)

    moving_state = None if state is None else state.index_select(0, index)[:, :, sections:].contiguous()
    grads = torch.is_grad_enabled() and (
        y.requires_grad
        or static.requires_grad
        or any(values.requires_grad for owned in eq_lanes.values() for _, values in owned.values())
    )
    full = torch.zeros(*out.shape[:2], sections + len(names), 2, dtype=torch.float64)
    full[:, :, :sections] = out
    if not grads:  # a render: the laned tracks' rows of y are filtered again in place, no copies
        y, moved_state = moving_eq(y, static, moved, design, clock, sample_rate, moving_state, into=(y, rows))
    else:
        ym, moved_state = moving_eq(y.index_select(0, index), static, moved, design, clock, sample_rate, moving_state)
        y = y.index_copy(0, index, ym)
    full[index, :, sections:] = moved_state
    return y, full


def band_sos(
    band: str, freq_hz: torch.Tensor, gain_db: torch.Tensor, q: torch.Tensor, sample_rate: int
) -> torch.Tensor:
    """``(batch, 1, 6)``: the section of the EQ band ``band`` (a name of the schema's
    ``EQ_BANDS``) -- the design :func:`eq_sos` uses for it."""
    design = {"low_shelf": low_shelf_sos, "high_shelf": high_shelf_sos}.get(band, peaking_sos)
    return design(freq_hz, gain_db, q, sample_rate)


def eq_is_flat(p: Tensors, *, hpf: bool, lpf: bool = False) -> bool:
    """Whether a strip's filter cascade would be the identity (then it is skipped)."""
    if (hpf and bool(active(p["hpf_hz"]).any())) or (lpf and bool(active(p["lpf_hz"]).any())):
        return False
    return all(not p[f"eq_{band}_db"].requires_grad and bool((p[f"eq_{band}_db"] == 0).all()) for band, *_ in EQ_BANDS)


def flush_tail(x: torch.Tensor, samples: int, *, hold: bool, last: torch.Tensor | None = None) -> torch.Tensor:
    """``x`` ``(channels, n)`` followed by ``samples`` of the latency tail that flushes the
    look-aheads after the song: silence, or (``hold``, with the DC blockers) ``x``'s last sample
    (or ``last``) held.  Holding matters for the master's local-mean removal, which looks 0.1 s
    past the song's end: a stem that ends on an offset would otherwise step to 0 there, and the
    strip blocker's answer to that step would leak into the last 0.1 s of the mix (on a 4 s song
    with a +0.5 DC stem, -80 dBFS of DC instead of -110); held, the blockers take it to 0
    without a step."""
    if last is None:
        last = x[:, -1:] if x.shape[1] else torch.zeros(x.shape[0], 1, dtype=x.dtype)
    tail = last.expand(-1, samples) if hold else torch.zeros(x.shape[0], samples, dtype=x.dtype)
    return torch.cat([x, tail.to(x.dtype)], dim=-1)


def drives(p: Tensors) -> bool:
    """Whether the saturation of ``p`` runs (skipped, exactly, at ``drive_db = 0``)."""
    return bool(p["drive_db"].requires_grad or (p["drive_db"] != 0).any())


def widens(p: Tensors) -> bool:
    """Whether the master's mid/side stage runs (skipped, exactly, at 0 dB and no side high-pass)."""
    gain = p["side_gain_db"]
    return bool(gain.requires_grad or (gain != 0).any() or active(p["side_hpf_hz"]).any())


def is_neutral_comp(p: Tensors) -> bool:
    """Whether the compressor is off (ratio 1, no make-up) and not being optimised."""
    return not any(p[k].requires_grad for k in ("comp_ratio", "comp_makeup_db")) and bool(
        (p["comp_ratio"] == 1).all() and (p["comp_makeup_db"] == 0).all()
    )


def compress(
    x: torch.Tensor, p: Tensors, sample_rate: int, state: torch.Tensor | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """The compressor with the ``comp_*`` settings of ``p`` (a strip's or the master's glue)."""
    return compressor(
        x,
        sample_rate,
        threshold_db=p["comp_threshold_db"],
        ratio=p["comp_ratio"],
        knee_db=p["comp_knee_db"],
        attack_ms=p["comp_attack_ms"],
        release_ms=p["comp_release_ms"],
        makeup_db=p["comp_makeup_db"],
        state=state,
    )
