"""A parsed plan as HTML (for notebooks) and as text (for terminals and text/plain).

The HTML is one self-contained block: a `<style>` scoped under the `nx-plan` class, a header
with the statement-level numbers, and one grid row per node, indented by depth. Classes a test
or a browser can look for:

    nx-plan            the whole block            nx-plan-title    the caller's title
    nx-plan-header     statement-level numbers    nx-plan-tree     the rows (scrolls sideways)
    nx-plan-r          a node row, data-node="<preorder id>" (the column header row too,
                       with nx-plan-head); rows below the root set --nx-d to their depth
    nx-plan-l          a node's label             nx-plan-t        its own-time cell
    nx-plan-hot        a row on the hot path      nx-plan-hottest  the node with most own time
    nx-plan-hl         a row the caller asked to highlight
    nx-plan-b10/50/90  own time at least 10/50/90% of the total (colour bands)
    nx-plan-bar        the own-time bar (inline width = share of total time)
    nx-plan-mis        a misestimate badge, with nx-plan-m10/m100/m1000 for its order
    nx-plan-note       a note (sort method, batches, ...); nx-plan-warn when it is a problem
    nx-plan-cond       the muted line with conditions (index cond, filter, join cond)
    nx-plan-cold       a <details> holding cold subtrees, closed by default (data-nodes="<n>")

Colours are tints over the theme's own background and text colours (`--jp-*` variables with
fallbacks), so the same block reads in JupyterLab's light and dark themes. A notebook opened
untrusted loses the `<style>` (JupyterLab's sanitizer drops it); the rows then read as plain
text, still in order and complete.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass
from html import escape

from ._model import Buffers, Plan, PlanNode

__all__ = ["plan_html", "plan_text"]

# In plans of at least COLLAPSE_MIN_NODES nodes, a subtree spending less than COLD_SHARE of
# the total (time, or cost without ANALYZE) is collapsed by default; smaller plans show all.
COLD_SHARE = 0.01
COLLAPSE_MIN_NODES = 50
# Own-time shares where a row changes colour, and misestimate factors that earn a badge.
TIME_BANDS = (0.9, 0.5, 0.1)
MISESTIMATE_BADGES = (1000, 100, 10)
# Indentation stops growing here, so a very deep plan keeps its columns on screen.
MAX_INDENT = 32
MAX_CONDITION_CHARS = 400
# Text output keeps at least this many characters for the tree.
MIN_TEXT_TREE = 20

_CONDITION_KEYS = (
    ("Index Cond", "index_cond"),
    ("Recheck Cond", "recheck_cond"),
    ("Filter", "filter"),
    ("Join Filter", "join_filter"),
    ("Hash Cond", "hash_cond"),
    ("Merge Cond", "merge_cond"),
)
_EXTRA_CONDITION_KEYS = ("One-Time Filter", "Cache Key", "Presorted Key")

_CSS = """
.nx-plan{container-type:inline-size;font-family:var(--jp-ui-font-family,sans-serif);font-size:var(--jp-ui-font-size1,13px);
color:var(--jp-ui-font-color1,#222);line-height:1.35;margin:4px 0 12px;max-width:100%}
.nx-plan-title{font-weight:600;font-size:1.05em;margin-bottom:2px}
.nx-plan-header{color:var(--jp-ui-font-color2,#555);margin-bottom:6px}
.nx-plan-header div{margin:1px 0}
.nx-plan-header b{color:var(--jp-ui-font-color1,#222);font-weight:600}
.nx-plan-tree{overflow-x:auto;border-top:1px solid var(--jp-border-color2,#ddd)}
.nx-plan-r{display:grid;grid-template-columns:var(--nx-cols);column-gap:10px;
padding:2px 4px;border-bottom:1px solid var(--jp-border-color3,#eee);min-width:var(--nx-min)}
.nx-plan-r>div{font-family:var(--jp-code-font-family,monospace);
font-size:var(--jp-code-font-size,12px);text-align:right;white-space:nowrap}
.nx-plan-r>div.nx-plan-n{text-align:left;white-space:normal;
padding-left:calc(var(--nx-d,0)*1.1em);min-width:0;overflow-wrap:anywhere}
.nx-plan-head{font-weight:600;color:var(--jp-ui-font-color2,#555);
border-bottom:1px solid var(--jp-border-color1,#bbb)}
.nx-plan-r.nx-plan-head>div{font-family:var(--jp-ui-font-family,sans-serif);white-space:normal}
.nx-plan-l{font-weight:600}
.nx-plan-r[style] .nx-plan-l::before{content:"↳ ";color:var(--jp-ui-font-color3,#999);
font-weight:normal}
.nx-plan-b10{background:rgba(230,170,0,.10)}
.nx-plan-b50{background:rgba(245,120,0,.17)}
.nx-plan-b90{background:rgba(225,40,40,.20)}
.nx-plan-hot{box-shadow:inset 3px 0 0 rgba(225,40,40,.85)}
.nx-plan-hot[style] .nx-plan-l::before{color:rgba(225,40,40,.95)}
.nx-plan-hottest .nx-plan-l{text-decoration:underline;text-decoration-color:rgba(225,40,40,.9)}
.nx-plan-hl{outline:2px solid var(--jp-brand-color1,#2196f3);outline-offset:-2px}
.nx-plan-never{color:var(--jp-ui-font-color3,#999)}
.nx-plan-r>div.nx-plan-t{align-self:start;padding-bottom:6px;background:linear-gradient(
rgba(128,128,128,.28),rgba(128,128,128,.28)) no-repeat left bottom/100% 4px}
.nx-plan-bar{display:block;height:4px;margin:2px 0 -6px;background:var(--jp-ui-font-color3,#999)}
.nx-plan-b10 .nx-plan-bar{background:#d9a400}
.nx-plan-b50 .nx-plan-bar{background:#ef7d00}
.nx-plan-b90 .nx-plan-bar{background:#e03030}
.nx-plan-pct{color:var(--jp-ui-font-color2,#555)}
.nx-plan-badge{display:inline-block;font-size:.85em;padding:0 5px;margin:0 3px;
border-radius:8px;border:1px solid;white-space:nowrap;font-weight:normal}
.nx-plan-m10{background:rgba(230,170,0,.16);border-color:rgba(200,150,0,.8)}
.nx-plan-m100{background:rgba(245,120,0,.22);border-color:rgba(230,110,0,.9)}
.nx-plan-m1000{background:rgba(225,40,40,.25);border-color:rgba(210,40,40,.95)}
.nx-plan-notes{margin-top:1px}
.nx-plan-note{display:inline-block;font-size:.85em;margin:1px 6px 0 0;padding:0 4px;
border-radius:3px;background:var(--jp-layout-color2,rgba(128,128,128,.12))}
.nx-plan-warn{background:rgba(245,120,0,.22)}
.nx-plan-cond{font-size:.85em;color:var(--jp-ui-font-color2,#666);margin-top:1px}
.nx-plan-cold>summary{cursor:pointer;padding:2px 4px;font-size:.9em;
color:var(--jp-ui-font-color2,#666);border-bottom:1px solid var(--jp-border-color3,#eee)}
.nx-plan-muted{color:var(--jp-ui-font-color3,#999)}
@container (max-width:62em){.nx-plan .nx-plan-r>div:nth-child(n+4){display:none}
.nx-plan .nx-plan-r{grid-template-columns:var(--nx-cols-narrow);min-width:var(--nx-min-narrow)}}
"""


# -- shared by both renderers ----------------------------------------------------------------


@dataclass(frozen=True)
class _Column:
    """One numeric column: its header, its width, and how a node fills it (text, tooltip)."""

    name: str
    width: str
    cell: Callable[[PlanNode], tuple[str, str]]
    tip: str = ""
    narrow_width: str = "9em"

    @property
    def optional(self) -> bool:
        """Hidden when the block is narrow, e.g. two plans side by side.

        The CSS hides every column after the third (node, time, rows; node, cost, rows
        without ANALYZE), so the essential columns come first.
        """
        return self.name not in {"cost", "est. rows", "rows actual / est."}


class _Facts:
    """What both renderers need to know about a plan beyond the nodes themselves."""

    def __init__(self, plan: Plan, highlight: Collection[int] = ()) -> None:
        self.plan = plan
        self.analyzed = plan.analyzed
        total = plan.total_ms if plan.analyzed else None
        self.total_ms = total if total and total > 0 else None
        self.hottest: PlanNode | None = None
        if self.analyzed and self.total_ms:
            timed = [n for n in plan.nodes if n.exclusive_ms is not None]
            if timed:
                self.hottest = max(timed, key=lambda n: n.exclusive_ms or 0.0)
        self.hot_path = set(_ancestry(self.hottest)) if self.hottest else set()
        self.highlight = {i for i in highlight if 0 <= i < len(plan.nodes)}
        # Nodes that must stay visible, so their subtrees are never collapsed.
        self.pinned = set(self.hot_path)
        for node_id in self.highlight:
            self.pinned.update(_ancestry(plan.nodes[node_id]))
        self.subtree_size: dict[int, int] = {}
        self.subtree_pinned: dict[int, bool] = {}
        for node in reversed(plan.nodes):
            self.subtree_size[node.id] = 1 + sum(self.subtree_size[c.id] for c in node.children)
            self.subtree_pinned[node.id] = node.id in self.pinned or any(
                self.subtree_pinned[c.id] for c in node.children
            )
        self.root_cost = plan.root.total_cost

    def own_share(self, node: PlanNode) -> float | None:
        """The node's own time as a share of the total."""
        if self.total_ms is None or node.exclusive_ms is None:
            return None
        return min(node.exclusive_ms / self.total_ms, 1.0)

    def subtree_share(self, node: PlanNode) -> float:
        """Time (or cost, without ANALYZE) of the node and all below it, as a share."""
        if self.analyzed:
            if self.total_ms is None:
                return 1.0
            return (node.inclusive_ms or 0.0) / self.total_ms
        if self.root_cost <= 0:
            return 1.0
        return node.total_cost / self.root_cost

    def cold_run(self, run: list[PlanNode]) -> _ColdRun:
        """Describe a group of cold siblings: how many nodes, what share, any misestimates."""
        size = sum(self.subtree_size[n.id] for n in run)
        share = sum(self.subtree_share(n) for n in run)
        badges = sum(1 for top in run for n in top.walk() if _badge_level(n) is not None)
        measure = "of the time" if self.analyzed else "of the cost"
        summary = f"{size:,} nodes, {_percent(share)} {measure}"
        if badges:
            summary += f", {badges} misestimate{'s' if badges > 1 else ''}"
        summary += f": {_label(run[0])}, …"
        return _ColdRun(run, size, summary)

    def is_cold(self, node: PlanNode) -> bool:
        """The subtree spends under 1% and holds nothing the reader must see."""
        return (
            len(self.plan.nodes) >= COLLAPSE_MIN_NODES
            and not self.subtree_pinned[node.id]
            and self.subtree_share(node) < COLD_SHARE
        )


@dataclass(frozen=True)
class _ColdRun:
    """Consecutive cold siblings shown as one collapsed line."""

    nodes: list[PlanNode]
    size: int
    summary: str


def _layout(facts: _Facts) -> Iterator[PlanNode | _ColdRun | None]:
    """The nodes in display order; a `_ColdRun` opens a collapsed group and `None` closes it."""
    yield from _layout_below(facts.plan.root, facts)


def _layout_below(node: PlanNode, facts: _Facts) -> Iterator[PlanNode | _ColdRun | None]:
    yield node
    run: list[PlanNode] = []
    for child in [*node.children, None]:
        if child is not None and facts.is_cold(child):
            run.append(child)
            continue
        if len(run) == 1 and not run[0].children:
            yield run[0]  # a group would hide one row behind one summary line: no gain
        elif run:
            yield facts.cold_run(run)
            for top in run:
                yield from top.walk()
            yield None
        run = []
        if child is not None:
            yield from _layout_below(child, facts)


def _ancestry(node: PlanNode | None) -> Iterator[int]:
    current = node
    while current is not None:
        yield current.id
        current = current.parent


def _band(share: float | None) -> int | None:
    if share is None:
        return None
    for band in TIME_BANDS:
        if share >= band:
            return round(band * 100)
    return None


def _badge_level(node: PlanNode) -> int | None:
    factor = node.misestimate
    if factor is None:
        return None
    for level in MISESTIMATE_BADGES:
        if factor >= level:
            return level
    return None


def _cut_short(node: PlanNode) -> bool:
    """Far fewer rows than estimated, and the model declined to call it a misestimate.

    The model does so when a Limit or the inner side of a semi/anti join above stopped the
    node early; the reader still sees the odd numbers, so a note says why there is no badge.
    """
    if node.misestimate is not None or node.actual_rows is None or node.never_executed:
        return False
    if node.node_type in {"BitmapAnd", "BitmapOr"}:
        return False
    return max(node.plan_rows, 1.0) >= MISESTIMATE_BADGES[-1] * max(node.actual_rows, 1.0)


def _misestimate_text(node: PlanNode) -> str:
    factor = node.misestimate or 1.0
    return f"{node.misestimate_direction}-estimated {_factor(factor)}"


def _factor(factor: float) -> str:
    return f"{factor:,.0f}x" if factor >= 10 else f"{factor:.1f}x"


def _label(node: PlanNode) -> str:
    label = node.label
    if node.parallel_aware and "Parallel" not in label:
        # The JSON keeps "Seq Scan" and a flag where the text format says "Parallel Seq Scan".
        label = label.replace(node.node_type, f"Parallel {node.node_type}", 1)
    return label


def _ms(value: float) -> str:
    if value < 10:
        return f"{value:.3f}"
    if value < 100:
        return f"{value:.2f}"
    if value < 1000:
        return f"{value:.1f}"
    return f"{value:,.0f}"


def _count(value: float) -> str:
    """Rows or blocks: exact up to 100,000, then k/M/G with three digits."""
    value = round(value)
    if abs(value) < 100_000:
        return f"{value:,}"
    for limit, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= limit:
            scaled = value / limit
            return f"{scaled:.3g}{suffix}" if scaled < 1000 else f"{scaled:,.0f}{suffix}"
    return str(value)  # pragma: no cover - unreachable


def _kb(kilobytes: float) -> str:
    if kilobytes < 1024:
        return f"{kilobytes:,.0f} kB"
    if kilobytes < 1024 * 1024:
        return f"{kilobytes / 1024:,.1f} MB".replace(".0 MB", " MB")
    return f"{kilobytes / 1024 / 1024:,.1f} GB"


def _percent(share: float) -> str:
    if share >= 0.0995:
        return f"{share * 100:.0f}%"
    return f"{share * 100:.1f}%"


def _notes(node: PlanNode) -> list[tuple[str, bool]]:
    """Short facts about how the node ran, each flagged when it points at a problem."""
    notes: list[tuple[str, bool]] = []
    if node.never_executed:
        notes.append(("never executed", False))
    if _cut_short(node):
        notes.append(("stopped early by a Limit or semi/anti join above", False))
    notes += _memory_notes(node)
    if node.lossy_heap_blocks:
        exact = node.exact_heap_blocks or 0
        notes.append((f"Lossy Heap Blocks {node.lossy_heap_blocks:,} (exact {exact:,})", True))
    if node.heap_fetches is not None and node.node_type == "Index Only Scan":
        notes.append((f"Heap Fetches {_count(node.heap_fetches)}", node.heap_fetches > 0))
    if node.workers_planned is not None:
        launched = node.workers_launched
        if launched is None:
            notes.append((f"Workers planned {node.workers_planned}", False))
        else:
            text = f"Workers {launched} of {node.workers_planned} launched"
            notes.append((text, launched < node.workers_planned))
    if node.rows_removed_by_join_filter:
        text = f"Rows Removed by Join Filter {_count(node.rows_removed_by_join_filter)}"
        notes.append((text, False))
    if node.rows_removed_by_index_recheck:
        text = f"Rows Removed by Index Recheck {_count(node.rows_removed_by_index_recheck)}"
        notes.append((text, True))
    hits, misses = node.extra.get("Cache Hits"), node.extra.get("Cache Misses")
    if isinstance(hits, int) and isinstance(misses, int):
        evictions = node.extra.get("Cache Evictions") or 0
        text = f"Cache hits {_count(hits)}, misses {_count(misses)}"
        if evictions:
            text += f", evictions {_count(evictions)}"
        notes.append((text, bool(evictions)))
    return notes


def _memory_notes(node: PlanNode) -> list[tuple[str, bool]]:
    """Sorts and hashes: how they ran, and whether they spilled to disk."""
    notes: list[tuple[str, bool]] = []
    if node.sort_method:
        space = ""
        if node.sort_space_kb is not None:
            space = f" {node.sort_space_type or 'Space'}: {_kb(node.sort_space_kb)}"
        spilled = node.sort_space_type == "Disk" or "external" in node.sort_method
        notes.append((f"Sort Method: {node.sort_method}{space}", spilled))
    batches, planned = node.hash_batches, node.original_hash_batches or node.hash_batches
    if batches is not None and planned is not None and (batches > 1 or planned > 1):
        notes.append((f"Hash Batches {batches} (planned {planned})", batches > 1))
    agg_batches = node.extra.get("HashAgg Batches")
    if isinstance(agg_batches, int) and (agg_batches > 1 or node.disk_usage_kb):
        disk = f", Disk: {_kb(node.disk_usage_kb)}" if node.disk_usage_kb else ""
        notes.append((f"HashAgg Batches {agg_batches}{disk}", True))
    elif node.disk_usage_kb:
        notes.append((f"Disk: {_kb(node.disk_usage_kb)}", True))
    return notes


def _conditions(node: PlanNode) -> list[str]:
    found = [
        f"{name}: {getattr(node, field)}" for name, field in _CONDITION_KEYS if getattr(node, field)
    ]
    for key in _EXTRA_CONDITION_KEYS:
        value = node.extra.get(key)
        if isinstance(value, list):
            value = ", ".join(str(v) for v in value)
        if value:
            found.append(f"{key}: {value}")
    if node.sort_key:
        found.append("Sort Key: " + ", ".join(node.sort_key))
    if node.group_key:
        found.append("Group Key: " + ", ".join(node.group_key))
    return [_clip(text, MAX_CONDITION_CHARS) for text in found]


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _hit_read(buffers: Buffers) -> str:
    hit, read = buffers.shared_hit + buffers.local_hit, buffers.shared_read + buffers.local_read
    return f"{_count(hit)} / {_count(read)}"


def _columns(facts: _Facts) -> list[_Column]:
    """The numeric columns this plan has data for (empty ones are left out)."""
    nodes = facts.plan.nodes
    if not facts.analyzed:
        return [
            _Column("cost", "11em", _cost_cell, "startup..total cost, in planner units", "10em"),
            _Column(
                "est. rows", "7em", lambda n: (_count(n.plan_rows), ""), "rows per loop", "6em"
            ),
            _Column("width", "4em", lambda n: (f"{n.plan_width}", ""), "bytes per row"),
        ]
    columns = [
        _Column("rows actual / est.", "11em", _rows_cell, "rows over all loops: actual / estimated")
    ]
    if any((n.loops or 0) > 1 for n in nodes):
        columns.append(_Column("loops", "5em", lambda n: (_count(n.loops or 0), "")))
    if any(n.rows_removed_by_filter for n in nodes):
        columns.append(
            _Column("removed by filter", "10em", _removed_cell, "rows the filter removed (share)")
        )
    if any(n.buffers.hit or n.buffers.shared_read or n.buffers.local_read for n in nodes):
        columns.append(
            _Column(
                "buffers hit / read",
                "10em",
                _buffers_cell,
                "8 kB blocks this node found in shared buffers / read, children excluded",
            )
        )
    if any(n.buffers.temp_read or n.buffers.temp_written for n in nodes):
        columns.append(
            _Column(
                "temp read / written",
                "10em",
                _temp_cell,
                "8 kB temporary file blocks, children excluded",
            )
        )
    return columns


def _cost_cell(node: PlanNode) -> tuple[str, str]:
    return f"{node.startup_cost:,.2f}..{node.total_cost:,.2f}", ""


def _rows_cell(node: PlanNode) -> tuple[str, str]:
    if node.total_rows is None:
        return "", ""
    text = f"{_count(node.total_rows)} / {_count(node.estimated_total_rows)}"
    if (node.loops or 0) <= 1:
        return text, ""
    return text, f"per loop: {node.actual_rows:,.2f} actual, {node.plan_rows:,.0f} estimated"


def _removed_cell(node: PlanNode) -> tuple[str, str]:
    removed = node.rows_removed_by_filter
    if not removed:
        return "", ""
    kept = node.total_rows or 0.0
    share = removed / (removed + kept) if removed + kept else 0.0
    return f"{_count(removed)} ({_percent(share)})", ""


def _buffers_cell(node: PlanNode) -> tuple[str, str]:
    own, all_ = node.exclusive_buffers, node.buffers
    tips = []
    if node.children:
        tips.append(f"with children: hit {all_.hit:,} read {all_.shared_read + all_.local_read:,}")
    if own.shared_dirtied or own.shared_written:
        tips.append(f"dirtied {own.shared_dirtied:,} written {own.shared_written:,}")
    if own.io_read_ms or own.io_write_ms:
        tips.append(f"I/O read {_ms(own.io_read_ms)} ms, write {_ms(own.io_write_ms)} ms")
    return _hit_read(own), "; ".join(tips)


def _temp_cell(node: PlanNode) -> tuple[str, str]:
    own = node.exclusive_buffers
    return f"{_count(own.temp_read)} / {_count(own.temp_written)}", ""


def _header_lines(plan: Plan, facts: _Facts) -> list[str]:
    """The statement-level facts, one topic per line."""
    lines: list[str] = []
    times = []
    if plan.execution_ms is not None:
        times.append(f"Execution {_ms(plan.execution_ms)} ms")
    if plan.planning_ms is not None:
        times.append(f"Planning {_ms(plan.planning_ms)} ms")
    serialization = plan.extra.get("Serialization")
    if isinstance(serialization, dict) and serialization.get("Time"):
        times.append(f"Serialization {_ms(float(serialization['Time']))} ms")
    if times:
        lines.append(" · ".join(times))
    if plan.jit is not None:
        jit = plan.jit
        lines.append(
            f"JIT {_ms(jit.total_ms)} ms for {jit.functions} functions (generation "
            f"{_ms(jit.generation_ms)}, inlining {_ms(jit.inlining_ms)}, optimization "
            f"{_ms(jit.optimization_ms)}, emission {_ms(jit.emission_ms)} ms)"
        )
    if not plan.analyzed:
        lines.append("Estimates only (EXPLAIN without ANALYZE): costs are in planner units.")
    elif facts.hottest is not None:
        share = facts.own_share(facts.hottest) or 0.0
        lines.append(
            f"Hottest node: {_label(facts.hottest)}, "
            f"{_ms(facts.hottest.exclusive_ms or 0.0)} ms ({_percent(share)}) of its own"
        )
    for trigger in plan.triggers:
        on = f" on {trigger.relation}" if trigger.relation else ""
        lines.append(
            f"Trigger {trigger.name}{on}: {_ms(trigger.time_ms)} ms, {trigger.calls:,} calls"
        )
    if plan.settings:
        lines.append(
            "Settings changed: " + ", ".join(f"{k} = {v}" for k, v in sorted(plan.settings.items()))
        )
    return lines


# -- HTML -------------------------------------------------------------------------------------


def plan_html(plan: Plan, *, title: str | None = None, highlight: Collection[int] = ()) -> str:
    """The plan as a self-contained HTML block; `highlight` marks nodes by id."""
    facts = _Facts(plan, highlight)
    columns = _columns(facts)
    first = ["minmax(18em,1fr)"] + (["10em"] if facts.analyzed else [])
    essential = [column for column in columns if not column.optional]
    style = ""
    # Narrow (two plans side by side): a shorter label column and only the essential ones.
    narrow = [column.narrow_width for column in essential]
    layouts = (
        ("", first + [c.width for c in columns]),
        ("-narrow", ["minmax(11em,1fr)"] + (["8.5em"] if facts.analyzed else []) + narrow),
    )
    for suffix, widths in layouts:
        min_width = 2 + sum(_em(w) for w in widths)
        style += f"--nx-cols{suffix}:{' '.join(widths)};--nx-min{suffix}:{min_width:g}em;"
    parts = [
        f'<div class="nx-plan" style="{style}">',
        f"<style>{_CSS}</style>",
    ]
    if title:
        parts.append(f'<div class="nx-plan-title">{_text(title)}</div>')
    header = _header_lines(plan, facts)
    parts.append(
        '<div class="nx-plan-header">'
        + "".join(f"<div>{_text(line)}</div>" for line in header)
        + "</div>"
    )
    heads = [("node", "")]
    if facts.analyzed:
        heads.append(("own time · share", "time in this node alone, and its share of the total"))
    parts.append('<div class="nx-plan-tree"><div class="nx-plan-r nx-plan-head">')
    for index, (name, tip) in enumerate(heads):
        css = ' class="nx-plan-n"' if index == 0 else ""
        tip_attr = f' title="{_attr(tip)}"' if tip else ""
        parts.append(f"<div{css}{tip_attr}>{_text(name)}</div>")
    for column in columns:
        tip_attr = f' title="{_attr(column.tip)}"' if column.tip else ""
        parts.append(f"<div{tip_attr}>{_text(column.name)}</div>")
    parts.append("</div>")
    _html_tree(facts, columns, parts)
    parts.append("</div></div>")
    return "".join(parts)


def _text(value: str) -> str:
    """Escape text between tags (quotes need no escaping there)."""
    return escape(value, quote=False)


def _attr(value: str) -> str:
    """Escape an attribute value (always written in double quotes)."""
    return escape(value, quote=True)


def _em(width: str) -> float:
    """The ems of "11em" or of the minimum in "minmax(18em,1fr)"."""
    return float(width.removeprefix("minmax(").split("em")[0])


def _html_tree(facts: _Facts, columns: list[_Column], out: list[str]) -> None:
    for event in _layout(facts):
        if isinstance(event, _ColdRun):
            pad = min(event.nodes[0].depth, MAX_INDENT) * 1.1
            out.append(
                f'<details class="nx-plan-cold" data-nodes="{event.size}">'
                f'<summary style="padding-left:{pad:.1f}em">{_text(event.summary)}</summary>'
            )
        elif event is None:
            out.append("</details>")
        else:
            out.append(_html_row(event, facts, columns))


def _html_row(node: PlanNode, facts: _Facts, columns: list[_Column]) -> str:
    share = facts.own_share(node)
    classes = ["nx-plan-r"]
    band = _band(share)
    if band is not None:
        classes.append(f"nx-plan-b{band}")
    if node.id in facts.hot_path:
        classes.append("nx-plan-hot")
    if facts.hottest is node:
        classes.append("nx-plan-hottest")
    if node.id in facts.highlight:
        classes.append("nx-plan-hl")
    if node.never_executed:
        classes.append("nx-plan-never")
    # Only rows below the root carry a depth; the CSS draws their arrow from it.
    depth = f' style="--nx-d:{min(node.depth, MAX_INDENT)}"' if node.depth else ""
    cells = [
        f'<div class="{" ".join(classes)}" data-node="{node.id}"{depth}>',
        _html_node_cell(node),
    ]
    if facts.analyzed:
        cells.append(_html_time_cell(node, share))
    for column in columns:
        text, tip = column.cell(node)
        tip_attr = f' title="{_attr(tip)}"' if tip and text else ""
        cells.append(f"<div{tip_attr}>{_text(text)}</div>")
    cells.append("</div>")
    return "".join(cells)


def _html_node_cell(node: PlanNode) -> str:
    parts = [f'<div class="nx-plan-n"><span class="nx-plan-l">{_text(_label(node))}</span>']
    level = _badge_level(node)
    if level is not None:
        arrow = "▲" if node.misestimate_direction == "under" else "▼"
        tip = f"estimated {node.plan_rows:,.0f} rows per loop, got {node.actual_rows or 0:,.2f}"
        parts.append(
            f'<span class="nx-plan-badge nx-plan-mis nx-plan-m{level}" title="{_attr(tip)}">'
            f"{arrow} {_text(_misestimate_text(node))}</span>"
        )
    notes = _notes(node)
    if notes:
        parts.append('<div class="nx-plan-notes">')
        for text, warn in notes:
            css = "nx-plan-note nx-plan-warn" if warn else "nx-plan-note"
            parts.append(f'<span class="{css}">{_text(text)}</span>')
        parts.append("</div>")
    conditions = _conditions(node)
    if conditions:
        parts.append(f'<div class="nx-plan-cond">{_text(" · ".join(conditions))}</div>')
    parts.append("</div>")
    return "".join(parts)


def _html_time_cell(node: PlanNode, share: float | None) -> str:
    if node.never_executed:
        return '<div class="nx-plan-t nx-plan-muted">never executed</div>'
    if node.exclusive_ms is None or share is None:
        return '<div class="nx-plan-t"></div>'
    tips = []
    if node.children:
        tips.append(f"with children {_ms(node.inclusive_ms or 0.0)} ms")
    if (node.loops or 0) > 1:
        tips.append(f"{_count(node.loops or 0)} loops")
    tip = f' title="{_attr("; ".join(tips))}"' if tips else ""
    # The grey track is the cell's background; the bar is drawn only when it has a width.
    bar = f'<span class="nx-plan-bar" style="width:{share * 100:.1f}%"></span>'
    return (
        f'<div class="nx-plan-t"{tip}>{_ms(node.exclusive_ms)} ms '
        f'<span class="nx-plan-pct">{_percent(share)}</span>{bar if share >= 0.0005 else ""}</div>'
    )


# -- text -------------------------------------------------------------------------------------


def plan_text(plan: Plan, *, width: int = 100) -> str:
    """The plan as an indented text tree, every line at most `width` characters.

    Numbers come first, in aligned columns, and the tree last, so a narrow width shortens
    labels rather than hiding numbers. A "*" marks the hot path.
    """
    facts = _Facts(plan)
    nodes = plan.nodes
    columns: list[tuple[str, list[str]]]
    if facts.analyzed:
        columns = [
            ("own ms", [_text_time(n) for n in nodes]),
            ("share", [_text_share(n, facts) for n in nodes]),
            ("rows actual / est.", [_text_rows(n) for n in nodes]),
            ("estimate", [_text_misestimate(n) for n in nodes]),
            ("hit / read", [_hit_read(n.exclusive_buffers) for n in nodes]),
        ]
        if not any(n.buffers.touched for n in nodes):
            columns.pop()
        if not any(columns[3][1]):
            columns.pop(3)
    else:
        columns = [
            ("cost", [f"{n.total_cost:,.2f}" for n in nodes]),
            ("est. rows", [_count(n.plan_rows) for n in nodes]),
        ]
    mark_width = 1 if facts.hot_path else 0
    widths = [max(len(head), *(len(v) for v in values)) for head, values in columns]
    # A narrow width drops the least needed columns before the tree gets too short to read.
    for optional in ("hit / read", "estimate", "share"):
        used = mark_width + sum(w + 2 for w in widths) + MIN_TEXT_TREE
        names = [head for head, _ in columns]
        if used <= width or optional not in names:
            continue
        index = names.index(optional)
        del columns[index], widths[index]
    marks = ["*" if n.id in facts.hot_path else " " for n in nodes]

    def line(mark: str, cells: list[str], tree: str) -> str:
        numbers = "  ".join(c.rjust(w) for c, w in zip(cells, widths, strict=True))
        return _fit(f"{mark[:mark_width]}{numbers}  {tree}", width)

    out = [
        _fit(text, width)
        for raw in _header_lines(plan, facts)
        for text in textwrap.wrap(raw, width) or [""]
    ]
    out.append(line(" ", [head for head, _ in columns], "node"))
    collapsed = False
    for event in _layout(facts):
        if event is None:
            collapsed = False
        elif isinstance(event, _ColdRun):
            collapsed = True
            prefix = "  " * min(event.nodes[0].depth, MAX_INDENT) + "-> "
            out.append(line(" ", [""] * len(columns), f"{prefix}[{event.summary}]"))
        elif not collapsed:
            node = event
            prefix = "  " * min(node.depth, MAX_INDENT) + ("-> " if node.parent is not None else "")
            text = _label(node)
            warnings = [note for note, warn in _notes(node) if warn]
            if facts.analyzed and "estimate" not in [head for head, _ in columns]:
                warnings[:0] = [_text_misestimate(node)] if _badge_level(node) else []
            if warnings:
                text += " [" + "; ".join(warnings) + "]"
            cells = [values[node.id] for _, values in columns]
            out.append(line(marks[node.id], cells, prefix + text))
    return "\n".join(out)


def _text_time(node: PlanNode) -> str:
    if node.never_executed:
        return "never"
    return "" if node.exclusive_ms is None else _ms(node.exclusive_ms)


def _text_share(node: PlanNode, facts: _Facts) -> str:
    share = facts.own_share(node)
    return "" if share is None or node.never_executed else _percent(share)


def _text_rows(node: PlanNode) -> str:
    if node.total_rows is None:
        return ""
    return f"{_count(node.total_rows)} / {_count(node.estimated_total_rows)}"


def _text_misestimate(node: PlanNode) -> str:
    if _badge_level(node) is None:
        return ""
    return f"{node.misestimate_direction} {_factor(node.misestimate or 1.0)}"


def _fit(text: str, width: int) -> str:
    text = text.rstrip()
    if len(text) <= width:
        return text
    return text[: max(width - 1, 0)] + "…"
