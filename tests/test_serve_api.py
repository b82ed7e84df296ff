"""The JSON API of ``mixassist serve`` (issue 22), through FastAPI's TestClient: propose, edit,
lock and re-solve, undo and redo, previews at equal loudness, meters, the EQ curve, variations,
export, and a restarted server that keeps the work.  One tiny session for the module (3 stems,
two mono and one stereo, 3 s at 22050 Hz, mixed by the neural controller: the fastest mixer)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

pytest.importorskip("fastapi")

from cli_runner import run_cli  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402

from mixassist.console.console import Console  # noqa: E402
from mixassist.console.lanes import Lane  # noqa: E402
from mixassist.console.params import MixParams  # noqa: E402
from mixassist.measure import integrated_loudness, true_peak  # noqa: E402
from mixassist.serve import create_app  # noqa: E402
from mixassist.serve.render import excerpt, reduction_db  # noqa: E402
from mixassist.serve.strips import StripCache  # noqa: E402
from mixassist.serve.variations import params_diff  # noqa: E402

SR = 22050
SECONDS = 3.0


def _song(folder: Path) -> None:
    folder.mkdir()
    rng = np.random.default_rng(7)
    t = np.arange(int(SECONDS * SR)) / SR
    kick = np.sin(2 * np.pi * 55 * t) * np.exp(-(t % 0.5) * 8) * 0.8
    bass = 0.3 * np.sin(2 * np.pi * 110 * t) * (1 + 0.3 * np.sin(2 * np.pi * 2 * t))
    pad = 0.1 * np.sin(2 * np.pi * np.array([[220.0], [330.0]]) * t) + 0.02 * rng.standard_normal((2, t.size))
    sf.write(folder / "kick.wav", kick.astype(np.float32), SR)
    sf.write(folder / "bass.wav", bass.astype(np.float32), SR)
    sf.write(folder / "pad.wav", pad.T.astype(np.float32), SR)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("serve-api")
    _song(root / "stems")
    ref = root / "reference.wav"
    rng = np.random.default_rng(3)
    sf.write(ref, (0.03 * rng.standard_normal((int(4 * SR), 2))).astype(np.float32), SR)
    app = create_app(root / "workspace", allowed_roots=[root / "stems", ref])
    client = TestClient(app)
    r = client.post("/api/sessions", json={"stems": str(root / "stems"), "reference": [str(ref)], "method": "neural"})
    assert r.status_code == 201, r.text
    return {"root": root, "app": app, "client": client, "state": r.json(), "id": r.json()["id"]}


def _track(state: dict, name: str) -> dict:
    return next(t for t in state["tracks"] if t["name"] == name)


def _wav(response) -> np.ndarray:
    audio, rate = sf.read(io.BytesIO(response.content), dtype="float32", always_2d=True)
    assert rate == SR
    return audio.T


def test_a_proposal_shows_every_strip_with_its_values_reasons_and_meters(served):
    state = served["state"]
    assert [t["name"] for t in state["tracks"]] == ["bass", "kick", "pad"]
    assert state["context"]["method"] == "neural"
    for track in state["tracks"]:
        assert isinstance(track["params"]["gain_db"], float)
        assert track["reasons"], track["name"]  # a reason per move
    names = {p["name"] for p in state["schema"]["track"]}
    assert {"gain_db", "pan", "hpf_hz", "comp_ratio", "reverb_send_db"} <= names
    meters = state["meters"]  # the preview covers the whole 3-s song: the loudness it was delivered at
    assert meters["integrated_lufs"] == pytest.approx(state["context"]["loudness_lufs"], abs=0.2)
    assert meters["true_peak_dbtp"] <= -0.9
    assert state["master"]["gain_reduction_db"] >= 0.0 and all(t["gain_reduction_db"] >= 0.0 for t in state["tracks"])
    assert state["reference"]["fidelity"] and len(state["reference"]["style"]["mix"]["mid_db"]) > 10
    listed = served["client"].get("/api/sessions").json()["sessions"]
    assert {"id": served["id"], "tracks": 3} == {k: listed[0][k] for k in ("id", "tracks")}


def test_a_fader_edit_moves_the_loudness_the_right_way_and_re_renders_one_strip(served):
    client, sid = served["client"], served["id"]
    cache = served["app"].state.workbench.loaded[sid].strips
    before = client.get(f"/api/sessions/{sid}")
    lufs0 = before.json()["meters"]["integrated_lufs"]
    preview0 = float(client.get(f"/api/sessions/{sid}/preview.wav?which=mix&seconds=10").headers["X-Integrated-LUFS"])
    rendered = cache.strips_rendered
    gain = _track(before.json(), "pad")["params"]["gain_db"]
    up = client.patch(
        f"/api/sessions/{sid}/params", json={"section": "track", "track": "pad", "param": "gain_db", "value": gain + 6}
    )
    assert up.status_code == 200, up.text
    assert _track(up.json(), "pad")["params"]["gain_db"] == gain + 6
    assert _track(up.json(), "pad")["proposed"]["gain_db"] == gain  # what the mixer proposed stays shown
    assert up.json()["meters"]["integrated_lufs"] > lufs0 + 0.5
    preview1 = float(client.get(f"/api/sessions/{sid}/preview.wav?which=mix&seconds=10").headers["X-Integrated-LUFS"])
    assert preview1 > preview0 + 0.5
    assert cache.strips_rendered == rendered + 1  # only the pad's strip ran again (the buses always run)
    bench = served["app"].state.workbench
    excerpts, params = bench.loaded[sid], bench.params(bench.store.load(sid))
    full = Console(SR).render(excerpt(excerpts.multitrack, 0.0, 15.0), params).mix
    assert np.array_equal(excerpts.mix(params, 0.0, 15.0), full)  # the cached render is the full one
    down = client.patch(
        f"/api/sessions/{sid}/params", json={"section": "track", "track": "pad", "param": "gain_db", "value": gain - 6}
    )
    assert down.json()["meters"]["integrated_lufs"] < lufs0 - 0.5
    bad = client.patch(
        f"/api/sessions/{sid}/params", json={"section": "track", "track": "pad", "param": "gain_db", "value": 99}
    )
    assert bad.status_code == 400 and "outside the allowed range" in bad.json()["error"]


def test_the_cached_render_equals_a_full_render_bit_for_bit(served):
    """With an EQ move, a delay, a lane and two blocks, the mix made of kept strips and fresh
    buses is the full render's, bit for bit."""
    bench = served["app"].state.workbench
    params = bench.params(bench.store.load(served["id"]))
    part = excerpt(bench.loaded[served["id"]].multitrack, 0.0, 10.0)
    console = Console(SR, chunk_s=1.5)  # two blocks
    params.set("pad", "eq_peak2_db", 4.0)
    params.set("kick", "delay_ms", 1.5)
    params.set_lane("bass", "gain_db", Lane((0.0, 1.0, 2.0), (-3.0, 0.0, -6.0)))
    strips = {n: list(console.strip_blocks(part, params, n)[1]) for n in params.track_names}
    assert np.array_equal(console.render(part, params, strips=strips).mix, console.render(part, params).mix)


