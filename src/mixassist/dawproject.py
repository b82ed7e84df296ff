"""DAWproject: a mix as a session that Bitwig Studio, Studio One and Cubase open, and back.

DAWproject (https://github.com/bitwig/dawproject, ``Project.xsd``) is a zip holding
``project.xml`` and ``metadata.xml``.  This module translates between that XML and the recipe's
JSON form (what :meth:`mixassist.recipe.Recipe.to_dict` writes and ``Recipe.from_dict`` reads);
it reads no audio and holds no mixing logic.

What goes where (units as the schema names them):

* one audio **track per stem**, its clip referencing the stem file *outside* the container
  (``File external="true"``, path relative to the ``.dawproject`` file), so the DAW's own devices
  process the raw stem;
* on its channel: ``Volume`` (unit ``linear``: amplitude, 1 = 0 dB) from ``gain_db``; ``Pan``
  (``normalized``: 0 left, 0.5 centre, 1 right) from ``pan``; an ``Equalizer`` (a 24 dB/octave
  ``highPass`` band when ``hpf_hz`` is on, then ``lowShelf``, four ``bell`` and ``highShelf``
  bands: ``Freq`` in ``hertz``, ``Gain`` in ``decibel``, ``Q`` ``linear``; a band is enabled when
  its gain is not 0); a ``Compressor`` (``Threshold`` and ``OutputGain`` = make-up in
  ``decibel``, ``Ratio`` ``linear`` N:1, ``Attack``/``Release`` in ``seconds``; enabled unless
  ratio 1 and no make-up); a post-fader ``Send`` (``linear``) to the reverb channel;
* a **Reverb** effect track whose clip plays mixassist's *printed reverb return* (embedded in the
  container, ``audio/reverb-return.wav``): the DAWproject format has no built-in reverb device.
  The sends are written *switched off* (``Enable`` false) with our levels, so the printed return
  is not doubled; to use your own reverb, replace the clip with it and switch the sends on;
* a **master** channel with the master ``Equalizer``, the glue ``Compressor`` and a ``Limiter``
  (``Threshold`` = true-peak ceiling, ``InputGain`` = output gain, ``Release`` in seconds); with
  the limiter off, the output gain is the master ``Volume`` instead;
* each track's reasons in its ``comment``;
* automation lanes (recipe version 4): a ``Points`` timeline (``timeUnit="seconds"``) per lane
  in the track's ``Lanes``, beside its clip (the master's in a ``Lanes`` of its own), whose
  ``Target`` is the parameter that holds the setting: a track's ``gain_db`` the channel's
  ``Volume`` (``unit="linear"``, amplitude), ``pan`` its ``Pan`` (``normalized``),
  ``reverb_send_db`` its send's ``Volume`` (``linear``; a track sent only by its lane gets a
  send at the lane's first value), ``eq_<band>_db`` that Equalizer band's ``Gain``
  (``decibel``; the band is enabled); the master's ``output_gain_db`` the limiter's
  ``InputGain`` (``decibel``; with the limiter off, the master ``Volume``) and its
  ``eq_<band>_db`` its Equalizer band's ``Gain``.  The ``RealPoint`` elements
  (``interpolation="linear"``) are the lane's breakpoints plus points between them close
  enough that straight lines stay within 0.01 dB (0.001 in pan) of the raised-cosine curve
  (:func:`mixassist.export.lane_points`); the parameter's own ``value`` stays the lane's base.
  (A DAW's EQ follows the points continuously; mixassist's console redesigns the band every 64
  samples -- the same curve.)  Reading back, points that lie on the embedded recipe's lane
  (within 1e-4 dB / 1e-5 in pan) keep that lane exactly; otherwise the DAW's points become the
  lane (its breakpoints) and the setting is locked, as any changed setting is.

Settings with no DAWproject equivalent (polarity, delay, width, compressor knee, the DC blockers,
the reverb's decay and seed, the limiter's look-ahead) are named in the comment and kept in the
full recipe embedded as ``mixassist/recipe.json``, which :func:`read_project` reads back.  DAWs
ignore that file (and drop it when they save their own DAWproject).

Numbers are written with 7 significant digits: a round trip reproduces each setting to 1e-6
relative (dB values through the linear volume to 1e-5 dB).
"""

from __future__ import annotations

import json
import math
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mixassist.console.lanes import AUTOMATABLE, lane_curve_numpy
from mixassist.console.schema import EQ_BANDS, params_for
from mixassist.errors import RecipeError
from mixassist.version import __version__

__all__ = [
    "DAWPROJECT_VERSION",
    "EMBEDDED_RECIPE",
    "EMBEDDED_RETURN",
    "StemInfo",
    "ProjectContents",
    "project_xml",
    "metadata_xml",
    "read_project",
    "DAW_SETTINGS",
]

