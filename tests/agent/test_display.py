"""The live output and the answer's display, through IPython's own display machinery."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from html.parser import HTMLParser
from typing import Any

import pytest
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output

from nexus_kernel_helpers.agent import Answer, ToolCall
from nexus_kernel_helpers.agent._display import LiveOutput, tool_line
from tests.fake_anthropic import FakeAnthropic, slow_stream_turn, text_turn, tool_turn

from .conftest import SLOW_QUERY, NexusFactory

WIDGET = "application/vnd.jupyter.widget-view+json"


@pytest.fixture
def shell() -> Iterator[InteractiveShell]:
    ip = InteractiveShell.instance()
    yield ip
    InteractiveShell.clear_instance()


class Published:
    """A publish function that keeps every bundle with the time it was shown."""

    def __init__(self) -> None:
        self.bundles: list[dict[str, str]] = []
        self.times: list[float] = []

    def __call__(self, bundle: Any, first: bool) -> None:
        self.bundles.append(bundle._repr_mimebundle_())
        self.times.append(time.perf_counter())


def test_updates_are_throttled_but_nothing_waits_past_the_interval() -> None:
    published = Published()
    output = LiveOutput(interval_s=0.05, publish=published)
    output.on_text("first")
    assert len(published.bundles) == 1  # the first text is shown at once
    for number in range(200):
        output.on_text(f" {number}")
    assert len(published.bundles) < 20
    deadline = time.perf_counter() + 10
    while "199" not in published.bundles[-1]["text/plain"] and time.perf_counter() < deadline:
        time.sleep(0.01)
    assert published.bundles[-1]["text/plain"].endswith(" 198 199")  # flushed by the timer
    output.finish("footer")
    assert published.bundles[-1]["text/plain"].endswith("-- footer")
    assert output.first_text_latency_ms is not None


class Details(HTMLParser):
    """Collects <details>/<summary> structure and text."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.summary = ""
        self._in_summary = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self._in_summary = self._in_summary or tag == "summary"

    def handle_endtag(self, tag: str) -> None:
        self.tags.append(f"/{tag}")
        if tag == "summary":
            self._in_summary = False

    def handle_data(self, data: str) -> None:
        if self._in_summary:
            self.summary += data


def test_a_tool_line_is_a_collapsible_block_with_escaped_text() -> None:
    call = ToolCall(
        "t1",
        "run_query",
        {"sql": "select '<x>'"},
        sql=["select '<x>' -- ```"],
        duration_ms=12.4,
        outcome="refused",
        summary="refused: <b>no</b>",
    )
    line = tool_line(call)
    parser = Details()
    parser.feed(line)
    assert parser.tags[:3] == ["details", "summary", "code"]
    assert parser.tags[-1] == "/details"
    assert "b" not in parser.tags
    assert parser.summary == "⛔ run_query · 12 ms · refused: <b>no</b>"
    assert "````sql\nselect '<x>' -- ```\n````" in line  # a longer fence than the SQL holds
    running = tool_line(None, name="explain_query", tool_input={"sql": "select 1"})
    assert "running…" in running
    assert "```sql\nselect 1\n```" in running


def test_ask_streams_into_one_display_and_offers_buttons(
    fake: FakeAnthropic, make_nexus: NexusFactory, shell: InteractiveShell
) -> None:
    fake.script(
        tool_turn("explain_query", {"sql": SLOW_QUERY}, text="Measuring."),
        text_turn("Index it:\n\n```sql\ncreate index on agent_shop.orders (customer_id);\n```\n"),
    )
    nexus = make_nexus(display=True)
    with capture_output() as captured:
        answer = nexus.ask(f"Why is this slow? {SLOW_QUERY}")
    streamed = [o for o in captured.outputs if "text/markdown" in o.data]
    widgets = [o for o in captured.outputs if WIDGET in o.data]
    assert len({o.transient["display_id"] for o in streamed}) == 1
    assert not streamed[0].update
    assert all(o.update for o in streamed[1:])
    assert any("running…" in o.data["text/markdown"] for o in streamed)
    final = streamed[-1].data["text/markdown"]
    assert final.startswith("Measuring.")
    assert "<details><summary>✓ <code>explain_query</code>" in final
    assert (
        "Nexus · claude-sonnet-5-5 · live · 200 in / 42 out / 0 cached tokens · 1 tool call<"
        in final
    )
    assert len(widgets) == 1  # the buttons of the one code block
    # Shown in this cell already: displaying the answer again adds nothing ...
    shell.execution_count = answer.shown_in or 0
    with capture_output() as again:
        answer._ipython_display_()
    assert again.outputs == []
    # ... but in a later cell it is shown whole, with its buttons.
    shell.execution_count += 1
    with capture_output() as later:
        answer._ipython_display_()
    assert [WIDGET in o.data for o in later.outputs] == [False, True]


def test_insert_puts_the_code_in_the_next_cell(shell: InteractiveShell) -> None:
    answer = Answer("q", "```sql\nselect 1\n```\n\n```python\nprint(2)\n```")
    assert answer.actions().insert(0).startswith("queued")
    assert shell.rl_next_input == "%%sql\nselect 1"
    answer.insert(1)
    assert shell.rl_next_input == "print(2)"


def test_ask_async_keeps_the_kernel_free_and_its_stop_button_works(
    fake: FakeAnthropic, make_nexus: NexusFactory, shell: InteractiveShell
) -> None:
    fake.script(slow_stream_turn("y" * 300, delay_s=0.005))
    nexus = make_nexus(display=True)

    async def ask_and_stop() -> Answer:
        task = asyncio.ensure_future(nexus.ask_async("Go slowly"))
        deadline = time.perf_counter() + 20
        while nexus.stop_button is None or not nexus.last_output or not nexus.last_output.updates:
            assert time.perf_counter() < deadline
            await asyncio.sleep(0.01)
        while "y" not in nexus.last_output.plain():
            assert time.perf_counter() < deadline
            await asyncio.sleep(0.01)
        nexus.stop_button.click()
        return await task

    with capture_output():
        answer = asyncio.run(ask_and_stop())
    assert answer.stop_reason == "stopped"
    assert 0 < len(answer.text) < 300
    assert nexus.stop_button is None  # closed when the answer ended
