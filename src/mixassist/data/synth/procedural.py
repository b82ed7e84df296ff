"""Procedural pop, rock, electronic and jazz arrangements, deterministic from a generator.

A song gets a tempo (70-160 BPM depending on genre), a key, a form of sections (intro, verse,
chorus, bridge) with their own density, chord progressions per section, and players:
drums (from a real kit), bass, one or two chord instruments, and optionally pad, lead,
arpeggio, percussion, a loop and an fx part.  Each player follows the genre (walking bass
and spang-a-lang ride for jazz, four-on-the-floor and off-beat bass for electronic, ...)
and is humanised (timing, velocity, swing where the genre has it).

Only plain data comes out (:class:`~mixassist.data.synth.arrangement.Arrangement`): no
audio, no fluidsynth, so every rule here is testable on its own.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence

import numpy as np

from mixassist.data.synth.arrangement import (
    Arrangement,
    LoopStem,
    PartStem,
    SampleStem,
    key_name,
)
from mixassist.data.synth.drum_patterns import DRUM_INSTRUMENTS, DRUM_STEMS, drum_events, drum_hits
from mixassist.data.synth.drums import Kit, fitting_loops, sonic_pi_licences
from mixassist.data.synth.form import chord_timeline, plan_sections, section_at
from mixassist.data.synth.genres import (
    ARPS,
    BASSES,
    CHORDS,
    FEELS,
    FX,
    KIT_PREFERENCE,
    LEADS,
    MAJOR_PROBABILITY,
    PADS,
    PART_PROBABILITY,
    PROGRESSIONS,
    SECOND_CHORDS,
    TEMPO_RANGES_BPM,
    Feel,
    Instrument,
)
from mixassist.data.synth.midi import Part, quantise_tempo_bpm
from mixassist.data.synth.players import (
    arp_notes,
    bass_notes,
    chord_notes,
    lead_notes,
    pad_notes,
    percussion_notes,
)
from mixassist.data.synth.theory import choose, humanise, nearest_pitch, swing

__all__ = ["arrange_procedural"]


def _weighted(rng: np.random.Generator, weights: Mapping[str, float]) -> str:
    names = sorted(weights)
    p = np.array([weights[n] for n in names], float)
    return names[int(rng.choice(len(names), p=p / p.sum()))]


def _swung(notes, feel: Feel):
    return [(swing(s, feel.swing), d, p, v) for s, d, p, v in notes]


def arrange_procedural(
    genre: str,
    seconds: float,
    rng: np.random.Generator,
    kits: Mapping[str, Kit],
    *,
    electronic_kit: Callable[[np.random.Generator], Kit] | None = None,
    loops_available: bool = True,
) -> Arrangement:
    """Draw a complete procedural song of ``genre`` lasting ``seconds``.

    Parameters
    ----------
    genre : {"pop", "rock", "electronic", "jazz"}
        The genre.
    seconds : float
        Length of the song (the arrangement covers it plus a bar).
    rng : numpy.random.Generator
        The only source of randomness.
    kits : mapping
        Allowed kits by name (:func:`~mixassist.data.synth.drums.usable_kits`).
    electronic_kit : callable, optional
        Builds the Sonic Pi kit from ``rng`` (None: that kit is not offered).
    loops_available : bool
        Whether Sonic Pi loops may be drawn.

    Returns
    -------
    Arrangement
    """
    lo, hi = TEMPO_RANGES_BPM[genre]
    tempo = quantise_tempo_bpm(float(rng.uniform(lo, hi)))
    mode = "major" if rng.random() < MAJOR_PROBABILITY[genre] else "minor"
    tonic = int(rng.integers(12))
    song_beats = seconds * tempo / 60.0
    total_bars = int(math.ceil(song_beats / 4.0)) + 1
    sections = plan_sections(total_bars, rng)
    progs = PROGRESSIONS[(genre, mode)]
    verse = choose(rng, progs)
    chorus = verse if rng.random() < 0.3 else choose(rng, progs)
    bridge = choose(rng, progs)
    beats_per_chord = 2.0 if genre == "jazz" and rng.random() < 0.4 else 4.0
    timeline = chord_timeline(
        sections, {"verse": verse, "chorus": chorus, "bridge": bridge, "intro": verse}, tonic, beats_per_chord
    )
    feel = FEELS[genre](rng)
    prob = PART_PROBABILITY[genre]
    timing = feel.timing_ms
    parts: list[PartStem] = []
    licences: list[str] = []

    def add(inst: Instrument, role: str, notes, *, detune=True, layer=0.0):
        if not notes:
            return
        notes = humanise(_swung(notes, feel), rng, tempo, timing_ms=timing, velocity_sd=feel.velocity_sd)
        stereo = "native" if inst.stereo in ("layer", "native") else inst.stereo
        part = Part(
            inst.name,
            role,
            inst.instrument,
            inst.program,
            notes,
            channels=1 if stereo == "mono" else 2,
            detune_cents=float(rng.uniform(-6, 6) * (2.0 if role in ("pad", "fx") else 1.0)) if detune else 0.0,
            layer_cents=layer if inst.stereo == "layer" else 0.0,
        )
        parts.append(PartStem(part, stereo))

    used: set[int] = set()

    def pick(options: Sequence[Instrument]) -> Instrument:
        """Draw an instrument, avoiding programs already in the song (identical samples
        playing the same chord tones would make near-duplicate stems)."""
        fresh = [i for i in options if i.program not in used] or list(options)
        inst = choose(rng, fresh)
        used.add(inst.program)
        return inst

    bass = pick(BASSES[genre])
    add(bass, "bass", bass_notes(genre, timeline, sections, rng, bass.low, bass.high))
    main = pick(CHORDS[genre])
    add(main, "chords", chord_notes(main, genre, timeline, sections, rng))
    if rng.random() < prob["second"]:
        options = [i for i in SECOND_CHORDS[genre] if i.name != main.name]
        if options:
            second = pick(options)
            active = {"chorus", "bridge"} if rng.random() < 0.5 else {"verse", "chorus", "bridge", "intro"}
            in_active = [t for t in timeline if section_at(sections, int(t[0] // 4)).name in active]
            add(second, "chords", chord_notes(second, genre, in_active, sections, rng))
    if rng.random() < prob["pad"]:
        pad = pick(PADS[genre])
        active = {"intro", "chorus", "bridge"} | ({"verse"} if rng.random() < 0.5 else set())
        add(pad, "pad", pad_notes(pad, timeline, sections, active), layer=float(rng.uniform(6, 12)))
    if rng.random() < prob["lead"]:
        lead = pick(LEADS[genre])
        active = {"verse", "chorus"} | ({"bridge"} if rng.random() < 0.5 else set())
        add(lead, "lead", lead_notes(lead, genre, timeline, sections, active, tonic, mode, rng))
    if genre in ARPS and rng.random() < prob["arp"]:
        arp = pick(ARPS[genre])
        active = {"chorus", "bridge"} if genre != "electronic" else {"verse", "chorus", "bridge"}
        add(arp, "arp", arp_notes(arp, timeline, sections, active, tempo, rng), layer=float(rng.uniform(5, 10)))
    if rng.random() < prob["fx"]:
        fx = pick(FX)
        # one swell per section, entering off the downbeat, on the tonic or the fifth up high
        notes = [
            (
                sec.start_bar * 4.0 + 2.0,
                min(6.0, sec.bars * 4.0 - 2.0),
                nearest_pitch(tonic + choose(rng, [0, 7]), 80, fx.low, fx.high),
                90,
            )
            for sec in sections
        ]
        add(fx, "fx", notes, layer=float(rng.uniform(6, 12)))

    # drums
    samples: list[SampleStem] = []
    weights = {
        name: w
        for name, w in KIT_PREFERENCE[genre].items()
        if (name in kits and kits[name].is_drumkit) or (name == "sonic-pi-samples" and electronic_kit)
    }
    if not weights:
        weights = {name: 1.0 for name, kit in kits.items() if kit.is_drumkit}
    drumkit = None
    if weights:
        kit_name = _weighted(rng, weights)
        drumkit = electronic_kit(rng) if kit_name == "sonic-pi-samples" and electronic_kit else kits[kit_name]
        events = drum_events(genre, sections, set(drumkit.slots), rng)
        drum_feel = Feel(feel.swing if genre != "jazz" else 0.5, feel.timing_ms * 0.6, feel.velocity_sd)
        hits = drum_hits(events, tempo, drum_feel, rng)  # jazz triplets are already swung
        for stem, (slots, channels) in DRUM_STEMS.items():
            stem_hits = [h for h in hits if h.slot in slots]
            if stem_hits:
                choke = {"hat_open": {"hat_closed", "hat_pedal"}} if stem == "hats" else {}
                samples.append(SampleStem(stem, "drums", DRUM_INSTRUMENTS[stem], channels, drumkit, stem_hits, choke))
        licences.append(drumkit.credit)

    # percussion
    if rng.random() < prob["perc"]:
        active = {"chorus"} | ({"verse", "bridge"} if rng.random() < 0.5 else set())
        djembe = kits.get("circAfrique v4")
        if djembe is not None and genre != "rock" and rng.random() < 0.3:
            events = []
            for sec in sections:
                if sec.name not in active:
                    continue
                for bar in range(sec.start_bar, sec.start_bar + sec.bars):
                    for b, name, v in (
                        (0, "Djembe1 Bass", 110),
                        (0.75, "Djembe1 Tone", 80),
                        (1, "Djembe1 Tone", 90),
                        (1.5, "Djembe1 Slap", 104),
                        (2, "Djembe1 Bass", 100),
                        (2.75, "Djembe1 Tone", 78),
                        (3, "Djembe1 Tone", 88),
                        (3.5, "Djembe1 Slap", 108),
                    ):
                        if name in djembe.instruments:
                            events.append((bar * 4.0 + b, v, name, 0.0))
            hits = drum_hits(events, tempo, feel, rng)
            if hits:
                samples.append(SampleStem("djembe", "percussion", "djembe", 1, djembe, hits))
                licences.append(djembe.credit)
        else:
            instrument = choose(
                rng,
                {
                    "pop": ["tambourine", "maracas", "cabasa"],
                    "rock": ["tambourine"],
                    "electronic": ["maracas", "cabasa", "claves"],
                    "jazz": ["congas", "maracas", "claves"],
                }[genre],
            )
            notes = percussion_notes(instrument, sections, active)
            if notes:
                notes = humanise(_swung(notes, feel), rng, tempo, timing_ms=timing, velocity_sd=feel.velocity_sd)
                name = {"maracas": "shaker", "cabasa": "shaker"}.get(instrument, instrument)
                parts.append(
                    PartStem(Part(name, "percussion", instrument, 0, notes, channels=1, percussion=True), "mono")
                )

    loops: list[LoopStem] = []
    if loops_available and rng.random() < prob["loop"]:
        candidates = fitting_loops(tempo)
        if candidates:
            loop, beats = candidates[int(rng.integers(len(candidates)))]
            whole = rng.random() < 0.5
            spans = [
                (s.start_bar * 4.0, (s.start_bar + s.bars) * 4.0)
                for s in sections
                if whole or s.name in ("chorus", "bridge")
            ]
            if spans:
                loops.append(LoopStem("loop", loop, beats, spans))
                credit = sonic_pi_licences().get(loop.name, f"'{loop.name}'")
                licences.append(f"Loop from Sonic Pi (Debian package sonic-pi-samples), freesound.org: {credit}.")
    return Arrangement(
        kind=genre,
        source="procedural",
        tempo_bpm=tempo,
        key=key_name(tonic, mode),
        song_beats=song_beats,
        parts=parts,
        samples=samples,
        loops=loops,
        drumkit=drumkit,
        sections=sections,
        licences=licences,
    )
