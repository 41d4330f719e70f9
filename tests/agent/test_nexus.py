"""Nexus end to end: the real SDK against the fake Messages API, tools on the real database."""

from __future__ import annotations

import re
import threading
from typing import Any

import pytest

import nexus_kernel_helpers as nx
from nexus_kernel_helpers.agent import AgentError, Answer, Nexus
from nexus_kernel_helpers.agent._loop import STEP_LIMIT_NOTE
from tests.fake_anthropic import (
    FakeAnthropic,
    dropped_connection,
    http_error,
    max_tokens_turn,
    refusal_turn,
    slow_stream_turn,
    stream_error,
    text_turn,
    tool_turn,
    tool_turns,
)
from tests.support import free_port

from .conftest import API_KEY, SLOW_QUERY, NexusFactory, checksum

INDEX = "create index on agent_shop.orders (customer_id)"
FINAL = (
    "The query scans all 60,000 orders. An index on `customer_id` makes it much faster:\n\n"
    f"```sql\n{INDEX};\n```\n\nand the query stays as it is:\n\n```sql\n{SLOW_QUERY}\n```\n"
)


def bodies(fake: FakeAnthropic) -> list[dict[str, Any]]:
    return [request.body for request in fake.message_requests]


def tool_results(body: dict[str, Any]) -> list[dict[str, Any]]:
    last = body["messages"][-1]
    return [block for block in last["content"] if block["type"] == "tool_result"]


def test_a_text_answer_streams_and_fills_the_answer(
    fake: FakeAnthropic, make_nexus: NexusFactory
) -> None:
    fake.script(
        text_turn(
            "Use **EXPLAIN** first.\n\n```python\nprint(1)\n```",
            input_tokens=1234,
            cache_read=1000,
            cache_creation=34,
            output_tokens=56,
        )
    )
    nexus = make_nexus()
    answer = nexus.ask("How should I start tuning?")
    assert isinstance(answer, Answer)
    assert answer.text.startswith("Use **EXPLAIN** first.")
    assert answer.mode == "live"
    assert answer.model == nexus.model == "claude-sonnet-5-5"
    assert answer.stop_reason == "end_turn"
    assert answer.notice is None
    assert (answer.usage.input_tokens, answer.usage.output_tokens) == (1234, 56)
    assert (answer.usage.cache_read_tokens, answer.usage.cache_creation_tokens) == (1000, 34)
    assert [(b.language, b.code) for b in answer.code_blocks] == [("python", "print(1)")]
    assert "1,234 in / 56 out / 1,000 cached tokens" in answer.footer()
    assert "live" in answer.footer()
    (request,) = fake.message_requests
    assert request.headers["authorization"] == f"Bearer {API_KEY}"
    body = request.body
    assert body["stream"] is True
    assert body["model"] == "claude-sonnet-5-5"
    persona, schema = body["system"]
    assert "You are Nexus" in persona["text"]
    assert "cache_control" not in persona
    assert schema["cache_control"] == {"type": "ephemeral"}
    assert "table agent_shop.orders" in schema["text"]
    assert next(tool["name"] for tool in body["tools"]) == "describe_schema"
    assert body["messages"][-1]["content"][-1]["cache_control"] == {"type": "ephemeral"}


