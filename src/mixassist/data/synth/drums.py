"""Real recorded drums: licence-filtered Hydrogen kits, Sonic Pi one-shots and loops.

Kits come from Debian's ``hydrogen-drumkits`` (``/usr/share/hydrogen/data/drumkits``).  Each
kit's licence is read twice, from its ``drumkit.xml`` (``<license>``) and from Debian's
``copyright`` file, and the stricter verdict of :func:`licence_verdict` wins: a kit is used
only when its licence lets us redistribute audio made from it (CC0, CC BY, CC BY-SA, or the
GPL *with* Colombo's composition exception).  Plain GPL kits are left out: the GPL gives no
clear terms for a recording made from samples (what would its "source" be?).

Sonic Pi's samples (``sonic-pi-samples``, CC0 per their README) give an electronic one-shot
kit and drum/percussion loops.

Hits are placed sample-accurately by :func:`place_hits` (velocity layers, softer = darker for
single-layer kits, hi-hat choke, spaced-pair stereo for overheads).
"""

from __future__ import annotations

import functools
import logging
import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr
from scipy.signal import lfilter

from mixassist.audio.io import resample
from mixassist.data.synth.genres import load_table
from mixassist.data.synth.licences import (
    classify_licence,
    debian_licence_for,
    debian_stanzas,
    licence_verdict,
    parse_debian_copyright,
)
from mixassist.errors import MissingDependencyError

__all__ = [
    "KIT_ROOT",
    "DEBIAN_COPYRIGHT",
    "SONIC_PI_SAMPLES",
    "Layer",
    "Kit",
    "Hit",
    "Loop",
    "LOOPS",
    "scan_kits",
    "usable_kits",
    "sonic_pi_kit",
    "sonic_pi_licences",
    "load_sample",
    "place_hits",
    "render_loop",
]

log = logging.getLogger(__name__)

KIT_ROOT = Path("/usr/share/hydrogen/data/drumkits")
DEBIAN_COPYRIGHT = Path("/usr/share/doc/hydrogen-drumkits/copyright")
SONIC_PI_SAMPLES = Path("/usr/share/sonic-pi/samples")
SONIC_PI_COPYRIGHT = Path("/usr/share/doc/sonic-pi-samples/copyright")

#: Canonical drum slots and the regular expressions that find them in kit instrument names
#: (first matching instrument of a kit wins; order matters: ride before crash).
SLOT_PATTERNS: tuple[tuple[str, str], ...] = (
    ("kick", r"bass ?drum|kick|\bbd\b"),
    ("snare", r"snare(?!.*roll)"),
    ("clap", r"clap"),
    ("stick", r"stick|rim"),
    ("hat_closed", r"closed.*(hh|hat)|(hh|hat).*closed"),
    ("hat_open", r"open.*(hh|hat)|(hh|hat).*open"),
    ("hat_pedal", r"pedal"),
    ("tom_high", r"(hi|high).*tom|tom.*(hi|high)"),
    ("tom_mid", r"(mid|middle).*tom|tom.*mid|^tom$"),
    ("tom_low", r"(low|floor).*tom|tom.*(low|floor)"),
    ("ride_bell", r"ride.*(bell|cup)|(bell|cup).*ride|ride-cup"),
    ("ride", r"ride"),
    ("crash", r"crash"),
    ("cowbell", r"cowbell"),
)
_DRUMKIT_SLOTS = ("kick", "snare", "hat_closed")


@dataclass(frozen=True)
class Layer:
    """One sample of a kit instrument, used for velocities ``min_velocity..max_velocity`` (0-1)."""

    path: Path
    min_velocity: float = 0.0
    max_velocity: float = 1.0
    gain: float = 1.0


