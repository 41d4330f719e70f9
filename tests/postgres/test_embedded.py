"""The embedded backend: settings, isolation, stop, and leftovers of killed kernels."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import psutil
import pytest

import nexus_kernel_helpers as nx


def test_server_has_the_workbook_settings(embedded_db: nx.Database) -> None:
    assert embedded_db.backend == "embedded"
    assert embedded_db.server_version.startswith("18.")
    assert embedded_db.server_settings["shared_preload_libraries"] == "pg_stat_statements"
    assert embedded_db.server_settings["track_io_timing"] == "on"
    assert embedded_db.has_statements
    calls = embedded_db.query("select count(*) from pg_stat_statements").scalar()
    assert calls >= 1


def test_server_listens_on_no_tcp_port_and_needs_its_password(embedded_db: nx.Database) -> None:
    assert embedded_db.query("show listen_addresses").scalar() == ""
    import psycopg

    host = str(embedded_db.sqlalchemy_url.query["host"])
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(host=host, user="postgres", password="wrong", dbname="postgres")


def postmaster_of(db: nx.Database) -> psutil.Process:
    """The server process behind an embedded database (the parent of our backend)."""
    backend = psutil.Process(int(db.query("select pg_backend_pid()").scalar()))
    parent = backend.parent()
    assert parent is not None
    return parent


def test_stop_leaves_no_process_and_no_files(data_dir: Path) -> None:
    db = nx.start_database("embedded", reuse=False, settings=nx.Settings(data_dir=data_dir))
    postmaster = postmaster_of(db)
    server = [postmaster, *postmaster.children(recursive=True)]
    cluster = Path(postmaster.cwd()).parent
    assert (cluster / "owner.json").is_file()
    assert len(server) > 3  # postmaster, checkpointer, walwriter, our backend, ...
    db.stop()
    assert not any(process.is_running() for process in server)
    assert not cluster.exists()
    db.stop()  # idempotent
    with pytest.raises(nx.DatabaseError, match=r"the embedded database is stopped; start one"):
        db.query("select 1")


KERNEL = textwrap.dedent(
    """
    import json, sys, time
    import psutil
    import nexus_kernel_helpers as nx
    db = nx.start_database("embedded")
    db.query("create table mine (who text)")
    db.query("insert into mine values (:who)", {"who": sys.argv[1]})
    rows = [r[0] for r in db.query("select who from mine").rows]
    postmaster = psutil.Process(db.query("select pg_backend_pid()").scalar()).parent()
    print(json.dumps({"rows": rows, "pid": postmaster.pid, "data": postmaster.cwd()}), flush=True)
    if sys.argv[2] == "wait":
        time.sleep(600)
    """
)


def _kernel(name: str, mode: str, data_dir: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "NEXUS_DATA_DIR": str(data_dir)}
    return subprocess.Popen(
        [sys.executable, "-c", KERNEL, name, mode], stdout=subprocess.PIPE, text=True, env=env
    )


def test_two_kernels_starting_at_once_get_separate_servers(fresh_data_dir: Path) -> None:
    kernels = [_kernel(name, "exit", fresh_data_dir) for name in ("alice", "bob")]
    outputs = [json.loads(k.communicate(timeout=60)[0]) for k in kernels]
    assert [k.returncode for k in kernels] == [0, 0]
    assert outputs[0]["rows"] == ["alice"]
    assert outputs[1]["rows"] == ["bob"]
    assert outputs[0]["data"] != outputs[1]["data"]
    # Interpreter exit stopped both servers and removed their clusters.
    assert not any(psutil.pid_exists(o["pid"]) for o in outputs)
    assert list((fresh_data_dir / "clusters").iterdir()) == []


def test_next_start_removes_the_cluster_of_a_killed_kernel(fresh_data_dir: Path) -> None:
    kernel = _kernel("doomed", "wait", fresh_data_dir)
    assert kernel.stdout is not None
    orphan = json.loads(kernel.stdout.readline())
    kernel.send_signal(signal.SIGKILL)
    kernel.wait(10)
    kernel.stdout.close()
    assert psutil.pid_exists(orphan["pid"]), "postgres should outlive a killed kernel"
    leftover = Path(orphan["data"]).parent
    assert leftover.exists()

    db = nx.start_database("embedded", reuse=False, settings=nx.Settings(data_dir=fresh_data_dir))
    try:
        assert not psutil.pid_exists(orphan["pid"])
        assert not leftover.exists()
    finally:
        db.stop()


def test_a_data_dir_others_may_write_is_refused(fresh_data_dir: Path) -> None:
    shared = fresh_data_dir / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    with pytest.raises(nx.ConfigurationError, match=r"owned or writable by another user"):
        nx.start_database("embedded", reuse=False, settings=nx.Settings(data_dir=shared))


def test_leftover_cleanup_deletes_only_what_it_made(fresh_data_dir: Path, tmp_path: Path) -> None:
    canary = tmp_path / "canary"
    canary.mkdir()
    forged = fresh_data_dir / "clusters" / "pg-1-forged"
    forged.mkdir(parents=True)
    (forged / "socket-dir").write_text(str(canary))
    (forged / "owner.json").write_text(json.dumps({"pid": 1, "started": 0}))
    db = nx.start_database("embedded", reuse=False, settings=nx.Settings(data_dir=fresh_data_dir))
    try:
        assert not forged.exists()
        assert canary.is_dir()
    finally:
        db.stop()
