"""Sessions on disk: one folder per session under the workspace, its ``state.json`` holding the
stems, the references, the whole history of settings (each step: parameters, reasons, locks and
context) and the current variations, written atomically after every change, so a reload or a
restarted server keeps the work."""

from __future__ import annotations

import json
import re
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mixassist.errors import MixAssistError
from mixassist.fileio import write_text_atomic

__all__ = ["STATE_FILE", "ServeError", "SessionState", "SessionStore", "Step", "now_iso"]

#: The file that holds a session's state inside its folder.
STATE_FILE = "state.json"
_STATE_VERSION = 1
_ID = re.compile(r"^[0-9a-f]{12}$")


class ServeError(MixAssistError):
    """A request the server refuses: ``status`` is its HTTP status (4xx), the message one line."""

    def __init__(self, message: str, status: int = 400, path: str | None = None) -> None:
        super().__init__(message, path)
        self.status = status


@dataclass
class Step:
    """One point in a session's history: every setting, a reason per setting, the locks and
    the context (words, method, references) they were made under."""

    label: str
    params: dict[str, Any]
    why: dict[str, dict[str, str]] = field(default_factory=dict)
    locked: dict[str, list[str]] = field(default_factory=dict)
    roles: dict[str, str] = field(default_factory=dict)
    context: dict[str, Any] = field(default_factory=dict)
    #: The settings as the last proposal (first mix, re-solve or picked variation) made them.
    proposed: dict[str, Any] = field(default_factory=dict)


@dataclass
class SessionState:
    """What ``state.json`` holds (see the module docstring)."""

    id: str
    name: str
    created: str
    sample_rate: int
    seconds: float
    files: dict[str, str]
    right_files: dict[str, str] = field(default_factory=dict)
    stems_root: str | None = None
    references: list[str] = field(default_factory=list)
    history: list[Step] = field(default_factory=list)
    index: int = -1
    variations: list[dict[str, Any]] = field(default_factory=list)
    excerpt_start_s: float = 0.0

    @property
    def current(self) -> Step:
        return self.history[self.index]

    def push(self, step: Step) -> None:
        """Add ``step`` after the current one (a redo branch is dropped), making it current."""
        del self.history[self.index + 1 :]
        self.history.append(step)
        self.index = len(self.history) - 1

    def to_json(self) -> str:
        data = {**vars(self), "history": [vars(step) for step in self.history], "version": _STATE_VERSION}
        return json.dumps(data, indent=1, allow_nan=False) + "\n"

    @classmethod
    def from_json(cls, text: str, where: Path) -> SessionState:
        try:
            data = json.loads(text)
            if data.pop("version", None) != _STATE_VERSION:
                raise ValueError("unknown state version")
            data["history"] = [Step(**s) for s in data["history"]]
            return cls(**data)
        except (ValueError, TypeError, KeyError) as err:
            raise ServeError(f"not a session state this server reads ({err})", 500, str(where)) from err


class SessionStore:
    """The sessions in ``workspace`` (``<workspace>/<id>/state.json``)."""

    def __init__(self, workspace: Path) -> None:
        self.workspace = Path(workspace).resolve()
        self.workspace.mkdir(parents=True, exist_ok=True)

    def new_id(self) -> str:
        while True:
            sid = secrets.token_hex(6)
            if not (self.workspace / sid).exists():
                return sid

    def folder(self, sid: str) -> Path:
        """The folder of session ``sid`` (the id is checked: 12 hex digits, so never a path)."""
        if not _ID.match(sid):
            raise ServeError(f"session '{sid[:40]}': not a session id (12 hex digits)", 404)
        return self.workspace / sid

    def load(self, sid: str) -> SessionState:
        path = self.folder(sid) / STATE_FILE
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError as err:
            raise ServeError(f"session '{sid}': no such session", 404) from err
        return SessionState.from_json(text, path)

    def save(self, state: SessionState) -> None:
        folder = self.folder(state.id)
        folder.mkdir(exist_ok=True)
        write_text_atomic(folder / STATE_FILE, state.to_json())

    def ids(self) -> list[str]:
        return sorted(p.parent.name for p in self.workspace.glob(f"*/{STATE_FILE}") if _ID.match(p.parent.name))

    def find_stems(self, root: Path) -> str | None:
        """The newest session made from the stems folder ``root``, if any."""
        found = [(s.created, s.id) for s in map(self.load, self.ids()) if s.stems_root == str(root)]
        return max(found)[1] if found else None


def now_iso() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
