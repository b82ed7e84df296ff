"""DAWproject export and import: the structure against the published schema (a transcribed subset,
tests/fixtures/dawproject_schema.json, from bitwig/dawproject Project.xsd at commit
1758788157ae3ad988b0081440d2247af5d9b6fa), units, and the round trip back to a recipe."""

from __future__ import annotations

import json
import math
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from mixassist.api import export, import_dawproject
from mixassist.cli import main
from mixassist.console.lanes import Lane, lane_curve_numpy
from mixassist.console.params import MixParams
from mixassist.dawproject import DAW_SETTINGS, EMBEDDED_RECIPE, EMBEDDED_RETURN
from mixassist.recipe import Recipe

SR = 22050
SCHEMA = json.loads((Path(__file__).parent / "fixtures" / "dawproject_schema.json").read_text())
#: The unit each parameter element must carry, by (parent type, element) (the schema leaves units free).
UNITS = {
    "Volume": "linear", "Pan": "normalized", "Freq": "hertz", "Gain": "decibel", "Q": "linear",
    "Threshold": "decibel", "Ratio": "linear", "Attack": "seconds", "Release": "seconds",
    "OutputGain": "decibel", "InputGain": "decibel", "Tempo": "bpm",
}


VOX_GAIN = ((0.0, 0.4, 1.2), (-3.25, -6.0, -2.0))
VOX_PAN = ((0.3, 1.0), (0.125, -0.5))
#: (owner, lane, (times, values)): a send, an EQ gain, the master's output gain and an EQ gain.
MORE_LANES = (
    ("vox", "reverb_send_db", ((0.2, 0.9), (-14.0, -24.0))),
    ("vox", "eq_peak2_db", ((0.0, 0.6, 1.4), (-1.0, 5.5, -3.0))),
    ("master", "output_gain_db", ((0.5, 1.0), (4.25, 2.0))),
    ("master", "eq_high_shelf_db", ((0.1, 1.2), (1.5, -2.5))),
)


def _session(tmp_path: Path) -> Path:
    """A recipe whose every DAW-carried setting is off its default, plus some that are not carried."""
    stems = tmp_path / "song" / "stems"
    stems.mkdir(parents=True)
    t = np.arange(int(1.5 * SR)) / SR
    sf.write(stems / "vox.wav", (0.3 * np.sin(2 * np.pi * 330 * t)).astype(np.float32), SR, subtype="FLOAT")
    stereo = np.stack([0.2 * np.sin(2 * np.pi * 110 * t), 0.2 * np.sin(2 * np.pi * 165 * t)]).T.astype(np.float32)
    sf.write(stems / "bass.wav", stereo, SR, subtype="FLOAT")
    vox = {"gain_db": -3.25, "pan": 0.125, "hpf_hz": 95.0, "comp_threshold_db": -21.5, "comp_ratio": 3.2,
           "comp_attack_ms": 4.5, "comp_release_ms": 180.0, "comp_makeup_db": 2.5, "comp_knee_db": 3.0,
           "reverb_send_db": -14.0, "polarity": -1.0, "delay_ms": 0.8}
    for i, (band, *_rest) in enumerate(
        [("low_shelf",), ("peak1",), ("peak2",), ("peak3",), ("peak4",), ("high_shelf",)]
    ):
        vox[f"eq_{band}_db"] = -4.0 + 1.5 * i
        vox[f"eq_{band}_q"] = 0.9 + 0.05 * i
    vox["eq_peak2_hz"] = 1234.5
    params = MixParams(
        ["vox", "bass"],
        tracks={"vox": vox, "bass": {"gain_db": 1.5, "pan": -0.4, "width": 0.6}},
        reverb={"rt60_mid_s": 1.1, "return_db": -2.0},
        master={"eq_high_shelf_db": 1.5, "comp_ratio": 1.8, "comp_threshold_db": -10.0, "output_gain_db": 4.25,
                "limiter_ceiling_dbtp": -1.0, "limiter_release_ms": 60.0},
    )
    params.set_lane("vox", "gain_db", Lane(*VOX_GAIN))  # automation (issue 24): Points on Volume and Pan
    params.set_lane("vox", "pan", Lane(*VOX_PAN))
    for owner, name, lane in MORE_LANES:  # ... on the send's Volume, an EQ band's Gain, the master's
        params.set_lane(owner, name, Lane(*lane))
    recipe = Recipe(
        SR, {"vox": Path("stems/vox.wav"), "bass": Path("stems/bass.wav")}, params, base_dir=tmp_path / "song",
        why={"vox": {"gain_db": "sits 3 dB under the mix", "hpf_hz": "rumble below 95 Hz"}},
        locked={"bass": ["pan"]},
    )
    path = tmp_path / "song" / "mix" / "recipe.json"
    path.parent.mkdir()
    recipe.save(path)
    return path


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("daw")
    recipe = _session(tmp)
    project = tmp / "song" / "session" / "song.dawproject"
    assert export(recipe, project, format="dawproject") == {"dawproject": project}
    return recipe, project


