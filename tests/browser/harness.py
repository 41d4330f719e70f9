"""JupyterLab started for the browser tests, Chromium found or refused, console errors sorted.

`LabServer` runs `nexus-workbook lab` on a free loopback port with a random token, on a copy
of the notebooks, with every Jupyter, IPython and JupyterLab settings directory of its own (so
the theme can be switched and no news toast appears), and stops it with its kernels and every
embedded PostgreSQL they started.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
import pytest

from ..support import free_port

# Read at import, before any test clears the environment: CI sets it for these tests.
REQUIRE_BROWSER = os.environ.get("NEXUS_REQUIRE_BROWSER") == "1"
CHROMIUM = Path(os.environ.get("NEXUS_CHROMIUM", "/usr/bin/chromium"))
# Debian's Chromium under Playwright, as found to work here (../shared/FIELD-NOTES.md).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
LIGHT, DARK = "JupyterLab Light", "JupyterLab Dark"

# Browser console errors that JupyterLab itself logs on a healthy page, and why they are
# harmless here. Anything else logged as an error, or thrown, fails the test.
BENIGN_CONSOLE_ERRORS: list[tuple[re.Pattern[str], str]] = [
    (
        re.compile(r"Failed to load resource: .*(404|Not Found)"),
        "Lab probes optional files (translations, favicons, lab workspaces) that do not exist",
    ),
    (
        re.compile(r"Failed to load resource: net::ERR_CONNECTION_REFUSED"),
        "requests still in flight while the server stops at the end of the session",
    ),
]


def browser_missing() -> str | None:
    """Why the browser tests cannot run here (None when Playwright and Chromium are present)."""
    try:
        import playwright.sync_api  # noqa: F401 - only checking that it imports
    except ImportError as error:
        return f"Playwright for Python is not installed ({error})"
    if not (CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK)):
        return f"no Chromium at {str(CHROMIUM)!r} (Debian package `chromium`)"
    return None


def require_browser() -> None:
    """Skip (or fail, when NEXUS_REQUIRE_BROWSER=1) unless Playwright and Chromium are here."""
    reason = browser_missing()
    if reason is None:
        return
    if REQUIRE_BROWSER:
        pytest.fail(f"a browser is required here (NEXUS_REQUIRE_BROWSER=1): {reason}")
    pytest.skip(f"browser not available: {reason}")


def wait_until(condition: Callable[[], bool], timeout: float, interval: float = 0.2) -> bool:
    """Poll `condition` until it is true (True) or `timeout` seconds pass (False)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(interval)
    return True


def _settings(path: Path, values: Mapping[str, object]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(values, indent=2), encoding="utf-8")


def _stop_with_parent() -> None:
    """In the child, before exec: SIGTERM when the test process dies (Linux), so a killed
    pytest leaves no Lab, kernels or databases behind (Lab stops its kernels on SIGTERM)."""
    if sys.platform.startswith("linux"):
        import ctypes
        import signal

        pr_set_pdeathsig = 1
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


