"""Receiving uploaded stems and references: the multipart body is parsed as it streams in
(python-multipart's parser), each file written straight into the session's ``uploads/`` folder
under a server-made name, and the limits (:class:`~mixassist.serve.security.Limits`) enforced
on the bytes actually received, not on what the headers claim; every file is then decoded
through the project's loader, so only audio is kept."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, cast

from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import Request

from mixassist.audio.io import load_audio
from mixassist.errors import MixAssistError
from mixassist.serve.security import Limits, safe_name
from mixassist.serve.store import ServeError

if TYPE_CHECKING:
    from python_multipart.multipart import MultipartCallbacks

__all__ = ["Upload", "receive_upload", "UPLOAD_FOLDER"]

#: Where uploaded files go inside a session's folder.
UPLOAD_FOLDER = "uploads"
_FILE_FIELDS = {"files": "stems", "files[]": "stems", "reference": "references", "reference[]": "references"}


@dataclass
class Upload:
    """What an upload request carried: stem and reference files (saved) and the text fields."""

    stems: list[Path] = field(default_factory=list)
    references: list[Path] = field(default_factory=list)
    fields: dict[str, str] = field(default_factory=dict)


class _Receiver:
    """The parser's callbacks: one part at a time, files written as their bytes arrive."""

    def __init__(self, folder: Path, limits: Limits) -> None:
        self.folder, self.limits = folder, limits
        self.upload = Upload()
        self.taken: set[str] = set()
        self.headers: dict[bytes, bytes] = {}
        self.field_name, self.value_name = b"", b""
        self.kind: str | None = None
        self.name = ""
        self.file: IO[bytes] | None = None
        self.size = 0
        self.text = bytearray()
        self.files = 0
        self.complete = False

    def callbacks(self) -> dict[str, Any]:
        return {
            "on_part_begin": self.begin,
            "on_header_field": lambda d, a, b: setattr(self, "field_name", self.field_name + d[a:b]),
            "on_header_value": lambda d, a, b: setattr(self, "value_name", self.value_name + d[a:b]),
            "on_header_end": self.header_end,
            "on_headers_finished": self.headers_done,
            "on_part_data": self.data,
            "on_part_end": self.end,
            "on_end": lambda: setattr(self, "complete", True),
        }

    def begin(self) -> None:
        self.headers, self.kind, self.file, self.size, self.text = {}, None, None, 0, bytearray()

    def header_end(self) -> None:
        self.headers[self.field_name.lower()] = self.value_name
        self.field_name, self.value_name = b"", b""

    def headers_done(self) -> None:
        _, options = parse_options_header(self.headers.get(b"content-disposition", b""))
        self.name = options.get(b"name", b"").decode("utf-8", "replace")
        filename = options.get(b"filename")
        if filename is None:
            self.kind = "field"
            return
        kind = _FILE_FIELDS.get(self.name)
        if kind is None:
            raise ServeError(f"upload field '{self.name[:40]}': use files[] for stems and reference[] for references")
        self.files += 1
        if self.files > self.limits.max_files:
            raise ServeError(f"more than {self.limits.max_files} files in one upload", 413)
        _, stored = safe_name(filename.decode("utf-8", "replace"), self.taken)
        path = self.folder / stored
        getattr(self.upload, kind).append(path)
        self.kind = kind
        self.file = path.open("xb")

    def data(self, data: bytes, start: int, end: int) -> None:
        self.size += end - start
        if self.file is not None:
            if self.size > self.limits.max_file_bytes:
                raise ServeError(
                    f"{Path(self.file.name).name}: larger than {_size(self.limits.max_file_bytes)} per file", 413
                )
            self.file.write(data[start:end])
        elif self.kind == "field":
            if self.size > self.limits.max_field_bytes:
                raise ServeError(
                    f"upload field '{self.name[:40]}': longer than {self.limits.max_field_bytes} bytes", 413
                )
            self.text += data[start:end]

    def end(self) -> None:
        if self.file is not None:
            self.file.close()
            self.file = None
        elif self.kind == "field":
            self.upload.fields[self.name] = self.text.decode("utf-8", "replace")

    def close(self) -> None:
        if self.file is not None:
            self.file.close()


async def receive_upload(request: Request, session_folder: Path, limits: Limits) -> Upload:
    """Parse a ``multipart/form-data`` upload into ``session_folder/uploads/`` (created), within
    ``limits``; every file is decoded once to check that it is audio.  On a refusal the files
    written so far stay in the (new) session folder, which the caller removes."""
    ctype, options = parse_options_header(request.headers.get("content-type", ""))
    boundary = options.get(b"boundary")
    if ctype != b"multipart/form-data" or not boundary:
        raise ServeError("an upload must be multipart/form-data (files[] for stems, reference[] for references)", 415)
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limits.max_total_bytes:
        raise ServeError(f"upload of {_size(int(declared))}: more than {_size(limits.max_total_bytes)} in all", 413)
    folder = session_folder / UPLOAD_FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    receiver = _Receiver(folder, limits)
    parser = MultipartParser(boundary, cast("MultipartCallbacks", receiver.callbacks()))
    total = 0
    try:
        async for chunk in request.stream():
            total += len(chunk)
            if total > limits.max_total_bytes:
                raise ServeError(f"upload larger than {_size(limits.max_total_bytes)} in all", 413)
            parser.write(chunk)
        parser.finalize()
    except FormParserError as err:
        raise ServeError(f"the upload is not a well-formed multipart body ({err})") from err
    finally:
        receiver.close()
    if not receiver.complete:
        raise ServeError("the upload ended before its closing boundary (cut short?); send it again")
    upload = receiver.upload
    if not upload.stems:
        raise ServeError("the upload has no stems (send them as files[])")
    for path in [*upload.stems, *upload.references]:
        try:
            load_audio(path)
        except MixAssistError as err:
            raise ServeError(f"{path.name}: not audio this server can read ({err.reason})", 415) from err
    return upload


def _size(count: int) -> str:
    """A byte count for people: ``1.5 MB`` or ``200 kB``."""
    return f"{count / 2**20:.1f} MB" if count >= 2**20 else f"{count / 1024:.0f} kB"
