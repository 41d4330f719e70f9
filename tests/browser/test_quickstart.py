"""The quickstart notebook, run from the Run menu in JupyterLab, renders what it promises.

Relies on: nexus-card (database status card, `_html.py`), table.nexus-table (`%%sql`
results), nx-plan with nx-plan-r rows (plan trees, `plans/_render.py`), nexus-comparison with
nexus-verdict (`plans/_compare.py`).
"""

from __future__ import annotations

import pytest

from ..fake_anthropic import FakeAnthropic, text_turn
from .driver import NotebookPage

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ANSWER = """The planner reads every row of `orders` to find one customer's orders: there is no
index on `orders.user_id`. An index turns that into an index scan:

```sql
create index on orders (user_id)
```

Measure it with `%%compare` before applying it."""


def test_quickstart_runs_cleanly_and_shows_card_table_plan_comparison_and_answer(
    notebook: NotebookPage, fake_api: FakeAnthropic
) -> None:
    fake_api.script(text_turn(ANSWER))
    notebook.open("00_quickstart.ipynb")
    notebook.run_all(timeout_ms=180_000)
    notebook.assert_ran_cleanly()

    card = notebook.reveal(notebook.output_of("%nexus_db start").locator(".nexus-card"))
    assert "embedded" in card.inner_text()
    notebook.shot("database-card", card)

    table = notebook.reveal(notebook.output_of("%%sql").locator("table.nexus-table"))
    assert table.locator("th").all_inner_texts()[-3:] == ["user_id", "orders", "spent"]
    assert table.locator("tbody tr").count() == 5
    notebook.shot("sql-table", table)

    plan = notebook.reveal(notebook.output_of("%explain").locator(".nx-plan"))
    # No index on orders.user_id yet: the plan reads the whole table.
    assert any("Seq Scan on orders" in row for row in plan.locator(".nx-plan-r").all_inner_texts())
    notebook.shot("plan-tree", plan)

    comparison = notebook.reveal(notebook.output_of("%%compare").locator(".nexus-comparison"))
    assert comparison.locator(".nexus-verdict").is_visible()
    assert comparison.locator(".nexus-plan-column .nx-plan").count() == 2
    notebook.shot("comparison", comparison)

    answer = notebook.reveal(notebook.output_of("%%nexus"))
    assert "no index on" in answer.inner_text()
    notebook.shot("nexus-answer", answer)
    notebook.assert_console_clean()
