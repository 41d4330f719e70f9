"""The notebooks: committed clean, and each one runs headless, top to bottom, on a fresh kernel.

The static checks (valid nbformat, no outputs, a goal and time statement, a reset cell) are
fast. The runs go through `run_notebooks`, the function behind `nexus-workbook run`, against
the embedded PostgreSQL, and then look at what the executed copies show.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import nbformat
import pytest

from nexus_kernel_helpers._runner import NotebookRun, run_notebooks

from .support import REPO

NOTEBOOKS_DIR = REPO / "notebooks"
NOTEBOOKS = sorted(path.name for path in NOTEBOOKS_DIR.glob("*.ipynb"))
WORKBOOK = [
    "00_quickstart.ipynb",
    "01_schema_design.ipynb",
    "02_query_tuning_lab.ipynb",
    "03_n_plus_one.ipynb",
    "04_security_review.ipynb",
    "05_bring_your_own.ipynb",
]


def read(name: str) -> Any:
    return nbformat.read(NOTEBOOKS_DIR / name, as_version=4)  # type: ignore[no-untyped-call]


def test_the_workbook_is_all_there() -> None:
    assert set(WORKBOOK) <= set(NOTEBOOKS)


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_is_valid_and_committed_without_outputs(name: str) -> None:
    notebook = read(name)
    nbformat.validate(notebook)
    assert notebook.nbformat == 4
    assert notebook.metadata.kernelspec.name == "python3"
    assert "widgets" not in notebook.metadata, "saved widget state: clear outputs before committing"
    for number, cell in enumerate(notebook.cells, start=1):
        if cell.cell_type == "code":
            assert cell.outputs == [], f"cell {number} has outputs: clear them before committing"
            assert cell.execution_count is None, f"cell {number} has an execution count"


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_states_its_goal_and_time(name: str) -> None:
    first = read(name).cells[0]
    assert first.cell_type == "markdown"
    assert first.source.startswith(f"# {name[:2]} · ")
    assert "**Goal:**" in first.source
    assert re.search(r"\*\*Time:\*\* [^\n]*\d+ (minutes|seconds)", first.source), (
        "say how long it takes"
    )


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_has_a_reset_cell_under_a_reset_note(name: str) -> None:
    cells = read(name).cells
    resets = [
        index
        for index, cell in enumerate(cells)
        if cell.cell_type == "code"
        and ("reset" in cell.metadata.get("tags", []) or "%nexus_db reset" in cell.source)
    ]
    assert resets, "a code cell tagged 'reset' (or running %nexus_db reset) is missing"
    explained = [i for i in resets if i > 0 and "reset" in cells[i - 1].source.lower()]
    assert explained, "the markdown cell above the reset cell should say what it resets"


# -- executed --------------------------------------------------------------------------------


def outputs(run: NotebookRun) -> list[tuple[str, str]]:
    """(first line of the cell, text of each output) for every output of the executed copy."""
    executed = nbformat.read(run.output, as_version=4)  # type: ignore[no-untyped-call]
    found = []
    for cell in executed.cells:
        if cell.cell_type != "code":
            continue
        head = cell.source.splitlines()[0] if cell.source else ""
        for output in cell.outputs:
            data = output.get("data", {})
            text = data.get("text/markdown") or data.get("text/plain") or output.get("text", "")
            found.append((head, str(text)))
    return found


def texts(run: NotebookRun) -> str:
    return "\n".join(text for _, text in outputs(run))


REPLAYED = "replayed from a transcript, tools re-run live"


def check_replayed_answer(shown: str) -> None:
    """The notebook's Nexus question was answered from its transcript, its tools re-run here."""
    assert REPLAYED in shown
    assert "offline (no model was asked)" not in shown


def check_quickstart(run: NotebookRun) -> None:
    shown = texts(run)
    check_replayed_answer(shown)
    assert "PostgreSQL 18" in shown
    assert "Comparison: FASTER" in shown


