"""``mixassist serve``: the assistive mixing console in the browser (FastAPI).

:func:`create_app` builds the app over a workspace of sessions (one folder each, persisted in
``state.json``); :class:`Limits` bounds uploads.  Needs the ``serve`` extra (FastAPI, uvicorn,
python-multipart)."""

from mixassist.serve.app import STATIC_FOLDER, create_app
from mixassist.serve.security import LOOPBACK_HOSTS, Limits
from mixassist.serve.store import ServeError

__all__ = ["LOOPBACK_HOSTS", "STATIC_FOLDER", "Limits", "ServeError", "create_app"]