#: The format version written in ``Project/@version``.
DAWPROJECT_VERSION = "1.0"
#: Where the full recipe lives inside the container.
EMBEDDED_RECIPE = "mixassist/recipe.json"
#: Where the printed reverb return lives inside the container.
EMBEDDED_RETURN = "audio/reverb-return.wav"

_BAND_TYPES = {"low_shelf": "lowShelf", "high_shelf": "highShelf"}
#: Track settings a DAWproject carries (and so may come back changed).
_TRACK_DAW = (
    "gain_db",
    "pan",
    "hpf_hz",
    *(f"eq_{band}_{what}" for band, *_ in EQ_BANDS for what in ("hz", "db", "q")),
    "comp_threshold_db",
    "comp_ratio",
    "comp_attack_ms",
    "comp_release_ms",
    "comp_makeup_db",
    "reverb_send_db",
)
_MASTER_DAW = (
    *(f"eq_{band}_{what}" for band, *_ in EQ_BANDS for what in ("hz", "db", "q")),
    "comp_threshold_db",
    "comp_ratio",
    "comp_attack_ms",
    "comp_release_ms",
    "comp_makeup_db",
    "output_gain_db",
    "limiter_ceiling_dbtp",
    "limiter_release_ms",
)
#: ``{section kind: settings}`` a DAWproject carries; the others live only in the embedded recipe.
DAW_SETTINGS = {"track": _TRACK_DAW, "reverb": ("return_db",), "master": _MASTER_DAW}


@dataclass(frozen=True)
class StemInfo:
    """What a clip's ``Audio`` element states about a stem file (the file's own rate)."""

    channels: int
    sample_rate: int
    duration_s: float


@dataclass
class ProjectContents:
    """A DAWproject read back: the recipe's JSON form and what came from the DAW's values.

    Attributes
    ----------
    recipe : dict
        Recipe JSON (version 3), stem paths as the project states them (relative to its folder).
    from_daw : dict
        ``{section: {param: value}}`` every setting the XML carried, as read.
    changed : dict
        ``{section: [param, ...]}`` settings whose DAW value differs from the embedded recipe
        (every carried setting when there is no embedded recipe).
    """

    recipe: dict[str, Any]
    from_daw: dict[str, dict[str, Any]] = field(default_factory=dict)
    changed: dict[str, list[str]] = field(default_factory=dict)


# ---------------------------------------------------------------------------------- writing
def _num(value: float) -> str:
    return f"{float(value):.7g}"


def _linear(db: float) -> float:
    return 10.0 ** (db / 20.0)


class _Ids:
    def __init__(self) -> None:
        self.count = 0

    def __call__(self) -> str:
        self.count += 1
        return f"id{self.count}"


def _real(parent: ET.Element, tag: str, ids: _Ids, value: float, unit: str, **bounds: float) -> ET.Element:
    attrs = {"id": ids(), "unit": unit, "value": _num(value)}
    attrs.update({k: _num(v) for k, v in bounds.items()})
    return ET.SubElement(parent, tag, attrs)


def _bool(parent: ET.Element, tag: str, ids: _Ids, value: bool) -> ET.Element:
    return ET.SubElement(parent, tag, {"id": ids(), "value": "true" if value else "false"})


def _equalizer(
    devices: ET.Element, ids: _Ids, p: Mapping[str, Any], name: str, *, hpf: bool, moving: Iterable[str] = ()
) -> None:
    """The strip's or the master's EQ; a band whose gain has a lane (``moving``) is enabled."""
    eq = ET.SubElement(
        devices, "Equalizer", {"id": ids(), "deviceName": "Equalizer", "deviceRole": "audioFX", "name": name}
    )
    moving = set(moving)
    flat = all(float(p[f"eq_{band}_db"]) == 0.0 for band, *_ in EQ_BANDS) and p.get("hpf_hz") is None and not moving
    _bool(eq, "Enabled", ids, not flat)
    if hpf and p.get("hpf_hz") is not None:
        band = ET.SubElement(eq, "Band", {"type": "highPass", "order": "4"})
        _real(band, "Freq", ids, p["hpf_hz"], "hertz")
        _bool(band, "Enabled", ids, True)
    for key, *_ in EQ_BANDS:
        band = ET.SubElement(eq, "Band", {"type": _BAND_TYPES.get(key, "bell")})
        _real(band, "Freq", ids, p[f"eq_{key}_hz"], "hertz")
        _real(band, "Gain", ids, p[f"eq_{key}_db"], "decibel")
        _real(band, "Q", ids, p[f"eq_{key}_q"], "linear")
        _bool(band, "Enabled", ids, float(p[f"eq_{key}_db"]) != 0.0 or f"eq_{key}_db" in moving)


