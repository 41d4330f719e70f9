"""Record the demo transcripts the notebooks replay when there is no API key.

Usage: .venv/bin/python data/transcripts/record_demo.py [--scale 0.01] [NAME ...]

Each `<name>.turns.json` file next to this script is a scripted model answer (the format of
`python -m tests.fake_anthropic --script`) to the question in `<name>.question.txt`, which is
the text a notebook asks. For each one the script prepares a database the way the notebook has
it when it asks (`DEMOS`: which dataset, which statements ran before), serves the turns from the
fake Messages API, asks the question in record mode, and writes the transcript here. The tool
calls in it are real (they ran on that database); the model's words are the scripted ones,
which the transcript says in its `note`. Replay runs the tool calls again, so the numbers shown
are always measured on the machine that replays. Without names, every demo is recorded and
transcripts whose question no demo asks any more are removed.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent.parent))

import nexus_kernel_helpers as nx  # noqa: E402
from nexus_kernel_helpers.agent import Answer, Nexus  # noqa: E402
from nexus_kernel_helpers.agent._transcripts import FORMAT, find_transcript  # noqa: E402
from tests.fake_anthropic import FakeAnthropic, load_script  # noqa: E402

NOTE = (
    "Scripted demo answer served by the fake Messages API (tests/fake_anthropic.py); the tool "
    "calls ran on a real database and run again on replay."
)

# What notebook 04 has run by the time it asks for the review (sections 2 and 3).
NOTEBOOK_04_SETUP = """
CREATE ROLE shop_app NOLOGIN;
GRANT USAGE ON SCHEMA public TO shop_app;
GRANT SELECT, INSERT, UPDATE ON orders TO shop_app;
GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO shop_app;
ALTER TABLE orders ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON orders
    USING (tenant_id = current_setting('app.tenant_id', true)::bigint)
    WITH CHECK (tenant_id = current_setting('app.tenant_id', true)::bigint);
CREATE ROLE shop_reporting NOLOGIN;
GRANT USAGE ON SCHEMA public TO shop_reporting;
GRANT SELECT ON orders, order_items, products TO shop_reporting;
GRANT SELECT (id, tenant_id, country, created_at) ON users TO shop_reporting;
"""


@dataclass(frozen=True)
class Demo:
    """The database a notebook has when it asks its question."""

    dataset: str | None = "shop"
    setup: str = ""
    described: str = "the shop dataset"


DEMOS = {
    "schema-design": Demo(dataset=None, described="an empty database (notebook 01)"),
    "endpoint-review": Demo(
        setup=NOTEBOOK_04_SETUP,
        described="the shop dataset after notebook 04's row-level security and roles",
    ),
}


class Servers:
    """One embedded server per dataset, started on first use, all stopped at the end."""

    def __init__(self, scale: float) -> None:
        self.scale = scale
        self.settings = nx.Settings(data_dir=Path(tempfile.mkdtemp(prefix="nexus-demo-")))
        self.started: dict[str | None, nx.Database] = {}

    def fresh(self, demo: Demo) -> nx.Database:
        """The demo's database as freshly loaded, with the demo's setup run on it."""
        db = self.started.get(demo.dataset)
        if db is None:
            db = nx.start_database(
                "embedded", reuse=False, make_current=False, settings=self.settings,
                dataset=demo.dataset, scale=self.scale,
            )  # fmt: skip
            self.started[demo.dataset] = db
        elif demo.dataset is not None:
            db.reset()
        if demo.setup:
            db.query(demo.setup)
        return db

    def stop(self) -> None:
        """Stop every server started here."""
        for db in self.started.values():
            db.stop()


def demo_names() -> list[str]:
    """Every demo: the names of the `*.turns.json` files here."""
    return sorted(p.name.removesuffix(".turns.json") for p in HERE.glob("*.turns.json"))


def question_of(name: str) -> str:
    """The question demo `name` asks, as the notebook asks it."""
    return (HERE / f"{name}.question.txt").read_text(encoding="utf-8").strip()


def record_one(name: str, db: nx.Database, demo: Demo) -> tuple[Path, Answer]:
    """Ask demo `name`'s question through the fake API in record mode; return the file."""
    question = question_of(name)
    with FakeAnthropic(*load_script(HERE / f"{name}.turns.json")) as fake:
        environ = {"ANTHROPIC_BASE_URL": fake.base_url}
        settings = nx.load_settings(environ, env_file=HERE / "no.env")
        with Nexus(
            db, api_key="demo-key-not-real", settings=settings, mode="record",
            transcripts_dir=HERE, display=False,
        ) as nexus:  # fmt: skip
            answer = nexus.ask(question)
    recorded = find_transcript(HERE, question)
    if recorded is None or recorded.path is None:
        raise RuntimeError(f"{name}: no transcript was written")
    data = json.loads(recorded.path.read_text(encoding="utf-8"))
    data["note"] = f"{NOTE} Recorded on {demo.described}."
    text = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    recorded.path.write_text(text, encoding="utf-8")
    return recorded.path, answer


def remove_stale(questions: set[str]) -> list[Path]:
    """Delete transcripts whose question no demo asks any more; return them."""
    stale = []
    for path in HERE.glob("*.json"):
        if path.name.endswith(".turns.json"):
            continue
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("format") == FORMAT and str(data.get("question")).strip() not in questions:
            path.unlink()
            stale.append(path)
    return stale


def record(scale: float, names: list[str] | None = None) -> list[Path]:
    """Record the named demos (all without names); return the transcript paths."""
    everything = demo_names()
    chosen = names or everything
    unknown = sorted(set(chosen) - set(everything))
    if unknown:
        raise SystemExit(f"no demo named {', '.join(unknown)}; demos: {', '.join(everything)}")
    servers = Servers(scale)
    written = []
    failed = []
    try:
        for name in chosen:
            demo = DEMOS.get(name, Demo())
            path, answer = record_one(name, servers.fresh(demo), demo)
            written.append(path)
            bad = [f"{c.name}: {c.summary}" for c in answer.tool_calls if c.outcome != "ok"]
            failed += [f"{name}: {line}" for line in bad]
            calls = len(answer.tool_calls)
            sys.stdout.write(f"{path.name}: {calls} tool calls, {answer.stop_reason}\n")
    finally:
        servers.stop()
    if not names:
        for path in remove_stale({question_of(name) for name in everything}):
            sys.stdout.write(f"removed {path.name}: no demo asks its question\n")
    if failed:
        raise SystemExit("tool calls that did not succeed:\n" + "\n".join(failed))
    return written


def main() -> None:
    """Parse the arguments and record."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scale", type=float, default=0.01)
    parser.add_argument("names", nargs="*", help="demos to record (default: all)")
    args = parser.parse_args()
    record(args.scale, args.names)


if __name__ == "__main__":
    main()
