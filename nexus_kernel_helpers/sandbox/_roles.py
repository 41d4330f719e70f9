"""The agent's least-privilege role, and the connections the sandbox borrows.

The agent reads through `nexus_agent`: it may SELECT in the workbook's schemas and nothing else.
No superuser, no TEMP (revoked from PUBLIC on servers the workbook owns), read-only by default,
with role-level timeouts. Its password is new each time its connection opens, so no secret is
kept. On a server the workbook does not own the role is made only when this login may create
roles; otherwise the agent reads as the notebook's own role, behind the same parse rules.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg import sql

from ..postgres import Database

__all__ = ["AGENT_ROLE", "agent_connection", "owner_connection"]

AGENT_ROLE = "nexus_agent"
_ROLE_SETTINGS = {
    "default_transaction_read_only": "on",
    "statement_timeout": "30s",
    "lock_timeout": "1s",
    "idle_in_transaction_session_timeout": "60s",
}

_USER_SCHEMAS = """
    SELECT nspname FROM pg_namespace
    WHERE nspname NOT LIKE 'pg\\_%' AND nspname <> 'information_schema'
"""
_UNGRANTED = """
    SELECT EXISTS (
        SELECT FROM pg_namespace n
        WHERE n.nspname NOT LIKE 'pg\\_%' AND n.nspname <> 'information_schema'
          AND (NOT has_schema_privilege(n.oid, 'USAGE')
               OR EXISTS (SELECT FROM pg_class c
                          WHERE c.relnamespace = n.oid AND c.relkind IN ('r', 'v', 'm', 'p', 'f')
                            AND NOT has_table_privilege(c.oid, 'SELECT'))))
"""

_log = logging.getLogger(__name__)


@contextmanager
def owner_connection(db: Database) -> Iterator[psycopg.Connection[Any]]:
    """The notebook role's sandbox connection (not the one `db.query()` uses)."""
    with db.borrowed("sandbox:owner", db.connect) as connection:
        yield connection


@contextmanager
def agent_connection(db: Database) -> Iterator[psycopg.Connection[Any]]:
    """A connection as the least-privilege role, or as the owner where none can be made.

    Schemas and tables made since the role got its grants are granted before it reads.
    """
    with db.borrowed("sandbox:agent", lambda: _open_as_agent(db)) as connection:
        if connection.info.user == AGENT_ROLE and _misses_grants(connection):
            with db.connect(autocommit=True) as owner:
                _grant_reading(owner)
        yield connection


def _misses_grants(agent: psycopg.Connection[Any]) -> bool:
    """Whether some user table or schema is not readable by the agent yet."""
    row = agent.execute(_UNGRANTED).fetchone()
    agent.rollback()
    return bool(row and row[0])


def _open_as_agent(db: Database) -> psycopg.Connection[Any]:
    password = secrets.token_urlsafe(24)
    with db.connect(autocommit=True) as owner:
        if not _may_create_roles(owner):
            _log.info("this login may not create roles: the agent reads as %s", db.backend)
            return db.connect()
        _prepare_role(owner, password, owns_server=db.owns_server)
    return db.connect(user=AGENT_ROLE, password=password)


def _may_create_roles(owner: psycopg.Connection[Any]) -> bool:
    row = owner.execute(
        "SELECT rolsuper OR rolcreaterole FROM pg_roles WHERE rolname = current_user"
    ).fetchone()
    return bool(row and row[0])


def _prepare_role(owner: psycopg.Connection[Any], password: str, *, owns_server: bool) -> None:
    """Create or refresh the role and grant it reading, and only reading."""
    role = sql.Identifier(AGENT_ROLE)
    exists = owner.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [AGENT_ROLE]).fetchone()
    verb = sql.SQL("ALTER") if exists else sql.SQL("CREATE")
    # Utility statements take no parameters, so the password goes in the text: as a SCRAM
    # verifier computed by libpq, so that no log or statistics view ever holds the password.
    verifier = owner.pgconn.encrypt_password(
        password.encode(), AGENT_ROLE.encode(), b"scram-sha-256"
    ).decode()
    owner.execute(
        sql.SQL(
            "{} ROLE {} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS"
            " CONNECTION LIMIT 8 PASSWORD {}"
        ).format(verb, role, sql.Literal(verifier))
    )
    for name, value in _ROLE_SETTINGS.items():
        owner.execute(
            sql.SQL("ALTER ROLE {} SET {} = {}").format(
                role, sql.Identifier(name), sql.Literal(value)
            )
        )
    database = sql.Identifier(str(owner.info.dbname))
    owner.execute(sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(database, role))
    if owns_server:
        # A read-only role could still create temporary tables through PUBLIC's grant.
        owner.execute(sql.SQL("REVOKE TEMP ON DATABASE {} FROM PUBLIC").format(database))
        owner.execute(sql.SQL("GRANT pg_read_all_stats TO {}").format(role))
    _grant_reading(owner)


def _grant_reading(owner: psycopg.Connection[Any]) -> None:
    """SELECT on every table of every user schema, now and (for the owner's) in the future."""
    role = sql.Identifier(AGENT_ROLE)
    schemas = owner.execute(_USER_SCHEMAS)
    for (schema_name,) in schemas.fetchall():
        schema = sql.Identifier(schema_name)
        owner.execute(sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(schema, role))
        owner.execute(sql.SQL("GRANT SELECT ON ALL TABLES IN SCHEMA {} TO {}").format(schema, role))
        owner.execute(
            sql.SQL("ALTER DEFAULT PRIVILEGES IN SCHEMA {} GRANT SELECT ON TABLES TO {}").format(
                schema, role
            )
        )
