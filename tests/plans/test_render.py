"""Plan rendering: HTML parsed back into a tree and checked, text compared at a fixed width."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

import nexus_kernel_helpers as nx
from nexus_kernel_helpers import sandbox
from nexus_kernel_helpers.plans import Plan, PlanNode, parse_plan
from nexus_kernel_helpers.plans._render import plan_html, plan_text

FIXTURES = Path(__file__).resolve().parent / "fixtures"
FIXTURE_FILES = sorted(
    path for path in FIXTURES.glob("*/*.json") if path.name not in {"server.json", "shapes.json"}
)


# -- a small DOM, enough to look at the HTML the way a browser would -----------------------


class Element:
    """One element: tag, attributes, children (elements and text)."""

    def __init__(self, tag: str, attrs: dict[str, str], parent: Element | None) -> None:
        self.tag, self.attrs, self.parent = tag, attrs, parent
        self.children: list[Element | str] = []

    @property
    def classes(self) -> set[str]:
        return set(self.attrs.get("class", "").split())

    def text(self) -> str:
        """The visible text, without <style>."""
        if self.tag == "style":
            return ""
        return "".join(c if isinstance(c, str) else c.text() for c in self.children)

    def iter(self) -> Iterator[Element]:
        yield self
        for child in self.children:
            if isinstance(child, Element):
                yield from child.iter()

    def find_all(self, css_class: str | None = None, tag: str | None = None) -> list[Element]:
        return [
            e
            for e in self.iter()
            if (css_class is None or css_class in e.classes) and (tag is None or e.tag == tag)
        ]

    def find(self, css_class: str | None = None, tag: str | None = None) -> Element:
        found = self.find_all(css_class, tag)
        assert found, f"no element with class {css_class!r} tag {tag!r}"
        return found[0]

    def ancestors(self) -> Iterator[Element]:
        parent = self.parent
        while parent is not None:
            yield parent
            parent = parent.parent


class _Builder(HTMLParser):
    VOID = frozenset({"br", "img", "hr", "input", "meta", "link", "wbr"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Element("#root", {}, None)
        self.current = self.root

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = Element(tag, {k: v or "" for k, v in attrs}, self.current)
        self.current.children.append(element)
        if tag not in self.VOID:
            self.current = element

    def handle_endtag(self, tag: str) -> None:
        assert self.current.tag == tag, f"</{tag}> closes <{self.current.tag}>"
        assert self.current.parent is not None
        self.current = self.current.parent

    def handle_data(self, data: str) -> None:
        self.current.children.append(data)


def parse_html(html: str) -> Element:
    """Parse, checking every tag is closed where it was opened."""
    builder = _Builder()
    builder.feed(html)
    builder.close()
    assert builder.current is builder.root, f"<{builder.current.tag}> never closed"
    return builder.root


def rows_by_id(dom: Element) -> dict[int, Element]:
    return {
        int(row.attrs["data-node"]): row
        for row in dom.find_all("nx-plan-r")
        if "data-node" in row.attrs
    }


def load(name: str, version: str = "pg18") -> Plan:
    return parse_plan((FIXTURES / version / f"{name}.json").read_text())


def share(plan: Plan, node: PlanNode) -> float:
    assert plan.total_ms is not None
    assert node.exclusive_ms is not None
    return node.exclusive_ms / plan.total_ms


# -- every real plan renders ----------------------------------------------------------------


@pytest.mark.parametrize("path", FIXTURE_FILES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_every_fixture_renders_one_row_per_node(path: Path) -> None:
    plan = parse_plan(path.read_text())
    html = plan_html(plan, title=path.stem)
    dom = parse_html(html)

    assert list(rows_by_id(dom)) == [node.id for node in plan.nodes]
    assert dom.find("nx-plan-title").text() == path.stem
    for node, row in zip(plan.nodes, rows_by_id(dom).values(), strict=True):
        assert row.find("nx-plan-l").text() == node.label
    for line in plan_text(plan, width=80).splitlines():
        assert len(line) <= 80


def test_the_css_is_scoped_and_follows_the_theme() -> None:
    dom = parse_html(plan_html(load("hash_join")))
    css = dom.find(tag="style").text() or "".join(str(c) for c in dom.find(tag="style").children)
    # "sel{...}" and "@container (...){sel{...}}": the selector is just before the last "{".
    selectors = [rule.split("{")[-2] for rule in css.split("}") if "{" in rule]
    assert selectors
    assert all(part.strip().startswith(".nx-plan") for s in selectors for part in s.split(","))
    assert "var(--jp-ui-font-color1" in css
    assert "var(--jp-border-color2" in css
    assert "@container (max-width:62em)" in css


# -- what a reader must see -----------------------------------------------------------------


def test_misestimated_node_gets_a_badge_with_direction_and_order() -> None:
    plan = load("misestimate")
    (node,) = [n for n in plan.nodes if (n.misestimate or 0) >= 10]
    dom = parse_html(plan_html(plan))
    row = rows_by_id(dom)[node.id]
    badge = row.find("nx-plan-mis")

    factor = node.misestimate or 0.0
    order = 1000 if factor >= 1000 else 100 if factor >= 100 else 10
    assert f"nx-plan-m{order}" in badge.classes
    assert node.misestimate_direction == "under"
    assert badge.text() == f"▲ under-estimated {factor:,.0f}x"
    assert len(dom.find_all("nx-plan-mis")) == 1


def test_badge_orders_follow_the_factor() -> None:
    raw = json.loads((FIXTURES / "pg18" / "seq_scan_filter.json").read_text())
    levels = {}
    for actual, estimated in [(5, 50), (50, 1), (5000, 20), (1, 2000)]:
        variant = copy.deepcopy(raw)
        variant[0]["Plan"]["Actual Rows"] = actual
        variant[0]["Plan"]["Plan Rows"] = estimated
        badges = parse_html(plan_html(parse_plan(variant))).find_all("nx-plan-mis")
        levels[(actual, estimated)] = [
            (sorted(b.classes - {"nx-plan-badge", "nx-plan-mis"}), b.text()) for b in badges
        ]
    assert levels == {
        (5, 50): [(["nx-plan-m10"], "▼ over-estimated 10x")],
        (50, 1): [(["nx-plan-m10"], "▲ under-estimated 50x")],
        (5000, 20): [(["nx-plan-m100"], "▲ under-estimated 250x")],
        (1, 2000): [(["nx-plan-m1000"], "▼ over-estimated 2,000x")],
    }


def test_rows_below_a_limit_are_not_called_over_estimated() -> None:
    plan = load("limit")
    scan = plan.nodes[1]
    assert scan.total_rows is not None
    assert scan.estimated_total_rows >= 10 * scan.total_rows
    row = rows_by_id(parse_html(plan_html(plan)))[scan.id]
    assert not row.find_all("nx-plan-mis")
    assert "stopped early by a Limit or semi/anti join above" in row.text()


def test_hot_path_runs_from_the_root_to_the_node_with_most_own_time() -> None:
    plan = load("hash_join")
    hottest = max(plan.nodes, key=lambda n: n.exclusive_ms or 0.0)
    path = set()
    node: PlanNode | None = hottest
    while node is not None:
        path.add(node.id)
        node = node.parent
    rows = rows_by_id(parse_html(plan_html(plan)))

    assert {i for i, row in rows.items() if "nx-plan-hot" in row.classes} == path
    assert [i for i, row in rows.items() if "nx-plan-hottest" in row.classes] == [hottest.id]
    assert len(path) < len(plan.nodes)


def test_bars_and_bands_follow_each_nodes_share_of_the_time() -> None:
    plan = load("hash_join")
    rows = rows_by_id(parse_html(plan_html(plan)))
    for node in plan.nodes:
        row = rows[node.id]
        fraction = share(plan, node)
        bar = row.find("nx-plan-bar")
        width = re.fullmatch(r"width:([\d.]+)%", bar.attrs["style"])
        assert width is not None
        assert float(width.group(1)) == pytest.approx(fraction * 100, abs=0.051)
        bands = {c for c in row.classes if re.fullmatch(r"nx-plan-b\d+", c)}
        expected = next((f"nx-plan-b{b}" for b in (90, 50, 10) if fraction >= b / 100), None)
        assert bands == ({expected} if expected else set())
        time_cell = row.find("nx-plan-t")
        assert time_cell.text().startswith(f"{node.exclusive_ms:.3f}"[:4])


def test_numbers_in_the_row() -> None:
    plan = load("seq_scan_filter")
    node = plan.root
    row = rows_by_id(parse_html(plan_html(plan)))[node.id]
    cells = [c for c in row.children if isinstance(c, Element)]
    texts = [c.text() for c in cells]
    assert node.total_rows is not None
    assert node.rows_removed_by_filter is not None
    assert f"{node.total_rows:,.0f} / {node.estimated_total_rows:,.0f}" in texts
    removed = node.rows_removed_by_filter / (node.rows_removed_by_filter + node.total_rows)
    count = node.rows_removed_by_filter
    shown = f"{count:,.0f}" if count < 100_000 else f"{count / 1000:.3g}k"
    assert f"{shown} ({removed:.0%})" in texts
    own = node.exclusive_buffers
    assert f"{own.shared_hit:,} / {own.shared_read:,}" in texts
    assert f"Filter: {node.filter}" in row.find("nx-plan-cond").text()


@pytest.mark.parametrize(
    ("fixture", "note", "warn"),
    [
        ("sort_disk", r"Sort Method: external merge Disk: [\d.]+ MB", True),
        ("sort_memory", r"Sort Method: quicksort Memory: \d+ kB", False),
        ("hash_agg_spill", r"HashAgg Batches \d+, Disk: [\d.]+ MB", True),
        ("bitmap_lossy", r"Lossy Heap Blocks [\d,]+ \(exact [\d,]+\)", True),
        ("index_only_scan_heap_fetches", r"Heap Fetches [\d,]+", True),
        ("parallel_seq_scan", r"Workers \d of \d launched", False),
        ("never_executed", r"never executed", False),
        ("memoize", r"Cache hits [\d,]+, misses [\d,]+", False),
    ],
)
def test_notes_say_how_a_node_ran(fixture: str, note: str, warn: bool) -> None:
    dom = parse_html(plan_html(load(fixture)))
    found = [n for n in dom.find_all("nx-plan-note") if re.fullmatch(note, n.text())]
    assert found, [n.text() for n in dom.find_all("nx-plan-note")]
    assert ("nx-plan-warn" in found[0].classes) is warn


def test_hash_batches_and_fewer_workers_are_flagged() -> None:
    raw = json.loads((FIXTURES / "pg18" / "parallel_hash_join.json").read_text())
    plan_json = raw[0]["Plan"]
    nodes = [plan_json]
    while nodes:
        node = nodes.pop()
        nodes.extend(node.get("Plans", []))
        if (
            node["Node Type"] == "Hash"
            or node["Node Type"] == "Parallel Hash"
            or "Hash Batches" in node
        ):
            node["Hash Batches"], node["Original Hash Batches"] = 8, 1
        if "Workers Planned" in node:
            node["Workers Planned"], node["Workers Launched"] = 4, 2
    notes = {
        n.text(): "nx-plan-warn" in n.classes
        for n in parse_html(plan_html(parse_plan(raw))).find_all("nx-plan-note")
    }
    assert notes["Hash Batches 8 (planned 1)"] is True
    assert notes["Workers 2 of 4 launched"] is True


def test_header_has_the_statement_level_numbers() -> None:
    plan = load("triggers")
    header = parse_html(plan_html(plan)).find("nx-plan-header").text()
    assert plan.execution_ms is not None
    assert f"Execution {plan.execution_ms:.2f}"[:14] in header
    assert "Planning " in header
    for trigger in plan.triggers:
        assert f"Trigger {trigger.name} on {trigger.relation}" in header
        assert f"{trigger.calls:,} calls" in header
    for name, value in plan.settings.items():
        assert f"{name} = {value}" in header


def test_jit_shows_in_the_header() -> None:
    plan = load("jit", "pg15")
    assert plan.jit is not None
    header = parse_html(plan_html(plan)).find("nx-plan-header").text()
    assert f"JIT {plan.jit.total_ms:.2f} ms for {plan.jit.functions} functions" in header


def test_plan_without_analyze_shows_costs_only() -> None:
    plan = load("plan_only")
    dom = parse_html(plan_html(plan))
    assert "Estimates only" in dom.find("nx-plan-header").text()
    assert not dom.find_all("nx-plan-bar")
    assert not dom.find_all("nx-plan-hot")
    heads = [c.text() for c in dom.find("nx-plan-head").children if isinstance(c, Element)]
    assert heads == ["node", "cost", "est. rows", "width"]
    root_cells = [c.text() for c in rows_by_id(dom)[0].children if isinstance(c, Element)]
    assert f"{plan.root.startup_cost:,.2f}..{plan.root.total_cost:,.2f}" in root_cells


def test_highlighted_nodes_are_marked() -> None:
    plan = load("hash_join")
    rows = rows_by_id(parse_html(plan_html(plan, highlight=[2, 99])))
    assert [i for i, row in rows.items() if "nx-plan-hl" in row.classes] == [2]


# -- hostile text ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def render_tables(embedded_db: nx.Database) -> Iterator[nx.Database]:
    embedded_db.query(
        "create schema render_probe;"
        " create table render_probe.pairs as"
        " select g as id, g % 100 as a, g % 100 as b, md5(g::text) as s"
        " from generate_series(1, 20000) g;"
        " analyze render_probe.pairs"
    )
    yield embedded_db
    embedded_db.query("drop schema render_probe cascade")


def test_user_text_is_escaped_everywhere(render_tables: nx.Database) -> None:
    hostile = "<script>alert('x')</script>"
    sql = (
        f'select * from render_probe.pairs as "{hostile}"'
        " where s <> '<img src=x onerror=alert(1)>' and a = 1 and b = 1"
    )
    plan = parse_plan(sandbox.explain(render_tables, sql).plan, sql=sql)
    html = plan_html(plan, title=f"title {hostile}", highlight=[0])
    dom = parse_html(html)

    assert {e.tag for e in dom.iter()} <= {"#root", "div", "span", "style", "details", "summary"}
    assert "<script" not in html
    assert "<img" not in html
    text = dom.text()
    assert f"title {hostile}" in text
    assert f"Seq Scan on pairs {hostile}" in text
    assert "<img src=x onerror=alert(1)>" in text
    # Two equal columns fool the planner: it multiplies their selectivities.
    assert "▲ under-estimated" in dom.find("nx-plan-mis").text()
    assert hostile in plan_text(plan, width=200)


# -- large plans ----------------------------------------------------------------------------


def _scan(i: int, ms: float, rows: int) -> dict[str, Any]:
    return {
        "Node Type": "Seq Scan",
        "Parent Relationship": "Member",
        "Relation Name": f"events_p{i}",
        "Alias": f"events_p{i}",
        "Startup Cost": 0.0,
        "Total Cost": 35.5,
        "Plan Rows": 10,
        "Plan Width": 40,
        "Actual Startup Time": 0.01,
        "Actual Total Time": ms,
        "Actual Rows": rows,
        "Actual Loops": 1,
        "Filter": "(kind = 'click'::text)",
        "Rows Removed by Filter": 20,
        "Shared Hit Blocks": 3,
        "Shared Read Blocks": 1,
    }


def synthetic_plan(nodes: int = 1000) -> list[dict[str, Any]]:
    """A partitioned scan: Limit > Aggregate > Append over partitions, one of them hot."""
    partitions = [_scan(i, 0.01, 5) for i in range(nodes - 3)]
    hot = (nodes - 3) // 2
    partitions[hot] = _scan(hot, 50.0, 5000)
    append = {
        "Node Type": "Append",
        "Parent Relationship": "Outer",
        "Startup Cost": 0.0,
        "Total Cost": 40000.0,
        "Plan Rows": 10000,
        "Plan Width": 40,
        "Actual Startup Time": 0.01,
        "Actual Total Time": 80.0,
        "Actual Rows": 10000,
        "Actual Loops": 1,
        "Plans": partitions,
    }
    aggregate = {**append, "Node Type": "Aggregate", "Strategy": "Plain", "Plans": [append]}
    aggregate.update({"Actual Total Time": 90.0, "Actual Rows": 1, "Plan Rows": 1})
    limit = {**aggregate, "Node Type": "Limit", "Plans": [aggregate]}
    return [{"Plan": limit, "Planning Time": 12.0, "Execution Time": 90.5}]


def test_cold_subtrees_of_a_large_plan_are_collapsed() -> None:
    plan = parse_plan(synthetic_plan(1000))
    assert len(plan.nodes) == 1000
    html = plan_html(plan)
    dom = parse_html(html)
    rows = rows_by_id(dom)

    assert len(rows) == 1000
    groups = dom.find_all("nx-plan-cold")
    assert [g.tag for g in groups] == ["details", "details"]
    assert all("open" not in g.attrs for g in groups)
    assert sum(int(g.attrs["data-nodes"]) for g in groups) == 996
    summary = groups[0].find(tag="summary").text()
    assert summary.startswith("498 nodes, 5.5% of the time: Seq Scan on events_p0")
    hottest = rows[plan.nodes.index(max(plan.nodes, key=lambda n: n.exclusive_ms or 0))]
    assert not any(a.tag == "details" for a in hottest.ancestors())
    assert len(html) < 1000 * 400  # about 340 bytes a node; measured in the report

    text = plan_text(plan, width=140)
    assert len(text.splitlines()) == 2 + 1 + 4 + 2
    assert "-> [498 nodes, 5.5% of the time: Seq Scan on events_p0, …]" in text


def test_a_highlighted_cold_node_stays_visible() -> None:
    plan = parse_plan(synthetic_plan(100))
    target = plan.nodes[10]
    rows = rows_by_id(parse_html(plan_html(plan, highlight=[target.id])))
    assert "nx-plan-hl" in rows[target.id].classes
    assert not any(a.tag == "details" for a in rows[target.id].ancestors())


def test_small_plans_are_never_collapsed() -> None:
    dom = parse_html(plan_html(load("partition_initplan")))
    assert not dom.find_all("nx-plan-cold")


# -- text -----------------------------------------------------------------------------------

SMALL_PLAN: list[dict[str, Any]] = [
    {
        "Plan": {
            "Node Type": "Hash Join",
            "Join Type": "Inner",
            "Startup Cost": 30.0,
            "Total Cost": 250.0,
            "Plan Rows": 100,
            "Plan Width": 16,
            "Actual Startup Time": 1.0,
            "Actual Total Time": 10.0,
            "Actual Rows": 2500,
            "Actual Loops": 1,
            "Hash Cond": "(o.customer_id = c.id)",
            "Shared Hit Blocks": 60,
            "Shared Read Blocks": 10,
            "Plans": [
                {
                    "Node Type": "Seq Scan",
                    "Parent Relationship": "Outer",
                    "Relation Name": "orders",
                    "Alias": "o",
                    "Startup Cost": 0.0,
                    "Total Cost": 180.0,
                    "Plan Rows": 5000,
                    "Plan Width": 12,
                    "Actual Startup Time": 0.01,
                    "Actual Total Time": 6.0,
                    "Actual Rows": 5000,
                    "Actual Loops": 1,
                    "Filter": "(o.amount > 100)",
                    "Rows Removed by Filter": 15000,
                    "Shared Hit Blocks": 40,
                    "Shared Read Blocks": 10,
                },
                {
                    "Node Type": "Hash",
                    "Parent Relationship": "Inner",
                    "Startup Cost": 20.0,
                    "Total Cost": 20.0,
                    "Plan Rows": 1000,
                    "Plan Width": 8,
                    "Actual Startup Time": 2.0,
                    "Actual Total Time": 2.0,
                    "Actual Rows": 1000,
                    "Actual Loops": 1,
                    "Hash Batches": 4,
                    "Original Hash Batches": 1,
                    "Shared Hit Blocks": 20,
                    "Temp Written Blocks": 12,
                    "Plans": [
                        {
                            "Node Type": "Seq Scan",
                            "Parent Relationship": "Outer",
                            "Relation Name": "customers",
                            "Alias": "c",
                            "Startup Cost": 0.0,
                            "Total Cost": 20.0,
                            "Plan Rows": 1000,
                            "Plan Width": 8,
                            "Actual Startup Time": 0.01,
                            "Actual Total Time": 1.5,
                            "Actual Rows": 1000,
                            "Actual Loops": 1,
                            "Shared Hit Blocks": 20,
                        }
                    ],
                },
            ],
        },
        "Planning Time": 0.25,
        "Execution Time": 10.5,
        "Settings": {"work_mem": "64kB"},
    }
]


def test_text_at_a_fixed_width() -> None:
    # Own times: join 10 - 6 - 2 = 2 ms, hash 2 - 1.5 = 0.5 ms; shares of the 10.5 ms total.
    expected = """\
