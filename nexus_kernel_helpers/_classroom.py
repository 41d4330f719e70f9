"""One database per learner on a shared PostgreSQL server, cloned from a dataset template.

    nexus-workbook class-databases --url postgresql://admin@db.example/postgres --learners 20

The dataset is generated once into its template (as `start_database(dataset=...)` does) and
copied into the class template, `nexus_class_<prefix>`: its tables owned by the class group
role `<prefix>_class`, nobody allowed to connect to it, marked IS_TEMPLATE. Each learner gets
a login role in that group and a database of their own name cloned from the class template,
owned by them, closed to everyone else. Through the group they own its tables, so they may
index, analyze and alter them. A notebook on that database adopts it as the dataset.

Learner roles get CREATEDB, the one privilege `db.reset()` needs to re-clone their database
from the class template themselves (the Reset cells of the notebooks run in every "Run All").
Without `learner_reset` they get no CREATEDB, and a reset is the instructor's `--reset NAME`.

Each learner's URL, password included, goes to a credentials file readable by the instructor
alone; the terminal shows the URLs masked. Only databases and roles the workbook made (their
comments say so) are ever changed or dropped.
"""

from __future__ import annotations

import logging
import os
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode

import psycopg
from psycopg import sql

from .datasets._templates import (
    COMPLETE,
    MARKER,
    clone_database,
    create_database,
    database_comment,
    drop_database,
    ensure_template,
    held_text,
    holding,
    is_complete_comment,
    read_holding,
    working_copy_comment,
)
from .errors import ConfigurationError, DatabaseError

if TYPE_CHECKING:
    from .postgres import Database

__all__ = ["ClassPlan", "drop_class", "prepare_class", "reset_learners"]

ROLE_MARKER = "made by nexus-workbook: class learner"
GROUP_MARKER = "made by nexus-workbook: class group"
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,40}$")
_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ClassPlan:
    """Which server, how many learners, their name prefix, and the dataset they start from.

    `learner_reset` gives learner roles CREATEDB, so that `db.reset()` in their notebooks
    re-clones their database; without it the notebooks' Reset cells tell them to ask the
    instructor (and stop a "Run All" there).
    """

    url: str | None
    learners: int
    prefix: str = "learner"
    dataset: str = "shop"
    scale: float = 0.05
    seed: int = 42
    learner_reset: bool = True

    def names(self) -> list[str]:
        """The learners' role and database names: prefix01, prefix02, ..."""
        self._check_prefix()
        width = max(2, len(str(self.learners)))
        return [f"{self.prefix}{number:0{width}d}" for number in range(1, self.learners + 1)]

    @property
    def group(self) -> str:
        """The role every learner is a member of; it owns the tables of their databases."""
        self._check_prefix()
        return f"{self.prefix}_class"

    @property
    def template(self) -> str:
        """The class template every learner database is cloned from."""
        self._check_prefix()
        return f"nexus_class_{self.prefix}"

    def _check_prefix(self) -> None:
        if not _NAME.match(self.prefix):
            raise ConfigurationError(
                f"prefix {self.prefix!r} is not a plain lowercase name",
                fix="use letters, digits and underscores, starting with a letter",
            )


def prepare_class(plan: ClassPlan, *, credentials: Path) -> list[str]:
    """Create (or re-create) every learner's role and database; write their URLs."""
    if plan.learners < 1:
        raise ConfigurationError(
            f"--learners must be 1 or more, not {plan.learners}", fix="say how many learners"
        )
    names = plan.names()
    db = _admin_database(plan)
    lines = []
    entries = []
    try:
        with db.connect(autocommit=True) as admin:
            _require_role_creation(admin)
            for name in [*names, plan.group]:
                marker = GROUP_MARKER if name == plan.group else ROLE_MARKER
                _require_free_or_ours(admin, name, marker)
        template, holds = _class_template(db, plan, follow_plan=True)
        reset = "learners may reset" if plan.learner_reset else "resets by --reset NAME"
        lines.append(f"template {template} ready ({holds}; {reset})")
        for name in names:
            password = secrets.token_urlsafe(18)
            with db.connect(autocommit=True) as admin:
                _create_or_update_role(admin, plan, name, password)
            _clone_for(db, name, template)
            entries.append((name, _learner_url(db, name, password)))
            lines.append(f"{name}: {_learner_url(db, name, None)}")
    finally:
        db.stop()
    _write_credentials(credentials, entries)
    lines.append(f"{len(entries)} learner databases ready; URLs with passwords in {credentials}")
    return lines


