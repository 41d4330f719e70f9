"""The `nexus-workbook` command: lab, run, exercises, class-databases, doctor, bench."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from .errors import NexusError

__all__ = ["main"]

# The scale notebook 02 and the exercise checks are tuned for (see exercises/_catalog.py).
DEFAULT_LAB_SCALE = 0.05


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code."""
    parser = _parser()
    args, extra = parser.parse_known_args(argv)
    if extra and args.command != "lab":
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    commands: dict[str, Callable[[], int]] = {
        "lab": lambda: _lab(args.notebooks, extra),
        "run": lambda: _run(args.notebooks, args.output_dir, args.timeout, args.kernel),
        "exercises": lambda: _exercises(args),
        "class-databases": lambda: _class_databases(args),
        "doctor": _doctor,
        "bench": lambda: _bench(args.runs, args.docker, args.json),
    }
    try:
        return commands[args.command]()
    except NexusError as error:
        print(f"nexus-workbook: {error}", file=sys.stderr)  # noqa: T201
        return 2
    except KeyboardInterrupt:
        print("nexus-workbook: interrupted", file=sys.stderr)  # noqa: T201
        return 130


def _parser() -> argparse.ArgumentParser:
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

    exercises = commands.add_parser("exercises", help="list, show and verify the exercises")
    actions = exercises.add_subparsers(dest="action", required=True)
    actions.add_parser("list", help="every exercise with its title")
    show = actions.add_parser("show", help="one exercise: task, query, criteria and hints")
    show.add_argument("id", help='e.g. "02.3"')
    show.add_argument("--solution", action="store_true", help="also show the reference solution")
    verify = actions.add_parser(
        "verify", help="on a fresh database: each check fails at the start, passes when solved"
    )
    verify.add_argument("ids", nargs="*", help="exercises to verify (default: all)")
    verify.add_argument("--scale", type=float, default=DEFAULT_LAB_SCALE, help="dataset scale")
    verify.add_argument(
        "--backend", choices=["embedded", "docker"], default="embedded", help="fresh server"
    )

    classroom = commands.add_parser(
        "class-databases", help="one database per learner on a shared server, from a template"
    )
    classroom.add_argument("--url", help="admin URL of the server (default NEXUS_DATABASE_URL)")
    classroom.add_argument("--learners", type=int, default=0, help="how many learners")
    classroom.add_argument("--prefix", default="learner", help="names: <prefix>01, <prefix>02, ...")
    classroom.add_argument("--dataset", default="shop", help="dataset every learner starts from")
    classroom.add_argument("--scale", type=float, default=DEFAULT_LAB_SCALE, help="dataset scale")
    classroom.add_argument("--seed", type=int, default=42, help="dataset seed")
    classroom.add_argument(
        "--credentials",
        type=Path,
        default=Path("class-credentials.env"),
        help="file (mode 600) that receives each learner's URL with its password",
    )
    classroom.add_argument("--reset", nargs="+", metavar="NAME", help="re-clone these learners")
    classroom.add_argument("--drop", action="store_true", help="remove every learner database")
    classroom.add_argument(
        "--no-learner-reset",
        action="store_true",
        help="learners get no CREATEDB; they ask you for a fresh copy instead of resetting",
    )

    commands.add_parser("doctor", help="check what this machine offers the workbook")
    bench = commands.add_parser("bench", help="measure start-up speed against bare PostgreSQL")
    bench.add_argument("--runs", type=int, default=5, help="runs per measurement (median)")
    bench.add_argument("--docker", action="store_true", help="also measure the Docker backend")
    bench.add_argument("--json", type=Path, default=None, help="also write results here")
    return parser


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


def _exercises(args: argparse.Namespace) -> int:
    from . import exercises

    if args.action == "list":
        for spec in exercises.all_exercises():
            kind = "rewrite" if spec.rewrite else "database"
            print(f"{spec.id}  {spec.title}  ({kind}; scale >= {spec.min_scale:g})")  # noqa: T201
        return 0
    if args.action == "show":
        exercise = exercises.exercise(args.id, progress=exercises.ProgressStore(None))
        print(exercise._repr_mimebundle_()["text/plain"])  # noqa: T201
        for number in range(1, len(exercise.spec.hints) + 1):
            print("\n" + exercise.hint(number)._repr_mimebundle_()["text/plain"])  # noqa: T201
        if args.solution:
            print("\n" + exercise.solution()._repr_mimebundle_()["text/plain"])  # noqa: T201
        return 0
    return _verify(args.ids, args.scale, args.backend)


def _verify(ids: list[str], scale: float, backend: str) -> int:
    """Verify exercises on a fresh server; exit 1 if any check is unfair."""
    from . import exercises
    from .postgres import start_database

    specs = [exercises.exercise_spec(i) for i in ids] if ids else exercises.all_exercises()
    runnable = [spec for spec in specs if scale >= spec.min_scale]
    for spec in specs:
        if spec not in runnable:
            print(f"skip {spec.id} {spec.title}: needs scale >= {spec.min_scale:g}")  # noqa: T201
    datasets = {spec.dataset for spec in runnable}
    failed = 0
    for dataset in sorted(datasets):
        db = start_database(
            backend,  # type: ignore[arg-type]
            reuse=False,
            make_current=False,
            dataset=dataset,
            scale=scale,
        )
        try:
            chosen = [spec for spec in runnable if spec.dataset == dataset]
            for verification in exercises.verify_exercises(db, chosen):
                print(verification.line())  # noqa: T201
                failed += not verification.ok
        finally:
            db.stop()
    print(f"{len(runnable) - failed} of {len(runnable)} exercises verified")  # noqa: T201
    return 1 if failed else 0


def _class_databases(args: argparse.Namespace) -> int:
    from ._classroom import ClassPlan, drop_class, prepare_class, reset_learners

    plan = ClassPlan(
        url=args.url,
        learners=args.learners,
        prefix=args.prefix,
        dataset=args.dataset,
        scale=args.scale,
        seed=args.seed,
        learner_reset=not args.no_learner_reset,
    )
    if args.drop:
        lines = drop_class(plan)
    elif args.reset:
        lines = reset_learners(plan, args.reset)
    else:
        lines = prepare_class(plan, credentials=args.credentials)
    for line in lines:
        print(line)  # noqa: T201
    return 0


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
