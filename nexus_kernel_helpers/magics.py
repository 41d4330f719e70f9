"""IPython magics: thin wrappers over the Python API.

`%nexus_db start|status|reset|stop` wraps `start_database()` / `current_database()`; `%%sql`,
`%explain`, `%%compare` and `%%advise` wrap `Database.query()`, `.explain()`, `.compare()` and
`.advise()`; `%%nexus` and `%nexus_key` wrap `agent.ask()` and `agent.set_key()`. `:name`
placeholders take values from the notebook's variables and are sent as bound parameters,
never pasted into the SQL.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from IPython.core.magic import Magics, cell_magic, line_cell_magic, line_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments, parse_argstring
from IPython.display import display

from .config import BACKENDS
from .errors import ConfigurationError
from .postgres import QueryResult, current_database, start_database
from .postgres._placeholders import placeholder_names
from .postgres._result import DISPLAY_ROWS

if TYPE_CHECKING:
    from .agent import Answer
    from .plans import Advice, Comparison, Plan

__all__ = ["NexusMagics", "split_compare_cell", "split_leading_options"]


@magics_class
class NexusMagics(Magics):
    """The workbook's magics; registered by `%load_ext nexus_kernel_helpers`."""

    @magic_arguments()
    @argument("action", choices=["start", "status", "reset", "stop"], help="what to do")
    @argument("--backend", choices=BACKENDS, help="where PostgreSQL comes from")
    @argument("--url", help="server URL for backend 'url' (better: NEXUS_DATABASE_URL)")
    @argument("--image", help="Docker image for backend 'docker'")
    @argument("--new", action="store_true", help="start a new database even if one runs")
    @argument("--dataset", help="load a built-in dataset, e.g. shop")
    @argument("--scale", type=float, default=0.01, help="dataset scale (1 = a million orders)")
    @argument("--seed", type=int, default=42, help="dataset seed")
    @line_magic
    def nexus_db(self, line: str) -> None:
        """Start, show or stop the kernel's database."""
        args = parse_argstring(self.nexus_db, line)
        if args.action == "start":
            db = start_database(
                args.backend,
                url=args.url,
                image=args.image,
                reuse=not args.new,
                dataset=args.dataset,
                scale=args.scale,
                seed=args.seed,
            )
            display(db)
        elif args.action == "status":
            display(current_database())
        elif args.action == "reset":
            db = current_database()
            db.reset()
            display(db)
        else:
            db = current_database()
            db.stop()
            display(db)

    @magic_arguments()
    @argument("--max-rows", type=int, default=10_000, help="fetch at most this many rows")
    @argument("--show", type=int, default=DISPLAY_ROWS, help="show at most this many rows")
    @argument("-o", "--out", help="also store the result in this variable")
    @cell_magic
    def sql(self, line: str, cell: str) -> QueryResult:
        """Run the cell's SQL on the kernel's database; `:name` binds the variable `name`."""
        args = parse_argstring(self.sql, line)
        result = current_database().query(
            cell, self._params(cell), max_rows=args.max_rows, display_rows=args.show
        )
        if args.out:
            self._namespace[args.out] = result
        return result

    @line_cell_magic
    def explain(self, line: str, cell: str | None = None) -> Plan:
        """EXPLAIN ANALYZE a statement through the sandbox and show its plan tree.

        `%explain [--no-analyze] [-o NAME] SELECT ...`, or the statement in a `%%explain` cell.
        """
        options, statement = split_leading_options(line)
        sql = cell if cell is not None else statement
        plan = current_database().explain(
            sql, self._params(sql), analyze="--no-analyze" not in options
        )
        if "--out" in options:
            self._namespace[options["--out"]] = plan
        return plan

    @magic_arguments()
    @argument("--runs", type=int, default=15, help="measured runs per side")
    @argument("--warmup", type=int, default=2, help="discarded warm-up runs per side")
    @argument("--setup", help="DDL applied only for the after side, e.g. 'create index ...'")
    @argument("-o", "--out", help="also store the comparison in this variable")
    @cell_magic
    def compare(self, line: str, cell: str) -> Comparison:
        """Compare the cell's `-- before` query with its `-- after` query and/or `-- setup`."""
        args = parse_argstring(self.compare, line)
        parts = split_compare_cell(cell)
        setup = parts.get("setup") or args.setup
        comparison = current_database().compare(
            parts["before"],
            parts.get("after"),
            setup=setup,
            runs=args.runs,
            warmup=args.warmup,
            params=self._params(cell),
        )
        if args.out:
            self._namespace[args.out] = comparison
        return comparison

    @magic_arguments()
    @argument("--no-verify", action="store_true", help="do not measure index candidates")
    @argument("-o", "--out", help="also store the advice in this variable")
    @cell_magic
    def advise(self, line: str, cell: str) -> Advice:
        """Rule-based advice on the cell's query; index ideas are measured in a what-if."""
        args = parse_argstring(self.advise, line)
        advice = current_database().advise(cell, self._params(cell), verify=not args.no_verify)
        if args.out:
            self._namespace[args.out] = advice
        return advice

    @line_cell_magic
    def nexus(self, line: str, cell: str | None = None) -> Answer | None:
        """Ask Nexus: `%%nexus` with the question in the cell; `%nexus reset` forgets the chat.

        SQL in the cell (after the question) is what the question is about.
        """
        from . import agent

        if cell is None and line.strip().lower() in {"reset", "stop"}:
            (agent.reset if line.strip().lower() == "reset" else agent.stop)()
            return None
        question = "\n".join(part for part in (line.strip(), cell or "") if part.strip())
        if not question.strip():
            raise ConfigurationError(
                "%%nexus needs a question", fix="write it in the cell, e.g. `Why is this slow?`"
            )
        return agent.ask(question)

    @line_magic
    def nexus_key(self, line: str) -> None:
        """Ask for the Anthropic API key (getpass); it stays in this kernel's memory only."""
        from . import agent

        del line  # a key typed on the magic's line would be saved in the notebook
        agent.set_key()

    @property
    def _namespace(self) -> dict[str, Any]:
        return self.shell.user_ns if self.shell is not None else {}

    def _params(self, sql: str) -> dict[str, Any] | None:
        """Values for the statement's `:name` placeholders, from the notebook's variables."""
        names = placeholder_names(sql)
        missing = [name for name in names if name not in self._namespace]
        if missing:
            raise ConfigurationError(
                f"no variable for {', '.join(':' + name for name in missing)}",
                fix="define it in an earlier cell; its value is sent as a bound parameter",
            )
        return {name: self._namespace[name] for name in names} if names else None


