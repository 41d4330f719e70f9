"""`Answer`: what `Nexus.ask()` returns, and the actions its code blocks offer.

An answer holds the text, the fenced code blocks found in it, the tool calls that grounded
it, token usage, the model, and whether it was live, replayed or offline. SQL blocks offer
Run (sandbox, read-only), Compare (against the query under discussion) and Insert (into a new
cell); DDL offers Try in what-if and Apply, the latter only after an explicit confirmation;
Python blocks offer Insert. Each button calls a plain method of `AnswerActions`.

Insert: JupyterLab takes a new cell from the kernel only in the reply to an execution
(`set_next_input`); a widget click is not an execution, so from a button the cell appears
when the next cell runs. `answer.insert(n)` run in a cell inserts at once; with `ipylab`
installed the button inserts at once too.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any, Literal

from .. import sandbox
from ..errors import NexusError
from ._context import plans_function
from ._display import markdown_bundle, safe_markdown, show, tool_line
from ._loop import Usage
from ._tools import ToolCall, ToolRunner

if TYPE_CHECKING:
    from ..postgres import Database, QueryResult

__all__ = ["Answer", "AnswerActions", "CodeBlock", "Mode", "code_blocks"]

Mode = Literal["live", "replayed", "offline"]

_FENCED = re.compile(
    r"^(?P<fence>`{3,}|~{3,})[ \t]*(?P<lang>[\w+-]*)[^\n]*\n(?P<code>.*?)^(?P=fence)[ \t]*$",
    re.M | re.S,
)
_SQL_NAMES = {"sql", "postgresql", "postgres", "pgsql", "psql", "plpgsql"}
_PYTHON_NAMES = {"python", "py", "python3", "ipython"}


@dataclass(frozen=True)
class CodeBlock:
    """A fenced code block of an answer: `language` ("sql", "python", ...) and `code`."""

    language: str
    code: str

    @property
    def statement_kind(self) -> str | None:
        """For one SQL statement: its kind ("SELECT", "CREATE INDEX", ...); else None."""
        if self.language != "sql":
            return None
        try:
            return sandbox.check(self.code, sandbox.Mode.APPLY).kind
        except NexusError:
            return None

    @property
    def is_read(self) -> bool:
        """Whether it is one statement the sandbox runs read-only."""
        if self.language != "sql":
            return False
        try:
            sandbox.check(self.code, sandbox.Mode.READ)
        except NexusError:
            return False
        return True

    @property
    def is_change(self) -> bool:
        """Whether it is one SQL statement that would change the database (DDL or DML)."""
        return self.language == "sql" and self.statement_kind is not None and not self.is_read


def code_blocks(text: str) -> list[CodeBlock]:
    """The fenced code blocks of Markdown text, languages normalised ("postgresql" -> "sql")."""
    blocks = []
    for match in _FENCED.finditer(text):
        language = match["lang"].lower()
        if language in _SQL_NAMES:
            language = "sql"
        elif language in _PYTHON_NAMES:
            language = "python"
        blocks.append(CodeBlock(language, match["code"].rstrip("\n")))
    return blocks


@dataclass
class Answer:
    """One answer of Nexus. `mode` is "live", "replayed" or "offline".

    `stop_reason` is the model's ("end_turn", "max_tokens", "refusal", ...) or the workbook's
    ("stopped", "interrupted", "step_limit", "error", "no_key"); `notice` explains any that is
    not a normal end.
    """

    question: str
    text: str
    tool_calls: list[ToolCall] = field(default_factory=list)
    usage: Usage = field(default_factory=Usage)
    model: str = ""
    mode: Mode = "live"
    stop_reason: str | None = None
    notice: str | None = None
    query: str | None = None
    db: Database | None = field(default=None, repr=False, compare=False)
    shown_in: int | None = field(default=None, repr=False, compare=False)

    @property
    def code_blocks(self) -> list[CodeBlock]:
        """Every fenced code block, in order."""
        return code_blocks(self.text)

    @property
    def sql_blocks(self) -> list[CodeBlock]:
        """The SQL blocks."""
        return [block for block in self.code_blocks if block.language == "sql"]

    @property
    def tool_results(self) -> list[ToolCall]:
        """The tool calls with their results (the same list as `tool_calls`)."""
        return self.tool_calls

    def footer(self) -> str:
        """One line: model, tokens, live or replayed."""
        usage = self.usage
        tokens = (
            f"{usage.input_tokens:,} in / {usage.output_tokens:,} out / "
            f"{usage.cache_read_tokens:,} cached tokens"
        )
        count = len(self.tool_calls)
        calls = f" · {count} tool call{'' if count == 1 else 's'}" if count else ""
        if self.mode == "offline":
            return f"Nexus · offline (no model was asked){calls}"
        how = "replayed from a transcript, tools re-run live" if self.mode == "replayed" else "live"
        return f"Nexus · {self.model or 'unknown model'} · {how} · {tokens}{calls}"

    def to_markdown(self) -> str:
        """The answer as Markdown: text, tool lines, notice, footer."""
        parts = [safe_markdown(self.text)] if self.text else []
        if self.tool_calls:
            parts.append("\n\n".join(tool_line(call) for call in self.tool_calls))
        if self.notice:
            parts.append(f"> **{html.escape(self.notice)}**")
        parts.append(f"---\n<small>{html.escape(self.footer())}</small>")
        return "\n\n".join(parts)

    def to_text(self) -> str:
        """The answer as plain text."""
        lines = [self.text]
        lines += [f"[{c.name} · {c.duration_ms:,.0f} ms · {c.summary}]" for c in self.tool_calls]
        if self.notice:
            lines.append(f"! {self.notice}")
        lines.append(f"-- {self.footer()}")
        return "\n".join(line for line in lines if line)

    def _repr_mimebundle_(self, **_: Any) -> dict[str, str]:
        return {"text/markdown": self.to_markdown(), "text/plain": self.to_text()}

    def _ipython_display_(self) -> None:
        """Show the answer with its buttons, unless this cell already streamed it."""
        from IPython import get_ipython

        shell = get_ipython()
        if shell is not None and self.shown_in == shell.execution_count:
            return
        show(markdown_bundle(self.to_markdown(), self.to_text()))
        widget = self.actions().widget()
        if widget is not None:
            show(widget)

    def __repr__(self) -> str:
        return f"<Answer {self.mode} {self.model} {len(self.text):,} chars {self.stop_reason}>"

    # -- actions --------------------------------------------------------------------------

    def actions(self) -> AnswerActions:
        """The actions of this answer's code blocks."""
        return AnswerActions(self)

    def run(self, index: int) -> QueryResult:
        """Run SQL block `index` read-only through the sandbox."""
        return self.actions().run(index)

    def insert(self, index: int) -> None:
        """Put code block `index` into a new cell below (at once when run from a cell)."""
        self.actions().insert(index)


