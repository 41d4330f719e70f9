"""`db.describe()`: the tables of a database, read from the catalog, with a rich display."""

from __future__ import annotations

from dataclasses import dataclass, field
from html import escape

from .. import _html
from ..postgres import Database

__all__ = ["Description", "TableInfo", "describe"]

_TABLES = """
SELECT c.oid, n.nspname, c.relname, greatest(c.reltuples, 0)::bigint,
       pg_total_relation_size(c.oid), obj_description(c.oid, 'pg_class')
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition
  AND n.nspname NOT LIKE 'pg\\_%' AND n.nspname <> 'information_schema'
ORDER BY n.nspname, c.relname
"""
_COLUMNS = """
SELECT a.attrelid, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
       pg_get_expr(d.adbin, d.adrelid)
FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
WHERE a.attrelid = ANY(%s) AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attrelid, a.attnum
"""
_CONSTRAINTS = """
SELECT conrelid, conname, contype, pg_get_constraintdef(oid)
FROM pg_constraint WHERE conrelid = ANY(%s) AND contype IN ('p', 'f', 'u')
ORDER BY conrelid, contype DESC, conname
"""
_INDEXES = """
SELECT i.indrelid, c.relname, pg_get_indexdef(i.indexrelid), pg_relation_size(i.indexrelid)
FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
WHERE i.indrelid = ANY(%s) ORDER BY i.indrelid, c.relname
"""


@dataclass(frozen=True)
class Column:
    """A column: name, type, whether it may be NULL, its default."""

    name: str
    type: str
    not_null: bool
    default: str | None


@dataclass
class TableInfo:
    """One table with what a tuning session wants to know about it."""

    schema: str
    name: str
    rows: int
    total_bytes: int
    comment: str | None
    columns: list[Column] = field(default_factory=list)
    keys: list[str] = field(default_factory=list)
    indexes: list[tuple[str, str, int]] = field(default_factory=list)

    @property
    def qualified_name(self) -> str:
        """`schema.table`, with `public.` left out."""
        return self.name if self.schema == "public" else f"{self.schema}.{self.name}"


@dataclass(frozen=True)
class Description:
    """Every user table of one database. Row counts are the planner's (exact after ANALYZE)."""

    database: str
    tables: list[TableInfo]

    def table(self, name: str) -> TableInfo:
        """The table called `name` (or `schema.name`)."""
        for info in self.tables:
            if name in (info.name, info.qualified_name, f"{info.schema}.{info.name}"):
                return info
        raise KeyError(name)

    def _repr_html_(self) -> str:
        summary = _html.table(
            ["table", "rows", "size", "columns", "indexes"],
            [
                (t.qualified_name, f"{t.rows:,}", _size(t.total_bytes), len(t.columns),
                 len(t.indexes))
                for t in self.tables
            ],
            note=f"{len(self.tables)} tables in {self.database}",
        )  # fmt: skip
        details = "".join(
            f"<details><summary>{escape(t.qualified_name)}</summary>"
            + _html.table(
                ["column", "type", "null", "default"],
                [(c.name, c.type, "" if c.not_null else "yes", c.default) for c in t.columns],
            )
            + _html.table(["keys and indexes"], [(k,) for k in t.keys + [i[1] for i in t.indexes]])
            + "</details>"
            for t in self.tables
        )
        return f'<div class="nexus-describe">{summary}{details}</div>'

    def __repr__(self) -> str:
        rows = [
            (t.qualified_name, f"{t.rows:,}", _size(t.total_bytes), len(t.columns))
            for t in self.tables
        ]
        return _html.text_table(["table", "rows", "size", "columns"], rows)


def describe(db: Database) -> Description:
    """Read the catalog of `db`'s current database."""
    with db.connect() as connection:
        tables = {
            oid: TableInfo(schema, name, int(rows), int(size), comment)
            for oid, schema, name, rows, size, comment in connection.execute(_TABLES)
        }
        oids = list(tables)
        for oid, name, type_name, not_null, default in connection.execute(_COLUMNS, [oids]):
            tables[oid].columns.append(Column(name, type_name, bool(not_null), default))
        for oid, name, kind, definition in connection.execute(_CONSTRAINTS, [oids]):
            label = {"p": "primary key", "f": "foreign key", "u": "unique"}[kind]
            tables[oid].keys.append(f"{label} {name}: {definition}")
        for oid, name, definition, size in connection.execute(_INDEXES, [oids]):
            tables[oid].indexes.append((name, definition, int(size)))
    return Description(db.database_name, list(tables.values()))


def _size(size: int) -> str:
    for unit in ("bytes", "kB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:,.0f} {unit}" if unit == "bytes" else f"{size:,.1f} {unit}"
        size /= 1024  # type: ignore[assignment]
    return f"{size} TB"
