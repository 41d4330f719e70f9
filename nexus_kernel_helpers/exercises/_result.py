"""What the learner sees: a hint, the reference solution, the result of a check."""

from __future__ import annotations

from dataclasses import dataclass
from html import escape
from typing import Any

from ..plans import Plan
from ._checks import Outcome
from ._progress import ProgressEntry
from ._render import box, code_block, inline, mark, muted, text_block
from ._spec import Solution

__all__ = ["CheckResult", "Hint", "ProgressReport", "SolutionView"]


@dataclass(frozen=True)
class Hint:
    """Hint `number` of `total` for one exercise."""

    exercise_id: str
    number: int
    total: int
    text: str

    def _title(self) -> str:
        return f"{self.exercise_id} · hint {self.number} of {self.total}"

    def _footer(self) -> str:
        if self.number < self.total:
            return "ask again for the next hint"
        return "that was the last hint; .solution() shows the reference solution"

    def _repr_mimebundle_(self, **_: Any) -> dict[str, str]:
        html = box(
            "nx-ex-hint", self._title(), f"<div>{inline(self.text)}</div>" + muted(self._footer())
        )
        text = text_block(self._title(), [self.text, f"({self._footer()})"])
        return {"text/plain": text, "text/html": html}


@dataclass(frozen=True)
class SolutionView:
    """The reference solution of one exercise, shown because it was asked for."""

    exercise_id: str
    title: str
    solution: Solution

    def code(self) -> str:
        """The solution as something to run: statements, setup or the rewritten query."""
        parts = [f"{statement};" for statement in self.solution.statements]
        if self.solution.setup:
            setup = "; ".join(self.solution.setup)
            parts.append(f"-- as a what-if: check(setup={setup!r})")
        if self.solution.answer:
            parts.append(self.solution.answer + ";")
        return "\n".join(parts)

    def _repr_mimebundle_(self, **_: Any) -> dict[str, str]:
        title = f"{self.exercise_id} · reference solution: {self.title}"
        html = box(
            "nx-ex-solution",
            title,
            code_block(self.code()) + f"<div>{inline(self.solution.explanation)}</div>",
        )
        text = text_block(title, [*self.code().splitlines(), "", self.solution.explanation])
        return {"text/plain": text, "text/html": html}


@dataclass(frozen=True)
class CheckResult:
    """Whether the learner's database (or answer) meets every criterion of an exercise.

    True in a boolean context when it passed. `plan` is the plan that was judged.
    """

    exercise_id: str
    title: str
    passed: bool
    outcomes: tuple[tuple[str, Outcome], ...]
    sql: str
    setup: tuple[str, ...]
    plan: Plan
    note: str | None = None

    def __bool__(self) -> bool:
        return self.passed

    def summary(self) -> str:
        """One line: the verdict and the first criterion that failed."""
        if self.passed:
            return f"{self.exercise_id} passed: {self.title}"
        failed = next(
            (f"{name}: {outcome.detail}" for name, outcome in self.outcomes if not outcome.passed),
            self.note or "",
        )
        return f"{self.exercise_id} not yet: {failed}"

    def _verdict(self) -> str:
        return "passed" if self.passed else "not yet"

    def _repr_mimebundle_(self, **_: Any) -> dict[str, str]:
        title = f"{self.exercise_id} · {self.title} — {self._verdict()}"
        rows = "".join(
            f"<li>{mark(outcome.passed)} {escape(name)}"
            f'<div style="margin-left:1.4em">{inline(outcome.detail)}</div></li>'
            for name, outcome in self.outcomes
        )
        body = f'<ul style="list-style:none;padding-left:0;margin:2px 0">{rows}</ul>'
        if self.setup:
            body += muted("checked as a what-if (rolled back) with: " + "; ".join(self.setup))
        if self.note:
            body += muted(self.note)
        body += (
            '<details><summary style="cursor:pointer">plan that was checked</summary>'
            f"{self.plan._repr_html_()}</details>"
        )
        lines = [
            f"{'✓' if outcome.passed else '✗'} {name}: {outcome.detail}"
            for name, outcome in self.outcomes
        ]
        if self.setup:
            lines.append("checked as a what-if with: " + "; ".join(self.setup))
        if self.note:
            lines.append(self.note)
        return {
            "text/plain": text_block(title, lines),
            "text/html": box("nx-ex-check", title, body, status=("✓" if self.passed else "")),
        }


@dataclass(frozen=True)
class ProgressReport:
    """Every exercise with what the progress file says about it."""

    rows: tuple[tuple[str, str, ProgressEntry | None], ...]

    @property
    def done(self) -> int:
        """How many exercises passed at least once."""
        return sum(1 for _, _, entry in self.rows if entry is not None and entry.passed)

    def _status(self, entry: ProgressEntry | None) -> str:
        if entry is None:
            return "not started"
        if entry.passed:
            return f"done ({entry.first_passed_at})"
        return f"tried {entry.attempts}x, not yet"

    def _title(self) -> str:
        return f"Progress: {self.done} of {len(self.rows)} exercises done"

    def _repr_mimebundle_(self, **_: Any) -> dict[str, str]:
        from .. import _html

        table_rows = [
            (("✓ " if entry is not None and entry.passed else "") + exercise_id, title,
             self._status(entry), entry.attempts if entry is not None else 0)
            for exercise_id, title, entry in self.rows
        ]  # fmt: skip
        columns = ("exercise", "title", "status", "checks")
        html = box("nx-ex-progress", self._title(), _html.table(columns, table_rows))
        text = self._title() + "\n" + _html.text_table(columns, table_rows)
        return {"text/plain": text, "text/html": html}
