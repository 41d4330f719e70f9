"""What an exercise's check looks at: the live plan, the indexes it used, and the catalog.

A `Criterion` is a named test of a `CheckContext` (the plan of the learner's query, read in
their database, plus catalog look-ups made in the same transaction). Criteria judge what
matters for performance and never wall-clock time: node types, which index and how it is
built, rows read, buffers touched, temporary files, row estimates.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from ..plans import Plan, PlanNode
from ..postgres import Database, QueryResult

__all__ = [
    "CheckContext",
    "Criterion",
    "IndexInfo",
    "Outcome",
    "buffers_at_most",
    "estimate_within",
    "index_only_scan",
    "no_seq_scan",
    "no_sort",
    "no_temp_files",
    "reads_through_index",
    "scan_reads_at_most",
    "shared_buffers_within_table_pages",
    "statistics_cover",
]

Lookup = Callable[[str, Mapping[str, object]], QueryResult]

_INDEX_READS = ("Index Scan", "Index Only Scan")
_INDEX_INFO_SQL = """
SELECT c.relname, t.relname, am.amname, i.indnkeyatts, i.indpred IS NOT NULL,
       i.indexprs IS NOT NULL,
       ARRAY(SELECT pg_get_indexdef(i.indexrelid, k, true)
             FROM generate_series(1, i.indnatts) AS k ORDER BY k),
       pg_get_expr(i.indpred, i.indrelid, true), pg_relation_size(i.indexrelid)
FROM pg_index AS i
JOIN pg_class AS c ON c.oid = i.indexrelid
JOIN pg_class AS t ON t.oid = i.indrelid
JOIN pg_am AS am ON am.oid = c.relam
WHERE i.indexrelid = to_regclass(quote_ident(:name))
"""
_STATISTICS_SQL = """
SELECT s.stxname, s.stxkind::text[],
       ARRAY(SELECT a.attname::text FROM unnest(s.stxkeys) AS k
             JOIN pg_attribute AS a ON a.attrelid = s.stxrelid AND a.attnum = k),
       EXISTS (SELECT FROM pg_stats_ext AS e
               WHERE e.statistics_schemaname = n.nspname AND e.statistics_name = s.stxname)
FROM pg_statistic_ext AS s
JOIN pg_namespace AS n ON n.oid = s.stxnamespace
WHERE s.stxrelid = to_regclass(quote_ident(:table))
ORDER BY s.stxname
"""


@dataclass(frozen=True)
class IndexInfo:
    """How an index is built: its columns (key, then INCLUDE), method, predicate and size."""

    name: str
    table: str
    method: str
    key_columns: tuple[str, ...]
    include_columns: tuple[str, ...]
    predicate: str | None
    has_expressions: bool
    size_bytes: int

    def describe(self) -> str:
        """E.g. "orders_user_id_idx btree (user_id) INCLUDE (status) WHERE ..."."""
        text = f"{self.name} {self.method} ({', '.join(self.key_columns)})"
        if self.include_columns:
            text += f" INCLUDE ({', '.join(self.include_columns)})"
        if self.predicate:
            text += f" WHERE {self.predicate}"
        return text


@dataclass(frozen=True)
class Outcome:
    """Whether one criterion held, and what was seen."""

    passed: bool
    detail: str


@dataclass(frozen=True)
class Criterion:
    """One thing the check requires, with a test over the context."""

    description: str
    test: Callable[[CheckContext], Outcome] = field(repr=False)

    def evaluate(self, context: CheckContext) -> Outcome:
        """Apply the test."""
        return self.test(context)


@dataclass
class CheckContext:
    """The plan being checked and look-ups into the catalog it was planned against.

    `lookup` runs a read in the same transaction as the plan (a what-if sees its own
    indexes), with `:name` placeholders bound.
    """

    db: Database
    plan: Plan
    sql: str
    lookup: Lookup
    _indexes: dict[str, IndexInfo | None] = field(default_factory=dict)

    def scans(self, table: str) -> list[PlanNode]:
        """Nodes that read `table` (any scan that names it)."""
        return [node for node in self.plan.nodes if node.relation == table]

    def index_reads(self, table: str) -> list[tuple[PlanNode, IndexInfo]]:
        """Index and bitmap index scans on `table`, with the index each one used."""
        found: list[tuple[PlanNode, IndexInfo]] = []
        for node in self.scans(table):
            if node.node_type in _INDEX_READS and node.index:
                candidates = [node]
            elif node.node_type == "Bitmap Heap Scan":
                candidates = [n for n in node.walk() if n.node_type == "Bitmap Index Scan"]
            else:
                continue
            for candidate in candidates:
                info = self.index_info(candidate.index or "")
                if info is not None:
                    found.append((candidate, info))
        return found

    def index_info(self, name: str) -> IndexInfo | None:
        """How the index `name` is built, or None if the catalog has no such index."""
        if name not in self._indexes:
            rows = self.lookup(_INDEX_INFO_SQL, {"name": name}).rows
            info = None
            if rows:
                index, table, method, keys, partial, expressions, columns, predicate, size = rows[0]
                info = IndexInfo(
                    name=index,
                    table=table,
                    method=method,
                    key_columns=tuple(columns[:keys]),
                    include_columns=tuple(columns[keys:]),
                    predicate=predicate if partial else None,
                    has_expressions=bool(expressions),
                    size_bytes=int(size),
                )
            self._indexes[name] = info
        return self._indexes[name]

    def table_pages(self, table: str) -> int:
        """The table's size in 8 kB pages, as the catalog knows it now."""
        rows = self.lookup(
            "SELECT pg_relation_size(to_regclass(quote_ident(:table))) / 8192", {"table": table}
        ).rows
        return int(rows[0][0] or 0) if rows else 0

    def statistics(self, table: str) -> list[tuple[str, list[str], list[str], bool]]:
        """Extended statistics on `table`: name, kinds, columns, whether ANALYZE filled them."""
        rows = self.lookup(_STATISTICS_SQL, {"table": table}).rows
        return [
            (name, list(kinds), list(columns), bool(analyzed))
            for name, kinds, columns, analyzed in rows
        ]


