"""The multitrack song synthesiser (``mixassist.data.synth``).

Most tests need neither fluidsynth nor music21 nor Debian's sample packages: the renderer is
injected (a sine-tone stub), drum kits are made of samples written by the tests, and the
music logic (form, notes, drum patterns, levels, multi-mic pairs, licences, metadata,
resumability) is checked on its own.  Tests marked ``needs_system`` run the real thing and
are skipped where fluidsynth, the soundfonts, the kits or music21 are missing (as in CI).
"""

from __future__ import annotations

import json
import math
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from mixassist.data.synth import (
    KINDS,
    ROLES,
    SongSpec,
    song_seed,
    synthesize_dataset,
    synthesize_song,
)
from mixassist.data.synth import drums as drums_mod
from mixassist.data.synth import song as song_mod
from mixassist.data.synth.arrangement import Section
from mixassist.data.synth.drum_patterns import drum_events
from mixassist.data.synth.drums import (
    Hit,
    Kit,
    Layer,
    place_hits,
    scan_kits,
    usable_kits,
)
from mixassist.data.synth.form import chord_timeline, plan_sections
from mixassist.data.synth.genres import GENRES, TEMPO_RANGES_BPM
from mixassist.data.synth.licences import classify_licence, licence_verdict
from mixassist.data.synth.midi import (
    TICKS_PER_BEAT,
    Part,
    quantise_tempo_bpm,
    segment_beats,
    write_multiplexed_midi,
)
from mixassist.data.synth.mixing import (
    LEVEL_RANGE_LUFS,
    MultiMic,
    fractional_delay,
    make_multi_mic,
    set_level,
    spaced_pair,
)
from mixassist.data.synth.players import bass_notes
from mixassist.data.synth.procedural import arrange_procedural
from mixassist.data.synth.render import (
    SOUNDFONTS,
    FluidSynthRenderer,
    SoundFont,
    find_soundfont,
)
from mixassist.data.synth.scores import (
    _doubled,
    _window,
    arrange_score,
    assign_roles,
    music21_available,
)
from mixassist.data.synth.theory import Chord, swing, voice_chord
from mixassist.errors import InvalidParameterError, MissingDependencyError, OutputError
from mixassist.measure import integrated_loudness

SR = 22050  # the stub-rendered tests run at a low rate to stay fast


# --------------------------------------------------------------------------------------
# Helpers: a sine-tone renderer and a drum kit made of synthetic samples
# --------------------------------------------------------------------------------------


class StubRenderer:
    """Renders each note as a decaying sine at its pitch; deterministic, no fluidsynth."""

    calls = 0

    def render(self, parts, *, tempo_bpm, song_beats, seconds, sample_rate, soundfont):
        type(self).calls += 1
        n = int(round(seconds * sample_rate))
        out = []
        for k, part in enumerate(parts):
            x = np.zeros(n, np.float64)
            for start, dur, pitch, vel in part.notes:
                a = int(start * 60.0 / tempo_bpm * sample_rate)
                m = min(n - a, int((dur * 60.0 / tempo_bpm + 0.05) * sample_rate))
                if a >= n or m <= 0:
                    continue
                t = np.arange(m) / sample_rate
                f = 440.0 * 2 ** ((pitch - 69) / 12) * (1 + 0.001 * k)
                x[a : a + m] += vel / 127 * np.sin(2 * np.pi * f * t) * np.exp(-3 * t)
            # a little stereo difference so "native" stereo stays stereo
            out.append(np.stack([x, np.roll(x, 3) * 0.9]).astype(np.float32) * 0.1)
        return out


def _write_sample(path: Path, kind: str, rate: int = 44100) -> Path:
    rng = np.random.default_rng(len(kind))
    t = np.arange(int(0.5 * rate)) / rate
    if kind == "kick":
        x = np.sin(2 * np.pi * (50 + 100 * np.exp(-30 * t)) * t) * np.exp(-8 * t)
    elif kind == "tom":
        x = np.sin(2 * np.pi * 140 * t) * np.exp(-10 * t)
    else:
        decay = {"snare": 15, "hat": 40, "cymbal": 3}[kind]
        x = rng.standard_normal(t.size) * np.exp(-decay * t)
    sf.write(path, (0.8 * x / np.max(np.abs(x))).astype(np.float32), rate, subtype="PCM_24")
    return path


@pytest.fixture
def fake_kit(tmp_path_factory) -> Kit:
    folder = tmp_path_factory.mktemp("kit")
    files = {
        "kick": "kick",
        "snare": "snare",
        "clap": "snare",
        "hat_closed": "hat",
        "hat_open": "cymbal",
        "hat_pedal": "hat",
        "tom_high": "tom",
        "tom_mid": "tom",
        "tom_low": "tom",
        "crash": "cymbal",
        "ride": "cymbal",
    }
    slots = {slot: (Layer(_write_sample(folder / f"{slot}.wav", kind)),) for slot, kind in files.items()}
    return Kit("fakekit", "CC0-1.0", True, "test kit", "Drum samples: synthetic test kit, CC0.", slots, {})


