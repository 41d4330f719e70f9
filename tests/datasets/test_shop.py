"""The shop dataset generated on real servers: shape, keys, determinism across versions."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

import nexus_kernel_helpers as nx
from nexus_kernel_helpers.datasets import _generate
from nexus_kernel_helpers.datasets._generate import (
    DATASET_DIR,
    STAGES,
    Step,
    available_datasets,
    dataset_steps,
    generate,
)
from nexus_kernel_helpers.datasets.shop import rows

SCALE = 0.01
SEED = 42
TABLES = ("tenants", "users", "products", "orders", "order_items", "payments", "events")


@dataclass(frozen=True)
class Loaded:
    conninfo: str
    rows: dict[str, int]
    checksums: dict[str, str]
    progress: list[tuple[str, int, int]]


def conninfo_for(db: nx.Database, database: str) -> str:
    url = db.sqlalchemy_url.set(database=database)
    return url.render_as_string(hide_password=False).replace("+psycopg", "", 1)


def checksums(connection: psycopg.Connection[Any]) -> dict[str, str]:
    """An md5 of every table's rows in primary key order, as text in a fixed format."""
    connection.execute("SET TimeZone = 'UTC'")
    connection.execute("SET DateStyle = 'ISO, YMD'")
    found = {}
    for table in TABLES:
        query = sql.SQL("SELECT md5(string_agg(t::text, E'\\n' ORDER BY t.id)) FROM {} AS t")
        row = connection.execute(query.format(sql.Identifier(table))).fetchone()
        assert row is not None
        found[table] = row[0]
    return found


@contextmanager
def scratch_database(db: nx.Database, database: str) -> Iterator[str]:
    """A new, empty database on `db`'s server, dropped afterwards; yields its conninfo."""
    name = sql.Identifier(database)
    with db.connect(autocommit=True) as admin:
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(name))
        admin.execute(sql.SQL("CREATE DATABASE {}").format(name))
    try:
        yield conninfo_for(db, database)
    finally:
        with db.connect(autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(name))


@contextmanager
def loaded(db: nx.Database, database: str, *, seed: int = SEED) -> Iterator[Loaded]:
    """Generate the shop at SCALE into a new database on `db`'s server."""
    with scratch_database(db, database) as conninfo:
        calls: list[tuple[str, int, int]] = []
        with psycopg.connect(conninfo) as connection:
            rows = generate(
                connection,
                "shop",
                scale=SCALE,
                seed=seed,
                progress=lambda *call: calls.append(call),
            )
            connection.commit()
            sums = checksums(connection)
        yield Loaded(conninfo, rows, sums, calls)


@pytest.fixture(scope="module")
def shop(embedded_db: nx.Database) -> Iterator[Loaded]:
    with loaded(embedded_db, "nexus_test_shop_a") as result:
        yield result


@pytest.fixture
def cursor(shop: Loaded) -> Iterator[psycopg.Cursor[Any]]:
    with psycopg.connect(shop.conninfo, autocommit=True) as connection:
        yield connection.cursor()


def scalar(cursor: psycopg.Cursor[Any], query: str) -> Any:
    row = cursor.execute(query).fetchone()
    assert row is not None
    return row[0]


# -- files and arguments ----------------------------------------------------------------------


def test_shop_is_a_built_in_dataset() -> None:
    assert "shop" in available_datasets()
    assert all((DATASET_DIR / "shop" / file).is_file() for file in STAGES)


def test_statements_keep_their_file_and_line() -> None:
    steps = dataset_steps("shop")
    assert [step.file for step in steps][:1] == ["schema.sql"]
    inserts = [step for step in steps if step.description.startswith("rows: ")]
    assert [step.description for step in inserts] == [
        "rows: tenants",
        "rows: products",
        "rows: events",
        "rows: orders",
        "rows: payments",
        "rows: order_items",
        "rows: users",
    ]
    text = (DATASET_DIR / "shop" / "generate.sql").read_text(encoding="utf-8").splitlines()
    for step in steps:
        if step.file == "generate.sql":
            assert text[step.line - 1].startswith(step.sql.splitlines()[0])
    assert steps[-1].description == "freeze of tenants"


def by_description(steps: list[Step]) -> dict[str, int]:
    return {step.description: index for index, step in enumerate(steps)}


