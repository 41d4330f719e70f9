"""Generate a built-in dataset: tables, rows, then statistics, keys and indexes.

A dataset is a folder next to this module holding three SQL files, split into statements:

    schema.sql        CREATE TABLE statements
    generate.sql      INSERT ... SELECT over generate_series, bound to :scale and :seed, and
                      COPY ... FROM STDIN statements fed by the dataset's rows.py
    constraints.sql   primary and foreign keys, starter indexes, VACUUM and ANALYZE

A `COPY <table> ... FROM STDIN` statement is fed by FEEDS[<table>] of the dataset's rows module,
which yields COPY data and names the tables it reads. With FREEZE, the table is truncated in the
same transaction first, as PostgreSQL requires (it is empty: the schema just made it); the rows
then arrive frozen.

The schema runs on the caller's connection, in its transaction, which is then committed. The
other statements run in several sessions at once (two to four, by the CPUs here), each in its
own transaction. A statement starts once every earlier statement it depends on has finished:
one that writes a table it reads, or reads or writes a table it writes; a VACUUM (FREEZE) waits
for every earlier statement (rows committed while an older one still runs elsewhere cannot be
frozen); a statement the analysis does not know waits for all before it, and all after it wait
for it. The tables end up as if the statements had run one by one in file order, whichever
session ran which. `SET` and `CREATE FUNCTION pg_temp....` statements set up every session
before its first statement.

The rows depend only on `scale` and `seed`: the same pair gives byte-identical tables on every
PostgreSQL from 15 on (see the top of shop/generate.sql and shop/rows.py for how).
"""

from __future__ import annotations

import importlib
import logging
import os
import re
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

import psycopg
from pglast import ast, parse_sql, visitors
from pglast.enums import AlterTableType, ConstrType
from psycopg import sql

from ..errors import ConfigurationError, DatabaseError
from ..postgres._placeholders import bind_named
from ._feeds import Feed, FeedContext

__all__ = [
    "DATASET_DIR",
    "MAX_SCALE",
    "MIN_SCALE",
    "PARALLEL_SESSIONS",
    "STAGES",
    "Step",
    "available_datasets",
    "check_scale",
    "check_seed",
    "dataset_steps",
    "generate",
]

DATASET_DIR = Path(__file__).parent
MIN_SCALE = 0.001
MAX_SCALE = 10.0
# The files of a dataset, in the order they run.
STAGES = ("schema.sql", "generate.sql", "constraints.sql")
# Sessions that load at once: one per CPU (the server is usually on this machine), at least
# two so that a long statement does not hold up the short ones, at most four.
PARALLEL_SESSIONS = max(2, min(4, os.cpu_count() or 2))

Progress = Callable[[str, int, int], None]
# "session": sets up every session; "task": runs once, after the statements it depends on;
# "vacuum": a VACUUM (FREEZE), which also waits for every earlier statement but the other
# vacuums (rows committed while an older statement still runs elsewhere cannot be frozen yet);
# "barrier": runs once, after every statement before it and before every statement after it.
StepKind = Literal["session", "task", "vacuum", "barrier"]
_LEADING_COMMENTS = re.compile(r"(?:\s+|--[^\n]*)*")
_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Step:
    """One statement of a dataset file, where it is, and what it touches.

    `reads` and `writes` name the tables the statement reads and writes (or locks against
    writes); `kind` says how the loader schedules it.
    """

    dataset: str
    file: str
    line: int
    sql: str
    description: str
    reads: frozenset[str] = frozenset()
    writes: frozenset[str] = frozenset()
    kind: StepKind = "task"


def available_datasets() -> list[str]:
    """The built-in datasets: the folders next to this module that hold a schema.sql."""
    return sorted(path.parent.name for path in DATASET_DIR.glob("*/schema.sql"))


def check_scale(scale: float) -> None:
    """Refuse a scale outside MIN_SCALE..MAX_SCALE, saying what is allowed."""
    is_number = isinstance(scale, int | float) and not isinstance(scale, bool)
    if not (is_number and MIN_SCALE <= scale <= MAX_SCALE):
        shown = f"{scale:g}" if is_number else repr(scale)
        raise ConfigurationError(
            f"scale {shown} is out of range: use {MIN_SCALE:g} to {MAX_SCALE:g}",
            fix="scale 1 is about a million orders; 0.01 loads in about a second",
        )


