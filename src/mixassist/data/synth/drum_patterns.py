"""Drum patterns of the procedural genres: hits per slot, swung and humanised, and their stems."""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

import numpy as np

from mixassist.data.synth.arrangement import Section
from mixassist.data.synth.drums import Hit
from mixassist.data.synth.genres import Feel
from mixassist.data.synth.theory import choose, swing

__all__ = ["DRUM_STEMS", "DRUM_INSTRUMENTS", "drum_slot", "drum_events", "drum_hits"]

# drum stems: which slots go to which stem (and the stem's channels)
DRUM_STEMS = {
    "kick": (("kick",), 1),
    "snare": (("snare", "clap", "stick"), 1),
    "hats": (("hat_closed", "hat_open", "hat_pedal"), 1),
    "toms": (("tom_high", "tom_mid", "tom_low"), 1),
    "overheads": (("crash", "ride", "ride_bell"), 2),
}
DRUM_INSTRUMENTS = {
    "kick": "kick drum",
    "snare": "snare drum",
    "hats": "hi-hat",
    "toms": "toms",
    "overheads": "cymbals (overhead pair)",
}


def drum_slot(kit_slots: set[str], *candidates: str) -> str | None:
    """The first of ``candidates`` the kit has, or None."""
    return next((c for c in candidates if c in kit_slots), None)