def _compressor(devices: ET.Element, ids: _Ids, p: Mapping[str, Any], name: str) -> None:
    comp = ET.SubElement(
        devices, "Compressor", {"id": ids(), "deviceName": "Compressor", "deviceRole": "audioFX", "name": name}
    )
    _bool(comp, "Enabled", ids, float(p["comp_ratio"]) != 1.0 or float(p["comp_makeup_db"]) != 0.0)
    _real(comp, "Attack", ids, float(p["comp_attack_ms"]) / 1000.0, "seconds")
    _bool(comp, "AutoMakeup", ids, False)
    _real(comp, "InputGain", ids, 0.0, "decibel")
    _real(comp, "OutputGain", ids, p["comp_makeup_db"], "decibel")
    _real(comp, "Ratio", ids, p["comp_ratio"], "linear", min=1.0, max=20.0)
    _real(comp, "Release", ids, float(p["comp_release_ms"]) / 1000.0, "seconds")
    _real(comp, "Threshold", ids, p["comp_threshold_db"], "decibel")


def _full(section: str, given: Mapping[str, Any]) -> dict[str, Any]:
    """Every setting of a section: the recipe's, neutral defaults for the rest."""
    return {name: given.get(name, param.default) for name, param in params_for(section).items()}


def _audio_track(
    structure: ET.Element, ids: tuple[str, str], name: str, role: str, destination: str, comment: str
) -> ET.Element:
    """A stereo audio ``Track`` (id ``ids[0]``) in ``structure`` and its ``Channel`` (id
    ``ids[1]``, ``role`` regular/effect/master) routed to ``destination``; returns the channel."""
    track = ET.SubElement(
        structure,
        "Track",
        {"id": ids[0], "name": name, "contentType": "audio", "loaded": "true", "comment": comment},
    )
    attributes = {"id": ids[1], "role": role, "audioChannels": "2", "destination": destination, "solo": "false"}
    return ET.SubElement(track, "Channel", attributes)


def _comment(why: Mapping[str, str], extra: list[str]) -> str:
    lines = [f"{param}: {text}" for param, text in why.items()] + extra
    return "\n".join(lines)


def _track_extras(p: Mapping[str, Any]) -> list[str]:
    """Settings of a strip the DAWproject cannot hold, in words for the comment."""
    out = []
    if float(p["polarity"]) < 0:
        out.append("not in this session: polarity inverted")
    if float(p["delay_ms"]) != 0:
        out.append(f"not in this session: delay {float(p['delay_ms']):.3f} ms")
    if float(p["width"]) != 1:
        out.append(f"not in this session: stereo width {float(p['width']):.2f}")
    if float(p["comp_ratio"]) != 1:
        out.append(f"not in this session: compressor knee {float(p['comp_knee_db']):.1f} dB")
    if p.get("lpf_hz") is not None:
        out.append(f"not in this session: low-pass {float(p['lpf_hz']):.0f} Hz (24 dB/octave)")
    if float(p.get("drive_db") or 0.0) != 0:
        out.append(f"not in this session: saturation drive {float(p['drive_db']):.1f} dB (tanh)")
    return out


def _clip(
    lanes: ET.Element, ids: _Ids, track_id: str, name: str, path: str, info: StemInfo, *, external: bool
) -> ET.Element:
    track_lanes = ET.SubElement(lanes, "Lanes", {"id": ids(), "track": track_id})
    clips = ET.SubElement(track_lanes, "Clips", {"id": ids()})
    clip = ET.SubElement(
        clips, "Clip", {"name": name, "time": "0", "duration": _num(info.duration_s), "playStart": "0"}
    )
    audio = ET.SubElement(
        clip,
        "Audio",
        {
            "id": ids(),
            "channels": str(info.channels),
            "sampleRate": str(info.sample_rate),
            "duration": _num(info.duration_s),
        },
    )
    ET.SubElement(audio, "File", {"path": path, "external": "true" if external else "false"})
    return track_lanes


#: How a lane's values (the recipe's units) become the automated parameter's unit and back.
_LINEAR = ("linear", _linear, lambda v: _db(v))
_DECIBEL = ("decibel", float, lambda v: float(v))
_PAN = ("normalized", lambda pan: (pan + 1.0) / 2.0, lambda v: v * 2.0 - 1.0)
#: How close a point read back must lie to the embedded lane for the lane to count as unchanged
#: (in the lane's unit: dB, or pan).
_LANE_SAME = {"pan": 1e-5}
_DB_SAME = 1e-4