def test_each_statement_waits_only_for_the_tables_it_needs() -> None:
    tasks = [step for step in dataset_steps("shop")[7:] if step.kind != "session"]
    needs = _generate._dependencies(tasks)
    index = by_description(tasks)

    def waits_for(step: str) -> set[str]:
        return {tasks[earlier].description for earlier in needs[index[step]]}

    assert waits_for("rows: tenants") == set()
    assert waits_for("rows: events") == set()
    # The copied orders and their lines read the product prices; users read the orders.
    assert waits_for("rows: orders") == {"rows: products"}
    assert waits_for("rows: order_items") == {"rows: products"}
    assert waits_for("rows: payments") == {"rows: products"}
    assert waits_for("rows: users") == {"rows: orders"}
    assert waits_for("primary key of orders") == {"rows: orders", "rows: users"}
    assert waits_for("vacuum and statistics of events") == {"rows: events", "primary key of events"}
    # A freeze waits for everything before it but the other freezes.
    freeze = waits_for("freeze of users")
    assert "rows: events" in freeze
    assert "checking foreign key order_items → orders" in freeze
    assert not any(step.startswith("freeze") for step in freeze)
    # A validation locks its table and reads the one it points to.
    checking = tasks[index["checking foreign key order_items → orders"]]
    assert (checking.reads, checking.writes) == (frozenset({"orders"}), frozenset({"order_items"}))


def test_statements_it_does_not_know_are_barriers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_dataset(
        tmp_path,
        "tiny",
        schema="CREATE TABLE a (id int);\nCREATE TABLE b (id int);\nCREATE TABLE c (id int);",
        generate=(
            "SET work_mem = '64MB';\n"
            "INSERT INTO a SELECT generate_series(1, 3);\n"
            "DO $$ BEGIN PERFORM 1; END $$;\n"
            "INSERT INTO b SELECT generate_series(1, 3);\n"
            "INSERT INTO c SELECT generate_series(1, 3);"
        ),
        constraints="VACUUM (ANALYZE) b;\nVACUUM (FREEZE) a;",
    )
    monkeypatch.setattr(_generate, "DATASET_DIR", tmp_path)
    steps = [step for step in dataset_steps("tiny") if step.file != "schema.sql"]
    kinds = ["session", "task", "barrier", "task", "task", "task", "vacuum"]
    assert [step.kind for step in steps] == kinds
    # A plain VACUUM waits for its table; VACUUM (FREEZE) for every statement before it.
    assert _generate._dependencies(steps[1:]) == [
        frozenset(),
        {0},
        {1},
        {1},
        {1, 2},
        {0, 1, 2, 3, 4},
    ]


def write_dataset(
    root: Path, name: str, *, schema: str, generate: str, constraints: str = ""
) -> None:
    folder = root / name
    folder.mkdir()
    for file, text in zip(STAGES, (schema, generate, constraints), strict=True):
        (folder / file).write_text(text + "\n", encoding="utf-8")


@pytest.mark.parametrize("scale", [20, 0.0001, 0, -1, float("nan")])
def test_scale_out_of_range_is_refused_before_any_sql(scale: float) -> None:
    class NoConnection:
        def cursor(self) -> None:
            raise AssertionError("no SQL may run")

    with pytest.raises(nx.ConfigurationError, match=r"out of range: use 0\.001 to 10") as caught:
        generate(NoConnection(), "shop", scale=scale, seed=1)  # type: ignore[arg-type]
    if scale == 20:
        assert str(caught.value).startswith("scale 20 is out of range: use 0.001 to 10")


@pytest.mark.parametrize("seed", [2**63, -(2**63) - 1, 1.5, "42", True])
def test_seed_must_be_a_bigint(seed: Any) -> None:
    with pytest.raises(nx.ConfigurationError, match="is not a 64-bit integer"):
        generate(None, "shop", scale=0.01, seed=seed)  # type: ignore[arg-type]


def test_unknown_dataset_lists_the_available_ones() -> None:
    with pytest.raises(nx.ConfigurationError, match=r"no dataset named 'shoes'.*shop"):
        generate(None, "shoes", scale=1, seed=1)  # type: ignore[arg-type]


def test_the_load_is_committed_and_visible_to_other_sessions(embedded_db: nx.Database) -> None:
    with (
        scratch_database(embedded_db, "nexus_test_shop_commit") as conninfo,
        psycopg.connect(conninfo) as connection,
    ):
        rows = generate(connection, "shop", scale=0.001, seed=3)
        assert rows["orders"] == 1_000
        connection.rollback()
        with psycopg.connect(conninfo) as other:
            found = other.execute("SELECT count(*) FROM orders").fetchone()
        assert found == (1_000,)


