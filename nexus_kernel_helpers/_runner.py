"""Headless notebook execution: each notebook on a fresh kernel, executed copies kept apart.

    runs = run_notebooks(["notebooks/02_query_tuning_lab.ipynb"], output_dir=Path("build/x"))
    failed = [run for run in runs if not run.ok]
    print(failed[0].summary())   # "FAIL 02_query_tuning_lab.ipynb cell 14: QueryError: ..."

The source notebooks are read and never written. The kernel runs *this* interpreter (the one
the workbook is installed in) unless a kernel name is given, starts in the notebook's folder,
and stops at the first cell that raises: an error printed and swallowed would let a broken
notebook pass, so there is no "allow errors" switch.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import ConfigurationError

__all__ = ["DEFAULT_OUTPUT_DIR", "DEFAULT_TIMEOUT_S", "CellFailure", "NotebookRun", "run_notebooks"]

DEFAULT_OUTPUT_DIR = Path("build") / "executed"
DEFAULT_TIMEOUT_S = 300


@dataclass(frozen=True)
class CellFailure:
    """Where and how a notebook stopped.

    `cell_number` counts every cell from 1, markdown included, as a reader counts them down
    the page; `first_line` is the cell's first line of source, to find it at a glance.
    """

    cell_number: int
    error_name: str
    error_value: str
    first_line: str

    @property
    def message(self) -> str:
        """The error on one line: its type and the first line of its message."""
        lines = self.error_value.strip().splitlines()
        return f"{self.error_name}: {lines[0]}" if lines else self.error_name


@dataclass(frozen=True)
class NotebookRun:
    """The outcome of executing one notebook."""

    source: Path
    output: Path
    seconds: float
    code_cells: int
    failure: CellFailure | None = None

    @property
    def ok(self) -> bool:
        """Whether every cell ran without raising."""
        return self.failure is None

    def summary(self) -> str:
        """One line for a terminal or a CI log."""
        if self.failure is None:
            return f"ok   {self.source.name} ({self.code_cells} code cells, {self.seconds:.1f} s)"
        failure = self.failure
        return (
            f"FAIL {self.source.name} cell {failure.cell_number} ({failure.first_line!r}): "
            f"{failure.message}"
        )


def run_notebooks(
    paths: Iterable[str | Path],
    *,
    output_dir: str | Path = DEFAULT_OUTPUT_DIR,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    env: Mapping[str, str] | None = None,
    kernel_name: str | None = None,
) -> list[NotebookRun]:
    """Execute each notebook top to bottom on a fresh kernel; write executed copies.

    `timeout_s` bounds each cell. `env` is added to this process's environment for the
    kernels. `kernel_name` picks an installed kernel; by default the kernel runs this
    interpreter whatever kernels are installed. Every notebook runs even when one fails.
    """
    sources = [Path(path) for path in paths]
    if not sources:
        raise ConfigurationError("no notebooks to run", fix="name one or more .ipynb files")
    out = Path(output_dir)
    _check_paths(sources, out)
    out.mkdir(parents=True, exist_ok=True)
    kernel_env = {**os.environ, **(env or {})}
    return [
        _run_one(source, out / source.name, timeout_s, kernel_env, kernel_name)
        for source in sources
    ]


def _check_paths(sources: list[Path], out: Path) -> None:
    names: dict[str, Path] = {}
    for source in sources:
        if not source.is_file():
            raise ConfigurationError(f"no notebook at {str(source)!r}")
        if source.suffix != ".ipynb":
            raise ConfigurationError(f"{str(source)!r} is not a notebook (.ipynb)")
        if source.resolve().parent == out.resolve():
            raise ConfigurationError(
                f"the output folder {str(out)!r} holds the source notebook {source.name!r}",
                fix="choose another --output-dir: source notebooks are never overwritten",
            )
        if source.name in names:
            raise ConfigurationError(
                f"two notebooks named {source.name!r} ({names[source.name]} and {source})",
                fix="run them in separate calls with different output folders",
            )
        names[source.name] = source


def _run_one(
    source: Path, output: Path, timeout_s: float, env: dict[str, str], kernel_name: str | None
) -> NotebookRun:
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

    notebook = nbformat.read(source, as_version=4)  # type: ignore[no-untyped-call]
    started_cells: list[int] = []
    options: dict[str, Any] = {
        "timeout": timeout_s,
        "resources": {"metadata": {"path": str(source.resolve().parent)}},
        "on_cell_start": lambda cell, cell_index: started_cells.append(cell_index),
    }
    if kernel_name is None:
        options["kernel_manager_class"] = _this_interpreter_kernel_manager()
        options["kernel_name"] = "python3"
    else:
        options["kernel_name"] = kernel_name
    client = NotebookClient(notebook, **options)
    started = time.perf_counter()
    failure: CellFailure | None = None
    try:
        client.execute(env=env)
    except CellTimeoutError:
        failure = _failure(notebook, started_cells, "CellTimeoutError", f"ran over {timeout_s:g} s")
    except DeadKernelError as error:
        failure = _failure(notebook, started_cells, "DeadKernelError", str(error))
    except CellExecutionError as error:
        failure = _failure(notebook, started_cells, error.ename, error.evalue)
    seconds = time.perf_counter() - started
    nbformat.write(notebook, output)  # type: ignore[no-untyped-call]
    code_cells = sum(1 for cell in notebook.cells if cell.cell_type == "code")
    return NotebookRun(source, output, seconds, code_cells, failure)


def _failure(notebook: Any, started: list[int], name: str, value: str) -> CellFailure:
    index = started[-1] if started else 0
    source = notebook.cells[index].source if notebook.cells else ""
    first_line = next((line.strip() for line in source.splitlines() if line.strip()), "")
    return CellFailure(index + 1, name, value, first_line[:60])


def _this_interpreter_kernel_manager() -> type[Any]:
    """A kernel manager whose "python3" is always this interpreter's ipykernel.

    A user-level kernelspec named python3 (pointing at another Python without the workbook)
    would otherwise win, and every notebook would fail at `%load_ext`.
    """
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import AsyncKernelManager
    from traitlets import default

    class ThisInterpreterKernelManager(AsyncKernelManager):
        @default("kernel_spec_manager")
        def _only_the_native_kernel(self) -> KernelSpecManager:
            return KernelSpecManager(kernel_dirs=[], ensure_native_kernel=True)

    return ThisInterpreterKernelManager