def _target(channel: ET.Element, param: str) -> tuple[ET.Element | None, tuple]:
    """The parameter element of ``channel`` that a lane of ``param`` automates, and its unit's
    conversions: a strip's ``Volume``, ``Pan``, its send's ``Volume``, an EQ band's ``Gain``; the
    master's limiter ``InputGain`` (or, with the limiter off, its ``Volume``) for the output
    gain.  ``None`` where the channel has no such parameter."""
    devices = channel.find("Devices")
    if param.startswith("eq_") and devices is not None:
        eq = devices.find("Equalizer")
        bands = [b for b in eq.findall("Band") if b.get("type") != "highPass"] if eq is not None else []
        keys = [band for band, *_ in EQ_BANDS]
        index = keys.index(param[3:-3]) if param[3:-3] in keys else len(bands)
        return (bands[index].find("Gain") if index < len(bands) else None), _DECIBEL
    if param == "output_gain_db":
        limiter = devices.find("Limiter") if devices is not None else None
        if limiter is not None and _enabled(limiter):
            return limiter.find("InputGain"), _DECIBEL
        return channel.find("Volume"), _LINEAR
    if param == "reverb_send_db":
        return channel.find("Sends/Send/Volume"), _LINEAR
    return channel.find({"gain_db": "Volume", "pan": "Pan"}.get(param, "-")), _PAN if param == "pan" else _LINEAR


def _points(
    track_lanes: ET.Element, ids: _Ids, channel: ET.Element, param: str, points: Sequence[tuple[float, float]]
) -> bool:
    """A ``Points`` timeline automating the channel's parameter of ``param`` (:func:`_target`)
    with ``points``; False (nothing written) where the channel has no such parameter."""
    target, (unit, convert, _) = _target(channel, param)
    if target is None:
        return False
    timeline = ET.SubElement(track_lanes, "Points", {"id": ids(), "timeUnit": "seconds", "unit": unit})
    ET.SubElement(timeline, "Target", {"parameter": target.get("id", "")})
    for time_s, value in points:
        attributes = {"time": _num(time_s), "value": _num(convert(value)), "interpolation": "linear"}
        ET.SubElement(timeline, "RealPoint", attributes)
    return True