def test_a_failure_after_the_schema_drops_the_tables_it_made(
    embedded_db: nx.Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_dataset(
        tmp_path,
        "broken",
        schema="CREATE TABLE a (id int);\nCREATE TABLE b (id int);",
        generate="INSERT INTO a SELECT generate_series(1, 3);\n\nINSERT INTO b SELECT 1 / 0;",
    )
    monkeypatch.setattr(_generate, "DATASET_DIR", tmp_path)
    with (
        scratch_database(embedded_db, "nexus_test_shop_broken") as conninfo,
        psycopg.connect(conninfo) as connection,
    ):
        with pytest.raises(nx.DatabaseError) as caught:
            generate(connection, "broken", scale=1, seed=1)
        left = connection.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")
        assert left.fetchone() == (0,)
    assert str(caught.value).startswith(
        "generating 'broken' failed at generate.sql line 3 (rows: b): division by zero"
    )


def test_a_failing_statement_is_named_by_file_and_line(embedded_db: nx.Database) -> None:
    with (
        scratch_database(embedded_db, "nexus_test_shop_clash") as conninfo,
        psycopg.connect(conninfo) as connection,
    ):
        connection.execute("CREATE TABLE orders (id int)")
        with pytest.raises(nx.DatabaseError) as caught:
            generate(connection, "shop", scale=0.001, seed=3)
        connection.rollback()
    message = str(caught.value)
    assert "generating 'shop' failed at schema.sql line" in message
    assert '(table orders): relation "orders" already exists' in message
    assert isinstance(caught.value.__cause__, psycopg.errors.DuplicateTable)


# -- one load at scale 0.01 ---------------------------------------------------------------------


def test_rows_come_in_the_designed_proportions(shop: Loaded, cursor: psycopg.Cursor[Any]) -> None:
    rows = shop.rows
    assert list(rows) == list(TABLES)
    assert rows["tenants"] == 3
    assert rows["users"] == 1_000
    assert rows["products"] == 200
    assert rows["orders"] == 10_000
    assert rows["events"] == 20_000
    assert 2.8 <= rows["order_items"] / rows["orders"] <= 3.2
    assert 0.95 <= rows["payments"] / rows["orders"] <= 1.1
    for table in TABLES:
        assert scalar(cursor, f"SELECT count(*) FROM {table}") == rows[table]


def test_progress_reports_every_statement(shop: Loaded) -> None:
    total = len(dataset_steps("shop"))
    assert [step for _, step, _ in shop.progress] == list(range(1, total + 1))
    assert {steps for _, _, steps in shop.progress} == {total}
    assert "rows: order_items" in [name for name, _, _ in shop.progress]


def test_keys_exist_and_were_validated(cursor: psycopg.Cursor[Any]) -> None:
    constraints = cursor.execute(
        "SELECT conrelid::regclass::text, contype, convalidated, pg_get_constraintdef(oid)"
        " FROM pg_constraint WHERE connamespace = 'public'::regnamespace"
    ).fetchall()
    primary = {table for table, kind, _, _ in constraints if kind == "p"}
    assert primary == set(TABLES)
    foreign = [(table, definition) for table, kind, _, definition in constraints if kind == "f"]
    assert len(foreign) == 10
    assert ("orders", "FOREIGN KEY (user_id) REFERENCES users(id)") in foreign
    assert all(valid for _, kind, valid, _ in constraints if kind in "fc")
    unique = {table for table, kind, _, _ in constraints if kind == "u"}
    assert unique == {"tenants", "users", "products"}


def test_only_starter_indexes_so_tuning_has_something_to_find(cursor: psycopg.Cursor[Any]) -> None:
    indexes = dict(
        cursor.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public'"
        ).fetchall()
    )
    assert "orders_tenant_id_idx" in indexes
    assert len(indexes) == len(TABLES) + 3 + 1  # keys, unique keys, orders(tenant_id)
    leading = {
        definition.split("USING btree (")[1].split(",")[0].rstrip(")")
        for definition in indexes.values()
        if " ON public.order_items " in definition
    }
    assert leading == {"id"}
    for missing in ("ON public.events USING btree (occurred_at", "(user_id)", "gin", "gist"):
        assert not any(missing in definition for definition in indexes.values())


