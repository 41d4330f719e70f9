"""Generate a built-in dataset on the server: tables, rows, then keys, indexes and ANALYZE.

A dataset is a folder next to this module holding three SQL files, run in this order and
statement by statement on the caller's connection, inside the caller's transaction:

    schema.sql        CREATE TABLE statements
    generate.sql      INSERT ... SELECT over generate_series, bound to :scale and :seed
    constraints.sql   primary and foreign keys, starter indexes, ANALYZE

The rows depend only on `scale` and `seed`: the same pair gives byte-identical tables on every
PostgreSQL from 15 on (see the top of shop/generate.sql for how).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
from pglast import ast, parse_sql
from pglast.enums import ConstrType
from psycopg import sql

from ..errors import ConfigurationError, DatabaseError
from ..postgres._placeholders import bind_named

__all__ = [
    "DATASET_DIR",
    "MAX_SCALE",
    "MIN_SCALE",
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

Progress = Callable[[str, int, int], None]
_LEADING_COMMENTS = re.compile(r"(?:\s+|--[^\n]*)*")


@dataclass(frozen=True)
class Step:
    """One statement of a dataset file, where it is, and what the progress display calls it."""

    dataset: str
    file: str
    line: int
    sql: str
    description: str


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
    return [step for file in STAGES for step in _file_steps(name, DATASET_DIR / name / file)]


def generate(
    connection: psycopg.Connection[Any],
    name: str,
    *,
    scale: float,
    seed: int,
    progress: Progress | None = None,
) -> dict[str, int]:
    """Create and fill the tables of dataset `name` in the connection's database.

    Runs in whatever transaction state the caller left (normally a transaction it commits
    afterwards); nothing here commits. Calls `progress(description, step, total)` after each
    statement and returns the row count of every table the dataset created.
    """
    check_scale(scale)
    check_seed(seed)
    steps = dataset_steps(name)
    # Decimal keeps the scale exact on the server (0.01, not 0.01000000000000000021).
    params: dict[str, object] = {"scale": Decimal(repr(float(scale))), "seed": seed}
    tables: list[str] = []
    with connection.cursor() as cursor:
        for number, step in enumerate(steps, start=1):
            _execute(cursor, step, params)
            tables.extend(_created_tables(step))
            if progress is not None:
                progress(step.description, number, len(steps))
        return {table: _count(cursor, table) for table in tables}


def _execute(cursor: psycopg.Cursor[Any], step: Step, params: dict[str, object]) -> None:
    bound = bind_named(step.sql)
    try:
        if bound.names:
            cursor.execute(bound.psycopg_text, bound.values(params))
        else:
            cursor.execute(step.sql)
    except psycopg.Error as error:
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise DatabaseError(
            f"generating {step.dataset!r} failed at {step.file} line {step.line}"
            f" ({step.description}): {reason}",
            fix="roll back the transaction, then see the server's log (disk space, a clash)",
        ) from error


def _file_steps(dataset: str, path: Path) -> list[Step]:
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
        steps.append(Step(dataset, path.name, line, sql_text, _describe(raw.stmt)))
    return steps


def _describe(node: ast.Node | None) -> str:  # noqa: PLR0911 - one answer per statement kind
    """A few words for the progress display."""
    if isinstance(node, ast.CreateStmt):
        return f"table {_name(node.relation)}"
    if isinstance(node, ast.InsertStmt):
        return "rows: " + ", ".join(_inserted_tables(node))
    if isinstance(node, ast.AlterTableStmt):
        return _describe_alter(node)
    if isinstance(node, ast.IndexStmt):
        return f"index on {_name(node.relation)}"
    if isinstance(node, ast.VacuumStmt):
        return "statistics (ANALYZE)"
    if isinstance(node, ast.VariableSetStmt):
        return f"setting {node.name}"
    if isinstance(node, ast.SelectStmt):
        called = {_function_name(target.val) for target in node.targetList or ()}
        if "setseed" in called:
            return "seeding random()"
        if "setval" in called:
            return "id sequences"
    return type(node).__name__


def _describe_alter(node: ast.AlterTableStmt) -> str:
    table = _name(node.relation)
    for command in node.cmds or ():
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


def _inserted_tables(node: ast.InsertStmt) -> list[str]:
    """The tables an INSERT fills, including those of INSERTs in its WITH clause."""
    ctes = node.withClause.ctes or () if node.withClause else ()
    inner = [
        _name(cte.ctequery.relation)
        for cte in ctes
        if isinstance(cte, ast.CommonTableExpr) and isinstance(cte.ctequery, ast.InsertStmt)
    ]
    return [*inner, _name(node.relation)]


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
