"""Two plans compared in words: what the planner changed, and what it cost.

Nodes are aligned by what they are (node type, relation, index), never by position: an index
that removes a Sort shifts every position below it, and a positional diff then reports every
node as changed. Nodes with the same key are paired in plan order; a scan of a relation that
lost its partner is paired with the new scan of the same relation ("Seq Scan on orders ->
Index Scan using ... on orders"); what is left is "only before" or "only after".

Buffers come first, then time: pages touched are what the plan change actually saves, and
they do not depend on what else the machine was doing.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from ._model import Buffers, Plan, PlanNode

__all__ = [
    "PlanDiff",
    "diff_plans",
    "format_bytes",
    "format_count",
    "format_ms",
    "node_summary",
]

MAX_NODE_LINES = 20
# A matched node is worth a line when its rows or loops changed at least this many times.
_NOTABLE_FACTOR = 2.0

_Key = tuple[str, str | None, str | None]


@dataclass(frozen=True)
class PlanDiff:
    """The differences between two plans, one sentence per line."""

    lines: list[str] = field(default_factory=list)

    def to_text(self) -> str:
        """The lines as a bulleted plain-text list."""
        return "\n".join(f"- {line}" for line in self.lines)

    def __bool__(self) -> bool:
        return bool(self.lines)


def diff_plans(before: Plan, after: Plan) -> PlanDiff:
    """Describe how `after` differs from `before`: nodes, buffers, time, settings."""
    lines = _node_lines(before, after)
    lines += _buffer_lines(before, after)
    lines += _time_lines(before, after)
    lines += _settings_lines(before.settings, after.settings)
    lines += _jit_lines(before, after)
    return PlanDiff(lines)


# -- nodes -----------------------------------------------------------------------------------


def _key(node: PlanNode) -> _Key:
    return (node.node_type, node.relation or node.cte_name, node.index)


def _node_lines(before: Plan, after: Plan) -> list[str]:
    pairs, only_before, only_after = _align(before.nodes, after.nodes)
    replaced, only_before, only_after = _pair_by_relation(only_before, only_after)
    lines = [f"{node_summary(old)} → {node_summary(new)}" for old, new in replaced]
    changed = [line for old, new in pairs if (line := _changed_line(old, new))]
    lines += changed
    lines += [f"only before: {node_summary(node)}" for node in only_before]
    lines += [f"only after: {node_summary(node)}" for node in only_after]
    if len(lines) > MAX_NODE_LINES:
        hidden = len(lines) - MAX_NODE_LINES + 1
        lines = [*lines[: MAX_NODE_LINES - 1], f"... and {hidden} more node differences"]
    unchanged = len(pairs) - len(changed)
    if not lines:
        lines.append(f"same plan shape ({len(pairs)} node{'s' if len(pairs) != 1 else ''})")
    elif unchanged:
        lines.append(f"{unchanged} other node{'s' if unchanged != 1 else ''} unchanged")
    return lines


def _align(
    before: list[PlanNode], after: list[PlanNode]
) -> tuple[list[tuple[PlanNode, PlanNode]], list[PlanNode], list[PlanNode]]:
    """Pair nodes with the same key, in plan order; return the pairs and the leftovers."""
    waiting: dict[_Key, list[PlanNode]] = defaultdict(list)
    for node in after:
        waiting[_key(node)].append(node)
    pairs: list[tuple[PlanNode, PlanNode]] = []
    only_before: list[PlanNode] = []
    for node in before:
        candidates = waiting.get(_key(node))
        if candidates:
            pairs.append((node, candidates.pop(0)))
        else:
            only_before.append(node)
    paired = {id(new) for _, new in pairs}
    return pairs, only_before, [node for node in after if id(node) not in paired]


def _pair_by_relation(
    only_before: list[PlanNode], only_after: list[PlanNode]
) -> tuple[list[tuple[PlanNode, PlanNode]], list[PlanNode], list[PlanNode]]:
    """A scan of a relation that changed type or index, paired with its replacement."""
    waiting: dict[str, list[PlanNode]] = defaultdict(list)
    for node in only_after:
        if node.relation:
            waiting[node.relation].append(node)
    replaced: list[tuple[PlanNode, PlanNode]] = []
    left_before: list[PlanNode] = []
    for node in only_before:
        candidates = waiting.get(node.relation or "")
        if node.relation and candidates:
            replaced.append((node, candidates.pop(0)))
        else:
            left_before.append(node)
    paired = {id(new) for _, new in replaced}
    return replaced, left_before, [node for node in only_after if id(node) not in paired]


def node_summary(node: PlanNode) -> str:
    """A node as a phrase: "Seq Scan on orders (1.2 M rows read, 99.9% removed by filter)"."""
    return f"{node.label} ({', '.join(_node_facts(node))})"


def _node_facts(node: PlanNode) -> list[str]:
    facts: list[str] = []
    rows = node.total_rows
    if node.never_executed:
        return ["never executed"]
    if rows is None:
        facts.append(f"{format_count(node.plan_rows)} rows estimated")
    else:
        removed = (node.rows_removed_by_filter or 0) + (node.rows_removed_by_index_recheck or 0)
        read = rows + removed
        if removed and read:
            facts.append(f"{format_count(read)} rows read")
            facts.append(f"{_share(removed, read)} removed by filter")
        else:
            facts.append(f"{format_count(rows)} row{'s' if round(rows) != 1 else ''}")
        # A parallel-aware node's loops are the processes that shared it, not repetitions.
        if node.loops and node.loops > 1 and not node.parallel_aware:
            facts.append(f"{format_count(node.loops)} loops")
    if node.heap_fetches:
        facts.append(f"{format_count(node.heap_fetches)} heap fetches")
    if node.sort_method:
        space = f" {format_bytes((node.sort_space_kb or 0) * 1024)}" if node.sort_space_kb else ""
        facts.append(f"{node.sort_method}{' on disk' if node.sort_space_type == 'Disk' else ''}"
                     f"{space}")  # fmt: skip
    if node.hash_batches and node.hash_batches > 1:
        facts.append(f"{node.hash_batches} hash batches")
    if node.lossy_heap_blocks:
        facts.append(f"{format_count(node.lossy_heap_blocks)} lossy blocks")
    if node.workers_planned is not None:
        facts.append(f"{node.workers_launched or 0} of {node.workers_planned} workers")
    if node.inclusive_ms is not None:
        facts.append(format_ms(node.inclusive_ms))
    return facts


def _changed_line(old: PlanNode, new: PlanNode) -> str | None:
    """A line for a matched node whose rows, loops or method changed notably.

    Time alone is not enough: the same node under the same plan varies from run to run, and
    the statement's times are compared separately, with statistics.
    """
    notable = (
        _far_apart(old.total_rows, new.total_rows, floor=10)
        or _far_apart(old.loops, new.loops, floor=2)
        or old.sort_space_type != new.sort_space_type
        or (old.hash_batches or 1) != (new.hash_batches or 1)
        or (old.workers_launched or 0) != (new.workers_launched or 0)
    )
    if not notable:
        return None
    old_facts, new_facts = _node_facts(old), _node_facts(new)
    return f"{old.label}: {', '.join(old_facts)} → {', '.join(new_facts)}"


def _far_apart(old: float | None, new: float | None, *, floor: float) -> bool:
    """Whether two amounts differ by `_NOTABLE_FACTOR` times, ignoring both below `floor`."""
    if old is None or new is None or max(old, new) < floor:
        return False
    return max(old, new) >= _NOTABLE_FACTOR * max(min(old, new), floor / _NOTABLE_FACTOR)


# -- statement-level numbers -----------------------------------------------------------------


def _buffer_lines(before: Plan, after: Plan) -> list[str]:
    old, new = before.root.buffers, after.root.buffers
    if not before.analyzed and not after.analyzed:
        return []
    parts = [
        _arrow("shared hit", old.shared_hit, new.shared_hit),
        _arrow("shared read", old.shared_read, new.shared_read),
    ]
    if old.shared_dirtied or new.shared_dirtied:
        parts.append(_arrow("dirtied", old.shared_dirtied, new.shared_dirtied))
    if old.temp_read or new.temp_read or old.temp_written or new.temp_written:
        parts.append(_arrow("temp read", old.temp_read, new.temp_read))
        parts.append(_arrow("temp written", old.temp_written, new.temp_written))
    if old.local_hit or new.local_hit or old.local_read or new.local_read:
        parts.append(
            _arrow("local", old.local_hit + old.local_read, new.local_hit + new.local_read)
        )
    line = f"buffers (8 kB pages): {'; '.join(parts)}"
    ratio = _touched_ratio(old, new)
    return [line + (f" ({ratio})" if ratio else "")]


def _touched_ratio(old: Buffers, new: Buffers) -> str:
    before_pages, after_pages = old.touched, new.touched
    if not before_pages or not after_pages:
        return ""
    if max(before_pages, after_pages) < 1.1 * min(before_pages, after_pages):
        return ""
    if before_pages > after_pages:
        return f"{before_pages / after_pages:,.1f}x fewer pages touched"
    return f"{after_pages / before_pages:,.1f}x more pages touched"


def _time_lines(before: Plan, after: Plan) -> list[str]:
    lines = []
    if before.execution_ms is not None and after.execution_ms is not None:
        lines.append(
            "execution time (median run): "
            f"{format_ms(before.execution_ms)} → {format_ms(after.execution_ms)}"
        )
    if before.planning_ms is not None and after.planning_ms is not None:
        line = (
            "planning time (median run): "
            f"{format_ms(before.planning_ms)} → {format_ms(after.planning_ms)}"
        )
        old, new = before.planning_buffers, after.planning_buffers
        if old is not None and new is not None and (old.touched or new.touched):
            line += f" (planning buffers {format_count(old.touched)} → {format_count(new.touched)})"
        lines.append(line)
    return lines


def _settings_lines(before: dict[str, str], after: dict[str, str]) -> list[str]:
    changed = [
        f"{name} {before.get(name, '(default)')} → {after.get(name, '(default)')}"
        for name in sorted(set(before) | set(after))
        if before.get(name) != after.get(name)
    ]
    return [f"settings that differ: {'; '.join(changed)}"] if changed else []


def _jit_lines(before: Plan, after: Plan) -> list[str]:
    if before.jit is None and after.jit is None:
        return []

    def describe(plan: Plan) -> str:
        if plan.jit is None:
            return "none"
        return f"{plan.jit.functions} functions, {format_ms(plan.jit.total_ms)}"

    return [f"JIT: {describe(before)} → {describe(after)}"]


# -- formatting ------------------------------------------------------------------------------


def _arrow(name: str, old: float, new: float) -> str:
    if old == new:
        return f"{name} {format_count(old)} (same)"
    return f"{name} {format_count(old)} → {format_count(new)}"


def format_count(value: float) -> str:
    """A count as people read it: 240, 12,345, 1.2 M (averages over loops rounded)."""
    if abs(value) >= 1_000_000:
        return f"{value / 1_000_000:.1f} M"
    if value == int(value) or abs(value) >= 100:
        return f"{round(value):,}"
    return f"{value:,.1f}"


def _share(part: float, whole: float) -> str:
    """A percentage that never rounds a part up to 100% or down to 0%."""
    share = part / whole
    if part < whole and share > 0.999:
        return ">99.9%"
    if part > 0 and share < 0.001:
        return "<0.1%"
    return f"{share:.1%}"


def format_ms(value: float) -> str:
    """A duration with the precision that matters at its size."""
    if value >= 10_000:
        return f"{value / 1000:.1f} s"
    if value >= 1000:
        return f"{value / 1000:.2f} s"
    if value >= 100:
        return f"{value:.0f} ms"
    if value >= 10:
        return f"{value:.1f} ms"
    if value >= 1:
        return f"{value:.2f} ms"
    return f"{value:.3f} ms"


def format_bytes(value: float) -> str:
    """A size in B, kB, MB, GB (powers of 1024, as PostgreSQL's pg_size_pretty)."""
    for unit in ("B", "kB", "MB", "GB"):
        if abs(value) < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TB"  # pragma: no cover - the loop returns at GB
