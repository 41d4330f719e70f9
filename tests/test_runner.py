"""`run_notebooks` and `nexus-workbook run`: real kernels, real notebooks written to tmp_path."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from nexus_kernel_helpers._runner import run_notebooks
from nexus_kernel_helpers.errors import ConfigurationError


def write_notebook(path: Path, *cells: tuple[str, str]) -> Path:
    notebook = nbformat.v4.new_notebook()  # type: ignore[no-untyped-call]
    for kind, source in cells:
        make = nbformat.v4.new_markdown_cell if kind == "md" else nbformat.v4.new_code_cell
        notebook.cells.append(make(source))  # type: ignore[no-untyped-call]
    nbformat.write(notebook, path)  # type: ignore[no-untyped-call]
    return path


@pytest.fixture
def notebooks(tmp_path: Path) -> dict[str, Path]:
    folder = tmp_path / "notebooks"
    folder.mkdir()
    (folder / "data.txt").write_text("from the notebook's folder")
    return {
        "passing": write_notebook(
            folder / "passing.ipynb",
            ("md", "# A passing notebook"),
            ("code", "import sys\nprint(sys.executable, end='')"),
            ("code", "open('data.txt').read()"),
        ),
        "failing": write_notebook(
            folder / "failing.ipynb",
            ("md", "# Fails in its fourth cell"),
            ("code", "x = 1"),
            ("md", "next: the bad one"),
            (
                "code",
                "# the bad one\nfrom nexus_kernel_helpers import ConfigurationError\n"
                "raise ConfigurationError(\"scale 'huge' is not a number\", fix='pass 0.01')",
            ),
            ("code", "never_reached = True"),
        ),
    }


@pytest.mark.slow
def test_a_passing_notebook_runs_in_this_interpreter_from_its_folder(
    notebooks: dict[str, Path], tmp_path: Path
) -> None:
    source = notebooks["passing"]
    before = source.read_bytes()
    out = tmp_path / "executed"
    [run] = run_notebooks([source], output_dir=out)
    assert run.ok, run.summary()
    assert run.output == out / "passing.ipynb"
    assert run.summary().startswith("ok   passing.ipynb (2 code cells, ")
    executed = nbformat.read(run.output, as_version=4)  # type: ignore[no-untyped-call]
    first, second = (cell for cell in executed.cells if cell.cell_type == "code")
    assert first.outputs[0]["text"] == sys.executable
    assert second.outputs[0]["data"]["text/plain"] == '"from the notebook\'s folder"'
    assert source.read_bytes() == before  # the source keeps no outputs


@pytest.mark.slow
def test_a_failing_notebook_names_the_cell_and_the_error_on_one_line(
    notebooks: dict[str, Path], tmp_path: Path
) -> None:
    source = notebooks["failing"]
    before = source.read_bytes()
    [run] = run_notebooks([source], output_dir=tmp_path / "out", env={"NEXUS_X": "1"})
    assert not run.ok
    assert run.failure is not None
    assert run.failure.cell_number == 4
    assert run.failure.message == ("ConfigurationError: scale 'huge' is not a number; pass 0.01")
    assert run.summary() == (
        "FAIL failing.ipynb cell 4 ('# the bad one'): "
        "ConfigurationError: scale 'huge' is not a number; pass 0.01"
    )
    # The executed copy shows the error; the cell after it never ran; the source is untouched.
    executed = nbformat.read(run.output, as_version=4)  # type: ignore[no-untyped-call]
    assert executed.cells[3].outputs[0]["output_type"] == "error"
    assert executed.cells[4].outputs == []
    assert source.read_bytes() == before


@pytest.mark.slow
def test_the_command_exits_non_zero_and_runs_every_notebook(
    notebooks: dict[str, Path], tmp_path: Path
) -> None:
    out = tmp_path / "cli-out"
    command = [sys.executable, "-m", "nexus_kernel_helpers.cli", "run"]
    outcome = subprocess.run(
        [*command, str(notebooks["failing"]), str(notebooks["passing"]), "--output-dir", str(out)],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
        env=os.environ.copy(),
    )
    assert outcome.returncode == 1, outcome.stdout + outcome.stderr
    lines = outcome.stdout.splitlines()
    assert lines[0].startswith("FAIL failing.ipynb cell 4 ('# the bad one'): ConfigurationError")
    assert lines[1].startswith("ok   passing.ipynb")
    assert lines[2].startswith("1 of 2 failed in ")
    assert sorted(path.name for path in out.iterdir()) == ["failing.ipynb", "passing.ipynb"]


def test_the_source_folder_is_never_the_output_folder(notebooks: dict[str, Path]) -> None:
    source = notebooks["passing"]
    with pytest.raises(ConfigurationError, match=r"holds the source notebook 'passing\.ipynb'"):
        run_notebooks([source], output_dir=source.parent)


def test_missing_and_non_notebook_paths_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="no notebook at"):
        run_notebooks([tmp_path / "nope.ipynb"], output_dir=tmp_path / "out")
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    with pytest.raises(ConfigurationError, match="is not a notebook"):
        run_notebooks([text], output_dir=tmp_path / "out")
    with pytest.raises(ConfigurationError, match="no notebooks to run"):
        run_notebooks([], output_dir=tmp_path / "out")
