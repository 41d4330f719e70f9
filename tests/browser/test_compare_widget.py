"""The compare widget as a person uses it: type the SQL, Run, watch, read; Cancel a long one.

Relies on the widget's documented classes (`nexus_kernel_helpers/widgets/compare.py`):
nx-compare, nx-compare-before/-after/-setup (textareas inside), nx-compare-run, nx-compare-cancel,
nx-compare-progress, nx-compare-stage, nx-compare-result; and on the comparison's HTML
(`plans/_compare.py`): nexus-verdict, nexus-plans > nexus-plan-column (an nx-plan tree each),
svg.nexus-distribution.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from .driver import NotebookPage
from .harness import write_notebook

if TYPE_CHECKING:
    from playwright.sync_api import FloatRect, Locator

pytestmark = [pytest.mark.browser, pytest.mark.slow]

TABLE = """%%sql
drop table if exists browser_orders;
create table browser_orders as
select g as id, g % 2000 as customer_id, (g * 7919 % 100000) / 100.0 as amount
from generate_series(1, 100000) as g;
analyze browser_orders"""
WIDGET = """from nexus_kernel_helpers.widgets import compare_widget

compare_widget()"""

# Records every width the progress bar takes, so a fast run's steps are not missed.
_WATCH_PROGRESS_JS = """selector => {
  const bar = document.querySelector(selector);
  window.nxProgressWidths = [bar.style.width];
  new MutationObserver(() => window.nxProgressWidths.push(bar.style.width))
    .observe(bar, {attributes: true, attributeFilter: ['style']});
}"""
_PROGRESS_BAR = ".nx-compare-progress .progress-bar"


@pytest.fixture
def widget(notebook: NotebookPage) -> NotebookPage:
    """A notebook with a database, a 100,000-row table and a compare widget, all run."""
    name = write_notebook(
        notebook.lab.root,
        "browser_compare.ipynb",
        ["%load_ext nexus_kernel_helpers", "%nexus_db start", TABLE, WIDGET],
    )
    notebook.open(name)
    notebook.run_all()
    notebook.assert_ran_cleanly()
    notebook.page.locator(".nx-compare").wait_for()
    return notebook


def _type_sql(widget: NotebookPage, editor: str, sql: str) -> None:
    box = widget.page.locator(f".nx-compare-{editor} textarea")
    box.click()
    box.press_sequentially(sql)


def _progress_percentages(widget: NotebookPage) -> list[float]:
    widths: list[str] = widget.evaluate("() => window.nxProgressWidths")
    return [float(width.rstrip("%")) for width in widths if width.endswith("%")]


def test_run_measures_and_shows_verdict_then_both_plans_then_the_distribution(
    widget: NotebookPage,
) -> None:
    page = widget.page
    compare = page.locator(".nx-compare")
    widget.shot("empty-widget", compare)

    _type_sql(
        widget, "before", "select count(*), sum(amount) from browser_orders where customer_id = 42"
    )
    _type_sql(widget, "setup", "create index on browser_orders (customer_id)")
    widget.shot("typed", compare)
    widget.evaluate(_WATCH_PROGRESS_JS, _PROGRESS_BAR)
    page.locator(".nx-compare-run").click()

    stage = page.locator(".nx-compare-stage")
    _wait_for_stage(widget, "^done: ", 90_000)
    widths = _progress_percentages(widget)
    assert any(0 < width < 100 for width in widths), f"the bar never moved in between: {widths}"
    assert widths[-1] == 100, widths

    result = page.locator(".nx-compare-result")
    verdict = result.locator(".nexus-verdict")
    columns = result.locator(".nexus-plans > .nexus-plan-column")
    distribution = result.locator("svg.nexus-distribution")
    verdict.wait_for()
    assert stage.inner_text().strip() == f"done: {verdict.locator('div').first.inner_text()}"
    assert columns.count() == 2
    assert [columns.nth(i).locator(".nx-plan").count() for i in range(2)] == [1, 1]
    assert distribution.count() == 1
    # Verdict first, then the plans side by side, then the distribution.
    tops = [box["y"] for box in _boxes(verdict, columns.nth(0), distribution)]
    assert tops == sorted(tops), f"out of order: {tops}"
    left, right = _boxes(columns.nth(0), columns.nth(1))
    assert left["y"] == right["y"], "the plans are not side by side"
    assert left["x"] + left["width"] <= right["x"]
    assert page.locator(".nx-compare-cancel").is_disabled()
    widget.shot("result", compare)
    widget.assert_console_clean()


def test_cancel_stops_a_long_comparison(widget: NotebookPage) -> None:
    page = widget.page
    # About 40 s if left alone (two sides, 15 runs, warm-up): long enough to be cancelled
    # after the screenshots even on a busy machine.
    _type_sql(widget, "before", "select pg_sleep(1), count(*) from browser_orders")
    widget.evaluate(_WATCH_PROGRESS_JS, _PROGRESS_BAR)
    page.locator(".nx-compare-run").click()
    # Wait until it is really measuring (the bar moved), then cancel.
    page.wait_for_function("() => window.nxProgressWidths.some(w => w && w !== '0%')")
    widget.shot("running", page.locator(".nx-compare"))
    page.locator(".nx-compare-cancel").click()
    _wait_for_stage(widget, "^cancelled$", 15_000)
    widths = _progress_percentages(widget)
    assert widths[-1] < 100, f"the bar says it finished: {widths}"
    assert page.locator(".nx-compare-run").is_enabled()
    assert page.locator(".nx-compare-cancel").is_disabled()
    widget.shot("cancelled", page.locator(".nx-compare"))
    widget.assert_console_clean()


def _wait_for_stage(widget: NotebookPage, pattern: str, timeout_ms: float) -> None:
    """Wait until the stage label matches `pattern`; on timeout say what it showed."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        widget.page.wait_for_function(
            """pattern => new RegExp(pattern).test(
                 document.querySelector('.nx-compare-stage').textContent.trim())""",
            arg=pattern,
            timeout=timeout_ms,
        )
    except PlaywrightTimeout:
        stage = widget.page.locator(".nx-compare-stage").inner_text()
        result = widget.page.locator(".nx-compare-result").inner_text()[:500]
        widths = _progress_percentages(widget)
        pytest.fail(f"stage never matched {pattern!r}: {stage!r}; bar {widths}; result {result!r}")


def _boxes(*locators: Locator) -> list[FloatRect]:
    boxes = []
    for locator in locators:
        box = locator.bounding_box()
        assert box is not None, f"{locator} is not visible"
        boxes.append(box)
    return boxes
