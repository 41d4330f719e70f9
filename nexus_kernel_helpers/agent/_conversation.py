"""A conversation with Nexus in one notebook: the API history and the visible transcript.

The history is what the model sees again on each question: user questions, assistant turns,
tool calls and their results. Before each question it is trimmed, oldest exchange first, to
a token budget; the persona and schema context live in the system blocks, so they are always
kept. The transcript (`Conversation.answers`) is what the user saw, and is never trimmed.
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass, field
from typing import Any

from ._answer import Answer
from ._display import safe_markdown

__all__ = ["DEFAULT_HISTORY_TOKENS", "Conversation", "estimate_tokens"]

DEFAULT_HISTORY_TOKENS = 60_000
INTERRUPTED = "(this answer was interrupted here)"


def estimate_tokens(value: object) -> int:
    """A rough token count (about four characters a token), enough to budget with."""
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return len(text) // 4 + 1


@dataclass
class Conversation:
    """The history sent to the model and the answers shown to the user."""

    budget_tokens: int = DEFAULT_HISTORY_TOKENS
    messages: list[dict[str, Any]] = field(default_factory=list)
    answers: list[Answer] = field(default_factory=list)
    # Where each exchange starts in `messages`: trimming cuts only there, so a tool_use
    # never loses its tool_result.
    _starts: list[int] = field(default_factory=list)
    trimmed_exchanges: int = 0

    def begin(self, question: str) -> None:
        """Start an exchange: trim to the budget, then add the question."""
        self.trim(self.budget_tokens - estimate_tokens(question))
        self._starts.append(len(self.messages))
        self.messages.append({"role": "user", "content": [{"type": "text", "text": question}]})

    def end(self) -> None:
        """Close the exchange so the next question starts a new user message.

        An exchange that got no assistant turn at all (the API failed at once, or it was
        stopped before anything arrived) is taken back; one that ended on tool results (it
        was interrupted between steps) gets a short assistant turn saying so.
        """
        if not self._starts:
            return
        start = self._starts[-1]
        if not any(m["role"] == "assistant" for m in self.messages[start:]):
            del self.messages[start:]
            self._starts.pop()
        elif self.messages[-1]["role"] == "user":
            self.messages.append(
                {"role": "assistant", "content": [{"type": "text", "text": INTERRUPTED}]}
            )

    def record(self, answer: Answer) -> None:
        """Keep the answer in the visible transcript."""
        self.answers.append(answer)

    def trim(self, budget: int) -> None:
        """Drop the oldest exchanges until the history fits in `budget` tokens."""
        while self._starts and estimate_tokens(self.messages) > budget:
            cut = self._starts[1] if len(self._starts) > 1 else len(self.messages)
            del self.messages[:cut]
            self._starts = [start - cut for start in self._starts[1:]]
            self.trimmed_exchanges += 1
            if self.messages:
                # Results of calls made in the exchange just dropped would have no call.
                first = self.messages[0]
                first["content"] = [b for b in first["content"] if b.get("type") != "tool_result"]

    @property
    def history_tokens(self) -> int:
        """The estimated size of the history."""
        return estimate_tokens(self.messages) if self.messages else 0

    def reset(self) -> None:
        """Forget everything: history and transcript."""
        self.messages.clear()
        self.answers.clear()
        self._starts.clear()
        self.trimmed_exchanges = 0

    # -- display --------------------------------------------------------------------------

    def to_markdown(self) -> str:
        """The visible transcript: each question and its answer."""
        if not self.answers:
            return "*No questions yet.*"
        parts = []
        for number, answer in enumerate(self.answers, start=1):
            parts.append(f"**Q{number}.** {safe_markdown(answer.question)}")
            parts.append(safe_markdown(answer.text) or "*(no text)*")
            parts.append(f"<small>{html.escape(answer.footer())}</small>")
        if self.trimmed_exchanges:
            parts.append(
                f"<small>{self.trimmed_exchanges} older exchanges no longer sent to the model "
                "(history budget)</small>"
            )
        return "\n\n".join(parts)

    def to_text(self) -> str:
        """The visible transcript as plain text."""
        return "\n\n".join(
            f"Q{number}. {answer.question}\n{answer.text}\n-- {answer.footer()}"
            for number, answer in enumerate(self.answers, start=1)
        )

    def _repr_mimebundle_(self, **_: Any) -> dict[str, str]:
        return {"text/markdown": self.to_markdown(), "text/plain": self.to_text()}