@pytest.fixture
def offline(monkeypatch, fake_kit):
    """Songs without Debian's kits and Sonic Pi samples: the fake kit stands in for both."""
    monkeypatch.setattr(song_mod, "usable_kits", lambda: {"fakekit": fake_kit})
    monkeypatch.setattr(song_mod, "sonic_pi_kit", lambda rng: fake_kit)
    monkeypatch.setattr(song_mod, "_require_sonic_pi", lambda: None)
    monkeypatch.setattr(drums_mod, "SONIC_PI_SAMPLES", Path("/nonexistent"))
    StubRenderer.calls = 0
    return fake_kit


# --------------------------------------------------------------------------------------
# MIDI writer and tempo grid
# --------------------------------------------------------------------------------------


def _read_events(path: Path) -> list[tuple[int, bytes]]:
    """(absolute tick, event bytes) of a type-0 SMF written by our writer."""
    data = path.read_bytes()
    assert data[:4] == b"MThd"
    _, fmt, ntracks, division = struct.unpack(">IHHH", data[4:14])
    assert (fmt, ntracks, division) == (0, 1, TICKS_PER_BEAT)
    assert data[14:18] == b"MTrk"
    pos, tick, events = 22, 0, []
    while pos < len(data):
        delta = 0
        while True:
            b = data[pos]
            pos += 1
            delta = (delta << 7) | (b & 0x7F)
            if b < 0x80:
                break
        tick += delta
        status = data[pos]
        if status == 0xFF:
            length = data[pos + 2]
            events.append((tick, data[pos : pos + 3 + length]))
            pos += 3 + length
        else:
            size = 2 if status & 0xF0 in (0xC0, 0xD0) else 3
            events.append((tick, data[pos : pos + size]))
            pos += size
    return events