_OPTION = re.compile(r"\s*(--no-analyze|(?:-o|--out)\s+([A-Za-z_]\w*))(?=\s|$)")


def split_leading_options(line: str) -> tuple[dict[str, str], str]:
    """Take `--no-analyze` and `-o NAME` off the front of a line; the rest is SQL, verbatim.

    SQL is never run through a shell-style splitter, which would eat its quotes.
    """
    options: dict[str, str] = {}
    while match := _OPTION.match(line):
        if match.group(2):
            options["--out"] = match.group(2)
        else:
            options["--no-analyze"] = ""
        line = line[match.end() :]
    return options, line.strip()


_SECTION = re.compile(r"^\s*--\s*(before|after|setup)\s*:?\s*$", re.IGNORECASE)


def split_compare_cell(cell: str) -> dict[str, str]:
    """Split a `%%compare` cell at `-- before` / `-- after` / `-- setup` lines.

    Text above the first marker belongs to "before"; empty sections are left out.
    """
    sections: dict[str, list[str]] = {"before": []}
    current = "before"
    for line in cell.splitlines():
        marker = _SECTION.match(line)
        if marker:
            current = marker.group(1).lower()
            sections.setdefault(current, [])
        else:
            sections[current].append(line)
    parts = {name: "\n".join(lines).strip() for name, lines in sections.items()}
    parts = {name: text for name, text in parts.items() if text}
    if "before" not in parts:
        raise ConfigurationError(
            "the %%compare cell has no query before its first marker or under `-- before`",
            fix="write the query to measure first, then `-- after` and/or `-- setup` sections",
        )
    return parts
