"""What the server lets a request touch: paths only inside the folders the user named on the
command line or the session's own folder (after symlinks), uploads within count and size limits
(enforced while the body streams in, written only into the session folder), and state-changing
requests only from the server's own page (the ``Origin`` header)."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from mixassist.audio.multitrack import AUDIO_SUFFIXES
from mixassist.serve.store import ServeError

__all__ = ["Limits", "confine", "check_origin", "audio_files", "safe_name", "LOOPBACK_HOSTS"]

#: Host names that mean this machine only.
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1", "[::1]")


@dataclass(frozen=True)
class Limits:
    """Upload limits: how many files, how large each, how large all together (bytes)."""

    max_files: int = 64
    max_file_bytes: int = 200 * 1024 * 1024
    max_total_bytes: int = 1024 * 1024 * 1024
    max_field_bytes: int = 64 * 1024


def confine(text: str, roots: Iterable[Path], what: str = "path") -> Path:
    """``text`` as a resolved path inside one of ``roots`` (themselves resolved), or a 403.

    ``..`` is refused as written; anything else is resolved through its symlinks before the
    check, so a link that leads out of the allowed folders is refused too."""
    if not isinstance(text, str) or not text or "\x00" in text or len(text) > 4096:
        raise ServeError(f"{what} {str(text)[:80]!r}: not a usable path", 403)
    path = Path(text)
    if ".." in path.parts:
        raise ServeError(f"{text}: '..' is not allowed in a {what}; give the full path", 403)
    if not path.is_absolute():
        raise ServeError(f"{text}: a {what} must be absolute", 403)
    resolved = path.resolve()
    for root in roots:
        if resolved == root or resolved.is_relative_to(root):
            return resolved
    raise ServeError(
        f"{text}: outside the folders this server may read (those named on the command line and the sessions)", 403
    )


def audio_files(folder_or_file: Path, roots: Iterable[Path]) -> list[Path]:
    """The audio files of a stems folder (or the one file), each checked by :func:`confine`
    (so a link inside the folder that leads elsewhere is refused)."""
    roots = list(roots)
    if folder_or_file.is_dir():
        found = sorted(
            f
            for f in folder_or_file.iterdir()
            if not f.name.startswith(".")
            and f.name.lower().endswith(AUDIO_SUFFIXES)
            and (f.is_file() or f.is_symlink())
        )
        if not found:
            raise ServeError(f"{folder_or_file}: no audio files in this folder", 400)
        return [confine(str(f), roots, "stem") for f in found]
    if not folder_or_file.exists():
        raise ServeError(f"{folder_or_file}: no such file or folder", 404)
    return [folder_or_file]


def check_origin(origin: str | None, host: str | None) -> None:
    """Refuse a state-changing request from another site: its ``Origin`` must name this
    server's own host and port (requests without ``Origin``, such as curl's, pass)."""
    if origin is None:
        return
    parts = urlsplit(origin)
    if parts.scheme not in ("http", "https") or not host or parts.netloc.lower() != host.lower():
        raise ServeError(f"Origin {origin[:80]}: requests that change a session must come from this server's page", 403)


_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")


def safe_name(filename: str, taken: set[str]) -> tuple[str, str]:
    """A track name and a file name for an upload called ``filename`` (display text only):
    letters, digits, ``_`` and ``-``, at most 40 characters, unique among ``taken``; the file
    keeps an audio suffix or is refused."""
    base = os.path.basename(filename.replace("\\", "/").replace("\x00", ""))
    lower = base.lower()
    suffix = next((s for s in sorted(AUDIO_SUFFIXES, key=len, reverse=True) if lower.endswith(s)), None)
    if suffix is None:
        raise ServeError(f"{base[:80]}: not an audio file name (use {', '.join(AUDIO_SUFFIXES)})", 415)
    stem = _UNSAFE.sub("-", base[: -len(suffix)]).strip("-")[:40] or "track"
    name, k = stem, 2
    while name in taken:
        name, k = f"{stem}-{k}", k + 1
    taken.add(name)
    return name, f"{name}{suffix}"
