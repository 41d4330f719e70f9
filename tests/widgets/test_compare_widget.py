"""The compare widget driven as a person would: type, click Run or Cancel, read the result."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

import nexus_kernel_helpers as nx
from nexus_kernel_helpers import postgres
from nexus_kernel_helpers.widgets import CompareWidget, compare_widget
from nexus_kernel_helpers.widgets import compare as compare_module

WAIT_S = 60.0


@dataclass
class FakeComparison:
    """Stands in for a Comparison: a verdict and a display."""

    verdict: str

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, str]:
        return {
            "text/plain": f"Comparison: {self.verdict}",
            "text/html": f"<div class='fake-verdict'>{self.verdict}</div>",
        }


@dataclass
class ScriptedCompare:
    """A compare function that reports progress, then returns, fails or waits for Cancel."""

    verdict: str = "faster"
    error: Exception | None = None
    wait_for_cancel: bool = False
    calls: list[dict[str, Any]] = field(default_factory=list)
    started: threading.Event = field(default_factory=threading.Event)
    saw_cancel: bool = False

    def __call__(self, db: Any, **kwargs: Any) -> FakeComparison:
        self.calls.append({"db": db, **kwargs})
        progress, cancel = kwargs["progress"], kwargs["cancel"]
        total = 2 + 2 * kwargs["runs"]
        progress(1, total, "before: checked")
        self.started.set()
        if self.error is not None:
            raise self.error
        if self.wait_for_cancel:
            self.saw_cancel = cancel.wait(WAIT_S)
            progress(3, total, "after: run 1 of 5")
            return FakeComparison("cancelled")
        for done in range(2, total + 1):
            progress(done, total, f"run {done}")
        return FakeComparison(self.verdict)


def classes_in(widget: Any) -> set[str]:
    """Every CSS class on the widget and the widgets inside it."""
    found = set(widget._dom_classes)
    for child in getattr(widget, "children", ()):
        found |= classes_in(child)
    return found


def shown(widget: CompareWidget) -> dict[str, str]:
    """The one display in the result area."""
    (output,) = widget.result.outputs
    assert output["output_type"] == "display_data"
    data: dict[str, str] = output["data"]
    return data


def finish(widget: CompareWidget) -> None:
    assert widget.wait(WAIT_S), "the comparison did not end"
    assert widget.run_button.disabled is False
    assert widget.cancel_button.disabled is True


def test_controls_carry_the_documented_classes() -> None:
    widget = CompareWidget(object(), compare_function=ScriptedCompare())  # type: ignore[arg-type]
    documented = set(re.findall(r"^\s+(nx-compare[\w-]*)\s", compare_module.__doc__ or "", re.M))

    assert documented - {"nx-compare-error"} <= classes_in(widget.box)
    assert "nx-compare-error" in documented
    bundle = widget._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle
    assert widget.run_button.disabled is False
    assert widget.cancel_button.disabled is True


def test_run_measures_in_the_background_and_shows_the_verdict() -> None:
    fake = ScriptedCompare(verdict="faster")
    db = object()
    widget = CompareWidget(db, runs=5, compare_function=fake)  # type: ignore[arg-type]
    widget.before.value = "select * from orders where customer_id = 42"
    widget.setup.value = "create index on orders (customer_id)"

    widget.run_button.click()
    finish(widget)

    (call,) = fake.calls
    assert call["db"] is db
    assert call["before"] == "select * from orders where customer_id = 42"
    assert call["after"] is None  # an empty After means: the same query
    assert call["setup"] == "create index on orders (customer_id)"
    assert call["runs"] == 5
    assert shown(widget)["text/plain"] == "Comparison: faster"
    assert widget.comparison is not None
    assert widget.progress.value == widget.progress.max == 12
    assert widget.progress.bar_style == "success"
    assert widget.stage.value == "done: faster"


def test_a_rewrite_is_passed_as_after() -> None:
    fake = ScriptedCompare()
    widget = CompareWidget(
        object(),  # type: ignore[arg-type]
        before="select 1",
        after="select 2",
        runs=7,
        compare_function=fake,
    )
    widget.runs.value = 9
    widget.run()
    finish(widget)
    assert (fake.calls[0]["after"], fake.calls[0]["setup"], fake.calls[0]["runs"]) == (
        "select 2",
        None,
        9,
    )


def test_cancel_stops_the_run_and_says_so() -> None:
    fake = ScriptedCompare(wait_for_cancel=True)
    widget = CompareWidget(object(), before="select 1", compare_function=fake)  # type: ignore[arg-type]

    widget.run_button.click()
    assert fake.started.wait(WAIT_S)
    assert widget.running
    assert widget.run_button.disabled is True
    assert widget.cancel_button.disabled is False
    widget.run_button.click()  # a second Run while one runs is ignored
    widget.cancel_button.click()
    finish(widget)

    assert fake.saw_cancel
    assert len(fake.calls) == 1
    assert widget.stage.value == "cancelled"
    assert widget.progress.bar_style == "warning"
    assert shown(widget)["text/plain"] == "Comparison: cancelled"


def test_errors_show_as_one_line() -> None:
    fake = ScriptedCompare(
        error=nx.SandboxRefusal("DROP TABLE", "it changes the schema", fix="pass a query")
    )
    widget = CompareWidget(object(), before="drop table x", compare_function=fake)  # type: ignore[arg-type]
    widget.run_button.click()
    finish(widget)

    data = shown(widget)
    assert data["text/plain"] == (
        "SandboxRefusal: DROP TABLE refused: it changes the schema; pass a query"
    )
    assert 'class="nx-compare-error"' in data["text/html"]
    assert widget.error == data["text/plain"]
    assert widget.stage.value == "failed"
    assert widget.progress.bar_style == "danger"


def test_an_unexpected_error_is_one_line_too(caplog: pytest.LogCaptureFixture) -> None:
    fake = ScriptedCompare(error=RuntimeError("boom\nwith a second line"))
    widget = CompareWidget(object(), before="select 1", compare_function=fake)  # type: ignore[arg-type]
    widget.run()
    finish(widget)
    assert shown(widget)["text/plain"] == "RuntimeError: boom with a second line"
    assert "Traceback" in caplog.text  # the bug is still logged in full


def test_empty_before_asks_for_a_query() -> None:
    fake = ScriptedCompare()
    widget = CompareWidget(object(), compare_function=fake)  # type: ignore[arg-type]
    widget.run()
    assert not widget.running
    assert fake.calls == []
    assert shown(widget)["text/plain"] == "write the Before query first"


def test_compare_widget_defaults_to_the_current_database(
    monkeypatch: pytest.MonkeyPatch, embedded_db: nx.Database
) -> None:
    monkeypatch.setattr(postgres, "current_database", lambda: embedded_db)
    widget = compare_widget(before="select 1", runs=4)
    assert widget.db is embedded_db
    assert widget.before.value == "select 1"
    assert widget.runs.value == 4
    assert compare_widget(embedded_db).db is embedded_db


# -- with the real compare() and a real server ----------------------------------------------


@pytest.fixture(scope="module")
def widget_tables(embedded_db: nx.Database) -> Iterator[nx.Database]:
    pytest.importorskip("nexus_kernel_helpers.plans._compare")
    embedded_db.query(
        "create schema widget_probe;"
        " create table widget_probe.orders as"
        " select g as id, g % 500 as customer_id, md5(g::text) as note"
        " from generate_series(1, 20000) g;"
        " analyze widget_probe.orders"
    )
    yield embedded_db
    embedded_db.query("drop schema widget_probe cascade")


def test_real_comparison_with_an_index(widget_tables: nx.Database) -> None:
    widget = CompareWidget(
        widget_tables,
        before="select * from widget_probe.orders where customer_id = 42",
        setup="create index on widget_probe.orders (customer_id)",
        runs=5,
    )
    stages: list[str] = []
    widget.stage.observe(lambda change: stages.append(change["new"]), names="value")
    widget.run_button.click()
    finish(widget)

    assert widget.error is None
    assert widget.comparison is not None
    verdict = widget.comparison.verdict
    assert verdict in {"faster", "slower", "no significant difference"}
    html = shown(widget)["text/html"]
    assert html.index(verdict) < html.index('class="nx-plan"')  # verdict first
    assert html.count('class="nx-plan"') == 2  # both plans
    assert html.index('class="nx-plan"') < html.index("<svg")  # then the distribution
    assert widget.progress.value == widget.progress.max > 1
    assert len(stages) > 5  # the label moved with the runs
    assert widget.stage.value == f"done: {verdict}"


def test_real_bad_sql_is_one_line(widget_tables: nx.Database) -> None:
    widget = CompareWidget(
        widget_tables, before="select * from widget_probe.orders where nme = 1", runs=3
    )
    widget.run()
    finish(widget)
    assert widget.error is not None
    assert "\n" not in widget.error
    assert widget.error.startswith('QueryError: column "nme" does not exist')
    assert "Traceback" not in shown(widget)["text/plain"]


def test_real_cancel_stops_the_server(widget_tables: nx.Database) -> None:
    widget = CompareWidget(widget_tables, before="select pg_sleep(0.2), 1", runs=40)
    widget.run_button.click()
    deadline = time.monotonic() + WAIT_S
    while widget.progress.value < 3 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert widget.running
    widget.cancel_button.click()
    finish(widget)

    assert widget.stage.value == "cancelled"
    assert widget.comparison is not None
    assert widget.comparison.verdict == "cancelled"
    assert "cancelled after" in shown(widget)["text/plain"]