def test_multiplexed_midi_puts_each_part_in_its_segment(tmp_path):
    parts = [
        Part("bass", "bass", "bass", 33, [(0.0, 1.0, 40, 100), (2.5, 0.5, 43, 90)]),
        Part("pad", "pad", "pad", 89, [(1.0, 30.0, 60, 80)], channels=2, layer_cents=8.0),
        Part("shaker", "percussion", "maracas", 0, [(0.25, 0.1, 70, 90)], percussion=True),
    ]
    tempo = quantise_tempo_bpm(117.0)
    period = segment_beats(tempo, 10.0, 44100)
    path = tmp_path / "x.mid"
    write_multiplexed_midi(path, parts, tempo, 10.0, period)
    ev = _read_events(path)
    on = [(t, e[0] & 0x0F, e[1]) for t, e in ev if e[0] & 0xF0 == 0x90]
    p = period * TICKS_PER_BEAT
    assert (0, 0, 40) in on and (int(2.5 * TICKS_PER_BEAT), 0, 43) in on
    assert (p + TICKS_PER_BEAT, 0, 60) in on and (p + TICKS_PER_BEAT, 1, 60) in on  # stereo layer
    assert (2 * p + TICKS_PER_BEAT // 4, 9, 70) in on  # percussion on channel 10
    # the long pad note is cut at song end + half a beat, before the next segment
    offs = [t for t, e in ev if e[0] & 0xF0 == 0x80 and e[1] == 60]
    assert max(offs) == p + int(10.5 * TICKS_PER_BEAT) < 2 * p
    # programs, effects sends off, all sound off before every segment ends
    programs = [(t, e[0] & 0x0F, e[1]) for t, e in ev if e[0] & 0xF0 == 0xC0]
    assert (0, 0, 33) in programs and (p, 0, 89) in programs and (p, 1, 89) in programs
    sends = [(e[1], e[2]) for _, e in ev if e[0] & 0xF0 == 0xB0 and e[1] in (91, 93)]
    assert sends and all(v == 0 for _, v in sends)
    sound_off = [t for t, e in ev if e[0] & 0xF0 == 0xB0 and e[1] == 120]
    assert all(t % p < p - TICKS_PER_BEAT for t in sound_off)
    tempo_us = [int.from_bytes(e[3:6], "big") for _, e in ev if e[:2] == b"\xff\x51"]
    assert tempo_us == [int(round(60e6 / tempo))]


@pytest.mark.parametrize("sample_rate", [22050, 44100, 48000, 96000])
@pytest.mark.parametrize("bpm", [60.0, 71.3, 99.9, 117.0, 160.0])
def test_segment_period_falls_on_fluidsynths_timing_grid(sample_rate, bpm):
    tempo = quantise_tempo_bpm(bpm)
    tempo_us = int(round(60e6 / tempo))
    assert tempo_us % 10_000 == 0 and abs(tempo / bpm - 1) < 0.03
    period = segment_beats(tempo, 37.2, sample_rate)
    assert period >= 39.2
    shift_us = period * tempo_us
    assert shift_us % 1000 == 0  # whole milliseconds
    assert (shift_us // 1000 * sample_rate) % 64000 == 0  # whole 64-sample blocks


# --------------------------------------------------------------------------------------
# Music logic
# --------------------------------------------------------------------------------------


def test_voice_leading_and_swing():
    c = voice_chord(Chord(0, "maj").pcs(), 52, 79, None, size=4)
    assert sorted(p % 12 for p in c) == [0, 0, 4, 7] and all(52 <= p <= 79 for p in c)
    f = voice_chord(Chord(5, "maj").pcs(), 52, 79, c, size=4)
    assert sum(abs(a - b) for a, b in zip(sorted(c), sorted(f))) <= 6  # moves little
    assert swing(2.5, 2 / 3) == pytest.approx(2 + 2 / 3) and swing(3.0, 0.66) == 3.0


def test_sections_cover_the_song_and_vary_density(rng):
    for bars in (3, 9, 30):
        secs = plan_sections(bars, rng)
        assert secs[0].start_bar == 0
        assert sum(s.bars for s in secs) >= bars
        assert all(b.start_bar == a.start_bar + a.bars for a, b in zip(secs, secs[1:]))
    secs = plan_sections(30, np.random.default_rng(1))
    dens = {s.name: s.density for s in secs}
    assert dens["chorus"] > dens["verse"]


@pytest.mark.parametrize("style", GENRES)
def test_procedural_arrangement_is_plausible_and_deterministic(style, fake_kit):
    kits = {"fakekit": fake_kit}
    arr = arrange_procedural(style, 20.0, np.random.default_rng(3), kits, loops_available=False)
    again = arrange_procedural(style, 20.0, np.random.default_rng(3), kits, loops_available=False)
    assert [ps.part.notes for ps in arr.parts] == [ps.part.notes for ps in again.parts]
    assert [s.hits for s in arr.samples] == [s.hits for s in again.samples]
    lo, hi = TEMPO_RANGES_BPM[style]
    assert lo * 0.98 <= arr.tempo_bpm <= hi * 1.02 and 70 * 0.98 <= arr.tempo_bpm <= 160 * 1.02
    assert arr.key.split()[1] in ("major", "minor")
    names = [ps.part.name for ps in arr.parts] + [s.name for s in arr.samples]
    assert len(names) == len(set(names)) and all(n == n.lower() for n in names)
    roles = {ps.part.role for ps in arr.parts} | {s.role for s in arr.samples}
    assert roles <= set(ROLES) and {"bass", "chords", "drums"} <= roles
    for ps in arr.parts:
        assert ps.part.notes, ps.part.name
        for start, dur, pitch, vel in ps.part.notes:
            assert 0 <= start < arr.song_beats + 8 and dur > 0 and 0 <= pitch <= 127 and 1 <= vel <= 127
        if ps.part.role == "bass":
            assert max(p for _, _, p, _ in ps.part.notes) <= 60
        assert (ps.part.channels == 1) == (ps.stereo == "mono")
    kick = next(s for s in arr.samples if s.name == "kick")
    assert kick.channels == 1 and all(h.slot == "kick" for h in kick.hits)
    assert next(s for s in arr.samples if s.name == "overheads").channels == 2


def test_drum_patterns_follow_the_style():
    secs = [Section("verse", 0, 4, 0.6), Section("chorus", 4, 4, 0.9)]
    slots = {"kick", "snare", "clap", "hat_closed", "hat_open", "hat_pedal", "ride", "crash", "tom_high", "tom_low"}
    ev = drum_events("electronic", secs, slots, np.random.default_rng(0))
    kicks = sorted(b for b, _, s, _ in ev if s == "kick")
    assert kicks == [float(b) for b in range(32)]  # four on the floor
    claps = sorted(b for b, _, s, _ in ev if s == "clap")
    assert all(b % 4 in (1.0, 3.0) for b in claps)
    ev = drum_events("jazz", secs, slots, np.random.default_rng(0))
    ride = sorted(b for b, _, s, _ in ev if s == "ride")
    assert ride[:6] == pytest.approx([0, 1, 1 + 2 / 3, 2, 3, 3 + 2 / 3])  # spang-a-lang
    assert sorted(b for b, _, s, _ in ev if s == "hat_pedal")[:2] == [1, 3]
    ev = drum_events("rock", secs, slots, np.random.default_rng(0))
    snares = [b for b, v, s, _ in ev if s == "snare" and v > 100]
    assert snares and all(abs(b % 2 - 1) < 0.01 for b in snares)  # backbeat


def test_walking_bass_walks(rng):
    secs = [Section("verse", 0, 4, 0.8)]
    timeline = chord_timeline(secs, {"verse": [(2, "min7"), (7, "dom7"), (0, "maj7"), (0, "maj7")]}, 0, 4.0)
    notes = bass_notes("jazz", timeline, secs, rng)
    onsets = [s for s, _, _, _ in notes]
    assert onsets == [float(b) for b in range(16)]  # quarter notes
    assert notes[0][2] % 12 == 2 and notes[4][2] % 12 == 7  # roots on the downbeats
    assert all(28 <= p <= 55 for _, _, p, _ in notes)


# --------------------------------------------------------------------------------------
# Drum samples, levels, multi-mic pairs
# --------------------------------------------------------------------------------------


def test_place_hits_puts_samples_at_their_times():
    impulse = np.zeros((1, 100), np.float32)
    impulse[0, 0] = 1.0
    cymbal = np.ones((1, 400), np.float32)
    lay_k, lay_o, lay_c = Layer(Path("k")), Layer(Path("o")), Layer(Path("c"))
    samples = {"kick": [(lay_k, impulse)], "hat_open": [(lay_o, cymbal)], "hat_closed": [(lay_c, impulse)]}
    hits = [
        Hit(0.01, 127, "kick"),
        Hit(0.5, 64, "kick"),
        Hit(0.1, 127, "hat_open"),
        Hit(0.1 + 200 / 8000, 127, "hat_closed"),
    ]
    out = place_hits(
        8000,
        hits,
        samples,
        8000,
        channels=1,
        rng=np.random.default_rng(0),
        choke={"hat_open": {"hat_closed"}},
        darken=False,
    )
    assert out.shape == (1, 8000)
    assert out[0, 80] == pytest.approx(1.0) and out[0, 4000] == pytest.approx((64 / 127) ** 1.7)
    assert out[0, 800 + 150] == pytest.approx(1.0)  # open hat rings...
    assert np.all(out[0, 800 + 200 + 96 + 1 : 800 + 400] == 0)  # ...until the closed hat chokes it (12 ms fade)
    stereo = place_hits(
        8000, [Hit(0.0, 127, "kick", pan=-1.0)], samples, 8000, channels=2, rng=np.random.default_rng(0), darken=False
    )
    lag = int(np.argmax(np.abs(stereo[1]) > 0))
    assert stereo[0, 0] == pytest.approx(1.0) and lag == round(0.0006 * 8000) and stereo[1, lag] < 1.0


def test_velocity_layers_pick_the_right_sample():
    soft, loud = np.full((1, 10), 0.2, np.float32), np.full((1, 10), 0.9, np.float32)
    layers = [(Layer(Path("s"), 0.0, 0.5), soft), (Layer(Path("l"), 0.5, 1.0), loud)]
    out = place_hits(
        100,
        [Hit(0.0, 20, "snare"), Hit(0.5, 120, "snare")],
        {"snare": layers},
        100,
        rng=np.random.default_rng(0),
        velocity_layers=True,
    )
    assert out[0, 0] == pytest.approx(0.2 * 20 / 127) and out[0, 50] == pytest.approx(0.9 * 120 / 127)


@pytest.mark.parametrize("sample_rate", [22050, 44100, 48000])
@pytest.mark.parametrize("channels", [1, 2])
def test_set_level_hits_the_target_and_respects_the_ceiling(sample_rate, channels, rng):
    t = np.arange(3 * sample_rate) / sample_rate
    tone = np.tile(0.1 * np.sin(2 * np.pi * 440 * t), (channels, 1)).astype(np.float32)
    y, lufs = set_level(tone, sample_rate, -23.0)
    assert lufs == pytest.approx(-23.0, abs=0.05) and integrated_loudness(y, sample_rate) == pytest.approx(
        lufs, abs=1e-6
    )
    clicks = np.zeros((channels, 3 * sample_rate), np.float32)
    clicks[:, :: sample_rate // 2] = 1.0  # crest factor far above 30 dB
    y, lufs = set_level(clicks, sample_rate, -12.0)
    assert np.max(np.abs(y)) == pytest.approx(10 ** (-1 / 20), rel=1e-5) and lufs < -12.0
    assert set_level(np.zeros((channels, 1000), np.float32), sample_rate, -20.0)[1] is None


def _estimate_delay(a: np.ndarray, b: np.ndarray) -> tuple[float, int]:
    """Delay of ``b`` relative to ``a`` in samples (parabolic peak) and the polarity."""
    n = len(a) + len(b)
    xc = np.fft.irfft(np.fft.rfft(b, n) * np.conj(np.fft.rfft(a, n)), n)
    k = int(np.argmax(np.abs(xc[: len(a)])))
    y0, y1, y2 = np.abs(xc[k - 1]), np.abs(xc[k]), np.abs(xc[k + 1])
    return k + 0.5 * (y0 - y2) / (y0 - 2 * y1 + y2), int(np.sign(xc[k]))


def test_fractional_delay_is_exact_on_a_band_limited_signal():
    sr, d = 48000, 17.37
    t = np.arange(sr) / sr
    x = np.sin(2 * np.pi * 1000 * t) * np.hanning(sr)
    y = fractional_delay(x, d)
    expected = np.sin(2 * np.pi * 1000 * (t - d / sr)) * np.interp(t - d / sr, t, np.hanning(sr), left=0)
    assert np.max(np.abs(y[2000:-2000] - expected[2000:-2000])) < 1e-4
    with pytest.raises(InvalidParameterError):
        fractional_delay(x, -1.0)


@pytest.mark.parametrize("polarity_flip", [0.0, 1.0])
def test_multi_mic_pair_has_the_declared_delay_and_polarity(polarity_flip, rng):
    sr = 44100
    src = np.zeros(sr * 2, np.float32)
    for k in range(8):  # drum-like noise bursts
        a = int((0.1 + 0.23 * k) * sr)
        src[a : a + 2000] += (rng.standard_normal(2000) * np.exp(-np.arange(2000) / 300)).astype(np.float32)
    kind = MultiMic(
        ("in", "out"), ("a", "b"), (2.37, 2.37), polarity_flip, highpass_hz=(80, 80), lowpass_hz=(5000, 5000), drive=0.5
    )
    second, delay_ms, polarity = make_multi_mic(src, sr, kind, np.random.default_rng(5))
    assert delay_ms == pytest.approx(2.37) and polarity == (-1 if polarity_flip else 1)
    lag, sign = _estimate_delay(src.astype(np.float64), second.astype(np.float64))
    assert lag / sr * 1000 == pytest.approx(2.37, abs=0.01)
    assert sign == polarity
    before = second[: int(0.09 * sr)]  # before the first burst: only the added noise
    assert np.any(before != 0) and np.max(np.abs(before)) < 1e-2 * np.max(np.abs(second))


def test_spaced_pair_is_a_delayed_quieter_copy(rng):
    sr = 44100
    x = rng.standard_normal(sr).astype(np.float32)
    pair = spaced_pair(x, sr, np.random.default_rng(2))
    near = int(np.argmax([np.abs(np.sum(pair[c] * x)) for c in range(2)]))
    lag, sign = _estimate_delay(pair[near].astype(np.float64), pair[1 - near].astype(np.float64))
    assert 0.05 <= lag / sr * 1000 <= 0.35 and sign == 1
    assert np.sum(pair[1 - near] ** 2) < np.sum(pair[near] ** 2)


# --------------------------------------------------------------------------------------
# Licences and dependencies
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected", "allowed"),
    [
        ("This work is licensed under the Creative Commons 0 License.", "CC0-1.0", True),
        ("cc-by ==> http://creativecommons.org/licenses/by/3.0/", "CC-BY-3.0", True),
        ("Attribution-Share Alike 3.0 United States", "CC-BY-SA-3.0", True),
        ("GPL-2+ with composition exception", "GPL-2.0-or-later WITH composition-exception", True),
        ("GPL", "GPL", False),
        ("This drumkit is distributed under the GPL version 2 license", "GPL-2.0-only", False),
        ("Creative Commons Attribution-NonCommercial 3.0", "CC-BY-NC/ND-3.0", False),
    ],
)
def test_licence_classification(text, expected, allowed):
    assert classify_licence(text) == expected
    assert licence_verdict(text, None)[0] is allowed
    assert licence_verdict(None, text)[0] is allowed


def test_licence_verdict_takes_the_stricter_statement_and_refuses_silence():
    assert licence_verdict("cc-by 3.0", "GPL-2")[0] is False
    assert licence_verdict(None, None)[0] is False
    assert licence_verdict("", "   ")[0] is False


def test_scan_kits_reads_drumkit_xml_and_debian_copyright(tmp_path):
    root = tmp_path / "drumkits"
    xml = "<drumkit_info><name>{n}</name><author>me</author>{lic}<instrumentList>{ins}</instrumentList></drumkit_info>"
    ins = "".join(
        f"<instrument><name>{name}</name><layer><filename>{f}.wav</filename><min>0</min><max>1</max><gain>1</gain></layer></instrument>"
        for name, f in (("Kick", "k"), ("Snare Rock", "s"), ("Closed HH", "h"), ("Ride Jazz", "r"), ("Crash", "c"))
    )
    for name, lic in (
        ("Free", "<license>CC0</license>"),
        ("Copyleft", "<license>GPL</license>"),
        ("Excepted Kit v2", ""),
        ("Silent", ""),
    ):
        (root / name).mkdir(parents=True)
        (root / name / "drumkit.xml").write_text(xml.format(n=name, lic=lic, ins=ins))
        for f in "kshrc":
            _write_sample(root / name / f"{f}.wav", "hat", 8000)
    copyright_file = tmp_path / "copyright"
    copyright_file.write_text(
        "Files: drumkits/Copyleft.h2drumkit\nCopyright: x\nLicense: GPL-2\n\n"
        "Files: drumkits/Excepted?Kit.h2drumkit\nCopyright: y\nLicense: GPL-2+ with composition exception\n\n"
        "Files: drumkits/Free.h2drumkit\nCopyright: z\nLicense: CC0\n"
    )
    kits = {k.name: k for k in scan_kits(root, copyright_file)}
    assert kits["Free"].allowed and kits["Free"].licence == "CC0-1.0"
    assert not kits["Copyleft"].allowed and "GPL" in kits["Copyleft"].reason
    assert kits["Excepted Kit v2"].allowed and "composition" in kits["Excepted Kit v2"].licence
    assert not kits["Silent"].allowed
    assert set(kits["Free"].slots) == {"kick", "snare", "hat_closed", "ride", "crash"} and kits["Free"].is_drumkit
    assert set(usable_kits(root, copyright_file)) == {"Free", "Excepted Kit v2"}
    with pytest.raises(MissingDependencyError, match="apt-get install hydrogen-drumkits"):
        usable_kits(tmp_path / "nowhere", copyright_file)


def test_sonic_pi_samples_need_their_own_cc0_stanza(tmp_path):
    root = tmp_path / "samples"
    root.mkdir()
    for name in ("loop_amen", "loop_perc1", "bd_haus"):
        _write_sample(root / f"{name}.flac", "kick", 8000)
    (root / "README.md").write_text("placed in the public domain via the Creative Commons 0 License")
    copyright_file = tmp_path / "copyright"
    copyright_file.write_text(
        "Files: *\nCopyright: 2016 Samuel Aaron\nLicense: MIT\n\n"
        "Files: etc/samples/loop_amen.flac\nCopyright: 2007 Dolfeus\nSource: http://freesound.org/x/\nLicense: CC0\n\n"
        "Files: etc/samples/bd_haus.flac\nCopyright: someone\nLicense: CC-BY-NC-3.0\n"
    )
    allowed = drums_mod.sonic_pi_licences(root, copyright_file)
    assert set(allowed) == {"loop_amen"} and "Dolfeus" in allowed["loop_amen"] and "freesound" in allowed["loop_amen"]
    # documentation stripped from the system: the README's blanket CC0 statement is relied on
    assert set(drums_mod.sonic_pi_licences(root, tmp_path / "missing")) == {"loop_amen", "loop_perc1", "bd_haus"}


def test_missing_tools_name_their_package(monkeypatch):
    with pytest.raises(MissingDependencyError, match="apt-get install some-font-package"):
        find_soundfont(SoundFont("X", ("/nonexistent/x.sf2",), "some-font-package", "MIT"))
    monkeypatch.setattr(shutil, "which", lambda name: None)
    part = Part("lead", "lead", "flute", 73, [(0.0, 1.0, 72, 90)])
    with pytest.raises(MissingDependencyError, match="apt-get install fluidsynth"):
        FluidSynthRenderer().render(
            [part], tempo_bpm=120.0, song_beats=4, seconds=2.0, sample_rate=SR, soundfont=SOUNDFONTS[0]
        )


def test_scores_without_music21_raise_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "music21", None)  # import music21 now fails
    with pytest.raises(MissingDependencyError, match=r"pip install 'mixassist\[data\]'"):
        arrange_score(10.0, np.random.default_rng(0))
    assert all(SongSpec(seed=s, seconds=5.0).draw_kind(scores_available=False) != "score" for s in range(200))
    assert {SongSpec(seed=s, seconds=5.0).draw_kind(scores_available=True) for s in range(200)} == set(KINDS)


def test_package_imports_without_music21():
    code = (
        "import sys; sys.modules['music21'] = None\n"
        "from mixassist.data.synth import synthesize_song, synthesize_dataset, SongSpec\n"
        "print('ok')"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0 and res.stdout.strip() == "ok", res.stderr


def test_score_helpers():
    assert assign_roles([72.0, 64.0, 55.0, 43.0]) == ["lead", "chords", "chords", "bass"]
    a = [(0.0, 1.0, 60, 80), (1.0, 1.0, 62, 80)]
    assert _doubled(a, list(a)) and not _doubled(a, [(0.5, 1.0, 60, 80)])
    parts = [[(float(b), 1.0, 60, 80) for b in range(0, 40)], [(float(b), 1.0, 48, 80) for b in range(20, 40)]]
    start, excerpt = _window(parts, [float(b) for b in range(0, 40, 4)], 40.0, 12.0, np.random.default_rng(0))
    assert start >= 12.0  # where both parts play
    assert all(notes and all(0 <= s < 12.0 for s, _, _, _ in notes) for notes in excerpt)
    start, excerpt = _window(parts[:1], [0.0], 10.0, 25.0, np.random.default_rng(0))  # too short: repeated
    assert max(s for s, _, _, _ in excerpt[0]) > 20


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(seed=-1, seconds=5.0),
        dict(seed=1, seconds=0.0),
        dict(seed=1, seconds=5.0, sample_rate=1000),
        dict(seed=1, seconds=5.0, kind="polka"),
        dict(seed=1.5, seconds=5.0),
        dict(seed=1, seconds=math.nan),
    ],
)
def test_song_spec_validates(kwargs):
    with pytest.raises(InvalidParameterError):
        SongSpec(**kwargs)


