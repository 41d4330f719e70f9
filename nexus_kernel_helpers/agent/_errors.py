"""The agent's errors: one family under `NexusError`, each a single line a notebook can show.

    NexusError
    └── AgentError            the agent could not answer; `kind` says why

`kind` is one of "auth", "rate_limit", "overloaded", "connection", "stream", "api",
"no_key". Having no key is not an error: the answer is then replayed or offline. An error
that interrupts an answer keeps what had arrived in `partial` (an `Answer`), so a notebook
shows it and code can still use it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import NexusError

if TYPE_CHECKING:
    from ._answer import Answer

__all__ = ["AgentError"]


class AgentError(NexusError):
    """The agent could not answer: `kind` names the cause, `partial` holds what arrived."""

    def __init__(self, message: str, *, kind: str, fix: str | None = None) -> None:
        self.kind = kind
        self.partial: Answer | None = None
        super().__init__(message, fix=fix)
