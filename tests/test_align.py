"""Multi-microphone delay and polarity alignment (:mod:`mixassist.mixers.align`).

The references are physical: a copy made with an ideal band-limited delay (a frequency-domain
phase ramp written here, independent of the console's FIR) must be measured at that delay;
the console, given the proposed settings, must sum the two microphones with more energy (less
comb filtering) than as recorded, and their rendered stems must then be in phase.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from scipy.signal import butter, sosfiltfilt

from mixassist.audio.multitrack import Multitrack, Track, load_multitrack
from mixassist.console import Console, MixParams
from mixassist.errors import InvalidAudioError, InvalidParameterError
from mixassist.mixers.align import AlignmentReport, detect_alignment, detect_session
from mixassist.mixers.constraints import Constraints
from mixassist.mixers.rules import RulesMixer

TOLERANCE_MS = 0.05


# --------------------------------------------------------------------------------------
# Signals
# --------------------------------------------------------------------------------------


def delayed(x: np.ndarray, delay_ms: float, sample_rate: int) -> np.ndarray:
    """``x`` delayed by ``delay_ms`` (fractional): ideal band-limited delay, zero-padded FFT."""
    d = delay_ms * 1e-3 * sample_rate
    n = x.shape[-1]
    m = 1 << math.ceil(math.log2(n + math.ceil(d) + 4096))
    spectrum = np.fft.rfft(x, m) * np.exp(-2j * np.pi * np.fft.rfftfreq(m) * d)
    return np.fft.irfft(spectrum, m)[:n]


def zero_phase(x: np.ndarray, sample_rate: int, kind: str, corner_hz: float) -> np.ndarray:
    """A microphone's colour without moving its timing: zero-phase 2nd-order Butterworth."""
    return sosfiltfilt(butter(2, corner_hz, kind, fs=sample_rate, output="sos"), x)


def with_noise(x: np.ndarray, snr_db: float, rng: np.random.Generator) -> np.ndarray:
    return x + rng.standard_normal(x.shape) * np.sqrt(np.mean(x**2)) * 10 ** (-snr_db / 20)


def drum_source(sample_rate: int, seconds: float, rng: np.random.Generator) -> np.ndarray:
    """Alternating kick (pitch-swept decaying sine with a click) and snare (decaying noise and body)."""
    n = int(round(seconds * sample_rate))
    x = np.zeros(n)
    t = np.arange(int(0.4 * sample_rate)) / sample_rate
    for k in range(int(seconds / 0.25)):
        start = int((0.05 + 0.25 * k + rng.uniform(0.0, 0.01)) * sample_rate)
        if k % 2 == 0:
            hit = np.sin(2 * np.pi * (50 + 120 * np.exp(-25 * t)) * t) * np.exp(-7 * t)
            hit += 0.3 * rng.standard_normal(t.size) * np.exp(-60 * t)
        else:
            hit = rng.standard_normal(t.size) * np.exp(-18 * t) + 0.5 * np.sin(2 * np.pi * 190 * t) * np.exp(-12 * t)
        m = min(hit.size, n - start)
        x[start : start + m] += rng.uniform(0.6, 1.0) * hit[:m]
    return x


def tone(freq_hz: float, n: int, sample_rate: int, harmonics: np.ndarray, phases: np.ndarray) -> np.ndarray:
    t = np.arange(n) / sample_rate
    return sum(a * np.sin(2 * np.pi * (k + 1) * freq_hz * t + p) for k, (a, p) in enumerate(zip(harmonics, phases)))


def mic_pair(
    sample_rate: int, delay_ms: float, polarity: int, rng: np.random.Generator, seconds: float = 2.0
) -> dict[str, np.ndarray]:
    """A close and a far microphone: the far one later, darker, maybe inverted; both noisy (20 dB SNR)."""
    x = drum_source(sample_rate, seconds, rng)
    far = polarity * zero_phase(delayed(x, delay_ms, sample_rate), sample_rate, "low", 4000.0)
    return {"close": with_noise(x, 20, rng), "far": with_noise(0.7 * far, 20, rng)}


def multitrack(arrays: dict[str, np.ndarray], sample_rate: int) -> Multitrack:
    return Multitrack.from_arrays({k: np.asarray(v, np.float32) for k, v in arrays.items()}, sample_rate)


def as_measured(report: AlignmentReport, first: str, second: str) -> tuple[float, int]:
    """Delay of ``second`` after ``first`` (ms) and its polarity, from the report's pair."""
    pair = report.pair(first, second)
    assert pair is not None and pair.related, report.pairs
    sign = 1.0 if pair.first == first else -1.0
    return sign * pair.delay_ms, pair.polarity