def _scan_names(context: CheckContext, table: str) -> str:
    scans = context.scans(table)
    return ", ".join(node.label for node in scans) if scans else f"no scan of {table}"


def reads_through_index(
    table: str,
    *,
    leading: Sequence[str] = (),
    methods: Sequence[str] = (),
    partial: bool = False,
    expression: str | None = None,
    condition: str | None = None,
) -> Criterion:
    """`table` is read through an index with the given shape.

    `leading`: the index's first key columns, in order; `methods`: its access method (btree,
    gin, gist, ...); `partial`: it has a WHERE predicate; `expression`: a key column is an
    expression containing this text; `condition`: the scan's index condition contains it.
    """
    wanted = [f"{table} is read through an index"]
    if leading:
        wanted.append(f"whose key starts with ({', '.join(leading)})")
    if methods:
        wanted.append(f"of type {' or '.join(methods)}")
    if partial:
        wanted.append("that is partial (has a WHERE clause)")
    if expression:
        wanted.append(f"on the expression {expression}")
    if condition:
        wanted.append(f"used for the {condition} condition")

    def test(context: CheckContext) -> Outcome:
        reads = context.index_reads(table)
        if not reads:
            return Outcome(False, f"{table} is read by: {_scan_names(context, table)}")
        for node, info in reads:
            if _index_fits(
                node,
                info,
                leading=leading,
                methods=methods,
                partial=partial,
                expression=expression,
                condition=condition,
            ):
                return Outcome(True, f"{node.node_type} using {info.describe()}")
        used = "; ".join(f"{node.node_type} using {info.describe()}" for node, info in reads)
        return Outcome(False, f"the index used does not fit: {used}")

    return Criterion(" ".join(wanted), test)


def _index_fits(
    node: PlanNode,
    info: IndexInfo,
    *,
    leading: Sequence[str],
    methods: Sequence[str],
    partial: bool,
    expression: str | None,
    condition: str | None,
) -> bool:
    keys = [column.replace(" ", "") for column in info.key_columns]
    if leading and [key.strip('"') for key in keys[: len(leading)]] != list(leading):
        return False
    if methods and info.method not in methods:
        return False
    if partial and info.predicate is None:
        return False
    if expression and not (
        info.has_expressions and any(expression.replace(" ", "") in key for key in keys)
    ):
        return False
    return not (condition and condition not in (node.index_cond or ""))


def no_seq_scan(table: str) -> Criterion:
    """`table` is never read whole."""

    def test(context: CheckContext) -> Outcome:
        seq = [node for node in context.scans(table) if node.node_type == "Seq Scan"]
        if seq:
            read = seq[0].rows_read
            rows = f" ({read:,.0f} rows read)" if read is not None else ""
            return Outcome(False, f"Seq Scan on {table}{rows}")
        return Outcome(True, f"{table} is read by: {_scan_names(context, table)}")

    return Criterion(f"no sequential scan of {table}", test)


def index_only_scan(table: str) -> Criterion:
    """`table` is answered from an index alone, without visiting the heap."""

    def test(context: CheckContext) -> Outcome:
        scans = context.scans(table)
        only = [node for node in scans if node.node_type == "Index Only Scan"]
        if not only:
            return Outcome(False, f"{table} is read by: {_scan_names(context, table)}")
        fetches = sum(node.heap_fetches or 0 for node in only)
        if fetches:
            return Outcome(
                False,
                f"Index Only Scan, but {fetches:,.0f} heap fetches: the visibility map is not "
                f"up to date (VACUUM {table})",
            )
        return Outcome(True, f"Index Only Scan using {only[0].index}, 0 heap fetches")

    return Criterion(f"{table} is answered by an index-only scan with no heap fetches", test)


