"""`nexus-workbook exercises list|show|verify`, run as an instructor runs it."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from nexus_kernel_helpers.exercises import all_exercises, exercise_spec

from ..support import TEST_IMAGE, require_docker


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "nexus_kernel_helpers.cli", "exercises", *args]
    return subprocess.run(
        command, capture_output=True, text=True, timeout=240, check=False, env=os.environ.copy()
    )


def test_list_names_every_exercise() -> None:
    outcome = run_cli("list")
    assert outcome.returncode == 0, outcome.stderr
    lines = outcome.stdout.splitlines()
    assert [line.split()[0] for line in lines] == [spec.id for spec in all_exercises()]
    assert lines[6] == "02.7  OFFSET vs keyset pagination  (rewrite; scale >= 0.01)"


def test_show_keeps_the_solution_back_unless_asked() -> None:
    explanation = exercise_spec("02.3").solution.explanation
    shown = run_cli("show", "02.3")
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.startswith("Exercise 02.3 · Covering index (INCLUDE)\n")
    assert "02.3 · hint 3 of 3" in shown.stdout
    assert "reference solution:" not in shown.stdout
    assert explanation[:50] not in shown.stdout
    with_solution = run_cli("show", "02.3", "--solution")
    assert "02.3 · reference solution: Covering index (INCLUDE)" in with_solution.stdout
    assert "CREATE INDEX orders_user_id_covering_idx ON orders (user_id)" in with_solution.stdout


def test_an_unknown_id_is_one_line_and_exit_code_2() -> None:
    outcome = run_cli("show", "9.9")
    assert outcome.returncode == 2
    assert outcome.stderr.startswith("nexus-workbook: no exercise '9.9'; choose one of: 02.1,")
    assert len(outcome.stderr.strip().splitlines()) == 1


@pytest.mark.slow
def test_verify_starts_a_fresh_server_and_skips_what_the_scale_cannot_show() -> None:
    outcome = run_cli("verify", "02.1", "02.6", "--scale", "0.01")
    assert outcome.returncode == 0, outcome.stdout + outcome.stderr
    lines = outcome.stdout.splitlines()
    assert lines[0] == "skip 02.6 Substring search with pg_trgm: needs scale >= 0.04"
    assert lines[1].startswith("ok   02.1 A missing index: start fails, reference passes (")
    assert lines[2] == "1 of 1 exercises verified"


@pytest.mark.slow
@pytest.mark.docker
def test_verify_holds_on_postgresql_15_in_docker() -> None:
    require_docker()
    outcome = subprocess.run(
        [sys.executable, "-m", "nexus_kernel_helpers.cli", "exercises", "verify", "--backend",
         "docker"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={**os.environ, "NEXUS_PG_IMAGE": TEST_IMAGE},
    )  # fmt: skip
    assert outcome.returncode == 0, outcome.stdout + outcome.stderr
    assert (
        outcome.stdout.splitlines()[-1]
        == f"{len(all_exercises())} of {len(all_exercises())} exercises verified"
    )