def reset_learners(plan: ClassPlan, names: Sequence[str]) -> list[str]:
    """Clone the class template again for each named learner (their work is dropped).

    The class template is used as it is, whatever scale the plan names; it is built from the
    plan only when it is missing.
    """
    db = _admin_database(plan)
    lines = []
    try:
        with db.connect(autocommit=True) as admin:
            for name in names:
                if not _is_marked_role(admin, name, ROLE_MARKER):
                    raise ConfigurationError(
                        f"{name!r} is not a learner this command created",
                        fix="name learners as listed when the class was prepared",
                    )
                if not re.fullmatch(re.escape(plan.prefix) + "[0-9]+", name):
                    raise ConfigurationError(
                        f"{name!r} is not in the class {plan.prefix!r}",
                        fix="pass the --prefix the class was prepared with",
                    )
        template, _ = _class_template(db, plan, follow_plan=False)
        for name in names:
            _clone_for(db, name, template)
            lines.append(f"{name}: reset to a fresh copy of {template}")
    finally:
        db.stop()
    return lines


def drop_class(plan: ClassPlan) -> list[str]:
    """Drop every learner database and role with this prefix, the class template and group."""
    db = _admin_database(plan)
    lines = []
    try:
        with db.connect(autocommit=True) as admin:
            pattern = re.escape(plan.prefix) + "[0-9]+"
            roles = [
                row[0]
                for row in admin.execute(
                    "SELECT rolname FROM pg_roles WHERE rolname ~ %s"
                    " AND shobj_description(oid, 'pg_authid') = %s ORDER BY rolname",
                    [f"^{pattern}$", ROLE_MARKER],
                )
            ]
            for role in roles:
                if _is_ours(admin, role):
                    drop_database(admin, role)
                admin.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))
                lines.append(f"{role}: database and role dropped")
            if _is_ours(admin, plan.template):
                drop_database(admin, plan.template)
                lines.append(f"{plan.template}: class template dropped")
            if _is_marked_role(admin, plan.group, GROUP_MARKER):
                admin.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(plan.group)))
                lines.append(f"{plan.group}: group role dropped")
    finally:
        db.stop()
    return lines or [f"no learners named {plan.prefix}NN made by the workbook"]


# -- mechanics -------------------------------------------------------------------------------


def _admin_database(plan: ClassPlan) -> Database:
    from .config import load_settings
    from .postgres import start_database

    url = plan.url or load_settings().database_url
    if not url:
        raise ConfigurationError(
            "no server to prepare", fix="pass --url or set NEXUS_DATABASE_URL to an admin URL"
        )
    # No dataset here: loading one would clone it into the instructor's own working copy.
    return start_database("url", url=url, reuse=False, make_current=False)


def _require_role_creation(admin: psycopg.Connection[Any]) -> None:
    row = admin.execute(
        "SELECT rolsuper OR rolcreaterole FROM pg_roles WHERE rolname = current_user"
    ).fetchone()
    if not (row and row[0]):
        raise DatabaseError(
            f"the role {admin.info.user!r} may not create roles, which learners need",
            fix="connect as a role with CREATEROLE and CREATEDB",
        )


def _is_marked_role(admin: psycopg.Connection[Any], name: str, marker: str) -> bool:
    row = admin.execute(
        "SELECT shobj_description(oid, 'pg_authid') FROM pg_roles WHERE rolname = %s", [name]
    ).fetchone()
    return row is not None and row[0] == marker


def _is_ours(admin: psycopg.Connection[Any], database: str) -> bool:
    return (database_comment(admin, database) or "").startswith(MARKER)


def _require_free_or_ours(admin: psycopg.Connection[Any], name: str, marker: str) -> bool:
    """Refuse a role named `name` that the workbook did not make; return whether it exists."""
    exists = admin.execute("SELECT FROM pg_roles WHERE rolname = %s", [name]).fetchone()
    if exists is not None and not _is_marked_role(admin, name, marker):
        raise DatabaseError(
            f"a role named {name!r} exists and the workbook did not make it",
            fix="choose another --prefix",
        )
    return exists is not None


