"""What the real-browser checks share: headless Debian Chromium, polling the page, and the browser
console (``mixassist.serve``) under uvicorn in a thread on a free 127.0.0.1 port.

Used by tests/test_report_html.py, tests/test_serve_browser.py and benchmarks/serve_latency.py
(which puts this folder on ``sys.path``). Nothing here imports pytest at import time: the tests
turn a missing browser into a skip with :func:`require_browser`, the benchmark reads
:func:`chromium_paths`.
"""

from __future__ import annotations

import json
import shutil
import socket
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

#: Flags every check runs Chromium with; callers add theirs (``--mute-audio``, file access...).
HEADLESS_FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-dev-shm-usage",
    "--autoplay-policy=no-user-gesture-required",
)


def chromium_paths() -> tuple[str, str] | None:
    """``(browser, chromedriver)`` where both are installed, else ``None``."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    driver = shutil.which("chromedriver")
    return (browser, driver) if browser and driver else None


def require_browser() -> None:
    """Skip the calling test unless Debian's chromium, chromedriver and selenium are installed."""
    import pytest  # lazy: benchmarks import this module without pytest

    if chromium_paths() is None:
        pytest.skip(
            "chromium and chromedriver are not installed (`make test` installs Debian's chromium "
            "and chromium-driver; this machine could not)"
        )
    pytest.importorskip("selenium.webdriver", reason="selenium (a test dependency) is not installed")


def start_chromium(*flags: str, width: int = 1680, height: int = 1250, logs: bool = False) -> Any:
    """A headless Chromium (selenium's ``webdriver.Chrome``) with :data:`HEADLESS_FLAGS`, ``flags``
    and the window size; ``logs``: keep the page's console for ``driver.get_log("browser")``.
    Raises when Chromium is missing or cannot start (the caller says what that means)."""
    from selenium import webdriver  # lazy: a test dependency, only where a browser runs

    found = chromium_paths()
    if found is None:
        raise RuntimeError("chromium and chromedriver are not installed (`make test` installs Debian's)")
    options = webdriver.ChromeOptions()
    options.binary_location = found[0]
    for flag in (*HEADLESS_FLAGS, f"--window-size={width},{height}", *flags):
        options.add_argument(flag)
    if logs:
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=found[1]))


def wait(driver: Any, script: str, timeout: float = 60.0, poll_s: float = 0.05) -> Any:
    """Poll ``return (SCRIPT)`` in the page until it is truthy, and return its value; on timeout an
    AssertionError naming the script and the page's own error list (``window.mixassist.errors``)."""
    deadline = time.monotonic() + timeout
    while True:
        value = driver.execute_script(f"return ({script});")
        if value:
            return value
        if time.monotonic() > deadline:
            errors = driver.execute_script("return window.mixassist && window.mixassist.errors")
            raise AssertionError(f"timed out waiting for {script} (page errors: {errors})")
        time.sleep(poll_s)


class ThreadedServer:
    """``mixassist.serve.create_app(workspace, allowed_roots=roots)`` under uvicorn in a daemon
    thread on a free 127.0.0.1 port (``url``), with small JSON and byte clients."""

    def __init__(self, workspace: Path, roots: list[Path], *, start_timeout_s: float = 20.0) -> None:
        import uvicorn  # lazy: the serve extra

        from mixassist.serve import create_app

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(
            create_app(workspace, allowed_roots=roots), host="127.0.0.1", port=self.port, log_level="warning"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + start_timeout_s
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)

    def call(self, method: str, path: str, body: dict | None = None, *, timeout: float = 300.0) -> dict:
        """The JSON answer of ``method path`` with ``body`` as JSON."""
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method)
        req.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(req, timeout=timeout) as res:
            return json.loads(res.read())

    def get(self, path: str, *, timeout: float = 300.0) -> tuple[bytes, dict]:
        """The body and headers of ``GET path``."""
        with urllib.request.urlopen(self.url + path, timeout=timeout) as res:
            return res.read(), dict(res.headers)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