def project_xml(
    recipe: Mapping[str, Any],
    stems: Mapping[str, StemInfo],
    reverb_return: StemInfo | None,
    automation: Mapping[str, Mapping[str, Sequence[tuple[float, float]]]] | None = None,
    master_automation: Mapping[str, Sequence[tuple[float, float]]] | None = None,
) -> bytes:
    """``project.xml`` for a recipe in its JSON form (stem paths relative to the project's folder).

    Parameters
    ----------
    recipe : mapping
        :meth:`Recipe.to_dict` output.
    stems : mapping
        Track name → :class:`StemInfo` of its (left) stem file.
    reverb_return : StemInfo or None
        The printed reverb return embedded at :data:`EMBEDDED_RETURN`; ``None`` when no track
        sends to the reverb (no effect track is written).
    automation : mapping, optional
        Track name → ``{param: [(seconds, value)]}`` (``gain_db``, ``pan``, ``reverb_send_db``,
        ``eq_<band>_db``), each lane as points in the recipe's units, dense enough for straight
        lines (:func:`mixassist.export.lane_points`).
    master_automation : mapping, optional
        The master's ``{param: [(seconds, value)]}`` (``output_gain_db``, ``eq_<band>_db``).
    """
    automation = automation or {}
    master_automation = master_automation or {}
    ids = _Ids()
    project = ET.Element("Project", {"version": DAWPROJECT_VERSION})
    ET.SubElement(project, "Application", {"name": "mixassist", "version": __version__})
    transport = ET.SubElement(project, "Transport")
    _real(transport, "Tempo", ids, 120.0, "bpm", min=20.0, max=666.0)
    ET.SubElement(transport, "TimeSignature", {"id": ids(), "numerator": "4", "denominator": "4"})
    structure = ET.SubElement(project, "Structure")
    arrangement = ET.Element("Arrangement", {"id": ids()})
    lanes = ET.SubElement(arrangement, "Lanes", {"id": ids(), "timeUnit": "seconds"})

    master_track_id, master_id = ids(), ids()
    reverb_ids = (ids(), ids()) if reverb_return is not None else None
    for entry in recipe["tracks"]:
        name = entry["name"]
        p = _full("track", entry.get("params", {}))
        track_id, channel_id = ids(), ids()
        extras = _track_extras(p)
        if isinstance(entry["file"], list):
            extras.append(f"not in this session: right channel from {entry['file'][1]}")
        channel = _audio_track(
            structure, (track_id, channel_id), name, "regular", master_id, _comment(entry.get("why", {}), extras)
        )
        devices = ET.SubElement(channel, "Devices")
        moving = automation.get(name, {})
        _equalizer(devices, ids, p, f"{name} EQ", hpf=True, moving=moving)
        _compressor(devices, ids, p, f"{name} compressor")
        _bool(channel, "Mute", ids, False)
        _real(channel, "Pan", ids, (float(p["pan"]) + 1.0) / 2.0, "normalized", min=0.0, max=1.0)
        send_db = p["reverb_send_db"]
        if send_db is None and "reverb_send_db" in moving:  # sent only by its lane: the lane's start
            send_db = moving["reverb_send_db"][0][1]
        if reverb_ids is not None and send_db is not None:
            sends = ET.SubElement(channel, "Sends")
            send = ET.SubElement(sends, "Send", {"id": ids(), "destination": reverb_ids[1], "type": "post"})
            _bool(send, "Enable", ids, False)
            _real(send, "Volume", ids, _linear(float(send_db)), "linear", min=0.0, max=2.0)
        _real(channel, "Volume", ids, _linear(float(p["gain_db"])), "linear", min=0.0, max=16.0)
        file = entry["file"][0] if isinstance(entry["file"], list) else entry["file"]
        track_lanes = _clip(lanes, ids, track_id, name, file, stems[name], external=True)
        for param, points in automation.get(name, {}).items():
            _points(track_lanes, ids, channel, param, points)

    if reverb_ids is not None and reverb_return is not None:
        reverb = recipe.get("reverb", {})
        r = _full("reverb", reverb.get("params", {}))
        words = [
            "plays mixassist's printed reverb return; the sends are off so it is not doubled: "
            "replace the clip with your reverb and switch the sends on",
            f"not in this session: RT60 {r['rt60_low_s']:.2f}/{r['rt60_mid_s']:.2f}/{r['rt60_high_s']:.2f} s "
            f"(low/mid/high), pre-delay {r['predelay_ms']:.0f} ms, seed {reverb.get('seed', 0)}",
        ]
        channel = _audio_track(
            structure, reverb_ids, "Reverb", "effect", master_id, _comment(reverb.get("why", {}), words)
        )
        _real(channel, "Pan", ids, 0.5, "normalized", min=0.0, max=1.0)
        _real(channel, "Volume", ids, 1.0, "linear", min=0.0, max=16.0)
        _clip(lanes, ids, reverb_ids[0], "reverb return", EMBEDDED_RETURN, reverb_return, external=False)

    master = recipe.get("master", {})
    m = _full("master", master.get("params", {}))
    limiter_on = m["limiter_ceiling_dbtp"] is not None
    track = ET.SubElement(
        structure,
        "Track",
        {
            "id": master_track_id,
            "name": "Master",
            "contentType": "audio",
            "loaded": "true",
            "comment": _comment(master.get("why", {}), []),
        },
    )
    channel = ET.SubElement(track, "Channel", {"id": master_id, "role": "master", "audioChannels": "2"})
    devices = ET.SubElement(channel, "Devices")
    _equalizer(devices, ids, m, "master EQ", hpf=False, moving=master_automation)
    _compressor(devices, ids, m, "glue compressor")
    limiter = ET.SubElement(
        devices, "Limiter", {"id": ids(), "deviceName": "Limiter", "deviceRole": "audioFX", "name": "true-peak limiter"}
    )
    _bool(limiter, "Enabled", ids, limiter_on)
    _real(limiter, "InputGain", ids, m["output_gain_db"] if limiter_on else 0.0, "decibel")
    _real(limiter, "Release", ids, float(m["limiter_release_ms"]) / 1000.0, "seconds")
    _real(limiter, "Threshold", ids, m["limiter_ceiling_dbtp"] if limiter_on else 0.0, "decibel")
    _real(channel, "Pan", ids, 0.5, "normalized", min=0.0, max=1.0)
    volume = 1.0 if limiter_on else _linear(float(m["output_gain_db"]))
    _real(channel, "Volume", ids, volume, "linear", min=0.0, max=16.0)
    if master_automation:
        master_lanes = ET.SubElement(lanes, "Lanes", {"id": ids(), "track": master_track_id})
        for param, points in master_automation.items():
            _points(master_lanes, ids, channel, param, points)

    project.append(arrangement)
    ET.indent(project)
    return ET.tostring(project, encoding="utf-8", xml_declaration=True)


