"""The live output of one answer: one display, updated in place as text and tool calls arrive.

Text is rendered as Markdown. Updates are throttled (at most one every `interval_s`), but the
first text of an answer is published at once, and text that arrives inside the interval is
flushed by a timer when it ends, so nothing waits longer than the interval to be seen. Each
tool call is a collapsible line with its SQL, duration and outcome.

Model text is Markdown we did not write: raw HTML in it is escaped (outside code), so text a
prompt injection slipped into the answer cannot become markup or script in the notebook.
"""

from __future__ import annotations

import contextvars
import html
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ._tools import ToolCall

__all__ = ["LiveOutput", "markdown_bundle", "safe_markdown", "show", "tool_line"]

DEFAULT_INTERVAL_S = 0.03
_FENCE_OR_CODE = re.compile(r"(```.*?(?:```|\Z)|`[^`\n]*`)", re.S)
_OUTCOME_MARK = {"ok": "✓", "refused": "⛔", "error": "✗", "running": "…"}


def show(value: object, **options: Any) -> Any:
    """IPython's `display()`, typed (it returns a handle when `display_id` is given)."""
    from IPython.display import display

    return display(value, **options)  # type: ignore[no-untyped-call]


def safe_markdown(text: str) -> str:
    """Markdown with `<` escaped outside code spans and fences (no raw HTML gets through)."""
    parts = _FENCE_OR_CODE.split(text)
    return "".join(
        part if index % 2 else part.replace("&", "&amp;").replace("<", "&lt;")
        for index, part in enumerate(parts)
    )


def _fence(code: str, language: str = "sql") -> str:
    longest = max((len(m) for m in re.findall(r"`{3,}", code)), default=2)
    ticks = "`" * (longest + 1)
    return f"{ticks}{language}\n{code.rstrip()}\n{ticks}"


def tool_line(
    call: ToolCall | None, *, name: str = "", tool_input: Mapping[str, Any] | None = None
) -> str:
    """A collapsible line for one tool call (running when `call` is None)."""
    if call is None:
        sql = [str(v) for k, v in (tool_input or {}).items() if k in ("sql", "before", "after")]
        summary = f"{_OUTCOME_MARK['running']} <code>{html.escape(name)}</code> running…"
        body = "\n\n".join(_fence(s) for s in sql)
    else:
        mark = _OUTCOME_MARK.get(call.outcome, "?")
        summary = (
            f"{mark} <code>{html.escape(call.name)}</code> · {call.duration_ms:,.0f} ms · "
            f"{html.escape(call.summary or call.outcome)}"
        )
        body = "\n\n".join(_fence(s) for s in call.sql)
    inner = f"\n\n{body}\n\n" if body else ""
    return f"<details><summary>{summary}</summary>{inner}</details>"


class _Bundle:
    """Something IPython displays as Markdown, with a plain-text fallback."""

    def __init__(self, markdown: str, plain: str) -> None:
        self.markdown, self.plain = markdown, plain

    def _repr_mimebundle_(self, **_: Any) -> dict[str, str]:
        return {"text/markdown": self.markdown, "text/plain": self.plain}


def markdown_bundle(markdown: str, plain: str) -> _Bundle:
    """An object that IPython shows as `markdown` (and `plain` where Markdown is not shown)."""
    return _Bundle(markdown, plain)


@dataclass
class _Part:
    kind: str  # "text" | "tool" | "note"
    text: str = ""
    call: ToolCall | None = None
    name: str = ""
    tool_input: Mapping[str, Any] | None = None


