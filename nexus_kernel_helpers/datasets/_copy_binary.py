"""Rows in PostgreSQL's binary COPY format, built a column at a time with numpy.

A `Column` knows each row's length in bytes (-1 for NULL), the most bytes a value takes (its
width) and how to write its values left-aligned into a block of rows x width bytes.
`copy_rows` gives every column such a slot in one padded buffer, then keeps only each row's
real bytes: whole columns are written as array slices, texts a word of their vocabulary (or a
number of digits) at a time, never a Python loop over rows.

Constructors encode numpy arrays the way the server's receive functions read them: big-endian
integers, timestamps as microseconds since 2000-01-01, numerics as base-10000 digits, jsonb as
a version byte and its text. The format:
https://www.postgresql.org/docs/current/sql-copy.html#id-1.9.3.55.9.4
"""

from __future__ import annotations

import struct
from abc import ABC, abstractmethod
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

__all__ = [
    "HEADER",
    "TRAILER",
    "Column",
    "bigint",
    "boolean",
    "choice",
    "concat",
    "constant",
    "copy_rows",
    "digits",
    "hexadecimal",
    "integer",
    "jsonb",
    "merge",
    "numeric_cents",
    "padded",
    "timestamptz",
    "with_nulls",
]

HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack("!ii", 0, 0)
TRAILER = struct.pack("!h", -1)
# 2000-01-01 00:00:00 UTC, PostgreSQL's epoch for timestamps, in Unix seconds.
_POSTGRES_EPOCH = 946_684_800
_POWERS_OF_TEN = np.array([10**power for power in range(19)], dtype=np.int64)
_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)

Bytes = npt.NDArray[np.uint8]
Ints = npt.NDArray[np.int64]
Rows = npt.NDArray[np.intp]


def _cells(block: Bytes) -> npt.NDArray[np.void]:
    """A block of rows x width bytes (each row contiguous) as one cell per row.

    Copying cells moves a row's bytes at once; numpy would copy a byte block byte by byte.
    """
    return block.view(np.dtype((np.void, block.shape[1])))[:, 0]


def _cell(data: Bytes) -> np.void:
    cell: np.void = data.view(np.dtype((np.void, data.size)))[0]
    return cell


class Column(ABC):
    """One value per row: each row's length in bytes (-1: NULL) and its widest value."""

    lengths: Ints
    width: int

    @abstractmethod
    def fill(self, block: Bytes) -> None:
        """Write row i's value left-aligned into block[i] (rows x width; NULL rows: anything)."""


class _Fixed(Column):
    """Values of one width: a matrix of bytes, a row per value."""

    def __init__(self, matrix: Bytes) -> None:
        self.matrix = matrix
        self.width = matrix.shape[1]
        self.lengths = np.full(matrix.shape[0], self.width, dtype=np.int64)

    def fill(self, block: Bytes) -> None:
        if self.width:
            _cells(block[:, : self.width])[:] = _cells(self.matrix)


def _big_endian(values: npt.NDArray[np.generic], dtype: str) -> _Fixed:
    array = np.ascontiguousarray(values, dtype=dtype)
    return _Fixed(array.view(np.uint8).reshape(array.shape[0], array.dtype.itemsize))


def bigint(values: npt.NDArray[np.integer]) -> Column:
    """An int8 column."""
    return _big_endian(values, ">i8")


def integer(values: npt.NDArray[np.integer]) -> Column:
    """An int4 column."""
    return _big_endian(values, ">i4")


def boolean(values: npt.NDArray[np.bool_]) -> Column:
    """A boolean column."""
    return _big_endian(values.astype(np.uint8), "u1")


def timestamptz(seconds: Ints) -> Column:
    """A timestamptz column from Unix epoch seconds."""
    return _big_endian((seconds - _POSTGRES_EPOCH) * 1_000_000, ">i8")


def numeric_cents(cents: Ints) -> Column:
    """A numeric column with two decimals from whole cents (0 to 99,999,999.99).

    Always three base-10000 digits with weight 1 (the server strips the leading zeros):
    the integer part's two digits, then the cents times 100.
    """
    whole, cent = np.divmod(cents, 100)
    high, low = np.divmod(whole, 10_000)
    header = np.broadcast_to(np.array([3, 1, 0, 2]), (cents.shape[0], 4))  # ndigits .. dscale
    words = np.ascontiguousarray(np.column_stack([header, high, low, cent * 100]), dtype=">i2")
    return _Fixed(words.view(np.uint8).reshape(-1, 14))


def hexadecimal(values: Ints, width: int) -> Column:
    """Non-negative integers as lowercase hexadecimal text, zero-padded to `width` digits."""
    shifts = np.arange(width - 1, -1, -1, dtype=np.int64) * 4
    return _Fixed(_HEX[(values[:, None] >> shifts[None, :]) & 15])


class _Constant(Column):
    def __init__(self, text: str, rows: int) -> None:
        self.text = np.frombuffer(text.encode(), dtype=np.uint8)
        self.width = self.text.size
        self.lengths = np.full(rows, self.width, dtype=np.int64)

    def fill(self, block: Bytes) -> None:
        if self.width:
            _cells(block[:, : self.width])[:] = _cell(self.text)


def constant(text: str, rows: int) -> Column:
    """The same text on every row."""
    return _Constant(text, rows)


