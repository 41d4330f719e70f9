"""What an exercise is: a task on a dataset, its starting query, hints, criteria, a reference."""

from __future__ import annotations

from dataclasses import dataclass

from ._checks import Criterion

__all__ = ["ExerciseSpec", "Solution"]


@dataclass(frozen=True)
class Solution:
    """The reference solution, hidden until asked for.

    `statements` are applied for real (e.g. CREATE INDEX); `setup` is passed to `check()` as
    a rolled-back what-if (settings such as `SET LOCAL work_mem`); `answer` replaces the
    starting query (rewrites). `explanation` says why it works.
    """

    explanation: str
    statements: tuple[str, ...] = ()
    setup: tuple[str, ...] = ()
    answer: str | None = None


@dataclass(frozen=True)
class ExerciseSpec:
    """One self-checking exercise.

    `query` is the starting statement; the check explains it (or the learner's `answer`) in
    the learner's database and applies `criteria` to the plan. `rewrite` exercises are
    solved by changing the query, the others by changing the database. `ordered`: a
    rewritten query must return the same rows in the same order. `min_scale`: below this
    dataset scale the starting plan may already pass (the tables are too small to matter).
    """

    id: str
    title: str
    dataset: str
    task: str
    query: str
    hints: tuple[str, ...]
    criteria: tuple[Criterion, ...]
    solution: Solution
    rewrite: bool = False
    ordered: bool = False
    min_scale: float = 0.01

    @property
    def notebook(self) -> str:
        """The notebook the exercise belongs to, by its number ("02" for "02.3")."""
        return self.id.split(".")[0]
