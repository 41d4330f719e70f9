"""compare() against the real embedded server: trustworthiness, bad input, cancellation, reports.

The trustworthiness tests are the issue's acceptance tests: an A/A comparison says "no
significant difference" (at least 19 times out of 20), a real index on a 500k-row table says
"faster" every time (10 of 10), a rewrite that changes the rows is flagged every time, and
DML leaves the data exactly as it was.
"""

from __future__ import annotations

import _thread
import json
import statistics
import threading
import time
from collections.abc import Iterator

import pytest

import nexus_kernel_helpers as nx
from nexus_kernel_helpers.errors import ConfigurationError, QueryError, SandboxRefusal
from nexus_kernel_helpers.plans._compare import (
    CANCELLED,
    DIFFERENT_RESULTS,
    FAILED,
    Comparison,
    compare,
)
from nexus_kernel_helpers.plans._plot import distribution_svg
from nexus_kernel_helpers.plans._stats import FASTER, NO_DIFFERENCE, SLOWER
from tests.support import HtmlTagsAndText

SCHEMA = """
create schema compare_tests;
create table compare_tests.big (
    id int primary key, customer_id int not null, amount int not null, note text not null
);
insert into compare_tests.big
    select g, (g::bigint * 7919) % 50000, g % 1000, 'note ' || g
    from generate_series(1, 500000) g;
create table compare_tests.small (id int primary key, grp int not null, val int not null);
insert into compare_tests.small select g, g % 10, g % 7 from generate_series(1, 2000) g;
"""
CHECKSUM = """
select md5(string_agg(s::text, ',' order by id)), count(*) from compare_tests.small s
"""
KNOWN_IMPROVEMENT = "select * from compare_tests.big where customer_id = :customer"
INDEX = "create index on compare_tests.big (customer_id)"


@pytest.fixture(scope="module")
def db(embedded_db: nx.Database) -> Iterator[nx.Database]:
    embedded_db.query("drop schema if exists compare_tests cascade")
    embedded_db.query(SCHEMA)
    embedded_db.query("vacuum analyze compare_tests.big, compare_tests.small")
    yield embedded_db
    embedded_db.query("drop schema compare_tests cascade")


def indexes(db: nx.Database) -> list[str]:
    rows = db.query("select indexname from pg_indexes where schemaname = 'compare_tests'").rows
    return sorted(str(row[0]) for row in rows)


def busy_backends(db: nx.Database) -> int:
    """Other sessions of this database still running a statement."""
    row = db.query(
        "select count(*) from pg_stat_activity where datname = current_database()"
        " and pid <> pg_backend_pid() and state = 'active' and backend_type = 'client backend'"
    ).rows[0]
    return int(row[0])


# -- trustworthiness -------------------------------------------------------------------------


def test_known_improvement_is_faster_every_time(db: nx.Database) -> None:
    before_indexes = indexes(db)
    speedups = []
    for repetition in range(10):
        result = compare(db, KNOWN_IMPROVEMENT, setup=INDEX, params={"customer": 42 + repetition})
        assert result.verdict == FASTER, result.headline
        assert result.equivalent is True
        assert result.ci_low is not None
        assert result.ci_low > 1.05
        assert result.before.plan is not None
        assert result.after.plan is not None
        assert any("Seq Scan" in node.node_type for node in result.before.plan.nodes)
        assert not any("Seq Scan" in node.node_type for node in result.after.plan.nodes)
        speedups.append(result.speedup or 0.0)
    assert indexes(db) == before_indexes  # every what-if rolled back
    spread = (min(speedups), statistics.median(speedups), max(speedups))
    print(f"\nknown improvement speedups (min, median, max): {spread}")  # noqa: T201


def test_aa_same_query_gives_no_difference(db: nx.Database) -> None:
    sql = "select grp, sum(val), count(*) from compare_tests.small where id > 100 group by grp"
    results = [compare(db, sql) for _ in range(20)]
    verdicts = [r.verdict for r in results]
    assert verdicts.count(NO_DIFFERENCE) >= 19, verdicts
    assert all(r.equivalent for r in results)
    assert all(r.notes[0].startswith("A/A test") for r in results)
    intervals = [(round(r.ci_low or 0, 2), round(r.ci_high or 0, 2)) for r in results]
    print(f"\nA/A small: {verdicts.count(NO_DIFFERENCE)}/20, intervals {intervals}")  # noqa: T201


