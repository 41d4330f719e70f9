"""The compare widget: two SQL editors, a setup box, Run and Cancel, progress, the verdict.

    from nexus_kernel_helpers.widgets import compare_widget
    compare_widget(db, before="select ...", setup="create index ...")

Run measures in a background thread (the kernel stays free, so Cancel clicks arrive) by
calling `plans._compare.compare()`; the widget holds no logic of its own beyond wiring. The
result area shows the `Comparison` as it displays anywhere: verdict first, then both plans
side by side, then the run-time distributions. Errors (bad SQL, a refused setup) show as one
line there, never as a traceback.

Stable CSS classes, for browser tests and custom styling:

    nx-compare            the whole widget
    nx-compare-before     the Before SQL editor (a textarea inside)
    nx-compare-after      the After SQL editor
    nx-compare-setup      the Setup editor (after side only, rolled back)
    nx-compare-runs       the runs slider
    nx-compare-run        the Run button
    nx-compare-cancel     the Cancel button
    nx-compare-progress   the progress bar
    nx-compare-stage      the stage label next to it ("after: run 3 of 15", "cancelled", ...)
    nx-compare-result     the result area (an Output widget)
    nx-compare-error      the one-line error inside the result area (HTML)
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from html import escape
from typing import TYPE_CHECKING, Any, Protocol

from ..errors import NexusError, QueryError

if TYPE_CHECKING:
    from ..postgres import Database

__all__ = ["CompareFunction", "CompareWidget", "ComparisonLike", "compare_widget"]

_log = logging.getLogger(__name__)

MIN_RUNS = 3
MAX_RUNS = 100

_STYLE = """<style>
.nx-compare textarea{font-family:var(--jp-code-font-family,monospace);
font-size:var(--jp-code-font-size,13px);line-height:1.4}
.nx-compare .nx-compare-editors>.widget-vbox{flex:1 1 0;min-width:0}
.nx-compare .nx-compare-caption{font-weight:600;color:var(--jp-ui-font-color1,#222)}
.nx-compare .nx-compare-stage{color:var(--jp-ui-font-color2,#555)}
</style>"""


class ComparisonLike(Protocol):
    """What the widget needs from a comparison: a verdict and a rich display."""

    @property
    def verdict(self) -> str:
        """The outcome: "faster", "slower", "cancelled", ..."""

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, str]: ...


CompareFunction = Callable[..., ComparisonLike]


class CompareWidget:
    """Before/after editors wired to `compare()`; display it in a notebook cell.

    The controls are attributes (`before`, `after`, `setup`, `runs`, `run_button`,
    `cancel_button`, `progress`, `stage`, `result`), so code and tests can drive it the way a
    person does. `compare_function` replaces the real `compare()` (same keyword arguments).
    """

    def __init__(
        self,
        db: Database,
        before: str = "",
        after: str = "",
        setup: str = "",
        runs: int = 15,
        *,
        compare_function: CompareFunction | None = None,
    ) -> None:
        import ipywidgets as widgets

        self.db = db
        self._compare_function = compare_function
        self.comparison: ComparisonLike | None = None
        self.error: str | None = None
        self._thread: threading.Thread | None = None
        self._cancel = threading.Event()
        self._lock = threading.Lock()

        # "auto" lets the flex box stretch each editor to its column, margins included.
        editor = widgets.Layout(width="auto", height="10em")
        self.before = widgets.Textarea(
            value=before, placeholder="SELECT ... (the query as it is now)", layout=editor
        )
        self.after = widgets.Textarea(
            value=after,
            placeholder="the rewritten query (empty: the same query, with the setup)",
            layout=editor,
        )
        self.setup = widgets.Textarea(
            value=setup,
            placeholder="CREATE INDEX ... (after side only, rolled back afterwards)",
            layout=widgets.Layout(width="auto", height="4.5em"),
        )
        self.runs = widgets.IntSlider(
            value=runs,
            min=MIN_RUNS,
            max=max(MAX_RUNS, runs),
            description="runs",
            continuous_update=False,
        )
        self.run_button = widgets.Button(
            description="Run", button_style="primary", icon="play", tooltip="measure both sides"
        )
        self.cancel_button = widgets.Button(
            description="Cancel", icon="stop", disabled=True, tooltip="stop the measurement"
        )
        self.progress = widgets.IntProgress(value=0, min=0, max=1)
        self.stage = widgets.Label(value="")
        self.result = widgets.Output()
        for control, name in [
            (self.before, "before"),
            (self.after, "after"),
            (self.setup, "setup"),
            (self.runs, "runs"),
            (self.run_button, "run"),
            (self.cancel_button, "cancel"),
            (self.progress, "progress"),
            (self.stage, "stage"),
            (self.result, "result"),
        ]:
            control.add_class(f"nx-compare-{name}")
        self.run_button.on_click(lambda _button: self.run())
        self.cancel_button.on_click(lambda _button: self.cancel())

        def captioned(text: str, control: Any) -> Any:
            caption = widgets.Label(value=text)
            caption.add_class("nx-compare-caption")
            return widgets.VBox([caption, control])

        editors = widgets.HBox([captioned("Before", self.before), captioned("After", self.after)])
        editors.add_class("nx-compare-editors")
        self.box = widgets.VBox(
            [
                widgets.HTML(_STYLE),
                editors,
                captioned("Setup", self.setup),
                widgets.HBox([self.runs, self.run_button, self.cancel_button]),
                widgets.HBox([self.progress, self.stage]),
                self.result,
            ]
        )
        self.box.add_class("nx-compare")

    # -- what the buttons do -----------------------------------------------------------------

    @property
    def running(self) -> bool:
        """A comparison is being measured."""
        return self._thread is not None and self._thread.is_alive()

    def run(self) -> None:
        """Start measuring the current inputs in the background (the Run button)."""
        with self._lock:
            if self.running:
                return
            before = self.before.value
            if not before.strip():
                self._show_error("write the Before query first")
                return
            arguments: dict[str, Any] = {
                "before": before,
                "after": self.after.value if self.after.value.strip() else None,
                "setup": self.setup.value if self.setup.value.strip() else None,
                "runs": int(self.runs.value),
            }
            self._cancel = threading.Event()
            self.comparison, self.error = None, None
            self.result.outputs = ()
            self._set_busy(True)
            self.progress.value, self.progress.bar_style = 0, ""
            self.stage.value = "starting"
            self._thread = threading.Thread(
                target=self._measure, args=(arguments, self._cancel), name="nexus-compare"
            )
            self._thread.daemon = True
            self._thread.start()

    def cancel(self) -> None:
        """Stop the running comparison (the Cancel button); what was measured is shown."""
        if self.running:
            self._cancel.set()
            self.stage.value = "cancelling"

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the running comparison ends; False if it is still running."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
        return not self.running

    # -- the background thread ---------------------------------------------------------------

    def _measure(self, arguments: dict[str, Any], cancel: threading.Event) -> None:
        compare = self._compare_function
        if compare is None:
            from ..plans._compare import compare as real_compare

            compare = real_compare
        try:
            comparison = compare(self.db, **arguments, progress=self._on_progress, cancel=cancel)
        except NexusError as error:
            self._finish_with_error(error, cancelled=cancel.is_set())
        except Exception as error:
            # A bug, not bad input: still one line in the widget, and the traceback in the log.
            _log.warning("the compare widget's run failed", exc_info=True)
            self._finish_with_error(error, cancelled=False)
        else:
            self.comparison = comparison
            self.result.outputs = (
                {
                    "output_type": "display_data",
                    "data": comparison._repr_mimebundle_(),
                    "metadata": {},
                },
            )
            cancelled = comparison.verdict == "cancelled"
            self.stage.value = "cancelled" if cancelled else f"done: {comparison.verdict}"
            self.progress.bar_style = "warning" if cancelled else "success"
            if not cancelled:
                self.progress.value = self.progress.max
        finally:
            self._set_busy(False)

    def _on_progress(self, done: int, total: int, stage: str) -> None:
        self.progress.max = max(total, 1)
        self.progress.value = min(done, self.progress.max)
        if not self._cancel.is_set():
            self.stage.value = stage

    def _finish_with_error(self, error: Exception, *, cancelled: bool) -> None:
        if cancelled:
            self.stage.value = "cancelled"
            self.progress.bar_style = "warning"
            return
        self.stage.value = "failed"
        self.progress.bar_style = "danger"
        self._show_error(_one_line(error))

    def _show_error(self, message: str) -> None:
        self.error = message
        self.result.outputs = (
            {
                "output_type": "display_data",
                "data": {
                    "text/plain": message,
                    "text/html": (
                        '<div class="nx-compare-error" style="color:var(--jp-error-color1,'
                        f'#c62828);font-family:var(--jp-code-font-family,monospace)">'
                        f"{escape(message)}</div>"
                    ),
                },
                "metadata": {},
            },
        )

    def _set_busy(self, busy: bool) -> None:
        self.run_button.disabled = busy
        self.cancel_button.disabled = not busy

    # -- display -----------------------------------------------------------------------------

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.box._repr_mimebundle_(**kwargs)


def _one_line(error: Exception) -> str:
    """An error as one line: its type and message (and fix), never a traceback."""
    if isinstance(error, QueryError):
        line = error.line_number
        text = error.message + (f" (line {line})" if line is not None else "")
    elif isinstance(error, NexusError):
        text = error.message + (f"; {error.fix}" if error.fix else "")
    else:
        text = str(error)
    return f"{type(error).__name__}: {' '.join(text.split())}"


def compare_widget(db: Database | None = None, **kwargs: Any) -> CompareWidget:
    """A compare widget on `db` (default: the current database); kwargs as `CompareWidget`."""
    if db is None:
        from ..postgres import current_database

        db = current_database()
    return CompareWidget(db, **kwargs)
