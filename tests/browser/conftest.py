"""Fixtures of the browser tests: one JupyterLab and one Chromium for them all, a page per test.

Package-scoped: Lab, its kernels and Chromium stop once this folder's tests are done, not at
the end of the whole run.

Each test module here carries the `browser` marker. Screenshots go to
`build/browser-artifacts/` (or NEXUS_BROWSER_ARTIFACTS), printed at the end of the run.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from ..fake_anthropic import FakeAnthropic
from ..support import REPO
from .harness import CHROMIUM, CHROMIUM_ARGS, ConsoleLog, LabServer, copy_notebooks, require_browser

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext, ConsoleMessage, Error

    from .driver import NotebookPage

_SHOTS_TAKEN = pytest.StashKey[bool]()
_REPORTS = pytest.StashKey[dict[str, pytest.TestReport]]()
FAKE_API_KEY = "test-key-not-real"
ARTIFACTS = Path(os.environ.get("NEXUS_BROWSER_ARTIFACTS", REPO / "build" / "browser-artifacts"))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if terminalreporter.config.stash.get(_SHOTS_TAKEN, False):
        terminalreporter.write_line(f"browser screenshots and console logs: {ARTIFACTS}")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item,
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    # Keeps each phase's report on the test item: the page fixture screenshots failures.
    report = yield
    item.stash[_REPORTS][report.when] = report
    return report


@pytest.fixture(scope="package")
def browser_scratch() -> Iterator[Path]:
    """A scratch folder for the session's Lab (not under pytest's 0700 tmp root)."""
    path = Path(tempfile.mkdtemp(prefix="nexus-browser-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="package")
def fake_anthropic() -> Iterator[FakeAnthropic]:
    """The fake Messages API the kernels of the session's Lab talk to."""
    require_browser()
    with FakeAnthropic() as fake:
        yield fake


@pytest.fixture
def fake_api(fake_anthropic: FakeAnthropic) -> Iterator[FakeAnthropic]:
    """The session's fake API, with no turns left over from this test for the next one."""
    yield fake_anthropic
    # A test that failed before its scripted turn was asked would hand it to the next test.
    fake_anthropic.clear_script()


@pytest.fixture(scope="package")
def lab(browser_scratch: Path, fake_anthropic: FakeAnthropic) -> Iterator[LabServer]:
    """JupyterLab on a copy of notebooks/, embedded PostgreSQL, the fake Anthropic API."""
    require_browser()
    root = copy_notebooks(REPO / "notebooks", browser_scratch / "notebooks")
    server = LabServer(
        root=root, scratch=browser_scratch, extra_env=fake_anthropic.environment(FAKE_API_KEY)
    )
    server.start()
    yield server
    leftovers = server.stop()
    assert not leftovers, f"JupyterLab did not stop cleanly: {leftovers}"


@pytest.fixture(scope="package")
def browser() -> Iterator[BrowserContext]:
    """Debian's Chromium under Playwright (never Playwright's own download), one context.

    The context (and so its HTTP cache) is shared: Lab's scripts load once per session.
    """
    require_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        context = chromium.new_context(viewport={"width": 1400, "height": 1000})
        context.set_default_timeout(30_000)
        yield context
        context.close()
        chromium.close()


@pytest.fixture(scope="package")
def artifacts(pytestconfig: pytest.Config) -> Path:
    """The screenshot folder, emptied of the previous run's pictures and console logs."""
    pytestconfig.stash[_SHOTS_TAKEN] = True
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for old in [*ARTIFACTS.glob("*.png"), *ARTIFACTS.glob("*.log")]:
        old.unlink()
    return ARTIFACTS


@pytest.fixture
def notebook(
    request: pytest.FixtureRequest, lab: LabServer, browser: BrowserContext, artifacts: Path
) -> Iterator[NotebookPage]:
    """A fresh page on the session's Lab; console errors fail the test; kernels stop after."""
    from .driver import NotebookPage

    console = ConsoleLog()
    page = browser.new_page()

    def on_console(message: ConsoleMessage) -> None:
        location = message.location
        console.message(message.type, message.text, location.get("url", ""))

    def on_page_error(error: Error) -> None:
        console.page_error(f"{error.name}: {error.message}\n{error.stack or ''}")

    page.on("console", on_console)
    page.on("pageerror", on_page_error)
    prefix = re.sub(r"[^\w-]+", "-", request.node.name).strip("-")
    driver = NotebookPage(page, lab, console, artifacts, prefix)
    request.node.stash[_REPORTS] = {}
    try:
        yield driver
    finally:
        call = request.node.stash[_REPORTS].get("call")
        if call is not None and call.failed:
            page.screenshot(path=artifacts / f"{prefix}-FAILED.png")
        log = artifacts / f"{prefix}-console.log"
        log.write_text("\n".join(console.lines) + "\n", encoding="utf-8")
        page.close()
        for session in lab.api("GET", "/api/sessions"):
            lab.api("DELETE", f"/api/sessions/{session['id']}")
        lab.shutdown_kernels()
