"""Driving JupyterLab notebooks in Chromium as a person does: menus, cells, buttons, screenshots.

Lab's DOM classes used here (JupyterLab 4): `.jp-Notebook`, `.jp-CodeCell`, `.jp-InputPrompt`
(`[*]:` while queued or running), `.jp-OutputArea-output` with `data-mime-type`, the menu bar
`.lm-MenuBar-item` and menu entries `.lm-Menu-item`. `window.jupyterapp` (exposed by the
server's `expose_app_in_browser`) is read for the kernel status and used to switch themes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .harness import DARK, LIGHT, ConsoleLog, LabServer

if TYPE_CHECKING:  # Playwright may be missing: the tests then skip, they must still import.
    from playwright.sync_api import Locator, Page

THEME_FILE_NAMES = {LIGHT: "light", DARK: "dark"}

_KERNEL_STATE_JS = """() => {
  const widget = window.jupyterapp && window.jupyterapp.shell.currentWidget;
  const kernel = widget && widget.sessionContext && widget.sessionContext.session
    && widget.sessionContext.session.kernel;
  return kernel ? kernel.status : null;
}"""

# True once no cell is queued or running, the kernel is idle, and (when `everyCell`) either
# every code cell has an execution count or one of them failed (Run All stops at an error).
_FINISHED_JS = """everyCell => {
  const widget = window.jupyterapp.shell.currentWidget;
  const kernel = widget.sessionContext.session && widget.sessionContext.session.kernel;
  if (!kernel || kernel.status !== 'idle') return false;
  const prompts = [...document.querySelectorAll('.jp-Notebook .jp-CodeCell .jp-InputPrompt')]
    .map(p => p.textContent.trim());
  if (prompts.some(p => p.includes('*'))) return false;
  if (!everyCell) return true;
  const failed = document.querySelector(
    '.jp-Notebook .jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]');
  return failed !== null || prompts.every(p => /\\[\\d+\\]/.test(p));
}"""

_ERROR_OUTPUTS_JS = """() => {
  const widget = window.jupyterapp.shell.currentWidget;
  const found = [];
  const cells = widget.content.model.cells;
  for (let i = 0; i < cells.length; i++) {
    const cell = cells.get(i).toJSON();
    for (const output of cell.outputs || []) {
      if (output.output_type === 'error') {
        found.push(`cell ${i}: ${output.ename}: ${output.evalue}`);
      } else if (output.output_type === 'stream' && output.name === 'stderr') {
        const text = Array.isArray(output.text) ? output.text.join('') : output.text;
        if (/Error|Traceback|Exception/.test(text)) found.push(`cell ${i} stderr: ${text}`);
      }
    }
  }
  return found;
}"""


@dataclass
class NotebookPage:
    """One browser page on the Lab server, with its console log and screenshot folder."""

    page: Page
    lab: LabServer
    console: ConsoleLog
    artifacts: Path
    prefix: str
    shots: list[Path] = field(default_factory=list)

    # -- opening and running ---------------------------------------------------------------

    def open(self, name: str, timeout_ms: float = 60_000) -> None:
        """Open notebook `name` by its URL and wait until its kernel is idle."""
        # `reset`: a fresh workspace, so notebooks of earlier tests do not reopen.
        self.page.goto(self.lab.url(f"/lab/tree/{name}?reset"))
        self.page.locator(".jp-Notebook .jp-Cell").first.wait_for(timeout=timeout_ms)
        self.page.wait_for_function(
            f"() => ({_KERNEL_STATE_JS})() === 'idle'", timeout=timeout_ms, polling=200
        )

    def menu(self, menu: str, entry: str) -> None:
        """Click menu bar `menu`, then its entry `entry` (exact labels)."""
        self.page.locator(".lm-MenuBar-item", has_text=re.compile(rf"^{re.escape(menu)}$")).click()
        item = self.page.locator(".lm-Menu-item:not(.lm-mod-hidden)").filter(
            has=self.page.locator(".lm-Menu-itemLabel", has_text=re.compile(rf"^{entry}$"))
        )
        item.first.click()

    def run_all(self, timeout_ms: float = 120_000) -> None:
        """Run > Run All Cells, then wait until every cell has finished."""
        self.menu("Run", "Run All Cells")
        self.wait_finished(timeout_ms)

    def wait_finished(self, timeout_ms: float = 120_000, *, every_cell: bool = True) -> None:
        """Wait until no cell is queued or running and the kernel is idle.

        With `every_cell`, also until every code cell ran (or one failed): after Run All.
        """
        # The prompts only turn to [*] once the kernel got the request: settle a moment first.
        self.page.wait_for_timeout(300)
        self.page.wait_for_function(_FINISHED_JS, arg=every_cell, timeout=timeout_ms, polling=200)

    def error_outputs(self) -> list[str]:
        """Error outputs (and stderr that reports an error) of every cell, from the model."""
        found: list[str] = self.page.evaluate(_ERROR_OUTPUTS_JS)
        return found

    def prompts(self) -> list[str]:
        """The input prompts of the code cells, e.g. `[3]:`."""
        return [
            text.strip()
            for text in self.page.locator(".jp-Notebook .jp-CodeCell .jp-InputPrompt")
            .all_text_contents()
        ]  # fmt: skip

    def assert_ran_cleanly(self) -> None:
        """Every code cell ran, none reported an error, the console has no unexplained error."""
        errors = self.error_outputs()
        assert not errors, "cells failed:\n" + "\n".join(errors)
        prompts = self.prompts()
        assert all(re.fullmatch(r"\[\d+\]:", p) for p in prompts), f"cells not run: {prompts}"
        self.assert_console_clean()

    def assert_console_clean(self) -> None:
        """No console error or uncaught exception outside the known-benign list."""
        errors = self.console.take_errors()
        assert not errors, "JavaScript errors in the page:\n" + "\n".join(errors)

    # -- cells ------------------------------------------------------------------------------

    def code_cells(self) -> Locator:
        """All code cells of the open notebook."""
        return self.page.locator(".jp-Notebook .jp-CodeCell")

    def cell_starting(self, first_line: str) -> Locator:
        """The one code cell whose source starts with `first_line`."""
        starts = re.compile(rf"^\s*{re.escape(first_line)}")
        return self.code_cells().filter(
            has=self.page.locator(".jp-InputArea-editor", has_text=starts)
        )

    def output_of(self, first_line: str) -> Locator:
        """The output area of the code cell whose source starts with `first_line`."""
        return self.cell_starting(first_line).locator(".jp-Cell-outputArea")

    def reveal(self, target: Locator) -> Locator:
        """Scroll `target` into view, as a person would before reading it; return it.

        Lab skips rendering off-screen cells (CSS content-visibility), so their text reads
        as empty until they are scrolled to.
        """
        target.scroll_into_view_if_needed()
        # Rendering resumes on the next frames once the cell is on screen.
        self.page.evaluate(
            "() => new Promise(done => requestAnimationFrame(() => requestAnimationFrame(done)))"
        )
        return target

    def cell_sources(self) -> list[str]:
        """The source of every cell, from the notebook model."""
        sources: list[str] = self.page.evaluate(
            """() => {
              const cells = window.jupyterapp.shell.currentWidget.content.model.cells;
              const out = [];
              for (let i = 0; i < cells.length; i++) out.push(cells.get(i).sharedModel.getSource());
              return out;
            }"""
        )
        return sources

    # -- themes and screenshots -------------------------------------------------------------

    def set_theme(self, theme: str) -> None:
        """Switch Lab's theme (as Settings > Theme does) and wait until it is applied."""
        self.page.evaluate(
            "theme => window.jupyterapp.commands.execute('apputils:change-theme', {theme})", theme
        )
        self.page.wait_for_function(
            "theme => document.body.dataset.jpThemeName === theme", arg=theme, timeout=15_000
        )
        # The theme's stylesheet is applied after the attribute changes; let it paint.
        self.page.wait_for_timeout(250)

    def shot(self, step: str, target: Locator | None = None) -> list[Path]:
        """Screenshots of `step` (the element `target`, else the window) in light and dark."""
        taken = []
        for theme in (LIGHT, DARK):
            self.set_theme(theme)
            number, suffix = len(self.shots) // 2 + 1, THEME_FILE_NAMES[theme]
            path = self.artifacts / f"{self.prefix}-{number:02d}-{step}-{suffix}.png"
            if target is None:
                self.page.screenshot(path=path)
            else:
                self._element_screenshot(target, path)
            taken.append(path)
            self.shots.append(path)
        self.set_theme(LIGHT)
        return taken

    def _element_screenshot(self, target: Locator, path: Path) -> None:
        # Lab scrolls the notebook inside a fixed-size panel: an element taller than the window
        # would be cut off, so the window grows for the picture.
        viewport = self.page.viewport_size
        box = target.bounding_box()
        if viewport is not None and box is not None and box["height"] > viewport["height"] - 200:
            self.page.set_viewport_size(
                {"width": viewport["width"], "height": int(box["height"]) + 300}
            )
            self.page.wait_for_timeout(250)
        try:
            target.scroll_into_view_if_needed()
            target.screenshot(path=path)
        finally:
            if viewport is not None:
                self.page.set_viewport_size(viewport)

    def evaluate(self, script: str, arg: Any = None) -> Any:
        """Evaluate JavaScript in the page."""
        return self.page.evaluate(script, arg)
