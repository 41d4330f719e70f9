"""The docker backend against a real Docker engine and the locally built test image."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

import nexus_kernel_helpers as nx
from nexus_kernel_helpers.postgres._docker import LABEL, docker_client

from ..support import TEST_IMAGE, free_port, require_docker

pytestmark = pytest.mark.docker


def _our_containers(pid: int | None = None) -> list[str]:
    """Workbook containers; with `pid`, only those that process owns."""
    label = LABEL if pid is None else f"{LABEL}.owner-pid={pid}"
    client = docker_client()
    try:
        return [c.id for c in client.containers.list(all=True, filters={"label": label})]
    finally:
        client.close()


def test_container_has_the_workbook_settings(docker_db: nx.Database) -> None:
    assert docker_db.backend == "docker"
    assert docker_db.server_version == docker_db.query("show server_version").scalar().split()[0]
    assert docker_db.server_settings["shared_preload_libraries"] == "pg_stat_statements"
    assert docker_db.server_settings["track_io_timing"] == "on"
    assert docker_db.has_statements
    assert docker_db.url.startswith("postgresql://nexus:***@127.0.0.1:")


def test_port_is_published_on_loopback_only(docker_db: nx.Database) -> None:
    client = docker_client()
    try:
        (container,) = [
            c
            for c in client.containers.list(filters={"label": LABEL})
            if str(docker_db.sqlalchemy_url.port) in json.dumps(c.ports)
        ]
        bindings = container.ports["5432/tcp"]
    finally:
        client.close()
    assert {binding["HostIp"] for binding in bindings} == {"127.0.0.1"}


def test_stop_removes_the_container(data_dir: Path) -> None:
    require_docker()
    settings = nx.Settings(data_dir=data_dir, pg_image=TEST_IMAGE)
    before = set(_our_containers(os.getpid()))
    db = nx.start_database("docker", reuse=False, settings=settings)
    try:
        started = set(_our_containers(os.getpid())) - before
        assert len(started) == 1
    finally:
        db.stop()
    assert set(_our_containers()) & started == set()


KERNEL = textwrap.dedent(
    """
    import sys, time
    import nexus_kernel_helpers as nx
    db = nx.start_database("docker", image=sys.argv[1])
    print(db.query("select 1").scalar(), flush=True)
    time.sleep(600)
    """
)


def test_next_start_removes_the_container_of_a_killed_kernel(data_dir: Path) -> None:
    require_docker()
    before = set(_our_containers())
    kernel = subprocess.Popen(
        [sys.executable, "-c", KERNEL, TEST_IMAGE],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ},
    )
    assert kernel.stdout is not None
    assert kernel.stdout.readline().strip() == "1"
    kernel.send_signal(signal.SIGKILL)
    kernel.wait(10)
    kernel.stdout.close()
    orphans = set(_our_containers()) - before
    assert len(orphans) == 1, "the killed kernel's container should still be there"

    settings = nx.Settings(data_dir=data_dir, pg_image=TEST_IMAGE)
    db = nx.start_database("docker", reuse=False, settings=settings)
    try:
        assert set(_our_containers()) & orphans == set()
    finally:
        db.stop()


def test_docker_backend_without_docker_is_one_clear_line(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-docker.sock")
    with pytest.raises(nx.BackendUnavailable) as caught:
        nx.start_database("docker", reuse=False)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("Docker not reachable: no Docker socket")
    assert message.endswith("start the Docker engine, or use backend='embedded'")


def test_auto_falls_back_to_embedded_and_says_why(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-docker.sock")
    db = nx.start_database(reuse=False)
    try:
        assert db.backend == "embedded"
        assert db.reason.startswith("Docker not reachable: no Docker socket")
        assert db.reason.endswith(f"using embedded PostgreSQL {db.server_version}")
        assert db.reason in db._repr_html_()
    finally:
        db.stop()


def test_auto_does_not_pull_a_missing_image(monkeypatch: pytest.MonkeyPatch) -> None:
    require_docker()
    monkeypatch.setenv("NEXUS_PG_IMAGE", "nexus-no-such-image:0")
    db = nx.start_database(reuse=False)
    try:
        assert db.backend == "embedded"
        assert "'nexus-no-such-image:0' is not present locally" in db.reason
    finally:
        db.stop()


def test_auto_picks_docker_when_it_answers(monkeypatch: pytest.MonkeyPatch) -> None:
    require_docker()
    monkeypatch.setenv("NEXUS_PG_IMAGE", TEST_IMAGE)
    db = nx.start_database(reuse=False)
    try:
        assert db.backend == "docker"
        assert db.reason == f"Docker answers: using Docker image {TEST_IMAGE}"
    finally:
        db.stop()


def test_auto_falls_back_when_a_tcp_engine_does_not_answer(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"tcp://127.0.0.1:{free_port()}")
    db = nx.start_database(reuse=False)
    try:
        assert db.backend == "embedded"
        assert db.reason.startswith("Docker not reachable: nothing answers at tcp://127.0.0.1:")
    finally:
        db.stop()


def test_ctrl_c_during_a_container_start_leaves_no_container(data_dir: Path) -> None:
    require_docker()
    before = set(_our_containers(os.getpid()))
    timer = threading.Timer(0.3, signal.raise_signal, [signal.SIGINT])
    timer.start()
    with pytest.raises(KeyboardInterrupt):
        nx.start_database(
            "docker", reuse=False, settings=nx.Settings(data_dir=data_dir, pg_image=TEST_IMAGE)
        )
    timer.cancel()
    assert set(_our_containers(os.getpid())) - before == set()