def check_seed(seed: int) -> None:
    """Refuse a seed that is not an integer the server can hold (a bigint)."""
    if isinstance(seed, bool) or not isinstance(seed, int) or not -(2**63) <= seed < 2**63:
        raise ConfigurationError(
            f"seed {seed!r} is not a 64-bit integer", fix="pass a whole number such as 42"
        )


def dataset_steps(name: str) -> list[Step]:
    """Every statement dataset `name` runs, in order."""
    known = available_datasets()
    if name not in known:
        raise ConfigurationError(
            f"no dataset named {name!r}", fix=f"choose one of: {', '.join(known)}"
        )
    analysis = _Analysis(_dataset_feeds(name))
    return [
        step for file in STAGES for step in _file_steps(name, DATASET_DIR / name / file, analysis)
    ]


def generate(
    connection: psycopg.Connection[Any],
    name: str,
    *,
    scale: float,
    seed: int,
    progress: Progress | None = None,
) -> dict[str, int]:
    """Create and fill the tables of dataset `name` in the connection's database.

    The schema runs in the connection's transaction, which this then commits (with whatever
    the caller did in it before); the rows, keys and indexes come from parallel sessions that
    commit as they go. On an error the tables made so far are dropped again. Calls
    `progress(description, step, total)` after each statement and returns the row count of
    every table the dataset created.
    """
    check_scale(scale)
    check_seed(seed)
    steps = dataset_steps(name)
    # Decimal keeps the scale exact on the server (0.01, not 0.01000000000000000021).
    params: dict[str, object] = {"scale": Decimal(repr(float(scale))), "seed": seed}
    report = _Reporter(progress, len(steps))
    tables: list[str] = []
    with connection.cursor() as cursor:
        for step in steps:
            if step.file == STAGES[0]:
                _execute(cursor, step, params)
                tables.extend(_created_tables(step))
                report(step)
    connection.commit()
    try:
        inserted = _run_in_sessions(
            connection, [step for step in steps if step.file != STAGES[0]], params, report
        )
        with connection.cursor() as cursor:
            return {
                table: inserted[table] if table in inserted else _count(cursor, table)
                for table in tables
            }
    except BaseException:
        _drop_tables(connection, tables)
        raise


class _Reporter:
    """Numbers the finished statements for the progress callback, in the order they finish."""

    def __init__(self, progress: Progress | None, total: int) -> None:
        self.progress = progress
        self.total = total
        self.finished = 0

    def __call__(self, step: Step) -> None:
        self.finished += 1
        if self.progress is not None:
            self.progress(step.description, self.finished, self.total)


def _run_in_sessions(
    connection: psycopg.Connection[Any],
    steps: list[Step],
    params: dict[str, object],
    report: _Reporter,
) -> dict[str, int]:
    """Run `steps` in parallel sessions, each after those it depends on; return rows inserted."""
    setup = [step for step in steps if step.kind == "session"]
    tasks = [step for step in steps if step.kind != "session"]
    needs = _dependencies(tasks)
    inserted: dict[str, int] = {}
    with _sessions(connection, min(PARALLEL_SESSIONS, max(len(tasks), 1))) as sessions:
        for session in sessions:
            with session.cursor() as cursor:
                for step in setup:
                    _execute(cursor, step, params)
        for step in setup:
            report(step)
        idle = list(reversed(sessions))
        waiting = list(range(len(tasks)))
        finished: set[int] = set()
        running: dict[Future[int], tuple[int, psycopg.Connection[Any]]] = {}
        with ThreadPoolExecutor(len(sessions), thread_name_prefix="nexus-generate") as pool:
            try:
                while waiting or running:
                    for index in [i for i in waiting if needs[i] <= finished][: len(idle)]:
                        waiting.remove(index)
                        session = idle.pop()
                        future = pool.submit(_run_task, session, tasks[index], params)
                        running[future] = (index, session)
                    done, _ = wait(running, return_when=FIRST_COMPLETED)
                    for future in done:
                        index, session = running.pop(future)
                        rows = future.result()
                        step = tasks[index]
                        if rows >= 0 and _is_insert(step):
                            (table,) = step.writes
                            inserted[table] = inserted.get(table, 0) + rows
                        finished.add(index)
                        idle.append(session)
                        report(step)
            except BaseException:
                for _, session in running.values():
                    with suppress(psycopg.Error):
                        session.cancel_safe()
                wait(running)
                raise
    return inserted


