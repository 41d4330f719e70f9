"""The fake Messages API, checked with the real anthropic SDK and with raw HTTP."""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import httpx2
import pytest

from tests import fake_anthropic
from tests.fake_anthropic import (
    FakeAnthropic,
    ToolUseBlock,
    dropped_connection,
    http_error,
    max_tokens_turn,
    refusal_turn,
    slow_stream_turn,
    stream_error,
    text_turn,
    tool_turn,
    tool_turns,
    turn_from_dict,
)
from tests.support import REPO

MODEL = "claude-sonnet-5-5"
API_KEY = "test-key-not-real"
HELLO: list[Any] = [{"role": "user", "content": "Hello"}]


@pytest.fixture
def fake() -> Iterator[FakeAnthropic]:
    with FakeAnthropic() as server:
        yield server


def make_client(fake: FakeAnthropic, max_retries: int = 0) -> anthropic.Anthropic:
    return anthropic.Anthropic(
        api_key=API_KEY, base_url=fake.base_url, max_retries=max_retries, timeout=5
    )


@pytest.fixture
def client(fake: FakeAnthropic) -> Iterator[anthropic.Anthropic]:
    with make_client(fake) as sdk_client:
        yield sdk_client


def stream_text(
    client: anthropic.Anthropic, messages: list[Any] = HELLO
) -> anthropic.types.Message:
    with client.messages.stream(model=MODEL, max_tokens=256, messages=messages) as stream:
        return stream.get_final_message()


