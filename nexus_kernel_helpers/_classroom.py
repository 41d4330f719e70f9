"""One database per learner on a shared PostgreSQL server, cloned from a dataset template.

    nexus-workbook class-databases --url postgresql://admin@db.example/postgres --learners 20

The dataset is generated once into its template (as `start_database(dataset=...)` does), then
each learner gets a login role and a database cloned from the template, owned by that role,
with its tables handed over so the learner may index, analyze and alter them. Nobody else may
connect to it. Each learner's URL, password included, goes to a credentials file readable by
the instructor alone; the terminal shows the URLs masked.

Only databases the workbook made are ever dropped (the dataset module refuses others), and
only roles whose comment says the workbook made them are changed.
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode

import psycopg
from psycopg import sql

from .errors import ConfigurationError, DatabaseError

if TYPE_CHECKING:
    from .datasets import DatasetState
    from .postgres import Database

__all__ = ["ClassPlan", "drop_class", "prepare_class", "reset_learners"]

ROLE_MARKER = "made by nexus-workbook: class learner"
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,40}$")


@dataclass(frozen=True)
class ClassPlan:
    """Which server, how many learners, their name prefix, and the dataset they start from."""

    url: str | None
    learners: int
    prefix: str = "learner"
    dataset: str = "shop"
    scale: float = 0.05
    seed: int = 42

    def names(self) -> list[str]:
        """The learners' role and database names: prefix01, prefix02, ..."""
        if not _NAME.match(self.prefix):
            raise ConfigurationError(
                f"prefix {self.prefix!r} is not a plain lowercase name",
                fix="use letters, digits and underscores, starting with a letter",
            )
        width = max(2, len(str(self.learners)))
        return [f"{self.prefix}{number:0{width}d}" for number in range(1, self.learners + 1)]


def prepare_class(plan: ClassPlan, *, credentials: Path) -> list[str]:
    """Create (or re-create) every learner's role and database; write their URLs."""
    if plan.learners < 1:
        raise ConfigurationError(
            f"--learners must be 1 or more, not {plan.learners}", fix="say how many learners"
        )
    names = plan.names()
    db = _admin_database(plan)
    lines = [f"template {_state(db).template} ready ({_state(db).name} scale {plan.scale:g})"]
    entries = []
    try:
        with db.connect(autocommit=True) as admin:
            _require_role_creation(admin)
        for name in names:
            password = secrets.token_urlsafe(18)
            with db.connect(autocommit=True) as admin:
                _create_or_update_role(admin, name, password)
            _clone_for(db, name)
            entries.append((name, _learner_url(db, name, password)))
            lines.append(f"{name}: {_learner_url(db, name, None)}")
    finally:
        db.stop()
    _write_credentials(credentials, entries)
    lines.append(f"{len(entries)} learner databases ready; URLs with passwords in {credentials}")
    return lines


def reset_learners(plan: ClassPlan, names: Sequence[str]) -> list[str]:
    """Clone the template again for each named learner (their work is dropped)."""
    db = _admin_database(plan)
    lines = []
    try:
        with db.connect(autocommit=True) as admin:
            for name in names:
                if not _is_class_role(admin, name):
                    raise ConfigurationError(
                        f"{name!r} is not a learner this command created",
                        fix="name learners as listed when the class was prepared",
                    )
        for name in names:
            _clone_for(db, name)
            lines.append(f"{name}: reset to a fresh copy of {_state(db).template}")
    finally:
        db.stop()
    return lines


def drop_class(plan: ClassPlan) -> list[str]:
    """Drop every learner database and role with this prefix that the workbook made."""
    from .datasets._templates import MARKER

    db = _admin_database(plan, load=False)
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
                row = admin.execute(
                    "SELECT shobj_description(oid, 'pg_database') FROM pg_database"
                    " WHERE datname = %s",
                    [role],
                ).fetchone()
                if row is not None and (row[0] or "").startswith(MARKER):
                    admin.execute(
                        sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(role))
                    )
                admin.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))
                lines.append(f"{role}: database and role dropped")
    finally:
        db.stop()
    return lines or [f"no learners named {plan.prefix}NN made by the workbook"]


