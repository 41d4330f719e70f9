"""Do two statements return the same rows? Decided from streamed hashes, never from lists.

Each row is encoded value by value (NULL apart from the text 'NULL', every value
length-prefixed, so no two rows share an encoding) and hashed to 64 bits with BLAKE2b. A
result is summarised by the row count, the sum and the xor of those hashes (a multiset
fingerprint: insensitive to order, sensitive to duplicates), and a running hash of the rows in
the order they came. Rows are never kept, so a million-row result costs no memory.

Order counts only when a statement's top level says ORDER BY. When both sides order by the
same keys and only the order differs, ties came back in another order: the rows are the same.
When the keys differ (or one side orders and the other does not) and the order differs, the
rewrite changed the order the caller sees, and that is reported.

Data-changing statements compare their RETURNING rows when they have them, else the number
of rows they changed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from pglast import ast

__all__ = ["Equivalence", "RowHasher", "RowsDigest", "compare_results", "order_keys"]

_MASK = (1 << 64) - 1


@dataclass(frozen=True)
class RowsDigest:
    """A fingerprint of one statement's result: counts and hashes, no rows."""

    count: int
    multiset_sum: int
    multiset_xor: int
    ordered: str
    columns: tuple[str, ...]
    returns_rows: bool
    affected: int | None = None

    @property
    def multiset(self) -> tuple[int, int, int]:
        """What two results must share to hold the same rows, in any order."""
        return (self.count, self.multiset_sum, self.multiset_xor)


class RowHasher:
    """Feed rows one at a time; `digest()` sums them up."""

    def __init__(self) -> None:
        self.count = 0
        self._sum = 0
        self._xor = 0
        self._ordered = hashlib.blake2b(digest_size=16)

    def add(self, row: Sequence[Any]) -> None:
        """Hash one row into the fingerprint."""
        row_hash = hashlib.blake2b(encode_row(row), digest_size=8).digest()
        value = int.from_bytes(row_hash, "big")
        self.count += 1
        self._sum = (self._sum + value) & _MASK
        self._xor ^= value
        self._ordered.update(row_hash)

    def add_all(self, rows: Iterable[Sequence[Any]]) -> None:
        """Hash every row of an iterable (a stream), keeping none."""
        for row in rows:
            self.add(row)

    def digest(
        self, columns: Sequence[str] = (), *, returns_rows: bool = True, affected: int | None = None
    ) -> RowsDigest:
        """The fingerprint of the rows seen so far."""
        return RowsDigest(
            count=self.count,
            multiset_sum=self._sum,
            multiset_xor=self._xor,
            ordered=self._ordered.hexdigest(),
            columns=tuple(columns),
            returns_rows=returns_rows,
            affected=affected,
        )


def encode_row(row: Sequence[Any]) -> bytes:
    """One row as bytes: each value tagged and length-prefixed, NULL distinct from any text."""
    parts = []
    for value in row:
        if value is None:
            parts.append("N")
        else:
            text = value.hex() if isinstance(value, bytes | bytearray | memoryview) else str(value)
            parts.append(f"V{len(text)}:{text}")
    return "".join(parts).encode("utf-8", "surrogatepass")


def order_keys(node: ast.Node) -> tuple[str, ...] | None:
    """The top-level ORDER BY keys of a statement as SQL text, or None when it has none."""
    from pglast.stream import RawStream

    if not isinstance(node, ast.SelectStmt) or not node.sortClause:
        return None
    return tuple(" ".join(RawStream()(key).split()) for key in node.sortClause)


@dataclass(frozen=True)
class Equivalence:
    """Whether two results hold the same rows, and a sentence saying how that was decided."""

    equivalent: bool | None
    note: str


def compare_results(  # noqa: PLR0911 - one return per kind of outcome
    before: RowsDigest,
    after: RowsDigest,
    *,
    before_order: tuple[str, ...] | None = None,
    after_order: tuple[str, ...] | None = None,
) -> Equivalence:
    """Decide from two fingerprints whether the statements return the same result."""
    if not before.returns_rows and not after.returns_rows:
        return _compare_counts(before, after)
    if before.returns_rows != after.returns_rows:
        which = "before" if before.returns_rows else "after"
        return Equivalence(
            False, f"DIFFERENT RESULTS: only the {which} statement returns rows (RETURNING)"
        )
    renamed = (
        f" (column names differ: {', '.join(before.columns)} vs {', '.join(after.columns)})"
        if before.columns != after.columns
        else ""
    )
    rows = f"{before.count:,} row{'s' if before.count != 1 else ''}"
    if before.multiset != after.multiset:
        return Equivalence(
            False,
            f"DIFFERENT RESULTS: before returned {before.count:,} rows, after {after.count:,};"
            " the row sets differ" + renamed,
        )
    ordered = before_order is not None or after_order is not None
    if not ordered:
        return Equivalence(True, f"same rows ({rows}, compared in any order){renamed}")
    if before.ordered == after.ordered:
        return Equivalence(True, f"same rows in the same order ({rows}){renamed}")
    if before_order == after_order:
        return Equivalence(
            True,
            f"same rows ({rows}); rows that tie on ORDER BY {', '.join(before_order or ())}"
            f" came back in another order, which ORDER BY allows{renamed}",
        )
    return Equivalence(
        False,
        f"DIFFERENT ORDER: same rows ({rows}), different order: ORDER BY "
        f"{_keys(before_order)} before, {_keys(after_order)} after{renamed}",
    )


def _compare_counts(before: RowsDigest, after: RowsDigest) -> Equivalence:
    if before.affected == after.affected:
        return Equivalence(
            True,
            f"same number of rows changed ({_count(before.affected)}); without RETURNING only"
            " the counts can be compared",
        )
    return Equivalence(
        False,
        f"DIFFERENT RESULTS: before changed {_count(before.affected)} rows,"
        f" after {_count(after.affected)}",
    )


def _count(value: int | None) -> str:
    return "an unknown number of" if value is None else f"{value:,}"


def _keys(keys: tuple[str, ...] | None) -> str:
    return ", ".join(keys) if keys else "(none)"
