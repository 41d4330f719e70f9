"""Measuring one side of a comparison: its transaction, its runs, its cancellation.

A `Scope` holds one connection in one transaction that is always rolled back, with the
sandbox's timeouts set inside it (or, for the "after" side of a setup, the open what-if
transaction itself). A `SideRunner` runs one side's statement in a scope; each run is:

1. `EXPLAIN (ANALYZE, BUFFERS, ...)`: the server's execution time and the plan;
2. the plain statement, its rows streamed and thrown away: the client's wall time.

Reads run straight in the transaction; INSERT, UPDATE, DELETE and MERGE run in a savepoint
that is rolled back at once, so every run starts from the same data. Nothing is prepared:
each run is planned afresh, as an ad-hoc query is (psycopg would otherwise prepare a statement
after five runs, and the server could switch to a generic plan halfway through).

`StatementWatch` is the one thread: when the caller's `cancel` event is set, it cancels
whatever statement is running on the server, repeatedly until the main thread notices.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Generator, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from types import TracebackType
from typing import Any, cast

import psycopg
from psycopg import errors as pg_errors

from ..errors import QueryError
from ..postgres._database import query_error
from ..postgres._fetch import STREAM_CHUNK
from ..sandbox._rules import Statement
from ..sandbox._run import LOCK_TIMEOUT_MS, BoundStatement
from ._equivalence import RowHasher, RowsDigest

__all__ = [
    "Cancelled",
    "Run",
    "Scope",
    "SideRunner",
    "StatementWatch",
    "TimedOut",
    "locks_conflict",
]

_WATCH_INTERVAL_S = 0.05
# Lock modes that block a reader (AccessShareLock) and a writer (RowExclusiveLock). A writer
# also counts RowExclusiveLock itself: the other side may hold row locks on the same rows.
_BLOCKS_READERS = frozenset({"AccessExclusiveLock"})
_BLOCKS_WRITERS = frozenset(
    {
        "RowExclusiveLock",
        "ShareLock",
        "ShareRowExclusiveLock",
        "ExclusiveLock",
        "AccessExclusiveLock",
    }
)
_FAILED = psycopg.pq.TransactionStatus.INERROR
_HELD_LOCKS = """
    SELECT relation::oid::bigint, mode FROM pg_locks
    WHERE pid = pg_backend_pid() AND locktype = 'relation' AND relation IS NOT NULL
"""


class Cancelled(Exception):
    """The caller's cancel event stopped a run."""


class TimedOut(Exception):
    """A statement ran past the timeout and the server cancelled it."""


@dataclass(frozen=True)
class Run:
    """One measured run of one side."""

    execution_ms: float
    planning_ms: float | None
    wall_ms: float
    rows: int
    explain: list[dict[str, Any]]

    @property
    def workers_launched(self) -> tuple[int, int]:
        """Parallel workers (launched, planned) over every Gather of the plan."""
        launched = planned = 0
        for node in _walk_raw(self.explain[0].get("Plan", {})):
            launched += int(node.get("Workers Launched", 0) or 0)
            planned += int(node.get("Workers Planned", 0) or 0)
        return launched, planned


class StatementWatch:
    """Cancel the running statement on the server when `cancel` is set (one watcher thread)."""

    def __init__(self, cancel: threading.Event | None) -> None:
        self._cancel = cancel
        self._active: psycopg.Connection[Any] | None = None
        self._finished = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def cancelled(self) -> bool:
        """Whether the caller asked to stop."""
        return self._cancel is not None and self._cancel.is_set()

    def check(self) -> None:
        """Raise `Cancelled` between runs once the caller asked to stop."""
        if self.cancelled:
            raise Cancelled

    def __enter__(self) -> StatementWatch:
        if self._cancel is not None:
            self._thread = threading.Thread(
                target=self._watch, args=(self._cancel,), name="nexus-compare-cancel", daemon=True
            )
            self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._finished.set()
        if self._thread is not None:
            self._thread.join()

    @contextmanager
    def running(self, connection: psycopg.Connection[Any]) -> Iterator[None]:
        """Mark `connection` as running a statement the watcher may cancel."""
        self.check()
        self._active = connection
        try:
            yield
        finally:
            self._active = None

    def _watch(self, cancel: threading.Event) -> None:
        while not self._finished.is_set():
            if cancel.wait(_WATCH_INTERVAL_S):
                # A cancel request only hits the statement running when it arrives: repeat
                # until the main thread has seen the event and stopped starting new ones.
                active = self._active
                if active is not None and not active.closed:
                    active.cancel_safe(timeout=5.0)
                self._finished.wait(_WATCH_INTERVAL_S)


