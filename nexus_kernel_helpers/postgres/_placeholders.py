r"""`:name` placeholders, as in SQLAlchemy's `text()`, turned into bound psycopg parameters.

The scanner knows enough SQL to leave alone what is not a placeholder: string literals
('...', E'...'), quoted identifiers, dollar-quoted bodies, comments, `::` casts, and `\\:`
(an escaped colon). Values are always sent as parameters, never spliced into the text.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Mapping
from dataclasses import dataclass

from ..errors import ConfigurationError

_DOLLAR_TAG = re.compile(r"\$([A-Za-z_][A-Za-z_0-9]*)?\$")
_NAME = re.compile(r"[A-Za-z_][A-Za-z_0-9]*")


@dataclass(frozen=True)
class BoundQuery:
    """A query rewritten for psycopg, and a way back to positions in the original text."""

    original: str
    psycopg_text: str
    names: tuple[str, ...]
    # Sorted (server offset, original offset) pairs where the two texts realign.
    anchors: tuple[tuple[int, int], ...]

    @property
    def server_text(self) -> str:
        """The text as the server receives it, with `$1`, `$2`, ... for the placeholders."""
        text = self.psycopg_text
        for index, name in enumerate(self.names, start=1):
            text = text.replace(f"%({name})s", f"${index}")
        return text.replace("%%", "%")

    def original_position(self, server_position: int) -> int:
        """Map a 1-based position the server reported to a 1-based position in `original`."""
        offset = server_position - 1
        index = bisect.bisect_right([server for server, _ in self.anchors], offset) - 1
        server_start, original_start = self.anchors[max(index, 0)]
        return original_start + (offset - server_start) + 1

    def values(self, params: Mapping[str, object]) -> dict[str, object]:
        """Pick the values the placeholders name; say which are missing."""
        missing = [name for name in self.names if name not in params]
        if missing:
            raise ConfigurationError(
                f"no value for placeholder {', '.join(':' + n for n in missing)}: "
                "pass it in params (or define the variable for %%sql)"
            )
        return {name: params[name] for name in self.names}


def placeholder_names(sql: str) -> tuple[str, ...]:
    """The `:name` placeholders in `sql`, in order of first appearance."""
    return bind_named(sql).names


def bind_named(sql: str) -> BoundQuery:
    """Rewrite `:name` into `%(name)s` (and `%` into `%%`) outside literals and comments."""
    out: list[str] = []
    names: list[str] = []
    anchors: list[tuple[int, int]] = [(0, 0)]
    server_offset = 0  # length of the text the server will see, so far
    i, n = 0, len(sql)

    def emit(chunk: str, server_chunk: str, consumed: int) -> None:
        nonlocal server_offset, i
        out.append(chunk)
        server_offset += len(server_chunk)
        i += consumed

    while i < n:
        char = sql[i]
        end = _literal_end(sql, i)
        if end > i:
            emit(sql[i:end].replace("%", "%%"), sql[i:end], end - i)
        elif char == "\\" and sql.startswith("\\:", i):
            emit(":", ":", 2)
            anchors.append((server_offset, i))
        elif char == ":" and sql.startswith("::", i):
            emit("::", "::", 2)
        elif char == ":" and _may_start_placeholder(sql, i) and (match := _NAME.match(sql, i + 1)):
            name = match.group()
            if name not in names:
                names.append(name)
            server_text = f"${names.index(name) + 1}"
            emit(f"%({name})s", server_text, 1 + len(name))
            anchors.append((server_offset, i))
        elif char == "%":
            emit("%%", "%", 1)
        else:
            emit(char, char, 1)
    return BoundQuery(sql, "".join(out), tuple(names), tuple(anchors))


def _literal_end(sql: str, start: int) -> int:  # noqa: PLR0911 - one return per token kind
    """End of the literal, quoted identifier or comment starting at `start`, else `start`."""
    char = sql[start]
    if char == "'" or (char in "eE" and sql.startswith("'", start + 1) and _word_start(sql, start)):
        quote_at = start if char == "'" else start + 1
        return _quoted_end(sql, quote_at, "'", backslashes=char != "'")
    if char == '"':
        return _quoted_end(sql, start, '"', backslashes=False)
    if sql.startswith("--", start):
        newline = sql.find("\n", start)
        return len(sql) if newline < 0 else newline
    if sql.startswith("/*", start):
        depth, i = 0, start
        while i < len(sql):
            if sql.startswith("/*", i):
                depth, i = depth + 1, i + 2
            elif sql.startswith("*/", i):
                depth, i = depth - 1, i + 2
                if depth == 0:
                    return i
            else:
                i += 1
        return len(sql)
    if char == "$" and _word_start(sql, start) and (tag := _DOLLAR_TAG.match(sql, start)):
        close = sql.find(tag.group(), tag.end())
        return len(sql) if close < 0 else close + len(tag.group())
    return start


def _quoted_end(sql: str, quote_at: int, quote: str, *, backslashes: bool) -> int:
    i = quote_at + 1
    while i < len(sql):
        if backslashes and sql[i] == "\\":
            i += 2
        elif sql[i] == quote:
            if sql.startswith(quote, i + 1):
                i += 2
            else:
                return i + 1
        else:
            i += 1
    return len(sql)


def _may_start_placeholder(sql: str, index: int) -> bool:
    """A colon right after a name or number is a slice (`a[lo:hi]`), not a placeholder."""
    return index == 0 or not (sql[index - 1].isalnum() or sql[index - 1] in "_$")


def _word_start(sql: str, index: int) -> bool:
    """Whether `index` starts a token (so `name$1$` or `sue'` are not literal openers)."""
    return index == 0 or not (sql[index - 1].isalnum() or sql[index - 1] in "_$")