# --------------------------------------------------------------------------------------
# Delay and polarity
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("sample_rate", [22050, 44100, 48000])
@pytest.mark.parametrize("delay_ms", [0.1, 0.137, 0.5, 2.4, 7.91, 10.0])
@pytest.mark.parametrize("polarity", [1, -1])
def test_delay_and_polarity_of_a_filtered_noisy_copy(sample_rate, delay_ms, polarity, rng):
    report = detect_alignment(multitrack(mic_pair(sample_rate, delay_ms, polarity, rng), sample_rate))
    measured, sign = as_measured(report, "close", "far")
    assert measured == pytest.approx(delay_ms, abs=TOLERANCE_MS)
    assert sign == polarity
    # the earlier (close) microphone is delayed to meet the later one, which stays as it is
    assert [g.anchor for g in report.groups] == ["far"]
    assert set(report.settings) == {"close"}
    assert report.settings["close"]["delay_ms"] == pytest.approx(delay_ms, abs=TOLERANCE_MS)
    assert report.settings["close"]["polarity"] == float(polarity)
    MixParams(["close", "far"], tracks=report.settings)  # valid console settings


def test_the_earlier_track_is_delayed_whichever_comes_first(rng):
    sample_rate = 44100
    pair = mic_pair(sample_rate, 3.3, 1, rng)
    report = detect_alignment(multitrack({"far": pair["far"], "close": pair["close"]}, sample_rate))
    assert as_measured(report, "close", "far") == (pytest.approx(3.3, abs=TOLERANCE_MS), 1)
    assert set(report.settings) == {"close"} and report.groups[0].anchor == "far"


def test_stereo_tracks_are_downmixed(rng):
    sample_rate = 48000
    pair = mic_pair(sample_rate, 1.85, -1, rng)
    room = np.stack([pair["far"], with_noise(0.8 * pair["far"], 20, rng)])  # a stereo far pair
    report = detect_alignment(multitrack({"close": pair["close"], "room": room}, sample_rate))
    assert as_measured(report, "close", "room") == (pytest.approx(1.85, abs=TOLERANCE_MS), -1)
    assert report.settings == {"close": {"delay_ms": pytest.approx(1.85, abs=TOLERANCE_MS), "polarity": -1.0}}


# --------------------------------------------------------------------------------------
# Through the console: the direction of the delay
# --------------------------------------------------------------------------------------


def _mix_energy(mt: Multitrack, settings: dict) -> tuple[float, np.ndarray]:
    result = Console(mt.sample_rate).render(mt, MixParams(mt.names, tracks=settings), want_stems=True)
    return float(np.sum(result.mix.astype(np.float64) ** 2)), result.stems


@pytest.mark.parametrize("delay_ms, polarity", [(1.3, 1), (0.61, -1), (6.7, -1)])
def test_rendered_alignment_removes_the_comb_filter(delay_ms, polarity, rng):
    sample_rate = 44100
    mt = multitrack(mic_pair(sample_rate, delay_ms, polarity, rng), sample_rate)
    report = detect_alignment(mt)
    settings = report.settings
    aligned, stems = _mix_energy(mt, settings)
    as_recorded, _ = _mix_energy(mt, {})
    ideal, _ = _mix_energy(mt, {"close": {"delay_ms": delay_ms, "polarity": float(polarity)}})
    # the opposite choice: delay the later track instead (what a sign error would do)
    backwards, _ = _mix_energy(mt, {"far": {"delay_ms": delay_ms, "polarity": float(polarity)}})
    # as good as the true settings, up to the ±1 % that the independent noise of the two
    # microphones makes the sum's energy wander from one 10 µs step of delay to the next
    assert aligned == pytest.approx(ideal, rel=1e-2)
    assert aligned > 1.05 * as_recorded
    assert aligned > 1.05 * backwards
    # after alignment the two rendered microphones are in phase, sample for sample
    a, b = stems[0, 0].astype(np.float64), stems[1, 0].astype(np.float64)
    assert np.dot(a, b) / math.sqrt(np.dot(a, a) * np.dot(b, b)) > 0.8


