"""What the agent knows about the live database before it calls a tool.

`schema_context(db)` is a compact text of the server, its extensions and settings, and every
user table (columns, types, keys, indexes, row counts, sizes). It goes to the model as the
second system block, after the persona, with a cache breakpoint, so the persona + schema
prefix is cached and every later question in the session reads it at the cached price. It is
framed as untrusted data: names and comments come from the database and may carry
instructions.

`plan_summary(db, sql)` is the measured plan of a query the question is about, in a few lines
per node, for the question's own message.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from ..datasets._describe import Description, TableInfo, describe
from ..plans._model import Plan, PlanNode, parse_plan
from ..postgres import Database
from ._persona import untrusted

__all__ = [
    "MAX_SCHEMA_CHARS",
    "SchemaContext",
    "describe_table_text",
    "find_sql",
    "plan_summary",
    "plan_text",
    "plans_function",
    "schema_context",
]

MAX_SCHEMA_CHARS = 24_000
MAX_PLAN_LINES = 40

_EXTENSIONS = "SELECT extname, extversion FROM pg_extension ORDER BY extname"
_SETTINGS_SHOWN = (
    "work_mem",
    "shared_buffers",
    "effective_cache_size",
    "random_page_cost",
    "max_parallel_workers_per_gather",
    "jit",
)
_SETTINGS = "SELECT name, current_setting(name) FROM pg_settings WHERE name = ANY(%s) ORDER BY 1"
_INDEX_PREFIX = re.compile(r"^CREATE (UNIQUE )?INDEX \S+ ON (?:ONLY )?\S+ USING ", re.IGNORECASE)
_SQL_START = re.compile(
    r"```(?:sql|postgresql)?\s*\n(.*?)```|\b(select|with|explain)\b", re.I | re.S
)


@dataclass(frozen=True)
class SchemaContext:
    """The schema text sent to the model, and what it was built from."""

    text: str
    description: Description
    server_version: str
    truncated: bool

    @property
    def table_names(self) -> list[str]:
        """The qualified names of the tables described."""
        return [table.qualified_name for table in self.description.tables]


def schema_context(db: Database, *, max_chars: int = MAX_SCHEMA_CHARS) -> SchemaContext:
    """The compact schema summary of `db`, framed as untrusted data."""
    description = describe(db)
    with db.connect() as connection:
        extensions = [f"{name} {version}" for name, version in connection.execute(_EXTENSIONS)]
        settings = connection.execute(_SETTINGS, [list(_SETTINGS_SHOWN)]).fetchall()
    header = [
        f"PostgreSQL {db.server_version} · database {description.database}",
        "extensions: " + (", ".join(extensions) or "none"),
        "settings: " + ", ".join(f"{name}={value}" for name, value in settings),
        "Row counts are the planner's estimates (exact right after ANALYZE).",
        f"{len(description.tables)} tables:",
    ]
    lines = list(header)
    used = sum(len(line) + 1 for line in lines)
    truncated = False
    for position, table in enumerate(description.tables):
        block = _table_block(table)
        if used + len(block) > max_chars:
            rest = description.tables[position:]
            names = ", ".join(f"{t.qualified_name} (~{_approx(t.rows):,} rows)" for t in rest)
            lines.append(
                f"... {len(rest)} more tables, details left out to stay short "
                f"(use describe_table): {names}"[: max(0, max_chars - used)]
            )
            truncated = True
            break
        lines.append(block)
        used += len(block) + 1
    text = untrusted("live database schema", "\n".join(lines))
    return SchemaContext(text, description, db.server_version, truncated)


def _table_block(table: TableInfo) -> str:
    columns = ", ".join(
        f"{column.name} {column.type}"
        + (" not null" if column.not_null else "")
        + (f" default {_short_default(column.default)}" if column.default else "")
        for column in table.columns
    )
    lines = [
        f"table {table.qualified_name} · ~{_approx(table.rows):,} rows · "
        f"{_size(_approx(table.total_bytes))}",
        f"  columns: {columns}",
    ]
    lines.extend(f"  {key}" for key in table.keys)
    for name, definition, size in table.indexes:
        lines.append(f"  index {name}: {_short_index(definition)} · {_size(_approx(size))}")
    if table.comment:
        lines.append(f"  comment: {table.comment!r}")
    return "\n".join(lines)


def describe_table_text(db: Database, name: str) -> str:
    """One table in detail, with the planner's column statistics (for the describe tool)."""
    from .. import sandbox

    description = describe(db)
    try:
        table = description.table(name)
    except KeyError:
        known = ", ".join(t.qualified_name for t in description.tables[:40])
        raise LookupError(f"no table {name!r}; tables: {known}") from None
    stats = sandbox.run_readonly(
        db,
        "SELECT attname, null_frac, n_distinct, correlation, most_common_vals::text"
        " FROM pg_stats WHERE schemaname = :schema AND tablename = :table ORDER BY attname",
        {"schema": table.schema, "table": table.name},
        max_rows=200,
        as_agent=True,
    )
    lines = [_table_block(table)]
    if stats.rows:
        lines.append("  column statistics (null fraction, distinct values, correlation, common):")
        for column, null_frac, n_distinct, correlation, common in stats.rows:
            distinct = (
                f"{-n_distinct:.0%} of rows" if n_distinct is not None and n_distinct < 0
                else f"{n_distinct:,.0f}" if n_distinct is not None else "?"
            )  # fmt: skip
            corr = f"{correlation:.2f}" if correlation is not None else "?"
            common_text = f" common {str(common)[:80]}" if common else ""
            lines.append(
                f"    {column}: null {null_frac or 0:.0%}, distinct {distinct}, "
                f"correlation {corr}{common_text}"
            )
    else:
        lines.append("  no column statistics yet (the table was never analyzed)")
    return "\n".join(lines)


