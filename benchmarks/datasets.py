"""Dataset benchmark: load, reset and memory against a bare COPY of the same rows.

Usage: .venv/bin/python benchmarks/datasets.py [--scale 0.1] [--resets 5]
Writes benchmarks/results/datasets-<scale>.json and prints the figures.

- load: `db.load_dataset("shop")` on a fresh embedded server: generation into the template,
  keys, indexes, ANALYZE, VACUUM (FREEZE) and the first clone.
- stages: when the last statement of each kind finished, in seconds from the start of the
  load (the generator runs statements in parallel sessions, so kinds overlap), then when the
  generation ended and when the load returned (template frozen and cloned).
- baseline: every table's rows copied out to files, then `COPY ... FROM STDIN` into an empty
  copy of the schema (no keys, no indexes): the practical limit of any loader. Measured in the
  same run, on the same server.
- reset: `db.reset()`, median of several.
- memory: peak RSS of this Python process.
"""

from __future__ import annotations

import argparse
import json
import logging
import resource
import statistics
import tempfile
import time
from pathlib import Path

import nexus_kernel_helpers as nx
from nexus_kernel_helpers.datasets._generate import DATASET_DIR

RESULTS = Path(__file__).resolve().parent / "results"
TABLES = ("tenants", "users", "products", "orders", "order_items", "payments", "events")
# Progress descriptions by the stage they belong to, first match wins.
STAGES = (
    ("schema", ("table ",)),
    ("session setup", ("setting ", "function ")),
    ("rows", ("rows: ",)),
    ("primary keys", ("primary key ",)),
    ("vacuum and ANALYZE", ("freeze", "statistics", "vacuum")),
    ("other indexes", ("unique key ", "index on ")),
    ("foreign keys", ("foreign key ", "checking foreign key ")),
    ("sequences", ("id sequences",)),
)


class StageClock(logging.Handler):
    """Notes when each progress step of the load finished (the loader logs one line a step)."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.started = time.perf_counter()
        self.finished: dict[str, float] = {}

    def emit(self, record: logging.LogRecord) -> None:
        _, stage, _, _ = record.args if isinstance(record.args, tuple) else ("", "", 0, 0)
        group = next(
            (name for name, prefixes in STAGES if str(stage).startswith(prefixes)), "other"
        )
        self.finished[group] = time.perf_counter() - self.started

    def report(self, loaded_at: float) -> dict[str, float]:
        ended = max(self.finished.values(), default=0.0)
        timeline = {name: round(self.finished[name], 2) for name, _ in STAGES if name in self}
        return {**timeline, "generated": round(ended, 2), "loaded": round(loaded_at, 2)}

    def __contains__(self, name: object) -> bool:
        return name in self.finished


def copy_baseline_ms(db: nx.Database, scratch: Path) -> tuple[float, int]:
    """Copy every table out, then time COPY FROM STDIN into bare tables; return ms and rows."""
    for table in TABLES:
        with (
            db.connect() as conn,
            conn.cursor().copy(f"COPY {table} TO STDOUT") as copy,
            (scratch / table).open("wb") as out,
        ):
            for chunk in copy:
                out.write(chunk)
    db.query("create schema bare")
    db.query("set search_path = bare")
    db.query((DATASET_DIR / "shop" / "schema.sql").read_text())
    rows = 0
    started = time.perf_counter()
    with db.connect() as conn:
        conn.execute("set search_path = bare")
        for table in TABLES:
            with (
                conn.cursor().copy(f"COPY {table} FROM STDIN") as copy,
                (scratch / table).open("rb") as source,
            ):
                while chunk := source.read(1 << 20):
                    rows += chunk.count(b"\n")
                    copy.write(chunk)
        conn.commit()
    elapsed = (time.perf_counter() - started) * 1000
    db.query("drop schema bare cascade")
    db.query("set search_path = public")
    return elapsed, rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scale", type=float, default=0.1)
    parser.add_argument("--resets", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="nexus-bench-data-") as scratch:
        settings = nx.Settings(data_dir=Path(scratch) / "data")
        db = nx.start_database("embedded", reuse=False, settings=settings)
        clock = StageClock()
        progress_log = logging.getLogger("nexus_kernel_helpers.datasets._progress")
        progress_log.addHandler(clock)
        progress_log.setLevel(logging.INFO)
        started = clock.started = time.perf_counter()
        db.load_dataset("shop", scale=args.scale)
        load_ms = (time.perf_counter() - started) * 1000
        progress_log.removeHandler(clock)
        try:
            resets = [db.reset() for _ in range(args.resets)]
            baseline_ms, rows = copy_baseline_ms(db, Path(scratch))
        finally:
            db.stop()
    report = {
        "scale": args.scale,
        "rows": rows,
        "load_ms": round(load_ms),
        "load_rows_per_s": round(rows / load_ms * 1000),
        "copy_baseline_ms": round(baseline_ms),
        "load_over_copy": round(load_ms / baseline_ms, 2),
        "stages_s": clock.report(load_ms / 1000),
        "reset_ms_median": round(statistics.median(resets)),
        "reload_over_reset": round(load_ms / statistics.median(resets), 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"datasets-{args.scale:g}.json").write_text(json.dumps(report, indent=2))
    for name, value in report.items():
        print(f"{name:<20} {value}")


if __name__ == "__main__":
    main()