@dataclass
class LabServer:
    """JupyterLab on `root` (a scratch copy of the notebooks), state kept under `scratch`."""

    root: Path
    scratch: Path
    extra_env: Mapping[str, str] = field(default_factory=dict)
    port: int = 0
    token: str = field(default_factory=lambda: secrets.token_hex(16), repr=False)
    process: subprocess.Popen[bytes] | None = None

    @property
    def data_dir(self) -> Path:
        """NEXUS_DATA_DIR of the server and its kernels: where embedded clusters live."""
        return self.scratch / "nexus-data"

    @property
    def log_path(self) -> Path:
        """The server's stdout and stderr."""
        return self.scratch / "lab.log"

    def url(self, path: str) -> str:
        """The address of `path` on this server, token included (for the browser)."""
        separator = "&" if "?" in path else "?"
        return f"http://127.0.0.1:{self.port}{path}{separator}token={self.token}"

    def environment(self) -> dict[str, str]:
        """The server's environment: no NEXUS_/ANTHROPIC_ of the machine, our own directories."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("NEXUS_", "ANTHROPIC_"))}
        jupyter = self.scratch / "jupyter"
        env.update(
            {
                "JUPYTER_CONFIG_DIR": str(jupyter / "config"),
                "JUPYTER_DATA_DIR": str(jupyter / "data"),
                "JUPYTER_RUNTIME_DIR": str(jupyter / "runtime"),
                "JUPYTERLAB_SETTINGS_DIR": str(jupyter / "lab-settings"),
                "JUPYTERLAB_WORKSPACES_DIR": str(jupyter / "lab-workspaces"),
                "IPYTHONDIR": str(jupyter / "ipython"),
                "ANTHROPIC_CONFIG_DIR": str(self.scratch / "anthropic-config"),
                "NEXUS_PG_BACKEND": "embedded",
                "NEXUS_DATA_DIR": str(self.data_dir),
            }
        )
        env.update(self.extra_env)
        return env

    def write_lab_settings(self, theme: str = LIGHT) -> None:
        """User settings: the theme, no news or update checks (their toast covers the page)."""
        settings = self.scratch / "jupyter" / "lab-settings" / "@jupyterlab"
        _settings(
            settings / "apputils-extension" / "notification.jupyterlab-settings",
            {"fetchNews": "false", "checkForUpdates": False},
        )
        _settings(settings / "apputils-extension" / "themes.jupyterlab-settings", {"theme": theme})

    def start(self, timeout: float = 60) -> None:
        """Start the server and wait until its API answers."""
        for folder in (self.data_dir, self.scratch / "anthropic-config"):
            folder.mkdir(parents=True, exist_ok=True)
        self.write_lab_settings()
        self.port = free_port()
        command = [
            str(Path(sys.executable).parent / "nexus-workbook"),
            "lab",
            f"--notebooks={self.root}",
            "--no-browser",
            "--allow-root",
            "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.port={self.port}",
            f"--ServerApp.token={self.token}",
            "--ServerApp.open_browser=False",
            # window.jupyterapp: lets the tests switch the theme and read kernel states.
            "--LabApp.expose_app_in_browser=True",
        ]
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                command,
                cwd=self.root,
                env=self.environment(),
                stdout=log,
                stderr=log,
                preexec_fn=_stop_with_parent,  # noqa: PLW1509 - only calls prctl
            )
        if not wait_until(self._answers, timeout):
            self.stop()
            pytest.fail(f"JupyterLab did not answer in {timeout:.0f} s:\n{self.log_tail()}")

    def log_tail(self, chars: int = 3000) -> str:
        """The end of the server log, for failure messages."""
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return "(no log)"

    def _answers(self) -> bool:
        if self.process is None or self.process.poll() is not None:
            code = None if self.process is None else self.process.returncode
            pytest.fail(f"JupyterLab exited ({code}):\n{self.log_tail()}")
        try:
            return bool(self.api("GET", "/api/status"))
        except (urllib.error.URLError, ConnectionError):
            return False

    def api(self, method: str, path: str, body: object = None) -> Any:
        """Call the server's REST API; return the parsed JSON answer (None when empty)."""
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}{path}",
            method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Authorization": f"token {self.token}"},
        )
        with urllib.request.urlopen(request, timeout=20) as response:  # noqa: S310 - loopback
            raw = response.read()
        return json.loads(raw) if raw else None

    def shutdown_kernels(self) -> None:
        """Shut down every kernel (each stops the embedded PostgreSQL it started)."""
        for kernel in self.api("GET", "/api/kernels"):
            self.api("DELETE", f"/api/kernels/{kernel['id']}")

    def our_postgres(self) -> list[psutil.Process]:
        """PostgreSQL servers whose cluster lives in this server's data directory."""
        found = []
        for proc in psutil.process_iter(["name", "cmdline"]):
            command = " ".join(proc.info["cmdline"] or [])
            if proc.info["name"] == "postgres" and str(self.data_dir) in command:
                found.append(proc)
        return found

    def stop(self) -> list[str]:
        """Stop kernels, server and leftover PostgreSQL servers; return what had to be killed."""
        leftovers: list[str] = []
        process, self.process = self.process, None
        if process is None:
            return leftovers
        if process.poll() is None:
            try:
                self.shutdown_kernels()
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                leftovers.append("kernels could not be shut down through the API")
            process.terminate()
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
                leftovers.append("JupyterLab did not stop on SIGTERM")
        # Kernels stop their databases on shutdown; anything still up after a grace period is
        # ours (its cluster is in our data directory) and is stopped here.
        if not wait_until(lambda: not self.our_postgres(), 15):
            for proc in self.our_postgres():
                leftovers.append(f"postgres {proc.pid} left running")
                proc.terminate()
            psutil.wait_procs(self.our_postgres(), timeout=10)
        return leftovers


def copy_notebooks(source: Path, target: Path) -> Path:
    """A scratch copy of the notebooks folder (tests never touch the real notebooks)."""
    shutil.copytree(
        source, target, ignore=shutil.ignore_patterns(".ipynb_checkpoints", ".env", "build")
    )
    return target


@dataclass
class ConsoleLog:
    """What the page logged: every message, and the errors no benign pattern explains."""

    lines: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def message(self, kind: str, text: str, where: str = "") -> None:
        """Record one console message (`kind` as Playwright names it)."""
        line = f"[{kind}] {text}" + (f" ({where})" if where else "")
        self.lines.append(line)
        if kind == "error" and not any(p.search(text) for p, _ in BENIGN_CONSOLE_ERRORS):
            self.errors.append(line)

    def page_error(self, text: str) -> None:
        """Record an uncaught exception of the page: always a failure."""
        line = f"[pageerror] {text}"
        self.lines.append(line)
        self.errors.append(line)

    def take_errors(self) -> list[str]:
        """The unexplained errors so far, cleared."""
        errors, self.errors = self.errors, []
        return errors


def write_notebook(folder: Path, name: str, cells: list[str]) -> str:
    """Write a scratch notebook of code cells (Python 3 kernel) into `folder`; return its name."""
    import nbformat

    notebook = nbformat.v4.new_notebook()  # type: ignore[no-untyped-call]
    notebook.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3 (ipykernel)",
        "language": "python",
    }
    new_cell = nbformat.v4.new_code_cell
    notebook.cells = [new_cell(source) for source in cells]  # type: ignore[no-untyped-call]
    nbformat.write(notebook, folder / name)  # type: ignore[no-untyped-call]
    return name
