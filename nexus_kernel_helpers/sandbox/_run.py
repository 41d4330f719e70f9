"""Running statements through the sandbox: read, explain, what-if, apply.

Each call checks the statement (`_rules`), then runs it on a sandbox connection inside a
transaction with `statement_timeout`, `lock_timeout` and `idle_in_transaction_session_timeout`,
over the extended protocol (so the server itself refuses a second statement), and rolls the
transaction back, except in `apply()`. Ctrl-C cancels the statement on the server (psycopg
sends the cancel request) and the rollback leaves the connection ready for the next call.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import errors as pg_errors

from ..errors import ConfigurationError, QueryError, SandboxRefusal
from ..postgres import Database, QueryResult
from ..postgres._database import query_error
from ..postgres._fetch import stream_rows
from ..postgres._placeholders import BoundQuery, bind_named
from ._roles import agent_connection, owner_connection
from ._rules import Mode, Statement, check, check_statement, parse_statements

__all__ = [
    "LOCK_TIMEOUT_MS",
    "BoundStatement",
    "ExplainResult",
    "WhatIf",
    "apply",
    "bind_statement",
    "explain",
    "run_readonly",
    "what_if",
]

DEFAULT_TIMEOUT_MS = 10_000
DEFAULT_MAX_ROWS = 1_000
LOCK_TIMEOUT_MS = 1_000


@dataclass(frozen=True)
class ExplainResult:
    """The raw EXPLAIN (FORMAT JSON) output of one statement, and how it was produced."""

    sql: str
    plan: list[dict[str, Any]]
    analyzed: bool
    options: str
    rolled_back_changes: bool

    def to_json(self) -> str:
        """The plan as JSON text, for other tools."""
        import json

        return json.dumps(self.plan, indent=2)


def run_readonly(
    db: Database,
    sql_text: str,
    params: Mapping[str, object] | None = None,
    *,
    timeout_ms: int = DEFAULT_TIMEOUT_MS,
    max_rows: int = DEFAULT_MAX_ROWS,
    as_agent: bool = False,
) -> QueryResult:
    """Run one read-only statement (SELECT, VALUES, TABLE, SHOW, EXPLAIN of those).

    `:name` placeholders take values from `params`, sent as bound parameters. At most `max_rows`
    rows are fetched; the rest are never sent. `as_agent` runs it as the least-privilege role.
    """
    bound = bind_statement(sql_text, params)
    check(bound.server_text, Mode.READ)
    connect = agent_connection if as_agent else owner_connection
    with connect(db) as connection, _transaction(connection, timeout_ms, read_only=True):
        return _fetch(connection, bound, max_rows, timeout_ms)


def explain(
    db: Database,
    sql_text: str,
    params: Mapping[str, object] | None = None,
    *,
    analyze: bool = True,
    timeout_ms: int = DEFAULT_TIMEOUT_MS,
    as_agent: bool = False,
) -> ExplainResult:
    """EXPLAIN a statement with every option the server has, in JSON.

    With `analyze`, the statement really runs: a read in a read-only transaction; an INSERT,
    UPDATE, DELETE or MERGE in a transaction that is always rolled back, so the data never
    changes (sequences it advances stay advanced, as after any rollback).
    """
    bound = bind_statement(sql_text, params)
    statement = check(bound.server_text, Mode.EXPLAIN)
    options = explain_options(db.server_version_num, analyze=analyze)
    connect = agent_connection if as_agent else owner_connection
    read_only = not statement.changes_data
    with connect(db) as connection, _transaction(connection, timeout_ms, read_only=read_only):
        return _explain_in(connection, statement, bound, options, timeout_ms)


def explain_options(server_version_num: int, *, analyze: bool) -> str:
    """The EXPLAIN options this server version understands."""
    if not analyze:
        return "SETTINGS, VERBOSE, FORMAT JSON"
    options = ["ANALYZE", "BUFFERS", "SETTINGS", "VERBOSE", "WAL"]
    if server_version_num >= 170000:
        options.append("SERIALIZE TEXT")
    return ", ".join([*options, "FORMAT JSON"])


class WhatIf:
    """An open what-if transaction: query and explain as if the setup were permanent."""

    def __init__(self, db: Database, connection: psycopg.Connection[Any], timeout_ms: int):
        self.db, self._connection, self._timeout_ms = db, connection, timeout_ms
        self.open = True

    @property
    def connection(self) -> psycopg.Connection[Any]:
        """The experiment's connection, for measuring on it (the comparison engine does)."""
        self._require_open()
        return self._connection

    def _require_open(self) -> None:
        if not self.open:
            raise SandboxRefusal(
                "what-if", "its transaction has ended", fix="measure inside the `with` block"
            )

    def query(
        self,
        sql_text: str,
        params: Mapping[str, object] | None = None,
        *,
        max_rows: int = DEFAULT_MAX_ROWS,
    ) -> QueryResult:
        """Run a read inside the experiment."""
        self._require_open()
        bound = bind_statement(sql_text, params)
        check(bound.server_text, Mode.READ)
        with self._connection.transaction(force_rollback=True):
            return _fetch(self._connection, bound, max_rows, self._timeout_ms)

    def explain(
        self, sql_text: str, params: Mapping[str, object] | None = None, *, analyze: bool = True
    ) -> ExplainResult:
        """EXPLAIN inside the experiment; DML is undone at once (its savepoint rolls back)."""
        self._require_open()
        bound = bind_statement(sql_text, params)
        statement = check(bound.server_text, Mode.EXPLAIN)
        options = explain_options(self.db.server_version_num, analyze=analyze)
        with self._connection.transaction(force_rollback=True):
            return _explain_in(self._connection, statement, bound, options, self._timeout_ms)


