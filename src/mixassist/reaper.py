"""A REAPER project (``.rpp``, plain text) from a recipe: the raw stems on tracks with the
recipe's fader, pan, polarity and delay, sends to a reverb bus, the printed stems on muted
alternate tracks, section markers, and the reasons in the notes.

What REAPER can take as text is written as text:

- fader (``VOLPAN`` volume, linear: ``10 ** (gain_db / 20)``), pan (``VOLPAN`` pan, −1…1, the
  recipe's value), polarity (``IPHASE``), delay (the item's ``POSITION``: the console delays a
  track by ``delay_ms``, REAPER starts its item that much later);
- reverb sends (``AUXRECV`` on the bus: post-fader, volume ``10 ** (reverb_send_db / 20)``);
- project notes (``<NOTES``) and, per track, SWS track notes (``<S&M_TRACKNOTES {GUID}``,
  shown by the SWS extension's Notes window), keyed by deterministic GUIDs;
- markers (``MARKER``) for the recipe's sections, when it has any;
- automation lanes (recipe version 4) as track envelopes, each point ``PT time value shape``
  with shape 0 (linear): ``gain_db`` as ``<VOLENV2`` (the post-FX *Volume* envelope; its values
  are amplitude, ``10 ** (dB / 20)``, as ``VOLPAN``'s volume — no ``VOLTYPE 1`` line, which
  would make them fader-scaled) and ``pan`` as ``<PANENV2`` (*Pan*; REAPER's pan envelope runs
  +1 = left … −1 = right, the inverse of ``VOLPAN``'s pan, so the value written is −pan).  The
  lane's raised-cosine segments are given as their breakpoints plus points between them, close
  enough that REAPER's straight lines stay within 0.01 dB (0.001 in pan) of the curve
  (:func:`mixassist.export.lane_points`); a left/right pair gets the gain envelope on both
  halves, and no pan envelope (its halves are hard-panned).  A ``reverb_send_db`` lane is the
  send's *Receive Volume* envelope, ``<AUXVOLENV`` right after the bus's ``AUXRECV`` line of
  that track (amplitudes, as the send's volume; a track sent only by its lane gets a send at
  the lane's first value), on both halves of a pair.  The master's ``output_gain_db`` lane is
  the master track's volume envelope, ``<MASTERVOLENV2`` (amplitudes) at the project level:
  REAPER's master has no limiter here, so the envelope carries the ride and the notes name the
  rest of the master chain.  EQ-gain lanes cannot be written (no EQ settings can, below): the
  track notes and the project notes say so, one line per lane.

What it cannot: REAPER stores ReaEQ, ReaComp and ReaVerbate settings as each plug-in's binary
state (base64 inside ``<VST``), whose layout Cockos does not publish, so no EQ, compressor or
reverb settings are written into plug-ins. Those settings are in the notes (in their units), and
the sound is carried by the printed stems (``printed/``) on muted alternate tracks: unmute them
(and mute the raw tracks) to hear the mix as mixassist made it. The reverb bus has no plug-in;
it is muted so the sends do not add dry signal until a reverb is inserted on it.

The writer works on the recipe's JSON data (``Recipe.to_dict``), so it depends on nothing but
the standard library; stem paths are passed in already relative to the project's folder.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import PurePath

__all__ = ["REAPER_LANES", "REAPER_SOURCES", "ReaperItem", "guid", "reaper_project"]

#: The track lanes a REAPER project carries as envelopes (and the master's ``output_gain_db``).
REAPER_LANES = ("gain_db", "pan", "reverb_send_db")

#: REAPER's source type by file extension (``<SOURCE TYPE``); anything else is read as WAVE.
REAPER_SOURCES = {".wav": "WAVE", ".flac": "FLAC", ".mp3": "MP3", ".ogg": "VORBIS", ".aif": "WAVE", ".aiff": "WAVE"}


@dataclass(frozen=True)
class ReaperItem:
    """One media file on a track: its path as the project should name it (relative to the
    project's folder, or absolute) and its length in seconds."""

    path: str
    length_s: float
    channel: str = ""  # "L" or "R": one (mono) file of a left/right pair


@dataclass
class _Track:
    name: str
    items: list[ReaperItem]
    gain_db: float = 0.0
    pan: float = 0.0
    invert: bool = False
    delay_ms: float = 0.0
    muted: bool = False
    notes: list[str] = field(default_factory=list)
    folder: int = 0  # ISBUS: 1 opens a folder, 2 closes it
    send_db: float | None = None
    envelopes: dict[str, Sequence[tuple[float, float]]] = field(default_factory=dict)


def guid(*parts: str) -> str:
    """A GUID in REAPER's form (``{XXXXXXXX-…}``), the same for the same ``parts``, so one
    recipe always gives the same project text."""
    return "{" + str(uuid.uuid5(uuid.NAMESPACE_URL, "mixassist:" + "/".join(parts))).upper() + "}"


def _quote(text: str) -> str:
    """An RPP string: double quotes (quotes inside become single quotes; REAPER has no escape)."""
    return '"' + str(text).replace('"', "'").replace("\n", " ") + '"'


def _num(value: float) -> str:
    return f"{float(value):.10g}"


def _notes_block(lines: Iterable[str], indent: str) -> list[str]:
    return [f"{indent}|{line}".rstrip() if line else f"{indent}|" for line in lines]


def reaper_project(
    recipe: Mapping,
    items: Mapping[str, Sequence[ReaperItem]],
    *,
    notes: Mapping[str, Sequence[str]] | None = None,
    project_notes: Sequence[str] = (),
    printed: Mapping[str, ReaperItem] | None = None,
    markers: Sequence[tuple[float, str]] = (),
    envelopes: Mapping[str, Mapping[str, Sequence[tuple[float, float]]]] | None = None,
    master_envelope: Sequence[tuple[float, float]] = (),
) -> str:
    """The ``.rpp`` text of a recipe.

    Parameters
    ----------
    recipe : mapping
        A recipe's JSON data (``Recipe.to_dict()``, version 1–3).
    items : mapping of track name to ReaperItem
        Each track's raw stem (two for a left/right pair, ``channel`` ``"L"`` and ``"R"``).
    notes : mapping of section to lines, optional
        Text per track (and ``"reverb"``) for its SWS track notes.
    project_notes : sequence of str
        Lines of the project notes (*View → Project notes*).
    printed : mapping of name to ReaperItem, optional
        Printed stems (the track's post-strip signal; ``"reverb"`` the reverb return), put on
        muted tracks in a folder ``printed (mixassist)``.
    markers : sequence of (seconds, name)
        Section markers.
    envelopes : mapping of track name to {param: [(seconds, value)]}, optional
        Each track's ``gain_db``, ``pan`` and ``reverb_send_db`` automation as points in the
        recipe's units (dB; −1 = left), already dense enough for straight lines between them.
    master_envelope : sequence of (seconds, dB)
        The master's ``output_gain_db`` automation, likewise.

    Returns
    -------
    str
        The project, lines joined by ``\\n``, ending in a newline.
    """
    notes = notes or {}
    envelopes = envelopes or {}
    tracks: list[_Track] = []
    for entry in recipe.get("tracks", []):
        name = entry["name"]
        p = entry.get("params", {}) or {}
        strip = _Track(
            name,
            list(items.get(name, ())),
            gain_db=float(p.get("gain_db") or 0.0),
            pan=float(p.get("pan") or 0.0),
            invert=float(p.get("polarity") or 1.0) < 0,
            delay_ms=float(p.get("delay_ms") or 0.0),
            notes=list(notes.get(name, ())),
            send_db=None if p.get("reverb_send_db") is None else float(p["reverb_send_db"]),
            envelopes={k: v for k, v in envelopes.get(name, {}).items() if k in _ENVELOPES},
        )
        if strip.send_db is None and strip.envelopes.get("reverb_send_db"):  # sent only by its lane
            strip.send_db = float(strip.envelopes["reverb_send_db"][0][1])
        if len(strip.items) == 2:  # a left/right pair: two mono tracks, hard left and right, one fader
            gain_only = {k: v for k, v in strip.envelopes.items() if k != "pan"}
            for item, pan, side in zip(strip.items, (-1.0, 1.0), "LR", strict=True):
                name_ = f"{name} {item.channel or side}"
                tracks.append(replace(strip, name=name_, items=[item], pan=pan, envelopes=gain_only))
        else:
            tracks.append(strip)
    sends = {i: t.send_db for i, t in enumerate(tracks) if t.send_db is not None and math.isfinite(t.send_db)}
    send_envelopes = {i: tracks[i].envelopes.get("reverb_send_db") for i in sends}
    bus = _Track("reverb bus", [], muted=True, notes=list(notes.get("reverb", ())))
    bus_index = len(tracks)
    tracks.append(bus)
    if printed:
        tracks.append(_Track("printed (mixassist)", [], folder=1, notes=["The printed stems: unmute to hear the mix."]))
        keys = list(printed)
        for k, key in enumerate(keys):
            t = _Track(f"{key} (printed)", [printed[key]], muted=True, folder=2 if k == len(keys) - 1 else 0)
            tracks.append(t)

    rate = int(recipe.get("sample_rate", 44100))
    out = ['<REAPER_PROJECT 0.1 "6.0/mixassist" 0']
    out += ["  <NOTES 0 2", *_notes_block(project_notes, "    "), "  >"]
    out += [f"  SAMPLERATE {rate} 0 0", "  TEMPO 120 4 4"]
    if master_envelope:
        out += _envelope("output_gain_db", master_envelope, guid("envelope", "master", "output_gain_db"), "  ")
    for index, name in enumerate(markers):
        seconds, label = name
        out.append(f"  MARKER {index + 1} {_num(seconds)} {_quote(label)} 0")
    for i, t in enumerate(tracks):
        gid = guid("track", str(i), t.name)
        out += [
            f"  <TRACK {gid}",
            f"    NAME {_quote(t.name)}",
            f"    VOLPAN {_num(10.0 ** (t.gain_db / 20.0))} {_num(t.pan)} -1 -1 1",
            f"    MUTESOLO {int(t.muted)} 0 0",
            f"    IPHASE {int(t.invert)}",
            f"    ISBUS {t.folder} {1 if t.folder == 1 else (-1 if t.folder == 2 else 0)}",
            "    NCHAN 2",
            f"    TRACKID {gid}",
        ]
        if i == bus_index:
            for source, send_db in sends.items():
                out.append(f"    AUXRECV {source} 0 {_num(10.0 ** (send_db / 20.0))} 0 0 0 0 0 0 -1:U 0 -1 ''")
                if send_envelopes[source]:  # the send's envelope follows its AUXRECV line
                    gid = guid("envelope", str(source), tracks[source].name, "reverb_send_db")
                    out += _envelope("reverb_send_db", send_envelopes[source] or (), gid)
        out.append("    MAINSEND 1 0")
        for param, points in t.envelopes.items():
            if param != "reverb_send_db":  # (on the bus, above)
                out += _envelope(param, points, guid("envelope", str(i), t.name, param))
        for item in t.items:
            out += _item(item, t.delay_ms / 1000.0, guid("item", str(i), t.name, item.path))
        out.append("  >")
    noted = [(guid("track", str(i), t.name), t.notes) for i, t in enumerate(tracks) if t.notes]
    if noted:
        out.append("  <EXTENSIONS")
        for gid, lines in noted:
            out += [f"    <S&M_TRACKNOTES {gid}", *_notes_block(lines, "      "), "    >"]
        out.append("  >")
    out.append(">")
    return "\n".join(out) + "\n"


def _amplitude(db: float) -> float:
    return 10.0 ** (db / 20.0)


#: Envelope chunk and the value REAPER stores, per automated setting.
_ENVELOPES = {
    "gain_db": ("VOLENV2", _amplitude),
    "pan": ("PANENV2", lambda pan: -pan),
    "reverb_send_db": ("AUXVOLENV", _amplitude),
    "output_gain_db": ("MASTERVOLENV2", _amplitude),
}


def _envelope(param: str, points: Sequence[tuple[float, float]], gid: str, indent: str = "    ") -> list[str]:
    """One envelope: active, visible, armed off, linear points (``PT time value 0``)."""
    tag, convert = _ENVELOPES[param]
    inner = indent + "  "
    lines = [
        f"{indent}<{tag}",
        f"{inner}EGUID {gid}",
        f"{inner}ACT 1 -1",
        f"{inner}VIS 1 1 1",
        f"{inner}LANEHEIGHT 0 0",
        f"{inner}ARM 0",
        f"{inner}DEFSHAPE 0 -1 -1",
    ]
    lines += [f"{inner}PT {_num(t)} {_num(convert(v))} 0" for t, v in points]
    return [*lines, f"{indent}>"]


def _item(item: ReaperItem, position_s: float, gid: str) -> list[str]:
    """One ``<ITEM``: the whole file from ``position_s``, not looped."""
    source = REAPER_SOURCES.get(PurePath(item.path).suffix.lower(), "WAVE")
    lines = [
        "    <ITEM",
        f"      POSITION {_num(position_s)}",
        f"      LENGTH {_num(item.length_s)}",
        "      LOOP 0",
        f"      IGUID {gid}",
        f"      NAME {_quote(PurePath(item.path).name)}",
    ]
    lines += [f"      <SOURCE {source}", f"        FILE {_quote(item.path)}", "      >", "    >"]
    return lines
