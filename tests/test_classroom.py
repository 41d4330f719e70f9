"""`nexus-workbook class-databases`: a database per learner on one server, from the template.

End to end on a real server: the instructor prepares a class, learners connect with their own
URL as they would from a notebook (`start_database(url=..., dataset="shop")`), and the
notebook adopts their database instead of building one.
"""

from __future__ import annotations

import stat
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

import nexus_kernel_helpers as nx
from nexus_kernel_helpers._classroom import ClassPlan, drop_class, prepare_class, reset_learners
from nexus_kernel_helpers.datasets._templates import MARKER
from nexus_kernel_helpers.errors import ConfigurationError, DatabaseError

from .support import revealed_url

SCALE = 0.01
CHECKSUM = "select md5(string_agg(o::text, ',' order by o.id)) from orders o"


@pytest.fixture(scope="module")
def server(data_dir: Path) -> Iterator[nx.Database]:
    """A server of this module's own: the class adds roles and databases to it."""
    db = nx.start_database(
        "embedded", reuse=False, make_current=False, settings=nx.Settings(data_dir=data_dir)
    )
    yield db
    db.stop()


@pytest.fixture(scope="module")
def instructor(server: nx.Database) -> Iterator[nx.Database]:
    """The instructor's own notebook on the same server, with work of theirs in `nexus_shop`."""
    db = nx.start_database(
        "url",
        url=revealed_url(server),
        reuse=False,
        make_current=False,
        dataset="shop",
        scale=SCALE,
    )
    db.query("create table instructor_notes (body text)")
    db.query("insert into instructor_notes values ('mine')")
    yield db
    db.stop()


def credentials_of(path: Path) -> dict[str, str]:
    lines = [line for line in path.read_text().splitlines() if not line.startswith("#")]
    return dict(line.split(" ", 1) for line in lines)


@pytest.fixture(scope="module")
def pupils(
    server: nx.Database, instructor: nx.Database, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[ClassPlan, dict[str, str], list[str], Path]]:
    """A least-privilege class of two: learners without CREATEDB."""
    plan = ClassPlan(
        url=revealed_url(server), learners=2, prefix="pupil", scale=SCALE, learner_reset=False
    )
    credentials = tmp_path_factory.mktemp("pupils") / "class.env"
    lines = prepare_class(plan, credentials=credentials)
    yield plan, credentials_of(credentials), lines, credentials
    drop_class(plan)


@pytest.fixture(scope="module")
def solos(
    server: nx.Database, instructor: nx.Database, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[ClassPlan, dict[str, str]]]:
    """A class of two whose learners may reset their own databases (the default)."""
    plan = ClassPlan(url=revealed_url(server), learners=2, prefix="solo", scale=SCALE)
    credentials = tmp_path_factory.mktemp("solos") / "class.env"
    prepare_class(plan, credentials=credentials)
    yield plan, credentials_of(credentials)
    drop_class(plan)


def as_learner(url: str, scale: float = SCALE, seed: int = 42) -> nx.Database:
    """What `%nexus_db start --dataset shop` does in a learner's notebook."""
    return nx.start_database(
        backend="url",
        url=url,
        dataset="shop",
        scale=scale,
        seed=seed,
        make_current=False,
        reuse=False,
    )


def databases(server: nx.Database) -> dict[str, str | None]:
    rows = server.query(
        "select datname, shobj_description(oid, 'pg_database') from pg_database"
    ).rows
    return dict(rows)


def test_prepare_shows_masked_urls_and_writes_a_private_credentials_file(
    pupils: tuple[ClassPlan, dict[str, str], list[str], Path],
) -> None:
    _, urls, lines, credentials = pupils
    assert lines[0] == (
        "template nexus_class_pupil ready (shop scale 0.01 seed 42; resets by --reset NAME)"
    )
    assert lines[1].startswith("pupil01: postgresql://pupil01:***@/pupil01?host=")
    assert lines[-1] == f"2 learner databases ready; URLs with passwords in {credentials}"
    assert stat.S_IMODE(credentials.stat().st_mode) == 0o600
    assert sorted(urls) == ["pupil01", "pupil02"]
    for url in urls.values():
        password = url.split(":", 2)[2].split("@")[0]
        assert password not in "\n".join(lines)


