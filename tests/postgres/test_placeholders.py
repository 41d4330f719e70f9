import pytest

from nexus_kernel_helpers import ConfigurationError
from nexus_kernel_helpers.postgres._placeholders import bind_named, placeholder_names


def test_names_become_psycopg_placeholders_in_order_of_first_use() -> None:
    bound = bind_named("select :a, :b, :a")
    assert bound.psycopg_text == "select %(a)s, %(b)s, %(a)s"
    assert bound.names == ("a", "b")


@pytest.mark.parametrize(
    "sql",
    [
        "select 'it is :not'",
        "select E'\\' :not'",
        'select 1 as ":not"',
        "select 1 -- :not\n",
        "select /* :not /* nested :not */ */ 1",
        "select $$ :not $$",
        "select $body$ :not $body$",
        "select 1::int",
        "select '{1,2}'::int[]",
        "select \\:not",
        "select a[lo:hi] from t",
        "select a[1:hi] from t",
    ],
)
def test_literals_comments_casts_and_escapes_are_not_placeholders(sql: str) -> None:
    assert placeholder_names(sql) == ()


def test_percent_signs_are_escaped_for_psycopg() -> None:
    assert bind_named("select '50%' like :p, 7 % 2").psycopg_text == (
        "select '50%%' like %(p)s, 7 %% 2"
    )


def test_server_positions_map_back_to_the_original_text() -> None:
    sql = "select :long_name, :x, nme"
    bound = bind_named(sql)
    # The server sees "select $1, $2, nme": nme starts at position 16 there.
    assert bound.original_position(16) == sql.index("nme") + 1


def test_missing_values_are_named() -> None:
    with pytest.raises(ConfigurationError, match=r"no value for placeholder :b"):
        bind_named("select :a, :b").values({"a": 1})
