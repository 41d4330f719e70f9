"""Exercises, hints, solutions, check results and progress as HTML and as plain text.

Every value is escaped where it is interpolated. Text in backticks becomes `<code>`.
Classes a test or a stylesheet can look for:

    nx-ex           an exercise card           nx-ex-hint      one hint
    nx-ex-solution  the reference solution     nx-ex-check     a check result
    nx-ex-pass      a criterion that held      nx-ex-fail      one that did not
    nx-ex-progress  the progress table
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Sequence
from html import escape

__all__ = ["code_block", "inline", "text_block"]

_BOX = (
    "border:1px solid var(--jp-border-color1,#ccc);border-radius:4px;padding:8px 12px;"
    "margin:4px 0;font-family:var(--jp-ui-font-family,sans-serif);"
    "color:var(--jp-ui-font-color1,#222)"
)
_PRE = (
    "background:var(--jp-layout-color2,#f5f5f5);padding:6px 8px;border-radius:3px;"
    "font-family:var(--jp-code-font-family,monospace);font-size:var(--jp-code-font-size,12px);"
    "white-space:pre-wrap;margin:4px 0"
)
_MUTED = "color:var(--jp-ui-font-color2,#666);font-size:smaller"
_GOOD = "color:var(--jp-success-color1,#2e7d32)"
_BAD = "color:var(--jp-error-color1,#c62828)"
_BACKTICKS = re.compile(r"`([^`]+)`")


def inline(text: str) -> str:
    """Escape `text`; spans in backticks become <code>."""
    parts = _BACKTICKS.split(text)
    return "".join(
        f"<code>{escape(part)}</code>" if index % 2 else escape(part)
        for index, part in enumerate(parts)
    )


def code_block(sql: str) -> str:
    """A block of SQL (or Python), escaped."""
    return f'<pre style="{_PRE}">{escape(sql)}</pre>'


def text_block(title: str, lines: Sequence[str], *, width: int = 96) -> str:
    """A title and indented lines, wrapped at `width`, for text/plain."""
    out = [title]
    for line in lines:
        indent = "  " + " " * (len(line) - len(line.lstrip()))
        wrapped = textwrap.wrap(line.strip(), width - len(indent)) or [""]
        out.extend(f"{indent}{part}".rstrip() for part in wrapped)
    return "\n".join(out)


def box(css_class: str, title: str, body: str, *, status: str = "") -> str:
    """A bordered block with a bold title line."""
    badge = f" <span>{escape(status)}</span>" if status else ""
    return (
        f'<div class="{escape(css_class)}" style="{_BOX}">'
        f'<div style="font-weight:600;margin-bottom:4px">{escape(title)}{badge}</div>'
        f"{body}</div>"
    )


def muted(text: str) -> str:
    """A muted line (notes, how-to lines)."""
    return f'<div style="{_MUTED}">{inline(text)}</div>'


def mark(passed: bool) -> str:
    """A coloured check or cross, as HTML."""
    css_class, style, sign = ("nx-ex-pass", _GOOD, "✓") if passed else ("nx-ex-fail", _BAD, "✗")
    return f'<span class="{css_class}" style="{style};font-weight:600">{sign}</span>'
