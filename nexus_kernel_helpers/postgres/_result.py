"""The result of `Database.query`: rows, columns and counts, with a rich display."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .. import _html
from ..errors import ConfigurationError

if TYPE_CHECKING:
    import pandas

DISPLAY_ROWS = 20


@dataclass(frozen=True)
class QueryResult:
    """Rows a statement returned (up to `max_rows`), or the status of one that returns none.

    `total_rows` counts every row the statement returned or affected, so a display can say
    "showing 20 of 1,234 rows" and `truncated` can say that `max_rows` cut the fetch. Where the
    fetch stopped early without counting the rest (the sandbox), `total_known` is false and
    `total_rows` is a lower bound.
    """

    sql: str
    columns: tuple[str, ...]
    rows: list[tuple[Any, ...]]
    total_rows: int
    status: str
    elapsed_ms: float
    display_rows: int = DISPLAY_ROWS
    total_known: bool = True

    @property
    def returns_rows(self) -> bool:
        """Whether the statement returns rows at all (SELECT, RETURNING, SHOW, ...)."""
        return bool(self.columns)

    @property
    def truncated(self) -> bool:
        """Whether `max_rows` stopped the fetch before the last row."""
        return self.returns_rows and len(self.rows) < self.total_rows

    def __len__(self) -> int:
        return len(self.rows)

    def __iter__(self) -> Iterator[tuple[Any, ...]]:
        return iter(self.rows)

    def scalar(self) -> Any:
        """The first column of the first row (None when there is no row)."""
        return self.rows[0][0] if self.rows else None

    def to_pandas(self) -> pandas.DataFrame:
        """The fetched rows as a pandas DataFrame."""
        try:
            import pandas
        except ImportError:
            raise ConfigurationError(
                "to_pandas() needs pandas, which is not installed", fix="pip install pandas"
            ) from None
        return pandas.DataFrame.from_records(self.rows, columns=list(self.columns))

    def summary(self) -> str:
        """One line: how many rows are shown out of how many, and how long it took."""
        if not self.returns_rows:
            return f"{self.status} ({self.elapsed_ms:.1f} ms)"
        shown = min(len(self.rows), self.display_rows)
        if not self.total_known:
            return (
                f"showing {shown:,} of more than {len(self.rows):,} rows "
                f"(stopped at max_rows) · {self.elapsed_ms:.1f} ms"
            )
        line = f"showing {shown:,} of {self.total_rows:,} rows"
        if self.truncated:
            line += f" (fetched the first {len(self.rows):,}: max_rows)"
        return f"{line} · {self.elapsed_ms:.1f} ms"

    def _repr_html_(self) -> str:
        if not self.returns_rows:
            return _html.paragraph(self.summary(), css_class="nexus-status")
        return _html.table(self.columns, self.rows[: self.display_rows], note=self.summary())

    def __repr__(self) -> str:
        if not self.returns_rows:
            return self.summary()
        table = _html.text_table(self.columns, self.rows[: self.display_rows])
        return f"{table}\n({self.summary()})"
