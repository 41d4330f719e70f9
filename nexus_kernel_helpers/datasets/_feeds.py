"""What a dataset's rows module gives the loader: COPY data for a table, and what it reads.

A dataset folder may hold rows.py with FEEDS, a dict from table name to `Feed`; its
generate.sql then holds `COPY <table> ... FROM STDIN` statements that the loader feeds with
`Feed.rows`, once the tables in `Feed.reads` are loaded.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

__all__ = ["Feed", "FeedContext"]


@dataclass(frozen=True)
class FeedContext:
    """What a feed gets: the scale, the seed, and a query on tables loaded before it."""

    scale: Decimal
    seed: int
    query: Callable[[str], list[tuple[Any, ...]]]


@dataclass(frozen=True)
class Feed:
    """A table's rows as COPY data in chunks (header first, trailer last), and what it reads."""

    rows: Callable[[FeedContext], Iterator[bytes | memoryview]]
    reads: tuple[str, ...] = ()
