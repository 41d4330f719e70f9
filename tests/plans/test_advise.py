"""The advisor: rules over golden and freshly captured plans; indexes proven on the shop data."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

import nexus_kernel_helpers as nx
from nexus_kernel_helpers import sandbox
from nexus_kernel_helpers.plans import Plan, parse_plan
from nexus_kernel_helpers.plans._advise import (
    SEVERITIES,
    Advice,
    Finding,
    IndexSuggestion,
    advise,
    advise_plan,
)
from tests.support import HtmlTagsAndText, private_shop

FIXTURES = Path(__file__).parent / "fixtures"
SHAPES = {s["name"]: s for s in json.loads((FIXTURES / "shapes.json").read_text())["shapes"]}
VERSIONS = ["pg15", "pg18"]
ALL_FIXTURES = sorted(
    f"{path.parent.name}/{path.stem}"
    for path in FIXTURES.glob("*/*.json")
    if path.stem != "server" and path.parent.name != "."
)


def raw_fixture(name: str) -> list[dict[str, Any]]:
    data: list[dict[str, Any]] = json.loads((FIXTURES / f"{name}.json").read_text())
    return data


def fixture_plan(name: str, raw: list[dict[str, Any]] | None = None) -> Plan:
    shape = SHAPES.get(name.partition("/")[2], {})
    return parse_plan(raw if raw is not None else raw_fixture(name), sql=shape.get("sql", ""))


def by_rule(findings: Sequence[Finding], rule: str) -> list[Finding]:
    return [f for f in findings if f.rule == rule]


def only(findings: Sequence[Finding], rule: str) -> Finding:
    found = by_rule(findings, rule)
    assert len(found) == 1, [f.rule for f in findings]
    return found[0]


# -- every golden plan -------------------------------------------------------------------------


@pytest.mark.parametrize("name", ALL_FIXTURES)
def test_every_golden_plan_gets_sorted_deterministic_findings(name: str) -> None:
    findings = advise_plan(fixture_plan(name))
    again = advise_plan(fixture_plan(name))
    assert findings == again  # same plan, same words
    keys = [(f.rank, -f.impact) for f in findings]
    assert keys == sorted(keys)
    for finding in findings:
        assert finding.severity in SEVERITIES
        assert finding.title
        assert finding.detail
        assert finding.fix


# -- one rule at a time, on golden plans --------------------------------------------------------


@pytest.mark.parametrize("version", VERSIONS)
def test_sort_spilling_to_disk_asks_for_work_mem_from_its_disk_use(version: str) -> None:
    findings = advise_plan(fixture_plan(f"{version}/sort_disk"))
    spill = only(findings, "sort-spill")
    assert spill.severity == "high"
    assert spill.node_id == 0
    assert "9.8 MB" in spill.title  # 10,016 kB written
    assert "work_mem (64kB)" in spill.detail  # the plan's own setting
    assert "SET work_mem = '32MB'" in spill.fix  # twice the disk use, next power of two
    hot = only(findings, "hot-node")
    assert hot.node_id == 0
    assert hot.fix == "see the sort-spill finding on this node"
    assert advise_plan(fixture_plan(f"{version}/sort_memory")) == by_rule(
        advise_plan(fixture_plan(f"{version}/sort_memory")), "hot-node"
    )


@pytest.mark.parametrize("version", VERSIONS)
def test_hash_aggregate_spill(version: str) -> None:
    spill = only(advise_plan(fixture_plan(f"{version}/hash_agg_spill")), "hashagg-spill")
    assert "341 batches" in spill.title
    assert "hash_mem_multiplier (2)" in spill.detail
    assert "SET work_mem = '4MB'" in spill.fix


def test_hash_aggregate_spill_on_postgres_13_keys() -> None:
    findings = advise_plan(fixture_plan("pg13/hash_agg_spill_io_timing"))
    assert only(findings, "hashagg-spill").severity == "high"
    assert not by_rule(findings, "no-io-timing")  # PG 13 names the I/O time "I/O Read Time"


@pytest.mark.parametrize("version", VERSIONS)
def test_lossy_bitmap_sizes_work_mem_per_loop(version: str) -> None:
    single = only(advise_plan(fixture_plan(f"{version}/bitmap_lossy")), "lossy-bitmap")
    assert "2,068 pages" in single.title
    assert "rechecked" in single.detail
    assert "SET work_mem = '1MB'" in single.fix
    looped = only(advise_plan(fixture_plan(f"{version}/bitmap_lossy_loop")), "lossy-bitmap")
    assert looped.node_id == 3
    assert not by_rule(advise_plan(fixture_plan(f"{version}/bitmap_scan")), "lossy-bitmap")


@pytest.mark.parametrize("version", VERSIONS)
def test_heap_fetches_ask_for_vacuum_and_a_vacuumed_table_does_not(version: str) -> None:
    fetches = only(
        advise_plan(fixture_plan(f"{version}/index_only_scan_heap_fetches")), "heap-fetches"
    )
    assert fetches.fix.startswith("VACUUM (ANALYZE) readings_dirty")
    assert "7,000 heap fetches" in fetches.detail
    vacuumed = advise_plan(fixture_plan(f"{version}/index_only_scan_vacuumed"))
    assert not by_rule(vacuumed, "heap-fetches")


@pytest.mark.parametrize("version", VERSIONS)
def test_nested_loops_many_inner_loops(version: str) -> None:
    loop = only(advise_plan(fixture_plan(f"{version}/nested_loop")), "nested-loop")
    assert "3,000 times" in loop.title
    assert loop.severity == "medium"  # index lookups: worth a look, not an alarm
    assert "enable_nestloop = off" in loop.fix
    memoized = only(advise_plan(fixture_plan(f"{version}/memoize")), "nested-loop")
    assert memoized.severity == "low"
    assert "Memoize ran once per outer row" in memoized.detail


@pytest.mark.parametrize("version", VERSIONS)
def test_deepest_misestimate_with_expression_statistics(version: str) -> None:
    findings = advise_plan(fixture_plan(f"{version}/misestimate"))
    misestimate = only(findings, "misestimate")
    assert misestimate.node_id == 0
    assert misestimate.title.startswith("The planner underestimated Seq Scan on orders")
    assert "ANALYZE orders" in misestimate.fix
    assert "CREATE STATISTICS nx_orders_expr_stats ON (amount *" in misestimate.fix


@pytest.mark.parametrize("version", VERSIONS)
def test_misestimate_against_a_run_time_value_is_not_fixed_by_analyze(version: str) -> None:
    misestimate = only(advise_plan(fixture_plan(f"{version}/initplan")), "misestimate")
    assert "known only at run time" in misestimate.fix
    assert "ANALYZE" not in misestimate.fix


def test_misestimate_of_two_correlated_columns_suggests_extended_statistics() -> None:
    raw = raw_fixture("pg18/seq_scan_filter")
    scan = raw[0]["Plan"]
    scan["Filter"] = (
        "((orders_archive.city = 'Paris'::text) AND (orders_archive.zip = '75001'::text))"
    )
    scan["Plan Rows"] = 1
    finding = only(advise_plan(fixture_plan("pg18/seq_scan_filter", raw)), "misestimate")
    assert finding.severity == "medium"  # 766 rows where 1 was expected
    assert (
        "CREATE STATISTICS nx_orders_archive_city_zip_stats (dependencies, ndistinct, mcv)"
        " ON city, zip FROM orders_archive" in finding.fix
    )


@pytest.mark.parametrize("version", VERSIONS)
def test_seq_scan_with_a_selective_filter_names_a_candidate_index(version: str) -> None:
    findings = advise_plan(fixture_plan(f"{version}/seq_scan_filter"))
    scan = only(findings, "seq-scan-filter")
    assert scan.severity == "high"
    assert "reads 200,000 rows to keep 766" in scan.title
    assert "0.4% of the rows" in scan.detail
    assert "(note text_pattern_ops)" in scan.fix
    assert findings[0] == scan


@pytest.mark.parametrize("version", VERSIONS)
def test_plan_without_analyze_says_so_and_claims_nothing_about_time(version: str) -> None:
    findings = advise_plan(fixture_plan(f"{version}/plan_only"))
    assert [f.rule for f in findings] == ["no-analyze"]
    assert "EXPLAIN (ANALYZE, BUFFERS)" in findings[0].fix


def test_jit_on_a_short_query() -> None:
    jit = only(advise_plan(fixture_plan("pg15/jit")), "jit-overhead")
    assert jit.severity == "high"  # 80 ms of 144 ms
    assert jit.node_id is None
    assert "SET jit = off" in jit.fix


@pytest.mark.parametrize("version", VERSIONS)
def test_foreign_key_check_triggers(version: str) -> None:
    trigger = only(advise_plan(fixture_plan(f"{version}/insert_returning")), "slow-trigger")
    assert trigger.title.startswith("Trigger RI_ConstraintTrigger_c_")
    assert "foreign-key check" in trigger.fix


def test_foreign_key_action_triggers_ask_for_an_index() -> None:
    raw = raw_fixture("pg18/insert_returning")
    raw[0]["Triggers"][0]["Trigger Name"] = "RI_ConstraintTrigger_a_16390"
    trigger = only(advise_plan(fixture_plan("pg18/insert_returning", raw)), "slow-trigger")
    assert "index the referencing columns" in trigger.fix


def test_fewer_workers_than_planned() -> None:
    raw = raw_fixture("pg18/parallel_seq_scan")
    raw[0]["Plan"]["Workers Launched"] = 0
    raw[0]["Settings"]["max_parallel_workers"] = "0"
    workers = only(advise_plan(fixture_plan("pg18/parallel_seq_scan", raw)), "workers-short")
    assert workers.title == "Gather launched 0 of 2 planned workers"
    assert workers.severity == "medium"
    assert "max_parallel_workers (now 0)" in workers.fix
    assert not by_rule(advise_plan(fixture_plan("pg18/parallel_seq_scan")), "workers-short")


def strip_keys(raw: list[dict[str, Any]], remove: Any) -> list[dict[str, Any]]:
    def clean(node: dict[str, Any]) -> None:
        for key in [k for k in node if remove(k)]:
            del node[key]
        for child in node.get("Plans") or ():
            clean(child)

    copied = copy.deepcopy(raw)
    clean(copied[0]["Plan"])
    return copied


def test_missing_buffers_and_io_timing() -> None:
    raw = raw_fixture("pg18/seq_scan_filter")  # a cold table: 512 blocks read
    assert not {"no-buffers", "no-io-timing"} & {
        f.rule for f in advise_plan(fixture_plan("pg18/seq_scan_filter"))
    }
    no_timing = strip_keys(raw, lambda key: "I/O" in key)
    finding = only(advise_plan(fixture_plan("pg18/seq_scan_filter", no_timing)), "no-io-timing")
    assert finding.title == "512 blocks were read, but I/O time was not measured"
    assert "track_io_timing = on" in finding.fix
    no_buffers = strip_keys(raw, lambda key: "Blocks" in key or "I/O" in key)
    rules = {f.rule for f in advise_plan(fixture_plan("pg18/seq_scan_filter", no_buffers))}
    assert "no-buffers" in rules
    assert "no-io-timing" not in rules  # nothing to say about reads it cannot see


def test_unknown_nodes_from_a_future_server_do_not_break_the_rules() -> None:
    findings = advise_plan(fixture_plan("future/unknown_nodes_and_keys"))
    assert findings[0].rule == "hot-node"


# -- rules on plans captured now, on the shop data ---------------------------------------------


@pytest.fixture(scope="module")
def shop(data_dir: Path) -> Iterator[nx.Database]:
    """The shop dataset at scale 0.01 on a server of this module's own (its indexes missing)."""
    with private_shop(data_dir, scale=0.01) as db:
        yield db


