"""Atomic writing of text and JSON files (temporary file in the same folder, fsync, rename)."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from mixassist.errors import OutputError

__all__ = ["write_text_atomic", "write_bytes_atomic", "write_json_atomic"]


def write_bytes_atomic(path: str | os.PathLike[str], data: bytes, *, overwrite: bool = True) -> None:
    """Write ``data`` so that ``path`` is either the old file or the whole new one.

    Raises ``OutputError`` when ``path`` exists and ``overwrite`` is false.
    """
    path = Path(path)
    if path.exists() and not overwrite:
        raise OutputError("already exists; choose another name or pass --overwrite", path)
    folder = path.parent if str(path.parent) else Path(".")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_text_atomic(path: str | os.PathLike[str], text: str, *, overwrite: bool = True) -> None:
    """Write ``text`` (UTF-8) so that ``path`` is either the old file or the whole new one.

    Raises ``OutputError`` when ``path`` exists and ``overwrite`` is false.
    """
    write_bytes_atomic(path, text.encode("utf-8"), overwrite=overwrite)


def write_json_atomic(path: str | os.PathLike[str], data: Any, *, overwrite: bool = True) -> None:
    """Strict JSON (no NaN/Infinity), indented, written with :func:`write_text_atomic`."""
    write_text_atomic(path, json.dumps(data, indent=2, allow_nan=False) + "\n", overwrite=overwrite)