@pytest.mark.slow
def test_aa_parallel_scan_of_500k_rows_gives_no_difference(db: nx.Database) -> None:
    # The noisiest case on two cores: a parallel sequential scan, leader and two workers.
    sql = "select count(*), sum(amount) from compare_tests.big where note like '%77%'"
    results = [compare(db, sql) for _ in range(20)]
    verdicts = [r.verdict for r in results]
    assert verdicts.count(NO_DIFFERENCE) >= 19, verdicts
    intervals = [(round(r.ci_low or 0, 2), round(r.ci_high or 0, 2)) for r in results]
    print(f"\nA/A 500k: {verdicts.count(NO_DIFFERENCE)}/20, intervals {intervals}")  # noqa: T201


@pytest.mark.parametrize(
    ("before", "after"),
    [
        (
            "select id from compare_tests.small where grp = 1",
            "select id from compare_tests.small where grp = 2",
        ),
        (
            "select id, val from compare_tests.small where id <= 50",
            "select id, val from compare_tests.small where id < 50",
        ),
        (
            "select grp from compare_tests.small",
            "select distinct grp from compare_tests.small",
        ),
        (
            "select id from compare_tests.small where val is not null",
            "select id from compare_tests.small where val <> 0",
        ),
        (
            "select id from compare_tests.small order by id limit 10",
            "select id from compare_tests.small order by id desc limit 10",
        ),
        (
            "select id from compare_tests.small where grp = 3 order by id",
            "select id from compare_tests.small where grp = 3 order by val, id",
        ),
    ],
)
def test_rewrite_that_changes_results_is_flagged_every_time(
    db: nx.Database, before: str, after: str
) -> None:
    for _ in range(3):
        result = compare(db, before, after, runs=3, warmup=0)
        assert result.verdict == DIFFERENT_RESULTS
        assert result.equivalent is False
        assert result.equivalence_note.startswith(("DIFFERENT RESULTS", "DIFFERENT ORDER"))
        assert any("no speed verdict" in note for note in result.notes)
        assert "faster" not in result.headline
        assert result.speedup is not None  # measured all the same, and shown


def test_equivalent_rewrite_is_compared_on_speed(db: nx.Database) -> None:
    result = compare(
        db,
        "select id from compare_tests.small where grp in (1, 2)",
        "select id from compare_tests.small where grp = 1 or grp = 2",
        runs=3,
        warmup=0,
    )
    assert result.equivalent is True
    assert result.verdict in (FASTER, SLOWER, NO_DIFFERENCE)
    assert result.before.row_count == result.after.row_count == 400


def test_dml_compare_leaves_the_data_unchanged(db: nx.Database) -> None:
    checksum = db.query(CHECKSUM).rows[0]
    update = "update compare_tests.small set val = val + 1 where grp = :g"
    result = compare(db, update, update.replace("grp = :g", "grp = :g and id > 0"),
                     params={"g": 4}, runs=3, warmup=0)  # fmt: skip
    assert result.equivalent is True
    assert result.before.row_count == 200
    assert result.fairness["data changes"].startswith("every run rolled back")
    assert result.fairness["order"].startswith("interleaved")
    delete = "delete from compare_tests.small where val = 3 returning id, grp"
    result = compare(
        db, delete, setup="create index on compare_tests.small (val)", runs=3, warmup=0
    )
    assert result.equivalent is True
    assert result.equivalence_note.startswith("same rows (286 rows")  # RETURNING compared
    assert result.before.row_count == result.after.row_count == 286
    # CREATE INDEX blocks writes to the table: the sides could not alternate.
    assert result.fairness["order"].startswith("sequential")
    assert "compare_tests.small" in result.fairness["order"]
    assert db.query(CHECKSUM).rows[0] == checksum
    assert "small_val_idx" not in " ".join(indexes(db))


def test_dml_returning_different_values_is_flagged(db: nx.Database) -> None:
    update = "update compare_tests.small set val = val + 1 where grp = 4 returning id, val"
    result = compare(db, update, update.replace("returning id, val", "returning id, val - 1"),
                     runs=3, warmup=0)  # fmt: skip
    assert result.verdict == DIFFERENT_RESULTS
    assert result.equivalence_note.startswith("DIFFERENT RESULTS: before returned 200 rows")


def test_dml_that_changes_other_rows_is_flagged(db: nx.Database) -> None:
    result = compare(
        db,
        "update compare_tests.small set val = 0 where grp = 1",
        "update compare_tests.small set val = 0 where grp = 1 or id = 5",
        runs=3,
        warmup=0,
    )
    assert result.verdict == DIFFERENT_RESULTS
    assert "changed 200 rows, after 201" in result.equivalence_note


