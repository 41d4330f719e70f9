"""start_database(dataset=...), reset and describe on real servers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

import nexus_kernel_helpers as nx
from nexus_kernel_helpers.datasets._templates import MARKER, read_holding, working_copy_comment
from tests.support import private_shop

from ..support import revealed_url

CHECKSUM = "select md5(string_agg(o::text, ',' order by o.id)) from orders o"


@pytest.fixture(scope="module")
def shop(data_dir: Path) -> Iterator[nx.Database]:
    with private_shop(data_dir, scale=0.002, seed=7) as db:
        yield db


def test_the_learner_works_in_a_clone_of_a_template(shop: nx.Database) -> None:
    assert shop.dataset is not None
    assert shop.dataset.generated
    assert shop.database_name == "nexus_shop"
    assert shop.query("select current_database()").scalar() == "nexus_shop"
    databases = dict(
        shop.query("select datname, shobj_description(oid, 'pg_database') from pg_database").rows
    )
    assert databases["nexus_shop"].startswith(MARKER)
    assert databases[shop.dataset.template].startswith(MARKER)
    assert shop.query("select count(*) from orders").scalar() > 0
    assert "dataset" in dict(shop.status_fields())


def test_reset_brings_back_the_fresh_data(shop: nx.Database) -> None:
    fresh = shop.query(CHECKSUM).scalar()
    shop.query("delete from order_items")
    shop.query("update orders set status = 'refunded'")
    shop.query("create table scratch (x int)")
    assert shop.query(CHECKSUM).scalar() != fresh
    lingering = shop.connect(autocommit=True)  # another session on the clone: reset ends it
    lingering.execute("select 1")
    elapsed_ms = shop.reset()
    with pytest.raises(psycopg.OperationalError):
        lingering.execute("select 1")
    lingering.close()
    assert elapsed_ms > 0
    assert shop.query(CHECKSUM).scalar() == fresh
    assert shop.query("select to_regclass('scratch')").scalar() is None


def test_loading_again_reuses_the_template(shop: nx.Database) -> None:
    state = shop.load_dataset("shop", scale=0.002, seed=7)
    assert not state.generated
    assert state.rows == {}


def test_describe_lists_tables_rows_sizes_keys_and_indexes(shop: nx.Database) -> None:
    description = shop.describe()
    names = {t.name for t in description.tables}
    assert {"tenants", "users", "products", "orders", "order_items", "payments", "events"} <= names
    orders = description.table("orders")
    assert orders.rows == shop.query("select count(*) from orders").scalar()
    assert orders.total_bytes > 0
    assert any(key.startswith("primary key") for key in orders.keys)
    assert any(key.startswith("foreign key") for key in orders.keys)
    assert any(column.name == "status" for column in orders.columns)
    html = description._repr_html_()
    assert "order_items" in html
    assert "<script" not in html


def test_unknown_dataset_lists_the_known_ones(shop: nx.Database) -> None:
    with pytest.raises(
        nx.ConfigurationError, match=r"no dataset named 'shopp'; choose one of: shop"
    ):
        shop.load_dataset("shopp")


def test_scale_out_of_range_is_refused(shop: nx.Database) -> None:
    with pytest.raises(nx.ConfigurationError, match=r"scale 20 is out of range"):
        shop.load_dataset("shop", scale=20)
    assert shop.query("select count(*) from orders").scalar() > 0


def test_reset_without_a_dataset_says_how(embedded_db: nx.Database) -> None:
    with pytest.raises(nx.ConfigurationError, match=r"holds no dataset to reset to"):
        embedded_db.reset()


def test_a_foreign_database_with_our_name_is_never_dropped(embedded_db: nx.Database) -> None:
    embedded_db.query("create database nexus_shop")
    try:
        with pytest.raises(nx.DatabaseError, match=r"exists and the workbook did not make it"):
            embedded_db.load_dataset("shop", scale=0.001, seed=1)
        assert (
            embedded_db.query(
                "select count(*) from pg_database where datname = 'nexus_shop'"
            ).scalar()
            == 1
        )
    finally:
        embedded_db.use_database(embedded_db.home_database)
        embedded_db.query("drop database if exists nexus_shop")


@pytest.mark.parametrize("scale", [0.05, 1, 0.0001, 2.5, 0.1 + 0.2])
def test_comments_record_exactly_what_a_database_holds(scale: float) -> None:
    comment = working_copy_comment("nexus_tpl_x", "shop", scale, -3)
    assert comment.startswith(f"{MARKER}: working copy of nexus_tpl_x (dataset shop scale ")
    assert read_holding(comment) == ("shop", scale, -3)
    assert read_holding(f"{MARKER}: working copy of nexus_tpl_x") is None


def test_a_url_naming_a_working_copy_adopts_it_and_resets_it_in_place(
    shop: nx.Database,
) -> None:
    assert shop.dataset is not None
    template = shop.dataset.template
    shop.use_database(shop.dataset.home)
    shop.query(f"create database adopt_me template {template}")
    # A comment as earlier versions wrote it: the template's name alone.
    shop.query(f"comment on database adopt_me is '{MARKER}: working copy of {template}'")
    shop.use_database(shop.dataset.clone)
    url = revealed_url(shop).replace("/nexus_shop?", "/adopt_me?")
    try:
        with pytest.raises(nx.ConfigurationError) as raised:
            nx.start_database("url", url=url, make_current=False, dataset="shop", scale=0.002)
        assert str(raised.value) == (
            f"the database 'adopt_me' holds a copy of {template}, not shop scale 0.002 seed 42;"
            " connect to a database made for shop scale 0.002 seed 42"
        )
        before = shop.query("select count(*) from pg_database").scalar()
        db = nx.start_database(
            "url", url=url, make_current=False, dataset="shop", scale=0.002, seed=7
        )
        try:
            assert db.dataset is not None
            assert (db.dataset.adopted, db.dataset.clone, db.dataset.template) == (
                True,
                "adopt_me",
                template,
            )
            assert shop.query("select count(*) from pg_database").scalar() == before
            db.query("create table scratch (x int)")
            db.reset()  # a superuser may: it owns the copy and the template
            assert db.database_name == "adopt_me"
            assert db.query("select to_regclass('scratch')").scalar() is None
            assert db.query(CHECKSUM).scalar() == shop.query(CHECKSUM).scalar()
            comment = db.query(
                "select shobj_description(oid, 'pg_database') from pg_database"
                " where datname = current_database()"
            ).scalar()
            assert read_holding(comment) == ("shop", 0.002, 7)
        finally:
            db.stop()
    finally:
        shop.query("drop database if exists adopt_me")
