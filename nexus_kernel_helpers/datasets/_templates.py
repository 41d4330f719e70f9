"""Loaded datasets kept as template databases; the learner works in a clone that resets fast.

The first load of a dataset, scale and seed on a server generates it into a template database
(`nexus_tpl_<dataset>_<scale>_<seed>`); every start and every reset then clones it with
`CREATE DATABASE ... TEMPLATE`, which copies files instead of regenerating rows. Databases the
workbook made carry a comment saying so, and only those are ever dropped.
"""

from __future__ import annotations

import hashlib
import logging
import re
import time
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql

from ..errors import ConfigurationError, DatabaseError
from ..postgres import Database
from ._generate import available_datasets, check_scale, generate
from ._progress import Progress, load_progress

__all__ = [
    "COMPLETE",
    "MARKER",
    "DatasetState",
    "Template",
    "clone_database",
    "create_database",
    "database_comment",
    "drop_database",
    "ensure_template",
    "held_text",
    "holding",
    "is_complete",
    "is_complete_comment",
    "load_dataset",
    "read_holding",
    "reset_dataset",
    "working_copy_comment",
]

MARKER = "made by nexus-workbook"
COMPLETE = " (complete)"
# Where a role that re-creates the database it is connected to goes meanwhile.
MAINTENANCE_DATABASE = "postgres"
_HOLDING = re.compile(r"\(dataset (?P<name>\w+) scale (?P<scale>[0-9.e+-]+) seed (?P<seed>-?\d+)\)")
_COPY_OF = re.compile(rf"^{MARKER}: working copy of (?P<template>\S+)")
_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DatasetState:
    """Which dataset a database holds, where its template is, and what loading it cost.

    `adopted` says the database the URL named already was a working copy (a class database):
    nothing was generated or copied, and a reset re-creates that database in place.
    """

    name: str
    scale: float
    seed: int
    template: str
    clone: str
    home: str
    generated: bool
    elapsed_ms: float
    rows: dict[str, int]
    adopted: bool = False


@dataclass(frozen=True)
class Template:
    """A complete template database, and whether this call generated it (with its rows)."""

    name: str
    generated: bool
    rows: dict[str, int]


def template_name(name: str, scale: float, seed: int) -> str:
    """A database name for the template of `name` at exactly `scale` with `seed`."""
    scale_text = re.sub(r"[^0-9]", "_", repr(float(scale)).removesuffix(".0"))
    candidate = f"nexus_tpl_{name}_{scale_text}_{seed}"
    if len(candidate.encode()) <= 63:  # PostgreSQL truncates longer names
        return candidate
    digest = hashlib.sha256(candidate.encode()).hexdigest()[:16]
    return f"nexus_tpl_{digest}"


def holding(name: str, scale: float, seed: int) -> str:
    """What a database holds, as comments record it: `(dataset shop scale 0.05 seed 42)`."""
    return f"(dataset {name} scale {_number(scale)} seed {seed})"


def read_holding(comment: str | None) -> tuple[str, float, int] | None:
    """The (dataset, scale, seed) a comment written with `holding()` records, if any."""
    found = _HOLDING.search(comment or "")
    if found is None:
        return None
    return found["name"], float(found["scale"]), int(found["seed"])


def working_copy_comment(template: str, name: str, scale: float, seed: int) -> str:
    """The comment that marks a database as a working copy of `template`."""
    return f"{MARKER}: working copy of {template} {holding(name, scale, seed)}"


def load_dataset(
    db: Database, name: str, *, scale: float, seed: int, progress: Progress | None = None
) -> DatasetState:
    """Make sure the template exists (generating it once), clone it and switch `db` to the clone.

    When the database `db` was started on is itself a working copy of this dataset (a class
    database made by `nexus-workbook class-databases`), it is adopted instead: nothing is
    generated, nothing is created, and the role needs no CREATEDB.
    """
    known = available_datasets()
    if name not in known:
        raise ConfigurationError(
            f"no dataset named {name!r}", fix=f"choose one of: {', '.join(sorted(known))}"
        )
    check_scale(scale)
    started = time.perf_counter()
    home = db.home_database
    db.use_database(home)
    with _admin(db) as admin:
        copy = database_comment(admin, home)
    if copy is not None and _COPY_OF.match(copy):
        return _adopt(db, copy, name, scale=scale, seed=seed, started=started)
    template = ensure_template(db, name, scale=scale, seed=seed, progress=progress)
    clone = f"nexus_{name}"
    clone_database(
        db, template.name, clone, comment=working_copy_comment(template.name, name, scale, seed)
    )
    db.use_database(clone)
    return DatasetState(
        name=name,
        scale=scale,
        seed=seed,
        template=template.name,
        clone=clone,
        home=home,
        generated=template.generated,
        elapsed_ms=(time.perf_counter() - started) * 1000,
        rows=template.rows,
    )


