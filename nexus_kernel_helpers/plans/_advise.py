"""The advisor: rules over a parsed plan, and index ideas that are measured before they are told.

`advise_plan(plan)` is pure and offline: the same plan gives the same findings, word for word.
Each rule looks at the numbers the model computed (exclusive time, misestimates, rows removed,
spills, heap fetches, loops, workers, JIT) and says what it saw, why it matters and what to try.

`advise(db, sql)` adds the database: it explains the query through the sandbox, runs the rules,
builds index candidates (`_candidates`), and measures each one with `compare()` inside a what-if
transaction that is rolled back, so no index ever persists. Only candidates that the comparison
found faster are suggested, with the measured speedup, its interval and the index size; the rest
are listed as tried, with their numbers. A measurement with no verdict but a median speedup of
1.5x or more is repeated once with twice the runs, and only the repeat counts (a busy machine
widens intervals). When the best index helps and one on another table did not, the two are
measured together, and the pair is suggested if it beats the best one alone.

Rules (`Finding.rule`): no-analyze, no-buffers, no-io-timing, hot-node, misestimate,
seq-scan-filter, filter-waste, sort-spill, hash-spill, hashagg-spill, storage-spill,
lossy-bitmap, heap-fetches, nested-loop, workers-short, jit-overhead, slow-trigger.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from html import escape
from typing import TYPE_CHECKING, Any

from .. import _html
from ..errors import ConfigurationError, NexusError
from ._candidates import (
    CandidateSet,
    IndexCandidate,
    index_candidates,
    predicates_of,
    quote_identifier,
    read_catalog,
)
from ._diff import format_bytes, format_count, format_ms
from ._model import Plan, PlanNode, parse_plan

if TYPE_CHECKING:
    from ..postgres import Database
    from ._compare import Comparison

__all__ = ["SEVERITIES", "Advice", "Finding", "IndexSuggestion", "advise", "advise_plan"]

SEVERITIES = ("high", "medium", "low")
HOT_SHARE = 0.3  # a node spending this share of the time by itself is worth naming
MISESTIMATE_FACTOR = 10.0
MISESTIMATE_MIN_ROWS = 100.0  # off by 10x on 3 rows does not matter
SELECTIVE = 0.1  # a scan keeping at most this share of the rows it reads is selective
MIN_ROWS_READ = 1_000
WASTE_RATIO = 10.0  # "rows removed >> rows returned"
MANY_LOOPS = 1_000
HEAP_FETCH_SHARE = 0.1
JIT_SHARE = 0.2
TRIGGER_SHARE = 0.2
_BITMAP_ENTRY_BYTES = 64  # a TID bitmap page entry plus its hash slot (tidbitmap.c)
_DEFAULT_WORK_MEM = "4MB"
MIN_RUNS = 3  # compare() needs this many runs per side for an interval
SECOND_LOOK_SPEEDUP = 1.5  # an inconclusive median this good is measured once more, longer
NOTICEABLE_MS = 1.0  # below this a node is not "high", whatever its share


@dataclass(frozen=True)
class Finding:
    """What one rule saw at one node (None: the whole plan), why it matters, and what to try."""

    rule: str
    severity: str  # "high" | "medium" | "low"
    node_id: int | None
    title: str
    detail: str
    fix: str
    impact: float = 0.0  # milliseconds at stake, to order findings of the same severity

    @property
    def rank(self) -> int:
        """0 for high, 1 for medium, 2 for low: sort by it."""
        return SEVERITIES.index(self.severity)


@dataclass(frozen=True)
class IndexSuggestion:
    """An index candidate and what measuring it showed."""

    ddl: str
    table: str
    columns: tuple[str, ...]
    include: tuple[str, ...]
    where: str | None
    verified: bool
    speedup: float | None
    ci_low: float | None
    ci_high: float | None
    index_size_bytes: int | None
    comparison: Comparison | None = field(default=None, repr=False)
    note: str = ""
    reason: str = ""
    before_ms: float | None = None
    after_ms: float | None = None
    together: tuple[str, ...] = ()  # other indexes present while this one was measured

    @property
    def outcome(self) -> str:
        """The measurement in one line: "3.2x faster (95% CI 2.9x to 3.6x), 240.0 kB"."""
        parts = []
        if self.speedup is not None:
            interval = ""
            if self.ci_low is not None and self.ci_high is not None:
                interval = f" (95% CI {self.ci_low:,.2f}x to {self.ci_high:,.2f}x)"
            parts.append(f"{self.speedup:,.2f}x{interval}")
        if self.before_ms is not None and self.after_ms is not None:
            parts.append(f"median {format_ms(self.before_ms)} → {format_ms(self.after_ms)}")
        if self.index_size_bytes is not None:
            parts.append(f"index {format_bytes(self.index_size_bytes)}")
        if self.note:
            parts.append(self.note)
        return "; ".join(parts)


@dataclass(eq=False)
class Advice:
    """Findings on a query's plan, and index suggestions proven by measurement.

    `suggestions` were measured faster; `tried` were measured and were not (or failed);
    `candidates` are every index idea, measured or not (all of them when verify=False).
    """

    sql: str
    plan: Plan
    findings: list[Finding]
    suggestions: list[IndexSuggestion] = field(default_factory=list)
    tried: list[IndexSuggestion] = field(default_factory=list)
    candidates: list[IndexCandidate] = field(default_factory=list)
    covered: list[tuple[IndexCandidate, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    verified: bool = True

    def to_markdown(self) -> str:
        """The advice as Markdown, to paste into a pull request or an issue."""
        lines = ["## Query advice", "", "```sql", self.sql.strip(), "```", ""]
        lines += [f"_{_plan_summary(self.plan)}_", ""]
        lines += ["### Findings", ""]
        if not self.findings:
            lines.append("No rule found anything to fix in this plan.")
        for number, finding in enumerate(self.findings, start=1):
            where = f" (node {finding.node_id})" if finding.node_id is not None else ""
            lines.append(f"{number}. **[{finding.severity}] {finding.title}**{where}  ")
            lines.append(f"   {finding.detail}  ")
            lines.append(f"   Fix: {finding.fix}")
        lines += ["", *self._index_markdown()]
        if self.notes:
            lines += ["", "### Notes", "", *(f"- {note}" for note in self.notes)]
        return "\n".join(lines).rstrip() + "\n"

    def _index_markdown(self) -> list[str]:
        lines = ["### Indexes", ""]
        if not self.verified:
            lines.append("Not measured (verify=False): ideas to try with `compare()`.")
            lines += [f"- `{c.ddl}` ({c.reason})" for c in self.candidates]
            return lines or ["### Indexes", "", "No index idea for this plan."]
        if self.suggestions:
            lines.append("Verified in a rolled-back what-if, measured with `compare()`:")
            lines += [f"- `{s.ddl}`{_with(s)}: **{s.outcome}**" for s in self.suggestions]
        else:
            lines.append("No index was measured faster.")
        if self.tried:
            lines += ["", "Tried, not worth it:"]
            lines += [f"- `{s.ddl}`: {s.outcome}" for s in self.tried]
        if self.covered:
            lines += ["", "Already served by an existing index:"]
            lines += [f"- `{c.ddl}`: {name}" for c, name in self.covered]
        measured = {s.ddl for s in (*self.suggestions, *self.tried)}
        untried = [c for c in self.candidates if c.ddl not in measured]
        if untried:
            lines += ["", "Not measured (beyond max_candidates):"]
            lines += [f"- `{c.ddl}`" for c in untried]
        return lines

    def to_text(self) -> str:
        """Plain text for terminals and text/plain output."""
        lines = [f"Query advice: {_plan_summary(self.plan)}"]
        for finding in self.findings:
            where = f" [node {finding.node_id}]" if finding.node_id is not None else ""
            lines.append(f"- {finding.severity.upper()}: {finding.title}{where}")
            lines.append(f"    {finding.detail}")
            lines.append(f"    fix: {finding.fix}")
        if not self.findings:
            lines.append("- no findings")
        for suggestion in self.suggestions:
            lines.append(f"+ {suggestion.ddl}{_with(suggestion)}")
            lines.append(f"    verified: {suggestion.outcome}")
        for suggestion in self.tried:
            lines.append(f"~ {suggestion.ddl}")
            lines.append(f"    tried, not worth it: {suggestion.outcome}")
        if not self.verified:
            lines += [f"? {c.ddl} (not measured)" for c in self.candidates]
        lines += [f"note: {note}" for note in self.notes]
        return "\n".join(lines)

    def __repr__(self) -> str:
        return self.to_text()

    def _repr_html_(self) -> str:
        return self._html()

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, str]:
        return {"text/plain": self.to_text(), "text/html": self._html()}

    def _html(self) -> str:
        parts = [
            '<div class="nexus-advice">',
            f"<div><b>Query advice</b> · {escape(_plan_summary(self.plan))}</div>",
            f"<pre>{escape(self.sql.strip())}</pre>",
        ]
        rows = [
            (
                f.severity,
                "" if f.node_id is None else str(f.node_id),
                f.title,
                f.detail,
                f.fix,
            )
            for f in self.findings
        ]
        if rows:
            parts.append(_html.table(("severity", "node", "finding", "detail", "fix"), rows))
        else:
            parts.append(_html.paragraph("No rule found anything to fix in this plan."))
        parts.append(self._index_html())
        for note in self.notes:
            parts.append(_html.paragraph(note))
        parts.append(f"<details><summary>Plan</summary>{self.plan._repr_html_()}</details></div>")
        return "".join(parts)

    def _index_html(self) -> str:
        if not self.verified:
            ideas = [(c.ddl, c.reason) for c in self.candidates]
            note = "Not measured (verify=False): ideas to try with compare()."
            return _html.table(("index idea", "why"), ideas, note=note) if ideas else ""
        rows = [(s.ddl + _with(s), "verified faster", s.outcome) for s in self.suggestions]
        rows += [(s.ddl, "tried, not worth it", s.outcome) for s in self.tried]
        rows += [(c.ddl, "already served", name) for c, name in self.covered]
        if not rows:
            return _html.paragraph("No index idea for this plan.")
        note = "Each index was built in a what-if transaction, measured, and rolled back."
        return _html.table(("index", "outcome", "measured"), rows, note=note)


def _with(suggestion: IndexSuggestion) -> str:
    if not suggestion.together:
        return ""
    names = [re.sub(r"^CREATE INDEX (\S+) .*$", r"\1", ddl) for ddl in suggestion.together]
    return f" (together with {', '.join(names)})"


# -- the rules ---------------------------------------------------------------------------------


def advise_plan(plan: Plan) -> list[Finding]:
    """Every rule's findings on `plan`, most severe first, then by the time at stake."""
    context = _Context(plan)
    for rule in _RULES:
        context.found.extend(rule(context))
    return sorted(
        context.found,
        key=lambda f: (f.rank, -f.impact, -1 if f.node_id is None else f.node_id, f.rule),
    )


