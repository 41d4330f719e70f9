"""The harness itself: Lab starts, a generated notebook runs from the Run menu, outputs render,
and a JavaScript error in an output is caught."""

from __future__ import annotations

import pytest

from .driver import NotebookPage
from .harness import write_notebook

pytestmark = [pytest.mark.browser, pytest.mark.slow]

DELIBERATE = "nexus browser test: a deliberate console error"


def test_run_all_on_a_generated_notebook_renders_the_card_and_the_table(
    notebook: NotebookPage,
) -> None:
    name = write_notebook(
        notebook.lab.root,
        "browser_smoke.ipynb",
        [
            "%load_ext nexus_kernel_helpers",
            "%nexus_db start",
            "%%sql\nselect 1 as one",
            f'from IPython.display import Javascript\nJavascript("console.error({DELIBERATE!r})")',
        ],
    )
    notebook.open(name)
    notebook.run_all()
    assert notebook.error_outputs() == []
    # The console check sees errors that outputs log, and only those.
    assert [line.split(" (")[0] for line in notebook.console.take_errors()] == [
        f"[error] {DELIBERATE}"
    ]
    notebook.assert_ran_cleanly()

    card = notebook.page.locator(".jp-OutputArea-output .nexus-card")
    assert "embedded" in card.inner_text()
    table = notebook.page.locator(".jp-OutputArea-output table.nexus-table")
    assert table.locator("th").all_inner_texts() == ["one"]
    assert table.locator("td").all_inner_texts() == ["1"]
    notebook.shot("ran", notebook.page.locator(".jp-Notebook"))
