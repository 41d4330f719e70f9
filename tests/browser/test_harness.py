"""The harness itself: Lab starts, a generated notebook runs from the Run menu, outputs render."""

from __future__ import annotations

import pytest

from .driver import NotebookPage
from .harness import write_notebook

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_run_all_on_a_generated_notebook_renders_the_card_and_the_table(
    notebook: NotebookPage,
) -> None:
    name = write_notebook(
        notebook.lab.root,
        "browser_smoke.ipynb",
        ["%load_ext nexus_kernel_helpers", "%nexus_db start", "%%sql\nselect 1 as one"],
    )
    notebook.open(name)
    notebook.run_all()
    notebook.assert_ran_cleanly()

    card = notebook.page.locator(".jp-OutputArea-output .nexus-card")
    assert "embedded" in card.inner_text()
    table = notebook.page.locator(".jp-OutputArea-output table.nexus-table")
    assert table.locator("th").all_inner_texts() == ["one"]
    assert table.locator("td").all_inner_texts() == ["1"]
    notebook.shot("ran", notebook.page.locator(".jp-Notebook"))
