"""An exercise with buttons: hint, check, solution. Thin: each button calls a plain method."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import NexusError
from ..postgres import Database
from ._render import box, inline

if TYPE_CHECKING:
    import ipywidgets

    from ._exercise import Exercise

__all__ = ["exercise_panel"]


def exercise_panel(exercise: Exercise, db: Database | None = None) -> ipywidgets.Widget:
    """The task card over three buttons and an area showing what the last one produced."""
    import ipywidgets

    shown = ipywidgets.HTML(value="")
    hint = ipywidgets.Button(description="Next hint", icon="lightbulb-o")
    check = ipywidgets.Button(description="Check", icon="check", button_style="primary")
    solution = ipywidgets.Button(description="Show solution", icon="eye")

    def show_hint(_: object) -> None:
        shown.value = exercise.hint()._repr_mimebundle_()["text/html"]

    def run_check(_: object) -> None:
        check.disabled = True
        try:
            shown.value = exercise.check(db)._repr_mimebundle_()["text/html"]
        except NexusError as error:
            shown.value = box("nx-ex-check", "the check could not run", inline(str(error)))
        finally:
            check.disabled = False

    def show_solution(_: object) -> None:
        shown.value = exercise.solution()._repr_mimebundle_()["text/html"]

    hint.on_click(show_hint)
    check.on_click(run_check)
    solution.on_click(show_solution)
    task = ipywidgets.HTML(value=exercise.html())
    return ipywidgets.VBox([task, ipywidgets.HBox([hint, check, solution]), shown])
