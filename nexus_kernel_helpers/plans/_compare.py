"""`compare()`: is "after" really faster than "before"? Measured, not guessed.

How a comparison runs:

1. Both statements are parsed and checked by the sandbox's rules before anything runs
   (a syntax error raises `QueryError`, a refused statement or setup `SandboxRefusal`), then
   planned without running (EXPLAIN without ANALYZE), so a misspelt column fails early too.
2. The "after" side runs inside a what-if transaction holding `setup` (an index, say, built
   and ANALYZEd there); the "before" side runs on a second connection, which cannot see the
   uncommitted index. Both transactions are rolled back, whatever happens.
3. Each side runs once untimed to fingerprint its rows (result equivalence), then `warmup`
   runs that are discarded, then `runs` measured runs. The two sides alternate, each going
   first equally often (AB BA AB BA ... with a setup, AB AB BA BA ... without), so slow drift
   of the machine (a background job, a cache filling) hits both alike.
4. When the setup takes a lock that would block the other side (DROP INDEX takes the table
   exclusively; CREATE INDEX blocks writes), the sides cannot alternate: all "before" runs
   come first, then the what-if is set up again for the "after" runs. The report says so.

The speedup is the server's execution time (EXPLAIN ANALYZE): median before over median after,
with a bootstrap interval (`_stats`). The client's wall time of the plain statement is measured
in the same runs; "faster" or "slower" is only said when both measurements say it.

Without a setup, the two sides also trade connections every run, so a difference between the
two server processes (one sharing a CPU with a busy neighbour, say) cannot pass for a speedup.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from html import escape
from typing import TYPE_CHECKING, Any

import psycopg
from pglast import ast

from .. import _html
from ..errors import ConfigurationError, DatabaseError, QueryError, SandboxRefusal
from ..sandbox._rules import Mode, Statement, check, check_statement, parse_statements
from ..sandbox._run import BoundStatement, bind_statement, explain_options, what_if
from ._diff import PlanDiff, diff_plans, format_bytes, format_count, format_ms
from ._equivalence import RowsDigest, compare_results, order_keys
from ._measure import (
    Cancelled,
    Run,
    Scope,
    SideRunner,
    StatementWatch,
    TimedOut,
    locks_conflict,
)
from ._model import Plan, parse_plan
from ._plot import distribution_svg
from ._stats import (
    FASTER,
    NO_DIFFERENCE,
    SLOWER,
    SpeedupEstimate,
    Summary,
    estimate_speedup,
    summarize,
)

if TYPE_CHECKING:
    from ..postgres import Database

__all__ = [
    "CANCELLED",
    "DIFFERENT_RESULTS",
    "FAILED",
    "Comparison",
    "Side",
    "compare",
]

DIFFERENT_RESULTS = "different results"
CANCELLED = "cancelled"
FAILED = "failed"
MIN_RUNS = 3
SETUP_TIMEOUT_MS = 60_000
_BEFORE_KEY = "plans:compare:before"
_AFTER_KEY = "plans:compare:after"
_ORDER_INTERLEAVED = (
    "interleaved in ABBA order (before, after, after, before, ...): each side goes first"
    " equally often; the after side runs in the what-if's connection, the before side in"
    " its own"
)
_ORDER_SWAPPED = (
    "interleaved (before, after, before, after, after, before, after, before, ...): each side"
    " goes first equally often, and the sides trade connections every run, so neither the"
    " order nor one server process's state favours a side"
)


@dataclass
class Side:
    """One side of a comparison: its statement, its measured runs and the median run's plan."""

    label: str
    sql: str
    setup: tuple[str, ...] = ()
    plan: Plan | None = None
    execution_ms: list[float] = field(default_factory=list)
    wall_ms: list[float] = field(default_factory=list)
    planning_ms: list[float] = field(default_factory=list)
    row_count: int | None = None
    error: str | None = None
    workers: list[tuple[int, int]] = field(default_factory=list)
    jit_setting: str = ""

    @property
    def summary(self) -> Summary | None:
        """Execution-time distribution (server), None without runs."""
        return summarize(self.execution_ms) if self.execution_ms else None

    @property
    def wall_summary(self) -> Summary | None:
        """Wall-time distribution (client, plain statement), None without runs."""
        return summarize(self.wall_ms) if self.wall_ms else None

    def to_dict(self) -> dict[str, Any]:
        """Everything measured, plus the median run's raw plan."""
        return {
            "label": self.label,
            "sql": self.sql,
            "setup": list(self.setup),
            "execution_ms": self.execution_ms,
            "wall_ms": self.wall_ms,
            "planning_ms": self.planning_ms,
            "row_count": self.row_count,
            "error": self.error,
            "workers_launched": [launched for launched, _ in self.workers],
            "jit": self.jit_setting,
            "plan": self.plan.raw if self.plan is not None else None,
        }