def explained(db: nx.Database, sql: str, *settings: str) -> Plan:
    """EXPLAIN ANALYZE with planner settings, inside a what-if that rolls them back."""
    with sandbox.what_if(db, list(settings) or ["SET jit = off"]) as trial:
        raw = trial.explain(sql).plan
    return parse_plan(raw, sql=sql, server_version_num=db.server_version_num)


def test_sort_and_hash_join_spilling_on_a_live_plan(shop: nx.Database) -> None:
    sort = explained(shop, "select id, note from orders order by note, id", "SET work_mem = '64kB'")
    spill = only(advise_plan(sort), "sort-spill")
    assert "work_mem (64kB)" in spill.detail
    hashed = explained(
        shop,
        "select count(*) from order_items oi join orders o on o.id = oi.order_id",
        "SET work_mem = '64kB'",
        "SET enable_mergejoin = off",
        "SET max_parallel_workers_per_gather = 0",
    )
    batches = only(advise_plan(hashed), "hash-spill")
    assert "batches" in batches.title
    assert "SET work_mem = '" in batches.fix


def test_window_storage_on_disk_and_index_filter_waste(shop: nx.Database) -> None:
    if shop.server_version_num >= 170000:  # PostgreSQL 17 reports where a tuple store lived
        window = explained(
            shop, "select id, sum(total_amount) over () from orders", "SET work_mem = '64kB'"
        )
        assert only(advise_plan(window), "storage-spill").fix.startswith("SET work_mem = '")
    wasteful = explained(
        shop,
        "select id from orders where tenant_id = 2 and status = 'paid'",
        "SET enable_bitmapscan = off",
        "SET enable_seqscan = off",
    )
    waste = only(advise_plan(wasteful), "filter-waste")
    assert "orders_tenant_id_idx" in waste.title
    assert "add the filtered columns to the index" in waste.fix