# --------------------------------------------------------------------------------------
# Songs and datasets with the stub renderer
# --------------------------------------------------------------------------------------


def _check_song(folder: Path, meta: dict, seconds: float, sample_rate: int) -> None:
    on_disk = json.loads((folder / "song.json").read_text())
    assert on_disk == meta
    assert set(meta) >= {
        "version",
        "name",
        "seed",
        "kind",
        "source",
        "tempo_bpm",
        "key",
        "soundfont",
        "drumkit",
        "sample_rate",
        "seconds",
        "stems",
        "multi_mic",
        "licences",
    }
    assert meta["version"] == 1 and meta["name"] == folder.name and meta["kind"] in KINDS
    assert meta["sample_rate"] == sample_rate and meta["seconds"] == seconds
    assert meta["soundfont"] in {f.key for f in SOUNDFONTS} | {"FluidR3_GM", "MuseScore_General_Lite"}
    assert meta["drumkit"] is None or set(meta["drumkit"]) == {"name", "licence"}
    names = [s["name"] for s in meta["stems"]]
    assert len(names) == len(set(names)) >= 3
    for stem in meta["stems"]:
        assert set(stem) == {"name", "file", "role", "instrument", "channels", "level_lufs", "program"}
        assert stem["name"] == stem["name"].lower() and stem["file"] == f"stems/{stem['name']}.wav"
        assert stem["role"] in ROLES and stem["channels"] in (1, 2)
        assert stem["program"] is None or 0 <= stem["program"] <= 127
        info = sf.info(str(folder / stem["file"]))
        assert info.subtype == "PCM_24" and info.channels == stem["channels"] and info.samplerate == sample_rate
        assert info.frames == round(seconds * sample_rate)
        assert LEVEL_RANGE_LUFS[0] <= stem["level_lufs"] <= LEVEL_RANGE_LUFS[1]
    for pair in meta["multi_mic"]:
        assert set(pair["tracks"]) <= set(names) and 0.1 <= pair["delay_ms"] <= 10 and pair["polarity"] in (-1, 1)
    assert meta["licences"] and all(isinstance(line, str) for line in meta["licences"])
    assert sorted(p.name for p in (folder / "stems").iterdir()) == sorted(f"{n}.wav" for n in names)


