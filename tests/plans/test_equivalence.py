"""Result fingerprints and the equivalence decision (hashing and pglast; no database)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pglast import parse_sql

from nexus_kernel_helpers.plans._equivalence import (
    RowHasher,
    RowsDigest,
    compare_results,
    encode_row,
    order_keys,
)


def digest(rows: Sequence[Sequence[Any]], columns: Sequence[str] = ("a",)) -> RowsDigest:
    hasher = RowHasher()
    hasher.add_all(rows)
    return hasher.digest(columns)


def keys(sql: str) -> tuple[str, ...] | None:
    statement = parse_sql(sql)[0].stmt
    assert statement is not None
    return order_keys(statement)


def test_row_order_does_not_change_the_multiset_fingerprint() -> None:
    rows = [(1, "a"), (2, "b"), (3, None)]
    forward, backward = digest(rows), digest(rows[::-1])
    assert forward.multiset == backward.multiset
    assert forward.ordered != backward.ordered


def test_duplicates_and_missing_rows_change_the_fingerprint() -> None:
    base = digest([(1,), (2,)])
    assert digest([(1,), (2,), (2,)]).multiset != base.multiset
    assert digest([(1,)]).multiset != base.multiset
    # Two copies of a row cancel out in the xor but not in the sum or the count.
    assert digest([(1,), (1,), (2,)]).multiset != digest([(2,)]).multiset


def test_encoding_keeps_null_and_value_boundaries_apart() -> None:
    assert encode_row([None]) != encode_row(["NULL"])
    assert encode_row(["None"]) != encode_row([None])
    assert encode_row(["ab", "c"]) != encode_row(["a", "bc"])
    assert encode_row([b"\x01"]) == encode_row([bytearray(b"\x01")])


def test_order_keys_of_the_top_level_only() -> None:
    assert keys("select a from t order by a desc, lower(b)") == ("a DESC", "lower(b)")
    assert keys("select a from t") is None
    assert keys("select * from (select a from t order by a) s") is None
    assert keys("select a from t union select b from u order by 1") == ("1",)
    assert keys("update t set a = 1 returning a") is None


def test_same_rows_any_order_without_order_by() -> None:
    result = compare_results(digest([(1,), (2,)]), digest([(2,), (1,)]))
    assert result.equivalent is True
    assert "any order" in result.note


def test_different_rows_are_reported_loudly() -> None:
    result = compare_results(digest([(1,), (2,)]), digest([(1,), (3,)]))
    assert result.equivalent is False
    assert result.note.startswith("DIFFERENT RESULTS")


def test_ties_in_another_order_under_the_same_order_by_are_equivalent() -> None:
    order = ("v",)
    result = compare_results(
        digest([(1, "x"), (1, "y")]),
        digest([(1, "y"), (1, "x")]),
        before_order=order,
        after_order=order,
    )
    assert result.equivalent is True
    assert "tie" in result.note


def test_different_order_by_with_different_order_is_flagged() -> None:
    result = compare_results(
        digest([(1,), (2,)]), digest([(2,), (1,)]), before_order=("a",), after_order=("a DESC",)
    )
    assert result.equivalent is False
    assert result.note.startswith("DIFFERENT ORDER")
    assert "a DESC" in result.note


def test_dropping_an_order_by_that_mattered_is_flagged() -> None:
    result = compare_results(digest([(1,), (2,)]), digest([(2,), (1,)]), before_order=("a",))
    assert result.equivalent is False
    assert "(none) after" in result.note


def test_different_order_by_that_gives_the_same_order_is_equivalent() -> None:
    rows = [(1,), (2,)]
    result = compare_results(digest(rows), digest(rows), before_order=("a",), after_order=("t.a",))
    assert result.equivalent is True
    assert "same order" in result.note


def test_renamed_columns_are_mentioned_but_not_flagged() -> None:
    result = compare_results(digest([(1,)], ["a"]), digest([(1,)], ["b"]))
    assert result.equivalent is True
    assert "column names differ" in result.note


def test_dml_without_returning_compares_row_counts() -> None:
    same = compare_results(
        RowHasher().digest(returns_rows=False, affected=5),
        RowHasher().digest(returns_rows=False, affected=5),
    )
    assert same.equivalent is True
    assert "only the counts" in same.note
    different = compare_results(
        RowHasher().digest(returns_rows=False, affected=5),
        RowHasher().digest(returns_rows=False, affected=6),
    )
    assert different.equivalent is False


def test_returning_on_one_side_only_is_different() -> None:
    result = compare_results(digest([(1,)]), RowHasher().digest(returns_rows=False, affected=1))
    assert result.equivalent is False