class _Context:
    """The plan and what several rules need from it."""

    def __init__(self, plan: Plan):
        self.plan = plan
        self.total = plan.total_ms or 0.0
        self.found: list[Finding] = []
        self._candidates: CandidateSet | None = None

    def share(self, milliseconds: float | None) -> float:
        if not milliseconds or self.total <= 0:
            return 0.0
        return min(milliseconds / self.total, 1.0)

    def setting(self, name: str, default: str) -> str:
        return self.plan.settings.get(name, default)

    def candidate_for(self, node: PlanNode) -> IndexCandidate | None:
        """The offline index idea for a node (no catalog: it may exist already)."""
        if self._candidates is None:
            self._candidates = index_candidates(self.plan)
        return next((c for c in self._candidates.candidates if c.node_id == node.id), None)


def _severity(share: float, milliseconds: float | None = None) -> str:
    """High from half of the time (and a millisecond), medium from a fifth, else low."""
    if share >= 0.5:
        return "high" if milliseconds is None or milliseconds >= NOTICEABLE_MS else "medium"
    return "medium" if share >= 0.2 else "low"


def _no_analyze(context: _Context) -> Iterator[Finding]:
    if context.plan.analyzed:
        return
    yield Finding(
        "no-analyze",
        "medium",
        None,
        "The plan has estimates only",
        "EXPLAIN ran without ANALYZE: no actual rows, times, loops or buffers, so the rules"
        " about time, misestimates, spills and wasted rows cannot run.",
        "run EXPLAIN (ANALYZE, BUFFERS): db.explain(sql) does, and rolls back any change",
    )