def plans_function(name: str) -> Any:
    """`nexus_kernel_helpers.plans.<name>` (compare, advise), or None while it is not built."""
    import importlib

    return getattr(importlib.import_module("nexus_kernel_helpers.plans"), name, None)


def find_sql(text: str) -> str | None:
    """The SQL a question is about: a fenced block, or the query that ends the question.

    The candidate must parse as SQL (the real PostgreSQL parser decides), so a question that
    merely says "select" in prose finds nothing.
    """
    from pglast import parse_sql
    from pglast.parser import ParseError

    for match in _SQL_START.finditer(text):
        candidate = match.group(1) if match.group(1) is not None else text[match.start() :]
        candidate = candidate.strip().rstrip(";").strip()
        if not candidate:
            continue
        try:
            statements = parse_sql(candidate)
        except ParseError:
            continue
        if len(statements) == 1:
            return candidate
    return None


def plan_summary(db: Database, sql: str) -> tuple[str, Plan]:
    """EXPLAIN ANALYZE `sql` through the sandbox as the agent, summarised for the model.

    A statement that would change data is only planned, never run (as the notebook's role:
    the agent's may not even plan a write, and a plan alone executes nothing).
    """
    from .. import sandbox

    writes = sandbox.check(sql, sandbox.Mode.EXPLAIN).changes_data
    result = sandbox.explain(db, sql, analyze=not writes, as_agent=not writes)
    plan = parse_plan(result.plan, sql=sql, server_version_num=db.server_version_num)
    return plan_text(plan), plan


def plan_text(plan: Plan, *, max_lines: int = MAX_PLAN_LINES) -> str:
    """A plan in a few short lines per node: what ran, rows, time, buffers, filters."""
    lines = []
    if plan.execution_ms is not None:
        lines.append(
            f"execution {plan.execution_ms:.2f} ms, planning {plan.planning_ms or 0:.2f} ms"
        )
    for node in plan.nodes[:max_lines]:
        lines.append("  " * node.depth + "-> " + _node_line(node))
        for label, value in _conditions(node):
            lines.append("  " * node.depth + f"     {label}: {value[:160]}")
    if len(plan.nodes) > max_lines:
        lines.append(f"... {len(plan.nodes) - max_lines} more nodes left out")
    return "\n".join(lines)


def _node_line(node: PlanNode) -> str:
    parts = [node.label]
    estimated = f"est {node.estimated_total_rows:,.0f} rows"
    if node.never_executed:
        parts.append(f"{estimated}, never executed")
    elif node.total_rows is not None:
        loops = f" over {node.loops:,.0f} loops" if node.loops and node.loops > 1 else ""
        parts.append(f"{estimated}, actual {node.total_rows:,.0f}{loops}")
        if node.misestimate is not None and node.misestimate >= 10:
            parts.append(f"misestimate x{node.misestimate:,.0f} ({node.misestimate_direction})")
    else:
        parts.append(f"{estimated}, cost {node.total_cost:,.0f}")
    if node.exclusive_ms is not None:
        parts.append(f"{node.exclusive_ms:.2f} ms self")
    touched = node.exclusive_buffers.touched
    if touched:
        parts.append(f"{touched:,} buffers ({node.exclusive_buffers.read:,} read)")
    if node.sort_space_type == "Disk" or (node.hash_batches or 0) > 1:
        parts.append("spilled to disk")
    return " · ".join(parts)


def _conditions(node: PlanNode) -> list[tuple[str, str]]:
    found = [
        ("index cond", node.index_cond),
        ("filter", node.filter),
        ("join filter", node.join_filter),
        ("hash cond", node.hash_cond),
        ("merge cond", node.merge_cond),
    ]
    conditions = [(label, value) for label, value in found if value]
    if node.rows_removed_by_filter:
        conditions.append(("rows removed by filter", f"{node.rows_removed_by_filter:,.0f}"))
    if node.sort_key:
        conditions.append(("sort key", ", ".join(node.sort_key)))
    return conditions


def _approx(value: int) -> int:
    """`value` to two significant digits.

    The schema text (and so the prompt cache) stays the same while statistics move a little:
    ANALYZE updates row counts even inside a rolled-back what-if.
    """
    if value < 100:
        return value
    scale: int = 10 ** (len(str(value)) - 2)
    return round(value / scale) * scale


def _short_index(definition: str) -> str:
    unique = definition.upper().startswith("CREATE UNIQUE")
    short = _INDEX_PREFIX.sub("", definition)
    return f"unique {short}" if unique else short


def _short_default(default: str) -> str:
    return "nextval (serial)" if default.startswith("nextval(") else default[:60]


def _size(size: int) -> str:
    value = float(size)
    for unit in ("bytes", "kB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:,.0f} {unit}" if unit == "bytes" else f"{value:,.1f} {unit}"
        value /= 1024
    return f"{value:,.1f} TB"