def metadata_xml(title: str) -> bytes:
    """``metadata.xml``: the title and where the session came from."""
    meta = ET.Element("MetaData")
    ET.SubElement(meta, "Title").text = title
    ET.SubElement(meta, "Comment").text = f"mixed by mixassist {__version__}; the recipe is {EMBEDDED_RECIPE}"
    ET.indent(meta)
    return ET.tostring(meta, encoding="utf-8", xml_declaration=True)


# ---------------------------------------------------------------------------------- reading
def _value(element: ET.Element | None, unit: str, where: str) -> float | None:
    if element is None:
        return None
    if element.get("unit") != unit:
        raise RecipeError(f"{where}: {element.tag} is in unit {element.get('unit')!r}, expected {unit!r}")
    try:
        value = float(element.get("value", ""))
    except ValueError as err:
        raise RecipeError(f"{where}: {element.tag} value {element.get('value')!r} is not a number") from err
    if not math.isfinite(value):
        raise RecipeError(f"{where}: {element.tag} value {value} is not finite")
    return value


def _enabled(element: ET.Element, tag: str = "Enabled") -> bool:
    flag = element.find(tag)
    return flag is None or flag.get("value", "true") == "true"


def _db(linear: float) -> float | None:
    return None if linear <= 0 else 20.0 * math.log10(linear)


def _round(value: float | None) -> float | None:
    """A value read back, to the precision the export wrote (7 significant digits)."""
    return None if value is None else float(f"{value:.7g}")


def _read_eq(eq: ET.Element | None, out: dict[str, Any], where: str, *, hpf: bool) -> None:
    if eq is None:
        return
    on = _enabled(eq)
    bells = [b for b in EQ_BANDS if b[0].startswith("peak")]
    for band in eq.findall("Band"):
        kind = band.get("type")
        freq = _value(band.find("Freq"), "hertz", where)
        if kind == "highPass" and hpf:
            out["hpf_hz"] = freq if on and _enabled(band) else None
            continue
        if kind == "lowShelf":
            key = "low_shelf"
        elif kind == "highShelf":
            key = "high_shelf"
        elif kind == "bell" and bells:
            key = bells.pop(0)[0]
        else:
            raise RecipeError(f"{where}: an EQ band of type {kind!r} has no place on the console")
        gain = _value(band.find("Gain"), "decibel", where)
        q = _value(band.find("Q"), "linear", where)
        out[f"eq_{key}_hz"] = freq
        if gain is not None:
            out[f"eq_{key}_db"] = gain if on and _enabled(band) else 0.0
        if q is not None:
            out[f"eq_{key}_q"] = q


def _read_comp(comp: ET.Element | None, out: dict[str, Any], where: str) -> None:
    if comp is None:
        return
    for tag, key, unit, scale in (
        ("Threshold", "comp_threshold_db", "decibel", 1.0),
        ("Ratio", "comp_ratio", "linear", 1.0),
        ("Attack", "comp_attack_ms", "seconds", 1000.0),
        ("Release", "comp_release_ms", "seconds", 1000.0),
        ("OutputGain", "comp_makeup_db", "decibel", 1.0),
    ):
        value = _value(comp.find(tag), unit, where)
        if value is not None:
            out[key] = _round(value * scale)
    if not _enabled(comp):
        out["comp_ratio"], out["comp_makeup_db"] = 1.0, 0.0


