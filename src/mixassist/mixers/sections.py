"""The song's sections: labelled time spans, given by the user or detected from the stems.

``mix --sections sections.csv`` gives them: one section per line, ``start_s,stop_s,label``
(a header line ``start_s,stop_s,label`` is allowed; ``#`` starts a comment), or
``start_s,label`` lines where each section ends where the next starts (the last at the song's
end).  :func:`detect_sections` finds them from the audio (:mod:`mixassist.mixers.structure`).
The rules mixer names them in its reasons; the recipe keeps them in its ``context``.
"""

from __future__ import annotations

import csv
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mixassist.errors import InvalidParameterError

__all__ = ["MAX_SECTIONS", "Section", "clip_sections", "read_sections", "sections_from_dicts", "sections_to_dicts"]

#: Most sections a file may give.
MAX_SECTIONS = 1000


@dataclass(frozen=True)
class Section:
    """A labelled stretch of the song: ``start_s`` … ``stop_s`` (seconds; ``inf``: to the song's
    end, see :func:`clip_sections`), ``label``."""

    start_s: float
    stop_s: float
    label: str

    def __post_init__(self) -> None:
        if not (math.isfinite(self.start_s) and not math.isnan(self.stop_s) and 0.0 <= self.start_s < self.stop_s):
            raise InvalidParameterError(
                f"section '{self.label}': {self.start_s:g}–{self.stop_s:g} s must have 0 <= start < stop"
            )

    def to_dict(self) -> dict[str, Any]:
        return {"start_s": round(self.start_s, 3), "stop_s": round(self.stop_s, 3), "label": self.label}

    def describe(self) -> str:
        """How a reason names it: ``"chorus (0:42–1:10)"``, minutes and seconds."""
        return f"{self.label} ({_clock(self.start_s)}–{_clock(self.stop_s)})"


def _clock(seconds: float) -> str:
    m, s = divmod(int(round(seconds)), 60)
    return f"{m}:{s:02d}"


def clip_sections(sections: tuple[Section, ...], length_s: float) -> tuple[Section, ...]:
    """The sections that start within a song of ``length_s`` seconds, ending by its end."""
    return tuple(Section(s.start_s, min(s.stop_s, length_s), s.label) for s in sections if s.start_s < length_s)


def sections_to_dicts(sections: tuple[Section, ...]) -> list[dict[str, Any]]:
    return [s.to_dict() for s in sections]


def sections_from_dicts(items: Any) -> tuple[Section, ...]:
    """Inverse of :func:`sections_to_dicts` (a recipe's ``context.sections``)."""
    if not isinstance(items, list):
        raise InvalidParameterError("sections must be a list of {start_s, stop_s, label}")
    try:
        return tuple(Section(float(d["start_s"]), float(d["stop_s"]), str(d["label"])) for d in items)
    except (KeyError, TypeError, ValueError) as err:
        raise InvalidParameterError(f"sections: each needs start_s, stop_s and label ({err})") from None


def read_sections(path: str | os.PathLike[str], *, length_s: float | None = None) -> tuple[Section, ...]:
    """The sections of a CSV file (see the module notes), sorted and checked not to overlap.

    ``length_s`` closes a last ``start_s,label`` section (without it, such a section is refused)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise InvalidParameterError(f"{path}: cannot read the sections ({err})") from None
    rows = [
        [c.strip() for c in row]
        for row in csv.reader(line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#"))
    ]
    if rows and rows[0] and rows[0][0].lower() in ("start_s", "start"):
        rows = rows[1:]
    if not rows or len(rows) > MAX_SECTIONS:
        raise InvalidParameterError(f"{path}: give 1 to {MAX_SECTIONS} sections, one 'start_s,stop_s,label' a line")
    starts: list[tuple[float, float | None, str]] = []
    for number, row in enumerate(rows, 1):
        try:
            if len(row) == 3:
                starts.append((float(row[0]), float(row[1]), row[2]))
            elif len(row) == 2:
                starts.append((float(row[0]), None, row[1]))
            else:
                raise ValueError
        except ValueError:
            raise InvalidParameterError(
                f"{path}: line {number} '{','.join(row)}': write 'start_s,stop_s,label' or 'start_s,label'"
            ) from None
    starts.sort(key=lambda item: item[0])
    out = []
    for k, (start, stop, label) in enumerate(starts):
        if stop is None:
            stop = starts[k + 1][0] if k + 1 < len(starts) else length_s
            if stop is None:
                raise InvalidParameterError(f"{path}: the last section '{label}' needs a stop time")
        try:
            out.append(Section(start, stop, label or f"section {k + 1}"))
        except InvalidParameterError as err:
            raise InvalidParameterError(f"{path}: {err}") from None
    for a, b in zip(out, out[1:], strict=False):
        if b.start_s < a.stop_s - 1e-9:
            raise InvalidParameterError(f"{path}: sections '{a.label}' and '{b.label}' overlap")
    return tuple(out)
