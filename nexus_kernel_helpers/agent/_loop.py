"""The tool loop, written out by hand over `client.messages.stream`.

One question is a few model turns: the model streams text and tool calls; the tools run
through the sandbox; their results go back; until the model ends its turn or the step limit
is reached (the last allowed turn is asked to answer without tools). Everything that happens
is reported to a `Listener` (the display) as it happens, and collected in a `LoopResult`.

Stopping: the Stop event or Ctrl-C ends the stream at once; the text that arrived is kept and
the history stays valid (calls that never ran get an error result). An API error mid-way keeps
the partial result too: `run_loop` returns it with `error` set and the caller raises.
"""

from __future__ import annotations

import copy
import logging
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from ._tools import ToolCall, ToolRunner

if TYPE_CHECKING:
    import anthropic

__all__ = [
    "DEFAULT_MAX_STEPS",
    "DEFAULT_MAX_TOKENS",
    "Listener",
    "LoopResult",
    "Usage",
    "run_loop",
    "with_cache_marker",
]

_log = logging.getLogger(__name__)

DEFAULT_MAX_STEPS = 8
DEFAULT_MAX_TOKENS = 4_096
_ENDED_EARLY = ("stopped", "interrupted", "error")
STEP_LIMIT_NOTE = (
    "[workbook] The tool step limit is reached: answer now with what you have measured, "
    "and say what is left unverified."
)


