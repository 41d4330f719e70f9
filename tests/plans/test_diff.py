"""The plan diff in words, on real plans: live ones from the embedded server and golden files."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

import nexus_kernel_helpers as nx
from nexus_kernel_helpers import sandbox
from nexus_kernel_helpers.plans._diff import (
    diff_plans,
    format_bytes,
    format_count,
    format_ms,
    node_summary,
)
from nexus_kernel_helpers.plans._model import Plan, parse_plan

SCHEMA = """
create schema diff_tests;
create table diff_tests.orders (
    id int primary key, customer_id int not null, amount int not null, note text
);
insert into diff_tests.orders
    select g, g / 10, g % 997, 'order ' || g from generate_series(1, 50000) g;
analyze diff_tests.orders;
"""
BY_CUSTOMER = "select * from diff_tests.orders where customer_id = 42"


@pytest.fixture(scope="module")
def db(embedded_db: nx.Database) -> Iterator[nx.Database]:
    embedded_db.query("drop schema if exists diff_tests cascade")
    embedded_db.query(SCHEMA)
    yield embedded_db
    embedded_db.query("drop schema diff_tests cascade")


def explain(db: nx.Database, sql: str) -> Plan:
    result = sandbox.explain(db, sql)
    return parse_plan(result.plan, sql=sql, server_version_num=db.server_version_num)


def explain_with(db: nx.Database, setup: str, sql: str) -> Plan:
    with sandbox.what_if(db, setup) as trial:
        result = trial.explain(sql)
    return parse_plan(result.plan, sql=sql, server_version_num=db.server_version_num)


def test_seq_scan_replaced_by_index_scan_reads_as_one_line(db: nx.Database) -> None:
    before = explain(db, BY_CUSTOMER)
    after = explain_with(db, "create index orders_customer on diff_tests.orders (customer_id)",
                         BY_CUSTOMER)  # fmt: skip
    lines = diff_plans(before, after).lines
    replaced = next(line for line in lines if line.startswith("Seq Scan on orders ("))
    old, _, new = replaced.partition(" → ")
    assert "50,000 rows read" in old
    assert "removed by filter" in old
    assert "using orders_customer on orders" in new
    assert "10 rows" in new
    assert not any(line.startswith("only before: Seq Scan") for line in lines)


def test_buffers_are_stated_before_time(db: nx.Database) -> None:
    before = explain(db, BY_CUSTOMER)
    after = explain_with(db, "create index on diff_tests.orders (customer_id)", BY_CUSTOMER)
    lines = diff_plans(before, after).lines
    buffers = next(i for i, line in enumerate(lines) if line.startswith("buffers"))
    execution = next(i for i, line in enumerate(lines) if line.startswith("execution time"))
    planning = next(
        i for i, line in enumerate(lines) if line.startswith("planning time (median run)")
    )
    assert buffers < execution < planning
    assert "shared hit" in lines[buffers]
    assert "fewer pages touched" in lines[buffers]


def test_nodes_are_aligned_by_kind_not_position(db: nx.Database) -> None:
    # The index makes the Sort disappear: every node shifts up one position, yet the scan
    # pairs with its replacement and only the Sort is reported as gone.
    sql = f"{BY_CUSTOMER} order by id"
    before = explain(db, sql)
    after = explain_with(db, "create index by_customer_id on diff_tests.orders (customer_id, id)",
                         sql)  # fmt: skip
    assert before.root.node_type == "Sort"
    assert all(n.node_type != "Sort" for n in after.nodes)
    lines = diff_plans(before, after).lines
    assert any(line.startswith("only before: Sort (") for line in lines)
    assert any("→ Index Scan using by_customer_id on orders" in line for line in lines)
    assert not any(line.startswith("only after") for line in lines)


def test_extra_node_on_top_is_only_after(db: nx.Database) -> None:
    before = explain(db, BY_CUSTOMER)
    after = explain(db, f"{BY_CUSTOMER} limit 3")
    lines = diff_plans(before, after).lines
    assert any(line.startswith("only after: Limit (3 rows") for line in lines)
    assert not any(line.startswith("only before") for line in lines)


def test_identical_plans_say_so(db: nx.Database) -> None:
    plan = explain(db, "select count(*) from diff_tests.orders")
    lines = diff_plans(plan, explain(db, "select count(*) from diff_tests.orders")).lines
    assert lines[0] == f"same plan shape ({len(plan.nodes)} nodes)"


def test_settings_that_differ_are_listed(db: nx.Database) -> None:
    sql = "select * from diff_tests.orders order by note"
    before = explain_with(db, "set work_mem = '64kB'", sql)
    after = explain_with(db, "set work_mem = '64MB'", sql)
    lines = diff_plans(before, after).lines
    assert "settings that differ: work_mem 64kB → 64MB" in lines
    # The sort spilled to disk before and fits in memory after: a changed-node line says so.
    sort_line = next(line for line in lines if line.startswith("Sort: "))
    assert "on disk" in sort_line.partition(" → ")[0]
    assert "on disk" not in sort_line.partition(" → ")[2]
    assert "temp written" in next(line for line in lines if line.startswith("buffers"))


def test_golden_plans_hash_aggregate_spill_against_group_aggregate(
    golden_plan: Callable[[str], Plan],
) -> None:
    before, after = golden_plan("pg18/hash_agg_spill"), golden_plan("pg18/group_agg")
    lines = diff_plans(before, after).lines
    assert lines[0].startswith("Seq Scan on orders (200,000 rows")
    assert "→ Index Scan using orders_customer_id_idx on orders (200,000 rows" in lines[0]
    assert lines[1].startswith("HashAggregate: 195,087 rows")
    buffers = next(line for line in lines if line.startswith("buffers"))
    assert "temp read 2,418 → 0" in buffers
    assert "temp written 3,150 → 0" in buffers
    settings = next(line for line in lines if line.startswith("settings"))
    assert "enable_hashagg (default) → off" in settings
    assert "work_mem 64kB → (default)" in settings


def test_golden_plans_sort_on_disk_against_in_memory(golden_plan: Callable[[str], Plan]) -> None:
    lines = diff_plans(golden_plan("pg18/sort_disk"), golden_plan("pg18/sort_memory")).lines
    assert lines[0].startswith("Sort: 200,000 rows, external merge on disk 9.8 MB")
    assert "→ 10,000 rows, quicksort 853.0 kB" in lines[0]
    assert "only before: Seq Scan on orders (200,000 rows, 33.0 ms)" in lines
    assert "only after: Seq Scan on customers (10,000 rows, 0.573 ms)" in lines


def test_nearly_equal_buffers_get_no_ratio(golden_plan: Callable[[str], Plan]) -> None:
    before, after = golden_plan("pg15/parallel_seq_scan"), golden_plan("pg18/parallel_seq_scan")
    lines = diff_plans(before, after).lines
    assert lines[0] == "same plan shape (2 nodes)"
    assert lines[1] == "buffers (8 kB pages): shared hit 2,761 → 2,816; shared read 0 (same)"


def test_summary_of_a_never_executed_node(golden_plan: Callable[[str], Plan]) -> None:
    plan = golden_plan("pg18/never_executed")
    node = next(n for n in plan.nodes if n.never_executed)
    assert node_summary(node).endswith("(never executed)")


def test_unanalyzed_plans_use_estimates(db: nx.Database) -> None:
    result = sandbox.explain(db, BY_CUSTOMER, analyze=False)
    plan = parse_plan(result.plan)
    lines = diff_plans(plan, plan).lines
    assert lines[0].startswith("same plan shape")
    assert "rows estimated" in node_summary(plan.root)
    assert not any(line.startswith("buffers") for line in lines)


def test_formatting_helpers() -> None:
    assert format_count(240) == "240"
    assert format_count(12345) == "12,345"
    assert format_count(1_234_567) == "1.2 M"
    assert format_count(499_999.0000001) == "499,999"
    assert format_count(2.5) == "2.5"
    assert format_ms(0.0423) == "0.042 ms"
    assert format_ms(3.214) == "3.21 ms"
    assert format_ms(52.14) == "52.1 ms"
    assert format_ms(523.4) == "523 ms"
    assert format_ms(1523) == "1.52 s"
    assert format_bytes(512) == "512 B"
    assert format_bytes(42 * 1024 * 1024) == "42.0 MB"