def test_fresh_plans_give_the_same_findings_twice(shop: nx.Database) -> None:
    plan = explained(shop, "select * from events where user_id = 3")
    assert advise_plan(plan) == advise_plan(parse_plan(plan.raw, sql=plan.sql))


# -- advise(): the missing indexes of the shop, found and proven --------------------------------


def typical(db: nx.Database, table: str, column: str) -> int:
    """A value of `column` with the median number of rows, whatever the generator's skew."""
    return int(
        db.query(
            f"select {column} from (select {column}, count(*) n from {table} group by 1) s"
            f" order by n, {column} offset (select count(distinct {column}) / 2 from {table})"
            " limit 1"
        ).scalar()
    )


def a_user_with_orders(db: nx.Database) -> int:
    return typical(db, "orders", "user_id")


# Proofs use compare()'s own default of 15 runs per side: the tests share two cores with
# whatever else runs, and a steadier median keeps the verdicts from flickering.
PROOF_RUNS = 15


def proven(advice: Advice, table: str, columns: tuple[str, ...]) -> IndexSuggestion:
    """The verified suggestion on `table` whose key columns start with `columns`."""
    for suggestion in advice.suggestions:
        if suggestion.table == table and suggestion.columns[: len(columns)] == columns:
            assert suggestion.verified
            assert suggestion.speedup is not None
            assert suggestion.ci_low is not None
            assert suggestion.ci_low > 1.0
            assert suggestion.index_size_bytes is not None
            assert suggestion.index_size_bytes > 0
            assert suggestion.comparison is not None
            assert suggestion.comparison.verdict == "faster"
            return suggestion
    raise AssertionError(advice.to_markdown())