def ensure_template(
    db: Database, name: str, *, scale: float, seed: int, progress: Progress | None = None
) -> Template:
    """Generate the template of `name` at `scale` and `seed` unless a complete one exists.

    Leaves `db` on its home database.
    """
    home = db.home_database
    template = template_name(name, scale, seed)
    db.use_database(home)
    with _admin(db) as admin:
        _require_createdb(admin)
        if is_complete(admin, template):
            return Template(template, generated=False, rows={})
        busy = admin.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = %s", [template]
        ).fetchone()
        if busy and busy[0]:
            raise DatabaseError(
                f"the template {template!r} is being generated by another session",
                fix="wait for that load to finish, then start again",
            )
        drop_database(admin, template)  # an unfinished one, from a load that died
        create_database(admin, template, comment=f"{MARKER}: template of {name} scale {scale}")
    try:
        db.use_database(template)
        with db.connect() as connection:
            if db.owns_server:
                connection.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
            connection.execute("SET max_parallel_workers_per_gather = 0")
            shown = progress or load_progress(f"{name} scale {scale:g}")
            rows = generate(connection, name, scale=scale, seed=seed, progress=shown)
            connection.commit()
            # Clones are never vacuumed on their own: freeze the template once, so that
            # index-only scans in every clone see an all-visible heap.
            connection.autocommit = True
            connection.execute("VACUUM (FREEZE)")
        db.use_database(home)
        with _admin(db) as admin:
            admin.execute(
                sql.SQL("COMMENT ON DATABASE {} IS {}").format(
                    sql.Identifier(template),
                    sql.Literal(f"{MARKER}: template of {name} scale {scale}{COMPLETE}"),
                )
            )
    except BaseException:
        db.use_database(home)
        with _admin(db) as admin:
            drop_database(admin, template)
        raise
    return Template(template, generated=True, rows=rows)


def reset_dataset(db: Database, state: DatasetState) -> float:
    """Drop the learner's clone and clone the template again; return the milliseconds it took.

    An adopted database (a class database) is re-created in place under the same name, which
    needs CREATEDB and ownership of it; without them the error says to ask the instructor.
    """
    started = time.perf_counter()
    if state.adopted:
        _recreate_in_place(db, state)
    else:
        db.use_database(state.home)
        comment = working_copy_comment(state.template, state.name, state.scale, state.seed)
        clone_database(db, state.template, state.clone, comment=comment)
        db.use_database(state.clone)
    return (time.perf_counter() - started) * 1000


# -- working copies made elsewhere (class databases) -----------------------------------------


def _adopt(
    db: Database, comment: str, name: str, *, scale: float, seed: int, started: float
) -> DatasetState:
    """Use the database `db` is on, a working copy, as the dataset; refuse another one."""
    here = db.home_database
    found = _COPY_OF.match(comment)
    template = found["template"] if found else ""
    held = read_holding(comment)
    wanted = held_text((name, scale, seed))
    if held is None:  # an older comment names the template alone
        matches = template == template_name(name, scale, seed)
        what = f"a copy of {template}"
        fix = f"connect to a database made for {wanted}"
    else:
        held_name, held_scale, held_seed = held
        matches = held == (name, float(scale), seed)
        what = held_text(held)
        fix = (
            f"start with --dataset {held_name} --scale {held_scale:g} --seed {held_seed}"
            f" (dataset=, scale=, seed= in Python), or use a database made for {wanted}"
        )
    if not matches:
        raise ConfigurationError(f"the database {here!r} holds {what}, not {wanted}", fix=fix)
    note = (
        f"{here} is a working copy of {template}: used as {name} scale {scale:g} seed {seed}, "
        "nothing generated or copied"
    )
    if note not in db.notes:
        db.notes.append(note)
    return DatasetState(
        name=name,
        scale=scale,
        seed=seed,
        template=template,
        clone=here,
        home=here,
        generated=False,
        elapsed_ms=(time.perf_counter() - started) * 1000,
        rows={},
        adopted=True,
    )


