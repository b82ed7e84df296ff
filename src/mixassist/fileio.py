"""Safe writing: atomic files, output sets swapped in together, and one-line write errors.

Every file is written to a temporary name in its destination folder (same filesystem), synced,
given the user's umask and renamed into place, so a reader sees the old file or the whole new
one.  The outputs of one run (:class:`OutputSet`) are written into a staging folder inside the
output folder and renamed into place together at the end; a commit journal lets a later run
finish a swap that a ``kill -9`` cut short, so the folder holds the old set or the new set,
never a mix of both.  Every ``OSError`` while writing becomes one :class:`OutputError` naming
the path and the reason (permission denied, no space left, name too long, not a folder).
"""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import signal
import tempfile
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Any

from mixassist.errors import MixAssistError, OutputError

__all__ = [
    "fsync_folder",
    "FILE_MODE",
    "TEMP_TAG",
    "OutputSet",
    "check_output_folder",
    "clean_stale_temporaries",
    "output_error",
    "temp_prefix",
    "write_text_atomic",
    "write_bytes_atomic",
    "write_json_atomic",
    "writing",
]

#: Tag in every temporary name this package makes, followed by the writing process's id.
TEMP_TAG = ".mixassist-"
#: Temporaries of another naming (older versions) are removed when older than this.
STALE_AGE_S = 600.0
_JOURNAL = "commit.json"
_PID = re.compile(re.escape(TEMP_TAG) + r"(\d+)-")

_REASONS = {
    errno.EACCES: "permission denied; choose a folder you can write to",
    errno.EPERM: "operation not permitted (read-only or immutable); choose a folder you can write to",
    errno.EROFS: "read-only file system; choose a folder you can write to",
    errno.ENOSPC: "no space left on device; free some space or choose another disk",
    errno.EDQUOT: "disk quota exceeded; free some space or choose another disk",
    errno.ENAMETOOLONG: "file name too long; choose a shorter name",
    errno.ENOTDIR: "a part of the path is a file, not a folder; choose another output path",
    errno.EISDIR: "is a folder; choose a file name",
    errno.ENOENT: "the folder does not exist",
    errno.EEXIST: "already exists",
}


def _read_umask() -> int:
    """The process's umask, read once at import without changing it where Linux allows."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)  # fallback: set and restore at import, before any thread exists
    os.umask(mask)
    return mask


#: Mode of every file written (``0o666`` less the umask read at start-up), as ``open`` would give.
FILE_MODE = 0o666 & ~_read_umask()


def output_error(err: BaseException, path: str | os.PathLike[str]) -> OutputError:
    """One-line :class:`OutputError` for a failure while writing ``path``: the reason by
    ``errno`` (permission denied, no space left, name too long, not a folder) and the fix."""
    if isinstance(err, OutputError):
        return err
    code = getattr(err, "errno", None)
    if isinstance(err, OSError) and code in _REASONS:
        reason = _REASONS[code]
    elif isinstance(err, OSError) and err.strerror:
        reason = err.strerror[0].lower() + err.strerror[1:]
    else:
        reason = str(err).strip() or type(err).__name__
    return OutputError(f"cannot write: {reason}", path)


@contextmanager
def writing(path: str | os.PathLike[str]) -> Iterator[None]:
    """Map an ``OSError`` raised inside the block to :func:`output_error` naming ``path``."""
    try:
        yield
    except MixAssistError:
        raise
    except OSError as err:
        raise output_error(err, path) from err


def temp_prefix(path: Path) -> str:
    """Prefix of a temporary file for ``path``: hidden, short, tagged with this process's id."""
    return f".{path.name[:48]}{TEMP_TAG}{os.getpid()}-"


def _discard(path: str | os.PathLike[str] | None) -> None:
    if path is not None:
        try:
            os.unlink(path)
        except OSError:
            pass


