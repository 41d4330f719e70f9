"""Proof that every exercise is fair: its check fails at the start and passes when solved.

For each exercise: reset the database to the fresh dataset, check (must fail), apply the
reference solution, check again (must pass). The database is reset again at the end.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass

from ..errors import ConfigurationError
from ..postgres import Database
from ._exercise import apply_solution, run_check
from ._result import CheckResult
from ._spec import ExerciseSpec

__all__ = ["Verification", "verify_exercises"]


@dataclass(frozen=True)
class Verification:
    """One exercise verified: the check at the start and after the reference solution."""

    spec: ExerciseSpec
    start: CheckResult
    solved: CheckResult
    seconds: float

    @property
    def ok(self) -> bool:
        """The starting state fails and the reference solution passes."""
        return not self.start.passed and self.solved.passed

    def line(self) -> str:
        """One line for a terminal."""
        status = "ok  " if self.ok else "FAIL"
        start = "start fails" if not self.start.passed else "START ALREADY PASSES"
        solved = "reference passes" if self.solved.passed else self.solved.summary()
        return (
            f"{status} {self.spec.id} {self.spec.title}: {start}, {solved} ({self.seconds:.1f} s)"
        )


def verify_exercises(db: Database, specs: Iterable[ExerciseSpec]) -> list[Verification]:
    """Verify each exercise on `db`, which must hold the exercises' dataset (it is reset)."""
    held = db.dataset
    verified: list[Verification] = []
    for spec in specs:
        if held is None or held.name != spec.dataset:
            raise ConfigurationError(
                f"exercise {spec.id} needs the {spec.dataset!r} dataset loaded",
                fix=f"start the database with dataset={spec.dataset!r}",
            )
        started = time.perf_counter()
        db.reset()
        start = run_check(spec, db)
        apply_solution(spec, db)
        solution = spec.solution
        solved = run_check(spec, db, answer=solution.answer, setup=solution.setup or None)
        verified.append(Verification(spec, start, solved, time.perf_counter() - started))
    if verified:
        db.reset()
    return verified
