"""Bring your own data: plain SQL dumps, pg_dump archives and CSV files, each loaded atomically.

    load_sql(db, "pagila-schema.sql"); load_sql(db, "pagila-data.sql")
    load_dump(db, "dvdrental.dump")                  # pg_dump -Fc (or a -Fd directory)
    load_csv(db, "cities.csv", "public.cities")

Every load runs in one transaction: if any statement or row fails, the database is left as it
was and `LoadError` names the file, the line when known, and the server's message.

SQL goes through the embedded wheel's `psql` (18.x, which also talks to older servers), so
psql-style `COPY ... FROM stdin` blocks and meta-commands work as they do in a terminal. The
script is streamed through a filter that keeps its line numbers and blanks out, as pg_restore's
`--no-owner --no-privileges` would, what cannot or should not run against the database you load
into (see `_SKIPPED`). A custom-format archive is turned into such a script by `pg_restore -f -`
and loaded the same way.
"""

from __future__ import annotations

import bisect
import contextlib
import os
import re
import subprocess
import tempfile
import time
from collections.abc import Generator, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Literal, cast

import psycopg
from psycopg import sql

from .. import _html
from ..errors import ConfigurationError, DatabaseError, LoadError
from ..postgres._conninfo import redact
from ..postgres._embedded import binaries_dir

if TYPE_CHECKING:
    from ..postgres import Database

__all__ = ["LoadReport", "dump", "load_csv", "load_dump", "load_sql"]

_CSV_CHUNK = 256 * 1024
_UTF8_BOM = b"\xef\xbb\xbf"
_ARCHIVE_MAGIC = b"PGDMP"
_SHOWN_TABLES = 10

# Whole-line statements blanked out of a script: the shapes pg_dump writes them in, at column 0,
# outside COPY data and dollar-quoted bodies. Owners and privileges name roles this server may not
# have (`OWNER TO postgres` on a server whose superuser is `nexus`); the target is the database
# you load into, not one the script creates or connects to; and the load is one transaction
# already, so a script's own BEGIN/COMMIT would commit half of it.
_SKIPPED = re.compile(
    rb"""^(?:
        ALTER\s.+\sOWNER\s+TO\s.+
      | ALTER\s+DEFAULT\s+PRIVILEGES\s.+
      | (?:GRANT|REVOKE)\s.+
      | SET\s+SESSION\s+AUTHORIZATION\s.+
      | (?:CREATE|DROP|ALTER)\s+DATABASE\s.+
      | COMMENT\s+ON\s+DATABASE\s.+
      | (?:BEGIN|COMMIT|END|START\s+TRANSACTION)(?:\s+(?:WORK|TRANSACTION))?\s*
    );\s*$|^\\c(?:onnect)?(?:\s.*)?$""",
    re.IGNORECASE | re.VERBOSE,
)
# Session settings pg_dump and pg_restore write at the top of every script. Newer ones (pg_dump
# 17+ writes `SET transaction_timeout = 0;`) are blanked out on servers that lack them.
_DUMP_SETTINGS = (
    "transaction_timeout",
    "idle_in_transaction_session_timeout",
    "default_table_access_method",
    "row_security",
    "xmloption",
)
_SET = re.compile(rb"^SET\s+(\w+)\s*(?:=|\sTO\s)", re.IGNORECASE)
_COPY_FROM_STDIN = re.compile(rb"^\\?COPY\s.*\sFROM\s+STDIN\b", re.IGNORECASE)
_DOLLAR_TAG = re.compile(rb"\$(?:[A-Za-z_][A-Za-z_0-9]*)?\$")
_COPY_END = b"\\."

# psql reports `psql:<stdin>:12: ERROR:  relation "x" does not exist`, then DETAIL/CONTEXT lines.
_PSQL_ERROR = re.compile(r"^psql:<stdin>:(\d+): (?:ERROR|FATAL|error):\s*(.*)$")
_COPY_CONTEXT = re.compile(r"\bCOPY [^,]+, line (\d+)")

_TABLES = """
select format('%I.%I', n.nspname, c.relname)
from pg_class c join pg_namespace n on n.oid = c.relnamespace
where c.relkind in ('r', 'p') and n.nspname <> 'information_schema' and n.nspname !~ '^pg_'
"""


