"""Fetching rows with a cap: stream them and stop at `max_rows`, so the rest is never sent."""

from __future__ import annotations

from collections.abc import Generator, Mapping
from dataclasses import dataclass
from typing import Any, cast

import psycopg

STREAM_CHUNK = 1_000


@dataclass(frozen=True)
class Fetched:
    """Columns, rows, a row count (a lower bound when `total_known` is false) and status."""

    columns: tuple[str, ...]
    rows: list[tuple[Any, ...]]
    total: int
    status: str
    total_known: bool = True


def stream_rows(
    cursor: psycopg.Cursor[Any], text: str, values: Mapping[str, object] | None, max_rows: int
) -> Fetched:
    """Stream rows (extended protocol) up to `max_rows`; stopping early cancels the rest."""
    rows: list[tuple[Any, ...]] = []
    more = False
    stream = cast(Generator[Any, None, None], cursor.stream(text, values, size=STREAM_CHUNK))
    try:
        for row in stream:
            if len(rows) >= max_rows:
                more = True
                break
            rows.append(row)
    finally:
        stream.close()  # cancels the statement on the server when rows are left
    columns = tuple(column.name for column in cursor.description or ())
    if more:
        return Fetched(columns, rows, len(rows) + 1, f"SELECT {len(rows)}+", total_known=False)
    return Fetched(columns, rows, len(rows), cursor.statusmessage or f"SELECT {len(rows)}")
