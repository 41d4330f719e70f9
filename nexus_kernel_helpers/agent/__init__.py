"""Nexus, the agent: Claude in notebook cells, grounded in the live database.

    nexus = Nexus(db)                       # or nx.agent.default_nexus()
    answer = nexus.ask("Why is this slow? select ...")
    answer.code_blocks, answer.tool_calls, answer.usage, answer.mode
    nexus.transcript; nexus.reset()
    set_key()                               # asks with getpass; kept in this process only

Persona and rules (`_persona`), schema context (`_context`), tools through the sandbox
(`_tools`), the hand-written tool loop (`_loop`), the live output (`_display`), answers and
their buttons (`_answer`), conversation (`_conversation`), transcripts and replay
(`_transcripts`), the SDK client and its errors (`_client`, `_errors`).
"""

from ._answer import Answer, AnswerActions, CodeBlock
from ._client import clear_key, newest_model, set_key
from ._conversation import Conversation
from ._errors import AgentError
from ._loop import Usage
from ._nexus import Nexus, ask, default_nexus, reset, stop
from ._tools import ToolCall

__all__ = [
    "AgentError",
    "Answer",
    "AnswerActions",
    "CodeBlock",
    "Conversation",
    "Nexus",
    "ToolCall",
    "Usage",
    "ask",
    "clear_key",
    "default_nexus",
    "newest_model",
    "reset",
    "set_key",
    "stop",
]