@pytest.mark.parametrize("kind", ["pop", "rock", "electronic", "jazz"])
def test_song_with_stub_renderer_follows_the_schema(kind, tmp_path, offline):
    meta = synthesize_song(
        tmp_path / "song_007", seed=11, seconds=4.0, sample_rate=SR, kind=kind, renderer=StubRenderer()
    )
    _check_song(tmp_path / "song_007", meta, 4.0, SR)
    assert meta["kind"] == kind and meta["source"] == "procedural" and meta["drumkit"]["name"] == "fakekit"
    roles = {s["role"] for s in meta["stems"]}
    assert {"drums", "bass", "chords"} <= roles
    assert not list(tmp_path.glob(".*partial*"))
    with pytest.raises(OutputError):
        synthesize_song(tmp_path / "song_007", seed=11, seconds=4.0, sample_rate=SR, kind=kind, renderer=StubRenderer())


def test_same_seed_gives_identical_files(tmp_path, offline):
    a = synthesize_song(tmp_path / "a", seed=5, seconds=3.0, sample_rate=SR, renderer=StubRenderer(), name="x")
    b = synthesize_song(tmp_path / "b", seed=5, seconds=3.0, sample_rate=SR, renderer=StubRenderer(), name="x")
    assert a == b
    for stem in a["stems"]:
        assert (tmp_path / "a" / stem["file"]).read_bytes() == (tmp_path / "b" / stem["file"]).read_bytes()
    c = synthesize_song(tmp_path / "c", seed=6, seconds=3.0, sample_rate=SR, renderer=StubRenderer(), name="x")
    assert c != a