def drum_events(
    genre: str,
    sections: Sequence[Section],
    kit_slots: set[str],
    rng: np.random.Generator,
) -> list[tuple[float, float, str, float]]:
    """Drum hits ``(beat, velocity, slot, pan)`` for the whole form.

    Pop/rock: backbeat with eighth or sixteenth hats (ride in rock choruses), crashes at
    section starts, tom fills into the next section.  Electronic: four on the floor, clap on
    2 and 4, off-beat open hats.  Jazz: spang-a-lang ride, hi-hat pedal on 2 and 4, feathered
    kick, sparse snare comping.  Slots missing from the kit fall back (ride to ride bell or
    crash, clap to snare, pedal hat to closed hat) or are left out.
    """
    ev: list[tuple[float, float, str, float]] = []
    kick = drum_slot(kit_slots, "kick")
    snare = drum_slot(kit_slots, "snare")
    clap = drum_slot(kit_slots, "clap", "snare")
    hat_c = drum_slot(kit_slots, "hat_closed")
    hat_o = drum_slot(kit_slots, "hat_open", "hat_closed")
    hat_p = drum_slot(kit_slots, "hat_pedal", "hat_closed")
    ride = drum_slot(kit_slots, "ride", "ride_bell", "crash")
    crash = drum_slot(kit_slots, "crash", "ride")
    toms = [t for t in ("tom_high", "tom_mid", "tom_low") if t in kit_slots]
    crash_pan = float(rng.choice([-0.6, 0.6]))
    ride_pan = -crash_pan * 0.8
    kick_var = int(rng.integers(3))
    for si, sec in enumerate(sections):
        last_section = si == len(sections) - 1
        for bar in range(sec.start_bar, sec.start_bar + sec.bars):
            b0 = bar * 4.0
            first = bar == sec.start_bar
            fill = bar == sec.start_bar + sec.bars - 1 and not last_section and sec.bars >= 4 and rng.random() < 0.7
            d = sec.density
            if first and crash and (si > 0 or rng.random() < 0.5) and d > 0.4:
                ev.append((b0, 112, crash, crash_pan))
            if genre == "jazz":
                for b in (0, 1, 1 + 2 / 3, 2, 3, 3 + 2 / 3):
                    if ride:
                        ev.append((b0 + b, 92 if b in (1, 3) else 74, ride, ride_pan))
                for b in (1, 3):
                    if hat_p:
                        ev.append((b0 + b, 80, hat_p, 0.0))
                if kick:
                    for b in range(4):
                        if d > 0.5 or rng.random() < 0.3:
                            ev.append((b0 + b, 34, kick, 0.0))
                    if rng.random() < 0.3:
                        ev.append((b0 + choose(rng, [1 + 2 / 3, 2 + 2 / 3, 3 + 2 / 3]), 84, kick, 0.0))
                if snare:
                    for b in (0 + 2 / 3, 1 + 2 / 3, 2 + 2 / 3, 3 + 2 / 3):
                        if rng.random() < 0.25 + 0.2 * d:
                            ev.append((b0 + b, float(rng.integers(38, 72)), snare, 0.0))
                if fill and snare:
                    for k in range(6):
                        ev.append((b0 + 2 + k / 3, 60 + 8 * k, snare, 0.0))
                continue
            if genre == "electronic":
                if kick and (d > 0.3 or bar % 2 == 1):
                    for b in range(4):
                        ev.append((b0 + b, 118, kick, 0.0))
                if clap and d > 0.3:
                    for b in (1, 3):
                        ev.append((b0 + b, 110, clap, 0.0))
                if hat_o and d > 0.3:
                    for b in range(4):
                        ev.append((b0 + b + 0.5, 96, hat_o, 0.0))
                if hat_c:
                    for k in range(16):
                        if d >= 0.7 or k % 2 == 0:
                            if k % 4 != 2:
                                ev.append((b0 + k / 4, 84 if k % 2 == 0 else 62, hat_c, 0.0))
                if fill and snare:
                    for k in range(8):
                        ev.append((b0 + 2 + k / 4, 70 + 6 * k, snare, 0.0))
                continue
            # pop and rock
            kicks = [(0, 2), (0, 2.5), (0, 1.5, 2.5), (0, 0.5, 2, 2.5)][kick_var + (1 if d > 0.75 else 0)]
            if d < 0.35:
                kicks = (0,)
            if kick:
                for b in kicks:
                    if not (fill and b >= 2):
                        ev.append((b0 + b, 112 if b == 0 else 100, kick, 0.0))
            if snare and d >= 0.35:
                for b in (1, 3):
                    if not (fill and b == 3):
                        ev.append((b0 + b + 0.004, 112, snare, 0.0))
                for b in (1.75, 3.5):
                    if rng.random() < 0.3 * d:
                        ev.append((b0 + b, 40, snare, 0.0))
            use_ride = genre == "rock" and d >= 0.8 and ride is not None
            step = 0.25 if (genre == "pop" and d >= 0.8) else 0.5
            k = 0
            while k * step < (2 if fill else 4):
                b = k * step
                if use_ride and ride is not None:  # (use_ride implies a ride)
                    ev.append((b0 + b, 96 if b % 1 == 0 else 76, ride, ride_pan))
                elif hat_c:
                    open_hat = hat_o is not None and b == 3.5 and bar % 2 == 1
                    slot = cast(str, hat_o if open_hat else hat_c)  # open_hat implies an open hat
                    ev.append((b0 + b, 90 if open_hat else (96 if b % 1 == 0 else 66), slot, 0.0))
                k += 1
            if fill:
                voices = toms if toms else ([snare] if snare else [])
                for j in range(8):
                    if voices:
                        ev.append(
                            (b0 + 2 + j / 4, 86 + 4 * (j % 4), voices[min(len(voices) - 1, j * len(voices) // 8)], 0.0)
                        )
    return ev


def drum_hits(
    events: Sequence[tuple[float, float, str, float]], tempo_bpm: float, feel: Feel, rng: np.random.Generator
) -> list[Hit]:
    """Beats to seconds with swing and humanisation (velocities clipped to 1-127)."""
    beat_s = 60.0 / tempo_bpm
    hits = []
    for beat, vel, slot, pan in events:
        b = swing(beat, feel.swing)
        t = b * beat_s + (rng.normal(0, feel.timing_ms / 1000.0) if feel.timing_ms > 0 else 0.0)
        v = float(np.clip(vel + (rng.normal(0, feel.velocity_sd) if feel.velocity_sd > 0 else 0.0), 1, 127))
        hits.append(Hit(max(0.0, t), v, slot, pan))
    return hits
