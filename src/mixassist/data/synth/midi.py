"""Parts, tempo grid and a tiny Standard MIDI File writer for fluidsynth.

A :class:`Part` is one player: a name, a role, a General MIDI program and notes timed in
beats.  :func:`write_multiplexed_midi` writes several parts into *one* type-0 file, each in
its own time segment, so that one fluidsynth process (one soundfont load: 1.5 s for the
compressed MuseScore font) renders every part of a song; the segments are cut apart
afterwards.  The segment period is chosen so that every segment starts on the same
position of fluidsynth's 64-sample / 1-ms timing grid (see :func:`segment_beats`), hence a
part renders the same whichever segment it sits in.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "TICKS_PER_BEAT",
    "Part",
    "quantise_tempo_bpm",
    "segment_beats",
    "write_multiplexed_midi",
    "write_score_midi",
]

#: MIDI resolution (ticks per quarter note).
TICKS_PER_BEAT = 960
#: Tempi are multiples of this many microseconds per beat (see :func:`quantise_tempo_bpm`).
TEMPO_STEP_US = 10_000
_DRUM_CHANNEL = 9
_BEND_RANGE_SEMITONES = 2


@dataclass
class Part:
    """One instrument part rendered by fluidsynth.

    Attributes
    ----------
    name : str
        Stem name (lowercase, unique in a song).
    role : str
        One of the roles of :data:`mixassist.data.synth.ROLES`.
    instrument : str
        Human-readable instrument ("violin", "tambourine").
    program : int
        General MIDI program 0-127 (ignored for percussion parts).
    notes : list of (start_beats, dur_beats, pitch, velocity)
        Pitch is a MIDI key 0-127, velocity 1-127.
    channels : int
        Channels of the stem made from this part: 1 (mono) or 2 (stereo).
    percussion : bool
        Play on the GM percussion channel (10) instead of a melodic program.
    detune_cents : float
        Fixed tuning offset of this player (real players are never phase-locked).
    layer_cents : float
        When > 0 the part is played twice, panned hard left and right and detuned by
        ``±layer_cents``: a stereo synth/ensemble patch.
    """

    name: str
    role: str
    instrument: str
    program: int
    notes: list[tuple[float, float, int, int]] = field(default_factory=list)
    channels: int = 1
    percussion: bool = False
    detune_cents: float = 0.0
    layer_cents: float = 0.0

    def __repr__(self) -> str:
        return (
            f"Part({self.name!r}, role={self.role!r}, instrument={self.instrument!r}, "
            f"program={self.program}, notes={len(self.notes)}, channels={self.channels})"
        )


def quantise_tempo_bpm(tempo_bpm: float) -> float:
    """The nearest tempo whose beat lasts a whole number of 10 ms.

    ``6000 / m`` BPM for an integer ``m`` (120, 117.65, 115.38, ...: steps of about 2 %).
    Such tempi let :func:`segment_beats` find short segment periods that fall exactly on
    fluidsynth's timing grid.
    """
    steps = max(1, round(60e6 / float(tempo_bpm) / TEMPO_STEP_US))
    return 60e6 / (steps * TEMPO_STEP_US)


def _tempo_us(tempo_bpm: float) -> int:
    return int(round(60e6 / tempo_bpm))


def segment_beats(tempo_bpm: float, song_beats: float, sample_rate: int) -> int:
    """Segment period, in beats, for multiplexing parts in one fluidsynth render.

    fluidsynth's MIDI player runs once per 64-sample block and reads the clock in whole
    milliseconds, so a segment shift of ``S`` ms leaves every note on the same block offset
    when ``S * sample_rate`` is a multiple of 64000 (both block count and milliseconds are
    whole).  Returns the smallest multiple of the beat step that achieves this and is at least
    ``song_beats + 2`` beats (room for the last notes to be cut off cleanly).
    """
    tempo_ms = _tempo_us(tempo_bpm) // 1000
    unit_ms = 64000 // math.gcd(64000, int(sample_rate))
    step = unit_ms // math.gcd(unit_ms, max(1, tempo_ms))
    need = math.ceil(song_beats) + 2
    return step * max(1, math.ceil(need / step))


def _vlq(n: int) -> bytes:
    out = [n & 0x7F]
    n >>= 7
    while n:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    return bytes(reversed(out))


def _bend_bytes(channel: int, cents: float) -> bytes:
    value = int(round(8192 + cents / (100.0 * _BEND_RANGE_SEMITONES) * 8192))
    value = min(16383, max(0, value))
    return bytes([0xE0 | channel, value & 0x7F, value >> 7])


def _setup_events(tick: int, channel: int, program: int | None, pan: int, cents: float) -> list[tuple[int, int, bytes]]:
    """Channel state at a segment start: reset, program, volume, pan, no effects sends, tuning."""
    cc = [(121, 0), (7, 100), (10, pan), (11, 127), (91, 0), (93, 0), (64, 0), (1, 0)]
    # RPN 0 (pitch-bend range) = 2 semitones, then null the RPN
    cc += [(101, 0), (100, 0), (6, _BEND_RANGE_SEMITONES), (38, 0), (101, 127), (100, 127)]
    ev = [(tick, 1, bytes([0xB0 | channel, c, v])) for c, v in cc]
    if program is not None:
        ev.append((tick, 1, bytes([0xC0 | channel, program])))
    ev.append((tick, 1, _bend_bytes(channel, cents)))
    return ev


def write_multiplexed_midi(
    path: Path, parts: list[Part], tempo_bpm: float, song_beats: float, period_beats: int
) -> None:
    """Write a type-0 SMF with part ``k`` in the segment ``[k * period_beats, ...)``.

    Notes are cut at ``song_beats + 0.5``; each segment ends with All Sound Off so the next
    segment starts from silence.  Melodic parts use channel 0 (and 1 for the right-hand
    layer), percussion parts channel 10.
    """
    ev: list[tuple[int, int, bytes]] = [(0, 0, b"\xff\x51\x03" + _tempo_us(tempo_bpm).to_bytes(3, "big"))]
    cut = song_beats + 0.5
    for k, part in enumerate(parts):
        base = k * period_beats * TICKS_PER_BEAT
        if part.percussion:
            voices: list[tuple[int, int | None, int, float]] = [(_DRUM_CHANNEL, None, 64, part.detune_cents)]
        elif part.layer_cents > 0:
            voices = [
                (0, part.program, 0, part.detune_cents + part.layer_cents),
                (1, part.program, 127, part.detune_cents - part.layer_cents),
            ]
        else:
            voices = [(0, part.program, 64, part.detune_cents)]
        for channel, program, pan, cents in voices:
            ev += _setup_events(base, channel, program, pan, cents)
            for start, dur, pitch, vel in part.notes:
                if start >= cut or dur <= 0:
                    continue
                start = max(0.0, start)
                end = min(start + dur, cut)
                on = base + int(round(start * TICKS_PER_BEAT))  # sorts after the setup events
                off = max(on + 1, base + int(round(end * TICKS_PER_BEAT)))
                key = min(127, max(0, int(pitch)))
                ev.append((on, 3, bytes([0x90 | channel, key, min(127, max(1, int(vel)))])))
                ev.append((off, 2, bytes([0x80 | channel, key, 0])))
            stop = base + int(round((cut + 0.5) * TICKS_PER_BEAT))
            ev.append((stop, 4, bytes([0xB0 | channel, 123, 0])))  # all notes off
            ev.append((stop, 4, bytes([0xB0 | channel, 120, 0])))  # all sound off
    end = len(parts) * period_beats * TICKS_PER_BEAT
    ev.append((end, 9, b"\xff\x2f\x00"))
    path.write_bytes(b"MThd" + struct.pack(">IHHH", 6, 0, 1, TICKS_PER_BEAT) + _track(ev))


def _track(ev: list[tuple[int, int, bytes]]) -> bytes:
    """An ``MTrk`` chunk from ``(tick, order, payload)`` events (order sorts events on one tick)."""
    data = bytearray()
    last = 0
    for tick, _, payload in sorted(ev, key=lambda e: (e[0], e[1])):
        data += _vlq(tick - last) + payload
        last = tick
    return b"MTrk" + struct.pack(">I", len(data)) + bytes(data)


def write_score_midi(path: Path, parts: list[Part], tempo_bpm: float, end_beats: float) -> None:
    """Write a type-1 SMF to read or import (not for rendering): a tempo track and one track per part.

    Melodic part ``k`` plays on channel ``k`` (channel 10 skipped), percussion parts on
    channel 10; notes start at their beat and are cut at ``end_beats``, where every track ends.
    """
    end = int(round(end_beats * TICKS_PER_BEAT))
    tracks = [
        _track(
            [
                (0, 0, b"\xff\x51\x03" + _tempo_us(tempo_bpm).to_bytes(3, "big")),
                (0, 0, b"\xff\x58\x04\x04\x02\x18\x08"),  # 4/4
                (end, 9, b"\xff\x2f\x00"),
            ]
        )
    ]
    melodic = [c for c in range(16) if c != _DRUM_CHANNEL]
    for k, part in enumerate(parts):
        channel = _DRUM_CHANNEL if part.percussion else melodic[k % len(melodic)]
        name = part.name.encode()
        ev = [(0, 0, b"\xff\x03" + _vlq(len(name)) + name)]
        ev += _setup_events(0, channel, None if part.percussion else part.program, 64, part.detune_cents)
        for start, dur, pitch, vel in part.notes:
            on = max(0, int(round(start * TICKS_PER_BEAT)))
            off = min(end, max(on + 1, int(round((start + dur) * TICKS_PER_BEAT))))
            if on >= end:
                continue
            key = min(127, max(0, int(pitch)))
            ev.append((on, 3, bytes([0x90 | channel, key, min(127, max(1, int(vel)))])))
            ev.append((off, 2, bytes([0x80 | channel, key, 0])))
        ev.append((end, 9, b"\xff\x2f\x00"))
        tracks.append(_track(ev))
    path.write_bytes(b"MThd" + struct.pack(">IHHH", 6, 1, len(tracks), TICKS_PER_BEAT) + b"".join(tracks))