@dataclass(frozen=True)
class Kit:
    """A drum or percussion kit and its licence verdict.

    Attributes
    ----------
    name : str
        Folder name of the kit (recorded in ``song.json``).
    licence : str
        Short licence identifier ("CC-BY-3.0", "CC0-1.0", ...), or the raw text when unknown.
    allowed : bool
        Whether audio made from the kit may be redistributed (see :func:`licence_verdict`).
    reason : str
        Why it is allowed or not.
    credit : str
        One line for the song's licence notes (author, licence, source).
    slots : mapping of str to tuple of Layer
        Canonical slot ("kick", "snare", "hat_closed", ...) to its velocity layers.
    instruments : mapping of str to tuple of Layer
        Every named instrument of the kit (for percussion kits such as djembes).
    """

    name: str
    licence: str
    allowed: bool
    reason: str
    credit: str
    slots: Mapping[str, tuple[Layer, ...]] = field(default_factory=dict)
    instruments: Mapping[str, tuple[Layer, ...]] = field(default_factory=dict)
    single_layer: bool = True

    @property
    def is_drumkit(self) -> bool:
        """True when the kit has at least a kick, a snare and a closed hi-hat."""
        return all(s in self.slots for s in _DRUMKIT_SLOTS)

    def __repr__(self) -> str:
        return f"Kit({self.name!r}, licence={self.licence!r}, allowed={self.allowed}, slots={sorted(self.slots)})"