def test_setup_that_locks_out_readers_runs_sides_in_turn(db: nx.Database) -> None:
    # Dropping the key locks the table exclusively: the before side could not even read it.
    sql = "select * from compare_tests.small where id = 77"
    setup = "alter table compare_tests.small drop constraint small_pkey"
    result = compare(db, sql, setup=setup, runs=3, warmup=0)
    assert result.fairness["order"].startswith("sequential")
    assert result.equivalent is True
    assert result.after.plan is not None
    assert result.after.plan.root.node_type == "Seq Scan"
    assert "small_pkey" in indexes(db)


# -- failures, cancellation and bad input ----------------------------------------------------


def test_timeout_on_one_side_reports_it_and_shows_the_other(db: nx.Database) -> None:
    result = compare(db, "select pg_sleep(0.5)", "select 1", timeout_ms=100, runs=3, warmup=0)
    assert result.verdict == FAILED
    assert result.before.error is not None
    assert "timed out" in result.before.error
    assert "100 ms" in result.before.error
    assert result.before.execution_ms == []
    assert len(result.after.execution_ms) == 3
    assert result.after.plan is not None
    assert "timed out" in result.headline
    assert busy_backends(db) == 0


def test_cancel_event_stops_running_statements(db: nx.Database) -> None:
    cancel = threading.Event()
    timer = threading.Timer(1.0, cancel.set)
    timer.start()
    started = time.perf_counter()
    try:
        result = compare(db, "select pg_sleep(5)", setup=INDEX, cancel=cancel, runs=3, warmup=0)
    finally:
        timer.cancel()
    elapsed = time.perf_counter() - started
    assert result.verdict == CANCELLED
    assert elapsed < 4  # the 5 s sleep running at that moment was cancelled on the server
    assert busy_backends(db) == 0
    assert "big_customer_id_idx" not in indexes(db)  # the what-if was rolled back
    assert "cancelled" in result.headline
    assert db.query("select 1").rows == [(1,)]


def test_ctrl_c_cancels_cleanly_and_is_raised(db: nx.Database) -> None:
    timer = threading.Timer(1.0, _thread.interrupt_main)
    timer.start()
    started = time.perf_counter()
    try:
        with pytest.raises(KeyboardInterrupt):
            compare(db, "select pg_sleep(5)", setup=INDEX, runs=3, warmup=0)
    finally:
        timer.cancel()
    assert time.perf_counter() - started < 4
    assert busy_backends(db) == 0
    assert "big_customer_id_idx" not in indexes(db)
    assert db.query("select 1").rows == [(1,)]


def test_cancel_between_runs_keeps_the_runs_done(db: nx.Database) -> None:
    cancel = threading.Event()

    def progress(done: int, total: int, stage: str) -> None:
        if stage == "after: run 3/15":
            cancel.set()

    result = compare(db, "select 1", cancel=cancel, progress=progress)
    assert result.verdict == CANCELLED
    assert len(result.after.execution_ms) == 3
    assert len(result.before.execution_ms) in (3, 4)
    assert result.headline == "cancelled after 3 of 15 runs per side"


def test_cancel_set_before_the_start_runs_nothing(db: nx.Database) -> None:
    cancel = threading.Event()
    cancel.set()
    calls: list[str] = []
    result = compare(
        db, "select 1", cancel=cancel, progress=lambda done, total, stage: calls.append(stage)
    )
    assert result.verdict == CANCELLED
    assert result.before.execution_ms == result.after.execution_ms == []
    assert calls == []


def test_syntax_error_raises_before_any_run(db: nx.Database) -> None:
    calls: list[int] = []
    with pytest.raises(QueryError, match="syntax error") as raised:
        compare(db, "select 1", "selec 1", progress=lambda done, total, stage: calls.append(done))
    assert raised.value.position == 1
    assert calls == []


def test_unknown_column_raises_before_any_run(db: nx.Database) -> None:
    calls: list[int] = []
    with pytest.raises(QueryError, match="nope"):
        compare(
            db,
            "select nope from compare_tests.small",
            setup=INDEX,
            progress=lambda done, total, stage: calls.append(done),
        )
    assert calls == []
    assert "big_customer_id_idx" not in indexes(db)


@pytest.mark.parametrize(
    "setup",
    [
        "create index concurrently on compare_tests.small (val)",
        "vacuum compare_tests.small",
        "checkpoint",
    ],
)
def test_setup_that_cannot_be_rolled_back_is_refused(db: nx.Database, setup: str) -> None:
    with pytest.raises(SandboxRefusal):
        compare(db, "select 1", setup=setup)


