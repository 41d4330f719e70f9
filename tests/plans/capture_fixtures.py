"""Capture the golden EXPLAIN fixtures from real servers: PG 15 (Docker) and PG 18 (embedded).

Run from the repository root (not run by pytest; needs Docker and the image
`nexus-postgres-test:15`):

    python -m tests.plans.capture_fixtures            # both versions, every shape
    python -m tests.plans.capture_fixtures pg18       # one version
    python -m tests.plans.capture_fixtures pg15 --shape sort_disk --shape jit

Each server gets the same deterministic schema (`setseed` + `generate_series`, autovacuum off,
explicit VACUUM ANALYZE), then every shape runs once as `EXPLAIN (ANALYZE, BUFFERS, SETTINGS,
VERBOSE, WAL[, SERIALIZE TEXT], FORMAT JSON)` inside a transaction that sets the shape's settings
with `SET LOCAL` semantics and is always rolled back (DML shapes change nothing). The server's
JSON text is written byte for byte to `fixtures/<version>/<shape>.json`; the SQL and settings of
every shape go to `fixtures/shapes.json`, the server facts to `fixtures/<version>/server.json`.

Importable too: tests read `SHAPES` to check that every shape has a fixture per version.
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).resolve().parent / "fixtures"
VERSIONS = ("pg15", "pg18")
DOCKER_IMAGE = "nexus-postgres-test:15"

_log = logging.getLogger("capture_fixtures")

# Planner settings that make a shape appear; parallel plans are kept out of the serial shapes
# so each fixture shows the node it is named for.
SERIAL = {"max_parallel_workers_per_gather": "0"}
PARALLEL = {
    "max_parallel_workers_per_gather": "2",
    "parallel_setup_cost": "0",
    "parallel_tuple_cost": "0",
    "min_parallel_table_scan_size": "0",
    "min_parallel_index_scan_size": "0",
}
NO_HASH_NO_MERGE = {**SERIAL, "enable_hashjoin": "off", "enable_mergejoin": "off"}
BITMAP_ONLY = {
    **SERIAL,
    "enable_seqscan": "off",
    "enable_indexscan": "off",
    "enable_indexonlyscan": "off",
}


@dataclass(frozen=True)
class Shape:
    """One query shape: the SQL to explain and the settings that bring its plan about."""

    name: str
    description: str
    sql: str
    settings: Mapping[str, str] = field(default_factory=dict)
    # Statements run in the same transaction before EXPLAIN (PREPARE for run-time pruning).
    before: tuple[str, ...] = ()
    analyze: bool = True

    def as_json(self) -> dict[str, Any]:
        """The shape as written to shapes.json."""
        return {
            "name": self.name,
            "description": self.description,
            "sql": self.sql,
            "settings": dict(self.settings),
            "before": list(self.before),
            "analyze": self.analyze,
        }


SCHEMA_SQL = """
SET max_parallel_workers_per_gather = 0;
-- Asynchronous commits keep hint bits unset until the WAL is flushed, and then VACUUM cannot
-- mark pages all-visible (no index-only scans): commit synchronously while building.
SET synchronous_commit = on;
SELECT setseed(0.42);

CREATE TABLE customers WITH (autovacuum_enabled = off) AS
SELECT g AS id,
       'customer ' || g AS name,
       (ARRAY['north', 'south', 'east', 'west', 'centre'])[1 + (g % 5)] AS region,
       date '2020-01-01' + (g % 1500) AS created_on
FROM generate_series(1, 10000) AS g;
ALTER TABLE customers ADD PRIMARY KEY (id);
CREATE INDEX customers_region_idx ON customers (region);

CREATE TABLE products WITH (autovacuum_enabled = off) AS
SELECT g AS id, 'product ' || g AS name, 1 + (g % 20) AS category,
       round((1 + random() * 99)::numeric, 2) AS price
FROM generate_series(1, 1000) AS g;
ALTER TABLE products ADD PRIMARY KEY (id);

