"""Index candidates: what the SQL and the plan ask of each table, and the indexes that follow."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

import nexus_kernel_helpers as nx
from nexus_kernel_helpers import sandbox
from nexus_kernel_helpers.plans import Plan, parse_plan
from nexus_kernel_helpers.plans._candidates import (
    Catalog,
    ColumnStats,
    ExistingIndex,
    IndexCandidate,
    KeyItem,
    TableCatalog,
    TableReference,
    index_candidates,
    predicates_of,
    quote_identifier,
    read_catalog,
    table_references,
)

FIXTURES = Path(__file__).parent / "fixtures"
SHAPES = {s["name"]: s for s in json.loads((FIXTURES / "shapes.json").read_text())["shapes"]}


def fixture_plan(version: str, name: str) -> Plan:
    return parse_plan((FIXTURES / version / f"{name}.json").read_text(), sql=SHAPES[name]["sql"])


def reference(sql: str, alias: str, columns: dict[str, set[str]] | None = None) -> TableReference:
    def columns_of(relation: str, schema: str | None) -> frozenset[str] | None:
        return frozenset(columns[relation]) if columns and relation in columns else None

    found = {r.alias: r for r in table_references(sql, columns_of)}
    return found[alias]


# -- reading the SQL ---------------------------------------------------------------------------


def test_equality_range_in_like_and_null_predicates_are_told_apart() -> None:
    ref = reference(
        "select o.id from orders o where o.user_id = 42"
        " and o.created_at >= now() - interval '1 day' and o.status in ('paid', 'shipped')"
        " and o.note like 'gift%' and o.channel ilike '%web%'"
        " and o.shipped_at is null and o.total_amount between 10 and 20 and not o.is_test",
        "o",
    )
    kinds = {(p.key, p.kind) for p in ref.predicates}
    assert kinds == {
        ("user_id", "eq"),
        ("created_at", "range"),
        ("status", "in"),
        ("note", "prefix"),
        ("channel", "contains"),
        ("shipped_at", "null"),
        ("total_amount", "range"),
        ("is_test", "eq"),
    }
    literal = {p.key: (p.value, p.text) for p in ref.predicates}
    assert literal["user_id"] == ("42", "user_id = 42")
    assert literal["is_test"] == ("f", "NOT is_test")
    assert literal["shipped_at"] == (None, "shipped_at IS NULL")


def test_or_not_in_and_inequality_give_no_index_predicate() -> None:
    ref = reference(
        "select * from orders where (status = 'a' or status = 'b') and id not in (1, 2)"
        " and channel <> 'web'",
        "orders",
    )
    assert ref.predicates == ()
    assert ref.columns is None  # select *


def test_constant_on_the_left_and_expressions() -> None:
    ref = reference(
        "select u.id from users u where 42 < u.id and lower(u.email) = $1"
        " and u.created_at::date = '2025-01-01'",
        "u",
    )
    found = {(p.key, p.kind, p.expression) for p in ref.predicates}
    assert ("id", "range", False) in found
    assert ("lower(email)", "eq", True) in found
    assert ("CAST(created_at AS date)", "eq", True) in found


def test_join_keys_order_by_limit_and_columns_used() -> None:
    sql = (
        "select o.id, o.total_amount, u.email from orders o join users u on u.id = o.user_id"
        " where u.country = 'DE' order by o.created_at desc limit 10"
    )
    orders, users = reference(sql, "o"), reference(sql, "u")
    assert orders.join_keys == ("user_id",)
    assert users.join_keys == ("id",)
    assert orders.order_by == (("created_at", True),)
    assert orders.limited
    assert orders.columns == frozenset({"id", "total_amount", "user_id", "created_at"})
    assert users.columns == frozenset({"email", "id", "country"})


def test_unqualified_columns_are_placed_by_the_catalog() -> None:
    sql = (
        "select total_amount from orders join users on users.id = orders.user_id"
        " where country = 'DE'"
    )
    columns = {"orders": {"id", "user_id", "total_amount"}, "users": {"id", "country"}}
    users = reference(sql, "users", columns)
    assert [(p.key, p.kind) for p in users.predicates] == [("country", "eq")]
    assert "total_amount" in (reference(sql, "orders", columns).columns or ())
    # Without the catalog an unqualified column in a join cannot be placed: no guess.
    assert reference(sql, "users").predicates == ()


def test_subqueries_ctes_and_correlation_keep_their_scopes() -> None:
    sql = (
        "with recent as (select user_id from orders where created_at > now() - interval '7 days')"
        " select u.id from users u where exists (select 1 from payments p where p.order_id = u.id"
        " and p.status = 'failed') and u.id in (select user_id from recent)"
    )
    refs = {r.alias: r for r in table_references(sql)}
    assert set(refs) == {"orders", "u", "p"}  # "recent" is a CTE, not a table
    assert [(p.key, p.kind) for p in refs["orders"].predicates] == [("created_at", "range")]
    assert ("status", "eq") in {(p.key, p.kind) for p in refs["p"].predicates}
    assert refs["p"].join_keys == ("order_id",)


def test_update_delete_and_group_by() -> None:
    update = {
        r.alias: r for r in table_references("update orders set note = 'x' where user_id = 7")
    }
    assert [(p.key, p.kind) for p in update["orders"].predicates] == [("user_id", "eq")]
    delete = table_references("delete from events e using users u where e.user_id = u.id")
    assert {r.alias: r.join_keys for r in delete} == {"e": ("user_id",), "u": ("id",)}
    grouped = reference("select status, count(*) from orders group by status", "orders")
    assert grouped.group_by == ("status",)


def test_unparsable_sql_gives_nothing() -> None:
    assert table_references("select from where :name") == []


# -- reading plan conditions -------------------------------------------------------------------


def test_plan_condition_text_with_casts_any_and_initplans() -> None:
    found = predicates_of(
        "((o.user_id = '42'::bigint) AND (o.status = ANY ('{paid,shipped}'::text[]))"
        " AND ((o.currency)::text = 'EUR'::text) AND (o.total_amount > (InitPlan 1).col1))",
        "o",
    )
    assert [(p.alias, p.key, p.kind) for p in found] == [
        ("o", "user_id", "eq"),
        ("o", "status", "in"),
        ("o", "currency", "eq"),
        ("o", "total_amount", "range"),
    ]
    assert found[2].text == "currency = 'EUR'"
    join = predicates_of("(oi.order_id = o.id)", "oi")
    assert {(p.alias, p.key, p.kind) for p in join} == {
        ("oi", "order_id", "join"),
        ("o", "id", "join"),
    }
    assert predicates_of("(name ~~* '%oak%'::text)", "p")[0].kind == "contains"
    assert predicates_of("this is not sql (", "x") == []


# -- candidates --------------------------------------------------------------------------------


def test_ddl_quotes_only_what_needs_quoting_and_names_are_deterministic() -> None:
    assert quote_identifier("orders") == "orders"
    assert quote_identifier("Order Items") == '"Order Items"'
    assert quote_identifier("select") == '"select"'
    assert quote_identifier('we"ird') == '"we""ird"'
    candidate = IndexCandidate(
        table="Order Items",
        schema="shop",
        keys=(
            KeyItem("select"),
            KeyItem("lower(name)", expression=True),
            KeyItem("at", descending=True),
        ),
        include=("total",),
        where="status = 'paid'",
    )
    assert candidate.ddl == (
        'CREATE INDEX nx_order_items_select_lower_name_at_incl_where_status_paid_idx ON shop."Order'
        ' Items" ("select", (lower(name)), at DESC) INCLUDE (total) WHERE status = \'paid\''
    )
    long = IndexCandidate(table="t" * 40, schema=None, keys=(KeyItem("c" * 40),))
    assert len(long.name.encode()) <= 63
    assert long.name == IndexCandidate(table="t" * 40, schema=None, keys=(KeyItem("c" * 40),)).name
    trigram = IndexCandidate(
        table="products", schema=None, keys=(KeyItem("name", opclass="gin_trgm_ops"),), method="gin"
    )
    assert trigram.ddl == (
        "CREATE INDEX nx_products_name_trgm_idx ON products USING gin (name gin_trgm_ops)"
    )


@pytest.mark.parametrize("version", ["pg15", "pg18"])
def test_fixture_candidates_without_a_catalog(version: str) -> None:
    ddl = [c.ddl for c in index_candidates(fixture_plan(version, "seq_scan_filter")).candidates]
    # LIKE 'ab%' on a text column: a B-tree with text_pattern_ops, and a covering variant.
    assert ddl[0] == (
        "CREATE INDEX nx_orders_archive_note_idx ON public.orders_archive (note text_pattern_ops)"
    )
    assert "INCLUDE (amount, id)" in ddl[1]
    trigram = index_candidates(fixture_plan(version, "parallel_seq_scan")).candidates
    assert [c.method for c in trigram] == ["gin"]
    # A filter that keeps almost every row is no reason for an index; the GROUP BY may be.
    (grouped,) = index_candidates(fixture_plan(version, "jit")).candidates
    assert (grouped.columns, grouped.include) == (("status",), ("amount",))
    assert grouped.reason.startswith("the GROUP BY columns, covering")
    # Index scans that keep what they read, and small tables, are left alone.
    assert index_candidates(fixture_plan(version, "index_scan")).candidates == ()


def test_join_inputs_get_their_join_key_and_tables_take_turns() -> None:
    plan = fixture_plan("pg18", "hash_join")
    found = index_candidates(plan).candidates
    tables = [c.table for c in found]
    assert tables[:2] == ["orders", "customers"]  # every table's best before any second
    assert ("customers", ("id",)) in {(c.table, c.columns) for c in found}


def orders_catalog(**changes: object) -> Catalog:
    stats = {
        "status": ColumnStats(0.0, 4.0, {"new": 0.9, "paid": 0.05, "shipped": 0.04}),
        "customer_id": ColumnStats(0.0, 10_000.0),
    }
    table = TableCatalog(
        schema="public",
        relation="orders",
        rows=200_000.0,
        columns=("id", "customer_id", "product_id", "status", "amount", "created_at", "note"),
        indexes=(ExistingIndex("orders_pkey", ("id",)),),
        stats=stats,
    )
    customers = TableCatalog(
        schema="public",
        relation="customers",
        rows=10_000.0,
        columns=("id", "name", "region"),
        indexes=(ExistingIndex("customers_pkey", ("id",)),),
    )
    return Catalog((table, customers), **changes)  # type: ignore[arg-type]


def test_existing_indexes_set_candidates_aside_with_their_name() -> None:
    plan = fixture_plan("pg18", "hash_join")
    result = index_candidates(plan, catalog=orders_catalog())
    assert ("customers", "customers_pkey") in {(c.table, name) for c, name in result.covered}
    assert all(c.columns != ("id",) for c in result.candidates)


def test_a_rare_value_of_a_low_cardinality_column_earns_a_partial_index() -> None:
    plan = fixture_plan("pg18", "limit")  # status = 'paid' order by created_at limit 25
    # The index scan read only 265 rows before the LIMIT stopped it: lower the bar to look.
    found = index_candidates(plan, catalog=orders_catalog(), min_rows=100).candidates
    partial = [c for c in found if c.where]
    assert partial
    assert partial[0].where == "status = 'paid'"
    assert partial[0].columns == ("created_at",)
    assert found[0].columns == ("status", "created_at")  # equality, then the ORDER BY column


def test_trigram_needs_the_extension() -> None:
    plan = fixture_plan("pg18", "parallel_seq_scan")
    missing = index_candidates(plan, catalog=orders_catalog(trigram_available=True))
    assert missing.candidates == ()
    assert "CREATE EXTENSION pg_trgm" in missing.notes[0]
    installed = index_candidates(plan, catalog=orders_catalog(trigram=True))
    assert [c.method for c in installed.candidates] == ["gin"]


def test_candidates_are_deterministic() -> None:
    plan = fixture_plan("pg15", "hash_join")
    assert index_candidates(plan, catalog=orders_catalog()) == index_candidates(
        plan, catalog=orders_catalog()
    )


# -- the catalog, read from a real server ------------------------------------------------------


@pytest.fixture(scope="module")
def catalog_schema(embedded_db: nx.Database) -> Iterator[nx.Database]:
    embedded_db.query("drop schema if exists advise_catalog cascade")
    embedded_db.query(
        """
        create schema advise_catalog;
        create table advise_catalog."Tickets" (
            id bigint primary key, "Queue" text not null, state text not null, opened_at timestamptz
        );
        insert into advise_catalog."Tickets"
            select g, 'q' || (g % 50), case when g % 100 = 0 then 'open' else 'closed' end,
                   now() - g * interval '1 minute'
            from generate_series(1, 20000) g;
        create index tickets_queue_state on advise_catalog."Tickets" ("Queue", state)
            include (opened_at) where state <> 'archived';
        create index tickets_lower_queue on advise_catalog."Tickets" (lower("Queue"));
        analyze advise_catalog."Tickets";
        """
    )
    yield embedded_db
    embedded_db.query("drop schema advise_catalog cascade")


def test_read_catalog_reads_indexes_stats_and_extensions(catalog_schema: nx.Database) -> None:
    catalog = read_catalog(catalog_schema, [("Tickets", "advise_catalog"), ("absent", None)])
    (table,) = catalog.tables
    assert (table.schema, table.relation, table.rows) == ("advise_catalog", "Tickets", 20_000.0)
    assert table.columns == ("id", "Queue", "state", "opened_at")
    indexes = {i.name: i for i in table.indexes}
    assert indexes["tickets_queue_state"].keys == ("Queue", "state")
    assert indexes["tickets_queue_state"].include == ("opened_at",)
    assert indexes["tickets_queue_state"].predicate == "state <> 'archived'::text"
    assert indexes["tickets_lower_queue"].keys == ('lower("Queue")',)
    assert indexes["Tickets_pkey"].keys == ("id",)
    state = table.stats["state"]
    assert state.distinct(table.rows) == 2
    assert state.frequency("open", table.rows) == pytest.approx(0.01, abs=0.005)
    assert catalog.trigram_available


def test_candidates_on_a_real_plan_skip_what_an_index_serves(catalog_schema: nx.Database) -> None:
    sql = (
        "select id, opened_at from advise_catalog.\"Tickets\" t where t.state = 'open'"
        " and t.\"Queue\" = 'q7' order by t.opened_at desc limit 5"
    )
    no_index_scans = ["SET enable_indexscan = off", "SET enable_bitmapscan = off"]
    with sandbox.what_if(catalog_schema, no_index_scans) as trial:
        plan = parse_plan(trial.explain(sql).plan, sql=sql)
    assert plan.nodes[-1].node_type == "Seq Scan"
    catalog = read_catalog(catalog_schema, [("Tickets", "advise_catalog")])
    found = index_candidates(plan, sql, catalog).candidates
    assert found[0].ddl == (
        'CREATE INDEX nx_tickets_state_queue_opened_at_idx ON advise_catalog."Tickets"'
        ' (state, "Queue", opened_at)'
    )
    # 'open' is 1% of a two-value column: a partial index over it is among the ideas.
    partial = [c for c in found if c.where]
    assert [(c.columns, c.where) for c in partial] == [(("Queue", "opened_at"), "state = 'open'")]
