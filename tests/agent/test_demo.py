"""The recorded demo answers on the real `shop` dataset: live through the fake API, replayed.

"Why is this slow? select ..." streams an answer that explains the query, tries an index in a
what-if, shows the measured speedup and offers buttons that work; the committed transcript
replays it without a key, running the tools again on this database.

Every demo in `data/transcripts/` (a `<name>.turns.json` scripted answer to the question in
`<name>.question.txt`) is checked the same way: its transcript is up to date with its turns,
a notebook asks exactly its question, it replays without a key against a fresh shop database
with every tool call succeeding, the code it shows runs (SQL in a rolled-back what-if, Python
compiled), and no file holds a key or a password.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbformat
import pytest

import nexus_kernel_helpers as nx
from nexus_kernel_helpers.agent import Answer, Nexus
from nexus_kernel_helpers.agent._transcripts import (
    FORMAT,
    Transcript,
    default_transcripts_dir,
    find_transcript,
)
from tests.fake_anthropic import FakeAnthropic, load_script
from tests.support import REPO, private_shop

TRANSCRIPTS = REPO / "data" / "transcripts"
NOTEBOOKS = REPO / "notebooks"
QUESTION = (TRANSCRIPTS / "why-is-this-slow.question.txt").read_text(encoding="utf-8").strip()
DEMOS = sorted(p.name.removesuffix(".turns.json") for p in TRANSCRIPTS.glob("*.turns.json"))
TRANSCRIPT_FILES = sorted(
    p for p in TRANSCRIPTS.glob("*.json") if not p.name.endswith(".turns.json")
)
# Keys the recordings and these tests use: none may end up in a committed file.
FAKE_KEYS = ("demo-key-not-real", "test-key-not-real")
SECRET_SHAPES = {
    "an Anthropic key": re.compile(r"sk-ant-[A-Za-z0-9_-]{8,}"),
    "a URL with a password": re.compile(r"\w+://[^\s/@:]+:[^\s/@]+@"),
    "a password setting": re.compile(r"(password|PGPASSWORD)\s*[=:]\s*\S", re.IGNORECASE),
    "an authorization header": re.compile(r"(authorization|x-api-key)\"?\s*:", re.IGNORECASE),
}


def question_of(name: str) -> str:
    return (TRANSCRIPTS / f"{name}.question.txt").read_text(encoding="utf-8").strip()


def normal(text: str) -> str:
    """Text as `question_key` sees it: words, lower-cased."""
    return " ".join(text.lower().split())


def recorded(name: str) -> Transcript:
    transcript = find_transcript(TRANSCRIPTS, question_of(name))
    assert transcript is not None, f"{name}: no transcript; run data/transcripts/record_demo.py"
    return transcript


@pytest.fixture(scope="module")
def shop(data_dir: Path) -> Iterator[nx.Database]:
    """A server of its own with the shop dataset (the shared one must keep its database)."""
    with private_shop(data_dir, scale=0.002) as db:
        yield db


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


# -- every demo --------------------------------------------------------------------------------


def test_the_demos_are_all_there() -> None:
    assert {"why-is-this-slow", "schema-design", "endpoint-review", "slowest-statement"} <= set(
        DEMOS
    )


def test_every_transcript_belongs_to_a_demo() -> None:
    questions = {normal(question_of(name)) for name in DEMOS}
    for path in TRANSCRIPT_FILES:
        data = json.loads(path.read_text(encoding="utf-8"))
        assert data["format"] == FORMAT, path.name
        assert normal(data["question"]) in questions, f"{path.name}: no demo asks its question"
    assert len(TRANSCRIPT_FILES) == len(DEMOS), "one transcript per demo"


@pytest.mark.parametrize("name", DEMOS)
def test_the_transcript_is_the_recording_of_its_turns(name: str) -> None:
    """Edited turns need a new recording: `record_demo.py NAME`."""
    transcript = recorded(name)
    assert transcript.path is not None
    assert "Scripted demo answer" in json.loads(transcript.path.read_text())["note"]
    assert transcript.stop_reason == "end_turn"
    turns = json.loads((TRANSCRIPTS / f"{name}.turns.json").read_text(encoding="utf-8"))
    assert len(transcript.steps) == len(turns)
    for step, turn in zip(transcript.steps, turns, strict=True):
        assert step["text"] == turn.get("text", ""), f"{name}: answer text differs from its turns"
        calls = turn.get("calls") or ([turn] if turn["turn"] == "tool" else [])
        made = [(c["name"], c["input"]) for c in step.get("tool_calls") or []]
        assert made == [(c["name"], c.get("input", {})) for c in calls]
        assert all(c["outcome"] == "ok" for c in step.get("tool_calls") or []), step


@pytest.mark.parametrize("name", DEMOS)
def test_the_turns_record_live_through_the_fake_api(
    name: str, shop: nx.Database, tmp_path: Path
) -> None:
    """What record_demo.py does, on the test's shop: tools succeed, no key in the file."""
    turns = load_script(TRANSCRIPTS / f"{name}.turns.json")
    with FakeAnthropic(*turns) as fake:
        settings = nx.load_settings(
            {"ANTHROPIC_BASE_URL": fake.base_url}, env_file=tmp_path / "no.env"
        )
        with Nexus(
            shop, api_key=FAKE_KEYS[1], settings=settings, display=False, mode="record",
            transcripts_dir=tmp_path,
        ) as nexus:  # fmt: skip
            answer = nexus.ask(question_of(name))
    assert answer.mode == "live"
    assert answer.text == recorded(name).text
    assert all(call.outcome == "ok" for call in answer.tool_calls), answer.to_text()
    [saved] = tmp_path.glob("*.json")
    text = saved.read_text(encoding="utf-8")
    assert FAKE_KEYS[1] not in text
    assert not any(shape.search(text) for shape in SECRET_SHAPES.values())