@dataclass(frozen=True)
class LoadReport:
    """What a load did: the tables it created, rows (for CSV), statements skipped, time taken."""

    path: Path
    kind: Literal["sql", "dump", "csv"]
    elapsed_ms: float
    tables: tuple[str, ...] = ()
    rows: int | None = None
    skipped: int = 0

    def display_fields(self) -> list[tuple[str, str]]:
        """What the card shows, as (label, value) pairs."""
        fields = [("file", str(self.path)), ("kind", self.kind)]
        if self.rows is not None:
            fields.append(("rows", f"{self.rows:,}"))
        if self.tables:
            shown = ", ".join(self.tables[:_SHOWN_TABLES])
            more = len(self.tables) - _SHOWN_TABLES
            fields.append(("new tables", shown + (f" and {more} more" if more > 0 else "")))
        if self.skipped:
            fields.append(
                ("skipped", f"{self.skipped} owner, privilege, database or BEGIN/COMMIT lines")
            )
        fields.append(("time", f"{self.elapsed_ms:,.0f} ms"))
        return fields

    def _repr_html_(self) -> str:
        return _html.card(f"Loaded {self.path.name}", self.display_fields())

    def __repr__(self) -> str:
        what = f"{self.rows} rows" if self.rows is not None else f"{len(self.tables)} new tables"
        return f"<LoadReport {self.kind} {self.path.name!r}: {what} in {self.elapsed_ms:.0f} ms>"


# -- public loaders -------------------------------------------------------------------------


def load_sql(db: Database, path: str | Path) -> LoadReport:
    """Run a plain SQL file (a `pg_dump` script or your own) with psql, in one transaction.

    `COPY ... FROM stdin` data blocks are supported. Owner, privilege and database-level
    statements written by pg_dump are skipped (see the module docstring); statements that cannot
    run in a transaction (CREATE INDEX CONCURRENTLY, VACUUM) fail the load.
    """
    file = _existing_file(path)
    started = time.perf_counter()
    before = _tables(db)
    with file.open("rb") as lines:
        skipped = _run_psql(db, file, lines, report_lines=True)
    return LoadReport(file, "sql", _ms_since(started), _new_tables(db, before), skipped=skipped)


def load_dump(db: Database, path: str | Path) -> LoadReport:
    """Restore a `pg_dump -Fc` archive (or a `-Fd` directory) in one transaction.

    Objects are owned by the role you connect as, and no privileges are restored
    (`pg_restore --no-owner --no-privileges`).
    """
    archive = _archive(path)
    started = time.perf_counter()
    before = _tables(db)
    with contextlib.closing(_restored_script(archive, _client_env(db))) as script:
        skipped = _run_psql(db, archive, script, report_lines=False)
    return LoadReport(archive, "dump", _ms_since(started), _new_tables(db, before), skipped=skipped)


def dump(db: Database, path: str | Path, *, plain: bool = False) -> Path:
    """Write the current database to `path` with the embedded wheel's `pg_dump` (18.x).

    A custom-format archive by default (`load_dump()` and `pg_restore` read it), or a plain SQL
    script with `plain=True`. Owners and privileges are left out, so it loads as any role. The
    file is written next to `path` first and renamed when complete: a failed dump leaves no
    half file behind.
    """
    target = Path(path).expanduser()
    if not target.parent.is_dir():
        raise ConfigurationError(
            f"cannot write {str(target)!r}: its folder does not exist", fix="create it first"
        )
    env = _client_env(db)
    partial = target.with_name(f".{target.name}.partial")
    command = [_tool("pg_dump"), "--no-password", "--no-owner", "--no-privileges"]
    command += ["--format=plain" if plain else "--format=custom", f"--file={partial}"]
    finished = subprocess.run(command, env=env, capture_output=True, check=False)
    if finished.returncode != 0:
        partial.unlink(missing_ok=True)
        message = finished.stderr.decode(errors="replace").strip().splitlines()
        reason = message[-1].removeprefix("pg_dump: error: ") if message else "pg_dump failed"
        raise DatabaseError(
            f"pg_dump could not write {target.name}: {redact(reason, [env.get('PGPASSWORD')])}",
            fix="check that the server is running and that your role may read every table",
        )
    partial.replace(target)
    return target


