"""The sandbox's doors on real servers: explain, what-if, apply, the agent role, cancellation."""

from __future__ import annotations

import signal
import threading

import psycopg
import pytest

import nexus_kernel_helpers as nx
from nexus_kernel_helpers import sandbox
from nexus_kernel_helpers.sandbox._roles import agent_connection

from .conftest import fingerprint


def _node_types(plan: dict[str, object]) -> list[str]:
    found = [str(plan["Node Type"])]
    for child in plan.get("Plans", []):  # type: ignore[attr-defined]
        found += _node_types(child)
    return found


def test_explain_analyze_of_dml_measures_and_rolls_back(db: nx.Database) -> None:
    before = fingerprint(db)
    result = sandbox.explain(db, "DELETE FROM victims.ledger WHERE amount > :floor", {"floor": 10})
    top = result.plan[0]
    assert top["Plan"]["Node Type"] == "ModifyTable"
    assert top["Plan"]["Plans"][0]["Actual Rows"] == 1990
    assert "Execution Time" in top
    assert result.rolled_back_changes
    assert fingerprint(db) == before


def test_explain_uses_the_options_this_server_has(db: nx.Database) -> None:
    result = sandbox.explain(db, "SELECT count(*) FROM victims.accounts")
    plan = result.plan[0]
    assert "Shared Hit Blocks" in plan["Plan"]
    assert "Settings" in plan
    if db.server_version_num >= 170000:
        assert "SERIALIZE" in result.options
        assert "Serialization" in plan
    else:
        assert "SERIALIZE" not in result.options
    estimate = sandbox.explain(db, "SELECT 1", analyze=False).plan[0]["Plan"]
    assert "Actual Rows" not in estimate


def test_explain_refuses_what_it_cannot_roll_back(db: nx.Database) -> None:
    with pytest.raises(nx.SandboxRefusal, match=r"^EXPLAIN refused: explain\(\) adds EXPLAIN"):
        sandbox.explain(db, "EXPLAIN SELECT 1")
    with pytest.raises(nx.SandboxRefusal, match=r"^CREATE TABLE refused"):
        sandbox.explain(db, "CREATE TABLE victims.x (id int)")
    with pytest.raises(nx.SandboxRefusal, match=r"^nextval\(\) refused"):
        sandbox.explain(
            db, "INSERT INTO victims.ledger VALUES (nextval('victims.accounts_id_seq'))"
        )


def test_what_if_index_is_used_inside_and_gone_after(db: nx.Database) -> None:
    query = "SELECT * FROM victims.ledger WHERE amount = 77"
    assert "Seq Scan" in _node_types(sandbox.explain(db, query).plan[0]["Plan"])
    before = fingerprint(db)
    with sandbox.what_if(db, "CREATE INDEX ledger_amount ON victims.ledger (amount)") as trial:
        assert "Index" in " ".join(_node_types(trial.explain(query).plan[0]["Plan"]))
        assert trial.query(query).rows == [(78, 77)]
        analyzed = trial.query(
            "select count(*) from pg_stats where schemaname = 'victims' and tablename = 'ledger'"
        )
        assert analyzed.scalar() == 2  # ANALYZE ran on the indexed table
    assert fingerprint(db) == before
    assert (
        db.query("select count(*) from pg_indexes where indexname = 'ledger_amount'").scalar() == 0
    )


def test_what_if_settings_and_dml_are_undone(db: nx.Database) -> None:
    before = fingerprint(db)
    with sandbox.what_if(
        db, ["SET enable_seqscan = off", "DELETE FROM victims.ledger WHERE amount < 1000"]
    ) as trial:
        assert trial.query("SHOW enable_seqscan").scalar() == "off"
        assert trial.query("SELECT count(*) FROM victims.ledger").scalar() == 1001
    assert db.query("show enable_seqscan").scalar() == "on"
    assert fingerprint(db) == before


def test_what_if_row_level_security_is_undone(db: nx.Database) -> None:
    before = fingerprint(db)
    policies = "SELECT count(*) FROM pg_policies WHERE tablename = 'ledger'"
    with sandbox.what_if(
        db,
        [
            "ALTER TABLE victims.ledger ENABLE ROW LEVEL SECURITY",
            "CREATE POLICY small ON victims.ledger USING (amount < 10)",
            "ALTER POLICY small ON victims.ledger USING (amount < 5)",
        ],
    ) as trial:
        assert trial.query(policies).scalar() == 1
    assert db.query(policies).scalar() == 0
    assert fingerprint(db) == before


@pytest.mark.parametrize(
    ("setup", "kind"),
    [
        ("CREATE INDEX CONCURRENTLY ON victims.ledger (amount)", "CREATE INDEX"),
        ("VACUUM victims.ledger", "VACUUM"),
        ("CREATE DATABASE elsewhere", "CREATE DATABASE"),
    ],
)
def test_what_if_refuses_what_cannot_run_in_a_transaction(
    db: nx.Database, setup: str, kind: str
) -> None:
    with pytest.raises(nx.SandboxRefusal) as caught, sandbox.what_if(db, setup):
        pass
    assert str(caught.value).startswith(f"{kind} refused: cannot run inside a transaction")
    assert "apply()" in str(caught.value)