def test_the_tool_loop_runs_tools_on_the_database_and_sends_results_back(
    fake: FakeAnthropic, make_nexus: NexusFactory, shop_db: nx.Database
) -> None:
    before = checksum(shop_db)
    fake.script(
        tool_turn(
            "explain_query", {"sql": SLOW_QUERY}, text="Let me measure it.", tool_id="toolu_explain"
        ),
        tool_turns(
            ("run_query", {"sql": "select count(*) from agent_shop.orders"}),
            ("run_query", {"sql": "delete from agent_shop.orders"}),
        ),
        tool_turn("try_index", {"setup": [INDEX], "sql": SLOW_QUERY}),
        text_turn(FINAL),
    )
    answer = make_nexus().ask(f"Why is this slow? {SLOW_QUERY}")
    assert answer.stop_reason == "end_turn"
    assert answer.query == SLOW_QUERY
    assert [call.name for call in answer.tool_calls] == [
        "explain_query", "run_query", "run_query", "try_index"
    ]  # fmt: skip
    explain, count, delete, index = answer.tool_calls
    assert explain.outcome == "ok"
    assert "Seq Scan on orders" in explain.result
    assert "60000" in count.result
    assert delete.outcome == "refused"
    assert index.outcome == "ok"
    assert index.data["speedup"] > 2
    assert index.duration_ms > 0
    requests = bodies(fake)
    assert len(requests) == 4
    # The question carries the measured plan of the query, as untrusted data.
    question = requests[0]["messages"][0]["content"][0]["text"]
    assert 'source="measured plan of the query under discussion"' in question
    assert "rows removed by filter" in question
    # Each tool_result answers the tool_use ids of the turn before, errors flagged.
    (first,) = tool_results(requests[1])
    assert first["tool_use_id"] == "toolu_explain"
    assert "is_error" not in first
    ok, refused = tool_results(requests[2])
    uses = [b for b in requests[2]["messages"][-2]["content"] if b["type"] == "tool_use"]
    assert [ok["tool_use_id"], refused["tool_use_id"]] == [u["id"] for u in uses]
    assert refused["is_error"] is True
    assert "DELETE refused" in refused["content"]
    # The system prefix is identical on every step, so it is read from the cache.
    assert all(r["system"] == requests[0]["system"] for r in requests)
    assert all(r["system"][1]["cache_control"] == {"type": "ephemeral"} for r in requests)
    assert [(b.language, b.statement_kind) for b in answer.code_blocks] == [
        ("sql", "CREATE INDEX"), ("sql", "SELECT")
    ]  # fmt: skip
    assert checksum(shop_db) == before


def test_the_step_limit_asks_for_an_answer_without_tools(
    fake: FakeAnthropic, make_nexus: NexusFactory
) -> None:
    query = {"sql": "select 1"}
    fake.script(
        tool_turn("run_query", query), tool_turn("run_query", query), tool_turn("run_query", query)
    )
    answer = make_nexus(max_steps=3).ask("Loop forever")
    assert answer.stop_reason == "step_limit"
    assert "step limit" in (answer.notice or "")
    requests = bodies(fake)
    assert len(requests) == 3
    assert "tool_choice" not in requests[1]
    assert requests[2]["tool_choice"] == {"type": "none"}
    assert requests[2]["messages"][-1]["content"][-1]["text"] == STEP_LIMIT_NOTE
    assert len(answer.tool_calls) == 2


def test_a_rejected_key_says_so_without_the_key(
    fake: FakeAnthropic, make_nexus: NexusFactory
) -> None:
    fake.script(http_error(401, "authentication_error", "invalid x-api-key"))
    with pytest.raises(AgentError, match=r"^The API key was rejected") as caught:
        make_nexus(max_retries=2).ask("Hello")
    assert caught.value.kind == "auth"
    assert "%nexus_key" in str(caught.value)
    assert API_KEY not in str(caught.value)
    assert "\n" not in str(caught.value)
    assert len(fake.message_requests) == 1  # a 401 is not retried


@pytest.mark.parametrize(
    ("status", "error_type", "kind", "words"),
    [
        (
            429,
            "rate_limit_error",
            "rate_limit",
            "rate-limiting this key (429) after 1 retry; the API asks to wait 1 s",
        ),
        (529, "overloaded_error", "overloaded", "overloaded (529) after 1 retry"),
    ],
)
def test_busy_api_is_retried_then_one_line(  # noqa: PLR0917 - fixtures and parameters
    fake: FakeAnthropic,
    make_nexus: NexusFactory,
    status: int,
    error_type: str,
    kind: str,
    words: str,
) -> None:
    fake.script(
        http_error(status, error_type, "slow down", retry_after=0.01),
        http_error(status, error_type, "slow down", retry_after=0.01),
    )
    with pytest.raises(AgentError, match=re.escape(words)) as caught:
        make_nexus(max_retries=1).ask("Hello")
    assert caught.value.kind == kind
    assert "\n" not in str(caught.value)
    assert len(fake.message_requests) == 2


