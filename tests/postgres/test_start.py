"""start_database(): one database per kernel, reused on re-runs, replaced on request."""

from __future__ import annotations

import pytest

import nexus_kernel_helpers as nx


def test_starting_again_reuses_the_running_database() -> None:
    first = nx.start_database("embedded")
    try:
        assert nx.start_database() is first
        assert nx.start_database("embedded") is first
        assert nx.current_database() is first
    finally:
        first.stop()


def test_a_stopped_database_is_replaced_on_the_next_start() -> None:
    first = nx.start_database("embedded")
    first.stop()
    with pytest.raises(nx.DatabaseError, match="no database is running in this kernel"):
        nx.current_database()
    second = nx.start_database("embedded")
    try:
        assert second is not first
        assert second.query("select 1").scalar() == 1
    finally:
        second.stop()


def test_new_database_on_request_becomes_current() -> None:
    first = nx.start_database("embedded")
    second = nx.start_database("embedded", reuse=False)
    try:
        assert second is not first
        assert nx.current_database() is second
        assert first.is_running
    finally:
        first.stop()
        second.stop()


def test_a_different_backend_stops_the_old_database(embedded_db: nx.Database) -> None:
    from ..support import revealed_url

    first = nx.start_database("embedded")
    second = nx.start_database("url", url=revealed_url(embedded_db))
    try:
        assert second.backend == "url"
        assert not first.is_running
    finally:
        second.stop()


def test_unknown_backend_is_refused() -> None:
    with pytest.raises(nx.ConfigurationError, match=r"backend 'podman' is not one of auto"):
        nx.start_database("podman")  # type: ignore[arg-type]


def test_context_manager_stops_the_database() -> None:
    with nx.start_database("embedded", reuse=False) as db:
        assert db.query("select 2").scalar() == 2
    assert not db.is_running


def test_a_dead_server_is_one_line_and_the_next_start_replaces_it() -> None:
    import signal

    import psutil

    db = nx.start_database("embedded", reuse=False)
    backend = psutil.Process(int(db.query("select pg_backend_pid()").scalar()))
    postmaster = backend.parent()
    assert postmaster is not None
    postmaster.send_signal(signal.SIGQUIT)  # immediate shutdown, as if the server crashed
    postmaster.wait(10)
    with pytest.raises(nx.DatabaseError) as caught:
        db.query("select 1")
    assert str(caught.value).count("\n") == 0
    assert "check that the server is still running" in str(caught.value)
    replacement = nx.start_database("embedded")
    try:
        assert replacement is not db
        assert replacement.query("select 1").scalar() == 1
    finally:
        replacement.stop()
        db.stop()


def test_a_url_is_not_answered_by_the_running_embedded_database(embedded_db: nx.Database) -> None:
    from ..support import revealed_url

    first = nx.start_database("embedded", reuse=False)
    second = nx.start_database(url=revealed_url(embedded_db))
    try:
        assert second.backend == "url"
        assert nx.start_database(url=revealed_url(embedded_db)) is second
        assert nx.start_database() is second
    finally:
        second.stop()
        first.stop()