def write_bytes_atomic(path: str | os.PathLike[str], data: bytes, *, overwrite: bool = True) -> None:
    """Write ``data`` so that ``path`` is either the old file or the whole new one.

    The file gets :data:`FILE_MODE`.  Raises ``OutputError`` when ``path`` exists and
    ``overwrite`` is false, or naming ``path`` and the reason when writing fails (no
    temporary file is left behind).
    """
    path = Path(path)
    with writing(path):
        if path.exists() and not overwrite:
            raise OutputError("already exists; choose another name or pass --overwrite", path)
    folder = path.parent if str(path.parent) else Path(".")
    tmp: str | None = None
    try:
        with writing(path):
            fd, tmp = tempfile.mkstemp(prefix=temp_prefix(path), suffix=".tmp", dir=folder)
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.chmod(tmp, FILE_MODE)
            os.replace(tmp, path)
    except BaseException:
        _discard(tmp)
        raise


def write_text_atomic(path: str | os.PathLike[str], text: str, *, overwrite: bool = True) -> None:
    """Write ``text`` (UTF-8) so that ``path`` is either the old file or the whole new one.

    Raises ``OutputError`` when ``path`` exists and ``overwrite`` is false.
    """
    write_bytes_atomic(path, text.encode("utf-8"), overwrite=overwrite)


def write_json_atomic(path: str | os.PathLike[str], data: Any, *, overwrite: bool = True) -> None:
    """Strict JSON (no NaN/Infinity), indented, written with :func:`write_text_atomic`."""
    write_text_atomic(path, json.dumps(data, indent=2, allow_nan=False) + "\n", overwrite=overwrite)


# ---------------------------------------------------------------------------- checks before work
def _existing_ancestor(folder: Path) -> Path:
    """``folder`` or the nearest folder above it that exists (raises if a file is in the way)."""
    current = folder
    while not current.exists():
        if current.is_symlink():
            raise OutputError("is a broken symbolic link", current)
        parent = current.parent
        if parent == current:
            break
        current = parent
    if not current.is_dir():
        what = "the output path" if current == folder else f"{current} (part of the output path)"
        raise OutputError(f"{what} is a file, not a folder; choose another output folder", folder)
    return current


def check_output_folder(folder: str | os.PathLike[str], names: Iterable[str] = (), *, needed_bytes: int = 0) -> None:
    """Check, before any work, that ``folder`` (created later if missing) can take files
    ``names``: no file in the way, names within the file system's limit, writable (a probe
    file is created and removed) and, where ``needed_bytes`` is known, enough free space.

    Raises
    ------
    OutputError
        Naming the folder (or file) and the reason.
    """
    folder = Path(folder) if str(folder) else Path(".")
    with writing(folder):  # stat itself fails on a name too long
        base = _existing_ancestor(folder)
    try:
        name_max = os.pathconf(base, "PC_NAME_MAX")
    except (OSError, ValueError):
        name_max = 255
    missing = folder.relative_to(base).parts if folder != base else ()
    for part in (*missing, *(p for n in names for p in Path(n).parts)):
        if len(os.fsencode(part)) > name_max:
            shown = part if len(part) <= 40 else f"{part[:20]}…{part[-12:]}"
            raise OutputError(
                f"the name {shown!r} has {len(os.fsencode(part))} bytes, more than the {name_max} "
                "this file system allows; choose a shorter name",
                folder,
            )
    probe: str | None = None
    try:
        with writing(folder):
            fd, probe = tempfile.mkstemp(prefix=f"{TEMP_TAG}{os.getpid()}-probe-", suffix=".tmp", dir=base)
            os.close(fd)
    finally:
        _discard(probe)
    if needed_bytes > 0:
        try:
            free = shutil.disk_usage(base).free
        except OSError:
            return
        if free < needed_bytes:
            raise OutputError(
                f"needs about {needed_bytes / 1e6:.0f} MB but only {free / 1e6:.0f} MB are free; "
                "free some space or choose another disk",
                folder,
            )


# ---------------------------------------------------------------------------- checks before any work
# These need nothing but the file system, so the CLI runs them before it imports the mixing code
# (numpy, scipy, torch, numba: seconds): a bad option is refused at once.


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists, owned by another user
        return True
    return True


def _stale(entry: Path, now: float) -> bool:
    """Whether a temporary is left over: its writer's process is gone (or, for names without
    a process id, it has not been touched for :data:`STALE_AGE_S`)."""
    match = _PID.search(entry.name)
    if match is not None:
        return not _alive(int(match.group(1)))
    try:
        return now - entry.lstat().st_mtime > STALE_AGE_S
    except OSError:
        return False