CREATE TABLE orders WITH (autovacuum_enabled = off) AS
SELECT g::bigint AS id,
       1 + floor(random() * 10000)::int AS customer_id,
       1 + floor(random() ^ 2 * 1000)::int AS product_id,
       (ARRAY['new', 'paid', 'shipped', 'shipped', 'shipped', 'delivered', 'delivered',
              'delivered', 'delivered', 'cancelled'])[1 + floor(random() * 10)::int] AS status,
       round((random() * 1000)::numeric, 2) AS amount,
       timestamp '2024-01-01' + random() * interval '365 days' AS created_at,
       md5(g::text) AS note
FROM generate_series(1, 200000) AS g;
ALTER TABLE orders ADD PRIMARY KEY (id);
ALTER TABLE orders ADD FOREIGN KEY (customer_id) REFERENCES customers (id);
CREATE INDEX orders_customer_id_idx ON orders (customer_id);
CREATE INDEX orders_product_id_idx ON orders (product_id);
CREATE INDEX orders_created_at_idx ON orders (created_at);
CREATE INDEX orders_amount_idx ON orders (amount);

-- Touched only by writes and VACUUM (both through small rings of buffers), so the first scan
-- of it reads most pages from outside shared buffers.
CREATE TABLE orders_archive WITH (autovacuum_enabled = off) AS SELECT * FROM orders;

CREATE TABLE order_notes (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    order_id bigint NOT NULL REFERENCES orders (id),
    body text NOT NULL,
    updated_at timestamp NOT NULL DEFAULT timestamp '2024-06-01'
) WITH (autovacuum_enabled = off);
INSERT INTO order_notes (order_id, body)
SELECT 1 + floor(random() * 199000)::bigint, 'note ' || g FROM generate_series(1, 20000) AS g;

CREATE FUNCTION order_notes_touch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at := NEW.updated_at + interval '1 day';
    RETURN NEW;
END
$$;
CREATE TRIGGER order_notes_touch BEFORE UPDATE ON order_notes
    FOR EACH ROW EXECUTE FUNCTION order_notes_touch();

CREATE TABLE readings WITH (autovacuum_enabled = off) AS
SELECT g AS id, g % 500 AS sensor_id, floor(random() * 1000)::int AS value
FROM generate_series(1, 100000) AS g;
CREATE INDEX readings_sensor_value_idx ON readings (sensor_id, value);

CREATE TABLE readings_dirty WITH (autovacuum_enabled = off) AS SELECT * FROM readings;
CREATE INDEX readings_dirty_sensor_value_idx ON readings_dirty (sensor_id, value);

CREATE TABLE events (
    id bigint NOT NULL,
    day date NOT NULL,
    kind text NOT NULL,
    payload int NOT NULL
) PARTITION BY RANGE (day);
"""

# Monthly partitions of 2024, each with autovacuum off like every other table here.
PARTITIONS_SQL = "\n".join(
    f"CREATE TABLE events_2024_{m:02d} PARTITION OF events "
    f"FOR VALUES FROM ('2024-{m:02d}-01') TO ('{2024 + m // 12}-{m % 12 + 1:02d}-01') "
    "WITH (autovacuum_enabled = off);"
    for m in range(1, 13)
)

LOAD_SQL = """
INSERT INTO events
SELECT g, date '2024-01-01' + (g % 366), (ARRAY['view', 'click', 'buy'])[1 + g % 3],
       floor(random() * 100)::int