def test_a_retry_that_succeeds_is_invisible(fake: FakeAnthropic, make_nexus: NexusFactory) -> None:
    fake.script(http_error(529, "overloaded_error", "busy", retry_after=0.01), text_turn("Fine."))
    assert make_nexus(max_retries=1).ask("Hello").text == "Fine."


@pytest.mark.parametrize(
    "turn", [stream_error("Half an ans"), dropped_connection("Half an ans")], ids=["error", "drop"]
)
def test_a_broken_stream_keeps_the_partial_answer(
    fake: FakeAnthropic, make_nexus: NexusFactory, turn: Any
) -> None:
    fake.script(turn, text_turn("Recovered."))
    nexus = make_nexus()
    with pytest.raises(AgentError, match="what arrived is kept") as caught:
        nexus.ask("Tell me")
    partial = caught.value.partial
    assert partial is not None
    assert partial.text == "Half an ans"
    assert nexus.last_answer is partial
    assert partial.notice == str(caught.value)
    assert nexus.transcript.answers == [partial]
    # The conversation goes on, with a valid history.
    assert nexus.ask("Again").text == "Recovered."
    roles = [m["role"] for m in bodies(fake)[-1]["messages"]]
    assert roles == ["user", "assistant", "user"]


def test_no_network_is_a_clear_message(make_nexus: NexusFactory) -> None:
    nexus = make_nexus(environ={"ANTHROPIC_BASE_URL": f"http://127.0.0.1:{free_port()}"})
    with pytest.raises(
        AgentError, match=r"can't reach the Anthropic API at 127\.0\.0\.1"
    ) as caught:
        nexus.ask("Hello")
    assert caught.value.kind == "connection"
    assert "NEXUS_AGENT=replay" in str(caught.value)


def test_max_tokens_and_refusal_are_explained(
    fake: FakeAnthropic, make_nexus: NexusFactory
) -> None:
    fake.script(max_tokens_turn("A long answer that"), refusal_turn(""))
    nexus = make_nexus()
    cut = nexus.ask("Write a novel")
    assert cut.stop_reason == "max_tokens"
    assert "length limit (max_tokens)" in (cut.notice or "")
    refused = nexus.ask("Something else")
    assert refused.stop_reason == "refusal"
    assert "declined" in (refused.notice or "")
    assert "declined" in refused.to_markdown()