@contextmanager
def _sessions(connection: psycopg.Connection[Any], count: int) -> Iterator[list[Any]]:
    """Up to `count` new autocommit connections to the connection's database (at least one)."""
    info = connection.info
    opened: list[psycopg.Connection[Any]] = []
    try:
        for number in range(count):
            try:
                opened.append(
                    psycopg.connect(info.dsn, password=info.password or None, autocommit=True)
                )
            except psycopg.Error as error:
                if number == 0:
                    raise DatabaseError(
                        f"can't open a session to load {info.dbname!r}: {_first_line(error)}",
                        fix="check that the server accepts another connection (max_connections)",
                    ) from error
                _log.info("loading with %d sessions: %s", number, _first_line(error))
                break
        yield opened
    finally:
        for session in opened:
            session.close()


def _run_task(session: psycopg.Connection[Any], step: Step, params: dict[str, object]) -> int:
    if _COPY_FROM_STDIN.match(step.sql):
        return _copy_in(session, step, params)
    with session.cursor() as cursor:
        _execute(cursor, step, params)
        return cursor.rowcount


_COPY_FROM_STDIN = re.compile(r"COPY\s.*\sFROM\s+STDIN\b", re.IGNORECASE | re.DOTALL)


def _copy_in(session: psycopg.Connection[Any], step: Step, params: dict[str, object]) -> int:
    """Feed a COPY ... FROM STDIN from the dataset's rows module; return the rows copied."""
    (table,) = step.writes
    feed = _dataset_feeds(step.dataset)[table]
    scale, seed = params["scale"], params["seed"]
    if not (isinstance(scale, Decimal) and isinstance(seed, int)):
        raise TypeError(f"scale and seed must be a Decimal and an int, not {scale!r}, {seed!r}")

    def query(text: str) -> list[tuple[Any, ...]]:
        return session.execute(text.encode()).fetchall()

    try:
        with session.transaction(), session.cursor() as cursor:
            if re.search(r"\bFREEZE\b", step.sql, re.IGNORECASE):
                cursor.execute(sql.SQL("TRUNCATE ONLY {}").format(sql.Identifier(table)))
            chunks = feed.rows(FeedContext(scale, seed, query))
            # The first chunk comes after the feed's own queries, which must run before COPY.
            first = next(chunks)
            with cursor.copy(step.sql) as copy:
                copy.write(first)
                for chunk in chunks:
                    copy.write(chunk)
            return cursor.rowcount
    except psycopg.Error as error:
        raise DatabaseError(
            f"generating {step.dataset!r} failed at {step.file} line {step.line}"
            f" ({step.description}): {_first_line(error)}",
            fix="see the server's log (disk space, a clash)",
        ) from error


def _dependencies(tasks: list[Step]) -> list[frozenset[int]]:
    """For every task, the earlier tasks it must wait for."""
    needs = []
    for index, step in enumerate(tasks):
        needs.append(
            frozenset(
                earlier
                for earlier, before in enumerate(tasks[:index])
                if "barrier" in (step.kind, before.kind)
                or (step.kind == "vacuum" and before.kind != "vacuum")
                or step.writes & (before.reads | before.writes)
                or step.reads & before.writes
            )
        )
    return needs


def _execute(cursor: psycopg.Cursor[Any], step: Step, params: dict[str, object]) -> None:
    bound = bind_named(step.sql)
    try:
        if bound.names:
            cursor.execute(bound.psycopg_text, bound.values(params))
        else:
            cursor.execute(step.sql)
    except psycopg.Error as error:
        raise DatabaseError(
            f"generating {step.dataset!r} failed at {step.file} line {step.line}"
            f" ({step.description}): {_first_line(error)}",
            fix="roll back the transaction, then see the server's log (disk space, a clash)",
        ) from error


def _first_line(error: Exception) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def _drop_tables(connection: psycopg.Connection[Any], tables: list[str]) -> None:
    """Drop the tables a failed load made (they were committed); never mask the failure."""
    if not tables or connection.closed:
        return
    try:
        connection.rollback()
        names = sql.SQL(", ").join(sql.Identifier(table) for table in tables)
        connection.execute(sql.SQL("DROP TABLE IF EXISTS {} CASCADE").format(names))
        connection.commit()
    except psycopg.Error as error:
        _log.warning("could not drop the tables of a failed load: %s", _first_line(error))


# -- reading the files -------------------------------------------------------------------------


class _Analysis:
    """The dataset's feeds, and which table each foreign key declared so far points to."""

    def __init__(self, feeds: dict[str, Feed]) -> None:
        self.feeds = feeds
        self.foreign_keys: dict[str, tuple[str, str]] = {}


