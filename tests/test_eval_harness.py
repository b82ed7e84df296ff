"""Ground-truth references and the evaluation harness on a tiny dataset made here (no fluidsynth)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from cli_runner import run_cli

from mixassist.audio.io import load_audio, save_audio
from mixassist.console.console import Console
from mixassist.console.params import MixParams
from mixassist.data.priors import PRIORS, draw_prior, prior_params
from mixassist.data.references import load_song, make_references
from mixassist.errors import InvalidParameterError
from mixassist.measure import integrated_loudness, true_peak

SR = 22050
SECONDS = 3.0


def _song(folder: Path, seed: int) -> None:
    """Four stems with roles, one declared multi-mic pair (a delayed, polarity-flipped copy)."""
    rng = np.random.default_rng(seed)
    n = int(SR * SECONDS)
    t = np.arange(n) / SR
    beat = 60.0 / rng.uniform(90, 140)
    env = np.exp(-((t % beat) / beat) * 8)
    f0 = rng.uniform(90, 130)
    stems = {
        "kick_in": (np.sin(2 * np.pi * 55 * t) * env**3 * 0.8)[None],
        "bass": (0.3 * np.sign(np.sin(2 * np.pi * f0 * t)) * (0.6 + 0.4 * env))[None],
        "keys": 0.2 * np.stack([np.sin(2 * np.pi * f0 * 3 * t + p) for p in (0.0, 0.4)]) * (0.5 + 0.5 * np.roll(env, 100)),
        "lead": (0.25 * np.sin(2 * np.pi * f0 * 6 * t * (1 + 0.01 * np.sin(2 * np.pi * 5 * t))))[None],
    }
    delay = 12  # samples
    stems["kick_out"] = -0.7 * np.roll(stems["kick_in"], delay, axis=1) + 0.001 * rng.standard_normal((1, n))
    roles = {"kick_in": "drums", "kick_out": "drums", "bass": "bass", "keys": "chords", "lead": "lead"}
    (folder / "stems").mkdir(parents=True)
    meta_stems = []
    for name, audio in stems.items():
        audio = (audio * 10 ** (rng.uniform(-12, 0) / 20)).astype(np.float32)
        save_audio(folder / "stems" / f"{name}.wav", audio, SR, 24)
        meta_stems.append({"name": name, "file": f"stems/{name}.wav", "role": roles[name], "channels": audio.shape[0]})
    meta = {"version": 1, "name": folder.name, "sample_rate": SR, "seconds": SECONDS, "stems": meta_stems,
            "multi_mic": [{"tracks": ["kick_in", "kick_out"], "delay_ms": 1000.0 * delay / SR, "polarity": -1}]}
    (folder / "song.json").write_text(json.dumps(meta))


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("dataset")
    names = [f"song_{i:03d}" for i in range(3)]
    for i, name in enumerate(names):
        _song(root / name, seed=i)
    (root / "dataset.json").write_text(json.dumps({"version": 1, "seed": 0, "songs": names, "sample_rate": SR}))
    make_references(root, seed=5)
    return root


def test_every_song_has_reference_target_and_truth(dataset):
    for song in json.loads((dataset / "dataset.json").read_text())["songs"]:
        truth = json.loads((dataset / song / "truth.json").read_text())
        assert truth["reference_song"] != song  # a reference is always another song
        target, _ = load_audio(dataset / song / "target_mix.wav")
        reference, _ = load_audio(dataset / song / "reference.wav")
        assert target.shape[0] == 2 and reference.shape[0] == 2
        # The reference driven to the style's loudness and the target to the reference's (the
        # delivery search's 0.05 LU each, plus 24-bit quantisation), true-peak safe.
        assert integrated_loudness(reference, SR) == pytest.approx(truth["target_loudness_lufs"], abs=0.06)
        assert integrated_loudness(target, SR) == pytest.approx(integrated_loudness(reference, SR), abs=0.08)
        assert true_peak(target, SR) <= -0.99
        # The multi-mic pair is aligned in the truth.
        assert truth["params"]["tracks"]["kick_in"]["delay_ms"] == pytest.approx(1000 * 12 / SR)
        assert truth["params"]["tracks"]["kick_out"]["polarity"] == -1.0


def test_truth_rerenders_the_target_mix(dataset):
    """Consistency: the stored settings through the console reproduce target_mix.wav."""
    song = dataset / "song_001"
    stems, _ = load_song(song)
    params = MixParams.from_dict(json.loads((song / "truth.json").read_text())["params"])
    mix = Console(stems.sample_rate).render(stems, params).mix
    target, _ = load_audio(song / "target_mix.wav")
    assert np.max(np.abs(mix - target)) < 4 * 2.0**-23  # 24-bit quantisation + dither


def test_references_are_resumable_and_deterministic(dataset):
    before = (dataset / "song_000" / "truth.json").read_bytes()
    make_references(dataset, seed=5)  # nothing to do: every song complete
    assert (dataset / "song_000" / "truth.json").read_bytes() == before


def test_style_draws_are_deterministic_and_in_range():
    a, b = draw_prior(None, 3), draw_prior(None, 3)
    assert a == b
    for name, style in PRIORS.items():
        d = draw_prior(name, 1)
        assert style.loudness_lufs[0] <= d.loudness_lufs <= style.loudness_lufs[1]
    with pytest.raises(InvalidParameterError, match="unknown style"):
        draw_prior("polka", 0)


def test_style_params_never_high_pass_bass_or_kick(dataset):
    stems, meta = load_song(dataset / "song_000")
    params = prior_params(draw_prior("dense_rock", 0), stems, {s["name"]: s["role"] for s in meta["stems"]}, seed=0)
    assert params.get("bass", "hpf_hz") is None and params.get("kick_in", "hpf_hz") is None
    assert params.get("lead", "hpf_hz") is not None and params.get("lead", "pan") == 0.0


def test_central_style_params_sit_in_the_middle_of_every_draw(dataset):
    """``central=True`` (the benchmark-floor oracle): every per-song choice at its range's middle,
    the same for any seed; the drawn settings scatter around it."""
    stems, meta = load_song(dataset / "song_000")
    roles, draw = {s["name"]: s["role"] for s in meta["stems"]}, draw_prior("dense_rock", 0)
    a = prior_params(draw, stems, roles, seed=1, central=True)
    b = prior_params(draw, stems, roles, seed=2, central=True)
    assert a.tracks == b.tracks and a.reverb_seed != b.reverb_seed
    assert a.get("lead", "hpf_hz") == pytest.approx(110.0)
    assert a.get("lead", "eq_peak2_db") == 0.0
    drawn = [prior_params(draw, stems, roles, seed=k) for k in range(40)]
    for name in stems.names:
        send = a.get(name, "reverb_send_db")
        if send is not None:
            assert send == pytest.approx(float(np.clip(draw.reverb_send_db, -60.0, 6.0)))
            assert min(d.get(name, "reverb_send_db") for d in drawn) < send < max(d.get(name, "reverb_send_db") for d in drawn)


def test_eval_baselines_write_tables_and_plots(dataset, tmp_path):
    from mixassist.evaluate.harness import evaluate_dataset

    methods = ["sum", "equal_loudness", "equal_loudness_matched"]
    results = evaluate_dataset(dataset, methods, tmp_path / "report")
    assert set(results["songs"]) == {"song_000", "song_001", "song_002"}
    text = json.dumps(json.loads((tmp_path / "report" / "results.json").read_text()), allow_nan=False)
    assert "equal_loudness_matched" in text
    md = (tmp_path / "report" / "results.md").read_text()
    assert "| equal_loudness_matched |" in md and "target_mix itself (ideal)" in md
    assert any((tmp_path / "report" / "plots").glob("spectra_song_000.png"))
    mean = results["mean"]
    # Matching the reference's loudness must beat the raw sum on loudness error.
    assert mean["equal_loudness_matched"]["vs_target"]["loudness_error_lu"] < mean["sum"]["vs_target"]["loudness_error_lu"]
    assert mean["equal_loudness_matched"]["vs_target"]["loudness_error_lu"] < 1.0
    for m in methods:
        assert mean[m]["wall_s"] > 0
        assert results["songs"]["song_000"][m]["params_error"]
        # Signed errors are averaged as magnitudes, the per-band widths included.
        for key in ("loudness_error_lu", "width_error_low_db", "width_error_mid_db", "width_error_high_db"):
            per_song = [results["songs"][s][m]["vs_target"][key] for s in results["songs"]]
            assert mean[m]["vs_target"][key] == pytest.approx(np.mean(np.abs(per_song)))
    # Masking: absolute, measured on the rendered stems of every method with settings.
    assert "## Masking in the mix (absolute, lower is better)" in md and "Moore, Glasberg & Baer 1997" in md
    assert "| *target_mix (truth settings)* |" in md
    for m in methods:
        assert 0.0 <= mean[m]["masking_fraction"] <= 1.0
        masking = results["songs"]["song_000"][m]["masking"]
        assert set(masking["per_track"]) == {"kick_in+kick_out", "bass", "keys", "lead"}  # one source, two mics
        assert masking["masking_fraction"] == pytest.approx(
            np.mean([v for v in masking["per_track"].values() if v is not None]))
    # sum and equal_loudness differ only in gains: the mixes mask differently.
    assert mean["sum"]["masking_fraction"] != pytest.approx(mean["equal_loudness"]["masking_fraction"], abs=1e-3)


def test_eval_method_without_params_has_no_masking(dataset, tmp_path, monkeypatch):
    from mixassist.evaluate.harness import METHODS, MethodOutput, evaluate_dataset

    def mix_only(stems, ctx):  # like the matchering plugin: a mix, no console settings
        return MethodOutput(Console(stems.sample_rate).render(stems, MixParams(stems.names)).mix)

    monkeypatch.setitem(METHODS, "mix_only", mix_only)
    results = evaluate_dataset(dataset, ["mix_only", "sum"], tmp_path / "r", plots=False)
    assert results["songs"]["song_000"]["mix_only"]["masking"] is None
    assert results["mean"]["mix_only"]["masking_fraction"] is None
    assert results["mean"]["sum"]["masking_fraction"] is not None
    assert "| mix_only | — |" in (tmp_path / "r" / "results.md").read_text()
    json.loads((tmp_path / "r" / "results.json").read_text())


def test_eval_cli_and_unknown_method(dataset, tmp_path):
    proc = run_cli("eval", str(dataset), "--methods", "sum,equal_loudness", "-o", str(tmp_path / "r"))
    assert proc.returncode == 0, proc.stderr
    assert "equal_loudness" in proc.stdout and (tmp_path / "r" / "results.md").exists()
    assert "masked frac" in proc.stdout
    bad = run_cli("eval", str(dataset), "--methods", "magic", "-o", str(tmp_path / "r2"))
    assert bad.returncode == 2 and "unknown method(s) magic" in bad.stderr and "Traceback" not in bad.stderr


def test_a_plugin_that_fails_to_import_is_one_line_exit_2(dataset, tmp_path):
    plugin = tmp_path / "broken_plugin.py"
    plugin.write_text("from mixassist.mixers.match import NO_SUCH_NAME\n")
    proc = run_cli("eval", str(dataset), "--methods", "sum", "--plugin", str(plugin), "-o", str(tmp_path / "r"))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "broken_plugin.py failed to load: ImportError" in proc.stderr and "NO_SUCH_NAME" in proc.stderr


def test_style_twin_floor_script(dataset):
    """scripts/style_twin_floor.py: the twin drawn with the truth's own seed *is* target_mix
    (so the oracle rebuilds the generator exactly), and other seeds sit a finite distance away."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("style_twin_floor", Path(__file__).parents[1] / "scripts" / "style_twin_floor.py")
    floor = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(floor)
    song = dataset / "song_001"
    truth_seed = json.loads((song / "truth.json").read_text())["style"]["seed"] + 2
    same, other = floor.twins_of(song, [truth_seed, floor.FIRST_SEED])
    assert same["mrstft"] < 0.02 and same["spectral_mid_db"] < 0.05  # 24-bit file vs float render
    assert other["mrstft"] > 0.1
    assert all(v is None or np.isfinite(v) for v in other.values())


