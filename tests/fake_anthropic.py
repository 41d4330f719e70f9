"""A fake Anthropic Messages API on 127.0.0.1, for tests, headless notebook runs and benchmarks.

It speaks real HTTP/1.1 and streams real server-sent events, so the ``anthropic`` SDK (or any
other client) runs its own parsing, retry and error code against it::

    with FakeAnthropic() as fake:
        fake.script(text_turn("Hello."), tool_turn("run_sql", {"sql": "select 1"}))
        client = anthropic.Anthropic(api_key="test-key-not-real", base_url=fake.base_url)
        ...
        assert fake.requests[0].body["messages"][0]["role"] == "user"

Every ``POST /v1/messages`` that passes the request checks consumes the next scripted turn;
with none left the server answers ``default_text``. The checks follow the real API closely
enough to catch agent bugs: an API key header, ``anthropic-version``, ``model``, ``max_tokens``,
non-empty ``messages`` whose roles alternate starting with ``user``, non-empty text, and
``tool_result`` blocks that answer exactly the ``tool_use`` ids of the assistant turn before
them. A failing request gets a 401 ``authentication_error`` or a 400 ``invalid_request_error``
naming the bad field, and consumes no turn.

A turn is rendered as a server-sent event stream when the request says ``"stream": true`` and
as one JSON message otherwise. Error turns behave the same either way, except that a
mid-stream error becomes an HTTP error status and a dropped connection sends no response.

Standalone, for headless notebook runs::

    python -m tests.fake_anthropic --port 8765 --script turns.json

prints the base URL on the first line of stdout, then serves until interrupted. The script
file is a JSON list of turns such as ``{"turn": "text", "text": "Hi"}`` (see ``turn_from_dict``).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import math
import re
import signal
import socket
import struct
import sys
import threading
import time
import uuid
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any, Literal, Self, TypeVar, cast

__all__ = [
    "FakeAnthropic",
    "InvalidRequest",
    "RecordedRequest",
    "TextBlock",
    "ToolUseBlock",
    "Turn",
    "check_request",
    "dropped_connection",
    "http_error",
    "load_script",
    "main",
    "max_tokens_turn",
    "refusal_turn",
    "slow_stream_turn",
    "stream_error",
    "text_turn",
    "tool_turn",
    "tool_turns",
    "turn_from_dict",
]

log = logging.getLogger(__name__)

_T = TypeVar("_T")

_MESSAGES_PATH = "/v1/messages"

# The HTTP status the real API uses for each error type: a mid-stream error turn answers a
# non-streamed request with it.
_STATUS_FOR_ERROR_TYPE = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "billing_error": 402,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "timeout_error": 504,
    "overloaded_error": 529,
}

_TOOL_NAME = re.compile(r"[a-zA-Z0-9_-]{1,128}")
_TOOL_ID = re.compile(r"[a-zA-Z0-9_-]+")


@dataclass(frozen=True)
class TextBlock:
    """A text content block of a scripted reply."""

    text: str


@dataclass(frozen=True)
class ToolUseBlock:
    """A tool call of a scripted reply."""

    id: str
    name: str
    input: Mapping[str, Any]


ContentBlock = TextBlock | ToolUseBlock

TurnKind = Literal["message", "http_error", "stream_error", "dropped_connection"]


@dataclass(frozen=True)
class Turn:
    """One scripted answer to one ``POST /v1/messages``; build it with the ``*_turn`` functions.

    ``kind`` says what the server does: ``message`` replies with ``blocks``; ``http_error``
    answers ``status`` with an error body; ``stream_error`` streams ``blocks`` then sends an
    ``error`` event; ``dropped_connection`` streams ``blocks`` then closes the socket (with a
    TCP reset when ``reset`` is true). ``delay_s`` is slept before every streamed delta.
    """

    kind: TurnKind
    blocks: tuple[ContentBlock, ...] = ()
    stop_reason: str = "end_turn"
    input_tokens: int = 100
    output_tokens: int | None = None
    cache_read: int = 0
    cache_creation: int = 0
    chunk_size: int = 12
    delay_s: float = 0.0
    status: int = 200
    error_type: str = ""
    error_message: str = ""
    retry_after: float | None = None
    reset: bool = False

    def __post_init__(self) -> None:
        if self.chunk_size < 1:
            raise ValueError(f"chunk_size must be at least 1, got {self.chunk_size!r}")
        if self.delay_s < 0:
            raise ValueError(f"delay_s must not be negative, got {self.delay_s!r}")

    @property
    def usage_output_tokens(self) -> int:
        """The output token count reported: the scripted one, else about a token per 4 chars."""
        if self.output_tokens is not None:
            return self.output_tokens
        chars = sum(
            len(block.text) if isinstance(block, TextBlock) else len(json.dumps(block.input))
            for block in self.blocks
        )
        return max(1, round(chars / 4))


# --- turn builders ---------------------------------------------------------------------------


def text_turn(
    text: str,
    *,
    chunk_size: int = 12,
    stop_reason: str = "end_turn",
    input_tokens: int = 100,
    output_tokens: int | None = None,
    cache_read: int = 0,
    cache_creation: int = 0,
    delay_s: float = 0.0,
) -> Turn:
    """A text reply streamed in ``chunk_size``-character deltas, ``delay_s`` before each."""
    return Turn(
        "message",
        (TextBlock(text),),
        stop_reason=stop_reason,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        cache_read=cache_read,
        cache_creation=cache_creation,
        chunk_size=chunk_size,
        delay_s=delay_s,
    )


def slow_stream_turn(text: str, *, delay_s: float = 0.05, chunk_size: int = 1) -> Turn:
    """A text reply that trickles out, for tests that interrupt or cancel mid-stream."""
    return text_turn(text, chunk_size=chunk_size, delay_s=delay_s)


def _tool_id() -> str:
    return f"toolu_fake_{uuid.uuid4().hex[:20]}"


def tool_turns(
    *calls: tuple[str, Mapping[str, Any]],
    text: str = "",
    chunk_size: int = 12,
    input_tokens: int = 100,
    output_tokens: int | None = None,
    cache_read: int = 0,
    cache_creation: int = 0,
    delay_s: float = 0.0,
) -> Turn:
    """Optional text, then one ``tool_use`` block per ``(name, input)`` call; stop ``tool_use``."""
    if not calls:
        raise ValueError("tool_turns() needs at least one (name, input) call")
    uses = [ToolUseBlock(_tool_id(), name, dict(tool_input)) for name, tool_input in calls]
    return _tool_use_turn(
        text,
        uses,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        cache_read=cache_read,
        cache_creation=cache_creation,
        chunk_size=chunk_size,
        delay_s=delay_s,
    )


def tool_turn(
    name: str,
    tool_input: Mapping[str, Any],
    *,
    text: str = "",
    tool_id: str | None = None,
    chunk_size: int = 12,
    input_tokens: int = 100,
    output_tokens: int | None = None,
    cache_read: int = 0,
    cache_creation: int = 0,
    delay_s: float = 0.0,
) -> Turn:
    """Optional text, then one ``tool_use`` block streamed as ``input_json_delta`` chunks."""
    use = ToolUseBlock(tool_id or _tool_id(), name, dict(tool_input))
    return _tool_use_turn(
        text,
        [use],
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        cache_read=cache_read,
        cache_creation=cache_creation,
        chunk_size=chunk_size,
        delay_s=delay_s,
    )


def _tool_use_turn(text: str, uses: list[ToolUseBlock], **options: Any) -> Turn:
    """Optional text, then the tool_use blocks; stop reason ``tool_use``."""
    blocks: list[ContentBlock] = [TextBlock(text)] if text else []
    blocks.extend(uses)
    return Turn("message", tuple(blocks), stop_reason="tool_use", **options)


def max_tokens_turn(text: str, *, chunk_size: int = 12) -> Turn:
    """A text reply cut off by ``max_tokens``."""
    return text_turn(text, chunk_size=chunk_size, stop_reason="max_tokens")


def refusal_turn(text: str, *, chunk_size: int = 12) -> Turn:
    """A text reply ended by the safety classifiers (stop reason ``refusal``)."""
    return text_turn(text, chunk_size=chunk_size, stop_reason="refusal")


def http_error(
    status: int, error_type: str, message: str, *, retry_after: float | None = None
) -> Turn:
    """An error status with the API's error body, e.g. ``http_error(529, "overloaded_error", ...)``.

    ``retry_after`` (seconds) sets ``retry-after-ms``, which the SDK prefers, and
    ``retry-after`` rounded up to whole seconds as the real API sends it.
    """
    if not 400 <= status <= 599:
        raise ValueError(f"http_error() needs a 4xx or 5xx status, got {status!r}")
    return Turn(
        "http_error",
        status=status,
        error_type=error_type,
        error_message=message,
        retry_after=retry_after,
    )


def stream_error(
    text_before: str, error_type: str = "overloaded_error", message: str = "Overloaded"
) -> Turn:
    """A 200 stream that sends ``text_before``, then an ``error`` event instead of the end."""
    return Turn(
        "stream_error",
        (TextBlock(text_before),) if text_before else (),
        status=_STATUS_FOR_ERROR_TYPE.get(error_type, 500),
        error_type=error_type,
        error_message=message,
    )


def dropped_connection(text_before: str, *, reset: bool = False) -> Turn:
    """A stream that sends ``text_before``, then closes the socket mid-body (RST if ``reset``)."""
    return Turn("dropped_connection", (TextBlock(text_before),) if text_before else (), reset=reset)


_BUILDERS: dict[str, Any] = {
    "text": text_turn,
    "slow_stream": slow_stream_turn,
    "tool": tool_turn,
    "tools": tool_turns,
    "max_tokens": max_tokens_turn,
    "refusal": refusal_turn,
    "http_error": http_error,
    "stream_error": stream_error,
    "dropped_connection": dropped_connection,
}


def turn_from_dict(data: Mapping[str, Any]) -> Turn:
    """Build a turn from its JSON form, as in a ``--script`` file.

    ``{"turn": NAME, ...}`` calls the builder of that name with the other keys as arguments.
    Names: ``text``, ``slow_stream``, ``tool``, ``tools``, ``max_tokens``, ``refusal``,
    ``http_error``, ``stream_error``, ``dropped_connection``. ``tool`` takes ``name`` and
    ``input``; ``tools`` takes ``calls``, a list of ``{"name": ..., "input": {...}}``.
    """
    arguments = dict(data)
    name = arguments.pop("turn", None)
    builder = _BUILDERS.get(name) if isinstance(name, str) else None
    if builder is None:
        raise ValueError(f"unknown turn {name!r}: expected one of {sorted(_BUILDERS)}")
    positional: list[Any] = []
    try:
        if name == "tool":
            positional = [arguments.pop("name"), arguments.pop("input", {})]
        elif name == "tools":
            calls = arguments.pop("calls")
            positional = [(call["name"], call.get("input", {})) for call in calls]
        elif name == "http_error":
            positional = [arguments.pop(key) for key in ("status", "error_type", "message")]
        return cast(Turn, builder(*positional, **arguments))
    except (TypeError, KeyError, AttributeError) as error:
        raise ValueError(f"bad {name!r} turn {dict(data)!r}: {error!r}") from None


# --- rendering -------------------------------------------------------------------------------


def _usage(turn: Turn, output_tokens: int) -> dict[str, Any]:
    return {
        "input_tokens": turn.input_tokens,
        "cache_creation_input_tokens": turn.cache_creation,
        "cache_read_input_tokens": turn.cache_read,
        "cache_creation": {
            "ephemeral_5m_input_tokens": turn.cache_creation,
            "ephemeral_1h_input_tokens": 0,
        },
        "output_tokens": output_tokens,
        "service_tier": "standard",
    }


def _stop_details(turn: Turn) -> dict[str, Any] | None:
    if turn.stop_reason == "refusal":
        return {"type": "refusal", "category": None, "explanation": None}
    return None


def _block_json(block: ContentBlock) -> dict[str, Any]:
    if isinstance(block, TextBlock):
        return {"type": "text", "text": block.text}
    return {"type": "tool_use", "id": block.id, "name": block.name, "input": dict(block.input)}


def _message_json(turn: Turn, *, model: str, message_id: str) -> dict[str, Any]:
    """The whole message a non-streamed request gets for a ``message`` turn."""
    return {
        "id": message_id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [_block_json(block) for block in turn.blocks],
        "stop_reason": turn.stop_reason,
        "stop_sequence": None,
        "stop_details": _stop_details(turn),
        "usage": _usage(turn, turn.usage_output_tokens),
    }


def _error_json(error_type: str, message: str, request_id: str) -> dict[str, Any]:
    """The body of an API error, as sent in an error response or an ``error`` event."""
    return {
        "type": "error",
        "error": {"type": error_type, "message": message},
        "request_id": request_id,
    }


def _sse_frame(event: str, data: Mapping[str, Any]) -> bytes:
    """One server-sent event: an ``event:`` line, a ``data:`` line and a blank line."""
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


def _pieces(text: str, size: int) -> Iterator[str]:
    for start in range(0, len(text), size):
        yield text[start : start + size]


class _Drop:
    """Marker in a frame sequence: close the connection here."""


_DROP = _Drop()


def _stream_frames(
    turn: Turn, *, model: str, message_id: str, request_id: str
) -> Iterator[bytes | _Drop]:
    """The event stream of a turn, sleeping ``turn.delay_s`` before each delta."""
    start = _message_json(turn, model=model, message_id=message_id)
    start.update(content=[], stop_reason=None, stop_details=None)
    start["usage"] = _usage(turn, 1)
    yield _sse_frame("message_start", {"type": "message_start", "message": start})
    for index, block in enumerate(turn.blocks):
        if isinstance(block, TextBlock):
            opening: dict[str, Any] = {"type": "text", "text": ""}
            deltas = [
                {"type": "text_delta", "text": piece}
                for piece in _pieces(block.text, turn.chunk_size)
            ]
        else:
            opening = {"type": "tool_use", "id": block.id, "name": block.name, "input": {}}
            # The real API opens a tool input with an empty partial: parsers must cope with it.
            arguments = json.dumps(dict(block.input), separators=(",", ":"))
            deltas = [{"type": "input_json_delta", "partial_json": ""}]
            deltas += [
                {"type": "input_json_delta", "partial_json": piece}
                for piece in _pieces(arguments, turn.chunk_size)
            ]
        yield _sse_frame(
            "content_block_start",
            {"type": "content_block_start", "index": index, "content_block": opening},
        )
        if index == 0:
            yield _sse_frame("ping", {"type": "ping"})
        for delta in deltas:
            if turn.delay_s:
                time.sleep(turn.delay_s)
            yield _sse_frame(
                "content_block_delta",
                {"type": "content_block_delta", "index": index, "delta": delta},
            )
        if turn.kind != "message" and index == len(turn.blocks) - 1:
            break
        yield _sse_frame("content_block_stop", {"type": "content_block_stop", "index": index})
    if turn.kind == "stream_error":
        yield _sse_frame("error", _error_json(turn.error_type, turn.error_message, request_id))
        return
    if turn.kind == "dropped_connection":
        yield _DROP
        return
    usage = _usage(turn, turn.usage_output_tokens)
    del usage["cache_creation"], usage["service_tier"]
    ending: dict[str, Any] = {"stop_reason": turn.stop_reason, "stop_sequence": None}
    ending["stop_details"] = _stop_details(turn)
    yield _sse_frame("message_delta", {"type": "message_delta", "delta": ending, "usage": usage})
    yield _sse_frame("message_stop", {"type": "message_stop"})


# --- request checks --------------------------------------------------------------------------


class InvalidRequest(Exception):
    """A request the real API would refuse; the message names the field and the fault."""


def _expect(value: object, kind: type[_T], where: str, what: str) -> _T:
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise InvalidRequest(f"{where}: expected {what}, got {value!r}")
    return value


def _check_text(block: Mapping[str, Any], where: str) -> None:
    text = block.get("text")
    if not isinstance(text, str) or not text.strip():
        raise InvalidRequest(f"{where}: text blocks must contain non-whitespace text, got {text!r}")


def check_request(body: object) -> None:
    """Raise ``InvalidRequest`` for a Messages API request body the real API would refuse."""
    request = _expect(body, dict, "body", "a JSON object")
    for name in ("model", "max_tokens", "messages"):
        if name not in request:
            raise InvalidRequest(f"{name}: field required")
    if not _expect(request["model"], str, "model", "a model name"):
        raise InvalidRequest("model: expected a model name, got ''")
    if _expect(request["max_tokens"], int, "max_tokens", "an integer >= 1") < 1:
        raise InvalidRequest(f"max_tokens: expected an integer >= 1, got {request['max_tokens']!r}")
    _expect(request.get("stream", False), bool, "stream", "a boolean")
    system = request.get("system")
    if system is not None and not isinstance(system, str):
        for index, block in enumerate(_expect(system, list, "system", "a string or text blocks")):
            _check_text(_expect(block, dict, f"system.{index}", "a text block"), f"system.{index}")
    tool_names = _check_tools(request.get("tools"))
    choice = request.get("tool_choice")
    if choice is not None:
        choice = _expect(choice, dict, "tool_choice", "an object")
        if choice.get("type") not in {"auto", "any", "tool", "none"}:
            raise InvalidRequest(
                f"tool_choice.type: expected auto, any, tool or none, got {choice!r}"
            )
        if choice["type"] == "tool" and choice.get("name") not in tool_names:
            raise InvalidRequest(
                f"tool_choice.name: {choice.get('name')!r} is not one of the tools"
            )
    _check_messages(_expect(request["messages"], list, "messages", "a list of messages"))


def _check_tools(tools: object) -> set[str]:
    names: set[str] = set()
    for index, item in enumerate(_expect(tools or [], list, "tools", "a list of tools")):
        where = f"tools.{index}"
        tool = _expect(item, dict, where, "a tool definition")
        name = tool.get("name")
        if not isinstance(name, str) or not _TOOL_NAME.fullmatch(name):
            raise InvalidRequest(
                f"{where}.name: expected 1-128 letters, digits, _ or -, got {name!r}"
            )
        if name in names:
            raise InvalidRequest(f"{where}.name: tool names must be unique, {name!r} repeats")
        names.add(name)
        schema = tool.get("input_schema")
        is_custom = tool.get("type", "custom") == "custom"
        if is_custom and (not isinstance(schema, dict) or schema.get("type") != "object"):
            raise InvalidRequest(f"{where}.input_schema: expected an object schema, got {schema!r}")
    return names


def _check_messages(messages: list[Any]) -> None:
    if not messages:
        raise InvalidRequest("messages: at least one message is required")
    previous_role = "assistant"  # so that a first message from the assistant is refused
    for index, item in enumerate(messages):
        where = f"messages.{index}"
        message = _expect(item, dict, where, "a message object")
        role = message.get("role")
        if role not in {"user", "assistant"}:
            raise InvalidRequest(f"{where}.role: expected 'user' or 'assistant', got {role!r}")
        if role == previous_role:
            raise InvalidRequest(
                f"{where}.role: roles must alternate, starting with 'user'; got {role!r} "
                + ("first" if index == 0 else f"after {previous_role!r}")
            )
        previous_role = role
        final_assistant = role == "assistant" and index == len(messages) - 1
        _check_content(message.get("content"), f"{where}.content", role, final_assistant)
    _check_tool_pairs(messages)


def _check_content(content: object, where: str, role: str, final_assistant: bool) -> None:
    if not content and not final_assistant:
        raise InvalidRequest(f"{where}: only the final assistant message may be empty")
    if isinstance(content, str):
        if final_assistant and content != content.rstrip():
            raise InvalidRequest(f"{where}: final assistant content cannot end with whitespace")
        return
    for number, item in enumerate(_expect(content, list, where, "a string or a list of blocks")):
        block_where = f"{where}.{number}"
        block = _expect(item, dict, block_where, "a content block")
        kind = block.get("type")
        if kind == "text":
            _check_text(block, block_where)
        elif kind == "tool_use":
            if role != "assistant":
                raise InvalidRequest(f"{block_where}: tool_use blocks belong in assistant messages")
            tool_id = block.get("id")
            if not isinstance(tool_id, str) or not _TOOL_ID.fullmatch(tool_id):
                raise InvalidRequest(f"{block_where}.id: expected a tool_use id, got {tool_id!r}")
            _expect(block.get("name"), str, f"{block_where}.name", "a tool name")
            _expect(block.get("input"), dict, f"{block_where}.input", "an object")
        elif kind == "tool_result":
            if role != "user":
                raise InvalidRequest(f"{block_where}: tool_result blocks belong in user messages")
            _expect(block.get("tool_use_id"), str, f"{block_where}.tool_use_id", "a tool_use id")
            _expect(block.get("is_error", False), bool, f"{block_where}.is_error", "a boolean")
            inner = block.get("content", "")
            if not isinstance(inner, str):
                _check_content(inner, f"{block_where}.content", role, final_assistant=True)
        elif not isinstance(kind, str):
            raise InvalidRequest(f"{block_where}.type: expected a block type, got {kind!r}")


def _blocks_of(message: Mapping[str, Any], kind: str) -> list[tuple[int, dict[str, Any]]]:
    content = message.get("content")
    if not isinstance(content, list):
        return []
    return [(number, block) for number, block in enumerate(content) if block.get("type") == kind]


def _check_tool_pairs(messages: list[dict[str, Any]]) -> None:
    """Each tool_use is answered by a tool_result in the very next message, and only those."""
    for index, message in enumerate(messages):
        if message["role"] == "assistant":
            following = messages[index + 1] if index + 1 < len(messages) else {}
            answered = {block["tool_use_id"] for _, block in _blocks_of(following, "tool_result")}
            missing = [
                b["id"] for _, b in _blocks_of(message, "tool_use") if b["id"] not in answered
            ]
            if missing:
                raise InvalidRequest(
                    f"messages.{index}: tool_use ids {missing} have no tool_result block in the "
                    "next message; every tool_use must be answered by the user message after it"
                )
            continue
        asked = {
            block["id"] for _, block in _blocks_of(messages[index - 1] if index else {}, "tool_use")
        }
        seen: set[str] = set()
        for number, block in _blocks_of(message, "tool_result"):
            tool_use_id, where = block["tool_use_id"], f"messages.{index}.content.{number}"
            if tool_use_id not in asked:
                raise InvalidRequest(
                    f"{where}: tool_result for {tool_use_id!r}, which is not a tool_use id of "
                    "the assistant message just before"
                )
            if tool_use_id in seen:
                raise InvalidRequest(f"{where}: a second tool_result for {tool_use_id!r}")
            seen.add(tool_use_id)


# --- the server ------------------------------------------------------------------------------


@dataclass
class RecordedRequest:
    """One request the fake received, and what became of it.

    ``headers`` has lower-case names; ``body`` is the parsed JSON, or None when the body was
    empty or not JSON. ``status`` is the HTTP status sent (None while pending, or when the
    connection was dropped before any response). ``outcome`` is ``pending``, ``answered``,
    ``client_closed`` (the client went away mid-response, e.g. a cancelled stream) or
    ``dropped`` (a scripted drop). ``done`` is set once the server is finished with it.
    ``received_at`` is the ``time.monotonic()`` reading when it arrived.
    """

    method: str
    path: str
    headers: dict[str, str]
    body: Any
    status: int | None = None
    outcome: str = "pending"
    received_at: float = field(default_factory=time.monotonic)
    done: threading.Event = field(default_factory=threading.Event, repr=False, compare=False)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, fake: FakeAnthropic, port: int) -> None:
        self.fake = fake
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        super().__init__(("127.0.0.1", port), _Handler)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "FakeAnthropic/1"
    recorded: RecordedRequest  # the request being served on this connection
    request_id: str

    @property
    def fake(self) -> FakeAnthropic:
        return cast(_Server, self.server).fake

    def setup(self) -> None:
        super().setup()
        # Each SSE frame is its own small write: without this, Nagle's algorithm holds frames
        # back (about 40 ms per response on loopback), which would distort latency numbers.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        server = cast(_Server, self.server)
        with server.connections_lock:
            server.connections.add(self.connection)

    def finish(self) -> None:
        server = cast(_Server, self.server)
        with server.connections_lock:
            server.connections.discard(self.connection)
        with contextlib.suppress(OSError):  # the client may have gone already
            super().finish()

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s %s", self.address_string(), format % args)

    def do_POST(self) -> None:
        self._serve()

    do_GET = do_PUT = do_PATCH = do_DELETE = do_POST  # noqa: N815

    def _serve(self) -> None:
        length = self.headers.get("content-length", "0")
        raw = self.rfile.read(int(length)) if length.isdigit() else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        headers = {name.lower(): value for name, value in self.headers.items()}
        self.recorded = RecordedRequest(self.command, self.path, headers, body)
        self.request_id = f"req_fake_{uuid.uuid4().hex[:20]}"
        self.fake._record(self.recorded)
        try:
            self._respond(raw)
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError):
            self.recorded.outcome = "client_closed"
            self.close_connection = True
        finally:
            self.recorded.done.set()

    def _respond(self, raw: bytes) -> None:
        path = self.path.split("?", 1)[0]
        headers, body = self.recorded.headers, self.recorded.body
        if self.command != "POST" or path != _MESSAGES_PATH:
            self._send_error(404, "not_found_error", f"no route for {self.command} {path}")
            return
        if not (headers.get("x-api-key") or headers.get("authorization")):
            message = "missing API key: send an x-api-key or authorization header"
            self._send_error(401, "authentication_error", message)
            return
        try:
            if "anthropic-version" not in headers:
                raise InvalidRequest("anthropic-version: header is required")
            if body is None:
                raise InvalidRequest(f"body: expected a JSON object, got {raw[:80]!r}")
            check_request(body)
        except InvalidRequest as error:
            self._send_error(400, "invalid_request_error", str(error))
            return
        turn = self.fake._next_turn()
        if turn.kind == "http_error":
            retry: dict[str, str] = {}
            if turn.retry_after is not None:
                retry["retry-after-ms"] = str(round(turn.retry_after * 1000))
                retry["retry-after"] = str(math.ceil(turn.retry_after))
            self._send_error(turn.status, turn.error_type, turn.error_message, retry)
        elif body.get("stream"):
            self._stream(turn, body["model"])
        elif turn.kind == "stream_error":
            self._send_error(turn.status, turn.error_type, turn.error_message)
        elif turn.kind == "dropped_connection":
            self._drop(reset=turn.reset)
        else:
            message_id = f"msg_fake_{uuid.uuid4().hex[:20]}"
            self._send_json(200, _message_json(turn, model=body["model"], message_id=message_id))

    def _send_json(
        self, status: int, payload: Mapping[str, Any], headers: Mapping[str, str] | None = None
    ) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.send_header("request-id", self.request_id)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        # Recorded before the last byte leaves, so a client that has its answer sees the record.
        self.recorded.status, self.recorded.outcome = status, "answered"
        self.end_headers()
        self.wfile.write(data)

    def _send_error(
        self, status: int, error_type: str, message: str, headers: Mapping[str, str] | None = None
    ) -> None:
        self._send_json(status, _error_json(error_type, message, self.request_id), headers)

    def _stream(self, turn: Turn, model: str) -> None:
        self.send_response(200)
        self.send_header("content-type", "text/event-stream; charset=utf-8")
        self.send_header("cache-control", "no-cache")
        self.send_header("transfer-encoding", "chunked")
        self.send_header("request-id", self.request_id)
        self.recorded.status = 200
        self.end_headers()
        message_id = f"msg_fake_{uuid.uuid4().hex[:20]}"
        for frame in _stream_frames(
            turn, model=model, message_id=message_id, request_id=self.request_id
        ):
            if isinstance(frame, _Drop):
                self._drop(reset=turn.reset)
                return
            self.wfile.write(b"%x\r\n%s\r\n" % (len(frame), frame))
        self.recorded.outcome = "answered"
        self.wfile.write(b"0\r\n\r\n")

    def _drop(self, *, reset: bool) -> None:
        self.recorded.outcome = "dropped"
        self.close_connection = True
        if reset:
            # Linger zero makes close() send a TCP reset instead of an orderly end.
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
        else:
            self.connection.shutdown(socket.SHUT_RDWR)


class FakeAnthropic:
    """A scripted Messages API server on a free loopback port; a context manager."""

    default_text: str = "This is the fake Anthropic API: no turn was scripted for this request."

    def __init__(self, *turns: Turn, port: int = 0, default_text: str | None = None) -> None:
        self.port = port
        if default_text is not None:
            self.default_text = default_text
        self.requests: list[RecordedRequest] = []
        self._turns: deque[Turn] = deque(turns)
        self._lock = threading.Lock()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT``: the SDK's ``base_url`` or ``ANTHROPIC_BASE_URL``."""
        if self._server is None:
            raise RuntimeError("the fake Anthropic server is not started: call start() first")
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def pending_turns(self) -> int:
        """How many scripted turns no request has consumed yet."""
        with self._lock:
            return len(self._turns)

    @property
    def message_requests(self) -> list[RecordedRequest]:
        """The recorded ``POST /v1/messages`` requests (the ones that may consume turns)."""
        with self._lock:
            return [r for r in self.requests if r.method == "POST" and r.path == _MESSAGES_PATH]

    def environment(self, api_key: str = "test-key-not-real") -> dict[str, str]:
        """Environment variables that point an SDK client (or a kernel) at this server."""
        return {"ANTHROPIC_BASE_URL": self.base_url, "ANTHROPIC_API_KEY": api_key}

    def script(self, *turns: Turn) -> None:
        """Queue turns; each ``POST /v1/messages`` that passes the checks consumes one."""
        with self._lock:
            self._turns.extend(turns)

    def clear_script(self) -> None:
        """Drop the turns not used yet (so a failed test's leftovers never reach the next)."""
        with self._lock:
            self._turns.clear()

    def start(self) -> None:
        """Listen on 127.0.0.1 and serve from a daemon thread."""
        if self._server is not None:
            raise RuntimeError("the fake Anthropic server is already running")
        self._server = _Server(self, self.port)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"fake-anthropic-{self._server.server_address[1]}",
            daemon=True,
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and close every open connection; safe to call twice."""
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        server.shutdown()
        server.server_close()
        with server.connections_lock:
            connections = list(server.connections)
        for connection in connections:
            with contextlib.suppress(OSError):  # already closed by its handler
                connection.shutdown(socket.SHUT_RDWR)
        thread.join()
        self._server = self._thread = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(request)

    def _next_turn(self) -> Turn:
        with self._lock:
            if self._turns:
                return self._turns.popleft()
        return text_turn(self.default_text)


def load_script(path: Path) -> list[Turn]:
    """The turns of a JSON script file: a list of ``turn_from_dict`` objects."""
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, list):
        raise ValueError(f"{str(path)!r}: expected a JSON list of turns")
    return [turn_from_dict(item) for item in data]


def main(argv: Sequence[str] | None = None) -> int:
    """Serve a scripted fake API until SIGINT or SIGTERM; print the base URL first."""
    parser = argparse.ArgumentParser(
        prog="python -m tests.fake_anthropic", description=main.__doc__
    )
    parser.add_argument(
        "--port", type=int, default=0, help="port on 127.0.0.1 (default: a free one)"
    )
    parser.add_argument("--script", type=Path, help="JSON file: a list of turns")
    parser.add_argument("--default-text", help="reply once the script is used up")
    options = parser.parse_args(argv)
    try:
        turns = load_script(options.script) if options.script else []
    except (OSError, ValueError) as error:
        parser.error(str(error))
    stopping = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stopping.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    with FakeAnthropic(*turns, port=options.port, default_text=options.default_text) as fake:
        sys.stdout.write(f"{fake.base_url}\n")
        sys.stdout.flush()
        while not stopping.wait(0.2):
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