@dataclass
class Comparison:
    """The outcome of `compare()`: verdict, speedup with its interval, and the evidence."""

    before: Side
    after: Side
    verdict: str
    speedup: float | None
    ci_low: float | None
    ci_high: float | None
    equivalent: bool | None
    equivalence_note: str
    diff: PlanDiff
    fairness: dict[str, Any]
    runs: int
    warmup: int
    min_effect: float = 0.05
    wall_speedup: float | None = None
    wall_ci_low: float | None = None
    wall_ci_high: float | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def headline(self) -> str:
        """The verdict as one sentence."""
        interval = self._interval()
        if self.verdict == "faster" and self.speedup:
            return f"after is {self.speedup:,.2f}x faster{interval}"
        if self.verdict == "slower" and self.speedup:
            return f"after is {1 / self.speedup:,.2f}x slower{interval}"
        if self.verdict == NO_DIFFERENCE:
            text = f"no significant difference (none of {self.min_effect:.0%} or more shown)"
            return text + (f": speedup {self.speedup:,.2f}x{interval}" if self.speedup else "")
        if self.verdict == DIFFERENT_RESULTS:
            return f"different results: {self.equivalence_note}"
        if self.verdict == CANCELLED:
            done = min(len(self.before.execution_ms), len(self.after.execution_ms))
            return f"cancelled after {done} of {self.runs} runs per side"
        errors = [f"{s.label}: {s.error}" for s in (self.before, self.after) if s.error]
        return "failed: " + ("; ".join(errors) or "not enough runs to compare")

    def _interval(self) -> str:
        if self.ci_low is None or self.ci_high is None:
            return ""
        return f" (95% CI {self.ci_low:,.2f}x to {self.ci_high:,.2f}x)"

    # -- reports ---------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """Everything as plain data (what `to_json()` writes)."""
        return {
            "verdict": self.verdict,
            "headline": self.headline,
            "speedup": self.speedup,
            "ci_low": self.ci_low,
            "ci_high": self.ci_high,
            "min_effect": self.min_effect,
            "wall_speedup": self.wall_speedup,
            "wall_ci_low": self.wall_ci_low,
            "wall_ci_high": self.wall_ci_high,
            "equivalent": self.equivalent,
            "equivalence_note": self.equivalence_note,
            "diff": list(self.diff.lines),
            "fairness": self.fairness,
            "notes": self.notes,
            "runs": self.runs,
            "warmup": self.warmup,
            "before": self.before.to_dict(),
            "after": self.after.to_dict(),
        }

    def to_json(self) -> str:
        """The comparison as JSON, raw plans of the median runs included."""
        return json.dumps(self.to_dict(), indent=2, default=str)

    def to_markdown(self) -> str:
        """A report to paste into a pull request."""
        lines = [f"### Query comparison: **{self.verdict}**", "", self.headline, ""]
        lines += _markdown_table(self._stat_rows())
        lines += ["", f"**Results:** {self.equivalence_note}", ""]
        if self.notes:
            lines += [f"> {note}" for note in self.notes] + [""]
        if self.diff.lines:
            lines += ["**Plan changes**", ""] + [f"- {line}" for line in self.diff.lines] + [""]
        lines += ["**Before**", "", *_fenced(self.before.sql), ""]
        if self.after.setup:
            lines += [
                "**Setup** (after side only, rolled back)",
                "",
                *_fenced(_setup_text(self)),
                "",
            ]
        lines += ["**After**", "", *_fenced(self.after.sql), ""]
        lines += ["**Fairness**", ""] + [f"- {name}: {_flat(v)}" for name, v in self._fair()]
        return "\n".join(lines) + "\n"

    def _fair(self) -> list[tuple[str, Any]]:
        return list(self.fairness.items())

    def _stat_rows(self) -> list[tuple[str, str, str]]:
        rows: list[tuple[str, str, str]] = []
        sides = (self.before, self.after)

        def row(name: str, pick: Callable[[Side], str]) -> None:
            rows.append((name, pick(sides[0]), pick(sides[1])))

        row("execution time, median", lambda s: _stat(s.summary, "median"))
        row("execution time, p95", lambda s: _stat(s.summary, "p95"))
        row("spread (IQR)", lambda s: _stat(s.summary, "iqr"))
        row("wall time, median", lambda s: _stat(s.wall_summary, "median"))
        row("planning time, median", _median_planning)
        row("rows", lambda s: "" if s.row_count is None else format_count(s.row_count))
        row("runs measured", lambda s: str(len(s.execution_ms)))
        if any(s.error for s in sides):
            row("error", lambda s: s.error or "")
        return rows

    def __repr__(self) -> str:
        return f"<Comparison {self.verdict}: {self.headline}>"

    def _text(self) -> str:
        parts = [
            f"Comparison: {self.verdict.upper()}",
            self.headline,
            "",
            _html.text_table(["", "before", "after"], self._stat_rows()),
            "",
            f"results: {self.equivalence_note}",
            *self.notes,
        ]
        if self.diff.lines:
            parts += ["", "plan changes:", self.diff.to_text()]
        parts += ["", "fairness:"] + [f"  {name}: {_flat(v)}" for name, v in self._fair()]
        return "\n".join(parts)

    def _html(self) -> str:
        colour = _VERDICT_COLOURS.get(self.verdict, "#666")
        banner = (
            f'<div class="nexus-verdict" style="border-left:6px solid {colour};padding:6px 12px;'
            'margin:4px 0 10px 0">'
            f'<div style="font-size:1.6em;font-weight:700;color:{colour}">'
            f"{escape(self.verdict)}</div>"
            f'<div style="font-size:1.05em">{escape(self.headline)}</div></div>'
        )
        sections = [banner]
        if self.notes:
            sections.append("".join(_html.paragraph(note) for note in self.notes))
        sections.append(_plans_side_by_side(self.before, self.after))
        if self.diff.lines:
            items = "".join(f"<li>{escape(line)}</li>" for line in self.diff.lines)
            sections.append(f"<h4>Plan changes</h4><ul class='nexus-diff'>{items}</ul>")
        sections.append("<h4>Execution time per run</h4>")
        sections.append(
            distribution_svg(
                [("before", self.before.execution_ms), ("after", self.after.execution_ms)]
            )
        )
        sections.append(_html.table(["", "before", "after"], self._stat_rows()))
        equivalence_style = "" if self.equivalent is not False else " style='color:#c62828'"
        sections.append(
            f"<h4>Results</h4><p class='nexus-equivalence'{equivalence_style}>"
            f"{escape(self.equivalence_note)}</p>"
        )
        sections.append("<h4>Fairness</h4>")
        sections.append(_html.table(["", ""], [(k, _flat(v)) for k, v in self._fair()]))
        return f'<div class="nexus-comparison">{"".join(sections)}</div>'

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, str]:
        return {"text/plain": self._text(), "text/html": self._html()}


