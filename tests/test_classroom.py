"""`nexus-workbook class-databases`: a database per learner on one server, from the template."""

from __future__ import annotations

import stat
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

import nexus_kernel_helpers as nx
from nexus_kernel_helpers._classroom import ClassPlan, drop_class, prepare_class, reset_learners
from nexus_kernel_helpers.errors import ConfigurationError, DatabaseError

from .support import revealed_url


@pytest.fixture(scope="module")
def server(data_dir: Path) -> Iterator[nx.Database]:
    """A server of this module's own: the class adds roles and databases to it."""
    db = nx.start_database(
        "embedded", reuse=False, make_current=False, settings=nx.Settings(data_dir=data_dir)
    )
    yield db
    db.stop()


def credentials_of(path: Path) -> dict[str, str]:
    lines = [line for line in path.read_text().splitlines() if not line.startswith("#")]
    return dict(line.split(" ", 1) for line in lines)


@pytest.mark.slow
def test_each_learner_gets_a_private_database_they_own(server: nx.Database, tmp_path: Path) -> None:
    plan = ClassPlan(url=revealed_url(server), learners=2, prefix="pupil", scale=0.001)
    credentials = tmp_path / "class.env"
    lines = prepare_class(plan, credentials=credentials)
    try:
        assert lines[0].startswith("template nexus_tpl_shop_0_001_42 ready")
        assert lines[1].startswith("pupil01: postgresql://pupil01:***@/pupil01?host=")
        assert lines[-1].endswith(f"URLs with passwords in {credentials}")
        assert stat.S_IMODE(credentials.stat().st_mode) == 0o600
        urls = credentials_of(credentials)
        assert sorted(urls) == ["pupil01", "pupil02"]
        for url in urls.values():
            password = url.split(":", 2)[2].split("@")[0]
            assert password not in "\n".join(lines)

        with psycopg.connect(urls["pupil01"], autocommit=True) as learner:
            assert learner.execute("select current_user, current_database()").fetchone() == (
                "pupil01",
                "pupil01",
            )
            assert learner.execute("select count(*) > 0 from orders").fetchone() == (True,)
            # The tables are theirs: indexes, statistics and ANALYZE are allowed.
            learner.execute("create index on order_items (order_id)")
            learner.execute("create statistics s (mcv) on tenant_id, country from users")
            learner.execute("analyze users")
            learner.execute("create extension if not exists pg_trgm")
            # ... and only theirs: another learner's database is closed to them.
            other = urls["pupil02"].replace("/pupil02?", "/pupil01?")
            with pytest.raises(psycopg.OperationalError, match="permission denied"):
                psycopg.connect(other).close()
            learner.execute("create table notes (body text)")

        assert reset_learners(plan, ["pupil01"]) == [
            "pupil01: reset to a fresh copy of nexus_tpl_shop_0_001_42"
        ]
        with psycopg.connect(urls["pupil01"]) as learner:
            assert learner.execute("select to_regclass('notes')").fetchone() == (None,)
        with pytest.raises(ConfigurationError, match="'postgres' is not a learner"):
            reset_learners(plan, ["postgres"])
    finally:
        dropped = drop_class(plan)
    assert dropped == ["pupil01: database and role dropped", "pupil02: database and role dropped"]
    left = server.query("select count(*) from pg_roles where rolname like 'pupil%'").scalar()
    assert left == 0


def test_a_foreign_role_with_a_learner_name_is_left_alone(
    server: nx.Database, tmp_path: Path
) -> None:
    server.query("create role guest01 login")
    try:
        plan = ClassPlan(url=revealed_url(server), learners=1, prefix="guest", scale=0.001)
        with pytest.raises(DatabaseError, match="a role named 'guest01' exists"):
            prepare_class(plan, credentials=tmp_path / "c.env")
        assert drop_class(plan) == ["no learners named guestNN made by the workbook"]
    finally:
        server.query("drop role guest01")


def test_plans_are_checked_before_anything_runs(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="--learners must be 1 or more"):
        prepare_class(
            ClassPlan(url="postgresql://x@127.0.0.1:1/x", learners=0), credentials=tmp_path
        )
    with pytest.raises(ConfigurationError, match="prefix 'Bad-Name' is not a plain"):
        ClassPlan(url=None, learners=2, prefix="Bad-Name").names()
    with pytest.raises(ConfigurationError, match="no server to prepare"):
        prepare_class(ClassPlan(url=None, learners=2), credentials=tmp_path / "c.env")
    assert ClassPlan(url=None, learners=120).names()[-1] == "learner120"
