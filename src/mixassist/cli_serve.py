"""The ``serve`` command: the assistive mixing console in the browser (:mod:`mixassist.serve`).
Registered on the app by :mod:`mixassist.cli`; it parses, makes (or reopens) the session for
STEMS, prints its URL and runs the server (uvicorn) until Ctrl-C."""

from __future__ import annotations

import os
import threading
import webbrowser
from pathlib import Path
from typing import Annotated

import typer

from mixassist.errors import InvalidParameterError, MissingDependencyError
from mixassist.terminal import err, out

__all__ = ["register", "default_workspace", "LOOPBACK"]

#: Host names that keep the server on this machine.
LOOPBACK = ("127.0.0.1", "localhost", "::1")


def default_workspace() -> Path:
    """Where sessions live unless ``--workspace`` says: ``$MIXASSIST_SERVE_HOME`` or
    ``~/.cache/mixassist/serve``."""
    home = os.environ.get("MIXASSIST_SERVE_HOME")
    return Path(home) if home else Path.home() / ".cache" / "mixassist" / "serve"


def serve_command(
    stems: Annotated[
        Path | None, typer.Argument(help="A folder of stems to open as a session (optional).", show_default=False)
    ] = None,
    reference: Annotated[
        list[Path] | None, typer.Option("--reference", "-r", help="A reference song (repeatable).", show_default=False)
    ] = None,
    words: Annotated[
        str | None, typer.Option("--words", help="Descriptor words, e.g. 'warmer, vocals forward'.", show_default=False)
    ] = None,
    method: Annotated[
        str | None, typer.Option("--method", help="Mixer: auto, rules, match or neural.", show_default=False)
    ] = None,
    host: Annotated[str, typer.Option("--host", help="Address to listen on (other than loopback: a warning).")] = (
        "127.0.0.1"
    ),
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="Port to listen on.")] = 8765,
    no_browser: Annotated[bool, typer.Option("--no-browser", help="Do not open the page in a browser.")] = False,
    workspace: Annotated[
        Path | None,
        typer.Option(
            "--workspace", help="Folder of the sessions (default ~/.cache/mixassist/serve).", show_default=False
        ),
    ] = None,
) -> None:
    """Open the mixing console in the browser: propose, listen, adjust, lock, re-solve, compare, export.
    Files are read only from STEMS, the references and the sessions' own folders."""
    try:
        import uvicorn  # lazy: the optional `serve` extra

        from mixassist.serve import create_app  # lazy: FastAPI, numpy and torch, after the command line is read
    except ImportError as exc:
        raise MissingDependencyError(
            f"mixassist serve needs the serve extra ({exc.name} is missing): pip install 'mixassist[serve]'"
        ) from exc
    roots = []
    if stems is not None:
        if not stems.exists():
            raise InvalidParameterError(f"{stems}: no such folder")
        roots.append(stems.resolve())
    for ref in reference or []:
        if not ref.is_file():
            raise InvalidParameterError(f"{ref}: no such reference file")
        roots.append(ref.resolve())
    if host not in LOOPBACK:
        err.print(
            f"mixassist serve: warning: listening on {host}: anyone who can reach it can read and mix these stems",
            markup=False,
            highlight=False,
        )
    shown = "localhost" if host in LOOPBACK else host
    hosts = [f"{h}:{port}" for h in ("127.0.0.1", "localhost", "[::1]")] if host in LOOPBACK else None
    app = create_app(workspace or default_workspace(), allowed_roots=roots, allowed_hosts=hosts)
    url = f"http://{shown}:{port}/"
    if stems is not None:
        bench = app.state.workbench
        sid = bench.store.find_stems(stems.resolve())
        if sid is None:
            err.print(f"proposing a mix of {stems} ...", markup=False, highlight=False)
            refs = [str(r.resolve()) for r in reference or []]
            sid = bench.create_from_paths(str(stems.resolve()), refs, words, method).id
        url = f"{url}?session={sid}"
    out.print(url, markup=False, highlight=False)
    if not no_browser:
        threading.Timer(1.0, webbrowser.open, args=(url,)).start()
    uvicorn.run(app, host=host, port=port, log_level="warning")


def register(app: typer.Typer) -> None:
    """Add ``serve`` to the ``mixassist`` command."""
    app.command("serve")(serve_command)