def _no_buffers(context: _Context) -> Iterator[Finding]:
    plan = context.plan
    if not plan.analyzed or any("Shared Hit Blocks" in node.raw for node in plan.nodes):
        return
    yield Finding(
        "no-buffers",
        "low",
        None,
        "The plan has no buffer counts",
        "Without BUFFERS the plan cannot tell cached reads from disk reads, nor show how many"
        " pages each node touched (compare buffers before time).",
        "add BUFFERS to EXPLAIN ANALYZE (db.explain(sql) does)",
    )


def _no_io_timing(context: _Context) -> Iterator[Finding]:
    plan = context.plan
    if not plan.analyzed or not any("Shared Hit Blocks" in n.raw for n in plan.nodes):
        return
    read = sum(node.exclusive_buffers.read for node in plan.nodes)
    timed = any(
        key.endswith(("I/O Read Time", "I/O Write Time")) for n in plan.nodes for key in n.raw
    )
    if read == 0 or timed:
        return
    yield Finding(
        "no-io-timing",
        "low",
        None,
        f"{_count(read)} blocks were read, but I/O time was not measured",
        "track_io_timing is off, so the plan cannot say how much of the time was spent"
        " waiting for reads.",
        "SET track_io_timing = on (a superuser setting; cheap on most systems) and explain again",
    )


def _hot_nodes(context: _Context) -> Iterator[Finding]:
    if not context.plan.analyzed or context.total <= 0:
        return
    for node in context.plan.nodes:
        share = context.share(node.exclusive_ms)
        if share < HOT_SHARE or node.exclusive_ms is None:
            continue
        others = sorted({f.rule for f in context.found if f.node_id == node.id})
        fix = f"see the {', '.join(others)} finding{'s' if len(others) > 1 else ''} on this node"
        yield Finding(
            "hot-node",
            "medium" if share >= 0.5 else "low",
            node.id,
            f"{node.label} takes {share:.0%} of the time",
            f"{format_ms(node.exclusive_ms)} of {format_ms(context.total)} are spent in this"
            f" node itself ({_rows_text(node)}).",
            fix if others else _hot_fix(node),
            node.exclusive_ms,
        )


def _hot_fix(node: PlanNode) -> str:  # noqa: PLR0911 - one answer per node family
    kind = node.node_type
    joined = node.parent is not None and node.parent.node_type in {
        "Hash",
        "Hash Join",
        "Merge Join",
    }
    if kind in {"Seq Scan", "Parallel Seq Scan"} and not node.filter and joined:
        return (
            "the whole table is read for a join: an index on its join key lets a nested loop"
            " fetch only the matching rows"
        )
    if kind in {"Seq Scan", "Parallel Seq Scan"}:
        return "read fewer rows: an index on the filtered columns, or a narrower query"
    if "Sort" in kind:
        return "an index that returns the rows in order, or fewer rows to sort"
    if kind in {"Hash Join", "Merge Join", "Nested Loop"}:
        return "join fewer rows: filter each side first, or index the join key"
    if kind == "Aggregate":
        return "aggregate fewer rows, or keep the totals ready (a materialized view)"
    if node.index or kind == "Bitmap Heap Scan":
        return (
            "a more selective index reads fewer blocks; one that covers the query's columns"
            " allows an index-only scan"
        )
    if kind in {"Insert", "Update", "Delete", "Merge", "ModifyTable"}:
        return "writing rows costs per row and per index: change fewer rows, or drop unused indexes"
    if kind in {"Gather", "Gather Merge"}:
        return "workers send every row through the leader: return fewer rows from them"
    return "this is where the time goes: make its input smaller"


def _misestimates(context: _Context) -> Iterator[Finding]:
    plan = context.plan
    if not plan.analyzed:
        return
    off = [n for n in plan.nodes if _is_misestimated(n)]
    if not off:
        return
    node = max(off, key=lambda n: (n.depth, -n.id))
    factor = node.misestimate or 1.0
    direction = "under" if node.misestimate_direction == "under" else "over"
    expected = f"expected {_count(node.plan_rows)} rows, got {_count(node.actual_rows or 0)}"
    loops = f" per loop ({_count(node.loops or 0)} loops)" if (node.loops or 0) > 1 else ""
    others = len(off) - 1
    more = (
        f" {others} node{'s' if others > 1 else ''} above it inherit the error." if others else ""
    )
    severity = "high" if factor >= 1000 else "medium" if factor >= 100 else "low"
    yield Finding(
        "misestimate",
        severity,
        node.id,
        f"The planner {direction}estimated {node.label} {_factor(factor)}",
        f"It {expected}{loops}; this is the deepest misestimate, where the error starts."
        f"{more} Wrong row counts lead to wrong join methods and memory sizes.",
        _misestimate_fix(node),
        node.inclusive_ms or 0.0,
    )


