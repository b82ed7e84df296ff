"""The command line, run two ways for tests.

``run_process`` starts a real ``python -m mixassist`` process: the console script, signals and
what a process imports. ``run_cli`` calls the same ``mixassist.cli.main`` inside the test's
process with stdout and stderr captured and the exit status kept, so a test of the commands'
behaviour does not pay the 3-4 s a fresh process spends importing torch and scipy (about a
fifth of the suite's time went there). An exception that escapes ``main`` comes back as exit
status 1 with its traceback on stderr, as a real process would show it.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import traceback
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

from mixassist.cli import main


def run_process(*args: str, cwd: Path | None = None, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """``mixassist ARGS`` in a new process."""
    return subprocess.run(
        [sys.executable, "-m", "mixassist", *args], capture_output=True, text=True, timeout=timeout, cwd=cwd, check=False
    )


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """``mixassist ARGS`` through ``main`` in this process, with the result a process would give."""
    stdout, stderr = io.StringIO(), io.StringIO()
    here = Path.cwd()
    code = 0
    try:
        if cwd is not None:
            os.chdir(cwd)
        with redirect_stdout(stdout), redirect_stderr(stderr):
            try:
                main(list(args))
            except SystemExit as done:
                code = done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
            except Exception:  # what a real process would print before exiting 1
                traceback.print_exc()
                code = 1
    finally:
        os.chdir(here)
    return subprocess.CompletedProcess(["mixassist", *args], code, stdout.getvalue(), stderr.getvalue())