@contextmanager
def what_if(
    db: Database, setup: str | Sequence[str], *, timeout_ms: int = 60_000
) -> Iterator[WhatIf]:
    """Apply `setup` (e.g. CREATE INDEX) in a transaction, yield it for measuring, roll back.

    Tables an index or statistics object is built on are ANALYZEd afterwards, so the planner
    sees fresh statistics. Statements that cannot run in a transaction are refused.
    """
    texts = [setup] if isinstance(setup, str) else list(setup)
    statements = [s for text in texts for s in parse_statements(text)]
    for statement in statements:
        check_statement(statement, Mode.WHAT_IF)
    with (
        owner_connection(db) as connection,
        _transaction(connection, timeout_ms, read_only=False),
    ):
        for statement in statements:
            _execute(connection, bind_statement(statement.text, None), timeout_ms)
            for table in _tables_to_analyze(statement):
                _execute(connection, bind_statement(f"ANALYZE {table}", None), timeout_ms)
        trial = WhatIf(db, connection, timeout_ms)
        try:
            yield trial
        finally:
            trial.open = False


def apply(db: Database, sql_text: str, *, confirmed: bool = False) -> QueryResult:
    """Make a change permanent: the one sandbox door that commits. Needs `confirmed=True`."""
    if not confirmed:
        raise SandboxRefusal(
            "apply",
            "a permanent change needs the user's explicit confirmation",
            fix="call apply(db, sql, confirmed=True) after reviewing the statement",
        )
    statement = check(sql_text, Mode.APPLY)
    bound = bind_statement(sql_text, None)
    with owner_connection(db) as connection:
        started = time.perf_counter()
        connection.read_only = False
        if statement.needs_autocommit:
            connection.autocommit = True
            try:
                cursor = _execute(connection, bound, None)
            finally:
                connection.autocommit = False
        else:
            with connection.transaction():
                cursor = _execute(connection, bound, None)
        return QueryResult(
            sql=sql_text,
            columns=(),
            rows=[],
            total_rows=max(cursor.rowcount, 0),
            status=cursor.statusmessage or "",
            elapsed_ms=(time.perf_counter() - started) * 1000,
        )


# -- mechanics -------------------------------------------------------------------------------


@dataclass(frozen=True)
class BoundStatement:
    """One statement three ways: as written, as the server parses it, as psycopg sends it."""

    shown: str
    server_text: str
    psycopg_text: str
    values: dict[str, object] | None
    placeholders: BoundQuery | None


def bind_statement(sql_text: str, params: Mapping[str, object] | None) -> BoundStatement:
    """Turn `:name` placeholders into parameters; the rules check what the server will parse."""
    if params is not None and not isinstance(params, Mapping):
        raise ConfigurationError("params must be a mapping of :name placeholders")
    bound = bind_named(sql_text)
    if not bound.names:
        return BoundStatement(sql_text, sql_text, sql_text, None, None)
    values = bound.values(params or {})
    return BoundStatement(sql_text, bound.server_text, bound.psycopg_text, values, bound)


