"""Index candidates for one query, read from its plan and its SQL; nothing here measures.

Targets are the nodes that read a table the slow way: a sequential scan that reads many rows,
or an index scan whose filter throws most of them away. For each, the constrained columns come
from the node's own conditions (filter, index condition, recheck) and from the SQL, parsed with
pglast, for what a node cannot show: ORDER BY with LIMIT, join keys, the columns the query needs.

Key order follows the B-tree rule: equality columns first, then IN lists, then one range column,
or the sort columns when an ORDER BY ... LIMIT can be read off the index. Variants: a covering
index (INCLUDE) when the query needs only a few more columns; a single-column index; a partial
index when a predicate picks a rare value of a low-cardinality column (pg_stats); an expression
index when the filter wraps the column (lower(email)); a trigram GIN index for LIKE '%x%' and
ILIKE when pg_trgm is installed; the join key of a table read whole for a join. A candidate
that an existing index already serves (same method, its key columns a prefix of that index's)
is set aside with the index's name. `_advise` measures the rest in what-if transactions.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from pglast import ast, enums, parse_sql
from pglast.keywords import UNRESERVED_KEYWORDS
from pglast.parser import ParseError
from pglast.stream import RawStream

from ._model import Plan, PlanNode

if TYPE_CHECKING:
    from ..postgres import Database

__all__ = [
    "CandidateSet",
    "Catalog",
    "ColumnStats",
    "ExistingIndex",
    "IndexCandidate",
    "KeyItem",
    "Predicate",
    "TableCatalog",
    "TableReference",
    "index_candidates",
    "predicates_of",
    "quote_identifier",
    "read_catalog",
    "table_references",
]

MIN_ROWS = 1_000  # a scan reading fewer rows (over all loops) is not worth an index
MAX_INCLUDE = 3  # an INCLUDE list longer than this is a copy of the table, not an index
LOW_CARDINALITY = 20  # distinct values at most, for a partial index on one of them
RARE_FREQUENCY = 0.1  # a value this rare (share of rows) earns a partial index
KEEPS_FEW = 0.3  # a filter keeping more of the rows than this is not worth indexing
_SCANS = {"Seq Scan", "Parallel Seq Scan"}
_FILTERED_SCANS = {"Index Scan", "Index Only Scan", "Bitmap Heap Scan"}
_RANGE_OPERATORS = {"<", ">", "<=", ">="}
_FLIPPED = {"<": ">", ">": "<", "<=": ">=", ">=": "<=", "=": "="}
_LIKE_OPERATORS = {"~~": "LIKE", "~~*": "ILIKE"}
# Casts that only relabel a column (an index on the column still serves them).
_RELABEL_TYPES = {"text", "varchar", "bpchar", "name", "character varying", "character"}
_PLAN_PARAMS = re.compile(
    r"\((?:InitPlan|SubPlan) \d+\)(?:\.col\d+)?|(?:hashed )?SubPlan \d+|\$\d+"
)


# -- what the query does with each table -------------------------------------------------------


@dataclass(frozen=True)
class Predicate:
    """One condition on one table: `key` is a column name, or an expression over its columns."""

    alias: str
    key: str
    kind: str  # "eq", "null", "in", "range", "prefix", "contains", "join"
    expression: bool = False
    value: str | None = None  # the literal an "eq" compares to, as pg_stats writes values
    text: str = ""  # the condition over unqualified columns, for a partial index's WHERE


@dataclass(frozen=True)
class TableReference:
    """Everything the SQL asks of one table reference (`alias`)."""

    alias: str
    relation: str
    schema: str | None = None
    predicates: tuple[Predicate, ...] = ()
    join_keys: tuple[str, ...] = ()
    order_by: tuple[tuple[str, bool], ...] = ()  # (column, descending)
    limited: bool = False
    group_by: tuple[str, ...] = ()
    columns: frozenset[str] | None = frozenset()  # None: every column (*, a whole row)


# -- what the database already has -------------------------------------------------------------


@dataclass(frozen=True)
class ColumnStats:
    """pg_stats for one column: n_distinct as the server gives it (< 0: a share of the rows)."""

    null_frac: float
    n_distinct: float
    common_values: Mapping[str, float] = field(default_factory=dict)

    def distinct(self, rows: float) -> float:
        """Distinct values as a count."""
        return -self.n_distinct * rows if self.n_distinct < 0 else self.n_distinct

    def frequency(self, value: str, rows: float) -> float:
        """The share of rows holding `value` (the planner's own reasoning, roughly)."""
        if value in self.common_values:
            return self.common_values[value]
        rest = 1.0 - self.null_frac - sum(self.common_values.values())
        others = self.distinct(rows) - len(self.common_values)
        return max(rest, 0.0) / others if others >= 1 else 0.0


@dataclass(frozen=True)
class ExistingIndex:
    """An index the table has: key columns (or expressions), INCLUDE columns, predicate."""

    name: str
    keys: tuple[str, ...]
    include: tuple[str, ...] = ()
    opclasses: tuple[str, ...] = ()
    predicate: str | None = None
    method: str = "btree"


@dataclass(frozen=True)
class TableCatalog:
    """One table's columns, row count, indexes and column statistics."""

    schema: str
    relation: str
    rows: float = 0.0
    columns: tuple[str, ...] = ()
    indexes: tuple[ExistingIndex, ...] = ()
    stats: Mapping[str, ColumnStats] = field(default_factory=dict)


@dataclass(frozen=True)
class Catalog:
    """What `read_catalog` found; `trigram` is whether pg_trgm is installed."""

    tables: tuple[TableCatalog, ...] = ()
    trigram: bool = False
    trigram_available: bool = False

    def table(self, relation: str, schema: str | None) -> TableCatalog | None:
        """The catalog entry for a table (any schema when `schema` is None)."""
        for table in self.tables:
            if table.relation == relation and schema in (None, table.schema):
                return table
        return None


# -- candidates --------------------------------------------------------------------------------


@dataclass(frozen=True)
class KeyItem:
    """One key of an index: a column or an expression, with an operator class or DESC."""

    key: str
    expression: bool = False
    opclass: str | None = None
    descending: bool = False

    def sql(self) -> str:
        """The key as CREATE INDEX writes it."""
        text = f"({self.key})" if self.expression else quote_identifier(self.key)
        if self.opclass:
            text += f" {self.opclass}"
        return text + (" DESC" if self.descending else "")


@dataclass(frozen=True)
class IndexCandidate:
    """An index worth trying, why, and the plan node it is meant to speed up."""

    table: str
    schema: str | None
    keys: tuple[KeyItem, ...]
    include: tuple[str, ...] = ()
    where: str | None = None
    method: str = "btree"
    reason: str = ""
    node_id: int | None = None
    equality_keys: int = 0  # how many leading keys are equality columns (their order is free)

    @property
    def columns(self) -> tuple[str, ...]:
        """The key columns and expressions, in index order."""
        return tuple(item.key for item in self.keys)

    @property
    def name(self) -> str:
        """A deterministic name: nx_<table>_<keys>[_incl][_where_..][_trgm]_idx (<= 63 bytes)."""
        parts = [_name_part(self.table), *(_name_part(item.key) for item in self.keys)]
        if self.include:
            parts.append("incl")
        if self.where:
            parts += ["where", _name_part(self.where)]
        if self.method == "gin" and any(i.opclass == "gin_trgm_ops" for i in self.keys):
            parts.append("trgm")
        name = "nx_" + "_".join(p for p in parts if p) + "_idx"
        name = re.sub(r"_+", "_", name)
        if len(name) <= 63:
            return name
        digest = hashlib.sha256(name.encode()).hexdigest()[:8]
        return f"{name[:50].rstrip('_')}_{digest}_idx"

    @property
    def qualified_table(self) -> str:
        """The table, schema-qualified when the schema is known, quoted as needed."""
        parts = [self.schema, self.table] if self.schema else [self.table]
        return ".".join(quote_identifier(p) for p in parts)

    @property
    def qualified_name(self) -> str:
        """The index name, in the table's schema."""
        parts = [self.schema, self.name] if self.schema else [self.name]
        return ".".join(quote_identifier(p) for p in parts)

    @property
    def ddl(self) -> str:
        """The CREATE INDEX statement."""
        using = f" USING {self.method}" if self.method != "btree" else ""
        text = (
            f"CREATE INDEX {quote_identifier(self.name)} ON {self.qualified_table}{using}"
            f" ({', '.join(item.sql() for item in self.keys)})"
        )
        if self.include:
            text += f" INCLUDE ({', '.join(quote_identifier(c) for c in self.include)})"
        if self.where:
            text += f" WHERE {self.where}"
        return text

    def _identity(self) -> tuple[object, ...]:
        return (self.schema, self.table, self.keys, self.include, self.where, self.method)


@dataclass(frozen=True)
class CandidateSet:
    """Candidates best first; those an existing index covers, with its name; notes."""

    candidates: tuple[IndexCandidate, ...] = ()
    covered: tuple[tuple[IndexCandidate, str], ...] = ()
    notes: tuple[str, ...] = ()


def index_candidates(
    plan: Plan, sql: str = "", catalog: Catalog | None = None, *, min_rows: float = MIN_ROWS
) -> CandidateSet:
    """Index candidates for the slow scans of `plan`, best first; pure, no database.

    Without a `catalog` nothing is known about existing indexes, statistics or extensions:
    every candidate is kept, no partial index is proposed, and pg_trgm is assumed installed.
    """
    columns_of = _columns_lookup(catalog)
    references = table_references(sql or plan.sql, columns_of) if (sql or plan.sql) else []
    per_node: list[tuple[float, PlanNode, list[IndexCandidate]]] = []
    notes: list[str] = []
    for node in _targets(plan, min_rows):
        reference = _reference_for(node, references)
        table = catalog.table(node.relation or "", node.schema) if catalog else None
        found = _node_candidates(node, reference, table, catalog, notes)
        if found:
            per_node.append((_score(node), node, found))
    per_node.sort(key=lambda entry: (-entry[0], entry[1].id))
    ordered: list[IndexCandidate] = []
    seen: set[tuple[object, ...]] = set()
    covered: list[tuple[IndexCandidate, str]] = []
    # Round robin: every table's best candidate is tried before any table's second.
    for rank in range(max((len(found) for _, _, found in per_node), default=0)):
        for _, _, found in per_node:
            if rank >= len(found) or found[rank]._identity() in seen:
                continue
            candidate = found[rank]
            seen.add(candidate._identity())
            table = catalog.table(candidate.table, candidate.schema) if catalog else None
            existing = _covering_index(candidate, table)
            if existing is not None:
                covered.append((candidate, existing))
            else:
                ordered.append(candidate)
    return CandidateSet(tuple(ordered), tuple(covered), tuple(dict.fromkeys(notes)))


# -- targets and their candidates --------------------------------------------------------------


def _targets(plan: Plan, min_rows: float) -> Iterator[PlanNode]:
    """Nodes reading a table the slow way: big sequential scans, index scans that filter."""
    for node in plan.nodes:
        if node.relation and not node.never_executed and _is_slow_read(node, min_rows):
            yield node


def _is_slow_read(node: PlanNode, min_rows: float) -> bool:
    if node.node_type in _SCANS:
        read = node.rows_read
        return read is None or read >= min_rows
    if node.node_type not in _FILTERED_SCANS or not node.filter:
        return False
    removed, returned = node.rows_removed_by_filter, node.total_rows
    if removed is None or returned is None:
        return True
    return removed >= max(returned, 100.0) and removed + returned >= min_rows


def _score(node: PlanNode) -> float:
    """How much there is to gain at this node: its time, else the planner's cost."""
    if node.inclusive_ms is not None:
        return node.inclusive_ms
    return node.total_cost


def _reference_for(node: PlanNode, references: Sequence[TableReference]) -> TableReference | None:
    """The SQL's reference to the table `node` scans; EXPLAIN renames repeated aliases x_1."""
    alias = node.alias or node.relation or ""
    same = [r for r in references if r.relation == node.relation]
    for name in (alias, re.sub(r"_\d+$", "", alias)):
        found = [r for r in same if r.alias == name]
        if found:
            return _merge_references(found)
    return _merge_references(same) if len(same) == 1 else None


def _node_candidates(
    node: PlanNode,
    reference: TableReference | None,
    table: TableCatalog | None,
    catalog: Catalog | None,
    notes: list[str],
) -> list[IndexCandidate]:
    """The candidates for one slow node, best first."""
    ideas = _Ideas(node, reference, table)
    full = ideas.full()
    ideas.add(full.keys, full.reason, equality_keys=full.equality)
    ideas.trigram(catalog, notes)
    extra = _include_columns(node, reference, full.keys)
    if full.keys and extra:
        ideas.add(
            full.keys,
            "covering, for an index-only scan",
            include=extra,
            equality_keys=full.equality,
        )
    ideas.single(len(full.keys))
    ideas.partial(full.keys)
    ideas.join_keys()
    ideas.grouped()
    return ideas.found


@dataclass(frozen=True)
class _Keys:
    keys: list[KeyItem]
    reason: str
    equality: int


class _Ideas:
    """The constraints on one scanned table, sorted by kind, and the candidates made of them."""

    def __init__(
        self, node: PlanNode, reference: TableReference | None, table: TableCatalog | None
    ):
        self.node, self.reference, self.table = node, reference, table
        self.rows = table.rows if table else 0.0
        self.found: list[IndexCandidate] = []
        alias = node.alias or node.relation or ""
        planned = [p for text in _conditions(node) for p in predicates_of(text, alias)]
        # The plan prints expressions its own way ('0'::numeric for 0): when it shows one,
        # the SQL's spelling of the same expression would only add a duplicate.
        plan_has_expression = any(p.expression for p in planned)
        written = [
            p
            for p in (reference.predicates if reference else ())
            if not (p.expression and plan_has_expression)
        ]
        own = [p for p in _unique([*planned, *written]) if p.alias == alias]
        if not _keeps_few(node):  # filtering on what keeps most rows is no use for an index
            own = [p for p in own if p.kind == "join"]
        # A condition that keeps most of the rows gains nothing as a leading key.
        self.equal = sorted(
            (p for p in own if p.kind in {"eq", "null"} and self.selectivity(p) <= 0.5),
            key=self.selectivity,
        )
        self.lists = [p for p in own if p.kind == "in"]
        self.ranges = [p for p in own if p.kind in {"range", "prefix"}]
        self.contains = [p for p in own if p.kind == "contains"]
        joins = [p.key for p in own if p.kind == "join" and not p.expression]
        self.joins = _unique_keys([*joins, *(reference.join_keys if reference else ())])

    def selectivity(self, predicate: Predicate) -> float:
        return _selectivity(predicate, self.table, self.rows)

    def add(
        self,
        keys: Sequence[KeyItem],
        reason: str,
        *,
        include: tuple[str, ...] = (),
        where: str | None = None,
        method: str = "btree",
        equality_keys: int = 0,
    ) -> None:
        if not keys:
            return
        node = self.node
        self.found.append(
            IndexCandidate(
                table=node.relation or "",
                schema=node.schema or (self.table.schema if self.table else None),
                keys=tuple(keys),
                include=include,
                where=where,
                method=method,
                reason=f"{reason} ({node.label}, node {node.id})",
                node_id=node.id,
                equality_keys=equality_keys,
            )
        )

    def full(self) -> _Keys:
        """Equality columns, IN lists, then one range column, or the ORDER BY ... LIMIT keys."""
        equal = [_item(p) for p in self.equal]
        lists = [_item(p) for p in self.lists if p.key not in {k.key for k in equal}]
        sort = _sort_keys(self.reference, equal)
        ranges = self.ranges
        if sort and not lists and (not ranges or ranges[0].key == sort[0].key):
            why = "equality columns, then the ORDER BY columns, so LIMIT stops early"
            return _Keys([*equal, *sort], why, len(equal))
        keys = [*equal, *lists]
        if ranges:
            opclass = "text_pattern_ops" if ranges[0].kind == "prefix" else None
            keys.append(replace(_item(ranges[0]), opclass=opclass))
            return _Keys(keys, "equality columns first, then the range column", len(equal))
        return _Keys(keys, "the filtered columns", len(equal))

    def trigram(self, catalog: Catalog | None, notes: list[str]) -> None:
        for predicate in self.contains:
            if catalog is None or catalog.trigram:
                item = KeyItem(predicate.key, predicate.expression, opclass="gin_trgm_ops")
                self.add([item], "a trigram index serves LIKE '%...%' and ILIKE", method="gin")
            elif catalog.trigram_available:
                notes.append(
                    f"{self.node.relation}.{predicate.key} is searched with LIKE '%...%' or"
                    " ILIKE: a trigram index could serve it once pg_trgm is installed"
                    " (CREATE EXTENSION pg_trgm)"
                )

    def single(self, full_length: int) -> None:
        """The most selective column alone, when the full candidate has several keys."""
        choices = [*self.equal, *self.lists, *self.ranges[:1]]
        if full_length > 1 and choices:
            best = min(choices, key=self.selectivity)
            if self.selectivity(best) <= 0.2:
                self.add([_item(best)], "the most selective column alone", equality_keys=1)

    def partial(self, full: Sequence[KeyItem]) -> None:
        """A partial index when an equality picks a rare value of a low-cardinality column."""
        table = self.table
        if table is None:
            return
        for predicate in self.equal:
            stats = table.stats.get(predicate.key)
            if predicate.value is None or predicate.expression or stats is None:
                continue
            if not 0 < stats.distinct(self.rows) <= LOW_CARDINALITY:
                continue
            if stats.frequency(predicate.value, self.rows) <= RARE_FREQUENCY:
                rest = [k for k in full if k.key != predicate.key] or [_item(predicate)]
                self.add(rest, "a partial index over the rare value only", where=predicate.text)

    def grouped(self) -> None:
        """GROUP BY columns after the equality columns, covering the rest.

        Groups then come out of an index-only scan in order: no sort, no hash table.
        """
        reference = self.reference
        if reference is None or not reference.group_by:
            return
        equal = [_item(p) for p in self.equal]
        fixed = {item.key for item in equal}
        keys = [*equal, *(KeyItem(c) for c in reference.group_by if c not in fixed)]
        include = _include_columns(self.node, reference, keys)
        if include or _covers(reference, keys):
            why = "the GROUP BY columns, covering: groups read in order from the index"
            self.add(keys, why, include=include, equality_keys=len(equal))

    def join_keys(self) -> None:
        if _is_join_input(self.node):
            for key in self.joins:
                why = "the join key, for a nested loop over an index"
                self.add([KeyItem(key)], why, equality_keys=1)


def _keeps_few(node: PlanNode) -> bool:
    """Whether the node keeps a small share of the rows it reads (unknown: assume it does)."""
    read, returned = node.rows_read, node.total_rows
    if read is None or returned is None or read <= 0:
        return True
    return returned <= KEEPS_FEW * read


def _conditions(node: PlanNode) -> Iterator[str]:
    for text in (node.index_cond, node.filter, node.recheck_cond):
        if text:
            yield text


def _item(predicate: Predicate) -> KeyItem:
    return KeyItem(predicate.key, predicate.expression)


def _sort_keys(reference: TableReference | None, equal: Sequence[KeyItem]) -> list[KeyItem]:
    """ORDER BY columns worth keying on: all from this table, and the query has a LIMIT."""
    if reference is None or not reference.limited or not reference.order_by:
        return []
    fixed = {item.key for item in equal}
    order = [(column, desc) for column, desc in reference.order_by if column not in fixed]
    if not order:
        return []
    # One direction for all is served by a backward scan; mixed directions need DESC keys.
    flip = all(desc for _, desc in order)
    return [KeyItem(column, descending=desc and not flip) for column, desc in order]


def _include_columns(
    node: PlanNode, reference: TableReference | None, keys: Sequence[KeyItem]
) -> tuple[str, ...]:
    """Columns to INCLUDE for an index-only scan, when the query needs only a few more."""
    if any(item.expression for item in keys):
        return ()
    alias = node.alias or node.relation or ""
    # The SQL says which columns the query reads; a scan's Output often lists them all (the
    # planner returns whole rows when no projection is needed), so it only stands in.
    if reference is not None:
        if reference.columns is None:
            return ()
        needed = set(reference.columns)
    elif node.output:
        needed = set()
        for text in node.output:
            columns = _plain_columns(text, alias)
            if columns is None:
                return ()
            needed |= columns
        conditions = (p for t in _conditions(node) for p in predicates_of(t, alias))
        needed |= {p.key for p in conditions if p.alias == alias and not p.expression}
    else:
        return ()
    extra = sorted(needed - {item.key for item in keys})
    return tuple(extra) if 0 < len(extra) <= MAX_INCLUDE else ()


def _covers(reference: TableReference, keys: Sequence[KeyItem]) -> bool:
    """Whether the keys alone hold every column the query reads from this table."""
    if reference.columns is None or any(item.expression for item in keys):
        return False
    return reference.columns <= {item.key for item in keys}


def _plain_columns(text: str, alias: str) -> set[str] | None:
    """Columns of `alias` an output expression reads; None when it needs the whole row."""
    tree = _parse_expression(text)
    if tree is None:
        return None
    found: set[str] = set()
    for node in _walk(tree):
        if isinstance(node, ast.ColumnRef):
            names = _field_names(node)
            if names is None or (len(names) == 1 and names[0] == alias):
                return None
            if len(names) == 1 or names[-2] == alias:
                found.add(names[-1])
    return found


def _is_join_input(node: PlanNode) -> bool:
    """Whether the node feeds a join (directly, or through Hash, Sort, Materialize, Memoize)."""
    parent = node.parent
    while parent is not None and parent.node_type in {
        "Hash",
        "Sort",
        "Materialize",
        "Memoize",
        "Gather",
    }:
        parent = parent.parent
    return parent is not None and parent.node_type in {"Hash Join", "Merge Join", "Nested Loop"}


def _selectivity(predicate: Predicate, table: TableCatalog | None, rows: float) -> float:
    """The share of rows a condition keeps, from pg_stats; a neutral guess without them."""
    defaults = {"eq": 0.005, "null": 0.05, "in": 0.02, "range": 0.1, "prefix": 0.05}
    guess = defaults.get(predicate.kind, 0.3)
    if table is None or predicate.expression:
        return guess
    stats = table.stats.get(predicate.key)
    if stats is None:
        return guess
    if predicate.kind == "null":
        return stats.null_frac
    if predicate.kind == "eq":
        if predicate.value is not None:
            return stats.frequency(predicate.value, rows)
        distinct = stats.distinct(rows)
        return (1.0 - stats.null_frac) / distinct if distinct >= 1 else guess
    return guess


def _covering_index(candidate: IndexCandidate, table: TableCatalog | None) -> str | None:
    """The name of an existing index that already serves the candidate, if any."""
    if table is None:
        return None
    wanted = [_normal_key(item.key, item.expression) for item in candidate.keys]
    opclasses = [item.opclass for item in candidate.keys]
    for index in table.indexes:
        if index.method != candidate.method or index.predicate != candidate.where:
            continue
        have = [_normal_key(key, _looks_like_expression(key)) for key in index.keys]
        if len(have) < len(wanted):
            continue
        free = candidate.equality_keys
        if (
            sorted(have[:free]) != sorted(wanted[:free])
            or have[free : len(wanted)] != wanted[free:]
        ):
            continue
        if candidate.method == "gin" and any(
            op and (i >= len(index.opclasses) or index.opclasses[i] != op)
            for i, op in enumerate(opclasses)
        ):
            continue
        if set(candidate.include) <= {*index.keys, *index.include}:
            return index.name
    return None


def _normal_key(key: str, expression: bool) -> str:
    if not expression:
        return key
    tree = _parse_expression(key)
    return RawStream()(tree) if tree is not None else key


def _looks_like_expression(key: str) -> bool:
    return not re.fullmatch(r'[a-z_][a-z0-9_$]*|"(?:[^"]|"")+"', key)


# -- predicates from plan conditions and SQL ---------------------------------------------------


def predicates_of(condition: str, alias: str) -> list[Predicate]:
    """The indexable conditions on `alias` in a plan node's condition text.

    Plan text is SQL-like ("((o.user_id = '42'::bigint) AND ...)"): pglast parses it, with the
    references to InitPlans and SubPlans that are not SQL replaced by a placeholder. Columns
    without a table name belong to `alias`, the table the node scans.
    """
    tree = _parse_expression(_PLAN_PARAMS.sub("NULL", condition))
    if tree is None:
        return []

    def resolve(names: tuple[str, ...]) -> tuple[str, str] | None:
        if len(names) == 1:
            return alias, names[0]
        return names[-2], names[-1]

    return [p for part in _conjuncts(tree) for p in _classify(part, resolve)]


def table_references(
    sql: str, columns_of: Callable[[str, str | None], frozenset[str] | None] | None = None
) -> list[TableReference]:
    """What the statement asks of each table it reads; [] when pglast cannot parse it.

    `columns_of(relation, schema)` names a table's columns, to place unqualified columns in a
    query over several tables; without it they are placed only when one table is in scope.
    """
    try:
        statements = parse_sql(sql)
    except ParseError:
        return []
    collector = _Collector(columns_of or (lambda relation, schema: None))
    for raw in statements:
        if raw.stmt is not None:
            collector.statement(raw.stmt, None)
    return collector.references()


@dataclass
class _Scope:
    parent: _Scope | None
    ctes: frozenset[str]
    tables: dict[str, tuple[str, str | None]] = field(default_factory=dict)
    derived: set[str] = field(default_factory=set)

    def all_ctes(self) -> frozenset[str]:
        return self.ctes | (self.parent.all_ctes() if self.parent else frozenset())


@dataclass
class _Builder:
    predicates: list[Predicate] = field(default_factory=list)
    join_keys: list[str] = field(default_factory=list)
    order_by: tuple[tuple[str, bool], ...] = ()
    limited: bool = False
    group_by: list[str] = field(default_factory=list)
    columns: set[str] | None = field(default_factory=set)


class _Collector:
    """Walks statements scope by scope, gathering per table reference what the SQL asks."""

    def __init__(self, columns_of: Callable[[str, str | None], frozenset[str] | None]):
        self.columns_of = columns_of
        self.found: dict[tuple[str, str, str | None], _Builder] = {}

    def references(self) -> list[TableReference]:
        return [
            TableReference(
                alias=alias,
                relation=relation,
                schema=schema,
                predicates=tuple(_unique(b.predicates)),
                join_keys=tuple(_unique_keys(b.join_keys)),
                order_by=b.order_by,
                limited=b.limited,
                group_by=tuple(_unique_keys(b.group_by)),
                columns=frozenset(b.columns) if b.columns is not None else None,
            )
            for (alias, relation, schema), b in self.found.items()
        ]

    def builder(self, scope: _Scope, alias: str) -> _Builder | None:
        current: _Scope | None = scope
        while current is not None:
            if alias in current.tables:
                relation, schema = current.tables[alias]
                return self.found.setdefault((alias, relation, schema), _Builder())
            if alias in current.derived:
                return None
            current = current.parent
        return None

    def statement(self, node: ast.Node, parent: _Scope | None) -> None:
        if isinstance(node, ast.SelectStmt):
            self.select(node, parent)
        elif isinstance(node, ast.InsertStmt) and node.selectStmt is not None:
            self.statement(node.selectStmt, parent)
        elif isinstance(node, ast.UpdateStmt | ast.DeleteStmt):
            self.modify(node, parent)
        elif isinstance(node, ast.ExplainStmt) and node.query is not None:
            self.statement(node.query, parent)

    def select(self, node: ast.SelectStmt, parent: _Scope | None) -> None:
        ctes = self.with_clause(node.withClause, parent)
        if node.op is not None and node.op != enums.SetOperation.SETOP_NONE:
            for side in (node.larg, node.rarg):
                if side is not None:
                    self.select(side, parent)
            return
        scope = _Scope(parent, ctes)
        quals: list[ast.Node] = []
        for item in node.fromClause or ():
            self.from_item(item, scope, quals)
        self.conditions([*_conjuncts(node.whereClause), *quals], scope)
        for part in (
            node.targetList,
            node.whereClause,
            node.havingClause,
            node.groupClause,
            node.sortClause,
            node.windowClause,
            node.distinctClause,
            *quals,
        ):
            self.uses(part, scope)
        self.ordering(node, scope)
        for item in node.groupClause or ():
            if isinstance(item, ast.ColumnRef):
                place = self.resolve(item, scope)
                builder = self.builder(scope, place[0]) if place else None
                if builder is not None and place is not None:
                    builder.group_by.append(place[1])

    def modify(self, node: ast.UpdateStmt | ast.DeleteStmt, parent: _Scope | None) -> None:
        ctes = self.with_clause(node.withClause, parent)
        scope = _Scope(parent, ctes)
        quals: list[ast.Node] = []
        if node.relation is not None:
            self.from_item(node.relation, scope, quals)
        extra = node.fromClause if isinstance(node, ast.UpdateStmt) else node.usingClause
        for item in extra or ():
            self.from_item(item, scope, quals)
        self.conditions([*_conjuncts(node.whereClause), *quals], scope)
        self.uses(node.whereClause, scope)

    def with_clause(self, clause: ast.WithClause | None, parent: _Scope | None) -> frozenset[str]:
        names: list[str] = []
        for cte in (clause.ctes if clause else None) or ():
            if isinstance(cte, ast.CommonTableExpr) and cte.ctequery is not None:
                self.statement(cte.ctequery, parent)
                names.append(str(cte.ctename))
        return frozenset(names)

    def from_item(self, item: ast.Node, scope: _Scope, quals: list[ast.Node]) -> None:
        if isinstance(item, ast.RangeVar):
            alias = item.alias.aliasname if item.alias else item.relname
            if item.schemaname is None and item.relname in scope.all_ctes():
                scope.derived.add(str(alias))
            else:
                scope.tables[str(alias)] = (str(item.relname), item.schemaname)
        elif isinstance(item, ast.JoinExpr):
            for side in (item.larg, item.rarg):
                if side is not None:
                    self.from_item(side, scope, quals)
            quals.extend(_conjuncts(item.quals))
            if item.usingClause and isinstance(item.larg, ast.RangeVar):
                self.using_keys(item, scope)
        elif isinstance(item, ast.RangeSubselect):
            if item.subquery is not None:
                self.statement(item.subquery, scope if item.lateral else scope.parent)
            if item.alias is not None:
                scope.derived.add(str(item.alias.aliasname))
        elif isinstance(item, ast.RangeFunction) and item.alias is not None:
            scope.derived.add(str(item.alias.aliasname))

    def using_keys(self, item: ast.JoinExpr, scope: _Scope) -> None:
        names = [str(getattr(n, "sval", "")) for n in item.usingClause or ()]
        for side in (item.larg, item.rarg):
            if isinstance(side, ast.RangeVar):
                alias = str(side.alias.aliasname if side.alias else side.relname)
                builder = self.builder(scope, alias)
                if builder is not None:
                    builder.join_keys.extend(names)

    def conditions(self, parts: Sequence[ast.Node], scope: _Scope) -> None:
        def resolve(names: tuple[str, ...]) -> tuple[str, str] | None:
            return self.resolve_names(names, scope)

        for part in parts:
            for predicate in _classify(part, resolve):
                builder = self.builder(scope, predicate.alias)
                if builder is None:
                    continue
                if predicate.kind == "join":
                    builder.join_keys.append(predicate.key)
                else:
                    builder.predicates.append(predicate)

    def ordering(self, node: ast.SelectStmt, scope: _Scope) -> None:
        order: list[tuple[str, str, bool]] = []
        for item in node.sortClause or ():
            if not isinstance(item, ast.SortBy) or not isinstance(item.node, ast.ColumnRef):
                return
            place = self.resolve(item.node, scope)
            if place is None:
                return
            descending = item.sortby_dir == enums.SortByDir.SORTBY_DESC
            order.append((place[0], place[1], descending))
        if not order or len({alias for alias, _, _ in order}) != 1:
            return
        builder = self.builder(scope, order[0][0])
        if builder is not None:
            builder.order_by = tuple((column, desc) for _, column, desc in order)
            builder.limited = node.limitCount is not None

    def uses(self, part: Any, scope: _Scope) -> None:
        """Record the columns read by `part`; subqueries get their own scope."""
        if part is None:
            return
        if isinstance(part, tuple | list):
            for item in part:
                self.uses(item, scope)
            return
        if not isinstance(part, ast.Node):
            return
        if isinstance(part, ast.SelectStmt):
            self.select(part, scope)
            return
        if isinstance(part, ast.ColumnRef):
            self.column_use(part, scope)
            return
        for name in part:
            self.uses(getattr(part, name), scope)

    def column_use(self, node: ast.ColumnRef, scope: _Scope) -> None:
        names = _field_names(node)
        if names is None:  # a star: * or alias.*
            fields = node.fields or ()
            if len(fields) >= 2:
                builder = self.builder(scope, str(getattr(fields[-2], "sval", "")))
                if builder is not None:
                    builder.columns = None
                return
            for alias in scope.tables:
                builder = self.builder(scope, alias)
                if builder is not None:
                    builder.columns = None
            return
        place = self.resolve_names(names, scope)
        if place is None:
            if len(names) == 1:  # a whole-row reference, or a column we cannot place
                target = self.builder(scope, names[0])
                targets = [target] if target else [self.builder(scope, a) for a in scope.tables]
                for builder in targets:
                    if builder is not None:
                        builder.columns = None
            return
        builder = self.builder(scope, place[0])
        if builder is not None and builder.columns is not None:
            builder.columns.add(place[1])

    def resolve(self, node: ast.ColumnRef, scope: _Scope) -> tuple[str, str] | None:
        names = _field_names(node)
        return self.resolve_names(names, scope) if names else None

    def resolve_names(self, names: tuple[str, ...], scope: _Scope) -> tuple[str, str] | None:
        """(alias, column) for a column reference, looking outwards through the scopes."""
        current: _Scope | None = scope
        while current is not None:
            if len(names) >= 2:
                alias = names[-2]
                if alias in current.tables:
                    return alias, names[-1]
                if alias in current.derived:
                    return None
            else:
                owners = [
                    alias
                    for alias, (relation, schema) in current.tables.items()
                    if (known := self.columns_of(relation, schema)) is not None
                    and names[0] in known
                ]
                if len(owners) == 1:
                    return owners[0], names[0]
                if len(current.tables) == 1 and not current.derived and not owners:
                    only = next(iter(current.tables))
                    relation, schema = current.tables[only]
                    if self.columns_of(relation, schema) is None:
                        return only, names[0]
                if owners or current.tables or current.derived:
                    return None
            current = current.parent
        return None


def _classify(
    node: ast.Node, resolve: Callable[[tuple[str, ...]], tuple[str, str] | None]
) -> list[Predicate]:
    """The indexable predicates in one AND-ed condition (none for OR, NOT IN, <> ...)."""
    key = _KeyReader(resolve)
    if isinstance(node, ast.A_Expr):
        return _classify_operator(node, key)
    target: Any = None
    value, suffix = "t", ""
    if isinstance(node, ast.ColumnRef):
        target = node
    elif isinstance(node, ast.BoolExpr) and node.boolop == enums.BoolExprType.NOT_EXPR:
        target, value = (node.args or (None,))[0], "f"
    elif isinstance(node, ast.BooleanTest):
        values = {enums.BoolTestType.IS_TRUE: "t", enums.BoolTestType.IS_FALSE: "f"}
        target = node.arg
        value = values.get(node.booltesttype, "") if node.booltesttype is not None else ""
        suffix = " IS TRUE" if value == "t" else " IS FALSE"
    elif isinstance(node, ast.NullTest) and node.nulltesttype == enums.NullTestType.IS_NULL:
        found = key.read(node.arg)
        if found is None:
            return []
        alias, column, expression = found
        text = f"{_key_sql(column, expression)} IS NULL"
        return [Predicate(alias, column, "null", expression, None, text)]
    found = key.read(target) if target is not None and value else None
    if found is None:
        return []
    alias, column, expression = found
    shown = _key_sql(column, expression)
    text = shown + suffix if suffix or value == "t" else f"NOT {shown}"
    return [Predicate(alias, column, "eq", expression, value, text)]


def _classify_operator(node: ast.A_Expr, key: _KeyReader) -> list[Predicate]:
    kinds = enums.A_Expr_Kind
    operator = str(getattr((node.name or (None,))[-1], "sval", ""))
    if node.kind in {kinds.AEXPR_IN, kinds.AEXPR_OP_ANY, kinds.AEXPR_BETWEEN}:
        found = key.read(node.lexpr)
        if found is None or not _is_constant(node.rexpr):
            return []
        if node.kind == kinds.AEXPR_BETWEEN:
            return [Predicate(found[0], found[1], "range", found[2])]
        return [Predicate(found[0], found[1], "in", found[2])] if operator == "=" else []
    if node.kind in {kinds.AEXPR_LIKE, kinds.AEXPR_ILIKE}:
        operator = "~~*" if node.kind == kinds.AEXPR_ILIKE else "~~"
    elif node.kind != kinds.AEXPR_OP:
        return []
    left, right = key.read(node.lexpr), key.read(node.rexpr)
    other = node.rexpr
    if left and right and operator == "=" and left[0] != right[0]:
        return [Predicate(*left[:2], "join", left[2]), Predicate(*right[:2], "join", right[2])]
    if left is None and right is not None:
        left, other, operator = right, node.lexpr, _FLIPPED.get(operator, "")
    return _compared(left, operator, other, key) if left is not None else []


def _compared(
    found: tuple[str, str, bool], operator: str, other: Any, key: _KeyReader
) -> list[Predicate]:
    """A column (or expression) compared to `other` with `operator`."""
    alias, column, expression = found
    if operator in _LIKE_OPERATORS:
        pattern = _literal(other)
        anchored = pattern is not None and pattern[:1] not in {"%", "_", ""} and operator == "~~"
        return [Predicate(alias, column, "prefix" if anchored else "contains", expression)]
    others = key.aliases_in(other)
    if others:  # compared to another table's columns: a join key for this one
        return [Predicate(alias, column, "join", expression)] if operator == "=" else []
    if others is None:
        return []
    if operator in _RANGE_OPERATORS:
        return [Predicate(alias, column, "range", expression)]
    if operator != "=":
        return []
    value = _literal(other)
    text = f"{_key_sql(column, expression)} = {_sql_literal(other)}" if value is not None else ""
    return [Predicate(alias, column, "eq", expression, value, text)]


class _KeyReader:
    """Reads the table side of a condition: a column, a relabelling cast, or an expression."""

    def __init__(self, resolve: Callable[[tuple[str, ...]], tuple[str, str] | None]):
        self.resolve = resolve

    def read(self, node: Any) -> tuple[str, str, bool] | None:
        """(alias, column or expression SQL, is_expression), or None for a constant."""
        if isinstance(node, ast.TypeCast) and _type_name(node) in _RELABEL_TYPES:
            node = node.arg
        if isinstance(node, ast.ColumnRef):
            names = _field_names(node)
            place = self.resolve(names) if names else None
            return (place[0], place[1], False) if place else None
        if not isinstance(node, ast.FuncCall | ast.TypeCast | ast.A_Expr | ast.CoalesceExpr):
            return None
        aliases = self.aliases_in(node)
        if aliases is None or len(aliases) != 1:
            return None
        return next(iter(aliases)), _unqualified_sql(node), True

    def aliases_in(self, node: Any) -> set[str] | None:
        """The tables whose columns `node` reads (subqueries aside); None if one is unknown."""
        found: set[str] = set()
        for child in _walk(node, into_subqueries=False):
            if isinstance(child, ast.ColumnRef):
                names = _field_names(child)
                place = self.resolve(names) if names else None
                if place is None:
                    return None
                found.add(place[0])
        return found


# -- small helpers -----------------------------------------------------------------------------


def _parse_expression(text: str) -> ast.Node | None:
    try:
        statement = parse_sql(f"SELECT {text}")[0].stmt
    except (ParseError, IndexError):
        return None
    if not isinstance(statement, ast.SelectStmt) or not statement.targetList:
        return None
    target = statement.targetList[0]
    return target.val if isinstance(target, ast.ResTarget) else None


def _conjuncts(node: Any) -> list[ast.Node]:
    if node is None:
        return []
    if _is_and(node):
        return [part for arg in node.args or () for part in _conjuncts(arg)]
    return [node] if isinstance(node, ast.Node) else []


def _is_and(node: Any) -> bool:
    return isinstance(node, ast.BoolExpr) and node.boolop == enums.BoolExprType.AND_EXPR


def _walk(node: Any, *, into_subqueries: bool = True) -> Iterator[ast.Node]:
    if isinstance(node, tuple | list):
        for item in node:
            yield from _walk(item, into_subqueries=into_subqueries)
        return
    if not isinstance(node, ast.Node):
        return
    yield node
    if not into_subqueries and isinstance(node, ast.SubLink):
        return
    for name in node:
        yield from _walk(getattr(node, name), into_subqueries=into_subqueries)


def _field_names(node: ast.ColumnRef) -> tuple[str, ...] | None:
    """The dotted names of a column reference; None for a star."""
    names = []
    for part in node.fields or ():
        if isinstance(part, ast.A_Star):
            return None
        names.append(str(getattr(part, "sval", "")))
    return tuple(names)


def _type_name(node: ast.TypeCast) -> str:
    names = node.typeName.names if node.typeName is not None else ()
    return str(getattr((names or (None,))[-1], "sval", ""))


def _is_constant(node: Any) -> bool:
    return not any(isinstance(n, ast.ColumnRef) for n in _walk(node, into_subqueries=False))


def _literal(node: Any) -> str | None:
    """A constant's value as pg_stats writes it ('t'/'f' for booleans), or None."""
    if isinstance(node, ast.TypeCast):
        node = node.arg
    if not isinstance(node, ast.A_Const) or node.isnull:
        return None
    value = node.val
    if isinstance(value, ast.Boolean):
        return "t" if value.boolval else "f"
    for attribute in ("sval", "ival", "fval", "bsval"):
        if hasattr(value, attribute):
            return str(getattr(value, attribute))
    return None


def _sql_literal(node: Any) -> str:
    """A constant as SQL: the literal alone, casts dropped (the column's type decides)."""
    value = node.arg if isinstance(node, ast.TypeCast) else node
    if isinstance(value, ast.A_Const) and isinstance(value.val, ast.String):
        return "'" + str(value.val.sval).replace("'", "''") + "'"
    return RawStream()(value) if isinstance(value, ast.Node) else "NULL"


def _unqualified_sql(node: ast.Node) -> str:
    """An expression's SQL with table names dropped from its columns, as an index writes it."""
    references = [n for n in _walk(node) if isinstance(n, ast.ColumnRef)]
    saved = [ref.fields for ref in references]
    try:
        for ref in references:
            ref.fields = (ref.fields or ())[-1:]
        return RawStream()(node)
    finally:
        for ref, fields in zip(references, saved, strict=True):
            ref.fields = fields


def _key_sql(key: str, expression: bool) -> str:
    return f"({key})" if expression else quote_identifier(key)


def _unique(predicates: Sequence[Predicate]) -> list[Predicate]:
    """First of each (alias, key, kind), keeping the one that knows its literal."""
    kept: dict[tuple[str, str, str], Predicate] = {}
    for predicate in predicates:
        slot = (predicate.alias, predicate.key, predicate.kind)
        if slot not in kept or (kept[slot].value is None and predicate.value is not None):
            kept[slot] = predicate
    return list(kept.values())


def _unique_keys(keys: Sequence[str]) -> list[str]:
    return list(dict.fromkeys(keys))


def _merge_references(found: Sequence[TableReference]) -> TableReference | None:
    if not found:
        return None
    first = found[0]
    columns: frozenset[str] | None = frozenset()
    for reference in found:
        columns = (
            None if columns is None or reference.columns is None else columns | reference.columns
        )
    ordered = next((r for r in found if r.order_by), first)
    return replace(
        first,
        predicates=tuple(_unique([p for r in found for p in r.predicates])),
        join_keys=tuple(_unique_keys([k for r in found for k in r.join_keys])),
        order_by=ordered.order_by,
        limited=ordered.limited,
        group_by=tuple(_unique_keys([k for r in found for k in r.group_by])),
        columns=columns,
    )


def _name_part(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")


def _columns_lookup(
    catalog: Catalog | None,
) -> Callable[[str, str | None], frozenset[str] | None]:
    def columns_of(relation: str, schema: str | None) -> frozenset[str] | None:
        table = catalog.table(relation, schema) if catalog else None
        return frozenset(table.columns) if table and table.columns else None

    return columns_of


def quote_identifier(name: str) -> str:
    """An identifier as SQL: bare when PostgreSQL would read it back unchanged, else quoted."""
    if re.fullmatch(r"[a-z_][a-z0-9_$]*", name) and (
        name not in _KEYWORDS or name in UNRESERVED_KEYWORDS
    ):
        return name
    return '"' + name.replace('"', '""') + '"'


def _all_keywords() -> frozenset[str]:
    from pglast import keywords

    return frozenset(
        keywords.RESERVED_KEYWORDS
        | keywords.COL_NAME_KEYWORDS
        | keywords.TYPE_FUNC_NAME_KEYWORDS
        | keywords.UNRESERVED_KEYWORDS
    )


_KEYWORDS = _all_keywords()


# -- reading the catalog -----------------------------------------------------------------------

_TABLE_SQL = """
select n.nspname, c.relname, greatest(c.reltuples, 0)::float8,
       array(select a.attname::text from pg_attribute a
             where a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped order by a.attnum)
from pg_class c join pg_namespace n on n.oid = c.relnamespace
where c.oid = to_regclass(:name)
"""
_INDEX_SQL = """
select ic.relname::text, am.amname::text, i.indnkeyatts,
       array(select pg_get_indexdef(i.indexrelid, k, true)
             from generate_series(1, i.indnatts) k order by k),
       array(select coalesce(oc.opcname::text, '')
             from unnest(i.indclass::oid[]) with ordinality u(opclass, k)
             left join pg_opclass oc on oc.oid = u.opclass order by u.k),
       pg_get_expr(i.indpred, i.indrelid, true)
from pg_index i
join pg_class ic on ic.oid = i.indexrelid
join pg_am am on am.oid = ic.relam
where i.indrelid = to_regclass(:name) and i.indisvalid
order by ic.relname
"""
_STATS_SQL = """
select attname::text, null_frac::float8, n_distinct::float8,
       most_common_vals::text::text[], most_common_freqs::float8[]
from pg_stats
where schemaname = :schema and tablename = :relation and not inherited
"""
_EXTENSION_SQL = """
select exists (select from pg_extension where extname = 'pg_trgm'),
       exists (select from pg_available_extensions where name = 'pg_trgm')
"""


def read_catalog(db: Database, tables: Sequence[tuple[str, str | None]]) -> Catalog:
    """Columns, indexes and pg_stats of `tables` ((relation, schema) pairs), read-only."""
    from .. import sandbox

    found: list[TableCatalog] = []
    for relation, schema in dict.fromkeys(tables):
        name = ".".join(
            quote_identifier(p) for p in ((schema, relation) if schema else (relation,))
        )
        row = sandbox.run_readonly(db, _TABLE_SQL, {"name": name}).rows
        if not row:
            continue
        table_schema, table_relation, rows, columns = row[0]
        indexes = [
            _existing_index(index)
            for index in sandbox.run_readonly(db, _INDEX_SQL, {"name": name}).rows
        ]
        stats = {
            str(column): ColumnStats(
                float(null_frac or 0.0),
                float(n_distinct or 0.0),
                dict(zip(values or (), frequencies or (), strict=False)),
            )
            for column, null_frac, n_distinct, values, frequencies in sandbox.run_readonly(
                db, _STATS_SQL, {"schema": table_schema, "relation": table_relation}
            ).rows
        }
        found.append(
            TableCatalog(
                schema=str(table_schema),
                relation=str(table_relation),
                rows=float(rows),
                columns=tuple(columns),
                indexes=tuple(indexes),
                stats=stats,
            )
        )
    trigram, available = sandbox.run_readonly(db, _EXTENSION_SQL).rows[0]
    return Catalog(tuple(found), trigram=bool(trigram), trigram_available=bool(available))


def _existing_index(row: Sequence[Any]) -> ExistingIndex:
    name, method, key_count, definitions, opclasses, predicate = row
    return ExistingIndex(
        name=str(name),
        keys=tuple(_unquoted(d) for d in definitions[:key_count]),
        include=tuple(_unquoted(d) for d in definitions[key_count:]),
        opclasses=tuple(opclasses[:key_count]),
        predicate=predicate,
        method=str(method),
    )


def _unquoted(definition: str) -> str:
    """A column as pg_get_indexdef prints it ("Name" quoted), as our keys hold it."""
    if re.fullmatch(r'"(?:[^"]|"")+"', definition):
        return definition[1:-1].replace('""', '"')
    return definition
