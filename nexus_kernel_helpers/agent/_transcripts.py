"""Recorded exchanges: saved in `record` mode, streamed back in `replay` mode.

A transcript is one JSON file per question: the question, the query under discussion, each
model turn's text and tool calls (input, SQL, outcome, result), usage, model, stop reason. It
never holds an API key or a database password: every string is scrubbed of the secrets the
workbook knows and of anything shaped like an Anthropic key or a URL password before writing.

Replay finds the transcript of the same question (whitespace and case aside), streams its text
as if it arrived from the model, and runs its tool calls again against the live database, so
the numbers shown are measured now, on this machine.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..postgres._conninfo import redact
from ._loop import Listener, LoopResult, Step, Usage
from ._tools import ToolCall, ToolRunner

__all__ = [
    "FORMAT",
    "Transcript",
    "default_transcripts_dir",
    "find_transcript",
    "question_key",
    "replay",
    "save_transcript",
    "scrub",
]

FORMAT = "nexus-transcript/1"
REPLAY_CHUNK = 24
_KEY_SHAPED = re.compile(r"sk-ant-[A-Za-z0-9_-]{8,}")
_SLUG = re.compile(r"[^a-z0-9]+")


def question_key(question: str) -> str:
    """What identifies a question across runs: its words, lower-cased, hashed."""
    normal = " ".join(question.lower().split())
    return hashlib.sha256(normal.encode()).hexdigest()[:16]


def default_transcripts_dir(start: Path | None = None) -> Path:
    """Where transcripts live: the nearest `data/transcripts` from the current directory up.

    A notebook in `notebooks/` finds the repository's; elsewhere, the source tree's.
    """
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        candidate = folder / "data" / "transcripts"
        if candidate.is_dir():
            return candidate
    return Path(__file__).resolve().parents[2] / "data" / "transcripts"


def scrub(value: Any, secrets: Iterable[str | None]) -> Any:
    """`value` with every secret, key-shaped string and URL password masked, recursively."""
    known = [s for s in secrets if s]
    if isinstance(value, str):
        return _KEY_SHAPED.sub("sk-ant-***", redact(value, known))
    if isinstance(value, Mapping):
        return {str(k): scrub(v, known) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [scrub(v, known) for v in value]
    return value


@dataclass(frozen=True)
class Transcript:
    """One recorded exchange."""

    question: str
    query: str | None
    model: str
    steps: list[dict[str, Any]]
    usage: dict[str, int]
    stop_reason: str | None
    recorded_at: str
    path: Path | None = None

    @property
    def text(self) -> str:
        """The recorded answer text."""
        return "\n\n".join(s["text"] for s in self.steps if str(s.get("text", "")).strip())

    @classmethod
    def load(cls, path: Path) -> Transcript:
        """Read one transcript file."""
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("format") != FORMAT:
            raise ValueError(f"{path.name}: not a {FORMAT} file")
        return cls(
            question=data["question"],
            query=data.get("query"),
            model=data.get("model", ""),
            steps=list(data.get("steps") or []),
            usage=dict(data.get("usage") or {}),
            stop_reason=data.get("stop_reason"),
            recorded_at=data.get("recorded_at", ""),
            path=path,
        )


def save_transcript(
    directory: Path,
    *,
    question: str,
    query: str | None,
    result: LoopResult,
    secrets: Iterable[str | None],
) -> Path:
    """Write the exchange as JSON (scrubbed) and return its path."""
    directory.mkdir(parents=True, exist_ok=True)
    data = {
        "format": FORMAT,
        "key": question_key(question),
        "question": question,
        "query": query,
        "model": result.model,
        "recorded_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "steps": [step.to_json() for step in result.steps],
        "usage": result.usage.to_json(),
        "stop_reason": result.stop_reason,
    }
    clean = scrub(data, secrets)
    slug = _SLUG.sub("-", question.lower()).strip("-")[:48] or "question"
    path = directory / f"{slug}-{data['key']}.json"
    path.write_text(json.dumps(clean, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def find_transcript(directory: Path | None, question: str) -> Transcript | None:
    """The newest transcript of this question in `directory`, if any."""
    if directory is None or not directory.is_dir():
        return None
    key = question_key(question)
    found = sorted(directory.glob(f"*-{key}.json"), key=lambda p: p.stat().st_mtime)
    for path in reversed(found):
        try:
            return Transcript.load(path)
        except (ValueError, KeyError, OSError):
            continue
    return None


def replay(
    transcript: Transcript,
    runner: ToolRunner,
    listener: Listener,
    *,
    chunk: int = REPLAY_CHUNK,
    delay_s: float = 0.0,
) -> LoopResult:
    """Stream the recorded text and re-run the recorded tool calls on the live database."""
    result = LoopResult(model=transcript.model, usage=Usage.from_json(transcript.usage))
    started = time.perf_counter()
    try:
        for recorded in transcript.steps:
            step = Step(stop_reason=recorded.get("stop_reason"))
            result.steps.append(step)
            text = str(recorded.get("text") or "")
            for position in range(0, len(text), chunk):
                piece = text[position : position + chunk]
                step.text += piece
                listener.on_text(piece)
                if delay_s:
                    time.sleep(delay_s)
            for data in recorded.get("tool_calls") or []:
                old = ToolCall.from_json(data)
                listener.on_tool_start(old.name, old.input)
                call = runner.run(old.id, old.name, old.input)
                step.tool_calls.append(call)
                listener.on_tool_end(call)
        result.stop_reason = transcript.stop_reason
    except KeyboardInterrupt:
        result.stop_reason = "interrupted"
    result.total_ms = (time.perf_counter() - started) * 1000
    return result