def _is_misestimated(node: PlanNode) -> bool:
    factor = node.misestimate
    if factor is None or factor < MISESTIMATE_FACTOR or node.actual_rows is None:
        return False
    biggest = max(node.actual_rows, node.plan_rows) * max(node.loops or 1.0, 1.0)
    return biggest >= MISESTIMATE_MIN_ROWS


def _misestimate_fix(node: PlanNode) -> str:
    conditions = " ".join(t for t in (node.filter, node.index_cond, node.join_filter) if t)
    if re.search(r"InitPlan|SubPlan|\$\d", conditions):
        return (
            "the condition compares to a value known only at run time (a subquery or a"
            " parameter), so the planner used a default guess: compute the value first and"
            " pass it as a constant"
        )
    if node.node_type == "Function Scan":
        return (
            "the planner takes a function's row count from its ROWS setting (1000 by default):"
            " declare ROWS on your own functions, or select from a table instead"
        )
    tables = sorted({n.relation for n in node.walk() if n.relation})
    parts = []
    if tables:
        shown = ", ".join(quote_identifier(t) for t in tables[:3])
        more = f" and {len(tables) - 3} more" if len(tables) > 3 else ""
        parts.append(f"refresh the statistics (ANALYZE {shown}{more})")
    statistics = _statistics_idea(node)
    if statistics:
        parts.append(statistics)
    return "; if that is not enough, ".join(parts) or "check the estimates of its inputs"


def _statistics_idea(node: PlanNode) -> str:
    """Extended statistics for what one scan filters on, or one aggregate groups by."""
    if not node.relation:
        keys = [k.rsplit(".", 1)[-1] for k in node.group_key]
        source = node.children[0] if len(node.children) == 1 else None
        while source is not None and not source.relation and len(source.children) == 1:
            source = source.children[0]
        if len(keys) < 2 or source is None or not source.relation:
            return ""
        return _create_statistics(source.relation, keys, "ndistinct", "groups")
    alias = node.alias or node.relation
    conditions = [t for t in (node.index_cond, node.filter, node.recheck_cond) if t]
    predicates = [p for text in conditions for p in predicates_of(text, alias)]
    own = [p for p in predicates if p.alias == alias and p.kind != "join"]
    expressions = [p.key for p in own if p.expression]
    columns = list(dict.fromkeys(p.key for p in own if not p.expression))
    if len(columns) >= 2:
        return _create_statistics(node.relation, columns, "dependencies, ndistinct, mcv", "filters")
    if expressions:
        target = f"({expressions[0]})"
        name = quote_identifier(_statistics_name(node.relation, ["expr"]))
        table = quote_identifier(node.relation)
        return (
            f"the filter is on an expression the planner cannot estimate: CREATE STATISTICS"
            f" {name} ON {target} FROM {table}; ANALYZE {table} (PostgreSQL 14+)"
        )
    return ""


def _create_statistics(relation: str, columns: Sequence[str], kinds: str, what: str) -> str:
    name = quote_identifier(_statistics_name(relation, columns))
    table = quote_identifier(relation)
    listed = ", ".join(quote_identifier(c) for c in columns)
    return (
        f"the {what} combine correlated columns, which the planner treats as independent:"
        f" CREATE STATISTICS {name} ({kinds}) ON {listed} FROM {table}; ANALYZE {table}"
    )


def _statistics_name(relation: str, columns: Sequence[str]) -> str:
    name = "_".join(["nx", relation, *columns, "stats"])
    return re.sub(r"[^a-z0-9_]+", "_", name.lower())[:63]


def _seq_scan_filters(context: _Context) -> Iterator[Finding]:
    for node in context.plan.nodes:
        if node.node_type not in {"Seq Scan", "Parallel Seq Scan"} or not node.filter:
            continue
        read, returned = node.rows_read, node.total_rows
        if read is None or returned is None:
            continue
        if read < MIN_ROWS_READ or returned > SELECTIVE * read:
            continue
        share = context.share(node.inclusive_ms)
        candidate = context.candidate_for(node)
        fix = (
            f"an index on the filtered columns, e.g. {candidate.ddl}; advise() builds it in a"
            " rolled-back what-if and measures it"
            if candidate
            else "an index on the filtered columns (equality columns before range columns)"
        )
        yield Finding(
            "seq-scan-filter",
            _severity(share, node.inclusive_ms),
            node.id,
            f"{node.label} reads {_count(read)} rows to keep {_count(returned)}",
            f"The filter {_clip(node.filter)} keeps {_percent(returned, read)} of the rows;"
            f" the scan takes {_time_share(node.inclusive_ms, share)}.",
            fix,
            node.inclusive_ms or 0.0,
        )