def read_project(xml: bytes, embedded: Mapping[str, Any] | None = None) -> ProjectContents:
    """The recipe (JSON form) of a ``project.xml``; ``embedded`` is the recipe found in the
    container (:data:`EMBEDDED_RECIPE`), which supplies what the XML cannot hold.

    Raises ``RecipeError`` (one line) for XML that is not a DAWproject or a value in a wrong unit.
    """
    try:
        root = ET.fromstring(xml)
    except ET.ParseError as err:
        raise RecipeError(f"project.xml is not valid XML ({err})") from err
    if root.tag != "Project":
        raise RecipeError(f"project.xml's root is <{root.tag}>, not <Project>")
    base = dict(embedded) if embedded else {}
    old_tracks = {t["name"]: t for t in base.get("tracks", []) if isinstance(t, Mapping) and "name" in t}
    files: dict[str, str] = {}
    automated: dict[str, list[tuple[float, float]]] = {}  # parameter id -> points, as written
    for lane in root.iter("Lanes"):
        owner = lane.get("track")
        reference = lane.find("Clips/Clip/Audio/File")
        if owner is not None and reference is not None:
            files[owner] = reference.get("path", "")
        for timeline in lane.findall("Points"):
            automated.update(_read_points(timeline))
    structure = root.find("Structure")
    if structure is None:
        raise RecipeError("project.xml has no <Structure>: no tracks to read")
    from_daw: dict[str, dict[str, Any]] = {}
    tracks: list[dict[str, Any]] = []
    reverb_return_db: float | None = None
    master: dict[str, Any] = {}
    lane_changes: dict[str, list[str]] = {}
    master_lanes: dict[str, Any] = {}
    for track in structure.iter("Track"):
        channel = track.find("Channel")
        if channel is None:
            continue
        name: str = track.get("name") or track.get("id") or "track"
        role = channel.get("role", "regular")
        where = f"track '{name}'"
        volume = _value(channel.find("Volume"), "linear", where)
        if role == "master":
            devices = channel.find("Devices")
            _read_eq(devices.find("Equalizer") if devices is not None else None, master, "master", hpf=False)
            _read_comp(devices.find("Compressor") if devices is not None else None, master, "master")
            limiter = devices.find("Limiter") if devices is not None else None
            gain = _db(volume) if volume is not None else 0.0
            if limiter is not None and _enabled(limiter):
                master["limiter_ceiling_dbtp"] = _value(limiter.find("Threshold"), "decibel", "master")
                gain = (gain or 0.0) + (_value(limiter.find("InputGain"), "decibel", "master") or 0.0)
                release = _value(limiter.find("Release"), "seconds", "master")
                if release is not None:
                    master["limiter_release_ms"] = _round(release * 1000.0)
            elif limiter is not None:
                master["limiter_ceiling_dbtp"] = None
            master["output_gain_db"] = _round(gain)
            old_lanes = (base.get("master") or {}).get("lanes") or {}
            master_lanes, moved = _track_lanes(
                channel, automated, old_lanes, bool(base), "master", AUTOMATABLE["master"]
            )
            if moved:
                lane_changes["master"] = moved
            continue
        if role == "effect":
            reverb_return_db = _round(_db(volume)) if volume is not None else None
            continue
        params: dict[str, Any] = {}
        if volume is not None:
            params["gain_db"] = _round(_db(volume))
        pan = _value(channel.find("Pan"), "normalized", where)
        if pan is not None:
            params["pan"] = _round(pan * 2.0 - 1.0)
        devices = channel.find("Devices")
        if devices is not None:
            _read_eq(devices.find("Equalizer"), params, where, hpf=True)
            _read_comp(devices.find("Compressor"), params, where)
        send = channel.find("Sends/Send")
        send_volume = _value(send.find("Volume"), "linear", where) if send is not None else None
        params["reverb_send_db"] = _round(_db(send_volume)) if send_volume is not None else None
        from_daw[name] = dict(params)
        path = files.get(track.get("id", ""))
        if not path:
            raise RecipeError(f"{where} has no audio clip with a file")
        old = old_tracks.get(name, {})
        entry: dict[str, Any] = {k: v for k, v in old.items() if k not in ("params",)}
        entry["name"] = name
        entry["file"] = old["file"] if isinstance(old.get("file"), list) and old["file"][0] == path else path
        entry["params"] = {**old.get("params", {}), **params}
        lanes, moved = _track_lanes(channel, automated, old.get("lanes") or {}, bool(base), where, AUTOMATABLE["track"])
        entry.pop("lanes", None)
        if lanes:
            entry["lanes"] = lanes
        if moved:
            lane_changes[name] = moved
        tracks.append(entry)
    if not tracks:
        raise RecipeError("project.xml has no audio tracks")
    from_daw["master"] = dict(master)
    recipe: dict[str, Any] = {k: v for k, v in base.items() if k not in ("tracks", "version", "mixassist")}
    lanes_anywhere = any("lanes" in t for t in tracks) or bool(master_lanes)
    recipe["version"] = 4 if lanes_anywhere else 3
    if isinstance(base.get("version"), int) and base["version"] >= 5:  # it names issue 19's settings
        recipe["version"] = base["version"]
    recipe["sample_rate"] = base.get("sample_rate") or _rate(root)
    recipe["tracks"] = tracks
    old_master = dict(base.get("master", {}))
    old_master.pop("lanes", None)
    recipe["master"] = {**old_master, "params": {**old_master.get("params", {}), **master}}
    if master_lanes:
        recipe["master"]["lanes"] = master_lanes
    old_reverb = dict(base.get("reverb", {}))
    reverb_params = dict(old_reverb.get("params", {}))
    if reverb_return_db is not None:
        before = float(reverb_params.get("return_db", 0.0))
        reverb_params["return_db"] = _round(before + reverb_return_db)
        from_daw["reverb"] = {"return_db": reverb_params["return_db"]}
    recipe["reverb"] = {**old_reverb, "params": reverb_params}
    changed = _changed(recipe, base, from_daw)
    for section, names in lane_changes.items():
        changed[section] = [*changed.get(section, []), *(n for n in names if n not in changed.get(section, []))]
    for section, names in changed.items():
        target = (
            next((t for t in tracks if t["name"] == section), None)
            if section not in ("reverb", "master")
            else recipe[section]
        )
        if target is not None:
            target["locked"] = sorted(set(target.get("locked", [])) | set(names))
    return ProjectContents(recipe=json.loads(json.dumps(recipe)), from_daw=from_daw, changed=changed)