def test_previews_of_mix_reference_and_raw_play_at_equal_loudness(served):
    client, sid = served["client"], served["id"]
    levels = {}
    for which in ("mix", "reference", "raw"):
        r = client.get(f"/api/sessions/{sid}/preview.wav?which={which}&start=0&seconds=10")
        assert r.status_code == 200 and r.headers["content-type"] == "audio/wav"
        audio = _wav(r)
        levels[which] = integrated_loudness(audio, SR)
        assert float(r.headers["X-Render-Ms"]) >= 0
        assert float(r.headers["X-True-Peak-Dbtp"]) == pytest.approx(true_peak(audio, SR), abs=0.01)
    assert max(levels.values()) - min(levels.values()) < 0.01, levels  # float WAV: the gain exactly
    short = client.get(f"/api/sessions/{sid}/preview.wav?which=mix&seconds=5")
    assert short.status_code == 400 and "10 to 20 s" in short.json()["error"]


def test_the_eq_curve_is_the_consoles_filter_response(served):
    """A +6 dB peaking band reads +6 dB at its centre; the 4th-order Butterworth high-pass -3 dB at its corner."""
    client, sid = served["client"], served["id"]
    for param, value in (("eq_peak2_db", 6.0), ("eq_peak2_hz", 1000.0), ("hpf_hz", 100.0)):
        client.patch(
            f"/api/sessions/{sid}/params", json={"section": "track", "track": "pad", "param": param, "value": value}
        )
    for name in ("eq_peak1_db", "eq_peak3_db", "eq_peak4_db", "eq_low_shelf_db", "eq_high_shelf_db"):
        client.patch(
            f"/api/sessions/{sid}/params", json={"section": "track", "track": "pad", "param": name, "value": 0.0}
        )
    curve = client.get(f"/api/sessions/{sid}/eq?section=track&track=pad").json()
    hz, db = np.array(curve["hz"]), np.array(curve["db"])
    assert len(hz) == 200 and hz[0] == 20.0
    assert np.interp(np.log(1000.0), np.log(hz), db) == pytest.approx(6.0, abs=0.15)
    assert np.interp(np.log(100.0), np.log(hz), db) == pytest.approx(-3.0 + 0.0, abs=0.4)
    assert db[0] < -40  # 20 Hz, two octaves under a 24 dB/octave corner
    master = client.get(f"/api/sessions/{sid}/eq?section=master").json()
    assert len(master["db"]) == 200