class Scope:
    """One connection in one transaction that is always rolled back, with the sandbox's timeouts.

    `nested` means the connection is already in a transaction (the open what-if): settings are
    set for the rest of it, and nothing here ends it. Otherwise the transaction is this
    scope's own, read-only unless a side changes data.
    """

    def __init__(
        self,
        connection: psycopg.Connection[Any],
        *,
        read_only: bool,
        timeout_ms: int,
        jit: bool | None,
        nested: bool = False,
    ) -> None:
        self.connection = connection
        self.read_only = read_only
        self.timeout_ms = timeout_ms
        self.jit = jit
        self.nested = nested
        self.jit_setting = ""
        self._transaction: ExitStack | None = None

    def __enter__(self) -> Scope:
        self._begin()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._end(kind, error, tb)

    @property
    def failed(self) -> bool:
        """Whether an error aborted the transaction (so nothing more can run in it)."""
        return self.connection.info.transaction_status == _FAILED

    def restart(self) -> None:
        """Roll back an aborted transaction and start a fresh one (not for a what-if)."""
        if not self.nested:
            self._end(None, None, None)
            self._begin()

    def held_locks(self) -> list[tuple[int, str]]:
        """(relation oid, lock mode) held by this connection's transaction right now."""
        return [(int(oid), str(mode)) for oid, mode in self.connection.execute(_HELD_LOCKS)]

    def _begin(self) -> None:
        connection = self.connection
        if not self.nested:
            connection.read_only = self.read_only
            self._transaction = ExitStack()
            self._transaction.enter_context(connection.transaction(force_rollback=True))
        try:
            jit = "" if self.jit is None else ("on" if self.jit else "off")
            row = connection.execute(
                "SELECT set_config('statement_timeout', %s, true),"
                " set_config('lock_timeout', %s, true),"
                " set_config('idle_in_transaction_session_timeout', %s, true),"
                " CASE WHEN %s = '' THEN current_setting('jit')"
                " ELSE set_config('jit', %s, true) END",
                [
                    f"{self.timeout_ms}ms",
                    f"{min(LOCK_TIMEOUT_MS, self.timeout_ms)}ms",
                    # The other side runs while this one waits: allow it whole timeouts.
                    f"{self.timeout_ms * 3 + 10_000}ms",
                    jit,
                    jit or "on",
                ],
            ).fetchone()
            self.jit_setting = str(row[3]) if row else ""
        except BaseException as error:
            self._end(type(error), error, error.__traceback__)
            raise

    def _end(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        transaction, self._transaction = self._transaction, None
        if transaction is None:
            return
        connection = self.connection
        try:
            transaction.__exit__(kind, error, tb)
        finally:
            # Session-level advisory locks are the one thing a rollback keeps.
            if not connection.closed and not connection.broken:
                connection.execute("SELECT pg_advisory_unlock_all()")
                connection.rollback()


class SideRunner:
    """One side's statement, run in whichever `Scope` it is given."""

    def __init__(
        self,
        statement: Statement,
        bound: BoundStatement,
        *,
        explain_options: str,
        timeout_ms: int,
        watch: StatementWatch,
    ) -> None:
        self.statement = statement
        self.bound = bound
        self.timeout_ms = timeout_ms
        self.watch = watch
        self._explain_text = f"EXPLAIN ({explain_options}) {bound.psycopg_text}"
        self._plain_explain = f"EXPLAIN (FORMAT JSON) {bound.psycopg_text}"
        node = statement.node
        # "returningClause" from PostgreSQL 18's parser on, "returningList" before it.
        returning = getattr(node, "returningClause", None) or getattr(node, "returningList", None)
        self._returns_rows = not statement.changes_data or bool(returning)

    def validate(self, scope: Scope) -> set[int]:
        """Plan the statement without running it; return the relations planning locked.

        A statement the server rejects (an unknown column, say) raises `QueryError` here,
        before any run.
        """
        connection = scope.connection
        with self._savepoint(connection, always=True):
            self._execute(connection.cursor(), self._plain_explain)
            return {int(oid) for oid, _ in connection.execute(_HELD_LOCKS).fetchall()}

    def digest(self, scope: Scope) -> RowsDigest:
        """Run the statement once, hashing its rows (or counting the rows it changed)."""
        connection = scope.connection
        hasher = RowHasher()
        with self._savepoint(connection), self.watch.running(connection):
            cursor = connection.cursor()
            if not self._returns_rows:
                self._execute(cursor, self.bound.psycopg_text)
                return hasher.digest(returns_rows=False, affected=max(cursor.rowcount, 0))
            for row in self._stream(cursor):
                hasher.add(row)
            columns = tuple(column.name for column in cursor.description or ())
        return hasher.digest(columns)

    def measure(self, scope: Scope) -> Run:
        """One run: EXPLAIN ANALYZE, then the plain statement with its rows discarded."""
        connection = scope.connection
        with self._savepoint(connection), self.watch.running(connection):
            cursor = connection.cursor()
            self._execute(cursor, self._explain_text)
            fetched = cursor.fetchone()
        explain = cast(list[dict[str, Any]], fetched[0] if fetched else [])
        top = explain[0] if explain else {}
        with self._savepoint(connection), self.watch.running(connection):
            cursor = connection.cursor()
            rows = 0
            if self._returns_rows:
                started = time.perf_counter()
                for _ in self._stream(cursor):
                    rows += 1
                wall_ms = (time.perf_counter() - started) * 1000
            else:
                started = time.perf_counter()
                self._execute(cursor, self.bound.psycopg_text)
                wall_ms = (time.perf_counter() - started) * 1000
                rows = max(cursor.rowcount, 0)
        planning = top.get("Planning Time")
        return Run(
            execution_ms=float(top.get("Execution Time", 0.0)),
            planning_ms=float(planning) if planning is not None else None,
            wall_ms=wall_ms,
            rows=rows,
            explain=explain,
        )

    # -- mechanics -------------------------------------------------------------------------

    @contextmanager
    def _savepoint(
        self, connection: psycopg.Connection[Any], *, always: bool = False
    ) -> Iterator[None]:
        """A rolled-back savepoint around a statement that changes data; reads need none."""
        if always or self.statement.changes_data:
            with connection.transaction(force_rollback=True):
                yield
        else:
            yield

    def _execute(self, cursor: psycopg.Cursor[Any], text: str) -> psycopg.Cursor[Any]:
        try:
            # Binary results force the extended protocol even without parameters, so the
            # server parses exactly one statement whatever the text holds.
            cursor.execute(text, self.bound.values, binary=True, prepare=False)
        except psycopg.Error as error:
            raise self._error(error) from None
        return cursor

    def _stream(self, cursor: psycopg.Cursor[Any]) -> Iterator[Any]:
        """Rows one chunk at a time over the extended protocol, never all held at once."""
        stream = cast(
            Generator[Any, None, None],
            cursor.stream(self.bound.psycopg_text, self.bound.values, size=STREAM_CHUNK),
        )
        try:
            yield from stream
        except psycopg.Error as error:
            raise self._error(error) from None
        finally:
            stream.close()

    def _error(self, error: psycopg.Error) -> Exception:
        if isinstance(error, pg_errors.QueryCanceled):
            if self.watch.cancelled:
                return Cancelled()
            return TimedOut(f"canceled after the {self.timeout_ms:,} ms timeout")
        converted: QueryError = query_error(error, self.bound.shown, bound=self.bound.placeholders)
        return converted


def locks_conflict(held: list[tuple[int, str]], needed: set[int], *, writes: bool) -> list[int]:
    """Relations among `needed` on which `held` locks would block the other side."""
    blocking = _BLOCKS_WRITERS if writes else _BLOCKS_READERS
    return sorted({oid for oid, mode in held if oid in needed and mode in blocking})


def _walk_raw(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield node
    for child in node.get("Plans") or ():
        yield from _walk_raw(child)