def _dataset_feeds(name: str) -> dict[str, Feed]:
    """FEEDS of the dataset's rows module, if it has one."""
    if not (DATASET_DIR / name / "rows.py").is_file():
        return {}
    try:
        module = importlib.import_module(f"{__package__}.{name}.rows")
    except ModuleNotFoundError as error:
        raise ConfigurationError(
            f"the {name!r} dataset needs the {error.name!r} package, which is not installed",
            fix=f"pip install {error.name}",
        ) from error
    feeds: dict[str, Feed] = module.FEEDS
    return feeds


def _file_steps(dataset: str, path: Path, analysis: _Analysis) -> list[Step]:
    text = path.read_text(encoding="utf-8")
    # pglast cannot parse `:name` placeholders, so it parses the server's text (`$1`), whose
    # offsets map back to the original.
    bound = bind_named(text)
    steps = []
    for raw in parse_sql(bound.server_text):
        server_start = raw.stmt_location or 0
        start = bound.original_position(server_start + 1) - 1
        end = (
            bound.original_position(server_start + raw.stmt_len + 1) - 1
            if raw.stmt_len
            else len(text)
        )
        comments = _LEADING_COMMENTS.match(text, start, end)
        start = comments.end() if comments else start
        line = text.count("\n", 0, start) + 1
        sql_text = text[start:end].strip()
        reads, writes, kind = _touches(raw.stmt, analysis)
        steps.append(
            Step(
                dataset,
                path.name,
                line,
                sql_text,
                _describe(raw.stmt, analysis),
                frozenset(reads),
                frozenset(writes),
                kind,
            )
        )
    return steps


class _Relations(visitors.Visitor):
    """Collects the table names a statement mentions, and the names of its CTEs."""

    def __init__(self) -> None:
        self.tables: set[str] = set()
        self.ctes: set[str] = set()

    def visit_RangeVar(self, ancestors: Any, node: ast.RangeVar) -> None:  # noqa: N802
        self.tables.add(str(node.relname))

    def visit_CommonTableExpr(self, ancestors: Any, node: ast.CommonTableExpr) -> None:  # noqa: N802
        self.ctes.add(str(node.ctename))


def _mentioned(node: ast.Node) -> set[str]:
    found = _Relations()
    found(node)
    return found.tables - found.ctes


def _touches(  # noqa: PLR0911 - one answer per statement kind
    node: ast.Node | None, analysis: _Analysis
) -> tuple[set[str], set[str], StepKind]:
    """The tables `node` reads and writes, and how it is scheduled."""
    if isinstance(node, ast.VariableSetStmt):
        return set(), set(), "session"
    if isinstance(node, ast.CreateFunctionStmt) and _is_temporary(node.funcname):
        return set(), set(), "session"
    if isinstance(node, ast.InsertStmt):
        writes = {_name(node.relation)} | set(_inserted_tables(node))
        return _mentioned(node) - writes, writes, "task"
    if isinstance(node, ast.CopyStmt) and node.is_from and not node.filename:
        table = _name(node.relation)
        feed = analysis.feeds.get(table)
        if feed is None:
            return set(), set(), "barrier"
        return set(feed.reads), {table}, "task"
    if isinstance(node, ast.CreateStmt | ast.IndexStmt):
        return set(), {_name(node.relation)}, "task"
    if isinstance(node, ast.VacuumStmt) and node.rels:
        tables = {_name(rel.relation) for rel in node.rels if isinstance(rel, ast.VacuumRelation)}
        return set(), tables, "vacuum" if "freeze" in _options(node) else "task"
    if isinstance(node, ast.SelectStmt):
        return _mentioned(node), set(), "task"
    if isinstance(node, ast.AlterTableStmt):
        return _touches_alter(node, analysis)
    return set(), set(), "barrier"


def _touches_alter(
    node: ast.AlterTableStmt, analysis: _Analysis
) -> tuple[set[str], set[str], StepKind]:
    table = _name(node.relation)
    reads: set[str] = set()
    writes = {table}
    for command in node.cmds or ():
        if not isinstance(command, ast.AlterTableCmd):
            return set(), set(), "barrier"
        constraint = command.def_
        if isinstance(constraint, ast.Constraint) and constraint.contype == (
            ConstrType.CONSTR_FOREIGN
        ):
            # Adding a foreign key locks the referenced table against writes too.
            target = _name(constraint.pktable)
            writes.add(target)
            analysis.foreign_keys[str(constraint.conname)] = (table, target)
        elif command.subtype == AlterTableType.AT_ValidateConstraint:
            known = analysis.foreign_keys.get(str(command.name))
            if known is None:
                return set(), set(), "barrier"
            reads.add(known[1])
    return reads, writes, "task"


