"""The FastAPI application of ``mixassist serve``: the page, the JSON API over
:class:`~mixassist.serve.workbench.Workbench`, and the guards (Origin, paths, uploads).

Errors a user can cause answer 4xx with ``{"error": "one line"}``; nothing else leaks a
traceback to the page."""

from __future__ import annotations

import logging
import shutil
import time
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel
from starlette.exceptions import HTTPException

from mixassist.errors import MixAssistError
from mixassist.serve.exports import EXPORTS, export_file
from mixassist.serve.render import wav_bytes
from mixassist.serve.security import Limits, check_origin
from mixassist.serve.store import ServeError
from mixassist.serve.uploads import receive_upload
from mixassist.serve.variations import make_variations, pick_variation, variation_preview
from mixassist.serve.workbench import Workbench

__all__ = ["create_app", "STATIC_FOLDER"]

log = logging.getLogger(__name__)

#: The page's files (index.html, app.js, style.css).
STATIC_FOLDER = Path(__file__).parent / "static"
_CHANGING = {"POST", "PATCH", "PUT", "DELETE"}


class NewSession(BaseModel):
    stems: str
    reference: list[str] = []
    words: str | None = None
    method: str | None = None


class Edit(BaseModel):
    section: str
    track: str | None = None
    param: str
    value: float | None


class Lock(BaseModel):
    section: str
    track: str | None = None
    param: str
    locked: bool


class Solve(BaseModel):
    words: str | None = None
    reference: list[str] | None = None
    method: str | None = None


class Variations(BaseModel):
    n: int = 3


