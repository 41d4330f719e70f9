"""Agent benchmark: the tool loop's own cost per turn, and how soon streamed text is visible.

Usage: .venv/bin/python benchmarks/agent.py [--runs N] [--steps N]
Writes benchmarks/results/agent.json and prints the numbers.

1. Per-turn overhead of the tool loop, excluding the model and the database: the fake
   Messages API on 127.0.0.1 answers N tool turns and a final text; the tools are stubbed
   (no database). Baseline, same run: the same turns streamed with the bare SDK
   (`client.messages.stream`, events consumed, nothing else). Overhead per turn = loop time
   per turn - baseline time per turn; also the loop's own time outside the stream and tools.
2. Visible latency: text streamed by the fake (one delta every 5 ms) into `LiveOutput` with
   IPython's real display machinery (captured); for every delta, the time from the moment our
   code receives it to the moment an update containing it is published. Goal: the first
   token <= 50 ms, every token <= 50 ms (the throttle interval is 30 ms).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import anthropic
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output

from nexus_kernel_helpers.agent._display import LiveOutput
from nexus_kernel_helpers.agent._loop import run_loop
from nexus_kernel_helpers.agent._persona import system_prompt
from nexus_kernel_helpers.agent._tools import ToolCall, tool_definitions
from tests.fake_anthropic import FakeAnthropic, Turn, text_turn, tool_turn

RESULTS = Path(__file__).resolve().parent / "results"
MODEL = "claude-sonnet-5-5"
KEY = "bench-key-not-real"


class StubRunner:
    """Tools that answer at once: the database is not part of this measurement."""

    def run(self, tool_id: str, name: str, tool_input: Mapping[str, Any]) -> ToolCall:
        return ToolCall(tool_id, name, dict(tool_input), result="1 | ok", summary="1 row")


class Quiet:
    """A listener that only counts."""

    def __init__(self) -> None:
        self.events = 0

    def on_text(self, delta: str) -> None:
        self.events += 1

    def on_tool_start(self, name: str, tool_input: Mapping[str, Any]) -> None:
        self.events += 1

    def on_tool_end(self, call: ToolCall) -> None:
        self.events += 1


def script(steps: int) -> list[Turn]:
    turns = [
        tool_turn("run_query", {"sql": f"select {n}"}, text="Checking.", tool_id=f"toolu_{n}")
        for n in range(steps)
    ]
    return [*turns, text_turn("Done: " + "word " * 60)]


def loop_once(client: anthropic.Anthropic, fake: FakeAnthropic, steps: int) -> dict[str, float]:
    fake.script(*script(steps))
    messages: list[dict[str, Any]] = [{"role": "user", "content": [{"type": "text", "text": "Q"}]}]
    system: list[dict[str, Any]] = [
        {"type": "text", "text": system_prompt()},
        {"type": "text", "text": "schema", "cache_control": {"type": "ephemeral"}},
    ]
    started = time.perf_counter()
    result = run_loop(
        client,
        model=MODEL,
        system=system,
        tools=tool_definitions(),
        messages=messages,
        runner=StubRunner(),  # type: ignore[arg-type]
        listener=Quiet(),
        max_steps=steps + 2,
    )
    total = (time.perf_counter() - started) * 1000
    assert result.stop_reason == "end_turn", result.stop_reason
    return {"total_ms": total, "tool_ms": result.tool_ms, "model_ms": result.model_ms}


def bare_once(client: anthropic.Anthropic, fake: FakeAnthropic, steps: int) -> float:
    """The same turns through the bare SDK: the floor any loop pays."""
    fake.script(*script(steps))
    messages: list[Any] = [{"role": "user", "content": "Q"}]
    started = time.perf_counter()
    for _ in range(steps + 1):
        with client.messages.stream(model=MODEL, max_tokens=4096, messages=messages) as stream:
            for _event in stream:
                pass
    return (time.perf_counter() - started) * 1000


class TimedOutput(LiveOutput):
    """A LiveOutput that notes when each update was published and how much text it held."""

    def __init__(self) -> None:
        super().__init__(enabled=True)
        self.arrivals: list[tuple[float, int]] = []
        self.published: list[tuple[float, int]] = []
        self.length = 0

    def on_text(self, delta: str) -> None:
        self.length += len(delta)
        self.arrivals.append((time.perf_counter(), self.length))
        super().on_text(delta)

    def _publish(self) -> None:
        with self._lock:
            length = sum(len(p.text) for p in self._parts if p.kind == "text")
            super()._publish()
            self.published.append((time.perf_counter(), length))


def visible_latencies(
    fake: FakeAnthropic, client: anthropic.Anthropic
) -> tuple[float, list[float]]:
    fake.script(text_turn("token " * 200, chunk_size=6, delay_s=0.005))
    output = TimedOutput()
    messages: list[Any] = [{"role": "user", "content": "Q"}]
    with client.messages.stream(model=MODEL, max_tokens=4096, messages=messages) as stream:
        for event in stream:
            if event.type == "text":
                output.on_text(event.text)
    output.finish("done")
    latencies = []
    for arrived, length in output.arrivals:
        shown = next(t for t, held in output.published if held >= length and t >= arrived)
        latencies.append((shown - arrived) * 1000)
    return latencies[0], latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--steps", type=int, default=5)
    args = parser.parse_args()
    for name in [n for n in os.environ if n.startswith("ANTHROPIC_")]:
        del os.environ[name]
    os.environ["ANTHROPIC_CONFIG_DIR"] = tempfile.mkdtemp()
    loops, bares, firsts, every = [], [], [], []
    with FakeAnthropic() as fake:
        client = anthropic.Anthropic(api_key=KEY, base_url=fake.base_url, max_retries=0)
        loop_once(client, fake, 1)  # warm-up: connection, imports
        bare_once(client, fake, 1)
        for _ in range(args.runs):
            loops.append(loop_once(client, fake, args.steps))
            bares.append(bare_once(client, fake, args.steps))
        shell = InteractiveShell.instance()
        with capture_output():
            for _ in range(args.runs):
                first, latencies = visible_latencies(fake, client)
                firsts.append(first)
                every.extend(latencies)
        InteractiveShell.clear_instance()
        del shell
        client.close()
    turns = args.steps + 1
    loop_turn = statistics.median(r["total_ms"] for r in loops) / turns
    bare_turn = statistics.median(bares) / turns
    # Time the loop spends outside the model's stream and the tools: requests, history,
    # cache markers, tool results.
    own_turn = statistics.median(r["total_ms"] - r["model_ms"] - r["tool_ms"] for r in loops)
    own_turn /= turns
    every.sort()
    report = {
        "runs": args.runs,
        "turns_per_question": turns,
        "loop_ms_per_turn_median": round(loop_turn, 3),
        "bare_sdk_ms_per_turn_median": round(bare_turn, 3),
        "loop_overhead_ms_per_turn": round(loop_turn - bare_turn, 3),
        "loop_own_ms_per_turn_outside_stream": round(own_turn, 3),
        "loop_over_bare_ratio": round(loop_turn / bare_turn, 3),
        "first_token_visible_ms": {
            "median": round(statistics.median(firsts), 3),
            "max": round(max(firsts), 3),
        },
        "every_token_visible_ms": {
            "median": round(statistics.median(every), 3),
            "p95": round(every[int(len(every) * 0.95)], 3),
            "max": round(every[-1], 3),
            "count": len(every),
        },
        "goals": {"first_token_visible_ms_max": 50, "every_token_visible_ms_p95": 50},
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "agent.json").write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