class AnswerActions:
    """The buttons of an answer, as plain methods; `widget()` builds the ipywidgets."""

    def __init__(self, answer: Answer, *, show: Callable[[object], None] | None = None) -> None:
        self.answer = answer
        self._show = show
        self._output: Any = None
        self.pending_apply: int | None = None
        self.log: list[str] = []

    def _db(self) -> Database:
        if self.answer.db is None:
            from ..postgres import current_database

            return current_database()
        return self.answer.db

    def _block(self, index: int) -> CodeBlock:
        blocks = self.answer.code_blocks
        if not 0 <= index < len(blocks):
            raise NexusError(f"no code block {index}: this answer has {len(blocks)}")
        return blocks[index]

    def _display(self, value: object) -> None:
        if self._show is not None:
            self._show(value)
        elif self._output is not None:
            with self._output:
                show(value)

    def run(self, index: int) -> QueryResult:
        """Run: the block read-only, in the sandbox (as the notebook's role, rows capped)."""
        block = self._block(index)
        result = sandbox.run_readonly(self._db(), block.code)
        self.log.append(f"run {index}: {result.summary()}")
        self._display(result)
        return result

    def compare(self, index: int) -> object:
        """Compare: the block against the query under discussion, measured."""
        block = self._block(index)
        query = self.answer.query
        if not query:
            raise NexusError(
                "this answer has no query under discussion to compare with",
                fix="ask with sql=... or put the query in the question",
            )
        outcome = self._measure(before=query, after=block.code, setup=None)
        self._display(outcome)
        return outcome

    def what_if(self, index: int) -> object:
        """Try in what-if: the DDL in a rolled-back transaction, measured on the query."""
        block = self._block(index)
        query = self.answer.query
        if query is None:
            with sandbox.what_if(self._db(), block.code):
                pass
            outcome: object = markdown_bundle(
                "ran in a what-if transaction and rolled back: it works here",
                "ran in a what-if transaction and rolled back: it works here",
            )
        else:
            outcome = self._measure(before=query, after=None, setup=block.code)
        self.log.append(f"what-if {index}")
        self._display(outcome)
        return outcome

    def request_apply(self, index: int) -> str:
        """Apply, first click: nothing changes yet; a confirmation is asked for."""
        block = self._block(index)
        self.pending_apply = index
        message = f"Apply permanently?\n{block.code}\nThis changes the database; confirm to run it."
        self.log.append(f"apply {index} asked")
        return message

    def confirm_apply(self, index: int) -> QueryResult:
        """Apply, confirmed: the one permanent change, through `sandbox.apply`."""
        if self.pending_apply != index:
            raise NexusError(
                f"block {index} was not asked to be applied",
                fix="press Apply first, then confirm",
            )
        self.pending_apply = None
        result = sandbox.apply(self._db(), self._block(index).code, confirmed=True)
        self.log.append(f"applied {index}: {result.status}")
        self._display(result)
        return result

    def cancel_apply(self) -> None:
        """Apply, cancelled."""
        self.pending_apply = None

    def insert(self, index: int) -> str:
        """Insert: the code into a new cell below (see the module notes on timing)."""
        code = self._block(index).code
        block = self._block(index)
        text = f"%%sql\n{code}" if block.language == "sql" else code
        try:
            from ipylab import JupyterFrontEnd  # type: ignore[import-not-found]
        except ImportError:
            JupyterFrontEnd = None  # noqa: N806 - the optional class
        if JupyterFrontEnd is not None:
            app = JupyterFrontEnd()
            app.commands.execute("notebook:insert-cell-below")
            app.commands.execute("notebook:replace-selection", {"text": text})
            how = "inserted below"
        else:
            from IPython import get_ipython

            shell = get_ipython()
            if shell is None:
                raise NexusError("no notebook to insert into", fix="copy the code instead")
            shell.set_next_input(text, replace=False)
            how = "queued: it appears as a new cell when the next cell runs"
        self.log.append(f"insert {index}: {how}")
        return how

    def _measure(self, *, before: str, after: str | None, setup: str | None) -> object:
        compare = plans_function("compare")
        if compare is not None:
            comparison: object = compare(self._db(), before, after, setup=setup)
            return comparison
        runner = ToolRunner(self._db())
        if setup is not None:
            call = runner.run("action", "try_index", {"setup": [setup], "sql": before})
        else:
            call = runner.run("action", "compare_queries", {"before": before, "after": after})
        if call.is_error:
            raise NexusError(call.summary)
        return markdown_bundle(f"```\n{call.result}\n```", call.result)

    # -- widgets --------------------------------------------------------------------------

    def widget(self) -> Any:
        """The buttons as ipywidgets (None when there is no code block or no ipywidgets)."""
        blocks = self.answer.code_blocks
        if not blocks:
            return None
        try:
            import ipywidgets as widgets
        except ImportError:  # pragma: no cover - a declared dependency
            return None
        self._output = widgets.Output()
        rows = []
        for index, block in enumerate(blocks):
            label = block.statement_kind or block.language or "code"
            buttons = []
            if block.language == "sql" and block.is_read:
                buttons.append(self._button("Run", partial(self.run, index)))
                if self.answer.query:
                    buttons.append(self._button("Compare", partial(self.compare, index)))
            elif block.is_change:
                buttons.append(self._button("Try in what-if", partial(self.what_if, index)))
                buttons.append(self._apply_button(index))
            buttons.append(self._button("Insert", partial(self._insert_and_say, index)))
            rows.append(
                widgets.HBox([widgets.HTML(f"<code>{html.escape(f'#{index} {label}')}</code>"),
                              *buttons])
            )  # fmt: skip
        return widgets.VBox([*rows, self._output])

    def _insert_and_say(self, index: int) -> None:
        self._say(self.insert(index))

    def _say(self, text: str) -> None:
        self._display(markdown_bundle(html.escape(text), text))

    def _button(self, label: str, action: Callable[[], object]) -> Any:
        import ipywidgets as widgets

        button = widgets.Button(description=label)
        # Stable classes for browser tests and custom CSS: nx-answer-run, nx-answer-insert, ...
        button.add_class("nx-answer-" + label.lower().replace(" ", "-").strip("…."))

        def clicked(_: object) -> None:
            try:
                action()
            except NexusError as error:
                self._say(f"{type(error).__name__}: {error}")

        button.on_click(clicked)
        return button

    def _apply_button(self, index: int) -> Any:
        import ipywidgets as widgets

        apply = widgets.Button(description="Apply…", button_style="warning")
        confirm = widgets.Button(description="Confirm apply", button_style="danger")
        cancel = widgets.Button(description="Cancel")
        for button, name in ((apply, "apply"), (confirm, "confirm-apply"), (cancel, "cancel")):
            button.add_class(f"nx-answer-{name}")
        confirm.layout.display = cancel.layout.display = "none"

        def ask(_: object) -> None:
            self._say(self.request_apply(index))
            confirm.layout.display = cancel.layout.display = None

        def done(_: object) -> None:
            confirm.layout.display = cancel.layout.display = "none"

        def go(button: object) -> None:
            done(button)
            try:
                self.confirm_apply(index)
            except NexusError as error:
                self._say(f"{type(error).__name__}: {error}")

        def stop(button: object) -> None:
            done(button)
            self.cancel_apply()

        apply.on_click(ask)
        confirm.on_click(go)
        cancel.on_click(stop)
        return widgets.HBox([apply, confirm, cancel])