Execution 10.50 ms · Planning 0.250 ms
Hottest node: Seq Scan on orders o, 6.000 ms (57%) of its own
Settings changed: work_mem = 64kB
 own ms  share  rows actual / est.   estimate  hit / read  node
* 2.000    19%         2,500 / 100  under 25x       0 / 0  Hash Join
* 6.000    57%       5,000 / 5,000                40 / 10    -> Seq Scan on orders o
  0.500   4.8%       1,000 / 1,000                  0 / 0    -> Hash [Hash Batches 4 (pla…
  1.500    14%       1,000 / 1,000                 20 / 0      -> Seq Scan on customers c"""
    assert plan_text(parse_plan(SMALL_PLAN), width=90) == expected


def test_narrow_text_drops_columns_before_the_tree() -> None:
    expected = """\
Execution 10.50 ms · Planning 0.250 ms
Hottest node: Seq Scan on orders o, 6.000 ms (57%) of its
own
Settings changed: work_mem = 64kB
 own ms  share  rows actual / est.  node
* 2.000    19%         2,500 / 100  Hash Join [under 25x]
* 6.000    57%       5,000 / 5,000    -> Seq Scan on orders…
  0.500   4.8%       1,000 / 1,000    -> Hash [Hash Batches…
  1.500    14%       1,000 / 1,000      -> Seq Scan on cust…"""
    assert plan_text(parse_plan(SMALL_PLAN), width=60) == expected


def test_text_without_analyze() -> None:
    raw = copy.deepcopy(SMALL_PLAN)
    del raw[0]["Planning Time"], raw[0]["Execution Time"]
    stack: list[dict[str, Any]] = [raw[0]["Plan"]]
    while stack:
        node = stack.pop()
        stack.extend(node.get("Plans", []))
        for key in [k for k in node if k.startswith("Actual") or "Removed" in k]:
            del node[key]
    expected = """\
Estimates only (EXPLAIN without ANALYZE): costs are in planner units.
Settings changed: work_mem = 64kB
  cost  est. rows  node
250.00        100  Hash Join
180.00      5,000    -> Seq Scan on orders o
 20.00      1,000    -> Hash [Hash Batches 4 (planned 1)]
 20.00      1,000      -> Seq Scan on customers c"""
    assert plan_text(parse_plan(raw), width=90) == expected


def test_plan_displays_through_its_mimebundle() -> None:
    plan = parse_plan(SMALL_PLAN)
    bundle = plan._repr_mimebundle_()
    assert bundle["text/plain"] == plan_text(plan)
    assert parse_html(bundle["text/html"]).find("nx-plan")
