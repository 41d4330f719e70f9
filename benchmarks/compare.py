"""Compare benchmark: what the measuring harness adds to each run, and the bootstrap's cost.

Usage: .venv/bin/python benchmarks/compare.py [--runs 30] [--repeat 3]
Writes benchmarks/results/compare.json and prints a table.

For a trivial statement (`SELECT 1`) and a 10 ms one (`SELECT pg_sleep(0.01)`), an A/A
`compare()` runs on a fresh embedded server, and per measured run:

- harness per run: the time between two progress calls (one side's run: EXPLAIN ANALYZE, the
  plain statement with its rows streamed, and the bookkeeping around them) minus what the
  server reports for the two executions (2 x "Execution Time"). Goal: <= 1 ms.
- baseline: the same two statements in a bare psycopg loop on one connection (no
  transaction bookkeeping, no streaming, no checks): the floor any harness stands on. The
  harness's own share is "per run" minus this baseline, measured in the same run.
- wall - server: the client's wall time of the plain statement minus the server's execution
  time: what the client-side number carries besides execution (round trip, planning, rows).

Medians over `--repeat` comparisons of `--runs` runs per side. The bootstrap (2,000
resamples) is timed on 2 x 15 and 2 x 50 samples (goal < 50 ms for 2 x 50).
"""

from __future__ import annotations

import argparse
import itertools
import json
import random
import statistics
import tempfile
import time
from pathlib import Path

import nexus_kernel_helpers as nx
from nexus_kernel_helpers.plans._compare import compare
from nexus_kernel_helpers.plans._stats import estimate_speedup
from nexus_kernel_helpers.sandbox import explain_options

RESULTS = Path(__file__).resolve().parent / "results"
QUERIES = {"trivial (SELECT 1)": "select 1", "10 ms (pg_sleep(0.01))": "select pg_sleep(0.01)"}


def harness_overhead(db: nx.Database, sql: str, runs: int) -> dict[str, float]:
    """One A/A comparison: per-run harness time and wall-minus-server time (medians, ms)."""
    stamps: list[tuple[float, str]] = []

    def progress(done: int, total: int, stage: str) -> None:
        stamps.append((time.perf_counter(), stage))

    started = time.perf_counter()
    result = compare(db, sql, runs=runs, warmup=2, progress=progress)
    elapsed = time.perf_counter() - started
    # Steps between consecutive measured runs (after the warm-up ones).
    steps = [
        (later - earlier) * 1000
        for (earlier, _), (later, stage) in itertools.pairwise(stamps)
        if ": run " in stage
    ]
    executions = result.before.execution_ms + result.after.execution_ms
    walls = result.before.wall_ms + result.after.wall_ms
    server = statistics.median(executions)
    return {
        "per_run_ms": statistics.median(steps),
        "server_execution_ms": server,
        "harness_per_run_ms": statistics.median(steps) - 2 * server,
        "wall_minus_server_ms": statistics.median(
            wall - execution for wall, execution in zip(walls, executions, strict=True)
        ),
        "compare_total_s": elapsed,
    }


def baseline_pair_ms(db: nx.Database, sql: str, runs: int) -> float:
    """Median time of EXPLAIN ANALYZE plus the plain statement in a bare psycopg loop."""
    explain = f"EXPLAIN ({explain_options(db.server_version_num, analyze=True)}) {sql}"
    pairs = []
    with db.connect() as connection:
        cursor = connection.cursor()
        for _ in range(runs + 2):
            started = time.perf_counter()
            cursor.execute(explain, binary=True, prepare=False)
            cursor.fetchall()
            cursor.execute(sql, binary=True, prepare=False)
            cursor.fetchall()
            pairs.append((time.perf_counter() - started) * 1000)
        connection.rollback()
    return statistics.median(pairs[2:])


def bootstrap_ms(count: int, repeat: int = 5) -> float:
    rng = random.Random(1)  # noqa: S311 - benchmark data
    before = [rng.gauss(10, 1) for _ in range(count)]
    after = [rng.gauss(8, 1) for _ in range(count)]
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        estimate_speedup(before, after)
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    report: dict[str, object] = {"runs": args.runs, "repeat": args.repeat}
    with tempfile.TemporaryDirectory(prefix="nexus-bench-data-") as scratch:
        settings = nx.Settings(data_dir=Path(scratch) / "data")
        db = nx.start_database("embedded", reuse=False, make_current=False, settings=settings)
        try:
            report["server"] = f"PostgreSQL {db.server_version}"
            queries = {}
            for name, sql in QUERIES.items():
                samples = []
                for _ in range(args.repeat):
                    figures = harness_overhead(db, sql, args.runs)
                    figures["baseline_pair_ms"] = baseline_pair_ms(db, sql, args.runs)
                    figures["harness_over_baseline_ms"] = (
                        figures["per_run_ms"] - figures["baseline_pair_ms"]
                    )
                    samples.append(figures)
                queries[name] = {
                    key: round(statistics.median(s[key] for s in samples), 3) for key in samples[0]
                }
            report["queries"] = queries
        finally:
            db.stop()
    report["bootstrap_ms"] = {
        "2 x 15": round(bootstrap_ms(15), 1),
        "2 x 50": round(bootstrap_ms(50), 1),
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "compare.json").write_text(json.dumps(report, indent=2))
    columns = {
        "per run": "per_run_ms",
        "2 x server": "server_execution_ms",
        "per run - 2 x server": "harness_per_run_ms",
        "bare loop": "baseline_pair_ms",
        "per run - bare loop": "harness_over_baseline_ms",
        "wall - server": "wall_minus_server_ms",
    }
    print(f"{'query (ms)':<24}" + "".join(f"{title:>22}" for title in columns))
    for name, figures in queries.items():
        values = [
            figures[key] * (2 if title == "2 x server" else 1) for title, key in columns.items()
        ]
        print(f"{name:<24}" + "".join(f"{value:>22.3f}" for value in values))
    print(f"harness per run goal: <= 1 ms; bootstrap (ms): {report['bootstrap_ms']}")


if __name__ == "__main__":
    main()