def _recover(staging: Path, folder: Path) -> None:
    """Finish the swap a killed run had started (its journal is written before the first
    rename), so the folder holds its whole new set; without a journal nothing was moved."""
    try:
        names = json.loads((staging / _JOURNAL).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return
    if not isinstance(names, list):
        return
    for name in names:
        if not isinstance(name, str) or Path(name).is_absolute() or ".." in Path(name).parts:
            continue
        src = staging / "new" / name
        if src.exists():
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            os.replace(src, folder / name)


def clean_stale_temporaries(folder: str | os.PathLike[str], names: Iterable[str] = ()) -> int:
    """Remove what killed runs left in ``folder``: staging folders of output sets (a swap
    they had started is finished first) and temporary files ``.NAME.*.tmp`` of ``names`` or
    tagged with a dead process's id.  Returns how many were removed; errors are ignored
    (a later run tries again)."""
    folder = Path(folder)
    prefixes = tuple(f".{Path(n).name}." for n in names)
    now = time.time()
    removed = 0
    try:
        entries = list(folder.iterdir())
    except OSError:
        return 0
    for entry in entries:
        name = entry.name
        if not (name.startswith(".") and name.endswith(".tmp")):
            continue
        if not (name.startswith(TEMP_TAG) or TEMP_TAG in name or name.startswith(prefixes)):
            continue
        if not _stale(entry, now):
            continue
        try:
            if entry.is_dir() and not entry.is_symlink():
                _recover(entry, folder)
                shutil.rmtree(entry)
            else:
                entry.unlink()
            removed += 1
        except OSError:
            pass
    return removed


# ---------------------------------------------------------------------------- output sets
class OutputSet:
    """The files of one run, written into a staging folder and swapped in together.

    ``with OutputSet(folder, names, overwrite=...) as outputs:`` checks the targets, creates
    ``folder`` if needed and a staging folder inside it; write each output to
    ``outputs.path(name)``.  On a clean exit the staged files replace the old ones (old files
    are moved aside first and put back if a rename fails); on an exception nothing in
    ``folder`` changes, the staging folder is removed, and a folder the set created is removed
    again.  ``retire`` names earlier outputs of ours that this run does not write: with
    ``overwrite`` they are removed in the same swap, so no old file stays beside new ones.
    Files in ``folder`` that are not named are never touched.

    Parameters
    ----------
    folder : path
        Where the outputs go.
    names : iterable of str
        Relative paths (``"mix.wav"``, ``"stems/vox.wav"``) this run may write.
    overwrite : bool
        Replace existing outputs; without it an existing one is refused now.
    protect : iterable of paths
        Inputs that must never be replaced (compared with ``os.path.samefile``).
    retire : iterable of str
        Names of earlier outputs removed (with ``overwrite``) when this run does not write them.
    """

    def __init__(
        self,
        folder: str | os.PathLike[str],
        names: Iterable[str],
        *,
        overwrite: bool = False,
        protect: Iterable[str | os.PathLike[str]] = (),
        retire: Iterable[str] = (),
    ) -> None:
        self.folder = Path(folder) if str(folder) else Path(".")
        self.names = list(dict.fromkeys(names))
        self.overwrite = overwrite
        self.protect = [Path(p) for p in protect]
        self.retire = [n for n in retire if n not in self.names]
        self.staging: Path | None = None
        self._created: list[Path] = []
        self.check()

    def target(self, name: str) -> Path:
        """Final path of output ``name``."""
        return self.folder / name

    def check(self) -> None:
        """Refuse now (before any work) a target that is an input, a folder, or exists
        without ``overwrite``."""
        with writing(self.folder):
            self._check()

    def _check(self) -> None:
        if self.folder.exists() and not self.folder.is_dir():
            raise OutputError("exists and is not a folder; choose another output folder", self.folder)
        for name in self.names:
            path = self.target(name)
            for other in self.protect:
                if _same_file(path, other):
                    raise OutputError(f"refusing to overwrite the input file {os.fspath(other)}", path)
            if path.is_dir():
                raise OutputError("is a folder; remove it or choose another output folder", path)
            if (path.exists() or path.is_symlink()) and not self.overwrite:
                raise OutputError("already exists; choose another name or pass --overwrite", path)

    def __enter__(self) -> OutputSet:
        with writing(self.folder):
            if self.folder.is_dir():
                clean_stale_temporaries(self.folder, [*self.names, *self.retire])
            missing = []
            current = self.folder
            while not current.exists() and current.parent != current:
                missing.append(current)
                current = current.parent
            for path in reversed(missing):
                path.mkdir()
                self._created.append(path)
            self.staging = Path(tempfile.mkdtemp(prefix=f"{TEMP_TAG}{os.getpid()}-", suffix=".tmp", dir=self.folder))
        return self

    def path(self, name: str) -> Path:
        """Where to write output ``name`` now (inside the staging folder)."""
        if self.staging is None:
            raise RuntimeError("OutputSet.path() outside its `with` block")
        if name not in self.names:
            raise KeyError(f"{name!r} is not one of this set's outputs {self.names}")
        staged = self.staging / "new" / name
        with writing(self.target(name)):
            staged.parent.mkdir(parents=True, exist_ok=True)
        return staged

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            if exc_type is None:
                self._commit()
        finally:
            self._close(failed=exc_type is not None)
        if isinstance(exc, OSError) and not isinstance(exc, MixAssistError):
            raise output_error(exc, self.folder) from exc  # a writer's own OSError: one line too

    def _commit(self) -> None:
        if self.staging is None:
            return
        staged = [n for n in self.names if (self.staging / "new" / n).is_file()]
        retired = [n for n in self.retire if self.overwrite and (self.target(n).is_file())]
        self.check()  # another run may have written here meanwhile
        with writing(self.folder):
            write_bytes_atomic(self.staging / _JOURNAL, json.dumps(staged).encode())
            (self.staging / "old").mkdir()
        moved: list[tuple[Path, Path]] = []  # (from, to) renames done, undone in reverse on failure
        with _signals_deferred():
            self._swap(staged, retired, moved)
        self._created = []  # the new set lives in them now
        fsync_folder(self.folder)

    def _swap(self, staged: list[str], retired: list[str], moved: list[tuple[Path, Path]]) -> None:
        if self.staging is None:
            return
        try:
            for name in retired:
                aside = self.staging / "old" / name
                aside.parent.mkdir(parents=True, exist_ok=True)
                os.replace(self.target(name), aside)
                moved.append((self.target(name), aside))
            for name in staged:
                final = self.target(name)
                if not final.parent.is_dir():
                    final.parent.mkdir(parents=True)
                    self._created.append(final.parent)
                if final.exists() or final.is_symlink():
                    aside = self.staging / "old" / name
                    aside.parent.mkdir(parents=True, exist_ok=True)
                    os.replace(final, aside)
                    moved.append((final, aside))
                os.replace(self.staging / "new" / name, final)
                moved.append((self.staging / "new" / name, final))
        except OSError as err:
            for src, dst in reversed(moved):
                try:
                    os.replace(dst, src)
                except OSError:
                    pass
            _discard(self.staging / _JOURNAL)
            raise output_error(err, self.folder) from err

    def _close(self, *, failed: bool) -> None:
        if self.staging is not None:
            shutil.rmtree(self.staging, ignore_errors=True)
            self.staging = None
        if failed:
            for path in reversed(self._created):
                try:
                    path.rmdir()  # only if empty: never a file that is not ours
                except OSError:
                    pass
        self._created = []


@contextmanager
def _signals_deferred() -> Iterator[None]:
    """Hold SIGINT and SIGTERM for the few renames of a swap (a handler raising between two
    renames would leave half a set); a signal that came meanwhile is raised again after."""
    caught: list[int] = []
    previous: dict[int, Any] = {}
    try:
        for held in (signal.SIGINT.value, signal.SIGTERM.value):
            previous[held] = signal.signal(held, lambda number, frame: caught.append(number))
    except ValueError:  # not the main thread: Python delivers no signal here anyway
        pass
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        for signum in caught[:1]:
            signal.raise_signal(signum)


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def fsync_folder(folder: Path) -> None:
    """Flush a folder's entries (renames into it) to disk; a no-op where the OS cannot."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
