"""`Exercise`: a task shown in the notebook, hints on demand, and a check against the live plan.

    ex = nx.exercise("02.1")          # the task and its starting query
    ex.hint()                          # the next hint, one at a time
    ex.check()                         # judge the starting query's plan in the database now
    ex.check(answer=my_sql)            # ... or of a rewritten query (same results required)
    ex.check(setup="SET LOCAL ...")    # ... or as a rolled-back what-if
    ex.solution()                      # the reference, only when asked

The check explains the query through the sandbox (EXPLAIN ANALYZE, rolled back) and applies
the exercise's criteria to the plan: node types, the index used and how it is built, rows
read, buffers touched, temporary files, estimates. A rewritten query must return the same rows
as the starting one. Time is never judged: it varies from run to run and machine to machine.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from .. import sandbox
from ..errors import ConfigurationError, SandboxRefusal
from ..plans import Plan, parse_plan
from ..postgres import Database, QueryResult, current_database
from ._checks import CheckContext, Outcome
from ._progress import ProgressStore, default_store
from ._render import box, code_block, inline, muted, text_block
from ._result import CheckResult, Hint, SolutionView
from ._spec import ExerciseSpec

if TYPE_CHECKING:
    import ipywidgets

__all__ = ["Exercise", "run_check"]

# Rewritten queries are compared with the starting query by a fingerprint computed on the
# server (row count and a sum of row hashes: order-blind, duplicates counted), so big results
# cost no memory here; ordered exercises also compare the rows themselves, up to this many.
MAX_ORDERED_ROWS = 10_000
_FINGERPRINT = (
    "SELECT count(*), coalesce(sum(hashtextextended(answer::text, 0)::numeric), 0)::text\n"
    "FROM (\n{query}\n) AS answer"
)


class Exercise:
    """One exercise as the learner works on it: the task, hints given so far, checks."""

    def __init__(self, spec: ExerciseSpec, *, progress: ProgressStore | None = None) -> None:
        self.spec = spec
        self._progress = progress
        self._hints_shown = 0

    @property
    def id(self) -> str:
        """E.g. "02.3"."""
        return self.spec.id

    @property
    def title(self) -> str:
        """A few words naming the technique."""
        return self.spec.title

    @property
    def query(self) -> str:
        """The starting query, to explain, compare or rewrite."""
        return self.spec.query

    def hint(self, number: int | None = None) -> Hint:
        """The next hint (or hint `number`, counting from 1); hints get more specific."""
        total = len(self.spec.hints)
        if number is None:
            self._hints_shown = min(self._hints_shown + 1, total)
            number = self._hints_shown
        elif not 1 <= number <= total:
            raise ConfigurationError(f"exercise {self.id} has hints 1 to {total}, not {number!r}")
        return Hint(self.id, number, total, self.spec.hints[number - 1])

    def solution(self) -> SolutionView:
        """The reference solution and why it works."""
        return SolutionView(self.id, self.title, self.spec.solution)

    def check(
        self,
        db: Database | None = None,
        answer: str | None = None,
        *,
        setup: str | Sequence[str] | None = None,
        record: bool = True,
    ) -> CheckResult:
        """Judge the live plan of the starting query (or of `answer`) by the exercise's criteria.

        `setup` statements are applied in a rolled-back what-if first. The outcome is added
        to the progress file unless `record` is false.
        """
        if answer is not None:
            _one_query(answer)  # a malformed answer is refused before any database is needed
        result = run_check(self.spec, db or current_database(), answer=answer, setup=setup)
        if record:
            store = self._progress if self._progress is not None else default_store()
            store.record(self.id, passed=result.passed)
        return result

    def solve(self, db: Database | None = None) -> CheckResult:
        """Apply the reference solution to the database for real, then check it (not recorded).

        For instructors and for catching up; `db.reset()` undoes it.
        """
        target = db or current_database()
        apply_solution(self.spec, target)
        solution = self.spec.solution
        return self.check(target, solution.answer, setup=solution.setup or None, record=False)

    def panel(self, db: Database | None = None) -> ipywidgets.Widget:
        """The task with buttons: next hint, check the database now, show the solution."""
        from ._widget import exercise_panel

        return exercise_panel(self, db)

    def _lines(self) -> list[str]:
        kind = "rewrite the query" if self.spec.rewrite else "change the database"
        return [
            self.spec.task,
            "",
            "Starting query:",
            *(f"  {line}" for line in self.query.splitlines()),
            "",
            f"To pass ({kind}), .check() requires:",
            *(f"  - {criterion.description}" for criterion in self.spec.criteria),
            f"{len(self.spec.hints)} hints: .hint(); the reference: .solution()",
        ]

    def html(self) -> str:
        """The task card as HTML."""
        kind = "rewrite the query" if self.spec.rewrite else "change the database"
        criteria = "".join(f"<li>{inline(c.description)}</li>" for c in self.spec.criteria)
        body = (
            f"<div>{inline(self.spec.task)}</div>"
            f"{code_block(self.query)}"
            f"<div>To pass ({inline(kind)}), <code>.check()</code> requires:</div>"
            f'<ul style="margin:2px 0">{criteria}</ul>'
            + muted(
                f"{len(self.spec.hints)} hints: `.hint()` gives the next one; "
                "`.solution()` shows the reference solution"
            )
        )
        return box("nx-ex", f"Exercise {self.id} · {self.title}", body)

    def _repr_mimebundle_(self, **_: Any) -> dict[str, str]:
        return {
            "text/plain": text_block(f"Exercise {self.id} · {self.title}", self._lines()),
            "text/html": self.html(),
        }

    def __repr__(self) -> str:
        return f"<Exercise {self.id} {self.title!r}>"


def apply_solution(spec: ExerciseSpec, db: Database) -> None:
    """Run the reference statements for real, through the sandbox's one permanent door."""
    for statement in spec.solution.statements:
        sandbox.apply(db, statement, confirmed=True)