def _recreate_in_place(db: Database, state: DatasetState) -> None:
    """Clone the template beside the database `db` is on, then swap the fresh copy in.

    The old copy is dropped only once the fresh one exists, so a refused clone leaves the
    learner's database as it was.
    """
    name = state.clone
    db.use_database(name)
    with _admin(db) as here:
        user = here.info.user
        refusal = _why_not_recreate(here, state)
        size_row = here.execute("SELECT pg_database_size(current_database())").fetchone()
    fix = f"ask the instructor for a fresh copy: nexus-workbook class-databases --reset {name}"
    if refusal is not None:
        raise DatabaseError(f"the role {user!r} may not re-create {name!r} ({refusal})", fix=fix)
    size = int(size_row[0]) if size_row else 0
    fresh = "nexus_fresh_" + hashlib.sha256(name.encode()).hexdigest()[:16]
    target = sql.Identifier(name)
    db.use_database(MAINTENANCE_DATABASE)
    try:
        with _admin(db) as admin:
            drop_database(admin, fresh)  # left by a reset that was interrupted
            comment = working_copy_comment(state.template, state.name, state.scale, state.seed)
            # Closed to connections until it is private: no other role gets in meanwhile.
            create_database(
                admin, fresh, comment=comment, template=state.template, size=size, closed=True
            )
            admin.execute(
                sql.SQL("REVOKE ALL ON DATABASE {} FROM PUBLIC").format(sql.Identifier(fresh))
            )
            drop_database(admin, name)
            admin.execute(
                sql.SQL("ALTER DATABASE {} RENAME TO {}").format(sql.Identifier(fresh), target)
            )
            admin.execute(sql.SQL("ALTER DATABASE {} WITH ALLOW_CONNECTIONS true").format(target))
    except psycopg.Error as error:
        reason = " ".join(str(error).split())
        raise DatabaseError(f"could not re-create {name!r}: {reason}", fix=fix) from None
    finally:
        db.use_database(name)


def _why_not_recreate(here: psycopg.Connection[Any], state: DatasetState) -> str | None:
    """Why the current role may not re-create the database it is on; None if it may."""
    row = here.execute(
        "SELECT r.rolsuper OR r.rolcreatedb, pg_has_role(d.datdba, 'USAGE'),"
        " shobj_description(t.oid, 'pg_database'),"
        " coalesce(t.datistemplate OR pg_has_role(t.datdba, 'USAGE'), false),"
        " CASE WHEN EXISTS (SELECT FROM pg_database WHERE datname = %s)"
        " THEN has_database_privilege(%s, 'CONNECT') ELSE false END"
        " FROM pg_roles AS r CROSS JOIN pg_database AS d"
        " LEFT JOIN pg_database AS t ON t.datname = %s"
        " WHERE r.rolname = current_user AND d.datname = current_database()",
        [MAINTENANCE_DATABASE, MAINTENANCE_DATABASE, state.template],
    ).fetchone()
    if row is None:  # pragma: no cover - the current role and database always exist
        return "its role or database is not in the catalog"
    may_create, owns, comment, may_clone, may_connect = row
    template = state.template
    held = read_holding(comment)
    complete = is_complete_comment(comment)
    checks = [
        (may_create, "it lacks CREATEDB"),
        (owns, "it does not own the database"),
        (complete, f"the template {template!r} is missing or unfinished"),
        (may_clone, f"the template {template!r} is not marked IS_TEMPLATE"),
        (
            held is None or held == (state.name, float(state.scale), state.seed),
            f"the template {template!r} now holds {held_text(held)}",
        ),
        (may_connect, f"it may not connect to the database {MAINTENANCE_DATABASE!r} meanwhile"),
    ]
    return next((reason for passed, reason in checks if not passed), None)


def held_text(held: tuple[str, float, int] | None) -> str:
    """What `read_holding()` found, for messages: `shop scale 0.05 seed 42`."""
    if held is None:
        return "another dataset"
    name, scale, seed = held
    return f"{name} scale {scale:g} seed {seed}"


# -- mechanics -------------------------------------------------------------------------------


def clone_database(db: Database, template: str, clone: str, *, comment: str) -> None:
    """Replace `clone` (if the workbook made it) with a copy of the complete `template`."""
    with _admin(db) as admin:
        drop_database(admin, clone)
        if not is_complete(admin, template):
            raise DatabaseError(
                f"the template {template!r} is missing or still being generated",
                fix="wait for the other load to finish, then start again",
            )
        # Nobody may be connected to a template while it is copied.
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = %s AND pid <> pg_backend_pid()",
            [template],
        )
        create_database(admin, clone, comment=comment, template=template)