def test_statistics_and_sequences_are_ready(cursor: psycopg.Cursor[Any]) -> None:
    analyzed = cursor.execute(
        "SELECT DISTINCT tablename FROM pg_stats WHERE schemaname = 'public'"
    ).fetchall()
    assert {name for (name,) in analyzed} == set(TABLES)
    cursor.execute("BEGIN")
    new_id = scalar(
        cursor,
        "INSERT INTO tenants (name, slug, plan, currency, region, created_at)"
        " VALUES ('New', 'new', 'free', 'EUR', 'eu', '2026-01-01') RETURNING id",
    )
    cursor.execute("ROLLBACK")
    assert new_id == 4


def test_tenants_users_orders_and_products_agree(cursor: psycopg.Cursor[Any]) -> None:
    mismatches = {
        "order vs user tenant": "SELECT count(*) FROM orders o JOIN users u ON u.id = o.user_id"
        " WHERE o.tenant_id <> u.tenant_id",
        "item product of another tenant": "SELECT count(*) FROM order_items i"
        " JOIN orders o ON o.id = i.order_id JOIN products p ON p.id = i.product_id"
        " WHERE p.tenant_id <> o.tenant_id",
        "payment vs order": "SELECT count(*) FROM payments p JOIN orders o ON o.id = p.order_id"
        " WHERE p.tenant_id <> o.tenant_id OR p.amount <> o.total_amount"
        " OR p.currency <> o.currency",
        "total vs items": "SELECT count(*) FROM orders o JOIN (SELECT order_id,"
        " sum(quantity * unit_price) AS total FROM order_items GROUP BY order_id) i"
        " ON i.order_id = o.id WHERE i.total <> o.total_amount",
        "order before sign-up": "SELECT count(*) FROM orders o JOIN users u ON u.id = o.user_id"
        " WHERE o.created_at < u.created_at",
        "event user of another tenant": "SELECT count(*) FROM events e"
        " JOIN users u ON u.id = e.user_id WHERE u.tenant_id <> e.tenant_id",
        "time out of order": "SELECT count(*) FROM orders WHERE shipped_at < created_at"
        " OR delivered_at < shipped_at OR created_at >= '2026-01-01'",
    }
    found = {name: scalar(cursor, query) for name, query in mismatches.items()}
    assert found == dict.fromkeys(mismatches, 0)


def test_activity_is_skewed(cursor: psycopg.Cursor[Any]) -> None:
    top_share = scalar(
        cursor,
        "SELECT sum(n) FILTER (WHERE rank <= 10)::float / sum(n) FROM"
        " (SELECT count(*) AS n, row_number() OVER (ORDER BY count(*) DESC) AS rank"
        " FROM orders GROUP BY user_id) AS per_user",
    )
    assert top_share >= 0.20  # the top 1 % of 1000 users
    never = scalar(
        cursor,
        "SELECT count(*) FROM users u WHERE NOT EXISTS"
        " (SELECT FROM orders o WHERE o.user_id = u.id)",
    )
    assert 150 <= never <= 450
    by_tenant = [
        n
        for (n,) in cursor.execute(
            "SELECT count(*) FROM orders GROUP BY tenant_id ORDER BY tenant_id"
        )
    ]
    assert by_tenant == sorted(by_tenant, reverse=True)


def test_statuses_are_skewed_and_follow_age(cursor: psycopg.Cursor[Any]) -> None:
    shares = dict(
        cursor.execute(
            "SELECT status, count(*)::float / sum(count(*)) OVER () FROM orders GROUP BY status"
        ).fetchall()
    )
    assert set(shares) == {"pending", "paid", "shipped", "delivered", "cancelled", "refunded"}
    assert shares["delivered"] > 0.8
    assert 0.005 < shares["refunded"] < 0.06
    assert max(shares, key=lambda status: shares[status]) == "delivered"
    pending = cursor.execute(
        "SELECT avg((status = 'pending')::int) FILTER (WHERE created_at >= '2025-12-29'),"
        " avg((status = 'pending')::int) FILTER (WHERE created_at < '2025-12-01') FROM orders"
    ).fetchone()
    assert pending is not None
    recently, before = pending
    assert recently > 20 * before


def test_dates_are_seasonal_and_recent_heavy(cursor: psycopg.Cursor[Any]) -> None:
    per_month = dict(
        cursor.execute(
            "SELECT to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM'), count(*) FROM orders"
            " GROUP BY 1"
        ).fetchall()
    )
    assert len(per_month) == 24
    assert per_month["2025-06"] > 1.3 * per_month["2024-06"]
    assert per_month["2025-12"] > 1.5 * per_month["2025-10"]
    assert per_month["2025-01"] < per_month["2024-12"]
    latest = scalar(cursor, "SELECT max(occurred_at) < '2026-01-01' FROM events")
    assert latest
    in_order = scalar(
        cursor,
        "SELECT bool_and(created_at >= previous) FROM (SELECT created_at,"
        " lag(created_at) OVER (ORDER BY id) AS previous FROM orders) AS sequence",
    )
    assert in_order  # ids follow time, as an identity column's would


