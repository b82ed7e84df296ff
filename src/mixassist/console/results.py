"""What the console's renders return: a mix (:class:`RenderResult`) and the master section's
input (:class:`Bus`), from which :meth:`~mixassist.console.console.Console.render_master` gives the
mix."""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from mixassist.measure import integrated_streamed

__all__ = ["Bus", "RenderResult"]


@dataclass
class RenderResult:
    """A rendered mix.

    Attributes
    ----------
    mix : np.ndarray
        float32 ``(2, samples)``.
    sample_rate : int
    stems : np.ndarray or None
        float32 ``(tracks, 2, samples)``: each track after its strip and panner (what it
        contributes to the mix bus, before reverb and master), when requested.
    """

    mix: np.ndarray
    sample_rate: int
    stems: np.ndarray | None = None


@dataclass
class Bus:
    """The master section's input, exactly as :meth:`Console.render` feeds it.

    Attributes
    ----------
    audio : np.ndarray
        float32 ``(2, samples + latency)``: the mix bus (every track and the reverb return)
        before the master, *not* latency-compensated (it runs ``latency`` samples past the song
        to flush the look-ahead), or the output of the master's first half (``stage="pre"``,
        from :meth:`Console.master_pre`).
    samples : int
        The song's length.
    latency : int
        The render's total latency (delay FIR + limiter look-ahead); ``audio`` has
        ``samples + latency`` samples.
    limiter : bool
        Whether the render planned the limiter (its look-ahead is part of ``latency``).
    chunk : int
        The block length it was rendered in (the master must run in the same blocks).
    sample_rate : int
    stage : str
        ``"bus"`` (the master's input) or ``"pre"`` (after the master EQ, glue compressor and
        DC blocker).
    dc_block : bool
        Whether the render planned the DC blockers (the master's last stages are part of
        ``latency``).
    """

    audio: np.ndarray
    samples: int
    latency: int
    limiter: bool
    chunk: int
    sample_rate: int
    stage: str = "bus"
    dc_block: bool = True

    @property
    def song(self) -> np.ndarray:
        """The first ``samples`` samples, a view: what to measure (loudness, peak).  It lags the
        song by the delay FIR's latency (16 samples) when a track is delayed."""
        return self.audio[:, : self.samples]

    @functools.cached_property
    def loudness_lufs(self) -> float | None:
        """Integrated loudness of :attr:`song` (BS.1770-4), measured once however many ask (in
        blocks, K-weighting and gating only: :func:`~mixassist.measure.integrated_streamed` equals
        ``integrated_loudness`` bit for bit without its float64 copies of the whole bus)."""
        return integrated_streamed(self.song, self.sample_rate)
