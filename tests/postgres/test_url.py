"""The url backend against real servers, and its faults: bad URLs, dead servers, secrets."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import nexus_kernel_helpers as nx

from ..support import free_port, revealed_url


@pytest.fixture
def url_db(embedded_db: nx.Database) -> Iterator[nx.Database]:
    db = nx.start_database("url", url=revealed_url(embedded_db), reuse=False)
    yield db
    db.stop()


def test_url_backend_reaches_the_server_and_never_stops_it(
    embedded_db: nx.Database, url_db: nx.Database
) -> None:
    assert url_db.backend == "url"
    assert url_db.server_version == embedded_db.server_version
    assert url_db.has_statements
    url_db.stop()
    assert embedded_db.query("select 1").scalar() == 1


def test_auto_picks_the_configured_url(
    embedded_db: nx.Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NEXUS_DATABASE_URL", revealed_url(embedded_db))
    db = nx.start_database(reuse=False)
    try:
        assert db.backend == "url"
        assert db.reason.startswith("using the server at postgresql")
    finally:
        db.stop()


def test_password_appears_in_no_repr_html_or_status(
    embedded_db: nx.Database, url_db: nx.Database
) -> None:
    password = embedded_db.sqlalchemy_url.password
    assert password
    for db in (embedded_db, url_db):
        shown = [repr(db), db.url, db._repr_html_(), str(db.sqlalchemy_url), db.reason]
        shown += [value for _, value in db.status_fields()]
        assert all(password not in text for text in shown)
        assert ":***@" in db.url


def test_secret_parameters_are_never_shown(embedded_db: nx.Database) -> None:
    url = revealed_url(embedded_db) + "&sslpassword=Ssl-S3cret&options=-csearch_path%3Dvictims"
    db = nx.start_database("url", url=url, reuse=False)
    try:
        shown = [repr(db), db.url, db._repr_html_(), str(db.sqlalchemy_url), db.reason]
        assert all("Ssl-S3cret" not in text for text in shown)
        with db.connect() as connection:
            # The user's own options survive alongside the ones the workbook adds.
            assert connection.execute("show search_path").fetchone() == ("victims",)
    finally:
        db.stop()


def test_unreachable_server_gives_one_line_without_the_password() -> None:
    url = f"postgresql://admin:Sup3rSecretPw@127.0.0.1:{free_port()}/app"
    with pytest.raises(nx.DatabaseError) as caught:
        nx.start_database("url", url=url, reuse=False)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("can't connect to postgresql://admin:***@127.0.0.1:")
    assert "refused" in message
    assert message.endswith("check the URL and that the server is running")
    assert "Sup3rSecretPw" not in message
    assert "Sup3rSecretPw" not in repr(caught.value)


def test_wrong_password_is_reported_without_echoing_it(embedded_db: nx.Database) -> None:
    url = embedded_db.sqlalchemy_url.set(password="Wr0ngPassw0rd").render_as_string(
        hide_password=False
    )
    with pytest.raises(nx.DatabaseError, match="password authentication failed") as caught:
        nx.start_database("url", url=url, reuse=False)
    assert "Wr0ngPassw0rd" not in str(caught.value)


@pytest.mark.parametrize(
    "url",
    ["mysql://root:Sup3rSecretPw@localhost/app", "postgresql://root:Sup3rSecretPw@[::1/app"],
)
def test_malformed_url_is_a_configuration_error(url: str) -> None:
    with pytest.raises(nx.ConfigurationError) as caught:
        nx.start_database("url", url=url, reuse=False)
    assert "Sup3rSecretPw" not in str(caught.value)


def test_url_backend_without_a_url_says_how_to_give_one() -> None:
    with pytest.raises(nx.ConfigurationError, match="set NEXUS_DATABASE_URL or pass url="):
        nx.start_database("url", reuse=False)


def test_foreign_server_notes_what_this_role_lacks(embedded_db: nx.Database) -> None:
    embedded_db.query("create role limited login password 'limitedpw'")
    embedded_db.query("alter role limited set track_io_timing = off")
    try:
        url = embedded_db.sqlalchemy_url.set(
            username="limited", password="limitedpw"
        ).render_as_string(hide_password=False)
        db = nx.start_database("url", url=url, reuse=False)
        try:
            assert db.server_settings["track_io_timing"] == "off"
            assert db.server_settings["shared_preload_libraries"] == "hidden"
            notes = " ".join(db.notes)
            assert "may not turn it on" in notes
            assert "pg_read_all_settings" in notes
            assert "may not turn it on" in db._repr_html_()
        finally:
            db.stop()
    finally:
        embedded_db.query("drop role limited")


def test_foreign_server_without_the_extension_says_how_to_add_it(
    embedded_db: nx.Database,
) -> None:
    embedded_db.query("drop extension pg_stat_statements")
    try:
        db = nx.start_database("url", url=revealed_url(embedded_db), reuse=False)
        try:
            assert not db.has_statements
            assert any("CREATE EXTENSION pg_stat_statements" in n for n in db.notes)
        finally:
            db.stop()
    finally:
        embedded_db.query("create extension pg_stat_statements")


def test_superuser_turns_track_io_timing_on_for_its_sessions(embedded_db: nx.Database) -> None:
    embedded_db.query("alter role postgres set track_io_timing = off")
    try:
        db = nx.start_database("url", url=revealed_url(embedded_db), reuse=False)
        try:
            assert db.query("show track_io_timing").scalar() == "on"
            with db.connect() as connection:
                assert connection.execute("show track_io_timing").fetchone() == ("on",)
            assert not db.notes
        finally:
            db.stop()
    finally:
        embedded_db.query("alter role postgres reset track_io_timing")
