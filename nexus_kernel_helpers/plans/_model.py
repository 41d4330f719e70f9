"""EXPLAIN (FORMAT JSON) output as typed objects, with the numbers people actually need.

PostgreSQL reports each node's times and rows *per loop*, averaged over parallel processes, and
inclusive of everything below it. This module turns that into what a reader wants: totals over
loops, time spent in the node itself (exclusive), how far the planner's estimate was off, and
buffers touched by the node alone. Versions 13 to 18 differ in key names (I/O timing moved to
"Shared I/O Read Time" in 17, rows became fractional in 18); keys this module does not know are
kept in `PlanNode.extra`, so a plan from a newer server parses and nothing is lost.

How exclusive time is computed (the rules depesz's explain and PEV2 use):

- inclusive = actual total time x loops; under a Gather the loops are the parallel processes,
  which ran at the same time, so it is divided by the processes (workers launched + leader);
- exclusive = inclusive minus the children's inclusive time;
- a CTE's own subplan (an InitPlan named "CTE x") is paid for by the CTE Scans that read it, so
  it is subtracted from those scans and not from the node it hangs under.
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
        """How many times the planner's row estimate was off (>= 1), per loop."""
        if self.actual_rows is None or self.never_executed:
            return None
        actual, estimated = max(self.actual_rows, 1.0), max(self.plan_rows, 1.0)
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
        """A short human name: "Index Scan using orders_pkey on orders o"."""
        name = self.node_type
        if self.node_type == "Aggregate" and self.strategy in _AGGREGATE_NAMES:
            name = _AGGREGATE_NAMES[self.strategy]
        elif self.join_type and self.join_type != "Inner" and "Join" in name:
            name = name.replace("Join", f"{self.join_type} Join")
        elif self.join_type and self.join_type != "Inner" and name == "Nested Loop":
            name = f"Nested Loop {self.join_type} Join"
        parts = [name]
        if self.index:
            parts.append(f"using {self.index}")
        if self.relation:
            parts.append(f"on {self.relation}")
            if self.alias and self.alias != self.relation:
                parts.append(self.alias)
        elif self.cte_name:
            parts.append(f"on {self.cte_name}")
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
    if analyzed:
        _compute_times(nodes)
    _compute_exclusive_buffers(nodes)
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
        sort_method=data.get("Sort Method"),
        sort_space_kb=_int(data.get("Sort Space Used")),
        sort_space_type=data.get("Sort Space Type"),
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


def _compute_times(nodes: list[PlanNode]) -> None:
    for node in nodes:
        if node.actual_total_ms is None or node.loops is None:
            continue
        node.inclusive_ms = node.actual_total_ms * node.loops / _processes(node)
    ctes = {(node.subplan_name or "")[4:]: node for node in nodes if _is_cte_plan(node)}
    # An InitPlan runs once, inside whichever node first needs its value; when that is a node
    # below the one it hangs under, that node's time already holds it.
    charged_to = {
        child.id: _initplan_user(node, child)
        for node in nodes
        for child in node.children
        if child.parent_relationship == "InitPlan" and not _is_cte_plan(child)
    }
    for node in nodes:
        if node.inclusive_ms is None:
            continue
        spent_below = sum(
            child.inclusive_ms or 0.0
            for child in node.children
            if not _is_cte_plan(child) and charged_to.get(child.id, node) is node
        )
        spent_below += sum(
            initplan.inclusive_ms or 0.0
            for initplan_id, user in charged_to.items()
            if user is node and (initplan := nodes[initplan_id]).parent is not node
        )
        if node.node_type == "CTE Scan" and node.cte_name in ctes:
            # The first scan to read a row pays for producing it; we cannot tell which scan
            # did, so each scan is charged at most its own time.
            spent_below += ctes[node.cte_name].inclusive_ms or 0.0
        node.exclusive_ms = max(node.inclusive_ms - spent_below, 0.0)


def _initplan_user(owner: PlanNode, initplan: PlanNode) -> PlanNode:
    """The deepest node under `owner` whose expressions read the InitPlan's value."""
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
        if node is initplan or _is_under(node, initplan):
            continue
        if node.depth > user.depth and any(reads.search(text) for text in _expressions(node)):
            user = node
    return user


def _is_under(node: PlanNode, ancestor: PlanNode) -> bool:
    parent = node.parent
    while parent is not None:
        if parent is ancestor:
            return True
        parent = parent.parent
    return False


def _expressions(node: PlanNode) -> Iterator[str]:
    for text in (node.filter, node.index_cond, node.recheck_cond, node.join_filter):
        if text:
            yield text
    for text in (node.hash_cond, node.merge_cond, node.extra.get("One-Time Filter")):
        if isinstance(text, str):
            yield text
    yield from node.output


def _processes(node: PlanNode) -> float:
    """How many processes ran this node at once: 1, or the leader plus workers under a Gather."""
    ancestor = node.parent
    while ancestor is not None:
        if ancestor.node_type in {"Gather", "Gather Merge"}:
            launched = ancestor.workers_launched or 0
            # A leader that does not participate leaves loops == workers.
            return float(max(min(launched + 1, node.loops or 1), 1))
        ancestor = ancestor.parent
    return 1.0


def _is_cte_plan(node: PlanNode) -> bool:
    return bool(node.subplan_name and node.subplan_name.startswith("CTE "))


def _compute_exclusive_buffers(nodes: list[PlanNode]) -> None:
    for node in nodes:
        below = Buffers()
        for child in node.children:
            if not _is_cte_plan(child):
                below = below + child.buffers
        node.exclusive_buffers = (node.buffers - below).clamped()


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