def _strip_ns(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _child_text(node: ET.Element, name: str) -> str | None:
    for child in node:
        if _strip_ns(child.tag) == name:
            return child.text
    return None


def _read_kit(kit_dir: Path, stanzas: list[tuple[list[str], str]]) -> Kit | None:
    try:
        root = ET.parse(kit_dir / "drumkit.xml").getroot()
    except (OSError, ET.ParseError) as err:
        log.debug("%s: unreadable drumkit.xml (%s)", kit_dir, err)
        return None
    xml_licence = _child_text(root, "license")
    author = (_child_text(root, "author") or "unknown author").strip()
    debian = debian_licence_for(kit_dir, stanzas)
    allowed, licence, reason = licence_verdict(xml_licence, debian)
    instruments: dict[str, tuple[Layer, ...]] = {}
    multi = False
    for node in root.iter():
        if _strip_ns(node.tag) != "instrument":
            continue
        name = (_child_text(node, "name") or "").strip()
        layers = []
        for child in node.iter():
            if _strip_ns(child.tag) != "layer":
                continue
            fname = _child_text(child, "filename")
            if fname:
                layers.append(
                    Layer(
                        kit_dir / fname,
                        float(_child_text(child, "min") or 0.0),
                        float(_child_text(child, "max") or 1.0),
                        float(_child_text(child, "gain") or 1.0),
                    )
                )
        if not layers and _child_text(node, "filename"):  # old single-sample format
            layers.append(Layer(kit_dir / str(_child_text(node, "filename"))))
        layers = [lay for lay in layers if lay.path.is_file()]
        if name and layers and name not in instruments:
            instruments[name] = tuple(layers)
            multi = multi or len(layers) > 1
    slots: dict[str, tuple[Layer, ...]] = {}
    for slot, pattern in SLOT_PATTERNS:
        for name, kit_layers in instruments.items():
            if any(kit_layers is used for used in slots.values()):
                continue
            if re.search(pattern, name.lower()):
                slots[slot] = kit_layers
                break
    credit = (
        f"Drum samples: Hydrogen drum kit '{kit_dir.name}' by {author}, {licence} (Debian package hydrogen-drumkits)."
    )
    return Kit(kit_dir.name, licence, allowed, reason, credit, slots, instruments, single_layer=not multi)


@functools.lru_cache(maxsize=4)
def scan_kits(root: Path = KIT_ROOT, copyright_file: Path = DEBIAN_COPYRIGHT) -> tuple[Kit, ...]:
    """Every Hydrogen kit under ``root`` with its licence verdict, sorted by name."""
    stanzas = parse_debian_copyright(copyright_file)
    if not Path(root).is_dir():
        return ()
    kits = []
    for kit_dir in sorted(p for p in Path(root).iterdir() if (p / "drumkit.xml").is_file()):
        kit = _read_kit(kit_dir, stanzas)
        if kit is not None:
            kits.append(kit)
    return tuple(kits)


def usable_kits(root: Path = KIT_ROOT, copyright_file: Path = DEBIAN_COPYRIGHT) -> dict[str, Kit]:
    """The allowed kits by name.

    Raises
    ------
    MissingDependencyError
        No allowed drum kit is installed (``apt-get install hydrogen-drumkits``).
    """
    kits = {k.name: k for k in scan_kits(Path(root), Path(copyright_file)) if k.allowed}
    if not any(k.is_drumkit for k in kits.values()):
        raise MissingDependencyError(
            f"no drum kit with a redistributable licence found in {root}; "
            "install them with: apt-get install hydrogen-drumkits"
        )
    return kits


# Sonic Pi one-shots grouped into slots: an electronic kit (CC0)
_SONIC_PI_SLOTS = {
    "kick": ("bd_haus", "bd_klub", "bd_808", "bd_tek", "bd_zum", "bd_fat", "bd_pure", "bd_ada"),
    "snare": ("sn_dub", "sn_zome", "elec_snare", "elec_hi_snare", "elec_mid_snare"),
    "clap": ("perc_snap", "perc_snap2", "elec_filt_snare"),
    "hat_closed": ("drum_cymbal_closed", "elec_tick"),
    "hat_open": ("drum_cymbal_open",),
    "hat_pedal": ("drum_cymbal_pedal",),
    "crash": ("drum_splash_hard", "drum_cymbal_hard", "elec_cymbal"),
    "ride": ("drum_cymbal_soft",),
    "tom_high": ("drum_tom_hi_hard", "elec_fuzz_tom"),
    "tom_mid": ("drum_tom_mid_hard",),
    "tom_low": ("drum_tom_lo_hard",),
    "cowbell": ("drum_cowbell", "elec_wood"),
}


def sonic_pi_licences(root: Path | None = None, copyright_file: Path | None = None) -> dict[str, str]:
    """Sonic Pi samples that may be used, by name, with a credit line each.

    A sample is used when Debian's copyright file gives it its own stanza with an allowed
    licence (all such stanzas say CC0 and name the freesound.org source).  Samples covered
    only by the catch-all ``Files: *`` (MIT, the software's licence) are left out: their
    provenance is not stated.  Without Debian's copyright file (documentation stripped from
    the system), the samples' README, which dedicates every sample of its folder to the public
    domain (CC0), is relied on.
    """
    return dict(_sonic_pi_licences(root or SONIC_PI_SAMPLES, copyright_file or SONIC_PI_COPYRIGHT))


@functools.lru_cache(maxsize=4)
def _sonic_pi_licences(root: Path, copyright_file: Path) -> dict[str, str]:
    out: dict[str, str] = {}
    stanzas = debian_stanzas(copyright_file)
    if stanzas:
        for st in stanzas:
            allowed, licence, _ = licence_verdict(None, str(st["licence"]))
            for pattern in st["patterns"]:
                m = re.fullmatch(r"etc/samples/([A-Za-z0-9_]+)\.flac", str(pattern))
                if m and allowed and (root / f"{m.group(1)}.flac").is_file():
                    source = f", {st['source']}" if st["source"] else ""
                    out[m.group(1)] = f"'{m.group(1)}' by {st['copyright'] or 'unknown'}{source}, {licence}"
        return out
    readme = root / "README.md"
    try:
        text = readme.read_text(errors="replace")
    except OSError:
        return out
    if classify_licence(text) == "CC0-1.0":
        for path in sorted(root.glob("*.flac")):
            out[path.stem] = f"'{path.stem}' (Sonic Pi samples README: CC0-1.0)"
    return out


def sonic_pi_kit(rng: np.random.Generator, root: Path | None = None) -> Kit:
    """An electronic kit of Sonic Pi one-shots, one sample per slot drawn from ``rng``.

    Only samples allowed by :func:`sonic_pi_licences` are drawn; the kit's credit names them.

    Raises
    ------
    MissingDependencyError
        The samples are not installed (``apt-get install sonic-pi-samples``).
    """
    root = root or SONIC_PI_SAMPLES
    allowed = sonic_pi_licences(root)
    slots: dict[str, tuple[Layer, ...]] = {}
    used = []
    for slot, names in _SONIC_PI_SLOTS.items():
        present = [n for n in names if n in allowed]
        if present:
            name = present[int(rng.integers(len(present)))]
            slots[slot] = (Layer(root / f"{name}.flac"),)
            used.append(allowed[name])
    if not all(s in slots for s in _DRUMKIT_SLOTS):
        raise MissingDependencyError(
            f"Sonic Pi samples not found in {root}; install them with: apt-get install sonic-pi-samples"
        )
    credit = "Drum samples from Sonic Pi (Debian package sonic-pi-samples), freesound.org: " + "; ".join(used) + "."
    return Kit(
        "sonic-pi-samples",
        "CC0-1.0",
        True,
        "CC0: public-domain dedication, no conditions",
        credit,
        slots,
        {},
        single_layer=True,
    )


# --------------------------------------------------------------------------------------
# Samples and hits
# --------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=256)
def load_sample(path: Path, sample_rate: int, max_seconds: float = 5.0) -> np.ndarray:
    """A one-shot as float32 ``(channels, samples)`` at ``sample_rate``, peak-normalised.

    Leading silence (below -40 dB of the peak) is trimmed to 1 ms before the onset, the tail
    is cut at ``max_seconds`` and faded over 5 ms.  The array is read-only (it is cached).
    """
    try:
        data, rate = sf.read(str(path), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, OSError) as err:
        raise MissingDependencyError(f"cannot read drum sample ({err}); reinstall its package", path) from err
    x = np.ascontiguousarray(data[:, :2].T)
    if rate != sample_rate:
        x = resample(x, int(rate), int(sample_rate))
    peak = float(np.max(np.abs(x))) if x.size else 0.0
    if peak <= 0:
        return np.zeros((x.shape[0], 1), np.float32)
    env = np.max(np.abs(x), axis=0)
    onset = int(np.argmax(env > peak * 10 ** (-40 / 20)))
    x = x[:, max(0, onset - int(0.001 * sample_rate)) :][:, : int(max_seconds * sample_rate)]
    fade = min(x.shape[1], int(0.005 * sample_rate))
    x = x.copy()
    x[:, x.shape[1] - fade :] *= np.linspace(1.0, 0.0, fade, dtype=np.float32)
    x /= peak
    x.setflags(write=False)
    return x


@dataclass(frozen=True)
class Hit:
    """One drum hit: time in seconds, MIDI-like velocity 1-127, slot, and stereo position -1..1."""

    time_s: float
    velocity: float
    slot: str
    pan: float = 0.0


def _soft_lowpass(x: np.ndarray, velocity: float, sample_rate: int) -> np.ndarray:
    """Softer hits are darker: a one-pole low-pass from 2.5 kHz (soft) up to off (full)."""
    cutoff_hz = 2500.0 * (8.0 ** (velocity / 127.0))
    if cutoff_hz >= 0.4 * sample_rate or cutoff_hz >= 18000:
        return x
    a = np.exp(-2 * np.pi * cutoff_hz / sample_rate)
    return lfilter([1 - a], [1, -a], x, axis=-1).astype(np.float32)


def _pick_layer(layers: Sequence[Layer], velocity: float, rng: np.random.Generator) -> Layer:
    v = velocity / 127.0
    fits = [lay for lay in layers if lay.min_velocity <= v <= lay.max_velocity]
    if not fits:
        fits = [min(layers, key=lambda lay: min(abs(lay.min_velocity - v), abs(lay.max_velocity - v)))]
    return fits[int(rng.integers(len(fits)))] if len(fits) > 1 else fits[0]


def place_hits(
    n: int,
    hits: Sequence[Hit],
    samples: Mapping[str, Sequence[tuple[Layer, np.ndarray]]],
    sample_rate: int,
    *,
    channels: int = 1,
    rng: np.random.Generator,
    choke: Mapping[str, set[str]] | None = None,
    velocity_layers: bool = False,
    darken: bool = True,
) -> np.ndarray:
    """Sum one-shot samples at their hit times into a ``(channels, n)`` float32 track.

    Parameters
    ----------
    n : int
        Output length in samples.
    hits : sequence of Hit
        Times in seconds (placed at ``round(time_s * sample_rate)``), velocities 1-127.
    samples : mapping
        Slot to its ``(Layer, audio)`` pairs; audio is ``(channels, samples)`` at
        ``sample_rate``.
    channels : {1, 2}
        Mono (samples are downmixed) or stereo: a mono sample is placed as a spaced pair,
        the far side later by up to 0.6 ms and quieter (``Hit.pan``).
    rng : numpy.random.Generator
        Picks among equally fitting velocity layers (round robin).
    choke : mapping, optional
        Slot to the slots that cut it off (an open hi-hat is choked by the closed one).
    velocity_layers : bool
        True when the kit has velocity layers: the gain then follows velocity linearly
        (the layer carries the timbre); otherwise as ``(velocity/127)**1.7``.
    darken : bool
        Low-pass softer hits of single-layer kits.

    Returns
    -------
    numpy.ndarray
        Float32 ``(channels, n)``.
    """
    out = np.zeros((channels, n), np.float32)
    ordered = sorted(hits, key=lambda h: (h.time_s, h.slot))
    for i, hit in enumerate(ordered):
        choices = samples.get(hit.slot)
        if not choices:
            continue
        layer = _pick_layer([lay for lay, _ in choices], hit.velocity, rng)
        x = next(a for lay, a in choices if lay is layer)
        vel = float(np.clip(hit.velocity, 1, 127))
        gain = layer.gain * ((vel / 127.0) if velocity_layers else (vel / 127.0) ** 1.7)
        s = x * np.float32(gain)
        if darken and not velocity_layers:
            s = _soft_lowpass(s, vel, sample_rate)
        start = int(round(hit.time_s * sample_rate))
        if start >= n:
            continue
        if choke and hit.slot in choke:
            nxt = next((h for h in ordered[i + 1 :] if h.slot in choke[hit.slot]), None)
            if nxt is not None:
                stop = int(round(nxt.time_s * sample_rate)) - start
                if 0 < stop < s.shape[1]:
                    fade = min(int(0.012 * sample_rate), s.shape[1] - stop)
                    s = s[:, : stop + fade].copy()
                    s[:, stop:] *= np.linspace(1.0, 0.0, fade, dtype=np.float32)
        if channels == 1:
            s = s.mean(axis=0, keepdims=True)
        elif s.shape[0] == 1:
            s = _spaced_pair(s[0], hit.pan, sample_rate)
        if start < 0:
            s = s[:, -start:]
            start = 0
        end = min(n, start + s.shape[1])
        out[:, start:end] += s[:, : end - start]
    return out


def _spaced_pair(x: np.ndarray, pan: float, sample_rate: int) -> np.ndarray:
    """A mono source seen by a spaced pair: the far microphone hears it later and quieter."""
    pan = float(np.clip(pan, -1.0, 1.0))
    lag = int(round(abs(pan) * 0.0006 * sample_rate))
    near, far = 1.0, 10 ** (-6.0 * abs(pan) / 20)
    delayed = np.concatenate([np.zeros(lag, np.float32), x])
    direct = np.concatenate([x, np.zeros(lag, np.float32)])
    left, right = (direct * near, delayed * far) if pan <= 0 else (delayed * far, direct * near)
    return np.stack([left, right]).astype(np.float32)


def kit_samples(kit: Kit, slots: Sequence[str], sample_rate: int) -> dict[str, list[tuple[Layer, np.ndarray]]]:
    """Load the layers of ``slots`` (absent slots are skipped), normalised per slot."""
    out: dict[str, list[tuple[Layer, np.ndarray]]] = {}
    for slot in slots:
        layers = kit.slots.get(slot) or kit.instruments.get(slot)
        if not layers:
            continue
        loaded = [(lay, load_sample(lay.path, sample_rate)) for lay in layers]
        out[slot] = loaded
    return out


# --------------------------------------------------------------------------------------
# Loops
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Loop:
    """A Sonic Pi loop: file stem and how many beats it holds (its tempo follows from its length)."""

    name: str
    beats: int
    instrument: str


#: Loops with a clear beat count (checked by onset autocorrelation).  The 97-BPM set by hullum
#: has no stanza of its own in Debian's copyright file, so it is only used where that file is
#: absent and the samples' README (CC0 for the whole folder) is relied on.
#: (The table is ``loops.json``: name, beats, instrument per loop.)
LOOPS: tuple[Loop, ...] = tuple(Loop(name, beats, instrument) for name, beats, instrument in load_table("loops.json"))


def loop_tempo_bpm(loop: Loop, root: Path | None = None) -> float | None:
    """The loop's native tempo from its length and beat count; None when it is not installed."""
    path = (root or SONIC_PI_SAMPLES) / f"{loop.name}.flac"
    try:
        info = sf.info(str(path))
    except (sf.LibsndfileError, RuntimeError, OSError):
        return None
    return loop.beats * 60.0 / info.duration


def fitting_loops(tempo_bpm: float, root: Path | None = None, max_stretch: float = 0.2) -> list[tuple[Loop, float]]:
    """Loops that can be sped up or slowed down by at most ``max_stretch`` to ``tempo_bpm``.

    Returns ``(loop, beats_per_loop)`` pairs; a loop may be read at double or half its beat
    count (a 4-beat loop at 70 BPM is an 8-beat loop at 140 BPM).
    """
    out = []
    allowed = sonic_pi_licences(root)
    for loop in LOOPS:
        if loop.name not in allowed:
            continue
        native = loop_tempo_bpm(loop, root)
        if native is None:
            continue
        for factor in (1.0, 2.0, 0.5):
            ratio = tempo_bpm / (native * factor)
            beats = loop.beats * factor
            if abs(ratio - 1.0) <= max_stretch and beats >= 2 and float(beats).is_integer():
                out.append((loop, beats))
                break
    return out


def render_loop(
    loop: Loop,
    beats: float,
    tempo_bpm: float,
    n: int,
    sample_rate: int,
    active: Sequence[tuple[float, float]],
    root: Path | None = None,
) -> np.ndarray:
    """Tile a loop, varispeeded to ``tempo_bpm``, over the beat ranges in ``active``.

    Parameters
    ----------
    loop : Loop
        Which loop.
    beats : float
        How many song beats one pass of the loop lasts.
    tempo_bpm : float
        Song tempo.
    n : int
        Output length in samples.
    active : sequence of (start_beats, end_beats)
        Where the loop plays; each range starts a fresh pass at its start (bar-aligned).

    Returns
    -------
    numpy.ndarray
        Float32 ``(2, n)``.
    """
    path = (root or SONIC_PI_SAMPLES) / f"{loop.name}.flac"
    try:
        data, rate = sf.read(str(path), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, OSError) as err:
        raise MissingDependencyError(
            f"cannot read the loop ({err}); install it with: apt-get install sonic-pi-samples", path
        ) from err
    x = np.ascontiguousarray(data[:, :2].T)
    if x.shape[0] == 1:
        x = np.repeat(x, 2, axis=0)
    pass_s = beats * 60.0 / tempo_bpm
    # varispeed: resample so the loop lasts exactly pass_s seconds at sample_rate
    target_len = int(round(pass_s * sample_rate))
    y = soxr.resample(x.T, rate, rate * target_len / x.shape[1], quality="HQ").T
    y = np.ascontiguousarray(y[:, :target_len], dtype=np.float32)
    out = np.zeros((2, n), np.float32)
    beat_s = 60.0 / tempo_bpm
    for start_b, end_b in active:
        t = start_b
        while t < end_b - 1e-9:
            a = int(round(t * beat_s * sample_rate))
            b = min(n, int(round(min(end_b, t + beats) * beat_s * sample_rate)))
            if a >= n:
                break
            seg = y[:, : max(0, b - a)].copy()
            fade = min(seg.shape[1], int(0.004 * sample_rate))
            if fade:
                seg[:, seg.shape[1] - fade :] *= np.linspace(1.0, 0.0, fade, dtype=np.float32)
            out[:, a : a + seg.shape[1]] += seg
            t += beats
    return out
