"""A victim schema on each real backend, and a fingerprint of everything an attack could touch."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import nexus_kernel_helpers as nx
from nexus_kernel_helpers import sandbox

VICTIMS = """
create schema victims;
create table victims.accounts (id serial primary key, owner text not null, balance int);
insert into victims.accounts (owner, balance)
    select 'owner ' || g, g * 10 from generate_series(1, 500) g;
create table victims.ledger (account_id int, amount int);
insert into victims.ledger select g % 500 + 1, g from generate_series(1, 2000) g;
create function victims.wipe() returns int language plpgsql as
    $$ begin delete from victims.accounts; return 1; end $$;
create procedure victims.wipe_all() language sql as $$ delete from victims.accounts $$;
"""

FINGERPRINT = """
select
  (select md5(string_agg(a::text, ',' order by id)) from victims.accounts a),
  (select md5(string_agg(l::text, ',' order by account_id, amount)) from victims.ledger l),
  (select last_value from victims.accounts_id_seq),
  (select string_agg(relname || ':' || relkind::text, ',' order by relname)
     from pg_class where relnamespace = 'victims'::regnamespace),
  (select string_agg(rolname || ':' || rolsuper::text, ',' order by rolname) from pg_roles),
  (select count(*) from pg_locks where locktype = 'advisory')
"""


@pytest.fixture(
    scope="module", params=["embedded", pytest.param("docker", marks=pytest.mark.docker)]
)
def db(request: pytest.FixtureRequest) -> Iterator[nx.Database]:
    """Each real backend, with the victim schema loaded and the agent role already made."""
    database: nx.Database = request.getfixturevalue(f"{request.param}_db")
    database.query("drop schema if exists victims cascade")
    database.query(VICTIMS)
    sandbox.run_readonly(database, "select 1", as_agent=True)
    yield database
    database.query("drop schema victims cascade")


def fingerprint(db: nx.Database) -> tuple[object, ...]:
    """Everything the adversarial statements try to change, in one row."""
    return tuple(db.query(FINGERPRINT).rows[0])