def test_songs_get_pairs_levels_and_stereo_across_seeds(tmp_path, offline):
    metas = [
        synthesize_song(
            tmp_path / f"s{s}", seed=s, seconds=3.0, sample_rate=SR, renderer=StubRenderer(), kind=KINDS[1 + s % 4]
        )
        for s in range(10)
    ]
    pairs = [p for m in metas for p in m["multi_mic"]]
    assert pairs, "no song drew a multi-mic pair"
    assert {c for m in metas for c in (s["channels"] for s in m["stems"])} == {1, 2}
    levels = [s["level_lufs"] for m in metas for s in m["stems"]]
    assert max(levels) - min(levels) > 10  # levels are drawn, not equal
    folder = tmp_path / next(f"s{i}" for i, m in enumerate(metas) if m["multi_mic"])
    meta = json.loads((folder / "song.json").read_text())
    pair = meta["multi_mic"][0]
    a = sf.read(folder / f"stems/{pair['tracks'][0]}.wav")[0]
    b = sf.read(folder / f"stems/{pair['tracks'][1]}.wav")[0]
    lag, sign = _estimate_delay(a, b)
    assert lag / SR * 1000 == pytest.approx(pair["delay_ms"], abs=0.03) and sign == pair["polarity"]


def test_dataset_is_resumable(tmp_path, offline):
    calls: list[tuple[int, int]] = []
    out = tmp_path / "ds"
    paths = synthesize_dataset(
        out,
        songs=3,
        seconds=3.0,
        seed=1,
        sample_rate=SR,
        workers=1,
        progress=lambda d, t: calls.append((d, t)),
        renderer=StubRenderer(),
    )
    assert [p.name for p in paths] == ["song_000", "song_001", "song_002"]
    assert calls == [(0, 3), (1, 3), (2, 3), (3, 3)]
    index = json.loads((out / "dataset.json").read_text())
    assert index == {
        "version": 1,
        "seed": 1,
        "seconds": 3.0,
        "sample_rate": SR,
        "songs": ["song_000", "song_001", "song_002"],
    }
    for i, p in enumerate(paths):
        meta = json.loads((p / "song.json").read_text())
        assert meta["seed"] == song_seed(1, i) and meta["name"] == p.name
    rendered = StubRenderer.calls
    mtimes = {p: (p / "song.json").stat().st_mtime_ns for p in paths}
    # a killed run leaves a partial folder; a missing song is redone, complete ones skipped
    shutil.rmtree(paths[1])
    (out / ".song_001.partial-abc").mkdir()
    calls.clear()
    synthesize_dataset(
        out,
        songs=3,
        seconds=3.0,
        seed=1,
        sample_rate=SR,
        workers=1,
        progress=lambda d, t: calls.append((d, t)),
        renderer=StubRenderer(),
    )
    assert calls == [(2, 3), (3, 3)] and StubRenderer.calls == rendered + 1
    assert (paths[0] / "song.json").stat().st_mtime_ns == mtimes[paths[0]]
    assert not (out / ".song_001.partial-abc").exists() and (paths[1] / "song.json").exists()
    # the same folder with other settings is refused
    with pytest.raises(OutputError, match="another output folder"):
        synthesize_dataset(out, songs=3, seconds=3.0, seed=2, sample_rate=SR, workers=1, renderer=StubRenderer())
    with pytest.raises(InvalidParameterError):
        synthesize_dataset(out, songs=0, seconds=3.0, seed=1)