def _number(scale: float) -> str:
    """A scale written so that `float()` reads back exactly the same number."""
    return repr(float(scale)).removesuffix(".0")


def _admin(db: Database) -> psycopg.Connection[Any]:
    """An autocommit connection to the home database, for CREATE and DROP DATABASE."""
    return db.connect(autocommit=True)


def _require_createdb(admin: psycopg.Connection[Any]) -> None:
    row = admin.execute(
        "SELECT rolsuper OR rolcreatedb FROM pg_roles WHERE rolname = current_user"
    ).fetchone()
    if not (row and row[0]):
        raise DatabaseError(
            f"the role {admin.info.user!r} may not create databases, which datasets need",
            fix="ALTER ROLE ... CREATEDB, use the embedded or docker backend, or connect to a"
            " class database (nexus-workbook class-databases), which holds the dataset already",
        )


def database_comment(admin: psycopg.Connection[Any], name: str) -> str | None:
    """The comment on database `name`; None when it has none or does not exist."""
    row = admin.execute(
        "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s", [name]
    ).fetchone()
    return str(row[0]) if row and row[0] is not None else None


def is_complete(admin: psycopg.Connection[Any], name: str) -> bool:
    """Whether `name` is a template the workbook made and finished loading."""
    return is_complete_comment(database_comment(admin, name))


def is_complete_comment(comment: str | None) -> bool:
    """Whether a database comment marks a template the workbook made and finished."""
    return (comment or "").startswith(MARKER) and (comment or "").endswith(COMPLETE)


def create_database(
    admin: psycopg.Connection[Any],
    name: str,
    *,
    comment: str,
    template: str | None = None,
    size: int | None = None,
    closed: bool = False,
) -> None:
    """CREATE DATABASE `name` (from `template`, of `size` bytes if known), then comment it.

    `closed` creates it with ALLOW_CONNECTIONS false.
    """
    statement = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
    if template is not None:
        statement += sql.SQL(" TEMPLATE {}").format(sql.Identifier(template))
        statement += sql.SQL(_copy_strategy(admin, template, size))
    if closed:
        statement += sql.SQL(" ALLOW_CONNECTIONS false")
    admin.execute(statement)
    admin.execute(
        sql.SQL("COMMENT ON DATABASE {} IS {}").format(sql.Identifier(name), sql.Literal(comment))
    )


# Measured on 2 cores (PG 18): WAL_LOG copies 17 MB in 0.08 s but 215 MB in 0.87 s, where
# FILE_COPY takes 0.42 s; below this size WAL_LOG wins, above it FILE_COPY (PG 15+).
FILE_COPY_ABOVE_BYTES = 64 * 1024 * 1024


def _copy_strategy(admin: psycopg.Connection[Any], template: str, size: int | None) -> str:
    if admin.info.server_version < 150000:
        return ""
    if size is None:
        # pg_database_size needs CONNECT on the template, which class templates do not grant:
        # the caller then passes the size of a copy it may read.
        row = admin.execute(
            "SELECT CASE WHEN has_database_privilege(%s, 'CONNECT') THEN pg_database_size(%s) END",
            [template, template],
        ).fetchone()
        size = int(row[0]) if row and row[0] is not None else 0
    return " STRATEGY FILE_COPY" if size > FILE_COPY_ABOVE_BYTES else " STRATEGY WAL_LOG"


def drop_database(admin: psycopg.Connection[Any], name: str) -> None:
    """Drop `name` if the workbook made it; refuse to touch a database it did not make."""
    row = admin.execute(
        "SELECT shobj_description(oid, 'pg_database'), datistemplate FROM pg_database"
        " WHERE datname = %s",
        [name],
    ).fetchone()
    if row is None:
        return
    if not (row[0] or "").startswith(MARKER):
        raise DatabaseError(
            f"a database named {name!r} exists and the workbook did not make it",
            fix="rename it, or load the dataset on another server",
        )
    if row[1]:  # PostgreSQL refuses to drop a database marked as a template
        admin.execute(
            sql.SQL("ALTER DATABASE {} WITH IS_TEMPLATE false").format(sql.Identifier(name))
        )
    force = sql.SQL(" WITH (FORCE)") if admin.info.server_version >= 130000 else sql.SQL("")
    admin.execute(sql.SQL("DROP DATABASE {}").format(sql.Identifier(name)) + force)
