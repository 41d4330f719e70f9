"""The agent's tools: JSON schemas for the model, and their execution through the sandbox.

Every tool reads, as the least-privilege agent role where the sandbox offers one; what-if
experiments run in a transaction that is always rolled back. Results are capped and framed as
untrusted data before they go back to the model. A failure (a refusal, a server error, bad
input) goes back as an `is_error` tool result of one line, never as an exception, so the model
can correct itself.

    describe_schema   the schema summary again (after a what-if, or when it was cut short)
    describe_table    one table with its column statistics
    run_query         a read-only query, at most 50 rows back (aggregate instead)
    explain_query     EXPLAIN ANALYZE (or plan only), summarised
    try_index         CREATE INDEX / CREATE STATISTICS / SET in a what-if, measured against a query
    compare_queries   two queries measured against each other (same results? how much faster?)
    advise_query      the rule-based advisor on a query, with verified index suggestions
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import psycopg
from pglast import ast

from .. import sandbox
from ..errors import NexusError, QueryError, SandboxRefusal
from ..plans._model import Plan, parse_plan
from ..postgres import Database, QueryResult
from ._context import describe_table_text, plan_text, plans_function, schema_context
from ._persona import untrusted

__all__ = [
    "MAX_RESULT_CHARS",
    "TOOLS",
    "ToolCall",
    "ToolInputError",
    "ToolRunner",
    "tool_definitions",
]

MAX_RESULT_CHARS = 6_000
MAX_ROWS_TO_MODEL = 50
MAX_CELL_CHARS = 120
MEASURE_RUNS = 3
COMPARE_RUNS = 7

_SQL = {"type": "string", "description": "one SQL statement"}

TOOLS: list[dict[str, Any]] = [
    {
        "name": "describe_schema",
        "description": "The live schema summary: tables, columns, keys, indexes, sizes, rows.",
        "input_schema": {"type": "object", "properties": {}, "additionalProperties": False},
    },
    {
        "name": "describe_table",
        "description": "One table in detail, with the planner's column statistics "
        "(null fraction, distinct values, correlation, most common values).",
        "input_schema": {
            "type": "object",
            "properties": {"table": {"type": "string", "description": "table or schema.table"}},
            "required": ["table"],
            "additionalProperties": False,
        },
    },
    {
        "name": "run_query",
        "description": "Run one read-only query (SELECT, WITH ... SELECT, VALUES, SHOW) and get "
        f"at most {MAX_ROWS_TO_MODEL} rows back. Statements that change anything are refused. "
        "Prefer aggregates and LIMIT.",
        "input_schema": {
            "type": "object",
            "properties": {
                "sql": _SQL,
                "max_rows": {"type": "integer", "minimum": 1, "maximum": MAX_ROWS_TO_MODEL},
            },
            "required": ["sql"],
            "additionalProperties": False,
        },
    },
    {
        "name": "explain_query",
        "description": "EXPLAIN (ANALYZE, BUFFERS) a read-only query and get the plan "
        "summarised: nodes, estimated vs actual rows, time in each node, buffers, filters. "
        "With analyze=false only the plan is made (nothing runs).",
        "input_schema": {
            "type": "object",
            "properties": {"sql": _SQL, "analyze": {"type": "boolean", "default": True}},
            "required": ["sql"],
            "additionalProperties": False,
        },
    },
    {
        "name": "try_index",
        "description": "What-if: create indexes or statistics (CREATE INDEX, CREATE STATISTICS, "
        "ANALYZE, SET of planner settings) in a transaction that is rolled back, and measure "
        "the query before and after: median times, speedup, plans. Use it to verify an index "
        "before recommending it.",
        "input_schema": {
            "type": "object",
            "properties": {
                "setup": {
                    "type": "array",
                    "items": {"type": "string"},
                    "minItems": 1,
                    "description": "statements to try, e.g. CREATE INDEX ON orders (customer_id)",
                },
                "sql": {"type": "string", "description": "the read-only query to measure"},
            },
            "required": ["setup", "sql"],
            "additionalProperties": False,
        },
    },
    {
        "name": "compare_queries",
        "description": "Measure a rewrite against the original: whether both return the same "
        "rows, median times, speedup. Both must be read-only queries.",
        "input_schema": {
            "type": "object",
            "properties": {
                "before": {"type": "string", "description": "the original query"},
                "after": {"type": "string", "description": "the rewrite"},
            },
            "required": ["before", "after"],
            "additionalProperties": False,
        },
    },
    {
        "name": "advise_query",
        "description": "The workbook's rule-based advisor on a read-only query: findings on "
        "its measured plan and index suggestions verified in what-ifs.",
        "input_schema": {
            "type": "object",
            "properties": {"sql": _SQL},
            "required": ["sql"],
            "additionalProperties": False,
        },
    },
]


def tool_definitions() -> list[dict[str, Any]]:
    """The tool list for a request (copies, so callers may add cache markers)."""
    return [dict(tool) for tool in TOOLS]


class ToolInputError(NexusError):
    """The model called a tool with input that does not fit its schema."""


@dataclass
class ToolCall:
    """One tool call: what the model asked, what ran, how long it took, what came back.

    `outcome` is "ok", "refused" (the sandbox or the tool's own rules said no) or "error".
    `result` is the text sent back to the model; `summary` is one line for people.
    """

    id: str
    name: str
    input: dict[str, Any]
    sql: list[str] = field(default_factory=list)
    duration_ms: float = 0.0
    outcome: str = "ok"
    summary: str = ""
    result: str = ""
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def is_error(self) -> bool:
        """Whether the model gets this result as an error."""
        return self.outcome != "ok"

    def to_json(self) -> dict[str, Any]:
        """A plain dict for transcripts."""
        return {
            "id": self.id,
            "name": self.name,
            "input": self.input,
            "sql": self.sql,
            "duration_ms": round(self.duration_ms, 3),
            "outcome": self.outcome,
            "summary": self.summary,
            "result": self.result,
            "data": self.data,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ToolCall:
        """Back from a transcript."""
        return cls(
            id=str(data["id"]),
            name=str(data["name"]),
            input=dict(data.get("input") or {}),
            sql=[str(s) for s in data.get("sql") or []],
            duration_ms=float(data.get("duration_ms") or 0.0),
            outcome=str(data.get("outcome") or "ok"),
            summary=str(data.get("summary") or ""),
            result=str(data.get("result") or ""),
            data=dict(data.get("data") or {}),
        )


_Handler = Callable[["ToolRunner", ToolCall], str]


class ToolRunner:
    """Runs tool calls against one database; `query` is the query under discussion."""

    def __init__(
        self,
        db: Database,
        *,
        query: str | None = None,
        runs: int = MEASURE_RUNS,
        compare_runs: int = COMPARE_RUNS,
        timeout_ms: int = 10_000,
        max_result_chars: int = MAX_RESULT_CHARS,
    ) -> None:
        self.db = db
        self.query = query
        self.runs = runs
        self.compare_runs = compare_runs
        self.timeout_ms = timeout_ms
        self.max_result_chars = max_result_chars

    def run(self, tool_id: str, name: str, tool_input: Mapping[str, Any]) -> ToolCall:
        """Execute one call; failures become an error result, never an exception."""
        call = ToolCall(tool_id, name, dict(tool_input))
        handler = _HANDLERS.get(name)
        started = time.perf_counter()
        try:
            if handler is None:
                raise ToolInputError(f"no tool named {name!r}; tools: {', '.join(_HANDLERS)}")
            text = handler(self, call)
        except SandboxRefusal as refusal:
            call.outcome = "refused"
            call.summary = f"refused: {_one_line(refusal)}"
            call.result = (
                f"refused by the sandbox: {_one_line(refusal)}. The workbook only reads; "
                "propose changes to the user as code instead of running them."
            )
        except QueryError as error:
            call.outcome = "error"
            where = f" (at character {error.position})" if error.position else ""
            hint = f"; hint: {error.hint}" if error.hint else ""
            call.summary = f"error: {_one_line(error.message)}"
            call.result = f"the server said: {_one_line(error.message)}{where}{hint}"
        except (NexusError, LookupError, psycopg.Error) as error:
            call.outcome = "error"
            call.summary = f"error: {_one_line(error)}"
            call.result = f"error: {_one_line(error)}"
        else:
            call.result = self._cap(untrusted(name, text))
        call.duration_ms = (time.perf_counter() - started) * 1000
        return call

    def _cap(self, text: str) -> str:
        if len(text) <= self.max_result_chars:
            return text
        cut = self.max_result_chars - 80
        return text[:cut] + f"\n... [cut: {len(text) - cut:,} more characters]\n</untrusted-data>"

    # -- tools -----------------------------------------------------------------------------

    def describe_schema(self, call: ToolCall) -> str:
        """The schema summary, read again."""
        context = schema_context(self.db)
        call.summary = f"{len(context.table_names)} tables"
        return context.text

    def describe_table(self, call: ToolCall) -> str:
        """One table with statistics."""
        name = _text(call.input, "table")
        call.summary = name
        return describe_table_text(self.db, name)

    def run_query(self, call: ToolCall) -> str:
        """A read, capped."""
        sql = _text(call.input, "sql")
        call.sql.append(sql)
        limit = min(max(int(call.input.get("max_rows") or 20), 1), MAX_ROWS_TO_MODEL)
        result = sandbox.run_readonly(self.db, sql, max_rows=limit, as_agent=True)
        call.summary = _rows_summary(result)
        call.data = {"rows": len(result.rows), "elapsed_ms": round(result.elapsed_ms, 3)}
        return _rows_text(result)

    def explain_query(self, call: ToolCall) -> str:
        """EXPLAIN ANALYZE of a read; a plan only for a statement that would change data."""
        sql = _text(call.input, "sql")
        call.sql.append(sql)
        analyze = bool(call.input.get("analyze", True))
        statement = sandbox.check(sql, sandbox.Mode.EXPLAIN)
        if statement.changes_data and analyze:
            raise SandboxRefusal(
                f"EXPLAIN ANALYZE {statement.kind}",
                "it would run a statement that changes data",
                fix="ask with analyze=false for the plan alone",
            )
        result = sandbox.explain(self.db, sql, analyze=analyze, as_agent=True)
        plan = parse_plan(result.plan, sql=sql, server_version_num=self.db.server_version_num)
        call.summary = _plan_summary(plan)
        call.data = {"execution_ms": plan.execution_ms, "plan": result.plan}
        return plan_text(plan)

    def try_index(self, call: ToolCall) -> str:
        """What-if with index-like setup, measured before and after."""
        setup = _texts(call.input, "setup")
        sql = _text(call.input, "sql")
        for statement in setup:
            _check_setup(statement)
        _check_read(sql)
        call.sql.extend([*setup, sql])
        return self._compare(call, before=sql, after=None, setup=setup)

    def compare_queries(self, call: ToolCall) -> str:
        """A rewrite measured against the original."""
        before = _text(call.input, "before")
        after = _text(call.input, "after")
        _check_read(before)
        _check_read(after)
        call.sql.extend([before, after])
        return self._compare(call, before=before, after=after, setup=None)

    def advise_query(self, call: ToolCall) -> str:
        """The rule-based advisor."""
        sql = _text(call.input, "sql")
        _check_read(sql)
        call.sql.append(sql)
        advise = plans_function("advise")
        if advise is None:
            plan = self._explain(sql)
            call.summary = "advisor not available; plan only"
            return "The advisor is not available in this build. The measured plan:\n" + (
                plan_text(plan)
            )
        advice = advise(self.db, sql, max_candidates=2, runs=self.runs)
        call.summary = f"{len(advice.findings)} findings, {len(advice.suggestions)} suggestions"
        return str(advice.to_markdown())

    # -- measuring -------------------------------------------------------------------------

    def _compare(
        self, call: ToolCall, *, before: str, after: str | None, setup: Sequence[str] | None
    ) -> str:
        compare = plans_function("compare")
        if compare is None:
            return self._compare_by_explain(call, before=before, after=after, setup=setup)
        comparison = compare(
            self.db, before, after, setup=list(setup) if setup else None,
            runs=self.compare_runs, warmup=1, timeout_ms=self.timeout_ms,
        )  # fmt: skip
        call.summary = str(comparison.headline)
        call.data = {
            "speedup": comparison.speedup,
            "ci": [comparison.ci_low, comparison.ci_high],
            "verdict": comparison.verdict,
            "equivalent": comparison.equivalent,
            "before_ms": statistics.median(comparison.before.execution_ms or [0.0]),
            "after_ms": statistics.median(comparison.after.execution_ms or [0.0]),
        }
        return str(comparison.to_markdown())

    def _compare_by_explain(
        self, call: ToolCall, *, before: str, after: str | None, setup: Sequence[str] | None
    ) -> str:
        """Medians of a few EXPLAIN ANALYZE runs, when the measured comparison is not built."""
        before_times, before_plan = self._measure(lambda: self._explain(before))
        if setup:
            with sandbox.what_if(self.db, list(setup)) as trial:
                after_times, after_plan = self._measure(
                    lambda: parse_plan(trial.explain(before).plan, sql=before)
                )
            label = "with " + "; ".join(setup)
        else:
            after_sql = after or before
            after_times, after_plan = self._measure(lambda: self._explain(after_sql))
            label = "rewrite"
        before_ms, after_ms = statistics.median(before_times), statistics.median(after_times)
        speedup = before_ms / after_ms if after_ms > 0 else float("inf")
        same = None if after is None else self._same_rows(before, after)
        call.summary = f"{before_ms:.2f} ms -> {after_ms:.2f} ms (x{speedup:.2f})"
        call.data = {
            "before_ms": before_ms, "after_ms": after_ms, "speedup": speedup, "equivalent": same
        }  # fmt: skip
        lines = [
            f"median of {self.runs} EXPLAIN ANALYZE runs each (rolled back):",
            f"before: {before_ms:.3f} ms  {before_times}",
            f"after ({label}): {after_ms:.3f} ms  {after_times}",
            f"speedup: x{speedup:.2f}",
        ]
        if same is not None:
            lines.append("same rows: " + ("yes" if same else "NO - the results differ"))
        lines += ["", "plan before:", plan_text(before_plan, max_lines=15)]
        lines += ["", "plan after:", plan_text(after_plan, max_lines=15)]
        return "\n".join(lines)

    def _measure(self, explain: Callable[[], Plan]) -> tuple[list[float], Plan]:
        plan = explain()
        times = [round(plan.execution_ms or 0.0, 3)]
        for _ in range(self.runs - 1):
            plan = explain()
            times.append(round(plan.execution_ms or 0.0, 3))
        return times, plan

    def _explain(self, sql: str) -> Plan:
        result = sandbox.explain(self.db, sql, as_agent=True)
        return parse_plan(result.plan, sql=sql, server_version_num=self.db.server_version_num)

    def _same_rows(self, before: str, after: str) -> bool:
        def fingerprint(sql: str) -> tuple[Any, ...]:
            # The query goes in as text, but the sandbox parses the whole and runs it read-only.
            inner = sql.rstrip().rstrip(";")
            digest = "md5(coalesce(string_agg(md5(r::text), ',' ORDER BY md5(r::text)), ''))"
            wrapped = f"SELECT count(*), {digest} FROM ({inner}) AS r"  # noqa: S608
            return tuple(sandbox.run_readonly(self.db, wrapped, max_rows=1, as_agent=True).rows[0])

        return fingerprint(before) == fingerprint(after)


_HANDLERS: dict[str, _Handler] = {
    "describe_schema": ToolRunner.describe_schema,
    "describe_table": ToolRunner.describe_table,
    "run_query": ToolRunner.run_query,
    "explain_query": ToolRunner.explain_query,
    "try_index": ToolRunner.try_index,
    "compare_queries": ToolRunner.compare_queries,
    "advise_query": ToolRunner.advise_query,
}

# What try_index takes: things that change plans, not data.
_SETUP_ALLOWED = (ast.IndexStmt, ast.CreateStatsStmt, ast.VacuumStmt, ast.VariableSetStmt)


def _check_setup(sql: str) -> None:
    statement = sandbox.check(sql, sandbox.Mode.WHAT_IF)
    node = statement.node
    if not isinstance(node, _SETUP_ALLOWED) or (
        isinstance(node, ast.VacuumStmt) and node.is_vacuumcmd
    ):
        raise SandboxRefusal(
            statement.kind,
            "try_index takes CREATE INDEX, CREATE STATISTICS, ANALYZE and SET only",
            fix="propose other changes to the user as code",
        )


def _check_read(sql: str) -> None:
    sandbox.check(sql, sandbox.Mode.READ)


def _text(data: Mapping[str, Any], key: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value.strip():
        raise ToolInputError(f"{key!r} must be a non-empty string")
    return value.strip()


def _texts(data: Mapping[str, Any], key: str) -> list[str]:
    value = data.get(key)
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise ToolInputError(f"{key!r} must be a non-empty list of SQL statements")
    return [v.strip() for v in value if v.strip()]


def _rows_text(result: QueryResult) -> str:
    if not result.returns_rows:
        return result.status
    header = " | ".join(result.columns)
    lines = [header]
    for row in result.rows:
        lines.append(" | ".join(_cell(value) for value in row))
    more = (
        f"(first {len(result.rows)} rows; more exist)"
        if result.truncated or not result.total_known
        else f"({len(result.rows)} rows)"
    )
    lines.append(f"{more} in {result.elapsed_ms:.1f} ms")
    return "\n".join(lines)


def _rows_summary(result: QueryResult) -> str:
    if not result.returns_rows:
        return result.status
    more = "+" if result.truncated or not result.total_known else ""
    return f"{len(result.rows)}{more} rows in {result.elapsed_ms:.1f} ms"


def _cell(value: object) -> str:
    if value is None:
        return "NULL"
    text = " ".join(str(value).split())
    return text if len(text) <= MAX_CELL_CHARS else text[: MAX_CELL_CHARS - 1] + "…"


def _plan_summary(plan: Plan) -> str:
    top = plan.root.label
    if plan.execution_ms is not None:
        return f"{top} · {plan.execution_ms:.2f} ms"
    return f"{top} · cost {plan.root.total_cost:,.0f}"


def _one_line(value: object) -> str:
    text = " ".join(str(value).split())
    return text if len(text) <= 300 else text[:299] + "…"