def test_three_microphones_make_one_group_with_one_anchor(rng):
    sample_rate = 44100
    x = drum_source(sample_rate, 2.0, rng)
    arrays = {
        "kick_in": with_noise(x, 25, rng),
        "kick_out": with_noise(-zero_phase(delayed(x, 1.7, sample_rate), sample_rate, "low", 3000.0), 25, rng),
        "kick_sub": with_noise(0.5 * zero_phase(delayed(x, 3.1, sample_rate), sample_rate, "low", 800.0), 25, rng),
        "other": with_noise(drum_source(sample_rate, 2.0, rng), 25, rng),  # same style, another take
    }
    mt = multitrack(arrays, sample_rate)
    report = detect_alignment(mt)
    assert len(report.groups) == 1
    group = report.groups[0]
    assert group.tracks == ("kick_in", "kick_out", "kick_sub") and list(group) == list(group.tracks)
    assert group.anchor == "kick_sub" and "other" not in group
    settings = report.settings
    assert set(settings) == {"kick_in", "kick_out"}
    assert all(v["delay_ms"] >= 0 for v in settings.values())
    assert settings["kick_in"]["delay_ms"] == pytest.approx(3.1, abs=TOLERANCE_MS)
    assert settings["kick_out"]["delay_ms"] == pytest.approx(3.1 - 1.7, abs=TOLERANCE_MS)
    assert (settings["kick_in"]["polarity"], settings["kick_out"]["polarity"]) == (1.0, -1.0)
    assert group.arrival_ms["kick_in"] == 0.0
    assert group.arrival_ms["kick_sub"] == pytest.approx(3.1, abs=TOLERANCE_MS)
    aligned, _ = _mix_energy(mt, settings)
    as_recorded, _ = _mix_energy(mt, {})
    assert aligned > 1.2 * as_recorded


# --------------------------------------------------------------------------------------
# Unrelated tracks: never aligned, however musically related
# --------------------------------------------------------------------------------------

_ROOTS_HZ = (55.0, 73.42, 61.74, 49.0)  # A1 D2 B1 G1, one per bar
_CHORDS = ((0, 4, 7), (5, 9, 12), (2, 5, 9), (-2, 2, 5))  # semitones above A3: A, D, Bm, G


