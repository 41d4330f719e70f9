"""Record the demo transcript(s) the notebooks replay when there is no API key.

Usage: .venv/bin/python data/transcripts/record_demo.py [--scale 0.01]

Each `*.turns.json` file next to this script is a scripted model answer (the format of
`python -m tests.fake_anthropic --script`) with a `question` in `<name>.question.txt`. The
script starts an embedded server with the `shop` dataset, serves the turns from the fake
Messages API, asks the question in record mode, and writes the transcript here. The tool calls
in it are real (they ran on the database); the model's words are the scripted ones, which the
transcript says in its `note`. Replay runs the tool calls again, so the numbers shown are
always measured on the machine that replays.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent.parent))

import nexus_kernel_helpers as nx  # noqa: E402
from nexus_kernel_helpers.agent import Nexus  # noqa: E402
from tests.fake_anthropic import FakeAnthropic, load_script  # noqa: E402

NOTE = (
    "Scripted demo answer served by the fake Messages API (tests/fake_anthropic.py); the tool "
    "calls ran on a real database and run again on replay."
)


def record(scale: float) -> list[Path]:
    """Record every scripted demo; return the transcript paths."""
    settings = nx.Settings(data_dir=Path(tempfile.mkdtemp(prefix="nexus-demo-")))
    db = nx.start_database(
        "embedded", reuse=False, make_current=False, settings=settings, dataset="shop", scale=scale
    )
    written = []
    try:
        for turns_file in sorted(HERE.glob("*.turns.json")):
            name = turns_file.name.removesuffix(".turns.json")
            question = (HERE / f"{name}.question.txt").read_text(encoding="utf-8").strip()
            with FakeAnthropic(*load_script(turns_file)) as fake:
                environ = {"ANTHROPIC_BASE_URL": fake.base_url}
                agent_settings = nx.load_settings(environ, env_file=HERE / "no.env")
                nexus = Nexus(
                    db,
                    api_key="demo-key-not-real",
                    settings=agent_settings,
                    mode="record",
                    transcripts_dir=HERE,
                    display=False,
                )
                answer = nexus.ask(question)
                nexus.close()
            path = next(p for p in HERE.glob("*.json") if _question(p) == question)
            data = json.loads(path.read_text(encoding="utf-8"))
            data["note"] = NOTE
            path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
            written.append(path)
            calls = len(answer.tool_calls)
            sys.stdout.write(f"{path.name}: {calls} tool calls, {answer.stop_reason}\n")
    finally:
        db.stop()
    return written


def _question(path: Path) -> str | None:
    if path.name.endswith(".turns.json"):
        return None
    return str(json.loads(path.read_text(encoding="utf-8")).get("question"))


def main() -> None:
    """Parse the arguments and record."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scale", type=float, default=0.01)
    args = parser.parse_args()
    record(args.scale)


if __name__ == "__main__":
    main()
