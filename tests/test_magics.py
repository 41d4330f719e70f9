"""The magics in a real IPython shell: thin wrappers that behave like the Python API."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from IPython.core.interactiveshell import InteractiveShell

import nexus_kernel_helpers as nx


@pytest.fixture
def shell() -> Iterator[InteractiveShell]:
    ip = InteractiveShell.instance()
    ip.run_line_magic("load_ext", "nexus_kernel_helpers")
    yield ip
    ip.user_ns.pop("hostile", None)
    InteractiveShell.clear_instance()


@pytest.fixture
def started(shell: InteractiveShell) -> Iterator[nx.Database]:
    shell.run_line_magic("nexus_db", "start --backend embedded --new")
    db = nx.current_database()
    yield db
    db.stop()


def test_start_status_and_stop_drive_the_current_database(
    shell: InteractiveShell, capsys: pytest.CaptureFixture[str]
) -> None:
    shell.run_line_magic("nexus_db", "start --backend embedded --new")
    db = nx.current_database()
    assert db.backend == "embedded"
    shell.run_line_magic("nexus_db", "start")
    assert nx.current_database() is db
    shell.run_line_magic("nexus_db", "status")
    assert "running" in capsys.readouterr().out
    shell.run_line_magic("nexus_db", "stop")
    assert not db.is_running


def test_sql_binds_notebook_variables_as_parameters(
    shell: InteractiveShell, started: nx.Database
) -> None:
    shell.user_ns["hostile"] = "x'); drop table pg_class; --"
    result = shell.run_cell_magic("sql", "", "select :hostile as value, :hostile = :hostile")
    assert isinstance(result, nx.QueryResult)
    assert result.rows == [("x'); drop table pg_class; --", True)]


def test_sql_options_cap_rows_and_store_the_result(
    shell: InteractiveShell, started: nx.Database
) -> None:
    result = shell.run_cell_magic(
        "sql", "--max-rows 50 --show 5 -o squares", "select g * g from generate_series(1, 80) g"
    )
    assert shell.user_ns["squares"] is result
    assert len(result.rows) == 50
    assert "showing 5 of more than 50 rows (stopped at max_rows)" in result._repr_html_()


def test_sql_names_a_missing_variable(shell: InteractiveShell, started: nx.Database) -> None:
    with pytest.raises(nx.ConfigurationError, match=r"no variable for :nowhere"):
        shell.run_cell_magic("sql", "", "select :nowhere")


def test_sql_error_shows_one_message_with_a_caret_and_no_traceback(
    shell: InteractiveShell, started: nx.Database, capsys: pytest.CaptureFixture[str]
) -> None:
    outcome = shell.run_cell("%%sql\nselect nme from pg_class")
    assert isinstance(outcome.error_in_exec, nx.QueryError)
    shown = capsys.readouterr().out
    assert 'QueryError: column "nme" does not exist' in shown
    assert "LINE 1: select nme from pg_class" in shown
    assert "Traceback" not in shown
    assert shell.run_cell_magic("sql", "", "select 1").scalar() == 1


def test_status_without_a_database_says_how_to_start_one(
    shell: InteractiveShell, capsys: pytest.CaptureFixture[str]
) -> None:
    shell.run_line_magic("nexus_db", "start --backend embedded --new")
    shell.run_line_magic("nexus_db", "stop")
    outcome = shell.run_cell("%nexus_db status")
    assert isinstance(outcome.error_in_exec, nx.DatabaseError)
    assert "start one with nx.start_database() or %nexus_db start" in capsys.readouterr().out


def test_start_with_a_dataset_then_reset(
    shell: InteractiveShell, capsys: pytest.CaptureFixture[str]
) -> None:
    shell.run_line_magic(
        "nexus_db", "start --backend embedded --new --dataset shop --scale 0.001 --seed 3"
    )
    db = nx.current_database()
    try:
        assert db.dataset is not None
        assert db.dataset.scale == 0.001
        before = db.query("select count(*) from orders").scalar()
        db.query("truncate orders cascade")
        shell.run_line_magic("nexus_db", "reset")
        assert db.query("select count(*) from orders").scalar() == before
        assert "nexus_shop" in capsys.readouterr().out
    finally:
        db.stop()


def test_explain_line_magic_keeps_the_sql_quotes_and_binds_variables(
    shell: InteractiveShell, started: nx.Database
) -> None:
    shell.user_ns["limit_to"] = 3
    plan = shell.run_line_magic(
        "explain",
        "-o kept select g from generate_series(1, 10) g where g::text <> 'a b' and g < :limit_to",
    )
    assert isinstance(plan, nx.Plan)
    assert shell.user_ns["kept"] is plan
    assert plan.analyzed
    assert plan.root.total_rows == 2
    assert "'a b'" in (plan.root.filter or "")


def test_explain_without_analyze_does_not_run_the_statement(
    shell: InteractiveShell, started: nx.Database
) -> None:
    started.query("create table explained_only (n int)")
    plan = shell.run_cell_magic("explain", "--no-analyze", "insert into explained_only values (1)")
    assert not plan.analyzed
    assert plan.root.node_type == "ModifyTable"
    assert started.query("select count(*) from explained_only").rows == [(0,)]


def test_split_compare_cell_reads_before_after_and_setup_sections() -> None:
    from nexus_kernel_helpers.magics import split_compare_cell

    cell = "select 1\n-- after\nselect 2\n\n-- SETUP:\ncreate index on t (a)\n"
    assert split_compare_cell(cell) == {
        "before": "select 1",
        "after": "select 2",
        "setup": "create index on t (a)",
    }
    with pytest.raises(nx.ConfigurationError, match="no query before"):
        split_compare_cell("-- after\nselect 2")


def test_split_leading_options_never_touches_the_sql() -> None:
    from nexus_kernel_helpers.magics import split_leading_options

    assert split_leading_options("--no-analyze -o p select '-o x' as q") == (
        {"--no-analyze": "", "--out": "p"},
        "select '-o x' as q",
    )
    assert split_leading_options("select -1") == ({}, "select -1")