def kick_and_bass(sample_rate: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Kick on every beat, bass notes starting on the same samples (phase 0), 120 bpm."""
    n = 4 * sample_rate
    kick, bass = np.zeros(n), np.zeros(n)
    t = np.arange(int(0.45 * sample_rate)) / sample_rate
    harmonics = 1.0 / np.arange(1, 7) ** 2
    for beat in range(8):
        start = beat * sample_rate // 2
        hit = np.sin(2 * np.pi * (45 + 110 * np.exp(-30 * t)) * t) * np.exp(-8 * t)
        kick[start : start + t.size] += hit[: n - start]
        note = tone(_ROOTS_HZ[beat // 2], t.size, sample_rate, harmonics, np.zeros(6)) * np.exp(-3 * t)
        bass[start : start + t.size] += note[: n - start]
    return {"kick": with_noise(kick, 50, rng), "bass": with_noise(bass, 50, rng)}


def same_chords(sample_rate: int, rng: np.random.Generator, *, humanised: bool) -> dict[str, np.ndarray]:
    """Two instruments (bright and decaying, dark and sustained) playing the same chords, 120 bpm.

    ``humanised``: independent phases, ±3 ms timing and ±3 cents tuning per note, as two players
    would; otherwise both start every note on the same sample at phase 0 (a worst case).
    """
    n = 4 * sample_rate
    parts = {"piano": np.zeros(n), "strings": np.zeros(n)}
    timbre = {"piano": 1.0 / np.arange(1, 9), "strings": 1.0 / np.arange(1, 9) ** 2}
    t = np.arange(sample_rate) / sample_rate
    envelope = {"piano": np.exp(-4 * t), "strings": np.minimum(t / 0.08, 1.0) * np.exp(-0.7 * t)}
    for half_bar in range(8):
        for name in parts:
            shift = int(rng.uniform(-0.003, 0.003) * sample_rate) if humanised else 0
            start = max(0, half_bar * sample_rate // 2 + shift)
            for semitones in _CHORDS[half_bar // 2]:
                cents = rng.uniform(-3, 3) if humanised else 0.0
                freq = 220.0 * 2 ** ((semitones + cents / 100) / 12)
                phases = rng.uniform(0, 2 * np.pi, 8) if humanised else np.zeros(8)
                note = tone(freq, t.size, sample_rate, timbre[name], phases) * envelope[name]
                parts[name][start : start + t.size] += note[: n - start]
    return {k: with_noise(v, 50, rng) for k, v in parts.items()}


def noise_twins(sample_rate: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Shaker and hi-hat: independent noise with the same sixteenth-note envelope."""
    n = 4 * sample_rate
    t = np.arange(n) / sample_rate
    envelope = np.exp(-40 * ((t % 0.125) + 0.002))
    return {"shaker": rng.standard_normal(n) * envelope, "hats": rng.standard_normal(n) * envelope}


@pytest.mark.parametrize("sample_rate", [44100, 48000])
@pytest.mark.parametrize("scenario", ["kick_and_bass", "same_chords", "same_chords_quantised", "noise_twins"])
def test_musically_related_tracks_are_never_aligned(scenario, sample_rate, rng):
    arrays = {
        "kick_and_bass": lambda: kick_and_bass(sample_rate, rng),
        "same_chords": lambda: same_chords(sample_rate, rng, humanised=True),
        "same_chords_quantised": lambda: same_chords(sample_rate, rng, humanised=False),
        "noise_twins": lambda: noise_twins(sample_rate, rng),
    }[scenario]()
    report = detect_alignment(multitrack(arrays, sample_rate))
    assert report.groups == [] and report.settings == {} and report.tracks == {}
    assert not any(p.related for p in report.pairs)
    assert report.pairs_checked == 1


def test_a_copy_beyond_max_delay_is_reported_unrelated(rng):
    sample_rate = 44100
    mt = multitrack(mic_pair(sample_rate, 30.0, 1, rng), sample_rate)
    report = detect_alignment(mt, max_delay_ms=20.0)
    assert report.groups == [] and report.settings == {}
    pair = report.pair("close", "far")
    assert pair is not None and not pair.related and "beyond max_delay_ms" in pair.reason
    assert pair.delay_ms == pytest.approx(30.0, abs=TOLERANCE_MS)
    wider = detect_alignment(mt, max_delay_ms=40.0)
    assert wider.settings["close"]["delay_ms"] == pytest.approx(30.0, abs=TOLERANCE_MS)


# --------------------------------------------------------------------------------------
# Locks, silence, edge cases, the report
# --------------------------------------------------------------------------------------


def test_a_locked_non_anchor_track_is_left_alone(rng):
    sample_rate = 44100
    mt = multitrack(mic_pair(sample_rate, 2.2, -1, rng), sample_rate)
    report = detect_alignment(mt, locked=["close"])
    assert report.settings == {}
    entry = report.tracks["close"]
    assert not entry.applied and "locked" in entry.reason
    assert entry.delay_ms == pytest.approx(2.2, abs=TOLERANCE_MS) and entry.polarity == -1
    assert "locked" in report.reasons["close"]


def test_a_locked_anchor_does_not_stop_alignment(rng):
    sample_rate = 44100
    mt = multitrack(mic_pair(sample_rate, 2.2, -1, rng), sample_rate)
    free = detect_alignment(mt)
    locked = detect_alignment(mt, locked=["far"])
    assert locked.settings == free.settings and set(locked.settings) == {"close"}
    assert "far" not in locked.settings


def test_silent_tracks_are_skipped(rng):
    sample_rate = 44100
    arrays = mic_pair(sample_rate, 1.1, 1, rng)
    arrays["muted"] = np.zeros_like(arrays["close"])
    arrays["dither"] = rng.uniform(-1, 1, arrays["close"].size) * 2.0**-24  # 24-bit dither only
    report = detect_alignment(multitrack(arrays, sample_rate))
    assert set(report.skipped) == {"muted", "dither"} and "silent" in report.skipped["muted"]
    assert set(report.settings) == {"close"}
    assert report.pairs_checked == 1


def test_single_track_and_all_silent_give_empty_reports(rng):
    one = detect_alignment(multitrack({"vox": drum_source(44100, 1.0, rng)}, 44100))
    assert one.groups == [] and one.settings == {} and one.pairs == [] and one.pairs_checked == 0
    quiet = detect_alignment(multitrack({"a": np.zeros(4410), "b": np.zeros(4410)}, 44100))
    assert quiet.settings == {} and set(quiet.skipped) == {"a", "b"}


def test_short_tracks_work(rng):
    sample_rate = 44100
    arrays = {k: v[: int(0.3 * sample_rate)] for k, v in mic_pair(sample_rate, 0.9, -1, rng).items()}
    report = detect_alignment(multitrack(arrays, sample_rate))
    assert report.settings["close"]["delay_ms"] == pytest.approx(0.9, abs=TOLERANCE_MS)


def test_report_is_strict_json_and_readable(rng):
    sample_rate = 44100
    arrays = mic_pair(sample_rate, 2.4, -1, rng)
    arrays["muted"] = np.zeros_like(arrays["close"])
    arrays.update(same_chords(sample_rate, rng, humanised=False))
    arrays = {k: v[: 2 * sample_rate] for k, v in arrays.items()}
    report = detect_alignment(multitrack(arrays, sample_rate), locked=["piano"])
    data = report.to_dict()
    assert json.loads(json.dumps(data, allow_nan=False)) == data
    assert data["settings"] == {"close": {"delay_ms": pytest.approx(2.4, abs=TOLERANCE_MS), "polarity": -1.0}}
    assert data["groups"][0]["reference"] == "far" and data["skipped"] == {"muted": "silent: nothing to align"}
    reason = report.tracks["close"].reason
    assert "delay close by 2.4" in reason and "invert its polarity" in reason and "far arrives 2.4" in reason
    assert "far arrives 2.4" in report.pair("close", "far").reason
    assert "alignment reference" in report.reasons["far"]
    assert "close" in repr(report) and "far" in repr(report)


def test_invalid_arguments_are_refused(rng):
    mt = multitrack(mic_pair(44100, 1.0, 1, rng, seconds=0.5), 44100)
    with pytest.raises(InvalidParameterError, match="max_delay_ms"):
        detect_alignment(mt, max_delay_ms=500.0)
    with pytest.raises(InvalidParameterError, match="min_correlation"):
        detect_alignment(mt, min_correlation=1.5)
    with pytest.raises(InvalidParameterError, match="min_peak_ratio"):
        detect_alignment(mt, min_peak_ratio=1.0)
    with pytest.raises(InvalidParameterError, match="nope"):
        detect_alignment(mt, locked=["nope"])
    broken = np.ones((1, 1000), np.float32)
    broken[0, 10] = np.nan
    with pytest.raises(InvalidAudioError, match="bad"):
        detect_alignment(Multitrack([Track("bad", broken), Track("ok", np.ones((1, 1000), np.float32))], 44100))


# --------------------------------------------------------------------------------------
# Synthesised songs: every declared multi-mic pair, and nothing else
# --------------------------------------------------------------------------------------


class SineRenderer:
    """Each note as a decaying sine at its pitch (no fluidsynth), as in the synth tests."""

    def render(self, parts, *, tempo_bpm, song_beats, seconds, sample_rate, soundfont):
        n = int(round(seconds * sample_rate))
        out = []
        for k, part in enumerate(parts):
            x = np.zeros(n)
            for start, dur, pitch, vel in part.notes:
                a = int(start * 60.0 / tempo_bpm * sample_rate)
                m = min(n - a, int((dur * 60.0 / tempo_bpm + 0.05) * sample_rate))
                if a >= n or m <= 0:
                    continue
                t = np.arange(m) / sample_rate
                f = 440.0 * 2 ** ((pitch - 69) / 12) * (1 + 0.001 * k)
                x[a : a + m] += vel / 127 * np.sin(2 * np.pi * f * t) * np.exp(-3 * t)
            out.append(np.stack([x, np.roll(x, 3) * 0.9]).astype(np.float32) * 0.1)
        return out


@pytest.fixture
def offline_kit(tmp_path_factory, monkeypatch):
    """A drum kit of synthetic one-shots standing in for the system's kits and Sonic Pi samples."""
    from mixassist.data.synth import drums as drums_mod
    from mixassist.data.synth import song as song_mod
    from mixassist.data.synth.drums import Kit, Layer

    folder = tmp_path_factory.mktemp("kit")
    rate = 44100
    t = np.arange(int(0.5 * rate)) / rate
    sounds = {
        "kick": np.sin(2 * np.pi * (50 + 100 * np.exp(-30 * t)) * t) * np.exp(-8 * t),
        "tom": np.sin(2 * np.pi * 140 * t) * np.exp(-10 * t),
    }
    noise = np.random.default_rng(7)
    for kind, decay in (("snare", 15), ("hat", 40), ("cymbal", 3)):
        sounds[kind] = noise.standard_normal(t.size) * np.exp(-decay * t)
    slots_kinds = {
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
    slots = {}
    for slot, kind in slots_kinds.items():
        path = folder / f"{slot}.wav"
        sf.write(path, (0.8 * sounds[kind] / np.max(np.abs(sounds[kind]))).astype(np.float32), rate, subtype="PCM_24")
        slots[slot] = (Layer(path),)
    kit = Kit("fakekit", "CC0-1.0", True, "test kit", "Drum samples: synthetic test kit, CC0.", slots, {})
    monkeypatch.setattr(song_mod, "usable_kits", lambda: {"fakekit": kit})
    monkeypatch.setattr(song_mod, "sonic_pi_kit", lambda rng: kit)
    monkeypatch.setattr(song_mod, "_require_sonic_pi", lambda: None)
    monkeypatch.setattr(drums_mod, "SONIC_PI_SAMPLES", Path("/nonexistent"))
    return kit


# Songs with multi-mic pairs of every kind (kick, snare, bass DI/amp with saturation, close/far;
# 130 has a flat-topped GCC peak), and one without (104: its sine-rendered pad and piano play the
# same notes from the same samples at phase 0, so their correlation reaches 0.49 at a lag where
# their phases disagree: only the main-lobe check tells them apart from a delayed copy).
@pytest.mark.parametrize(
    "seed, sample_rate, expect_pairs",
    [
        (0, 44100, True),
        (1, 44100, True),
        (3, 44100, True),
        (19, 44100, True),
        (21, 44100, True),
        (118, 48000, True),
        (130, 48000, True),
        (104, 48000, False),
    ],
)
def test_synthesised_songs_pairs_are_found_and_nothing_else(seed, sample_rate, expect_pairs, tmp_path, offline_kit):
    from mixassist.data.synth import KINDS, synthesize_song

    meta = synthesize_song(
        tmp_path / "song",
        seed=seed,
        seconds=3.0,
        sample_rate=sample_rate,
        renderer=SineRenderer(),
        kind=KINDS[1 + seed % 4],
    )
    assert bool(meta["multi_mic"]) == expect_pairs, "the synthesiser no longer draws the song this test expects"
    report = detect_alignment(load_multitrack(tmp_path / "song" / "stems"))
    declared = {frozenset(p["tracks"]) for p in meta["multi_mic"]}
    for truth in meta["multi_mic"]:
        first, second = truth["tracks"]
        delay_ms, polarity = as_measured(report, first, second)
        assert delay_ms == pytest.approx(truth["delay_ms"], abs=TOLERANCE_MS), truth
        assert polarity == truth["polarity"], truth
        assert set(report.settings) >= {first}  # the first microphone arrives earlier
    for pair in report.pairs:
        assert pair.related == (frozenset((pair.first, pair.second)) in declared), pair
    assert {frozenset(g.tracks) for g in report.groups} == declared


def test_names_hint_a_pair_that_the_audio_then_confirms(rng):
    pair = mic_pair(22050, 2.4, -1, rng)
    mt = multitrack({"Kick In": pair["close"], "Kick Out": pair["far"]}, 22050)
    report = detect_alignment(mt, hints=[("Kick In", "Kick Out")])
    found = report.pair("Kick In", "Kick Out")
    assert found is not None and found.related and "confirmed by the audio" in found.reason
    assert len(report.groups) == 1


def test_names_never_force_a_group_the_audio_does_not_confirm(rng):
    mt = multitrack(
        {"Snare Top": rng.standard_normal(2 * 22050), "Snare Bottom": rng.standard_normal(2 * 22050)}, 22050
    )
    report = detect_alignment(mt, hints=[("Snare Top", "Snare Bottom")])
    found = report.pair("Snare Top", "Snare Bottom")
    assert found is not None and not found.related and "not confirmed" in found.reason
    assert report.groups == [] and report.settings == {}


@pytest.mark.parametrize("with_silent", [False, True])
def test_the_rules_mixer_detects_beside_its_analysis_as_it_would_after_it(with_silent, rng):
    # RulesMixer.solve runs the detection on a thread beside the track analysis: the same report
    # as detecting on the analysed (non-silent) tracks afterwards, also when one is silent
    sample_rate = 22050
    arrays = mic_pair(sample_rate, 1.1, -1, rng)
    arrays["bass"] = tone(55.0, arrays["close"].size, sample_rate, np.array([1.0, 0.5]), np.zeros(2))
    if with_silent:
        arrays["muted"] = np.zeros_like(arrays["close"])
    mt = multitrack(arrays, sample_rate)
    proposal = RulesMixer(separation=False).propose(mt)
    live = [n for n in mt.names if n != "muted"]
    expected = detect_session(mt, live, Constraints.parse(mt.names))
    assert expected is not None and expected.settings
    assert proposal.alignment == expected.to_dict()
