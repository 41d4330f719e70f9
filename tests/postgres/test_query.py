"""Database.query on a real embedded PostgreSQL: results, bound values, errors, display."""

from __future__ import annotations

import signal
import threading
import time
from html.parser import HTMLParser

import pytest

import nexus_kernel_helpers as nx


class _TableParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.headers: list[str] = []
        self.cells: list[str] = []
        self.notes: list[str] = []
        self.tags: list[str] = []
        self._in: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self._in = tag

    def handle_endtag(self, tag: str) -> None:
        self._in = None

    def handle_data(self, data: str) -> None:
        if self._in == "th":
            self.headers.append(data)
        elif self._in == "td":
            self.cells.append(data)
        elif self._in == "p":
            self.notes.append(data)


def parse(html: str) -> _TableParser:
    parser = _TableParser()
    parser.feed(html)
    return parser


def test_rows_columns_and_counts(embedded_db: nx.Database) -> None:
    result = embedded_db.query("select g as n, g * g as square from generate_series(1, 5) g")
    assert result.columns == ("n", "square")
    assert result.rows == [(1, 1), (2, 4), (3, 9), (4, 16), (5, 25)]
    assert result.total_rows == 5
    assert not result.truncated
    assert result.status == "SELECT 5"


def test_named_placeholders_are_bound_not_interpolated(embedded_db: nx.Database) -> None:
    hostile = "x'); drop table pg_class; --"
    result = embedded_db.query("select :v::text as v, :v = :v as same", {"v": hostile})
    assert result.rows == [(hostile, True)]


def test_max_rows_stops_the_fetch(embedded_db: nx.Database) -> None:
    result = embedded_db.query("select g from generate_series(1, 1000) g", max_rows=100)
    assert len(result.rows) == 100
    assert result.truncated
    assert not result.total_known
    assert "showing 20 of more than 100 rows (stopped at max_rows)" in result._repr_html_()
    whole = embedded_db.query("select g from generate_series(1, 100) g", max_rows=100)
    assert (len(whole.rows), whole.total_rows, whole.truncated) == (100, 100, False)


def test_a_huge_result_costs_no_memory_beyond_the_cap(embedded_db: nx.Database) -> None:
    import gc

    import psutil

    gc.collect()
    process = psutil.Process()
    before = process.memory_info().rss
    result = embedded_db.query(
        "select g, repeat('x', 100) from generate_series(1, 3000000) g", max_rows=10
    )
    grown = process.memory_info().rss - before
    assert len(result.rows) == 10
    assert grown < 50 * 1024 * 1024, f"RSS grew by {grown / 1e6:.0f} MB"
    busy = embedded_db.query(
        "select count(*) from pg_stat_activity where state = 'active'"
        " and query like 'select g, repeat%'"
    )
    assert busy.scalar() == 0


def test_html_shows_n_of_m_rows_and_escapes_values(embedded_db: nx.Database) -> None:
    result = embedded_db.query(
        "select '<script>alert(1)</script>' as \"<b>col</b>\", g from generate_series(1, 30) g"
    )
    html = result._repr_html_()
    parsed = parse(html)
    assert "script" not in parsed.tags
    assert "b" not in parsed.tags
    assert parsed.headers == ["<b>col</b>", "g"]
    assert parsed.cells.count("<script>alert(1)</script>") == 20
    assert parsed.notes[0].startswith("showing 20 of 30 rows")


def test_null_is_shown_as_null(embedded_db: nx.Database) -> None:
    result = embedded_db.query("select null::int as nothing")
    assert parse(result._repr_html_()).cells == ["NULL"]
    assert "NULL" in repr(result)


def test_statements_without_rows_report_their_status(embedded_db: nx.Database) -> None:
    embedded_db.query("create table if not exists status_probe (id int)")
    result = embedded_db.query("insert into status_probe select generate_series(1, 3)")
    assert result.status == "INSERT 0 3"
    assert result.total_rows == 3
    assert not result.returns_rows
    assert "INSERT 0 3" in result._repr_html_()
    embedded_db.query("drop table status_probe")