# -- mechanics -------------------------------------------------------------------------------


def _admin_database(plan: ClassPlan, *, load: bool = True) -> Database:
    from .config import load_settings
    from .postgres import start_database

    url = plan.url or load_settings().database_url
    if not url:
        raise ConfigurationError(
            "no server to prepare", fix="pass --url or set NEXUS_DATABASE_URL to an admin URL"
        )
    if load:
        return start_database(
            "url",
            url=url,
            reuse=False,
            make_current=False,
            dataset=plan.dataset,
            scale=plan.scale,
            seed=plan.seed,
        )
    return start_database("url", url=url, reuse=False, make_current=False)


def _state(db: Database) -> DatasetState:
    if db.dataset is None:  # pragma: no cover - start_database(dataset=...) always sets it
        raise DatabaseError("the dataset did not load")
    return db.dataset


def _require_role_creation(admin: psycopg.Connection[Any]) -> None:
    row = admin.execute(
        "SELECT rolsuper OR rolcreaterole FROM pg_roles WHERE rolname = current_user"
    ).fetchone()
    if not (row and row[0]):
        raise DatabaseError(
            f"the role {admin.info.user!r} may not create roles, which learners need",
            fix="connect as a role with CREATEROLE and CREATEDB",
        )


def _is_class_role(admin: psycopg.Connection[Any], name: str) -> bool:
    row = admin.execute(
        "SELECT shobj_description(oid, 'pg_authid') FROM pg_roles WHERE rolname = %s", [name]
    ).fetchone()
    return row is not None and row[0] == ROLE_MARKER


def _create_or_update_role(admin: psycopg.Connection[Any], name: str, password: str) -> None:
    exists = admin.execute("SELECT FROM pg_roles WHERE rolname = %s", [name]).fetchone()
    if exists is not None and not _is_class_role(admin, name):
        raise DatabaseError(
            f"a role named {name!r} exists and the workbook did not make it",
            fix="choose another --prefix",
        )
    # Only the SCRAM verifier travels to the server, so no log line ever holds the password.
    verifier = admin.pgconn.encrypt_password(password.encode(), name.encode(), b"scram-sha-256")
    verb = sql.SQL("ALTER" if exists is not None else "CREATE")
    admin.execute(
        sql.SQL("{} ROLE {} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD {}").format(
            verb, sql.Identifier(name), sql.Literal(verifier.decode())
        )
    )
    admin.execute(
        sql.SQL("COMMENT ON ROLE {} IS {}").format(sql.Identifier(name), sql.Literal(ROLE_MARKER))
    )


def _clone_for(db: Database, name: str) -> None:
    """Clone the template into the learner's database and hand it over to them."""
    from .datasets import reset_dataset

    state = _state(db)
    reset_dataset(db, replace(state, clone=name))
    role = sql.Identifier(name)
    with db.connect(autocommit=True) as clone:
        clone.execute(sql.SQL("ALTER DATABASE {} OWNER TO {}").format(role, role))
        clone.execute(sql.SQL("REVOKE ALL ON DATABASE {} FROM PUBLIC").format(role))
        clone.execute(sql.SQL("GRANT CONNECT, TEMPORARY ON DATABASE {} TO {}").format(role, role))
        # Tables only: views and functions of extensions stay with the extension's owner.
        owned = clone.execute(
            "SELECT n.nspname, c.relname FROM pg_class AS c"
            " JOIN pg_namespace AS n ON n.oid = c.relnamespace"
            " WHERE c.relkind IN ('r', 'p') AND c.relowner = current_user::regrole"
            " AND n.nspname <> 'information_schema' AND n.nspname !~ '^pg_'"
            " AND NOT EXISTS (SELECT FROM pg_depend AS d WHERE d.classid = 'pg_class'::regclass"
            " AND d.objid = c.oid AND d.deptype = 'e')"
        ).fetchall()
        for schema, table in owned:
            # Identity sequences and indexes follow their table.
            clone.execute(
                sql.SQL("ALTER TABLE {}.{} OWNER TO {}").format(
                    sql.Identifier(schema), sql.Identifier(table), role
                )
            )
    db.use_database(state.home)


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
