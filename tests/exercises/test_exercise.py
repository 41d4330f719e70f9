"""An exercise as a learner uses it: task card, hints, checks of wrong answers, the panel."""

from __future__ import annotations

from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

import nexus_kernel_helpers as nx
from nexus_kernel_helpers.errors import ConfigurationError, SandboxRefusal
from nexus_kernel_helpers.exercises import (
    CheckResult,
    Exercise,
    ProgressStore,
    exercise,
    exercise_spec,
)


class TextAndClasses(HTMLParser):
    """The visible text of an HTML fragment and the classes it uses."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.text: list[str] = []
        self.classes: list[str] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.classes += [v or "" for k, v in attrs if k == "class"]

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    @property
    def joined(self) -> str:
        return " ".join(" ".join(self.text).split())


def html_of(shown: Any) -> TextAndClasses:
    return TextAndClasses(shown._repr_mimebundle_()["text/html"])


@pytest.fixture
def store(tmp_path: Path) -> ProgressStore:
    return ProgressStore(tmp_path / "progress.json")


@pytest.fixture
def clean(shop_db: nx.Database) -> Iterator[nx.Database]:
    """The shop database, reset after a test that changed it for real."""
    yield shop_db
    shop_db.reset()


def outcome_of(result: CheckResult, start: str) -> tuple[bool, str]:
    [found] = [(o.passed, o.detail) for name, o in result.outcomes if name.startswith(start)]
    return found


# -- without a database ---------------------------------------------------------------------


def test_hints_come_one_at_a_time_and_stop_at_the_last() -> None:
    ex = exercise("02.2")
    hints = [ex.hint() for _ in range(5)]
    assert [hint.number for hint in hints] == [1, 2, 3, 3, 3]
    assert hints[0].text == exercise_spec("02.2").hints[0]
    assert "ask again for the next hint" in hints[0]._repr_mimebundle_()["text/plain"]
    assert ".solution()" in hints[-1]._repr_mimebundle_()["text/plain"]
    assert ex.hint(2).number == 2
    with pytest.raises(ConfigurationError, match="has hints 1 to 3, not 4"):
        ex.hint(4)


def test_the_task_card_shows_task_query_and_criteria_but_not_the_solution() -> None:
    ex = exercise("02.3")
    card = html_of(ex)
    spec = ex.spec
    assert "nx-ex" in card.classes
    assert "Exercise 02.3 · Covering index (INCLUDE)" in card.joined
    assert "WHERE user_id = 1" in card.joined
    for criterion in spec.criteria:
        assert criterion.description in card.joined
    plain = ex._repr_mimebundle_()["text/plain"]
    for secret in (spec.solution.explanation[:40], "orders_user_id_covering_idx"):
        assert secret not in card.joined
        assert secret not in plain


def test_the_solution_shows_statements_and_why() -> None:
    shown = html_of(exercise("02.8").solution())
    assert "nx-ex-solution" in shown.classes
    assert "CREATE STATISTICS users_tenant_country (mcv) ON tenant_id, country FROM users;" in (
        shown.joined
    )
    assert "ANALYZE users;" in shown.joined
    assert "most common combinations" not in shown.joined  # that is a hint, not the solution
    assert "multi-column MCV list" in shown.joined
    setup = exercise("02.9").solution().code()
    assert setup == "-- as a what-if: check(setup=\"SET LOCAL work_mem = '64MB'\")"


def test_html_is_escaped() -> None:
    spec = exercise_spec("02.4")  # its query holds quotes: status = 'pending'
    raw = Exercise(spec)._repr_mimebundle_()["text/html"]
    assert "status = &#x27;pending&#x27;" in raw
    assert "status = 'pending'" in TextAndClasses(raw).joined


def test_an_unknown_exercise_lists_the_known_ones() -> None:
    with pytest.raises(ConfigurationError, match=r"no exercise '99\.9'; choose one of: 02\.1, "):
        exercise("99.9")


def test_answers_must_be_one_select() -> None:
    ex = exercise("02.7", progress=ProgressStore(None))
    with pytest.raises(SandboxRefusal, match="exactly one SELECT"):
        ex.check(answer="DELETE FROM orders")
    with pytest.raises(SandboxRefusal, match="exactly one SELECT"):
        ex.check(answer="SELECT 1; SELECT 2")
    with pytest.raises(ConfigurationError, match="the answer is empty"):
        ex.check(answer="  ")
    with pytest.raises(ConfigurationError, match="the answer does not parse"):
        ex.check(answer="SELEC id FROM orders")


# -- against the database -----------------------------------------------------------------


def test_the_wrong_column_order_fails_and_names_the_index(shop_db: nx.Database) -> None:
    ex = exercise("02.2", progress=ProgressStore(None))
    result = ex.check(shop_db, setup="CREATE INDEX wrong_order ON orders (created_at, user_id)")
    assert not result.passed
    assert result.setup == ("CREATE INDEX wrong_order ON orders (created_at, user_id)",)
    passed, detail = outcome_of(result, "orders is read through an index")
    assert not passed
    assert "wrong_order btree (created_at, user_id)" in detail
    # A what-if leaves nothing behind.
    assert shop_db.query("select to_regclass('wrong_order')").scalar() is None


def test_a_setup_of_only_comments_is_no_setup(shop_db: nx.Database) -> None:
    result = exercise("02.1", progress=ProgressStore(None)).check(
        shop_db, setup="-- your CREATE INDEX here\n"
    )
    assert result.setup == ()
    assert not result.passed
    names = [name for name, _ in result.outcomes]
    assert "same results as the starting query" not in names
    assert outcome_of(result, "no sequential scan")[1].startswith("Seq Scan on order_items (")


def test_a_setup_that_removes_rows_cannot_pass(shop_db: nx.Database) -> None:
    ex = exercise("02.1", progress=ProgressStore(None))
    setup = [
        "CREATE INDEX ON order_items (order_id)",
        "DELETE FROM order_items WHERE order_id = 1234",
    ]
    result = ex.check(shop_db, setup=setup)
    assert outcome_of(result, "no sequential scan")[0]
    passed, detail = outcome_of(result, "same results")
    assert not passed
    assert detail.startswith("0 rows where the starting query returns ")
    assert not result.passed


def test_a_keyset_answer_must_return_the_same_rows_in_the_same_order(
    shop_db: nx.Database,
) -> None:
    ex = exercise("02.7", progress=ProgressStore(None))
    start = ex.check(shop_db)
    assert start.note is not None
    assert "check(answer=...)" in start.note
    assert outcome_of(start, "at most 40 rows")[1].startswith("5,020 rows read from orders")

    off_by_one = ex.check(
        shop_db, answer="SELECT id, user_id, created_at, total_amount FROM orders"
        " WHERE id > 5001 ORDER BY id LIMIT 20"
    )  # fmt: skip
    assert outcome_of(off_by_one, "same results") == (
        False, "20 rows, as expected, but not the same rows"
    )  # fmt: skip

    reversed_order = ex.check(
        shop_db,
        answer="SELECT * FROM (SELECT id, user_id, created_at, total_amount FROM orders"
        " WHERE id > 5000 ORDER BY id LIMIT 20) AS page ORDER BY id DESC;",
    )
    assert outcome_of(reversed_order, "same results") == (
        False, "the same 20 rows, but in another order"
    )  # fmt: skip

    right = ex.check(shop_db, answer=exercise_spec("02.7").solution.answer)
    assert right.passed, right.summary()
    assert outcome_of(right, "same results") == (True, "the same 20 rows in the same order")


def test_statistics_not_yet_analyzed_say_so(clean: nx.Database) -> None:
    clean.query("CREATE STATISTICS users_tc (mcv) ON tenant_id, country FROM users")
    ex = exercise("02.8", progress=ProgressStore(None))
    passed, detail = outcome_of(ex.check(clean), "extended statistics on users")
    assert (passed, detail) == (False, "users_tc exists but holds no data yet: run ANALYZE users")
    clean.query("ANALYZE users")
    result = ex.check(clean)
    assert result.passed, result.summary()
    assert outcome_of(result, "extended statistics")[1] == "users_tc (mcv) on (tenant_id, country)"


def test_solve_applies_the_reference_for_real(clean: nx.Database) -> None:
    result = exercise("02.5", progress=ProgressStore(None)).solve(clean)
    assert result.passed
    assert clean.query("select to_regclass('users_lower_email_idx')").scalar() is not None


def test_checks_are_recorded_in_the_progress_store(
    shop_db: nx.Database, store: ProgressStore
) -> None:
    ex = exercise("02.9", progress=store)
    assert not ex.check(shop_db)
    assert ex.check(shop_db, setup="SET LOCAL work_mem = '64MB'")
    entry = store.entries()["02.9"]
    assert (entry.attempts, entry.passed) == (2, True)
    assert entry.first_passed_at is not None
    assert not ex.check(shop_db, record=True)
    assert store.entries()["02.9"].passed  # once done, done
    ex.check(shop_db, record=False)
    assert store.entries()["02.9"].attempts == 3


def test_a_check_result_lists_every_criterion_with_its_verdict(shop_db: nx.Database) -> None:
    result = exercise("02.1", progress=ProgressStore(None)).check(shop_db)
    shown = html_of(result)
    assert "nx-ex-check" in shown.classes
    assert shown.classes.count("nx-ex-fail") == 2
    assert "02.1 · A missing index — not yet" in shown.joined
    assert "plan that was checked" in shown.joined
    text = result._repr_mimebundle_()["text/plain"]
    assert "✗ no sequential scan of order_items: Seq Scan on order_items (" in text
    assert result.summary().startswith("02.1 not yet: no sequential scan of order_items: ")


def test_the_panel_buttons_show_hints_solution_and_check(shop_db: nx.Database) -> None:
    ex = exercise("02.4", progress=ProgressStore(None))
    panel = ex.panel(shop_db)
    task, buttons, shown = panel.children
    hint, check, solution = buttons.children
    assert "Exercise 02.4" in TextAndClasses(task.value).joined
    hint.click()
    assert "hint 1 of 3" in TextAndClasses(shown.value).joined
    hint.click()
    assert "hint 2 of 3" in TextAndClasses(shown.value).joined
    check.click()
    assert "02.4 · Partial index — not yet" in TextAndClasses(shown.value).joined
    assert not check.disabled
    solution.click()
    assert "WHERE status = 'pending';" in TextAndClasses(shown.value).joined