def test_sql_error_names_the_position_and_the_connection_survives(
    embedded_db: nx.Database,
) -> None:
    with pytest.raises(nx.QueryError) as caught:
        embedded_db.query("select 1,\n  nme\nfrom pg_class")
    error = caught.value
    assert error.sqlstate == "42703"
    assert error.line_number == 2
    assert str(error).splitlines() == [
        'column "nme" does not exist',
        "LINE 2:   nme",
        "          ^",
    ]
    assert error._render_traceback_()[0].startswith("QueryError: column")
    assert embedded_db.query("select 42").scalar() == 42


def test_error_position_counts_from_the_original_text_with_placeholders(
    embedded_db: nx.Database,
) -> None:
    with pytest.raises(nx.QueryError) as caught:
        embedded_db.query("select :first_value, nme", {"first_value": 1})
    assert str(caught.value).splitlines()[1:] == [
        "LINE 1: select :first_value, nme",
        "                             ^",
    ]


def test_a_failed_transaction_is_rolled_back_so_the_next_query_runs(
    embedded_db: nx.Database,
) -> None:
    embedded_db.query("begin")
    with pytest.raises(nx.QueryError, match=r"The open transaction was rolled back"):
        embedded_db.query("select 1/0")
    assert embedded_db.query("select 3").scalar() == 3
    embedded_db.query("create table after_rollback (x int)")  # autocommit again: visible
    with embedded_db.connect() as other:
        assert other.execute("select to_regclass('after_rollback') is not null").fetchone() == (
            True,
        )
    embedded_db.query("drop table after_rollback")


def test_hint_is_shown(embedded_db: nx.Database) -> None:
    with pytest.raises(nx.QueryError, match=r"HINT: .*explicit type casts"):
        embedded_db.query("select 1 + 'a'::text")


def test_positional_params_are_refused_with_a_fix(embedded_db: nx.Database) -> None:
    with pytest.raises(nx.ConfigurationError, match=r"params must be a mapping"):
        embedded_db.query("select %s", [1])  # type: ignore[arg-type]


def test_ctrl_c_cancels_the_statement_on_the_server(embedded_db: nx.Database) -> None:
    timer = threading.Timer(0.5, signal.raise_signal, [signal.SIGINT])
    started = time.monotonic()
    timer.start()
    with pytest.raises(KeyboardInterrupt):
        embedded_db.query("select pg_sleep(30)")
    assert time.monotonic() - started < 10
    still_running = embedded_db.query(
        "select count(*) from pg_stat_activity where query like 'select pg_sleep(30)%'"
        " and state = 'active' and pid <> pg_backend_pid()"
    )
    assert still_running.scalar() == 0
    assert embedded_db.query("select 1").scalar() == 1


def test_engine_and_connect_reach_the_same_database(embedded_db: nx.Database) -> None:
    import sqlalchemy

    with embedded_db.engine.connect() as connection:
        via_engine = connection.execute(sqlalchemy.text("select current_database()")).scalar()
    with embedded_db.connect() as connection:
        via_psycopg = connection.execute("select current_database()").fetchone()
    assert via_psycopg is not None
    assert via_engine == via_psycopg[0]
    assert embedded_db.database_name == via_engine


def test_a_script_of_statements_returns_the_last_result(embedded_db: nx.Database) -> None:
    result = embedded_db.query(
        "create temp table script_probe (x int); "
        "insert into script_probe values (1), (2); "
        "select x from script_probe order by x"
    )
    assert result.rows == [(1,), (2,)]
    assert result.status == "SELECT 2"
    embedded_db.query("drop table script_probe")


def test_client_env_lets_psql_reach_the_database(embedded_db: nx.Database) -> None:
    import os
    import subprocess

    from nexus_kernel_helpers.postgres._embedded import binaries_dir

    env = {**os.environ, **embedded_db.client_env()}
    outcome = subprocess.run(
        [str(binaries_dir() / "psql"), "-XAtc", "select current_database()"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert outcome.stdout.strip() == embedded_db.database_name