@pytest.mark.parametrize(
    "setup",
    ["SET ROLE postgres", "DO $$ BEGIN NULL; END $$", "COPY victims.ledger FROM '/etc/hostname'"],
)
def test_what_if_refuses_escapes(db: nx.Database, setup: str) -> None:
    with pytest.raises(nx.SandboxRefusal), sandbox.what_if(db, setup):
        pass


def test_apply_needs_confirmation_then_commits(db: nx.Database) -> None:
    statement = "CREATE INDEX CONCURRENTLY ledger_account ON victims.ledger (account_id)"
    with pytest.raises(nx.SandboxRefusal, match=r"explicit confirmation; call apply"):
        sandbox.apply(db, statement)
    assert sandbox.apply(db, statement, confirmed=True).status == "CREATE INDEX"
    try:
        assert (
            db.query("select count(*) from pg_indexes where indexname = 'ledger_account'").scalar()
            == 1
        )
    finally:
        db.query("drop index victims.ledger_account")
    with pytest.raises(nx.SandboxRefusal, match=r"^COMMIT refused"):
        sandbox.apply(db, "COMMIT", confirmed=True)


def test_agent_role_may_only_read_even_outside_the_rules(db: nx.Database) -> None:
    """The role is a wall of its own: statements the rules would refuse fail on privileges."""
    with agent_connection(db) as connection:
        assert connection.info.user == sandbox.AGENT_ROLE
        connection.autocommit = True
        try:
            assert connection.execute("SELECT count(*) FROM victims.accounts").fetchone() == (500,)
            connection.execute("SET default_transaction_read_only = off")
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                connection.execute("INSERT INTO victims.ledger VALUES (1, 1)")
            for statement in (
                "SELECT pg_read_file('/etc/hostname')",
                "CREATE TEMP TABLE stash (x int)",
                "COPY victims.ledger TO PROGRAM 'true'",
            ):
                with pytest.raises(psycopg.errors.InsufficientPrivilege):
                    connection.execute(statement)
            with pytest.raises(psycopg.Error, match=r"permission denied|must be a superuser"):
                connection.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE usename <> current_user AND backend_type = 'client backend'"
                )
        finally:
            connection.execute("RESET default_transaction_read_only")
            connection.autocommit = False


def test_ctrl_c_cancels_on_the_server_and_the_sandbox_goes_on(db: nx.Database) -> None:
    timer = threading.Timer(0.5, signal.raise_signal, [signal.SIGINT])
    timer.start()
    with pytest.raises(KeyboardInterrupt):
        sandbox.run_readonly(db, "SELECT pg_sleep(30)", timeout_ms=60_000)
    still = db.query(
        "select count(*) from pg_stat_activity where state = 'active'"
        " and query = 'SELECT pg_sleep(30)'"
    )
    assert still.scalar() == 0
    assert sandbox.run_readonly(db, "SELECT 2").scalar() == 2


def test_placeholders_are_bound_and_errors_point_into_the_original(db: nx.Database) -> None:
    hostile = "x'); DELETE FROM victims.accounts; --"
    result = sandbox.run_readonly(db, "SELECT :v::text AS v", {"v": hostile})
    assert result.rows == [(hostile,)]
    with pytest.raises(nx.QueryError) as caught:
        sandbox.run_readonly(db, "SELECT :first, nope FROM victims.accounts", {"first": 1})
    assert str(caught.value).splitlines()[1:] == [
        "LINE 1: SELECT :first, nope FROM victims.accounts",
        "                       ^",
    ]


@pytest.mark.parametrize(
    "setup", ["PREPARE wipe AS DELETE FROM victims.ledger", "LOAD 'auto_explain'", "CHECKPOINT"]
)
def test_what_if_refuses_what_outlives_the_rollback(db: nx.Database, setup: str) -> None:
    with (
        pytest.raises(nx.SandboxRefusal, match=r"would outlive the rollback"),
        sandbox.what_if(db, setup),
    ):
        pass


def test_a_what_if_handle_is_closed_after_its_block(db: nx.Database) -> None:
    with sandbox.what_if(db, "SET enable_seqscan = off") as trial:
        assert trial.query("SELECT 1").scalar() == 1
    with pytest.raises(nx.SandboxRefusal, match=r"its transaction has ended"):
        trial.query("SELECT 1")


def test_advisory_locks_never_outlive_a_sandbox_call(db: nx.Database) -> None:
    with agent_connection(db) as connection:
        connection.execute("SELECT pg_advisory_lock(99)")  # as if a statement had slipped through
    sandbox.run_readonly(db, "SELECT 1", as_agent=True)
    held = db.query("select count(*) from pg_locks where locktype = 'advisory'")
    assert held.scalar() == 0