def test_nulls_where_real_data_has_them(cursor: psycopg.Cursor[Any]) -> None:
    nulls = cursor.execute(
        "SELECT"
        " (SELECT count(*) FILTER (WHERE shipped_at IS NOT NULL) FROM orders"
        "  WHERE status IN ('pending', 'paid', 'cancelled')),"
        " (SELECT count(*) FILTER (WHERE shipped_at IS NULL) FROM orders"
        "  WHERE status IN ('shipped', 'delivered')),"
        " (SELECT avg((phone IS NULL)::int) FROM users),"
        " (SELECT avg((user_id IS NULL)::int) FROM events),"
        " (SELECT avg((description IS NULL)::int) FROM products),"
        " (SELECT avg((note IS NULL)::int) FROM orders)"
    ).fetchone()
    assert nulls is not None
    shipped_too_early, unshipped, no_phone, anonymous, no_description, no_note = nulls
    assert (shipped_too_early, unshipped) == (0, 0)
    assert 0.3 < no_phone < 0.5
    assert 0.15 < anonymous < 0.35
    assert 0.2 < no_description < 0.4
    assert no_note > 0.9


def test_attributes_and_names_look_like_a_catalogue(cursor: psycopg.Cursor[Any]) -> None:
    keys = dict(
        cursor.execute(
            "SELECT category, array_agg(DISTINCT key ORDER BY key) FROM products,"
            " jsonb_object_keys(attributes) AS key GROUP BY category"
        ).fetchall()
    )
    assert "size" in keys["apparel"]
    assert "warranty_months" in keys["electronics"]
    assert "size" not in keys["electronics"]
    assert scalar(cursor, "SELECT count(DISTINCT name) FROM products") > 150
    assert scalar(cursor, "SELECT count(*) FROM products WHERE name ILIKE '%wireless%'") > 0


# -- determinism ---------------------------------------------------------------------------------


def test_same_seed_same_bytes_other_seed_other_bytes(
    shop: Loaded, embedded_db: nx.Database
) -> None:
    with loaded(embedded_db, "nexus_test_shop_b") as again:
        assert again.checksums == shop.checksums
        assert again.rows == shop.rows
    with loaded(embedded_db, "nexus_test_shop_c", seed=SEED + 1) as other:
        different = [t for t in TABLES if other.checksums[t] != shop.checksums[t]]
        assert different == list(TABLES)


def test_the_chunk_size_of_the_copied_tables_does_not_matter(
    shop: Loaded, embedded_db: nx.Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(rows, "CHUNK_ORDERS", 777)
    monkeypatch.setattr(rows, "CHUNK_EVENTS", 1_001)
    with loaded(embedded_db, "nexus_test_shop_chunks") as chunked:
        assert chunked.checksums == shop.checksums


def test_one_session_or_several_give_the_same_bytes(
    shop: Loaded, embedded_db: nx.Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_generate, "PARALLEL_SESSIONS", 1)
    with loaded(embedded_db, "nexus_test_shop_serial") as serial:
        assert serial.checksums == shop.checksums


def test_rows_lie_in_id_order_and_every_page_is_all_visible(
    cursor: psycopg.Cursor[Any],
) -> None:
    for table in TABLES:
        stats = cursor.execute(
            "SELECT s.correlation, c.relpages, c.relallvisible FROM pg_stats AS s"
            " JOIN pg_class AS c ON c.relname = s.tablename"
            " WHERE s.schemaname = 'public' AND s.tablename = %s AND s.attname = 'id'",
            [table],
        ).fetchone()
        assert stats is not None, table
        correlation, pages, all_visible = stats
        # Each table is one session's stream of rows: its heap is in id order (a short row
        # may fill a gap an earlier page left).
        assert correlation > 0.99, table
        assert pages == all_visible, table


@pytest.mark.docker
def test_postgres_15_generates_the_same_bytes_as_18(
    shop: Loaded, embedded_db: nx.Database, docker_db: nx.Database
) -> None:
    assert embedded_db.server_version.startswith("18")
    assert docker_db.server_version.startswith("15")
    with loaded(docker_db, "nexus_test_shop_pg15") as on_docker:
        assert on_docker.rows == shop.rows
        assert on_docker.checksums == shop.checksums
