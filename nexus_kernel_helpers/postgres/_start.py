"""`start_database()`: choose a backend, start it once per kernel, reuse it on re-runs."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

from ..config import BACKENDS, BackendChoice, Settings, load_settings
from ..errors import BackendUnavailable, ConfigurationError, DatabaseError
from ._conninfo import mask_url, parse_url
from ._database import Database
from ._docker import start_docker
from ._embedded import binaries_version, start_embedded
from ._provisioned import Provisioned

__all__ = ["current_database", "start_database"]

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Request:
    """What a start call asked for, to tell whether a running database already answers it."""

    backend: BackendChoice
    url: str | None
    image: str

    @property
    def wanted(self) -> BackendChoice:
        """The backend this request needs; "auto" without a URL takes whatever runs."""
        return "url" if self.url and self.backend in ("auto", "url") else self.backend

    def is_met_by(self, started: _Request, db: Database) -> bool:
        if self.wanted == "auto":
            return True
        if self.wanted != db.backend:
            return False
        if db.backend == "url":
            return self.url == started.url
        return db.backend != "docker" or self.image == started.image


class _Current:
    """The kernel's default database: created lazily, replaced only on request."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.database: Database | None = None
        self.request: _Request | None = None


_current = _Current()


def current_database() -> Database:
    """The database the last `start_database()` made current; raise if none is running."""
    db = _current.database
    if db is None or not db.is_running:
        raise DatabaseError(
            "no database is running in this kernel",
            fix="start one with nx.start_database() or %nexus_db start",
        )
    return db


def start_database(
    backend: BackendChoice | None = None,
    *,
    url: str | None = None,
    image: str | None = None,
    reuse: bool = True,
    make_current: bool = True,
    dataset: str | None = None,
    scale: float = 0.01,
    seed: int = 42,
    settings: Settings | None = None,
) -> Database:
    """Start (or reuse) the kernel's PostgreSQL database and return it.

    `backend` is "auto" (a URL if one is configured, else Docker if it answers, else
    embedded), "embedded", "docker" or "url"; it defaults to NEXUS_PG_BACKEND. Calling again
    returns the running database when it answers the same request, so re-running a cell is
    cheap; a different request stops the old one first. `reuse=False` always starts a new
    database, which becomes the current one (unless `make_current=False`, e.g. for a second
    server to compare with); the previous one keeps running until stopped.

    `dataset` (e.g. "shop") loads a built-in dataset at `scale` (1 ≈ a million orders) from
    `seed`: generated once per server into a template, then cloned, so later starts and
    `db.reset()` take about a second. Asking a running database for another dataset loads it.
    """
    config = settings if settings is not None else load_settings()
    choice = backend if backend is not None else config.pg_backend
    if choice not in BACKENDS:
        raise ConfigurationError(
            f"backend {choice!r} is not one of {', '.join(BACKENDS)}",
            fix="pass backend='auto', 'embedded', 'docker' or 'url'",
        )
    request = _Request(choice, url or config.database_url, image or config.pg_image)
    with _current.lock:
        running, started = _current.database, _current.request
        if reuse and running is not None and started is not None and running.is_running:
            if request.is_met_by(started, running) and running.ping():
                _ensure_dataset(running, dataset, scale, seed)
                return running
            _log.info("stopping the %s database to start the one asked for", running.backend)
            running.stop()
        provisioned, reason = _provision(request, config)
        db = Database(provisioned, reason=reason)
        try:
            _ensure_dataset(db, dataset, scale, seed)
        except BaseException:
            db.stop()
            raise
        if make_current:
            _current.database, _current.request = db, request
        return db


def _ensure_dataset(db: Database, dataset: str | None, scale: float, seed: int) -> None:
    held = db.dataset
    if dataset is None or (held and (held.name, held.scale, held.seed) == (dataset, scale, seed)):
        return
    db.load_dataset(dataset, scale=scale, seed=seed)


def _provision(request: _Request, config: Settings) -> tuple[Provisioned, str]:
    """Start or find a server for `request`; return it and one line saying why this one."""
    if request.backend == "url" or (request.backend == "auto" and request.url):
        if not request.url:
            raise ConfigurationError(
                "backend 'url' needs a database URL",
                fix="set NEXUS_DATABASE_URL or pass url='postgresql://user@host/dbname'",
            )
        parse_url(request.url)  # fail early, with the password masked
        from ._url import provision_url

        return provision_url(request.url), f"using the server at {mask_url(request.url)}"
    if request.backend == "docker":
        return start_docker(request.image, pull=True), f"using Docker image {request.image}"
    if request.backend == "embedded":
        return start_embedded(config.data_dir), "using embedded PostgreSQL (backend='embedded')"
    try:
        return start_docker(request.image, pull=False), (
            f"Docker answers: using Docker image {request.image}"
        )
    except BackendUnavailable as error:
        reason = f"{error.message}; using embedded PostgreSQL {binaries_version()}"
        _log.info(reason)
        return start_embedded(config.data_dir), reason
