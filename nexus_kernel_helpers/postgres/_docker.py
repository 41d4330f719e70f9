"""Docker backend: a PostgreSQL container started with testcontainers.

The container publishes its port on 127.0.0.1 only (for a local engine), runs with the same
server settings as the other backends, and carries labels naming the process that owns it.
Ryuk, testcontainers' reaper, needs an image that cannot always be pulled, so the workbook does
its own reaping: `stop()` and interpreter exit remove the container, and the next start removes
labelled containers whose owner on this host has died.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import socket
import time
from typing import TYPE_CHECKING, Any, cast

from ..errors import BackendUnavailable
from ._conninfo import redact
from ._provisioned import Provisioned, owner_identity, owner_is_alive

if TYPE_CHECKING:
    import docker

_log = logging.getLogger(__name__)

LABEL = "io.nexus-workbook"
SERVER_ARGS = [
    "-c",
    "shared_preload_libraries=pg_stat_statements",
    "-c",
    "track_io_timing=on",
]
PING_TIMEOUT_S = 3
START_TIMEOUT_S = 120.0


def docker_client() -> docker.DockerClient:
    """A client for the configured engine, or BackendUnavailable saying why there is none."""
    import docker
    from docker.constants import MINIMUM_DOCKER_API_VERSION

    _check_local_socket()
    failure = ""
    probe = None
    try:
        # Ping with a fixed API version first: a client that negotiates its version connects
        # in its constructor, and leaks its socket when that fails.
        probe = docker.from_env(version=MINIMUM_DOCKER_API_VERSION, timeout=PING_TIMEOUT_S)
        probe.ping()
        return docker.from_env(timeout=PING_TIMEOUT_S)
    except Exception as error:  # docker-py raises its own errors, requests' and ValueError
        failure = _short_reason(error)
    finally:
        if probe is not None:
            probe.close()
    raise BackendUnavailable(
        f"Docker not reachable: {failure}",
        fix="start the Docker engine, or use backend='embedded'",
    )


def start_docker(image: str, *, pull: bool) -> Provisioned:
    """Start a PostgreSQL container from `image`; pull it first only when `pull` is true."""
    from docker.errors import DockerException
    from testcontainers.community.postgres import PostgresContainer

    client = docker_client()
    try:
        _skip_unavailable_reaper(client)
        remove_leftover_containers(client)
        if not pull and not image_is_local(client, image):
            raise BackendUnavailable(
                f"Docker image {image!r} is not present locally",
                fix=f"run `docker pull {image}` or set NEXUS_PG_IMAGE to a local image",
            )
    finally:
        client.close()

    password = secrets.token_urlsafe(24)
    owner = owner_identity()
    local_engine = _engine_is_local()

    class WorkbookPostgres(PostgresContainer):
        def _connect(self) -> None:
            # Wait from the host with psycopg rather than testcontainers' `psql` inside the
            # container, whose command line carries the password for anyone running `ps`.
            host = "127.0.0.1" if local_engine else self.get_container_host_ip()
            _wait_for_server(self, host, self.get_exposed_port(5432), password)

    container = (
        WorkbookPostgres(
            image, username="nexus", password=password, dbname="workbook", driver="psycopg"
        )
        .with_command(SERVER_ARGS)
        .with_kwargs(
            labels={LABEL: "1", **{f"{LABEL}.owner-{k}": str(v) for k, v in owner.items()}}
        )
    )
    if local_engine:
        # Publish on loopback only: a workshop laptop must not offer its database to the room.
        cast(Any, container).ports["5432"] = ("127.0.0.1",)
    failure = ""
    try:
        container.start()
        host = "127.0.0.1" if local_engine else container.get_container_host_ip()
        port = container.get_exposed_port(5432)
    except BaseException as error:  # Ctrl-C included: never leave the container behind
        with contextlib.suppress(Exception):
            container.stop()
        if not isinstance(error, Exception):
            raise
        failure = redact(" ".join(str(error).split()), [password])[:300]
    if failure:
        # Raised outside the handler, so the original error (which may hold the password)
        # is not kept as this one's context.
        raise BackendUnavailable(f"PostgreSQL container from {image!r} failed: {failure}")

    def stop() -> None:
        with contextlib.suppress(DockerException):
            container.stop()

    return Provisioned(
        backend="docker",
        params={
            "host": host,
            "port": str(port),
            "user": "nexus",
            "password": password,
            "dbname": "workbook",
        },
        owns_server=True,
        description=f"container {container.get_wrapped_container().short_id} from {image}",
        _stop=stop,
    )


def _check_local_socket() -> None:
    """Fail fast, and without docker-py (which leaks the socket), when a local engine is absent."""
    docker_host = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    if not docker_host.startswith("unix://"):
        return
    path = docker_host.removeprefix("unix://")
    fix = "start the Docker engine, or use backend='embedded'"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        probe.settimeout(PING_TIMEOUT_S)
        try:
            probe.connect(path)
        except FileNotFoundError:
            raise BackendUnavailable(
                f"Docker not reachable: no Docker socket at {path}", fix=fix
            ) from None
        except ConnectionRefusedError:
            raise BackendUnavailable(
                f"Docker not reachable: nothing answers on {path}", fix=fix
            ) from None
        except PermissionError:
            raise BackendUnavailable(
                f"Docker not reachable: permission denied on {path}",
                fix="add your user to the docker group, or use backend='embedded'",
            ) from None
        except OSError as error:
            raise BackendUnavailable(
                f"Docker not reachable: {path}: {error.strerror}", fix=fix
            ) from None


def image_is_local(client: docker.DockerClient, image: str) -> bool:
    """Whether `image` can start without a pull."""
    from docker.errors import DockerException, ImageNotFound

    try:
        client.images.get(image)
    except ImageNotFound:
        return False
    except DockerException as error:
        raise BackendUnavailable(f"Docker failed: {_short_reason(error)}") from None
    return True


def _skip_unavailable_reaper(client: docker.DockerClient) -> None:
    """Turn Ryuk off when its image is not local: pulling it fails offline, and we reap anyway."""
    from testcontainers.core.config import testcontainers_config

    if testcontainers_config.ryuk_disabled:
        return
    if not image_is_local(client, testcontainers_config.ryuk_image):
        testcontainers_config.ryuk_disabled = True
        _log.info("Ryuk image not local: leftover containers are removed by the next start")


def remove_leftover_containers(client: docker.DockerClient) -> list[str]:
    """Remove our labelled containers whose owner process on this host has died."""
    from docker.errors import DockerException

    host = os.uname().nodename
    removed: list[str] = []
    for found in client.containers.list(all=True, filters={"label": LABEL}):
        labels = found.labels
        if labels.get(f"{LABEL}.owner-host") != host:
            continue
        owner: dict[str, object] = {}
        with contextlib.suppress(KeyError, ValueError):
            owner = {
                "pid": int(labels[f"{LABEL}.owner-pid"]),
                "started": float(labels[f"{LABEL}.owner-started"]),
            }
        if owner_is_alive(owner):
            continue
        with contextlib.suppress(DockerException):
            found.remove(force=True, v=True)
            removed.append(found.short_id)
            _log.info("removed leftover container %s", found.short_id)
    return removed


def _wait_for_server(container: Any, host: str, port: int, password: str) -> None:
    """Poll until PostgreSQL accepts a login, or the container stops, or time runs out."""
    import psycopg

    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        try:
            psycopg.connect(
                host=host,
                port=port,
                user="nexus",
                password=password,
                dbname="workbook",
                connect_timeout=2,
            ).close()
            return
        except psycopg.OperationalError:
            wrapped = container.get_wrapped_container()
            wrapped.reload()
            if wrapped.status not in ("created", "running"):
                tail = wrapped.logs(tail=3).decode(errors="replace").strip().replace("\n", " | ")
                raise RuntimeError(f"the container stopped ({wrapped.status}): {tail}") from None
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"PostgreSQL did not accept connections in {START_TIMEOUT_S:.0f} s"
                ) from None
            time.sleep(0.1)


def _engine_is_local() -> bool:
    docker_host = os.environ.get("DOCKER_HOST", "")
    return not docker_host or docker_host.startswith(("unix://", "npipe://"))


def _short_reason(error: BaseException) -> str:
    """A docker-py error on one line, without its long wrapping."""
    text = " ".join(str(error).split())
    if "Connection refused" in text:
        return f"nothing answers at {os.environ.get('DOCKER_HOST', 'the Docker socket')}"
    return text[:300] or type(error).__name__
