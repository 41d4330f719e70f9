"""Every exercise is fair: its check fails on the fresh dataset and passes on the reference."""

from __future__ import annotations

import pytest

import nexus_kernel_helpers as nx
from nexus_kernel_helpers.exercises import ExerciseSpec, all_exercises, verify_exercises

from .conftest import LAB_SCALE

SPECS = all_exercises()


def test_the_lab_has_at_least_nine_exercises_with_unique_ids() -> None:
    ids = [spec.id for spec in SPECS]
    assert len(ids) >= 9
    assert len(set(ids)) == len(ids)
    assert all(spec.min_scale <= LAB_SCALE for spec in SPECS)


@pytest.mark.parametrize("spec", SPECS, ids=[spec.id for spec in SPECS])
def test_check_fails_at_the_start_and_passes_on_the_reference(
    shop_db: nx.Database, spec: ExerciseSpec
) -> None:
    [verification] = verify_exercises(shop_db, [spec])
    start, solved = verification.start, verification.solved
    assert not start.passed, f"the starting state already passes: {start.summary()}"
    assert solved.passed, f"the reference does not pass: {solved.summary()}"
    # Every criterion is judged on both sides, and the verdict follows from them.
    assert [name for name, _ in start.outcomes][: len(spec.criteria)] == [
        criterion.description for criterion in spec.criteria
    ]
    assert all(outcome.passed for _, outcome in solved.outcomes)
    assert verification.ok
    assert verification.line().startswith(f"ok   {spec.id} ")
    # verify leaves the database as freshly loaded: nothing of the reference stays.
    left = shop_db.query(
        "select count(*) from pg_indexes where schemaname = 'public'"
        " and indexname not like '%pkey' and indexname not like '%key'"
        " and indexname <> 'orders_tenant_id_idx'"
    )
    assert left.scalar() == 0
