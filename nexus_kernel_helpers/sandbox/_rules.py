"""What the sandbox lets through, decided on the real PostgreSQL parse tree (pglast).

Every rule is here, each with its one-line reason. The parse tree is only the first wall: what
passes still runs over the extended protocol (one statement), in a transaction that is rolled
back, read-only unless the caller asked for a what-if, with timeouts, and for the agent as a
role that may only read.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from enum import Enum

from pglast import ast, parse_sql
from pglast.parser import ParseError
from pglast.visitors import Visitor

from ..errors import QueryError, SandboxRefusal

__all__ = ["MAX_SQL_BYTES", "Mode", "Statement", "check", "parse_statements"]

MAX_SQL_BYTES = 1_000_000


class Mode(Enum):
    """What the caller means to do with a statement."""

    READ = "read"  # run_readonly: look, change nothing
    EXPLAIN = "explain"  # explain(): a read, or DML measured and rolled back
    WHAT_IF = "what-if"  # what_if(): schema experiments, rolled back
    APPLY = "apply"  # apply(): the user's confirmed, permanent change


@dataclass(frozen=True)
class Statement:
    """One parsed statement: its text, its parse tree and a name for messages."""

    text: str
    node: ast.Node

    @property
    def kind(self) -> str:
        """A command name for messages: "SELECT", "CREATE INDEX", "SET ROLE", ..."""
        return statement_kind(self.node)

    @property
    def changes_data(self) -> bool:
        """Whether it is INSERT, UPDATE, DELETE or MERGE."""
        return isinstance(self.node, _DML)

    @property
    def needs_autocommit(self) -> bool:
        """Whether PostgreSQL refuses to run it inside a transaction block."""
        node = self.node
        if isinstance(node, ast.IndexStmt | ast.DropStmt):
            return bool(node.concurrent)
        if isinstance(node, ast.VacuumStmt):
            return bool(node.is_vacuumcmd)
        if isinstance(node, ast.ReindexStmt):
            return any(_option_name(o) == "concurrently" for o in node.params or ())
        return isinstance(node, _NO_TRANSACTION)


_DML = (ast.InsertStmt, ast.UpdateStmt, ast.DeleteStmt, ast.MergeStmt)
_READS = (ast.SelectStmt, ast.VariableShowStmt)
_NO_TRANSACTION = (
    ast.CreatedbStmt,
    ast.DropdbStmt,
    ast.AlterSystemStmt,
    ast.CreateTableSpaceStmt,
    ast.DropTableSpaceStmt,
)

# Functions refused in every mode but apply(), by name (the last part of a qualified name).
_DENIED_FUNCTIONS: dict[str, str] = {
    **dict.fromkeys(
        ("pg_read_file", "pg_read_binary_file", "pg_stat_file", "lo_import", "lo_export"),
        "reads or writes files on the database server",
    ),
    **dict.fromkeys(
        ("pg_terminate_backend", "pg_cancel_backend", "pg_signal_backend"),
        "signals other sessions",
    ),
    **dict.fromkeys(("nextval", "setval"), "moves a sequence, which no rollback undoes"),
    "set_config": "changes settings of the session the sandbox controls",
    "pg_notify": "sends a notification that other sessions receive",
    **dict.fromkeys(
        ("query_to_xml", "query_to_xml_and_xmlschema", "query_to_xmlschema", "cursor_to_xml",
         "cursor_to_xmlschema", "ts_stat", "ts_rewrite"),
        "runs SQL text that the sandbox cannot inspect",
    ),
    **dict.fromkeys(
        ("pg_reload_conf", "pg_rotate_logfile", "pg_switch_wal", "pg_promote",
         "pg_create_restore_point", "pg_log_backend_memory_contexts",
         "pg_stat_statements_reset"),
        "changes the state of the server",
    ),
}  # fmt: skip
# Families refused by prefix, for the same reasons.
_DENIED_PREFIXES: tuple[tuple[str, str], ...] = (
    ("pg_ls_", "lists files on the database server"),
    ("pg_file_", "writes files on the database server"),
    ("lo_", "reads or writes large objects on the server"),
    ("dblink", "reaches another server"),
    ("postgres_fdw", "reaches another server"),
    ("pg_advisory", "takes locks that can outlive the rollback"),
    ("pg_try_advisory", "takes locks that can outlive the rollback"),
    ("pg_stat_reset", "changes the state of the server"),
    ("pg_replication_", "changes replication state"),
    ("pg_create_", "creates server objects outside any transaction"),
    ("pg_drop_replication", "changes replication state"),
)

# Why a top-level statement type is refused where only reads are allowed.
_READ_REFUSALS: tuple[tuple[type[ast.Node] | tuple[type[ast.Node], ...], str, str], ...] = (
    (_DML, "changes data", "measure it with explain(), which rolls it back"),
    (ast.TransactionStmt, "controls the transaction the sandbox owns", ""),
    (ast.VariableSetStmt, "changes the session's settings or role", ""),
    ((ast.DoStmt, ast.CallStmt), "runs procedural code the sandbox cannot inspect", ""),
    (ast.CopyStmt, "moves data to or from files or programs", ""),
    (ast.LockStmt, "takes locks that block other sessions", ""),
)


def parse_statements(sql: str) -> list[Statement]:
    """Parse `sql` into statements, refusing what cannot be parsed or is too big to try."""
    if "\x00" in sql:
        raise SandboxRefusal("SQL text", "it contains a NUL byte, which SQL text cannot hold")
    size = len(sql.encode("utf-8", "surrogatepass"))
    if size > MAX_SQL_BYTES:
        raise SandboxRefusal(
            "SQL text", f"it is {size:,} bytes long; the sandbox takes at most {MAX_SQL_BYTES:,}"
        )
    try:
        raw_statements = parse_sql(sql)
    except ParseError as error:
        message, index = [*error.args, None, None][:2]
        position = index + 1 if isinstance(index, int) else None
        raise QueryError(str(message or error), sql=sql, position=position) from None
    statements = []
    for raw in raw_statements:
        if raw.stmt is None:
            continue
        start = raw.stmt_location or 0
        end = start + raw.stmt_len if raw.stmt_len else len(sql)
        statements.append(Statement(sql[start:end].strip(), raw.stmt))
    if not statements:
        raise SandboxRefusal("SQL text", "it holds no statement")
    return statements


def check(sql: str, mode: Mode) -> Statement:
    """Parse exactly one statement and apply the rules of `mode`; return it or refuse."""
    statements = parse_statements(sql)
    if len(statements) != 1:
        raise SandboxRefusal(
            f"{len(statements)} statements",
            "the sandbox runs exactly one statement at a time",
            fix="send them one by one",
        )
    statement = statements[0]
    check_statement(statement, mode)
    return statement


def check_statement(statement: Statement, mode: Mode) -> None:
    """Apply the rules of `mode` to one parsed statement."""
    node = statement.node
    if isinstance(node, ast.TransactionStmt):
        raise SandboxRefusal(statement.kind, "controls the transaction the sandbox owns")
    if mode is Mode.APPLY:
        return
    _refuse_denied_functions(statement)
    if mode is Mode.WHAT_IF:
        _check_what_if(statement)
    elif mode is Mode.EXPLAIN:
        if isinstance(node, ast.ExplainStmt):
            raise SandboxRefusal(
                "EXPLAIN", "explain() adds EXPLAIN itself", fix="pass the statement alone"
            )
        if not statement.changes_data:
            _check_read(statement)
    else:
        _check_read(statement)


def _check_read(statement: Statement) -> None:
    node = statement.node
    if isinstance(node, ast.ExplainStmt) and node.query is not None:
        inner = Statement(statement.text, node.query)
        if _is_analyze(node) and inner.changes_data:
            raise SandboxRefusal(
                f"EXPLAIN ANALYZE {inner.kind}",
                "EXPLAIN ANALYZE runs the statement, which changes data",
                fix="use explain(), which measures it in a transaction that is rolled back",
            )
        if not inner.changes_data:
            _check_read(inner)
        return
    if not isinstance(node, _READS):
        for types, reason, fix in _READ_REFUSALS:
            if isinstance(node, types):
                raise SandboxRefusal(statement.kind, reason, fix=fix or None)
        raise SandboxRefusal(
            statement.kind,
            "changes the database; only reads run here",
            fix="try it with what_if(), or make it permanent with apply()",
        )
    for found in _walk(node):
        if isinstance(found, _DML):
            raise SandboxRefusal(
                f"WITH ... {statement_kind(found)}", "a data-modifying WITH clause changes data"
            )
        if isinstance(found, ast.LockingClause):
            raise SandboxRefusal("SELECT ... FOR UPDATE/SHARE", "locks rows for other sessions")
        if isinstance(found, ast.IntoClause):
            raise SandboxRefusal("SELECT INTO", "creates a table")


# What a what-if may run: schema and statistics changes, planner settings and DML, all undone
# by the rollback. Anything else (PREPARE, LOAD, CHECKPOINT, DISCARD, DECLARE, ...) outlives it.
_WHAT_IF_ALLOWED = (
    ast.IndexStmt,
    ast.CreateStatsStmt,
    ast.AlterStatsStmt,
    ast.CreateStmt,
    ast.CreateTableAsStmt,
    ast.ViewStmt,
    ast.AlterTableStmt,
    ast.DropStmt,
    ast.VacuumStmt,
    ast.CommentStmt,
    ast.VariableSetStmt,
    ast.ReindexStmt,
    # Row-level security experiments: policies are catalog rows, undone by the rollback.
    ast.CreatePolicyStmt,
    ast.AlterPolicyStmt,
    *_DML,
)


def _check_what_if(statement: Statement) -> None:
    node = statement.node
    if statement.needs_autocommit:
        raise SandboxRefusal(
            statement.kind,
            "cannot run inside a transaction, so it could not be rolled back",
            fix="try the plain form (e.g. CREATE INDEX without CONCURRENTLY) here, "
            "and run this one with apply()",
        )
    if not isinstance(node, _WHAT_IF_ALLOWED):
        raise SandboxRefusal(
            statement.kind,
            "would outlive the rollback or act outside the transaction",
            fix="what-ifs take DDL on tables, indexes and statistics, SET, and DML",
        )
    if isinstance(node, ast.VariableSetStmt) and _changes_identity(node):
        raise SandboxRefusal(statement.kind, "changes the session's role or transaction mode")


def _refuse_denied_functions(statement: Statement) -> None:
    for found in _walk(statement.node):
        if isinstance(found, ast.FuncCall) and found.funcname:
            name = str(getattr(found.funcname[-1], "sval", ""))
            reason = _DENIED_FUNCTIONS.get(name) or next(
                (why for prefix, why in _DENIED_PREFIXES if name.startswith(prefix)), None
            )
            if reason:
                raise SandboxRefusal(f"{name}()", reason)


def _changes_identity(node: ast.VariableSetStmt) -> bool:
    name = (node.name or "").lower()
    return name in {"role", "session_authorization", "transaction", "session characteristics"} or (
        name.startswith("transaction_") or name == "default_transaction_read_only"
    )


def _is_analyze(node: ast.ExplainStmt) -> bool:
    """Whether EXPLAIN will run the statement; the server heeds the last ANALYZE option."""
    analyze = False
    for option in node.options or ():
        if _option_name(option) == "analyze":
            arg = getattr(option, "arg", None)
            value = getattr(arg, "sval", None) or getattr(arg, "boolval", None)
            value = value if value is not None else getattr(arg, "ival", None)
            analyze = arg is None or str(value).lower() not in {"false", "off", "0"}
    return analyze


def _option_name(option: ast.Node) -> str:
    return str(getattr(option, "defname", "")).lower()


def _walk(node: ast.Node) -> Iterator[ast.Node]:
    """Every node below (and including) `node`."""
    found: list[ast.Node] = []

    class Collect(Visitor):
        def visit(self, ancestors: object, visited: ast.Node) -> None:
            found.append(visited)

    Collect()(node)
    return iter([node, *found])


_SPECIAL_KINDS = {
    "SelectStmt": "SELECT",
    "VariableShowStmt": "SHOW",
    "DoStmt": "DO",
    "IndexStmt": "CREATE INDEX",
    "CreateStmt": "CREATE TABLE",
    "CreateStatsStmt": "CREATE STATISTICS",
    "CopyStmt": "COPY",
    "LockStmt": "LOCK TABLE",
    "CreatedbStmt": "CREATE DATABASE",
    "DropdbStmt": "DROP DATABASE",
    "ExplainStmt": "EXPLAIN",
}


def statement_kind(node: ast.Node) -> str:  # noqa: PLR0911 - one return per node family
    """A readable command name for a parse-tree node."""
    name = type(node).__name__
    if isinstance(node, ast.TransactionStmt) and node.kind is not None:
        return str(node.kind.name).removeprefix("TRANS_STMT_").replace("_", " ")
    if isinstance(node, ast.VariableSetStmt):
        target = (node.name or "").upper().replace("_", " ")
        if node.kind and "RESET" in node.kind.name:
            return f"RESET {target}".strip()
        return f"SET {target}".strip()
    if isinstance(node, ast.VacuumStmt):
        return "VACUUM" if node.is_vacuumcmd else "ANALYZE"
    if isinstance(node, ast.DropStmt) and node.removeType is not None:
        return "DROP " + node.removeType.name.removeprefix("OBJECT_").replace("_", " ")
    if name in _SPECIAL_KINDS:
        return _SPECIAL_KINDS[name]
    words = re.findall(r"[A-Z][a-z]*", name.removesuffix("Stmt"))
    return " ".join(words).upper()