@dataclass
class Usage:
    """Tokens over all turns of one answer."""

    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_creation_tokens: int = 0

    def add(self, usage: Any) -> None:
        """Add an SDK `Usage` (or anything with the same attributes)."""
        self.input_tokens += int(getattr(usage, "input_tokens", 0) or 0)
        self.output_tokens += int(getattr(usage, "output_tokens", 0) or 0)
        self.cache_read_tokens += int(getattr(usage, "cache_read_input_tokens", 0) or 0)
        self.cache_creation_tokens += int(getattr(usage, "cache_creation_input_tokens", 0) or 0)

    def merge(self, other: Usage) -> None:
        """Add another `Usage` of ours."""
        self.input_tokens += other.input_tokens
        self.output_tokens += other.output_tokens
        self.cache_read_tokens += other.cache_read_tokens
        self.cache_creation_tokens += other.cache_creation_tokens

    def to_json(self) -> dict[str, int]:
        """A plain dict for transcripts."""
        return {
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cache_read_tokens": self.cache_read_tokens,
            "cache_creation_tokens": self.cache_creation_tokens,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Usage:
        """Back from a transcript."""
        return cls(**{key: int(data.get(key) or 0) for key in cls().to_json()})


class Listener(Protocol):
    """What the loop reports while it runs (the display implements it)."""

    def on_text(self, delta: str) -> None:
        """Text arrived."""

    def on_tool_start(self, name: str, tool_input: Mapping[str, Any]) -> None:
        """A tool is about to run."""

    def on_tool_end(self, call: ToolCall) -> None:
        """A tool finished (or was refused)."""


@dataclass
class Step:
    """One model turn: its text and the tool calls it asked for."""

    text: str = ""
    tool_calls: list[ToolCall] = field(default_factory=list)
    stop_reason: str | None = None

    def to_json(self) -> dict[str, Any]:
        """A plain dict for transcripts."""
        return {
            "text": self.text,
            "tool_calls": [call.to_json() for call in self.tool_calls],
            "stop_reason": self.stop_reason,
        }


@dataclass
class LoopResult:
    """What one question produced: steps, usage, why it stopped, timings."""

    steps: list[Step] = field(default_factory=list)
    usage: Usage = field(default_factory=Usage)
    stop_reason: str | None = None
    model: str = ""
    error: BaseException | None = None
    model_ms: float = 0.0
    tool_ms: float = 0.0
    total_ms: float = 0.0

    @property
    def text(self) -> str:
        """The answer text of all turns."""
        return "\n\n".join(step.text for step in self.steps if step.text.strip())

    @property
    def tool_calls(self) -> list[ToolCall]:
        """Every tool call, in order."""
        return [call for step in self.steps for call in step.tool_calls]


def with_cache_marker(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A copy of `messages` with a cache breakpoint on the last block.

    With the system prefix marked too, each step of the loop reads the conversation so far
    from the cache instead of paying for it again.
    """
    if not messages:
        return messages
    marked = [*messages[:-1], copy.deepcopy(messages[-1])]
    content = marked[-1]["content"]
    if isinstance(content, str):
        marked[-1]["content"] = [{"type": "text", "text": content}]
        content = marked[-1]["content"]
    if content:
        content[-1]["cache_control"] = {"type": "ephemeral"}
    return marked


def run_loop(
    client: anthropic.Anthropic,
    *,
    model: str,
    system: list[dict[str, Any]],
    tools: list[dict[str, Any]],
    messages: list[dict[str, Any]],
    runner: ToolRunner,
    listener: Listener,
    max_steps: int = DEFAULT_MAX_STEPS,
    max_tokens: int = DEFAULT_MAX_TOKENS,
    stop: threading.Event | None = None,
) -> LoopResult:
    """Ask until the model ends its turn; `messages` (the history) is extended in place."""
    loop = _Loop(client, runner, listener, messages, stop or threading.Event())
    request = {"model": model, "max_tokens": max_tokens, "system": system, "tools": tools}
    loop.result.model = model
    started = time.perf_counter()
    try:
        loop.result.stop_reason = loop.run(request, max_steps)
    except KeyboardInterrupt:
        _repair_history(messages)
        loop.result.stop_reason = "interrupted"
    finally:
        loop.result.total_ms = (time.perf_counter() - started) * 1000
    return loop.result


class _Loop:
    """The state one question's loop shares between its steps."""

    def __init__(
        self,
        client: anthropic.Anthropic,
        runner: ToolRunner,
        listener: Listener,
        messages: list[dict[str, Any]],
        stop: threading.Event,
    ) -> None:
        self.client, self.runner, self.listener = client, runner, listener
        self.messages, self.stop = messages, stop
        self.result = LoopResult()

    def run(self, request: dict[str, Any], max_steps: int) -> str | None:
        """Run the steps; return the stop reason."""
        for number in range(max_steps):
            last = number == max_steps - 1
            if last and number > 0:
                _add_user_text(self.messages, STEP_LIMIT_NOTE)
            step = Step()
            self.result.steps.append(step)
            turn = {**request, "messages": with_cache_marker(self.messages)}
            if last:
                turn["tool_choice"] = {"type": "none"}
            model_started = time.perf_counter()
            try:
                content = self.stream_turn(turn, step)
            finally:
                self.result.model_ms += (time.perf_counter() - model_started) * 1000
            uses = [block for block in content if block["type"] == "tool_use"]
            complete = step.stop_reason == "tool_use" and bool(uses)
            kept = [b for b in content if b["type"] == "text" and b["text"]]
            if kept or complete:
                self.messages.append(
                    {"role": "assistant", "content": kept + (uses if complete else [])}
                )
            if step.stop_reason in _ENDED_EARLY or self.stop.is_set():
                return step.stop_reason if step.stop_reason in _ENDED_EARLY else "stopped"
            if not complete:
                return step.stop_reason
            if last:
                _answer_unrun(self.messages, uses, "not run: the tool step limit was reached")
                return "step_limit"
            self.run_tools(uses, step)
            if self.stop.is_set():
                return "stopped"
        return "step_limit"  # pragma: no cover - the last step always returns

    def stream_turn(self, request: dict[str, Any], step: Step) -> list[dict[str, Any]]:
        """Stream one model turn; return its content blocks as plain dicts.

        An interruption (Stop, Ctrl-C) or a failure mid-stream ends the turn early: the blocks
        that arrived are returned, `step.stop_reason` says "stopped", "interrupted" or
        "error", and a failure is kept in `result.error`.
        """
        import anthropic
        import httpx2

        blocks: dict[int, dict[str, Any]] = {}
        turn = Usage()
        try:
            with self.client.messages.stream(**request) as stream:
                for event in stream:
                    if self.stop.is_set():
                        step.stop_reason = "stopped"
                        break
                    if event.type == "text":
                        step.text += event.text
                        self.listener.on_text(event.text)
                    else:
                        _take_event(event, blocks, step, turn, self.result)
        except KeyboardInterrupt:
            step.stop_reason = "interrupted"
        except (anthropic.APIError, httpx2.HTTPError, OSError, ValueError) as error:
            # httpx2/OSError/ValueError: a connection dropped mid-stream, or a frame that does
            # not parse; the SDK wraps only what happens before the response starts.
            self.result.error = error
            step.stop_reason = "error"
        finally:
            self.result.usage.merge(turn)
        return [blocks[index] for index in sorted(blocks)]

    def run_tools(self, uses: list[dict[str, Any]], step: Step) -> None:
        """Run the calls of one turn and append their results as the next user message."""
        results: list[dict[str, Any]] = []
        try:
            for use in uses:
                if self.stop.is_set():
                    break
                self.listener.on_tool_start(use["name"], use["input"])
                tool_started = time.perf_counter()
                call = self.runner.run(use["id"], use["name"], use["input"])
                self.result.tool_ms += (time.perf_counter() - tool_started) * 1000
                _log.debug("tool %s: %s in %.1f ms", call.name, call.outcome, call.duration_ms)
                step.tool_calls.append(call)
                self.listener.on_tool_end(call)
                results.append(_tool_result(call.id, call.result, is_error=call.is_error))
        finally:
            answered = {r["tool_use_id"] for r in results}
            for use in uses:
                if use["id"] not in answered:
                    results.append(_tool_result(use["id"], "not run: stopped by the user", True))
            self.messages.append({"role": "user", "content": results})


def _take_event(
    event: Any, blocks: dict[int, dict[str, Any]], step: Step, turn: Usage, result: LoopResult
) -> None:
    """Fold one non-text stream event into the turn's blocks, stop reason and usage."""
    kind = event.type
    if kind == "content_block_start":
        block = event.content_block
        if block.type in ("text", "tool_use"):
            blocks[event.index] = (
                {"type": "text", "text": ""} if block.type == "text"
                else {"type": "tool_use", "id": block.id, "name": block.name, "input": {}}
            )  # fmt: skip
    elif kind == "content_block_delta":
        target = blocks.get(event.index)
        if target is not None and event.delta.type == "text_delta":
            target["text"] += event.delta.text
    elif kind == "content_block_stop":
        target = blocks.get(event.index)
        if target is not None and target["type"] == "tool_use":
            target["input"] = dict(getattr(event.content_block, "input", None) or {})
    elif kind == "message_start":
        result.model = event.message.model or result.model
        _set_usage(turn, event.message.usage, start=True)
    elif kind == "message_delta":
        step.stop_reason = event.delta.stop_reason
        _set_usage(turn, event.usage, start=False)


def _set_usage(turn: Usage, usage: Any, *, start: bool) -> None:
    """Counts on message_delta are totals for the turn so far: they replace, never add."""
    turn.output_tokens = int(usage.output_tokens or 0)
    for field_name, target in (
        ("input_tokens", "input_tokens"),
        ("cache_read_input_tokens", "cache_read_tokens"),
        ("cache_creation_input_tokens", "cache_creation_tokens"),
    ):
        value = getattr(usage, field_name, None)
        if value is not None or start:
            setattr(turn, target, int(value or 0))


def _tool_result(tool_id: str, text: str, is_error: bool) -> dict[str, Any]:
    block: dict[str, Any] = {"type": "tool_result", "tool_use_id": tool_id, "content": text}
    if is_error:
        block["is_error"] = True
    return block


def _answer_unrun(messages: list[dict[str, Any]], uses: list[dict[str, Any]], why: str) -> None:
    messages.append({"role": "user", "content": [_tool_result(u["id"], why, True) for u in uses]})


def _add_user_text(messages: list[dict[str, Any]], text: str) -> None:
    """Add text to the last user message (after its tool results), or start one."""
    if messages and messages[-1]["role"] == "user":
        content = messages[-1]["content"]
        if isinstance(content, str):
            messages[-1]["content"] = [{"type": "text", "text": content}]
        messages[-1]["content"].append({"type": "text", "text": text})
    else:
        messages.append({"role": "user", "content": [{"type": "text", "text": text}]})


def _repair_history(messages: list[dict[str, Any]]) -> None:
    """After an interruption: every tool_use in the last assistant turn gets a result."""
    if not messages or messages[-1]["role"] != "assistant":
        return
    uses = [b for b in messages[-1]["content"] if b.get("type") == "tool_use"]
    if uses:
        _answer_unrun(messages, uses, "not run: the answer was interrupted")