def test_a_lock_survives_a_re_solve_exactly_and_undo_redo_walk_the_history(served):
    client, sid = served["client"], served["id"]
    state = client.patch(
        f"/api/sessions/{sid}/params", json={"section": "track", "track": "bass", "param": "pan", "value": 0.37}
    ).json()
    state = client.post(
        f"/api/sessions/{sid}/locks", json={"section": "track", "track": "bass", "param": "pan", "locked": True}
    ).json()
    assert _track(state, "bass")["locked"] == ["pan"]
    state = client.post(
        f"/api/sessions/{sid}/locks", json={"section": "master", "param": "output_gain_db", "locked": True}
    ).json()
    kept = state["master"]["params"]["output_gain_db"]
    solved = client.post(f"/api/sessions/{sid}/solve", json={}).json()
    assert _track(solved, "bass")["params"]["pan"] == 0.37
    assert solved["master"]["params"]["output_gain_db"] == kept
    assert solved["history"]["labels"][-1].startswith("re-solve")
    index = solved["history"]["index"]
    undone = client.post(f"/api/sessions/{sid}/undo").json()
    assert undone["history"]["index"] == index - 1 and undone["history"]["can_redo"]
    assert undone["master"]["params"] == state["master"]["params"]
    redone = client.post(f"/api/sessions/{sid}/redo").json()
    assert redone["tracks"] == solved["tracks"]
    refused = client.post(f"/api/sessions/{sid}/redo")
    assert refused.status_code == 409 and refused.json() == {"error": "nothing to redo"}


def test_variations_differ_measurably_keep_the_locks_and_one_can_be_picked(served):
    client, sid = served["client"], served["id"]
    state = client.post(f"/api/sessions/{sid}/variations", json={"n": 3}).json()
    found = state["variations"]
    assert len(found) == 3 and all(v["summary"] for v in found)
    assert all(1 <= len(v["params_diff"]) <= 4 for v in found)
    keys = ("crest_db", "width_overall_db", "tilt")
    for i in range(3):
        for j in range(i + 1, 3):
            gaps = [abs(found[i]["measured"][k] - found[j]["measured"][k]) for k in keys]
            assert max(gaps) >= 1.0, (found[i], found[j])
    stored = served["app"].state.workbench.store.load(sid).variations
    for v in stored:
        assert v["params"]["tracks"]["bass"]["pan"] == 0.37  # the lock, exactly
    wav = client.get(f"/api/sessions/{sid}/variations/1/preview.wav")
    assert wav.status_code == 200 and _wav(wav).shape[0] == 2
    picked = client.post(f"/api/sessions/{sid}/variations/1/pick").json()
    assert picked["history"]["labels"][-1] == f"variation: {found[1]['label']}"
    assert _track(picked, "pad")["proposed"] == _track(picked, "pad")["params"]
    assert MixParams.from_dict(stored[1]["params"]) == served["app"].state.workbench.params(
        served["app"].state.workbench.store.load(sid)
    )
    assert client.post(f"/api/sessions/{sid}/variations/7/pick").status_code == 404