# --------------------------------------------------------------------------------------
# The real thing (fluidsynth, soundfonts, Debian kits and loops, music21)
# --------------------------------------------------------------------------------------


def _system_ready() -> bool:
    if shutil.which("fluidsynth") is None or not music21_available():
        return False
    try:
        for font in SOUNDFONTS:
            find_soundfont(font)
        usable_kits()
    except MissingDependencyError:
        return False
    return drums_mod.SONIC_PI_SAMPLES.is_dir()


needs_system = pytest.mark.skipif(
    not _system_ready(),
    reason="needs fluidsynth, fluid-soundfont-gm, musescore-general-soundfont-small, hydrogen-drumkits, "
    "sonic-pi-samples and music21",
)


@needs_system
def test_fluidsynth_segments_render_alike():
    tempo = quantise_tempo_bpm(97.0)
    notes = [(0.0, 0.5, 60, 100), (4.0, 0.5, 64, 100), (6.37, 0.5, 67, 100)]
    parts = [
        Part("a", "chords", "piano", 0, notes),
        Part("b", "bass", "bass", 33, notes[:1]),
        Part("c", "chords", "piano", 0, notes),
    ]
    out = FluidSynthRenderer().render(
        parts, tempo_bpm=tempo, song_beats=8.0, seconds=5.0, sample_rate=44100, soundfont=SOUNDFONTS[0]
    )
    assert [x.shape for x in out] == [(2, 220500)] * 3
    a, c = out[0], out[2]
    assert np.max(np.abs(a)) > 0.01
    # same part in segment 0 and 2: same timing, same sound (up to attack-state differences)
    assert np.max(np.abs(a - c)) < 0.01 * np.max(np.abs(a))
    onset = int(np.argmax(np.abs(a[0]) > 1e-3))
    assert onset < 0.01 * 44100  # the first note starts at beat 0


