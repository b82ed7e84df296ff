"""Printed stems: each track after its strip, and the reverb return, summed back to the mix."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from mixassist.api import MixResult, check_mix_outputs, export, render_recipe
from mixassist.audio.multitrack import Multitrack
from mixassist.cli import main
from mixassist.console.console import Bus, Console, ConsoleSettings
from mixassist.console.params import MixParams
from mixassist.errors import OutputError
from mixassist.mixers.decisions import Proposal, Reasons
from mixassist.outputs import RETURN_NAME, printed_names
from mixassist.recipe import Recipe
from mixassist.stems import TAIL_S

SR = 22050


def _stems(rng: np.random.Generator, seconds: float = 3.0) -> dict[str, np.ndarray]:
    n = int(seconds * SR)
    t = np.arange(n) / SR
    env = np.exp(-((t % 0.5) * 8.0))
    return {
        "kick": (0.8 * env * np.sin(2 * np.pi * 55 * t))[None].astype(np.float32),
        "keys": np.stack([0.3 * np.sin(2 * np.pi * 440 * t), 0.3 * np.sin(2 * np.pi * 660 * t)]).astype(np.float32),
        "noise": (0.2 * rng.standard_normal((1, n))).astype(np.float32),
    }


def _params(names: list[str]) -> MixParams:
    """Every stage on: delay, polarity, HPF, EQ, compressor, pan/width, sends, master chain, limiter."""
    return MixParams(
        names,
        tracks={
            "kick": {"gain_db": 2.0, "comp_ratio": 4.0, "comp_threshold_db": -18.0, "comp_makeup_db": 3.0,
                     "eq_low_shelf_db": 3.0, "reverb_send_db": -20.0},
            "keys": {"gain_db": -4.0, "pan": 0.3, "width": 0.7, "hpf_hz": 120.0, "eq_peak3_db": -4.0,
                     "delay_ms": 1.37, "reverb_send_db": -8.0},
            "noise": {"gain_db": -10.0, "pan": -0.6, "polarity": -1.0, "eq_high_shelf_db": -6.0},
        },
        reverb={"rt60_mid_s": 1.2, "return_db": -3.0},
        master={"eq_peak2_db": 2.0, "comp_ratio": 2.0, "comp_threshold_db": -12.0, "output_gain_db": 6.0,
                "limiter_ceiling_dbtp": -1.0},
    )


def _recipe(tmp_path: Path, rng: np.random.Generator) -> tuple[Path, MixParams]:
    stems = tmp_path / "song" / "stems"
    stems.mkdir(parents=True)
    files = {}
    for name, audio in _stems(rng).items():
        files[name] = Path(f"stems/{name}.wav")
        sf.write(stems / f"{name}.wav", audio.T, SR, subtype="FLOAT")
    params = _params(list(files))
    recipe = Recipe(sample_rate=SR, files=files, params=params, base_dir=tmp_path / "song")
    path = tmp_path / "song" / "out" / "recipe.json"
    path.parent.mkdir()
    recipe.save(path)
    return path, params


def _master_on_sum(printed: np.ndarray, params: MixParams, console: Console, samples: int) -> np.ndarray:
    """The recipe's master chain on the sum of the printed stems, as the console feeds it: the
    stems run the master's look-ahead past the song's ``samples``, and the bus starts
    ``stem_latency`` samples before them."""
    plan = console.plan(ConsoleSettings.from_params(params))
    total = printed.sum(axis=0, dtype=np.float64).astype(np.float32)
    assert total.shape[1] == samples + plan["latency"] - plan["stem_latency"]
    audio = np.pad(total, ((0, 0), (plan["stem_latency"], 0)))
    bus = Bus(audio, samples, plan["latency"], True, round(console.chunk_s * SR), SR)
    return console.render_master(bus, params)


def test_printed_stems_sum_back_to_the_mix(tmp_path, rng):
    """The printed stems plus the return, through the master chain, give mix.wav within -90 dBFS,
    to its last sample: they run on past the song's end by the master's look-ahead (the tails
    it reads), and their folder sits beside the mix."""
    recipe_path, params = _recipe(tmp_path, rng)
    out = tmp_path / "printed-out"
    result = render_recipe(recipe_path, tmp_path / "mix.wav", bit_depth=32)
    paths = export(recipe_path, out, format="stems")
    names = printed_names(params.track_names)
    console = Console(SR)
    plan = console.plan(ConsoleSettings.from_params(params))
    ahead = plan["latency"] - plan["stem_latency"]
    assert 0 < ahead < TAIL_S * SR
    printed = []
    for name in params.track_names:
        audio, rate = sf.read(out / names[name], dtype="float32", always_2d=True)
        assert rate == SR and audio.shape == (result.mix.shape[1] + ahead, 2)
        printed.append(audio.T)
    ret, _ = sf.read(out / RETURN_NAME, dtype="float32", always_2d=True)
    assert np.abs(ret).max() > 1e-3  # the reverb is really there
    printed.append(ret.T)
    assert paths == {"printed": out / "printed"}
    mix = _master_on_sum(np.stack(printed), params, console, result.mix.shape[1])
    assert mix.shape == result.mix.shape
    diff_db = 20 * np.log10(np.abs(mix - result.mix).max() + 1e-30)
    assert diff_db < -90.0, diff_db
    # without the tail (stems cut at the song's end) the last 0.1 s would differ: the tail matters
    cut = np.stack(printed)[..., : result.mix.shape[1]]
    tail = np.concatenate([cut, np.zeros((*cut.shape[:2], ahead), np.float32)], axis=-1)
    short = _master_on_sum(tail, params, console, result.mix.shape[1])
    assert 20 * np.log10(np.abs(short - result.mix).max() + 1e-30) > -90.0


def test_iter_stems_blocks_equal_the_whole_render(rng):
    """Chunked printing equals render(want_stems=True) bit for bit, whatever the block length."""
    multitrack = Multitrack.from_arrays(_stems(rng, 1.0), SR)
    params = _params(multitrack.names)
    whole = Console(SR).render(multitrack, params, want_stems=True).stems
    pieces = list(Console(SR, chunk_s=0.13).iter_stems(multitrack, params))
    stems = np.concatenate([s for s, _ in pieces], axis=-1)
    plan = Console(SR).plan(ConsoleSettings.from_params(params))
    assert len(pieces) > 5 and stems.shape[:2] == whole.shape[:2]
    assert stems.shape[2] == whole.shape[2] + plan["latency"] - plan["stem_latency"]  # and the tail
    np.testing.assert_allclose(stems[..., : whole.shape[2]], whole, atol=2e-7)


def test_mix_result_saves_printed_stems_in_its_output_set(tmp_path, rng):
    """`mix --stems` (MixResult.save(stems=True)) writes printed/ beside mix.wav, as long as the
    mix and the master's look-ahead; a later save without stems retires them with the rest of the old set."""
    multitrack = Multitrack.from_arrays(_stems(rng, 1.0), SR)
    params = _params(multitrack.names)
    plan = Console(SR).plan(ConsoleSettings.from_params(params))
    ahead = plan["latency"] - plan["stem_latency"]
    mix = Console(SR).render(multitrack, params).mix
    recipe = Recipe(SR, {n: Path(f"stems/{n}.wav") for n in multitrack.names}, params, base_dir=tmp_path)
    proposal = Proposal(params, Reasons(), {}, {}, {})
    stem_audio = {t.name: t.audio for t in multitrack}
    result = MixResult(mix, SR, proposal, recipe, {}, stem_audio, _multitrack=multitrack)
    out = tmp_path / "out"
    paths = result.save(out, stems=True)
    assert paths["printed"] == out / "printed"
    files = [*printed_names(params.track_names).values(), RETURN_NAME]
    for file in files:
        info = sf.info(str(out / file))
        assert (info.frames, info.channels, info.samplerate, info.subtype) == (mix.shape[1] + ahead, 2, SR, "FLOAT")
    result.save(out, overwrite=True)
    assert not any((out / file).exists() for file in files)


