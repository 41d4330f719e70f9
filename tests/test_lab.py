"""`make lab` (`nexus-workbook lab`) serves JupyterLab where the quickstart's magics work."""

from __future__ import annotations

import html
import json
import os
import secrets
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil
import pytest
import websocket

from .support import REPO, free_port

CELLS = ["%load_ext nexus_kernel_helpers", "%nexus_db start", "%%sql\nselect version()"]


def our_postgres(data_dir: Path) -> set[int]:
    """Postgres servers whose cluster lives in this test run's data directory."""
    return {
        proc.pid
        for proc in psutil.process_iter(["name", "cmdline"])
        if proc.info["name"] == "postgres" and str(data_dir) in " ".join(proc.info["cmdline"] or [])
    }


def wait_until(condition: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True


class Lab:
    """The running server's REST API and one kernel's websocket, as the browser would use them."""

    def __init__(self, port: int, token: str) -> None:
        self.base, self.token = f"127.0.0.1:{port}", token

    def api(self, method: str, path: str, body: object = None) -> Any:
        request = urllib.request.Request(
            f"http://{self.base}{path}",
            method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Authorization": f"token {self.token}"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - http://127...
            raw = response.read()
        return json.loads(raw) if raw else None

    def execute(self, ws: websocket.WebSocket, code: str) -> list[dict[str, Any]]:
        """Run `code` on the kernel; check it succeeded; return its iopub output messages."""
        msg_id = uuid.uuid4().hex
        header = {"msg_id": msg_id, "msg_type": "execute_request", "version": "5.3"}
        content = {"code": code, "silent": False, "store_history": True, "allow_stdin": False}
        ws.send(
            json.dumps(
                {
                    "channel": "shell",
                    "header": {**header, "session": "test-lab", "username": "test"},
                    "parent_header": {},
                    "metadata": {},
                    "content": {**content, "user_expressions": {}, "stop_on_error": True},
                }
            )
        )
        replies: list[dict[str, Any]] = []
        status, idle = None, False
        while status is None or not idle:
            message = json.loads(ws.recv())
            if message["parent_header"].get("msg_id") != msg_id:
                continue
            if message["msg_type"] == "execute_reply":
                status = message["content"]["status"]
            elif message["msg_type"] == "status":
                idle = message["content"]["execution_state"] == "idle"
            else:
                replies.append(message)
        # A UsageError shows as stderr text, not an `error` message: the reply's status tells.
        failed = status != "ok" or any(m["msg_type"] == "error" for m in replies)
        assert not failed, f"{code!r} failed: {[m['content'] for m in replies]}"
        return replies


def html_outputs(messages: list[dict[str, Any]], msg_type: str) -> str:
    return "\n".join(
        m["content"]["data"].get("text/html", "") for m in messages if m["msg_type"] == msg_type
    )


@pytest.mark.slow
def test_lab_serves_notebooks_whose_magics_run(tmp_path: Path, data_dir: Path) -> None:
    before = our_postgres(data_dir)
    port, token = free_port(), secrets.token_hex(16)
    # Jupyter's and IPython's own files go to tmp_path, not the user's home.
    env = dict(os.environ)
    for variable in ("JUPYTER_CONFIG_DIR", "JUPYTER_DATA_DIR", "JUPYTER_RUNTIME_DIR", "IPYTHONDIR"):
        env[variable] = str(tmp_path / variable.lower())
    command = [
        str(Path(sys.executable).parent / "nexus-workbook"),
        "lab",
        "--no-browser",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        f"--ServerApp.token={token}",
        "--ServerApp.open_browser=False",  # no --allow-root: the command adds it as root
    ]
    log_path = tmp_path / "lab.log"
    with log_path.open("wb") as log:
        server = subprocess.Popen(command, cwd=REPO, env=env, stdout=log, stderr=log)
    lab = Lab(port, token)

    def answers() -> bool:
        if server.poll() is not None:
            pytest.fail(f"lab exited ({server.returncode}):\n{log_path.read_text()[-3000:]}")
        try:
            return bool(lab.api("GET", "/api/status"))
        except (urllib.error.URLError, ConnectionError):
            return False

    try:
        assert wait_until(answers, 60), f"lab did not answer:\n{log_path.read_text()[-3000:]}"
        names = [item["name"] for item in lab.api("GET", "/api/contents")["content"]]
        assert "00_quickstart.ipynb" in names

        kernel_id = lab.api("POST", "/api/kernels", {"name": "python3"})["id"]
        ws = websocket.create_connection(
            f"ws://{lab.base}/api/kernels/{kernel_id}/channels?token={token}", timeout=60
        )
        try:
            outputs = [lab.execute(ws, code) for code in CELLS]
            assert our_postgres(data_dir) - before, "no embedded server was started"
            stopped = lab.execute(ws, "%nexus_db stop")
        finally:
            ws.close()
        lab.api("DELETE", f"/api/kernels/{kernel_id}")
    finally:
        server.terminate()
        try:
            server.wait(20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()

    card = html_outputs(outputs[1], "display_data")
    assert "Nexus database" in card
    assert "embedded" in card
    # Chosen because `lab` set NEXUS_PG_BACKEND=embedded, not as auto's fallback without Docker.
    assert html.escape("(backend='embedded')") in card
    assert "PostgreSQL 18" in html_outputs(outputs[2], "execute_result")
    assert "stopped" in html_outputs(stopped, "display_data")
    assert wait_until(lambda: not our_postgres(data_dir) - before, 10), "postgres left running"