def run_check(
    spec: ExerciseSpec,
    db: Database,
    *,
    answer: str | None = None,
    setup: str | Sequence[str] | None = None,
) -> CheckResult:
    """Explain the query in `db` (in a what-if when there is a setup) and apply the criteria."""
    sql = _one_query(answer) if answer is not None else spec.query
    setups = _setup_statements(setup)
    compare_results = answer is not None or bool(setups)
    # The starting query's results come from the database as it is, outside any what-if:
    # a setup that deletes rows must not change what the answer is compared with.
    expected = _results(_reader(db), spec.query, spec.ordered) if compare_results else None
    if setups:
        with sandbox.what_if(db, setups) as trial:
            plan = _parse(db, trial.explain(sql))

            def in_trial(text: str, params: Mapping[str, object]) -> QueryResult:
                return trial.query(text, params, max_rows=MAX_ORDERED_ROWS + 1)

            return _judge(
                spec, db, plan=plan, sql=sql, setups=setups, lookup=in_trial, expected=expected
            )
    plan = db.explain(sql)
    return _judge(
        spec, db, plan=plan, sql=sql, setups=setups, lookup=_reader(db), expected=expected
    )


def _judge(
    spec: ExerciseSpec,
    db: Database,
    *,
    plan: Plan,
    sql: str,
    setups: tuple[str, ...],
    lookup: Callable[[str, Mapping[str, object]], QueryResult],
    expected: tuple[str, list[tuple[Any, ...]] | None] | None,
) -> CheckResult:
    context = CheckContext(db=db, plan=plan, sql=sql, lookup=lookup)
    outcomes = [(criterion.description, criterion.evaluate(context)) for criterion in spec.criteria]
    if expected is not None:
        got = _results(lookup, sql, spec.ordered)
        outcomes.append(("same results as the starting query", _same(expected, got)))
    note = None
    if spec.rewrite and sql == spec.query:
        note = "this exercise is solved by rewriting the query: pass yours as check(answer=...)"
    return CheckResult(
        exercise_id=spec.id,
        title=spec.title,
        passed=all(outcome.passed for _, outcome in outcomes),
        outcomes=tuple(outcomes),
        sql=sql,
        setup=setups,
        plan=plan,
        note=note,
    )


def _reader(db: Database) -> Callable[[str, Mapping[str, object]], QueryResult]:
    def read(text: str, params: Mapping[str, object]) -> QueryResult:
        return sandbox.run_readonly(db, text, params, max_rows=MAX_ORDERED_ROWS + 1)

    return read


def _results(
    lookup: Callable[[str, Mapping[str, object]], QueryResult], sql: str, ordered: bool
) -> tuple[str, list[tuple[Any, ...]] | None]:
    """A fingerprint of the rows `sql` returns, and the rows themselves when order matters."""
    count, digest = lookup(_FINGERPRINT.format(query=sql), {}).rows[0]
    rows = None
    if ordered:
        result = lookup(sql, {})
        rows = list(result.rows) if len(result.rows) <= MAX_ORDERED_ROWS else None
    return f"{count}:{digest}", rows


def _same(
    expected: tuple[str, list[tuple[Any, ...]] | None],
    got: tuple[str, list[tuple[Any, ...]] | None],
) -> Outcome:
    expected_rows = int(expected[0].split(":")[0])
    got_rows = int(got[0].split(":")[0])
    if expected[0] != got[0]:
        if expected_rows != got_rows:
            return Outcome(
                False, f"{got_rows:,} rows where the starting query returns {expected_rows:,}"
            )
        return Outcome(False, f"{got_rows:,} rows, as expected, but not the same rows")
    if expected[1] is not None and got[1] is not None and expected[1] != got[1]:
        return Outcome(False, f"the same {got_rows:,} rows, but in another order")
    order = " in the same order" if expected[1] is not None else ""
    return Outcome(True, f"the same {got_rows:,} rows{order}")


def _parse(db: Database, explained: sandbox.ExplainResult) -> Plan:
    return parse_plan(explained.plan, sql=explained.sql, server_version_num=db.server_version_num)


def _one_query(answer: str) -> str:
    """The learner's query as one SELECT, without a trailing semicolon."""
    from pglast import ast, parse_sql
    from pglast.parser import ParseError

    if not isinstance(answer, str) or not answer.strip():
        raise ConfigurationError(
            "the answer is empty", fix="pass your rewritten query as a string: check(answer=sql)"
        )
    try:
        statements = parse_sql(answer)
    except ParseError as error:
        raise ConfigurationError(f"the answer does not parse: {error}") from None
    if len(statements) != 1 or not isinstance(statements[0].stmt, ast.SelectStmt):
        raise SandboxRefusal(
            "answer", "an answer is exactly one SELECT statement", fix="pass one query"
        )
    raw = statements[0]
    start = raw.stmt_location or 0
    end = start + raw.stmt_len if raw.stmt_len else len(answer)
    return answer[start:end].strip()


def _setup_statements(setup: str | Sequence[str] | None) -> tuple[str, ...]:
    """Setup text as statements; a setup of only comments or blanks is no setup."""
    if setup is None:
        return ()
    from pglast import split
    from pglast.parser import ParseError

    texts = [setup] if isinstance(setup, str) else list(setup)
    statements: list[str] = []
    for text in texts:
        try:
            statements.extend(part.strip() for part in split(text, with_parser=True))
        except ParseError as error:
            raise ConfigurationError(f"the setup does not parse: {error}") from None
    return tuple(statement for statement in statements if statement)
