"""Binary COPY rows built with numpy, read back by a real server."""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import numpy as np
import psycopg
import pytest

import nexus_kernel_helpers as nx
from nexus_kernel_helpers.datasets import _copy_binary as cb

UTC = datetime.UTC


@pytest.fixture
def connection(embedded_db: nx.Database) -> Iterator[psycopg.Connection[Any]]:
    with embedded_db.connect() as connection:
        connection.execute("SET TimeZone = 'UTC'")
        yield connection
        connection.rollback()


def copy_back(
    connection: psycopg.Connection[Any], columns: str, data: list[cb.Column]
) -> list[tuple[Any, ...]]:
    """Copy `data` into a temporary table of `columns` (definitions split by "; "), read it back."""
    connection.execute(f"CREATE TEMP TABLE copied (n serial, {columns.replace(';', ',')})")
    names = ", ".join(column.split()[0] for column in columns.split("; "))
    with connection.cursor().copy(f"COPY copied ({names}) FROM STDIN (FORMAT binary)") as copy:
        copy.write(cb.HEADER)
        copy.write(cb.copy_rows(data))
        copy.write(cb.TRAILER)
    rows = connection.execute(f"SELECT {names} FROM copied ORDER BY n").fetchall()
    return [tuple(row) for row in rows]


def test_every_type_reads_back_as_written(connection: psycopg.Connection[Any]) -> None:
    big = np.array([1, -2, 10**15, 0], dtype=np.int64)
    rows = copy_back(
        connection,
        "a bigint; b integer; c boolean; d timestamptz; e numeric(12, 2); f text; g char(3)",
        [
            cb.bigint(big),
            cb.integer(np.array([5, -1, 0, 2**31 - 1])),
            cb.boolean(np.array([True, False, True, False])),
            cb.timestamptz(np.array([1_704_067_200, 1_767_225_599, 946_684_800, 0])),
            cb.numeric_cents(np.array([1999, 0, 5, 9_999_999_999])),
            cb.choice(np.array([0, 1, 2, 1]), ["web", "mobile_app", "café"]),
            cb.choice(np.array([0, 1, 0, 1]), ["USD", "EUR"]),
        ],
    )
    assert rows == [
        (1, 5, True, datetime.datetime(2024, 1, 1, tzinfo=UTC), Decimal("19.99"), "web", "USD"),
        (
            -2,
            -1,
            False,
            datetime.datetime(2025, 12, 31, 23, 59, 59, tzinfo=UTC),
            Decimal("0.00"),
            "mobile_app",
            "EUR",
        ),
        (10**15, 0, True, datetime.datetime(2000, 1, 1, tzinfo=UTC), Decimal("0.05"), "café",
         "USD"),
        (0, 2**31 - 1, False, datetime.datetime(1970, 1, 1, tzinfo=UTC), Decimal("99999999.99"),
         "mobile_app", "EUR"),
    ]  # fmt: skip


def test_nulls_texts_and_padded_json(connection: psycopg.Connection[Any]) -> None:
    numbers = np.array([0, 7, 42, 123_456_789], dtype=np.int64)
    rows = 4
    payload = cb.concat(
        cb.constant('{"id": ', rows),
        cb.padded(cb.digits(numbers)),
        cb.constant(', "hex": "', rows),
        cb.hexadecimal(numbers, 8),
        cb.choice(np.array([0, 1, 0, 1]), ['"}', '", "more": true}']),
    )
    result = copy_back(
        connection,
        "t text; j jsonb; d text",
        [
            cb.with_nulls(cb.digits(numbers), np.array([False, True, False, True])),
            cb.jsonb(payload),
            cb.merge(
                [
                    (np.array([0, 3]), cb.constant("edge", 2)),
                    (np.array([1, 2]), cb.choice(np.array([1, 0]), ["x", "middle"])),
                ],
                rows,
            ),
        ],
    )
    assert result == [
        ("0", {"id": 0, "hex": "00000000"}, "edge"),
        (None, {"id": 7, "hex": "00000007", "more": True}, "middle"),
        ("42", {"id": 42, "hex": "0000002a"}, "x"),
        (None, {"id": 123456789, "hex": "075bcd15", "more": True}, "edge"),
    ]


def test_only_the_last_part_of_a_concat_may_vary() -> None:
    with pytest.raises(ValueError, match="only the last part"):
        cb.concat(cb.digits(np.array([1, 10])), cb.constant("x", 2))
