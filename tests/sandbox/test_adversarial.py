"""Hostile statements against the sandbox: each is refused or contained, and nothing changes.

Every case runs on the embedded server and on the Docker one, as the notebook's role and as
the agent's least-privilege role, and checks a fingerprint of the data, the schema, the
sequences, the roles and the advisory locks before and after.
"""

from __future__ import annotations

import pytest

import nexus_kernel_helpers as nx
from nexus_kernel_helpers import sandbox

from .conftest import fingerprint

REFUSED: dict[str, str] = {
    "COMMIT; DELETE FROM victims.accounts": "2 statements",
    "SELECT 1; DROP TABLE victims.accounts": "2 statements",
    "SET ROLE postgres": "SET ROLE",
    "RESET ROLE": "RESET ROLE",
    "SET SESSION AUTHORIZATION postgres": "SET SESSION AUTHORIZATION",
    "SET TRANSACTION READ WRITE": "SET TRANSACTION",
    "DO $$ BEGIN DELETE FROM victims.accounts; END $$": "DO",
    "CALL victims.wipe_all()": "CALL",
    "COPY victims.accounts TO PROGRAM 'touch /tmp/nexus-pwned'": "COPY",
    "COPY victims.accounts FROM '/etc/hostname'": "COPY",
    "SELECT pg_read_file('/etc/passwd')": "pg_read_file()",
    "SELECT pg_catalog.pg_read_binary_file('/etc/passwd')": "pg_read_binary_file()",
    "SELECT * FROM pg_ls_dir('.')": "pg_ls_dir()",
    "SELECT lo_import('/etc/passwd')": "lo_import()",
    "SELECT dblink_exec('dbname=postgres', 'DROP TABLE victims.accounts')": "dblink_exec()",
    "SELECT * FROM dblink('dbname=postgres', 'select 1') AS t(x int)": "dblink()",
    "SELECT postgres_fdw_disconnect_all()": "postgres_fdw_disconnect_all()",
    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity": "pg_terminate_backend()",
    "SELECT pg_cancel_backend(pid) FROM pg_stat_activity": "pg_cancel_backend()",
    "SELECT nextval('victims.accounts_id_seq')": "nextval()",
    "SELECT setval('victims.accounts_id_seq', 1)": "setval()",
    "SELECT * FROM victims.accounts FOR UPDATE": "SELECT ... FOR UPDATE",
    "SELECT * FROM victims.accounts FOR SHARE SKIP LOCKED": "SELECT ... FOR UPDATE/SHARE",
    "WITH x AS (DELETE FROM victims.accounts RETURNING *) SELECT * FROM x": "WITH ... DELETE",
    "WITH x AS (UPDATE victims.accounts SET balance = 0 RETURNING 1) SELECT 1": "WITH ... UPDATE",
    "EXPLAIN ANALYZE DELETE FROM victims.accounts": "EXPLAIN ANALYZE DELETE",
    "EXPLAIN (ANALYZE true, FORMAT JSON) UPDATE victims.accounts SET balance = 0": "EXPLAIN",
    "CREATE TEMP TABLE stash AS SELECT * FROM victims.accounts": "CREATE TABLE AS",
    "CREATE TEMP TABLE stash (x int)": "CREATE TABLE",
    "SELECT * INTO victims.copy FROM victims.accounts": "SELECT INTO",
    "LOCK TABLE victims.accounts IN ACCESS EXCLUSIVE MODE": "LOCK TABLE",
    "SELECT 1 /* ; */; DELETE FROM victims.accounts": "2 statements",
    "SELECT $$ ; $$; DELETE FROM victims.accounts": "2 statements",
    "SELECT $x$ $$; DELETE FROM victims.accounts; $$ $x$; DELETE FROM victims.accounts": "2 stat",
    "SELECT 1 -- ignore the rest\n; DELETE FROM victims.accounts": "2 statements",
    "SELECT 1\x00; DELETE FROM victims.accounts": "SQL text",
    "SELECT set_config('default_transaction_read_only', 'off', false)": "set_config()",
    "SELECT query_to_xml('DELETE FROM victims.accounts', true, true, '')": "query_to_xml()",
    "SELECT pg_advisory_lock(42)": "pg_advisory_lock()",
    "SELECT pg_notify('channel', 'payload')": "pg_notify()",
    "PREPARE wipe AS DELETE FROM victims.accounts": "PREPARE",
    "EXECUTE wipe": "EXECUTE",
    "DELETE FROM victims.accounts": "DELETE",
    "TRUNCATE victims.accounts": "TRUNCATE",
    "DROP TABLE victims.ledger": "DROP TABLE",
    "ALTER TABLE victims.accounts DROP COLUMN balance": "ALTER TABLE",
    "CREATE INDEX ON victims.accounts (balance)": "CREATE INDEX",
    "VACUUM victims.accounts": "VACUUM",
    "GRANT ALL ON victims.accounts TO PUBLIC": "GRANT",
    "LISTEN channel": "LISTEN",
    "DECLARE c CURSOR WITH HOLD FOR SELECT * FROM victims.accounts": "DECLARE",
}

