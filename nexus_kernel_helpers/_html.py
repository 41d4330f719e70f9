"""Small HTML building blocks; every interpolated value is escaped here, once."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from html import escape

MAX_CELL_CHARS = 200

_TABLE_STYLE = (
    "border-collapse:collapse;font-family:var(--jp-code-font-family,monospace);"
    "font-size:var(--jp-code-font-size,12px)"
)
_CELL_STYLE = "padding:2px 8px;border-bottom:1px solid var(--jp-border-color2,#ddd);text-align:left"
_NOTE_STYLE = "color:var(--jp-ui-font-color2,#666);font-size:smaller;margin:4px 0"


def cell_text(value: object) -> str:
    """A value as a table cell shows it: NULL for None, long values shortened."""
    if value is None:
        return "NULL"
    text = str(value)
    if len(text) > MAX_CELL_CHARS:
        return text[: MAX_CELL_CHARS - 1] + "…"
    return text


def table(columns: Sequence[str], rows: Iterable[Sequence[object]], *, note: str = "") -> str:
    """An HTML table with a header row and an optional note under it."""
    head = "".join(f'<th style="{_CELL_STYLE}">{escape(name)}</th>' for name in columns)
    body = "".join(
        "<tr>"
        + "".join(
            f'<td style="{_CELL_STYLE}"'
            + (' class="nexus-null"' if value is None else "")
            + f">{escape(cell_text(value))}</td>"
            for value in row
        )
        + "</tr>"
        for row in rows
    )
    html = (
        f'<table class="nexus-table" style="{_TABLE_STYLE}">'
        f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
    )
    return html + paragraph(note) if note else html


def paragraph(text: str, *, css_class: str = "nexus-note") -> str:
    """A muted note line."""
    return f'<p class="{escape(css_class)}" style="{_NOTE_STYLE}">{escape(text)}</p>'


def card(title: str, fields: Sequence[tuple[str, str]], *, note: str = "") -> str:
    """A titled key/value card, used for status displays."""
    rows = "".join(
        f'<tr><th style="{_CELL_STYLE};font-weight:600">{escape(name)}</th>'
        f'<td style="{_CELL_STYLE}">{escape(value)}</td></tr>'
        for name, value in fields
    )
    return (
        '<div class="nexus-card" style="border:1px solid var(--jp-border-color1,#ccc);'
        'border-radius:4px;padding:6px 10px;display:inline-block">'
        f'<div style="font-weight:600;margin-bottom:4px">{escape(title)}</div>'
        f'<table style="{_TABLE_STYLE}">{rows}</table>'
        + (paragraph(note) if note else "")
        + "</div>"
    )


def text_table(columns: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A plain-text table with aligned columns, for terminals and text/plain output."""
    cells = [list(columns)] + [[cell_text(value) for value in row] for row in rows]
    widths = [max(len(line[i]) for line in cells) for i in range(len(columns))]
    lines = [
        " | ".join(value.ljust(width) for value, width in zip(line, widths, strict=True))
        for line in cells
    ]
    lines.insert(1, "-+-".join("-" * width for width in widths))
    return "\n".join(line.rstrip() for line in lines)