def _filter_waste(context: _Context) -> Iterator[Finding]:
    for node in context.plan.nodes:
        if node.node_type in {"Seq Scan", "Parallel Seq Scan"}:
            continue  # the seq-scan-filter rule speaks for those
        for removed, condition, kind in (
            (node.rows_removed_by_filter, node.filter, "filter"),
            (node.rows_removed_by_join_filter, node.join_filter, "join filter"),
        ):
            returned = node.total_rows
            if removed is None or returned is None or condition is None:
                continue
            if removed < MIN_ROWS_READ or removed < WASTE_RATIO * max(returned, 1.0):
                continue
            share = context.share(node.exclusive_ms)
            yield Finding(
                "filter-waste",
                _severity(share, node.exclusive_ms),
                node.id,
                f"{node.label} throws away {_count(removed)} rows to keep {_count(returned)}",
                f"The {kind} {_clip(condition)} removes {_percent(removed, removed + returned)}"
                " of the rows this node produced.",
                _waste_fix(node, kind),
                node.exclusive_ms or 0.0,
            )


def _waste_fix(node: PlanNode, kind: str) -> str:
    if kind == "join filter":
        return (
            "turn the join filter into a join condition the join can use (an equality on"
            " indexed columns), or filter each side before joining"
        )
    if node.index:
        return (
            f"add the filtered columns to the index ({node.index} reads rows the filter then"
            " drops): a multi-column index with the equality columns first"
        )
    return "filter earlier (push the condition down), or index the filtered columns"


def _sort_spills(context: _Context) -> Iterator[Finding]:
    for node in context.plan.nodes:
        disk_kb = _sort_disk_kb(node)
        if disk_kb is None:
            continue
        share = context.share(node.exclusive_ms)
        needed = _memory_setting(disk_kb * 2)
        method = node.sort_method or "external sort"
        yield Finding(
            "sort-spill",
            "high" if share >= 0.5 else "medium",
            node.id,
            f"{node.label} spilled {format_bytes(disk_kb * 1024)} to disk",
            f"The sort did not fit in work_mem ({_work_mem(context)}) and used {method};"
            f" it takes {_time_share(node.exclusive_ms, share)}. Sorting in memory needs"
            " roughly twice the size it wrote to disk.",
            f"SET work_mem = '{needed}' for this query (SET LOCAL in a transaction), or an"
            " index that returns rows in the sort order",
            node.exclusive_ms or 0.0,
        )


def _sort_disk_kb(node: PlanNode) -> float | None:
    if node.sort_space_type == "Disk" or (node.sort_method or "").startswith("external"):
        return float(node.sort_space_kb or 0)
    disk = [
        float(worker.get("Sort Space Used", 0))
        for worker in node.extra.get("Workers") or ()
        if isinstance(worker, dict) and worker.get("Sort Space Type") == "Disk"
    ]
    for group in ("Full-sort Groups", "Pre-sorted Groups"):
        space = (node.extra.get(group) or {}).get("Sort Space Disk")
        if isinstance(space, dict):
            disk.append(float(space.get("Peak Sort Space Used", 0)))
    return max(disk) if disk else None


def _hash_spills(context: _Context) -> Iterator[Finding]:
    for node in context.plan.nodes:
        if node.node_type != "Hash" or (node.hash_batches or 1) <= 1:
            continue
        batches = node.hash_batches or 1
        peak = float(node.peak_memory_kb or 0)
        parent = node.parent or node
        share = context.share(parent.exclusive_ms)
        multiplier = _hash_multiplier(context)
        grew = ""
        if node.original_hash_batches and node.original_hash_batches < batches:
            grew = (
                f" The planner planned {node.original_hash_batches} batch"
                f"{'es' if node.original_hash_batches > 1 else ''}: it underestimated the rows."
            )
        yield Finding(
            "hash-spill",
            "high" if share >= 0.5 else "medium",
            node.id,
            f"The hash table of {parent.label} was split into {batches} batches",
            f"It did not fit in work_mem ({_work_mem(context)}) x hash_mem_multiplier"
            f" ({_format_multiplier(multiplier)}); batches are written to temporary files and"
            f" read back.{grew}",
            f"SET work_mem = '{_memory_setting(peak * batches / multiplier)}' for this query,"
            " or hash the smaller input (filter it first)",
            parent.exclusive_ms or 0.0,
        )


def _hashagg_spills(context: _Context) -> Iterator[Finding]:
    for node in context.plan.nodes:
        if node.node_type != "Aggregate" or node.strategy not in {"Hashed", "Mixed"}:
            continue
        batches = int(node.extra.get("HashAgg Batches") or 0)
        disk = float(node.disk_usage_kb or 0)
        if batches <= 1 and disk <= 0:
            continue
        share = context.share(node.exclusive_ms)
        multiplier = _hash_multiplier(context)
        needed = (float(node.peak_memory_kb or 0) + disk) / multiplier
        yield Finding(
            "hashagg-spill",
            "high" if share >= 0.5 else "medium",
            node.id,
            f"{node.label} spilled {format_bytes(disk * 1024)} to disk in {batches} batches",
            f"Its groups did not fit in work_mem ({_work_mem(context)}) x hash_mem_multiplier"
            f" ({_format_multiplier(multiplier)}); it takes"
            f" {_time_share(node.exclusive_ms, share)}.",
            f"SET work_mem = '{_memory_setting(needed)}' for this query, or fewer groups",
            node.exclusive_ms or 0.0,
        )


def _storage_spills(context: _Context) -> Iterator[Finding]:
    """PostgreSQL 17+ reports where Materialize, CTE Scan and WindowAgg kept their rows."""
    for node in context.plan.nodes:
        if node.extra.get("Storage") != "Disk":
            continue
        size = float(node.extra.get("Maximum Storage") or 0)
        share = context.share(node.exclusive_ms)
        yield Finding(
            "storage-spill",
            "medium" if share >= 0.2 else "low",
            node.id,
            f"{node.label} kept {format_bytes(size * 1024)} of rows on disk",
            f"Its tuple store outgrew work_mem ({_work_mem(context)}).",
            f"SET work_mem = '{_memory_setting(size)}' for this query",
            node.exclusive_ms or 0.0,
        )