class _Choice(Column):
    def __init__(self, codes: npt.NDArray[np.integer], vocabulary: Sequence[str]) -> None:
        self.codes = np.asarray(codes, dtype=np.int64)
        self.words = [np.frombuffer(word.encode(), dtype=np.uint8) for word in vocabulary]
        sizes = np.array([word.size for word in self.words], dtype=np.int64)
        self.width = int(sizes.max())
        self.lengths = sizes[self.codes]

    def fill(self, block: Bytes) -> None:
        for code, word in enumerate(self.words):
            if word.size:
                _cells(block[:, : word.size])[self.codes == code] = _cell(word)


def choice(codes: npt.NDArray[np.integer], vocabulary: Sequence[str]) -> Column:
    """Text picked from `vocabulary` by each row's code (0-based)."""
    return _Choice(codes, vocabulary)


class _Digits(Column):
    def __init__(self, values: Ints) -> None:
        self.values = values
        count = np.ones(values.shape[0], dtype=np.int64)
        for power in range(1, 19):
            count += values >= _POWERS_OF_TEN[power]
        self.lengths = count
        self.width = int(count.max(initial=1))

    def fill(self, block: Bytes) -> None:
        for count in np.unique(self.lengths):
            chosen = self.lengths == count
            powers = _POWERS_OF_TEN[count - 1 :: -1][:count]
            text = (self.values[chosen][:, None] // powers % 10 + 48).astype(np.uint8)
            _cells(block[:, :count])[chosen] = _cells(text)


def digits(values: Ints) -> Column:
    """Non-negative integers as decimal text."""
    return _Digits(values)


class _Padded(Column):
    def __init__(self, column: Column, width: int, pad: bytes) -> None:
        self.column = column
        self.width = max(width, column.width)
        self.pad = pad[0]
        self.lengths = np.where(column.lengths < 0, -1, self.width)

    def fill(self, block: Bytes) -> None:
        _cells(block[:, : self.width])[:] = _cell(np.full(self.width, self.pad, dtype=np.uint8))
        self.column.fill(block)


def padded(column: Column, width: int = 0, pad: bytes = b" ") -> Column:
    """`column` padded to `width` bytes (at least its widest value) with `pad` (JSON spaces)."""
    return _Padded(column, width, pad)


class _Concat(Column):
    def __init__(self, parts: Sequence[Column]) -> None:
        for part in parts[:-1]:
            if (part.lengths != part.width).any():
                msg = "only the last part of a concat may vary in length: pad the others"
                raise ValueError(msg)
        self.parts = parts
        self.width = sum(part.width for part in parts)
        self.lengths = np.sum([part.lengths for part in parts], axis=0)

    def fill(self, block: Bytes) -> None:
        start = 0
        for part in self.parts:
            part.fill(block[:, start : start + part.width])
            start += part.width


def concat(*parts: Column) -> Column:
    """Each row's texts joined in order; all but the last must be of one width (see padded)."""
    return _Concat(parts)


def jsonb(text: Column) -> Column:
    """A jsonb column from JSON text (the binary format is version 1 and the text)."""
    return _Concat([_Constant("\x01", text.lengths.shape[0]), text])


class _Nullable(Column):
    def __init__(self, column: Column, null: npt.NDArray[np.bool_]) -> None:
        self.column = column
        self.width = column.width
        self.lengths = np.where(null, -1, column.lengths)

    def fill(self, block: Bytes) -> None:
        self.column.fill(block)


def with_nulls(column: Column, null: npt.NDArray[np.bool_]) -> Column:
    """`column` with the rows where `null` is true made NULL."""
    return _Nullable(column, null) if null.any() else column


class _Merged(Column):
    def __init__(self, parts: Sequence[tuple[Rows, Column]], rows: int) -> None:
        self.parts = parts
        self.width = max(column.width for _, column in parts)
        self.lengths = np.full(rows, -1, dtype=np.int64)
        for index, column in parts:
            self.lengths[index] = column.lengths

    def fill(self, block: Bytes) -> None:
        for index, column in self.parts:
            part = np.empty((index.size, column.width), dtype=np.uint8)
            column.fill(part)
            _cells(block[:, : column.width])[index] = _cells(part)


def merge(parts: Sequence[tuple[Rows, Column]], rows: int) -> Column:
    """One column of `rows` rows from parts that each give the values of some rows (by index)."""
    return _Merged(parts, rows)


def copy_rows(columns: Sequence[Column]) -> memoryview:
    """The rows of `columns` in binary COPY format (without HEADER and TRAILER)."""
    rows = columns[0].lengths.shape[0]
    width = 2 + sum(4 + column.width for column in columns)
    block = np.empty((rows, width), dtype=np.uint8)
    keep = np.ones((rows, width), dtype=np.bool_)
    _cells(block[:, :2])[:] = _cell(np.frombuffer(struct.pack("!h", len(columns)), np.uint8))
    start = 2
    for column in columns:
        _big_endian(column.lengths, ">i4").fill(block[:, start : start + 4])
        start += 4
        if column.width:
            column.fill(block[:, start : start + column.width])
            if (column.lengths != column.width).any():
                used = np.arange(column.width) < np.maximum(column.lengths, 0)[:, None]
                _cells(keep[:, start : start + column.width].view(np.uint8))[:] = _cells(
                    used.view(np.uint8)
                )
        start += column.width
    data = block.reshape(-1) if keep.all() else block[keep]
    return memoryview(data.data)
