"""An answer of Nexus (fake Anthropic API) with a SQL block: its Run and Insert buttons work.

The answer's buttons carry no CSS classes of their own: they are found by their labels inside
the output of the `%%nexus` cell.
"""

from __future__ import annotations

import re

import pytest

from ..fake_anthropic import FakeAnthropic, text_turn
from .driver import NotebookPage
from .harness import write_notebook

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SUGGESTED_SQL = "select count(*) as customers from browser_customers"
ANSWER = f"""There are a few customers. Count them like this:

```sql
{SUGGESTED_SQL}
```

The count reads the whole table, which is small."""
CELLS = [
    "%load_ext nexus_kernel_helpers",
    "%nexus_db start",
    "%%sql\ndrop table if exists browser_customers;\n"
    "create table browser_customers as select g as id from generate_series(1, 42) as g",
    "%%nexus\nHow many customers are there?",
    "'the next cell runs here'",
]
ASK_CELL, LAST_CELL = 3, 4


def test_run_shows_the_rows_and_insert_adds_the_sql_as_a_cell(
    notebook: NotebookPage, fake_api: FakeAnthropic
) -> None:
    asked_before = len(fake_api.message_requests)
    fake_api.script(text_turn(ANSWER))
    notebook.open(write_notebook(notebook.lab.root, "browser_agent.ipynb", CELLS))
    notebook.run_all()
    notebook.assert_ran_cleanly()

    asked = fake_api.message_requests[asked_before:]
    assert len(asked) == 1, [r.body for r in asked]
    assert "How many customers are there?" in str(asked[0].body["messages"])
    answer = notebook.code_cells().nth(ASK_CELL).locator(".jp-Cell-outputArea")
    assert SUGGESTED_SQL in answer.inner_text()
    run = answer.get_by_role("button", name="Run", exact=True)
    insert = answer.get_by_role("button", name="Insert", exact=True)
    notebook.shot("answer", answer)

    run.click()
    table = answer.locator("table.nexus-table")
    table.wait_for()
    assert table.locator("th").all_inner_texts() == ["customers"]
    assert table.locator("td").all_inner_texts() == ["42"]
    notebook.shot("run-clicked", answer)

    insert.click()
    # A click is not an execution: the new cell arrives with the reply to the next one run.
    answer.get_by_text(re.compile("queued|inserted")).wait_for()
    notebook.code_cells().nth(LAST_CELL).click()
    notebook.menu("Run", "Run Selected Cell and Do not Advance")
    notebook.wait_finished(every_cell=False)
    expected = f"%%sql\n{SUGGESTED_SQL}"
    notebook.page.wait_for_function(
        """expected => {
          const cells = window.jupyterapp.shell.currentWidget.content.model.cells;
          for (let i = 0; i < cells.length; i++) {
            if (cells.get(i).sharedModel.getSource() === expected) return true;
          }
          return false;
        }""",
        arg=expected,
        timeout=15_000,
    )
    # Below the cell that ran, which was the last one.
    assert notebook.cell_sources()[LAST_CELL + 1 :] == [expected]
    assert notebook.code_cells().last.locator(".jp-InputArea").is_visible()
    notebook.shot("insert-clicked", notebook.page.locator(".jp-Notebook"))
    notebook.assert_console_clean()
