"""The progress file: what was checked and passed, kept across kernels, never half-written."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

import nexus_kernel_helpers as nx
from nexus_kernel_helpers.exercises import (
    ProgressStore,
    all_exercises,
    default_store,
    progress,
)


def test_entries_round_trip_and_remember_the_first_pass(tmp_path: Path) -> None:
    path = tmp_path / "progress.json"
    store = ProgressStore(path)
    assert store.entries() == {}
    store.record("02.1", passed=False)
    first = store.record("02.1", passed=True)
    again = ProgressStore(path).record("02.1", passed=False)  # another kernel, same file
    assert (again.attempts, again.passed) == (3, True)
    assert again.first_passed_at == first.first_passed_at
    data = json.loads(path.read_text())
    assert data["version"] == 1
    assert set(data["exercises"]) == {"02.1"}
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".progress-")]


def test_a_damaged_file_is_ignored_and_replaced(tmp_path: Path) -> None:
    path = tmp_path / "progress.json"
    path.write_text("{not json")
    store = ProgressStore(path)
    assert store.entries() == {}
    store.record("02.2", passed=True)
    assert store.entries()["02.2"].passed


def test_memory_store_and_clear(tmp_path: Path) -> None:
    store = ProgressStore(None)
    store.record("02.3", passed=True)
    assert store.entries()["02.3"].attempts == 1
    store.clear()
    assert store.entries() == {}


def test_the_default_store_lives_in_the_data_dir(tmp_path: Path) -> None:
    store = default_store(nx.Settings(data_dir=tmp_path / "data"))
    assert store.path == tmp_path / "data" / "progress.json"
    store.record("02.4", passed=False)
    assert stat.S_ISREG((tmp_path / "data" / "progress.json").stat().st_mode)


def test_the_report_lists_every_exercise_with_its_status(tmp_path: Path) -> None:
    store = ProgressStore(tmp_path / "progress.json")
    store.record("02.1", passed=True)
    store.record("02.2", passed=False)
    report = progress(store)
    assert report.done == 1
    assert [row[0] for row in report.rows] == [spec.id for spec in all_exercises()]
    text = report._repr_mimebundle_()["text/plain"]
    lines = text.splitlines()
    assert lines[0] == f"Progress: 1 of {len(all_exercises())} exercises done"
    assert any(line.startswith("✓ 02.1") and "done (" in line for line in lines)
    assert any(line.startswith("02.2") and "tried 1x, not yet" in line for line in lines)
    assert any(line.startswith("02.3") and "not started" in line for line in lines)
    assert 'class="nx-ex-progress"' in report._repr_mimebundle_()["text/html"]


@pytest.mark.parametrize("bad", ["02.1", "x"])
def test_entries_under_the_wrong_key_are_dropped(tmp_path: Path, bad: str) -> None:
    path = tmp_path / "progress.json"
    entry = {"exercise_id": bad, "attempts": 1, "passed": True}
    path.write_text(json.dumps({"version": 1, "exercises": {"02.9": entry}}))
    assert ProgressStore(path).entries() == {}