FROM generate_series(1, 120000) AS g;
CREATE INDEX events_day_idx ON events (day);
"""

# VACUUM cannot run inside a transaction block: one statement each, in autocommit.
VACUUM_SQL = (
    "VACUUM ANALYZE customers",
    "VACUUM ANALYZE products",
    "VACUUM ANALYZE orders",
    "VACUUM ANALYZE orders_archive",
    "VACUUM ANALYZE order_notes",
    "VACUUM ANALYZE readings",
    "VACUUM ANALYZE readings_dirty",
    "VACUUM ANALYZE events",
    # After the vacuum, so the visibility map is cleared on every page while pg_class still
    # says all-visible: the planner picks an index-only scan that must visit the heap.
    "UPDATE readings_dirty SET value = value + 1 WHERE id % 10 = 0",
)

SHAPES: tuple[Shape, ...] = (
    # First, so the table is read from outside shared buffers at least in part.
    Shape(
        "seq_scan_filter",
        "Seq Scan of a cold table with a selective filter (most rows removed by filter)",
        "SELECT id, amount FROM orders_archive WHERE note LIKE 'ab%'",
        SERIAL,
    ),
    Shape(
        "index_scan",
        "Index Scan using orders_customer_id_idx with an extra filter",
        "SELECT * FROM orders WHERE customer_id = 4242 AND status <> 'cancelled'",
        {**SERIAL, "enable_bitmapscan": "off"},
    ),
    Shape(
        "index_only_scan_heap_fetches",
        "Index Only Scan on a table updated after its last VACUUM: Heap Fetches > 0",
        "SELECT sensor_id, value FROM readings_dirty WHERE sensor_id BETWEEN 10 AND 40",
        {**SERIAL, "enable_bitmapscan": "off"},
    ),
    Shape(
        "index_only_scan_vacuumed",
        "Index Only Scan on a freshly vacuumed table: Heap Fetches = 0",
        "SELECT sensor_id, value FROM readings WHERE sensor_id BETWEEN 10 AND 40",
        {**SERIAL, "enable_bitmapscan": "off"},
    ),
    Shape(
        "bitmap_scan",
        "Bitmap Heap Scan over a Bitmap Index Scan, exact blocks only",
        "SELECT * FROM orders WHERE customer_id BETWEEN 100 AND 300",
        {**SERIAL, "enable_indexscan": "off"},
    ),
    Shape(
        "bitmap_lossy",
        "Bitmap Heap Scan with lossy blocks (work_mem 64kB) and rows removed by index recheck",
        "SELECT sum(amount) FROM orders WHERE created_at BETWEEN '2024-02-01' AND '2024-08-01'",
        {**BITMAP_ONLY, "work_mem": "64kB"},
    ),
    Shape(
        "bitmap_and",
        "BitmapAnd of two Bitmap Index Scans",
        "SELECT * FROM orders WHERE customer_id < 3000 AND product_id = 7",
        BITMAP_ONLY,
    ),
    Shape(
        "bitmap_or",
        "BitmapOr of two Bitmap Index Scans",
        "SELECT * FROM orders WHERE customer_id = 17 OR product_id = 500",
        BITMAP_ONLY,
    ),
    Shape(
        "index_only_scan_loop",
        "Index Only Scan run 20 times inside a Nested Loop: Heap Fetches is a total, not per loop",
        "SELECT r.sensor_id, r.value FROM generate_series(1, 20) AS g "
        "JOIN readings_dirty r ON r.sensor_id = g",
        {**NO_HASH_NO_MERGE, "enable_memoize": "off", "enable_bitmapscan": "off"},
    ),
    Shape(
        "bitmap_lossy_loop",
        "Lossy Bitmap Heap Scan run 4 times: rows removed per loop, heap blocks in total",
        "SELECT sum(o.amount) FROM generate_series(0, 3) AS g JOIN orders o "
        "ON o.customer_id BETWEEN g * 1000 + 1 AND g * 1000 + 1000 AND o.status <> 'new'",
        {
            **NO_HASH_NO_MERGE,
            "enable_memoize": "off",
            "work_mem": "64kB",
            "enable_indexscan": "off",
        },
    ),
    Shape(
        "nested_loop",
        "Nested Loop whose inner Index Scan runs once per outer row (thousands of loops)",
        "SELECT c.id, o.id, o.amount FROM customers c JOIN orders o ON o.customer_id = c.id "
        "WHERE c.id <= 3000",
        {**NO_HASH_NO_MERGE, "enable_memoize": "off"},
    ),
    Shape(
        "hash_join",
        "Hash Join of orders and customers with a Hash node (buckets, batches, memory)",
        "SELECT c.region, o.amount FROM orders o JOIN customers c ON c.id = o.customer_id "
        "WHERE o.status = 'new'",
        SERIAL,
    ),
    Shape(
        "merge_join",
        "Merge Join over two index scans",
        "SELECT c.name, o.id FROM customers c JOIN orders o ON o.customer_id = c.id "
        "WHERE c.id <= 2000",
        {**SERIAL, "enable_hashjoin": "off", "enable_nestloop": "off"},
    ),
    Shape(
        "sort_memory",
        "Sort that fits in work_mem (quicksort, Memory)",
        "SELECT * FROM customers ORDER BY name",
        SERIAL,
    ),
    Shape(
        "sort_disk",
        "Sort that spills (external merge, Disk; temp buffers read and written)",
        "SELECT id, note FROM orders ORDER BY note, id",
        {**SERIAL, "work_mem": "64kB"},
    ),
    Shape(
        "incremental_sort",
        "Incremental Sort on top of an index that gives the leading key",
        "SELECT id, customer_id, amount FROM orders ORDER BY customer_id, amount LIMIT 2000",
        SERIAL,
    ),
    Shape(
        "hash_agg_spill",
        "HashAggregate that spills (work_mem 64kB): Disk Usage, HashAgg Batches",
        "SELECT customer_id, product_id, count(*) FROM orders GROUP BY customer_id, product_id",
        {
            **SERIAL,
            "work_mem": "64kB",
            "enable_sort": "off",
            "enable_incremental_sort": "off",
            "enable_indexscan": "off",
        },
    ),
    Shape(
        "group_agg",
        "GroupAggregate over sorted input",
        "SELECT customer_id, sum(amount) FROM orders GROUP BY customer_id",
        {**SERIAL, "enable_hashagg": "off"},
    ),
    Shape(
        "parallel_seq_scan",
        "Gather over a Parallel Seq Scan with per-worker details",
        "SELECT id, amount FROM orders WHERE note LIKE '%ab%'",
        PARALLEL,
    ),
    Shape(
        "gather_merge",
        "Gather Merge over a Sort of a Parallel Seq Scan",
        "SELECT id, amount FROM orders WHERE note LIKE '%ab%' ORDER BY amount",
        PARALLEL,
    ),
    Shape(
        "parallel_hash_join",
        "Partial/Finalize aggregate over a Parallel Hash Join",
        "SELECT c.region, count(*) FROM orders o JOIN customers c ON c.id = o.customer_id "
        "GROUP BY c.region",
        PARALLEL,
    ),
    Shape(
        "cte_materialized",
        "Materialized CTE scanned twice (CTE Scan x2 over one InitPlan-like CTE subtree)",
        "WITH totals AS MATERIALIZED ("
        "SELECT customer_id, sum(amount) AS total FROM orders GROUP BY customer_id) "
        "SELECT a.customer_id, a.total, b.total FROM totals a "
        "JOIN totals b ON b.customer_id = a.customer_id + 1 WHERE a.total > 12000",
        SERIAL,
    ),
    Shape(
        "initplan",
        "Scalar subquery run once as an InitPlan",
        "SELECT id, amount FROM orders_archive "
        "WHERE amount > (SELECT avg(amount) * 1.99 FROM orders)",
        SERIAL,
    ),
    Shape(
        "subplan_select",
        "Correlated subquery in the SELECT list: SubPlan executed once per outer row",
        "SELECT c.id, (SELECT count(*) FROM orders o WHERE o.customer_id = c.id) AS orders "
        "FROM customers c WHERE c.id <= 2000",
        SERIAL,
    ),
    Shape(
        "subplan_filter",
        "Correlated subquery in the WHERE clause: SubPlan in a Filter",
        "SELECT c.id, c.name FROM customers c WHERE c.id <= 2000 "
        "AND (SELECT sum(o.amount) FROM orders o WHERE o.customer_id = c.id) > 12000",
        SERIAL,
    ),
    Shape(
        "memoize",
        "Nested Loop with a Memoize node caching the inner index lookups",
        "SELECT o.id, p.name FROM orders o JOIN products p ON p.id = o.product_id "
        "WHERE o.id <= 20000",
        {**NO_HASH_NO_MERGE, "enable_memoize": "on"},
    ),
    Shape(
        "limit",
        "Limit that stops its child early",
        "SELECT id, created_at FROM orders WHERE status = 'paid' ORDER BY created_at LIMIT 25",
        SERIAL,
    ),
    Shape(
        "window_function",
        "WindowAgg over a Sort",
        "SELECT customer_id, amount, "
        "row_number() OVER (PARTITION BY customer_id ORDER BY amount DESC) AS rank "
        "FROM orders WHERE customer_id <= 500",
        SERIAL,
    ),
    Shape(
        "union_append",
        "UNION: an Append of two scans under a de-duplicating aggregate",
        "SELECT customer_id FROM orders WHERE amount < 5 "
        "UNION SELECT id FROM customers WHERE region = 'north' AND id <= 3000",
        SERIAL,
    ),
    Shape(
        "insert_returning",
        "INSERT ... SELECT ... RETURNING (rolled back); FK check triggers",
        "INSERT INTO order_notes (order_id, body) "
        "SELECT id, 'bulk note' FROM orders WHERE id <= 2000 RETURNING id, order_id",
        SERIAL,
    ),
    Shape(
        "update_returning",
        "UPDATE ... RETURNING (rolled back); WAL records and bytes",
        "UPDATE orders SET amount = amount + 1 WHERE customer_id <= 50 RETURNING id, amount",
        SERIAL,
    ),
    Shape(
        "delete_returning",
        "DELETE ... RETURNING (rolled back)",
        "DELETE FROM order_notes WHERE id <= 1500 RETURNING id, order_id",
        SERIAL,
    ),
    Shape(
        "partition_plan_time",
        "Partition pruning at plan time: only the partitions matching a constant are planned",
        "SELECT kind, count(*) FROM events WHERE day >= '2024-10-15' GROUP BY kind",
        SERIAL,
    ),
    Shape(
        "partition_run_time",
        "Partition pruning at executor start-up with a generic plan: Subplans Removed",
        "EXECUTE recent_events('2024-11-20')",
        {**SERIAL, "plan_cache_mode": "force_generic_plan"},
        before=(
            "PREPARE recent_events(date) AS "
            "SELECT kind, count(*) FROM events WHERE day >= $1 GROUP BY kind",
        ),
    ),
    Shape(
        "partition_initplan",
        "Run-time pruning by an InitPlan's value: pruned partitions are never executed",
        "SELECT count(*) FROM events "
        "WHERE day = (SELECT max(created_at)::date FROM orders WHERE id <= 100)",
        SERIAL,
    ),
    Shape(
        "jit",
        "JIT forced on (jit_above_cost = 0) where the server has LLVM",
        "SELECT status, sum(amount), avg(amount * 1.1), count(*) FROM orders "
        "WHERE amount > 10 GROUP BY status",
        {
            **SERIAL,
            "jit": "on",
            "jit_above_cost": "0",
            "jit_inline_above_cost": "0",
            "jit_optimize_above_cost": "0",
        },
    ),
    Shape(
        "triggers",
        "UPDATE on a table with a row trigger and a foreign key: Triggers with time and calls",
        "UPDATE order_notes SET order_id = order_id + 1 WHERE id <= 2000",
        SERIAL,
    ),
    Shape(
        "never_executed",
        "Nested Loop whose outer side returns nothing: the inner scan is never executed",
        "SELECT o.id FROM customers c JOIN orders o ON o.customer_id = c.id "
        "WHERE c.name = 'nobody'",
        {**NO_HASH_NO_MERGE, "enable_memoize": "off"},
    ),
    Shape(
        "values_scan",
        "Values Scan joined to a table",
        "SELECT v.region, v.label, count(*) FROM "
        "(VALUES ('north', 'N'), ('south', 'S'), ('east', 'E')) AS v(region, label) "
        "JOIN customers c ON c.region = v.region GROUP BY v.region, v.label",
        SERIAL,
    ),
    Shape(
        "function_scan",
        "Function Scan over generate_series with a filter",
        "SELECT g, g * 2 FROM generate_series(1, 50000) AS g WHERE g % 7 = 0",
        SERIAL,
    ),
    Shape(
        "misestimate",
        "Filter the planner cannot estimate (default 0.5% selectivity, all rows match)",
        "SELECT id FROM orders WHERE amount * 0 = 0 AND customer_id <= 2000",
        {**SERIAL, "enable_bitmapscan": "off", "enable_indexscan": "off"},
    ),
    Shape(
        "plan_only",
        "EXPLAIN without ANALYZE: estimates only, no actual times",
        "SELECT c.region, sum(o.amount) FROM orders o JOIN customers c ON c.id = o.customer_id "
        "GROUP BY c.region",
        SERIAL,
        analyze=False,
    ),
)


def fixture_names() -> list[str]:
    """Every committed plan as "<version>/<shape>", the hand-written pg13/ and future/ too."""
    return sorted(
        f"{path.parent.name}/{path.stem}"
        for path in FIXTURES.glob("*/*.json")
        if path.name != "server.json"
    )


def read_fixture(name: str) -> tuple[str, dict[str, Any]]:
    """The EXPLAIN JSON text of "<version>/<shape>" and its version's server.json."""
    version, _, shape = name.partition("/")
    text = (FIXTURES / version / f"{shape}.json").read_text(encoding="utf-8")
    server = json.loads((FIXTURES / version / "server.json").read_text(encoding="utf-8"))
    return text, server


