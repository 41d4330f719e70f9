"""Placeholder until the render module lands: a minimal text and HTML tree."""

from __future__ import annotations

import html
from collections.abc import Collection

from ._model import Plan

__all__ = ["plan_html", "plan_text"]


def plan_text(plan: Plan, *, width: int = 100) -> str:
    """The plan as an indented text tree."""
    lines = []
    for node in plan.nodes:
        time = f" {node.exclusive_ms:.3f} ms" if node.exclusive_ms is not None else ""
        lines.append(("  " * node.depth + "-> " + node.label + time)[:width])
    return "\n".join(lines)


def plan_html(plan: Plan, *, title: str | None = None, highlight: Collection[int] = ()) -> str:
    """The plan as HTML."""
    del title, highlight
    return f"<pre>{html.escape(plan_text(plan))}</pre>"