def index_names(db: nx.Database) -> set[str]:
    rows = db.query("select indexname from pg_indexes where schemaname = 'public'").rows
    return {str(row[0]) for row in rows}


def test_orders_by_user_proves_an_index_on_user_id(shop: nx.Database) -> None:
    before = index_names(shop)
    user = a_user_with_orders(shop)
    advice = advise(
        shop,
        f"select * from orders where user_id = {user} order by created_at desc limit 10",
        runs=PROOF_RUNS,
    )
    assert only(advice.findings, "seq-scan-filter").node_id is not None
    proven(advice, "orders", ("user_id",))
    assert advice.suggestions[0].ddl.startswith("CREATE INDEX nx_orders_user_id")
    assert index_names(shop) == before  # measured in what-ifs: nothing persisted


def test_order_items_by_product_proves_an_index_on_product_id(shop: nx.Database) -> None:
    product = typical(shop, "order_items", "product_id")
    advice = advise(
        shop,
        "select product_id, sum(quantity) from order_items where product_id = :product"
        " group by product_id",
        {"product": product},
        runs=PROOF_RUNS,
    )
    proven(advice, "order_items", ("product_id",))


def test_events_of_a_user_in_a_month_prove_equality_then_range(shop: nx.Database) -> None:
    user = a_user_with_orders(shop)
    advice = advise(
        shop,
        f"select id, event_type from events where user_id = {user}"
        " and occurred_at >= '2025-06-01' and occurred_at < '2025-07-01'",
        runs=PROOF_RUNS,
    )
    best = advice.candidates[0]
    assert best.columns == ("user_id", "occurred_at")  # equality column before range column
    assert any(s.table == "events" and s.columns[0] == "user_id" for s in advice.suggestions)
    proven(advice, "events", ("user_id",))