def explain_options(server_version_num: int, *, analyze: bool) -> str:
    """The EXPLAIN option list used for a server version."""
    if not analyze:
        return "VERBOSE, SETTINGS, FORMAT JSON"
    options = ["ANALYZE", "BUFFERS", "SETTINGS", "VERBOSE", "WAL"]
    if server_version_num >= 170000:
        options.append("SERIALIZE TEXT")
    options.append("FORMAT JSON")
    return ", ".join(options)


def build_schema(connection: Any) -> None:
    """Create and fill the fixture tables on an autocommit connection (about 5 s)."""
    connection.execute(SCHEMA_SQL)
    connection.execute(PARTITIONS_SQL)
    connection.execute(LOAD_SQL)
    for statement in VACUUM_SQL:
        connection.execute(statement)


def capture_shape(connection: Any, shape: Shape, server_version_num: int) -> str:
    """Run one shape's EXPLAIN in a rolled-back transaction and return the server's JSON text."""
    options = explain_options(server_version_num, analyze=shape.analyze)
    with connection.transaction(force_rollback=True):
        for name, value in shape.settings.items():
            connection.execute("SELECT set_config(%s, %s, true)", (name, value))
        for statement in shape.before:
            connection.execute(statement)
        rows = connection.execute(f"EXPLAIN ({options}) {shape.sql}").fetchall()
    # PREPARE is not transactional: drop the statement the rollback left behind.
    if shape.before:
        connection.execute("DEALLOCATE ALL")
    return "\n".join(str(row[0]) for row in rows)