def _check(element: ET.Element, type_name: str, ids: set[str], refs: list[str], where: str) -> None:
    spec = SCHEMA["types"][type_name]
    for name, value in element.attrib.items():
        assert name in spec["attributes"], f"{where}: <{element.tag}> has no attribute {name!r} in the schema"
        kind = spec["attributes"][name]
        if kind.rstrip("*") in SCHEMA["enums"]:
            for item in value.split() if kind.endswith("*") else [value]:
                assert item in SCHEMA["enums"][kind.rstrip("*")], f"{where}: {name}={item!r}"
        elif kind == "int":
            int(value)
        elif kind == "double":
            assert math.isfinite(float(value))
        elif kind == "boolean":
            assert value in ("true", "false")
        elif kind == "ID":
            assert value not in ids, f"{where}: id {value} twice"
            ids.add(value)
        elif kind == "IDREF":
            refs.append(value)
    for name in spec["required"]:
        assert name in element.attrib, f"{where}: <{element.tag}> lacks the required attribute {name!r}"
    children = {name: (child_type, position) for name, child_type, position in spec["children"]}
    last = -1
    for child in element:
        assert child.tag in children, f"{where}: <{child.tag}> is not allowed in <{element.tag}> ({type_name})"
        child_type, position = children[child.tag]
        assert position >= last, f"{where}: <{child.tag}> out of the schema's order in <{element.tag}>"
        last = position
        if child.tag in UNITS and child_type == "realParameter":
            assert child.get("unit") == UNITS[child.tag], f"{where}/{child.tag}: unit {child.get('unit')}"
        _check(child, child_type, ids, refs, f"{where}/{child.tag}")


def test_the_project_follows_the_schema(exported):
    """Every element is allowed where it is and in order, every required attribute is there, enum
    values and numbers parse, ids are unique and every reference resolves; units are as documented."""
    _, project = exported
    with zipfile.ZipFile(project) as zf:
        names = set(zf.namelist())
        assert {"project.xml", "metadata.xml", EMBEDDED_RECIPE, EMBEDDED_RETURN} <= names
        for member, (tag, type_name) in SCHEMA["roots"].items():
            root = ET.fromstring(zf.read(member))
            assert root.tag == tag
            ids: set[str] = set()
            refs: list[str] = []
            _check(root, type_name, ids, refs, member)
            assert set(refs) <= ids, f"{member}: dangling references {set(refs) - ids}"
        xml = ET.fromstring(zf.read("project.xml"))
        ret = zf.read(EMBEDDED_RETURN)
    tracks = {t.get("name"): t for t in xml.iter("Track")}
    assert set(tracks) == {"vox", "bass", "Reverb", "Master"}
    assert tracks["Master"].find("Channel").get("role") == "master"
    assert tracks["Reverb"].find("Channel").get("role") == "effect"
    assert "rumble below 95 Hz" in tracks["vox"].get("comment") and "polarity" in tracks["vox"].get("comment")
    # Physical values: fader and pan laws, the high-pass band, the compressor in seconds.
    vox = tracks["vox"].find("Channel")
    assert float(vox.find("Volume").get("value")) == pytest.approx(10 ** (-3.25 / 20), rel=1e-6)
    assert float(vox.find("Pan").get("value")) == pytest.approx(0.5625)
    assert vox.find("Devices/Equalizer/Band").get("type") == "highPass"
    assert float(vox.find("Devices/Compressor/Attack").get("value")) == pytest.approx(0.0045)
    send = vox.find("Sends/Send")
    assert send.get("destination") == tracks["Reverb"].find("Channel").get("id")
    assert send.find("Enable").get("value") == "false"  # the printed return plays instead
    # Clips: raw stems referenced outside the container, relative to it; the return embedded.
    files = {f.get("path"): f.get("external") for f in xml.iter("File")}
    assert files == {"../stems/vox.wav": "true", "../stems/bass.wav": "true", EMBEDDED_RETURN: "false"}
    assert (project.parent / "../stems/vox.wav").resolve().is_file()
    assert ret[:4] == b"RIFF"