def test_masking_search_model_matches_the_harness_and_its_moves_act(dataset):
    """scripts/masking_search_eq_pan.py: its band-power model at the start reads what the harness
    measures for the equal-loudness sum, a 0 dB EQ is flat, a centred pan changes nothing, and a
    hard pan moves a mono source's power to one ear."""
    import importlib.util

    from mixassist.data.references import load_song
    from mixassist.evaluate.harness import equal_loudness_params, mix_masking

    spec = importlib.util.spec_from_file_location("masking_search", Path(__file__).parents[1] / "scripts" / "masking_search_eq_pan.py")
    search = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(search)
    np.testing.assert_allclose(search.eq_response_db(np.zeros((2, 6)), SR), 0.0, atol=1e-9)
    np.testing.assert_allclose(search.pan_power(np.zeros(2), np.array([False, True])), 1.0)
    hard = search.pan_power(np.array([1.0]), np.array([False]))[0]
    assert hard[0] == pytest.approx(0.0, abs=1e-12) and hard[1] == pytest.approx(2.0)

    stems, meta = load_song(dataset / "song_000")
    params = equal_loudness_params(stems)
    rendered = Console(SR).render(stems, params, want_stems=True).stems
    model = search.Model(rendered, np.array([stems[n].audio.shape[0] == 2 for n in stems.names]), SR, 6.0, True)
    start = model.measure(np.zeros(model.n * model.per))
    audible = start.solo_sone >= search.SILENT_SONE
    harness = mix_masking(stems, params, [])["masking_fraction"]
    assert float(start.masked_fraction[audible].mean()) == pytest.approx(harness, abs=0.02)