_VERDICT_COLOURS = {
    "faster": "#2e7d32",
    "slower": "#c62828",
    DIFFERENT_RESULTS: "#c62828",
    FAILED: "#c62828",
    CANCELLED: "#757575",
    NO_DIFFERENCE: "#546e7a",
}


def compare(
    db: Database,
    before: str,
    after: str | None = None,
    *,
    setup: str | Sequence[str] | None = None,
    params: Mapping[str, object] | None = None,
    runs: int = 15,
    warmup: int = 2,
    timeout_ms: int = 30_000,
    jit: bool | None = None,
    min_effect: float = 0.05,
    progress: Callable[[int, int, str], None] | None = None,
    cancel: threading.Event | None = None,
) -> Comparison:
    """Measure `before` against `after` (the same SQL when None) and/or `setup`.

    `setup` (e.g. "CREATE INDEX ...") applies to the after side only, in a what-if that is
    rolled back. `params` fill `:name` placeholders on both sides. `jit` None keeps the
    server's setting, True/False sets it on both sides. `min_effect` is the smallest speedup
    worth a verdict (0.05: 5%). `progress(done, total, stage)` is called after every run;
    setting `cancel` stops at once (the running statement is cancelled on the server).
    """
    _check_options(runs, warmup, timeout_ms, min_effect)
    setups = _setup_texts(setup)
    before_side = _Prepared.make("before", before, params)
    after_side = _Prepared.make("after", before if after is None else after, params, setups)
    for text in setups:
        for statement in parse_statements(text):
            check_statement(statement, Mode.WHAT_IF)
    measurement = _Measurement(
        db=db,
        before=before_side,
        after=after_side,
        setups=setups,
        runs=runs,
        warmup=warmup,
        timeout_ms=timeout_ms,
        jit=jit,
        progress=_Progress(progress, 2 + 2 * (runs + warmup)),
    )
    started = time.perf_counter()
    cancelled = False
    with StatementWatch(cancel) as watch:
        try:
            measurement.run(watch)
        except Cancelled:
            cancelled = True
        except psycopg.Error as error:
            # Only the measured statements are converted where they run; a cancel request
            # can also land on the bookkeeping around them.
            if not watch.cancelled:
                raise DatabaseError(f"the comparison stopped: {error}") from None
            cancelled = True
    elapsed_s = time.perf_counter() - started
    return _build(measurement, min_effect, cancelled=cancelled, elapsed_s=elapsed_s)


