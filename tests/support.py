"""Helpers the tests share (fixtures live in conftest.py)."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from html.parser import HTMLParser
from pathlib import Path

import pytest

import nexus_kernel_helpers as nx
from nexus_kernel_helpers.errors import BackendUnavailable
from nexus_kernel_helpers.postgres._docker import docker_client, image_is_local

# Read at import, before any test clears the environment: CI sets these for the Docker tests.
TEST_IMAGE = os.environ.get("NEXUS_PG_IMAGE", "nexus-postgres-test:15")
REQUIRE_DOCKER = os.environ.get("NEXUS_REQUIRE_DOCKER") == "1"
REPO = Path(__file__).resolve().parent.parent


def require_docker() -> None:
    """Skip (or fail, when NEXUS_REQUIRE_DOCKER=1) unless Docker and the test image are here."""
    try:
        client = docker_client()
        present = image_is_local(client, TEST_IMAGE)
        client.close()
    except BackendUnavailable as error:
        reason = str(error)
    else:
        if present:
            return
        reason = f"image {TEST_IMAGE!r} not built (scripts/build-test-image.sh)"
    if REQUIRE_DOCKER:
        pytest.fail(f"Docker is required here (NEXUS_REQUIRE_DOCKER=1): {reason}")
    pytest.skip(f"Docker not available: {reason}")


def revealed_url(db: nx.Database) -> str:
    """The database's real URL, password included: for tests of the url backend."""
    return db.sqlalchemy_url.render_as_string(hide_password=False)


def free_port() -> int:
    """A loopback TCP port nothing listens on (free at the moment of asking)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class HtmlTagsAndText(HTMLParser):
    """Every start tag and every piece of text of an HTML document, in order."""

    def __init__(self, document: str = "") -> None:
        super().__init__()
        self.tags: list[str] = []
        self.text: list[str] = []
        if document:
            self.feed(document)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)

    def handle_data(self, data: str) -> None:
        self.text.append(data)


@contextmanager
def private_shop(data_dir: Path, *, scale: float, seed: int = 42) -> Iterator[nx.Database]:
    """The shop dataset on an embedded server of its own, stopped at the end.

    Not the shared `embedded_db`: loading a dataset switches a server's database to its clone,
    which tests of a bare server must not see.
    """
    settings = nx.Settings(data_dir=data_dir)
    with nx.start_database(
        "embedded",
        reuse=False,
        make_current=False,
        dataset="shop",
        scale=scale,
        seed=seed,
        settings=settings,
    ) as db:
        yield db