def test_a_learner_adopts_their_database_and_creates_none(
    server: nx.Database,
    instructor: nx.Database,
    pupils: tuple[ClassPlan, dict[str, str], list[str], Path],
) -> None:
    _, urls, _, _ = pupils
    before = databases(server)
    learner = as_learner(urls["pupil01"])
    try:
        assert databases(server) == before  # nothing generated, cloned or created
        assert learner.dataset is not None
        assert learner.dataset.adopted
        assert not learner.dataset.generated
        assert learner.dataset.template == "nexus_class_pupil"
        assert learner.database_name == "pupil01"
        assert any(
            note.startswith("pupil01 is a working copy of nexus_class_pupil: used as shop scale")
            for note in learner.notes
        )
        assert "working copy of nexus_class_pupil" in learner._repr_html_()
        assert learner.query("select current_user, current_database()").rows == [
            ("pupil01", "pupil01")
        ]
        assert learner.query(CHECKSUM).scalar() == instructor.query(CHECKSUM).scalar()
        # Statement statistics come with the class template; a learner sees their own.
        assert learner.has_statements
        assert learner.query("select count(*) from pg_stat_statements").scalar() > 0
        # The tables are theirs (through the class group): indexes, statistics, ANALYZE.
        learner.query("create index on order_items (order_id)")
        learner.query("create statistics s (mcv) on tenant_id, country from users")
        learner.query("analyze users")
        learner.query("create extension if not exists pg_trgm")
        plan = learner.explain("select * from order_items where order_id = 7")
        assert "order_items_order_id_idx" in plan.to_json()
        # Starting again in the same notebook adopts again and notes it once.
        again = as_learner(urls["pupil01"])
        assert again.dataset is not None
        assert again.dataset.adopted
        assert len(again.notes) == len(set(again.notes))
        again.stop()
        # ... and only theirs: the other learner's database and the class template are closed.
        other = urls["pupil01"].replace("/pupil01?", "/pupil02?")
        with pytest.raises(psycopg.OperationalError, match="permission denied"):
            psycopg.connect(other).close()
        template = urls["pupil01"].replace("/pupil01?", "/nexus_class_pupil?")
        with pytest.raises(psycopg.OperationalError, match="not currently accepting"):
            psycopg.connect(template).close()
    finally:
        learner.stop()
        reset_learners(pupils[0], ["pupil01"])


def test_asking_for_another_scale_says_what_the_database_holds(
    pupils: tuple[ClassPlan, dict[str, str], list[str], Path],
) -> None:
    _, urls, _, _ = pupils
    with pytest.raises(ConfigurationError) as raised:
        as_learner(urls["pupil02"], scale=0.05)
    message = str(raised.value)
    assert message.startswith(
        "the database 'pupil02' holds shop scale 0.01 seed 42, not shop scale 0.05 seed 42;"
        " start with --dataset shop --scale 0.01 --seed 42 (dataset=, scale=, seed= in Python),"
        " or use a database made for shop scale 0.05 seed 42"
    )
    assert "\n" not in message
    assert raised.value._render_traceback_() == [f"ConfigurationError: {message}"]


def test_without_createdb_a_reset_says_to_ask_the_instructor(
    pupils: tuple[ClassPlan, dict[str, str], list[str], Path],
    solos: tuple[ClassPlan, dict[str, str]],
) -> None:
    plan, urls, _, _ = pupils
    learner = as_learner(urls["pupil02"])
    try:
        fresh = learner.query(CHECKSUM).scalar()
        learner.query("create table notes (body text)")
        learner.query("delete from order_items")
        with pytest.raises(DatabaseError) as raised:
            learner.reset()
        assert str(raised.value) == (
            "the role 'pupil02' may not re-create 'pupil02' (it lacks CREATEDB);"
            " ask the instructor for a fresh copy: nexus-workbook class-databases --reset pupil02"
        )
        # The refused reset left everything as it was, and the notebook goes on.
        assert learner.query("select to_regclass('notes') is not null").scalar()
        assert learner.database_name == "pupil02"
        learner.stop()

        assert reset_learners(plan, ["pupil02"]) == [
            "pupil02: reset to a fresh copy of nexus_class_pupil"
        ]
        learner = as_learner(urls["pupil02"])
        assert learner.query("select to_regclass('notes')").scalar() is None
        assert learner.query(CHECKSUM).scalar() == fresh
        with pytest.raises(ConfigurationError, match="'postgres' is not a learner"):
            reset_learners(plan, ["postgres"])
        with pytest.raises(ConfigurationError, match="'solo01' is not in the class 'pupil'"):
            reset_learners(plan, ["solo01"])
    finally:
        learner.stop()


