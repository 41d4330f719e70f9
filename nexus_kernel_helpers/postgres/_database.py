"""`Database`: a running PostgreSQL server, whichever backend provided it."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode

import psycopg
from psycopg import errors as pg_errors

from .. import _html
from ..errors import ConfigurationError, DatabaseError, QueryError
from ._conninfo import build_conninfo, redact
from ._fetch import Fetched, stream_rows
from ._placeholders import BoundQuery, bind_named
from ._provisioned import Backend, Provisioned
from ._result import DISPLAY_ROWS, QueryResult
from ._statements import returns_rows

if TYPE_CHECKING:
    import sqlalchemy

    from ..datasets import DatasetState, Description, LoadReport
    from ..plans import Advice, Comparison, Plan

DEFAULT_MAX_ROWS = 10_000
CONNECT_TIMEOUT_S = 10
APPLICATION_NAME = "nexus-workbook"

# Settings recorded with the database (and later with every measurement).
RECORDED_SETTINGS = (
    "shared_preload_libraries",
    "track_io_timing",
    "jit",
    "work_mem",
    "shared_buffers",
    "effective_cache_size",
    "random_page_cost",
    "max_parallel_workers_per_gather",
)
HIDDEN = "hidden"
_FAILED_TRANSACTION = psycopg.pq.TransactionStatus.INERROR
_IN_TRANSACTION = (psycopg.pq.TransactionStatus.INTRANS, psycopg.pq.TransactionStatus.INERROR)
# Connection parameters a displayed URL may show besides user, host, port and database:
# an allow-list, so that no secret-bearing parameter (sslpassword, ...) is ever shown.
_SHOWN_IN_URL = ("sslmode", "target_session_attrs", "gssencmode", "channel_binding")
_SECRET_PARAMS = ("password", "sslpassword")


def query_error(
    error: psycopg.Error,
    sql: str,
    *,
    bound: BoundQuery | None = None,
    clean: Callable[[str], str] = str,
    hint: str | None = None,
) -> QueryError:
    """A server error as a `QueryError`, its position mapped back to `sql` as written."""
    diag = error.diag
    position = int(diag.statement_position) if diag.statement_position else None
    if position is not None and bound is not None:
        position = bound.original_position(position)
    message = diag.message_primary or str(error).splitlines()[0]
    if hint is None and diag.message_hint:
        hint = clean(diag.message_hint)
    return QueryError(clean(message), sql=sql, position=position, sqlstate=diag.sqlstate, hint=hint)


class Database:
    """A live PostgreSQL database, with the password kept out of every display.

    Created by `start_database()`. Holds one autocommit session for `query()`, and hands out
    fresh psycopg connections (`connect()`) and a SQLAlchemy engine (`engine`) for notebook code.
    """

    def __init__(self, provisioned: Provisioned, *, reason: str) -> None:
        self._provisioned = provisioned
        self._params = dict(provisioned.params)
        self.home_database = self._params.get("dbname", "")
        self.dataset: DatasetState | None = None
        self.reason = reason
        self.notes: list[str] = []
        self._lock = threading.RLock()
        self._engine: sqlalchemy.Engine | None = None
        self._stopped = False
        self._session: psycopg.Connection[Any] | None = None
        self._kept: dict[str, psycopg.Connection[Any]] = {}
        self._borrow_locks: dict[str, threading.Lock] = {}
        try:
            self._prepare()
        except BaseException:
            self.stop()
            raise

    # -- identity --------------------------------------------------------------------------

    @property
    def backend(self) -> Backend:
        """Where the server comes from: "embedded", "docker" or "url"."""
        return self._provisioned.backend

    @property
    def url(self) -> str:
        """The connection URL with the password masked."""
        params = self._params
        user = quote(params.get("user", ""), safe="")
        secret = ":***" if params.get("password") else ""
        host, port = params.get("host", ""), params.get("port", "")
        extra = {k: params[k] for k in _SHOWN_IN_URL if k in params}
        if host.startswith("/"):
            extra = {"host": host, **({"port": port} if port not in ("", "5432") else {}), **extra}
            netloc = f"{user}{secret}@" if user else ""
        else:
            at = f"{user}{secret}@" if user else ""
            netloc = f"{at}{host}" + (f":{port}" if port else "")
        query = f"?{urlencode(extra, safe='/')}" if extra else ""
        return f"postgresql://{netloc}/{quote(params.get('dbname', ''), safe='')}{query}"

    @property
    def owns_server(self) -> bool:
        """Whether the workbook started this server (and may change its settings and roles)."""
        return self._provisioned.owns_server

    @property
    def is_running(self) -> bool:
        """Whether the database was not stopped."""
        return not self._stopped

    def ping(self) -> bool:
        """Whether the server answers a trivial query right now."""
        if self._stopped:
            return False
        try:
            self._run("SELECT 1", None)
        except DatabaseError:
            return False
        return True

    # -- connections -----------------------------------------------------------------------

    def connect(
        self, *, autocommit: bool = False, user: str | None = None, password: str | None = None
    ) -> psycopg.Connection[Any]:
        """A new psycopg connection to this database; the caller closes it.

        `user` and `password` log in as another role (the sandbox's least-privilege role).
        """
        self._require_running()
        params = {"connect_timeout": str(CONNECT_TIMEOUT_S), "application_name": APPLICATION_NAME}
        params.update(self._params)
        if user is not None:
            params.update(user=user, password=password or "")
        try:
            return psycopg.connect(build_conninfo(params), autocommit=autocommit)
        except psycopg.OperationalError as error:
            raise DatabaseError(
                f"can't connect to {self.url}: {self._clean(error, password)}",
                fix="check the URL and that the server is running",
            ) from None

    def use_database(self, name: str) -> None:
        """Point this object at another database of the same server (closing connections)."""
        self._require_running()
        with self._lock:
            self._close_connections()
            self._params["dbname"] = name
            self.database_name = name

    def client_env(self) -> dict[str, str]:
        """Environment variables that point libpq tools (psql, pg_dump, pg_restore) here.

        The password travels in PGPASSWORD, never on a command line. Merge it into a copy of
        `os.environ` for a subprocess; never print it.
        """
        self._require_running()
        names = {
            "host": "PGHOST",
            "port": "PGPORT",
            "user": "PGUSER",
            "password": "PGPASSWORD",
            "dbname": "PGDATABASE",
            "sslmode": "PGSSLMODE",
            "options": "PGOPTIONS",
        }
        env = {names[k]: v for k, v in self._params.items() if k in names}
        env["PGAPPNAME"] = APPLICATION_NAME
        env["PGCONNECT_TIMEOUT"] = str(CONNECT_TIMEOUT_S)
        return env

    @contextmanager
    def borrowed(
        self, key: str, open_connection: Callable[[], psycopg.Connection[Any]]
    ) -> Iterator[psycopg.Connection[Any]]:
        """Lend the connection kept under `key`, opening it first if it is missing or broken.

        One borrower at a time per key; the connections are closed at `stop()`.
        """
        with self._lock:
            lock = self._borrow_locks.setdefault(key, threading.Lock())
        with lock:
            self._require_running()
            connection = self._kept.get(key)
            if connection is None or connection.closed or connection.broken:
                connection = self._kept[key] = open_connection()
            try:
                yield connection
            finally:
                # A borrower that left a transaction open would hold its locks until the
                # idle timeout: give the connection back clean.
                if not connection.closed and connection.info.transaction_status in _IN_TRANSACTION:
                    connection.rollback()

    @property
    def sqlalchemy_url(self) -> sqlalchemy.URL:
        """A SQLAlchemy URL for psycopg 3; it masks its password when displayed."""
        import sqlalchemy

        params = self._params
        host = params.get("host")
        socket = host is not None and host.startswith("/")
        # SQLAlchemy masks the password when showing a URL, but not other secrets: those go
        # to the engine as connect_args instead.
        left_out = {"user", "password", "host", "port", "dbname", *_SECRET_PARAMS}
        query = {k: v for k, v in params.items() if k not in left_out}
        if socket:
            query["host"] = host or ""
        return sqlalchemy.URL.create(
            "postgresql+psycopg",
            username=params.get("user"),
            password=params.get("password"),
            host=None if socket else host,
            port=int(params["port"]) if params.get("port") else None,
            database=params.get("dbname"),
            query=query,
        )

    @property
    def engine(self) -> sqlalchemy.Engine:
        """A SQLAlchemy 2.0 engine on this database, created on first use."""
        self._require_running()
        with self._lock:
            if self._engine is None:
                import sqlalchemy

                secrets = {k: v for k, v in self._params.items() if k in _SECRET_PARAMS[1:]}
                self._engine = sqlalchemy.create_engine(
                    self.sqlalchemy_url,
                    pool_pre_ping=True,
                    connect_args={"application_name": APPLICATION_NAME, **secrets},
                )
            return self._engine

    # -- queries ---------------------------------------------------------------------------

    def query(
        self,
        sql: str,
        params: Mapping[str, object] | None = None,
        *,
        max_rows: int = DEFAULT_MAX_ROWS,
        display_rows: int = DISPLAY_ROWS,
    ) -> QueryResult:
        """Run `sql` in autocommit mode; `:name` placeholders take their values from `params`.

        Values are always sent as bound parameters. A single statement that returns rows is
        streamed and stops after `max_rows` rows, so a huge result costs neither memory nor
        time (the result then says there were more); a script of several statements returns
        the last result whole. Errors raise `QueryError` with the position; a transaction the
        notebook opened and an error broke is rolled back, so the next query runs.
        """
        if params is not None and not isinstance(params, Mapping):
            raise ConfigurationError(
                f"params must be a mapping of :name placeholders, not {type(params).__name__}",
                fix="write the query with :name and pass params={'name': value}",
            )
        if max_rows < 0:
            raise ConfigurationError(f"max_rows must be 0 or more, not {max_rows!r}")
        bound = bind_named(sql) if params is not None else None
        started = time.perf_counter()
        fetched = self._run(sql, bound, params or {}, max_rows=max_rows)
        return QueryResult(
            sql=sql,
            columns=fetched.columns,
            rows=fetched.rows,
            total_rows=fetched.total,
            status=fetched.status,
            elapsed_ms=(time.perf_counter() - started) * 1000,
            display_rows=display_rows,
            total_known=fetched.total_known,
        )

    def _run(
        self,
        sql: str,
        bound: BoundQuery | None,
        params: Mapping[str, object] | None = None,
        *,
        max_rows: int = DEFAULT_MAX_ROWS,
    ) -> Fetched:
        """Execute on the session; stream a lone row-returning statement, else fetch."""
        text = bound.psycopg_text if bound is not None else sql
        values = bound.values(params or {}) if bound is not None else None
        with self._lock:
            session = self._session_connection()
            try:
                with session.cursor() as cursor:
                    if returns_rows(bound.server_text if bound is not None else sql):
                        return stream_rows(cursor, text, values, max_rows)
                    cursor.execute(text, values)
                    while cursor.nextset():
                        pass
                    if cursor.description is None:
                        status = cursor.statusmessage or ""
                        return Fetched((), [], max(cursor.rowcount, 0), status)
                    columns = tuple(column.name for column in cursor.description)
                    rows = cursor.fetchmany(max_rows) if max_rows else []
                    return Fetched(columns, rows, cursor.rowcount, cursor.statusmessage or "")
            except psycopg.OperationalError as error:
                if session.broken or session.closed:
                    self._session = None
                    raise DatabaseError(
                        f"lost the connection to {self.url}: {self._clean(error)}",
                        fix="check that the server is still running; the next query reconnects",
                    ) from None
                raise self._query_error(error, sql, bound) from None
            except psycopg.Error as error:
                raise self._query_error(error, sql, bound) from None

    def _query_error(self, error: psycopg.Error, sql: str, bound: BoundQuery | None) -> QueryError:
        diag = error.diag
        hint = self._clean(diag.message_hint) if diag.message_hint else None
        session = self._session
        if session is not None and session.info.transaction_status == _FAILED_TRANSACTION:
            session.rollback()
            hint = " ".join(filter(None, [hint, "The open transaction was rolled back."]))
        return query_error(error, sql, bound=bound, clean=self._clean, hint=hint)

    # -- lifecycle -------------------------------------------------------------------------

    def stop(self) -> None:
        """Close connections and stop the server if the workbook started it; idempotent."""
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
            self._close_connections()
        self._provisioned.stop()

    def _close_connections(self) -> None:
        for connection in [self._session, *self._kept.values()]:
            if connection is not None:
                connection.close()
        self._session = None
        self._kept.clear()
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None

    # -- datasets --------------------------------------------------------------------------

    def load_dataset(self, name: str, *, scale: float = 0.01, seed: int = 42) -> DatasetState:
        """Load a built-in dataset (generated once per server, then cloned) and switch to it."""
        from ..datasets import load_dataset

        self.dataset = load_dataset(self, name, scale=scale, seed=seed)
        return self.dataset

    def reset(self) -> float:
        """Back to the freshly loaded dataset: drop the working copy and clone it again (ms)."""
        from ..datasets import reset_dataset

        if self.dataset is None:
            raise ConfigurationError(
                "this database holds no dataset to reset to",
                fix="start it with dataset='shop' (or call db.load_dataset('shop'))",
            )
        return reset_dataset(self, self.dataset)

    def load_sql(self, path: str | Path) -> LoadReport:
        """Load a plain SQL dump (COPY FROM stdin blocks included) in one transaction."""
        from ..datasets import load_sql

        return load_sql(self, path)

    def load_dump(self, path: str | Path) -> LoadReport:
        """Restore a pg_dump custom-format (or directory) archive in one transaction."""
        from ..datasets import load_dump

        return load_dump(self, path)

    def load_csv(
        self, path: str | Path, table: str, *, header: bool = True, delimiter: str = ","
    ) -> LoadReport:
        """COPY a CSV file into an existing table, streamed, in one transaction."""
        from ..datasets import load_csv

        return load_csv(self, path, table, header=header, delimiter=delimiter)

    def dump(self, path: str | Path, *, plain: bool = False) -> Path:
        """pg_dump the current database to `path` (custom format, or plain SQL), no owners."""
        from ..datasets import dump

        return dump(self, path, plain=plain)

    def describe(self) -> Description:
        """Tables with row counts, sizes, columns, keys and indexes (rich display)."""
        from ..datasets import describe

        return describe(self)

    # -- plans -----------------------------------------------------------------------------

    def explain(
        self,
        sql: str,
        params: Mapping[str, object] | None = None,
        *,
        analyze: bool = True,
        timeout_ms: int = 30_000,
    ) -> Plan:
        """EXPLAIN (ANALYZE, BUFFERS, ...) through the sandbox: a plan tree; DML is rolled back."""
        from .. import sandbox
        from ..plans import parse_plan

        result = sandbox.explain(self, sql, params, analyze=analyze, timeout_ms=timeout_ms)
        return parse_plan(result.plan, sql=result.sql, server_version_num=self.server_version_num)

    def compare(
        self,
        before: str,
        after: str | None = None,
        *,
        setup: str | Sequence[str] | None = None,
        runs: int = 15,
        **options: Any,
    ) -> Comparison:
        """Measure `before` against `after` and/or `setup` (applied in a rolled-back what-if).

        Runs are interleaved after warm-up; the verdict comes from a bootstrap confidence
        interval of the speedup, and a rewrite that changes the results is flagged. See
        `nexus_kernel_helpers.plans.compare` for every option.
        """
        from ..plans import compare

        return compare(self, before, after, setup=setup, runs=runs, **options)

    def advise(
        self,
        sql: str,
        params: Mapping[str, object] | None = None,
        *,
        verify: bool = True,
        max_candidates: int = 3,
        runs: int = 7,
    ) -> Advice:
        """Rule-based advice on a query's plan; index ideas are tried in a what-if and measured.

        Only indexes measured faster (`runs` per side, at most `max_candidates` ideas) are
        suggested, each with its speedup and size; the others are listed as tried.
        """
        from ..plans import advise

        return advise(self, sql, params, verify=verify, max_candidates=max_candidates, runs=runs)

    def __enter__(self) -> Database:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- settings --------------------------------------------------------------------------

    def _prepare(self) -> None:
        """Record what the server is, and give it the settings every backend should have."""
        with self._lock:
            session = self._session_connection()
            with session.cursor() as cursor:
                if self._provisioned.owns_server:
                    cursor.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
                cursor.execute(
                    "SELECT current_setting('server_version'),"
                    " current_setting('server_version_num')::int,"
                    " current_database(),"
                    " EXISTS (SELECT FROM pg_extension WHERE extname = 'pg_stat_statements')"
                )
                row = cursor.fetchone()
                if row is None:  # pragma: no cover - a SELECT without FROM returns one row
                    raise DatabaseError("the server returned no identity row")
                version, self.server_version_num, self.database_name, self.has_statements = row
                self.server_version = str(version).split()[0]
                if not self._provisioned.owns_server:
                    self._adapt_to_foreign_server(session)
                self.server_settings = self._read_settings(session)

    def _adapt_to_foreign_server(self, session: psycopg.Connection[Any]) -> None:
        """On a server we did not start, turn on what this role may, and note the rest."""
        settings = self._read_settings(session)
        if settings["track_io_timing"] != "on":
            try:
                session.execute("SET track_io_timing = on")
                options = self._params.get("options", "")
                self._params["options"] = f"{options} -c track_io_timing=on".strip()
            except pg_errors.InsufficientPrivilege:
                self.notes.append(
                    "track_io_timing is off and this role may not turn it on: "
                    "plans will show no I/O timings"
                )
        preloaded = settings["shared_preload_libraries"].replace(" ", "").split(",")
        if settings["shared_preload_libraries"] == HIDDEN:
            self.notes.append(
                "this role may not read shared_preload_libraries (pg_read_all_settings): "
                "statement statistics may be unavailable"
            )
        elif "pg_stat_statements" not in preloaded:
            self.notes.append(
                "pg_stat_statements is not preloaded on this server: "
                "statement statistics are unavailable"
            )
        elif not self.has_statements:
            self.notes.append(
                "pg_stat_statements is preloaded but not created in this database: "
                "run CREATE EXTENSION pg_stat_statements to use it"
            )

    @staticmethod
    def _read_settings(session: psycopg.Connection[Any]) -> dict[str, str]:
        """The recorded settings; those this role may not read are "hidden"."""
        rows = session.execute(
            "SELECT name, current_setting(name) FROM pg_settings WHERE name = ANY(%s)",
            [list(RECORDED_SETTINGS)],
        ).fetchall()
        visible = dict(rows)
        return {name: visible.get(name, HIDDEN) for name in RECORDED_SETTINGS}

    def _session_connection(self) -> psycopg.Connection[Any]:
        self._require_running()
        if self._session is None or self._session.closed or self._session.broken:
            self._session = self.connect(autocommit=True)
        return self._session

    def _require_running(self) -> None:
        if self._stopped:
            raise DatabaseError(
                f"the {self.backend} database is stopped",
                fix="start one with nx.start_database() or %nexus_db start",
            )

    def _clean(self, error: BaseException | str, *more_secrets: str | None) -> str:
        """An error as one line, with every secret this database knows masked."""
        text = " ".join(str(error).split())
        known = [self._params.get(name) for name in _SECRET_PARAMS]
        return redact(text, [*known, *more_secrets])

    # -- display ---------------------------------------------------------------------------

    def status_fields(self) -> list[tuple[str, str]]:
        """What the status card shows, as (label, value) pairs."""
        statements = "created" if self.has_statements else "not available"
        held = self.dataset
        dataset = (
            [("dataset", f"{held.name} scale {held.scale:g} seed {held.seed} (reset clones "
              f"{held.template})")]
            if held is not None
            else []
        )  # fmt: skip
        return [
            ("backend", f"{self.backend} ({self._provisioned.description})"),
            ("server", f"PostgreSQL {self.server_version}"),
            ("database", self.database_name),
            *dataset,
            ("url", self.url),
            ("pg_stat_statements", statements),
            ("track_io_timing", self.server_settings.get("track_io_timing", "?")),
            ("status", "running" if self.is_running else "stopped"),
        ]

    def _repr_html_(self) -> str:
        note = " · ".join([self.reason, *self.notes])
        return _html.card("Nexus database", self.status_fields(), note=note)

    def __repr__(self) -> str:
        state = "running" if self.is_running else "stopped"
        return f"<Database {self.backend} PostgreSQL {self.server_version} {self.url} {state}>"