def _check_clean(text: str, secrets: Iterable[str], where: str) -> None:
    for secret in secrets:
        if secret and secret in text:
            raise RuntimeError(f"{where}: the plan contains a host-specific value; not saved")


def capture_version(version: str, shapes: Sequence[Shape]) -> None:
    """Start the server for `version`, build the schema, capture `shapes` into fixtures/."""
    from psycopg.types.string import TextLoader

    import nexus_kernel_helpers as nx

    data_dir = Path(tempfile.mkdtemp(prefix="nexus-fixtures-"))
    settings = nx.Settings(data_dir=data_dir)
    if version == "pg15":
        db = nx.start_database(
            backend="docker", image=DOCKER_IMAGE, make_current=False, settings=settings
        )
    else:
        db = nx.start_database(backend="embedded", make_current=False, settings=settings)
    try:
        env = db.client_env()
        secrets = [env.get("PGPASSWORD", ""), str(data_dir), env.get("PGHOST", "")]
        secrets = [s for s in secrets if s not in ("", "127.0.0.1", "localhost")]
        with db.connect(autocommit=True) as connection:
            connection.prepare_threshold = None  # DEALLOCATE ALL must not hit psycopg's own
            # Keep the server's JSON text exactly: no parse and re-dump of numbers.
            connection.adapters.register_loader("json", TextLoader)
            row = connection.execute(
                "SELECT current_setting('server_version'), "
                "current_setting('server_version_num')::int, pg_jit_available()"
            ).fetchone()
            assert row is not None
            server_version, version_num, jit_available = row
            expected_major = 15 if version == "pg15" else 18
            if version_num // 10000 != expected_major:
                raise RuntimeError(f"{version}: server is {server_version}, not {expected_major}")
            _log.info("%s: PostgreSQL %s, building the schema", version, server_version)
            build_schema(connection)
            out = FIXTURES / version
            out.mkdir(parents=True, exist_ok=True)
            for shape in shapes:
                text = capture_shape(connection, shape, version_num)
                json.loads(text)  # the server's text must be valid JSON
                _check_clean(text, secrets, f"{version}/{shape.name}")
                (out / f"{shape.name}.json").write_text(text + "\n", encoding="utf-8")
                _log.info("%s: %s captured", version, shape.name)
            server = {
                "server_version": server_version,
                "server_version_num": version_num,
                "backend": db.backend,
                "jit_available": jit_available,
                "explain_options": explain_options(version_num, analyze=True),
                "explain_options_without_analyze": explain_options(version_num, analyze=False),
            }
            (out / "server.json").write_text(json.dumps(server, indent=2) + "\n", encoding="utf-8")
    finally:
        db.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