def no_sort() -> Criterion:
    """The rows come out of the plan in order, with no Sort node."""

    def test(context: CheckContext) -> Outcome:
        sorts = [node for node in context.plan.nodes if "Sort" in node.node_type]
        if sorts:
            method = sorts[0].sort_method or "sort"
            return Outcome(
                False, f"{sorts[0].node_type} ({method}) on {', '.join(sorts[0].sort_key)}"
            )
        return Outcome(True, "no Sort node: the index delivers the order")

    return Criterion("no Sort node (the index delivers the rows in order)", test)


def scan_reads_at_most(table: str, rows: int) -> Criterion:
    """The scans of `table` read at most `rows` rows (returned plus filtered out)."""

    def test(context: CheckContext) -> Outcome:
        scans = context.scans(table)
        read = sum(node.rows_read or 0 for node in scans)
        verdict = read <= rows
        return Outcome(
            verdict, f"{read:,.0f} rows read from {table} ({_scan_names(context, table)})"
        )

    return Criterion(f"at most {rows:,} rows are read from {table}", test)


def _shared_buffers(plan: Plan) -> int:
    buffers = plan.root.buffers
    return buffers.shared_hit + buffers.shared_read


def buffers_at_most(count: int) -> Criterion:
    """The whole statement touches at most `count` shared buffers (8 kB pages)."""

    def test(context: CheckContext) -> Outcome:
        touched = _shared_buffers(context.plan)
        return Outcome(touched <= count, f"{touched:,} shared buffers touched")

    return Criterion(f"at most {count:,} shared buffers touched", test)


def shared_buffers_within_table_pages(table: str, factor: float) -> Criterion:
    """Shared buffers touched stay within `factor` times the size of `table`."""

    def test(context: CheckContext) -> Outcome:
        touched = _shared_buffers(context.plan)
        pages = context.table_pages(table)
        limit = int(pages * factor)
        return Outcome(
            touched <= limit, f"{touched:,} shared buffers touched; {table} has {pages:,} pages"
        )

    return Criterion(f"shared buffers touched stay within {factor:g}x the pages of {table}", test)


def no_temp_files() -> Criterion:
    """Nothing spilled to temporary files (sorts and hashes fit in work_mem)."""

    def test(context: CheckContext) -> Outcome:
        written = context.plan.root.buffers.temp_written
        spills = [
            node
            for node in context.plan.nodes
            if node.sort_space_type == "Disk" or (node.hash_batches or 1) > 1
        ]
        if written or spills:
            where = spills[0].label if spills else "the plan"
            method = f" ({spills[0].sort_method})" if spills and spills[0].sort_method else ""
            return Outcome(False, f"{where}{method} wrote {written:,} temporary blocks")
        sorts = [node for node in context.plan.nodes if node.sort_method]
        how = f"{sorts[0].sort_method} in memory" if sorts else "no sort"
        return Outcome(True, f"no temporary files written ({how})")

    return Criterion("nothing spills to temporary files", test)


def estimate_within(table: str, factor: float) -> Criterion:
    """The planner's row estimate for the scan of `table` is off by at most `factor`."""

    def test(context: CheckContext) -> Outcome:
        scans = [node for node in context.scans(table) if node.misestimate is not None]
        if not scans:
            return Outcome(False, f"no executed scan of {table}")
        worst = max(scans, key=lambda node: node.misestimate or 1.0)
        off = worst.misestimate or 1.0
        detail = (
            f"{worst.label}: estimated {worst.plan_rows:,.0f} rows, got "
            f"{worst.actual_rows or 0:,.0f} ({off:,.1f}x off)"
        )
        return Outcome(off <= factor, detail)

    return Criterion(f"the row estimate for {table} is within {factor:g}x of the actual", test)


def statistics_cover(table: str, columns: Sequence[str]) -> Criterion:
    """An extended statistics object on `table` covers `columns`, and ANALYZE has filled it."""
    wanted = set(columns)

    def test(context: CheckContext) -> Outcome:
        found = context.statistics(table)
        covering = [entry for entry in found if wanted <= set(entry[2])]
        if not covering:
            names = ", ".join(f"{name} ({', '.join(cols)})" for name, _, cols, _ in found)
            return Outcome(False, f"statistics on {table}: {names or 'none'}")
        name, kinds, cols, analyzed = covering[0]
        if not analyzed:
            return Outcome(False, f"{name} exists but holds no data yet: run ANALYZE {table}")
        kind_names = {"d": "ndistinct", "f": "dependencies", "m": "mcv", "e": "expressions"}
        shown = ", ".join(kind_names.get(kind, kind) for kind in kinds)
        return Outcome(True, f"{name} ({shown}) on ({', '.join(cols)})")

    return Criterion(
        f"extended statistics on {table} cover ({', '.join(columns)}) and are analyzed", test
    )