def create_app(
    workspace: Path,
    *,
    allowed_roots: list[Path],
    limits: Limits | None = None,
    allowed_hosts: list[str] | None = None,
) -> FastAPI:
    """The app: sessions in ``workspace`` (one folder each), files readable only inside
    ``allowed_roots`` (the paths named on the command line) and the session folders.
    ``allowed_hosts``: the ``Host`` headers accepted (``None``: any; the CLI passes the
    loopback names when it binds to loopback, against DNS rebinding)."""
    bench = Workbench(Path(workspace), list(allowed_roots))
    limits = limits or Limits()
    app = FastAPI(title="mixassist", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.workbench = bench

    @app.middleware("http")
    async def guard(request: Request, call_next: Any) -> Response:
        host = request.headers.get("host")
        if allowed_hosts is not None and (host or "").lower() not in allowed_hosts:
            return _error(ServeError(f"Host {str(host)[:60]}: this server answers only on {allowed_hosts[0]}", 403))
        if request.method in _CHANGING:
            try:
                check_origin(request.headers.get("origin"), host)
                if request.headers.get("sec-fetch-site") == "cross-site":
                    raise ServeError("a cross-site request may not change a session", 403)
            except ServeError as err:
                return _error(err)
        response: Response = await call_next(request)
        return response

    @app.exception_handler(MixAssistError)
    async def user_error(request: Request, exc: MixAssistError) -> JSONResponse:
        return _error(exc)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        what = "no such page or API call" if exc.status_code == 404 else str(exc.detail)
        return JSONResponse({"error": f"{request.url.path[:80]}: {what}"}, status_code=exc.status_code)

    @app.exception_handler(RequestValidationError)
    async def bad_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "body") or "request"
        return JSONResponse({"error": f"{where}: {first.get('msg', 'invalid request')}"}, status_code=400)

    @app.get("/", include_in_schema=False)
    def page() -> Response:
        index = STATIC_FOLDER / "index.html"
        if not index.is_file():
            return Response("mixassist serve: the page is not installed", media_type="text/plain")
        return FileResponse(index, headers={"Cache-Control": "no-store"})

    app.mount("/static", StaticFiles(directory=STATIC_FOLDER, check_dir=False), name="static")

    @app.get("/api/sessions")
    def sessions() -> dict[str, Any]:
        return {"sessions": bench.sessions()}

    @app.post("/api/sessions", status_code=201)
    def create(body: NewSession) -> dict[str, Any]:
        return bench.view(bench.create_from_paths(body.stems, body.reference, body.words, body.method))

    @app.post("/api/sessions/upload", status_code=201)
    async def upload(request: Request) -> dict[str, Any]:
        sid = bench.store.new_id()
        folder = bench.store.folder(sid)
        folder.mkdir()
        try:
            got = await receive_upload(request, folder, limits)
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        words, method = got.fields.get("words"), got.fields.get("method")
        state = bench.create_from_upload(sid, got.stems, got.references, words, method)
        return bench.view(state)

    @app.get("/api/sessions/{sid}")
    def get_state(sid: str) -> dict[str, Any]:
        return bench.view(bench.store.load(sid))

    @app.patch("/api/sessions/{sid}/params")
    def edit(sid: str, body: Edit) -> dict[str, Any]:
        return bench.view(bench.edit(sid, body.section, body.track, body.param, body.value))

    @app.post("/api/sessions/{sid}/locks")
    def lock(sid: str, body: Lock) -> dict[str, Any]:
        return bench.view(bench.set_lock(sid, body.section, body.track, body.param, body.locked))

    @app.post("/api/sessions/{sid}/solve")
    def solve(sid: str, body: Solve) -> dict[str, Any]:
        return bench.view(bench.solve(sid, body.words, body.reference, body.method))

    @app.post("/api/sessions/{sid}/undo")
    def undo(sid: str) -> dict[str, Any]:
        return bench.view(bench.move(sid, -1))

    @app.post("/api/sessions/{sid}/redo")
    def redo(sid: str) -> dict[str, Any]:
        return bench.view(bench.move(sid, +1))

    @app.post("/api/sessions/{sid}/variations")
    def variations(sid: str, body: Variations) -> dict[str, Any]:
        return bench.view(make_variations(bench, sid, body.n))

    @app.post("/api/sessions/{sid}/variations/{k}/pick")
    def pick(sid: str, k: int) -> dict[str, Any]:
        return bench.view(pick_variation(bench, sid, k))

    @app.get("/api/sessions/{sid}/variations/{k}/preview.wav")
    def variation_wav(sid: str, k: int, start: float | None = None, seconds: float | None = None) -> Response:
        t0 = time.perf_counter()
        audio, loudness, peak, rate = variation_preview(bench, sid, k, start, seconds)
        return _wav(audio, rate, loudness, peak, t0)

    @app.get("/api/sessions/{sid}/preview.wav")
    def preview(sid: str, which: str = "mix", start: float | None = None, seconds: float | None = None) -> Response:
        t0 = time.perf_counter()
        state = bench.store.load(sid)
        with bench.lock:
            excerpts = bench.excerpts(state)
            a, d = excerpts.window(start, seconds, state.excerpt_start_s)
            audio, loudness, peak = excerpts.preview(which, bench.params(state), a, d)
        return _wav(audio, state.sample_rate, loudness, peak, t0)

    @app.get("/api/sessions/{sid}/eq")
    def eq(sid: str, section: str = "track", track: str | None = None) -> dict[str, Any]:
        return bench.eq(sid, section, track)

    @app.get("/api/sessions/{sid}/export/{what}")
    def export(sid: str, what: str) -> Response:
        state = bench.store.load(sid)
        if what not in EXPORTS:
            raise ServeError(f"export '{what[:40]}': choose one of {', '.join(EXPORTS)}", 404)
        with bench.lock:
            path = export_file(state, bench.store.folder(sid), what)
        return FileResponse(path, media_type=EXPORTS[what], filename=what)

    return app


def _wav(audio: Any, sample_rate: int, loudness: float | None, peak: float | None, t0: float) -> Response:
    headers = {
        "X-Integrated-LUFS": "" if loudness is None else f"{loudness:.2f}",
        "X-Render-Ms": f"{1000.0 * (time.perf_counter() - t0):.1f}",
        "X-True-Peak-Dbtp": "" if peak is None else f"{peak:.2f}",
        "Cache-Control": "no-store",
    }
    return Response(wav_bytes(audio, sample_rate), media_type="audio/wav", headers=headers)


def _error(exc: MixAssistError) -> JSONResponse:
    status = exc.status if isinstance(exc, ServeError) else 400
    return JSONResponse({"error": str(exc).splitlines()[0] if str(exc) else type(exc).__name__}, status_code=status)