# -- measuring -------------------------------------------------------------------------------


@dataclass
class _Prepared:
    """One side's statement, checked and bound, and what its runs produced."""

    label: str
    sql: str
    bound: BoundStatement
    statement: Statement
    setup: tuple[str, ...] = ()
    runs: list[Run] = field(default_factory=list)
    digest: RowsDigest | None = None
    error: str | None = None
    relations: set[int] = field(default_factory=set)
    jit_setting: str = ""
    runner: SideRunner | None = None

    @property
    def active_runner(self) -> SideRunner:
        if self.runner is None:  # pragma: no cover - set before any run
            raise RuntimeError("the side has no runner yet")
        return self.runner

    @classmethod
    def make(
        cls,
        label: str,
        sql: str,
        params: Mapping[str, object] | None,
        setup: tuple[str, ...] = (),
    ) -> _Prepared:
        bound = bind_statement(sql, params)
        statement = check(bound.server_text, Mode.EXPLAIN)
        if not (isinstance(statement.node, ast.SelectStmt) or statement.changes_data):
            raise SandboxRefusal(
                statement.kind,
                "compare() measures SELECT, INSERT, UPDATE, DELETE and MERGE only",
                fix="pass the query itself",
            )
        return cls(label, sql, bound, statement, setup)


class _Progress:
    def __init__(self, callback: Callable[[int, int, str], None] | None, total: int) -> None:
        self.callback, self.total, self.done = callback, total, 0

    def step(self, stage: str, count: int = 1) -> None:
        self.done = min(self.done + count, self.total)
        if self.callback is not None:
            self.callback(self.done, self.total, stage)