@pytest.mark.parametrize(
    "sql",
    [
        "create table compare_tests.x (a int)",
        "show work_mem",
        "select pg_advisory_lock(1)",
        "select 1; select 2",
        "explain select 1",
        "with d as (delete from compare_tests.small returning *) select * from d",
    ],
)
def test_statements_compare_does_not_measure_are_refused(db: nx.Database, sql: str) -> None:
    with pytest.raises(SandboxRefusal):
        compare(db, sql, "select 1")


def test_bad_options_are_configuration_errors(db: nx.Database) -> None:
    with pytest.raises(ConfigurationError, match="runs"):
        compare(db, "select 1", runs=1)
    with pytest.raises(ConfigurationError, match="warmup"):
        compare(db, "select 1", warmup=-1)
    with pytest.raises(ConfigurationError, match="params"):
        compare(db, "select :a", params=[1])  # type: ignore[arg-type]


# -- fairness, progress and reports ----------------------------------------------------------


def test_progress_and_fairness_are_recorded(db: nx.Database) -> None:
    calls: list[tuple[int, int, str]] = []
    result = compare(
        db,
        "select count(*) from compare_tests.small",
        jit=False,
        runs=4,
        warmup=1,
        progress=lambda done, total, stage: calls.append((done, total, stage)),
    )
    assert [done for done, _, _ in calls] == list(range(1, 13))
    assert {total for _, total, _ in calls} == {12}
    assert calls[0][2] == "before: equivalence check"
    assert [stage for _, _, stage in calls[2:8]] == [
        "before: warm-up 1/1",
        "after: warm-up 1/1",
        "before: run 1/4",
        "after: run 1/4",
        "after: run 2/4",
        "before: run 2/4",
    ]
    fairness = result.fairness
    assert fairness["jit"].startswith("off (SET LOCAL")
    assert result.before.plan is not None
    assert result.before.plan.settings.get("jit") == "off"
    assert fairness["server"] == f"PostgreSQL {db.server_version}"
    assert fairness["runs"] == 4
    assert fairness["warmup"] == 1
    assert "warm" in fairness["cache"]
    assert "compare_tests.small" in fairness["tables"]
    assert fairness["parallel workers launched"]["before"].startswith("none")
    assert len(result.before.wall_ms) == 4
    assert all(wall > 0 for wall in result.after.wall_ms)


def test_parallel_workers_are_counted(db: nx.Database) -> None:
    result = compare(
        db, "select count(*) from compare_tests.big where note like '%5%'", runs=3, warmup=0
    )
    launched = result.fairness["parallel workers launched"]["before"]
    assert launched.endswith("of 2 planned")
    assert all(planned == 2 for _, planned in result.before.workers)


def test_reports_escape_and_carry_everything(db: nx.Database) -> None:
    sql = 'select id as "<b>bold</b>" from compare_tests.small where grp = 5 /* <script> */'
    result = compare(db, sql, setup="create index on compare_tests.small (grp)", runs=3, warmup=0)
    bundle = result._repr_mimebundle_()
    html = bundle["text/html"]
    assert "<script>" not in html
    assert "<b>bold</b>" not in html
    parsed = HtmlTagsAndText()
    parsed.feed(html)
    assert "svg" in parsed.tags
    assert "script" not in parsed.tags
    text = " ".join(parsed.text)
    assert result.verdict in text
    assert text.index(result.verdict) < text.index("Plan changes") < text.index("Fairness")
    assert bundle["text/plain"].startswith(f"Comparison: {result.verdict.upper()}")
    markdown = result.to_markdown()
    assert markdown.startswith(f"### Query comparison: **{result.verdict}**")
    assert "| execution time, median |" in markdown
    assert "create index on compare_tests.small (grp);" in markdown
    data = json.loads(result.to_json())
    assert data["verdict"] == result.verdict
    assert data["before"]["execution_ms"] == result.before.execution_ms
    assert data["after"]["plan"][0]["Plan"]["Node Type"]
    assert isinstance(result, Comparison)


def test_distribution_plot_is_valid_escaped_svg() -> None:
    svg = distribution_svg([("<b>", [1.0, 2.0, 3.0]), ("after", [0.01, 0.02]), ("none", [])])
    assert svg.startswith("<svg")
    assert svg.endswith("</svg>")
    assert "<b>" not in svg
    assert "&lt;b&gt;" in svg
    assert "log scale" in svg  # 0.01 to 3 ms: more than 20 times apart
    assert "no runs" in svg
    parsed = HtmlTagsAndText()
    parsed.feed(svg)
    assert parsed.tags.count("circle") == 5