def load_csv(
    db: Database, path: str | Path, table: str, *, header: bool = True, delimiter: str = ","
) -> LoadReport:
    """Stream a UTF-8 CSV file into an existing `table` ("name" or "schema.name") with COPY.

    Each part of `table` is quoted as an identifier, exactly as spelled (case matters). In CSV,
    an empty unquoted field is NULL and `""` an empty string.
    """
    file = _existing_file(path)
    if len(delimiter) != 1:
        raise ConfigurationError(f"the delimiter must be one character, not {delimiter!r}")
    copy_sql = sql.SQL(
        "COPY {} FROM STDIN (FORMAT csv, HEADER {}, DELIMITER {}, ENCODING 'UTF8')"
    ).format(_table_identifier(table), sql.Literal(header), sql.Literal(delimiter))
    started = time.perf_counter()
    secret = db.client_env().get("PGPASSWORD")
    try:
        with db.connect() as connection, connection.cursor() as cursor, file.open("rb") as data:
            with cursor.copy(copy_sql) as copy:
                chunk = data.read(_CSV_CHUNK)
                if chunk.startswith(_UTF8_BOM):  # spreadsheet exports often start with one
                    chunk = chunk[len(_UTF8_BOM) :]
                while chunk:
                    copy.write(chunk)
                    chunk = data.read(_CSV_CHUNK)
            rows = cursor.rowcount
    except psycopg.Error as error:
        diag = error.diag
        message = diag.message_primary or str(error).strip().splitlines()[0]
        context = _COPY_CONTEXT.search(diag.context or "")
        raise LoadError(
            file,
            redact(_with_detail(message, diag.message_detail), [secret]),
            line=int(context[1]) if context else None,
        ) from None
    return LoadReport(file, "csv", _ms_since(started), rows=rows)


# -- files ----------------------------------------------------------------------------------


def _existing_file(path: str | Path) -> Path:
    file = Path(path).expanduser()
    if file.is_dir():
        raise ConfigurationError(
            f"{str(file)!r} is a directory, not a file", fix="pass the path of the file itself"
        )
    if not file.is_file():
        raise ConfigurationError(
            f"no such file: {str(file)!r}",
            fix=f"check the path (relative paths start from {os.getcwd()!r})",
        )
    return file


def _archive(path: str | Path) -> Path:
    """`path` if it is a custom-format archive or a directory-format dump, else a clear error."""
    given = Path(path).expanduser()
    if given.is_dir():
        if not (given / "toc.dat").is_file():
            raise ConfigurationError(
                f"{str(given)!r} is a directory, not a pg_dump archive (it has no toc.dat)",
                fix="name a pg_dump -Fc file, or a directory written by pg_dump -Fd",
            )
        head = _first_bytes(given / "toc.dat")
    else:
        head = _first_bytes(_existing_file(given))
    if head != _ARCHIVE_MAGIC:
        raise ConfigurationError(
            f"{given.name!r} is not a pg_dump custom-format archive",
            fix="for a plain .sql dump use load_sql()",
        )
    return given


def _first_bytes(file: Path) -> bytes:
    with file.open("rb") as data:
        return data.read(len(_ARCHIVE_MAGIC))


def _table_identifier(table: str) -> sql.Identifier:
    parts = table.split(".")
    if not 1 <= len(parts) <= 2 or not all(parts):
        raise ConfigurationError(
            f"table must be 'name' or 'schema.name', not {table!r}",
            fix="pass the name as the catalog spells it, e.g. 'public.orders'",
        )
    return sql.Identifier(*parts)


# -- psql -----------------------------------------------------------------------------------


class _Script:
    """A psql script passed through line by line, with `_SKIPPED` lines blanked.

    Blanking (rather than dropping) keeps psql's line numbers those of the file; the starts of
    `COPY ... FROM stdin` blocks are noted to place errors in COPY data.
    """

    def __init__(self, unknown_settings: frozenset[bytes]) -> None:
        self.unknown_settings = unknown_settings
        self.copy_starts: list[int] = []
        self.skipped = 0

    def lines(self, source: Iterable[bytes]) -> Iterator[bytes]:
        in_copy = False
        dollar_tag: bytes | None = None  # inside a $tag$ ... $tag$ body (function source)
        for number, line in enumerate(source, start=1):
            if in_copy:
                in_copy = line.rstrip(b"\r\n") != _COPY_END
            elif dollar_tag is None and self._skips(line):
                self.skipped += 1
                yield b"\n"
                continue
            elif dollar_tag is None and _COPY_FROM_STDIN.match(line):
                in_copy = True
                self.copy_starts.append(number)
            elif not line.startswith(b"--"):
                for tag in _DOLLAR_TAG.findall(line):
                    if dollar_tag is None:
                        dollar_tag = tag
                    elif tag == dollar_tag:
                        dollar_tag = None
            yield line

    def _skips(self, line: bytes) -> bool:
        if _SKIPPED.match(line):
            return True
        setting = _SET.match(line)
        return setting is not None and setting[1].lower() in self.unknown_settings

    def file_line(self, psql_line: int, copy_line: int | None) -> int:
        """The file's line of an error: psql reports a COPY error at the block's end."""
        if copy_line is None:
            return psql_line
        block = bisect.bisect_left(self.copy_starts, psql_line) - 1
        return self.copy_starts[block] + copy_line if block >= 0 else psql_line