def _lossy_bitmaps(context: _Context) -> Iterator[Finding]:
    for node in context.plan.nodes:
        if not node.lossy_heap_blocks:
            continue
        pages = (node.exact_heap_blocks or 0) + node.lossy_heap_blocks
        per_loop = pages / max(node.loops or 1.0, 1.0)
        needed = _memory_setting(per_loop * _BITMAP_ENTRY_BYTES / 1024)
        share = context.share(node.exclusive_ms)
        rechecked = node.rows_removed_by_index_recheck or 0
        yield Finding(
            "lossy-bitmap",
            _severity(share, node.exclusive_ms),
            node.id,
            f"{node.label} went lossy on {_count(node.lossy_heap_blocks)} pages",
            f"The bitmap outgrew work_mem ({_work_mem(context)}) and kept whole pages instead"
            f" of rows, so every row on them was rechecked ({_count(rechecked)} removed"
            " by the recheck).",
            f"SET work_mem = '{needed}' for this query (about {_BITMAP_ENTRY_BYTES} bytes per"
            " heap page in the bitmap)",
            node.exclusive_ms or 0.0,
        )


def _heap_fetches(context: _Context) -> Iterator[Finding]:
    for node in context.plan.nodes:
        if node.node_type != "Index Only Scan" or not node.heap_fetches:
            continue
        returned = max(node.total_rows or 0.0, 1.0)
        ratio = node.heap_fetches / returned
        if node.heap_fetches < 100 or ratio < HEAP_FETCH_SHARE:
            continue
        table = quote_identifier(node.relation or "")
        yield Finding(
            "heap-fetches",
            "medium" if ratio >= 0.5 else "low",
            node.id,
            f"{node.label} visited the table {_count(node.heap_fetches)} times",
            "An index-only scan must check the table for rows on pages the visibility map does"
            f" not mark all-visible: {_count(node.heap_fetches)} heap fetches for"
            f" {_count(returned)} rows returned.",
            f"VACUUM (ANALYZE) {table}; if it keeps coming back, vacuum this table more often"
            " (autovacuum_vacuum_scale_factor / autovacuum_vacuum_insert_scale_factor)",
            node.exclusive_ms or 0.0,
        )


def _nested_loops(context: _Context) -> Iterator[Finding]:
    for node in context.plan.nodes:
        if node.node_type != "Nested Loop" or len(node.children) < 2:
            continue
        outer, inner = node.children[0], node.children[1]
        loops = inner.loops or 0
        if loops < MANY_LOOPS:
            continue
        share = context.share(inner.inclusive_ms)
        per_loop = (inner.inclusive_ms or 0.0) / loops
        scanned = _inner_scan(inner)
        hints = []
        # Many cheap index lookups are what a nested loop is for: worth a look, not an alarm.
        severity = "medium" if share >= 0.2 else "low"
        if scanned is not None and scanned.node_type in {"Seq Scan", "Parallel Seq Scan"}:
            severity = _severity(max(share, 0.5), inner.inclusive_ms)
            hints.append(f"index the join key of {scanned.relation}: each loop scans it whole")
        underestimated = (outer.misestimate or 1) >= MISESTIMATE_FACTOR
        if outer.misestimate_direction == "under" and underestimated:
            severity = _severity(share, inner.inclusive_ms)
            hints.append(
                f"the planner expected {_count(outer.estimated_total_rows)} outer rows,"
                f" not {_count(outer.total_rows or 0)}: fix that estimate (ANALYZE,"
                " extended statistics) and it may choose a hash join"
            )
        hints.append(
            "compare it with a hash join: SET enable_nestloop = off in the setup of compare()"
        )
        yield Finding(
            "nested-loop",
            severity,
            node.id,
            f"{node.label} ran its inner side {_count(loops)} times",
            f"{inner.label} ran once per outer row, {_short_ms(per_loop)} each,"
            f" {_time_share(inner.inclusive_ms, share)} in all.",
            "; ".join(hints),
            inner.inclusive_ms or 0.0,
        )


def _inner_scan(node: PlanNode) -> PlanNode | None:
    current: PlanNode | None = node
    while current is not None and current.node_type in {"Memoize", "Materialize"}:
        current = current.children[0] if current.children else None
    return current if current is not None and current.relation else None


def _workers(context: _Context) -> Iterator[Finding]:
    for node in context.plan.nodes:
        planned, launched = node.workers_planned, node.workers_launched
        if planned is None or launched is None or launched >= planned:
            continue
        limit = context.setting("max_parallel_workers", "8")
        yield Finding(
            "workers-short",
            "medium" if launched == 0 else "low",
            node.id,
            f"{node.label} launched {launched} of {planned} planned workers",
            "The pool of parallel workers was used up (by other queries, or set small), so"
            " this query ran with less parallelism than planned.",
            f"raise max_parallel_workers (now {limit}) and max_worker_processes (needs a"
            " restart), or run fewer parallel queries at once",
            node.inclusive_ms or 0.0,
        )