def test_an_exported_recipe_renders_to_the_exported_mix(served, tmp_path):
    client, sid = served["client"], served["id"]
    recipe = client.get(f"/api/sessions/{sid}/export/recipe.json")
    assert recipe.status_code == 200
    (tmp_path / "recipe.json").write_bytes(recipe.content)
    mix = client.get(f"/api/sessions/{sid}/export/mix.wav")
    assert mix.status_code == 200
    result = run_cli("render", str(tmp_path / "recipe.json"), "-o", str(tmp_path / "again.wav"))
    assert result.returncode == 0, result.stderr
    again, _ = sf.read(tmp_path / "again.wav", dtype="float32", always_2d=True)
    assert np.array_equal(again.T, _wav(mix))
    data = json.loads(recipe.content)
    assert data["tracks"][0]["locked"] == ["pan"] and data["master"]["locked"] == ["output_gain_db"]
    assert client.get(f"/api/sessions/{sid}/export/song.rpp").status_code == 200
    assert client.get(f"/api/sessions/{sid}/export/mix.mp3").status_code == 404


def test_new_words_or_references_are_used_by_a_re_solve(served):
    client, sid = served["client"], served["id"]
    bad = client.post(f"/api/sessions/{sid}/solve", json={"method": "magic"})
    assert bad.status_code == 400 and bad.json()["error"].startswith("method='magic': use one of")
    state = client.post(f"/api/sessions/{sid}/solve", json={"words": "wider", "reference": []}).json()
    assert state["context"]["words"] == "wider" and state["context"]["reference"] == []
    assert state["reference"] is None  # no reference, no fidelity table
    assert _track(state, "bass")["params"]["pan"] == 0.37  # still locked
    back = client.post(f"/api/sessions/{sid}/undo").json()
    assert back["context"]["reference"] == [str(served["root"] / "reference.wav")]
    assert back["reference"]["fidelity"]  # the reference is back with the step that had it


def test_a_restarted_server_keeps_the_work(served):
    client, sid = served["client"], served["id"]
    before = client.get(f"/api/sessions/{sid}").json()
    again = TestClient(create_app(served["root"] / "workspace", allowed_roots=[served["root"] / "stems"]))
    after = again.get(f"/api/sessions/{sid}").json()
    assert after["tracks"] == before["tracks"] and after["history"] == before["history"]
    assert after["meters"] == before["meters"]  # the stems were loaded again and render the same
    assert after["variations"] == before["variations"]
    undone = again.post(f"/api/sessions/{sid}/undo")
    assert undone.status_code == 200, undone.text
    assert undone.json()["history"]["index"] == before["history"]["index"] - 1


def test_a_variations_diff_names_only_moves_that_sound():
    """An EQ band's frequency without gain, or a compressor's attack at ratio 1, changes nothing."""
    a = MixParams(["x"])
    b = a.copy()
    b.set("x", "eq_peak2_hz", 3000.0)
    b.set("x", "comp_attack_ms", 3.0)
    b.set("x", "gain_db", -6.0)
    b.set_bus("master", "limiter_ceiling_dbtp", -1.0)
    assert params_diff(a, b) == {"master/limiter_ceiling_dbtp": [None, -1.0], "track/x/gain_db": [0.0, -6.0]}


def test_the_gain_reduction_shown_is_the_compressors_static_curve_on_a_steady_tone():
    """A square wave at -6.02 dBFS (a constant level for the peak detector) through 4:1 at -20 dB,
    hard knee, settles at (20 - 6.02) * (1 - 1/4) = 10.49 dB of reduction."""
    t = np.arange(SR) / SR
    tone = np.stack([0.5 * np.sign(np.sin(2 * np.pi * 100 * t + 0.1))] * 2).astype(np.float32)
    settings = {"comp_threshold_db": -20.0, "comp_ratio": 4.0, "comp_knee_db": 0.0, "comp_attack_ms": 1.0}
    settings |= {"comp_release_ms": 100.0, "comp_makeup_db": 6.0}
    assert reduction_db(tone, settings, SR) == pytest.approx(10.49, abs=0.05)
    assert reduction_db(0.01 * tone, settings, SR) == 0.0  # under the threshold


def test_the_strip_cache_keeps_to_its_memory_budget(served):
    bench = served["app"].state.workbench
    params = bench.params(bench.store.load(served["id"]))
    part = excerpt(bench.loaded[served["id"]].multitrack, 0.0, 10.0)
    cache = StripCache(SR, budget_bytes=1)  # less than one strip: only the render in hand is kept
    first = cache.render(part, params, key="k")
    params.set("bass", "gain_db", -20.0)
    cache.render(part, params, key="k")
    assert len(cache.strips) == 3 and cache.strips_rendered == 4  # 3, then the bass again
    assert cache.kept_bytes == sum(b.numel() * 4 for blocks in cache.strips.values() for b in blocks)
    assert first.shape == (2, part.num_samples)
