"""Every notebook in notebooks/ runs headless, top to bottom, on a fresh kernel without errors."""

from __future__ import annotations

import html
import sys
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from .support import REPO

NOTEBOOKS_DIR = REPO / "notebooks"
NOTEBOOKS = sorted(path.name for path in NOTEBOOKS_DIR.glob("*.ipynb"))
HOSTILE = "x'); drop table users; --"


def test_the_quickstart_is_among_the_notebooks() -> None:
    assert "00_quickstart.ipynb" in NOTEBOOKS


@pytest.mark.slow
@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_runs_without_errors(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The kernel inherits this environment; Jupyter's and IPython's files go to tmp_path.
    monkeypatch.setenv("NEXUS_PG_BACKEND", "embedded")
    for variable in ("JUPYTER_CONFIG_DIR", "JUPYTER_DATA_DIR", "JUPYTER_RUNTIME_DIR", "IPYTHONDIR"):
        monkeypatch.setenv(variable, str(tmp_path / variable.lower()))
    # The executed notebook stays in memory: notebooks/ is committed without outputs.
    nb = nbformat.read(NOTEBOOKS_DIR / name, as_version=4)  # type: ignore[no-untyped-call]
    check_python = "import sys; print(sys.executable, end='')"
    nb.cells.append(nbformat.v4.new_code_cell(check_python))  # type: ignore[no-untyped-call]
    client = NotebookClient(
        nb,
        kernel_name="python3",
        timeout=120,
        resources={"metadata": {"path": str(NOTEBOOKS_DIR)}},
    )
    try:
        client.execute()
    except CellExecutionError as error:
        pytest.fail(f"{name} failed:\n{error}")

    code_cells = [cell for cell in nb.cells if cell.cell_type == "code"]
    for cell in code_cells:
        errors = [output for output in cell.outputs if output.output_type == "error"]
        assert not errors, f"{name}: cell {cell.source!r} raised {errors}"
    # The kernel "python3" must be this interpreter, the one the workbook is installed in.
    assert code_cells[-1].outputs[0]["text"] == sys.executable
    if name == "00_quickstart.ipynb":
        check_quickstart(code_cells)


def html_of(cell: Any) -> str:
    """The text/html of the cell's execute_result."""
    results = [output for output in cell.outputs if output.output_type == "execute_result"]
    assert len(results) == 1, f"no single result for {cell.source!r}: {cell.outputs}"
    return str(results[0]["data"]["text/html"])


def check_quickstart(code_cells: list[Any]) -> None:
    def cell_with(text: str) -> Any:
        return next(cell for cell in code_cells if text in cell.source)

    assert "PostgreSQL 18" in html_of(cell_with("select version()"))
    table = html_of(cell_with(":hostile"))
    assert table.count(f">{html.escape(HOSTILE)}</td>") == 5
    assert HOSTILE not in table  # escaped, not pasted raw into the HTML
    assert "showing 5 of 5 rows" in table
