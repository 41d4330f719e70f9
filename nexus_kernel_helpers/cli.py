"""The `nexus-workbook` command: lab, run, doctor, bench."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from .errors import NexusError

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code."""
    parser = argparse.ArgumentParser(prog="nexus-workbook", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    lab = commands.add_parser("lab", help="open JupyterLab on the workbook's notebooks")
    lab.add_argument("--notebooks", type=Path, default=None, help="folder to open")
    run = commands.add_parser("run", help="execute notebooks headless, each on a fresh kernel")
    run.add_argument("notebooks", nargs="+", type=Path, help="the .ipynb files to execute")
    run.add_argument(
        "--output-dir", type=Path, default=None, help="where executed copies go (build/executed)"
    )
    run.add_argument("--timeout", type=float, default=None, help="seconds allowed per cell (300)")
    run.add_argument("--kernel", default=None, help="kernel name (default: this interpreter)")
    commands.add_parser("doctor", help="check what this machine offers the workbook")
    bench = commands.add_parser("bench", help="measure start-up speed against bare PostgreSQL")
    bench.add_argument("--runs", type=int, default=5, help="runs per measurement (median)")
    bench.add_argument("--docker", action="store_true", help="also measure the Docker backend")
    bench.add_argument("--json", type=Path, default=None, help="also write results here")
    args, extra = parser.parse_known_args(argv)
    if extra and args.command != "lab":
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    try:
        if args.command == "lab":
            return _lab(args.notebooks, extra)
        if args.command == "run":
            return _run(args.notebooks, args.output_dir, args.timeout, args.kernel)
        if args.command == "doctor":
            return _doctor()
        return _bench(args.runs, args.docker, args.json)
    except NexusError as error:
        print(f"nexus-workbook: {error}", file=sys.stderr)  # noqa: T201
        return 2
    except KeyboardInterrupt:
        print("nexus-workbook: interrupted", file=sys.stderr)  # noqa: T201
        return 130


def _lab(notebooks: Path | None, extra: list[str]) -> int:
    """Replace this process with JupyterLab on the notebooks folder.

    The embedded backend is the default there, unless the environment or a `.env` file (in the
    notebooks folder, where kernels start, or here) already chooses a backend or a URL.
    """
    folder = notebooks or (Path("notebooks") if Path("notebooks").is_dir() else Path.cwd())
    if not _chooses_backend([folder / ".env", Path(".env")]):
        os.environ["NEXUS_PG_BACKEND"] = "embedded"
    command = [sys.executable, "-m", "jupyterlab", f"--ServerApp.root_dir={folder.resolve()}"]
    if os.geteuid() == 0 and "--allow-root" not in extra:
        # Workshop containers and JupyterHub images often run as root; Jupyter refuses root
        # unless told, which would make `make lab` fail there with no hint.
        command.append("--allow-root")
    os.execv(sys.executable, command + extra)  # noqa: S606 - our own interpreter and module


def _chooses_backend(env_files: list[Path]) -> bool:
    from .config import read_env_file

    names = {"NEXUS_PG_BACKEND", "NEXUS_DATABASE_URL"}
    if names & set(os.environ):
        return True
    return any(names & set(read_env_file(path)) for path in env_files if path.is_file())


def _run(
    notebooks: list[Path], output_dir: Path | None, timeout_s: float | None, kernel: str | None
) -> int:
    """Execute the notebooks; exit 1 if any cell of any notebook raised."""
    from ._runner import DEFAULT_OUTPUT_DIR, DEFAULT_TIMEOUT_S, run_notebooks

    env = {}
    if not _chooses_backend([Path(".env")]):
        # As in `lab`: no Docker knowledge needed unless the environment asks for it.
        env["NEXUS_PG_BACKEND"] = "embedded"
    out = output_dir or DEFAULT_OUTPUT_DIR
    runs = run_notebooks(
        notebooks,
        output_dir=out,
        timeout_s=timeout_s or DEFAULT_TIMEOUT_S,
        env=env,
        kernel_name=kernel,
    )
    for outcome in runs:
        print(outcome.summary())  # noqa: T201
    failed = sum(not outcome.ok for outcome in runs)
    total = sum(outcome.seconds for outcome in runs)
    verdict = f"{failed} of {len(runs)} failed" if failed else f"all {len(runs)} passed"
    print(f"{verdict} in {total:.1f} s; executed copies in {out}")  # noqa: T201
    return 1 if failed else 0


def _doctor() -> int:
    from .doctor import run_checks

    checks = run_checks()
    for check in checks:
        print(check.line())  # noqa: T201
    return 1 if any(check.required and not check.ok for check in checks) else 0


def _bench(runs: int, docker: bool, json_path: Path | None) -> int:
    from .bench import run_startup_benchmarks

    report = run_startup_benchmarks(runs=runs, docker=docker)
    print(report.text())  # noqa: T201
    if json_path is not None:
        json_path.write_text(report.to_json())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