def write_shapes_index() -> None:
    """Write fixtures/shapes.json: the SQL and settings of every shape."""
    FIXTURES.mkdir(parents=True, exist_ok=True)
    index = {
        "schema_sql": "\n".join([SCHEMA_SQL.strip(), PARTITIONS_SQL, LOAD_SQL.strip()]),
        "after_schema": list(VACUUM_SQL),
        "shapes": [shape.as_json() for shape in SHAPES],
    }
    (FIXTURES / "shapes.json").write_text(json.dumps(index, indent=2) + "\n", encoding="utf-8")


def main(argv: Sequence[str] | None = None) -> None:
    """Command line: capture the chosen versions and shapes."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("versions", nargs="*", help=f"any of {', '.join(VERSIONS)} (default: all)")
    parser.add_argument("--shape", action="append", default=[], help="capture only this shape")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    known = {shape.name: shape for shape in SHAPES}
    for version in args.versions:
        if version not in VERSIONS:
            parser.error(f"unknown version {version!r}: use {' or '.join(VERSIONS)}")
    unknown = [name for name in args.shape if name not in known]
    if unknown:
        parser.error(f"unknown shape(s): {', '.join(unknown)}")
    shapes = [known[name] for name in args.shape] if args.shape else list(SHAPES)
    write_shapes_index()
    for version in args.versions or VERSIONS:
        capture_version(version, shapes)


if __name__ == "__main__":
    main()