class LiveOutput:
    """One updating display for one answer; implements the loop's `Listener`.

    `publish(bundle, first)` shows a bundle: by default IPython's `display(..., display_id=True)`
    then `handle.update(...)`. Tests and benchmarks pass their own. `enabled=False` only
    collects (no IPython shell, or display turned off).
    """

    def __init__(
        self,
        *,
        title: str = "Nexus",
        enabled: bool = True,
        interval_s: float = DEFAULT_INTERVAL_S,
        publish: Callable[[_Bundle, bool], None] | None = None,
    ) -> None:
        self.title = title
        self.enabled = enabled
        self.interval_s = interval_s
        self._publish_to = publish
        self._parts: list[_Part] = []
        self._lock = threading.RLock()
        self._handle: Any = None
        self._last_publish = 0.0
        self._timer: threading.Timer | None = None
        self._dirty = False
        self._status = "thinking…"
        self.footer = ""
        self.updates = 0
        self.first_text_latency_ms: float | None = None

    # -- the Listener protocol ------------------------------------------------------------

    def on_text(self, delta: str) -> None:
        """Append streamed text; publish now or soon."""
        arrived = time.perf_counter()
        with self._lock:
            first = self.first_text_latency_ms is None
            if self._parts and self._parts[-1].kind == "text":
                self._parts[-1].text += delta
            else:
                self._parts.append(_Part("text", delta))
            self._status = "writing…"
            self._changed(immediately=first)
            if first:
                self.first_text_latency_ms = (time.perf_counter() - arrived) * 1000

    def on_tool_start(self, name: str, tool_input: Mapping[str, Any]) -> None:
        """Show a running tool line."""
        with self._lock:
            self._parts.append(_Part("tool", name=name, tool_input=dict(tool_input)))
            self._status = f"running {name}…"
            self._changed(immediately=True)

    def on_tool_end(self, call: ToolCall) -> None:
        """Replace the running line with the finished one."""
        with self._lock:
            for part in reversed(self._parts):
                if part.kind == "tool" and part.call is None and part.name == call.name:
                    part.call = call
                    break
            else:
                self._parts.append(_Part("tool", call=call, name=call.name))
            self._status = "thinking…"
            self._changed(immediately=True)

    # -- other updates --------------------------------------------------------------------

    def start(self, status: str = "thinking…") -> None:
        """Show the (empty) output so the user sees that something is on its way."""
        with self._lock:
            self._status = status
            self._publish()

    def note(self, text: str) -> None:
        """Add a line of notice (an error, a refusal, a stop) to the output."""
        with self._lock:
            self._parts.append(_Part("note", text))
            self._changed(immediately=True)

    def finish(self, footer: str) -> None:
        """Final render: no status line, the footer (model, tokens, live or replayed)."""
        with self._lock:
            self._cancel_timer()
            self._status = ""
            self.footer = footer
            self._publish()

    # -- rendering ------------------------------------------------------------------------

    def markdown(self) -> str:
        """The current output as Markdown."""
        with self._lock:
            chunks = []
            for part in self._parts:
                if part.kind == "text":
                    chunks.append(safe_markdown(part.text))
                elif part.kind == "tool":
                    chunks.append(
                        "\n\n" + tool_line(part.call, name=part.name, tool_input=part.tool_input)
                        + "\n\n"
                    )  # fmt: skip
                else:
                    chunks.append(f"\n\n> **{html.escape(part.text)}**\n\n")
            body = "".join(chunks)
            tail = f"\n\n*{html.escape(self._status)}*" if self._status else ""
            foot = f"\n\n---\n<small>{html.escape(self.footer)}</small>" if self.footer else ""
            return f"{body}{tail}{foot}".strip() or "*…*"

    def plain(self) -> str:
        """The current output as plain text."""
        with self._lock:
            chunks = []
            for part in self._parts:
                if part.kind == "text":
                    chunks.append(part.text)
                elif part.kind == "tool":
                    call = part.call
                    chunks.append(
                        f"\n[{part.name} running…]\n" if call is None
                        else f"\n[{call.name} · {call.duration_ms:,.0f} ms · "
                        f"{call.summary or call.outcome}]\n"
                    )  # fmt: skip
                else:
                    chunks.append(f"\n! {part.text}\n")
            text = "".join(chunks).strip()
            return f"{text}\n-- {self.footer}" if self.footer else text

    def _changed(self, *, immediately: bool) -> None:
        now = time.perf_counter()
        if immediately or now - self._last_publish >= self.interval_s:
            self._cancel_timer()
            self._publish()
            return
        self._dirty = True
        if self._timer is None:
            wait = max(self.interval_s - (now - self._last_publish), 0.001)
            context = contextvars.copy_context()  # the kernel's output routing lives here
            self._timer = threading.Timer(wait, context.run, args=(self._flush,))
            self._timer.daemon = True
            self._timer.start()

    def _flush(self) -> None:
        with self._lock:
            self._timer = None
            if self._dirty:
                self._publish()

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _publish(self) -> None:
        self._dirty = False
        self._last_publish = time.perf_counter()
        if not self.enabled:
            return
        bundle = _Bundle(self.markdown(), self.plain())
        first = self.updates == 0
        self.updates += 1
        if self._publish_to is not None:
            self._publish_to(bundle, first)
            return
        if self._handle is None:
            self._handle = show(bundle, display_id=True)
        else:
            self._handle.update(bundle)