def post(
    fake: FakeAnthropic, body: object, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    """A raw POST /v1/messages: status, lower-cased headers, body (chunked already decoded)."""
    if headers is None:
        headers = {"x-api-key": API_KEY, "anthropic-version": "2023-06-01"}
    port = int(fake.base_url.rsplit(":", 1)[1])
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        headers = {"content-type": "application/json", **headers}
        connection.request("POST", "/v1/messages", body=data, headers=headers)
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        connection.close()


def sse_events(raw: bytes) -> list[tuple[str, dict[str, Any]]]:
    events = []
    for frame in raw.decode().split("\n\n"):
        if not frame:
            continue
        lines = frame.split("\n")
        assert len(lines) == 2, frame
        assert lines[0].startswith("event: ")
        assert lines[1].startswith("data: ")
        data = json.loads(lines[1].removeprefix("data: "))
        assert data["type"] == lines[0].removeprefix("event: ")
        events.append((data["type"], data))
    return events


# --- replies through the SDK -----------------------------------------------------------------


def test_environment_is_isolated() -> None:
    assert not [
        name for name in os.environ if name.startswith("ANTHROPIC_") and "CONFIG" not in name
    ]
    assert not any(Path(os.environ["ANTHROPIC_CONFIG_DIR"]).iterdir())


def test_streamed_text_reply_with_usage(fake: FakeAnthropic, client: anthropic.Anthropic) -> None:
    fake.script(
        text_turn("Hello from the fake API.", chunk_size=5, cache_read=40, cache_creation=7)
    )
    with client.messages.stream(model=MODEL, max_tokens=256, messages=HELLO) as stream:
        pieces = list(stream.text_stream)
        message = stream.get_final_message()
    assert pieces[:2] == ["Hello", " from"]
    assert "".join(pieces) == "Hello from the fake API."
    assert message.content[0].type == "text"
    assert message.content[0].text == "Hello from the fake API."
    assert message.stop_reason == "end_turn"
    assert message.model == MODEL
    assert message.usage.input_tokens == 100
    assert message.usage.output_tokens == 6  # about one token per 4 characters
    assert message.usage.cache_read_input_tokens == 40
    assert message.usage.cache_creation_input_tokens == 7


def test_requests_are_recorded(fake: FakeAnthropic, client: anthropic.Anthropic) -> None:
    stream_text(client)
    (request,) = fake.requests
    assert (request.method, request.path, request.status, request.outcome) == (
        "POST",
        "/v1/messages",
        200,
        "answered",
    )
    assert request.headers["authorization"] == f"Bearer {API_KEY}"
    assert request.headers["anthropic-version"]
    assert request.body == {"model": MODEL, "max_tokens": 256, "messages": HELLO, "stream": True}


def test_default_text_when_the_script_is_used_up(fake: FakeAnthropic) -> None:
    fake.script(text_turn("scripted"))
    assert fake.pending_turns == 1
    with make_client(fake) as client:
        first, second = stream_text(client), stream_text(client)
    assert first.content[0].type == second.content[0].type == "text"
    assert first.content[0].text == "scripted"
    assert second.content[0].text == fake.default_text
    assert fake.pending_turns == 0


def test_tool_use_turn(fake: FakeAnthropic, client: anthropic.Anthropic) -> None:
    tool_input = {"sql": "select count(*) from orders where note = '{\"a\": 1}'", "limit": 5}
    fake.script(
        tool_turn("run_sql", tool_input, text="Let me look.", tool_id="toolu_1", chunk_size=7)
    )
    message = stream_text(client)
    assert message.stop_reason == "tool_use"
    text, call = message.content
    assert text.type == "text"
    assert text.text == "Let me look."
    assert call.type == "tool_use"
    assert (call.id, call.name, call.input) == ("toolu_1", "run_sql", tool_input)


def test_tool_loop_round_trip(fake: FakeAnthropic, client: anthropic.Anthropic) -> None:
    fake.script(tool_turns(("run_sql", {"sql": "select 1"}), ("describe", {"table": "t"})))
    fake.script(text_turn("Both done."))
    first = stream_text(client)
    calls = [block for block in first.content if block.type == "tool_use"]
    assert [call.name for call in calls] == ["run_sql", "describe"]
    assert calls[0].id != calls[1].id
    results = [{"type": "tool_result", "tool_use_id": call.id, "content": "ok"} for call in calls]
    messages = [*HELLO, first.to_param(), {"role": "user", "content": results}]
    answer = stream_text(client, messages)
    assert answer.content[0].type == "text"
    assert answer.content[0].text == "Both done."
    assert [r.status for r in fake.requests] == [200, 200]
    assert fake.requests[1].body["messages"][1]["content"][0]["name"] == "run_sql"


def test_max_tokens_and_refusal_stop_reasons(
    fake: FakeAnthropic, client: anthropic.Anthropic
) -> None:
    fake.script(max_tokens_turn("Cut off mid"), refusal_turn("I can't help with that."))
    cut = stream_text(client)
    refused = stream_text(client)
    assert cut.stop_reason == "max_tokens"
    assert refused.stop_reason == "refusal"
    assert refused.stop_details is not None
    assert refused.stop_details.type == "refusal"


def test_non_streamed_create(fake: FakeAnthropic, client: anthropic.Anthropic) -> None:
    fake.script(text_turn("Plain reply.", cache_read=3), tool_turn("run_sql", {"sql": "select 2"}))
    message = client.messages.create(model=MODEL, max_tokens=64, messages=HELLO)
    assert message.content[0].type == "text"
    assert message.content[0].text == "Plain reply."
    assert message.usage.input_tokens == 100
    assert message.usage.cache_read_input_tokens == 3
    assert message.stop_reason == "end_turn"
    call = client.messages.create(model=MODEL, max_tokens=64, messages=HELLO).content[0]
    assert call.type == "tool_use"
    assert call.input == {"sql": "select 2"}
    assert "stream" not in fake.requests[0].body


# --- errors through the SDK ------------------------------------------------------------------


def test_scripted_401_is_an_authentication_error_and_not_retried(fake: FakeAnthropic) -> None:
    fake.script(http_error(401, "authentication_error", "invalid x-api-key"))
    with (
        make_client(fake, max_retries=2) as client,
        pytest.raises(anthropic.AuthenticationError) as caught,
    ):
        stream_text(client)
    assert caught.value.status_code == 401
    assert caught.value.type == "authentication_error"
    assert caught.value.request_id is not None
    assert len(fake.requests) == 1


def test_429_is_retried_after_retry_after_then_raised(fake: FakeAnthropic) -> None:
    fake.script(*[http_error(429, "rate_limit_error", "slow down", retry_after=0.01)] * 2)
    with (
        make_client(fake, max_retries=1) as client,
        pytest.raises(anthropic.RateLimitError) as caught,
    ):
        stream_text(client)
    assert caught.value.type == "rate_limit_error"
    first, second = fake.requests
    assert (
        first.headers["x-stainless-retry-count"],
        second.headers["x-stainless-retry-count"],
    ) == (
        "0",
        "1",
    )
    # retry-after-ms honoured: well under the SDK's own backoff of 0.375-0.5 s
    assert second.received_at - first.received_at < 0.25


def test_retry_after_headers(fake: FakeAnthropic) -> None:
    fake.script(http_error(429, "rate_limit_error", "slow down", retry_after=1.5))
    status, headers, body = post(fake, {"model": MODEL, "max_tokens": 1, "messages": HELLO})
    assert status == 429
    assert (headers["retry-after"], headers["retry-after-ms"]) == ("2", "1500")
    error = json.loads(body)
    assert error["type"] == "error"
    assert error["error"] == {"type": "rate_limit_error", "message": "slow down"}
    assert error["request_id"] == headers["request-id"]


def test_529_is_retried_then_succeeds(fake: FakeAnthropic) -> None:
    fake.script(
        http_error(529, "overloaded_error", "Overloaded", retry_after=0.01), text_turn("ok")
    )
    with make_client(fake, max_retries=1) as client:
        message = stream_text(client)
    assert message.content[0].type == "text"
    assert message.content[0].text == "ok"
    assert [r.status for r in fake.requests] == [529, 200]


def test_529_without_retries_is_an_overloaded_error(
    fake: FakeAnthropic, client: anthropic.Anthropic
) -> None:
    fake.script(
        http_error(529, "overloaded_error", "Overloaded"), http_error(500, "api_error", "boom")
    )
    with pytest.raises(anthropic.OverloadedError):
        stream_text(client)
    with pytest.raises(anthropic.InternalServerError) as caught:
        client.messages.create(model=MODEL, max_tokens=64, messages=HELLO)
    assert caught.value.status_code == 500


def test_error_mid_stream(fake: FakeAnthropic) -> None:
    fake.script(stream_error("Partial answer"))
    seen: list[str] = []
    with (
        make_client(fake, max_retries=2) as client,
        pytest.raises(anthropic.APIStatusError) as caught,
        client.messages.stream(model=MODEL, max_tokens=256, messages=HELLO) as stream,
    ):
        seen.extend(stream.text_stream)
    assert "".join(seen) == "Partial answer"
    assert caught.value.status_code == 200
    assert caught.value.type == "overloaded_error"
    assert len(fake.requests) == 1  # an error event is not retried


def test_stream_error_turn_answers_a_plain_request_with_its_status(
    fake: FakeAnthropic, client: anthropic.Anthropic
) -> None:
    fake.script(stream_error("Partial"))
    with pytest.raises(anthropic.OverloadedError):
        client.messages.create(model=MODEL, max_tokens=64, messages=HELLO)


@pytest.mark.parametrize(
    ("reset", "error_class"),
    [(False, httpx2.RemoteProtocolError), (True, httpx2.ReadError)],
    ids=["closed", "reset"],
)
def test_dropped_connection_mid_stream(
    fake: FakeAnthropic, client: anthropic.Anthropic, reset: bool, error_class: type[Exception]
) -> None:
    # The SDK wraps connection failures only while sending: a stream cut off after the
    # response started reaches the caller as httpx2's own error, not APIConnectionError.
    fake.script(dropped_connection("Half a", reset=reset))
    seen: list[str] = []
    with (
        pytest.raises(error_class),
        client.messages.stream(model=MODEL, max_tokens=256, messages=HELLO) as stream,
    ):
        seen.extend(stream.text_stream)
    assert "".join(seen) == "Half a"
    assert fake.requests[0].outcome == "dropped"


def test_dropped_connection_before_a_plain_response(fake: FakeAnthropic) -> None:
    fake.script(dropped_connection(""), dropped_connection(""))
    with make_client(fake, max_retries=1) as client, pytest.raises(anthropic.APIConnectionError):
        client.messages.create(model=MODEL, max_tokens=64, messages=HELLO)
    assert [r.status for r in fake.requests] == [None, None]


def test_client_closing_a_slow_stream(fake: FakeAnthropic, client: anthropic.Anthropic) -> None:
    fake.script(slow_stream_turn("x" * 100, delay_s=0.01))
    with client.messages.stream(model=MODEL, max_tokens=256, messages=HELLO) as stream:
        first = next(iter(stream.text_stream))
    assert first == "x"
    assert fake.requests[0].done.wait(2)
    assert fake.requests[0].outcome == "client_closed"


# --- request checks --------------------------------------------------------------------------

ASSISTANT_CALL = {
    "role": "assistant",
    "content": [{"type": "tool_use", "id": "toolu_a", "name": "run_sql", "input": {}}],
}


def tool_result(tool_use_id: str) -> dict[str, Any]:
    return {"type": "tool_result", "tool_use_id": tool_use_id, "content": "1 row"}


@pytest.mark.parametrize(
    ("body", "complaint"),
    [
        ({"max_tokens": 5, "messages": HELLO}, "model: field required"),
        ({"model": MODEL, "messages": HELLO}, "max_tokens: field required"),
        ({"model": MODEL, "max_tokens": 0, "messages": HELLO}, "max_tokens: expected an integer"),
        ({"model": MODEL, "max_tokens": 5}, "messages: field required"),
        ({"model": MODEL, "max_tokens": 5, "messages": []}, "at least one message"),
        (
            {"model": MODEL, "max_tokens": 5, "messages": [{"role": "assistant", "content": "Hi"}]},
            "messages.0.role: roles must alternate, starting with 'user'",
        ),
        (
            {"model": MODEL, "max_tokens": 5, "messages": [*HELLO, *HELLO]},
            "messages.1.role: roles must alternate",
        ),
        (
            {"model": MODEL, "max_tokens": 5, "messages": [{"role": "user", "content": ""}]},
            "messages.0.content: only the final assistant message may be empty",
        ),
        (
            {
                "model": MODEL,
                "max_tokens": 5,
                "messages": [{"role": "user", "content": [{"type": "text", "text": "  "}]}],
            },
            "messages.0.content.0: text blocks must contain non-whitespace text",
        ),
        (
            {"model": MODEL, "max_tokens": 5, "messages": [*HELLO, ASSISTANT_CALL]},
            "messages.1: tool_use ids ['toolu_a'] have no tool_result block",
        ),
        (
            {
                "model": MODEL,
                "max_tokens": 5,
                "messages": [*HELLO, ASSISTANT_CALL, {"role": "user", "content": "done"}],
            },
            "messages.1: tool_use ids ['toolu_a'] have no tool_result block",
        ),
        (
            {
                "model": MODEL,
                "max_tokens": 5,
                "messages": [
                    *HELLO,
                    ASSISTANT_CALL,
                    {"role": "user", "content": [tool_result("toolu_a"), tool_result("toolu_b")]},
                ],
            },
            "messages.2.content.1: tool_result for 'toolu_b', which is not a tool_use id",
        ),
        (
            {
                "model": MODEL,
                "max_tokens": 5,
                "messages": [{"role": "user", "content": [tool_result("toolu_a")]}],
            },
            "messages.0.content.0: tool_result for 'toolu_a'",
        ),
        (
            {
                "model": MODEL,
                "max_tokens": 5,
                "messages": HELLO,
                "tools": [{"name": "run sql", "input_schema": {"type": "object"}}],
            },
            "tools.0.name: expected 1-128 letters",
        ),
        (
            {"model": MODEL, "max_tokens": 5, "messages": HELLO, "tools": [{"name": "run_sql"}]},
            "tools.0.input_schema: expected an object schema",
        ),
        (
            {
                "model": MODEL,
                "max_tokens": 5,
                "messages": HELLO,
                "tool_choice": {"type": "tool", "name": "x"},
            },
            "tool_choice.name: 'x' is not one of the tools",
        ),
        (b"not json", "body: expected a JSON object"),
    ],
)
def test_invalid_request_is_a_400_naming_the_fault(
    fake: FakeAnthropic, body: object, complaint: str
) -> None:
    fake.script(text_turn("kept for the next valid request"))
    status, _, raw = post(fake, body)
    error = json.loads(raw)
    assert (status, error["error"]["type"]) == (400, "invalid_request_error")
    assert complaint in error["error"]["message"]
    assert fake.pending_turns == 1  # a refused request consumes no turn


def test_invalid_request_through_the_sdk(fake: FakeAnthropic, client: anthropic.Anthropic) -> None:
    messages: list[Any] = [*HELLO, ASSISTANT_CALL, {"role": "user", "content": "forgot the result"}]
    with pytest.raises(anthropic.BadRequestError, match="toolu_a"):
        stream_text(client, messages)


def test_valid_conversation_with_system_tools_and_prefill(fake: FakeAnthropic) -> None:
    body = {
        "model": MODEL,
        "max_tokens": 5,
        "system": [{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}],
        "tools": [{"name": "run_sql", "input_schema": {"type": "object", "properties": {}}}],
        "tool_choice": {"type": "tool", "name": "run_sql"},
        "messages": [
            *HELLO,
            ASSISTANT_CALL,
            {
                "role": "user",
                "content": [tool_result("toolu_a"), {"type": "text", "text": "go on"}],
            },
            {"role": "assistant", "content": "The answer is"},
        ],
    }
    status, _, raw = post(fake, body)
    assert status == 200
    assert json.loads(raw)["type"] == "message"


def test_missing_key_or_version_and_unknown_paths(fake: FakeAnthropic) -> None:
    body = {"model": MODEL, "max_tokens": 5, "messages": HELLO}
    status, _, raw = post(fake, body, {"anthropic-version": "2023-06-01"})
    assert (status, json.loads(raw)["error"]["type"]) == (401, "authentication_error")
    status, _, raw = post(fake, body, {"x-api-key": API_KEY})
    assert status == 400
    assert "anthropic-version" in json.loads(raw)["error"]["message"]
    port = int(fake.base_url.rsplit(":", 1)[1])
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    connection.request("GET", "/v1/models")
    response = connection.getresponse()
    assert response.status == 404
    assert json.loads(response.read())["error"]["type"] == "not_found_error"
    connection.close()
    assert [r.status for r in fake.requests] == [401, 400, 404]


# --- wire format -----------------------------------------------------------------------------


def test_sse_framing_of_a_text_reply(fake: FakeAnthropic) -> None:
    fake.script(text_turn("abcdef", chunk_size=4, cache_creation=9))
    status, headers, raw = post(
        fake,
        {"model": MODEL, "max_tokens": 5, "messages": HELLO, "stream": True},
    )
    assert status == 200
    assert headers["content-type"].startswith("text/event-stream")
    assert headers["transfer-encoding"] == "chunked"
    events = sse_events(raw)
    assert [name for name, _ in events] == [
        "message_start",
        "content_block_start",
        "ping",
        "content_block_delta",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    start = events[0][1]["message"]
    assert start["content"] == []
    assert start["stop_reason"] is None
    assert start["usage"]["cache_creation_input_tokens"] == 9
    assert start["usage"]["cache_read_input_tokens"] == 0
    assert events[1][1]["content_block"] == {"type": "text", "text": ""}
    assert [e["delta"]["text"] for _, e in events[3:5]] == ["abcd", "ef"]
    assert events[6][1]["delta"]["stop_reason"] == "end_turn"
    assert events[6][1]["usage"]["output_tokens"] == 2


def test_sse_framing_of_a_tool_call_and_an_error(fake: FakeAnthropic) -> None:
    fake.script(tool_turn("run_sql", {"sql": "select 1"}, tool_id="toolu_x", chunk_size=6))
    fake.script(stream_error("so far", "api_error", "Internal server error"))
    request = {"model": MODEL, "max_tokens": 5, "messages": HELLO, "stream": True}
    events = sse_events(post(fake, request)[2])
    assert events[1][1]["content_block"] == {
        "type": "tool_use",
        "id": "toolu_x",
        "name": "run_sql",
        "input": {},
    }
    partials = [e["delta"]["partial_json"] for name, e in events if name == "content_block_delta"]
    assert partials[0] == ""
    assert json.loads("".join(partials)) == {"sql": "select 1"}
    assert events[-2][1]["delta"]["stop_reason"] == "tool_use"
    events = sse_events(post(fake, request)[2])
    assert [name for name, _ in events][-3:] == ["ping", "content_block_delta", "error"]
    assert events[-1][1]["error"] == {"type": "api_error", "message": "Internal server error"}


# --- script files and the command line -------------------------------------------------------


def test_turn_from_dict_builds_every_kind() -> None:
    assert turn_from_dict({"turn": "text", "text": "Hi", "cache_read": 4}) == text_turn(
        "Hi", cache_read=4
    )
    tool = turn_from_dict(
        {"turn": "tool", "name": "run_sql", "input": {"sql": "x"}, "tool_id": "t1"}
    )
    assert tool == tool_turn("run_sql", {"sql": "x"}, tool_id="t1")
    tools = turn_from_dict({"turn": "tools", "calls": [{"name": "a", "input": {}}, {"name": "b"}]})
    assert [block.name for block in tools.blocks if isinstance(block, ToolUseBlock)] == ["a", "b"]
    error = turn_from_dict(
        {
            "turn": "http_error",
            "status": 429,
            "error_type": "rate_limit_error",
            "message": "m",
            "retry_after": 0.5,
        }
    )
    assert error == http_error(429, "rate_limit_error", "m", retry_after=0.5)
    assert (
        turn_from_dict({"turn": "dropped_connection", "text_before": "a"}).kind
        == "dropped_connection"
    )
    assert (
        turn_from_dict({"turn": "stream_error", "text_before": "a"}).error_type
        == "overloaded_error"
    )
    with pytest.raises(ValueError, match="unknown turn 'txt'"):
        turn_from_dict({"turn": "txt"})
    with pytest.raises(ValueError, match="bad 'text' turn"):
        turn_from_dict({"turn": "text", "text": "a", "colour": "red"})


def test_command_line_serves_a_script_file(tmp_path: Path) -> None:
    script = tmp_path / "turns.json"
    script.write_text(
        json.dumps(
            [
                {"turn": "text", "text": "From the script."},
                {"turn": "tool", "name": "run_sql", "input": {"sql": "select 1"}},
            ]
        )
    )
    command = [sys.executable, "-m", "tests.fake_anthropic", "--script", str(script)]
    with subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, text=True) as process:
        assert process.stdout is not None
        base_url = process.stdout.readline().strip()
        try:
            assert base_url.startswith("http://127.0.0.1:")
            with anthropic.Anthropic(api_key=API_KEY, base_url=base_url, max_retries=0) as client:
                first = client.messages.create(model=MODEL, max_tokens=64, messages=HELLO)
                second = client.messages.create(model=MODEL, max_tokens=64, messages=HELLO)
        finally:
            process.terminate()
        assert process.wait(5) == 0
    assert first.content[0].type == "text"
    assert first.content[0].text == "From the script."
    assert second.stop_reason == "tool_use"


def test_environment_points_the_sdk_at_the_fake(
    fake: FakeAnthropic, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in fake.environment().items():
        monkeypatch.setenv(name, value)
    fake.script(text_turn("via the environment"))
    with anthropic.Anthropic(max_retries=0) as client:
        message = stream_text(client)
    assert message.content[0].type == "text"
    assert message.content[0].text == "via the environment"


def test_public_names_and_check_request_alone() -> None:
    assert all(hasattr(fake_anthropic, name) for name in fake_anthropic.__all__)
    fake_anthropic.check_request({"model": MODEL, "max_tokens": 1, "messages": HELLO})
    with pytest.raises(fake_anthropic.InvalidRequest, match="messages: field required"):
        fake_anthropic.check_request({"model": MODEL, "max_tokens": 1})
