"""What every backend hands back: where the server is and how to stop it."""

from __future__ import annotations

import atexit
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import psutil

Backend = Literal["embedded", "docker", "url"]

_log = logging.getLogger(__name__)


@dataclass
class Provisioned:
    """A running server that a backend started or found.

    `params` are libpq connection parameters and include the password; they never leave the
    process. `owns_server` says whether the workbook created the server, and so may change its
    settings and extensions.
    """

    backend: Backend
    params: dict[str, str] = field(repr=False)
    owns_server: bool
    description: str
    _stop: Callable[[], None] = field(repr=False)
    _stopped: bool = field(default=False, repr=False)

    def __post_init__(self) -> None:
        atexit.register(self.stop)

    def stop(self) -> None:
        """Stop the server if the workbook started it; idempotent."""
        if self._stopped:
            return
        self._stopped = True
        atexit.unregister(self.stop)
        self._stop()


def owner_identity() -> dict[str, float | int | str]:
    """Who owns a server we start: this process, told apart from a later one with its pid."""
    process = psutil.Process(os.getpid())
    return {"pid": process.pid, "started": process.create_time(), "host": os.uname().nodename}


def owner_is_alive(owner: dict[str, object]) -> bool:
    """Whether the process that recorded `owner` is still running (and is the same process)."""
    pid, started = owner.get("pid"), owner.get("started")
    if not isinstance(pid, int) or not isinstance(started, int | float):
        return False
    try:
        return abs(psutil.Process(pid).create_time() - started) < 1.0
    except psutil.Error:
        return False
