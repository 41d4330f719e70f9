"""The notebook demo on the real `shop` dataset: live through the fake API, then replayed.

"Why is this slow? select ..." streams an answer that explains the query, tries an index in a
what-if, shows the measured speedup and offers buttons that work; the committed transcript
replays it without a key, running the tools again on this database.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import nexus_kernel_helpers as nx
from nexus_kernel_helpers.agent import Answer, Nexus
from nexus_kernel_helpers.agent._transcripts import default_transcripts_dir, find_transcript
from tests.fake_anthropic import FakeAnthropic, load_script
from tests.support import REPO

TRANSCRIPTS = REPO / "data" / "transcripts"
QUESTION = (TRANSCRIPTS / "why-is-this-slow.question.txt").read_text(encoding="utf-8").strip()


@pytest.fixture(scope="module")
def shop(data_dir: Path) -> Iterator[nx.Database]:
    """A server of its own with the shop dataset (the shared one must keep its database)."""
    settings = nx.Settings(data_dir=data_dir)
    db = nx.start_database(
        "embedded", reuse=False, make_current=False, settings=settings, dataset="shop", scale=0.002
    )
    yield db
    db.stop()


def check_demo_answer(answer: Answer) -> None:
    explain, index = answer.tool_calls
    assert explain.name == "explain_query"
    assert explain.outcome == "ok"
    assert "Seq Scan on orders o" in explain.result
    assert index.name == "try_index"
    assert index.outcome == "ok", index.result
    assert index.data["speedup"] > 1
    assert index.data["equivalent"] is True
    ddl, python = answer.code_blocks
    assert ddl.statement_kind == "CREATE INDEX"
    assert python.language == "python"
    actions = answer.actions()
    shown: list[object] = []
    actions._show = shown.append
    comparison = actions.what_if(0)  # "Try in what-if" on the proposed index
    assert "faster" in repr(comparison) or "difference" in repr(comparison)
    assert "Apply permanently?" in actions.request_apply(0)
    actions.cancel_apply()
    assert actions.widget() is not None


def test_the_demo_streams_live_through_the_fake_api(shop: nx.Database, tmp_path: Path) -> None:
    turns = load_script(TRANSCRIPTS / "why-is-this-slow.turns.json")
    with FakeAnthropic(*turns) as fake:
        settings = nx.load_settings(
            {"ANTHROPIC_BASE_URL": fake.base_url}, env_file=tmp_path / "no.env"
        )
        with Nexus(
            shop, api_key="test-key-not-real", settings=settings, display=False,
            transcripts_dir=tmp_path,
        ) as nexus:  # fmt: skip
            answer = nexus.ask(QUESTION)
    assert answer.mode == "live"
    assert answer.query is not None
    assert answer.query.startswith("select o.id")
    assert answer.usage.cache_read_tokens == 4800
    check_demo_answer(answer)


def test_the_committed_transcript_replays_without_a_key(shop: nx.Database) -> None:
    assert default_transcripts_dir(REPO / "notebooks") == TRANSCRIPTS
    recorded = find_transcript(TRANSCRIPTS, QUESTION)
    assert recorded is not None
    assert "Scripted demo answer" in (recorded.path or Path()).read_text(encoding="utf-8")
    nexus = Nexus(shop, settings=nx.Settings(), mode="live", display=False)
    answer = nexus.ask(QUESTION)  # no key: the recorded answer is replayed
    assert answer.mode == "replayed"
    assert answer.text == recorded.text
    check_demo_answer(answer)
