"""Exercises that check themselves against the live database.

    ex = nx.exercise("02.1")      # task card; ex.panel() adds hint/check/solution buttons
    ex.hint()                      # progressive hints
    ex.check()                     # judged by the live plan: index used, rows, buffers, ...
    ex.check(answer=sql)           # for rewrites: the same results are required too
    ex.solution()                  # the reference, hidden until asked
    nx.progress()                  # what is done (kept in NEXUS_DATA_DIR/progress.json)

Instructors: `nexus-workbook exercises list|show ID|verify`, or `verify_exercises(db, specs)`.
"""

from __future__ import annotations

from ..config import Settings
from ._catalog import CATALOG
from ._checks import CheckContext, Criterion, IndexInfo, Outcome
from ._exercise import Exercise, run_check
from ._progress import ProgressEntry, ProgressStore, default_store
from ._result import CheckResult, Hint, ProgressReport, SolutionView
from ._spec import ExerciseSpec, Solution
from ._verify import Verification, verify_exercises

__all__ = [
    "CheckContext",
    "CheckResult",
    "Criterion",
    "Exercise",
    "ExerciseSpec",
    "Hint",
    "IndexInfo",
    "Outcome",
    "ProgressEntry",
    "ProgressReport",
    "ProgressStore",
    "Solution",
    "SolutionView",
    "Verification",
    "all_exercises",
    "default_store",
    "exercise",
    "exercise_spec",
    "progress",
    "run_check",
    "verify_exercises",
]


def exercise_spec(exercise_id: str) -> ExerciseSpec:
    """The definition of exercise `exercise_id` (e.g. "02.3")."""
    for spec in CATALOG:
        if spec.id == exercise_id:
            return spec
    from ..errors import ConfigurationError

    known = ", ".join(spec.id for spec in CATALOG)
    raise ConfigurationError(f"no exercise {exercise_id!r}", fix=f"choose one of: {known}")


def exercise(exercise_id: str, *, progress: ProgressStore | None = None) -> Exercise:
    """Exercise `exercise_id` (e.g. "02.3"), ready to show, hint and check.

    Checks are recorded in `progress` (default: the progress file of NEXUS_DATA_DIR).
    """
    return Exercise(exercise_spec(str(exercise_id)), progress=progress)


def all_exercises(notebook: str | None = None) -> list[ExerciseSpec]:
    """Every exercise, or those of one notebook ("02")."""
    return [spec for spec in CATALOG if notebook is None or spec.notebook == notebook]


def progress(
    store: ProgressStore | None = None, *, settings: Settings | None = None
) -> ProgressReport:
    """What is done: every exercise with its checks and when it first passed."""
    entries = (store if store is not None else default_store(settings)).entries()
    return ProgressReport(tuple((spec.id, spec.title, entries.get(spec.id)) for spec in CATALOG))
