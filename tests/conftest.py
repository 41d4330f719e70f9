"""Shared fixtures: an isolated environment, real PostgreSQL servers, Docker when present."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

import nexus_kernel_helpers as nx

from .support import TEST_IMAGE, require_docker


def _scratch_dir() -> Iterator[Path]:
    # Not under pytest's tmp root: pytest makes that 0700 again whenever a run starts, and the
    # embedded server's unprivileged user (when tests run as root) must traverse its parents.
    path = Path(tempfile.mkdtemp(prefix="nexus-test-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def data_dir() -> Iterator[Path]:
    """One workbook data directory for the run, apart from any real user's."""
    yield from _scratch_dir()


@pytest.fixture
def fresh_data_dir() -> Iterator[Path]:
    """A data directory of this test's own, for tests about what other clusters leave."""
    yield from _scratch_dir()


@pytest.fixture(autouse=True)
def isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, data_dir: Path) -> None:
    """No NEXUS_/ANTHROPIC_ settings from the machine, no stray .env, our own data dir."""
    for name in list(os.environ):
        if name.startswith(("NEXUS_", "ANTHROPIC_")):
            monkeypatch.delenv(name)
    config_dir = tmp_path / "anthropic-config"
    config_dir.mkdir()
    monkeypatch.setenv("ANTHROPIC_CONFIG_DIR", str(config_dir))
    monkeypatch.setenv("NEXUS_DATA_DIR", str(data_dir))
    monkeypatch.chdir(tmp_path)


@pytest.fixture(scope="session")
def embedded_db(data_dir: Path) -> Iterator[nx.Database]:
    """A real embedded PostgreSQL 18 shared by the tests that only read or clean up."""
    settings = nx.Settings(data_dir=data_dir)
    db = nx.start_database("embedded", reuse=False, make_current=False, settings=settings)
    yield db
    db.stop()


@pytest.fixture(scope="session")
def docker_db(data_dir: Path) -> Iterator[nx.Database]:
    """A real PostgreSQL container from the locally built test image."""
    require_docker()
    settings = nx.Settings(data_dir=data_dir, pg_image=TEST_IMAGE)
    db = nx.start_database("docker", reuse=False, make_current=False, settings=settings)
    yield db
    db.stop()