def _jit(context: _Context) -> Iterator[Finding]:
    jit, execution = context.plan.jit, context.plan.execution_ms
    if jit is None or not execution or jit.total_ms <= 0:
        return
    share = jit.total_ms / execution
    if share < JIT_SHARE:
        return
    threshold = context.setting("jit_above_cost", "100000")
    yield Finding(
        "jit-overhead",
        "high" if share >= 0.5 else "medium",
        None,
        f"JIT compilation took {share:.0%} of the execution time",
        f"{format_ms(jit.total_ms)} of {format_ms(execution)} went to compiling"
        f" {jit.functions} functions; a query this short does not win it back. The plan's"
        f" cost ({context.plan.root.total_cost:,.0f}) is above jit_above_cost ({threshold}).",
        "SET jit = off for this query, or raise jit_above_cost (and check the estimates:"
        " an overestimated cost triggers JIT)",
        jit.total_ms,
    )


def _triggers(context: _Context) -> Iterator[Finding]:
    execution = context.plan.execution_ms
    if not execution:
        return
    for trigger in context.plan.triggers:
        share = trigger.time_ms / execution
        if share < TRIGGER_SHARE:
            continue
        on = f" on {trigger.relation}" if trigger.relation else ""
        yield Finding(
            "slow-trigger",
            _severity(share, trigger.time_ms),
            None,
            f"Trigger {trigger.name}{on} took {share:.0%} of the time",
            f"{format_ms(trigger.time_ms)} over {_count(trigger.calls)} calls.",
            _trigger_fix(trigger.name),
            trigger.time_ms,
        )


def _trigger_fix(name: str) -> str:
    if name.startswith("RI_ConstraintTrigger_a"):
        return (
            "a foreign-key action (cascade, or a check that no row still refers): it searches"
            " the referencing table once per changed row; index the referencing columns"
        )
    if name.startswith("RI_ConstraintTrigger"):
        return (
            "a foreign-key check: every new or changed row looks up the key it refers to;"
            " change fewer rows per statement, or accept it as the price of the constraint"
        )
    return (
        "make the trigger function cheaper, or fire it less often (a WHEN clause, or a"
        " statement-level trigger)"
    )


_RULES: tuple[Callable[[_Context], Iterator[Finding]], ...] = (
    _no_analyze,
    _no_buffers,
    _no_io_timing,
    _misestimates,
    _seq_scan_filters,
    _filter_waste,
    _sort_spills,
    _hash_spills,
    _hashagg_spills,
    _storage_spills,
    _lossy_bitmaps,
    _heap_fetches,
    _nested_loops,
    _workers,
    _jit,
    _triggers,
    _hot_nodes,  # last: it points to the other findings on its node
)


# -- formatting --------------------------------------------------------------------------------


def _memory_setting(kilobytes: float) -> str:
    """The next power of two in MB at or above `kilobytes` (at least 1MB), as SET writes it."""
    megabytes = max(kilobytes / 1024, 1.0)
    value = 2 ** math.ceil(math.log2(megabytes))
    return f"{value // 1024}GB" if value >= 1024 else f"{value}MB"


def _work_mem(context: _Context) -> str:
    value = context.plan.settings.get("work_mem")
    return value if value else f"{_DEFAULT_WORK_MEM}, the default"


def _hash_multiplier(context: _Context) -> float:
    default = 2.0 if (context.plan.server_version_num or 150000) >= 150000 else 1.0
    try:
        return float(context.setting("hash_mem_multiplier", str(default)))
    except ValueError:
        return default


def _format_multiplier(value: float) -> str:
    return f"{value:g}"


def _factor(factor: float) -> str:
    return f"{factor:,.0f}x" if factor >= 10 else f"{factor:.1f}x"


def _percent(part: float, whole: float) -> str:
    if whole <= 0:
        return "0%"
    share = part / whole
    if 0 < share < 0.001:
        return "<0.1%"
    return f"{share:.1%}" if share < 0.1 else f"{share:.0%}"


def _time_share(milliseconds: float | None, share: float) -> str:
    if milliseconds is None:
        return "an unknown time"
    return f"{format_ms(milliseconds)} ({share:.0%} of the query)"


def _count(value: float) -> str:
    return format_count(round(value))


def _short_ms(value: float) -> str:
    return f"{value * 1000:.1f} µs" if value < 0.01 else format_ms(value)


def _rows_text(node: PlanNode) -> str:
    rows = node.total_rows
    text = f"{_count(rows)} rows" if rows is not None else "rows unknown"
    if (node.loops or 0) > 1:
        text += f" over {_count(node.loops or 0)} loops"
    touched = node.exclusive_buffers.touched
    return text + (f", {_count(touched)} blocks touched" if touched else "")


def _clip(text: str, limit: int = 120) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _plan_summary(plan: Plan) -> str:
    if not plan.analyzed:
        return "estimated plan (no ANALYZE)"
    parts = []
    if plan.execution_ms is not None:
        parts.append(f"execution {format_ms(plan.execution_ms)}")
    if plan.planning_ms is not None:
        parts.append(f"planning {format_ms(plan.planning_ms)}")
    parts.append(f"{len(plan.nodes)} node{'s' if len(plan.nodes) != 1 else ''}")
    return ", ".join(parts)


# -- advise(): rules, candidates, measurement ---------------------------------------------------