def test_a_join_proves_the_missing_foreign_key_index(shop: nx.Database) -> None:
    user = a_user_with_orders(shop)
    advice = advise(
        shop,
        "select o.id, sum(oi.quantity * oi.unit_price) from orders o"
        f" join order_items oi on oi.order_id = o.id where o.user_id = {user} group by o.id",
        runs=PROOF_RUNS,
    )
    proven(advice, "order_items", ("order_id",))
    covered = {(c.table, name) for c, name in advice.covered}
    assert ("orders", "orders_pkey") in covered  # the join key of orders is indexed already
    together = [s for s in advice.suggestions if s.together]
    for suggestion in together:  # when the pair beats the best alone, it is reported as such
        assert suggestion.table == "orders"
        assert "order_items" in suggestion.together[0]


def test_product_search_gets_a_trigram_index_once_pg_trgm_is_there(shop: nx.Database) -> None:
    shop.query("drop schema if exists advise_search cascade")
    shop.query(
        """
        create schema advise_search;
        create table advise_search.documents (id bigint primary key, title text not null);
        insert into advise_search.documents
            select g, md5(g::text) || ' ' || md5((g * 7)::text) from generate_series(1, 30000) g;
        analyze advise_search.documents;
        """
    )
    sql = "select id, title from advise_search.documents where title ilike '%abcd%'"
    try:
        without = advise(shop, sql, verify=False)
        assert without.candidates == []
        assert any("CREATE EXTENSION pg_trgm" in note for note in without.notes)
        shop.query("create extension if not exists pg_trgm")
        advice = advise(shop, sql, max_candidates=1, runs=PROOF_RUNS)
        suggestion = proven(advice, "documents", ("title",))
        assert "USING gin (title gin_trgm_ops)" in suggestion.ddl
    finally:
        shop.query("drop schema advise_search cascade")
        shop.query("drop extension if exists pg_trgm")


def test_an_index_that_cannot_be_built_is_reported_as_tried(shop: nx.Database) -> None:
    advice = advise(shop, "select count(*) from orders where created_at::date = '2025-03-01'")
    assert advice.suggestions == []
    (tried,) = [s for s in advice.tried if s.columns[0].startswith("CAST(created_at AS date)")]
    assert tried.note.startswith("could not be measured: ")
    assert "IMMUTABLE" in tried.note  # timestamptz to date depends on the time zone
    assert "could not be measured" in advice.to_markdown()


def test_verify_false_measures_nothing_and_says_so(shop: nx.Database) -> None:
    advice = advise(shop, "select * from payments where order_id = 17", verify=False)
    assert advice.suggestions == []
    assert advice.tried == []
    assert advice.candidates[0].columns == ("order_id",)
    markdown = advice.to_markdown()
    assert "Not measured (verify=False)" in markdown
    assert "CREATE INDEX nx_payments_order_id_idx ON public.payments (order_id)" in markdown


def test_display_is_escaped_and_shows_the_plan_collapsed(shop: nx.Database) -> None:
    advice = advise(
        shop, "select id from orders where note = '<script>alert(1)</script>'", max_candidates=1
    )
    bundle = advice._repr_mimebundle_()
    assert set(bundle) == {"text/plain", "text/html"}
    parser = HtmlTagsAndText()
    parser.feed(bundle["text/html"])
    assert "script" not in parser.tags
    assert "details" in parser.tags
    assert any("<script>alert(1)</script>" in text for text in parser.text)
    assert "<script>" in bundle["text/plain"]
    markdown = advice.to_markdown()
    assert markdown.startswith("## Query advice\n\n```sql\nselect id from orders")
    assert "### Findings" in markdown
    assert "### Indexes" in markdown
    assert len(advice.suggestions) + len(advice.tried) == 1  # max_candidates=1
    assert len(advice.candidates) > 1
    assert "Not measured (beyond max_candidates):" in markdown


def test_a_bad_query_fails_before_anything_is_measured(shop: nx.Database) -> None:
    with pytest.raises(nx.QueryError):
        advise(shop, "select nope from orders")
    with pytest.raises(nx.ConfigurationError, match="max_candidates"):
        advise(shop, "select 1", max_candidates=-1)
    with pytest.raises(nx.ConfigurationError, match="runs must be 3 or more"):
        advise(shop, "select 1", runs=2)
