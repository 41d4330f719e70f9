"""A progress display for loads: a bar in a Jupyter kernel, log lines elsewhere."""

from __future__ import annotations

import logging
from collections.abc import Callable

__all__ = ["Progress", "load_progress"]

Progress = Callable[[str, int, int], None]
_log = logging.getLogger(__name__)


def load_progress(title: str) -> Progress:
    """A callback `(stage, step, total)` that shows a load's progress where the user looks."""
    try:
        from IPython import get_ipython

        in_kernel = getattr(get_ipython(), "kernel", None) is not None
    except ImportError:  # pragma: no cover - IPython is a dependency
        in_kernel = False
    if not in_kernel:
        return lambda stage, step, total: _log.info("%s: %s (%d/%d)", title, stage, step, total)

    import ipywidgets
    from IPython.display import display

    bar = ipywidgets.IntProgress(value=0, min=0, max=1, description=title)
    label = ipywidgets.Label()
    display(ipywidgets.HBox([bar, label]))  # type: ignore[no-untyped-call]

    def update(stage: str, step: int, total: int) -> None:
        bar.max, bar.value, label.value = max(total, 1), step, stage
        if step >= total:
            bar.bar_style = "success"

    return update