def advise(
    db: Database,
    sql: str,
    params: Mapping[str, object] | None = None,
    *,
    verify: bool = True,
    max_candidates: int = 3,
    runs: int = 7,
) -> Advice:
    """Explain `sql` (sandboxed), apply the rules, and prove index ideas by measuring them.

    With `verify`, up to `max_candidates` indexes are each built in a what-if transaction and
    measured with `compare()` (`runs` interleaved runs per side); only those measured faster
    are suggested, the rest are reported as tried. Nothing is ever committed.
    """
    from .. import sandbox
    from ..postgres._placeholders import bind_named

    if max_candidates < 0:
        raise ConfigurationError(f"max_candidates must be 0 or more, not {max_candidates!r}")
    if verify and runs < MIN_RUNS:
        raise ConfigurationError(
            f"runs must be {MIN_RUNS} or more, not {runs!r}",
            fix="a confidence interval needs several runs per side (7 is the default here)",
        )
    result = sandbox.explain(db, sql, params)
    plan = parse_plan(result.plan, sql=result.sql, server_version_num=db.server_version_num)
    findings = advise_plan(plan)
    server_sql = bind_named(sql).server_text
    tables = [(n.relation, n.schema) for n in plan.nodes if n.relation]
    catalog = read_catalog(db, tables)
    found = index_candidates(plan, server_sql, catalog)
    advice = Advice(
        sql=sql,
        plan=plan,
        findings=findings,
        candidates=list(found.candidates),
        covered=list(found.covered),
        notes=list(found.notes),
        verified=verify,
    )
    if not verify:
        return advice
    measured = found.candidates[:max_candidates]
    for candidate in measured:
        suggestion = _measure(db, sql, params, candidate, runs)
        (advice.suggestions if suggestion.verified else advice.tried).append(suggestion)
    advice.suggestions.sort(key=lambda s: -(s.speedup or 0.0))
    combined = _measure_together(db, sql, params, advice, measured=measured, runs=runs)
    if combined is not None:
        advice.suggestions.insert(0, combined)
    return advice


def _measure_together(
    db: Database,
    sql: str,
    params: Mapping[str, object] | None,
    advice: Advice,
    *,
    measured: Sequence[IndexCandidate],
    runs: int,
) -> IndexSuggestion | None:
    """The best index with one on another table that did nothing alone (a join needs both).

    Kept only when the pair is measured faster than the best index was alone.
    """
    if not advice.suggestions:
        return None
    best = advice.suggestions[0]
    tried = {s.ddl for s in advice.tried if s.comparison is not None}
    partner = next(
        (c for c in measured if c.ddl in tried and c.table != best.table),
        None,
    )
    if partner is None:
        return None
    together = _measure(db, sql, params, partner, runs, together=(best.ddl,))
    if not together.verified or together.ci_low is None or best.speedup is None:
        return None
    return together if together.ci_low > best.speedup else None


def _measure(
    db: Database,
    sql: str,
    params: Mapping[str, object] | None,
    candidate: IndexCandidate,
    runs: int,
    *,
    together: tuple[str, ...] = (),
) -> IndexSuggestion:
    """Build the candidate in a what-if, measure it against the query as it is, roll back."""
    from ._compare import compare

    common: dict[str, Any] = {
        "ddl": candidate.ddl,
        "table": candidate.table,
        "columns": candidate.columns,
        "include": candidate.include,
        "where": candidate.where,
        "reason": candidate.reason,
        "together": together,
    }
    setup = [*together, candidate.ddl]
    remeasured = ""
    try:
        comparison = compare(db, sql, setup=setup, params=params, runs=runs)
        if _worth_a_second_look(comparison):
            # A busy machine widens the interval; a promising median earns one new, longer
            # measurement, and only that one counts.
            comparison = compare(db, sql, setup=setup, params=params, runs=runs * 2)
            remeasured = f"measured again with {runs * 2} runs: the first {runs} were inconclusive"
    except NexusError as error:
        return IndexSuggestion(
            **common,
            verified=False,
            speedup=None,
            ci_low=None,
            ci_high=None,
            index_size_bytes=None,
            note=f"could not be measured: {error}",
        )
    verified = comparison.verdict == "faster"
    size = _index_size(db, candidate) if comparison.verdict not in {"failed", "cancelled"} else None
    before, after = comparison.before.summary, comparison.after.summary
    return IndexSuggestion(
        **common,
        verified=verified,
        speedup=comparison.speedup,
        ci_low=comparison.ci_low,
        ci_high=comparison.ci_high,
        index_size_bytes=size,
        comparison=comparison,
        note="; ".join(n for n in (remeasured, "" if verified else _verdict_note(comparison)) if n),
        before_ms=before.median if before else None,
        after_ms=after.median if after else None,
    )


def _worth_a_second_look(comparison: Comparison) -> bool:
    """No verdict, but a median speedup big enough that noise may have hidden it."""
    return (
        comparison.verdict == "no significant difference"
        and (comparison.speedup or 0.0) >= SECOND_LOOK_SPEEDUP
    )


def _verdict_note(comparison: Comparison) -> str:
    """Why a measured index is not suggested, without repeating the numbers shown beside it."""
    verdict = comparison.verdict
    if verdict not in {"faster", "slower", "no significant difference"}:
        return comparison.headline
    server_faster = (comparison.ci_low or 0.0) > 1 + comparison.min_effect
    wall = comparison.wall_speedup
    if verdict != "faster" and server_faster and wall is not None:
        interval = ""
        if comparison.wall_ci_low is not None and comparison.wall_ci_high is not None:
            interval = f", 95% CI {comparison.wall_ci_low:,.2f}x to {comparison.wall_ci_high:,.2f}x"
        return (
            f"{verdict}: faster on the server, but the client's wall time ({wall:,.2f}x"
            f"{interval}) does not confirm it"
        )
    return verdict


def _index_size(db: Database, candidate: IndexCandidate) -> int | None:
    """The new index's size, built again in a what-if of its own (compare() keeps none)."""
    from .. import sandbox

    try:
        with sandbox.what_if(db, candidate.ddl) as trial:
            rows = trial.query(
                "select pg_relation_size(to_regclass(:name))", {"name": candidate.qualified_name}
            ).rows
    except NexusError:
        return None
    return int(rows[0][0]) if rows and rows[0][0] is not None else None
