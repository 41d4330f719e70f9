"""EXPLAIN (FORMAT JSON) output as typed objects, with the numbers people actually need.

PostgreSQL reports each node's times and rows *per loop*, averaged over parallel processes, and
inclusive of everything below it. This module turns that into what a reader wants: totals over
loops, time spent in the node itself (exclusive), how far the planner's estimate was off, and
buffers touched by the node alone. Versions 13 to 18 differ in key names (I/O timing moved to
"Shared I/O Read Time" in 17, rows became fractional in 18); keys this module does not know are
kept in `PlanNode.extra`, so a plan from a newer server parses and nothing is lost.

How exclusive time is computed (the rules of depesz's explain and PEV2, plus two of ours):

- inclusive = actual total time x loops; under a Gather the processes ran at the same time, so
  it is the slowest process's time when VERBOSE listed each worker's (the leader's is the
  rest), else the total divided by the processes (workers launched + leader), as depesz and
  PEV2 do. The average hides a leader that did most of the work while the workers started;
  the slowest process is what the Gather waited for;
- exclusive = inclusive minus the time of what ran inside the node: its children and the
  SubPlans it evaluated;
- an InitPlan runs once, inside the node that first needs its value: the deepest executed node
  that reads it, or that node's nearest ancestor whose time can hold it (an Append pruning
  partitions needs the value before its children run); it is subtracted there;
- a CTE's own subplan (an InitPlan named "CTE x") is paid for by the CTE Scans that read it:
  its time and buffers are subtracted from those scans, the busiest first, none below zero;
- per-loop times are printed to the microsecond, so a node looped 20,000 times at "0.000 ms"
  may hide up to 10 ms: when its children's time lies within that rounding, the node's time is
  raised to it.

Counters: "Rows Removed by ..." are per-loop averages (multiplied by loops here); "Heap
Fetches", "Exact/Lossy Heap Blocks" and buffers are totals already (checked on PG 15 and 18).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, fields
from typing import Any

__all__ = ["Buffers", "Jit", "Plan", "PlanNode", "Trigger", "parse_plan"]

# Keys read into typed fields; every other key of a node lands in `PlanNode.extra`.
_NODE_KEYS = {
    "Node Type",
    "Parent Relationship",
    "Subplan Name",
    "CTE Name",
    "Relation Name",
    "Schema",
    "Alias",
    "Index Name",
    "Join Type",
    "Strategy",
    "Scan Direction",
    "Parallel Aware",
    "Startup Cost",
    "Total Cost",
    "Plan Rows",
    "Plan Width",
    "Actual Startup Time",
    "Actual Total Time",
    "Actual Rows",
    "Actual Loops",
    "Rows Removed by Filter",
    "Rows Removed by Join Filter",
    "Rows Removed by Index Recheck",
    "Filter",
    "Index Cond",
    "Recheck Cond",
    "Join Filter",
    "Hash Cond",
    "Merge Cond",
    "Sort Key",
    "Group Key",
    "Output",
    "Heap Fetches",
    "Sort Method",
    "Sort Space Used",
    "Sort Space Type",
    "Hash Batches",
    "Original Hash Batches",
    "Peak Memory Usage",
    "Disk Usage",
    "Exact Heap Blocks",
    "Lossy Heap Blocks",
    "Workers Planned",
    "Workers Launched",
    "Plans",
}

_BUFFER_KEYS = {
    "shared_hit": "Shared Hit Blocks",
    "shared_read": "Shared Read Blocks",
    "shared_dirtied": "Shared Dirtied Blocks",
    "shared_written": "Shared Written Blocks",
    "local_hit": "Local Hit Blocks",
    "local_read": "Local Read Blocks",
    "local_dirtied": "Local Dirtied Blocks",
    "local_written": "Local Written Blocks",
    "temp_read": "Temp Read Blocks",
    "temp_written": "Temp Written Blocks",
}
# I/O timing: one pair of keys up to PG16, one pair per buffer kind from PG17 on.
_IO_READ_KEYS = (
    "I/O Read Time",
    "Shared I/O Read Time",
    "Local I/O Read Time",
    "Temp I/O Read Time",
)
_IO_WRITE_KEYS = (
    "I/O Write Time",
    "Shared I/O Write Time",
    "Local I/O Write Time",
    "Temp I/O Write Time",
)
_AGGREGATE_NAMES = {
    "Hashed": "HashAggregate",
    "Sorted": "GroupAggregate",
    "Mixed": "MixedAggregate",
}
_BUFFER_RAW_KEYS = {*_BUFFER_KEYS.values(), *_IO_READ_KEYS, *_IO_WRITE_KEYS}


@dataclass(frozen=True)
class Buffers:
    """Blocks (8 kB pages) a node touched, and the time spent reading and writing them."""

    shared_hit: int = 0
    shared_read: int = 0
    shared_dirtied: int = 0
    shared_written: int = 0
    local_hit: int = 0
    local_read: int = 0
    local_dirtied: int = 0
    local_written: int = 0
    temp_read: int = 0
    temp_written: int = 0
    io_read_ms: float = 0.0
    io_write_ms: float = 0.0

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Buffers:
        """Read the buffer keys of a plan node or of the "Planning" section."""
        counts = {name: int(data.get(key, 0) or 0) for name, key in _BUFFER_KEYS.items()}
        return cls(
            **counts,
            io_read_ms=sum(float(data.get(key, 0) or 0) for key in _IO_READ_KEYS),
            io_write_ms=sum(float(data.get(key, 0) or 0) for key in _IO_WRITE_KEYS),
        )

    def __add__(self, other: Buffers) -> Buffers:
        return self._combine(other, lambda a, b: a + b)

    def __sub__(self, other: Buffers) -> Buffers:
        return self._combine(other, lambda a, b: a - b)

    def clamped(self) -> Buffers:
        """The same counts with negatives (from rounding or shared subplans) raised to zero."""
        return self._combine(Buffers(), max)

    def _combine(self, other: Buffers, operation: Callable[[Any, Any], Any]) -> Buffers:
        values: dict[str, Any] = {
            f.name: operation(getattr(self, f.name), getattr(other, f.name)) for f in fields(self)
        }
        return Buffers(**values)

    @property
    def hit(self) -> int:
        """Blocks found in shared or local buffers."""
        return self.shared_hit + self.local_hit

    @property
    def read(self) -> int:
        """Blocks read from the OS (page cache or disk), temp files included."""
        return self.shared_read + self.local_read + self.temp_read

    @property
    def written(self) -> int:
        """Blocks written, temp files included."""
        return self.shared_written + self.local_written + self.temp_written

    @property
    def touched(self) -> int:
        """Every block hit or read."""
        return self.hit + self.read


@dataclass(frozen=True)
class Jit:
    """Just-in-time compilation of the query: how much was compiled and what it cost."""

    functions: int
    generation_ms: float
    inlining_ms: float
    optimization_ms: float
    emission_ms: float
    total_ms: float
    options: dict[str, bool]


@dataclass(frozen=True)
class Trigger:
    """Time spent in one trigger (foreign key checks are triggers too)."""

    name: str
    relation: str | None
    time_ms: float
    calls: int


@dataclass(eq=False)
class PlanNode:
    """One node of a plan; numbers without ANALYZE are None."""

    id: int
    depth: int
    node_type: str
    parent_relationship: str | None = None
    subplan_name: str | None = None
    cte_name: str | None = None
    relation: str | None = None
    schema: str | None = None
    alias: str | None = None
    index: str | None = None
    join_type: str | None = None
    strategy: str | None = None
    scan_direction: str | None = None
    parallel_aware: bool = False
    startup_cost: float = 0.0
    total_cost: float = 0.0
    plan_rows: float = 0.0
    plan_width: int = 0
    actual_startup_ms: float | None = None
    actual_total_ms: float | None = None
    actual_rows: float | None = None
    loops: float | None = None
    rows_removed_by_filter: float | None = None
    rows_removed_by_join_filter: float | None = None
    rows_removed_by_index_recheck: float | None = None
    filter: str | None = None
    index_cond: str | None = None
    recheck_cond: str | None = None
    join_filter: str | None = None
    hash_cond: str | None = None
    merge_cond: str | None = None
    sort_key: tuple[str, ...] = ()
    group_key: tuple[str, ...] = ()
    output: tuple[str, ...] = ()
    heap_fetches: float | None = None
    sort_method: str | None = None
    sort_space_kb: int | None = None
    sort_space_type: str | None = None
    hash_batches: int | None = None
    original_hash_batches: int | None = None
    peak_memory_kb: int | None = None
    disk_usage_kb: int | None = None
    exact_heap_blocks: int | None = None
    lossy_heap_blocks: int | None = None
    workers_planned: int | None = None
    workers_launched: int | None = None
    buffers: Buffers = field(default_factory=Buffers)
    exclusive_buffers: Buffers = field(default_factory=Buffers)
    inclusive_ms: float | None = None
    exclusive_ms: float | None = None
    children: list[PlanNode] = field(default_factory=list, repr=False)
    parent: PlanNode | None = field(default=None, repr=False)
    extra: dict[str, Any] = field(default_factory=dict, repr=False)
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def never_executed(self) -> bool:
        """The executor never ran this node (e.g. the inner side of a join with no outer rows)."""
        return self.loops == 0

    @property
    def total_rows(self) -> float | None:
        """Rows the node returned over all its loops."""
        if self.actual_rows is None or self.loops is None:
            return None
        return self.actual_rows * self.loops

    @property
    def estimated_total_rows(self) -> float:
        """Rows the planner expected over all loops (its estimate is per loop)."""
        return self.plan_rows * (self.loops or 1)

    @property
    def misestimate(self) -> float | None:
        """How many times the planner's row estimate was off (>= 1), per loop.

        None when it cannot be told: without ANALYZE, for a node never executed, for bitmap
        AND/OR nodes (they return a bitmap, never rows), and when a Limit or a semi/anti join
        above stopped the node before it returned all the rows the planner counted on.
        """
        if self.actual_rows is None or self.never_executed or self.node_type in _NO_ROWS:
            return None
        actual, estimated = max(self.actual_rows, 1.0), max(self.plan_rows, 1.0)
        if actual < estimated and _stopped_early(self):
            return None
        return max(actual / estimated, estimated / actual)

    @property
    def misestimate_direction(self) -> str | None:
        """Which way the estimate was off: "under" (more rows came) or "over" (fewer)."""
        factor = self.misestimate
        if factor is None or factor == 1.0 or self.actual_rows is None:
            return None
        return "under" if max(self.actual_rows, 1.0) > max(self.plan_rows, 1.0) else "over"

    @property
    def rows_read(self) -> float | None:
        """Rows the node looked at: returned plus removed by its filters (for scans)."""
        returned = self.total_rows
        if returned is None:
            return None
        removed = (self.rows_removed_by_filter or 0) + (self.rows_removed_by_index_recheck or 0)
        return returned + removed

    @property
    def label(self) -> str:
        """A short human name, as EXPLAIN's text format says it.

        For example "Index Scan using orders_pkey on orders o", "Parallel Seq Scan on orders",
        "Finalize HashAggregate", "Update on orders", "[InitPlan 1] Aggregate".
        """
        parts = [_display_name(self)]
        if self.index:
            parts.append(f"using {self.index}")
        function = self.extra.get("Function Name")
        target = self.relation or self.cte_name or (function if isinstance(function, str) else None)
        if target:
            parts.append(f"on {target}")
            if self.alias and self.alias != target:
                parts.append(self.alias)
        if self.subplan_name:
            parts.insert(0, f"[{self.subplan_name}]")
        return " ".join(parts)

    def walk(self) -> Iterator[PlanNode]:
        """This node and all below it, parents before children."""
        yield self
        for child in self.children:
            yield from child.walk()


@dataclass(eq=False)
class Plan:
    """A parsed plan: its nodes and the statement-level numbers."""

    root: PlanNode
    nodes: list[PlanNode]
    sql: str = ""
    analyzed: bool = False
    server_version_num: int | None = None
    planning_ms: float | None = None
    execution_ms: float | None = None
    planning_buffers: Buffers | None = None
    jit: Jit | None = None
    settings: dict[str, str] = field(default_factory=dict)
    triggers: list[Trigger] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict, repr=False)
    raw: list[dict[str, Any]] = field(default_factory=list, repr=False)

    @property
    def total_ms(self) -> float | None:
        """The server's execution time, else the top node's time."""
        return self.execution_ms if self.execution_ms is not None else self.root.inclusive_ms

    def node(self, node_id: int) -> PlanNode:
        """The node with this preorder id."""
        return self.nodes[node_id]

    def to_json(self) -> str:
        """The raw EXPLAIN JSON, for other tools (PEV2, explain.depesz.com-style viewers)."""
        return json.dumps(self.raw, indent=2)

    def to_text(self, *, width: int = 100) -> str:
        """The plan as an indented text tree."""
        from ._render import plan_text

        return plan_text(self, width=width)

    def _repr_html_(self) -> str:
        from ._render import plan_html

        return plan_html(self)

    def _repr_mimebundle_(self, **_: Any) -> dict[str, str]:
        return {"text/plain": self.to_text(), "text/html": self._repr_html_()}


def parse_plan(
    explain_json: list[Any] | dict[str, Any] | str,
    *,
    sql: str = "",
    server_version_num: int | None = None,
) -> Plan:
    """Parse EXPLAIN (FORMAT JSON) output: the list, its one element, or the JSON text."""
    data: Any = json.loads(explain_json) if isinstance(explain_json, str) else explain_json
    raw = data if isinstance(data, list) else [data]
    if not raw or not isinstance(raw[0], dict) or "Plan" not in raw[0]:
        raise ValueError("not EXPLAIN (FORMAT JSON) output: expected a list holding {'Plan': ...}")
    top: dict[str, Any] = raw[0]
    nodes: list[PlanNode] = []
    root = _parse_node(top["Plan"], nodes, depth=0, parent=None)
    analyzed = root.loops is not None
    _compute_times_and_buffers(nodes, analyzed=analyzed)
    known = {"Plan", "Planning Time", "Execution Time", "Planning", "JIT", "Settings", "Triggers"}
    return Plan(
        root=root,
        nodes=nodes,
        sql=sql,
        analyzed=analyzed,
        server_version_num=server_version_num,
        planning_ms=_float(top.get("Planning Time")),
        execution_ms=_float(top.get("Execution Time")),
        planning_buffers=Buffers.from_json(top["Planning"]) if "Planning" in top else None,
        jit=_parse_jit(top.get("JIT")),
        settings={str(k): str(v) for k, v in (top.get("Settings") or {}).items()},
        triggers=[_parse_trigger(t) for t in top.get("Triggers") or ()],
        extra={k: v for k, v in top.items() if k not in known},
        raw=raw,
    )


def _parse_node(
    data: dict[str, Any], nodes: list[PlanNode], *, depth: int, parent: PlanNode | None
) -> PlanNode:
    loops = _float(data.get("Actual Loops"))
    sort_method, sort_space_kb, sort_space_type = _sort_facts(data)
    node = PlanNode(
        id=len(nodes),
        depth=depth,
        node_type=str(data.get("Node Type", "Unknown")),
        parent_relationship=data.get("Parent Relationship"),
        subplan_name=data.get("Subplan Name"),
        cte_name=data.get("CTE Name"),
        relation=data.get("Relation Name"),
        schema=data.get("Schema"),
        alias=data.get("Alias"),
        index=data.get("Index Name"),
        join_type=data.get("Join Type"),
        strategy=data.get("Strategy"),
        scan_direction=data.get("Scan Direction"),
        parallel_aware=bool(data.get("Parallel Aware", False)),
        startup_cost=float(data.get("Startup Cost", 0.0)),
        total_cost=float(data.get("Total Cost", 0.0)),
        plan_rows=float(data.get("Plan Rows", 0.0)),
        plan_width=int(data.get("Plan Width", 0)),
        actual_startup_ms=_float(data.get("Actual Startup Time")),
        actual_total_ms=_float(data.get("Actual Total Time")),
        actual_rows=_float(data.get("Actual Rows")),
        loops=loops,
        # The "Rows Removed" counters are averaged per loop like the rows are.
        rows_removed_by_filter=_times(data.get("Rows Removed by Filter"), loops),
        rows_removed_by_join_filter=_times(data.get("Rows Removed by Join Filter"), loops),
        rows_removed_by_index_recheck=_times(data.get("Rows Removed by Index Recheck"), loops),
        filter=data.get("Filter"),
        index_cond=data.get("Index Cond"),
        recheck_cond=data.get("Recheck Cond"),
        join_filter=data.get("Join Filter"),
        hash_cond=data.get("Hash Cond"),
        merge_cond=data.get("Merge Cond"),
        sort_key=tuple(data.get("Sort Key") or ()),
        group_key=tuple(data.get("Group Key") or ()),
        output=tuple(data.get("Output") or ()),
        heap_fetches=_float(data.get("Heap Fetches")),  # a total already, unlike the rows
        sort_method=sort_method,
        sort_space_kb=sort_space_kb,
        sort_space_type=sort_space_type,
        hash_batches=_int(data.get("Hash Batches")),
        original_hash_batches=_int(data.get("Original Hash Batches")),
        peak_memory_kb=_int(data.get("Peak Memory Usage")),
        disk_usage_kb=_int(data.get("Disk Usage")),
        exact_heap_blocks=_int(data.get("Exact Heap Blocks")),
        lossy_heap_blocks=_int(data.get("Lossy Heap Blocks")),
        workers_planned=_int(data.get("Workers Planned")),
        workers_launched=_int(data.get("Workers Launched")),
        buffers=Buffers.from_json(data),
        parent=parent,
        extra={k: v for k, v in data.items() if k not in _NODE_KEYS and k not in _BUFFER_RAW_KEYS},
        raw=data,
    )
    nodes.append(node)
    for child in data.get("Plans") or ():
        node.children.append(_parse_node(child, nodes, depth=depth + 1, parent=node))
    return node


def _sort_facts(data: Mapping[str, Any]) -> tuple[str | None, int | None, str | None]:
    """Sort method, space (kB) and "Memory"/"Disk" of a node, the worst process's if parallel.

    A parallel Sort reports the leader's sort at node level and each worker's under
    "Workers"; an Incremental Sort reports its groups ("Full-sort Groups", "Pre-sorted
    Groups") with the methods used and peak space. A spill anywhere counts as a spill.
    """
    sorts: list[tuple[str, int, str]] = []
    for source in [data, *(w for w in data.get("Workers") or () if isinstance(w, dict))]:
        if isinstance(source.get("Sort Method"), str):
            space_type = str(source.get("Sort Space Type") or "Memory")
            sorts.append(
                (source["Sort Method"], _int(source.get("Sort Space Used")) or 0, space_type)
            )
        for key in ("Full-sort Groups", "Pre-sorted Groups"):
            groups = source.get(key)
            if not isinstance(groups, dict):
                continue
            methods = ", ".join(str(m) for m in groups.get("Sort Methods Used") or ())
            for space_type in ("Memory", "Disk"):
                space = groups.get(f"Sort Space {space_type}")
                if isinstance(space, dict):
                    peak = _int(space.get("Peak Sort Space Used")) or 0
                    sorts.append((methods, peak, space_type))
    if not sorts:
        return None, None, None
    method, space, space_type = max(sorts, key=lambda s: (s[2] == "Disk", s[1]))
    return method, space, space_type


def _compute_times_and_buffers(nodes: list[PlanNode], *, analyzed: bool) -> None:
    """Fill inclusive and exclusive time and exclusive buffers, each child charged to its payer.

    A node's time and buffers include whatever ran inside it: its children, the SubPlans it
    evaluates, an InitPlan whose value it was the first to need, and the rows it pulled from a
    CTE. So each node's numbers are charged to the node that paid for them (`_charges`), and a
    node's exclusive share is its own minus what was charged to it.
    """
    if analyzed:
        for node in nodes:
            node.inclusive_ms = _inclusive_ms(node)
    payers = _payers(nodes)
    if analyzed:
        _absorb_rounding(nodes, payers)
    spent_ms = [0.0] * len(nodes)
    spent_buffers = [Buffers()] * len(nodes)
    for node in nodes:
        for payer, share in _charges(node, payers):
            spent_ms[payer.id] += share * (node.inclusive_ms or 0.0)
    for node in nodes:
        for payer, share_buffers in _buffer_charges(node, payers):
            spent_buffers[payer.id] = spent_buffers[payer.id] + share_buffers
    for node in nodes:
        if node.inclusive_ms is not None:
            node.exclusive_ms = max(node.inclusive_ms - spent_ms[node.id], 0.0)
        node.exclusive_buffers = (node.buffers - spent_buffers[node.id]).clamped()


# Who paid for a node that is not an ordinary child: an InitPlan's user, or a CTE's scans.
_Payers = dict[int, list[PlanNode]]


def _payers(nodes: list[PlanNode]) -> _Payers:
    payers: _Payers = {}
    for node in nodes:
        if node.parent is None:
            continue
        if _is_cte_plan(node):
            payers[node.id] = _cte_scans(node, nodes)
        elif node.parent_relationship == "InitPlan":
            payers[node.id] = [_initplan_user(node.parent, node)]
    return payers


def _charges(node: PlanNode, payers: _Payers) -> list[tuple[PlanNode, float]]:
    """(payer, share of the node's time) pairs; shares add up to at most 1."""
    if node.parent is None:
        return []
    if node.id not in payers:
        return [(node.parent, 1.0)]
    scans = payers[node.id]
    if not _is_cte_plan(node):
        return [(scans[0], 1.0)]
    # The first scan to read a CTE row pays for producing it; which one that was is not in the
    # plan, so the CTE's time goes to the slowest scans first, none charged beyond its own time.
    total = node.inclusive_ms or 0.0
    shares: list[tuple[PlanNode, float]] = []
    remaining = total
    for scan in sorted(scans, key=lambda s: -(s.inclusive_ms or 0.0)):
        if remaining <= 0.0 or total <= 0.0:
            break
        taken = min(scan.inclusive_ms or 0.0, remaining)
        shares.append((scan, taken / total))
        remaining -= taken
    return shares


def _buffer_charges(node: PlanNode, payers: _Payers) -> list[tuple[PlanNode, Buffers]]:
    if node.parent is None:
        return []
    if node.id not in payers:
        return [(node.parent, node.buffers)]
    scans = payers[node.id]
    if not _is_cte_plan(node):
        return [(scans[0], node.buffers)]
    # Same rule as for time: the busiest scans absorb the CTE's blocks first.
    charges: list[tuple[PlanNode, Buffers]] = []
    remaining = node.buffers
    for scan in sorted(scans, key=lambda s: -(s.buffers.touched + s.buffers.written)):
        taken = scan.buffers._combine(remaining, min).clamped()
        charges.append((scan, taken))
        remaining = (remaining - taken).clamped()
    return charges


def _absorb_rounding(nodes: list[PlanNode], payers: _Payers) -> None:
    """Raise a node's time to what its children spent when per-loop rounding hid it.

    The server prints per-loop times to the microsecond, so a node run 20,000 times at
    "0.000 ms" may have spent up to 10 ms. When its children's time lies within that rounding,
    the children's total is the better estimate; beyond it, the server's numbers stand. CTEs
    are left out: which scan paid for them is itself an estimate.
    """
    chargers: dict[int, list[PlanNode]] = {node.id: [] for node in nodes}
    for node in nodes:
        if node.parent is not None and not _is_cte_plan(node):
            payer = payers[node.id][0] if node.id in payers else node.parent
            chargers[payer.id].append(node)
    settled: set[int] = set()

    def settle(node: PlanNode) -> None:
        if node.id in settled:
            return
        settled.add(node.id)
        for charger in chargers[node.id]:
            settle(charger)
        if node.inclusive_ms is None or node.loops is None:
            return
        below = sum(charger.inclusive_ms or 0.0 for charger in chargers[node.id])
        if below > node.inclusive_ms:
            slack = 0.0005 * node.loops / _processes(node)
            node.inclusive_ms = min(below, node.inclusive_ms + slack)

    for node in nodes:
        settle(node)


def _cte_scans(cte: PlanNode, nodes: list[PlanNode]) -> list[PlanNode]:
    """The CTE Scans that read `cte`: same name, and no nearer CTE of that name above them."""
    name = (cte.subplan_name or "")[len("CTE ") :]
    scans = []
    for node in nodes:
        if node.node_type != "CTE Scan" or node.cte_name != name or _is_under(node, cte):
            continue
        if _nearest_cte(node, name) is cte:
            scans.append(node)
    return scans


def _nearest_cte(scan: PlanNode, name: str) -> PlanNode | None:
    ancestor = scan.parent
    while ancestor is not None:
        for child in ancestor.children:
            if _is_cte_plan(child) and child.subplan_name == f"CTE {name}":
                return child
        ancestor = ancestor.parent
    return None


def _initplan_user(owner: PlanNode, initplan: PlanNode) -> PlanNode:
    """The node whose time holds the InitPlan's: where its value was first needed.

    That is the deepest executed node under `owner` whose expressions read the value, or, when
    that node's own time is too short to hold the InitPlan (the value was needed first by an
    ancestor, e.g. an Append pruning partitions at run time), its nearest ancestor that can.
    """
    name = initplan.subplan_name or ""
    # "InitPlan 2 (returns $1)" up to PG 17, read as $1; "InitPlan 2" from PG 18, read as
    # "(InitPlan 2).col1".
    returned = re.findall(r"\$\d+", name)
    patterns = [re.escape(param) + r"(?!\d)" for param in returned]
    if not returned and name:
        patterns.append(re.escape(f"({name})"))
    if not patterns:
        return owner
    reads = re.compile("|".join(patterns))
    user = owner
    for node in owner.walk():
        if node is initplan or _is_under(node, initplan) or node.never_executed:
            continue
        if node.depth > user.depth and any(reads.search(text) for text in _expressions(node)):
            user = node
    needed = initplan.inclusive_ms or 0.0
    while user is not owner and user.parent is not None:
        slack = 0.0005 * (user.loops or 1) / _processes(user)
        if (user.inclusive_ms or 0.0) + slack >= needed:
            break
        user = user.parent
    return user


def _is_under(node: PlanNode, ancestor: PlanNode) -> bool:
    parent = node.parent
    while parent is not None:
        if parent is ancestor:
            return True
        parent = parent.parent
    return False


def _expressions(node: PlanNode) -> Iterator[str]:
    """Every expression text of a node (conditions, keys, outputs), not its names."""
    for key, value in node.raw.items():
        if key in _NAME_KEYS:
            continue
        if isinstance(value, str):
            yield value
        elif isinstance(value, list):
            yield from (item for item in value if isinstance(item, str))


_NAME_KEYS = {"Node Type", "Subplan Name", "CTE Name", "Relation Name", "Alias", "Index Name"}


def _inclusive_ms(node: PlanNode) -> float | None:
    """Time spent in the node and below it, over all loops, as wall-clock time.

    Under a Gather several processes run the node at once and the server reports the average
    per loop over all of them. With VERBOSE each worker's own numbers are listed, the leader's
    are the rest, and the node took as long as its slowest process; without them, the total
    is divided by the processes that ran it.
    """
    if node.actual_total_ms is None or node.loops is None:
        return None
    total = node.actual_total_ms * node.loops
    if not _under_gather(node):
        return total
    per_worker = [
        float(w["Actual Total Time"]) * float(w["Actual Loops"])
        for w in node.extra.get("Workers") or ()
        if isinstance(w, dict) and "Actual Total Time" in w and "Actual Loops" in w
    ]
    if per_worker:
        return max(total - sum(per_worker), *per_worker)
    return total / _processes(node)


def _under_gather(node: PlanNode) -> bool:
    ancestor = node.parent
    while ancestor is not None:
        if ancestor.node_type in {"Gather", "Gather Merge"}:
            return True
        ancestor = ancestor.parent
    return False


def _processes(node: PlanNode) -> float:
    """How many processes ran this node at once: 1, or the leader plus workers under a Gather."""
    ancestor = node.parent
    while ancestor is not None:
        if ancestor.node_type in {"Gather", "Gather Merge"}:
            workers = node.extra.get("Workers")
            if isinstance(workers, list) and workers and node.loops is not None:
                # VERBOSE lists each worker's loops; whatever is left ran in the leader.
                worker_loops = [_float(w.get("Actual Loops")) or 0.0 for w in workers]
                leader_ran = node.loops - sum(worker_loops) > 0
                return float(max(sum(1 for n in worker_loops if n > 0) + leader_ran, 1))
            launched = ancestor.workers_launched or 0
            # A leader that does not participate leaves loops == workers.
            return float(max(min(launched + 1, node.loops or 1), 1))
        ancestor = ancestor.parent
    return 1.0


def _display_name(node: PlanNode) -> str:
    name = node.node_type
    operation = node.extra.get("Operation")
    if node.node_type == "Aggregate" and node.strategy in _AGGREGATE_NAMES:
        name = _AGGREGATE_NAMES[node.strategy]
    elif node.node_type == "ModifyTable" and isinstance(operation, str):
        name = operation
    elif node.join_type and node.join_type != "Inner" and "Join" in name:
        name = name.replace("Join", f"{node.join_type} Join")
    elif node.join_type and node.join_type != "Inner" and name == "Nested Loop":
        name = f"Nested Loop {node.join_type} Join"
    partial_mode = node.extra.get("Partial Mode")
    if isinstance(partial_mode, str) and partial_mode != "Simple":
        name = f"{partial_mode} {name}"
    if node.parallel_aware:
        name = f"Parallel {name}"
    if node.scan_direction == "Backward":
        name = f"{name} Backward"
    return name


# Nodes that read all their input before returning a row: nothing above them can stop their
# children early.
_BLOCKING = {"Sort", "Hash"}
_BLOCKING_STRATEGIES = {"Plain", "Hashed"}  # of Aggregate and SetOp
_NO_ROWS = {"BitmapAnd", "BitmapOr"}


def _stopped_early(node: PlanNode) -> bool:
    """Whether a Limit or the inner side of a semi/anti join may have cut this node short."""
    child, parent = node, node.parent
    while parent is not None:
        if child.parent_relationship in {"InitPlan", "SubPlan"}:
            return False
        if parent.node_type == "Limit":
            return True
        if (
            parent.node_type == "Nested Loop"
            and parent.join_type in {"Semi", "Anti"}
            and child.parent_relationship == "Inner"
        ):
            return True
        if parent.node_type in _BLOCKING or (
            parent.node_type in {"Aggregate", "SetOp"} and parent.strategy in _BLOCKING_STRATEGIES
        ):
            return False
        child, parent = parent, parent.parent
    return False


def _is_cte_plan(node: PlanNode) -> bool:
    return bool(node.subplan_name and node.subplan_name.startswith("CTE "))


def _parse_jit(data: Any) -> Jit | None:
    if not isinstance(data, dict):
        return None
    timing = data.get("Timing") or {}

    def ms(key: str) -> float:
        value = timing.get(key, 0.0)
        # PG17 split "Generation" into {"Deform": .., "Total": ..}; older servers give a number.
        if isinstance(value, dict):
            return float(value.get("Total", 0.0))
        return float(value or 0.0)

    return Jit(
        functions=int(data.get("Functions", 0)),
        generation_ms=ms("Generation"),
        inlining_ms=ms("Inlining"),
        optimization_ms=ms("Optimization"),
        emission_ms=ms("Emission"),
        total_ms=ms("Total"),
        options={str(k): bool(v) for k, v in (data.get("Options") or {}).items()},
    )


def _parse_trigger(data: dict[str, Any]) -> Trigger:
    return Trigger(
        name=str(data.get("Trigger Name", "")),
        relation=data.get("Relation"),
        time_ms=float(data.get("Time", 0.0)),
        calls=int(data.get("Calls", 0)),
    )


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


def _int(value: Any) -> int | None:
    return None if value is None else int(value)


def _times(value: Any, loops: float | None) -> float | None:
    if value is None:
        return None
    return float(value) * (loops if loops else 1.0)