def test_learners_with_createdb_reset_their_own_database(
    server: nx.Database, solos: tuple[ClassPlan, dict[str, str]]
) -> None:
    _, urls = solos
    first, second = as_learner(urls["solo01"]), as_learner(urls["solo02"])
    try:
        fresh = first.query(CHECKSUM).scalar()
        first.query("create table notes (body text)")
        first.query("update orders set status = 'refunded'")
        second.query("create table mine (body text)")
        lingering = first.connect(autocommit=True)  # another notebook of theirs: reset ends it
        before = set(databases(server))

        elapsed_ms = first.reset()

        assert elapsed_ms > 0
        with pytest.raises(psycopg.OperationalError):
            lingering.execute("select 1")
        lingering.close()
        assert first.database_name == "solo01"
        assert first.query("select to_regclass('notes')").scalar() is None
        assert first.query(CHECKSUM).scalar() == fresh
        assert set(databases(server)) == before  # no leftover beside the fresh copy
        row = server.query(
            "select datdba::regrole::text, datacl::text[], datallowconn,"
            " shobj_description(oid, 'pg_database') from pg_database where datname = 'solo01'"
        ).rows[0]
        assert row[0] == "solo01"
        assert row[1] == ["solo01=CTc/solo01"]  # closed to every other role
        assert row[2] is True
        assert (
            row[3]
            == f"{MARKER}: working copy of nexus_class_solo (dataset shop scale 0.01 seed 42)"
        )
        first.query("create index on orders (status)")  # the fresh tables are still theirs
        # The other learner's database is untouched, and theirs resets as well.
        assert second.query("select to_regclass('mine') is not null").scalar()
        other = urls["solo02"].replace("/solo02?", "/solo01?")
        with pytest.raises(psycopg.OperationalError, match="permission denied"):
            psycopg.connect(other).close()
        second.reset()
        assert second.query("select to_regclass('mine')").scalar() is None
    finally:
        first.stop()
        second.stop()


def test_the_instructors_work_is_never_touched(
    server: nx.Database,
    instructor: nx.Database,
    pupils: tuple[ClassPlan, dict[str, str], list[str], Path],
    solos: tuple[ClassPlan, dict[str, str]],
) -> None:
    assert instructor.database_name == "nexus_shop"
    assert instructor.query("select body from instructor_notes").rows == [("mine",)]
    assert instructor.dataset is not None
    template = instructor.dataset.template
    row = server.query(
        "select datistemplate, datallowconn, datacl is null, shobj_description(oid, 'pg_database')"
        " from pg_database where datname = :name",
        {"name": template},
    ).rows[0]
    assert row == (False, True, True, f"{MARKER}: template of shop scale {SCALE} (complete)")
    instructor.reset()
    assert instructor.query("select to_regclass('instructor_notes')").scalar() is None


def test_drop_removes_the_class_and_nothing_else(
    server: nx.Database, instructor: nx.Database, tmp_path: Path
) -> None:
    plan = ClassPlan(url=revealed_url(server), learners=1, prefix="brief", scale=SCALE)
    prepare_class(plan, credentials=tmp_path / "c.env")
    assert drop_class(plan) == [
        "brief01: database and role dropped",
        "nexus_class_brief: class template dropped",
        "brief_class: group role dropped",
    ]
    names = set(databases(server))
    assert not {"brief01", "nexus_class_brief"} & names
    assert {"nexus_shop", "nexus_tpl_shop_0_01_42"} <= names
    left = server.query("select count(*) from pg_roles where rolname like 'brief%'").scalar()
    assert left == 0
    assert drop_class(plan) == ["no learners named briefNN made by the workbook"]


def test_an_instructor_without_superuser_runs_a_class(server: nx.Database, tmp_path: Path) -> None:
    """The usual managed server: the instructor has CREATEDB and CREATEROLE, nothing more."""
    server.query("create role teacher login password 'teacher-pw' createdb createrole")
    teacher = server.sqlalchemy_url.set(username="teacher", password="teacher-pw")
    teacher_url = teacher.render_as_string(hide_password=False)
    plan = ClassPlan(url=teacher_url, learners=1, prefix="guided", scale=0.001, seed=3)
    try:
        prepare_class(plan, credentials=tmp_path / "c.env")
        url = credentials_of(tmp_path / "c.env")["guided01"]
        learner = as_learner(url, scale=0.001, seed=3)
        try:
            learner.query("create index on orders (status)")
            learner.query("create table notes (body text)")
            learner.reset()
            assert learner.query("select to_regclass('notes')").scalar() is None
            learner.query("create table notes (body text)")
            # The instructor's reset ends the learner's sessions, which it may; the notebook
            # says so once, and its next query runs on the fresh copy.
            reset_learners(plan, ["guided01"])
            with pytest.raises(DatabaseError, match="lost the connection"):
                learner.query("select 1")
            assert learner.query("select to_regclass('notes')").scalar() is None
        finally:
            learner.stop()
    finally:
        assert drop_class(plan)[-1] == "guided_class: group role dropped"
        server.query("drop database if exists nexus_tpl_shop_0_001_3")
        server.query("drop role teacher")


def test_a_foreign_role_with_a_learner_name_is_left_alone(
    server: nx.Database, tmp_path: Path
) -> None:
    server.query("create role guest01 login")
    try:
        plan = ClassPlan(url=revealed_url(server), learners=1, prefix="guest", scale=SCALE)
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