@needs_system
def test_score_song_has_real_instruments(tmp_path):
    meta = synthesize_song(tmp_path / "song_000", seed=4, seconds=6.0, kind="score")
    _check_song(tmp_path / "song_000", meta, 6.0, 44100)
    assert meta["source"].startswith("music21:") and meta["drumkit"] is None
    assert 60 * 0.98 <= meta["tempo_bpm"] <= 120 * 1.02
    programs = [s["program"] for s in meta["stems"]]
    assert all(p is not None and p != 0 for p in programs)  # not music21's default piano
    roles = [s["role"] for s in meta["stems"]]
    assert "lead" in roles and "bass" in roles


@needs_system
@pytest.mark.slow
def test_full_dataset_is_distinct_levelled_resumable_and_worker_independent(tmp_path):
    out = tmp_path / "ds"
    paths = synthesize_dataset(out, songs=3, seconds=8.0, seed=1)
    for folder in paths:
        meta = json.loads((folder / "song.json").read_text())
        _check_song(folder, meta, 8.0, 44100)
        pairs = {frozenset(p["tracks"]) for p in meta["multi_mic"]}
        mono = {}
        for stem in meta["stems"]:
            x, sr = sf.read(folder / stem["file"], always_2d=True)
            assert np.max(np.abs(x)) > 1e-3, stem["name"]  # non-silent
            lufs = integrated_loudness(x.T, sr)
            assert lufs is not None and LEVEL_RANGE_LUFS[0] - 0.1 <= lufs <= LEVEL_RANGE_LUFS[1] + 0.1
            assert lufs == pytest.approx(stem["level_lufs"], abs=0.05)
            mono[stem["name"]] = x.mean(axis=1)
        names = list(mono)
        for i, a in enumerate(names):
            for b in names[i + 1 :]:
                x, y = mono[a], mono[b]
                corr = float(np.sum(x * y) / np.sqrt(np.sum(x * x) * np.sum(y * y)))
                if frozenset((a, b)) not in pairs:
                    assert abs(corr) < 0.1, (folder.name, a, b, corr)
        for pair in meta["multi_mic"]:
            lag, sign = _estimate_delay(mono[pair["tracks"][0]], mono[pair["tracks"][1]])
            assert lag / 44100 * 1000 == pytest.approx(pair["delay_ms"], abs=0.05) and sign == pair["polarity"]
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*.wav")}
    seen = []
    synthesize_dataset(out, songs=3, seconds=8.0, seed=1, progress=lambda d, t: seen.append(d))
    assert seen == [3] and {p: p.stat().st_mtime_ns for p in out.rglob("*.wav")} == before
    other = synthesize_dataset(tmp_path / "serial", songs=3, seconds=8.0, seed=1, workers=1)
    for a, b in zip(paths, other):
        files_a = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
        assert files_a == sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
        for rel in files_a:
            assert (a / rel).read_bytes() == (b / rel).read_bytes(), rel