def test_round_trip_gives_the_same_settings(exported, tmp_path):
    """Read back, every setting equals the recipe's to the export's rounding, and nothing is
    locked but what the recipe locked (the DAW changed nothing)."""
    recipe_path, project = exported
    original = Recipe.load(recipe_path)
    out = tmp_path / "back" / "recipe.json"
    recipe, contents = import_dawproject(project, out)
    assert contents.changed == {}
    again = Recipe.load(out)
    for section in [*original.params.track_names, "reverb", "master"]:
        kind = section if section in ("reverb", "master") else "track"
        before = original.params.tracks[section] if kind == "track" else getattr(original.params, section)
        after = again.params.tracks[section] if kind == "track" else getattr(again.params, section)
        for name, value in before.items():
            if value is None or after[name] is None:
                assert value == after[name], (section, name)
            else:
                assert after[name] == pytest.approx(value, rel=1e-6, abs=1e-5), (section, name)
    assert again.locked == original.locked and again.why == original.why
    assert again.params.reverb_seed == original.params.reverb_seed and again.params.dc_block
    assert again.resolve("vox").resolve() == original.resolve("vox").resolve()


def _edit(project: Path, target: Path, edit) -> Path:
    """A copy of ``project`` whose project.xml went through ``edit`` (what a DAW save would change)."""
    with zipfile.ZipFile(project) as zf, zipfile.ZipFile(target, "w") as out:
        for item in zf.infolist():
            data = zf.read(item)
            if item.filename == "project.xml":
                root = ET.fromstring(data)
                edit(root)
                data = ET.tostring(root, encoding="utf-8", xml_declaration=True)
            out.writestr(item, data)
    return target


def test_import_locks_what_the_user_changed_in_the_daw(exported, tmp_path):
    _, project = exported

    def louder_bass(root: ET.Element) -> None:
        bass = next(t for t in root.iter("Track") if t.get("name") == "bass")
        bass.find("Channel/Volume").set("value", "0.5")
        limiter = root.find(".//Limiter/Threshold")
        limiter.set("value", "-2")

    edited = _edit(project, project.parent / "edited.dawproject", louder_bass)
    out = tmp_path / "edited.json"
    main_args = ["import", str(edited), "-o", str(out)]
    with pytest.raises(SystemExit) as exit_info:
        main(main_args)
    assert exit_info.value.code in (0, None)
    recipe = Recipe.load(out)
    assert recipe.params.tracks["bass"]["gain_db"] == pytest.approx(20 * math.log10(0.5), abs=1e-5)
    assert recipe.params.master["limiter_ceiling_dbtp"] == pytest.approx(-2.0)
    assert recipe.locked["bass"] == ["gain_db", "pan"]
    assert recipe.locked["master"] == ["limiter_ceiling_dbtp"]
    assert "vox" not in recipe.locked


