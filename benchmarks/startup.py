"""Start-up benchmark: embedded cold start, reuse and stop against bare initdb + pg_ctl.

Usage: .venv/bin/python benchmarks/startup.py [--runs N] [--docker]
Writes benchmarks/results/startup.json and prints the medians and the overhead ratio.
The same measurement runs as `nexus-workbook bench`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from nexus_kernel_helpers.bench import run_startup_benchmarks

RESULTS = Path(__file__).resolve().parent / "results"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--docker", action="store_true")
    args = parser.parse_args()
    report = run_startup_benchmarks(runs=args.runs, docker=args.docker)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "startup.json").write_text(report.to_json())
    print(report.text())


if __name__ == "__main__":
    main()
