"""Security: injected data leads to no change, and no secret reaches any output, file or log."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

import nexus_kernel_helpers as nx
from nexus_kernel_helpers.agent import AgentError, Answer
from nexus_kernel_helpers.agent._display import LiveOutput, safe_markdown
from nexus_kernel_helpers.agent._transcripts import scrub
from tests.fake_anthropic import (
    FakeAnthropic,
    http_error,
    stream_error,
    text_turn,
    tool_turn,
    tool_turns,
)

from .conftest import API_KEY, INJECTION, SLOW_QUERY, NexusFactory, checksum

HOSTILE_TEXT = (
    "Done. <script>alert('pwned')</script> <img src=x onerror=alert(1)> "
    "`<b>code stays</b>`\n\n```html\n<script>kept as code</script>\n```\n"
)

ATTACKS: list[tuple[str, dict[str, Any]]] = [
    ("run_query", {"sql": "DROP TABLE agent_shop.orders"}),
    ("run_query", {"sql": "DELETE FROM agent_shop.customers"}),
    ("run_query", {"sql": "COMMIT; DELETE FROM agent_shop.customers"}),
    ("run_query", {"sql": "select pg_terminate_backend(pid) from pg_stat_activity"}),
    ("run_query", {"sql": "with gone as (delete from agent_shop.orders returning *) table gone"}),
    ("explain_query", {"sql": "DELETE FROM agent_shop.customers"}),
    ("try_index", {"setup": ["DROP TABLE agent_shop.orders"], "sql": "select 1"}),
    (
        "try_index",
        {
            "setup": ["create index on agent_shop.orders (total)"],
            "sql": "delete from agent_shop.orders",
        },
    ),
    ("compare_queries", {"before": "select 1", "after": "truncate agent_shop.orders"}),
    ("advise_query", {"sql": "update agent_shop.orders set total = 0"}),
]


def test_an_injected_row_leads_to_no_change(
    fake: FakeAnthropic, make_nexus: NexusFactory, shop_db: nx.Database
) -> None:
    before = checksum(shop_db)
    fake.script(
        tool_turn("run_query", {"sql": "select id, name from agent_shop.products where id > 199"}),
        # A model that obeys the row: every statement that would change data is refused.
        tool_turns(*ATTACKS),
        text_turn(HOSTILE_TEXT),
    )
    output_bundles: list[str] = []
    answer = make_nexus().ask("List the newest products")
    first, *attacks = answer.tool_calls
    assert INJECTION in first.result
    assert len(attacks) == len(ATTACKS)
    assert all(call.outcome == "refused" for call in attacks), [c.result for c in attacks]
    sent = fake.message_requests[2].body["messages"][-1]["content"]
    assert len(sent) == len(ATTACKS)
    assert all(block["is_error"] is True for block in sent)
    assert checksum(shop_db) == before
    # The rows were framed as data in what the model saw.
    seen = fake.message_requests[1].body["messages"][-1]["content"][0]["content"]
    assert seen.startswith('<untrusted-data source="run_query">')
    # Markup the model was talked into writing is shown as text, not rendered.
    markdown = answer.to_markdown()
    output_bundles.append(markdown)
    for text in output_bundles:
        assert "<script>alert" not in text
        assert "<img" not in text
    assert "&lt;script>alert('pwned')&lt;/script>" in markdown
    assert "`<b>code stays</b>`" in markdown
    assert "<script>kept as code</script>" in markdown  # inside a fence: shown as code


def test_safe_markdown_escapes_html_outside_code_only() -> None:
    assert safe_markdown("a < b & <i>x</i>") == "a &lt; b &amp; &lt;i>x&lt;/i>"
    assert safe_markdown("`a < b`") == "`a < b`"
    assert safe_markdown("```sql\nselect 1 < 2\n```") == "```sql\nselect 1 < 2\n```"
    assert safe_markdown("```\nunclosed <x>") == "```\nunclosed <x>"


def test_scrub_masks_known_secrets_key_shapes_and_url_passwords() -> None:
    # Assembled here so that no key-shaped literal sits in a committed file.
    key_shaped = "sk-ant-" + "api03-" + "abcdefghijklmnopqrstuvwxyz"
    data = {
        "text": f"key {key_shaped} and pw hunter2hunter2",
        "calls": [{"sql": "postgresql://bob:s3cret-pw@db.example/x"}],
        "n": 3,
    }
    clean = scrub(data, ["hunter2hunter2", None])
    flat = repr(clean)
    assert "abcdefghijklmnop" not in flat
    assert "hunter2hunter2" not in flat
    assert "s3cret-pw" not in flat
    assert clean["n"] == 3


def test_no_secret_in_any_output_transcript_or_log(  # noqa: PLR0917 - fixtures
    fake: FakeAnthropic,
    make_nexus: NexusFactory,
    shop_db: nx.Database,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    password = shop_db.client_env().get("PGPASSWORD")
    assert password, "the embedded server has a password to protect"
    secrets = [API_KEY, password]
    caplog.set_level(logging.DEBUG)
    texts: list[str] = []
    published: list[str] = []

    def publish(bundle: object, first: bool) -> None:
        data = bundle._repr_mimebundle_()  # type: ignore[attr-defined]
        published.extend(data.values())

    fake.script(
        tool_turn("run_query", {"sql": "select current_user, version()"}),
        tool_turn("explain_query", {"sql": SLOW_QUERY}),
        # A model echoing something key-shaped, and a failing connection string.
        text_turn(f"Your key might look like sk-ant-{'x' * 30}. Try {shop_db.url}."),
        http_error(401, "authentication_error", "invalid x-api-key"),
        stream_error("partial", "api_error", "Internal error"),
    )
    recorder = make_nexus(mode="record")
    from nexus_kernel_helpers.agent import _nexus

    monkeypatch.setattr(_nexus, "LiveOutput", lambda **_: LiveOutput(publish=publish))
    answers: list[Answer] = [recorder.ask("Who am I connected as?")]
    for question in ("Again?", "Once more?"):
        with pytest.raises(AgentError) as caught:
            recorder.ask(question)
        texts.append(str(caught.value))
        assert caught.value.partial is not None
        answers.append(caught.value.partial)
    answers.append(make_nexus(api_key=None).ask("Who am I connected as?"))  # replayed
    answers.append(make_nexus(api_key=None).ask(f"Why is this slow? {SLOW_QUERY}"))
    assert [a.mode for a in answers] == ["live", "live", "live", "replayed", "offline"]
    for answer in answers:
        texts += [answer.to_markdown(), answer.to_text(), repr(answer)]
        texts += [call.result for call in answer.tool_calls]
    texts += published
    texts += [path.read_text() for path in (tmp_path / "transcripts").glob("*.json")]
    texts += [repr(recorder), repr(recorder.settings), caplog.text]
    captured = capsys.readouterr()
    texts += [captured.out, captured.err]
    assert any("transcripts" in t or "Who am I" in t for t in texts)
    for text in texts:
        for secret in secrets:
            assert secret not in text
    (path,) = (tmp_path / "transcripts").glob("*.json")  # failed exchanges are not recorded
    transcript = path.read_text()
    assert "sk-ant-***" in transcript
    assert "x" * 30 not in transcript


def test_the_live_output_is_one_display_updated_in_place() -> None:
    from IPython.core.interactiveshell import InteractiveShell
    from IPython.utils.capture import capture_output

    shell = InteractiveShell.instance()
    try:
        with capture_output() as captured:
            output = LiveOutput(enabled=True, interval_s=0.0)
            output.start()
            output.on_text("Hello ")
            output.on_text("<b>world</b>")
            output.finish("Nexus · test")
        assert shell is not None
    finally:
        InteractiveShell.clear_instance()
    outputs = captured.outputs
    assert len(outputs) == 4
    ids = {o.transient["display_id"] for o in outputs}
    assert len(ids) == 1
    assert [o.update for o in outputs] == [False, True, True, True]
    final = outputs[-1].data["text/markdown"]
    assert final.startswith("Hello &lt;b>world&lt;/b>")
    assert "Nexus · test" in final
    assert outputs[-1].data["text/plain"].endswith("-- Nexus · test")