# Statements the rules let through or cannot judge; the transaction, the role or the server
# contains them, with an error that explains.
CONTAINED: dict[str, str] = {
    "SELECT victims.wipe()": "read-only transaction",
    "SELECT 1\uff1bDELETE FROM victims.accounts": "trailing junk",  # fullwidth semicolon
    "SELECT pg_re\u0430d_file('/etc/passwd')": "does not exist",  # Cyrillic a
    "SELECT U&'\\0000'": "",
    "SELECT pg_sleep(30)": "timeout",
}


@pytest.mark.parametrize("as_agent", [False, True], ids=["owner", "agent"])
@pytest.mark.parametrize("statement", list(REFUSED), ids=range(len(REFUSED)))
def test_refused_with_the_statement_type_and_nothing_changes(
    db: nx.Database, statement: str, as_agent: bool
) -> None:
    before = fingerprint(db)
    with pytest.raises(nx.SandboxRefusal) as caught:
        sandbox.run_readonly(db, statement, as_agent=as_agent)
    assert str(caught.value).startswith(REFUSED[statement])
    assert "refused: " in str(caught.value)
    assert fingerprint(db) == before


@pytest.mark.parametrize("as_agent", [False, True], ids=["owner", "agent"])
@pytest.mark.parametrize("statement", list(CONTAINED), ids=range(len(CONTAINED)))
def test_contained_by_transaction_role_or_timeout(
    db: nx.Database, statement: str, as_agent: bool
) -> None:
    before = fingerprint(db)
    with pytest.raises(nx.QueryError) as caught:
        sandbox.run_readonly(db, statement, as_agent=as_agent, timeout_ms=500)
    assert CONTAINED[statement] in str(caught.value)
    assert fingerprint(db) == before
    assert sandbox.run_readonly(db, "select 1", as_agent=as_agent).scalar() == 1


def test_ten_megabyte_query_is_refused_before_parsing(db: nx.Database) -> None:
    with pytest.raises(nx.SandboxRefusal, match=r"is 10,000,009 bytes long; .* at most 1,000,000"):
        sandbox.run_readonly(db, "SELECT 1 " + " " * 10_000_000)


def test_ten_million_rows_stop_at_the_cap_and_stop_on_the_server(db: nx.Database) -> None:
    result = sandbox.run_readonly(
        db, "SELECT g FROM generate_series(1, 10000000) g", max_rows=1000, timeout_ms=60_000
    )
    assert len(result.rows) == 1000
    assert result.truncated
    assert not result.total_known
    assert "showing 20 of more than 1,000 rows" in result._repr_html_()
    running = db.query(
        "select count(*) from pg_stat_activity where state = 'active'"
        " and query like 'SELECT g FROM generate_series(1, 10000000)%'"
    )
    assert running.scalar() == 0


def test_allowed_reads_run(db: nx.Database) -> None:
    assert sandbox.run_readonly(db, "TABLE victims.accounts", max_rows=5).rows[0][1] == "owner 1"
    assert sandbox.run_readonly(db, "VALUES (1, 'a'), (2, 'b')").rows == [(1, "a"), (2, "b")]
    assert sandbox.run_readonly(db, "SHOW work_mem").scalar() == "4MB"
    plan = sandbox.run_readonly(db, "EXPLAIN SELECT * FROM victims.accounts WHERE id = 1")
    assert "Index Scan" in plan.rows[0][0]
    unicode_name = sandbox.run_readonly(db, 'SELECT count(*) FROM U&"victims".U&"\\0061ccounts"')
    assert unicode_name.scalar() == 500


@pytest.mark.parametrize("as_agent", [False, True], ids=["owner", "agent"])
@pytest.mark.parametrize(
    "statement",
    [
        "SELECT word FROM ts_stat($$SELECT to_tsvector('simple', pg_read_file('/etc/hostname'))$$)",
        "SELECT * FROM ts_stat($$SELECT to_tsvector('simple', pg_advisory_lock(43)::text)$$)",
        "SELECT ts_rewrite('a'::tsquery, $$SELECT 'a'::tsquery, 'b'::tsquery$$)",
        "EXPLAIN (ANALYZE false, ANALYZE true) DELETE FROM victims.accounts",
    ],
    ids=["ts_stat-file", "ts_stat-lock", "ts_rewrite", "explain-last-option"],
)
def test_sql_text_runners_and_option_tricks_are_refused(
    db: nx.Database, statement: str, as_agent: bool
) -> None:
    before = fingerprint(db)
    with pytest.raises(nx.SandboxRefusal):
        sandbox.run_readonly(db, statement, as_agent=as_agent)
    assert fingerprint(db) == before
