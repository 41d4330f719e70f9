"""`Nexus`: the agent bound to a database, and the plain functions the magics wrap.

    nexus = Nexus(db)
    answer = nexus.ask("Why is this slow? select ...")   # streamed into the cell
    nexus.transcript                                       # the visible conversation
    nexus.reset()

Modes (`NEXUS_AGENT` or `mode=`): "live" asks the model (without a key it replays a matching
transcript, else answers offline); "record" is live and saves each exchange; "replay" only
replays transcripts; "off" never asks. Offline answers say how to set the key and, when the
question is about a query, give the offline advisor's result.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..config import AgentMode, Settings, load_settings
from ..errors import ConfigurationError, NexusError
from ._answer import Answer, Mode
from ._client import agent_error, default_model, make_client, resolve_key
from ._context import find_sql, plan_summary, plan_text, plans_function, schema_context
from ._conversation import DEFAULT_HISTORY_TOKENS, Conversation
from ._display import LiveOutput, show
from ._errors import AgentError
from ._loop import DEFAULT_MAX_STEPS, DEFAULT_MAX_TOKENS, LoopResult, run_loop
from ._persona import system_prompt, untrusted
from ._tools import ToolRunner, tool_definitions
from ._transcripts import (
    Transcript,
    default_transcripts_dir,
    find_transcript,
    replay,
    save_transcript,
)

if TYPE_CHECKING:
    import anthropic

    from ..postgres import Database

__all__ = ["Nexus", "ask", "default_nexus", "reset", "stop"]

_UNFINISHED = ("stopped", "interrupted", "error")
KEY_HELP = (
    "Nexus is offline: no Anthropic API key is set. Run `%nexus_key` (or "
    "`nx.agent.set_key()`), or put `ANTHROPIC_API_KEY=...` in a `.env` file next to the notebook."
)
_NOTICES = {
    "max_tokens": "The answer reached the length limit (max_tokens) and was cut off here; "
    "ask for a shorter answer, or a follow-up such as 'continue'.",
    "refusal": "The model declined to answer this (stop reason: refusal); rephrase the "
    "question if it was harmless.",
    "stopped": "Stopped: the text above is what had arrived.",
    "interrupted": "Interrupted (Ctrl-C): the text above is what had arrived.",
    "step_limit": "The tool step limit was reached: the answer may rest on fewer measurements "
    "than the model wanted.",
    "model_context_window_exceeded": "The conversation no longer fits the model's context: "
    "run %nexus reset (or nexus.reset()) and ask again.",
}


class Nexus:
    """The agent, bound to a database (the kernel's current one when `db` is None)."""

    def __init__(
        self,
        db: Database | None = None,
        *,
        model: str | None = None,
        mode: AgentMode | None = None,
        client: anthropic.Anthropic | None = None,
        api_key: str | None = None,
        settings: Settings | None = None,
        record: bool | None = None,
        transcripts_dir: str | Path | None = None,
        max_steps: int = DEFAULT_MAX_STEPS,
        max_tokens: int = DEFAULT_MAX_TOKENS,
        history_tokens: int = DEFAULT_HISTORY_TOKENS,
        max_retries: int = 2,
        display: bool | None = None,
    ) -> None:
        self.settings = settings or load_settings()
        self.mode: AgentMode = mode or self.settings.agent_mode
        if self.mode not in ("live", "record", "replay", "off"):
            raise ConfigurationError(
                f"mode={self.mode!r} is not an agent mode: use live, record, replay or off"
            )
        self._db = db
        self.model = model or default_model(self.settings)
        self.record = self.mode == "record" if record is None else record
        directory = transcripts_dir or self.settings.transcripts_dir
        self.transcripts_dir = Path(directory) if directory else default_transcripts_dir()
        self.max_steps = max_steps
        self.max_tokens = max_tokens
        self.max_retries = max_retries
        self.display = display
        self.conversation = Conversation(history_tokens)
        self.last_answer: Answer | None = None
        self.last_result: LoopResult | None = None
        self.last_output: LiveOutput | None = None
        self._api_key = api_key
        self._client = client
        self._owns_client = client is None
        self._stop = threading.Event()
        self.stop_button: Any = None

    # -- public API -----------------------------------------------------------------------

    @property
    def db(self) -> Database:
        """The database Nexus reads (the kernel's current one unless one was given)."""
        if self._db is None:
            from ..postgres import current_database

            return current_database()
        return self._db

    @property
    def transcript(self) -> Conversation:
        """The visible conversation so far (rich display)."""
        return self.conversation

    def reset(self) -> None:
        """Start over: forget the conversation (the schema is read again on the next ask)."""
        self.conversation.reset()
        self.last_answer = None

    def stop(self) -> None:
        """End the answer being streamed (what arrived is kept)."""
        self._stop.set()

    def ask(self, question: str, *, sql: str | None = None, display: bool | None = None) -> Answer:
        """Ask a question; streams into the cell and returns the `Answer`.

        `sql` names the query under discussion; without it a query ending the question (or in
        a ```sql block) is found by parsing. Errors from the API raise `AgentError` after the
        partial answer is shown (`error.partial`); Ctrl-C shows and keeps what arrived
        (`last_answer`), then lets the interrupt stop the notebook run.
        """
        question = question.strip()
        if not question:
            raise ConfigurationError("the question is empty", fix="write a question")
        self._stop = threading.Event()
        query = sql.strip() if sql else find_sql(question)
        output = LiveOutput(enabled=self._display_enabled(display))
        self.last_output = output
        if self.mode == "off":
            return self._offline(question, query, output, "Nexus is off (NEXUS_AGENT=off).")
        if self.mode == "replay":
            return self._replay(question, query, output)
        if self._client is None and resolve_key(self.settings, self._api_key) is None:
            if find_transcript(self.transcripts_dir, question) is not None:
                return self._replay(question, query, output)
            return self._offline(question, query, output, KEY_HELP)
        return self._live(question, query, output)

    async def ask_async(self, question: str, *, sql: str | None = None) -> Answer:
        """`ask` without blocking the kernel (`await nexus.ask_async(...)` in a cell).

        The kernel stays free to handle widget messages, so the Stop button shown above the
        answer works while it streams; a blocking `ask` is stopped with Ctrl-C instead.
        """
        self.stop_button = self._stop_button()
        task = asyncio.ensure_future(asyncio.to_thread(self.ask, question, sql=sql))
        try:
            return await asyncio.shield(task)
        except BaseException:
            self.stop()
            raise
        finally:
            if self.stop_button is not None:
                self.stop_button.close()
                self.stop_button = None

    # -- the three ways of answering ------------------------------------------------------

    def _live(self, question: str, query: str | None, output: LiveOutput) -> Answer:
        db = self.db
        context = schema_context(db)
        system: list[dict[str, Any]] = [
            {"type": "text", "text": system_prompt()},
            {"type": "text", "text": context.text, "cache_control": {"type": "ephemeral"}},
        ]
        message = question
        if query:
            message += "\n\n" + self._plan_block(db, query)
        self.conversation.begin(message)
        output.start()
        result = run_loop(
            self._get_client(),
            model=self.model,
            system=system,
            tools=tool_definitions(),
            messages=self.conversation.messages,
            runner=ToolRunner(db, query=query),
            listener=output,
            max_steps=self.max_steps,
            max_tokens=self.max_tokens,
            stop=self._stop,
        )
        if self.record and result.error is None and result.stop_reason not in _UNFINISHED:
            save_transcript(
                self.transcripts_dir,
                question=question,
                query=query,
                result=result,
                secrets=self._secrets(),
            )
        return self._finish(question, query, result, "live", output)

    def _replay(self, question: str, query: str | None, output: LiveOutput) -> Answer:
        transcript = find_transcript(self.transcripts_dir, question)
        if transcript is None:
            return self._offline(
                question,
                query,
                output,
                f"No recorded answer for this question in {self.transcripts_dir} "
                "(NEXUS_AGENT=replay). " + KEY_HELP.removeprefix("Nexus is offline: "),
            )
        output.start("replaying…")
        self.conversation.begin(question)
        result = replay(transcript, ToolRunner(self.db, query=query), output)
        self._replay_history(transcript, result)
        return self._finish(question, query or transcript.query, result, "replayed", output)

    def _offline(self, question: str, query: str | None, output: LiveOutput, why: str) -> Answer:
        text = why
        if query:
            text += "\n\n" + self._offline_advice(query)
        output.on_text(text)
        answer = Answer(
            question=question,
            text=text,
            mode="offline",
            stop_reason="no_key" if why == KEY_HELP else self.mode,
            query=query,
            db=self._db,
        )
        output.finish(answer.footer())
        self._remember(answer, output)
        return answer

    # -- helpers --------------------------------------------------------------------------

    def _finish(
        self, question: str, query: str | None, result: LoopResult, mode: Mode, output: LiveOutput
    ) -> Answer:
        self.last_result = result
        self.conversation.end()
        answer = Answer(
            question=question,
            text=result.text,
            tool_calls=result.tool_calls,
            usage=result.usage,
            model=result.model or self.model,
            mode=mode,
            stop_reason=result.stop_reason,
            notice=_NOTICES.get(result.stop_reason or ""),
            query=query,
            db=self._db,
        )
        error = None
        if result.error is not None:
            error = agent_error(
                result.error,
                base_url=self.settings.anthropic_base_url,
                secrets=self._secrets(),
                retries=self.max_retries if _was_retried(result.error) else 0,
            )
            error.partial = answer
            answer.notice = str(error)
        if answer.notice:
            output.note(answer.notice)
        output.finish(answer.footer())
        self.conversation.record(answer)
        self._remember(answer, output)
        if error is not None:
            raise error
        if result.stop_reason == "interrupted":
            # The partial answer is shown and kept (`last_answer`); the interrupt goes on, so
            # "Run All" stops here like after any interrupted cell.
            raise KeyboardInterrupt
        return answer

    def _remember(self, answer: Answer, output: LiveOutput) -> None:
        self.last_answer = answer
        if not output.enabled:
            return
        from IPython import get_ipython

        shell = get_ipython()
        answer.shown_in = shell.execution_count if shell is not None else None
        widget = answer.actions().widget() if answer.code_blocks else None
        if widget is not None:
            show(widget)

    def _plan_block(self, db: Database, query: str) -> str:
        try:
            text, _ = plan_summary(db, query)
        except NexusError as error:
            text = f"the query could not be explained: {' '.join(str(error).split())}"
        return untrusted("measured plan of the query under discussion", f"{query}\n\n{text}")

    def _offline_advice(self, query: str) -> str:
        advise = plans_function("advise")
        if advise is None:
            try:
                _, plan = plan_summary(self.db, query)
            except NexusError as error:
                return f"The query could not be explained: {error}"
            return "The measured plan (offline advisor not built yet):\n\n```\n" + (
                plan_text(plan) + "\n```"
            )
        try:
            advice = advise(self.db, query)
        except NexusError as error:
            return f"The offline advisor could not look at the query: {error}"
        return str(advice.to_markdown())

    def _replay_history(self, transcript: Transcript, result: LoopResult) -> None:
        """Replayed answers join the history as plain text (their tool ids are not real)."""
        if result.text:
            self.conversation.messages.append(
                {"role": "assistant", "content": [{"type": "text", "text": result.text}]}
            )

    def _get_client(self) -> anthropic.Anthropic:
        if self._client is None:
            key = resolve_key(self.settings, self._api_key)
            if key is None:  # pragma: no cover - ask() checked before
                raise AgentError("no Anthropic API key is set", kind="no_key")
            self._client = make_client(
                key, base_url=self.settings.anthropic_base_url, max_retries=self.max_retries
            )
        return self._client

    def _secrets(self) -> list[str | None]:
        secrets: list[str | None] = [resolve_key(self.settings, self._api_key)]
        if self._client is not None:
            secrets.append(getattr(self._client, "api_key", None))
        with contextlib.suppress(NexusError):
            secrets.append(self.db.client_env().get("PGPASSWORD"))
        return secrets

    def _display_enabled(self, display: bool | None) -> bool:
        if display is not None:
            return display
        if self.display is not None:
            return self.display
        from IPython import get_ipython

        shell = get_ipython()
        return shell is not None and getattr(shell, "kernel", None) is not None

    def _stop_button(self) -> Any:
        if not self._display_enabled(None):
            return None
        import ipywidgets as widgets

        button = widgets.Button(description="Stop", button_style="warning", icon="stop")
        button.on_click(lambda _: self.stop())
        show(button)
        return button

    def close(self) -> None:
        """Close the HTTP client (its pooled connections); the next ask opens a new one."""
        if self._client is not None and self._owns_client:
            self._client.close()
            self._client = None

    def __enter__(self) -> Nexus:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<Nexus {self.mode} {self.model} {len(self.conversation.answers)} answers>"


def _was_retried(error: BaseException) -> bool:
    import anthropic

    if isinstance(error, anthropic.APIStatusError):
        return error.status_code in (408, 409, 429) or error.status_code >= 500
    return isinstance(error, anthropic.APIConnectionError)


# -- the kernel's default agent, for the magics ---------------------------------------------


class _Default:
    """The kernel's agent, made on first use (one accessor, no import-time state)."""

    def __init__(self) -> None:
        self.nexus: Nexus | None = None
        self.lock = threading.Lock()


_default = _Default()


def default_nexus(db: Database | None = None, **options: Any) -> Nexus:
    """The kernel's `Nexus` (made on first use; `db` or options given make a new one)."""
    with _default.lock:
        if _default.nexus is None or db is not None or options:
            _default.nexus = Nexus(db, **options)
        return _default.nexus


def ask(question: str, *, sql: str | None = None, nexus: Nexus | None = None) -> Answer:
    """Ask the kernel's Nexus (what `%%nexus` runs)."""
    return (nexus or default_nexus()).ask(question, sql=sql)


def reset(nexus: Nexus | None = None) -> None:
    """Forget the conversation of the kernel's Nexus (what `%nexus reset` runs)."""
    (nexus or default_nexus()).reset()


def stop(nexus: Nexus | None = None) -> None:
    """Stop the answer being streamed by the kernel's Nexus."""
    (nexus or default_nexus()).stop()