@dataclass
class _Measurement:
    db: Database
    before: _Prepared
    after: _Prepared
    setups: tuple[str, ...]
    runs: int
    warmup: int
    timeout_ms: int
    jit: bool | None
    progress: _Progress
    order: str = ""

    def run(self, watch: StatementWatch) -> None:
        db = self.db
        for side in (self.before, self.after):
            side.runner = SideRunner(
                side.statement,
                side.bound,
                explain_options=explain_options(db.server_version_num, analyze=True),
                timeout_ms=self.timeout_ms,
                watch=watch,
            )
        writes = self.before.statement.changes_data
        with db.borrowed(_BEFORE_KEY, db.connect) as before_connection:
            if not self.setups:
                either_writes = writes or self.after.statement.changes_data
                with (
                    db.borrowed(_AFTER_KEY, db.connect) as after_connection,
                    self._scope(before_connection, writes=either_writes) as first,
                    self._scope(after_connection, writes=either_writes) as second,
                ):
                    self._validate(self.before, first)
                    self._validate(self.after, second)
                    self.order = _ORDER_SWAPPED
                    self._interleave(first, second, swap=True)
                return
            with self._scope(before_connection, writes=writes) as first:
                self._validate(self.before, first)
            with self._what_if(watch) as second:
                self._validate(self.after, second)
                held = second.held_locks()
                blocking = locks_conflict(held, self.before.relations, writes=writes)
                if not blocking:
                    with self._scope(before_connection, writes=writes) as first:
                        self.order = _ORDER_INTERLEAVED
                        self._interleave(first, second, swap=False)
                    return
            self.order = (
                "sequential: all before runs, then all after runs (the setup locks "
                f"{_relation_names(before_connection, blocking)} against the before side's "
                f"{'writes' if writes else 'reads'}, so the sides could not alternate; the "
                "what-if was set up a second time for the after side)"
            )
            with self._scope(before_connection, writes=writes) as first:
                self._one_side(self.before, first)
            with self._what_if(watch) as second:
                self._one_side(self.after, second)

    def _scope(
        self, connection: psycopg.Connection[Any], *, writes: bool, nested: bool = False
    ) -> Scope:
        return Scope(
            connection,
            read_only=not writes,
            timeout_ms=self.timeout_ms,
            jit=self.jit,
            nested=nested,
        )

    @contextmanager
    def _what_if(self, watch: StatementWatch) -> Iterator[Scope]:
        """A fresh what-if holding the setup, as the after side's scope."""
        watch.check()
        with what_if(
            self.db, self.setups, timeout_ms=max(self.timeout_ms, SETUP_TIMEOUT_MS)
        ) as trial:
            # The what-if's own connection, in its open transaction.
            connection: psycopg.Connection[Any] = trial.connection
            with self._scope(connection, writes=True, nested=True) as scope:
                yield scope

    def _validate(self, side: _Prepared, scope: Scope) -> None:
        side.jit_setting = scope.jit_setting
        try:
            side.relations = side.active_runner.validate(scope)
        except TimedOut as error:
            raise QueryError(
                f"planning {side.label} {error}", sql=side.sql, hint="pass a larger timeout_ms"
            ) from None

    def _interleave(self, first: Scope, second: Scope, *, swap: bool) -> None:
        """Alternate the sides; with `swap`, they also trade connections every run."""
        self._digest(self.before, first)
        self._digest(self.after, second)
        scopes = (first, second)
        for index in range(self.warmup + self.runs):
            if swap:
                before_scope, after_scope = scopes[index % 2], scopes[1 - index % 2]
                before_first = (index // 2) % 2 == 0
            else:
                before_scope, after_scope = first, second
                before_first = index % 2 == 0
            steps = [(self.before, before_scope), (self.after, after_scope)]
            for side, scope in steps if before_first else steps[::-1]:
                self._measure(side, scope, index)

    def _one_side(self, side: _Prepared, scope: Scope) -> None:
        self._digest(side, scope)
        for index in range(self.warmup + self.runs):
            self._measure(side, scope, index)

    def _digest(self, side: _Prepared, scope: Scope) -> None:
        side.active_runner.watch.check()
        if side.digest is None and side.error is None:
            try:
                side.digest = side.active_runner.digest(scope)
            except (TimedOut, QueryError) as error:
                self._fail(side, scope, error, remaining=self.warmup + self.runs)
        self.progress.step(f"{side.label}: equivalence check")

    def _measure(self, side: _Prepared, scope: Scope, index: int) -> None:
        if side.error is not None:
            return
        side.active_runner.watch.check()
        try:
            run = side.active_runner.measure(scope)
        except (TimedOut, QueryError) as error:
            self._fail(side, scope, error, remaining=self.warmup + self.runs - index)
            return
        if index >= self.warmup:
            side.runs.append(run)
            stage = f"{side.label}: run {index - self.warmup + 1}/{self.runs}"
        else:
            stage = f"{side.label}: warm-up {index + 1}/{self.warmup}"
        self.progress.step(stage)

    def _fail(self, side: _Prepared, scope: Scope, error: Exception, *, remaining: int) -> None:
        """Record why a side stopped; the other side goes on.

        When the error aborted a transaction the sides share, a fresh one replaces it.
        """
        side.error = f"timed out: {error}" if isinstance(error, TimedOut) else str(error)
        if scope.failed:
            scope.restart()
        self.progress.step(f"{side.label}: failed", remaining)


def _relation_names(connection: psycopg.Connection[Any], oids: list[int]) -> str:
    try:
        with connection.transaction(force_rollback=True):
            rows = connection.execute(
                "SELECT string_agg(oid::regclass::text, ', ' ORDER BY 1) FROM pg_class"
                " WHERE oid = ANY(%s)",
                [oids],
            ).fetchall()
    except psycopg.Error:
        return f"{len(oids)} relation(s)"
    return str(rows[0][0]) if rows and rows[0][0] else f"{len(oids)} relation(s)"


# -- the result ------------------------------------------------------------------------------


def _build(
    measurement: _Measurement, min_effect: float, *, cancelled: bool, elapsed_s: float
) -> Comparison:
    db = measurement.db
    before = _side(measurement.before, db.server_version_num)
    after = _side(measurement.after, db.server_version_num)
    equivalent, equivalence_note = _equivalence(measurement)
    estimate = wall = None
    if len(before.execution_ms) >= MIN_RUNS and len(after.execution_ms) >= MIN_RUNS:
        estimate = estimate_speedup(before.execution_ms, after.execution_ms, min_effect=min_effect)
        wall = estimate_speedup(before.wall_ms, after.wall_ms, min_effect=min_effect)
    if cancelled:
        verdict = CANCELLED
    elif before.error or after.error or estimate is None:
        verdict = FAILED
    elif equivalent is False:
        verdict = DIFFERENT_RESULTS
    elif wall is not None and wall.verdict != estimate.verdict:
        # A speed verdict needs both measurements of the same runs to agree: the server's
        # execution time and what the client waited for.
        verdict = NO_DIFFERENCE
    else:
        verdict = estimate.verdict
    notes = _notes(measurement, estimate, wall, verdict)
    if before.plan is not None and after.plan is not None:
        diff = diff_plans(before.plan, after.plan)
    else:
        missing = [s.label for s in (before, after) if s.plan is None]
        diff = PlanDiff([f"no measured plan for the {' and '.join(missing)} side"])
    return Comparison(
        before=before,
        after=after,
        verdict=verdict,
        speedup=estimate.speedup if estimate else None,
        ci_low=estimate.ci_low if estimate else None,
        ci_high=estimate.ci_high if estimate else None,
        equivalent=equivalent,
        equivalence_note=equivalence_note,
        diff=diff,
        fairness=_fairness(measurement, before, after, elapsed_s),
        runs=measurement.runs,
        warmup=measurement.warmup,
        min_effect=min_effect,
        wall_speedup=wall.speedup if wall else None,
        wall_ci_low=wall.ci_low if wall else None,
        wall_ci_high=wall.ci_high if wall else None,
        notes=notes,
    )


def _side(prepared: _Prepared, server_version_num: int) -> Side:
    runs = prepared.runs
    plan = None
    if runs:
        median_run = sorted(runs, key=lambda r: r.execution_ms)[(len(runs) - 1) // 2]
        plan = parse_plan(
            median_run.explain, sql=prepared.sql, server_version_num=server_version_num
        )
    digest = prepared.digest
    row_count = None
    if digest is not None:
        row_count = digest.count if digest.returns_rows else digest.affected
    return Side(
        label=prepared.label,
        sql=prepared.sql,
        setup=prepared.setup,
        plan=plan,
        execution_ms=[r.execution_ms for r in runs],
        wall_ms=[r.wall_ms for r in runs],
        planning_ms=[r.planning_ms for r in runs if r.planning_ms is not None],
        row_count=row_count,
        error=prepared.error,
        workers=[r.workers_launched for r in runs],
        jit_setting=prepared.jit_setting,
    )


def _equivalence(measurement: _Measurement) -> tuple[bool | None, str]:
    before, after = measurement.before, measurement.after
    if before.digest is None or after.digest is None:
        missing = [s.label for s in (before, after) if s.digest is None]
        return None, f"not checked: the {' and '.join(missing)} side did not run to the end"
    result = compare_results(
        before.digest,
        after.digest,
        before_order=order_keys(before.statement.node),
        after_order=order_keys(after.statement.node),
    )
    return result.equivalent, result.note


def _notes(
    measurement: _Measurement,
    estimate: SpeedupEstimate | None,
    wall: SpeedupEstimate | None,
    verdict: str,
) -> list[str]:
    notes = []
    if not measurement.setups and measurement.before.sql == measurement.after.sql:
        notes.append(
            "A/A test: the same statement on both sides, no setup; expect no significant difference"
        )
    if verdict == DIFFERENT_RESULTS:
        notes.append(
            "The statements do not return the same result: no speed verdict is given for a"
            " rewrite that changes what the query returns."
        )
    if (
        estimate is not None
        and wall is not None
        and verdict in (FASTER, SLOWER, NO_DIFFERENCE)
        and wall.verdict != estimate.verdict
    ):
        notes.append(
            f"The server's execution time says '{estimate.verdict}' but the client's wall"
            f" time says '{wall.verdict}' (speedup {wall.speedup:,.2f}x, 95% CI"
            f" {wall.ci_low:,.2f}x to {wall.ci_high:,.2f}x): a speed verdict needs both."
            " Planning time, moving rows, or a busy machine can make them disagree."
        )
    for side in (measurement.before, measurement.after):
        if _limit_without_order(side.statement.node):
            notes.append(
                f"The {side.label} statement has LIMIT without ORDER BY: which rows come back"
                " may change with the plan."
            )
    return notes


def _limit_without_order(node: ast.Node) -> bool:
    return isinstance(node, ast.SelectStmt) and bool(node.limitCount) and not node.sortClause


def _fairness(
    measurement: _Measurement, before: Side, after: Side, elapsed_s: float
) -> dict[str, Any]:
    db = measurement.db
    jit = measurement.jit
    if jit is None:
        jit_text = f"{before.jit_setting or '?'} (server setting, not changed)"
    else:
        jit_text = f"{'on' if jit else 'off'} (SET LOCAL on both sides)"
    jit_used = [s.label for s in (before, after) if s.plan is not None and s.plan.jit]
    if jit_used:
        jit_text += f"; JIT compiled code on the {' and '.join(jit_used)} side"
    warm = (
        f"warm: one untimed run (the equivalence check) and {measurement.warmup} discarded"
        " warm-up run(s) per side before measuring"
    )
    fairness: dict[str, Any] = {
        "server": f"PostgreSQL {db.server_version}",
        "metric": "speedup from the server's execution time (EXPLAIN ANALYZE, BUFFERS); a"
        " verdict only when the client's wall time of the plain statement agrees",
        "runs": measurement.runs,
        "warmup": measurement.warmup,
        "order": measurement.order,
        "cache": warm,
        "jit": jit_text,
        "parallel workers launched": {
            side.label: _workers_text(side.workers) for side in (before, after)
        },
        "planning": "every run planned afresh (no prepared statements)",
    }
    if measurement.setups:
        fairness["setup"] = (
            "applied to the after side only, in a what-if transaction rolled back at the end;"
            " tables it indexes were ANALYZEd there, the before side uses the committed"
            " statistics"
        )
    if measurement.before.statement.changes_data or measurement.after.statement.changes_data:
        fairness["data changes"] = "every run rolled back (each in its own savepoint)"
    fairness.update(_sizes(db, measurement.before.relations | measurement.after.relations))
    fairness["elapsed"] = f"{elapsed_s:.1f} s"
    return fairness


def _workers_text(workers: list[tuple[int, int]]) -> str:
    if not workers:
        return "no runs"
    planned = max(p for _, p in workers)
    if not planned:
        return "none (no parallel plan)"
    launched = sorted({launched for launched, _ in workers})
    counts = " or ".join(str(n) for n in launched)
    return f"{counts} of {planned} planned"


def _sizes(db: Database, relations: set[int]) -> dict[str, Any]:
    """Database size and the size of every table the statements touch."""
    try:
        with db.borrowed(_BEFORE_KEY, db.connect) as connection:
            connection.read_only = True
            with connection.transaction(force_rollback=True):
                size_row = connection.execute(
                    "SELECT pg_database_size(current_database())"
                ).fetchone()
                tables = connection.execute(
                    "SELECT c.oid::regclass::text, pg_total_relation_size(c.oid), c.reltuples"
                    " FROM pg_class c WHERE c.oid = ANY(%s) AND c.relkind IN ('r', 'm', 'p')"
                    " ORDER BY 1",
                    [sorted(relations)],
                ).fetchall()
    except psycopg.Error:
        return {"data size": "unknown (the server did not answer)"}
    sizes: dict[str, Any] = {"database size": format_bytes(size_row[0]) if size_row else "?"}
    sizes["tables"] = {
        str(name): f"{format_bytes(size)}, ~{format_count(max(tuples, 0))} rows"
        for name, size, tuples in tables
    }
    return sizes


# -- checks and small helpers ----------------------------------------------------------------


def _check_options(runs: int, warmup: int, timeout_ms: int, min_effect: float) -> None:
    if runs < MIN_RUNS:
        raise ConfigurationError(
            f"runs must be {MIN_RUNS} or more, not {runs!r}",
            fix="a confidence interval needs several runs per side (15 is the default)",
        )
    if warmup < 0:
        raise ConfigurationError(f"warmup must be 0 or more, not {warmup!r}")
    if timeout_ms <= 0:
        raise ConfigurationError(f"timeout_ms must be positive, not {timeout_ms!r}")
    if min_effect < 0:
        raise ConfigurationError(f"min_effect must be 0 or more, not {min_effect!r}")


def _setup_texts(setup: str | Sequence[str] | None) -> tuple[str, ...]:
    if setup is None:
        return ()
    texts = (setup,) if isinstance(setup, str) else tuple(setup)
    if not all(isinstance(text, str) for text in texts):
        raise ConfigurationError("setup must be SQL text or a list of SQL texts")
    return tuple(text for text in texts if text.strip())


def _stat(summary: Summary | None, name: str) -> str:
    if summary is None:
        return "-"
    value = summary.iqr if name == "iqr" else float(getattr(summary, name))
    return format_ms(value)


def _median_planning(side: Side) -> str:
    if not side.planning_ms:
        return "-"
    return format_ms(summarize(side.planning_ms).median)


def _flat(value: Any) -> str:
    if isinstance(value, dict):
        return "; ".join(f"{k}: {_flat(v)}" for k, v in value.items()) or "none"
    return str(value)


def _markdown_table(rows: list[tuple[str, str, str]]) -> list[str]:
    def cell(text: str) -> str:
        return text.replace("|", "\\|").replace("\n", " ")

    lines = ["| | before | after |", "| --- | ---: | ---: |"]
    lines += [f"| {cell(a)} | {cell(b)} | {cell(c)} |" for a, b, c in rows]
    return lines


def _fenced(sql: str) -> list[str]:
    fence = "```"
    while fence in sql:
        fence += "`"
    return [f"{fence}sql", sql.strip(), fence]


def _setup_text(comparison: Comparison) -> str:
    return "\n".join(text.strip().rstrip(";") + ";" for text in comparison.after.setup)


def _plans_side_by_side(before: Side, after: Side) -> str:
    columns = []
    for side in (before, after):
        if side.plan is None:
            body = _html.paragraph(f"no plan: {side.error or 'no measured run'}")
        else:
            body = _plan_html(side.plan, f"{side.label} (median run)")
        columns.append(
            f'<div class="nexus-plan-column" style="flex:1 1 0;min-width:320px;overflow:auto">'
            f"{body}</div>"
        )
    return f'<div class="nexus-plans" style="display:flex;gap:12px">{"".join(columns)}</div>'


def _plan_html(plan: Plan, title: str) -> str:
    from ._render import plan_html

    return plan_html(plan, title=title)