def _transaction(
    connection: psycopg.Connection[Any], timeout_ms: int, *, read_only: bool
) -> AbstractContextManager[Any]:
    """A transaction that is always rolled back, with the sandbox's timeouts set inside it."""
    connection.read_only = read_only
    transaction = connection.transaction(force_rollback=True)

    @contextmanager
    def guarded() -> Iterator[None]:
        try:
            with transaction:
                connection.execute(
                    "SELECT set_config('statement_timeout', %s, true),"
                    " set_config('lock_timeout', %s, true),"
                    " set_config('idle_in_transaction_session_timeout', %s, true)",
                    [
                        f"{timeout_ms}ms",
                        f"{min(LOCK_TIMEOUT_MS, timeout_ms)}ms",
                        f"{timeout_ms * 2}ms",
                    ],
                )
                yield
        finally:
            # Session-level advisory locks are the one thing a rollback keeps: let go of any
            # that a statement found a way to take.
            if not connection.closed and not connection.broken:
                connection.execute("SELECT pg_advisory_unlock_all()")
                connection.rollback()

    return guarded()


def _execute(
    connection: psycopg.Connection[Any], bound: BoundStatement, timeout_ms: int | None
) -> psycopg.Cursor[Any]:
    """Run one statement whose rows are not wanted, over the extended protocol.

    Binary results force the extended protocol even without parameters, so the server parses
    exactly one statement whatever the text holds.
    """
    cursor = connection.cursor()
    try:
        cursor.execute(bound.psycopg_text, bound.values, binary=True)
    except psycopg.Error as error:
        raise _error(error, bound, timeout_ms) from None
    return cursor


def _fetch(
    connection: psycopg.Connection[Any], bound: BoundStatement, max_rows: int, timeout_ms: int
) -> QueryResult:
    """Stream rows (extended protocol) up to `max_rows`; one more says there are more."""
    started = time.perf_counter()
    try:
        fetched = stream_rows(connection.cursor(), bound.psycopg_text, bound.values, max_rows)
    except psycopg.Error as error:
        raise _error(error, bound, timeout_ms) from None
    return QueryResult(
        sql=bound.shown,
        columns=fetched.columns,
        rows=fetched.rows,
        total_rows=fetched.total,
        status=fetched.status,
        elapsed_ms=(time.perf_counter() - started) * 1000,
        total_known=fetched.total_known,
    )


def _explain_in(
    connection: psycopg.Connection[Any],
    statement: Statement,
    bound: BoundStatement,
    options: str,
    timeout_ms: int,
) -> ExplainResult:
    prefix = f"EXPLAIN ({options}) "
    explained = BoundStatement(
        bound.shown,
        prefix + bound.server_text,
        prefix + bound.psycopg_text,
        bound.values,
        bound.placeholders,
    )
    result = _fetch(connection, explained, 1, timeout_ms)
    plan = result.rows[0][0] if result.rows else []
    return ExplainResult(
        sql=bound.shown,
        plan=plan,
        analyzed=options.startswith("ANALYZE"),
        options=options,
        rolled_back_changes=statement.changes_data,
    )


def _tables_to_analyze(statement: Statement) -> list[str]:
    from pglast import ast

    node = statement.node
    relations: list[ast.RangeVar] = []
    if isinstance(node, ast.IndexStmt) and node.relation is not None:
        relations.append(node.relation)
    elif isinstance(node, ast.CreateStatsStmt):
        relations += [r for r in node.relations or () if isinstance(r, ast.RangeVar)]
    return [".".join(_quote(p) for p in (r.schemaname, r.relname) if p) for r in relations]


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _error(error: psycopg.Error, bound: BoundStatement, timeout_ms: int | None) -> Exception:
    diag = error.diag
    if isinstance(error, pg_errors.QueryCanceled) and timeout_ms is not None:
        return QueryError(
            f"canceled after the sandbox's {timeout_ms:,} ms timeout",
            sql=bound.shown,
            sqlstate=diag.sqlstate,
            hint="pass a larger timeout_ms, or make the statement faster",
        )
    if isinstance(error, pg_errors.ActiveSqlTransaction):
        return SandboxRefusal(
            "statement",
            "cannot run inside a transaction, so it could not be rolled back",
            fix="run it with apply()",
        )
    return query_error(error, bound.shown, bound=bound.placeholders)