def test_stop_ends_the_stream_and_keeps_what_arrived(
    fake: FakeAnthropic, make_nexus: NexusFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    from nexus_kernel_helpers.agent import _display, _nexus

    nexus = make_nexus()
    updates: list[int] = []

    def publish(bundle: Any, first: bool) -> None:
        updates.append(1)
        if len(updates) == 10:  # the Stop button, pressed from another thread mid-stream
            threading.Thread(target=nexus.stop).start()

    def output(**options: Any) -> Any:
        return _display.LiveOutput(enabled=True, interval_s=0.0, publish=publish)

    monkeypatch.setattr(_nexus, "LiveOutput", output)
    fake.script(slow_stream_turn("x" * 400, delay_s=0.005), text_turn("Next."))
    answer = nexus.ask("Go")
    assert answer.stop_reason == "stopped"
    assert 0 < len(answer.text) < 400
    assert "Stopped" in (answer.notice or "")
    assert nexus.ask("And then?").text == "Next."


class InterruptAfter:
    """A display that raises KeyboardInterrupt (Ctrl-C) on the n-th text delta."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.seen = ""

    def __call__(self, bundle: Any, first: bool) -> None:
        self.n -= 1
        if self.n == 0:
            raise KeyboardInterrupt


def test_ctrl_c_ends_the_stream_cleanly(
    fake: FakeAnthropic, make_nexus: NexusFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    from nexus_kernel_helpers.agent import _display, _nexus

    interrupt = InterruptAfter(5)
    original = _display.LiveOutput

    def interrupting(**options: Any) -> Any:
        return original(enabled=True, interval_s=0.0, publish=interrupt)

    monkeypatch.setattr(_nexus, "LiveOutput", interrupting)
    fake.script(text_turn("word " * 50, chunk_size=5), text_turn("After."))
    nexus = make_nexus()
    with pytest.raises(KeyboardInterrupt):
        nexus.ask("Talk")
    answer = nexus.last_answer
    assert answer is not None
    assert answer.stop_reason == "interrupted"
    assert answer.text.startswith("word word")
    assert len(answer.text) < 250
    monkeypatch.setattr(_nexus, "LiveOutput", original)
    assert nexus.ask("Again").text == "After."


def test_conversation_is_multi_turn_trimmed_and_reset(
    fake: FakeAnthropic, make_nexus: NexusFactory
) -> None:
    fake.script(text_turn("First answer."), text_turn("Second answer."), text_turn("Third."))
    nexus = make_nexus(history_tokens=40)
    nexus.ask("First question, a long one " + "x" * 100)
    nexus.ask("Second question")
    second = bodies(fake)[1]["messages"]
    # The first exchange no longer fits the tiny budget: dropped, the schema stays in system.
    assert [m["role"] for m in second] == ["user"]
    assert "Second question" in second[0]["content"][0]["text"]
    assert "table agent_shop.orders" in bodies(fake)[1]["system"][1]["text"]
    assert nexus.conversation.trimmed_exchanges == 1
    assert "First answer." in nexus.transcript.to_markdown()
    nexus.reset()
    assert nexus.transcript.answers == []
    nexus.ask("Third question")
    assert len(bodies(fake)[2]["messages"]) == 1


def test_history_is_sent_again_within_the_budget(
    fake: FakeAnthropic, make_nexus: NexusFactory
) -> None:
    fake.script(tool_turn("run_query", {"sql": "select 1"}), text_turn("One."), text_turn("Two."))
    nexus = make_nexus()
    nexus.ask("Q1")
    nexus.ask("Q2")
    roles = [m["role"] for m in bodies(fake)[2]["messages"]]
    assert roles == ["user", "assistant", "user", "assistant", "user"]
    assert "Q1" in nexus.transcript.to_text()
    assert "Two." in nexus.transcript.to_text()


def test_no_key_gives_the_message_and_offline_advice(
    fake: FakeAnthropic, make_nexus: NexusFactory
) -> None:
    nexus = make_nexus(api_key=None)
    answer = nexus.ask(f"Why is this slow? {SLOW_QUERY}")
    assert answer.mode == "offline"
    assert answer.stop_reason == "no_key"
    assert answer.text.startswith("Nexus is offline: no Anthropic API key is set. Run `%nexus_key`")
    assert "Seq Scan" in answer.text or "Sequential" in answer.text
    assert fake.message_requests == []
    plain = nexus.ask("Just chatting")
    assert plain.text.count("\n") == 0
    off = make_nexus(mode="off").ask("Hello")
    assert off.text.startswith("Nexus is off (NEXUS_AGENT=off).")
    assert fake.message_requests == []


def test_record_then_replay_without_a_key_reruns_the_tools(
    fake: FakeAnthropic, make_nexus: NexusFactory, shop_db: nx.Database
) -> None:
    question = f"Why is this slow? {SLOW_QUERY}"
    fake.script(
        tool_turn("explain_query", {"sql": SLOW_QUERY}),
        tool_turn("try_index", {"setup": [INDEX], "sql": SLOW_QUERY}),
        text_turn(FINAL),
    )
    recorder = make_nexus(mode="record")
    live = recorder.ask(question)
    files = list(recorder.transcripts_dir.glob("*.json"))
    assert len(files) == 1
    requests_before = len(fake.message_requests)
    replayer = make_nexus(api_key=None, mode="live")  # no key: a recorded answer is replayed
    replayed = replayer.ask("  why IS this slow?  " + SLOW_QUERY)
    assert len(fake.message_requests) == requests_before
    assert replayed.mode == "replayed"
    assert replayed.text == live.text
    assert [c.name for c in replayed.tool_calls] == ["explain_query", "try_index"]
    assert all(c.outcome == "ok" for c in replayed.tool_calls)
    # The tools really ran again: fresh measurements, not the recorded ones.
    assert replayed.tool_calls[0].data["execution_ms"] != live.tool_calls[0].data["execution_ms"]
    assert "replayed from a transcript" in replayed.footer()
    forced = make_nexus(mode="replay").ask(question)
    assert forced.mode == "replayed"
    missing = make_nexus(mode="replay").ask("never recorded")
    assert missing.mode == "offline"
    assert "No recorded answer" in missing.text


def test_answer_buttons_are_plain_methods(
    fake: FakeAnthropic, make_nexus: NexusFactory, shop_db: nx.Database
) -> None:
    fake.script(text_turn(FINAL))
    answer = make_nexus().ask(f"Why is this slow? {SLOW_QUERY}")
    shown: list[object] = []
    actions = answer.actions()
    actions._show = shown.append
    index_block, query_block = answer.code_blocks
    assert index_block.is_change
    assert not index_block.is_read
    assert query_block.is_read
    result = actions.run(1)
    assert result.rows[0][0] == 30
    outcome = actions.what_if(0)
    assert outcome is shown[-1]
    with pytest.raises(nx.NexusError, match="was not asked to be applied"):
        actions.confirm_apply(0)
    assert "Apply permanently?" in actions.request_apply(0)
    actions.cancel_apply()
    with pytest.raises(nx.NexusError, match="was not asked to be applied"):
        actions.confirm_apply(0)
    assert not any("customer_id" in i for i in index_names(shop_db))
    compared = actions.compare(1)
    assert compared is shown[-1]
    widget = actions.widget()
    assert widget is not None
    labels = [b.description for row in widget.children[:-1] for b in walk(row)]
    assert labels.count("Run") == 1
    assert "Try in what-if" in labels
    assert "Apply…" in labels
    assert labels.count("Insert") == 2
    classes = {c for row in widget.children[:-1] for b in walk(row) for c in b._dom_classes}
    assert {"nx-answer-run", "nx-answer-insert", "nx-answer-apply"} <= classes


def index_names(db: nx.Database) -> list[str]:
    rows = db.query("select indexname from pg_indexes where schemaname = 'agent_shop'").rows
    return [row[0] for row in rows]


def walk(widget: Any) -> list[Any]:
    import ipywidgets

    if isinstance(widget, ipywidgets.Button):
        return [widget]
    return [b for child in getattr(widget, "children", ()) for b in walk(child)]


def test_apply_after_confirmation_changes_the_database(
    fake: FakeAnthropic, make_nexus: NexusFactory, shop_db: nx.Database
) -> None:
    shop_db.query("create table agent_shop.scratch (id int)")
    try:
        fake.script(
            text_turn("```sql\ncreate index scratch_id_idx on agent_shop.scratch (id)\n```")
        )
        answer = make_nexus().ask("Index scratch?")
        actions = answer.actions()
        actions._show = lambda value: None
        actions.request_apply(0)
        result = actions.confirm_apply(0)
        assert result.status == "CREATE INDEX"
        assert "scratch_id_idx" in index_names(shop_db)
    finally:
        shop_db.query("drop table agent_shop.scratch")


def test_a_default_nexus_serves_the_magics(
    shop_db: nx.Database, fake: FakeAnthropic, monkeypatch: pytest.MonkeyPatch
) -> None:
    from nexus_kernel_helpers.agent import ask, default_nexus, reset

    monkeypatch.setenv("ANTHROPIC_BASE_URL", fake.base_url)
    monkeypatch.setenv("ANTHROPIC_API_KEY", API_KEY)
    fake.script(text_turn("Hi."))
    nexus = default_nexus(shop_db, display=False, max_retries=0)
    assert default_nexus() is nexus
    assert ask("Hello").text == "Hi."
    reset()
    assert nexus.transcript.answers == []
    assert isinstance(nexus, Nexus)
    nexus.close()