def test_without_the_embedded_recipe_every_daw_setting_is_locked(exported, tmp_path):
    _, project = exported
    bare = tmp_path / "bare.dawproject"
    with zipfile.ZipFile(project) as zf, zipfile.ZipFile(bare, "w") as out:
        for item in zf.infolist():
            if item.filename != EMBEDDED_RECIPE:
                out.writestr(item, zf.read(item))
    recipe, contents = import_dawproject(bare, tmp_path / "r.json")
    assert set(contents.changed["vox"]) <= set(DAW_SETTINGS["track"])
    assert {"gain_db", "pan", "comp_ratio", "eq_peak2_hz"} <= set(recipe.locked["vox"])
    assert recipe.params.tracks["vox"]["polarity"] == 1.0  # not carried: back to neutral
    assert recipe.params.tracks["vox"]["gain_db"] == pytest.approx(-3.25, abs=1e-5)


@pytest.mark.parametrize(
    ("payload", "reason"),
    [(b"not a zip", "not a DAWproject"), (None, "no project.xml inside")],
)
def test_bad_dawproject_is_one_line(tmp_path, capsys, payload, reason):
    path = tmp_path / "x.dawproject"
    if payload is None:
        with zipfile.ZipFile(path, "w") as zf:
            zf.writestr("metadata.xml", "<MetaData/>")
    else:
        path.write_bytes(payload)
    with pytest.raises(SystemExit) as exit_info:
        main(["import", str(path), "-o", str(tmp_path / "r.json")])
    assert exit_info.value.code == 2
    message = capsys.readouterr().err.strip()
    assert len(message.splitlines()) == 1 and reason in message and "x.dawproject" in message


def test_export_refuses_a_wrong_extension_before_any_work(exported, tmp_path, capsys):
    recipe, _ = exported
    with pytest.raises(SystemExit) as exit_info:
        main(["export", str(recipe), "--format", "dawproject", "-o", str(tmp_path / "song.zip")])
    assert exit_info.value.code == 2
    assert "must end in .dawproject" in capsys.readouterr().err


def _vox_points(xml: ET.Element) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    vox = next(t for t in xml.iter("Track") if t.get("name") == "vox")
    ids = {vox.find(f"Channel/{tag}").get("id"): tag for tag in ("Volume", "Pan")}
    lanes = next(lane for lane in xml.iter("Lanes") if lane.get("track") == vox.get("id"))
    out = {}
    for points in lanes.findall("Points"):
        real = points.findall("RealPoint")
        assert {p.get("interpolation") for p in real} == {"linear"}
        if points.find("Target").get("parameter") not in ids:
            continue
        out[ids[points.find("Target").get("parameter")]] = (
            np.array([float(p.get("time")) for p in real]),
            np.array([float(p.get("value")) for p in real]),
        )
    return out


def test_lanes_are_automation_points_and_come_back(exported, tmp_path):
    """Issue 24: the vox's gain and pan lanes are Points on its Volume (linear) and Pan
    (normalized); straight lines between them stay within 0.02 dB / 0.002 of the lanes; read
    back they are the recipe's lanes exactly; a DAW edit of the points becomes the lane, locked."""
    recipe_path, project = exported
    with zipfile.ZipFile(project) as zf:
        xml = ET.fromstring(zf.read("project.xml"))
    points = _vox_points(xml)
    grid = np.linspace(0.0, 1.5, 3001)
    t, volume = points["Volume"]
    drawn = 20 * np.log10(np.interp(grid, t, volume))
    assert np.max(np.abs(drawn - lane_curve_numpy(*VOX_GAIN, grid))) < 0.02
    t, pan = points["Pan"]
    assert np.max(np.abs(2 * np.interp(grid, t, pan) - 1 - lane_curve_numpy(*VOX_PAN, grid))) < 0.002
    recipe, contents = import_dawproject(project, tmp_path / "back.json")
    assert recipe.params.lane("vox", "gain_db") == Lane(*VOX_GAIN) and recipe.params.lane("vox", "pan") == Lane(*VOX_PAN)
    assert "vox" not in contents.changed

    def flatten_the_dip(root: ET.Element) -> None:
        vox = next(t for t in root.iter("Track") if t.get("name") == "vox")
        volume_id = vox.find("Channel/Volume").get("id")
        timeline = next(p for p in root.iter("Points") if p.find("Target").get("parameter") == volume_id)
        for point in timeline.findall("RealPoint"):
            point.set("value", "0.5")

    edited = _edit(project, tmp_path / "edited.dawproject", flatten_the_dip)
    recipe, contents = import_dawproject(edited, tmp_path / "edited.json")
    lane = recipe.params.lane("vox", "gain_db")
    assert lane is not None and np.allclose(lane.values, 20 * math.log10(0.5), atol=1e-5)
    assert "gain_db" in recipe.locked["vox"] and "pan" not in recipe.locked["vox"]
    assert recipe.params.lane("vox", "pan") == Lane(*VOX_PAN)


