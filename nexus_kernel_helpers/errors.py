"""Errors raised by the workbook.

Every error the workbook raises on purpose is a `NexusError`, with a message that says what
happened, why, and how to fix it. In a notebook it shows as that message alone, without a
traceback (IPython calls `_render_traceback_`), but it is still raised, so "Run All" stops.

    NexusError
    ├── ConfigurationError      a bad setting or argument (backend name, URL, ...)
    ├── SandboxRefusal          the sandbox will not run a statement; says which rule and why
    ├── AgentError              the agent could not answer (key rejected, rate limit, network);
    │                           defined in `agent._errors`, keeps the partial answer
    └── DatabaseError           the database could not do what was asked
        ├── BackendUnavailable  a backend cannot run here (no Docker, no image, ...)
        ├── LoadError           loading a file failed and was rolled back; names file and line
        └── QueryError          the server rejected a statement; carries position and caret
"""

from __future__ import annotations

from pathlib import Path

__all__ = [
    "BackendUnavailable",
    "ConfigurationError",
    "DatabaseError",
    "LoadError",
    "NexusError",
    "QueryError",
    "SandboxRefusal",
]


class NexusError(Exception):
    """Base of every error the workbook raises on purpose.

    `message` says what happened and why; `fix`, when given, says what to do about it.
    """

    def __init__(self, message: str, *, fix: str | None = None) -> None:
        self.message = message
        self.fix = fix
        super().__init__(f"{message}; {fix}" if fix else message)

    def _render_traceback_(self) -> list[str]:
        """Show the message alone in IPython, without the traceback."""
        return [f"{type(self).__name__}: {self}"]


class ConfigurationError(NexusError):
    """A setting or argument has a value the workbook cannot use."""


class SandboxRefusal(NexusError):
    """The sandbox refused a statement: `statement_type` names it, `reason` says why."""

    def __init__(self, statement_type: str, reason: str, *, fix: str | None = None) -> None:
        self.statement_type = statement_type
        self.reason = reason
        super().__init__(f"{statement_type} refused: {reason}", fix=fix)


class DatabaseError(NexusError):
    """The database could not do what was asked."""


class BackendUnavailable(DatabaseError):
    """A PostgreSQL backend cannot run on this machine right now."""


class LoadError(DatabaseError):
    """A load failed and was rolled back: `path`, `line` (when known) and `server_message`."""

    def __init__(self, path: Path, server_message: str, *, line: int | None = None) -> None:
        self.path = path
        self.line = line
        self.server_message = server_message
        where = path.name if line is None else f"{path.name} line {line}"
        super().__init__(
            f"{where}: {server_message}; nothing was loaded (the load ran in one transaction)"
        )


class QueryError(DatabaseError):
    """The server rejected a statement.

    `str()` gives the server's message, then the offending line of SQL with a caret under the
    position the server reported, then its hint, in the layout psql uses.
    """

    def __init__(
        self,
        message: str,
        *,
        sql: str,
        position: int | None = None,
        sqlstate: str | None = None,
        hint: str | None = None,
    ) -> None:
        self.message = message
        self.sql = sql
        self.position = position
        self.sqlstate = sqlstate
        self.hint = hint
        super().__init__(message)
        self.args = (self._format(),)

    def __str__(self) -> str:
        return self._format()

    @property
    def line_number(self) -> int | None:
        """1-based line of the error in `sql`, when the server reported a position."""
        if self.position is None:
            return None
        return self.sql.count("\n", 0, self.position - 1) + 1

    def _format(self) -> str:
        parts = [self.message]
        if self.position is not None and 0 < self.position <= len(self.sql) + 1:
            offset = self.position - 1
            line_start = self.sql.rfind("\n", 0, offset) + 1
            line_end = self.sql.find("\n", offset)
            line = self.sql[line_start : line_end if line_end >= 0 else None]
            prefix = f"LINE {self.line_number}: "
            parts.append(prefix + line.expandtabs(1))
            parts.append(" " * (len(prefix) + offset - line_start) + "^")
        if self.hint:
            parts.append(f"HINT: {self.hint}")
        return "\n".join(parts)