def check_schema_design(run: NotebookRun) -> None:
    shown = texts(run)
    check_replayed_answer(shown)
    assert 'violates foreign key constraint "tasks_tenant_id_project_id_fkey"' in shown
    assert "'tasks table after the rollback': None" in shown
    assert "'models and database agree'" in shown
    assert "round trip lossless" in shown


def check_tuning_lab(run: NotebookRun) -> None:
    shown = texts(run)
    verdicts = re.findall(r"^(02\.\d) · .* — (passed|not yet)$", shown, flags=re.MULTILINE)
    # 02.1 is the worked example: not yet, then passed; the others wait for the learner.
    assert verdicts[:2] == [("02.1", "not yet"), ("02.1", "passed")]
    assert [exercise for exercise, _ in verdicts[2:]] == [f"02.{n}" for n in range(2, 10)]
    assert all(verdict == "not yet" for _, verdict in verdicts[2:])
    assert shown.count("Comparison: ") == 9
    assert re.search(r"^Progress: \d+ of 9 exercises done$", shown, flags=re.MULTILINE)


def check_n_plus_one(run: NotebookRun) -> None:
    shown = texts(run)
    assert "Identical responses from all four strategies: **True**" in shown
    rows = dict(
        re.findall(r"^\| (lazy|selectinload|joinedload|one query) \| (\d+) \|", shown, re.M)
    )
    assert set(rows) == {"lazy", "selectinload", "joinedload", "one query"}
    assert int(rows["lazy"]) > 100
    assert (int(rows["selectinload"]), int(rows["joinedload"]), int(rows["one query"])) == (3, 1, 1)


def check_security_review(run: NotebookRun) -> None:
    shown = texts(run)
    check_replayed_answer(shown)
    assert "@example" in shown  # the UNION leak really leaked
    assert "2 statements refused" in shown
    assert "'tenant 1 sees': [(1, " in shown
    assert "'tenant 2 sees': [(2, " in shown
    assert "'no tenant set': []" in shown
    assert 'refused: new row violates row-level security policy for table "orders"' in shown
    assert "'reporting reads e-mails': 'refused: permission denied for table users'" in shown


def check_bring_your_own(run: NotebookRun) -> None:
    shown = texts(run)
    assert "Comparison: FASTER" in shown
    assert "## Measured fix" in shown
    match = re.search(r"Written to `([^`]+)`", shown)
    assert match is not None
    report = Path(match[1]).read_text()
    assert report.startswith("# Query tuning report")
    assert "## Nexus" in report
    assert REPLAYED in report


CHECKS: dict[str, Callable[[NotebookRun], None]] = {
    "00_quickstart.ipynb": check_quickstart,
    "01_schema_design.ipynb": check_schema_design,
    "02_query_tuning_lab.ipynb": check_tuning_lab,
    "03_n_plus_one.ipynb": check_n_plus_one,
    "04_security_review.ipynb": check_security_review,
    "05_bring_your_own.ipynb": check_bring_your_own,
}


@pytest.mark.slow
@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_runs_headless_without_errors(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The kernel inherits this environment: the embedded backend, no API key (the agent
    # answers offline), and Jupyter's and IPython's files under tmp_path.
    monkeypatch.setenv("NEXUS_PG_BACKEND", "embedded")
    for variable in ("JUPYTER_CONFIG_DIR", "JUPYTER_DATA_DIR", "JUPYTER_RUNTIME_DIR", "IPYTHONDIR"):
        monkeypatch.setenv(variable, str(tmp_path / variable.lower()))
    source = NOTEBOOKS_DIR / name
    before = source.read_bytes()
    [run] = run_notebooks([source], output_dir=tmp_path / "executed", timeout_s=300)
    assert run.ok, run.summary()
    assert source.read_bytes() == before
    check = CHECKS.get(name)
    if check is not None:
        check(run)
