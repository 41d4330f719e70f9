"""The `nexus-workbook` command: lab, doctor, bench."""

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
