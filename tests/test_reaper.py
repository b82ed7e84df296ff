"""The REAPER export (issue 21), read back by an independent parser (the ``rpp`` package from
PyPI): tracks, volumes, pans, polarity, delays, file paths, sends to the reverb bus, notes,
printed stems on muted tracks; the project still finds its stems after its folder moves."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from mixassist.cli import main
from mixassist.console.params import MixParams
from mixassist.errors import InvalidParameterError, OutputError, RecipeError
from mixassist.export import export_reaper
from mixassist.outputs import RETURN_NAME, printed_names
from mixassist.recipe import Recipe

rpp = pytest.importorskip("rpp", reason="the independent RPP reader (pip install rpp==0.5, a test dependency)")

SR = 22050
SETTINGS = {
    "vocals": {"gain_db": -3.5, "pan": 0.0, "reverb_send_db": -12.0, "eq_peak2_db": 2.0, "eq_peak2_hz": 3000.0},
    "guitar": {"gain_db": 2.25, "pan": -0.6, "polarity": -1.0, "delay_ms": 1.5, "reverb_send_db": -20.0},
    "bass": {"gain_db": -8.0, "pan": 0.35},
}


def _session(folder: Path) -> Path:
    """Stems of different lengths, one a left/right pair, and a recipe with reasons and sends."""
    stems = folder / "stems"
    stems.mkdir(parents=True)
    lengths = {"vocals": 2.0, "guitar": 1.5, "bass": 1.0, "keys_L": 1.25, "keys_R": 1.25}
    for name, seconds in lengths.items():
        audio = 0.1 * np.sin(2 * np.pi * 220 * np.arange(int(seconds * SR)) / SR)
        sf.write(stems / f"{name}.wav", audio.astype(np.float32), SR)
    names = [*SETTINGS, "keys"]
    params = MixParams(names, tracks={**SETTINGS, "keys": {"gain_db": -1.0}}, reverb={"rt60_mid_s": 1.2})
    files = {n: Path(f"stems/{n}.wav") for n in SETTINGS} | {"keys": Path("stems/keys_L.wav")}
    recipe = Recipe(
        SR,
        files,
        params,
        base_dir=folder,
        right_files={"keys": Path("stems/keys_R.wav")},
        why={"vocals": {"gain_db": "sits 2 dB over the guitar", "eq_peak2_db": "presence for the words"}},
        extra={"context": {"method": "rules", "sections": [{"name": "chorus", "start_s": 1.0}]}},
    )
    path = folder / "recipe.json"
    recipe.save(path)
    return path


def _tracks(project) -> dict[str, object]:
    return {t.find("NAME")[1]: t for t in project.findall("TRACK")}


def test_the_project_reads_back_with_the_recipes_settings(tmp_path):
    recipe = _session(tmp_path / "song")
    (tmp_path / "daw").mkdir()
    out = export_reaper(recipe, tmp_path / "daw" / "song.rpp")
    project = rpp.loads(out.read_text())
    assert project.tag == "REAPER_PROJECT"
    tracks = _tracks(project)
    assert list(tracks) == ["vocals", "guitar", "bass", "keys L", "keys R", "reverb bus"]
    for name, settings in SETTINGS.items():
        volpan = tracks[name].find("VOLPAN")
        assert float(volpan[1]) == pytest.approx(10 ** (settings["gain_db"] / 20), rel=1e-9)
        assert float(volpan[2]) == pytest.approx(settings.get("pan", 0.0), abs=1e-12)
        assert tracks[name].find("IPHASE")[1] == ("1" if settings.get("polarity", 1.0) < 0 else "0")
        item = tracks[name].find("ITEM")
        assert float(item.find("POSITION")[1]) == pytest.approx(settings.get("delay_ms", 0.0) / 1000)
        file = item.find("SOURCE").find("FILE")[1]
        assert (out.parent / file).resolve() == (tmp_path / "song" / "stems" / f"{name}.wav").resolve()
        assert not Path(file).is_absolute()  # relative: the folder can move with its stems
        assert float(item.find("LENGTH")[1]) == pytest.approx(sf.info(out.parent / file).duration)
    # the pair: two hard-panned tracks at the one fader, each its own file
    assert [float(tracks[f"keys {s}"].find("VOLPAN")[2]) for s in "LR"] == [-1.0, 1.0]
    assert tracks["keys R"].find("ITEM").find("SOURCE").find("FILE")[1].endswith("stems/keys_R.wav")
    # sends: post-fader receives on the (muted) bus, from the tracks that send, at their levels
    bus = tracks["reverb bus"]
    receives = {int(r[1]): r for r in bus.findall("AUXRECV")}
    assert set(receives) == {0, 1}
    assert float(receives[0][3]) == pytest.approx(10 ** (-12 / 20)) and receives[0][2] == "0"
    assert float(receives[1][3]) == pytest.approx(10 ** (-20 / 20))
    assert bus.find("MUTESOLO")[1] == "1" and bus.find("ITEM") is None
    # notes: the reasons per track (SWS notes by GUID), and what is not carried in the project notes
    guids = {t.find("NAME")[1]: t.find("TRACKID")[1] for t in project.findall("TRACK")}
    notes = {
        n.attrib[0]: "\n".join(line[1:] for line in n.children)
        for n in project.find("EXTENSIONS").findall("S&M_TRACKNOTES")
    }
    assert tracks["vocals"].attrib == [guids["vocals"]]
    vocal_notes = notes[guids["vocals"]]
    assert "sits 2 dB over the guitar" in vocal_notes and "+2.0 dB @ 3000 Hz" in vocal_notes
    assert "ReaEQ" in out.read_text().split("<TRACK", 1)[0]
    marker = project.find("MARKER")
    assert float(marker[2]) == 1.0 and marker[3] == "chorus"


def test_printed_stems_sit_on_muted_tracks_in_a_folder(tmp_path):
    recipe = _session(tmp_path)
    (tmp_path / "printed").mkdir()
    files = {"vocals": printed_names(Recipe.load(recipe).params.track_names)["vocals"], "reverb": RETURN_NAME}
    for file in files.values():  # the names mixassist.stems prints (export --format stems)
        sf.write(tmp_path / file, np.zeros((SR, 2), np.float32), SR)
    project = rpp.loads(export_reaper(recipe, tmp_path / "song.rpp").read_text())
    tracks = _tracks(project)
    assert tracks["printed (mixassist)"].find("ISBUS")[1:] == ["1", "1"]
    for name in ("vocals (printed)", "reverb (printed)"):
        assert tracks[name].find("MUTESOLO")[1] == "1"
        assert tracks[name].find("ITEM").find("SOURCE").find("FILE")[1] == files[name.split()[0]]
    assert tracks["reverb (printed)"].find("ISBUS")[1] == "2"  # closes the folder


def test_a_missing_stem_is_one_error_naming_it(tmp_path):
    recipe = _session(tmp_path)
    (tmp_path / "stems" / "guitar.wav").unlink()
    with pytest.raises(RecipeError, match="stem 'guitar' is missing"):
        export_reaper(recipe, tmp_path / "song.rpp")
    with pytest.raises(InvalidParameterError, match=r"\.rpp"):
        export_reaper(recipe, tmp_path / "song.txt")
    assert not (tmp_path / "song.rpp").exists()


def test_an_existing_project_is_kept_unless_overwrite(tmp_path):
    recipe = _session(tmp_path)
    (tmp_path / "song.rpp").write_text("mine")
    with pytest.raises(OutputError):
        export_reaper(recipe, tmp_path / "song.rpp")
    assert (tmp_path / "song.rpp").read_text() == "mine"
    export_reaper(recipe, tmp_path / "song.rpp", overwrite=True)
    assert (tmp_path / "song.rpp").read_text().startswith("<REAPER_PROJECT")


def test_the_export_command_and_a_moved_folder(tmp_path, capsys):
    _session(tmp_path / "a")
    shutil.move(tmp_path / "a", tmp_path / "b")  # recipe and stems move together
    cmd = ["export", str(tmp_path / "b" / "recipe.json"), "--format", "reaper"]
    with pytest.raises(SystemExit) as done:
        main([*cmd, "-o", str(tmp_path / "b" / "song.rpp")])
    assert done.value.code == 0 and "song.rpp" in capsys.readouterr().out
    project = rpp.loads((tmp_path / "b" / "song.rpp").read_text())
    for track in project.findall("TRACK"):
        for item in track.findall("ITEM"):
            assert (tmp_path / "b" / item.find("SOURCE").find("FILE")[1]).is_file()
    with pytest.raises(SystemExit) as exit_:
        main([*cmd, "-o", str(tmp_path / "x.rpp"), "--format", "logic"])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and "'logic'" in err and "reaper" in err and err.count("\n") == 1


GAIN_LANE = ((0.0, 0.5, 1.0, 1.8), (-3.5, -6.0, -6.0, -1.5))
PAN_LANE = ((0.2, 1.6), (-0.6, 0.8))
SEND_LANE = ((0.0, 1.0), (-12.0, -18.0))
MASTER_LANE = ((0.25, 1.25), (0.0, -3.0))


def _lane_session(folder: Path) -> Path:
    """The session above with the vocal's fader and pan and the pair's fader automated."""
    from mixassist.console.lanes import Lane

    path = _session(folder)
    recipe = Recipe.load(path)
    recipe.params.set_lane("vocals", "gain_db", Lane(*GAIN_LANE))
    recipe.params.set_lane("vocals", "pan", Lane(*PAN_LANE))
    recipe.params.set_lane("keys", "gain_db", Lane((0.0, 1.0), (-1.0, -4.0)))
    recipe.params.set_lane("vocals", "reverb_send_db", Lane(*SEND_LANE))
    recipe.params.set_lane("master", "output_gain_db", Lane(*MASTER_LANE))
    recipe.params.set_lane("vocals", "eq_peak2_db", Lane((0.5, 1.5), (2.0, -4.0)))
    recipe.extra["context"]["sections"] = [{"start_s": 0.0, "stop_s": 1.0, "label": "verse"}]
    recipe.save(path, overwrite=True)
    return path


def _envelope(track, tag: str) -> tuple[np.ndarray, np.ndarray]:
    env = track.find(tag)
    points = [p for p in env.children if isinstance(p, list) and p[0] == "PT"]
    assert all(p[3] == "0" for p in points)  # linear shape: REAPER draws straight lines between them
    return np.array([float(p[1]) for p in points]), np.array([float(p[2]) for p in points])


def test_lanes_are_track_envelopes_that_follow_the_lane(tmp_path):
    """Issue 24: the vocal's gain lane is a VOLENV2 of amplitudes and its pan lane a PANENV2
    (REAPER's pan envelope: +1 = left, so −pan); straight lines between the points (REAPER's
    linear shape; in amplitude for volume) stay within 0.02 dB and 0.002 of the lane's curve."""
    from mixassist.console.lanes import lane_curve_numpy

    recipe = _lane_session(tmp_path / "song")
    out = export_reaper(recipe, tmp_path / "song.rpp")
    tracks = _tracks(rpp.loads(out.read_text()))
    grid = np.linspace(0.0, 2.0, 4001)
    t, amplitude = _envelope(tracks["vocals"], "VOLENV2")
    assert t[0] == 0.0 and t[-1] == 1.8 and set(GAIN_LANE[0]) <= set(t)
    assert np.allclose(20 * np.log10(amplitude), lane_curve_numpy(*GAIN_LANE, t), atol=1e-8)
    drawn_db = 20 * np.log10(np.interp(grid, t, amplitude))
    assert np.max(np.abs(drawn_db - lane_curve_numpy(*GAIN_LANE, grid))) < 0.02
    t, value = _envelope(tracks["vocals"], "PANENV2")
    assert value[0] == pytest.approx(0.6) and value[-1] == pytest.approx(-0.8)  # left is +1 in the envelope
    assert np.max(np.abs(-np.interp(grid, t, value) - lane_curve_numpy(*PAN_LANE, grid))) < 0.002
    assert len(t) < 60  # dense only where the curve bends
    for side in "LR":  # the pair: the fader's envelope on both halves, no pan envelope (hard-panned)
        t, amplitude = _envelope(tracks[f"keys {side}"], "VOLENV2")
        assert 20 * np.log10(amplitude[[0, -1]]) == pytest.approx([-1.0, -4.0])
        assert tracks[f"keys {side}"].find("PANENV2") is None
    assert tracks["guitar"].find("VOLENV2") is None and tracks["guitar"].find("PANENV2") is None
    # Issue 24, send and master lanes: the vocal's send lane is a Receive Volume envelope right
    # after its AUXRECV on the bus, the master's output-gain lane a MASTERVOLENV2 (amplitudes);
    # the EQ-gain lane cannot be written and the notes say so in one line each.
    bus = tracks["reverb bus"]
    rows = [c for c in bus.children if isinstance(c, list) or c.tag == "AUXVOLENV"]
    vocal = [i for i, c in enumerate(rows) if isinstance(c, list) and c[:2] == ["AUXRECV", "0"]][0]
    assert not isinstance(rows[vocal + 1], list) and rows[vocal + 1].tag == "AUXVOLENV"
    assert len(bus.findall("AUXVOLENV")) == 1  # the guitar's send has no lane
    t, amplitude = _envelope(bus, "AUXVOLENV")
    assert np.max(np.abs(20 * np.log10(np.interp(grid, t, amplitude)) - lane_curve_numpy(*SEND_LANE, grid))) < 0.02
    t, amplitude = _envelope(rpp.loads(out.read_text()), "MASTERVOLENV2")
    assert np.max(np.abs(20 * np.log10(np.interp(grid, t, amplitude)) - lane_curve_numpy(*MASTER_LANE, grid))) < 0.02
    text = out.read_text()
    assert "the eq_peak2_db automation lane (2 points)" in text
    assert text.count("Not carried: the EQ-gain automation lanes vocals.eq_peak2_db") == 1
    assert rpp.loads(out.read_text()).find("MARKER")[3] == "verse"
