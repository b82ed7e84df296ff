"""Training the neural controller: the loss falls, resume is exact, the style stage fine-tunes
and resumes, damaged weights and bad configs are refused (split from test_neural.py so the two
halves run on different test workers)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from mixassist.audio.io import save_audio
from mixassist.errors import InvalidParameterError
from mixassist.neural.model import MixController
from mixassist.train.config import load_config

SR = 22050


# ---------------------------------------------------------------------------------------- training
def _write_song(folder: Path, seed: int, names_roles: list[tuple[str, str]]) -> None:
    rng = np.random.default_rng(seed)
    n = 4 * SR
    t = np.arange(n) / SR
    stems = []
    (folder / "stems").mkdir(parents=True)
    for k, (name, role) in enumerate(names_roles):
        f0 = {"bass": 55.0, "drums": 80.0, "lead": 440.0}.get(role, 220.0 * (1 + k % 3))
        env = np.exp(-((t * (2 + k)) % 1.0) * (30 if role == "drums" else 2))
        x = (0.3 * np.sin(2 * np.pi * f0 * t) + 0.02 * rng.standard_normal(n)) * env * 10 ** (rng.uniform(-12, 0) / 20)
        audio = x[None] if k % 2 == 0 else np.stack([x, np.roll(x, 7)])
        save_audio(folder / "stems" / f"{name}.wav", audio.astype(np.float32), SR, 24)
        stems.append({"name": name, "file": f"stems/{name}.wav", "role": role, "channels": audio.shape[0]})
    meta = {"name": folder.name, "sample_rate": SR, "soundfont": "FluidR3_GM", "kind": "pop", "stems": stems, "multi_mic": []}
    (folder / "song.json").write_text(json.dumps(meta))


@pytest.fixture(scope="module")
def tiny_corpus(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("corpus")
    names = []
    kits = [[("bass", "bass"), ("kick", "drums"), ("keys", "chords"), ("vox", "lead")],
            [("bass", "bass"), ("pad", "pad"), ("lead", "lead")],
            [("drums", "drums"), ("gtr", "chords"), ("gtr2", "chords"), ("voice", "lead"), ("fx", "fx")],
            [("bass", "bass"), ("arp", "arp"), ("lead", "lead")],
            [("kick", "drums"), ("keys", "chords"), ("sing", "lead")]]
    for i, kit in enumerate(kits):
        _write_song(root / f"song_{i:03d}", i, kit)
        names.append(f"song_{i:03d}")
    (root / "dataset.json").write_text(json.dumps({"songs": names}))
    return root


def _config(corpus: Path, work: Path, **extra):
    settings = dict(songs_dir=str(corpus), synthesise=False, songs=5, references=8, reference_seconds=3.0,
                    validation_share=0.3, work_dir=str(work), output=str(work / "out" / "controller.pt"), steps=30,
                    batch=6, learning_rate=3e-3, checkpoint_every=10, log_every=5, workers=1,
                    curriculum=[[0, 2, 3], [10, 2, 6]], model={"d_model": 32, "layers": 2, "heads": 2, "ff": 64})
    settings.update(extra)
    path = work.parent / f"{work.name}.toml"
    lines = []
    model = settings.pop("model")
    for k, v in settings.items():
        lines.append(f"{k} = {json.dumps(v)}")
    lines.append("[model]")
    lines += [f"{k} = {json.dumps(v)}" for k, v in model.items()]
    path.write_text("\n".join(lines) + "\n")
    return load_config(path)


def test_training_learns_resumes_exactly_and_exports(tiny_corpus, tmp_path):
    from mixassist.mixers.neural import load_controller
    from mixassist.train.loop import train

    straight = train(_config(tiny_corpus, tmp_path / "a"))
    log = [json.loads(line) for line in (tmp_path / "a" / "log.jsonl").read_text().splitlines()]
    assert log[-1]["total"] < log[0]["total"]

    class Stop(Exception):
        pass

    def stop_at_20(stage: str, done: int, total: int) -> None:
        if stage == "training" and done == 20:
            raise Stop

    interrupted = _config(tiny_corpus, tmp_path / "b")
    with pytest.raises(Stop):
        train(interrupted, progress=stop_at_20)
    resumed = train(interrupted)
    assert resumed["steps"] == straight["steps"] == 30
    a = torch.load(tmp_path / "a" / "out" / "controller.pt", weights_only=True)["model"]
    b = torch.load(tmp_path / "b" / "out" / "controller.pt", weights_only=True)["model"]
    for k in a:
        assert torch.allclose(a[k], b[k], atol=1e-6), k
    sidecar = json.loads((tmp_path / "a" / "out" / "controller.json").read_text())
    assert len(sidecar["sha256"]) == 64 and sidecar["parameters"] > 0
    assert isinstance(load_controller(tmp_path / "a" / "out" / "controller.pt"), MixController)


def _style_sessions(tiny_corpus, tmp_path):
    from mixassist.train.corpus import cache_songs, load_corpus, reference_plan, render_references, training_songs
    from mixassist.train.loop import Sampler
    from mixassist.train.style_stage import StyleSessions

    names = training_songs(tiny_corpus, (), ())
    cache_songs(tiny_corpus, names, tmp_path, workers=1)
    plan = reference_plan(names, 4, 0)
    render_references(tiny_corpus, plan, tmp_path, seconds=3.0, workers=1)
    songs, refs = load_corpus(tmp_path, names, plan)
    return StyleSessions(Sampler(songs, refs, no_reference_share=0.0), tiny_corpus, excerpt_s=3.5, max_tracks=4), refs, names


def test_style_loss_is_zero_for_the_truth_and_descends(tiny_corpus, tmp_path):
    """The style stage's render of the *true* outputs reproduces the true render (the decoding,
    the glue placement and the pan sides agree with the truth), and descending the style loss
    alone lowers it: the gradient reaches the outputs."""
    from mixassist.train.style_stage import STYLE_TERMS, style_loss

    sessions, refs, names = _style_sessions(tiny_corpus, tmp_path)
    session = sessions.draw(refs, names, 1, np.random.default_rng(1))[0]
    item = session.item
    truth_out = {"track": torch.logit(torch.from_numpy(item["track_target"]).double().clamp(1e-6, 1 - 1e-6))[None],
                 "reverb": torch.logit(torch.from_numpy(item["reverb_target"]).double().clamp(1e-6, 1 - 1e-6))[None],
                 "master": torch.logit(torch.from_numpy(item["master_target"]).double().clamp(1e-6, 1 - 1e-6))[None]}
    loss, terms = style_loss(sessions, [session], truth_out)
    assert float(loss) < 0.05, terms
    assert set(terms) == set(STYLE_TERMS)
    wrong = {k: torch.zeros_like(v, requires_grad=True) for k, v in truth_out.items()}  # every output at 0.5
    optimiser = torch.optim.Adam(wrong.values(), lr=0.1)
    first = None
    for _ in range(15):
        loss, _ = style_loss(sessions, [session], wrong)
        first = float(loss.detach()) if first is None else first
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    assert float(style_loss(sessions, [session], wrong)[0].detach()) < 0.7 * first


def test_style_stage_fine_tunes_and_resumes_exactly(tiny_corpus, tmp_path):
    from mixassist.train.loop import train

    style = dict(steps=6, checkpoint_every=6, log_every=3, style_steps=4, style_batch=2, style_excerpt_s=3.5,
                 style_checkpoint_every=2, style_validation_sessions=1, style_learning_rate=1e-3, style_weight=0.05)
    straight = train(_config(tiny_corpus, tmp_path / "a", **style))
    assert [h["step"] for h in straight["style_history"]] == [0, 2, 4]
    assert all(math.isfinite(h["validation"]["style"]) for h in straight["style_history"])
    log = [json.loads(line) for line in (tmp_path / "a" / "log.jsonl").read_text().splitlines()]
    assert [e["step"] for e in log if e.get("stage") == "style"] == [2, 4]

    class Stop(Exception):
        pass

    def stop_at_2(stage: str, done: int, total: int) -> None:
        if stage == "style fine-tuning" and done == 2:
            raise Stop

    interrupted = _config(tiny_corpus, tmp_path / "b", **style)
    with pytest.raises(Stop):
        train(interrupted, progress=stop_at_2)
    train(interrupted)
    a = torch.load(tmp_path / "a" / "out" / "controller.pt", weights_only=True)["model"]
    b = torch.load(tmp_path / "b" / "out" / "controller.pt", weights_only=True)["model"]
    for k in a:
        assert torch.allclose(a[k], b[k], atol=1e-6), k
    # starting from those weights with no parameter steps: the style stage alone, recorded
    again = train(_config(tiny_corpus, tmp_path / "c", **{**style, "steps": 0, "style_steps": 1, "style_checkpoint_every": 1,
                                                          "init_weights": str(tmp_path / "a" / "out" / "controller.pt")}))
    assert again["steps"] == 0 and again["init"]["sha256"] == json.loads(
        (tmp_path / "a" / "out" / "controller.json").read_text())["sha256"]
    assert again["style_history"][0]["validation"]["style"] == pytest.approx(
        straight["style_history"][-1]["validation"]["style"], rel=1e-6)


def test_damaged_weights_are_refused(tiny_corpus, tmp_path):
    from mixassist.mixers.neural import load_controller
    from mixassist.train.loop import train

    train(_config(tiny_corpus, tmp_path / "w", steps=2, checkpoint_every=2, log_every=1))
    path = tmp_path / "w" / "out" / "controller.pt"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(InvalidParameterError, match="SHA-256"):
        load_controller(path)


def test_config_errors(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('stepz = 3\n')
    with pytest.raises(InvalidParameterError, match="unknown setting"):
        load_config(bad)
    with pytest.raises(InvalidParameterError, match="no such config"):
        load_config(tmp_path / "missing.toml")
    with pytest.raises(InvalidParameterError, match="init_weights"):
        load_config(None, steps=0)
    with pytest.raises(InvalidParameterError, match="no such file"):
        load_config(None, init_weights=str(tmp_path / "none.pt"))
    with pytest.raises(InvalidParameterError, match="style_excerpt_s"):
        load_config(None, style_excerpt_s=2.0)
    cfg = load_config(None, curriculum=[[0, 2, 4], [100, 3, 8]])
    assert cfg.tracks_at(0) == (2, 4) and cfg.tracks_at(150) == (3, 8)