def _read_points(timeline: ET.Element) -> dict[str, list[tuple[float, float]]]:
    """``{parameter id: [(time, value)]}`` of one ``Points`` timeline (real points, in seconds)."""
    target = timeline.find("Target")
    parameter = target.get("parameter") if target is not None else None
    if not parameter or timeline.get("timeUnit", "seconds") != "seconds":
        return {}
    points = []
    for point in timeline.findall("RealPoint"):
        try:
            points.append((float(point.get("time", "")), float(point.get("value", ""))))
        except ValueError as err:
            raise RecipeError(f"automation of parameter {parameter}: a point is not a number ({err})") from err
    return {parameter: sorted(points)} if points else {}


def _track_lanes(
    channel: ET.Element,
    automated: Mapping[str, list[tuple[float, float]]],
    old: Mapping[str, Any],
    embedded: bool,
    where: str,
    params: Sequence[str],
) -> tuple[dict[str, Any], list[str]]:
    """A channel's lanes of ``params`` read back, and the settings whose automation the DAW
    changed (all of them without an embedded recipe): the embedded lane where the DAW's points
    lie on it, else the DAW's points as breakpoints; no lane where the DAW has no automation.
    A lane whose parameter the channel does not have (a send lane without a send) stays as
    embedded."""
    lanes: dict[str, Any] = {}
    moved = []
    for param in params:
        target, (_, _, back) = _target(channel, param)
        was = old.get(param)
        if target is None:
            if was is not None:
                lanes[param] = was
            continue
        points = automated.get(target.get("id", ""))
        if points is None or len(points) < 2:
            if was is not None:
                moved.append(param)
            continue
        times = [t for t, _ in points]
        values = [_round(back(v)) for _, v in points]
        if any(v is None for v in values) or any(b <= a for a, b in zip(times, times[1:], strict=False)):
            raise RecipeError(f"{where}: the {param} automation needs increasing times and audible values")
        if was is not None and embedded and _on_lane(was, times, values, _LANE_SAME.get(param, _DB_SAME)):
            lanes[param] = was
            continue
        lanes[param] = {"times_s": times, "values": values}
        moved.append(param)
    return lanes, moved


def _on_lane(lane: Mapping[str, Any], times: list[float], values: list[Any], tolerance: float) -> bool:
    """Whether the points lie on ``lane``'s curve (within ``tolerance``) and span its breakpoints."""
    try:
        curve = lane_curve_numpy(lane["times_s"], lane["values"], np.asarray(times, dtype=float))
    except (KeyError, TypeError, ValueError):
        return False
    ends = math.isclose(times[0], lane["times_s"][0], abs_tol=1e-6) and math.isclose(
        times[-1], lane["times_s"][-1], abs_tol=1e-6
    )
    return ends and bool(np.max(np.abs(curve - np.asarray(values, dtype=float))) <= tolerance)


def _rate(root: ET.Element) -> int:
    """The session rate when there is no embedded recipe: the first clip's file rate."""
    audio = root.find(".//Clip/Audio")
    try:
        return int(audio.get("sampleRate", "44100")) if audio is not None else 44100
    except ValueError as err:
        raise RecipeError("a clip's sampleRate is not a whole number") from err


def _changed(
    recipe: Mapping[str, Any], base: Mapping[str, Any], from_daw: Mapping[str, Mapping[str, Any]]
) -> dict[str, list[str]]:
    """Settings whose DAW value differs from the embedded recipe's (all of them without one)."""
    before: dict[str, Mapping[str, Any]] = {t["name"]: t.get("params", {}) for t in base.get("tracks", [])}
    for bus in ("reverb", "master"):
        if bus in base:
            before[bus] = base[bus].get("params", {})
    out: dict[str, list[str]] = {}
    for section, values in from_daw.items():
        kind = section if section in ("reverb", "master") else "track"
        table = params_for(kind)
        old = before.get(section)
        names = []
        for name, value in values.items():
            if old is None:
                names.append(name)
                continue
            was = old.get(name, table[name].default)
            if (was is None) != (value is None) or (
                was is not None
                and value is not None
                and not math.isclose(float(was), float(value), rel_tol=1e-5, abs_tol=1e-4)
            ):
                names.append(name)
        if names:
            out[section] = names
    return out