def _is_temporary(names: tuple[ast.Node, ...] | None) -> bool:
    return bool(names) and len(names or ()) == 2 and getattr(names[0], "sval", "") == "pg_temp"  # type: ignore[index]


def _is_insert(step: Step) -> bool:
    """Whether `step` is a single-table INSERT, whose row count is the table's."""
    return len(step.writes) == 1 and step.description.startswith("rows: ")


def _describe(node: ast.Node | None, analysis: _Analysis) -> str:  # noqa: PLR0911 - one answer per statement kind
    """A few words for the progress display."""
    if isinstance(node, ast.CreateStmt):
        return f"table {_name(node.relation)}"
    if isinstance(node, ast.InsertStmt):
        return "rows: " + ", ".join([*_inserted_tables(node), _name(node.relation)])
    if isinstance(node, ast.CopyStmt):
        return f"rows: {_name(node.relation)}"
    if isinstance(node, ast.AlterTableStmt):
        return _describe_alter(node, analysis)
    if isinstance(node, ast.IndexStmt):
        return f"index on {_name(node.relation)}"
    if isinstance(node, ast.VacuumStmt):
        return _describe_vacuum(node)
    if isinstance(node, ast.VariableSetStmt):
        return f"setting {node.name}"
    if isinstance(node, ast.CreateFunctionStmt):
        return f"function {'.'.join(str(part.sval) for part in node.funcname or ())}"
    if isinstance(node, ast.SelectStmt):
        called = {_function_name(target.val) for target in node.targetList or ()}
        if "setval" in called:
            return "id sequences"
    return type(node).__name__


def _describe_alter(node: ast.AlterTableStmt, analysis: _Analysis) -> str:
    table = _name(node.relation)
    for command in node.cmds or ():
        if getattr(command, "subtype", None) == AlterTableType.AT_ValidateConstraint:
            known = analysis.foreign_keys.get(str(command.name))
            target = f" → {known[1]}" if known else f" {command.name}"
            return f"checking foreign key {table}{target}"
        constraint = getattr(command, "def_", None)
        if not isinstance(constraint, ast.Constraint):
            continue
        if constraint.contype == ConstrType.CONSTR_PRIMARY:
            return f"primary key of {table}"
        if constraint.contype == ConstrType.CONSTR_UNIQUE:
            return f"unique key of {table}"
        if constraint.contype == ConstrType.CONSTR_FOREIGN:
            return f"foreign key {table} → {_name(constraint.pktable)}"
    return f"alter {table}"


def _options(node: ast.VacuumStmt) -> set[str]:
    return {str(option.defname) for option in node.options or ()}


def _describe_vacuum(node: ast.VacuumStmt) -> str:
    options = _options(node)
    tables = ", ".join(
        _name(rel.relation) for rel in node.rels or () if isinstance(rel, ast.VacuumRelation)
    )
    if not node.is_vacuumcmd:
        what = "statistics (ANALYZE)"
    else:
        what = "freeze" if "freeze" in options else "vacuum"
        what += " and statistics" if "analyze" in options else ""
    return f"{what} of {tables}" if tables else what


def _inserted_tables(node: ast.InsertStmt) -> list[str]:
    """The tables the INSERTs in the WITH clause of an INSERT fill."""
    ctes = node.withClause.ctes or () if node.withClause else ()
    return [
        _name(cte.ctequery.relation)
        for cte in ctes
        if isinstance(cte, ast.CommonTableExpr) and isinstance(cte.ctequery, ast.InsertStmt)
    ]


def _name(relation: ast.RangeVar | None) -> str:
    return str(relation.relname) if relation is not None else "?"


def _function_name(node: ast.Node | None) -> str:
    if isinstance(node, ast.FuncCall) and node.funcname:
        return str(node.funcname[-1].sval)
    return ""


def _created_tables(step: Step) -> list[str]:
    if step.file != STAGES[0]:
        return []
    return [
        _name(raw.stmt.relation)
        for raw in parse_sql(step.sql)
        if isinstance(raw.stmt, ast.CreateStmt)
    ]


def _count(cursor: psycopg.Cursor[Any], table: str) -> int:
    cursor.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table)))
    row = cursor.fetchone()
    return int(row[0]) if row else 0
