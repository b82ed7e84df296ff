"""The ``Console``: one renderer for gradient excerpts and full-length mixes.

Signal flow per track (mono tracks stay mono until the panner)::

    DC blocker → polarity → delay → high-pass + low-pass + 6-band EQ → compressor → drive → fader (gain_db)
              → pan/width ─┬─▶ mix bus
         reverb_send_db ──┴─▶ reverb bus
    reverb bus → FFT convolution with the seeded IR → return_db ─▶ mix bus
    mix bus → low-pass + EQ → mid/side width → glue compressor → drive → DC blocker → output_gain_db
            → true-peak limiter → local-mean removal → true-peak limiter (same settings) → out

(The low-passes, drives and the mid/side width are skipped when bypassed, so a mix that does not
use them renders bit for bit as before they existed; see docs/console-dsp.md.)

Automation lanes (:mod:`mixassist.console.lanes`) move the faders, pans, sends and the master
output gain sample by sample (:mod:`mixassist.console.dsp.envelope`); a parameter without a lane
takes the static path it always took, bit for bit.

The DC blockers (:mod:`mixassist.console.dsp.dc`, 2nd-order high-pass at 5 Hz) run when
:attr:`ConsoleSettings.dc_block` is on (every new mix; recipes of version 1 and 2 turn it off so
they render as they always did).  Each blocker starts settled on its input's first sample, so a stem that
starts on an offset gives no step at all (and no transient for the limiter to shape).  The
master's blocker follows the glue compressor, so it also takes the DC that compressor makes of
asymmetric waveforms.  The limiter makes DC the same way, and a high-pass after it would shift the
bass it has just levelled over the ceiling; so with the blockers on and the limiter in use, the
master ends with a zero-phase local-mean removal and the limiter again
(:func:`~mixassist.console.dsp.dc.remove_local_mean`; the module explains the figures).

Every processor is stateful (see :mod:`mixassist.console.dsp`), so :meth:`Console.render`
runs the *same* :meth:`Console.process` chunk by chunk in bounded memory, and a chunked render
equals a one-shot render.  Constant latencies (sub-sample delay FIR, limiter look-ahead) are
compensated: the output is time-aligned with the input.

The master section can also run on its own: :meth:`Console.render_bus` keeps the mix bus as the
master receives it (a :class:`Bus`), and :meth:`Console.render_master` runs the master on it,
block by block, with the same blocks and state as :meth:`render` -- so the result is
*bit-identical* to a full render.  Loudness delivery tries many master output gains on one bus
this way: :meth:`Console.master_pre` (EQ, glue compressor, DC blocker) once, then
``stage="tail"`` (output gain and limiter) per trial.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import numpy as np
import torch

from mixassist.audio.multitrack import Multitrack
from mixassist.console.dsp.cascade import biquad_cascade
from mixassist.console.dsp.dc import dc_block, local_mean_latency, remove_local_mean
from mixassist.console.dsp.envelope import LaneTensors, lane_scale, moving_pan
from mixassist.console.dsp.limiter import limiter, limiter_latency
from mixassist.console.dsp.midside import mid_side_width
from mixassist.console.dsp.reverb import fft_convolve, reverb_ir
from mixassist.console.dsp.saturation import saturate
from mixassist.console.dsp.spatial import DELAY_LATENCY, fractional_delay, pan_width
from mixassist.console.params import MixParams
from mixassist.console.results import Bus, RenderResult
from mixassist.console.settings import (
    ConsoleSettings,
    Tensors,
    active,
    automated_eq,
    compress,
    db_gain,
    drives,
    eq_is_flat,
    eq_sos,
    fill_bypassed,
    flush_tail,
    is_neutral_comp,
    widens,
)
from mixassist.errors import InvalidParameterError

__all__ = ["Bus", "Console", "ConsoleSettings", "RenderResult", "eq_sos", "same_bus"]

log = logging.getLogger(__name__)


def same_bus(a: MixParams, b: MixParams) -> bool:
    """Whether :meth:`Console.render_bus` gives the same bus for ``a`` and ``b`` (on the same
    multitrack): the same tracks, reverb and their lanes, DC blockers, and limiter on or off (the
    bus reads nothing else of the master)."""
    return (
        a.track_names == b.track_names
        and a.tracks == b.tracks
        and a.reverb == b.reverb
        and a.reverb_seed == b.reverb_seed
        and a.dc_block == b.dc_block
        and (a.master["limiter_ceiling_dbtp"] is None) == (b.master["limiter_ceiling_dbtp"] is None)
        and {o: owned for o, owned in a.lanes.items() if o != "master"}
        == {o: owned for o, owned in b.lanes.items() if o != "master"}
    )


class Console:
    """Renders a multitrack with :class:`MixParams`.

    Parameters
    ----------
    sample_rate : int
        Hz.
    chunk_s : float
        Block length for :meth:`render` (bounded memory); the result does not depend on it.

    Examples
    --------
    >>> console = Console(44100)                                   # doctest: +SKIP
    >>> result = console.render(stems, MixParams(stems.names))     # doctest: +SKIP
    """

    def __init__(self, sample_rate: int, *, chunk_s: float = 10.0) -> None:
        self.sample_rate = int(sample_rate)
        if chunk_s <= 0:
            raise InvalidParameterError(f"chunk_s={chunk_s} must be positive")
        self.chunk_s = float(chunk_s)

    # ------------------------------------------------------------------ planning
    def plan(self, settings: ConsoleSettings) -> dict[str, Any]:
        """Decide, once per render, which optional stages run (this fixes the latency)."""
        t, m = settings.track, settings.master
        delays = t["delay_ms"]
        use_delay = bool(delays.requires_grad or (delays != 0).any())
        sends = t["reverb_send_db"]
        use_reverb = bool(active(sends).any()) or bool(settings.track_lanes.get("reverb_send_db"))
        use_limiter = bool(active(m["limiter_ceiling_dbtp"]))
        stem_latency = DELAY_LATENCY if use_delay else 0
        latency = stem_latency + self._limiting(use_limiter, dc=bool(settings.dc_block))
        ir = None
        if use_reverb:
            r = settings.reverb
            ir = reverb_ir(
                self.sample_rate,
                rt60_low_s=r["rt60_low_s"],
                rt60_mid_s=r["rt60_mid_s"],
                rt60_high_s=r["rt60_high_s"],
                predelay_ms=r["predelay_ms"],
                seed=settings.reverb_seed,
            )
        return {
            "use_delay": use_delay,
            "use_hpf": bool(active(t["hpf_hz"]).any()),
            "use_lpf": bool(active(t["lpf_hz"]).any()),
            "dc_block": bool(settings.dc_block),
            "use_reverb": use_reverb,
            "use_limiter": use_limiter,
            "latency": latency,
            "stem_latency": stem_latency,
            "ir": ir,
            "track_lanes": settings.track_lanes,
            "master_lanes": settings.master_lanes,
        }

    def _limiting(self, use_limiter: bool, *, dc: bool) -> int:
        """The master's latency: the limiter's look-ahead (twice, with the local-mean removal
        between, when the DC blockers are on)."""
        if not use_limiter:
            return 0
        limiting = limiter_latency(self.sample_rate)
        return 2 * limiting + local_mean_latency(self.sample_rate) if dc else limiting

    # ------------------------------------------------------------------ one block
    def process(
        self,
        tracks: list[torch.Tensor],
        settings: ConsoleSettings,
        plan: dict[str, Any],
        state: dict[str, Any] | None = None,
        *,
        want_stems: bool = False,
        ready: list[torch.Tensor] | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor | None, dict[str, Any]]:
        """Process one block of every track (``ready``: their :meth:`strip_blocks` blocks, kept, not run again).

        Parameters
        ----------
        tracks : list of torch.Tensor
            One ``(channels, samples)`` tensor per track (1 or 2 channels), equal lengths.
        settings : ConsoleSettings
        plan : dict
            From :meth:`plan`.
        state : dict, optional
            From the previous block (``None`` at the start).

        Returns
        -------
        mix : torch.Tensor
            ``(2, samples)`` (not latency-compensated: see :meth:`render_tensors`).
        stems : torch.Tensor or None
            ``(tracks, 2, samples)`` post-panner track outputs when ``want_stems``.
        state : dict
            Pass to the next block.
        """
        state = dict(state or {})
        bus, stems, _, state = self._mix_bus(tracks, settings, plan, state, want_stems=want_stems, ready=ready)
        mix, state["master"] = self._master(bus, settings.master, plan, state.get("master"))
        return mix, stems, state

    def _mix_bus(
        self,
        tracks: list[torch.Tensor],
        settings: ConsoleSettings,
        plan: dict[str, Any],
        state: dict[str, Any],
        *,
        want_stems: bool = False,
        ready: list[torch.Tensor] | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None, dict[str, Any]]:
        """One block of the mix bus (tracks and reverb return, before the master); with
        ``want_stems`` also each track's contribution and the reverb return (``None`` without
        reverb)."""
        n = tracks[0].shape[-1]
        dtype = tracks[0].dtype
        pos = int(state.get("pos", 0))
        clock = pos - plan["stem_latency"]  # the lanes' clock: the strips lag the song by the delay FIR
        all_lanes: dict[str, dict[int, LaneTensors]] = plan["track_lanes"]
        out_stems: list[tuple[int, torch.Tensor]] = []
        bus = torch.zeros(2, n, dtype=dtype)
        send_bus = torch.zeros(2, n, dtype=dtype) if plan["use_reverb"] else None
        groups = [(c, [i for i, x in enumerate(tracks) if x.shape[0] == c]) for c in (1, 2)]
        groups = [(c, idx) for c, idx in groups if idx]

        def strip(
            channels: int, idx: list[int]
        ) -> tuple[Tensors, torch.Tensor, dict[str, Any], dict[str, dict[int, LaneTensors]]]:
            index = torch.tensor(idx)
            p = {k: v.index_select(0, index) if v.ndim else v for k, v in settings.track.items()}
            lanes = {k: {j: owned[i] for j, i in enumerate(idx) if i in owned} for k, owned in all_lanes.items()}
            lanes = {k: v for k, v in lanes.items() if v}
            if ready is not None:
                return p, torch.cat([ready[i] for i in idx]), {}, lanes
            x = torch.stack([tracks[i] for i in idx])
            with torch.set_grad_enabled(grad):  # (grad mode is per thread)
                y, strip_state = self._strip(x, p, plan, state.get(f"strip{channels}"), lanes=lanes, clock=clock)
            return p, y, strip_state, lanes

        grad = torch.is_grad_enabled()
        if len(groups) == 2 and not grad and ready is None:
            # Without gradients the mono and the stereo tracks' strips run on two threads (the
            # kernels release the GIL); the sums below are taken in the same order either way.
            with ThreadPoolExecutor(max_workers=1) as pool:
                mono = pool.submit(strip, *groups[0])
                stereo = strip(*groups[1])
                done = [mono.result(), stereo]
        else:
            done = [strip(*group) for group in groups]
        for (channels, idx), (p, y, strip_state, lanes) in zip(groups, done, strict=True):
            state[f"strip{channels}"] = strip_state
            bus = bus + y.sum(dim=0)
            if send_bus is not None:
                send_db = p["reverb_send_db"]
                send = torch.where(active(send_db), db_gain(fill_bypassed(send_db, -60.0)), torch.zeros_like(send_db))
                if "reverb_send_db" in lanes:
                    sent = lane_scale(y, send, lanes["reverb_send_db"], clock, self.sample_rate, db=True)
                    send_bus = send_bus + sent.sum(dim=0)
                else:
                    send_bus = send_bus + (y * send[:, None, None]).sum(dim=0)
            if want_stems:
                out_stems += list(zip(idx, y.unbind(0)))
        stems = torch.stack([s for _, s in sorted(out_stems, key=lambda item: item[0])]) if want_stems else None
        state["pos"] = pos + n
        ret = None
        if send_bus is not None:
            ret, state["reverb"] = self._reverb_return(send_bus, settings, plan, state.get("reverb"))
            bus = bus + ret
        return bus, stems, ret, state

    def _reverb_return(
        self, send_bus: torch.Tensor, settings: ConsoleSettings, plan: dict[str, Any], state: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The reverb bus's return for one block of its send, and the convolution's state."""
        wet, state = fft_convolve(send_bus, plan["ir"].to(send_bus.dtype), state)
        return wet * db_gain(settings.reverb["return_db"]), state

    def _strip(
        self,
        x: torch.Tensor,
        p: Tensors,
        plan: dict[str, Any],
        state: dict[str, Any] | None,
        *,
        lanes: Mapping[str, Mapping[int, LaneTensors]] | None = None,
        clock: int = 0,
        stages: tuple[bool, bool] | None = None,
    ) -> tuple[torch.Tensor, dict[str, Any]]:
        """A group's strips; ``stages``: whether EQ and compressor run (default: unless all neutral)."""
        state = dict(state or {})
        sr = self.sample_rate
        if plan["dc_block"]:
            x, state["dc"] = dc_block(x, sr, state=state.get("dc"))
        x = x * p["polarity"][:, None, None].to(x.dtype)
        if plan["use_delay"]:
            x, state["delay"] = fractional_delay(x, p["delay_ms"] * (sr / 1000.0), state.get("delay"))
        filters = {"hpf": plan["use_hpf"], "lpf": plan["use_lpf"]}
        eq_on, comp_on = stages or (not eq_is_flat(p, **filters), not is_neutral_comp(p))
        lanes = lanes or {}
        if eq_on or any(k.startswith("eq_") for k in lanes):
            x, state["eq"] = automated_eq(x, p, sr, lanes, clock, state.get("eq"), **filters)
        if comp_on:
            x, state["comp"] = compress(x, p, sr, state.get("comp"))
        if drives(p):
            x = saturate(x, p["drive_db"])
        if "gain_db" in lanes:
            x = lane_scale(x, db_gain(p["gain_db"]).to(x.dtype), lanes["gain_db"], clock, sr, db=True)
        else:
            x = x * db_gain(p["gain_db"])[:, None, None].to(x.dtype)
        y = pan_width(x, p["pan"], p["width"])
        if "pan" in lanes:
            y = moving_pan(y, x, lanes["pan"], p["width"], clock, sr)
        return y, state

    def _master(
        self, x: torch.Tensor, p: Tensors, plan: dict[str, Any], state: dict[str, Any] | None
    ) -> tuple[torch.Tensor, dict[str, Any]]:
        state = dict(state or {})
        lanes, clock = plan["master_lanes"], plan["stem_latency"]
        y, state = self._master_pre(x, p, state, dc=plan["dc_block"], lanes=lanes, clock=clock)
        return self._master_tail(
            y,
            p,
            plan["use_limiter"],
            state,
            dc=plan["dc_block"],
            lanes=plan["master_lanes"],
            clock=plan["stem_latency"],
        )

    def _master_pre(
        self,
        x: torch.Tensor,
        p: Tensors,
        state: dict[str, Any],
        *,
        dc: bool,
        lanes: Mapping[str, LaneTensors] | None = None,
        clock: int = 0,
    ) -> tuple[torch.Tensor, dict[str, Any]]:
        """Master low-pass and EQ, mid/side width, glue compressor, drive and DC blocker (with
        ``dc``) on one ``(2, samples)`` block; ``eq_*_db`` lanes read on the song's clock (the bus
        lags it by ``clock`` samples)."""
        sr = self.sample_rate
        batch = {k: v.reshape(1) for k, v in p.items()}
        y = x[None]
        lpf = bool(active(batch["lpf_hz"]).any())
        eq_lanes = {k: {0: lane} for k, lane in (lanes or {}).items() if k.startswith("eq_")}
        if eq_lanes:
            pos = int(state.get("eq_pos", 0))  # (the tail keeps its own "pos" in the same state)
            state["eq_pos"] = pos + y.shape[-1]
            y, state["eq"] = automated_eq(y, batch, sr, eq_lanes, pos - clock, state.get("eq"), hpf=False, lpf=lpf)
        elif not eq_is_flat(batch, hpf=False, lpf=lpf):
            y, state["eq"] = biquad_cascade(y, eq_sos(batch, sr, hpf=False, lpf=lpf), state.get("eq"))
        if widens(batch):
            hpf = batch["side_hpf_hz"]
            y, state["ms"] = mid_side_width(
                y,
                sr,
                side_gain_db=batch["side_gain_db"],
                side_hpf_hz=hpf if bool(active(hpf).all()) else None,
                state=state.get("ms"),
            )
        if not is_neutral_comp(batch):
            y, state["comp"] = compress(y, batch, sr, state.get("comp"))
        if drives(batch):
            y = saturate(y, batch["drive_db"])
        if dc:
            y, state["dc"] = dc_block(y, sr, state=state.get("dc"))
        return y[0], state

    def _master_tail(
        self,
        x: torch.Tensor,
        p: Tensors,
        use_limiter: bool,
        state: dict[str, Any],
        *,
        dc: bool,
        lanes: Mapping[str, LaneTensors] | None = None,
        clock: int = 0,
        part: str = "all",
    ) -> tuple[torch.Tensor, dict[str, Any]]:
        """Master output gain and true-peak limiter on one ``(2, samples)`` block; with ``dc``,
        then the local-mean removal and the limiter again (see the module's notes).  An
        ``output_gain_db`` lane is read on the song's clock (the bus lags it by ``clock``
        samples).  ``part`` ``"first"`` runs the gain and the first limiter, ``"second"`` the
        rest (each keeps its own entries of ``state``), so that two threads can run them on
        successive blocks."""
        sr = self.sample_rate
        batch = {k: v.reshape(1) for k, v in p.items()}
        y = x[None]
        if part != "second":
            pos = int(state.get("pos", 0))
            state["pos"] = pos + y.shape[-1]
            if lanes and "output_gain_db" in lanes:
                static = db_gain(batch["output_gain_db"]).to(y.dtype)
                y = lane_scale(y, static, {0: lanes["output_gain_db"]}, pos - clock, sr, db=True)
            else:
                y = y * db_gain(batch["output_gain_db"])[:, None, None].to(y.dtype)
        if not use_limiter:
            return y[0], state
        every: tuple[str, ...] = ("limiter", "mean", "limiter_out") if dc else ("limiter",)
        for stage in {"all": every, "first": every[:1], "second": every[1:]}[part]:
            if stage == "mean":
                y, state[stage] = remove_local_mean(y, sr, state=state.get(stage))
                continue
            y, state[stage] = limiter(
                y,
                sr,
                ceiling_dbtp=batch["limiter_ceiling_dbtp"],
                release_ms=batch["limiter_release_ms"],
                state=state.get(stage),
            )
        return y[0], state

    # ------------------------------------------------------------------ whole signals
    def render_tensors(
        self,
        tracks: list[torch.Tensor],
        settings: ConsoleSettings,
        *,
        want_stems: bool = False,
        glue_below_peak_db: torch.Tensor | float | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Render short excerpts in one block, differentiably (used while optimising).

        ``tracks`` are ``(channels, samples)`` tensors; the result is time-aligned with them
        (latency compensated by rendering ``latency`` extra samples of silence).
        ``glue_below_peak_db``, when given, replaces the master's glue threshold by the mix
        bus's sample peak (measured on this render, no gradient) minus this many dB, clipped to
        the threshold's range — how the mixers place it (the depth keeps its gradient).
        """
        plan = self.plan(settings)
        lat = plan["latency"]
        if lat:
            tracks = [flush_tail(x, lat, hold=plan["dc_block"]) for x in tracks]
        if glue_below_peak_db is None:
            mix, stems, _ = self.process(tracks, settings, plan, want_stems=want_stems)
        else:
            bus, stems, _, _ = self._mix_bus(tracks, settings, plan, {}, want_stems=want_stems)
            peak = bus.detach().abs().max().clamp_min(1e-9)
            master = dict(settings.master)
            master["comp_threshold_db"] = torch.clamp(20.0 * torch.log10(peak) - glue_below_peak_db, -60.0, 0.0)
            mix, _ = self._master(bus, master, plan, None)
        n = tracks[0].shape[-1] - lat
        mix = mix[:, lat:]
        if stems is not None:
            stems = stems[..., plan["stem_latency"] : plan["stem_latency"] + n]
        return mix, stems

    @torch.no_grad()
    def render(
        self,
        multitrack: Multitrack,
        params: MixParams,
        *,
        want_stems: bool = False,
        progress: Callable[[int, int], None] | None = None,
        strips: Mapping[str, list[torch.Tensor]] | None = None,
    ) -> RenderResult:
        """Render a full-length mix without gradients, block by block in bounded memory.

        Parameters
        ----------
        multitrack, params
            The stems (at the console's sample rate, holding every track ``params`` names) and the
            settings.
        want_stems : bool
            Also return each track's processed stereo contribution.
        progress : callable, optional
            Called as ``progress(done_samples, total_samples)`` after each block.
        strips : mapping, optional
            Every track's :meth:`strip_blocks` (kept): only the buses run; the same mix bit for bit.
        """
        settings, plan, blocks = self._blocks(multitrack, params)
        inputs: Any = ((block, None) for block in blocks)
        if strips is not None:  # each block: the kept strips, and views of them as inputs (for the channel counts)
            kept = zip(*(strips[n] for n in params.track_names))
            inputs = (([y[0, : multitrack[n].channels] for y, n in zip(r, params.track_names)], list(r)) for r in kept)
        lat = plan["latency"]
        total = multitrack.num_samples
        mix = np.zeros((2, total), np.float32)
        stems = np.zeros((len(params.track_names), 2, total), np.float32) if want_stems else None
        state: dict[str, Any] | None = None
        written = -lat  # mix-output index of the first sample of the next block
        stem_offset = lat - plan["stem_latency"]  # stems lead the mix by the limiter latency
        for block, ready in inputs:
            y, s, state = self.process(block, settings, plan, state, want_stems=want_stems, ready=ready)
            n = y.shape[1]
            lo, hi = max(written, 0), min(written + n, total)
            if hi > lo:
                mix[:, lo:hi] = y[:, lo - written : hi - written].numpy()
            if stems is not None and s is not None:
                first = written + stem_offset
                lo, hi = max(first, 0), min(first + n, total)
                if hi > lo:
                    stems[:, :, lo:hi] = s[..., lo - first : hi - first].numpy()
            written += n
            if progress is not None:
                progress(min(max(written, 0), total), total)
        return RenderResult(mix=mix, sample_rate=self.sample_rate, stems=stems)

    def strip_blocks(
        self, multitrack: Multitrack, params: MixParams, name: str, plan: dict[str, Any] | None = None
    ) -> tuple[tuple, Iterator[torch.Tensor]]:
        """A key of all but track ``name``'s settings and lanes that its strip output depends on (the
        plan, its group's EQ/compressor stages), and that output's ``(1, 2, n)`` blocks as :meth:`render`
        makes them, rendered as they are read (:meth:`render`'s ``strips``; ``plan``: of ``params``)."""
        settings = ConsoleSettings.from_params(params)
        plan, names, track = plan or self.plan(settings), params.track_names, multitrack[name]
        group = torch.tensor([j for j, n in enumerate(names) if multitrack[n].channels == track.channels])
        in_group = {k: v.index_select(0, group) if v.ndim else v for k, v in settings.track.items()}
        stages = (not eq_is_flat(in_group, hpf=plan["use_hpf"], lpf=plan["use_lpf"]), not is_neutral_comp(in_group))
        key = (
            plan["use_delay"],
            plan["use_hpf"],
            plan["use_lpf"],
            plan["dc_block"],
            plan["latency"],
            self._chunk(),
            stages,
        )
        i, lag, total, hold = names.index(name), plan["stem_latency"], multitrack.num_samples, plan["dc_block"]
        p = {k: v[i : i + 1] if v.ndim else v for k, v in settings.track.items()}
        lanes = {k: {0: owned[i]} for k, owned in plan["track_lanes"].items() if i in owned}
        last = torch.from_numpy(np.ascontiguousarray(track.read(total - 1, total))) if hold and total else None

        def blocks() -> Iterator[torch.Tensor]:  # the block loop of _blocks, for this one track
            state, chunk = None, self._chunk()
            for start in range(0, total + plan["latency"], chunk):
                stop = min(start + chunk, total + plan["latency"])
                x = torch.from_numpy(np.ascontiguousarray(track.read(start, min(stop, total))))
                if x.shape[1] < stop - start:
                    x = flush_tail(x, stop - start - x.shape[1], hold=hold and total > 0, last=last)
                with torch.no_grad():
                    y, state = self._strip(x[None], p, plan, state, lanes=lanes, clock=start - lag, stages=stages)
                yield y

        return key, blocks()

    @torch.no_grad()
    def iter_stems(
        self,
        multitrack: Multitrack,
        params: MixParams,
        *,
        progress: Callable[[int, int], None] | None = None,
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """The printed stems, block by block, in bounded memory (one block of every track at a time).

        Yields ``(stems, reverb_return)`` pieces that, laid end to end, cover the song and its
        tail: ``stems`` float32 ``(tracks, 2, n)``, each track after its whole strip and panner
        (what it adds to the mix bus), and ``reverb_return`` float32 ``(2, n)`` (zeros without
        reverb), time-aligned with the input as :meth:`render`'s stems are.  They run
        ``latency - stem_latency`` samples (:meth:`plan`; about 0.1 s with the DC blocker) past
        the song's end: the strips' and the reverb's tails that the master's look-ahead (the
        limiter and the DC removal) reads to make the song's last samples.  Their sum is the
        mix bus the master receives; with ``stem_latency`` samples of silence before it, it is
        the :class:`Bus` from which :meth:`render_master` gives the mix.
        """
        settings, plan, blocks = self._blocks(multitrack, params)
        total = (
            multitrack.num_samples + plan["latency"] - plan["stem_latency"]
        )  # the song and the tail the master reads
        first = -plan["stem_latency"]  # song index of the next block's first stem sample
        state: dict[str, Any] = {}
        for block in blocks:
            _, stems, ret, state = self._mix_bus(block, settings, plan, state, want_stems=True)
            n = block[0].shape[-1]
            lo, hi = max(first, 0), min(first + n, total)
            if hi > lo and stems is not None:
                piece = stems[..., lo - first : hi - first].numpy()
                wet = np.zeros((2, hi - lo), np.float32) if ret is None else ret[:, lo - first : hi - first].numpy()
                yield piece, wet
            first += n
            if progress is not None:
                progress(min(max(first, 0), total), total)
            if first >= total:
                break

    def _blocks(self, multitrack: Multitrack, params: MixParams) -> tuple[ConsoleSettings, dict[str, Any], Any]:
        """Settings, plan, and an iterator over the input blocks of a full-length render.

        Blocks are ``chunk`` samples; the last one is padded so that the blocks cover
        ``samples + latency`` (the latency tail flushes the look-ahead): with the DC blockers, by
        holding each stem's last sample (see :func:`_flush_tail`), else with silence.
        """
        if multitrack.sample_rate != self.sample_rate:
            raise InvalidParameterError(
                f"multitrack is at {multitrack.sample_rate} Hz but the console runs at {self.sample_rate} Hz"
            )
        missing = [n for n in params.track_names if n not in multitrack.names]
        if missing:
            raise InvalidParameterError(f"no stems for tracks in the settings: {', '.join(missing)}")
        settings = ConsoleSettings.from_params(params)
        plan = self.plan(settings)
        # each track is read block by block (from its spool file when the session is long)
        tracks = [multitrack[name] for name in params.track_names]
        total, end, chunk = multitrack.num_samples, multitrack.num_samples + plan["latency"], self._chunk()
        hold = plan["dc_block"] and total > 0

        def blocks() -> Any:
            for start in range(0, end, chunk):
                stop = min(start + chunk, end)
                block = []
                for track in tracks:
                    piece = torch.from_numpy(np.ascontiguousarray(track.read(start, min(stop, total))))
                    if piece.shape[1] < stop - start:  # past the end: the latency tail
                        last = torch.from_numpy(np.ascontiguousarray(track.read(total - 1, total))) if hold else None
                        piece = flush_tail(piece, stop - start - piece.shape[1], hold=hold, last=last)
                    block.append(piece)
                yield block

        return settings, plan, blocks()

    def _chunk(self) -> int:
        return max(1, int(round(self.chunk_s * self.sample_rate)))

    @torch.no_grad()
    def render_bus(
        self, multitrack: Multitrack, params: MixParams, *, progress: Callable[[int, int], None] | None = None
    ) -> Bus:
        """The mix bus as the master section receives it (see :class:`Bus`), without running the
        master; :meth:`render_master` on it equals :meth:`render` bit for bit.

        Parameters are as for :meth:`render`.  The bus depends on the master settings only
        through whether the limiter runs (its look-ahead lengthens the render).
        """
        settings, plan, blocks = self._blocks(multitrack, params)
        total, lat = multitrack.num_samples, plan["latency"]
        out = np.zeros((2, total + lat), np.float32)
        state: dict[str, Any] = {}
        # (The reverb of block k on a second thread beside the strips of block k + 1 was tried: the
        # FFT convolution rounded differently there in some processes, by 1 ulp, and the bus must
        # give the full render bit for bit.)
        start = 0
        for block in blocks:
            bus, _, _, state = self._mix_bus(block, settings, plan, state)
            out[:, start : start + bus.shape[1]] = bus.numpy()
            start += bus.shape[1]
            if progress is not None:
                progress(min(start, total), total)
        return Bus(out, total, lat, plan["use_limiter"], self._chunk(), self.sample_rate, dc_block=plan["dc_block"])

    def render_master(self, bus: Bus, params: MixParams, *, stage: str = "all") -> np.ndarray:
        """Run the master section of ``params`` on ``bus``, block by block as :meth:`render` does.

        Parameters
        ----------
        bus : Bus
            From :meth:`render_bus` for ``stage="all"``; from :meth:`master_pre` for
            ``stage="tail"``.
        params : MixParams
            Only the master settings are read.  Whether the limiter runs must be as when the
            bus was rendered (the look-ahead is part of its length).
        stage : str
            ``"all"`` (low-pass, EQ, width, glue compressor, drive, DC blocker, output gain, limiter) or ``"tail"`` (output
            gain and limiter on what :meth:`master_pre` returned).

        Returns
        -------
        numpy.ndarray
            The mix, float32 ``(2, samples)``, time-aligned and equal to :meth:`render`'s bit for bit.
        """
        if stage not in ("all", "tail"):
            raise InvalidParameterError(f"stage={stage!r}: use 'all' or 'tail' (master_pre runs the first half)")
        out = self._run_master(bus, params, "bus" if stage == "all" else "pre", pre=stage == "all", tail=True)
        return out[:, bus.latency : bus.latency + bus.samples]

    def master_pre(self, bus: Bus, params: MixParams) -> Bus:
        """The first half of the master (low-pass, EQ, width, glue compressor, drive, DC blocker) on a :meth:`render_bus` bus:
        a :class:`Bus` with ``stage="pre"`` for :meth:`render_master` ``stage="tail"``."""
        out = self._run_master(bus, params, "bus", pre=True, tail=False)
        return Bus(
            out, bus.samples, bus.latency, bus.limiter, bus.chunk, bus.sample_rate, stage="pre", dc_block=bus.dc_block
        )

    @torch.no_grad()
    def _run_master(self, bus: Bus, params: MixParams, wanted: str, *, pre: bool, tail: bool) -> np.ndarray:
        if bus.stage != wanted:
            raise InvalidParameterError(f"this stage needs a {wanted!r} bus, got a {bus.stage!r} one")
        master = params.bus_tensors("master")
        use_limiter = bool(active(master["limiter_ceiling_dbtp"]))
        if use_limiter != bus.limiter:
            raise InvalidParameterError(
                "the bus was rendered with the limiter "
                + ("on" if bus.limiter else "off")
                + ", the settings have it "
                + ("on" if use_limiter else "off")
                + ": render the bus again"
            )
        if params.dc_block != bus.dc_block:
            raise InvalidParameterError(
                f"the bus was rendered with dc_block={bus.dc_block}, the settings have dc_block={params.dc_block}: "
                "render the bus again"
            )
        if bus.chunk != self._chunk():
            raise InvalidParameterError(
                f"the bus was rendered in blocks of {bus.chunk} samples, this console uses {self._chunk()}"
            )
        out = np.zeros_like(bus.audio)
        pre_state: dict[str, Any] = {}
        tail_state: dict[str, Any] = {}
        second_state: dict[str, Any] = {}
        dc = params.dc_block
        _, lanes = params.lane_tensors()
        clock = bus.latency - self._limiting(use_limiter, dc=dc)  # the delay FIR's latency
        # With the limiter run twice, the second half of the tail (local-mean removal, limiter)
        # of block k runs on a second thread while this one runs the first half of block k + 1:
        # the same operations on the same blocks in the same order (bit for bit the one-thread
        # result); the kernels release the GIL.
        split = tail and use_limiter and dc

        def second(y: torch.Tensor) -> torch.Tensor:
            nonlocal second_state
            y, second_state = self._master_tail(y, master, use_limiter, second_state, dc=True, part="second")
            return y

        def write(start: int, y: torch.Tensor) -> None:
            out[:, start : start + y.shape[1]] = y.numpy()

        with ThreadPoolExecutor(max_workers=1) as pool:
            waiting: tuple[int, Future[torch.Tensor]] | None = None
            for start in range(0, bus.audio.shape[1], bus.chunk):
                y = torch.from_numpy(bus.audio[:, start : start + bus.chunk])
                if pre:
                    y, pre_state = self._master_pre(y, master, pre_state, dc=dc, lanes=lanes, clock=clock)
                if tail:
                    y, tail_state = self._master_tail(
                        y,
                        master,
                        use_limiter,
                        tail_state,
                        dc=dc,
                        lanes=lanes,
                        clock=clock,
                        part="first" if split else "all",
                    )
                if waiting is not None:  # one block in flight at a time: bounded memory
                    write(waiting[0], waiting[1].result())
                    waiting = None
                if split:
                    waiting = (start, pool.submit(second, y))
                else:
                    write(start, y)
            if waiting is not None:
                write(waiting[0], waiting[1].result())
        return out

    def __repr__(self) -> str:
        return f"Console(sample_rate={self.sample_rate}, chunk_s={self.chunk_s:g})"