def _run_psql(db: Database, path: Path, source: Iterable[bytes], *, report_lines: bool) -> int:
    """Feed `source` to psql in one transaction; raise LoadError on failure; return skipped."""
    script = _Script(_unknown_settings(db))
    env = _client_env(db)
    # --no-password: a missing password fails at once instead of prompting in a kernel.
    command = [_tool("psql"), "-X", "-q", "--no-password", "-v", "ON_ERROR_STOP=1"]
    with tempfile.TemporaryFile() as errors:
        psql = subprocess.Popen(
            [*command, "--single-transaction", "--file=-"],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=errors,
            env=env,
        )
        stdin = cast(IO[bytes], psql.stdin)
        try:
            try:
                stdin.writelines(script.lines(source))
                stdin.close()  # end of input: psql commits
            except BrokenPipeError:
                pass  # psql stopped at an error; its stderr says which
            returncode = psql.wait()
        except BaseException:
            # Kill before the pipe closes: psql must never see the end of a partial script.
            psql.kill()
            psql.wait()
            raise
        finally:
            with contextlib.suppress(OSError):
                stdin.close()
        if returncode != 0:
            message, psql_line, copy_line = _psql_failure(_read(errors))
            where = script.file_line(psql_line, copy_line) if report_lines and psql_line else None
            raise LoadError(path, redact(message, [env.get("PGPASSWORD")]), line=where)
    return script.skipped


def _psql_failure(stderr: str) -> tuple[str, int | None, int | None]:
    """The message, psql's line and the COPY data line of the first error psql reported."""
    lines = stderr.splitlines()
    for index, text in enumerate(lines):
        error = _PSQL_ERROR.match(text)
        if error is None:
            continue
        detail = copy_line = None
        for more in lines[index + 1 :]:
            if more.startswith("psql:"):
                break
            if more.startswith("DETAIL:"):
                detail = more.removeprefix("DETAIL:").strip()
            if context := _COPY_CONTEXT.search(more):
                copy_line = int(context[1])
        return _with_detail(error[2], detail), int(error[1]), copy_line
    last = next((text for text in reversed(lines) if text.strip()), "psql failed without a message")
    return last.removeprefix("psql: error: ").strip(), None, None


def _restored_script(archive: Path, env: dict[str, str]) -> Generator[bytes, None, None]:
    """The SQL script `pg_restore` writes for `archive`; a failed pg_restore raises LoadError.

    pg_restore starts only when the script is first read, and is killed if reading stops early.
    """
    with tempfile.TemporaryFile() as errors:
        restore = subprocess.Popen(
            [_tool("pg_restore"), "--no-owner", "--no-privileges", "--file=-", str(archive)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=errors,
            env=env,
        )
        script = cast(IO[bytes], restore.stdout)
        try:
            yield from script
            if restore.wait() != 0:
                reason = _read(errors).strip().splitlines() or ["pg_restore failed"]
                message = reason[0].removeprefix("pg_restore: error: ")
                raise LoadError(archive, redact(message, [env.get("PGPASSWORD")]))
        finally:
            if restore.poll() is None:
                restore.kill()
            script.close()
            restore.wait()


# -- helpers --------------------------------------------------------------------------------


def _tool(name: str) -> str:
    return str(binaries_dir() / name)


def _client_env(db: Database) -> dict[str, str]:
    # The password travels in PGPASSWORD only: never on a command line, never in a message.
    return {**os.environ, **db.client_env()}


def _unknown_settings(db: Database) -> frozenset[bytes]:
    rows = db.query(
        "select name from pg_settings where name = any(:names)", {"names": list(_DUMP_SETTINGS)}
    ).rows
    known = {name for (name,) in rows}
    return frozenset(name.encode() for name in _DUMP_SETTINGS if name not in known)


def _tables(db: Database) -> set[str]:
    return {str(name) for (name,) in db.query(_TABLES, max_rows=1_000_000).rows}


def _new_tables(db: Database, before: set[str]) -> tuple[str, ...]:
    return tuple(sorted(_tables(db) - before))


def _with_detail(message: str, detail: str | None) -> str:
    return f"{message}: {detail}" if detail else message


def _read(errors: IO[bytes]) -> str:
    errors.seek(0)
    return errors.read().decode(errors="replace")


def _ms_since(started: float) -> float:
    return (time.perf_counter() - started) * 1000