def _create_marked_role(
    admin: psycopg.Connection[Any], name: str, marker: str, attributes: sql.Composable
) -> bool:
    """Create role `name`, or alter it if the workbook made it; return whether it existed."""
    exists = _require_free_or_ours(admin, name, marker)
    verb = sql.SQL("ALTER" if exists else "CREATE")
    admin.execute(sql.SQL("{} ROLE {} {}").format(verb, sql.Identifier(name), attributes))
    admin.execute(
        sql.SQL("COMMENT ON ROLE {} IS {}").format(sql.Identifier(name), sql.Literal(marker))
    )
    _may_act_as(admin, name)
    return exists


def _create_or_update_role(
    admin: psycopg.Connection[Any], plan: ClassPlan, name: str, password: str
) -> None:
    """The learner's login role, in the class group; CREATEDB only if they reset themselves."""
    # Only the SCRAM verifier travels to the server, so no log line ever holds the password.
    verifier = admin.pgconn.encrypt_password(password.encode(), name.encode(), b"scram-sha-256")
    createdb = "CREATEDB" if plan.learner_reset else "NOCREATEDB"
    attributes = sql.SQL(
        "LOGIN NOSUPERUSER {} NOCREATEROLE NOREPLICATION NOBYPASSRLS PASSWORD {}"
    ).format(sql.SQL(createdb), sql.Literal(verifier.decode()))
    _create_marked_role(admin, name, ROLE_MARKER, attributes)
    admin.execute(
        sql.SQL("GRANT {} TO {}").format(sql.Identifier(plan.group), sql.Identifier(name))
    )


def _may_act_as(admin: psycopg.Connection[Any], role: str) -> None:
    """Let a non-superuser admin give objects to `role` and end its sessions.

    ALTER ... OWNER TO needs SET ROLE on the new owner, and DROP DATABASE ... WITH (FORCE)
    the privileges of the roles connected; CREATEROLE alone gives neither (PostgreSQL 16+).
    """
    modern = admin.info.server_version >= 160000
    check = "pg_has_role(%s, 'USAGE')" + (" AND pg_has_role(%s, 'SET')" if modern else "")
    row = admin.execute(
        f"SELECT rolsuper OR ({check}) FROM pg_roles WHERE rolname = current_user",  # noqa: S608
        [role, role] if modern else [role],
    ).fetchone()
    if row and row[0]:
        return
    grant = sql.SQL("GRANT {} TO CURRENT_USER").format(sql.Identifier(role))
    admin.execute(grant + sql.SQL(" WITH INHERIT TRUE, SET TRUE" if modern else ""))


def _class_template(db: Database, plan: ClassPlan, *, follow_plan: bool) -> tuple[str, str]:
    """The class template and what it holds, built from the plan's dataset when needed.

    With `follow_plan`, one holding another dataset, scale or seed is built again; without,
    any complete one is used as it is.
    """
    template = plan.template
    wanted = (plan.dataset, float(plan.scale), plan.seed)
    with db.connect(autocommit=True) as admin:
        comment = database_comment(admin, template)
    held = read_holding(comment)
    if is_complete_comment(comment) and held is not None and (held == wanted or not follow_plan):
        return template, held_text(held)
    source = ensure_template(db, plan.dataset, scale=plan.scale, seed=plan.seed).name
    holds = holding(plan.dataset, plan.scale, plan.seed)
    with db.connect(autocommit=True) as admin:
        _create_marked_role(admin, plan.group, GROUP_MARKER, sql.SQL("NOLOGIN"))
    clone_database(db, source, template, comment=f"{MARKER}: class template {holds}, unfinished")
    name = sql.Identifier(template)
    with db.connect(autocommit=True) as admin:
        admin.execute(sql.SQL("REVOKE ALL ON DATABASE {} FROM PUBLIC").format(name))
    db.use_database(template)
    try:
        with db.connect(autocommit=True) as connection:
            _hand_tables_to(connection, plan.group)
            _add_statement_statistics(connection)
    finally:
        db.use_database(db.home_database)
    with db.connect(autocommit=True) as admin:
        # Nobody connects to it (so nothing blocks a clone, and no group member can change
        # it), and any role with CREATEDB may clone it: what learners' own resets need.
        admin.execute(
            sql.SQL("ALTER DATABASE {} WITH ALLOW_CONNECTIONS false IS_TEMPLATE true").format(name)
        )
        complete = f"{MARKER}: class template {holds} from {source}{COMPLETE}"
        admin.execute(sql.SQL("COMMENT ON DATABASE {} IS {}").format(name, sql.Literal(complete)))
    return template, held_text(wanted)