def test_send_eq_and_master_lanes_are_points_on_their_parameters(exported, tmp_path):
    """Issue 24: a send lane is Points on the send's Volume (linear), an EQ-gain lane on the band's
    Gain (decibel, the band enabled), the master's output-gain lane on the limiter's InputGain
    (decibel) and its EQ lane on the master band's Gain, in a Lanes of the master track; straight
    lines stay within 0.02 dB of each lane; read back they are the recipe's lanes exactly, and a
    DAW edit of the master's points becomes its lane, locked."""
    recipe_path, project = exported
    with zipfile.ZipFile(project) as zf:
        xml = ET.fromstring(zf.read("project.xml"))
    tracks = {t.get("name"): t for t in xml.iter("Track")}
    vox, master = tracks["vox"].find("Channel"), tracks["Master"].find("Channel")
    targets = {
        ("vox", "reverb_send_db"): (vox.find("Sends/Send/Volume"), "linear"),
        ("vox", "eq_peak2_db"): (vox.findall("Devices/Equalizer/Band")[3].find("Gain"), "decibel"),
        ("master", "output_gain_db"): (master.find("Devices/Limiter/InputGain"), "decibel"),
        ("master", "eq_high_shelf_db"): (master.findall("Devices/Equalizer/Band")[5].find("Gain"), "decibel"),
    }
    assert vox.findall("Devices/Equalizer/Band")[3].get("type") == "bell"
    timelines = {p.find("Target").get("parameter"): p for p in xml.iter("Points")}
    owner_of = {lane.get("track"): lane for lane in xml.iter("Lanes") if lane.get("track")}
    assert any(p in timelines.values() for p in owner_of[tracks["Master"].get("id")].findall("Points"))
    for owner, name, lane in MORE_LANES:
        element, unit = targets[(owner, name)]
        timeline = timelines[element.get("id")]
        assert timeline.get("unit") == unit == element.get("unit")
        t = np.array([float(p.get("time")) for p in timeline.findall("RealPoint")])
        v = np.array([float(p.get("value")) for p in timeline.findall("RealPoint")])
        grid = np.linspace(0.0, 1.5, 3001)
        drawn = np.interp(grid, t, v)
        drawn_db = 20 * np.log10(drawn) if unit == "linear" else drawn
        assert np.max(np.abs(drawn_db - lane_curve_numpy(*lane, grid))) < 0.02, (owner, name)
    recipe, contents = import_dawproject(project, tmp_path / "back.json")
    for owner, name, lane in MORE_LANES:
        assert recipe.params.lane(owner, name) == Lane(*lane), (owner, name)
    assert "master" not in contents.changed and "vox" not in contents.changed

    def lower_the_master(root: ET.Element) -> None:
        gain = root.find(".//Limiter/InputGain").get("id")
        timeline = next(p for p in root.iter("Points") if p.find("Target").get("parameter") == gain)
        for point in timeline.findall("RealPoint"):
            point.set("value", "1.5")

    edited = _edit(project, tmp_path / "edited.dawproject", lower_the_master)
    recipe, _ = import_dawproject(edited, tmp_path / "edited.json")
    lane = recipe.params.lane("master", "output_gain_db")
    assert lane is not None and np.allclose(lane.values, 1.5)
    assert "output_gain_db" in recipe.locked["master"]
    assert recipe.params.lane("master", "eq_high_shelf_db") == Lane(*MORE_LANES[3][2])