def test_a_recipe_renders_after_its_folder_moves(tmp_path, rng):
    """Stem paths are relative to the recipe: moving the song folder (stems and outputs) keeps
    `render` working; a missing stem is one line naming it."""
    recipe_path, _ = _recipe(tmp_path, rng)
    before = render_recipe(recipe_path, tmp_path / "before.wav").mix
    moved = tmp_path / "elsewhere" / "song-moved"
    moved.parent.mkdir()
    shutil.move(tmp_path / "song", moved)
    after = render_recipe(moved / "out" / "recipe.json", tmp_path / "after.wav").mix
    np.testing.assert_array_equal(before, after)
    (moved / "stems" / "keys.wav").unlink()
    with pytest.raises(SystemExit) as exit_info:
        main(["render", str(moved / "out" / "recipe.json"), "-o", str(tmp_path / "x.wav")])
    assert exit_info.value.code == 2


def test_missing_stem_is_one_line_naming_it(tmp_path, rng, capsys):
    recipe_path, _ = _recipe(tmp_path, rng)
    (tmp_path / "song" / "stems" / "keys.wav").unlink()
    with pytest.raises(SystemExit) as exit_info:
        main(["export", str(recipe_path), "--format", "stems", "-o", str(tmp_path / "p")])
    assert exit_info.value.code == 2
    message = capsys.readouterr().err.strip()
    assert len(message.splitlines()) == 1 and "keys.wav" in message, message


def test_existing_printed_stems_are_refused_before_the_work(tmp_path):
    """`mix --stems` checks its printed stems with the rest of the outputs, before mixing."""
    (tmp_path / "printed").mkdir()
    (tmp_path / "printed" / "02-snare.wav").write_bytes(b"earlier")
    check_mix_outputs(tmp_path)  # without --stems the old prints are not in the way
    with pytest.raises(OutputError, match="02-snare.wav: already exists"):
        check_mix_outputs(tmp_path, printed=["kick", "snare"])
    assert check_mix_outputs(tmp_path, printed=["kick", "snare"], overwrite=True)