def _add_statement_statistics(connection: psycopg.Connection[Any]) -> None:
    """Create pg_stat_statements where the server preloads it and this role may create it.

    Learners then see their own statements (notebook 05); others' texts stay hidden.
    """
    loaded = connection.execute(
        "SELECT FROM pg_settings WHERE name = 'pg_stat_statements.max'"
    ).fetchone()
    if loaded is None:
        return
    try:
        connection.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
    except psycopg.errors.InsufficientPrivilege:
        _log.info("this role may not create pg_stat_statements in the class template")


def _hand_tables_to(connection: psycopg.Connection[Any], group: str) -> None:
    """Give the tables of the database `connection` is on to `group`."""
    # Tables only: views and functions of extensions stay with the extension's owner.
    owned = connection.execute(
        "SELECT n.nspname, c.relname FROM pg_class AS c"
        " JOIN pg_namespace AS n ON n.oid = c.relnamespace"
        " WHERE c.relkind IN ('r', 'p') AND c.relowner = current_user::regrole"
        " AND n.nspname <> 'information_schema' AND n.nspname !~ '^pg_'"
        " AND NOT EXISTS (SELECT FROM pg_depend AS d WHERE d.classid = 'pg_class'::regclass"
        " AND d.objid = c.oid AND d.deptype = 'e')"
    ).fetchall()
    role = sql.Identifier(group)
    # A new owner needs CREATE on the table's schema (superusers are not asked): granted for
    # the hand-over only.
    lacking = [
        row[0]
        for row in connection.execute(
            "SELECT DISTINCT nspname FROM unnest(%s::text[]) AS nspname"
            " WHERE NOT has_schema_privilege(%s, nspname, 'CREATE')",
            [[schema for schema, _ in owned], group],
        )
    ]
    for schema in lacking:
        connection.execute(
            sql.SQL("GRANT CREATE ON SCHEMA {} TO {}").format(sql.Identifier(schema), role)
        )
    for schema, table in owned:
        # Identity sequences and indexes follow their table.
        connection.execute(
            sql.SQL("ALTER TABLE {}.{} OWNER TO {}").format(
                sql.Identifier(schema), sql.Identifier(table), role
            )
        )
    for schema in lacking:
        connection.execute(
            sql.SQL("REVOKE CREATE ON SCHEMA {} FROM {}").format(sql.Identifier(schema), role)
        )


def _clone_for(db: Database, name: str, template: str) -> None:
    """Clone the class template into the learner's database and hand it over to them."""
    with db.connect(autocommit=True) as admin:
        comment = database_comment(admin, template)
        held = read_holding(comment)
        if held is None:  # pragma: no cover - _class_template() checked it
            raise DatabaseError(f"the class template {template!r} records no dataset")
        drop_database(admin, name)
        create_database(
            admin, name, comment=working_copy_comment(template, *held), template=template
        )
        role = sql.Identifier(name)
        admin.execute(sql.SQL("ALTER DATABASE {} OWNER TO {}").format(role, role))
        admin.execute(sql.SQL("REVOKE ALL ON DATABASE {} FROM PUBLIC").format(role))
        admin.execute(sql.SQL("GRANT CONNECT, TEMPORARY ON DATABASE {} TO {}").format(role, role))


def _learner_url(db: Database, name: str, password: str | None) -> str:
    """The learner's URL; with `password` None, the password is masked."""
    env = db.client_env()
    host, port = env.get("PGHOST", ""), env.get("PGPORT", "")
    secret = ":***" if password is None else f":{quote(password, safe='')}"
    extra = {"sslmode": env["PGSSLMODE"]} if "PGSSLMODE" in env else {}
    if host.startswith("/"):
        extra = {"host": host, **({"port": port} if port else {}), **extra}
        netloc = f"{quote(name)}{secret}@"
    else:
        netloc = f"{quote(name)}{secret}@{host}" + (f":{port}" if port else "")
    query = f"?{urlencode(extra, safe='/')}" if extra else ""
    return f"postgresql://{netloc}/{quote(name)}{query}"


def _write_credentials(path: Path, entries: list[tuple[str, str]]) -> None:
    """Write `name URL` lines to `path`, readable by its owner only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(descriptor, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        file.write("# learner NEXUS_DATABASE_URL (secret: hand each learner their own line)\n")
        for name, url in entries:
            file.write(f"{name} {url}\n")