@pytest.mark.parametrize("name", DEMOS)
def test_a_notebook_asks_exactly_the_recorded_question(name: str) -> None:
    question = normal(question_of(name))
    asked = [
        path.name
        for path in sorted(NOTEBOOKS.glob("*.ipynb"))
        for cell in nbformat.read(path, as_version=4).cells  # type: ignore[no-untyped-call]
        if cell.cell_type == "code" and question in normal(cell.source)
    ]
    assert asked, f"no notebook cell asks the question of {name!r}"


@pytest.mark.parametrize("name", DEMOS)
def test_the_transcript_replays_without_a_key(name: str, shop: nx.Database) -> None:
    transcript = recorded(name)
    nexus = Nexus(shop, settings=nx.Settings(), mode="live", display=False)
    answer = nexus.ask(question_of(name))  # no key: the recorded answer is replayed
    assert answer.mode == "replayed"
    assert answer.text == transcript.text
    recorded_calls = [c["name"] for s in transcript.steps for c in s.get("tool_calls") or []]
    assert [call.name for call in answer.tool_calls] == recorded_calls
    for call in answer.tool_calls:
        assert call.outcome == "ok", f"{call.name}: {call.result}"
        assert call.result.startswith("<untrusted-data")
    assert "replayed from a transcript" in answer.footer()
    assert answer.code_blocks, "a demo answer shows code"
    shown = answer.to_markdown() + answer.to_text()
    password = shop.client_env().get("PGPASSWORD")
    assert not password or password not in shown


def run_rolled_back(db: nx.Database, statements: list[str], check: str) -> object:
    """Run `statements` as the owner in a schema of their own; return `check`; roll back.

    Not through the sandbox: its what-ifs refuse CREATE SCHEMA and CREATE POLICY.
    """
    with db.connect() as connection:
        connection.execute("CREATE SCHEMA nexus_answer_check")
        connection.execute("SET LOCAL search_path = nexus_answer_check, public")
        for statement in statements:
            connection.execute(statement)
        row = connection.execute(check).fetchone()
        connection.rollback()
    assert db.query("SELECT to_regnamespace('nexus_answer_check')").scalar() is None
    return row[0] if row else None


@pytest.mark.parametrize("name", DEMOS)
def test_the_code_in_the_answer_runs(name: str, shop: nx.Database) -> None:
    """Every SQL block runs on the shop database (rolled back); every Python block compiles."""
    answer = Answer(question=question_of(name), text=recorded(name).text)
    sql = [block.code for block in answer.code_blocks if block.language == "sql"]
    python = [block.code for block in answer.code_blocks if block.language == "python"]
    assert sql or python
    for number, code in enumerate(python):  # notebook style: top-level await is fine
        compile(code, f"<{name} block {number}>", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    assert run_rolled_back(shop, sql, "SELECT 1") == 1


def test_the_schema_design_answer_creates_the_four_tables(shop: nx.Database) -> None:
    answer = Answer(question=question_of("schema-design"), text=recorded("schema-design").text)
    tables = run_rolled_back(
        shop,
        [block.code for block in answer.sql_blocks],
        "SELECT string_agg(relname || CASE WHEN relrowsecurity THEN ' (rls)' ELSE '' END, ','"
        " ORDER BY relname) FROM pg_class"
        " WHERE relnamespace = 'nexus_answer_check'::regnamespace AND relkind = 'r'",
    )
    assert tables == "projects,tasks (rls),tenants,users"  # the RLS block is about tasks


@pytest.mark.parametrize(
    "path", sorted(p for p in TRANSCRIPTS.iterdir() if p.is_file()), ids=lambda p: p.name
)
def test_no_secret_in_any_transcript_file(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    for key in FAKE_KEYS:
        assert key not in text or path.suffix == ".py", f"the recording key is in {path.name}"
    if path.suffix == ".py":
        return
    for what, shape in SECRET_SHAPES.items():
        found = shape.search(text)
        assert found is None, f"{what} in {path.name}: {found[0] if found else ''!r}"


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def test_no_transcript_holds_the_password_of_the_database_it_replays_on(
    shop: nx.Database,
) -> None:
    password = shop.client_env().get("PGPASSWORD")
    if not password:
        pytest.skip("this embedded server has no password to leak")
    for path in TRANSCRIPT_FILES:
        data = json.loads(path.read_text(encoding="utf-8"))
        assert all(password not in text for text in _strings(data)), path.name
