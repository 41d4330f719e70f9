"""The agent's role on servers the workbook does not own."""

from __future__ import annotations

import pytest

import nexus_kernel_helpers as nx
from nexus_kernel_helpers import sandbox
from nexus_kernel_helpers.sandbox._roles import agent_connection

from ..support import revealed_url


def test_a_login_that_may_create_roles_gets_the_agent_role(embedded_db: nx.Database) -> None:
    db = nx.start_database("url", url=revealed_url(embedded_db), reuse=False, make_current=False)
    try:
        with agent_connection(db) as connection:
            assert connection.info.user == sandbox.AGENT_ROLE
        assert sandbox.run_readonly(db, "select current_user", as_agent=True).scalar() == (
            sandbox.AGENT_ROLE
        )
    finally:
        db.stop()


def test_a_login_that_may_not_reads_as_itself_behind_the_rules(embedded_db: nx.Database) -> None:
    embedded_db.query("create role reader login password 'readerpw'")
    try:
        url = embedded_db.sqlalchemy_url.set(username="reader", password="readerpw")
        db = nx.start_database(
            "url", url=url.render_as_string(hide_password=False), reuse=False, make_current=False
        )
        try:
            who = sandbox.run_readonly(db, "select current_user", as_agent=True)
            assert who.scalar() == "reader"
            with pytest.raises(nx.SandboxRefusal) as caught:
                sandbox.run_readonly(db, "select pg_read_file('/etc/hostname')", as_agent=True)
            assert caught.value.statement_type == "pg_read_file()"
        finally:
            db.stop()
    finally:
        embedded_db.query("drop role reader")


def test_schemas_made_after_the_agent_connected_are_readable(db: nx.Database) -> None:
    sandbox.run_readonly(db, "select 1", as_agent=True)
    db.query(
        "create schema late; create table late.news (id int); insert into late.news values (1)"
    )
    try:
        assert sandbox.run_readonly(db, "select id from late.news", as_agent=True).rows == [(1,)]
    finally:
        db.query("drop schema late cascade")
